/* engine.h: delivers queued events to the Case API, one operation in flight per dedup key. */
#ifndef CG_ENGINE_H
#define CG_ENGINE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "ddclient.h"
#include "metrics.h"
#include "storeq.h"

struct cg_engine;

struct cg_engine_opts {
	unsigned max_inflight;     /* operations in progress at once */
	uint64_t retry_base_ms, retry_cap_ms;
	unsigned max_attempts;     /* 0 = forever */
};

int cg_engine_create(uv_loop_t *loop, struct cg_storeq *q, struct cg_dd_client *dd, struct cg_metrics *metrics,
		     const struct cg_config *cfg, struct cg_engine **out);

/* Swaps the configuration (reload); operations in flight keep their decisions. */
void cg_engine_set_config(struct cg_engine *e, const struct cg_config *cfg);

/* New work may be due: claim and start what fits. Cheap to call often. */
void cg_engine_kick(struct cg_engine *e);

/* Stops starting work; when operations in flight have finished their current request and
 * saved their progress, on_stopped runs. Unfinished events stay queued in the store. */
void cg_engine_stop(struct cg_engine *e, void (*on_stopped)(void *ud), void *ud);
void cg_engine_destroy(struct cg_engine *e);

unsigned cg_engine_inflight(const struct cg_engine *e);

/* 1 while the Case API circuit holds the queue (Datadog down, or refusing the keys); why (may be
 * NULL) gets a sentence for /readyz and logs. 0 when deliveries flow. */
int cg_engine_datadog_state(const struct cg_engine *e, char *why, size_t len);

/*
 * The CaseCreateRequest as sent: the drafted body with the idempotency marker (and the
 * previous case's key, when there is one) appended to the description. marker receives
 * "cg" + 32 hex characters (one search token). Returns a new cJSON or NULL on ENOMEM.
 */
cJSON *cg_engine_create_body(const cJSON *draft_create, const char *dedup_key, int generation,
			     const char *prev_case_key, char marker[40]);


#endif
