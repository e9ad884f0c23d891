/* pagingapi.c: the PagerDuty Events API v2 and Opsgenie Alert API dialects: routes, the key that picks a source, the mappers' envelope and answers shaped like the real APIs'. */
#include "pagingapi.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/rand.h>

#include "auth.h"

enum cg_paging_api cg_paging_source_api(const struct cg_source_config *src)
{
	if (!src || !src->type)
		return CG_PAGING_NONE;
	if (strcmp(src->type, "pagerduty_events") == 0)
		return CG_PAGING_PD;
	if (strcmp(src->type, "opsgenie_alerts") == 0)
		return CG_PAGING_OG;
	return CG_PAGING_NONE;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes n bytes of s into out; 0, or -1 when it does not fit or holds a bad escape,
 * a NUL or a control byte. */
static int pct_decode(const char *s, size_t n, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];
		if (c == '%') {
			if (i + 2 >= n)
				return -1;
			int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = hi * 16 + lo;
			i += 2;
		}
		if (c < 0x20 || c == 0x7f || o + 1 >= cap)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

/* The Opsgenie actions on one alert: the path's last segment, the method it takes, the
 * action the mapper reads. */
static const struct {
	const char *seg, *method, *action;
} og_actions[] = {
	{"close", "POST", "close"},
	{"acknowledge", "POST", "acknowledge"},
	{"unacknowledge", "POST", "unacknowledge"},
	{"notes", "POST", "note"},
	{"snooze", "POST", "snooze"},
	{"escalate", "POST", "escalate"},
	{"assign", "POST", "assign"},
	{"tags", "POST", "tags"},
	{"details", "POST", "details"},
	{"message", "PUT", "message"},
	{"description", "PUT", "description"},
	{"priority", "PUT", "priority"},
};

static int refuse(struct cg_paging_route *r, int status, const char *why)
{
	r->status = status;
	snprintf(r->why, sizeof(r->why), "%s", why);
	return 1;
}

static int og_route(const char *method, const char *rest, const struct cg_http_request *req,
		    struct cg_paging_route *r)
{
	r->api = CG_PAGING_OG;
	/* rest: "" or "/" (create), or "/{identifier}[/{action}]" */
	if (rest[0] == '\0' || strcmp(rest, "/") == 0) {
		r->action = "create";
		return strcmp(method, "POST") == 0 ? 1 : refuse(r, 405, "method not allowed: POST /v2/alerts creates an alert");
	}
	const char *id = rest + 1;
	size_t idlen = strcspn(id, "/");
	const char *seg = id + idlen;
	if (idlen == 0 || pct_decode(id, idlen, r->identifier, sizeof(r->identifier)) != 0)
		return refuse(r, 404, "not found: no such alert identifier");
	snprintf(r->id_type, sizeof(r->id_type), "id");
	if (req) {
		char t[16];
		if (cg_http_query_get(req, "identifierType", t, sizeof(t)) == 0) {
			if (strcmp(t, "id") != 0 && strcmp(t, "alias") != 0 && strcmp(t, "tiny") != 0)
				return refuse(r, 422, "identifierType must be one of id, alias, tiny");
			memcpy(r->id_type, t, strlen(t) + 1); /* at most "alias" */
		}
	}
	if (seg[0] == '\0' || strcmp(seg, "/") == 0) {
		if (strcmp(method, "DELETE") == 0) {
			r->action = "delete";
			return 1;
		}
		return refuse(r, 405, "method not allowed: casegate answers DELETE on an alert, not GET");
	}
	seg++;
	size_t slen = strcspn(seg, "/");
	if (seg[slen] != '\0' && strcmp(seg + slen, "/") != 0)
		return refuse(r, 404, "not found: no such alert action");
	for (size_t i = 0; i < sizeof(og_actions) / sizeof(og_actions[0]); i++) {
		if (strlen(og_actions[i].seg) != slen || strncmp(seg, og_actions[i].seg, slen) != 0)
			continue;
		r->action = og_actions[i].action;
		/* Opsgenie takes POST for most actions and PUT for the updates; be lenient with both. */
		if (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0)
			return 1;
		return refuse(r, 405, "method not allowed");
	}
	return refuse(r, 404, "not found: no such alert action");
}

int cg_paging_route(const char *method, const char *path, const struct cg_http_request *req,
		    struct cg_paging_route *r)
{
	memset(r, 0, sizeof(*r));
	const char *p = path;
	if (strncmp(p, "/hooks/", 7) == 0) {
		const char *name = p + 7;
		size_t n = strcspn(name, "/");
		if (n == 0 || strncmp(name + n, "/v2/", 4) != 0)
			return 0;
		r->source = name;
		r->source_len = n;
		p = name + n;
	}
	if (strncmp(p, "/v2/", 4) != 0)
		return 0;
	const char *rest = p + 4;
	if (strcmp(rest, "enqueue") == 0 || strcmp(rest, "enqueue/") == 0) {
		r->api = CG_PAGING_PD;
		return strcmp(method, "POST") == 0 ? 1 : refuse(r, 405, "method not allowed: use POST");
	}
	if (strcmp(rest, "change/enqueue") == 0 || strcmp(rest, "change/enqueue/") == 0) {
		r->api = CG_PAGING_PD_CHANGE;
		return strcmp(method, "POST") == 0 ? 1 : refuse(r, 405, "method not allowed: use POST");
	}
	if (strncmp(rest, "alerts", 6) == 0 && (rest[6] == '\0' || rest[6] == '/'))
		return og_route(method, rest + 6, req, r);
	r->api = CG_PAGING_NONE;
	return refuse(r, 404, "not found");
}

const struct cg_source_config *cg_paging_source_for_key(const struct cg_config *cfg, enum cg_paging_api api,
							 const char *name, size_t name_len, const char *key,
							 size_t key_len, size_t *idx)
{
	enum cg_paging_api want = api == CG_PAGING_PD_CHANGE ? CG_PAGING_PD : api;
	const struct cg_source_config *hit = NULL;
	for (size_t i = 0; i < cfg->nsources; i++) {
		const struct cg_source_config *s = &cfg->sources[i];
		if (cg_paging_source_api(s) != want)
			continue;
		const char *k = want == CG_PAGING_PD ? s->routing_key : s->genie_key;
		/* Every candidate is compared: the time taken does not tell which one matched. */
		int eq = k && key && cg_secret_equal(key, key_len, k, strlen(k));
		int named_ok = !name || (strlen(s->name) == name_len && memcmp(s->name, name, name_len) == 0);
		if (eq && named_ok && !hit) {
			hit = s;
			*idx = i;
		}
	}
	return hit;
}

int cg_paging_key_shape_pd(const char *k)
{
	int bad = strlen(k) != 32 ? CG_PAGING_KEY_LENGTH : 0;
	for (const char *p = k; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
			bad |= CG_PAGING_KEY_CHARS;
	return bad;
}

int cg_paging_key_shape_og(const char *k)
{
	if (strlen(k) != 36)
		return -1;
	for (size_t i = 0; i < 36; i++) {
		int dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? k[i] != '-' : hexval(k[i]) < 0)
			return -1;
	}
	return 0;
}

const char *cg_paging_genie_key(const char *h, size_t *len)
{
	if (!h)
		return NULL;
	while (*h == ' ' || *h == '\t')
		h++;
	if (strncasecmp(h, "GenieKey", 8) != 0 || (h[8] != ' ' && h[8] != '\t'))
		return NULL;
	h += 8;
	while (*h == ' ' || *h == '\t')
		h++;
	size_t n = strlen(h);
	while (n && (h[n - 1] == ' ' || h[n - 1] == '\t'))
		n--;
	if (!n)
		return NULL;
	*len = n;
	return h;
}

cJSON *cg_paging_envelope(const struct cg_paging_route *r, cJSON *body)
{
	if (r->api == CG_PAGING_PD) {
		if (body)
			cJSON_DeleteItemFromObjectCaseSensitive(body, "routing_key");
		return body;
	}
	cJSON *env = cJSON_CreateObject();
	if (!env || !cJSON_AddStringToObject(env, "action", r->action ? r->action : "create")) {
		cJSON_Delete(env);
		cJSON_Delete(body);
		return NULL;
	}
	if (r->identifier[0] && (!cJSON_AddStringToObject(env, "identifier", r->identifier) ||
				 !cJSON_AddStringToObject(env, "identifierType", r->id_type))) {
		cJSON_Delete(env);
		cJSON_Delete(body);
		return NULL;
	}
	if (!body)
		body = cJSON_CreateObject();
	if (!body || !cJSON_AddItemToObject(env, "request", body)) {
		cJSON_Delete(body);
		cJSON_Delete(env);
		return NULL;
	}
	return env;
}

/* ---------------------------------------------------------------- answers */

/* The messages of casegate's {"errors":[...]} body, as a new array (empty when none). */
static cJSON *errors_of(const cJSON *ours)
{
	cJSON *out = cJSON_CreateArray();
	const cJSON *e, *errs = cJSON_GetObjectItemCaseSensitive(ours, "errors");
	cJSON_ArrayForEach(e, errs)
	{
		if (cJSON_IsString(e))
			cJSON_AddItemToArray(out, cJSON_CreateString(e->valuestring));
	}
	return out;
}

static void emit(cJSON *o, char **out, size_t *outlen)
{
	char *text = o ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	if (!text)
		return; /* casegate's own body goes out instead */
	*outlen = strlen(text);
	*out = text;
}

/* The dedup key to hand back: the sender's (or the generated) key of the first event. */
static const char *answer_key(const cJSON *ours)
{
	const cJSON *ev = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(ours, "events"), 0);
	const cJSON *k = cJSON_GetObjectItemCaseSensitive(ev, "sender_key");
	return cJSON_IsString(k) ? k->valuestring : NULL;
}

void cg_paging_reshape_pd(const struct cg_http_request *req, int *status, const char *body, size_t len, char **out,
			  size_t *outlen)
{
	cJSON *ours = body && len ? cJSON_ParseWithLength(body, len) : NULL;
	cJSON *o = cJSON_CreateObject();
	int st = *status;
	int change = strstr(req->path, "/v2/change/") != NULL;
	if (st == 200 || st == 202) {
		/* Accepted (or a redelivery, or nothing to do): PagerDuty answers 202 alike. */
		*status = 202;
		cJSON_AddStringToObject(o, "status", "success");
		cJSON_AddStringToObject(o, "message", change ? "Change event processed" : "Event processed");
		const char *k = answer_key(ours);
		if (!change && k)
			cJSON_AddStringToObject(o, "dedup_key", k);
	} else if (st == 429) {
		cJSON_AddStringToObject(o, "status", "throttle event");
		cJSON_AddStringToObject(o, "message", "Requests for this service are arriving too quickly.  Please retry later.");
		cJSON_AddItemToObject(o, "errors", errors_of(ours));
	} else if (st >= 500) {
		cJSON_AddStringToObject(o, "status", "unavailable");
		cJSON_AddStringToObject(o, "message", "casegate cannot take the event now: retry later");
		cJSON_AddItemToObject(o, "errors", errors_of(ours));
	} else {
		/* Every other refusal is an invalid event to PagerDuty's senders (400: do not retry). */
		if (st == 401 || st == 403 || st == 422 || st == 415)
			*status = 400;
		cJSON_AddStringToObject(o, "status", "invalid event");
		cJSON_AddStringToObject(o, "message", "Event object is invalid");
		cJSON_AddItemToObject(o, "errors", errors_of(ours));
	}
	cJSON_Delete(ours);
	emit(o, out, outlen);
}

/* A request id like Opsgenie's (a random UUID, version 4). */
static void request_id(char out[37])
{
	unsigned char b[16];
	if (RAND_bytes(b, sizeof(b)) != 1)
		memset(b, 0, sizeof(b));
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3],
		 b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

/* Opsgenie names the field a validation error is about ({"message": "..."}): casegate's
 * "field: text" gives it, else the error is about the request. */
static cJSON *og_field_errors(const cJSON *ours)
{
	cJSON *o = cJSON_CreateObject();
	const cJSON *e, *errs = cJSON_GetObjectItemCaseSensitive(ours, "errors");
	cJSON_ArrayForEach(e, errs)
	{
		if (!cJSON_IsString(e))
			continue;
		const char *t = e->valuestring, *colon = strstr(t, ": ");
		size_t n = colon ? (size_t)(colon - t) : 0;
		char field[64] = "request";
		if (n > 0 && n < sizeof(field) && strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_.") == n) {
			memcpy(field, t, n);
			field[n] = '\0';
			t = colon + 2;
		}
		if (!cJSON_GetObjectItemCaseSensitive(o, field))
			cJSON_AddStringToObject(o, field, t);
	}
	return o;
}

void cg_paging_reshape_og(const struct cg_http_request *req, int *status, const char *body, size_t len, char **out,
			  size_t *outlen)
{
	(void)req;
	cJSON *ours = body && len ? cJSON_ParseWithLength(body, len) : NULL;
	cJSON *o = cJSON_CreateObject();
	char rid[37];
	request_id(rid);
	int st = *status;
	const cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(ours, "errors"), 0);
	const char *msg = cJSON_IsString(first) ? first->valuestring : "error";
	if (st == 200 || st == 202) {
		/* Opsgenie takes every valid request for later processing: 202 alike. */
		*status = 202;
		cJSON_AddStringToObject(o, "result", "Request will be processed");
	} else if (st == 401 || st == 403) {
		*status = 401;
		cJSON_AddStringToObject(o, "message", "Could not authenticate");
	} else if ((st == 400 || st == 422) && strcmp(msg, CG_PAGING_OG_BAD_KEY) != 0) {
		*status = 422;
		cJSON_AddStringToObject(o, "message", "Request body is not processable. Please check the errors.");
		cJSON_AddItemToObject(o, "errors", og_field_errors(ours));
	} else {
		cJSON_AddStringToObject(o, "message", msg);
	}
	cJSON_AddNumberToObject(o, "took", 0.001);
	cJSON_AddStringToObject(o, "requestId", rid);
	cJSON_Delete(ours);
	emit(o, out, outlen);
}
