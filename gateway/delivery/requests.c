/* requests.c: every Case API request the daemon sends, in one table (method, path, body builder,
 * optional or not, rate-limit class, create or not), and the body builders of its rows. */
#include "requests.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actions.h"
#include "builder.h"
#include "err.h"
#include "event.h"
#include "sbuf.h"

/* What a body builder reads, and the little it reports back. */
struct cg_req_in {
	const struct cg_req_ctx *ctx;
	const struct cg_source_config *src; /* ctx->src, or the defaults when the source is gone */
	struct cg_action_args args;         /* action steps: what the lifecycle decided */
	int dropped;                        /* out: create parts the case type refuses, left out */
	int rc;                             /* out: why the builder failed when not CG_ENOMEM */
};

/* ---- bodies: the core steps (their JSON is the mapper kit's, builder.h) ---- */

static const char *case_ref(const struct cg_store_case *cs)
{
	return cs->case_id ? cs->case_id : cs->case_key;
}

static cJSON *body_attributes(struct cg_req_in *in)
{
	return cg_body_attributes(in->ctx->pl->attributes);
}

static cJSON *body_comment(struct cg_req_in *in)
{
	const struct cg_req_ctx *c = in->ctx;
	char *text = cg_lifecycle_comment(c->action, c->cs, c->prio, c->severity, c->pl->summary);
	cJSON *body = text ? cg_body_comment(text) : NULL;
	free(text);
	return body;
}

static cJSON *body_close(struct cg_req_in *in)
{
	return cg_body_status(in->ctx->life->status_name);
}

static cJSON *body_open(struct cg_req_in *in)
{
	return cg_body_reopen(in->ctx->life->reopen_status_name);
}

static cJSON *body_priority(struct cg_req_in *in)
{
	return cg_body_priority(in->ctx->prio);
}

/* ---- bodies: the create ---- */

void cg_req_marker(const char *dedup_key, int generation, char marker[40])
{
	char seed[600];
	snprintf(seed, sizeof(seed), "%s#%d", dedup_key, generation);
	char hex[65];
	cg_sha256_hex(seed, strlen(seed), hex);
	snprintf(marker, 40, "cg%.32s", hex);
}

cJSON *cg_req_create_body(const cJSON *draft_create, const char *dedup_key, int generation,
			  const char *prev_case_key, char marker[40])
{
	cg_req_marker(dedup_key, generation, marker);

	cJSON *body = cJSON_Duplicate(draft_create, 1);
	if (!body)
		return NULL;
	cJSON *attrs = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(body, "data"), "attributes");
	if (!cJSON_IsObject(attrs)) {
		cJSON_Delete(body);
		return NULL;
	}
	const char *desc = cg_json_str(attrs, "description");
	size_t dlen = desc ? strlen(desc) : 0;
	size_t cap = dlen + 256 + (prev_case_key ? strlen(prev_case_key) : 0);
	char *text = malloc(cap);
	if (!text) {
		cJSON_Delete(body);
		return NULL;
	}
	/* The marker lets casegate find this case again when the create's answer was lost. It stands
	 * alone on its line, outside any Markdown, so that a search index keeps it one token. */
	int n = snprintf(text, cap, "%s%s", desc ? desc : "", dlen ? "\n\n" : "");
	if (prev_case_key)
		n += snprintf(text + n, cap - (size_t)n, "Follows case %s (resolved earlier).\n\n", prev_case_key);
	snprintf(text + n, cap - (size_t)n, "---\ncasegate ref %s", marker);
	cJSON_DeleteItemFromObjectCaseSensitive(attrs, "description");
	cJSON *s = cJSON_AddStringToObject(attrs, "description", text);
	free(text);
	if (!s) {
		cJSON_Delete(body);
		return NULL;
	}
	return body;
}

int cg_req_create_strip_next(const cJSON *draft, int strip)
{
	while (strip < 2) {
		strip++;
		cJSON *probe = cJSON_Duplicate(draft, 1);
		if (!probe)
			return CG_ENOMEM;
		/* Is there anything left to drop at this level? */
		int n = strip == 1 ? cg_create_drop_custom(probe) : cg_create_drop_optional(probe);
		cJSON_Delete(probe);
		if (n > 0)
			return strip;
	}
	return 0;
}

static cJSON *user_rel(const char *id)
{
	cJSON *r = cJSON_CreateObject();
	cJSON *d = r ? cJSON_AddObjectToObject(r, "data") : NULL;
	if (!d || !cJSON_AddStringToObject(d, "id", id) || !cJSON_AddStringToObject(d, "type", "user")) {
		cJSON_Delete(r);
		return NULL;
	}
	return r;
}

/*
 * Completes the CaseCreateRequest for a source: relationships.assignee for the case's priority
 * (the lifecycle's choice), and the project key swapped for its UUID. 0, CG_EAGAIN (the key is
 * not resolved yet), CG_ENOENT (no project has that key) or CG_ENOMEM.
 */
static int decorate_create(cJSON *body, const struct cg_source_config *src, int prio,
			   const struct cg_projects *projects)
{
	cJSON *data = cJSON_GetObjectItemCaseSensitive(body, "data");
	cJSON *rel = cJSON_GetObjectItemCaseSensitive(data, "relationships");
	cJSON *pd = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(rel, "project"), "data");
	cJSON *pid = cJSON_GetObjectItemCaseSensitive(pd, "id");
	if (cJSON_IsString(pid) && cg_project_is_key(pid->valuestring)) {
		if (!projects || !projects->loaded)
			return CG_EAGAIN;
		const char *uuid = cg_projects_id(projects, pid->valuestring);
		if (!uuid)
			return CG_ENOENT;
		if (!cJSON_SetValuestring(pid, uuid))
			return CG_ENOMEM;
	}
	if (!src)
		return 0;
	struct cg_action_set eff;
	cg_actions_effective(&src->actions, prio, &eff);
	if (eff.assignee && rel) {
		cJSON *r = user_rel(eff.assignee);
		if (!r)
			return CG_ENOMEM;
		cJSON_DeleteItemFromObjectCaseSensitive(rel, "assignee");
		cJSON_AddItemToObject(rel, "assignee", r);
	}
	return 0;
}

/* The drafted create without what the case type refuses (or, after refusals, without its optional
 * parts), with the marker (also as a custom attribute where the type has one for it), the assignee
 * and the project's UUID. */
static cJSON *body_create(struct cg_req_in *in)
{
	const struct cg_req_ctx *c = in->ctx;
	char marker[40];
	cJSON *draft = cJSON_Duplicate(c->pl->create, 1);
	if (!draft)
		return NULL;
	int dropped = cg_create_drop_refused(draft, c->catype);
	if (dropped > 0)
		in->dropped = dropped;
	int rc = dropped < 0 ? dropped : 0;
	if (!rc && c->strip >= 1 && (rc = cg_create_drop_custom(draft)) > 0)
		rc = 0;
	if (!rc && c->strip >= 2 && (rc = cg_create_drop_optional(draft)) > 0)
		rc = 0;
	cJSON *body = NULL;
	if (!rc) {
		body = cg_req_create_body(draft, c->dedup_key, c->cs->generation, c->cs->prev_case_key, marker);
		rc = body ? 0 : CG_ENOMEM;
	}
	cJSON_Delete(draft);
	if (!rc && c->strip < 1 && c->marker_attr && cg_catype_has_text(c->catype, c->marker_attr))
		rc = cg_create_set_marker_attr(body, c->marker_attr, marker);
	if (!rc)
		rc = decorate_create(body, c->src, c->prio, c->projects);
	if (rc) {
		cJSON_Delete(body);
		in->rc = rc;
		return NULL;
	}
	return body;
}

/* ---- bodies: the action steps (what they carry is cg_actions_args's) ---- */

/* {"data":{"attributes":attrs,"type":type}}; attrs (taken) may be NULL. */
static cJSON *envelope(const char *type, cJSON *attrs)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *data = root ? cJSON_AddObjectToObject(root, "data") : NULL;
	if (!data || (attrs && !cJSON_AddItemToObject(data, "attributes", attrs)) ||
	    !cJSON_AddStringToObject(data, "type", type)) {
		if (!data || !cJSON_GetObjectItemCaseSensitive(data, "attributes"))
			cJSON_Delete(attrs);
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}

/* envelope() of a copy of attrs; NULL (nothing built) when the copy fails. */
static cJSON *envelope_copy(const char *type, const cJSON *attrs)
{
	cJSON *copy = cJSON_Duplicate(attrs, 1);
	return copy ? envelope(type, copy) : NULL;
}

/* envelope() of {k: v}. */
static cJSON *envelope_with(const char *type, const char *k, const char *v)
{
	cJSON *a = cJSON_CreateObject();
	if (!a || !cJSON_AddStringToObject(a, k, v)) {
		cJSON_Delete(a);
		return NULL;
	}
	return envelope(type, a);
}

static cJSON *body_assign(struct cg_req_in *in)
{
	return envelope_with("case", "assignee_id", in->args.assignee);
}

static cJSON *body_insights(struct cg_req_in *in)
{
	cJSON *attrs = cJSON_CreateObject();
	cJSON *dup = cJSON_Duplicate(in->args.insights, 1);
	if (!attrs || !dup || !cJSON_AddItemToObject(attrs, "insights", dup)) {
		cJSON_Delete(attrs);
		cJSON_Delete(dup);
		return NULL;
	}
	return envelope("case", attrs);
}

static cJSON *body_link(struct cg_req_in *in)
{
	const struct cg_action_args *a = &in->args;
	cJSON *attrs = cJSON_CreateObject();
	if (!attrs || !cJSON_AddStringToObject(attrs, "child_entity_id", a->child) ||
	    !cJSON_AddStringToObject(attrs, "child_entity_type", "CASE") ||
	    !cJSON_AddStringToObject(attrs, "parent_entity_id", a->parent) ||
	    !cJSON_AddStringToObject(attrs, "parent_entity_type", "CASE") ||
	    !cJSON_AddStringToObject(attrs, "relationship", a->relationship)) {
		cJSON_Delete(attrs);
		return NULL;
	}
	return envelope("link", attrs);
}

static cJSON *body_due_date(struct cg_req_in *in)
{
	return envelope_with("case", "due_date", in->args.due_date);
}

static cJSON *body_jira(struct cg_req_in *in)
{
	return envelope_copy("issues", in->args.integration);
}

static cJSON *body_servicenow(struct cg_req_in *in)
{
	return envelope_copy("tickets", in->args.integration);
}

static cJSON *body_notebook(struct cg_req_in *in)
{
	(void)in;
	return envelope("notebook", NULL);
}

static cJSON *body_ack_status(struct cg_req_in *in)
{
	return cg_body_set_status(in->args.status);
}

static cJSON *body_archive(struct cg_req_in *in)
{
	(void)in;
	return envelope("case", NULL);
}

/* {"data":{"attributes":{"case_ids":[...],"payload":{"priority":P},"type":"priority"},"type":"bulk"}} */
static cJSON *body_bulk_priority(struct cg_req_in *in)
{
	const struct cg_req_ctx *c = in->ctx;
	cJSON *a = cJSON_CreateObject();
	cJSON *ids = a ? cJSON_AddArrayToObject(a, "case_ids") : NULL;
	if (!ids)
		goto fail;
	for (size_t i = 0; i < c->ncase_ids; i++) {
		cJSON *s = cJSON_CreateString(c->case_ids[i]);
		if (!s)
			goto fail;
		cJSON_AddItemToArray(ids, s);
	}
	cJSON *p = cJSON_AddObjectToObject(a, "payload");
	if (!p || !cJSON_AddStringToObject(p, "priority", cg_priority_name(c->prio)) ||
	    !cJSON_AddStringToObject(a, "type", "priority"))
		goto fail;
	return envelope("bulk", a);
fail:
	cJSON_Delete(a);
	return NULL;
}

/* ---- the table ---- */

#define SEARCH_PAGE "&page%5Bsize%5D=10"

static const struct cg_req_row rows[CG_REQ_MAX_] = {
	/* name, step, method, path, body, optional, rate-limit class, create */
	[CG_REQ_CREATE] = {"create", CG_STEP_CREATE, "POST", "/api/v2/cases", body_create, 0, CG_RL_CREATE, 1},
	[CG_REQ_ATTRIBUTES] = {"attributes", CG_STEP_ATTRS, "POST", "/api/v2/cases/{case_id}/attributes",
			       body_attributes, 1, CG_RL_WRITE, 0},
	[CG_REQ_COMMENT] = {"comment", CG_STEP_COMMENT, "POST", "/api/v2/cases/{case_id}/comment", body_comment, 0,
			    CG_RL_WRITE, 0},
	[CG_REQ_CLOSE] = {"close", CG_STEP_CLOSE, "POST", "/api/v2/cases/{case_id}/status", body_close, 0,
			  CG_RL_WRITE, 0},
	[CG_REQ_OPEN] = {"open", CG_STEP_OPEN, "POST", "/api/v2/cases/{case_id}/status", body_open, 0, CG_RL_WRITE,
			 0},
	[CG_REQ_PRIORITY] = {"priority", CG_STEP_PRIORITY, "POST", "/api/v2/cases/{case_id}/priority", body_priority,
			     0, CG_RL_WRITE, 0},
	/* Lifecycle actions: optional (an integration not set up, a bad user must not undo the case
	 * work before them), except the archive the sweep asked for. */
	[CG_REQ_ASSIGN] = {"assign", CG_STEP_ASSIGN, "POST", "/api/v2/cases/{case_id}/assign", body_assign, 1,
			   CG_RL_WRITE, 0},
	[CG_REQ_WATCH] = {"watch", CG_STEP_WATCH, "POST", "/api/v2/cases/{case_id}/watchers/{user_uuid}", NULL, 1,
			  CG_RL_WRITE, 0},
	[CG_REQ_INSIGHTS] = {"insights", CG_STEP_INSIGHTS, "PUT", "/api/v2/cases/{case_id}/insights", body_insights,
			     1, CG_RL_WRITE, 0},
	[CG_REQ_LINK] = {"link", CG_STEP_LINK, "POST", "/api/v2/cases/link", body_link, 1, CG_RL_WRITE, 0},
	[CG_REQ_DUE_DATE] = {"due_date", CG_STEP_DUE_DATE, "POST", "/api/v2/cases/{case_id}/due_date", body_due_date,
			     1, CG_RL_WRITE, 0},
	[CG_REQ_JIRA] = {"jira", CG_STEP_JIRA, "POST", "/api/v2/cases/{case_id}/relationships/jira_issues", body_jira,
			 1, CG_RL_WRITE, 0},
	[CG_REQ_SERVICENOW] = {"servicenow", CG_STEP_SERVICENOW, "POST",
			       "/api/v2/cases/{case_id}/relationships/servicenow_tickets", body_servicenow, 1,
			       CG_RL_WRITE, 0},
	[CG_REQ_NOTEBOOK] = {"notebook", CG_STEP_NOTEBOOK, "POST", "/api/v2/cases/{case_id}/relationships/notebook",
			     body_notebook, 1, CG_RL_WRITE, 0},
	[CG_REQ_ARCHIVE] = {"archive", CG_STEP_ARCHIVE, "POST", "/api/v2/cases/{case_id}/archive", body_archive, 0,
			    CG_RL_WRITE, 0},
	/* Optional: a status Datadog does not know (a custom name removed) costs the comment nothing. */
	[CG_REQ_ACK_STATUS] = {"acknowledge", CG_STEP_ACK_STATUS, "POST", "/api/v2/cases/{case_id}/status",
			       body_ack_status, 1, CG_RL_WRITE, 0},
	/* Closes always go one by one: the bulk payload for statuses is undocumented, and a close that
	 * silently did nothing would leave a case open. */
	[CG_REQ_BULK_PRIORITY] = {"bulk", 0, "POST", "/api/v2/cases/bulk", body_bulk_priority, 0, CG_RL_BULK, 0},
	[CG_REQ_GET_CASE] = {"refresh", 0, "GET", "/api/v2/cases/{case_id}", NULL, 0, CG_RL_READ, 0},
	[CG_REQ_SEARCH_MARKER] = {"search", 0, "GET", "/api/v2/cases?filter={marker}" SEARCH_PAGE, NULL, 0,
				  CG_RL_SEARCH, 0},
	[CG_REQ_SEARCH_ATTR] = {"search", 0, "GET", "/api/v2/cases?filter={marker_attribute}%3A{marker}" SEARCH_PAGE,
				NULL, 0, CG_RL_SEARCH, 0},
	[CG_REQ_SEARCH_NEWEST] = {"search", 0, "GET",
				  "/api/v2/cases?page%5Bsize%5D=100&sort%5Bfield%5D=created_at&sort%5Basc%5D=false",
				  NULL, 0, CG_RL_SEARCH, 0},
	[CG_REQ_PROJECTS] = {"projects", 0, "GET", "/api/v2/cases/projects", NULL, 0, CG_RL_READ, 0},
	[CG_REQ_CASE_TYPE_ATTRS] = {"case_type", 0, "GET", "/api/v2/cases/types/{case_type_id}/custom_attributes",
				    NULL, 0, CG_RL_READ, 0},
	/* A cheap read that needs both keys: it answers when the API and the keys work. */
	[CG_REQ_PROBE] = {"probe", 0, "GET", "/api/v2/cases/projects", NULL, 0, CG_RL_READ, 0},
};

const struct cg_req_row *cg_req_row(enum cg_req_kind k)
{
	return k > CG_REQ_NONE && k < CG_REQ_MAX_ ? &rows[k] : NULL;
}

enum cg_req_kind cg_req_of_step(enum cg_step s)
{
	for (int k = CG_REQ_NONE + 1; k < CG_REQ_MAX_; k++)
		if (s && rows[k].step == s)
			return (enum cg_req_kind)k;
	return CG_REQ_NONE;
}

/* ---- building ---- */

/* A placeholder's value, and whether it goes in percent-encoded. */
static const char *placeholder(const struct cg_req_in *in, const char *name, size_t len, int *encode)
{
	const struct cg_req_ctx *c = in->ctx;
	*encode = 0;
	if (len == 7 && memcmp(name, "case_id", 7) == 0)
		return c->cs ? case_ref(c->cs) : NULL;
	if (len == 9 && memcmp(name, "user_uuid", 9) == 0)
		return in->args.watcher;
	*encode = 1;
	if (len == 12 && memcmp(name, "case_type_id", 12) == 0)
		return c->case_type;
	if (len == 6 && memcmp(name, "marker", 6) == 0)
		return c->cs ? c->cs->marker : NULL;
	if (len == 16 && memcmp(name, "marker_attribute", 16) == 0)
		return c->marker_attr;
	return NULL;
}

/* The row's path with its placeholders filled in; NULL on ENOMEM. An unknown placeholder or one
 * without a value is a programmer's error (asserted by test_requests_table) and expands empty. */
static char *expand(const struct cg_req_in *in, const char *tmpl)
{
	struct cg_sbuf b = {0};
	const char *p = tmpl;
	while (*p) {
		const char *lb = strchr(p, '{');
		const char *rb = lb ? strchr(lb, '}') : NULL;
		if (!rb) {
			cg_sbuf_add(&b, p);
			break;
		}
		cg_sbuf_addn(&b, p, (size_t)(lb - p));
		int encode;
		const char *v = placeholder(in, lb + 1, (size_t)(rb - lb - 1), &encode);
		if (encode)
			cg_sbuf_pct_encode(&b, v);
		else if (v)
			cg_sbuf_add(&b, v);
		p = rb + 1;
	}
	return cg_sbuf_take(&b);
}

int cg_req_build(enum cg_req_kind k, const struct cg_req_ctx *ctx, struct cg_request *out)
{
	const struct cg_req_row *row = cg_req_row(k);
	struct cg_source_config dflt;
	struct cg_req_in in = {.ctx = ctx, .src = ctx->src};
	memset(out, 0, sizeof(*out));
	if (!row)
		return CG_EINVAL;
	if (row->step >= CG_STEP_ASSIGN) {
		/* An action step: the lifecycle decides what it carries, or that it has nothing to do. */
		if (!in.src) {
			cg_lifecycle_defaults(&dflt);
			in.src = &dflt;
		}
		if (cg_actions_args(in.src, ctx->action, ctx->steps, ctx->index, ctx->prio_before, ctx->prio, ctx->cs,
				    ctx->pl, ctx->now, &in.args))
			return 1;
	}
	char *path = expand(&in, row->path);
	if (!path)
		return CG_ENOMEM;
	char *text = NULL;
	if (row->body) {
		cJSON *body = row->body(&in);
		text = body ? cJSON_PrintUnformatted(body) : NULL;
		cJSON_Delete(body);
		if (!text) {
			free(path);
			return in.rc ? in.rc : CG_ENOMEM;
		}
	}
	out->row = row;
	out->path = path;
	out->body = text;
	out->body_len = text ? strlen(text) : 0;
	out->dropped = in.dropped;
	return 0;
}

void cg_request_cleanup(struct cg_request *r)
{
	free(r->path);
	cJSON_free(r->body);
	memset(r, 0, sizeof(*r));
}
