/* maputil.c: small helpers shared by the SaaS mappers (datadog, sentry, azure, gcp, pagerduty, opsgenie). */
#include "maputil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "mdsafe.h"

const cJSON *cg_mu_get(const cJSON *o, const char *key)
{
	return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
}

const char *cg_mu_str(const cJSON *o, const char *dotted)
{
	const char *s = cg_json_str(o, dotted);
	return s && s[0] ? s : NULL;
}

const char *cg_mu_id(const cJSON *v, char *buf, size_t buflen)
{
	if (cJSON_IsString(v) && v->valuestring[0])
		return v->valuestring;
	/* Beyond 2^53 a double no longer holds every integer: such an "id" is not one we can print faithfully. */
	if (cJSON_IsNumber(v) && v->valuedouble > -9007199254740992.0 && v->valuedouble < 9007199254740992.0 &&
	    v->valuedouble == (double)(long long)v->valuedouble) {
		snprintf(buf, buflen, "%lld", (long long)v->valuedouble);
		return buf;
	}
	return NULL;
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

int cg_mu_label(cJSON *labels, const char *key, const char *value)
{
	if (!key || !*key || !value || !*value || cJSON_GetObjectItemCaseSensitive(labels, key))
		return 0;
	return cJSON_AddStringToObject(labels, key, value) ? 0 : CG_ENOMEM;
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
