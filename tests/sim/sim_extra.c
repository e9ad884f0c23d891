/* sim_extra.c: casegate-sim's endpoints beyond cases, comments and projects: watchers, insights,
 * links, due dates, Jira / ServiceNow / notebook, bulk updates, project update and removal,
 * notification rules, automation rules, case views and maintenance windows. Bodies are checked
 * against the field tables of the API reference (shared/seed), which is the authority. */
#define _POSIX_C_SOURCE 200809L
#include "sim.h"

#include <ctype.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

#define XSEG 6
#define XSEG_LEN 160

struct cg_sim_extra {
	cJSON *per_case;  /* case id -> {"watchers":[uuid], "insights":[...], "due_date":"..."} */
	cJSON *links;     /* [link resource] */
	cJSON *nrules;    /* [notification rule resource + "project_id"] */
	cJSON *rules;     /* [automation rule resource + "project_id"] */
	cJSON *views;     /* [view resource] */
	cJSON *windows;   /* [maintenance window resource] */
	int bulk_refuse;  /* answer bulk updates 403 (an org without the preview) */
	unsigned long jira_seq;
	char seg[XSEG][XSEG_LEN];
};

/* ---- helpers ---- */

static int xfail(struct cg_sim_call *c, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int xfail(struct cg_sim_call *c, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	return status;
}

static int is_uuid(const char *s)
{
	if (!s || strlen(s) != 36)
		return 0;
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!isxdigit((unsigned char)s[i])) {
			return 0;
		}
	}
	return 1;
}

static int in_enum(const char *v, const char *const *allowed)
{
	for (size_t i = 0; allowed[i]; i++)
		if (strcmp(v, allowed[i]) == 0)
			return 1;
	return 0;
}

static const char *sget(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* {"data":{"type":rtype,...}}: *data and (when need_attrs, or present) *attrs. */
static int envelope(struct cg_sim_call *c, const char *rtype, int need_attrs, const cJSON **data, const cJSON **attrs)
{
	if (!cJSON_IsObject(c->body))
		return xfail(c, 400, "request body must be a JSON object");
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(c->body, "data");
	if (!cJSON_IsObject(d))
		return xfail(c, 400, "data is required (an object)");
	const char *t = sget(d, "type");
	if (!t)
		return xfail(c, 400, "data.type is required");
	if (strcmp(t, rtype) != 0)
		return xfail(c, 400, "data.type must be \"%s\"", rtype);
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(d, "attributes");
	if (need_attrs && !a)
		return xfail(c, 400, "data.attributes is required");
	if (a && !cJSON_IsObject(a))
		return xfail(c, 400, "data.attributes must be an object");
	if (data)
		*data = d;
	if (attrs)
		*attrs = a;
	return 0;
}

/* A required (req) or optional string attribute; non-empty when req. */
static int str_attr(struct cg_sim_call *c, const cJSON *a, const char *name, int req, const char **out)
{
	const cJSON *v = a ? cJSON_GetObjectItemCaseSensitive(a, name) : NULL;
	*out = NULL;
	if (!v || cJSON_IsNull(v)) {
		if (req)
			return xfail(c, 400, "data.attributes.%s is required", name);
		return 0;
	}
	if (!cJSON_IsString(v))
		return xfail(c, 400, "data.attributes.%s must be a string", name);
	if (req && !v->valuestring[0])
		return xfail(c, 400, "data.attributes.%s must not be empty", name);
	*out = v->valuestring;
	return 0;
}

static int uuid_attr(struct cg_sim_call *c, const cJSON *a, const char *name, int req, const char **out)
{
	int rc = str_attr(c, a, name, req, out);
	if (rc == 0 && *out && !is_uuid(*out))
		return xfail(c, 400, "data.attributes.%s must be a UUID", name);
	return rc;
}

static int out_doc(struct cg_sim_call *c, cJSON *data, int status)
{
	cJSON *doc = cJSON_CreateObject();
	if (!doc || !data) {
		cJSON_Delete(doc);
		cJSON_Delete(data);
		return xfail(c, 500, "out of memory");
	}
	cJSON_AddItemToObject(doc, "data", data);
	c->out = doc;
	return status;
}

static struct cg_sim_case *case_or_404(struct cg_sim_call *c)
{
	return c->case_id ? cg_sim_find_case(c->sim, c->case_id) : NULL;
}

static const char *case_uuid(const struct cg_sim_case *cs)
{
	return sget(cs->data, "id");
}

static cJSON *case_attrs(struct cg_sim_case *cs)
{
	return cJSON_GetObjectItemCaseSensitive(cs->data, "attributes");
}

/* The per-case record of extra state. */
static cJSON *per_case(struct cg_sim *s, struct cg_sim_case *cs)
{
	const char *id = case_uuid(cs);
	cJSON *o = cJSON_GetObjectItemCaseSensitive(s->extra->per_case, id);
	if (!o)
		o = cJSON_AddObjectToObject(s->extra->per_case, id);
	return o;
}

static void event(struct cg_sim_case *cs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void event(struct cg_sim_case *cs, const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	cJSON *v = cJSON_CreateString(buf);
	if (v)
		cJSON_AddItemToArray(cs->events, v);
}

static void touch(struct cg_sim_case *cs)
{
	char now[32];
	cg_sim_now_iso(now);
	cJSON *a = case_attrs(cs);
	cJSON *v = cJSON_CreateString(now);
	if (!v)
		return;
	if (cJSON_HasObjectItem(a, "modified_at"))
		cJSON_ReplaceItemInObjectCaseSensitive(a, "modified_at", v);
	else
		cJSON_AddItemToObject(a, "modified_at", v);
}

static cJSON *find_by_id(cJSON *arr, const char *id, int *index)
{
	int i = 0;
	cJSON *it;
	cJSON_ArrayForEach(it, arr)
	{
		const char *x = sget(it, "id");
		if (x && strcmp(x, id) == 0) {
			if (index)
				*index = i;
			return it;
		}
		i++;
	}
	return NULL;
}

static void set_attr(cJSON *obj, const char *name, cJSON *v)
{
	if (!v)
		return;
	if (cJSON_HasObjectItem(obj, name))
		cJSON_ReplaceItemInObjectCaseSensitive(obj, name, v);
	else
		cJSON_AddItemToObject(obj, name, v);
}

/* ---- watchers ---- */

static int op_watchers_list(struct cg_sim_call *c)
{
	struct cg_sim_case *cs = case_or_404(c);
	if (!cs)
		return xfail(c, 404, "Not Found");
	cJSON *arr = cJSON_CreateArray();
	const cJSON *w;
	cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(per_case(c->sim, cs), "watchers"))
	{
		cJSON *o = cJSON_CreateObject();
		cJSON *rel = cJSON_AddObjectToObject(o, "relationships");
		cJSON *u = cJSON_AddObjectToObject(rel, "user");
		cJSON *d = cJSON_AddObjectToObject(u, "data");
		cJSON_AddStringToObject(d, "id", w->valuestring);
		cJSON_AddStringToObject(d, "type", "user");
		cJSON_AddStringToObject(o, "id", w->valuestring);
		cJSON_AddStringToObject(o, "type", "watcher");
		cJSON_AddItemToArray(arr, o);
	}
	return out_doc(c, arr, 200);
}

static int op_watch(struct cg_sim_call *c)
{
	struct cg_sim_case *cs = case_or_404(c);
	if (!cs)
		return xfail(c, 404, "Not Found");
	if (!is_uuid(c->param3))
		return xfail(c, 400, "user_uuid must be a UUID");
	cJSON *pc = per_case(c->sim, cs);
	cJSON *ws = cJSON_GetObjectItemCaseSensitive(pc, "watchers");
	if (!ws)
		ws = cJSON_AddArrayToObject(pc, "watchers");
	const cJSON *w;
	cJSON_ArrayForEach(w, ws)
	{
		if (strcmp(w->valuestring, c->param3) == 0)
			return 201; /* watching already: the same answer */
	}
	cJSON_AddItemToArray(ws, cJSON_CreateString(c->param3));
	event(cs, "watch:%s", c->param3);
	return 201;
}

static int op_unwatch(struct cg_sim_call *c)
{
	struct cg_sim_case *cs = case_or_404(c);
	if (!cs)
		return xfail(c, 404, "Not Found");
	cJSON *ws = cJSON_GetObjectItemCaseSensitive(per_case(c->sim, cs), "watchers");
	int i = 0;
	const cJSON *w;
	cJSON_ArrayForEach(w, ws)
	{
		if (strcmp(w->valuestring, c->param3) == 0) {
			cJSON_DeleteItemFromArray(ws, i);
			event(cs, "unwatch:%s", c->param3);
			return 204;
		}
		i++;
	}
	return xfail(c, 404, "user is not watching this case");
}

/* ---- insights, due date, integrations ---- */

static int op_insights(struct cg_sim_call *c)
{
	static const char *const types[] = {"SECURITY_SIGNAL", "MONITOR", "EVENT_CORRELATION", "ERROR_TRACKING",
					    "CLOUD_COST_RECOMMENDATION", "INCIDENT", "SENSITIVE_DATA_SCANNER_ISSUE",
					    "EVENT", "WATCHDOG_STORY", "WIDGET", NULL};
	const cJSON *a;
	int rc = envelope(c, "case", 1, NULL, &a);
	if (rc)
		return rc;
	struct cg_sim_case *cs = case_or_404(c);
	if (!cs)
		return xfail(c, 404, "Not Found");
	const cJSON *ins = cJSON_GetObjectItemCaseSensitive(a, "insights");
	if (!cJSON_IsArray(ins))
		return xfail(c, 400, "data.attributes.insights is required (an array)");
	int n = cJSON_GetArraySize(ins);
	if (n < 1 || n > 100)
		return xfail(c, 400, "data.attributes.insights must hold 1 to 100 insights");
	const cJSON *it;
	int i = 0;
	cJSON_ArrayForEach(it, ins)
	{
		const char *ref = sget(it, "ref"), *rid = sget(it, "resource_id"), *type = sget(it, "type");
		if (!cJSON_IsObject(it) || !ref || !*ref || !rid || !*rid || !type)
			return xfail(c, 400, "data.attributes.insights[%d]: ref, resource_id and type are required strings", i);
		if (!in_enum(type, types))
			return xfail(c, 400, "data.attributes.insights[%d].type: unknown insight type %s", i, type);
		i++;
	}
	cJSON *pc = per_case(c->sim, cs);
	cJSON *all = cJSON_GetObjectItemCaseSensitive(pc, "insights");
	if (!all)
		all = cJSON_AddArrayToObject(pc, "insights");
	cJSON_ArrayForEach(it, ins)
	{
		cJSON_AddItemToArray(all, cJSON_Duplicate(it, 1));
		event(cs, "insight:%s:%s", sget(it, "type"), sget(it, "resource_id"));
	}
	touch(cs);
	return out_doc(c, cJSON_Duplicate(cs->data, 1), 200);
}

/* s starts with YYYY-MM-DD. */
static int day_prefix(const char *s)
{
	if (strlen(s) < 10 || s[4] != '-' || s[7] != '-')
		return 0;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && !isdigit((unsigned char)s[i]))
			return 0;
	int m = (s[5] - '0') * 10 + (s[6] - '0'), d = (s[8] - '0') * 10 + (s[9] - '0');
	return m >= 1 && m <= 12 && d >= 1 && d <= 31;
}

static int valid_day(const char *s)
{
	return strlen(s) == 10 && day_prefix(s);
}

static int op_due_date(struct cg_sim_call *c)
{
	const cJSON *a;
	int rc = envelope(c, "case", 1, NULL, &a);
	if (rc)
		return rc;
	struct cg_sim_case *cs = case_or_404(c);
	if (!cs)
		return xfail(c, 404, "Not Found");
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(a, "due_date");
	if (!v)
		return xfail(c, 400, "data.attributes.due_date is required (YYYY-MM-DD, or null to clear)");
	cJSON *pc = per_case(c->sim, cs);
	if (cJSON_IsNull(v)) {
		cJSON_DeleteItemFromObjectCaseSensitive(pc, "due_date");
		event(cs, "due_date:none");
	} else {
		if (!cJSON_IsString(v) || !valid_day(v->valuestring))
			return xfail(c, 400, "data.attributes.due_date must be a date YYYY-MM-DD");
		set_attr(pc, "due_date", cJSON_CreateString(v->valuestring));
		event(cs, "due_date:%s", v->valuestring);
	}
	touch(cs);
	return out_doc(c, cJSON_Duplicate(cs->data, 1), 200);
}

static int op_jira(struct cg_sim_call *c)
{
	const cJSON *a;
	const char *proj, *type, *acct;
	int rc = envelope(c, "issues", 1, NULL, &a);
	if (rc || (rc = str_attr(c, a, "issue_type_id", 1, &type)) || (rc = str_attr(c, a, "jira_account_id", 1, &acct)) ||
	    (rc = str_attr(c, a, "project_id", 1, &proj)))
		return rc;
	const cJSON *fields = cJSON_GetObjectItemCaseSensitive(a, "fields");
	if (fields && !cJSON_IsObject(fields))
		return xfail(c, 400, "data.attributes.fields must be an object");
	struct cg_sim_case *cs = case_or_404(c);
	if (!cs)
		return xfail(c, 404, "Not Found");
	unsigned long n = ++c->sim->extra->jira_seq;
	char key[64], id[32], url[128];
	snprintf(key, sizeof(key), "%s-%lu", proj, n);
	snprintf(id, sizeof(id), "%lu", 10000 + n);
	snprintf(url, sizeof(url), "https://jira.example.com/browse/%s", key);
	cJSON *ji = cJSON_CreateObject();
	cJSON *res = cJSON_AddObjectToObject(ji, "result");
	cJSON_AddStringToObject(res, "issue_id", id);
	cJSON_AddStringToObject(res, "issue_key", key);
	cJSON_AddStringToObject(res, "issue_url", url);
	cJSON_AddStringToObject(res, "project_key", proj);
	cJSON_AddStringToObject(ji, "status", "COMPLETED");
	set_attr(case_attrs(cs), "jira_issue", ji);
	event(cs, "jira:%s", key);
	touch(cs);
	return 202;
}

static int op_servicenow(struct cg_sim_call *c)
{
	const cJSON *a;
	const char *inst, *group;
	int rc = envelope(c, "tickets", 1, NULL, &a);
	if (rc || (rc = str_attr(c, a, "instance_name", 1, &inst)) ||
	    (rc = str_attr(c, a, "assignment_group", 0, &group)))
		return rc;
	struct cg_sim_case *cs = case_or_404(c);
	if (!cs)
		return xfail(c, 404, "Not Found");
	char link[200];
	snprintf(link, sizeof(link), "https://%s.service-now.com/incident.do?sys_id=%s", inst, case_uuid(cs));
	cJSON *t = cJSON_CreateObject();
	cJSON *res = cJSON_AddObjectToObject(t, "result");
	cJSON_AddStringToObject(res, "sys_target_link", link);
	cJSON_AddStringToObject(t, "status", "COMPLETED");
	set_attr(case_attrs(cs), "service_now_ticket", t);
	event(cs, "servicenow:%s", inst);
	touch(cs);
	return 202;
}

static int op_notebook(struct cg_sim_call *c)
{
	int rc = envelope(c, "notebook", 0, NULL, NULL);
	if (rc)
		return rc;
	struct cg_sim_case *cs = case_or_404(c);
	if (!cs)
		return xfail(c, 404, "Not Found");
	event(cs, "notebook");
	touch(cs);
	return 204;
}

/* ---- links ---- */

static const char *const entity_types[] = {"CASE", "INCIDENT", "PAGE", "AGENT_CONVERSATION", NULL};
static const char *const relationships[] = {"RELATES_TO", "CAUSES",	  "BLOCKS",	  "DUPLICATES",
					    "PARENT_OF",  "SUCCESSOR_OF", "ESCALATES_TO", NULL};

static int op_link_create(struct cg_sim_call *c)
{
	const cJSON *a;
	const char *cid, *ctype, *pid, *ptype, *rel;
	int rc = envelope(c, "link", 1, NULL, &a);
	if (rc || (rc = str_attr(c, a, "child_entity_id", 1, &cid)) ||
	    (rc = str_attr(c, a, "child_entity_type", 1, &ctype)) || (rc = str_attr(c, a, "parent_entity_id", 1, &pid)) ||
	    (rc = str_attr(c, a, "parent_entity_type", 1, &ptype)) || (rc = str_attr(c, a, "relationship", 1, &rel)))
		return rc;
	if (!in_enum(ctype, entity_types) || !in_enum(ptype, entity_types))
		return xfail(c, 400, "entity types must be one of CASE, INCIDENT, PAGE, AGENT_CONVERSATION");
	if (!in_enum(rel, relationships))
		return xfail(c, 400, "data.attributes.relationship must be one of RELATES_TO, CAUSES, BLOCKS, "
				     "DUPLICATES, PARENT_OF, SUCCESSOR_OF, ESCALATES_TO");
	if (!is_uuid(cid) || !is_uuid(pid))
		return xfail(c, 400, "entity ids must be UUIDs");
	if (strcmp(cid, pid) == 0)
		return xfail(c, 400, "an entity cannot be linked to itself");
	struct cg_sim_case *pc = NULL, *cc = NULL;
	if ((strcmp(ptype, "CASE") == 0 && !(pc = cg_sim_find_case(c->sim, pid))) ||
	    (strcmp(ctype, "CASE") == 0 && !(cc = cg_sim_find_case(c->sim, cid))))
		return xfail(c, 404, "Not Found");
	char id[37];
	cg_sim_uuid(c->sim, id);
	cJSON *l = cJSON_CreateObject();
	cJSON *la = cJSON_AddObjectToObject(l, "attributes");
	cJSON_AddStringToObject(la, "child_entity_id", cid);
	cJSON_AddStringToObject(la, "child_entity_type", ctype);
	cJSON_AddStringToObject(la, "parent_entity_id", pid);
	cJSON_AddStringToObject(la, "parent_entity_type", ptype);
	cJSON_AddStringToObject(la, "relationship", rel);
	cJSON_AddStringToObject(l, "id", id);
	cJSON_AddStringToObject(l, "type", "link");
	cJSON_AddItemToArray(c->sim->extra->links, l);
	if (pc)
		event(pc, "link:%s:child:%s", rel, cid);
	if (cc)
		event(cc, "link:%s:parent:%s", rel, pid);
	return out_doc(c, cJSON_Duplicate(l, 1), 201);
}

static int op_link_list(struct cg_sim_call *c)
{
	char et[32] = "", eid[64] = "", rel[32] = "";
	if (cg_http_query_get(c->req, "entity_type", et, sizeof(et)) != 0 || !et[0] ||
	    cg_http_query_get(c->req, "entity_id", eid, sizeof(eid)) != 0 || !eid[0])
		return xfail(c, 400, "entity_type and entity_id are required");
	int has_rel = cg_http_query_get(c->req, "relationship", rel, sizeof(rel)) == 0 && rel[0];
	cJSON *arr = cJSON_CreateArray();
	const cJSON *l;
	cJSON_ArrayForEach(l, c->sim->extra->links)
	{
		const cJSON *a = cJSON_GetObjectItemCaseSensitive(l, "attributes");
		int match = (strcmp(sget(a, "parent_entity_id"), eid) == 0 && strcmp(sget(a, "parent_entity_type"), et) == 0) ||
			    (strcmp(sget(a, "child_entity_id"), eid) == 0 && strcmp(sget(a, "child_entity_type"), et) == 0);
		if (match && (!has_rel || strcmp(sget(a, "relationship"), rel) == 0))
			cJSON_AddItemToArray(arr, cJSON_Duplicate(l, 1));
	}
	return out_doc(c, arr, 200);
}

static int op_link_delete(struct cg_sim_call *c)
{
	int i;
	if (!find_by_id(c->sim->extra->links, c->param3, &i))
		return xfail(c, 404, "Not Found");
	cJSON_DeleteItemFromArray(c->sim->extra->links, i);
	return 204;
}

/* ---- bulk ---- */

static int op_bulk(struct cg_sim_call *c)
{
	static const char *const types[] = {"priority", "status",     "assign", "unassign",	"archive",
					    "unarchive", "jira",	"servicenow", "linear", "update_project", NULL};
	if (c->sim->extra->bulk_refuse)
		return xfail(c, 403, "Bulk updates are not enabled for this organization");
	const cJSON *a;
	const char *type;
	int rc = envelope(c, "bulk", 1, NULL, &a);
	if (rc || (rc = str_attr(c, a, "type", 1, &type)))
		return rc;
	if (!in_enum(type, types))
		return xfail(c, 400, "data.attributes.type must be one of priority, status, assign, unassign, archive, "
				     "unarchive, jira, servicenow, linear, update_project");
	const cJSON *ids = cJSON_GetObjectItemCaseSensitive(a, "case_ids");
	if (!cJSON_IsArray(ids) || cJSON_GetArraySize(ids) == 0)
		return xfail(c, 400, "data.attributes.case_ids is required (a non-empty array)");
	if (cJSON_GetArraySize(ids) > 100)
		return xfail(c, 400, "data.attributes.case_ids: at most 100 cases per request");
	const cJSON *payload = cJSON_GetObjectItemCaseSensitive(a, "payload");
	if (payload && !cJSON_IsObject(payload))
		return xfail(c, 400, "data.attributes.payload must be an object");
	const cJSON *pv;
	cJSON_ArrayForEach(pv, payload)
	{
		if (!cJSON_IsString(pv))
			return xfail(c, 400, "data.attributes.payload.%s must be a string", pv->string);
	}
	const cJSON *id;
	cJSON_ArrayForEach(id, ids)
	{
		if (!cJSON_IsString(id))
			return xfail(c, 400, "data.attributes.case_ids must hold strings");
		if (!cg_sim_find_case(c->sim, id->valuestring))
			return xfail(c, 404, "case %.64s not found", id->valuestring);
	}
	/* Each case goes through the single-case operation, so the rules are the same. */
	const char *key = NULL, *attr = NULL;
	int (*fn)(struct cg_sim_call *) = NULL;
	if (strcmp(type, "priority") == 0)
		key = attr = "priority", fn = cg_sim_op_update_priority;
	else if (strcmp(type, "status") == 0)
		key = attr = "status", fn = cg_sim_op_update_status;
	else if (strcmp(type, "assign") == 0)
		key = attr = "assignee_id", fn = cg_sim_op_assign;
	else if (strcmp(type, "unassign") == 0)
		fn = cg_sim_op_unassign;
	else if (strcmp(type, "archive") == 0)
		fn = cg_sim_op_archive;
	else if (strcmp(type, "unarchive") == 0)
		fn = cg_sim_op_unarchive;
	else
		return xfail(c, 400, "bulk type %s is not simulated", type);
	const char *value = NULL;
	if (key && !(value = sget(payload, key))) {
		/* A status may also be given by name. */
		if (strcmp(type, "status") == 0 && (value = sget(payload, "status_name")))
			attr = "status_name";
		else
			return xfail(c, 400, "data.attributes.payload.%s is required for type %s", key, type);
	}
	cJSON *sub = cJSON_CreateObject();
	cJSON *sd = cJSON_AddObjectToObject(sub, "data");
	cJSON *sa = cJSON_AddObjectToObject(sd, "attributes");
	if (!sa || !cJSON_AddStringToObject(sd, "type", "case") || (attr && !cJSON_AddStringToObject(sa, attr, value))) {
		cJSON_Delete(sub);
		return xfail(c, 500, "out of memory");
	}
	/* Validate every case first: a bulk request applies to all of them or none. */
	for (int pass = 0; pass < 2; pass++) {
		cJSON_ArrayForEach(id, ids)
		{
			struct cg_sim_call one = {.sim = c->sim, .case_id = id->valuestring, .body = sub};
			if (pass == 0) {
				if (attr && strcmp(attr, "priority") == 0 &&
				    !in_enum(value, (const char *const[]){"NOT_DEFINED", "P1", "P2", "P3", "P4", "P5", NULL})) {
					cJSON_Delete(sub);
					return xfail(c, 400, "data.attributes.payload.priority must be one of NOT_DEFINED, P1..P5");
				}
				continue;
			}
			int st = fn(&one);
			cJSON_Delete(one.out);
			if (st < 200 || st >= 300) {
				cJSON_Delete(sub);
				return xfail(c, st, "%s", one.err);
			}
		}
	}
	cJSON_Delete(sub);
	return 200; /* the reference documents no answer body */
}

/* ---- projects (update, remove) ---- */

static struct cg_sim_project *project_or_404(struct cg_sim_call *c)
{
	return c->param2 ? cg_sim_find_project(c->sim, c->param2) : NULL;
}

static int op_project_update(struct cg_sim_call *c)
{
	const cJSON *a;
	const char *name = NULL;
	int rc = envelope(c, "project", 0, NULL, &a);
	if (rc || (rc = str_attr(c, a, "name", 0, &name)))
		return rc;
	if (a && cJSON_HasObjectItem(a, "key"))
		return xfail(c, 400, "data.attributes.key cannot be changed");
	struct cg_sim_project *p = project_or_404(c);
	if (!p)
		return xfail(c, 404, "Not Found");
	if (name) {
		if (!*name || strlen(name) >= sizeof(p->name))
			return xfail(c, 400, "data.attributes.name must be 1 to %zu bytes", sizeof(p->name) - 1);
		snprintf(p->name, sizeof(p->name), "%s", name);
	}
	rc = cg_sim_op_get_project(c);
	return rc;
}

static int op_project_delete(struct cg_sim_call *c)
{
	struct cg_sim *s = c->sim;
	struct cg_sim_project *p = project_or_404(c);
	if (!p)
		return xfail(c, 404, "Not Found");
	size_t i = (size_t)(p - s->projects);
	/* Its rules and views go with it. */
	cJSON *lists[] = {s->extra->nrules, s->extra->rules};
	for (size_t k = 0; k < 2; k++) {
		for (int j = cJSON_GetArraySize(lists[k]) - 1; j >= 0; j--) {
			const char *pid = sget(cJSON_GetArrayItem(lists[k], j), "project_id");
			if (pid && strcmp(pid, p->id) == 0)
				cJSON_DeleteItemFromArray(lists[k], j);
		}
	}
	memmove(&s->projects[i], &s->projects[i + 1], (s->nprojects - i - 1) * sizeof(*s->projects));
	s->nprojects--;
	return 204;
}

/* ---- notification rules ---- */

static int check_nrule(struct cg_sim_call *c, const cJSON *a, int create)
{
	static const char *const rtypes[] = {"SLACK_CHANNEL", "EMAIL", "HTTP", "PAGERDUTY_SERVICE", "MS_TEAMS_CHANNEL",
					     NULL};
	static const char *const ttypes[] = {"CASE_CREATED", "STATUS_TRANSITIONED", "ATTRIBUTE_VALUE_CHANGED",
					     "EVENT_CORRELATION_SIGNAL_CORRELATED", NULL};
	const char *q;
	int rc = str_attr(c, a, "query", 0, &q);
	if (rc)
		return rc;
	const cJSON *en = a ? cJSON_GetObjectItemCaseSensitive(a, "is_enabled") : NULL;
	if (en && !cJSON_IsBool(en))
		return xfail(c, 400, "data.attributes.is_enabled must be a boolean");
	const char *names[] = {"recipients", "triggers"};
	const char *const *types[] = {rtypes, ttypes};
	for (int k = 0; k < 2; k++) {
		const cJSON *arr = a ? cJSON_GetObjectItemCaseSensitive(a, names[k]) : NULL;
		if (!arr) {
			if (create)
				return xfail(c, 400, "data.attributes.%s is required", names[k]);
			continue;
		}
		if (!cJSON_IsArray(arr))
			return xfail(c, 400, "data.attributes.%s must be an array", names[k]);
		const cJSON *it;
		int i = 0;
		cJSON_ArrayForEach(it, arr)
		{
			const char *t = sget(it, "type");
			const cJSON *d = cJSON_GetObjectItemCaseSensitive(it, "data");
			if (!cJSON_IsObject(it) || (d && !cJSON_IsObject(d)))
				return xfail(c, 400, "data.attributes.%s[%d] must be {type, data}", names[k], i);
			if (!t || !in_enum(t, types[k]))
				return xfail(c, 400, "data.attributes.%s[%d].type is not a known %s type", names[k], i,
					     k ? "trigger" : "recipient");
			const cJSON *f;
			cJSON_ArrayForEach(f, d)
			{
				if (!cJSON_IsString(f))
					return xfail(c, 400, "data.attributes.%s[%d].data.%s must be a string", names[k], i,
						     f->string);
			}
			i++;
		}
	}
	return 0;
}

static cJSON *strip_project(const cJSON *stored)
{
	cJSON *d = cJSON_Duplicate(stored, 1);
	cJSON_DeleteItemFromObjectCaseSensitive(d, "project_id");
	return d;
}

static int list_in_project(struct cg_sim_call *c, cJSON *all)
{
	struct cg_sim_project *p = project_or_404(c);
	if (!p)
		return xfail(c, 404, "Not Found");
	cJSON *arr = cJSON_CreateArray();
	const cJSON *it;
	cJSON_ArrayForEach(it, all)
	{
		if (strcmp(sget(it, "project_id"), p->id) == 0)
			cJSON_AddItemToArray(arr, strip_project(it));
	}
	return out_doc(c, arr, 200);
}

static cJSON *in_project(struct cg_sim_call *c, cJSON *all, int *index)
{
	struct cg_sim_project *p = project_or_404(c);
	cJSON *it = p && c->param3 ? find_by_id(all, c->param3, index) : NULL;
	return it && strcmp(sget(it, "project_id"), p->id) == 0 ? it : NULL;
}

static int op_nrules_list(struct cg_sim_call *c)
{
	return list_in_project(c, c->sim->extra->nrules);
}

static void merge_attrs(cJSON *dst, const cJSON *src)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, src)
	{
		set_attr(dst, it->string, cJSON_Duplicate(it, 1));
	}
}

static int op_nrule_create(struct cg_sim_call *c)
{
	const cJSON *a;
	int rc = envelope(c, "notification_rule", 1, NULL, &a);
	if (rc || (rc = check_nrule(c, a, 1)))
		return rc;
	struct cg_sim_project *p = project_or_404(c);
	if (!p)
		return xfail(c, 404, "Not Found");
	char id[37];
	cg_sim_uuid(c->sim, id);
	cJSON *r = cJSON_CreateObject();
	cJSON *ra = cJSON_AddObjectToObject(r, "attributes");
	merge_attrs(ra, a);
	if (!cJSON_HasObjectItem(ra, "is_enabled"))
		cJSON_AddTrueToObject(ra, "is_enabled");
	if (!cJSON_HasObjectItem(ra, "query"))
		cJSON_AddStringToObject(ra, "query", "");
	cJSON_AddStringToObject(r, "id", id);
	cJSON_AddStringToObject(r, "type", "notification_rule");
	cJSON_AddStringToObject(r, "project_id", p->id);
	cJSON_AddItemToArray(c->sim->extra->nrules, r);
	return out_doc(c, strip_project(r), 201);
}

static int op_nrule_update(struct cg_sim_call *c)
{
	const cJSON *a;
	int rc = envelope(c, "notification_rule", 0, NULL, &a);
	if (rc || (rc = check_nrule(c, a, 0)))
		return rc;
	cJSON *r = in_project(c, c->sim->extra->nrules, NULL);
	if (!r)
		return xfail(c, 404, "Not Found");
	merge_attrs(cJSON_GetObjectItemCaseSensitive(r, "attributes"), a);
	return 204;
}

static int op_nrule_delete(struct cg_sim_call *c)
{
	int i;
	if (!in_project(c, c->sim->extra->nrules, &i))
		return xfail(c, 404, "Not Found");
	cJSON_DeleteItemFromArray(c->sim->extra->nrules, i);
	return 204;
}

/* ---- automation rules ---- */

static int check_rule(struct cg_sim_call *c, const cJSON *a)
{
	static const char *const atypes[] = {"execute_workflow", "assign_agent", NULL};
	static const char *const ttypes[] = {"case_created",	    "status_transitioned",
					     "attribute_value_changed", "event_correlation_signal_correlated",
					     "case_review_approved",    "comment_added",
					     NULL};
	static const char *const states[] = {"ENABLED", "DISABLED", NULL};
	const char *name, *state;
	int rc;
	if ((rc = str_attr(c, a, "name", 1, &name)) || (rc = str_attr(c, a, "state", 0, &state)))
		return rc;
	if (state && !in_enum(state, states))
		return xfail(c, 400, "data.attributes.state must be ENABLED or DISABLED");
	const cJSON *act = cJSON_GetObjectItemCaseSensitive(a, "action");
	const cJSON *trig = cJSON_GetObjectItemCaseSensitive(a, "trigger");
	if (!cJSON_IsObject(act))
		return xfail(c, 400, "data.attributes.action is required (an object)");
	if (!cJSON_IsObject(trig))
		return xfail(c, 400, "data.attributes.trigger is required (an object)");
	const char *at = sget(act, "type"), *tt = sget(trig, "type");
	const cJSON *ad = cJSON_GetObjectItemCaseSensitive(act, "data");
	if (!at || !in_enum(at, atypes))
		return xfail(c, 400, "data.attributes.action.type must be execute_workflow or assign_agent");
	if (!cJSON_IsObject(ad))
		return xfail(c, 400, "data.attributes.action.data is required (an object)");
	if (strcmp(at, "execute_workflow") == 0 && !sget(ad, "handle"))
		return xfail(c, 400, "data.attributes.action.data.handle is required for execute_workflow");
	if (strcmp(at, "assign_agent") == 0 && (!sget(ad, "assigned_agent_id") || !sget(ad, "agent_type")))
		return xfail(c, 400, "data.attributes.action.data: assigned_agent_id and agent_type are required "
				     "for assign_agent");
	if (!tt || !in_enum(tt, ttypes))
		return xfail(c, 400, "data.attributes.trigger.type is not a known trigger");
	const cJSON *td = cJSON_GetObjectItemCaseSensitive(trig, "data");
	if (td && !cJSON_IsObject(td))
		return xfail(c, 400, "data.attributes.trigger.data must be an object");
	if (strcmp(tt, "status_transitioned") == 0 && (!sget(td, "from_status_name") || !sget(td, "to_status_name")))
		return xfail(c, 400, "data.attributes.trigger.data: from_status_name and to_status_name are required "
				     "for status_transitioned");
	if (strcmp(tt, "attribute_value_changed") == 0 && (!sget(td, "field") || !sget(td, "change_type")))
		return xfail(c, 400, "data.attributes.trigger.data: field and change_type are required for "
				     "attribute_value_changed");
	return 0;
}

static int op_rules_list(struct cg_sim_call *c)
{
	return list_in_project(c, c->sim->extra->rules);
}

static void rule_attrs(cJSON *ra, const cJSON *a)
{
	char now[32];
	cg_sim_now_iso(now);
	merge_attrs(ra, a);
	if (!cJSON_HasObjectItem(ra, "state"))
		cJSON_AddStringToObject(ra, "state", "ENABLED");
	if (!cJSON_HasObjectItem(ra, "created_at"))
		cJSON_AddStringToObject(ra, "created_at", now);
	set_attr(ra, "modified_at", cJSON_CreateString(now));
}

static int op_rule_create(struct cg_sim_call *c)
{
	const cJSON *a;
	int rc = envelope(c, "rule", 1, NULL, &a);
	if (rc || (rc = check_rule(c, a)))
		return rc;
	struct cg_sim_project *p = project_or_404(c);
	if (!p)
		return xfail(c, 404, "Not Found");
	char id[37];
	cg_sim_uuid(c->sim, id);
	cJSON *r = cJSON_CreateObject();
	rule_attrs(cJSON_AddObjectToObject(r, "attributes"), a);
	cJSON_AddStringToObject(r, "id", id);
	cJSON_AddStringToObject(r, "type", "rule");
	cJSON_AddStringToObject(r, "project_id", p->id);
	cJSON_AddItemToArray(c->sim->extra->rules, r);
	return out_doc(c, strip_project(r), 201);
}

static int op_rule_update(struct cg_sim_call *c)
{
	const cJSON *a;
	int rc = envelope(c, "rule", 1, NULL, &a);
	if (rc || (rc = check_rule(c, a)))
		return rc;
	cJSON *r = in_project(c, c->sim->extra->rules, NULL);
	if (!r)
		return xfail(c, 404, "Not Found");
	rule_attrs(cJSON_GetObjectItemCaseSensitive(r, "attributes"), a);
	return out_doc(c, strip_project(r), 200);
}

static int op_rule_delete(struct cg_sim_call *c)
{
	int i;
	if (!in_project(c, c->sim->extra->rules, &i))
		return xfail(c, 404, "Not Found");
	cJSON_DeleteItemFromArray(c->sim->extra->rules, i);
	return 204;
}

/* ---- case views ---- */

static cJSON *view_answer(const cJSON *v)
{
	cJSON *d = cJSON_Duplicate(v, 1);
	const char *pid = sget(v, "project_id");
	cJSON *rel = cJSON_AddObjectToObject(d, "relationships");
	cJSON *pr = cJSON_AddObjectToObject(rel, "project");
	cJSON *pd = cJSON_AddObjectToObject(pr, "data");
	cJSON_AddStringToObject(pd, "id", pid ? pid : "");
	cJSON_AddStringToObject(pd, "type", "project");
	cJSON_DeleteItemFromObjectCaseSensitive(d, "project_id");
	return d;
}

static int op_views_list(struct cg_sim_call *c)
{
	char pid[64] = "";
	if (cg_http_query_get(c->req, "project_id", pid, sizeof(pid)) != 0 || !pid[0])
		return xfail(c, 400, "project_id is required");
	cJSON *arr = cJSON_CreateArray();
	const cJSON *v;
	cJSON_ArrayForEach(v, c->sim->extra->views)
	{
		if (strcmp(sget(v, "project_id"), pid) == 0)
			cJSON_AddItemToArray(arr, view_answer(v));
	}
	return out_doc(c, arr, 200);
}

static int check_view(struct cg_sim_call *c, const cJSON *a, int create)
{
	const char *name, *query, *np, *pid;
	int rc;
	if ((rc = str_attr(c, a, "name", create, &name)) || (rc = str_attr(c, a, "query", create, &query)) ||
	    (rc = str_attr(c, a, "np_rule_id", 0, &np)))
		return rc;
	if (create) {
		if ((rc = uuid_attr(c, a, "project_id", 1, &pid)))
			return rc;
		if (!cg_sim_find_project(c->sim, pid))
			return xfail(c, 404, "Project not found");
	} else if (a && cJSON_HasObjectItem(a, "project_id")) {
		return xfail(c, 400, "data.attributes.project_id cannot be changed");
	}
	if (name && !*name)
		return xfail(c, 400, "data.attributes.name must not be empty");
	return 0;
}

static int op_view_create(struct cg_sim_call *c)
{
	const cJSON *a;
	int rc = envelope(c, "view", 1, NULL, &a);
	if (rc || (rc = check_view(c, a, 1)))
		return rc;
	char id[37], now[32];
	cg_sim_uuid(c->sim, id);
	cg_sim_now_iso(now);
	cJSON *v = cJSON_CreateObject();
	cJSON *va = cJSON_AddObjectToObject(v, "attributes");
	cJSON_AddStringToObject(va, "created_at", now);
	cJSON_AddStringToObject(va, "modified_at", now);
	cJSON_AddStringToObject(va, "name", sget(a, "name"));
	if (sget(a, "np_rule_id"))
		cJSON_AddStringToObject(va, "np_rule_id", sget(a, "np_rule_id"));
	cJSON_AddStringToObject(va, "query", sget(a, "query"));
	cJSON_AddStringToObject(v, "id", id);
	cJSON_AddStringToObject(v, "type", "view");
	cJSON_AddStringToObject(v, "project_id", sget(a, "project_id"));
	cJSON_AddItemToArray(c->sim->extra->views, v);
	return out_doc(c, view_answer(v), 201);
}

static int op_view_get(struct cg_sim_call *c)
{
	cJSON *v = find_by_id(c->sim->extra->views, c->param3, NULL);
	return v ? out_doc(c, view_answer(v), 200) : xfail(c, 404, "Not Found");
}

static int op_view_update(struct cg_sim_call *c)
{
	const cJSON *a;
	int rc = envelope(c, "view", 0, NULL, &a);
	if (rc || (rc = check_view(c, a, 0)))
		return rc;
	cJSON *v = find_by_id(c->sim->extra->views, c->param3, NULL);
	if (!v)
		return xfail(c, 404, "Not Found");
	char now[32];
	cg_sim_now_iso(now);
	cJSON *va = cJSON_GetObjectItemCaseSensitive(v, "attributes");
	merge_attrs(va, a);
	set_attr(va, "modified_at", cJSON_CreateString(now));
	return out_doc(c, view_answer(v), 200);
}

static int op_view_delete(struct cg_sim_call *c)
{
	int i;
	if (!find_by_id(c->sim->extra->views, c->param3, &i))
		return xfail(c, 404, "Not Found");
	cJSON_DeleteItemFromArray(c->sim->extra->views, i);
	return 204;
}

/* ---- maintenance windows ---- */

/* RFC 3339 date-time, loosely: YYYY-MM-DDTHH:MM:SS then an optional fraction and a zone. */
static int valid_datetime(const char *s)
{
	if (strlen(s) < 20 || !day_prefix(s) || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':')
		return 0;
	for (int i = 11; i < 19; i++)
		if (i != 13 && i != 16 && !isdigit((unsigned char)s[i]))
			return 0;
	const char *z = s + 19;
	if (*z == '.')
		for (z++; isdigit((unsigned char)*z); z++)
			;
	return strcmp(z, "Z") == 0 || ((z[0] == '+' || z[0] == '-') && strlen(z) == 6 && z[3] == ':');
}

static int check_window(struct cg_sim_call *c, const cJSON *a, int create, const cJSON *current)
{
	const char *name, *query, *start, *end;
	int rc;
	if ((rc = str_attr(c, a, "name", create, &name)) || (rc = str_attr(c, a, "query", create, &query)) ||
	    (rc = str_attr(c, a, "start_at", create, &start)) || (rc = str_attr(c, a, "end_at", create, &end)))
		return rc;
	if ((start && !valid_datetime(start)) || (end && !valid_datetime(end)))
		return xfail(c, 400, "start_at and end_at must be RFC 3339 date-times");
	const cJSON *ca = cJSON_GetObjectItemCaseSensitive(current, "attributes");
	if (!start)
		start = sget(ca, "start_at");
	if (!end)
		end = sget(ca, "end_at");
	/* Same zone and precision as casegate sends (UTC, "Z"): text order is time order. */
	if (start && end && strcmp(end, start) <= 0)
		return xfail(c, 400, "end_at must be after start_at");
	return 0;
}

static int op_windows_list(struct cg_sim_call *c)
{
	return out_doc(c, cJSON_Duplicate(c->sim->extra->windows, 1), 200);
}

static int op_window_create(struct cg_sim_call *c)
{
	const cJSON *a;
	int rc = envelope(c, "maintenance_window", 1, NULL, &a);
	if (rc || (rc = check_window(c, a, 1, NULL)))
		return rc;
	char id[37];
	cg_sim_uuid(c->sim, id);
	cJSON *w = cJSON_CreateObject();
	cJSON *wa = cJSON_AddObjectToObject(w, "attributes");
	merge_attrs(wa, a);
	cJSON_AddStringToObject(wa, "created_by", "00000000-0000-0000-0000-000000000000");
	cJSON_AddStringToObject(wa, "updated_by", "00000000-0000-0000-0000-000000000000");
	cJSON_AddStringToObject(w, "id", id);
	cJSON_AddStringToObject(w, "type", "maintenance_window");
	cJSON_AddItemToArray(c->sim->extra->windows, w);
	return out_doc(c, cJSON_Duplicate(w, 1), 201);
}

static int op_window_update(struct cg_sim_call *c)
{
	const cJSON *a;
	cJSON *w = find_by_id(c->sim->extra->windows, c->param3, NULL);
	int rc = envelope(c, "maintenance_window", 0, NULL, &a);
	if (rc || (rc = check_window(c, a, 0, w)))
		return rc;
	if (!w)
		return xfail(c, 404, "Not Found");
	merge_attrs(cJSON_GetObjectItemCaseSensitive(w, "attributes"), a);
	return out_doc(c, cJSON_Duplicate(w, 1), 200);
}

static int op_window_delete(struct cg_sim_call *c)
{
	int i;
	if (!find_by_id(c->sim->extra->windows, c->param3, &i))
		return xfail(c, 404, "Not Found");
	cJSON_DeleteItemFromArray(c->sim->extra->windows, i);
	return 204;
}

/* ---- routing ---- */

#define R(o, f, b) (struct cg_sim_route){o, f, b}

int cg_sim_extra_route(struct cg_sim *s, const struct cg_http_request *req, struct cg_sim_route *out,
		       struct cg_sim_call *c)
{
	struct cg_sim_extra *x = s->extra;
	const char *path = req->path;
	int maint = 0;
	if (strncmp(path, "/api/v2/maintenance_windows", 27) == 0 && (path[27] == '\0' || path[27] == '/')) {
		maint = 1;
		path += 27;
	} else if (strncmp(path, "/api/v2/cases/", 14) == 0) {
		path += 13;
	} else {
		return 404;
	}
	int n = 0;
	while (*path == '/' && path[1]) {
		path++;
		size_t len = strcspn(path, "/");
		if (n == XSEG || len == 0 || len >= XSEG_LEN)
			return 404;
		memcpy(x->seg[n], path, len);
		x->seg[n][len] = '\0';
		n++;
		path += len;
	}
	const char *m = req->method;
	int get = strcmp(m, "GET") == 0, post = strcmp(m, "POST") == 0, put = strcmp(m, "PUT") == 0,
	    del = strcmp(m, "DELETE") == 0, patch = strcmp(m, "PATCH") == 0;
	char(*g)[XSEG_LEN] = x->seg;
	*out = R(NULL, NULL, 0);
	if (maint) {
		if (n == 0)
			*out = get ? R("ListMaintenanceWindows", op_windows_list, 0)
			       : post ? R("CreateMaintenanceWindow", op_window_create, 1)
				      : R(NULL, NULL, 0);
		else if (n == 1) {
			c->param3 = g[0];
			*out = put ? R("UpdateMaintenanceWindow", op_window_update, 1)
			       : del ? R("DeleteMaintenanceWindow", op_window_delete, 0)
				     : R(NULL, NULL, 0);
		} else
			return 404;
		return out->fn ? 0 : 405;
	}
	if (n == 0)
		return 404;
	if (strcmp(g[0], "bulk") == 0 && n == 1) {
		*out = post ? R("BulkUpdateCases", op_bulk, 1) : R(NULL, NULL, 0);
		return out->fn ? 0 : 405;
	}
	if (strcmp(g[0], "link") == 0) {
		if (n == 1)
			*out = get ? R("ListCaseLinks", op_link_list, 0)
			       : post ? R("CreateCaseLink", op_link_create, 1)
				      : R(NULL, NULL, 0);
		else if (n == 2) {
			c->param3 = g[1];
			*out = del ? R("DeleteCaseLink", op_link_delete, 0) : R(NULL, NULL, 0);
		} else
			return 404;
		return out->fn ? 0 : 405;
	}
	if (strcmp(g[0], "views") == 0) {
		if (n == 1)
			*out = get ? R("ListCaseViews", op_views_list, 0)
			       : post ? R("CreateCaseView", op_view_create, 1)
				      : R(NULL, NULL, 0);
		else if (n == 2) {
			c->param3 = g[1];
			*out = get   ? R("GetCaseView", op_view_get, 0)
			       : put ? R("UpdateCaseView", op_view_update, 1)
			       : del ? R("DeleteCaseView", op_view_delete, 0)
				     : R(NULL, NULL, 0);
		} else
			return 404;
		return out->fn ? 0 : 405;
	}
	if (strcmp(g[0], "projects") == 0) {
		if (n < 2)
			return 404; /* list and create: sim_model.c */
		c->param2 = g[1];
		if (n == 2) {
			if (patch)
				*out = R("UpdateProject", op_project_update, 1);
			else if (del)
				*out = R("DeleteProject", op_project_delete, 0);
			else
				return 404; /* GET: sim_model.c */
			return 0;
		}
		int nr = strcmp(g[2], "notification_rules") == 0, ar = strcmp(g[2], "rules") == 0;
		if ((!nr && !ar) || n > 4)
			return 404;
		if (n == 3) {
			if (get)
				*out = nr ? R("GetNotificationRules", op_nrules_list, 0)
					  : R("ListAutomationRules", op_rules_list, 0);
			else if (post)
				*out = nr ? R("CreateNotificationRule", op_nrule_create, 1)
					  : R("CreateAutomationRule", op_rule_create, 1);
		} else {
			c->param3 = g[3];
			if (put)
				*out = nr ? R("UpdateNotificationRule", op_nrule_update, 1)
					  : R("UpdateAutomationRule", op_rule_update, 1);
			else if (del)
				*out = nr ? R("DeleteNotificationRule", op_nrule_delete, 0)
					  : R("DeleteAutomationRule", op_rule_delete, 0);
		}
		return out->fn ? 0 : 405;
	}
	/* /cases/{case_id}/... */
	c->case_id = g[0];
	if (n == 2 && strcmp(g[1], "watchers") == 0) {
		*out = get ? R("ListCaseWatchers", op_watchers_list, 0) : R(NULL, NULL, 0);
		return out->fn ? 0 : 405;
	}
	if (n == 3 && strcmp(g[1], "watchers") == 0) {
		c->param3 = g[2];
		*out = post ? R("WatchCase", op_watch, 0) : del ? R("UnwatchCase", op_unwatch, 0) : R(NULL, NULL, 0);
		return out->fn ? 0 : 405;
	}
	if (n == 2 && strcmp(g[1], "insights") == 0) {
		*out = put ? R("AddCaseInsights", op_insights, 1) : R(NULL, NULL, 0);
		return out->fn ? 0 : 405;
	}
	if (n == 2 && strcmp(g[1], "due_date") == 0) {
		*out = post ? R("UpdateCaseDueDate", op_due_date, 1) : R(NULL, NULL, 0);
		return out->fn ? 0 : 405;
	}
	if (n == 3 && strcmp(g[1], "relationships") == 0) {
		if (strcmp(g[2], "jira_issues") == 0)
			*out = R("CreateCaseJiraIssue", op_jira, 1);
		else if (strcmp(g[2], "servicenow_tickets") == 0)
			*out = R("CreateCaseServiceNowTicket", op_servicenow, 1);
		else if (strcmp(g[2], "notebook") == 0)
			*out = R("CreateCaseNotebook", op_notebook, 1);
		else
			return 404;
		return post ? 0 : 405;
	}
	c->case_id = NULL;
	return 404;
}

/* ---- state ---- */

int cg_sim_extra_init(struct cg_sim *s)
{
	struct cg_sim_extra *x = calloc(1, sizeof(*x));
	if (!x)
		return CG_ENOMEM;
	x->per_case = cJSON_CreateObject();
	x->links = cJSON_CreateArray();
	x->nrules = cJSON_CreateArray();
	x->rules = cJSON_CreateArray();
	x->views = cJSON_CreateArray();
	x->windows = cJSON_CreateArray();
	s->extra = x;
	if (!x->per_case || !x->links || !x->nrules || !x->rules || !x->views || !x->windows) {
		cg_sim_extra_cleanup(s);
		return CG_ENOMEM;
	}
	return 0;
}

void cg_sim_extra_cleanup(struct cg_sim *s)
{
	struct cg_sim_extra *x = s ? s->extra : NULL;
	if (!x)
		return;
	cJSON_Delete(x->per_case);
	cJSON_Delete(x->links);
	cJSON_Delete(x->nrules);
	cJSON_Delete(x->rules);
	cJSON_Delete(x->views);
	cJSON_Delete(x->windows);
	free(x);
	s->extra = NULL;
}

void cg_sim_extra_reset(struct cg_sim *s)
{
	struct cg_sim_extra *x = s->extra;
	cJSON *pc = cJSON_CreateObject(), *l = cJSON_CreateArray();
	if (!pc || !l) {
		cJSON_Delete(pc);
		cJSON_Delete(l);
		return;
	}
	cJSON_Delete(x->per_case);
	cJSON_Delete(x->links);
	x->per_case = pc;
	x->links = l;
	x->bulk_refuse = 0;
}

static void answer(struct cg_http_request *req, int status, cJSON *doc)
{
	char *body = doc ? cJSON_PrintUnformatted(doc) : NULL;
	cJSON_Delete(doc);
	if (!body) {
		cg_http_respond_error(req, 500, "out of memory");
		return;
	}
	cg_http_respond(req, status, NULL, body, strlen(body), NULL, 0);
	free(body);
}

int cg_sim_extra_control(struct cg_sim *s, struct cg_http_request *req)
{
	struct cg_sim_extra *x = s->extra;
	const char *p = req->path + 5; /* after "/_sim" */
	if (strcmp(p, "/extra") == 0 && strcmp(req->method, "GET") == 0) {
		cJSON *o = cJSON_CreateObject();
		if (o) {
			cJSON_AddItemToObject(o, "per_case", cJSON_Duplicate(x->per_case, 1));
			cJSON_AddItemToObject(o, "links", cJSON_Duplicate(x->links, 1));
			cJSON_AddItemToObject(o, "notification_rules", cJSON_Duplicate(x->nrules, 1));
			cJSON_AddItemToObject(o, "automation_rules", cJSON_Duplicate(x->rules, 1));
			cJSON_AddItemToObject(o, "views", cJSON_Duplicate(x->views, 1));
			cJSON_AddItemToObject(o, "maintenance_windows", cJSON_Duplicate(x->windows, 1));
			cJSON_AddBoolToObject(o, "bulk_refuse", x->bulk_refuse);
		}
		answer(req, 200, o);
		return 1;
	}
	if (strcmp(p, "/bulk") == 0 && strcmp(req->method, "POST") == 0) {
		cJSON *in = cJSON_ParseWithLength(req->body, req->body_len);
		const cJSON *r = cJSON_GetObjectItemCaseSensitive(in, "refuse");
		if (!cJSON_IsBool(r)) {
			cJSON_Delete(in);
			cg_http_respond_error(req, 400, "expected {\"refuse\": true|false}");
			return 1;
		}
		x->bulk_refuse = cJSON_IsTrue(r);
		cJSON_Delete(in);
		cJSON *o = cJSON_CreateObject();
		if (o)
			cJSON_AddBoolToObject(o, "refuse", x->bulk_refuse);
		answer(req, 200, o);
		return 1;
	}
	return 0;
}

/* ---- --state: what this file holds, as one JSON object ---- */

static const struct {
	const char *name;
	size_t off;
	int object; /* 1: a JSON object, 0: an array */
} saved[] = {
	{"per_case", offsetof(struct cg_sim_extra, per_case), 1},
	{"links", offsetof(struct cg_sim_extra, links), 0},
	{"notification_rules", offsetof(struct cg_sim_extra, nrules), 0},
	{"automation_rules", offsetof(struct cg_sim_extra, rules), 0},
	{"views", offsetof(struct cg_sim_extra, views), 0},
	{"maintenance_windows", offsetof(struct cg_sim_extra, windows), 0},
};

cJSON *cg_sim_extra_save(const struct cg_sim *s)
{
	cJSON *o = cJSON_CreateObject();
	if (!o || !cJSON_AddNumberToObject(o, "jira_seq", (double)s->extra->jira_seq))
		goto fail;
	for (size_t i = 0; i < sizeof(saved) / sizeof(saved[0]); i++) {
		cJSON *v = cJSON_Duplicate(*(cJSON **)((char *)s->extra + saved[i].off), 1);
		if (!v)
			goto fail;
		cJSON_AddItemToObject(o, saved[i].name, v);
	}
	return o;
fail:
	cJSON_Delete(o);
	return NULL;
}

int cg_sim_extra_load(struct cg_sim *s, const cJSON *in, char *err, size_t errlen)
{
	const cJSON *js = cJSON_GetObjectItemCaseSensitive(in, "jira_seq");
	if (!cJSON_IsObject(in) || !cJSON_IsNumber(js) || js->valuedouble < 0) {
		snprintf(err, errlen, "extra: want an object with jira_seq (a number >= 0)");
		return CG_EINVAL;
	}
	for (size_t i = 0; i < sizeof(saved) / sizeof(saved[0]); i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, saved[i].name);
		if (saved[i].object ? !cJSON_IsObject(v) : !cJSON_IsArray(v)) {
			snprintf(err, errlen, "extra.%s: want a JSON %s", saved[i].name, saved[i].object ? "object" : "array");
			return CG_EINVAL;
		}
	}
	for (size_t i = 0; i < sizeof(saved) / sizeof(saved[0]); i++) {
		cJSON *v = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(in, saved[i].name), 1);
		if (!v) {
			snprintf(err, errlen, "out of memory");
			return CG_ENOMEM;
		}
		cJSON **slot = (cJSON **)((char *)s->extra + saved[i].off);
		cJSON_Delete(*slot);
		*slot = v;
	}
	s->extra->jira_seq = (unsigned long)js->valuedouble;
	return 0;
}
