/* timing.c: the wall clock and the random numbers delivery's schedules run on. */
#include "timing.h"

#include <time.h>

#include <openssl/rand.h>

int64_t cg_timing_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t cg_timing_rnd64(void)
{
	uint64_t r = 0;
	if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
		r = (uint64_t)cg_timing_wall_ms() * 6364136223846793005ULL;
	return r;
}
