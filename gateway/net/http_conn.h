/* http_conn.h: the HTTP server's connections and server state, shared by http_server.c (which
 * accepts, admits, sweeps and closes) and http_conn.c (one connection's life). Private to net/. */
#ifndef CG_HTTP_CONN_H
#define CG_HTTP_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "http.h"
#include "http_parse.h"

#define CG_HTTP_READ_BUF (16 * 1024)
/* After a peak of queued output or connections this large, free memory is returned to the
 * system once it has passed (glibc keeps freed heap otherwise). */
#define CG_HTTP_TRIM_OUT_BYTES (4u * 1024 * 1024)
#define CG_HTTP_TRIM_CONNS 256u

enum cg_http_phase {
	CG_HTTP_PH_IDLE,   /* keep-alive, waiting for the next request (idle_timeout) */
	CG_HTTP_PH_HEAD,   /* reading the request head (header_timeout) */
	CG_HTTP_PH_BODY,   /* reading the body (body_timeout) */
	CG_HTTP_PH_WAIT,   /* handler holds the request: no timeout */
	CG_HTTP_PH_LINGER, /* last answer sent, write side shut: discard input until EOF */
};

struct cg_http_conn {
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_shutdown_t shutdown;
	struct cg_http_parse hp;
	struct cg_http_request req;
	struct cg_http_server *srv; /* NULL once orphaned */
	struct cg_http_conn *prev, *next;

	struct cg_tls *tls; /* NULL: plain HTTP */
	char peer[64];      /* the TCP peer; req.remote_addr is reset to it for every request */

	char *pend; /* unparsed bytes waiting for the in-flight request to be answered */
	size_t pend_len, pend_cap;

	unsigned handles_open;
	unsigned writes_pending;
	size_t out_bytes;          /* what the queued writes cost (WREQ_COST) */
	uint64_t write_progress_ms; /* loop time output last moved (a write completed, the queue shrank) */
	size_t last_wq;            /* unsent bytes at the last sweep */
	uint64_t accepted_ms;
	enum cg_http_phase phase;
	unsigned closing : 1;      /* uv_close called */
	unsigned reading : 1;
	unsigned peer_eof : 1;
	unsigned close_after : 1;  /* no further request: shut down after the last write */
	unsigned shutting : 1;     /* uv_shutdown issued */
	unsigned req_active : 1;   /* handler holds c->req */
	unsigned in_process : 1;
	unsigned msg_started : 1;  /* bytes of a request were seen since the last answer */
	unsigned first_byte : 1;   /* nothing received yet (first_byte_timeout) */
	unsigned reserve : 1;      /* admitted past max_connections for one health check */
};

struct cg_http_server {
	uv_loop_t *loop;
	uv_tcp_t listener;
	struct cg_http_limits lim;
	cg_http_handler_fn handler;
	void *ud;
	struct cg_http_conn *conns;
	size_t nconns;
	size_t nreserve;        /* connections in reserved slots (counted in nconns too) */
	size_t out_total;       /* sum of the connections' out_bytes */
	unsigned trim_armed : 1; /* a peak of output or connections passed the TRIM_ thresholds */
	int port;
	struct cg_tls_ctx *tls; /* not owned */
	struct cg_cidr *exempt; /* peers exempt from max_per_addr */
	size_t nexempt;
	cg_http_continue_fn continue_fn;
	cg_http_refused_fn refused_fn;
	uv_timer_t sweep;
	size_t refused;           /* connections refused since the last warning about it */
	uint64_t refused_log_ms;
	unsigned sweep_open : 1; /* sweep timer initialised and not yet closed */
	unsigned closing : 1;
	unsigned listener_closed : 1;
	void (*on_closed)(void *ud);
	void *closed_ud;
	char rbuf[CG_HTTP_READ_BUF];
};

/* Closes c's handles (deferred: c stays valid for the rest of the callback). */
void cg_http_conn_close(struct cg_http_conn *c);

/* Server-generated error: JSON body, then close (the parser state is unusable). */
void cg_http_conn_send_error(struct cg_http_conn *c, int status, const char *msg);

/* A new connection (admitted) must send its head, and TLS handshake, in time. */
void cg_http_conn_begin(struct cg_http_conn *c);

/* The server closes: idle and half-read connections go now; busy ones close after their answer
 * is written, lingering ones on EOF or their short timer. */
void cg_http_conn_close_idle(struct cg_http_conn *c);

/* Frees a closing server once its listener, sweep timer and connections are gone. */
void cg_http_server_maybe_done(struct cg_http_server *srv);

#endif
