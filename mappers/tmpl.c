/* tmpl.c: Mustache compiler and renderer over cJSON (spec core modules plus {{name|fallback}}). */
#include "tmpl.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "mdsafe.h"
#include "sbuf.h"
#include "text.h"

/* Limits keep hostile templates and data from exhausting stack, memory or CPU. */
#define MAX_NESTING 100            /* sections open at once inside one template */
#define MAX_PARTIAL_DEPTH 32       /* partials included inside partials */
#define MAX_RENDER_DEPTH 256       /* sections + partials nested at render time */
#define MAX_OUTPUT (1024u * 1024u) /* bytes of rendered output */
#define MAX_STEPS (1u << 22)       /* nodes visited per render: bounds loops that print nothing */
#define MAX_DELIM 16               /* bytes in a custom delimiter */

enum kind {
	N_TEXT,
	N_VAR,      /* {{x}} {{{x}}} {{&x}} */
	N_SECTION,  /* {{#x}} ... {{/x}} */
	N_INVERTED, /* {{^x}} ... {{/x}} */
	N_PARTIAL,  /* {{>x}} */
};

/* Slices point into cg_tmpl.src, so nodes never own memory. */
struct node {
	enum kind kind;
	int escape;       /* N_VAR: {{x}} (escaped as flags say) vs {{{x}}}/{{&x}} (never) */
	int has_fallback; /* N_VAR: {{x|fallback}} */
	size_t off, len;  /* N_TEXT: text; otherwise the tag name */
	size_t fb_off, fb_len;
	size_t ind_off, ind_len; /* N_PARTIAL: indentation of a standalone partial tag */
	size_t end;              /* N_SECTION/N_INVERTED: index of the first node after the body */
	size_t tag;              /* N_SECTION/N_INVERTED: offset of the open tag (for errors) */
};

struct cg_tmpl {
	char *src;
	size_t src_len;
	struct node *nodes;
	size_t n, cap;
	size_t ntags;
};

/* ---------- compiler ---------- */

/* Line and column (1-based; the column counts UTF-8 characters) of byte pos, as an editor shows them. */
static void line_col(const char *src, size_t pos, size_t *line, size_t *col)
{
	size_t l = 1, c = 1;
	for (size_t i = 0; i < pos; i++) {
		if (src[i] == '\n') {
			l++;
			c = 1;
		} else if (((unsigned char)src[i] & 0xC0) != 0x80) {
			c++;
		}
	}
	*line = l;
	*col = c;
}

static void set_err(char *err, size_t errlen, const char *src, size_t pos, const char *msg)
{
	size_t l, c;
	if (!err || !errlen)
		return;
	line_col(src, pos, &l, &c);
	snprintf(err, errlen, "line %zu, col %zu: %s", l, c, msg);
}

static int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static const char *find_mem(const char *hay, size_t haylen, const char *needle, size_t nlen)
{
	if (nlen == 0 || nlen > haylen)
		return NULL;
	for (size_t i = 0; i + nlen <= haylen; i++)
		if (hay[i] == needle[0] && memcmp(hay + i, needle, nlen) == 0)
			return hay + i;
	return NULL;
}

static struct node *push_node(struct cg_tmpl *t)
{
	if (t->n == t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 16;
		struct node *p = realloc(t->nodes, ncap * sizeof(*p));
		if (!p)
			return NULL;
		t->nodes = p;
		t->cap = ncap;
	}
	struct node *nd = &t->nodes[t->n++];
	memset(nd, 0, sizeof(*nd));
	return nd;
}

/* Trims [*off, *off + *len) of whitespace on both sides. */
static void trim(const char *s, size_t *off, size_t *len)
{
	while (*len && is_ws(s[*off])) {
		(*off)++;
		(*len)--;
	}
	while (*len && is_ws(s[*off + *len - 1]))
		(*len)--;
}

static int emit_text(struct cg_tmpl *t, size_t off, size_t len)
{
	if (len == 0)
		return 0;
	struct node *nd = push_node(t);
	if (!nd)
		return CG_ENOMEM;
	nd->kind = N_TEXT;
	nd->off = off;
	nd->len = len;
	return 0;
}

/* Parses "=<open> <close>=" content into new delimiters; 0 or -1. */
static int parse_delims(const char *s, size_t len, char *otag, size_t *olen, char *ctag, size_t *clen)
{
	size_t i = 0;
	while (i < len && is_ws(s[i]))
		i++;
	size_t a = i;
	while (i < len && !is_ws(s[i]))
		i++;
	size_t alen = i - a;
	while (i < len && is_ws(s[i]))
		i++;
	size_t b = i;
	while (i < len && !is_ws(s[i]))
		i++;
	size_t blen = i - b;
	while (i < len && is_ws(s[i]))
		i++;
	if (i != len || alen == 0 || blen == 0 || alen > MAX_DELIM || blen > MAX_DELIM)
		return -1;
	if (memchr(s + a, '=', alen) || memchr(s + b, '=', blen))
		return -1;
	memcpy(otag, s + a, alen);
	*olen = alen;
	memcpy(ctag, s + b, blen);
	*clen = blen;
	return 0;
}

static int compile_src(struct cg_tmpl *t, char *err, size_t errlen)
{
	const char *s = t->src;
	size_t n = t->src_len;
	char otag[MAX_DELIM] = "{{", ctag[MAX_DELIM] = "}}";
	size_t olen = 2, clen = 2;
	size_t stack[MAX_NESTING]; /* indexes of open section nodes */
	size_t depth = 0;
	size_t pos = 0, text_start = 0;
	char msg[240];

	for (;;) {
		const char *o = find_mem(s + pos, n - pos, otag, olen);
		if (!o)
			break;
		size_t tag_start = (size_t)(o - s);
		size_t p = tag_start + olen;
		char sigil = p < n ? s[p] : '\0';
		size_t cstart, cend, tag_end = 0; /* content [cstart, cend), tag ends at tag_end */
		const char *c;

		if (sigil == '{') {
			/* Triple mustache closes with "}" + the closing delimiter. */
			char close[MAX_DELIM + 1];
			close[0] = '}';
			memcpy(close + 1, ctag, clen);
			c = find_mem(s + p + 1, n - p - 1, close, clen + 1);
			cstart = p + 1;
			if (c)
				tag_end = (size_t)(c - s) + clen + 1;
		} else if (sigil == '=') {
			char close[MAX_DELIM + 1];
			close[0] = '=';
			memcpy(close + 1, ctag, clen);
			c = find_mem(s + p + 1, n - p - 1, close, clen + 1);
			cstart = p + 1;
			if (c)
				tag_end = (size_t)(c - s) + clen + 1;
		} else {
			c = find_mem(s + p, n - p, ctag, clen);
			cstart = (sigil == '#' || sigil == '^' || sigil == '/' || sigil == '>' || sigil == '!' ||
				  sigil == '&')
					 ? p + 1
					 : p;
			if (c)
				tag_end = (size_t)(c - s) + clen;
		}
		int triple = sigil == '{';
		if (!c) {
			snprintf(msg, sizeof(msg), "unclosed tag: '%.*s%s' has no '%s%.*s' after it", (int)olen, otag,
				 triple ? "{" : "", triple ? "}" : "", (int)clen, ctag);
			set_err(err, errlen, s, tag_start, msg);
			return CG_EINVAL;
		}
		cend = (size_t)(c - s);
		if (cstart > cend)
			cstart = cend; /* e.g. "{{}}" after a sigil-less scan */
		if (sigil != '!' && sigil != '=') {
			/*
			 * "{{a} and {{b}}" would otherwise be one tag named "a} and {{b" that renders
			 * nothing: an opening delimiter inside a tag means the tag before it was never
			 * closed. Comments may say anything, delimiter changes are checked on their own.
			 */
			const char *again = find_mem(s + cstart, cend - cstart, otag, olen);
			if (again) {
				size_t al, ac;
				line_col(s, (size_t)(again - s), &al, &ac);
				snprintf(msg, sizeof(msg),
					 "unclosed tag: '%.*s%s' has no '%s%.*s' before the next '%.*s' (line %zu, col %zu)",
					 (int)olen, otag, triple ? "{" : "", triple ? "}" : "", (int)clen, ctag, (int)olen,
					 otag, al, ac);
				set_err(err, errlen, s, tag_start, msg);
				return CG_EINVAL;
			}
		}
		t->ntags++;

		/* Standalone: only whitespace around the tag on its line; the line then vanishes. */
		int standalone_kind = sigil == '#' || sigil == '^' || sigil == '/' || sigil == '>' || sigil == '!' ||
				      sigil == '=';
		size_t line_start = tag_start, after = tag_end;
		int standalone = 0;
		if (standalone_kind) {
			while (line_start > 0 && (s[line_start - 1] == ' ' || s[line_start - 1] == '\t'))
				line_start--;
			if (line_start == 0 || s[line_start - 1] == '\n') {
				size_t q = tag_end;
				while (q < n && (s[q] == ' ' || s[q] == '\t'))
					q++;
				if (q == n) {
					standalone = 1;
					after = q;
				} else if (s[q] == '\n') {
					standalone = 1;
					after = q + 1;
				} else if (s[q] == '\r' && q + 1 < n && s[q + 1] == '\n') {
					standalone = 1;
					after = q + 2;
				}
			}
		}
		int rc = emit_text(t, text_start, (standalone ? line_start : tag_start) - text_start);
		if (rc)
			return rc;
		text_start = pos = standalone ? after : tag_end;

		if (sigil == '!')
			continue;
		if (sigil == '=') {
			if (parse_delims(s + cstart, cend - cstart, otag, &olen, ctag, &clen) < 0) {
				set_err(err, errlen, s, tag_start, "bad delimiter change (want {{=<open> <close>=}})");
				return CG_EINVAL;
			}
			continue;
		}

		size_t noff = cstart, nlen = cend - cstart;
		trim(s, &noff, &nlen);
		{
			/* An interpolation's name stops at its fallback's '|'; a brace in a name is a typo ("{{a}b}}"). */
			int interp = sigil != '#' && sigil != '^' && sigil != '/' && sigil != '>';
			const char *bar = interp ? memchr(s + noff, '|', nlen) : NULL;
			size_t name_len = bar ? (size_t)(bar - (s + noff)) : nlen;
			const char *brace = memchr(s + noff, '}', name_len);
			if (!brace)
				brace = memchr(s + noff, '{', name_len);
			if (brace) {
				snprintf(msg, sizeof(msg), "'%c' in tag name '%.*s' (a brace too many or too few?)", *brace,
					 (int)(name_len > 64 ? 64 : name_len), s + noff);
				set_err(err, errlen, s, tag_start, msg);
				return CG_EINVAL;
			}
		}
		struct node *nd;
		switch (sigil) {
		case '#':
		case '^':
			if (nlen == 0) {
				set_err(err, errlen, s, tag_start, "section tag without a name");
				return CG_EINVAL;
			}
			if (depth == MAX_NESTING) {
				snprintf(msg, sizeof(msg), "sections nested deeper than %d", MAX_NESTING);
				set_err(err, errlen, s, tag_start, msg);
				return CG_EINVAL;
			}
			nd = push_node(t);
			if (!nd)
				return CG_ENOMEM;
			nd->kind = sigil == '#' ? N_SECTION : N_INVERTED;
			nd->off = noff;
			nd->len = nlen;
			nd->tag = tag_start;
			stack[depth++] = t->n - 1;
			break;
		case '/': {
			if (nlen == 0) {
				set_err(err, errlen, s, tag_start, "close tag without a name");
				return CG_EINVAL;
			}
			if (depth == 0) {
				snprintf(msg, sizeof(msg), "close tag '%.*s' without an open section",
					 (int)(nlen > 64 ? 64 : nlen), s + noff);
				set_err(err, errlen, s, tag_start, msg);
				return CG_EINVAL;
			}
			struct node *open = &t->nodes[stack[depth - 1]];
			if (open->len != nlen || memcmp(s + open->off, s + noff, nlen) != 0) {
				size_t ol, oc;
				line_col(s, open->tag, &ol, &oc);
				snprintf(msg, sizeof(msg),
					 "close tag '%.*s' does not match open section '%.*s' (line %zu, col %zu)",
					 (int)(nlen > 64 ? 64 : nlen), s + noff, (int)(open->len > 64 ? 64 : open->len),
					 s + open->off, ol, oc);
				set_err(err, errlen, s, tag_start, msg);
				return CG_EINVAL;
			}
			open->end = t->n;
			depth--;
			break;
		}
		case '>':
			if (nlen == 0) {
				set_err(err, errlen, s, tag_start, "partial tag without a name");
				return CG_EINVAL;
			}
			nd = push_node(t);
			if (!nd)
				return CG_ENOMEM;
			nd->kind = N_PARTIAL;
			nd->off = noff;
			nd->len = nlen;
			if (standalone) {
				nd->ind_off = line_start;
				nd->ind_len = tag_start - line_start;
			}
			break;
		default: { /* interpolation: plain, '{' or '&' */
			const char *bar = memchr(s + noff, '|', nlen);
			size_t fb_off = 0, fb_len = 0;
			if (bar) {
				fb_off = (size_t)(bar - s) + 1;
				fb_len = noff + nlen - fb_off;
				trim(s, &fb_off, &fb_len);
				nlen = (size_t)(bar - s) - noff;
				trim(s, &noff, &nlen);
			}
			if (nlen == 0) {
				snprintf(msg, sizeof(msg), "empty tag: no name between '%.*s' and '%.*s'", (int)olen, otag, (int)clen,
					 ctag);
				set_err(err, errlen, s, tag_start, msg);
				return CG_EINVAL;
			}
			nd = push_node(t);
			if (!nd)
				return CG_ENOMEM;
			nd->kind = N_VAR;
			nd->escape = sigil != '{' && sigil != '&';
			nd->off = noff;
			nd->len = nlen;
			nd->has_fallback = bar != NULL;
			nd->fb_off = fb_off;
			nd->fb_len = fb_len;
			break;
		}
		}
	}
	if (depth) {
		const struct node *open = &t->nodes[stack[depth - 1]];
		int ln = (int)(open->len > 64 ? 64 : open->len);
		snprintf(msg, sizeof(msg), "unclosed section '%.*s' (no '%.*s/%.*s%.*s' after it)", ln, s + open->off,
			 (int)olen, otag, ln, s + open->off, (int)clen, ctag);
		set_err(err, errlen, s, open->tag, msg);
		return CG_EINVAL;
	}
	return emit_text(t, text_start, n - text_start);
}

/* Compiles src; when indent is set, it prefixes every line (standalone partial indentation). */
static int compile_indented(const char *src, size_t len, const char *indent, size_t ind_len, struct cg_tmpl **out,
			    char *err, size_t errlen)
{
	struct cg_tmpl *t = calloc(1, sizeof(*t));
	if (!t)
		return CG_ENOMEM;
	size_t lines = 1;
	if (ind_len)
		for (size_t i = 0; i + 1 < len; i++)
			if (src[i] == '\n')
				lines++;
	if (ind_len && lines > (SIZE_MAX - len - 1) / ind_len) {
		free(t);
		return CG_E2BIG;
	}
	size_t total = len + (ind_len ? lines * ind_len : 0);
	t->src = malloc(total + 1);
	if (!t->src) {
		free(t);
		return CG_ENOMEM;
	}
	if (ind_len && len) {
		/* Indent the source, not the output: interpolated newlines stay unindented, as the spec says. */
		size_t w = 0;
		memcpy(t->src, indent, ind_len);
		w = ind_len;
		for (size_t i = 0; i < len; i++) {
			t->src[w++] = src[i];
			if (src[i] == '\n' && i + 1 < len) {
				memcpy(t->src + w, indent, ind_len);
				w += ind_len;
			}
		}
		t->src_len = w;
	} else {
		if (len)
			memcpy(t->src, src, len);
		t->src_len = len;
	}
	t->src[t->src_len] = '\0';
	int rc = compile_src(t, err, errlen);
	if (rc) {
		if (rc == CG_ENOMEM && err && errlen)
			snprintf(err, errlen, "out of memory");
		cg_tmpl_destroy(t);
		return rc;
	}
	*out = t;
	return 0;
}

int cg_tmpl_compile(const char *src, size_t len, struct cg_tmpl **out, char *err, size_t errlen)
{
	if (!out || (!src && len)) {
		if (err && errlen)
			snprintf(err, errlen, "no template");
		return CG_EINVAL;
	}
	return compile_indented(src ? src : "", len, NULL, 0, out, err, errlen);
}

int cg_tmpl_is_literal(const struct cg_tmpl *t)
{
	return t && t->ntags == 0;
}

void cg_tmpl_destroy(struct cg_tmpl *t)
{
	if (!t)
		return;
	free(t->nodes);
	free(t->src);
	free(t);
}

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
		int r = compile_indented(src, strlen(src), ind, ilen, &c->t, err, sizeof(err));
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

/* Compiles src; on a template error err reads "<what>: line L, col C: ...". */
int cg_tmpl_compile_named(const char *what, const char *src, struct cg_tmpl **out, char *err, size_t errlen)
{
	char terr[200] = "";
	int rc = cg_tmpl_compile(src, strlen(src), out, terr, sizeof(terr));
	if (rc == CG_EINVAL)
		snprintf(err, errlen, "%s: %s", what, terr[0] ? terr : "invalid template");
	else if (rc)
		snprintf(err, errlen, "%s: %s", what, cg_strerror(rc));
	return rc;
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
