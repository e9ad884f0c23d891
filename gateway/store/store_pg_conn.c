/* store_pg_conn.c: the PostgreSQL store's connection: reconnects, prepared statements, rows, transactions, key locks. */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "err.h"
#include "sbuf.h"
#include "store_pg_int.h"

#define CG_LOG_COMPONENT "store-pg"
#include "log.h"

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
int cg_pg_q_nf(struct pg_store *s, const char *what, const char *sql, const struct cg_store_arg *a, int n,
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

/* Any statement may read what the deferred enqueues change: they go first. */
int cg_pg_q(struct pg_store *s, const char *what, const char *sql, const struct cg_store_arg *a, int n,
	    PGresult **out)
{
	int rc = s->pend_flush ? s->pend_flush(s) : 0;
	return rc ? rc : cg_pg_q_nf(s, what, sql, a, n, out);
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

/* ---- transactions ---- */

int cg_pg_begin(struct cg_store *st)
{
	struct pg_store *s = pg(st);
	if (s->pend_drop)
		s->pend_drop(s);
	int rc = cg_pg_q_nf(s, "begin", "BEGIN", NULL, 0, NULL);
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
	/* The deferred enqueues are part of what commits: when they fail, nothing does. */
	int rc = s->pend_flush ? s->pend_flush(s) : 0;
	if (rc) {
		cg_pg_rollback(st);
		return rc;
	}
	if (s->pend_drop)
		s->pend_drop(s);
	s->ahead = s->tx_enqueued;
	s->tx_enqueued = 0;
	rc = cg_pg_q_nf(s, "commit", "COMMIT", NULL, 0, &r);
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
	if (s->pend_drop)
		s->pend_drop(s);
	if (s->tx_enqueued) {
		s->ahead = s->tx_enqueued;
		s->tx_enqueued = 0;
	}
	if (!s->in_tx)
		return 0; /* none open: a failed commit already ended it (no server WARNING) */
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
	/* Locks read nothing: the deferred enqueues stay deferred. */
	if (s->tx_key_locks == 0) {
		rc = cg_pg_q_nf(s, "lock keys",
		       "SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT hashtextextended(k, 0) AS h"
		       " FROM unnest($1::text[]) AS k ORDER BY 1) x",
		       CG_ARGS(CG_ARG_TEXT(array_literal)), NULL);
	} else {
		rc = cg_pg_q_nf(s, "try-lock keys",
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
