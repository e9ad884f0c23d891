/* store_pg_heartbeat.c: the PostgreSQL store's per-source heartbeats, decided once for the whole fleet. */
#include <libpq-fe.h>

#include "err.h"
#include "store_pg_int.h"

/* Also drops the traffic records of replicas gone from the fleet (a restart under a new name
 * leaves one per source), except the latest: what was heard stays. */
int cg_pg_hb_register(struct cg_store *st, const char *source, int64_t now_ms)
{
	struct pg_store *s = pg(st);
	int rc = cg_pg_q(s, "heartbeat register",
			 "INSERT INTO heartbeats (source, started_ms) VALUES ($1, $2) ON CONFLICT (source) DO NOTHING",
			 CG_ARGS(CG_ARG_TEXT(source), CG_ARG_I64(now_ms)), NULL);
	if (rc == 0)
		rc = cg_pg_q(s, "heartbeat prune",
			     "DELETE FROM heartbeat_heard x WHERE x.source = $1 AND x.replica <> ''"
			     " AND NOT EXISTS (SELECT 1 FROM replicas r WHERE r.name = x.replica)"
			     " AND x.last_ms < (SELECT max(y.last_ms) FROM heartbeat_heard y WHERE y.source = $1)",
			     CG_ARGS(CG_ARG_TEXT(source)), NULL);
	return rc;
}

/*
 * A replica writes its own row: no other replica writes it, so the intake path never waits on
 * a lock. A process outside the fleet (`casegate mail` in pipe mode: a new name each run) shares
 * the row '' instead of leaving one behind per run.
 */
int cg_pg_hb_heard(struct cg_store *st, const char *source, int64_t now_ms)
{
	struct pg_store *s = pg(st);
	/* Not events: the deferred enqueues stay deferred (cg_pg_q_nf). */
	return cg_pg_q_nf(s, "heartbeat heard",
		       "INSERT INTO heartbeat_heard (source, replica, last_ms) VALUES ($1, $2, $3)"
		       " ON CONFLICT (source, replica) DO UPDATE"
		       " SET last_ms = greatest(heartbeat_heard.last_ms, excluded.last_ms)",
		       CG_ARGS(CG_ARG_TEXT(source), CG_ARG_TEXT(s->listen ? s->name : ""), CG_ARG_I64(now_ms)), NULL);
}

int cg_pg_hb_list(struct cg_store *st, struct cg_store_heartbeat **out, size_t *nout)
{
	void *items = NULL;
	int rc = cg_pg_q_rows(pg(st), "heartbeats",
			      "SELECT h.source, h.started_ms,"
			      " coalesce((SELECT max(x.last_ms) FROM heartbeat_heard x WHERE x.source = h.source), 0),"
			      " h.raised, h.raised_ms FROM heartbeats h ORDER BY h.source",
			      NULL, 0, &cg_store_rec_heartbeat, &items, nout);
	if (rc == 0)
		*out = items;
	return rc;
}

/*
 * The row is locked with SKIP LOCKED: a replica deciding the same source right now is not
 * waited for (its transaction may hold key locks this one's batch wants: no waits, no
 * deadlocks). Under READ COMMITTED a row raised and committed meanwhile is re-checked against
 * its new version, so exactly one transaction changes it.
 */
int cg_pg_hb_raise(struct cg_store *st, const char *source, int64_t silent_before_ms, int64_t now_ms, int *won)
{
	long ch = 0;
	int rc = cg_pg_q_changes(pg(st), "heartbeat raise",
				 "UPDATE heartbeats SET raised = 1, raised_ms = $3 WHERE source = (SELECT h.source"
				 " FROM heartbeats h WHERE h.source = $1 AND h.raised = 0 AND greatest(h.started_ms,"
				 " coalesce((SELECT max(x.last_ms) FROM heartbeat_heard x WHERE x.source = $1), 0)) < $2"
				 " FOR UPDATE SKIP LOCKED)",
				 CG_ARGS(CG_ARG_TEXT(source), CG_ARG_I64(silent_before_ms), CG_ARG_I64(now_ms)), &ch);
	if (rc == 0)
		*won = ch > 0;
	return rc;
}

int cg_pg_hb_clear(struct cg_store *st, const char *source, int *won)
{
	long ch = 0;
	int rc = cg_pg_q_changes(pg(st), "heartbeat clear",
				 "UPDATE heartbeats SET raised = 0 WHERE source = (SELECT h.source FROM heartbeats h"
				 " WHERE h.source = $1 AND h.raised = 1 AND coalesce((SELECT max(x.last_ms)"
				 " FROM heartbeat_heard x WHERE x.source = $1), 0) > h.raised_ms FOR UPDATE SKIP LOCKED)",
				 CG_ARGS(CG_ARG_TEXT(source)), &ch);
	if (rc == 0)
		*won = ch > 0;
	return rc;
}
