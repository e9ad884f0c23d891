/* tmpl_render.c: the Mustache renderer: a compiled template (tmpl.c) over cJSON data, with partials, fallbacks and sender text neutralised. */
#include "tmpl.h"
#include "tmpl_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "mdsafe.h"
#include "sbuf.h"
#include "text.h"

/* ---------- renderer ---------- */

/* The context stack lives on the C stack: one frame per pushed section value. */
struct frame {
	const cJSON *v;
	const struct frame *up;
};

/* Partials compiled during one render, keyed by name + indentation. */
struct pcache {
	char *name;
	char *indent;
	struct cg_tmpl *t; /* NULL when the partial does not exist */
	struct pcache *next;
};

struct rctx {
	int flags;
	cg_tmpl_var_fn on_var;
	void *on_var_ud;
	const cJSON *markdown; /* cg_tmpl_opts.markdown */
	cg_tmpl_partial_fn partials;
	void *ud;
	char *buf;
	size_t len, cap;
	struct pcache *cache;
	int pdepth, depth;
	unsigned long steps;
};

static int put(struct rctx *rc, const char *p, size_t n)
{
	if (n == 0)
		return 0;
	if (n > MAX_OUTPUT - rc->len)
		return CG_E2BIG;
	if (rc->len + n + 1 > rc->cap) {
		size_t ncap = rc->cap ? rc->cap : 256;
		while (ncap < rc->len + n + 1)
			ncap *= 2;
		if (ncap > MAX_OUTPUT + 1)
			ncap = MAX_OUTPUT + 1;
		char *b = realloc(rc->buf, ncap);
		if (!b)
			return CG_ENOMEM;
		rc->buf = b;
		rc->cap = ncap;
	}
	memcpy(rc->buf + rc->len, p, n);
	rc->len += n;
	return 0;
}

static int put_escaped(struct rctx *rc, const char *p, size_t n)
{
	size_t run = 0;
	for (size_t i = 0; i < n; i++) {
		const char *rep = NULL;
		switch (p[i]) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		default: continue;
		}
		int r = put(rc, p + run, i - run);
		if (!r)
			r = put(rc, rep, strlen(rep));
		if (r)
			return r;
		run = i + 1;
	}
	return put(rc, p + run, n - run);
}

/* Key of an object; for arrays, a decimal index ("items.0.name") as mustache.js allows. */
static const cJSON *get_key(const cJSON *obj, const char *k, size_t klen)
{
	if (cJSON_IsArray(obj)) {
		size_t idx = 0;
		if (klen == 0 || klen > 9)
			return NULL;
		for (size_t i = 0; i < klen; i++) {
			if (k[i] < '0' || k[i] > '9')
				return NULL;
			idx = idx * 10 + (size_t)(k[i] - '0');
		}
		const cJSON *c = obj->child;
		while (c && idx--)
			c = c->next;
		return c;
	}
	if (!cJSON_IsObject(obj))
		return NULL;
	for (const cJSON *c = obj->child; c; c = c->next)
		if (c->string && strlen(c->string) == klen && memcmp(c->string, k, klen) == 0)
			return c;
	return NULL;
}

/* Mustache name resolution: "." is the top; "a.b" finds a up the stack, then b inside it only. */
static const cJSON *lookup(const struct frame *f, const char *name, size_t len)
{
	if (len == 1 && name[0] == '.')
		return f ? f->v : NULL;
	const char *dot = memchr(name, '.', len);
	size_t first = dot ? (size_t)(dot - name) : len;
	const cJSON *v = NULL;
	for (; f; f = f->up) {
		v = get_key(f->v, name, first);
		if (v)
			break;
	}
	if (!v)
		return NULL;
	size_t i = first;
	while (i < len) {
		i++; /* skip '.' */
		const char *next = memchr(name + i, '.', len - i);
		size_t seg = next ? (size_t)(next - (name + i)) : len - i;
		v = get_key(v, name + i, seg);
		if (!v)
			return NULL;
		i += seg;
	}
	return v;
}

/*
 * Falsey: missing, null, false, empty list, and (as in mustache.js) the empty string.
 * 0 stays truthy: a metric at zero is still a value worth showing.
 */
static int truthy(const cJSON *v)
{
	if (!v || cJSON_IsNull(v) || cJSON_IsFalse(v) || cJSON_IsInvalid(v))
		return 0;
	if (cJSON_IsArray(v))
		return v->child != NULL;
	if (cJSON_IsString(v))
		return v->valuestring && v->valuestring[0];
	return 1;
}

/* Integers without decimals; otherwise the shortest %g that reads back to the same double. */
static void fmt_number(double d, char *buf, size_t n)
{
	if (d != d || d > 1.7976931348623157e308 || d < -1.7976931348623157e308) {
		snprintf(buf, n, "null");
		return;
	}
	if (d == 0) {
		snprintf(buf, n, "0"); /* also -0 */
		return;
	}
	if (d > -1e17 && d < 1e17 && (double)(long long)d == d) {
		snprintf(buf, n, "%.0f", d);
		return;
	}
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, n, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			return;
	}
}

/* Appends s through mdsafe's neutraliser for mode. */
static int put_safe(struct rctx *rc, const char *s, enum cg_md_mode mode)
{
	size_t n = strlen(s);
	if (cg_md_unchanged(s, n, mode))
		return put(rc, s, n);
	struct cg_sbuf b = {0};
	cg_md_put(&b, s, mode);
	int r = b.oom ? CG_ENOMEM : put(rc, b.p, b.len);
	free(b.p);
	return r;
}

/* escape: the node is {{x}} (1) rather than {{{x}}} or {{&x}} (0). */
static int put_value(struct rctx *rc, const cJSON *v, int escape)
{
	char num[40];
	const char *s = NULL;
	char *owned = NULL;
	if (!v || cJSON_IsNull(v) || cJSON_IsInvalid(v))
		return 0;
	if (cJSON_IsString(v) || cJSON_IsRaw(v)) {
		s = v->valuestring ? v->valuestring : "";
	} else if (cJSON_IsNumber(v)) {
		fmt_number(v->valuedouble, num, sizeof(num));
		s = num;
	} else if (cJSON_IsTrue(v)) {
		s = "true";
	} else if (cJSON_IsFalse(v)) {
		s = "false";
	} else {
		/* Objects and arrays interpolate as compact JSON: useful in case text, never "[object]". */
		owned = cJSON_PrintUnformatted(v);
		if (!owned)
			return CG_ENOMEM;
		s = owned;
	}
	int r;
	switch (escape ? rc->flags & CG_TMPL_ESCAPE_MASK : 0) {
	case CG_TMPL_ESCAPE_HTML:
		r = put_escaped(rc, s, strlen(s));
		break;
	case CG_TMPL_ESCAPE_MARKDOWN:
		r = put_safe(rc, s, rc->markdown && v == rc->markdown ? CG_MD_MINIMAL : CG_MD_TEXT);
		break;
	case CG_TMPL_ESCAPE_PLAIN:
		r = put_safe(rc, s, CG_MD_PLAIN);
		break;
	case CG_TMPL_ESCAPE_URL:
		r = put_safe(rc, s, CG_MD_URL);
		break;
	default:
		r = put(rc, s, strlen(s));
		break;
	}
	cJSON_free(owned);
	return r;
}

static int render_range(struct rctx *rc, const struct cg_tmpl *t, size_t i, size_t end, const struct frame *f);

static char *dup_slice(const char *p, size_t n)
{
	char *s = malloc(n + 1);
	if (!s)
		return NULL;
	if (n)
		memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

/* Finds or compiles partial name with indentation; *out is NULL when it does not exist. */
static int get_partial(struct rctx *rc, const char *name, size_t nlen, const char *ind, size_t ilen,
		       const struct cg_tmpl **out)
{
	for (struct pcache *c = rc->cache; c; c = c->next)
		if (strlen(c->name) == nlen && memcmp(c->name, name, nlen) == 0 && strlen(c->indent) == ilen &&
		    memcmp(c->indent, ind, ilen) == 0) {
			*out = c->t;
			return 0;
		}
	struct pcache *c = calloc(1, sizeof(*c));
	if (!c)
		return CG_ENOMEM;
	c->name = dup_slice(name, nlen);
	c->indent = dup_slice(ind, ilen);
	if (!c->name || !c->indent) {
		free(c->name);
		free(c->indent);
		free(c);
		return CG_ENOMEM;
	}
	c->next = rc->cache;
	rc->cache = c;
	const char *src = rc->partials ? rc->partials(c->name, rc->ud) : NULL;
	if (src) {
		char err[8];
		int r = cg_tmpl_compile_indented(src, strlen(src), ind, ilen, &c->t, err, sizeof(err));
		if (r)
			return r == CG_ENOMEM ? r : CG_EINVAL;
	}
	*out = c->t;
	return 0;
}

static int render_section(struct rctx *rc, const struct cg_tmpl *t, const struct node *nd, size_t i,
			  const struct frame *f)
{
	const cJSON *v = lookup(f, t->src + nd->off, nd->len);
	int r = 0;
	if (nd->kind == N_INVERTED)
		return truthy(v) ? 0 : render_range(rc, t, i + 1, nd->end, f);
	if (!truthy(v))
		return 0;
	if (cJSON_IsArray(v)) {
		for (const cJSON *it = v->child; it && !r; it = it->next) {
			struct frame fr = {it, f};
			r = render_range(rc, t, i + 1, nd->end, &fr);
		}
		return r;
	}
	struct frame fr = {v, f};
	return render_range(rc, t, i + 1, nd->end, &fr);
}

static int render_range(struct rctx *rc, const struct cg_tmpl *t, size_t i, size_t end, const struct frame *f)
{
	int r = 0;
	if (++rc->steps > MAX_STEPS)
		return CG_E2BIG; /* counts empty bodies too: {{#a}}{{#a}}{{/a}}{{/a}} prints nothing */
	if (++rc->depth > MAX_RENDER_DEPTH) {
		rc->depth--;
		return CG_EINVAL;
	}
	while (i < end && !r) {
		const struct node *nd = &t->nodes[i];
		if (++rc->steps > MAX_STEPS) {
			r = CG_E2BIG;
			break;
		}
		switch (nd->kind) {
		case N_TEXT:
			r = put(rc, t->src + nd->off, nd->len);
			i++;
			break;
		case N_VAR: {
			const cJSON *v = lookup(f, t->src + nd->off, nd->len);
			int empty = !v || cJSON_IsNull(v) || cJSON_IsFalse(v) ||
				    (cJSON_IsString(v) && (!v->valuestring || !v->valuestring[0]));
			size_t before = rc->len;
			if (nd->has_fallback && empty)
				r = put(rc, t->src + nd->fb_off, nd->fb_len);
			else
				r = put_value(rc, v, nd->escape);
			if (!r && rc->on_var) {
				struct cg_tmpl_var tv = {.name = t->src + nd->off,
							 .name_len = nd->len,
							 .found = v && !cJSON_IsNull(v),
							 .fallback = nd->has_fallback && empty,
							 .text = rc->buf ? rc->buf + before : "",
							 .text_len = rc->len - before};
				rc->on_var(&tv, rc->on_var_ud);
			}
			i++;
			break;
		}
		case N_SECTION:
		case N_INVERTED:
			r = render_section(rc, t, nd, i, f);
			i = nd->end;
			break;
		case N_PARTIAL: {
			const struct cg_tmpl *p = NULL;
			if (rc->pdepth >= MAX_PARTIAL_DEPTH) {
				r = CG_EINVAL;
				break;
			}
			r = get_partial(rc, t->src + nd->off, nd->len, t->src + nd->ind_off, nd->ind_len, &p);
			if (!r && p) {
				rc->pdepth++;
				r = render_range(rc, p, 0, p->n, f);
				rc->pdepth--;
			}
			i++;
			break;
		}
		}
	}
	rc->depth--;
	return r;
}

int cg_tmpl_render_opts(const struct cg_tmpl *t, const cJSON *ctx, const struct cg_tmpl_opts *opts, char **out)
{
	static const struct cg_tmpl_opts none;
	if (!t || !out)
		return CG_EINVAL;
	if (!opts)
		opts = &none;
	struct rctx rc = {.flags = opts->flags,
			  .on_var = opts->on_var,
			  .on_var_ud = opts->on_var_ud,
			  .markdown = opts->markdown,
			  .partials = opts->partials,
			  .ud = opts->partials_ud};
	struct frame root = {ctx, NULL};
	int r = render_range(&rc, t, 0, t->n, ctx ? &root : NULL);
	if (!r && !rc.buf) {
		rc.buf = malloc(1);
		if (!rc.buf)
			r = CG_ENOMEM;
	}
	while (rc.cache) {
		struct pcache *c = rc.cache;
		rc.cache = c->next;
		cg_tmpl_destroy(c->t);
		free(c->name);
		free(c->indent);
		free(c);
	}
	if (r) {
		free(rc.buf);
		return r;
	}
	rc.buf[rc.len] = '\0';
	*out = rc.buf;
	return 0;
}

int cg_tmpl_render(const struct cg_tmpl *t, const cJSON *ctx, int flags, cg_tmpl_partial_fn partials,
		   void *partials_ud, char **out)
{
	struct cg_tmpl_opts o = {.flags = flags, .partials = partials, .partials_ud = partials_ud};
	return cg_tmpl_render_opts(t, ctx, &o, out);
}

int cg_tmpl_render_str(const char *src, const cJSON *ctx, char **out, char *err, size_t errlen)
{
	struct cg_tmpl *t = NULL;
	int r = cg_tmpl_compile(src, src ? strlen(src) : 0, &t, err, errlen);
	if (r)
		return r;
	r = cg_tmpl_render(t, ctx, 0, NULL, NULL, out);
	if (r && err && errlen)
		snprintf(err, errlen, "render: %s", cg_strerror(r));
	cg_tmpl_destroy(t);
	return r;
}

/* Renders t over ctx into a sanitised, malloc'd string (opts as cg_tmpl_render_opts takes them). */
int cg_tmpl_render_utf8(const struct cg_tmpl *t, const cJSON *ctx, const struct cg_tmpl_opts *opts, char **out)
{
	char *raw = NULL;
	int rc = cg_tmpl_render_opts(t, ctx, opts, &raw);
	if (rc)
		return rc;
	char *clean = cg_utf8_sanitize(raw);
	free(raw);
	if (!clean)
		return CG_ENOMEM;
	*out = clean;
	return 0;
}
