/* test_storm_daemon.c: an alert storm through the running daemon: at most max_new_cases + 1 cases, every alert named, repeats and escalations on the storm case, closed when all resolved. */
/* labels: integration */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "itest.h"
#include "sbuf.h"

#define PROJECT "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n    case_type: 00000000-0000-0000-0000-000000000001\n"

static const char *am_src = "  - name: am\n"
			    "    type: alertmanager\n"
			    "    auth: { bearer: tok }\n" PROJECT
			    "    storm: { max_new_cases: 3, per: 1m, digest_interval: 1s }\n";

#define STORM_TITLE "Alert storm on am: "

static int setup(void **state)
{
	return itest_state_with_sim(state, "cg-storm");
}

static int teardown(void **state)
{
	return itest_state_free(state);
}

/* An Alertmanager notification of alerts host<from>..host<to-1> (DiskFull), all in status. */
static char *notification(int from, int to, const char *status, const char *severity)
{
	struct cg_sbuf b = {0};
	cg_sbuf_addf(&b, "{\"version\":\"4\",\"status\":\"%s\",\"receiver\":\"casegate\",\"groupKey\":\"{}:{}\","
		     "\"alerts\":[", status);
	for (int i = from; i < to; i++)
		cg_sbuf_addf(&b,
			     "%s{\"status\":\"%s\",\"labels\":{\"alertname\":\"DiskFull\",\"instance\":\"host%02d\","
			     "\"severity\":\"%s\"},\"annotations\":{\"summary\":\"disk full on host%02d\"},"
			     "\"startsAt\":\"2026-12-06T10:00:00Z\",\"endsAt\":\"%s\",\"fingerprint\":\"f%02d\"}",
			     i > from ? "," : "", status, i, severity, i,
			     strcmp(status, "resolved") == 0 ? "2026-12-06T10:05:00Z" : "0001-01-01T00:00:00Z", i);
	cg_sbuf_add(&b, "]}");
	return cg_sbuf_take(&b);
}

static void post(struct itest *t, int from, int to, const char *status, const char *severity)
{
	char *body = notification(from, to, status, severity), *resp = NULL;
	long st = itest_post(t, "am", "tok", body, &resp);
	if (st != 202)
		fail_msg("POST /hooks/am: got %ld %s, want 202", st, resp ? resp : "");
	free(resp);
	free(body);
}

/* A case mentions an alert in its description or a comment. */
static int case_names(const cJSON *c, const char *needle)
{
	const char *d = itest_case_attr(c, "description");
	return (d && strstr(d, needle)) || itest_case_has_comment(c, needle);
}

struct storm_wait {
	struct itest *t;
	const char *needle;   /* the storm case must name this (NULL: it exists) */
	const char *priority; /* and have this priority (NULL: any) */
	int closed;           /* -1 either, 0 open, 1 closed */
};

static int storm_case_is(void *ud)
{
	struct storm_wait *w = ud;
	cJSON *all = itest_cases(w->t);
	const cJSON *c = itest_find_case(all, STORM_TITLE);
	const char *p = c ? itest_case_attr(c, "priority") : NULL;
	int ok = c && (!w->needle || case_names(c, w->needle)) && (!w->priority || (p && strcmp(p, w->priority) == 0)) &&
		 (w->closed < 0 || itest_case_closed(c) == w->closed);
	cJSON_Delete(all);
	return ok;
}

static void wait_storm(struct itest *t, const char *needle, const char *priority, int closed, const char *what)
{
	struct storm_wait w = {t, needle, priority, closed};
	if (!cg_h_poll(storm_case_is, &w, 20000)) {
		cg_h_dump_log(&t->gw);
		fail_msg("storm case: %s not seen within 20 s", what);
	}
}

struct all_closed {
	struct itest *t;
	int want;
};

static int cases_closed(void *ud)
{
	struct all_closed *w = ud;
	cJSON *all = itest_cases(w->t);
	int n = 0;
	const cJSON *c;
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(all, "cases")) n += itest_case_closed(c);
	cJSON_Delete(all);
	return n >= w->want;
}

static int metric_zero(void *ud)
{
	struct itest_metric_wait *w = ud;
	return itest_metric(w->t, w->name, w->labels) == 0;
}

static void t_storm(void **state)
{
	struct itest *t = *state;
	if (itest_write_config(t, NULL, am_src) != 0 || itest_start_gw(t) != 0)
		fail_msg("casegate did not start");
	/* Twenty new alerts in two notifications: three cases of their own, then one storm case. */
	post(t, 0, 10, "firing", "warning");
	wait_storm(t, "host09", NULL, 0, "naming host09 (first notification)");
	post(t, 10, 20, "firing", "warning");
	/* The second notification's alerts are named by the next digest, a second later. */
	wait_storm(t, "host19", NULL, 0, "a digest naming host19");
	cJSON *all = itest_cases(t);
	int n = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(all, "cases"));
	if (n != 4)
		fail_msg("a storm of 20 new alerts with max_new_cases 3: got %d cases, want 4", n);
	for (int i = 0; i < 20; i++) {
		char host[16];
		snprintf(host, sizeof(host), "host%02d", i);
		int named = 0;
		const cJSON *c;
		cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(all, "cases")) named += case_names(c, host);
		if (named == 0)
			fail_msg("%s is named in no case", host);
	}
	const cJSON *sc = itest_find_case(all, STORM_TITLE);
	if (!sc || strcmp(itest_case_attr(sc, "priority"), "P3") != 0)
		fail_msg("the storm case: want it at the alerts' P3");
	cJSON_Delete(all);
	if (itest_metric(t, "casegate_storm_alerts_folded_total", "source=\"am\"") != 17)
		fail_msg("casegate_storm_alerts_folded_total: got %g, want 17",
			 itest_metric(t, "casegate_storm_alerts_folded_total", "source=\"am\""));
	struct itest_metric_wait mw = {t, "casegate_storm_active", "source=\"am\"", 1};
	if (!cg_h_poll(itest_metric_reached, &mw, 5000))
		fail_msg("casegate_storm_active{source=\"am\"}: got %g, want 1", itest_metric(t, mw.name, mw.labels));
	struct cg_h_cli st = cg_h_cli_run(t->dir, NULL, (const char *const[]){"status", "-c", t->cfg_path, NULL});
	cg_h_cli_expect_code(&st, 0, "casegate status");
	cg_h_expect_has(st.out, "storm:         am: case ", "casegate status during the storm");
	cg_h_expect_has(st.out, "17 alert(s) folded, 17 still firing", "casegate status during the storm");
	cg_h_cli_free(&st);

	/* Repeats of folded alerts add nothing; one turning critical raises the storm case to P1. */
	post(t, 10, 20, "firing", "warning");
	post(t, 15, 16, "firing", "critical");
	wait_storm(t, "host15", "P1", 0, "raised to P1 by host15");
	if (itest_ncases(t) != 4)
		fail_msg("repeats and an escalation opened cases: got %d, want 4", itest_ncases(t));

	/* Everything resolves: the storm case closes with the rest, and no case is added. */
	post(t, 0, 20, "resolved", "warning");
	wait_storm(t, "resolved", NULL, 1, "closed after every alert resolved");
	struct all_closed ac = {t, 4};
	if (!cg_h_poll(cases_closed, &ac, 20000))
		fail_msg("not every case closed after the resolutions");
	if (itest_ncases(t) != 4)
		fail_msg("after the resolutions: got %d cases, want 4", itest_ncases(t));
	if (!cg_h_poll(metric_zero, &mw, 5000))
		fail_msg("casegate_storm_active{source=\"am\"} after the storm: got %g, want 0",
			 itest_metric(t, mw.name, mw.labels));
	struct cg_h_cli st2 = cg_h_cli_run(t->dir, NULL, (const char *const[]){"status", "-c", t->cfg_path, NULL});
	cg_h_cli_expect_code(&st2, 0, "casegate status");
	cg_h_expect_not(st2.out, "storm:", "casegate status after the storm");
	cg_h_cli_free(&st2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(t_storm, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
