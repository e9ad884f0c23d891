/* storeq.h: runs store jobs on one worker thread, many jobs per transaction (group commit). */
#ifndef CG_STOREQ_H
#define CG_STOREQ_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "store.h"

struct cg_storeq;

/*
 * A job runs on the store thread inside a transaction shared with the other jobs of
 * its batch. It returns 0 or a negative enum cg_err; any failure of a job, or of the
 * commit, rolls the batch back and every job's done gets that error (jobs that had
 * succeeded are re-run alone, so one bad job does not fail the others).
 * A job may therefore run more than once (the first run rolled back): it must reset
 * whatever it writes to ud at its start (e.g. free a claim result of the earlier run).
 * Batches hold at most 256 jobs.
 */
typedef int (*cg_storeq_job_fn)(struct cg_store *st, void *ud);
/* Runs on the loop thread after the batch committed (rc 0) or failed. */
typedef void (*cg_storeq_done_fn)(int rc, void *ud);

/* group_commit 0: one transaction per job (for the durability benchmark). */
int cg_storeq_create(uv_loop_t *loop, struct cg_store *st, int group_commit, struct cg_storeq **out);

/* Queues a job; returns 0, CG_ENOMEM, or CG_ECLOSED after destroy began. */
int cg_storeq_submit(struct cg_storeq *q, cg_storeq_job_fn job, cg_storeq_done_fn done, void *ud);

/*
 * A job whose writes are durable elsewhere already (the intake journal's records): a transaction
 * of such jobs only commits relaxed (cg_store_set_relaxed); one with any other job as always.
 */
int cg_storeq_submit_relaxed(struct cg_storeq *q, cg_storeq_job_fn job, cg_storeq_done_fn done, void *ud);

/*
 * Per-transaction work for jobs that share one (e.g. one write for all of them), on the store
 * thread: begin after a transaction began (before its first job), precommit after its last job
 * (its error fails the commit, as a job's would), end once the transaction is over (committed 1,
 * or rolled back or failed 0; also when begin itself failed, with committed 0). Set once, before
 * the first job is submitted.
 */
struct cg_storeq_hooks {
	void (*begin)(void *ud);
	int (*precommit)(struct cg_store *st, void *ud);
	void (*end)(void *ud, int committed);
	void *ud;
};
void cg_storeq_set_hooks(struct cg_storeq *q, const struct cg_storeq_hooks *h);

/* The store the jobs run on (for its thread-safe members, e.g. cg_store_lease_valid). */
struct cg_store *cg_storeq_store(const struct cg_storeq *q);

/* Jobs queued but not yet finished. */
size_t cg_storeq_pending(const struct cg_storeq *q);

/* Transactions committed, jobs they held, and time spent running them (begin to commit), since
 * create; readable from any thread. jobs / commits is the mean group-commit batch. */
struct cg_storeq_counts {
	uint64_t commits, jobs, busy_us;
};
void cg_storeq_counts(const struct cg_storeq *q, struct cg_storeq_counts *out);

/* Finishes queued jobs, joins the thread, closes the async handle; on_closed runs when freed.
 * The store itself is not closed. Returns at once: the queued jobs' completions are delivered
 * by the loop afterwards (run it until on_closed), then q is gone. Submitting after
 * destroy returns CG_ECLOSED until on_closed. */
void cg_storeq_destroy(struct cg_storeq *q, void (*on_closed)(void *ud), void *ud);

#endif
