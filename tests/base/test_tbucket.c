/* test_tbucket.c: token bucket arithmetic for intake throttling. */
/* labels: unit */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>

#include "tbucket.h"

static void test_burst_then_rate(void **state)
{
	(void)state;
	struct cg_tbucket b;
	cg_tbucket_init(&b, 10, 5);
	struct cg_tbucket *bs[] = {&b};
	int64_t now = 1000000;
	int ok = 0;
	for (int i = 0; i < 20; i++)
		ok += cg_tbucket_take(bs, 1, now, NULL) == 0;
	if (ok != 5)
		fprintf(stderr, "burst: got %d, want 5\n", ok);
	assert_int_equal(ok, 5);
	uint64_t ra = 0;
	assert_int_equal(cg_tbucket_take(bs, 1, now, &ra), 1);
	if (ra != 100)
		fprintf(stderr, "retry after: got %llu, want 100\n", (unsigned long long)ra);
	assert_int_equal(ra, 100);
	/* One second later: 10 more, not more than that. */
	ok = 0;
	for (int i = 0; i < 20; i++)
		ok += cg_tbucket_take(bs, 1, now + 1000, NULL) == 0;
	assert_int_equal(ok, 5); /* capped by burst */
	ok = 0;
	for (int i = 0; i < 20; i++)
		ok += cg_tbucket_take(bs, 1, now + 1500, NULL) == 0;
	assert_int_equal(ok, 5);
}

static void test_all_or_nothing(void **state)
{
	(void)state;
	struct cg_tbucket src, glob;
	cg_tbucket_init(&src, 100, 10);
	cg_tbucket_init(&glob, 1, 1);
	struct cg_tbucket *bs[] = {&src, &glob};
	assert_int_equal(cg_tbucket_take(bs, 2, 5000, NULL), 0);
	uint64_t ra = 0;
	int r = cg_tbucket_take(bs, 2, 5000, &ra);
	if (r != 2)
		fprintf(stderr, "refused by: got %d, want 2 (global)\n", r);
	assert_int_equal(r, 2);
	assert_int_equal(ra, 1000);
	/* The source bucket lost only the one token that passed. */
	assert_true(src.tokens > 8.5 && src.tokens < 9.5);
}

static void test_unlimited_and_clock_back(void **state)
{
	(void)state;
	struct cg_tbucket none, b;
	cg_tbucket_init(&none, 0, 0);
	cg_tbucket_init(&b, 2, 0); /* burst defaults to the rate */
	assert_true(b.burst == 2);
	struct cg_tbucket *bs[] = {&none, NULL, &b};
	assert_int_equal(cg_tbucket_take(bs, 3, 10000, NULL), 0);
	assert_int_equal(cg_tbucket_take(bs, 3, 10000, NULL), 0);
	assert_int_equal(cg_tbucket_take(bs, 3, 10000, NULL), 3);
	/* A clock step back mints nothing. */
	assert_int_equal(cg_tbucket_take(bs, 3, 2000, NULL), 3);
	assert_int_equal(cg_tbucket_take(bs, 3, 2500, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_rate),
		cmocka_unit_test(test_all_or_nothing),
		cmocka_unit_test(test_unlimited_and_clock_back),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
