/* pagerduty_events.c: PagerDuty Events API v2 requests (what senders post to /v2/enqueue) to events. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "maputil.h"
#include "mdsafe.h"
#include "registry.h"

/*
 * The body a sender posts to PagerDuty's https://events.pagerduty.com/v2/enqueue, less routing_key
 * (the intake takes the secret out before mapping, so it is never stored):
 *   {"event_action": "trigger"|"acknowledge"|"resolve", "dedup_key",
 *    "payload": {summary, source, severity critical|error|warning|info, timestamp, component, group,
 *                class, custom_details{}},
 *    "client", "client_url", "links": [{href, text}], "images": [{src, href, alt}]}
 * (https://developer.pagerduty.com/docs/events-api-v2/trigger-events/). What becomes what:
 *   trigger -> firing; resolve -> resolved; acknowledge -> a comment on the case of dedup_key
 *   (PagerDuty's ack silences notifications; a case has no such state, so the people see a note).
 * Validation follows PagerDuty's: its error texts ("'payload.summary' is missing or blank") are
 * what a sender's log shows, whichever of the two answered.
 *
 * A trigger without dedup_key: PagerDuty makes a random UUID, so every retry of the same body
 * opens another alert. casegate makes the key from the event's content instead (32 hex digits of
 * SHA-256 over summary, source, severity, component, group and class), so a sender's retry of a
 * body lands on the same case; the intake answers that key, as PagerDuty answers its own.
 */

#define PD_SUMMARY_MAX     1024 /* characters (PagerDuty's limit) */
#define PD_DEDUP_KEY_MAX   255  /* characters */
#define PD_DETAIL_LABELS   20   /* custom_details members that become labels, at most */
#define PD_LABEL_VALUE_MAX 200
#define PD_DETAILS_MD_MAX  16384 /* bytes of custom details quoted in the description */

static const char *const severities[] = {"critical", "error", "warning", "info", NULL};

/* Lower-case copy of a severity word already checked against severities[] (at most 8 bytes). */
static void lower_word(const char *s, char out[16])
{
	size_t i = 0;
	for (; i < 15 && s[i]; i++)
		out[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] - 'A' + 'a' : s[i]);
	out[i] = '\0';
}

/* A custom detail fit to be a label: a scalar on one short line. Its text in buf (numbers, booleans). */
static const char *detail_value(const cJSON *v, char buf[40])
{
	if (cJSON_IsString(v)) {
		const char *s = v->valuestring;
		return *s && strlen(s) <= PD_LABEL_VALUE_MAX && !strpbrk(s, "\r\n") ? s : NULL;
	}
	if (cJSON_IsBool(v))
		return cJSON_IsTrue(v) ? "true" : "false";
	if (cJSON_IsNumber(v)) {
		snprintf(buf, 40, "%.15g", v->valuedouble);
		return buf;
	}
	return NULL;
}

/*
 * custom_details: its one-line scalars become labels (at most PD_DETAIL_LABELS, after the PD-CEF
 * fields, which win) and "- key: value" lines; everything else (Alertmanager's multi-line "firing"
 * text, nested objects) is quoted in a fence under its name. The template context keeps all of it.
 */
static int details(struct cg_event *e, struct cg_sbuf *b, const cJSON *cd)
{
	if (!cJSON_IsObject(cd))
		return 0;
	cJSON *flat = cJSON_CreateObject(), *rest = cJSON_CreateObject();
	int rc = flat && rest ? 0 : CG_ENOMEM, labels = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, cd)
	{
		if (rc)
			break;
		char buf[40];
		const char *v = detail_value(it, buf);
		cJSON *d = cJSON_Duplicate(it, 1);
		if (!d || !cJSON_AddItemToObject(v ? flat : rest, it->string, d)) {
			cJSON_Delete(d);
			rc = CG_ENOMEM;
			break;
		}
		if (v && labels < PD_DETAIL_LABELS && strlen(it->string) <= 64) {
			rc = cg_mu_label(e->labels, it->string, v);
			labels++;
		}
	}
	if (!rc)
		cg_mu_pairs_md(b, "Custom details", flat);
	/* The rest, each under its name in a fence: multi-line text stays readable, JSON stays JSON. */
	size_t budget = PD_DETAILS_MD_MAX;
	const cJSON *quoted = rc ? NULL : rest;
	cJSON_ArrayForEach(it, quoted)
	{
		if (cJSON_IsNull(it) || (cJSON_IsString(it) && !it->valuestring[0]))
			continue;
		char *text = cJSON_IsString(it) ? cg_strdup0(it->valuestring) : cJSON_Print(it);
		if (!text) {
			rc = CG_ENOMEM;
			break;
		}
		cg_utf8_truncate(text, budget);
		budget -= strlen(text) < budget ? strlen(text) : budget;
		cg_md_addf(b, "**%.64s:**\n", it->string);
		cg_md_fence(b, text);
		free(text);
		if (budget < 64)
			break;
	}
	cJSON_Delete(flat);
	cJSON_Delete(rest);
	return rc;
}

/* links[] {href, text}, images[] {src, href, alt}, client_url (named by client): http(s) only. */
static int pd_links(cJSON *links, const cJSON *body)
{
	int rc = 0, n = 0;
	const cJSON *it;
	char name[96];
	cJSON_ArrayForEach(it, cg_mu_get(body, "links"))
	{
		const char *text = cg_mu_str(it, "text");
		n++;
		if (text)
			snprintf(name, sizeof(name), "%.80s", text);
		else
			snprintf(name, sizeof(name), "link %d", n);
		rc = rc ? rc : cg_mu_link(links, name, cg_mu_str(it, "href"));
	}
	n = 0;
	cJSON_ArrayForEach(it, cg_mu_get(body, "images"))
	{
		const char *alt = cg_mu_str(it, "alt");
		n++;
		if (alt)
			snprintf(name, sizeof(name), "%.80s", alt);
		else
			snprintf(name, sizeof(name), "image %d", n);
		/* The image's own link, when it has one, is where a click on it leads: that is the link. */
		const char *href = cg_mu_str(it, "href");
		rc = rc ? rc : cg_mu_link(links, name, href ? href : cg_mu_str(it, "src"));
	}
	const char *client = cg_mu_str(body, "client");
	if (client)
		snprintf(name, sizeof(name), "%.80s", client);
	rc = rc ? rc : cg_mu_link(links, client ? name : "client", cg_mu_str(body, "client_url"));
	return rc;
}

static int map_pagerduty_events(const cJSON *body, const struct cg_map_opts *opts, struct cg_event_list *out, char *err,
                                size_t errlen)
{
	(void)opts;
	if (cg_mu_need_object(body, err, errlen))
		return CG_EINVAL;
	const cJSON *act = cg_mu_get(body, "event_action");
	if (!cJSON_IsString(act) || !act->valuestring[0]) {
		snprintf(err, errlen, "'event_action' is missing or blank");
		return CG_EINVAL;
	}
	const char *action = act->valuestring;
	/* Exact words, as PagerDuty takes them. */
	if (strcmp(action, "trigger") != 0 && strcmp(action, "acknowledge") != 0 && strcmp(action, "resolve") != 0) {
		snprintf(err, errlen, "'event_action' is invalid (must be one of: trigger, acknowledge, resolve)");
		return CG_EINVAL;
	}
	int trigger = strcmp(action, "trigger") == 0, ack = strcmp(action, "acknowledge") == 0;
	const cJSON *dk = cg_mu_get(body, "dedup_key");
	if (dk && !cJSON_IsNull(dk) && !cJSON_IsString(dk)) {
		snprintf(err, errlen, "'dedup_key' must be a string");
		return CG_EINVAL;
	}
	const char *dedup = cJSON_IsString(dk) && dk->valuestring[0] ? dk->valuestring : NULL;
	if (dedup && cg_mu_utf8_chars(dedup) > PD_DEDUP_KEY_MAX) {
		snprintf(err, errlen, "Length of 'dedup_key' is incorrect (should be at most %d characters)",
		         PD_DEDUP_KEY_MAX);
		return CG_EINVAL;
	}
	if (!trigger && !dedup) {
		snprintf(err, errlen, "'dedup_key' is missing or blank");
		return CG_EINVAL;
	}
	const cJSON *pl = cg_mu_get(body, "payload");
	if (pl && !cJSON_IsNull(pl) && !cJSON_IsObject(pl)) {
		snprintf(err, errlen, "'payload' must be an object");
		return CG_EINVAL;
	}
	const char *summary = cg_mu_str(pl, "summary"), *source = cg_mu_str(pl, "source");
	const char *sevword = cg_mu_str(pl, "severity");
	if (trigger) {
		const char *missing = !cJSON_IsObject(pl) ? "payload"
		                      : !summary          ? "payload.summary"
		                      : !source           ? "payload.source"
		                      : !sevword          ? "payload.severity"
		                                          : NULL;
		if (missing) {
			snprintf(err, errlen, "'%s' is missing or blank", missing);
			return CG_EINVAL;
		}
		if (!cg_mu_one_of(sevword, severities)) {
			snprintf(err, errlen,
			         "'payload.severity' is invalid (must be one of: critical, error, warning, info)");
			return CG_EINVAL;
		}
	} else if (sevword && !cg_mu_one_of(sevword, severities)) {
		sevword = NULL; /* a follow-up's payload is informational: PagerDuty reads only the key */
	}
	char sev[16] = "";
	if (sevword)
		lower_word(sevword, sev);
	const char *component = cg_mu_str(pl, "component"), *group = cg_mu_str(pl, "group");
	const char *klass = cg_mu_str(pl, "class"), *when = cg_mu_str(pl, "timestamp");

	struct cg_event *e = cg_mu_push(out);
	if (!e)
		return CG_ENOMEM;
	e->status = trigger ? CG_STATUS_FIRING : ack ? CG_STATUS_COMMENT : CG_STATUS_RESOLVED;
	int rc = 0;
	if (dedup) {
		rc = cg_mu_dup(&e->dedup_key, dedup);
	} else {
		const char *const fields[] = {summary, source, sev, component, group, klass};
		rc = cg_mu_content_key("", fields, sizeof(fields) / sizeof(fields[0]), &e->dedup_key);
	}
	if (!ack) {
		rc = rc ? rc : cg_mu_dup(&e->severity, sev[0] ? sev : NULL);
		rc = rc ? rc : cg_mu_dup(trigger ? &e->starts_at : &e->ends_at, when);
	}
	rc = rc ? rc : cg_mu_label(e->labels, "source", source);
	rc = rc ? rc : cg_mu_label(e->labels, "component", component);
	rc = rc ? rc : cg_mu_label(e->labels, "group", group);
	rc = rc ? rc : cg_mu_label(e->labels, "class", klass);
	rc = rc ? rc : pd_links(e->links, body);
	if (rc)
		return rc;

	struct cg_sbuf b = {0};
	if (summary) {
		e->title = cg_mu_cut_chars(summary, PD_SUMMARY_MAX, NULL);
	} else {
		cg_sbuf_addf(&b, "PagerDuty alert %.200s", e->dedup_key);
		e->title = cg_sbuf_take(&b);
	}
	if (!e->title)
		return CG_ENOMEM;
	const char *client = cg_mu_str(body, "client");
	if (ack) {
		e->acknowledged = 1; /* actions.acknowledge_status may act on it */
		/* The whole comment: who acknowledged is all a PagerDuty acknowledge says. */
		cg_sbuf_add(&b, "**Acknowledged** via PagerDuty Events API");
		if (client)
			cg_md_addf(&b, " by %.200s", client);
		if (summary)
			cg_md_addf(&b, ": %.500s", summary);
		if (!(e->comment_detail = cg_sbuf_take(&b)))
			return CG_ENOMEM;
	}
	if (summary && cg_mu_utf8_chars(summary) > PD_SUMMARY_MAX)
		cg_md_addf(&b, "%.16000s\n\n", summary); /* the title had to cut it: the whole of it here */
	static const char *const rows[][2] = {
	    {"source", "Source"},
	    {"component", "Component"},
	    {"group", "Group"},
	    {"class", "Class"},
	};
	cg_mu_rows_md(&b, pl, rows, sizeof(rows) / sizeof(rows[0]));
	if (sev[0])
		cg_md_addf(&b, "**Severity:** %s\n", sev);
	if (when)
		cg_md_addf(&b, "**Time:** %s\n", when);
	if (client)
		cg_md_addf(&b, "**Client:** %s\n", client);
	cg_md_addf(&b, "**Event action:** %s\n", action);
	cg_sbuf_add(&b, "\n");
	rc = details(e, &b, cg_mu_get(pl, "custom_details"));
	if (rc) {
		free(cg_sbuf_take(&b));
		return rc;
	}
	/* Templates see the PD-CEF fields at the root ({{summary}}, {{custom_details.x}}) and the whole body
	 * under payload ({{payload.client}}). */
	rc = cg_mu_finish(e, &b, cJSON_IsObject(pl) ? pl : body, body);
	/* The intake takes routing_key out before mapping; should one slip through, no template reads it. */
	if (!rc)
		cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(e->ctx, "payload"),
		                                        "routing_key");
	return rc;
}

const struct cg_mapper cg_mapper_pagerduty_events = {
    .name = "pagerduty_events",
    .description = "PagerDuty Events API v2 request (trigger, acknowledge, resolve), as senders post it to /v2/enqueue",
    .map = map_pagerduty_events,
    .supports_group_by = 0,
    .default_priority_map = "critical=P1,error=P2,warning=P3,info=P4",
};
