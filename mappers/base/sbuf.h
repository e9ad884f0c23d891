/* sbuf.h: a growable string; an allocation failure sticks, so callers check once at the end. */
#ifndef CG_SBUF_H
#define CG_SBUF_H

#include <stddef.h>

struct cg_sbuf {
	char *p;
	size_t len, cap;
	int oom;
};
void cg_sbuf_add(struct cg_sbuf *b, const char *s);
void cg_sbuf_addn(struct cg_sbuf *b, const char *s, size_t n);
void cg_sbuf_addf(struct cg_sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s percent-encoded (RFC 3986 unreserved characters kept), for URL components. */
void cg_sbuf_pct_encode(struct cg_sbuf *b, const char *s);
/* Hands over the string (caller frees; "" when nothing was added) and resets b; NULL after oom. */
char *cg_sbuf_take(struct cg_sbuf *b);

#endif
