/* test_engine_priority.c: under a backlog and Datadog's rate limit the urgent alerts go out next, and an old low-priority alert is not starved by a stream of urgent ones. */
/* labels: integration */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>

#include "itest.h"

/*
 * The simulator lets 10 calls through per second (all requests, one bucket); casegate paces
 * itself to its X-RateLimit-* headers. Each alert is a new case: one CreateCase call (no case
 * attributes, so no attribute step). Cases are told apart by title ("low NNN", "high NNN"); the simulator
 * numbers them DEMO-1, DEMO-2, ... in the order it created them.
 */
#define RATE 10
#define INFLIGHT 4

static const char *const sources = "  - name: low\n"
				   "    type: generic\n"
				   "    auth: { bearer: tok }\n"
				   "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
				   "    case_type: 00000000-0000-0000-0000-000000000001\n"
				   "    title: \"low {{labels.alertname}}\"\n"
				   "    dedup_key: \"{{labels.alertname}}\"\n"
				   "    priority: P5\n"
				   "    attributes: {}\n"
				   "  - name: high\n"
				   "    type: generic\n"
				   "    auth: { bearer: tok }\n"
				   "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
				   "    case_type: 00000000-0000-0000-0000-000000000001\n"
				   "    title: \"high {{labels.alertname}}\"\n"
				   "    dedup_key: \"{{labels.alertname}}\"\n"
				   "    priority: P1\n"
				   "    attributes: {}\n";

static int setup(void **state)
{
	struct itest *t = calloc(1, sizeof(*t));
	const char *const sim_args[] = {"--rate-limit", "10", "--rate-period", "1", NULL};
	if (!t || itest_setup(t, "cg-prio") != 0 || itest_start_sim(t, sim_args) != 0)
		return -1;
	*state = t;
	return 0;
}

static void post_alert(struct itest *t, const char *source, int i)
{
	char *body = cg_h_fmt("{\"status\":\"firing\",\"labels\":{\"alertname\":\"%03d\"}}", i);
	assert_non_null(body);
	long st = itest_post(t, source, "tok", body, NULL);
	free(body);
	if (st != 202)
		fail_msg("POST /hooks/%s alert %03d: got %ld, want 202", source, i, st);
}

/* The simulator's cases by kind: how many "low" and "high" ones, the DEMO-N number of the last
 * high one and of the case titled `low_title` (0 when absent), and how many low cases have a
 * lower number than the last high one. */
struct census {
	int low, high;
	long last_high, low_case;
	int low_before_last_high;
};

static long case_number(const cJSON *c)
{
	const char *key = itest_case_attr(c, "key");
	const char *dash = key ? strrchr(key, '-') : NULL;
	return dash ? strtol(dash + 1, NULL, 10) : 0;
}

static struct census count_cases(struct itest *t, const char *low_title)
{
	struct census k = {0};
	cJSON *doc = itest_cases(t);
	const cJSON *c;
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(doc, "cases"))
	{
		const char *title = itest_case_attr(c, "title");
		long n = case_number(c);
		if (title && strncmp(title, "high ", 5) == 0) {
			k.high++;
			if (n > k.last_high)
				k.last_high = n;
		} else if (title && strncmp(title, "low ", 4) == 0) {
			k.low++;
			if (low_title && strcmp(title, low_title) == 0)
				k.low_case = n;
		}
	}
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(doc, "cases"))
	{
		const char *title = itest_case_attr(c, "title");
		if (title && strncmp(title, "low ", 4) == 0 && case_number(c) < k.last_high)
			k.low_before_last_high++;
	}
	cJSON_Delete(doc);
	return k;
}

struct want {
	struct itest *t;
	int low, high;
};

static int reached(void *ud)
{
	struct want *w = ud;
	struct census k = count_cases(w->t, NULL);
	return k.low >= w->low && k.high >= w->high;
}

/*
 * 300 P5 creates queued first (30 s of calls at 10/s), then 5 P1 creates: the P1 cases exist
 * within about one rate-limit window. Counted in cases, not seconds: the low cases the simulator
 * made after the P1s were accepted and before the last P1 case are at most what was in flight
 * (max_inflight) plus one window's calls. First come, first served would make about 290.
 */
static void test_urgent_first_under_backlog(void **state)
{
	struct itest *t = *state;
	char queue[64];
	snprintf(queue, sizeof(queue), "  max_inflight: %d\n", INFLIGHT);
	assert_int_equal(itest_write_config_full(t, NULL, queue, NULL, sources), 0);
	assert_int_equal(itest_start_gw(t), 0);
	const int backlog = 300;
	for (int i = 0; i < backlog; i++)
		post_alert(t, "low", i);
	/* The backlog is being worked on (and the limit met) before the urgent alerts come. */
	struct want w = {t, 2 * RATE, 0};
	if (!cg_h_poll(reached, &w, 15000))
		fail_msg("low cases: got %d within 15 s, want %d", count_cases(t, NULL).low, w.low);
	for (int i = 0; i < 5; i++)
		post_alert(t, "high", i);
	struct census at_accept = count_cases(t, NULL);
	w = (struct want){t, 0, 5};
	if (!cg_h_poll(reached, &w, 15000))
		fail_msg("high cases: got %d of 5 within 15 s (low: %d of %d): urgent alerts wait behind the backlog",
			 count_cases(t, NULL).high, count_cases(t, NULL).low, backlog);
	struct census done = count_cases(t, NULL);
	int between = done.low_before_last_high - at_accept.low;
	printf("low cases when the 5 P1s were accepted: %d; made before the last P1 case: %d (%d in between)\n",
	       at_accept.low, done.low_before_last_high, between);
	if (between > INFLIGHT + RATE)
		fail_msg("%d low cases made between the P1s' acceptance and the last P1 case, want at most %d "
			 "(max_inflight %d + one window's %d calls)",
			 between, INFLIGHT + RATE, INFLIGHT, RATE);
	if (done.low >= backlog)
		fail_msg("the whole backlog (%d) was delivered: the test did not build one", done.low);
	double p5 = itest_metric(t, "casegate_queue_depth_by_priority", "priority=\"P5\"");
	if (p5 <= 0)
		fail_msg("casegate_queue_depth_by_priority{priority=\"P5\"}: got %.0f, want the backlog (> 0)", p5);
	assert_int_equal(itest_stop_gw(t, SIGTERM), 0);
}

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Nothing starves: with priority_aging 1s a P5 waits behind fresher P1s for at most 4 s of their
 * arrivals. P1s arrive at 15/s, half again what the limit lets out, so without aging the P5
 * would wait as long as they keep coming (with the default 10m, for the whole test). With it,
 * the P5's case exists while P1s that came after it are still queued, and while the stream
 * still runs. The 1s comes by reload: the store ranks with the reloaded value.
 */
static void not_starved(void **state, int inflight)
{
	struct itest *t = *state;
	char queue[64];
	snprintf(queue, sizeof(queue), "  max_inflight: %d\n", inflight);
	assert_int_equal(itest_write_config_full(t, NULL, queue, NULL, sources), 0);
	assert_int_equal(itest_start_gw(t), 0);
	assert_int_equal(itest_write_config_full(t, NULL, queue, "priority_aging: 1s\n", sources), 0);
	kill(t->gw.pid, SIGHUP);
	if (!cg_h_wait_log(&t->gw, "configuration reloaded", 10000))
		fail_msg("no \"configuration reloaded\" within 10 s of SIGHUP");
	const int per_tick = 3, tick_ms = 200; /* 15/s */
	const int64_t start = wall_ms(), stream_end = start + 14000;
	int64_t next = start, p5_at = 0;
	int nhigh = 0, low_case = 0;
	struct census k = {0};
	while (wall_ms() < stream_end) {
		for (int i = 0; i < per_tick; i++)
			post_alert(t, "high", nhigh++);
		/* One second of P1s first: a backlog is there when the P5 comes. */
		if (!p5_at && wall_ms() - start >= 1000) {
			post_alert(t, "low", 0);
			p5_at = wall_ms();
		}
		next += tick_ms;
		assert_true(cg_h_poll(itest_wall_past, &next, (unsigned)tick_ms + 1000));
		if (p5_at && (k = count_cases(t, "low 000")).low_case) {
			low_case = 1;
			break;
		}
	}
	if (!low_case)
		fail_msg("the P5 queued %.1f s into a stream of P1s (15/s) got no case in %.1f s (P1 cases: %d of %d): "
			 "starved",
			 (double)(p5_at - start) / 1000, (double)(wall_ms() - p5_at) / 1000, k.high, nhigh);
	printf("P5 case after %.1f s, while %d of %d P1s had cases\n", (double)(wall_ms() - p5_at) / 1000, k.high, nhigh);
	/* The P1s queued after the P5 (and more than 4 levels after it) are still waiting. */
	if (nhigh - k.high < RATE)
		fail_msg("P1s without a case when the P5 got one: %d of %d, want at least %d (the P5 went ahead of "
			 "fresher P1s)",
			 nhigh - k.high, nhigh, RATE);
	assert_int_equal(itest_stop_gw(t, SIGTERM), 0);
}

static void test_old_low_priority_not_starved(void **state)
{
	not_starved(state, INFLIGHT);
}

/*
 * The same with more in flight than a window lets out (64 > 10): the P5 is claimed early and
 * then waits in memory for the rate limit's window among the P1s claimed after it. That wait is
 * ordered by the same rank, aging included, so it is not passed for ever there either.
 */
static void test_claimed_low_priority_not_starved(void **state)
{
	not_starved(state, 64);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_urgent_first_under_backlog, setup, itest_state_free),
		cmocka_unit_test_setup_teardown(test_old_low_priority_not_starved, setup, itest_state_free),
		cmocka_unit_test_setup_teardown(test_claimed_low_priority_not_starved, setup, itest_state_free),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
