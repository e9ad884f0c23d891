/* test_metrics_render.c: /metrics text: shortest exact values; declared families start with 0 samples. */
/* labels: unit */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

static void expect_line(const char *text, const char *line)
{
	if (!strstr(text, line))
		fail_msg("/metrics: no line \"%s\" in:\n%s", line, text);
}

static void test_shortest_round_trip(void **state)
{
	(void)state;
	struct cg_metrics *m = NULL;
	assert_int_equal(cg_metrics_create(&m), 0);
	assert_int_equal(cg_metrics_describe(m, "t_gauge", CG_GAUGE, "a gauge"), 0);
	assert_int_equal(cg_metrics_describe(m, "t_hist", CG_HISTOGRAM, "a histogram"), 0);
	cg_metrics_set(m, "t_gauge", "k=\"short\"", 0.009578);
	cg_metrics_set(m, "t_gauge", "k=\"int\"", 3);
	cg_metrics_set(m, "t_gauge", "k=\"sum\"", 0.1 + 0.2); /* needs all 17 digits */
	cg_metrics_set(m, "t_gauge", "k=\"big\"", 1777000000.123);
	cg_metrics_observe(m, "t_hist", "", 0.009578);
	size_t len = 0;
	char *text = cg_metrics_render(m, &len);
	assert_non_null(text);
	expect_line(text, "t_gauge{k=\"short\"} 0.009578\n");
	expect_line(text, "t_gauge{k=\"int\"} 3\n");
	expect_line(text, "t_gauge{k=\"sum\"} 0.30000000000000004\n");
	expect_line(text, "t_gauge{k=\"big\"} 1777000000.123\n");
	expect_line(text, "t_hist_sum{} 0.009578\n");
	/* Every value still reads back exactly. */
	const char *p = strstr(text, "k=\"sum\"} ");
	assert_non_null(p);
	assert_true(strtod(p + 9, NULL) == 0.1 + 0.2);
	free(text);
	cg_metrics_destroy(m);
}

static void expect_no_line(const char *text, const char *line)
{
	if (strstr(text, line))
		fail_msg("/metrics: unexpected line \"%s\" in:\n%s", line, text);
}

/* Every declared counter or gauge without labels has its `name 0` sample before anything
 * happened; labelled families only for label values known up front, never a bare sample. */
static void test_declared_start_at_zero(void **state)
{
	(void)state;
	struct cg_metrics *m = NULL;
	assert_int_equal(cg_metrics_create(&m), 0);
	cg_metrics_describe_casegate(m);
	cg_metrics_zero_source(m, "demo", "generic");
	cg_metrics_zero_source(m, "mail\"box", "email");
	cg_metrics_add(m, "casegate_dead_letters_total", "source=\"demo\"", 2); /* zero again: keeps 2 */
	cg_metrics_zero_source(m, "demo", "generic");
	cg_metrics_zero(m, "t_undeclared", ""); /* not declared: stays out */
	char *text = cg_metrics_render(m, NULL);
	assert_non_null(text);
	expect_line(text, "\ncasegate_config_reload_failures_total 0\n");
	expect_line(text, "\ncasegate_overload_rejections_total{source=\"demo\",reason=\"store_full\"} 0\n");
	expect_line(text, "\ncasegate_queue_depth 0\n");
	expect_line(text, "\ncasegate_datadog_circuit_opened_total{cause=\"credentials\"} 0\n");
	expect_line(text, "\ncasegate_reconciliations_total{result=\"not_found\"} 0\n");
	expect_line(text, "\ncasegate_events_accepted_total{source=\"demo\"} 0\n");
	expect_line(text, "\ncasegate_http_requests_total{source=\"demo\",code=\"202\"} 0\n");
	expect_line(text, "\ncasegate_events_total{source=\"demo\",action=\"created\"} 0\n");
	expect_line(text, "\ncasegate_deliveries_total{source=\"demo\",step=\"create\",outcome=\"give_up\"} 0\n");
	expect_line(text, "\ncasegate_dead_letters_total{source=\"demo\"} 2\n");
	expect_line(text, "\ncasegate_mail_messages_total{source=\"mail\\\"box\",outcome=\"tempfail\"} 0\n");
	expect_no_line(text, "\ncasegate_dead_letters_total 0\n");
	expect_no_line(text, "\ncasegate_http_requests_total 0\n");
	expect_no_line(text, "casegate_events_accepted_total{source=\"mail");
	expect_no_line(text, "t_undeclared");
	/* A family with no sample at all is one whose label values come from traffic only. */
	static const char *const from_traffic[] = {
		"casegate_delivery_http_total",	      "casegate_rate_limit_waits_total",
		"casegate_rate_limit_deferred_total", "casegate_optional_dropped_total",
		"casegate_case_refreshes_total",      "casegate_outbound_latency_seconds",
		"casegate_case_events_total",	      "casegate_mail_ignored_total",
		/* Samples for the sources with a `heartbeat:` only, from 0 as intake configures them. */
		"casegate_source_silent",	      "casegate_source_last_heard_timestamp_seconds",
		/* And for the sources with a `storm:`. */
		"casegate_storm_active",	      "casegate_storm_alerts_folded_total",
	};
	for (const char *p = strstr(text, "# TYPE "); p; p = strstr(p + 1, "# TYPE ")) {
		char name[128];
		assert_int_equal(sscanf(p, "# TYPE %127s", name), 1);
		const char *next = strchr(p, '\n') + 1;
		if (strncmp(next, name, strlen(name)) == 0)
			continue;
		int known = 0;
		for (size_t i = 0; i < sizeof(from_traffic) / sizeof(from_traffic[0]); i++)
			known |= strcmp(name, from_traffic[i]) == 0;
		if (!known)
			fail_msg("%s: declared but no sample on a fresh /metrics (want a 0 sample)", name);
	}
	free(text);
	cg_metrics_destroy(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shortest_round_trip),
		cmocka_unit_test(test_declared_start_at_zero),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
