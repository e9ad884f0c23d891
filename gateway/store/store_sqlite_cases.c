/* store_sqlite_cases.c: the SQLite store's cases, one row per dedup key. */
#include "err.h"
#include "store_sqlite_int.h"

static int case_query(struct sq_store *s, enum stmt_id id, const char *arg, struct cg_store_case *out)
{
	struct cg_store_case c;
	if (!arg)
		return CG_EINVAL;
	int rc = cg_sq_row1(s, id, "case lookup", CG_ARGS(CG_ARG_TEXT(arg)), &cg_store_rec_case, &c);
	if (rc == 0)
		*out = c;
	return rc;
}

int cg_sq_case_get(struct cg_store *st, const char *dedup_key, struct cg_store_case *out)
{
	return case_query(sq(st), S_CASE_GET, dedup_key, out);
}

int cg_sq_case_find_by_key(struct cg_store *st, const char *case_key, struct cg_store_case *out)
{
	return case_query(sq(st), S_CASE_BY_KEY, case_key, out);
}

int cg_sq_case_put(struct cg_store *st, const struct cg_store_case *c)
{
	struct cg_store_arg a[CG_CASE_NARGS];
	if (!c || !c->dedup_key)
		return CG_EINVAL;
	cg_store_case_args(c, a);
	return cg_sq_exec(sq(st), S_CASE_PUT, "case put", a, CG_CASE_NARGS, NULL);
}

int cg_sq_case_mark_closed(struct cg_store *st, const char *dedup_key, const char *case_id, int64_t flag,
			       int *marked)
{
	int changes = 0;
	int rc = cg_sq_exec(sq(st), S_CASE_MARK, "case mark",
			   CG_ARGS(CG_ARG_TEXT(dedup_key), CG_ARG_TEXT(case_id), CG_ARG_I64(flag)), &changes);
	*marked = rc == 0 && changes > 0;
	return rc;
}

int cg_sq_case_list_closed(struct cg_store *st, const char *key_prefix, int64_t closed_before,
			       int64_t flags_clear, size_t limit, struct cg_store_case **out, size_t *nout)
{
	void *items = NULL;
	int rc = cg_sq_rows(sq(st), S_CASE_CLOSED, "closed case list",
			    CG_ARGS(CG_ARG_TEXT(key_prefix), CG_ARG_I64(closed_before), CG_ARG_I64(flags_clear),
				    CG_ARG_I64(limit)),
			    &cg_store_rec_case, limit, &items, nout);
	if (rc == 0)
		*out = items;
	return rc;
}
