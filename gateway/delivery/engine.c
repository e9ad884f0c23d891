/* engine.c: claims due events from the store and drives each through its case requests. */
#define CG_LOG_COMPONENT "engine"
#include "engine.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "ddanswer.h"
#include "engine_int.h"
#include "err.h"
#include "event.h"
#include "log.h"
#include "retry.h"

int64_t cg_eng_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t cg_eng_rnd64(void)
{
	uint64_t r = 0;
	if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
		r = (uint64_t)cg_eng_wall_ms() * 6364136223846793005ULL;
	return r;
}


static char *dupstr(const char *s)
{
	return s ? strdup(s) : NULL;
}

void cg_eng_set_str(char **dst, const char *v)
{
	char *c = v ? strdup(v) : NULL;
	free(*dst);
	*dst = c;
}

cJSON *cg_engine_create_body(const cJSON *draft_create, const char *dedup_key, int generation,
			     const char *prev_case_key, char marker[40])
{
	return cg_req_create_body(draft_create, dedup_key, generation, prev_case_key, marker);
}

static void op_run(struct op *op);

static void timer_cb(uv_timer_t *t)
{
	struct cg_engine *e = t->data;
	e->timer_due = 0;
	cg_engine_kick(e);
}

int cg_engine_create(uv_loop_t *loop, struct cg_storeq *q, struct cg_dd_client *dd, struct cg_metrics *metrics,
		     const struct cg_config *cfg, struct cg_engine **out)
{
	struct cg_engine *e = calloc(1, sizeof(*e));
	if (!e)
		return CG_ENOMEM;
	e->loop = loop;
	e->q = q;
	e->dd = dd;
	e->metrics = metrics;
	e->cfg = cfg;
	uv_timer_init(loop, &e->timer);
	e->timer.data = e;
	uv_timer_init(loop, &e->store_timer);
	e->store_timer.data = e;
	uv_timer_init(loop, &e->bulk_timer);
	e->bulk_timer.data = e;
	uv_timer_init(loop, &e->sweep_timer);
	e->sweep_timer.data = e;
	cg_gate_init(e);
	cg_metrics_describe(metrics, "casegate_events_total", CG_COUNTER,
			    "Events applied to cases, by source and action");
	cg_metrics_describe(metrics, "casegate_deliveries_total", CG_COUNTER,
			    "Case API requests by source, step and outcome");
	cg_metrics_describe(metrics, "casegate_delivery_http_total", CG_COUNTER, "Case API answers by HTTP status");
	cg_metrics_describe(metrics, "casegate_retries_total", CG_COUNTER, "Requests scheduled for retry, by source");
	cg_metrics_describe(metrics, "casegate_dead_letters_total", CG_COUNTER, "Events moved to the dead-letter table");
	cg_metrics_describe(metrics, "casegate_reconciliations_total", CG_COUNTER,
			    "Unknown create outcomes resolved by searching, by result");
	cg_metrics_describe(metrics, "casegate_outbound_latency_seconds", CG_HISTOGRAM,
			    "Case API request latency by step");
	cg_metrics_describe(metrics, "casegate_optional_dropped_total", CG_COUNTER,
			    "Optional parts of creates and updates that Datadog would not take, by source and what");
	cg_metrics_describe(metrics, "casegate_case_refreshes_total", CG_COUNTER,
			    "Cases read back from Datadog before acting on them, by what was found");
	*out = e;
	cg_acts_start(e);
	cg_catypes_fetch(e);
	return 0;
}

void cg_engine_set_config(struct cg_engine *e, const struct cg_config *cfg)
{
	e->cfg = cfg;
	cg_gate_config(e);
	cg_acts_start(e);
	cg_catypes_fetch(e);
}

unsigned cg_engine_inflight(const struct cg_engine *e)
{
	return e->inflight;
}

void cg_eng_maybe_stopped(struct cg_engine *e)
{
	if (e->stopping && e->inflight == 0 && !e->claiming && !e->sweeping && e->on_stopped) {
		void (*cb)(void *) = e->on_stopped;
		e->on_stopped = NULL;
		cb(e->stopped_ud);
	}
}

static void engine_free(struct cg_engine *e)
{
	cg_projects_cleanup(&e->projects);
	cg_catypes_cleanup(&e->types);
	free(e);
}

static void timer_closed(uv_handle_t *h)
{
	struct cg_engine *e = h->data;
	/* The timers share the engine: free it when the last one has closed and no engine-level
	 * request (projects, probe, case types) is still to call back. */
	if (++e->closed == ENGINE_TIMERS && !e->pending_cb)
		engine_free(e);
}

/* An engine-level request answered: frees a destroyed engine when it was the last thing. 1 when
 * the engine is gone (the caller must not touch it). */
int cg_eng_request_back(struct cg_engine *e);
int cg_eng_request_back(struct cg_engine *e)
{
	e->pending_cb--;
	if (e->closed == ENGINE_TIMERS) {
		if (!e->pending_cb)
			engine_free(e);
		return 1;
	}
	return 0;
}

void cg_engine_stop(struct cg_engine *e, void (*on_stopped)(void *ud), void *ud)
{
	e->stopping = 1;
	e->on_stopped = on_stopped;
	e->stopped_ud = ud;
	uv_timer_stop(&e->timer);
	cg_acts_stop(e);
	/* Waiting and held ops have saved their progress: they resume from the store after restart. */
	cg_gate_stop(e);
	/* Ops whose store job failed: their events stay in flight and are retried after restart. */
	uv_timer_stop(&e->store_timer);
	struct op *list = e->sr_head;
	e->sr_head = e->sr_tail = NULL;
	while (list) {
		struct op *op = list;
		list = op->sr_next;
		cg_eng_op_release(op);
	}
	cg_eng_maybe_stopped(e);
}

void cg_engine_destroy(struct cg_engine *e)
{
	if (!e)
		return;
	uv_close((uv_handle_t *)&e->timer, timer_closed);
	uv_close((uv_handle_t *)&e->store_timer, timer_closed);
	uv_close((uv_handle_t *)&e->bulk_timer, timer_closed);
	uv_close((uv_handle_t *)&e->sweep_timer, timer_closed);
	cg_gate_close_handles(e, timer_closed);
}

void cg_eng_arm_timer(struct cg_engine *e, int64_t due)
{
	if (e->stopping)
		return;
	if (e->timer_due && e->timer_due <= due)
		return;
	int64_t now = cg_eng_wall_ms();
	e->timer_due = due;
	uv_timer_start(&e->timer, timer_cb, due > now ? (uint64_t)(due - now) : 0, 0);
}

/* ---- claiming ---- */

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

static void claim_reset(struct claim_job *j)
{
	if (j->cases)
		for (size_t i = 0; i < j->n; i++)
			cg_store_case_cleanup(&j->cases[i]);
	free(j->cases);
	if (j->evs)
		cg_store_events_free(j->evs, j->n);
	j->cases = NULL;
	j->evs = NULL;
	j->n = 0;
	j->has_next = 0;
}

static int claim_run(struct cg_store *st, void *ud)
{
	struct claim_job *j = ud;
	/* storeq re-runs a job alone when its batch failed: start from nothing. */
	claim_reset(j);
	int rc = cg_store_claim(st, j->now, j->limit, &j->evs, &j->n);
	if (rc)
		return rc;
	if (j->n) {
		j->cases = calloc(j->n, sizeof(*j->cases));
		if (!j->cases)
			return CG_ENOMEM;
		for (size_t i = 0; i < j->n; i++) {
			rc = cg_store_case_get(st, j->evs[i].dedup_key, &j->cases[i]);
			if (rc == CG_ENOENT)
				rc = 0;
			if (rc)
				return rc;
		}
	}
	rc = cg_store_next_due_ms(st, &j->next_due);
	if (rc == 0)
		j->has_next = 1;
	return rc == CG_ENOENT ? 0 : rc;
}

static void claim_free(struct claim_job *j)
{
	claim_reset(j);
	free(j);
}

static void op_start(struct cg_engine *e, struct cg_store_event *ev, struct cg_store_case *cs);

static void claim_done(int rc, void *ud)
{
	struct claim_job *j = ud;
	struct cg_engine *e = j->e;
	e->claiming = 0;
	if (rc) {
		CG_LOG_ERR("claiming due events failed: %s", cg_strerror(rc));
		/* Claims were rolled back with the batch; try again shortly. */
		claim_free(j);
		cg_eng_arm_timer(e, cg_eng_wall_ms() + 1000);
		cg_eng_maybe_stopped(e);
		return;
	}
	for (size_t i = 0; i < j->n && !e->stopping; i++) {
		/* Ownership of the event and case strings moves to the op. After stop nothing
		 * starts: the claimed events stay in flight and are pending again at next start. */
		op_start(e, &j->evs[i], &j->cases[i]);
		memset(&j->evs[i], 0, sizeof(j->evs[i]));
		memset(&j->cases[i], 0, sizeof(j->cases[i]));
	}
	size_t got = j->n, limit = j->limit;
	if (got < limit && j->has_next)
		cg_eng_arm_timer(e, j->next_due);
	claim_free(j);
	if (e->stopping) {
		cg_eng_maybe_stopped(e);
		return;
	}
	if (e->rekick || got == limit) {
		e->rekick = 0;
		cg_engine_kick(e);
	}
}

void cg_engine_kick(struct cg_engine *e)
{
	if (e->stopping)
		return;
	/* Datadog is down or refuses the keys: the queue holds (the probe resumes it). */
	if (cg_gate_holding(e))
		return;
	if (e->claiming) {
		e->rekick = 1;
		return;
	}
	unsigned max = e->cfg->max_inflight ? e->cfg->max_inflight : 16;
	if (e->inflight >= max)
		return;
	int64_t now = cg_eng_wall_ms();
	struct claim_job *j = calloc(1, sizeof(*j));
	if (!j) {
		cg_eng_arm_timer(e, now + 1000);
		return;
	}
	j->e = e;
	j->now = now;
	j->limit = max - e->inflight;
	e->claiming = 1;
	e->rekick = 0;
	if (cg_storeq_submit(e->q, claim_run, claim_done, j) != 0) {
		e->claiming = 0;
		free(j);
		cg_eng_arm_timer(e, now + 1000);
	}
}

/* ---- one operation ---- */

const struct cg_source_config *cg_eng_find_source(const struct cg_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nsources; i++)
		if (strcmp(cfg->sources[i].name, name) == 0)
			return &cfg->sources[i];
	return NULL;
}





const char *cg_eng_case_ref(const struct op *op)
{
	return op->cs.case_id ? op->cs.case_id : op->cs.case_key;
}


void cg_eng_op_send_step(struct op *op)
{
	if (cg_eng_lease_lost(op))
		return;
	if (cg_gate_hold(op))
		return;
	if (op->refreshing) {
		cg_refresh_send(op);
		return;
	}
	enum cg_step s = op->steps[op->index];
	if (s == CG_STEP_CREATE && cg_acts_project_wait(op))
		return;
	/* The create's outcome never became known: find the case before creating again, or before
	 * acting on it (a given-up create); without the case there is nothing to update. */
	if (op->cs.state == CG_CASE_CREATING && op->cs.marker &&
	    (s == CG_STEP_CREATE ? op->need_reconcile : !cg_eng_case_ref(op))) {
		cg_recon_send(op);
		return;
	}
	op->reconciling = 0;
	if (s != CG_STEP_CREATE && !cg_eng_case_ref(op)) {
		/* Checked before the gate: nothing is sent, so nothing may count as on the wire. */
		snprintf(op->reason, sizeof(op->reason), "no case id for step %s", cg_step_name(s));
		op->http_status = 0;
		cg_eng_op_finish(op, FIN_DEAD);
		return;
	}
	if (s == CG_STEP_PRIORITY && cg_acts_bulk_collect(op))
		return;
	cg_eng_send_request(op, op->bulk_members ? CG_REQ_BULK_PRIORITY : cg_req_of_step(s));
}

/* What op's requests are built from (requests.h). */
static void req_ctx(const struct op *op, struct cg_req_ctx *c)
{
	struct cg_engine *e = op->e;
	const struct cg_source_config *src = cg_eng_find_source(e->cfg, op->ev.source);
	memset(c, 0, sizeof(*c));
	c->cs = &op->cs;
	c->pl = &op->pl;
	c->dedup_key = op->ev.dedup_key;
	c->action = op->action;
	c->steps = op->steps;
	c->index = op->index;
	c->prio_before = op->prio_before;
	c->prio = op->ev.priority;
	c->severity = op->ev.severity;
	c->now = op->now;
	c->src = src;
	c->life = &op->src;
	c->strip = op->strip;
	c->catype = cg_eng_catype(e, src);
	c->marker_attr = e->cfg->dd_marker_attr;
	c->projects = &e->projects;
}

void cg_eng_send_request(struct op *op, enum cg_req_kind k)
{
	struct cg_engine *e = op->e;
	const struct cg_req_row *row = cg_req_row(k);
	struct cg_req_ctx ctx;
	struct cg_request rq;
	const char **ids = NULL;
	req_ctx(op, &ctx);
	if (k == CG_REQ_BULK_PRIORITY && !(ids = cg_acts_bulk_ids(op, &ctx.ncase_ids))) {
		cg_eng_send_failed(op, row->name, CG_ENOMEM);
		return;
	}
	ctx.case_ids = ids;
	int rc = cg_req_build(k, &ctx, &rq);
	free(ids);
	if (rc == 1) {
		/* An action step with nothing to do (cg_actions_args): skipped. */
		CG_LOG_DEBUG("key=%s: %s: nothing to do", op->ev.dedup_key, row->name);
		cg_actions_record(row->step, 0, &op->cs);
		cg_eng_op_advance(op);
		return;
	}
	if (rc) {
		snprintf(op->reason, sizeof(op->reason), "could not build %s: %s", row->name, cg_strerror(rc));
		cg_eng_op_retry(op, NULL);
		return;
	}
	if (cg_gate_defer(op, row->rl)) {
		cg_request_cleanup(&rq);
		return;
	}
	if (rq.dropped > 0) {
		char labels[256];
		snprintf(labels, sizeof(labels), "%s,what=\"custom_attributes\"", op->source_label);
		cg_metrics_add(e->metrics, "casegate_optional_dropped_total", labels, 1);
	}
	/* Creates are the one request casegate cannot repeat blindly: never let libcurl replay one. */
	rc = cg_dd_request_flags(e->dd, row->method, rq.path, rq.body, rq.body_len, row->create ? CG_DD_NO_REPLAY : 0,
				 k == CG_REQ_BULK_PRIORITY ? cg_acts_bulk_done : cg_eng_dd_done, op);
	if (rc == 0 && k == CG_REQ_BULK_PRIORITY)
		CG_LOG_DEBUG("bulk priority change of %zu cases", ctx.ncase_ids);
	cg_request_cleanup(&rq);
	if (rc)
		cg_eng_send_failed(op, row->name, rc);
}

/* Moves the case into CREATING (persisted) before the create request leaves. */
static void op_begin_create(struct op *op)
{
	struct cg_store_case *c = &op->cs;
	if (c->state == CG_CASE_CLOSED) {
		/* After the reopen window: a new case that points back to the old one. */
		cg_eng_set_str(&c->prev_case_key, c->case_key);
		cg_eng_set_str(&c->prev_case_id, c->case_id);
	}
	c->action_flags = 0; /* one-shot actions are per case */
	cg_eng_set_str(&c->case_id, NULL);
	cg_eng_set_str(&c->case_key, NULL);
	c->generation++;
	c->state = CG_CASE_CREATING;
	/* Search lag is measured from here: a crash between this save and the send counts too. */
	c->sent_ms = cg_eng_wall_ms();
	char marker[40];
	cg_req_marker(op->ev.dedup_key, c->generation, marker);
	cg_eng_set_str(&c->marker, marker);
	cg_eng_op_save_progress(op);
}

void cg_eng_op_run(struct op *op)
{
	op_run(op);
}

static void op_run(struct op *op)
{
	if (op->index >= op->nsteps) {
		cg_eng_op_finish(op, FIN_DONE);
		return;
	}
	cg_eng_op_send_step(op);
}

/*
 * Copies the lifecycle settings of src into op. Only these, and the strings copied: a reload
 * frees the config while the op (waiting on a request, a store job or the rate-limit window)
 * still runs, so op->src must own every pointer it keeps.
 */
static int lifecycle_copy(struct op *op, const struct cg_source_config *src)
{
	struct cg_source_config *d = &op->src;
	d->on_repeat = src->on_repeat;
	d->digest_interval_ms = src->digest_interval_ms;
	d->on_resolve = src->on_resolve;
	d->reopen_window_ms = src->reopen_window_ms;
	d->raise_priority = src->raise_priority;
	d->lower_priority = src->lower_priority;
	d->status_name = dupstr(src->status_name);
	d->reopen_status_name = dupstr(src->reopen_status_name);
	if ((src->status_name && !d->status_name) || (src->reopen_status_name && !d->reopen_status_name))
		return CG_ENOMEM;
	return 0;
}

/* The action of a fresh event against the case as op->cs has it, and its steps. */
static void op_plan(struct op *op)
{
	const struct cg_source_config *src = cg_eng_find_source(op->e->cfg, op->ev.source);
	int has_attrs = cg_payload_has_attributes(&op->pl);
	int has_insights = cg_payload_has_insights(&op->pl);
	/* The case's priority before this event: escalation actions compare against it (unchanged in
	 * the store until the event finishes, so a resumed event computes the same steps). */
	op->prio_before = op->cs.priority;
	op->action = cg_lifecycle_decide(op->ev.status, op->ev.priority, &op->cs, &op->src, op->now);
	op->nsteps = cg_lifecycle_steps(op->action, &op->src, has_attrs, op->cs.state, op->steps);
	/* A new case after the reopen window follows the current one (op_begin_create records it). */
	int will_have_prev = op->action == CG_ACT_CREATE &&
			     (op->cs.state == CG_CASE_CLOSED ? op->cs.case_id != NULL : op->cs.prev_case_id != NULL);
	op->nsteps = cg_actions_steps(op->action, src ? src : &op->src, op->prio_before, op->ev.priority, has_insights,
				      will_have_prev, op->steps, op->nsteps, CG_MAX_STEPS);
	op->index = 0;
}

/* The decision stands (the case was read back, or needed no reading): carry it out. */
void cg_eng_op_decided(struct op *op)
{
	op->decided = 1;
	if (op->action == CG_ACT_CREATE && op->cs.state != CG_CASE_CREATING) {
		op_begin_create(op);
		return;
	}
	op_run(op);
}

/* After a refresh changed what casegate knows of the case: decide again. */
void cg_eng_op_replan(struct op *op);
void cg_eng_op_replan(struct op *op)
{
	op_plan(op);
	cg_eng_op_decided(op);
}

static void op_start(struct cg_engine *e, struct cg_store_event *ev, struct cg_store_case *cs)
{
	struct op *op = calloc(1, sizeof(*op));
	if (!op) {
		/* Leave the event in flight; it is retried after restart. Should not happen. */
		CG_LOG_ERR("out of memory starting event %" PRId64, ev->id);
		cg_store_event_cleanup(ev);
		cg_store_case_cleanup(cs);
		return;
	}
	e->inflight++;
	op->e = e;
	op->ev = *ev;
	op->cs = *cs;
	op->now = cg_eng_wall_ms();
	op->claimed_mono = uv_now(e->loop);
	cg_store_hold(cg_storeq_store(e->q), op->ev.id, op->ev.lease, 1);
	if (!op->cs.dedup_key) {
		op->cs.dedup_key = dupstr(op->ev.dedup_key);
		op->cs.state = CG_CASE_NONE;
	}
	op->need_reconcile = op->cs.state == CG_CASE_CREATING;
	if (cg_eng_case_copy(&op->before, &op->cs) != 0 || !op->cs.dedup_key) {
		snprintf(op->reason, sizeof(op->reason), "out of memory");
		cg_eng_op_retry(op, NULL);
		return;
	}
	char esc[128];
	cg_metrics_escape(op->ev.source, esc, sizeof(esc));
	snprintf(op->source_label, sizeof(op->source_label), "source=\"%s\"", esc);

	const struct cg_source_config *src = cg_eng_find_source(e->cfg, op->ev.source);
	cg_lifecycle_defaults(&op->src);
	if (src && lifecycle_copy(op, src) != 0) {
		snprintf(op->reason, sizeof(op->reason), "out of memory");
		cg_eng_op_retry(op, NULL);
		return;
	}

	if (cg_payload_decode(op->ev.payload, &op->pl) != 0) {
		snprintf(op->reason, sizeof(op->reason), "stored event payload is not valid JSON");
		cg_eng_op_finish(op, FIN_DEAD);
		return;
	}

	if (op->ev.step != 0 && !(cg_step_action(op->ev.step) == CG_ACT_CREATE && cg_step_index(op->ev.step) == 0)) {
		/* Resume where an earlier attempt stopped; its decision stands. A create at index 0
		 * is decided again: its CREATING mark was undone when the attempt certainly failed,
		 * and op_begin_create must persist it again before the create is sent. */
		int has_attrs = cg_payload_has_attributes(&op->pl);
		int has_insights = cg_payload_has_insights(&op->pl);
		op->prio_before = op->cs.priority;
		op->action = cg_step_action(op->ev.step);
		op->index = cg_step_index(op->ev.step);
		op->decided = 1;
		if (op->action == CG_ACT_SYNC) {
			/* Datadog said the case changed: read it back; nothing else to do. */
			op->nsteps = 0;
			if (!op->cs.case_id) {
				op->action = CG_ACT_IGNORE;
				cg_eng_op_finish(op, FIN_DONE);
				return;
			}
			op->refreshing = 1;
			cg_eng_op_send_step(op);
			return;
		}
		op->nsteps = cg_lifecycle_steps(op->action, &op->src, has_attrs, op->cs.state, op->steps);
		op->nsteps = cg_actions_steps(op->action, src ? src : &op->src, op->prio_before, op->ev.priority,
					      has_insights, op->cs.prev_case_id != NULL, op->steps, op->nsteps,
					      CG_MAX_STEPS);
		op_run(op);
		return;
	}
	op_plan(op);
	if (cg_refresh_due(op)) {
		/* casegate's record is a cache: read the case back before acting on an old one. */
		op->refreshing = 1;
		cg_eng_op_send_step(op);
		return;
	}
	cg_eng_op_decided(op);
}

/* A create that Datadog refused as invalid: drop what is optional (custom attributes first, then
 * assignee and status) and send it again at once. 1 when it went again. */
static int create_fallback(struct op *op, const struct cg_dd_result *res)
{
	if (res->status != 400 && res->status != 422)
		return 0;
	int next = cg_req_create_strip_next(op->pl.create, op->strip);
	if (next <= 0)
		return 0;
	op->strip = next;
	char labels[256];
	snprintf(labels, sizeof(labels), "%s,what=\"%s\"", op->source_label,
		 op->strip == 1 ? "custom_attributes" : "assignee_status");
	cg_metrics_add(op->e->metrics, "casegate_optional_dropped_total", labels, 1);
	CG_LOG_EV(CG_LOG_LEVEL_WARN, op->ev.source, op->ev.dedup_key, NULL,
		  "Datadog refused the create (%s): sending it again without its %s (kept in the description)",
		  op->reason, op->strip == 1 ? "custom attributes" : "assignee and status");
	/* Certainly not created (4xx): no search needed; the CREATING mark stays on disk. */
	op->need_reconcile = 0;
	op->cs.sent_ms = cg_eng_wall_ms();
	cg_eng_op_send_step(op);
	return 1;
}

static int certainly_not_created(const struct cg_dd_result *res)
{
	return (res->transport_error && !res->maybe_sent) || (res->status >= 400 && res->status < 500);
}

/* After a held request: what the op must do first when it goes again. */
static void prepare_hold(struct op *op, const struct cg_dd_result *res)
{
	enum cg_step s = op->steps[op->index];
	if (!op->refreshing && !op->reconciling && s == CG_STEP_CREATE)
		op->need_reconcile = !certainly_not_created(res);
}

void cg_eng_dd_done(const struct cg_dd_result *res, void *ud)
{
	struct op *op = ud;
	struct cg_engine *e = op->e;
	enum cg_step s = op->steps[op->index];
	const char *step = op->refreshing ? "refresh" : op->reconciling ? "search" : cg_step_name(s);
	char labels[320];
	int cc = cg_gate_answer(e, op, op->rl_class, op->rl_bucket, step, res);
	if (cc < 0)
		return; /* parked until the rate-limit window resets */
	enum cg_outcome oc = cg_retry_classify(res->transport_error, res->status);
	snprintf(labels, sizeof(labels), "%s,step=\"%s\",outcome=\"%s\"", op->source_label, step,
		 oc == CG_DELIVERED ? "delivered" : oc == CG_RETRY_LATER ? "retry" : "give_up");
	cg_metrics_add(e->metrics, "casegate_deliveries_total", labels, 1);
	if (oc != CG_DELIVERED) {
		char why[300];
		if (res->transport_error)
			snprintf(why, sizeof(why), "%s", res->errmsg);
		else
			cg_dd_answer_error(res->body, res->body_len, why, sizeof(why));
		if (res->transport_error)
			snprintf(op->reason, sizeof(op->reason), "%s: %s", step, why);
		else
			snprintf(op->reason, sizeof(op->reason), "%s: HTTP %ld: %s", step, res->status, why);
		op->http_status = (int)res->status;
	}
	if (cc != CG_CIRCUIT_ANSWERED && e->circ.open) {
		/* Datadog is down or refuses the keys: this request waits for the outage to end. */
		prepare_hold(op, res);
		cg_gate_park_held(op);
		return;
	}
	if (op->refreshing) {
		cg_refresh_answer(op, res);
		return;
	}
	if (op->reconciling) {
		cg_recon_answer(op, res);
		return;
	}
	if (oc != CG_DELIVERED) {
		if (s == CG_STEP_CREATE && oc == CG_GIVE_UP && create_fallback(op, res))
			return;
		if (s == CG_STEP_CREATE && op->before.state != CG_CASE_CREATING && certainly_not_created(res)) {
			/* Certainly not created: no need to search before the next attempt. */
			cg_store_case_cleanup(&op->cs);
			if (cg_eng_case_copy(&op->cs, &op->before) != 0)
				memset(&op->cs, 0, sizeof(op->cs));
		}
		if (oc == CG_RETRY_LATER) {
			cg_eng_op_retry(op, res);
			return;
		}
		if (cg_req_row(cg_req_of_step(s))->optional) {
			/* Optional data (labels, an action Datadog refuses: integration not set up, bad
			 * user) must not undo the case work before it: note it and go on. */
			CG_LOG_WARN("source=%s key=%s case=%s: %s skipped: %s", op->ev.source, op->ev.dedup_key,
				    op->cs.case_key ? op->cs.case_key : "-", cg_step_name(s), op->reason);
			snprintf(labels, sizeof(labels), "%s,what=\"%s\"", op->source_label, cg_step_name(s));
			cg_metrics_add(e->metrics, "casegate_optional_dropped_total", labels, 1);
			cg_actions_record(s, 0, &op->cs);
			cg_eng_op_advance(op);
			return;
		}
		if (res->status == 404 && s != CG_STEP_CREATE) {
			/* The case is gone (deleted in Datadog): forget it so a new alert opens a new one. */
			op->finish_kind = FIN_DEAD;
			cg_store_case_cleanup(&op->before);
			memset(&op->before, 0, sizeof(op->before));
			op->before.dedup_key = dupstr(op->ev.dedup_key);
			op->before.state = CG_CASE_NONE;
			op->before.generation = op->cs.generation;
		}
		cg_eng_op_finish(op, FIN_DEAD);
		return;
	}
	if (s == CG_STEP_CREATE) {
		struct cg_dd_case_view v;
		if (cg_dd_answer_case(res->body, res->body_len, &v) != 0) {
			snprintf(op->reason, sizeof(op->reason), "create: answer without data.id");
			op->http_status = (int)res->status;
			/* The case may exist: keep CREATING so the retry searches first. */
			cg_eng_op_retry(op, NULL);
			return;
		}
		cg_eng_set_str(&op->cs.case_id, v.id);
		cg_eng_set_str(&op->cs.case_key, v.key[0] ? v.key : NULL);
		/* The case exists now: record it before anything else can go wrong. The
		 * lifecycle counters are applied once, when the whole action finishes. */
		op->cs.state = CG_CASE_OPEN;
		op->cs.priority = op->ev.priority;
		op->cs.created_ms = op->now;
		op->cs.confirmed_ms = cg_eng_wall_ms();
		cg_eng_op_advance(op);
		return;
	}
	if (s == CG_STEP_CLOSE || s == CG_STEP_OPEN || s == CG_STEP_PRIORITY)
		op->cs.confirmed_ms = cg_eng_wall_ms(); /* these answer with the whole case, as it is now */
	cg_actions_record(s, 1, &op->cs);
	cg_eng_op_advance(op);
}

/* After a successful (or skipped) step: the next one, or the end of the event. */
void cg_eng_op_advance(struct op *op)
{
	op->index++;
	if (op->index >= op->nsteps) {
		cg_eng_op_finish(op, FIN_DONE);
		return;
	}
	cg_eng_op_save_progress(op);
}
