/* store_pg_seen.c: the PostgreSQL store's seen ids (replay and duplicate guards, mail threading). */
#include <stdlib.h>

#include <libpq-fe.h>

#include "err.h"
#include "store_pg_int.h"

/* The intake's seen ids touch only the table seen: the deferred enqueues of a group-commit batch
 * are not sent before them (cg_pg_q_nf), so a batch of webhooks still makes one INSERT. */
int cg_pg_seen(struct cg_store *st, const char *ns, const char *id, int64_t now_ms, int *was_seen)
{
	struct pg_store *s = pg(st);
	PGresult *r = NULL;
	int rc;
	if (!ns || !id)
		return CG_EINVAL;
	if (s->last_prune_ms == 0 || now_ms - s->last_prune_ms >= CG_SEEN_PRUNE_EVERY_MS || now_ms < s->last_prune_ms) {
		if ((rc = cg_pg_q_nf(s, "seen prune",
			    "DELETE FROM seen WHERE seen_ms < $2::bigint"
			    " AND (seen_ms < $1::bigint OR left(ns, length($3)) = $3)",
			    CG_ARGS(CG_ARG_I64(now_ms - CG_SEEN_TTL_MS), CG_ARG_I64(now_ms - CG_SEEN_REPLAY_TTL_MS),
				    CG_ARG_TEXT(CG_SEEN_REPLAY_PREFIX)),
			    NULL)))
			return rc;
		s->last_prune_ms = now_ms;
	}
	rc = cg_pg_q_nf(s, "seen insert", "INSERT INTO seen (ns, id, seen_ms) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
			CG_ARGS(CG_ARG_TEXT(ns), CG_ARG_TEXT(id), CG_ARG_I64(now_ms)), &r);
	if (rc)
		return rc;
	*was_seen = strtol(PQcmdTuples(r), NULL, 10) == 0;
	PQclear(r);
	return 0;
}

int cg_pg_seen_get(struct cg_store *st, const char *ns, int64_t now_ms, char **id)
{
	char *v = NULL;
	if (!ns || !id)
		return CG_EINVAL;
	/* Entries past their time are gone for seen() too, whether or not pruning ran yet. */
	int rc = cg_pg_q_row1(pg(st), "seen get",
			"SELECT id FROM seen WHERE ns = $1 AND seen_ms >= $2 ORDER BY seen_ms DESC, id LIMIT 1",
			CG_ARGS(CG_ARG_TEXT(ns), CG_ARG_I64(now_ms - CG_SEEN_TTL_MS)), &cg_store_rec_text, &v);
	if (rc == 0)
		*id = v;
	return rc;
}
