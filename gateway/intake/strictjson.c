/* strictjson.c: a webhook body parsed so it means one thing: what cJSON would resolve silently (a NUL, data after the value, a key twice) is refused. */
#include "strictjson.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * What cJSON would let through silently: a NUL byte, or a \u0000 escape inside a string
 * (the C string ends there: the rest of the value is lost). 0, or 400 with msg.
 */
static int json_nul_check(const char *b, size_t len, char *msg, size_t msglen)
{
	const char *nul = memchr(b, '\0', len);
	if (nul) {
		snprintf(msg, msglen, "invalid JSON: NUL byte at byte %zu", (size_t)(nul - b));
		return 400;
	}
	int in_str = 0;
	for (size_t i = 0; i < len; i++) {
		char ch = b[i];
		if (!in_str) {
			in_str = ch == '"';
			continue;
		}
		if (ch == '"') {
			in_str = 0;
		} else if (ch == '\\' && i + 1 < len) {
			if (b[i + 1] == 'u' && i + 5 < len && memcmp(b + i + 2, "0000", 4) == 0) {
				snprintf(msg, msglen, "invalid JSON: \\u0000 (NUL) in a string at byte %zu", i);
				return 400;
			}
			i++; /* the escaped character (an escaped quote does not end the string) */
		}
	}
	return 0;
}

struct dup_walk {
	char path[256];
	size_t plen;
	char *msg;
	size_t msglen;
};

static int key_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Appends a path step, cut (with "...") when the path grows past its buffer. */
static void path_push(struct dup_walk *w, const char *fmt_key, int idx)
{
	size_t cap = sizeof(w->path);
	int n = fmt_key ? snprintf(w->path + w->plen, cap - w->plen, ".%.40s", fmt_key)
			: snprintf(w->path + w->plen, cap - w->plen, "[%d]", idx);
	if (n < 0 || (size_t)n >= cap - w->plen) {
		/* Too deep to name in full: "..." ends it, and deeper steps add nothing. */
		memcpy(w->path + cap - 4, "...", 4);
		w->plen = cap - 1;
	} else {
		w->plen += (size_t)n;
	}
}

/*
 * Duplicate member names: cJSON keeps both, and which one a reader sees depends on how it
 * looks (the first by name, the last when iterating): the same payload would mean two
 * things. 0, or 400 with msg naming the key and where it is.
 */
static int json_dup_check(const cJSON *v, struct dup_walk *w)
{
	if (!cJSON_IsObject(v) && !cJSON_IsArray(v))
		return 0;
	size_t n = 0;
	for (const cJSON *c = v->child; c; c = c->next)
		n++;
	if (cJSON_IsObject(v) && n > 1) {
		const char *stack_keys[16];
		const char **keys = n <= 16 ? stack_keys : malloc(n * sizeof(*keys));
		if (!keys) {
			snprintf(w->msg, w->msglen, "out of memory");
			return 500;
		}
		size_t k = 0;
		for (const cJSON *c = v->child; c; c = c->next)
			keys[k++] = c->string ? c->string : "";
		qsort(keys, n, sizeof(*keys), key_cmp);
		const char *dup = NULL;
		for (size_t i = 1; i < n && !dup; i++)
			if (strcmp(keys[i - 1], keys[i]) == 0)
				dup = keys[i];
		int rc = 0;
		if (dup) {
			snprintf(w->msg, w->msglen, "invalid JSON: duplicate key \"%.64s\" in %s", dup,
				 w->plen ? w->path : "$");
			rc = 400;
		}
		if (keys != stack_keys)
			free(keys);
		if (rc)
			return rc;
	}
	int idx = 0;
	for (const cJSON *c = v->child; c; c = c->next, idx++) {
		size_t saved = w->plen;
		if (w->plen == 0)
			w->plen = (size_t)snprintf(w->path, sizeof(w->path), "$");
		path_push(w, cJSON_IsObject(v) ? (c->string ? c->string : "") : NULL, idx);
		int rc = json_dup_check(c, w);
		w->plen = saved;
		w->path[saved] = '\0';
		if (rc)
			return rc;
	}
	return 0;
}

cJSON *cg_strictjson_parse(const char *body, size_t len, int *status, char *msg, size_t msglen)
{
	const char *end = NULL;
	*status = json_nul_check(body, len, msg, msglen);
	if (*status)
		return NULL;
	cJSON *v = cJSON_ParseWithLengthOpts(body, len, &end, 0);
	if (!v) {
		size_t off = end && end >= body ? (size_t)(end - body) : 0;
		*status = 400;
		snprintf(msg, msglen, "invalid JSON near byte %zu", off);
		return NULL;
	}
	size_t used = end && end >= body ? (size_t)(end - body) : len;
	while (used < len && (body[used] == ' ' || body[used] == '\t' || body[used] == '\r' || body[used] == '\n'))
		used++;
	if (used < len) {
		*status = 400;
		snprintf(msg, msglen, "invalid JSON: data after the JSON value at byte %zu", used);
	} else {
		struct dup_walk dw = {.msg = msg, .msglen = msglen};
		*status = json_dup_check(v, &dw);
	}
	if (*status) {
		cJSON_Delete(v);
		return NULL;
	}
	return v;
}
