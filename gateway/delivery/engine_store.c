/* engine_store.c: the engine's store jobs: claiming due events; an op's progress before each request
 * and its outcome at the end (done, retry, dead letter), again while the store fails; the op's end.
 * It hands the op back to engine.c through the continuations the engine registered. */
#define CG_LOG_COMPONENT "engine"
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"
#include "err.h"
#include "log.h"
#include "retry.h"
#include "timing.h"

static char *dupstr(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Deep copy of a case record (strings duplicated). 0 or CG_ENOMEM. */
int cg_eng_case_copy(struct cg_store_case *dst, const struct cg_store_case *src)
{
	*dst = *src;
	dst->dedup_key = dupstr(src->dedup_key);
	dst->case_id = dupstr(src->case_id);
	dst->case_key = dupstr(src->case_key);
	dst->marker = dupstr(src->marker);
	dst->prev_case_key = dupstr(src->prev_case_key);
	dst->prev_case_id = dupstr(src->prev_case_id);
	dst->last_summary = dupstr(src->last_summary);
	if ((src->dedup_key && !dst->dedup_key) || (src->case_id && !dst->case_id) ||
	    (src->case_key && !dst->case_key) || (src->marker && !dst->marker) ||
	    (src->prev_case_key && !dst->prev_case_key) || (src->last_summary && !dst->last_summary) ||
	    (src->prev_case_id && !dst->prev_case_id)) {
		cg_store_case_cleanup(dst);
		return CG_ENOMEM;
	}
	return 0;
}

static void op_free(struct op *op)
{
	/* Not renewed any more: a lease held by an abandoned op runs out and another replica retries. */
	cg_store_hold(cg_storeq_store(op->e->q), op->ev.id, op->ev.lease, 0);
	cg_store_event_cleanup(&op->ev);
	cg_store_case_cleanup(&op->cs);
	cg_store_case_cleanup(&op->before);
	cg_payload_cleanup(&op->pl);
	free(op->src.status_name);
	free(op->src.reopen_status_name);
	free(op);
}

/* ---- claiming ---- */

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

int cg_eng_claim_run(struct cg_store *st, void *ud)
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

void cg_eng_claim_free(struct claim_job *j)
{
	claim_reset(j);
	free(j);
}

/* ---- an op ---- */

#define container_of(p, type, member) ((type *)(void *)((char *)(p)-offsetof(type, member)))

/* Ends an op after its final job: counts it out and looks for more work. */
void cg_eng_op_release(struct op *op)
{
	struct cg_engine *e = op->e;
	/* A bulk request's leader carries the other ops: they end with it (progress is saved). */
	struct cg_bulk_item *m = op->bulk.members;
	op->bulk.members = NULL;
	while (m) {
		struct cg_bulk_item *next = m->next;
		cg_eng_op_release(container_of(m, struct op, bulk));
		m = next;
	}
	cg_gate_gone(e->gate, &op->gate);
	op_free(op);
	e->inflight--;
	e->op_gone(e);
}

static void store_retry_cb(uv_timer_t *t)
{
	struct cg_engine *e = t->data;
	struct op *list = e->sr_head;
	e->sr_head = e->sr_tail = NULL;
	while (list) {
		struct op *op = list;
		list = op->sr_next;
		if (e->stopping || cg_storeq_submit(e->q, op->sr_fn, op->sr_done, op) != 0)
			cg_eng_op_release(op);
	}
}

/*
 * A store job of op failed (disk full, database locked, I/O error) and was rolled back: the
 * event is still in flight in the store, and nothing would ever claim it again before a
 * restart. The job is idempotent (it writes op's state), so run it again a little later.
 */
static void store_retry(struct op *op, int rc, cg_storeq_job_fn fn, cg_storeq_done_fn done)
{
	struct cg_engine *e = op->e;
	/* CG_ENOENT: the event row is gone (deleted behind our back); nothing to save. */
	if (e->stopping || rc == CG_ENOENT) {
		/* Otherwise the event stays in flight; the next start makes it pending again. */
		cg_eng_op_release(op);
		return;
	}
	op->sr_fn = fn;
	op->sr_done = done;
	op->sr_next = NULL;
	if (e->sr_tail)
		e->sr_tail->sr_next = op;
	else
		e->sr_head = op;
	e->sr_tail = op;
	if (!uv_is_active((uv_handle_t *)&e->store_timer))
		uv_timer_start(&e->store_timer, store_retry_cb, 1000, 0);
}

static int finish_run(struct cg_store *st, void *ud)
{
	struct op *op = ud;
	/* Shared store: write nothing unless the event is still ours (the lease may have run out). */
	int rc = cg_store_fence(st, op->ev.id, op->ev.lease);
	if (rc)
		return rc;
	if (op->cs.dedup_key)
		rc = cg_store_case_put(st, &op->cs);
	if (rc)
		return rc;
	switch (op->finish_kind) {
	case FIN_DONE:
		return cg_store_event_done(st, op->ev.id);
	case FIN_RETRY:
		/* The case record keeps any CREATING mark so the next attempt reconciles. */
		rc = cg_store_event_step(st, op->ev.id, op->ev.step);
		return rc ? rc : cg_store_event_retry(st, op->ev.id, op->next_ms, op->reason);
	case FIN_DEFER:
		rc = cg_store_event_step(st, op->ev.id, op->ev.step);
		return rc ? rc : cg_store_event_defer(st, op->ev.id, op->next_ms, op->reason);
	case FIN_DEAD:
		return cg_store_event_dead(st, op->ev.id, op->http_status, op->reason);
	}
	return CG_EINVAL;
}

/* What the event did to its case, as the casegate_events_total action label (past tense). */
static const char *action_label(const struct op *op)
{
	switch (op->action) {
	case CG_ACT_CREATE: return "created";
	case CG_ACT_REOPEN: return "reopened";
	case CG_ACT_COMMENT: return "commented";
	case CG_ACT_ESCALATE: return "escalated";
	case CG_ACT_DEESCALATE: return "deescalated";
	case CG_ACT_RESOLVE:
		for (int i = 0; i < op->nsteps; i++)
			if (op->steps[i] == CG_STEP_CLOSE)
				return "closed";
		return "commented";
	case CG_ACT_FOLD: return "folded";
	case CG_ACT_IGNORE: return "ignored";
	case CG_ACT_SYNC: return "synced";
	default: return cg_action_name(op->action);
	}
}

static void finish_done(int rc, void *ud)
{
	struct op *op = ud;
	struct cg_engine *e = op->e;
	char labels[256];
	if (rc) {
		/* The event is still in flight in the store and this op owns it: save again later. */
		CG_LOG_ERR("saving the outcome of event %" PRId64 " (%s) failed: %s; retrying", op->ev.id,
			   op->ev.dedup_key, cg_strerror(rc));
		store_retry(op, rc, finish_run, finish_done);
		return;
	}
	if (op->finish_kind == FIN_DONE) {
		snprintf(labels, sizeof(labels), "%s,action=\"%s\"", op->source_label, action_label(op));
		cg_metrics_add(e->metrics, "casegate_events_total", labels, 1);
		CG_LOG_EV(CG_LOG_LEVEL_INFO, op->ev.source, op->ev.dedup_key, op->cs.case_key, "action=%s",
			  cg_action_name(op->action));
	} else if (op->finish_kind == FIN_DEAD) {
		cg_metrics_add(e->metrics, "casegate_dead_letters_total", op->source_label, 1);
		CG_LOG_EV(CG_LOG_LEVEL_ERR, op->ev.source, op->ev.dedup_key, op->cs.case_key,
			  "dead letter (HTTP %d): %s", op->http_status, op->reason);
	} else if (op->finish_kind == FIN_DEFER) {
		CG_LOG_EV(CG_LOG_LEVEL_INFO, op->ev.source, op->ev.dedup_key, op->cs.case_key,
			  "waits %" PRId64 " ms: %s", op->next_ms - cg_timing_wall_ms(), op->reason);
	} else {
		cg_metrics_add(e->metrics, "casegate_retries_total", op->source_label, 1);
		CG_LOG_EV(CG_LOG_LEVEL_WARN, op->ev.source, op->ev.dedup_key, op->cs.case_key,
			  "retry in %" PRId64 " ms: %s", op->next_ms - cg_timing_wall_ms(), op->reason);
	}
	cg_eng_op_release(op);
}

void cg_eng_op_finish(struct op *op, enum fin kind)
{
	op->finish_kind = kind;
	if (kind == FIN_DONE) {
		cg_lifecycle_apply(op->action, &op->cs, op->ev.priority, op->pl.summary, &op->src, op->now);
	}
	if (kind == FIN_DEAD && op->action == CG_ACT_CREATE && op->http_status != 404 &&
	    (op->cs.state == CG_CASE_OPEN || op->cs.state == CG_CASE_CREATING)) {
		/* The case exists (a later step failed) or may exist (outcome unknown): keep it
		 * (or the CREATING mark, so the next firing reconciles) instead of opening a
		 * duplicate on the next firing. */
		if (op->cs.state == CG_CASE_OPEN)
			cg_lifecycle_apply(op->action, &op->cs, op->ev.priority, NULL, &op->src, op->now);
	} else if (kind == FIN_DEAD) {
		/* Nothing of this event happened: the case stays as it was. */
		cg_store_case_cleanup(&op->cs);
		if (op->before.dedup_key && cg_eng_case_copy(&op->cs, &op->before) != 0)
			memset(&op->cs, 0, sizeof(op->cs));
	}
	if (cg_storeq_submit(op->e->q, finish_run, finish_done, op) != 0) {
		CG_LOG_ERR("store queue closed; event %" PRId64 " stays queued", op->ev.id);
		cg_eng_op_release(op);
	}
}

void cg_eng_op_retry(struct op *op, const struct cg_dd_result *res)
{
	struct cg_engine *e = op->e;
	unsigned attempt = (unsigned)op->ev.attempts + 1;
	uint64_t base = e->cfg->retry_base_ms ? e->cfg->retry_base_ms : 1000;
	uint64_t cap = e->cfg->retry_cap_ms ? e->cfg->retry_cap_ms : 300000;
	uint64_t delay = cg_backoff_ms(attempt, base, cap, cg_timing_rnd64());
	/* A server that says when to come back (429, or Retry-After on a 503) is believed, within
	 * reason: never sooner than it asked. */
	if (res && (res->status == 429 || (res->status == 503 && res->retry_after >= 0))) {
		uint64_t server = cg_ratelimit_delay_ms(res->status == 429 ? res->ratelimit_reset : -1, res->retry_after,
							attempt, base, cap, cg_timing_rnd64());
		if (server > delay)
			delay = server;
	}
	op->next_ms = cg_timing_wall_ms() + (int64_t)delay;
	if (e->cfg->max_attempts && attempt >= e->cfg->max_attempts) {
		size_t n = strlen(op->reason);
		snprintf(op->reason + n, sizeof(op->reason) - n, " (gave up after %u attempts)", attempt);
		cg_eng_op_finish(op, FIN_DEAD);
		return;
	}
	cg_eng_op_finish(op, FIN_RETRY);
}

/* Persists progress (step index, case record) before the next request. */
static int progress_run(struct cg_store *st, void *ud)
{
	struct op *op = ud;
	int rc = cg_store_fence(st, op->ev.id, op->ev.lease);
	if (!rc && op->cs.dedup_key)
		rc = cg_store_case_put(st, &op->cs);
	return rc ? rc : cg_store_event_step(st, op->ev.id, op->ev.step);
}

static void progress_done(int rc, void *ud)
{
	struct op *op = ud;
	if (rc) {
		CG_LOG_ERR("saving progress of event %" PRId64 " failed: %s; retrying", op->ev.id, cg_strerror(rc));
		store_retry(op, rc, progress_run, progress_done);
		return;
	}
	if (op->e->stopping) {
		/* Progress is saved; the event resumes from here after restart. */
		cg_eng_op_release(op);
		return;
	}
	op->e->op_next(op);
}

void cg_eng_op_save_progress(struct op *op)
{
	op->ev.step = cg_step_encode(op->action, op->index);
	if (cg_storeq_submit(op->e->q, progress_run, progress_done, op) != 0)
		cg_eng_op_release(op);
}

/*
 * Shared store: 1 when the op's lease might run out before a request answers (the database
 * was unreachable for a while, so renewals failed). The op is then dropped without writing;
 * the next claimer resumes the event, reconciling an unfinished create by its marker.
 */
int cg_eng_lease_lost(struct op *op)
{
	struct cg_engine *e = op->e;
	uint64_t need = (uint64_t)(e->cfg->dd_timeout_ms ? e->cfg->dd_timeout_ms : 15000) + 1000;
	if (cg_store_lease_valid(cg_storeq_store(e->q), op->claimed_mono, need))
		return 0;
	CG_LOG_WARN("key=%s event %" PRId64 ": its lease could run out before a request ends; leaving it to the "
		    "next claim", op->ev.dedup_key, op->ev.id);
	cg_eng_op_release(op);
	return 1;
}

void cg_eng_store_stop(struct cg_engine *e)
{
	uv_timer_stop(&e->store_timer);
	struct op *list = e->sr_head;
	e->sr_head = e->sr_tail = NULL;
	while (list) {
		struct op *op = list;
		list = op->sr_next;
		cg_eng_op_release(op);
	}
}
