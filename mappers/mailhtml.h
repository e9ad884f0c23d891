/* mailhtml.h: readable text from an HTML mail body (no GMime: tags, entities and blank space only). */
#ifndef CG_MAILHTML_H
#define CG_MAILHTML_H

#include <stddef.h>

/*
 * Readable text from HTML: tags dropped (script/style with their content), block
 * elements and <br> as line breaks, list items as "- ", entities decoded, runs of
 * blank space collapsed. At most max bytes of output. Returns malloc'd UTF-8 or NULL.
 */
char *cg_mail_html_to_text(const char *html, size_t len, size_t max);

#endif
