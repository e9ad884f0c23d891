/* mailhtml.c: readable text from an HTML mail body (no GMime: tags, entities and blank space only). */
#include "mailhtml.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sbuf.h"
#include "text.h"

static void buf_putc(struct cg_sbuf *b, char c)
{
	cg_sbuf_addn(b, &c, 1);
}

static const struct {
	const char *name;
	const char *text;
} entities[] = {
	{"amp", "&"},	{"lt", "<"},	 {"gt", ">"},	   {"quot", "\""},     {"apos", "'"},	  {"nbsp", " "},
	{"copy", "©"},	{"reg", "®"},	 {"hellip", "…"},  {"mdash", "—"},     {"ndash", "–"},	  {"laquo", "«"},
	{"raquo", "»"}, {"auml", "ä"},	 {"ouml", "ö"},	   {"uuml", "ü"},      {"Auml", "Ä"},	  {"Ouml", "Ö"},
	{"Uuml", "Ü"},	{"szlig", "ß"},	 {"eacute", "é"},  {"egrave", "è"},    {"euro", "€"},	  {"bull", "•"},
	{"rsquo", "’"}, {"lsquo", "‘"},	 {"rdquo", "”"},   {"ldquo", "“"},     {"middot", "·"},	  {"times", "×"},
};

static void put_codepoint(struct cg_sbuf *b, unsigned long cp)
{
	char u[4];
	if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		cp = 0xFFFD;
	if (cp < 0x80) {
		buf_putc(b, (char)cp);
	} else if (cp < 0x800) {
		u[0] = (char)(0xC0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3F));
		cg_sbuf_addn(b, u, 2);
	} else if (cp < 0x10000) {
		u[0] = (char)(0xE0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (char)(0x80 | (cp & 0x3F));
		cg_sbuf_addn(b, u, 3);
	} else {
		u[0] = (char)(0xF0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[3] = (char)(0x80 | (cp & 0x3F));
		cg_sbuf_addn(b, u, 4);
	}
}

/* Decodes the entity at s[0] == '&'; returns bytes consumed (0: not an entity, emit '&'). */
static size_t put_entity(struct cg_sbuf *b, const char *s, size_t len)
{
	size_t end = 1;
	while (end < len && end < 12 && s[end] != ';' && (isalnum((unsigned char)s[end]) || s[end] == '#'))
		end++;
	if (end >= len || s[end] != ';' || end == 1)
		return 0;
	if (s[1] == '#') {
		char num[12];
		size_t nl = end - 2;
		int hex = nl > 0 && (s[2] == 'x' || s[2] == 'X');
		if (hex) {
			nl--;
		}
		if (nl == 0 || nl >= sizeof(num))
			return 0;
		memcpy(num, s + 2 + hex, nl);
		num[nl] = '\0';
		char *e = NULL;
		unsigned long cp = strtoul(num, &e, hex ? 16 : 10);
		if (!e || *e)
			return 0;
		put_codepoint(b, cp);
		return end + 1;
	}
	for (size_t i = 0; i < sizeof(entities) / sizeof(entities[0]); i++) {
		size_t nl = strlen(entities[i].name);
		if (nl == end - 1 && memcmp(s + 1, entities[i].name, nl) == 0) {
			cg_sbuf_add(b, entities[i].text);
			return end + 1;
		}
	}
	return 0;
}

static int tag_is(const char *name, size_t nlen, const char *const *list)
{
	for (size_t i = 0; list[i]; i++)
		if (strlen(list[i]) == nlen && strncasecmp(name, list[i], nlen) == 0)
			return 1;
	return 0;
}

/* Ends the current line unless it is already ended; keeps at most one blank line. */
static void html_break(struct cg_sbuf *b, int blank)
{
	if (b->len == 0)
		return;
	/* Drop trailing spaces of the line. */
	while (b->len > 0 && b->p[b->len - 1] == ' ')
		b->p[--b->len] = '\0';
	size_t nl = 0;
	while (nl < b->len && b->p[b->len - 1 - nl] == '\n')
		nl++;
	size_t want = blank ? 2 : 1;
	while (nl < want) {
		buf_putc(b, '\n');
		nl++;
	}
}

/* The decoded value of the href attribute among the attribute bytes a[0..n) of an <a> tag, or NULL
 * (none, or out of memory: a link is an extra, its loss is not worth failing the mail for). */
static char *href_of(const char *a, size_t n)
{
	size_t i = 0;
	while (i < n) {
		while (i < n && (isspace((unsigned char)a[i]) || a[i] == '/'))
			i++;
		size_t ns = i;
		while (i < n && !isspace((unsigned char)a[i]) && a[i] != '=' && a[i] != '/')
			i++;
		size_t nl = i - ns;
		while (i < n && isspace((unsigned char)a[i]))
			i++;
		size_t vs = i, vl = 0;
		if (i < n && a[i] == '=') {
			i++;
			while (i < n && isspace((unsigned char)a[i]))
				i++;
			if (i < n && (a[i] == '"' || a[i] == '\'')) {
				char q = a[i++];
				vs = i;
				while (i < n && a[i] != q)
					i++;
				vl = i - vs;
				if (i < n)
					i++;
			} else {
				vs = i;
				while (i < n && !isspace((unsigned char)a[i]))
					i++;
				vl = i - vs;
			}
		}
		if (nl == 0 && i == ns)
			i++; /* a stray byte: step over it */
		if (nl != 4 || strncasecmp(a + ns, "href", 4) != 0)
			continue;
		/* The first href counts, as in a browser; entities decoded (&amp; in a query string). */
		struct cg_sbuf u = {0};
		cg_sbuf_addn(&u, "", 0);
		for (size_t k = vs; k < vs + vl && !u.oom;) {
			size_t used = a[k] == '&' ? put_entity(&u, a + k, vs + vl - k) : 0;
			if (used) {
				k += used;
				continue;
			}
			/* A browser drops tabs and newlines inside a URL. */
			if (a[k] != '\t' && a[k] != '\n' && a[k] != '\r')
				buf_putc(&u, a[k]);
			k++;
		}
		if (u.oom) {
			free(u.p);
			return NULL;
		}
		size_t s = 0, e = u.len;
		while (s < e && (unsigned char)u.p[s] <= ' ')
			s++;
		while (e > s && (unsigned char)u.p[e - 1] <= ' ')
			e--;
		memmove(u.p, u.p + s, e - s);
		u.p[e - s] = '\0';
		return u.p;
	}
	return NULL;
}

static int is_http(const char *u)
{
	return strncasecmp(u, "http://", 7) == 0 || strncasecmp(u, "https://", 8) == 0;
}

/* An open <a href>: where its text starts in the output, and its URL (NULL: not collected). */
struct anchor {
	size_t start;
	char *url;
};

/* Ends the open anchor: adds {text, url} to links unless its URL is not wanted (see the header). */
static void anchor_end(struct anchor *an, const struct cg_sbuf *b, cJSON *links)
{
	char *url = an->url;
	an->url = NULL;
	if (!url)
		return;
	int n = cJSON_GetArraySize(links), dup = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, links)
	{
		const char *u = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "url"));
		dup |= u && strcmp(u, url) == 0;
	}
	if (dup || n >= CG_MAIL_MAX_LINKS) {
		free(url);
		return;
	}
	/* The anchor's text on one line: the output since it opened, breaks as spaces. */
	size_t start = an->start < b->len ? an->start : b->len;
	struct cg_sbuf t = {0};
	cg_sbuf_addn(&t, "", 0);
	for (size_t i = start; i < b->len; i++) {
		char c = b->p[i] == '\n' ? ' ' : b->p[i];
		if (c == ' ' && (t.len == 0 || t.p[t.len - 1] == ' '))
			continue;
		buf_putc(&t, c);
	}
	while (t.len > 0 && t.p[t.len - 1] == ' ')
		t.p[--t.len] = '\0';
	if (!t.oom && t.len > CG_MAIL_MAX_LINK_TEXT)
		cg_utf8_truncate(t.p, CG_MAIL_MAX_LINK_TEXT);
	char *text = t.oom ? NULL : cg_utf8_sanitize(t.len ? t.p : url);
	char *curl = cg_utf8_sanitize(url);
	cJSON *o = text && curl ? cJSON_CreateObject() : NULL;
	if (o && (!cJSON_AddStringToObject(o, "text", text) || !cJSON_AddStringToObject(o, "url", curl) ||
		  !cJSON_AddItemToArray(links, o))) {
		cJSON_Delete(o); /* out of memory: the link is an extra, the text goes on */
	}
	free(t.p);
	free(text);
	free(curl);
	free(url);
}

char *cg_mail_html_to_text(const char *html, size_t len, size_t max, cJSON *links)
{
	struct anchor an = {0, NULL};
	static const char *const blocks[] = {"p",  "div", "table", "tr", "h1", "h2", "h3", "h4", "h5", "h6",
					     "ul", "ol",  "pre",   "blockquote", "hr", "section", "article",
					     "header", "footer", "title", NULL};
	static const char *const breaks[] = {"br", "td", "th", "dt", "dd", NULL};
	static const char *const skipped[] = {"script", "style", "head", NULL};
	struct cg_sbuf b = {0};
	int space = 0, pre = 0;
	size_t i = 0;
	cg_sbuf_addn(&b, "", 0);
	while (i < len && b.len < max && !b.oom) {
		char c = html[i];
		if (c == '<') {
			if (i + 3 < len && memcmp(html + i, "<!--", 4) == 0) {
				const char *e = NULL;
				for (size_t k = i + 4; k + 2 < len; k++)
					if (memcmp(html + k, "-->", 3) == 0) {
						e = html + k;
						break;
					}
				i = e ? (size_t)(e - html) + 3 : len;
				continue;
			}
			size_t k = i + 1;
			int closing = k < len && html[k] == '/';
			if (closing)
				k++;
			size_t ns = k;
			while (k < len && (isalnum((unsigned char)html[k]) || html[k] == '!'))
				k++;
			size_t nlen = k - ns;
			const char *name = html + ns;
			/* Find the tag's end, skipping quoted attribute values. */
			char q = 0;
			while (k < len && (q || html[k] != '>')) {
				if (q && html[k] == q)
					q = 0;
				else if (!q && (html[k] == '"' || html[k] == '\''))
					q = html[k];
				k++;
			}
			size_t tag_end = k < len ? k + 1 : len;
			if (nlen == 0) {
				/* Not a tag ("a < b"): keep the character. */
				buf_putc(&b, '<');
				i++;
				space = 0;
				continue;
			}
			if (!closing && tag_is(name, nlen, skipped)) {
				/* Skip to the matching close tag. */
				size_t m = tag_end;
				while (m + nlen + 2 < len &&
				       !(html[m] == '<' && html[m + 1] == '/' && strncasecmp(html + m + 2, name, nlen) == 0))
					m++;
				while (m < len && html[m] != '>')
					m++;
				i = m < len ? m + 1 : len;
				continue;
			}
			if (nlen == 3 && strncasecmp(name, "pre", 3) == 0)
				pre = !closing;
			if (links && nlen == 1 && (name[0] == 'a' || name[0] == 'A')) {
				/* A new <a> ends an open one, as in a browser. */
				anchor_end(&an, &b, links);
				if (!closing) {
					char *url = href_of(name + 1, (k < len ? k : len) - (ns + 1));
					if (url && is_http(url) && strlen(url) <= CG_MAIL_MAX_URL)
						an.url = url;
					else
						free(url);
					an.start = b.len;
				}
			}
			if (tag_is(name, nlen, blocks)) {
				html_break(&b, 1);
				space = 0;
			} else if (tag_is(name, nlen, breaks)) {
				if (nlen == 2 && (strncasecmp(name, "td", 2) == 0 || strncasecmp(name, "th", 2) == 0)) {
					if (!closing && b.len && b.p[b.len - 1] != '\n')
						cg_sbuf_add(&b, " | ");
				} else {
					html_break(&b, 0);
				}
				space = 0;
			} else if (nlen == 2 && strncasecmp(name, "li", 2) == 0 && !closing) {
				html_break(&b, 0);
				cg_sbuf_add(&b, "- ");
				space = 0;
			}
			i = tag_end;
			continue;
		}
		if (c == '&') {
			size_t used = put_entity(&b, html + i, len - i);
			if (used) {
				i += used;
				space = 0;
				continue;
			}
		}
		if (!pre && (c == ' ' || c == '\t' || c == '\r' || c == '\n')) {
			if (!space && b.len && b.p[b.len - 1] != '\n')
				buf_putc(&b, ' ');
			space = 1;
			i++;
			continue;
		}
		if (c == '\r') {
			i++;
			continue;
		}
		buf_putc(&b, c);
		space = 0;
		i++;
	}
	if (links)
		anchor_end(&an, &b, links); /* never closed, or cut off by max */
	free(an.url);
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	/* Trim trailing blank space. */
	while (b.len > 0 && (b.p[b.len - 1] == '\n' || b.p[b.len - 1] == ' '))
		b.p[--b.len] = '\0';
	if (b.len > max) {
		cg_utf8_truncate(b.p, max);
		b.len = strlen(b.p);
	}
	char *clean = cg_utf8_sanitize(b.p);
	free(b.p);
	return clean;
}
