/* engine_int.h: the delivery engine's insides, shared by engine*.c only (nothing else includes it). */
#ifndef CG_ENGINE_INT_H
#define CG_ENGINE_INT_H

#include <stdint.h>
#include <uv.h>

#include "actions.h"
#include "catypes.h"
#include "circuit.h"
#include "ddclient.h"
#include "engine.h"
#include "lifecycle.h"
#include "metrics.h"
#include "payload.h"
#include "ratelimit.h"
#include "requests.h"
#include "store.h"
#include "storeq.h"

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
	/* Rate limits per bucket (engine_gate.c). */
	struct cg_rl rl;
	uv_timer_t rl_timer;
	/* The Case API circuit (engine_gate.c): while open, ops wait in the held list, nothing is
	 * claimed, and one probe goes out at a capped backoff. */
	struct cg_circuit circ;
	uv_timer_t probe_timer;
	struct op *held_head, *held_tail;
	int probe_out;         /* the cheap probe request is on the wire */
	struct op *canary;     /* after the circuit closed: the one op sent before the others */
	int64_t circ_noted;    /* opened_ms of the state last written to the store's notes */
	uv_timer_t store_timer;
	struct op *sr_head, *sr_tail; /* ops whose store job failed, waiting to run it again */
	void (*on_stopped)(void *ud);
	void *stopped_ud;
	int closed;
	unsigned pending_cb;   /* engine-level requests (projects, probe, case types) on the wire */
	/* Lifecycle actions (engine_actions.c). */
	struct cg_projects projects;  /* project keys -> UUIDs */
	int proj_fetching;
	int64_t proj_fetch_ms;        /* when the last listing was asked for */
	struct op *proj_head, *proj_tail; /* creates waiting for the listing */
	struct op *bulk_head;         /* priority changes collected for one bulk request */
	int bulk_refused;             /* Datadog refused a bulk request: single requests from then on */
	uv_timer_t bulk_timer;
	uv_timer_t sweep_timer;       /* archive sweep */
	int sweeping;
	/* Custom attributes of the sources' case types (engine_recon.c). */
	struct cg_catypes types;
};

#define ENGINE_TIMERS 6

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
	struct op *bulk_next;         /* collected for a bulk request, or a member of one */
	struct op *bulk_members;      /* the leader of a bulk request: the other ops it carries */
	int no_bulk;                  /* bulk was refused: single requests */
	int index;                    /* next step */
	int reconciling;              /* the current request is a search for an unknown create */
	int recon_phase;              /* which search (engine_recon.c) */
	int need_reconcile;           /* an earlier create's outcome is unknown: search before creating */
	int refreshing;               /* the current request reads the case back from Datadog */
	int decided;                  /* the action is decided (refresh done or not needed) */
	int strip;                    /* optional parts of the create dropped after refusals (0..2) */
	struct cg_rl_waiter rlw;      /* parked for a rate-limit window */
	unsigned rl_bucket;           /* bucket the current request was counted in */
	enum cg_rl_class rl_class;
	struct op *wait_next;         /* in the project-listing wait list */
	struct op *held_next;         /* in the circuit's held list */
	int held;
	uint64_t claimed_mono;        /* uv_now when claimed: a shared store's lease runs from here */
	struct op *sr_next;           /* in the store-retry list */
	cg_storeq_job_fn sr_fn;       /* the store job to run again, and its completion */
	cg_storeq_done_fn sr_done;
	int64_t now;
	/* job results */
	int job_rc;
	int finish_kind; /* enum fin */
	char reason[512];
	int http_status;
	int64_t next_ms;
};

enum fin { FIN_DONE = 0, FIN_RETRY, FIN_DEAD, FIN_DEFER };

/* engine.c */
void cg_eng_op_run(struct op *op);
int64_t cg_eng_wall_ms(void);
uint64_t cg_eng_rnd64(void);
void cg_eng_arm_timer(struct cg_engine *e, int64_t due);
void cg_eng_maybe_stopped(struct cg_engine *e);
void cg_eng_op_send_step(struct op *op);
void cg_eng_op_release(struct op *op);
void cg_eng_op_finish(struct op *op, enum fin kind);
void cg_eng_op_retry(struct op *op, const struct cg_dd_result *res);
void cg_eng_op_advance(struct op *op);
void cg_eng_op_save_progress(struct op *op);
void cg_eng_op_decided(struct op *op);
/* Builds request k of op (requests.h) and sends it through the gate; a step with nothing to do
 * moves on, a request that cannot be built or sent is retried. */
void cg_eng_send_request(struct op *op, enum cg_req_kind k);
const char *cg_eng_case_ref(const struct op *op);
const struct cg_source_config *cg_eng_find_source(const struct cg_config *cfg, const char *name);
void cg_eng_set_str(char **dst, const char *v);
int cg_eng_lease_lost(struct op *op);
void cg_eng_dd_done(const struct cg_dd_result *res, void *ud);
/* The request failed to leave (no answer will come): undo the gate's count, retry the event. */
void cg_eng_send_failed(struct op *op, const char *what, int rc);

/* engine_store.c: an op's writes to the store, and its end. */
/* Deep copy of a case record (strings duplicated). 0 or CG_ENOMEM. */
int cg_eng_case_copy(struct cg_store_case *dst, const struct cg_store_case *src);

/* gate.c: circuit, rate limits, what every answer does first. */
void cg_gate_init(struct cg_engine *e);
void cg_gate_config(struct cg_engine *e);
void cg_gate_stop(struct cg_engine *e);
void cg_gate_close_handles(struct cg_engine *e, uv_close_cb cb);
/* 1 when op was parked (circuit open: held; window spent: waits). 0: send now (counted). */
int cg_gate_hold(struct op *op);
int cg_gate_defer(struct op *op, enum cg_rl_class cls);
/* Rank of op's next request among waiters: urgent creates and escalations first. */
int cg_gate_rank(const struct op *op);
/*
 * What every Case API answer does first: metrics, the rate-limit window, the circuit. op may
 * be NULL (engine-level requests; cls their class, bucket as counted). Returns -1 when op
 * was parked (429: it goes again when the window resets; circuit open: held), otherwise the
 * circuit class of the answer.
 */
int cg_gate_answer(struct cg_engine *e, struct op *op, enum cg_rl_class cls, unsigned bucket, const char *step,
		   const struct cg_dd_result *res);
/* op's failed request belongs to the outage: hold it (no attempt is burnt). */
void cg_gate_park_held(struct op *op);
/* 1 while the circuit holds the queue (nothing is claimed). */
int cg_gate_holding(const struct cg_engine *e);

/* recon.c: reconciliation under search lag, reading cases back, case types. */
void cg_recon_send(struct op *op);
void cg_recon_answer(struct op *op, const struct cg_dd_result *res);
int cg_refresh_due(const struct op *op);
void cg_refresh_send(struct op *op);
void cg_refresh_answer(struct op *op, const struct cg_dd_result *res);
void cg_catypes_fetch(struct cg_engine *e);
const struct cg_catype *cg_eng_catype(struct cg_engine *e, const struct cg_source_config *src);

/* engine_actions.c, lookups.c, bulk.c, sweep.c: action requests, project keys, case types, bulk
 * requests, archive sweep. */
void cg_acts_start(struct cg_engine *e);
void cg_acts_stop(struct cg_engine *e);
int cg_acts_project_wait(struct op *op);
int cg_acts_bulk_collect(struct op *op);
const char **cg_acts_bulk_ids(const struct op *leader, size_t *n);
void cg_acts_bulk_done(const struct cg_dd_result *res, void *ud);
void cg_lookups_projects_fetch(struct cg_engine *e);
void cg_sweep_cb(uv_timer_t *t);

#endif
