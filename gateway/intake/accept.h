/* accept.h: the one way an accepted alert becomes a stored event (webhooks and mail alike). */
#ifndef CG_ACCEPT_H
#define CG_ACCEPT_H

#include <stdint.h>

#include "builder.h"
#include "config.h"
#include "event.h"
#include "store.h"

/*
 * Fills out (zeroed by the caller) from the draft d of event ev of source src, received at now:
 * source, dedup key and severity (taken from d), status, priority, and the payload (the draft,
 * the source's rendered insights; note: a comment-only payload with that text instead, for mail
 * replies and acknowledgements). Returns 0 or CG_ENOMEM (out's strings then freed by
 * cg_store_event_cleanup as usual).
 */
int cg_accept_event(const struct cg_source_config *src, struct cg_case_draft *d, const struct cg_event *ev,
		    const char *note, int64_t now, struct cg_store_event *out);

#endif
