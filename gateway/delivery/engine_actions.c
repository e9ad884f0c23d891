/* engine_actions.c: the engine's helpers for lifecycle actions: action step requests; starting and
 * stopping project keys, bulk priority changes and the archive sweep. */
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

int cg_eng_request_back(struct cg_engine *e);

/* Builds an action step's request into op->areq. 1 when the op moved on (skipped, or retry). */
int cg_acts_prepare(struct op *op)
{
	struct cg_engine *e = op->e;
	enum cg_step s = op->steps[op->index];
	if (!cg_eng_case_ref(op))
		return 0; /* op_send_step dead-letters it with the usual message */
	const struct cg_source_config *src = cg_eng_find_source(e->cfg, op->ev.source);
	struct cg_source_config dflt;
	if (!src) {
		cg_lifecycle_defaults(&dflt);
		src = &dflt;
	}
	cJSON_Delete(op->areq.body);
	memset(&op->areq, 0, sizeof(op->areq));
	int r = cg_actions_request(src, op->action, op->steps, op->index, op->prio_before, op->ev.priority, &op->cs,
				   &op->pl, op->now, &op->areq);
	if (r == 0)
		return 0;
	if (r == 1) {
		CG_LOG_DEBUG("key=%s: %s: nothing to do", op->ev.dedup_key, cg_step_name(s));
		cg_actions_record(s, 0, &op->cs);
		cg_eng_op_advance(op);
		return 1;
	}
	snprintf(op->reason, sizeof(op->reason), "could not build %s: %s", cg_step_name(s), cg_strerror(r));
	cg_eng_op_retry(op, NULL);
	return 1;
}

/* At creation and after a reload: resolve project keys, (re)arm the archive sweep. */
void cg_acts_start(struct cg_engine *e)
{
	uint64_t min = 0;
	int keys = 0;
	for (size_t i = 0; i < e->cfg->nsources; i++) {
		const struct cg_source_config *src = &e->cfg->sources[i];
		keys |= cg_project_is_key(src->project);
		if (src->actions.archive_after_ms && (!min || src->actions.archive_after_ms < min))
			min = src->actions.archive_after_ms;
	}
	if (keys) {
		/* A reload lists again: a project created since then resolves now. */
		e->projects.loaded_ms = 0;
		cg_lookups_projects_fetch(e);
	}
	if (!min) {
		uv_timer_stop(&e->sweep_timer);
		return;
	}
	uint64_t iv = min / 4;
	if (iv < 250)
		iv = 250;
	if (iv > 10 * 60 * 1000)
		iv = 10 * 60 * 1000;
	uv_timer_start(&e->sweep_timer, cg_sweep_cb, iv, iv);
}

void cg_acts_stop(struct cg_engine *e)
{
	uv_timer_stop(&e->sweep_timer);
	uv_timer_stop(&e->bulk_timer);
	/* Collected and waiting ops have saved their progress: they resume after restart. */
	struct op *list = e->bulk_head;
	e->bulk_head = NULL;
	while (list) {
		struct op *op = list;
		list = op->bulk_next;
		op->bulk_next = NULL;
		cg_eng_op_release(op);
	}
	list = e->proj_head;
	e->proj_head = e->proj_tail = NULL;
	while (list) {
		struct op *op = list;
		list = op->wait_next;
		cg_eng_op_release(op);
	}
}
