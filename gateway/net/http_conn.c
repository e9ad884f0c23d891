/* http_conn.c: one HTTP connection's life: reading, pipelining in order, answers and their
 * output caps, timers per phase, TLS records, lingering close. */
#define _POSIX_C_SOURCE 200809L

#include "http_conn.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "http_text.h"
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

#define PEND_MAX (16 * 1024)
#define LINGER_MS 1000u
/* A connection admitted to a reserved slot must ask for a health path within this. */
#define RESERVE_TIMEOUT_MS 1000u
/* What one queued write costs besides its data: the request, and malloc's own header. */
#define WREQ_COST(len) (sizeof(struct wreq) + (len) + 32)

struct wreq {
	uv_write_t w;
	struct cg_http_conn *c;
	size_t len;
	char data[];
};

static void conn_drain(struct cg_http_conn *c);
static void conn_after_write(struct cg_http_conn *c);
static void conn_read_start(struct cg_http_conn *c);

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

void cg_http_server_maybe_done(struct cg_http_server *srv)
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

void cg_http_conn_close(struct cg_http_conn *c)
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

void cg_http_conn_send_error(struct cg_http_conn *c, int status, const char *msg)
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
		int st = c->hp.err_status;
		const char *msg = c->hp.err_msg ? c->hp.err_msg : "bad request";
		char text[160];
		/* A limit the client met is named, so the sender's owner knows what to change. */
		if (st == 413)
			snprintf(text, sizeof(text), "%s: at most %zu bytes", msg,
				 (size_t)c->srv->lim.max_body);
		else if (st == 431 && strstr(msg, "too large"))
			snprintf(text, sizeof(text), "%s: at most %zu bytes", msg, (size_t)c->srv->lim.max_header_bytes);
		else
			snprintf(text, sizeof(text), "%s", msg);
		cg_http_conn_send_error(c, st, text);
		if (c->srv->refused_fn && st != 503) {
			struct cg_http_refusal rf = {.status = st, .msg = text, .peer = c->peer,
						     .size = c->hp.err_size, .declared = c->hp.err_declared};
			/* The request line, once read (a head refused mid-way may have it already). */
			if (c->hp.url_done && c->hp.hbuf) {
				rf.method = llhttp_method_name((llhttp_method_t)llhttp_get_method(&c->hp.llh));
				rf.path = c->hp.hbuf + c->hp.url_off;
			}
			c->srv->refused_fn(&rf, c->srv->ud);
		}
		return FEED_ERR;
	}
	return r == CG_HTTP_PARSE_MSG ? FEED_MSG : FEED_MORE;
}

/* Hands the parsed request to the handler; called with in_process set. */
static void conn_dispatch(struct cg_http_conn *c)
{
	c->req_active = 1;
	c->req.conn = c;
	c->req.reshape = NULL;
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

void cg_http_conn_begin(struct cg_http_conn *c)
{
	conn_set_phase(c, CG_HTTP_PH_HEAD);
	conn_read_start(c);
}

void cg_http_conn_close_idle(struct cg_http_conn *c)
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
	char *shaped = NULL;
	size_t shaped_len = 0;
	if (req->reshape) {
		req->reshape(req, &status, body, body ? body_len : 0, &shaped, &shaped_len);
		if (shaped) {
			body = shaped;
			body_len = shaped_len;
			content_type = "application/json";
		}
	}
	int last = !c->hp.keep_alive || c->hp.upgrade || c->peer_eof || c->srv->closing || c->reserve;
	struct wreq *wr = build_response(status, content_type ? content_type : "application/json", body,
					 body ? body_len : 0, extra, nextra, last, c->hp.http10 && !last);
	free(shaped);
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
