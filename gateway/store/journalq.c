/* journalq.c: the journal writer thread: records queued on the loop, written in batches, completions via uv_async. */
#include "journal.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "err.h"
#include "workq.h"

#define CG_LOG_COMPONENT "journal"
#include "log.h"

struct rec {
	struct cg_workq_item item; /* first: the queue links records through it */
	void *data;
	size_t len;
	cg_journalq_done_fn done;
	void *ud;
	int rc;
	uint64_t seq;
};

struct cg_journalq {
	struct cg_workq *wq; /* the writer thread */
	struct cg_journal *j;
	struct iovec *iov;   /* the writer's, CG_JOURNALQ_BATCH_RECORDS of them */
	int destroying;      /* loop thread */
	atomic_uint_fast64_t batches, records, bytes;
	void (*on_closed)(void *ud);
	void *on_closed_ud;
};

void cg_journalq_counts(const struct cg_journalq *q, struct cg_journalq_counts *out)
{
	struct cg_journalq *m = (struct cg_journalq *)q; /* atomic_load wants a non-const object in C11 */
	out->batches = atomic_load(&m->batches);
	out->records = atomic_load(&m->records);
	out->bytes = atomic_load(&m->bytes);
}

/* Writer thread: one append (one fdatasync) for the batch; every record gets its outcome, and
 * its data is freed. */
static void write_batch(void *ud, struct cg_workq_item *head, size_t n)
{
	struct cg_journalq *q = ud;
	uint64_t bytes = 0, first = 0;
	size_t i = 0;
	struct cg_workq_item *it;
	for (it = head; it; it = it->next, i++) {
		struct rec *r = (struct rec *)it;
		q->iov[i].iov_base = r->data;
		q->iov[i].iov_len = r->len;
		bytes += r->len;
	}
	int rc = cg_journal_append(q->j, q->iov, n, &first);
	if (rc == 0) {
		atomic_fetch_add(&q->batches, 1);
		atomic_fetch_add(&q->records, n);
		atomic_fetch_add(&q->bytes, bytes);
	}
	i = 0;
	for (it = head; it; it = it->next, i++) {
		struct rec *r = (struct rec *)it;
		r->rc = rc;
		r->seq = rc == 0 ? first + i : 0;
		free(r->data);
		r->data = NULL;
	}
}

/* Loop thread: the record's outcome to its owner. */
static void deliver(void *ud, struct cg_workq_item *it)
{
	(void)ud;
	struct rec *r = (struct rec *)it;
	if (r->done)
		r->done(r->rc, r->seq, r->ud);
	free(r);
}

static size_t rec_weight(const struct cg_workq_item *it)
{
	return ((const struct rec *)it)->len;
}

/* Everything queued, within the caps; a record over the byte cap goes alone. */
static const struct cg_workq_ops writer_thread = {
	.thread_name = "cg-journal",
	.max_items = CG_JOURNALQ_BATCH_RECORDS,
	.max_weight = CG_JOURNALQ_BATCH_BYTES,
	.weight = rec_weight,
	.run = write_batch,
	.done = deliver,
};

int cg_journalq_create(uv_loop_t *loop, struct cg_journal *j, struct cg_journalq **out)
{
	if (!loop || !j || !out)
		return CG_EINVAL;
	struct cg_journalq *q = calloc(1, sizeof(*q));
	if (!q || !(q->iov = malloc(CG_JOURNALQ_BATCH_RECORDS * sizeof(*q->iov)))) {
		free(q);
		return CG_ENOMEM;
	}
	q->j = j;
	atomic_init(&q->batches, 0);
	atomic_init(&q->records, 0);
	atomic_init(&q->bytes, 0);
	int rc = cg_workq_create(loop, &writer_thread, q, &q->wq);
	if (rc) {
		free(q->iov);
		free(q);
		return rc;
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
	int rc = cg_workq_submit(q->wq, &r->item);
	if (rc)
		free(r); /* rec stays the caller's */
	return rc;
}

static void closed(void *ud)
{
	struct cg_journalq *q = ud;
	void (*cb)(void *) = q->on_closed;
	void *cb_ud = q->on_closed_ud;
	free(q->iov);
	free(q);
	if (cb)
		cb(cb_ud);
}

void cg_journalq_destroy(struct cg_journalq *q, void (*on_closed)(void *ud), void *ud)
{
	if (!q || q->destroying)
		return;
	q->destroying = 1;
	q->on_closed = on_closed;
	q->on_closed_ud = ud;
	/* The writer appends what is queued; its completions come before closed. */
	cg_workq_destroy(q->wq, closed, q);
}
