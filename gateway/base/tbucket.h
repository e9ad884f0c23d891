/* tbucket.h: token buckets that throttle webhook storms (per source and global). */
#ifndef CG_TBUCKET_H
#define CG_TBUCKET_H

#include <stdint.h>

/* rate tokens per second, up to burst stored; rate 0 means "no limit". Caller storage. */
struct cg_tbucket {
	double rate;
	double burst;
	double tokens;
	int64_t last_ms; /* when tokens was last refilled; 0 = never (starts full) */
};

/* Sets the limits and fills the bucket. burst 0 means max(1, rate). */
void cg_tbucket_init(struct cg_tbucket *b, double rate, double burst);

/*
 * Takes one token from every bucket of the array (NULL entries and unlimited buckets are
 * skipped), all or nothing. Returns 0 when taken; otherwise the index of the first bucket that
 * was empty + 1, and *retry_after_ms (may be NULL) gets how long until that bucket holds a token.
 * now_ms must not go backwards by much (a clock step back is treated as no time passing).
 */
int cg_tbucket_take(struct cg_tbucket *const *bs, int n, int64_t now_ms, uint64_t *retry_after_ms);

#endif
