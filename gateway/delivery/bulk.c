/* bulk.c: bulk priority changes (opt-in): ops whose next step sets the same priority share one request. */
#define CG_LOG_COMPONENT "engine"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"
#include "err.h"
#include "event.h"
#include "log.h"
#include "retry.h"

/* Bulk (opt-in, `actions.bulk`): ops whose next step sets the same priority, within 50 ms, share one
 * request. Closes always go one by one: the bulk payload for statuses is undocumented, and a
 * close that silently did nothing would leave a case open. */
#define BULK_WINDOW_MS 50
#define BULK_MAX 100

static int bulk_enabled(const struct op *op)
{
	const struct cg_source_config *src = cg_eng_find_source(op->e->cfg, op->ev.source);
	if (!src || !src->actions.bulk || op->no_bulk || !op->cs.case_id || op->e->bulk_refused)
		return 0;
	return op->steps[op->index] == CG_STEP_PRIORITY;
}

static void bulk_timer_cb(uv_timer_t *t);

int cg_acts_bulk_collect(struct op *op)
{
	struct cg_engine *e = op->e;
	if (op->bulk_members || !bulk_enabled(op))
		return 0;
	op->bulk_next = e->bulk_head;
	e->bulk_head = op;
	if (!uv_is_active((uv_handle_t *)&e->bulk_timer))
		uv_timer_start(&e->bulk_timer, bulk_timer_cb, BULK_WINDOW_MS, 0);
	return 1;
}

static int same_bulk(const struct op *a, const struct op *b)
{
	enum cg_step sa = a->steps[a->index], sb = b->steps[b->index];
	return sa == sb && (sa != CG_STEP_PRIORITY || a->ev.priority == b->ev.priority);
}

static void bulk_timer_cb(uv_timer_t *t)
{
	struct cg_engine *e = t->data;
	/* Arrival order (the list is newest first). */
	struct op *rev = NULL, *list = e->bulk_head;
	e->bulk_head = NULL;
	while (list) {
		struct op *n = list->bulk_next;
		list->bulk_next = rev;
		rev = list;
		list = n;
	}
	while (rev) {
		struct op *leader = rev, *tail = NULL;
		size_t n = 1;
		rev = rev->bulk_next;
		leader->bulk_next = NULL;
		for (struct op **pp = &rev; *pp && n < BULK_MAX;) {
			struct op *o = *pp;
			if (!same_bulk(leader, o)) {
				pp = &o->bulk_next;
				continue;
			}
			*pp = o->bulk_next;
			o->bulk_next = NULL;
			if (tail)
				tail->bulk_next = o;
			else
				leader->bulk_members = o;
			tail = o;
			n++;
		}
		if (n == 1)
			leader->no_bulk = 1; /* alone: the single request is the cheaper one */
		cg_eng_op_send_step(leader);
	}
}

/* The case ids a bulk request's leader carries: its own first (malloc'd; NULL on ENOMEM). */
const char **cg_acts_bulk_ids(const struct op *leader, size_t *n)
{
	*n = 1;
	for (const struct op *m = leader->bulk_members; m; m = m->bulk_next)
		(*n)++;
	const char **ids = calloc(*n, sizeof(*ids));
	if (!ids)
		return NULL;
	ids[0] = leader->cs.case_id;
	size_t i = 1;
	for (const struct op *m = leader->bulk_members; m; m = m->bulk_next)
		ids[i++] = m->cs.case_id;
	return ids;
}

void cg_acts_bulk_done(const struct cg_dd_result *res, void *ud)
{
	struct op *leader = ud;
	struct cg_engine *e = leader->e;
	char labels[160];
	int cc = cg_gate_answer(e, leader, leader->rl_class, leader->rl_bucket, "bulk", res);
	if (cc < 0)
		return; /* the whole batch goes again when the window resets */
	enum cg_outcome oc = cg_retry_classify(res->transport_error, res->status);
	snprintf(labels, sizeof(labels), "outcome=\"%s\"",
		 oc == CG_DELIVERED ? "delivered" : oc == CG_RETRY_LATER ? "retry" : "refused");
	cg_metrics_add(e->metrics, "casegate_bulk_requests_total", labels, 1);
	struct op *all = leader;
	leader->bulk_next = leader->bulk_members;
	leader->bulk_members = NULL;
	if (oc == CG_GIVE_UP) {
		/* Remembered: the preview endpoint is not retried on every batch. */
		CG_LOG_WARN("bulk update refused (HTTP %ld: %.200s): single requests from now on", res->status,
			    res->body ? res->body : "");
		e->bulk_refused = 1;
	}
	while (all) {
		struct op *op = all;
		all = op->bulk_next;
		op->bulk_next = NULL;
		if (cc != CG_CIRCUIT_ANSWERED && e->circ.open) {
			cg_gate_park_held(op);
		} else if (oc == CG_DELIVERED) {
			cg_metrics_add(e->metrics, "casegate_bulk_cases_total", op->source_label, 1);
			cg_eng_op_advance(op);
		} else if (oc == CG_GIVE_UP) {
			op->no_bulk = 1;
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
