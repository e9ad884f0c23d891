/* engine_actions.c: the engine's helpers for lifecycle actions: action step requests, project keys,
 * bulk priority changes, the archive sweep. */
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

static void projects_fetch(struct cg_engine *e);

static void projects_check(struct cg_engine *e)
{
	for (size_t i = 0; i < e->cfg->nsources; i++) {
		const struct cg_source_config *src = &e->cfg->sources[i];
		if (cg_project_is_key(src->project) && !cg_projects_id(&e->projects, src->project))
			CG_LOG_ERR("source '%s': project key '%s' is unknown to Datadog: its new cases wait until "
				   "the project exists (create it, e.g. with casegate provision)",
				   src->name, src->project);
	}
}

static void projects_done(const struct cg_dd_result *res, void *ud)
{
	struct cg_engine *e = ud;
	e->proj_fetching = 0;
	if (cg_eng_request_back(e))
		return; /* the engine was destroyed while the listing was out */
	cg_gate_answer(e, NULL, CG_RL_READ, CG_RL_MAX_BUCKETS, "projects", res);
	char why[300] = "";
	if (res->status == 200 && cg_projects_parse(&e->projects, res->body, res->body_len) == 0) {
		e->projects.loaded_ms = cg_eng_wall_ms();
		CG_LOG_INFO("project keys resolved (%zu project(s))", e->projects.n);
		projects_check(e);
	} else if (res->transport_error) {
		snprintf(why, sizeof(why), "listing projects failed: %s", res->errmsg);
	} else {
		snprintf(why, sizeof(why), "listing projects failed: HTTP %ld: %.200s", res->status,
			 res->body ? res->body : "");
	}
	if (why[0])
		CG_LOG_WARN("%s", why);
	struct op *list = e->proj_head;
	e->proj_head = e->proj_tail = NULL;
	while (list) {
		struct op *op = list;
		list = op->wait_next;
		if (e->stopping) {
			cg_eng_op_release(op);
		} else if (why[0] && !e->projects.loaded) {
			snprintf(op->reason, sizeof(op->reason), "project key not resolved: %s", why);
			cg_eng_op_retry(op, NULL);
		} else {
			cg_eng_op_send_step(op);
		}
	}
}

static void projects_fetch(struct cg_engine *e)
{
	if (e->proj_fetching || e->stopping)
		return;
	e->proj_fetching = 1;
	e->proj_fetch_ms = cg_eng_wall_ms();
	if (cg_dd_request(e->dd, "GET", "/api/v2/cases/projects", NULL, 0, projects_done, e) != 0) {
		e->proj_fetching = 0;
		CG_LOG_WARN("could not ask Datadog for the project list");
		return;
	}
	e->pending_cb++;
}

/* 1 when the create must wait for project keys (the op waits or retries), 0 to send it. */
int cg_acts_project_wait(struct op *op)
{
	struct cg_engine *e = op->e;
	const char *p = cg_payload_project(&op->pl);
	if (!p || !cg_project_is_key(p))
		return 0;
	if (e->projects.loaded && cg_projects_id(&e->projects, p))
		return 0;
	if (e->projects.loaded && !e->proj_fetching && cg_eng_wall_ms() - e->proj_fetch_ms < 30000) {
		snprintf(op->reason, sizeof(op->reason),
			 "project key '%.64s' is unknown to Datadog (GET /api/v2/cases/projects)", p);
		op->http_status = 0;
		cg_eng_op_retry(op, NULL);
		return 1;
	}
	op->wait_next = NULL;
	if (e->proj_tail)
		e->proj_tail->wait_next = op;
	else
		e->proj_head = op;
	e->proj_tail = op;
	projects_fetch(e);
	if (!e->proj_fetching) {
		/* Could not even ask: leave the list for the next attempt. */
		e->proj_head = e->proj_tail = NULL;
		snprintf(op->reason, sizeof(op->reason), "project key '%.64s' not resolved yet", p);
		cg_eng_op_retry(op, NULL);
	}
	return 1;
}

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

static void bulk_done(const struct cg_dd_result *res, void *ud);

int cg_acts_send_bulk(struct op *leader)
{
	size_t n = 1;
	for (struct op *m = leader->bulk_members; m; m = m->bulk_next)
		n++;
	const char **ids = calloc(n, sizeof(*ids));
	if (!ids)
		return CG_ENOMEM;
	ids[0] = leader->cs.case_id;
	size_t i = 1;
	for (struct op *m = leader->bulk_members; m; m = m->bulk_next)
		ids[i++] = m->cs.case_id;
	cJSON *body = cg_body_bulk(ids, n, "priority", "priority", cg_priority_name(leader->ev.priority));
	free(ids);
	if (!body)
		return CG_ENOMEM;
	char *text = cJSON_PrintUnformatted(body);
	cJSON_Delete(body);
	if (!text)
		return CG_ENOMEM;
	int rc = cg_dd_request(leader->e->dd, "POST", "/api/v2/cases/bulk", text, strlen(text), bulk_done, leader);
	cJSON_free(text);
	if (rc == 0)
		CG_LOG_DEBUG("bulk priority change of %zu cases", n);
	return rc;
}

static void bulk_done(const struct cg_dd_result *res, void *ud)
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

static void sweep_cb(uv_timer_t *t)
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
		projects_fetch(e);
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
	uv_timer_start(&e->sweep_timer, sweep_cb, iv, iv);
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
