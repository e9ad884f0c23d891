/* admission.h: whether intake takes a webhook now: throttles, memory caps, store space. */
#ifndef CG_ADMISSION_H
#define CG_ADMISSION_H

#include <stddef.h>

#include "http.h"

struct cg_intake;

/* (Re)builds the token buckets from the configuration (start and reload); 0 or CG_ENOMEM. */
int cg_admission_setup(struct cg_intake *in);
void cg_admission_cleanup(struct cg_intake *in);

/*
 * Admits one webhook for source index src_idx (after authentication, before parsing).
 * Returns 0 when admitted; otherwise it has answered req (429 or 503 with Retry-After),
 * counted the refusal and returns the status it sent.
 */
int cg_admission_check(struct cg_intake *in, size_t src_idx, const char *source_label, struct cg_http_request *req);

/* Accounts bytes of an accepted webhook held in memory until the store has it. */
void cg_admission_hold(struct cg_intake *in, size_t bytes);
void cg_admission_release(struct cg_intake *in, size_t bytes);

/* Called every second: while the store is full, probes for space and clears store_full when a
 * real write succeeds again, so intake and /readyz recover without waiting for a request. */
void cg_admission_tick(struct cg_intake *in);

#endif
