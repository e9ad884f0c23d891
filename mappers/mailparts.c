/* mailparts.c: the MIME parts of a raw message counted over its text before GMime builds a message (the mail bomb guard). */
#include "mailparts.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gmime/gmime.h>

/* The boundaries seen so far: an open-addressing set of (text, length), at most cap + 1 of them. */
struct bset {
	char **v;
	size_t *len;
	size_t cap; /* slots, a power of two */
	size_t n;
	int oom;
};

static uint64_t bhash(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

/* Slot of (s, n), or of the empty slot where it would go. */
static size_t bset_slot(const struct bset *b, const char *s, size_t n)
{
	size_t i = (size_t)bhash(s, n) & (b->cap - 1);
	while (b->v[i] && !(b->len[i] == n && memcmp(b->v[i], s, n) == 0))
		i = (i + 1) & (b->cap - 1);
	return i;
}

static int bset_has(const struct bset *b, const char *s, size_t n)
{
	return b->cap && b->v[bset_slot(b, s, n)] != NULL;
}

static void bset_add(struct bset *b, const char *s, size_t n)
{
	if (!b->cap || b->n + 1 > b->cap / 2)
		return; /* full: the count passes cap before more boundaries could matter */
	size_t i = bset_slot(b, s, n);
	if (b->v[i])
		return;
	if (!(b->v[i] = malloc(n ? n : 1))) {
		b->oom = 1;
		return;
	}
	memcpy(b->v[i], s, n);
	b->len[i] = n;
	b->n++;
}

/* Whether a line (without its line end) opens a header field of this name ("Name :" allowed). */
static int header_named(const char *line, size_t len, const char *name)
{
	size_t nl = strlen(name);
	if (len <= nl || strncasecmp(line, name, nl) != 0)
		return 0;
	size_t i = nl;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	return i < len && line[i] == ':';
}

static int contains_ci_n(const char *s, size_t n, const char *needle)
{
	size_t k = strlen(needle);
	for (size_t i = 0; i + k <= n; i++)
		if (strncasecmp(s + i, needle, k) == 0)
			return 1;
	return 0;
}

size_t cg_mail_count_parts(const char *raw, size_t len, size_t cap)
{
	struct bset b = {0};
	size_t slots = 16;
	while (slots < 2 * (cap + 2))
		slots *= 2;
	b.v = calloc(slots, sizeof(*b.v));
	b.len = calloc(slots, sizeof(*b.len));
	if (b.v && b.len)
		b.cap = slots;
	size_t parts = 0;
	/* Pass 1: multipart declarations and their boundaries. */
	for (size_t i = 0; i < len && parts <= cap;) {
		const char *line = raw + i;
		const char *nl = memchr(line, '\n', len - i);
		size_t ll = nl ? (size_t)(nl - line) : len - i;
		size_t next = i + ll + (nl ? 1 : 0);
		if (header_named(line, ll, "content-type")) {
			/* The field with its folded continuation lines. */
			size_t end = next;
			while (end < len && (raw[end] == ' ' || raw[end] == '\t')) {
				const char *e = memchr(raw + end, '\n', len - end);
				end = e ? (size_t)(e - raw) + 1 : len;
			}
			size_t vlen = end - i;
			if (contains_ci_n(line, vlen, "multipart") && vlen < 8192) {
				parts++;
				/* GMime reads the boundary parameter as it will when parsing (quotes, RFC 2231). */
				const char *colon = memchr(line, ':', vlen);
				char *val = colon ? strndup(colon + 1, vlen - (size_t)(colon + 1 - line)) : NULL;
				GMimeContentType *ct = val ? g_mime_content_type_parse(NULL, val) : NULL;
				const char *bd = ct ? g_mime_content_type_get_parameter(ct, "boundary") : NULL;
				if (bd)
					bset_add(&b, bd, strlen(bd));
				if (ct)
					g_object_unref(ct);
				free(val);
			}
			next = end;
		}
		i = next;
	}
	/* Pass 2: delimiter lines of those boundaries (closing "--b--" lines delimit nothing). */
	for (size_t i = 0; i < len && parts <= cap && b.n;) {
		const char *line = raw + i;
		const char *nl = memchr(line, '\n', len - i);
		size_t ll = nl ? (size_t)(nl - line) : len - i;
		i += ll + (nl ? 1 : 0);
		if (ll < 2 || line[0] != '-' || line[1] != '-')
			continue;
		size_t k = ll;
		while (k > 2 && (line[k - 1] == ' ' || line[k - 1] == '\t' || line[k - 1] == '\r'))
			k--;
		if (bset_has(&b, line + 2, k - 2))
			parts++;
	}
	for (size_t i = 0; b.v && i < b.cap; i++)
		free(b.v[i]);
	free(b.v);
	free(b.len);
	/* Without memory for the set, say "too many": refusing is safer than building. */
	return b.oom || !b.cap ? cap + 1 : (parts > cap ? cap + 1 : parts);
}
