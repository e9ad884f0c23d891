/* ddanswer.c: reading Datadog's Case API answers: cases, searches, custom attribute definitions, errors. */
#include "ddanswer.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "event.h"

static void copy_str(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

/* Digits at *p (exactly n of them) as a number; -1 when they are not there. */
static int digits(const char **p, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	return v;
}

int64_t cg_dd_parse_time(const char *s)
{
	if (!s)
		return 0;
	const char *p = s;
	struct tm tm = {0};
	int y = digits(&p, 4);
	if (y < 1970 || *p++ != '-')
		return 0;
	int mo = digits(&p, 2);
	if (mo < 1 || mo > 12 || *p++ != '-')
		return 0;
	int d = digits(&p, 2);
	if (d < 1 || d > 31 || (*p != 'T' && *p != 't' && *p != ' '))
		return 0;
	p++;
	int h = digits(&p, 2);
	if (h < 0 || h > 23 || *p++ != ':')
		return 0;
	int mi = digits(&p, 2);
	if (mi < 0 || mi > 59 || *p++ != ':')
		return 0;
	int se = digits(&p, 2);
	if (se < 0 || se > 60)
		return 0;
	int ms = 0;
	if (*p == '.') {
		p++;
		int k = 0;
		while (isdigit((unsigned char)*p)) {
			if (k < 3)
				ms = ms * 10 + (*p - '0');
			k++;
			p++;
		}
		if (k == 0)
			return 0;
		for (; k < 3; k++)
			ms *= 10;
	}
	long off = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1;
		p++;
		int oh = digits(&p, 2);
		if (oh < 0 || *p++ != ':')
			return 0;
		int om = digits(&p, 2);
		if (om < 0)
			return 0;
		off = sign * (oh * 3600L + om * 60L);
	} else {
		return 0;
	}
	if (*p)
		return 0;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	time_t t = timegm(&tm);
	if (t == (time_t)-1)
		return 0;
	return ((int64_t)t - off) * 1000 + ms;
}

static int priority_of(const char *p)
{
	if (!p)
		return -1;
	if (strcmp(p, "NOT_DEFINED") == 0)
		return 0;
	if (p[0] == 'P' && p[1] >= '1' && p[1] <= '5' && p[2] == '\0')
		return p[1] - '0';
	return -1;
}

int cg_dd_case_view_parse(const cJSON *item, struct cg_dd_case_view *out)
{
	const char *id = cg_json_str(item, "id");
	if (!id || !*id)
		return CG_EINVAL;
	struct cg_dd_case_view v;
	memset(&v, 0, sizeof(v));
	copy_str(v.id, sizeof(v.id), id);
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(item, "attributes");
	copy_str(v.key, sizeof(v.key), cg_json_str(a, "key"));
	copy_str(v.project_id, sizeof(v.project_id), cg_json_str(item, "relationships.project.data.id"));
	const char *status = cg_json_str(a, "status");
	const char *group = cg_json_str(a, "status_group");
	/* status_group names the family of a custom status ("Resolved" is in SG_CLOSED); the legacy
	 * status is CLOSED for every closed one. Either says closed. */
	v.closed = (status && strcmp(status, "CLOSED") == 0) || (group && strcmp(group, "SG_CLOSED") == 0);
	const cJSON *arch = cJSON_GetObjectItemCaseSensitive(a, "archived_at");
	v.archived = arch && !cJSON_IsNull(arch);
	v.priority = priority_of(cg_json_str(a, "priority"));
	v.created_ms = cg_dd_parse_time(cg_json_str(a, "created_at"));
	v.closed_ms = cg_dd_parse_time(cg_json_str(a, "closed_at"));
	*out = v;
	return 0;
}

int cg_dd_answer_case(const char *body, size_t len, struct cg_dd_case_view *out)
{
	if (!body || !len)
		return CG_EINVAL;
	cJSON *doc = cJSON_ParseWithLength(body, len);
	if (!doc)
		return CG_EINVAL;
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(doc, "data");
	int rc = cJSON_IsObject(data) ? cg_dd_case_view_parse(data, out) : CG_EINVAL;
	cJSON_Delete(doc);
	return rc;
}

/* 1 when the case item carries marker in its description or in custom attribute attr_key. */
static int carries(const cJSON *item, const char *marker, const char *attr_key)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(item, "attributes");
	const char *desc = cg_json_str(a, "description");
	if (desc && strstr(desc, marker))
		return 1;
	if (!attr_key)
		return 0;
	const cJSON *ca = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(a, "custom_attributes"),
							   attr_key);
	const cJSON *val = cJSON_GetObjectItemCaseSensitive(ca, "value");
	if (cJSON_IsString(val))
		return strcmp(val->valuestring, marker) == 0;
	const cJSON *e;
	cJSON_ArrayForEach(e, val)
	{
		if (cJSON_IsString(e) && strcmp(e->valuestring, marker) == 0)
			return 1;
	}
	return 0;
}

/* The document of an answer whose data is a list (a search, a listing); NULL when it is not one. */
static cJSON *parse_list(const char *body, size_t len, const cJSON **data)
{
	cJSON *doc = cJSON_ParseWithLength(body, len);
	*data = cJSON_GetObjectItemCaseSensitive(doc, "data");
	if (!cJSON_IsArray(*data)) {
		cJSON_Delete(doc);
		return NULL;
	}
	return doc;
}

int cg_dd_answer_find_marker(const char *body, size_t len, const char *marker, const char *attr_key,
			     const char *project_id, struct cg_dd_case_view *out, int64_t *oldest_ms)
{
	if (oldest_ms)
		*oldest_ms = 0;
	if (!body || !len || !marker || !*marker)
		return CG_EINVAL;
	const cJSON *data;
	cJSON *doc = parse_list(body, len, &data);
	if (!doc)
		return CG_EINVAL;
	int found = 0;
	int64_t oldest = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, data)
	{
		struct cg_dd_case_view v;
		if (cg_dd_case_view_parse(it, &v) != 0)
			continue;
		if (v.created_ms && (!oldest || v.created_ms < oldest))
			oldest = v.created_ms;
		if (found || !carries(it, marker, attr_key))
			continue;
		if (project_id && *project_id && v.project_id[0] && strcmp(v.project_id, project_id) != 0)
			continue;
		*out = v;
		found = 1;
	}
	cJSON_Delete(doc);
	if (oldest_ms)
		*oldest_ms = oldest;
	return found;
}

static const char *const ca_kind_names[] = {
	[CG_DD_CA_UNKNOWN] = "UNKNOWN", [CG_DD_CA_TEXT] = "TEXT",     [CG_DD_CA_URL] = "URL",
	[CG_DD_CA_NUMBER] = "NUMBER",   [CG_DD_CA_SELECT] = "SELECT",
};

enum cg_dd_ca_kind cg_dd_ca_kind_parse(const char *s)
{
	for (int k = CG_DD_CA_TEXT; s && k <= CG_DD_CA_SELECT; k++)
		if (strcmp(s, ca_kind_names[k]) == 0)
			return (enum cg_dd_ca_kind)k;
	return CG_DD_CA_UNKNOWN;
}

const char *cg_dd_ca_kind_name(enum cg_dd_ca_kind k)
{
	return k >= CG_DD_CA_UNKNOWN && k <= CG_DD_CA_SELECT ? ca_kind_names[k] : "UNKNOWN";
}

int cg_dd_answer_ca_defs(const char *body, size_t len, struct cg_dd_ca_def **out, size_t *n)
{
	if (!body || !len)
		return CG_EINVAL;
	const cJSON *data;
	cJSON *doc = parse_list(body, len, &data);
	if (!doc)
		return CG_EINVAL;
	size_t cap = (size_t)cJSON_GetArraySize(data), k = 0;
	struct cg_dd_ca_def *v = cap ? calloc(cap, sizeof(*v)) : NULL;
	if (cap && !v) {
		cJSON_Delete(doc);
		return CG_ENOMEM;
	}
	const cJSON *it;
	cJSON_ArrayForEach(it, data)
	{
		const cJSON *a = cJSON_GetObjectItemCaseSensitive(it, "attributes");
		const char *key = cg_json_str(a, "key");
		if (!key || !*key || strlen(key) >= sizeof(v[k].key))
			continue;
		copy_str(v[k].key, sizeof(v[k].key), key);
		v[k].type = cg_dd_ca_kind_parse(cg_json_str(a, "type"));
		v[k].is_multi = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "is_multi"));
		k++;
	}
	cJSON_Delete(doc);
	if (!k) {
		free(v);
		v = NULL;
	}
	*out = v;
	*n = k;
	return 0;
}

/* Appends text to buf (at *pos), control characters as spaces. */
static void put_clean(char *buf, size_t buflen, size_t *pos, const char *text, size_t n)
{
	for (size_t i = 0; i < n && *pos + 1 < buflen; i++) {
		unsigned char c = (unsigned char)text[i];
		buf[(*pos)++] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
	}
	buf[*pos] = '\0';
}

void cg_dd_answer_error(const char *body, size_t len, char *buf, size_t buflen)
{
	if (!buf || !buflen)
		return;
	buf[0] = '\0';
	size_t pos = 0;
	cJSON *doc = body && len ? cJSON_ParseWithLength(body, len) : NULL;
	const cJSON *errs = cJSON_GetObjectItemCaseSensitive(doc, "errors");
	const cJSON *e;
	cJSON_ArrayForEach(e, errs)
	{
		const char *text = NULL, *detail = NULL;
		if (cJSON_IsString(e)) {
			text = e->valuestring;
		} else if (cJSON_IsObject(e)) {
			text = cg_json_str(e, "title");
			detail = cg_json_str(e, "detail");
			if (!text)
				text = cg_json_str(e, "status");
		}
		if (!text && !detail)
			continue;
		if (pos)
			put_clean(buf, buflen, &pos, "; ", 2);
		if (text)
			put_clean(buf, buflen, &pos, text, strlen(text));
		if (text && detail)
			put_clean(buf, buflen, &pos, ": ", 2);
		if (detail)
			put_clean(buf, buflen, &pos, detail, strlen(detail));
	}
	cJSON_Delete(doc);
	if (!pos && body && len)
		put_clean(buf, buflen, &pos, body, len > 400 ? 400 : len);
}
