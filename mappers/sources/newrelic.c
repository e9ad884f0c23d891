/* newrelic.c: New Relic workflow webhooks (the default payload template, and close variants) to events. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "mdsafe.h"
#include "maputil.h"
#include "registry.h"

/*
 * The workflow's default payload: {id (issueId), issueUrl, title, priority CRITICAL|HIGH|MEDIUM|LOW,
 * impactedEntities[], totalIncidents, state CREATED|ACTIVATED|ACKNOWLEDGED|CLOSED, trigger
 * (INCIDENT_ADDED, STATE_CHANGE, INCIDENT_CLOSED, ...), isCorrelated, createdAt, updatedAt (ms),
 * sources[], alertPolicyNames[], alertConditionNames[], workflowName}. Users edit that template,
 * so the names New Relic's variables carry (issueId, issuePageUrl, triggerEvent, policyName,
 * conditionName, accumulations.*) are read too.
 */

/* The first of the keys (dotted paths) present as an array or a non-empty string. */
static const cJSON *first_of(const cJSON *p, const char *const keys[])
{
	for (size_t i = 0; keys[i]; i++) {
		const cJSON *v = cg_json_path(p, keys[i]);
		if (cJSON_IsArray(v) || (cJSON_IsString(v) && v->valuestring[0]))
			return v;
	}
	return NULL;
}

/* An array or a string as "a, b" into b; 1 when something was added. */
static int list_md(struct cg_sbuf *b, const cJSON *v)
{
	if (cJSON_IsString(v)) {
		cg_sbuf_add(b, v->valuestring);
		return 1;
	}
	return cg_mu_join(b, v, ", ") > 0;
}

static int list_label(cJSON *labels, const char *key, const cJSON *v)
{
	struct cg_sbuf b = {0};
	if (!list_md(&b, v)) {
		free(cg_sbuf_take(&b));
		return 0;
	}
	char *s = cg_sbuf_take(&b);
	if (!s)
		return CG_ENOMEM;
	int rc = cg_mu_set(labels, key, s);
	free(s);
	return rc;
}

static int ms_field(const cJSON *p, const char *key, char **out)
{
	const cJSON *v = cg_mu_get(p, key);
	char buf[40];
	if (cJSON_IsNumber(v) && cg_mu_ms_text(v->valuedouble, buf, sizeof(buf)) == 0)
		*out = cg_strdup0(buf);
	else if (cJSON_IsString(v) && v->valuestring[0] && !cg_mu_unexpanded(v->valuestring))
		*out = cg_strdup0(v->valuestring);
	else
		return 0;
	return *out ? 0 : CG_ENOMEM;
}

static int map_newrelic(const cJSON *p, const struct cg_map_opts *opts, struct cg_event_list *out, char *err,
                        size_t errlen)
{
	(void)opts;
	static const char *const policy_keys[] = {"alertPolicyNames", "policyName", "accumulations.policyName", NULL};
	static const char *const cond_keys[] = {"alertConditionNames", "conditionName", "accumulations.conditionName",
	                                        NULL};
	static const char *const entity_keys[] = {"impactedEntities", "entitiesData.names", "entityNames", NULL};
	static const char *const source_keys[] = {"sources", "accumulations.source", NULL};
	if (cg_mu_need_object(p, err, errlen))
		return CG_EINVAL;
	char idbuf[40];
	const char *id = cg_mu_filled_id(p, "id", idbuf, sizeof(idbuf));
	if (!id)
		id = cg_mu_filled_id(p, "issueId", idbuf, sizeof(idbuf));
	if (!id) {
		snprintf(err, errlen, "missing field 'id' (New Relic issue id)");
		return CG_EINVAL;
	}
	const char *state = cg_mu_filled(p, "state");
	const char *trigger = cg_mu_filled(p, "trigger");
	if (!trigger)
		trigger = cg_mu_filled(p, "triggerEvent");
	if (!state && !trigger) {
		snprintf(err, errlen, "missing field 'state' (New Relic issue state)");
		return CG_EINVAL;
	}
	int resolved = 0;
	if (state ? strcasecmp(state, "ACKNOWLEDGED") == 0 : strstr(trigger, "ACKNOWLEDGED") != NULL) {
		snprintf(out->ignored_reason, sizeof(out->ignored_reason),
		         "New Relic issue acknowledged: not an alert state change");
		return 0;
	}
	if (state)
		resolved = strcasecmp(state, "CLOSED") == 0 || strcasecmp(state, "RESOLVED") == 0;
	else
		resolved = strstr(trigger, "CLOSED") != NULL;

	struct cg_event *e = cg_mu_push(out);
	if (!e)
		return CG_ENOMEM;
	e->status = resolved ? CG_STATUS_RESOLVED : CG_STATUS_FIRING;
	e->dedup_key = cg_strdup0(id);
	if (!e->dedup_key)
		return CG_ENOMEM;
	const char *prio = cg_mu_filled(p, "priority");
	if (prio && !(e->severity = cg_mu_word(prio)))
		return CG_ENOMEM;
	int rc = ms_field(p, "createdAt", &e->starts_at);
	if (!rc && resolved)
		rc = ms_field(p, "updatedAt", &e->ends_at);
	const cJSON *policies = first_of(p, policy_keys), *conds = first_of(p, cond_keys);
	const cJSON *entities = first_of(p, entity_keys), *sources = first_of(p, source_keys);
	rc = rc ? rc : list_label(e->labels, "policy", policies);
	rc = rc ? rc : list_label(e->labels, "condition", conds);
	rc = rc ? rc : list_label(e->labels, "entity", entities);
	rc = rc ? rc : cg_mu_set(e->labels, "workflow", cg_mu_filled(p, "workflowName"));
	rc = rc ? rc : cg_mu_set(e->annotations, "title", cg_mu_filled(p, "title"));
	rc = rc ? rc : cg_mu_set(e->annotations, "description", cg_mu_filled(p, "description"));
	const char *url = cg_mu_filled(p, "issueUrl");
	rc = rc ? rc : cg_mu_link(e->links, "issue", url ? url : cg_mu_filled(p, "issuePageUrl"));
	rc = rc ? rc : cg_mu_link(e->links, "runbook", cg_mu_filled(p, "runbookUrl"));
	rc = rc ? rc : cg_mu_link(e->links, "runbook", cg_json_str(p, "accumulations.runbookUrl.0"));
	if (rc)
		return rc;

	struct cg_sbuf b = {0};
	const char *title = cg_mu_filled(p, "title");
	if (title)
		cg_sbuf_add(&b, title);
	else if (!conds || !list_md(&b, conds)) /* the condition names, else the id */
		cg_sbuf_addf(&b, "New Relic issue %s", id);
	e->title = cg_sbuf_take(&b);

	if (cg_mu_filled(p, "description"))
		cg_md_addf(&b, "%s\n\n", cg_mu_filled(p, "description"));
	cg_md_addf(&b, "**State:** %s", state ? state : "unknown");
	if (trigger)
		cg_md_addf(&b, " (%s)", trigger);
	cg_sbuf_add(&b, "\n");
	if (prio)
		cg_md_addf(&b, "**Priority:** %s\n", prio);
	struct {
		const char *label;
		const cJSON *v;
	} lists[] = {{"Policies", policies}, {"Conditions", conds}, {"Entities", entities}, {"Sources", sources}};
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		if (!lists[i].v)
			continue;
		cg_md_addf(&b, "**%s:** ", lists[i].label);
		struct cg_sbuf lb = {0};
		list_md(&lb, lists[i].v);
		cg_md_put(&b, lb.p, CG_MD_TEXT);
		b.oom |= lb.oom;
		free(lb.p);
		cg_sbuf_add(&b, "\n");
	}
	const cJSON *ti = cg_mu_get(p, "totalIncidents");
	if (cJSON_IsNumber(ti))
		cg_md_addf(&b, "**Incidents:** %.0f%s\n", ti->valuedouble,
		             cJSON_IsTrue(cg_mu_get(p, "isCorrelated")) ? " (correlated)" : "");
	if (cg_mu_filled(p, "workflowName"))
		cg_md_addf(&b, "**Workflow:** %s\n", cg_mu_filled(p, "workflowName"));
	if (e->starts_at)
		cg_md_addf(&b, "**Created:** %s\n", e->starts_at);
	if (e->ends_at)
		cg_md_addf(&b, "**Closed:** %s\n", e->ends_at);
	cg_sbuf_add(&b, "\n");
	return cg_mu_finish(e, &b, p, p);
}

const struct cg_mapper cg_mapper_newrelic = {
    .name = "newrelic",
    .description = "New Relic alerts workflow webhook (default payload template)",
    .map = map_newrelic,
    .supports_group_by = 0,
    .default_priority_map = "critical=P1,high=P2,medium=P3,low=P4",
};
