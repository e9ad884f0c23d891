/* store_sqlite_schema.c: the SQLite store's schema: migrations (PRAGMA user_version), checks and repair at open. */
#include <stdio.h>

#include <sqlite3.h>

#include "err.h"
#include "store_sqlite_int.h"

#define CG_LOG_COMPONENT "store"
#include "log.h"

/*
 * Schema. Each entry upgrades user_version i to i+1 and runs in its own transaction, so a
 * later version appends an entry (ALTER TABLE ... ADD COLUMN ...) and old files catch up.
 * Entries are history: never edit one, a file written by an older casegate has run it. The
 * PostgreSQL store (store_pg_schema.c) gets the same change as its own entry; a column that
 * records carry is also named in store_sql.h/.c (column list, reader, arguments).
 *
 * is_head marks the lowest id of each dedup key (maintained by enqueue, done, dead and
 * dead_retry). Only heads are claimable, which is the per-key order rule; the partial indexes
 * events_ready (claim order: rank_ms, id) and events_due (next_ms) then hold exactly the
 * claimable candidates, so claim and next_due are index scans however many events wait behind
 * busy or backed-off keys.
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
	/* 4 -> 5: per-source heartbeats (dead-man's switch): when the clock started, whether the
	 * "went silent" event is raised, and the latest traffic, one row per writer (replica). */
	"CREATE TABLE heartbeats ("
	" source TEXT PRIMARY KEY NOT NULL,"
	" started_ms INTEGER NOT NULL,"
	" raised INTEGER NOT NULL DEFAULT 0,"
	" raised_ms INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;"
	"CREATE TABLE heartbeat_heard ("
	" source TEXT NOT NULL,"
	" replica TEXT NOT NULL,"
	" last_ms INTEGER NOT NULL,"
	" PRIMARY KEY (source, replica)) WITHOUT ROWID;",
	/* 5 -> 6: storm folding's small documents (windows per source, storms, folded alerts), and
	 * when a storm's digest comment is due. */
	"CREATE TABLE kv ("
	" k TEXT PRIMARY KEY NOT NULL,"
	" v TEXT NOT NULL,"
	" due_ms INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;"
	"CREATE INDEX kv_due ON kv(due_ms) WHERE due_ms > 0;",
	/* 6 -> 7: priority under backlog. Claim order is rank_ms (see CG_SQL_EVENT_RANK), fixed at
	 * enqueue; events queued before are ranked with the default aging (10 min) and without the
	 * open-case look (a repeat of a create ranks as a create). events_ready becomes the claim
	 * order (next_ms in it: heads in backoff are stepped over without reading their rows),
	 * events_due keeps next_due an index lookup, events_priority makes the queue depth by
	 * priority a covering-index count. */
	"ALTER TABLE events ADD COLUMN rank_ms INTEGER NOT NULL DEFAULT 0;"
	"UPDATE events SET rank_ms = received_ms"
	" + 600000 * (CASE WHEN priority BETWEEN 1 AND 5 THEN priority - 1 ELSE 5 END)"
	" + CASE WHEN status <> 0 THEN 300000 ELSE 0 END;"
	"DROP INDEX events_ready;"
	"CREATE INDEX events_ready ON events(rank_ms, id, next_ms) WHERE is_head = 1 AND inflight = 0;"
	"CREATE INDEX events_due ON events(next_ms) WHERE is_head = 1 AND inflight = 0;"
	"CREATE INDEX events_priority ON events(priority);",
};
#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

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

int cg_store_sqlite_schema_version(void)
{
	return SCHEMA_VERSION;
}
