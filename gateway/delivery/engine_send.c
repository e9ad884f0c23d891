/* engine_send.c: an op's next request: which one its step needs (after the project listing, a
 * search for a lost create, a bulk window), built from the request table, through the gate. The
 * answers go to the callbacks engine.c registered (on_answer, on_bulk_answer). */
#define CG_LOG_COMPONENT "engine"
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"
#include "err.h"
#include "log.h"
#include "recon.h"
#include "timing.h"

#define container_of(p, type, member) ((type *)(void *)((char *)(p)-offsetof(type, member)))

const struct cg_source_config *cg_eng_find_source(const struct cg_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nsources; i++)
		if (strcmp(cfg->sources[i].name, name) == 0)
			return &cfg->sources[i];
	return NULL;
}

static const char *case_ref(const struct op *op)
{
	return op->cs.case_id ? op->cs.case_id : op->cs.case_key;
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
	c->catype = cg_lookups_catype(e->lookups, src);
	c->marker_attr = e->cfg->dd_marker_attr;
	c->projects = cg_lookups_projects(e->lookups);
}

/* The case ids a bulk request's leader carries, its own first (malloc'd; NULL on ENOMEM). */
static const char **bulk_ids(const struct op *leader, size_t *n)
{
	*n = 1;
	for (const struct cg_bulk_item *m = leader->bulk.members; m; m = m->next)
		(*n)++;
	const char **ids = calloc(*n, sizeof(*ids));
	if (!ids)
		return NULL;
	ids[0] = leader->cs.case_id;
	size_t i = 1;
	for (const struct cg_bulk_item *m = leader->bulk.members; m; m = m->next)
		ids[i++] = container_of(m, const struct op, bulk)->cs.case_id;
	return ids;
}

/* Builds request k of op and sends it through the gate. A step with nothing to do moves on; a
 * request that cannot be built or sent is retried. */
static void send_request(struct op *op, enum cg_req_kind k)
{
	struct cg_engine *e = op->e;
	const struct cg_req_row *row = cg_req_row(k);
	struct cg_req_ctx ctx;
	struct cg_request rq;
	const char **ids = NULL;
	req_ctx(op, &ctx);
	int rc = k == CG_REQ_BULK_PRIORITY && !(ids = bulk_ids(op, &ctx.ncase_ids)) ? CG_ENOMEM : 0;
	ctx.case_ids = ids;
	if (!rc)
		rc = cg_req_build(k, &ctx, &rq);
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
	if (cg_gate_defer(e->gate, &op->gate, row->rl)) {
		cg_request_cleanup(&rq);
		return;
	}
	if (rq.dropped > 0) {
		char labels[256];
		snprintf(labels, sizeof(labels), "%s,what=\"custom_attributes\"", op->source_label);
		cg_metrics_add(e->metrics, "casegate_optional_dropped_total", labels, 1);
	}
	op->row = row;
	/* Creates are the one request casegate cannot repeat blindly: never let libcurl replay one. */
	rc = cg_dd_request_flags(e->dd, row->method, rq.path, rq.body, rq.body_len, row->create ? CG_DD_NO_REPLAY : 0,
				 k == CG_REQ_BULK_PRIORITY ? e->on_bulk_answer : e->on_answer, op);
	if (rc == 0 && k == CG_REQ_BULK_PRIORITY)
		CG_LOG_DEBUG("bulk priority change of %zu cases", ctx.ncase_ids);
	cg_request_cleanup(&rq);
	if (rc) {
		/* It never left (no answer will come): undo the gate's count, retry the event. */
		cg_gate_unsent(e->gate, &op->gate);
		snprintf(op->reason, sizeof(op->reason), "could not send %s: %s", row->name, cg_strerror(rc));
		cg_eng_op_retry(op, NULL);
	}
}

/* What a reconciliation round of op knows. */
void cg_eng_recon_of(const struct op *op, struct cg_recon *r)
{
	struct cg_engine *e = op->e;
	const char *attr = e->cfg->dd_marker_attr;
	const struct cg_catype *t = cg_lookups_catype(e->lookups, cg_eng_find_source(e->cfg, op->ev.source));
	*r = (struct cg_recon){
		.source = op->ev.source,
		.key = op->ev.dedup_key,
		.marker = op->cs.marker,
		.attr = attr && cg_catype_has_text(t, attr) ? attr : NULL,
		.project_id = cg_lookups_project_id(e->lookups, cg_payload_project(&op->pl)),
		.sent_ms = op->cs.sent_ms,
		.settle_ms = e->cfg->dd_search_settle_ms,
	};
}

void cg_eng_recon_send(struct op *op)
{
	struct cg_recon r;
	cg_eng_recon_of(op, &r);
	op->reconciling = 1;
	send_request(op, cg_recon_search(&op->recon_phase, &r, cg_timing_wall_ms()));
}

/* bulk: the op may share one request with others setting the same priority (actions.bulk). */
static int bulk_enabled(const struct op *op)
{
	const struct cg_source_config *src = cg_eng_find_source(op->e->cfg, op->ev.source);
	return src && src->actions.bulk && !op->bulk.single && op->cs.case_id && !cg_bulk_refused(op->e->bulk) &&
	       op->steps[op->index] == CG_STEP_PRIORITY;
}

void cg_eng_op_send_step(struct op *op)
{
	struct cg_engine *e = op->e;
	if (cg_eng_lease_lost(op))
		return;
	if (cg_gate_hold(e->gate, &op->gate))
		return;
	if (op->refreshing) {
		send_request(op, CG_REQ_GET_CASE);
		return;
	}
	enum cg_step s = op->steps[op->index];
	if (s == CG_STEP_CREATE) {
		/* A create for a project named by key waits for the listing. */
		int rc = cg_lookups_project_wait(e->lookups, cg_payload_project(&op->pl), &op->wait, op->reason,
						 sizeof(op->reason));
		if (rc < 0) {
			if (rc == CG_ENOENT)
				op->http_status = 0;
			cg_eng_op_retry(op, NULL);
		}
		if (rc)
			return;
	}
	/* The create's outcome never became known: find the case before creating again, or before
	 * acting on it (a given-up create); without the case there is nothing to update. */
	if (op->cs.state == CG_CASE_CREATING && op->cs.marker &&
	    (s == CG_STEP_CREATE ? op->need_reconcile : !case_ref(op))) {
		cg_eng_recon_send(op);
		return;
	}
	op->reconciling = 0;
	if (s != CG_STEP_CREATE && !case_ref(op)) {
		/* Checked before the gate: nothing is sent, so nothing may count as on the wire. */
		snprintf(op->reason, sizeof(op->reason), "no case id for step %s", cg_step_name(s));
		op->http_status = 0;
		cg_eng_op_finish(op, FIN_DEAD);
		return;
	}
	if (s == CG_STEP_PRIORITY && !op->bulk.members && bulk_enabled(op)) {
		cg_bulk_collect(e->bulk, &op->bulk, op->ev.priority);
		return;
	}
	send_request(op, op->bulk.members ? CG_REQ_BULK_PRIORITY : cg_req_of_step(s));
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
