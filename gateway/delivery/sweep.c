/* sweep.c: the archive sweep: closed cases older than a source's archive_after get an archive event,
 * which then runs like any other event of their key (ordered, rate-limited, retried). */
#define CG_LOG_COMPONENT "engine"
#include "sweep.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "event.h"
#include "lifecycle.h"
#include "log.h"
#include "payload.h"
#include "store.h"
#include "timing.h"

struct cg_sweep {
	uv_timer_t timer;
	struct cg_storeq *q;
	const struct cg_config *cfg;
	struct cg_sweep_hooks hooks;
	int running;          /* a sweep job is in the store queue */
	int stopping, destroyed, closed;
};

struct sweep_job {
	struct cg_sweep *s;
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
	int64_t now = cg_timing_wall_ms();
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

static void sweep_release(struct cg_sweep *s)
{
	if (s->destroyed && s->closed && !s->running)
		free(s);
}

static void sweep_done(int rc, void *ud)
{
	struct sweep_job *j = ud;
	struct cg_sweep *s = j->s;
	s->running = 0;
	if (rc)
		CG_LOG_WARN("archive sweep failed: %s", cg_strerror(rc));
	else if (j->unsupported)
		CG_LOG_WARN("archive_after: the store cannot list closed cases; archiving is off");
	else if (j->queued) {
		CG_LOG_INFO("archive sweep: %zu case(s) to archive", j->queued);
		if (!s->stopping)
			s->hooks.queued(s->hooks.ud);
	}
	sweep_free(j);
	if (s->destroyed) {
		sweep_release(s);
		return;
	}
	s->hooks.idle(s->hooks.ud);
}

static void sweep_cb(uv_timer_t *t)
{
	struct cg_sweep *s = t->data;
	if (s->running || s->stopping)
		return;
	struct sweep_job *j = calloc(1, sizeof(*j));
	size_t n = s->cfg->nsources;
	if (!j || !(j->names = calloc(n ? n : 1, sizeof(char *))) || !(j->before = calloc(n ? n : 1, sizeof(int64_t)))) {
		if (j)
			sweep_free(j);
		return;
	}
	j->s = s;
	int64_t now = cg_timing_wall_ms();
	for (size_t i = 0; i < n; i++) {
		const struct cg_source_config *src = &s->cfg->sources[i];
		if (!src->actions.archive_after_ms)
			continue;
		if (!(j->names[j->n] = strdup(src->name)))
			break;
		j->before[j->n++] = now - (int64_t)src->actions.archive_after_ms;
	}
	if (j->n == 0 || cg_storeq_submit(s->q, sweep_run, sweep_done, j) != 0) {
		sweep_free(j);
		return;
	}
	s->running = 1;
}

int cg_sweep_create(uv_loop_t *loop, struct cg_storeq *q, const struct cg_sweep_hooks *hooks, struct cg_sweep **out)
{
	struct cg_sweep *s = calloc(1, sizeof(*s));
	if (!s)
		return CG_ENOMEM;
	s->q = q;
	s->hooks = *hooks;
	uv_timer_init(loop, &s->timer);
	s->timer.data = s;
	*out = s;
	return 0;
}

void cg_sweep_set_config(struct cg_sweep *s, const struct cg_config *cfg)
{
	uint64_t min = 0;
	s->cfg = cfg;
	for (size_t i = 0; i < cfg->nsources; i++) {
		uint64_t after = cfg->sources[i].actions.archive_after_ms;
		if (after && (!min || after < min))
			min = after;
	}
	if (!min) {
		uv_timer_stop(&s->timer);
		return;
	}
	/* Often enough that a case is archived soon after its time, rarely enough to cost nothing. */
	uint64_t iv = min / 4;
	if (iv < 250)
		iv = 250;
	if (iv > 10 * 60 * 1000)
		iv = 10 * 60 * 1000;
	uv_timer_start(&s->timer, sweep_cb, iv, iv);
}

int cg_sweep_busy(const struct cg_sweep *s)
{
	return s->running;
}

void cg_sweep_stop(struct cg_sweep *s)
{
	s->stopping = 1;
	uv_timer_stop(&s->timer);
}

static void timer_closed(uv_handle_t *h)
{
	struct cg_sweep *s = h->data;
	s->closed = 1;
	sweep_release(s);
}

void cg_sweep_destroy(struct cg_sweep *s)
{
	if (!s)
		return;
	s->destroyed = 1;
	s->stopping = 1;
	uv_close((uv_handle_t *)&s->timer, timer_closed);
}
