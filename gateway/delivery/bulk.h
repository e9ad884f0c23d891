/* bulk.h: bulk priority changes (opt-in, actions.bulk): requests that set the same priority within
 * 50 ms go as one. Closes always go one by one: the bulk payload for statuses is undocumented, and a
 * close that silently did nothing would leave a case open. */
#ifndef CG_BULK_H
#define CG_BULK_H

#include <uv.h>

/* The bulk part of one sender (embedded in it; never freed here). */
struct cg_bulk_item {
	struct cg_bulk_item *next;    /* collected, or the next member of a leader's request */
	struct cg_bulk_item *members; /* a leader: the items its request carries besides itself */
	int key;                      /* items share a request when their keys match (the priority) */
	int single;                   /* it goes alone from now on (no partner came, or bulk was refused) */
};

struct cg_bulk_hooks {
	/* The window closed: leader goes, carrying its members (single set when none came). */
	void (*send)(struct cg_bulk_item *leader, void *ud);
	/* Bulk stops: a collected item leaves (its progress is saved). */
	void (*release)(struct cg_bulk_item *it, void *ud);
	void *ud;
};

struct cg_bulk;

int cg_bulk_create(uv_loop_t *loop, const struct cg_bulk_hooks *hooks, struct cg_bulk **out);

/* Collects it (key: what it sets) for the request that leaves when the window closes. */
void cg_bulk_collect(struct cg_bulk *b, struct cg_bulk_item *it, int key);

/* Datadog refused a bulk request: remembered, single requests from now on (the preview endpoint is
 * not tried on every batch). */
void cg_bulk_refuse(struct cg_bulk *b);
int cg_bulk_refused(const struct cg_bulk *b);

/* Releases the collected items through the hooks. */
void cg_bulk_stop(struct cg_bulk *b);

/* Frees b once its timer closed. Accepts NULL. */
void cg_bulk_destroy(struct cg_bulk *b);

#endif
