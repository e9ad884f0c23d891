/* test_metrics_render.c: /metrics text: each value in the shortest form that reads back exactly. */
/* labels: unit */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shortest_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
