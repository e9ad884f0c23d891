/* gcp.c: Google Cloud Monitoring webhook notification channel (incident schema 1.2) to events. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "mdsafe.h"
#include "maputil.h"
#include "registry.h"

/*
 * {"version": "1.2", "incident": {incident_id, state open|closed, policy_name, condition_name,
 *  summary, url, severity, started_at, ended_at (epoch seconds), resource{type,labels},
 *  metric{type,displayName,labels}, metadata{system_labels,user_labels}, policy_user_labels,
 *  documentation{content,subject,links[]} (a plain string in the console's test), observed_value,
 *  threshold_value, condition{...}}}
 * incident_id is the same when the incident opens and when it closes. "Test connection" in the
 * console posts "version": "test" (and an upper-case state): answered, not turned into a case.
 */

static int map_gcp(const cJSON *payload, const struct cg_map_opts *opts, struct cg_event_list *out, char *err,
                   size_t errlen)
{
	(void)opts;
	if (cg_mu_need_object(payload, err, errlen))
		return CG_EINVAL;
	const char *version = cg_mu_str(payload, "version");
	if (version && strcasecmp(version, "test") == 0) {
		snprintf(out->ignored_reason, sizeof(out->ignored_reason), "test notification");
		return 0;
	}
	const cJSON *inc = cg_mu_object(payload, "incident", err, errlen);
	if (!inc)
		return CG_EINVAL;
	char idb[32];
	const char *id = cg_mu_id(cg_mu_get(inc, "incident_id"), idb, sizeof(idb));
	if (!id) {
		snprintf(err, errlen, "missing field 'incident.incident_id'");
		return CG_EINVAL;
	}
	const char *state = cg_mu_str(inc, "state");
	if (!state) {
		snprintf(err, errlen, "missing field 'incident.state'");
		return CG_EINVAL;
	}
	int resolved = strcasecmp(state, "closed") == 0;
	if (!resolved && strcasecmp(state, "open") != 0) {
		snprintf(err, errlen, "invalid field 'incident.state': '%.40s' (want open or closed)", state);
		return CG_EINVAL;
	}
	struct cg_event *e = cg_mu_push(out);
	if (!e)
		return CG_ENOMEM;
	e->status = resolved ? CG_STATUS_RESOLVED : CG_STATUS_FIRING;
	char t1[40], t2[40];
	const char *policy = cg_mu_str(inc, "policy_name"), *condition = cg_mu_str(inc, "condition_name");
	const char *resource = cg_mu_str(inc, "resource_display_name");
	const cJSON *doc = cg_mu_get(inc, "documentation");
	const char *doc_text = cJSON_IsString(doc) ? cg_mu_str(doc, "") : cg_mu_str(doc, "content");
	int rc = cg_mu_dup(&e->dedup_key, id);
	rc = rc ? rc : cg_mu_dup(&e->severity, cg_mu_str(inc, "severity"));
	rc = rc ? rc : cg_mu_dup(&e->starts_at, cg_mu_epoch_text(cg_mu_get(inc, "started_at"), t1));
	rc = rc ? rc : cg_mu_dup(&e->ends_at, resolved ? cg_mu_epoch_text(cg_mu_get(inc, "ended_at"), t2) : NULL);
	rc = rc ? rc : cg_mu_labels_from(e->labels, cg_mu_get(inc, "policy_user_labels"));
	rc = rc ? rc : cg_mu_labels_from(e->labels, cg_json_path(inc, "metadata.user_labels"));
	rc = rc ? rc : cg_mu_labels_from(e->labels, cg_json_path(inc, "metric.labels"));
	rc = rc ? rc : cg_mu_labels_from(e->labels, cg_json_path(inc, "resource.labels"));
	rc = rc ? rc : cg_mu_labels_from(e->labels, cg_json_path(inc, "metadata.system_labels"));
	rc = rc ? rc : cg_mu_label(e->labels, "resource_type", cg_mu_str(inc, "resource.type"));
	rc = rc ? rc : cg_mu_label(e->labels, "metric_type", cg_mu_str(inc, "metric.type"));
	rc = rc ? rc : cg_mu_label(e->labels, "project", cg_mu_str(inc, "scoping_project_id"));
	rc = rc ? rc : cg_mu_link(e->links, "generator", cg_mu_str(inc, "url"));
	const cJSON *l;
	int n = 0;
	cJSON_ArrayForEach(l, cg_json_path(doc, "links"))
	{
		/* Documentation links are named by the policy's author ("Playbook", "Runbook"). */
		char name[64];
		const char *dn = cg_mu_str(l, "displayName");
		snprintf(name, sizeof(name), "%s", dn ? dn : "");
		if (!dn)
			snprintf(name, sizeof(name), "link%d", ++n);
		rc = rc ? rc : cg_mu_link(e->links, name, cg_mu_str(l, "url"));
	}
	if (rc)
		return rc;

	struct cg_sbuf b = {0};
	if (policy && condition && strcmp(policy, condition) != 0)
		cg_sbuf_addf(&b, "%s: %s", policy, condition);
	else if (policy || condition)
		cg_sbuf_add(&b, policy ? policy : condition);
	else
		cg_sbuf_addf(&b, "Cloud Monitoring incident %s", id);
	e->title = cg_sbuf_take(&b);

	const char *summary = cg_mu_str(inc, "summary");
	if (summary)
		cg_md_addf(&b, "%s\n\n", summary);
	if (doc_text)
		cg_md_addf(&b, "%s\n\n", doc_text);
	cg_md_addf(&b, "**State:** %s\n", state);
	static const char *const rows[][2] = {
	    {"severity", "Severity"},
	    {"policy_name", "Policy"},
	    {"condition_name", "Condition"},
	    {"metric.displayName", "Metric"},
	    {"observed_value", "Observed value"},
	    {"threshold_value", "Threshold"},
	    {"scoping_project_id", "Project"},
	};
	cg_mu_rows_md(&b, inc, rows, sizeof(rows) / sizeof(rows[0]));
	if (resource)
		cg_md_addf(
		    &b, "**Resource:** %s%s%s%s\n", resource, cg_mu_str(inc, "resource_type_display_name") ? " (" : "",
		    cg_mu_str(inc, "resource_type_display_name") ? cg_mu_str(inc, "resource_type_display_name") : "",
		    cg_mu_str(inc, "resource_type_display_name") ? ")" : "");
	if (e->starts_at)
		cg_md_addf(&b, "**Started:** %s\n", e->starts_at);
	if (e->ends_at)
		cg_md_addf(&b, "**Ended:** %s\n", e->ends_at);
	cg_sbuf_add(&b, "\n");
	/* Templates see the incident's fields at the root ({{policy_name}}, {{resource.labels.zone}}). */
	rc = cg_mu_finish(e, &b, inc, payload);
	if (!rc && !cJSON_AddStringToObject(e->ctx, "documentation_text", doc_text ? doc_text : ""))
		rc = CG_ENOMEM;
	return rc;
}

const struct cg_mapper cg_mapper_gcp = {
    .name = "gcp",
    .description = "Google Cloud Monitoring webhook notification channel (incident schema 1.2)",
    .map = map_gcp,
    .supports_group_by = 0,
    .default_priority_map = "critical=P1,error=P2,warning=P3",
};
