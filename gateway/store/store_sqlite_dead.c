/* store_sqlite_dead.c: the SQLite store's dead letters: list, show, retry in place, drop. */
#include "err.h"
#include "store_sqlite_int.h"

int cg_sq_dead_list(struct cg_store *st, size_t limit, struct cg_dead_letter **out, size_t *nout)
{
	void *items = NULL;
	int rc = cg_sq_rows(sq(st), S_DL_LIST, "dead letter list", CG_ARGS(CG_ARG_I64(clamp_limit(limit))),
			    &cg_store_rec_dead, 0, &items, nout);
	if (rc == 0)
		*out = items;
	return rc;
}

int cg_sq_dead_get(struct cg_store *st, int64_t id, struct cg_dead_letter *out)
{
	struct cg_dead_letter d;
	int rc = cg_sq_row1(sq(st), S_DL_GET, "dead letter get", CG_ARGS(CG_ARG_I64(id)), &cg_store_rec_dead, &d);
	if (rc == 0)
		*out = d;
	return rc;
}

int cg_sq_dead_retry(struct cg_store *st, int64_t id, int64_t now_ms)
{
	struct sq_store *s = sq(st);
	int rc = cg_sq_sp_begin(s);
	if (rc)
		return rc;
	rc = cg_sq_exec_one(s, S_DL_REQUEUE, "dead letter requeue", CG_ARGS(CG_ARG_I64(id), CG_ARG_I64(now_ms), CG_ARG_I64(cg_store_aging(st))));
	if (rc == 0)
		rc = cg_sq_fix_head(s, sqlite3_last_insert_rowid(s->db));
	if (rc == 0)
		rc = cg_sq_exec(s, S_DL_DEL, "dead letter delete", CG_ARGS(CG_ARG_I64(id)), NULL);
	return cg_sq_sp_end(s, rc);
}

int cg_sq_dead_drop(struct cg_store *st, int64_t id)
{
	return cg_sq_exec_one(sq(st), S_DL_DEL, "dead letter drop", CG_ARGS(CG_ARG_I64(id)));
}
