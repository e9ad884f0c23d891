/* storeq.c: one store thread running queued jobs in shared transactions; completions go back via uv_async. */
#define _GNU_SOURCE /* pthread_setname_np */
#include "storeq.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "err.h"

#define CG_LOG_COMPONENT "storeq"
#include "log.h"

/* Bounds one transaction: a long batch delays every completion in it and grows the WAL. */
#define BATCH_MAX 256

struct job {
	struct job *next;
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
	uv_loop_t *loop;
	struct cg_store *st;
	int group_commit;
	uv_thread_t thread;
	uv_mutex_t mu;
	uv_cond_t cond;
	uv_async_t async;
	struct joblist queue; /* submitted, not yet run (mu) */
	struct joblist done;  /* run, completion not yet delivered (mu) */
	int closing;          /* destroy began: refuse jobs, worker exits when queue is empty (mu) */
	int exited;           /* worker finished; its last completions are in done (mu) */
	int joined;           /* loop thread only */
	atomic_size_t pending;
	atomic_uint_fast64_t commits, jobs, busy_us; /* cg_storeq_counts */
	void (*on_closed)(void *ud);
	void *on_closed_ud;
	struct cg_storeq_hooks hooks; /* cg_storeq_set_hooks */
};

static void list_push(struct joblist *l, struct job *j)
{
	j->next = NULL;
	if (l->tail)
		l->tail->next = j;
	else
		l->head = j;
	l->tail = j;
}

static void list_append(struct joblist *l, struct joblist *more)
{
	if (!more->head)
		return;
	if (l->tail)
		l->tail->next = more->head;
	else
		l->head = more->head;
	l->tail = more->tail;
	more->head = more->tail = NULL;
}

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

static void worker(void *arg)
{
	struct cg_storeq *q = arg;
	pthread_setname_np(pthread_self(), "cg-store"); /* top -H, perf: which thread spends what */

	uv_mutex_lock(&q->mu);
	for (;;) {
		while (!q->queue.head && !q->closing)
			uv_cond_wait(&q->cond, &q->mu);
		if (!q->queue.head)
			break; /* closing and drained */
		struct joblist batch = {0};
		for (size_t n = 0; q->queue.head && n < BATCH_MAX; n++) {
			struct job *j = q->queue.head;
			q->queue.head = j->next;
			list_push(&batch, j);
		}
		if (!q->queue.head)
			q->queue.tail = NULL;
		uv_mutex_unlock(&q->mu);

		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		run_batch(q, &batch);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		int64_t us = (int64_t)(t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000;
		atomic_fetch_add(&q->busy_us, (uint_fast64_t)(us > 0 ? us : 0));

		uv_mutex_lock(&q->mu);
		list_append(&q->done, &batch);
		uv_async_send(&q->async);
	}
	q->exited = 1;
	uv_mutex_unlock(&q->mu);
	uv_async_send(&q->async);
}

static void on_async_closed(uv_handle_t *h)
{
	struct cg_storeq *q = h->data;
	void (*cb)(void *) = q->on_closed;
	void *ud = q->on_closed_ud;
	uv_cond_destroy(&q->cond);
	uv_mutex_destroy(&q->mu);
	free(q);
	if (cb)
		cb(ud);
}

static void on_async(uv_async_t *a)
{
	struct cg_storeq *q = a->data;
	struct joblist done;
	int exited;

	uv_mutex_lock(&q->mu);
	done = q->done;
	q->done.head = q->done.tail = NULL;
	exited = q->exited;
	uv_mutex_unlock(&q->mu);

	/* Worker order is submission order, so completions are too. */
	while (done.head) {
		struct job *j = done.head;
		done.head = j->next;
		atomic_fetch_sub(&q->pending, 1);
		if (j->done)
			j->done(j->rc, j->ud);
		free(j);
	}
	if (exited && !q->joined) {
		q->joined = 1;
		uv_thread_join(&q->thread);
		uv_close((uv_handle_t *)&q->async, on_async_closed);
	}
}

int cg_storeq_create(uv_loop_t *loop, struct cg_store *st, int group_commit, struct cg_storeq **out)
{
	struct cg_storeq *q;
	if (!loop || !st || !out)
		return CG_EINVAL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return CG_ENOMEM;
	q->loop = loop;
	q->st = st;
	q->group_commit = group_commit;
	atomic_init(&q->pending, 0);
	atomic_init(&q->commits, 0);
	atomic_init(&q->jobs, 0);
	atomic_init(&q->busy_us, 0);
	if (uv_mutex_init(&q->mu) != 0) {
		free(q);
		return CG_ENOMEM;
	}
	if (uv_cond_init(&q->cond) != 0) {
		uv_mutex_destroy(&q->mu);
		free(q);
		return CG_ENOMEM;
	}
	if (uv_async_init(loop, &q->async, on_async) != 0) {
		uv_cond_destroy(&q->cond);
		uv_mutex_destroy(&q->mu);
		free(q);
		return CG_EIO;
	}
	q->async.data = q;
	if (uv_thread_create(&q->thread, worker, q) != 0) {
		/* The handle is initialised: q can only be freed by its close callback. */
		q->joined = 1;
		uv_close((uv_handle_t *)&q->async, on_async_closed);
		return CG_EIO;
	}
	*out = q;
	return 0;
}

void cg_storeq_set_hooks(struct cg_storeq *q, const struct cg_storeq_hooks *h)
{
	uv_mutex_lock(&q->mu); /* published to the worker by its next lock of mu */
	q->hooks = *h;
	uv_mutex_unlock(&q->mu);
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
	uv_mutex_lock(&q->mu);
	if (q->closing) {
		uv_mutex_unlock(&q->mu);
		free(j);
		return CG_ECLOSED;
	}
	atomic_fetch_add(&q->pending, 1);
	list_push(&q->queue, j);
	uv_cond_signal(&q->cond);
	uv_mutex_unlock(&q->mu);
	return 0;
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
	if (!q)
		return 0;
	/* atomic_load wants a non-const object in C11 even for a read. */
	return atomic_load(&((struct cg_storeq *)q)->pending);
}

void cg_storeq_destroy(struct cg_storeq *q, void (*on_closed)(void *ud), void *ud)
{
	if (!q)
		return;
	uv_mutex_lock(&q->mu);
	if (q->closing) {
		uv_mutex_unlock(&q->mu);
		return;
	}
	q->closing = 1;
	q->on_closed = on_closed;
	q->on_closed_ud = ud;
	uv_cond_signal(&q->cond);
	uv_mutex_unlock(&q->mu);
	/* The worker drains the queue, then reports exited through the async handle; on_async
	 * delivers the last completions, joins the thread and closes the handle. */
}
