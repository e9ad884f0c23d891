/* opsgenie_alerts.c: Opsgenie Alert API requests (what senders post to /v2/alerts...) to events. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "maputil.h"
#include "mdsafe.h"
#include "registry.h"

/*
 * Opsgenie's Alert API (https://docs.opsgenie.com/docs/alert-api) spreads one request over the
 * method, the path and the body, so the intake hands over an envelope:
 *   {"action": A, "identifier": ID, "identifierType": "id"|"alias"|"tiny", "request": BODY}
 * A "create" (POST /v2/alerts): BODY {message, alias, description, responders, visibleTo,
 *   actions, tags[], details{}, entity, source, priority P1..P5, user, note}; no identifier.
 * A "close", "acknowledge", "unacknowledge", "note" (POST /v2/alerts/ID/close|acknowledge|
 *   unacknowledge|notes): BODY {user, source, note}.
 * A "message", "description", "priority" (PUT /v2/alerts/ID/message ... as Alertmanager's
 *   update_alerts sends them): BODY {message} / {description} / {priority}.
 * A "delete" (DELETE /v2/alerts/ID): no body.
 * What becomes what:
 *   create -> firing, key = alias; close and delete -> resolved (a deleted alert never closes, so
 *   its case would stay open); acknowledge, unacknowledge, note, message, description, priority ->
 *   a comment on the case of the key (a priority update is told, not applied: it carries no title
 *   to open a case with, and a create at the higher priority escalates the case when raise_priority
 *   is set); any other action -> answered, no event.
 *
 * casegate has no Opsgenie alert ids: whatever identifierType says, the identifier is the key,
 * so an alert created with an alias is reached by that alias ("id" and "tiny" identifiers only
 * match when the sender uses its alias as the id, which is what casegate answers as the id).
 * A create without alias: Opsgenie makes the new alert's id its alias, so every retry of the same
 * body opens another alert. casegate derives the alias from the content instead ("og-" and 32 hex
 * digits of SHA-256 over message, entity and source), so a retry lands on the same case.
 *
 * Errors say "<field>: <reason>" so the intake can answer Opsgenie's 422
 * {"message": "Request body is not processable. Please check the errors.", "errors": {field: reason}}.
 */

#define OG_MESSAGE_MAX     130 /* characters; longer messages are cut, as Alertmanager and Grafana do */
#define OG_ALIAS_MAX       512
#define OG_DESCRIPTION_MAX 15000
#define OG_TAGS_MAX        20

static const char *const identifier_types[] = {"id", "alias", "tiny", NULL};

static int too_long(const char *s, size_t max)
{
	int cut = 0;
	char *c = s ? cg_mu_cut_chars(s, max, &cut) : NULL;
	free(c);
	return cut;
}

/* A string member of the request: absent or null is NULL; another type is an error. */
static int opt_str(const cJSON *req, const char *key, const char **out, char *err, size_t errlen)
{
	const cJSON *v = cg_mu_get(req, key);
	*out = NULL;
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v)) {
		snprintf(err, errlen, "%s: should be a string", key);
		return CG_EINVAL;
	}
	*out = v->valuestring[0] ? v->valuestring : NULL;
	return 0;
}

static void people_md(struct cg_sbuf *b, const char *heading, const cJSON *arr)
{
	const cJSON *it;
	int first = 1;
	cJSON_ArrayForEach(it, arr)
	{
		const char *s = cg_mu_str(it, "name");
		if (!s)
			s = cg_mu_str(it, "username");
		if (!s)
			s = cg_mu_str(it, "id");
		if (!s)
			continue;
		const char *type = cg_mu_str(it, "type");
		if (first)
			cg_sbuf_add(b, heading);
		cg_md_addf(b, "%s%.100s", first ? "" : ", ", s);
		if (type)
			cg_md_addf(b, " (%.20s)", type);
		first = 0;
	}
	if (!first)
		cg_sbuf_add(b, "\n");
}

static int map_create(const cJSON *env, const cJSON *req, struct cg_event_list *out, char *err, size_t errlen)
{
	const char *message, *alias, *desc, *entity, *source, *user, *note, *prio;
	if (opt_str(req, "message", &message, err, errlen) || opt_str(req, "alias", &alias, err, errlen) ||
	    opt_str(req, "description", &desc, err, errlen) || opt_str(req, "entity", &entity, err, errlen) ||
	    opt_str(req, "source", &source, err, errlen) || opt_str(req, "user", &user, err, errlen) ||
	    opt_str(req, "note", &note, err, errlen) || opt_str(req, "priority", &prio, err, errlen))
		return CG_EINVAL;
	if (!message) {
		snprintf(err, errlen, "message: Message can not be empty.");
		return CG_EINVAL;
	}
	if (too_long(alias, OG_ALIAS_MAX)) {
		snprintf(err, errlen, "alias: should be at most %d characters", OG_ALIAS_MAX);
		return CG_EINVAL;
	}
	if (prio && strcmp(prio, "P1") && strcmp(prio, "P2") && strcmp(prio, "P3") && strcmp(prio, "P4") &&
	    strcmp(prio, "P5")) {
		snprintf(err, errlen, "priority: should be one of [ P1, P2, P3, P4, P5 ]");
		return CG_EINVAL;
	}
	const cJSON *tags = cg_mu_get(req, "tags"), *det = cg_mu_get(req, "details");
	if (tags && !cJSON_IsNull(tags) && !cJSON_IsArray(tags)) {
		snprintf(err, errlen, "tags: should be an array of strings");
		return CG_EINVAL;
	}
	if (det && !cJSON_IsNull(det) && !cJSON_IsObject(det)) {
		snprintf(err, errlen, "details: should be an object");
		return CG_EINVAL;
	}
	if (!prio)
		prio = "P3"; /* Opsgenie's default */

	struct cg_event *e = cg_mu_push(out);
	if (!e)
		return CG_ENOMEM;
	e->status = CG_STATUS_FIRING;
	int rc = 0;
	if (alias) {
		rc = cg_mu_dup(&e->dedup_key, alias);
	} else {
		const char *const fields[] = {message, entity, source};
		rc = cg_mu_content_key("og-", fields, sizeof(fields) / sizeof(fields[0]), &e->dedup_key);
	}
	rc = rc ? rc : cg_mu_dup(&e->severity, prio);
	/* The first OG_TAGS_MAX tags count, as at Opsgenie: "key:value" ones become labels. */
	cJSON *tag_list = cJSON_CreateArray(), *first_tags = cJSON_CreateArray();
	if (!tag_list || !first_tags)
		rc = rc ? rc : CG_ENOMEM;
	const cJSON *it;
	int ntags = 0;
	cJSON_ArrayForEach(it, tags)
	{
		if (rc || ntags == OG_TAGS_MAX)
			break;
		if (!cJSON_IsString(it) || !it->valuestring[0])
			continue;
		cJSON *s = cJSON_CreateString(it->valuestring);
		if (!s || !cJSON_AddItemToArray(first_tags, s)) {
			cJSON_Delete(s);
			rc = CG_ENOMEM;
		}
		ntags++;
	}
	rc = rc ? rc : cg_mu_tags(e->labels, tag_list, first_tags);
	cJSON_Delete(first_tags);
	rc = rc ? rc : cg_mu_labels_from(e->labels, det);
	rc = rc ? rc : cg_mu_label(e->labels, "entity", entity);
	rc = rc ? rc : cg_mu_label(e->labels, "source", source);
	rc = rc ? rc : cg_mu_label(e->labels, "user", user);
	/* Grafana puts its alert list in details.url. */
	rc = rc ? rc : cg_mu_link(e->links, "generator", cg_mu_str(det, "url"));
	struct cg_sbuf b = {0};
	if (!rc && !(e->title = cg_mu_cut_chars(message, OG_MESSAGE_MAX, NULL)))
		rc = CG_ENOMEM;
	if (rc) {
		cJSON_Delete(tag_list);
		return rc;
	}
	if (desc) {
		char *d = cg_mu_cut_chars(desc, OG_DESCRIPTION_MAX, NULL);
		if (!d) {
			cJSON_Delete(tag_list);
			return CG_ENOMEM;
		}
		cg_md_addf(&b, "%s\n\n", d);
		free(d);
	}
	if (strcmp(e->title, message) != 0)
		cg_md_addf(&b, "**Message:** %s\n", message);
	cg_md_addf(&b, "**Priority:** %s\n", prio);
	static const char *const rows[][2] = {
	    {"entity", "Entity"},
	    {"source", "Source"},
	    {"alias", "Alias"},
	    {"user", "User"},
	};
	cg_mu_rows_md(&b, req, rows, sizeof(rows) / sizeof(rows[0]));
	if (note)
		cg_md_addf(&b, "**Note:** %.2000s\n", note);
	int first = 1;
	cJSON_ArrayForEach(it, tag_list)
	{
		cg_sbuf_add(&b, first ? "**Tags:** " : ", ");
		cg_md_put(&b, it->valuestring, CG_MD_TEXT);
		first = 0;
	}
	if (!first)
		cg_sbuf_add(&b, "\n");
	people_md(&b, "**Responders:** ", cg_mu_get(req, "responders"));
	people_md(&b, "**Visible to:** ", cg_mu_get(req, "visibleTo"));
	cg_sbuf_add(&b, "\n");
	cg_mu_pairs_md(&b, "Details", det);
	/* Templates see the create body at the root ({{message}}, {{details.x}}) and the envelope as payload. */
	rc = cg_mu_finish(e, &b, req, env);
	if (!rc && !cJSON_AddItemToObject(e->ctx, "tag_list", tag_list))
		rc = CG_ENOMEM;
	else if (!rc)
		tag_list = NULL;
	cJSON_Delete(tag_list);
	return rc;
}

/* What a follow-up says, as the comment on the case (head is casegate's Markdown). */
static int follow_up(const cJSON *env, const cJSON *req, const char *action, const char *id, struct cg_event_list *out,
                     char *err, size_t errlen)
{
	const char *user, *source, *note;
	if (opt_str(req, "user", &user, err, errlen) || opt_str(req, "source", &source, err, errlen) ||
	    opt_str(req, "note", &note, err, errlen))
		return CG_EINVAL;
	const char *value = NULL, *head = NULL;
	int resolved = 0;
	if (strcmp(action, "close") == 0) {
		head = "**Closed**", resolved = 1;
	} else if (strcmp(action, "delete") == 0) {
		head = "**Deleted**", resolved = 1;
	} else if (strcmp(action, "acknowledge") == 0) {
		head = "**Acknowledged**";
	} else if (strcmp(action, "unacknowledge") == 0) {
		head = "**Unacknowledged**";
	} else if (strcmp(action, "note") == 0) {
		if (!note) {
			snprintf(err, errlen, "note: Note can not be empty.");
			return CG_EINVAL;
		}
		head = "**Note**";
	} else {
		/* message / description / priority updates: the new value is the news. */
		if (opt_str(req, action, &value, err, errlen))
			return CG_EINVAL;
		if (!value) {
			snprintf(err, errlen, "%s: can not be empty.", action);
			return CG_EINVAL;
		}
		if (strcmp(action, "priority") == 0 && strcmp(value, "P1") && strcmp(value, "P2") &&
		    strcmp(value, "P3") && strcmp(value, "P4") && strcmp(value, "P5")) {
			snprintf(err, errlen, "priority: should be one of [ P1, P2, P3, P4, P5 ]");
			return CG_EINVAL;
		}
		head = strcmp(action, "message") == 0       ? "**Message changed**"
		       : strcmp(action, "description") == 0 ? "**Description changed**"
		                                            : "**Priority changed**";
	}
	struct cg_event *e = cg_mu_push(out);
	if (!e)
		return CG_ENOMEM;
	e->status = resolved ? CG_STATUS_RESOLVED : CG_STATUS_COMMENT;
	e->acknowledged = strcmp(action, "acknowledge") == 0; /* actions.acknowledge_status may act on it */
	int rc = cg_mu_dup(&e->dedup_key, id);
	rc = rc ? rc : cg_mu_label(e->labels, "source", source);
	rc = rc ? rc : cg_mu_label(e->labels, "user", user);
	if (rc)
		return rc;
	struct cg_sbuf b = {0};
	cg_sbuf_addf(&b, "Opsgenie alert %.200s", id);
	if (!(e->title = cg_sbuf_take(&b)))
		return CG_ENOMEM;
	cg_sbuf_add(&b, head);
	cg_sbuf_add(&b, " via Opsgenie Alert API");
	if (user)
		cg_md_addf(&b, " by %.100s", user);
	if (source)
		cg_md_addf(&b, " (source %.100s)", source);
	if (value && strcmp(action, "description") == 0)
		cg_md_addf(&b, ":\n\n%.2000s", value);
	else if (value)
		cg_md_addf(&b, ": %.200s", value);
	if (note)
		cg_md_addf(&b, "%s%.2000s", value ? "\n\n" : ": ", note);
	if (!(e->comment_detail = cg_sbuf_take(&b)))
		return CG_ENOMEM;
	cg_sbuf_add(&b, e->comment_detail); /* casegate's Markdown, its sender parts neutralised above */
	cg_sbuf_add(&b, "\n\n");
	return cg_mu_finish(e, &b, req, env);
}

static int map_opsgenie_alerts(const cJSON *env, const struct cg_map_opts *opts, struct cg_event_list *out, char *err,
                               size_t errlen)
{
	(void)opts;
	if (cg_mu_need_object(env, err, errlen))
		return CG_EINVAL;
	const char *action = cg_mu_str(env, "action");
	if (!action) {
		snprintf(err, errlen, "missing field 'action'");
		return CG_EINVAL;
	}
	const cJSON *req = cg_mu_get(env, "request");
	if (req && !cJSON_IsNull(req) && !cJSON_IsObject(req)) {
		snprintf(err, errlen, "Request body is not a JSON object");
		return CG_EINVAL;
	}
	if (!cJSON_IsObject(req))
		req = NULL;
	if (strcmp(action, "create") == 0)
		return map_create(env, req, out, err, errlen);

	static const char *const known[] = {
	    "close", "delete", "acknowledge", "unacknowledge", "note", "message", "description", "priority", NULL};
	int is_known = 0;
	for (size_t i = 0; known[i]; i++)
		is_known |= strcmp(action, known[i]) == 0;
	if (!is_known) {
		snprintf(out->ignored_reason, sizeof(out->ignored_reason), "Opsgenie action '%.40s' changes no case",
		         action);
		return 0;
	}
	const char *type = cg_mu_str(env, "identifierType");
	if (type && !cg_mu_one_of(type, identifier_types)) {
		snprintf(err, errlen, "identifierType: should be one of [ id, alias, tiny ]");
		return CG_EINVAL;
	}
	const char *id = cg_mu_str(env, "identifier");
	if (!id) {
		snprintf(err, errlen, "identifier: can not be empty.");
		return CG_EINVAL;
	}
	if (too_long(id, OG_ALIAS_MAX)) {
		snprintf(err, errlen, "identifier: should be at most %d characters", OG_ALIAS_MAX);
		return CG_EINVAL;
	}
	return follow_up(env, req, action, id, out, err, errlen);
}

const struct cg_mapper cg_mapper_opsgenie_alerts = {
    .name = "opsgenie_alerts",
    .description =
        "Opsgenie Alert API request (create, close, acknowledge, notes, updates), as senders post it to /v2/alerts",
    .map = map_opsgenie_alerts,
    .supports_group_by = 0,
    .default_priority_map = "P1=P1,P2=P2,P3=P3,P4=P4,P5=P5",
};
