/* amshape.c: the Alertmanager webhook shape (alerts[] plus group fields) to events, one per alert or one per notification. */
#include "amshape.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "casebody.h" /* CG_DESCRIPTION_MAX */
#include "err.h"
#include "maputil.h"
#include "mdsafe.h"
#include "text.h"

static int cmp_member(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
	return strcmp(x->string, y->string);
}

/* The string members of obj sorted by name (malloc'd, may be NULL when *n is 0). */
static int sorted_strings(const cJSON *obj, const cJSON ***out, size_t *n)
{
	size_t cnt = 0, i = 0;
	const cJSON *it;
	*out = NULL;
	*n = 0;
	cJSON_ArrayForEach(it, obj)
		cnt += cJSON_IsString(it) ? 1 : 0;
	if (!cnt)
		return 0;
	const cJSON **v = malloc(cnt * sizeof(*v));
	if (!v)
		return CG_ENOMEM;
	cJSON_ArrayForEach(it, obj)
		if (cJSON_IsString(it))
			v[i++] = it;
	qsort(v, cnt, sizeof(*v), cmp_member);
	*out = v;
	*n = cnt;
	return 0;
}

/*
 * The key used when an alert has no fingerprint. Alertmanager's fingerprint is FNV-64a over the
 * label pairs sorted by name, each name and value followed by a 0xff byte; we hash the same byte
 * string with SHA-256, so the key depends on the label set only, as Alertmanager's does.
 */
static int label_hash(const cJSON *labels, const char *prefix, char hex[65])
{
	const cJSON **v = NULL;
	size_t n = 0;
	struct cg_sbuf b = {0};
	int rc = sorted_strings(labels, &v, &n);
	if (rc)
		return rc;
	cg_sbuf_add(&b, prefix);
	for (size_t i = 0; i < n; i++) {
		cg_sbuf_add(&b, v[i]->string);
		cg_sbuf_addn(&b, "\xff", 1);
		cg_sbuf_add(&b, v[i]->valuestring);
		cg_sbuf_addn(&b, "\xff", 1);
	}
	free(v);
	size_t len = b.len;
	char *text = cg_sbuf_take(&b);
	if (!text)
		return CG_ENOMEM;
	cg_sha256_hex(text, len, hex);
	free(text);
	return 0;
}

/*
 * A "new silence" link prefilled with the label matchers. Alertmanager's UI takes
 * /#/silences/new?filter={a="b", c="d"}; Grafana's takes
 * /alerting/silence/new?alertmanager=grafana&matcher=a%3Db&matcher=... (as its own silenceURL).
 */
static int silence_link(cJSON *links, const char *external_url, const cJSON *labels, int grafana)
{
	const cJSON **v = NULL;
	size_t n = 0;
	if (!external_url || cg_mu_get(links, "silence"))
		return 0;
	int rc = sorted_strings(labels, &v, &n);
	if (rc || !n)
		return rc;
	struct cg_sbuf b = {0}, f = {0};
	size_t ulen = strlen(external_url);
	while (ulen && external_url[ulen - 1] == '/')
		ulen--;
	cg_sbuf_addn(&b, external_url, ulen);
	if (grafana) {
		cg_sbuf_add(&b, "/alerting/silence/new?alertmanager=grafana");
		for (size_t i = 0; i < n; i++) {
			cg_sbuf_add(&b, "&matcher=");
			cg_sbuf_pct_encode(&b, v[i]->string);
			cg_sbuf_add(&b, "%3D");
			cg_sbuf_pct_encode(&b, v[i]->valuestring);
		}
	} else {
		cg_sbuf_add(&f, "{");
		for (size_t i = 0; i < n; i++) {
			cg_sbuf_addf(&f, "%s%s=\"", i ? ", " : "", v[i]->string);
			for (const char *p = v[i]->valuestring; *p; p++) {
				if (*p == '"' || *p == '\\')
					cg_sbuf_addn(&f, "\\", 1);
				if (*p == '\n')
					cg_sbuf_add(&f, "\\n");
				else
					cg_sbuf_addn(&f, p, 1);
			}
			cg_sbuf_add(&f, "\"");
		}
		cg_sbuf_add(&f, "}");
		cg_sbuf_add(&b, "/#/silences/new?filter=");
		if (!f.oom)
			cg_sbuf_pct_encode(&b, f.p);
	}
	free(v);
	int oom = f.oom;
	free(cg_sbuf_take(&f));
	char *url = cg_sbuf_take(&b);
	if (!url || oom) {
		free(url);
		return CG_ENOMEM;
	}
	rc = cg_mu_link(links, "silence", url);
	free(url);
	return rc;
}

static int is_resolved(const char *s)
{
	return s && strcasecmp(s, "resolved") == 0;
}

/* Go's zero time.Time: what Alertmanager sends as endsAt of a firing alert. */
static const char *real_time(const char *s)
{
	return s && strncmp(s, "0001-01-01", 10) != 0 ? s : NULL;
}

/* critical > high/error > warning > low > info > (unknown word) > none > (no severity). */
static int sev_rank(const char *s)
{
	static const struct {
		const char *w;
		int r;
	} t[] = {
		{"critical", 8}, {"crit", 8},     {"fatal", 8},  {"emergency", 8},     {"high", 7},
		{"error", 7},    {"major", 7},    {"warning", 6}, {"warn", 6},         {"medium", 6},
		{"low", 5},      {"minor", 5},    {"info", 4},   {"informational", 4}, {"none", 1},
	};
	if (!s || !*s)
		return 0;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcasecmp(s, t[i].w) == 0)
			return t[i].r;
	return 2;
}

/* "<alertname>: <summary or instance>", with fallbacks down to "<product> alert <key>". */
static char *alert_title(const cJSON *labels, const cJSON *annotations, const char *product, const char *key)
{
	const char *name = cg_mu_str(labels, "alertname");
	const char *detail = cg_mu_str(annotations, "summary");
	struct cg_sbuf b = {0};
	if (!detail)
		detail = cg_mu_str(labels, "instance");
	if (name && detail && strcmp(name, detail) != 0)
		cg_sbuf_addf(&b, "%s: %s", name, detail);
	else if (name || detail)
		cg_sbuf_add(&b, name ? name : detail);
	else
		cg_sbuf_addf(&b, "%s alert %s", product, key ? key : "");
	return cg_sbuf_take(&b);
}

/* Grafana's evaluated values: valueString, else the `values` map as "B=44.2, C=1". */
static void value_md(struct cg_sbuf *b, const cJSON *alert)
{
	const char *vs = cg_mu_str(alert, "valueString");
	if (vs) {
		cg_md_put(b, vs, CG_MD_TEXT);
		return;
	}
	const cJSON *it;
	int first = 1;
	cJSON_ArrayForEach(it, cg_mu_get(alert, "values"))
	{
		if (!cJSON_IsNumber(it))
			continue;
		cg_md_addf(b, "%s%s=%.10g", first ? "" : ", ", it->string, it->valuedouble);
		first = 0;
	}
}

static int has_value(const cJSON *alert)
{
	if (cg_mu_str(alert, "valueString"))
		return 1;
	const cJSON *it;
	cJSON_ArrayForEach(it, cg_mu_get(alert, "values"))
		if (cJSON_IsNumber(it))
			return 1;
	return 0;
}

static void pairs_md(struct cg_sbuf *b, const cJSON *obj, const cJSON *skip_same)
{
	const cJSON **v = NULL;
	size_t n = 0;
	int first = 1;
	if (sorted_strings(obj, &v, &n)) {
		b->oom = 1;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const char *common = skip_same ? cg_json_str(skip_same, v[i]->string) : NULL;
		if (common && strcmp(common, v[i]->valuestring) == 0)
			continue;
		cg_md_addf(b, "%s%s=%s", first ? "" : ", ", v[i]->string, v[i]->valuestring);
		first = 0;
	}
	free(v);
}

static int alert_links(cJSON *links, const cJSON *alert, const cJSON *labels, const cJSON *ann,
		       const char *external_url, int grafana)
{
	int rc = cg_mu_link(links, "generator", cg_mu_str(alert, "generatorURL"));
	rc = rc ? rc : cg_mu_link(links, "runbook", cg_mu_str(ann, "runbook_url"));
	if (grafana) {
		rc = rc ? rc : cg_mu_link(links, "dashboard", cg_mu_str(alert, "dashboardURL"));
		rc = rc ? rc : cg_mu_link(links, "panel", cg_mu_str(alert, "panelURL"));
		rc = rc ? rc : cg_mu_link(links, "silence", cg_mu_str(alert, "silenceURL"));
		rc = rc ? rc : cg_mu_link(links, "image", cg_mu_str(alert, "imageURL"));
	}
	rc = rc ? rc : cg_mu_link(links, "dashboard", cg_mu_str(ann, "dashboard_url"));
	rc = rc ? rc : cg_mu_link(links, "dashboard", cg_mu_str(ann, "grafana_url"));
	rc = rc ? rc : cg_mu_link(links, "dashboard", cg_mu_str(ann, "dashboard"));
	rc = rc ? rc : silence_link(links, external_url, labels, grafana);
	return rc;
}

static int alert_description(struct cg_event *e, const cJSON *alert, int grafana)
{
	struct cg_sbuf b = {0};
	const char *summary = cg_mu_str(e->annotations, "summary");
	const char *desc = cg_mu_str(e->annotations, "description");
	if (summary)
		cg_md_addf(&b, "**Summary:** %s\n\n", summary);
	if (desc)
		cg_md_addf(&b, "%s\n\n", desc);
	if (grafana && has_value(alert)) {
		cg_sbuf_add(&b, "**Value:** ");
		value_md(&b, alert);
		cg_sbuf_add(&b, "\n\n");
	}
	const cJSON **v = NULL;
	size_t n = 0;
	if (sorted_strings(e->labels, &v, &n))
		b.oom = 1;
	if (n)
		cg_sbuf_add(&b, "**Labels:**\n");
	for (size_t i = 0; i < n; i++)
		cg_md_addf(&b, "- %s: %s\n", v[i]->string, v[i]->valuestring);
	free(v);
	if (n)
		cg_sbuf_add(&b, "\n");
	/* Other annotations (summary, description and URLs are shown elsewhere). */
	if (sorted_strings(e->annotations, &v, &n))
		b.oom = 1;
	int first = 1;
	for (size_t i = 0; i < n; i++) {
		const char *k = v[i]->string;
		/* "__x__" are Grafana's internal annotations (__dashboardUid__, __value_string__). */
		if (strcmp(k, "summary") == 0 || strcmp(k, "description") == 0 || strcmp(k, "runbook_url") == 0 ||
		    strcmp(k, "dashboard_url") == 0 || strcmp(k, "grafana_url") == 0 || strncmp(k, "__", 2) == 0)
			continue;
		if (first)
			cg_sbuf_add(&b, "**Annotations:**\n");
		cg_md_addf(&b, "- %s: %s\n", k, v[i]->valuestring);
		first = 0;
	}
	free(v);
	if (!first)
		cg_sbuf_add(&b, "\n");
	if (e->starts_at)
		cg_md_addf(&b, "**Started:** %s\n\n", e->starts_at);
	if (e->ends_at && e->status == CG_STATUS_RESOLVED)
		cg_md_addf(&b, "**Ended:** %s\n\n", e->ends_at);
	return cg_mu_describe(e, &b);
}

struct mapctx {
	const cJSON *payload;
	const struct cg_am_flavor *fl;
	const char *external_url;
};

static int alert_event(const struct mapctx *c, const cJSON *alert, struct cg_event_list *out)
{
	struct cg_event *e = cg_event_list_push(out);
	if (!e)
		return CG_ENOMEM;
	e->status = is_resolved(cg_mu_str(alert, "status")) ? CG_STATUS_RESOLVED : CG_STATUS_FIRING;
	e->labels = cg_json_string_object(cg_mu_get(alert, "labels"));
	e->annotations = cg_json_string_object(cg_mu_get(alert, "annotations"));
	e->links = cJSON_CreateObject();
	if (!e->labels || !e->annotations || !e->links)
		return CG_ENOMEM;
	char hex[65];
	const char *key = cg_mu_str(alert, "fingerprint");
	int rc = 0;
	if (!key) {
		rc = label_hash(e->labels, "", hex);
		key = hex;
	}
	rc = rc ? rc : cg_mu_dup(&e->dedup_key, key);
	rc = rc ? rc : cg_mu_dup(&e->severity, cg_mu_str(e->labels, "severity"));
	rc = rc ? rc : cg_mu_dup(&e->starts_at, real_time(cg_mu_str(alert, "startsAt")));
	rc = rc ? rc : cg_mu_dup(&e->ends_at, real_time(cg_mu_str(alert, "endsAt")));
	rc = rc ? rc : alert_links(e->links, alert, e->labels, e->annotations, c->external_url, c->fl->grafana);
	if (rc)
		return rc;
	e->title = alert_title(e->labels, e->annotations, c->fl->product, e->dedup_key);
	if ((rc = alert_description(e, alert, c->fl->grafana)))
		return rc;
	/* ctx.payload: the payload minus `alerts` (all of them in every event would cost n²). */
	return cg_event_build_ctx_view(e, alert, c->payload, "alerts");
}

/* The value of a string field when every alert carries the same non-empty one, else NULL. */
static const char *common_field(const cJSON *alerts, const char *key)
{
	const char *val = NULL;
	const cJSON *a;
	cJSON_ArrayForEach(a, alerts)
	{
		const char *s = cg_mu_str(a, key);
		if (!s || (val && strcmp(val, s) != 0))
			return NULL;
		val = s;
	}
	return val;
}

static char *group_title(const struct mapctx *c)
{
	const cJSON *common = cg_mu_get(c->payload, "commonLabels");
	const cJSON *group = cg_mu_get(c->payload, "groupLabels");
	const char *name = cg_mu_str(common, "alertname");
	struct cg_sbuf extras = {0}, b = {0};
	const cJSON **v = NULL;
	size_t n = 0;
	if (!name)
		name = cg_mu_str(group, "alertname");
	if (!name) {
		/* Senders that leave commonLabels out (custom templates): the alertname all alerts share. */
		const cJSON *a;
		cJSON_ArrayForEach(a, cg_mu_get(c->payload, "alerts"))
		{
			const char *s = cg_mu_str(cg_mu_get(a, "labels"), "alertname");
			if (!s || (name && strcmp(name, s) != 0)) {
				name = NULL;
				break;
			}
			name = s;
		}
	}
	if (sorted_strings(group, &v, &n))
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(v[i]->string, "alertname") == 0 || !v[i]->valuestring[0])
			continue;
		cg_sbuf_addf(&extras, "%s%s=%s", extras.len ? ", " : "", v[i]->string, v[i]->valuestring);
	}
	free(v);
	if (name && extras.len)
		cg_sbuf_addf(&b, "%s (%s)", name, extras.p);
	else if (name || extras.len)
		cg_sbuf_add(&b, name ? name : extras.p);
	else if (cg_mu_str(cg_mu_get(c->payload, "commonAnnotations"), "summary"))
		cg_sbuf_add(&b, cg_mu_str(cg_mu_get(c->payload, "commonAnnotations"), "summary"));
	else if (cg_mu_str(c->payload, "receiver"))
		cg_sbuf_addf(&b, "%s alert group for %s", c->fl->product, cg_mu_str(c->payload, "receiver"));
	else
		cg_sbuf_addf(&b, "%s alert group", c->fl->product);
	int oom = extras.oom;
	free(cg_sbuf_take(&extras));
	char *t = cg_sbuf_take(&b);
	if (oom) {
		free(t);
		return NULL;
	}
	return t;
}

static int group_description(const struct mapctx *c, struct cg_event *e, const cJSON *alerts, int nfiring,
			     int nresolved, long truncated)
{
	struct cg_sbuf b = {0};
	const cJSON *common_ann = cg_mu_get(c->payload, "commonAnnotations");
	const cJSON *common = cg_mu_get(c->payload, "commonLabels");
	int total = nfiring + nresolved;
	cg_sbuf_addf(&b, "**%d alert%s: %d firing, %d resolved**", total, total == 1 ? "" : "s", nfiring, nresolved);
	if (cg_mu_str(c->payload, "receiver"))
		cg_md_addf(&b, " (receiver %s)", cg_mu_str(c->payload, "receiver"));
	cg_sbuf_add(&b, "\n\n");
	if (cg_mu_str(common_ann, "summary"))
		cg_md_addf(&b, "**Summary:** %s\n\n", cg_mu_str(common_ann, "summary"));
	if (cg_mu_str(common_ann, "description"))
		cg_md_addf(&b, "%s\n\n", cg_mu_str(common_ann, "description"));
	if (cJSON_GetArraySize(cg_mu_get(c->payload, "groupLabels")) > 0) {
		cg_sbuf_add(&b, "**Group labels:** ");
		pairs_md(&b, cg_mu_get(c->payload, "groupLabels"), NULL);
		cg_sbuf_add(&b, "\n\n");
	}
	if (cJSON_GetArraySize(e->labels) > 0) {
		cg_sbuf_add(&b, "**Common labels:** ");
		pairs_md(&b, e->labels, NULL);
		cg_sbuf_add(&b, "\n\n");
	}
	cg_sbuf_add(&b, "**Alerts:**\n");
	const cJSON *a;
	int listed = 0;
	cJSON_ArrayForEach(a, alerts)
	{
		/* The builder cuts at CG_DESCRIPTION_MAX anyway; stopping here keeps huge groups cheap and says so. */
		if (b.len > CG_DESCRIPTION_MAX) {
			cg_sbuf_addf(&b, "- … and %d more alerts\n", total - listed);
			break;
		}
		const cJSON *labels = cg_mu_get(a, "labels"), *ann = cg_mu_get(a, "annotations");
		char *t = alert_title(labels, ann, c->fl->product, cg_mu_str(a, "fingerprint"));
		if (!t) {
			b.oom = 1;
			break;
		}
		cg_md_addf(&b, "- **%s** %s", is_resolved(cg_mu_str(a, "status")) ? "RESOLVED" : "FIRING", t);
		free(t);
		size_t before = b.len;
		cg_sbuf_add(&b, " — ");
		size_t mark = b.len;
		pairs_md(&b, labels, common);
		if (b.len == mark && !b.oom) {
			b.len = before; /* no labels of its own: drop the dash */
			b.p[b.len] = '\0';
		}
		if (c->fl->grafana && has_value(a)) {
			cg_sbuf_add(&b, " — value: ");
			value_md(&b, a);
		}
		if (cg_mu_str(a, "generatorURL") && cg_mu_is_http(cg_mu_str(a, "generatorURL"))) {
			cg_sbuf_add(&b, " — ");
			cg_md_link(&b, "source", cg_mu_str(a, "generatorURL"));
		}
		cg_sbuf_add(&b, "\n");
		listed++;
	}
	if (truncated > 0)
		cg_sbuf_addf(&b, "\n_%ld more alert%s truncated by %s_\n", truncated, truncated == 1 ? "" : "s",
			     c->fl->product);
	cg_sbuf_add(&b, "\n");
	if (e->starts_at)
		cg_md_addf(&b, "**Started:** %s\n\n", e->starts_at);
	if (e->ends_at)
		cg_md_addf(&b, "**Ended:** %s\n\n", e->ends_at);
	return cg_mu_describe(e, &b);
}

/* The alerts of a group, one short line each, for the comments about it (kept well under the
 * builder's summary limit). */
static char *group_alert_list(const struct mapctx *c, const cJSON *alerts, long truncated)
{
	struct cg_sbuf b = {0};
	const cJSON *a;
	int total = cJSON_GetArraySize(alerts), listed = 0;
	cJSON_ArrayForEach(a, alerts)
	{
		if (b.len > 1200) {
			cg_sbuf_addf(&b, "- … and %d more alerts\n", total - listed);
			break;
		}
		char *t = alert_title(cg_mu_get(a, "labels"), cg_mu_get(a, "annotations"), c->fl->product, cg_mu_str(a, "fingerprint"));
		if (!t) {
			b.oom = 1;
			break;
		}
		cg_md_addf(&b, "- **%s** %.160s\n", is_resolved(cg_mu_str(a, "status")) ? "RESOLVED" : "FIRING", t);
		free(t);
		listed++;
	}
	if (truncated > 0)
		cg_sbuf_addf(&b, "- %ld more alerts truncated by %s\n", truncated, c->fl->product);
	return cg_sbuf_take(&b);
}

static int group_event(const struct mapctx *c, const cJSON *alerts, long truncated, struct cg_event_list *out)
{
	const cJSON *payload = c->payload, *a;
	int nfiring = 0, nresolved = 0, best = -1;
	const char *sev = NULL, *start = NULL, *end = NULL;
	/* Severity from the firing alerts; a wholly resolved group keeps the one it fired with. */
	for (int pass = 0; pass < 2 && !sev; pass++) {
		cJSON_ArrayForEach(a, alerts)
		{
			int resolved = is_resolved(cg_mu_str(a, "status"));
			if (pass == 0 && resolved)
				nresolved++;
			else if (pass == 0)
				nfiring++;
			if (pass == 0 && resolved)
				continue;
			const char *s = cg_json_str(cg_mu_get(a, "labels"), "severity");
			if (s && sev_rank(s) > best) {
				best = sev_rank(s);
				sev = s;
			}
		}
	}
	/* RFC 3339 text as sent; Alertmanager sends UTC, so comparing text gives the earliest/latest. */
	cJSON_ArrayForEach(a, alerts)
	{
		const char *s = real_time(cg_mu_str(a, "startsAt"));
		const char *t = real_time(cg_mu_str(a, "endsAt"));
		if (s && (!start || strcmp(s, start) < 0))
			start = s;
		if (t && (!end || strcmp(t, end) > 0))
			end = t;
	}

	struct cg_event *e = cg_event_list_push(out);
	if (!e)
		return CG_ENOMEM;
	const char *st = cg_mu_str(payload, "status");
	if (st)
		e->status = is_resolved(st) ? CG_STATUS_RESOLVED : CG_STATUS_FIRING;
	else
		e->status = nfiring == 0 ? CG_STATUS_RESOLVED : CG_STATUS_FIRING;
	/* Grafana's deprecated `state` says "ok" once every alert of the group resolved. */
	if (c->fl->grafana && cg_json_str(payload, "state") && strcasecmp(cg_json_str(payload, "state"), "ok") == 0)
		e->status = CG_STATUS_RESOLVED;

	e->labels = cg_json_string_object(cg_mu_get(payload, "commonLabels"));
	e->annotations = cg_json_string_object(cg_mu_get(payload, "commonAnnotations"));
	e->links = cJSON_CreateObject();
	if (!e->labels || !e->annotations || !e->links)
		return CG_ENOMEM;
	char hex[65];
	const char *key = cg_mu_str(payload, "groupKey");
	int rc = 0;
	if (!key) {
		/* No groupKey: the receiver and the group labels are what Alertmanager builds it from. */
		struct cg_sbuf pre = {0};
		cg_sbuf_add(&pre, "group\xff");
		cg_sbuf_add(&pre, cg_mu_str(payload, "receiver"));
		cg_sbuf_addn(&pre, "\xff", 1);
		char *p = cg_sbuf_take(&pre);
		if (!p)
			return CG_ENOMEM;
		rc = label_hash(cg_mu_get(payload, "groupLabels"), p, hex);
		free(p);
		key = hex;
	}
	rc = rc ? rc : cg_mu_dup(&e->dedup_key, key);
	rc = rc ? rc : cg_mu_dup(&e->severity, sev);
	rc = rc ? rc : cg_mu_dup(&e->starts_at, start);
	rc = rc ? rc : cg_mu_dup(&e->ends_at, e->status == CG_STATUS_RESOLVED ? end : NULL);
	rc = rc ? rc : cg_mu_link(e->links, "generator", common_field(alerts, "generatorURL"));
	rc = rc ? rc : cg_mu_link(e->links, "runbook", cg_mu_str(e->annotations, "runbook_url"));
	if (c->fl->grafana) {
		rc = rc ? rc : cg_mu_link(e->links, "dashboard", common_field(alerts, "dashboardURL"));
		rc = rc ? rc : cg_mu_link(e->links, "panel", common_field(alerts, "panelURL"));
		if (cJSON_GetArraySize(alerts) == 1)
			rc = rc ? rc : cg_mu_link(e->links, "silence", common_field(alerts, "silenceURL"));
	}
	rc = rc ? rc : cg_mu_link(e->links, "dashboard", cg_mu_str(e->annotations, "dashboard_url"));
	rc = rc ? rc : cg_mu_link(e->links, "dashboard", cg_mu_str(e->annotations, "grafana_url"));
	rc = rc ? rc : silence_link(e->links, c->external_url, e->labels, c->fl->grafana);
	if (rc)
		return rc;
	e->title = group_title(c);
	if ((rc = group_description(c, e, alerts, nfiring, nresolved, truncated)))
		return rc;
	e->comment_detail = group_alert_list(c, alerts, truncated);
	if (!e->comment_detail)
		return CG_ENOMEM;
	rc = cg_event_build_ctx(e, payload, payload);
	if (rc)
		return rc;
	if (!cJSON_AddNumberToObject(e->ctx, "firing_count", nfiring) ||
	    !cJSON_AddNumberToObject(e->ctx, "resolved_count", nresolved))
		return CG_ENOMEM;
	return 0;
}

static int validate(const cJSON *alerts, char *err, size_t errlen)
{
	int i = 0;
	const cJSON *a;
	cJSON_ArrayForEach(a, alerts)
	{
		if (!cJSON_IsObject(a)) {
			snprintf(err, errlen, "invalid field 'alerts[%d]': not an object", i);
			return CG_EINVAL;
		}
		static const char *const objs[] = {"labels", "annotations"};
		for (size_t k = 0; k < 2; k++) {
			const cJSON *v = cg_mu_get(a, objs[k]);
			if (v && !cJSON_IsNull(v) && !cJSON_IsObject(v)) {
				snprintf(err, errlen, "invalid field 'alerts[%d].%s': not an object", i, objs[k]);
				return CG_EINVAL;
			}
		}
		const cJSON *st = cg_mu_get(a, "status");
		if (st && !cJSON_IsNull(st) && !cJSON_IsString(st)) {
			snprintf(err, errlen, "invalid field 'alerts[%d].status': not a string", i);
			return CG_EINVAL;
		}
		i++;
	}
	return 0;
}

int cg_am_map(const cJSON *payload, const struct cg_map_opts *opts, const struct cg_am_flavor *fl,
	      struct cg_event_list *out, char *err, size_t errlen)
{
	if (!cJSON_IsObject(payload)) {
		snprintf(err, errlen, "payload must be a JSON object");
		return CG_EINVAL;
	}
	const cJSON *alerts = cg_mu_get(payload, "alerts");
	if (!cJSON_IsArray(alerts)) {
		snprintf(err, errlen, alerts ? "invalid field 'alerts': not an array" : "missing field 'alerts'");
		return CG_EINVAL;
	}
	int rc = validate(alerts, err, errlen);
	if (rc)
		return rc;
	/* `version` ("4" for Alertmanager, "1" for Grafana) is not checked: the fields we read have not changed. */
	long truncated = 0;
	const cJSON *tr = cg_mu_get(payload, "truncatedAlerts");
	if (cJSON_IsNumber(tr) && tr->valuedouble >= 1 && tr->valuedouble < 1e15)
		truncated = (long)tr->valuedouble;
	if (truncated > 0)
		snprintf(out->note, sizeof(out->note), "%ld alert%s truncated by %s", truncated, truncated == 1 ? "" : "s",
			 fl->product);
	if (cJSON_GetArraySize(alerts) == 0) {
		snprintf(out->ignored_reason, sizeof(out->ignored_reason), "no alerts in notification");
		return 0;
	}
	struct mapctx c = {.payload = payload, .fl = fl, .external_url = cg_mu_str(payload, "externalURL")};
	if (opts && opts->group_by == CG_GROUP_GROUP)
		return group_event(&c, alerts, truncated, out);
	const cJSON *a;
	cJSON_ArrayForEach(a, alerts)
	{
		rc = alert_event(&c, a, out);
		if (rc)
			break;
	}
	return rc;
}
