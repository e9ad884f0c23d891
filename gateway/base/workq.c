/* workq.c: a worker thread fed from the loop: a locked queue, batches, completions via uv_async, drain and join on destroy. */
#define _GNU_SOURCE /* pthread_setname_np */
#include "workq.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "err.h"

struct list {
	struct cg_workq_item *head, *tail;
};

struct cg_workq {
	const struct cg_workq_ops *ops;
	void *ud;
	uv_thread_t thread;
	uv_mutex_t mu;
	uv_cond_t cond;
	uv_async_t async;
	struct list queue; /* submitted, not yet run (mu) */
	struct list done;  /* run, completion not yet delivered (mu) */
	int closing;       /* destroy began: refuse items, the worker exits when the queue is empty (mu) */
	int exited;        /* the worker finished; its last completions are in done (mu) */
	int joined;        /* loop thread only */
	atomic_size_t pending;
	void (*on_closed)(void *ud);
	void *on_closed_ud;
};

static void list_push(struct list *l, struct cg_workq_item *it)
{
	it->next = NULL;
	if (l->tail)
		l->tail->next = it;
	else
		l->head = it;
	l->tail = it;
}

static void list_append(struct list *l, struct list *more)
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

static void worker(void *arg)
{
	struct cg_workq *q = arg;
	const struct cg_workq_ops *ops = q->ops;
	if (ops->thread_name)
		pthread_setname_np(pthread_self(), ops->thread_name);
	uv_mutex_lock(&q->mu);
	for (;;) {
		while (!q->queue.head && !q->closing)
			uv_cond_wait(&q->cond, &q->mu);
		if (!q->queue.head)
			break; /* closing and drained */
		struct list batch = {0};
		size_t n = 0, w = 0;
		while (q->queue.head && n < ops->max_items) {
			struct cg_workq_item *it = q->queue.head;
			size_t iw = ops->weight ? ops->weight(it) : 0;
			if (n > 0 && ops->weight && w + iw > ops->max_weight)
				break;
			q->queue.head = it->next;
			list_push(&batch, it);
			n++;
			w += iw;
		}
		if (!q->queue.head)
			q->queue.tail = NULL;
		uv_mutex_unlock(&q->mu);

		ops->run(q->ud, batch.head, n);

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
	struct cg_workq *q = h->data;
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
	struct cg_workq *q = a->data;
	uv_mutex_lock(&q->mu);
	struct list done = q->done;
	q->done.head = q->done.tail = NULL;
	int exited = q->exited;
	uv_mutex_unlock(&q->mu);

	/* One worker, batches in queue order: completions come in submission order. */
	while (done.head) {
		struct cg_workq_item *it = done.head;
		done.head = it->next;
		atomic_fetch_sub(&q->pending, 1);
		q->ops->done(q->ud, it);
	}
	if (exited && !q->joined) {
		q->joined = 1;
		uv_thread_join(&q->thread);
		uv_close((uv_handle_t *)&q->async, on_async_closed);
	}
}

int cg_workq_create(uv_loop_t *loop, const struct cg_workq_ops *ops, void *ud, struct cg_workq **out)
{
	if (!loop || !ops || !ops->run || !ops->done || !ops->max_items || !out)
		return CG_EINVAL;
	struct cg_workq *q = calloc(1, sizeof(*q));
	if (!q)
		return CG_ENOMEM;
	q->ops = ops;
	q->ud = ud;
	atomic_init(&q->pending, 0);
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

int cg_workq_submit(struct cg_workq *q, struct cg_workq_item *it)
{
	uv_mutex_lock(&q->mu);
	if (q->closing) {
		uv_mutex_unlock(&q->mu);
		return CG_ECLOSED;
	}
	atomic_fetch_add(&q->pending, 1);
	list_push(&q->queue, it);
	uv_cond_signal(&q->cond);
	uv_mutex_unlock(&q->mu);
	return 0;
}

size_t cg_workq_pending(const struct cg_workq *q)
{
	/* atomic_load wants a non-const object in C11 even for a read. */
	return q ? atomic_load(&((struct cg_workq *)q)->pending) : 0;
}

void cg_workq_destroy(struct cg_workq *q, void (*on_closed)(void *ud), void *ud)
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
