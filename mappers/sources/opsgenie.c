/* opsgenie.c: Opsgenie outgoing Webhook integration (alert actions) to events. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "maputil.h"
#include "mdsafe.h"
#include "registry.h"

/*
 * {"action": "Create", "alert": {alertId, alias, message, description, priority "P3" (some
 *  senders: 3), tags[], entity, source, details{}, teams[], recipients[], createdAt (ms),
 *  updatedAt (ns), tinyId, username}, "source": {name, type}, "integrationName", ...}
 * The alias is the user's dedup key (Opsgenie's own dedup); alertId when there is none. What
 * becomes what:
 *   Close, Delete -> resolved (a deleted alert never closes, so its case would stay open);
 *   Create, Escalate, EscalateNext, UnAcknowledge, UpdatePriority, SnoozeEnd -> firing (a repeat
 *   updates the open case);
 *   Acknowledge, AddNote, AssignOwnership, TakeOwnership, AddTags, Snooze, custom actions, ... ->
 *   answered, no case: people working the alert, not the alert changing.
 */

static const char *const firing_actions[] = {"Create",    "Escalate", "EscalateNext", "UnAcknowledge", "UpdatePriority",
                                             "SnoozeEnd", NULL};
static const char *const resolving_actions[] = {"Close", "Delete", NULL};

/* "P3", or 3 / "3" as some senders give it, as "P3"; NULL for anything else. */
static const char *priority_word(const cJSON *v, char buf[4])
{
	int n = 0;
	if (cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble <= 5 && v->valuedouble == (int)v->valuedouble)
		n = (int)v->valuedouble;
	else if (cJSON_IsString(v) && (v->valuestring[0] == 'P' || v->valuestring[0] == 'p') &&
	         v->valuestring[1] >= '1' && v->valuestring[1] <= '5' && !v->valuestring[2])
		n = v->valuestring[1] - '0';
	else if (cJSON_IsString(v) && v->valuestring[0] >= '1' && v->valuestring[0] <= '5' && !v->valuestring[1])
		n = v->valuestring[0] - '0';
	if (!n)
		return NULL;
	snprintf(buf, 4, "P%d", n);
	return buf;
}

static void list_md(struct cg_sbuf *b, const char *heading, const cJSON *arr)
{
	const cJSON *it;
	int first = 1;
	cJSON_ArrayForEach(it, arr)
	{
		const char *s = cJSON_IsString(it) ? it->valuestring : cg_mu_str(it, "name");
		if (!s || !*s)
			continue;
		cg_sbuf_add(b, first ? heading : ", ");
		cg_md_put(b, s, CG_MD_TEXT);
		first = 0;
	}
	if (!first)
		cg_sbuf_add(b, "\n");
}

static int map_opsgenie(const cJSON *payload, const struct cg_map_opts *opts, struct cg_event_list *out, char *err,
                        size_t errlen)
{
	(void)opts;
	if (cg_mu_need_object(payload, err, errlen))
		return CG_EINVAL;
	const char *action = cg_mu_str(payload, "action");
	if (!action) {
		snprintf(err, errlen, "missing field 'action'");
		return CG_EINVAL;
	}
	const cJSON *alert = cg_mu_object(payload, "alert", err, errlen);
	if (!alert)
		return CG_EINVAL;
	int resolved = cg_mu_one_of(action, resolving_actions);
	if (!resolved && !cg_mu_one_of(action, firing_actions)) {
		snprintf(out->ignored_reason, sizeof(out->ignored_reason),
		         "Opsgenie action '%.60s' is not an alert transition", action);
		return 0;
	}
	const char *key = cg_mu_str(alert, "alias");
	if (!key)
		key = cg_mu_str(alert, "alertId");
	if (!key) {
		snprintf(err, errlen, "missing field 'alert.alias' (or 'alert.alertId')");
		return CG_EINVAL;
	}
	struct cg_event *e = cg_mu_push(out);
	if (!e)
		return CG_ENOMEM;
	e->status = resolved ? CG_STATUS_RESOLVED : CG_STATUS_FIRING;
	char pb[4], t1[40], t2[40];
	const char *prio = priority_word(cg_mu_get(alert, "priority"), pb);
	cJSON *tag_list = cJSON_CreateArray();
	if (!tag_list)
		return CG_ENOMEM;
	int rc = cg_mu_dup(&e->dedup_key, key);
	rc = rc ? rc : cg_mu_dup(&e->severity, prio);
	rc = rc ? rc : cg_mu_dup(&e->starts_at, cg_mu_epoch_text(cg_mu_get(alert, "createdAt"), t1));
	rc = rc ? rc : cg_mu_dup(&e->ends_at, resolved ? cg_mu_epoch_text(cg_mu_get(alert, "updatedAt"), t2) : NULL);
	rc = rc ? rc : cg_mu_labels_from(e->labels, cg_mu_get(alert, "details"));
	rc = rc ? rc : cg_mu_tags(e->labels, tag_list, cg_mu_get(alert, "tags"));
	rc = rc ? rc : cg_mu_label(e->labels, "entity", cg_mu_str(alert, "entity"));
	rc = rc ? rc : cg_mu_label(e->labels, "source", cg_mu_str(alert, "source"));
	struct cg_sbuf b = {0};
	if (!rc) {
		const char *msg = cg_mu_str(alert, "message");
		if (msg)
			cg_sbuf_add(&b, msg);
		else
			cg_sbuf_addf(&b, "Opsgenie alert %s", key);
		e->title = cg_sbuf_take(&b);

		const char *desc = cg_mu_str(alert, "description");
		if (desc)
			cg_md_addf(&b, "%s\n\n", desc);
		cg_md_addf(&b, "**Action:** %s", action);
		const char *user = cg_mu_str(alert, "username");
		if (user)
			cg_md_addf(&b, " by %s", user);
		cg_sbuf_add(&b, "\n");
		static const char *const rows[][2] = {
		    {"entity", "Entity"},
		    {"source", "Source"},
		    {"alias", "Alias"},
		    {"tinyId", "Tiny id"},
		};
		cg_mu_rows_md(&b, alert, rows, sizeof(rows) / sizeof(rows[0]));
		if (prio)
			cg_md_addf(&b, "**Priority:** %s\n", prio);
		list_md(&b, "**Tags:** ", tag_list);
		list_md(&b, "**Teams:** ", cg_mu_get(alert, "teams"));
		list_md(&b, "**Recipients:** ", cg_mu_get(alert, "recipients"));
		if (e->starts_at)
			cg_md_addf(&b, "**Created:** %s\n", e->starts_at);
		cg_sbuf_add(&b, "\n");
		cg_mu_pairs_md(&b, "Details", cg_mu_get(alert, "details"));
		e->description = cg_sbuf_take(&b);
		if (!e->title || !e->description)
			rc = CG_ENOMEM;
	}
	/* Templates see the alert at the root ({{message}}, {{details.x}}) and the webhook's own fields by name. */
	cJSON *root = rc ? NULL : cJSON_Duplicate(alert, 1);
	if (!rc && !root)
		rc = CG_ENOMEM;
	const cJSON *it;
	const cJSON *others = rc ? NULL : payload;
	cJSON_ArrayForEach(it, others)
	{
		if (strcmp(it->string, "alert") == 0 || cJSON_GetObjectItemCaseSensitive(root, it->string))
			continue;
		cJSON *d = cJSON_Duplicate(it, 1);
		if (!d || !cJSON_AddItemToObject(root, it->string, d)) {
			cJSON_Delete(d);
			rc = CG_ENOMEM;
			break;
		}
	}
	rc = rc ? rc : cg_event_build_ctx(e, root, payload);
	cJSON_Delete(root);
	if (!rc && !cJSON_AddItemToObject(e->ctx, "tag_list", tag_list))
		rc = CG_ENOMEM;
	else if (!rc)
		tag_list = NULL;
	cJSON_Delete(tag_list);
	return rc;
}

const struct cg_mapper cg_mapper_opsgenie = {
    .name = "opsgenie",
    .description = "Opsgenie outgoing Webhook integration (alert actions)",
    .map = map_opsgenie,
    .supports_group_by = 0,
    .default_priority_map = "P1=P1,P2=P2,P3=P3,P4=P4,P5=P5",
};
