/* tmpl.c: the Mustache compiler over cJSON templates (spec core modules plus {{name|fallback}}); the renderer is tmpl_render.c. */
#include "tmpl.h"
#include "tmpl_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

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
int cg_tmpl_compile_indented(const char *src, size_t len, const char *indent, size_t ind_len, struct cg_tmpl **out,
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
	return cg_tmpl_compile_indented(src ? src : "", len, NULL, 0, out, err, errlen);
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

