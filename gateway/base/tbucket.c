/* tbucket.c: token buckets for intake throttling; pure arithmetic, no clock of their own. */
#include "tbucket.h"

#include <math.h>

void cg_tbucket_init(struct cg_tbucket *b, double rate, double burst)
{
	b->rate = rate > 0 ? rate : 0;
	b->burst = burst > 0 ? burst : (b->rate > 1 ? b->rate : 1);
	b->tokens = b->burst;
	b->last_ms = 0;
}

static void refill(struct cg_tbucket *b, int64_t now_ms)
{
	if (b->last_ms == 0 || now_ms < b->last_ms) {
		/* First use, or the wall clock stepped back: do not mint tokens from it. */
		b->last_ms = now_ms;
		return;
	}
	b->tokens += (double)(now_ms - b->last_ms) * b->rate / 1000.0;
	if (b->tokens > b->burst)
		b->tokens = b->burst;
	b->last_ms = now_ms;
}

int cg_tbucket_take(struct cg_tbucket *const *bs, int n, int64_t now_ms, uint64_t *retry_after_ms)
{
	/* Check every bucket before taking from any, so a refusal costs the others nothing. */
	for (int i = 0; i < n; i++) {
		struct cg_tbucket *b = bs[i];
		if (!b || b->rate <= 0)
			continue;
		refill(b, now_ms);
		if (b->tokens < 1.0) {
			if (retry_after_ms)
				*retry_after_ms = (uint64_t)ceil((1.0 - b->tokens) * 1000.0 / b->rate);
			return i + 1;
		}
	}
	for (int i = 0; i < n; i++)
		if (bs[i] && bs[i]->rate > 0)
			bs[i]->tokens -= 1.0;
	return 0;
}
