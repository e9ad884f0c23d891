/* sentry.c: Sentry integration-platform webhooks (metric alerts, issue alerts, issues) to events. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "maputil.h"
#include "mdsafe.h"
#include "registry.h"

/*
 * Sentry names the resource in the Sentry-Hook-Resource header, which a mapper does not see;
 * the body says it as well, by the object under `data`:
 *   data.metric_alert -> metric_alert (action critical / warning / resolved)
 *   data.event        -> event_alert, an issue alert rule fired (action triggered; Sentry sends
 *                        no resolve for it: resolve through the issue resource below)
 *   data.issue        -> issue (created / unresolved fire, resolved resolves; assigned,
 *                        ignored, archived are no alert transitions)
 *   data.installation (install, uninstall), data.error (every event), comments -> not alerts.
 * Issue alerts and issue webhooks share the key "issue/<issue id>", so subscribing one source to
 * both gets a case per issue that Sentry's "resolved" closes. The legacy WebHooks plugin body
 * (top-level id, url, level, message, event) fires like an issue alert.
 */

static int ignore(struct cg_event_list *out, const char *what, const char *action)
{
	snprintf(out->ignored_reason, sizeof(out->ignored_reason), "%s%s%.40s%s", what, action ? " (action '" : "",
	         action ? action : "", action ? "')" : "");
	return 0;
}

/* ctx: data's members at the root, plus the webhook's action and our resource name. */
static int finish(struct cg_event *e, const cJSON *root, const cJSON *payload, const char *resource)
{
	int rc = cg_event_build_ctx(e, root, payload);
	if (rc)
		return rc;
	const char *action = cg_mu_str(payload, "action");
	if (!cJSON_AddStringToObject(e->ctx, "action", action ? action : "") ||
	    !cJSON_AddStringToObject(e->ctx, "resource", resource))
		return CG_ENOMEM;
	return 0;
}

/* "ReferenceError: x is not defined" from metadata when there is no title. */
static void fallback_title(struct cg_sbuf *b, const cJSON *obj, const char *kind, const char *id)
{
	const char *type = cg_mu_str(obj, "metadata.type"), *value = cg_mu_str(obj, "metadata.value");
	const char *msg = cg_mu_str(obj, "message");
	if (type && value)
		cg_sbuf_addf(b, "%s: %s", type, value);
	else if (type || value || msg)
		cg_sbuf_add(b, type ? type : value ? value : msg);
	else
		cg_sbuf_addf(b, "Sentry %s %s", kind, id);
}

static int map_metric_alert(const cJSON *payload, const cJSON *data, const char *action, struct cg_event_list *out,
                            char *err, size_t errlen)
{
	const cJSON *ma = cg_mu_get(data, "metric_alert");
	int resolved = strcasecmp(action, "resolved") == 0;
	if (!resolved && strcasecmp(action, "critical") != 0 && strcasecmp(action, "warning") != 0)
		return ignore(out, "Sentry metric alert action is not an alert transition", action);
	char idb[32];
	const char *id = cg_mu_id(cg_mu_get(ma, "id"), idb, sizeof(idb));
	if (!id) {
		snprintf(err, errlen, "missing field 'data.metric_alert.id'");
		return CG_EINVAL;
	}
	struct cg_event *e = cg_mu_push(out);
	if (!e)
		return CG_ENOMEM;
	e->status = resolved ? CG_STATUS_RESOLVED : CG_STATUS_FIRING;
	const cJSON *rule = cg_mu_get(ma, "alert_rule");
	struct cg_sbuf b = {0};
	cg_sbuf_addf(&b, "metric-alert/%s", id);
	e->dedup_key = cg_sbuf_take(&b);
	const char *name = cg_mu_str(rule, "name");
	if (!name)
		name = cg_mu_str(ma, "title");
	if (name)
		cg_sbuf_add(&b, name);
	else
		cg_sbuf_addf(&b, "Sentry metric alert %s", id);
	e->title = cg_sbuf_take(&b);

	char pb[32];
	struct cg_sbuf projects = {0};
	const cJSON *it;
	cJSON_ArrayForEach(it, cg_mu_get(ma, "projects"))
	{
		const char *p = cg_mu_id(it, pb, sizeof(pb));
		if (p)
			cg_sbuf_addf(&projects, "%s%s", projects.len ? "," : "", p);
	}
	char *proj = cg_sbuf_take(&projects);
	int rc = proj ? 0 : CG_ENOMEM;
	rc = rc ? rc : cg_mu_dup(&e->severity, resolved ? NULL : action);
	rc = rc ? rc
	        : cg_mu_dup(&e->starts_at, cg_mu_str(ma, "date_started") ? cg_mu_str(ma, "date_started")
	                                                                 : cg_mu_str(ma, "date_detected"));
	rc = rc ? rc : cg_mu_dup(&e->ends_at, resolved ? cg_mu_str(ma, "date_closed") : NULL);
	rc = rc ? rc : cg_mu_label(e->labels, "project", proj);
	rc = rc ? rc : cg_mu_label(e->labels, "environment", cg_mu_str(rule, "environment"));
	rc = rc ? rc : cg_mu_label(e->labels, "dataset", cg_mu_str(rule, "dataset"));
	rc = rc ? rc : cg_mu_link(e->links, "generator", cg_mu_str(data, "web_url"));
	if (rc || !e->dedup_key || !e->title) {
		free(proj);
		return rc ? rc : CG_ENOMEM;
	}
	const char *dtitle = cg_mu_str(data, "description_title"), *dtext = cg_mu_str(data, "description_text");
	if (dtitle)
		cg_md_addf(&b, "**%s**\n\n", dtitle);
	if (dtext)
		cg_md_addf(&b, "%s\n\n", dtext);
	const char *agg = cg_mu_str(rule, "aggregate"), *query = cg_mu_str(rule, "query");
	if (agg) {
		cg_sbuf_add(&b, "**Metric:** ");
		cg_md_code(&b, agg);
		if (query) {
			cg_sbuf_add(&b, " where ");
			cg_md_code(&b, query);
		}
		cg_sbuf_add(&b, "\n");
	}
	const cJSON *tw = cg_mu_get(rule, "time_window");
	if (cJSON_IsNumber(tw))
		cg_md_addf(&b, "**Time window:** %.0f min\n", tw->valuedouble);
	if (proj && *proj)
		cg_md_addf(&b, "**Projects:** %s\n", proj);
	if (e->starts_at)
		cg_md_addf(&b, "**Started:** %s\n", e->starts_at);
	if (e->ends_at)
		cg_md_addf(&b, "**Closed:** %s\n", e->ends_at);
	cg_sbuf_add(&b, "\n");
	free(proj);
	rc = cg_mu_describe(e, &b);
	return rc ? rc : finish(e, data, payload, "metric_alert");
}

static int map_issue(const cJSON *payload, const cJSON *data, const char *action, struct cg_event_list *out, char *err,
                     size_t errlen)
{
	const cJSON *is = cg_mu_get(data, "issue");
	int resolved = strcasecmp(action, "resolved") == 0;
	if (!resolved && strcasecmp(action, "created") != 0 && strcasecmp(action, "unresolved") != 0)
		return ignore(out, "Sentry issue change is not an alert transition", action);
	char idb[32];
	const char *id = cg_mu_id(cg_mu_get(is, "id"), idb, sizeof(idb));
	if (!id) {
		snprintf(err, errlen, "missing field 'data.issue.id'");
		return CG_EINVAL;
	}
	struct cg_event *e = cg_mu_push(out);
	if (!e)
		return CG_ENOMEM;
	e->status = resolved ? CG_STATUS_RESOLVED : CG_STATUS_FIRING;
	struct cg_sbuf b = {0};
	cg_sbuf_addf(&b, "issue/%s", id);
	e->dedup_key = cg_sbuf_take(&b);
	const char *title = cg_mu_str(is, "title");
	if (title)
		cg_sbuf_add(&b, title);
	else
		fallback_title(&b, is, "issue", id);
	e->title = cg_sbuf_take(&b);
	const char *project = cg_mu_str(is, "project.slug");
	if (!project)
		project = cg_mu_str(is, "project.name");
	int rc = cg_mu_dup(&e->severity, cg_mu_str(is, "level"));
	rc = rc ? rc : cg_mu_dup(&e->starts_at, cg_mu_str(is, "firstSeen"));
	rc = rc ? rc : cg_mu_label(e->labels, "project", project);
	rc = rc ? rc : cg_mu_label(e->labels, "level", cg_mu_str(is, "level"));
	rc = rc ? rc : cg_mu_label(e->labels, "platform", cg_mu_str(is, "platform"));
	rc = rc ? rc : cg_mu_link(e->links, "generator", cg_mu_str(is, "permalink"));
	rc = rc ? rc : cg_mu_link(e->links, "generator", cg_mu_str(is, "web_url"));
	if (rc || !e->dedup_key || !e->title)
		return rc ? rc : CG_ENOMEM;
	const char *short_id = cg_mu_str(is, "shortId");
	if (short_id)
		cg_md_addf(&b, "**%s**%s%s\n\n", short_id, project ? " in " : "", project ? project : "");
	const char *type = cg_mu_str(is, "metadata.type"), *value = cg_mu_str(is, "metadata.value");
	if (type || value)
		cg_md_addf(&b, "**Error:** %s%s%s\n", type ? type : "", type && value ? ": " : "",
		             value ? value : "");
	static const char *const rows[][2] = {
	    {"culprit", "Culprit"}, {"level", "Level"},          {"status", "Status"},
	    {"count", "Events"},    {"firstSeen", "First seen"}, {"lastSeen", "Last seen"},
	};
	cg_mu_rows_md(&b, is, rows, sizeof(rows) / sizeof(rows[0]));
	const cJSON *users = cg_mu_get(is, "userCount");
	if (cJSON_IsNumber(users))
		cg_md_addf(&b, "**Users:** %.0f\n", users->valuedouble);
	cg_sbuf_add(&b, "\n");
	rc = cg_mu_describe(e, &b);
	return rc ? rc : finish(e, data, payload, "issue");
}

/* event.tags is [[key, value], ...]; an object is what templates can use. */
static cJSON *tags_object(const cJSON *tags)
{
	cJSON *o = cJSON_CreateObject();
	const cJSON *pair;
	cJSON_ArrayForEach(pair, tags)
	{
		const cJSON *k = cJSON_GetArrayItem(pair, 0), *v = cJSON_GetArrayItem(pair, 1);
		if (!o)
			break;
		if (cJSON_IsArray(pair) && cJSON_IsString(k) && cJSON_IsString(v) &&
		    cg_mu_label(o, k->valuestring, v->valuestring)) {
			cJSON_Delete(o);
			return NULL;
		}
	}
	return o;
}

/* An issue alert (event_alert), or the legacy plugin's body (event = the whole payload, legacy = 1). */
static int map_event(const cJSON *payload, const cJSON *root, const cJSON *ev, int legacy, struct cg_event_list *out,
                     char *err, size_t errlen)
{
	const char *action = cg_mu_str(payload, "action");
	if (!legacy && action && strcasecmp(action, "triggered") != 0)
		return ignore(out, "Sentry issue alert action is not an alert transition", action);
	char idb[32];
	const char *id = cg_mu_id(cg_mu_get(ev, legacy ? "id" : "issue_id"), idb, sizeof(idb));
	if (!id) {
		snprintf(err, errlen,
		         legacy ? "missing field 'id' (Sentry legacy webhook)" : "missing field 'data.event.issue_id'");
		return CG_EINVAL;
	}
	struct cg_event *e = cg_mu_push(out);
	if (!e)
		return CG_ENOMEM;
	e->status = CG_STATUS_FIRING;
	cJSON *tags = tags_object(cg_mu_get(legacy ? cg_mu_get(ev, "event") : ev, "tags"));
	if (!tags)
		return CG_ENOMEM;
	struct cg_sbuf b = {0};
	cg_sbuf_addf(&b, "issue/%s", id);
	e->dedup_key = cg_sbuf_take(&b);
	const char *title = cg_mu_str(ev, "title");
	if (title)
		cg_sbuf_add(&b, title);
	else
		fallback_title(&b, ev, "issue", id);
	e->title = cg_sbuf_take(&b);
	const char *web = cg_mu_str(ev, legacy ? "url" : "web_url");
	const char *level = cg_mu_str(ev, "level");
	const char *env = cg_mu_str(ev, "environment");
	if (!env)
		env = cg_mu_str(tags, "environment");
	const char *project = legacy ? cg_mu_str(ev, "project_slug") : NULL;
	int rc = cg_mu_dup(&e->severity, level);
	rc = rc ? rc : cg_mu_dup(&e->starts_at, cg_mu_str(ev, "datetime"));
	rc = rc ? rc : cg_mu_label(e->labels, "project", project ? project : cg_mu_str(ev, "project"));
	rc = rc ? rc : cg_mu_label(e->labels, "level", level);
	rc = rc ? rc : cg_mu_label(e->labels, "environment", env);
	rc = rc ? rc : cg_mu_label(e->labels, "release", cg_mu_str(ev, "release"));
	rc = rc ? rc : cg_mu_label(e->labels, "platform", cg_mu_str(ev, "platform"));
	rc = rc ? rc : cg_mu_link(e->links, "generator", web);
	/* The event page is .../issues/<id>/events/<event id>/; the issue page is what stays useful. */
	const char *events = web ? strstr(web, "/events/") : NULL;
	if (!rc && events && !legacy) {
		struct cg_sbuf u = {0};
		cg_sbuf_addn(&u, web, (size_t)(events - web) + 1);
		rc = cg_mu_link_take(e->links, "issue", &u);
	}
	if (rc || !e->dedup_key || !e->title) {
		cJSON_Delete(tags);
		return rc ? rc : CG_ENOMEM;
	}
	const char *rule = cg_mu_str(root, "triggered_rule");
	if (!rule)
		rule = cg_mu_str(root, "issue_alert.title");
	if (rule)
		cg_md_addf(&b, "**Alert rule:** %s\n\n", rule);
	const char *type = cg_mu_str(ev, "metadata.type"), *value = cg_mu_str(ev, "metadata.value");
	if (type || value)
		cg_md_addf(&b, "**Error:** %s%s%s\n", type ? type : "", type && value ? ": " : "",
		             value ? value : "");
	else if (cg_mu_str(ev, "message"))
		cg_md_addf(&b, "**Message:** %s\n", cg_mu_str(ev, "message"));
	static const char *const rows[][2] = {
	    {"culprit", "Culprit"}, {"location", "Location"},    {"level", "Level"},   {"platform", "Platform"},
	    {"release", "Release"}, {"project_name", "Project"}, {"datetime", "Seen"},
	};
	cg_mu_rows_md(&b, ev, rows, sizeof(rows) / sizeof(rows[0]));
	if (env)
		cg_md_addf(&b, "**Environment:** %s\n", env);
	cg_sbuf_add(&b, "\n");
	rc = cg_mu_describe(e, &b);
	rc = rc ? rc : finish(e, root, payload, legacy ? "legacy_webhook" : "event_alert");
	if (!rc && !cJSON_AddItemToObject(e->ctx, "event_tags", tags))
		rc = CG_ENOMEM;
	else if (!rc)
		tags = NULL;
	cJSON_Delete(tags);
	return rc;
}

static int is_legacy(const cJSON *p)
{
	return !cg_mu_get(p, "data") && cg_mu_get(p, "id") &&
	       (cJSON_IsObject(cg_mu_get(p, "event")) || cg_mu_str(p, "project_name"));
}

static int map_sentry(const cJSON *payload, const struct cg_map_opts *opts, struct cg_event_list *out, char *err,
                      size_t errlen)
{
	(void)opts;
	if (cg_mu_need_object(payload, err, errlen))
		return CG_EINVAL;
	if (is_legacy(payload))
		return map_event(payload, payload, payload, 1, out, err, errlen);
	const cJSON *data = cg_mu_object(payload, "data", err, errlen);
	if (!data)
		return CG_EINVAL;
	const char *action = cg_mu_str(payload, "action");
	if (cJSON_IsObject(cg_mu_get(data, "installation")))
		return ignore(out, "Sentry installation webhook", action);
	if (cJSON_IsObject(cg_mu_get(data, "error")))
		return ignore(out, "Sentry error webhook: one per event, not an alert", action);
	/* Comments: {comment_id, issue_id, project_slug, timestamp, comment: "text"}. */
	if (cg_mu_get(data, "comment_id") || cJSON_IsString(cg_mu_get(data, "comment")))
		return ignore(out, "Sentry comment webhook", action);
	int metric = cJSON_IsObject(cg_mu_get(data, "metric_alert")), issue = cJSON_IsObject(cg_mu_get(data, "issue"));
	int event = cJSON_IsObject(cg_mu_get(data, "event"));
	if (!metric && !issue && !event) {
		snprintf(err, errlen, "missing field 'data.metric_alert', 'data.issue' or 'data.event'");
		return CG_EINVAL;
	}
	/* Only an issue alert (data.event alone) may come without action: metric_alert and issue
	 * are picked first below and read it. */
	if (!action && (metric || issue || !event)) {
		snprintf(err, errlen, "missing field 'action'");
		return CG_EINVAL;
	}
	if (metric)
		return map_metric_alert(payload, data, action, out, err, errlen);
	if (issue)
		return map_issue(payload, data, action, out, err, errlen);
	return map_event(payload, data, cg_mu_get(data, "event"), 0, out, err, errlen);
}

const struct cg_mapper cg_mapper_sentry = {
    .name = "sentry",
    .description = "Sentry integration webhooks: metric alerts, issue alerts (event_alert), issues",
    .map = map_sentry,
    .supports_group_by = 0,
    .default_priority_map = "fatal=P1,critical=P1,error=P2,warning=P3,info=P4,debug=P5",
};
