/* indexer.c: journaled webhooks into the store, in journal order: the record, the put, the running indexer and the replay at start. */
#define CG_LOG_COMPONENT "indexer"
#include "indexer.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "log.h"

/* ---- the put: one request's store write ---- */

int cg_intake_put_run(struct cg_store *st, struct cg_intake_put *p)
{
	p->duplicate = 0; /* it may run again after its batch rolled back */
	if (p->heard_ms) {
		/* The sender is alive (a redelivery too): the source's heartbeat, in the same transaction. */
		int rc = cg_store_hb_heard(st, p->source, p->heard_ms);
		if (rc)
			return rc;
	}
	if (p->replay_id[0]) {
		/* Same transaction as the enqueue: a rolled-back store leaves the id unseen, so the
		 * sender's retry is accepted. A repeat adds nothing and is acknowledged (a sender
		 * whose 202 was lost retries with the same id): no error, which would roll back the
		 * other webhooks of the batch. */
		int was = 0;
		int rc = cg_store_seen(st, p->replay_ns, p->replay_id, p->accepted_ms, &was);
		if (rc)
			return rc;
		if (was) {
			p->duplicate = 1;
			return 0;
		}
	}
	if (p->message_id[0]) {
		/* Same transaction as the enqueue: the id is remembered only if the events commit. */
		int was = 0;
		int rc = cg_store_seen(st, p->source, p->message_id, p->accepted_ms, &was);
		if (rc)
			return rc;
		if (was) {
			p->duplicate = 2;
			return 0;
		}
	}
	if (!p->n)
		return 0; /* none: only heartbeat alerts */
	/* A source that folds storms decides here, with the window and the storm in this transaction. */
	return cg_storm_enqueue(st, &p->storm, p->evs, p->n, p->accepted_ms, &p->fold);
}

const struct cg_store_event *cg_intake_put_stored(const struct cg_intake_put *p, size_t *n)
{
	*n = p->storm.max_new ? p->fold.n : p->n;
	return p->storm.max_new ? p->fold.evs : p->evs;
}

void cg_intake_put_cleanup(struct cg_intake_put *p)
{
	if (p->evs)
		cg_store_events_free(p->evs, p->n);
	p->evs = NULL;
	p->n = 0;
	cg_storm_fold_cleanup(&p->fold);
}

/* ---- the record: little-endian fields, strings as u32 length + bytes ---- */

#define REC_KIND 'W' /* a webhook's put */
#define REC_VERSION 1
#define NO_STRING UINT32_MAX /* a NULL string */

struct wbuf {
	unsigned char *p;
	size_t len, cap;
	int oom;
};

static void w_bytes(struct wbuf *b, const void *v, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 512;
		while (cap < b->len + n)
			cap *= 2;
		unsigned char *np = realloc(b->p, cap);
		if (!np) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, v, n);
	b->len += n;
}

static void w_u64(struct wbuf *b, uint64_t v)
{
	unsigned char x[8];
	for (int i = 0; i < 8; i++)
		x[i] = (unsigned char)(v >> (8 * i));
	w_bytes(b, x, 8);
}

static void w_u32(struct wbuf *b, uint32_t v)
{
	unsigned char x[4];
	for (int i = 0; i < 4; i++)
		x[i] = (unsigned char)(v >> (8 * i));
	w_bytes(b, x, 4);
}

static void w_str(struct wbuf *b, const char *s)
{
	if (!s) {
		w_u32(b, NO_STRING);
		return;
	}
	size_t n = strlen(s);
	w_u32(b, (uint32_t)n);
	w_bytes(b, s, n);
}

static size_t event_size(const struct cg_store_event *e)
{
	size_t n = 64;
	const char *s[] = {e->source, e->dedup_key, e->severity, e->payload};
	for (size_t i = 0; i < 4; i++)
		n += 4 + (s[i] ? strlen(s[i]) : 0);
	return n;
}

int cg_intake_put_encode(const struct cg_intake_put *p, void **out, size_t *len)
{
	struct wbuf b = {0};
	size_t want = 1024;
	for (size_t i = 0; i < p->n; i++)
		want += event_size(&p->evs[i]);
	b.p = malloc(want);
	if (!b.p)
		return CG_ENOMEM;
	b.cap = want;
	unsigned char head[2] = {REC_KIND, REC_VERSION};
	w_bytes(&b, head, 2);
	w_u64(&b, (uint64_t)p->accepted_ms);
	w_u64(&b, (uint64_t)p->heard_ms);
	w_str(&b, p->source);
	w_str(&b, p->replay_ns);
	w_str(&b, p->replay_id);
	w_str(&b, p->message_id);
	w_str(&b, p->storm.source);
	w_u32(&b, p->storm.max_new);
	w_u64(&b, (uint64_t)p->storm.per_ms);
	w_u64(&b, (uint64_t)p->storm.digest_ms);
	w_u32(&b, (uint32_t)p->n);
	for (size_t i = 0; i < p->n; i++) {
		const struct cg_store_event *e = &p->evs[i];
		w_str(&b, e->source);
		w_str(&b, e->dedup_key);
		w_u32(&b, (uint32_t)e->status);
		w_u32(&b, (uint32_t)e->priority);
		w_str(&b, e->severity);
		w_str(&b, e->payload);
		w_u64(&b, (uint64_t)e->received_ms);
		w_u64(&b, (uint64_t)e->next_ms);
	}
	if (b.oom) {
		free(b.p);
		return CG_ENOMEM;
	}
	*out = b.p;
	*len = b.len;
	return 0;
}

struct rbuf {
	const unsigned char *p;
	size_t len, off;
	int bad;
};

static uint64_t r_u64(struct rbuf *r)
{
	if (r->bad || r->len - r->off < 8) {
		r->bad = 1;
		return 0;
	}
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)r->p[r->off + (size_t)i] << (8 * i);
	r->off += 8;
	return v;
}

static uint32_t r_u32(struct rbuf *r)
{
	if (r->bad || r->len - r->off < 4) {
		r->bad = 1;
		return 0;
	}
	uint32_t v = 0;
	for (int i = 0; i < 4; i++)
		v |= (uint32_t)r->p[r->off + (size_t)i] << (8 * i);
	r->off += 4;
	return v;
}

/* A string into a fixed buffer (NUL-free, fits), or malloc'd (*dup; NULL allowed when nullable). */
static void r_fixed(struct rbuf *r, char *dst, size_t cap)
{
	uint32_t n = r_u32(r);
	if (r->bad || n == NO_STRING || n >= cap || r->len - r->off < n || memchr(r->p + r->off, 0, n)) {
		r->bad = 1;
		return;
	}
	memcpy(dst, r->p + r->off, n);
	dst[n] = 0;
	r->off += n;
}

static char *r_dup(struct rbuf *r, int nullable)
{
	uint32_t n = r_u32(r);
	if (r->bad)
		return NULL;
	if (n == NO_STRING) {
		if (!nullable)
			r->bad = 1;
		return NULL;
	}
	if (r->len - r->off < n || memchr(r->p + r->off, 0, n)) {
		r->bad = 1;
		return NULL;
	}
	char *s = malloc((size_t)n + 1);
	if (!s) {
		r->bad = 2;
		return NULL;
	}
	memcpy(s, r->p + r->off, n);
	s[n] = 0;
	r->off += n;
	return s;
}

int cg_intake_put_decode(const void *rec, size_t len, struct cg_intake_put *p)
{
	struct rbuf r = {rec, len, 0, 0};
	if (len < 2 || r.p[0] != REC_KIND || r.p[1] != REC_VERSION)
		return CG_EINVAL;
	r.off = 2;
	p->accepted_ms = (int64_t)r_u64(&r);
	p->heard_ms = (int64_t)r_u64(&r);
	r_fixed(&r, p->source, sizeof(p->source));
	r_fixed(&r, p->replay_ns, sizeof(p->replay_ns));
	r_fixed(&r, p->replay_id, sizeof(p->replay_id));
	r_fixed(&r, p->message_id, sizeof(p->message_id));
	r_fixed(&r, p->storm.source, sizeof(p->storm.source));
	p->storm.max_new = r_u32(&r);
	p->storm.per_ms = (int64_t)r_u64(&r);
	p->storm.digest_ms = (int64_t)r_u64(&r);
	uint32_t n = r_u32(&r);
	/* Each event takes at least 40 bytes: a count past what is left is not a record. */
	if (r.bad || n > (r.len - r.off) / 40) {
		cg_intake_put_cleanup(p);
		return CG_EINVAL;
	}
	if (n && !(p->evs = calloc(n, sizeof(*p->evs))))
		return CG_ENOMEM;
	for (uint32_t i = 0; i < n && !r.bad; i++) {
		struct cg_store_event *e = &p->evs[i];
		p->n = (size_t)i + 1;
		e->source = r_dup(&r, 0);
		e->dedup_key = r_dup(&r, 0);
		e->status = (int)r_u32(&r);
		e->priority = (int)r_u32(&r);
		e->severity = r_dup(&r, 1);
		e->payload = r_dup(&r, 0);
		e->received_ms = (int64_t)r_u64(&r);
		e->next_ms = (int64_t)r_u64(&r);
	}
	if (r.bad || r.off != r.len) {
		int oom = r.bad == 2;
		cg_intake_put_cleanup(p);
		return oom ? CG_ENOMEM : CG_EINVAL;
	}
	return 0;
}

/* ---- the watermark ---- */

int cg_indexer_watermark(struct cg_store *st, uint64_t *seq)
{
	struct cg_store_kv kv = {0};
	*seq = 0;
	int rc = cg_store_kv_get(st, CG_INDEXER_KEY, &kv);
	if (rc == CG_ENOENT)
		return 0;
	if (rc)
		return rc;
	char *end = NULL;
	unsigned long long v = kv.v ? strtoull(kv.v, &end, 10) : 0;
	rc = kv.v && end != kv.v && *end == 0 ? 0 : CG_EIO;
	cg_store_kv_cleanup(&kv);
	*seq = (uint64_t)v;
	return rc;
}

static int watermark_put(struct cg_store *st, uint64_t seq)
{
	char v[32];
	snprintf(v, sizeof(v), "%" PRIu64, seq);
	return cg_store_kv_put(st, CG_INDEXER_KEY, v, 0);
}

/* ---- the replay at start ---- */

#define REPLAY_BATCH 256

struct replay {
	struct cg_store *st;
	size_t n, in_txn;
	uint64_t last;
	int rc;
	char *err;
	size_t errlen;
};

static int replay_commit(struct replay *r)
{
	if (!r->in_txn)
		return 0;
	int rc = watermark_put(r->st, r->last);
	if (!rc)
		rc = cg_store_commit(r->st);
	if (rc) {
		cg_store_rollback(r->st);
		snprintf(r->err, r->errlen, "applying journal records up to %" PRIu64 ": %s", r->last, cg_strerror(rc));
		return rc;
	}
	r->n += r->in_txn;
	r->in_txn = 0;
	return 0;
}

static int replay_one(uint64_t seq, const void *rec, size_t len, void *ud)
{
	struct replay *r = ud;
	struct cg_intake_put p;
	memset(&p, 0, sizeof(p));
	int rc = cg_intake_put_decode(rec, len, &p);
	if (rc) {
		snprintf(r->err, r->errlen, "journal record %" PRIu64 " (%zu bytes): %s", seq, len,
			 rc == CG_EINVAL ? "not a webhook record" : cg_strerror(rc));
		return rc;
	}
	if (!r->in_txn && (rc = cg_store_begin(r->st)) != 0) {
		cg_intake_put_cleanup(&p);
		snprintf(r->err, r->errlen, "journal replay: %s", cg_strerror(rc));
		return rc;
	}
	rc = cg_intake_put_run(r->st, &p);
	cg_intake_put_cleanup(&p);
	if (rc) {
		cg_store_rollback(r->st);
		r->in_txn = 0;
		snprintf(r->err, r->errlen, "journal record %" PRIu64 ": %s", seq, cg_strerror(rc));
		return rc;
	}
	r->in_txn++;
	r->last = seq;
	return r->in_txn >= REPLAY_BATCH ? replay_commit(r) : 0;
}

int cg_indexer_replay(struct cg_store *st, struct cg_journal *jr, size_t *n, char *err, size_t errlen)
{
	uint64_t mark = 0;
	*n = 0;
	int rc = cg_store_begin(st);
	if (!rc) {
		rc = cg_indexer_watermark(st, &mark);
		cg_store_rollback(st);
	}
	if (rc) {
		snprintf(err, errlen, "reading the journal watermark: %s", cg_strerror(rc));
		return rc;
	}
	struct replay r = {.st = st, .err = err, .errlen = errlen};
	rc = cg_journal_replay(jr, mark, replay_one, &r);
	if (!rc)
		rc = replay_commit(&r);
	else if (r.in_txn)
		cg_store_rollback(st);
	*n = r.n;
	if (rc)
		return rc;
	/* Each commit above was a durable (synchronous=FULL) one: what it covers can go. Without
	 * one, the watermark may come from a relaxed commit not yet on disk: make it durable first. */
	uint64_t upto = r.n ? r.last : mark;
	if (!r.n && mark) {
		rc = cg_store_begin(st);
		if (!rc && !(rc = watermark_put(st, mark)))
			rc = cg_store_commit(st);
		if (rc) {
			cg_store_rollback(st);
			CG_LOG_WARN("making the journal watermark durable: %s (segments retired later)", cg_strerror(rc));
			return 0;
		}
	}
	if (upto && (rc = cg_journal_retire(jr, upto)) != 0)
		CG_LOG_WARN("retiring indexed journal segments: %s (they are retried later)", cg_strerror(rc));
	return 0;
}

/* ---- the running indexer ---- */

/*
 * Records wait in `pending` (under mu) for the store thread: one store job takes everything that
 * accumulated by the time it runs (one hand-over and one watermark write for many webhooks),
 * and a new job is queued only when none is waiting to start.
 *
 * Order is enforced on the store thread: a job applies its records only when its first seq is
 * the next one after what is committed (st_next) and what this transaction applied already;
 * otherwise (an earlier record failed, or its transaction did) it does nothing and comes back
 * with CG_EAGAIN, to be held and retried in order. So the watermark never passes an unapplied
 * record, whatever failed: a record's write, the watermark's, BEGIN or COMMIT.
 */
struct cg_indexer {
	struct cg_storeq *q;
	struct cg_journal *jr;
	uv_mutex_t mu;
	struct cg_index_job *pending, *pending_tail; /* mu: journaled, for the next job to take */
	int job_queued;                              /* mu: a job is queued that has not taken yet */
	/* Loop thread. */
	struct cg_index_job *held, *held_tail; /* in seq order: waiting for a retry after a failure */
	int stalled;
	int stopped;        /* cg_indexer_stop: no retries, held jobs settled */
	size_t inflight;    /* jobs in the store queue */
	uint64_t submitted; /* highest seq handed over */
	uint64_t applied;   /* highest seq applied (committed) */
	uint64_t retired;   /* segments up to here were retired */
	int retire_busy;
	unsigned ticks;
	/* Store thread. */
	uint64_t st_next;  /* the next seq to apply: every seq before it is committed */
	uint64_t txn_next; /* the same within the open transaction */
	uint64_t txn_max;  /* highest seq applied in the open transaction (0: none) */
};

/* One store job: the records it took, in seq order. */
struct index_batch {
	struct cg_indexer *ix;
	struct cg_index_job *list;
	int taken;
};

static void take_pending(struct cg_indexer *ix, struct index_batch *b)
{
	uv_mutex_lock(&ix->mu);
	b->list = ix->pending;
	ix->pending = ix->pending_tail = NULL;
	ix->job_queued = 0;
	uv_mutex_unlock(&ix->mu);
	b->taken = 1;
}

static int index_run(struct cg_store *st, void *ud)
{
	struct index_batch *b = ud;
	struct cg_indexer *ix = b->ix;
	if (!b->taken)
		take_pending(ix, b); /* a run again after a rollback keeps what the first one took */
	for (struct cg_index_job *ij = b->list; ij; ij = ij->next) {
		if (ij->seq != ix->txn_next)
			return CG_EAGAIN; /* an earlier record is not in: never apply past it (all held) */
		int rc = cg_intake_put_run(st, ij->put);
		if (rc)
			return rc;
		ix->txn_max = ij->seq;
		ix->txn_next = ij->seq + 1;
	}
	return 0;
}

static void txn_begin(void *ud)
{
	struct cg_indexer *ix = ud;
	ix->txn_next = ix->st_next;
	ix->txn_max = 0;
}

/* One watermark write per transaction, however many records it applied. */
static int txn_precommit(struct cg_store *st, void *ud)
{
	struct cg_indexer *ix = ud;
	return ix->txn_max ? watermark_put(st, ix->txn_max) : 0;
}

static void txn_end(void *ud, int committed)
{
	struct cg_indexer *ix = ud;
	if (committed && ix->txn_max)
		ix->st_next = ix->txn_max + 1;
	ix->txn_max = 0;
}

static void hold(struct cg_indexer *ix, struct cg_index_job *ij)
{
	/* Sorted insert; most belong at the end (held straight from the journal). */
	if (!ix->held_tail || ix->held_tail->seq < ij->seq) {
		ij->next = NULL;
		if (ix->held_tail)
			ix->held_tail->next = ij;
		else
			ix->held = ij;
		ix->held_tail = ij;
		return;
	}
	struct cg_index_job **pp = &ix->held;
	while (*pp && (*pp)->seq < ij->seq)
		pp = &(*pp)->next;
	ij->next = *pp;
	*pp = ij;
}

/* Each record of a finished (or refused) job to its owner; failed ones are held. */
static void settle(struct cg_indexer *ix, struct cg_index_job *list, int rc)
{
	while (list) {
		struct cg_index_job *ij = list;
		list = ij->next;
		ij->next = NULL;
		if (rc == 0) {
			if (ij->seq > ix->applied)
				ix->applied = ij->seq;
			ij->done(ij, 0);
		} else if (ij->done(ij, rc)) {
			hold(ix, ij);
		}
	}
}

static void index_done(int rc, void *ud)
{
	struct index_batch *b = ud;
	struct cg_indexer *ix = b->ix;
	ix->inflight--;
	if (!b->taken) {
		/* The job never ran (its transaction could not begin): what it was to take is its. */
		take_pending(ix, b);
		if (!rc)
			rc = CG_EIO;
	}
	if (rc && b->list) {
		if (!ix->stalled && rc != CG_EAGAIN)
			CG_LOG_ERR("indexing journal records from %" PRIu64 " failed: %s; holding them and the records "
				   "after them (they are durable in the journal) and retrying every second",
				   b->list->seq, cg_strerror(rc));
		ix->stalled = 1;
	}
	settle(ix, b->list, rc);
	free(b);
}

/* Appends list (in seq order, after everything pending) and queues a job unless one is waiting. */
static void submit_list(struct cg_indexer *ix, struct cg_index_job *list, struct cg_index_job *tail)
{
	uv_mutex_lock(&ix->mu);
	if (ix->pending_tail)
		ix->pending_tail->next = list;
	else
		ix->pending = list;
	ix->pending_tail = tail;
	int need = !ix->job_queued;
	ix->job_queued = 1;
	uv_mutex_unlock(&ix->mu);
	if (!need)
		return;
	struct index_batch *b = calloc(1, sizeof(*b));
	int rc = CG_ENOMEM;
	if (b) {
		b->ix = ix;
		ix->inflight++;
		/* Relaxed: the records are durable in the journal, and segments are retired only after
		 * an ordinary commit (retire_run). */
		rc = cg_storeq_submit_relaxed(ix->q, index_run, index_done, b);
		if (rc == 0)
			return;
		ix->inflight--;
		free(b);
	}
	/* No job: what is pending is held (out of memory: retried by the tick; the store queue
	 * closing: left in the journal for the next start). */
	uv_mutex_lock(&ix->mu);
	struct cg_index_job *p = ix->pending;
	ix->pending = ix->pending_tail = NULL;
	ix->job_queued = 0;
	uv_mutex_unlock(&ix->mu);
	ix->stalled = 1;
	settle(ix, p, rc == CG_ECLOSED ? CG_ECLOSED : CG_ENOMEM);
}

int cg_indexer_create(struct cg_storeq *q, struct cg_journal *jr, struct cg_indexer **out)
{
	struct cg_indexer *ix = calloc(1, sizeof(*ix));
	if (!ix)
		return CG_ENOMEM;
	if (uv_mutex_init(&ix->mu) != 0) {
		free(ix);
		return CG_ENOMEM;
	}
	ix->q = q;
	ix->jr = jr;
	/* After the replay at start every journaled record is applied: the next one is new. */
	ix->applied = ix->retired = cg_journal_last_seq(jr);
	ix->submitted = ix->applied;
	ix->st_next = ix->applied + 1;
	struct cg_storeq_hooks h = {.begin = txn_begin, .precommit = txn_precommit, .end = txn_end, .ud = ix};
	cg_storeq_set_hooks(q, &h);
	*out = ix;
	return 0;
}

void cg_indexer_submit(struct cg_indexer *ix, struct cg_index_job *ij)
{
	ij->ix = ix;
	ij->next = NULL;
	if (ij->seq > ix->submitted)
		ix->submitted = ij->seq;
	if (ix->stalled || ix->stopped) {
		/* Behind a failure: held (and told, so a waiting sender gets its answer now). */
		if (ij->done(ij, ix->stopped ? CG_ECLOSED : CG_EAGAIN))
			hold(ix, ij);
		return;
	}
	submit_list(ix, ij, ij);
}

/* The watermark made durable (a synchronous commit), then the segments it covers deleted. */
struct retire_job {
	struct cg_indexer *ix;
	uint64_t mark;
};

static int retire_run(struct cg_store *st, void *ud)
{
	struct retire_job *r = ud;
	int rc = cg_indexer_watermark(st, &r->mark);
	/* A write, so that this commit syncs the store's log (and every commit before it). */
	return rc ? rc : watermark_put(st, r->mark);
}

static void retire_done(int rc, void *ud)
{
	struct retire_job *r = ud;
	struct cg_indexer *ix = r->ix;
	ix->retire_busy = 0;
	if (rc == 0 && r->mark > ix->retired) {
		rc = cg_journal_retire(ix->jr, r->mark);
		if (rc)
			CG_LOG_WARN("retiring indexed journal segments: %s", cg_strerror(rc));
		else
			ix->retired = r->mark;
	}
	free(r);
}

void cg_indexer_tick(struct cg_indexer *ix)
{
	ix->ticks++;
	if (ix->stopped)
		return;
	if (ix->stalled && ix->inflight == 0) {
		/* Every job that can fail has come back: retry from the first held record, in order. */
		ix->stalled = 0;
		if (ix->held) {
			CG_LOG_INFO("retrying the journal records held since a failure");
			struct cg_index_job *list = ix->held, *tail = ix->held_tail;
			ix->held = ix->held_tail = NULL;
			submit_list(ix, list, tail);
		}
	}
	/* Every 5 s, when something new was applied. */
	if (ix->ticks % 5 == 0 && !ix->retire_busy && ix->applied > ix->retired) {
		struct retire_job *r = calloc(1, sizeof(*r));
		if (!r)
			return;
		r->ix = ix;
		ix->retire_busy = 1;
		if (cg_storeq_submit(ix->q, retire_run, retire_done, r) != 0) {
			ix->retire_busy = 0;
			free(r);
		}
	}
}

int cg_indexer_stalled(const struct cg_indexer *ix)
{
	return ix && ix->stalled;
}

uint64_t cg_indexer_backlog(const struct cg_indexer *ix)
{
	return ix && ix->submitted > ix->applied ? ix->submitted - ix->applied : 0;
}

static void settle_closed(struct cg_index_job *list)
{
	while (list) {
		struct cg_index_job *ij = list;
		list = ij->next;
		ij->next = NULL;
		ij->done(ij, CG_ECLOSED);
	}
}

void cg_indexer_stop(struct cg_indexer *ix)
{
	if (!ix)
		return;
	/* No more retries: what is held stays in the journal for the next start. */
	ix->stopped = 1;
	struct cg_index_job *list = ix->held;
	ix->held = ix->held_tail = NULL;
	settle_closed(list);
}

void cg_indexer_destroy(struct cg_indexer *ix)
{
	if (!ix)
		return;
	/* The store queue has finished: nothing is pending any more but what no job took. */
	settle_closed(ix->held);
	settle_closed(ix->pending);
	uv_mutex_destroy(&ix->mu);
	free(ix);
}
