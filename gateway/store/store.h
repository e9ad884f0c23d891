/* store.h: the durable store behind a narrow interface (SQLite embedded, PostgreSQL shared by replicas). */
#ifndef CG_STORE_H
#define CG_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "err.h"

/*
 * Every function here is synchronous and blocking: call it only from the store
 * thread (storeq.h), never on the libuv loop. All return 0 or a negative enum cg_err:
 * CG_EFULL when the disk or database is full, CG_EIO for other storage failures,
 * CG_ENOENT for a missing row.
 */

struct cg_store;

/* One queued unit of work: an event to apply to the case of its dedup key. */
struct cg_store_event {
	int64_t id;          /* assigned by enqueue, increasing: per-key order is id order */
	char *source;
	char *dedup_key;     /* namespaced ("<source>:<key>") */
	int status;          /* enum cg_alert_status */
	int priority;        /* 0..5 */
	char *severity;      /* may be NULL */
	char *payload;       /* JSON text the engine needs (create body, attributes, summary, ...) */
	int64_t received_ms; /* wall clock when accepted */
	int attempts;        /* failed attempts so far */
	int64_t next_ms;     /* not before (wall clock ms) */
	int step;            /* progress through the event's operations, persisted between attempts */
	char *last_error;    /* may be NULL */
	int64_t lease;       /* claim token (fencing) written by claim; 0 when the backend has none */
};

enum cg_case_state {
	CG_CASE_NONE = 0,     /* no case yet */
	CG_CASE_CREATING = 1, /* create sent, outcome not yet known: reconcile before creating again */
	CG_CASE_OPEN = 2,
	CG_CASE_CLOSED = 3,
};

/* What casegate knows of the case for one dedup key. */
struct cg_store_case {
	char *dedup_key;
	char *case_id;        /* Datadog case UUID, NULL before creation */
	char *case_key;       /* "PROJ-123" */
	int state;            /* enum cg_case_state */
	int priority;         /* current priority as casegate set it */
	int generation;       /* cases opened for this key so far (1 for the first) */
	char *marker;         /* idempotency marker of the latest create */
	char *prev_case_key;  /* the case before this generation (reopen window passed) */
	char *prev_case_id;   /* its UUID (to link the new case to it) */
	int64_t created_ms, closed_ms, last_fire_ms, last_comment_ms;
	int64_t fires;        /* total firing events seen */
	int64_t pending_repeats; /* repeats not yet reported in a digest comment */
	int64_t first_pending_ms; /* when the oldest unreported repeat arrived */
	char *last_summary;   /* summary of the newest repeat (for the digest) */
	int64_t action_flags; /* enum cg_case_action_flag: one-shot actions done for this generation */
	int64_t sent_ms;      /* CREATING: when the create whose outcome is unknown was (last) sent */
	int64_t confirmed_ms; /* when Datadog last confirmed the case's state (create, status answer, GET) */
};

/* A line the daemon keeps in the store for `casegate status` (Datadog circuit, storms, ...). */
struct cg_store_note {
	char *replica;        /* "" for a single-process store */
	char *name;
	char *value;
	int64_t updated_ms;
};

/* Lifecycle actions done once per case (bits of cg_store_case.action_flags). */
enum cg_case_action_flag {
	CG_CASE_JIRA = 1,        /* Jira issue created */
	CG_CASE_SERVICENOW = 2,  /* ServiceNow ticket created */
	CG_CASE_NOTEBOOK = 4,    /* investigation notebook created */
	CG_CASE_ARCHIVE_QUEUED = 8, /* an archive event is queued */
	CG_CASE_ARCHIVED = 16,
};

struct cg_store_stats {
	int64_t pending;        /* events waiting (incl. in flight) */
	int64_t inflight;
	int64_t dead;           /* dead letters */
	int64_t oldest_ms;      /* received_ms of the oldest pending event, 0 when none */
	int64_t cases;
	uint64_t bytes;         /* database size */
	/* pending by priority: [0] no priority (0 or unknown), [1]..[5] P1..P5. They add up to
	 * pending, except that past 100,000 events SQLite counts them again only every 10 s (the
	 * last count meanwhile). */
	int64_t pending_by_priority[6];
};

/* Per-source summary (for `casegate status`). */
struct cg_store_source_stat {
	char *source;
	int64_t pending;           /* events waiting (incl. in flight) */
	int64_t oldest_ms;         /* received_ms of its oldest waiting event, 0 when none */
	int64_t dead;              /* its dead letters */
	int64_t delivered;         /* events finished (event_done) since the store was created */
	int64_t last_delivered_ms; /* when the latest one finished (wall ms), 0 when never */
	char *last_dedup_key;      /* the latest finished event's dedup key, NULL when never */
	char *last_case_key;       /* that key's case ("PROJ-12"), NULL when unknown */
};

/* A source's heartbeat (dead-man's switch) as the store keeps it, fleet-wide. */
struct cg_store_heartbeat {
	char *source;
	int64_t started_ms; /* when a heartbeat was first configured for it (the clock of a sender never heard) */
	int64_t heard_ms;   /* latest traffic recorded by any process, 0 when never */
	int raised;         /* its "went silent" event is queued (and not yet answered by a resolve) */
	int64_t raised_ms;  /* when it was raised */
};

/* A small document the intake keeps in the store (storm folding): key, JSON text, due time. */
struct cg_store_kv {
	char *k;
	char *v;
	int64_t due_ms; /* 0: nothing due */
};

struct cg_dead_letter {
	int64_t id;
	struct cg_store_event ev;
	int http_status;
	char *reason;
	int64_t failed_ms;
};

struct cg_store_ops {
	const char *name;
	void (*close)(struct cg_store *st);
	int (*begin)(struct cg_store *st);
	int (*commit)(struct cg_store *st);
	int (*rollback)(struct cg_store *st);
	int (*enqueue)(struct cg_store *st, struct cg_store_event *evs, size_t n);
	int (*claim)(struct cg_store *st, int64_t now_ms, size_t limit, struct cg_store_event **out, size_t *nout);
	int (*next_due_ms)(struct cg_store *st, int64_t *out);
	int (*event_step)(struct cg_store *st, int64_t id, int step);
	int (*event_done)(struct cg_store *st, int64_t id);
	int (*event_retry)(struct cg_store *st, int64_t id, int64_t next_ms, const char *err);
	int (*event_dead)(struct cg_store *st, int64_t id, int http_status, const char *reason);
	int (*case_get)(struct cg_store *st, const char *dedup_key, struct cg_store_case *out);
	int (*case_put)(struct cg_store *st, const struct cg_store_case *c);
	int (*case_find_by_key)(struct cg_store *st, const char *case_key, struct cg_store_case *out);
	int (*stats)(struct cg_store *st, struct cg_store_stats *out);
	int (*dead_list)(struct cg_store *st, size_t limit, struct cg_dead_letter **out, size_t *nout);
	int (*dead_get)(struct cg_store *st, int64_t id, struct cg_dead_letter *out);
	int (*dead_retry)(struct cg_store *st, int64_t id, int64_t now_ms);
	int (*dead_drop)(struct cg_store *st, int64_t id);
	int (*seen)(struct cg_store *st, const char *ns, const char *id, int64_t now_ms, int *was_seen);
	int (*probe)(struct cg_store *st); /* may be NULL: then the probe succeeds */
	/* Optional (NULL when a backend lacks it: archiving is then unavailable). */
	int (*case_list_closed)(struct cg_store *st, const char *key_prefix, int64_t closed_before, int64_t flags_clear,
				size_t limit, struct cg_store_case **out, size_t *nout);
	int (*seen_get)(struct cg_store *st, const char *ns, int64_t now_ms, char **id);
	/* Optional, with case_list_closed. */
	int (*case_mark_closed)(struct cg_store *st, const char *dedup_key, const char *case_id, int64_t flag,
				int *marked);
	/*
	 * Shared-store members (several processes on one store: claims are leases). NULL in a
	 * backend that only one process opens; the dispatchers below then answer "always owner".
	 * Those marked thread-safe may be called from any thread (they touch no connection).
	 */
	int (*fence)(struct cg_store *st, int64_t id, int64_t lease);
	void (*hold)(struct cg_store *st, int64_t id, int64_t lease, int held);               /* thread-safe */
	int (*lease_valid)(struct cg_store *st, uint64_t since_mono_ms, uint64_t need_ms);  /* thread-safe */
	int (*watch)(struct cg_store *st, void (*wake)(void *ud), void *ud);                /* thread-safe */
	unsigned (*fleet_size)(struct cg_store *st);                                         /* thread-safe */
	void (*rl_publish)(struct cg_store *st, const char *name, int64_t until_ms);        /* thread-safe */
	int64_t (*rl_closed_until)(struct cg_store *st, const char *name);                  /* thread-safe */
	int (*source_stats)(struct cg_store *st, struct cg_store_source_stat **out, size_t *nout);
	int (*event_defer)(struct cg_store *st, int64_t id, int64_t next_ms, const char *why);
	int (*note_put)(struct cg_store *st, const char *name, const char *value);
	int (*note_list)(struct cg_store *st, struct cg_store_note **out, size_t *nout);
	/* Heartbeats (see cg_store_hb_* below). */
	int (*hb_register)(struct cg_store *st, const char *source, int64_t now_ms);
	int (*hb_heard)(struct cg_store *st, const char *source, int64_t now_ms);
	int (*hb_list)(struct cg_store *st, struct cg_store_heartbeat **out, size_t *nout);
	int (*hb_raise)(struct cg_store *st, const char *source, int64_t silent_before_ms, int64_t now_ms, int *won);
	int (*hb_clear)(struct cg_store *st, const char *source, int *won);
	/* Small documents and key activity (see cg_store_kv_* below). */
	int (*kv_lock)(struct cg_store *st);
	int (*kv_get)(struct cg_store *st, const char *k, struct cg_store_kv *out);
	int (*kv_put)(struct cg_store *st, const char *k, const char *v, int64_t due_ms);
	int (*kv_list)(struct cg_store *st, const char *from, const char *to, int64_t due_before,
		       struct cg_store_kv **out, size_t *nout);
	int (*key_active)(struct cg_store *st, const char *dedup_key, int *active);
	/* Optional (see cg_store_set_relaxed). */
	int (*set_relaxed)(struct cg_store *st, int relaxed);
};

struct cg_store {
	const struct cg_store_ops *ops;
	/*
	 * Priority aging (config priority_aging) that enqueue and dead_retry rank events with:
	 * claim hands due heads out by rank_ms = received_ms + level * aging_ms (level 0..4 for
	 * P1..P5, 5 for no priority; half a level more for what is not a create or an escalation),
	 * then id. 0: CG_STORE_AGING_DEFAULT_MS. Set it on the store thread (or before the store
	 * thread starts): enqueue reads it there.
	 */
	int64_t aging_ms;
};
#define CG_STORE_AGING_DEFAULT_MS (10LL * 60 * 1000)

/*
 * Opens (creating if needed) the SQLite store in dir/casegate.db (WAL, synchronous=FULL).
 * Events left in flight by a previous process are made pending again.
 */
int cg_store_sqlite_open(const char *dir, struct cg_store **out, char *err, size_t errlen);
/*
 * Opens an existing store as a second process while the daemon may run (the status and dlq
 * commands): no creation, no migration, and nothing in flight is made pending again.
 * CG_ENOENT when dir holds no store; CG_EINVAL when its schema is newer than this build.
 */
int cg_store_sqlite_open_existing(const char *dir, struct cg_store **out, char *err, size_t errlen);
/* Text of the SQLite store's last failure (also logged); "" when none. */
const char *cg_store_sqlite_errmsg(struct cg_store *st);
/* Schema version this build writes (PRAGMA user_version of casegate.db). */
int cg_store_sqlite_schema_version(void);
/*
 * Test hook: PRAGMA max_page_count = pages, so writes fail with CG_EFULL like a full disk.
 * SQLite never goes below the current page count; *out (may be NULL) gets the value in effect.
 */
int cg_store_sqlite_set_max_pages(struct cg_store *st, int64_t pages, int64_t *out);

/* PostgreSQL backend (store_pg.c): one database shared by every replica. */
struct cg_store_pg_opts {
	const char *dsn;      /* libpq connection string or URI */
	const char *name;     /* replica identity; NULL: "<host>:<pid>:<random>". A stable name makes a
	                       * restarted replica release its own claims at open instead of waiting
	                       * for their leases; two live processes must never share one. */
	int64_t lease_ms;     /* claim lease; 0: 30000. Renewed every lease/4 while work runs. */
	int migrate;          /* 1: apply pending migrations at open (under an advisory lock) */
	int listen;           /* 1: start the listener thread (NOTIFY wake-ups, lease renewal, heartbeat) */
};
/*
 * Connects (failing when the database is unreachable), checks or migrates the schema and
 * releases claims left by an earlier process of the same name. Later connection losses are
 * survived: operations fail with CG_EIO while the database is away and the store reconnects
 * by itself (backoff 100 ms .. 5 s).
 */
int cg_store_pg_open(const struct cg_store_pg_opts *o, struct cg_store **out, char *err, size_t errlen);
/* Applies pending migrations; *from / *to (may be NULL) get the versions before and after. */
int cg_store_pg_migrate(const char *dsn, int *from, int *to, char *err, size_t errlen);
/* Schema version this build writes (row of table schema_version). */
int cg_store_pg_schema_version(void);

/* Thin dispatchers. */
static inline void cg_store_close(struct cg_store *st)
{
	if (st)
		st->ops->close(st);
}
#define cg_store_begin(st) ((st)->ops->begin(st))
#define cg_store_commit(st) ((st)->ops->commit(st))
#define cg_store_rollback(st) ((st)->ops->rollback(st))
/* Inserts n events atomically; writes each evs[i].id. */
#define cg_store_enqueue(st, evs, n) ((st)->ops->enqueue(st, evs, n))
/*
 * Claims up to limit due events (next_ms <= now), at most one per dedup key and only
 * the oldest pending one of a key with nothing in flight; marks them in flight. Among the
 * due heads, the lowest rank (see aging_ms in struct cg_store) goes first, then the lowest id;
 * *out is in that order. *out is an array the caller frees with cg_store_events_free().
 */
#define cg_store_claim(st, now, limit, out, nout) ((st)->ops->claim(st, now, limit, out, nout))
/* Earliest next_ms among pending events not in flight; CG_ENOENT when none. */
#define cg_store_next_due_ms(st, out) ((st)->ops->next_due_ms(st, out))
#define cg_store_event_step(st, id, step) ((st)->ops->event_step(st, id, step))
/* Deletes the event (delivered) and counts it as its source's latest delivery. */
#define cg_store_event_done(st, id) ((st)->ops->event_done(st, id))
/* Back to pending with attempts+1, next_ms, last_error. */
#define cg_store_event_retry(st, id, next, err) ((st)->ops->event_retry(st, id, next, err))
/* Back to pending at next_ms without counting a failed attempt (the event waits for something
 * outside it: a search index to settle, an outage to end); why goes to last_error. */
#define cg_store_event_defer(st, id, next, why) ((st)->ops->event_defer(st, id, next, why))
/* Moves the event to the dead-letter table. */
#define cg_store_event_dead(st, id, status, reason) ((st)->ops->event_dead(st, id, status, reason))
/* Fills out (caller cleans with cg_store_case_cleanup) or CG_ENOENT. */
#define cg_store_case_get(st, key, out) ((st)->ops->case_get(st, key, out))
/* Insert or replace by dedup_key. */
#define cg_store_case_put(st, c) ((st)->ops->case_put(st, c))
/* Looks a case up by its Datadog key ("PROJ-123") or id (UUID); CG_ENOENT when unknown. */
#define cg_store_case_find_by_key(st, k, out) ((st)->ops->case_find_by_key(st, k, out))
#define cg_store_stats(st, out) ((st)->ops->stats(st, out))
#define cg_store_dead_list(st, limit, out, nout) ((st)->ops->dead_list(st, limit, out, nout))
#define cg_store_dead_get(st, id, out) ((st)->ops->dead_get(st, id, out))
/*
 * Puts a dead letter back in the queue in its original place for its key: it takes back its
 * original event id, so it is applied before the newer events of its key that have not started
 * (an event of the key already in flight finishes first). attempts and step restart at 0: the
 * event is decided afresh against the case as it is then (a letter retried much later must not
 * resume an old decision).
 */
#define cg_store_dead_retry(st, id, now) ((st)->ops->dead_retry(st, id, now))
#define cg_store_dead_drop(st, id) ((st)->ops->dead_drop(st, id))
/*
 * Namespaces starting with CG_SEEN_REPLAY_PREFIX hold webhook ids and signatures remembered
 * against replays inside a signature's time window (at most a day either side of its timestamp):
 * they are kept CG_SEEN_REPLAY_TTL_MS; every other namespace 7 days.
 */
#define CG_SEEN_REPLAY_PREFIX "webhook-id:"
#define CG_SEEN_REPLAY_TTL_MS (49LL * 3600 * 1000)
/* Records (ns, id) as seen (e.g. SNS MessageId); *was_seen = 1 when it was already there. */
#define cg_store_seen(st, ns, id, now, was) ((st)->ops->seen(st, ns, id, now, was))
/* A small real write (undone in the same transaction) that fails with CG_EFULL when the store
 * has no room to grow: lets the daemon notice that space came back. */
#define cg_store_probe(st) ((st)->ops->probe ? (st)->ops->probe(st) : 0)
/*
 * Closed cases (state CG_CASE_CLOSED, with a case_id) whose dedup_key starts with key_prefix,
 * closed before closed_before (wall ms) and with none of the flags_clear bits set; at most
 * limit, oldest first. *out is freed with cg_store_cases_free(). CG_EINVAL when the backend
 * does not implement it.
 */
int cg_store_case_list_closed(struct cg_store *st, const char *key_prefix, int64_t closed_before, int64_t flags_clear,
			      size_t limit, struct cg_store_case **out, size_t *nout);
void cg_store_cases_free(struct cg_store_case *c, size_t n);
/*
 * Sets flag on the case of dedup_key only while it is still closed with case_id (one atomic
 * update, so a replica that reopened or replaced the case meanwhile is never overwritten);
 * *marked = 1 when it did. CG_EINVAL when the backend does not implement it.
 */
int cg_store_case_mark_closed(struct cg_store *st, const char *dedup_key, const char *case_id, int64_t flag,
			      int *marked);
/* The newest id recorded under ns within the seen() lifetime (7 days); *id malloc'd (caller
 * frees); CG_ENOENT when none. E-mail threading keeps "mailref:<Message-ID>" -> dedup key. */
#define cg_store_seen_get(st, ns, now, id) ((st)->ops->seen_get(st, ns, now, id))
/* One row per source known to the queue, the dead letters or past deliveries, by name;
 * *out is freed with cg_store_source_stats_free (NULL when none). */
static inline int cg_store_source_stats(struct cg_store *st, struct cg_store_source_stat **out, size_t *nout)
{
	/* Optional: a backend without it answers CG_EINVAL. */
	return st->ops->source_stats ? st->ops->source_stats(st, out, nout) : CG_EINVAL;
}

/*
 * Checks that this process still holds event id under the lease token from its claim, and
 * keeps it so until the transaction ends (row lock; extends the lease). CG_ESTALE when the
 * lease was lost (expired and claimed by another replica): the caller must not write the
 * event's progress. Call it first in the job that writes an event's progress or outcome.
 */
static inline int cg_store_fence(struct cg_store *st, int64_t id, int64_t lease)
{
	return st->ops->fence ? st->ops->fence(st, id, lease) : 0;
}
/* Tells the backend's lease renewal which claims are still being worked on (held=1 after
 * claim, 0 when the work ended or was abandoned: its lease then runs out). Thread-safe. */
static inline void cg_store_hold(struct cg_store *st, int64_t id, int64_t lease, int held)
{
	if (st->ops->hold)
		st->ops->hold(st, id, lease, held);
}
/*
 * 1 when a claim taken at since_mono_ms (CLOCK_MONOTONIC ms, as uv_now) is sure to stay ours
 * for need_ms more (the last lease renewal, or the claim, is recent enough); 0 when it may
 * expire meanwhile (the database was unreachable): start no request for it. Thread-safe.
 */
static inline int cg_store_lease_valid(struct cg_store *st, uint64_t since_mono_ms, uint64_t need_ms)
{
	return st->ops->lease_valid ? st->ops->lease_valid(st, since_mono_ms, need_ms) : 1;
}
/* Registers wake (called from another thread) for "another process queued work"; NULL
 * unregisters (after return, wake is no longer running nor called). 0 or CG_EINVAL when the
 * backend has no such notifications. Thread-safe. */
static inline int cg_store_watch(struct cg_store *st, void (*wake)(void *ud), void *ud)
{
	return st->ops->watch ? st->ops->watch(st, wake, ud) : CG_EINVAL;
}
/* Live replicas sharing the store (heartbeats), at least 1. Thread-safe. */
static inline unsigned cg_store_fleet_size(struct cg_store *st)
{
	unsigned n = st->ops->fleet_size ? st->ops->fleet_size(st) : 1;
	return n ? n : 1;
}
/* Fleet-wide rate-limit windows, one per bucket name (X-RateLimit-Name, "" when unnamed):
 * publish "closed until until_ms (wall)" to the other replicas; closed_until is the latest such
 * time heard for name from any of them (0: none). Thread-safe. */
static inline void cg_store_rl_publish(struct cg_store *st, const char *name, int64_t until_ms)
{
	if (st->ops->rl_publish)
		st->ops->rl_publish(st, name, until_ms);
}
static inline int64_t cg_store_rl_closed_until(struct cg_store *st, const char *name)
{
	return st->ops->rl_closed_until ? st->ops->rl_closed_until(st, name) : 0;
}

/* This process's note name = value (value NULL removes it); replicas of a shared store keep
 * their own. note_list gives every replica's notes (of live replicas only, on a shared store),
 * freed with cg_store_notes_free. */
#define cg_store_note_put(st, name, value) ((st)->ops->note_put(st, name, value))
#define cg_store_note_list(st, out, nout) ((st)->ops->note_list(st, out, nout))
void cg_store_notes_free(struct cg_store_note *v, size_t n);

/*
 * Heartbeats: a source promises traffic at least every so often; the daemon raises a "went
 * silent" event when it stops. Each decision is one atomic conditional update, made in the
 * transaction that queues the event, so replicas sharing a store raise (and clear) it once.
 * A backend without them answers CG_EINVAL (hb_heard: 0, it is on the intake path).
 *
 * register: the source has a heartbeat from now on; started_ms = now_ms unless it had one
 * already (a restart keeps the clock of a sender never heard).
 * heard: traffic from source at now_ms (latest wins; each process writes its own record, so
 * intakes of several replicas never wait for each other).
 * list: every registered source with its latest traffic, by name; freed with
 * cg_store_heartbeats_free.
 * raise: marks source raised (raised_ms = now_ms) when it is not and nothing was heard since
 * silent_before_ms (nor was it registered since); *won = 1 when this call did it. A row another
 * replica is deciding right now is skipped (not waited for): that replica decides.
 * clear: marks a raised source no longer raised when traffic was heard after it was raised;
 * *won = 1 when this call did it.
 */
static inline int cg_store_hb_register(struct cg_store *st, const char *source, int64_t now_ms)
{
	return st->ops->hb_register ? st->ops->hb_register(st, source, now_ms) : CG_EINVAL;
}
static inline int cg_store_hb_heard(struct cg_store *st, const char *source, int64_t now_ms)
{
	return st->ops->hb_heard ? st->ops->hb_heard(st, source, now_ms) : 0;
}
static inline int cg_store_hb_list(struct cg_store *st, struct cg_store_heartbeat **out, size_t *nout)
{
	return st->ops->hb_list ? st->ops->hb_list(st, out, nout) : CG_EINVAL;
}
static inline int cg_store_hb_raise(struct cg_store *st, const char *source, int64_t silent_before_ms, int64_t now_ms,
				    int *won)
{
	return st->ops->hb_raise ? st->ops->hb_raise(st, source, silent_before_ms, now_ms, won) : CG_EINVAL;
}
static inline int cg_store_hb_clear(struct cg_store *st, const char *source, int *won)
{
	return st->ops->hb_clear ? st->ops->hb_clear(st, source, won) : CG_EINVAL;
}
void cg_store_heartbeats_free(struct cg_store_heartbeat *v, size_t n);

void cg_store_event_cleanup(struct cg_store_event *ev);
void cg_store_events_free(struct cg_store_event *evs, size_t n);
void cg_store_case_cleanup(struct cg_store_case *c);
void cg_dead_letter_cleanup(struct cg_dead_letter *d);
void cg_dead_letters_free(struct cg_dead_letter *d, size_t n);
void cg_store_source_stats_free(struct cg_store_source_stat *v, size_t n);

/*
 * Small documents by key, read and written in the caller's transaction (storm folding keeps its
 * windows, storms and folded alerts so). A backend without them answers CG_EINVAL.
 * lock: serializes the writers of these documents across processes sharing the store until the
 * transaction ends (PostgreSQL: one advisory lock, so two replicas never deadlock over two
 * documents; SQLite: nothing, one writer at a time already). Take it before the first get.
 * get: CG_ENOENT when k has none; *out cleaned with cg_store_kv_cleanup.
 * put: v NULL removes k.
 * list: the documents whose key starts with prefix, by key; with due_before > 0 only those due
 * (0 < due_ms <= due_before). Freed with cg_store_kvs_free.
 * key_active: *active = 1 when dedup_key has an event queued or a case open (or being created).
 */
/*
 * Outside a transaction: whether the next commits wait for the disk (0, the default) or not (1).
 * Relaxed commits are for writes that are durable elsewhere already (the intake journal's
 * records): SQLite then commits with synchronous=NORMAL (WAL: a killed process loses nothing, a
 * power cut may lose the latest commits, and the next ordinary commit makes every earlier one
 * durable). Backends without it commit as always (0 returned).
 */
static inline int cg_store_set_relaxed(struct cg_store *st, int relaxed)
{
	return st->ops->set_relaxed ? st->ops->set_relaxed(st, relaxed) : 0;
}

static inline int cg_store_kv_lock(struct cg_store *st)
{
	return st->ops->kv_lock ? st->ops->kv_lock(st) : CG_EINVAL;
}
static inline int cg_store_kv_get(struct cg_store *st, const char *k, struct cg_store_kv *out)
{
	return st->ops->kv_get ? st->ops->kv_get(st, k, out) : CG_EINVAL;
}
static inline int cg_store_kv_put(struct cg_store *st, const char *k, const char *v, int64_t due_ms)
{
	return st->ops->kv_put ? st->ops->kv_put(st, k, v, due_ms) : CG_EINVAL;
}
static inline int cg_store_kv_list(struct cg_store *st, const char *prefix, int64_t due_before,
				   struct cg_store_kv **out, size_t *nout)
{
	if (!st->ops->kv_list || !prefix || !prefix[0])
		return CG_EINVAL;
	/* The keys from prefix up to (not including) the prefix with its last byte raised by one:
	 * a range both backends scan in their key index. */
	char to[128];
	size_t n = strlen(prefix);
	if (n >= sizeof(to) || (unsigned char)prefix[n - 1] == 0xff)
		return CG_EINVAL; /* not a prefix anyone uses: short, ASCII */
	memcpy(to, prefix, n + 1);
	to[n - 1] = (char)((unsigned char)to[n - 1] + 1);
	return st->ops->kv_list(st, prefix, to, due_before, out, nout);
}
static inline int cg_store_key_active(struct cg_store *st, const char *dedup_key, int *active)
{
	return st->ops->key_active ? st->ops->key_active(st, dedup_key, active) : CG_EINVAL;
}
void cg_store_kv_cleanup(struct cg_store_kv *kv);
void cg_store_kvs_free(struct cg_store_kv *v, size_t n);

#endif
