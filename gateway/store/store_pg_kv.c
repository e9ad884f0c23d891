/* store_pg_kv.c: the PostgreSQL store's small documents (storm folding) and key activity. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "err.h"
#include "store_pg_int.h"

/*
 * One transaction-scoped advisory lock for every writer of these documents in the fleet: a
 * storm's window, the storm and its alerts are read and written together, and one lock (not a
 * row lock per document) means two replicas can never take them in opposite orders.
 */
#define KV_LOCK_ID 0x63675f6b76LL /* "cg_kv" */

int cg_pg_kv_lock(struct cg_store *st)
{
	struct pg_store *s = pg(st);
	/* The store's rule against deadlocks between group-commit batches (cg_pg_lock_keys): wait
	 * only while holding no lock; holding some (an earlier job's keys, or this lock already),
	 * only try, and a busy lock fails the batch with CG_EAGAIN (its jobs then run alone). */
	if (!s->in_tx || s->tx_key_locks == 0) {
		int rc = cg_pg_q(s, "kv lock", "SELECT pg_advisory_xact_lock($1::bigint)", CG_ARGS(CG_ARG_I64(KV_LOCK_ID)),
				 NULL);
		if (rc == 0 && s->in_tx)
			s->tx_key_locks++;
		return rc;
	}
	PGresult *r = NULL;
	int rc = cg_pg_q(s, "kv try-lock", "SELECT pg_try_advisory_xact_lock($1::bigint)", CG_ARGS(CG_ARG_I64(KV_LOCK_ID)),
			 &r);
	if (rc == 0) {
		if (strcmp(PQgetvalue(r, 0, 0), "t") != 0) {
			snprintf(s->errmsg, sizeof(s->errmsg), "storm documents locked by another replica's transaction");
			rc = CG_EAGAIN;
		} else {
			s->tx_key_locks++;
		}
		PQclear(r);
	}
	return rc;
}

int cg_pg_kv_get(struct cg_store *st, const char *k, struct cg_store_kv *out)
{
	return cg_pg_q_row1(pg(st), "kv get", "SELECT k, v, due_ms FROM kv WHERE k = $1", CG_ARGS(CG_ARG_TEXT(k)),
			    &cg_store_rec_kv, out);
}

int cg_pg_kv_put(struct cg_store *st, const char *k, const char *v, int64_t due_ms)
{
	if (!v)
		return cg_pg_q(pg(st), "kv delete", "DELETE FROM kv WHERE k = $1", CG_ARGS(CG_ARG_TEXT(k)), NULL);
	return cg_pg_q(pg(st), "kv put",
		       "INSERT INTO kv (k, v, due_ms) VALUES ($1, $2, $3::bigint)"
		       " ON CONFLICT (k) DO UPDATE SET v = excluded.v, due_ms = excluded.due_ms",
		       CG_ARGS(CG_ARG_TEXT(k), CG_ARG_TEXT(v), CG_ARG_I64(due_ms)), NULL);
}

int cg_pg_kv_list(struct cg_store *st, const char *from, const char *to, int64_t due_before, struct cg_store_kv **out,
		  size_t *nout)
{
	void *items = NULL;
	int rc = cg_pg_q_rows(pg(st), "kv list",
			      "SELECT k, v, due_ms FROM kv WHERE k >= $1 AND k < $2"
			      " AND ($3::bigint = 0 OR (due_ms > 0 AND due_ms <= $3::bigint)) ORDER BY k",
			      CG_ARGS(CG_ARG_TEXT(from), CG_ARG_TEXT(to), CG_ARG_I64(due_before)), &cg_store_rec_kv, &items,
			      nout);
	if (rc == 0)
		*out = items;
	return rc;
}

int cg_pg_key_active(struct cg_store *st, const char *dedup_key, int *active)
{
	*active = 0;
	return cg_pg_q_row1(pg(st), "key active",
			    "SELECT CASE WHEN EXISTS (SELECT 1 FROM events WHERE dedup_key = $1)"
			    " OR EXISTS (SELECT 1 FROM cases WHERE dedup_key = $1 AND state IN (1, 2)) THEN 1 ELSE 0 END",
			    CG_ARGS(CG_ARG_TEXT(dedup_key)), &cg_store_rec_flag, active);
}
