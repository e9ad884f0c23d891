/* store_sqlite_seen.c: the SQLite store's seen ids (replay and duplicate guards, mail threading). */
#include "err.h"
#include "store_sqlite_int.h"

int cg_sq_seen(struct cg_store *st, const char *ns, const char *id, int64_t now_ms, int *was_seen)
{
	struct sq_store *s = sq(st);
	int changes = 0, rc;

	if (!ns || !id)
		return CG_EINVAL;
	/* Opportunistic pruning keeps the table bounded without a timer of its own. */
	if (s->last_prune_ms == 0 || now_ms - s->last_prune_ms >= CG_SEEN_PRUNE_EVERY_MS || now_ms < s->last_prune_ms) {
		if ((rc = cg_sq_exec(s, S_SEEN_PRUNE, "seen prune",
				    CG_ARGS(CG_ARG_I64(now_ms - CG_SEEN_TTL_MS), CG_ARG_I64(now_ms - CG_SEEN_REPLAY_TTL_MS),
					    CG_ARG_TEXT(CG_SEEN_REPLAY_PREFIX)),
				    NULL)))
			return rc;
		s->last_prune_ms = now_ms;
	}
	if ((rc = cg_sq_exec(s, S_SEEN_INS, "seen insert", CG_ARGS(CG_ARG_TEXT(ns), CG_ARG_TEXT(id), CG_ARG_I64(now_ms)),
			    &changes)))
		return rc;
	*was_seen = changes == 0;
	return 0;
}

/* The newest id recorded under ns (e.g. the dedup key a mail's Message-ID led to). */
int cg_sq_seen_get(struct cg_store *st, const char *ns, int64_t now_ms, char **id)
{
	char *v = NULL;
	if (!ns || !id)
		return CG_EINVAL;
	/* Entries past their time are gone for seen() too, whether or not pruning ran yet. */
	int rc = cg_sq_row1(sq(st), S_SEEN_GET, "seen get", CG_ARGS(CG_ARG_TEXT(ns), CG_ARG_I64(now_ms - CG_SEEN_TTL_MS)),
			    &cg_store_rec_text, &v);
	if (rc == 0)
		*id = v;
	return rc;
}
