/* store_pg_int.h: the PostgreSQL store's insides, shared by store_pg*.c only (nothing else includes it). */
#ifndef CG_STORE_PG_INT_H
#define CG_STORE_PG_INT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>
#include <uv.h>

#include "sbuf.h"
#include "store.h"
#include "store_sql.h"

#define DEFAULT_LEASE_MS 30000
/* Reconnects back off from 100 ms to 5 s (the store's connection and the listener's). */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
/* NOTIFY channels: new work (sent by the events trigger of the schema), rate-limit windows. */
#define CHANNEL_WORK "casegate_work"
#define CHANNEL_RL "casegate_rl"

/* A claim the listener's lease renewal keeps alive (cg_store_hold). */
struct held_claim {
	int64_t id, lease;
};

#define PREP_MAX 64 /* more than the store's distinct statements */

/*
 * Events enqueued in the open transaction and not yet sent (store_pg_events.c): one array
 * literal per column of the INSERT's unnest() (the id, then CG_EV_NARGS), each "{" and its
 * elements, without the closing brace. Sent in one INSERT by cg_pg_flush(), before any other
 * statement that may read what they change and at commit.
 */
struct pg_pending {
	struct cg_sbuf col[1 + CG_EV_NARGS];
	size_t n;
	int64_t aging; /* the aging they are ranked with */
	/* The keys of the rows whose ids came from ids reserved ahead (s->ids): not locked yet. A
	 * text[] literal being built like col[], and how many. */
	struct cg_sbuf ukeys;
	size_t nu;
};

struct pg_store {
	struct cg_store base;
	/* store thread only */
	PGconn *conn;
	char *conninfo; /* may hold a password: wiped */
	char *name;
	int64_t lease_ms;
	int in_tx;
	int tx_key_locks;  /* advisory key locks taken in the open transaction */
	int64_t last_prune_ms;
	uint64_t next_connect_mono;
	unsigned backoff_ms;
	int down;          /* connection lost and not yet back (log once per outage) */
	char errmsg[512];
	/* Statements prepared on conn (cg_pg_q()): keyed by the SQL text's address, which is always a
	 * string literal, so a pointer names one statement. Emptied when conn is replaced. */
	const char *prep_sql[PREP_MAX];
	int nprep;
	/* Deferred enqueues of the open transaction, and the event ids it reserved ahead and has
	 * not used yet (ids[ids_at..nids), increasing): both dropped when it ends. */
	struct pg_pending pend;
	/* What the connection layer (store_pg_conn.c) does with them, set at open (store_pg.c):
	 * send them before any other statement and at commit (cg_pg_flush), drop them when the
	 * transaction ends (cg_pg_pend_drop). The layer below knows no more of enqueues than that. */
	int (*pend_flush)(struct pg_store *s);
	void (*pend_drop)(struct pg_store *s);
	int64_t *ids;
	size_t nids, ids_at, capids;
	/* Events enqueued in the open transaction, and in the last one: as many ids are reserved
	 * ahead (a group-commit batch is about as large as the one before; a transaction per
	 * webhook wastes none). */
	size_t tx_enqueued, ahead;
	/* listener thread */
	int listen;
	int thread_started;
	uv_thread_t thread;
	int pipefd[2];
	uv_mutex_t mu;     /* wake, holds, rl_pending */
	void (*wake)(void *ud);
	void *wake_ud;
	struct held_claim *holds;
	size_t nholds, capholds;
	/* Fleet-wide rate-limit gates, one per X-RateLimit-Name ("" unnamed): the latest "closed
	 * until" heard (until) and the one still to announce (pending). */
	struct {
		char name[64];
		int64_t until, pending;
	} rl[8];
	unsigned nrl;
	_Atomic uint64_t last_renew_mono; /* start of the last renewal that succeeded */
	atomic_uint fleet;
	atomic_int main_pid;              /* backend pid of conn: our own NOTIFYs are not news */
	atomic_int stop;
};

static inline struct pg_store *pg(struct cg_store *st)
{
	return (struct pg_store *)st;
}

static inline uint64_t mono_ms(void)
{
	return uv_hrtime() / 1000000;
}

/* The lookups of the key of row $1 (cg_pg_key_tx_open). */
#define KEY_OF_EVENT "SELECT dedup_key FROM events WHERE id = $1"
#define KEY_OF_DEAD "SELECT dedup_key FROM dead_letters WHERE id = $1"

/* ---- connection, statements, transactions, key locks (store_pg_conn.c) ---- */

/* A connection with casegate's session settings (timeouts, quiet notices); NULL and err on failure. */
PGconn *cg_pg_connect(const char *conninfo, char *err, size_t errlen);
/*
 * Runs sql (a string literal: its address names its prepared statement) on the store's
 * connection, reconnecting first when it was lost, with the arguments ($1 first). *out (may be
 * NULL) gets a row-returning result. Failures are mapped to enum cg_err, recorded and logged.
 */
int cg_pg_q(struct pg_store *s, const char *what, const char *sql, const struct cg_store_arg *a, int n,
	    PGresult **out);
/* cg_pg_q without sending the deferred enqueues first: only for statements that neither read
 * nor change events (nor what an enqueue reads: cases), e.g. seen and heartbeat_heard. */
int cg_pg_q_nf(struct pg_store *s, const char *what, const char *sql, const struct cg_store_arg *a, int n,
	       PGresult **out);
/* cg_pg_q; *changes gets the rows the statement changed. */
int cg_pg_q_changes(struct pg_store *s, const char *what, const char *sql, const struct cg_store_arg *a, int n,
		    long *changes);
/* cg_pg_q for a statement that changes one row: CG_ENOENT when it changed none. */
int cg_pg_q_one(struct pg_store *s, const char *what, const char *sql, const struct cg_store_arg *a, int n);
/* cg_pg_q, then every row into a new array of rec items (*out, NULL for none); on a failure
 * nothing is left allocated. */
int cg_pg_q_rows(struct pg_store *s, const char *what, const char *sql, const struct cg_store_arg *a, int n,
		 const struct cg_store_rec *rec, void **out, size_t *nout);
/* cg_pg_q, then its first row into item: CG_ENOENT when there is none. */
int cg_pg_q_row1(struct pg_store *s, const char *what, const char *sql, const struct cg_store_arg *a, int n,
		 const struct cg_store_rec *rec, void *item);
/* sql on another connection c (the listener's): no prepared statements, failures logged at
 * debug level as CG_EIO. */
int cg_pg_lexec(struct pg_store *s, PGconn *c, const char *what, const char *sql, const struct cg_store_arg *a, int n,
		PGresult **out);
/* One or more statements without parameters (migrations); CG_EIO and err on failure. */
int cg_pg_exec_simple(PGconn *c, const char *sql, char *err, size_t errlen);
/* The integer at (row, col) of r; SQL NULL reads as 0. */
int64_t cg_pg_get_i64(const PGresult *r, int row, int col);
/* Appends one element to a PostgreSQL array literal: a quoted, escaped string or NULL / an integer. */
void cg_pg_buf_elem(struct cg_sbuf *b, const char *s, int first);
void cg_pg_buf_i64(struct cg_sbuf *b, int64_t v, int first);
/* Multi-statement operations run in the caller's transaction, or in their own one (*own):
 * tx_close commits or rolls back the one tx_open opened, and returns rc (or the commit's failure). */
int cg_pg_tx_open(struct pg_store *s, int *own);
int cg_pg_tx_close(struct pg_store *s, int own, int rc);
/* Takes the advisory locks of the keys in array_literal (a text[] literal of nkeys keys): see
 * store_pg_conn.c for how batches stay free of deadlocks. */
int cg_pg_lock_keys(struct pg_store *s, const char *array_literal, size_t nkeys);
/* cg_pg_tx_open, then the lock of the key of row id found by lookup_sql (KEY_OF_EVENT,
 * KEY_OF_DEAD); CG_ENOENT when the row is gone. On a failure the transaction is closed again. */
int cg_pg_key_tx_open(struct pg_store *s, const char *lookup_sql, int64_t id, int *own);

/* ---- schema (store_pg_schema.c) ---- */

/* At open: migrate (the daemon, under the advisory lock), or check that the schema is this build's. */
int cg_pg_schema_open(PGconn *c, int migrate, char *err, size_t errlen);

/* ---- the queue and its leases (store_pg_events.c) ---- */

/* Sends the deferred enqueues of the open transaction (none: 0): the locks of the keys not
 * locked yet, then one INSERT. CG_EAGAIN when a key is busy, or when another replica committed
 * an event of one of the keys with an id above the one reserved ahead for it (the batch is
 * re-run, its jobs alone). Whatever the outcome, nothing is deferred afterwards. */
int cg_pg_flush(struct pg_store *s);
/* Drops the deferred enqueues (the transaction ended). */
void cg_pg_pend_drop(struct pg_store *s);

/* Makes the lowest id of event id's key its head, unless an event of the key is claimed under a
 * live lease. Key locked by the caller. */
int cg_pg_fix_head(struct pg_store *s, int64_t id);

/* ---- the listener thread (store_pg_listen.c) ---- */

/* The listener thread's body (arg: the store): NOTIFY wake-ups, lease renewal, heartbeat,
 * rate-limit broadcast, on a connection of its own. Ends when s->stop is set (and poked). */
void cg_pg_listener(void *arg);
/* Wakes the listener (the stop flag, a rate-limit window to announce). Thread-safe. */
void cg_pg_poke(struct pg_store *s);

/*
 * ---- the operations (members of struct cg_store_ops), by file ----
 * store_pg_conn.c    begin, commit, rollback
 * store_pg_events.c  enqueue, claim, next_due_ms, event_step / done / retry / defer / dead, and fence
 * store_pg_cases.c   case_get, case_find_by_key, case_put, case_mark_closed, case_list_closed
 * store_pg_dead.c    dead_list, dead_get, dead_retry, dead_drop
 * store_pg_seen.c    seen, seen_get
 * store_pg_status.c  stats, source_stats, note_put, note_list
 * store_pg_heartbeat.c  hb_register, hb_heard, hb_list, hb_raise, hb_clear
 * store_pg_kv.c      kv_lock, kv_get, kv_put, kv_list, key_active
 * store_pg_listen.c  the shared-store members, thread-safe: hold, lease_valid, watch, fleet_size,
 *                    rl_publish, rl_closed_until
 */
CG_STORE_OPS_DECLARE(cg_pg_)
int cg_pg_fence(struct cg_store *st, int64_t id, int64_t lease);
void cg_pg_hold(struct cg_store *st, int64_t id, int64_t lease, int held);
int cg_pg_lease_valid(struct cg_store *st, uint64_t since_mono_ms, uint64_t need_ms);
int cg_pg_watch(struct cg_store *st, void (*wake)(void *ud), void *ud);
unsigned cg_pg_fleet_size(struct cg_store *st);
void cg_pg_rl_publish(struct cg_store *st, const char *name, int64_t until_ms);
int64_t cg_pg_rl_closed_until(struct cg_store *st, const char *name);

#endif
