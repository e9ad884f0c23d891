/* test_ratelimit.c: rate-limit buckets learned from headers: names, windows, scouts, urgent first. */
/* labels: unit */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "ratelimit.h"

static struct cg_rl_answer ans(long status, const char *name, long limit, long period, long remaining, long reset)
{
	struct cg_rl_answer a = {status, name, limit, period, remaining, reset, -1};
	return a;
}

/* A class whose answers sometimes lack the headers stays one-at-a-time until one carries them
 * (then its bucket paces it) or CG_RL_BARE_KNOWN successes in a row came bare (unpaced). */
static void t_bare_class(void **state)
{
	(void)state;
	struct cg_rl rl;
	cg_rl_init(&rl);
	struct cg_rl_answer bare = ans(201, "", -1, -1, -1, -1);
	struct cg_rl_answer named = ans(201, "cases_write", 6, 1, 5, 1);
	assert_int_equal(cg_rl_class_open(&rl, CG_RL_CREATE), 1);
	assert_int_equal(cg_rl_class_open(&rl, CG_RL_CREATE), 0); /* the scout is out */
	cg_rl_observe(&rl, CG_RL_CREATE, 0, &bare, 0, 1, NULL);
	assert_int_equal(cg_rl_class_open(&rl, CG_RL_CREATE), 1); /* still a scout, not "unpaced" */
	assert_int_equal(cg_rl_class_open(&rl, CG_RL_CREATE), 0);
	cg_rl_observe(&rl, CG_RL_CREATE, 0, &named, 10, 1, NULL);
	assert_int_equal(cg_rl_class_open(&rl, CG_RL_CREATE), 1);
	assert_int_equal(cg_rl_class_open(&rl, CG_RL_CREATE), 1); /* known: the bucket paces it */
	assert_int_not_equal(cg_rl_bucket_of(&rl, CG_RL_CREATE), 0);
	/* A class that never carries headers: unpaced after CG_RL_BARE_KNOWN bare successes. */
	for (int i = 0; i < CG_RL_BARE_KNOWN; i++) {
		assert_int_equal(cg_rl_class_open(&rl, CG_RL_WRITE), 1);
		assert_int_equal(cg_rl_class_open(&rl, CG_RL_WRITE), 0);
		cg_rl_observe(&rl, CG_RL_WRITE, 0, &bare, 20, 1, NULL);
	}
	assert_int_equal(cg_rl_class_open(&rl, CG_RL_WRITE), 1);
	assert_int_equal(cg_rl_class_open(&rl, CG_RL_WRITE), 1);
	/* A spent window (a 429 named it) holds the scouts of classes not known yet until it passes. */
	struct cg_rl_answer full = ans(429, "cases_write", 6, 1, 0, 1);
	unsigned b = cg_rl_observe(&rl, CG_RL_CREATE, cg_rl_bucket_of(&rl, CG_RL_CREATE), &full, 40, 1, NULL);
	unsigned charged = 0, held = 99;
	assert_int_equal(cg_rl_charge_all(&rl, 41, 1, &charged, &held), 1);
	assert_int_equal(held, b);
	assert_int_equal(charged, 0);
	assert_int_equal(cg_rl_charge_all(&rl, 40 + 1000 + 100, 1, &charged, &held), 0);
	assert_int_not_equal(charged & (1u << b), 0);
}

/* A scout of a class not known yet is counted in every named bucket while it is out, so the
 * classes that know a bucket leave room for it; its answer gives the others their room back. */
static void t_scout_charged(void **state)
{
	(void)state;
	struct cg_rl rl;
	cg_rl_init(&rl);
	struct cg_rl_answer w = ans(201, "cases_write", 6, 1, 2, 1);
	struct cg_rl_answer r = ans(200, "cases_read", 100, 1, 50, 1);
	unsigned bw = cg_rl_observe(&rl, CG_RL_CREATE, 0, &w, 0, 1, NULL);
	unsigned br = cg_rl_observe(&rl, CG_RL_READ, 0, &r, 0, 1, NULL);
	assert_int_equal(rl.b[bw].remaining, 2);
	unsigned charged = 0, full = 99;
	assert_int_equal(cg_rl_charge_all(&rl, 10, 1, &charged, &full), 0);
	assert_int_equal(charged, (1u << bw) | (1u << br));
	assert_int_equal(rl.b[bw].remaining, 1); /* a create now finds one place, not two */
	assert_int_equal(rl.b[br].remaining, 49);
	/* The answer names the write bucket: the read bucket gets its place back. */
	cg_rl_discharge(&rl, charged, bw);
	assert_int_equal(rl.b[br].remaining, 50);
	assert_int_equal(rl.b[br].unanswered, 0);
	assert_int_equal(rl.b[bw].remaining, 1);
	assert_int_equal(rl.b[bw].unanswered, 0);
	/* An answer naming no bucket: the scout may have counted in either, so it stays used in
	 * both (no longer on the wire); one that never left gives every place back. */
	assert_int_equal(cg_rl_charge_all(&rl, 12, 1, &charged, &full), 0);
	assert_int_equal(rl.b[bw].remaining, 0);
	cg_rl_discharge(&rl, charged, 0);
	assert_int_equal(rl.b[bw].remaining, 0);
	assert_int_equal(rl.b[br].remaining, 49);
	assert_int_equal(rl.b[bw].unanswered + rl.b[br].unanswered, 0);
	assert_int_equal(cg_rl_charge_all(&rl, 13, 1, &charged, &full), 1); /* write is spent now */
	assert_int_equal(rl.b[br].remaining, 49);
	rl.b[bw].remaining = 1;
	assert_int_equal(cg_rl_charge_all(&rl, 14, 1, &charged, &full), 0);
	cg_rl_discharge(&rl, charged, -1);
	assert_int_equal(rl.b[bw].remaining, 1);
	assert_int_equal(rl.b[br].remaining, 49);
	/* A spent bucket: nothing is charged, the scout waits on it. */
	assert_int_equal(cg_rl_take(&rl, bw, 20, 1, 0), 1);
	assert_int_equal(cg_rl_charge_all(&rl, 20, 1, &charged, &full), 1);
	assert_int_equal(full, bw);
	assert_int_equal(charged, 0);
	assert_int_equal(rl.b[br].remaining, 49);
}

/* Answers come back out of order and some without headers: a late answer's Remaining (2) is
 * older than what this replica already sent in the window (all 6): nothing is left, not 2. */
static void t_late_remaining(void **state)
{
	(void)state;
	struct cg_rl rl;
	cg_rl_init(&rl);
	struct cg_rl_answer first = ans(200, "w", 6, 1, 5, 1), bare = ans(200, "", -1, -1, -1, -1);
	unsigned b = cg_rl_observe(&rl, CG_RL_WRITE, 0, &first, 0, 1, NULL);
	for (int i = 0; i < 5; i++)
		assert_int_equal(cg_rl_take(&rl, b, 10, 1, 0), 1);
	for (int i = 0; i < 5; i++)
		cg_rl_observe(&rl, CG_RL_WRITE, b, &bare, 500, 1, NULL);
	/* The next window: a scout, then what its answer allows. */
	assert_int_equal(cg_rl_take(&rl, b, 1100, 1, 0), 1);
	assert_int_equal(rl.b[b].remaining, 0);
	cg_rl_observe(&rl, CG_RL_WRITE, b, &first, 1105, 1, NULL);
	assert_int_equal(rl.b[b].remaining, 5);
	for (int i = 0; i < 5; i++)
		assert_int_equal(cg_rl_take(&rl, b, 1106, 1, 0), 1);
	for (int i = 0; i < 4; i++)
		cg_rl_observe(&rl, CG_RL_WRITE, b, &bare, 1107, 1, NULL);
	struct cg_rl_answer late = ans(200, "w", 6, 1, 2, 1);
	cg_rl_observe(&rl, CG_RL_WRITE, b, &late, 1108, 1, NULL);
	assert_int_equal(rl.b[b].remaining, 0);
	assert_int_equal(cg_rl_take(&rl, b, 1109, 1, 0), 0);
}

/* Classes learn their bucket from X-RateLimit-Name; buckets keep separate windows. */
static void t_named_buckets(void **state)
{
	(void)state;
	struct cg_rl rl;
	cg_rl_init(&rl);
	assert_int_equal(cg_rl_bucket_of(&rl, CG_RL_SEARCH), 0);
	assert_int_equal(cg_rl_take(&rl, 0, 1000, 1, 0), 1); /* unknown: no pacing */
	struct cg_rl_answer a = ans(200, "cases_read", 50, 10, 0, 4);
	unsigned b = cg_rl_observe(&rl, CG_RL_SEARCH, 0, &a, 1000, 1, NULL);
	assert_int_equal(b, 1);
	assert_int_equal(cg_rl_bucket_of(&rl, CG_RL_SEARCH), 1);
	assert_string_equal(rl.b[1].name, "cases_read");
	assert_int_equal(rl.b[0].unanswered, 0);
	/* The read bucket is spent: searches wait, writes do not. */
	assert_int_equal(cg_rl_take(&rl, 1, 1500, 1, 0), 0);
	assert_int_equal(cg_rl_take(&rl, cg_rl_bucket_of(&rl, CG_RL_CREATE), 1500, 1, 0), 1);
	struct cg_rl_answer w = ans(201, "cases_write", 20, 10, 15, 4);
	assert_int_equal(cg_rl_observe(&rl, CG_RL_CREATE, 0, &w, 1500, 1, NULL), 2);
	assert_int_equal(rl.b[2].remaining, 15);
	assert_true(rl.b[1].reset_at >= 1000 + 4000 && rl.b[1].reset_at <= 1000 + 4100);
}

/* An answer without headers changes nothing known; on the wire counts against what is left; a
 * replica spends its share of the org's budget. */
static void t_headers(void **state)
{
	(void)state;
	struct cg_rl rl;
	cg_rl_init(&rl);
	struct cg_rl_answer a = ans(200, "w", 10, 1, 6, 1);
	cg_rl_observe(&rl, CG_RL_WRITE, 0, &a, 0, 1, NULL);
	unsigned b = cg_rl_bucket_of(&rl, CG_RL_WRITE);
	assert_int_equal(rl.b[b].remaining, 6);
	assert_int_equal(cg_rl_take(&rl, b, 10, 1, 0), 1);
	assert_int_equal(cg_rl_take(&rl, b, 10, 1, 0), 1);
	assert_int_equal(rl.b[b].remaining, 4);
	struct cg_rl_answer bare = ans(200, "", -1, -1, -1, -1);
	cg_rl_observe(&rl, CG_RL_WRITE, b, &bare, 20, 1, NULL);
	assert_int_equal(rl.b[b].remaining, 4); /* not "unlimited" */
	/* Server says 5 left, one of ours is still out: 4. With two replicas this one keeps to its
	 * share of the window (10 / 2 = 5), of which it used 2: 3, not half of what is left again. */
	struct cg_rl_answer five = ans(200, "w", 10, 1, 5, 1);
	cg_rl_observe(&rl, CG_RL_WRITE, 99, &five, 30, 1, NULL);
	assert_int_equal(rl.b[b].remaining, 4);
	cg_rl_observe(&rl, CG_RL_WRITE, 99, &five, 30, 2, NULL);
	assert_int_equal(rl.b[b].remaining, 3);
	struct cg_rl_answer lots = ans(200, "w", 10, 1, 9, 1);
	cg_rl_observe(&rl, CG_RL_WRITE, 99, &lots, 30, 2, NULL);
	assert_int_equal(rl.b[b].remaining, 3);
	cg_rl_untake(&rl, b);
	assert_int_equal(rl.b[b].remaining, 4);
}

/* A 429 closes its bucket until its reset (else Retry-After, else 1 s), and says until when. */
static void t_429(void **state)
{
	(void)state;
	struct cg_rl rl;
	cg_rl_init(&rl);
	struct cg_rl_answer r = ans(429, "w", 10, 1, 0, 3);
	int64_t until = 0;
	unsigned b = cg_rl_observe(&rl, CG_RL_CREATE, 0, &r, 1000, 1, &until);
	assert_true(until >= 4000 && until <= 4100);
	assert_int_equal(cg_rl_take(&rl, b, 3999, 1, 0), 0);
	struct cg_rl_answer ra = {429, "w", -1, -1, -1, -1, 2};
	cg_rl_observe(&rl, CG_RL_CREATE, 0, &ra, 5000, 1, &until);
	assert_true(until >= 7000 && until <= 7100);
	/* Another replica's 429 closes this replica's bucket too. */
	struct cg_rl rl2;
	cg_rl_init(&rl2);
	assert_int_equal(cg_rl_take(&rl2, 0, 100, 2, 900), 0);
	assert_int_equal(cg_rl_take(&rl2, 0, 901, 2, 900), 1);
	/* Absurd header values are clamped (no overflow, at most an hour). */
	struct cg_rl_answer huge = ans(429, "w", 10, 1, 0, 999999999999999999L);
	cg_rl_observe(&rl, CG_RL_CREATE, 0, &huge, 0, 1, &until);
	assert_true(until > 0 && until <= 3600 * 1000 + 100);
}

/* After the window ends, one request (the scout) goes; its answer says how many more may. */
static void t_scout(void **state)
{
	(void)state;
	struct cg_rl rl;
	cg_rl_init(&rl);
	struct cg_rl_answer a = ans(200, "w", 10, 1, 0, 1);
	unsigned b = cg_rl_observe(&rl, CG_RL_WRITE, 0, &a, 0, 1, NULL);
	struct cg_rl_waiter w[4] = {{0}};
	for (int i = 0; i < 4; i++) {
		assert_int_equal(cg_rl_take(&rl, b, 10, 1, 0), 0);
		cg_rl_wait(&rl, b, &w[i], 10);
	}
	assert_int_equal(cg_rl_next_wake(&rl), rl.b[b].reset_at);
	assert_null(cg_rl_release(&rl, rl.b[b].reset_at - 1, 1));
	int64_t t = rl.b[b].reset_at;
	struct cg_rl_waiter *list = cg_rl_release(&rl, t, 1);
	assert_ptr_equal(list, &w[0]);
	assert_int_equal(cg_rl_take(&rl, b, t, 1, 0), 1); /* the scout */
	assert_int_equal(cg_rl_take(&rl, b, t, 1, 0), 0);
	cg_rl_wait(&rl, b, &w[1], 10);
	assert_null(cg_rl_ready(&rl));
	struct cg_rl_answer s = ans(200, "w", 10, 1, 7, 1);
	cg_rl_observe(&rl, CG_RL_WRITE, b, &s, t + 5, 1, NULL);
	assert_int_equal(rl.b[b].remaining, 7);
	assert_ptr_equal(cg_rl_ready(&rl), &w[1]);
	/* A scout answered without headers: the advertised share less what it used (the scout). */
	rl.b[b].remaining = 0;
	rl.b[b].reset_at = t + 10;
	assert_int_equal(cg_rl_take(&rl, b, t + 10, 1, 0), 1);
	assert_int_equal(cg_rl_take(&rl, b, t + 10, 1, 0), 0);
	struct cg_rl_answer bare = ans(200, "", -1, -1, -1, -1);
	cg_rl_observe(&rl, CG_RL_WRITE, b, &bare, t + 20, 1, NULL);
	assert_int_equal(rl.b[b].remaining, 9);
}

/* Sends one window's worth at time *now (every take answered by what answer() says); when the
 * window is spent, *now moves to its end. Returns how many went in the window. */
static int one_window(struct cg_rl *rl, unsigned b, int64_t *now, int window, int cap)
{
	int sent = 0;
	while (sent < cap && cg_rl_take(rl, b, *now, 1, 0)) {
		sent++;
		/* Half the answers bare when window < 0 (alternating), else all bare. */
		struct cg_rl_answer a = window < 0 && sent % 2 ? ans(201, "cases_write", 6, 1, 6 - sent < 0 ? 0 : 6 - sent, 1)
							       : ans(201, "", -1, -1, -1, -1);
		cg_rl_observe(rl, CG_RL_CREATE, b, &a, *now, 1, NULL);
		if (window < 0 && rl->b[b].limit != 6)
			fail_msg("half the answers bare: the limit was forgotten (%ld) at request %d", rl->b[b].limit, sent);
	}
	if (sent < cap)
		*now = rl->b[b].reset_at;
	return sent;
}

/* The limit was lifted (answers stop carrying the headers): after CG_RL_STALE_WINDOWS windows the
 * bucket is forgotten and unpaced; answers only sometimes bare keep it paced. */
static void t_stale_limit(void **state)
{
	(void)state;
	struct cg_rl rl;
	cg_rl_init(&rl);
	struct cg_rl_answer named = ans(201, "cases_write", 6, 1, 6, 1);
	unsigned b = cg_rl_observe(&rl, CG_RL_CREATE, 0, &named, 0, 1, NULL);
	int64_t now = 0;
	for (int w = 0; w < 3; w++) { /* the first window, then two new ones: still paced */
		int sent = one_window(&rl, b, &now, w, 100);
		if (sent > 6)
			fail_msg("window %d: %d sent, want at most 6 while the limit is known", w, sent);
	}
	/* Forgotten within the third new window: nothing holds the requests back any more. */
	int sent = one_window(&rl, b, &now, 0, 100);
	assert_int_equal(sent, 100);
	assert_int_equal(rl.b[b].limit, 0);
	assert_int_equal(rl.b[b].remaining, -1);
	/* An answer that advertises a limit again paces again. */
	struct cg_rl_answer back = ans(201, "cases_write", 6, 1, 0, 1);
	cg_rl_observe(&rl, CG_RL_CREATE, b, &back, now, 1, NULL);
	assert_int_equal(cg_rl_take(&rl, b, now + 1, 1, 0), 0);

	/* Half bare: never forgotten, however many windows. */
	cg_rl_init(&rl);
	b = cg_rl_observe(&rl, CG_RL_CREATE, 0, &named, 0, 1, NULL);
	now = 0;
	for (int w = 0; w < 20; w++) {
		sent = one_window(&rl, b, &now, -1, 100);
		if (sent > 6)
			fail_msg("half-bare window %d: %d sent, want at most 6", w, sent);
	}
	assert_int_equal(rl.b[b].limit, 6);
}

/* A window that passed with room left says nothing of the next (another client may be spending
 * it): the next begins with one request, the rest wait for its answer. */
static void t_window_passed(void **state)
{
	(void)state;
	struct cg_rl rl;
	cg_rl_init(&rl);
	struct cg_rl_answer a = ans(200, "w", 10, 1, 9, 1);
	unsigned b = cg_rl_observe(&rl, CG_RL_WRITE, 0, &a, 0, 1, NULL);
	assert_int_equal(cg_rl_take(&rl, b, 10, 1, 0), 1);
	assert_int_equal(cg_rl_take(&rl, b, 10, 1, 0), 1); /* room left in this window */
	int64_t next = rl.b[b].reset_at + 1;
	assert_int_equal(cg_rl_take(&rl, b, next, 1, 0), 1);  /* the next window's scout */
	assert_int_equal(cg_rl_take(&rl, b, next, 1, 0), 0);  /* the rest wait for its answer */
	struct cg_rl_answer spent = ans(429, "w", 10, 1, 0, 1);
	cg_rl_observe(&rl, CG_RL_WRITE, b, &spent, next + 5, 1, NULL);
	assert_int_equal(cg_rl_take(&rl, b, next + 6, 1, 0), 0); /* spent by someone else: to its reset */
}

/* Waiters leave by rank (urgent first), then arrival. */
static void t_rank_order(void **state)
{
	(void)state;
	struct cg_rl rl;
	cg_rl_init(&rl);
	struct cg_rl_answer a = ans(200, "w", 10, 1, 0, 1);
	unsigned b = cg_rl_observe(&rl, CG_RL_WRITE, 0, &a, 0, 1, NULL);
	struct cg_rl_waiter w[5] = {{0}};
	int ranks[5] = {11, 11, 2, 7, 2};
	for (int i = 0; i < 5; i++)
		cg_rl_wait(&rl, b, &w[i], ranks[i]);
	struct cg_rl_waiter *l = cg_rl_release(&rl, rl.b[b].reset_at, 1);
	struct cg_rl_waiter *want[5] = {&w[2], &w[4], &w[3], &w[0], &w[1]};
	for (int i = 0; i < 5; i++, l = l->next)
		assert_ptr_equal(l, want[i]);
	assert_null(l);
	cg_rl_wait(&rl, b, &w[0], 1);
	assert_int_equal(cg_rl_forget(&rl, &w[0]), 1);
	assert_int_equal(cg_rl_forget(&rl, &w[0]), 0);
	cg_rl_wait(&rl, b, &w[1], 1);
	assert_ptr_equal(cg_rl_take_all_waiters(&rl), &w[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_bare_class), cmocka_unit_test(t_scout_charged), cmocka_unit_test(t_late_remaining), cmocka_unit_test(t_named_buckets), cmocka_unit_test(t_headers),	   cmocka_unit_test(t_429),
		cmocka_unit_test(t_scout),	   cmocka_unit_test(t_rank_order), cmocka_unit_test(t_stale_limit), cmocka_unit_test(t_window_passed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
