/* store_pg_status.c: what the PostgreSQL store tells `casegate status`: counts, sources, live replicas' notes. */
#include <libpq-fe.h>

#include "err.h"
#include "store_pg_int.h"

int cg_pg_stats(struct cg_store *st, struct cg_store_stats *out)
{
	struct pg_store *s = pg(st);
	PGresult *r = NULL;
	/* The queue depth, in all and by priority, is one pass over events (events_priority). */
	int rc = cg_pg_q(s, "stats",
		   "SELECT q.n,"
		   " (SELECT count(*) FROM events WHERE claimed_by IS NOT NULL AND lease_until >= cg_now_ms()),"
		   " (SELECT min(received_ms) FROM events), (SELECT count(*) FROM dead_letters),"
		   " (SELECT count(*) FROM cases),"
		   " pg_total_relation_size('events') + pg_total_relation_size('cases')"
		   " + pg_total_relation_size('dead_letters') + pg_total_relation_size('seen'),"
		   " q.p1, q.p2, q.p3, q.p4, q.p5"
		   " FROM (SELECT count(*) AS n, count(*) FILTER (WHERE priority = 1) AS p1,"
		   " count(*) FILTER (WHERE priority = 2) AS p2, count(*) FILTER (WHERE priority = 3) AS p3,"
		   " count(*) FILTER (WHERE priority = 4) AS p4, count(*) FILTER (WHERE priority = 5) AS p5"
		   " FROM events) q",
		   NULL, 0, &r);
	if (rc)
		return rc;
	struct cg_store_stats v = {0};
	v.pending = cg_pg_get_i64(r, 0, 0);
	v.inflight = cg_pg_get_i64(r, 0, 1);
	v.oldest_ms = cg_pg_get_i64(r, 0, 2);
	v.dead = cg_pg_get_i64(r, 0, 3);
	v.cases = cg_pg_get_i64(r, 0, 4);
	v.bytes = (uint64_t)cg_pg_get_i64(r, 0, 5);
	int64_t rest = v.pending;
	for (int p = 1; p <= 5; p++) {
		v.pending_by_priority[p] = cg_pg_get_i64(r, 0, 5 + p);
		rest -= v.pending_by_priority[p];
	}
	v.pending_by_priority[0] = rest;
	PQclear(r);
	*out = v;
	return 0;
}

/* For `casegate status` only: scans of events per source are acceptable there. */
int cg_pg_source_stats(struct cg_store *st, struct cg_store_source_stat **out, size_t *nout)
{
	void *items = NULL;
	*out = NULL;
	*nout = 0;
	int rc = cg_pg_q_rows(pg(st), "source stats",
		   "SELECT x.source,"
		   " (SELECT count(*) FROM events e WHERE e.source = x.source),"
		   " (SELECT min(received_ms) FROM events e WHERE e.source = x.source),"
		   " (SELECT count(*) FROM dead_letters d WHERE d.source = x.source),"
		   " (SELECT sum(delivered) FROM deliveries d WHERE d.source = x.source),"
		   " dl.last_ms, dl.dedup_key, c.case_key"
		   " FROM (SELECT source FROM events UNION SELECT source FROM dead_letters"
		   "       UNION SELECT source FROM deliveries) x"
		   " LEFT JOIN LATERAL (SELECT last_ms, dedup_key FROM deliveries d WHERE d.source = x.source"
		   "   ORDER BY last_ms DESC LIMIT 1) dl ON true"
		   " LEFT JOIN cases c ON c.dedup_key = dl.dedup_key"
		   " ORDER BY x.source",
		   NULL, 0, &cg_store_rec_source_stat, &items, nout);
	if (rc == 0)
		*out = items;
	return rc;
}

int cg_pg_note_put(struct cg_store *st, const char *name, const char *value)
{
	struct pg_store *s = pg(st);
	if (!value)
		return cg_pg_q(s, "note", "DELETE FROM notes WHERE replica = $1 AND name = $2",
			 CG_ARGS(CG_ARG_TEXT(s->name), CG_ARG_TEXT(name)), NULL);
	return cg_pg_q(s, "note",
		 "INSERT INTO notes (replica, name, value, updated_ms) VALUES ($1, $2, $3, cg_now_ms())"
		 " ON CONFLICT (replica, name) DO UPDATE SET value = EXCLUDED.value, updated_ms = EXCLUDED.updated_ms",
		 CG_ARGS(CG_ARG_TEXT(s->name), CG_ARG_TEXT(name), CG_ARG_TEXT(value)), NULL);
}

/* Notes of replicas that left (or whose heartbeat stopped) are history, not state: not listed. */
int cg_pg_note_list(struct cg_store *st, struct cg_store_note **out, size_t *nout)
{
	struct pg_store *s = pg(st);
	void *items = NULL;
	*out = NULL;
	*nout = 0;
	int rc = cg_pg_q_rows(s, "notes",
		   "SELECT n.replica, n.name, n.value, n.updated_ms FROM notes n LEFT JOIN replicas p ON p.name = n.replica"
		   " WHERE n.replica = $1 OR p.expires_ms >= cg_now_ms() ORDER BY n.replica, n.name",
		   CG_ARGS(CG_ARG_TEXT(s->name)), &cg_store_rec_note, &items, nout);
	if (rc == 0)
		*out = items;
	return rc;
}
