/* test_engine_retry_after.c: an event's retry after a Datadog 503 with Retry-After never comes sooner than asked (no outage: the circuit stays closed), and the event is delivered once Datadog answers. */
/* labels: integration */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <time.h>

#include "itest.h"
#include "crash_common.h"

/*
 * README, Retry policy: "a Retry-After on a 503 is never undercut". The circuit would hold the
 * queue through an outage (its probes have their own test); with datadog.circuit_threshold at
 * its maximum the 503s stay the event's own, so its retries follow the backoff (retry_base 50ms,
 * retry_cap 1s here) unless the server's Retry-After wins. Retry-After: 3 makes the gap between
 * the first two attempts at least 3 s; the backoff alone would make it at most 1 s.
 */

#define RETRY_AFTER_S 3

static struct itest T;

static int setup(void **state)
{
	(void)state;
	return itest_setup(&T, "cg-retryafter");
}

static int teardown(void **state)
{
	(void)state;
	itest_teardown(&T, 0);
	return 0;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct count_wait {
	const char *stat;
	double want;
};

static int sim_reached(void *ud)
{
	struct count_wait *w = ud;
	return itest_sim_stat(&T, w->stat) >= w->want;
}

static int has_ncases(void *ud)
{
	return itest_ncases(&T) >= *(int *)ud;
}

static int idle(void *ud)
{
	(void)ud;
	return itest_metric(&T, "casegate_inflight_operations", NULL) == 0 &&
	       itest_metric(&T, "casegate_queue_depth", NULL) == 0;
}

static void post_alert(const char *name)
{
	char *body = cg_crash_payload(name, 1, 0);
	long st = itest_post(&T, "crash", "tok", body, NULL);
	free(body);
	assert_int_equal(st, 202);
}

static void test_retry_after_not_undercut(void **state)
{
	(void)state;
	assert_int_equal(itest_start_sim(&T, NULL), 0);
	assert_int_equal(itest_write_config_dd(&T, "  search_settle: 1s\n  circuit_threshold: 1000\n", NULL,
					       cg_crash_sources),
			 0);
	assert_int_equal(itest_start_gw(&T), 0);

	/* A first alert while Datadog answers: the project lookup is done and cached. */
	post_alert("first");
	int want = 1;
	assert_true(cg_h_poll(has_ncases, &want, 20000));
	/* ... and all of its requests answered (its attributes too), so that every request the
	 * outage meets is the second alert's. */
	assert_true(cg_h_poll(idle, NULL, 20000));

	char *faults = cg_h_fmt("{\"outage\":\"503\",\"retry_after_s\":%d}", RETRY_AFTER_S);
	assert_int_equal(itest_sim_post(&T, "/_sim/faults", faults), 200);
	free(faults);
	post_alert("second");
	struct count_wait w = {"outage_requests", 1};
	assert_true(cg_h_poll(sim_reached, &w, 20000));
	uint64_t t1 = mono_ms();
	w.want = 2;
	assert_true(cg_h_poll(sim_reached, &w, 20000));
	uint64_t gap = mono_ms() - t1;
	printf("first two attempts %llu ms apart (Retry-After: %d)\n", (unsigned long long)gap, RETRY_AFTER_S);
	/* Polling adds to the gap, never takes from it: 500 ms of slack for the first sighting. */
	if (gap < RETRY_AFTER_S * 1000 - 500)
		fail_msg("retry %llu ms after a 503 with Retry-After: %d: sooner than the server asked",
			 (unsigned long long)gap, RETRY_AFTER_S);
	assert_true(itest_metric(&T, "casegate_datadog_circuit_open", NULL) <= 0);

	/* Datadog answers again: the event is delivered, once, and nothing was given up. */
	assert_int_equal(itest_sim_post(&T, "/_sim/faults", "{\"outage\":\"none\"}"), 200);
	want = 2;
	assert_true(cg_h_poll(has_ncases, &want, 30000));
	assert_int_equal(itest_ncases(&T), 2);
	assert_true(itest_metric(&T, "casegate_dead_letters_total", NULL) <= 0);
	assert_int_equal(itest_stop_gw(&T, SIGTERM), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_retry_after_not_undercut, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
