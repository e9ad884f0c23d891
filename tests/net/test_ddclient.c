/* test_ddclient.c: the Datadog client against a scripted HTTP/1.1 server on the same libuv loop. */
/* labels: unit */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <uv.h>

#include "ddclient.h"
#include "err.h"
#include "retry.h"

#define API_KEY "0123456789abcdef0123456789abcdef"
#define APP_KEY "fedcba9876543210fedcba9876543210fedcba98"
#define DEADLINE_MS 10000u
#define BIG_BODY (5u * 1024u * 1024u)
#define MAX_RECS 128

/* ---- scripted server ----------------------------------------------------------------------
 * Behaviour by path prefix:
 *   /ok     201 JSON with rate-limit headers (lower-case names)   /plain  200 "{}" no extras
 *   /429    429 with X-RateLimit-Reset: 7 and Retry-After: 3      /date   503, Retry-After date
 *   /hang   never answers                                        /close  closes, no answer
 *   /big    200 with a 5 MiB body
 */
struct rec {
	char method[16];
	char path[128];
	char *head; /* request head, NUL-terminated */
	char *body;
	size_t body_len;
};

struct srv {
	uv_tcp_t tcp;
	int port;
	int accepts;
	int nrec;
	struct rec recs[MAX_RECS];
	struct conn *conns;
	int open; /* handles not yet closed (listener + connections) */
};

struct conn {
	uv_tcp_t tcp;
	struct srv *s;
	char *buf;
	size_t len, cap;
	int closing;
	struct conn *prev, *next;
};

struct wreq {
	uv_write_t w;
	char *data;
};

static void conn_closed(uv_handle_t *h)
{
	struct conn *k = h->data;

	k->s->open--;
	free(k->buf);
	free(k);
}

static void conn_close(struct conn *k)
{
	if (k->closing)
		return;
	k->closing = 1;
	if (k->prev != NULL)
		k->prev->next = k->next;
	else
		k->s->conns = k->next;
	if (k->next != NULL)
		k->next->prev = k->prev;
	uv_close((uv_handle_t *)&k->tcp, conn_closed);
}

static void write_done(uv_write_t *w, int status)
{
	struct wreq *wr = (struct wreq *)w;

	(void)status;
	free(wr->data);
	free(wr);
}

static void send_raw(struct conn *k, char *data, size_t len)
{
	struct wreq *wr = calloc(1, sizeof(*wr));
	uv_buf_t b = uv_buf_init(data, (unsigned)len);

	assert_non_null(wr);
	wr->data = data;
	if (uv_write(&wr->w, (uv_stream_t *)&k->tcp, &b, 1, write_done) != 0) {
		free(data);
		free(wr);
	}
}

static void respond(struct conn *k, int status, const char *reason, const char *extra, const char *body,
		    size_t body_len)
{
	size_t cap = 512 + strlen(extra) + body_len;
	char *out = malloc(cap);
	int n;

	assert_non_null(out);
	n = snprintf(out, cap,
		     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n%s\r\n", status,
		     reason, body_len, extra);
	assert_true(n > 0 && (size_t)n + body_len <= cap);
	memcpy(out + n, body, body_len);
	send_raw(k, out, (size_t)n + body_len);
}

/* Value of header name in a request head (case-insensitive), copied to buf; 0 or -1. */
static int head_get(const char *head, const char *name, char *buf, size_t buflen)
{
	size_t nl = strlen(name);

	for (const char *p = strstr(head, "\r\n"); p != NULL; p = strstr(p, "\r\n")) {
		p += 2;
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1, *e;

			while (*v == ' ')
				v++;
			e = strstr(v, "\r\n");
			if (e == NULL || (size_t)(e - v) >= buflen)
				return -1;
			memcpy(buf, v, (size_t)(e - v));
			buf[e - v] = '\0';
			return 0;
		}
	}
	return -1;
}

static void handle_request(struct conn *k, struct rec *r)
{
	struct srv *s = k->s;

	if (strncmp(r->path, "/ok", 3) == 0) {
		char body[64];
		int n = snprintf(body, sizeof(body), "{\"data\":{\"id\":\"case-%d\"}}", s->nrec);

		respond(k, 201, "Created",
			"x-ratelimit-limit: 1000\r\nX-RATELIMIT-PERIOD: 60\r\nx-ratelimit-remaining: 999\r\n"
			"X-RateLimit-Reset:   42  \r\n",
			body, (size_t)n);
	} else if (strncmp(r->path, "/plain", 6) == 0) {
		respond(k, 200, "OK", "", "{}", 2);
	} else if (strncmp(r->path, "/429", 4) == 0) {
		respond(k, 429, "Too Many Requests",
			"X-RateLimit-Limit: 100\r\nX-RateLimit-Period: 10\r\nX-RateLimit-Remaining: 0\r\n"
			"X-RateLimit-Reset: 7\r\nRetry-After: 3\r\n",
			"{\"errors\":[\"rate limited\"]}", 27);
	} else if (strncmp(r->path, "/date", 5) == 0) {
		char extra[128], date[64];
		time_t t = time(NULL) + 120;
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		snprintf(extra, sizeof(extra), "Retry-After: %s\r\n", date);
		respond(k, 503, "Service Unavailable", extra, "{}", 2);
	} else if (strncmp(r->path, "/close", 6) == 0) {
		conn_close(k);
	} else if (strncmp(r->path, "/big", 4) == 0) {
		char *body = malloc(BIG_BODY);

		assert_non_null(body);
		memset(body, 'x', BIG_BODY);
		respond(k, 200, "OK", "", body, BIG_BODY);
		free(body);
	}
	/* /hang: nothing. */
}

/* Parses as many complete requests as the buffer holds. */
static void conn_process(struct conn *k)
{
	for (;;) {
		char *end, cl[32];
		size_t head_len, body_len = 0;
		struct rec *r;

		if (k->closing || k->len == 0)
			return;
		k->buf[k->len] = '\0';
		end = strstr(k->buf, "\r\n\r\n");
		if (end == NULL)
			return;
		head_len = (size_t)(end - k->buf) + 4;
		k->buf[head_len - 2] = '\0'; /* head ends with one CRLF */
		if (head_get(k->buf, "Content-Length", cl, sizeof(cl)) == 0)
			body_len = strtoul(cl, NULL, 10);
		k->buf[head_len - 2] = '\r';
		if (k->len < head_len + body_len)
			return;
		assert_true(k->s->nrec < MAX_RECS);
		r = &k->s->recs[k->s->nrec++];
		memset(r, 0, sizeof(*r));
		r->head = strndup(k->buf, head_len - 2);
		r->body = strndup(k->buf + head_len, body_len);
		r->body_len = body_len;
		assert_non_null(r->head);
		assert_non_null(r->body);
		assert_int_equal(sscanf(r->head, "%15s %127s", r->method, r->path), 2);
		memmove(k->buf, k->buf + head_len + body_len, k->len - head_len - body_len);
		k->len -= head_len + body_len;
		handle_request(k, r);
	}
}

static void conn_alloc(uv_handle_t *h, size_t sug, uv_buf_t *b)
{
	struct conn *k = h->data;

	(void)sug;
	if (k->cap - k->len < 4097) {
		size_t cap = k->cap ? k->cap * 2 : 8192;
		char *nb = realloc(k->buf, cap);

		assert_non_null(nb);
		k->buf = nb;
		k->cap = cap;
	}
	*b = uv_buf_init(k->buf + k->len, (unsigned)(k->cap - k->len - 1));
}

static void conn_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	struct conn *k = st->data;

	(void)b;
	if (n < 0) {
		conn_close(k);
		return;
	}
	k->len += (size_t)n;
	conn_process(k);
}

static void on_accept(uv_stream_t *ls, int status)
{
	struct srv *s = ls->data;
	struct conn *k;

	assert_int_equal(status, 0);
	k = calloc(1, sizeof(*k));
	assert_non_null(k);
	k->s = s;
	assert_int_equal(uv_tcp_init(ls->loop, &k->tcp), 0);
	k->tcp.data = k;
	s->open++;
	k->next = s->conns;
	if (s->conns != NULL)
		s->conns->prev = k;
	s->conns = k;
	if (uv_accept(ls, (uv_stream_t *)&k->tcp) != 0) {
		conn_close(k);
		return;
	}
	s->accepts++;
	assert_int_equal(uv_read_start((uv_stream_t *)&k->tcp, conn_alloc, conn_read), 0);
}

static void srv_listener_closed(uv_handle_t *h)
{
	struct srv *s = h->data;

	s->open--;
}

static void srv_start(uv_loop_t *loop, struct srv *s)
{
	struct sockaddr_in a;
	struct sockaddr_storage got;
	int len = sizeof(got);

	memset(s, 0, sizeof(*s));
	assert_int_equal(uv_tcp_init(loop, &s->tcp), 0);
	s->tcp.data = s;
	s->open = 1;
	assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &a), 0);
	assert_int_equal(uv_tcp_bind(&s->tcp, (const struct sockaddr *)&a, 0), 0);
	assert_int_equal(uv_listen((uv_stream_t *)&s->tcp, 128, on_accept), 0);
	assert_int_equal(uv_tcp_getsockname(&s->tcp, (struct sockaddr *)&got, &len), 0);
	s->port = ntohs(((struct sockaddr_in *)&got)->sin_port);
}

static void srv_stop(struct srv *s)
{
	while (s->conns != NULL)
		conn_close(s->conns);
	if (!uv_is_closing((uv_handle_t *)&s->tcp))
		uv_close((uv_handle_t *)&s->tcp, srv_listener_closed);
	for (int i = 0; i < s->nrec; i++) {
		free(s->recs[i].head);
		free(s->recs[i].body);
	}
	s->nrec = 0;
}

/* ---- fixture ------------------------------------------------------------------------------ */

struct got {
	int called;
	int transport_error, maybe_sent;
	long status;
	char errmsg[256];
	char *body;
	size_t body_len;
	long rl_limit, rl_period, rl_remaining, rl_reset, retry_after;
	double elapsed;
};

struct env {
	uv_loop_t loop;
	struct srv srv;
	uv_timer_t wd;
	int expired;
	struct cg_dd_client *c;
	int closed; /* on_closed calls */
	char base[64];
};

static void got_fill(struct got *g, const struct cg_dd_result *res)
{
	g->called++;
	g->transport_error = res->transport_error;
	g->maybe_sent = res->maybe_sent;
	g->status = res->status;
	snprintf(g->errmsg, sizeof(g->errmsg), "%s", res->errmsg);
	free(g->body);
	g->body = malloc(res->body_len + 1);
	assert_non_null(g->body);
	memcpy(g->body, res->body, res->body_len + 1);
	g->body_len = res->body_len;
	g->rl_limit = res->ratelimit_limit;
	g->rl_period = res->ratelimit_period;
	g->rl_remaining = res->ratelimit_remaining;
	g->rl_reset = res->ratelimit_reset;
	g->retry_after = res->retry_after;
	g->elapsed = res->elapsed_s;
}

static void on_done(const struct cg_dd_result *res, void *ud)
{
	got_fill(ud, res);
}

static void on_closed(void *ud)
{
	struct env *e = ud;

	e->closed++;
}

static void wd_fire(uv_timer_t *t)
{
	struct env *e = t->data;

	e->expired = 1;
}

/* Runs the loop until *flag >= want or the deadline passes; returns 1 when reached. */
static int run_until(struct env *e, const int *flag, int want)
{
	e->expired = 0;
	assert_int_equal(uv_timer_start(&e->wd, wd_fire, DEADLINE_MS, 0), 0);
	while (*flag < want && !e->expired)
		uv_run(&e->loop, UV_RUN_ONCE);
	uv_timer_stop(&e->wd);
	if (*flag < want)
		fprintf(stderr, "deadline: got %d, want %d\n", *flag, want);
	return *flag >= want;
}

static struct cg_dd_client *mk_client(struct env *e, const char *base, unsigned timeout_ms, unsigned maxconn)
{
	struct cg_dd_opts o = {0};
	struct cg_dd_client *c = NULL;
	char err[256] = "";
	int rc;

	o.base_url = base;
	o.api_key = API_KEY;
	o.app_key = APP_KEY;
	o.timeout_ms = timeout_ms;
	o.connect_timeout_ms = 2000;
	o.max_connections = maxconn;
	rc = cg_dd_client_create(&e->loop, &o, &c, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "create: got %d (%s), want 0\n", rc, err);
	assert_int_equal(rc, 0);
	assert_non_null(c);
	return c;
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	assert_int_equal(uv_loop_init(&e->loop), 0);
	srv_start(&e->loop, &e->srv);
	assert_int_equal(uv_timer_init(&e->loop, &e->wd), 0);
	e->wd.data = e;
	snprintf(e->base, sizeof(e->base), "http://127.0.0.1:%d", e->srv.port);
	e->c = mk_client(e, e->base, 5000, 4);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	int rc;

	if (e->c != NULL) {
		int want = e->closed + 1;

		cg_dd_client_destroy(e->c, on_closed, e);
		e->c = NULL;
		assert_true(run_until(e, &e->closed, want));
	}
	srv_stop(&e->srv);
	/* Wait for the server handles to close: open counts down to zero. */
	e->expired = 0;
	uv_timer_start(&e->wd, wd_fire, DEADLINE_MS, 0);
	while (e->srv.open > 0 && !e->expired)
		uv_run(&e->loop, UV_RUN_ONCE);
	assert_int_equal(e->srv.open, 0);
	uv_close((uv_handle_t *)&e->wd, NULL);
	uv_run(&e->loop, UV_RUN_NOWAIT);
	rc = uv_loop_close(&e->loop);
	if (rc != 0) {
		fprintf(stderr, "uv_loop_close: got %s, want 0; open handles:\n", uv_err_name(rc));
		uv_print_all_handles(&e->loop, stderr);
	}
	assert_int_equal(rc, 0);
	free(e);
	return 0;
}

static void got_free(struct got *g, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(g[i].body);
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_site_url(void **state)
{
	static const struct {
		const char *site, *want;
	} cases[] = {
		{"datadoghq.com", "https://api.datadoghq.com"},
		{"app.datadoghq.com", "https://api.datadoghq.com"},
		{"us3.datadoghq.com", "https://api.us3.datadoghq.com"},
		{"us5.datadoghq.com", "https://api.us5.datadoghq.com"},
		{"datadoghq.eu", "https://api.datadoghq.eu"},
		{"app.datadoghq.eu", "https://api.datadoghq.eu"},
		{"ap1.datadoghq.com", "https://api.ap1.datadoghq.com"},
		{"ap2.datadoghq.com", "https://api.ap2.datadoghq.com"},
		{"ddog-gov.com", "https://api.ddog-gov.com"},
		{"app.ddog-gov.com", "https://api.ddog-gov.com"},
		{"us2.ddog-gov.com", "https://api.us2.ddog-gov.com"},
		{"uk1.datadoghq.com", "https://api.uk1.datadoghq.com"},
		{"DatadogHQ.com", "https://api.datadoghq.com"},
		{"evil.com", NULL},
		{"datadoghq.com.evil.com", NULL},
		{"api.datadoghq.com", NULL},
		{"app.", NULL},
		{"", NULL},
	};
	int bad = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[64] = "";
		int rc = cg_dd_site_url(cases[i].site, buf, sizeof(buf));

		if (cases[i].want == NULL && rc != CG_EINVAL) {
			fprintf(stderr, "site %s: got rc %d (%s), want CG_EINVAL\n", cases[i].site, rc, buf);
			bad++;
		} else if (cases[i].want != NULL && (rc != 0 || strcmp(buf, cases[i].want) != 0)) {
			fprintf(stderr, "site %s: got rc %d \"%s\", want \"%s\"\n", cases[i].site, rc, buf,
				cases[i].want);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
	char small[10];
	assert_int_equal(cg_dd_site_url("datadoghq.com", small, sizeof(small)), CG_E2BIG);
	assert_int_equal(cg_dd_site_url(NULL, small, sizeof(small)), CG_EINVAL);
}

static void test_create_invalid(void **state)
{
	struct env *e = *state;
	struct cg_dd_opts o = {0};
	struct cg_dd_client *c = NULL;
	char err[128] = "";

	o.base_url = "ftp://example.com";
	assert_int_equal(cg_dd_client_create(&e->loop, &o, &c, err, sizeof(err)), CG_EINVAL);
	assert_null(c);
	assert_true(err[0] != '\0');
	o.base_url = e->base;
	o.api_key = "abc\r\nX-Injected: 1";
	err[0] = '\0';
	assert_int_equal(cg_dd_client_create(&e->loop, &o, &c, err, sizeof(err)), CG_EINVAL);
	assert_null(c);
	/* The error text never echoes the key. */
	assert_null(strstr(err, "abc"));
	o.api_key = NULL;
	o.base_url = NULL;
	assert_int_equal(cg_dd_client_create(&e->loop, &o, &c, err, sizeof(err)), CG_EINVAL);
	/* Bad requests are refused up front, without a callback. */
	struct got g = {0};
	assert_int_equal(cg_dd_request(e->c, "post", "/ok", NULL, 0, on_done, &g), CG_EINVAL);
	assert_int_equal(cg_dd_request(e->c, "POST", "ok", NULL, 0, on_done, &g), CG_EINVAL);
	assert_int_equal(cg_dd_request(e->c, "POST", "/ok HTTP/1.1\r\nX: y", NULL, 0, on_done, &g), CG_EINVAL);
	assert_int_equal(cg_dd_inflight(e->c), 0);
	assert_int_equal(g.called, 0);
}

static void test_created_headers_ratelimit(void **state)
{
	struct env *e = *state;
	static const char body[] = "{\"data\":{\"type\":\"case\",\"attributes\":{\"title\":\"disk full\"}}}";
	struct got g = {0};
	struct rec *r;
	char v[128];

	assert_int_equal(cg_dd_request(e->c, "POST", "/ok/api/v2/cases?x=1", body, strlen(body), on_done, &g), 0);
	assert_int_equal(cg_dd_inflight(e->c), 1);
	assert_true(run_until(e, &g.called, 1));
	assert_int_equal(g.called, 1);
	assert_int_equal(cg_dd_inflight(e->c), 0);
	if (g.transport_error != 0)
		fprintf(stderr, "got transport error %d (%s), want none\n", g.transport_error, g.errmsg);
	assert_int_equal(g.transport_error, 0);
	assert_int_equal(g.status, 201);
	assert_string_equal(g.body, "{\"data\":{\"id\":\"case-1\"}}");
	assert_int_equal(g.body_len, strlen(g.body));
	assert_int_equal(g.rl_limit, 1000);
	assert_int_equal(g.rl_period, 60);
	assert_int_equal(g.rl_remaining, 999);
	assert_int_equal(g.rl_reset, 42);
	assert_int_equal(g.retry_after, -1);
	assert_true(g.elapsed > 0 && g.elapsed < 5);
	assert_int_equal(cg_retry_classify(g.transport_error, g.status), CG_DELIVERED);

	/* What the server saw. */
	assert_int_equal(e->srv.nrec, 1);
	r = &e->srv.recs[0];
	assert_string_equal(r->method, "POST");
	assert_string_equal(r->path, "/ok/api/v2/cases?x=1");
	assert_int_equal(r->body_len, strlen(body));
	assert_memory_equal(r->body, body, strlen(body));
	assert_int_equal(head_get(r->head, "DD-API-KEY", v, sizeof(v)), 0);
	assert_string_equal(v, API_KEY);
	assert_int_equal(head_get(r->head, "DD-APPLICATION-KEY", v, sizeof(v)), 0);
	assert_string_equal(v, APP_KEY);
	assert_int_equal(head_get(r->head, "Content-Type", v, sizeof(v)), 0);
	assert_string_equal(v, "application/json");
	assert_int_equal(head_get(r->head, "Accept", v, sizeof(v)), 0);
	assert_string_equal(v, "application/json");
	assert_int_equal(head_get(r->head, "User-Agent", v, sizeof(v)), 0);
	assert_string_equal(v, "casegate/0.1");
	assert_int_equal(head_get(r->head, "Expect", v, sizeof(v)), -1);
	assert_true(strstr(r->head, "HTTP/1.1") != NULL);
	got_free(&g, 1);
}

static void test_reuse_and_methods(void **state)
{
	struct env *e = *state;
	struct got g[3] = {{0}};

	assert_int_equal(cg_dd_request(e->c, "GET", "/plain/a", NULL, 0, on_done, &g[0]), 0);
	assert_true(run_until(e, &g[0].called, 1));
	assert_int_equal(cg_dd_request(e->c, "PATCH", "/plain/b", "{\"a\":1}", 7, on_done, &g[1]), 0);
	assert_true(run_until(e, &g[1].called, 1));
	assert_int_equal(cg_dd_request(e->c, "DELETE", "/plain/c", NULL, 0, on_done, &g[2]), 0);
	assert_true(run_until(e, &g[2].called, 1));
	for (int i = 0; i < 3; i++) {
		assert_int_equal(g[i].transport_error, 0);
		assert_int_equal(g[i].status, 200);
		assert_string_equal(g[i].body, "{}");
		/* No rate-limit headers: all -1. */
		assert_int_equal(g[i].rl_limit, -1);
		assert_int_equal(g[i].rl_period, -1);
		assert_int_equal(g[i].rl_remaining, -1);
		assert_int_equal(g[i].rl_reset, -1);
		assert_int_equal(g[i].retry_after, -1);
	}
	assert_int_equal(e->srv.nrec, 3);
	assert_string_equal(e->srv.recs[0].method, "GET");
	assert_int_equal(e->srv.recs[0].body_len, 0);
	assert_string_equal(e->srv.recs[1].method, "PATCH");
	assert_string_equal(e->srv.recs[1].body, "{\"a\":1}");
	assert_string_equal(e->srv.recs[2].method, "DELETE");
	/* Three sequential requests, one TCP connection. */
	if (e->srv.accepts != 1)
		fprintf(stderr, "accepts: got %d, want 1\n", e->srv.accepts);
	assert_int_equal(e->srv.accepts, 1);
	got_free(g, 3);
}

static void test_429(void **state)
{
	struct env *e = *state;
	struct got g = {0};
	uint64_t d;

	assert_int_equal(cg_dd_request(e->c, "POST", "/429", "{}", 2, on_done, &g), 0);
	assert_true(run_until(e, &g.called, 1));
	assert_int_equal(g.transport_error, 0);
	assert_int_equal(g.status, 429);
	assert_string_equal(g.body, "{\"errors\":[\"rate limited\"]}");
	assert_int_equal(g.rl_limit, 100);
	assert_int_equal(g.rl_period, 10);
	assert_int_equal(g.rl_remaining, 0);
	assert_int_equal(g.rl_reset, 7);
	assert_int_equal(g.retry_after, 3);
	assert_int_equal(cg_retry_classify(g.transport_error, g.status), CG_RETRY_LATER);
	d = cg_ratelimit_delay_ms(g.rl_reset, g.retry_after, 1, 1000, 60000, 12345);
	assert_true(d >= 7000 && d <= 8000);
	got_free(&g, 1);
}

static void test_retry_after_date(void **state)
{
	struct env *e = *state;
	struct got g = {0};

	assert_int_equal(cg_dd_request(e->c, "POST", "/date", "{}", 2, on_done, &g), 0);
	assert_true(run_until(e, &g.called, 1));
	assert_int_equal(g.status, 503);
	if (g.retry_after < 110 || g.retry_after > 121)
		fprintf(stderr, "retry_after: got %ld, want about 120\n", g.retry_after);
	assert_true(g.retry_after >= 110 && g.retry_after <= 121);
	assert_int_equal(g.rl_reset, -1);
	got_free(&g, 1);
}

static void test_timeout(void **state)
{
	struct env *e = *state;
	struct cg_dd_client *c = mk_client(e, e->base, 300, 2);
	struct got g = {0};

	assert_int_equal(cg_dd_request(c, "POST", "/hang", "{}", 2, on_done, &g), 0);
	assert_true(run_until(e, &g.called, 1));
	assert_int_equal(g.transport_error, CURLE_OPERATION_TIMEDOUT);
	assert_int_equal(g.status, 0);
	assert_int_equal(g.maybe_sent, 1);
	assert_int_equal(e->srv.nrec, 1); /* the server did get it */
	assert_true(g.elapsed >= 0.25);
	assert_true(g.errmsg[0] != '\0');
	assert_int_equal(cg_retry_classify(g.transport_error, g.status), CG_RETRY_LATER);
	cg_dd_client_destroy(c, on_closed, e);
	assert_true(run_until(e, &e->closed, 1));
	got_free(&g, 1);
}

static void test_closed_without_answer(void **state)
{
	struct env *e = *state;
	struct got g = {0};

	assert_int_equal(cg_dd_request(e->c, "POST", "/close", "{}", 2, on_done, &g), 0);
	assert_true(run_until(e, &g.called, 1));
	if (g.transport_error != CURLE_GOT_NOTHING)
		fprintf(stderr, "got %d (%s), want CURLE_GOT_NOTHING\n", g.transport_error, g.errmsg);
	assert_int_equal(g.transport_error, CURLE_GOT_NOTHING);
	assert_int_equal(g.status, 0);
	assert_int_equal(g.maybe_sent, 1);
	assert_int_equal(e->srv.nrec, 1);
	got_free(&g, 1);
}

static void test_refused(void **state)
{
	struct env *e = *state;
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	char base[64];
	struct got g = {0};
	struct cg_dd_client *c;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	/* A port that was free a moment ago and has no listener. */
	assert_true(fd >= 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	close(fd);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", ntohs(a.sin_port));
	c = mk_client(e, base, 3000, 2);
	assert_int_equal(cg_dd_request(c, "POST", "/ok", "{}", 2, on_done, &g), 0);
	assert_true(run_until(e, &g.called, 1));
	assert_int_equal(g.transport_error, CURLE_COULDNT_CONNECT);
	assert_int_equal(g.maybe_sent, 0);
	assert_int_equal(g.status, 0);
	cg_dd_client_destroy(c, on_closed, e);
	assert_true(run_until(e, &e->closed, 1));
	got_free(&g, 1);
}

static void test_body_cap(void **state)
{
	struct env *e = *state;
	struct got g = {0};

	assert_int_equal(cg_dd_request(e->c, "GET", "/big", NULL, 0, on_done, &g), 0);
	assert_true(run_until(e, &g.called, 1));
	assert_int_equal(g.transport_error, CURLE_WRITE_ERROR);
	assert_int_equal(g.maybe_sent, 1);
	assert_int_equal(g.body_len, 0);
	if (strstr(g.errmsg, "limit") == NULL)
		fprintf(stderr, "errmsg: got \"%s\", want a message about the limit\n", g.errmsg);
	assert_non_null(strstr(g.errmsg, "limit"));
	got_free(&g, 1);
}

static int count_called(const struct got *g, size_t n)
{
	int k = 0;

	for (size_t i = 0; i < n; i++)
		k += g[i].called;
	return k;
}

static void test_concurrent(void **state)
{
	struct env *e = *state;
	enum { N = 50 };
	struct got g[N];
	int done = 0, ok = 0;

	memset(g, 0, sizeof(g));
	for (int i = 0; i < N; i++)
		assert_int_equal(cg_dd_request(e->c, "POST", "/ok", "{}", 2, on_done, &g[i]), 0);
	assert_int_equal(cg_dd_inflight(e->c), N);
	e->expired = 0;
	uv_timer_start(&e->wd, wd_fire, DEADLINE_MS, 0);
	while ((done = count_called(g, N)) < N && !e->expired)
		uv_run(&e->loop, UV_RUN_ONCE);
	uv_timer_stop(&e->wd);
	for (int i = 0; i < N; i++) {
		if (g[i].called == 1 && g[i].transport_error == 0 && g[i].status == 201)
			ok++;
		else if (g[i].called)
			fprintf(stderr, "request %d: got called=%d error=%d (%s) status=%ld, want 201\n", i,
				g[i].called, g[i].transport_error, g[i].errmsg, g[i].status);
	}
	if (ok != N)
		fprintf(stderr, "concurrent: got %d ok (%d done), want %d\n", ok, done, N);
	assert_int_equal(ok, N);
	assert_int_equal(e->srv.nrec, N);
	assert_int_equal(cg_dd_inflight(e->c), 0);
	/* max_connections 4 holds across 50 requests. */
	if (e->srv.accepts < 1 || e->srv.accepts > 4)
		fprintf(stderr, "accepts: got %d, want 1..4\n", e->srv.accepts);
	assert_true(e->srv.accepts >= 1 && e->srv.accepts <= 4);
	got_free(g, N);
}

static void on_done_abort(const struct cg_dd_result *res, void *ud)
{
	struct got *g = ud;

	got_fill(g, res);
}

static void test_destroy_inflight(void **state)
{
	struct env *e = *state;
	struct cg_dd_client *c = mk_client(e, e->base, 10000, 3);
	enum { N = 8 };
	struct got g[N];
	int sent = 0, unsent = 0;

	memset(g, 0, sizeof(g));
	for (int i = 0; i < N; i++)
		assert_int_equal(cg_dd_request(c, "POST", "/hang", "{}", 2, on_done_abort, &g[i]), 0);
	/* Wait until the three connections carry a request each; five stay queued in curl. */
	assert_true(run_until(e, &e->srv.nrec, 3));
	assert_int_equal(count_called(g, N), 0);
	cg_dd_client_destroy(c, on_closed, e);
	/* Callbacks ran synchronously, before destroy returned. */
	assert_int_equal(count_called(g, N), N);
	for (int i = 0; i < N; i++) {
		assert_int_equal(g[i].called, 1);
		assert_int_equal(g[i].transport_error, CURLE_ABORTED_BY_CALLBACK);
		assert_int_equal(g[i].status, 0);
		if (g[i].maybe_sent)
			sent++;
		else
			unsent++;
	}
	if (sent != 3 || unsent != 5)
		fprintf(stderr, "maybe_sent: got %d sent / %d unsent, want 3 / 5\n", sent, unsent);
	assert_int_equal(sent, 3);
	assert_int_equal(unsent, 5);
	assert_int_equal(e->closed, 0); /* on_closed only after the handles closed */
	assert_true(run_until(e, &e->closed, 1));
	assert_int_equal(e->closed, 1);
	got_free(g, N);
}

/* Destroying the client from inside a done callback while other requests are pending. */
struct reenter {
	struct env *e;
	struct cg_dd_client *c;
	struct got first;
	struct got others[4];
	int again_rc;
};

static void on_done_destroy(const struct cg_dd_result *res, void *ud)
{
	struct reenter *x = ud;

	got_fill(&x->first, res);
	cg_dd_client_destroy(x->c, on_closed, x->e);
	/* A second destroy and new requests are refused, not crashes. */
	cg_dd_client_destroy(x->c, on_closed, x->e);
	x->again_rc = cg_dd_request(x->c, "GET", "/plain", NULL, 0, on_done, &x->others[0]);
}

static void test_destroy_from_callback(void **state)
{
	struct env *e = *state;
	struct reenter x;

	memset(&x, 0, sizeof(x));
	x.e = e;
	x.c = mk_client(e, e->base, 10000, 4);
	for (int i = 1; i < 4; i++)
		assert_int_equal(cg_dd_request(x.c, "POST", "/hang", "{}", 2, on_done, &x.others[i]), 0);
	assert_true(run_until(e, &e->srv.nrec, 3));
	assert_int_equal(cg_dd_request(x.c, "GET", "/plain", NULL, 0, on_done_destroy, &x), 0);
	assert_true(run_until(e, &e->closed, 1));
	assert_int_equal(x.first.called, 1);
	assert_int_equal(x.first.status, 200);
	assert_int_equal(x.again_rc, CG_ECLOSED);
	assert_int_equal(x.others[0].called, 0);
	for (int i = 1; i < 4; i++) {
		assert_int_equal(x.others[i].called, 1);
		assert_int_equal(x.others[i].transport_error, CURLE_ABORTED_BY_CALLBACK);
		assert_int_equal(x.others[i].maybe_sent, 1);
	}
	assert_int_equal(e->closed, 1);
	got_free(&x.first, 1);
	got_free(x.others, 4);
}

static void test_destroy_idle_and_null(void **state)
{
	struct env *e = *state;
	struct cg_dd_client *c = mk_client(e, e->base, 1000, 1);

	cg_dd_client_destroy(NULL, on_closed, e);
	cg_dd_client_destroy(c, on_closed, e);
	assert_int_equal(e->closed, 0);
	assert_true(run_until(e, &e->closed, 1));
	assert_int_equal(e->closed, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_site_url),
		cmocka_unit_test_setup_teardown(test_create_invalid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_created_headers_ratelimit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reuse_and_methods, setup, teardown),
		cmocka_unit_test_setup_teardown(test_429, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retry_after_date, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_closed_without_answer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_body_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_destroy_inflight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_destroy_from_callback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_destroy_idle_and_null, setup, teardown),
	};
	int rc;

	if (cg_dd_global_init() != 0)
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	cg_dd_global_cleanup();
	return rc;
}
