/* ratelimit.h: Datadog's rate limits as it announces them: named buckets (X-RateLimit-Name), each a
 * window aligned to the reset its headers give; requests wait per bucket, the most urgent first. */
#ifndef CG_RATELIMIT_H
#define CG_RATELIMIT_H

#include <stdint.h>

#define CG_RL_MAX_BUCKETS 8
#define CG_RL_NAME_MAX 64

/* The kinds of request casegate sends; each learns its bucket from the answers' X-RateLimit-Name. */
enum cg_rl_class {
	CG_RL_SEARCH = 0, /* GET /cases?filter=... (reconciliation) */
	CG_RL_READ,       /* GET /cases/{id}, projects, case types */
	CG_RL_CREATE,     /* POST /cases */
	CG_RL_WRITE,      /* every other change of a case */
	CG_RL_BULK,       /* POST /cases/bulk */
	CG_RL_CLASSES
};

/* Intrusive list node of a request waiting for its bucket's window. */
struct cg_rl_waiter {
	struct cg_rl_waiter *next;
	int64_t rank;  /* lower goes first */
	uint64_t seq;  /* then arrival order */
};

struct cg_rl_bucket {
	char name[CG_RL_NAME_MAX]; /* "" for b[0]: answers without a name, classes not learned yet */
	long limit, period_s;      /* as last advertised; 0 unknown */
	long remaining;            /* this replica's requests left in the window; -1 unknown: no pacing */
	int64_t reset_at;          /* wall ms the window ends; 0 unknown */
	long used;                 /* requests this replica sent in the window (a fleet replica keeps to
				    * its share of the limit however much the org has left) */
	long server_left;          /* the least X-RateLimit-Remaining heard in the window (answers can
				    * come back out of order); -1 unknown */
	unsigned unanswered;       /* sent in this bucket, answer not yet seen */
	struct cg_rl_waiter *waiters; /* sorted by (rank, seq) */
	unsigned long rejected;    /* 429s seen */
	int scouting;              /* a new window began without fresh headers: one request goes first,
				    * its answer says what the window really holds */
	unsigned bare_run;         /* successes in a row in this bucket without rate-limit headers */
	unsigned bare_windows;     /* windows begun since the last answer with them */
};

/* A bucket whose answers stopped carrying rate-limit headers (the limit was lifted, or a proxy now
 * strips them) is forgotten, and unpaced, after this many windows and CG_RL_FORGET_RUN successes
 * in a row without them: pacing to the last limit heard would otherwise go on forever. Answers
 * that only sometimes lack them (about half, at worst, in what was seen) keep what is known: at
 * half bare, 8 in a row come every few hundred answers (and did forget a paced bucket under load),
 * 24 about once in 16 million. */
#define CG_RL_STALE_WINDOWS 3
#define CG_RL_FORGET_RUN 24

/* A class is taken as unpaced (no bucket) only after this many successes in a row without
 * rate-limit headers, one at a time: an endpoint that sometimes leaves the headers off must not
 * turn pacing off on its first answer (and burst into its bucket). */
#define CG_RL_BARE_KNOWN 8

struct cg_rl {
	struct cg_rl_bucket b[CG_RL_MAX_BUCKETS];
	unsigned n;                      /* buckets in use, b[0] always */
	unsigned cls[CG_RL_CLASSES];     /* learned bucket of each class (0 until an answer names one) */
	int cls_state[CG_RL_CLASSES];    /* 0 not known yet, 1 its first request (scout) is out, 2 known */
	unsigned cls_bare[CG_RL_CLASSES]; /* successes without rate-limit headers while not known */
	uint64_t seq;
};

/* What an answer says about its bucket (-1: header absent; name NULL or "": none). */
struct cg_rl_answer {
	long status;
	const char *name;
	long limit, period, remaining, reset, retry_after;
};

void cg_rl_init(struct cg_rl *rl);

unsigned cg_rl_bucket_of(const struct cg_rl *rl, enum cg_rl_class c);

/*
 * 1: a request of bucket b may go now (it is counted: remaining - 1, unanswered + 1); 0: the
 * window is spent, the caller parks it with cg_rl_wait. fleet: live replicas sharing the org's
 * budget (each spends its share); fleet_closed_until: another replica got a 429 for this bucket
 * and the window is closed for everyone until then (wall ms, 0 none).
 */
int cg_rl_take(struct cg_rl *rl, unsigned b, int64_t now_ms, unsigned fleet, int64_t fleet_closed_until);

/*
 * Whether a request of class c may go as far as its class is concerned: 1 when an answer told the
 * class's bucket (or that it has none), or when it is the first of its class (it is marked as
 * out: the class's scout); 0 while that scout is out: the request waits (in bucket 0) instead of
 * going unpaced into a bucket casegate does not know yet.
 */
int cg_rl_class_open(struct cg_rl *rl, enum cg_rl_class c);

/*
 * A scout of a class whose bucket is not known yet may count in any bucket: it is charged to
 * every named bucket (1..n-1) so that the classes that know them leave room for it. 0 and the
 * set of charged buckets (bit i: bucket i) in *charged, or 1 when one has no room (nothing
 * charged; *full: that bucket, to wait on).
 */
int cg_rl_charge_all(struct cg_rl *rl, int64_t now_ms, unsigned fleet, unsigned *charged, unsigned *full);
/* What becomes of a scout's charges: b > 0, its answer named bucket b (the others get their
 * place back; in b it stays used, no longer on the wire); b == 0, its answer named none (it may
 * have counted in any: it stays used in each); b < 0, it never left (every place goes back). */
void cg_rl_discharge(struct cg_rl *rl, unsigned charged, int b);

/* Undoes a take whose request could not be sent after all. */
void cg_rl_untake(struct cg_rl *rl, unsigned b);

/* Parks w in bucket b, ordered by rank then arrival. */
void cg_rl_wait(struct cg_rl *rl, unsigned b, struct cg_rl_waiter *w, int64_t rank);

/*
 * Learns from an answer to a request of class c counted in bucket b_sent: the class's bucket
 * (from X-RateLimit-Name), its window (limit, period, remaining less this replica's unanswered
 * requests, reset). An answer without headers changes nothing that is known. A 429 closes the
 * bucket until its reset (X-RateLimit-Reset, else Retry-After, else 1 s); *closed_until (may be
 * NULL) then gets that time, else 0. Returns the bucket the answer belongs to.
 */
unsigned cg_rl_observe(struct cg_rl *rl, enum cg_rl_class c, unsigned b_sent, const struct cg_rl_answer *a,
		       int64_t now_ms, unsigned fleet, int64_t *closed_until);

/* Closes bucket b until until_ms (a 429 another replica got). */
void cg_rl_close_until(struct cg_rl *rl, unsigned b, int64_t until_ms);

/* Earliest window end among buckets with waiters (wall ms); 0 when nothing waits. */
int64_t cg_rl_next_wake(const struct cg_rl *rl);

/*
 * The waiters of every bucket whose window has ended, as one list (each bucket's in rank order);
 * their buckets start a new window in which one request (the scout) goes first: its answer's
 * headers say what the window holds (the edge of Datadog's calendar-aligned window is only known
 * to the second). The caller sends them again: those past what the window allows park again.
 */
struct cg_rl_waiter *cg_rl_release(struct cg_rl *rl, int64_t now_ms, unsigned fleet);

/*
 * The waiters of every bucket that has room again before its window ended (a scout's answer
 * said how much), to be sent again like those of cg_rl_release.
 */
struct cg_rl_waiter *cg_rl_ready(struct cg_rl *rl);

/* Every waiter of every bucket (shutdown). */
struct cg_rl_waiter *cg_rl_take_all_waiters(struct cg_rl *rl);

/* Removes w from whichever bucket holds it; 1 when it was parked. */
int cg_rl_forget(struct cg_rl *rl, struct cg_rl_waiter *w);

#endif
