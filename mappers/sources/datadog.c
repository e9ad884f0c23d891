/* datadog.c: Datadog Webhooks integration (monitor notifications with casegate's payload template) to events. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "mdsafe.h"
#include "maputil.h"
#include "registry.h"

/*
 * Datadog's default webhook body ($EVENT_MSG, $EVENT_TITLE, $ID, ...) says neither whether the
 * monitor recovered nor which alert cycle it belongs to, so casegate ships a payload template
 * (conf/datadog-webhook-payload.json) with an "alert" object:
 *   {"alert": {"id": "$ALERT_ID", "cycle_key": "$ALERT_CYCLE_KEY", "transition": "$ALERT_TRANSITION",
 *              "type": "$ALERT_TYPE", "priority": "$ALERT_PRIORITY", "title": "$ALERT_TITLE",
 *              "scope": "$ALERT_SCOPE", "status": "$ALERT_STATUS", "metric", "query"},
 *    "event_title", "body", "link", "tags", "hostname", "date", "aggreg_key", "snapshot", ...}
 * Flat names others use (alert_id, alert_transition, alert_cycle_key, title, event_msg, ...)
 * are read too, and a default body is understood from its title ("[Triggered on {host:a}] X").
 */

/* A variable Datadog left as is ("$ALERT_ID": the template was posted, not rendered) or rendered empty. */
static int unrendered(const char *s)
{
	if (s[0] != '$' || !s[1])
		return 0;
	for (const char *p = s + 1; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return 0;
	return 1;
}

/* The first of the dotted paths holding a real value (numbers are printed into buf). */
static const char *field(const cJSON *p, char *buf, size_t buflen, const char *const paths[])
{
	for (size_t i = 0; paths[i]; i++) {
		const cJSON *v = cg_json_path(p, paths[i]);
		const char *s = cg_mu_id(v, buf, buflen);
		if (!s || unrendered(s) || strcmp(s, "None") == 0 || strcmp(s, "null") == 0)
			continue;
		return s;
	}
	return NULL;
}

/* Any string anywhere that is an unrendered variable: the payload is a template sample. */
static int has_unrendered(const cJSON *o)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, o)
	{
		if (cJSON_IsString(it) && unrendered(it->valuestring))
			return 1;
		if ((cJSON_IsObject(it) || cJSON_IsArray(it)) && has_unrendered(it))
			return 1;
	}
	return 0;
}

enum dd_kind { DD_NONE, DD_ALERT, DD_WARN, DD_NODATA, DD_RECOVERED, DD_RENOTIFY, DD_OTHER };

static enum dd_kind transition_kind(const char *t, size_t n)
{
	static const struct {
		const char *w;
		enum dd_kind k;
	} words[] = {
	    {"Triggered", DD_ALERT},   {"Re-Triggered", DD_ALERT},  {"Warn", DD_WARN},
	    {"Re-Warn", DD_WARN},      {"Warning", DD_WARN},        {"No Data", DD_NODATA},
	    {"Re-No Data", DD_NODATA}, {"Recovered", DD_RECOVERED}, {"Renotify", DD_RENOTIFY},
	};
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strlen(words[i].w) == n && strncasecmp(words[i].w, t, n) == 0)
			return words[i].k;
	return DD_OTHER;
}

static int is_prio_word(const char *s, size_t n)
{
	return n == 2 && (s[0] == 'P' || s[0] == 'p') && s[1] >= '1' && s[1] <= '5';
}

/* What a Datadog title's leading "[P2] [Triggered on {a:b,c:d}]" says; name is the rest. */
struct dd_title {
	enum dd_kind kind;
	char prio[3];
	char *scope; /* malloc'd, NULL when none */
	const char *name;
};

static int parse_title(const char *title, struct dd_title *t)
{
	memset(t, 0, sizeof(*t));
	t->name = title;
	const char *p = title;
	while (p) {
		while (*p == ' ')
			p++;
		const char *close = *p == '[' ? strchr(p, ']') : NULL;
		if (!close)
			break;
		const char *tok = p + 1;
		size_t n = (size_t)(close - tok);
		const char *on = NULL;
		for (const char *q = tok; q + 4 <= close; q++)
			if (strncmp(q, " on ", 4) == 0) {
				on = q;
				break;
			}
		size_t wlen = on ? (size_t)(on - tok) : n;
		if (is_prio_word(tok, n) && !t->prio[0]) {
			t->prio[0] = 'P';
			t->prio[1] = tok[1];
		} else if (t->kind == DD_NONE && transition_kind(tok, wlen) != DD_OTHER) {
			t->kind = transition_kind(tok, wlen);
			if (on) {
				const char *s = on + 4;
				size_t slen = (size_t)(close - s);
				if (slen >= 2 && s[0] == '{' && s[slen - 1] == '}') {
					s++;
					slen -= 2;
				}
				if (slen) {
					t->scope = malloc(slen + 1);
					if (!t->scope)
						return CG_ENOMEM;
					memcpy(t->scope, s, slen);
					t->scope[slen] = '\0';
				}
			}
		} else {
			break; /* a bracket that belongs to the monitor's own name ("[prod] DB down") */
		}
		p = close + 1;
		while (*p == ' ')
			p++;
		t->name = p;
	}
	return 0;
}

/*
 * $EVENT_MSG wraps its Markdown in "%%%" lines. The monitor's message is sender text like any other:
 * it carries the monitor's own @-notifications (this webhook's among them), which must not fire again
 * from the case, so it is neutralised and its Markdown shows as written.
 */
static void body_md(struct cg_sbuf *b, const char *msg)
{
	const char *s = msg;
	size_t n = strlen(s);
	if (n >= 3 && strncmp(s, "%%%", 3) == 0) {
		s += 3;
		n -= 3;
		while (n && (*s == '\n' || *s == '\r')) {
			s++;
			n--;
		}
	}
	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
		n--;
	if (n >= 3 && strncmp(s + n - 3, "%%%", 3) == 0)
		n -= 3;
	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
		n--;
	if (!n)
		return;
	cg_md_putn(b, s, n, CG_MD_TEXT);
	cg_sbuf_add(b, "\n\n");
}

/* https://app.datadoghq.eu/monitors/123 from $LINK's origin (the site differs per account). */
static int monitor_link(cJSON *links, const char *link, const char *alert_id)
{
	if (!link || !alert_id || strspn(alert_id, "0123456789") != strlen(alert_id))
		return 0;
	const char *host = strstr(link, "://");
	if (!host)
		return 0;
	size_t origin = (size_t)(host + 3 - link) + strcspn(host + 3, "/?#");
	struct cg_sbuf b = {0};
	cg_sbuf_addn(&b, link, origin);
	cg_sbuf_add(&b, "/monitors/");
	cg_sbuf_add(&b, alert_id);
	return cg_mu_link_take(links, "monitor", &b);
}

/* The case's severity word: the monitor priority when set, else from the transition or alert type. */
static const char *severity_of(enum dd_kind kind, const char *atype, const char *prio, char buf[16], int *resolved)
{
	const char *sev;
	*resolved = 0;
	switch (kind) {
	case DD_ALERT:
		sev = "error";
		break;
	case DD_WARN:
		sev = "warning";
		break;
	case DD_NODATA:
		sev = "no_data";
		break;
	case DD_RECOVERED:
		*resolved = 1;
		sev = "success";
		break;
	default:
		/* Renotify, "Null", no transition: the alert type says what state the monitor is in. */
		*resolved = atype && strcasecmp(atype, "success") == 0;
		sev = atype ? atype : "error";
		break;
	}
	/* The monitor's own priority is its author's intent; the transition stays in ctx. */
	if (prio)
		snprintf(buf, 16, "P%c", prio[1]);
	else
		snprintf(buf, 16, "%s", sev);
	return buf;
}

struct dd_fields {
	char bufs[16][32];
	const char *transition, *atype, *cycle, *alert_id, *scope, *aggreg, *title, *prio, *msg, *status, *host, *link,
	    *snapshot, *metric, *query;
};

static void read_fields(const cJSON *payload, struct dd_fields *f)
{
	int i = 0;
#define F(dst, ...)                                                                                                    \
	(f->dst = field(payload, f->bufs[i], sizeof(f->bufs[i]), (const char *const[]){__VA_ARGS__, NULL}), i++)
	F(transition, "alert.transition", "alert_transition");
	F(atype, "alert.type", "alert_type");
	F(cycle, "alert.cycle_key", "alert_cycle_key");
	F(alert_id, "alert.id", "alert_id");
	F(scope, "alert.scope", "alert_scope");
	F(aggreg, "aggreg_key", "alert.aggreg_key");
	F(title, "alert.title", "alert_title", "event_title", "title");
	F(prio, "alert.priority", "alert_priority");
	F(msg, "body", "event_msg", "text_only_msg");
	F(status, "alert.status", "alert_status");
	F(host, "hostname", "alert.hostname");
	F(link, "link", "alert.link");
	F(snapshot, "snapshot", "alert.snapshot");
	F(metric, "alert.metric", "alert_metric");
	F(query, "alert.query", "alert_query");
#undef F
}

static int describe(const struct dd_fields *f, struct cg_event *e, const char *scope, const char *prio,
                    const char *date)
{
	struct cg_sbuf d = {0};
	if (f->msg)
		body_md(&d, f->msg);
	if (f->status)
		cg_md_addf(&d, "**Status:** %s\n\n", f->status);
	if (f->transition)
		cg_md_addf(&d, "**Transition:** %s\n", f->transition);
	if (scope)
		cg_md_addf(&d, "**Scope:** %s\n", scope);
	if (f->metric)
		cg_md_addf(&d, "**Metric:** %s\n", f->metric);
	if (f->query) {
		cg_sbuf_add(&d, "**Query:** ");
		cg_md_code(&d, f->query);
		cg_sbuf_add(&d, "\n");
	}
	if (f->host)
		cg_md_addf(&d, "**Host:** %s\n", f->host);
	if (prio)
		cg_md_addf(&d, "**Monitor priority:** %s\n", prio);
	if (date)
		cg_md_addf(&d, "**%s:** %s\n", e->status == CG_STATUS_RESOLVED ? "Recovered" : "Date", date);
	cg_sbuf_add(&d, "\n");
	return cg_mu_describe(e, &d);
}

static int map_datadog(const cJSON *payload, const struct cg_map_opts *opts, struct cg_event_list *out, char *err,
                       size_t errlen)
{
	(void)opts;
	if (cg_mu_need_object(payload, err, errlen))
		return CG_EINVAL;
	struct dd_fields *f = calloc(1, sizeof(*f));
	if (!f)
		return CG_ENOMEM;
	read_fields(payload, f);
	struct dd_title tt = {0};
	struct cg_sbuf kb = {0};
	char *key = NULL;
	cJSON *tag_list = NULL;
	int rc = 0;
	if (!f->transition && !f->cycle && !f->alert_id && !f->aggreg && !f->title) {
		if (has_unrendered(payload)) {
			snprintf(out->ignored_reason, sizeof(out->ignored_reason),
			         "Datadog variables not rendered: a payload template, not a notification");
		} else {
			snprintf(err, errlen,
			         "missing field 'alert.id' (send the payload of conf/datadog-webhook-payload.json)");
			rc = CG_EINVAL;
		}
		goto out;
	}
	if ((rc = parse_title(f->title ? f->title : "", &tt)))
		goto out;
	enum dd_kind kind = f->transition ? transition_kind(f->transition, strlen(f->transition)) : tt.kind;
	const char *scope = f->scope ? f->scope : tt.scope;
	const char *prio = f->prio ? f->prio : tt.prio[0] ? tt.prio : NULL;
	if (prio && !is_prio_word(prio, strlen(prio)))
		prio = NULL;
	const char *name = tt.name && *tt.name ? tt.name : NULL;

	struct cg_event *e = cg_mu_push(out);
	if (!e) {
		rc = CG_ENOMEM;
		goto out;
	}
	char sevbuf[16];
	int resolved = 0;
	const char *sev = severity_of(kind, f->atype, prio, sevbuf, &resolved);
	e->status = resolved ? CG_STATUS_RESOLVED : CG_STATUS_FIRING;

	/* The cycle key spans trigger to recovery; monitor id + scope is what identifies a multi-alert group. */
	if (f->cycle)
		cg_sbuf_add(&kb, f->cycle);
	else if (f->alert_id)
		cg_sbuf_addf(&kb, "%s%s%s", f->alert_id, scope ? "/" : "", scope ? scope : "");
	else if (f->aggreg)
		cg_sbuf_addf(&kb, "aggreg/%s", f->aggreg);
	else
		cg_sbuf_addf(&kb, "title/%s%s%s", name ? name : "", scope ? "/" : "", scope ? scope : "");
	key = cg_sbuf_take(&kb);
	if (name && scope)
		cg_sbuf_addf(&kb, "%s (%s)", name, scope);
	else if (name)
		cg_sbuf_add(&kb, name);
	else if (f->alert_id)
		cg_sbuf_addf(&kb, "Datadog monitor %s%s%s", f->alert_id, scope ? " on " : "", scope ? scope : "");
	else
		cg_sbuf_addf(&kb, "Datadog alert %s", key ? key : "");
	e->title = cg_sbuf_take(&kb);
	tag_list = cJSON_CreateArray();
	if (!key || !e->title || !tag_list) {
		rc = CG_ENOMEM;
		goto out;
	}

	char t1[40], t2[40];
	const char *date = cg_mu_epoch_text(cg_json_path(payload, "date"), t1);
	if (!date)
		date = cg_mu_epoch_text(cg_json_path(payload, "last_updated"), t2);
	const cJSON *tags = cg_json_path(payload, "tags");
	if (cJSON_IsString(tags) && unrendered(tags->valuestring))
		tags = NULL;
	rc = cg_mu_dup(&e->dedup_key, key);
	rc = rc ? rc : cg_mu_dup(&e->severity, sev);
	rc = rc ? rc : cg_mu_dup(resolved ? &e->ends_at : &e->starts_at, date);
	rc = rc ? rc : cg_mu_tags_text(e->labels, NULL, scope);
	rc = rc ? rc : cg_mu_tags(e->labels, tag_list, tags);
	rc = rc ? rc : cg_mu_label(e->labels, "host", f->host);
	rc = rc ? rc : cg_mu_link(e->links, "generator", f->link);
	rc = rc ? rc : monitor_link(e->links, f->link, f->alert_id);
	rc = rc ? rc : cg_mu_link(e->links, "image", f->snapshot);
	if (rc)
		goto out;
	if ((rc = describe(f, e, scope, prio, date)) || (rc = cg_event_build_ctx(e, payload, payload)))
		goto out;
	if (!cJSON_AddItemToObject(e->ctx, "tag_list", tag_list)) {
		rc = CG_ENOMEM;
		goto out;
	}
	tag_list = NULL;
	if (!cJSON_AddStringToObject(e->ctx, "transition", f->transition ? f->transition : "") ||
	    !cJSON_AddStringToObject(e->ctx, "monitor_name", name ? name : "") ||
	    !cJSON_AddStringToObject(e->ctx, "scope", scope ? scope : ""))
		rc = CG_ENOMEM;
out:
	cJSON_Delete(tag_list);
	free(tt.scope);
	free(key);
	free(f);
	return rc;
}

const struct cg_mapper cg_mapper_datadog = {
    .name = "datadog",
    .description = "Datadog Webhooks integration (monitor notifications; payload template in "
                   "conf/datadog-webhook-payload.json)",
    .map = map_datadog,
    .supports_group_by = 0,
    .default_priority_map = "P1=P1,P2=P2,P3=P3,P4=P4,P5=P5,error=P2,warning=P3,no_data=P3,info=P5",
};
