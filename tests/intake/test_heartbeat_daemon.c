/* test_heartbeat_daemon.c: a source's heartbeat in the running daemon: silence opens one case, traffic closes it, a restart keeps it, a Watchdog alert counts and opens none. */
/* labels: integration */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "itest.h"

#define PROJECT "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n    case_type: 00000000-0000-0000-0000-000000000001\n"

/* Source templates of its own: the heartbeat case must not be drawn through them. */
static const char *generic_src = "  - name: hb\n"
				 "    type: generic\n"
				 "    auth: { bearer: tok }\n" PROJECT
				 "    title: \"{{labels.alertname}} alert\"\n"
				 "    dedup_key: \"{{labels.alertname}}\"\n"
				 "    heartbeat: { every: 1s, grace: 1s, priority: P3 }\n";

static const char *am_src = "  - name: am\n"
			    "    type: alertmanager\n"
			    "    auth: { bearer: tok }\n" PROJECT
			    "    heartbeat: { every: 1s, grace: 1s, priority: P4, alert: Watchdog }\n";

#define HB_TITLE "casegate: source 'hb' went silent"
#define AM_TITLE "casegate: source 'am' went silent"

static int setup(void **state)
{
	return itest_state_with_sim(state, "cg-hb");
}

static int teardown(void **state)
{
	return itest_state_free(state);
}

static void start(struct itest *t, const char *sources)
{
	if (itest_write_config(t, NULL, sources) != 0 || itest_start_gw(t) != 0)
		fail_msg("casegate did not start");
}

static void post_ok(struct itest *t, const char *src, const char *body, const char *want_in_answer)
{
	char *resp = NULL;
	long st = itest_post(t, src, "tok", body, &resp);
	if (st != 202 || (want_in_answer && (!resp || !strstr(resp, want_in_answer))))
		fail_msg("POST /hooks/%s: got %ld %s, want 202 with %s", src, st, resp ? resp : "",
			 want_in_answer ? want_in_answer : "anything");
	free(resp);
}

/* Lines of the daemon's current log that contain needle. */
static int log_count(struct itest *t, const char *needle)
{
	char *text = cg_h_read_file(t->gw.log_path, NULL);
	int n = 0;
	for (const char *p = text; p && (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	free(text);
	return n;
}

struct titled {
	struct itest *t;
	const char *title;
	int closed; /* 1: wait for it closed, 0: open, -1: either */
};

static int titled_in_state(void *ud)
{
	struct titled *w = ud;
	cJSON *all = itest_cases(w->t);
	cJSON *c = itest_find_case(all, w->title);
	int ok = c && (w->closed < 0 || itest_case_closed(c) == w->closed);
	cJSON_Delete(all);
	return ok;
}

static void wait_case(struct itest *t, const char *title, int closed, unsigned ms)
{
	struct titled w = {t, title, closed};
	if (!cg_h_poll(titled_in_state, &w, ms)) {
		cg_h_dump_log(&t->gw);
		fail_msg("case '%s': not %s within %u ms", title, closed < 0 ? "there" : closed ? "closed" : "open", ms);
	}
}

/* Waits until wall-clock time has passed ms more: silence that would raise a second event. */
static void let_time_pass(unsigned ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t until = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + ms;
	cg_h_poll(itest_wall_past, &until, ms + 1000);
}

static void wait_metric(struct itest *t, const char *name, const char *labels, double want)
{
	struct itest_metric_wait w = {t, name, labels, want};
	if (!cg_h_poll(itest_metric_reached, &w, 10000))
		fail_msg("%s{%s}: got %g, want >= %g", name, labels, itest_metric(t, name, labels), want);
}

static int metric_zero(void *ud)
{
	struct itest_metric_wait *w = ud;
	return itest_metric(w->t, w->name, w->labels) == 0;
}

static const char *alert_body = "{\"labels\":{\"alertname\":\"Disk\"},\"annotations\":{\"summary\":\"disk full\"}}";

static void t_silence_then_traffic(void **state)
{
	struct itest *t = *state;
	start(t, generic_src);
	post_ok(t, "hb", alert_body, NULL);
	wait_case(t, HB_TITLE, 0, 20000);
	cJSON *all = itest_cases(t);
	cJSON *c = itest_find_case(all, HB_TITLE);
	const char *prio = itest_case_attr(c, "priority"), *desc = itest_case_attr(c, "description");
	if (!prio || strcmp(prio, "P3") != 0)
		fail_msg("silent case priority: got %s, want P3 (heartbeat.priority)", prio ? prio : "(none)");
	if (!desc || !strstr(desc, "heard nothing from source") || !strstr(desc, "every 1s") || !strstr(desc, "1s more"))
		fail_msg("silent case description: got %s, want when it was last heard, every and grace",
			 desc ? desc : "(none)");
	cJSON_Delete(all);
	wait_metric(t, "casegate_source_silent", "source=\"hb\"", 1);
	/* Silence goes on: still one case, one event. */
	let_time_pass(3500);
	if (itest_count_titled(t, HB_TITLE) != 1 || log_count(t, "source went silent") != 1)
		fail_msg("after more silence: got %d silent cases and %d raise events, want 1 and 1",
			 itest_count_titled(t, HB_TITLE), log_count(t, "source went silent"));
	if (itest_metric(t, "casegate_source_last_heard_timestamp_seconds", "source=\"hb\"") < 1.7e9)
		fail_msg("casegate_source_last_heard_timestamp_seconds: got %g, want the time of the webhook",
			 itest_metric(t, "casegate_source_last_heard_timestamp_seconds", "source=\"hb\""));
	/* `casegate status` names the silent source. */
	struct cg_h_cli st = cg_h_cli_run(t->dir, NULL, (const char *const[]){"status", "-c", t->cfg_path, NULL});
	cg_h_cli_expect_code(&st, 0, "casegate status");
	cg_h_expect_has(st.out, "silent:        hb: last heard ", "casegate status while hb is silent");
	cg_h_cli_free(&st);
	/* Traffic returns: the case closes (on_resolve comment_and_close). */
	post_ok(t, "hb", alert_body, NULL);
	wait_case(t, HB_TITLE, 1, 20000);
	struct itest_metric_wait z = {t, "casegate_source_silent", "source=\"hb\"", 0};
	if (!cg_h_poll(metric_zero, &z, 10000))
		fail_msg("casegate_source_silent{source=\"hb\"}: got %g after traffic, want 0",
			 itest_metric(t, "casegate_source_silent", "source=\"hb\""));
	if (log_count(t, "source heard again") != 1 || itest_count_titled(t, HB_TITLE) != 1)
		fail_msg("resolve: got %d resolve events, %d silent cases; want 1, 1", log_count(t, "source heard again"),
			 itest_count_titled(t, HB_TITLE));
	/* The alert itself made its own case through the source's templates. */
	if (itest_count_titled(t, "Disk alert") != 1)
		fail_msg("cases titled 'Disk alert': got %d, want 1", itest_count_titled(t, "Disk alert"));
}

/* A sender never heard is caught too, and a restart while it is silent raises nothing more. */
static void t_restart_while_silent(void **state)
{
	struct itest *t = *state;
	start(t, generic_src);
	wait_case(t, HB_TITLE, 0, 20000);
	cJSON *all = itest_cases(t);
	const char *desc = itest_case_attr(itest_find_case(all, HB_TITLE), "description");
	if (!desc || !strstr(desc, "never since the heartbeat was configured"))
		fail_msg("never-heard description: got %s", desc ? desc : "(none)");
	cJSON_Delete(all);
	if (itest_stop_gw(t, SIGTERM) != 0)
		fail_msg("casegate did not stop cleanly");
	if (itest_start_gw(t) != 0)
		fail_msg("casegate did not start again");
	/* The new process read the heartbeat (raised) from the store... */
	wait_metric(t, "casegate_source_silent", "source=\"hb\"", 1);
	/* ...and, however long the silence goes on, raises it no second time. */
	let_time_pass(3500);
	if (itest_count_titled(t, HB_TITLE) != 1 || log_count(t, "source went silent") != 0)
		fail_msg("after a restart while silent: got %d silent cases and %d new raise events, want 1 and 0",
			 itest_count_titled(t, HB_TITLE), log_count(t, "source went silent"));
	post_ok(t, "hb", alert_body, NULL);
	wait_case(t, HB_TITLE, 1, 20000);
}

static char *am_payload(const char *alertname, const char *status, const char *fp)
{
	return cg_h_fmt("{\"version\":\"4\",\"groupKey\":\"{}:{alertname=\\\"%s\\\"}\",\"status\":\"%s\","
			"\"receiver\":\"casegate\",\"groupLabels\":{},\"commonLabels\":{},\"commonAnnotations\":{},"
			"\"externalURL\":\"http://am:9093\",\"alerts\":[{\"status\":\"%s\",\"labels\":{\"alertname\":"
			"\"%s\",\"severity\":\"warning\"},\"annotations\":{\"summary\":\"%s is %s\"},"
			"\"startsAt\":\"2024-05-01T10:00:00Z\",\"endsAt\":\"0001-01-01T00:00:00Z\",\"fingerprint\":\"%s\"}]}",
			alertname, status, status, alertname, alertname, status, fp);
}

struct busy_wait {
	struct itest *t;
	char *body;
	struct timespec last;
	int posts;
};

/* Other alerts keep coming while we wait for the silent case: they must not count. */
static int silent_despite_traffic(void *ud)
{
	struct busy_wait *w = ud;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	double since = (double)(now.tv_sec - w->last.tv_sec) + (double)(now.tv_nsec - w->last.tv_nsec) / 1e9;
	if (w->posts == 0 || since > 0.3) {
		post_ok(w->t, "am", w->body, "\"accepted\":1");
		w->posts++;
		w->last = now;
	}
	return itest_count_titled(w->t, AM_TITLE) >= 1;
}

static void t_watchdog_alert(void **state)
{
	struct itest *t = *state;
	start(t, am_src);
	char *wd = am_payload("Watchdog", "firing", "wd01");
	/* Only the heartbeat alert: accepted, and no case of its own. */
	post_ok(t, "am", wd, "\"accepted\":0");
	post_ok(t, "am", wd, "\"heartbeats\":1");
	struct busy_wait w = {.t = t, .body = am_payload("HighCPU", "firing", "cpu01")};
	if (!cg_h_poll(silent_despite_traffic, &w, 20000))
		fail_msg("no silent case while only other alerts came (%d posts)", w.posts);
	if (w.posts < 4)
		fail_msg("other alerts posted while waiting: got %d, want >= 4 (they must not count as heartbeats)", w.posts);
	cJSON *all = itest_cases(t);
	const char *prio = itest_case_attr(itest_find_case(all, AM_TITLE), "priority");
	if (!prio || strcmp(prio, "P4") != 0)
		fail_msg("silent case priority: got %s, want P4", prio ? prio : "(none)");
	const char *desc = itest_case_attr(itest_find_case(all, AM_TITLE), "description");
	if (!desc || !strstr(desc, "no firing `Watchdog` alert"))
		fail_msg("watchdog description: got %s", desc ? desc : "(none)");
	cJSON_Delete(all);
	/* The Watchdog fires again: the silent case closes; it never had a case of its own. */
	post_ok(t, "am", wd, "\"heartbeats\":1");
	wait_case(t, AM_TITLE, 1, 20000);
	all = itest_cases(t);
	int n = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(all, "cases"));
	cJSON *c;
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(all, "cases"))
	{
		const char *ti = itest_case_attr(c, "title");
		if (ti && strstr(ti, "Watchdog"))
			fail_msg("a case for the heartbeat alert itself: '%s'", ti);
	}
	cJSON_Delete(all);
	if (n != 2)
		fail_msg("cases: got %d, want 2 (HighCPU and the silent source)", n);
	free(w.body);
	free(wd);
}

/* An e-mail source: every alert mail counts (here through `casegate mail`, the path LMTP shares). */
static void t_email_source(void **state)
{
	struct itest *t = *state;
	start(t, "  - name: mon\n"
		 "    type: email\n"
		 "    rules: {base: nagios, alert_senders: ['nagios@mon.example.com']}\n" PROJECT
		 "    heartbeat: { every: 1s, grace: 1s }\n");
	wait_case(t, "casegate: source 'mon' went silent", 0, 20000);
	char bin[512], log[600], eml[600];
	snprintf(bin, sizeof(bin), "%s/casegate", cg_h_binary_dir());
	snprintf(log, sizeof(log), "%s/pipe.log", t->dir);
	snprintf(eml, sizeof(eml), "%s/tests/fixtures/email/nagios_problem.eml", cg_h_source_dir());
	char *const argv[] = {bin, "mail", "-c", t->cfg_path, "--source", "mon", NULL};
	if (cg_h_run_cmd(argv, log, eml) != 0)
		fail_msg("casegate mail: failed (log %s)", log);
	wait_case(t, "casegate: source 'mon' went silent", 1, 20000);
	wait_case(t, "Service Alert: web1/HTTP", 0, 20000);
}

/* A heartbeat added by a reload: watched from the reload on. */
static void t_added_by_reload(void **state)
{
	struct itest *t = *state;
	start(t, "  - name: hb\n    type: generic\n    auth: { bearer: tok }\n" PROJECT);
	if (itest_write_config(t, NULL, generic_src) != 0 || kill(t->gw.pid, SIGHUP) != 0)
		fail_msg("could not rewrite the config and signal casegate");
	wait_case(t, HB_TITLE, 0, 20000);
	if (log_count(t, "configuration reloaded") != 1)
		fail_msg("reload: got %d 'configuration reloaded' lines, want 1", log_count(t, "configuration reloaded"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(t_silence_then_traffic, setup, teardown),
		cmocka_unit_test_setup_teardown(t_restart_while_silent, setup, teardown),
		cmocka_unit_test_setup_teardown(t_watchdog_alert, setup, teardown),
		cmocka_unit_test_setup_teardown(t_email_source, setup, teardown),
		cmocka_unit_test_setup_teardown(t_added_by_reload, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
