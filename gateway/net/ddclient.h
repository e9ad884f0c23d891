/* ddclient.h: HTTP client for Datadog's API on a libuv loop (through curlio.h, the libcurl bridge),
 * and its blocking form for command-line tools. */
#ifndef CG_DDCLIENT_H
#define CG_DDCLIENT_H

#include <stddef.h>
#include <uv.h>

struct cg_dd_client;

/*
 * libcurl's process-wide setup. The process calls cg_dd_global_init() once, before any
 * thread is started and before the first client is created, and cg_dd_global_cleanup()
 * once at exit after every client is closed. Returns 0 or CG_EIO.
 */
int cg_dd_global_init(void);
void cg_dd_global_cleanup(void);

/* Response bodies larger than this fail the transfer (transport_error CURLE_WRITE_ERROR). */
#define CG_DD_MAX_BODY (4u * 1024u * 1024u)

struct cg_dd_opts {
	const char *base_url;   /* "https://api.datadoghq.com" or "http://127.0.0.1:8126"; no trailing '/' */
	const char *api_key;    /* DD-API-KEY; copied, wiped on destroy; may be NULL (sim) */
	const char *app_key;    /* DD-APPLICATION-KEY; same */
	unsigned timeout_ms;    /* whole request; default 15000 */
	unsigned connect_timeout_ms; /* default 5000 */
	const char *ca_file;    /* optional CA bundle (also used to verify an https:// proxy) */
	const char *proxy;      /* optional proxy URL ("http://proxy:3128"); the *_proxy environment
				 * variables are never used */
	unsigned max_connections; /* per host; default 8 */
};

struct cg_dd_result {
	int transport_error;  /* 0 when an HTTP answer arrived; else a CURLcode */
	int maybe_sent;       /* 1 when the request may have reached the server (outcome unknown on error) */
	char errmsg[256];     /* transport error text */
	long status;          /* HTTP status, 0 on transport error */
	const char *body;     /* response body, NUL-terminated; valid during the callback only */
	size_t body_len;
	/* Rate-limit headers, -1 when absent. */
	long ratelimit_limit, ratelimit_period, ratelimit_remaining, ratelimit_reset;
	long retry_after;     /* Retry-After seconds, -1 when absent */
	char ratelimit_name[64]; /* X-RateLimit-Name, "" when absent */
	double elapsed_s;     /* total request time */
};

typedef void (*cg_dd_done_fn)(const struct cg_dd_result *res, void *ud);

/* Maps a site name ("datadoghq.com", "us3.datadoghq.com", "datadoghq.eu", "ddog-gov.com",
 * "us2.ddog-gov.com", "ap1.datadoghq.com", "ap2.datadoghq.com", "us5.datadoghq.com",
 * "uk1.datadoghq.com", also with an "app." prefix) to its API base URL. Returns 0 and writes
 * buf, or CG_EINVAL for an unknown site, CG_E2BIG when buf is too small. */
int cg_dd_site_url(const char *site, char *buf, size_t buflen);

/* Returns 0, CG_EINVAL (bad options: base_url not http(s)://, control characters in a key;
 * reason written to err) or CG_ENOMEM. Never logs the keys. */
int cg_dd_client_create(uv_loop_t *loop, const struct cg_dd_opts *opts, struct cg_dd_client **out, char *err,
			size_t errlen);

/*
 * Sends method path (path starts with '/', may carry a query) with a JSON body
 * (may be NULL). done is called exactly once on the loop, also when the client is
 * destroyed while the request is pending (transport_error set, maybe_sent as known).
 * Returns 0, CG_ENOMEM, CG_EINVAL (method not an upper-case token, path not starting
 * with '/' or holding spaces / control characters) or CG_ECLOSED (client being destroyed);
 * on error done is not called. body is copied.
 */
int cg_dd_request(struct cg_dd_client *c, const char *method, const char *path, const char *body,
		  size_t body_len, cg_dd_done_fn done, void *ud);

enum cg_dd_flags {
	/*
	 * Send on a new connection. libcurl silently re-sends a request (POST included) when a
	 * reused keep-alive connection dies before any answer byte, which would run a
	 * non-idempotent request twice if the server had processed it. A fresh connection is
	 * never replayed: the failure comes back as maybe_sent = 1 for the caller to reconcile.
	 */
	CG_DD_NO_REPLAY = 1,
};

/* cg_dd_request with flags (enum cg_dd_flags). */
int cg_dd_request_flags(struct cg_dd_client *c, const char *method, const char *path, const char *body,
			size_t body_len, int flags, cg_dd_done_fn done, void *ud);

size_t cg_dd_inflight(const struct cg_dd_client *c);

/*
 * The blocking form, for command-line tools: a client with opts on a private loop sends one
 * request (as cg_dd_request_flags) and the loop runs until done has run; the client and the loop
 * are closed before this returns. Returns 0 once done ran (exactly once), or an error of
 * cg_dd_client_create / cg_dd_request_flags, or CG_EIO (no loop), with err set; done is then
 * not called.
 */
int cg_dd_request_wait(const struct cg_dd_opts *opts, const char *method, const char *path, const char *body,
		       size_t body_len, int flags, cg_dd_done_fn done, void *ud, char *err, size_t errlen);

/*
 * Replaces the API and application keys (a reload read new ones): requests sent from now on carry
 * them; requests already on the wire finish with the old ones. Returns 0, CG_EINVAL (control
 * characters) or CG_ENOMEM (the old keys stay). Keys are copied and the old ones wiped.
 */
int cg_dd_client_set_keys(struct cg_dd_client *c, const char *api_key, const char *app_key);

/*
 * Aborts pending requests: their callbacks run before this returns, with transport_error
 * CURLE_ABORTED_BY_CALLBACK and maybe_sent as known. Then closes the loop handles; on_closed
 * (may be NULL) runs on the loop once everything is freed. May be called from a done callback.
 * Accepts NULL (then on_closed is not called); a second call is ignored.
 */
void cg_dd_client_destroy(struct cg_dd_client *c, void (*on_closed)(void *ud), void *ud);

#endif
