/* zabbix.c: Zabbix problems sent by casegate's webhook media type (conf/zabbix/) to events. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "mdsafe.h"
#include "maputil.h"
#include "registry.h"

/*
 * The body is what conf/zabbix/casegate.js sends: the media type's parameters, each a macro
 * (event_id {EVENT.ID}, event_value {EVENT.VALUE}, event_update_status {EVENT.UPDATE.STATUS},
 * event_nseverity {EVENT.NSEVERITY}, ...), with event_tags from {EVENT.TAGSJSON} parsed into
 * an array. Values may arrive as strings or numbers; a macro Zabbix left unexpanded
 * ("{EVENT.RECOVERY.ID}" in a problem message) counts as absent.
 *
 * {EVENT.ID} is the problem's id in problem, update and recovery messages alike (recovery has
 * its own {EVENT.RECOVERY.ID}), so it is the dedup key: one case per Zabbix problem.
 */

static const char *const severity_names[] = {"not_classified", "information", "warning", "average", "high", "disaster"};

/* "0"/"1" as a string or a number; -1 when absent or anything else. */
static int flag(const cJSON *p, const char *key)
{
	char buf[32];
	const char *s = cg_mu_filled_id(p, key, buf, sizeof(buf));
	if (!s)
		return -1;
	if (strcmp(s, "0") == 0)
		return 0;
	if (strcmp(s, "1") == 0)
		return 1;
	return -2;
}

static int all_digits(const char *s)
{
	if (!s || !*s)
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

static char *severity_word(const cJSON *p)
{
	char buf[32];
	const char *n = cg_mu_filled_id(p, "event_nseverity", buf, sizeof(buf));
	if (n && strlen(n) == 1 && n[0] >= '0' && n[0] <= '5')
		return cg_strdup0(severity_names[n[0] - '0']);
	/* {EVENT.SEVERITY}: the name, which an administrator may have renamed. */
	const char *name = cg_mu_filled(p, "event_severity");
	return name ? cg_mu_word(name) : NULL;
}

static int tag_pair(cJSON *labels, struct cg_sbuf *md, const char *tag, const char *value)
{
	if (!tag || !*tag)
		return 0;
	cg_sbuf_addf(md, "%s%s%s%s", md->len ? ", " : "", tag, value && *value ? ":" : "", value ? value : "");
	return cg_mu_set(labels, tag, value);
}

/* event_tags: [{tag, value}] ({EVENT.TAGSJSON}) or "a:b, c" ({EVENT.TAGS}). */
static int tags(cJSON *labels, struct cg_sbuf *md, const cJSON *v)
{
	int rc = 0;
	if (cJSON_IsArray(v)) {
		const cJSON *t;
		cJSON_ArrayForEach(t, v) rc =
		    rc ? rc : tag_pair(labels, md, cg_json_str(t, "tag"), cg_json_str(t, "value"));
		return rc;
	}
	if (!cJSON_IsString(v) || cg_mu_unexpanded(v->valuestring))
		return 0;
	char *copy = cg_strdup0(v->valuestring);
	if (!copy)
		return CG_ENOMEM;
	for (char *item = copy; item && !rc;) {
		char *next = strstr(item, ", ");
		if (next) {
			*next = '\0';
			next += 2;
		}
		while (*item == ' ')
			item++;
		char *colon = strchr(item, ':');
		if (colon)
			*colon = '\0';
		rc = tag_pair(labels, md, item, colon ? colon + 1 : NULL);
		item = next;
	}
	free(copy);
	return rc;
}

static int event_link(cJSON *links, const char *base, const char *trigger_id, const char *event_id)
{
	if (!base || !all_digits(trigger_id) || !all_digits(event_id))
		return 0;
	size_t n = strlen(base);
	while (n && base[n - 1] == '/')
		n--;
	struct cg_sbuf b = {0};
	cg_sbuf_addn(&b, base, n);
	cg_sbuf_addf(&b, "/tr_events.php?triggerid=%s&eventid=%s", trigger_id, event_id);
	return cg_mu_link_take(links, "event", &b);
}

static int map_zabbix(const cJSON *p, const struct cg_map_opts *opts, struct cg_event_list *out, char *err,
                      size_t errlen)
{
	(void)opts;
	if (cg_mu_need_object(p, err, errlen))
		return CG_EINVAL;
	char idbuf[32], tidbuf[32], srcbuf[32];
	const char *id = cg_mu_filled_id(p, "event_id", idbuf, sizeof(idbuf));
	if (!id) {
		snprintf(err, errlen, "missing field 'event_id' ({EVENT.ID})");
		return CG_EINVAL;
	}
	/* 0 triggers, 1 discovery, 2 autoregistration, 3 internal: only triggers and internal events are problems. */
	const char *source = cg_mu_filled_id(p, "event_source", srcbuf, sizeof(srcbuf));
	if (source && (strcmp(source, "1") == 0 || strcmp(source, "2") == 0)) {
		snprintf(out->ignored_reason, sizeof(out->ignored_reason), "Zabbix %s event: not a problem",
		         source[0] == '1' ? "discovery" : "autoregistration");
		return 0;
	}
	int value = flag(p, "event_value");
	if (value < 0) {
		snprintf(err, errlen,
		         value == -1 ? "missing field 'event_value' ({EVENT.VALUE})"
		                     : "invalid field 'event_value': want 1 (problem) or 0 (recovery)");
		return CG_EINVAL;
	}
	int update = flag(p, "event_update_status");
	const char *action = cg_mu_filled(p, "event_update_action");
	if (update == 1) {
		/* An update (ack, comment, suppress, close) is no change of the alert, but a new severity is. */
		if (value == 0 || !action || !strstr(action, "severity")) {
			snprintf(out->ignored_reason, sizeof(out->ignored_reason),
			         "Zabbix problem update (%.60s): not an alert change",
			         action ? action : "acknowledged");
			return 0;
		}
	}
	const char *trigger_id = cg_mu_filled_id(p, "trigger_id", tidbuf, sizeof(tidbuf));
	const char *host = cg_mu_filled(p, "host_name");
	if (!host)
		host = cg_mu_filled(p, "host_host");
	const char *ip = cg_mu_filled(p, "host_ip");

	struct cg_event *e = cg_mu_push(out);
	if (!e)
		return CG_ENOMEM;
	e->status = value == 0 ? CG_STATUS_RESOLVED : CG_STATUS_FIRING;
	e->dedup_key = cg_strdup0(id);
	e->severity = severity_word(p);
	if (!e->dedup_key)
		return CG_ENOMEM;
	struct cg_sbuf tagmd = {0};
	int rc = cg_mu_set(e->labels, "host", host);
	rc = rc ? rc : tags(e->labels, &tagmd, cJSON_GetObjectItemCaseSensitive(p, "event_tags"));
	rc = rc ? rc : cg_mu_set(e->annotations, "description", cg_mu_filled(p, "trigger_description"));
	rc = rc ? rc : cg_mu_set(e->annotations, "opdata", cg_mu_filled(p, "event_opdata"));
	rc = rc ? rc : event_link(e->links, cg_mu_filled(p, "zabbix_url"), trigger_id, id);
	rc = rc ? rc : cg_mu_link(e->links, "trigger_url", cg_mu_filled(p, "trigger_url"));
	char *tagtext = cg_sbuf_take(&tagmd);
	if (rc || !tagtext) {
		free(tagtext);
		return rc ? rc : CG_ENOMEM;
	}

	struct cg_sbuf b = {0};
	const char *name = cg_mu_filled(p, "event_name");
	if (!name)
		name = cg_mu_filled(p, "trigger_name");
	if (!name)
		name = cg_mu_filled(p, "alert_subject");
	if (name)
		cg_sbuf_add(&b, name);
	else
		cg_sbuf_addf(&b, "Zabbix problem %s", id);
	if (host && (!name || !strstr(name, host)))
		cg_sbuf_addf(&b, " on %s", host);
	e->title = cg_sbuf_take(&b);

	if (cg_mu_filled(p, "trigger_description"))
		cg_md_addf(&b, "%s\n\n", cg_mu_filled(p, "trigger_description"));
	if (host)
		cg_md_addf(&b, "**Host:** %s%s%s%s\n", host, ip ? " (" : "", ip ? ip : "", ip ? ")" : "");
	if (cg_mu_filled(p, "event_severity") || e->severity)
		cg_md_addf(&b, "**Severity:** %s\n",
		             cg_mu_filled(p, "event_severity") ? cg_mu_filled(p, "event_severity") : e->severity);
	if (cg_mu_filled(p, "event_opdata"))
		cg_md_addf(&b, "**Operational data:** %s\n", cg_mu_filled(p, "event_opdata"));
	if (cg_mu_filled(p, "event_date"))
		cg_md_addf(&b, "**Problem started:** %s %s\n", cg_mu_filled(p, "event_date"),
		             cg_mu_filled(p, "event_time") ? cg_mu_filled(p, "event_time") : "");
	if (value == 0 && cg_mu_filled(p, "event_recovery_date"))
		cg_md_addf(&b, "**Resolved:** %s %s\n", cg_mu_filled(p, "event_recovery_date"),
		             cg_mu_filled(p, "event_recovery_time") ? cg_mu_filled(p, "event_recovery_time") : "");
	if (value == 0 && cg_mu_filled(p, "event_duration"))
		cg_md_addf(&b, "**Duration:** %s\n", cg_mu_filled(p, "event_duration"));
	if (update == 1)
		cg_md_addf(&b, "**Update:** %s%s%s%s%s\n",
		             cg_mu_filled(p, "event_update_user") ? cg_mu_filled(p, "event_update_user") : "",
		             cg_mu_filled(p, "event_update_user") ? " " : "", action,
		             cg_mu_filled(p, "event_update_message") ? ": " : "",
		             cg_mu_filled(p, "event_update_message") ? cg_mu_filled(p, "event_update_message") : "");
	if (*tagtext)
		cg_md_addf(&b, "**Tags:** %s\n", tagtext);
	free(tagtext);
	cg_sbuf_add(&b, "\n");
	return cg_mu_finish(e, &b, p, p);
}

const struct cg_mapper cg_mapper_zabbix = {
    .name = "zabbix",
    .description = "Zabbix problems via casegate's webhook media type (conf/zabbix/media_casegate.yaml)",
    .map = map_zabbix,
    .supports_group_by = 0,
    .default_priority_map = "disaster=P1,high=P2,average=P3,warning=P4,information=P5,not_classified=P5",
};
