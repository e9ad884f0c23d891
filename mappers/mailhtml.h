/* mailhtml.h: readable text from an HTML mail body (no GMime: tags, entities and blank space only). */
#ifndef CG_MAILHTML_H
#define CG_MAILHTML_H

#include <stddef.h>

#include "json.h"

/* At most this many links are collected from one mail (a newsletter has hundreds; an alert a few). */
#define CG_MAIL_MAX_LINKS 20
/* A longer href is dropped rather than cut (a cut URL points somewhere else). */
#define CG_MAIL_MAX_URL 2048
/* A link's text is cut to this many bytes (at a character boundary). */
#define CG_MAIL_MAX_LINK_TEXT 200

/*
 * Readable text from HTML: tags dropped (script/style with their content), block
 * elements and <br> as line breaks, list items as "- ", entities decoded, runs of
 * blank space collapsed. At most max bytes of output. Returns malloc'd UTF-8 or NULL.
 * links, when not NULL, is a JSON array that gets {"text": ..., "url": ...} for each <a href>
 * whose URL (entities decoded, blank space trimmed) is http:// or https://: other schemes
 * (javascript:, data:, mailto:, relative) are left out, and so is a URL already collected, past
 * CG_MAIL_MAX_LINKS or longer than CG_MAIL_MAX_URL. text is the anchor's readable text on one line
 * (the URL when it has none). Both are sender text: whoever renders them neutralises them.
 */
char *cg_mail_html_to_text(const char *html, size_t len, size_t max, cJSON *links);

#endif
