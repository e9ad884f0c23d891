/* store_sqlite_events.c: the SQLite store's queue: enqueue, claim, progress and outcome (one head per key). */
#include <stdlib.h>

#include "err.h"
#include "store_sqlite_int.h"

int cg_sq_enqueue(struct cg_store *st, struct cg_store_event *evs, size_t n)
{
	struct sq_store *s = sq(st);
	int64_t *ids = NULL;
	int rc = 0;

	if (n == 0)
		return 0;
	if ((rc = cg_store_events_check(evs, n)))
		return rc;
	ids = calloc(n, sizeof(*ids));
	if (!ids)
		return CG_ENOMEM;
	/* A savepoint makes several inserts one unit inside a caller's transaction; one INSERT
	 * is atomic by itself (the usual webhook carries one alert). */
	int sp = n > 1;
	if (sp && (rc = cg_sq_sp_begin(s)))
		goto out;
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct cg_store_arg a[CG_EV_NARGS + 1];
		cg_store_event_args(&evs[i], a);
		a[CG_EV_NARGS] = CG_ARG_I64(cg_store_aging(st));
		rc = cg_sq_exec(s, S_ENQ, "enqueue", a, CG_EV_NARGS + 1, NULL);
		if (rc == 0)
			ids[i] = sqlite3_last_insert_rowid(s->db);
	}
	if (sp)
		rc = cg_sq_sp_end(s, rc);
	if (rc == 0)
		for (size_t i = 0; i < n; i++)
			evs[i].id = ids[i];
out:
	free(ids);
	return rc;
}

int cg_sq_claim(struct cg_store *st, int64_t now_ms, size_t limit, struct cg_store_event **out, size_t *nout)
{
	struct sq_store *s = sq(st);
	void *items = NULL;
	size_t n = 0;
	int rc;

	if (limit == 0) {
		*out = NULL;
		*nout = 0;
		return 0;
	}
	if ((rc = cg_sq_sp_begin(s)))
		return rc;
	/* Read every row first: updating rows of the index being scanned is not defined. */
	rc = cg_sq_rows(s, S_CLAIM_SEL, "claim", CG_ARGS(CG_ARG_I64(now_ms), CG_ARG_I64(clamp_limit(limit))),
			&cg_store_rec_event, limit, &items, &n);
	struct cg_store_event *v = items;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = cg_sq_exec(s, S_CLAIM_UPD, "claim mark", CG_ARGS(CG_ARG_I64(v[i].id)), NULL);
	rc = cg_sq_sp_end(s, rc);
	if (rc) {
		cg_store_events_free(v, n);
		return rc;
	}
	*out = v;
	*nout = n;
	return 0;
}

int cg_sq_next_due_ms(struct cg_store *st, int64_t *out)
{
	int64_t v;
	int is_null;
	int rc = cg_sq_query_i64(sq(st), S_NEXT_DUE, &v, &is_null);
	if (rc)
		return rc;
	if (is_null)
		return CG_ENOENT;
	*out = v;
	return 0;
}

int cg_sq_event_step(struct cg_store *st, int64_t id, int step)
{
	return cg_sq_exec_one(sq(st), S_STEP, "event step", CG_ARGS(CG_ARG_I64(id), CG_ARG_I64(step)));
}

/* The key of an event and whether the event is the key's head (S_EV_HEAD). */
struct head {
	char *key;
	int64_t is_head;
};

static int item_head(const struct cg_store_row *r, void *item)
{
	struct head *h = item;
	h->is_head = r->i64(r, 1);
	return r->text(r, 0, &h->key);
}

/* Deletes an event and hands the head role of its key to the next one. Inside a savepoint. */
static int delete_event(struct sq_store *s, int64_t id)
{
	const struct cg_store_rec rec = {sizeof(struct head), item_head, NULL};
	struct head h = {0};
	int rc = cg_sq_row1(s, S_EV_HEAD, "event lookup", CG_ARGS(CG_ARG_I64(id)), &rec, &h);
	if (rc == 0)
		rc = cg_sq_exec(s, S_EV_DEL, "event delete", CG_ARGS(CG_ARG_I64(id)), NULL);
	if (rc == 0 && h.is_head && h.key)
		rc = cg_sq_exec(s, S_PROMOTE, "event promote", CG_ARGS(CG_ARG_TEXT(h.key)), NULL);
	free(h.key);
	return rc;
}

int cg_sq_event_done(struct cg_store *st, int64_t id)
{
	struct sq_store *s = sq(st);
	int rc = cg_sq_sp_begin(s);
	if (rc)
		return rc;
	rc = cg_sq_exec(s, S_DELIVERED, "delivery record", CG_ARGS(CG_ARG_I64(id), CG_ARG_I64(cg_store_wall_ms())),
		       NULL);
	return cg_sq_sp_end(s, rc ? rc : delete_event(s, id));
}

int cg_sq_fix_head(struct sq_store *s, int64_t id)
{
	return cg_sq_exec(s, S_FIX_HEAD, "fix head", CG_ARGS(CG_ARG_I64(id)), NULL);
}

/* Back to pending by statement id (?1 id, ?2 next_ms, ?3 text), then a dead letter retried
 * while the event was in flight (it waits behind it with a lower id) gets the head now that
 * the key is idle. */
static int release(struct sq_store *s, enum stmt_id id, const char *what, int64_t ev, int64_t next_ms,
		   const char *text)
{
	int rc = cg_sq_exec_one(s, id, what, CG_ARGS(CG_ARG_I64(ev), CG_ARG_I64(next_ms), CG_ARG_TEXT(text)));
	return rc ? rc : cg_sq_fix_head(s, ev);
}

int cg_sq_event_retry(struct cg_store *st, int64_t id, int64_t next_ms, const char *err)
{
	return release(sq(st), S_RETRY, "event retry", id, next_ms, err);
}

int cg_sq_event_defer(struct cg_store *st, int64_t id, int64_t next_ms, const char *why)
{
	return release(sq(st), S_DEFER, "event defer", id, next_ms, why);
}

int cg_sq_event_dead(struct cg_store *st, int64_t id, int http_status, const char *reason)
{
	struct sq_store *s = sq(st);
	int rc = cg_sq_sp_begin(s);
	if (rc)
		return rc;
	rc = cg_sq_exec_one(s, S_DEAD_INS, "dead letter insert",
		      CG_ARGS(CG_ARG_I64(id), CG_ARG_I64(http_status), CG_ARG_TEXT(reason),
			      CG_ARG_I64(cg_store_wall_ms())));
	if (rc == 0)
		rc = delete_event(s, id);
	return cg_sq_sp_end(s, rc);
}
