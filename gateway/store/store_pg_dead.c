/* store_pg_dead.c: the PostgreSQL store's dead letters: list, show, retry in place, drop. */
#include <libpq-fe.h>

#include "err.h"
#include "store_pg_int.h"

int cg_pg_dead_list(struct cg_store *st, size_t limit, struct cg_dead_letter **out, size_t *nout)
{
	void *items = NULL;
	int rc = cg_pg_q_rows(pg(st), "dead letter list", "SELECT " CG_DL_COLS " FROM dead_letters ORDER BY id LIMIT $1",
			CG_ARGS(CG_ARG_I64(limit > (size_t)INT64_MAX ? INT64_MAX : (int64_t)limit)), &cg_store_rec_dead,
			&items, nout);
	if (rc == 0)
		*out = items;
	return rc;
}

int cg_pg_dead_get(struct cg_store *st, int64_t id, struct cg_dead_letter *out)
{
	struct cg_dead_letter d;
	int rc = cg_pg_q_row1(pg(st), "dead letter get", "SELECT " CG_DL_COLS " FROM dead_letters WHERE id = $1",
			CG_ARGS(CG_ARG_I64(id)), &cg_store_rec_dead, &d);
	if (rc == 0)
		*out = d;
	return rc;
}

int cg_pg_dead_retry(struct cg_store *st, int64_t id, int64_t now_ms)
{
	struct pg_store *s = pg(st);
	int own = 0;
	int rc = cg_pg_key_tx_open(s, KEY_OF_DEAD, id, &own);
	if (rc)
		return rc;
	/* Keeps received_ms (when the alert arrived) and step (operations already applied), and
	 * takes back the original event id (the sequence never hands it out again): per-key order
	 * is id order, so the event goes back before the newer events of its key. */
	PGresult *r = NULL;
	rc = cg_pg_q(s, "dead letter requeue",
	       "INSERT INTO events (id, source, dedup_key, status, priority, severity, payload, received_ms,"
	       " attempts, next_ms, step, last_error, is_head, rank_ms)"
	       " SELECT CASE WHEN EXISTS (SELECT 1 FROM events x WHERE x.id = d.event_id)"
	       " THEN nextval(pg_get_serial_sequence('events', 'id')) ELSE d.event_id END,"
	       " d.source, d.dedup_key, d.status, d.priority, d.severity, d.payload, d.received_ms,"
	       " 0, $2, 0, NULL, NOT EXISTS (SELECT 1 FROM events e WHERE e.dedup_key = d.dedup_key),"
	       /* ranked from when the alert arrived, not from the retry ($3: the aging) */
	       " " CG_SQL_EVENT_RANK("d.priority", "d.status", "d.received_ms", "d.dedup_key", "$3::bigint")
	       " FROM dead_letters d WHERE d.id = $1 RETURNING id",
	       CG_ARGS(CG_ARG_I64(id), CG_ARG_I64(now_ms), CG_ARG_I64(cg_store_aging(st))), &r);
	if (rc == 0 && PQntuples(r) == 0)
		rc = CG_ENOENT;
	if (rc == 0)
		rc = cg_pg_fix_head(s, cg_pg_get_i64(r, 0, 0));
	PQclear(r);
	if (rc == 0)
		rc = cg_pg_q(s, "dead letter delete", "DELETE FROM dead_letters WHERE id = $1", CG_ARGS(CG_ARG_I64(id)), NULL);
	return cg_pg_tx_close(s, own, rc);
}

int cg_pg_dead_drop(struct cg_store *st, int64_t id)
{
	return cg_pg_q_one(pg(st), "dead letter drop", "DELETE FROM dead_letters WHERE id = $1", CG_ARGS(CG_ARG_I64(id)));
}
