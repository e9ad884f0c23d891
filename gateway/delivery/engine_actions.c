/* engine_actions.c: the engine's helpers for lifecycle actions: starting and stopping project keys,
 * bulk priority changes and the archive sweep. */
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
