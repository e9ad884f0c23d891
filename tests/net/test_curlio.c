/* test_curlio.c: the libcurl-libuv bridge against casegate's own HTTP server on the same loop:
 * transfers complete, destroy aborts what is in flight (every callback once, nothing leaked, the
 * loop closes clean), and a transfer's route: the configured proxy, never the environment's. */
/* labels: unit */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <uv.h>

#include "curlio.h"
#include "err.h"
#include "http.h"

#define DEADLINE_MS 10000u
#define MAX_HELD 8

/* ---- the peer: /ok answers at once, /hang is held until the test lets go ---- */

struct peer {
	struct cg_http_server *srv;
	int port;
	int nreq;
	char last_target[256]; /* the request target as received (absolute form through a proxy) */
	struct cg_http_request *held[MAX_HELD];
	int nheld;
	int closed;
};

static void peer_handle(struct cg_http_request *req, void *ud)
{
	struct peer *p = ud;
	char body[300];
	p->nreq++;
	snprintf(p->last_target, sizeof(p->last_target), "%s", req->path);
	if (strstr(req->path, "/hang") && p->nheld < MAX_HELD) {
		p->held[p->nheld++] = req;
		return;
	}
	int n = snprintf(body, sizeof(body), "hello %s", req->path);
	cg_http_respond(req, 200, "text/plain", body, (size_t)n, NULL, 0);
}

static void peer_closed(void *ud)
{
	((struct peer *)ud)->closed = 1;
}

static void peer_start(uv_loop_t *loop, struct peer *p)
{
	char err[128];
	memset(p, 0, sizeof(*p));
	assert_int_equal(cg_http_server_create(loop, "127.0.0.1", 0, NULL, peer_handle, p, &p->srv, err, sizeof(err)), 0);
	p->port = cg_http_server_port(p->srv);
}

static void peer_stop(uv_loop_t *loop, struct peer *p)
{
	for (int i = 0; i < p->nheld; i++)
		cg_http_drop(p->held[i]);
	p->nheld = 0;
	cg_http_server_close(p->srv, peer_closed, p);
	while (!p->closed)
		uv_run(loop, UV_RUN_ONCE);
}

/* ---- transfers ---- */

struct xfer {
	struct cg_curlio *io;
	struct cg_curlio_body body;
	char errbuf[CURL_ERROR_SIZE];
	int ndone;        /* how often done ran: must end at 1 */
	CURLcode rc;
	long status;
	int add_rc;       /* what adding another transfer from inside done returned */
	struct xfer *next_xfer; /* started from inside done when set */
	const char *next_url;
	int destroy_in_done;
};

static CURL *easy_for(struct xfer *x, const char *url)
{
	CURL *e = curl_easy_init();
	assert_non_null(e);
	x->body.max = 1024;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 8000L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, cg_curlio_body_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &x->body);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
	return e;
}

static void xfer_done(CURL *easy, CURLcode rc, void *ud)
{
	struct xfer *x = ud;
	x->ndone++;
	x->rc = rc;
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &x->status);
	curl_easy_cleanup(easy);
	if (x->next_xfer) {
		CURL *e = easy_for(x->next_xfer, x->next_url);
		x->add_rc = cg_curlio_add(x->io, e, xfer_done, x->next_xfer);
		if (x->add_rc != 0)
			curl_easy_cleanup(e);
	}
	if (x->destroy_in_done)
		cg_curlio_destroy(x->io, NULL, NULL);
}

static void start(struct cg_curlio *io, struct xfer *x, const char *url)
{
	x->io = io;
	CURL *e = easy_for(x, url);
	assert_int_equal(cg_curlio_add(io, e, xfer_done, x), 0);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void run_until(uv_loop_t *loop, int (*cond)(void *), void *ud)
{
	uint64_t end = mono_ms() + DEADLINE_MS;
	while (!cond(ud) && mono_ms() < end)
		uv_run(loop, UV_RUN_ONCE);
	assert_true(cond(ud));
}

static void io_closed(void *ud)
{
	(*(int *)ud)++;
}

static void xfer_free(struct xfer *x)
{
	free(x->body.p);
	x->body.p = NULL;
}

struct all_done {
	struct xfer *x;
	int n;
};

static int all_done(void *ud)
{
	struct all_done *a = ud;
	for (int i = 0; i < a->n; i++)
		if (a->x[i].ndone == 0)
			return 0;
	return 1;
}

static int peer_holds(void *ud)
{
	struct peer *p = ud;
	return p->nheld >= 3;
}

/* Three transfers at once, and a fourth started from a done callback: each ends once, with its answer. */
static void test_transfers_complete(void **state)
{
	(void)state;
	uv_loop_t loop;
	struct peer p;
	struct cg_curlio *io = NULL;
	struct xfer x[4];
	char url[4][64];
	int closed = 0;
	memset(x, 0, sizeof(x));
	assert_int_equal(uv_loop_init(&loop), 0);
	peer_start(&loop, &p);
	struct cg_curlio_opts o = {.max_host_connections = 2, .max_connects = 2, .no_multiplex = 1};
	assert_int_equal(cg_curlio_create(&loop, &o, &io), 0);
	for (int i = 0; i < 4; i++)
		snprintf(url[i], sizeof(url[i]), "http://127.0.0.1:%d/ok/%d", p.port, i);
	x[0].next_xfer = &x[3];
	x[0].next_url = url[3];
	for (int i = 0; i < 3; i++)
		start(io, &x[i], url[i]);
	x[3].io = io;
	assert_int_equal(cg_curlio_pending(io), 3);
	struct all_done a = {x, 4};
	run_until(&loop, all_done, &a);
	for (int i = 0; i < 4; i++) {
		char want[64];
		snprintf(want, sizeof(want), "hello /ok/%d", i);
		if (x[i].ndone != 1 || x[i].rc != CURLE_OK || x[i].status != 200 || !x[i].body.p ||
		    strcmp(x[i].body.p, want) != 0)
			fail_msg("transfer %d: got done=%d rc=%d (%s) status=%ld body=%s, want 1, 0, 200, %s", i, x[i].ndone,
				 x[i].rc, x[i].errbuf, x[i].status, x[i].body.p ? x[i].body.p : "(none)", want);
	}
	assert_int_equal(x[0].add_rc, 0);
	assert_int_equal(cg_curlio_pending(io), 0);
	cg_curlio_destroy(io, io_closed, &closed);
	cg_curlio_destroy(io, io_closed, &closed); /* a second call is ignored */
	assert_int_equal(closed, 0);               /* the handles close on the loop */
	peer_stop(&loop, &p);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(closed, 1);
	for (int i = 0; i < 4; i++)
		xfer_free(&x[i]);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* Destroy with transfers on the wire: every callback runs before destroy returns, once, with
 * CURLE_ABORTED_BY_CALLBACK; a transfer added from such a callback is refused; the loop closes. */
static void test_destroy_aborts_pending(void **state)
{
	(void)state;
	uv_loop_t loop;
	struct peer p;
	struct cg_curlio *io = NULL;
	struct xfer x[4];
	char url[64];
	int closed = 0;
	memset(x, 0, sizeof(x));
	assert_int_equal(uv_loop_init(&loop), 0);
	peer_start(&loop, &p);
	assert_int_equal(cg_curlio_create(&loop, NULL, &io), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/hang", p.port);
	x[1].next_xfer = &x[3];
	x[1].next_url = url;
	for (int i = 0; i < 3; i++)
		start(io, &x[i], url);
	run_until(&loop, peer_holds, &p); /* all three are on the wire, sockets watched */
	for (int i = 0; i < 3; i++)
		assert_int_equal(x[i].ndone, 0);
	cg_curlio_destroy(io, io_closed, &closed);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(x[i].ndone, 1);
		assert_int_equal(x[i].rc, CURLE_ABORTED_BY_CALLBACK);
	}
	assert_int_equal(x[1].add_rc, CG_ECLOSED);
	assert_int_equal(x[3].ndone, 0);
	CURL *late = curl_easy_init();
	assert_int_equal(cg_curlio_add(io, late, xfer_done, &x[3]), CG_ECLOSED);
	curl_easy_cleanup(late);
	peer_stop(&loop, &p);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(closed, 1);
	for (int i = 0; i < 4; i++)
		xfer_free(&x[i]);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* Destroyed from inside a done callback while another transfer waits: that one is aborted. */
static void test_destroy_from_callback(void **state)
{
	(void)state;
	uv_loop_t loop;
	struct peer p;
	struct cg_curlio *io = NULL;
	struct xfer x[2];
	char ok[64], hang[64];
	memset(x, 0, sizeof(x));
	assert_int_equal(uv_loop_init(&loop), 0);
	peer_start(&loop, &p);
	assert_int_equal(cg_curlio_create(&loop, NULL, &io), 0);
	snprintf(ok, sizeof(ok), "http://127.0.0.1:%d/ok", p.port);
	snprintf(hang, sizeof(hang), "http://127.0.0.1:%d/hang", p.port);
	x[0].destroy_in_done = 1;
	start(io, &x[1], hang);
	start(io, &x[0], ok);
	struct all_done a = {x, 2};
	run_until(&loop, all_done, &a);
	assert_int_equal(x[0].rc, CURLE_OK);
	assert_int_equal(x[1].rc, CURLE_ABORTED_BY_CALLBACK);
	assert_int_equal(x[1].ndone, 1);
	peer_stop(&loop, &p);
	uv_run(&loop, UV_RUN_DEFAULT);
	xfer_free(&x[0]);
	xfer_free(&x[1]);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* A bridge that never carried a transfer closes too; an answer over the body cap fails. */
static void test_idle_destroy_and_body_cap(void **state)
{
	(void)state;
	uv_loop_t loop;
	struct peer p;
	struct cg_curlio *io = NULL;
	struct xfer x;
	char url[300];
	int closed = 0;
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(cg_curlio_create(&loop, NULL, &io), 0);
	cg_curlio_destroy(io, io_closed, &closed);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(closed, 1);

	peer_start(&loop, &p);
	assert_int_equal(cg_curlio_create(&loop, NULL, &io), 0);
	memset(&x, 0, sizeof(x));
	int n = snprintf(url, sizeof(url), "http://127.0.0.1:%d/ok/", p.port);
	memset(url + n, 'a', 40);
	url[n + 40] = '\0';
	start(io, &x, url);
	x.body.max = 16; /* "hello /ok/aaaa..." is longer */
	struct all_done a = {&x, 1};
	run_until(&loop, all_done, &a);
	assert_int_equal(x.rc, CURLE_WRITE_ERROR);
	assert_true(x.body.too_big);
	assert_true(x.body.len <= 16);
	cg_curlio_destroy(io, NULL, NULL);
	peer_stop(&loop, &p);
	uv_run(&loop, UV_RUN_DEFAULT);
	xfer_free(&x);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* The route: no proxy means none (http_proxy in the environment is not followed); a configured
 * proxy gets the request (a plain HTTP proxy sees the absolute URL). */
static void test_route_ignores_environment(void **state)
{
	(void)state;
	uv_loop_t loop;
	struct peer target, trap, proxy;
	struct cg_curlio *io = NULL;
	struct xfer x[2];
	char url[64], env[64], purl[64], want[80];
	memset(x, 0, sizeof(x));
	assert_int_equal(uv_loop_init(&loop), 0);
	peer_start(&loop, &target);
	peer_start(&loop, &trap);
	peer_start(&loop, &proxy);
	snprintf(env, sizeof(env), "http://127.0.0.1:%d", trap.port);
	setenv("http_proxy", env, 1);
	setenv("HTTP_PROXY", env, 1);
	setenv("https_proxy", env, 1);
	setenv("ALL_PROXY", env, 1);
	unsetenv("no_proxy");
	unsetenv("NO_PROXY");
	assert_int_equal(cg_curlio_create(&loop, NULL, &io), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/ok/direct", target.port);
	snprintf(purl, sizeof(purl), "http://127.0.0.1:%d", proxy.port);

	x[0].io = io;
	CURL *e = easy_for(&x[0], url);
	assert_int_equal(cg_curlio_route(e, NULL, NULL, NULL), 0);
	assert_int_equal(cg_curlio_add(io, e, xfer_done, &x[0]), 0);
	struct all_done a = {&x[0], 1};
	run_until(&loop, all_done, &a);
	assert_int_equal(x[0].status, 200);
	assert_int_equal(target.nreq, 1);
	assert_int_equal(trap.nreq, 0);

	x[1].io = io;
	e = easy_for(&x[1], url);
	assert_int_equal(cg_curlio_route(e, purl, NULL, NULL), 0);
	assert_int_equal(cg_curlio_add(io, e, xfer_done, &x[1]), 0);
	a.x = &x[1];
	run_until(&loop, all_done, &a);
	assert_int_equal(x[1].status, 200);
	assert_int_equal(proxy.nreq, 1);
	snprintf(want, sizeof(want), "http://127.0.0.1:%d/ok/direct", target.port);
	assert_string_equal(proxy.last_target, want);
	assert_int_equal(target.nreq, 1);
	assert_int_equal(trap.nreq, 0);

	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	unsetenv("https_proxy");
	unsetenv("ALL_PROXY");
	cg_curlio_destroy(io, NULL, NULL);
	peer_stop(&loop, &target);
	peer_stop(&loop, &trap);
	peer_stop(&loop, &proxy);
	uv_run(&loop, UV_RUN_DEFAULT);
	xfer_free(&x[0]);
	xfer_free(&x[1]);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_transfers_complete),
		cmocka_unit_test(test_destroy_aborts_pending),
		cmocka_unit_test(test_destroy_from_callback),
		cmocka_unit_test(test_idle_destroy_and_body_cap),
		cmocka_unit_test(test_route_ignores_environment),
	};
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 1;
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
