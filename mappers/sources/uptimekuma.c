/* uptimekuma.c: Uptime Kuma webhook notifications (JSON body: heartbeat, monitor, msg) to events. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "mdsafe.h"
#include "maputil.h"
#include "registry.h"

/*
 * Uptime Kuma's webhook posts {heartbeat, monitor, msg}. heartbeat.status: 0 DOWN (fires),
 * 1 UP (resolves), 2 PENDING (retrying: not yet down), 3 MAINTENANCE: the last two are not
 * alert changes. The "Test" button sends heartbeat and monitor null; a notice about a
 * monitor without a heartbeat (TLS certificate expiry) becomes its own case per monitor.
 * Only the "application/json" body type is read: "form-data" puts the JSON in a form
 * field, and a custom body is the user's own shape (use the generic type for that).
 */

/* Kuma's heartbeat.time is UTC "YYYY-MM-DD HH:MM:SS.mmm": RFC 3339 with a 'T' and a 'Z'. */
static char *kuma_time(const char *t)
{
	if (!t || strlen(t) < 19 || t[4] != '-' || t[7] != '-' || t[10] != ' ' || t[13] != ':')
		return cg_strdup0(t);
	struct cg_sbuf b = {0};
	cg_sbuf_addn(&b, t, 10);
	cg_sbuf_add(&b, "T");
	cg_sbuf_add(&b, t + 11);
	cg_sbuf_add(&b, "Z");
	return cg_sbuf_take(&b);
}

/* monitor.tags: [{name, value, ...}] in Kuma; plain strings tolerated. */
static int tag_labels(cJSON *labels, struct cg_sbuf *md, const cJSON *tags)
{
	const cJSON *t;
	int rc = 0;
	cJSON_ArrayForEach(t, tags)
	{
		const char *name = cJSON_IsString(t) ? t->valuestring : cg_json_str(t, "name");
		const char *value = cJSON_IsString(t) ? NULL : cg_json_str(t, "value");
		if (!name || !*name)
			continue;
		cg_sbuf_addf(md, "%s%s%s%s", md->len ? ", " : "", name, value && *value ? ":" : "", value ? value : "");
		rc = rc ? rc : cg_mu_set(labels, name, value && *value ? value : "true");
	}
	return rc;
}

static int map_uptimekuma(const cJSON *p, const struct cg_map_opts *opts, struct cg_event_list *out, char *err,
                          size_t errlen)
{
	(void)opts;
	if (cg_mu_need_object(p, err, errlen))
		return CG_EINVAL;
	const cJSON *hb = cg_mu_get(p, "heartbeat"), *mon = cg_mu_get(p, "monitor");
	const char *msg = cg_mu_filled(p, "msg");
	if ((hb && !cJSON_IsNull(hb) && !cJSON_IsObject(hb)) || (mon && !cJSON_IsNull(mon) && !cJSON_IsObject(mon))) {
		snprintf(err, errlen, "invalid field '%s': not an object",
		         hb && !cJSON_IsObject(hb) && !cJSON_IsNull(hb) ? "heartbeat" : "monitor");
		return CG_EINVAL;
	}
	if (!cJSON_IsObject(hb) && !cJSON_IsObject(mon)) {
		if (!msg && !cg_mu_get(p, "heartbeat")) {
			snprintf(err, errlen, "missing field 'heartbeat' (Uptime Kuma webhook)");
			return CG_EINVAL;
		}
		snprintf(out->ignored_reason, sizeof(out->ignored_reason), "Uptime Kuma test notification");
		return 0;
	}
	char idbuf[32];
	const char *mid = cg_mu_filled_id(mon, "id", idbuf, sizeof(idbuf));
	if (!mid)
		mid = cg_mu_filled_id(hb, "monitorID", idbuf, sizeof(idbuf));
	if (!mid) {
		snprintf(err, errlen, "missing field 'monitor.id' (Uptime Kuma monitor)");
		return CG_EINVAL;
	}
	int notice = !cJSON_IsObject(hb), down = 0;
	if (!notice) {
		const cJSON *st = cg_mu_get(hb, "status");
		if (!cJSON_IsNumber(st)) {
			snprintf(err, errlen,
			         st ? "invalid field 'heartbeat.status': not a number"
			            : "missing field 'heartbeat.status'");
			return CG_EINVAL;
		}
		int s = (int)st->valuedouble;
		if (st->valuedouble != s || s < 0 || s > 3) {
			snprintf(err, errlen, "invalid field 'heartbeat.status': %.10g (want 0..3)", st->valuedouble);
			return CG_EINVAL;
		}
		if (s == 2 || s == 3) {
			snprintf(out->ignored_reason, sizeof(out->ignored_reason), "Uptime Kuma monitor %s: %s", mid,
			         s == 2 ? "PENDING (retrying, not down yet)" : "MAINTENANCE");
			return 0;
		}
		down = s == 0;
	}
	const char *name = cg_mu_filled(mon, "name");
	const char *target = cg_mu_filled(mon, "url");
	/* Kuma keeps its form default "https://" as the url of port, ping, DNS ... monitors. */
	if (target && (strcmp(target, "https://") == 0 || strcmp(target, "http://") == 0))
		target = NULL;
	const char *hostname = cg_mu_filled(mon, "hostname");
	const char *type = cg_mu_filled(mon, "type");
	const char *hbmsg = cg_mu_filled(hb, "msg");

	struct cg_event *e = cg_mu_push(out);
	if (!e)
		return CG_ENOMEM;
	e->status = notice || down ? CG_STATUS_FIRING : CG_STATUS_RESOLVED;
	struct cg_sbuf b = {0};
	cg_sbuf_addf(&b, notice ? "%s:notice" : "%s", mid);
	e->dedup_key = cg_sbuf_take(&b);
	e->severity = cg_strdup0(notice ? "warning" : down ? "down" : "up");
	if (!e->dedup_key || !e->severity)
		return CG_ENOMEM;
	if (!notice) {
		char *t = kuma_time(cg_mu_filled(hb, "time"));
		if (cg_mu_filled(hb, "time") && !t)
			return CG_ENOMEM;
		if (down)
			e->starts_at = t;
		else
			e->ends_at = t;
	}
	struct cg_sbuf tagmd = {0};
	int rc = cg_mu_set(e->labels, "monitor", name);
	rc = rc ? rc : cg_mu_set(e->labels, "monitor_type", type);
	rc = rc ? rc : cg_mu_set(e->labels, "hostname", hostname);
	rc = rc ? rc : tag_labels(e->labels, &tagmd, cg_mu_get(mon, "tags"));
	rc = rc ? rc : cg_mu_set(e->annotations, "message", notice ? msg : hbmsg);
	rc = rc ? rc : cg_mu_set(e->annotations, "description", cg_mu_filled(mon, "description"));
	rc = rc ? rc : cg_mu_link(e->links, "target", target);
	char *tagtext = cg_sbuf_take(&tagmd);
	if (rc || !tagtext) {
		free(tagtext);
		return rc ? rc : CG_ENOMEM;
	}

	const char *label = name ? name : mid;
	if (notice)
		cg_sbuf_addf(&b, "%s: %s", label, msg ? msg : "notice");
	else
		cg_sbuf_addf(&b, "%s is %s", label, down ? "down" : "up");
	e->title = cg_sbuf_take(&b);

	if (notice && msg)
		cg_md_addf(&b, "%s\n\n", msg);
	if (!notice)
		cg_md_addf(&b, "**Status:** %s%s%s\n", down ? "DOWN" : "UP", hbmsg ? " — " : "", hbmsg ? hbmsg : "");
	if (cg_mu_filled(mon, "description"))
		cg_md_addf(&b, "%s\n\n", cg_mu_filled(mon, "description"));
	if (type || target || hostname) {
		cg_md_addf(&b, "**Monitor:** %s", type ? type : "?");
		if (target)
			cg_md_addf(&b, " %s", target);
		else if (hostname) {
			cg_md_addf(&b, " %s", hostname);
			const cJSON *port = cg_mu_get(mon, "port");
			if (cJSON_IsNumber(port))
				cg_md_addf(&b, ":%.0f", port->valuedouble);
		}
		cg_sbuf_add(&b, "\n");
	}
	const char *when = cg_mu_filled(hb, "localDateTime") ? cg_mu_filled(hb, "localDateTime") : cg_mu_filled(hb, "time");
	if (when)
		cg_md_addf(&b, "**Time:** %s%s%s\n", when, cg_mu_filled(hb, "timezone") ? " " : "",
		             cg_mu_filled(hb, "timezone") ? cg_mu_filled(hb, "timezone") : "");
	const cJSON *ping = cg_mu_get(hb, "ping");
	if (cJSON_IsNumber(ping))
		cg_md_addf(&b, "**Response time:** %.0f ms\n", ping->valuedouble);
	if (*tagtext)
		cg_md_addf(&b, "**Tags:** %s\n", tagtext);
	free(tagtext);
	cg_sbuf_add(&b, "\n");
	return cg_mu_finish(e, &b, p, p);
}

const struct cg_mapper cg_mapper_uptimekuma = {
    .name = "uptimekuma",
    .description = "Uptime Kuma webhook notification (application/json body)",
    .map = map_uptimekuma,
    .supports_group_by = 0,
    .default_priority_map = "down=P2,warning=P4,up=P5",
};
