/* test_webhook_sources_saas.c: the Grafana, New Relic, Zabbix, Uptime Kuma and Kibana webhooks through a running daemon: 202, a case with the title and priority the mapper promises, resolutions close it. */
/* labels: integration */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "itest.h"

/* A real payload of the source (tests/fixtures/<type>/<fixture>.json) and the cases it must open. */
struct saas_case {
	const char *type, *fixture;
	long status;
	const char *titles[2], *priorities[2]; /* the cases it opens (NULL: none) */
};

static const struct saas_case firing[] = {
    {"grafana", "firing_two", 202, {"High memory: memory at 95%", "High CPU: cpu at 99%"}, {"P2", "P1"}},
    {"newrelic", "activated", 202, {"checkout-api query result is > 2.0 for 5 minutes on 'Error rate'"}, {"P2"}},
    {"zabbix", "problem", 202, {"High CPU utilization (over 90% for 5m) on web-01"}, {"P2"}},
    {"uptimekuma", "down", 202, {"Shop frontend is down"}, {"P2"}},
    {"kibana", "threshold_met", 202, {"Checkout error rate: checkout-api"}, {"P2"}},
    /* Not alerts: understood, nothing opened. */
    {"uptimekuma", "test_notification", 200, {NULL}, {NULL}},
    {"kibana", "connector_test", 200, {NULL}, {NULL}},
};

/* Resolutions of the same alerts: the case each names must close. */
static const struct saas_case resolving[] = {
    {"newrelic", "closed", 202, {"checkout-api query result is > 2.0 for 5 minutes on 'Error rate'"}, {NULL}},
    {"zabbix", "recovery", 202, {"High CPU utilization (over 90% for 5m) on web-01"}, {NULL}},
    {"uptimekuma", "up", 202, {"Shop frontend is down"}, {NULL}},
    {"kibana", "recovered", 202, {"Checkout error rate: checkout-api"}, {NULL}},
};

static const char *const types[] = {"grafana", "newrelic", "zabbix", "uptimekuma", "kibana"};

static long post_fixture(struct itest *t, const struct saas_case *c, char **resp)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/tests/fixtures/%s/%s.json", cg_h_source_dir(), c->type, c->fixture);
	char *body = cg_h_read_file(path, NULL);
	if (!body)
		fail_msg("%s: got no file, want a fixture", path);
	long st = itest_post(t, c->type, "saas-token", body, resp);
	free(body);
	return st;
}

static void post_all(struct itest *t, const struct saas_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char *resp = NULL;
		long st = post_fixture(t, &cases[i], &resp);
		if (st != cases[i].status)
			fail_msg("%s/%s: got HTTP %ld (%s), want %ld", cases[i].type, cases[i].fixture, st,
				 resp ? resp : "", cases[i].status);
		if (st == 202 && (!resp || !strstr(resp, "\"accepted\"")))
			fail_msg("%s/%s: got 202 with body %s, want {\"accepted\":N,...}", cases[i].type, cases[i].fixture,
				 resp ? resp : "(none)");
		if (st == 200 && (!resp || !strstr(resp, "\"ignored\"")))
			fail_msg("%s/%s: got 200 with body %s, want status ignored", cases[i].type, cases[i].fixture,
				 resp ? resp : "(none)");
		free(resp);
	}
}

struct closed_wait {
	struct itest *t;
	const struct saas_case *cases;
	size_t n;
};

static int all_closed(void *ud)
{
	struct closed_wait *w = ud;
	cJSON *doc = itest_cases(w->t);
	int ok = doc != NULL;
	for (size_t i = 0; ok && i < w->n; i++) {
		const cJSON *c = itest_find_case(doc, w->cases[i].titles[0]);
		ok = c && itest_case_closed(c);
	}
	cJSON_Delete(doc);
	return ok;
}

static void test_saas_sources_through_daemon(void **state)
{
	(void)state;
	struct itest t;
	assert_int_equal(itest_setup(&t, "cg-saas"), 0);
	assert_int_equal(itest_start_sim(&t, NULL), 0);
	char *yaml = cg_h_fmt("%s", "");
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		char *more = cg_h_fmt("%s  - name: %s\n    type: %s\n    auth: {bearer: saas-token}\n"
		                      "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
		                      "    case_type: 00000000-0000-0000-0000-000000000001\n",
		                      yaml, types[i], types[i]);
		free(yaml);
		yaml = more;
	}
	assert_int_equal(itest_write_config(&t, NULL, yaml), 0);
	free(yaml);
	assert_int_equal(itest_start_gw(&t), 0);

	post_all(&t, firing, sizeof(firing) / sizeof(firing[0]));
	int want = 0;
	for (size_t i = 0; i < sizeof(firing) / sizeof(firing[0]); i++)
		for (int k = 0; k < 2; k++)
			want += firing[i].titles[k] != NULL;
	assert_int_equal(want, 6);
	struct itest_wait w = {&t, want};
	if (!cg_h_poll(itest_has_ncases, &w, 30000)) {
		cg_h_dump_log(&t.gw);
		fail_msg("got %d cases in the simulator, want %d", itest_ncases(&t), want);
	}
	cJSON *doc = itest_cases(&t);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "cases")), want);
	for (size_t i = 0; i < sizeof(firing) / sizeof(firing[0]); i++) {
		for (int k = 0; k < 2 && firing[i].titles[k]; k++) {
			const cJSON *c = itest_find_case(doc, firing[i].titles[k]);
			if (!c)
				fail_msg("%s/%s: got no case titled \"%s\"", firing[i].type, firing[i].fixture,
					 firing[i].titles[k]);
			const char *title = itest_case_attr(c, "title"), *prio = itest_case_attr(c, "priority");
			if (strcmp(title, firing[i].titles[k]) != 0)
				fail_msg("%s/%s: got title \"%s\", want \"%s\"", firing[i].type, firing[i].fixture, title,
					 firing[i].titles[k]);
			if (!prio || strcmp(prio, firing[i].priorities[k]) != 0)
				fail_msg("%s/%s \"%s\": got priority %s, want %s", firing[i].type, firing[i].fixture, title,
					 prio ? prio : "(none)", firing[i].priorities[k]);
			if (itest_case_closed(c))
				fail_msg("%s/%s: the new case is closed", firing[i].type, firing[i].fixture);
		}
	}
	cJSON_Delete(doc);

	post_all(&t, resolving, sizeof(resolving) / sizeof(resolving[0]));
	struct closed_wait cw = {&t, resolving, sizeof(resolving) / sizeof(resolving[0])};
	if (!cg_h_poll(all_closed, &cw, 30000)) {
		cg_h_dump_log(&t.gw);
		fail_msg("the resolved alerts' cases did not all close");
	}
	/* Resolutions close; they never open. */
	assert_int_equal(itest_ncases(&t), want);
	assert_true(itest_metric(&t, "casegate_dead_letters", NULL) == 0);
	/* Every request sent is a valid Case API request (skipped without ../shared's contract). */
	char *req_log = cg_h_fmt("%s/%s", t.dir, CG_H_SIM_REQUEST_LOG);
	assert_int_not_equal(cg_h_validate_contract(req_log), 1);
	free(req_log);
	assert_int_equal(itest_stop_gw(&t, SIGTERM), 0);
	itest_teardown(&t, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_saas_sources_through_daemon),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
