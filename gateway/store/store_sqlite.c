/* store_sqlite.c: the durable store in one SQLite file (WAL, synchronous=FULL, cached statements). */
#include "store.h"

#include <errno.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sqlite3.h>

#include "err.h"
#include "store_sql.h"
#include "store_sqlite_int.h"

#define CG_LOG_COMPONENT "store"
#include "log.h"

/*
 * Schema. Each entry upgrades user_version i to i+1 and runs in its own transaction, so a
 * later version appends an entry (ALTER TABLE ... ADD COLUMN ...) and old files catch up.
 *
 * is_head marks the lowest id of each dedup key (maintained by enqueue, done, dead and
 * dead_retry). Only heads are claimable, which is the per-key order rule; the partial index
 * events_ready then holds exactly the claimable candidates, so claim and next_due are an
 * index range scan however many events wait behind busy or backed-off keys.
 */
static const char *const migrations[] = {
	/* 0 -> 1 */
	"CREATE TABLE events ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" source TEXT NOT NULL,"
	" dedup_key TEXT NOT NULL,"
	" status INTEGER NOT NULL,"
	" priority INTEGER NOT NULL,"
	" severity TEXT,"
	" payload TEXT,"
	" received_ms INTEGER NOT NULL,"
	" attempts INTEGER NOT NULL DEFAULT 0,"
	" next_ms INTEGER NOT NULL,"
	" step INTEGER NOT NULL DEFAULT 0,"
	" last_error TEXT,"
	" inflight INTEGER NOT NULL DEFAULT 0,"
	" is_head INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX events_key ON events(dedup_key, id);"
	"CREATE INDEX events_ready ON events(next_ms, id) WHERE is_head = 1 AND inflight = 0;"
	"CREATE INDEX events_inflight ON events(id) WHERE inflight = 1;"
	"CREATE INDEX events_received ON events(received_ms);"
	"CREATE TABLE cases ("
	" dedup_key TEXT PRIMARY KEY NOT NULL,"
	" case_id TEXT,"
	" case_key TEXT,"
	" state INTEGER NOT NULL DEFAULT 0,"
	" priority INTEGER NOT NULL DEFAULT 0,"
	" generation INTEGER NOT NULL DEFAULT 0,"
	" marker TEXT,"
	" prev_case_key TEXT,"
	" created_ms INTEGER NOT NULL DEFAULT 0,"
	" closed_ms INTEGER NOT NULL DEFAULT 0,"
	" last_fire_ms INTEGER NOT NULL DEFAULT 0,"
	" last_comment_ms INTEGER NOT NULL DEFAULT 0,"
	" fires INTEGER NOT NULL DEFAULT 0,"
	" pending_repeats INTEGER NOT NULL DEFAULT 0,"
	" first_pending_ms INTEGER NOT NULL DEFAULT 0,"
	" last_summary TEXT);"
	"CREATE INDEX cases_case_key ON cases(case_key);"
	"CREATE TABLE dead_letters ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" event_id INTEGER NOT NULL,"
	" source TEXT NOT NULL,"
	" dedup_key TEXT NOT NULL,"
	" status INTEGER NOT NULL,"
	" priority INTEGER NOT NULL,"
	" severity TEXT,"
	" payload TEXT,"
	" received_ms INTEGER NOT NULL,"
	" attempts INTEGER NOT NULL,"
	" next_ms INTEGER NOT NULL,"
	" step INTEGER NOT NULL,"
	" last_error TEXT,"
	" http_status INTEGER NOT NULL,"
	" reason TEXT,"
	" failed_ms INTEGER NOT NULL);"
	"CREATE TABLE seen ("
	" ns TEXT NOT NULL,"
	" id TEXT NOT NULL,"
	" seen_ms INTEGER NOT NULL,"
	" PRIMARY KEY (ns, id)) WITHOUT ROWID;"
	"CREATE INDEX seen_time ON seen(seen_ms);",
	/* 1 -> 2: lifecycle actions (link to the previous case, one-shot integrations, archive). */
	"ALTER TABLE cases ADD COLUMN prev_case_id TEXT;"
	"ALTER TABLE cases ADD COLUMN action_flags INTEGER NOT NULL DEFAULT 0;"
	"CREATE INDEX cases_closed ON cases(closed_ms) WHERE state = 3;",
	/* 2 -> 3: the latest delivery of each source (casegate status). */
	"CREATE TABLE deliveries ("
	" source TEXT PRIMARY KEY NOT NULL,"
	" delivered INTEGER NOT NULL DEFAULT 0,"
	" last_ms INTEGER NOT NULL DEFAULT 0,"
	" dedup_key TEXT);",
	/* 3 -> 4: Datadog is the truth: when an unknown create was sent (search lag settles from
	 * there), when the case's state was last confirmed by Datadog, lookups by case id (case
	 * events pushed by Datadog), and the daemon's notes for `casegate status`. */
	"ALTER TABLE cases ADD COLUMN sent_ms INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE cases ADD COLUMN confirmed_ms INTEGER NOT NULL DEFAULT 0;"
	"CREATE INDEX cases_case_id ON cases(case_id);"
	"CREATE TABLE notes ("
	" replica TEXT NOT NULL,"
	" name TEXT NOT NULL,"
	" value TEXT NOT NULL,"
	" updated_ms INTEGER NOT NULL,"
	" PRIMARY KEY (replica, name)) WITHOUT ROWID;",
};
#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

static const char *const stmt_sql[S_COUNT_] = {
	[S_SP_BEGIN] = "SAVEPOINT cg_op",
	[S_SP_RELEASE] = "RELEASE cg_op",
	[S_SP_ROLLBACK_TO] = "ROLLBACK TO cg_op",
	/* IMMEDIATE takes the write lock up front: no deadlock-prone read-to-write upgrade. */
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_ENQ] = "INSERT INTO events (source, dedup_key, status, priority, severity, payload, received_ms,"
		  " attempts, next_ms, step, last_error, inflight, is_head)"
		  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 0,"
		  " NOT EXISTS (SELECT 1 FROM events WHERE dedup_key = ?2))",
	[S_CLAIM_SEL] = "SELECT " CG_EV_COLS " FROM events WHERE is_head = 1 AND inflight = 0 AND next_ms <= ?1"
			" ORDER BY next_ms, id LIMIT ?2",
	[S_CLAIM_UPD] = "UPDATE events SET inflight = 1 WHERE id = ?1",
	[S_NEXT_DUE] = "SELECT MIN(next_ms) FROM events WHERE is_head = 1 AND inflight = 0",
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
	[S_ST_INFLIGHT] = "SELECT COUNT(*) FROM events WHERE inflight = 1",
	[S_ST_OLDEST] = "SELECT MIN(received_ms) FROM events",
	[S_ST_DEAD] = "SELECT COUNT(*) FROM dead_letters",
	[S_ST_CASES] = "SELECT COUNT(*) FROM cases",
	[S_ST_PAGES] = "PRAGMA page_count",
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
			 " attempts, next_ms, step, last_error, inflight, is_head)"
			 " SELECT CASE WHEN EXISTS (SELECT 1 FROM events x WHERE x.id = d.event_id) THEN NULL"
			 " ELSE d.event_id END,"
			 " d.source, d.dedup_key, d.status, d.priority, d.severity, d.payload, d.received_ms,"
			 " 0, ?2, 0, NULL, 0," /* step 0: decided afresh against the case as it is now */
			 " NOT EXISTS (SELECT 1 FROM events e WHERE e.dedup_key = d.dedup_key)"
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
			" dedup_key = excluded.dedup_key",
	/* Back to pending without counting an attempt: nothing failed (search lag, a held queue). */
	[S_DEFER] = "UPDATE events SET inflight = 0, next_ms = ?2, last_error = ?3 WHERE id = ?1",
	[S_NOTE_PUT] = "INSERT OR REPLACE INTO notes (replica, name, value, updated_ms) VALUES ('', ?1, ?2, ?3)",
	[S_NOTE_DEL] = "DELETE FROM notes WHERE replica = '' AND name = ?1",
	[S_NOTE_LIST] = "SELECT replica, name, value, updated_ms FROM notes ORDER BY replica, name",
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

/*
 * Checkpoints run on their own thread and connection: copying WAL frames into the database
 * (and its fsync) then overlaps the next commits instead of stalling one of them for many
 * milliseconds. The commit hook wakes the thread once the WAL holds CKPT_FRAMES frames. Under
 * steady writes the background checkpoint rarely catches the very last commit, and SQLite
 * reuses the WAL from its start only when every frame is checkpointed; so past
 * CKPT_INLINE_FRAMES the writer checkpoints the (short, not yet copied) rest itself, which
 * bounds the WAL at ~16 MiB (and covers a checkpointer that cannot keep up).
 */
#define CKPT_FRAMES 1000
#define CKPT_INLINE_FRAMES 4000

struct sq_ckpt {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	sqlite3 *db; /* the checkpointer's own connection */
	int wanted, stop, running;
};

static const struct cg_store_ops sq_ops;

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

/* ---- events ---- */

int cg_sq_enqueue(struct cg_store *st, struct cg_store_event *evs, size_t n)
{
	struct sq_store *s = sq(st);
	int64_t *ids = NULL;
	int rc = 0;

	if (n == 0)
		return 0;
	if (!evs)
		return CG_EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!evs[i].source || !evs[i].dedup_key)
			return CG_EINVAL;
	ids = calloc(n, sizeof(*ids));
	if (!ids)
		return CG_ENOMEM;
	/* A savepoint makes several inserts one unit inside a caller's transaction; one INSERT
	 * is atomic by itself (the usual webhook carries one alert). */
	int sp = n > 1;
	if (sp && (rc = cg_sq_sp_begin(s)))
		goto out;
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct cg_store_arg a[CG_EV_NARGS];
		cg_store_event_args(&evs[i], a);
		rc = cg_sq_exec(s, S_ENQ, "enqueue", a, CG_EV_NARGS, NULL);
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

/* ---- cases ---- */

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

/* ---- stats ---- */

int cg_sq_stats(struct cg_store *st, struct cg_store_stats *out)
{
	struct sq_store *s = sq(st);
	struct cg_store_stats r = {0};
	int64_t pages = 0, psize = 0;
	int is_null = 0, rc;

	if ((rc = cg_sq_query_i64(s, S_ST_COUNT, &r.pending, NULL)) || (rc = cg_sq_query_i64(s, S_ST_INFLIGHT, &r.inflight, NULL)) ||
	    (rc = cg_sq_query_i64(s, S_ST_OLDEST, &r.oldest_ms, &is_null)) || (rc = cg_sq_query_i64(s, S_ST_DEAD, &r.dead, NULL)) ||
	    (rc = cg_sq_query_i64(s, S_ST_CASES, &r.cases, NULL)) || (rc = cg_sq_query_i64(s, S_ST_PAGES, &pages, NULL)) ||
	    (rc = cg_sq_query_i64(s, S_ST_PSIZE, &psize, NULL)))
		return rc;
	if (is_null)
		r.oldest_ms = 0;
	r.bytes = (uint64_t)pages * (uint64_t)psize;
	/* The WAL holds committed pages not yet checkpointed: part of what the disk holds. */
	char wal[4096];
	struct stat sb;
	if (snprintf(wal, sizeof(wal), "%s-wal", s->path) < (int)sizeof(wal) && stat(wal, &sb) == 0)
		r.bytes += (uint64_t)sb.st_size;
	*out = r;
	return 0;
}

/* ---- dead letters ---- */

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
	rc = cg_sq_exec_one(s, S_DL_REQUEUE, "dead letter requeue", CG_ARGS(CG_ARG_I64(id), CG_ARG_I64(now_ms)));
	if (rc == 0)
		rc = cg_sq_fix_head(s, sqlite3_last_insert_rowid(s->db));
	if (rc == 0)
		rc = cg_sq_exec(s, S_DL_DEL, "dead letter delete", CG_ARGS(CG_ARG_I64(id)), NULL);
	return cg_sq_sp_end(s, rc);
}

int cg_sq_probe(struct cg_store *st)
{
	struct sq_store *s = sq(st);
	int rc = cg_sq_sp_begin(s);
	if (rc)
		return rc;
	rc = cg_sq_exec(s, S_PROBE_INS, "probe insert", NULL, 0, NULL);
	if (rc == 0)
		rc = cg_sq_exec(s, S_PROBE_DEL, "probe delete", NULL, 0, NULL);
	return cg_sq_sp_end(s, rc);
}

int cg_sq_dead_drop(struct cg_store *st, int64_t id)
{
	return cg_sq_exec_one(sq(st), S_DL_DEL, "dead letter drop", CG_ARGS(CG_ARG_I64(id)));
}

/* ---- seen ---- */

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

/* ---- per-source summary and notes ---- */

int cg_sq_source_stats(struct cg_store *st, struct cg_store_source_stat **out, size_t *nout)
{
	void *items = NULL;
	int rc = cg_sq_rows(sq(st), S_SOURCE_STATS, "source stats", NULL, 0, &cg_store_rec_source_stat, 0, &items, nout);
	if (rc == 0)
		*out = items;
	return rc;
}

int cg_sq_note_put(struct cg_store *st, const char *name, const char *value)
{
	if (!value)
		return cg_sq_exec(sq(st), S_NOTE_DEL, "note", CG_ARGS(CG_ARG_TEXT(name)), NULL);
	return cg_sq_exec(sq(st), S_NOTE_PUT, "note",
			 CG_ARGS(CG_ARG_TEXT(name), CG_ARG_TEXT(value), CG_ARG_I64(cg_store_wall_ms())), NULL);
}

int cg_sq_note_list(struct cg_store *st, struct cg_store_note **out, size_t *nout)
{
	void *items = NULL;
	int rc = cg_sq_rows(sq(st), S_NOTE_LIST, "notes", NULL, 0, &cg_store_rec_note, 0, &items, nout);
	if (rc == 0)
		*out = items;
	return rc;
}

/* ---- background checkpoints ---- */

static void *ckpt_main(void *arg)
{
	struct sq_ckpt *c = arg;
	pthread_mutex_lock(&c->mu);
	for (;;) {
		while (!c->wanted && !c->stop)
			pthread_cond_wait(&c->cond, &c->mu);
		if (c->stop)
			break;
		c->wanted = 0;
		c->running = 1;
		pthread_mutex_unlock(&c->mu);
		int nlog = 0, nckpt = 0;
		int rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &nlog, &nckpt);
		if (rc != SQLITE_OK && rc != SQLITE_BUSY)
			CG_LOG_WARN("checkpoint: %s (retried after the next commits)", sqlite3_errstr(rc));
		pthread_mutex_lock(&c->mu);
		c->running = 0;
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

static int ckpt_hook(void *ud, sqlite3 *db, const char *name, int frames)
{
	struct sq_store *s = ud;
	struct sq_ckpt *c = s->ckpt;
	if (frames >= CKPT_INLINE_FRAMES) {
		sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		return SQLITE_OK;
	}
	if (frames >= CKPT_FRAMES) {
		pthread_mutex_lock(&c->mu);
		if (!c->running && !c->wanted) {
			c->wanted = 1;
			pthread_cond_signal(&c->cond);
		}
		pthread_mutex_unlock(&c->mu);
	}
	return SQLITE_OK;
}

void cg_sq_ckpt_stop(struct sq_store *s)
{
	struct sq_ckpt *c = s->ckpt;
	if (!c)
		return;
	sqlite3_wal_hook(s->db, NULL, NULL);
	pthread_mutex_lock(&c->mu);
	c->stop = 1;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->thread, NULL);
	sqlite3_close(c->db);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->mu);
	free(c);
	s->ckpt = NULL;
}

/* Starts the checkpointer; on any failure SQLite's auto-checkpoint stays in charge. */
void cg_sq_ckpt_start(struct sq_store *s)
{
	struct sq_ckpt *c = calloc(1, sizeof(*c));
	if (!c)
		return;
	if (sqlite3_open_v2(s->path, &c->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		sqlite3_close(c->db);
		free(c);
		return;
	}
	sqlite3_busy_timeout(c->db, 1000);
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cond, NULL);
	if (sqlite3_exec(c->db, "PRAGMA synchronous = FULL", NULL, NULL, NULL) != SQLITE_OK ||
	    pthread_create(&c->thread, NULL, ckpt_main, c) != 0) {
		sqlite3_close(c->db);
		pthread_cond_destroy(&c->cond);
		pthread_mutex_destroy(&c->mu);
		free(c);
		return;
	}
	s->ckpt = c;
	sqlite3_wal_hook(s->db, ckpt_hook, s); /* replaces the auto-checkpoint */
}

/* ---- open / close ---- */

static void sq_close(struct cg_store *st)
{
	struct sq_store *s = sq(st);
	if (!s)
		return;
	cg_sq_ckpt_stop(s);
	cg_sq_stmts_close(s);
	if (s->db) {
		if (!sqlite3_get_autocommit(s->db))
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		int rc = sqlite3_close(s->db);
		if (rc != SQLITE_OK)
			CG_LOG_ERR("close %s: %s", s->path, sqlite3_errstr(rc));
	}
	free(s->path);
	free(s);
}

static const struct cg_store_ops sq_ops = {
	.name = "sqlite",
	.close = sq_close,
	.begin = cg_sq_begin,
	.commit = cg_sq_commit,
	.rollback = cg_sq_rollback,
	.enqueue = cg_sq_enqueue,
	.claim = cg_sq_claim,
	.next_due_ms = cg_sq_next_due_ms,
	.event_step = cg_sq_event_step,
	.event_done = cg_sq_event_done,
	.event_retry = cg_sq_event_retry,
	.event_dead = cg_sq_event_dead,
	.case_get = cg_sq_case_get,
	.case_put = cg_sq_case_put,
	.case_find_by_key = cg_sq_case_find_by_key,
	.stats = cg_sq_stats,
	.dead_list = cg_sq_dead_list,
	.dead_get = cg_sq_dead_get,
	.dead_retry = cg_sq_dead_retry,
	.dead_drop = cg_sq_dead_drop,
	.seen = cg_sq_seen,
	.probe = cg_sq_probe,
	.case_list_closed = cg_sq_case_list_closed,
	.case_mark_closed = cg_sq_case_mark_closed,
	.seen_get = cg_sq_seen_get,
	.source_stats = cg_sq_source_stats,
	.event_defer = cg_sq_event_defer,
	.note_put = cg_sq_note_put,
	.note_list = cg_sq_note_list,
};

/* mkdir -p with mode 0700 for the components it creates. */
static int mkdir_p(const char *dir)
{
	char buf[4096];
	size_t len = strlen(dir);
	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, dir, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		char c = buf[i];
		buf[i] = '\0';
		if (mkdir(buf, 0700) != 0 && errno != EEXIST)
			return -1;
		buf[i] = c;
	}
	struct stat sb;
	if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}

static int exec_sql(struct sq_store *s, const char *sql, char *err, size_t errlen)
{
	char *msg = NULL;
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", s->path, msg ? msg : sqlite3_errstr(rc));
		snprintf(s->errmsg, sizeof(s->errmsg), "%s", err);
		sqlite3_free(msg);
		return cg_sq_map(rc);
	}
	return 0;
}

/* The file's schema version (PRAGMA user_version); SQLITE_OK or SQLITE_ERROR. */
static int read_version(struct sq_store *s, int *out)
{
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &stmt, NULL);
	if (rc == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW)
		*out = sqlite3_column_int(stmt, 0);
	else
		rc = SQLITE_ERROR;
	sqlite3_finalize(stmt);
	return rc;
}

static int migrate(struct sq_store *s, char *err, size_t errlen)
{
	int version = 0, rc;
	if (read_version(s, &version) != SQLITE_OK) {
		snprintf(err, errlen, "%s: cannot read schema version: %s", s->path, sqlite3_errmsg(s->db));
		return cg_sq_map(sqlite3_errcode(s->db));
	}
	if (version > SCHEMA_VERSION) {
		snprintf(err, errlen, "%s: schema version %d is newer than this casegate (%d)", s->path, version,
			 SCHEMA_VERSION);
		return CG_EINVAL;
	}
	for (int v = version; v < SCHEMA_VERSION; v++) {
		char set[64];
		snprintf(set, sizeof(set), "PRAGMA user_version = %d", v + 1);
		if ((rc = exec_sql(s, "BEGIN IMMEDIATE", err, errlen)))
			return rc;
		if ((rc = exec_sql(s, migrations[v], err, errlen)) || (rc = exec_sql(s, set, err, errlen)) ||
		    (rc = exec_sql(s, "COMMIT", err, errlen))) {
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
			return rc;
		}
		CG_LOG_INFO("%s: schema migrated to version %d", s->path, v + 1);
	}
	return 0;
}

/* The daemon's open-time repair: derived data is checked, not trusted. */
static int repair(struct sq_store *s, char *err, size_t errlen)
{
	int rc;
	/* Whatever a previous process had in flight it did not finish: make it pending again.
	 * Only the daemon may: a tool's open would hand a running daemon's events out twice. */
	if ((rc = exec_sql(s, "UPDATE events SET inflight = 0 WHERE inflight = 1", err, errlen)))
		return rc;
	int reset = sqlite3_changes(s->db);
	if (reset > 0)
		CG_LOG_WARN("%s: %d event(s) left in flight by a previous run are pending again", s->path, reset);
	/* is_head is derived data: a key without a head would never be claimed again, so check it
	 * (one pass over events_key, ~50 ms for 100k events) rather than trust it. Keys with an
	 * event in flight (a running daemon's, seen by a tool) keep their head: a retried dead
	 * letter may wait there with a lower id until that event is done. */
	if ((rc = exec_sql(s,
			   "UPDATE events SET is_head = 1 - is_head"
			   " WHERE is_head != (id IN (SELECT MIN(id) FROM events GROUP BY dedup_key))"
			   " AND dedup_key NOT IN (SELECT dedup_key FROM events WHERE inflight = 1)",
			   err, errlen)))
		return rc;
	reset = sqlite3_changes(s->db);
	if (reset > 0)
		CG_LOG_WARN("%s: repaired the queue-head flag of %d event(s)", s->path, reset);
	return 0;
}

/* The daemon's open of the file: WAL, every commit synced, the schema migrated, then repaired. */
int cg_sq_schema_create(struct sq_store *s, char *err, size_t errlen)
{
	int rc;
	if ((rc = exec_sql(s, "PRAGMA journal_mode = WAL", err, errlen)) ||
	    (rc = exec_sql(s, "PRAGMA synchronous = FULL", err, errlen)) ||
	    (rc = exec_sql(s, "PRAGMA foreign_keys = OFF", err, errlen)) || (rc = migrate(s, err, errlen)))
		return rc;
	return repair(s, err, errlen);
}

/* A tool's open: the schema must be one this build reads; nothing is migrated or repaired. */
int cg_sq_schema_check(struct sq_store *s, char *err, size_t errlen)
{
	int version = -1;
	if (read_version(s, &version) != SQLITE_OK)
		version = -1;
	if (version < 1 || version > SCHEMA_VERSION) {
		snprintf(err, errlen, "%s: schema version %d is not one this casegate reads (1..%d)", s->path, version,
			 SCHEMA_VERSION);
		return CG_EINVAL;
	}
	/* journal_mode is a property of the file (WAL already); synchronous is per connection. */
	return exec_sql(s, "PRAGMA synchronous = FULL", err, errlen);
}

/* A store for dir/casegate.db, not yet open. */
static int sq_new(const char *dir, struct sq_store **out)
{
	struct sq_store *s = calloc(1, sizeof(*s));
	if (!s)
		return CG_ENOMEM;
	s->base.ops = &sq_ops;
	size_t plen = strlen(dir) + sizeof("/casegate.db");
	s->path = malloc(plen);
	if (!s->path) {
		free(s);
		return CG_ENOMEM;
	}
	snprintf(s->path, plen, "%s/casegate.db", dir);
	*out = s;
	return 0;
}

/* Opens s's file (flags of sqlite3_open_v2). */
static int sq_connect(struct sq_store *s, int flags, char *err, size_t errlen)
{
	int rc = sqlite3_open_v2(s->path, &s->db, flags, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", s->path, s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		return cg_sq_map(rc);
	}
	sqlite3_extended_result_codes(s->db, 1);
	/* A second process (the dlq CLI) may hold the write lock briefly. */
	sqlite3_busy_timeout(s->db, 5000);
	return 0;
}

/*
 * create: the daemon's open: creates and migrates the file, makes what a previous process left
 * in flight pending again, checkpoints in the background. 0: a tool's open of an existing store
 * next to a running daemon: no creation, no migration, nothing in flight touched.
 */
static int sq_open(const char *dir, int create, struct cg_store **out, char *err, size_t errlen)
{
	struct sq_store *s = NULL;
	char scratch[1];
	struct stat sb;
	int rc;

	if (!err || errlen == 0) {
		err = scratch;
		errlen = sizeof(scratch);
	}
	err[0] = '\0';
	if (!dir || !out) {
		snprintf(err, errlen, "no store directory");
		return CG_EINVAL;
	}
	if (create && mkdir_p(dir) != 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return CG_EIO;
	}
	if ((rc = sq_new(dir, &s)))
		return rc;
	if (!create && stat(s->path, &sb) != 0) {
		snprintf(err, errlen, "%s: no store (has casegate run with this state_dir?)", s->path);
		rc = CG_ENOENT;
		goto fail;
	}
	if ((rc = sq_connect(s, SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0), err, errlen)) ||
	    (rc = create ? cg_sq_schema_create(s, err, errlen) : cg_sq_schema_check(s, err, errlen)))
		goto fail;
	if (create)
		cg_sq_ckpt_start(s);
	*out = &s->base;
	return 0;
fail:
	/* A tool's caller decides what a missing store means (the CLI then creates one). */
	if (create && err[0])
		CG_LOG_ERR("open: %s", err);
	sq_close(&s->base);
	return rc;
}

int cg_store_sqlite_open(const char *dir, struct cg_store **out, char *err, size_t errlen)
{
	return sq_open(dir, 1, out, err, errlen);
}

int cg_store_sqlite_open_existing(const char *dir, struct cg_store **out, char *err, size_t errlen)
{
	return sq_open(dir, 0, out, err, errlen);
}

static struct sq_store *as_sqlite(struct cg_store *st)
{
	return st && st->ops == &sq_ops ? sq(st) : NULL;
}

const char *cg_store_sqlite_errmsg(struct cg_store *st)
{
	struct sq_store *s = as_sqlite(st);
	if (!s)
		return "not a sqlite store";
	return s->errmsg;
}

int cg_store_sqlite_set_max_pages(struct cg_store *st, int64_t pages, int64_t *out)
{
	struct sq_store *s = as_sqlite(st);
	sqlite3_stmt *stmt = NULL;
	char sql[64];
	int rc;
	if (!s || pages < 0)
		return CG_EINVAL;
	snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %" PRId64, pages);
	rc = sqlite3_prepare_v2(s->db, sql, -1, &stmt, NULL);
	if (rc != SQLITE_OK)
		return cg_sq_fail(s, rc, "max_page_count");
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW && out)
		*out = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : cg_sq_fail(s, rc, "max_page_count");
}

int cg_store_sqlite_schema_version(void)
{
	return SCHEMA_VERSION;
}
