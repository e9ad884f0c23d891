/* mailparts.h: the MIME parts of a raw message counted over its text before GMime builds a message (the mail bomb guard). */
#ifndef CG_MAILPARTS_H
#define CG_MAILPARTS_H

#include <stddef.h>

/*
 * MIME parts of a raw message as GMime would build them, counted without building them:
 * every multipart Content-Type (found at any line start, folded lines joined) counts one
 * and declares a boundary; every line "--<boundary>" (trailing blanks allowed) counts one.
 * Text that only looks like a header counts too, so the count is never lower than the
 * parts GMime makes. Counting stops once it passes cap (the result is then cap + 1).
 */
size_t cg_mail_count_parts(const char *raw, size_t len, size_t cap);

#endif
