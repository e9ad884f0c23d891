/* store_sqlite_stmt.c: the SQLite store's statements: SQL by id, cache, arguments, rows, savepoints, transactions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "err.h"
#include "store_sqlite_int.h"

#define CG_LOG_COMPONENT "store"
#include "log.h"

static const char *const stmt_sql[S_COUNT_] = {
	[S_SP_BEGIN] = "SAVEPOINT cg_op",
	[S_SP_RELEASE] = "RELEASE cg_op",
	[S_SP_ROLLBACK_TO] = "ROLLBACK TO cg_op",
	/* IMMEDIATE takes the write lock up front: no deadlock-prone read-to-write upgrade. */
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	/* ?12: the aging (ms) the rank is computed with. */
	[S_ENQ] = "INSERT INTO events (source, dedup_key, status, priority, severity, payload, received_ms,"
		  " attempts, next_ms, step, last_error, inflight, is_head, rank_ms)"
		  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 0,"
		  " NOT EXISTS (SELECT 1 FROM events WHERE dedup_key = ?2),"
		  " " CG_SQL_EVENT_RANK("?4", "?3", "?7", "?2", "?12") ")",
	/*
	 * The most urgent due heads first (rank, then id). The scan walks events_ready in rank order
	 * and stops at the limit: under a backlog (heads due) that is a few index entries however
	 * long the queue; heads in backoff ranked ahead are stepped over in the index (next_ms is in
	 * it; 300,000 of them cost about 20 ms). INDEXED BY keeps it that way whatever the planner
	 * guesses from a sorted range on events_due.
	 */
	[S_CLAIM_SEL] = "SELECT " CG_EV_COLS " FROM events INDEXED BY events_ready"
			" WHERE is_head = 1 AND inflight = 0 AND next_ms <= ?1 ORDER BY rank_ms, id LIMIT ?2",
	[S_CLAIM_UPD] = "UPDATE events SET inflight = 1 WHERE id = ?1",
	[S_NEXT_DUE] = "SELECT MIN(next_ms) FROM events INDEXED BY events_due WHERE is_head = 1 AND inflight = 0",
	[S_STEP] = "UPDATE events SET step = ?2 WHERE id = ?1",
	[S_EV_HEAD] = "SELECT dedup_key, is_head FROM events WHERE id = ?1",
	[S_EV_DEL] = "DELETE FROM events WHERE id = ?1",
	[S_PROMOTE] = "UPDATE events SET is_head = 1 WHERE id = (SELECT MIN(id) FROM events WHERE dedup_key = ?1)"
		      " AND is_head = 0",
	[S_RETRY] = "UPDATE events SET inflight = 0, attempts = attempts + 1, next_ms = ?2, last_error = ?3"
		    " WHERE id = ?1",
	/* The attempt that gave up counts as a failed attempt. */
	[S_DEAD_INS] = "INSERT INTO dead_letters (event_id, source, dedup_key, status, priority, severity, payload,"
		       " received_ms, attempts, next_ms, step, last_error, http_status, reason, failed_ms)"
		       " SELECT id, source, dedup_key, status, priority, severity, payload, received_ms,"
		       " attempts + 1, next_ms, step, last_error, ?2, ?3, ?4 FROM events WHERE id = ?1",
	[S_CASE_GET] = "SELECT " CG_CASE_COLS " FROM cases WHERE dedup_key = ?1",
	[S_CASE_PUT] = "INSERT OR REPLACE INTO cases (" CG_CASE_COLS ")"
		       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
	[S_CASE_BY_KEY] = "SELECT " CG_CASE_COLS " FROM cases WHERE case_key = ?1 OR case_id = ?1"
			  " ORDER BY created_ms DESC LIMIT 1",
	[S_ST_COUNT] = "SELECT COUNT(*) FROM events",
	/* Pending by priority: five range counts on events_priority (a covering index; about 70 ms
	 * for a million events, where COUNT(*) above takes SQLite's few-ms shortcut). */
	[S_ST_BY_PRIO] = "SELECT (SELECT COUNT(*) FROM events WHERE priority = 1), (SELECT COUNT(*) FROM events"
			 " WHERE priority = 2), (SELECT COUNT(*) FROM events WHERE priority = 3), (SELECT COUNT(*)"
			 " FROM events WHERE priority = 4), (SELECT COUNT(*) FROM events WHERE priority = 5)",
	[S_ST_INFLIGHT] = "SELECT COUNT(*) FROM events WHERE inflight = 1",
	[S_ST_OLDEST] = "SELECT MIN(received_ms) FROM events",
	[S_ST_DEAD] = "SELECT COUNT(*) FROM dead_letters",
	[S_ST_CASES] = "SELECT COUNT(*) FROM cases",
	/* Pages holding data: free pages (delivered events' rows deleted) are room, not size. */
	[S_ST_PAGES] = "SELECT (SELECT page_count FROM pragma_page_count()) - "
		       "(SELECT freelist_count FROM pragma_freelist_count())",
	[S_ST_PSIZE] = "PRAGMA page_size",
	[S_DL_LIST] = "SELECT " CG_DL_COLS " FROM dead_letters ORDER BY id LIMIT ?1",
	[S_DL_GET] = "SELECT " CG_DL_COLS " FROM dead_letters WHERE id = ?1",
	/*
	 * Keeps received_ms (when the alert arrived) and step (operations already applied), and
	 * takes back the event's original id (AUTOINCREMENT never hands it out again): per-key order
	 * is id order, so the retried event goes back before the newer events of its key.
	 * S_FIX_HEAD then makes it the head unless its key has an event in flight.
	 */
	[S_DL_REQUEUE] = "INSERT INTO events (id, source, dedup_key, status, priority, severity, payload, received_ms,"
			 " attempts, next_ms, step, last_error, inflight, is_head, rank_ms)"
			 " SELECT CASE WHEN EXISTS (SELECT 1 FROM events x WHERE x.id = d.event_id) THEN NULL"
			 " ELSE d.event_id END,"
			 " d.source, d.dedup_key, d.status, d.priority, d.severity, d.payload, d.received_ms,"
			 " 0, ?2, 0, NULL, 0," /* step 0: decided afresh against the case as it is now */
			 " NOT EXISTS (SELECT 1 FROM events e WHERE e.dedup_key = d.dedup_key),"
			 /* ranked from when the alert arrived, not from the retry (?3: the aging) */
			 " " CG_SQL_EVENT_RANK("d.priority", "d.status", "d.received_ms", "d.dedup_key", "?3")
			 " FROM dead_letters d WHERE d.id = ?1",
	[S_DL_DEL] = "DELETE FROM dead_letters WHERE id = ?1",
	[S_SEEN_PRUNE] = "DELETE FROM seen WHERE seen_ms < ?2 AND (seen_ms < ?1 OR substr(ns, 1, length(?3)) = ?3)",
	[S_SEEN_INS] = "INSERT OR IGNORE INTO seen (ns, id, seen_ms) VALUES (?1, ?2, ?3)",
	/* The head of event ?1's key is its lowest id, unless an event of the key is in flight
	 * (one at a time per key: the head changes when that one is done). Only differing rows. */
	[S_FIX_HEAD] = "UPDATE events SET is_head = 1 - is_head"
		       " WHERE dedup_key = (SELECT dedup_key FROM events WHERE id = ?1)"
		       " AND is_head != (id = (SELECT MIN(m.id) FROM events m WHERE m.dedup_key = events.dedup_key))"
		       " AND NOT EXISTS (SELECT 1 FROM events f WHERE f.dedup_key = events.dedup_key AND f.inflight = 1)",
	/* A write that needs fresh pages (overflow), undone in the same transaction. */
	[S_PROBE_INS] = "INSERT INTO seen (ns, id, seen_ms) VALUES ('casegate:probe', hex(randomblob(4096)), 0)",
	[S_PROBE_DEL] = "DELETE FROM seen WHERE ns = 'casegate:probe'",
	[S_CASE_CLOSED] = "SELECT " CG_CASE_COLS " FROM cases WHERE state = 3 AND closed_ms < ?2 AND case_id IS NOT NULL"
			  " AND (action_flags & ?3) = 0 AND substr(dedup_key, 1, length(?1)) = ?1"
			  " ORDER BY closed_ms LIMIT ?4",
	[S_SEEN_GET] = "SELECT id FROM seen WHERE ns = ?1 AND seen_ms >= ?2 ORDER BY seen_ms DESC, id LIMIT 1",
	[S_DELIVERED] = "INSERT INTO deliveries (source, delivered, last_ms, dedup_key)"
			" SELECT source, 1, ?2, dedup_key FROM events WHERE id = ?1"
			" ON CONFLICT (source) DO UPDATE SET delivered = delivered + 1, last_ms = excluded.last_ms,"
			/* The key stays the last one with a case: an ignored resolution (no case) must
			 * not blank `casegate status`'s LAST CASE. */
			" dedup_key = CASE WHEN EXISTS (SELECT 1 FROM cases c WHERE c.dedup_key = excluded.dedup_key"
			"   AND c.case_key IS NOT NULL) THEN excluded.dedup_key ELSE dedup_key END",
	/* Back to pending without counting an attempt: nothing failed (search lag, a held queue). */
	[S_DEFER] = "UPDATE events SET inflight = 0, next_ms = ?2, last_error = ?3 WHERE id = ?1",
	[S_NOTE_PUT] = "INSERT OR REPLACE INTO notes (replica, name, value, updated_ms) VALUES ('', ?1, ?2, ?3)",
	[S_NOTE_DEL] = "DELETE FROM notes WHERE replica = '' AND name = ?1",
	[S_NOTE_LIST] = "SELECT replica, name, value, updated_ms FROM notes ORDER BY replica, name",
	/* Heartbeats: the conditional updates are the decisions (one process decides at a time). */
	[S_HB_REG] = "INSERT OR IGNORE INTO heartbeats (source, started_ms) VALUES (?1, ?2)",
	[S_HB_HEARD] = "INSERT INTO heartbeat_heard (source, replica, last_ms) VALUES (?1, '', ?2)"
		       " ON CONFLICT (source, replica) DO UPDATE SET last_ms = max(last_ms, excluded.last_ms)",
	[S_HB_LIST] = "SELECT h.source, h.started_ms,"
		      " coalesce((SELECT max(x.last_ms) FROM heartbeat_heard x WHERE x.source = h.source), 0),"
		      " h.raised, h.raised_ms FROM heartbeats h ORDER BY h.source",
	[S_HB_RAISE] = "UPDATE heartbeats SET raised = 1, raised_ms = ?3 WHERE source = ?1 AND raised = 0"
		       " AND max(started_ms, coalesce((SELECT max(x.last_ms) FROM heartbeat_heard x"
		       " WHERE x.source = ?1), 0)) < ?2",
	[S_HB_CLEAR] = "UPDATE heartbeats SET raised = 0 WHERE source = ?1 AND raised = 1"
		       " AND coalesce((SELECT max(x.last_ms) FROM heartbeat_heard x WHERE x.source = ?1), 0) > raised_ms",
	[S_KV_GET] = "SELECT k, v, due_ms FROM kv WHERE k = ?1",
	[S_KV_PUT] = "INSERT INTO kv (k, v, due_ms) VALUES (?1, ?2, ?3)"
		     " ON CONFLICT (k) DO UPDATE SET v = excluded.v, due_ms = excluded.due_ms",
	[S_KV_DEL] = "DELETE FROM kv WHERE k = ?1",
	[S_KV_LIST] = "SELECT k, v, due_ms FROM kv WHERE k >= ?1 AND k < ?2"
		      " AND (?3 = 0 OR (due_ms > 0 AND due_ms <= ?3)) ORDER BY k",
	/* A key is active while an event of it waits or a case of it is open (or being created). */
	[S_KEY_ACTIVE] = "SELECT EXISTS (SELECT 1 FROM events WHERE dedup_key = ?1)"
			 " OR EXISTS (SELECT 1 FROM cases WHERE dedup_key = ?1 AND state IN (1, 2))",
	[S_CASE_MARK] = "UPDATE cases SET action_flags = action_flags | ?3"
			" WHERE dedup_key = ?1 AND case_id = ?2 AND state = 3",
	/* Runs for `casegate status` only: scans of events per source are acceptable there. */
	[S_SOURCE_STATS] = "SELECT s.source,"
			   " (SELECT COUNT(*) FROM events e WHERE e.source = s.source),"
			   " (SELECT MIN(received_ms) FROM events e WHERE e.source = s.source),"
			   " (SELECT COUNT(*) FROM dead_letters d WHERE d.source = s.source),"
			   " dl.delivered, dl.last_ms, dl.dedup_key, c.case_key"
			   " FROM (SELECT source FROM events UNION SELECT source FROM dead_letters"
			   "       UNION SELECT source FROM deliveries) s"
			   " LEFT JOIN deliveries dl ON dl.source = s.source"
			   " LEFT JOIN cases c ON c.dedup_key = dl.dedup_key"
			   " ORDER BY s.source",
};

int cg_sq_map(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
	case SQLITE_FULL:
		return CG_EFULL;
	case SQLITE_NOMEM:
		return CG_ENOMEM;
	case SQLITE_CONSTRAINT:
		return CG_EEXIST;
	case SQLITE_TOOBIG:
		return CG_E2BIG;
	case SQLITE_MISUSE:
	case SQLITE_RANGE:
		return CG_EINVAL;
	default:
		/* IOERR, CANTOPEN, READONLY, CORRUPT, NOTADB, BUSY, LOCKED, PROTOCOL, ... */
		return CG_EIO;
	}
}

/* Records and logs the failure; returns the mapped enum cg_err. */
int cg_sq_fail(struct sq_store *s, int rc, const char *what)
{
	const char *msg = s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);
	snprintf(s->errmsg, sizeof(s->errmsg), "%s: %s (sqlite %d)", what, msg, rc);
	CG_LOG_ERR("%s", s->errmsg);
	return cg_sq_map(rc);
}

static int stmt_get(struct sq_store *s, enum stmt_id id, sqlite3_stmt **out)
{
	if (!s->stmts[id]) {
		int rc = sqlite3_prepare_v3(s->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &s->stmts[id], NULL);
		if (rc != SQLITE_OK) {
			s->stmts[id] = NULL;
			return cg_sq_fail(s, rc, "prepare");
		}
	}
	*out = s->stmts[id];
	return 0;
}

/* Finalizes every cached statement (before the connection closes). */
void cg_sq_stmts_close(struct sq_store *s)
{
	for (int i = 0; i < S_COUNT_; i++) {
		sqlite3_finalize(s->stmts[i]);
		s->stmts[i] = NULL;
	}
}

/* Makes the statement reusable and drops references to the caller's strings (bound STATIC). */
static void stmt_done(sqlite3_stmt *stmt)
{
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
}

/* Runs a statement that returns no row we care about; *changes may be NULL. */
static int run(struct sq_store *s, sqlite3_stmt *stmt, const char *what, int *changes)
{
	int rc = sqlite3_step(stmt);
	while (rc == SQLITE_ROW) /* PRAGMAs and RETURNING-less writes do not, but be safe */
		rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE) {
		rc = cg_sq_fail(s, rc, what);
		stmt_done(stmt);
		return rc;
	}
	stmt_done(stmt);
	if (changes)
		*changes = sqlite3_changes(s->db);
	return 0;
}

/* Gets statement id with the arguments bound in order (?1 first). */
static int prep(struct sq_store *s, enum stmt_id id, const struct cg_store_arg *a, int n, sqlite3_stmt **out)
{
	sqlite3_stmt *stmt = NULL;
	int rc = stmt_get(s, id, &stmt);
	if (rc)
		return rc;
	for (int i = 0; i < n; i++) {
		if (a[i].is_text)
			sqlite3_bind_text(stmt, i + 1, a[i].text, -1, SQLITE_STATIC);
		else
			sqlite3_bind_int64(stmt, i + 1, a[i].i);
	}
	*out = stmt;
	return 0;
}

/* Runs statement id with the arguments; *changes may be NULL. */
int cg_sq_exec(struct sq_store *s, enum stmt_id id, const char *what, const struct cg_store_arg *a, int n,
		     int *changes)
{
	sqlite3_stmt *stmt = NULL;
	int rc = prep(s, id, a, n, &stmt);
	return rc ? rc : run(s, stmt, what, changes);
}

/* cg_sq_exec for a statement that changes one row: CG_ENOENT when it changed none. */
int cg_sq_exec_one(struct sq_store *s, enum stmt_id id, const char *what, const struct cg_store_arg *a, int n)
{
	int changes = 0;
	int rc = cg_sq_exec(s, id, what, a, n, &changes);
	return rc ? rc : changes ? 0 : CG_ENOENT;
}

static int run_id(struct sq_store *s, enum stmt_id id, const char *what)
{
	return cg_sq_exec(s, id, what, NULL, 0, NULL);
}

/* Single integer query; *is_null set when the result is NULL. */
int cg_sq_query_i64(struct sq_store *s, enum stmt_id id, int64_t *out, int *is_null)
{
	sqlite3_stmt *stmt = NULL;
	int rc = stmt_get(s, id, &stmt);
	if (rc)
		return rc;
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW) {
		stmt_done(stmt);
		return cg_sq_fail(s, rc == SQLITE_DONE ? SQLITE_ERROR : rc, stmt_sql[id]);
	}
	if (is_null)
		*is_null = sqlite3_column_type(stmt, 0) == SQLITE_NULL;
	*out = sqlite3_column_int64(stmt, 0);
	stmt_done(stmt);
	return 0;
}

/*
 * Savepoints make multi-statement operations atomic both inside the caller's transaction
 * (storeq batches) and in autocommit mode (tests, the dlq CLI), where the outermost
 * savepoint is itself the transaction.
 */
int cg_sq_sp_begin(struct sq_store *s)
{
	return run_id(s, S_SP_BEGIN, "savepoint");
}

int cg_sq_sp_end(struct sq_store *s, int rc)
{
	if (rc == 0) {
		int r = run_id(s, S_SP_RELEASE, "release");
		if (r == 0)
			return 0;
		rc = r;
	}
	/* SQLITE_FULL/IOERR may already have rolled the whole transaction back. */
	if (!sqlite3_get_autocommit(s->db)) {
		if (run_id(s, S_SP_ROLLBACK_TO, "rollback to savepoint") == 0)
			run_id(s, S_SP_RELEASE, "release after rollback");
	}
	return rc;
}

/* ---- rows (struct cg_store_row over a statement's current row) ---- */

static int64_t col_i64(const struct cg_store_row *r, int col)
{
	return sqlite3_column_int64(r->res, col);
}

static int col_text(const struct cg_store_row *r, int col, char **out)
{
	*out = NULL;
	if (sqlite3_column_type(r->res, col) == SQLITE_NULL)
		return 0;
	const unsigned char *t = sqlite3_column_text(r->res, col);
	if (!t)
		return CG_ENOMEM;
	size_t n = (size_t)sqlite3_column_bytes(r->res, col);
	char *p = malloc(n + 1);
	if (!p)
		return CG_ENOMEM;
	memcpy(p, t, n);
	p[n] = '\0';
	*out = p;
	return 0;
}

/*
 * Steps stmt through its rows (at most max when max > 0) into a new array of rec items
 * (*out, NULL for none), then resets stmt. On a failure nothing is left allocated.
 */
static int read_rows(struct sq_store *s, sqlite3_stmt *stmt, const char *what, const struct cg_store_rec *rec,
		     size_t max, void **out, size_t *nout)
{
	struct cg_store_row row = {col_i64, col_text, stmt, 0};
	unsigned char *v = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	while (!max || n < max) {
		int r = sqlite3_step(stmt);
		if (r == SQLITE_DONE)
			break;
		if (r != SQLITE_ROW) {
			rc = cg_sq_fail(s, r, what);
			break;
		}
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			if (max && ncap > max)
				ncap = max;
			void *nv = realloc(v, ncap * rec->size);
			if (!nv) {
				rc = CG_ENOMEM;
				break;
			}
			v = nv;
			cap = ncap;
		}
		if ((rc = rec->read(&row, v + n * rec->size)))
			break; /* the row that failed has cleaned up after itself */
		n++;
	}
	stmt_done(stmt);
	if (rc) {
		rec->free(v, n);
		return rc;
	}
	if (n == 0) {
		free(v);
		v = NULL;
	}
	*out = v;
	*nout = n;
	return 0;
}

/* Reads the first row of stmt into item (CG_ENOENT when there is none), then resets stmt. */
static int read_row1(struct sq_store *s, sqlite3_stmt *stmt, const char *what, const struct cg_store_rec *rec,
		     void *item)
{
	struct cg_store_row row = {col_i64, col_text, stmt, 0};
	int r = sqlite3_step(stmt), rc;
	if (r == SQLITE_ROW)
		rc = rec->read(&row, item);
	else if (r == SQLITE_DONE)
		rc = CG_ENOENT;
	else
		rc = cg_sq_fail(s, r, what);
	stmt_done(stmt);
	return rc;
}

/* Runs statement id with the arguments and reads its rows (read_rows). */
int cg_sq_rows(struct sq_store *s, enum stmt_id id, const char *what, const struct cg_store_arg *a, int n,
		      const struct cg_store_rec *rec, size_t max, void **out, size_t *nout)
{
	sqlite3_stmt *stmt = NULL;
	int rc = prep(s, id, a, n, &stmt);
	return rc ? rc : read_rows(s, stmt, what, rec, max, out, nout);
}

/* Runs statement id with the arguments and reads its first row (read_row1). */
int cg_sq_row1(struct sq_store *s, enum stmt_id id, const char *what, const struct cg_store_arg *a, int n,
		      const struct cg_store_rec *rec, void *item)
{
	sqlite3_stmt *stmt = NULL;
	int rc = prep(s, id, a, n, &stmt);
	return rc ? rc : read_row1(s, stmt, what, rec, item);
}

/* ---- transactions ---- */

int cg_sq_begin(struct cg_store *st)
{
	return run_id(sq(st), S_BEGIN, "begin");
}

int cg_sq_commit(struct cg_store *st)
{
	return run_id(sq(st), S_COMMIT, "commit");
}

int cg_sq_rollback(struct cg_store *st)
{
	struct sq_store *s = sq(st);
	/* Errors such as SQLITE_FULL can end the transaction by themselves. */
	if (sqlite3_get_autocommit(s->db))
		return 0;
	return run_id(s, S_ROLLBACK, "rollback");
}

int cg_sq_set_relaxed(struct cg_store *st, int relaxed)
{
	struct sq_store *s = sq(st);
	relaxed = !!relaxed;
	if (s->relaxed == relaxed)
		return 0;
	if (sqlite3_exec(s->db, relaxed ? "PRAGMA synchronous = NORMAL" : "PRAGMA synchronous = FULL", NULL, NULL,
			 NULL) != SQLITE_OK)
		return CG_EIO;
	s->relaxed = relaxed;
	return 0;
}
