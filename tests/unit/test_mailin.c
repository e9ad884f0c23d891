/* test_mailin.c: mail config, routing, the note lifecycle action, and threading over a real store. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "err.h"
#include "harness.h"
#include "lifecycle.h"
#include "mail.h"
#include "mailin.h"
#include "store.h"

#define SOURCES                                                                                    \
	"sources:\n"                                                                               \
	"  - name: nagios\n"                                                                       \
	"    type: email\n"                                                                        \
	"    rules: nagios\n"                                                                      \
	"    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"                                      \
	"    case_type: 00000000-0000-0000-0000-000000000001\n"                                    \
	"  - name: backup\n"                                                                       \
	"    type: email\n"                                                                        \
	"    rules:\n"                                                                             \
	"      match:\n"                                                                           \
	"        - { pattern: '^Backup (OK|FAILED): (.+)$', fields: [status, job] }\n"             \
	"      resolved_words: [OK]\n"                                                             \
	"      alert_senders: ['backup@*']\n"                                                      \
	"      dedup_key: 'job/{{job}}'\n"                                                         \
	"      unmatched: ignore\n"                                                                \
	"    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"                                      \
	"    case_type: 00000000-0000-0000-0000-000000000001\n"                                    \
	"  - name: hook\n"                                                                         \
	"    type: generic\n"                                                                      \
	"    auth: none\n"                                                                         \
	"    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"                                      \
	"    case_type: 00000000-0000-0000-0000-000000000001\n"

static struct cg_config *load(const char *text, char **errs)
{
	struct cg_config *cfg = NULL;
	*errs = NULL;
	cg_config_parse("t.yaml", text, strlen(text), &cfg, errs);
	return cfg;
}

static void test_config_mail(void **state)
{
	(void)state;
	char *errs = NULL;
	struct cg_config *cfg = load("datadog: { url: 'http://127.0.0.1:1' }\n"
				     "mail:\n  listen: 127.0.0.1:2525\n  protocol: smtp\n  max_size: 1MiB\n"
				     "  timeout: 30s\n  max_per_sender_hour: 10\n"
				     "  routes:\n    - { rcpt: 'ops@example.com', source: backup }\n"
				     "    - { rcpt: 'alerts+*@example.com', source: nagios }\n" SOURCES,
				     &errs);
	if (!cfg)
		fail_msg("config: got errors:\n%s", errs ? errs : "(none)");
	free(errs);
	assert_true(cfg->mail.enabled);
	assert_int_equal(cfg->mail.listen_port, 2525);
	assert_int_equal(cfg->mail.protocol, CG_MAIL_SMTP);
	assert_int_equal(cfg->mail.max_size, 1024 * 1024);
	assert_int_equal(cfg->mail.timeout_ms, 30000);
	assert_int_equal(cfg->mail.max_per_sender_hour, 10);
	assert_non_null(cg_config_source(cfg, "nagios")->mail_rules);
	const struct cg_source_config *s = cg_config_mail_route(cfg, "OPS@Example.com");
	assert_non_null(s);
	assert_string_equal(s->name, "backup");
	s = cg_config_mail_route(cfg, "alerts+whatever@example.com");
	assert_non_null(s);
	assert_string_equal(s->name, "nagios");
	assert_null(cg_config_mail_route(cfg, "someone@example.com"));
	cg_config_free(cfg);

	/* Without routes: "+name" picks the email source of that name. */
	cfg = load("datadog: { url: 'http://127.0.0.1:1' }\nmail: { listen: '127.0.0.1:0' }\n" SOURCES, &errs);
	assert_non_null(cfg);
	free(errs);
	s = cg_config_mail_route(cfg, "alerts+backup@example.com");
	assert_non_null(s);
	assert_string_equal(s->name, "backup");
	assert_null(cg_config_mail_route(cfg, "alerts+hook@example.com")); /* not an email source */
	assert_null(cg_config_mail_route(cfg, "alerts@example.com"));      /* two email sources: ambiguous */
	cg_config_free(cfg);
}

static void test_config_mail_errors(void **state)
{
	(void)state;
	static const struct {
		const char *yaml, *want;
	} cases[] = {
		{"mail: { listen: nope }\n", "mail.listen: expected IP:port"},
		{"mail: { listen: '127.0.0.1:1', protocol: pop3 }\n", "mail.protocol: unknown value 'pop3'"},
		{"mail: { listen: '127.0.0.1:1', routes: [ { rcpt: a@b, source: hook } ] }\n", "is not `type: email`"},
		{"mail: { listen: '127.0.0.1:1', routes: [ { rcpt: a@b, source: nope } ] }\n", "no source named 'nope'"},
		{"sources:\n  - { name: m, type: email, rules: nagious, project: d4bbe1af-f36e-42f1-87c1-493ca35c320e, "
		 "case_type: 00000000-0000-0000-0000-000000000001 }\n",
		 "unknown rule set 'nagious' (shipped: nagios, icinga2, zabbix, alertmanager)"},
		{"sources:\n  - { name: m, type: email, rules: [ { pattern: '(a' } ], project: "
		 "d4bbe1af-f36e-42f1-87c1-493ca35c320e, case_type: 00000000-0000-0000-0000-000000000001 }\n",
		 "rule 1: pattern"},
		{"sources:\n  - { name: m, type: email, rules: [ { pattern: 'a', in: head } ], project: "
		 "d4bbe1af-f36e-42f1-87c1-493ca35c320e, case_type: 00000000-0000-0000-0000-000000000001 }\n",
		 "in: unknown value 'head'"},
		{"sources:\n  - { name: m, type: generic, auth: none, rules: nagios, project: "
		 "d4bbe1af-f36e-42f1-87c1-493ca35c320e, case_type: 00000000-0000-0000-0000-000000000001 }\n",
		 "only `type: email` sources have rules"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *text = cg_h_fmt("datadog: { url: 'http://127.0.0.1:1' }\n%s%s", cases[i].yaml,
				      strstr(cases[i].yaml, "sources:") ? "" : SOURCES);
		char *errs = NULL;
		struct cg_config *cfg = load(text, &errs);
		if (cfg || !errs || !strstr(errs, cases[i].want))
			fail_msg("case %zu: got %s, want an error containing \"%s\"", i, errs ? errs : "success",
				 cases[i].want);
		free(errs);
		free(text);
	}
}

static void test_lifecycle_note(void **state)
{
	(void)state;
	struct cg_source_config src;
	cg_lifecycle_defaults(&src);
	struct cg_store_case none = {.state = CG_CASE_NONE};
	struct cg_store_case open = {.state = CG_CASE_OPEN, .case_id = "id-1", .case_key = "P-1", .created_ms = 1000};
	struct cg_store_case closed = {.state = CG_CASE_CLOSED, .case_id = "id-1", .closed_ms = 1000};
	struct cg_store_case creating = {.state = CG_CASE_CREATING};
	/* A note never creates, reopens or closes anything. */
	assert_int_equal(cg_lifecycle_decide(CG_STATUS_COMMENT, 3, &none, &src, 2000), CG_ACT_IGNORE);
	assert_int_equal(cg_lifecycle_decide(CG_STATUS_COMMENT, 3, &creating, &src, 2000), CG_ACT_IGNORE);
	assert_int_equal(cg_lifecycle_decide(CG_STATUS_COMMENT, 1, &open, &src, 2000), CG_ACT_NOTE);
	assert_int_equal(cg_lifecycle_decide(CG_STATUS_COMMENT, 1, &closed, &src, 2000), CG_ACT_NOTE);
	assert_string_equal(cg_action_name(CG_ACT_NOTE), "note");
	enum cg_step steps[4];
	assert_int_equal(cg_lifecycle_steps(CG_ACT_NOTE, &src, 1, CG_CASE_OPEN, steps), 1);
	assert_int_equal(steps[0], CG_STEP_COMMENT);
	struct cg_store_case c = open;
	cg_lifecycle_apply(CG_ACT_NOTE, &c, 1, "x", &src, 5000);
	if (c.last_comment_ms != 0 || c.fires != 0 || c.state != CG_CASE_OPEN || c.priority != 0)
		fail_msg("note changed the case record (last_comment_ms %lld, fires %lld, state %d, priority %d)",
			 (long long)c.last_comment_ms, (long long)c.fires, c.state, c.priority);
	/* The persisted step encoding of the new action round-trips. */
	assert_int_equal(cg_step_action(cg_step_encode(CG_ACT_NOTE, 0)), CG_ACT_NOTE);
}

/* ---- threading over a real SQLite store ---- */

struct fx {
	char *dir;
	struct cg_config *cfg;
	struct cg_store *st;
	struct cg_builder *b;
};

static cJSON *mail_of(const char *name)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/tests/fixtures/email/%s", cg_h_source_dir(), name);
	size_t len = 0;
	char *raw = cg_h_read_file(path, &len);
	assert_non_null(raw);
	cJSON *m = NULL;
	char err[200];
	assert_int_equal(cg_mail_parse(raw, len, NULL, &m, err, sizeof(err)), 0);
	free(raw);
	return m;
}

/* Plans and stores one fixture for source nagios; returns the plan (caller frees). */
static struct cg_mail_plan *take(struct fx *f, const char *name, int64_t now)
{
	cJSON *m = mail_of(name);
	struct cg_mail_plan *p = NULL;
	char err[256];
	const struct cg_source_config *src = cg_config_source(f->cfg, "nagios");
	if (cg_mail_plan_build(src, f->b, m, now, &p, err, sizeof(err)) != 0)
		fail_msg("%s: plan: %s", name, err);
	cJSON_Delete(m);
	assert_int_equal(cg_store_begin(f->st), 0);
	int rc = cg_mail_plan_store(f->st, p, now);
	if (rc)
		fail_msg("%s: store: %s", name, cg_strerror(rc));
	assert_int_equal(cg_store_commit(f->st), 0);
	return p;
}

static void test_threading(void **state)
{
	(void)state;
	struct fx f = {0};
	f.dir = cg_h_tmpdir("mailin");
	char *errs = NULL;
	char *text = cg_h_fmt("datadog: { url: 'http://127.0.0.1:1' }\nstate_dir: %s\n" SOURCES, f.dir);
	f.cfg = load(text, &errs);
	free(text);
	if (!f.cfg)
		fail_msg("config: %s", errs);
	free(errs);
	char err[256];
	assert_int_equal(cg_store_sqlite_open(f.dir, &f.st, err, sizeof(err)), 0);
	struct cg_case_spec spec;
	cg_config_case_spec(cg_config_source(f.cfg, "nagios"), &spec);
	assert_int_equal(cg_builder_create(&spec, &f.b, err, sizeof(err)), 0);
	int64_t now = 1715680000000;

	/* The alert: one firing event, its Message-ID remembered for replies. */
	struct cg_mail_plan *p = take(&f, "nagios_problem.eml", now);
	assert_int_equal(p->outcome, CG_MAIL_OUT_EVENTS);
	assert_int_equal(p->queued, 1);
	assert_string_equal(p->evs[0].dedup_key, "nagios:web1/HTTP");
	cg_mail_plan_free(p);
	char *key = NULL;
	assert_int_equal(cg_store_seen_get(f.st, "mailref:nagios-1@mon.example.com", now, &key), 0);
	assert_string_equal(key, "nagios:web1/HTTP");
	free(key);
	/* The same message again (an MTA retry after a lost 250): dropped. */
	p = take(&f, "nagios_problem.eml", now + 1);
	assert_int_equal(p->outcome, CG_MAIL_OUT_DUPLICATE);
	cg_mail_plan_free(p);
	/* A human reply threads onto the alert's key as a note. */
	p = take(&f, "reply_thread.eml", now + 2);
	if (p->outcome != CG_MAIL_OUT_COMMENT)
		fail_msg("reply: got outcome %d (%s), want a comment", p->outcome, p->reason);
	assert_string_equal(p->target, "nagios:web1/HTTP");
	cg_mail_plan_free(p);
	/* An out-of-office answer to the alert is not a comment. */
	p = take(&f, "ooo.eml", now + 3);
	assert_int_equal(p->outcome, CG_MAIL_OUT_IGNORED);
	assert_string_equal(p->reason_code, "auto_reply");
	cg_mail_plan_free(p);
	/* A subject naming an unknown case key and no known references: ignored? No: mapped as an alert. */
	p = take(&f, "reply_casekey.eml", now + 4);
	assert_int_equal(p->outcome, CG_MAIL_OUT_EVENTS);
	cg_mail_plan_free(p);
	/* Once the case is known by its key, the subject's [KEY] threads. */
	struct cg_store_case c = {.dedup_key = "nagios:web1/HTTP", .case_id = "id-1", .case_key = "PROJ-42",
				  .state = CG_CASE_OPEN, .generation = 1};
	assert_int_equal(cg_store_case_put(f.st, &c), 0);
	cJSON *m = mail_of("reply_casekey.eml");
	cJSON_ReplaceItemInObject(m, "message_id", cJSON_CreateString("reply-3@mail.example.com"));
	assert_int_equal(cg_mail_plan_build(cg_config_source(f.cfg, "nagios"), f.b, m, now + 5, &p, err, sizeof(err)),
			 0);
	cJSON_Delete(m);
	assert_int_equal(cg_mail_plan_store(f.st, p, now + 5), 0);
	assert_int_equal(p->outcome, CG_MAIL_OUT_COMMENT);
	assert_string_equal(p->target, "nagios:web1/HTTP");
	cg_mail_plan_free(p);
	/* The events queued: create, note, note (ordered per key), and the unthreaded alert. */
	struct cg_store_event *evs = NULL;
	size_t n = 0;
	assert_int_equal(cg_store_claim(f.st, now + 10, 10, &evs, &n), 0);
	int notes = 0;
	for (size_t i = 0; i < n; i++)
		notes += evs[i].status == CG_STATUS_COMMENT;
	/* claim gives one event per key: the create of web1/HTTP and the other subject's alert. */
	if (n != 2 || notes != 0)
		fail_msg("claim: got %zu events (%d notes), want 2 heads and no note first", n, notes);
	cg_store_events_free(evs, n);

	cg_builder_destroy(f.b);
	cg_store_close(f.st);
	cg_config_free(f.cfg);
	cg_h_rmrf(f.dir);
	free(f.dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_mail),
		cmocka_unit_test(test_config_mail_errors),
		cmocka_unit_test(test_lifecycle_note),
		cmocka_unit_test(test_threading),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
