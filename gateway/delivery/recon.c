/* recon.c: Datadog is the truth: finding a case whose create's answer was lost (under search
 * lag), and reading a case back before acting on an old record. */
#define CG_LOG_COMPONENT "engine"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder.h"
#include "ddanswer.h"
#include "engine_int.h"
#include "err.h"
#include "event.h"
#include "log.h"
#include "retry.h"

int cg_eng_request_back(struct cg_engine *e);
void cg_eng_op_replan(struct op *op);

/* The searches of one reconciliation round, in order. */
enum { PHASE_MARKER = 0, PHASE_ATTR, PHASE_NEWEST, PHASE_DONE };

static int attr_search(const struct op *op)
{
	struct cg_engine *e = op->e;
	const struct cg_source_config *src = cg_eng_find_source(e->cfg, op->ev.source);
	return e->cfg->dd_marker_attr && cg_catype_has_text(cg_eng_catype(e, src), e->cfg->dd_marker_attr);
}

static int settled(const struct op *op, int64_t now)
{
	return op->cs.sent_ms <= 0 || now >= op->cs.sent_ms + (int64_t)op->e->cfg->dd_search_settle_ms;
}

/* The project the case was created in (its UUID), or NULL when not known here. */
static const char *project_of(const struct op *op)
{
	const char *p = cg_payload_project(&op->pl);
	if (p && cg_project_is_key(p))
		p = cg_projects_id(&op->e->projects, p);
	return p;
}

void cg_recon_send(struct op *op)
{
	op->reconciling = 1;
	if (op->recon_phase == PHASE_ATTR && !attr_search(op))
		op->recon_phase = PHASE_NEWEST;
	if (op->recon_phase == PHASE_NEWEST && !settled(op, cg_eng_wall_ms()))
		op->recon_phase = PHASE_DONE;
	if (op->recon_phase >= PHASE_DONE) {
		/* Nothing left to ask this round (only reached when a phase was skipped). */
		op->recon_phase = PHASE_MARKER;
	}
	static const enum cg_req_kind kinds[] = {
		[PHASE_MARKER] = CG_REQ_SEARCH_MARKER, [PHASE_ATTR] = CG_REQ_SEARCH_ATTR, [PHASE_NEWEST] = CG_REQ_SEARCH_NEWEST};
	cg_eng_send_request(op, kinds[op->recon_phase]);
}

/* The case our marker names exists: this event applies to it. */
static void adopt(struct op *op, const struct cg_dd_case_view *v)
{
	struct cg_engine *e = op->e;
	enum cg_step s = op->steps[op->index];
	cg_metrics_add(e->metrics, "casegate_reconciliations_total", "result=\"adopted\"", 1);
	cg_eng_set_str(&op->cs.case_id, v->id);
	cg_eng_set_str(&op->cs.case_key, v->key[0] ? v->key : NULL);
	op->cs.state = CG_CASE_OPEN;
	op->cs.confirmed_ms = cg_eng_wall_ms();
	op->reconciling = 0;
	op->need_reconcile = 0;
	op->recon_phase = PHASE_MARKER;
	if (s == CG_STEP_CREATE) {
		CG_LOG_EV(CG_LOG_LEVEL_WARN, op->ev.source, op->ev.dedup_key, op->cs.case_key ? op->cs.case_key : v->id,
			  "adopted the case created by an earlier attempt");
		op->cs.priority = op->ev.priority;
		op->cs.created_ms = v->created_ms ? v->created_ms : op->now;
		cg_eng_op_advance(op);
		return;
	}
	/* A given-up create had worked: the pending step applies to that case. */
	if (!op->cs.created_ms)
		op->cs.created_ms = v->created_ms ? v->created_ms : op->now;
	cg_eng_op_send_step(op);
}

/* Not found anywhere this round: wait for the index, or (settled) decide that there is no case. */
static void not_found(struct op *op)
{
	struct cg_engine *e = op->e;
	enum cg_step s = op->steps[op->index];
	int64_t now = cg_eng_wall_ms();
	op->reconciling = 0;
	op->recon_phase = PHASE_MARKER;
	if (!settled(op, now)) {
		/* Search lag: "not found" proves nothing yet. Ask again on a schedule that thins out
		 * towards the settle time; the key's later events wait behind this one. */
		int64_t until = op->cs.sent_ms + (int64_t)e->cfg->dd_search_settle_ms;
		int64_t d = (now - op->cs.sent_ms) / 2;
		if (d < 1000)
			d = 1000;
		if (d > until - now)
			d = until - now;
		if (d < 100)
			d = 100;
		cg_metrics_add(e->metrics, "casegate_reconciliations_total", "result=\"waiting\"", 1);
		op->next_ms = now + d;
		snprintf(op->reason, sizeof(op->reason),
			 "create outcome unknown and no case carries %s yet: searching again until the index settles",
			 op->cs.marker);
		cg_eng_op_finish(op, FIN_DEFER);
		return;
	}
	cg_metrics_add(e->metrics, "casegate_reconciliations_total", "result=\"not_found\"", 1);
	if (s == CG_STEP_CREATE) {
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

void cg_recon_answer(struct op *op, const struct cg_dd_result *res)
{
	struct cg_engine *e = op->e;
	enum cg_outcome oc = cg_retry_classify(res->transport_error, res->status);
	if (oc == CG_RETRY_LATER) {
		op->reconciling = 0;
		cg_eng_op_retry(op, res);
		return;
	}
	if (oc == CG_DELIVERED) {
		struct cg_dd_case_view v;
		int64_t oldest = 0;
		const char *attr = attr_search(op) ? e->cfg->dd_marker_attr : NULL;
		int found = cg_dd_answer_find_marker(res->body, res->body_len, op->cs.marker, attr, project_of(op), &v,
						     &oldest);
		if (found == 1) {
			adopt(op, &v);
			return;
		}
		if (found < 0)
			CG_LOG_WARN("key=%s: search answer is not a case list; treating it as not found", op->ev.dedup_key);
	} else {
		/* A search Datadog refuses (a filter syntax it does not know) tells nothing: go on. */
		CG_LOG_WARN("key=%s: search refused (%s): trying the next way", op->ev.dedup_key, op->reason);
	}
	op->recon_phase++;
	if (op->recon_phase == PHASE_ATTR && !attr_search(op))
		op->recon_phase++;
	if (op->recon_phase == PHASE_NEWEST && !settled(op, cg_eng_wall_ms()))
		op->recon_phase++;
	if (op->recon_phase >= PHASE_DONE) {
		not_found(op);
		return;
	}
	cg_recon_send(op);
}

/* ---- reading a case back ---- */

int cg_refresh_due(const struct op *op)
{
	const struct cg_store_case *c = &op->cs;
	if (op->nsteps == 0 || !c->case_id || (c->state != CG_CASE_OPEN && c->state != CG_CASE_CLOSED) ||
	    (c->action_flags & CG_CASE_ARCHIVED))
		return 0;
	return cg_eng_wall_ms() - c->confirmed_ms >= (int64_t)op->e->cfg->dd_case_refresh_ms;
}

void cg_refresh_send(struct op *op)
{
	cg_eng_send_request(op, CG_REQ_GET_CASE);
}

static void refresh_count(struct op *op, const char *what)
{
	char labels[256];
	snprintf(labels, sizeof(labels), "%s,found=\"%s\"", op->source_label, what);
	cg_metrics_add(op->e->metrics, "casegate_case_refreshes_total", labels, 1);
}

/* Datadog's state of the case wins over the record. */
static void apply_view(struct op *op, const struct cg_dd_case_view *v)
{
	struct cg_store_case *c = &op->cs;
	const char *key = c->case_key ? c->case_key : v->id;
	int64_t now = cg_eng_wall_ms();
	c->confirmed_ms = now;
	if (v->priority >= 0)
		c->priority = v->priority;
	if (v->archived) {
		if (!(c->action_flags & CG_CASE_ARCHIVED))
			CG_LOG_EV(CG_LOG_LEVEL_INFO, op->ev.source, op->ev.dedup_key, key,
				  "archived in Datadog: never touched again (a new alert opens a new case)");
		c->action_flags |= CG_CASE_ARCHIVED;
		if (c->state != CG_CASE_CLOSED) {
			c->state = CG_CASE_CLOSED;
			c->closed_ms = v->closed_ms ? v->closed_ms : now;
		}
		refresh_count(op, "archived");
	} else if (v->closed && c->state == CG_CASE_OPEN) {
		CG_LOG_EV(CG_LOG_LEVEL_INFO, op->ev.source, op->ev.dedup_key, key,
			  "closed in Datadog (by a person): treated as resolved");
		c->state = CG_CASE_CLOSED;
		c->closed_ms = v->closed_ms ? v->closed_ms : now;
		refresh_count(op, "closed");
	} else if (!v->closed && c->state == CG_CASE_CLOSED) {
		CG_LOG_EV(CG_LOG_LEVEL_INFO, op->ev.source, op->ev.dedup_key, key, "reopened in Datadog");
		c->state = CG_CASE_OPEN;
		c->closed_ms = 0;
		refresh_count(op, "reopened");
	} else {
		refresh_count(op, "unchanged");
	}
}

void cg_refresh_answer(struct op *op, const struct cg_dd_result *res)
{
	op->refreshing = 0;
	enum cg_outcome oc = cg_retry_classify(res->transport_error, res->status);
	struct cg_dd_case_view v;
	if (oc == CG_RETRY_LATER) {
		cg_eng_op_retry(op, res);
		return;
	}
	if (res->status == 404) {
		/* Deleted in Datadog: forget it; a firing opens a new case, a resolution has nothing
		 * left to close. */
		CG_LOG_EV(CG_LOG_LEVEL_INFO, op->ev.source, op->ev.dedup_key, op->cs.case_key,
			  "the case is gone from Datadog: forgotten");
		refresh_count(op, "deleted");
		struct cg_store_case *c = &op->cs;
		cg_eng_set_str(&c->case_id, NULL);
		cg_eng_set_str(&c->case_key, NULL);
		c->state = CG_CASE_NONE;
		c->closed_ms = 0;
		c->confirmed_ms = cg_eng_wall_ms();
	} else if (oc == CG_DELIVERED && cg_dd_answer_case(res->body, res->body_len, &v) == 0) {
		apply_view(op, &v);
	} else {
		/* An answer that tells nothing: act on what casegate knows. */
		CG_LOG_WARN("key=%s: reading case %s back failed (%s): acting on the stored state", op->ev.dedup_key,
			    op->cs.case_id, op->reason[0] ? op->reason : "not a case document");
		refresh_count(op, "unreadable");
	}
	if (op->action == CG_ACT_SYNC) {
		cg_eng_op_finish(op, FIN_DONE);
		return;
	}
	cg_eng_op_replan(op);
}
