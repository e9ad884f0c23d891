/* retry.c: what to do with a Datadog answer (deliver / retry / give up) and how long to wait. */
#include "retry.h"

#include <limits.h>

enum cg_outcome cg_retry_classify(int transport_error, long status)
{
	if (transport_error != 0)
		return CG_RETRY_LATER;
	if (status >= 200 && status <= 299)
		return CG_DELIVERED;
	/* 408 and 429 say "not now", 5xx says "not our fault": the same request may succeed later. */
	if (status == 408 || status == 429 || (status >= 500 && status <= 599))
		return CG_RETRY_LATER;
	/* Other 4xx will fail again unchanged. 1xx as a final answer and 3xx (we never follow
	 * redirects to keep the API key on the configured host) are just as unrecoverable. */
	return CG_GIVE_UP;
}

const char *cg_retry_reason(int transport_error, long status)
{
	if (transport_error != 0)
		return "transport error";
	if (status >= 200 && status <= 299)
		return "delivered";
	if (status == 408)
		return "request timeout (408)";
	if (status == 429)
		return "rate limited (429)";
	if (status >= 500 && status <= 599)
		return "server error (5xx)";
	if (status == 400)
		return "rejected as invalid (400)";
	if (status == 401 || status == 403)
		return "authentication or permission failure (401/403)";
	if (status == 404)
		return "not found (404)";
	if (status >= 400 && status <= 499)
		return "client error (4xx)";
	if (status >= 100 && status <= 199)
		return "unexpected informational status (1xx) as final answer";
	if (status >= 300 && status <= 399)
		return "unexpected redirect (3xx): redirects are not followed";
	return "invalid HTTP status";
}

/* Uniform in [0, ceil] without overflow when ceil == UINT64_MAX. The modulo bias is at most
 * ceil / 2^64, irrelevant for delays. */
static uint64_t uniform(uint64_t ceil, uint64_t rnd)
{
	if (ceil == UINT64_MAX)
		return rnd;
	return rnd % (ceil + 1);
}

uint64_t cg_backoff_ms(unsigned attempt, uint64_t base_ms, uint64_t cap_ms, uint64_t rnd)
{
	unsigned shift = attempt > 0 ? attempt - 1 : 0;
	uint64_t ceil;

	/* base * 2^shift > cap  <=>  base > cap >> shift: checked before shifting, so neither a
	 * shift >= 64 (undefined) nor a wrapped product can sneak under the cap. */
	if (shift >= 64 || base_ms > (cap_ms >> shift))
		ceil = cap_ms;
	else
		ceil = base_ms << shift;
	return uniform(ceil, rnd);
}

uint64_t cg_ratelimit_delay_ms(long reset_s, long retry_after_s, unsigned attempt, uint64_t base_ms,
			       uint64_t cap_ms, uint64_t rnd)
{
	long s;

	if (reset_s >= 0)
		s = reset_s;
	else if (retry_after_s >= 0)
		s = retry_after_s;
	else
		return cg_backoff_ms(attempt, base_ms, cap_ms, rnd);
	/* The server's word wins over our cap, but a garbage header must not park a delivery
	 * for days: clamp. */
	if ((unsigned long)s > CG_RETRY_MAX_SERVER_DELAY_S)
		s = CG_RETRY_MAX_SERVER_DELAY_S;
	/* Jitter so that every request parked by one 429 does not hit the reset instant together. */
	return (uint64_t)s * 1000u + uniform(CG_RETRY_RATELIMIT_JITTER_MS, rnd);
}
