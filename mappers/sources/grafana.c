/* grafana.c: Grafana alerting webhooks (unified alerting, and the legacy pre-9 notifier) to events. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "amshape.h"
#include "err.h"
#include "maputil.h"
#include "mdsafe.h"

/*
 * Legacy (Grafana <= 8 "legacy alerting") notifier body: one rule per request, no alerts[]:
 * {ruleId, ruleName, ruleUrl, state: alerting|ok|no_data|paused|pending, title, message,
 *  evalMatches: [{metric, value, tags}], tags, imageUrl, dashboardId, panelId, orgId}.
 */
static int is_legacy(const cJSON *p)
{
	return !cJSON_GetObjectItemCaseSensitive(p, "alerts") &&
	       (cJSON_GetObjectItemCaseSensitive(p, "ruleId") || cJSON_GetObjectItemCaseSensitive(p, "ruleName") ||
		cJSON_GetObjectItemCaseSensitive(p, "evalMatches"));
}

static int map_legacy(const cJSON *p, struct cg_event_list *out, char *err, size_t errlen)
{
	const char *state = cg_json_str(p, "state");
	if (state && (strcasecmp(state, "paused") == 0 || strcasecmp(state, "pending") == 0)) {
		snprintf(out->ignored_reason, sizeof(out->ignored_reason), "legacy Grafana alert state '%s'", state);
		return 0;
	}
	char key[128], idb[32];
	const char *rule_id = cg_mu_id(cJSON_GetObjectItemCaseSensitive(p, "ruleId"), idb, sizeof(idb));
	const char *name = cg_json_str(p, "ruleName");
	if (rule_id)
		snprintf(key, sizeof(key), "rule-%s", rule_id);
	else if (name && name[0])
		snprintf(key, sizeof(key), "rule-name-%s", name);
	else {
		snprintf(err, errlen, "missing field 'ruleId' (legacy Grafana alert)");
		return CG_EINVAL;
	}
	struct cg_event *e = cg_event_list_push(out);
	if (!e)
		return CG_ENOMEM;
	e->status = state && strcasecmp(state, "ok") == 0 ? CG_STATUS_RESOLVED : CG_STATUS_FIRING;
	e->labels = cg_json_string_object(cJSON_GetObjectItemCaseSensitive(p, "tags"));
	e->annotations = cJSON_CreateObject();
	e->links = cJSON_CreateObject();
	if (!e->labels || !e->annotations || !e->links)
		return CG_ENOMEM;
	const char *msg = cg_json_str(p, "message");
	if (msg && msg[0] && !cJSON_AddStringToObject(e->annotations, "message", msg))
		return CG_ENOMEM;
	e->dedup_key = cg_strdup0(key);
	const char *sev = cg_json_str(e->labels, "severity");
	e->severity = cg_strdup0(sev);
	/* `title` carries the state ("[Alerting] ..."); the rule name is what stays the same. */
	const char *title = name && name[0] ? name : cg_json_str(p, "title");
	e->title = cg_strdup0(title && title[0] ? title : key);
	if (!e->dedup_key || !e->title || (sev && !e->severity))
		return CG_ENOMEM;
	int rc = cg_mu_link(e->links, "generator", cg_json_str(p, "ruleUrl"));
	rc = rc ? rc : cg_mu_link(e->links, "image", cg_json_str(p, "imageUrl"));
	if (rc)
		return rc;

	struct cg_sbuf b = {0};
	if (msg && msg[0])
		cg_md_addf(&b, "%s\n\n", msg);
	cg_md_addf(&b, "**State:** %s\n", state ? state : "unknown");
	const cJSON *m;
	int first = 1;
	cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(p, "evalMatches"))
	{
		const char *metric = cg_json_str(m, "metric");
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, "value");
		if (first)
			cg_sbuf_add(&b, "\n**Values:**\n");
		first = 0;
		if (cJSON_IsNumber(v))
			cg_md_addf(&b, "- %s: %.10g\n", metric ? metric : "value", v->valuedouble);
		else
			cg_md_addf(&b, "- %s: %s\n", metric ? metric : "value", cJSON_IsString(v) ? v->valuestring : "null");
	}
	cg_sbuf_add(&b, "\n");
	return cg_mu_finish(e, &b, p, p);
}

static int map_grafana(const cJSON *payload, const struct cg_map_opts *opts, struct cg_event_list *out, char *err,
		       size_t errlen)
{
	static const struct cg_am_flavor fl = {.product = "Grafana", .grafana = 1};
	if (cJSON_IsObject(payload) && is_legacy(payload))
		return map_legacy(payload, out, err, errlen);
	return cg_am_map(payload, opts, &fl, out, err, errlen);
}

const struct cg_mapper cg_mapper_grafana = {
	.name = "grafana",
	.description = "Grafana alerting webhook contact point (unified alerting; legacy notifier too)",
	.map = map_grafana,
	.supports_group_by = 1,
	.default_priority_map = "critical=P1,crit=P1,high=P2,error=P2,major=P2,warning=P3,warn=P3,medium=P3,"
				"low=P4,minor=P4,info=P5,informational=P5,none=P5",
};
