/* config.c: reads casegate's YAML configuration (libyaml document API); every problem is reported as file:line:col. */
#define _POSIX_C_SOURCE 200809L
#define _XOPEN_SOURCE 700 /* realpath */

#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <yaml.h>

#include "ddclient.h"
#include "err.h"
#include "log.h"
#include "mailrules.h"
#include "tmpl.h"

/* Past this many errors the rest is noise (and a fuzzer could make the list huge). */
#define MAX_ERRORS 50
#define MAX_SECRET_FILE (64 * 1024)
#define MAX_CONFIG_FILE (4 * 1024 * 1024)
#define MS_SECOND 1000ULL
#define MS_MINUTE (60 * MS_SECOND)
#define MS_HOUR (60 * MS_MINUTE)
#define MS_DAY (24 * MS_HOUR)

struct sbuf {
	char *p;
	size_t len, cap;
};

static int sb_reserve(struct sbuf *b, size_t extra)
{
	if (extra > SIZE_MAX / 2 - b->len)
		return CG_ENOMEM;
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap *= 2;
	/* Buffers may hold expanded secrets: never let realloc leave a copy behind. */
	char *p = malloc(cap);
	if (!p)
		return CG_ENOMEM;
	if (b->p) {
		memcpy(p, b->p, b->len + 1);
		OPENSSL_cleanse(b->p, b->cap);
		free(b->p);
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

static int sb_append(struct sbuf *b, const char *s, size_t n)
{
	if (sb_reserve(b, n))
		return CG_ENOMEM;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

__attribute__((format(printf, 2, 0))) static int sb_vprintf(struct sbuf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return CG_EINVAL;
	if (sb_reserve(b, (size_t)n))
		return CG_ENOMEM;
	vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

__attribute__((format(printf, 2, 3))) static int sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = sb_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

static void sb_wipe(struct sbuf *b)
{
	if (b->p) {
		OPENSSL_cleanse(b->p, b->cap);
		free(b->p);
	}
	b->p = NULL;
	b->len = b->cap = 0;
}

static void secret_free(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

static void strv_free(char **v, size_t n, int secret)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++) {
		if (secret)
			secret_free(v[i]);
		else
			free(v[i]);
	}
	free(v);
}

struct ctx {
	yaml_document_t *doc;
	const char *name; /* file name for messages */
	const char *dir;  /* base for relative paths */
	struct sbuf errs, warns;
	size_t nerrs;
	unsigned char *seen; /* per node: already walked (a second visit means an alias) */
	size_t nnodes;
	int oom;
	int inline_secret; /* a secret's text came from the file itself, not the environment */
	yaml_mark_t inline_mark;
	int in_rules_file; /* parsing a `rules: { file: }` file: it may not name another */
};

__attribute__((format(printf, 5, 0))) static void vdiag(struct ctx *c, struct sbuf *b, yaml_mark_t m, const char *kind,
							 const char *fmt, va_list ap)
{
	if (sb_printf(b, "%s:%zu:%zu: %s", c->name, m.line + 1, m.column + 1, kind) || sb_vprintf(b, fmt, ap) ||
	    sb_append(b, "\n", 1))
		c->oom = 1;
}

__attribute__((format(printf, 3, 4))) static void err_mark(struct ctx *c, yaml_mark_t m, const char *fmt, ...)
{
	c->nerrs++;
	if (c->nerrs > MAX_ERRORS) {
		if (c->nerrs == MAX_ERRORS + 1 && sb_printf(&c->errs, "%s: too many errors, stopping here\n", c->name))
			c->oom = 1;
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	vdiag(c, &c->errs, m, "", fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 3, 4))) static void err_at(struct ctx *c, const yaml_node_t *n, const char *fmt, ...)
{
	c->nerrs++;
	if (c->nerrs > MAX_ERRORS) {
		if (c->nerrs == MAX_ERRORS + 1 && sb_printf(&c->errs, "%s: too many errors, stopping here\n", c->name))
			c->oom = 1;
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	vdiag(c, &c->errs, n->start_mark, "", fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 3, 4))) static void warn_mark(struct ctx *c, yaml_mark_t m, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vdiag(c, &c->warns, m, "warning: ", fmt, ap);
	va_end(ap);
}

/* A printable, bounded copy of user text for messages (one error per line must stay one line). */
static const char *disp(const char *s, char *buf, size_t len)
{
	size_t j = 0;
	for (size_t i = 0; s[i] && j + 4 < len; i++)
		buf[j++] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
	if (j + 4 >= len && s[j]) {
		buf[j++] = '.';
		buf[j++] = '.';
		buf[j++] = '.';
	}
	buf[j] = '\0';
	return buf;
}

static const char *kind_name(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return "a string";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_MAPPING_NODE:
		return "a mapping";
	default:
		return "nothing";
	}
}

/* `key:` with no value, `~` and `null` mean "not given". */
static int is_null(const yaml_node_t *n)
{
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	const char *s = (const char *)n->data.scalar.value;
	return n->data.scalar.length == 0 || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
	       strcmp(s, "NULL") == 0;
}

static yaml_node_t *node_get(struct ctx *c, int id)
{
	yaml_node_t *n = yaml_document_get_node(c->doc, id);
	if (!n)
		return NULL;
	size_t i = (size_t)(id - 1);
	if (c->seen[i]) {
		/* Aliases could make the walk loop forever or explode; plain YAML is enough for a config. */
		err_at(c, n, "YAML aliases are not supported here");
		return NULL;
	}
	c->seen[i] = 1;
	return n;
}

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[33];
	if (la > 32 || lb > 32)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

struct field {
	const char *key;
	yaml_node_t *val; /* NULL when absent or null */
};

/*
 * Matches n's keys against f, reporting unknown and duplicate keys. where names the
 * mapping for "unknown key" messages (NULL at top level), label for type errors.
 * Returns 0 when n is a mapping, -1 otherwise (reported).
 */
static int map_fields(struct ctx *c, yaml_node_t *n, const char *label, const char *where, struct field *f, size_t nf)
{
	uint64_t present = 0;
	char kb[80];

	for (size_t i = 0; i < nf; i++)
		f[i].val = NULL;
	if (n->type != YAML_MAPPING_NODE) {
		err_at(c, n, "%s: expected a mapping, got %s", label, kind_name(n));
		return -1;
	}
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
		if (!k)
			continue;
		if (k->type != YAML_SCALAR_NODE) {
			err_at(c, k, "%s: keys must be strings, got %s", label, kind_name(k));
			continue;
		}
		const char *ks = (const char *)k->data.scalar.value;
		size_t i;
		for (i = 0; i < nf; i++)
			if (strlen(f[i].key) == k->data.scalar.length && strcmp(ks, f[i].key) == 0)
				break;
		if (i == nf) {
			const char *hint = NULL;
			for (size_t j = 0; j < nf && !hint; j++)
				if (k->data.scalar.length > 2 && edit_distance(ks, f[j].key) <= 2)
					hint = f[j].key;
			err_at(c, k, "unknown key '%s'%s%s%s%s%s", disp(ks, kb, sizeof(kb)), where ? " in " : "",
			       where ? where : "", hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
			continue;
		}
		if (present & (1ULL << i)) {
			err_at(c, k, "duplicate key '%s'%s%s", f[i].key, where ? " in " : "", where ? where : "");
			continue;
		}
		present |= 1ULL << i;
		yaml_node_t *v = node_get(c, p->value);
		if (v && !is_null(v))
			f[i].val = v;
	}
	return 0;
}

/*
 * Expands ${VAR}, ${VAR:-default} (default when unset or empty) and $${ (a literal ${)
 * in s. Returns malloc'd text, or NULL (reported, or c->oom). *literal is set when
 * any byte of the result came from the file rather than the environment.
 */
static char *expand(struct ctx *c, const yaml_node_t *n, const char *label, const char *s, size_t len, int *literal)
{
	struct sbuf b = {0};

	if (sb_reserve(&b, len))
		goto oom;
	b.p[0] = '\0';
	for (size_t i = 0; i < len;) {
		if (s[i] == '$' && i + 2 < len && s[i + 1] == '$' && s[i + 2] == '{') {
			if (sb_append(&b, "${", 2))
				goto oom;
			*literal = 1;
			i += 3;
			continue;
		}
		if (!(s[i] == '$' && i + 1 < len && s[i + 1] == '{')) {
			if (sb_append(&b, s + i, 1))
				goto oom;
			*literal = 1;
			i++;
			continue;
		}
		size_t j = i + 2, name0 = j;
		while (j < len && (isalnum((unsigned char)s[j]) || s[j] == '_'))
			j++;
		size_t namelen = j - name0;
		const char *def = NULL;
		size_t deflen = 0;
		if (j + 1 < len && s[j] == ':' && s[j + 1] == '-') {
			def = s + j + 2;
			const char *end = memchr(def, '}', len - (j + 2));
			if (end) {
				deflen = (size_t)(end - def);
				j = (size_t)(end - s);
			} else {
				j = len;
			}
		}
		if (namelen == 0 || isdigit((unsigned char)s[name0]) || j >= len || s[j] != '}') {
			err_at(c, n, "%s: bad variable reference (write ${NAME} or ${NAME:-default}; $${ gives a literal ${)",
			       label);
			goto fail;
		}
		char name[128];
		if (namelen >= sizeof(name)) {
			err_at(c, n, "%s: variable name too long", label);
			goto fail;
		}
		memcpy(name, s + name0, namelen);
		name[namelen] = '\0';
		const char *v = getenv(name);
		if (def && (!v || !*v)) {
			if (sb_append(&b, def, deflen))
				goto oom;
			if (deflen)
				*literal = 1;
		} else if (!v) {
			err_at(c, n, "%s: environment variable %s is not set (write ${%s:-default} to give a default)", label,
			       name, name);
			goto fail;
		} else if (sb_append(&b, v, strlen(v))) {
			goto oom;
		}
		i = j + 1;
	}
	return b.p;
oom:
	c->oom = 1;
fail:
	sb_wipe(&b);
	return NULL;
}

/* The expanded text of scalar n (malloc'd), or NULL (reported). what says what was expected. */
static char *scalar(struct ctx *c, yaml_node_t *n, const char *label, const char *what, int secret)
{
	if (n->type != YAML_SCALAR_NODE) {
		err_at(c, n, "%s: expected %s, got %s", label, what, kind_name(n));
		return NULL;
	}
	if (memchr(n->data.scalar.value, 0, n->data.scalar.length)) {
		err_at(c, n, "%s: contains a NUL byte", label);
		return NULL;
	}
	int literal = 0;
	char *s = expand(c, n, label, (const char *)n->data.scalar.value, n->data.scalar.length, &literal);
	if (s && secret && literal && *s && !c->inline_secret) {
		c->inline_secret = 1;
		c->inline_mark = n->start_mark;
	}
	return s;
}

static int get_str(struct ctx *c, yaml_node_t *n, const char *label, char **dst)
{
	char *s = scalar(c, n, label, "a string", 0);
	if (!s)
		return -1;
	free(*dst);
	*dst = s;
	return 0;
}

/* A non-empty string without control characters (names, statuses, users). */
static int get_name(struct ctx *c, yaml_node_t *n, const char *label, char **dst)
{
	char *s = scalar(c, n, label, "a string", 0);
	if (!s)
		return -1;
	int ok = *s != '\0';
	for (const char *p = s; *p && ok; p++)
		ok = (unsigned char)*p >= 0x20 && *p != 0x7f;
	if (!ok) {
		err_at(c, n, "%s: must be a non-empty string without control characters", label);
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

/* "1h30m", "500ms", "15s", "0". */
static int parse_duration(const char *s, uint64_t *ms)
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
			f = MS_SECOND;
			s++;
		} else if (*s == 'm') {
			f = MS_MINUTE;
			s++;
		} else if (*s == 'h') {
			f = MS_HOUR;
			s++;
		} else if (*s == 'd') {
			f = MS_DAY;
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
static int parse_size(const char *s, uint64_t *out)
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

static int get_uint(struct ctx *c, yaml_node_t *n, const char *label, uint64_t min, uint64_t max, uint64_t *out)
{
	char b[80];
	char *s = scalar(c, n, label, "a number", 0);
	if (!s)
		return -1;
	const char *p = s;
	uint64_t v;
	if (parse_u64(&p, &v) || *p || v < min || v > max) {
		err_at(c, n, "%s: expected a whole number from %llu to %llu, got '%s'", label, (unsigned long long)min,
		       (unsigned long long)max, disp(s, b, sizeof(b)));
		free(s);
		return -1;
	}
	free(s);
	*out = v;
	return 0;
}

static int get_duration(struct ctx *c, yaml_node_t *n, const char *label, uint64_t min, uint64_t max, uint64_t *out)
{
	char b[80];
	char *s = scalar(c, n, label, "a duration", 0);
	if (!s)
		return -1;
	uint64_t v;
	if (parse_duration(s, &v)) {
		err_at(c, n, "%s: bad duration '%s' (write e.g. 500ms, 15s, 5m, 1h, 1h30m)", label, disp(s, b, sizeof(b)));
		free(s);
		return -1;
	}
	free(s);
	if (v < min || v > max) {
		err_at(c, n, "%s: must be from %llums to %llums", label, (unsigned long long)min, (unsigned long long)max);
		return -1;
	}
	*out = v;
	return 0;
}

static int get_duration_u(struct ctx *c, yaml_node_t *n, const char *label, uint64_t min, uint64_t max, unsigned *out)
{
	uint64_t v;
	if (max > UINT_MAX)
		max = UINT_MAX;
	if (get_duration(c, n, label, min, max, &v))
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int get_size(struct ctx *c, yaml_node_t *n, const char *label, uint64_t min, uint64_t max, uint64_t *out)
{
	char b[80];
	char *s = scalar(c, n, label, "a size", 0);
	if (!s)
		return -1;
	uint64_t v;
	if (parse_size(s, &v)) {
		err_at(c, n, "%s: bad size '%s' (write bytes or e.g. 512KiB, 1MiB, 10MB)", label, disp(s, b, sizeof(b)));
		free(s);
		return -1;
	}
	free(s);
	if (v < min || v > max) {
		err_at(c, n, "%s: must be from %llu to %llu bytes", label, (unsigned long long)min,
		       (unsigned long long)max);
		return -1;
	}
	*out = v;
	return 0;
}

static int get_bool(struct ctx *c, yaml_node_t *n, const char *label, int *out)
{
	static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
	char b[80];
	char *s = scalar(c, n, label, "true or false", 0);
	if (!s)
		return -1;
	for (size_t i = 0; i < 3; i++) {
		if (strcasecmp(s, yes[i]) == 0 || strcasecmp(s, no[i]) == 0) {
			*out = strcasecmp(s, yes[i]) == 0;
			free(s);
			return 0;
		}
	}
	err_at(c, n, "%s: expected true or false, got '%s'", label, disp(s, b, sizeof(b)));
	free(s);
	return -1;
}

/* names is NULL-terminated; *out gets the index. */
static int get_enum(struct ctx *c, yaml_node_t *n, const char *label, const char *const *names, int *out)
{
	char b[80];
	struct sbuf list = {0};
	char *s = scalar(c, n, label, "a string", 0);
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
		if (sb_printf(&list, "%s%s", i ? ", " : "", names[i]))
			c->oom = 1;
	err_at(c, n, "%s: unknown value '%s' (expected one of: %s)", label, disp(s, b, sizeof(b)), list.p ? list.p : "");
	free(list.p);
	free(s);
	return -1;
}

static int compile_check(struct ctx *c, yaml_node_t *n, const char *label, const char *s)
{
	char e[256] = "";
	struct cg_tmpl *t = NULL;
	int rc = cg_tmpl_compile(s, strlen(s), &t, e, sizeof(e));
	if (rc == CG_ENOMEM) {
		c->oom = 1;
		return -1;
	}
	if (rc) {
		err_at(c, n, "%s: bad template: %s", label, e[0] ? e : cg_strerror(rc));
		return -1;
	}
	cg_tmpl_destroy(t);
	return 0;
}

static int get_tmpl(struct ctx *c, yaml_node_t *n, const char *label, char **dst)
{
	char *s = scalar(c, n, label, "a template string", 0);
	if (!s)
		return -1;
	if (compile_check(c, n, label, s)) {
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
static int get_strs(struct ctx *c, yaml_node_t *n, const char *label, int kind, char ***out, size_t *nout)
{
	char lb[256];
	char **v = NULL;
	size_t nv = 0, cap;
	int bad = 0;

	if (n->type == YAML_MAPPING_NODE) {
		err_at(c, n, "%s: expected a string or a list of strings, got a mapping", label);
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
			item = node_get(c, n->data.sequence.items.start[i]);
			snprintf(lb, sizeof(lb), "%s[%zu]", label, i);
			if (!item) {
				bad = 1;
				continue;
			}
		} else {
			snprintf(lb, sizeof(lb), "%s", label);
		}
		char *s = scalar(c, item, lb, kind == 1 ? "a template string" : "a string", kind == 2);
		if (!s) {
			bad = 1;
			continue;
		}
		if (kind == 1 && compile_check(c, item, lb, s)) {
			free(s);
			bad = 1;
			continue;
		}
		v[nv++] = s;
	}
	if (bad) {
		strv_free(v, nv, kind == 2);
		return -1;
	}
	*out = v;
	*nout = nv;
	return 0;
}

static char *path_join(struct ctx *c, const char *p)
{
	if (p[0] == '/')
		return strdup(p);
	while (p[0] == '.' && p[1] == '/')
		p += 2;
	if (strcmp(p, ".") == 0)
		p = "";
	struct sbuf b = {0};
	if (sb_printf(&b, "%s%s%s", c->dir, *p ? "/" : "", p)) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

static int get_path(struct ctx *c, yaml_node_t *n, const char *label, char **dst)
{
	char *s = NULL;
	if (get_name(c, n, label, &s))
		return -1;
	char *full = path_join(c, s);
	free(s);
	if (!full) {
		c->oom = 1;
		return -1;
	}
	free(*dst);
	*dst = full;
	return 0;
}

/* Reads a secret from the file named by n: whole content, one trailing newline cut. */
static int read_secret_file(struct ctx *c, yaml_node_t *n, const char *label, char **dst)
{
	char *path = NULL, *buf = NULL;
	char pb[160];
	struct stat st;
	int fd = -1, rc = -1;

	if (get_path(c, n, label, &path))
		return -1;
	/* O_NONBLOCK: a FIFO must not hang the loader; it fails the regular-file check below. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) != 0) {
		err_at(c, n, "%s: cannot read '%s': %s", label, disp(path, pb, sizeof(pb)), strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > MAX_SECRET_FILE) {
		err_at(c, n, "%s: '%s' is not a regular file of at most 64 KiB", label, disp(path, pb, sizeof(pb)));
		goto out;
	}
	if (st.st_mode & S_IROTH)
		warn_mark(c, n->start_mark, "%s: '%s' is readable by every user (chmod o-r)", label,
			  disp(path, pb, sizeof(pb)));
	size_t cap = (size_t)st.st_size, len = 0;
	buf = malloc(cap + 1);
	if (!buf) {
		c->oom = 1;
		goto out;
	}
	while (len < cap) {
		ssize_t r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err_at(c, n, "%s: cannot read '%s': %s", label, disp(path, pb, sizeof(pb)), strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	if (len && buf[len - 1] == '\n')
		len--;
	if (len && buf[len - 1] == '\r')
		len--;
	buf[len] = '\0';
	if (memchr(buf, 0, len)) {
		err_at(c, n, "%s: '%s' contains a NUL byte", label, disp(path, pb, sizeof(pb)));
		goto out;
	}
	if (len == 0) {
		err_at(c, n, "%s: '%s' is empty", label, disp(path, pb, sizeof(pb)));
		goto out;
	}
	*dst = buf;
	buf = NULL;
	rc = 0;
out:
	if (buf) {
		OPENSSL_cleanse(buf, (size_t)st.st_size + 1);
		free(buf);
	}
	if (fd >= 0)
		close(fd);
	free(path);
	return rc;
}

/* A secret given inline (key) or from a file (key_file): not both. */
static int get_secret(struct ctx *c, yaml_node_t *val, yaml_node_t *file, const char *label, const char *file_label,
		      char **dst)
{
	if (val && file) {
		err_at(c, file, "%s: give %s or %s, not both", file_label, label, file_label);
		return -1;
	}
	if (val) {
		char *s = scalar(c, val, label, "a string", 1);
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
		return read_secret_file(c, file, file_label, dst);
	return 0;
}

static int parse_listen(const char *s, char **host, int *port)
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

static int is_uuid(const char *s)
{
	static const char shape[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
	for (size_t i = 0; i < sizeof(shape) - 1; i++) {
		if (shape[i] == '-' ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
			return 0;
	}
	return s[sizeof(shape) - 1] == '\0';
}

static int is_loopback(const char *host)
{
	return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0;
}

/* ---- sections ---- */

static void parse_datadog(struct ctx *c, yaml_node_t *root, yaml_node_t *n, struct cg_config *cfg)
{
	enum {
		D_SITE,
		D_URL,
		D_API_KEY,
		D_API_KEY_FILE,
		D_APP_KEY,
		D_APP_KEY_FILE,
		D_TIMEOUT,
		D_CA_FILE,
		D_PROXY,
		D_SETTLE,
		D_REFRESH,
		D_MARKER_ATTR,
		D_CIRCUIT,
		D_N
	};
	struct field f[D_N] = {[D_SITE] = {"site", NULL},
			       [D_URL] = {"url", NULL},
			       [D_API_KEY] = {"api_key", NULL},
			       [D_API_KEY_FILE] = {"api_key_file", NULL},
			       [D_APP_KEY] = {"app_key", NULL},
			       [D_APP_KEY_FILE] = {"app_key_file", NULL},
			       [D_TIMEOUT] = {"timeout", NULL},
			       [D_CA_FILE] = {"ca_file", NULL},
			       [D_PROXY] = {"proxy", NULL},
			       [D_SETTLE] = {"search_settle", NULL},
			       [D_REFRESH] = {"case_refresh", NULL},
			       [D_MARKER_ATTR] = {"marker_attribute", NULL},
			       [D_CIRCUIT] = {"circuit_threshold", NULL}};
	char b[80];
	int bad = 0;

	if (n && map_fields(c, n, "datadog", "datadog", f, D_N))
		return;
	if (f[D_SITE].val && get_name(c, f[D_SITE].val, "datadog.site", &cfg->dd_site))
		bad = 1;
	if (f[D_URL].val) {
		char *u = NULL;
		if (get_name(c, f[D_URL].val, "datadog.url", &u)) {
			bad = 1;
		} else if ((strncmp(u, "http://", 7) != 0 || !u[7]) && (strncmp(u, "https://", 8) != 0 || !u[8])) {
			err_at(c, f[D_URL].val, "datadog.url: expected an http:// or https:// URL, got '%s'",
			       disp(u, b, sizeof(b)));
			free(u);
			bad = 1;
		} else {
			size_t l = strlen(u);
			while (l > 8 && u[l - 1] == '/')
				u[--l] = '\0';
			cfg->dd_url = u;
		}
	}
	if (get_secret(c, f[D_API_KEY].val, f[D_API_KEY_FILE].val, "datadog.api_key", "datadog.api_key_file",
		       &cfg->dd_api_key))
		bad = 1;
	if (get_secret(c, f[D_APP_KEY].val, f[D_APP_KEY_FILE].val, "datadog.app_key", "datadog.app_key_file",
		       &cfg->dd_app_key))
		bad = 1;
	if (f[D_TIMEOUT].val)
		get_duration_u(c, f[D_TIMEOUT].val, "datadog.timeout", 1, MS_HOUR, &cfg->dd_timeout_ms);
	if (f[D_CA_FILE].val)
		get_path(c, f[D_CA_FILE].val, "datadog.ca_file", &cfg->dd_ca_file);
	if (f[D_PROXY].val)
		get_name(c, f[D_PROXY].val, "datadog.proxy", &cfg->dd_proxy);
	if (f[D_SETTLE].val)
		get_duration(c, f[D_SETTLE].val, "datadog.search_settle", 0, MS_HOUR, &cfg->dd_search_settle_ms);
	if (f[D_REFRESH].val)
		get_duration(c, f[D_REFRESH].val, "datadog.case_refresh", 0, 24 * MS_HOUR, &cfg->dd_case_refresh_ms);
	if (f[D_MARKER_ATTR].val) {
		char *m = NULL;
		if (!get_str(c, f[D_MARKER_ATTR].val, "datadog.marker_attribute", &m)) {
			int ok = strlen(m) < 100;
			for (const char *p = m; *p && ok; p++)
				ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_';
			if (!ok) {
				err_at(c, f[D_MARKER_ATTR].val,
				       "datadog.marker_attribute: a custom attribute key (a-z, 0-9, _), or \"\" for none");
				free(m);
			} else {
				free(cfg->dd_marker_attr);
				cfg->dd_marker_attr = *m ? m : NULL; /* "" turns the attribute off */
				if (!*m)
					free(m);
			}
		}
	}
	if (f[D_CIRCUIT].val) {
		uint64_t v;
		if (!get_uint(c, f[D_CIRCUIT].val, "datadog.circuit_threshold", 1, 1000, &v))
			cfg->dd_circuit_threshold = (unsigned)v;
	}
	if (bad)
		return;

	if (f[D_SITE].val && f[D_URL].val) {
		err_at(c, f[D_URL].val, "datadog: give site or url, not both");
		return;
	}
	if (cfg->dd_url)
		return;
	if (!cfg->dd_site && !(cfg->dd_site = strdup("datadoghq.com"))) {
		c->oom = 1;
		return;
	}
	char url[256];
	yaml_node_t *at = f[D_SITE].val ? f[D_SITE].val : n ? n : root;
	if (cg_dd_site_url(cfg->dd_site, url, sizeof(url)) != 0) {
		err_at(c, at,
		       "datadog.site: unknown Datadog site '%s' (e.g. datadoghq.com, us3.datadoghq.com, datadoghq.eu, "
		       "ap1.datadoghq.com, ddog-gov.com)",
		       disp(cfg->dd_site, b, sizeof(b)));
		return;
	}
	if (!cfg->dd_api_key && !cfg->dd_app_key)
		return; /* No keys, no url: dd_url stays NULL and the run command starts the local simulator. */
	if (!cfg->dd_api_key || !cfg->dd_app_key) {
		err_at(c, at, "datadog: %s is set but %s is not: give both (or neither, to use the local simulator)",
		       cfg->dd_api_key ? "api_key" : "app_key", cfg->dd_api_key ? "app_key" : "api_key");
		return;
	}
	if (!(cfg->dd_url = strdup(url)))
		c->oom = 1;
}

static void parse_limits(struct ctx *c, yaml_node_t *n, struct cg_config *cfg)
{
	enum {
		L_MAX_BODY, L_MAX_HEADER_BYTES, L_MAX_CONNECTIONS, L_HEADER_TIMEOUT, L_BODY_TIMEOUT, L_IDLE_TIMEOUT,
		L_PER_ADDRESS, L_FIRST_BYTE_TIMEOUT, L_WRITE_TIMEOUT, L_N
	};
	struct field f[L_N] = {[L_MAX_BODY] = {"max_body", NULL},
			       [L_MAX_HEADER_BYTES] = {"max_header_bytes", NULL},
			       [L_MAX_CONNECTIONS] = {"max_connections", NULL},
			       [L_HEADER_TIMEOUT] = {"header_timeout", NULL},
			       [L_BODY_TIMEOUT] = {"body_timeout", NULL},
			       [L_IDLE_TIMEOUT] = {"idle_timeout", NULL},
			       [L_PER_ADDRESS] = {"max_connections_per_address", NULL},
			       [L_FIRST_BYTE_TIMEOUT] = {"first_byte_timeout", NULL},
			       [L_WRITE_TIMEOUT] = {"write_timeout", NULL}};
	uint64_t v;

	if (map_fields(c, n, "limits", "limits", f, L_N))
		return;
	if (f[L_MAX_BODY].val && !get_size(c, f[L_MAX_BODY].val, "limits.max_body", 1, 1024ULL * 1024 * 1024, &v))
		cfg->max_body = (size_t)v;
	if (f[L_MAX_HEADER_BYTES].val &&
	    !get_size(c, f[L_MAX_HEADER_BYTES].val, "limits.max_header_bytes", 1024, 1024 * 1024, &v))
		cfg->max_header_bytes = (size_t)v;
	if (f[L_MAX_CONNECTIONS].val &&
	    !get_uint(c, f[L_MAX_CONNECTIONS].val, "limits.max_connections", 1, 1000000, &v))
		cfg->max_connections = (unsigned)v;
	if (f[L_HEADER_TIMEOUT].val)
		get_duration_u(c, f[L_HEADER_TIMEOUT].val, "limits.header_timeout", 1, MS_HOUR, &cfg->header_timeout_ms);
	if (f[L_BODY_TIMEOUT].val)
		get_duration_u(c, f[L_BODY_TIMEOUT].val, "limits.body_timeout", 1, MS_HOUR, &cfg->body_timeout_ms);
	if (f[L_IDLE_TIMEOUT].val)
		get_duration_u(c, f[L_IDLE_TIMEOUT].val, "limits.idle_timeout", 1, MS_DAY, &cfg->idle_timeout_ms);
	if (f[L_PER_ADDRESS].val &&
	    !get_uint(c, f[L_PER_ADDRESS].val, "limits.max_connections_per_address", 0, 1000000, &v))
		cfg->max_connections_per_address = (unsigned)v;
	if (f[L_FIRST_BYTE_TIMEOUT].val)
		get_duration_u(c, f[L_FIRST_BYTE_TIMEOUT].val, "limits.first_byte_timeout", 1, MS_HOUR,
			       &cfg->first_byte_timeout_ms);
	if (f[L_WRITE_TIMEOUT].val)
		get_duration_u(c, f[L_WRITE_TIMEOUT].val, "limits.write_timeout", 1, MS_DAY, &cfg->write_timeout_ms);
}

/* rate_limit: { rps: N, burst: M } (top level: all sources together; in a source: that source). */
static void parse_rate_limit(struct ctx *c, yaml_node_t *n, const char *label, unsigned *rps, unsigned *burst)
{
	enum { R_RPS, R_BURST, R_N };
	struct field f[R_N] = {[R_RPS] = {"rps", NULL}, [R_BURST] = {"burst", NULL}};
	char lb[256];
	uint64_t v;

	if (map_fields(c, n, label, label, f, R_N))
		return;
	if (!f[R_RPS].val) {
		err_at(c, n, "%s: rps is required (webhooks per second)", label);
		return;
	}
	snprintf(lb, sizeof(lb), "%s.rps", label);
	if (!get_uint(c, f[R_RPS].val, lb, 1, 1000000, &v))
		*rps = (unsigned)v;
	snprintf(lb, sizeof(lb), "%s.burst", label);
	if (f[R_BURST].val && !get_uint(c, f[R_BURST].val, lb, 1, 10000000, &v))
		*burst = (unsigned)v;
}

static void parse_queue(struct ctx *c, yaml_node_t *n, struct cg_config *cfg)
{
	enum {
		Q_MAX_INFLIGHT, Q_RETRY_BASE, Q_RETRY_CAP, Q_MAX_ATTEMPTS, Q_STORE_MAX_BYTES, Q_GROUP_COMMIT, Q_MAX_PENDING,
		Q_MAX_PENDING_BYTES, Q_N
	};
	struct field f[Q_N] = {[Q_MAX_INFLIGHT] = {"max_inflight", NULL},
			       [Q_RETRY_BASE] = {"retry_base", NULL},
			       [Q_RETRY_CAP] = {"retry_cap", NULL},
			       [Q_MAX_ATTEMPTS] = {"max_attempts", NULL},
			       [Q_STORE_MAX_BYTES] = {"store_max_bytes", NULL},
			       [Q_GROUP_COMMIT] = {"group_commit", NULL},
			       [Q_MAX_PENDING] = {"max_pending", NULL},
			       [Q_MAX_PENDING_BYTES] = {"max_pending_bytes", NULL}};
	uint64_t v;
	int ok = 1;

	if (map_fields(c, n, "queue", "queue", f, Q_N))
		return;
	if (f[Q_MAX_INFLIGHT].val && !get_uint(c, f[Q_MAX_INFLIGHT].val, "queue.max_inflight", 1, 1024, &v))
		cfg->max_inflight = (unsigned)v;
	if (f[Q_RETRY_BASE].val && get_duration(c, f[Q_RETRY_BASE].val, "queue.retry_base", 1, MS_HOUR, &cfg->retry_base_ms))
		ok = 0;
	if (f[Q_RETRY_CAP].val &&
	    get_duration(c, f[Q_RETRY_CAP].val, "queue.retry_cap", 1, 7 * MS_DAY, &cfg->retry_cap_ms))
		ok = 0;
	if (f[Q_MAX_ATTEMPTS].val && !get_uint(c, f[Q_MAX_ATTEMPTS].val, "queue.max_attempts", 0, 1000000, &v))
		cfg->max_attempts = (unsigned)v;
	if (f[Q_STORE_MAX_BYTES].val)
		get_size(c, f[Q_STORE_MAX_BYTES].val, "queue.store_max_bytes", 0, UINT64_MAX, &cfg->store_max_bytes);
	if (f[Q_GROUP_COMMIT].val)
		get_bool(c, f[Q_GROUP_COMMIT].val, "queue.group_commit", &cfg->group_commit);
	if (f[Q_MAX_PENDING].val && !get_uint(c, f[Q_MAX_PENDING].val, "queue.max_pending", 1, 10000000, &v))
		cfg->max_pending = (unsigned)v;
	if (f[Q_MAX_PENDING_BYTES].val)
		get_size(c, f[Q_MAX_PENDING_BYTES].val, "queue.max_pending_bytes", 64 * 1024, 1ULL << 40,
			 &cfg->max_pending_bytes);
	if (ok && cfg->retry_base_ms > cfg->retry_cap_ms)
		err_at(c, f[Q_RETRY_CAP].val ? f[Q_RETRY_CAP].val : f[Q_RETRY_BASE].val ? f[Q_RETRY_BASE].val : n,
		       "queue: retry_base must not exceed retry_cap");
}

/* store: { backend: sqlite|postgres, dsn | dsn_file, replica, lease } */
static void parse_store(struct ctx *c, yaml_node_t *n, struct cg_config *cfg)
{
	enum { S_BACKEND, S_DSN, S_DSN_FILE, S_REPLICA, S_LEASE, S_N };
	struct field f[S_N] = {[S_BACKEND] = {"backend", NULL},
			       [S_DSN] = {"dsn", NULL},
			       [S_DSN_FILE] = {"dsn_file", NULL},
			       [S_REPLICA] = {"replica", NULL},
			       [S_LEASE] = {"lease", NULL}};
	static const char *const backends[] = {"sqlite", "postgres", NULL};
	int e;

	if (map_fields(c, n, "store", "store", f, S_N))
		return;
	if (f[S_BACKEND].val && !get_enum(c, f[S_BACKEND].val, "store.backend", backends, &e))
		cfg->store_backend = e == 1 ? CG_STORE_POSTGRES : CG_STORE_SQLITE;
	if (get_secret(c, f[S_DSN].val, f[S_DSN_FILE].val, "store.dsn", "store.dsn_file", &cfg->store_dsn))
		return;
	if (f[S_REPLICA].val)
		get_name(c, f[S_REPLICA].val, "store.replica", &cfg->store_replica);
	if (f[S_LEASE].val &&
	    !get_duration(c, f[S_LEASE].val, "store.lease", MS_SECOND, MS_HOUR, &cfg->store_lease_ms) &&
	    cfg->store_lease_ms < 2 * ((uint64_t)cfg->dd_timeout_ms + MS_SECOND))
		/* A replica starts a request only with datadog.timeout left on its lease (renewed every lease/4). */
		err_at(c, f[S_LEASE].val, "store.lease: at least 2 x (datadog.timeout + 1s) = %llu ms, got %llu ms",
		       (unsigned long long)(2 * ((uint64_t)cfg->dd_timeout_ms + MS_SECOND)),
		       (unsigned long long)cfg->store_lease_ms);
	if (cfg->store_backend == CG_STORE_POSTGRES && !cfg->store_dsn)
		err_at(c, f[S_BACKEND].val ? f[S_BACKEND].val : n,
		       "store: backend postgres needs dsn (e.g. dsn: ${CASEGATE_PG_DSN}) or dsn_file");
	if (cfg->store_backend == CG_STORE_SQLITE && (f[S_DSN].val || f[S_DSN_FILE].val || f[S_REPLICA].val))
		err_at(c, f[S_DSN].val ? f[S_DSN].val : f[S_DSN_FILE].val ? f[S_DSN_FILE].val : f[S_REPLICA].val,
		       "store: dsn and replica apply to backend postgres only");
}

static int parse_basic_one(struct ctx *c, yaml_node_t *n, const char *sp, const char *label,
			   struct cg_basic_cred *cred)
{
	enum { B_USER, B_PASSWORD, B_PASSWORD_FILE, B_N };
	struct field f[B_N] = {
		[B_USER] = {"user", NULL}, [B_PASSWORD] = {"password", NULL}, [B_PASSWORD_FILE] = {"password_file", NULL}};
	char lb[320], lb2[320], where[256];
	int rc = 0;

	snprintf(where, sizeof(where), "%s auth.basic", sp);
	if (map_fields(c, n, label, where, f, B_N))
		return -1;
	if (!f[B_USER].val) {
		err_at(c, n, "%s: user is required", label);
		rc = -1;
	} else {
		snprintf(lb, sizeof(lb), "%s.user", label);
		if (get_name(c, f[B_USER].val, lb, &cred->user)) {
			rc = -1;
		} else if (strchr(cred->user, ':')) {
			err_at(c, f[B_USER].val, "%s: must not contain ':'", lb);
			rc = -1;
		}
	}
	snprintf(lb, sizeof(lb), "%s.password", label);
	snprintf(lb2, sizeof(lb2), "%s.password_file", label);
	if (get_secret(c, f[B_PASSWORD].val, f[B_PASSWORD_FILE].val, lb, lb2, &cred->password))
		rc = -1;
	else if (!cred->password) {
		err_at(c, n, "%s: password or password_file is required", label);
		rc = -1;
	}
	return rc;
}

/* Why t cannot be a bearer token, or NULL. Never quotes the token. */
static const char *bad_token(const char *t)
{
	if (!*t)
		return "token is empty";
	for (; *t; t++)
		if ((unsigned char)*t <= 0x20 || *t == 0x7f)
			return "token contains whitespace or control characters (one token per value or file)";
	return NULL;
}

static void parse_auth(struct ctx *c, yaml_node_t *n, const char *sp, struct cg_auth_config *a)
{
	enum { A_BEARER, A_BEARER_FILE, A_BASIC, A_N };
	struct field f[A_N] = {
		[A_BEARER] = {"bearer", NULL}, [A_BEARER_FILE] = {"bearer_file", NULL}, [A_BASIC] = {"basic", NULL}};
	char lb[256], where[256];

	snprintf(lb, sizeof(lb), "%s: auth", sp);
	if (n->type == YAML_SCALAR_NODE) {
		char *s = scalar(c, n, lb, "a string", 0);
		if (s && strcmp(s, "none") == 0)
			a->kind = CG_AUTH_NONE;
		else if (s)
			err_at(c, n, "%s: expected `none` or a mapping with bearer, bearer_file or basic", lb);
		free(s);
		return;
	}
	snprintf(where, sizeof(where), "%s auth", sp);
	if (map_fields(c, n, lb, where, f, A_N))
		return;
	if (!f[A_BEARER].val && !f[A_BEARER_FILE].val && !f[A_BASIC].val) {
		err_at(c, n, "%s: give bearer, bearer_file or basic (or write `auth: none`)", lb);
		return;
	}
	int bad = 0;
	char **tok = NULL, **files = NULL;
	size_t ntok = 0, nfiles = 0;
	if (f[A_BEARER].val) {
		snprintf(lb, sizeof(lb), "%s: auth.bearer", sp);
		if (get_strs(c, f[A_BEARER].val, lb, 2, &tok, &ntok))
			bad = 1;
		for (size_t i = 0; i < ntok; i++) {
			yaml_node_t *bv = f[A_BEARER].val;
			yaml_node_t *item = bv->type == YAML_SEQUENCE_NODE
						    ? yaml_document_get_node(c->doc, bv->data.sequence.items.start[i])
						    : bv;
			if (bad_token(tok[i])) {
				if (bv->type == YAML_SEQUENCE_NODE)
					snprintf(lb, sizeof(lb), "%s: auth.bearer[%zu]", sp, i);
				err_at(c, item ? item : bv, "%s: %s", lb, bad_token(tok[i]));
				bad = 1;
			}
		}
	}
	if (f[A_BEARER_FILE].val) {
		snprintf(lb, sizeof(lb), "%s: auth.bearer_file", sp);
		yaml_node_t *fn = f[A_BEARER_FILE].val;
		size_t nf = fn->type == YAML_SEQUENCE_NODE ? (size_t)(fn->data.sequence.items.top - fn->data.sequence.items.start) : 1;
		if (fn->type == YAML_MAPPING_NODE) {
			err_at(c, fn, "%s: expected a path or a list of paths, got a mapping", lb);
			bad = 1;
		} else if (!(files = calloc(nf ? nf : 1, sizeof(*files)))) {
			c->oom = 1;
			bad = 1;
		} else {
			for (size_t i = 0; i < nf; i++) {
				yaml_node_t *item = fn->type == YAML_SEQUENCE_NODE ? node_get(c, fn->data.sequence.items.start[i]) : fn;
				if (!item || read_secret_file(c, item, lb, &files[nfiles])) {
					bad = 1;
					continue;
				}
				if (bad_token(files[nfiles])) {
					err_at(c, item, "%s: the file's %s", lb, bad_token(files[nfiles]));
					bad = 1;
				}
				nfiles++;
			}
		}
	}
	if (!bad && ntok + nfiles > 0) {
		char **all = calloc(ntok + nfiles, sizeof(*all));
		if (!all) {
			c->oom = 1;
			bad = 1;
		} else {
			for (size_t i = 0; i < ntok; i++)
				all[i] = tok[i];
			for (size_t i = 0; i < nfiles; i++)
				all[ntok + i] = files[i];
			free(tok);
			free(files);
			tok = files = NULL;
			a->bearer = all;
			a->nbearer = ntok + nfiles;
			ntok = nfiles = 0;
		}
	}
	strv_free(tok, ntok, 1);
	strv_free(files, nfiles, 1);
	if (f[A_BASIC].val) {
		yaml_node_t *bn = f[A_BASIC].val;
		size_t nb = bn->type == YAML_SEQUENCE_NODE ? (size_t)(bn->data.sequence.items.top - bn->data.sequence.items.start) : 1;
		if (bn->type == YAML_SCALAR_NODE) {
			err_at(c, bn, "%s: auth.basic: expected a mapping {user, password} or a list of them", sp);
			bad = 1;
		} else if (nb && !(a->basic = calloc(nb, sizeof(*a->basic)))) {
			c->oom = 1;
			bad = 1;
		} else {
			for (size_t i = 0; i < nb; i++) {
				yaml_node_t *item = bn;
				if (bn->type == YAML_SEQUENCE_NODE) {
					item = node_get(c, bn->data.sequence.items.start[i]);
					snprintf(lb, sizeof(lb), "%s: auth.basic[%zu]", sp, i);
				} else {
					snprintf(lb, sizeof(lb), "%s: auth.basic", sp);
				}
				a->nbasic++; /* counted before parsing so free() sees partial entries */
				if (!item || parse_basic_one(c, item, sp, lb, &a->basic[i]))
					bad = 1;
			}
		}
	}
	if (!bad)
		a->kind = a->nbearer ? CG_AUTH_BEARER : a->nbasic ? CG_AUTH_BASIC : CG_AUTH_UNSET;
	if (!bad && a->kind == CG_AUTH_UNSET)
		err_at(c, n, "%s: auth: no credentials given (an empty list?)", sp);
}

/* ---- inbound security: verify, allow_ips, trusted_proxies, tls ---- */

static int get_cidrs(struct ctx *c, yaml_node_t *n, const char *label, struct cg_cidr **out, size_t *nout)
{
	char **v = NULL;
	size_t nv = 0;
	char lb[300], b[80];
	int bad = 0;
	if (get_strs(c, n, label, 0, &v, &nv))
		return -1;
	struct cg_cidr *r = calloc(nv ? nv : 1, sizeof(*r));
	if (!r) {
		c->oom = 1;
		strv_free(v, nv, 0);
		return -1;
	}
	for (size_t i = 0; i < nv; i++) {
		if (cg_cidr_parse(v[i], &r[i]) != 0) {
			yaml_node_t *item = n->type == YAML_SEQUENCE_NODE
						    ? yaml_document_get_node(c->doc, n->data.sequence.items.start[i])
						    : n;
			snprintf(lb, sizeof(lb), n->type == YAML_SEQUENCE_NODE ? "%s[%zu]" : "%s", label, i);
			err_at(c, item ? item : n, "%s: '%s' is not an address or CIDR range (e.g. 10.0.0.0/8, ::1)", lb,
			       disp(v[i], b, sizeof(b)));
			bad = 1;
		}
	}
	strv_free(v, nv, 0);
	if (bad || nv == 0) {
		if (!bad)
			err_at(c, n, "%s: the list is empty", label);
		free(r);
		return -1;
	}
	free(*out);
	*out = r;
	*nout = nv;
	return 0;
}

static void regexv_free(regex_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		regfree(&v[i]);
	free(v);
}

static int get_regexes(struct ctx *c, yaml_node_t *n, const char *label, regex_t **out, size_t *nout)
{
	char **v = NULL;
	size_t nv = 0;
	char b[80];
	int bad = 0;
	if (n && get_strs(c, n, label, 0, &v, &nv))
		return -1;
	static const char *const def[] = {"^sns\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?$"};
	size_t cnt = n ? nv : 1;
	regex_t *r = calloc(cnt ? cnt : 1, sizeof(*r));
	if (!r) {
		c->oom = 1;
		strv_free(v, nv, 0);
		return -1;
	}
	size_t ok = 0;
	for (size_t i = 0; i < cnt; i++) {
		const char *s = n ? v[i] : def[i];
		if (regcomp(&r[ok], s, REG_EXTENDED | REG_ICASE | REG_NOSUB) != 0) {
			err_at(c, n, "%s: '%s' is not a valid regular expression", label, disp(s, b, sizeof(b)));
			bad = 1;
			continue;
		}
		ok++;
	}
	strv_free(v, nv, 0);
	if (bad || cnt == 0) {
		if (!bad)
			err_at(c, n, "%s: the list is empty", label);
		regexv_free(r, ok);
		return -1;
	}
	*out = r;
	*nout = ok;
	return 0;
}

static void verify_cleanup(struct cg_verify_config *v)
{
	for (size_t i = 0; i < v->nsecrets; i++) {
		if (v->secrets[i].p) {
			OPENSSL_cleanse(v->secrets[i].p, v->secrets[i].len);
			free(v->secrets[i].p);
		}
	}
	free(v->secrets);
	free(v->header);
	free(v->prefix);
	free(v->timestamp_header);
	free(v->signed_fmt);
	regexv_free(v->cert_hosts, v->ncert_hosts);
	regexv_free(v->confirm_hosts, v->nconfirm_hosts);
	free(v->ca_file);
	free(v->cert_file);
}

/* Appends s (consumed) to v's secrets; Standard Webhooks secrets are "whsec_" + base64. */
static int add_secret(struct ctx *c, yaml_node_t *at, const char *label, struct cg_verify_config *v, char *s)
{
	unsigned char *p = (unsigned char *)s;
	size_t len = strlen(s);
	int rc = -1;
	if (len == 0) {
		err_at(c, at, "%s: the secret is empty", label);
		goto out;
	}
	if (v->kind == CG_VERIFY_STDWH) {
		const char *b64 = strncmp(s, "whsec_", 6) == 0 ? s + 6 : s;
		size_t bl = strlen(b64);
		unsigned char *dec = malloc(bl + 1);
		if (!dec) {
			c->oom = 1;
			goto out;
		}
		int n = bl && bl % 4 == 0 ? EVP_DecodeBlock(dec, (const unsigned char *)b64, (int)bl) : -1;
		for (size_t i = bl; n > 0 && i > 0 && b64[i - 1] == '='; i--)
			n--;
		if (n <= 0) {
			/* Never quote the secret, not even a part of it. */
			err_at(c, at, "%s: expected whsec_ followed by base64", label);
			OPENSSL_cleanse(dec, bl + 1);
			free(dec);
			goto out;
		}
		OPENSSL_cleanse(s, len);
		free(s);
		s = NULL;
		p = dec;
		len = (size_t)n;
	}
	struct cg_secret *ns = realloc(v->secrets, (v->nsecrets + 1) * sizeof(*ns));
	if (!ns) {
		c->oom = 1;
		if (p != (unsigned char *)s) {
			OPENSSL_cleanse(p, len);
			free(p);
		}
		goto out;
	}
	v->secrets = ns;
	v->secrets[v->nsecrets].p = p;
	v->secrets[v->nsecrets].len = len;
	v->nsecrets++;
	return 0;
out:
	secret_free(s);
	return rc;
}

static char *dup_or_oom(struct ctx *c, const char *s)
{
	char *d = strdup(s);
	if (!d)
		c->oom = 1;
	return d;
}

static void parse_verify_one(struct ctx *c, yaml_node_t *item, const char *sp, size_t idx, struct cg_verify_config *v)
{
	enum {
		V_SECRET, V_SECRET_FILE, V_SECRETS, V_HEADER, V_ENCODING, V_PREFIX, V_TS_HEADER, V_SIGNED,
		V_REPLAY_WINDOW, V_TIMESTAMP, V_CERT_HOSTS, V_CONFIRM_HOSTS, V_CA_FILE, V_CERT_FILE, V_CONFIRM, V_N
	};
	static const struct {
		const char *name;
		enum cg_verify_kind kind;
		uint64_t keys; /* allowed fields */
	} schemes[] = {
		{"hmac", CG_VERIFY_HMAC,
		 1u << V_SECRET | 1u << V_SECRET_FILE | 1u << V_SECRETS | 1u << V_HEADER | 1u << V_ENCODING |
			 1u << V_PREFIX | 1u << V_TS_HEADER | 1u << V_SIGNED | 1u << V_REPLAY_WINDOW},
		{"sentry", CG_VERIFY_SENTRY, 1u << V_SECRET | 1u << V_SECRET_FILE | 1u << V_SECRETS},
		{"pagerduty", CG_VERIFY_PAGERDUTY, 1u << V_SECRET | 1u << V_SECRET_FILE | 1u << V_SECRETS},
		{"standard_webhooks", CG_VERIFY_STDWH,
		 1u << V_SECRET | 1u << V_SECRET_FILE | 1u << V_SECRETS | 1u << V_REPLAY_WINDOW},
		{"grafana", CG_VERIFY_GRAFANA,
		 1u << V_SECRET | 1u << V_SECRET_FILE | 1u << V_SECRETS | 1u << V_TIMESTAMP | 1u << V_REPLAY_WINDOW},
		{"sns", CG_VERIFY_SNS,
		 1u << V_CERT_HOSTS | 1u << V_CONFIRM_HOSTS | 1u << V_CA_FILE | 1u << V_CERT_FILE | 1u << V_CONFIRM},
	};
	struct field f[V_N] = {[V_SECRET] = {"secret", NULL},
			       [V_SECRET_FILE] = {"secret_file", NULL},
			       [V_SECRETS] = {"secrets", NULL},
			       [V_HEADER] = {"header", NULL},
			       [V_ENCODING] = {"encoding", NULL},
			       [V_PREFIX] = {"prefix", NULL},
			       [V_TS_HEADER] = {"timestamp_header", NULL},
			       [V_SIGNED] = {"signed", NULL},
			       [V_REPLAY_WINDOW] = {"replay_window", NULL},
			       [V_TIMESTAMP] = {"timestamp", NULL},
			       [V_CERT_HOSTS] = {"cert_hosts", NULL},
			       [V_CONFIRM_HOSTS] = {"confirm_hosts", NULL},
			       [V_CA_FILE] = {"ca_file", NULL},
			       [V_CERT_FILE] = {"cert_file", NULL},
			       [V_CONFIRM] = {"confirm", NULL}};
	static const char *const enc_names[] = {"hex", "base64", NULL};
	char lb[300], where[300], b[80];

	v->line = (int)item->start_mark.line + 1;
	v->replay_window_ms = 5 * MS_MINUTE;
	v->confirm = 1;
	snprintf(lb, sizeof(lb), "%s: verify[%zu]", sp, idx);
	if (item->type != YAML_MAPPING_NODE || item->data.mapping.pairs.top - item->data.mapping.pairs.start != 1) {
		err_at(c, item,
		       "%s: expected one scheme, e.g. `- sentry: {secret: ...}` (schemes: hmac, sentry, pagerduty, "
		       "standard_webhooks, grafana, sns)",
		       lb);
		return;
	}
	yaml_node_pair_t *pair = item->data.mapping.pairs.start;
	yaml_node_t *k = yaml_document_get_node(c->doc, pair->key);
	yaml_node_t *val = node_get(c, pair->value);
	if (!k || !val)
		return;
	const char *kn = k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "";
	size_t si;
	for (si = 0; si < sizeof(schemes) / sizeof(schemes[0]); si++)
		if (strcmp(kn, schemes[si].name) == 0)
			break;
	if (si == sizeof(schemes) / sizeof(schemes[0])) {
		err_at(c, k, "%s: unknown scheme '%s' (schemes: hmac, sentry, pagerduty, standard_webhooks, grafana, sns)",
		       lb, disp(kn, b, sizeof(b)));
		return;
	}
	v->kind = schemes[si].kind;
	snprintf(lb, sizeof(lb), "%s: verify.%s", sp, kn);
	snprintf(where, sizeof(where), "%s verify.%s", sp, kn);
	if (is_null(val)) {
		for (size_t i = 0; i < V_N; i++)
			f[i].val = NULL;
	} else if (map_fields(c, val, lb, where, f, V_N)) {
		return;
	}
	for (size_t i = 0; i < V_N; i++) {
		if (f[i].val && !(schemes[si].keys & (1u << i))) {
			err_at(c, f[i].val, "%s: '%s' does not apply to this scheme", lb, f[i].key);
			f[i].val = NULL;
		}
	}
	char fl[340];
	size_t errs0 = c->nerrs;
	/* Secrets: secret, secret_file and secrets all add up (rotation: old and new both valid). */
	if (f[V_SECRET].val) {
		snprintf(fl, sizeof(fl), "%s.secret", lb);
		char *s = scalar(c, f[V_SECRET].val, fl, "a string", 1);
		if (s)
			add_secret(c, f[V_SECRET].val, fl, v, s);
	}
	if (f[V_SECRET_FILE].val) {
		snprintf(fl, sizeof(fl), "%s.secret_file", lb);
		char *s = NULL;
		if (!read_secret_file(c, f[V_SECRET_FILE].val, fl, &s))
			add_secret(c, f[V_SECRET_FILE].val, fl, v, s);
	}
	if (f[V_SECRETS].val) {
		snprintf(fl, sizeof(fl), "%s.secrets", lb);
		char **sv = NULL;
		size_t ns = 0;
		if (!get_strs(c, f[V_SECRETS].val, fl, 2, &sv, &ns)) {
			for (size_t i = 0; i < ns; i++) {
				add_secret(c, f[V_SECRETS].val, fl, v, sv[i]);
				sv[i] = NULL;
			}
			free(sv);
		}
	}
	if (v->kind != CG_VERIFY_SNS && v->nsecrets == 0 && c->nerrs == errs0)
		err_at(c, val, "%s: give secret, secret_file or secrets", lb);

	if (f[V_REPLAY_WINDOW].val) {
		snprintf(fl, sizeof(fl), "%s.replay_window", lb);
		get_duration(c, f[V_REPLAY_WINDOW].val, fl, MS_SECOND, MS_DAY, &v->replay_window_ms);
	}
	switch (v->kind) {
	case CG_VERIFY_HMAC:
		if (!f[V_HEADER].val) {
			err_at(c, val, "%s: header is required (the request header holding the signature)", lb);
		} else {
			snprintf(fl, sizeof(fl), "%s.header", lb);
			get_name(c, f[V_HEADER].val, fl, &v->header);
		}
		if (f[V_ENCODING].val) {
			int e;
			snprintf(fl, sizeof(fl), "%s.encoding", lb);
			if (!get_enum(c, f[V_ENCODING].val, fl, enc_names, &e))
				v->encoding = (enum cg_verify_enc)e;
		}
		if (f[V_PREFIX].val) {
			snprintf(fl, sizeof(fl), "%s.prefix", lb);
			get_str(c, f[V_PREFIX].val, fl, &v->prefix);
		}
		if (f[V_TS_HEADER].val) {
			snprintf(fl, sizeof(fl), "%s.timestamp_header", lb);
			get_name(c, f[V_TS_HEADER].val, fl, &v->timestamp_header);
		}
		if (f[V_SIGNED].val) {
			snprintf(fl, sizeof(fl), "%s.signed", lb);
			if (!get_str(c, f[V_SIGNED].val, fl, &v->signed_fmt)) {
				if (!strstr(v->signed_fmt, "{body}"))
					err_at(c, f[V_SIGNED].val, "%s: must contain {body}", fl);
				else if (strstr(v->signed_fmt, "{ts}") && !v->timestamp_header)
					err_at(c, f[V_SIGNED].val, "%s: {ts} needs timestamp_header", fl);
			}
		} else if (v->timestamp_header) {
			v->signed_fmt = dup_or_oom(c, "{ts}:{body}");
		}
		break;
	case CG_VERIFY_SENTRY:
		v->header = dup_or_oom(c, "Sentry-Hook-Signature");
		break;
	case CG_VERIFY_PAGERDUTY:
		v->header = dup_or_oom(c, "X-PagerDuty-Signature");
		break;
	case CG_VERIFY_STDWH:
		v->header = dup_or_oom(c, "webhook-signature");
		v->timestamp_header = dup_or_oom(c, "webhook-timestamp");
		v->encoding = CG_VERIFY_BASE64;
		v->signed_fmt = dup_or_oom(c, "{id}.{ts}.{body}");
		break;
	case CG_VERIFY_GRAFANA: {
		int ts = 0;
		v->header = dup_or_oom(c, "X-Grafana-Alerting-Signature");
		snprintf(fl, sizeof(fl), "%s.timestamp", lb);
		if (f[V_TIMESTAMP].val && !get_bool(c, f[V_TIMESTAMP].val, fl, &ts) && ts) {
			v->timestamp_header = dup_or_oom(c, "X-Grafana-Alerting-Timestamp");
			v->signed_fmt = dup_or_oom(c, "{ts}:{body}");
		}
		break;
	}
	case CG_VERIFY_SNS:
		snprintf(fl, sizeof(fl), "%s.cert_hosts", lb);
		get_regexes(c, f[V_CERT_HOSTS].val, fl, &v->cert_hosts, &v->ncert_hosts);
		snprintf(fl, sizeof(fl), "%s.confirm_hosts", lb);
		get_regexes(c, f[V_CONFIRM_HOSTS].val, fl, &v->confirm_hosts, &v->nconfirm_hosts);
		if (f[V_CA_FILE].val) {
			snprintf(fl, sizeof(fl), "%s.ca_file", lb);
			get_path(c, f[V_CA_FILE].val, fl, &v->ca_file);
		}
		if (f[V_CERT_FILE].val) {
			snprintf(fl, sizeof(fl), "%s.cert_file", lb);
			get_path(c, f[V_CERT_FILE].val, fl, &v->cert_file);
		}
		if (f[V_CONFIRM].val) {
			snprintf(fl, sizeof(fl), "%s.confirm", lb);
			get_bool(c, f[V_CONFIRM].val, fl, &v->confirm);
		}
		break;
	}
}

static void parse_verify(struct ctx *c, yaml_node_t *n, const char *sp, struct cg_source_config *s)
{
	size_t cnt = n->type == YAML_SEQUENCE_NODE ? (size_t)(n->data.sequence.items.top - n->data.sequence.items.start) : 1;
	if (cnt == 0) {
		err_at(c, n, "%s: verify: the list is empty", sp);
		return;
	}
	if (!(s->verify = calloc(cnt, sizeof(*s->verify)))) {
		c->oom = 1;
		return;
	}
	for (size_t i = 0; i < cnt; i++) {
		yaml_node_t *item = n->type == YAML_SEQUENCE_NODE ? node_get(c, n->data.sequence.items.start[i]) : n;
		s->nverify++; /* counted first so cleanup sees partial entries */
		if (item)
			parse_verify_one(c, item, sp, i, &s->verify[i]);
		for (size_t j = 0; item && j < i; j++)
			if (s->verify[i].kind && s->verify[j].kind == s->verify[i].kind && s->verify[i].kind == CG_VERIFY_SNS)
				err_at(c, item, "%s: verify: sns is given twice", sp);
	}
}

static void parse_tls(struct ctx *c, yaml_node_t *n, struct cg_config *cfg)
{
	enum { T_CERT_FILE, T_KEY_FILE, T_N };
	struct field f[T_N] = {[T_CERT_FILE] = {"cert_file", NULL}, [T_KEY_FILE] = {"key_file", NULL}};
	if (map_fields(c, n, "tls", "tls", f, T_N))
		return;
	if (!f[T_CERT_FILE].val || !f[T_KEY_FILE].val) {
		err_at(c, n, "tls: cert_file and key_file are both required");
		return;
	}
	get_path(c, f[T_CERT_FILE].val, "tls.cert_file", &cfg->tls_cert_file);
	get_path(c, f[T_KEY_FILE].val, "tls.key_file", &cfg->tls_key_file);
}

/*
 * Pair i of mapping m whose key must be a non-empty string without NUL bytes (the keys of
 * priority.map, custom_attributes, attributes). 1 with *k and *v set; 0 when the pair is to be
 * skipped (an error was reported for a bad key).
 */
static int map_pair(struct ctx *c, yaml_node_t *m, size_t i, const char *sp, const char *what, yaml_node_t **k,
		    yaml_node_t **v)
{
	yaml_node_pair_t *p = &m->data.mapping.pairs.start[i];
	*k = yaml_document_get_node(c->doc, p->key);
	*v = node_get(c, p->value);
	if (!*k || !*v)
		return 0;
	if ((*k)->type != YAML_SCALAR_NODE || !(*k)->data.scalar.length ||
	    memchr((*k)->data.scalar.value, 0, (*k)->data.scalar.length)) {
		err_at(c, *k, "%s: %s: keys must be non-empty strings", sp, what);
		return 0;
	}
	return 1;
}

static void parse_priority(struct ctx *c, yaml_node_t *n, const char *sp, struct cg_source_config *s)
{
	enum { P_FROM, P_MAP, P_DEFAULT, P_N };
	struct field f[P_N] = {[P_FROM] = {"from", NULL}, [P_MAP] = {"map", NULL}, [P_DEFAULT] = {"default", NULL}};
	char lb[256], where[256], b[80], kb[80];

	if (n->type == YAML_SCALAR_NODE) {
		/* `priority: P2`: a fixed priority; "from" renders empty so the default always applies. */
		snprintf(lb, sizeof(lb), "%s: priority", sp);
		char *v = scalar(c, n, lb, "a priority", 0);
		if (!v)
			return;
		if (cg_priority_parse(v, &s->prio_default)) {
			err_at(c, n, "%s: bad priority '%s' (use P1..P5 or NOT_DEFINED)", lb, disp(v, b, sizeof(b)));
		} else {
			s->prio_default_set = 1;
			if (!(s->priority_from = strdup("")))
				c->oom = 1;
		}
		free(v);
		return;
	}
	snprintf(lb, sizeof(lb), "%s: priority", sp);
	snprintf(where, sizeof(where), "%s priority", sp);
	if (map_fields(c, n, lb, where, f, P_N))
		return;
	if (f[P_FROM].val) {
		snprintf(lb, sizeof(lb), "%s: priority.from", sp);
		get_tmpl(c, f[P_FROM].val, lb, &s->priority_from);
	}
	if (f[P_DEFAULT].val) {
		snprintf(lb, sizeof(lb), "%s: priority.default", sp);
		char *v = scalar(c, f[P_DEFAULT].val, lb, "a priority", 0);
		if (v && cg_priority_parse(v, &s->prio_default))
			err_at(c, f[P_DEFAULT].val, "%s: bad priority '%s' (use P1..P5 or NOT_DEFINED)", lb,
			       disp(v, b, sizeof(b)));
		else if (v)
			s->prio_default_set = 1;
		free(v);
	}
	yaml_node_t *m = f[P_MAP].val;
	if (!m)
		return;
	if (m->type != YAML_MAPPING_NODE) {
		err_at(c, m, "%s: priority.map: expected a mapping (word: P1), got %s", sp, kind_name(m));
		return;
	}
	size_t np = (size_t)(m->data.mapping.pairs.top - m->data.mapping.pairs.start);
	if (!np)
		return;
	if (!(s->prio_map = calloc(np, sizeof(*s->prio_map)))) {
		c->oom = 1;
		return;
	}
	for (size_t i = 0; i < np; i++) {
		yaml_node_t *k, *v;
		if (!map_pair(c, m, i, sp, "priority.map", &k, &v))
			continue;
		const char *word = (const char *)k->data.scalar.value;
		snprintf(lb, sizeof(lb), "%s: priority.map.%s", sp, disp(word, kb, sizeof(kb)));
		int dup = 0;
		for (size_t j = 0; j < s->nprio; j++)
			dup |= strcasecmp(s->prio_map[j].word, word) == 0;
		if (dup) {
			err_at(c, k, "%s: duplicate word (words are compared case-insensitively)", lb);
			continue;
		}
		char *pv = scalar(c, v, lb, "a priority", 0);
		int prio;
		if (!pv)
			continue;
		if (cg_priority_parse(pv, &prio)) {
			err_at(c, v, "%s: bad priority '%s' (use P1..P5 or NOT_DEFINED)", lb, disp(pv, b, sizeof(b)));
			free(pv);
			continue;
		}
		free(pv);
		if (!(s->prio_map[s->nprio].word = strdup(word))) {
			c->oom = 1;
			return;
		}
		s->prio_map[s->nprio++].prio = prio;
	}
}

static void parse_one_ca(struct ctx *c, yaml_node_t *n, const char *sp, const char *key, struct cg_ca_spec *ca)
{
	enum { C_TYPE, C_MULTI, C_IS_MULTI, C_VALUE, C_VALUES, C_N };
	struct field f[C_N] = {[C_TYPE] = {"type", NULL},
			       [C_MULTI] = {"multi", NULL},
			       [C_IS_MULTI] = {"is_multi", NULL},
			       [C_VALUE] = {"value", NULL},
			       [C_VALUES] = {"values", NULL}};
	char lb[256], where[256], b[80];

	ca->type = CG_CA_TEXT;
	snprintf(lb, sizeof(lb), "%s: custom_attributes.%s", sp, key);
	if (n->type == YAML_SCALAR_NODE) {
		/* `key: "{{tmpl}}"` is a single TEXT attribute. */
		get_strs(c, n, lb, 1, &ca->values, &ca->nvalues);
		return;
	}
	snprintf(where, sizeof(where), "%s custom attribute '%s'", sp, key);
	if (map_fields(c, n, lb, where, f, C_N))
		return;
	if (f[C_TYPE].val) {
		char tl[300];
		snprintf(tl, sizeof(tl), "%s.type", lb);
		char *t = scalar(c, f[C_TYPE].val, tl, "a string", 0);
		if (t && cg_ca_type_parse(t, &ca->type))
			err_at(c, f[C_TYPE].val, "%s: unknown type '%s' (use TEXT, URL, NUMBER or SELECT)", tl,
			       disp(t, b, sizeof(b)));
		free(t);
	}
	if (f[C_MULTI].val && f[C_IS_MULTI].val) {
		err_at(c, f[C_IS_MULTI].val, "%s: give multi or is_multi, not both", lb);
		return;
	}
	yaml_node_t *mn = f[C_MULTI].val ? f[C_MULTI].val : f[C_IS_MULTI].val;
	if (mn) {
		char ml[300];
		snprintf(ml, sizeof(ml), "%s.%s", lb, f[C_MULTI].val ? "multi" : "is_multi");
		if (get_bool(c, mn, ml, &ca->is_multi))
			return;
	}
	yaml_node_t *vn = f[C_VALUE].val, *vsn = f[C_VALUES].val;
	if (vn && vsn) {
		err_at(c, vsn, "%s: give value or values, not both", lb);
		return;
	}
	if (!vn && !vsn) {
		err_at(c, n, "%s: %s is required", lb, ca->is_multi ? "values" : "value");
		return;
	}
	if (!ca->is_multi && vsn) {
		err_at(c, vsn, "%s: values needs multi: true (use value: for a single value)", lb);
		return;
	}
	if (!ca->is_multi && vn->type != YAML_SCALAR_NODE) {
		err_at(c, vn, "%s: value: expected one template string, got %s (set multi: true for a list)", lb,
		       kind_name(vn));
		return;
	}
	char vl[300];
	snprintf(vl, sizeof(vl), "%s.%s", lb, vsn ? "values" : "value");
	get_strs(c, vsn ? vsn : vn, vl, 1, &ca->values, &ca->nvalues);
}

static void parse_cas(struct ctx *c, yaml_node_t *n, const char *sp, struct cg_source_config *s)
{
	char kb[80];
	if (n->type != YAML_MAPPING_NODE) {
		err_at(c, n, "%s: custom_attributes: expected a mapping, got %s", sp, kind_name(n));
		return;
	}
	size_t np = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	if (!np)
		return;
	if (!(s->cas = calloc(np, sizeof(*s->cas)))) {
		c->oom = 1;
		return;
	}
	for (size_t i = 0; i < np; i++) {
		yaml_node_t *k, *v;
		if (!map_pair(c, n, i, sp, "custom_attributes", &k, &v))
			continue;
		const char *key = disp((const char *)k->data.scalar.value, kb, sizeof(kb));
		int dup = 0;
		for (size_t j = 0; j < s->ncas; j++)
			dup |= strcmp(s->cas[j].key, (const char *)k->data.scalar.value) == 0;
		if (dup) {
			err_at(c, k, "%s: custom_attributes: duplicate key '%s'", sp, key);
			continue;
		}
		struct cg_ca_spec *ca = &s->cas[s->ncas++];
		if (!(ca->key = strdup((const char *)k->data.scalar.value))) {
			c->oom = 1;
			return;
		}
		parse_one_ca(c, v, sp, key, ca);
	}
}

static void parse_attrs(struct ctx *c, yaml_node_t *n, const char *sp, struct cg_source_config *s)
{
	char lb[256], kb[80];
	if (n->type != YAML_MAPPING_NODE) {
		err_at(c, n, "%s: attributes: expected a mapping (key: template or list), got %s", sp, kind_name(n));
		return;
	}
	s->attrs_set = 1;
	size_t np = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	if (!np)
		return;
	if (!(s->attrs = calloc(np, sizeof(*s->attrs)))) {
		c->oom = 1;
		return;
	}
	for (size_t i = 0; i < np; i++) {
		yaml_node_t *k, *v;
		if (!map_pair(c, n, i, sp, "attributes", &k, &v))
			continue;
		const char *key = (const char *)k->data.scalar.value;
		int dup = 0;
		for (size_t j = 0; j < s->nattrs; j++)
			dup |= strcmp(s->attrs[j].key, key) == 0;
		snprintf(lb, sizeof(lb), "%s: attributes.%s", sp, disp(key, kb, sizeof(kb)));
		if (dup) {
			err_at(c, k, "%s: duplicate key", lb);
			continue;
		}
		struct cg_attr_spec *a = &s->attrs[s->nattrs++];
		if (!(a->key = strdup(key))) {
			c->oom = 1;
			return;
		}
		get_strs(c, v, lb, 1, &a->values, &a->nvalues);
	}
}

/* ---- actions (lifecycle actions per source; see struct cg_actions_config) ---- */

/* A YAML subtree as JSON: plain true/false become booleans, plain numbers numbers, the rest strings. */
static cJSON *yaml_json(struct ctx *c, yaml_node_t *n, const char *label)
{
	char lb[320];
	if (n->type == YAML_SCALAR_NODE) {
		char *s = scalar(c, n, label, "a value", 0);
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
			yaml_node_t *v = node_get(c, *it);
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
		yaml_node_t *v = node_get(c, p->value);
		if (!k || !v || k->type != YAML_SCALAR_NODE) {
			if (k)
				err_at(c, k, "%s: keys must be strings", label);
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

/* A user UUID (assignee, watcher). */
static int get_user_uuid(struct ctx *c, yaml_node_t *n, const char *label, char **dst)
{
	char b[80];
	char *s = NULL;
	if (get_name(c, n, label, &s))
		return -1;
	if (!is_uuid(s)) {
		err_at(c, n, "%s: '%s' is not a user UUID", label, disp(s, b, sizeof(b)));
		free(s);
		return -1;
	}
	free(*dst);
	*dst = s;
	return 0;
}

/* jira / servicenow: a mapping whose `required` keys (NULL-terminated) must be strings. */
static cJSON *get_integration(struct ctx *c, yaml_node_t *n, const char *label, const char *const *required,
			      const char *const *optional)
{
	char b[80];
	if (n->type != YAML_MAPPING_NODE) {
		err_at(c, n, "%s: expected a mapping, got %s", label, kind_name(n));
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
			err_at(c, n, "%s: unknown key '%s'", label, disp(it->string, b, sizeof(b)));
			cJSON_Delete(o);
			return NULL;
		}
	}
	for (size_t i = 0; required[i]; i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, required[i]);
		if (!cJSON_IsString(v) || !v->valuestring[0]) {
			err_at(c, n, "%s: %s is required (a string)", label, required[i]);
			cJSON_Delete(o);
			return NULL;
		}
	}
	return o;
}

enum { AS_ASSIGNEE, AS_WATCHERS, AS_DUE, AS_JIRA, AS_SERVICENOW, AS_NOTEBOOK, AS_N };

static void parse_action_set(struct ctx *c, struct field *f, const char *where, struct cg_action_set *a)
{
	static const char *const jira_req[] = {"project_id", "issue_type_id", "jira_account_id", NULL};
	static const char *const jira_opt[] = {"fields", NULL};
	static const char *const snow_req[] = {"instance_name", NULL};
	static const char *const snow_opt[] = {"assignment_group", NULL};
	char lb[320];

	if (f[AS_ASSIGNEE].val) {
		snprintf(lb, sizeof(lb), "%s.assignee", where);
		get_user_uuid(c, f[AS_ASSIGNEE].val, lb, &a->assignee);
	}
	if (f[AS_WATCHERS].val) {
		snprintf(lb, sizeof(lb), "%s.watchers", where);
		if (get_strs(c, f[AS_WATCHERS].val, lb, 0, &a->watchers, &a->nwatchers) == 0) {
			a->watchers_set = 1;
			if (a->nwatchers > 10)
				err_at(c, f[AS_WATCHERS].val, "%s: at most 10 watchers", lb);
			for (size_t i = 0; i < a->nwatchers; i++)
				if (!is_uuid(a->watchers[i]))
					err_at(c, f[AS_WATCHERS].val, "%s[%zu]: not a user UUID", lb, i);
		}
	}
	if (f[AS_DUE].val) {
		snprintf(lb, sizeof(lb), "%s.due", where);
		if (get_duration(c, f[AS_DUE].val, lb, 0, 3650 * MS_DAY, &a->due_ms) == 0)
			a->due_set = 1;
	}
	if (f[AS_JIRA].val) {
		snprintf(lb, sizeof(lb), "%s.jira", where);
		a->jira = get_integration(c, f[AS_JIRA].val, lb, jira_req, jira_opt);
		const cJSON *fields = cJSON_GetObjectItemCaseSensitive(a->jira, "fields");
		if (fields && !cJSON_IsObject(fields))
			err_at(c, f[AS_JIRA].val, "%s.fields: expected a mapping", lb);
	}
	if (f[AS_SERVICENOW].val) {
		snprintf(lb, sizeof(lb), "%s.servicenow", where);
		a->servicenow = get_integration(c, f[AS_SERVICENOW].val, lb, snow_req, snow_opt);
	}
	if (f[AS_NOTEBOOK].val) {
		int on = 0;
		snprintf(lb, sizeof(lb), "%s.notebook", where);
		if (get_bool(c, f[AS_NOTEBOOK].val, lb, &on) == 0)
			a->notebook = on ? 1 : -1;
	}
}

static void parse_insights(struct ctx *c, yaml_node_t *n, const char *where, struct cg_actions_config *ac)
{
	static const char *const types[] = {"SECURITY_SIGNAL", "MONITOR", "EVENT_CORRELATION", "ERROR_TRACKING",
					    "CLOUD_COST_RECOMMENDATION", "INCIDENT", "SENSITIVE_DATA_SCANNER_ISSUE",
					    "EVENT", "WATCHDOG_STORY", "WIDGET", NULL};
	char lb[320];
	if (n->type != YAML_SEQUENCE_NODE) {
		err_at(c, n, "%s.insights: expected a list of {type, ref, resource_id}, got %s", where, kind_name(n));
		return;
	}
	size_t ni = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	ac->insights_set = 1;
	if (!ni)
		return;
	if (ni > 20) {
		err_at(c, n, "%s.insights: at most 20 insights", where);
		return;
	}
	if (!(ac->insights = calloc(ni, sizeof(*ac->insights)))) {
		c->oom = 1;
		return;
	}
	for (size_t i = 0; i < ni; i++) {
		enum { I_TYPE, I_REF, I_RESOURCE_ID, I_N };
		struct field f[I_N] = {{"type", NULL}, {"ref", NULL}, {"resource_id", NULL}};
		yaml_node_t *item = node_get(c, n->data.sequence.items.start[i]);
		snprintf(lb, sizeof(lb), "%s.insights[%zu]", where, i);
		struct cg_insight_tmpl *t = &ac->insights[ac->ninsights++];
		if (!item || map_fields(c, item, lb, lb, f, I_N))
			continue;
		int e;
		char l2[360];
		if (!f[I_TYPE].val || !f[I_REF].val || !f[I_RESOURCE_ID].val) {
			err_at(c, item, "%s: type, ref and resource_id are required", lb);
			continue;
		}
		snprintf(l2, sizeof(l2), "%s.type", lb);
		if (get_enum(c, f[I_TYPE].val, l2, types, &e) == 0 && !(t->type = strdup(types[e])))
			c->oom = 1;
		snprintf(l2, sizeof(l2), "%s.ref", lb);
		get_tmpl(c, f[I_REF].val, l2, &t->ref);
		snprintf(l2, sizeof(l2), "%s.resource_id", lb);
		get_tmpl(c, f[I_RESOURCE_ID].val, l2, &t->resource_id);
	}
}

static void parse_actions(struct ctx *c, yaml_node_t *n, const char *sp, struct cg_source_config *s)
{
	enum { A_INSIGHTS = AS_N, A_LINK_PREVIOUS, A_ARCHIVE_AFTER, A_BULK, A_P1, A_P2, A_P3, A_P4, A_P5, A_N };
	struct field f[A_N] = {[AS_ASSIGNEE] = {"assignee", NULL},
			       [AS_WATCHERS] = {"watchers", NULL},
			       [AS_DUE] = {"due", NULL},
			       [AS_JIRA] = {"jira", NULL},
			       [AS_SERVICENOW] = {"servicenow", NULL},
			       [AS_NOTEBOOK] = {"notebook", NULL},
			       [A_INSIGHTS] = {"insights", NULL},
			       [A_LINK_PREVIOUS] = {"link_previous", NULL},
			       [A_ARCHIVE_AFTER] = {"archive_after", NULL},
			       [A_BULK] = {"bulk", NULL},
			       [A_P1] = {"P1", NULL},
			       [A_P2] = {"P2", NULL},
			       [A_P3] = {"P3", NULL},
			       [A_P4] = {"P4", NULL},
			       [A_P5] = {"P5", NULL}};
	static const char *const link_names[] = {"SUCCESSOR_OF", "RELATES_TO", "none", NULL};
	struct cg_actions_config *ac = &s->actions;
	char where[200], lb[320];
	int e;

	snprintf(where, sizeof(where), "%s: actions", sp);
	if (map_fields(c, n, where, where, f, A_N))
		return;
	parse_action_set(c, f, where, &ac->base);
	if (f[A_INSIGHTS].val)
		parse_insights(c, f[A_INSIGHTS].val, where, ac);
	if (f[A_LINK_PREVIOUS].val) {
		snprintf(lb, sizeof(lb), "%s.link_previous", where);
		if (get_enum(c, f[A_LINK_PREVIOUS].val, lb, link_names, &e) == 0)
			ac->link_previous = (enum cg_link_rel)e;
	}
	if (f[A_ARCHIVE_AFTER].val) {
		snprintf(lb, sizeof(lb), "%s.archive_after", where);
		if (get_duration(c, f[A_ARCHIVE_AFTER].val, lb, 0, 3650 * MS_DAY, &ac->archive_after_ms) == 0 &&
		    ac->archive_after_ms && ac->archive_after_ms <= s->reopen_window_ms)
			err_at(c, f[A_ARCHIVE_AFTER].val, "%s: must be longer than reopen_window (an archived case is not reopened)",
			       lb);
	}
	if (f[A_BULK].val) {
		snprintf(lb, sizeof(lb), "%s.bulk", where);
		get_bool(c, f[A_BULK].val, lb, &ac->bulk);
	}
	for (int p = 1; p <= 5; p++) {
		yaml_node_t *pn = f[A_P1 + p - 1].val;
		struct field pf[AS_N] = {[AS_ASSIGNEE] = {"assignee", NULL},
					 [AS_WATCHERS] = {"watchers", NULL},
					 [AS_DUE] = {"due", NULL},
					 [AS_JIRA] = {"jira", NULL},
					 [AS_SERVICENOW] = {"servicenow", NULL},
					 [AS_NOTEBOOK] = {"notebook", NULL}};
		if (!pn)
			continue;
		snprintf(lb, sizeof(lb), "%s.P%d", where, p);
		if (map_fields(c, pn, lb, lb, pf, AS_N))
			continue;
		ac->prio_set[p] = 1;
		parse_action_set(c, pf, lb, &ac->prio[p]);
	}
}

static void action_set_cleanup(struct cg_action_set *a)
{
	free(a->assignee);
	strv_free(a->watchers, a->nwatchers, 0);
	cJSON_Delete(a->jira);
	cJSON_Delete(a->servicenow);
}

static void actions_cleanup(struct cg_actions_config *ac)
{
	action_set_cleanup(&ac->base);
	for (int p = 0; p < 6; p++)
		action_set_cleanup(&ac->prio[p]);
	for (size_t i = 0; i < ac->ninsights; i++) {
		free(ac->insights[i].type);
		free(ac->insights[i].ref);
		free(ac->insights[i].resource_id);
	}
	free(ac->insights);
}

/* A project: its UUID, or its key (resolved through GET /cases/projects when casegate starts). */
static int is_project_key(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 31 || strcmp(s, "CASE") == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isupper((unsigned char)s[i]) && !isdigit((unsigned char)s[i]))
			return 0;
	return isupper((unsigned char)s[0]);
}

static int valid_source_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
			return 0;
	return 1;
}

static void known_mappers(struct sbuf *b)
{
	const struct cg_mapper *const *all = cg_mapper_all();
	for (size_t i = 0; all[i]; i++)
		if (sb_printf(b, "%s%s", i ? ", " : "", all[i]->name))
			return;
	sb_printf(b, ", datadog_case_events");
}

/* ---- e-mail sources: `rules:` (a shipped set's name, a list of rules, or a mapping) ---- */

static void known_rule_sets(struct sbuf *b)
{
	int i = 0;
	for (const char *const *n = cg_mail_rules_builtin_names(); *n; n++)
		sb_printf(b, "%s%s", i++ ? ", " : "", *n);
}

/* One rule mapping into rs (strings owned by the caller's arrays). */
static int parse_mail_rule(struct ctx *c, yaml_node_t *n, const char *label, struct cg_mail_rule_spec *rs,
			   char ***strs, size_t *nstrs)
{
	enum { R_IN, R_PATTERN, R_FIELDS, R_CASE, R_STATUS, R_N };
	struct field f[R_N] = {[R_IN] = {"in", NULL},
			       [R_PATTERN] = {"pattern", NULL},
			       [R_FIELDS] = {"fields", NULL},
			       [R_CASE] = {"case_sensitive", NULL},
			       [R_STATUS] = {"status", NULL}};
	static const char *const in_names[] = {"subject", "body", "from", NULL};
	static const char *const status_names[] = {"firing", "resolved", "comment", NULL};
	char lb[400];
	int e, bad = 0;
	if (map_fields(c, n, label, label, f, R_N))
		return -1;
	rs->in = "subject";
	if (f[R_IN].val) {
		snprintf(lb, sizeof(lb), "%.300s: in", label);
		if (!get_enum(c, f[R_IN].val, lb, in_names, &e))
			rs->in = in_names[e];
		else
			bad = 1;
	}
	if (f[R_STATUS].val) {
		snprintf(lb, sizeof(lb), "%.300s: status", label);
		if (!get_enum(c, f[R_STATUS].val, lb, status_names, &e))
			rs->status = status_names[e];
		else
			bad = 1;
	}
	if (f[R_CASE].val) {
		snprintf(lb, sizeof(lb), "%.300s: case_sensitive", label);
		if (get_bool(c, f[R_CASE].val, lb, &rs->case_sensitive))
			bad = 1;
	}
	char **pv = NULL;
	size_t np = 0;
	if (!f[R_PATTERN].val) {
		err_at(c, n, "%s: pattern is required (a POSIX extended regular expression)", label);
		bad = 1;
	} else {
		snprintf(lb, sizeof(lb), "%.300s: pattern", label);
		char *pat = scalar(c, f[R_PATTERN].val, lb, "a string", 0);
		if (!pat)
			bad = 1;
		else {
			pv = calloc(1, sizeof(*pv));
			if (!pv) {
				free(pat);
				c->oom = 1;
				return -1;
			}
			pv[0] = pat;
			np = 1;
			rs->pattern = pat;
		}
	}
	char **fv = NULL;
	size_t nf = 0;
	if (f[R_FIELDS].val) {
		snprintf(lb, sizeof(lb), "%.300s: fields", label);
		if (get_strs(c, f[R_FIELDS].val, lb, 0, &fv, &nf))
			bad = 1;
	}
	rs->fields = (const char *const *)fv;
	rs->nfields = nf;
	/* Keep every string for freeing after compilation. */
	char **ns = realloc(*strs, (*nstrs + np + nf + 1) * sizeof(**strs));
	if (!ns) {
		strv_free(pv, np, 0);
		strv_free(fv, nf, 0);
		c->oom = 1;
		return -1;
	}
	*strs = ns;
	for (size_t i = 0; i < np; i++)
		ns[(*nstrs)++] = pv[i];
	free(pv);
	/* The field array itself is needed by the spec: store it as one more pointer to free. */
	ns[(*nstrs)++] = (char *)fv;
	return bad ? -1 : 0;
}

static void parse_mail_rules(struct ctx *c, yaml_node_t *n, const char *sp, struct cg_source_config *s);
static void syntax_error(struct ctx *c, const yaml_parser_t *p, const char *text, size_t len);

#define MAX_RULES_FILE (1024 * 1024)

/*
 * `rules: { file: path }` (relative to the config file): the file holds exactly what could stand
 * under `rules:` (conf/mail-rules/ ships one per built-in set), so a copy can be adapted; its
 * problems are reported as file:line:col of that file.
 */
static void parse_mail_rules_file(struct ctx *c, yaml_node_t *n, const char *lb, const char *sp,
				  struct cg_source_config *s)
{
	char l2[300], pb[160];
	char *path = NULL, *buf = NULL;
	struct stat st;
	struct ctx sub = {0};
	yaml_parser_t parser;
	yaml_document_t doc, doc2;
	int fd = -1, have_parser = 0, have_doc = 0;

	snprintf(l2, sizeof(l2), "%s.file", lb);
	if (c->in_rules_file) {
		err_at(c, n, "%s: a rules file cannot name another rules file", l2);
		return;
	}
	if (get_path(c, n, l2, &path))
		return;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) != 0) {
		err_at(c, n, "%s: cannot read '%s': %s", l2, disp(path, pb, sizeof(pb)), strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > MAX_RULES_FILE) {
		err_at(c, n, "%s: '%s' is not a regular file of at most 1 MiB", l2, disp(path, pb, sizeof(pb)));
		goto out;
	}
	size_t cap = (size_t)st.st_size, len = 0;
	if (!(buf = malloc(cap + 1))) {
		c->oom = 1;
		goto out;
	}
	while (len < cap) {
		ssize_t r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err_at(c, n, "%s: cannot read '%s': %s", l2, disp(path, pb, sizeof(pb)), strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	buf[len] = '\0';
	sub.name = path;
	sub.dir = c->dir;
	sub.in_rules_file = 1;
	if (!yaml_parser_initialize(&parser)) {
		c->oom = 1;
		goto out;
	}
	have_parser = 1;
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&parser, &doc)) {
		syntax_error(&sub, &parser, buf, len);
		goto merge;
	}
	have_doc = 1;
	sub.doc = &doc;
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	if (!root) {
		err_mark(&sub, parser.mark, "the rules file is empty (give `match:` or `base:`, as under `rules:`)");
		goto merge;
	}
	if (!yaml_parser_load(&parser, &doc2)) {
		syntax_error(&sub, &parser, buf, len);
	} else {
		yaml_node_t *r2 = yaml_document_get_root_node(&doc2);
		if (r2)
			err_at(&sub, r2, "only one YAML document is allowed");
		yaml_document_delete(&doc2);
	}
	sub.nnodes = (size_t)(doc.nodes.top - doc.nodes.start);
	if (!(sub.seen = calloc(sub.nnodes ? sub.nnodes : 1, 1))) {
		sub.oom = 1;
		goto merge;
	}
	sub.seen[0] = 1; /* the root */
	parse_mail_rules(&sub, root, sp, s);
merge:
	/* The file's diagnostics join the config's (the error cap counts both). */
	if (sub.errs.p && c->nerrs < MAX_ERRORS && sb_append(&c->errs, sub.errs.p, sub.errs.len))
		c->oom = 1;
	if (sub.warns.p && sb_append(&c->warns, sub.warns.p, sub.warns.len))
		c->oom = 1;
	c->nerrs += sub.nerrs;
	if (sub.oom)
		c->oom = 1;
out:
	if (have_doc)
		yaml_document_delete(&doc);
	if (have_parser)
		yaml_parser_delete(&parser);
	free(sub.seen);
	free(sub.errs.p);
	free(sub.warns.p);
	if (fd >= 0)
		close(fd);
	free(buf);
	free(path);
}

static void parse_mail_rules(struct ctx *c, yaml_node_t *n, const char *sp, struct cg_source_config *s)
{
	char lb[256], b[80];
	struct cg_mail_rules_spec spec = {0};
	struct cg_mail_rule_spec *rules = NULL;
	char **strs = NULL; /* owned strings and arrays, freed at the end */
	size_t nstrs = 0;
	char **resolved = NULL, **comment = NULL, **senders = NULL, *dedup = NULL, *base = NULL;
	size_t nres = 0, ncom = 0, nsend = 0;
	yaml_node_t *list = NULL;
	int bad = 0;
	snprintf(lb, sizeof(lb), "%s: rules", sp);
	if (n->type == YAML_SCALAR_NODE) {
		base = scalar(c, n, lb, "a rule set name", 0);
		if (!base)
			return;
	} else if (n->type == YAML_SEQUENCE_NODE) {
		list = n;
	} else {
		enum { M_BASE, M_MATCH, M_RESOLVED, M_COMMENT, M_SENDERS, M_DEDUP, M_UNMATCHED, M_FILE, M_N };
		struct field f[M_N] = {[M_BASE] = {"base", NULL},
				       [M_MATCH] = {"match", NULL},
				       [M_RESOLVED] = {"resolved_words", NULL},
				       [M_COMMENT] = {"comment_words", NULL},
				       [M_SENDERS] = {"alert_senders", NULL},
				       [M_DEDUP] = {"dedup_key", NULL},
				       [M_UNMATCHED] = {"unmatched", NULL},
				       [M_FILE] = {"file", NULL}};
		static const char *const unmatched_names[] = {"case", "ignore", NULL};
		char l2[300];
		int e;
		if (map_fields(c, n, lb, lb, f, M_N))
			return;
		if (f[M_FILE].val) {
			for (int i = 0; i < M_FILE; i++)
				if (f[i].val) {
					err_at(c, f[i].val, "%s: give `file:` alone (put %s in the file)", lb, f[i].key);
					return;
				}
			parse_mail_rules_file(c, f[M_FILE].val, lb, sp, s);
			return;
		}
		if (f[M_BASE].val) {
			snprintf(l2, sizeof(l2), "%s.base", lb);
			if (!(base = scalar(c, f[M_BASE].val, l2, "a rule set name", 0)))
				bad = 1;
		}
		if (f[M_MATCH].val) {
			if (f[M_MATCH].val->type != YAML_SEQUENCE_NODE) {
				err_at(c, f[M_MATCH].val, "%s.match: expected a list of rules, got %s", lb,
				       kind_name(f[M_MATCH].val));
				bad = 1;
			} else {
				list = f[M_MATCH].val;
			}
		}
		snprintf(l2, sizeof(l2), "%s.resolved_words", lb);
		if (f[M_RESOLVED].val && get_strs(c, f[M_RESOLVED].val, l2, 0, &resolved, &nres))
			bad = 1;
		snprintf(l2, sizeof(l2), "%s.comment_words", lb);
		if (f[M_COMMENT].val && get_strs(c, f[M_COMMENT].val, l2, 0, &comment, &ncom))
			bad = 1;
		snprintf(l2, sizeof(l2), "%s.alert_senders", lb);
		if (f[M_SENDERS].val && get_strs(c, f[M_SENDERS].val, l2, 0, &senders, &nsend))
			bad = 1;
		snprintf(l2, sizeof(l2), "%s.dedup_key", lb);
		if (f[M_DEDUP].val && get_tmpl(c, f[M_DEDUP].val, l2, &dedup))
			bad = 1;
		snprintf(l2, sizeof(l2), "%s.unmatched", lb);
		if (f[M_UNMATCHED].val && !get_enum(c, f[M_UNMATCHED].val, l2, unmatched_names, &e))
			spec.ignore_unmatched = e;
		if (!list && !base) {
			err_at(c, n, "%s: give `base:` (a shipped rule set) or `match:` (a list of rules)", lb);
			bad = 1;
		}
	}
	if (base) {
		const struct cg_mail_rules_spec *bs = cg_mail_rules_builtin(base);
		if (!bs) {
			struct sbuf kn = {0};
			known_rule_sets(&kn);
			err_at(c, n, "%s: unknown rule set '%s' (shipped: %s)", lb, disp(base, b, sizeof(b)),
			       kn.p ? kn.p : "");
			free(kn.p);
			bad = 1;
		} else {
			spec = (struct cg_mail_rules_spec){.name = bs->name,
							    .rules = bs->rules,
							    .nrules = bs->nrules,
							    .resolved_words = bs->resolved_words,
							    .nresolved = bs->nresolved,
							    .comment_words = bs->comment_words,
							    .ncomment = bs->ncomment,
							    .dedup_key = bs->dedup_key,
							    .ignore_unmatched = spec.ignore_unmatched};
		}
	}
	if (list) {
		size_t nr = (size_t)(list->data.sequence.items.top - list->data.sequence.items.start);
		rules = calloc(nr ? nr : 1, sizeof(*rules));
		if (!rules) {
			c->oom = 1;
			goto out;
		}
		for (size_t i = 0; i < nr; i++) {
			char l3[300];
			snprintf(l3, sizeof(l3), "%s[%zu]", lb, i);
			yaml_node_t *item = node_get(c, list->data.sequence.items.start[i]);
			if (!item || parse_mail_rule(c, item, l3, &rules[i], &strs, &nstrs))
				bad = 1;
		}
		spec.rules = rules;
		spec.nrules = nr;
		spec.name = s->name ? s->name : "custom";
	}
	if (resolved) {
		spec.resolved_words = (const char *const *)resolved;
		spec.nresolved = nres;
	}
	if (comment) {
		spec.comment_words = (const char *const *)comment;
		spec.ncomment = ncom;
	}
	spec.alert_senders = (const char *const *)senders;
	spec.nsenders = nsend;
	if (dedup)
		spec.dedup_key = dedup;
	if (bad || c->oom)
		goto out;
	char err[300] = "";
	int rc = cg_mail_rules_create(&spec, &s->mail_rules, err, sizeof(err));
	if (rc == CG_ENOMEM) {
		c->oom = 1;
	} else if (rc) {
		/* "rule N: ..." points at that rule's line (a long rules file needs it). */
		yaml_node_t *at = n;
		unsigned long ri = 0;
		if (list && sscanf(err, "rule %lu:", &ri) == 1 && ri >= 1 &&
		    ri <= (unsigned long)(list->data.sequence.items.top - list->data.sequence.items.start)) {
			yaml_node_t *item = yaml_document_get_node(c->doc, list->data.sequence.items.start[ri - 1]);
			if (item)
				at = item;
		}
		err_at(c, at, "%s: %s", lb, err);
	}
out:
	/* The rules' field names first: their arrays are among strs. */
	for (size_t i = 0; rules && list && i < (size_t)(list->data.sequence.items.top - list->data.sequence.items.start);
	     i++)
		for (size_t k = 0; k < rules[i].nfields; k++)
			free((char *)rules[i].fields[k]);
	for (size_t i = 0; i < nstrs; i++)
		free(strs[i]);
	free(strs);
	free(rules);
	strv_free(resolved, nres, 0);
	strv_free(comment, ncom, 0);
	strv_free(senders, nsend, 0);
	free(dedup);
	free(base);
}

static void parse_source(struct ctx *c, yaml_node_t *n, size_t idx, struct cg_source_config *s)
{
	enum {
		S_NAME, S_TYPE, S_AUTH, S_GROUP_BY, S_PROJECT, S_CASE_TYPE, S_TITLE, S_DESCRIPTION, S_DEDUP_KEY,
		S_PRIORITY, S_CUSTOM_ATTRIBUTES, S_ATTRIBUTES, S_ON_REPEAT, S_DIGEST_INTERVAL, S_ON_RESOLVE,
		S_STATUS_NAME, S_REOPEN_STATUS_NAME, S_REOPEN_WINDOW, S_RAISE_PRIORITY, S_LOWER_PRIORITY, S_ACTIONS, S_RULES,
		S_VERIFY, S_ALLOW_IPS, S_RATE_LIMIT, S_REPLY_SENDERS, S_REPLY_TO_CLOSED, S_N
	};
	struct field f[S_N] = {[S_NAME] = {"name", NULL},
			       [S_TYPE] = {"type", NULL},
			       [S_AUTH] = {"auth", NULL},
			       [S_GROUP_BY] = {"group_by", NULL},
			       [S_PROJECT] = {"project", NULL},
			       [S_CASE_TYPE] = {"case_type", NULL},
			       [S_TITLE] = {"title", NULL},
			       [S_DESCRIPTION] = {"description", NULL},
			       [S_DEDUP_KEY] = {"dedup_key", NULL},
			       [S_PRIORITY] = {"priority", NULL},
			       [S_CUSTOM_ATTRIBUTES] = {"custom_attributes", NULL},
			       [S_ATTRIBUTES] = {"attributes", NULL},
			       [S_ON_REPEAT] = {"on_repeat", NULL},
			       [S_DIGEST_INTERVAL] = {"digest_interval", NULL},
			       [S_ON_RESOLVE] = {"on_resolve", NULL},
			       [S_STATUS_NAME] = {"status_name", NULL},
			       [S_REOPEN_STATUS_NAME] = {"reopen_status_name", NULL},
			       [S_REOPEN_WINDOW] = {"reopen_window", NULL},
			       [S_RAISE_PRIORITY] = {"raise_priority", NULL},
			       [S_LOWER_PRIORITY] = {"lower_priority", NULL},
			       [S_ACTIONS] = {"actions", NULL},
			       [S_RULES] = {"rules", NULL},
			       [S_VERIFY] = {"verify", NULL},
			       [S_ALLOW_IPS] = {"allow_ips", NULL},
			       [S_RATE_LIMIT] = {"rate_limit", NULL},
			       [S_REPLY_SENDERS] = {"reply_senders", NULL},
			       [S_REPLY_TO_CLOSED] = {"reply_to_closed", NULL}};
	static const char *const group_by_names[] = {"alert", "group", NULL};
	static const char *const repeat_names[] = {"digest", "comment", "ignore", NULL};
	static const char *const resolve_names[] = {"comment_and_close", "comment", "close", "ignore", NULL};
	char sp[128], lb[256], b[80];
	int e;

	s->line = (int)n->start_mark.line + 1;
	s->digest_interval_ms = 15 * MS_MINUTE;
	s->reopen_window_ms = MS_HOUR;
	s->raise_priority = 1;
	s->lower_priority = 0;
	s->actions.bulk = 0; /* opt-in: the bulk endpoint is a preview with an undocumented payload */

	snprintf(sp, sizeof(sp), "source #%zu", idx + 1);
	/* Peek at the name so that even unknown-key messages can say which source they are about. */
	if (n->type == YAML_MAPPING_NODE) {
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
			yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
			yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
			if (k && v && k->type == YAML_SCALAR_NODE && v->type == YAML_SCALAR_NODE &&
			    strcmp((const char *)k->data.scalar.value, "name") == 0 &&
			    valid_source_name((const char *)v->data.scalar.value))
				snprintf(sp, sizeof(sp), "source '%s'", (const char *)v->data.scalar.value);
		}
	}
	if (map_fields(c, n, sp, sp, f, S_N))
		return;
	if (!f[S_NAME].val) {
		err_at(c, n, "%s: name is required", sp);
	} else {
		snprintf(lb, sizeof(lb), "%s: name", sp);
		char *name = scalar(c, f[S_NAME].val, lb, "a string", 0);
		if (name && !valid_source_name(name)) {
			err_at(c, f[S_NAME].val, "%s: '%s' is not a valid name (use 1 to 64 of a-z, 0-9, _ and -)", lb,
			       disp(name, b, sizeof(b)));
			free(name);
		} else if (name) {
			s->name = name;
			snprintf(sp, sizeof(sp), "source '%s'", name);
		}
	}
	if (!f[S_TYPE].val) {
		struct sbuf kn = {0};
		known_mappers(&kn);
		err_at(c, n, "%s: type is required (known: %s)", sp, kn.p ? kn.p : "");
		free(kn.p);
	} else {
		snprintf(lb, sizeof(lb), "%s: type", sp);
		if (!get_str(c, f[S_TYPE].val, lb, &s->type) && !(s->mapper = cg_mapper_find(s->type)) &&
		    strcmp(s->type, "datadog_case_events") != 0) {
			struct sbuf kn = {0};
			known_mappers(&kn);
			err_at(c, f[S_TYPE].val, "%s: unknown mapper '%s' (known: %s)", lb, disp(s->type, b, sizeof(b)),
			       kn.p ? kn.p : "");
			free(kn.p);
		}
	}

	if (f[S_RATE_LIMIT].val) {
		snprintf(lb, sizeof(lb), "%s: rate_limit", sp);
		parse_rate_limit(c, f[S_RATE_LIMIT].val, lb, &s->rl_rps, &s->rl_burst);
	}

	int is_email = s->type && strcmp(s->type, "email") == 0;
	if (f[S_VERIFY].val)
		parse_verify(c, f[S_VERIFY].val, sp, s);
	if (f[S_ALLOW_IPS].val) {
		snprintf(lb, sizeof(lb), "%s: allow_ips", sp);
		get_cidrs(c, f[S_ALLOW_IPS].val, lb, &s->allow_ips, &s->nallow_ips);
	}
	if (!f[S_AUTH].val && f[S_VERIFY].val)
		s->auth.kind = CG_AUTH_NONE; /* the signature is the credential */
	else if (!f[S_AUTH].val && !is_email) /* mail comes through the mail listener, not HTTP */
		err_at(c, n, "%s: auth is required (write `auth: none` to accept unauthenticated requests)", sp);
	else if (f[S_AUTH].val)
		parse_auth(c, f[S_AUTH].val, sp, &s->auth);
	if (f[S_RULES].val && !is_email)
		err_at(c, f[S_RULES].val, "%s: rules: only `type: email` sources have rules", sp);
	else if (f[S_RULES].val)
		parse_mail_rules(c, f[S_RULES].val, sp, s);
	static const struct {
		int idx;
		const char *key;
	} mail_only[] = {{S_REPLY_SENDERS, "reply_senders"}, {S_REPLY_TO_CLOSED, "reply_to_closed"}};
	for (size_t i = 0; i < 2; i++)
		if (f[mail_only[i].idx].val && !is_email)
			err_at(c, f[mail_only[i].idx].val, "%s: %s: only `type: email` sources take replies", sp,
			       mail_only[i].key);
	if (f[S_REPLY_SENDERS].val && is_email) {
		snprintf(lb, sizeof(lb), "%s: reply_senders", sp);
		if (!get_strs(c, f[S_REPLY_SENDERS].val, lb, 0, &s->reply_senders, &s->nreply_senders))
			for (size_t i = 0; i < s->nreply_senders; i++)
				for (char *p = s->reply_senders[i]; *p; p++)
					*p = (char)tolower((unsigned char)*p);
	}
	if (f[S_REPLY_TO_CLOSED].val && is_email) {
		snprintf(lb, sizeof(lb), "%s: reply_to_closed", sp);
		get_bool(c, f[S_REPLY_TO_CLOSED].val, lb, &s->reply_to_closed);
	}

	if (f[S_GROUP_BY].val) {
		snprintf(lb, sizeof(lb), "%s: group_by", sp);
		if (!get_enum(c, f[S_GROUP_BY].val, lb, group_by_names, &e)) {
			s->group_by = (enum cg_group_by)e;
			if (s->group_by == CG_GROUP_GROUP && s->mapper && !s->mapper->supports_group_by)
				err_at(c, f[S_GROUP_BY].val, "%s: mapper '%s' cannot group alerts (use group_by: alert)", lb,
				       s->mapper->name);
		}
	}

	static const struct {
		int idx;
		const char *key, *what;
	} uuids[] = {{S_PROJECT, "project", "the Datadog project"}, {S_CASE_TYPE, "case_type", "the case type"}};
	for (size_t i = 0; i < 2; i++) {
		yaml_node_t *v = f[uuids[i].idx].val;
		char **dst = uuids[i].idx == S_PROJECT ? &s->project : &s->case_type;
		if (!v) {
			/* A case-events source makes no case: it needs neither. */
			if (!(s->type && strcmp(s->type, "datadog_case_events") == 0))
				err_at(c, n, "%s: %s is required (the UUID of %s)", sp, uuids[i].key, uuids[i].what);
			continue;
		}
		snprintf(lb, sizeof(lb), "%s: %s", sp, uuids[i].key);
		if (get_str(c, v, lb, dst))
			continue;
		if (!is_uuid(*dst) && !(uuids[i].idx == S_PROJECT && is_project_key(*dst))) {
			err_at(c, v, "%s: '%s' is not a UUID%s", lb, disp(*dst, b, sizeof(b)),
			       uuids[i].idx == S_PROJECT ? " or a project key (upper-case letters and digits)" : "");
			free(*dst);
			*dst = NULL;
		}
	}

	static const struct {
		int idx;
		const char *key;
	} tmpls[] = {{S_TITLE, "title"}, {S_DESCRIPTION, "description"}, {S_DEDUP_KEY, "dedup_key"}};
	for (size_t i = 0; i < 3; i++) {
		yaml_node_t *v = f[tmpls[i].idx].val;
		char **dst = tmpls[i].idx == S_TITLE ? &s->title : tmpls[i].idx == S_DESCRIPTION ? &s->description
												     : &s->dedup_key;
		if (!v)
			continue;
		snprintf(lb, sizeof(lb), "%s: %s", sp, tmpls[i].key);
		get_tmpl(c, v, lb, dst);
	}

	if (f[S_PRIORITY].val)
		parse_priority(c, f[S_PRIORITY].val, sp, s);
	if (f[S_CUSTOM_ATTRIBUTES].val)
		parse_cas(c, f[S_CUSTOM_ATTRIBUTES].val, sp, s);
	if (f[S_ATTRIBUTES].val)
		parse_attrs(c, f[S_ATTRIBUTES].val, sp, s);

	if (f[S_ON_REPEAT].val) {
		snprintf(lb, sizeof(lb), "%s: on_repeat", sp);
		if (!get_enum(c, f[S_ON_REPEAT].val, lb, repeat_names, &e))
			s->on_repeat = (enum cg_on_repeat)e;
	}
	if (f[S_DIGEST_INTERVAL].val) {
		snprintf(lb, sizeof(lb), "%s: digest_interval", sp);
		get_duration(c, f[S_DIGEST_INTERVAL].val, lb, MS_SECOND, 30 * MS_DAY, &s->digest_interval_ms);
	}
	if (f[S_ON_RESOLVE].val) {
		snprintf(lb, sizeof(lb), "%s: on_resolve", sp);
		if (!get_enum(c, f[S_ON_RESOLVE].val, lb, resolve_names, &e))
			s->on_resolve = (enum cg_on_resolve)e;
	}
	if (f[S_STATUS_NAME].val) {
		snprintf(lb, sizeof(lb), "%s: status_name", sp);
		get_name(c, f[S_STATUS_NAME].val, lb, &s->status_name);
	}
	if (f[S_REOPEN_STATUS_NAME].val) {
		snprintf(lb, sizeof(lb), "%s: reopen_status_name", sp);
		get_name(c, f[S_REOPEN_STATUS_NAME].val, lb, &s->reopen_status_name);
	}
	if (f[S_REOPEN_WINDOW].val) {
		snprintf(lb, sizeof(lb), "%s: reopen_window", sp);
		get_duration(c, f[S_REOPEN_WINDOW].val, lb, 0, 365 * MS_DAY, &s->reopen_window_ms);
	}
	if (f[S_RAISE_PRIORITY].val) {
		snprintf(lb, sizeof(lb), "%s: raise_priority", sp);
		get_bool(c, f[S_RAISE_PRIORITY].val, lb, &s->raise_priority);
	}
	if (f[S_LOWER_PRIORITY].val) {
		snprintf(lb, sizeof(lb), "%s: lower_priority", sp);
		get_bool(c, f[S_LOWER_PRIORITY].val, lb, &s->lower_priority);
	}
	if (f[S_ACTIONS].val)
		parse_actions(c, f[S_ACTIONS].val, sp, s);
}

static void parse_sources(struct ctx *c, yaml_node_t *root, yaml_node_t *n, struct cg_config *cfg)
{
	if (!n) {
		err_at(c, root, "sources: at least one source is required");
		return;
	}
	if (n->type != YAML_SEQUENCE_NODE) {
		err_at(c, n, "sources: expected a list of sources, got %s", kind_name(n));
		return;
	}
	size_t ns = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (!ns) {
		err_at(c, n, "sources: at least one source is required");
		return;
	}
	if (!(cfg->sources = calloc(ns, sizeof(*cfg->sources)))) {
		c->oom = 1;
		return;
	}
	for (size_t i = 0; i < ns; i++) {
		yaml_node_t *item = node_get(c, n->data.sequence.items.start[i]);
		struct cg_source_config *s = &cfg->sources[cfg->nsources++];
		if (!item)
			continue;
		parse_source(c, item, i, s);
		for (size_t j = 0; j < i && s->name; j++) {
			if (cfg->sources[j].name && strcmp(cfg->sources[j].name, s->name) == 0) {
				err_at(c, item, "duplicate source name '%s' (first declared at line %d)", s->name,
				       cfg->sources[j].line);
				break;
			}
		}
	}
}

/* ---- mail: the LMTP/SMTP listener ---- */

static void parse_mail(struct ctx *c, yaml_node_t *n, struct cg_config *cfg)
{
	enum {
		X_LISTEN, X_PROTOCOL, X_MAX_SIZE, X_MAX_RCPT, X_TIMEOUT, X_MAX_CONN, X_PER_SENDER, X_HOSTNAME, X_ROUTES,
		X_MAX_PARTS, X_AUTHSERV_ID, X_N
	};
	struct field f[X_N] = {[X_LISTEN] = {"listen", NULL},
			       [X_PROTOCOL] = {"protocol", NULL},
			       [X_MAX_SIZE] = {"max_size", NULL},
			       [X_MAX_RCPT] = {"max_recipients", NULL},
			       [X_TIMEOUT] = {"timeout", NULL},
			       [X_MAX_CONN] = {"max_connections", NULL},
			       [X_PER_SENDER] = {"max_per_sender_hour", NULL},
			       [X_HOSTNAME] = {"hostname", NULL},
			       [X_ROUTES] = {"routes", NULL},
			       [X_MAX_PARTS] = {"max_parts", NULL},
			       [X_AUTHSERV_ID] = {"authserv_id", NULL}};
	static const char *const proto_names[] = {"lmtp", "smtp", NULL};
	struct cg_mail_config *m = &cfg->mail;
	char b[80];
	uint64_t v;
	int e;
	if (map_fields(c, n, "mail", "mail", f, X_N))
		return;
	/* Without listen, the section configures pipe mode (`casegate mail`) only. */
	m->enabled = f[X_LISTEN].val != NULL;
	if (f[X_LISTEN].val) {
		char *s = scalar(c, f[X_LISTEN].val, "mail.listen", "host:port", 0);
		if (s) {
			char *host = NULL;
			int rc = parse_listen(s, &host, &m->listen_port);
			if (rc == CG_ENOMEM)
				c->oom = 1;
			else if (rc)
				err_at(c, f[X_LISTEN].val, "mail.listen: expected IP:port (e.g. 127.0.0.1:2525), got '%s'",
				       disp(s, b, sizeof(b)));
			else {
				free(m->listen_host);
				m->listen_host = host;
			}
			free(s);
		}
	}
	if (f[X_PROTOCOL].val && !get_enum(c, f[X_PROTOCOL].val, "mail.protocol", proto_names, &e))
		m->protocol = (enum cg_mail_protocol)e;
	if (f[X_MAX_SIZE].val && !get_size(c, f[X_MAX_SIZE].val, "mail.max_size", 1024, 1024ULL * 1024 * 1024, &v))
		m->max_size = v;
	if (f[X_MAX_RCPT].val && !get_uint(c, f[X_MAX_RCPT].val, "mail.max_recipients", 1, 10000, &v))
		m->max_recipients = (unsigned)v;
	if (f[X_TIMEOUT].val)
		get_duration_u(c, f[X_TIMEOUT].val, "mail.timeout", 1, MS_HOUR, &m->timeout_ms);
	if (f[X_MAX_CONN].val && !get_uint(c, f[X_MAX_CONN].val, "mail.max_connections", 1, 100000, &v))
		m->max_connections = (unsigned)v;
	if (f[X_PER_SENDER].val && !get_uint(c, f[X_PER_SENDER].val, "mail.max_per_sender_hour", 0, 1000000, &v))
		m->max_per_sender_hour = (unsigned)v;
	if (f[X_HOSTNAME].val)
		get_name(c, f[X_HOSTNAME].val, "mail.hostname", &m->hostname);
	if (f[X_MAX_PARTS].val && !get_uint(c, f[X_MAX_PARTS].val, "mail.max_parts", 1, 1000000, &v))
		m->max_parts = (size_t)v;
	if (f[X_AUTHSERV_ID].val && !get_name(c, f[X_AUTHSERV_ID].val, "mail.authserv_id", &m->authserv_id) &&
	    strpbrk(m->authserv_id, " \t;()\"")) {
		/* RFC 8601: a token or a domain name, the text before the first ';'. */
		err_at(c, f[X_AUTHSERV_ID].val, "mail.authserv_id: '%s' is not an authserv-id (no spaces, ';', '(' or quotes)",
		       disp(m->authserv_id, b, sizeof(b)));
	}
	yaml_node_t *r = f[X_ROUTES].val;
	if (!r)
		return;
	if (r->type != YAML_SEQUENCE_NODE) {
		err_at(c, r, "mail.routes: expected a list of {rcpt, source}, got %s", kind_name(r));
		return;
	}
	size_t nr = (size_t)(r->data.sequence.items.top - r->data.sequence.items.start);
	if (nr && !(m->routes = calloc(nr, sizeof(*m->routes)))) {
		c->oom = 1;
		return;
	}
	for (size_t i = 0; i < nr; i++) {
		char lb[64];
		snprintf(lb, sizeof(lb), "mail.routes[%zu]", i);
		yaml_node_t *item = node_get(c, r->data.sequence.items.start[i]);
		struct field rf[2] = {{"rcpt", NULL}, {"source", NULL}};
		if (!item || map_fields(c, item, lb, lb, rf, 2))
			continue;
		struct cg_mail_route *rt = &m->routes[m->nroutes++];
		if (!rf[0].val || !rf[1].val) {
			err_at(c, item, "%s: rcpt and source are required", lb);
			continue;
		}
		char l2[96];
		snprintf(l2, sizeof(l2), "%s.rcpt", lb);
		if (!get_str(c, rf[0].val, l2, &rt->rcpt))
			for (char *p = rt->rcpt; *p; p++)
				*p = (char)tolower((unsigned char)*p);
		snprintf(l2, sizeof(l2), "%s.source", lb);
		if (get_str(c, rf[1].val, l2, &rt->source))
			continue;
		const struct cg_source_config *src = cg_config_source(cfg, rt->source);
		if (!src)
			err_at(c, rf[1].val, "%s: no source named '%s'", l2, disp(rt->source, b, sizeof(b)));
		else if (!src->type || strcmp(src->type, "email") != 0)
			err_at(c, rf[1].val, "%s: source '%s' is not `type: email`", l2, rt->source);
	}
}

static void parse_root(struct ctx *c, yaml_node_t *root, struct cg_config *cfg)
{
	enum {
		K_LISTEN, K_STATE_DIR, K_LOG_LEVEL, K_LOG_FORMAT, K_DATADOG, K_LIMITS, K_QUEUE, K_STORE, K_SOURCES, K_PROVISION,
		K_MAIL, K_TRUSTED_PROXIES, K_PROXY_HEADER, K_TLS, K_RATE_LIMIT, K_N
	};
	struct field f[K_N] = {[K_RATE_LIMIT] = {"rate_limit", NULL},
			       [K_LISTEN] = {"listen", NULL},
			       [K_STATE_DIR] = {"state_dir", NULL},
			       [K_LOG_LEVEL] = {"log_level", NULL},
			       [K_LOG_FORMAT] = {"log_format", NULL},
			       [K_DATADOG] = {"datadog", NULL},
			       [K_LIMITS] = {"limits", NULL},
			       [K_QUEUE] = {"queue", NULL},
			       [K_STORE] = {"store", NULL},
			       [K_SOURCES] = {"sources", NULL},
			       /* Case Management resources for `casegate provision` (provision.c reads them). */
			       [K_PROVISION] = {"provision", NULL},
			       [K_MAIL] = {"mail", NULL},
			       [K_TRUSTED_PROXIES] = {"trusted_proxies", NULL},
			       [K_PROXY_HEADER] = {"proxy_header", NULL},
			       [K_TLS] = {"tls", NULL}};
	static const char *const proxy_header_names[] = {"x-forwarded-for", "forwarded", NULL};
	static const char *const level_names[] = {"error", "warn", "info", "debug", NULL};
	static const char *const format_names[] = {"text", "json", NULL};
	char b[80];
	int e;

	if (map_fields(c, root, "configuration", NULL, f, K_N))
		return;
	if (f[K_LISTEN].val) {
		char *s = scalar(c, f[K_LISTEN].val, "listen", "host:port", 0);
		if (s) {
			char *host = NULL;
			int rc = parse_listen(s, &host, &cfg->listen_port);
			if (rc == CG_ENOMEM)
				c->oom = 1;
			else if (rc)
				err_at(c, f[K_LISTEN].val,
				       "listen: expected IP:port (e.g. 127.0.0.1:8080, 0.0.0.0:8080, [::1]:8080), got '%s'",
				       disp(s, b, sizeof(b)));
			else {
				free(cfg->listen_host);
				cfg->listen_host = host;
			}
			free(s);
		}
	}
	if (f[K_STATE_DIR].val)
		get_path(c, f[K_STATE_DIR].val, "state_dir", &cfg->state_dir);
	if (f[K_LOG_LEVEL].val && !get_enum(c, f[K_LOG_LEVEL].val, "log_level", level_names, &e)) {
		free(cfg->log_level);
		if (!(cfg->log_level = strdup(level_names[e])))
			c->oom = 1;
	}
	if (f[K_LOG_FORMAT].val && !get_enum(c, f[K_LOG_FORMAT].val, "log_format", format_names, &e)) {
		free(cfg->log_format);
		if (!(cfg->log_format = strdup(format_names[e])))
			c->oom = 1;
	}
	parse_datadog(c, root, f[K_DATADOG].val, cfg);
	if (f[K_LIMITS].val)
		parse_limits(c, f[K_LIMITS].val, cfg);
	if (f[K_QUEUE].val)
		parse_queue(c, f[K_QUEUE].val, cfg);
	if (f[K_STORE].val)
		parse_store(c, f[K_STORE].val, cfg);
	if (f[K_RATE_LIMIT].val)
		parse_rate_limit(c, f[K_RATE_LIMIT].val, "rate_limit", &cfg->rl_rps, &cfg->rl_burst);
	parse_sources(c, root, f[K_SOURCES].val, cfg);
	if (f[K_MAIL].val)
		parse_mail(c, f[K_MAIL].val, cfg);
	if (f[K_TRUSTED_PROXIES].val)
		get_cidrs(c, f[K_TRUSTED_PROXIES].val, "trusted_proxies", &cfg->trusted_proxies, &cfg->ntrusted_proxies);
	if (f[K_PROXY_HEADER].val && !get_enum(c, f[K_PROXY_HEADER].val, "proxy_header", proxy_header_names, &e))
		cfg->proxy_header_forwarded = e == 1;
	if (f[K_TLS].val)
		parse_tls(c, f[K_TLS].val, cfg);

	if (c->nerrs || c->oom || !cfg->listen_host)
		return;
	for (size_t i = 0; i < cfg->nsources; i++) {
		const struct cg_source_config *s = &cfg->sources[i];
		/* No alert_senders: a forged From (or envelope) opens and closes cases. */
		if (s->type && strcmp(s->type, "email") == 0 && cg_mail_rules_sender_ok(s->mail_rules, NULL)) {
			yaml_mark_t m = {0, (size_t)s->line - 1, 0};
			warn_mark(c, m,
				  "source '%s' accepts alert mail from any sender: whoever can mail it can open and close its "
				  "cases (set rules.alert_senders%s)",
				  s->name, cfg->mail.authserv_id ? "" : ", and mail.authserv_id to check them");
		}
	}
	if (!is_loopback(cfg->listen_host)) {
		for (size_t i = 0; i < cfg->nsources; i++) {
			const struct cg_source_config *s = &cfg->sources[i];
			if (s->auth.kind == CG_AUTH_NONE && s->nverify == 0 && s->nallow_ips == 0) {
				yaml_mark_t m = {0, (size_t)s->line - 1, 0};
				warn_mark(c, m, "source '%s' accepts unauthenticated requests on %s, which is not loopback",
					  s->name, cfg->listen_host);
			}
		}
	}
}

static struct cg_config *config_new(void)
{
	struct cg_config *cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return NULL;
	cfg->listen_host = strdup("127.0.0.1");
	cfg->listen_port = 8080;
	cfg->log_level = strdup("info");
	cfg->log_format = strdup("text");
	cfg->dd_timeout_ms = 15000;
	cfg->dd_search_settle_ms = 2 * MS_MINUTE;
	cfg->dd_case_refresh_ms = 5 * MS_MINUTE;
	cfg->dd_marker_attr = strdup("casegate_ref");
	cfg->dd_circuit_threshold = 10;
	cfg->max_body = 1024 * 1024;
	cfg->max_header_bytes = 16 * 1024;
	cfg->max_connections = 1024;
	cfg->header_timeout_ms = 10000;
	cfg->body_timeout_ms = 30000;
	cfg->idle_timeout_ms = 60000;
	cfg->max_connections_per_address = 128;
	cfg->first_byte_timeout_ms = 3000;
	cfg->write_timeout_ms = 30000;
	cfg->max_inflight = 16;
	cfg->retry_base_ms = MS_SECOND;
	cfg->retry_cap_ms = 5 * MS_MINUTE;
	cfg->max_attempts = 0;
	cfg->store_max_bytes = 0;
	cfg->max_pending = 10000;
	cfg->max_pending_bytes = 64ULL * 1024 * 1024;
	cfg->mail.max_size = 10 * 1024 * 1024;
	cfg->mail.max_recipients = 100;
	cfg->mail.timeout_ms = 5 * 60 * 1000;
	cfg->mail.max_connections = 100;
	cfg->mail.max_per_sender_hour = 120;
	cfg->mail.max_parts = 1000;
	cfg->group_commit = 1;
	if (!cfg->listen_host || !cfg->log_level || !cfg->log_format) {
		cg_config_free(cfg);
		return NULL;
	}
	return cfg;
}

static void syntax_error(struct ctx *c, const yaml_parser_t *p, const char *text, size_t len)
{
	yaml_mark_t m = p->problem_mark;
	if (p->error == YAML_MEMORY_ERROR) {
		c->oom = 1;
		return;
	}
	if (p->error == YAML_READER_ERROR) {
		/* Reader errors (bad encoding) carry a byte offset, not a mark. */
		m.line = m.column = 0;
		for (size_t i = 0; i < p->problem_offset && i < len; i++) {
			if (text[i] == '\n') {
				m.line++;
				m.column = 0;
			} else {
				m.column++;
			}
		}
	}
	/* Unquoted ${VAR} inside { } or [ ] is the classic trap: '{' and '}' end a flow scalar. */
	const char *hint = "";
	size_t start = 0, line = 0;
	for (size_t i = 0; i < len && line < m.line; i++)
		if (text[i] == '\n') {
			line++;
			start = i + 1;
		}
	const char *eol = start < len ? memchr(text + start, '\n', len - start) : NULL;
	size_t linelen = start < len ? (eol ? (size_t)(eol - text) : len) - start : 0;
	for (size_t i = 0; i + 1 < linelen; i++)
		if (text[start + i] == '$' && text[start + i + 1] == '{')
			hint = " (inside { } or [ ], quote values that use variables: \"${VAR}\")";
	err_mark(c, m, "YAML syntax error: %s%s%s%s", p->problem ? p->problem : "unknown problem",
		 p->context ? " " : "", p->context ? p->context : "", hint);
}

/* Wipes every scalar of doc: any of them may be a secret. */
static void doc_wipe(yaml_document_t *doc)
{
	for (yaml_node_t *n = doc->nodes.start; n < doc->nodes.top; n++)
		if (n->type == YAML_SCALAR_NODE && n->data.scalar.value)
			OPENSSL_cleanse(n->data.scalar.value, n->data.scalar.length);
}

static void parser_wipe(yaml_parser_t *p)
{
	if (p->buffer.start && p->buffer.end > p->buffer.start)
		OPENSSL_cleanse(p->buffer.start, (size_t)(p->buffer.end - p->buffer.start));
	if (p->raw_buffer.start && p->raw_buffer.end > p->raw_buffer.start)
		OPENSSL_cleanse(p->raw_buffer.start, (size_t)(p->raw_buffer.end - p->raw_buffer.start));
}

static char *strip_nl(struct sbuf *b)
{
	if (b->p && b->len && b->p[b->len - 1] == '\n')
		b->p[--b->len] = '\0';
	return b->p;
}

static int parse_text(const char *name, const char *dir, const char *text, size_t len, int world_readable,
		      struct cg_config **out, char **errs)
{
	struct ctx c = {0};
	yaml_parser_t parser;
	yaml_document_t doc, doc2;
	int have_doc = 0;
	struct cg_config *cfg = NULL;
	int rc = CG_EINVAL;

	if (errs)
		*errs = NULL;
	c.name = name;
	c.dir = dir;
	if (!yaml_parser_initialize(&parser))
		return CG_ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		syntax_error(&c, &parser, text, len);
		goto done;
	}
	have_doc = 1;
	c.doc = &doc;
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	if (!root) {
		err_mark(&c, parser.mark, "the configuration is empty (at least `sources:` is required)");
		goto done;
	}
	if (!yaml_parser_load(&parser, &doc2)) {
		syntax_error(&c, &parser, text, len);
	} else {
		yaml_node_t *r2 = yaml_document_get_root_node(&doc2);
		if (r2)
			err_at(&c, r2, "only one YAML document is allowed");
		doc_wipe(&doc2);
		yaml_document_delete(&doc2);
	}
	c.nnodes = (size_t)(doc.nodes.top - doc.nodes.start);
	if (!(c.seen = calloc(c.nnodes ? c.nnodes : 1, 1)) || !(cfg = config_new())) {
		c.oom = 1;
		goto done;
	}
	c.seen[0] = 1; /* the root */
	if (!(cfg->path = strdup(name)) || !(cfg->state_dir = path_join(&c, "var"))) {
		c.oom = 1;
		goto done;
	}
	parse_root(&c, root, cfg);
	if (!c.nerrs && !c.oom && world_readable && c.inline_secret)
		warn_mark(&c, c.inline_mark,
			  "%s is readable by every user and holds a secret: chmod o-r it, or use ${VAR} or *_file", name);
done:
	if (c.oom) {
		rc = CG_ENOMEM;
	} else if (c.nerrs) {
		rc = CG_EINVAL;
	} else {
		rc = 0;
		cfg->warnings = strip_nl(&c.warns);
		c.warns.p = NULL;
		*out = cfg;
		cfg = NULL;
	}
	if (rc && errs && !c.oom) {
		*errs = strip_nl(&c.errs);
		c.errs.p = NULL;
	}
	cg_config_free(cfg);
	free(c.seen);
	free(c.errs.p);
	free(c.warns.p);
	if (have_doc) {
		doc_wipe(&doc);
		yaml_document_delete(&doc);
	}
	parser_wipe(&parser);
	yaml_parser_delete(&parser);
	return rc;
}

/* Directory part of path ("." when none). */
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

int cg_config_parse(const char *name, const char *text, size_t len, struct cg_config **out, char **errs)
{
	char *dir = dir_of(name);
	if (!dir) {
		if (errs)
			*errs = NULL;
		return CG_ENOMEM;
	}
	int rc = parse_text(name, dir, text, len, 0, out, errs);
	free(dir);
	return rc;
}

int cg_config_load(const char *path, struct cg_config **out, char **errs)
{
	struct sbuf e = {0};
	struct stat st;
	char *buf = NULL, *dir = NULL, *real = NULL;
	size_t len = 0;
	int rc = CG_EIO;

	if (errs)
		*errs = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) != 0) {
		sb_printf(&e, "%s: cannot read: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > MAX_CONFIG_FILE) {
		sb_printf(&e, "%s: not a regular file of at most 4 MiB", path);
		goto out;
	}
	if (!(buf = malloc((size_t)st.st_size + 1))) {
		rc = CG_ENOMEM;
		goto out;
	}
	while (len < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + len, (size_t)st.st_size - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			sb_printf(&e, "%s: cannot read: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	buf[len] = '\0';
	if (!(dir = dir_of(path))) {
		rc = CG_ENOMEM;
		goto out;
	}
	/* An absolute base keeps state_dir and *_file paths valid whatever the working directory. */
	real = realpath(dir, NULL);
	rc = parse_text(path, real ? real : dir, buf, len, (st.st_mode & S_IROTH) != 0, out, errs);
out:
	if (fd >= 0)
		close(fd);
	if (buf) {
		OPENSSL_cleanse(buf, (size_t)st.st_size + 1);
		free(buf);
	}
	free(dir);
	free(real);
	if (e.p) {
		if (errs)
			*errs = e.p;
		else
			free(e.p);
	}
	return rc;
}

static void source_cleanup(struct cg_source_config *s)
{
	free(s->name);
	free(s->type);
	strv_free(s->auth.bearer, s->auth.nbearer, 1);
	for (size_t i = 0; i < s->auth.nbasic; i++) {
		free(s->auth.basic[i].user);
		secret_free(s->auth.basic[i].password);
	}
	free(s->auth.basic);
	for (size_t i = 0; i < s->nverify; i++)
		verify_cleanup(&s->verify[i]);
	free(s->verify);
	free(s->allow_ips);
	free(s->project);
	free(s->case_type);
	free(s->title);
	free(s->description);
	free(s->dedup_key);
	free(s->priority_from);
	for (size_t i = 0; i < s->nprio; i++)
		free(s->prio_map[i].word);
	free(s->prio_map);
	for (size_t i = 0; i < s->ncas; i++) {
		free(s->cas[i].key);
		strv_free(s->cas[i].values, s->cas[i].nvalues, 0);
	}
	free(s->cas);
	for (size_t i = 0; i < s->nattrs; i++) {
		free(s->attrs[i].key);
		strv_free(s->attrs[i].values, s->attrs[i].nvalues, 0);
	}
	free(s->attrs);
	free(s->status_name);
	free(s->reopen_status_name);
	actions_cleanup(&s->actions);
	cg_mail_rules_destroy(s->mail_rules);
	strv_free(s->reply_senders, s->nreply_senders, 0);
}

void cg_config_free(struct cg_config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nsources; i++)
		source_cleanup(&c->sources[i]);
	free(c->sources);
	for (size_t i = 0; i < c->mail.nroutes; i++) {
		free(c->mail.routes[i].rcpt);
		free(c->mail.routes[i].source);
	}
	free(c->mail.routes);
	free(c->mail.listen_host);
	free(c->mail.hostname);
	free(c->mail.authserv_id);
	free(c->path);
	free(c->listen_host);
	free(c->state_dir);
	free(c->dd_url);
	free(c->dd_site);
	secret_free(c->dd_api_key);
	secret_free(c->dd_app_key);
	free(c->dd_ca_file);
	free(c->dd_proxy);
	free(c->dd_marker_attr);
	secret_free(c->store_dsn);
	free(c->store_replica);
	free(c->log_level);
	free(c->log_format);
	free(c->warnings);
	free(c->trusted_proxies);
	free(c->tls_cert_file);
	free(c->tls_key_file);
	free(c);
}

const struct cg_source_config *cg_config_source(const struct cg_config *c, const char *name)
{
	for (size_t i = 0; c && name && i < c->nsources; i++)
		if (c->sources[i].name && strcmp(c->sources[i].name, name) == 0)
			return &c->sources[i];
	return NULL;
}

const struct cg_source_config *cg_config_mail_route(const struct cg_config *c, const char *rcpt)
{
	char addr[512];
	size_t n = 0;
	for (; rcpt[n] && n + 1 < sizeof(addr); n++)
		addr[n] = (char)tolower((unsigned char)rcpt[n]);
	addr[n] = '\0';
	for (size_t i = 0; i < c->mail.nroutes; i++) {
		const struct cg_mail_route *r = &c->mail.routes[i];
		if (r->rcpt && r->source && (strcmp(r->rcpt, addr) == 0 || fnmatch(r->rcpt, addr, 0) == 0))
			return cg_config_source(c, r->source);
	}
	if (c->mail.nroutes)
		return NULL;
	/* No routes: "anything+NAME@domain" goes to the email source NAME. */
	const char *plus = strchr(addr, '+'), *at = strchr(addr, '@');
	if (plus && (!at || plus < at)) {
		char name[128];
		size_t len = at ? (size_t)(at - plus - 1) : strlen(plus + 1);
		if (len < sizeof(name)) {
			memcpy(name, plus + 1, len);
			name[len] = '\0';
			const struct cg_source_config *s = cg_config_source(c, name);
			if (s && s->type && strcmp(s->type, "email") == 0)
				return s;
		}
	}
	const struct cg_source_config *only = NULL;
	for (size_t i = 0; i < c->nsources; i++) {
		if (c->sources[i].type && strcmp(c->sources[i].type, "email") == 0) {
			if (only)
				return NULL;
			only = &c->sources[i];
		}
	}
	return only;
}

void cg_config_case_spec(const struct cg_source_config *src, struct cg_case_spec *spec)
{
	memset(spec, 0, sizeof(*spec));
	spec->source_name = src->name;
	spec->project = src->project;
	spec->case_type = src->case_type;
	spec->title = src->title;
	spec->description = src->description;
	spec->dedup_key = src->dedup_key;
	spec->priority_from = src->priority_from;
	spec->prio_map = src->prio_map;
	spec->nprio = src->nprio;
	spec->prio_default = src->prio_default;
	spec->prio_default_set = src->prio_default_set;
	spec->cas = src->cas;
	spec->ncas = src->ncas;
	spec->attrs = src->attrs;
	spec->nattrs = src->nattrs;
	spec->attrs_set = src->attrs_set;
	spec->default_priority_map = src->mapper ? src->mapper->default_priority_map : NULL;
}
