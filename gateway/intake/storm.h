/* storm.h: alert storms: past a source's max_new_cases new cases per window, its new alerts fold into one storm case. */
#ifndef CG_STORM_H
#define CG_STORM_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "metrics.h"
#include "store.h"
#include "storeq.h"

/*
 * A source with `storm: { max_new_cases, per, digest_interval }` counts its new alerts (a firing
 * alert whose key has no event queued and no case open) in windows of `per`. Past max_new_cases
 * in a window, further new alerts open no case of their own: they fold into one storm case
 * (dedup key "<source>:#storm-<ms>"), created from the most urgent of the alerts that started it,
 * its description listing them. Each folded alert is remembered against the storm case:
 *   - a repeat adds nothing, unless it is more urgent than the storm case: then the storm case is
 *     raised to its priority (an escalation, as any alert's);
 *   - a resolution ticks it off; when every folded alert has resolved, the storm case is resolved
 *     (the source's on_resolve);
 *   - a note (acknowledgement, mail reply) lands on the storm case.
 * Newly folded and resolved alerts are named in one digest comment per digest_interval (a storm
 * resolving flushes its digest first). The storm goes on while each window of `per` sees more
 * than max_new_cases new alerts; after a window with fewer, new alerts open cases again.
 *
 * Everything is decided in the store transaction that stores the webhook's (or mail's) events,
 * under the store's document lock (cg_store_kv_lock), so a fleet of replicas counts one window.
 */

/* A source's storm rule, copied (a reload may free the config while a store job runs). */
struct cg_storm_rule {
	char source[128];
	unsigned max_new;   /* 0: no storm folding */
	int64_t per_ms, digest_ms;
};

/* Fills r from src; returns 1 when src folds storms, 0 when not (r->max_new is then 0). */
int cg_storm_rule_of(const struct cg_source_config *src, struct cg_storm_rule *r);

/* What one fold decided: the events to enqueue instead of the originals, and counts. */
struct cg_storm_fold {
	struct cg_store_event *evs; /* owned; ids written by the enqueue */
	size_t n;
	size_t folded;   /* new alerts folded into a storm case */
	size_t absorbed; /* repeats of folded alerts that added nothing */
	size_t started;  /* storm cases this fold opened */
};

/*
 * In the store transaction that stores them: decides what the n events of r's source (accepted
 * at now) do under r, and puts the events to enqueue instead in out (cleaned first: a job re-run
 * after its batch rolled back decides afresh). evs are left untouched. 0, or a store error /
 * CG_ENOMEM (the transaction must then roll back).
 */
int cg_storm_fold(struct cg_store *st, const struct cg_storm_rule *r, const struct cg_store_event *evs, size_t n,
		  int64_t now, struct cg_storm_fold *out);
void cg_storm_fold_cleanup(struct cg_storm_fold *f);
/* Stores evs of r's source in the caller's transaction: as they are, or what storm folding makes
 * of them when r folds (out then says what was stored). */
int cg_storm_enqueue(struct cg_store *st, const struct cg_storm_rule *r, struct cg_store_event *evs, size_t n,
		     int64_t now, struct cg_storm_fold *out);

/* A storm as `casegate status` shows it (parsed from the store's documents). */
struct cg_storm_info {
	char *source;
	char *key;          /* the storm case's dedup key */
	int64_t started_ms;
	int priority;
	long members, open; /* alerts folded, of which still firing */
};
/* Every storm not yet resolved, by key; freed with cg_storm_infos_free. */
int cg_storm_list(struct cg_store *st, struct cg_storm_info **out, size_t *nout);
void cg_storm_infos_free(struct cg_storm_info *v, size_t n);

/* ---- the daemon's side: digests and gauges ---- */

struct cg_storm;

struct cg_storm_deps {
	struct cg_storeq *q;
	struct cg_metrics *metrics;
	void (*committed)(void *ud); /* a digest event was stored: delivery may start */
	void *ud;
};

int cg_storm_create(const struct cg_storm_deps *deps, struct cg_storm **out);
/* Takes cfg's storm sources (at start and after every reload; cfg must outlive the next call). */
int cg_storm_configure(struct cg_storm *sm, const struct cg_config *cfg);
/* Once a second: one store job queues the digests that are due and reads the storms for the
 * gauges (nothing when no source folds storms, or the last job still runs). */
void cg_storm_tick(struct cg_storm *sm);
/* Intake folded alerts of src: counts them (loop thread). */
void cg_storm_counted(struct cg_storm *sm, const char *source, const struct cg_storm_fold *f);
void cg_storm_destroy(struct cg_storm *sm);

#endif
