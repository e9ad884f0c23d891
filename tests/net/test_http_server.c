/* test_http_server.c: HTTP server behaviour, driving the loop and raw client sockets from one thread. */
/* labels: unit */
#define _GNU_SOURCE

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <uv.h>

#include "cidr.h"
#include "err.h"
#include "http.h"

#define DEADLINE_MS 5000

enum mode { M_ECHO, M_ASYNC, M_DROP };

struct ctx {
	uv_loop_t loop;
	struct cg_http_server *srv;
	int port;
	enum mode mode;
	unsigned async_ms;
	uv_timer_t atimer;
	struct cg_http_request *held;
	int max_held; /* most requests held at once (pipelining must keep it at 1) */
	int nheld;
	int nreq;
	int closed;
	int respond_rc;
	char paths[8][32];
};

/* ---------------------------------------------------------------- server side */

static void answer(struct cg_http_request *req, struct ctx *x)
{
	char body[4096];
	const char *h = cg_http_header_get(req, "x-test");
	int n = snprintf(body, sizeof(body), "%s %s q=%s h=%s from=%s body=%.*s", req->method, req->path, req->query,
			 h ? h : "-", req->remote_addr, (int)req->body_len, req->body);
	if (n >= (int)sizeof(body))
		n = (int)sizeof(body) - 1;
	struct cg_http_header extra[] = {{"X-Seq", "1"}, {"X-Bad", "a\r\nInjected: 1"}};
	/* Only /hello carries the injection attempt (it is logged as a warning). */
	x->respond_rc = cg_http_respond(req, 200, "text/plain", body, (size_t)n, extra, strcmp(req->path, "/hello") ? 1 : 2);
}

static void on_async(uv_timer_t *t)
{
	struct ctx *x = t->data;
	struct cg_http_request *r = x->held;
	x->held = NULL;
	x->nheld--;
	if (r)
		answer(r, x);
}

static void handler(struct cg_http_request *req, void *ud)
{
	struct ctx *x = ud;
	if (x->nreq < 8)
		snprintf(x->paths[x->nreq], sizeof(x->paths[0]), "%s", req->path);
	x->nreq++;
	/* The body is always NUL-terminated. */
	assert_int_equal(req->body[req->body_len], '\0');
	if (strcmp(req->path, "/drop") == 0 || x->mode == M_DROP) {
		cg_http_drop(req);
		return;
	}
	if (strcmp(req->path, "/big") == 0) {
		enum { BIG = 512 * 1024 };
		char *big = malloc(BIG);
		assert_non_null(big);
		memset(big, 'z', BIG);
		x->respond_rc = cg_http_respond(req, 200, "text/plain", big, BIG, NULL, 0);
		free(big);
		return;
	}
	if (x->mode == M_ASYNC) {
		assert_null(x->held);
		x->held = req;
		if (++x->nheld > x->max_held)
			x->max_held = x->nheld;
		uv_timer_start(&x->atimer, on_async, x->async_ms, 0);
		return;
	}
	answer(req, x);
}

static void ctx_start(struct ctx *x, const struct cg_http_limits *lim, enum mode m)
{
	char err[256] = "";
	memset(x, 0, sizeof(*x));
	assert_int_equal(uv_loop_init(&x->loop), 0);
	x->mode = m;
	x->async_ms = 30;
	uv_timer_init(&x->loop, &x->atimer);
	x->atimer.data = x;
	int r = cg_http_server_create(&x->loop, "127.0.0.1", 0, lim, handler, x, &x->srv, err, sizeof(err));
	if (r != 0)
		fail_msg("server_create: got %d (%s), want 0", r, err);
	x->port = cg_http_server_port(x->srv);
	assert_true(x->port > 0);
}

static void on_closed(void *ud)
{
	((struct ctx *)ud)->closed = 1;
}

static uint64_t now_ms(void)
{
	return uv_hrtime() / 1000000u;
}

/* One step: wait (bounded) for the loop or the client fd, then run the loop without blocking. */
static void pump(struct ctx *x, int fd, short events, int max_ms)
{
	struct pollfd p[2] = {{.fd = uv_backend_fd(&x->loop), .events = POLLIN}, {.fd = fd, .events = events}};
	int t = uv_backend_timeout(&x->loop);
	if (t < 0 || t > max_ms)
		t = max_ms;
	poll(p, fd >= 0 ? 2 : 1, t);
	uv_run(&x->loop, UV_RUN_NOWAIT);
}

static void on_handle_close(uv_handle_t *h)
{
	(void)h;
}

static void ctx_finish(struct ctx *x)
{
	if (x->srv) {
		cg_http_server_close(x->srv, on_closed, x);
		x->srv = NULL;
	}
	uint64_t end = now_ms() + DEADLINE_MS;
	while (!x->closed && now_ms() < end)
		pump(x, -1, 0, 20);
	if (!x->closed)
		fail_msg("server did not close within %d ms", DEADLINE_MS);
	uv_close((uv_handle_t *)&x->atimer, on_handle_close);
	uv_run(&x->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&x->loop), 0);
}

static int wait_for(struct ctx *x, int (*cond)(struct ctx *x), unsigned ms)
{
	uint64_t end = now_ms() + ms;
	while (!cond(x)) {
		if (now_ms() > end)
			return 0;
		pump(x, -1, 0, 10);
	}
	return 1;
}

static int no_conns(struct ctx *x)
{
	return cg_http_server_connections(x->srv) == 0;
}

/* ---------------------------------------------------------------- client side */

static int cli_connect_rcvbuf(int port, int rcvbuf)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	if (rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	/* Loopback connect completes from the kernel's backlog even before the loop accepts. */
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

static int cli_connect(int port)
{
	return cli_connect_rcvbuf(port, 0);
}

/* A connection from another loopback address (127.0.0.0/8 is all local). */
static int cli_connect_from(int port, const char *ip)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct sockaddr_in b = {.sin_family = AF_INET};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	inet_pton(AF_INET, ip, &b.sin_addr);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&b, sizeof(b)), 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

static void cli_send(struct ctx *x, int fd, const char *data, size_t len)
{
	uint64_t end = now_ms() + DEADLINE_MS;
	size_t off = 0;
	while (off < len) {
		ssize_t n = send(fd, data + off, len - off, MSG_NOSIGNAL);
		if (n > 0)
			off += (size_t)n;
		else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			fail_msg("send: %s", strerror(errno));
		if (now_ms() > end)
			fail_msg("send did not finish within %d ms", DEADLINE_MS);
		pump(x, fd, POLLOUT, 10);
	}
}

static void cli_sends(struct ctx *x, int fd, const char *s)
{
	cli_send(x, fd, s, strlen(s));
}

struct cbuf {
	char d[65536];
	size_t len;
	int eof;
};

struct resp {
	int status;
	char head[4096];
	char body[8192];
	size_t body_len;
};

/* Reads more into b; returns bytes read, 0 on EOF, -1 when nothing yet. */
static int cli_fill(struct ctx *x, int fd, struct cbuf *b)
{
	pump(x, fd, POLLIN, 10);
	if (b->len >= sizeof(b->d))
		return -1;
	ssize_t n = recv(fd, b->d + b->len, sizeof(b->d) - b->len, 0);
	if (n > 0) {
		b->len += (size_t)n;
		return (int)n;
	}
	if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
		b->eof = 1;
		return 0;
	}
	return -1;
}

static const char *find_ci(const char *hay, const char *needle)
{
	size_t n = strlen(needle);
	for (; *hay; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return hay;
	return NULL;
}

/* Parses one response from the front of b (consuming it). 1 = done, 0 = need more. */
static int parse_resp(struct cbuf *b, struct resp *r)
{
	char *end = memmem(b->d, b->len, "\r\n\r\n", 4);
	if (!end)
		return 0;
	size_t hlen = (size_t)(end - b->d) + 4;
	assert_true(hlen < sizeof(r->head));
	memcpy(r->head, b->d, hlen);
	r->head[hlen] = '\0';
	assert_int_equal(sscanf(r->head, "HTTP/1.1 %d", &r->status), 1);
	size_t clen = 0;
	const char *cl = find_ci(r->head, "\r\nContent-Length:");
	if (cl)
		clen = strtoul(cl + 17, NULL, 10);
	if (b->len < hlen + clen)
		return 0;
	assert_true(clen < sizeof(r->body));
	memcpy(r->body, b->d + hlen, clen);
	r->body[clen] = '\0';
	r->body_len = clen;
	memmove(b->d, b->d + hlen + clen, b->len - hlen - clen);
	b->len -= hlen + clen;
	return 1;
}

static int cli_resp(struct ctx *x, int fd, struct cbuf *b, struct resp *r)
{
	uint64_t end = now_ms() + DEADLINE_MS;
	memset(r, 0, sizeof(*r));
	while (!parse_resp(b, r)) {
		if (b->eof || now_ms() > end)
			return -1;
		cli_fill(x, fd, b);
	}
	return 0;
}

/* Waits for the server to end the stream; returns 1 on EOF/reset, 0 on timeout. */
static int cli_eof(struct ctx *x, int fd, struct cbuf *b, unsigned ms)
{
	uint64_t end = now_ms() + ms;
	while (!b->eof) {
		if (now_ms() > end)
			return 0;
		cli_fill(x, fd, b);
	}
	return 1;
}

static void expect_status(const struct resp *r, int want)
{
	if (r->status != want)
		fail_msg("status: got %d, want %d (head: %s body: %s)", r->status, want, r->head, r->body);
}

static void expect_body(const struct resp *r, const char *want)
{
	if (strcmp(r->body, want) != 0)
		fail_msg("body: got '%s', want '%s'", r->body, want);
}

static void expect_json_error(const struct resp *r, int want)
{
	expect_status(r, want);
	if (!find_ci(r->head, "Content-Type: application/json"))
		fail_msg("content-type: got head '%s', want application/json", r->head);
	if (strncmp(r->body, "{\"errors\":[\"", 12) != 0 || !strstr(r->body, "\"]}"))
		fail_msg("error body: got '%s', want {\"errors\":[...]}", r->body);
}

static int get_resp(struct ctx *x, int fd, struct cbuf *b, const char *req, struct resp *r)
{
	cli_sends(x, fd, req);
	return cli_resp(x, fd, b, r);
}

/* ---------------------------------------------------------------- tests */

static void test_get_post_echo(void **state)
{
	struct ctx x;
	struct cbuf b = {0};
	struct resp r;
	ctx_start(&x, NULL, M_ECHO);
	int fd = cli_connect(x.port);

	assert_int_equal(get_resp(&x, fd, &b, "GET /hello?a=1&b=2 HTTP/1.1\r\nHost: t\r\nX-Test: yes\r\n\r\n", &r), 0);
	expect_status(&r, 200);
	expect_body(&r, "GET /hello q=a=1&b=2 h=yes from=127.0.0.1 body=");
	assert_non_null(find_ci(r.head, "\r\nContent-Type: text/plain\r\n"));
	assert_non_null(find_ci(r.head, "\r\nX-Seq: 1\r\n"));
	if (find_ci(r.head, "Injected"))
		fail_msg("header injection: got head '%s'", r.head);
	assert_int_equal(x.respond_rc, 0);

	assert_int_equal(get_resp(&x, fd, &b,
				  "POST /in HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world", &r),
			 0);
	expect_status(&r, 200);
	expect_body(&r, "POST /in q= h=- from=127.0.0.1 body=hello world");

	/* Chunked request bodies are reassembled. */
	assert_int_equal(get_resp(&x, fd, &b,
				  "POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
				  "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
				  &r),
			 0);
	expect_body(&r, "POST /c q= h=- from=127.0.0.1 body=abcde");

	/* Trailers after a chunked body (big enough to move a growing head buffer) leave the request intact. */
	char req[4096];
	char tv[1500];
	memset(tv, 't', sizeof(tv) - 1);
	tv[sizeof(tv) - 1] = '\0';
	snprintf(req, sizeof(req),
		 "POST /trailer HTTP/1.1\r\nHost: t\r\nX-Test: before\r\nTransfer-Encoding: chunked\r\n\r\n"
		 "2\r\nok\r\n0\r\nX-Trailer: %s\r\nX-Test: after\r\n\r\n",
		 tv);
	assert_int_equal(get_resp(&x, fd, &b, req, &r), 0);
	expect_body(&r, "POST /trailer q= h=before from=127.0.0.1 body=ok");
	assert_int_equal(x.nreq, 4);
	close(fd);
	ctx_finish(&x);
}

static void test_keepalive(void **state)
{
	struct ctx x;
	struct cbuf b = {0};
	struct resp r;
	ctx_start(&x, NULL, M_ECHO);
	int fd = cli_connect(x.port);
	assert_int_equal(get_resp(&x, fd, &b, "GET /one HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
	expect_body(&r, "GET /one q= h=- from=127.0.0.1 body=");
	assert_null(find_ci(r.head, "Connection: close"));
	assert_int_equal(get_resp(&x, fd, &b, "GET /two HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
	expect_body(&r, "GET /two q= h=- from=127.0.0.1 body=");
	assert_int_equal(cg_http_server_connections(x.srv), 1);

	/* Connection: close is honoured: answer, then EOF. */
	assert_int_equal(get_resp(&x, fd, &b, "GET /three HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", &r), 0);
	assert_non_null(find_ci(r.head, "Connection: close"));
	assert_true(cli_eof(&x, fd, &b, DEADLINE_MS));
	close(fd);

	/* HTTP/1.0: keep-alive only when asked, and said so in the answer. */
	struct cbuf b2 = {0};
	fd = cli_connect(x.port);
	assert_int_equal(get_resp(&x, fd, &b2, "GET /k HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &r), 0);
	expect_status(&r, 200);
	assert_non_null(find_ci(r.head, "Connection: keep-alive"));
	assert_int_equal(get_resp(&x, fd, &b2, "GET /k2 HTTP/1.0\r\n\r\n", &r), 0);
	expect_status(&r, 200);
	assert_non_null(find_ci(r.head, "Connection: close"));
	assert_true(cli_eof(&x, fd, &b2, DEADLINE_MS));
	close(fd);
	assert_true(wait_for(&x, no_conns, DEADLINE_MS));
	ctx_finish(&x);
}

static void run_pipeline(enum mode m)
{
	struct ctx x;
	struct cbuf b = {0};
	struct resp r;
	ctx_start(&x, NULL, m);
	x.async_ms = 5;
	int fd = cli_connect(x.port);
	cli_sends(&x, fd,
		  "GET /a HTTP/1.1\r\nHost: t\r\n\r\n"
		  "POST /b HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nxyz"
		  "GET /c HTTP/1.1\r\nHost: t\r\n\r\n");
	const char *want[] = {"GET /a q= h=- from=127.0.0.1 body=", "POST /b q= h=- from=127.0.0.1 body=xyz",
			      "GET /c q= h=- from=127.0.0.1 body="};
	for (int i = 0; i < 3; i++) {
		assert_int_equal(cli_resp(&x, fd, &b, &r), 0);
		expect_status(&r, 200);
		expect_body(&r, want[i]);
	}
	assert_int_equal(x.nreq, 3);
	if (m == M_ASYNC && x.max_held != 1)
		fail_msg("requests in flight on one connection: got %d, want 1", x.max_held);
	close(fd);
	ctx_finish(&x);
}

static void test_pipeline_sync(void **state)
{
	run_pipeline(M_ECHO);
}

static void test_pipeline_async(void **state)
{
	run_pipeline(M_ASYNC);
}

/* Many pipelined requests (more than the server buffers) with big answers: all come back in order. */
static void run_pipeline_flood(enum mode m)
{
	enum { N = 2000, BODY = 3000 };
	struct ctx x;
	struct cg_http_limits lim;
	cg_http_limits_default(&lim);
	ctx_start(&x, &lim, m);
	x.async_ms = 0;
	size_t cap = (size_t)N * (BODY + 64), len = 0;
	char *reqs = malloc(cap);
	assert_non_null(reqs);
	for (int i = 0; i < N; i++)
		len += (size_t)snprintf(reqs + len, cap - len, "POST /p%d HTTP/1.1\r\nContent-Length: %d\r\n\r\n", i, BODY) + BODY;
	/* Bodies: BODY bytes after each head (filled in place so the answer echoes them). */
	size_t o = 0;
	for (int i = 0; i < N; i++) {
		char *h = strstr(reqs + o, "\r\n\r\n");
		assert_non_null(h);
		memset(h + 4, 'b', BODY);
		o = (size_t)(h + 4 - reqs) + BODY;
	}
	assert_int_equal(o, len);
	int fd = cli_connect_rcvbuf(x.port, 8192); /* small: the server's answers back up */
	struct cbuf *b = calloc(1, sizeof(*b));
	struct resp *r = malloc(sizeof(*r));
	assert_non_null(b);
	assert_non_null(r);
	size_t sent = 0;
	int got = 0;
	uint64_t end = now_ms() + 20000;
	while (got < N && now_ms() < end) {
		/* Read only when sending stalls: the server must push back, not buffer without bound. */
		ssize_t n = 0;
		if (sent < len) {
			n = send(fd, reqs + sent, len - sent > 8192 ? 8192 : len - sent, MSG_NOSIGNAL);
			if (n > 0)
				sent += (size_t)n;
		}
		if (n > 0)
			pump(&x, fd, POLLOUT, 1);
		else
			cli_fill(&x, fd, b);
		while (got < N && parse_resp(b, r)) {
			char want[32];
			snprintf(want, sizeof(want), "POST /p%d q=", got);
			if (strncmp(r->body, want, strlen(want)) != 0 || r->body_len < BODY)
				fail_msg("answer %d: got '%.40s' (%zu bytes), want '%s...'", got, r->body, r->body_len, want);
			got++;
		}
		assert_false(b->eof);
	}
	if (got != N)
		fail_msg("pipelined answers: got %d, want %d", got, N);
	if (x.max_held > 1)
		fail_msg("requests in flight on one connection: got %d, want 1", x.max_held);
	free(reqs);
	free(b);
	free(r);
	close(fd);
	ctx_finish(&x);
}

static void test_pipeline_flood(void **state)
{
	run_pipeline_flood(M_ECHO);
}

static void test_pipeline_flood_async(void **state)
{
	run_pipeline_flood(M_ASYNC);
}

/* Sends req repeatedly without reading answers until the socket takes no more (the server
 * stopped reading) or max_ms passed. Returns how many whole requests went out. */
static int flood_unread(struct ctx *x, int fd, const char *req, unsigned max_ms)
{
	size_t len = strlen(req), off = 0;
	int sent = 0, idle = 0;
	uint64_t end = now_ms() + max_ms;
	while (now_ms() < end && idle < 10) {
		ssize_t n = send(fd, req + off, len - off, MSG_NOSIGNAL);
		if (n > 0) {
			idle = 0;
			off += (size_t)n;
			if (off == len) {
				off = 0;
				sent++;
			}
		} else {
			idle++;
		}
		pump(x, fd, POLLOUT, n > 0 ? 0 : 10);
	}
	return sent;
}

/* A client that pipelines without reading: the server parses only while its queued answers
 * stay under the per-connection cap, then stops reading; everything is answered once the
 * client reads. */
static void test_output_cap(void **state)
{
	struct ctx x;
	struct cg_http_limits lim;
	cg_http_limits_default(&lim);
	lim.max_output_conn = 16 * 1024;
	ctx_start(&x, &lim, M_ECHO);
	int fd = cli_connect_rcvbuf(x.port, 4096);
	int sent = flood_unread(&x, fd, "GET /p HTTP/1.1\r\nHost: t\r\n\r\n", 3000);
	size_t queued = cg_http_server_output_bytes(x.srv);
	/* One answer may start past the cap (it is checked before each request). */
	if (queued > lim.max_output_conn + 1024)
		fail_msg("queued output: got %zu bytes, want at most %zu", queued, lim.max_output_conn + 1024);
	if (x.nreq >= sent)
		fail_msg("requests parsed while the client read nothing: got %d of %d, want fewer", x.nreq, sent);
	struct cbuf *b = calloc(1, sizeof(*b));
	struct resp r;
	assert_non_null(b);
	for (int i = 0; i < sent; i++) {
		if (cli_resp(&x, fd, b, &r) != 0)
			fail_msg("answer %d of %d missing", i, sent);
		expect_status(&r, 200);
	}
	assert_int_equal(x.nreq, sent);
	assert_int_equal(cg_http_server_output_bytes(x.srv), 0);
	free(b);
	close(fd);
	ctx_finish(&x);
}

/* The total cap holds across connections: ten slow readers together stay under it. */
static void test_output_total_cap(void **state)
{
	enum { N = 10 };
	struct ctx x;
	struct cg_http_limits lim;
	cg_http_limits_default(&lim);
	lim.max_output_conn = 64 * 1024;
	lim.max_output_total = 32 * 1024;
	ctx_start(&x, &lim, M_ECHO);
	int fds[N];
	for (int i = 0; i < N; i++) {
		fds[i] = cli_connect_rcvbuf(x.port, 4096);
		flood_unread(&x, fds[i], "GET /p HTTP/1.1\r\nHost: t\r\n\r\n", 1000);
	}
	size_t queued = cg_http_server_output_bytes(x.srv);
	/* Each connection may finish the answer it was writing when the total was reached. */
	if (queued > lim.max_output_total + N * 1024)
		fail_msg("queued output over %d connections: got %zu bytes, want at most %zu", N, queued,
			 lim.max_output_total + N * 1024);
	for (int i = 0; i < N; i++)
		close(fds[i]);
	assert_true(wait_for(&x, no_conns, DEADLINE_MS));
	assert_int_equal(cg_http_server_output_bytes(x.srv), 0);
	ctx_finish(&x);
}

/* A large answer taken slowly but steadily is progress: not closed by write_timeout. */
static void test_slow_big_answer(void **state)
{
	struct ctx x;
	struct cg_http_limits lim;
	cg_http_limits_default(&lim);
	lim.write_timeout_ms = 300;
	ctx_start(&x, &lim, M_ECHO);
	int fd = cli_connect_rcvbuf(x.port, 8192);
	cli_sends(&x, fd, "GET /big HTTP/1.1\r\nHost: t\r\n\r\n");
	size_t got = 0;
	char buf[16384];
	uint64_t end = now_ms() + 20000;
	while (got < 512 * 1024 + 60 && now_ms() < end) {
		/* About 200 KiB/s: the answer takes 2.5 s, far past the timeout, always moving. */
		uint64_t until = now_ms() + 40;
		while (now_ms() < until)
			pump(&x, fd, 0, 10);
		ssize_t n = recv(fd, buf, 8192, 0);
		if (n == 0)
			fail_msg("closed after %zu bytes of a slowly read answer", got);
		if (n > 0)
			got += (size_t)n;
	}
	if (got < 512 * 1024)
		fail_msg("slow big answer: got %zu bytes, want all", got);
	close(fd);
	ctx_finish(&x);
}

/* A client that never takes its answers is closed after write_timeout. */
static void test_write_stall(void **state)
{
	struct ctx x;
	struct cg_http_limits lim;
	cg_http_limits_default(&lim);
	lim.write_timeout_ms = 1500;
	lim.max_output_conn = 8 * 1024;
	ctx_start(&x, &lim, M_ECHO);
	int fd = cli_connect_rcvbuf(x.port, 4096);
	flood_unread(&x, fd, "GET /stall HTTP/1.1\r\nHost: t\r\n\r\n", 2000);
	assert_true(cg_http_server_output_bytes(x.srv) > 0);
	uint64_t t0 = now_ms();
	assert_true(wait_for(&x, no_conns, DEADLINE_MS));
	uint64_t took = now_ms() - t0;
	/* Checked once a second: by the timeout plus one sweep (and some slack). */
	if (took > 1500 + 1000 + 500)
		fail_msg("stalled writer closed after %llu ms, want within 3 s", (unsigned long long)took);
	assert_int_equal(cg_http_server_output_bytes(x.srv), 0);
	close(fd);
	ctx_finish(&x);
}

static void test_async_answer(void **state)
{
	struct ctx x;
	struct cbuf b = {0};
	struct resp r;
	ctx_start(&x, NULL, M_ASYNC);
	x.async_ms = 50;
	int fd = cli_connect(x.port);
	uint64_t t0 = now_ms();
	assert_int_equal(get_resp(&x, fd, &b, "POST /later HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nok", &r), 0);
	expect_body(&r, "POST /later q= h=- from=127.0.0.1 body=ok");
	uint64_t took = now_ms() - t0;
	if (took < 40)
		fail_msg("answer time: got %llu ms, want >= 40 (the timer's delay)", (unsigned long long)took);
	close(fd);
	ctx_finish(&x);
}

static int handler_called(struct ctx *x)
{
	return x->nreq > 0;
}

/* The client vanishes while the handler holds the request: the later answer is discarded safely. */
static void run_disconnect(int reset)
{
	struct ctx x;
	ctx_start(&x, NULL, M_ASYNC);
	x.async_ms = 150;
	int fd = cli_connect(x.port);
	cli_sends(&x, fd, "POST /slow HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\nz");
	assert_true(wait_for(&x, handler_called, DEADLINE_MS));
	if (reset) {
		struct linger l = {.l_onoff = 1, .l_linger = 0};
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	}
	close(fd);
	if (reset) /* a reset is noticed at once: the request is orphaned */
		assert_true(wait_for(&x, no_conns, DEADLINE_MS));
	uint64_t end = now_ms() + DEADLINE_MS;
	while (x.held && now_ms() < end)
		pump(&x, -1, 0, 20);
	assert_null(x.held);
	assert_int_equal(x.respond_rc, 0);
	assert_true(wait_for(&x, no_conns, DEADLINE_MS));
	ctx_finish(&x);
}

static void test_disconnect_reset(void **state)
{
	run_disconnect(1);
}

static void test_disconnect_fin(void **state)
{
	run_disconnect(0);
}

/* Server closes while a request is orphaned: respond after the server is gone is still safe. */
static void test_orphan_outlives_server(void **state)
{
	struct ctx x;
	ctx_start(&x, NULL, M_ASYNC);
	x.async_ms = 10000;
	int fd = cli_connect(x.port);
	cli_sends(&x, fd, "GET /x HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_true(wait_for(&x, handler_called, DEADLINE_MS));
	struct linger l = {.l_onoff = 1, .l_linger = 0};
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
	assert_true(wait_for(&x, no_conns, DEADLINE_MS));
	cg_http_server_close(x.srv, on_closed, &x);
	x.srv = NULL;
	uint64_t end = now_ms() + DEADLINE_MS;
	while (!x.closed && now_ms() < end)
		pump(&x, -1, 0, 20);
	assert_true(x.closed);
	uv_timer_stop(&x.atimer);
	x.nheld--;
	struct cg_http_request *r = x.held;
	x.held = NULL;
	assert_int_equal(cg_http_respond_error(r, 500, "late"), 0);
	ctx_finish(&x);
}

static void test_413_declared(void **state)
{
	struct ctx x;
	struct cbuf b = {0};
	struct resp r;
	struct cg_http_limits lim;
	cg_http_limits_default(&lim);
	ctx_start(&x, &lim, M_ECHO);
	int fd = cli_connect(x.port);
	/* Only the head is sent: the refusal must not wait for a 1 GiB body. */
	assert_int_equal(get_resp(&x, fd, &b, "POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: 1073741824\r\n\r\n", &r), 0);
	expect_json_error(&r, 413);
	assert_non_null(find_ci(r.head, "Connection: close"));
	assert_true(cli_eof(&x, fd, &b, DEADLINE_MS));
	assert_int_equal(x.nreq, 0);
	close(fd);

	/* Expect: 100-continue is refused the same way (no 100), and accepted for a small body. */
	struct cbuf b2 = {0};
	fd = cli_connect(x.port);
	cli_sends(&x, fd, "POST /e HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
	assert_int_equal(cli_resp(&x, fd, &b2, &r), 0);
	expect_status(&r, 100);
	assert_int_equal(get_resp(&x, fd, &b2, "data", &r), 0);
	expect_body(&r, "POST /e q= h=- from=127.0.0.1 body=data");
	close(fd);
	ctx_finish(&x);
}

static void test_413_chunked(void **state)
{
	struct ctx x;
	struct cbuf b = {0};
	struct resp r;
	struct cg_http_limits lim;
	cg_http_limits_default(&lim);
	lim.max_body = 100;
	ctx_start(&x, &lim, M_ECHO);
	int fd = cli_connect(x.port);
	char req[512];
	char chunk[64];
	memset(chunk, 'q', 50);
	chunk[50] = '\0';
	snprintf(req, sizeof(req),
		 "POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n32\r\n%s\r\n32\r\n%s\r\n32\r\n%s\r\n0\r\n\r\n",
		 chunk, chunk, chunk);
	assert_int_equal(get_resp(&x, fd, &b, req, &r), 0);
	expect_json_error(&r, 413);
	assert_int_equal(x.nreq, 0);
	close(fd);

	/* Exactly at the limit passes. */
	struct cbuf b2 = {0};
	fd = cli_connect(x.port);
	snprintf(req, sizeof(req), "POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n32\r\n%s\r\n32\r\n%s\r\n0\r\n\r\n",
		 chunk, chunk);
	assert_int_equal(get_resp(&x, fd, &b2, req, &r), 0);
	expect_status(&r, 200);
	assert_int_equal(x.nreq, 1);
	close(fd);
	ctx_finish(&x);
}

static void test_431(void **state)
{
	struct ctx x;
	struct cbuf b = {0};
	struct resp r;
	struct cg_http_limits lim;
	cg_http_limits_default(&lim);
	lim.max_header_bytes = 1024;
	lim.max_headers = 5;
	ctx_start(&x, &lim, M_ECHO);

	int fd = cli_connect(x.port);
	char big[3000];
	char req[3200];
	memset(big, 'v', 2000);
	big[2000] = '\0';
	snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: t\r\nX-Big: %s\r\n\r\n", big);
	assert_int_equal(get_resp(&x, fd, &b, req, &r), 0);
	expect_json_error(&r, 431);
	close(fd);

	struct cbuf b2 = {0};
	fd = cli_connect(x.port);
	assert_int_equal(get_resp(&x, fd, &b2,
				  "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\nG: 7\r\n\r\n", &r),
			 0);
	expect_json_error(&r, 431);
	close(fd);

	/* Whitespace padding counts too (it reaches no header callback). */
	struct cbuf b3 = {0};
	fd = cli_connect(x.port);
	memset(big, ' ', 2000);
	snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nX-Pad:%s", big);
	assert_int_equal(get_resp(&x, fd, &b3, req, &r), 0);
	expect_json_error(&r, 431);
	close(fd);

	/* Within limits passes. */
	struct cbuf b4 = {0};
	fd = cli_connect(x.port);
	assert_int_equal(get_resp(&x, fd, &b4, "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n", &r), 0);
	expect_status(&r, 200);
	close(fd);
	assert_int_equal(x.nreq, 1);
	ctx_finish(&x);
}

static void test_malformed(void **state)
{
	struct ctx x;
	struct resp r;
	ctx_start(&x, NULL, M_ECHO);
	const char *bad[] = {
		"GARBAGE\r\n\r\n",
		"GET / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
		"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
		/* obs-fold: a continuation line, also as the first header line, also split across reads */
		"GET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n",
		"GET / HTTP/1.1\r\n\tX-A: a\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: t\r\nX-A:\r\n Authorization: Bearer x\r\nContent-Length: 0\r\n\r\n",
		/* the same credential or routing header twice: which one counts would depend on the reader */
		"GET / HTTP/1.1\r\nAuthorization: Bearer a\r\nauthorization: Bearer b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
		"POST / HTTP/1.1\r\nContent-Type: a/b\r\nContent-Type: c/d\r\nContent-Length: 0\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cbuf b = {0};
		int fd = cli_connect(x.port);
		if (get_resp(&x, fd, &b, bad[i], &r) != 0)
			fail_msg("no answer to malformed request #%zu", i);
		expect_json_error(&r, 400);
		assert_true(cli_eof(&x, fd, &b, DEADLINE_MS));
		close(fd);
	}
	assert_int_equal(x.nreq, 0);
	/* The fold split between two reads is found as well; the messages say what was wrong. */
	struct cbuf b = {0};
	int fd = cli_connect(x.port);
	cli_sends(&x, fd, "GET / HTTP/1.1\r\nX-A: a\r\n");
	pump(&x, fd, POLLIN, 50);
	assert_int_equal(get_resp(&x, fd, &b, " b\r\n\r\n", &r), 0);
	expect_json_error(&r, 400);
	if (!strstr(r.body, "obs-folded header line"))
		fail_msg("obs-fold: got %s, want the reason named", r.body);
	close(fd);
	struct cbuf b2 = {0};
	fd = cli_connect(x.port);
	assert_int_equal(get_resp(&x, fd, &b2, "GET / HTTP/1.1\r\nAuthorization: a\r\nAuthorization: b\r\n\r\n", &r), 0);
	if (!strstr(r.body, "duplicate Authorization header"))
		fail_msg("duplicate: got %s, want the header named", r.body);
	close(fd);
	/* A body that looks like a folded header line is not a head: a normal answer. */
	struct cbuf b3 = {0};
	fd = cli_connect(x.port);
	assert_int_equal(get_resp(&x, fd, &b3, "POST /ok HTTP/1.1\r\nContent-Length: 6\r\n\r\n\n b\r\n\r", &r), 0);
	expect_status(&r, 200);
	assert_int_equal(get_resp(&x, fd, &b3, "GET /next HTTP/1.1\r\n\r\n", &r), 0);
	expect_status(&r, 200);
	close(fd);
	assert_int_equal(x.nreq, 2);
	ctx_finish(&x);
}

static void test_header_timeout(void **state)
{
	struct ctx x;
	struct cbuf b = {0};
	struct resp r;
	struct cg_http_limits lim;
	cg_http_limits_default(&lim);
	lim.header_timeout_ms = 200;
	lim.body_timeout_ms = 200;
	ctx_start(&x, &lim, M_ECHO);

	/* Slowloris: a partial head, then silence. */
	int fd = cli_connect(x.port);
	uint64_t t0 = now_ms();
	cli_sends(&x, fd, "GET / HTTP/1.1\r\nHost: t\r\n");
	assert_int_equal(cli_resp(&x, fd, &b, &r), 0);
	expect_json_error(&r, 408);
	uint64_t took = now_ms() - t0;
	if (took < 150 || took > 3000)
		fail_msg("header timeout: got %llu ms, want about 200", (unsigned long long)took);
	assert_true(cli_eof(&x, fd, &b, DEADLINE_MS));
	close(fd);

	/* A connection that never sends anything is closed without an answer. */
	struct cbuf b2 = {0};
	fd = cli_connect(x.port);
	assert_true(cli_eof(&x, fd, &b2, DEADLINE_MS));
	assert_int_equal(b2.len, 0);
	close(fd);

	/* Body that stalls. */
	struct cbuf b3 = {0};
	fd = cli_connect(x.port);
	assert_int_equal(get_resp(&x, fd, &b3, "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc", &r), 0);
	expect_json_error(&r, 408);
	close(fd);
	assert_true(wait_for(&x, no_conns, DEADLINE_MS));
	assert_int_equal(x.nreq, 0);
	ctx_finish(&x);
}

static void test_idle_timeout(void **state)
{
	struct ctx x;
	struct cbuf b = {0};
	struct resp r;
	struct cg_http_limits lim;
	cg_http_limits_default(&lim);
	lim.idle_timeout_ms = 200;
	ctx_start(&x, &lim, M_ECHO);
	int fd = cli_connect(x.port);
	assert_int_equal(get_resp(&x, fd, &b, "GET / HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
	expect_status(&r, 200);
	uint64_t t0 = now_ms();
	assert_true(cli_eof(&x, fd, &b, DEADLINE_MS));
	uint64_t took = now_ms() - t0;
	if (took < 150)
		fail_msg("idle close: got %llu ms, want >= 150", (unsigned long long)took);
	assert_int_equal(b.len, 0);
	close(fd);
	assert_true(wait_for(&x, no_conns, DEADLINE_MS));
	ctx_finish(&x);
}

static int two_conns(struct ctx *x)
{
	return cg_http_server_connections(x->srv) == 2;
}

static void test_max_connections(void **state)
{
	struct ctx x;
	struct cbuf b1 = {0}, b3 = {0};
	struct resp r;
	struct cg_http_limits lim;
	cg_http_limits_default(&lim);
	lim.max_connections = 2;
	ctx_start(&x, &lim, M_ECHO);
	int fd1 = cli_connect(x.port);
	int fd2 = cli_connect(x.port);
	assert_true(wait_for(&x, two_conns, DEADLINE_MS));
	int fd3 = cli_connect(x.port);
	assert_int_equal(cli_resp(&x, fd3, &b3, &r), 0);
	expect_json_error(&r, 503);
	assert_true(cli_eof(&x, fd3, &b3, DEADLINE_MS));
	close(fd3);
	/* The admitted ones still work. */
	assert_int_equal(get_resp(&x, fd1, &b1, "GET /ok HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
	expect_status(&r, 200);
	assert_true(wait_for(&x, two_conns, DEADLINE_MS));
	close(fd1);
	close(fd2);
	ctx_finish(&x);
}

static const char *const health[] = {"/healthz", NULL};

/* With every slot taken, a reserved slot still answers a health check (and nothing else). */
static void test_reserved_slots(void **state)
{
	struct ctx x;
	struct resp r;
	struct cg_http_limits lim;
	cg_http_limits_default(&lim);
	lim.max_connections = 2;
	lim.reserved = 1;
	lim.reserved_paths = health;
	ctx_start(&x, &lim, M_ECHO);
	int fd1 = cli_connect(x.port), fd2 = cli_connect(x.port);
	assert_true(wait_for(&x, two_conns, DEADLINE_MS));
	/* The probe gets through, once (Connection: close). */
	struct cbuf b3 = {0};
	int fd3 = cli_connect(x.port);
	assert_int_equal(get_resp(&x, fd3, &b3, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
	expect_status(&r, 200);
	assert_non_null(find_ci(r.head, "Connection: close"));
	assert_true(cli_eof(&x, fd3, &b3, DEADLINE_MS));
	close(fd3);
	/* Anything else in a reserved slot: 503. */
	struct cbuf b4 = {0};
	int fd4 = cli_connect(x.port);
	assert_int_equal(get_resp(&x, fd4, &b4, "POST /hooks/x HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", &r), 0);
	expect_json_error(&r, 503);
	close(fd4);
	assert_true(wait_for(&x, two_conns, DEADLINE_MS));
	/* One reserved slot: while it is held, the next connection is refused at once; the holder
	 * gets 503 after a second of silence. */
	struct cbuf b5 = {0}, b6 = {0};
	int fd5 = cli_connect(x.port);
	pump(&x, fd5, POLLIN, 50);
	int fd6 = cli_connect(x.port);
	assert_int_equal(cli_resp(&x, fd6, &b6, &r), 0);
	expect_json_error(&r, 503);
	uint64_t t0 = now_ms();
	assert_int_equal(cli_resp(&x, fd5, &b5, &r), 0);
	expect_json_error(&r, 503);
	if (now_ms() - t0 > 1500)
		fail_msg("silent reserved connection answered after %llu ms, want about 1 s",
			 (unsigned long long)(now_ms() - t0));
	close(fd5);
	close(fd6);
	assert_int_equal(x.nreq, 1);
	close(fd1);
	close(fd2);
	ctx_finish(&x);
}

/* One address may hold max_per_addr connections; other addresses and exempt ranges may not be held back. */
static void test_per_address(void **state)
{
	struct ctx x;
	struct resp r;
	struct cg_http_limits lim;
	cg_http_limits_default(&lim);
	lim.max_per_addr = 2;
	ctx_start(&x, &lim, M_ECHO);
	int fd1 = cli_connect(x.port), fd2 = cli_connect(x.port);
	assert_true(wait_for(&x, two_conns, DEADLINE_MS));
	struct cbuf b3 = {0};
	int fd3 = cli_connect(x.port);
	assert_int_equal(cli_resp(&x, fd3, &b3, &r), 0);
	expect_json_error(&r, 503);
	if (!strstr(r.body, "too many connections from this address"))
		fail_msg("per-address refusal: got %s", r.body);
	close(fd3);
	/* Another address is served. */
	struct cbuf b4 = {0};
	int fd4 = cli_connect_from(x.port, "127.0.0.2");
	assert_int_equal(get_resp(&x, fd4, &b4, "GET /other HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
	expect_status(&r, 200);
	close(fd4);
	/* A trusted proxy carries many clients: exempt. */
	struct cg_cidr lo;
	assert_int_equal(cg_cidr_parse("127.0.0.1/32", &lo), 0);
	assert_int_equal(cg_http_server_set_exempt(x.srv, &lo, 1), 0);
	struct cbuf b5 = {0};
	int fd5 = cli_connect(x.port);
	assert_int_equal(get_resp(&x, fd5, &b5, "GET /proxy HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
	expect_status(&r, 200);
	close(fd5);
	close(fd1);
	close(fd2);
	ctx_finish(&x);
}

/* A connection that sends nothing is dropped after first_byte_timeout; one that started has
 * the rest of the header timeout. */
static void test_first_byte_timeout(void **state)
{
	struct ctx x;
	struct resp r;
	struct cg_http_limits lim;
	cg_http_limits_default(&lim);
	lim.first_byte_timeout_ms = 150;
	lim.header_timeout_ms = 3000;
	ctx_start(&x, &lim, M_ECHO);
	struct cbuf b = {0};
	int fd = cli_connect(x.port);
	uint64_t t0 = now_ms();
	assert_true(cli_eof(&x, fd, &b, DEADLINE_MS));
	uint64_t took = now_ms() - t0;
	if (took > 1000)
		fail_msg("silent connection closed after %llu ms, want about 150", (unsigned long long)took);
	assert_int_equal(b.len, 0);
	close(fd);
	struct cbuf b2 = {0};
	fd = cli_connect(x.port);
	cli_sends(&x, fd, "GET /slow");
	uint64_t end = now_ms() + 400; /* past the first-byte timeout, within the header timeout */
	while (now_ms() < end)
		pump(&x, fd, POLLIN, 20);
	assert_int_equal(get_resp(&x, fd, &b2, " HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
	expect_status(&r, 200);
	close(fd);
	ctx_finish(&x);
}

static int deny_continue(struct cg_http_request *req, void *ud)
{
	(void)ud;
	return cg_http_header_get(req, "x-test") == NULL;
}

/* 100 Continue only when the server's check of the head says so. */
static void test_continue_hook(void **state)
{
	struct ctx x;
	struct resp r;
	ctx_start(&x, NULL, M_ECHO);
	cg_http_server_set_continue(x.srv, deny_continue);
	struct cbuf b = {0};
	int fd = cli_connect(x.port);
	cli_sends(&x, fd, "POST /e HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
	assert_int_equal(cli_resp(&x, fd, &b, &r), 0);
	expect_status(&r, 100);
	assert_int_equal(get_resp(&x, fd, &b, "data", &r), 0);
	expect_status(&r, 200);
	close(fd);
	/* Refused by the check: no 100; the body sent anyway (after the client's wait) is answered. */
	struct cbuf b2 = {0};
	fd = cli_connect(x.port);
	cli_sends(&x, fd, "POST /e HTTP/1.1\r\nHost: t\r\nX-Test: no\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
	uint64_t end = now_ms() + 300;
	while (now_ms() < end)
		cli_fill(&x, fd, &b2);
	if (b2.len != 0)
		fail_msg("refused head: got %zu bytes (%.40s), want no 100 Continue", b2.len, b2.d);
	assert_int_equal(get_resp(&x, fd, &b2, "data", &r), 0);
	expect_status(&r, 200);
	close(fd);
	ctx_finish(&x);
}

static void test_drop(void **state)
{
	struct ctx x;
	struct cbuf b = {0};
	ctx_start(&x, NULL, M_ECHO);
	int fd = cli_connect(x.port);
	cli_sends(&x, fd, "POST /drop HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi");
	assert_true(cli_eof(&x, fd, &b, DEADLINE_MS));
	if (b.len != 0)
		fail_msg("drop: got %zu bytes, want none", b.len);
	assert_int_equal(x.nreq, 1);
	close(fd);

	/* Dropping after a delay (async) behaves the same. */
	struct cbuf b2 = {0};
	x.mode = M_DROP;
	fd = cli_connect(x.port);
	cli_sends(&x, fd, "GET /x HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_true(cli_eof(&x, fd, &b2, DEADLINE_MS));
	assert_int_equal(b2.len, 0);
	close(fd);
	assert_true(wait_for(&x, no_conns, DEADLINE_MS));
	ctx_finish(&x);
}

static int one_conn(struct ctx *x)
{
	return cg_http_server_connections(x->srv) == 1 + (x->held != NULL);
}

static void test_server_close(void **state)
{
	struct ctx x;
	struct cbuf bi = {0}, bb = {0};
	struct resp r;
	ctx_start(&x, NULL, M_ECHO);
	int idle = cli_connect(x.port);
	assert_int_equal(get_resp(&x, idle, &bi, "GET / HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
	/* A busy connection: its request is still with the handler. */
	x.mode = M_ASYNC;
	x.async_ms = 100;
	int busy = cli_connect(x.port);
	cli_sends(&x, busy, "GET /busy HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_true(wait_for(&x, one_conn, DEADLINE_MS));
	assert_non_null(x.held);
	assert_int_equal(cg_http_server_connections(x.srv), 2);

	cg_http_server_close(x.srv, on_closed, &x);
	x.srv = NULL;
	assert_true(cli_eof(&x, idle, &bi, DEADLINE_MS)); /* idle: closed at once */
	assert_false(x.closed);
	assert_int_equal(cli_resp(&x, busy, &bb, &r), 0); /* busy: still answered */
	expect_body(&r, "GET /busy q= h=- from=127.0.0.1 body=");
	assert_non_null(find_ci(r.head, "Connection: close"));
	assert_true(cli_eof(&x, busy, &bb, DEADLINE_MS));
	close(idle);
	close(busy);
	ctx_finish(&x);
	assert_true(x.closed);
}

static void test_create_errors(void **state)
{
	uv_loop_t loop;
	struct cg_http_server *srv = NULL, *s2 = NULL;
	char err[256] = "";
	struct ctx x = {0};
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(cg_http_server_create(&loop, "not-an-ip", 0, NULL, handler, NULL, &srv, err, sizeof(err)),
			 CG_EINVAL);
	assert_null(srv);
	assert_true(strlen(err) > 0);
	/* IPv4: the same port twice fails cleanly. */
	struct cg_http_server *v4 = NULL;
	struct ctx x4 = {0};
	assert_int_equal(cg_http_server_create(&loop, "127.0.0.1", 0, NULL, handler, NULL, &v4, err, sizeof(err)), 0);
	int rc4 = cg_http_server_create(&loop, "127.0.0.1", cg_http_server_port(v4), NULL, handler, NULL, &s2, err,
					sizeof(err));
	if (rc4 == 0)
		fail_msg("second bind to port %d: got 0, want an error", cg_http_server_port(v4));
	assert_null(s2);
	assert_non_null(strstr(err, "listen on 127.0.0.1"));
	cg_http_server_close(v4, on_closed, &x4);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_true(x4.closed);
	/* IPv6 literal, then the same port again (in use). */
	int r = cg_http_server_create(&loop, "::1", 0, NULL, handler, NULL, &srv, err, sizeof(err));
	if (r == 0) {
		assert_true(cg_http_server_port(srv) > 0);
		assert_int_not_equal(cg_http_server_create(&loop, "::1", cg_http_server_port(srv), NULL, handler, NULL,
							   &s2, err, sizeof(err)),
				     0);
		assert_null(s2);
		cg_http_server_close(srv, on_closed, &x);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	if (r == 0)
		assert_true(x.closed);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static struct cg_http_request qreq(const char *q)
{
	struct cg_http_request r;
	memset(&r, 0, sizeof(r));
	r.query = q;
	return r;
}

static void expect_q(const char *query, const char *name, int want_rc, const char *want)
{
	char buf[32];
	struct cg_http_request r = qreq(query);
	int rc = cg_http_query_get(&r, name, buf, sizeof(buf));
	if (rc != want_rc)
		fail_msg("query_get(%s, %s): got rc %d, want %d", query, name, rc, want_rc);
	if (want && strcmp(buf, want) != 0)
		fail_msg("query_get(%s, %s): got '%s', want '%s'", query, name, buf, want);
}

static void test_query_get(void **state)
{
	const char *q = "a=1&b=hello+world&c=%41%2f%e2%82%ac&d&e=%zz%4&na%6De=x&empty=&a=2";
	expect_q(q, "a", 0, "1");
	expect_q(q, "b", 0, "hello world");
	expect_q(q, "c", 0, "A/\xe2\x82\xac");
	expect_q(q, "d", 0, "");
	expect_q(q, "e", 0, "%zz%4");
	expect_q(q, "name", 0, "x");
	expect_q(q, "empty", 0, "");
	expect_q(q, "missing", CG_ENOENT, NULL);
	expect_q(q, "n", CG_ENOENT, NULL);
	expect_q("", "a", CG_ENOENT, NULL);
	expect_q("z=%00", "z", 0, "%00");
	expect_q("long=0123456789012345678901234567890123456789", "long", CG_E2BIG, NULL);
	char one[1];
	struct cg_http_request r = qreq("a=");
	assert_int_equal(cg_http_query_get(&r, "a", one, 1), 0);
	assert_int_equal(one[0], '\0');
	assert_int_equal(cg_http_query_get(&r, "a", one, 0), CG_E2BIG);
}

static void test_reason(void **state)
{
	assert_string_equal(cg_http_reason(404), "Not Found");
	assert_string_equal(cg_http_reason(431), "Request Header Fields Too Large");
	assert_string_equal(cg_http_reason(299), "OK");
	assert_string_equal(cg_http_reason(99), "Unknown");
}

static void test_fuzz_hook(void **state)
{
	const char *in[] = {
		"\x05GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\n\r\nPOST /3 HTTP/1.1\r\nContent-Length: 1\r\n\r\nxGET /4 HTTP/1.1\r\n\r\n",
		"\x01garbage",
		"\x20POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"",
	};
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		int rc = cg_http_fuzz_feed((const uint8_t *)in[i], strlen(in[i]));
		if (rc != 0)
			fail_msg("fuzz_feed #%zu: got %d, want 0", i, rc);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_post_echo),
		cmocka_unit_test(test_keepalive),
		cmocka_unit_test(test_pipeline_sync),
		cmocka_unit_test(test_pipeline_async),
		cmocka_unit_test(test_pipeline_flood),
		cmocka_unit_test(test_pipeline_flood_async),
		cmocka_unit_test(test_output_cap),
		cmocka_unit_test(test_output_total_cap),
		cmocka_unit_test(test_write_stall),
		cmocka_unit_test(test_slow_big_answer),
		cmocka_unit_test(test_async_answer),
		cmocka_unit_test(test_disconnect_reset),
		cmocka_unit_test(test_disconnect_fin),
		cmocka_unit_test(test_orphan_outlives_server),
		cmocka_unit_test(test_413_declared),
		cmocka_unit_test(test_413_chunked),
		cmocka_unit_test(test_431),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_header_timeout),
		cmocka_unit_test(test_idle_timeout),
		cmocka_unit_test(test_max_connections),
		cmocka_unit_test(test_reserved_slots),
		cmocka_unit_test(test_per_address),
		cmocka_unit_test(test_first_byte_timeout),
		cmocka_unit_test(test_continue_hook),
		cmocka_unit_test(test_drop),
		cmocka_unit_test(test_server_close),
		cmocka_unit_test(test_create_errors),
		cmocka_unit_test(test_query_get),
		cmocka_unit_test(test_reason),
		cmocka_unit_test(test_fuzz_hook),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
