/* http_server.c: HTTP/1.1 server on libuv + llhttp (http.h): listening, admitting connections
 * (limits per address, reserved health-check slots), the sweep for stalled answers, closing;
 * the fuzz hook. A connection's life is http_conn.c, parsing http_parse.c. */
#define _POSIX_C_SOURCE 200809L

#include "http.h"

#include <signal.h>
#include <stdarg.h>
#ifdef __GLIBC__
#include <errno.h>
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cidr.h"
#include "err.h"
#include "fuzzpump.h"
#include "http_conn.h"
#include "tls.h"

#define CG_LOG_COMPONENT "http"
#include "log.h"

/* The sweep: write stalls are noticed within this. */
#define SWEEP_MS 1000u
/* The kernel's send buffer per connection: answers are small, and autotuning would let each
 * client that does not read park megabytes of them in kernel memory before our cap applies. */
#define SEND_BUFFER (64 * 1024)

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

int cg_http_listen_probe(const char *host, int port, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	if (port <= 0 || resolve(host, port, &ss) < 0)
		return 0; /* nothing to probe (an ephemeral port), or an address the real bind reports */
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)); /* as libuv binds */
	socklen_t len = ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	int rc = bind(fd, (const struct sockaddr *)&ss, len);
	int e = errno;
	close(fd);
	if (rc == 0)
		return 0;
	snprintf(err, errlen, "listen on %s:%d: %s", host ? host : "127.0.0.1", port, uv_strerror(uv_translate_sys_error(e)));
	return CG_EIO;
}

void cg_http_server_set_continue(struct cg_http_server *srv, cg_http_continue_fn fn)
{
	srv->continue_fn = fn;
}

void cg_http_server_set_refused(struct cg_http_server *srv, cg_http_refused_fn fn)
{
	srv->refused_fn = fn;
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
	struct cg_http_server *srv; /* NULL once closing */
	int closed;
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

/* Answers a held request later (its connection may be gone by then: an orphan). */
static void fuzz_answer_held(void *ud)
{
	struct fuzz_state *fs = ud;
	if (fs->held) {
		struct cg_http_request *r = fs->held;
		fs->held = NULL;
		cg_http_respond(r, 201, "application/json", "{}", 2, NULL, 0);
	}
}

static int fuzz_server_gone(void *ud)
{
	struct fuzz_state *fs = ud;
	if (fs->srv && fs->srv->nconns == 0) {
		cg_http_server_close(fs->srv, fuzz_closed, &fs->closed);
		fs->srv = NULL;
	}
	return fs->closed;
}

int cg_http_fuzz_feed(const uint8_t *data, size_t len)
{
	struct fuzz_state fs = {0};
	struct cg_fuzz_pump p = {.before = fuzz_answer_held, .after = fuzz_server_gone, .ud = &fs};
	int rc = -1;
	struct cg_http_limits lim;
	cg_http_limits_default(&lim);
	lim.max_body = 256;
	lim.max_header_bytes = 512;
	lim.max_headers = 8;
	lim.header_timeout_ms = lim.body_timeout_ms = lim.idle_timeout_ms = 20;

	if (cg_fuzz_pump_open(&p) != 0)
		return -1;
	struct cg_http_server *srv = calloc(1, sizeof(*srv));
	if (!srv)
		goto out;
	srv->loop = &p.loop;
	srv->lim = lim;
	srv->handler = fuzz_handler;
	srv->ud = &fs;
	uv_tcp_init(&p.loop, &srv->listener); /* never bound: closed like a real listener */
	srv->listener.data = srv;
	fs.srv = srv;
	struct cg_http_conn *c = calloc(1, sizeof(*c));
	if (!c)
		goto out;
	uv_tcp_init(&p.loop, &c->tcp);
	if (uv_tcp_open(&c->tcp, p.sv[0]) < 0) {
		uv_close((uv_handle_t *)&c->tcp, free_on_close);
		goto out;
	}
	p.sv[0] = -1; /* owned by the handle now */
	conn_start(srv, c);
	/* First byte picks the write chunk size so tokens get split at varied places. */
	rc = cg_fuzz_pump_run(&p, data + (len ? 1 : 0), len ? len - 1 : 0, len ? (size_t)(data[0] % 64) + 1 : 1);
out:
	if (fs.held) /* an orphan (peer gone): this frees it */
		cg_http_respond(fs.held, 201, "application/json", "{}", 2, NULL, 0);
	if (fs.srv) {
		cg_http_server_close(fs.srv, fuzz_closed, &fs.closed);
		uv_run(&p.loop, UV_RUN_DEFAULT);
	}
	if (cg_fuzz_pump_close(&p) != 0)
		rc = -2;
	return rc;
}
