/* email.h: the `email` mapper: a parsed mail payload (mail.h) and a rule set become one event. */
#ifndef CG_EMAIL_H
#define CG_EMAIL_H

#include <stddef.h>
#include <cjson/cJSON.h>

#include "event.h"
#include "mailrules.h"

/*
 * Maps a mail payload (cg_mail_parse) to at most one event. rules may be NULL (subject
 * heuristics). *matched (may be NULL) receives how many rules matched: the gateway lets
 * threading (replies become comments) take precedence only over mail no rule recognised.
 * Noise (bounces, auto-replies, loops), senders outside alert_senders and unmatched mail
 * with ignore_unmatched give zero events and out->ignored_reason "<code>: <why>", code one
 * of bounce, loop, auto_reply, sender, unmatched. Returns 0, CG_EINVAL (not a mail
 * payload) or CG_ENOMEM.
 */
int cg_email_map(const cJSON *mail, const struct cg_mail_rules *rules, struct cg_event_list *out, int *matched,
		 char *err, size_t errlen);

/* The subject without reply prefixes, [FIRING:n]/[RESOLVED] tags and "** ... **" (malloc'd). */
char *cg_email_clean_subject(const char *subject);

/* Lower-case subject reduced to what stays the same between a problem and its recovery
 * (status words and " is STATE" dropped, spaces collapsed): the default dedup key. */
char *cg_email_subject_key(const char *subject);

/* The mail's text as a comment: who wrote, the subject, the body (quoted history cut). */
char *cg_email_comment_text(const cJSON *mail, size_t max);

/* A case key ("PROJ-123") in brackets in the subject, or "" (out has room for 64 bytes). */
void cg_email_subject_case_key(const char *subject, char out[64]);

#endif
