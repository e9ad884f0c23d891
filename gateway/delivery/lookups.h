/* lookups.h: what delivery reads of Datadog's setup: the project keys (creates wait for the listing)
 * and the custom attributes of the sources' case types. */
#ifndef CG_LOOKUPS_H
#define CG_LOOKUPS_H

#include <stddef.h>

#include "catypes.h"
#include "config.h"
#include "ddclient.h"
#include "gate.h"
#include "projects.h"

/* A create waiting for the project listing (embedded in it; never freed here). */
struct cg_lookup_waiter {
	struct cg_lookup_waiter *next;
};

struct cg_lookups_hooks {
	/* The listing w waited for came back: why is NULL when the create may go, else why the
	 * project key cannot be resolved now. */
	void (*project_done)(struct cg_lookup_waiter *w, const char *why, void *ud);
	/* Lookups stop: w leaves the wait (its progress is saved). */
	void (*release)(struct cg_lookup_waiter *w, void *ud);
	void *ud;
};

struct cg_lookups;

/* 0 or CG_ENOMEM. Reads nothing yet: cg_lookups_set_config starts the reads. */
int cg_lookups_create(struct cg_dd_client *dd, struct cg_gate *gate, const struct cg_config *cfg,
		      const struct cg_lookups_hooks *hooks, struct cg_lookups **out);

/* At start and after a reload: lists the projects again (when a source names one by key) and
 * reads the custom attributes of every case type a source names (one request per type). */
void cg_lookups_set_config(struct cg_lookups *l, const struct cg_config *cfg);

/*
 * Whether a create for project (a source's project setting; may be NULL) may go: 0 yes (a UUID,
 * or a key the listing resolved); 1 w waits for the listing (project_done follows); CG_ENOENT
 * (the key is not in a listing made moments ago) or CG_EAGAIN (the listing cannot be asked for):
 * why says so, the create is retried later.
 */
int cg_lookups_project_wait(struct cg_lookups *l, const char *project, struct cg_lookup_waiter *w, char *why,
			    size_t len);

/* The project UUID of a source's project setting (a key resolved, or the UUID); NULL when unknown. */
const char *cg_lookups_project_id(const struct cg_lookups *l, const char *project);

const struct cg_projects *cg_lookups_projects(const struct cg_lookups *l);

/* The case type of src as Datadog defines it; NULL when src names none or it is not known. */
const struct cg_catype *cg_lookups_catype(struct cg_lookups *l, const struct cg_source_config *src);

/* Releases the waiting creates through the hooks; nothing is asked for any more. */
void cg_lookups_stop(struct cg_lookups *l);

/* Frees l once its reads have answered (at once when none is out). Accepts NULL. */
void cg_lookups_destroy(struct cg_lookups *l);

#endif
