/* values.c: the types of key-table rows: each value's parse (strings, names, numbers, durations, sizes, booleans, enums, templates, lists, paths, addresses, CIDRs, JSON) and its default. */

#include "cfgint.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <yaml.h>

#include "err.h"
#include "tmpl.h"

int cg_cfg_str(struct cg_cfg *c, yaml_node_t *n, const char *label, char **dst)
{
	char *s = cg_cfg_scalar(c, n, label, "a string", 0);
	if (!s)
		return -1;
	free(*dst);
	*dst = s;
	return 0;
}

/* A non-empty string without control characters (names, statuses, users). */
int cg_cfg_name(struct cg_cfg *c, yaml_node_t *n, const char *label, char **dst)
{
	char *s = cg_cfg_scalar(c, n, label, "a string", 0);
	if (!s)
		return -1;
	int ok = *s != '\0';
	for (const char *p = s; *p && ok; p++)
		ok = (unsigned char)*p >= 0x20 && *p != 0x7f;
	if (!ok) {
		cg_cfg_err(c, n, "%s: must be a non-empty string without control characters", label);
		free(s);
		return -1;
	}
	free(*dst);
	*dst = s;
	return 0;
}

static int parse_u64(const char **ps, uint64_t *out)
{
	const char *s = *ps;
	uint64_t v = 0;
	if (!isdigit((unsigned char)*s))
		return -1;
	for (; isdigit((unsigned char)*s); s++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*ps = s;
	*out = v;
	return 0;
}

/* A whole number, nothing after it. */
int cg_cfg_parse_uint(const char *s, uint64_t *out)
{
	return parse_u64(&s, out) || *s ? -1 : 0;
}

/* "1h30m", "500ms", "15s", "0". */
int cg_cfg_parse_duration(const char *s, uint64_t *ms)
{
	uint64_t total = 0;
	if (strcmp(s, "0") == 0) {
		*ms = 0;
		return 0;
	}
	if (!*s)
		return -1;
	while (*s) {
		uint64_t v, f;
		if (parse_u64(&s, &v))
			return -1;
		if (strncmp(s, "ms", 2) == 0) {
			f = 1;
			s += 2;
		} else if (*s == 's') {
			f = CG_MS_SECOND;
			s++;
		} else if (*s == 'm') {
			f = CG_MS_MINUTE;
			s++;
		} else if (*s == 'h') {
			f = CG_MS_HOUR;
			s++;
		} else if (*s == 'd') {
			f = CG_MS_DAY;
			s++;
		} else {
			return -1;
		}
		if (v > (UINT64_MAX - total) / f)
			return -1;
		total += v * f;
	}
	*ms = total;
	return 0;
}

/* "1048576", "1MiB", "16 KiB", "10MB". */
int cg_cfg_parse_size(const char *s, uint64_t *out)
{
	static const struct {
		const char *unit;
		uint64_t f;
	} units[] = {{"", 1},
		     {"B", 1},
		     {"KiB", 1024},
		     {"MiB", 1024 * 1024},
		     {"GiB", 1024 * 1024 * 1024},
		     {"KB", 1000},
		     {"MB", 1000 * 1000},
		     {"GB", 1000 * 1000 * 1000}};
	uint64_t v;
	if (parse_u64(&s, &v))
		return -1;
	while (*s == ' ')
		s++;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcasecmp(s, units[i].unit) == 0) {
			if (v > UINT64_MAX / units[i].f)
				return -1;
			*out = v * units[i].f;
			return 0;
		}
	}
	return -1;
}

int cg_cfg_uint(struct cg_cfg *c, yaml_node_t *n, const char *label, uint64_t min, uint64_t max, uint64_t *out)
{
	char b[80];
	char *s = cg_cfg_scalar(c, n, label, "a number", 0);
	if (!s)
		return -1;
	const char *p = s;
	uint64_t v;
	if (parse_u64(&p, &v) || *p || v < min || v > max) {
		cg_cfg_err(c, n, "%s: expected a whole number from %llu to %llu, got '%s'", label, (unsigned long long)min,
		       (unsigned long long)max, cg_cfg_disp(s, b, sizeof(b)));
		free(s);
		return -1;
	}
	free(s);
	*out = v;
	return 0;
}

int cg_cfg_duration(struct cg_cfg *c, yaml_node_t *n, const char *label, uint64_t min, uint64_t max, uint64_t *out)
{
	char b[80];
	char *s = cg_cfg_scalar(c, n, label, "a duration", 0);
	if (!s)
		return -1;
	uint64_t v;
	if (cg_cfg_parse_duration(s, &v)) {
		cg_cfg_err(c, n, "%s: bad duration '%s' (write e.g. 500ms, 15s, 5m, 1h, 1h30m)", label, cg_cfg_disp(s, b, sizeof(b)));
		free(s);
		return -1;
	}
	free(s);
	if (v < min || v > max) {
		cg_cfg_err(c, n, "%s: must be from %llums to %llums", label, (unsigned long long)min, (unsigned long long)max);
		return -1;
	}
	*out = v;
	return 0;
}

int cg_cfg_size(struct cg_cfg *c, yaml_node_t *n, const char *label, uint64_t min, uint64_t max, uint64_t *out)
{
	char b[80];
	char *s = cg_cfg_scalar(c, n, label, "a size", 0);
	if (!s)
		return -1;
	uint64_t v;
	if (cg_cfg_parse_size(s, &v)) {
		cg_cfg_err(c, n, "%s: bad size '%s' (write bytes or e.g. 512KiB, 1MiB, 10MB)", label, cg_cfg_disp(s, b, sizeof(b)));
		free(s);
		return -1;
	}
	free(s);
	if (v < min || v > max) {
		cg_cfg_err(c, n, "%s: must be from %llu to %llu bytes", label, (unsigned long long)min,
		       (unsigned long long)max);
		return -1;
	}
	*out = v;
	return 0;
}

int cg_cfg_parse_bool(const char *s, int *out)
{
	static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
	for (size_t i = 0; i < 3; i++) {
		if (strcasecmp(s, yes[i]) == 0 || strcasecmp(s, no[i]) == 0) {
			*out = strcasecmp(s, yes[i]) == 0;
			return 0;
		}
	}
	return -1;
}

int cg_cfg_bool(struct cg_cfg *c, yaml_node_t *n, const char *label, int *out)
{
	char b[80];
	char *s = cg_cfg_scalar(c, n, label, "true or false", 0);
	if (!s)
		return -1;
	if (cg_cfg_parse_bool(s, out) == 0) {
		free(s);
		return 0;
	}
	cg_cfg_err(c, n, "%s: expected true or false, got '%s'", label, cg_cfg_disp(s, b, sizeof(b)));
	free(s);
	return -1;
}

/* names is NULL-terminated; *out gets the index. */
int cg_cfg_enum(struct cg_cfg *c, yaml_node_t *n, const char *label, const char *const *names, int *out)
{
	char b[80];
	struct cg_cfgbuf list = {0};
	char *s = cg_cfg_scalar(c, n, label, "a string", 0);
	if (!s)
		return -1;
	for (int i = 0; names[i]; i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = i;
			free(s);
			return 0;
		}
	}
	for (int i = 0; names[i]; i++)
		if (cg_cfgbuf_printf(&list, "%s%s", i ? ", " : "", names[i]))
			c->oom = 1;
	cg_cfg_err(c, n, "%s: unknown value '%s' (expected one of: %s)", label, cg_cfg_disp(s, b, sizeof(b)), list.p ? list.p : "");
	free(list.p);
	free(s);
	return -1;
}

int cg_cfg_tmpl_check(struct cg_cfg *c, yaml_node_t *n, const char *label, const char *s)
{
	char e[256] = "";
	struct cg_tmpl *t = NULL;
	int rc = cg_tmpl_compile(s, strlen(s), &t, e, sizeof(e));
	if (rc == CG_ENOMEM) {
		c->oom = 1;
		return -1;
	}
	if (rc) {
		cg_cfg_err(c, n, "%s: bad template: %s", label, e[0] ? e : cg_strerror(rc));
		return -1;
	}
	cg_tmpl_destroy(t);
	return 0;
}

int cg_cfg_tmpl(struct cg_cfg *c, yaml_node_t *n, const char *label, char **dst)
{
	char *s = cg_cfg_scalar(c, n, label, "a template string", 0);
	if (!s)
		return -1;
	if (cg_cfg_tmpl_check(c, n, label, s)) {
		free(s);
		return -1;
	}
	free(*dst);
	*dst = s;
	return 0;
}

/*
 * A string or a list of strings. kind: 0 plain, 1 template, 2 secret. Returns 0 with
 * out and nout set (out may be NULL for an empty list), or -1 (reported).
 */
int cg_cfg_strs(struct cg_cfg *c, yaml_node_t *n, const char *label, int kind, char ***out, size_t *nout)
{
	char lb[256];
	char **v = NULL;
	size_t nv = 0, cap;
	int bad = 0;

	if (n->type == YAML_MAPPING_NODE) {
		cg_cfg_err(c, n, "%s: expected a string or a list of strings, got a mapping", label);
		return -1;
	}
	cap = n->type == YAML_SEQUENCE_NODE ? (size_t)(n->data.sequence.items.top - n->data.sequence.items.start) : 1;
	if (cap) {
		v = calloc(cap, sizeof(*v));
		if (!v) {
			c->oom = 1;
			return -1;
		}
	}
	for (size_t i = 0; i < cap; i++) {
		yaml_node_t *item = n;
		if (n->type == YAML_SEQUENCE_NODE) {
			item = cg_cfg_node(c, n->data.sequence.items.start[i]);
			snprintf(lb, sizeof(lb), "%s[%zu]", label, i);
			if (!item) {
				bad = 1;
				continue;
			}
		} else {
			snprintf(lb, sizeof(lb), "%s", label);
		}
		char *s = cg_cfg_scalar(c, item, lb, kind == 1 ? "a template string" : "a string", kind == 2);
		if (!s) {
			bad = 1;
			continue;
		}
		if (kind == 1 && cg_cfg_tmpl_check(c, item, lb, s)) {
			free(s);
			bad = 1;
			continue;
		}
		v[nv++] = s;
	}
	if (bad) {
		cg_cfg_strv_free(v, nv, kind == 2);
		return -1;
	}
	*out = v;
	*nout = nv;
	return 0;
}

char *cg_cfg_path_join(struct cg_cfg *c, const char *p)
{
	if (p[0] == '/')
		return strdup(p);
	while (p[0] == '.' && p[1] == '/')
		p += 2;
	if (strcmp(p, ".") == 0)
		p = "";
	struct cg_cfgbuf b = {0};
	if (cg_cfgbuf_printf(&b, "%s%s%s", c->dir, *p ? "/" : "", p)) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

int cg_cfg_path(struct cg_cfg *c, yaml_node_t *n, const char *label, char **dst)
{
	char *s = NULL;
	if (cg_cfg_name(c, n, label, &s))
		return -1;
	char *full = cg_cfg_path_join(c, s);
	free(s);
	if (!full) {
		c->oom = 1;
		return -1;
	}
	free(*dst);
	*dst = full;
	return 0;
}

#define MAX_SECRET_FILE (64 * 1024)

/* Reads a secret from the file named by n: whole content, one trailing newline cut. */
int cg_cfg_secret_file(struct cg_cfg *c, yaml_node_t *n, const char *label, char **dst)
{
	struct cg_cfg_file f;
	char *path = NULL, pb[160];
	int rc = -1;

	if (cg_cfg_path(c, n, label, &path))
		return -1;
	int r = cg_cfg_read_file(path, MAX_SECRET_FILE, &f);
	if (r == CG_ENOMEM) {
		c->oom = 1;
		goto out;
	}
	if (r == CG_E2BIG) {
		cg_cfg_err(c, n, "%s: '%s' is not a regular file of at most 64 KiB", label, cg_cfg_disp(path, pb, sizeof(pb)));
		goto out;
	}
	if (r) {
		cg_cfg_err(c, n, "%s: cannot read '%s': %s", label, cg_cfg_disp(path, pb, sizeof(pb)), strerror(errno));
		goto out;
	}
	if (f.world_readable)
		cg_cfg_warn_mark(c, n->start_mark, "%s: '%s' is readable by every user (chmod o-r)", label,
				 cg_cfg_disp(path, pb, sizeof(pb)));
	if (f.b.len && f.b.p[f.b.len - 1] == '\n')
		f.b.len--;
	if (f.b.len && f.b.p[f.b.len - 1] == '\r')
		f.b.len--;
	f.b.p[f.b.len] = '\0';
	if (memchr(f.b.p, 0, f.b.len)) {
		cg_cfg_err(c, n, "%s: '%s' contains a NUL byte", label, cg_cfg_disp(path, pb, sizeof(pb)));
		goto out;
	}
	if (f.b.len == 0) {
		cg_cfg_err(c, n, "%s: '%s' is empty", label, cg_cfg_disp(path, pb, sizeof(pb)));
		goto out;
	}
	*dst = f.b.p;
	f.b.p = NULL;
	rc = 0;
out:
	cg_cfgbuf_wipe(&f.b);
	free(path);
	return rc;
}

/* A secret given inline (key) or from a file (key_file): not both. */
int cg_cfg_secret(struct cg_cfg *c, yaml_node_t *val, yaml_node_t *file, const char *label, const char *file_label,
		      char **dst)
{
	if (val && file) {
		cg_cfg_err(c, file, "%s: give %s or %s, not both", file_label, label, file_label);
		return -1;
	}
	if (val) {
		char *s = cg_cfg_scalar(c, val, label, "a string", 1);
		if (!s)
			return -1;
		if (!*s) {
			/* Empty after expansion (${DD_API_KEY:-}) means "not given". */
			free(s);
			return 0;
		}
		*dst = s;
		return 0;
	}
	if (file)
		return cg_cfg_secret_file(c, file, file_label, dst);
	return 0;
}

int cg_cfg_listen(const char *s, char **host, int *port)
{
	char h[64];
	const char *colon;
	size_t hl;
	unsigned char addr[16];

	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (!end || end[1] != ':')
			return CG_EINVAL;
		hl = (size_t)(end - s - 1);
		if (hl == 0 || hl >= sizeof(h))
			return CG_EINVAL;
		memcpy(h, s + 1, hl);
		h[hl] = '\0';
		if (inet_pton(AF_INET6, h, addr) != 1)
			return CG_EINVAL;
		colon = end + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || colon == s || (size_t)(colon - s) >= sizeof(h))
			return CG_EINVAL;
		hl = (size_t)(colon - s);
		memcpy(h, s, hl);
		h[hl] = '\0';
		if (strcmp(h, "localhost") == 0)
			snprintf(h, sizeof(h), "127.0.0.1");
		if (inet_pton(AF_INET, h, addr) != 1)
			return CG_EINVAL;
	}
	const char *p = colon + 1;
	uint64_t v;
	if (parse_u64(&p, &v) || *p || v > 65535)
		return CG_EINVAL;
	char *dup = strdup(h);
	if (!dup)
		return CG_ENOMEM;
	*host = dup;
	*port = (int)v;
	return 0;
}

int cg_cfg_is_uuid(const char *s)
{
	static const char shape[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
	for (size_t i = 0; i < sizeof(shape) - 1; i++) {
		if (shape[i] == '-' ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
			return 0;
	}
	return s[sizeof(shape) - 1] == '\0';
}

int cg_cfg_cidrs(struct cg_cfg *c, yaml_node_t *n, const char *label, struct cg_cidr **out, size_t *nout)
{
	char **v = NULL;
	size_t nv = 0;
	char lb[300], b[80];
	int bad = 0;
	if (cg_cfg_strs(c, n, label, 0, &v, &nv))
		return -1;
	struct cg_cidr *r = calloc(nv ? nv : 1, sizeof(*r));
	if (!r) {
		c->oom = 1;
		cg_cfg_strv_free(v, nv, 0);
		return -1;
	}
	for (size_t i = 0; i < nv; i++) {
		if (cg_cidr_parse(v[i], &r[i]) != 0) {
			yaml_node_t *item = n->type == YAML_SEQUENCE_NODE
						    ? yaml_document_get_node(c->doc, n->data.sequence.items.start[i])
						    : n;
			snprintf(lb, sizeof(lb), n->type == YAML_SEQUENCE_NODE ? "%s[%zu]" : "%s", label, i);
			cg_cfg_err(c, item ? item : n, "%s: '%s' is not an address or CIDR range (e.g. 10.0.0.0/8, ::1)", lb,
			       cg_cfg_disp(v[i], b, sizeof(b)));
			bad = 1;
		}
	}
	cg_cfg_strv_free(v, nv, 0);
	if (bad || nv == 0) {
		if (!bad)
			cg_cfg_err(c, n, "%s: the list is empty", label);
		free(r);
		return -1;
	}
	free(*out);
	*out = r;
	*nout = nv;
	return 0;
}

/* A YAML subtree as JSON (jira, servicenow): plain true/false become booleans, plain numbers numbers, the rest strings. */
static cJSON *yaml_json(struct cg_cfg *c, yaml_node_t *n, const char *label)
{
	char lb[320];
	if (n->type == YAML_SCALAR_NODE) {
		char *s = cg_cfg_scalar(c, n, label, "a value", 0);
		if (!s)
			return NULL;
		cJSON *v = NULL;
		char *end = NULL;
		int plain = n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		if (plain && strcmp(s, "true") == 0)
			v = cJSON_CreateTrue();
		else if (plain && strcmp(s, "false") == 0)
			v = cJSON_CreateFalse();
		else if (plain && *s && (isdigit((unsigned char)*s) || *s == '-')) {
			double d = strtod(s, &end);
			v = *end ? cJSON_CreateString(s) : cJSON_CreateNumber(d);
		} else
			v = cJSON_CreateString(s);
		free(s);
		if (!v)
			c->oom = 1;
		return v;
	}
	cJSON *out = n->type == YAML_SEQUENCE_NODE ? cJSON_CreateArray() : cJSON_CreateObject();
	if (!out) {
		c->oom = 1;
		return NULL;
	}
	if (n->type == YAML_SEQUENCE_NODE) {
		size_t i = 0;
		for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++, i++) {
			yaml_node_t *v = cg_cfg_node(c, *it);
			snprintf(lb, sizeof(lb), "%s[%zu]", label, i);
			cJSON *j = v ? yaml_json(c, v, lb) : NULL;
			if (!j) {
				cJSON_Delete(out);
				return NULL;
			}
			cJSON_AddItemToArray(out, j);
		}
		return out;
	}
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
		yaml_node_t *v = cg_cfg_node(c, p->value);
		if (!k || !v || k->type != YAML_SCALAR_NODE) {
			if (k)
				cg_cfg_err(c, k, "%s: keys must be strings", label);
			cJSON_Delete(out);
			return NULL;
		}
		snprintf(lb, sizeof(lb), "%s.%s", label, (const char *)k->data.scalar.value);
		cJSON *j = yaml_json(c, v, lb);
		if (!j) {
			cJSON_Delete(out);
			return NULL;
		}
		cJSON_AddItemToObject(out, (const char *)k->data.scalar.value, j);
	}
	return out;
}

cJSON *cg_cfg_json_object(struct cg_cfg *c, yaml_node_t *n, const char *label, const char *const *required,
			  const char *const *optional)
{
	char b[80];
	if (n->type != YAML_MAPPING_NODE) {
		cg_cfg_err(c, n, "%s: expected a mapping, got %s", label, cg_cfg_kind_name(n));
		return NULL;
	}
	cJSON *o = yaml_json(c, n, label);
	if (!o)
		return NULL;
	const cJSON *it;
	cJSON_ArrayForEach(it, o)
	{
		int known = 0;
		for (size_t i = 0; required[i]; i++)
			known |= strcmp(it->string, required[i]) == 0;
		for (size_t i = 0; optional[i]; i++)
			known |= strcmp(it->string, optional[i]) == 0;
		if (!known) {
			cg_cfg_err(c, n, "%s: unknown key '%s'", label, cg_cfg_disp(it->string, b, sizeof(b)));
			cJSON_Delete(o);
			return NULL;
		}
	}
	for (size_t i = 0; required[i]; i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, required[i]);
		if (!cJSON_IsString(v) || !v->valuestring[0]) {
			cg_cfg_err(c, n, "%s: %s is required (a string)", label, required[i]);
			cJSON_Delete(o);
			return NULL;
		}
	}
	return o;
}

void cg_cfg_json_free(void *base, const struct cg_key *k)
{
	cJSON_Delete(*(cJSON **)((char *)base + k->off));
}
