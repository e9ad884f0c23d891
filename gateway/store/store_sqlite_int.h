/* store_sqlite_int.h: the SQLite store's insides, shared by store_sqlite*.c only (nothing else includes it). */
#ifndef CG_STORE_SQLITE_INT_H
#define CG_STORE_SQLITE_INT_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "store.h"
#include "store_sql.h"

/* Every statement the store runs, by id; the SQL of each is in stmt_sql (store_sqlite_stmt.c). */
enum stmt_id {
	S_SP_BEGIN,
	S_SP_RELEASE,
	S_SP_ROLLBACK_TO,
	S_BEGIN,
	S_COMMIT,
	S_ROLLBACK,
	S_ENQ,
	S_CLAIM_SEL,
	S_CLAIM_UPD,
	S_NEXT_DUE,
	S_STEP,
	S_EV_HEAD,
	S_EV_DEL,
	S_PROMOTE,
	S_RETRY,
	S_DEAD_INS,
	S_CASE_GET,
	S_CASE_PUT,
	S_CASE_BY_KEY,
	S_ST_COUNT,
	S_ST_INFLIGHT,
	S_ST_OLDEST,
	S_ST_DEAD,
	S_ST_CASES,
	S_ST_PAGES,
	S_ST_PSIZE,
	S_DL_LIST,
	S_DL_GET,
	S_DL_REQUEUE,
	S_DL_DEL,
	S_SEEN_PRUNE,
	S_SEEN_INS,
	S_FIX_HEAD,
	S_PROBE_INS,
	S_PROBE_DEL,
	S_CASE_CLOSED,
	S_SEEN_GET,
	S_DELIVERED,
	S_SOURCE_STATS,
	S_CASE_MARK,
	S_DEFER,
	S_NOTE_PUT,
	S_NOTE_DEL,
	S_NOTE_LIST,
	S_HB_REG,
	S_HB_HEARD,
	S_HB_LIST,
	S_HB_RAISE,
	S_HB_CLEAR,
	S_KV_GET,
	S_KV_PUT,
	S_KV_DEL,
	S_KV_LIST,
	S_KEY_ACTIVE,
	S_ST_BY_PRIO,
	S_COUNT_
};

struct sq_ckpt; /* the background checkpointer (store_sqlite_ckpt.c) */

struct sq_store {
	struct cg_store base;
	sqlite3 *db;
	int relaxed;          /* synchronous=NORMAL now (cg_store_set_relaxed) */
	struct sq_ckpt *ckpt; /* NULL: SQLite's auto-checkpoint (tools) */
	sqlite3_stmt *stmts[S_COUNT_];
	char *path;
	int64_t last_prune_ms;
	/* stats: the queue depth by priority as last counted ([0] unused), and when (wall ms) */
	int64_t by_prio[6];
	int64_t by_prio_ms;
	char errmsg[512];
};

static inline struct sq_store *sq(struct cg_store *st)
{
	return (struct sq_store *)st;
}

static inline int64_t clamp_limit(size_t limit)
{
	return limit > (size_t)INT64_MAX ? INT64_MAX : (int64_t)limit;
}

/* ---- statements (store_sqlite_stmt.c): run by id with an argument list, cached ---- */

/* SQLite result code -> enum cg_err. */
int cg_sq_map(int rc);
/* Records (s->errmsg) and logs the failure of what; returns the mapped enum cg_err. */
int cg_sq_fail(struct sq_store *s, int rc, const char *what);
/* Finalizes every cached statement (before the connection closes). */
void cg_sq_stmts_close(struct sq_store *s);
/* Runs statement id with the arguments; *changes (may be NULL) gets the rows it changed. */
int cg_sq_exec(struct sq_store *s, enum stmt_id id, const char *what, const struct cg_store_arg *a, int n,
	       int *changes);
/* cg_sq_exec for a statement that changes one row: CG_ENOENT when it changed none. */
int cg_sq_exec_one(struct sq_store *s, enum stmt_id id, const char *what, const struct cg_store_arg *a, int n);
/* Single integer query; *is_null (may be NULL) set when the result is NULL. */
int cg_sq_query_i64(struct sq_store *s, enum stmt_id id, int64_t *out, int *is_null);
/* Runs statement id with the arguments and reads its rows (at most max when max > 0) into a new
 * array of rec items: *out (NULL for none), *nout. On a failure nothing is left allocated. */
int cg_sq_rows(struct sq_store *s, enum stmt_id id, const char *what, const struct cg_store_arg *a, int n,
	       const struct cg_store_rec *rec, size_t max, void **out, size_t *nout);
/* ... and its first row into item; CG_ENOENT when there is none. */
int cg_sq_row1(struct sq_store *s, enum stmt_id id, const char *what, const struct cg_store_arg *a, int n,
	       const struct cg_store_rec *rec, void *item);
/*
 * A savepoint makes a multi-statement operation atomic both inside the caller's transaction
 * (storeq batches) and in autocommit mode (tests, the dlq CLI). sp_end releases it when rc is
 * 0, rolls back to it otherwise, and returns rc (or the release's failure).
 */
int cg_sq_sp_begin(struct sq_store *s);
int cg_sq_sp_end(struct sq_store *s, int rc);

/* ---- schema (store_sqlite_schema.c) ---- */

/* The daemon's open of the file: WAL, the schema migrated, in-flight events pending again,
 * the queue-head flags repaired. */
int cg_sq_schema_create(struct sq_store *s, char *err, size_t errlen);
/* A tool's open: the schema must be one this build reads; nothing is migrated or repaired. */
int cg_sq_schema_check(struct sq_store *s, char *err, size_t errlen);

/* ---- background checkpoints (store_sqlite_ckpt.c) ---- */

/* Starts the checkpointer (on a failure SQLite's auto-checkpoint stays in charge); stop joins it. */
void cg_sq_ckpt_start(struct sq_store *s);
void cg_sq_ckpt_stop(struct sq_store *s);

/* ---- the queue (store_sqlite_events.c) ---- */

/* Makes the lowest id of event id's key its head, unless an event of the key is in flight. */
int cg_sq_fix_head(struct sq_store *s, int64_t id);

/*
 * ---- the operations (members of struct cg_store_ops), by file ----
 * store_sqlite_stmt.c    begin, commit, rollback
 * store_sqlite_events.c  enqueue, claim, next_due_ms, event_step / done / retry / defer / dead
 * store_sqlite_cases.c   case_get, case_find_by_key, case_put, case_mark_closed, case_list_closed
 * store_sqlite_dead.c    dead_list, dead_get, dead_retry, dead_drop
 * store_sqlite_seen.c    seen, seen_get
 * store_sqlite_status.c  stats, source_stats, note_put, note_list, and probe (SQLite's own)
 * store_sqlite_heartbeat.c  hb_register, hb_heard, hb_list, hb_raise, hb_clear
 * store_sqlite_kv.c      kv_lock, kv_get, kv_put, kv_list, key_active
 */
CG_STORE_OPS_DECLARE(cg_sq_)
int cg_sq_probe(struct cg_store *st);
int cg_sq_set_relaxed(struct cg_store *st, int relaxed); /* store_sqlite_stmt.c */

#endif
