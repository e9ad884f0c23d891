/* test_webhook_sources.c: every source type through the real gateway: alerts make cases, non-alerts 200, bad shapes 422. */
/* labels: integration */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "itest.h"

/*
 * One row per request, posted in order to /hooks/<type> (one source per type, named like it).
 * cases: how many new cases the request must create (0 for non-alerts, errors and resolutions);
 * title: a substring of the created case's title; errors: a substring the 422 body must hold.
 */
struct src_case {
	const char *type, *fixture; /* tests/fixtures/<type>/<fixture>.json */
	long status;
	int cases;
	const char *title, *errors;
};

static const struct src_case cases[] = {
    /* srcA: SaaS tools */
    {"datadog", "triggered", 202, 1, "Host is Down (host:web-1)", NULL},
    {"datadog", "template_unrendered", 200, 0, NULL, NULL},
    {"datadog", "bad_no_alert_fields", 422, 0, NULL, "alert.id"},
    {"sentry", "metric_critical", 202, 1, "Too many errors", NULL},
    {"sentry", "event_alert", 202, 1, "ReferenceError: heck is not defined", NULL},
    {"sentry", "issue_assigned", 200, 0, NULL, NULL},
    {"sentry", "installation_created", 200, 0, NULL, NULL},
    {"sentry", "bad_event_no_issue_id", 422, 0, NULL, "data.event.issue_id"},
    {"azure", "metric_fired", 202, 1, "cpu-high on vm-web-1", NULL},
    {"azure", "bad_no_essentials", 422, 0, NULL, "data.essentials"},
    {"gcp", "open", 202, 1, "High CPU: VM Instance - CPU utilization [MAX]", NULL},
    {"gcp", "test_version", 200, 0, NULL, NULL},
    {"gcp", "bad_no_id", 422, 0, NULL, "incident.incident_id"},
    {"pagerduty", "triggered", 202, 1, "A little bump in the road", NULL},
    {"pagerduty", "incident_acknowledged", 200, 0, NULL, NULL},
    {"pagerduty", "ping", 200, 0, NULL, NULL},
    {"pagerduty", "bad_no_incident_id", 422, 0, NULL, "event.data.id"},
    {"opsgenie", "create", 202, 1, "Disk full on db-1", NULL},
    {"opsgenie", "acknowledge", 200, 0, NULL, NULL},
    {"opsgenie", "bad_no_alert", 422, 0, NULL, "alert"},
};

/* Resolutions posted after every case exists: the case of the same key must close. */
static const struct src_case closing[] = {
    /* srcA */
    {"pagerduty", "resolved", 202, 0, "A little bump in the road", NULL},
    {"opsgenie", "close", 202, 0, "Disk full on db-1", NULL},
};

/* One source per distinct type in the tables, named like the type, no auth. */
static char *sources_yaml(void)
{
	char *yaml = cg_h_fmt("%s", "");
	for (size_t i = 0; yaml && i < sizeof(cases) / sizeof(cases[0]); i++) {
		int seen = 0;
		for (size_t k = 0; k < i; k++)
			seen |= strcmp(cases[k].type, cases[i].type) == 0;
		if (seen)
			continue;
		char *more = cg_h_fmt("%s  - name: %s\n    type: %s\n    auth: none\n"
		                      "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
		                      "    case_type: 00000000-0000-0000-0000-000000000001\n",
		                      yaml, cases[i].type, cases[i].type);
		free(yaml);
		yaml = more;
	}
	return yaml;
}

static long post_fixture(struct itest *t, const struct src_case *c, char **resp)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/tests/fixtures/%s/%s.json", cg_h_source_dir(), c->type, c->fixture);
	char *body = cg_h_read_file(path, NULL);
	if (!body) {
		print_error("%s: got no file, want a fixture\n", path);
		return -1;
	}
	long st = itest_post(t, c->type, NULL, body, resp);
	free(body);
	return st;
}

struct closed_wait {
	struct itest *t;
	const char *title;
};

static int case_closed(void *ud)
{
	struct closed_wait *w = ud;
	cJSON *doc = itest_cases(w->t);
	const cJSON *c = itest_find_case(doc, w->title);
	int ok = c && itest_case_closed(c);
	cJSON_Delete(doc);
	return ok;
}

static void test_sources_through_gateway(void **state)
{
	(void)state;
	struct itest t;
	assert_int_equal(itest_setup(&t, "cg-src"), 0);
	assert_int_equal(itest_start_sim(&t, NULL), 0);
	char *yaml = sources_yaml();
	assert_non_null(yaml);
	assert_int_equal(itest_write_config(&t, NULL, yaml), 0);
	free(yaml);
	assert_int_equal(itest_start_gw(&t), 0);

	int want_cases = 0, failed = 0;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct src_case *c = &cases[i];
		char *resp = NULL;
		long st = post_fixture(&t, c, &resp);
		if (st != c->status) {
			print_error("%s/%s: got HTTP %ld (%s), want %ld\n", c->type, c->fixture, st, resp ? resp : "",
			            c->status);
			failed++;
		} else if (c->errors && (!resp || !strstr(resp, "\"errors\"") || !strstr(resp, c->errors))) {
			print_error("%s/%s: got body %s, want errors naming '%s'\n", c->type, c->fixture,
			            resp ? resp : "(none)", c->errors);
			failed++;
		} else if (st == 200 && (!resp || !strstr(resp, "\"ignored\""))) {
			print_error("%s/%s: got body %s, want status ignored\n", c->type, c->fixture,
			            resp ? resp : "(none)");
			failed++;
		}
		free(resp);
		want_cases += c->cases;
	}
	struct itest_wait w = {&t, want_cases};
	int ok = cg_h_poll(itest_has_ncases, &w, 20000);
	if (!ok)
		cg_h_dump_log(&t.gw);
	assert_true(ok);
	/* Non-alerts never reach the store, so no late case can appear after this count. */
	int n = itest_ncases(&t);
	if (n != want_cases)
		print_error("got %d cases, want %d\n", n, want_cases);
	assert_int_equal(n, want_cases);
	cJSON *doc = itest_cases(&t);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (!cases[i].title)
			continue;
		if (!itest_find_case(doc, cases[i].title)) {
			print_error("%s/%s: got no case titled '%s'\n", cases[i].type, cases[i].fixture,
			            cases[i].title);
			failed++;
		}
	}
	cJSON_Delete(doc);

	for (size_t i = 0; i < sizeof(closing) / sizeof(closing[0]); i++) {
		char *resp = NULL;
		long st = post_fixture(&t, &closing[i], &resp);
		if (st != closing[i].status) {
			print_error("%s/%s: got HTTP %ld (%s), want %ld\n", closing[i].type, closing[i].fixture, st,
			            resp ? resp : "", closing[i].status);
			failed++;
		}
		free(resp);
		struct closed_wait cw = {&t, closing[i].title};
		if (!cg_h_poll(case_closed, &cw, 20000)) {
			print_error("%s/%s: got the case '%s' still open, want it closed\n", closing[i].type,
			            closing[i].fixture, closing[i].title);
			failed++;
		}
	}
	if (failed)
		cg_h_dump_log(&t.gw);
	itest_teardown(&t, failed != 0);
	assert_int_equal(failed, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sources_through_gateway),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
