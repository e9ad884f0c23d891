/* store_sqlite_kv.c: the SQLite store's small documents (storm folding) and key activity. */
#include <stdlib.h>

#include "err.h"
#include "store_sqlite_int.h"

/* One writer at a time already (the database lock). */
int cg_sq_kv_lock(struct cg_store *st)
{
	(void)st;
	return 0;
}

int cg_sq_kv_get(struct cg_store *st, const char *k, struct cg_store_kv *out)
{
	return cg_sq_row1(sq(st), S_KV_GET, "kv get", CG_ARGS(CG_ARG_TEXT(k)), &cg_store_rec_kv, out);
}

int cg_sq_kv_put(struct cg_store *st, const char *k, const char *v, int64_t due_ms)
{
	if (!v)
		return cg_sq_exec(sq(st), S_KV_DEL, "kv delete", CG_ARGS(CG_ARG_TEXT(k)), NULL);
	return cg_sq_exec(sq(st), S_KV_PUT, "kv put", CG_ARGS(CG_ARG_TEXT(k), CG_ARG_TEXT(v), CG_ARG_I64(due_ms)), NULL);
}

int cg_sq_kv_list(struct cg_store *st, const char *from, const char *to, int64_t due_before, struct cg_store_kv **out,
		  size_t *nout)
{
	void *items = NULL;
	int rc = cg_sq_rows(sq(st), S_KV_LIST, "kv list",
			    CG_ARGS(CG_ARG_TEXT(from), CG_ARG_TEXT(to), CG_ARG_I64(due_before)), &cg_store_rec_kv, 0, &items,
			    nout);
	if (rc == 0)
		*out = items;
	return rc;
}

int cg_sq_key_active(struct cg_store *st, const char *dedup_key, int *active)
{
	*active = 0;
	return cg_sq_row1(sq(st), S_KEY_ACTIVE, "key active", CG_ARGS(CG_ARG_TEXT(dedup_key)), &cg_store_rec_flag, active);
}
