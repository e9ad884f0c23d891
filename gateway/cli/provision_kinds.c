/* provision_kinds.c: one planner per kind of Case Management resource: what Datadog has vs what is declared. */
#include "provision.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ddanswer.h"

static int has_mark(const char *name)
{
	size_t n = strlen(name), m = strlen(CG_PROVISION_MARK);
	return n >= m && strcmp(name + n - m, CG_PROVISION_MARK) == 0;
}

/* 1 when every member of want equals the same member of have. */
static int subset_equal(const cJSON *want, const cJSON *have)
{
	const cJSON *w;
	cJSON_ArrayForEach(w, want)
	{
		const cJSON *h = cJSON_GetObjectItemCaseSensitive(have, w->string);
		if (!h || !cJSON_Compare(w, h, 1))
			return 0;
	}
	return 1;
}

/* What Datadog lists of one kind, and which of it the section declares. */
struct listing {
	cJSON *answer;     /* the GET answer (owned); NULL: nothing listed (a project this plan creates) */
	const cJSON *data; /* its resources */
	char *matched;     /* a flag per resource: a declared one matches it (the others may be deleted) */
};

/* GETs path (what names it in errors) into l: 0, or -1 with s->failed set. */
static int listing_get(struct cg_prov *s, const char *path, const char *what, struct listing *l)
{
	if (!(l->answer = cg_prov_get_list(s, path, what)))
		return -1;
	l->data = cJSON_GetObjectItemCaseSensitive(l->answer, "data");
	if (!(l->matched = calloc((size_t)cJSON_GetArraySize(l->data) + 1, 1))) {
		fprintf(s->err, "error: reading %s: out of memory\n", what);
		cJSON_Delete(l->answer);
		s->failed = 1;
		return -1;
	}
	return 0;
}

static void listing_cleanup(struct listing *l)
{
	free(l->matched);
	cJSON_Delete(l->answer);
}

/* attributes.name of a resource in a listing, or NULL. */
static const char *name_of(const cJSON *r)
{
	return cJSON_GetStringValue(
		cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r, "attributes"), "name"));
}

/* The index of the first listed resource named name, now matched; -1 when none is. */
static int match_named(struct listing *l, const char *name)
{
	int j = 0;
	const cJSON *r;
	cJSON_ArrayForEach(r, l->data)
	{
		const char *rn = name_of(r);
		if (rn && strcmp(rn, name) == 0) {
			l->matched[j] = 1;
			return j;
		}
		j++;
	}
	return -1;
}

/* A declared named resource (automation rule, view, maintenance window): *name as declared, new
 * request attributes with the name casegate gives it in Datadog (with the mark), and in *found
 * the index of the listed resource of that name, now matched (-1: none). */
static cJSON *match_declared(struct listing *l, const cJSON *d, const char **name, int *found)
{
	char full[300];
	*name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "name"));
	snprintf(full, sizeof(full), "%s%s", *name, CG_PROVISION_MARK);
	cJSON *a = cJSON_CreateObject();
	cJSON_AddStringToObject(a, "name", full);
	*found = match_named(l, full);
	return a;
}

/* The id of data's resource i, or NULL (also for i < 0: not found). */
static const char *id_at(const cJSON *data, int i)
{
	return i >= 0 ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(data, i), "id"))
	              : NULL;
}

/* Sets the string at o.key (when there is one) to upper or lower case: Datadog's enums are
 * TRIGGER_TYPES for notification rules, trigger_types and action_types for automation rules. */
static void enum_case(cJSON *o, const char *key, int upper)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (!cJSON_IsString(v))
		return;
	for (char *c = v->valuestring; *c; c++)
		*c = (char)(upper ? toupper((unsigned char)*c) : tolower((unsigned char)*c));
}

void cg_prov_plan_nrules(struct cg_prov *s, struct cg_prov_plan *pl, const char *pkey, const char *pid,
                         const cJSON *decl)
{
	struct listing l = {0};
	char path[300];
	if (pid) {
		snprintf(path, sizeof(path), "/api/v2/cases/projects/%s/notification_rules", pid);
		if (listing_get(s, path, "notification rules", &l) != 0)
			return;
	}
	const cJSON *data = l.data;
	char *matched = l.matched;
	const cJSON *d;
	int i = 0;
	cJSON_ArrayForEach(d, decl)
	{
		cJSON *a = cJSON_CreateObject();
		cJSON_AddBoolToObject(a, "is_enabled", cg_prov_bool(d, "enabled", 1));
		const cJSON *q = cJSON_GetObjectItemCaseSensitive(d, "query");
		cJSON_AddStringToObject(a, "query", cJSON_IsString(q) ? q->valuestring : "");
		cJSON *rec = cg_prov_clean(cJSON_GetObjectItemCaseSensitive(d, "recipients"));
		cJSON *trig = cg_prov_clean(cJSON_GetObjectItemCaseSensitive(d, "triggers"));
		cJSON *e;
		cJSON_ArrayForEach(e, rec)
		{
			enum_case(e, "type", 1);
		}
		cJSON_ArrayForEach(e, trig)
		{
			enum_case(e, "type", 1);
		}
		cJSON_AddItemToObject(a, "recipients", rec);
		cJSON_AddItemToObject(a, "triggers", trig);
		/* No name field: a rule is identified by its content. */
		int found = -1, j = 0;
		const cJSON *h;
		cJSON_ArrayForEach(h, data)
		{
			if (found < 0 && !matched[j] &&
			    subset_equal(a, cJSON_GetObjectItemCaseSensitive(h, "attributes")))
				found = j;
			j++;
		}
		if (found >= 0) {
			matched[found] = 1;
			cJSON_Delete(a);
		} else {
			struct cg_prov_item *it = cg_prov_add(
			    pl, CG_PROV_CREATE, "notification_rule", "POST", cg_prov_env("notification_rule", a),
			    "%s #%d (query \"%s\")", pkey, i + 1, cJSON_IsString(q) ? q->valuestring : "");
			if (it) {
				snprintf(it->path, sizeof(it->path),
				         "/api/v2/cases/projects/{project}/notification_rules");
				snprintf(it->project_key, sizeof(it->project_key), "%s", pkey);
			}
		}
		i++;
	}
	i = 0;
	cJSON_ArrayForEach(d, data)
	{
		/* Notification rules have no field to mark them casegate's: only prune removes them. */
		if (!matched[i] && s->prune) {
			const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "id"));
			struct cg_prov_item *it = cg_prov_add(pl, CG_PROV_DELETE, "notification_rule", "DELETE", NULL,
			                                      "%s %s (prune)", pkey, id ? id : "?");
			if (it && id)
				snprintf(it->path, sizeof(it->path), "/api/v2/cases/projects/%s/notification_rules/%s",
				         pid, id);
		}
		i++;
	}
	listing_cleanup(&l);
}

/* Automation rules and views: named, casegate's carry CG_PROVISION_MARK. */
void cg_prov_plan_named(struct cg_prov *s, struct cg_prov_plan *pl, const char *kind, const char *pkey, const char *pid,
		       const cJSON *decl)
{
	int rules = strcmp(kind, "automation_rule") == 0;
	struct listing l = {0};
	char path[300];
	if (pid) {
		if (rules)
			snprintf(path, sizeof(path), "/api/v2/cases/projects/%s/rules", pid);
		else
			snprintf(path, sizeof(path), "/api/v2/cases/views?project_id=%s", pid);
		if (listing_get(s, path, rules ? "automation rules" : "case views", &l) != 0)
			return;
	}
	const cJSON *data = l.data;
	const cJSON *d;
	cJSON_ArrayForEach(d, decl)
	{
		const char *name;
		int found;
		cJSON *a = match_declared(&l, d, &name, &found);
		if (rules) {
			cJSON_AddStringToObject(a, "state", cg_prov_bool(d, "enabled", 1) ? "ENABLED" : "DISABLED");
			cJSON *trig = cg_prov_clean(cJSON_GetObjectItemCaseSensitive(d, "trigger"));
			cJSON *act = cg_prov_clean(cJSON_GetObjectItemCaseSensitive(d, "action"));
			enum_case(trig, "type", 0);
			enum_case(act, "type", 0);
			cJSON_AddItemToObject(a, "trigger", trig);
			cJSON_AddItemToObject(a, "action", act);
		} else {
			cJSON_AddStringToObject(a, "query",
			                        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "query")));
		}
		const char *id = id_at(data, found);
		if (found >= 0 &&
		    subset_equal(a, cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(data, found), "attributes"))) {
			cJSON_Delete(a);
			continue;
		}
		struct cg_prov_item *it;
		if (found >= 0) {
			it = cg_prov_add(pl, CG_PROV_UPDATE, kind, "PUT", cg_prov_env(rules ? "rule" : "view", a),
			                 "%s \"%s\"", pkey, name);
			if (it && rules)
				snprintf(it->path, sizeof(it->path), "/api/v2/cases/projects/%s/rules/%s", pid, id);
			else if (it)
				snprintf(it->path, sizeof(it->path), "/api/v2/cases/views/%s", id);
		} else {
			if (!rules)
				cJSON_AddStringToObject(a, "project_id", "{project}");
			it = cg_prov_add(pl, CG_PROV_CREATE, kind, "POST", cg_prov_env(rules ? "rule" : "view", a),
			                 "%s \"%s\"", pkey, name);
			if (it) {
				snprintf(it->path, sizeof(it->path), "%s",
					 rules ? "/api/v2/cases/projects/{project}/rules" : "/api/v2/cases/views");
				snprintf(it->project_key, sizeof(it->project_key), "%s", pkey);
			}
		}
	}
	int i = 0;
	cJSON_ArrayForEach(d, data)
	{
		const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "id"));
		const char *hn = name_of(d);
		int mine = hn && has_mark(hn);
		if (!l.matched[i] && id && (mine || s->prune)) {
			struct cg_prov_item *it = cg_prov_add(pl, CG_PROV_DELETE, kind, "DELETE", NULL, "%s \"%s\"%s",
			                                      pkey, hn ? hn : id, mine ? "" : " (prune)");
			if (it && rules)
				snprintf(it->path, sizeof(it->path), "/api/v2/cases/projects/%s/rules/%s", pid, id);
			else if (it)
				snprintf(it->path, sizeof(it->path), "/api/v2/cases/views/%s", id);
		}
		i++;
	}
	listing_cleanup(&l);
}

/*
 * Case types: each declared custom attribute that the type lacks is created (e.g. the TEXT
 * attribute that carries casegate's marker, datadog.marker_attribute). An existing attribute is
 * never changed or deleted: one with another type or is_multi is an error to settle by hand.
 */
void cg_prov_plan_case_types(struct cg_prov *s, struct cg_prov_plan *pl, const cJSON *decl)
{
	const cJSON *t;
	cJSON_ArrayForEach(t, decl)
	{
		const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(t, "id"));
		if (!id)
			continue;
		char path[300];
		snprintf(path, sizeof(path), "/api/v2/cases/types/%s/custom_attributes", id);
		cJSON *cur = cg_prov_get_list(s, path, "custom attributes");
		if (!cur)
			return;
		char *text = cJSON_PrintUnformatted(cur);
		struct cg_dd_ca_def *defs = NULL;
		size_t nd = 0;
		if (!text || cg_dd_answer_ca_defs(text, strlen(text), &defs, &nd) != 0) {
			fprintf(s->err, "error: case type %s: the custom attribute listing is not understood\n", id);
			s->failed = 1;
		}
		cJSON_free(text);
		cJSON_Delete(cur);
		const cJSON *c;
		cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(t, "custom_attributes"))
		{
			const char *key = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "key"));
			const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "type"));
			if (!key || !type)
				continue;
			enum cg_dd_ca_kind kind = cg_dd_ca_kind_parse(type);
			int multi = cg_prov_bool(c, "is_multi", 0);
			const struct cg_dd_ca_def *have = NULL;
			for (size_t i = 0; i < nd; i++)
				if (strcmp(defs[i].key, key) == 0)
					have = &defs[i];
			if (have) {
				if (have->type != kind || have->is_multi != multi) {
					fprintf(s->err,
					        "error: case type %s: custom attribute %s is %s%s in Datadog, declared "
					        "%s%s: "
					        "casegate does not change it (delete or rename it in Datadog)\n",
					        id, key, cg_dd_ca_kind_name(have->type),
					        have->is_multi ? " (multi)" : "", cg_dd_ca_kind_name(kind),
					        multi ? " (multi)" : "");
					s->failed = 1;
				}
				continue;
			}
			cJSON *a = cJSON_CreateObject();
			const char *dn = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "display_name"));
			const char *desc = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "description"));
			cJSON_AddStringToObject(a, "display_name", dn ? dn : key);
			cJSON_AddStringToObject(a, "key", key);
			cJSON_AddStringToObject(a, "type", cg_dd_ca_kind_name(kind));
			cJSON_AddBoolToObject(a, "is_multi", multi);
			if (desc)
				cJSON_AddStringToObject(a, "description", desc);
			struct cg_prov_item *x = cg_prov_add(pl, CG_PROV_CREATE, "custom_attribute", "POST",
			                                     cg_prov_env("custom_attribute", a), "%s on %s", key, id);
			if (x)
				snprintf(x->path, sizeof(x->path), "/api/v2/cases/types/%s/custom_attributes", id);
		}
		free(defs);
	}
}

void cg_prov_plan_windows(struct cg_prov *s, struct cg_prov_plan *pl, const cJSON *decl)
{
	struct listing l = {0};
	if (listing_get(s, "/api/v2/maintenance_windows", "maintenance windows", &l) != 0)
		return;
	const cJSON *d;
	cJSON_ArrayForEach(d, decl)
	{
		const char *name;
		int found;
		cJSON *a = match_declared(&l, d, &name, &found);
		cJSON_AddStringToObject(a, "query", cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "query")));
		cJSON_AddStringToObject(a, "start_at",
		                        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "start")));
		cJSON_AddStringToObject(a, "end_at", cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "end")));
		int same = 0;
		if (found >= 0) {
			const cJSON *ha =
			    cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(l.data, found), "attributes");
			char t1[64], t2[64], h1[64], h2[64];
			cg_prov_norm_time(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "start_at")), t1,
			                  sizeof(t1));
			cg_prov_norm_time(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "end_at")), t2,
			                  sizeof(t2));
			cg_prov_norm_time(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ha, "start_at")), h1,
			                  sizeof(h1));
			cg_prov_norm_time(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ha, "end_at")), h2,
			                  sizeof(h2));
			const char *hq = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ha, "query"));
			same = strcmp(t1, h1) == 0 && strcmp(t2, h2) == 0 && hq &&
			       strcmp(hq, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "query"))) == 0;
		}
		if (same) {
			cJSON_Delete(a);
			continue;
		}
		const char *id = id_at(l.data, found);
		struct cg_prov_item *it =
		    cg_prov_add(pl, found >= 0 ? CG_PROV_UPDATE : CG_PROV_CREATE, "maintenance_window",
		                found >= 0 ? "PUT" : "POST", cg_prov_env("maintenance_window", a), "\"%s\"", name);
		if (it && id)
			snprintf(it->path, sizeof(it->path), "/api/v2/maintenance_windows/%s", id);
		else if (it)
			snprintf(it->path, sizeof(it->path), "/api/v2/maintenance_windows");
	}
	int i = 0;
	cJSON_ArrayForEach(d, l.data)
	{
		const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "id"));
		const char *hn = name_of(d);
		int mine = hn && has_mark(hn);
		/* Windows opened by `casegate maintenance start` are not declared: they are left alone. */
		int cli = hn && strncmp(hn, "maintenance ", 12) == 0;
		if (!l.matched[i] && id && ((mine && !cli) || s->prune)) {
			struct cg_prov_item *it = cg_prov_add(pl, CG_PROV_DELETE, "maintenance_window", "DELETE", NULL,
			                                      "\"%s\"%s", hn ? hn : id, mine ? "" : " (prune)");
			if (it)
				snprintf(it->path, sizeof(it->path), "/api/v2/maintenance_windows/%s", id);
		}
		i++;
	}
	listing_cleanup(&l);
}
