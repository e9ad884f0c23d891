/* kibana.c: Kibana alerting rules through the webhook connector, with casegate's body (conf/kibana-webhook-body.json).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "mdsafe.h"
#include "maputil.h"
#include "registry.h"

/*
 * Kibana's webhook connector has no body of its own: the rule action renders the Mustache
 * body the user writes. casegate ships one (conf/kibana-webhook-body.json):
 *   {rule: {id, name, type, url, tags, spaceId}, alert: {id, uuid, actionGroup, actionGroupName,
 *    flapping}, context: {reason, message, title, value, conditions, link, viewInAppUrl,
 *    alertDetailsUrl}, severity, date, kibanaBaseUrl}
 * Mustache renders a variable the rule type lacks as "": empty strings count as absent.
 * alert.actionGroup "recovered" resolves (add the action for the Recovered group too);
 * the dedup key is rule.id/alert.id. severity is whatever the user wrote in the body of
 * that rule's action; without it, the action group decides (warning groups "warning",
 * SLO burn-rate groups their level, no-data groups "warning", anything else "high").
 */

static const char *group_severity(const char *g)
{
	static const struct {
		const char *suffix, *sev;
	} t[] = {
	    {"burnRate.critical", "critical"},
	    {"burnRate.high", "high"},
	    {"burnRate.medium", "medium"},
	    {"burnRate.low", "low"},
	    {"warning", "warning"},
	    {"nodata", "warning"},
	    {"no_data", "warning"},
	};
	size_t n = g ? strlen(g) : 0;
	for (size_t i = 0; g && i < sizeof(t) / sizeof(t[0]); i++) {
		size_t k = strlen(t[i].suffix);
		if (n >= k && strcasecmp(g + n - k, t[i].suffix) == 0)
			return t[i].sev;
	}
	return "high";
}

/* rule.tags: an array, or the "a,b" text Mustache makes of one. */
static int tags_join(struct cg_sbuf *b, const cJSON *tags)
{
	if (cJSON_IsArray(tags))
		return cg_mu_join(b, tags, ", ");
	if (!cJSON_IsString(tags) || !tags->valuestring[0] || cg_mu_unexpanded(tags->valuestring))
		return 0;
	int n = 0;
	for (const char *p = tags->valuestring; *p;) {
		size_t len = strcspn(p, ",");
		const char *s = p;
		while (len && *s == ' ') {
			s++;
			len--;
		}
		if (len) {
			cg_sbuf_addf(b, "%s%.*s", n++ ? ", " : "", (int)len, s);
		}
		p += strcspn(p, ",");
		if (*p == ',')
			p++;
	}
	return n;
}

static int map_kibana(const cJSON *p, const struct cg_map_opts *opts, struct cg_event_list *out, char *err,
                      size_t errlen)
{
	(void)opts;
	if (cg_mu_need_object(p, err, errlen))
		return CG_EINVAL;
	const cJSON *rule = cg_mu_get(p, "rule"), *alert = cg_mu_get(p, "alert"), *ctx = cg_mu_get(p, "context");
	if (!cJSON_IsObject(rule)) {
		snprintf(err, errlen,
		         rule ? "invalid field 'rule': not an object"
		              : "missing field 'rule' (use the body in conf/kibana-webhook-body.json)");
		return CG_EINVAL;
	}
	const char *raw_id = cg_json_str(rule, "id");
	if (raw_id && cg_mu_unexpanded(raw_id)) {
		/* The connector's Test tab sends the body as typed: nothing was rendered. */
		snprintf(out->ignored_reason, sizeof(out->ignored_reason),
		         "Kibana connector test (template not rendered)");
		return 0;
	}
	const char *rule_id = cg_mu_filled(rule, "id");
	if (!rule_id) {
		snprintf(err, errlen, "missing field 'rule.id'");
		return CG_EINVAL;
	}
	if (alert && !cJSON_IsObject(alert)) {
		snprintf(err, errlen, "invalid field 'alert': not an object");
		return CG_EINVAL;
	}
	const char *alert_id = cg_mu_filled(alert, "id");
	const char *group = cg_mu_filled(alert, "actionGroup");
	const char *rule_name = cg_mu_filled(rule, "name");
	int resolved = group && strcasecmp(group, "recovered") == 0;

	struct cg_event *e = cg_mu_push(out);
	if (!e)
		return CG_ENOMEM;
	e->status = resolved ? CG_STATUS_RESOLVED : CG_STATUS_FIRING;
	struct cg_sbuf b = {0};
	cg_sbuf_add(&b, rule_id);
	if (alert_id)
		cg_sbuf_addf(&b, "/%s", alert_id);
	e->dedup_key = cg_sbuf_take(&b);
	const char *sev = cg_mu_filled(p, "severity");
	e->severity = sev ? cg_mu_word(sev) : cg_strdup0(resolved ? "high" : group_severity(group));
	if (!e->dedup_key || !e->severity)
		return CG_ENOMEM;
	const char *date = cg_mu_filled(p, "date");
	if (date && !(resolved ? (e->ends_at = cg_strdup0(date)) : (e->starts_at = cg_strdup0(date))))
		return CG_ENOMEM;
	const char *reason = cg_mu_filled(ctx, "reason");
	const char *message = cg_mu_filled(ctx, "message");
	struct cg_sbuf tagb = {0};
	tags_join(&tagb, cg_mu_get(rule, "tags"));
	char *tagtext = cg_sbuf_take(&tagb);
	if (!tagtext)
		return CG_ENOMEM;
	int rc = cg_mu_set(e->labels, "rule", rule_name);
	rc = rc ? rc : cg_mu_set(e->labels, "rule_type", cg_mu_filled(rule, "type"));
	rc = rc ? rc : cg_mu_set(e->labels, "space", cg_mu_filled(rule, "spaceId"));
	rc = rc ? rc : cg_mu_set(e->labels, "tags", tagtext);
	rc = rc ? rc : cg_mu_set(e->annotations, "reason", reason);
	rc = rc ? rc : cg_mu_set(e->annotations, "message", message);
	rc = rc ? rc : cg_mu_link(e->links, "details", cg_mu_filled(ctx, "alertDetailsUrl"));
	rc = rc ? rc : cg_mu_link(e->links, "details", cg_mu_filled(ctx, "viewInAppUrl"));
	rc = rc ? rc : cg_mu_link(e->links, "details", cg_mu_filled(ctx, "link"));
	rc = rc ? rc : cg_mu_link(e->links, "rule", cg_mu_filled(rule, "url"));
	if (rc) {
		free(tagtext);
		return rc;
	}

	const char *title = rule_name ? rule_name : rule_id;
	/* alert.id is the group ("host-1"), or the rule type's fixed id when the rule is not grouped. */
	if (alert_id && strcmp(alert_id, title) != 0 && strcmp(alert_id, "query matched") != 0 &&
	    (!group || strcmp(alert_id, group) != 0))
		cg_sbuf_addf(&b, "%s: %s", title, alert_id);
	else
		cg_sbuf_add(&b, title);
	e->title = cg_sbuf_take(&b);

	const char *ctitle = cg_mu_filled(ctx, "title");
	if (ctitle)
		cg_md_addf(&b, "**%s**\n\n", ctitle);
	if (reason)
		cg_md_addf(&b, "%s\n\n", reason);
	if (message && (!reason || strcmp(message, reason) != 0))
		cg_md_addf(&b, "%s\n\n", message);
	cg_md_addf(&b, "**Action group:** %s\n",
	             cg_mu_filled(alert, "actionGroupName") ? cg_mu_filled(alert, "actionGroupName")
	             : group                              ? group
	                                                  : "unknown");
	if (cg_mu_filled(ctx, "value"))
		cg_md_addf(&b, "**Value:** %s\n", cg_mu_filled(ctx, "value"));
	if (cg_mu_filled(ctx, "conditions"))
		cg_md_addf(&b, "**Conditions:** %s\n", cg_mu_filled(ctx, "conditions"));
	if (cg_mu_filled(rule, "type"))
		cg_md_addf(&b, "**Rule type:** %s\n", cg_mu_filled(rule, "type"));
	if (*tagtext)
		cg_md_addf(&b, "**Tags:** %s\n", tagtext);
	free(tagtext);
	const char *flapping = cg_mu_filled(alert, "flapping");
	if ((flapping && strcmp(flapping, "true") == 0) || cJSON_IsTrue(cg_mu_get(alert, "flapping")))
		cg_sbuf_add(&b, "_The alert is flapping._\n");
	cg_sbuf_add(&b, "\n");
	return cg_mu_finish(e, &b, p, p);
}

const struct cg_mapper cg_mapper_kibana = {
    .name = "kibana",
    .description = "Kibana alerting webhook connector with casegate's body (conf/kibana-webhook-body.json)",
    .map = map_kibana,
    .supports_group_by = 0,
    .default_priority_map = "critical=P1,high=P2,medium=P3,warning=P3,low=P4,info=P5",
};
