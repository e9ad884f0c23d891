/* storeq.c: one store thread running queued jobs in shared transactions; completions go back via uv_async. */
#include "storeq.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "err.h"
#include "workq.h"

#define CG_LOG_COMPONENT "storeq"
#include "log.h"

/* Bounds one transaction: a long batch delays every completion in it and grows the WAL. */
#define BATCH_MAX 256

struct job {
	struct cg_workq_item item; /* first: the queue links jobs through it */
	struct job *next;          /* the batch being run */
	cg_storeq_job_fn fn;
	cg_storeq_done_fn done;
	void *ud;
	int rc;
	int relaxed;
};

struct joblist {
	struct job *head, *tail;
};

struct cg_storeq {
	struct cg_workq *wq; /* the store thread */
	struct cg_store *st;
	int group_commit;
	atomic_uint_fast64_t commits, jobs, busy_us; /* cg_storeq_counts */
	int destroying; /* loop thread */
	void (*on_closed)(void *ud);
	void *on_closed_ud;
	struct cg_storeq_hooks hooks; /* cg_storeq_set_hooks */
};

static void count_commit(struct cg_storeq *q, int committed, uint64_t jobs)
{
	if (!committed)
		return;
	atomic_fetch_add(&q->commits, 1);
	atomic_fetch_add(&q->jobs, jobs);
}

void cg_storeq_counts(const struct cg_storeq *q, struct cg_storeq_counts *out)
{
	out->commits = atomic_load(&((struct cg_storeq *)q)->commits);
	out->jobs = atomic_load(&((struct cg_storeq *)q)->jobs);
	out->busy_us = atomic_load(&((struct cg_storeq *)q)->busy_us);
}

static void txn_end(struct cg_storeq *q, int committed)
{
	if (q->hooks.end)
		q->hooks.end(q->hooks.ud, committed);
}

static int txn_begin(struct cg_storeq *q, int relaxed)
{
	int rc = cg_store_set_relaxed(q->st, relaxed);
	if (!rc)
		rc = cg_store_begin(q->st);
	if (rc)
		txn_end(q, 0);
	else if (q->hooks.begin)
		q->hooks.begin(q->hooks.ud);
	return rc;
}

/* Commits (the precommit hook first), or rolls back when rc (a job's error) is set. */
static int txn_finish(struct cg_storeq *q, int rc)
{
	if (rc == 0 && q->hooks.precommit)
		rc = q->hooks.precommit(q->st, q->hooks.ud);
	if (rc == 0)
		rc = cg_store_commit(q->st);
	if (rc)
		cg_store_rollback(q->st);
	txn_end(q, rc == 0);
	return rc;
}

/* One job in its own transaction. */
static int run_alone(struct cg_storeq *q, struct job *j)
{
	int rc = txn_begin(q, j->relaxed);
	if (rc)
		return rc;
	return txn_finish(q, j->fn(q->st, j->ud));
}

/*
 * All jobs of the batch in one transaction (one fsync for all). When a job or the commit
 * fails, the batch is rolled back and every job runs again alone, so only the jobs that fail
 * on their own report an error. Jobs can therefore run twice: each must reset whatever it
 * writes to its ud at its start.
 */
static void run_batch(struct cg_storeq *q, struct joblist *batch)
{
	struct cg_store *st = q->st;
	struct job *j;
	int rc;

	if (!q->group_commit || batch->head == batch->tail) {
		for (j = batch->head; j; j = j->next) {
			j->rc = run_alone(q, j);
			count_commit(q, j->rc == 0, 1);
		}
		return;
	}
	int relaxed = 1;
	for (j = batch->head; j; j = j->next)
		relaxed &= j->relaxed;
	rc = txn_begin(q, relaxed);
	if (rc == 0) {
		for (j = batch->head; j && rc == 0; j = j->next)
			rc = j->fn(st, j->ud);
		rc = txn_finish(q, rc);
	}
	if (rc == 0) {
		uint64_t n = 0;
		for (j = batch->head; j; j = j->next, n++)
			j->rc = 0;
		count_commit(q, 1, n);
		return;
	}
	CG_LOG_DEBUG("batch failed (%s): running its jobs one by one", cg_strerror(rc));
	for (j = batch->head; j; j = j->next) {
		j->rc = run_alone(q, j);
		count_commit(q, j->rc == 0, 1);
	}
}

static void run_items(void *ud, struct cg_workq_item *head, size_t n)
{
	struct cg_storeq *q = ud;
	(void)n;
	struct joblist batch = {0};
	for (struct cg_workq_item *it = head; it; it = it->next) {
		struct job *j = (struct job *)it;
		j->next = NULL;
		if (batch.tail)
			batch.tail->next = j;
		else
			batch.head = j;
		batch.tail = j;
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	run_batch(q, &batch);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	int64_t us = (int64_t)(t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000;
	atomic_fetch_add(&q->busy_us, (uint_fast64_t)(us > 0 ? us : 0));
}

static void deliver(void *ud, struct cg_workq_item *it)
{
	(void)ud;
	struct job *j = (struct job *)it;
	if (j->done)
		j->done(j->rc, j->ud);
	free(j);
}

static const struct cg_workq_ops store_thread = {
	.thread_name = "cg-store", /* top -H, perf: which thread spends what */
	.max_items = BATCH_MAX,
	.run = run_items,
	.done = deliver,
};

int cg_storeq_create(uv_loop_t *loop, struct cg_store *st, int group_commit, struct cg_storeq **out)
{
	if (!loop || !st || !out)
		return CG_EINVAL;
	struct cg_storeq *q = calloc(1, sizeof(*q));
	if (!q)
		return CG_ENOMEM;
	q->st = st;
	q->group_commit = group_commit;
	atomic_init(&q->commits, 0);
	atomic_init(&q->jobs, 0);
	atomic_init(&q->busy_us, 0);
	int rc = cg_workq_create(loop, &store_thread, q, &q->wq);
	if (rc) {
		free(q);
		return rc;
	}
	*out = q;
	return 0;
}

void cg_storeq_set_hooks(struct cg_storeq *q, const struct cg_storeq_hooks *h)
{
	q->hooks = *h; /* before the first job: the queue's lock publishes it to the store thread */
}

static int submit(struct cg_storeq *q, cg_storeq_job_fn job, cg_storeq_done_fn done, void *ud, int relaxed)
{
	if (!q || !job)
		return CG_EINVAL;
	struct job *j = calloc(1, sizeof(*j));
	if (!j)
		return CG_ENOMEM;
	j->relaxed = relaxed;
	j->fn = job;
	j->done = done;
	j->ud = ud;
	int rc = cg_workq_submit(q->wq, &j->item);
	if (rc)
		free(j);
	return rc;
}

int cg_storeq_submit(struct cg_storeq *q, cg_storeq_job_fn job, cg_storeq_done_fn done, void *ud)
{
	return submit(q, job, done, ud, 0);
}

int cg_storeq_submit_relaxed(struct cg_storeq *q, cg_storeq_job_fn job, cg_storeq_done_fn done, void *ud)
{
	return submit(q, job, done, ud, 1);
}

struct cg_store *cg_storeq_store(const struct cg_storeq *q)
{
	return q ? q->st : NULL;
}

size_t cg_storeq_pending(const struct cg_storeq *q)
{
	return q ? cg_workq_pending(q->wq) : 0;
}

static void closed(void *ud)
{
	struct cg_storeq *q = ud;
	void (*cb)(void *) = q->on_closed;
	void *cb_ud = q->on_closed_ud;
	free(q);
	if (cb)
		cb(cb_ud);
}

void cg_storeq_destroy(struct cg_storeq *q, void (*on_closed)(void *ud), void *ud)
{
	if (!q || q->destroying)
		return;
	q->destroying = 1;
	q->on_closed = on_closed;
	q->on_closed_ud = ud;
	/* The store thread finishes the queued jobs; their completions come before closed. */
	cg_workq_destroy(q->wq, closed, q);
}
