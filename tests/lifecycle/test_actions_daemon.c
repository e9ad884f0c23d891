/* test_actions_daemon.c: lifecycle actions end to end: assignee, watchers, insights, due dates, escalation
 * assignment and integrations (once per case), links to the previous case, archive sweep, bulk
 * closes with fallback, project keys (resolved and unknown). */
/* labels: integration */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <time.h>

#include "itest.h"

#define ASSIGNEE "aaaaaaaa-0000-4000-8000-000000000001"
#define ASSIGNEE_P1 "aaaaaaaa-0000-4000-8000-000000000099"
#define WATCHER1 "bbbbbbbb-0000-4000-8000-000000000001"
#define WATCHER2 "bbbbbbbb-0000-4000-8000-000000000002"
#define CASE_TYPE "00000000-0000-0000-0000-000000000001"

static const char *sources =
	"  - name: act\n"
	"    type: generic\n"
	"    auth: { bearer: tok }\n"
	"    project: DEMO\n"
	"    case_type: " CASE_TYPE "\n"
	"    title: \"{{labels.alertname}}\"\n"
	"    dedup_key: \"{{labels.alertname}}\"\n"
	"    priority: { from: \"{{labels.severity}}\", map: { critical: P1, error: P2, warning: P3 }, default: P4 }\n"
	"    on_resolve: close\n"
	"    reopen_window: 0\n"
	"    actions:\n"
	"      assignee: " ASSIGNEE "\n"
	"      watchers: [" WATCHER1 ", " WATCHER2 "]\n"
	"      insights:\n"
	"        - { type: EVENT, ref: \"/event/explorer?query={{labels.alertname}}\", resource_id: \"{{labels.alertname}}\" }\n"
	"      due: 7d\n"
	"      archive_after: 2s\n"
	"      P2:\n"
	"        jira: { project_id: \"OPS\", issue_type_id: \"3\", jira_account_id: \"acct-1\" }\n"
	"      P1:\n"
	"        assignee: " ASSIGNEE_P1 "\n"
	"        due: 1d\n"
	"        jira: { project_id: \"OPS\", issue_type_id: \"3\", jira_account_id: \"acct-1\" }\n"
	"        servicenow: { instance_name: acme, assignment_group: sre }\n"
	"        notebook: true\n"
	"  - name: am\n"
	"    type: alertmanager\n"
	"    auth: { bearer: tok }\n"
	"    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
	"    case_type: " CASE_TYPE "\n"
	"    on_resolve: close\n"
	"    actions: { bulk: true }\n"
	"  - name: am-plain\n"
	"    type: alertmanager\n"
	"    auth: { bearer: tok }\n"
	"    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
	"    case_type: " CASE_TYPE "\n"
	"    on_resolve: close\n"
	"  - name: dd\n"
	"    type: datadog\n"
	"    auth: { bearer: tok }\n"
	"    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
	"    case_type: " CASE_TYPE "\n"
	"  - name: unk\n"
	"    type: generic\n"
	"    auth: { bearer: tok }\n"
	"    project: NOPE\n"
	"    case_type: " CASE_TYPE "\n"
	"    title: \"{{labels.alertname}}\"\n"
	"    dedup_key: \"{{labels.alertname}}\"\n";

static char *ev(const char *name, const char *sev, const char *status)
{
	return cg_h_fmt("{\"status\":\"%s\",\"labels\":{\"alertname\":\"%s\",\"severity\":\"%s\"},"
			"\"annotations\":{\"summary\":\"%s is %s\"}}",
			status, name, sev, name, status);
}

static void post_ok(struct itest *t, const char *src, char *body /* freed */)
{
	char *resp = NULL;
	long st = itest_post(t, src, "tok", body, &resp);
	if (st != 202)
		fprintf(stderr, "got %ld (%s), want 202\n", st, resp ? resp : "");
	free(resp);
	free(body);
	assert_int_equal(st, 202);
}

static int setup(void **state)
{
	struct itest *t = calloc(1, sizeof(*t));
	if (!t || itest_setup(t, "cg-act") != 0)
		return -1;
	if (itest_start_sim(t, NULL) != 0 || itest_write_config(t, NULL, sources) != 0 || itest_start_gw(t) != 0)
		return -1;
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	return itest_state_free(state);
}

/* ---- reading the simulator ---- */

static int has_event(const cJSON *c, const char *prefix)
{
	const cJSON *e;
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(c, "events"))
	{
		if (cJSON_IsString(e) && strncmp(e->valuestring, prefix, strlen(prefix)) == 0)
			return 1;
	}
	return 0;
}

static int count_events(const cJSON *c, const char *prefix)
{
	int n = 0;
	const cJSON *e;
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(c, "events"))
	{
		n += cJSON_IsString(e) && strncmp(e->valuestring, prefix, strlen(prefix)) == 0;
	}
	return n;
}

/* The index-th case (creation order) titled title in a /_sim/cases dump. */
static cJSON *in_dump(const cJSON *all, const char *title, int index)
{
	cJSON *c;
	int i = 0;
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(all, "cases"))
	{
		const char *ti = itest_case_attr(c, "title");
		if (ti && strcmp(ti, title) == 0 && i++ == index)
			return c;
	}
	return NULL;
}

/* The same in a fresh dump; *all freed by the caller. */
static cJSON *nth_case(struct itest *t, const char *title, int index, cJSON **all)
{
	*all = itest_cases(t);
	return in_dump(*all, title, index);
}

struct evwait {
	struct itest *t;
	const char *title;
	int index;
	const char *event; /* prefix */
	int closed;        /* also require the case closed */
};

static int ev_met(void *ud)
{
	struct evwait *w = ud;
	cJSON *all;
	cJSON *c = nth_case(w->t, w->title, w->index, &all);
	int ok = c && (!w->event || has_event(c, w->event)) && (!w->closed || itest_case_closed(c));
	cJSON_Delete(all);
	return ok;
}

static void wait_event(struct itest *t, const char *title, int index, const char *event)
{
	struct evwait w = {t, title, index, event, 0};
	if (!cg_h_poll(ev_met, &w, 15000)) {
		cJSON *all = itest_cases(t);
		char *s = cJSON_Print(all);
		fprintf(stderr, "case '%s' #%d: got no event '%s'; cases:\n%s\n", title, index, event ? event : "-",
			s ? s : "");
		free(s);
		cJSON_Delete(all);
		cg_h_dump_log(&t->gw);
		fail();
	}
}

static char *today_plus(int days)
{
	time_t now = time(NULL) + (time_t)days * 86400;
	struct tm tm;
	gmtime_r(&now, &tm);
	char buf[16];
	strftime(buf, sizeof(buf), "%Y-%m-%d", &tm);
	return cg_h_fmt("due_date:%s", buf);
}

static const char *assignee_of(const cJSON *c)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(c, "relationships"), "assignee"),
			"data"),
		"id");
	return cJSON_IsString(id) ? id->valuestring : NULL;
}

/* ---- tests ---- */

/* A new case: assignee in the create body, watchers, the templated insight, the default due date;
 * the project given by key resolved to its UUID. */
static void test_create_actions(void **state)
{
	struct itest *t = *state;
	post_ok(t, "act", ev("Disk", "warning", "firing"));
	char *due = today_plus(7);
	wait_event(t, "Disk", 0, due);
	cJSON *all;
	cJSON *c = nth_case(t, "Disk", 0, &all);
	assert_non_null(c);
	const char *key = itest_case_attr(c, "key");
	if (!key || strncmp(key, "DEMO-", 5) != 0)
		fprintf(stderr, "case key: got %s, want DEMO-n (project key DEMO)\n", key ? key : "(none)");
	assert_true(key && strncmp(key, "DEMO-", 5) == 0);
	const char *as = assignee_of(c);
	if (!as || strcmp(as, ASSIGNEE) != 0)
		fprintf(stderr, "assignee: got %s, want %s\n", as ? as : "(none)", ASSIGNEE);
	assert_true(as && strcmp(as, ASSIGNEE) == 0);
	assert_true(has_event(c, "watch:" WATCHER1));
	assert_true(has_event(c, "watch:" WATCHER2));
	assert_true(has_event(c, "insight:EVENT:Disk"));
	assert_false(has_event(c, "jira"));
	assert_false(has_event(c, "link:"));
	free(due);
	cJSON_Delete(all);
}

/* P3 -> P2: the Jira issue; P2 -> P1: the P1 assignee, the tighter due date, ServiceNow and the
 * notebook, and no second Jira issue (once per case). */
static void test_escalation_actions(void **state)
{
	struct itest *t = *state;
	post_ok(t, "act", ev("Cpu", "warning", "firing"));
	wait_event(t, "Cpu", 0, "watch:" WATCHER2);
	post_ok(t, "act", ev("Cpu", "error", "firing"));
	wait_event(t, "Cpu", 0, "jira:");
	post_ok(t, "act", ev("Cpu", "critical", "firing"));
	wait_event(t, "Cpu", 0, "notebook");
	char *due = today_plus(1);
	wait_event(t, "Cpu", 0, due);
	cJSON *all;
	cJSON *c = nth_case(t, "Cpu", 0, &all);
	assert_non_null(c);
	assert_true(has_event(c, "assign:" ASSIGNEE_P1));
	assert_true(has_event(c, "servicenow:acme"));
	int njira = count_events(c, "jira:");
	if (njira != 1)
		fprintf(stderr, "Jira issues: got %d, want 1 (once per case)\n", njira);
	assert_int_equal(njira, 1);
	assert_string_equal(itest_case_attr(c, "priority"), "P1");
	free(due);
	cJSON_Delete(all);
}

/* After the reopen window, a new case follows the old one (SUCCESSOR_OF). */
static void test_link_previous(void **state)
{
	struct itest *t = *state;
	post_ok(t, "act", ev("Net", "warning", "firing"));
	wait_event(t, "Net", 0, "watch:" WATCHER2);
	post_ok(t, "act", ev("Net", "warning", "resolved"));
	struct evwait w = {t, "Net", 0, NULL, 1};
	assert_true(cg_h_poll(ev_met, &w, 15000));
	post_ok(t, "act", ev("Net", "warning", "firing"));
	wait_event(t, "Net", 1, "link:SUCCESSOR_OF:child:");
	cJSON *all = itest_cases(t);
	cJSON *old = in_dump(all, "Net", 0), *neu = in_dump(all, "Net", 1);
	assert_non_null(old);
	assert_non_null(neu);
	const char *old_id = cJSON_GetObjectItemCaseSensitive(old, "id")->valuestring;
	char *want = cg_h_fmt("link:SUCCESSOR_OF:child:%s", old_id);
	if (!has_event(neu, want))
		fprintf(stderr, "new case: want event %s\n", want);
	assert_true(has_event(neu, want));
	free(want);
	cJSON_Delete(all);
}

/* A case closed longer than archive_after (2 s; the sweep runs every 500 ms) is archived; an open
 * one is not. */
static void test_archive(void **state)
{
	struct itest *t = *state;
	post_ok(t, "act", ev("Tmp", "warning", "firing"));
	post_ok(t, "act", ev("Keep", "warning", "firing"));
	wait_event(t, "Tmp", 0, "watch:" WATCHER2);
	post_ok(t, "act", ev("Tmp", "warning", "resolved"));
	wait_event(t, "Tmp", 0, "archive");
	cJSON *all = itest_cases(t);
	cJSON *c = in_dump(all, "Tmp", 0);
	assert_true(itest_case_closed(c));
	assert_non_null(itest_case_attr(c, "archived_at"));
	assert_int_equal(count_events(c, "archive"), 1);
	assert_false(has_event(in_dump(all, "Keep", 0), "archive"));
	cJSON_Delete(all);
}

static char *am_group_sev(const char *name, int n, const char *status, const char *sev)
{
	char *alerts = cg_h_fmt("%s", "");
	for (int i = 0; i < n; i++) {
		char *next = cg_h_fmt("%s%s{\"status\":\"%s\",\"labels\":{\"alertname\":\"%s\",\"shard\":\"s%d\","
				      "\"severity\":\"%s\"},\"annotations\":{\"summary\":\"shard %d\"},"
				      "\"startsAt\":\"2024-05-01T10:00:00Z\",\"fingerprint\":\"%s%04d\"}",
				      alerts, i ? "," : "", status, name, i, sev, i, name, i);
		free(alerts);
		alerts = next;
	}
	char *doc = cg_h_fmt("{\"version\":\"4\",\"groupKey\":\"{}:{alertname=\\\"%s\\\"}\",\"status\":\"%s\","
			     "\"receiver\":\"casegate\",\"groupLabels\":{\"alertname\":\"%s\"},\"commonLabels\":{},"
			     "\"commonAnnotations\":{},\"externalURL\":\"http://am.example.com\",\"alerts\":[%s]}",
			     name, status, name, alerts);
	free(alerts);
	return doc;
}

static char *am_group(const char *name, int n, const char *status)
{
	return am_group_sev(name, n, status, "warning");
}

struct closed_wait {
	struct itest *t;
	const char *needle;
	int want;
};

static int n_closed(struct itest *t, const char *needle, int *total)
{
	cJSON *all = itest_cases(t);
	int n = 0, tot = 0;
	const cJSON *c;
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(all, "cases"))
	{
		const char *ti = itest_case_attr(c, "title");
		if (ti && strstr(ti, needle)) {
			tot++;
			n += itest_case_closed(c);
		}
	}
	cJSON_Delete(all);
	if (total)
		*total = tot;
	return n;
}

static int all_closed(void *ud)
{
	struct closed_wait *w = ud;
	int total;
	return n_closed(w->t, w->needle, &total) == w->want && total == w->want;
}


static double sim_op_count(struct itest *t, const char *op)
{
	char url[128];
	snprintf(url, sizeof(url), "%s/_sim/stats", t->sim_url);
	cJSON *st = cg_h_get_json(url);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(st, "by_operation"), op);
	double d = cJSON_IsNumber(v) ? v->valuedouble : 0;
	cJSON_Delete(st);
	return d;
}

/* n cases titled needle, all at priority prio. */
struct prio_wait {
	struct itest *t;
	const char *needle;
	int want;
	const char *prio;
};

static int all_at_prio(void *ud)
{
	struct prio_wait *w = ud;
	cJSON *all = itest_cases(w->t);
	int n = 0;
	const cJSON *c;
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(all, "cases"))
	{
		const char *ti = itest_case_attr(c, "title"), *p = itest_case_attr(c, "priority");
		n += ti && strstr(ti, w->needle) && p && strcmp(p, w->prio) == 0;
	}
	cJSON_Delete(all);
	return n == w->want;
}

/* Escalate a group of n alerts (warning -> critical) on a source and wait until every case is P1. */
static void escalate_group_on(struct itest *t, const char *src, const char *name, int n)
{
	post_ok(t, src, am_group_sev(name, n, "firing", "warning"));
	struct prio_wait p3 = {t, name, n, "P3"};
	assert_true(cg_h_poll(all_at_prio, &p3, 15000));
	post_ok(t, src, am_group_sev(name, n, "firing", "critical"));
	struct prio_wait p1 = {t, name, n, "P1"};
	if (!cg_h_poll(all_at_prio, &p1, 15000)) {
		cg_h_dump_log(&t->gw);
		fail();
	}
}

static void escalate_group(struct itest *t, const char *name, int n)
{
	escalate_group_on(t, "am", name, n);
}

/* Without `actions.bulk` (a preview endpoint: off unless asked for) the same escalation of many
 * cases goes as single priority requests, never POST /cases/bulk. Runs before test_bulk_priority,
 * whose refusal would turn bulk off for the daemon's lifetime anyway. */
static void test_bulk_off_by_default(void **state)
{
	struct itest *t = *state;
	double bulk_before = sim_op_count(t, "BulkUpdateCases"), prio_before = sim_op_count(t, "UpdatePriority");
	escalate_group_on(t, "am-plain", "Disks", 5);
	double bulk = sim_op_count(t, "BulkUpdateCases") - bulk_before;
	double singles = sim_op_count(t, "UpdatePriority") - prio_before;
	if (bulk != 0 || singles != 5)
		fprintf(stderr, "without actions.bulk: got %.0f bulk and %.0f single priority changes, want 0 and 5\n",
			bulk, singles);
	assert_true(bulk == 0);
	assert_true(singles == 5);
}

/* `actions.bulk` (opt-in): one escalation of many cases is one bulk priority request; closes always
 * go one by one (a bulk status change is undocumented); a refused bulk request is remembered. */
static void test_bulk_priority(void **state)
{
	struct itest *t = *state;
	double status_before = sim_op_count(t, "UpdateStatus"), prio_before = sim_op_count(t, "UpdatePriority");
	escalate_group(t, "Shards", 6);
	double bulk = sim_op_count(t, "BulkUpdateCases"), singles = sim_op_count(t, "UpdatePriority") - prio_before;
	if (bulk < 1 || bulk > 3 || singles != 0)
		fprintf(stderr, "bulk requests: got %.0f (single priority changes %.0f), want 1..3 bulk and no singles\n",
			bulk, singles);
	assert_true(bulk >= 1 && bulk <= 3);
	assert_true(singles == 0);
	post_ok(t, "am", am_group("Shards", 6, "resolved"));
	struct closed_wait w = {t, "Shards", 6};
	if (!cg_h_poll(all_closed, &w, 15000)) {
		cg_h_dump_log(&t->gw);
		fail();
	}
	double closes = sim_op_count(t, "UpdateStatus") - status_before;
	if (closes != 6 || sim_op_count(t, "BulkUpdateCases") != bulk)
		fprintf(stderr, "closes: got %.0f single (bulk %.0f -> %.0f), want 6 single and no bulk\n", closes, bulk,
			sim_op_count(t, "BulkUpdateCases"));
	assert_true(closes == 6);
	assert_true(sim_op_count(t, "BulkUpdateCases") == bulk);

	/* Refused: the same changes go one by one, and bulk is not tried again. */
	char url[128];
	snprintf(url, sizeof(url), "%s/_sim/bulk", t->sim_url);
	struct cg_h_resp r;
	assert_int_equal(cg_h_http("POST", url, NULL, "{\"refuse\":true}", 15, &r), 0);
	cg_h_resp_free(&r);
	prio_before = sim_op_count(t, "UpdatePriority");
	escalate_group(t, "Racks", 4);
	double bulk2 = sim_op_count(t, "BulkUpdateCases");
	double singles2 = sim_op_count(t, "UpdatePriority") - prio_before;
	if (singles2 != 4 || bulk2 < bulk + 1)
		fprintf(stderr, "after refusal: got %.0f single changes, bulk %.0f -> %.0f; want 4 and one refused\n",
			singles2, bulk, bulk2);
	assert_true(singles2 == 4);
	assert_true(bulk2 >= bulk + 1);
	escalate_group(t, "Pods", 3);
	if (sim_op_count(t, "BulkUpdateCases") != bulk2)
		fprintf(stderr, "bulk after a refusal: got %.0f requests, want %.0f (remembered)\n",
			sim_op_count(t, "BulkUpdateCases"), bulk2);
	assert_true(sim_op_count(t, "BulkUpdateCases") == bulk2);
	assert_int_equal(cg_h_http("POST", url, NULL, "{\"refuse\":false}", 16, &r), 0);
	cg_h_resp_free(&r);
}

static int monitor_insight(void *ud)
{
	cJSON *all = itest_cases(ud);
	int found = 0;
	const cJSON *c;
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(all, "cases"))
	{
		found |= has_event(c, "insight:MONITOR:987654");
	}
	cJSON_Delete(all);
	return found;
}

/* A Datadog monitor alert attaches its monitor as a MONITOR insight without any configuration. */
static void test_monitor_insight(void **state)
{
	struct itest *t = *state;
	char *path = cg_h_fmt("%s/tests/fixtures/datadog/triggered.json", cg_h_source_dir());
	char *body = cg_h_read_file(path, NULL);
	free(path);
	assert_non_null(body);
	post_ok(t, "dd", body);
	if (!cg_h_poll(monitor_insight, t, 15000)) {
		fprintf(stderr, "no case got the MONITOR insight 987654\n");
		cg_h_dump_log(&t->gw);
		fail();
	}
}

/* A project key Datadog does not know: a clear error, and no case. */
static void test_unknown_project_key(void **state)
{
	struct itest *t = *state;
	post_ok(t, "unk", ev("Orphan", "warning", "firing"));
	/* The startup error names the source; the event waits and says why. */
	if (!cg_h_wait_log(&t->gw, "source 'unk': project key 'NOPE' is unknown", 10000) ||
	    !cg_h_wait_log(&t->gw, "key=unk:Orphan retry in", 10000)) {
		cg_h_dump_log(&t->gw);
		fail();
	}
	cJSON *all;
	assert_null(nth_case(t, "Orphan", 0, &all));
	cJSON_Delete(all);
}

/* Every request casegate sent fits the OpenAPI contract where it has the path. */
static void test_contract(void **state)
{
	struct itest *t = *state;
	char *log = cg_h_fmt("%s/%s", t->dir, CG_H_SIM_REQUEST_LOG);
	const char *args[] = {"--skip-4xx", "--quiet", NULL};
	int rc = cg_h_validate_contract_args(log, args);
	free(log);
	if (rc == 77)
		cg_h_skip(NULL, "contract validator skipped (line above)");
	if (rc != 0)
		fprintf(stderr, "contract validation: got %d, want 0\n", rc);
	assert_int_equal(rc, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_actions),  cmocka_unit_test(test_escalation_actions),
		cmocka_unit_test(test_link_previous), cmocka_unit_test(test_archive),
		cmocka_unit_test(test_bulk_off_by_default),
		cmocka_unit_test(test_bulk_priority),
		cmocka_unit_test(test_monitor_insight),	    cmocka_unit_test(test_unknown_project_key),
		cmocka_unit_test(test_contract),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
