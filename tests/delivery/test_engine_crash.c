/* test_engine_crash.c: SIGKILL casegate at random points under load: nothing acknowledged lost, no case twice, order kept. */
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

/* ---- 1. the narrow window: create processed by Datadog, casegate killed before the answer ---- */

struct one_case {
	struct itest *t;
};

static int sim_has_case(void *ud)
{
	struct one_case *o = ud;
	return itest_ncases(o->t) >= 1;
}

static void test_kill_between_send_and_commit(void **state)
{
	(void)state;
	struct itest t;
	assert_int_equal(itest_setup(&t, "cg-crash1"), 0);
	/* The sim applies the create at once and answers 1.5 s later: the kill lands in between. */
	const char *const sim_args[] = {"--latency-ms", "1500", NULL};
	assert_int_equal(itest_start_sim(&t, sim_args), 0);
	assert_int_equal(itest_write_config(&t, NULL, cg_crash_sources), 0);
	assert_int_equal(itest_start_gw(&t), 0);

	char *fire = cg_crash_payload("k-window", 1, 1);
	long st = itest_post(&t, "crash", "tok", fire, NULL);
	if (st != 202)
		fprintf(stderr, "firing: got %ld, want 202\n", st);
	assert_int_equal(st, 202);
	struct one_case o = {&t};
	assert_true(cg_h_poll(sim_has_case, &o, 10000));
	/* The create's answer is still on its way: casegate only knows "CREATING". */
	assert_int_equal(itest_stop_gw(&t, SIGKILL), 128 + SIGKILL);

	/* Restarted, casegate must search for the marker and adopt the case, not create another. */
	assert_int_equal(itest_start_gw(&t), 0);
	char *resolve = cg_crash_payload("k-window", 0, 2);
	st = itest_post(&t, "crash", "tok", resolve, NULL);
	assert_int_equal(st, 202);
	struct cg_crash_key k = {.name = strdup("k-window")};
	cg_crash_expect(&k, 1);
	cg_crash_expect(&k, 0);
	struct cg_crash_check chk = {.t = &t, .keys = &k, .nkeys = 1};
	int ok = cg_crash_poll(cg_crash_all_match, &chk, 20000);
	cg_crash_all_match(&chk);
	if (!ok || chk.duplicates || chk.lost) {
		fprintf(stderr, "got lost=%d duplicates=%d mismatch: %s, want 0/0\n", chk.lost, chk.duplicates,
			chk.first_mismatch);
		cg_h_dump_log(&t.gw);
	}
	assert_true(ok);
	assert_int_equal(chk.duplicates, 0);
	double adopted = itest_metric(&t, "casegate_reconciliations_total", "result=\"adopted\"");
	if (adopted != 1)
		fprintf(stderr, "adopted: got %g, want 1\n", adopted);
	assert_true(adopted == 1);
	printf("crash window test: create applied by the API, casegate killed before the answer: adopted=%g, cases=%d\n",
	       adopted, itest_ncases(&t));
	free(fire);
	free(resolve);
	assert_int_equal(itest_stop_gw(&t, SIGTERM), 0);
	cg_crash_key_free(&k, 1);
	itest_teardown(&t, 0);
}

/* ---- 2. many keys, many kills ---- */

#define NKEYS 200
#define PER_KEY 10
#define NTHREADS 4
#define NKILLS 8

struct crash_run {
	struct itest *t;
	struct cg_crash_key *keys;
	atomic_int port;    /* casegate's current port; 0 while it is down */
	atomic_int done;    /* client threads finished */
	atomic_long posts;  /* HTTP attempts */
	atomic_long acked;  /* 202s */
	atomic_int failed;  /* a client gave up */
	uint64_t seed;
};

struct client {
	struct crash_run *r;
	int idx;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void nap_ms(unsigned ms)
{
	struct timespec ts = {0, (long)ms * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static long post_port(int port, const char *body)
{
	char url[128];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/hooks/crash", port);
	const char *headers[] = {"Content-Type: application/json", "Authorization: Bearer tok", NULL};
	struct cg_h_resp resp;
	if (cg_h_http("POST", url, headers, body, strlen(body), &resp) != 0) {
		cg_h_resp_free(&resp); /* allocated even on failure */
		return 0;
	}
	long st = resp.status;
	cg_h_resp_free(&resp);
	return st;
}

/* A well-behaved sender (like Alertmanager): per key in order, each event resent until a 202. */
static void *client_main(void *arg)
{
	struct client *c = arg;
	struct crash_run *r = c->r;
	uint64_t rng = r->seed ^ (0x9e3779b97f4a7c15ULL * (uint64_t)(c->idx + 1));
	int mine[NKEYS], nmine = 0;
	for (int k = c->idx; k < NKEYS; k += NTHREADS)
		mine[nmine++] = k;
	uint64_t deadline = mono_ms() + 90000;
	while (nmine > 0) {
		if (mono_ms() > deadline) {
			atomic_store(&r->failed, 1);
			break;
		}
		int pick = (int)(cg_crash_rand(&rng) % (uint64_t)nmine);
		struct cg_crash_key *k = &r->keys[mine[pick]];
		int port = atomic_load(&r->port);
		if (port == 0) {
			nap_ms(5);
			continue;
		}
		int firing = k->plan[k->next];
		char *body = cg_crash_payload(k->name, firing, k->next);
		long st = post_port(port, body);
		free(body);
		atomic_fetch_add(&r->posts, 1);
		if (st == 202) {
			atomic_fetch_add(&r->acked, 1);
			cg_crash_expect(k, firing);
			if (++k->next == PER_KEY)
				mine[pick] = mine[--nmine];
		} else {
			nap_ms(10); /* down or refusing: the sender backs off and tries again */
		}
	}
	atomic_fetch_add(&r->done, 1);
	return NULL;
}

static int queue_empty(void *ud)
{
	struct itest *t = ud;
	return itest_metric(t, "casegate_queue_depth", NULL) == 0 &&
	       itest_metric(t, "casegate_inflight_operations", NULL) == 0;
}

static void test_kill_storm(void **state)
{
	(void)state;
	struct itest t;
	struct crash_run r;
	memset(&r, 0, sizeof(r));
	r.t = &t;
	const char *s = getenv("CG_CRASH_SEED");
	r.seed = s ? strtoull(s, NULL, 10) : (uint64_t)time(NULL);
	printf("crash test: seed %llu (CG_CRASH_SEED to replay)\n", (unsigned long long)r.seed);
	uint64_t rng = r.seed;

	r.keys = calloc(NKEYS, sizeof(*r.keys));
	assert_non_null(r.keys);
	for (int i = 0; i < NKEYS; i++) {
		char name[32];
		snprintf(name, sizeof(name), "k%03d", i);
		r.keys[i].name = strdup(name);
		r.keys[i].plan = calloc(PER_KEY, sizeof(int));
		assert_non_null(r.keys[i].plan);
		/* Random firing/resolved sequences: repeats, resolutions of nothing, reopenings. */
		for (int j = 0; j < PER_KEY; j++)
			r.keys[i].plan[j] = (int)(cg_crash_rand(&rng) % 100) < 55;
	}

	assert_int_equal(itest_setup(&t, "cg-crash"), 0);
	/* A little latency keeps requests on the wire when the kill comes. */
	const char *const sim_args[] = {"--latency-ms", "5", NULL};
	assert_int_equal(itest_start_sim(&t, sim_args), 0);
	assert_int_equal(itest_write_config(&t, "rate_limit: { rps: 100000 }\n", cg_crash_sources), 0);
	assert_int_equal(itest_start_gw(&t), 0);
	/* libcurl's global init is not thread-safe: do it here, before the clients. */
	assert_true(itest_metric(&t, "casegate_queue_depth", NULL) >= 0);
	atomic_store(&r.port, t.gw_port);

	uint64_t t0 = mono_ms();
	pthread_t th[NTHREADS];
	struct client cl[NTHREADS];
	for (int i = 0; i < NTHREADS; i++) {
		cl[i] = (struct client){&r, i};
		assert_int_equal(pthread_create(&th[i], NULL, client_main, &cl[i]), 0);
	}
	int kills = 0;
	for (; kills < NKILLS; kills++) {
		/* A random point of the run: intake, commit, delivery, reconciliation (the later kills
		 * may land after the senders are done, while the backlog drains). */
		nap_ms(40 + (unsigned)(cg_crash_rand(&rng) % 200));
		atomic_store(&r.port, 0);
		int code = itest_stop_gw(&t, SIGKILL);
		if (code != 128 + SIGKILL)
			fprintf(stderr, "kill %d: casegate had already exited with %d\n", kills + 1, code);
		assert_int_equal(code, 128 + SIGKILL);
		assert_int_equal(itest_start_gw(&t), 0);
		atomic_store(&r.port, t.gw_port);
	}
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	uint64_t t_sent = mono_ms();
	assert_int_equal(atomic_load(&r.failed), 0);

	struct cg_crash_check chk = {.t = &t, .keys = r.keys, .nkeys = NKEYS};
	int ok = cg_crash_poll(cg_crash_all_match, &chk, 60000);
	int drained = cg_crash_poll(queue_empty, &t, 30000);
	cg_crash_all_match(&chk); /* the final numbers, after the queue drained */
	uint64_t t_end = mono_ms();
	int adopted = cg_crash_count_logs(t.dir, "adopted case");
	printf("crash test: N=%ld acknowledged (%d keys x %d, %ld posts), M=%d SIGKILLs, lost=%d, duplicates=%d, "
	       "cases=%d, adopted after a crash=%d, %.1f s sending + %.1f s draining\n",
	       atomic_load(&r.acked), NKEYS, PER_KEY, atomic_load(&r.posts), kills, chk.lost, chk.duplicates,
	       chk.ncases, adopted, (double)(t_sent - t0) / 1000.0, (double)(t_end - t_sent) / 1000.0);
	if (!ok || !drained || chk.lost || chk.duplicates)
		fprintf(stderr, "first mismatch: %s (drained=%d)\n", chk.first_mismatch, drained);
	assert_int_equal(chk.duplicates, 0);
	assert_int_equal(chk.lost, 0);
	assert_true(ok);
	assert_true(drained);
	assert_int_equal(atomic_load(&r.acked), NKEYS * PER_KEY);
	assert_int_equal(itest_stop_gw(&t, SIGTERM), 0);
	cg_crash_key_free(r.keys, NKEYS);
	free(r.keys);
	itest_teardown(&t, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kill_between_send_and_commit),
		cmocka_unit_test(test_kill_storm),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
