/* ratelimit.c: per-bucket rate-limit windows learned from X-RateLimit-* headers, with ordered waiters. */
#include "ratelimit.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

/* Headers carry up to 18 digits: clamp seconds before multiplying. */
#define MAX_WINDOW_S 3600L
/* Reset is whole seconds and a calendar boundary: a little margin keeps us past it. */
#define RESET_MARGIN_MS 20

void cg_rl_init(struct cg_rl *rl)
{
	memset(rl, 0, sizeof(*rl));
	rl->n = 1;
	rl->b[0].remaining = -1;
	rl->b[0].server_left = -1;
}

unsigned cg_rl_bucket_of(const struct cg_rl *rl, enum cg_rl_class c)
{
	return c < CG_RL_CLASSES && rl->cls[c] < rl->n ? rl->cls[c] : 0;
}

static long clamp_s(long s)
{
	return s < 0 ? 0 : s > MAX_WINDOW_S ? MAX_WINDOW_S : s;
}

/* This replica's part of a window of limit requests. */
static long share_of(long limit, unsigned fleet)
{
	if (limit <= 0)
		return -1;
	long share = limit / (long)(fleet ? fleet : 1);
	return share > 0 ? share : 1;
}

/* A new window without fresh headers: one request (the scout) first; its answer tells the rest. */
static void new_window(struct cg_rl_bucket *bk, int64_t now_ms, unsigned fleet)
{
	long share = share_of(bk->limit, fleet);
	bk->remaining = share > 0 ? 1 : -1;
	bk->scouting = share > 0;
	/* Requests still on the wire from the last window may be counted in this one. */
	bk->used = (long)bk->unanswered;
	bk->server_left = -1;
	bk->reset_at = now_ms + (bk->period_s > 0 ? clamp_s(bk->period_s) * 1000 : 1000);
	bk->bare_windows++;
}

/* The bucket's answers stopped carrying headers: what it knew is forgotten, it goes unpaced. */
static void forget(struct cg_rl_bucket *bk)
{
	CG_LOG_INFO("rate limit %s: no rate-limit headers for %u windows (%u answers in a row): no longer paced "
		    "to %ld per %ld s until an answer advertises a limit again",
		    bk->name[0] ? bk->name : "(unnamed)", bk->bare_windows, bk->bare_run, bk->limit, bk->period_s);
	bk->limit = 0;
	bk->period_s = 0;
	bk->remaining = -1;
	bk->server_left = -1;
	bk->reset_at = 0;
	bk->used = 0;
	bk->scouting = 0;
	bk->bare_run = 0;
	bk->bare_windows = 0;
}

/* What this replica may still send: what the org has left (less its own requests on the wire),
 * and never more than its share of the window (replicas of a fleet would otherwise each take
 * half of what is left, again and again, and meet at the window's last requests with 429s). */
static long allowed(const struct cg_rl_bucket *bk, long server_left, unsigned fleet)
{
	long left = server_left - (long)bk->unanswered;
	long share = share_of(bk->limit, fleet);
	/* Also for one replica: answers come back out of order and some without headers, so the
	 * least Remaining heard may be older than what this replica already sent in the window. */
	if (share > 0 && share - bk->used < left)
		left = share - bk->used;
	return left > 0 ? left : 0;
}

int cg_rl_take(struct cg_rl *rl, unsigned b, int64_t now_ms, unsigned fleet, int64_t fleet_closed_until)
{
	if (b >= rl->n)
		b = 0;
	struct cg_rl_bucket *bk = &rl->b[b];
	if (fleet_closed_until > now_ms && !(bk->remaining == 0 && bk->reset_at >= fleet_closed_until)) {
		bk->remaining = 0;
		bk->reset_at = fleet_closed_until;
	}
	if (bk->remaining == 0 && now_ms < bk->reset_at)
		return 0;
	/* The window passed (spent or not): what was left in it says nothing of the next one, which
	 * another client or replica may already be spending. The next begins with a scout. */
	if (bk->remaining == 0 || (bk->limit > 0 && bk->reset_at && now_ms >= bk->reset_at))
		new_window(bk, now_ms, fleet);
	if (bk->remaining > 0)
		bk->remaining--;
	bk->unanswered++;
	bk->used++;
	return 1;
}

int cg_rl_class_open(struct cg_rl *rl, enum cg_rl_class c)
{
	if (c >= CG_RL_CLASSES || rl->cls_state[c] == 2)
		return 1;
	if (rl->cls_state[c] == 1)
		return 0;
	rl->cls_state[c] = 1;
	return 1;
}

int cg_rl_charge_all(struct cg_rl *rl, int64_t now_ms, unsigned fleet, unsigned *charged, unsigned *full)
{
	*charged = 0;
	for (unsigned i = 1; i < rl->n; i++) {
		if (cg_rl_take(rl, i, now_ms, fleet, 0)) {
			*charged |= 1u << i;
			continue;
		}
		cg_rl_discharge(rl, *charged, -1);
		*charged = 0;
		*full = i;
		return 1;
	}
	return 0;
}

void cg_rl_discharge(struct cg_rl *rl, unsigned charged, int b)
{
	for (unsigned i = 1; i < rl->n && i < 32; i++) {
		if (!(charged & (1u << i)))
			continue;
		if (b < 0 || (b > 0 && (unsigned)b != i))
			cg_rl_untake(rl, i);
		else if (rl->b[i].unanswered)
			rl->b[i].unanswered--;
	}
}

void cg_rl_untake(struct cg_rl *rl, unsigned b)
{
	if (b >= rl->n)
		return;
	struct cg_rl_bucket *bk = &rl->b[b];
	if (bk->unanswered)
		bk->unanswered--;
	if (bk->used)
		bk->used--;
	if (bk->remaining >= 0)
		bk->remaining++;
}

void cg_rl_wait(struct cg_rl *rl, unsigned b, struct cg_rl_waiter *w, int64_t rank)
{
	if (b >= rl->n)
		b = 0;
	w->rank = rank;
	w->seq = ++rl->seq;
	struct cg_rl_waiter **pp = &rl->b[b].waiters;
	while (*pp && ((*pp)->rank < rank || ((*pp)->rank == rank && (*pp)->seq < w->seq)))
		pp = &(*pp)->next;
	w->next = *pp;
	*pp = w;
}

/* The bucket called name, made when first seen (the last slot is shared when all are in use). */
static unsigned bucket_named(struct cg_rl *rl, const char *name)
{
	for (unsigned i = 1; i < rl->n; i++)
		if (strcmp(rl->b[i].name, name) == 0)
			return i;
	if (rl->n == CG_RL_MAX_BUCKETS)
		return CG_RL_MAX_BUCKETS - 1;
	unsigned i = rl->n++;
	memset(&rl->b[i], 0, sizeof(rl->b[i]));
	snprintf(rl->b[i].name, sizeof(rl->b[i].name), "%s", name);
	rl->b[i].remaining = -1;
	rl->b[i].server_left = -1;
	return i;
}

unsigned cg_rl_observe(struct cg_rl *rl, enum cg_rl_class c, unsigned b_sent, const struct cg_rl_answer *a,
		       int64_t now_ms, unsigned fleet, int64_t *closed_until)
{
	if (closed_until)
		*closed_until = 0;
	if (b_sent < rl->n && rl->b[b_sent].unanswered)
		rl->b[b_sent].unanswered--;
	unsigned b = cg_rl_bucket_of(rl, c);
	/* The class is known once an answer carries rate-limit headers, or after CG_RL_BARE_KNOWN
	 * plain successes in a row without them (no bucket to keep to); until then its requests go
	 * one at a time, each a scout. A failure without headers teaches nothing. */
	int has_hdr = (a->name && *a->name) || a->remaining >= 0 || a->limit > 0;
	if (c < CG_RL_CLASSES && rl->cls_state[c] != 2) {
		int ok = a->status >= 200 && a->status < 300;
		if (!has_hdr)
			rl->cls_bare[c] = ok ? rl->cls_bare[c] + 1 : 0;
		rl->cls_state[c] = has_hdr || (ok && rl->cls_bare[c] >= CG_RL_BARE_KNOWN) ? 2 : 0;
		if (rl->cls_state[c] == 2)
			CG_LOG_DEBUG("rate-limit class %d known: %s", (int)c,
				     a->name && *a->name ? a->name
				     : has_hdr               ? "headers without a bucket name"
							     : "unpaced (successes without rate-limit headers)");
	}
	if (a->name && *a->name) {
		b = bucket_named(rl, a->name);
		if (c < CG_RL_CLASSES)
			rl->cls[c] = b;
		if (b != b_sent && b_sent < rl->n && rl->b[b_sent].remaining >= 0 && b_sent == 0)
			rl->b[0].remaining++; /* it was counted in the unnamed bucket by mistake */
	}
	struct cg_rl_bucket *bk = &rl->b[b];
	if (has_hdr) {
		bk->bare_run = 0;
		bk->bare_windows = 0;
	} else if (a->status >= 200 && a->status < 300 && bk->limit > 0 &&
		   ++bk->bare_run >= CG_RL_FORGET_RUN && bk->bare_windows >= CG_RL_STALE_WINDOWS) {
		forget(bk);
		return b;
	}
	if (a->limit > 0)
		bk->limit = a->limit;
	if (a->period > 0)
		bk->period_s = clamp_s(a->period);
	if (a->status == 429) {
		long s = a->reset >= 0 ? a->reset : a->retry_after >= 0 ? a->retry_after : 1;
		bk->remaining = 0;
		/* Reset 0 means "within the second": never spin on it. */
		bk->reset_at = now_ms + (s > 0 ? clamp_s(s) * 1000 : 100) + RESET_MARGIN_MS;
		bk->rejected++;
		if (closed_until)
			*closed_until = bk->reset_at;
		return b;
	}
	if (a->remaining >= 0 && a->reset >= 0) {
		/* Requests still on the wire count against what the server says is left; the budget is
		 * the org's, so each live replica keeps to its share of the window. An answer whose
		 * window ends later than the one known is from the next window: what this replica
		 * used starts again (its requests on the wire may count there). */
		int64_t reset_at = now_ms + clamp_s(a->reset) * 1000 + RESET_MARGIN_MS;
		int64_t half = bk->period_s > 0 ? clamp_s(bk->period_s) * 500 : 500;
		if (!bk->reset_at || reset_at > bk->reset_at + half) {
			bk->used = (long)bk->unanswered;
			bk->server_left = -1;
		}
		/* An answer that overtook an older one must not give back room the older one took. */
		if (bk->server_left < 0 || a->remaining < bk->server_left)
			bk->server_left = a->remaining;
		bk->reset_at = reset_at;
		bk->remaining = allowed(bk, bk->server_left, fleet);
		bk->scouting = 0;
	} else if (bk->scouting && a->status >= 200 && a->status < 300) {
		/* The scout came back without headers: the window as advertised before, less what is
		 * still on the wire. */
		long share = share_of(bk->limit, fleet);
		bk->remaining = share > bk->used ? share - bk->used : 0;
		bk->scouting = 0;
	}
	return b;
}

void cg_rl_close_until(struct cg_rl *rl, unsigned b, int64_t until_ms)
{
	if (b >= rl->n)
		return;
	if (rl->b[b].remaining != 0 || rl->b[b].reset_at < until_ms) {
		rl->b[b].remaining = 0;
		rl->b[b].reset_at = until_ms;
	}
}

int64_t cg_rl_next_wake(const struct cg_rl *rl)
{
	int64_t t = 0;
	for (unsigned i = 0; i < rl->n; i++)
		if (rl->b[i].waiters && (!t || rl->b[i].reset_at < t))
			t = rl->b[i].reset_at;
	return t;
}

struct cg_rl_waiter *cg_rl_release(struct cg_rl *rl, int64_t now_ms, unsigned fleet)
{
	struct cg_rl_waiter *head = NULL, **tail = &head;
	for (unsigned i = 0; i < rl->n; i++) {
		struct cg_rl_bucket *bk = &rl->b[i];
		if (!bk->waiters || now_ms < bk->reset_at)
			continue;
		new_window(bk, now_ms, fleet);
		*tail = bk->waiters;
		while (*tail)
			tail = &(*tail)->next;
		bk->waiters = NULL;
	}
	return head;
}

struct cg_rl_waiter *cg_rl_ready(struct cg_rl *rl)
{
	struct cg_rl_waiter *head = NULL, **tail = &head;
	for (unsigned i = 0; i < rl->n; i++) {
		struct cg_rl_bucket *bk = &rl->b[i];
		if (!bk->waiters || bk->remaining == 0)
			continue;
		*tail = bk->waiters;
		while (*tail)
			tail = &(*tail)->next;
		bk->waiters = NULL;
	}
	return head;
}

struct cg_rl_waiter *cg_rl_take_all_waiters(struct cg_rl *rl)
{
	struct cg_rl_waiter *head = NULL, **tail = &head;
	for (unsigned i = 0; i < rl->n; i++) {
		*tail = rl->b[i].waiters;
		while (*tail)
			tail = &(*tail)->next;
		rl->b[i].waiters = NULL;
	}
	return head;
}

int cg_rl_forget(struct cg_rl *rl, struct cg_rl_waiter *w)
{
	for (unsigned i = 0; i < rl->n; i++)
		for (struct cg_rl_waiter **pp = &rl->b[i].waiters; *pp; pp = &(*pp)->next)
			if (*pp == w) {
				*pp = w->next;
				w->next = NULL;
				return 1;
			}
	return 0;
}
