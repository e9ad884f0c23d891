/* maputil.c: the mapper helper kit: reading a sender's payload, filling events (labels, links, text). */
#include "maputil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "err.h"
#include "mdsafe.h"
#include "text.h"

/* ---- reading the payload ------------------------------------------------------------------------- */

const cJSON *cg_mu_get(const cJSON *o, const char *key)
{
	return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
}

const char *cg_mu_str(const cJSON *o, const char *dotted)
{
	const char *s = cg_json_str(o, dotted);
	return s && s[0] ? s : NULL;
}

int cg_mu_need_object(const cJSON *payload, char *err, size_t errlen)
{
	if (cJSON_IsObject(payload))
		return 0;
	snprintf(err, errlen, "payload must be a JSON object");
	return CG_EINVAL;
}

const cJSON *cg_mu_object(const cJSON *o, const char *dotted, char *err, size_t errlen)
{
	const cJSON *v = cg_json_path(o, dotted);
	if (cJSON_IsObject(v))
		return v;
	if (v)
		snprintf(err, errlen, "invalid field '%s': not an object", dotted);
	else
		snprintf(err, errlen, "missing field '%s'", dotted);
	return NULL;
}

int cg_mu_one_of(const char *s, const char *const list[])
{
	for (size_t i = 0; list[i]; i++)
		if (strcasecmp(s, list[i]) == 0)
			return 1;
	return 0;
}

int cg_mu_unexpanded(const char *s)
{
	if (!s)
		return 0;
	size_t n = strlen(s);
	if (n >= 4 && strncmp(s, "{{", 2) == 0 && strcmp(s + n - 2, "}}") == 0)
		return 1;
	/* Zabbix macros: {EVENT.ID}, {$ZABBIX.URL}, {EVENT.RECOVERY.ID} outside recovery messages. */
	if (n < 3 || s[0] != '{' || s[n - 1] != '}')
		return 0;
	for (size_t i = 1; i + 1 < n; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '$' || c == ':'))
			return 0;
	}
	return 1;
}

const char *cg_mu_filled(const cJSON *o, const char *dotted)
{
	const char *s = cg_mu_str(o, dotted);
	return s && !cg_mu_unexpanded(s) ? s : NULL;
}

/* The one rule for numeric ids (maputil.h says why): exact integers below 2^53 in magnitude. */
static const char *number_id(const cJSON *v, char *buf, size_t buflen)
{
	if (!cJSON_IsNumber(v))
		return NULL;
	double d = v->valuedouble;
	if (!(d > -CG_MU_ID_LIMIT && d < CG_MU_ID_LIMIT) || d != (double)(long long)d)
		return NULL;
	snprintf(buf, buflen, "%lld", (long long)d); /* -0 prints as 0 */
	return buf;
}

const char *cg_mu_id(const cJSON *v, char *buf, size_t buflen)
{
	if (cJSON_IsString(v) && v->valuestring[0])
		return v->valuestring;
	return number_id(v, buf, buflen);
}

const char *cg_mu_filled_id(const cJSON *o, const char *dotted, char *buf, size_t buflen)
{
	const cJSON *v = cg_json_path(o, dotted);
	if (cJSON_IsString(v))
		return cg_mu_filled(o, dotted);
	return number_id(v, buf, buflen);
}

const char *cg_mu_epoch_text(const cJSON *v, char out[40])
{
	double t;
	if (cJSON_IsNumber(v)) {
		t = v->valuedouble;
	} else if (cJSON_IsString(v) && v->valuestring[0]) {
		char *end = NULL;
		t = strtod(v->valuestring, &end);
		if (!end || *end)
			return NULL;
	} else {
		return NULL;
	}
	if (!(t > 0) || t > 1e30) /* also NaN */
		return NULL;
	if (t >= 1e17)
		t /= 1e9;
	else if (t >= 1e14)
		t /= 1e6;
	else if (t >= 1e11)
		t /= 1e3;
	if (t >= 253402300800.0) /* 10000-01-01 */
		return NULL;
	time_t secs = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&secs, &tm))
		return NULL;
	if (strftime(out, 40, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return NULL;
	return out;
}

int cg_mu_ms_text(double ms, char *out, size_t outlen)
{
	/* Years 1970..9999: anything else is not a timestamp a monitoring tool meant. */
	if (!isfinite(ms) || ms < 0 || ms > 253402300799999.0)
		return CG_EINVAL;
	time_t secs = (time_t)(ms / 1000);
	int msec = (int)(ms - (double)secs * 1000);
	struct tm tm;
	if (!gmtime_r(&secs, &tm))
		return CG_EINVAL;
	snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
	         tm.tm_hour, tm.tm_min, tm.tm_sec,
	         msec < 0     ? 0
	         : msec > 999 ? 999
	                      : msec);
	return 0;
}

/* ---- filling events ------------------------------------------------------------------------------ */

struct cg_event *cg_mu_push(struct cg_event_list *out)
{
	struct cg_event *e = cg_event_list_push(out);
	if (!e)
		return NULL;
	e->labels = cJSON_CreateObject();
	e->annotations = cJSON_CreateObject();
	e->links = cJSON_CreateObject();
	if (!e->labels || !e->annotations || !e->links)
		return NULL; /* the caller's cleanup frees what was made */
	return e;
}

int cg_mu_dup(char **field, const char *s)
{
	free(*field);
	*field = cg_strdup0(s);
	return s && !*field ? CG_ENOMEM : 0;
}

int cg_mu_set(cJSON *obj, const char *key, const char *s)
{
	if (!s || !*s || cJSON_GetObjectItemCaseSensitive(obj, key))
		return 0;
	return cJSON_AddStringToObject(obj, key, s) ? 0 : CG_ENOMEM;
}

int cg_mu_label(cJSON *labels, const char *key, const char *value)
{
	return key && *key ? cg_mu_set(labels, key, value) : 0;
}

int cg_mu_labels_from(cJSON *labels, const cJSON *src)
{
	const cJSON *it;
	if (!cJSON_IsObject(src))
		return 0;
	cJSON_ArrayForEach(it, src)
	{
		if (cJSON_IsString(it)) {
			int rc = cg_mu_label(labels, it->string, it->valuestring);
			if (rc)
				return rc;
		}
	}
	return 0;
}

/* 1 when the comma-separated list holds val (the same tag given twice, e.g. in scope and tags). */
static int has_value(const char *list, const char *val)
{
	size_t n = strlen(val);
	for (const char *p = list; *p;) {
		size_t len = strcspn(p, ",");
		if (len == n && memcmp(p, val, n) == 0)
			return 1;
		p += len;
		if (*p == ',')
			p++;
	}
	return 0;
}

/* One tag (not NUL-terminated, untrimmed) into labels and list. */
static int one_tag(cJSON *labels, cJSON *list, const char *p, size_t n)
{
	while (n && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) {
		p++;
		n--;
	}
	while (n && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\n' || p[n - 1] == '\r'))
		n--;
	if (!n)
		return 0;
	char *tag = malloc(n + 1);
	if (!tag)
		return CG_ENOMEM;
	memcpy(tag, p, n);
	tag[n] = '\0';
	int rc = 0;
	if (list && !cJSON_AddItemToArray(list, cJSON_CreateString(tag)))
		rc = CG_ENOMEM;
	char *colon = strchr(tag, ':');
	if (!rc && colon && colon != tag && colon[1]) {
		*colon = '\0';
		const char *val = colon + 1;
		cJSON *old = cJSON_GetObjectItemCaseSensitive(labels, tag);
		if (!old) {
			rc = cJSON_AddStringToObject(labels, tag, val) ? 0 : CG_ENOMEM;
		} else if (cJSON_IsString(old) && !has_value(old->valuestring, val)) {
			/* Several values of one key (two service: tags): keep them all, in order. */
			struct cg_sbuf b = {0};
			cg_sbuf_add(&b, old->valuestring);
			cg_sbuf_add(&b, ",");
			cg_sbuf_add(&b, val);
			char *joined = cg_sbuf_take(&b);
			cJSON *nv = joined ? cJSON_CreateString(joined) : NULL;
			free(joined);
			if (!nv || !cJSON_ReplaceItemInObjectCaseSensitive(labels, tag, nv)) {
				cJSON_Delete(nv);
				rc = CG_ENOMEM;
			}
		}
	}
	free(tag);
	return rc;
}

int cg_mu_tags_text(cJSON *labels, cJSON *list, const char *text)
{
	int rc = 0;
	const char *p = text ? text : "";
	while (*p && !rc) {
		size_t n = strcspn(p, ",");
		rc = one_tag(labels, list, p, n);
		p += n;
		if (*p == ',')
			p++;
	}
	return rc;
}

int cg_mu_tags(cJSON *labels, cJSON *list, const cJSON *tags)
{
	int rc = 0;
	if (cJSON_IsString(tags)) {
		rc = cg_mu_tags_text(labels, list, tags->valuestring);
	} else if (cJSON_IsArray(tags)) {
		const cJSON *it;
		cJSON_ArrayForEach(it, tags)
		{
			if (cJSON_IsString(it) &&
			    (rc = one_tag(labels, list, it->valuestring, strlen(it->valuestring))))
				break;
		}
	}
	return rc;
}

int cg_mu_is_http(const char *url)
{
	return url && (strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0);
}

int cg_mu_link(cJSON *links, const char *name, const char *url)
{
	if (!url || !*url)
		return 0;
	/* Links end up clickable in the case; anything but http(s) (javascript:, data:) is not worth the risk. */
	if (!cg_mu_is_http(url))
		return 0;
	if (cJSON_GetObjectItemCaseSensitive(links, name))
		return 0;
	return cJSON_AddStringToObject(links, name, url) ? 0 : CG_ENOMEM;
}

int cg_mu_link_take(cJSON *links, const char *name, struct cg_sbuf *b)
{
	char *url = cg_sbuf_take(b);
	if (!url)
		return CG_ENOMEM;
	int rc = cg_mu_link(links, name, url);
	free(url);
	return rc;
}

int cg_mu_describe(struct cg_event *e, struct cg_sbuf *b)
{
	cg_mu_links_md(b, e->links);
	e->description = cg_sbuf_take(b);
	return e->title && e->description ? 0 : CG_ENOMEM;
}

int cg_mu_finish(struct cg_event *e, struct cg_sbuf *b, const cJSON *alert, const cJSON *payload)
{
	int rc = cg_mu_describe(e, b);
	return rc ? rc : cg_event_build_ctx(e, alert, payload);
}

int cg_mu_ctx_put(cJSON *ctx, const char *key, const cJSON *val)
{
	cJSON *d = cJSON_Duplicate(val, 1);
	if (!d)
		return CG_ENOMEM;
	cJSON_DeleteItemFromObjectCaseSensitive(ctx, key);
	if (!cJSON_AddItemToObject(ctx, key, d)) {
		cJSON_Delete(d);
		return CG_ENOMEM;
	}
	return 0;
}

/* ---- text ---------------------------------------------------------------------------------------- */

static const char *link_label(const char *name)
{
	static const char *const names[][2] = {
		{"generator", "Source"}, {"runbook", "Runbook"}, {"dashboard", "Dashboard"},
		{"panel", "Panel"},      {"silence", "Silence"}, {"image", "Image"},
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(names[i][0], name) == 0)
			return names[i][1];
	return name;
}

void cg_mu_links_md(struct cg_sbuf *b, const cJSON *links)
{
	const cJSON *it;
	int first = 1;
	cJSON_ArrayForEach(it, links)
	{
		if (!cJSON_IsString(it))
			continue;
		cg_sbuf_add(b, first ? "**Links:** " : " · ");
		cg_md_link(b, link_label(it->string), it->valuestring);
		first = 0;
	}
	if (!first)
		cg_sbuf_add(b, "\n");
}

static int cmp_member(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
	return strcmp(x->string, y->string);
}

void cg_mu_pairs_md(struct cg_sbuf *b, const char *heading, const cJSON *obj)
{
	size_t n = 0, i = 0;
	const cJSON *it;
	if (!cJSON_IsObject(obj))
		return;
	cJSON_ArrayForEach(it, obj) n +=
	    (cJSON_IsString(it) && it->valuestring[0]) || cJSON_IsNumber(it) || cJSON_IsBool(it);
	if (!n)
		return;
	const cJSON **v = malloc(n * sizeof(*v));
	if (!v) {
		b->oom = 1;
		return;
	}
	cJSON_ArrayForEach(it, obj) if ((cJSON_IsString(it) && it->valuestring[0]) || cJSON_IsNumber(it) ||
	                                cJSON_IsBool(it)) v[i++] = it;
	qsort(v, n, sizeof(*v), cmp_member);
	cg_sbuf_addf(b, "**%s:**\n", heading); /* casegate's heading */
	for (i = 0; i < n; i++) {
		if (cJSON_IsString(v[i]))
			cg_md_addf(b, "- %s: %s\n", v[i]->string, v[i]->valuestring);
		else if (cJSON_IsNumber(v[i]))
			cg_md_addf(b, "- %s: %.15g\n", v[i]->string, v[i]->valuedouble);
		else
			cg_md_addf(b, "- %s: %s\n", v[i]->string, cJSON_IsTrue(v[i]) ? "true" : "false");
	}
	cg_sbuf_add(b, "\n");
	free(v);
}

void cg_mu_rows_md(struct cg_sbuf *b, const cJSON *o, const char *const rows[][2], size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *v = cg_mu_str(o, rows[i][0]);
		if (v)
			cg_md_addf(b, "**%s:** %s\n", rows[i][1], v);
	}
}

int cg_mu_join(struct cg_sbuf *b, const cJSON *arr, const char *sep)
{
	int n = 0;
	const cJSON *it;
	if (!cJSON_IsArray(arr))
		return 0;
	cJSON_ArrayForEach(it, arr)
	{
		if (!cJSON_IsString(it) || !it->valuestring[0])
			continue;
		if (n++)
			cg_sbuf_add(b, sep);
		cg_sbuf_add(b, it->valuestring);
	}
	return n;
}

char *cg_mu_word(const char *s)
{
	char *w = cg_strdup0(s);
	for (char *p = w; p && *p; p++) {
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
		else if (*p == ' ')
			*p = '_';
	}
	return w;
}

size_t cg_mu_utf8_chars(const char *s)
{
	size_t n = 0, len = strlen(s);
	for (size_t i = 0; i < len; n++) {
		uint32_t cp;
		size_t k = cg_utf8_decode((const unsigned char *)s + i, len - i, &cp);
		i += k ? k : 1;
	}
	return n;
}

char *cg_mu_cut_chars(const char *s, size_t max, int *cut)
{
	size_t i = 0, n = 0, len = strlen(s);
	while (i < len && n < max) {
		uint32_t cp;
		size_t k = cg_utf8_decode((const unsigned char *)s + i, len - i, &cp);
		i += k ? k : 1;
		n++;
	}
	if (cut)
		*cut = i < len;
	char *out = malloc(i + 1);
	if (out) {
		memcpy(out, s, i);
		out[i] = '\0';
	}
	return out;
}

int cg_mu_content_key(const char *prefix, const char *const fields[], size_t n, char **out)
{
	struct cg_sbuf b = {0};
	for (size_t i = 0; i < n; i++) {
		const char *f = fields[i] ? fields[i] : "";
		cg_sbuf_addf(&b, "%zu:", strlen(f));
		cg_sbuf_add(&b, f);
		cg_sbuf_add(&b, "\n");
	}
	char *text = cg_sbuf_take(&b);
	if (!text)
		return CG_ENOMEM;
	char hex[65];
	int rc = cg_sha256_hex_r(text, strlen(text), hex);
	free(text);
	if (rc)
		return rc;
	cg_sbuf_addf(&b, "%s%.32s", prefix ? prefix : "", hex);
	*out = cg_sbuf_take(&b);
	return *out ? 0 : CG_ENOMEM;
}

char *cg_mu_first_line(const char *s, size_t max)
{
	if (!s)
		return NULL;
	while (*s == '\n' || *s == '\r' || *s == ' ')
		s++;
	size_t n = strcspn(s, "\r\n");
	char *t = malloc(n + 1);
	if (!t)
		return NULL;
	memcpy(t, s, n);
	t[n] = '\0';
	cg_utf8_truncate(t, max);
	return t;
}
