/* test_gate_ratelimit_wait.c: one daemon meeting 429s: it waits each window out (at most one 429 per window), nothing is dead-lettered, every alert gets its one case. */
/* labels: integration */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>

#include "itest.h"
#include "crash_common.h"

/*
 * Datadog leaves X-RateLimit-* off successes now and then; here off every one (header-drop-ratio
 * 1), so casegate cannot pace itself from the headers and must meet the limit: the 429 (which
 * carries the reset) is certain, not left to timing. One operation at a time (max_inflight 1)
 * makes "at most one 429 per window" exact: a 429 closes the bucket until the window's reset,
 * so the next request goes in the next window. A daemon that tried again sooner would meet a
 * second 429 in the same window; one that took the 429 as final would dead-letter the alert.
 */

#define N 10

static struct itest T;

static int setup(void **state)
{
	(void)state;
	return itest_setup(&T, "cg-rlwait");
}

static int teardown(void **state)
{
	(void)state;
	itest_teardown(&T, 0);
	return 0;
}

struct ncases_wait {
	int want;
};

static int has_ncases(void *ud)
{
	struct ncases_wait *w = ud;
	return itest_ncases(&T) >= w->want;
}

static int queue_empty(void *ud)
{
	(void)ud;
	return itest_metric(&T, "casegate_queue_depth", NULL) == 0 &&
	       itest_metric(&T, "casegate_inflight_operations", NULL) == 0;
}

static void test_waits_out_each_window(void **state)
{
	(void)state;
	/* 3 writes per 2-second window: N creates need about N/3 windows and meet a 429 in most. */
	const char *const sim_args[] = {"--bucket", "cases_write=3/2:write", "--header-drop-ratio", "1", NULL};
	assert_int_equal(itest_start_sim(&T, sim_args), 0);
	assert_int_equal(itest_write_config_full(&T, NULL, "  max_inflight: 1\n", NULL, cg_crash_sources), 0);
	assert_int_equal(itest_start_gw(&T), 0);

	char name[32];
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "rl%02d", i);
		char *body = cg_crash_payload(name, 1, 0);
		long st = itest_post(&T, "crash", "tok", body, NULL);
		free(body);
		assert_int_equal(st, 202);
	}
	struct ncases_wait w = {N};
	if (!cg_h_poll(has_ncases, &w, 60000))
		fail_msg("cases: got %d within 60 s, want %d", itest_ncases(&T), N);
	assert_true(cg_h_poll(queue_empty, NULL, 15000));

	double rejected = itest_sim_stat(&T, "buckets.cases_write.rejected_429");
	double max429 = itest_sim_stat(&T, "buckets.cases_write.max_429_per_window");
	double waits = itest_metric(&T, "casegate_rate_limit_waits_total", NULL);
	printf("429s: %.0f in all, at most %.0f in one window; casegate waited %.0f time(s)\n", rejected, max429, waits);
	/* The limit was met (else this test proves nothing), and waited out every time. */
	if (rejected < 1 || waits < 1)
		fail_msg("no 429 met (%.0f answered, %.0f waits): the test did not reach the limit", rejected, waits);
	if (max429 > 1)
		fail_msg("%.0f 429s in one window: casegate went again before the window's reset (want at most 1)",
			 max429);
	for (int i = 0; i < N; i++) {
		char title[64];
		snprintf(title, sizeof(title), "crash rl%02d", i);
		if (itest_count_titled(&T, title) != 1)
			fail_msg("%s: %d case(s), want exactly 1", title, itest_count_titled(&T, title));
	}
	assert_int_equal(itest_ncases(&T), N);
	assert_true(itest_metric(&T, "casegate_dead_letters", NULL) == 0);
	assert_true(itest_metric(&T, "casegate_dead_letters_total", NULL) <= 0);
	assert_int_equal(itest_stop_gw(&T, SIGTERM), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_waits_out_each_window, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
