/* pagerduty.c: PagerDuty v3 webhook subscriptions (incident events) to events. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "maputil.h"
#include "mdsafe.h"
#include "registry.h"

/*
 * {"event": {"id", "event_type": "incident.triggered", "resource_type": "incident", "occurred_at",
 *  "agent", "data": {id, title, html_url, status, urgency high|low, priority {summary "P1"} | null,
 *  service {summary, html_url}, escalation_policy, teams[], assignees[], created_at, number}}}
 * The incident id is the key. What becomes what:
 *   resolved -> resolved;
 *   triggered, reopened, unacknowledged (the ack timed out: it pages again), escalated,
 *   priority_updated, urgency_updated -> firing (a repeat updates the open case);
 *   acknowledged, annotated, delegated, reassigned, responder.*, status_update_published,
 *   conference_bridge_updated, custom fields, workflows, service.* and pagey.ping -> answered,
 *   no case: they are people working the incident, not the alert changing.
 */

static const char *const firing_types[] = {
    "incident.triggered",
    "incident.reopened",
    "incident.unacknowledged",
    "incident.escalated",
    "incident.priority_updated",
    "incident.urgency_updated",
    NULL,
};

/* The summaries of an array of references ("Engineering,Platform"); NULL when none. */
static char *summaries(const cJSON *arr)
{
	struct cg_sbuf b = {0};
	const cJSON *it;
	cJSON_ArrayForEach(it, arr)
	{
		const char *s = cg_mu_str(it, "summary");
		if (s)
			cg_sbuf_addf(&b, "%s%s", b.len ? "," : "", s);
	}
	if (!b.len && !b.oom)
		return NULL;
	return cg_sbuf_take(&b);
}

static int map_pagerduty(const cJSON *payload, const struct cg_map_opts *opts, struct cg_event_list *out, char *err,
                         size_t errlen)
{
	(void)opts;
	if (cg_mu_need_object(payload, err, errlen))
		return CG_EINVAL;
	const cJSON *ev = cg_mu_get(payload, "event");
	if (!cJSON_IsObject(ev)) {
		if (cJSON_IsArray(cg_mu_get(payload, "messages")))
			snprintf(err, errlen,
			         "missing field 'event': a v2 webhook (messages[]); create a v3 webhook subscription");
		else
			snprintf(err, errlen, ev ? "invalid field 'event': not an object" : "missing field 'event'");
		return CG_EINVAL;
	}
	const char *type = cg_mu_str(ev, "event_type");
	if (!type) {
		snprintf(err, errlen, "missing field 'event.event_type'");
		return CG_EINVAL;
	}
	if (strcasecmp(type, "pagey.ping") == 0) {
		snprintf(out->ignored_reason, sizeof(out->ignored_reason), "PagerDuty ping");
		return 0;
	}
	int resolved = strcasecmp(type, "incident.resolved") == 0;
	if (!resolved && !cg_mu_one_of(type, firing_types)) {
		snprintf(out->ignored_reason, sizeof(out->ignored_reason), "PagerDuty %.60s is not an alert transition",
		         type);
		return 0;
	}
	const cJSON *inc = cg_mu_object(payload, "event.data", err, errlen);
	if (!inc)
		return CG_EINVAL;
	const char *id = cg_mu_str(inc, "id");
	if (!id) {
		snprintf(err, errlen, "missing field 'event.data.id'");
		return CG_EINVAL;
	}
	struct cg_event *e = cg_mu_push(out);
	if (!e)
		return CG_ENOMEM;
	e->status = resolved ? CG_STATUS_RESOLVED : CG_STATUS_FIRING;
	const char *prio = cg_mu_str(inc, "priority.summary");
	const char *urgency = cg_mu_str(inc, "urgency");
	const char *service = cg_mu_str(inc, "service.summary");
	char *teams = summaries(cg_mu_get(inc, "teams"));
	char *assignees = summaries(cg_mu_get(inc, "assignees"));
	int rc = cg_mu_dup(&e->dedup_key, id);
	/* An incident priority (P1..) is set by people on purpose; urgency is the service's default. */
	rc = rc ? rc : cg_mu_dup(&e->severity, prio ? prio : urgency);
	rc = rc ? rc : cg_mu_dup(&e->starts_at, cg_mu_str(inc, "created_at"));
	rc = rc ? rc : cg_mu_dup(&e->ends_at, resolved ? cg_mu_str(ev, "occurred_at") : NULL);
	rc = rc ? rc : cg_mu_label(e->labels, "service", service);
	rc = rc ? rc : cg_mu_label(e->labels, "urgency", urgency);
	rc = rc ? rc : cg_mu_label(e->labels, "priority", prio);
	rc = rc ? rc : cg_mu_label(e->labels, "escalation_policy", cg_mu_str(inc, "escalation_policy.summary"));
	rc = rc ? rc : cg_mu_label(e->labels, "teams", teams);
	rc = rc ? rc : cg_mu_link(e->links, "generator", cg_mu_str(inc, "html_url"));
	rc = rc ? rc : cg_mu_link(e->links, "service", cg_mu_str(inc, "service.html_url"));
	rc = rc ? rc : cg_mu_link(e->links, "conference", cg_mu_str(inc, "conference_bridge.conference_url"));
	struct cg_sbuf b = {0};
	if (!rc) {
		const char *title = cg_mu_str(inc, "title");
		if (title)
			cg_sbuf_add(&b, title);
		else
			cg_sbuf_addf(&b, "PagerDuty incident %s", id);
		e->title = cg_sbuf_take(&b);

		const cJSON *num = cg_mu_get(inc, "number");
		if (cJSON_IsNumber(num))
			cg_md_addf(&b, "**Incident #%.0f**%s%s\n\n", num->valuedouble, service ? " on " : "",
			             service ? service : "");
		cg_md_addf(&b, "**Event:** %s", type);
		const char *agent = cg_mu_str(ev, "agent.summary");
		if (agent)
			cg_md_addf(&b, " by %s", agent);
		cg_sbuf_add(&b, "\n");
		static const char *const rows[][2] = {
		    {"status", "Status"},
		    {"urgency", "Urgency"},
		    {"priority.summary", "Priority"},
		    {"escalation_policy.summary", "Escalation policy"},
		    {"incident_key", "Incident key"},
		    {"created_at", "Created"},
		};
		cg_mu_rows_md(&b, inc, rows, sizeof(rows) / sizeof(rows[0]));
		if (teams)
			cg_md_addf(&b, "**Teams:** %s\n", teams);
		if (assignees)
			cg_md_addf(&b, "**Assignees:** %s\n", assignees);
		cg_sbuf_add(&b, "\n");
		rc = cg_mu_describe(e, &b);
	}
	free(teams);
	free(assignees);
	if (rc)
		return rc;
	/* Templates see the incident at the root ({{title}}, {{service.summary}}) and the envelope as {{event.*}}. */
	cJSON *root = cJSON_Duplicate(inc, 1);
	cJSON *env = cJSON_CreateObject();
	if (!root || !env || !cJSON_AddItemToObject(root, "event", env)) {
		cJSON_Delete(root);
		cJSON_Delete(env);
		return CG_ENOMEM;
	}
	/* The envelope minus data (already the root). */
	const cJSON *it;
	cJSON_ArrayForEach(it, ev)
	{
		if (strcmp(it->string, "data") == 0)
			continue;
		cJSON *d = cJSON_Duplicate(it, 1);
		if (!d || !cJSON_AddItemToObject(env, it->string, d)) {
			cJSON_Delete(d);
			cJSON_Delete(root);
			return CG_ENOMEM;
		}
	}
	rc = cg_event_build_ctx(e, root, payload);
	cJSON_Delete(root);
	return rc;
}

const struct cg_mapper cg_mapper_pagerduty = {
    .name = "pagerduty",
    .description = "PagerDuty v3 webhook subscription (incident events)",
    .map = map_pagerduty,
    .supports_group_by = 0,
    .default_priority_map = "P1=P1,P2=P2,P3=P3,P4=P4,P5=P5,high=P2,low=P4",
};
