/* test_timing.c: delivery's wall clock is the epoch in ms, and its random numbers vary in every bit. */
/* labels: unit */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <time.h>

#include "timing.h"

static int64_t realtime_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The store's schedule and Datadog's headers are epoch milliseconds, not a monotonic clock. */
static void test_wall_ms(void **state)
{
	(void)state;
	int64_t before = realtime_ms();
	int64_t t = cg_timing_wall_ms();
	int64_t after = realtime_ms();
	assert_true(t >= before);
	assert_true(t <= after);
	assert_true(t > 1700000000000LL); /* after 2023-11: milliseconds, not seconds */
}

/* Jitter from a constant or a narrow source would line retries up: 256 draws differ from each
 * other and every bit takes both values. */
static void test_rnd64(void **state)
{
	(void)state;
	uint64_t v[256], ones = 0, zeros = 0;
	for (size_t i = 0; i < 256; i++) {
		v[i] = cg_timing_rnd64();
		ones |= v[i];
		zeros |= ~v[i];
		for (size_t k = 0; k < i; k++)
			if (v[k] == v[i])
				fail_msg("draws %zu and %zu are equal (%llu)", k, i, (unsigned long long)v[i]);
	}
	assert_true(ones == UINT64_MAX);
	assert_true(zeros == UINT64_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wall_ms),
		cmocka_unit_test(test_rnd64),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
