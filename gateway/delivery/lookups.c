/* lookups.c: what delivery reads of Datadog's setup: the project keys (creates wait for the listing)
 * and the custom attributes of the sources' case types. */
#define CG_LOG_COMPONENT "engine"
#include "lookups.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ddanswer.h"
#include "err.h"
#include "log.h"
#include "requests.h"
#include "timing.h"

struct cg_lookups {
	struct cg_dd_client *dd;
	struct cg_gate *gate;
	const struct cg_config *cfg;
	struct cg_lookups_hooks hooks;
	struct cg_projects projects;       /* project keys -> UUIDs */
	int proj_fetching;
	int64_t proj_fetch_ms;             /* when the last listing was asked for */
	struct cg_lookup_waiter *proj_head, *proj_tail; /* creates waiting for the listing */
	struct cg_catypes types;           /* custom attributes of the sources' case types */
	unsigned pending;                  /* reads on the wire */
	int stopping, destroyed;
};

int cg_lookups_create(struct cg_dd_client *dd, struct cg_gate *gate, const struct cg_config *cfg,
		      const struct cg_lookups_hooks *hooks, struct cg_lookups **out)
{
	struct cg_lookups *l = calloc(1, sizeof(*l));
	if (!l)
		return CG_ENOMEM;
	l->dd = dd;
	l->gate = gate;
	l->cfg = cfg;
	l->hooks = *hooks;
	*out = l;
	return 0;
}

static void lookups_free(struct cg_lookups *l)
{
	cg_projects_cleanup(&l->projects);
	cg_catypes_cleanup(&l->types);
	free(l);
}

/* A read answered: 1 when l was destroyed meanwhile (and is freed now, if it was the last). */
static int read_back(struct cg_lookups *l)
{
	l->pending--;
	if (!l->destroyed)
		return 0;
	if (!l->pending)
		lookups_free(l);
	return 1;
}

/* Sends read k (case_type: the listing's type) with done(ud). 0 or an error. */
static int send_read(struct cg_lookups *l, enum cg_req_kind k, const char *case_type, cg_dd_done_fn done, void *ud)
{
	struct cg_req_ctx ctx = {.case_type = case_type};
	struct cg_request rq;
	int rc = cg_req_build(k, &ctx, &rq);
	if (rc)
		return rc;
	rc = cg_dd_request(l->dd, rq.row->method, rq.path, rq.body, rq.body_len, done, ud);
	cg_request_cleanup(&rq);
	if (rc == 0)
		l->pending++;
	return rc;
}

/* ---- project keys ---- */

static void projects_check(struct cg_lookups *l)
{
	for (size_t i = 0; i < l->cfg->nsources; i++) {
		const struct cg_source_config *src = &l->cfg->sources[i];
		if (cg_project_is_key(src->project) && !cg_projects_id(&l->projects, src->project))
			CG_LOG_ERR("source '%s': project key '%s' is unknown to Datadog: its new cases wait until "
				   "the project exists (create it, e.g. with casegate provision)",
				   src->name, src->project);
	}
}

static void projects_done(const struct cg_dd_result *res, void *ud)
{
	struct cg_lookups *l = ud;
	l->proj_fetching = 0;
	if (read_back(l))
		return;
	cg_gate_answer_read(l->gate, cg_req_row(CG_REQ_PROJECTS)->name, res);
	char why[300] = "";
	if (res->status == 200 && cg_projects_parse(&l->projects, res->body, res->body_len) == 0) {
		l->projects.loaded_ms = cg_timing_wall_ms();
		CG_LOG_INFO("project keys resolved (%zu project(s))", l->projects.n);
		projects_check(l);
	} else if (res->transport_error) {
		snprintf(why, sizeof(why), "listing projects failed: %s", res->errmsg);
	} else {
		snprintf(why, sizeof(why), "listing projects failed: HTTP %ld: %.200s", res->status,
			 res->body ? res->body : "");
	}
	if (why[0])
		CG_LOG_WARN("%s", why);
	struct cg_lookup_waiter *list = l->proj_head;
	l->proj_head = l->proj_tail = NULL;
	while (list) {
		struct cg_lookup_waiter *w = list;
		list = w->next;
		if (l->stopping)
			l->hooks.release(w, l->hooks.ud);
		else
			l->hooks.project_done(w, why[0] && !l->projects.loaded ? why : NULL, l->hooks.ud);
	}
}

static void projects_fetch(struct cg_lookups *l)
{
	if (l->proj_fetching || l->stopping)
		return;
	l->proj_fetching = 1;
	l->proj_fetch_ms = cg_timing_wall_ms();
	if (send_read(l, CG_REQ_PROJECTS, NULL, projects_done, l) != 0) {
		l->proj_fetching = 0;
		CG_LOG_WARN("could not ask Datadog for the project list");
	}
}

int cg_lookups_project_wait(struct cg_lookups *l, const char *p, struct cg_lookup_waiter *w, char *why, size_t len)
{
	if (!p || !cg_project_is_key(p))
		return 0;
	if (l->projects.loaded && cg_projects_id(&l->projects, p))
		return 0;
	if (l->projects.loaded && !l->proj_fetching && cg_timing_wall_ms() - l->proj_fetch_ms < 30000) {
		snprintf(why, len, "project key '%.64s' is unknown to Datadog (GET /api/v2/cases/projects)", p);
		return CG_ENOENT;
	}
	w->next = NULL;
	if (l->proj_tail)
		l->proj_tail->next = w;
	else
		l->proj_head = w;
	l->proj_tail = w;
	projects_fetch(l);
	if (!l->proj_fetching) {
		/* Could not even ask: leave the list for the next attempt. */
		l->proj_head = l->proj_tail = NULL;
		snprintf(why, len, "project key '%.64s' not resolved yet", p);
		return CG_EAGAIN;
	}
	return 1;
}

const char *cg_lookups_project_id(const struct cg_lookups *l, const char *project)
{
	return project && cg_project_is_key(project) ? cg_projects_id(&l->projects, project) : project;
}

const struct cg_projects *cg_lookups_projects(const struct cg_lookups *l)
{
	return &l->projects;
}

/* ---- case types ---- */

const struct cg_catype *cg_lookups_catype(struct cg_lookups *l, const struct cg_source_config *src)
{
	return src && src->case_type ? cg_catypes_get(&l->types, src->case_type, 0) : NULL;
}

struct type_fetch {
	struct cg_lookups *l;
	char id[64];
};

static void type_done(const struct cg_dd_result *res, void *ud)
{
	struct type_fetch *f = ud;
	struct cg_lookups *l = f->l;
	if (read_back(l)) {
		free(f);
		return;
	}
	cg_gate_answer_read(l->gate, cg_req_row(CG_REQ_CASE_TYPE_ATTRS)->name, res);
	struct cg_catype *t = cg_catypes_get(&l->types, f->id, 1);
	if (t && res->status == 200 && cg_catype_set(t, res->body, res->body_len) == 0) {
		/* Only the sources of this type: one warning per configured attribute it refuses. */
		struct cg_catypes one = {.v = t, .n = 1};
		char *lines = NULL;
		cg_catypes_report(l->cfg, &one, &lines);
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

static void types_fetch(struct cg_lookups *l)
{
	const struct cg_config *cfg = l->cfg;
	for (size_t i = 0; i < cfg->nsources; i++) {
		const struct cg_source_config *src = &cfg->sources[i];
		if (!src->case_type || strlen(src->case_type) >= 64)
			continue;
		/* One request per type, whichever source names it first. */
		int seen = 0;
		for (size_t k = 0; k < i && !seen; k++)
			seen = cfg->sources[k].case_type && strcmp(cfg->sources[k].case_type, src->case_type) == 0;
		if (seen)
			continue;
		struct type_fetch *f = calloc(1, sizeof(*f));
		if (!f)
			return;
		f->l = l;
		snprintf(f->id, sizeof(f->id), "%s", src->case_type);
		if (send_read(l, CG_REQ_CASE_TYPE_ATTRS, src->case_type, type_done, f) != 0)
			free(f);
	}
}

/* ---- lifetime ---- */

void cg_lookups_set_config(struct cg_lookups *l, const struct cg_config *cfg)
{
	l->cfg = cfg;
	int keys = 0;
	for (size_t i = 0; i < cfg->nsources; i++)
		keys |= cg_project_is_key(cfg->sources[i].project);
	if (keys) {
		/* A reload lists again: a project created since then resolves now. */
		l->projects.loaded_ms = 0;
		projects_fetch(l);
	}
	types_fetch(l);
}

void cg_lookups_stop(struct cg_lookups *l)
{
	l->stopping = 1;
	/* Waiting creates have saved their progress: they resume after restart. */
	struct cg_lookup_waiter *list = l->proj_head;
	l->proj_head = l->proj_tail = NULL;
	while (list) {
		struct cg_lookup_waiter *w = list;
		list = w->next;
		l->hooks.release(w, l->hooks.ud);
	}
}

void cg_lookups_destroy(struct cg_lookups *l)
{
	if (!l)
		return;
	l->destroyed = 1;
	l->stopping = 1;
	if (!l->pending)
		lookups_free(l);
}
