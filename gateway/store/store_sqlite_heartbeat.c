/* store_sqlite_heartbeat.c: the SQLite store's per-source heartbeats (when each source was last heard, raised or not). */
#include "err.h"
#include "store_sqlite_int.h"

int cg_sq_hb_register(struct cg_store *st, const char *source, int64_t now_ms)
{
	return cg_sq_exec(sq(st), S_HB_REG, "heartbeat register", CG_ARGS(CG_ARG_TEXT(source), CG_ARG_I64(now_ms)),
			  NULL);
}

int cg_sq_hb_heard(struct cg_store *st, const char *source, int64_t now_ms)
{
	return cg_sq_exec(sq(st), S_HB_HEARD, "heartbeat heard", CG_ARGS(CG_ARG_TEXT(source), CG_ARG_I64(now_ms)),
			  NULL);
}

int cg_sq_hb_list(struct cg_store *st, struct cg_store_heartbeat **out, size_t *nout)
{
	void *items = NULL;
	int rc = cg_sq_rows(sq(st), S_HB_LIST, "heartbeats", NULL, 0, &cg_store_rec_heartbeat, 0, &items, nout);
	if (rc == 0)
		*out = items;
	return rc;
}

/* One writer at a time (the database lock): the conditional update is the decision. */
int cg_sq_hb_raise(struct cg_store *st, const char *source, int64_t silent_before_ms, int64_t now_ms, int *won)
{
	int changes = 0;
	int rc = cg_sq_exec(sq(st), S_HB_RAISE, "heartbeat raise",
			    CG_ARGS(CG_ARG_TEXT(source), CG_ARG_I64(silent_before_ms), CG_ARG_I64(now_ms)), &changes);
	if (rc == 0)
		*won = changes > 0;
	return rc;
}

int cg_sq_hb_clear(struct cg_store *st, const char *source, int *won)
{
	int changes = 0;
	int rc = cg_sq_exec(sq(st), S_HB_CLEAR, "heartbeat clear", CG_ARGS(CG_ARG_TEXT(source)), &changes);
	if (rc == 0)
		*won = changes > 0;
	return rc;
}
