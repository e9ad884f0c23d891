/* test_paging_sources.c: the pagerduty_events and opsgenie_alerts mappers: generated keys, PagerDuty's and Opsgenie's
 * checks, comments. */
/* labels: mapper */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "builder.h"
#include "err.h"
#include "event.h"
#include "registry.h"

/* Maps json with the named mapper; returns rc, events in out, error text in err. */
static int map(const char *mapper, const char *json, struct cg_event_list *out, char *err, size_t errlen)
{
	const struct cg_mapper *m = cg_mapper_find(mapper);
	if (!m)
		print_error("mapper %s: got none, want it registered\n", mapper);
	assert_non_null(m);
	cJSON *p = cJSON_Parse(json);
	if (!p)
		print_error("test JSON does not parse: %s\n", json);
	assert_non_null(p);
	cg_event_list_init(out);
	struct cg_map_opts opts = {0};
	err[0] = '\0';
	int rc = m->map(p, &opts, out, err, errlen);
	cJSON_Delete(p);
	return rc;
}

/* The key of the one event json maps to (malloc'd). */
static char *key_of(const char *mapper, const char *json)
{
	struct cg_event_list out;
	char err[256];
	int rc = map(mapper, json, &out, err, sizeof(err));
	if (rc != 0 || out.n != 1)
		print_error("%s: got rc %d (%s), %zu events, want 0 and 1 event: %s\n", mapper, rc, err, out.n, json);
	assert_int_equal(rc, 0);
	assert_int_equal(out.n, 1);
	assert_non_null(out.v[0].dedup_key);
	char *k = strdup(out.v[0].dedup_key);
	assert_non_null(k);
	cg_event_list_cleanup(&out);
	return k;
}

static void expect_error(const char *mapper, const char *json, const char *want)
{
	struct cg_event_list out;
	char err[256];
	int rc = map(mapper, json, &out, err, sizeof(err));
	if (rc != CG_EINVAL || strcmp(err, want) != 0)
		print_error("%s %s: got rc %d \"%s\", want CG_EINVAL \"%s\"\n", mapper, json, rc, err, want);
	assert_int_equal(rc, CG_EINVAL);
	assert_string_equal(err, want);
	assert_int_equal(out.n, 0);
	cg_event_list_cleanup(&out);
}

static int is_hex(const char *s, size_t n)
{
	if (strlen(s) != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!strchr("0123456789abcdef", s[i]))
			return 0;
	return 1;
}

#define PD_BASE "\"event_action\":\"trigger\",\"payload\":{"
#define PD_FIELDS                                                                                                      \
	"\"summary\":\"CPU "                                                                                           \
	"high\",\"source\":\"web-1\",\"severity\":\"warning\",\"component\":\"cpu\",\"group\":\"www\","                \
	"\"class\":\"load\""

/* A trigger without dedup_key: the key comes from the content, the same content gives the same key
 * (a sender's retry lands on the same case), and each of the six fields changes it. */
static void test_pd_generated_key(void **state)
{
	(void)state;
	char *k1 = key_of("pagerduty_events", "{" PD_BASE PD_FIELDS "}}");
	if (!is_hex(k1, 32))
		print_error("generated dedup_key: got \"%s\", want 32 lower-case hex digits\n", k1);
	assert_true(is_hex(k1, 32));
	/* A retry: other timestamp, details, links, client: same key. */
	char *k2 = key_of("pagerduty_events",
	                  "{\"client\":\"x\",\"links\":[{\"href\":\"https://a.example\"}]," PD_BASE PD_FIELDS
	                  ",\"timestamp\":\"2026-01-01T00:00:00Z\",\"custom_details\":{\"n\":2}}}");
	if (strcmp(k1, k2) != 0)
		print_error("retry of the same trigger: got key %s, want %s\n", k2, k1);
	assert_string_equal(k1, k2);
	/* Severity in another case is the same severity. */
	char *k3 = key_of("pagerduty_events",
	                  "{" PD_BASE "\"summary\":\"CPU high\",\"source\":\"web-1\",\"severity\":\"WARNING\","
	                  "\"component\":\"cpu\",\"group\":\"www\",\"class\":\"load\"}}");
	assert_string_equal(k1, k3);
	free(k2);
	free(k3);
	static const char *const others[] = {
	    "\"summary\":\"CPU "
	    "low\",\"source\":\"web-1\",\"severity\":\"warning\",\"component\":\"cpu\",\"group\":\"www\",\"class\":"
	    "\"load\"",
	    "\"summary\":\"CPU "
	    "high\",\"source\":\"web-2\",\"severity\":\"warning\",\"component\":\"cpu\",\"group\":\"www\",\"class\":"
	    "\"load\"",
	    "\"summary\":\"CPU "
	    "high\",\"source\":\"web-1\",\"severity\":\"error\",\"component\":\"cpu\",\"group\":\"www\",\"class\":"
	    "\"load\"",
	    "\"summary\":\"CPU "
	    "high\",\"source\":\"web-1\",\"severity\":\"warning\",\"component\":\"mem\",\"group\":\"www\",\"class\":"
	    "\"load\"",
	    "\"summary\":\"CPU "
	    "high\",\"source\":\"web-1\",\"severity\":\"warning\",\"component\":\"cpu\",\"group\":\"db\",\"class\":"
	    "\"load\"",
	    "\"summary\":\"CPU "
	    "high\",\"source\":\"web-1\",\"severity\":\"warning\",\"component\":\"cpu\",\"group\":\"www\",\"class\":"
	    "\"temp\"",
	    /* the same bytes split otherwise between two fields */
	    "\"summary\":\"CPU "
	    "hig\",\"source\":\"hweb-1\",\"severity\":\"warning\",\"component\":\"cpu\",\"group\":\"www\",\"class\":"
	    "\"load\"",
	};
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		char json[512];
		snprintf(json, sizeof(json), "{" PD_BASE "%s}}", others[i]);
		char *k = key_of("pagerduty_events", json);
		if (strcmp(k, k1) == 0)
			print_error("other content %s: got the same key %s, want another\n", others[i], k);
		assert_string_not_equal(k, k1);
		free(k);
	}
	/* A key the sender gives is used as is. */
	char *given = key_of("pagerduty_events", "{\"dedup_key\":\"srv01/mysql\"," PD_BASE PD_FIELDS "}}");
	assert_string_equal(given, "srv01/mysql");
	free(given);
	free(k1);
}

/* Every check PagerDuty makes, with its wording. */
static void test_pd_errors(void **state)
{
	(void)state;
	static const char *const cases[][2] = {
	    {"{\"event_action\":\"acknowledge\"}", "'dedup_key' is missing or blank"},
	    {"{\"event_action\":\"resolve\"}", "'dedup_key' is missing or blank"},
	    {"{\"event_action\":\"resolve\",\"dedup_key\":\"\"}", "'dedup_key' is missing or blank"},
	    {"{\"event_action\":\"acknowledge\",\"dedup_key\":null}", "'dedup_key' is missing or blank"},
	    {"{\"dedup_key\":\"k\"}", "'event_action' is missing or blank"},
	    {"{\"event_action\":\"\",\"dedup_key\":\"k\"}", "'event_action' is missing or blank"},
	    {"{\"event_action\":7,\"dedup_key\":\"k\"}", "'event_action' is missing or blank"},
	    {"{\"event_action\":\"escalate\",\"dedup_key\":\"k\"}",
	     "'event_action' is invalid (must be one of: trigger, acknowledge, resolve)"},
	    {"{\"event_action\":\"RESOLVE\",\"dedup_key\":\"k\"}",
	     "'event_action' is invalid (must be one of: trigger, acknowledge, resolve)"},
	    {"{\"event_action\":\"trigger\"}", "'payload' is missing or blank"},
	    {"{\"event_action\":\"trigger\",\"payload\":[]}", "'payload' must be an object"},
	    {"{\"event_action\":\"trigger\",\"payload\":{\"source\":\"h\",\"severity\":\"info\"}}",
	     "'payload.summary' is missing or blank"},
	    {"{\"event_action\":\"trigger\",\"payload\":{\"summary\":\"\",\"source\":\"h\",\"severity\":\"info\"}}",
	     "'payload.summary' is missing or blank"},
	    {"{\"event_action\":\"trigger\",\"payload\":{\"summary\":\"s\",\"severity\":\"info\"}}",
	     "'payload.source' is missing or blank"},
	    {"{\"event_action\":\"trigger\",\"payload\":{\"summary\":\"s\",\"source\":\"h\"}}",
	     "'payload.severity' is missing or blank"},
	    {"{\"event_action\":\"trigger\",\"payload\":{\"summary\":\"s\",\"source\":\"h\",\"severity\":\"fatal\"}}",
	     "'payload.severity' is invalid (must be one of: critical, error, warning, info)"},
	    {"{\"event_action\":\"trigger\",\"dedup_key\":[1],\"payload\":{\"summary\":\"s\",\"source\":\"h\","
	     "\"severity\":\"info\"}}",
	     "'dedup_key' must be a string"},
	    {"[]", "payload must be a JSON object"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_error("pagerduty_events", cases[i][0], cases[i][1]);
	/* dedup_key: 255 characters pass (multi-byte ones count once), 256 do not. */
	char json[2048];
	char key[1100];
	size_t kn = 0;
	for (int i = 0; i < 255; i++) { /* é */
		key[kn++] = '\xC3';
		key[kn++] = '\xA9';
	}
	key[kn] = '\0';
	snprintf(json, sizeof(json), "{\"event_action\":\"resolve\",\"dedup_key\":\"%s\"}", key);
	char *k = key_of("pagerduty_events", json);
	assert_string_equal(k, key);
	free(k);
	key[kn++] = 'e';
	key[kn] = '\0';
	snprintf(json, sizeof(json), "{\"event_action\":\"resolve\",\"dedup_key\":\"%s\"}", key);
	expect_error("pagerduty_events", json, "Length of 'dedup_key' is incorrect (should be at most 255 characters)");
}

/* acknowledge is a comment on the case of the key; it says who, and claims no severity or time. */
static void test_pd_acknowledge_is_comment(void **state)
{
	(void)state;
	struct cg_event_list out;
	char err[256];
	int rc = map("pagerduty_events",
	             "{\"event_action\":\"acknowledge\",\"dedup_key\":\"k1\",\"client\":\"Zabbix\","
	             "\"payload\":{\"summary\":\"s\",\"source\":\"h\",\"severity\":\"critical\",\"timestamp\":\"2026-"
	             "01-01T00:00:00Z\"}}",
	             &out, err, sizeof(err));
	assert_int_equal(rc, 0);
	assert_int_equal(out.n, 1);
	const struct cg_event *e = &out.v[0];
	if (e->status != CG_STATUS_COMMENT)
		print_error("acknowledge: got status %d, want CG_STATUS_COMMENT (%d)\n", e->status, CG_STATUS_COMMENT);
	assert_int_equal(e->status, CG_STATUS_COMMENT);
	assert_string_equal(e->dedup_key, "k1");
	assert_null(e->severity);
	assert_null(e->starts_at);
	assert_non_null(e->comment_detail);
	assert_string_equal(e->comment_detail, "**Acknowledged** via PagerDuty Events API by Zabbix: s");
	cg_event_list_cleanup(&out);
	/* trigger and resolve are firing and resolved. */
	rc = map("pagerduty_events", "{\"event_action\":\"resolve\",\"dedup_key\":\"k1\"}", &out, err, sizeof(err));
	assert_int_equal(rc, 0);
	assert_int_equal(out.v[0].status, CG_STATUS_RESOLVED);
	assert_null(out.v[0].comment_detail);
	cg_event_list_cleanup(&out);
}

/* The routing key is a secret: should the intake leave it in, no part of the event carries it. */
static void test_pd_routing_key_not_kept(void **state)
{
	(void)state;
	struct cg_event_list out;
	char err[256];
	int rc = map(
	    "pagerduty_events",
	    "{\"routing_key\":\"R0UT1NGK3Y5ECRET0000000000000000\",\"dedup_key\":\"k\",\"event_action\":\"trigger\","
	    "\"payload\":{\"summary\":\"s\",\"source\":\"h\",\"severity\":\"info\"}}",
	    &out, err, sizeof(err));
	assert_int_equal(rc, 0);
	char *ctx = cJSON_PrintUnformatted(out.v[0].ctx);
	assert_non_null(ctx);
	if (strstr(ctx, "R0UT1NGK3Y"))
		print_error("ctx: got %s, want no routing_key\n", ctx);
	assert_null(strstr(ctx, "R0UT1NGK3Y"));
	assert_null(strstr(out.v[0].description, "R0UT1NGK3Y"));
	cJSON_free(ctx);
	cg_event_list_cleanup(&out);
}

/* Severity words map to priorities through the mapper's default map, as a source uses it. */
static void test_pd_priorities(void **state)
{
	(void)state;
	const struct cg_mapper *m = cg_mapper_find("pagerduty_events");
	assert_non_null(m);
	static const struct {
		const char *sev;
		int prio;
	} want[] = {{"critical", 1}, {"error", 2}, {"warning", 3}, {"info", 4}};
	struct cg_case_spec spec = {.source_name = "pd",
	                            .project = "00000000-0000-0000-0000-000000000001",
	                            .case_type = "00000000-0000-0000-0000-000000000002",
	                            .default_priority_map = m->default_priority_map};
	struct cg_builder *b = NULL;
	char err[256] = "";
	assert_int_equal(cg_builder_create(&spec, &b, err, sizeof(err)), 0);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		char json[256];
		snprintf(
		    json, sizeof(json),
		    "{\"event_action\":\"trigger\",\"dedup_key\":\"k\",\"payload\":{\"summary\":\"s\",\"source\":\"h\","
		    "\"severity\":\"%s\"}}",
		    want[i].sev);
		struct cg_event_list out;
		assert_int_equal(map("pagerduty_events", json, &out, err, sizeof(err)), 0);
		struct cg_case_draft d;
		int rc = cg_builder_build(b, &out.v[0], &d, err, sizeof(err));
		assert_int_equal(rc, 0);
		if (d.priority != want[i].prio)
			print_error("severity %s: got P%d, want P%d\n", want[i].sev, d.priority, want[i].prio);
		assert_int_equal(d.priority, want[i].prio);
		cg_case_draft_cleanup(&d);
		cg_event_list_cleanup(&out);
	}
	/* An acknowledge's comment reaches the case: the builder's summary (the note's text) says it. */
	struct cg_event_list out;
	assert_int_equal(map("pagerduty_events",
	                     "{\"event_action\":\"acknowledge\",\"dedup_key\":\"k\",\"client\":\"Nagios\"}", &out, err,
	                     sizeof(err)),
	                 0);
	struct cg_case_draft d;
	assert_int_equal(cg_builder_build(b, &out.v[0], &d, err, sizeof(err)), 0);
	assert_int_equal(d.status, CG_STATUS_COMMENT);
	if (!d.summary || !strstr(d.summary, "**Acknowledged** via PagerDuty Events API by Nagios"))
		print_error("acknowledge summary: got \"%s\", want the acknowledgement\n",
		            d.summary ? d.summary : "NULL");
	assert_non_null(d.summary);
	assert_non_null(strstr(d.summary, "**Acknowledged** via PagerDuty Events API by Nagios"));
	assert_non_null(strstr(d.dedup_key, "k"));
	cg_case_draft_cleanup(&d);
	cg_event_list_cleanup(&out);
	cg_builder_destroy(b);
}

/* A create without alias: "og-" and 32 hex digits from message, entity and source; each changes it. */
static void test_og_generated_alias(void **state)
{
	(void)state;
	const char *base = "{\"action\":\"create\",\"request\":{\"message\":\"Backup "
	                   "failed\",\"entity\":\"db-2\",\"source\":\"cron\"}}";
	char *k1 = key_of("opsgenie_alerts", base);
	if (strncmp(k1, "og-", 3) != 0 || !is_hex(k1 + 3, 32))
		print_error("generated alias: got \"%s\", want og- and 32 hex digits\n", k1);
	assert_true(strncmp(k1, "og-", 3) == 0 && is_hex(k1 + 3, 32));
	char *k2 =
	    key_of("opsgenie_alerts", "{\"action\":\"create\",\"request\":{\"message\":\"Backup failed\",\"entity\":"
	                              "\"db-2\",\"source\":\"cron\",\"description\":\"retry 2\",\"priority\":\"P1\","
	                              "\"tags\":[\"x\"],\"details\":{\"try\":\"2\"}}}");
	assert_string_equal(k1, k2);
	free(k2);
	static const char *const others[] = {
	    "{\"action\":\"create\",\"request\":{\"message\":\"Backup done\",\"entity\":\"db-2\",\"source\":\"cron\"}}",
	    "{\"action\":\"create\",\"request\":{\"message\":\"Backup "
	    "failed\",\"entity\":\"db-3\",\"source\":\"cron\"}}",
	    "{\"action\":\"create\",\"request\":{\"message\":\"Backup "
	    "failed\",\"entity\":\"db-2\",\"source\":\"manual\"}}",
	    "{\"action\":\"create\",\"request\":{\"message\":\"Backup failed\",\"entity\":\"db-2\"}}",
	};
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		char *k = key_of("opsgenie_alerts", others[i]);
		if (strcmp(k, k1) == 0)
			print_error("%s: got the same alias %s, want another\n", others[i], k);
		assert_string_not_equal(k, k1);
		free(k);
	}
	char *given =
	    key_of("opsgenie_alerts", "{\"action\":\"create\",\"request\":{\"message\":\"m\",\"alias\":\"a-1\"}}");
	assert_string_equal(given, "a-1");
	free(given);
	free(k1);
}

/* close, acknowledge and notes reach the key whatever identifierType says; its default is id. */
static void test_og_identifiers(void **state)
{
	(void)state;
	static const char *const types[] = {"\"identifierType\":\"id\",", "\"identifierType\":\"alias\",",
	                                    "\"identifierType\":\"tiny\",", ""};
	static const struct {
		const char *action;
		enum cg_alert_status status;
		const char *head;
	} acts[] = {{"close", CG_STATUS_RESOLVED, "**Closed**"},
	            {"acknowledge", CG_STATUS_COMMENT, "**Acknowledged**"},
	            {"note", CG_STATUS_COMMENT, "**Note**"},
	            {"unacknowledge", CG_STATUS_COMMENT, "**Unacknowledged**"}};
	for (size_t a = 0; a < sizeof(acts) / sizeof(acts[0]); a++)
		for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
			char json[512];
			snprintf(json, sizeof(json),
			         "{\"action\":\"%s\",\"identifier\":\"x-1\",%s\"request\":{\"user\":\"ana\",\"note\":"
			         "\"on it\"}}",
			         acts[a].action, types[t]);
			struct cg_event_list out;
			char err[256];
			int rc = map("opsgenie_alerts", json, &out, err, sizeof(err));
			if (rc != 0)
				print_error("%s: got rc %d (%s), want 0\n", json, rc, err);
			assert_int_equal(rc, 0);
			assert_int_equal(out.n, 1);
			const struct cg_event *e = &out.v[0];
			assert_string_equal(e->dedup_key, "x-1");
			if (e->status != acts[a].status)
				print_error("%s: got status %d, want %d\n", json, e->status, acts[a].status);
			assert_int_equal(e->status, acts[a].status);
			assert_non_null(e->comment_detail);
			assert_true(strncmp(e->comment_detail, acts[a].head, strlen(acts[a].head)) == 0);
			assert_non_null(strstr(e->comment_detail, "by ana"));
			assert_non_null(strstr(e->comment_detail, "on it"));
			assert_null(e->severity);
			cg_event_list_cleanup(&out);
		}
}

static void test_og_errors(void **state)
{
	(void)state;
	static const char *const cases[][2] = {
	    {"{\"action\":\"create\",\"request\":{}}", "message: Message can not be empty."},
	    {"{\"action\":\"create\"}", "message: Message can not be empty."},
	    {"{\"action\":\"create\",\"request\":{\"message\":\"m\",\"priority\":\"P0\"}}",
	     "priority: should be one of [ P1, P2, P3, P4, P5 ]"},
	    {"{\"action\":\"create\",\"request\":{\"message\":\"m\",\"priority\":3}}", "priority: should be a string"},
	    {"{\"action\":\"create\",\"request\":{\"message\":\"m\",\"alias\":{}}}", "alias: should be a string"},
	    {"{\"action\":\"create\",\"request\":{\"message\":\"m\",\"tags\":{}}}",
	     "tags: should be an array of strings"},
	    {"{\"action\":\"create\",\"request\":{\"message\":\"m\",\"details\":\"k=v\"}}",
	     "details: should be an object"},
	    {"{\"action\":\"create\",\"request\":\"m\"}", "Request body is not a JSON object"},
	    {"{\"request\":{\"message\":\"m\"}}", "missing field 'action'"},
	    {"{\"action\":\"close\"}", "identifier: can not be empty."},
	    {"{\"action\":\"close\",\"identifier\":\"a\",\"identifierType\":\"uuid\"}",
	     "identifierType: should be one of [ id, alias, tiny ]"},
	    {"{\"action\":\"note\",\"identifier\":\"a\",\"request\":{}}", "note: Note can not be empty."},
	    {"{\"action\":\"description\",\"identifier\":\"a\",\"request\":{}}", "description: can not be empty."},
	    {"{\"action\":\"priority\",\"identifier\":\"a\",\"request\":{\"priority\":\"P9\"}}",
	     "priority: should be one of [ P1, P2, P3, P4, P5 ]"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_error("opsgenie_alerts", cases[i][0], cases[i][1]);
}

/* Priority: as given, P3 when absent; a message is cut to Opsgenie's 130 characters for the title. */
static void test_og_create_fields(void **state)
{
	(void)state;
	struct cg_event_list out;
	char err[256];
	assert_int_equal(
	    map("opsgenie_alerts", "{\"action\":\"create\",\"request\":{\"message\":\"m\"}}", &out, err, sizeof(err)),
	    0);
	assert_int_equal(out.v[0].status, CG_STATUS_FIRING);
	assert_string_equal(out.v[0].severity, "P3");
	cg_event_list_cleanup(&out);
	char json[1024], msg[400];
	size_t mn = 0;
	for (int i = 0; i < 140; i++) { /* ä */
		msg[mn++] = '\xC3';
		msg[mn++] = '\xA4';
	}
	msg[mn] = '\0';
	snprintf(json, sizeof(json), "{\"action\":\"create\",\"request\":{\"message\":\"%s\",\"priority\":\"P5\"}}",
	         msg);
	assert_int_equal(map("opsgenie_alerts", json, &out, err, sizeof(err)), 0);
	assert_string_equal(out.v[0].severity, "P5");
	assert_int_equal(strlen(out.v[0].title), 130 * 2);
	assert_int_equal(memcmp(out.v[0].title, msg, 260), 0);
	cg_event_list_cleanup(&out);
	/* An action Opsgenie has but casegate does not act on: answered, no event. */
	assert_int_equal(
	    map("opsgenie_alerts", "{\"action\":\"escalate\",\"identifier\":\"a\"}", &out, err, sizeof(err)), 0);
	assert_int_equal(out.n, 0);
	assert_string_equal(out.ignored_reason, "Opsgenie action 'escalate' changes no case");
	cg_event_list_cleanup(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pd_generated_key),
	    cmocka_unit_test(test_pd_errors),
	    cmocka_unit_test(test_pd_acknowledge_is_comment),
	    cmocka_unit_test(test_pd_routing_key_not_kept),
	    cmocka_unit_test(test_pd_priorities),
	    cmocka_unit_test(test_og_generated_alias),
	    cmocka_unit_test(test_og_identifiers),
	    cmocka_unit_test(test_og_errors),
	    cmocka_unit_test(test_og_create_fields),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
