/* srcutil.c: small helpers shared by the source mappers (ids, times, text). */
#include "srcutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "builder.h"
#include "err.h"

int cg_src_unexpanded(const char *s)
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

const char *cg_src_str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (!cJSON_IsString(v) || !v->valuestring[0] || cg_src_unexpanded(v->valuestring))
		return NULL;
	return v->valuestring;
}

const char *cg_src_id(const cJSON *o, const char *key, char *buf, size_t buflen)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (cJSON_IsString(v))
		return cg_src_str(o, key);
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || fabs(v->valuedouble) >= 1e17 ||
	    v->valuedouble != floor(v->valuedouble))
		return NULL;
	snprintf(buf, buflen, "%.0f", v->valuedouble);
	return buf;
}

int cg_src_ms_to_rfc3339(double ms, char *out, size_t outlen)
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

int cg_src_join(struct cg_sbuf *b, const cJSON *arr, const char *sep)
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

char *cg_src_word(const char *s)
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

int cg_src_set(cJSON *obj, const char *key, const char *s)
{
	if (!s || !*s || cJSON_GetObjectItemCaseSensitive(obj, key))
		return 0;
	return cJSON_AddStringToObject(obj, key, s) ? 0 : CG_ENOMEM;
}

int cg_src_ctx_put(cJSON *ctx, const char *key, const cJSON *val)
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

char *cg_src_first_line(const char *s, size_t max)
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
