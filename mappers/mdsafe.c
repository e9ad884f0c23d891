/* mdsafe.c: sender text made inert for Datadog case text: no live @-mention, link, image, HTML or hidden character. */
#include "mdsafe.h"

#include <assert.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FULLWIDTH_AT "\xEF\xBC\xA0" /* U+FF20 */
#define REPLACEMENT  "\xEF\xBF\xBD" /* U+FFFD */

size_t cg_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	unsigned char c = s[0];
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	unsigned char lo = 0x80, hi = 0xBF;
	size_t len;
	uint32_t v;
	if (c >= 0xC2 && c <= 0xDF) {
		len = 2;
		v = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		len = 3;
		v = c & 0x0F;
		if (c == 0xE0)
			lo = 0xA0; /* overlong */
		else if (c == 0xED)
			hi = 0x9F; /* surrogates */
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4;
		v = c & 0x07;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F; /* > U+10FFFF */
	} else {
		return 0;
	}
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3F);
	}
	*cp = v;
	return len;
}

int cg_md_hidden(uint32_t cp)
{
	return (cp >= 0x80 && cp <= 0x9F) || cp == 0x061C || cp == 0x200E || cp == 0x200F ||
	       (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) || (cp >= 0x200B && cp <= 0x200D) ||
	       (cp >= 0x2060 && cp <= 0x2064) || cp == 0xFEFF;
}

static void put_pct(struct cg_sbuf *b, unsigned char c)
{
	static const char hex[] = "0123456789ABCDEF";
	char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
	cg_sbuf_addn(b, esc, 3);
}

static int is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static void put_url(struct cg_sbuf *b, const unsigned char *p, size_t n)
{
	/* A URL value often ends in a newline (YAML block scalars): it goes, inner blanks are encoded. */
	while (n && is_space(p[0])) {
		p++;
		n--;
	}
	while (n && is_space(p[n - 1]))
		n--;
	for (size_t i = 0; i < n;) {
		size_t run = i;
		while (run < n && p[run] > 0x20 && p[run] < 0x7F && !strchr("@<>\"`[]()", p[run]))
			run++;
		cg_sbuf_addn(b, (const char *)p + i, run - i);
		if (run < n && p[run] != 0x7F && (p[run] >= 0x20 || is_space(p[run])))
			put_pct(b, p[run]);
		i = run + 1; /* other control characters and DEL are dropped */
	}
}

/*
 * The rules every mode shares (see mdsafe.h), into b. Done as a pass of its own so that the
 * mode's rules see the text as it will be shown: "]\u200B(" must not slip past a check for "](".
 */
static void put_clean(struct cg_sbuf *b, const unsigned char *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		size_t run = i;
		while (run < n && p[run] >= 0x20 && p[run] < 0x7F && p[run] != '@')
			run++;
		cg_sbuf_addn(b, (const char *)p + i, run - i);
		i = run;
		if (i >= n)
			break;
		unsigned char c = p[i];
		if (c == '@') {
			cg_sbuf_add(b, FULLWIDTH_AT);
			i++;
		} else if (c == '\r') {
			cg_sbuf_add(b, "\n");
			i += i + 1 < n && p[i + 1] == '\n' ? 2 : 1;
		} else if (c == '\n' || c == '\t') {
			cg_sbuf_addn(b, (const char *)p + i, 1);
			i++;
		} else if (c < 0x80) {
			i++; /* other C0 controls and DEL */
		} else {
			uint32_t cp = 0;
			size_t len = cg_utf8_decode(p + i, n - i, &cp);
			if (!len)
				cg_sbuf_add(b, REPLACEMENT);
			else if (!cg_md_hidden(cp))
				cg_sbuf_addn(b, (const char *)p + i, len);
			i += len ? len : 1;
		}
	}
}

static int is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_alnum(unsigned char c)
{
	return is_alpha(c) || (c >= '0' && c <= '9');
}

/* "&#..." or "&name;" at p: a character reference a Markdown renderer would decode. */
static int char_ref(const unsigned char *p, size_t n)
{
	if (n > 1 && p[1] == '#')
		return 1;
	size_t i = 1;
	while (i < n && is_alnum(p[i]))
		i++;
	return i > 1 && i < n && p[i] == ';';
}

/* The mode's own rules over text put_clean made (n bytes at p), into b. */
static void put_mode(struct cg_sbuf *b, const unsigned char *p, size_t n, enum cg_md_mode mode)
{
	const char *special = mode == CG_MD_TEXT    ? "\\`*_[]#|~<>&"
	                      : mode == CG_MD_PLAIN ? "]<&"
	                      : mode == CG_MD_CODE  ? "\n\t"
	                                            : "";
	size_t i = 0;
	while (i < n) {
		size_t run = i;
		while (run < n && (!p[run] || !strchr(special, p[run])))
			run++;
		cg_sbuf_addn(b, (const char *)p + i, run - i);
		i = run;
		if (i >= n)
			break;
		unsigned char c = p[i];
		if (mode == CG_MD_CODE) {
			cg_sbuf_add(b, " ");
		} else if (mode == CG_MD_TEXT) {
			if (c == '<')
				cg_sbuf_add(b, "&lt;");
			else if (c == '>')
				cg_sbuf_add(b, "&gt;");
			else if (c == '&')
				cg_sbuf_add(b, "&amp;");
			else {
				char esc[2] = {'\\', (char)c};
				cg_sbuf_addn(b, esc, 2);
			}
		} else { /* CG_MD_PLAIN */
			cg_sbuf_addn(b, (const char *)p + i, 1);
			int brk = (c == ']' && i + 1 < n && p[i + 1] == '(') ||
			          (c == '<' && i + 1 < n && (is_alpha(p[i + 1]) || strchr("/!?", p[i + 1]))) ||
			          (c == '&' && char_ref(p + i, n - i));
			if (brk)
				cg_sbuf_add(b, " ");
		}
		i++;
	}
}

void cg_md_putn(struct cg_sbuf *b, const char *s, size_t n, enum cg_md_mode mode)
{
	if (!s || !n || b->oom)
		return;
	if (mode == CG_MD_URL) {
		put_url(b, (const unsigned char *)s, n);
		return;
	}
	if (mode == CG_MD_BLOCK || mode == CG_MD_MINIMAL) {
		put_clean(b, (const unsigned char *)s, n);
		return;
	}
	struct cg_sbuf clean = {0};
	put_clean(&clean, (const unsigned char *)s, n);
	if (clean.oom)
		b->oom = 1;
	else
		put_mode(b, (const unsigned char *)clean.p, clean.len, mode);
	free(clean.p);
}

void cg_md_put(struct cg_sbuf *b, const char *s, enum cg_md_mode mode)
{
	if (s)
		cg_md_putn(b, s, strlen(s), mode);
}

char *cg_md_str(const char *s, enum cg_md_mode mode)
{
	struct cg_sbuf b = {0};
	cg_md_put(&b, s, mode);
	return cg_sbuf_take(&b);
}

/* Length of the longest run of backticks in s. */
static size_t longest_backticks(const char *s)
{
	size_t best = 0, cur = 0;
	for (; *s; s++) {
		cur = *s == '`' ? cur + 1 : 0;
		if (cur > best)
			best = cur;
	}
	return best;
}

static void put_ticks(struct cg_sbuf *b, size_t n)
{
	while (n--)
		cg_sbuf_addn(b, "`", 1);
}

void cg_md_code(struct cg_sbuf *b, const char *s)
{
	char *c = cg_md_str(s, CG_MD_CODE);
	if (!c) {
		b->oom = 1;
		return;
	}
	size_t len = strlen(c);
	if (len) {
		size_t fence = longest_backticks(c) + 1;
		int pad = c[0] == '`' || c[len - 1] == '`';
		put_ticks(b, fence);
		if (pad)
			cg_sbuf_add(b, " ");
		cg_sbuf_addn(b, c, len);
		if (pad)
			cg_sbuf_add(b, " ");
		put_ticks(b, fence);
	}
	free(c);
}

void cg_md_fence(struct cg_sbuf *b, const char *s)
{
	char *c = cg_md_str(s, CG_MD_BLOCK);
	if (!c) {
		b->oom = 1;
		return;
	}
	size_t len = strlen(c);
	size_t fence = longest_backticks(c) + 1;
	if (fence < 3)
		fence = 3;
	put_ticks(b, fence);
	cg_sbuf_add(b, "\n");
	cg_sbuf_addn(b, c, len);
	if (len && c[len - 1] != '\n')
		cg_sbuf_add(b, "\n");
	put_ticks(b, fence);
	cg_sbuf_add(b, "\n");
	free(c);
}

void cg_md_link(struct cg_sbuf *b, const char *text, const char *url)
{
	cg_sbuf_add(b, "[");
	cg_md_put(b, text, CG_MD_TEXT);
	cg_sbuf_add(b, "](");
	for (const unsigned char *p = (const unsigned char *)(url ? url : ""); *p; p++) {
		if (*p <= 0x20 || *p >= 0x7F || strchr("()<>\\`@", *p))
			put_pct(b, *p);
		else
			cg_sbuf_addn(b, (const char *)p, 1);
	}
	cg_sbuf_add(b, ")");
}

/* At most max bytes of s, cut back to a character boundary (what %.Ns means here). */
static size_t cut_utf8(const char *s, size_t max)
{
	size_t n = strnlen(s, max);
	if (n == max && s[n]) {
		size_t c = n;
		for (int k = 0; k < 3 && c > 0 && ((unsigned char)s[c] & 0xC0) == 0x80; k++)
			c--;
		if (((unsigned char)s[c] & 0xC0) != 0x80)
			n = c;
	}
	return n;
}

void cg_md_addf(struct cg_sbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	const char *p = fmt;
	while (*p && !b->oom) {
		const char *pct = strchr(p, '%');
		if (!pct) {
			cg_sbuf_add(b, p);
			break;
		}
		cg_sbuf_addn(b, p, (size_t)(pct - p));
		const char *q = pct + 1;
		int prec = -1;
		if (*q == '.') {
			q++;
			if (*q == '*') {
				prec = va_arg(ap, int);
				q++;
			} else {
				prec = 0;
				while (*q >= '0' && *q <= '9')
					prec = prec * 10 + (*q++ - '0');
			}
		}
		int lng = 0; /* 0: int, 1: long, 2: long long, 3: size_t, 4: intmax_t */
		if (q[0] == 'h') {
			q += q[1] == 'h' ? 2 : 1; /* promoted to int anyway */
		} else if (q[0] == 'l') {
			lng = q[1] == 'l' ? 2 : 1;
			q += lng;
		} else if (q[0] == 'z' || q[0] == 'j') {
			lng = q[0] == 'z' ? 3 : 4;
			q++;
		}
		char tmp[400]; /* %.0f of the largest double is 309 digits */
		switch (*q) {
		case '%':
			cg_sbuf_add(b, "%");
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			if (!s)
				s = "(null)";
			cg_md_putn(b, s, prec >= 0 ? cut_utf8(s, (size_t)prec) : strlen(s), CG_MD_TEXT);
			break;
		}
		case 'c': {
			char ch = (char)va_arg(ap, int);
			cg_md_putn(b, &ch, 1, CG_MD_TEXT);
			break;
		}
		case 'd':
		case 'i':
		case 'u':
		case 'x': {
			/* Widened to the largest type and printed with a literal format (-Wformat=2 wants one). */
			int is_unsigned = *q == 'u' || *q == 'x' || lng == 3;
			intmax_t sv = 0;
			uintmax_t uv = 0;
			switch (lng) {
			case 0:
				if (is_unsigned)
					uv = va_arg(ap, unsigned);
				else
					sv = va_arg(ap, int);
				break;
			case 1:
				if (is_unsigned)
					uv = va_arg(ap, unsigned long);
				else
					sv = va_arg(ap, long);
				break;
			case 2:
				if (is_unsigned)
					uv = va_arg(ap, unsigned long long);
				else
					sv = va_arg(ap, long long);
				break;
			case 3:
				uv = va_arg(ap, size_t);
				break;
			default:
				if (is_unsigned)
					uv = va_arg(ap, uintmax_t);
				else
					sv = va_arg(ap, intmax_t);
				break;
			}
			if (*q == 'x')
				snprintf(tmp, sizeof(tmp), "%jx", uv);
			else if (is_unsigned)
				snprintf(tmp, sizeof(tmp), "%ju", uv);
			else
				snprintf(tmp, sizeof(tmp), "%jd", sv);
			cg_sbuf_add(b, tmp);
			break;
		}
		case 'f':
		case 'g':
		case 'e': {
			double d = va_arg(ap, double);
			int pr = prec >= 0 ? prec : 6;
			if (*q == 'f')
				snprintf(tmp, sizeof(tmp), "%.*f", pr, d);
			else if (*q == 'g')
				snprintf(tmp, sizeof(tmp), "%.*g", pr, d);
			else
				snprintf(tmp, sizeof(tmp), "%.*e", pr, d);
			cg_sbuf_add(b, tmp);
			break;
		}
		default:
			/* A conversion this subset does not know: a programmer error, caught by the tests. */
			assert(!"cg_md_addf: unsupported conversion");
			b->oom = 1;
			break;
		}
		if (!*q)
			break;
		p = q + 1;
	}
	va_end(ap);
}
