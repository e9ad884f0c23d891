/* http.h: HTTP/1.1 server on libuv + llhttp with request limits; used by casegate and casegate-sim.
 * Built from http_server.c (listening, admission, sweep), http_conn.c (a connection's life and
 * the answers), http_parse.c (llhttp glue) and http_text.c (limits, reasons, lookups). */
#ifndef CG_HTTP_H
#define CG_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/*
 * Threading: every function here must be called on the thread running the loop
 * given to cg_http_server_create (answers computed elsewhere are handed back with
 * uv_async_t first). cg_http_server_create sets SIGPIPE to ignored when it still
 * has the default disposition (a write to a reset peer must not kill the process).
 */
struct cg_http_server;

struct cg_http_header {
	const char *name; /* NUL-terminated, as received (case preserved) */
	const char *value;
};

/*
 * One parsed request. Owned by the server; valid from the handler call until
 * cg_http_respond() or cg_http_drop() is called for it (exactly once). The handler
 * may answer later (after an async commit): if the client went away meanwhile,
 * the answer is discarded and the request is still freed by that call.
 */
struct cg_http_request {
	const char *method;  /* "GET", "POST", ... */
	const char *path;    /* URL path, percent-decoding NOT applied, without query */
	const char *query;   /* after '?', or "" */
	const struct cg_http_header *headers;
	size_t nheaders;
	const char *body;    /* NUL-terminated for convenience; body_len excludes the NUL */
	size_t body_len;
	char remote_addr[64]; /* peer IP as text; the handler may rewrite it (client behind a trusted
			       * proxy): it is reset to the TCP peer for every request */
	void *conn;          /* private */
	/* Set by a handler that answers in another API's dialect (PagerDuty, Opsgenie): every answer
	 * to this request, whoever sends it, passes through it. It gets casegate's status and JSON
	 * body; it may change the status and return a new body in *out (malloc'd; the caller frees)
	 * or leave *out NULL to send the body as it is. Cleared for every request. */
	void (*reshape)(const struct cg_http_request *req, int *status, const char *body, size_t len, char **out,
			size_t *outlen);
};

/* Case-insensitive header lookup; returns the first value or NULL. */
const char *cg_http_header_get(const struct cg_http_request *req, const char *name);

/*
 * Query parameter lookup (percent-decoded into buf). Returns 0 and writes buf when
 * present, CG_ENOENT when absent, CG_E2BIG when it does not fit.
 */
int cg_http_query_get(const struct cg_http_request *req, const char *name, char *buf, size_t buflen);

typedef void (*cg_http_handler_fn)(struct cg_http_request *req, void *ud);

struct cg_http_limits {
	size_t max_body;           /* 413 past this; default 1 MiB */
	size_t max_header_bytes;   /* 431 past this (request line + headers); default 16 KiB */
	size_t max_headers;        /* 431 past this count; default 100 */
	unsigned header_timeout_ms; /* whole head must arrive within; default 10 s */
	unsigned body_timeout_ms;  /* body must arrive within (after head); default 30 s */
	unsigned idle_timeout_ms;  /* keep-alive idle; default 60 s */
	unsigned max_connections;  /* further accepts are closed at once; default 1024 */
	/* Answers waiting to be written cost memory (data plus bookkeeping). A connection whose
	 * queued answers exceed max_output_conn, or hold any while all connections together exceed
	 * max_output_total, has its further pipelined requests left unread until the client takes
	 * its answers. Defaults 64 KiB and 16 MiB. */
	size_t max_output_conn;
	size_t max_output_total;
	unsigned write_timeout_ms; /* answers not taken for this long: the connection is closed; 30 s; 0: never */
	unsigned first_byte_timeout_ms; /* a new connection must send its first byte within; 0: header_timeout */
	unsigned max_per_addr;     /* connections from one peer address (see cg_http_server_set_exempt); 0: any */
	/*
	 * Health checks stay answerable when every slot is taken: up to `reserved` connections past
	 * max_connections are admitted, each for one GET/HEAD of a path in reserved_paths
	 * (NULL-terminated, not copied: keep it alive), answered with Connection: close; anything
	 * else (or nothing within 1 s) gets 503. Defaults 0 / NULL: none.
	 */
	unsigned reserved;
	const char *const *reserved_paths;
};

/* Fills in the defaults above. */
void cg_http_limits_default(struct cg_http_limits *l);

/*
 * Creates a server bound to host:port (port 0 = any free port) on loop. On success
 * *out is set; the actual port is available from cg_http_server_port().
 * Returns 0 or a negative enum cg_err; err receives a message. host is an IPv4
 * or IPv6 literal ("localhost" and NULL mean 127.0.0.1). When listening fails
 * (port in use) the half-made listener is freed by its close callback: run the
 * loop once more before uv_loop_close().
 */
int cg_http_server_create(uv_loop_t *loop, const char *host, int port, const struct cg_http_limits *limits,
			  cg_http_handler_fn handler, void *ud, struct cg_http_server **out, char *err,
			  size_t errlen);

/*
 * Serves TLS (OpenSSL over memory BIOs, see tls.h) on connections accepted from now on.
 * tls is not owned: keep it until the server's on_closed ran. The header timeout covers
 * the handshake too.
 */
struct cg_tls_ctx;
void cg_http_server_use_tls(struct cg_http_server *srv, struct cg_tls_ctx *tls);

int cg_http_server_port(const struct cg_http_server *srv);

/*
 * Peers in these ranges (the trusted reverse proxies) are exempt from limits.max_per_addr.
 * The n ranges are copied; call again to replace them (e.g. after a reload). 0 or CG_ENOMEM.
 */
struct cg_cidr;
int cg_http_server_set_exempt(struct cg_http_server *srv, const struct cg_cidr *v, size_t n);

/*
 * A request announcing `Expect: 100-continue` gets its interim 100 answer only when fn (called
 * with the parsed head, body still unread) returns 1: a server that checks credentials first
 * tells an unauthenticated client nothing and reads no body it did not ask for (the client
 * sends it after its own timeout, and gets the real answer). Without fn, 100 is always sent.
 */
typedef int (*cg_http_continue_fn)(struct cg_http_request *req, void *ud);
void cg_http_server_set_continue(struct cg_http_server *srv, cg_http_continue_fn fn);

/*
 * A request refused while its head or body was read, before any handler saw it (413 body too
 * large, 431 head too large or too many headers, 400 malformed), so the server's owner can log
 * and count what would otherwise be invisible.
 */
struct cg_http_refusal {
	int status;
	const char *msg;           /* what the client got (limits included) */
	const char *peer;          /* the client's address */
	const char *method, *path; /* the request line's, or NULL when refused before it was read (raw: sanitise before logging) */
	uint64_t size;             /* 413: the body's size (declared, or read so far); 431: head bytes read so far; 0: unknown */
	int declared;              /* size is the request's Content-Length */
};
typedef void (*cg_http_refused_fn)(const struct cg_http_refusal *r, void *ud);
void cg_http_server_set_refused(struct cg_http_server *srv, cg_http_refused_fn fn);

/*
 * Whether host:port could be bound now (a throwaway socket, bound as the server would and closed):
 * a daemon that is bound to fail to listen says so before it touches its store. 0 (or nothing to
 * probe: port 0, an address cg_http_server_create will refuse itself) or CG_EIO with
 * "listen on HOST:PORT: reason" in err.
 */
int cg_http_listen_probe(const char *host, int port, char *err, size_t errlen);

/* Number of open connections (for metrics and tests). */
size_t cg_http_server_connections(const struct cg_http_server *srv);

/* Bytes of answers queued for writing on all connections (data and bookkeeping). */
size_t cg_http_server_output_bytes(const struct cg_http_server *srv);

/*
 * Stops accepting; open connections finish their in-flight request (answers are
 * still written), then close; idle ones close at once. on_closed runs once every
 * handle is closed and the server is freed (so it waits for requests the handler
 * still holds on live connections: answer or drop them). A request whose client
 * already went away does not hold the server: answering it later is still safe.
 */
void cg_http_server_close(struct cg_http_server *srv, void (*on_closed)(void *ud), void *ud);

/*
 * Answers req (status, headers, body are copied). content_type may be NULL (then
 * "application/json"). extra may be NULL. Frees req. Returns 0 or CG_ENOMEM.
 */
int cg_http_respond(struct cg_http_request *req, int status, const char *content_type, const char *body,
		    size_t body_len, const struct cg_http_header *extra, size_t nextra);

/* Answers with {"errors":[msg]} and the given status. Frees req. */
int cg_http_respond_error(struct cg_http_request *req, int status, const char *msg);

/* Closes the connection without any answer (fault injection: outcome unknown). Frees req. */
void cg_http_drop(struct cg_http_request *req);

/* Reason phrase for a status code ("Not Found"). */
const char *cg_http_reason(int status);

/*
 * Test hook for tests/fuzz/fuzz_http.c: runs data as one client's byte stream
 * through a real connection (socketpair) of a throwaway server with small limits,
 * answering requests synchronously, later, with an error, or by dropping them.
 * Returns 0 when everything closed cleanly, negative otherwise (-2: leaked handle).
 */
int cg_http_fuzz_feed(const uint8_t *data, size_t len);

#endif
