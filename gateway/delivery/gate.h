/* gate.h: what stands between a request and the Case API: the outage circuit (hold, probe, resume)
 * and the rate-limit buckets (wait for the window, most urgent first). It knows a request's sender
 * only as an item embedded in it, and hands items back through the hooks their owner registers. */
#ifndef CG_GATE_H
#define CG_GATE_H

#include <stddef.h>
#include <uv.h>

#include "config.h"
#include "ddclient.h"
#include "metrics.h"
#include "ratelimit.h"
#include "storeq.h"

/* The gate's part of one sender of requests (embedded in it; the gate never frees it). */
struct cg_gate_item {
	struct cg_rl_waiter rlw;        /* parked for its bucket's window */
	struct cg_gate_item *held_next; /* in the circuit's held list */
	unsigned bucket;                /* where the request on the wire was counted */
	unsigned charged;               /* a scout of a class not known yet: the named buckets it is
					 * also counted in (cg_rl_charge_all) */
	enum cg_rl_class cls;
};

/* How the gate hands items back to their owner. */
struct cg_gate_hooks {
	/* The item goes again from the start of its step: its window reset, or the outage ended. */
	void (*resend)(struct cg_gate_item *it, void *ud);
	/* The gate stops: the item leaves it (its owner saved its progress before it waited). */
	void (*release)(struct cg_gate_item *it, void *ud);
	/* The item's place among waiters: lower goes first. */
	int64_t (*rank)(const struct cg_gate_item *it, void *ud);
	/* The outage ended and nothing is held any more: the owner may take new work. */
	void (*resume)(void *ud);
	void *ud;
};

struct cg_gate;

/* 0 or CG_ENOMEM. Notes the circuit's state in the store (an earlier run's note is history). */
int cg_gate_create(uv_loop_t *loop, struct cg_storeq *q, struct cg_dd_client *dd, struct cg_metrics *metrics,
		   const struct cg_config *cfg, const struct cg_gate_hooks *hooks, struct cg_gate **out);

/* A reload: circuit settings; an open circuit is probed at once (the new keys may end the outage). */
void cg_gate_set_config(struct cg_gate *g, const struct cg_config *cfg);

/* 1 while the circuit holds the queue (nothing new is taken). */
int cg_gate_holding(const struct cg_gate *g);

/* 1 while the circuit is open (an answer that failed the outage's way is held, not retried). */
int cg_gate_open(const struct cg_gate *g);

/* 1 when it was held (circuit open, or the one request after an outage is still out); resend
 * follows when the outage ends. 0: go on. */
int cg_gate_hold(struct cg_gate *g, struct cg_gate_item *it);

/* 1 when it waits for its bucket's window (resend follows); 0: send it now (it is counted). */
int cg_gate_defer(struct cg_gate *g, struct cg_gate_item *it, enum cg_rl_class cls);

/* The counted request could not be sent after all: its count is undone. */
void cg_gate_unsent(struct cg_gate *g, struct cg_gate_item *it);

/*
 * What every answer to an item's request does first: metrics, the rate-limit window, the
 * circuit. Returns -1 when the item was parked (429: it goes again when the window resets),
 * otherwise the circuit class of the answer (enum cg_circuit_class).
 */
int cg_gate_answer(struct cg_gate *g, struct cg_gate_item *it, const char *step, const struct cg_dd_result *res);

/* The same for a read of the owner's own (CG_RL_READ, no item behind it). */
void cg_gate_answer_read(struct cg_gate *g, const char *step, const struct cg_dd_result *res);

/* The item's request failed the outage's way: it is held (no attempt is burnt) and goes first. */
void cg_gate_park_held(struct cg_gate *g, struct cg_gate_item *it);

/* The item's owner ends it (finished, or released at stop): the gate forgets it. */
void cg_gate_gone(struct cg_gate *g, struct cg_gate_item *it);

/* 1 while the circuit is open; why (may be NULL) gets a sentence for /readyz and logs. */
int cg_gate_state(const struct cg_gate *g, char *why, size_t len);

/* Stops probing and pacing: every waiting and held item is released through the hooks. */
void cg_gate_stop(struct cg_gate *g);

/* Closes the gate; it is freed once its timers closed and its probe answered. Accepts NULL. */
void cg_gate_destroy(struct cg_gate *g);

#endif
