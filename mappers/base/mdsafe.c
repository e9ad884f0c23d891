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

/* Which printable ASCII characters a mode must look at (control bytes, DEL and non-ASCII always). */
enum { S_AT = 1, S_TEXT = 2, S_PLAIN = 4, S_URL = 8, S_LINK = 16 };
static const unsigned char ascii_class[128] = {
    ['@'] = S_AT | S_TEXT | S_PLAIN | S_URL | S_LINK,
    ['\\'] = S_TEXT | S_LINK,
    ['`'] = S_TEXT | S_URL | S_LINK,
    ['*'] = S_TEXT,
    ['_'] = S_TEXT,
    ['['] = S_TEXT | S_URL,
    [']'] = S_TEXT | S_PLAIN | S_URL,
    ['#'] = S_TEXT,
    ['|'] = S_TEXT,
    ['~'] = S_TEXT,
    ['<'] = S_TEXT | S_PLAIN | S_URL | S_LINK,
    ['>'] = S_TEXT | S_URL | S_LINK,
    ['&'] = S_TEXT | S_PLAIN,
    ['"'] = S_URL,
    ['('] = S_URL | S_LINK,
    [')'] = S_URL | S_LINK,
    [' '] = S_URL | S_LINK,
};

/* Copies the bytes from i on that stop() lets through, as they are, into b; returns where it
 * stopped (n at the end). Every mode's pass is this run, then its rule for the one byte after. */
static size_t copy_run(struct cg_sbuf *b, const unsigned char *p, size_t n, size_t i,
		       int (*stop)(unsigned char c, unsigned bit), unsigned bit)
{
	size_t run = i;
	while (run < n && !stop(p[run], bit))
		run++;
	cg_sbuf_addn(b, (const char *)p + i, run - i);
	return run;
}

/* 1 when byte c needs a look under class bit `bit` (it is not printable ASCII that is copied as is). */
static int needs(unsigned char c, unsigned bit)
{
	return c < 0x20 || c >= 0x7F || (ascii_class[c] & bit);
}

static unsigned mode_bit(enum cg_md_mode mode)
{
	switch (mode) {
	case CG_MD_TEXT:
		return S_TEXT;
	case CG_MD_PLAIN:
		return S_PLAIN;
	case CG_MD_URL:
		return S_URL;
	default:
		return S_AT;
	}
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
		size_t run = copy_run(b, p, n, i, needs, S_URL);
		if (run < n && p[run] != 0x7F && (p[run] >= 0x20 || is_space(p[run])))
			put_pct(b, p[run]);
		i = run + 1; /* other control characters and DEL are dropped */
	}
}

/*
 * The rules every mode shares (see mdsafe.h), and for CG_MD_TEXT and CG_MD_CODE their own, which
 * look at one character at a time, into b. CG_MD_PLAIN looks at neighbours: it runs over this
 * pass's output (put_plain), so that "]\u200B(" cannot slip past a check for "](".
 */
static void put_clean(struct cg_sbuf *b, const unsigned char *p, size_t n, enum cg_md_mode mode)
{
	unsigned bit = mode == CG_MD_TEXT ? S_TEXT : S_AT;
	size_t i = 0;
	while (i < n) {
		i = copy_run(b, p, n, i, needs, bit);
		if (i >= n)
			break;
		unsigned char c = p[i];
		if (c == '@') {
			cg_sbuf_add(b, FULLWIDTH_AT);
			i++;
		} else if (c == '\r' || c == '\n' || c == '\t') {
			cg_sbuf_add(b, mode == CG_MD_CODE ? " " : c == '\t' ? "\t" : "\n");
			i += c == '\r' && i + 1 < n && p[i + 1] == '\n' ? 2 : 1;
		} else if (c < 0x20 || c == 0x7F) {
			i++;           /* other C0 controls and DEL */
		} else if (c < 0x80) { /* CG_MD_TEXT's Markdown characters */
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
			i++;
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

/* What CG_MD_PLAIN looks at: its ASCII characters (controls are gone after put_clean). */
static int plain_stop(unsigned char c, unsigned bit)
{
	return c < 0x80 && (ascii_class[c] & bit);
}

/* CG_MD_PLAIN's rules over text put_clean made (n bytes at p), into b. */
static void put_plain(struct cg_sbuf *b, const unsigned char *p, size_t n)
{
	/* Each character the mode looks at is kept; a blank after it breaks what it would start. */
	for (size_t i = copy_run(b, p, n, 0, plain_stop, S_PLAIN); i < n;
	     i = copy_run(b, p, n, i + 1, plain_stop, S_PLAIN)) {
		cg_sbuf_addn(b, (const char *)p + i, 1);
		unsigned char c = p[i];
		if ((c == ']' && i + 1 < n && p[i + 1] == '(') ||
		    (c == '<' && i + 1 < n && (is_alpha(p[i + 1]) || strchr("/!?", p[i + 1]))) ||
		    (c == '&' && char_ref(p + i, n - i)))
			cg_sbuf_add(b, " ");
	}
}

/* 1 when neutralising the n bytes at s for mode gives them back unchanged. */
static int unchanged(const char *s, size_t n, enum cg_md_mode mode)
{
	unsigned bit = mode_bit(mode);
	for (size_t i = 0; i < n; i++)
		if (needs((unsigned char)s[i], bit))
			return 0;
	/* (A URL with blanks to trim never gets here: blanks are in S_URL.) */
	return 1;
}

int cg_md_unchanged(const char *s, size_t n, enum cg_md_mode mode)
{
	return unchanged(s, n, mode);
}

void cg_md_putn(struct cg_sbuf *b, const char *s, size_t n, enum cg_md_mode mode)
{
	if (!s || !n || b->oom)
		return;
	/* Most values (hosts, numbers, times, words) need nothing: copied as they are. */
	if (unchanged(s, n, mode)) {
		cg_sbuf_addn(b, s, n);
		return;
	}
	if (mode == CG_MD_URL) {
		put_url(b, (const unsigned char *)s, n);
		return;
	}
	if (mode != CG_MD_PLAIN) {
		put_clean(b, (const unsigned char *)s, n, mode);
		return;
	}
	struct cg_sbuf clean = {0};
	put_clean(&clean, (const unsigned char *)s, n, mode);
	if (clean.oom)
		b->oom = 1;
	else
		put_plain(b, (const unsigned char *)clean.p, clean.len);
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

/* s neutralised for mode (malloc'd), or NULL with b->oom set. */
static char *neutral(struct cg_sbuf *b, const char *s, enum cg_md_mode mode)
{
	char *c = cg_md_str(s, mode);
	if (!c)
		b->oom = 1;
	return c;
}

static void put_ticks(struct cg_sbuf *b, size_t n)
{
	while (n--)
		cg_sbuf_addn(b, "`", 1);
}

void cg_md_code(struct cg_sbuf *b, const char *s)
{
	char *c = neutral(b, s, CG_MD_CODE);
	if (!c)
		return;
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
	char *c = neutral(b, s, CG_MD_BLOCK);
	if (!c)
		return;
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
	const unsigned char *p = (const unsigned char *)(url ? url : "");
	while (*p) {
		const unsigned char *run = p;
		while (*p && !needs(*p, S_LINK))
			p++;
		cg_sbuf_addn(b, (const char *)run, (size_t)(p - run));
		if (*p)
			put_pct(b, *p++);
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
