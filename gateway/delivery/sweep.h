/* sweep.h: the archive sweep: closed cases older than a source's archive_after get an archive event,
 * which then runs like any other event of their key. */
#ifndef CG_SWEEP_H
#define CG_SWEEP_H

#include <uv.h>

#include "config.h"
#include "storeq.h"

struct cg_sweep_hooks {
	void (*queued)(void *ud); /* archive events were queued: they are due now */
	void (*idle)(void *ud);   /* a sweep ended (cg_sweep_busy is 0 again) */
	void *ud;
};

struct cg_sweep;

/* 0 or CG_ENOMEM. Sweeps nothing until cg_sweep_set_config arms it. */
int cg_sweep_create(uv_loop_t *loop, struct cg_storeq *q, const struct cg_sweep_hooks *hooks, struct cg_sweep **out);

/* At start and after a reload: (re)arms the sweep for the sources' archive_after (off when none). */
void cg_sweep_set_config(struct cg_sweep *s, const struct cg_config *cfg);

/* 1 while a sweep is in the store queue. */
int cg_sweep_busy(const struct cg_sweep *s);

/* No more sweeps (one in the store queue still ends, and calls idle). */
void cg_sweep_stop(struct cg_sweep *s);

/* Frees s once its timer closed and its sweep ended; no hook runs any more. Accepts NULL. */
void cg_sweep_destroy(struct cg_sweep *s);

#endif
