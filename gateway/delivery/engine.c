/* engine.c: claims due events from the store and drives each through its Case API requests, one
 * operation per dedup key: decide, send each step's request (requests.c) through the gate, act on
 * the answer. */
#define CG_LOG_COMPONENT "engine"
#include "engine.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuit.h"
#include "ddanswer.h"
#include "engine_int.h"
#include "err.h"
#include "event.h"
#include "log.h"
#include "recon.h"
#include "retry.h"
#include "timing.h"

#define container_of(p, type, member) ((type *)(void *)((char *)(p)-offsetof(type, member)))

static void op_start(struct cg_engine *e, struct cg_store_event *ev, struct cg_store_case *cs);
static void dd_done(const struct cg_dd_result *res, void *ud);
static void bulk_done(const struct cg_dd_result *res, void *ud);
static void op_run(struct op *op);
static void op_replan(struct op *op);
static void maybe_stopped(struct cg_engine *e);

static char *dupstr(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void set_str(char **dst, const char *v)
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

/* ---- what the parts below hand back (their hooks) ---- */

static struct op *op_of_gate(const struct cg_gate_item *it)
{
	return container_of(it, struct op, gate);
}

static void gate_resend(struct cg_gate_item *it, void *ud)
{
	(void)ud;
	cg_eng_op_send_step(op_of_gate(it));
}

static void gate_release(struct cg_gate_item *it, void *ud)
{
	(void)ud;
	cg_eng_op_release(op_of_gate(it));
}

/*
 * Requests waiting for a rate-limit window go in the queue's own order (the store's claim rank):
 * a new case or a raised priority is what someone must see now, comments, closes and the rest of
 * an equally urgent alert half a level after it, and every level of priority is worth
 * priority_aging of waiting, so a claimed P5 is not passed by fresher P1s for ever either.
 */
static int64_t gate_rank(const struct cg_gate_item *it, void *ud)
{
	const struct cg_engine *e = ud;
	const struct op *op = op_of_gate(it);
	int64_t aging = e->cfg->priority_aging_ms ? (int64_t)e->cfg->priority_aging_ms : CG_STORE_AGING_DEFAULT_MS;
	int level = op->ev.priority >= 1 && op->ev.priority <= 5 ? op->ev.priority - 1 : 5;
	int urgent = op->action == CG_ACT_CREATE || op->action == CG_ACT_ESCALATE || op->action == CG_ACT_REOPEN;
	return op->ev.received_ms + level * aging + (urgent ? 0 : aging / 2);
}

/* The outage ended, or archive events were queued: there is work to claim. */
static void engine_resume(void *ud)
{
	cg_engine_kick(ud);
}

static void project_done(struct cg_lookup_waiter *w, const char *why, void *ud)
{
	(void)ud;
	struct op *op = container_of(w, struct op, wait);
	if (why) {
		snprintf(op->reason, sizeof(op->reason), "project key not resolved: %s", why);
		cg_eng_op_retry(op, NULL);
		return;
	}
	cg_eng_op_send_step(op);
}

static void waiter_release(struct cg_lookup_waiter *w, void *ud)
{
	(void)ud;
	cg_eng_op_release(container_of(w, struct op, wait));
}

static void bulk_send(struct cg_bulk_item *leader, void *ud)
{
	(void)ud;
	cg_eng_op_send_step(container_of(leader, struct op, bulk));
}

static void bulk_release(struct cg_bulk_item *it, void *ud)
{
	(void)ud;
	cg_eng_op_release(container_of(it, struct op, bulk));
}

static void sweep_idle(void *ud)
{
	maybe_stopped(ud);
}

/* engine_store.c's: an op ended. */
static void op_gone(struct cg_engine *e)
{
	if (e->stopping)
		maybe_stopped(e);
	else
		cg_engine_kick(e);
}

/* ---- the engine ---- */

static void timer_cb(uv_timer_t *t)
{
	struct cg_engine *e = t->data;
	e->timer_due = 0;
	cg_engine_kick(e);
}

static const struct {
	const char *name;
	enum cg_metric_type type;
	const char *help;
} metrics_described[] = {
	{"casegate_events_total", CG_COUNTER, "Events applied to cases, by source and action"},
	{"casegate_deliveries_total", CG_COUNTER, "Case API requests by source, step and outcome"},
	{"casegate_delivery_http_total", CG_COUNTER, "Case API answers by HTTP status"},
	{"casegate_retries_total", CG_COUNTER, "Requests scheduled for retry, by source"},
	{"casegate_dead_letters_total", CG_COUNTER, "Events moved to the dead-letter table"},
	{"casegate_reconciliations_total", CG_COUNTER, "Unknown create outcomes resolved by searching, by result"},
	{"casegate_outbound_latency_seconds", CG_HISTOGRAM, "Case API request latency by step"},
	{"casegate_optional_dropped_total", CG_COUNTER,
	 "Optional parts of creates and updates that Datadog would not take, by source and what"},
	{"casegate_case_refreshes_total", CG_COUNTER,
	 "Cases read back from Datadog before acting on them, by what was found"},
};

static void engine_free(struct cg_engine *e)
{
	free(e);
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
	e->op_next = op_run;
	e->op_gone = op_gone;
	e->on_answer = dd_done;
	e->on_bulk_answer = bulk_done;
	const struct cg_gate_hooks gh = {gate_resend, gate_release, gate_rank, engine_resume, e};
	const struct cg_lookups_hooks lh = {project_done, waiter_release, e};
	const struct cg_bulk_hooks bh = {bulk_send, bulk_release, e};
	const struct cg_sweep_hooks sh = {engine_resume, sweep_idle, e};
	if (cg_gate_create(loop, q, dd, metrics, cfg, &gh, &e->gate) != 0 ||
	    cg_lookups_create(dd, e->gate, cfg, &lh, &e->lookups) != 0 || cg_bulk_create(loop, &bh, &e->bulk) != 0 ||
	    cg_sweep_create(loop, q, &sh, &e->sweep) != 0) {
		cg_lookups_destroy(e->lookups);
		cg_bulk_destroy(e->bulk);
		cg_sweep_destroy(e->sweep);
		cg_gate_destroy(e->gate);
		free(e);
		return CG_ENOMEM;
	}
	uv_timer_init(loop, &e->timer);
	e->timer.data = e;
	uv_timer_init(loop, &e->store_timer);
	e->store_timer.data = e;
	for (size_t i = 0; i < sizeof(metrics_described) / sizeof(metrics_described[0]); i++)
		cg_metrics_describe(metrics, metrics_described[i].name, metrics_described[i].type,
				    metrics_described[i].help);
	*out = e;
	/* Project keys first (creates wait for them), then the case types; the archive sweep. */
	cg_lookups_set_config(e->lookups, cfg);
	cg_sweep_set_config(e->sweep, cfg);
	return 0;
}

void cg_engine_set_config(struct cg_engine *e, const struct cg_config *cfg)
{
	e->cfg = cfg;
	cg_gate_set_config(e->gate, cfg);
	cg_lookups_set_config(e->lookups, cfg);
	cg_sweep_set_config(e->sweep, cfg);
}

unsigned cg_engine_inflight(const struct cg_engine *e)
{
	return e->inflight;
}

int cg_engine_datadog_state(const struct cg_engine *e, char *why, size_t len)
{
	return e ? cg_gate_state(e->gate, why, len) : 0;
}

static void maybe_stopped(struct cg_engine *e)
{
	if (e->stopping && e->inflight == 0 && !e->claiming && !cg_sweep_busy(e->sweep) && e->on_stopped) {
		void (*cb)(void *) = e->on_stopped;
		e->on_stopped = NULL;
		cb(e->stopped_ud);
	}
}

static void timer_closed(uv_handle_t *h)
{
	struct cg_engine *e = h->data;
	/* The timers share the engine: free it when the last one has closed. */
	if (++e->closed == ENGINE_TIMERS)
		engine_free(e);
}

void cg_engine_stop(struct cg_engine *e, void (*on_stopped)(void *ud), void *ud)
{
	e->stopping = 1;
	e->on_stopped = on_stopped;
	e->stopped_ud = ud;
	uv_timer_stop(&e->timer);
	/* Waiting, held and collected ops have saved their progress: they resume from the store
	 * after restart. The gate first: an op released elsewhere must not end an outage's hold. */
	cg_gate_stop(e->gate);
	cg_sweep_stop(e->sweep);
	cg_bulk_stop(e->bulk);
	cg_lookups_stop(e->lookups);
	/* Ops whose store job failed: their events stay in flight and are retried after restart. */
	cg_eng_store_stop(e);
	maybe_stopped(e);
}

void cg_engine_destroy(struct cg_engine *e)
{
	if (!e)
		return;
	/* Each part is freed when its handles closed and its requests answered. */
	cg_gate_destroy(e->gate);
	cg_lookups_destroy(e->lookups);
	cg_bulk_destroy(e->bulk);
	cg_sweep_destroy(e->sweep);
	uv_close((uv_handle_t *)&e->timer, timer_closed);
	uv_close((uv_handle_t *)&e->store_timer, timer_closed);
}

static void arm_timer(struct cg_engine *e, int64_t due)
{
	if (e->stopping)
		return;
	if (e->timer_due && e->timer_due <= due)
		return;
	int64_t now = cg_timing_wall_ms();
	e->timer_due = due;
	uv_timer_start(&e->timer, timer_cb, due > now ? (uint64_t)(due - now) : 0, 0);
}

/* ---- claiming ---- */

static void claim_done(int rc, void *ud)
{
	struct claim_job *j = ud;
	struct cg_engine *e = j->e;
	e->claiming = 0;
	if (rc) {
		CG_LOG_ERR("claiming due events failed: %s", cg_strerror(rc));
		/* Claims were rolled back with the batch; try again shortly. */
		cg_eng_claim_free(j);
		arm_timer(e, cg_timing_wall_ms() + 1000);
		maybe_stopped(e);
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
		arm_timer(e, j->next_due);
	cg_eng_claim_free(j);
	if (e->stopping) {
		maybe_stopped(e);
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
	if (cg_gate_holding(e->gate))
		return;
	if (e->claiming) {
		e->rekick = 1;
		return;
	}
	unsigned max = e->cfg->max_inflight ? e->cfg->max_inflight : 16;
	if (e->inflight >= max)
		return;
	int64_t now = cg_timing_wall_ms();
	struct claim_job *j = calloc(1, sizeof(*j));
	if (!j) {
		arm_timer(e, now + 1000);
		return;
	}
	j->e = e;
	j->now = now;
	j->limit = max - e->inflight;
	e->claiming = 1;
	e->rekick = 0;
	if (cg_storeq_submit(e->q, cg_eng_claim_run, claim_done, j) != 0) {
		e->claiming = 0;
		free(j);
		arm_timer(e, now + 1000);
	}
}

/* ---- one operation: deciding ---- */

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

/* The steps of op->action: the lifecycle's, then the actions'. has_prev: the case follows an
 * earlier one of its key. */
static void op_steps(struct op *op, int has_prev)
{
	const struct cg_source_config *src = cg_eng_find_source(op->e->cfg, op->ev.source);
	op->nsteps = cg_lifecycle_steps(op->action, &op->src, cg_payload_has_attributes(&op->pl), op->cs.state,
					op->steps);
	op->nsteps = cg_actions_steps(op->action, src ? src : &op->src, op->prio_before, op->ev.priority,
				      cg_payload_has_insights(&op->pl), has_prev, op->pl.acknowledged, op->steps, op->nsteps,
				      CG_MAX_STEPS);
}

/* The action of a fresh event against the case as op->cs has it, and its steps. */
static void op_plan(struct op *op)
{
	/* The case's priority before this event: escalation actions compare against it (unchanged in
	 * the store until the event finishes, so a resumed event computes the same steps). */
	op->prio_before = op->cs.priority;
	op->action = cg_lifecycle_decide(op->ev.status, op->ev.priority, &op->cs, &op->src, op->now);
	/* A new case after the reopen window follows the current one (op_begin_create records it). */
	int will_have_prev = op->action == CG_ACT_CREATE &&
			     (op->cs.state == CG_CASE_CLOSED ? op->cs.case_id != NULL : op->cs.prev_case_id != NULL);
	op_steps(op, will_have_prev);
	op->index = 0;
}

/* Moves the case into CREATING (persisted) before the create request leaves. */
static void op_begin_create(struct op *op)
{
	struct cg_store_case *c = &op->cs;
	if (c->state == CG_CASE_CLOSED) {
		/* After the reopen window: a new case that points back to the old one. */
		set_str(&c->prev_case_key, c->case_key);
		set_str(&c->prev_case_id, c->case_id);
	}
	c->action_flags = 0; /* one-shot actions are per case */
	set_str(&c->case_id, NULL);
	set_str(&c->case_key, NULL);
	c->generation++;
	c->state = CG_CASE_CREATING;
	/* Search lag is measured from here: a crash between this save and the send counts too. */
	c->sent_ms = cg_timing_wall_ms();
	char marker[40];
	cg_req_marker(op->ev.dedup_key, c->generation, marker);
	set_str(&c->marker, marker);
	cg_eng_op_save_progress(op);
}

/* The decision stands (the case was read back, or needed no reading): carry it out. */
static void op_decided(struct op *op)
{
	op->decided = 1;
	if (op->action == CG_ACT_CREATE && op->cs.state != CG_CASE_CREATING) {
		op_begin_create(op);
		return;
	}
	op_run(op);
}

/* After a refresh changed what casegate knows of the case: decide again. */
static void op_replan(struct op *op)
{
	op_plan(op);
	op_decided(op);
}

static void op_run(struct op *op)
{
	if (op->index >= op->nsteps) {
		cg_eng_op_finish(op, FIN_DONE);
		return;
	}
	cg_eng_op_send_step(op);
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
	op->now = cg_timing_wall_ms();
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
		op_steps(op, op->cs.prev_case_id != NULL);
		op_run(op);
		return;
	}
	op_plan(op);
	if (op->nsteps > 0 && cg_refresh_due(&op->cs, cg_timing_wall_ms(), e->cfg->dd_case_refresh_ms)) {
		/* casegate's record is a cache: read the case back before acting on an old one. */
		op->refreshing = 1;
		cg_eng_op_send_step(op);
		return;
	}
	op_decided(op);
}

/* ---- one operation: the answers ---- */

/* A search found the case the marker names: this event applies to it. */
static void recon_adopt(struct op *op, const struct cg_dd_case_view *v)
{
	int create = op->steps[op->index] == CG_STEP_CREATE;
	cg_metrics_add(op->e->metrics, "casegate_reconciliations_total", "result=\"adopted\"", 1);
	cg_recon_adopt(&op->cs, v, create, op->ev.priority, op->now, cg_timing_wall_ms());
	op->need_reconcile = 0;
	if (create) {
		CG_LOG_EV(CG_LOG_LEVEL_WARN, op->ev.source, op->ev.dedup_key, op->cs.case_key ? op->cs.case_key : v->id,
			  "adopted the case created by an earlier attempt");
		cg_eng_op_advance(op);
		return;
	}
	cg_eng_op_send_step(op);
}

static void recon_answer(struct op *op, const struct cg_dd_result *res)
{
	struct cg_engine *e = op->e;
	struct cg_recon r;
	struct cg_dd_case_view v;
	int64_t now = cg_timing_wall_ms(), next = 0;
	cg_eng_recon_of(op, &r);
	enum cg_recon_verdict verdict = cg_recon_answer(&op->recon_phase, &r, res, op->reason, now, &v, &next);
	if (verdict == CG_RECON_NEXT) {
		cg_eng_recon_send(op);
		return;
	}
	op->reconciling = 0;
	switch (verdict) {
	case CG_RECON_FOUND:
		recon_adopt(op, &v);
		return;
	case CG_RECON_RETRY:
		cg_eng_op_retry(op, res);
		return;
	case CG_RECON_WAIT:
		cg_metrics_add(e->metrics, "casegate_reconciliations_total", "result=\"waiting\"", 1);
		op->next_ms = next;
		snprintf(op->reason, sizeof(op->reason),
			 "create outcome unknown and no case carries %s yet: searching again until the index settles",
			 op->cs.marker);
		cg_eng_op_finish(op, FIN_DEFER);
		return;
	default:
		break;
	}
	cg_metrics_add(e->metrics, "casegate_reconciliations_total", "result=\"not_found\"", 1);
	if (op->steps[op->index] == CG_STEP_CREATE) {
		/* Same generation and marker; the send time is saved before the create leaves again. */
		CG_LOG_EV(CG_LOG_LEVEL_INFO, op->ev.source, op->ev.dedup_key, NULL,
			  "no case carries %s after the search settled; creating it", op->cs.marker);
		op->need_reconcile = 0;
		op->cs.sent_ms = now;
		cg_eng_op_save_progress(op);
		return;
	}
	/* The given-up create never made a case: recorded as a dead letter (visible, retryable),
	 * never silently ignored. */
	snprintf(op->reason, sizeof(op->reason),
		 "no case carries %s after datadog.search_settle: the case this %s belongs to was never created",
		 op->cs.marker, cg_action_name(op->action));
	op->http_status = 0;
	cg_eng_op_finish(op, FIN_DEAD);
}

static void refresh_answer(struct op *op, const struct cg_dd_result *res)
{
	op->refreshing = 0;
	const char *found =
		cg_refresh_apply(&op->cs, res, op->ev.source, op->ev.dedup_key, op->reason, cg_timing_wall_ms());
	if (!found) {
		cg_eng_op_retry(op, res);
		return;
	}
	char labels[256];
	snprintf(labels, sizeof(labels), "%s,found=\"%s\"", op->source_label, found);
	cg_metrics_add(op->e->metrics, "casegate_case_refreshes_total", labels, 1);
	if (op->action == CG_ACT_SYNC) {
		cg_eng_op_finish(op, FIN_DONE);
		return;
	}
	op_replan(op);
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
	op->cs.sent_ms = cg_timing_wall_ms();
	cg_eng_op_send_step(op);
	return 1;
}

static int certainly_not_created(const struct cg_dd_result *res)
{
	return (res->transport_error && !res->maybe_sent) || (res->status >= 400 && res->status < 500);
}

/* The answer says what failed: op->reason and op->http_status say it in turn. */
static void note_failure(struct op *op, const char *step, const struct cg_dd_result *res)
{
	char why[300];
	if (res->transport_error) {
		snprintf(why, sizeof(why), "%s", res->errmsg);
		snprintf(op->reason, sizeof(op->reason), "%s: %s", step, why);
	} else {
		cg_dd_answer_error(res->body, res->body_len, why, sizeof(why));
		snprintf(op->reason, sizeof(op->reason), "%s: HTTP %ld: %s", step, res->status, why);
	}
	op->http_status = (int)res->status;
}

/* A step Datadog refused for good. */
static void step_refused(struct op *op, enum cg_step s, const struct cg_dd_result *res)
{
	struct cg_engine *e = op->e;
	if (cg_req_row(cg_req_of_step(s))->optional) {
		/* Optional data (labels, an action Datadog refuses: integration not set up, bad user)
		 * must not undo the case work before it: note it and go on. */
		char labels[320];
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
}

static void dd_done(const struct cg_dd_result *res, void *ud)
{
	struct op *op = ud;
	struct cg_engine *e = op->e;
	enum cg_step s = op->steps[op->index];
	const char *step = op->row->name;
	char labels[320];
	int cc = cg_gate_answer(e->gate, &op->gate, step, res);
	if (cc < 0)
		return; /* parked until the rate-limit window resets */
	enum cg_outcome oc = cg_retry_classify(res->transport_error, res->status);
	snprintf(labels, sizeof(labels), "%s,step=\"%s\",outcome=\"%s\"", op->source_label, step,
		 oc == CG_DELIVERED ? "delivered" : oc == CG_RETRY_LATER ? "retry" : "give_up");
	cg_metrics_add(e->metrics, "casegate_deliveries_total", labels, 1);
	if (oc != CG_DELIVERED)
		note_failure(op, step, res);
	if (cc != CG_CIRCUIT_ANSWERED && cg_gate_open(e->gate)) {
		/* Datadog is down or refuses the keys: this request waits for the outage to end; a
		 * create whose outcome is unknown searches first when it goes again. */
		if (!op->refreshing && !op->reconciling && s == CG_STEP_CREATE)
			op->need_reconcile = !certainly_not_created(res);
		cg_gate_park_held(e->gate, &op->gate);
		return;
	}
	if (op->refreshing) {
		refresh_answer(op, res);
		return;
	}
	if (op->reconciling) {
		recon_answer(op, res);
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
		if (oc == CG_RETRY_LATER)
			cg_eng_op_retry(op, res);
		else
			step_refused(op, s, res);
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
		set_str(&op->cs.case_id, v.id);
		set_str(&op->cs.case_key, v.key[0] ? v.key : NULL);
		/* The case exists now: record it before anything else can go wrong. The
		 * lifecycle counters are applied once, when the whole action finishes. */
		op->cs.state = CG_CASE_OPEN;
		op->cs.priority = op->ev.priority;
		op->cs.created_ms = op->now;
		op->cs.confirmed_ms = cg_timing_wall_ms();
		cg_eng_op_advance(op);
		return;
	}
	if (s == CG_STEP_CLOSE || s == CG_STEP_OPEN || s == CG_STEP_PRIORITY)
		op->cs.confirmed_ms = cg_timing_wall_ms(); /* these answer with the whole case, as it is now */
	cg_actions_record(s, 1, &op->cs);
	cg_eng_op_advance(op);
}

/* The answer to a bulk request: it speaks for every op the leader carries. */
static void bulk_done(const struct cg_dd_result *res, void *ud)
{
	struct op *leader = ud;
	struct cg_engine *e = leader->e;
	char labels[160];
	int cc = cg_gate_answer(e->gate, &leader->gate, leader->row->name, res);
	if (cc < 0)
		return; /* the whole batch goes again when the window resets */
	enum cg_outcome oc = cg_retry_classify(res->transport_error, res->status);
	snprintf(labels, sizeof(labels), "outcome=\"%s\"",
		 oc == CG_DELIVERED ? "delivered" : oc == CG_RETRY_LATER ? "retry" : "refused");
	cg_metrics_add(e->metrics, "casegate_bulk_requests_total", labels, 1);
	struct cg_bulk_item *all = &leader->bulk;
	leader->bulk.next = leader->bulk.members;
	leader->bulk.members = NULL;
	if (oc == CG_GIVE_UP) {
		CG_LOG_WARN("bulk update refused (HTTP %ld: %.200s): single requests from now on", res->status,
			    res->body ? res->body : "");
		cg_bulk_refuse(e->bulk);
	}
	while (all) {
		struct op *op = container_of(all, struct op, bulk);
		all = all->next;
		op->bulk.next = NULL;
		if (cc != CG_CIRCUIT_ANSWERED && cg_gate_open(e->gate)) {
			cg_gate_park_held(e->gate, &op->gate);
		} else if (oc == CG_DELIVERED) {
			cg_metrics_add(e->metrics, "casegate_bulk_cases_total", op->source_label, 1);
			cg_eng_op_advance(op);
		} else if (oc == CG_GIVE_UP) {
			op->bulk.single = 1;
			cg_eng_op_send_step(op);
		} else {
			if (res->transport_error)
				snprintf(op->reason, sizeof(op->reason), "bulk: %s", res->errmsg);
			else
				snprintf(op->reason, sizeof(op->reason), "bulk: HTTP %ld", res->status);
			op->http_status = (int)res->status;
			cg_eng_op_retry(op, res);
		}
	}
}
