/* retry.h: delivery outcome classification and capped exponential backoff with full jitter. */
#ifndef CG_RETRY_H
#define CG_RETRY_H

#include <stdint.h>

enum cg_outcome {
	CG_DELIVERED = 0,  /* 2xx */
	CG_RETRY_LATER,    /* transport error, 408, 429, 5xx */
	CG_GIVE_UP,        /* other 4xx: dead letter */
};

/* transport_error != 0 means no HTTP answer. 1xx/3xx as a final answer give up. */
enum cg_outcome cg_retry_classify(int transport_error, long status);

/* Short static text saying why cg_retry_classify decided as it did (for logs / dead letters). */
const char *cg_retry_reason(int transport_error, long status);

/*
 * Delay before attempt number `attempt` (1 = first retry): uniform in
 * [0, min(cap_ms, base_ms * 2^(attempt-1))], using rnd (any 64-bit random value).
 * attempt 0 counts as 1; any attempt number is safe (no overflow, the cap holds).
 */
uint64_t cg_backoff_ms(unsigned attempt, uint64_t base_ms, uint64_t cap_ms, uint64_t rnd);

/* Server-given delays (X-RateLimit-Reset, Retry-After) are clamped to this. */
#define CG_RETRY_MAX_SERVER_DELAY_S 3600u
/* Jitter added to server-given delays: uniform in [0, this]. */
#define CG_RETRY_RATELIMIT_JITTER_MS 1000u

/*
 * Delay for a 429: X-RateLimit-Reset seconds (if >= 0) plus a small jitter from rnd
 * (up to 1 s), else Retry-After (same jitter), else the backoff. Server-given values are
 * clamped to CG_RETRY_MAX_SERVER_DELAY_S. Result in milliseconds.
 */
uint64_t cg_ratelimit_delay_ms(long reset_s, long retry_after_s, unsigned attempt, uint64_t base_ms,
			       uint64_t cap_ms, uint64_t rnd);

#endif
