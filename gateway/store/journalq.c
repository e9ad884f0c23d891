/* journalq.c: the journal writer thread: records queued on the loop, written in batches, completions via uv_async. */
#define _GNU_SOURCE /* pthread_setname_np */
#include "journal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "err.h"

#define CG_LOG_COMPONENT "journal"
#include "log.h"

struct rec {
	struct rec *next;
	void *data;
	size_t len;
	cg_journalq_done_fn done;
	void *ud;
	int rc;
	uint64_t seq;
};

struct reclist {
	struct rec *head, *tail;
};

struct cg_journalq {
	uv_loop_t *loop;
	struct cg_journal *j;
	uv_thread_t thread;
	uv_mutex_t mu;
	uv_cond_t cond;
	uv_async_t async;
	struct reclist queue; /* submitted, not yet written (mu) */
	struct reclist done;  /* written or failed, completion not yet delivered (mu) */
	int closing;          /* destroy began: refuse records, worker exits when queue is empty (mu) */
	int exited;           /* worker finished; its last completions are in done (mu) */
	int joined;           /* loop thread only */
	atomic_uint_fast64_t batches, records, bytes;
	void (*on_closed)(void *ud);
	void *on_closed_ud;
};

static void list_push(struct reclist *l, struct rec *r)
{
	r->next = NULL;
	if (l->tail)
		l->tail->next = r;
	else
		l->head = r;
	l->tail = r;
}

static void list_append(struct reclist *l, struct reclist *more)
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

void cg_journalq_counts(const struct cg_journalq *q, struct cg_journalq_counts *out)
{
	struct cg_journalq *m = (struct cg_journalq *)q; /* atomic_load wants a non-const object in C11 */
	out->batches = atomic_load(&m->batches);
	out->records = atomic_load(&m->records);
	out->bytes = atomic_load(&m->bytes);
}

/* One append for the batch; every record gets its outcome, and its data is freed. */
static void write_batch(struct cg_journalq *q, struct reclist *batch, size_t n, struct iovec *iov)
{
	size_t i = 0;
	uint64_t bytes = 0, first = 0;
	struct rec *r;
	for (r = batch->head; r; r = r->next, i++) {
		iov[i].iov_base = r->data;
		iov[i].iov_len = r->len;
		bytes += r->len;
	}
	int rc = cg_journal_append(q->j, iov, n, &first);
	if (rc == 0) {
		atomic_fetch_add(&q->batches, 1);
		atomic_fetch_add(&q->records, n);
		atomic_fetch_add(&q->bytes, bytes);
	}
	i = 0;
	for (r = batch->head; r; r = r->next, i++) {
		r->rc = rc;
		r->seq = rc == 0 ? first + i : 0;
		free(r->data);
		r->data = NULL;
	}
}

static void worker(void *arg)
{
	struct cg_journalq *q = arg;
	struct iovec *iov = malloc(CG_JOURNALQ_BATCH_RECORDS * sizeof(*iov));
	pthread_setname_np(pthread_self(), "cg-journal");

	uv_mutex_lock(&q->mu);
	for (;;) {
		while (!q->queue.head && !q->closing)
			uv_cond_wait(&q->cond, &q->mu);
		if (!q->queue.head)
			break; /* closing and drained */
		struct reclist batch = {0};
		size_t n = 0, bytes = 0;
		/* Everything queued, within the caps; a record over the byte cap goes alone. */
		while (q->queue.head && n < CG_JOURNALQ_BATCH_RECORDS &&
		       (n == 0 || bytes + q->queue.head->len <= CG_JOURNALQ_BATCH_BYTES)) {
			struct rec *r = q->queue.head;
			q->queue.head = r->next;
			bytes += r->len;
			n++;
			list_push(&batch, r);
		}
		if (!q->queue.head)
			q->queue.tail = NULL;
		uv_mutex_unlock(&q->mu);

		if (iov) {
			write_batch(q, &batch, n, iov);
		} else {
			for (struct rec *r = batch.head; r; r = r->next) {
				r->rc = CG_ENOMEM;
				free(r->data);
				r->data = NULL;
			}
		}

		uv_mutex_lock(&q->mu);
		list_append(&q->done, &batch);
		uv_async_send(&q->async);
	}
	q->exited = 1;
	uv_mutex_unlock(&q->mu);
	uv_async_send(&q->async);
	free(iov);
}

static void on_async_closed(uv_handle_t *h)
{
	struct cg_journalq *q = h->data;
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
	struct cg_journalq *q = a->data;
	struct reclist done;
	int exited;

	uv_mutex_lock(&q->mu);
	done = q->done;
	q->done.head = q->done.tail = NULL;
	exited = q->exited;
	uv_mutex_unlock(&q->mu);

	/* One worker, batches in queue order: completions come in submission order. */
	while (done.head) {
		struct rec *r = done.head;
		done.head = r->next;
		if (r->done)
			r->done(r->rc, r->seq, r->ud);
		free(r);
	}
	if (exited && !q->joined) {
		q->joined = 1;
		uv_thread_join(&q->thread);
		uv_close((uv_handle_t *)&q->async, on_async_closed);
	}
}

int cg_journalq_create(uv_loop_t *loop, struct cg_journal *j, struct cg_journalq **out)
{
	struct cg_journalq *q;
	if (!loop || !j || !out)
		return CG_EINVAL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return CG_ENOMEM;
	q->loop = loop;
	q->j = j;
	atomic_init(&q->batches, 0);
	atomic_init(&q->records, 0);
	atomic_init(&q->bytes, 0);
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

int cg_journalq_submit(struct cg_journalq *q, void *rec, size_t len, cg_journalq_done_fn done, void *ud)
{
	if (!q || !rec || len == 0 || len > CG_JOURNAL_RECORD_MAX)
		return CG_EINVAL;
	struct rec *r = calloc(1, sizeof(*r));
	if (!r)
		return CG_ENOMEM;
	r->data = rec;
	r->len = len;
	r->done = done;
	r->ud = ud;
	uv_mutex_lock(&q->mu);
	if (q->closing) {
		uv_mutex_unlock(&q->mu);
		free(r);
		return CG_ECLOSED;
	}
	list_push(&q->queue, r);
	uv_cond_signal(&q->cond);
	uv_mutex_unlock(&q->mu);
	return 0;
}

void cg_journalq_destroy(struct cg_journalq *q, void (*on_closed)(void *ud), void *ud)
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
