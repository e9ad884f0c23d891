/* test_cli_map_monit.c: `casegate map` on real monit mail with `rules: monit`; `set:` errors in check-config. */
/* labels: integration */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"

#define SOURCE_TAIL                                                                                                    \
	"    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"                                                          \
	"    case_type: 00000000-0000-0000-0000-000000000001\n"

/* A config whose source "monit" uses rules (the value of `rules:`); written 0600 in dir. */
static char *write_cfg(const char *dir, const char *name, const char *rules)
{
	char *path = cg_h_fmt("%s/%s", dir, name);
	char *text = cg_h_fmt("state_dir: %s/state\n"
	                      "datadog:\n  api_key: k\n  app_key: a\n"
	                      "sources:\n  - name: monit\n    type: email\n    rules: %s\n" SOURCE_TAIL,
	                      dir, rules);
	assert_int_equal(cg_h_write_file(path, text, strlen(text)), 0);
	chmod(path, 0600);
	free(text);
	return path;
}

static char *fixture(const char *name)
{
	return cg_h_fmt("%s/tests/fixtures/email/%s", cg_h_source_dir(), name);
}

static const char *str_at(const cJSON *o, const char *const path[])
{
	for (size_t i = 0; o && path[i]; i++)
		o = cJSON_GetObjectItemCaseSensitive(o, path[i]);
	return cJSON_IsString(o) ? o->valuestring : NULL;
}

/* The first value of attribute name in the create's follow-up attributes request, or NULL. */
static const char *attr_of(const cJSON *line, const char *name)
{
	const cJSON *a = line;
	static const char *const path[] = {"then", "body", "data", "attributes", "attributes", NULL};
	for (size_t i = 0; a && path[i]; i++)
		a = cJSON_GetObjectItemCaseSensitive(a, path[i]);
	const cJSON *v = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(a, name), 0);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void expect_str(const char *fx, const char *what, const char *got, const char *want)
{
	if (!got || strcmp(got, want) != 0)
		fail_msg("%s: %s: got \"%s\", want \"%s\"", fx, what, got ? got : "(none)", want);
}

/* What `casegate map` must say about each mail monit sent (tests/mappers/gen_monit_fixtures.py). */
static const struct {
	const char *fixture, *status, *priority, *action, *key;
	const char *title; /* for a create: the case title, and host/service attributes are set */
	const char *service;
} want[] = {
    /* monit's start and stop: comments, never a case ("every monit start opens a case"). */
    {"monit_instance.eml", "comment", "NOT_DEFINED", "ignore", "monit:web-1.example.com/web-1.example.com", NULL, NULL},
    {"monit_instance_stop.eml", "comment", "NOT_DEFINED", "ignore", "monit:web-1.example.com/web-1.example.com", NULL,
     NULL},
    {"monit_file_missing.eml", "firing", "P2", "create", "monit:web-1.example.com/marker",
     "monit alert -- Does not exist marker", "marker"},
    {"monit_file_exists.eml", "resolved", "NOT_DEFINED", "ignore", "monit:web-1.example.com/marker", NULL, NULL},
    {"monit_conn_failed.eml", "firing", "P2", "create", "monit:web-1.example.com/webapp",
     "monit alert -- Connection failed webapp", "webapp"},
    /* The recovery lands on the failure's key (with no case in `map`, the resolution is ignored:
     * it never creates one). */
    {"monit_conn_ok.eml", "resolved", "NOT_DEFINED", "ignore", "monit:web-1.example.com/webapp", NULL, NULL},
    /* `if exist`: the file is there ("Does exist"), then gone ("Exists not"). */
    {"monit_exist.eml", "firing", "P2", "create", "monit:web-1.example.com/stale", "monit alert -- Does exist stale",
     "stale"},
    {"monit_exist_gone.eml", "resolved", "NOT_DEFINED", "ignore", "monit:web-1.example.com/stale", NULL, NULL},
    /* `if changed checksum`: a change is a warning (monit sends no "Checksum not changed"). */
    {"monit_checksum_changed.eml", "firing", "P3", "create", "monit:web-1.example.com/appconf",
     "monit alert -- Checksum changed appconf", "appconf"},
};

static void map_all(const char *dir, const char *cfg, const char *how)
{
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		char *fx = fixture(want[i].fixture);
		struct cg_h_cli r =
		    cg_h_cli_run(dir, NULL, (const char *const[]){"map", "-c", cfg, "--source", "monit", fx, NULL});
		char what[160];
		snprintf(what, sizeof(what), "map %s (%s)", want[i].fixture, how);
		cg_h_cli_expect_code(&r, 0, what);
		const char *eol = strchr(r.out, '\n');
		if (!eol || eol[1])
			fail_msg("%s: got stdout \"%s\", want one JSON line", what, r.out);
		cJSON *o = cJSON_Parse(r.out);
		if (!o)
			fail_msg("%s: got stdout \"%s\", want JSON", what, r.out);
		expect_str(what, "status", str_at(o, (const char *const[]){"status", NULL}), want[i].status);
		expect_str(what, "priority", str_at(o, (const char *const[]){"priority", NULL}), want[i].priority);
		expect_str(what, "action", str_at(o, (const char *const[]){"action", NULL}), want[i].action);
		expect_str(what, "dedup_key", str_at(o, (const char *const[]){"dedup_key", NULL}), want[i].key);
		if (want[i].title) {
			expect_str(
			    what, "title",
			    str_at(o, (const char *const[]){"request", "body", "data", "attributes", "title", NULL}),
			    want[i].title);
			expect_str(
			    what, "priority in the create",
			    str_at(o, (const char *const[]){"request", "body", "data", "attributes", "priority", NULL}),
			    want[i].priority);
			expect_str(what, "host attribute", attr_of(o, "host"), "web-1.example.com");
			expect_str(what, "service attribute", attr_of(o, "service"), want[i].service);
			/* monit's Description: line is in the case (the description keeps the mail's text). */
			const char *desc = str_at(
			    o, (const char *const[]){"request", "body", "data", "attributes", "description", NULL});
			cg_h_expect_has(desc, "Description:", what);
		}
		cJSON_Delete(o);
		cg_h_cli_free(&r);
		free(fx);
	}
}

/* `rules: monit`, `rules: { base: monit, alert_senders: [...] }` and the shipped file all map the
 * real monit mail the same, right way. */
static void test_map_monit_mail(void **state)
{
	const char *dir = *state;
	char *builtin = write_cfg(dir, "builtin.yaml", "monit");
	char *based = write_cfg(dir, "based.yaml", "{ base: monit, alert_senders: ['monit@web-1.example.com'] }");
	char *rules_file = cg_h_fmt("{ file: %s/conf/mail-rules/monit.yaml }", cg_h_source_dir());
	char *file = write_cfg(dir, "file.yaml", rules_file);
	map_all(dir, builtin, "rules: monit");
	map_all(dir, based, "rules: { base: monit }");
	map_all(dir, file, "conf/mail-rules/monit.yaml");
	free(builtin);
	free(based);
	free(rules_file);
	free(file);
}

/* monit events the fixtures do not hold, as monit 5.33 spells them (its Event_Table strings):
 * a threshold is a warning (P3), other failures an error (P2), every recovery form resolves,
 * monit's own events are comments. */
static void test_map_monit_events(void **state)
{
	const char *dir = *state;
	char *cfg = write_cfg(dir, "events.yaml", "monit");
	static const struct {
		const char *event, *status, *priority;
	} ev[] = {
	    {"Status failed", "firing", "P2"},
	    {"Timeout", "firing", "P2"},
	    {"Execution failed", "firing", "P2"},
	    {"Checksum failed", "firing", "P2"},
	    {"Link down", "firing", "P2"},
	    {"Resource limit matched", "firing", "P3"},
	    {"Saturation exceeded", "firing", "P3"},
	    {"PID changed", "firing", "P3"},
	    {"Content match", "firing", "P3"},
	    {"Content doesn't match", "resolved", "NOT_DEFINED"},
	    {"Status succeeded", "resolved", "NOT_DEFINED"},
	    {"Resource limit succeeded", "resolved", "NOT_DEFINED"},
	    {"Timeout recovery", "resolved", "NOT_DEFINED"},
	    {"Link up", "resolved", "NOT_DEFINED"},
	    {"Speed ok", "resolved", "NOT_DEFINED"},
	    {"PID not changed", "resolved", "NOT_DEFINED"},
	    {"Exists not", "resolved", "NOT_DEFINED"},
	    {"Does exist", "firing", "P2"},
	    {"Action done", "comment", "NOT_DEFINED"},
	    {"Monit instance not changed", "comment", "NOT_DEFINED"},
	};
	/* The real "Connection failed" mail with another event in its subject. */
	char *src = fixture("monit_conn_failed.eml");
	char *orig = cg_h_read_file(src, NULL);
	assert_non_null(orig);
	for (size_t i = 0; i < sizeof(ev) / sizeof(ev[0]); i++) {
		const char *subj = strstr(orig, "Connection failed webapp");
		assert_non_null(subj);
		char *mail = cg_h_fmt("%.*s%s webapp%s", (int)(subj - orig), orig, ev[i].event,
		                      subj + strlen("Connection failed webapp"));
		char *path = cg_h_fmt("%s/ev%zu.eml", dir, i);
		assert_int_equal(cg_h_write_file(path, mail, strlen(mail)), 0);
		struct cg_h_cli r =
		    cg_h_cli_run(dir, NULL, (const char *const[]){"map", "-c", cfg, "--source", "monit", path, NULL});
		char what[160];
		snprintf(what, sizeof(what), "map \"monit alert --  %s webapp\"", ev[i].event);
		cg_h_cli_expect_code(&r, 0, what);
		cJSON *o = cJSON_Parse(r.out);
		if (!o)
			fail_msg("%s: got stdout \"%s\", want JSON", what, r.out);
		expect_str(what, "status", str_at(o, (const char *const[]){"status", NULL}), ev[i].status);
		expect_str(what, "priority", str_at(o, (const char *const[]){"priority", NULL}), ev[i].priority);
		expect_str(what, "dedup_key", str_at(o, (const char *const[]){"dedup_key", NULL}),
		           "monit:web-1.example.com/webapp");
		cJSON_Delete(o);
		cg_h_cli_free(&r);
		free(path);
		free(mail);
	}
	free(orig);
	free(src);
	free(cfg);
}

/* A rule's `set:` must be a mapping of names to strings: check-config says where it is not. */
static void test_set_errors(void **state)
{
	const char *dir = *state;
	static const struct {
		const char *rules, *want;
	} cases[] = {
	    {"[{ pattern: 'x', set: [severity] }]",
	     "rules[0]: set: expected a mapping of field names to values, got a list"},
	    {"[{ pattern: 'x', set: { severity: [a] } }]", "rules[0]: set.severity: expected a string"},
	    {"[{ pattern: 'x', set: { '': a } }]", "rules[0]: set: a field name is empty"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *cfg = write_cfg(dir, "bad.yaml", cases[i].rules);
		struct cg_h_cli r = cg_h_cli_run(dir, NULL, (const char *const[]){"check-config", "-c", cfg, NULL});
		if (r.code == 0)
			fail_msg("check-config with rules %s: got exit 0, want an error", cases[i].rules);
		cg_h_expect_has(r.err, cases[i].want, cases[i].rules);
		cg_h_cli_free(&r);
		free(cfg);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_map_monit_mail, cg_h_dir_setup, cg_h_dir_teardown),
	    cmocka_unit_test_setup_teardown(test_map_monit_events, cg_h_dir_setup, cg_h_dir_teardown),
	    cmocka_unit_test_setup_teardown(test_set_errors, cg_h_dir_setup, cg_h_dir_teardown),
	};
	return cg_h_run_group(tests, NULL, NULL);
}
