/* store_suite.c: the store conformance suite; every backend must pass it unchanged. */
#include "store_suite.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "harness.h"

static const struct cg_store_suite_backend *B;

struct fx {
	void *loc;
	struct cg_store *st;
};

#define T0 1700000000000LL /* a fixed "now" keeps the tests independent of the clock */
#define DAY_MS (24LL * 3600 * 1000)

int64_t cg_store_suite_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define CHECK_RC(expr, want)                                                                              \
	do {                                                                                              \
		int rc_ = (expr);                                                                         \
		if (rc_ != (want))                                                                        \
			fail_msg("%s: got %d (%s), want %d (%s)", #expr, rc_, cg_strerror(rc_), (int)(want), \
				 cg_strerror(want));                                                      \
	} while (0)
#define CHECK_I64(got, want)                                                                        \
	do {                                                                                        \
		int64_t g_ = (int64_t)(got), w_ = (int64_t)(want);                                   \
		if (g_ != w_)                                                                       \
			fail_msg("%s: got %" PRId64 ", want %" PRId64, #got, g_, w_);               \
	} while (0)
#define CHECK_STR(got, want)                                                                         \
	do {                                                                                         \
		const char *g_ = (got), *w_ = (want);                                                 \
		if ((g_ == NULL) != (w_ == NULL) || (g_ && strcmp(g_, w_) != 0))                     \
			fail_msg("%s: got \"%s\", want \"%s\"", #got, g_ ? g_ : "(null)", w_ ? w_ : "(null)"); \
	} while (0)

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	int rc = B->create(&f->loc, &f->st);
	if (rc) {
		free(f);
		fail_msg("%s create: got %s, want ok", B->name, cg_strerror(rc));
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	cg_store_close(f->st);
	B->remove(f->loc);
	free(f);
	return 0;
}

static void reopen(struct fx *f)
{
	cg_store_close(f->st);
	f->st = NULL;
	CHECK_RC(B->reopen(f->loc, &f->st), 0);
}

static struct cg_store_event mk(const char *key, int64_t next_ms)
{
	struct cg_store_event e = {0};
	e.source = (char *)"test";
	e.dedup_key = (char *)key;
	e.status = 0;
	e.priority = 3;
	e.severity = NULL;
	e.payload = (char *)"{\"title\":\"t\"}";
	e.received_ms = next_ms;
	e.next_ms = next_ms;
	return e;
}

static int64_t enq(struct cg_store *st, const char *key, int64_t next_ms)
{
	struct cg_store_event e = mk(key, next_ms);
	CHECK_RC(cg_store_enqueue(st, &e, 1), 0);
	return e.id;
}

/* Claims and returns the ids (sorted as the store returned them) in ids[], count as result. */
static size_t claim_ids(struct cg_store *st, int64_t now, size_t limit, int64_t *ids, size_t cap)
{
	struct cg_store_event *v = NULL;
	size_t n = 0;
	CHECK_RC(cg_store_claim(st, now, limit, &v, &n), 0);
	if (n > cap)
		fail_msg("claim returned %zu events, room for %zu", n, cap);
	for (size_t i = 0; i < n; i++)
		ids[i] = v[i].id;
	cg_store_events_free(v, n);
	return n;
}

static void check_ids(const int64_t *got, size_t ngot, const int64_t *want, size_t nwant, const char *what)
{
	int same = ngot == nwant;
	for (size_t i = 0; same && i < ngot; i++)
		same = got[i] == want[i];
	if (same)
		return;
	char g[256] = "", w[256] = "";
	size_t gl = 0, wl = 0;
	for (size_t i = 0; i < ngot && gl < sizeof(g) - 24; i++)
		gl += (size_t)snprintf(g + gl, sizeof(g) - gl, "%s%" PRId64, i ? "," : "", got[i]);
	for (size_t i = 0; i < nwant && wl < sizeof(w) - 24; i++)
		wl += (size_t)snprintf(w + wl, sizeof(w) - wl, "%s%" PRId64, i ? "," : "", want[i]);
	fail_msg("%s: got [%s], want [%s]", what, g, w);
}

static void t_enqueue_ids(void **state)
{
	struct fx *f = *state;
	struct cg_store_event evs[3] = {mk("a", T0), mk("b", T0), mk("a", T0)};
	CHECK_RC(cg_store_enqueue(f->st, evs, 3), 0);
	int64_t d = enq(f->st, "c", T0);
	if (!(evs[0].id > 0 && evs[1].id > evs[0].id && evs[2].id > evs[1].id && d > evs[2].id))
		fail_msg("ids not increasing: got %" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64, evs[0].id, evs[1].id,
			 evs[2].id, d);
	/* Ids are never reused, even after the newest event is gone. */
	CHECK_RC(cg_store_event_done(f->st, d), 0);
	int64_t e = enq(f->st, "c", T0);
	if (e <= d)
		fail_msg("id reused: got %" PRId64 ", want > %" PRId64, e, d);
	struct cg_store_event bad = mk(NULL, T0);
	bad.id = 42;
	CHECK_RC(cg_store_enqueue(f->st, &bad, 1), CG_EINVAL);
	CHECK_I64(bad.id, 42); /* out-parameters are written only on success */
	CHECK_RC(cg_store_enqueue(f->st, NULL, 0), 0);
}

static void t_claim_fields(void **state)
{
	struct fx *f = *state;
	struct cg_store_event e = mk("k1", T0);
	e.source = (char *)"alertmanager";
	e.status = 1;
	e.priority = 2;
	e.severity = (char *)"critical";
	e.payload = (char *)"{\"x\":\"\xc3\xa9\"}";
	e.received_ms = T0 - 5;
	e.step = 1;
	CHECK_RC(cg_store_enqueue(f->st, &e, 1), 0);
	struct cg_store_event *v = NULL;
	size_t n = 0;
	CHECK_RC(cg_store_claim(f->st, T0, 10, &v, &n), 0);
	CHECK_I64(n, 1);
	CHECK_I64(v[0].id, e.id);
	CHECK_STR(v[0].source, "alertmanager");
	CHECK_STR(v[0].dedup_key, "k1");
	CHECK_I64(v[0].status, 1);
	CHECK_I64(v[0].priority, 2);
	CHECK_STR(v[0].severity, "critical");
	CHECK_STR(v[0].payload, e.payload);
	CHECK_I64(v[0].received_ms, T0 - 5);
	CHECK_I64(v[0].attempts, 0);
	CHECK_I64(v[0].next_ms, T0);
	CHECK_I64(v[0].step, 1);
	CHECK_STR(v[0].last_error, NULL);
	cg_store_events_free(v, n);
	/* limit 0 claims nothing. */
	v = NULL;
	n = 99;
	CHECK_RC(cg_store_claim(f->st, T0, 0, &v, &n), 0);
	CHECK_I64(n, 0);
	cg_store_events_free(v, n);
}

static void t_claim_oldest_per_key(void **state)
{
	struct fx *f = *state;
	int64_t a1 = enq(f->st, "A", T0), b1 = enq(f->st, "B", T0), a2 = enq(f->st, "A", T0);
	int64_t c1 = enq(f->st, "C", T0), a3 = enq(f->st, "A", T0), b2 = enq(f->st, "B", T0);
	int64_t got[16];
	size_t n = claim_ids(f->st, T0, 16, got, 16);
	check_ids(got, n, (int64_t[]){a1, b1, c1}, 3, "first claim: oldest of each key");
	/* Every key has one in flight: nothing more. */
	n = claim_ids(f->st, T0 + 1000, 16, got, 16);
	check_ids(got, n, NULL, 0, "claim while all keys in flight");
	CHECK_RC(cg_store_event_done(f->st, a1), 0);
	n = claim_ids(f->st, T0, 16, got, 16);
	check_ids(got, n, (int64_t[]){a2}, 1, "after done(a1)");
	CHECK_RC(cg_store_event_done(f->st, c1), 0);
	CHECK_RC(cg_store_event_done(f->st, b1), 0);
	CHECK_RC(cg_store_event_done(f->st, a2), 0);
	n = claim_ids(f->st, T0, 1, got, 16);
	check_ids(got, n, (int64_t[]){a3}, 1, "limit 1 takes the lowest (next_ms, id)");
	n = claim_ids(f->st, T0, 16, got, 16);
	check_ids(got, n, (int64_t[]){b2}, 1, "remaining key");
}

static void t_claim_next_ms_order(void **state)
{
	struct fx *f = *state;
	int64_t x, next;
	CHECK_RC(cg_store_next_due_ms(f->st, &x), CG_ENOENT);
	int64_t p = enq(f->st, "P", T0 + 300), q = enq(f->st, "Q", T0 + 100), r = enq(f->st, "R", T0 + 200);
	int64_t s = enq(f->st, "S", T0 + 100);
	CHECK_RC(cg_store_next_due_ms(f->st, &next), 0);
	CHECK_I64(next, T0 + 100);
	int64_t got[8];
	size_t n = claim_ids(f->st, T0 + 99, 8, got, 8);
	check_ids(got, n, NULL, 0, "nothing due yet");
	n = claim_ids(f->st, T0 + 250, 8, got, 8);
	check_ids(got, n, (int64_t[]){q, s, r}, 3, "due events of one priority by age (received_ms = next_ms here), then id");
	CHECK_RC(cg_store_next_due_ms(f->st, &next), 0);
	CHECK_I64(next, T0 + 300);
	n = claim_ids(f->st, T0 + 300, 8, got, 8);
	check_ids(got, n, (int64_t[]){p}, 1, "at next_ms exactly");
	CHECK_RC(cg_store_next_due_ms(f->st, &x), CG_ENOENT);
}

/* An event of key with priority prio and status (0 firing, 1 resolved) received at received_ms, due at T0. */
static int64_t enq_p(struct cg_store *st, const char *key, int prio, int status, int64_t received_ms)
{
	struct cg_store_event e = mk(key, T0);
	e.priority = prio;
	e.status = status;
	e.received_ms = received_ms;
	CHECK_RC(cg_store_enqueue(st, &e, 1), 0);
	return e.id;
}

/* Among due heads the most urgent goes first (P1..P5, then no priority), whatever the arrival order. */
static void t_claim_priority_order(void **state)
{
	struct fx *f = *state;
	int64_t p5 = enq_p(f->st, "p5", 5, 0, T0), p3 = enq_p(f->st, "p3", 3, 0, T0);
	int64_t none = enq_p(f->st, "none", 0, 0, T0), p1 = enq_p(f->st, "p1", 1, 0, T0);
	int64_t p2 = enq_p(f->st, "p2", 2, 0, T0), p4 = enq_p(f->st, "p4", 4, 0, T0);
	int64_t p1b = enq_p(f->st, "p1b", 1, 0, T0);
	int64_t late = enq(f->st, "late", T0 + 1000); /* a P3 not due yet is not claimed */
	int64_t got[16];
	size_t n = claim_ids(f->st, T0, 1, got, 16);
	check_ids(got, n, (int64_t[]){p1}, 1, "limit 1 takes the most urgent due head");
	n = claim_ids(f->st, T0, 16, got, 16);
	check_ids(got, n, (int64_t[]){p1b, p2, p3, p4, p5, none}, 6, "the rest by priority, then id");
	n = claim_ids(f->st, T0 + 1000, 16, got, 16);
	check_ids(got, n, (int64_t[]){late}, 1, "the one that was not due");
}

/* Per-key order wins over priority: a P1 behind a P5 of its key waits for it. */
static void t_claim_priority_per_key(void **state)
{
	struct fx *f = *state;
	int64_t a5 = enq_p(f->st, "A", 5, 0, T0), a1 = enq_p(f->st, "A", 1, 0, T0);
	int64_t b3 = enq_p(f->st, "B", 3, 0, T0);
	int64_t got[8];
	size_t n = claim_ids(f->st, T0, 1, got, 8);
	check_ids(got, n, (int64_t[]){b3}, 1, "a P1 behind its key's P5 is not claimable");
	n = claim_ids(f->st, T0, 8, got, 8);
	check_ids(got, n, (int64_t[]){a5}, 1, "the key's head");
	CHECK_RC(cg_store_event_done(f->st, a5), 0);
	n = claim_ids(f->st, T0, 8, got, 8);
	check_ids(got, n, (int64_t[]){a1}, 1, "the P1 once its key's P5 is done");
}

/* Nothing starves: waiting counts as priority, one level per aging_ms (the default 10 min at 0). */
static void t_claim_aging(void **state)
{
	struct fx *f = *state;
	const int64_t lvl = 1000;
	f->st->aging_ms = lvl;
	/* A P5 received 5 levels ago (rank T0 - 1 level) beats a fresh P1 (rank T0); one received 3
	 * levels ago (rank T0 + 1 level) does not. */
	int64_t p1 = enq_p(f->st, "fresh-p1", 1, 0, T0);
	int64_t young = enq_p(f->st, "young-p5", 5, 0, T0 - 3 * lvl);
	int64_t old = enq_p(f->st, "old-p5", 5, 0, T0 - 5 * lvl);
	int64_t got[8];
	size_t n = claim_ids(f->st, T0, 8, got, 8);
	check_ids(got, n, (int64_t[]){old, p1, young}, 3, "aging 1s: old P5, fresh P1, younger P5");
	for (size_t i = 0; i < n; i++)
		CHECK_RC(cg_store_event_done(f->st, got[i]), 0);

	/* The default: a P5 queued 41 min ago goes before a P1 queued now, one of 39 min does not. */
	f->st->aging_ms = 0;
	const int64_t min = 60 * 1000;
	p1 = enq_p(f->st, "fresh-p1", 1, 0, T0);
	young = enq_p(f->st, "young-p5", 5, 0, T0 - 39 * min);
	old = enq_p(f->st, "old-p5", 5, 0, T0 - 41 * min);
	n = claim_ids(f->st, T0, 8, got, 8);
	check_ids(got, n, (int64_t[]){old, p1, young}, 3, "default aging 10m");
	for (size_t i = 0; i < n; i++)
		CHECK_RC(cg_store_event_done(f->st, got[i]), 0);

	/* A dead letter retried keeps its rank from when it arrived, not from the retry. */
	f->st->aging_ms = lvl;
	int64_t d = enq_p(f->st, "dead-p5", 5, 0, T0 - 6 * lvl);
	n = claim_ids(f->st, T0, 8, got, 8);
	check_ids(got, n, (int64_t[]){d}, 1, "the P5 to dead-letter");
	CHECK_RC(cg_store_event_dead(f->st, d, 500, "x"), 0);
	struct cg_dead_letter *dl = NULL;
	size_t ndl = 0;
	CHECK_RC(cg_store_dead_list(f->st, 10, &dl, &ndl), 0);
	CHECK_I64(ndl, 1);
	int64_t dlid = dl[0].id;
	cg_dead_letters_free(dl, ndl);
	p1 = enq_p(f->st, "fresh-p1", 1, 0, T0);
	CHECK_RC(cg_store_dead_retry(f->st, dlid, T0 + 10 * lvl), 0);
	n = claim_ids(f->st, T0 + 10 * lvl, 8, got, 8);
	check_ids(got, n, (int64_t[]){d, p1}, 2, "retried dead P5 keeps its age");
}

/* Creates before resolutions of equal priority, but only by half a level: a P1 resolution still
 * goes before a P2 create. A firing repeat of an open case at the same (or a more urgent)
 * priority becomes a comment: it ranks like one; an escalation of an open case ranks as a create. */
static void t_claim_resolutions_after_creates(void **state)
{
	struct fx *f = *state;
	int64_t r3 = enq_p(f->st, "r3", 3, 1, T0), c3 = enq_p(f->st, "c3", 3, 0, T0);
	int64_t c2 = enq_p(f->st, "c2", 2, 0, T0), r1 = enq_p(f->st, "r1", 1, 1, T0);
	int64_t c4 = enq_p(f->st, "c4", 4, 0, T0);
	int64_t got[16];
	size_t n = claim_ids(f->st, T0, 16, got, 16);
	check_ids(got, n, (int64_t[]){r1, c2, c3, r3, c4}, 5, "resolutions half a level after creates");
	for (size_t i = 0; i < n; i++)
		CHECK_RC(cg_store_event_done(f->st, got[i]), 0);

	/* Open cases: "rep" at P3 (a P3 or P4 firing is a repeat), "esc" at P3 (a P2 firing escalates),
	 * "shut" resolved in Datadog's view (closed, a firing reopens it: ranked as urgent work). */
	const char *open_keys[] = {"rep", "rep4", "esc", "shut"};
	for (size_t i = 0; i < 4; i++) {
		struct cg_store_case c = {.dedup_key = (char *)open_keys[i], .case_id = (char *)"id", .case_key = (char *)"K-1",
					  .state = i == 3 ? CG_CASE_CLOSED : CG_CASE_OPEN, .priority = 3, .generation = 1};
		CHECK_RC(cg_store_case_put(f->st, &c), 0);
	}
	int64_t rep = enq_p(f->st, "rep", 3, 0, T0), fresh3 = enq_p(f->st, "fresh3", 3, 0, T0);
	int64_t esc = enq_p(f->st, "esc", 2, 0, T0), fresh2 = enq_p(f->st, "fresh2", 2, 0, T0);
	int64_t shut = enq_p(f->st, "shut", 3, 0, T0), rep4 = enq_p(f->st, "rep4", 4, 0, T0);
	int64_t fresh4 = enq_p(f->st, "fresh4", 4, 0, T0);
	n = claim_ids(f->st, T0, 16, got, 16);
	check_ids(got, n, (int64_t[]){esc, fresh2, fresh3, shut, rep, fresh4, rep4}, 7,
		  "repeats of open cases half a level later, escalations and reopens not");
}

/* Queue depth by priority: [0] none, [1..5] P1..P5, in flight included; they add up to pending. */
static void t_stats_by_priority(void **state)
{
	struct fx *f = *state;
	struct cg_store_stats s;
	CHECK_RC(cg_store_stats(f->st, &s), 0);
	for (int p = 0; p < 6; p++)
		CHECK_I64(s.pending_by_priority[p], 0);
	enq_p(f->st, "a", 1, 0, T0);
	enq_p(f->st, "b", 1, 1, T0);
	enq_p(f->st, "c", 3, 0, T0);
	enq_p(f->st, "d", 0, 0, T0);
	enq_p(f->st, "e", 5, 0, T0);
	enq_p(f->st, "e", 5, 0, T0);
	enq_p(f->st, "f", 5, 0, T0);
	int64_t got[8];
	CHECK_I64(claim_ids(f->st, T0, 2, got, 8), 2);
	CHECK_RC(cg_store_stats(f->st, &s), 0);
	CHECK_I64(s.pending, 7);
	CHECK_I64(s.inflight, 2);
	const int64_t want[6] = {1, 2, 0, 1, 0, 3};
	for (int p = 0; p < 6; p++)
		if (s.pending_by_priority[p] != want[p])
			fail_msg("pending_by_priority[%d]: got %" PRId64 ", want %" PRId64, p, s.pending_by_priority[p],
				 want[p]);
}

static void t_strict_order_under_backoff(void **state)
{
	struct fx *f = *state;
	int64_t a1 = enq(f->st, "A", T0), a2 = enq(f->st, "A", T0), b1 = enq(f->st, "B", T0 + 50);
	int64_t got[8], next;
	size_t n = claim_ids(f->st, T0, 8, got, 8);
	check_ids(got, n, (int64_t[]){a1}, 1, "first");
	CHECK_RC(cg_store_event_retry(f->st, a1, T0 + 1000, "HTTP 503"), 0);
	/* a1 backs off: a2 (due now) must wait behind it. */
	n = claim_ids(f->st, T0 + 500, 8, got, 8);
	check_ids(got, n, (int64_t[]){b1}, 1, "newer event of a backed-off key is not claimed");
	/* The next wake-up is a1's, not a2's (T0): a2 is not claimable. */
	CHECK_RC(cg_store_next_due_ms(f->st, &next), 0);
	CHECK_I64(next, T0 + 1000);
	struct cg_store_event *v = NULL;
	CHECK_RC(cg_store_claim(f->st, T0 + 1000, 8, &v, &n), 0);
	CHECK_I64(n, 1);
	CHECK_I64(v[0].id, a1);
	CHECK_I64(v[0].attempts, 1);
	CHECK_I64(v[0].next_ms, T0 + 1000);
	CHECK_STR(v[0].last_error, "HTTP 503");
	cg_store_events_free(v, n);
	CHECK_RC(cg_store_event_retry(f->st, a1, T0 + 2000, NULL), 0);
	CHECK_RC(cg_store_claim(f->st, T0 + 2000, 8, &v, &n), 0);
	CHECK_I64(n, 1);
	CHECK_I64(v[0].attempts, 2);
	CHECK_STR(v[0].last_error, NULL);
	cg_store_events_free(v, n);
	CHECK_RC(cg_store_event_done(f->st, a1), 0);
	n = claim_ids(f->st, T0 + 2000, 8, got, 8);
	check_ids(got, n, (int64_t[]){a2}, 1, "a2 after a1 is done");
}

static void t_missing_ids(void **state)
{
	struct fx *f = *state;
	struct cg_dead_letter d;
	CHECK_RC(cg_store_event_done(f->st, 999), CG_ENOENT);
	CHECK_RC(cg_store_event_retry(f->st, 999, T0, "x"), CG_ENOENT);
	CHECK_RC(cg_store_event_step(f->st, 999, 1), CG_ENOENT);
	CHECK_RC(cg_store_event_dead(f->st, 999, 400, "x"), CG_ENOENT);
	CHECK_RC(cg_store_dead_get(f->st, 999, &d), CG_ENOENT);
	CHECK_RC(cg_store_dead_retry(f->st, 999, T0), CG_ENOENT);
	CHECK_RC(cg_store_dead_drop(f->st, 999), CG_ENOENT);
}

static void t_dead_letters(void **state)
{
	struct fx *f = *state;
	struct cg_store_event e = mk("A", T0);
	e.severity = (char *)"warning";
	e.received_ms = T0 - 7;
	CHECK_RC(cg_store_enqueue(f->st, &e, 1), 0);
	int64_t a1 = e.id, a2 = enq(f->st, "A", T0);
	int64_t got[8];
	size_t n = claim_ids(f->st, T0, 8, got, 8);
	check_ids(got, n, (int64_t[]){a1}, 1, "claim a1");
	CHECK_RC(cg_store_event_step(f->st, a1, 2), 0);
	CHECK_RC(cg_store_event_dead(f->st, a1, 422, "invalid project"), 0);
	/* The key moves on: a2 is now the head. */
	n = claim_ids(f->st, T0, 8, got, 8);
	check_ids(got, n, (int64_t[]){a2}, 1, "after dead(a1)");

	struct cg_dead_letter *dl = NULL;
	size_t nd = 0;
	CHECK_RC(cg_store_dead_list(f->st, 10, &dl, &nd), 0);
	CHECK_I64(nd, 1);
	CHECK_I64(dl[0].ev.id, a1);
	CHECK_STR(dl[0].ev.dedup_key, "A");
	CHECK_STR(dl[0].ev.severity, "warning");
	CHECK_I64(dl[0].ev.received_ms, T0 - 7);
	CHECK_I64(dl[0].ev.attempts, 1);
	CHECK_I64(dl[0].ev.step, 2);
	CHECK_I64(dl[0].http_status, 422);
	CHECK_STR(dl[0].reason, "invalid project");
	if (dl[0].failed_ms <= 0)
		fail_msg("failed_ms: got %" PRId64 ", want > 0", dl[0].failed_ms);
	int64_t did = dl[0].id;
	cg_dead_letters_free(dl, nd);

	struct cg_dead_letter d;
	CHECK_RC(cg_store_dead_get(f->st, did, &d), 0);
	CHECK_I64(d.id, did);
	CHECK_STR(d.reason, "invalid project");
	CHECK_STR(d.ev.payload, "{\"title\":\"t\"}");
	cg_dead_letter_cleanup(&d);

	struct cg_store_stats s;
	CHECK_RC(cg_store_stats(f->st, &s), 0);
	CHECK_I64(s.dead, 1);

	/* Requeue: back under its original id, but behind a2 (in flight: one at a time per key);
	 * attempts 0, due at the given time. */
	CHECK_RC(cg_store_dead_retry(f->st, did, T0 + 10), 0);
	CHECK_RC(cg_store_dead_get(f->st, did, &d), CG_ENOENT);
	n = claim_ids(f->st, T0 + 10, 8, got, 8);
	check_ids(got, n, NULL, 0, "requeued event waits behind in-flight a2");
	CHECK_RC(cg_store_event_done(f->st, a2), 0);
	struct cg_store_event *v = NULL;
	CHECK_RC(cg_store_claim(f->st, T0 + 9, 8, &v, &n), 0);
	CHECK_I64(n, 0);
	CHECK_RC(cg_store_claim(f->st, T0 + 10, 8, &v, &n), 0);
	CHECK_I64(n, 1);
	if (v[0].id != a1)
		fail_msg("requeued id: got %" PRId64 ", want the original id %" PRId64, v[0].id, a1);
	CHECK_I64(v[0].attempts, 0);
	CHECK_I64(v[0].next_ms, T0 + 10);
	/* The saved step is dropped: a retried letter decides again against the case as it is now. */
	CHECK_I64(v[0].step, 0);
	CHECK_I64(v[0].received_ms, T0 - 7);
	CHECK_STR(v[0].severity, "warning");
	int64_t re = v[0].id;
	cg_store_events_free(v, n);

	/* Dead again, then dropped. */
	CHECK_RC(cg_store_event_dead(f->st, re, 0, NULL), 0);
	CHECK_RC(cg_store_dead_list(f->st, 10, &dl, &nd), 0);
	CHECK_I64(nd, 1);
	CHECK_STR(dl[0].reason, NULL);
	did = dl[0].id;
	cg_dead_letters_free(dl, nd);
	CHECK_RC(cg_store_dead_drop(f->st, did), 0);
	CHECK_RC(cg_store_dead_drop(f->st, did), CG_ENOENT);
	CHECK_RC(cg_store_dead_list(f->st, 10, &dl, &nd), 0);
	CHECK_I64(nd, 0);
	cg_dead_letters_free(dl, nd);
	CHECK_RC(cg_store_stats(f->st, &s), 0);
	CHECK_I64(s.dead, 0);
	CHECK_I64(s.pending, 0);
}

/* A retried dead letter goes back before the newer events of its key that have not started,
 * and behind one already in flight. */
static void t_dead_retry_order(void **state)
{
	struct fx *f = *state;
	int64_t got[8];
	int64_t a1 = enq(f->st, "A", T0), a2 = enq(f->st, "A", T0), a3 = enq(f->st, "A", T0);
	int64_t b1 = enq(f->st, "B", T0), b2 = enq(f->st, "B", T0);
	size_t n = claim_ids(f->st, T0, 8, got, 8);
	check_ids(got, n, (int64_t[]){a1, b1}, 2, "first claim");
	CHECK_RC(cg_store_event_dead(f->st, a1, 400, "bad"), 0);
	CHECK_RC(cg_store_event_dead(f->st, b1, 400, "bad"), 0);
	struct cg_dead_letter *dl = NULL;
	size_t nd = 0;
	CHECK_RC(cg_store_dead_list(f->st, 10, &dl, &nd), 0);
	CHECK_I64(nd, 2);
	int64_t da = dl[0].id, db = dl[1].id;
	cg_dead_letters_free(dl, nd);

	/* Key A idle (a2, a3 pending): a1 comes back first. */
	CHECK_RC(cg_store_dead_retry(f->st, da, T0), 0);
	/* Key B busy (b2 in flight): b1 waits until b2 is finished, then goes before nothing newer. */
	n = claim_ids(f->st, T0, 1, got, 8);
	n += claim_ids(f->st, T0, 8, got + n, 8 - n);
	check_ids(got, n, (int64_t[]){a1, b2}, 2, "after retrying a1");
	CHECK_RC(cg_store_dead_retry(f->st, db, T0), 0);
	n = claim_ids(f->st, T0, 8, got, 8);
	check_ids(got, n, NULL, 0, "a1 and b2 in flight, b1 behind b2");
	CHECK_RC(cg_store_event_done(f->st, a1), 0);
	/* b2 fails and goes back to pending: the idle key's lowest id (b1) leads again. */
	CHECK_RC(cg_store_event_retry(f->st, b2, T0, "503"), 0);
	n = claim_ids(f->st, T0, 8, got, 8);
	check_ids(got, n, (int64_t[]){a2, b1}, 2, "a2 after a1; b1 before b2");
	CHECK_RC(cg_store_event_done(f->st, a2), 0);
	CHECK_RC(cg_store_event_done(f->st, b1), 0);
	n = claim_ids(f->st, T0, 8, got, 8);
	check_ids(got, n, (int64_t[]){a3, b2}, 2, "then a3 and b2");
	/* Reopening (repairs the head flags) keeps the same order. */
	reopen(f);
	n = claim_ids(f->st, T0, 8, got, 8);
	check_ids(got, n, (int64_t[]){a3, b2}, 2, "after reopen");
}

static void t_dead_list_limit(void **state)
{
	struct fx *f = *state;
	for (int i = 0; i < 5; i++) {
		char key[16];
		snprintf(key, sizeof(key), "k%d", i);
		int64_t id = enq(f->st, key, T0);
		CHECK_RC(cg_store_event_dead(f->st, id, 400, "bad"), 0);
	}
	struct cg_dead_letter *dl = NULL;
	size_t nd = 0;
	CHECK_RC(cg_store_dead_list(f->st, 3, &dl, &nd), 0);
	CHECK_I64(nd, 3);
	CHECK_STR(dl[0].ev.dedup_key, "k0");
	CHECK_STR(dl[2].ev.dedup_key, "k2");
	cg_dead_letters_free(dl, nd);
}

static void t_step_persists(void **state)
{
	struct fx *f = *state;
	int64_t a = enq(f->st, "A", T0);
	int64_t got[4];
	size_t n = claim_ids(f->st, T0, 4, got, 4);
	check_ids(got, n, (int64_t[]){a}, 1, "claim");
	CHECK_RC(cg_store_event_step(f->st, a, 3), 0);
	CHECK_RC(cg_store_event_retry(f->st, a, T0 + 5, "timeout"), 0);
	reopen(f);
	struct cg_store_event *v = NULL;
	CHECK_RC(cg_store_claim(f->st, T0 + 5, 4, &v, &n), 0);
	CHECK_I64(n, 1);
	CHECK_I64(v[0].step, 3);
	CHECK_I64(v[0].attempts, 1);
	CHECK_STR(v[0].last_error, "timeout");
	cg_store_events_free(v, n);
}

static void t_cases(void **state)
{
	struct fx *f = *state;
	struct cg_store_case c = {0}, got;
	CHECK_RC(cg_store_case_get(f->st, "am:x", &got), CG_ENOENT);
	CHECK_RC(cg_store_case_find_by_key(f->st, "PROJ-1", &got), CG_ENOENT);

	/* Only the key set: every string NULL, every number 0. */
	c.dedup_key = (char *)"am:x";
	c.state = CG_CASE_CREATING;
	c.marker = (char *)"m-1";
	CHECK_RC(cg_store_case_put(f->st, &c), 0);
	CHECK_RC(cg_store_case_get(f->st, "am:x", &got), 0);
	CHECK_STR(got.dedup_key, "am:x");
	CHECK_STR(got.case_id, NULL);
	CHECK_STR(got.case_key, NULL);
	CHECK_STR(got.prev_case_key, NULL);
	CHECK_STR(got.last_summary, NULL);
	CHECK_STR(got.marker, "m-1");
	CHECK_I64(got.state, CG_CASE_CREATING);
	CHECK_I64(got.fires, 0);
	cg_store_case_cleanup(&got);

	/* Replace with every field set. */
	c.case_id = (char *)"3f2a-uuid";
	c.case_key = (char *)"PROJ-7";
	c.state = CG_CASE_OPEN;
	c.priority = 2;
	c.generation = 3;
	c.prev_case_key = (char *)"PROJ-5";
	c.created_ms = T0 + 1;
	c.closed_ms = T0 + 2;
	c.last_fire_ms = T0 + 3;
	c.last_comment_ms = T0 + 4;
	c.fires = 1LL << 40;
	c.pending_repeats = 17;
	c.first_pending_ms = T0 + 5;
	c.last_summary = (char *)"CPU 97% on web-1";
	c.prev_case_id = (char *)"11111111-2222-4333-8444-555555555555";
	c.action_flags = CG_CASE_JIRA | CG_CASE_NOTEBOOK;
	c.sent_ms = T0 + 6;
	c.confirmed_ms = T0 + 7;
	CHECK_RC(cg_store_case_put(f->st, &c), 0);
	struct cg_store_case other = {.dedup_key = (char *)"am:y", .case_key = (char *)"PROJ-8", .state = CG_CASE_CLOSED};
	CHECK_RC(cg_store_case_put(f->st, &other), 0);

	CHECK_RC(cg_store_case_find_by_key(f->st, "PROJ-7", &got), 0);
	CHECK_STR(got.dedup_key, "am:x");
	CHECK_STR(got.case_id, "3f2a-uuid");
	CHECK_STR(got.case_key, "PROJ-7");
	CHECK_I64(got.state, CG_CASE_OPEN);
	CHECK_I64(got.priority, 2);
	CHECK_I64(got.generation, 3);
	CHECK_STR(got.marker, "m-1");
	CHECK_STR(got.prev_case_key, "PROJ-5");
	CHECK_I64(got.created_ms, T0 + 1);
	CHECK_I64(got.closed_ms, T0 + 2);
	CHECK_I64(got.last_fire_ms, T0 + 3);
	CHECK_I64(got.last_comment_ms, T0 + 4);
	CHECK_I64(got.fires, 1LL << 40);
	CHECK_I64(got.pending_repeats, 17);
	CHECK_I64(got.first_pending_ms, T0 + 5);
	CHECK_STR(got.last_summary, "CPU 97% on web-1");
	CHECK_STR(got.prev_case_id, "11111111-2222-4333-8444-555555555555");
	CHECK_I64(got.action_flags, CG_CASE_JIRA | CG_CASE_NOTEBOOK);
	CHECK_I64(got.sent_ms, T0 + 6);
	CHECK_I64(got.confirmed_ms, T0 + 7);
	cg_store_case_cleanup(&got);
	CHECK_RC(cg_store_case_find_by_key(f->st, "PROJ-5", &got), CG_ENOENT);
	/* Datadog's case events name the case by id as well as by key. */
	CHECK_RC(cg_store_case_find_by_key(f->st, "3f2a-uuid", &got), 0);
	CHECK_STR(got.dedup_key, "am:x");
	cg_store_case_cleanup(&got);

	/* Setting a field back to NULL sticks. */
	c.case_key = NULL;
	CHECK_RC(cg_store_case_put(f->st, &c), 0);
	CHECK_RC(cg_store_case_find_by_key(f->st, "PROJ-7", &got), CG_ENOENT);
	CHECK_RC(cg_store_case_get(f->st, "am:x", &got), 0);
	CHECK_STR(got.case_key, NULL);
	CHECK_STR(got.case_id, "3f2a-uuid");
	cg_store_case_cleanup(&got);

	struct cg_store_stats s;
	CHECK_RC(cg_store_stats(f->st, &s), 0);
	CHECK_I64(s.cases, 2);
	struct cg_store_case nokey = {0};
	CHECK_RC(cg_store_case_put(f->st, &nokey), CG_EINVAL);
}

/* A deferred event waits again without counting an attempt, keeps its step and its key's order. */
static void t_event_defer(void **state)
{
	struct fx *f = *state;
	struct cg_store_event ev[2] = {
		{.source = (char *)"am", .dedup_key = (char *)"am:k", .status = 1, .priority = 2, .received_ms = T0,
		 .next_ms = T0},
		{.source = (char *)"am", .dedup_key = (char *)"am:k", .status = 2, .priority = 2, .received_ms = T0,
		 .next_ms = T0},
	};
	CHECK_RC(cg_store_enqueue(f->st, ev, 2), 0);
	struct cg_store_event *got = NULL;
	size_t n = 0;
	CHECK_RC(cg_store_claim(f->st, T0, 10, &got, &n), 0);
	CHECK_I64(n, 1);
	CHECK_I64(got[0].id, ev[0].id);
	CHECK_RC(cg_store_event_step(f->st, got[0].id, 0x105), 0);
	CHECK_RC(cg_store_event_defer(f->st, got[0].id, T0 + 5000, "search index settling"), 0);
	cg_store_events_free(got, n);
	/* Not due yet, and the later event of the key waits behind it. */
	CHECK_RC(cg_store_claim(f->st, T0 + 4999, 10, &got, &n), 0);
	CHECK_I64(n, 0);
	cg_store_events_free(got, n);
	CHECK_RC(cg_store_claim(f->st, T0 + 5000, 10, &got, &n), 0);
	CHECK_I64(n, 1);
	CHECK_I64(got[0].id, ev[0].id);
	CHECK_I64(got[0].attempts, 0);
	CHECK_I64(got[0].step, 0x105);
	CHECK_STR(got[0].last_error, "search index settling");
	cg_store_events_free(got, n);
	CHECK_RC(cg_store_event_defer(f->st, 999999, T0, "x"), CG_ENOENT);
}

/* Notes for `casegate status`: put, replace, remove, listed in name order. */
static void t_notes(void **state)
{
	struct fx *f = *state;
	struct cg_store_note *v = NULL;
	size_t n = 7;
	CHECK_RC(cg_store_note_list(f->st, &v, &n), 0);
	CHECK_I64(n, 0);
	CHECK_RC(cg_store_note_put(f->st, "datadog", "open: credentials rejected (HTTP 403)"), 0);
	CHECK_RC(cg_store_note_put(f->st, "storm:am", "active"), 0);
	CHECK_RC(cg_store_note_put(f->st, "datadog", "ok"), 0);
	CHECK_RC(cg_store_note_list(f->st, &v, &n), 0);
	CHECK_I64(n, 2);
	CHECK_STR(v[0].name, "datadog");
	CHECK_STR(v[0].value, "ok");
	CHECK_STR(v[1].name, "storm:am");
	if (v[0].updated_ms <= 0)
		fail_msg("note updated_ms: got %" PRId64 ", want > 0", v[0].updated_ms);
	cg_store_notes_free(v, n);
	CHECK_RC(cg_store_note_put(f->st, "storm:am", NULL), 0);
	CHECK_RC(cg_store_note_list(f->st, &v, &n), 0);
	CHECK_I64(n, 1);
	CHECK_STR(v[0].name, "datadog");
	cg_store_notes_free(v, n);
}

/* One source's heartbeat row as list() gives it (fails when absent). */
static struct cg_store_heartbeat hb_get(struct cg_store *st, const char *source)
{
	struct cg_store_heartbeat *v = NULL, out = {0};
	size_t n = 0;
	CHECK_RC(cg_store_hb_list(st, &v, &n), 0);
	size_t i = 0;
	while (i < n && strcmp(v[i].source, source) != 0)
		i++;
	if (i == n)
		fail_msg("heartbeat %s: not listed (%zu rows)", source, n);
	out = v[i];
	out.source = NULL;
	cg_store_heartbeats_free(v, n);
	return out;
}

static int hb_raise(struct cg_store *st, const char *source, int64_t before, int64_t now)
{
	int won = -1;
	CHECK_RC(cg_store_hb_raise(st, source, before, now, &won), 0);
	return won;
}

static int hb_clear(struct cg_store *st, const char *source)
{
	int won = -1;
	CHECK_RC(cg_store_hb_clear(st, source, &won), 0);
	return won;
}

/* Heartbeats: the clock of a never-heard source survives re-registration and reopen; raise and
 * clear each happen once per silence; heard keeps the latest time. */
static void t_heartbeats(void **state)
{
	struct fx *f = *state;
	CHECK_RC(cg_store_hb_register(f->st, "am", T0), 0);
	CHECK_RC(cg_store_hb_register(f->st, "am", T0 + 5000), 0); /* a restart: the clock stays */
	CHECK_RC(cg_store_hb_heard(f->st, "unregistered", T0), 0);
	struct cg_store_heartbeat h = hb_get(f->st, "am");
	CHECK_I64(h.started_ms, T0);
	CHECK_I64(h.heard_ms, 0);
	CHECK_I64(h.raised, 0);
	struct cg_store_heartbeat *v = NULL;
	size_t n = 0;
	CHECK_RC(cg_store_hb_list(f->st, &v, &n), 0);
	CHECK_I64(n, 1); /* traffic of a source without a heartbeat lists nothing */
	cg_store_heartbeats_free(v, n);
	/* Silent since T0: not yet at the deadline T0, raised past it, once. */
	CHECK_I64(hb_raise(f->st, "am", T0, T0 + 2000), 0);
	CHECK_I64(hb_raise(f->st, "am", T0 + 1, T0 + 2000), 1);
	CHECK_I64(hb_raise(f->st, "am", T0 + 1, T0 + 2001), 0);
	CHECK_I64(hb_raise(f->st, "other", T0 + 1, T0 + 2001), 0);
	h = hb_get(f->st, "am");
	CHECK_I64(h.raised, 1);
	CHECK_I64(h.raised_ms, T0 + 2000);
	/* Nothing heard, or heard only before the raise: still silent. */
	CHECK_I64(hb_clear(f->st, "am"), 0);
	CHECK_RC(cg_store_hb_heard(f->st, "am", T0 + 1500), 0);
	CHECK_I64(hb_clear(f->st, "am"), 0);
	/* A restart while silent keeps it raised. */
	reopen(f);
	h = hb_get(f->st, "am");
	CHECK_I64(h.raised, 1);
	CHECK_I64(h.heard_ms, T0 + 1500);
	CHECK_RC(cg_store_hb_heard(f->st, "am", T0 + 3000), 0);
	CHECK_RC(cg_store_hb_heard(f->st, "am", T0 + 2500), 0); /* an older time never goes back */
	CHECK_I64(hb_get(f->st, "am").heard_ms, T0 + 3000);
	CHECK_I64(hb_clear(f->st, "am"), 1);
	CHECK_I64(hb_clear(f->st, "am"), 0);
	CHECK_I64(hb_get(f->st, "am").raised, 0);
	/* The next silence counts from the traffic. */
	CHECK_I64(hb_raise(f->st, "am", T0 + 3000, T0 + 9000), 0);
	CHECK_I64(hb_raise(f->st, "am", T0 + 3001, T0 + 9000), 1);
	/* A raise rolled back leaves the source unraised. */
	CHECK_RC(cg_store_hb_register(f->st, "grafana", T0), 0);
	CHECK_RC(cg_store_begin(f->st), 0);
	CHECK_I64(hb_raise(f->st, "grafana", T0 + 1, T0 + 10), 1);
	CHECK_RC(cg_store_rollback(f->st), 0);
	CHECK_I64(hb_get(f->st, "grafana").raised, 0);
}

/* Small documents (storm folding) and key activity. */
static void t_kv(void **state)
{
	struct fx *f = *state;
	struct cg_store_kv kv = {0};
	CHECK_RC(cg_store_kv_lock(f->st), 0);
	CHECK_RC(cg_store_kv_get(f->st, "s:am:#storm-1", &kv), CG_ENOENT);
	CHECK_RC(cg_store_kv_put(f->st, "s:am:#storm-1", "{\"open\":3}", T0 + 5000), 0);
	CHECK_RC(cg_store_kv_put(f->st, "s:am:#storm-2", "{\"open\":1}", 0), 0);
	CHECK_RC(cg_store_kv_put(f->st, "s:", "{}", T0), 0);        /* the prefix itself is a key too */
	CHECK_RC(cg_store_kv_put(f->st, "m:am:disk", "{\"storm\":1}", 0), 0);
	CHECK_RC(cg_store_kv_put(f->st, "t:after", "{}", T0), 0);     /* "s" + 1: outside the prefix */
	CHECK_RC(cg_store_kv_put(f->st, "s:am:#storm-2", "{\"open\":0}", 0), 0); /* replaced */
	CHECK_RC(cg_store_kv_get(f->st, "s:am:#storm-1", &kv), 0);
	if (strcmp(kv.k, "s:am:#storm-1") || strcmp(kv.v, "{\"open\":3}") || kv.due_ms != T0 + 5000)
		fail_msg("kv get: got %s = %s due %" PRId64, kv.k, kv.v, kv.due_ms);
	cg_store_kv_cleanup(&kv);
	struct cg_store_kv *v = NULL;
	size_t n = 0;
	CHECK_RC(cg_store_kv_list(f->st, "s:", 0, &v, &n), 0);
	if (n != 3 || strcmp(v[0].k, "s:") || strcmp(v[1].k, "s:am:#storm-1") || strcmp(v[2].k, "s:am:#storm-2") ||
	    strcmp(v[2].v, "{\"open\":0}"))
		fail_msg("kv list s: got %zu documents (first %s), want s:, s:am:#storm-1, s:am:#storm-2 (replaced)", n,
			 n ? v[0].k : "-");
	cg_store_kvs_free(v, n);
	/* Only the due ones: due 0 never is, a later time not yet. */
	CHECK_RC(cg_store_kv_list(f->st, "s:", T0 + 4999, &v, &n), 0);
	if (n != 1 || strcmp(v[0].k, "s:"))
		fail_msg("kv list due by T0+4999: got %zu documents, want only s:", n);
	cg_store_kvs_free(v, n);
	CHECK_RC(cg_store_kv_list(f->st, "s:", T0 + 5000, &v, &n), 0);
	CHECK_I64(n, 2);
	cg_store_kvs_free(v, n);
	CHECK_RC(cg_store_kv_list(f->st, "", 0, &v, &n), CG_EINVAL);
	/* Removed; a rolled-back put leaves nothing. */
	CHECK_RC(cg_store_kv_put(f->st, "s:am:#storm-1", NULL, 0), 0);
	CHECK_RC(cg_store_kv_get(f->st, "s:am:#storm-1", &kv), CG_ENOENT);
	CHECK_RC(cg_store_begin(f->st), 0);
	CHECK_RC(cg_store_kv_lock(f->st), 0);
	CHECK_RC(cg_store_kv_put(f->st, "w:am", "{}", 0), 0);
	CHECK_RC(cg_store_rollback(f->st), 0);
	CHECK_RC(cg_store_kv_get(f->st, "w:am", &kv), CG_ENOENT);
	/* They outlive a restart. */
	reopen(f);
	CHECK_RC(cg_store_kv_get(f->st, "m:am:disk", &kv), 0);
	cg_store_kv_cleanup(&kv);
	/* A key is active while an event of it waits, or its case is open or being created. */
	int active = -1;
	CHECK_RC(cg_store_key_active(f->st, "k1", &active), 0);
	CHECK_I64(active, 0);
	int64_t id = enq(f->st, "k1", T0);
	CHECK_RC(cg_store_key_active(f->st, "k1", &active), 0);
	CHECK_I64(active, 1);
	CHECK_RC(cg_store_event_done(f->st, id), 0);
	CHECK_RC(cg_store_key_active(f->st, "k1", &active), 0);
	CHECK_I64(active, 0);
	const int states[] = {CG_CASE_CREATING, CG_CASE_OPEN, CG_CASE_CLOSED};
	for (size_t i = 0; i < 3; i++) {
		struct cg_store_case c = {.dedup_key = (char *)"k1", .state = states[i], .generation = 1};
		CHECK_RC(cg_store_case_put(f->st, &c), 0);
		CHECK_RC(cg_store_key_active(f->st, "k1", &active), 0);
		CHECK_I64(active, states[i] != CG_CASE_CLOSED);
	}
}

/* Closed cases for the archive sweep: by key prefix, age and flags, oldest first. */
static void t_case_list_closed(void **state)
{
	struct fx *f = *state;
	struct cg_store_case *v = NULL;
	size_t n = 99;
	if (!f->st->ops->case_list_closed)
		cg_h_skip("none", "backend %s has no case_list_closed", B->name);
	struct cg_store_case cs[] = {
		{.dedup_key = (char *)"am:old", .case_id = (char *)"id-old", .state = CG_CASE_CLOSED, .closed_ms = T0 - 50},
		{.dedup_key = (char *)"am:older", .case_id = (char *)"id-older", .state = CG_CASE_CLOSED,
		 .closed_ms = T0 - 90},
		{.dedup_key = (char *)"am:new", .case_id = (char *)"id-new", .state = CG_CASE_CLOSED, .closed_ms = T0 + 5},
		{.dedup_key = (char *)"am:open", .case_id = (char *)"id-open", .state = CG_CASE_OPEN, .closed_ms = 0},
		{.dedup_key = (char *)"am:queued", .case_id = (char *)"id-q", .state = CG_CASE_CLOSED, .closed_ms = T0 - 70,
		 .action_flags = CG_CASE_ARCHIVE_QUEUED},
		{.dedup_key = (char *)"amx:other", .case_id = (char *)"id-x", .state = CG_CASE_CLOSED, .closed_ms = T0 - 80},
		{.dedup_key = (char *)"am:noid", .state = CG_CASE_CLOSED, .closed_ms = T0 - 60},
	};
	for (size_t i = 0; i < sizeof(cs) / sizeof(cs[0]); i++)
		CHECK_RC(cg_store_case_put(f->st, &cs[i]), 0);
	CHECK_RC(cg_store_case_list_closed(f->st, "am:", T0, CG_CASE_ARCHIVE_QUEUED | CG_CASE_ARCHIVED, 10, &v, &n), 0);
	CHECK_I64((int64_t)n, 2);
	if (n == 2) {
		CHECK_STR(v[0].dedup_key, "am:older");
		CHECK_STR(v[1].dedup_key, "am:old");
		CHECK_STR(v[1].case_id, "id-old");
	}
	cg_store_cases_free(v, n);
	CHECK_RC(cg_store_case_list_closed(f->st, "am:", T0, 0, 1, &v, &n), 0);
	CHECK_I64((int64_t)n, 1);
	cg_store_cases_free(v, n);
	CHECK_RC(cg_store_case_list_closed(f->st, "zz:", T0, 0, 10, &v, &n), 0);
	CHECK_I64((int64_t)n, 0);
	cg_store_cases_free(v, n);

	/* The archive sweep's mark: only the listed case, only while still closed; the rest of the
	 * row is left as it is (nothing written back from the listing). */
	if (!f->st->ops->case_mark_closed)
		return;
	int marked = -1;
	CHECK_RC(cg_store_case_mark_closed(f->st, "am:old", "id-old", CG_CASE_ARCHIVE_QUEUED, &marked), 0);
	CHECK_I64(marked, 1);
	CHECK_RC(cg_store_case_mark_closed(f->st, "am:open", "id-open", CG_CASE_ARCHIVE_QUEUED, &marked), 0);
	CHECK_I64(marked, 0); /* reopened meanwhile */
	CHECK_RC(cg_store_case_mark_closed(f->st, "am:older", "id-other", CG_CASE_ARCHIVE_QUEUED, &marked), 0);
	CHECK_I64(marked, 0); /* replaced by a newer case */
	CHECK_RC(cg_store_case_mark_closed(f->st, "am:gone", "id-gone", CG_CASE_ARCHIVE_QUEUED, &marked), 0);
	CHECK_I64(marked, 0);
	struct cg_store_case got;
	CHECK_RC(cg_store_case_get(f->st, "am:old", &got), 0);
	CHECK_I64(got.action_flags, CG_CASE_ARCHIVE_QUEUED);
	CHECK_I64(got.state, CG_CASE_CLOSED);
	CHECK_I64(got.closed_ms, T0 - 50);
	cg_store_case_cleanup(&got);
	CHECK_RC(cg_store_case_get(f->st, "am:open", &got), 0);
	CHECK_I64(got.action_flags, 0);
	CHECK_I64(got.state, CG_CASE_OPEN);
	cg_store_case_cleanup(&got);
	/* Now listed as queued: the next sweep skips it. */
	CHECK_RC(cg_store_case_list_closed(f->st, "am:", T0, CG_CASE_ARCHIVE_QUEUED | CG_CASE_ARCHIVED, 10, &v, &n), 0);
	CHECK_I64((int64_t)n, 1);
	cg_store_cases_free(v, n);
}

static void t_seen(void **state)
{
	struct fx *f = *state;
	int was = -1;
	CHECK_RC(cg_store_seen(f->st, "sns", "msg-1", T0, &was), 0);
	CHECK_I64(was, 0);
	CHECK_RC(cg_store_seen(f->st, "sns", "msg-1", T0 + 1000, &was), 0);
	CHECK_I64(was, 1);
	CHECK_RC(cg_store_seen(f->st, "other", "msg-1", T0 + 1000, &was), 0);
	CHECK_I64(was, 0);
	CHECK_RC(cg_store_seen(f->st, "sns", "msg-2", T0 + 2000, &was), 0);
	CHECK_I64(was, 0);
	/* Still remembered after 6 days, forgotten after more than 7. */
	CHECK_RC(cg_store_seen(f->st, "sns", "msg-1", T0 + 6 * DAY_MS, &was), 0);
	CHECK_I64(was, 1);
	CHECK_RC(cg_store_seen(f->st, "sns", "msg-1", T0 + 8 * DAY_MS, &was), 0);
	CHECK_I64(was, 0);
	/* Survives a restart. */
	reopen(f);
	CHECK_RC(cg_store_seen(f->st, "sns", "msg-1", T0 + 8 * DAY_MS + 1, &was), 0);
	CHECK_I64(was, 1);
}

/* Ids remembered against replays (CG_SEEN_REPLAY_PREFIX) live two days, not seven. */
static void t_seen_replay(void **state)
{
	struct fx *f = *state;
	const int64_t H = 3600 * 1000;
	int was = -1;
	CHECK_RC(cg_store_seen(f->st, CG_SEEN_REPLAY_PREFIX "src", "sig:ab", T0, &was), 0);
	CHECK_I64(was, 0);
	CHECK_RC(cg_store_seen(f->st, "sns", "m-1", T0, &was), 0);
	CHECK_I64(was, 0);
	/* Inside any replay window (at most a day either side of the timestamp): still a repeat. */
	CHECK_RC(cg_store_seen(f->st, CG_SEEN_REPLAY_PREFIX "src", "sig:ab", T0 + 48 * H, &was), 0);
	CHECK_I64(was, 1);
	/* Past it: forgotten; other namespaces keep their week. */
	CHECK_RC(cg_store_seen(f->st, CG_SEEN_REPLAY_PREFIX "src", "sig:ab", T0 + 50 * H, &was), 0);
	CHECK_I64(was, 0);
	CHECK_RC(cg_store_seen(f->st, "sns", "m-1", T0 + 50 * H, &was), 0);
	CHECK_I64(was, 1);
}

static void t_crash_reopen(void **state)
{
	struct fx *f = *state;
	int64_t a1 = enq(f->st, "A", T0), b1 = enq(f->st, "B", T0), a2 = enq(f->st, "A", T0);
	struct cg_store_case c = {.dedup_key = (char *)"A", .case_key = (char *)"P-1", .state = CG_CASE_OPEN};
	CHECK_RC(cg_store_case_put(f->st, &c), 0);
	int64_t got[8];
	size_t n = claim_ids(f->st, T0, 8, got, 8);
	check_ids(got, n, (int64_t[]){a1, b1}, 2, "claim before crash");
	/* An uncommitted transaction is lost with the process. */
	CHECK_RC(cg_store_begin(f->st), 0);
	CHECK_RC(cg_store_event_done(f->st, a1), 0);
	enq(f->st, "C", T0);
	reopen(f); /* "crash": nothing finished */
	struct cg_store_stats s;
	CHECK_RC(cg_store_stats(f->st, &s), 0);
	CHECK_I64(s.pending, 3);
	CHECK_I64(s.inflight, 0);
	CHECK_I64(s.cases, 1);
	n = claim_ids(f->st, T0, 8, got, 8);
	check_ids(got, n, (int64_t[]){a1, b1}, 2, "claim after reopen gets the same events");
	CHECK_RC(cg_store_event_done(f->st, a1), 0);
	n = claim_ids(f->st, T0, 8, got, 8);
	check_ids(got, n, (int64_t[]){a2}, 1, "then a2");
	struct cg_store_case gc;
	CHECK_RC(cg_store_case_get(f->st, "A", &gc), 0);
	CHECK_STR(gc.case_key, "P-1");
	cg_store_case_cleanup(&gc);
}

static void t_transactions(void **state)
{
	struct fx *f = *state;
	struct cg_store_stats s;
	CHECK_RC(cg_store_begin(f->st), 0);
	enq(f->st, "A", T0);
	enq(f->st, "A", T0);
	CHECK_RC(cg_store_rollback(f->st), 0);
	CHECK_RC(cg_store_stats(f->st, &s), 0);
	CHECK_I64(s.pending, 0);

	CHECK_RC(cg_store_begin(f->st), 0);
	int64_t a = enq(f->st, "A", T0);
	int64_t got[4];
	size_t n = claim_ids(f->st, T0, 4, got, 4);
	check_ids(got, n, (int64_t[]){a}, 1, "claim inside a transaction sees its own insert");
	CHECK_RC(cg_store_event_done(f->st, a), 0);
	int64_t b = enq(f->st, "B", T0);
	/* A failing operation inside the transaction leaves the earlier ones intact. */
	CHECK_RC(cg_store_event_done(f->st, 12345), CG_ENOENT);
	CHECK_RC(cg_store_commit(f->st), 0);
	n = claim_ids(f->st, T0, 4, got, 4);
	check_ids(got, n, (int64_t[]){b}, 1, "after commit");
}

static void t_stats(void **state)
{
	struct fx *f = *state;
	struct cg_store_stats s;
	CHECK_RC(cg_store_stats(f->st, &s), 0);
	CHECK_I64(s.pending, 0);
	CHECK_I64(s.inflight, 0);
	CHECK_I64(s.dead, 0);
	CHECK_I64(s.oldest_ms, 0);
	CHECK_I64(s.cases, 0);
	if (s.bytes == 0)
		fail_msg("bytes: got 0, want > 0");
	struct cg_store_event e1 = mk("A", T0), e2 = mk("B", T0), e3 = mk("A", T0);
	e1.received_ms = T0 - 100;
	e2.received_ms = T0 - 300; /* not always id order: clocks differ between producers */
	e3.received_ms = T0 - 50;
	struct cg_store_event evs[3] = {e1, e2, e3};
	CHECK_RC(cg_store_enqueue(f->st, evs, 3), 0);
	int64_t got[4];
	size_t n = claim_ids(f->st, T0, 1, got, 4);
	CHECK_I64(n, 1);
	int64_t d = enq(f->st, "D", T0);
	CHECK_RC(cg_store_event_dead(f->st, d, 400, "x"), 0);
	CHECK_RC(cg_store_stats(f->st, &s), 0);
	CHECK_I64(s.pending, 3);
	CHECK_I64(s.inflight, 1);
	CHECK_I64(s.dead, 1);
	CHECK_I64(s.oldest_ms, T0 - 300);
}

static const struct cg_store_source_stat *find_src(const struct cg_store_source_stat *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].source && strcmp(v[i].source, name) == 0)
			return &v[i];
	fail_msg("source_stats: no row for source %s (got %zu rows)", name, n);
	return NULL;
}

/* Per-source queue, dead letters and latest delivery (with its case key), for `casegate status`. */
static void t_source_stats(void **state)
{
	struct fx *f = *state;
	if (!f->st->ops->source_stats)
		cg_h_skip("none", "backend %s keeps no per-source delivery stats (optional op)", B->name);
	struct cg_store_source_stat *v = NULL;
	size_t n = 99;
	CHECK_RC(cg_store_source_stats(f->st, &v, &n), 0);
	CHECK_I64(n, 0);
	cg_store_source_stats_free(v, n);

	struct cg_store_event a1 = mk("am:one", T0), a2 = mk("am:two", T0), g1 = mk("graf:x", T0);
	a1.source = a2.source = (char *)"am";
	g1.source = (char *)"graf";
	a1.received_ms = T0 - 500;
	a2.received_ms = T0 - 100;
	g1.received_ms = T0 - 50;
	struct cg_store_event evs[3] = {a1, a2, g1};
	CHECK_RC(cg_store_enqueue(f->st, evs, 3), 0);
	struct cg_store_case c = {.dedup_key = (char *)"am:one", .case_id = (char *)"uuid-1",
				  .case_key = (char *)"PROJ-7", .state = CG_CASE_OPEN, .generation = 1};
	CHECK_RC(cg_store_case_put(f->st, &c), 0);
	int64_t before = cg_store_suite_now_ms();
	CHECK_RC(cg_store_event_done(f->st, evs[0].id), 0);
	CHECK_RC(cg_store_event_dead(f->st, evs[2].id, 400, "bad"), 0);

	CHECK_RC(cg_store_source_stats(f->st, &v, &n), 0);
	CHECK_I64(n, 2);
	const struct cg_store_source_stat *am = find_src(v, n, "am"), *gr = find_src(v, n, "graf");
	CHECK_I64(am->pending, 1);
	CHECK_I64(am->oldest_ms, T0 - 100);
	CHECK_I64(am->dead, 0);
	CHECK_I64(am->delivered, 1);
	if (am->last_delivered_ms < before || am->last_delivered_ms > cg_store_suite_now_ms() + 1000)
		fail_msg("last_delivered_ms: got %" PRId64 ", want about %" PRId64, am->last_delivered_ms, before);
	CHECK_STR(am->last_dedup_key, "am:one");
	CHECK_STR(am->last_case_key, "PROJ-7");
	CHECK_I64(gr->pending, 0);
	CHECK_I64(gr->oldest_ms, 0);
	CHECK_I64(gr->dead, 1);
	CHECK_I64(gr->delivered, 0);
	CHECK_I64(gr->last_delivered_ms, 0);
	CHECK_STR(gr->last_dedup_key, NULL);
	cg_store_source_stats_free(v, n);

	/* A rolled-back done is not a delivery; a later done of the same source counts, and replaces
	 * the latest key only when that key has a case (an ignored resolution has none: LAST CASE
	 * stays the source's last case). */
	CHECK_RC(cg_store_begin(f->st), 0);
	CHECK_RC(cg_store_event_done(f->st, evs[1].id), 0);
	CHECK_RC(cg_store_rollback(f->st), 0);
	CHECK_RC(cg_store_source_stats(f->st, &v, &n), 0);
	CHECK_I64(find_src(v, n, "am")->delivered, 1);
	cg_store_source_stats_free(v, n);
	reopen(f);
	CHECK_RC(cg_store_event_done(f->st, evs[1].id), 0);
	CHECK_RC(cg_store_source_stats(f->st, &v, &n), 0);
	am = find_src(v, n, "am");
	CHECK_I64(am->delivered, 2);
	CHECK_I64(am->pending, 0);
	CHECK_STR(am->last_dedup_key, "am:one");
	CHECK_STR(am->last_case_key, "PROJ-7");
	cg_store_source_stats_free(v, n);

	struct cg_store_event a3 = mk("am:three", T0);
	a3.source = (char *)"am";
	CHECK_RC(cg_store_enqueue(f->st, &a3, 1), 0);
	struct cg_store_case c3 = {.dedup_key = (char *)"am:three", .case_id = (char *)"uuid-3",
				   .case_key = (char *)"PROJ-9", .state = CG_CASE_OPEN, .generation = 1};
	CHECK_RC(cg_store_case_put(f->st, &c3), 0);
	CHECK_RC(cg_store_event_done(f->st, a3.id), 0);
	CHECK_RC(cg_store_source_stats(f->st, &v, &n), 0);
	am = find_src(v, n, "am");
	CHECK_I64(am->delivered, 3);
	CHECK_STR(am->last_dedup_key, "am:three");
	CHECK_STR(am->last_case_key, "PROJ-9");
	cg_store_source_stats_free(v, n);
}

static void t_disk_full(void **state)
{
	struct fx *f = *state;
	if (!B->set_full)
		cg_h_skip("none", "backend %s: a full disk cannot be imitated", B->name);
	char *big = malloc(4001);
	assert_non_null(big);
	memset(big, 'x', 4000);
	big[4000] = '\0';
	int64_t a = enq(f->st, "A", T0);
	CHECK_RC(B->set_full(f->st, 1), 0);
	int rc = 0, ok = 0;
	for (int i = 0; i < 2000 && rc == 0; i++) {
		struct cg_store_event e = mk("B", T0);
		e.payload = big;
		rc = cg_store_enqueue(f->st, &e, 1);
		if (rc == 0)
			ok++;
	}
	CHECK_RC(rc, CG_EFULL);
	/* Inside a transaction too; rollback still works and nothing is half-written. */
	CHECK_RC(cg_store_begin(f->st), 0);
	struct cg_store_event e = mk("C", T0);
	e.payload = big;
	CHECK_RC(cg_store_enqueue(f->st, &e, 1), CG_EFULL);
	CHECK_RC(cg_store_rollback(f->st), 0);
	/* Reads and in-place updates still work; existing data is intact. */
	struct cg_store_stats s;
	CHECK_RC(cg_store_stats(f->st, &s), 0);
	CHECK_I64(s.pending, 1 + ok);
	/* The space probe sees the same thing as the writes. */
	CHECK_RC(cg_store_probe(f->st), CG_EFULL);
	int64_t got[4];
	size_t n = claim_ids(f->st, T0, 1, got, 4);
	check_ids(got, n, (int64_t[]){a}, 1, "claim while full");
	/* Space comes back. */
	CHECK_RC(B->set_full(f->st, 0), 0);
	CHECK_RC(cg_store_probe(f->st), 0);
	e = mk("C", T0);
	e.payload = big;
	CHECK_RC(cg_store_enqueue(f->st, &e, 1), 0);
	CHECK_RC(cg_store_begin(f->st), 0);
	enq(f->st, "C", T0);
	CHECK_RC(cg_store_commit(f->st), 0);
	CHECK_RC(cg_store_stats(f->st, &s), 0);
	CHECK_I64(s.pending, 3 + ok);
	free(big);
}

static double elapsed_s(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static int key_index(const char *key)
{
	const char *p = strchr(key, ':');
	long v = p ? strtol(p + 1, NULL, 10) : -1;
	if (v < 0 || v >= 1000)
		fail_msg("unexpected key %s", key);
	return (int)v;
}

/* 20k events (CG_STORE_BULK_N to change; the benchmarks use 100k) over 1k keys through
 * enqueue, claim, done; checks per-key order on the way. Every commit is an fsync, so the
 * default stays small enough for a sanitizer build on a slow disk. */
static int atoi_positive(const char *s)
{
	char *end = NULL;
	long v = strtol(s, &end, 10);
	return end && *end == '\0' && v > 0 && v <= 10000000 ? (int)v : 0;
}

static void t_bulk(void **state)
{
	struct fx *f = *state;
	enum { KEYS = 1000, BATCH = 1000, CLAIM = 256 };
	/* The environment wins, then the backend's own size, then 20k. */
	const char *env_n = getenv("CG_STORE_BULK_N");
	const int N = env_n && atoi_positive(env_n) > 0 ? atoi_positive(env_n)
		      : B->bulk_events > 0		  ? B->bulk_events
							  : 20000;
	struct cg_store_event *evs = calloc(BATCH, sizeof(*evs));
	char(*keys)[16] = calloc(KEYS, sizeof(*keys));
	int64_t *last = calloc(KEYS, sizeof(*last));
	assert_non_null(evs);
	assert_non_null(keys);
	assert_non_null(last);
	for (int k = 0; k < KEYS; k++)
		snprintf(keys[k], sizeof(keys[k]), "bulk:%d", k);

	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < N; i += BATCH) {
		for (int j = 0; j < BATCH; j++) {
			/* A skewed spread: some keys get far more events than others. */
			int k = ((i + j) * 7919 + ((i + j) % 13 == 0 ? 0 : (i + j) / 97)) % KEYS;
			evs[j] = mk(keys[k], T0 + (i + j) / 10);
		}
		CHECK_RC(cg_store_begin(f->st), 0);
		CHECK_RC(cg_store_enqueue(f->st, evs, BATCH), 0);
		CHECK_RC(cg_store_commit(f->st), 0);
	}
	double t_enq = elapsed_s(&t0);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	size_t total = 0, rounds = 0;
	int64_t now = T0 + N;
	for (;;) {
		struct cg_store_event *v = NULL;
		size_t n = 0;
		CHECK_RC(cg_store_begin(f->st), 0);
		CHECK_RC(cg_store_claim(f->st, now, CLAIM, &v, &n), 0);
		for (size_t i = 0; i < n; i++) {
			int k = key_index(v[i].dedup_key);
			if (v[i].id <= last[k])
				fail_msg("key %s: got id %" PRId64 " after %" PRId64, v[i].dedup_key, v[i].id, last[k]);
			last[k] = v[i].id;
			/* Every 10th event backs off once, exercising strict order under retry. */
			if (v[i].attempts == 0 && v[i].id % 10 == 0)
				CHECK_RC(cg_store_event_retry(f->st, v[i].id, now, "retry"), 0);
			else {
				CHECK_RC(cg_store_event_done(f->st, v[i].id), 0);
				total++;
			}
		}
		CHECK_RC(cg_store_commit(f->st), 0);
		/* A retried event is claimed again: undo its "last" so the re-claim passes. */
		for (size_t i = 0; i < n; i++)
			if (v[i].attempts == 0 && v[i].id % 10 == 0)
				last[key_index(v[i].dedup_key)] = v[i].id - 1;
		cg_store_events_free(v, n);
		rounds++;
		if (n == 0)
			break;
		if (rounds > 10 * (size_t)N)
			fail_msg("claim loop does not finish");
	}
	double t_drain = elapsed_s(&t0);
	CHECK_I64(total, N);
	struct cg_store_stats s;
	CHECK_RC(cg_store_stats(f->st, &s), 0);
	CHECK_I64(s.pending, 0);
	fprintf(stderr, "[%s] bulk: enqueue %d events over %d keys in %.2f s; claim+done in %.2f s (%zu rounds)\n",
		B->name, N, KEYS, t_enq, t_drain, rounds);
	free(evs);
	free(keys);
	free(last);
}


/* Every backend: the owner of a claim passes the fence (single-process backends always do). */
static void t_fence_owner(void **state)
{
	struct fx *f = *state;
	int64_t a = enq(f->st, "A", T0);
	struct cg_store_event *v = NULL;
	size_t n = 0;
	CHECK_RC(cg_store_claim(f->st, T0, 4, &v, &n), 0);
	CHECK_I64(n, 1);
	CHECK_I64(v[0].id, a);
	CHECK_RC(cg_store_begin(f->st), 0);
	CHECK_RC(cg_store_fence(f->st, v[0].id, v[0].lease), 0);
	CHECK_RC(cg_store_event_step(f->st, v[0].id, 2), 0);
	CHECK_RC(cg_store_commit(f->st), 0);
	CHECK_RC(cg_store_event_done(f->st, a), 0);
	cg_store_events_free(v, n);
	/* Without leases a claim is valid for as long as the process lives. */
	if (!B->open_peer && !cg_store_lease_valid(f->st, 0, 3600 * 1000))
		fail_msg("lease_valid: got 0 for a single-process backend, want 1");
}

/* ---- shared stores: two replicas on one store ---- */

static struct cg_store *peer(struct fx *f, const char *name, int64_t lease_ms)
{
	if (!B->open_peer)
		cg_h_skip("none", "backend %s: no shared store (no peers)", B->name);
	struct cg_store *p = NULL;
	CHECK_RC(B->open_peer(f->loc, name, lease_ms, &p), 0);
	return p;
}

static struct cg_store_event *claim1(struct cg_store *st, int64_t now, size_t limit, size_t *n)
{
	struct cg_store_event *v = NULL;
	*n = 0;
	CHECK_RC(cg_store_claim(st, now, limit, &v, n), 0);
	return v;
}

static void t_peer_exclusive(void **state)
{
	struct fx *f = *state;
	struct cg_store *a = peer(f, "replica-a", 30000), *b = peer(f, "replica-b", 30000);
	int64_t e1 = enq(a, "k1", T0), e2 = enq(b, "k1", T0), e3 = enq(a, "k2", T0);
	size_t n;
	struct cg_store_event *va = claim1(a, T0, 1, &n);
	CHECK_I64(n, 1);
	CHECK_I64(va[0].id, e1);
	/* k1 is A's: B gets only k2. */
	struct cg_store_event *vb = claim1(b, T0, 10, &n);
	CHECK_I64(n, 1);
	CHECK_I64(vb[0].id, e3);
	if (vb[0].lease == va[0].lease)
		fail_msg("claim tokens: got %" PRId64 " twice, want distinct", va[0].lease);
	cg_store_events_free(vb, n);
	vb = claim1(b, T0, 10, &n);
	CHECK_I64(n, 0);
	cg_store_events_free(vb, n);
	/* A cannot fence B's claim of k2, nor a token it never got. */
	CHECK_RC(cg_store_fence(a, e3, va[0].lease), CG_ESTALE);
	CHECK_RC(cg_store_fence(a, e1, va[0].lease + 1000), CG_ESTALE);
	CHECK_RC(cg_store_fence(a, e1, va[0].lease), 0);
	CHECK_RC(cg_store_event_done(a, e1), 0);
	vb = claim1(b, T0, 10, &n);
	CHECK_I64(n, 1);
	CHECK_I64(vb[0].id, e2);
	CHECK_RC(cg_store_fence(b, e2, vb[0].lease), 0);
	struct cg_store_stats s;
	CHECK_RC(cg_store_stats(a, &s), 0);
	CHECK_I64(s.pending, 2);
	CHECK_I64(s.inflight, 2);
	cg_store_events_free(va, 1);
	cg_store_events_free(vb, n);
	cg_store_close(a);
	cg_store_close(b);
}

struct claim_poll {
	struct cg_store *st;
	int64_t want;
	int64_t lease;
	int got;
};

static int try_claim(void *ud)
{
	struct claim_poll *p = ud;
	struct cg_store_event *v = NULL;
	size_t n = 0;
	if (cg_store_claim(p->st, T0, 10, &v, &n) != 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (v[i].id == p->want) {
			p->got = 1;
			p->lease = v[i].lease;
		}
	cg_store_events_free(v, n);
	return p->got;
}

/* Two replicas: traffic either records counts; a raise (and a clear) is won by exactly one,
 * and a replica never waits for the other's undecided transaction. */
static void t_peer_heartbeats(void **state)
{
	struct fx *f = *state;
	struct cg_store *a = peer(f, "replica-a", 30000), *b = peer(f, "replica-b", 30000);
	CHECK_RC(cg_store_hb_register(a, "am", T0), 0);
	CHECK_RC(cg_store_hb_register(b, "am", T0 + 50), 0);
	CHECK_RC(cg_store_hb_heard(a, "am", T0 + 10), 0);
	CHECK_RC(cg_store_hb_heard(b, "am", T0 + 20), 0);
	CHECK_I64(hb_get(a, "am").heard_ms, T0 + 20);
	CHECK_I64(hb_get(b, "am").started_ms, T0);
	/* A decides inside its transaction; B, at the same moment, neither waits nor wins. */
	CHECK_RC(cg_store_begin(a), 0);
	CHECK_I64(hb_raise(a, "am", T0 + 100, T0 + 200), 1);
	CHECK_I64(hb_raise(b, "am", T0 + 100, T0 + 200), 0);
	CHECK_RC(cg_store_rollback(a), 0);
	/* A's decision rolled back: B may take it, and then A cannot. */
	CHECK_RC(cg_store_begin(b), 0);
	CHECK_I64(hb_raise(b, "am", T0 + 100, T0 + 200), 1);
	CHECK_RC(cg_store_commit(b), 0);
	CHECK_I64(hb_raise(a, "am", T0 + 100, T0 + 201), 0);
	CHECK_RC(cg_store_hb_heard(a, "am", T0 + 300), 0);
	CHECK_RC(cg_store_begin(b), 0);
	CHECK_I64(hb_clear(b, "am"), 1);
	CHECK_I64(hb_clear(a, "am"), 0);
	CHECK_RC(cg_store_commit(b), 0);
	CHECK_I64(hb_clear(a, "am"), 0);
	CHECK_I64(hb_get(a, "am").raised, 0);
	/* Replicas leave; a later registration tidies their records but keeps what was heard last. */
	struct cg_store *c = peer(f, "replica-c", 30000);
	CHECK_RC(cg_store_hb_heard(c, "am", T0 + 5000), 0);
	cg_store_close(c);
	cg_store_close(b);
	CHECK_RC(cg_store_hb_register(a, "am", T0 + 6000), 0);
	CHECK_I64(hb_get(a, "am").heard_ms, T0 + 5000);
	CHECK_I64(hb_get(a, "am").started_ms, T0);
	cg_store_close(a);
}

static void t_peer_lease_expiry(void **state)
{
	struct fx *f = *state;
	struct cg_store *a = peer(f, "replica-a", 300), *b = peer(f, "replica-b", 30000);
	int64_t e1 = enq(a, "k1", T0);
	size_t n;
	struct cg_store_event *va = claim1(a, T0, 4, &n);
	CHECK_I64(n, 1);
	/* A never renews (it holds nothing): after 300 ms the event is B's to take. */
	struct claim_poll p = {.st = b, .want = e1};
	if (!cg_h_poll(try_claim, &p, 5000))
		fail_msg("claim after lease expiry: got nothing within 5 s, want event %" PRId64, e1);
	/* Fencing: A's late progress is refused, B's accepted. */
	CHECK_RC(cg_store_begin(a), 0);
	CHECK_RC(cg_store_fence(a, e1, va[0].lease), CG_ESTALE);
	CHECK_RC(cg_store_rollback(a), 0);
	CHECK_RC(cg_store_fence(b, e1, p.lease), 0);
	int64_t next;
	CHECK_RC(cg_store_next_due_ms(b, &next), CG_ENOENT);
	CHECK_RC(cg_store_event_retry(b, e1, T0 + 5, "x"), 0);
	CHECK_RC(cg_store_next_due_ms(a, &next), 0);
	CHECK_I64(next, T0 + 5);
	cg_store_events_free(va, 1);
	cg_store_close(a);
	cg_store_close(b);
}

static int never(void *ud)
{
	(void)ud;
	return 0;
}

static void t_peer_renewal(void **state)
{
	struct fx *f = *state;
	struct cg_store *a = peer(f, "replica-a", 400), *b = peer(f, "replica-b", 30000);
	int64_t e1 = enq(a, "k1", T0);
	size_t n;
	struct cg_store_event *va = claim1(a, T0, 4, &n);
	CHECK_I64(n, 1);
	cg_store_hold(a, e1, va[0].lease, 1);
	/* Renewed every 100 ms: still A's after 1.2 s (three lease lengths). */
	struct claim_poll p = {.st = b, .want = e1};
	cg_h_poll(never, NULL, 1200);
	if (try_claim(&p))
		fail_msg("held event: got claimed by B, want it kept by A's lease renewal");
	if (!cg_store_lease_valid(a, 0, 0))
		fail_msg("lease_valid: got 0 while renewals succeed, want 1");
	cg_store_hold(a, e1, va[0].lease, 0);
	if (!cg_h_poll(try_claim, &p, 5000))
		fail_msg("released event: got nothing within 5 s, want B to claim %" PRId64, e1);
	if (cg_store_fleet_size(a) < 2)
		fail_msg("fleet size: got %u, want >= 2", cg_store_fleet_size(a));
	cg_store_events_free(va, 1);
	cg_store_close(a);
	cg_store_close(b);
}

static atomic_int woken;

static void on_wake(void *ud)
{
	(void)ud;
	atomic_fetch_add(&woken, 1);
}

static int was_woken(void *ud)
{
	(void)ud;
	return atomic_load(&woken) > 0;
}

struct rl_poll {
	struct cg_store *st;
	int64_t until;
};

static int rl_reached(void *ud)
{
	struct rl_poll *p = ud;
	return cg_store_rl_closed_until(p->st, "cases_write") >= p->until;
}

static void t_peer_wakeup(void **state)
{
	struct fx *f = *state;
	struct cg_store *a = peer(f, "replica-a", 30000), *b = peer(f, "replica-b", 30000);
	CHECK_RC(cg_store_watch(b, on_wake, NULL), 0);
	/* The listener connects in the background (and wakes once when it has). */
	cg_h_poll(was_woken, NULL, 3000);
	atomic_store(&woken, 0);
	enq(a, "k1", T0);
	if (!cg_h_poll(was_woken, NULL, 3000))
		fail_msg("NOTIFY: got no wake-up within 3 s of another replica's enqueue, want one");
	/* A published rate-limit window reaches the other replica, for its bucket only. */
	int64_t until = cg_store_suite_now_ms() + 60000;
	cg_store_rl_publish(a, "cases_write", until);
	struct rl_poll rp = {b, until};
	cg_h_poll(rl_reached, &rp, 3000);
	CHECK_I64(cg_store_rl_closed_until(b, "cases_write"), until);
	CHECK_I64(cg_store_rl_closed_until(b, "cases_read"), 0);
	CHECK_I64(cg_store_rl_closed_until(b, ""), 0);
	CHECK_RC(cg_store_watch(b, NULL, NULL), 0);
	cg_store_close(a);
	cg_store_close(b);
}

int cg_store_suite_run(const struct cg_store_suite_backend *b)
{
	B = b;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(t_enqueue_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(t_claim_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(t_claim_oldest_per_key, setup, teardown),
		cmocka_unit_test_setup_teardown(t_claim_next_ms_order, setup, teardown),
		cmocka_unit_test_setup_teardown(t_strict_order_under_backoff, setup, teardown),
		cmocka_unit_test_setup_teardown(t_claim_priority_order, setup, teardown),
		cmocka_unit_test_setup_teardown(t_claim_priority_per_key, setup, teardown),
		cmocka_unit_test_setup_teardown(t_claim_aging, setup, teardown),
		cmocka_unit_test_setup_teardown(t_claim_resolutions_after_creates, setup, teardown),
		cmocka_unit_test_setup_teardown(t_stats_by_priority, setup, teardown),
		cmocka_unit_test_setup_teardown(t_missing_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(t_dead_letters, setup, teardown),
		cmocka_unit_test_setup_teardown(t_dead_retry_order, setup, teardown),
		cmocka_unit_test_setup_teardown(t_dead_list_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(t_step_persists, setup, teardown),
		cmocka_unit_test_setup_teardown(t_cases, setup, teardown),
		cmocka_unit_test_setup_teardown(t_event_defer, setup, teardown),
		cmocka_unit_test_setup_teardown(t_notes, setup, teardown),
		cmocka_unit_test_setup_teardown(t_heartbeats, setup, teardown),
		cmocka_unit_test_setup_teardown(t_kv, setup, teardown),
		cmocka_unit_test_setup_teardown(t_seen, setup, teardown),
		cmocka_unit_test_setup_teardown(t_seen_replay, setup, teardown),
		cmocka_unit_test_setup_teardown(t_case_list_closed, setup, teardown),
		cmocka_unit_test_setup_teardown(t_crash_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(t_transactions, setup, teardown),
		cmocka_unit_test_setup_teardown(t_stats, setup, teardown),
		cmocka_unit_test_setup_teardown(t_source_stats, setup, teardown),
		cmocka_unit_test_setup_teardown(t_disk_full, setup, teardown),
		cmocka_unit_test_setup_teardown(t_fence_owner, setup, teardown),
		cmocka_unit_test_setup_teardown(t_peer_exclusive, setup, teardown),
		cmocka_unit_test_setup_teardown(t_peer_heartbeats, setup, teardown),
		cmocka_unit_test_setup_teardown(t_peer_lease_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(t_peer_renewal, setup, teardown),
		cmocka_unit_test_setup_teardown(t_peer_wakeup, setup, teardown),
		cmocka_unit_test_setup_teardown(t_bulk, setup, teardown),
	};
	char name[64];
	snprintf(name, sizeof(name), "store conformance (%s)", b->name);
	return _cmocka_run_group_tests(name, tests, sizeof(tests) / sizeof(tests[0]), NULL, NULL);
}

void cg_store_suite_expect_claim(struct cg_store *st, int64_t now, const int64_t *want, size_t n, const char *what)
{
	int64_t got[10];
	size_t ngot = claim_ids(st, now, 10, got, 10);
	check_ids(got, ngot, want, n, what);
}
