/* test_fetch.c: the small HTTPS GET client against casegate's own TLS server on the same loop: bodies, the size cap, https only, no redirects followed, untrusted servers refused, destroy ends what is in flight. */
/* labels: unit */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "err.h"
#include "fetch.h"
#include "harness.h"
#include "http.h"
#include "tls.h"

static char *dir, *ca;

static int setup(void **state)
{
	(void)state;
	dir = cg_h_tmpdir("fetch");
	char *cmd = cg_h_fmt("cd '%s' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
			     "-keyout srv.key -out srv.pem -days 2 -subj /CN=localhost "
			     "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 >/dev/null 2>&1",
			     dir);
	int rc = system(cmd);
	free(cmd);
	if (rc != 0)
		fail_msg("openssl could not make a test certificate (rc %d)", rc);
	ca = cg_h_fmt("%s/srv.pem", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	cg_h_rmrf(dir);
	free(dir);
	free(ca);
	return 0;
}

struct peer {
	uv_loop_t loop;
	struct cg_tls_ctx *tls;
	struct cg_http_server *srv;
	int port, closed, nreq;
	struct cg_http_request *held;
	char auth_seen[64];
};

static void peer_handle(struct cg_http_request *req, void *ud)
{
	struct peer *p = ud;
	p->nreq++;
	const char *auth = cg_http_header_get(req, "Authorization");
	snprintf(p->auth_seen, sizeof(p->auth_seen), "%s", auth ? auth : "");
	if (strcmp(req->path, "/hang") == 0) {
		p->held = req;
		return;
	}
	if (strcmp(req->path, "/moved") == 0) {
		struct cg_http_header loc = {.name = "Location", .value = "/cert.pem"};
		cg_http_respond(req, 302, "text/plain", "", 0, &loc, 1);
		return;
	}
	if (strcmp(req->path, "/big") == 0) {
		static char big[5000];
		memset(big, 'b', sizeof(big));
		cg_http_respond(req, 200, "text/plain", big, sizeof(big), NULL, 0);
		return;
	}
	cg_http_respond(req, 200, "text/plain", "-----BEGIN CERTIFICATE-----", 27, NULL, 0);
}

static void peer_closed(void *ud)
{
	((struct peer *)ud)->closed = 1;
}

static void peer_start(struct peer *p)
{
	memset(p, 0, sizeof(*p));
	assert_int_equal(uv_loop_init(&p->loop), 0);
	char err[256] = "";
	char *key = cg_h_fmt("%s/srv.key", dir);
	assert_int_equal(cg_tls_ctx_create(ca, key, &p->tls, err, sizeof(err)), 0);
	free(key);
	assert_int_equal(cg_http_server_create(&p->loop, "127.0.0.1", 0, NULL, peer_handle, p, &p->srv, err, sizeof(err)),
			 0);
	cg_http_server_use_tls(p->srv, p->tls);
	p->port = cg_http_server_port(p->srv);
}

static void peer_stop(struct peer *p)
{
	if (p->held)
		cg_http_drop(p->held);
	cg_http_server_close(p->srv, peer_closed, p);
	while (!p->closed)
		uv_run(&p->loop, UV_RUN_ONCE);
	cg_tls_ctx_destroy(p->tls);
	uv_run(&p->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&p->loop), 0);
}

struct got {
	int n, rc;
	long status;
	char body[128];
	size_t len;
	char errmsg[256];
};

static void got_done(int rc, long status, const char *body, size_t len, const char *errmsg, void *ud)
{
	struct got *g = ud;
	g->n++;
	g->rc = rc;
	g->status = status;
	g->len = len;
	snprintf(g->body, sizeof(g->body), "%.*s", (int)(len < 100 ? len : 100), body ? body : "");
	snprintf(g->errmsg, sizeof(g->errmsg), "%s", errmsg ? errmsg : "");
}

static void run_until(struct peer *p, const int *flag, int want)
{
	for (int i = 0; i < 200000 && *flag < want; i++)
		uv_run(&p->loop, UV_RUN_ONCE);
	assert_int_equal(*flag, want);
}

static void fetch_closed(void *ud)
{
	(*(int *)ud)++;
}

static void destroy(struct peer *p, struct cg_fetch *f)
{
	int closed = 0;
	cg_fetch_destroy(f, fetch_closed, &closed);
	run_until(p, &closed, 1);
}

static void test_get(void **state)
{
	(void)state;
	struct peer p;
	peer_start(&p);
	struct cg_fetch *f = NULL;
	assert_int_equal(cg_fetch_create(&p.loop, NULL, ca, &f), 0);
	struct got g = {0};
	char *url = cg_h_fmt("https://localhost:%d/cert.pem", p.port);
	assert_int_equal(cg_fetch_get(f, url, NULL, got_done, &g), 0);
	assert_int_equal(g.n, 0); /* never from inside the call */
	run_until(&p, &g.n, 1);
	if (g.rc != 0)
		fail_msg("fetch: rc %d (%s)", g.rc, g.errmsg);
	assert_int_equal(g.status, 200);
	assert_string_equal(g.body, "-----BEGIN CERTIFICATE-----");
	assert_string_equal(p.auth_seen, ""); /* no credentials, ever */
	free(url);

	/* A redirect is an answer, not followed. */
	struct got r = {0};
	url = cg_h_fmt("https://localhost:%d/moved", p.port);
	assert_int_equal(cg_fetch_get(f, url, NULL, got_done, &r), 0);
	run_until(&p, &r.n, 1);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.status, 302);
	assert_int_equal(p.nreq, 2);
	free(url);

	/* Over the cap: an error, not a truncated body. */
	struct got b = {0};
	url = cg_h_fmt("https://localhost:%d/big", p.port);
	struct cg_fetch_opts small = {.max_bytes = 4096};
	assert_int_equal(cg_fetch_get(f, url, &small, got_done, &b), 0);
	run_until(&p, &b.n, 1);
	assert_int_equal(b.rc, CG_E2BIG);
	struct cg_fetch_opts roomy = {.max_bytes = 5000};
	struct got b2 = {0};
	assert_int_equal(cg_fetch_get(f, url, &roomy, got_done, &b2), 0);
	run_until(&p, &b2.n, 1);
	assert_int_equal(b2.rc, 0);
	assert_int_equal(b2.len, 5000);
	free(url);

	/* https only: a plain http:// URL fails without a connection (curl's protocol list). */
	struct got h = {0};
	url = cg_h_fmt("http://localhost:%d/cert.pem", p.port);
	assert_int_equal(cg_fetch_get(f, url, NULL, got_done, &h), 0);
	run_until(&p, &h.n, 1);
	assert_int_equal(h.rc, CG_EIO);
	if (!strstr(h.errmsg, "http") || !strstr(h.errmsg, "not supported"))
		fail_msg("http:// fetch: \"%s\", want curl's protocol refusal", h.errmsg);
	free(url);

	destroy(&p, f);
	peer_stop(&p);
}

/* Without the test CA the server is not trusted (the system store does not know it). */
static void test_untrusted(void **state)
{
	(void)state;
	struct peer p;
	peer_start(&p);
	struct cg_fetch *f = NULL;
	assert_int_equal(cg_fetch_create(&p.loop, NULL, NULL, &f), 0);
	struct got g = {0};
	char *url = cg_h_fmt("https://localhost:%d/cert.pem", p.port);
	assert_int_equal(cg_fetch_get(f, url, NULL, got_done, &g), 0);
	run_until(&p, &g.n, 1);
	assert_int_equal(g.rc, CG_EIO);
	assert_true(g.errmsg[0] != '\0');
	/* The per-fetch trust store makes the same server fine. */
	struct got g2 = {0};
	struct cg_fetch_opts o = {.ca_file = ca};
	assert_int_equal(cg_fetch_get(f, url, &o, got_done, &g2), 0);
	run_until(&p, &g2.n, 1);
	assert_int_equal(g2.rc, 0);
	assert_int_equal(g2.status, 200);
	free(url);
	destroy(&p, f);
	peer_stop(&p);
}

/* Destroy ends a transfer in flight at once: its done runs once, with CG_ECLOSED. */
static void test_destroy_in_flight(void **state)
{
	(void)state;
	struct peer p;
	peer_start(&p);
	struct cg_fetch *f = NULL;
	assert_int_equal(cg_fetch_create(&p.loop, NULL, ca, &f), 0);
	struct got g = {0};
	char *url = cg_h_fmt("https://localhost:%d/hang", p.port);
	assert_int_equal(cg_fetch_get(f, url, NULL, got_done, &g), 0);
	for (int i = 0; i < 200000 && !p.held; i++)
		uv_run(&p.loop, UV_RUN_ONCE);
	assert_non_null(p.held);
	assert_int_equal(g.n, 0);
	destroy(&p, f);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.rc, CG_ECLOSED);
	free(url);
	peer_stop(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get),
		cmocka_unit_test(test_untrusted),
		cmocka_unit_test(test_destroy_in_flight),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
