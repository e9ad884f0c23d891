/* lookups.c: what the engine reads of Datadog's setup: project keys (creates wait for the listing)
 * and the custom attributes of the sources' case types. */
#define CG_LOG_COMPONENT "engine"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ddanswer.h"
#include "engine_int.h"
#include "err.h"
#include "log.h"

int cg_eng_request_back(struct cg_engine *e);

/* Sends the engine's own read k (case_type: the listing's type) with done(ud). 0 or an error. */
static int send_lookup(struct cg_engine *e, enum cg_req_kind k, const char *case_type, cg_dd_done_fn done, void *ud)
{
	struct cg_req_ctx ctx = {.case_type = case_type};
	struct cg_request rq;
	int rc = cg_req_build(k, &ctx, &rq);
	if (rc)
		return rc;
	rc = cg_dd_request(e->dd, rq.row->method, rq.path, rq.body, rq.body_len, done, ud);
	cg_request_cleanup(&rq);
	return rc;
}


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

void cg_lookups_projects_fetch(struct cg_engine *e)
{
	if (e->proj_fetching || e->stopping)
		return;
	e->proj_fetching = 1;
	e->proj_fetch_ms = cg_eng_wall_ms();
	if (send_lookup(e, CG_REQ_PROJECTS, NULL, projects_done, e) != 0) {
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
	cg_lookups_projects_fetch(e);
	if (!e->proj_fetching) {
		/* Could not even ask: leave the list for the next attempt. */
		e->proj_head = e->proj_tail = NULL;
		snprintf(op->reason, sizeof(op->reason), "project key '%.64s' not resolved yet", p);
		cg_eng_op_retry(op, NULL);
	}
	return 1;
}

/* ---- case types ---- */

const struct cg_catype *cg_eng_catype(struct cg_engine *e, const struct cg_source_config *src)
{
	return src && src->case_type ? cg_catypes_get(&e->types, src->case_type, 0) : NULL;
}

struct type_fetch {
	struct cg_engine *e;
	char id[64];
};

static void type_done(const struct cg_dd_result *res, void *ud)
{
	struct type_fetch *f = ud;
	struct cg_engine *e = f->e;
	if (cg_eng_request_back(e)) {
		free(f);
		return;
	}
	cg_gate_answer(e, NULL, CG_RL_READ, CG_RL_MAX_BUCKETS, "case_type", res);
	struct cg_catype *t = cg_catypes_get(&e->types, f->id, 1);
	if (t && res->status == 200 && cg_catype_set(t, res->body, res->body_len) == 0) {
		/* Only the sources of this type: one warning per configured attribute it refuses. */
		struct cg_catypes one = {.v = t, .n = 1};
		char *lines = NULL;
		cg_catypes_report(e->cfg, &one, &lines);
		for (char *p = lines; p && *p;) {
			char *nl = strchr(p, '\n');
			if (nl)
				*nl = '\0';
			CG_LOG_WARN("%s", p);
			p = nl ? nl + 1 : NULL;
		}
		free(lines);
		CG_LOG_DEBUG("case type %s: %zu custom attribute(s) defined", f->id, t->n);
	} else {
		char why[300];
		if (res->transport_error)
			snprintf(why, sizeof(why), "%s", res->errmsg);
		else
			cg_dd_answer_error(res->body, res->body_len, why, sizeof(why));
		CG_LOG_WARN("could not read the custom attributes of case type %s (%s%ld: %s): they are sent as "
			    "configured (a create Datadog refuses for them goes again without them)",
			    f->id, res->transport_error ? "" : "HTTP ", res->status, why);
	}
	free(f);
}

void cg_catypes_fetch(struct cg_engine *e)
{
	for (size_t i = 0; i < e->cfg->nsources; i++) {
		const struct cg_source_config *src = &e->cfg->sources[i];
		if (!src->case_type || strlen(src->case_type) >= 64)
			continue;
		/* One request per type, whichever source names it first. */
		int seen = 0;
		for (size_t k = 0; k < i && !seen; k++)
			seen = e->cfg->sources[k].case_type && strcmp(e->cfg->sources[k].case_type, src->case_type) == 0;
		if (seen)
			continue;
		struct type_fetch *f = calloc(1, sizeof(*f));
		if (!f)
			return;
		f->e = e;
		snprintf(f->id, sizeof(f->id), "%s", src->case_type);
		if (send_lookup(e, CG_REQ_CASE_TYPE_ATTRS, src->case_type, type_done, f) != 0) {
			free(f);
			continue;
		}
		e->pending_cb++;
	}
}
