/* heartbeat.h: per-source heartbeats (dead-man's switch): a source gone silent gets a case of its own, closed when it is heard again. */
#ifndef CG_HEARTBEAT_H
#define CG_HEARTBEAT_H

#include <stdint.h>

#include "config.h"
#include "event.h"
#include "metrics.h"
#include "storeq.h"

/*
 * A source with `heartbeat: { every, grace, priority, alert }` promises traffic at least every
 * `every`. Intake tells the store when it heard the source (at most once a second per source,
 * in the transaction that stores the webhook's events: no store round trip of its own). Every
 * second the daemon calls cg_heartbeat_tick: one store job lists the heartbeats; a source silent
 * for every + grace gets a firing event (title "casegate: source '<name>' went silent", dedup key
 * "<name>:casegate-heartbeat", the configured priority, the source's project and case type),
 * and a raised source heard again gets the resolved event (the source's on_resolve closes the
 * case). Each decision is made in the store in the transaction that queues its event, so a
 * restart or a fleet of replicas raises it once.
 */

/* The heartbeat event's dedup key, before the builder namespaces it with the source name. */
#define CG_HEARTBEAT_KEY "casegate-heartbeat"

struct cg_heartbeat;

struct cg_heartbeat_deps {
	struct cg_storeq *q;
	struct cg_metrics *metrics;
	void (*committed)(void *ud); /* a heartbeat event was stored: delivery may start */
	void *ud;
};

/* 0 or CG_ENOMEM. */
int cg_heartbeat_create(const struct cg_heartbeat_deps *deps, struct cg_heartbeat **out);

/*
 * Takes cfg's heartbeat sources as the ones to watch (at start and after every reload; cfg must
 * stay valid until the next call or destroy). Their store records are created at the next tick
 * (a source never heard is counted from then, and keeps that start across restarts). 0 or
 * CG_ENOMEM / CG_EINVAL (err says which source): the previous set stays.
 */
int cg_heartbeat_configure(struct cg_heartbeat *hb, const struct cg_config *cfg, char *err, size_t errlen);

/* Checks the deadlines (one store job; nothing when the last check is still running). */
void cg_heartbeat_tick(struct cg_heartbeat *hb);

/*
 * Intake heard src at now_ms, with `alerts` events stored and `beats` firing heartbeat alerts.
 * Returns the time to record in the store (cg_store_hb_heard, in the transaction that stores
 * the events), or 0 when nothing needs recording: src has no heartbeat, this traffic does not
 * count (with `alert:`, only heartbeat alerts do), or a record under a second old stands.
 * Loop thread only.
 */
int64_t cg_heartbeat_heard(struct cg_heartbeat *hb, const struct cg_source_config *src, size_t alerts, size_t beats,
			   int64_t now_ms);

/* 1 when ev is src's heartbeat alert (src has `heartbeat.alert` and ev's alertname label, or
 * without one its title, is that name): it opens no case. Pure: any thread. */
int cg_heartbeat_is_beat(const struct cg_source_config *src, const struct cg_event *ev);

/* Accepts NULL. Store jobs still queued keep what they need: their completions only find hb gone
 * when destroy runs after the store queue delivered them (the daemon's order). */
void cg_heartbeat_destroy(struct cg_heartbeat *hb);

#endif
