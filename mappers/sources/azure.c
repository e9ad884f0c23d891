/* azure.c: Azure Monitor alerts in the common alert schema (action group webhook) to events. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "maputil.h"
#include "mdsafe.h"
#include "registry.h"

/*
 * {"schemaId": "azureMonitorCommonAlertSchema", "data": {"essentials": {alertId, alertRule,
 *  severity Sev0..Sev4, signalType, monitorCondition Fired|Resolved, monitoringService,
 *  alertTargetIDs[], configurationItems[], firedDateTime, resolvedDateTime, description, ...},
 *  "alertContext": {...depends on monitoringService...}, "customProperties": {...}}}
 * alertId is the same when the alert fires and when it resolves.
 */

static int portal_link(cJSON *links, const char *name, const char *prefix, const char *id, int encode)
{
	struct cg_sbuf b = {0};
	cg_sbuf_add(&b, prefix);
	if (encode)
		cg_sbuf_pct_encode(&b, id);
	else
		cg_sbuf_add(&b, id);
	return cg_mu_link_take(links, name, &b);
}

/* The last path segment of a resource id ("/subscriptions/.../virtualMachines/vm1" -> "vm1"). */
static const char *last_segment(const char *id)
{
	const char *slash = id ? strrchr(id, '/') : NULL;
	return slash && slash[1] ? slash + 1 : id;
}

/* Metric alert conditions: "- Percentage CPU GreaterThan 25 (value 7.727)". */
static void conditions_md(struct cg_sbuf *b, const cJSON *ctx)
{
	const cJSON *c;
	int first = 1;
	cJSON_ArrayForEach(c, cg_json_path(ctx, "condition.allOf"))
	{
		const char *metric = cg_mu_str(c, "metricName");
		if (!metric)
			metric = cg_mu_str(c, "searchQuery");
		if (!metric)
			continue;
		if (first)
			cg_sbuf_add(b, "**Conditions:**\n");
		first = 0;
		cg_md_addf(b, "- %s", metric);
		const char *op = cg_mu_str(c, "operator");
		const cJSON *th = cg_mu_get(c, "threshold");
		if (op)
			cg_md_addf(b, " %s", op);
		if (cJSON_IsString(th))
			cg_md_addf(b, " %s", th->valuestring);
		else if (cJSON_IsNumber(th))
			cg_md_addf(b, " %.15g", th->valuedouble);
		const cJSON *v = cg_mu_get(c, "metricValue");
		if (cJSON_IsNumber(v))
			cg_md_addf(b, " (value %.15g)", v->valuedouble);
		cg_sbuf_add(b, "\n");
	}
	if (!first)
		cg_sbuf_add(b, "\n");
}

static int map_azure(const cJSON *payload, const struct cg_map_opts *opts, struct cg_event_list *out, char *err,
                     size_t errlen)
{
	(void)opts;
	if (cg_mu_need_object(payload, err, errlen))
		return CG_EINVAL;
	const char *schema = cg_mu_str(payload, "schemaId");
	if (schema && strcasecmp(schema, "azureMonitorCommonAlertSchema") != 0) {
		snprintf(err, errlen,
		         "invalid field 'schemaId': '%.60s' (enable the common alert schema in the action group)",
		         schema);
		return CG_EINVAL;
	}
	const cJSON *data = cg_mu_get(payload, "data");
	const cJSON *ess = cg_mu_get(data, "essentials");
	if (!cJSON_IsObject(ess)) {
		snprintf(err, errlen,
		         "missing field 'data.essentials' (enable the common alert schema in the action group)");
		return CG_EINVAL;
	}
	const char *alert_id = cg_mu_str(ess, "alertId");
	if (!alert_id) {
		snprintf(err, errlen, "missing field 'data.essentials.alertId'");
		return CG_EINVAL;
	}
	const char *cond = cg_mu_str(ess, "monitorCondition");
	int resolved = cond && strcasecmp(cond, "Resolved") == 0;
	if (cond && !resolved && strcasecmp(cond, "Fired") != 0) {
		snprintf(err, errlen,
		         "invalid field 'data.essentials.monitorCondition': '%.40s' (want Fired or Resolved)", cond);
		return CG_EINVAL;
	}
	const cJSON *actx = cg_mu_get(data, "alertContext");
	const cJSON *custom = cg_mu_get(data, "customProperties");
	struct cg_event *e = cg_mu_push(out);
	if (!e)
		return CG_ENOMEM;
	e->status = resolved ? CG_STATUS_RESOLVED : CG_STATUS_FIRING;
	const char *rule = cg_mu_str(ess, "alertRule");
	const char *target = cg_mu_str(cJSON_GetArrayItem(cg_mu_get(ess, "configurationItems"), 0), "");
	const char *target_id = cg_mu_str(cJSON_GetArrayItem(cg_mu_get(ess, "alertTargetIDs"), 0), "");
	if (!target)
		target = last_segment(target_id);
	const char *rule_id = cg_mu_str(ess, "alertRuleID");
	if (!rule_id)
		rule_id = cg_mu_str(ess, "alertRuleId");

	int rc = cg_mu_dup(&e->dedup_key, alert_id);
	rc = rc ? rc : cg_mu_dup(&e->severity, cg_mu_str(ess, "severity"));
	rc = rc ? rc : cg_mu_dup(&e->starts_at, cg_mu_str(ess, "firedDateTime"));
	rc = rc ? rc : cg_mu_dup(&e->ends_at, resolved ? cg_mu_str(ess, "resolvedDateTime") : NULL);
	rc = rc ? rc : cg_mu_labels_from(e->labels, custom);
	rc = rc ? rc : cg_mu_label(e->labels, "alert_rule", rule);
	rc = rc ? rc : cg_mu_label(e->labels, "signal_type", cg_mu_str(ess, "signalType"));
	rc = rc ? rc : cg_mu_label(e->labels, "monitoring_service", cg_mu_str(ess, "monitoringService"));
	rc = rc ? rc : cg_mu_label(e->labels, "target", target);
	rc = rc ? rc
	        : portal_link(
	              e->links, "generator",
	              "https://portal.azure.com/#blade/Microsoft_Azure_Monitoring/AlertDetailsTemplateBlade/alertId/",
	              alert_id, 1);
	if (!rc && rule_id && rule_id[0] == '/')
		rc = portal_link(e->links, "rule", "https://portal.azure.com/#resource", rule_id, 0);
	if (!rc && target_id && target_id[0] == '/')
		rc = portal_link(e->links, "resource", "https://portal.azure.com/#resource", target_id, 0);
	if (rc)
		return rc;

	struct cg_sbuf b = {0};
	if (rule && target)
		cg_sbuf_addf(&b, "%s on %s", rule, target);
	else if (rule || target)
		cg_sbuf_add(&b, rule ? rule : target);
	else
		cg_sbuf_addf(&b, "Azure Monitor alert %s", last_segment(alert_id));
	e->title = cg_sbuf_take(&b);

	const char *desc = cg_mu_str(ess, "description");
	if (desc)
		cg_md_addf(&b, "%s\n\n", desc);
	static const char *const rows[][2] = {
	    {"severity", "Severity"},         {"monitorCondition", "Condition"}, {"signalType", "Signal"},
	    {"monitoringService", "Service"}, {"firedDateTime", "Fired"},        {"resolvedDateTime", "Resolved"},
	};
	/* The last row, resolvedDateTime, only once resolved. */
	cg_mu_rows_md(&b, ess, rows, sizeof(rows) / sizeof(rows[0]) - (resolved ? 0 : 1));
	const cJSON *it;
	int first = 1;
	cJSON_ArrayForEach(it, cg_mu_get(ess, "alertTargetIDs"))
	{
		if (!cJSON_IsString(it))
			continue;
		cg_sbuf_add(&b, first ? "**Targets:** " : ", ");
		cg_md_put(&b, it->valuestring, CG_MD_TEXT);
		first = 0;
	}
	cg_sbuf_add(&b, first ? "\n" : "\n\n");
	conditions_md(&b, actx);
	cg_mu_pairs_md(&b, "Custom properties", custom);
	if ((rc = cg_mu_describe(e, &b)))
		return rc;

	/* Templates see the essentials at the root ({{alertRule}}) and the rest by name ({{alertContext.x}}). */
	cJSON *root = cJSON_Duplicate(ess, 1);
	if (!root)
		return CG_ENOMEM;
	static const char *const parts[] = {"essentials", "alertContext", "customProperties"};
	const cJSON *srcs[] = {ess, actx, custom};
	for (size_t i = 0; i < 3 && !rc; i++) {
		if (!srcs[i])
			continue;
		cJSON *d = cJSON_Duplicate(srcs[i], 1);
		if (!d || !cJSON_AddItemToObject(root, parts[i], d)) {
			cJSON_Delete(d);
			rc = CG_ENOMEM;
		}
	}
	rc = rc ? rc : cg_event_build_ctx(e, root, payload);
	cJSON_Delete(root);
	return rc;
}

const struct cg_mapper cg_mapper_azure = {
    .name = "azure",
    .description = "Azure Monitor action group webhook, common alert schema",
    .map = map_azure,
    .supports_group_by = 0,
    .default_priority_map = "Sev0=P1,Sev1=P2,Sev2=P3,Sev3=P4,Sev4=P5",
};
