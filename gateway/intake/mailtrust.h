/* mailtrust.h: whether a mail's sender is one a source trusts: envelope, From and the MTA's Authentication-Results. */
#ifndef CG_MAILTRUST_H
#define CG_MAILTRUST_H

#include <stddef.h>
#include <cjson/cJSON.h>

/* 1 when addr (lowercase) is on the list the caller checks against. */
typedef int (*cg_mail_sender_list_fn)(const char *addr, const void *ud);

/*
 * Decides whether the sender of mail (a cg_mail_parse payload with "envelope_from" added when
 * the envelope is known) may act as a member of a list (on_list):
 *
 * - With authserv_id (mail.authserv_id): the topmost Authentication-Results header (the one
 *   the MTA in front of casegate added last) must carry that authserv-id and report the From
 *   header's domain authenticated: dmarc=pass with header.from that domain, or dkim=pass
 *   (header.d / header.i) or spf=pass (smtp.mailfrom) for that domain or a subdomain of it.
 *   Then From must be on the list; the envelope is not needed (forwarders rewrite it).
 * - Without: From must be on the list, and the envelope sender too when it is known. Both are
 *   easy to forge without authentication; together they at least stop a mail whose envelope
 *   admits where it came from.
 *
 * Returns 1 (trusted) or 0 with why (for logs: which identity failed, never a full header).
 */
int cg_mail_sender_trusted(const cJSON *mail, const char *authserv_id, cg_mail_sender_list_fn on_list, const void *ud,
			   char *why, size_t whylen);

/*
 * Reads one Authentication-Results value (RFC 8601): 1 when its authserv-id is authserv_id and
 * it reports domain (lowercase) authenticated as described above; 0 otherwise, with why.
 */
int cg_mail_auth_results_pass(const char *value, const char *authserv_id, const char *domain, char *why,
			      size_t whylen);

#endif
