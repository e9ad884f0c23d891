/* workq.h: one worker thread fed from the libuv loop: items queued under a lock, run in batches, completions back on the loop in submission order (the store thread and the journal's writer are two). */
#ifndef CG_WORKQ_H
#define CG_WORKQ_H

#include <stddef.h>
#include <uv.h>

/* The first member of the caller's item struct (the queue links items through it). */
struct cg_workq_item {
	struct cg_workq_item *next;
};

struct cg_workq_ops {
	const char *thread_name; /* as `top -H` and perf show the worker (at most 15 characters) */
	/* A batch takes what is queued, at most max_items, and (with weight) at most max_weight in
	 * all, though always at least one item. */
	size_t max_items;
	size_t max_weight;
	size_t (*weight)(const struct cg_workq_item *it); /* NULL: no weight limit */
	/* Worker thread: runs the batch (n items linked from head, the last one's next NULL). */
	void (*run)(void *ud, struct cg_workq_item *head, size_t n);
	/* Loop thread: each item once its batch ran, in submission order; may free the item. */
	void (*done)(void *ud, struct cg_workq_item *it);
};

struct cg_workq;

/* ops must outlive the queue. 0, CG_EINVAL, CG_ENOMEM or CG_EIO. */
int cg_workq_create(uv_loop_t *loop, const struct cg_workq_ops *ops, void *ud, struct cg_workq **out);

/* Queues it (any thread); 0, or CG_ECLOSED once destroy began (the item stays the caller's). */
int cg_workq_submit(struct cg_workq *q, struct cg_workq_item *it);

/* Items submitted whose completion has not been delivered yet; readable from any thread. */
size_t cg_workq_pending(const struct cg_workq *q);

/*
 * Runs what is queued, joins the thread, closes the async handle; on_closed runs (on the loop)
 * when q is freed. Returns at once: the last completions are delivered by the loop afterwards
 * (run it until on_closed). Submitting after destroy returns CG_ECLOSED. A second call is ignored.
 */
void cg_workq_destroy(struct cg_workq *q, void (*on_closed)(void *ud), void *ud);

#endif
