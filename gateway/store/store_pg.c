/* store_pg.c: the store in PostgreSQL (libpq), shared by several replicas: claims are leases, NOTIFY wakes peers. */
#include "store.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <uv.h>

#include "err.h"
#include "sbuf.h"
#include "store_sql.h"
#include "store_pg_int.h"

#define CG_LOG_COMPONENT "store-pg"
#include "log.h"

/* Two-int4 advisory lock for migrations: a key space apart from the per-key bigint locks. */
#define MIGRATE_LOCK "1667330917, 1"

/*
 * Schema. Each entry upgrades version i to i+1 in its own transaction, under a session
 * advisory lock so replicas starting together do not race; a later version appends an entry.
 *
 * Per-key order and exclusion: is_head marks the lowest id of each dedup key and only heads
 * are claimed. Every write that changes a key's set of events (enqueue, done, dead, requeue)
 * holds the transaction advisory lock of hashtextextended(key), so is_head stays exact under
 * concurrent replicas (READ COMMITTED: the statement after the lock sees the other side's
 * commit). A claim is a lease on the head row: claimed_by, lease_until (database clock, ms)
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
};
#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

static const struct cg_store_ops pg_ops;

/* ---- small helpers ---- */

/* Appends one element of a PostgreSQL array literal: NULL, or a quoted, escaped string. */
void cg_pg_buf_elem(struct cg_sbuf *b, const char *s, int first)
{
	if (!first)
		cg_sbuf_addn(b, ",", 1);
	if (!s) {
		cg_sbuf_addn(b, "NULL", 4);
		return;
	}
	cg_sbuf_addn(b, "\"", 1);
	for (const char *p = s; *p;) {
		size_t run = strcspn(p, "\"\\");
		cg_sbuf_addn(b, p, run);
		p += run;
		if (*p) {
			char esc[2] = {'\\', *p};
			cg_sbuf_addn(b, esc, 2);
			p++;
		}
	}
	cg_sbuf_addn(b, "\"", 1);
}

void cg_pg_buf_i64(struct cg_sbuf *b, int64_t v, int first)
{
	cg_sbuf_addf(b, "%s%" PRId64, first ? "" : ",", v);
}

/* Appends one argument to an array literal (an element of a column of unnest()). */
static void buf_arg(struct cg_sbuf *b, const struct cg_store_arg *a, int first)
{
	if (a->is_text)
		cg_pg_buf_elem(b, a->text, first);
	else
		cg_pg_buf_i64(b, a->i, first);
}

/* Runs sql, or the statement prepared under name when name is not NULL, with the arguments as
 * text parameters. */
static PGresult *exec_args(PGconn *c, const char *name, const char *sql, const struct cg_store_arg *a, int n)
{
	char num[CG_ARGS_MAX][24];
	const char *vals[CG_ARGS_MAX];
	assert(n <= CG_ARGS_MAX);
	for (int i = 0; i < n; i++) {
		if (a[i].is_text) {
			vals[i] = a[i].text;
		} else {
			snprintf(num[i], sizeof(num[i]), "%" PRId64, a[i].i);
			vals[i] = num[i];
		}
	}
	return name ? PQexecPrepared(c, name, n, vals, NULL, NULL, 0) : PQexecParams(c, sql, n, NULL, vals, NULL, NULL, 0);
}

/* 1 when r succeeded: it is then handed to *out, or cleared when out is NULL. */
static int res_ok(PGresult *r, PGresult **out)
{
	ExecStatusType st = PQresultStatus(r);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		return 0;
	if (out)
		*out = r;
	else
		PQclear(r);
	return 1;
}

/* The length of m without its trailing newlines and blanks (libpq's messages end in one). */
static int trimmed(const char *m)
{
	size_t ml = strlen(m);
	while (ml && (m[ml - 1] == '\n' || m[ml - 1] == ' '))
		ml--;
	return (int)ml;
}

int64_t cg_pg_get_i64(const PGresult *r, int row, int col)
{
	if (PQgetisnull(r, row, col))
		return 0;
	return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static int64_t col_i64(const struct cg_store_row *r, int col)
{
	return cg_pg_get_i64(r->res, r->row, col);
}

static int col_text(const struct cg_store_row *r, int col, char **out)
{
	*out = NULL;
	if (PQgetisnull(r->res, r->row, col))
		return 0;
	*out = strdup(PQgetvalue(r->res, r->row, col));
	return *out ? 0 : CG_ENOMEM;
}

/*
 * Every row of r into a new array (*out, NULL for none) of rec items; on a failure nothing is
 * left allocated. Clears r.
 */
static int read_rows(PGresult *r, const struct cg_store_rec *rec, void **out, size_t *nout)
{
	size_t n = (size_t)PQntuples(r);
	unsigned char *v = n ? calloc(n, rec->size) : NULL;
	if (n && !v) {
		PQclear(r);
		return CG_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		struct cg_store_row row = {col_i64, col_text, r, (int)i};
		int rc = rec->read(&row, v + i * rec->size);
		if (rc) {
			rec->free(v, i); /* a row that failed has cleaned up after itself */
			PQclear(r);
			return rc;
		}
	}
	PQclear(r);
	*out = v;
	*nout = n;
	return 0;
}

/* The first row of r into item; CG_ENOENT when r has none. Clears r. */
static int read_row1(PGresult *r, const struct cg_store_rec *rec, void *item)
{
	struct cg_store_row row = {col_i64, col_text, r, 0};
	int rc = PQntuples(r) == 0 ? CG_ENOENT : rec->read(&row, item);
	PQclear(r);
	return rc;
}

/* ---- connection ---- */

/* Maps a failed result to enum cg_err, records and logs why. Clears r. */
static int fail_res(struct pg_store *s, PGconn *c, PGresult *r, const char *what)
{
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = r ? PQresultErrorMessage(r) : "";
	if (!msg || !msg[0])
		msg = c ? PQerrorMessage(c) : "no connection";
	int rc = CG_EIO;
	if (state) {
		if (strcmp(state, "53100") == 0)
			rc = CG_EFULL; /* disk_full */
		else if (strcmp(state, "40P01") == 0 || strcmp(state, "55P03") == 0 || strcmp(state, "40001") == 0)
			rc = CG_EAGAIN; /* deadlock, lock timeout, serialization: the batch is re-run */
		else if (strcmp(state, "23505") == 0)
			rc = CG_EEXIST;
		else if (strcmp(state, "57014") == 0)
			rc = CG_ETIMEDOUT;
		else if (strcmp(state, "54000") == 0)
			rc = CG_E2BIG;
		else if (strncmp(state, "22", 2) == 0)
			rc = CG_EINVAL;
	}
	snprintf(s->errmsg, sizeof(s->errmsg), "%s: %.*s%s%s", what, trimmed(msg), msg, state ? " SQLSTATE " : "",
		 state ? state : "");
	if (c && PQstatus(c) != CONNECTION_OK) {
		if (c == s->conn && !s->down) {
			s->down = 1;
			CG_LOG_ERR("database connection lost: %s", s->errmsg);
		}
	} else if (rc == CG_EAGAIN) {
		CG_LOG_DEBUG("%s", s->errmsg);
	} else {
		CG_LOG_ERR("%s", s->errmsg);
	}
	PQclear(r);
	return rc;
}

PGconn *cg_pg_connect(const char *conninfo, char *err, size_t errlen)
{
	/* Defaults first: anything in the DSN overrides them (expand_dbname). */
	const char *const keys[] = {"connect_timeout", "application_name", "keepalives_idle", "keepalives_interval",
				    "keepalives_count", "dbname", NULL};
	const char *const vals[] = {"5", "casegate", "10", "5", "3", conninfo, NULL};
	PGconn *c = PQconnectdbParams(keys, vals, 1);
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (PQstatus(c) != CONNECTION_OK) {
		const char *m = PQerrorMessage(c);
		snprintf(err, errlen, "%.*s", trimmed(m), m);
		PQfinish(c);
		return NULL;
	}
	/* Quiet NOTICEs; bound lock waits (a residual deadlock between batches becomes CG_EAGAIN
	 * and the batch's jobs run again one by one) and runaway statements. */
	PGresult *r = PQexec(c, "SET client_min_messages = warning; SET lock_timeout = '3s';"
			       " SET statement_timeout = '60s'");
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		snprintf(err, errlen, "session setup: %s", PQerrorMessage(c));
		PQclear(r);
		PQfinish(c);
		return NULL;
	}
	PQclear(r);
	return c;
}

/* Reconnects when the connection was lost, at most once per backoff step. */
static int ensure(struct pg_store *s)
{
	if (s->conn && PQstatus(s->conn) == CONNECTION_OK)
		return 0;
	if (s->in_tx)
		return CG_EIO; /* the transaction died with the connection */
	uint64_t now = mono_ms();
	if (now < s->next_connect_mono)
		return CG_EIO;
	if (s->conn) {
		PQfinish(s->conn);
		s->conn = NULL;
	}
	char err[512];
	s->conn = cg_pg_connect(s->conninfo, err, sizeof(err));
	s->nprep = 0; /* a new session has no prepared statements */
	if (s->conn) {
		atomic_store(&s->main_pid, PQbackendPID(s->conn));
		if (s->down)
			CG_LOG_INFO("database connection re-established");
		s->down = 0;
		s->backoff_ms = 0;
		return 0;
	}
	s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : BACKOFF_MIN_MS;
	if (s->backoff_ms > BACKOFF_MAX_MS)
		s->backoff_ms = BACKOFF_MAX_MS;
	s->next_connect_mono = now + s->backoff_ms;
	snprintf(s->errmsg, sizeof(s->errmsg), "connect: %.400s", err);
	if (!s->down) {
		s->down = 1;
		CG_LOG_ERR("database unreachable: %s", err);
	} else {
		CG_LOG_DEBUG("reconnect failed (next try in %u ms): %s", s->backoff_ms, err);
	}
	return CG_EIO;
}

/*
 * The name of sql's prepared statement on the current connection, preparing it the first time;
 * NULL when it cannot be prepared (the caller sends the text instead). Prepared statements
 * save PostgreSQL parsing and planning each call: most of its CPU per event otherwise.
 */
static const char *prepared(struct pg_store *s, const char *sql, int n, char name[16], PGresult **failed)
{
	int i;
	*failed = NULL;
	for (i = 0; i < s->nprep; i++)
		if (s->prep_sql[i] == sql)
			break;
	snprintf(name, 16, "cg%d", i);
	if (i < s->nprep)
		return name;
	if (i >= PREP_MAX)
		return NULL;
	PGresult *r = PQprepare(s->conn, name, sql, n, NULL);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		*failed = r; /* the real cause (inside a transaction it also aborted it) */
		return NULL;
	}
	PQclear(r);
	s->prep_sql[s->nprep++] = sql;
	return name;
}

/* Runs one statement with the arguments ($1 first); *out (may be NULL) gets a row-returning result. */
int cg_pg_q(struct pg_store *s, const char *what, const char *sql, const struct cg_store_arg *a, int n,
	     PGresult **out)
{
	int rc = ensure(s);
	if (rc)
		return rc;
	char name[16];
	PGresult *failed = NULL;
	const char *stmt = prepared(s, sql, n, name, &failed);
	if (failed)
		return fail_res(s, s->conn, failed, what);
	PGresult *r = exec_args(s->conn, stmt, sql, a, n);
	const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	if (stmt && state && strcmp(state, "26000") == 0)
		s->nprep = 0; /* the session lost its prepared statements (DISCARD ALL, a pooler): prepare anew */
	return res_ok(r, out) ? 0 : fail_res(s, s->conn, r, what);
}

/* Rows changed by a statement (UPDATE/DELETE/INSERT). */
int cg_pg_q_changes(struct pg_store *s, const char *what, const char *sql, const struct cg_store_arg *a, int n,
		     long *changes)
{
	PGresult *r = NULL;
	int rc = cg_pg_q(s, what, sql, a, n, &r);
	if (rc)
		return rc;
	*changes = strtol(PQcmdTuples(r), NULL, 10);
	PQclear(r);
	return 0;
}

/* cg_pg_q, then every row of its result into a new array of rec items (read_rows). */
int cg_pg_q_rows(struct pg_store *s, const char *what, const char *sql, const struct cg_store_arg *a, int n,
		  const struct cg_store_rec *rec, void **out, size_t *nout)
{
	PGresult *r = NULL;
	int rc = cg_pg_q(s, what, sql, a, n, &r);
	return rc ? rc : read_rows(r, rec, out, nout);
}

/* cg_pg_q, then its first row into item (read_row1): CG_ENOENT when there is none. */
int cg_pg_q_row1(struct pg_store *s, const char *what, const char *sql, const struct cg_store_arg *a, int n,
		  const struct cg_store_rec *rec, void *item)
{
	PGresult *r = NULL;
	int rc = cg_pg_q(s, what, sql, a, n, &r);
	return rc ? rc : read_row1(r, rec, item);
}

/* cg_pg_q for a statement that changes one row: CG_ENOENT when it changed none. */
int cg_pg_q_one(struct pg_store *s, const char *what, const char *sql, const struct cg_store_arg *a, int n)
{
	long ch = 0;
	int rc = cg_pg_q_changes(s, what, sql, a, n, &ch);
	return rc ? rc : ch ? 0 : CG_ENOENT;
}

/* ---- transactions ---- */

int cg_pg_begin(struct cg_store *st)
{
	struct pg_store *s = pg(st);
	int rc = cg_pg_q(s, "begin", "BEGIN", NULL, 0, NULL);
	if (rc == 0) {
		s->in_tx = 1;
		s->tx_key_locks = 0;
	}
	return rc;
}

int cg_pg_commit(struct cg_store *st)
{
	struct pg_store *s = pg(st);
	PGresult *r = NULL;
	int rc = cg_pg_q(s, "commit", "COMMIT", NULL, 0, &r);
	s->in_tx = 0;
	s->tx_key_locks = 0;
	if (rc)
		return rc;
	/* COMMIT of a transaction that had failed answers ROLLBACK, not an error. */
	if (strcmp(PQcmdStatus(r), "COMMIT") != 0) {
		snprintf(s->errmsg, sizeof(s->errmsg), "commit: the transaction had failed and was rolled back");
		rc = CG_EIO;
	}
	PQclear(r);
	return rc;
}

int cg_pg_rollback(struct cg_store *st)
{
	struct pg_store *s = pg(st);
	s->in_tx = 0;
	s->tx_key_locks = 0;
	if (!s->conn || PQstatus(s->conn) != CONNECTION_OK)
		return 0; /* nothing left to roll back */
	PGresult *r = PQexec(s->conn, "ROLLBACK");
	PQclear(r);
	return 0;
}

/* Multi-statement operations run in the caller's transaction, or in their own one. */
int cg_pg_tx_open(struct pg_store *s, int *own)
{
	*own = 0;
	if (s->in_tx)
		return 0;
	int rc = cg_pg_begin(&s->base);
	if (rc == 0)
		*own = 1;
	return rc;
}

int cg_pg_tx_close(struct pg_store *s, int own, int rc)
{
	if (!own)
		return rc;
	if (rc == 0)
		return cg_pg_commit(&s->base);
	cg_pg_rollback(&s->base);
	return rc;
}

/*
 * Takes the advisory locks of the keys (sorted, so two writers never wait on each other in
 * opposite orders). Deadlock freedom across group-commit batches: a transaction waits for a
 * key lock only while it holds none; once it holds some, it only tries, and a busy key makes
 * the operation fail with CG_EAGAIN (the batch rolls back and its jobs run alone).
 */
int cg_pg_lock_keys(struct pg_store *s, const char *array_literal, size_t nkeys)
{
	PGresult *r = NULL;
	int rc;
	if (s->tx_key_locks == 0) {
		rc = cg_pg_q(s, "lock keys",
		       "SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT hashtextextended(k, 0) AS h"
		       " FROM unnest($1::text[]) AS k ORDER BY 1) x",
		       CG_ARGS(CG_ARG_TEXT(array_literal)), NULL);
	} else {
		rc = cg_pg_q(s, "try-lock keys",
		       "SELECT coalesce(bool_and(pg_try_advisory_xact_lock(h)), true) FROM (SELECT DISTINCT"
		       " hashtextextended(k, 0) AS h FROM unnest($1::text[]) AS k ORDER BY 1) x",
		       CG_ARGS(CG_ARG_TEXT(array_literal)), &r);
		if (rc == 0) {
			if (strcmp(PQgetvalue(r, 0, 0), "t") != 0) {
				snprintf(s->errmsg, sizeof(s->errmsg), "key locked by another replica's transaction");
				rc = CG_EAGAIN;
			}
			PQclear(r);
		}
	}
	if (rc == 0)
		s->tx_key_locks += (int)nkeys;
	return rc;
}

/*
 * Opens the transaction of a write to one key's events (the caller's, or its own: *own) and
 * takes the lock of the key of row id, found by lookup_sql; CG_ENOENT when the row is gone.
 * On a failure the transaction it opened is closed again. The caller ends with cg_pg_tx_close().
 */
int cg_pg_key_tx_open(struct pg_store *s, const char *lookup_sql, int64_t id, int *own)
{
	PGresult *r = NULL;
	int rc = cg_pg_tx_open(s, own);
	if (rc)
		return rc;
	rc = cg_pg_q(s, "key lookup", lookup_sql, CG_ARGS(CG_ARG_I64(id)), &r);
	if (rc == 0) {
		struct cg_sbuf b = {0};
		if (PQntuples(r) == 0) {
			rc = CG_ENOENT;
		} else {
			cg_sbuf_add(&b, "{");
			cg_pg_buf_elem(&b, PQgetvalue(r, 0, 0), 1);
			cg_sbuf_add(&b, "}");
			rc = b.oom ? CG_ENOMEM : cg_pg_lock_keys(s, b.p, 1);
		}
		free(b.p);
		PQclear(r);
	}
	return rc ? cg_pg_tx_close(s, *own, rc) : 0;
}

/* ---- events ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

int cg_pg_enqueue(struct cg_store *st, struct cg_store_event *evs, size_t n)
{
	struct pg_store *s = pg(st);
	const char **keys = NULL;
	int64_t *ids = NULL;
	PGresult *r = NULL;
	/* One array literal per column of unnest(): the id, then the event's arguments. */
	struct cg_sbuf a[1 + CG_EV_NARGS] = {{0}};
	struct cg_sbuf kb = {0};
	int own = 0, rc;

	if (n == 0)
		return 0;
	if (!evs)
		return CG_EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!evs[i].source || !evs[i].dedup_key)
			return CG_EINVAL;
	keys = calloc(n, sizeof(*keys));
	ids = calloc(n, sizeof(*ids));
	if (!keys || !ids) {
		rc = CG_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		keys[i] = evs[i].dedup_key;
	qsort(keys, n, sizeof(*keys), cmp_str);
	cg_sbuf_add(&kb, "{");
	for (size_t i = 0; i < n; i++)
		cg_pg_buf_elem(&kb, keys[i], i == 0);
	cg_sbuf_add(&kb, "}");
	if ((rc = cg_pg_tx_open(s, &own)))
		goto out;
	if (kb.oom) {
		rc = CG_ENOMEM;
		goto done;
	}
	if ((rc = cg_pg_lock_keys(s, kb.p, n)))
		goto done;
	/* Ids first, in order, so id order is the order of evs (per-key order). */
	if ((rc = cg_pg_q(s, "enqueue ids", "SELECT nextval('events_id_seq') FROM generate_series(1, $1::int)",
		    CG_ARGS(CG_ARG_I64(n)), &r)))
		goto done;
	if ((size_t)PQntuples(r) != n) {
		PQclear(r);
		rc = CG_EIO;
		goto done;
	}
	for (size_t i = 0; i < n; i++)
		ids[i] = cg_pg_get_i64(r, (int)i, 0);
	PQclear(r);
	qsort(ids, n, sizeof(*ids), cmp_i64);
	for (int k = 0; k < 1 + CG_EV_NARGS; k++)
		cg_sbuf_add(&a[k], "{");
	for (size_t i = 0; i < n; i++) {
		struct cg_store_arg ev[CG_EV_NARGS];
		cg_store_event_args(&evs[i], ev);
		cg_pg_buf_i64(&a[0], ids[i], i == 0);
		for (int k = 0; k < CG_EV_NARGS; k++)
			buf_arg(&a[1 + k], &ev[k], i == 0);
	}
	struct cg_store_arg v[1 + CG_EV_NARGS];
	for (int k = 0; k < 1 + CG_EV_NARGS; k++) {
		cg_sbuf_add(&a[k], "}");
		if (a[k].oom) {
			rc = CG_ENOMEM;
			goto done;
		}
		v[k] = CG_ARG_TEXT(a[k].p);
	}
	/* The first event of a key in this statement is its head unless the key has events. */
	rc = cg_pg_q(s, "enqueue",
	       "INSERT INTO events (id, source, dedup_key, status, priority, severity, payload, received_ms,"
	       " attempts, next_ms, step, last_error, is_head)"
	       " SELECT u.id, u.source, u.k, u.status, u.priority, u.severity, u.payload, u.received_ms, u.attempts,"
	       " u.next_ms, u.step, u.last_error,"
	       " row_number() OVER (PARTITION BY u.k ORDER BY u.id) = 1"
	       " AND NOT EXISTS (SELECT 1 FROM events e WHERE e.dedup_key = u.k)"
	       " FROM unnest($1::bigint[], $2::text[], $3::text[], $4::int[], $5::int[], $6::text[], $7::text[],"
	       " $8::bigint[], $9::int[], $10::bigint[], $11::int[], $12::text[])"
	       " AS u(id, source, k, status, priority, severity, payload, received_ms, attempts, next_ms, step,"
	       " last_error)",
	       v, 1 + CG_EV_NARGS, NULL);
done:
	rc = cg_pg_tx_close(s, own, rc);
	if (rc == 0)
		for (size_t i = 0; i < n; i++)
			evs[i].id = ids[i];
out:
	for (int k = 0; k < 1 + CG_EV_NARGS; k++)
		free(a[k].p);
	free(kb.p);
	free(keys);
	free(ids);
	return rc;
}

static int cmp_due(const void *a, const void *b)
{
	const struct cg_store_event *x = a, *y = b;
	if (x->next_ms != y->next_ms)
		return x->next_ms < y->next_ms ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* A claimed event: CG_EV_COLS, then its claim token (the lease). */
static int item_claimed(const struct cg_store_row *r, void *item)
{
	struct cg_store_event *ev = item;
	int rc = cg_store_read_event(r, 0, ev);
	if (rc == 0)
		ev->lease = r->i64(r, 12);
	return rc;
}

int cg_pg_claim(struct cg_store *st, int64_t now_ms, size_t limit, struct cg_store_event **out, size_t *nout)
{
	struct pg_store *s = pg(st);
	const struct cg_store_rec claimed = {sizeof(struct cg_store_event), item_claimed, cg_store_rec_event.free};
	void *items = NULL;
	size_t n = 0;

	if (limit == 0) {
		*out = NULL;
		*nout = 0;
		return 0;
	}
	/* SKIP LOCKED: replicas claiming at once take different heads instead of waiting. */
	int rc = cg_pg_q_rows(s, "claim",
	       "WITH c AS (SELECT id FROM events WHERE is_head AND next_ms <= $1"
	       " AND (claimed_by IS NULL OR lease_until < cg_now_ms())"
	       " ORDER BY next_ms, id LIMIT $2 FOR UPDATE SKIP LOCKED)"
	       " UPDATE events e SET claimed_by = $3, lease_until = cg_now_ms() + $4,"
	       " claim_token = nextval('claim_tokens') FROM c WHERE e.id = c.id"
	       " RETURNING e.id, e.source, e.dedup_key, e.status, e.priority, e.severity, e.payload, e.received_ms,"
	       " e.attempts, e.next_ms, e.step, e.last_error, e.claim_token",
	       CG_ARGS(CG_ARG_I64(now_ms), CG_ARG_I64(limit > 100000 ? 100000 : (int64_t)limit), CG_ARG_TEXT(s->name),
		       CG_ARG_I64(s->lease_ms)),
	       &claimed, &items, &n);
	if (rc)
		return rc;
	if (n)
		qsort(items, n, sizeof(struct cg_store_event), cmp_due);
	*out = items;
	*nout = n;
	return 0;
}

int cg_pg_next_due_ms(struct cg_store *st, int64_t *out)
{
	struct pg_store *s = pg(st);
	PGresult *r = NULL;
	int rc = cg_pg_q(s, "next due",
		   "SELECT min(next_ms) FROM events WHERE is_head AND (claimed_by IS NULL OR lease_until < cg_now_ms())",
		   NULL, 0, &r);
	if (rc)
		return rc;
	if (PQgetisnull(r, 0, 0))
		rc = CG_ENOENT;
	else
		*out = cg_pg_get_i64(r, 0, 0);
	PQclear(r);
	return rc;
}

int cg_pg_event_step(struct cg_store *st, int64_t id, int step)
{
	return cg_pg_q_one(pg(st), "event step", "UPDATE events SET step = $2 WHERE id = $1",
		     CG_ARGS(CG_ARG_I64(id), CG_ARG_I64(step)));
}

/* Deletes an event and hands the head role of its key to the next one. Key locked by caller. */
static int delete_event(struct pg_store *s, int64_t id)
{
	PGresult *r = NULL;
	int rc = cg_pg_q(s, "event delete",
		   "WITH d AS (DELETE FROM events WHERE id = $1 RETURNING dedup_key, is_head),"
		   " p AS (UPDATE events SET is_head = true WHERE id = (SELECT min(e.id) FROM events e JOIN d"
		   " ON e.dedup_key = d.dedup_key WHERE d.is_head AND e.id <> $1) RETURNING id)"
		   " SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM p)",
		   CG_ARGS(CG_ARG_I64(id)), &r);
	if (rc)
		return rc;
	rc = cg_pg_get_i64(r, 0, 0) ? 0 : CG_ENOENT;
	PQclear(r);
	return rc;
}

/* Ends event id: sql ($1 the id, the arguments after it) first copies what outlives the event,
 * then the event is deleted. CG_ENOENT when the event is gone. */
static int end_event(struct pg_store *s, int64_t id, const char *what, const char *sql, const struct cg_store_arg *a,
		     int n)
{
	int own = 0;
	int rc = cg_pg_key_tx_open(s, KEY_OF_EVENT, id, &own);
	if (rc)
		return rc;
	rc = cg_pg_q_one(s, what, sql, a, n);
	if (rc == 0)
		rc = delete_event(s, id);
	return cg_pg_tx_close(s, own, rc);
}

int cg_pg_event_done(struct cg_store *st, int64_t id)
{
	struct pg_store *s = pg(st);
	return end_event(s, id, "delivery record",
			 "INSERT INTO deliveries (source, replica, delivered, last_ms, dedup_key)"
			 " SELECT source, $2, 1, cg_now_ms(), dedup_key FROM events WHERE id = $1"
			 " ON CONFLICT (source, replica) DO UPDATE SET delivered = deliveries.delivered + 1,"
			 " last_ms = excluded.last_ms, dedup_key = excluded.dedup_key",
			 CG_ARGS(CG_ARG_I64(id), CG_ARG_TEXT(s->name)));
}

/* For `casegate status` only: scans of events per source are acceptable there. */
int cg_pg_source_stats(struct cg_store *st, struct cg_store_source_stat **out, size_t *nout)
{
	void *items = NULL;
	*out = NULL;
	*nout = 0;
	int rc = cg_pg_q_rows(pg(st), "source stats",
		   "SELECT x.source,"
		   " (SELECT count(*) FROM events e WHERE e.source = x.source),"
		   " (SELECT min(received_ms) FROM events e WHERE e.source = x.source),"
		   " (SELECT count(*) FROM dead_letters d WHERE d.source = x.source),"
		   " (SELECT sum(delivered) FROM deliveries d WHERE d.source = x.source),"
		   " dl.last_ms, dl.dedup_key, c.case_key"
		   " FROM (SELECT source FROM events UNION SELECT source FROM dead_letters"
		   "       UNION SELECT source FROM deliveries) x"
		   " LEFT JOIN LATERAL (SELECT last_ms, dedup_key FROM deliveries d WHERE d.source = x.source"
		   "   ORDER BY last_ms DESC LIMIT 1) dl ON true"
		   " LEFT JOIN cases c ON c.dedup_key = dl.dedup_key"
		   " ORDER BY x.source",
		   NULL, 0, &cg_store_rec_source_stat, &items, nout);
	if (rc == 0)
		*out = items;
	return rc;
}

int cg_pg_note_put(struct cg_store *st, const char *name, const char *value)
{
	struct pg_store *s = pg(st);
	if (!value)
		return cg_pg_q(s, "note", "DELETE FROM notes WHERE replica = $1 AND name = $2",
			 CG_ARGS(CG_ARG_TEXT(s->name), CG_ARG_TEXT(name)), NULL);
	return cg_pg_q(s, "note",
		 "INSERT INTO notes (replica, name, value, updated_ms) VALUES ($1, $2, $3, cg_now_ms())"
		 " ON CONFLICT (replica, name) DO UPDATE SET value = EXCLUDED.value, updated_ms = EXCLUDED.updated_ms",
		 CG_ARGS(CG_ARG_TEXT(s->name), CG_ARG_TEXT(name), CG_ARG_TEXT(value)), NULL);
}

/* Notes of replicas that left (or whose heartbeat stopped) are history, not state: not listed. */
int cg_pg_note_list(struct cg_store *st, struct cg_store_note **out, size_t *nout)
{
	struct pg_store *s = pg(st);
	void *items = NULL;
	*out = NULL;
	*nout = 0;
	int rc = cg_pg_q_rows(s, "notes",
		   "SELECT n.replica, n.name, n.value, n.updated_ms FROM notes n LEFT JOIN replicas p ON p.name = n.replica"
		   " WHERE n.replica = $1 OR p.expires_ms >= cg_now_ms() ORDER BY n.replica, n.name",
		   CG_ARGS(CG_ARG_TEXT(s->name)), &cg_store_rec_note, &items, nout);
	if (rc == 0)
		*out = items;
	return rc;
}

/*
 * The head of event id's key becomes its lowest id, unless an event of the key is claimed
 * under a live lease (one at a time per key). A retried dead letter takes back its original,
 * lower id and waits here for the key to be idle. Key locked by the caller.
 */
int cg_pg_fix_head(struct pg_store *s, int64_t id)
{
	return cg_pg_q(s, "fix head",
		 "WITH k AS (SELECT dedup_key FROM events WHERE id = $1),"
		 " m AS (SELECT min(e.id) AS id FROM events e JOIN k ON e.dedup_key = k.dedup_key)"
		 " UPDATE events SET is_head = (events.id = m.id) FROM k, m"
		 " WHERE events.dedup_key = k.dedup_key AND events.is_head <> (events.id = m.id)"
		 " AND NOT EXISTS (SELECT 1 FROM events f WHERE f.dedup_key = k.dedup_key"
		 " AND f.claimed_by IS NOT NULL AND f.lease_until >= cg_now_ms())",
		 CG_ARGS(CG_ARG_I64(id)), NULL);
}

/* Back to pending by sql ($1 id, $2 next_ms, $3 text), the claim released; then the key is idle,
 * and a dead letter retried meanwhile (lower id) goes first. */
static int release(struct pg_store *s, const char *what, const char *sql, int64_t id, int64_t next_ms,
		   const char *text)
{
	int own = 0;
	int rc = cg_pg_key_tx_open(s, KEY_OF_EVENT, id, &own);
	if (rc)
		return rc;
	rc = cg_pg_q_one(s, what, sql, CG_ARGS(CG_ARG_I64(id), CG_ARG_I64(next_ms), CG_ARG_TEXT(text)));
	if (rc == 0)
		rc = cg_pg_fix_head(s, id);
	return cg_pg_tx_close(s, own, rc);
}

/* The attempt is not counted (the event waited for search lag or an outage). */
int cg_pg_event_defer(struct cg_store *st, int64_t id, int64_t next_ms, const char *why)
{
	return release(pg(st), "event defer",
		       "UPDATE events SET claimed_by = NULL, lease_until = 0, next_ms = $2, last_error = $3"
		       " WHERE id = $1",
		       id, next_ms, why);
}

int cg_pg_event_retry(struct cg_store *st, int64_t id, int64_t next_ms, const char *err)
{
	return release(pg(st), "event retry",
		       "UPDATE events SET claimed_by = NULL, lease_until = 0, attempts = attempts + 1,"
		       " next_ms = $2, last_error = $3 WHERE id = $1",
		       id, next_ms, err);
}

int cg_pg_event_dead(struct cg_store *st, int64_t id, int http_status, const char *reason)
{
	/* The attempt that gave up counts as a failed attempt. */
	return end_event(pg(st), id, "dead letter insert",
			 "INSERT INTO dead_letters (event_id, source, dedup_key, status, priority, severity, payload,"
			 " received_ms, attempts, next_ms, step, last_error, http_status, reason, failed_ms)"
			 " SELECT id, source, dedup_key, status, priority, severity, payload, received_ms,"
			 " attempts + 1, next_ms, step, last_error, $2, $3, $4 FROM events WHERE id = $1",
			 CG_ARGS(CG_ARG_I64(id), CG_ARG_I64(http_status), CG_ARG_TEXT(reason),
				 CG_ARG_I64(cg_store_wall_ms())));
}

/* ---- cases ---- */

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

/* ---- stats ---- */

int cg_pg_stats(struct cg_store *st, struct cg_store_stats *out)
{
	struct pg_store *s = pg(st);
	PGresult *r = NULL;
	int rc = cg_pg_q(s, "stats",
		   "SELECT (SELECT count(*) FROM events),"
		   " (SELECT count(*) FROM events WHERE claimed_by IS NOT NULL AND lease_until >= cg_now_ms()),"
		   " (SELECT min(received_ms) FROM events), (SELECT count(*) FROM dead_letters),"
		   " (SELECT count(*) FROM cases),"
		   " pg_total_relation_size('events') + pg_total_relation_size('cases')"
		   " + pg_total_relation_size('dead_letters') + pg_total_relation_size('seen')",
		   NULL, 0, &r);
	if (rc)
		return rc;
	struct cg_store_stats v = {0};
	v.pending = cg_pg_get_i64(r, 0, 0);
	v.inflight = cg_pg_get_i64(r, 0, 1);
	v.oldest_ms = cg_pg_get_i64(r, 0, 2);
	v.dead = cg_pg_get_i64(r, 0, 3);
	v.cases = cg_pg_get_i64(r, 0, 4);
	v.bytes = (uint64_t)cg_pg_get_i64(r, 0, 5);
	PQclear(r);
	*out = v;
	return 0;
}

/* ---- dead letters ---- */

int cg_pg_dead_list(struct cg_store *st, size_t limit, struct cg_dead_letter **out, size_t *nout)
{
	void *items = NULL;
	int rc = cg_pg_q_rows(pg(st), "dead letter list", "SELECT " CG_DL_COLS " FROM dead_letters ORDER BY id LIMIT $1",
			CG_ARGS(CG_ARG_I64(limit > (size_t)INT64_MAX ? INT64_MAX : (int64_t)limit)), &cg_store_rec_dead,
			&items, nout);
	if (rc == 0)
		*out = items;
	return rc;
}

int cg_pg_dead_get(struct cg_store *st, int64_t id, struct cg_dead_letter *out)
{
	struct cg_dead_letter d;
	int rc = cg_pg_q_row1(pg(st), "dead letter get", "SELECT " CG_DL_COLS " FROM dead_letters WHERE id = $1",
			CG_ARGS(CG_ARG_I64(id)), &cg_store_rec_dead, &d);
	if (rc == 0)
		*out = d;
	return rc;
}

int cg_pg_dead_retry(struct cg_store *st, int64_t id, int64_t now_ms)
{
	struct pg_store *s = pg(st);
	int own = 0;
	int rc = cg_pg_key_tx_open(s, KEY_OF_DEAD, id, &own);
	if (rc)
		return rc;
	/* Keeps received_ms (when the alert arrived) and step (operations already applied), and
	 * takes back the original event id (the sequence never hands it out again): per-key order
	 * is id order, so the event goes back before the newer events of its key. */
	PGresult *r = NULL;
	rc = cg_pg_q(s, "dead letter requeue",
	       "INSERT INTO events (id, source, dedup_key, status, priority, severity, payload, received_ms,"
	       " attempts, next_ms, step, last_error, is_head)"
	       " SELECT CASE WHEN EXISTS (SELECT 1 FROM events x WHERE x.id = d.event_id)"
	       " THEN nextval(pg_get_serial_sequence('events', 'id')) ELSE d.event_id END,"
	       " d.source, d.dedup_key, d.status, d.priority, d.severity, d.payload, d.received_ms,"
	       " 0, $2, 0, NULL, NOT EXISTS (SELECT 1 FROM events e WHERE e.dedup_key = d.dedup_key)"
	       " FROM dead_letters d WHERE d.id = $1 RETURNING id",
	       CG_ARGS(CG_ARG_I64(id), CG_ARG_I64(now_ms)), &r);
	if (rc == 0 && PQntuples(r) == 0)
		rc = CG_ENOENT;
	if (rc == 0)
		rc = cg_pg_fix_head(s, cg_pg_get_i64(r, 0, 0));
	PQclear(r);
	if (rc == 0)
		rc = cg_pg_q(s, "dead letter delete", "DELETE FROM dead_letters WHERE id = $1", CG_ARGS(CG_ARG_I64(id)), NULL);
	return cg_pg_tx_close(s, own, rc);
}

int cg_pg_dead_drop(struct cg_store *st, int64_t id)
{
	return cg_pg_q_one(pg(st), "dead letter drop", "DELETE FROM dead_letters WHERE id = $1", CG_ARGS(CG_ARG_I64(id)));
}

/* ---- seen ---- */

int cg_pg_seen(struct cg_store *st, const char *ns, const char *id, int64_t now_ms, int *was_seen)
{
	struct pg_store *s = pg(st);
	long ch = 0;
	int rc;
	if (!ns || !id)
		return CG_EINVAL;
	if (s->last_prune_ms == 0 || now_ms - s->last_prune_ms >= CG_SEEN_PRUNE_EVERY_MS || now_ms < s->last_prune_ms) {
		if ((rc = cg_pg_q(s, "seen prune",
			    "DELETE FROM seen WHERE seen_ms < $2::bigint"
			    " AND (seen_ms < $1::bigint OR left(ns, length($3)) = $3)",
			    CG_ARGS(CG_ARG_I64(now_ms - CG_SEEN_TTL_MS), CG_ARG_I64(now_ms - CG_SEEN_REPLAY_TTL_MS),
				    CG_ARG_TEXT(CG_SEEN_REPLAY_PREFIX)),
			    NULL)))
			return rc;
		s->last_prune_ms = now_ms;
	}
	rc = cg_pg_q_changes(s, "seen insert", "INSERT INTO seen (ns, id, seen_ms) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
		       CG_ARGS(CG_ARG_TEXT(ns), CG_ARG_TEXT(id), CG_ARG_I64(now_ms)), &ch);
	if (rc)
		return rc;
	*was_seen = ch == 0;
	return 0;
}

int cg_pg_seen_get(struct cg_store *st, const char *ns, int64_t now_ms, char **id)
{
	char *v = NULL;
	if (!ns || !id)
		return CG_EINVAL;
	/* Entries past their time are gone for seen() too, whether or not pruning ran yet. */
	int rc = cg_pg_q_row1(pg(st), "seen get",
			"SELECT id FROM seen WHERE ns = $1 AND seen_ms >= $2 ORDER BY seen_ms DESC, id LIMIT 1",
			CG_ARGS(CG_ARG_TEXT(ns), CG_ARG_I64(now_ms - CG_SEEN_TTL_MS)), &cg_store_rec_text, &v);
	if (rc == 0)
		*id = v;
	return rc;
}

/* ---- leases ---- */

int cg_pg_fence(struct cg_store *st, int64_t id, int64_t lease)
{
	struct pg_store *s = pg(st);
	long ch = 0;
	/* The row lock taken here lasts until commit: no claim can take the event meanwhile. */
	int rc = cg_pg_q_changes(s, "fence",
			   "UPDATE events SET lease_until = cg_now_ms() + $4"
			   " WHERE id = $1 AND claim_token = $2 AND claimed_by = $3",
			   CG_ARGS(CG_ARG_I64(id), CG_ARG_I64(lease), CG_ARG_TEXT(s->name), CG_ARG_I64(s->lease_ms)), &ch);
	if (rc)
		return rc;
	if (ch == 0) {
		snprintf(s->errmsg, sizeof(s->errmsg), "event %" PRId64 ": lease %" PRId64 " lost", id, lease);
		CG_LOG_WARN("%s: another replica owns it now; dropping this replica's progress", s->errmsg);
		return CG_ESTALE;
	}
	return 0;
}

void cg_pg_hold(struct cg_store *st, int64_t id, int64_t lease, int held)
{
	struct pg_store *s = pg(st);
	uv_mutex_lock(&s->mu);
	if (held) {
		if (s->nholds == s->capholds) {
			size_t ncap = s->capholds ? s->capholds * 2 : 64;
			struct hold *nh = realloc(s->holds, ncap * sizeof(*nh));
			if (!nh) {
				/* Unrenewed, the lease runs out and another replica retries the event. */
				uv_mutex_unlock(&s->mu);
				CG_LOG_ERR("out of memory: lease of event %" PRId64 " will not be renewed", id);
				return;
			}
			s->holds = nh;
			s->capholds = ncap;
		}
		s->holds[s->nholds++] = (struct hold){id, lease};
	} else {
		for (size_t i = 0; i < s->nholds; i++) {
			if (s->holds[i].id == id && s->holds[i].lease == lease) {
				s->holds[i] = s->holds[--s->nholds];
				break;
			}
		}
	}
	uv_mutex_unlock(&s->mu);
}

int cg_pg_lease_valid(struct cg_store *st, uint64_t since_mono_ms, uint64_t need_ms)
{
	struct pg_store *s = pg(st);
	uint64_t base = atomic_load(&s->last_renew_mono);
	if (since_mono_ms > base)
		base = since_mono_ms;
	return mono_ms() + need_ms < base + (uint64_t)s->lease_ms;
}

int cg_pg_watch(struct cg_store *st, void (*wake)(void *ud), void *ud)
{
	struct pg_store *s = pg(st);
	if (!s->listen)
		return CG_EINVAL;
	/* The listener calls wake with mu held: after this returns, no call is running. */
	uv_mutex_lock(&s->mu);
	s->wake = wake;
	s->wake_ud = ud;
	uv_mutex_unlock(&s->mu);
	return 0;
}

unsigned cg_pg_fleet_size(struct cg_store *st)
{
	return atomic_load(&pg(st)->fleet);
}

void cg_pg_poke(struct pg_store *s)
{
	if (s->pipefd[1] >= 0) {
		ssize_t w = write(s->pipefd[1], "x", 1);
		(void)w; /* a full pipe already holds a wake-up */
	}
}

/* The gate slot of name (made when new; the last slot is shared when all are used). Under mu. */
static unsigned rl_slot(struct pg_store *s, const char *name)
{
	for (unsigned i = 0; i < s->nrl; i++)
		if (strcmp(s->rl[i].name, name) == 0)
			return i;
	unsigned cap = sizeof(s->rl) / sizeof(s->rl[0]);
	if (s->nrl == cap)
		return cap - 1;
	unsigned i = s->nrl++;
	snprintf(s->rl[i].name, sizeof(s->rl[i].name), "%s", name);
	s->rl[i].until = s->rl[i].pending = 0;
	return i;
}

static void rl_heard(struct pg_store *s, const char *name, int64_t until_ms, int announce)
{
	uv_mutex_lock(&s->mu);
	unsigned i = rl_slot(s, name ? name : "");
	if (until_ms > s->rl[i].until)
		s->rl[i].until = until_ms;
	if (announce && until_ms > s->rl[i].pending)
		s->rl[i].pending = until_ms;
	uv_mutex_unlock(&s->mu);
}

void cg_pg_rl_publish(struct cg_store *st, const char *name, int64_t until_ms)
{
	struct pg_store *s = pg(st);
	rl_heard(s, name, until_ms, 1);
	cg_pg_poke(s);
}

int64_t cg_pg_rl_closed_until(struct cg_store *st, const char *name)
{
	struct pg_store *s = pg(st);
	int64_t until = 0;
	uv_mutex_lock(&s->mu);
	for (unsigned i = 0; i < s->nrl; i++)
		if (strcmp(s->rl[i].name, name ? name : "") == 0)
			until = s->rl[i].until;
	uv_mutex_unlock(&s->mu);
	return until;
}

/* ---- listener thread: NOTIFY wake-ups, lease renewal, heartbeat, rate-limit broadcast ---- */

static void call_wake(struct pg_store *s)
{
	uv_mutex_lock(&s->mu);
	if (s->wake)
		s->wake(s->wake_ud);
	uv_mutex_unlock(&s->mu);
}

/* cg_pg_q on the listener's own connection c: no prepared statements, failures logged at debug level. */
int cg_pg_lexec(struct pg_store *s, PGconn *c, const char *what, const char *sql, const struct cg_store_arg *a, int n,
		 PGresult **out)
{
	PGresult *r = exec_args(c, NULL, sql, a, n);
	if (res_ok(r, out))
		return 0;
	const char *m = PQresultErrorMessage(r);
	CG_LOG_DEBUG("listener %s: %s", what, m && m[0] ? m : PQerrorMessage(c));
	PQclear(r);
	return CG_EIO;
}

/* Renews the leases of the claims still worked on, and this replica's heartbeat. */
static int renew(struct pg_store *s, PGconn *c)
{
	uint64_t start = mono_ms();
	struct cg_sbuf ids = {0}, toks = {0};
	int rc = 0;

	cg_sbuf_add(&ids, "{");
	cg_sbuf_add(&toks, "{");
	uv_mutex_lock(&s->mu);
	size_t n = s->nholds;
	for (size_t i = 0; i < n; i++) {
		cg_pg_buf_i64(&ids, s->holds[i].id, i == 0);
		cg_pg_buf_i64(&toks, s->holds[i].lease, i == 0);
	}
	uv_mutex_unlock(&s->mu);
	cg_sbuf_add(&ids, "}");
	cg_sbuf_add(&toks, "}");
	if (ids.oom || toks.oom) {
		rc = CG_ENOMEM;
		goto out;
	}
	if (n) {
		/* Only leases not yet expired: an expired one may belong to another replica now. */
		rc = cg_pg_lexec(s, c, "renew",
			   "WITH h AS (SELECT e.id FROM events e JOIN unnest($1::bigint[], $2::bigint[]) AS u(id, tok)"
			   " ON e.id = u.id AND e.claim_token = u.tok WHERE e.claimed_by = $3"
			   " AND e.lease_until >= cg_now_ms() FOR UPDATE OF e SKIP LOCKED)"
			   " UPDATE events SET lease_until = cg_now_ms() + $4::bigint FROM h WHERE events.id = h.id",
			   CG_ARGS(CG_ARG_TEXT(ids.p), CG_ARG_TEXT(toks.p), CG_ARG_TEXT(s->name), CG_ARG_I64(s->lease_ms)),
			   NULL);
		if (rc)
			goto out;
	}
	/* Live: a heartbeat within three of its own renewal periods. */
	rc = cg_pg_lexec(s, c, "heartbeat",
		   "INSERT INTO replicas (name, started_ms, heartbeat_ms, expires_ms)"
		   " VALUES ($1, cg_now_ms(), cg_now_ms(), cg_now_ms() + $2::bigint) ON CONFLICT (name)"
		   " DO UPDATE SET heartbeat_ms = EXCLUDED.heartbeat_ms, expires_ms = EXCLUDED.expires_ms",
		   CG_ARGS(CG_ARG_TEXT(s->name), CG_ARG_I64(3 * (s->lease_ms / 4) + 1000)), NULL);
	if (rc)
		goto out;
	PGresult *r = NULL;
	rc = cg_pg_lexec(s, c, "fleet", "SELECT count(*) FROM replicas WHERE name <> $1 AND expires_ms > cg_now_ms()",
		   CG_ARGS(CG_ARG_TEXT(s->name)), &r);
	if (rc)
		goto out;
	atomic_store(&s->fleet, 1 + (unsigned)cg_pg_get_i64(r, 0, 0));
	PQclear(r);
	atomic_store(&s->last_renew_mono, start);
out:
	free(ids.p);
	free(toks.p);
	return rc;
}

static PGconn *listener_connect(struct pg_store *s)
{
	char err[512];
	PGconn *c = cg_pg_connect(s->conninfo, err, sizeof(err));
	if (!c) {
		CG_LOG_DEBUG("listener: %s", err);
		return NULL;
	}
	if (cg_pg_lexec(s, c, "listen", "LISTEN " CHANNEL_WORK, NULL, 0, NULL) ||
	    cg_pg_lexec(s, c, "listen", "LISTEN " CHANNEL_RL, NULL, 0, NULL) ||
	    cg_pg_lexec(s, c, "prune", "DELETE FROM replicas WHERE expires_ms < cg_now_ms() - 86400000", NULL, 0, NULL)) {
		PQfinish(c);
		return NULL;
	}
	return c;
}

void cg_pg_listener(void *arg)
{
	struct pg_store *s = arg;
	PGconn *c = NULL;
	uint64_t period = (uint64_t)s->lease_ms / 4, next_renew = 0, next_connect = 0;
	unsigned backoff = 0;
	int was_down = 0;

	if (period < 50)
		period = 50;
	while (!atomic_load(&s->stop)) {
		uint64_t now = mono_ms();
		if (!c && now >= next_connect) {
			c = listener_connect(s);
			if (c) {
				if (was_down)
					CG_LOG_INFO("listener reconnected");
				was_down = 0;
				backoff = 0;
				next_renew = 0;
				/* Work may have been queued while we could not hear about it. */
				call_wake(s);
			} else {
				if (!was_down)
					CG_LOG_WARN("listener: database unreachable; retrying with backoff");
				was_down = 1;
				backoff = backoff ? backoff * 2 : BACKOFF_MIN_MS;
				if (backoff > BACKOFF_MAX_MS)
					backoff = BACKOFF_MAX_MS;
				next_connect = now + backoff;
			}
		}
		if (c && now >= next_renew) {
			if (renew(s, c) != 0 && PQstatus(c) != CONNECTION_OK) {
				PQfinish(c);
				c = NULL;
				continue;
			}
			next_renew = now + period;
		}
		if (c) {
			/* "until name": the window of bucket name is closed for the fleet until then. */
			char msgs[8][96];
			unsigned nmsg = 0;
			uv_mutex_lock(&s->mu);
			for (unsigned i = 0; i < s->nrl && nmsg < 8; i++) {
				if (!s->rl[i].pending)
					continue;
				snprintf(msgs[nmsg++], sizeof(msgs[0]), "%lld %s", (long long)s->rl[i].pending, s->rl[i].name);
				s->rl[i].pending = 0;
			}
			uv_mutex_unlock(&s->mu);
			for (unsigned i = 0; i < nmsg; i++)
				cg_pg_lexec(s, c, "rate-limit notify", "SELECT pg_notify('" CHANNEL_RL "', $1)",
				      CG_ARGS(CG_ARG_TEXT(msgs[i])), NULL);
		}
		now = mono_ms();
		uint64_t until = c ? next_renew : next_connect;
		int timeout = until > now ? (int)(until - now) : 0;
		struct pollfd p[2] = {{.fd = s->pipefd[0], .events = POLLIN}, {.fd = c ? PQsocket(c) : -1, .events = POLLIN}};
		int pr = poll(p, 2, timeout);
		if (pr < 0 && errno != EINTR)
			CG_LOG_WARN("listener poll: %s", strerror(errno));
		if (p[0].revents & POLLIN) {
			char drain[64];
			while (read(s->pipefd[0], drain, sizeof(drain)) > 0)
				;
		}
		if (c && (p[1].revents & (POLLIN | POLLERR | POLLHUP))) {
			if (!PQconsumeInput(c)) {
				CG_LOG_WARN("listener connection lost: %s", PQerrorMessage(c));
				PQfinish(c);
				c = NULL;
				was_down = 1;
				continue;
			}
			PGnotify *nt;
			int wake = 0;
			int self = atomic_load(&s->main_pid);
			while ((nt = PQnotifies(c)) != NULL) {
				if (strcmp(nt->relname, CHANNEL_RL) == 0) {
					char *rest = NULL;
					int64_t until_ms = strtoll(nt->extra, &rest, 10);
					rl_heard(s, rest && *rest == ' ' ? rest + 1 : "", until_ms, 0);
				} else if (nt->be_pid != self) {
					wake = 1;
				}
				PQfreemem(nt);
			}
			if (wake)
				call_wake(s);
		}
	}
	if (c) {
		cg_pg_lexec(s, c, "leave", "DELETE FROM replicas WHERE name = $1", CG_ARGS(CG_ARG_TEXT(s->name)), NULL);
		PQfinish(c);
	}
}

/* ---- migrations ---- */

int cg_pg_exec_simple(PGconn *c, const char *sql, char *err, size_t errlen)
{
	PGresult *r = PQexec(c, sql);
	if (res_ok(r, NULL))
		return 0;
	const char *m = PQresultErrorMessage(r);
	if (!m || !m[0])
		m = PQerrorMessage(c);
	snprintf(err, errlen, "%.*s", trimmed(m), m);
	PQclear(r);
	return CG_EIO;
}

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

/* ---- open / close ---- */

static void pg_close(struct cg_store *st)
{
	struct pg_store *s = pg(st);
	if (!s)
		return;
	if (s->thread_started) {
		atomic_store(&s->stop, 1);
		cg_pg_poke(s);
		uv_thread_join(&s->thread);
	}
	if (s->conn)
		PQfinish(s->conn);
	if (s->pipefd[0] >= 0)
		close(s->pipefd[0]);
	if (s->pipefd[1] >= 0)
		close(s->pipefd[1]);
	uv_mutex_destroy(&s->mu);
	if (s->conninfo) {
		OPENSSL_cleanse(s->conninfo, strlen(s->conninfo));
		free(s->conninfo);
	}
	free(s->name);
	free(s->holds);
	free(s);
}

static const struct cg_store_ops pg_ops = {
	.name = "postgres",
	.close = pg_close,
	.begin = cg_pg_begin,
	.commit = cg_pg_commit,
	.rollback = cg_pg_rollback,
	.enqueue = cg_pg_enqueue,
	.claim = cg_pg_claim,
	.next_due_ms = cg_pg_next_due_ms,
	.event_step = cg_pg_event_step,
	.event_done = cg_pg_event_done,
	.source_stats = cg_pg_source_stats,
	.event_defer = cg_pg_event_defer,
	.note_put = cg_pg_note_put,
	.note_list = cg_pg_note_list,
	.event_retry = cg_pg_event_retry,
	.event_dead = cg_pg_event_dead,
	.case_get = cg_pg_case_get,
	.case_put = cg_pg_case_put,
	.case_find_by_key = cg_pg_case_find_by_key,
	.stats = cg_pg_stats,
	.dead_list = cg_pg_dead_list,
	.dead_get = cg_pg_dead_get,
	.dead_retry = cg_pg_dead_retry,
	.dead_drop = cg_pg_dead_drop,
	.seen = cg_pg_seen,
	.case_list_closed = cg_pg_case_list_closed,
	.case_mark_closed = cg_pg_case_mark_closed,
	.seen_get = cg_pg_seen_get,
	.fence = cg_pg_fence,
	.hold = cg_pg_hold,
	.lease_valid = cg_pg_lease_valid,
	.watch = cg_pg_watch,
	.fleet_size = cg_pg_fleet_size,
	.rl_publish = cg_pg_rl_publish,
	.rl_closed_until = cg_pg_rl_closed_until,
};

static char *default_name(void)
{
	char host[256] = "casegate";
	unsigned char rnd[4] = {0};
	gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		uint64_t t = uv_hrtime();
		memcpy(rnd, &t, sizeof(rnd));
	}
	char buf[320];
	snprintf(buf, sizeof(buf), "%s:%ld:%02x%02x%02x%02x", host, (long)getpid(), rnd[0], rnd[1], rnd[2], rnd[3]);
	return strdup(buf);
}

int cg_store_pg_open(const struct cg_store_pg_opts *o, struct cg_store **out, char *err, size_t errlen)
{
	struct pg_store *s = NULL;
	char scratch[1];
	int rc;

	if (!err || errlen == 0) {
		err = scratch;
		errlen = sizeof(scratch);
	}
	err[0] = '\0';
	if (!o || !o->dsn || !out) {
		snprintf(err, errlen, "no database DSN (store.dsn)");
		return CG_EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return CG_ENOMEM;
	s->base.ops = &pg_ops;
	s->pipefd[0] = s->pipefd[1] = -1;
	if (uv_mutex_init(&s->mu) != 0) {
		free(s);
		return CG_ENOMEM;
	}
	atomic_init(&s->last_renew_mono, 0);
	atomic_init(&s->fleet, 1);
	atomic_init(&s->main_pid, 0);
	atomic_init(&s->stop, 0);
	s->lease_ms = o->lease_ms > 0 ? o->lease_ms : DEFAULT_LEASE_MS;
	s->conninfo = strdup(o->dsn);
	s->name = o->name ? strdup(o->name) : default_name();
	if (!s->conninfo || !s->name) {
		rc = CG_ENOMEM;
		goto fail;
	}
	s->conn = cg_pg_connect(s->conninfo, err, errlen);
	if (!s->conn) {
		rc = CG_EIO;
		goto fail;
	}
	atomic_store(&s->main_pid, PQbackendPID(s->conn));
	if ((rc = cg_pg_schema_open(s->conn, o->migrate, err, errlen)))
		goto fail;
	/* Claims of an earlier process under this name: it is gone, they are free again. */
	long ch = 0;
	if ((rc = cg_pg_q_changes(s, "release own claims",
			    "UPDATE events SET claimed_by = NULL, lease_until = 0 WHERE claimed_by = $1",
			    CG_ARGS(CG_ARG_TEXT(s->name)), &ch))) {
		snprintf(err, errlen, "%s", s->errmsg);
		goto fail;
	}
	if (ch > 0)
		CG_LOG_WARN("%ld event(s) claimed by an earlier run of %s are pending again", ch, s->name);
	if (pipe(s->pipefd) != 0 || fcntl(s->pipefd[0], F_SETFL, O_NONBLOCK) != 0 ||
	    fcntl(s->pipefd[1], F_SETFL, O_NONBLOCK) != 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		rc = CG_EIO;
		goto fail;
	}
	/* The claims made from now on count as renewed now. */
	atomic_store(&s->last_renew_mono, mono_ms());
	s->listen = o->listen;
	if (s->listen) {
		if (uv_thread_create(&s->thread, cg_pg_listener, s) != 0) {
			snprintf(err, errlen, "cannot start the listener thread");
			rc = CG_EIO;
			goto fail;
		}
		s->thread_started = 1;
	}
	/* The daemon says which replica it is; a tool (status, dlq) keeps its output clean. */
	if (o->listen)
		CG_LOG_INFO("PostgreSQL store open: replica %s, lease %" PRId64 " ms, schema version %d", s->name,
			    s->lease_ms, cg_store_pg_schema_version());
	else
		CG_LOG_DEBUG("PostgreSQL store open: schema version %d", cg_store_pg_schema_version());
	*out = &s->base;
	return 0;
fail:
	if (err[0])
		CG_LOG_ERR("open: %s", err);
	pg_close(&s->base);
	return rc;
}
