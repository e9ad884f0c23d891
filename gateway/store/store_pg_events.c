/* store_pg_events.c: the PostgreSQL store's queue: enqueue, claims as leases, progress and outcome, fencing. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "err.h"
#include "sbuf.h"
#include "store_pg_int.h"

#define CG_LOG_COMPONENT "store-pg"
#include "log.h"

/* Appends one argument to an array literal (an element of a column of unnest()). */
static void buf_arg(struct cg_sbuf *b, const struct cg_store_arg *a, int first)
{
	if (a->is_text)
		cg_pg_buf_elem(b, a->text, first);
	else
		cg_pg_buf_i64(b, a->i, first);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* The most ids reserved ahead by an enqueue that locks its keys (s->ahead: as many as the last
 * transaction enqueued): the next enqueues of the transaction (a group-commit batch's webhooks)
 * take theirs without a round trip. */
#define IDS_AHEAD_MAX 1024

/* Room for n ids in s->ids; 0 when out of memory. */
static int grow_ids(struct pg_store *s, size_t n)
{
	int64_t *v = realloc(s->ids, n * sizeof(*v));
	if (!v)
		return 0;
	s->ids = v;
	s->capids = n;
	return 1;
}

/*
 * Locks the keys of evs (sorted by hash: two writers never wait on each other in opposite
 * orders; see cg_pg_lock_keys for the wait-or-try rule across a batch), then takes n ids from the
 * sequence, increasing, into ids, and s->ahead more into s->ids (reserved ahead, replacing
 * what was left there): the ids are taken only once every lock is held.
 */
static int lock_and_ids(struct pg_store *s, const struct cg_store_event *evs, size_t n, int64_t *ids)
{
	/* As many as the last transaction enqueued, or as this one so far (it is larger: doubling). */
	size_t ahead = s->ahead > s->tx_enqueued ? s->ahead : s->tx_enqueued;
	size_t total = n + (ahead < IDS_AHEAD_MAX ? ahead : IDS_AHEAD_MAX);
	struct cg_sbuf kb = {0};
	PGresult *r = NULL;
	int rc, wait = s->tx_key_locks == 0;
	cg_sbuf_add(&kb, "{");
	for (size_t i = 0; i < n; i++)
		cg_pg_buf_elem(&kb, evs[i].dedup_key, i == 0);
	cg_sbuf_add(&kb, "}");
	if (kb.oom) {
		free(kb.p);
		return CG_ENOMEM;
	}
	/* No output row before l's one row, which needs every lock: nextval() runs after them. A
	 * busy key while the transaction holds others (try) gives no rows. */
	if (wait)
		rc = cg_pg_q_nf(s, "enqueue locks and ids",
				"WITH l AS (SELECT count(pg_advisory_xact_lock(h)) AS c FROM (SELECT DISTINCT"
				" hashtextextended(k, 0) AS h FROM unnest($1::text[]) AS k ORDER BY 1) x)"
				" SELECT nextval('events_id_seq') + 0 * l.c FROM l, generate_series(1, $2::int)",
				CG_ARGS(CG_ARG_TEXT(kb.p), CG_ARG_I64(total)), &r);
	else
		rc = cg_pg_q_nf(s, "enqueue try-locks and ids",
				"WITH l AS (SELECT coalesce(bool_and(pg_try_advisory_xact_lock(h)), true) AS ok FROM"
				" (SELECT DISTINCT hashtextextended(k, 0) AS h FROM unnest($1::text[]) AS k ORDER BY 1) x)"
				" SELECT nextval('events_id_seq') FROM l, generate_series(1, $2::int) WHERE l.ok",
				CG_ARGS(CG_ARG_TEXT(kb.p), CG_ARG_I64(total)), &r);
	free(kb.p);
	if (rc)
		return rc;
	if (!wait && PQntuples(r) == 0) {
		PQclear(r);
		snprintf(s->errmsg, sizeof(s->errmsg), "key locked by another replica's transaction");
		return CG_EAGAIN;
	}
	if ((size_t)PQntuples(r) != total) {
		PQclear(r);
		return CG_EIO;
	}
	if (total > s->capids && !grow_ids(s, total)) {
		PQclear(r);
		return CG_ENOMEM;
	}
	/* The lowest n for evs, the rest reserved ahead (above them: ids stay in enqueue order). */
	for (size_t i = 0; i < total; i++)
		s->ids[i] = cg_pg_get_i64(r, (int)i, 0);
	PQclear(r);
	qsort(s->ids, total, sizeof(*s->ids), cmp_i64);
	memcpy(ids, s->ids, n * sizeof(*ids));
	s->ids_at = n;
	s->nids = total;
	s->tx_key_locks += (int)n;
	return 0;
}

void cg_pg_pend_drop(struct pg_store *s)
{
	for (int k = 0; k < 1 + CG_EV_NARGS; k++)
		free(s->pend.col[k].p);
	free(s->pend.ukeys.p);
	memset(&s->pend, 0, sizeof(s->pend));
	s->nids = s->ids_at = 0;
}

/*
 * Enqueue defers its rows to the end of the transaction (or to the next statement that may read
 * them): a group-commit batch sends its events in one INSERT. Per-key order is id order, and the
 * caller has the ids at once. The first enqueue of a transaction takes its keys' locks and, after
 * them, its ids, so they are above every id of those keys committed by any replica; it reserves
 * more (s->ahead), and the next enqueues take their ids from those, without a round trip, and
 * their keys' locks only when the rows go out (cg_pg_flush). An id reserved ahead may then be
 * below an event of its key another replica committed meanwhile: the INSERT is refused
 * (CG_EAGAIN), and storeq runs the batch's jobs again, each alone, so each one first.
 */
int cg_pg_enqueue(struct cg_store *st, struct cg_store_event *evs, size_t n)
{
	struct pg_store *s = pg(st);
	struct pg_pending *p = &s->pend;
	int64_t *ids = NULL;
	size_t len[1 + CG_EV_NARGS];
	int own = 0, rc;

	if (n == 0)
		return 0;
	if ((rc = cg_store_events_check(evs, n)))
		return rc;
	if (!(ids = calloc(n, sizeof(*ids))))
		return CG_ENOMEM;
	if ((rc = cg_pg_tx_open(s, &own)))
		goto out;
	/* Rows of one INSERT share one aging (set on the store thread: in practice it never changes). */
	if (p->n && p->aging != cg_store_aging(st) && (rc = cg_pg_flush(s)))
		goto done;
	int ahead = s->nids - s->ids_at >= n;
	if (!ahead && (rc = lock_and_ids(s, evs, n, ids)))
		goto done;
	for (int k = 0; k < 1 + CG_EV_NARGS; k++) {
		len[k] = p->col[k].len;
		if (p->n == 0)
			cg_sbuf_add(&p->col[k], "{");
	}
	size_t ulen = p->ukeys.len;
	if (ahead) {
		memcpy(ids, s->ids + s->ids_at, n * sizeof(*ids));
		if (p->nu == 0)
			cg_sbuf_add(&p->ukeys, "{");
		for (size_t i = 0; i < n; i++)
			cg_pg_buf_elem(&p->ukeys, evs[i].dedup_key, p->nu == 0 && i == 0);
		if (p->ukeys.oom)
			rc = CG_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		struct cg_store_arg ev[CG_EV_NARGS];
		int first = p->n == 0 && i == 0;
		cg_store_event_args(&evs[i], ev);
		cg_pg_buf_i64(&p->col[0], ids[i], first);
		for (int k = 0; k < CG_EV_NARGS; k++)
			buf_arg(&p->col[1 + k], &ev[k], first);
	}
	for (int k = 0; k < 1 + CG_EV_NARGS; k++)
		if (p->col[k].oom)
			rc = CG_ENOMEM;
	if (rc) {
		/* These events are not part of the transaction: the deferred ones stay as they were. */
		for (int k = 0; k < 1 + CG_EV_NARGS; k++) {
			p->col[k].oom = 0;
			p->col[k].len = len[k];
			if (p->col[k].p)
				p->col[k].p[len[k]] = '\0';
		}
		p->ukeys.oom = 0;
		p->ukeys.len = ulen;
		if (p->ukeys.p)
			p->ukeys.p[ulen] = '\0';
		goto done;
	}
	if (ahead) {
		s->ids_at += n;
		p->nu += n;
	}
	p->n += n;
	p->aging = cg_store_aging(st);
	s->tx_enqueued += n;
	if (own)
		rc = cg_pg_flush(s);
done:
	rc = cg_pg_tx_close(s, own, rc);
	if (rc == 0)
		for (size_t i = 0; i < n; i++)
			evs[i].id = ids[i];
out:
	free(ids);
	return rc;
}

int cg_pg_flush(struct pg_store *s)
{
	struct pg_pending p = s->pend;
	PGresult *r = NULL;
	int rc = 0;

	if (p.n == 0)
		return 0;
	memset(&s->pend, 0, sizeof(s->pend)); /* taken over: the statements below do not flush again */
	struct cg_store_arg v[1 + CG_EV_NARGS + 1];
	for (int k = 0; k < 1 + CG_EV_NARGS; k++) {
		cg_sbuf_add(&p.col[k], "}");
		if (p.col[k].oom)
			rc = CG_ENOMEM;
		v[k] = CG_ARG_TEXT(p.col[k].p);
	}
	v[1 + CG_EV_NARGS] = CG_ARG_I64(p.aging); /* $13: the aging of the rank */
	/* The keys not locked yet (ids reserved ahead), then a statement that sees every commit of
	 * every key before ours. */
	if (rc == 0 && p.nu) {
		cg_sbuf_add(&p.ukeys, "}");
		rc = p.ukeys.oom ? CG_ENOMEM : cg_pg_lock_keys(s, p.ukeys.p, p.nu);
	}
	/* The first event of a key in it is its head unless the key has events. All rows or none:
	 * none when an event of one of the keys has a higher id (committed by another replica after
	 * the id was reserved ahead). */
	if (rc == 0)
		rc = cg_pg_q_nf(s, "enqueue",
			"INSERT INTO events (id, source, dedup_key, status, priority, severity, payload, received_ms,"
			" attempts, next_ms, step, last_error, is_head, rank_ms)"
			" SELECT u.id, u.source, u.k, u.status, u.priority, u.severity, u.payload, u.received_ms, u.attempts,"
			" u.next_ms, u.step, u.last_error,"
			" row_number() OVER (PARTITION BY u.k ORDER BY u.id) = 1"
			" AND NOT EXISTS (SELECT 1 FROM events e WHERE e.dedup_key = u.k),"
			" " CG_SQL_EVENT_RANK("u.priority", "u.status", "u.received_ms", "u.k", "$13::bigint")
			" FROM unnest($1::bigint[], $2::text[], $3::text[], $4::int[], $5::int[], $6::text[], $7::text[],"
			" $8::bigint[], $9::int[], $10::bigint[], $11::int[], $12::text[])"
			" AS u(id, source, k, status, priority, severity, payload, received_ms, attempts, next_ms, step,"
			" last_error)"
			/* LATERAL ... LIMIT: a probe of events_key per row, never a scan of the queue. */
			" WHERE NOT EXISTS (SELECT 1 FROM unnest($3::text[], $1::bigint[]) AS c(k, id),"
			" LATERAL (SELECT 1 FROM events l WHERE l.dedup_key = c.k AND l.id > c.id LIMIT 1) x)",
			v, 1 + CG_EV_NARGS + 1, &r);
	if (rc == 0) {
		if (strtoull(PQcmdTuples(r), NULL, 10) != p.n) {
			snprintf(s->errmsg, sizeof(s->errmsg),
				 "enqueue: another replica enqueued an event of the same key meanwhile");
			CG_LOG_DEBUG("%s", s->errmsg);
			rc = CG_EAGAIN;
		}
		PQclear(r);
	}
	for (int k = 0; k < 1 + CG_EV_NARGS; k++)
		free(p.col[k].p);
	free(p.ukeys.p);
	return rc;
}

/* A claimed event: CG_EV_COLS, then its claim token (the lease). */
static int item_claimed(const struct cg_store_row *r, void *item)
{
	struct cg_store_event *ev = item;
	int rc = cg_store_read_event(r, 0, ev);
	if (rc == 0)
		ev->lease = r->i64(r, 12);
	return rc;
}

int cg_pg_claim(struct cg_store *st, int64_t now_ms, size_t limit, struct cg_store_event **out, size_t *nout)
{
	struct pg_store *s = pg(st);
	const struct cg_store_rec claimed = {sizeof(struct cg_store_event), item_claimed, cg_store_rec_event.free};
	void *items = NULL;
	size_t n = 0;

	if (limit == 0) {
		*out = NULL;
		*nout = 0;
		return 0;
	}
	/* SKIP LOCKED: replicas claiming at once take different heads instead of waiting. The most
	 * urgent due heads first (rank, then id: events_ready's order, so the scan stops at the
	 * limit); RETURNING has no order, so the outer SELECT gives them back in it. */
	int rc = cg_pg_q_rows(s, "claim",
	       "WITH c AS (SELECT id FROM events WHERE is_head AND next_ms <= $1"
	       " AND (claimed_by IS NULL OR lease_until < cg_now_ms())"
	       " ORDER BY rank_ms, id LIMIT $2 FOR UPDATE SKIP LOCKED),"
	       " u AS (UPDATE events e SET claimed_by = $3, lease_until = cg_now_ms() + $4,"
	       " claim_token = nextval('claim_tokens') FROM c WHERE e.id = c.id"
	       " RETURNING e.id, e.source, e.dedup_key, e.status, e.priority, e.severity, e.payload, e.received_ms,"
	       " e.attempts, e.next_ms, e.step, e.last_error, e.claim_token, e.rank_ms)"
	       " SELECT id, source, dedup_key, status, priority, severity, payload, received_ms, attempts, next_ms,"
	       " step, last_error, claim_token FROM u ORDER BY rank_ms, id",
	       CG_ARGS(CG_ARG_I64(now_ms), CG_ARG_I64(limit > 100000 ? 100000 : (int64_t)limit), CG_ARG_TEXT(s->name),
		       CG_ARG_I64(s->lease_ms)),
	       &claimed, &items, &n);
	if (rc)
		return rc;
	*out = items;
	*nout = n;
	return 0;
}

int cg_pg_next_due_ms(struct cg_store *st, int64_t *out)
{
	struct pg_store *s = pg(st);
	PGresult *r = NULL;
	int rc = cg_pg_q(s, "next due",
		   "SELECT min(next_ms) FROM events WHERE is_head AND (claimed_by IS NULL OR lease_until < cg_now_ms())",
		   NULL, 0, &r);
	if (rc)
		return rc;
	if (PQgetisnull(r, 0, 0))
		rc = CG_ENOENT;
	else
		*out = cg_pg_get_i64(r, 0, 0);
	PQclear(r);
	return rc;
}

int cg_pg_event_step(struct cg_store *st, int64_t id, int step)
{
	return cg_pg_q_one(pg(st), "event step", "UPDATE events SET step = $2 WHERE id = $1",
		     CG_ARGS(CG_ARG_I64(id), CG_ARG_I64(step)));
}

/* Deletes an event and hands the head role of its key to the next one. Key locked by caller. */
static int delete_event(struct pg_store *s, int64_t id)
{
	PGresult *r = NULL;
	int rc = cg_pg_q(s, "event delete",
		   "WITH d AS (DELETE FROM events WHERE id = $1 RETURNING dedup_key, is_head),"
		   " p AS (UPDATE events SET is_head = true WHERE id = (SELECT min(e.id) FROM events e JOIN d"
		   " ON e.dedup_key = d.dedup_key WHERE d.is_head AND e.id <> $1) RETURNING id)"
		   " SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM p)",
		   CG_ARGS(CG_ARG_I64(id)), &r);
	if (rc)
		return rc;
	rc = cg_pg_get_i64(r, 0, 0) ? 0 : CG_ENOENT;
	PQclear(r);
	return rc;
}

/* Ends event id: sql ($1 the id, the arguments after it) first copies what outlives the event,
 * then the event is deleted. CG_ENOENT when the event is gone. */
static int end_event(struct pg_store *s, int64_t id, const char *what, const char *sql, const struct cg_store_arg *a,
		     int n)
{
	int own = 0;
	int rc = cg_pg_key_tx_open(s, KEY_OF_EVENT, id, &own);
	if (rc)
		return rc;
	rc = cg_pg_q_one(s, what, sql, a, n);
	if (rc == 0)
		rc = delete_event(s, id);
	return cg_pg_tx_close(s, own, rc);
}

int cg_pg_event_done(struct cg_store *st, int64_t id)
{
	struct pg_store *s = pg(st);
	return end_event(s, id, "delivery record",
			 "INSERT INTO deliveries (source, replica, delivered, last_ms, dedup_key)"
			 " SELECT source, $2, 1, cg_now_ms(), dedup_key FROM events WHERE id = $1"
			 " ON CONFLICT (source, replica) DO UPDATE SET delivered = deliveries.delivered + 1,"
			 " last_ms = excluded.last_ms,"
			 /* The key stays the last one with a case: an ignored resolution (no case) must
			  * not blank `casegate status`'s LAST CASE. */
			 " dedup_key = CASE WHEN EXISTS (SELECT 1 FROM cases c WHERE c.dedup_key = excluded.dedup_key"
			 "   AND c.case_key IS NOT NULL) THEN excluded.dedup_key ELSE deliveries.dedup_key END",
			 CG_ARGS(CG_ARG_I64(id), CG_ARG_TEXT(s->name)));
}

/*
 * The head of event id's key becomes its lowest id, unless an event of the key is claimed
 * under a live lease (one at a time per key). A retried dead letter takes back its original,
 * lower id and waits here for the key to be idle. Key locked by the caller.
 */
int cg_pg_fix_head(struct pg_store *s, int64_t id)
{
	return cg_pg_q(s, "fix head",
		 "WITH k AS (SELECT dedup_key FROM events WHERE id = $1),"
		 " m AS (SELECT min(e.id) AS id FROM events e JOIN k ON e.dedup_key = k.dedup_key)"
		 " UPDATE events SET is_head = (events.id = m.id) FROM k, m"
		 " WHERE events.dedup_key = k.dedup_key AND events.is_head <> (events.id = m.id)"
		 " AND NOT EXISTS (SELECT 1 FROM events f WHERE f.dedup_key = k.dedup_key"
		 " AND f.claimed_by IS NOT NULL AND f.lease_until >= cg_now_ms())",
		 CG_ARGS(CG_ARG_I64(id)), NULL);
}

/* Back to pending by sql ($1 id, $2 next_ms, $3 text), the claim released; then the key is idle,
 * and a dead letter retried meanwhile (lower id) goes first. */
static int release(struct pg_store *s, const char *what, const char *sql, int64_t id, int64_t next_ms,
		   const char *text)
{
	int own = 0;
	int rc = cg_pg_key_tx_open(s, KEY_OF_EVENT, id, &own);
	if (rc)
		return rc;
	rc = cg_pg_q_one(s, what, sql, CG_ARGS(CG_ARG_I64(id), CG_ARG_I64(next_ms), CG_ARG_TEXT(text)));
	if (rc == 0)
		rc = cg_pg_fix_head(s, id);
	return cg_pg_tx_close(s, own, rc);
}

/* The attempt is not counted (the event waited for search lag or an outage). */
int cg_pg_event_defer(struct cg_store *st, int64_t id, int64_t next_ms, const char *why)
{
	return release(pg(st), "event defer",
		       "UPDATE events SET claimed_by = NULL, lease_until = 0, next_ms = $2, last_error = $3"
		       " WHERE id = $1",
		       id, next_ms, why);
}

int cg_pg_event_retry(struct cg_store *st, int64_t id, int64_t next_ms, const char *err)
{
	return release(pg(st), "event retry",
		       "UPDATE events SET claimed_by = NULL, lease_until = 0, attempts = attempts + 1,"
		       " next_ms = $2, last_error = $3 WHERE id = $1",
		       id, next_ms, err);
}

int cg_pg_event_dead(struct cg_store *st, int64_t id, int http_status, const char *reason)
{
	/* The attempt that gave up counts as a failed attempt. */
	return end_event(pg(st), id, "dead letter insert",
			 "INSERT INTO dead_letters (event_id, source, dedup_key, status, priority, severity, payload,"
			 " received_ms, attempts, next_ms, step, last_error, http_status, reason, failed_ms)"
			 " SELECT id, source, dedup_key, status, priority, severity, payload, received_ms,"
			 " attempts + 1, next_ms, step, last_error, $2, $3, $4 FROM events WHERE id = $1",
			 CG_ARGS(CG_ARG_I64(id), CG_ARG_I64(http_status), CG_ARG_TEXT(reason),
				 CG_ARG_I64(cg_store_wall_ms())));
}

int cg_pg_fence(struct cg_store *st, int64_t id, int64_t lease)
{
	struct pg_store *s = pg(st);
	long ch = 0;
	/* The row lock taken here lasts until commit: no claim can take the event meanwhile. */
	int rc = cg_pg_q_changes(s, "fence",
			   "UPDATE events SET lease_until = cg_now_ms() + $4"
			   " WHERE id = $1 AND claim_token = $2 AND claimed_by = $3",
			   CG_ARGS(CG_ARG_I64(id), CG_ARG_I64(lease), CG_ARG_TEXT(s->name), CG_ARG_I64(s->lease_ms)), &ch);
	if (rc)
		return rc;
	if (ch == 0) {
		snprintf(s->errmsg, sizeof(s->errmsg), "event %" PRId64 ": lease %" PRId64 " lost", id, lease);
		CG_LOG_WARN("%s: another replica owns it now; dropping this replica's progress", s->errmsg);
		return CG_ESTALE;
	}
	return 0;
}
