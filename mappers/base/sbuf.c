/* sbuf.c: a growable string for building Markdown and other text in mappers and the builder. */
#include "sbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

void cg_sbuf_addn(struct cg_sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void cg_sbuf_add(struct cg_sbuf *b, const char *s)
{
	if (s)
		cg_sbuf_addn(b, s, strlen(s));
}

void cg_sbuf_addf(struct cg_sbuf *b, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = 1;
		return;
	}
	if ((size_t)n < sizeof(small)) {
		cg_sbuf_addn(b, small, (size_t)n);
		return;
	}
	char *big = malloc((size_t)n + 1);
	if (!big) {
		b->oom = 1;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	cg_sbuf_addn(b, big, (size_t)n);
	free(big);
}

char *cg_sbuf_take(struct cg_sbuf *b)
{
	char *p = b->p;
	if (b->oom) {
		free(p);
		p = NULL;
	} else if (!p) {
		p = cg_strdup0("");
	}
	memset(b, 0, sizeof(*b));
	return p;
}

void cg_sbuf_pct_encode(struct cg_sbuf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *)s;
	while (p && *p) {
		/* Copy each run of unreserved characters at once; escape the rest. */
		const unsigned char *run = p;
		while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		       *p == '.' || *p == '_' || *p == '~')
			p++;
		if (p > run)
			cg_sbuf_addn(b, (const char *)run, (size_t)(p - run));
		if (*p) {
			char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
			cg_sbuf_addn(b, esc, 3);
			p++;
		}
	}
}
