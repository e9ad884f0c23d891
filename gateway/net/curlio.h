/* curlio.h: the one bridge between libcurl and libuv: every outbound call (Case API, SNS fetches,
 * the CLI's blocking calls) is a curl easy handle driven by a curl multi handle on a uv loop. */
#ifndef CG_CURLIO_H
#define CG_CURLIO_H

#include <stddef.h>

#include <curl/curl.h>
#include <uv.h>

struct cg_curlio;

/* Settings of the multi handle; 0 leaves curl's default. */
struct cg_curlio_opts {
	long max_host_connections; /* CURLMOPT_MAX_HOST_CONNECTIONS */
	long max_connects;         /* CURLMOPT_MAXCONNECTS: idle connections kept */
	int no_multiplex;          /* 1: one request per connection at a time (CURLPIPE_NOTHING) */
};

/*
 * Called exactly once per transfer, on the loop: rc is curl's result, or
 * CURLE_ABORTED_BY_CALLBACK when the bridge was destroyed first. The easy handle has left the
 * multi handle and belongs to the callback again (its CURLINFO_* are still readable). The
 * callback may add transfers, or destroy the bridge.
 */
typedef void (*cg_curlio_done_fn)(CURL *easy, CURLcode rc, void *ud);

/* opts may be NULL (curl's defaults). Returns 0, CG_ENOMEM, or CG_EIO (curl refused an option
 * or the timer failed). */
int cg_curlio_create(uv_loop_t *loop, const struct cg_curlio_opts *opts, struct cg_curlio **out);

/*
 * Starts easy (set up by the caller; the bridge takes CURLOPT_PRIVATE for itself). Returns 0
 * (done runs later, never from inside this call), CG_ECLOSED (bridge being destroyed) or
 * CG_ENOMEM; on error easy stays the caller's and done is not called.
 */
int cg_curlio_add(struct cg_curlio *io, CURL *easy, cg_curlio_done_fn done, void *ud);

/* Transfers added and not yet finished. */
size_t cg_curlio_pending(const struct cg_curlio *io);

/*
 * Aborts the transfers in flight: their done callbacks run before this returns (rc
 * CURLE_ABORTED_BY_CALLBACK). Then closes the loop handles; on_closed (may be NULL) runs on the
 * loop once the last close callback freed the bridge. May be called from a done callback.
 * Accepts NULL; a second call is ignored.
 */
void cg_curlio_destroy(struct cg_curlio *io, void (*on_closed)(void *ud), void *ud);

/*
 * Where an outbound call goes and whom it trusts (datadog.proxy and datadog.ca_file apply to
 * every call): proxy, or no proxy at all when NULL (the *_proxy environment variables are never
 * read); server_ca, else ca_file, else the system's trust store for the server; ca_file for an
 * https:// proxy. Strings are copied by curl. Returns 0 or CG_EIO.
 */
int cg_curlio_route(CURL *easy, const char *proxy, const char *ca_file, const char *server_ca);

/* A response body kept in memory, NUL-terminated, at most max bytes. Zero it, set max. */
struct cg_curlio_body {
	char *p;      /* NULL until the first byte; free() it */
	size_t len, cap, max;
	int too_big;  /* the answer was longer than max: the transfer failed */
	int oom;      /* out of memory: the transfer failed */
};

/* CURLOPT_WRITEFUNCTION for a struct cg_curlio_body (CURLOPT_WRITEDATA). */
size_t cg_curlio_body_write(char *p, size_t size, size_t nmemb, void *ud);

#endif
