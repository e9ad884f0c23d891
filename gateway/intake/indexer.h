/* indexer.h: accepted webhooks through the intake journal: one request's store write as a record, the indexer that applies journaled records to the store in order, and the replay at start. */
#ifndef CG_INDEXER_H
#define CG_INDEXER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "journal.h"
#include "storeq.h"
#include "store.h"
#include "storm.h"

/*
 * What one accepted request writes to the store: its inputs (they are the journal record) and
 * what the write decided (outputs, set by cg_intake_put_run).
 */
struct cg_intake_put {
	char source[128];
	char replay_ns[96], replay_id[256]; /* id-based replay rejection (signed webhooks) */
	char message_id[160];               /* the sender's delivery id (SNS MessageId) */
	int64_t heard_ms;                   /* record this traffic for the source's heartbeat (0: no need) */
	int64_t accepted_ms;                /* wall clock at acceptance: the storm window on a replay too */
	struct cg_storm_rule storm;         /* max_new 0: no folding */
	struct cg_store_event *evs;         /* owned */
	size_t n;
	/* Outputs. */
	int duplicate;                      /* 1 replay_id, 2 message_id was already committed: nothing written */
	struct cg_storm_fold fold;          /* what storm folding stored instead of evs */
};

/* In the caller's store transaction: the heartbeat, the replay and delivery ids, storm folding
 * and the events. It may run again after a rollback (it resets its outputs first). */
int cg_intake_put_run(struct cg_store *st, struct cg_intake_put *p);
/* The events that were stored (evs, or what folding made of them). */
const struct cg_store_event *cg_intake_put_stored(const struct cg_intake_put *p, size_t *n);
void cg_intake_put_cleanup(struct cg_intake_put *p);

/* The journal record of p's inputs (malloc'd, *out freed by the caller or the journal queue). */
int cg_intake_put_encode(const struct cg_intake_put *p, void **out, size_t *len);
/* Fills p (zeroed by the caller) from a record; CG_EINVAL when it is not one (p then cleaned). */
int cg_intake_put_decode(const void *rec, size_t len, struct cg_intake_put *p);

/* The store's indexed watermark: every journal record with seq <= it is in the store. */
#define CG_INDEXER_KEY "#journal:indexed"
int cg_indexer_watermark(struct cg_store *st, uint64_t *seq);

/*
 * At start, before anything else writes the store: applies every journaled record past the
 * watermark, in order, in transactions of up to 256 records, then retires the indexed segments.
 * *n: records applied. A record that does not decode is an error (err says which seq).
 */
int cg_indexer_replay(struct cg_store *st, struct cg_journal *jr, size_t *n, char *err, size_t errlen);

/*
 * The running indexer (loop thread). Records are submitted in journal order as their append
 * completes; each becomes a store job (group commit batches them: large transactions) that runs
 * its put and advances the watermark in the same transaction. A failed job stalls the indexer:
 * nothing after it is applied (order per dedup key, and a watermark that never passes an
 * unapplied record); cg_indexer_tick retries from it. Records not applied when the daemon stops
 * stay in the journal for the next start's replay.
 */
struct cg_indexer;
struct cg_index_job {
	struct cg_index_job *next;
	struct cg_indexer *ix;
	uint64_t seq;
	struct cg_intake_put *put;
	/* On the loop: rc 0 (applied: put's outputs set), or the store's error or CG_EAGAIN (behind
	 * a failure: the job is held, retried, and done runs again), or CG_ECLOSED (the indexer is
	 * stopping or gone: the record stays journaled for the next start). Return 1 to keep the job
	 * (held for a retry), 0 when done with it (always for CG_ECLOSED). */
	int (*done)(struct cg_index_job *ij, int rc);
};
int cg_indexer_create(struct cg_storeq *q, struct cg_journal *jr, struct cg_indexer **out);
void cg_indexer_submit(struct cg_indexer *ix, struct cg_index_job *ij);
/* Every second: after a failure, retries the held jobs in order; now and then retires indexed
 * segments (after a store transaction that makes the watermark durable). */
void cg_indexer_tick(struct cg_indexer *ix);
/* 1 while a failure holds the indexer; records journaled but not yet applied. */
int cg_indexer_stalled(const struct cg_indexer *ix);
uint64_t cg_indexer_backlog(const struct cg_indexer *ix);
/* The daemon stops: no more retries; held jobs get done(CG_ECLOSED) now (their records stay in
 * the journal), and so does every job submitted from now on. */
void cg_indexer_stop(struct cg_indexer *ix);
/* Held jobs get done(CG_ECLOSED). Jobs in the store queue must have finished (storeq drained). */
void cg_indexer_destroy(struct cg_indexer *ix);

#endif
