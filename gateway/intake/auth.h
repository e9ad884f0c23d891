/* auth.h: inbound request authentication per source (bearer tokens, HTTP basic, none). */
#ifndef CG_AUTH_H
#define CG_AUTH_H

#include <stddef.h>

#include "config.h"
#include "http.h"

/*
 * Checks req against the source's auth settings. Returns 0 when allowed, CG_EAUTH
 * otherwise with a reason in why (never containing a secret). Comparisons are
 * constant-time over SHA-256 digests, so neither content nor length leaks.
 */
int cg_auth_check(const struct cg_auth_config *auth, const struct cg_http_request *req, char *why, size_t whylen);

/*
 * 1 when token (from the URL: /hooks/<name>/<token> or ?token=) equals one of the source's
 * bearer tokens, compared like a header token; 0 otherwise (also when none are configured).
 */
int cg_auth_check_token(const struct cg_auth_config *auth, const char *token, size_t len);

/* Constant-time equality of two strings of any lengths. */
int cg_secret_equal(const char *a, size_t alen, const char *b, size_t blen);

#endif
