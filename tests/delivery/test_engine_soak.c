/* test_engine_soak.c: delivery under a hostile API (5xx, drops, latency, 429 bursts) and pacing to a rate limit. */
/* labels: integration */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "itest.h"
#include "crash_common.h"

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void nap_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int set_faults(struct itest *t, const char *json)
{
	char url[128];
	snprintf(url, sizeof(url), "%s/_sim/faults", t->sim_url);
	const char *headers[] = {"Content-Type: application/json", NULL};
	struct cg_h_resp r;
	if (cg_h_http("POST", url, headers, json, strlen(json), &r) != 0) {
		cg_h_resp_free(&r); /* allocated even on failure */
		return -1;
	}
	int ok = r.status == 200;
	cg_h_resp_free(&r);
	return ok ? 0 : -1;
}

/* The bucket the sim's rate_limit fault configures (CG_SIM_LEGACY_BUCKET). */
#define CG_SOAK_BUCKET "cases"

static double sim_stat(struct itest *t, const char *name)
{
	char url[128];
	snprintf(url, sizeof(url), "%s/_sim/stats", t->sim_url);
	cJSON *doc = cg_h_get_json(url);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, name);
	double d = cJSON_IsNumber(v) ? v->valuedouble : -1;
	cJSON_Delete(doc);
	return d;
}

static int queue_empty(void *ud)
{
	struct itest *t = ud;
	return itest_metric(t, "casegate_queue_depth", NULL) == 0 &&
	       itest_metric(t, "casegate_inflight_operations", NULL) == 0;
}

/* ---- fault soak ---- */

#define SOAK_KEYS 60
#define SOAK_PER_KEY 5
#define SOAK_THREADS 4

struct soak {
	struct itest *t;
	struct cg_crash_key *keys;
	atomic_int failed;
	atomic_int done;
	uint64_t seed;
};

struct soak_client {
	struct soak *s;
	int idx;
};

static void *soak_client(void *arg)
{
	struct soak_client *c = arg;
	struct soak *s = c->s;
	uint64_t rng = s->seed + 7919u * (uint64_t)(c->idx + 1);
	int mine[SOAK_KEYS], n = 0;
	for (int k = c->idx; k < SOAK_KEYS; k += SOAK_THREADS)
		mine[n++] = k;
	uint64_t deadline = mono_ms() + 30000;
	while (n > 0 && mono_ms() < deadline) {
		int pick = (int)(cg_crash_rand(&rng) % (uint64_t)n);
		struct cg_crash_key *k = &s->keys[mine[pick]];
		int firing = k->plan[k->next];
		char *body = cg_crash_payload(k->name, firing, k->next);
		long st = itest_post(s->t, "crash", "tok", body, NULL);
		free(body);
		if (st != 202) {
			nap_ms(10);
			continue;
		}
		cg_crash_expect(k, firing);
		if (++k->next == SOAK_PER_KEY)
			mine[pick] = mine[--n];
	}
	if (n > 0)
		atomic_store(&s->failed, 1);
	atomic_fetch_add(&s->done, 1);
	return NULL;
}

static void test_fault_soak(void **state)
{
	(void)state;
	struct itest t;
	struct soak s;
	memset(&s, 0, sizeof(s));
	s.t = &t;
	const char *env = getenv("CG_SOAK_SEED");
	s.seed = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL);
	uint64_t rng = s.seed;
	char seed_arg[32];
	snprintf(seed_arg, sizeof(seed_arg), "%llu", (unsigned long long)s.seed);
	printf("fault soak: seed %s (CG_SOAK_SEED to replay)\n", seed_arg);

	s.keys = calloc(SOAK_KEYS, sizeof(*s.keys));
	assert_non_null(s.keys);
	for (int i = 0; i < SOAK_KEYS; i++) {
		char name[32];
		snprintf(name, sizeof(name), "s%02d", i);
		s.keys[i].name = strdup(name);
		s.keys[i].plan = calloc(SOAK_PER_KEY, sizeof(int));
		assert_non_null(s.keys[i].plan);
		for (int j = 0; j < SOAK_PER_KEY; j++)
			s.keys[i].plan[j] = j == 0 || (int)(cg_crash_rand(&rng) % 100) < 50;
	}
	assert_int_equal(itest_setup(&t, "cg-soak"), 0);
	const char *const sim_args[] = {"--error-ratio", "0.3", "--latency-ms", "200", "--drop-ratio", "0.1",
					"--seed", seed_arg, NULL};
	assert_int_equal(itest_start_sim(&t, sim_args), 0);
	assert_int_equal(itest_write_config(&t, NULL, cg_crash_sources), 0);
	assert_int_equal(itest_start_gw(&t), 0);
	assert_true(itest_metric(&t, "casegate_queue_depth", NULL) >= 0); /* libcurl init before threads */

	uint64_t t0 = mono_ms();
	pthread_t th[SOAK_THREADS];
	struct soak_client cl[SOAK_THREADS];
	for (int i = 0; i < SOAK_THREADS; i++) {
		cl[i] = (struct soak_client){&s, i};
		assert_int_equal(pthread_create(&th[i], NULL, soak_client, &cl[i]), 0);
	}
	/* 429 bursts: a tight rate limit (30 per 2 s windows, calendar-aligned) switched on while the
	 * backlog drains. Once casegate paces to it, another client of the organisation spends a
	 * whole window as it begins (asked again each tick until one of casegate's requests met it:
	 * a request in the window answered 5xx or dropped teaches the same), a 429 casegate could
	 * not foresee: it must wait for the reset, never retry into the window. Then the limit goes
	 * off, and on again for a bucket casegate knows (paced: no 429). */
	enum { PH_ON, PH_SPEND, PH_OFF, PH_AGAIN, PH_AGAIN2, PH_DONE };
	int phase = PH_ON, spends = 0, ok = 0;
	struct cg_crash_check chk = {.t = &t, .keys = s.keys, .nkeys = SOAK_KEYS};
	while (mono_ms() - t0 < 50000) {
		if (phase == PH_ON || phase == PH_AGAIN) {
			assert_int_equal(set_faults(&t, "{\"rate_limit\":30,\"rate_period\":2}"), 0);
			phase++;
		} else if (phase == PH_SPEND && sim_stat(&t, "rejected_429") < 1 && spends < 20) {
			assert_int_equal(set_faults(&t, "{\"rate_spent\":true}"), 0);
			spends++;
		} else if (phase == PH_SPEND || phase == PH_AGAIN2) {
			/* met (or given up on: asserted below); the second time, paced for a while */
			assert_int_equal(set_faults(&t, "{\"rate_limit\":0}"), 0);
			phase++;
		} else if (phase == PH_OFF) {
			phase++;
		}
		nap_ms(1500);
		if (atomic_load(&s.done) == SOAK_THREADS && phase == PH_DONE && (ok = cg_crash_all_match(&chk)))
			break;
	}
	for (int i = 0; i < SOAK_THREADS; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(atomic_load(&s.failed), 0);
	/* The promise is eventual (every acknowledged event in Datadog, once): the backlog of retries
	 * after the fault window may take a while on a loaded 2-core machine, so the deadline is
	 * generous; a lost or doubled event fails below no matter how long it is given. */
	if (!ok)
		ok = cg_crash_poll(cg_crash_all_match, &chk, 30000);
	int drained = cg_crash_poll(queue_empty, &t, 10000);
	if (!ok)
		ok = cg_crash_all_match(&chk);
	else
		cg_crash_all_match(&chk);
	int acked = 0;
	for (int i = 0; i < SOAK_KEYS; i++)
		acked += s.keys[i].next;
	printf("fault soak: N=%d acknowledged events over %d keys, API: %.0f requests, %.0f injected 5xx, %.0f dropped "
	       "after processing, %.0f answered 429 (%d bursts); lost=%d, duplicates=%d, cases=%d, "
	       "reconciled=%.0f, %.1f s\n",
	       acked, SOAK_KEYS, sim_stat(&t, "total"), sim_stat(&t, "injected_5xx"), sim_stat(&t, "dropped"),
	       sim_stat(&t, "rejected_429"), 2, chk.lost, chk.duplicates, chk.ncases,
	       itest_metric(&t, "casegate_reconciliations_total", NULL), (double)(mono_ms() - t0) / 1000.0);
	if (!ok || !drained)
		fprintf(stderr, "first mismatch: %s (drained=%d)\n", chk.first_mismatch, drained);
	assert_int_equal(acked, SOAK_KEYS * SOAK_PER_KEY);
	assert_int_equal(chk.duplicates, 0);
	assert_int_equal(chk.lost, 0);
	assert_true(ok);
	assert_true(drained);
	assert_true(itest_metric(&t, "casegate_dead_letters", NULL) == 0);
	/* A 429 is waited out: after one, nothing more goes into that window (what was already on
	 * its way when the window turned may meet the spent window too: late_429 counts only what
	 * reached the API well after a 429 had been answered). The paced burst met no 429. */
	double late = itest_sim_stat(&t, "buckets." CG_SOAK_BUCKET ".late_429");
	double max429 = itest_sim_stat(&t, "buckets." CG_SOAK_BUCKET ".max_429_per_window");
	double all429 = itest_sim_stat(&t, "buckets." CG_SOAK_BUCKET ".rejected_429");
	double waits = itest_metric(&t, "casegate_rate_limit_waits_total", NULL);
	printf("fault soak: %.0f requests met the limit; %.0f answered 429 (at most %.0f in one window, %.0f sent after "
	       "a 429 in its window), %.0f waits for a reset, %d window(s) spent by another client\n",
	       itest_sim_stat(&t, "buckets." CG_SOAK_BUCKET ".requests"), all429, max429, late, waits, spends);
	if (itest_sim_stat(&t, "buckets." CG_SOAK_BUCKET ".requests") < 20)
		fail_msg("the rate limit's bursts met fewer than 20 requests: the soak did not test pacing");
	if (all429 < 1 || waits < 1)
		fail_msg("the spent windows (%d asked): %.0f 429s, %.0f waits for a reset; want at least one of each",
			 spends, all429, waits);
	if (late != 0)
		fail_msg("%.0f request(s) went into a window after its 429 (want none: wait for the reset)", late);
	assert_int_equal(itest_stop_gw(&t, SIGTERM), 0);
	cg_crash_key_free(s.keys, SOAK_KEYS);
	free(s.keys);
	itest_teardown(&t, 0);
}

/* ---- pacing: a backlog drains near the advertised rate with about one 429 per window ---- */

#define PACE_EVENTS 200
#define PACE_LIMIT 40

static void test_backlog_paced_to_rate_limit(void **state)
{
	(void)state;
	struct itest t;
	assert_int_equal(itest_setup(&t, "cg-pace"), 0);
	char lim[16];
	snprintf(lim, sizeof(lim), "%d", PACE_LIMIT);
	const char *const sim_args[] = {"--rate-limit", lim, "--rate-period", "1", NULL};
	assert_int_equal(itest_start_sim(&t, sim_args), 0);
	assert_int_equal(itest_write_config(&t, NULL, cg_crash_sources), 0);
	assert_int_equal(itest_start_gw(&t), 0);
	uint64_t t0 = mono_ms();
	for (int i = 0; i < PACE_EVENTS; i++) {
		char name[32];
		snprintf(name, sizeof(name), "p%03d", i);
		char *body = cg_crash_payload(name, 1, 0);
		long st = itest_post(&t, "crash", "tok", body, NULL);
		free(body);
		if (st != 202)
			fprintf(stderr, "post %d: got %ld, want 202\n", i, st);
		assert_int_equal(st, 202);
	}
	struct itest_wait w = {&t, PACE_EVENTS};
	int ok = cg_h_poll(itest_has_ncases, &w, 40000);
	double secs = (double)(mono_ms() - t0) / 1000.0;
	double r429 = sim_stat(&t, "rejected_429");
	double total = sim_stat(&t, "total");
	/* Each create is two requests here (create, then attributes): what the window allows. */
	double ideal = (total - r429) / PACE_LIMIT;
	/* Windows the drain spanned; a new window may cost one 429 while casegate learns the reset. */
	double windows = secs + 1;
	printf("pacing: %d creates against %d/s: drained in %.1f s (ideal %.1f s), %.0f requests, %.0f answered 429 "
	       "over ~%.0f windows\n",
	       PACE_EVENTS, PACE_LIMIT, secs, ideal, total, r429, windows);
	assert_true(ok);
	assert_int_equal(itest_ncases(&t), PACE_EVENTS);
	if (r429 > windows)
		fprintf(stderr, "429s: got %.0f, want at most %.0f (about one per window)\n", r429, windows);
	assert_true(r429 <= windows);
	if (secs > ideal * 1.3 + 2)
		fprintf(stderr, "drain: got %.1f s, want at most %.1f s\n", secs, ideal * 1.3 + 2);
	assert_true(secs <= ideal * 1.3 + 2);
	assert_int_equal(itest_stop_gw(&t, SIGTERM), 0);
	itest_teardown(&t, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fault_soak),
		cmocka_unit_test(test_backlog_paced_to_rate_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
