/* engine_int.h: the delivery engine's insides, shared by engine.c, engine_send.c and engine_store.c only. */
#ifndef CG_ENGINE_INT_H
#define CG_ENGINE_INT_H

#include <stdint.h>
#include <uv.h>

#include "actions.h"
#include "bulk.h"
#include "gate.h"
#include "lifecycle.h"
#include "lookups.h"
#include "metrics.h"
#include "payload.h"
#include "requests.h"
#include "store.h"
#include "storeq.h"
#include "sweep.h"

struct op;

struct cg_engine {
	uv_loop_t *loop;
	struct cg_storeq *q;
	struct cg_dd_client *dd;
	struct cg_metrics *metrics;
	const struct cg_config *cfg;
	uv_timer_t timer;
	int64_t timer_due;     /* wall ms the timer is armed for, 0 when idle */
	unsigned inflight;     /* operations started and not finished */
	int claiming;          /* a claim job is running */
	int rekick;            /* kick again when the claim job returns */
	int stopping;
	struct cg_gate *gate;       /* the circuit and the rate-limit windows */
	struct cg_lookups *lookups; /* project keys, case types */
	struct cg_bulk *bulk;       /* bulk priority changes */
	struct cg_sweep *sweep;     /* archive sweep */
	uv_timer_t store_timer;
	struct op *sr_head, *sr_tail; /* ops whose store job failed, waiting to run it again */
	void (*on_stopped)(void *ud);
	void *stopped_ud;
	int closed;
	/* engine.c's continuations for the files below it (registered at create: nothing calls back
	 * up by name). */
	void (*op_next)(struct op *op);       /* progress saved: the op's next request */
	void (*op_gone)(struct cg_engine *e); /* an op ended: claim more, or complete the stop */
	cg_dd_done_fn on_answer;              /* the answer to an op's request */
	cg_dd_done_fn on_bulk_answer;         /* the answer to a bulk request (its leader's) */
};

#define ENGINE_TIMERS 2

/* One event being applied. */
struct op {
	struct cg_engine *e;
	struct cg_store_event ev;
	struct cg_store_case cs;
	struct cg_store_case before; /* case as claimed: restored when the event dead-letters */
	struct cg_payload pl;         /* ev.payload, decoded */
	struct cg_source_config src;  /* lifecycle settings (copied: the config may be reloaded) */
	char source_label[160];
	enum cg_action action;
	enum cg_step steps[CG_MAX_STEPS];
	int nsteps;
	int prio_before;              /* the case's priority when the event started */
	int index;                    /* next step */
	const struct cg_req_row *row; /* the request on the wire (requests.c) */
	int reconciling;              /* the current request is a search for an unknown create */
	int recon_phase;              /* which search (enum cg_recon_phase) */
	int need_reconcile;           /* an earlier create's outcome is unknown: search before creating */
	int refreshing;               /* the current request reads the case back from Datadog */
	int decided;                  /* the action is decided (refresh done or not needed) */
	int strip;                    /* optional parts of the create dropped after refusals (0..2) */
	struct cg_gate_item gate;     /* parked in the gate: a rate-limit window, the circuit */
	struct cg_bulk_item bulk;     /* collected for a bulk request, or carrying one */
	struct cg_lookup_waiter wait; /* waiting for the project listing */
	uint64_t claimed_mono;        /* uv_now when claimed: a shared store's lease runs from here */
	struct op *sr_next;           /* in the store-retry list */
	cg_storeq_job_fn sr_fn;       /* the store job to run again, and its completion */
	cg_storeq_done_fn sr_done;
	int64_t now;
	/* job results */
	int finish_kind; /* enum fin */
	char reason[512];
	int http_status;
	int64_t next_ms;
};

enum fin { FIN_DONE = 0, FIN_RETRY, FIN_DEAD, FIN_DEFER };

struct cg_recon;

/* ---- engine_send.c: an op's next request ---- */

/* Sends the request of op's current step (or its refresh, search, bulk request), or parks op where
 * it must wait first. */
void cg_eng_op_send_step(struct op *op);

/* After a successful (or skipped) step: the next one, or the end of the event. */
void cg_eng_op_advance(struct op *op);

/* What a reconciliation round of op knows; and its next search. */
void cg_eng_recon_of(const struct op *op, struct cg_recon *r);
void cg_eng_recon_send(struct op *op);

const struct cg_source_config *cg_eng_find_source(const struct cg_config *cfg, const char *name);

/* ---- engine_store.c: the engine's store jobs, an op's end ---- */

/* Claiming due events (engine.c's claim loop submits it). */
struct claim_job {
	struct cg_engine *e;
	int64_t now;
	size_t limit;
	struct cg_store_event *evs;
	size_t n;
	struct cg_store_case *cases; /* state CG_CASE_NONE and dedup_key NULL when unknown */
	int64_t next_due;
	int has_next;
};

/* The store job: claims up to limit due events and reads their cases. */
int cg_eng_claim_run(struct cg_store *st, void *ud);
void cg_eng_claim_free(struct claim_job *j);

/* Deep copy of a case record (strings duplicated). 0 or CG_ENOMEM. */
int cg_eng_case_copy(struct cg_store_case *dst, const struct cg_store_case *src);

/* Saves the op's progress (step index, case record) before its next request; then e->op_next. */
void cg_eng_op_save_progress(struct op *op);

/* Ends the event: done, retried at op->next_ms, deferred, or dead-lettered (op->reason); the
 * outcome is saved, then the op is released. */
void cg_eng_op_finish(struct op *op, enum fin kind);

/* Schedules the event's next attempt (backoff, a server's Retry-After), or dead-letters it after
 * the configured attempts. */
void cg_eng_op_retry(struct op *op, const struct cg_dd_result *res);

/* Ends an op without writing (its progress is saved, or its lease is another replica's now). */
void cg_eng_op_release(struct op *op);

/* Shared store: 1 (and the op released) when its lease might run out before a request answers. */
int cg_eng_lease_lost(struct op *op);

/* Stop: ops waiting to run a failed store job again are released (they resume after restart). */
void cg_eng_store_stop(struct cg_engine *e);

#endif
