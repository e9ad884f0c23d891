/* actions.c: a source's `actions:` (assignee, watchers, due dates, integrations, insights, per-priority overrides). */

#include "cfgint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

/* A user UUID (assignee, watcher). */
static int get_user_uuid(struct cg_cfg *c, yaml_node_t *n, const char *label, char **dst)
{
	char b[80];
	char *s = NULL;
	if (cg_cfg_name(c, n, label, &s))
		return -1;
	if (!cg_cfg_is_uuid(s)) {
		cg_cfg_err(c, n, "%s: '%s' is not a user UUID", label, cg_cfg_disp(s, b, sizeof(b)));
		free(s);
		return -1;
	}
	free(*dst);
	*dst = s;
	return 0;
}

/* jira / servicenow: a mapping whose `required` keys (NULL-terminated) must be strings. */
static cJSON *get_integration(struct cg_cfg *c, yaml_node_t *n, const char *label, const char *const *required,
			      const char *const *optional)
{
	char b[80];
	if (n->type != YAML_MAPPING_NODE) {
		cg_cfg_err(c, n, "%s: expected a mapping, got %s", label, cg_cfg_kind_name(n));
		return NULL;
	}
	cJSON *o = cg_cfg_json(c, n, label);
	if (!o)
		return NULL;
	const cJSON *it;
	cJSON_ArrayForEach(it, o)
	{
		int known = 0;
		for (size_t i = 0; required[i]; i++)
			known |= strcmp(it->string, required[i]) == 0;
		for (size_t i = 0; optional[i]; i++)
			known |= strcmp(it->string, optional[i]) == 0;
		if (!known) {
			cg_cfg_err(c, n, "%s: unknown key '%s'", label, cg_cfg_disp(it->string, b, sizeof(b)));
			cJSON_Delete(o);
			return NULL;
		}
	}
	for (size_t i = 0; required[i]; i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, required[i]);
		if (!cJSON_IsString(v) || !v->valuestring[0]) {
			cg_cfg_err(c, n, "%s: %s is required (a string)", label, required[i]);
			cJSON_Delete(o);
			return NULL;
		}
	}
	return o;
}

enum { AS_ASSIGNEE, AS_WATCHERS, AS_DUE, AS_JIRA, AS_SERVICENOW, AS_NOTEBOOK, AS_N };

static void parse_action_set(struct cg_cfg *c, struct cg_cfg_field *f, const char *where, struct cg_action_set *a)
{
	static const char *const jira_req[] = {"project_id", "issue_type_id", "jira_account_id", NULL};
	static const char *const jira_opt[] = {"fields", NULL};
	static const char *const snow_req[] = {"instance_name", NULL};
	static const char *const snow_opt[] = {"assignment_group", NULL};
	char lb[320];

	if (f[AS_ASSIGNEE].val) {
		snprintf(lb, sizeof(lb), "%s.assignee", where);
		get_user_uuid(c, f[AS_ASSIGNEE].val, lb, &a->assignee);
	}
	if (f[AS_WATCHERS].val) {
		snprintf(lb, sizeof(lb), "%s.watchers", where);
		if (cg_cfg_strs(c, f[AS_WATCHERS].val, lb, 0, &a->watchers, &a->nwatchers) == 0) {
			a->watchers_set = 1;
			if (a->nwatchers > 10)
				cg_cfg_err(c, f[AS_WATCHERS].val, "%s: at most 10 watchers", lb);
			for (size_t i = 0; i < a->nwatchers; i++)
				if (!cg_cfg_is_uuid(a->watchers[i]))
					cg_cfg_err(c, f[AS_WATCHERS].val, "%s[%zu]: not a user UUID", lb, i);
		}
	}
	if (f[AS_DUE].val) {
		snprintf(lb, sizeof(lb), "%s.due", where);
		if (cg_cfg_duration(c, f[AS_DUE].val, lb, 0, 3650 * CG_MS_DAY, &a->due_ms) == 0)
			a->due_set = 1;
	}
	if (f[AS_JIRA].val) {
		snprintf(lb, sizeof(lb), "%s.jira", where);
		a->jira = get_integration(c, f[AS_JIRA].val, lb, jira_req, jira_opt);
		const cJSON *fields = cJSON_GetObjectItemCaseSensitive(a->jira, "fields");
		if (fields && !cJSON_IsObject(fields))
			cg_cfg_err(c, f[AS_JIRA].val, "%s.fields: expected a mapping", lb);
	}
	if (f[AS_SERVICENOW].val) {
		snprintf(lb, sizeof(lb), "%s.servicenow", where);
		a->servicenow = get_integration(c, f[AS_SERVICENOW].val, lb, snow_req, snow_opt);
	}
	if (f[AS_NOTEBOOK].val) {
		int on = 0;
		snprintf(lb, sizeof(lb), "%s.notebook", where);
		if (cg_cfg_bool(c, f[AS_NOTEBOOK].val, lb, &on) == 0)
			a->notebook = on ? 1 : -1;
	}
}

static void parse_insights(struct cg_cfg *c, yaml_node_t *n, const char *where, struct cg_actions_config *ac)
{
	static const char *const types[] = {"SECURITY_SIGNAL", "MONITOR", "EVENT_CORRELATION", "ERROR_TRACKING",
					    "CLOUD_COST_RECOMMENDATION", "INCIDENT", "SENSITIVE_DATA_SCANNER_ISSUE",
					    "EVENT", "WATCHDOG_STORY", "WIDGET", NULL};
	char lb[320];
	if (n->type != YAML_SEQUENCE_NODE) {
		cg_cfg_err(c, n, "%s.insights: expected a list of {type, ref, resource_id}, got %s", where, cg_cfg_kind_name(n));
		return;
	}
	size_t ni = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	ac->insights_set = 1;
	if (!ni)
		return;
	if (ni > 20) {
		cg_cfg_err(c, n, "%s.insights: at most 20 insights", where);
		return;
	}
	if (!(ac->insights = calloc(ni, sizeof(*ac->insights)))) {
		c->oom = 1;
		return;
	}
	for (size_t i = 0; i < ni; i++) {
		enum { I_TYPE, I_REF, I_RESOURCE_ID, I_N };
		struct cg_cfg_field f[I_N] = {{"type", NULL}, {"ref", NULL}, {"resource_id", NULL}};
		yaml_node_t *item = cg_cfg_node(c, n->data.sequence.items.start[i]);
		snprintf(lb, sizeof(lb), "%s.insights[%zu]", where, i);
		struct cg_insight_tmpl *t = &ac->insights[ac->ninsights++];
		if (!item || cg_cfg_fields(c, item, lb, lb, f, I_N))
			continue;
		int e;
		char l2[360];
		if (!f[I_TYPE].val || !f[I_REF].val || !f[I_RESOURCE_ID].val) {
			cg_cfg_err(c, item, "%s: type, ref and resource_id are required", lb);
			continue;
		}
		snprintf(l2, sizeof(l2), "%s.type", lb);
		if (cg_cfg_enum(c, f[I_TYPE].val, l2, types, &e) == 0 && !(t->type = strdup(types[e])))
			c->oom = 1;
		snprintf(l2, sizeof(l2), "%s.ref", lb);
		cg_cfg_tmpl(c, f[I_REF].val, l2, &t->ref);
		snprintf(l2, sizeof(l2), "%s.resource_id", lb);
		cg_cfg_tmpl(c, f[I_RESOURCE_ID].val, l2, &t->resource_id);
	}
}

void cg_cfg_parse_actions(struct cg_cfg *c, yaml_node_t *n, const char *sp, struct cg_source_config *s)
{
	enum { A_INSIGHTS = AS_N, A_LINK_PREVIOUS, A_ARCHIVE_AFTER, A_BULK, A_P1, A_P2, A_P3, A_P4, A_P5, A_N };
	struct cg_cfg_field f[A_N] = {[AS_ASSIGNEE] = {"assignee", NULL},
			       [AS_WATCHERS] = {"watchers", NULL},
			       [AS_DUE] = {"due", NULL},
			       [AS_JIRA] = {"jira", NULL},
			       [AS_SERVICENOW] = {"servicenow", NULL},
			       [AS_NOTEBOOK] = {"notebook", NULL},
			       [A_INSIGHTS] = {"insights", NULL},
			       [A_LINK_PREVIOUS] = {"link_previous", NULL},
			       [A_ARCHIVE_AFTER] = {"archive_after", NULL},
			       [A_BULK] = {"bulk", NULL},
			       [A_P1] = {"P1", NULL},
			       [A_P2] = {"P2", NULL},
			       [A_P3] = {"P3", NULL},
			       [A_P4] = {"P4", NULL},
			       [A_P5] = {"P5", NULL}};
	static const char *const link_names[] = {"SUCCESSOR_OF", "RELATES_TO", "none", NULL};
	struct cg_actions_config *ac = &s->actions;
	char where[200], lb[320];
	int e;

	snprintf(where, sizeof(where), "%s: actions", sp);
	if (cg_cfg_fields(c, n, where, where, f, A_N))
		return;
	parse_action_set(c, f, where, &ac->base);
	if (f[A_INSIGHTS].val)
		parse_insights(c, f[A_INSIGHTS].val, where, ac);
	if (f[A_LINK_PREVIOUS].val) {
		snprintf(lb, sizeof(lb), "%s.link_previous", where);
		if (cg_cfg_enum(c, f[A_LINK_PREVIOUS].val, lb, link_names, &e) == 0)
			ac->link_previous = (enum cg_link_rel)e;
	}
	if (f[A_ARCHIVE_AFTER].val) {
		snprintf(lb, sizeof(lb), "%s.archive_after", where);
		if (cg_cfg_duration(c, f[A_ARCHIVE_AFTER].val, lb, 0, 3650 * CG_MS_DAY, &ac->archive_after_ms) == 0 &&
		    ac->archive_after_ms && ac->archive_after_ms <= s->reopen_window_ms)
			cg_cfg_err(c, f[A_ARCHIVE_AFTER].val, "%s: must be longer than reopen_window (an archived case is not reopened)",
			       lb);
	}
	if (f[A_BULK].val) {
		snprintf(lb, sizeof(lb), "%s.bulk", where);
		cg_cfg_bool(c, f[A_BULK].val, lb, &ac->bulk);
	}
	for (int p = 1; p <= 5; p++) {
		yaml_node_t *pn = f[A_P1 + p - 1].val;
		struct cg_cfg_field pf[AS_N] = {[AS_ASSIGNEE] = {"assignee", NULL},
					 [AS_WATCHERS] = {"watchers", NULL},
					 [AS_DUE] = {"due", NULL},
					 [AS_JIRA] = {"jira", NULL},
					 [AS_SERVICENOW] = {"servicenow", NULL},
					 [AS_NOTEBOOK] = {"notebook", NULL}};
		if (!pn)
			continue;
		snprintf(lb, sizeof(lb), "%s.P%d", where, p);
		if (cg_cfg_fields(c, pn, lb, lb, pf, AS_N))
			continue;
		ac->prio_set[p] = 1;
		parse_action_set(c, pf, lb, &ac->prio[p]);
	}
}

static void action_set_cleanup(struct cg_action_set *a)
{
	free(a->assignee);
	cg_cfg_strv_free(a->watchers, a->nwatchers, 0);
	cJSON_Delete(a->jira);
	cJSON_Delete(a->servicenow);
}

void cg_cfg_actions_cleanup(struct cg_actions_config *ac)
{
	action_set_cleanup(&ac->base);
	for (int p = 0; p < 6; p++)
		action_set_cleanup(&ac->prio[p]);
	for (size_t i = 0; i < ac->ninsights; i++) {
		free(ac->insights[i].type);
		free(ac->insights[i].ref);
		free(ac->insights[i].resource_id);
	}
	free(ac->insights);
}
