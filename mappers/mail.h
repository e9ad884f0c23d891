/* mail.h: raw RFC 5322 message bytes -> a JSON "mail payload" the email mapper reads (GMime 3). */
#ifndef CG_MAIL_H
#define CG_MAIL_H

#include <stddef.h>
#include <cjson/cJSON.h>

#include "mailhtml.h"  /* cg_mail_html_to_text: callers got it here */
#include "mailparts.h" /* cg_mail_count_parts: callers got it here */

/* Caps on what one message may put into the payload (the raw size is capped by the caller). */
struct cg_mail_limits {
	size_t max_text;        /* bytes of body text kept (UTF-8 boundary), default 64 KiB */
	size_t max_header;      /* bytes of one header value kept, default 2 KiB */
	size_t max_headers;     /* headers kept in "headers", default 100 */
	size_t max_attachments; /* attachments listed, default 50 */
	size_t max_refs;        /* message ids kept from References, default 20 */
	unsigned max_depth;     /* MIME nesting walked, default 16 */
	size_t max_parts;       /* MIME parts (multiparts and the parts they delimit), default 1000:
				 * counted over the raw text before GMime builds anything */
};

void cg_mail_limits_default(struct cg_mail_limits *lim);

/*
 * Initialises GMime once for the process (thread-safe, idempotent). GMime keeps global
 * state (charset tables, type registrations): it is the one global in mappers/, set up
 * on first use and never torn down. cg_mail_parse calls it; callers need not.
 */
void cg_mail_global_init(void);

/*
 * Parses a message into a payload (caller frees with cJSON_Delete):
 *   message_id, in_reply_to (ids without <>), references [ids], subject (decoded UTF-8),
 *   from (address), from_name, to [addresses], date (RFC 3339 UTC or absent),
 *   auto_submitted (lowercased token or absent), headers {lowercase name: value}
 *   (first occurrence, unfolded, decoded), content_type, text (text/plain preferred,
 *   else HTML made readable), text_truncated (bool), text_html (bool: some of text was made
 *   from HTML, so it is not plain text as written), links [{text, url}] (the http(s) links of
 *   the HTML part read for text, see cg_mail_html_to_text), attachments [{name, size,
 *   content_type}], is_bounce, is_auto_reply (bools), size (raw bytes).
 * Charsets are converted to UTF-8; invalid bytes become U+FFFD. Malformed MIME never
 * fails: what GMime recovers is used. Returns 0, CG_EINVAL (not a message: no header at
 * all, err says why), CG_E2BIG (more than lim->max_parts MIME parts: err says so; nothing
 * was built, so a mail bomb costs one pass over its text) or CG_ENOMEM. lim may be NULL
 * (defaults). Thread-safe.
 */
int cg_mail_parse(const char *raw, size_t len, const struct cg_mail_limits *lim, cJSON **out, char *err,
		  size_t errlen);

/*
 * Why a mail must not be turned into anything, or NULL when it may. Checks bounces
 * (null Return-Path, MAILER-DAEMON, multipart/report delivery-status), X-Loop: casegate,
 * auto-replies and out-of-office notices; for_comment additionally refuses any
 * Auto-Submitted other than "no" and Precedence bulk/junk/list (machine mail must never
 * become a comment: Case Management's own notification mails would loop).
 * Returns a short reason code ("bounce", "loop", "auto_reply", "auto_generated",
 * "bulk") and writes a human sentence to why.
 */
const char *cg_mail_noise(const cJSON *mail, int for_comment, char *why, size_t whylen);

#endif
