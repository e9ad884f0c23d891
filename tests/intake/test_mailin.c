/* test_mailin.c: mail config, routing, the note lifecycle action, and threading over a real store. */
/* labels: unit */
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
	"    reply_senders: ['*@example.com']\n"                                                   \
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
	assert_int_equal(cfg->mail.max_parts, 1000);
	assert_null(cfg->mail.authserv_id);
	assert_int_equal(cg_config_source(cfg, "backup")->nreply_senders, 0);
	assert_int_equal(cg_config_source(cfg, "backup")->reply_to_closed, 0);
	cg_config_free(cfg);

	/* A mail section without listen configures pipe mode only; the new keys. */
	cfg = load("datadog: { url: 'http://127.0.0.1:1' }\n"
		   "mail:\n  max_parts: 200\n  authserv_id: mx.example.com\n" SOURCES
		   "  - name: replies\n    type: email\n    reply_senders: ['*@Example.COM', ops@corp.example]\n"
		   "    reply_to_closed: yes\n"
		   "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
		   "    case_type: 00000000-0000-0000-0000-000000000001\n",
		   &errs);
	if (!cfg)
		fail_msg("pipe-only mail config: got errors:\n%s", errs ? errs : "(none)");
	free(errs);
	assert_false(cfg->mail.enabled);
	assert_int_equal(cfg->mail.max_parts, 200);
	assert_string_equal(cfg->mail.authserv_id, "mx.example.com");
	const struct cg_source_config *rs = cg_config_source(cfg, "replies");
	assert_int_equal(rs->nreply_senders, 2);
	assert_string_equal(rs->reply_senders[0], "*@example.com");
	assert_int_equal(rs->reply_to_closed, 1);
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
		{"mail: { max_parts: 0 }\n", "mail.max_parts"},
		{"mail: { authserv_id: 'mx.example.com; dkim=pass' }\n", "mail.authserv_id: 'mx.example.com; dkim=pass' is not an authserv-id"},
		{"sources:\n  - { name: h, type: generic, auth: none, reply_senders: [a@b], project: "
		 "d4bbe1af-f36e-42f1-87c1-493ca35c320e, case_type: 00000000-0000-0000-0000-000000000001 }\n",
		 "reply_senders: only `type: email` sources take replies"},
		{"sources:\n  - { name: h, type: generic, auth: none, reply_to_closed: true, project: "
		 "d4bbe1af-f36e-42f1-87c1-493ca35c320e, case_type: 00000000-0000-0000-0000-000000000001 }\n",
		 "reply_to_closed: only `type: email` sources take replies"},
		{"sources:\n  - { name: m, type: email, reply_to_closed: maybe, project: "
		 "d4bbe1af-f36e-42f1-87c1-493ca35c320e, case_type: 00000000-0000-0000-0000-000000000001 }\n",
		 "reply_to_closed"},
		{"sources:\n  - { name: m, type: email, rules: nagious, project: d4bbe1af-f36e-42f1-87c1-493ca35c320e, "
		 "case_type: 00000000-0000-0000-0000-000000000001 }\n",
		 "unknown rule set 'nagious' (shipped: nagios, icinga2, zabbix, alertmanager, monit)"},
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

/* Plans and stores one fixture for source nagios; returns the plan (caller frees). */
static struct cg_mail_plan *take(struct fx *f, const char *name, int64_t now)
{
	cJSON *m = cg_h_mail_fixture(name);
	struct cg_mail_plan *p = NULL;
	char err[256];
	const struct cg_source_config *src = cg_config_source(f->cfg, "nagios");
	if (cg_mail_plan_build(src, f->b, m, NULL, now, &p, err, sizeof(err)) != 0)
		fail_msg("%s: plan: %s", name, err);
	cJSON_Delete(m);
	assert_int_equal(cg_store_begin(f->st), 0);
	int rc = cg_mail_plan_store(f->st, p, now);
	if (rc)
		fail_msg("%s: store: %s", name, cg_strerror(rc));
	assert_int_equal(cg_store_commit(f->st), 0);
	return p;
}

/* The fixture over sources (a `sources:` block): a config with an unreachable Datadog, a fresh
 * SQLite store and the nagios source's builder. */
static void fx_open(struct fx *f, const char *prefix, const char *sources)
{
	f->dir = cg_h_tmpdir(prefix);
	char *errs = NULL;
	char *text = cg_h_fmt("datadog: { url: 'http://127.0.0.1:1' }\nstate_dir: %s\n%s", f->dir, sources);
	f->cfg = load(text, &errs);
	free(text);
	if (!f->cfg)
		fail_msg("config: %s", errs);
	free(errs);
	char err[256];
	assert_int_equal(cg_store_sqlite_open(f->dir, &f->st, err, sizeof(err)), 0);
	struct cg_case_spec spec;
	cg_config_case_spec(cg_config_source(f->cfg, "nagios"), &spec);
	assert_int_equal(cg_builder_create(&spec, &f->b, err, sizeof(err)), 0);
}

static void fx_close(struct fx *f)
{
	cg_builder_destroy(f->b);
	cg_store_close(f->st);
	cg_config_free(f->cfg);
	cg_h_rmrf(f->dir);
	free(f->dir);
}

static void test_threading(void **state)
{
	(void)state;
	struct fx f = {0};
	fx_open(&f, "mailin", SOURCES);
	int64_t now = 1715680000000;

	/* The alert: one firing event, its Message-ID remembered for replies. */
	struct cg_mail_plan *p = take(&f, "nagios_problem.eml", now);
	assert_int_equal(p->outcome, CG_MAIL_OUT_EVENTS);
	assert_int_equal(p->queued, 1);
	assert_string_equal(p->evs[0].dedup_key, "nagios:web1/HTTP");
	cg_mail_plan_free(p);
	char *key = NULL;
	assert_int_equal(cg_store_seen_get(f.st, "mailref:nagios:nagios-1@mon.example.com", now, &key), 0);
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
	char err[256];
	cJSON *m = cg_h_mail_fixture("reply_casekey.eml");
	cJSON_ReplaceItemInObject(m, "message_id", cJSON_CreateString("reply-3@mail.example.com"));
	assert_int_equal(
		cg_mail_plan_build(cg_config_source(f.cfg, "nagios"), f.b, m, NULL, now + 5, &p, err, sizeof(err)), 0);
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

	fx_close(&f);
}

/* ---- who may act through a mail source ---- */

#define TRUST_SOURCES                                                                               \
	"sources:\n"                                                                               \
	"  - name: ops\n"                                                                          \
	"    type: email\n"                                                                        \
	"    rules: {base: nagios, alert_senders: ['nagios@mon.example.com']}\n"                   \
	"    reply_senders: ['*@example.com']\n"                                                   \
	"    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"                                      \
	"    case_type: 00000000-0000-0000-0000-000000000001\n"                                    \
	"  - name: other\n"                                                                        \
	"    type: email\n"                                                                        \
	"    rules: {base: nagios, alert_senders: ['nagios@mon.example.com']}\n"                   \
	"    reply_senders: ['*@example.com']\n"                                                   \
	"    reply_to_closed: true\n"                                                              \
	"    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"                                      \
	"    case_type: 00000000-0000-0000-0000-000000000001\n"                                    \
	"  - name: open\n"                                                                         \
	"    type: email\n"                                                                        \
	"    rules: nagios\n"                                                                      \
	"    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"                                      \
	"    case_type: 00000000-0000-0000-0000-000000000001\n"

struct tfx {
	char *dir;
	struct cg_config *cfg;
	struct cg_store *st;
	struct cg_builder *b[3];
	int64_t now;
};

static void set_str(cJSON *m, const char *k, const char *v)
{
	cJSON_DeleteItemFromObjectCaseSensitive(m, k);
	if (v)
		assert_non_null(cJSON_AddStringToObject(m, k, v));
}

/* A mail whose dedup key has nothing of the alert in it takes the path of any mail the builder refuses:
 * accepted and ignored (`invalid`), the reason naming the source and the template, nothing queued. */
static void test_keyless_mail_ignored(void **state)
{
	(void)state;
	struct fx f = {0};
	fx_open(&f, "mailkey",
		"sources:\n"
		"  - name: nagios\n"
		"    type: email\n"
		"    rules: nagios\n"
		"    dedup_key: \"{{labels.alertname}}/{{labels.instance}}\"\n"
		"    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
		"    case_type: 00000000-0000-0000-0000-000000000001\n");
	int64_t now = 1715680000000;
	struct cg_mail_plan *p = take(&f, "nagios_problem.eml", now);
	assert_int_equal(p->outcome, CG_MAIL_OUT_IGNORED);
	assert_int_equal(p->queued, 0);
	assert_string_equal(p->reason_code, "invalid");
	assert_string_equal(p->reason, "source 'nagios': dedup_key \"{{labels.alertname}}/{{labels.instance}}\" rendered "
					"\"/\": nothing from the payload (not in the payload: labels.alertname, "
					"labels.instance)");
	cg_mail_plan_free(p);
	struct cg_store_event *evs = NULL;
	size_t n = 0;
	assert_int_equal(cg_store_claim(f.st, now + 10, 10, &evs, &n), 0);
	assert_int_equal(n, 0);
	cg_store_events_free(evs, n);
	fx_close(&f);
}

/* Plans and stores fixture `name` for source with From/envelope/Message-ID replaced (NULL: keep,
 * "" envelope: remove it). Returns the plan (caller frees). */
static struct cg_mail_plan *deliver(struct tfx *f, const char *source, const char *name, const char *from,
				    const char *envelope, const char *message_id, const char *authserv_id)
{
	cJSON *m = cg_h_mail_fixture(name);
	if (from)
		set_str(m, "from", from);
	set_str(m, "envelope_from", envelope && *envelope ? envelope : NULL);
	if (message_id)
		set_str(m, "message_id", message_id);
	const struct cg_source_config *src = cg_config_source(f->cfg, source);
	size_t idx = (size_t)(src - f->cfg->sources);
	struct cg_mail_plan *p = NULL;
	char err[256];
	f->now += 10;
	if (cg_mail_plan_build(src, f->b[idx], m, authserv_id, f->now, &p, err, sizeof(err)) != 0)
		fail_msg("%s: plan: %s", name, err);
	cJSON_Delete(m);
	assert_int_equal(cg_store_begin(f->st), 0);
	int rc = cg_mail_plan_store(f->st, p, f->now);
	if (rc)
		fail_msg("%s: store: %s", name, cg_strerror(rc));
	assert_int_equal(cg_store_commit(f->st), 0);
	return p;
}

static void expect_outcome(struct cg_mail_plan *p, enum cg_mail_outcome want, const char *reason, const char *what)
{
	if (p->outcome != want || (reason && strcmp(p->reason_code, reason) != 0))
		fail_msg("%s: got outcome %d (%s: %s), want %d (%s)", what, p->outcome, p->reason_code, p->reason, want,
			 reason ? reason : "-");
	cg_mail_plan_free(p);
}

static void test_reply_rules(void **state)
{
	(void)state;
	struct tfx f = {0};
	f.dir = cg_h_tmpdir("mailtrust");
	char *errs = NULL;
	char *text = cg_h_fmt("datadog: { url: 'http://127.0.0.1:1' }\nstate_dir: %s\n" TRUST_SOURCES, f.dir);
	f.cfg = load(text, &errs);
	free(text);
	if (!f.cfg)
		fail_msg("config: %s", errs);
	/* The open source accepts alerts from anyone: check-config says so. */
	if (!f.cfg->warnings || !strstr(f.cfg->warnings, "source 'open' accepts alert mail from any sender"))
		fail_msg("warnings: got %s, want one about source 'open'", f.cfg->warnings ? f.cfg->warnings : "(none)");
	if (strstr(f.cfg->warnings, "source 'ops'"))
		fail_msg("warnings: %s names source 'ops', which has alert_senders", f.cfg->warnings);
	free(errs);
	char err[256];
	assert_int_equal(cg_store_sqlite_open(f.dir, &f.st, err, sizeof(err)), 0);
	for (size_t i = 0; i < 3; i++) {
		struct cg_case_spec spec;
		cg_config_case_spec(&f.cfg->sources[i], &spec);
		assert_int_equal(cg_builder_create(&spec, &f.b[i], err, sizeof(err)), 0);
	}
	f.now = 1715680000000;

	/* An alert from the alert sender, with its own envelope: queued. */
	expect_outcome(deliver(&f, "ops", "nagios_problem.eml", NULL, "nagios@mon.example.com", NULL, NULL),
		       CG_MAIL_OUT_EVENTS, NULL, "alert");
	/* The same From with a stranger's envelope: nothing (forged), also for the recovery. */
	expect_outcome(deliver(&f, "ops", "nagios_recovery.eml", NULL, "attacker@evil.example", NULL, NULL),
		       CG_MAIL_OUT_IGNORED, "sender", "forged envelope");
	/* A reply sender's reply threads (the envelope agrees). */
	struct cg_mail_plan *p = deliver(&f, "ops", "reply_thread.eml", NULL, "joerg@example.com", NULL, NULL);
	assert_string_equal(p->target, "ops:web1/HTTP");
	expect_outcome(p, CG_MAIL_OUT_COMMENT, NULL, "trusted reply");
	/* A stranger's reply, or a reply sender's From over a stranger's envelope: no comment. */
	expect_outcome(deliver(&f, "ops", "reply_thread.eml", "random@evil.example", "random@evil.example", "r-2@x", NULL),
		       CG_MAIL_OUT_IGNORED, "reply_sender", "stranger reply");
	expect_outcome(deliver(&f, "ops", "reply_thread.eml", NULL, "random@evil.example", "r-3@x", NULL),
		       CG_MAIL_OUT_IGNORED, "reply_sender", "forged reply envelope");
	/* Another source never finds this source's mail (its refs are per source)... */
	expect_outcome(deliver(&f, "other", "reply_thread.eml", NULL, "joerg@example.com", "r-4@x", NULL),
		       CG_MAIL_OUT_IGNORED, NULL, "reply through another source");
	/* ...nor its case by key in the subject. */
	struct cg_store_case c = {.dedup_key = "ops:web1/HTTP", .case_id = "id-1", .case_key = "PROJ-42",
				  .state = CG_CASE_OPEN, .generation = 1};
	assert_int_equal(cg_store_case_put(f.st, &c), 0);
	expect_outcome(deliver(&f, "other", "reply_casekey.eml", NULL, "ops@example.com", "r-5@x", NULL),
		       CG_MAIL_OUT_IGNORED, "reply_source", "case key of another source");
	p = deliver(&f, "ops", "reply_casekey.eml", NULL, "ops@example.com", "r-6@x", NULL);
	expect_outcome(p, CG_MAIL_OUT_COMMENT, NULL, "case key of its own source");
	/* A reference written before refs were per source still threads, for its own source only. */
	assert_int_equal(cg_store_begin(f.st), 0);
	int was = 0;
	assert_int_equal(cg_store_seen(f.st, "mailref:legacy-1@mon.example.com", "ops:web1/HTTP", f.now, &was), 0);
	assert_int_equal(cg_store_commit(f.st), 0);
	/* Closed: ops refuses replies to it, other (reply_to_closed: true) would take its own. */
	c.state = CG_CASE_CLOSED;
	c.closed_ms = f.now;
	assert_int_equal(cg_store_case_put(f.st, &c), 0);
	expect_outcome(deliver(&f, "ops", "reply_thread.eml", NULL, "joerg@example.com", "r-7@x", NULL),
		       CG_MAIL_OUT_IGNORED, "reply_closed", "reply to a closed case");
	expect_outcome(deliver(&f, "ops", "reply_casekey.eml", NULL, "ops@example.com", "r-8@x", NULL),
		       CG_MAIL_OUT_IGNORED, "reply_closed", "case key of a closed case");
	struct cg_store_case oc = {.dedup_key = "other:web1/HTTP", .case_id = "id-2", .case_key = "PROJ-43",
				   .state = CG_CASE_CLOSED, .closed_ms = f.now, .generation = 1};
	assert_int_equal(cg_store_case_put(f.st, &oc), 0);
	cJSON *mk = cg_h_mail_fixture("reply_casekey.eml");
	set_str(mk, "subject", "Re: [PROJ-43] still broken");
	set_str(mk, "envelope_from", "ops@example.com");
	set_str(mk, "message_id", "r-9@x");
	const struct cg_source_config *other = cg_config_source(f.cfg, "other");
	assert_int_equal(cg_mail_plan_build(other, f.b[1], mk, NULL, f.now, &p, err, sizeof(err)), 0);
	cJSON_Delete(mk);
	assert_int_equal(cg_store_begin(f.st), 0);
	assert_int_equal(cg_mail_plan_store(f.st, p, f.now), 0);
	assert_int_equal(cg_store_commit(f.st), 0);
	assert_string_equal(p->target, "other:web1/HTTP");
	expect_outcome(p, CG_MAIL_OUT_COMMENT, NULL, "reply_to_closed: true");
	/* The legacy reference of ops' mail, through another source: not threaded there. */
	mk = cg_h_mail_fixture("reply_thread.eml");
	cJSON_DeleteItemFromObjectCaseSensitive(mk, "references");
	set_str(mk, "in_reply_to", "legacy-1@mon.example.com");
	set_str(mk, "envelope_from", "joerg@example.com");
	set_str(mk, "message_id", "r-10@x");
	assert_int_equal(cg_mail_plan_build(other, f.b[1], mk, NULL, f.now, &p, err, sizeof(err)), 0);
	cJSON_Delete(mk);
	assert_int_equal(cg_store_begin(f.st), 0);
	assert_int_equal(cg_mail_plan_store(f.st, p, f.now), 0);
	assert_int_equal(cg_store_commit(f.st), 0);
	expect_outcome(p, CG_MAIL_OUT_IGNORED, "reply_source", "legacy ref of another source");

	/* A source with neither reply_senders nor alert_senders takes no replies. */
	expect_outcome(deliver(&f, "open", "reply_casekey.eml", NULL, "ops@example.com", "r-11@x", NULL),
		       CG_MAIL_OUT_EVENTS, NULL, "reply to a source without reply senders (an alert, by its config)");

	/* With mail.authserv_id, the MTA's Authentication-Results decide (the envelope may differ). */
	cJSON *ma = cg_h_mail_fixture("nagios_problem.eml");
	cJSON *h = cJSON_GetObjectItemCaseSensitive(ma, "headers");
	cJSON_AddStringToObject(h, "authentication-results",
				"mx.example.com; dmarc=pass (p=reject) header.from=mon.example.com");
	set_str(ma, "envelope_from", "bounces+srs=x@forwarder.example");
	set_str(ma, "message_id", "a-1@x");
	const struct cg_source_config *ops = cg_config_source(f.cfg, "ops");
	assert_int_equal(cg_mail_plan_build(ops, f.b[0], ma, "mx.example.com", f.now, &p, err, sizeof(err)), 0);
	if (p->nevs != 1)
		fail_msg("authenticated alert: got %zu events (%s), want 1", p->nevs, p->reason);
	cg_mail_plan_free(p);
	/* The same mail checked against another authserv-id: untrusted. */
	assert_int_equal(cg_mail_plan_build(ops, f.b[0], ma, "mx.other.example", f.now, &p, err, sizeof(err)), 0);
	assert_int_equal(p->nevs, 0);
	assert_string_equal(p->reason_code, "sender");
	if (!strstr(p->reason, "not 'mx.other.example'"))
		fail_msg("reason: got %s, want the authserv-id named", p->reason);
	cg_mail_plan_free(p);
	cJSON_Delete(ma);

	for (size_t i = 0; i < 3; i++)
		cg_builder_destroy(f.b[i]);
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
		cmocka_unit_test(test_keyless_mail_ignored),
		cmocka_unit_test(test_reply_rules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
