/* state.h: the intake part's insides, shared by its files only (webhooks, mail, admission). */
#ifndef CG_INTAKE_STATE_H
#define CG_INTAKE_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "heartbeat.h"
#include "storm.h"
#include "intake.h"
#include "lmtp.h"
#include "tbucket.h"

/* A configuration generation: intake work on worker threads holds a reference so that a reload
 * cannot free the source and builder it reads; the reload retires the old generation and its
 * last reference frees it. */
struct cg_intake_gen {
	struct cg_config *cfg; /* set when retired (owned): freed with the last reference */
	struct cg_builder **builders;
	unsigned refs;
	int retired;
};

/* A webhook source's per-request counters and label, made once per configuration (not per request). */
struct cg_intake_hot {
	char label[160];     /* source="<name>" */
	double *answered202; /* casegate_http_requests_total{source,code="202"} */
	double *accepted;    /* casegate_events_accepted_total{source} */
};

struct cg_intake {
	struct cg_intake_deps d;
	struct cg_config *cfg;         /* the running configuration (owned) */
	struct cg_builder **builders;  /* one per cfg->sources[i] */
	struct cg_intake_gen *gen;     /* the running configuration's generation */
	struct cg_lmtp_server *mail;   /* the mail listener; NULL without `mail.listen` */
	struct cg_heartbeat *hb;       /* the sources' heartbeats (heartbeat.c) */
	struct cg_storm *storm;        /* the sources' storm digests and gauges (storm.c) */
	struct cg_store_stats stats;
	int store_full;                /* the last write failed for lack of space */
	int store_down;                /* the last statistics query failed (database unreachable) */
	int stopping;
	/* Admission (admission.c). */
	struct cg_tbucket rl_global;
	struct cg_tbucket *rl_sources; /* one per cfg->sources[i] */
	struct cg_intake_hot *hot;     /* one per cfg->sources[i] (admission.c) */
	size_t pending_bytes;          /* webhook bytes waiting for the store */
	int probe_busy;                /* a store-space probe is queued */
	/* Work on worker threads. */
	unsigned working;              /* jobs between uv_queue_work and their completion */
	void (*idle_cb)(void *ud);     /* cg_intake_when_idle */
	void *idle_ud;
};

/* A reference to the running configuration for work off the loop; release on the loop. */
struct cg_intake_gen *cg_intake_gen_acquire(struct cg_intake *in);
void cg_intake_gen_release(struct cg_intake *in, struct cg_intake_gen *g);

/* Intake work outside a generation reference (a webhook waiting for its journal append):
 * cg_intake_when_idle waits for it too. */
void cg_intake_work_begin(struct cg_intake *in);
void cg_intake_work_end(struct cg_intake *in);

/* Events were stored: tell the daemon (delivery may start), unless intake is stopping. */
void cg_intake_committed(struct cg_intake *in);

/* What counts toward queue.store_max_bytes: the store and the intake journal's segment files. */
uint64_t cg_intake_store_bytes(const struct cg_intake *in);

/* The metric label of a source: source="<name>" (escaped). */
void cg_intake_source_label(const char *name, char *out, size_t len);

/* Counts a webhook answer in casegate_http_requests_total{source,code}. */
void cg_intake_count(struct cg_intake *in, const char *source_label, int status);

#endif
