/* test_storeq.c: group commit, completion order, failure isolation and shutdown of the store job queue. */
/* labels: unit */
#define _XOPEN_SOURCE 700 /* nftw */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "err.h"
#include "store.h"
#include "storeq.h"

/*
 * A store that counts transactions and forwards them to a real SQLite store. Only the
 * transaction ops are wired: jobs reach the real store through fx.inner.
 */
struct counting {
	struct cg_store base;
	struct cg_store *inner;
	atomic_int begins, commits, rollbacks;
	atomic_int fail_commits; /* the next n commits fail with CG_EIO (and roll back) */
};

static int c_begin(struct cg_store *st)
{
	struct counting *c = (struct counting *)st;
	atomic_fetch_add(&c->begins, 1);
	return cg_store_begin(c->inner);
}

static int c_commit(struct cg_store *st)
{
	struct counting *c = (struct counting *)st;
	if (atomic_load(&c->fail_commits) > 0) {
		atomic_fetch_sub(&c->fail_commits, 1);
		return CG_EIO;
	}
	atomic_fetch_add(&c->commits, 1);
	return cg_store_commit(c->inner);
}

static int c_rollback(struct cg_store *st)
{
	struct counting *c = (struct counting *)st;
	atomic_fetch_add(&c->rollbacks, 1);
	return cg_store_rollback(c->inner);
}

static const struct cg_store_ops counting_ops = {
	.name = "counting",
	.begin = c_begin,
	.commit = c_commit,
	.rollback = c_rollback,
};

struct fx {
	char dir[256];
	uv_loop_t loop;
	struct counting cs;
	struct cg_storeq *q;
	uv_sem_t gate; /* the gate job blocks the worker until the test posts it */
	int closed;
};

static struct fx *F;

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	const char *base = getenv("TMPDIR");
	snprintf(f->dir, sizeof(f->dir), "%s/cg-storeq-XXXXXX", base && *base ? base : "/tmp");
	assert_non_null(mkdtemp(f->dir));
	char err[256];
	int rc = cg_store_sqlite_open(f->dir, &f->cs.inner, err, sizeof(err));
	if (rc)
		fail_msg("open: %s", err);
	f->cs.base.ops = &counting_ops;
	assert_int_equal(uv_loop_init(&f->loop), 0);
	assert_int_equal(uv_sem_init(&f->gate, 0), 0);
	F = f;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	cg_store_close(f->cs.inner);
	uv_sem_destroy(&f->gate);
	nftw(f->dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
	F = NULL;
	return 0;
}

static void on_closed(void *ud)
{
	struct fx *f = ud;
	f->closed++;
}

/* Destroys the queue, runs the loop until it is freed, and checks the loop closes clean. */
static void finish(struct fx *f)
{
	cg_storeq_destroy(f->q, on_closed, f);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	if (f->closed != 1)
		fail_msg("on_closed calls: got %d, want 1", f->closed);
	int rc = uv_loop_close(&f->loop);
	if (rc != 0)
		fail_msg("uv_loop_close: got %s, want 0", uv_err_name(rc));
}

/* ---- jobs ---- */

struct jr {
	int idx;
	int fail;         /* job returns this (after writing) when nonzero */
	atomic_int runs;
	int rc;           /* from done */
	int done_calls;
	int64_t ev_id;
};

static int order_next; /* next index the done callbacks must see */
static int order_bad;

static int job_enqueue(struct cg_store *st, void *ud)
{
	struct jr *r = ud;
	(void)st;
	atomic_fetch_add(&r->runs, 1);
	char key[32];
	snprintf(key, sizeof(key), "k%d", r->idx % 7);
	struct cg_store_event e = {.source = (char *)"t", .dedup_key = key, .payload = (char *)"{}", .next_ms = r->idx};
	int rc = cg_store_enqueue(F->cs.inner, &e, 1);
	if (rc)
		return rc;
	r->ev_id = e.id;
	return r->fail;
}

static void done_record(int rc, void *ud);

static int job_gate(struct cg_store *st, void *ud)
{
	struct jr *r = ud;
	(void)st;
	/* Only the first run waits: the job may run again alone after a failed batch. */
	if (atomic_fetch_add(&r->runs, 1) == 0)
		uv_sem_wait(&F->gate);
	return 0;
}

/* Submits the gate job and waits (polling, 10 s deadline) until the worker is blocked in it. */
static void submit_gate(struct fx *f, struct jr *r)
{
	assert_int_equal(cg_storeq_submit(f->q, job_gate, done_record, r), 0);
	uint64_t deadline = uv_hrtime() + 10ULL * 1000 * 1000 * 1000;
	while (atomic_load(&r->runs) == 0) {
		if (uv_hrtime() > deadline)
			fail_msg("worker did not start the gate job within 10 s");
		uv_sleep(1);
	}
}

static void done_record(int rc, void *ud)
{
	struct jr *r = ud;
	r->rc = rc;
	r->done_calls++;
	if (r->idx != order_next)
		order_bad++;
	order_next = r->idx + 1;
}

static int64_t count_events(struct fx *f)
{
	struct cg_store_stats s;
	assert_int_equal(cg_store_stats(f->cs.inner, &s), 0);
	return s.pending;
}

/* ---- tests ---- */

static void t_group_commit(void **state)
{
	struct fx *f = *state;
	enum { N = 1000 };
	struct jr *r = calloc(N, sizeof(*r));
	assert_non_null(r);
	order_next = 0;
	order_bad = 0;
	assert_int_equal(cg_storeq_create(&f->loop, &f->cs.base, 1, &f->q), 0);
	/* Job 0 holds the worker until every job is queued, so batching is deterministic. */
	r[0].idx = 0;
	submit_gate(f, &r[0]);
	for (int i = 1; i < N; i++) {
		r[i].idx = i;
		assert_int_equal(cg_storeq_submit(f->q, job_enqueue, done_record, &r[i]), 0);
	}
	if (cg_storeq_pending(f->q) != N)
		fail_msg("pending: got %zu, want %d", cg_storeq_pending(f->q), N);
	uv_sem_post(&f->gate);
	finish(f);
	for (int i = 0; i < N; i++) {
		if (r[i].done_calls != 1 || r[i].rc != 0)
			fail_msg("job %d: got %d done calls rc %d, want 1 call rc 0", i, r[i].done_calls, r[i].rc);
		if (atomic_load(&r[i].runs) != 1)
			fail_msg("job %d: got %d runs, want 1", i, atomic_load(&r[i].runs));
	}
	if (order_bad)
		fail_msg("completions out of submission order: %d", order_bad);
	int commits = atomic_load(&f->cs.commits);
	/* The gate job's batch, then 999 queued jobs in batches of at most 256. */
	if (commits != 5)
		fail_msg("commits: got %d, want 5 for %d jobs", commits, N);
	if (count_events(f) != N - 1)
		fail_msg("events stored: got %lld, want %d", (long long)count_events(f), N - 1);
	fprintf(stderr, "group commit: %d jobs in %d transactions\n", N, commits);
	free(r);
}

static void t_no_group_commit(void **state)
{
	struct fx *f = *state;
	enum { N = 40 };
	struct jr r[N];
	memset(r, 0, sizeof(r));
	order_next = 0;
	order_bad = 0;
	assert_int_equal(cg_storeq_create(&f->loop, &f->cs.base, 0, &f->q), 0);
	submit_gate(f, &r[0]);
	for (int i = 1; i < N; i++) {
		r[i].idx = i;
		assert_int_equal(cg_storeq_submit(f->q, job_enqueue, done_record, &r[i]), 0);
	}
	uv_sem_post(&f->gate);
	finish(f);
	int commits = atomic_load(&f->cs.commits);
	if (commits != N)
		fail_msg("commits: got %d, want %d (one per job)", commits, N);
	if (order_bad)
		fail_msg("completions out of submission order: %d", order_bad);
	for (int i = 0; i < N; i++)
		assert_int_equal(r[i].rc, 0);
}

static void t_failure_isolation(void **state)
{
	struct fx *f = *state;
	enum { N = 10, BAD = 5 };
	struct jr r[N + 1];
	memset(r, 0, sizeof(r));
	order_next = 0;
	order_bad = 0;
	assert_int_equal(cg_storeq_create(&f->loop, &f->cs.base, 1, &f->q), 0);
	submit_gate(f, &r[0]);
	for (int i = 1; i <= N; i++) {
		r[i].idx = i;
		r[i].fail = i == BAD ? CG_EIO : 0;
		assert_int_equal(cg_storeq_submit(f->q, job_enqueue, done_record, &r[i]), 0);
	}
	uv_sem_post(&f->gate);
	finish(f);
	for (int i = 1; i <= N; i++) {
		int want = i == BAD ? CG_EIO : 0;
		if (r[i].rc != want || r[i].done_calls != 1)
			fail_msg("job %d: got rc %d (%d calls), want %d (1 call)", i, r[i].rc, r[i].done_calls, want);
	}
	if (order_bad)
		fail_msg("completions out of submission order: %d", order_bad);
	/* The bad job's own write was rolled back with it; the others' are kept. */
	if (count_events(f) != N - 1)
		fail_msg("events stored: got %lld, want %d", (long long)count_events(f), N - 1);
	if (atomic_load(&f->cs.rollbacks) < 2)
		fail_msg("rollbacks: got %d, want >= 2 (batch, then the bad job alone)", atomic_load(&f->cs.rollbacks));
	/* Jobs after the failing one did not run in the failed batch: once alone only. */
	if (atomic_load(&r[N].runs) != 1 || atomic_load(&r[1].runs) != 2)
		fail_msg("runs: got job1=%d jobN=%d, want 2 and 1", atomic_load(&r[1].runs), atomic_load(&r[N].runs));
}

static void t_commit_failure(void **state)
{
	struct fx *f = *state;
	enum { N = 8 };
	struct jr r[N + 1];
	memset(r, 0, sizeof(r));
	order_next = 0;
	order_bad = 0;
	assert_int_equal(cg_storeq_create(&f->loop, &f->cs.base, 1, &f->q), 0);
	submit_gate(f, &r[0]);
	for (int i = 1; i <= N; i++) {
		r[i].idx = i;
		assert_int_equal(cg_storeq_submit(f->q, job_enqueue, done_record, &r[i]), 0);
	}
	/* The gate job commits alone (no fault yet); the batch commit of the rest then fails once. */
	atomic_store(&f->cs.fail_commits, 1);
	uv_sem_post(&f->gate);
	finish(f);
	for (int i = 1; i <= N; i++)
		if (r[i].rc != 0)
			fail_msg("job %d: got rc %d, want 0 after rerun alone", i, r[i].rc);
	if (count_events(f) != N)
		fail_msg("events stored: got %lld, want %d (each exactly once)", (long long)count_events(f), N);
	if (order_bad)
		fail_msg("completions out of submission order: %d", order_bad);
}

static void t_destroy_with_pending(void **state)
{
	struct fx *f = *state;
	enum { N = 50 };
	struct jr r[N];
	memset(r, 0, sizeof(r));
	order_next = 0;
	order_bad = 0;
	assert_int_equal(cg_storeq_create(&f->loop, &f->cs.base, 1, &f->q), 0);
	submit_gate(f, &r[0]);
	for (int i = 1; i < N; i++) {
		r[i].idx = i;
		assert_int_equal(cg_storeq_submit(f->q, job_enqueue, done_record, &r[i]), 0);
	}
	cg_storeq_destroy(f->q, on_closed, f);
	/* Refused after destroy began, even while queued work is still running. */
	struct jr late = {.idx = -1};
	int rc = cg_storeq_submit(f->q, job_enqueue, done_record, &late);
	if (rc != CG_ECLOSED)
		fail_msg("submit after destroy: got %d, want CG_ECLOSED", rc);
	cg_storeq_destroy(f->q, on_closed, f); /* a second destroy is harmless */
	uv_sem_post(&f->gate);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	if (f->closed != 1)
		fail_msg("on_closed calls: got %d, want 1", f->closed);
	for (int i = 0; i < N; i++)
		if (r[i].done_calls != 1 || r[i].rc != 0)
			fail_msg("job %d: got %d done calls rc %d, want 1 rc 0", i, r[i].done_calls, r[i].rc);
	assert_int_equal(late.done_calls, 0);
	assert_int_equal(atomic_load(&late.runs), 0);
	if (count_events(f) != N - 1)
		fail_msg("events stored: got %lld, want %d", (long long)count_events(f), N - 1);
	rc = uv_loop_close(&f->loop);
	if (rc != 0)
		fail_msg("uv_loop_close: got %s, want 0", uv_err_name(rc));
}

/* Completions run on the loop thread and can submit follow-up jobs. */
static uv_thread_t loop_thread;
static int chain_left;
static int chain_wrong_thread;

static int job_nop(struct cg_store *st, void *ud)
{
	(void)st;
	(void)ud;
	return 0;
}

static void done_chain(int rc, void *ud)
{
	struct fx *f = ud;
	uv_thread_t self = uv_thread_self();
	if (!uv_thread_equal(&self, &loop_thread) || rc != 0)
		chain_wrong_thread++;
	if (--chain_left > 0)
		assert_int_equal(cg_storeq_submit(f->q, job_nop, done_chain, f), 0);
	else
		cg_storeq_destroy(f->q, on_closed, f);
}

static void t_chain_on_loop_thread(void **state)
{
	struct fx *f = *state;
	loop_thread = uv_thread_self();
	chain_left = 20;
	chain_wrong_thread = 0;
	assert_int_equal(cg_storeq_create(&f->loop, &f->cs.base, 1, &f->q), 0);
	assert_int_equal(cg_storeq_submit(f->q, job_nop, done_chain, f), 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(chain_left, 0);
	assert_int_equal(chain_wrong_thread, 0);
	assert_int_equal(f->closed, 1);
	assert_int_equal(uv_loop_close(&f->loop), 0);
}

static void t_empty_destroy(void **state)
{
	struct fx *f = *state;
	assert_int_equal(cg_storeq_create(&f->loop, &f->cs.base, 1, &f->q), 0);
	assert_int_equal(cg_storeq_pending(f->q), 0);
	finish(f);
	cg_storeq_destroy(NULL, NULL, NULL);
	assert_int_equal(cg_storeq_pending(NULL), 0);
	assert_int_equal(cg_storeq_create(NULL, &f->cs.base, 1, &f->q), CG_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(t_group_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(t_no_group_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(t_failure_isolation, setup, teardown),
		cmocka_unit_test_setup_teardown(t_commit_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(t_destroy_with_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(t_chain_on_loop_thread, setup, teardown),
		cmocka_unit_test_setup_teardown(t_empty_destroy, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
