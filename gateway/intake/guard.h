/* guard.h: the inbound gate of a webhook: client address behind trusted proxies, per-source IP
 * allowlist, credentials (header or URL token), signatures (HMAC family now, AWS SNS after an
 * asynchronous certificate fetch), and SNS subscription confirmation. */
#ifndef CG_GUARD_H
#define CG_GUARD_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "http.h"
#include "verify.h"

struct cg_guard;

/*
 * Certificate and SubscribeURL fetches go through cfg's datadog.proxy and trust its
 * datadog.ca_file (a source's verify ca_file first), like every outbound call; both are copied
 * (a reload's new values need a restart, as for the Case API client).
 */
int cg_guard_create(uv_loop_t *loop, const struct cg_config *cfg, struct cg_guard **out);

/* Checks in flight finish (their done runs with 503); on_closed runs once freed. Accepts NULL. */
void cg_guard_destroy(struct cg_guard *g, void (*on_closed)(void *ud), void *ud);

/*
 * The client address of a request: when peer is in trusted (n ranges), walks the forwarded
 * chain (values: the X-Forwarded-For or, with forwarded set, the Forwarded header values in
 * order) from the right, skipping trusted hops; the first untrusted hop is the client (all
 * trusted: the leftmost; an unparsable hop stops the walk at the hop to its right). Otherwise
 * the peer. Writes out (always NUL-terminated).
 */
void cg_guard_resolve_client(const struct cg_cidr *trusted, size_t n, int forwarded, const char *peer,
			     const char *const *values, size_t nvalues, char *out, size_t outlen);

/* Rewrites req->remote_addr to the client address per cfg (trusted_proxies, proxy_header). */
void cg_guard_client_addr(const struct cg_config *cfg, struct cg_http_request *req);

/*
 * Called once per cg_guard_check: status 0 when every check passed (pass holds what the
 * caller must enforce durably), else 401/403/503 with why (safe to show: no secret, no
 * expected signature). source is the source's name (look it up again: a reload may have
 * replaced the configuration while a certificate was fetched).
 */
typedef void (*cg_guard_done_fn)(struct cg_http_request *req, int status, const char *why,
				 const struct cg_verify_pass *pass, const char *source, void *ud);

/*
 * Runs the checks of src on req at now_ms (Unix ms). url_token: a token taken from the path
 * (/hooks/<name>/<token>) or NULL; ?token= is read from the query. done may run before this
 * returns (no SNS scheme, or a cached certificate) or later.
 */
void cg_guard_check(struct cg_guard *g, const struct cg_source_config *src, struct cg_http_request *req,
		    const char *url_token, int64_t now_ms, cg_guard_done_fn done, void *ud);

/*
 * The checks of cg_guard_check that need only the request head: the client address against
 * allow_ips (403) and the credentials (401). 0 when both pass (signatures, which need the
 * body, are not checked). why receives the reason; never a secret. Used to decide whether a
 * client that waits for `100 Continue` may send its body.
 */
int cg_guard_check_head(const struct cg_source_config *src, const struct cg_http_request *req, const char *url_token,
			char *why, size_t whylen);

/*
 * Confirms an SNS subscription: GETs url when src has an sns verify scheme (so the handshake's
 * signature was verified) with confirm on, and the host is allowed (its confirm_hosts, default
 * ^sns\.<region>\.amazonaws\.com(\.cn)?$); logs the outcome. Otherwise logs the URL for the
 * operator. Returns 0 when the GET was started, CG_EAUTH when not (logged).
 */
int cg_guard_confirm_subscription(struct cg_guard *g, const struct cg_source_config *src, const char *url);

/* The SNS scheme of src, or NULL. */
const struct cg_verify_config *cg_guard_sns_scheme(const struct cg_source_config *src);

#endif
