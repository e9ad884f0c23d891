/* store_pg_schema.c: the PostgreSQL store's schema: migrations (table schema_version) and the check at open. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "err.h"
#include "store_pg_int.h"

#define CG_LOG_COMPONENT "store-pg"
#include "log.h"

/* Two-int4 advisory lock for migrations: a key space apart from the per-key bigint locks. */
#define MIGRATE_LOCK "1667330917, 1"

/*
 * Schema. Each entry upgrades version i to i+1 in its own transaction, under a session
 * advisory lock so replicas starting together do not race; a later version appends an entry.
 * Entries are history: never edit one, a database migrated by an older casegate has run it.
 * The SQLite store (store_sqlite_schema.c) gets the same change as its own entry; a column
 * that records carry is also named in store_sql.h/.c (column list, reader, arguments).
 *
 * Per-key order and exclusion: is_head marks the lowest id of each dedup key and only heads
 * are claimed. Every write that changes a key's set of events (enqueue, done, dead, requeue)
 * holds the transaction advisory lock of hashtextextended(key), so is_head stays exact under
 * concurrent replicas (READ COMMITTED: the statement after the lock sees the other side's
 * commit; enqueue's deferred INSERT comes after its keys' locks, see store_pg_events.c). A claim is a lease on the head row: claimed_by, lease_until (database clock, ms)
 * and claim_token, a fencing token from a sequence that changes with every claim.
 */
static const char *const migrations[] = {
	/* 0 -> 1 */
	"CREATE FUNCTION cg_now_ms() RETURNS bigint LANGUAGE sql VOLATILE AS"
	" $$ SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint $$;"
	"CREATE TABLE events ("
	" id bigserial PRIMARY KEY,"
	" source text NOT NULL,"
	" dedup_key text NOT NULL,"
	" status integer NOT NULL,"
	" priority integer NOT NULL,"
	" severity text,"
	" payload text,"
	" received_ms bigint NOT NULL,"
	" attempts integer NOT NULL DEFAULT 0,"
	" next_ms bigint NOT NULL,"
	" step integer NOT NULL DEFAULT 0,"
	" last_error text,"
	" is_head boolean NOT NULL DEFAULT false,"
	" claimed_by text,"
	" lease_until bigint NOT NULL DEFAULT 0,"
	" claim_token bigint NOT NULL DEFAULT 0);"
	"CREATE INDEX events_key ON events(dedup_key, id);"
	"CREATE INDEX events_ready ON events(next_ms, id) WHERE is_head;"
	"CREATE INDEX events_claimed ON events(claimed_by) WHERE claimed_by IS NOT NULL;"
	"CREATE INDEX events_received ON events(received_ms);"
	"CREATE SEQUENCE claim_tokens;"
	"CREATE TABLE cases ("
	" dedup_key text PRIMARY KEY,"
	" case_id text,"
	" case_key text,"
	" state integer NOT NULL DEFAULT 0,"
	" priority integer NOT NULL DEFAULT 0,"
	" generation integer NOT NULL DEFAULT 0,"
	" marker text,"
	" prev_case_key text,"
	" created_ms bigint NOT NULL DEFAULT 0,"
	" closed_ms bigint NOT NULL DEFAULT 0,"
	" last_fire_ms bigint NOT NULL DEFAULT 0,"
	" last_comment_ms bigint NOT NULL DEFAULT 0,"
	" fires bigint NOT NULL DEFAULT 0,"
	" pending_repeats bigint NOT NULL DEFAULT 0,"
	" first_pending_ms bigint NOT NULL DEFAULT 0,"
	" last_summary text,"
	" prev_case_id text,"
	" action_flags bigint NOT NULL DEFAULT 0);"
	"CREATE INDEX cases_case_key ON cases(case_key);"
	"CREATE INDEX cases_closed ON cases(closed_ms) WHERE state = 3;"
	"CREATE TABLE dead_letters ("
	" id bigserial PRIMARY KEY,"
	" event_id bigint NOT NULL,"
	" source text NOT NULL,"
	" dedup_key text NOT NULL,"
	" status integer NOT NULL,"
	" priority integer NOT NULL,"
	" severity text,"
	" payload text,"
	" received_ms bigint NOT NULL,"
	" attempts integer NOT NULL,"
	" next_ms bigint NOT NULL,"
	" step integer NOT NULL,"
	" last_error text,"
	" http_status integer NOT NULL,"
	" reason text,"
	" failed_ms bigint NOT NULL);"
	"CREATE TABLE seen ("
	" ns text NOT NULL,"
	" id text NOT NULL,"
	" seen_ms bigint NOT NULL,"
	" PRIMARY KEY (ns, id));"
	"CREATE INDEX seen_time ON seen(seen_ms);"
	"CREATE INDEX seen_ns_time ON seen(ns, seen_ms);"
	"CREATE TABLE replicas ("
	" name text PRIMARY KEY,"
	" started_ms bigint NOT NULL,"
	" heartbeat_ms bigint NOT NULL,"
	" expires_ms bigint NOT NULL);"
	/* New or promoted work wakes the other replicas (delivered at commit, one per transaction). */
	"CREATE FUNCTION cg_notify_work() RETURNS trigger LANGUAGE plpgsql AS"
	" $$ BEGIN PERFORM pg_notify('" CHANNEL_WORK "', ''); RETURN NULL; END $$;"
	"CREATE TRIGGER events_notify AFTER INSERT OR DELETE ON events"
	" FOR EACH STATEMENT EXECUTE FUNCTION cg_notify_work();",
	/* 1 -> 2: delivery record for `casegate status` (as in the SQLite store). One row per source
	 * and replica: replicas never wait for each other's row (nor deadlock on two of them). */
	"CREATE TABLE deliveries ("
	" source text NOT NULL,"
	" replica text NOT NULL,"
	" delivered bigint NOT NULL DEFAULT 0,"
	" last_ms bigint NOT NULL DEFAULT 0,"
	" dedup_key text,"
	" PRIMARY KEY (source, replica));",
	/* 2 -> 3: Datadog is the truth (as SQLite schema 4): settle time of an unknown create, last
	 * confirmation of a case's state, lookups by case id, and each replica's status notes. */
	"ALTER TABLE cases ADD COLUMN sent_ms bigint NOT NULL DEFAULT 0;"
	"ALTER TABLE cases ADD COLUMN confirmed_ms bigint NOT NULL DEFAULT 0;"
	"CREATE INDEX cases_case_id ON cases(case_id);"
	"CREATE TABLE notes ("
	" replica text NOT NULL,"
	" name text NOT NULL,"
	" value text NOT NULL,"
	" updated_ms bigint NOT NULL,"
	" PRIMARY KEY (replica, name));",
	/* 3 -> 4: per-source heartbeats (as SQLite schema 5). Traffic is recorded one row per
	 * replica, so the intakes of replicas never wait for each other's row lock. */
	"CREATE TABLE heartbeats ("
	" source text PRIMARY KEY,"
	" started_ms bigint NOT NULL,"
	" raised integer NOT NULL DEFAULT 0,"
	" raised_ms bigint NOT NULL DEFAULT 0);"
	"CREATE TABLE heartbeat_heard ("
	" source text NOT NULL,"
	" replica text NOT NULL,"
	" last_ms bigint NOT NULL,"
	" PRIMARY KEY (source, replica));",
	/* 4 -> 5: storm folding's small documents (as SQLite schema 6). Keys compare bytewise
	 * (COLLATE "C"), so a prefix is a range. */
	"CREATE TABLE kv ("
	" k text COLLATE \"C\" PRIMARY KEY,"
	" v text NOT NULL,"
	" due_ms bigint NOT NULL DEFAULT 0);"
	"CREATE INDEX kv_due ON kv(due_ms) WHERE due_ms > 0;",
	/* 5 -> 6: priority under backlog (as SQLite schema 7): the claim order rank_ms, fixed at
	 * enqueue; events queued before are ranked with the default aging (10 min) and without the
	 * open-case look. events_ready becomes the claim order (next_ms in it: heads in backoff are
	 * stepped over in the index), events_due serves next_due, events_priority the queue depth
	 * by priority. */
	"ALTER TABLE events ADD COLUMN rank_ms bigint NOT NULL DEFAULT 0;"
	"UPDATE events SET rank_ms = received_ms"
	" + 600000 * (CASE WHEN priority BETWEEN 1 AND 5 THEN priority - 1 ELSE 5 END)"
	" + CASE WHEN status <> 0 THEN 300000 ELSE 0 END;"
	"DROP INDEX events_ready;"
	"CREATE INDEX events_ready ON events(rank_ms, id, next_ms) WHERE is_head;"
	"CREATE INDEX events_due ON events(next_ms) WHERE is_head;"
	"CREATE INDEX events_priority ON events(priority);",
	/* 6 -> 7: an event's payload (an alert's JSON, 1-4 kB) is stored as it is, not compressed:
	 * pglz cost a good part of PostgreSQL's CPU per webhook, for a row that lives minutes. Rows
	 * of more than 8 kB are still compressed (and moved to TOAST) as before. */
	"ALTER TABLE events SET (toast_tuple_target = 8160);",
};
#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

static int read_version(PGconn *c, int *out, char *err, size_t errlen)
{
	PGresult *r = PQexec(c, "SELECT to_regclass('schema_version') IS NOT NULL");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		snprintf(err, errlen, "reading the schema version: %s", PQerrorMessage(c));
		PQclear(r);
		return CG_EIO;
	}
	int exists = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	*out = 0;
	if (!exists)
		return 0;
	r = PQexec(c, "SELECT max(version) FROM schema_version");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		snprintf(err, errlen, "reading the schema version: %s", PQerrorMessage(c));
		PQclear(r);
		return CG_EIO;
	}
	*out = PQgetisnull(r, 0, 0) ? 0 : (int)strtol(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return 0;
}

static int migrate_conn(PGconn *c, int *from, int *to, char *err, size_t errlen)
{
	int version = 0, rc;
	char e2[512];
	/* Session lock: replicas starting together migrate one after the other. */
	if ((rc = cg_pg_exec_simple(c, "SELECT pg_advisory_lock(" MIGRATE_LOCK ")", err, errlen)))
		return rc;
	if ((rc = cg_pg_exec_simple(c, "CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)", err, errlen)) ||
	    (rc = read_version(c, &version, err, errlen)))
		goto out;
	if (from)
		*from = version;
	if (version > SCHEMA_VERSION) {
		snprintf(err, errlen, "database schema version %d is newer than this casegate (%d)", version,
			 SCHEMA_VERSION);
		rc = CG_EINVAL;
		goto out;
	}
	for (int v = version; v < SCHEMA_VERSION; v++) {
		char set[128];
		snprintf(set, sizeof(set), "DELETE FROM schema_version; INSERT INTO schema_version VALUES (%d)", v + 1);
		if ((rc = cg_pg_exec_simple(c, "BEGIN", err, errlen)))
			goto out;
		if ((rc = cg_pg_exec_simple(c, migrations[v], err, errlen)) || (rc = cg_pg_exec_simple(c, set, err, errlen)) ||
		    (rc = cg_pg_exec_simple(c, "COMMIT", err, errlen))) {
			cg_pg_exec_simple(c, "ROLLBACK", e2, sizeof(e2));
			size_t l = strlen(err);
			snprintf(err + l, errlen - l, " (migrating to version %d)", v + 1);
			goto out;
		}
		CG_LOG_INFO("database schema migrated to version %d", v + 1);
	}
	if (to)
		*to = SCHEMA_VERSION;
out:
	cg_pg_exec_simple(c, "SELECT pg_advisory_unlock(" MIGRATE_LOCK ")", e2, sizeof(e2));
	return rc;
}

int cg_store_pg_migrate(const char *dsn, int *from, int *to, char *err, size_t errlen)
{
	char scratch[1];
	if (!err || errlen == 0) {
		err = scratch;
		errlen = sizeof(scratch);
	}
	err[0] = '\0';
	if (!dsn) {
		snprintf(err, errlen, "no database DSN");
		return CG_EINVAL;
	}
	PGconn *c = cg_pg_connect(dsn, err, errlen);
	if (!c)
		return CG_EIO;
	int rc = migrate_conn(c, from, to, err, errlen);
	PQfinish(c);
	return rc;
}

int cg_store_pg_schema_version(void)
{
	return SCHEMA_VERSION;
}

/* At open: migrate (the daemon, under the advisory lock), or check that the schema is this build's. */
int cg_pg_schema_open(PGconn *c, int migrate, char *err, size_t errlen)
{
	int version = 0, rc;
	if (migrate)
		return migrate_conn(c, NULL, NULL, err, errlen);
	if ((rc = read_version(c, &version, err, errlen)))
		return rc;
	if (version != SCHEMA_VERSION) {
		snprintf(err, errlen, "database schema version %d, this casegate needs %d: run `casegate migrate`", version,
			 SCHEMA_VERSION);
		return CG_EINVAL;
	}
	return 0;
}
