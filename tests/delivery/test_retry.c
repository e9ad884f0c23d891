/* test_retry.c: classification table, backoff bounds (jitter, cap, overflow) and 429 delays. */
/* labels: unit */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "retry.h"

static const char *outcome_name(enum cg_outcome o)
{
	switch (o) {
	case CG_DELIVERED:
		return "delivered";
	case CG_RETRY_LATER:
		return "retry";
	case CG_GIVE_UP:
		return "give-up";
	}
	return "?";
}

static void test_classify(void **state)
{
	static const struct {
		int transport_error;
		long status;
		enum cg_outcome want;
	} cases[] = {
		{0, 200, CG_DELIVERED},   {0, 201, CG_DELIVERED},   {0, 204, CG_DELIVERED},
		{0, 299, CG_DELIVERED},   {0, 400, CG_GIVE_UP},     {0, 401, CG_GIVE_UP},
		{0, 403, CG_GIVE_UP},     {0, 404, CG_GIVE_UP},     {0, 405, CG_GIVE_UP},
		{0, 409, CG_GIVE_UP},     {0, 413, CG_GIVE_UP},     {0, 422, CG_GIVE_UP},
		{0, 499, CG_GIVE_UP},     {0, 408, CG_RETRY_LATER}, {0, 429, CG_RETRY_LATER},
		{0, 500, CG_RETRY_LATER}, {0, 502, CG_RETRY_LATER}, {0, 503, CG_RETRY_LATER},
		{0, 504, CG_RETRY_LATER}, {0, 599, CG_RETRY_LATER}, {0, 100, CG_GIVE_UP},
		{0, 101, CG_GIVE_UP},     {0, 301, CG_GIVE_UP},     {0, 302, CG_GIVE_UP},
		{0, 307, CG_GIVE_UP},     {0, 0, CG_GIVE_UP},       {0, 600, CG_GIVE_UP},
		{0, -1, CG_GIVE_UP},      {7, 0, CG_RETRY_LATER},   {28, 0, CG_RETRY_LATER},
		/* A transport error wins even if a status was seen (e.g. body over the limit). */
		{23, 201, CG_RETRY_LATER}, {52, 400, CG_RETRY_LATER},
	};
	int bad = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum cg_outcome got = cg_retry_classify(cases[i].transport_error, cases[i].status);
		const char *why = cg_retry_reason(cases[i].transport_error, cases[i].status);

		if (got != cases[i].want) {
			fprintf(stderr, "classify(%d, %ld): got %s, want %s\n", cases[i].transport_error,
				cases[i].status, outcome_name(got), outcome_name(cases[i].want));
			bad++;
		}
		if (why == NULL || why[0] == '\0') {
			fprintf(stderr, "reason(%d, %ld): got empty, want text\n", cases[i].transport_error,
				cases[i].status);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
	/* The reason names the odd classes so a dead letter explains itself. */
	assert_non_null(strstr(cg_retry_reason(0, 302), "redirect"));
	assert_non_null(strstr(cg_retry_reason(0, 101), "1xx"));
	assert_non_null(strstr(cg_retry_reason(0, 429), "429"));
	assert_non_null(strstr(cg_retry_reason(3, 0), "transport"));
}

/* xorshift64*: deterministic spread of rnd values over the whole 64-bit range. */
static uint64_t next_rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

static void test_backoff_bounds(void **state)
{
	static const struct {
		unsigned attempt;
		uint64_t base, cap, want_ceil;
	} cases[] = {
		{0, 1000, 300000, 1000},      /* attempt 0 behaves as 1 */
		{1, 1000, 300000, 1000},      {2, 1000, 300000, 2000},
		{3, 1000, 300000, 4000},      {9, 1000, 300000, 256000},
		{10, 1000, 300000, 300000},   /* 512000 capped */
		{30, 1000, 300000, 300000},   {63, 1000, 300000, 300000},
		{64, 1000, 300000, 300000},   {65, 1000, 300000, 300000},
		{1000, 1000, 300000, 300000}, {UINT32_MAX, 1000, 300000, 300000},
		{64, 1, UINT64_MAX, 1ULL << 63}, /* largest uncapped shift */
		{65, 1, UINT64_MAX, UINT64_MAX},
		{2, UINT64_MAX / 2 + 1, UINT64_MAX, UINT64_MAX}, /* product would wrap to 0 */
		{2, 3ULL << 62, UINT64_MAX - 1, UINT64_MAX - 1},
		{5, 0, 300000, 0},            {5, 1000, 0, 0},
		{1, 500, 200, 200},           /* base over cap */
	};
	int bad = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t s = 0x9E3779B97F4A7C15ULL + i, max_seen = 0, min_seen = UINT64_MAX;
		uint64_t ceil = cases[i].want_ceil;

		for (int k = 0; k < 20000; k++) {
			uint64_t d = cg_backoff_ms(cases[i].attempt, cases[i].base, cases[i].cap, next_rnd(&s));

			if (d > max_seen)
				max_seen = d;
			if (d < min_seen)
				min_seen = d;
		}
		/* Edge rnd values map to the ends of the range. */
		uint64_t d0 = cg_backoff_ms(cases[i].attempt, cases[i].base, cases[i].cap, 0);
		uint64_t dmax = cg_backoff_ms(cases[i].attempt, cases[i].base, cases[i].cap, ceil);

		if (max_seen > ceil || d0 != 0 || dmax != ceil) {
			fprintf(stderr,
				"backoff(attempt=%u base=%llu cap=%llu): got max %llu, d(0)=%llu, d(ceil)=%llu; "
				"want max <= %llu, 0, %llu\n",
				cases[i].attempt, (unsigned long long)cases[i].base,
				(unsigned long long)cases[i].cap, (unsigned long long)max_seen,
				(unsigned long long)d0, (unsigned long long)dmax, (unsigned long long)ceil,
				(unsigned long long)ceil);
			bad++;
		}
		/* Full jitter really spreads: over 20000 draws the extremes come within 1% of the ends. */
		if (ceil >= 100 && (max_seen < ceil - ceil / 100 || min_seen > ceil / 100)) {
			fprintf(stderr, "backoff(attempt=%u): got spread [%llu, %llu], want about [0, %llu]\n",
				cases[i].attempt, (unsigned long long)min_seen, (unsigned long long)max_seen,
				(unsigned long long)ceil);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

static void test_ratelimit_delay(void **state)
{
	static const struct {
		long reset, retry_after;
		uint64_t lo, hi; /* inclusive bounds of the result */
	} cases[] = {
		{7, -1, 7000, 8000},       {7, 30, 7000, 8000}, /* reset wins over Retry-After */
		{0, -1, 0, 1000},          {-1, 12, 12000, 13000},
		{-1, 0, 0, 1000},          {100000, -1, 3600000, 3601000}, /* clamped */
		{-1, 999999999, 3600000, 3601000},
		{-1, -1, 0, 4000}, /* backoff: attempt 3, base 1000 -> [0, 4000] */
	};
	int bad = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t s = 42 + i, lo_seen = UINT64_MAX, hi_seen = 0;

		for (int k = 0; k < 5000; k++) {
			uint64_t d = cg_ratelimit_delay_ms(cases[i].reset, cases[i].retry_after, 3, 1000, 300000,
							   next_rnd(&s));
			if (d < lo_seen)
				lo_seen = d;
			if (d > hi_seen)
				hi_seen = d;
		}
		if (lo_seen < cases[i].lo || hi_seen > cases[i].hi) {
			fprintf(stderr, "ratelimit(reset=%ld, retry_after=%ld): got [%llu, %llu], want within [%llu, %llu]\n",
				cases[i].reset, cases[i].retry_after, (unsigned long long)lo_seen,
				(unsigned long long)hi_seen, (unsigned long long)cases[i].lo,
				(unsigned long long)cases[i].hi);
			bad++;
		}
		/* The jitter is real: results are not all the same value. */
		if (lo_seen == hi_seen) {
			fprintf(stderr, "ratelimit(reset=%ld): got constant %llu, want jitter\n", cases[i].reset,
				(unsigned long long)lo_seen);
			bad++;
		}
	}
	/* LONG_MAX must not overflow the seconds -> ms conversion. */
	uint64_t d = cg_ratelimit_delay_ms(LONG_MAX, -1, 1, 1000, 300000, 0);
	if (d != 3600000) {
		fprintf(stderr, "ratelimit(LONG_MAX): got %llu, want 3600000\n", (unsigned long long)d);
		bad++;
	}
	assert_int_equal(bad, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_backoff_bounds),
		cmocka_unit_test(test_ratelimit_delay),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
