/* test_mail_eml.c: mail parsing (GMime) and the email mapper's rule sets over .eml fixtures. */
/* labels: mapper */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder.h"
#include "email.h"
#include "err.h"
#include "harness.h"
#include "mail.h"
#include "mailrules.h"
#include "registry.h"

static void expect_str(const cJSON *o, const char *path, const char *want)
{
	const char *got = cg_json_str(o, path);
	if (!got || strcmp(got, want) != 0)
		fail_msg("%s: got \"%s\", want \"%s\"", path, got ? got : "(null)", want);
}

static void expect_contains(const char *what, const char *got, const char *needle)
{
	if (!got || !strstr(got, needle))
		fail_msg("%s: got \"%.300s\", want it to contain \"%s\"", what, got ? got : "(null)", needle);
}

/* Maps one fixture with a built-in rule set; returns the single event's list (caller cleans). */
static void map_fixture(const char *name, const char *rules_name, struct cg_event_list *ev, int *matched)
{
	cJSON *m = cg_h_mail_fixture(name);
	struct cg_mail_rules *r = NULL;
	char err[256] = "";
	if (rules_name) {
		const struct cg_mail_rules_spec *spec = cg_mail_rules_builtin(rules_name);
		assert_non_null(spec);
		if (cg_mail_rules_create(spec, &r, err, sizeof(err)) != 0)
			fail_msg("rules %s: %s", rules_name, err);
	}
	cg_event_list_init(ev);
	int rc = cg_email_map(m, r, ev, matched, err, sizeof(err));
	if (rc)
		fail_msg("%s: map: %s", name, err);
	cg_mail_rules_destroy(r);
	cJSON_Delete(m);
}

static void expect_event(const char *fixture, const char *rules, int status, const char *key, const char *severity,
			 const char *title_part)
{
	struct cg_event_list ev;
	int matched = 0;
	map_fixture(fixture, rules, &ev, &matched);
	if (ev.n != 1)
		fail_msg("%s: got %zu events (ignored: %s), want 1", fixture, ev.n, ev.ignored_reason);
	if ((int)ev.v[0].status != status)
		fail_msg("%s: status got %d, want %d", fixture, (int)ev.v[0].status, status);
	if (!ev.v[0].dedup_key || strcmp(ev.v[0].dedup_key, key) != 0)
		fail_msg("%s: dedup_key got \"%s\", want \"%s\"", fixture, ev.v[0].dedup_key, key);
	if (severity && (!ev.v[0].severity || strcmp(ev.v[0].severity, severity) != 0))
		fail_msg("%s: severity got \"%s\", want \"%s\"", fixture, ev.v[0].severity, severity);
	if (title_part)
		expect_contains("title", ev.v[0].title, title_part);
	if (rules && matched == 0)
		fail_msg("%s: no rule of %s matched", fixture, rules);
	cg_event_list_cleanup(&ev);
}

static void test_parse_basic(void **state)
{
	(void)state;
	cJSON *m = cg_h_mail_fixture("nagios_problem.eml");
	expect_str(m, "message_id", "nagios-1@mon.example.com");
	expect_str(m, "subject", "** PROBLEM Service Alert: web1/HTTP is CRITICAL **");
	expect_str(m, "from", "nagios@mon.example.com");
	expect_str(m, "from_name", "Nagios");
	expect_str(m, "to.0", "alerts+nagios@example.com");
	expect_str(m, "date", "2024-05-14T08:00:00Z");
	expect_str(m, "headers.return-path", "<nagios@mon.example.com>");
	expect_contains("text", cg_json_str(m, "text"), "HTTP CRITICAL - Socket timeout");
	if (strchr(cg_json_str(m, "text"), '\r'))
		fail_msg("text keeps CR characters");
	assert_false(cJSON_IsTrue(cJSON_GetObjectItem(m, "is_bounce")));
	assert_false(cJSON_IsTrue(cJSON_GetObjectItem(m, "is_auto_reply")));
	cJSON_Delete(m);
}

static void test_parse_charsets(void **state)
{
	(void)state;
	cJSON *m = cg_h_mail_fixture("reply_thread.eml");
	expect_str(m, "from_name", "Jörg Müller");
	expect_str(m, "in_reply_to", "nagios-1@mon.example.com");
	expect_str(m, "references.0", "nagios-1@mon.example.com");
	expect_contains("subject", cg_json_str(m, "subject"), "CRITICAL ** ä");
	expect_contains("text", cg_json_str(m, "text"), "Load-Balancer hängt. Grüße");
	cJSON_Delete(m);

	m = cg_h_mail_fixture("reply_casekey.eml");
	expect_contains("text", cg_json_str(m, "text"), "Restarted nginx on web1 ✔");
	cJSON_Delete(m);

	m = cg_h_mail_fixture("nested_latin1.eml");
	expect_str(m, "subject", "Backup failed: ✘ db1");
	/* text/plain preferred over the HTML alternative; soft line break joined. */
	expect_contains("text", cg_json_str(m, "text"), "Datenträger voll. Ende.");
	if (strstr(cg_json_str(m, "text"), "HTML version"))
		fail_msg("text: got the HTML alternative too, want text/plain only");
	expect_str(m, "attachments.0.name", "report.pdf");
	expect_str(m, "attachments.0.content_type", "application/pdf");
	double size = cJSON_GetNumberValue(cg_json_path(m, "attachments.0.size"));
	if (size != 1009)
		fail_msg("attachment size: got %.0f, want 1009 (decoded bytes)", size);
	cJSON_Delete(m);
}

static void test_parse_html(void **state)
{
	(void)state;
	cJSON *m = cg_h_mail_fixture("am_firing.eml");
	const char *t = cg_json_str(m, "text");
	expect_contains("text", t, "alertname = HighLatency");
	expect_contains("text", t, "p99 latency > 2s & rising");
	if (strstr(t, "<") || strstr(t, "alert(1)") || strstr(t, "color:red"))
		fail_msg("html text: got \"%s\", want tags, scripts and styles removed", t);
	cJSON_Delete(m);

	const char *html = "<ul><li>a&#x41;</li><li>b&#66;&unknown;</li></ul>x<br>y";
	char *s = cg_mail_html_to_text(html, strlen(html), 1000, NULL);
	assert_non_null(s);
	if (strcmp(s, "- aA\n- bB&unknown;\n\nx\ny") != 0)
		fail_msg("html_to_text: got \"%s\"", s);
	free(s);
}

static void test_noise(void **state)
{
	(void)state;
	static const struct {
		const char *file, *code;
	} cases[] = {{"ooo.eml", "auto_reply"}, {"bounce.eml", "bounce"}, {"xloop.eml", "loop"}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cJSON *m = cg_h_mail_fixture(cases[i].file);
		char why[256] = "";
		const char *code = cg_mail_noise(m, 0, why, sizeof(why));
		if (!code || strcmp(code, cases[i].code) != 0)
			fail_msg("%s: noise got %s, want %s", cases[i].file, code ? code : "(none)", cases[i].code);
		struct cg_event_list ev;
		cg_event_list_init(&ev);
		char err[128];
		assert_int_equal(cg_email_map(m, NULL, &ev, NULL, err, sizeof(err)), 0);
		if (ev.n != 0 || strncmp(ev.ignored_reason, cases[i].code, strlen(cases[i].code)) != 0)
			fail_msg("%s: got %zu events, reason \"%s\"; want ignored as %s", cases[i].file, ev.n,
				 ev.ignored_reason, cases[i].code);
		cg_event_list_cleanup(&ev);
		cJSON_Delete(m);
	}
	/* A plain human reply is fine as an alert, and as a comment. */
	cJSON *m = cg_h_mail_fixture("reply_thread.eml");
	char why[256];
	assert_null(cg_mail_noise(m, 1, why, sizeof(why)));
	/* Machine mail never becomes a comment. */
	cJSON_AddStringToObject(m, "auto_submitted", "auto-generated");
	const char *code = cg_mail_noise(m, 1, why, sizeof(why));
	assert_non_null(code);
	assert_string_equal(code, "auto_generated");
	assert_null(cg_mail_noise(m, 0, why, sizeof(why)));
	/* An empty envelope sender is a bounce whatever the headers say. */
	cJSON_AddStringToObject(m, "envelope_from", "");
	code = cg_mail_noise(m, 0, why, sizeof(why));
	assert_non_null(code);
	assert_string_equal(code, "bounce");
	cJSON_Delete(m);
}

static void test_rules_nagios(void **state)
{
	(void)state;
	expect_event("nagios_problem.eml", "nagios", CG_STATUS_FIRING, "web1/HTTP", "CRITICAL", "web1/HTTP");
	expect_event("nagios_recovery.eml", "nagios", CG_STATUS_RESOLVED, "web1/HTTP", "OK", NULL);
	expect_event("nagios_host_down.eml", "nagios", CG_STATUS_FIRING, "db2", "DOWN", "db2");
	expect_event("nagios_ack.eml", "nagios", CG_STATUS_COMMENT, "web1/HTTP", NULL, NULL);
	/* Labels carry what the rules read. */
	struct cg_event_list ev;
	int matched = 0;
	map_fixture("nagios_problem.eml", "nagios", &ev, &matched);
	assert_int_equal(ev.n, 1);
	expect_str(ev.v[0].labels, "host", "web1");
	expect_str(ev.v[0].labels, "address", "10.0.0.5");
	expect_str(ev.v[0].ctx, "service", "HTTP");
	expect_str(ev.v[0].ctx, "payload.message_id", "nagios-1@mon.example.com");
	if (strstr(ev.v[0].title, "**") || strstr(ev.v[0].title, "PROBLEM"))
		fail_msg("title: got \"%s\", want the noise removed", ev.v[0].title);
	cg_event_list_cleanup(&ev);
}

static void test_rules_icinga_zabbix_am(void **state)
{
	(void)state;
	expect_event("icinga_problem.eml", "icinga2", CG_STATUS_FIRING, "web1.example.com/disk /var", "WARNING", NULL);
	expect_event("icinga_recovery.eml", "icinga2", CG_STATUS_RESOLVED, "web1.example.com/disk /var", "OK", NULL);
	expect_event("icinga_host.eml", "icinga2", CG_STATUS_FIRING, "db2.example.com", "DOWN", NULL);
	expect_event("zabbix_problem.eml", "zabbix", CG_STATUS_FIRING, "event-41877", "Warning", "High CPU");
	expect_event("zabbix_resolved.eml", "zabbix", CG_STATUS_RESOLVED, "event-41877", "Warning", NULL);
	expect_event("zabbix_update.eml", "zabbix", CG_STATUS_COMMENT, "event-41877", NULL, NULL);
	expect_event("am_firing.eml", "alertmanager", CG_STATUS_FIRING, "HighLatency api", "critical", "HighLatency api");
	expect_event("am_resolved.eml", "alertmanager", CG_STATUS_RESOLVED, "HighLatency api", "critical", NULL);
}

static void expect_title(const char *fixture, const char *rules, const char *want)
{
	struct cg_event_list ev;
	int matched = 0;
	map_fixture(fixture, rules, &ev, &matched);
	if (ev.n != 1)
		fail_msg("%s: got %zu events (ignored: %s), want 1", fixture, ev.n, ev.ignored_reason);
	if (!ev.v[0].title || strcmp(ev.v[0].title, want) != 0)
		fail_msg("%s (rules %s): title got \"%s\", want \"%s\"", fixture, rules ? rules : "none", ev.v[0].title,
			 want);
	cg_event_list_cleanup(&ev);
}

/* A title is set once, at creation: a state in it ("... is WARNING") would stay after an
 * escalation and after the recovery (issue #20). Problem and recovery mails give the same
 * state-free title, with the shipped rules and without rules. */
static void test_titles_state_free(void **state)
{
	(void)state;
	static const char *const sets[] = {"nagios", NULL};
	for (int i = 0; i < 2; i++) {
		const char *r = sets[i];
		expect_title("nagios_problem.eml", r, "Service Alert: web1/HTTP");
		expect_title("nagios_recovery.eml", r, "Service Alert: web1/HTTP");
		expect_title("nagios_host_down.eml", r, "Host Alert: db2");
	}
	static const char *const isets[] = {"icinga2", NULL};
	for (int i = 0; i < 2; i++) {
		const char *r = isets[i];
		expect_title("icinga_problem.eml", r, "web1.example.com - disk /var");
		expect_title("icinga_recovery.eml", r, "web1.example.com - disk /var");
		expect_title("icinga_host.eml", r, "db2.example.com"); /* "... is DOWN!" */
	}
	/* No state word after " is ": the subject stays as written. */
	expect_title("zabbix_problem.eml", "zabbix", "High CPU utilization (over 90% for 5m)");
}

static void test_no_rules_heuristics(void **state)
{
	(void)state;
	/* Without rules, a problem and its recovery still share a key (the normalised subject). */
	expect_event("nagios_problem.eml", NULL, CG_STATUS_FIRING, "service alert: web1/http", NULL,
		     "Service Alert: web1/HTTP");
	expect_event("nagios_recovery.eml", NULL, CG_STATUS_RESOLVED, "service alert: web1/http", NULL, NULL);
	expect_event("am_firing.eml", NULL, CG_STATUS_FIRING, "highlatency api (prod critical)", NULL, NULL);
	expect_event("am_resolved.eml", NULL, CG_STATUS_RESOLVED, "highlatency api (prod critical)", NULL, NULL);
	expect_event("zabbix_resolved.eml", NULL, CG_STATUS_RESOLVED, "high cpu utilization (over 90% for 5m)", NULL,
		     NULL);

	char *c = cg_email_clean_subject("Re: AW: [FIRING:3] Disk full");
	assert_string_equal(c, "Disk full");
	free(c);
	char key[64];
	cg_email_subject_case_key("Re: [ops] [PROJ-123] web1 down", key);
	assert_string_equal(key, "PROJ-123");
	cg_email_subject_case_key("[proj-1] [X-] [AB-12x]", key);
	assert_string_equal(key, "");
}

static void test_rules_custom(void **state)
{
	(void)state;
	static const char *const f[] = {"status", "job"};
	struct cg_mail_rule_spec rs[] = {{"subject", "^Backup (OK|FAILED): (.+)$", f, 2, 0, NULL}};
	static const char *const resolved[] = {"OK"};
	static const char *const senders[] = {"backup@*"};
	struct cg_mail_rules_spec spec = {.name = "backup",
					  .rules = rs,
					  .nrules = 1,
					  .resolved_words = resolved,
					  .nresolved = 1,
					  .alert_senders = senders,
					  .nsenders = 1,
					  .dedup_key = "backup/{{job}}",
					  .ignore_unmatched = 1};
	struct cg_mail_rules *r = NULL;
	char err[256];
	assert_int_equal(cg_mail_rules_create(&spec, &r, err, sizeof(err)), 0);
	cJSON *m = cJSON_Parse("{\"subject\":\"Backup FAILED: nightly db\",\"from\":\"backup@host1\",\"text\":\"x\"}");
	struct cg_event_list ev;
	cg_event_list_init(&ev);
	int matched = 0;
	assert_int_equal(cg_email_map(m, r, &ev, &matched, err, sizeof(err)), 0);
	assert_int_equal(ev.n, 1);
	assert_string_equal(ev.v[0].dedup_key, "backup/nightly db");
	assert_int_equal(ev.v[0].status, CG_STATUS_FIRING);
	cg_event_list_cleanup(&ev);
	/* Another sender: ignored. */
	cJSON_ReplaceItemInObject(m, "from", cJSON_CreateString("mallory@evil"));
	cg_event_list_init(&ev);
	assert_int_equal(cg_email_map(m, r, &ev, &matched, err, sizeof(err)), 0);
	assert_int_equal(ev.n, 0);
	expect_contains("reason", ev.ignored_reason, "sender:");
	cg_event_list_cleanup(&ev);
	/* No rule matched and ignore_unmatched. */
	cJSON_ReplaceItemInObject(m, "from", cJSON_CreateString("backup@host1"));
	cJSON_ReplaceItemInObject(m, "subject", cJSON_CreateString("Weekly report"));
	cg_event_list_init(&ev);
	assert_int_equal(cg_email_map(m, r, &ev, &matched, err, sizeof(err)), 0);
	assert_int_equal(ev.n, 0);
	expect_contains("reason", ev.ignored_reason, "unmatched:");
	cg_event_list_cleanup(&ev);
	cJSON_Delete(m);
	cg_mail_rules_destroy(r);

	/* Bad patterns and field counts are reported with the rule's number. */
	struct cg_mail_rule_spec bad[] = {{"subject", "^(a", f, 1, 0, NULL}};
	spec.rules = bad;
	assert_int_equal(cg_mail_rules_create(&spec, &r, err, sizeof(err)), CG_EINVAL);
	expect_contains("err", err, "rule 1: pattern");
	struct cg_mail_rule_spec toomany[] = {{"subject", "^(a)$", f, 2, 0, NULL}};
	spec.rules = toomany;
	assert_int_equal(cg_mail_rules_create(&spec, &r, err, sizeof(err)), CG_EINVAL);
	expect_contains("err", err, "2 field names for 1 group");
	/* Every shipped set compiles. */
	for (const char *const *n = cg_mail_rules_builtin_names(); *n; n++) {
		assert_int_equal(cg_mail_rules_create(cg_mail_rules_builtin(*n), &r, err, sizeof(err)), 0);
		cg_mail_rules_destroy(r);
	}
}

/* Builds the case draft of ev's first event with a title template (the email mapper's priorities). */
static void build_draft(const struct cg_event_list *ev, const char *title, struct cg_case_draft *d)
{
	struct cg_case_spec spec;
	memset(&spec, 0, sizeof(spec));
	spec.source_name = "m";
	spec.project = "e555e290-ed65-49bd-ae18-8acbfcf18db7";
	spec.case_type = "3b010bde-09ce-4449-b745-71dd5f861963";
	spec.title = title;
	spec.default_priority_map = cg_mapper_find("email")->default_priority_map;
	struct cg_builder *b = NULL;
	char err[256] = "";
	if (cg_builder_create(&spec, &b, err, sizeof(err)))
		fail_msg("builder: %s", err);
	if (ev->n != 1)
		fail_msg("got %zu events (ignored: %s), want 1", ev->n, ev->ignored_reason);
	if (cg_builder_build(b, &ev->v[0], d, err, sizeof(err)))
		fail_msg("build: %s", err);
	cg_builder_destroy(b);
}

/* A captured `status` is hidden at the top level by the case status, never under `fields.`;
 * names that collide with nothing stay reachable as before. */
static void test_fields_namespace(void **state)
{
	(void)state;
	static const char *const f[] = {"status", "job"};
	struct cg_mail_rule_spec rs[] = {{"subject", "^Backup (OK|FAILED): (.+)$", f, 2, 0, NULL}};
	static const char *const resolved[] = {"OK"};
	struct cg_mail_rules_spec spec = {.name = "backup",
					  .rules = rs,
					  .nrules = 1,
					  .resolved_words = resolved,
					  .nresolved = 1,
					  .dedup_key = "backup/{{fields.job}}"};
	struct cg_mail_rules *r = NULL;
	char err[256];
	assert_int_equal(cg_mail_rules_create(&spec, &r, err, sizeof(err)), 0);
	cJSON *m = cJSON_Parse("{\"subject\":\"Backup FAILED: nightly db\",\"from\":\"backup@host1\",\"text\":\"x\"}");
	assert_non_null(m);
	struct cg_event_list ev;
	cg_event_list_init(&ev);
	int matched = 0;
	assert_int_equal(cg_email_map(m, r, &ev, &matched, err, sizeof(err)), 0);
	assert_int_equal(ev.n, 1);
	assert_string_equal(ev.v[0].dedup_key, "backup/nightly db");
	struct cg_case_draft d;
	build_draft(&ev, "{{fields.status}}: {{fields.job}} ({{status}}, {{job}}, {{fields.subject|no fact}})", &d);
	if (strcmp(d.title, "FAILED: nightly db (firing, nightly db, no fact)") != 0)
		fail_msg("title: got \"%s\", want \"FAILED: nightly db (firing, nightly db, no fact)\"", d.title);
	cg_case_draft_cleanup(&d);
	cg_event_list_cleanup(&ev);
	/* A field named `fields` cannot hide the namespace. */
	static const char *const f2[] = {"fields", "job"};
	struct cg_mail_rule_spec rs2[] = {{"subject", "^Backup (OK|FAILED): (.+)$", f2, 2, 0, NULL}};
	spec.rules = rs2;
	cg_mail_rules_destroy(r);
	assert_int_equal(cg_mail_rules_create(&spec, &r, err, sizeof(err)), 0);
	cg_event_list_init(&ev);
	assert_int_equal(cg_email_map(m, r, &ev, &matched, err, sizeof(err)), 0);
	build_draft(&ev, "{{fields.fields}} {{fields.job}}", &d);
	assert_string_equal(d.title, "FAILED nightly db");
	cg_case_draft_cleanup(&d);
	cg_event_list_cleanup(&ev);
	cg_mail_rules_destroy(r);
	cJSON_Delete(m);

	assert_non_null(cg_mail_field_builtin("status"));
	assert_non_null(cg_mail_field_builtin("title"));
	assert_non_null(cg_mail_field_builtin("fields"));
	assert_null(cg_mail_field_builtin("severity")); /* a captured one is the event's severity */
	assert_null(cg_mail_field_builtin("job"));
}

/* A recovery mail's comment carries the plugin output; the mail's Date is not a start time. */
static void test_recovery_comment(void **state)
{
	(void)state;
	struct cg_event_list ev;
	int matched = 0;
	map_fixture("nagios_recovery.eml", "nagios", &ev, &matched);
	assert_int_equal(ev.n, 1);
	if (ev.v[0].starts_at)
		fail_msg("starts_at: got \"%s\", want none (a mail's Date changes with every repeat)", ev.v[0].starts_at);
	expect_str(ev.v[0].ctx, "date", "2024-05-14T08:05:00Z"); /* still there for templates */
	struct cg_case_draft d;
	build_draft(&ev, NULL, &d);
	expect_contains("summary", d.summary, "HTTP OK: HTTP/1.1 200 OK - 512 bytes in 0.01 second response time");
	expect_contains("summary", d.summary, "Severity OK");
	if (strstr(d.summary, "tarted") || strstr(d.summary, "2024"))
		fail_msg("summary: got \"%s\", want no start time", d.summary);
	cg_case_draft_cleanup(&d);
	cg_event_list_cleanup(&ev);

	/* A rule that captures a start time gives one. */
	static const char *const f[] = {"starts_at"};
	struct cg_mail_rule_spec rs[] = {{"body", "Since: *([^\n]+)", f, 1, 0, NULL}};
	struct cg_mail_rules_spec spec = {.name = "since", .rules = rs, .nrules = 1};
	struct cg_mail_rules *r = NULL;
	char err[256];
	assert_int_equal(cg_mail_rules_create(&spec, &r, err, sizeof(err)), 0);
	cJSON *m = cJSON_Parse("{\"subject\":\"disk full\",\"from\":\"a@b\",\"date\":\"Tue, 14 May 2024\","
			       "\"text\":\"Since: 2024-05-14T08:00:00Z\\n\"}");
	assert_non_null(m);
	cg_event_list_init(&ev);
	assert_int_equal(cg_email_map(m, r, &ev, &matched, err, sizeof(err)), 0);
	assert_int_equal(ev.n, 1);
	assert_non_null(ev.v[0].starts_at);
	assert_string_equal(ev.v[0].starts_at, "2024-05-14T08:00:00Z");
	cg_event_list_cleanup(&ev);
	cg_mail_rules_destroy(r);
	cJSON_Delete(m);
}

static void test_comment_text(void **state)
{
	(void)state;
	cJSON *m = cg_h_mail_fixture("reply_thread.eml");
	char *t = cg_email_comment_text(m, 16384);
	/* The sender's text is neutralised: no live mention, Markdown shown as written. */
	expect_contains("comment", t,
			"**E-mail from Jörg Müller &lt;joerg\xEF\xBC\xA0" "example.com&gt;**: Re: \\*\\* PROBLEM Service Alert");
	expect_contains("comment", t, "Load-Balancer hängt");
	if (strstr(t, "Nagios *****") || strstr(t, "wrote:"))
		fail_msg("comment: got \"%s\", want the quoted history cut", t);
	/* The reply's plain text is shown as written: a fenced block after the head line, which ends it. */
	expect_contains("comment", t, "\n\n```\n");
	if (strcmp(t + strlen(t) - 4, "\n```") != 0)
		fail_msg("comment: got \"%s\", want it to end with the closing fence", t);
	free(t);
	cJSON_Delete(m);
}

/* A long head (a 2 KiB subject of '<', 4 bytes each once neutralised, and a long sender name) and a
 * 20 KiB body: the head is bounded and the fenced body sized after it, so the comment still ends
 * with the closing fence within its limit. */
static void test_comment_text_long_head(void **state)
{
	(void)state;
	cJSON *m = cg_h_mail_fixture("reply_thread.eml");
	char *subject = malloc(2049), *name = malloc(2049), *body = malloc(20 * 1024 + 1);
	assert_true(subject && name && body);
	memset(subject, '<', 2048);
	subject[2048] = '\0';
	memset(name, 'n', 2048);
	name[2048] = '\0';
	for (size_t i = 0; i < 20 * 1024; i++)
		body[i] = i % 64 == 63 ? '\n' : 'x';
	body[20 * 1024] = '\0';
	cJSON_ReplaceItemInObject(m, "subject", cJSON_CreateString(subject));
	cJSON_ReplaceItemInObject(m, "from_name", cJSON_CreateString(name));
	cJSON_ReplaceItemInObject(m, "text", cJSON_CreateString(body));
	char *t = cg_email_comment_text(m, 8192);
	assert_non_null(t);
	if (strlen(t) > 8192 || strcmp(t + strlen(t) - 4, "\n```") != 0)
		fail_msg("comment: got %zu bytes ending \"%s\", want at most 8192 ending with the closing fence", strlen(t),
		         t + (strlen(t) > 40 ? strlen(t) - 40 : 0));
	free(t);
	free(body);
	free(name);
	free(subject);
	cJSON_Delete(m);
}

/* Icinga 2.13's acknowledgement (generated from the real script) is a comment on the service's
 * case that says who acknowledged it and why; the problem mail has no such line. */
static void test_icinga_ack_comment(void **state)
{
	(void)state;
	struct cg_event_list ev;
	int matched = 0;
	map_fixture("icinga213_service_ack.eml", "icinga2", &ev, &matched);
	assert_int_equal(ev.v[0].status, CG_STATUS_COMMENT);
	assert_string_equal(ev.v[0].dedup_key, "db-1.prod.example/disk-var");
	if (!ev.v[0].comment_detail ||
	    strcmp(ev.v[0].comment_detail, "**Comment by ana:** Rotating the postgres logs, see OPS-1234") != 0)
		fail_msg("comment_detail: got \"%s\", want the acknowledgement's author and comment",
			 ev.v[0].comment_detail ? ev.v[0].comment_detail : "(none)");
	struct cg_case_draft d;
	build_draft(&ev, NULL, &d);
	expect_contains("summary", d.summary, "**Comment by ana:** Rotating the postgres logs");
	expect_contains("summary", d.summary, "DISK CRITICAL - free space: /var 398 MiB");
	cg_case_draft_cleanup(&d);
	cg_event_list_cleanup(&ev);
	map_fixture("icinga213_service_problem_critical.eml", "icinga2", &ev, &matched);
	assert_null(ev.v[0].comment_detail);
	cg_event_list_cleanup(&ev);
}

/* The description of one mail (raw RFC 5322 text), mapped without rules; caller frees. */
static char *description_of(const char *raw)
{
	cJSON *m = NULL;
	char err[256] = "";
	if (cg_mail_parse(raw, strlen(raw), NULL, &m, err, sizeof(err)))
		fail_msg("parse: %s", err);
	struct cg_event_list ev;
	cg_event_list_init(&ev);
	assert_int_equal(cg_email_map(m, NULL, &ev, NULL, err, sizeof(err)), 0);
	assert_int_equal(ev.n, 1);
	char *d = strdup(ev.v[0].description);
	cg_event_list_cleanup(&ev);
	cJSON_Delete(m);
	return d;
}

/* A plain-text body is a fenced block: its lines and stars as written, and still inert: the fence
 * is longer than any backtick run inside (so the text cannot close it and write Markdown after
 * it), a mention is neutralised. An HTML body keeps its handling: readable text, Markdown-escaped. */
static void test_plain_text_fenced(void **state)
{
	(void)state;
	char *d = description_of("From: nagios@mon.example.com\nSubject: x\nContent-Type: text/plain\n\n"
				 "***** Nagios *****\n\nHost: web1\n````\n@here [x](http://evil.example/) <b>hi</b>\n");
	expect_contains("description", d,
			"\n\n`````\n***** Nagios *****\n\nHost: web1\n````\n\xEF\xBC\xA0here [x](http://evil.example/) "
			"<b>hi</b>\n`````");
	if (strcmp(d + strlen(d) - 6, "\n`````") != 0)
		fail_msg("description: got \"%s\", want it to end with the closing fence", d);
	if (strstr(d, "@here") || strstr(d, "\\*"))
		fail_msg("description: got \"%s\", want no live mention and no escapes inside the block", d);
	free(d);

	/* Longer than a description may be (32 KiB): the block is cut and closed, then says so. */
	size_t big = 40 * 1024;
	char *raw = malloc(big + 100);
	assert_non_null(raw);
	int h = snprintf(raw, 100, "From: a@b.example\nSubject: x\n\n");
	for (size_t i = 0; i < big; i++)
		raw[h + i] = i % 64 == 63 ? '\n' : '@'; /* '@' grows to 3 bytes when neutralised */
	raw[h + big] = '\0';
	d = description_of(raw);
	if (strlen(d) > CG_DESCRIPTION_MAX - 1024)
		fail_msg("description of a 40 KiB mail: got %zu bytes, want the fenced text cut below %d", strlen(d),
			 CG_DESCRIPTION_MAX - 1024);
	expect_contains("description", d, "\n```\n\n_(text truncated)_");
	if (strcmp(d + strlen(d) - 24, "\n```\n\n_(text truncated)_") != 0)
		fail_msg("description of a 40 KiB mail: got \"...%s\", want the closed block, then the note", d + strlen(d) - 60);
	free(d);
	free(raw);

	d = description_of("From: a@b.example\nSubject: x\nContent-Type: text/html\n\n<p>***** Nagios *****</p>\n");
	expect_contains("description", d, "\\*\\*\\*\\*\\* Nagios \\*\\*\\*\\*\\*");
	if (strstr(d, "```"))
		fail_msg("description of an HTML mail: got \"%s\", want no fenced block", d);
	free(d);
}

static void test_bad_input(void **state)
{
	(void)state;
	cJSON *m = NULL;
	char err[256];
	assert_int_equal(cg_mail_parse("", 0, NULL, &m, err, sizeof(err)), CG_EINVAL);
	assert_int_equal(cg_mail_parse("\x01\x02 binary", 9, NULL, &m, err, sizeof(err)), CG_EINVAL);
	/* Headers only, no body, no blank line: still a message. */
	const char *h = "Subject: x";
	assert_int_equal(cg_mail_parse(h, strlen(h), NULL, &m, err, sizeof(err)), 0);
	expect_str(m, "subject", "x");
	expect_str(m, "text", "");
	cJSON_Delete(m);
	/* An mbox From_ line is skipped. */
	const char *mb = "From nagios@x Tue May 14 10:00:00 2024\nSubject: y\n\nbody\n";
	assert_int_equal(cg_mail_parse(mb, strlen(mb), NULL, &m, err, sizeof(err)), 0);
	expect_str(m, "subject", "y");
	cJSON_Delete(m);
	/* Text caps hold at UTF-8 boundaries. */
	struct cg_mail_limits lim;
	cg_mail_limits_default(&lim);
	lim.max_text = 10;
	const char *big = "Subject: z\nContent-Type: text/plain; charset=utf-8\n\nääääääääääää\n";
	assert_int_equal(cg_mail_parse(big, strlen(big), &lim, &m, err, sizeof(err)), 0);
	const char *t = cg_json_str(m, "text");
	if (strlen(t) > 10 + 3)
		fail_msg("text: got %zu bytes, want at most 13", strlen(t));
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(m, "text_truncated")));
	cJSON_Delete(m);
	/* The mapper refuses what is not a mail payload. */
	struct cg_event_list ev;
	cg_event_list_init(&ev);
	cJSON *j = cJSON_Parse("{\"alerts\":[]}");
	assert_int_equal(cg_email_map(j, NULL, &ev, NULL, err, sizeof(err)), CG_EINVAL);
	cJSON_Delete(j);
	cg_event_list_cleanup(&ev);
}

/* MIME parts are counted over the raw text the way GMime will find them, before it builds any. */
static void test_count_parts(void **state)
{
	(void)state;
	static const struct {
		const char *raw;
		size_t want;
	} cases[] = {
		{"Subject: plain\n\nno parts\n", 0},
		/* one multipart, two delimiters, the closing line delimits nothing */
		{"Content-Type: multipart/mixed; boundary=\"b1\"\n\n--b1\n\na\n--b1\n\nb\n--b1--\n", 3},
		/* folded header, unquoted boundary, CRLF lines and trailing blanks */
		{"Content-Type: multipart/mixed;\r\n\tboundary=b2\r\n\r\n--b2  \r\n\r\na\r\n--b2\r\n\r\nb\r\n--b2--\r\n", 3},
		/* RFC 2231 parameter, as GMime reads it */
		{"Content-Type: multipart/mixed; boundary*0=\"ab\"; boundary*1=\"cd\"\n\n--abcd\n\nx\n--abcd--\n", 2},
		/* nested: two multiparts, three delimiters */
		{"Content-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: multipart/alternative; boundary=i\n\n"
		 "--i\n\nx\n--i--\n--o--\n",
		 4},
		/* lines that only start like a delimiter, or name another boundary, do not count */
		{"Content-Type: multipart/mixed; boundary=b3\n\n--b3\n\n--b3x\n-- b3\n--other\n--b3--\n", 2},
		/* a header name with space before the colon, in any case */
		{"content-TYPE : Multipart/Mixed; boundary=b4\n\n--b4\n\n--b4\n\n", 3},
		/* no boundary parameter: the multipart still counts */
		{"Content-Type: multipart/mixed\n\n--x\n", 1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t got = cg_mail_count_parts(cases[i].raw, strlen(cases[i].raw), 1000);
		if (got != cases[i].want)
			fail_msg("#%zu: got %zu parts, want %zu", i, got, cases[i].want);
	}
	/* Past the cap the count stops at cap + 1, and cg_mail_parse refuses with CG_E2BIG. */
	char *bomb = malloc(64 + 7 * 5000);
	assert_non_null(bomb);
	size_t cap = 64 + 7 * 5000;
	size_t o = (size_t)snprintf(bomb, cap, "Subject: b\nContent-Type: multipart/mixed; boundary=z\n\n");
	for (int i = 0; i < 5000; i++)
		o += (size_t)snprintf(bomb + o, cap - o, "--z\n\n");
	assert_int_equal(cg_mail_count_parts(bomb, o, 100), 101);
	struct cg_mail_limits lim;
	cg_mail_limits_default(&lim);
	assert_int_equal(lim.max_parts, 1000);
	lim.max_parts = 100;
	cJSON *m = NULL;
	char err[256];
	assert_int_equal(cg_mail_parse(bomb, o, &lim, &m, err, sizeof(err)), CG_E2BIG);
	assert_null(m);
	assert_string_equal(err, "message has more than 100 MIME parts (mail.max_parts)");
	lim.max_parts = 6000;
	assert_int_equal(cg_mail_parse(bomb, o, &lim, &m, err, sizeof(err)), 0);
	cJSON_Delete(m);
	free(bomb);
}

/* The literal corpus: every message parses, nothing crashes, payloads are sane. */
static void test_shared_corpus(void **state)
{
	(void)state;
	const char *shared = cg_h_shared_dir();
	if (!shared)
		cg_h_skip("shared", "../shared (CG_SHARED_DIR) not found: the e-mail corpus not parsed");
	char dir[1024];
	snprintf(dir, sizeof(dir), "%s/fixtures/email", shared);
	DIR *d = opendir(dir);
	if (!d)
		cg_h_skip("shared", "%s missing", dir);
	int n = 0, saw15 = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strstr(de->d_name, ".eml"))
			continue;
		char path[1400];
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		size_t len = 0;
		char *raw = cg_h_read_file(path, &len);
		assert_non_null(raw);
		cJSON *m = NULL;
		char err[256] = "";
		int rc = cg_mail_parse(raw, len, NULL, &m, err, sizeof(err));
		if (rc)
			fail_msg("%s: got %s (%s), want a payload", de->d_name, cg_strerror(rc), err);
		if (!cg_json_str(m, "subject") || !cg_json_str(m, "text"))
			fail_msg("%s: payload lacks subject or text", de->d_name);
		struct cg_event_list ev;
		cg_event_list_init(&ev);
		rc = cg_email_map(m, NULL, &ev, NULL, err, sizeof(err));
		if (rc || ev.n + (ev.ignored_reason[0] != 0) != 1)
			fail_msg("%s: map got rc %d, %zu events", de->d_name, rc, ev.n);
		if (strstr(de->d_name, "msg_15")) {
			saw15 = 1;
			/* The nested part reuses the outer boundary: text survives, the gif is listed. */
			expect_contains("msg_15 text", cg_json_str(m, "text"), "Some removed test");
		}
		if (strstr(de->d_name, "nodemailer"))
			expect_contains("nodemailer subject", cg_json_str(m, "subject"), "✔");
		cg_event_list_cleanup(&ev);
		cJSON_Delete(m);
		free(raw);
		n++;
	}
	closedir(d);
	if (n == 0)
		cg_h_skip("shared", "no .eml file in %s", dir);
	assert_true(saw15);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_basic),	   cmocka_unit_test(test_parse_charsets),
		cmocka_unit_test(test_parse_html),	   cmocka_unit_test(test_noise),
		cmocka_unit_test(test_rules_nagios),	   cmocka_unit_test(test_rules_icinga_zabbix_am),
		cmocka_unit_test(test_titles_state_free),
		cmocka_unit_test(test_no_rules_heuristics), cmocka_unit_test(test_rules_custom),
		cmocka_unit_test(test_comment_text),	   cmocka_unit_test(test_comment_text_long_head),	   cmocka_unit_test(test_plain_text_fenced),
		cmocka_unit_test(test_icinga_ack_comment),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_count_parts),	   cmocka_unit_test(test_fields_namespace),
		cmocka_unit_test(test_recovery_comment),
		cmocka_unit_test(test_shared_corpus),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
