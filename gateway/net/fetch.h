/* fetch.h: small asynchronous HTTPS GET client on the loop (SNS signing certificates and
 * subscription confirmations) over curlio.h. https only, no redirects, size-capped, never sends
 * credentials; the configured proxy or none (never the *_proxy environment variables). */
#ifndef CG_FETCH_H
#define CG_FETCH_H

#include <stddef.h>
#include <uv.h>

struct cg_fetch;

struct cg_fetch_opts {
	const char *ca_file;  /* trust store for this server; NULL: the client's ca_file, else the system's */
	size_t max_bytes;     /* larger bodies fail; 0: 64 KiB */
	unsigned timeout_ms;  /* whole transfer; 0: 10 s */
};

/*
 * Called once per cg_fetch_get on the loop thread. rc 0: the server answered (status and
 * body valid for the call only); otherwise a negative enum cg_err (CG_EIO transport or TLS
 * failure, CG_E2BIG body over max_bytes, CG_ECLOSED client destroyed) with errmsg.
 */
typedef void (*cg_fetch_done_fn)(int rc, long status, const char *body, size_t len, const char *errmsg, void *ud);

/*
 * proxy (may be NULL: none) and ca_file (may be NULL: the system's trust store) are where every
 * fetch goes and whom it trusts, as for the Case API (datadog.proxy, datadog.ca_file); ca_file
 * also verifies an https:// proxy. Both are copied. Returns 0, CG_ENOMEM or CG_EIO.
 */
int cg_fetch_create(uv_loop_t *loop, const char *proxy, const char *ca_file, struct cg_fetch **out);

/* Starts GET url. Returns 0 (done will run later, never from inside this call) or an error
 * (done is not called). */
int cg_fetch_get(struct cg_fetch *f, const char *url, const struct cg_fetch_opts *o, cg_fetch_done_fn done,
		 void *ud);

/* Transfers in flight finish at once with CG_ECLOSED; on_closed runs when the memory is freed
 * (run the loop). Accepts NULL. */
void cg_fetch_destroy(struct cg_fetch *f, void (*on_closed)(void *ud), void *ud);

#endif
