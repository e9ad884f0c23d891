/* store_pg_cases.c: the PostgreSQL store's cases, one row per dedup key. */
#include "err.h"
#include "store_pg_int.h"

static int case_query(struct pg_store *s, const char *sql, const char *arg, struct cg_store_case *out)
{
	struct cg_store_case c;
	if (!arg)
		return CG_EINVAL;
	int rc = cg_pg_q_row1(s, "case lookup", sql, CG_ARGS(CG_ARG_TEXT(arg)), &cg_store_rec_case, &c);
	if (rc == 0)
		*out = c;
	return rc;
}

int cg_pg_case_get(struct cg_store *st, const char *dedup_key, struct cg_store_case *out)
{
	return case_query(pg(st), "SELECT " CG_CASE_COLS " FROM cases WHERE dedup_key = $1", dedup_key, out);
}

int cg_pg_case_find_by_key(struct cg_store *st, const char *case_key, struct cg_store_case *out)
{
	return case_query(pg(st), "SELECT " CG_CASE_COLS " FROM cases WHERE case_key = $1 OR case_id = $1"
			  " ORDER BY created_ms DESC LIMIT 1",
			  case_key, out);
}

int cg_pg_case_put(struct cg_store *st, const struct cg_store_case *c)
{
	struct cg_store_arg a[CG_CASE_NARGS];
	if (!c || !c->dedup_key)
		return CG_EINVAL;
	cg_store_case_args(c, a);
	return cg_pg_q(pg(st), "case put",
		 "INSERT INTO cases (" CG_CASE_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,"
		 " $14, $15, $16, $17, $18, $19, $20) ON CONFLICT (dedup_key) DO UPDATE SET case_id = EXCLUDED.case_id,"
		 " case_key = EXCLUDED.case_key, state = EXCLUDED.state, priority = EXCLUDED.priority,"
		 " generation = EXCLUDED.generation, marker = EXCLUDED.marker, prev_case_key = EXCLUDED.prev_case_key,"
		 " created_ms = EXCLUDED.created_ms, closed_ms = EXCLUDED.closed_ms,"
		 " last_fire_ms = EXCLUDED.last_fire_ms, last_comment_ms = EXCLUDED.last_comment_ms,"
		 " fires = EXCLUDED.fires, pending_repeats = EXCLUDED.pending_repeats,"
		 " first_pending_ms = EXCLUDED.first_pending_ms, last_summary = EXCLUDED.last_summary,"
		 " prev_case_id = EXCLUDED.prev_case_id, action_flags = EXCLUDED.action_flags,"
		 " sent_ms = EXCLUDED.sent_ms, confirmed_ms = EXCLUDED.confirmed_ms",
		 a, CG_CASE_NARGS, NULL);
}

int cg_pg_case_mark_closed(struct cg_store *st, const char *dedup_key, const char *case_id, int64_t flag,
			       int *marked)
{
	long ch = 0;
	int rc = cg_pg_q_changes(pg(st), "case mark",
			   "UPDATE cases SET action_flags = action_flags | $3::bigint"
			   " WHERE dedup_key = $1 AND case_id = $2 AND state = 3",
			   CG_ARGS(CG_ARG_TEXT(dedup_key), CG_ARG_TEXT(case_id), CG_ARG_I64(flag)), &ch);
	*marked = rc == 0 && ch > 0;
	return rc;
}

int cg_pg_case_list_closed(struct cg_store *st, const char *key_prefix, int64_t closed_before,
			       int64_t flags_clear, size_t limit, struct cg_store_case **out, size_t *nout)
{
	void *items = NULL;
	int rc = cg_pg_q_rows(pg(st), "closed case list",
		   "SELECT " CG_CASE_COLS " FROM cases WHERE state = 3 AND closed_ms < $2 AND case_id IS NOT NULL"
		   " AND (action_flags & $3::bigint) = 0 AND left(dedup_key, length($1)) = $1"
		   /* Two replicas sweeping at once take different cases (locks last until commit). */
		   " ORDER BY closed_ms LIMIT $4 FOR UPDATE SKIP LOCKED",
		   CG_ARGS(CG_ARG_TEXT(key_prefix), CG_ARG_I64(closed_before), CG_ARG_I64(flags_clear), CG_ARG_I64(limit)),
		   &cg_store_rec_case, &items, nout);
	if (rc == 0)
		*out = items;
	return rc;
}
