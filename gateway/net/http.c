/* http.c: HTTP/1.1 server on libuv + llhttp: keep-alive, ordered pipelining, async answers, limits. */
#define _POSIX_C_SOURCE 200809L

#include "http.h"

#include <assert.h>
#include <signal.h>
#include <stdarg.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <llhttp.h>

#include "cidr.h"
#include "err.h"
#include "tls.h"

#define CG_LOG_COMPONENT "http"
#include "log.h"

/*
 * Lifecycle (the part that must not go wrong)
 * -------------------------------------------
 * A connection (struct cg_http_conn) owns two handles (tcp, timer) and embeds the one
 * request it may have in flight: parsing is paused when a request completes and
 * resumed only after the handler answered it, so pipelined requests are handled
 * strictly in order and at most one request per connection exists at a time.
 *
 * The conn memory is freed when BOTH hold:
 *   - both handles are closed (close callbacks ran: handles_open == 0), and
 *   - no request is outstanding (req_active == 0).
 * Whichever happens last frees it: the final close callback (conn_handle_closed)
 * or cg_http_respond()/cg_http_drop() on an orphaned request. When the client
 * disconnects while the handler still holds the request, the handles close, the
 * conn leaves the server's list (c->srv = NULL, it no longer counts as a
 * connection) and stays allocated as an orphan; the later respond/drop discards
 * the answer and frees it. Thus req->conn is valid until respond/drop, and the
 * server may finish closing (and be freed) while orphans exist: orphans never
 * touch c->srv.
 *
 * Reentrancy: the handler is never called from inside llhttp_execute (the
 * on_message_complete callback only pauses the parser); it is called with
 * c->in_process set, so a synchronous respond() from the handler does not
 * recurse into parsing: the outer loop continues with the buffered bytes.
 * Close callbacks always run on a later loop iteration, so a conn stays valid
 * for the rest of any callback that closed it.
 *
 * Buffers: one 16 KiB read buffer per server is shared by all connections (libuv
 * calls alloc_cb and read_cb back to back); bytes are copied once into the
 * connection's head buffer (method/url/headers, NUL-separated) or body buffer,
 * both reused across keep-alive requests. Bytes of pipelined requests that
 * arrive while a request is in flight are kept in c->pend, bounded by
 * PEND_MAX (reading stops past it: TCP backpressure).
 *
 * Output: every answer is one write request holding its bytes until libuv wrote them.
 * What they cost (data and bookkeeping, c->out_bytes, srv->out_total) is capped per
 * connection and in total: past a cap, further pipelined requests of that connection
 * are neither parsed nor read (a client that sends without reading fills its own TCP
 * window, not our memory), and a connection whose answers make no progress for
 * write_timeout is closed by the server's sweep timer, which also gives memory back to
 * the system after a peak (malloc_trim).
 */

#define CG_HTTP_READ_BUF (16 * 1024)
#define PEND_MAX (16 * 1024)
#define LINGER_MS 1000u
/* A connection admitted to a reserved slot must ask for a health path within this. */
#define RESERVE_TIMEOUT_MS 1000u
/* The sweep: write stalls are noticed within this. */
#define SWEEP_MS 1000u
/* After a peak of queued output or connections this large, free memory is returned to the
 * system once it has passed (glibc keeps freed heap otherwise). */
#define CG_HTTP_TRIM_OUT_BYTES (4u * 1024 * 1024)
#define CG_HTTP_TRIM_CONNS 256u
/* The kernel's send buffer per connection: answers are small, and autotuning would let each
 * client that does not read park megabytes of them in kernel memory before our cap applies. */
#define SEND_BUFFER (64 * 1024)
/* What one queued write costs besides its data: the request, and malloc's own header. */
#define WREQ_COST(len) (sizeof(struct wreq) + (len) + 32)
/* Buffers above these sizes are released after a request instead of kept for reuse. */
#define HBUF_KEEP (16 * 1024)
#define BBUF_KEEP (64 * 1024)

enum cg_http_phase {
	CG_HTTP_PH_IDLE,   /* keep-alive, waiting for the next request (idle_timeout) */
	CG_HTTP_PH_HEAD,   /* reading the request head (header_timeout) */
	CG_HTTP_PH_BODY,   /* reading the body (body_timeout) */
	CG_HTTP_PH_WAIT,   /* handler holds the request: no timeout */
	CG_HTTP_PH_LINGER, /* last answer sent, write side shut: discard input until EOF */
};

/* What a feed reports besides its result (events, read and cleared by the caller). */
enum { CG_HTTP_PARSE_BEGAN = 1, CG_HTTP_PARSE_BODY = 2, CG_HTTP_PARSE_CONTINUE = 4 };
enum cg_http_parse_result { CG_HTTP_PARSE_MORE, CG_HTTP_PARSE_MSG, CG_HTTP_PARSE_ERR };

/*
 * The request parser: llhttp glue that turns a connection's bytes into cg_http_request, within
 * the head and body limits. It knows nothing of the connection: what the connection must do
 * (timers, a 100 Continue, the error answer) it learns from a feed's result and events.
 */
struct cg_http_parse {
	llhttp_t llh;
	struct cg_http_request *req;       /* filled in for each message */
	const struct cg_http_limits *lim;
	/* head: "url\0name\0value\0..." as offsets, turned into pointers at headers_complete */
	char *hbuf;
	size_t hlen, hcap;
	size_t *hoff; /* 2 per header: name offset, value offset (SIZE_MAX = none yet) */
	size_t nhdr, hoff_cap;
	struct cg_http_header *hdrs;
	size_t hdrs_cap;
	size_t url_off;
	size_t tok_start;
	const char *head_base; /* where head bytes start in the buffer being parsed */
	size_t head_prev;      /* head bytes seen in earlier buffers */
	char *bbuf;
	size_t blen, bcap;
	int err_status;        /* CG_HTTP_PARSE_ERR: the answer's status (400, 413, 431, ...) and text */
	const char *err_msg;
	char err_buf[160];     /* err_msg text built for this request */
	unsigned events;       /* CG_HTTP_PARSE_BEGAN | CG_HTTP_PARSE_BODY | CG_HTTP_PARSE_CONTINUE since the caller last looked */
	unsigned hscan : 3;    /* head scan state (obs-fold detection), enum hscan */
	unsigned in_head : 1;
	unsigned url_done : 1;
	unsigned tok_open : 1;
	unsigned paused : 1;   /* paused after a complete message */
	unsigned keep_alive : 1;
	unsigned http10 : 1;
	unsigned upgrade : 1;
	unsigned reserve_only : 1; /* a reserved slot: health checks only (503 otherwise) */
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

/* Where the head scan is: start of a request (leading CRLF allowed), inside a line, at a
 * line start, after a CR at a line start, done (head over: body and the rest not scanned). */
enum hscan { HS_START, HS_MID, HS_LINESTART, HS_CR, HS_DONE };

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

struct wreq {
	uv_write_t w;
	struct cg_http_conn *c;
	size_t len;
	char data[];
};

static const char empty_str[] = "";

static void cg_http_conn_close(struct cg_http_conn *c);
static void conn_drain(struct cg_http_conn *c);
static void conn_after_write(struct cg_http_conn *c);
static void conn_read_start(struct cg_http_conn *c);
static void cg_http_parse_cleanup(struct cg_http_parse *h);

/* ---------------------------------------------------------------- helpers */

void cg_http_limits_default(struct cg_http_limits *l)
{
	l->max_body = 1024 * 1024;
	l->max_header_bytes = 16 * 1024;
	l->max_headers = 100;
	l->header_timeout_ms = 10000;
	l->body_timeout_ms = 30000;
	l->idle_timeout_ms = 60000;
	l->max_connections = 1024;
	l->max_output_conn = 64 * 1024;
	l->max_output_total = 16 * 1024 * 1024;
	l->write_timeout_ms = 30000;
	l->first_byte_timeout_ms = 0;
	l->max_per_addr = 0;
	l->reserved = 0;
	l->reserved_paths = NULL;
}

const char *cg_http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Entity";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: break;
	}
	if (status >= 200 && status < 300)
		return "OK";
	if (status >= 400 && status < 500)
		return "Client Error";
	if (status >= 500 && status < 600)
		return "Server Error";
	return "Unknown";
}

static int ascii_lower(int ch)
{
	return (ch >= 'A' && ch <= 'Z') ? ch + ('a' - 'A') : ch;
}

static int cg_http_casecmp(const char *a, const char *b)
{
	for (;; a++, b++) {
		int x = ascii_lower((unsigned char)*a), y = ascii_lower((unsigned char)*b);
		if (x != y || x == 0)
			return x - y;
	}
}

const char *cg_http_header_get(const struct cg_http_request *req, const char *name)
{
	for (size_t i = 0; i < req->nheaders; i++)
		if (cg_http_casecmp(req->headers[i].name, name) == 0)
			return req->headers[i].value;
	return NULL;
}

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = ascii_lower(ch);
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* Decodes one form-encoded char at *p (advancing it). Invalid or %00 escapes stay literal,
 * so a decoded string never carries an embedded NUL. */
static int form_next(const char **p)
{
	const char *s = *p;
	if (*s == '+') {
		*p = s + 1;
		return ' ';
	}
	if (*s == '%') {
		int h = hexval((unsigned char)s[1]), l = h >= 0 ? hexval((unsigned char)s[2]) : -1;
		if (h >= 0 && l >= 0 && (h | l) != 0) {
			*p = s + 3;
			return h * 16 + l;
		}
	}
	*p = s + 1;
	return (unsigned char)*s;
}

int cg_http_query_get(const struct cg_http_request *req, const char *name, char *buf, size_t buflen)
{
	const char *q = req->query ? req->query : "";
	while (*q) {
		const char *k = q;
		const char *n = name;
		int match = 1;
		while (*k && *k != '=' && *k != '&') {
			int ch = form_next(&k);
			if (match && (*n == '\0' || (unsigned char)*n != ch))
				match = 0;
			else if (match)
				n++;
		}
		if (match && *n == '\0') {
			size_t o = 0;
			if (*k == '=')
				k++;
			while (*k && *k != '&') {
				int ch = form_next(&k);
				if (o + 1 >= buflen)
					return CG_E2BIG;
				buf[o++] = (char)ch;
			}
			if (buflen == 0)
				return CG_E2BIG;
			buf[o] = '\0';
			return 0;
		}
		while (*k && *k != '&')
			k++;
		q = *k ? k + 1 : k;
	}
	return CG_ENOENT;
}

/* Grows *buf to hold at least need bytes (doubling). */
static int cg_http_grow(char **buf, size_t *cap, size_t need, size_t min)
{
	if (need <= *cap)
		return 0;
	size_t ncap = *cap ? *cap : min;
	while (ncap < need)
		ncap *= 2;
	char *nb = realloc(*buf, ncap);
	if (!nb)
		return CG_ENOMEM;
	*buf = nb;
	*cap = ncap;
	return 0;
}

/* JSON string body {"errors":["msg"]}, malloc'd. */
static char *cg_http_json_error(const char *msg, size_t *len)
{
	static const char pre[] = "{\"errors\":[\"", post[] = "\"]}";
	size_t mlen = strlen(msg);
	char *out = malloc(sizeof(pre) + sizeof(post) + 6 * mlen);
	if (!out)
		return NULL;
	size_t o = sizeof(pre) - 1;
	memcpy(out, pre, o);
	for (const unsigned char *s = (const unsigned char *)msg; *s; s++) {
		if (*s == '"' || *s == '\\') {
			out[o++] = '\\';
			out[o++] = (char)*s;
		} else if (*s < 0x20) {
			o += (size_t)snprintf(out + o, 7, "\\u%04x", *s);
		} else {
			out[o++] = (char)*s;
		}
	}
	memcpy(out + o, post, sizeof(post));
	*len = o + sizeof(post) - 1;
	return out;
}

/* Header text must not smuggle a line break into the response. */
static int header_safe(const char *s)
{
	return s && !strpbrk(s, "\r\n");
}

/* ---------------------------------------------------------------- lifetime */

static void conn_free(struct cg_http_conn *c)
{
	cg_tls_free(c->tls);
	cg_http_parse_cleanup(&c->hp);
	free(c->pend);
	free(c);
}

static void cg_http_server_maybe_done(struct cg_http_server *srv)
{
	if (!srv->closing || !srv->listener_closed || srv->sweep_open || srv->nconns > 0)
		return;
	void (*cb)(void *) = srv->on_closed;
	void *ud = srv->closed_ud;
	free(srv->exempt);
	free(srv);
	if (cb)
		cb(ud);
}

static void conn_handle_closed(uv_handle_t *h)
{
	struct cg_http_conn *c = h->data;
	if (--c->handles_open > 0)
		return;
	struct cg_http_server *srv = c->srv;
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->nconns--;
	if (c->reserve)
		srv->nreserve--;
	c->srv = NULL;
	if (!c->req_active)
		conn_free(c); /* else orphaned: freed by respond/drop */
	cg_http_server_maybe_done(srv);
}

static void cg_http_conn_close(struct cg_http_conn *c)
{
	if (c->closing)
		return;
	c->closing = 1;
	c->reading = 0;
	uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
	uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
}

static void on_timer(uv_timer_t *t);

static void conn_timer(struct cg_http_conn *c, unsigned ms)
{
	if (c->closing)
		return;
	if (ms == 0)
		uv_timer_stop(&c->timer);
	else
		uv_timer_start(&c->timer, on_timer, ms, 0);
}

static void conn_set_phase(struct cg_http_conn *c, enum cg_http_phase ph)
{
	const struct cg_http_limits *l = &c->srv->lim;
	c->phase = ph;
	switch (ph) {
	case CG_HTTP_PH_IDLE: conn_timer(c, l->idle_timeout_ms); break;
	case CG_HTTP_PH_HEAD:
		if (c->reserve)
			conn_timer(c, l->header_timeout_ms < RESERVE_TIMEOUT_MS ? l->header_timeout_ms : RESERVE_TIMEOUT_MS);
		else if (c->first_byte && l->first_byte_timeout_ms && l->first_byte_timeout_ms < l->header_timeout_ms)
			conn_timer(c, l->first_byte_timeout_ms);
		else
			conn_timer(c, l->header_timeout_ms);
		break;
	case CG_HTTP_PH_BODY: conn_timer(c, l->body_timeout_ms); break;
	case CG_HTTP_PH_WAIT: conn_timer(c, 0); break;
	case CG_HTTP_PH_LINGER:
		conn_timer(c, l->idle_timeout_ms && l->idle_timeout_ms < LINGER_MS ? l->idle_timeout_ms : LINGER_MS);
		break;
	}
}

/* ---------------------------------------------------------------- writing */

static void out_release(struct cg_http_conn *c, size_t cost)
{
	c->out_bytes -= cost;
	if (c->srv)
		c->srv->out_total -= cost;
}

static void on_write(uv_write_t *w, int status)
{
	struct wreq *wr = (struct wreq *)w;
	struct cg_http_conn *c = wr->c;
	out_release(c, WREQ_COST(wr->len));
	free(wr);
	c->writes_pending--;
	if (c->srv)
		c->write_progress_ms = uv_now(c->srv->loop);
	if (c->closing)
		return;
	if (status < 0) {
		CG_LOG_DEBUG("write to %s failed: %s", c->req.remote_addr, uv_strerror(status));
		cg_http_conn_close(c);
		return;
	}
	conn_after_write(c);
}

static int conn_write_raw(struct cg_http_conn *c, struct wreq *wr)
{
	uv_buf_t b = uv_buf_init(wr->data, (unsigned)wr->len);
	wr->c = c;
	int r = uv_write(&wr->w, (uv_stream_t *)&c->tcp, &b, 1, on_write);
	if (r < 0) {
		free(wr);
		cg_http_conn_close(c);
		return CG_EIO;
	}
	size_t cost = WREQ_COST(wr->len);
	if (c->out_bytes == 0)
		c->write_progress_ms = uv_now(c->srv->loop); /* the stall clock starts now */
	size_t wq = uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
	if (wq > c->last_wq)
		c->last_wq = wq; /* the sweep sees progress when the queue falls below its high mark */
	c->out_bytes += cost;
	c->srv->out_total += cost;
	if (c->srv->out_total >= CG_HTTP_TRIM_OUT_BYTES)
		c->srv->trim_armed = 1;
	c->writes_pending++;
	return 0;
}

/* Sends the ciphertext OpenSSL produced (handshake, records, alerts). 0 or CG_EIO (closing). */
static int tls_flush(struct cg_http_conn *c)
{
	size_t n;
	while (c->tls && !c->closing && (n = cg_tls_pending(c->tls)) > 0) {
		struct wreq *wr = malloc(sizeof(*wr) + n);
		if (!wr) {
			cg_http_conn_close(c);
			return CG_EIO;
		}
		wr->len = cg_tls_take(c->tls, wr->data, n);
		if (conn_write_raw(c, wr) < 0)
			return CG_EIO;
	}
	return 0;
}

/* Writes wr (consumed): encrypted first on a TLS connection. On failure c is closing. */
static int conn_write(struct cg_http_conn *c, struct wreq *wr)
{
	if (!c->tls)
		return conn_write_raw(c, wr);
	/* Before the handshake there is no channel for an answer (a refusal or a timeout): close. */
	int rc = cg_tls_write(c->tls, wr->data, wr->len);
	free(wr);
	if (rc < 0) {
		cg_http_conn_close(c);
		return CG_EIO;
	}
	return tls_flush(c);
}

static size_t put(char *dst, size_t o, const char *s, size_t n)
{
	memcpy(dst + o, s, n);
	return o + n;
}
#define PUTS(dst, o, lit) put(dst, o, lit, sizeof(lit) - 1)

/* Builds the whole answer in one buffer (one write, one free). */
static struct wreq *build_response(int status, const char *ctype, const char *body, size_t blen,
				   const struct cg_http_header *extra, size_t nextra, int last, int ka10)
{
	if (status < 100 || status > 999)
		status = 500;
	const char *reason = cg_http_reason(status);
	int no_body = status < 200 || status == 204 || status == 304;
	if (!header_safe(ctype))
		ctype = "application/json";
	if (no_body)
		blen = 0;
	size_t need = 64 + strlen(reason) + strlen(ctype) + blen;
	for (size_t i = 0; i < nextra; i++)
		if (header_safe(extra[i].name) && header_safe(extra[i].value))
			need += strlen(extra[i].name) + strlen(extra[i].value) + 4;
	need += 64; /* Connection header and slack */
	struct wreq *wr = malloc(sizeof(*wr) + need);
	if (!wr)
		return NULL;
	char *d = wr->data;
	size_t o = (size_t)snprintf(d, need, "HTTP/1.1 %03d ", status);
	o = put(d, o, reason, strlen(reason));
	o = PUTS(d, o, "\r\n");
	if (!no_body) {
		o = PUTS(d, o, "Content-Type: ");
		o = put(d, o, ctype, strlen(ctype));
		o += (size_t)snprintf(d + o, need - o, "\r\nContent-Length: %zu\r\n", blen);
	}
	for (size_t i = 0; i < nextra; i++) {
		if (!header_safe(extra[i].name) || !header_safe(extra[i].value)) {
			CG_LOG_WARN("dropping response header with a line break");
			continue;
		}
		o = put(d, o, extra[i].name, strlen(extra[i].name));
		o = PUTS(d, o, ": ");
		o = put(d, o, extra[i].value, strlen(extra[i].value));
		o = PUTS(d, o, "\r\n");
	}
	if (last)
		o = PUTS(d, o, "Connection: close\r\n");
	else if (ka10)
		o = PUTS(d, o, "Connection: keep-alive\r\n");
	o = PUTS(d, o, "\r\n");
	if (blen)
		o = put(d, o, body, blen);
	wr->len = o;
	return wr;
}

/* Server-generated error: JSON body, then close (the parser state is unusable). */
static void cg_http_conn_send_error(struct cg_http_conn *c, int status, const char *msg)
{
	size_t blen = 0;
	char *body = cg_http_json_error(msg, &blen);
	struct wreq *wr = body ? build_response(status, "application/json", body, blen, NULL, 0, 1, 0) : NULL;
	free(body);
	if (c->reading) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = 0;
	}
	c->close_after = 1;
	c->pend_len = 0;
	conn_timer(c, 0);
	if (!wr) {
		cg_http_conn_close(c);
		return;
	}
	if (conn_write(c, wr) < 0)
		return;
}

static void on_shutdown(uv_shutdown_t *s, int status)
{
	struct cg_http_conn *c = s->data;
	if (c->closing)
		return;
	if (status < 0 || c->peer_eof) {
		cg_http_conn_close(c);
		return;
	}
	/* Lingering close: reading until the peer's EOF keeps unread input from turning our
	 * close into a RST that could destroy the answer before the client read it. */
	conn_set_phase(c, CG_HTTP_PH_LINGER);
	conn_read_start(c);
}

/* 1 while this connection's next pipelined request must wait for its answers to be taken. */
static int conn_wq_full(struct cg_http_conn *c)
{
	const struct cg_http_limits *l = &c->srv->lim;
	if (c->out_bytes >= l->max_output_conn)
		return 1;
	/* Past the total, only connections with nothing queued go on: those that read. */
	return c->out_bytes > 0 && c->srv->out_total >= l->max_output_total;
}

/* Reads while there is room for input and the client takes its answers; stops otherwise
 * (TCP backpressure). Not for closing or lingering connections. */
static void conn_pace(struct cg_http_conn *c)
{
	if (c->closing || c->close_after)
		return;
	if (c->pend_len < PEND_MAX && !conn_wq_full(c)) {
		conn_read_start(c);
	} else if (c->reading) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = 0;
	}
}

static void conn_after_write(struct cg_http_conn *c)
{
	/* Resume pipelined requests (and reading) held back by queued output. */
	if (!c->req_active && !c->close_after && !c->closing && c->pend_len > 0 && !conn_wq_full(c))
		conn_drain(c);
	conn_pace(c);
	if (c->writes_pending > 0 || c->req_active || c->closing || c->shutting)
		return;
	if (c->close_after || (c->srv && c->srv->closing)) {
		c->shutting = 1;
		if (c->tls) {
			/* close_notify is queued ahead of the FIN (uv_shutdown waits for pending writes). */
			cg_tls_close_notify(c->tls);
			if (tls_flush(c) < 0)
				return;
		}
		c->shutdown.data = c;
		if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_shutdown) < 0)
			cg_http_conn_close(c);
		return;
	}
	if (c->peer_eof)
		cg_http_conn_close(c);
}

/* ---------------------------------------------------------------- parsing */

static struct cg_http_parse *php(llhttp_t *p)
{
	return p->data;
}

static int refuse(struct cg_http_parse *h, int status, const char *msg)
{
	h->err_status = status;
	h->err_msg = msg;
	return -1;
}

/* Counts head bytes up to at+len; the whole head (request line + headers) is bounded. */
static int head_check(struct cg_http_parse *h, const char *at, size_t len)
{
	if (!h->head_base)
		h->head_base = at;
	size_t n = h->head_prev + (size_t)(at + len - h->head_base);
	if (n > h->lim->max_header_bytes)
		return refuse(h, 431, "request header too large");
	return 0;
}

static int head_append(struct cg_http_parse *h, const char *at, size_t len)
{
	if (!h->tok_open) {
		h->tok_start = h->hlen;
		h->tok_open = 1;
	}
	if (cg_http_grow(&h->hbuf, &h->hcap, h->hlen + len + 1, 512) < 0)
		return refuse(h, 500, "out of memory");
	memcpy(h->hbuf + h->hlen, at, len);
	h->hlen += len;
	return 0;
}

/* Ends the current token with a NUL; returns its offset. */
static int head_token_end(struct cg_http_parse *h, size_t *off)
{
	if (!h->tok_open) {
		h->tok_start = h->hlen;
	}
	if (cg_http_grow(&h->hbuf, &h->hcap, h->hlen + 1, 512) < 0)
		return refuse(h, 500, "out of memory");
	h->hbuf[h->hlen++] = '\0';
	h->tok_open = 0;
	*off = h->tok_start;
	return 0;
}

static int on_message_begin(llhttp_t *p)
{
	struct cg_http_parse *h = php(p);
	h->hlen = 0;
	h->nhdr = 0;
	h->blen = 0;
	h->tok_open = 0;
	h->url_done = 0;
	h->in_head = 1;
	h->head_prev = 0;
	h->head_base = NULL;
	h->err_status = 0;
	h->events |= CG_HTTP_PARSE_BEGAN;
	/* Release what one large request grew, so idle connections stay small. */
	if (h->bcap > BBUF_KEEP) {
		free(h->bbuf);
		h->bbuf = NULL;
		h->bcap = 0;
	}
	if (h->hcap > HBUF_KEEP) {
		free(h->hbuf);
		h->hbuf = NULL;
		h->hcap = 0;
	}
	return 0;
}

/* The URL, a header name or a header value (trailers are ignored: the request already points
 * into hbuf). */
static int on_head_bytes(llhttp_t *p, const char *at, size_t len)
{
	struct cg_http_parse *h = php(p);
	if (!h->in_head)
		return 0;
	if (head_check(h, at, len) < 0)
		return -1;
	return head_append(h, at, len);
}

static int on_url_complete(llhttp_t *p)
{
	struct cg_http_parse *h = php(p);
	h->url_done = 1;
	return head_token_end(h, &h->url_off);
}

static int on_header_field_complete(llhttp_t *p)
{
	struct cg_http_parse *h = php(p);
	if (!h->in_head)
		return 0; /* trailers: ignored (the request already points into hbuf) */
	size_t off;
	if (h->nhdr >= h->lim->max_headers)
		return refuse(h, 431, "too many request headers");
	if (h->nhdr * 2 + 2 > h->hoff_cap) {
		size_t ncap = h->hoff_cap ? h->hoff_cap * 2 : 32;
		size_t *n = realloc(h->hoff, ncap * sizeof(*n));
		if (!n)
			return refuse(h, 500, "out of memory");
		h->hoff = n;
		h->hoff_cap = ncap;
	}
	if (head_token_end(h, &off) < 0)
		return -1;
	h->hoff[h->nhdr * 2] = off;
	h->hoff[h->nhdr * 2 + 1] = SIZE_MAX;
	h->nhdr++;
	return 0;
}

static int on_header_value_complete(llhttp_t *p)
{
	struct cg_http_parse *h = php(p);
	if (!h->in_head)
		return 0; /* trailers: ignored (the request already points into hbuf) */
	size_t off;
	if (head_token_end(h, &off) < 0)
		return -1;
	if (h->nhdr > 0)
		h->hoff[h->nhdr * 2 - 1] = off;
	return 0;
}

/* The first header that may appear once only and appears twice, or NULL. */
static const char *duplicate_singleton(const struct cg_http_header *hd, size_t n)
{
	static const char *const once[] = {"Authorization", "Proxy-Authorization", "Host", "Content-Type",
					   "Content-Encoding", "Expect", NULL};
	for (size_t k = 0; once[k]; k++) {
		int seen = 0;
		for (size_t i = 0; i < n; i++)
			if (cg_http_casecmp(hd[i].name, once[k]) == 0 && seen++)
				return once[k];
	}
	return NULL;
}

/* A GET or HEAD of a reserved path (a health check): what a reserved slot may serve. */
static int reserved_request(const struct cg_http_limits *l, const struct cg_http_request *r)
{
	if (!l->reserved_paths || (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0))
		return 0;
	for (size_t i = 0; l->reserved_paths[i]; i++)
		if (strcmp(r->path, l->reserved_paths[i]) == 0)
			return 1;
	return 0;
}

static int on_headers_complete(llhttp_t *p)
{
	struct cg_http_parse *h = php(p);
	const struct cg_http_limits *l = h->lim;
	h->in_head = 0;
	if (!h->url_done)
		return refuse(h, 400, "missing request target");

	if (h->nhdr > h->hdrs_cap) {
		struct cg_http_header *hd = realloc(h->hdrs, h->nhdr * sizeof(*hd));
		if (!hd)
			return refuse(h, 500, "out of memory");
		h->hdrs = hd;
		h->hdrs_cap = h->nhdr;
	}
	for (size_t i = 0; i < h->nhdr; i++) {
		h->hdrs[i].name = h->hbuf + h->hoff[2 * i];
		h->hdrs[i].value = h->hoff[2 * i + 1] == SIZE_MAX ? empty_str : h->hbuf + h->hoff[2 * i + 1];
	}
	const char *dup = duplicate_singleton(h->hdrs, h->nhdr);
	if (dup) {
		/* Which one counts would depend on who reads it (a proxy, us): refuse instead. */
		snprintf(h->err_buf, sizeof(h->err_buf), "duplicate %s header", dup);
		return refuse(h, 400, h->err_buf);
	}
	struct cg_http_request *r = h->req;
	r->method = llhttp_method_name((llhttp_method_t)llhttp_get_method(p));
	char *url = h->hbuf + h->url_off;
	char *q = strchr(url, '?');
	if (q) {
		*q = '\0';
		r->query = q + 1;
	} else {
		r->query = empty_str;
	}
	r->path = url;
	r->headers = h->hdrs;
	r->nheaders = h->nhdr;
	r->body = empty_str;
	r->body_len = 0;
	h->http10 = llhttp_get_http_major(p) == 1 && llhttp_get_http_minor(p) == 0;
	if (h->reserve_only && !reserved_request(l, r))
		return refuse(h, 503, "too many connections");

	int has_body = (p->flags & F_CHUNKED) || ((p->flags & F_CONTENT_LENGTH) && p->content_length > 0);
	if ((p->flags & F_CONTENT_LENGTH) && p->content_length > l->max_body)
		return refuse(h, 413, "request body too large");
	if ((p->flags & F_CONTENT_LENGTH) && p->content_length > 0) {
		/* Exact size known (and bounded above): one allocation, no regrowth. */
		if (cg_http_grow(&h->bbuf, &h->bcap, (size_t)p->content_length + 1, 256) < 0)
			return refuse(h, 500, "out of memory");
	}
	if (has_body) {
		const char *expect = cg_http_header_get(r, "Expect");
		h->events |= CG_HTTP_PARSE_BODY;
		/* The connection decides whether to invite the body (credentials first). */
		if (expect && cg_http_casecmp(expect, "100-continue") == 0 && !h->http10)
			h->events |= CG_HTTP_PARSE_CONTINUE;
	}
	return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
	struct cg_http_parse *h = php(p);
	if (len > h->lim->max_body - h->blen)
		return refuse(h, 413, "request body too large");
	if (cg_http_grow(&h->bbuf, &h->bcap, h->blen + len + 1, 256) < 0)
		return refuse(h, 500, "out of memory");
	memcpy(h->bbuf + h->blen, at, len);
	h->blen += len;
	return 0;
}

static int on_message_complete(llhttp_t *p)
{
	struct cg_http_parse *h = php(p);
	if (h->blen > 0) {
		h->bbuf[h->blen] = '\0';
		h->req->body = h->bbuf;
		h->req->body_len = h->blen;
	}
	h->keep_alive = llhttp_should_keep_alive(p) ? 1 : 0;
	h->upgrade = p->upgrade ? 1 : 0;
	h->hscan = HS_START; /* the next bytes start the next request */
	h->paused = 1;
	/* Stop here: the next pipelined request is parsed only after this one is answered. */
	return HPE_PAUSED;
}

static const llhttp_settings_t parser_settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_head_bytes,
	.on_header_field = on_head_bytes,
	.on_header_value = on_head_bytes,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
	.on_url_complete = on_url_complete,
	.on_header_field_complete = on_header_field_complete,
	.on_header_value_complete = on_header_value_complete,
};

/* Ready to parse a connection's bytes into req within lim (both kept by pointer). */
static void cg_http_parse_init(struct cg_http_parse *h, struct cg_http_request *req, const struct cg_http_limits *lim)
{
	llhttp_init(&h->llh, HTTP_REQUEST, &parser_settings);
	h->llh.data = h;
	h->req = req;
	h->lim = lim;
	h->keep_alive = 1;
}

static void cg_http_parse_cleanup(struct cg_http_parse *h)
{
	free(h->hbuf);
	free(h->hoff);
	free(h->hdrs);
	free(h->bbuf);
}

/* After the answer to a complete message: the next pipelined one may be parsed. */
static void cg_http_parse_resume(struct cg_http_parse *h)
{
	if (h->paused) {
		h->paused = 0;
		llhttp_resume(&h->llh);
	}
}

/*
 * Scans the head bytes in data for obs-fold (a header line starting with a space or tab,
 * RFC 9112 5.2): llhttp joins such a line to the previous value, others read it as its own
 * line or drop it, which lets a client smuggle a header past a proxy. 1 when found.
 */
static int head_scan(struct cg_http_parse *h, const char *data, size_t len)
{
	enum hscan st = (enum hscan)h->hscan;
	for (size_t i = 0; i < len && st != HS_DONE; i++) {
		char ch = data[i];
		switch (st) {
		case HS_START:
			if (ch != '\r' && ch != '\n')
				st = HS_MID;
			break;
		case HS_MID:
			if (ch == '\n')
				st = HS_LINESTART;
			break;
		case HS_LINESTART:
			if (ch == ' ' || ch == '\t')
				return 1;
			st = ch == '\r' ? HS_CR : ch == '\n' ? HS_DONE : HS_MID;
			break;
		case HS_CR:
			st = ch == '\n' ? HS_DONE : HS_MID;
			break;
		case HS_DONE:
			break;
		}
	}
	h->hscan = st;
	return 0;
}

/*
 * Runs the parser over data; *used = bytes consumed. CG_HTTP_PARSE_MSG: a whole request is in req (the
 * parser is paused until cg_http_parse_resume). CG_HTTP_PARSE_ERR: the request is refused with err_status and
 * err_msg (the parser state is unusable: answer and close).
 */
static enum cg_http_parse_result cg_http_parse_feed(struct cg_http_parse *h, const char *data, size_t len, size_t *used)
{
	if (head_scan(h, data, len)) {
		*used = len;
		refuse(h, 400, "malformed request: obs-folded header line (starts with a space or tab)");
		return CG_HTTP_PARSE_ERR;
	}
	if (h->in_head)
		h->head_base = data;
	llhttp_errno_t e = llhttp_execute(&h->llh, data, len);
	if (e == HPE_OK) {
		*used = len;
		if (h->in_head && h->head_base) {
			h->head_prev += (size_t)(data + len - h->head_base);
			h->head_base = NULL;
			if (h->head_prev > h->lim->max_header_bytes) {
				refuse(h, 431, "request header too large");
				return CG_HTTP_PARSE_ERR;
			}
		}
		return CG_HTTP_PARSE_MORE;
	}
	if (e == HPE_PAUSED || (e == HPE_PAUSED_UPGRADE && h->paused)) {
		const char *pos = llhttp_get_error_pos(&h->llh);
		*used = pos ? (size_t)(pos - data) : len;
		return CG_HTTP_PARSE_MSG;
	}
	*used = len;
	if (!h->err_status) {
		const char *why = llhttp_get_error_reason(&h->llh);
		snprintf(h->err_buf, sizeof(h->err_buf), "malformed request: %s", why ? why : llhttp_errno_name(e));
		refuse(h, 400, h->err_buf);
	}
	return CG_HTTP_PARSE_ERR;
}

/* ---------------------------------------------------------------- connection input */

static void send_continue(struct cg_http_conn *c)
{
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
	struct wreq *wr = malloc(sizeof(*wr) + sizeof(cont));
	if (!wr)
		return; /* the client sends the body after its own timeout anyway */
	memcpy(wr->data, cont, sizeof(cont) - 1);
	wr->len = sizeof(cont) - 1;
	conn_write(c, wr);
}

enum feed_result { FEED_MORE, FEED_MSG, FEED_ERR };

/* Parses data and does what the parser reports: timers per phase, a 100 Continue once the head
 * passed the server's checks, the error answer. *used = bytes consumed. */
static enum feed_result conn_feed(struct cg_http_conn *c, const char *data, size_t len, size_t *used)
{
	enum cg_http_parse_result r = cg_http_parse_feed(&c->hp, data, len, used);
	unsigned ev = c->hp.events;
	c->hp.events = 0;
	if (ev & CG_HTTP_PARSE_BEGAN) {
		c->msg_started = 1;
		memcpy(c->req.remote_addr, c->peer, sizeof(c->peer)); /* the handler may have rewritten it */
	}
	/* 100 only once the head passed the server's checks (credentials): an unauthenticated
	 * client is not invited to send its body. */
	if ((ev & CG_HTTP_PARSE_CONTINUE) && (!c->srv->continue_fn || c->srv->continue_fn(&c->req, c->srv->ud)))
		send_continue(c);
	if (r == CG_HTTP_PARSE_MSG)
		conn_set_phase(c, CG_HTTP_PH_WAIT);
	else if (ev & CG_HTTP_PARSE_BODY)
		conn_set_phase(c, CG_HTTP_PH_BODY);
	else if ((ev & CG_HTTP_PARSE_BEGAN) && c->phase != CG_HTTP_PH_HEAD)
		conn_set_phase(c, CG_HTTP_PH_HEAD); /* a fresh connection keeps the timer armed at accept (slowloris) */
	if (r == CG_HTTP_PARSE_ERR) {
		cg_http_conn_send_error(c, c->hp.err_status, c->hp.err_msg);
		return FEED_ERR;
	}
	return r == CG_HTTP_PARSE_MSG ? FEED_MSG : FEED_MORE;
}

/* Hands the parsed request to the handler; called with in_process set. */
static void conn_dispatch(struct cg_http_conn *c)
{
	c->req_active = 1;
	c->req.conn = c;
	c->srv->handler(&c->req, c->srv->ud);
}

static int pend_append(struct cg_http_conn *c, const char *data, size_t len)
{
	if (len == 0)
		return 0;
	if (cg_http_grow(&c->pend, &c->pend_cap, c->pend_len + len, 1024) < 0)
		return CG_ENOMEM;
	memcpy(c->pend + c->pend_len, data, len);
	c->pend_len += len;
	return 0;
}

/* Parses buffered pipelined bytes while no request is in flight. */
static void conn_drain(struct cg_http_conn *c)
{
	if (c->in_process)
		return;
	c->in_process = 1;
	while (!c->closing && !c->req_active && !c->close_after && c->pend_len > 0 && !conn_wq_full(c)) {
		size_t used = 0;
		enum feed_result r = conn_feed(c, c->pend, c->pend_len, &used);
		if (r == FEED_ERR)
			break;
		memmove(c->pend, c->pend + used, c->pend_len - used);
		c->pend_len -= used;
		if (r == FEED_MSG)
			conn_dispatch(c);
	}
	c->in_process = 0;
	if (c->pend_len == 0 && c->pend_cap > PEND_MAX) {
		free(c->pend);
		c->pend = NULL;
		c->pend_cap = 0;
	}
	if (!c->closing && !c->req_active && !c->close_after && c->peer_eof && c->writes_pending == 0 &&
	    c->pend_len == 0) {
		cg_http_conn_close(c);
		return;
	}
	conn_pace(c);
}

static void conn_input(struct cg_http_conn *c, const char *data, size_t len)
{
	if (c->req_active || c->pend_len > 0 || c->in_process) {
		if (pend_append(c, data, len) < 0) {
			cg_http_conn_close(c);
			return;
		}
		conn_drain(c); /* also stops reading past PEND_MAX: backpressure until answered */
		return;
	}
	/* Common case: parse straight from the read buffer, no copy of the raw bytes. */
	size_t used = 0;
	c->in_process = 1;
	enum feed_result r = conn_feed(c, data, len, &used);
	if (r == FEED_MSG) {
		if (pend_append(c, data + used, len - used) < 0) {
			c->in_process = 0;
			cg_http_conn_close(c);
			return;
		}
		conn_dispatch(c);
	}
	c->in_process = 0;
	conn_drain(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct cg_http_conn *c = h->data;
	buf->base = c->srv->rbuf;
	buf->len = sizeof(c->srv->rbuf);
}

static void conn_peer_eof(struct cg_http_conn *c)
{
	c->peer_eof = 1;
	if (c->reading)
		uv_read_stop((uv_stream_t *)&c->tcp);
	c->reading = 0;
	/* Half-closed client: answer what it sent, then close. */
	if (!c->req_active && c->pend_len == 0 && c->writes_pending == 0)
		cg_http_conn_close(c);
}

/* Ciphertext in: decrypts whatever is complete and parses it like plain input. */
static void tls_input(struct cg_http_conn *c, const char *data, size_t len)
{
	char plain[16384];
	if (cg_tls_feed(c->tls, data, len) < 0) {
		cg_http_conn_close(c);
		return;
	}
	while (!c->closing && !c->peer_eof) {
		int n = cg_tls_read(c->tls, plain, sizeof(plain));
		if (n > 0) {
			conn_input(c, plain, (size_t)n);
			continue;
		}
		if (n == 0)
			break;
		if (n == CG_ECLOSED) {
			tls_flush(c);
			if (!c->closing)
				conn_peer_eof(c);
			return;
		}
		CG_LOG_DEBUG("TLS failure from %s", c->peer);
		tls_flush(c); /* the alert */
		if (!c->closing) {
			c->close_after = 1;
			c->pend_len = 0;
			if (c->writes_pending == 0)
				cg_http_conn_close(c);
		}
		return;
	}
	tls_flush(c);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct cg_http_conn *c = s->data;
	if (nread == 0 || c->closing)
		return;
	if (nread < 0) {
		if (nread != UV_EOF || c->phase == CG_HTTP_PH_LINGER) {
			cg_http_conn_close(c);
			return;
		}
		conn_peer_eof(c);
		return;
	}
	if (c->phase == CG_HTTP_PH_LINGER)
		return;
	if (c->first_byte) {
		/* The first byte came in time: the head (or handshake) now has what is left of the
		 * header timeout since the connection was accepted (no restart: slowloris). */
		c->first_byte = 0;
		const struct cg_http_limits *l = &c->srv->lim;
		uint64_t spent = uv_now(c->srv->loop) - c->accepted_ms;
		if (c->phase == CG_HTTP_PH_HEAD && !c->reserve && l->first_byte_timeout_ms &&
		    l->first_byte_timeout_ms < l->header_timeout_ms)
			conn_timer(c, spent < l->header_timeout_ms ? (unsigned)(l->header_timeout_ms - spent) : 1);
	}
	if (c->tls)
		tls_input(c, buf->base, (size_t)nread);
	else
		conn_input(c, buf->base, (size_t)nread);
}

static void conn_read_start(struct cg_http_conn *c)
{
	if (c->reading || c->closing || c->peer_eof)
		return;
	if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0) {
		cg_http_conn_close(c);
		return;
	}
	c->reading = 1;
}

static void on_timer(uv_timer_t *t)
{
	struct cg_http_conn *c = t->data;
	switch (c->phase) {
	case CG_HTTP_PH_HEAD:
		if (c->msg_started) {
			CG_LOG_DEBUG("header timeout from %s", c->req.remote_addr);
			cg_http_conn_send_error(c, 408, "request header timeout");
		} else if (c->reserve) {
			cg_http_conn_send_error(c, 503, "too many connections");
		} else {
			cg_http_conn_close(c); /* nothing sent (first byte timeout): nothing to answer */
		}
		break;
	case CG_HTTP_PH_BODY:
		CG_LOG_DEBUG("body timeout from %s", c->req.remote_addr);
		cg_http_conn_send_error(c, 408, "request body timeout");
		break;
	case CG_HTTP_PH_WAIT:
		break;
	case CG_HTTP_PH_IDLE:
	case CG_HTTP_PH_LINGER:
		cg_http_conn_close(c);
		break;
	}
}

/* A new connection (admitted) must send its head, and TLS handshake, in time. */
static void cg_http_conn_begin(struct cg_http_conn *c)
{
	conn_set_phase(c, CG_HTTP_PH_HEAD);
	conn_read_start(c);
}

/* The server closes: idle and half-read connections go now; busy ones close after their answer
 * is written, lingering ones on EOF or their short timer. */
static void cg_http_conn_close_idle(struct cg_http_conn *c)
{
	if (c->req_active || c->writes_pending > 0 || c->shutting || c->phase == CG_HTTP_PH_LINGER)
		return;
	cg_http_conn_close(c);
}

/* ---------------------------------------------------------------- answers */

static void req_release(struct cg_http_conn *c)
{
	c->req_active = 0;
	if (c->closing && c->handles_open == 0)
		conn_free(c); /* orphan: handles already closed */
}

int cg_http_respond(struct cg_http_request *req, int status, const char *content_type, const char *body,
		    size_t body_len, const struct cg_http_header *extra, size_t nextra)
{
	struct cg_http_conn *c = req->conn;
	assert(c && c->req_active && req == &c->req);
	if (c->closing) {
		req_release(c); /* client went away: the answer is discarded */
		return 0;
	}
	int last = !c->hp.keep_alive || c->hp.upgrade || c->peer_eof || c->srv->closing || c->reserve;
	struct wreq *wr = build_response(status, content_type ? content_type : "application/json", body,
					 body ? body_len : 0, extra, nextra, last, c->hp.http10 && !last);
	if (!wr) {
		/* Cannot answer: closing tells the client the outcome is unknown. */
		cg_http_conn_close(c);
		req_release(c);
		return CG_ENOMEM;
	}
	c->req_active = 0;
	c->msg_started = 0;
	if (conn_write(c, wr) < 0)
		return 0; /* conn closing; memory freed by the close callbacks */
	if (last) {
		c->close_after = 1;
		c->pend_len = 0;
		if (c->reading) {
			uv_read_stop((uv_stream_t *)&c->tcp);
			c->reading = 0;
		}
		return 0;
	}
	cg_http_parse_resume(&c->hp);
	conn_set_phase(c, CG_HTTP_PH_IDLE);
	/* Keeps reading while the next request is in flight too (it notices disconnects), as long
	 * as the client takes its answers. */
	conn_drain(c);
	return 0;
}

int cg_http_respond_error(struct cg_http_request *req, int status, const char *msg)
{
	size_t len = 0;
	char *body = cg_http_json_error(msg ? msg : cg_http_reason(status), &len);
	if (!body) {
		cg_http_drop(req);
		return CG_ENOMEM;
	}
	int r = cg_http_respond(req, status, "application/json", body, len, NULL, 0);
	free(body);
	return r;
}

void cg_http_drop(struct cg_http_request *req)
{
	struct cg_http_conn *c = req->conn;
	assert(c && c->req_active && req == &c->req);
	cg_http_conn_close(c);
	req_release(c);
}

/* ---------------------------------------------------------------- server */

static void peer_name(struct cg_http_conn *c)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	c->req.remote_addr[0] = '\0';
	c->peer[0] = '\0';
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) < 0)
		return;
	if (ss.ss_family == AF_INET)
		uv_ip4_name((struct sockaddr_in *)&ss, c->peer, sizeof(c->peer));
	else if (ss.ss_family == AF_INET6)
		uv_ip6_name((struct sockaddr_in6 *)&ss, c->peer, sizeof(c->peer));
	memcpy(c->req.remote_addr, c->peer, sizeof(c->peer));
}

static void free_on_close(uv_handle_t *h)
{
	free(h);
}

/* Refusals come in floods: one warning per second says how many. */
__attribute__((format(printf, 2, 3))) static void refused_log(struct cg_http_server *srv, const char *fmt, ...)
{
	uint64_t now = uv_now(srv->loop);
	srv->refused++;
	if (srv->refused_log_ms && now - srv->refused_log_ms < 1000)
		return;
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (srv->refused > 1)
		CG_LOG_WARN("%s (%zu refused since the last such warning)", line, srv->refused);
	else
		CG_LOG_WARN("%s", line);
	srv->refused = 0;
	srv->refused_log_ms = now;
}

/* Sets up c (calloc'd, tcp initialised and connected) as a live connection of srv. */
static void conn_start(struct cg_http_server *srv, struct cg_http_conn *c)
{
	c->srv = srv;
	c->tcp.data = c;
	c->timer.data = c;
	uv_timer_init(srv->loop, &c->timer);
	c->handles_open = 2;
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	srv->nconns++;
	cg_http_parse_init(&c->hp, &c->req, &srv->lim);
	peer_name(c);
	uv_tcp_nodelay(&c->tcp, 1);

	c->first_byte = 1;
	c->accepted_ms = uv_now(srv->loop);
	if (srv->nconns >= CG_HTTP_TRIM_CONNS)
		srv->trim_armed = 1;
	int sndbuf = SEND_BUFFER;
	uv_send_buffer_size((uv_handle_t *)&c->tcp, &sndbuf);

	if (srv->tls && !(c->tls = cg_tls_new(srv->tls))) {
		cg_http_conn_close(c);
		return;
	}
	if (srv->lim.max_per_addr && c->peer[0] && !cg_cidr_match(srv->exempt, srv->nexempt, c->peer)) {
		unsigned same = 0;
		for (struct cg_http_conn *o = srv->conns; o; o = o->next)
			if (!o->closing && !o->close_after && strcmp(o->peer, c->peer) == 0)
				same++; /* c itself included */
		if (same > srv->lim.max_per_addr) {
			refused_log(srv, "per-address connection limit (%u) reached: refusing %s", srv->lim.max_per_addr,
				    c->peer);
			cg_http_conn_send_error(c, 503, "too many connections from this address");
			return;
		}
	}
	if (srv->nconns - srv->nreserve > srv->lim.max_connections) {
		if (srv->lim.reserved && srv->lim.reserved_paths && srv->nreserve < srv->lim.reserved) {
			/* Past the limit, but a health check must still get through: one request, short
			 * timer, health paths only. */
			c->reserve = 1;
			c->hp.reserve_only = 1;
			srv->nreserve++;
		} else {
			refused_log(srv, "connection limit (%u) reached: refusing %s", srv->lim.max_connections, c->peer);
			cg_http_conn_send_error(c, 503, "too many connections");
			return;
		}
	}
	cg_http_conn_begin(c);
}

static void on_connection(uv_stream_t *ls, int status)
{
	struct cg_http_server *srv = ls->data;
	if (status < 0) {
		CG_LOG_WARN("accept: %s", uv_strerror(status));
		return;
	}
	struct cg_http_conn *c = calloc(1, sizeof(*c));
	if (!c) {
		/* Accept into a throwaway handle so the pending connection does not spin the loop. */
		uv_tcp_t *t = malloc(sizeof(*t));
		if (t && uv_tcp_init(srv->loop, t) == 0) {
			if (uv_accept(ls, (uv_stream_t *)t) < 0) { /* nothing to do */
			}
			uv_close((uv_handle_t *)t, free_on_close);
		} else {
			free(t);
		}
		return;
	}
	uv_tcp_init(srv->loop, &c->tcp);
	if (uv_accept(ls, (uv_stream_t *)&c->tcp) < 0) {
		uv_close((uv_handle_t *)&c->tcp, free_on_close); /* tcp is c's first member */
		return;
	}
	conn_start(srv, c);
}

static void listener_closed(uv_handle_t *h)
{
	struct cg_http_server *srv = h->data;
	srv->listener_closed = 1;
	cg_http_server_maybe_done(srv);
}

static int resolve(const char *host, int port, struct sockaddr_storage *ss)
{
	if (!host || !*host || strcmp(host, "localhost") == 0)
		host = "127.0.0.1";
	if (uv_ip4_addr(host, port, (struct sockaddr_in *)ss) == 0)
		return 0;
	if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss) == 0)
		return 0;
	return CG_EINVAL;
}

static void srv_free_on_close(uv_handle_t *h)
{
	free(h->data);
}

/* Every SWEEP_MS: closes connections whose answers are not being taken, and returns memory to
 * the system once a peak of queued output or connections has passed. */
static void on_sweep(uv_timer_t *t)
{
	struct cg_http_server *srv = t->data;
	uint64_t now = uv_now(srv->loop);
	unsigned wt = srv->lim.write_timeout_ms;
	for (struct cg_http_conn *c = srv->conns; c && wt; c = c->next) {
		if (c->closing)
			continue;
		/* A large answer to a slow client completes late but moves: that is progress too. */
		size_t wq = uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
		if (wq < c->last_wq)
			c->write_progress_ms = now;
		c->last_wq = wq;
		if (c->out_bytes == 0 || now - c->write_progress_ms < wt)
			continue;
		CG_LOG_INFO("closing the connection from %s: its answers were not taken for %u ms (%zu bytes queued)",
			    c->peer, wt, c->out_bytes);
		cg_http_conn_close(c); /* deferred: the list stays intact */
	}
	/* Once the flood is over (not while it lasts: trimming then would only be undone). */
	if (srv->trim_armed && srv->out_total <= CG_HTTP_TRIM_OUT_BYTES / 8 && srv->nconns <= CG_HTTP_TRIM_CONNS / 4) {
#ifdef __GLIBC__
		malloc_trim(0);
#endif
		CG_LOG_DEBUG("a peak of queued output or connections passed: free memory returned to the system");
		srv->trim_armed = 0;
	}
}

static void sweep_closed(uv_handle_t *h)
{
	struct cg_http_server *srv = h->data;
	srv->sweep_open = 0;
	cg_http_server_maybe_done(srv);
}

int cg_http_server_create(uv_loop_t *loop, const char *host, int port, const struct cg_http_limits *limits,
			  cg_http_handler_fn handler, void *ud, struct cg_http_server **out, char *err,
			  size_t errlen)
{
	struct sockaddr_storage ss;
	char dummy[1];
	if (!err || errlen == 0) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	/* libuv writes with writev(): a write to a reset peer raises SIGPIPE, which would kill the
	 * process. Ignore it unless the program chose its own disposition. */
	struct sigaction sa;
	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_IGN;
		sigaction(SIGPIPE, &sa, NULL);
	}
	if (!loop || !handler || !out || port < 0 || port > 65535) {
		snprintf(err, errlen, "invalid arguments");
		return CG_EINVAL;
	}
	memset(&ss, 0, sizeof(ss));
	if (resolve(host, port, &ss) < 0) {
		snprintf(err, errlen, "invalid listen address '%s' (want an IPv4 or IPv6 literal)", host);
		return CG_EINVAL;
	}
	struct cg_http_server *srv = calloc(1, sizeof(*srv));
	if (!srv) {
		snprintf(err, errlen, "out of memory");
		return CG_ENOMEM;
	}
	srv->loop = loop;
	if (limits)
		srv->lim = *limits;
	else
		cg_http_limits_default(&srv->lim);
	srv->handler = handler;
	srv->ud = ud;
	int r = uv_tcp_init(loop, &srv->listener);
	if (r < 0) {
		snprintf(err, errlen, "tcp init: %s", uv_strerror(r));
		free(srv);
		return CG_EIO;
	}
	srv->listener.data = srv;
	r = uv_tcp_bind(&srv->listener, (const struct sockaddr *)&ss, 0);
	if (r == 0)
		r = uv_listen((uv_stream_t *)&srv->listener, 511, on_connection);
	if (r < 0) {
		snprintf(err, errlen, "listen on %s:%d: %s", host ? host : "127.0.0.1", port, uv_strerror(r));
		/* The handle is freed by its close callback (on the caller's next loop run). */
		uv_close((uv_handle_t *)&srv->listener, srv_free_on_close);
		return CG_EIO;
	}
	struct sockaddr_storage bound;
	int blen = sizeof(bound);
	if (uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&bound, &blen) == 0) {
		if (bound.ss_family == AF_INET)
			srv->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
		else if (bound.ss_family == AF_INET6)
			srv->port = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
	}
	uv_timer_init(loop, &srv->sweep);
	srv->sweep.data = srv;
	srv->sweep_open = 1;
	uv_timer_start(&srv->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
	*out = srv;
	return 0;
}

int cg_http_server_set_exempt(struct cg_http_server *srv, const struct cg_cidr *v, size_t n)
{
	struct cg_cidr *copy = NULL;
	if (n) {
		if (!(copy = malloc(n * sizeof(*copy))))
			return CG_ENOMEM;
		memcpy(copy, v, n * sizeof(*copy));
	}
	free(srv->exempt);
	srv->exempt = copy;
	srv->nexempt = n;
	return 0;
}

void cg_http_server_set_continue(struct cg_http_server *srv, cg_http_continue_fn fn)
{
	srv->continue_fn = fn;
}

size_t cg_http_server_output_bytes(const struct cg_http_server *srv)
{
	return srv->out_total;
}

void cg_http_server_use_tls(struct cg_http_server *srv, struct cg_tls_ctx *tls)
{
	srv->tls = tls;
}

int cg_http_server_port(const struct cg_http_server *srv)
{
	return srv->port;
}

size_t cg_http_server_connections(const struct cg_http_server *srv)
{
	return srv->nconns;
}

void cg_http_server_close(struct cg_http_server *srv, void (*on_closed)(void *ud), void *ud)
{
	if (!srv || srv->closing)
		return;
	srv->closing = 1;
	srv->on_closed = on_closed;
	srv->closed_ud = ud;
	uv_close((uv_handle_t *)&srv->listener, listener_closed);
	if (srv->sweep_open)
		uv_close((uv_handle_t *)&srv->sweep, sweep_closed);
	/* Idle and half-read connections go now; busy ones close after their answer is written;
	 * lingering ones close on EOF or their short timer. uv_close is deferred, so the list stays
	 * intact while we walk it. */
	for (struct cg_http_conn *c = srv->conns; c; c = c->next)
		cg_http_conn_close_idle(c);
}

/* ---------------------------------------------------------------- fuzz hook */

struct fuzz_state {
	struct cg_http_request *held;
	unsigned n;
};

static void fuzz_handler(struct cg_http_request *req, void *ud)
{
	struct fuzz_state *fs = ud;
	char v[32];
	/* Exercise every answer path: sync respond, later respond, drop. */
	(void)cg_http_header_get(req, "content-type");
	(void)cg_http_query_get(req, "a", v, sizeof(v));
	switch (fs->n++ % 4) {
	case 0:
		cg_http_respond(req, 200, "text/plain", req->body, req->body_len, NULL, 0);
		break;
	case 1:
		fs->held = req;
		break;
	case 2:
		cg_http_respond_error(req, 404, req->path);
		break;
	default:
		if (req->body_len % 3 == 1)
			cg_http_drop(req);
		else
			cg_http_respond(req, 204, NULL, NULL, 0, NULL, 0);
		break;
	}
}

static void fuzz_closed(void *ud)
{
	*(int *)ud = 1;
}

int cg_http_fuzz_feed(const uint8_t *data, size_t len)
{
	uv_loop_t loop;
	struct cg_http_server *srv = NULL;
	struct fuzz_state fs = {0};
	int sv[2] = {-1, -1};
	int closed = 0, rc = -1;
	struct cg_http_limits lim;
	cg_http_limits_default(&lim);
	lim.max_body = 256;
	lim.max_header_bytes = 512;
	lim.max_headers = 8;
	lim.header_timeout_ms = lim.body_timeout_ms = lim.idle_timeout_ms = 20;

	if (uv_loop_init(&loop) != 0)
		return -1;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		goto out;
	srv->loop = &loop;
	srv->lim = lim;
	srv->handler = fuzz_handler;
	srv->ud = &fs;
	uv_tcp_init(&loop, &srv->listener); /* never bound: closed like a real listener */
	srv->listener.data = srv;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		goto out;
	struct cg_http_conn *c = calloc(1, sizeof(*c));
	if (!c)
		goto out;
	uv_tcp_init(&loop, &c->tcp);
	if (uv_tcp_open(&c->tcp, sv[0]) < 0) {
		uv_close((uv_handle_t *)&c->tcp, free_on_close);
		goto out;
	}
	sv[0] = -1; /* owned by the handle now */
	conn_start(srv, c);

	/* First byte picks the write chunk size so tokens get split at varied places. */
	size_t chunk = len ? (size_t)(data[0] % 64) + 1 : 1;
	size_t off = len ? 1 : 0;
	int shut = 0;
	for (unsigned spins = 0; spins < 20000 && !closed; spins++) {
		char sink[4096];
		if (off < len) {
			size_t n = len - off < chunk ? len - off : chunk;
			ssize_t w = send(sv[1], data + off, n, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (w > 0)
				off += (size_t)w;
		}
		if (off == len && !shut) {
			shutdown(sv[1], SHUT_WR);
			shut = 1;
		}
		while (recv(sv[1], sink, sizeof(sink), MSG_DONTWAIT) > 0) {
		}
		if (fs.held) {
			struct cg_http_request *r = fs.held;
			fs.held = NULL;
			cg_http_respond(r, 201, "application/json", "{}", 2, NULL, 0);
		}
		uv_run(&loop, UV_RUN_NOWAIT);
		if (srv && srv->nconns == 0) {
			cg_http_server_close(srv, fuzz_closed, &closed);
			srv = NULL;
		}
		if (closed)
			break;
		/* Wait for either side instead of spinning: the loop's fd and our client end. */
		struct pollfd pfd[2] = {{.fd = uv_backend_fd(&loop), .events = POLLIN},
					{.fd = sv[1], .events = POLLIN | (off < len ? POLLOUT : 0)}};
		int t = uv_backend_timeout(&loop);
		poll(pfd, 2, t < 0 || t > 50 ? 50 : t);
	}
	rc = closed ? 0 : -1;
out:
	if (fs.held) /* an orphan (peer gone): this frees it */
		cg_http_respond(fs.held, 201, "application/json", "{}", 2, NULL, 0);
	if (srv) {
		cg_http_server_close(srv, fuzz_closed, &closed);
		uv_run(&loop, UV_RUN_DEFAULT);
	}
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	uv_run(&loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&loop) != 0)
		rc = -2;
	return rc;
}
