/* store_sql.h: what both SQL backends share: the column lists, one row reader and one argument list per record. */
#ifndef CG_STORE_SQL_H
#define CG_STORE_SQL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "store.h"

/*
 * Private to the backends (store_sqlite*.c, store_pg*.c). A record's columns are named once
 * here: the column list a statement selects or inserts, the reader that takes a row apart in
 * that order and the argument list that binds a record in that order. A new column is added
 * to the table in each backend's schema file (a migration) and here, in all three.
 */

#define CG_EV_COLS "id, source, dedup_key, status, priority, severity, payload, received_ms, attempts, next_ms, step, last_error"
#define CG_CASE_COLS                                                                                       \
	"dedup_key, case_id, case_key, state, priority, generation, marker, prev_case_key, created_ms, closed_ms, " \
	"last_fire_ms, last_comment_ms, fires, pending_repeats, first_pending_ms, last_summary, prev_case_id, "   \
	"action_flags, sent_ms, confirmed_ms"
#define CG_DL_COLS                                                                                       \
	"id, event_id, source, dedup_key, status, priority, severity, payload, received_ms, attempts, next_ms, " \
	"step, last_error, http_status, reason, failed_ms"

/*
 * An event's claim rank (wall ms) as an SQL expression over the event's priority, status,
 * received_ms and dedup key and the aging (ms), each an SQL term of the statement (a column,
 * a parameter): received_ms + level * aging, level 0..4 for P1..P5 and 5 for no priority (the
 * engine's gate_rank too puts it after P5), plus half a level for work that is not a create or
 * an escalation: a resolution or comment (status not firing), or a firing repeat of a key whose
 * case is open (not resolved) at the same or a more urgent priority (lifecycle.c makes that a
 * comment). The case is a primary-key lookup. So a P5 waits behind fresher P1s for at most 4
 * levels of aging: nothing starves.
 */
#define CG_SQL_PRIO_RANK(prio) "(CASE WHEN " prio " BETWEEN 1 AND 5 THEN " prio " ELSE 6 END)"
#define CG_SQL_EVENT_RANK(prio, status, recv, key, aging)                                                   \
	"(" recv " + " aging " * (" CG_SQL_PRIO_RANK(prio) " - 1) + CASE WHEN " status " <> 0 OR EXISTS"     \
	" (SELECT 1 FROM cases rc WHERE rc.dedup_key = " key " AND rc.state = 2 AND rc.closed_ms = 0"           \
	" AND " CG_SQL_PRIO_RANK(prio) " >= " CG_SQL_PRIO_RANK("rc.priority") ") THEN " aging " / 2 ELSE 0 END)"

/* The aging that ranks the events enqueued now (struct cg_store's aging_ms or its default). */
static inline int64_t cg_store_aging(const struct cg_store *st)
{
	return st->aging_ms > 0 ? st->aging_ms : CG_STORE_AGING_DEFAULT_MS;
}

/* seen() entries live this long; pruning runs at most once per CG_SEEN_PRUNE_EVERY_MS. */
#define CG_SEEN_TTL_MS (7LL * 24 * 3600 * 1000)
#define CG_SEEN_PRUNE_EVERY_MS (3600LL * 1000)

/* One statement parameter, bound in list order ($1/?1 first): an integer, or a text (a NULL
 * text is SQL NULL). The text is referenced, not copied: it must outlive the statement's run. */
struct cg_store_arg {
	const char *text;
	int64_t i;
	int is_text;
};
#define CG_ARG_I64(v) ((struct cg_store_arg){.i = (int64_t)(v)})
#define CG_ARG_TEXT(s) ((struct cg_store_arg){.text = (s), .is_text = 1})
/* The two arguments `const struct cg_store_arg *a, int n` of a list written in place. */
#define CG_ARGS(...)                                  \
	(const struct cg_store_arg[]){__VA_ARGS__},   \
		(int)(sizeof((struct cg_store_arg[]){__VA_ARGS__}) / sizeof(struct cg_store_arg))
/* The most arguments one statement takes (a case: CG_CASE_NARGS). */
#define CG_ARGS_MAX 20

/* A case's arguments, in CG_CASE_COLS order. */
#define CG_CASE_NARGS 20
void cg_store_case_args(const struct cg_store_case *c, struct cg_store_arg a[CG_CASE_NARGS]);
/* An enqueue's events are ones to store: CG_EINVAL when evs is NULL or one lacks its source or key. */
int cg_store_events_check(const struct cg_store_event *evs, size_t n);
/* An event's arguments, in CG_EV_COLS order without the id (source first). */
#define CG_EV_NARGS 11
void cg_store_event_args(const struct cg_store_event *e, struct cg_store_arg a[CG_EV_NARGS]);

/* One row of a backend's result, read through the backend's two accessors. */
struct cg_store_row {
	int64_t (*i64)(const struct cg_store_row *r, int col); /* SQL NULL reads as 0 */
	/* *out: a malloc'd copy of the text, NULL for SQL NULL. 0 or CG_ENOMEM. */
	int (*text)(const struct cg_store_row *r, int col, char **out);
	void *res; /* the backend's result (sqlite3_stmt, PGresult) */
	int row;   /* the row's index in res (PostgreSQL) */
};

/* Each reader fills its record from a row (columns in the list order) and, when it fails, leaves
 * nothing allocated behind. CG_ENOMEM is the only failure. */
int cg_store_read_event(const struct cg_store_row *r, int c0, struct cg_store_event *ev); /* CG_EV_COLS from c0 */
int cg_store_read_case(const struct cg_store_row *r, struct cg_store_case *c);            /* CG_CASE_COLS */
int cg_store_read_dead(const struct cg_store_row *r, struct cg_dead_letter *d);           /* CG_DL_COLS */

/* A record as the backends' row loops see it: its size, its reader, and the release of an array of
 * n of them. */
struct cg_store_rec {
	size_t size;
	int (*read)(const struct cg_store_row *r, void *item);
	void (*free)(void *items, size_t n);
};
extern const struct cg_store_rec cg_store_rec_event;       /* CG_EV_COLS */
extern const struct cg_store_rec cg_store_rec_case;        /* CG_CASE_COLS */
extern const struct cg_store_rec cg_store_rec_dead;        /* CG_DL_COLS */
extern const struct cg_store_rec cg_store_rec_source_stat; /* source, pending, oldest, dead, delivered, last ms, key, case key */
extern const struct cg_store_rec cg_store_rec_note;        /* replica, name, value, updated_ms */
extern const struct cg_store_rec cg_store_rec_heartbeat;   /* source, started_ms, heard_ms, raised, raised_ms */
extern const struct cg_store_rec cg_store_rec_kv;          /* k, v, due_ms */
extern const struct cg_store_rec cg_store_rec_flag;        /* one integer column into an int, as 0 or 1 */
extern const struct cg_store_rec cg_store_rec_text;        /* one text column into a char * */

/*
 * Declares one backend's functions for the operations both backends have: <p><member> fills
 * member <member> of struct cg_store_ops (store.h), with that member's signature. A backend's
 * own operations (SQLite's probe, PostgreSQL's leases) are declared in its private header.
 */
#define CG_STORE_OPS_DECLARE(p)                                                                                    \
	int p##begin(struct cg_store *st);                                                                         \
	int p##commit(struct cg_store *st);                                                                        \
	int p##rollback(struct cg_store *st);                                                                      \
	int p##enqueue(struct cg_store *st, struct cg_store_event *evs, size_t n);                                 \
	int p##claim(struct cg_store *st, int64_t now_ms, size_t limit, struct cg_store_event **out, size_t *nout); \
	int p##next_due_ms(struct cg_store *st, int64_t *out);                                                     \
	int p##event_step(struct cg_store *st, int64_t id, int step);                                              \
	int p##event_done(struct cg_store *st, int64_t id);                                                        \
	int p##event_retry(struct cg_store *st, int64_t id, int64_t next_ms, const char *err);                     \
	int p##event_defer(struct cg_store *st, int64_t id, int64_t next_ms, const char *why);                     \
	int p##event_dead(struct cg_store *st, int64_t id, int http_status, const char *reason);                   \
	int p##case_get(struct cg_store *st, const char *dedup_key, struct cg_store_case *out);                    \
	int p##case_find_by_key(struct cg_store *st, const char *case_key, struct cg_store_case *out);             \
	int p##case_put(struct cg_store *st, const struct cg_store_case *c);                                       \
	int p##case_mark_closed(struct cg_store *st, const char *dedup_key, const char *case_id, int64_t flag,     \
				int *marked);                                                                      \
	int p##case_list_closed(struct cg_store *st, const char *key_prefix, int64_t closed_before,                \
				int64_t flags_clear, size_t limit, struct cg_store_case **out, size_t *nout);      \
	int p##stats(struct cg_store *st, struct cg_store_stats *out);                                             \
	int p##dead_list(struct cg_store *st, size_t limit, struct cg_dead_letter **out, size_t *nout);            \
	int p##dead_get(struct cg_store *st, int64_t id, struct cg_dead_letter *out);                              \
	int p##dead_retry(struct cg_store *st, int64_t id, int64_t now_ms);                                        \
	int p##dead_drop(struct cg_store *st, int64_t id);                                                         \
	int p##seen(struct cg_store *st, const char *ns, const char *id, int64_t now_ms, int *was_seen);           \
	int p##seen_get(struct cg_store *st, const char *ns, int64_t now_ms, char **id);                           \
	int p##source_stats(struct cg_store *st, struct cg_store_source_stat **out, size_t *nout);                 \
	int p##note_put(struct cg_store *st, const char *name, const char *value);                                 \
	int p##note_list(struct cg_store *st, struct cg_store_note **out, size_t *nout);                           \
	int p##hb_register(struct cg_store *st, const char *source, int64_t now_ms);                               \
	int p##hb_heard(struct cg_store *st, const char *source, int64_t now_ms);                                  \
	int p##hb_list(struct cg_store *st, struct cg_store_heartbeat **out, size_t *nout);                        \
	int p##hb_raise(struct cg_store *st, const char *source, int64_t silent_before_ms, int64_t now_ms,        \
			int *won);                                                                                 \
	int p##hb_clear(struct cg_store *st, const char *source, int *won);                                        \
	int p##kv_lock(struct cg_store *st);                                                                       \
	int p##kv_get(struct cg_store *st, const char *k, struct cg_store_kv *out);                                \
	int p##kv_put(struct cg_store *st, const char *k, const char *v, int64_t due_ms);                          \
	int p##kv_list(struct cg_store *st, const char *from, const char *to, int64_t due_before,                  \
		       struct cg_store_kv **out, size_t *nout);                                                    \
	int p##key_active(struct cg_store *st, const char *dedup_key, int *active);

static inline int64_t cg_store_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
