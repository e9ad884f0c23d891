/* sweep.c: the archive sweep: closed cases older than a source's archive_after get an archive event. */
#define CG_LOG_COMPONENT "engine"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"
#include "err.h"
#include "log.h"

/* Archive sweep: closed cases older than a source's archive_after get an archive event, which
 * then runs like any other event of their key (ordered, rate-limited, retried). */
struct sweep_job {
	struct cg_engine *e;
	size_t n;
	char **names;
	int64_t *before;
	size_t queued;
	int unsupported;
};

static void sweep_free(struct sweep_job *j)
{
	for (size_t i = 0; i < j->n; i++)
		free(j->names[i]);
	free(j->names);
	free(j->before);
	free(j);
}

static int sweep_run(struct cg_store *st, void *ud)
{
	struct sweep_job *j = ud;
	int64_t now = cg_eng_wall_ms();
	j->queued = 0;
	j->unsupported = 0;
	for (size_t i = 0; i < j->n; i++) {
		char prefix[200];
		struct cg_store_case *v = NULL;
		size_t nv = 0;
		snprintf(prefix, sizeof(prefix), "%s:", j->names[i]);
		int rc = cg_store_case_list_closed(st, prefix, j->before[i], CG_CASE_ARCHIVE_QUEUED | CG_CASE_ARCHIVED, 100,
						   &v, &nv);
		if (rc == CG_EINVAL && !st->ops->case_list_closed) {
			j->unsupported = 1;
			return 0;
		}
		if (rc)
			return rc;
		for (size_t k = 0; k < nv && rc == 0; k++) {
			struct cg_payload_in in = {.case_id = v[k].case_id};
			char *payload = cg_payload_encode(&in);
			if (!payload) {
				rc = CG_ENOMEM;
				break;
			}
			struct cg_store_event ev = {.source = j->names[i],
						    .dedup_key = v[k].dedup_key,
						    .status = CG_STATUS_RESOLVED,
						    .priority = v[k].priority,
						    .payload = payload,
						    .received_ms = now,
						    .next_ms = now,
						    .step = cg_step_encode(CG_ACT_ARCHIVE, 0)};
			/* Flag the case only if it is still the closed case listed: a replica (or this
			 * process) may have reopened or replaced it since; writing back the listed row
			 * would undo that. */
			int marked = 0;
			rc = cg_store_case_mark_closed(st, v[k].dedup_key, v[k].case_id, CG_CASE_ARCHIVE_QUEUED, &marked);
			if (rc == 0 && marked)
				rc = cg_store_enqueue(st, &ev, 1);
			if (rc == 0 && marked)
				j->queued++;
			free(payload);
		}
		cg_store_cases_free(v, nv);
		if (rc)
			return rc;
	}
	return 0;
}

static void sweep_done(int rc, void *ud)
{
	struct sweep_job *j = ud;
	struct cg_engine *e = j->e;
	e->sweeping = 0;
	if (rc)
		CG_LOG_WARN("archive sweep failed: %s", cg_strerror(rc));
	else if (j->unsupported)
		CG_LOG_WARN("archive_after: the store cannot list closed cases; archiving is off");
	else if (j->queued) {
		CG_LOG_INFO("archive sweep: %zu case(s) to archive", j->queued);
		if (!e->stopping)
			cg_engine_kick(e);
	}
	sweep_free(j);
	cg_eng_maybe_stopped(e);
}

void cg_sweep_cb(uv_timer_t *t)
{
	struct cg_engine *e = t->data;
	if (e->sweeping || e->stopping)
		return;
	struct sweep_job *j = calloc(1, sizeof(*j));
	size_t n = e->cfg->nsources;
	if (!j || !(j->names = calloc(n ? n : 1, sizeof(char *))) || !(j->before = calloc(n ? n : 1, sizeof(int64_t)))) {
		if (j)
			sweep_free(j);
		return;
	}
	j->e = e;
	int64_t now = cg_eng_wall_ms();
	for (size_t i = 0; i < n; i++) {
		const struct cg_source_config *src = &e->cfg->sources[i];
		if (!src->actions.archive_after_ms)
			continue;
		if (!(j->names[j->n] = strdup(src->name)))
			break;
		j->before[j->n++] = now - (int64_t)src->actions.archive_after_ms;
	}
	if (j->n == 0 || cg_storeq_submit(e->q, sweep_run, sweep_done, j) != 0) {
		sweep_free(j);
		return;
	}
	e->sweeping = 1;
}
