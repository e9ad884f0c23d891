/* lifecycle_keys.c: a source's lifecycle keys (on_repeat, on_resolve, reopen, priority changes, actions.*) as key-table rows. */
#include <stddef.h>
#include <stdlib.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "keys.h"

/* actions: and its P1..P5 blocks share the action-set rows: the set is actions' first member. */
_Static_assert(offsetof(struct cg_actions_config, base) == 0, "actions.base must come first");

static int user_uuid(const struct cg_keyarg *a)
{
	char **v = cg_key_field(a), b[80];
	if (cg_cfg_is_uuid(*v))
		return 0;
	cg_cfg_err(a->c, a->node, "%s: '%s' is not a user UUID", a->label, cg_cfg_disp(*v, b, sizeof(b)));
	free(*v);
	*v = NULL;
	return -1;
}

static int watchers_check(const struct cg_keyarg *a)
{
	const struct cg_action_set *s = a->base;
	int rc = 0;
	if (s->nwatchers > 10) {
		cg_cfg_err(a->c, a->node, "%s: at most 10 watchers", a->label);
		rc = -1;
	}
	for (size_t i = 0; i < s->nwatchers; i++) {
		if (!cg_cfg_is_uuid(s->watchers[i])) {
			cg_cfg_err(a->c, a->node, "%s[%zu]: not a user UUID", a->label, i);
			rc = -1;
		}
	}
	return rc;
}

static int jira_parse(const struct cg_keyarg *a)
{
	static const char *const required[] = {"project_id", "issue_type_id", "jira_account_id", NULL};
	static const char *const optional[] = {"fields", NULL};
	cJSON **v = cg_key_field(a);
	*v = cg_cfg_json_object(a->c, a->node, a->label, required, optional);
	const cJSON *fields = cJSON_GetObjectItemCaseSensitive(*v, "fields");
	if (fields && !cJSON_IsObject(fields)) {
		cg_cfg_err(a->c, a->node, "%s.fields: expected a mapping", a->label);
		return -1;
	}
	return *v ? 0 : -1;
}

static int servicenow_parse(const struct cg_keyarg *a)
{
	static const char *const required[] = {"instance_name", NULL};
	static const char *const optional[] = {"assignment_group", NULL};
	cJSON **v = cg_key_field(a);
	*v = cg_cfg_json_object(a->c, a->node, a->label, required, optional);
	return *v ? 0 : -1;
}

/* notebook: false is said out loud (-1), so that a P1 block can turn off what the base turns on. */
static int notebook_sign(const struct cg_keyarg *a)
{
	int *v = cg_key_field(a);
	if (!*v)
		*v = -1;
	return 0;
}

#define SET_AT(field) CG_KEY_AT(struct cg_action_set, field)

/* What an action block holds: actions: itself (for every case) and each of its P1..P5. */
static const struct cg_key action_set_rows[] = {
	{.key = "assignee", .type = CG_KEY_NAME, SET_AT(assignee), .check = user_uuid,
	 .doc = "user UUID: assigned at creation, or on escalation to this priority"},
	{.key = "watchers", .type = CG_KEY_LIST, SET_AT(watchers), .count = offsetof(struct cg_action_set, nwatchers),
	 .flags = CG_KEY_F_SET, .set = offsetof(struct cg_action_set, watchers_set), .check = watchers_check,
	 .doc = "user UUIDs (at most 10) added as watchers of new cases"},
	{.key = "due", .type = CG_KEY_DURATION, SET_AT(due_ms), .max = 3650 * CG_MS_DAY, .flags = CG_KEY_F_SET,
	 .set = offsetof(struct cg_action_set, due_set), .doc = "due date: the creation or escalation day plus this"},
	{.key = "jira", .type = CG_KEY_CUSTOM, SET_AT(jira), .parse = jira_parse, .release = cg_cfg_json_free,
	 .doc = "create a Jira issue: project_id, issue_type_id, jira_account_id, fields"},
	{.key = "servicenow", .type = CG_KEY_CUSTOM, SET_AT(servicenow), .parse = servicenow_parse,
	 .release = cg_cfg_json_free, .doc = "create a ServiceNow ticket: instance_name, assignment_group"},
	{.key = "notebook", .type = CG_KEY_BOOL, SET_AT(notebook), .check = notebook_sign,
	 .doc = "create an investigation notebook"},
};

static const struct cg_keys action_set_keys = {
	.name = "lifecycle: sources[].actions (and P1..P5)", .keys = action_set_rows, .n = CG_KEYS_N(action_set_rows)};

static const char *const insight_types[] = {"SECURITY_SIGNAL", "MONITOR", "EVENT_CORRELATION", "ERROR_TRACKING",
					    "CLOUD_COST_RECOMMENDATION", "INCIDENT", "SENSITIVE_DATA_SCANNER_ISSUE",
					    "EVENT", "WATCHDOG_STORY", "WIDGET", NULL};

static const struct cg_key insight_rows[] = {
	{.key = "type", .type = CG_KEY_ENUM_NAME, CG_KEY_AT(struct cg_insight_tmpl, type), .names = insight_types,
	 .doc = "the insight's type"},
	{.key = "ref", .type = CG_KEY_TMPL, CG_KEY_AT(struct cg_insight_tmpl, ref), .doc = "template: a link"},
	{.key = "resource_id", .type = CG_KEY_TMPL, CG_KEY_AT(struct cg_insight_tmpl, resource_id),
	 .doc = "template: the resource's id"},
};

static const struct cg_keys insight_keys = {.name = "lifecycle: sources[].actions.insights[]",
					    .keys = insight_rows,
					    .n = CG_KEYS_N(insight_rows),
					    .required = "type, ref and resource_id are required"};

/* An archive_after within the reopen window would archive cases that may still be reopened. */
static int archive_check(const struct cg_keyarg *a)
{
	const struct cg_actions_config *ac = a->base;
	const struct cg_source_config *s = a->parent;
	if (ac->archive_after_ms && ac->archive_after_ms <= s->reopen_window_ms) {
		cg_cfg_err(a->c, a->node, "%s: must be longer than reopen_window (an archived case is not reopened)",
			   a->label);
		return -1;
	}
	return 0;
}

/* Acknowledging never closes: that is the resolution's job (and its on_resolve). */
static int ack_status_check(const struct cg_keyarg *a)
{
	char **v = cg_key_field(a);
	if (!*v || strcasecmp(*v, "CLOSED") != 0)
		return 0;
	cg_cfg_err(a->c, a->node, "%s: an acknowledgement does not close the case (use IN_PROGRESS, OPEN or a custom "
		   "status name)", a->label);
	free(*v);
	*v = NULL;
	return -1;
}

static const char *const link_names[] = {"SUCCESSOR_OF", "RELATES_TO", "none", NULL};

#define ACT_AT(field) CG_KEY_AT(struct cg_actions_config, field)
#define PRIO_BLOCK(p)                                                                                           \
	{.key = "P" #p, .type = CG_KEY_TABLE, ACT_AT(prio[p]), .sub = CG_KEYS_SUB(&action_set_keys),            \
	 .flags = CG_KEY_F_SET, .set = offsetof(struct cg_actions_config, prio_set[p]),                        \
	 .doc = "the action keys for cases at P" #p " (created at it or escalated to it)"}

static const struct cg_key actions_rows[] = {
	{.key = "insights", .type = CG_KEY_TABLES, .off = offsetof(struct cg_actions_config, insights),
	 .size = sizeof(struct cg_insight_tmpl), .count = offsetof(struct cg_actions_config, ninsights), .max = 20,
	 .sub = CG_KEYS_SUB(&insight_keys), .what = "{type, ref, resource_id}", .flags = CG_KEY_F_SET,
	 .set = offsetof(struct cg_actions_config, insights_set),
	 .doc = "insights on new cases (given, even empty: no default MONITOR insight)"},
	{.key = "link_previous", .type = CG_KEY_ENUM, ACT_AT(link_previous), .def = "SUCCESSOR_OF", .names = link_names,
	 .doc = "a case opened after the reopen window links to the previous one"},
	{.key = "archive_after", .type = CG_KEY_DURATION, ACT_AT(archive_after_ms), .max = 3650 * CG_MS_DAY,
	 .check = archive_check, .doc = "archive cases closed longer than this (0: never)"},
	{.key = "bulk", .type = CG_KEY_BOOL, ACT_AT(bulk), .def = "false",
	 .doc = "priority changes of one notification in one bulk request (a preview API: opt-in)"},
	{.key = "acknowledge_status", .type = CG_KEY_NAME, ACT_AT(acknowledge_status), .check = ack_status_check,
	 .doc = "an acknowledgement (pagerduty_events, opsgenie_alerts) sets this status on the open case: "
		"IN_PROGRESS, OPEN or a custom status name (none: a comment only)"},
	PRIO_BLOCK(1),
	PRIO_BLOCK(2),
	PRIO_BLOCK(3),
	PRIO_BLOCK(4),
	PRIO_BLOCK(5),
};

static const struct cg_keys actions_keys = {
	.name = "lifecycle: sources[].actions", .keys = actions_rows, .n = CG_KEYS_N(actions_rows)};

#define SRC_AT(field) CG_KEY_AT(struct cg_source_config, field)

static const char *const repeat_names[] = {"digest", "comment", "ignore", NULL};
static const char *const resolve_names[] = {"comment_and_close", "comment", "close", "ignore", NULL};

static const struct cg_key source_rows[] = {
	{.key = "on_repeat", .type = CG_KEY_ENUM, SRC_AT(on_repeat), .def = "digest", .names = repeat_names,
	 .doc = "the alert fires again while its case is open"},
	{.key = "digest_interval", .type = CG_KEY_DURATION, SRC_AT(digest_interval_ms), .def = "15m",
	 .min = CG_MS_SECOND, .max = 30 * CG_MS_DAY, .doc = "at most one repeat comment per interval"},
	{.key = "on_resolve", .type = CG_KEY_ENUM, SRC_AT(on_resolve), .def = "comment_and_close", .names = resolve_names,
	 .doc = "the alert resolves"},
	{.key = "status_name", .type = CG_KEY_NAME, SRC_AT(status_name),
	 .doc = "custom status used when closing (none: status CLOSED)"},
	{.key = "reopen_status_name", .type = CG_KEY_NAME, SRC_AT(reopen_status_name),
	 .doc = "custom status used when reopening (none: status OPEN)"},
	{.key = "reopen_window", .type = CG_KEY_DURATION, SRC_AT(reopen_window_ms), .def = "1h", .max = 365 * CG_MS_DAY,
	 .doc = "firing again within this reopens the case; later, a new case is opened"},
	{.key = "raise_priority", .type = CG_KEY_BOOL, SRC_AT(raise_priority), .def = "true",
	 .doc = "raise the case priority when the severity rises"},
	{.key = "lower_priority", .type = CG_KEY_BOOL, SRC_AT(lower_priority), .def = "false",
	 .doc = "lower it when the severity falls"},
	{.key = "actions", .type = CG_KEY_TABLE, SRC_AT(actions), .sub = CG_KEYS_SUB(&action_set_keys, &actions_keys),
	 .doc = "assignee, watchers, insights, due dates, integrations, links, archive, bulk"},
};

const struct cg_keys cg_source_lifecycle_keys = {
	.name = "lifecycle: sources[]", .keys = source_rows, .n = CG_KEYS_N(source_rows)};
