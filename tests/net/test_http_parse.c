/* test_http_parse.c: the request parser without sockets: a request in any split, pipelining, and each head and body limit refused with its status. */
/* labels: unit */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "http_parse.h"

struct px {
	struct cg_http_parse h;
	struct cg_http_request req;
	struct cg_http_limits lim;
};

static void px_init(struct px *p)
{
	memset(p, 0, sizeof(*p));
	cg_http_limits_default(&p->lim);
	cg_http_parse_init(&p->h, &p->req, &p->lim);
}

/* Feeds text in pieces of step bytes (0: all at once) until a message or an error. */
static enum cg_http_parse_result feed(struct px *p, const char *text, size_t len, size_t step, size_t *consumed)
{
	size_t off = 0;
	while (off < len) {
		size_t n = step && len - off > step ? step : len - off, used = 0;
		enum cg_http_parse_result r = cg_http_parse_feed(&p->h, text + off, n, &used);
		assert_true(used <= n);
		off += used;
		if (r != CG_HTTP_PARSE_MORE) {
			if (consumed)
				*consumed = off;
			return r;
		}
		assert_int_equal(used, n); /* MORE consumed everything it was given */
	}
	if (consumed)
		*consumed = off;
	return CG_HTTP_PARSE_MORE;
}

static const char post[] = "POST /hooks/am?token=a%20b&x=1 HTTP/1.1\r\n"
			   "Host: casegate\r\n"
			   "Content-Type: application/json\r\n"
			   "X-Empty:\r\n"
			   "Content-Length: 11\r\n"
			   "\r\n"
			   "{\"a\":\"b c\"}";

static void check_post(const struct cg_http_request *r)
{
	assert_string_equal(r->method, "POST");
	assert_string_equal(r->path, "/hooks/am");
	assert_string_equal(r->query, "token=a%20b&x=1");
	assert_int_equal(r->nheaders, 4);
	assert_string_equal(cg_http_header_get(r, "content-type"), "application/json");
	assert_string_equal(cg_http_header_get(r, "X-EMPTY"), "");
	assert_null(cg_http_header_get(r, "Accept"));
	assert_int_equal(r->body_len, 11);
	assert_memory_equal(r->body, "{\"a\":\"b c\"}", 11);
	assert_int_equal(r->body[11], '\0');
	char v[16];
	assert_int_equal(cg_http_query_get(r, "token", v, sizeof(v)), 0);
	assert_string_equal(v, "a b");
}

/* The same request whole and split at every possible size reads the same. */
static void test_any_split(void **state)
{
	(void)state;
	for (size_t step = 0; step <= 16; step++) {
		struct px p;
		px_init(&p);
		size_t used = 0;
		enum cg_http_parse_result r = feed(&p, post, sizeof(post) - 1, step, &used);
		if (r != CG_HTTP_PARSE_MSG)
			fail_msg("step %zu: result %d (status %d %s)", step, r, p.h.err_status,
				 p.h.err_msg ? p.h.err_msg : "");
		assert_int_equal(used, sizeof(post) - 1);
		check_post(&p.req);
		assert_true(p.h.keep_alive);
		cg_http_parse_cleanup(&p.h);
	}
}

/* Two requests in one buffer: the parser stops after the first until it is resumed. */
static void test_pipeline(void **state)
{
	(void)state;
	char two[1024];
	int n = snprintf(two, sizeof(two), "%sGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", post);
	struct px p;
	px_init(&p);
	size_t used = 0;
	assert_int_equal(cg_http_parse_feed(&p.h, two, (size_t)n, &used), CG_HTTP_PARSE_MSG);
	assert_int_equal(used, sizeof(post) - 1);
	check_post(&p.req);
	cg_http_parse_resume(&p.h);
	size_t used2 = 0;
	assert_int_equal(cg_http_parse_feed(&p.h, two + used, (size_t)n - used, &used2), CG_HTTP_PARSE_MSG);
	assert_int_equal(used + used2, (size_t)n);
	assert_string_equal(p.req.method, "GET");
	assert_string_equal(p.req.path, "/healthz");
	assert_string_equal(p.req.query, "");
	assert_int_equal(p.req.body_len, 0);
	assert_false(p.h.keep_alive);
	cg_http_parse_cleanup(&p.h);
}

/* Expect: 100-continue is reported to the connection (it answers once credentials pass). */
static void test_expect_continue(void **state)
{
	(void)state;
	static const char head[] = "POST /h HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n";
	struct px p;
	px_init(&p);
	size_t used = 0;
	assert_int_equal(cg_http_parse_feed(&p.h, head, sizeof(head) - 1, &used), CG_HTTP_PARSE_MORE);
	assert_true(p.h.events & CG_HTTP_PARSE_CONTINUE);
	assert_true(p.h.events & CG_HTTP_PARSE_BEGAN);
	assert_int_equal(cg_http_parse_feed(&p.h, "{}", 2, &used), CG_HTTP_PARSE_MSG);
	cg_http_parse_cleanup(&p.h);
	/* Not for HTTP/1.0, which has no interim answers. */
	static const char head10[] = "POST /h HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n";
	px_init(&p);
	assert_int_equal(cg_http_parse_feed(&p.h, head10, sizeof(head10) - 1, &used), CG_HTTP_PARSE_MORE);
	assert_false(p.h.events & CG_HTTP_PARSE_CONTINUE);
	cg_http_parse_cleanup(&p.h);
}

struct refusal {
	const char *what;
	int status;
	const char *msg_part;
};

static void expect_refused(struct px *p, const char *text, size_t len, size_t step, const struct refusal *want)
{
	enum cg_http_parse_result r = feed(p, text, len, step, NULL);
	if (r != CG_HTTP_PARSE_ERR || p->h.err_status != want->status || !p->h.err_msg ||
	    !strstr(p->h.err_msg, want->msg_part))
		fail_msg("%s (step %zu): result %d, status %d \"%s\"; want %d \"%s\"", want->what, step, r, p->h.err_status,
			 p->h.err_msg ? p->h.err_msg : "", want->status, want->msg_part);
	cg_http_parse_cleanup(&p->h);
}

static void test_limits(void **state)
{
	(void)state;
	char *buf = malloc(64 * 1024);
	assert_non_null(buf);
	for (size_t step = 0; step <= 7; step += 7) {
		struct px p;
		/* The head (request line + headers) is bounded, whether it comes at once or in pieces. */
		px_init(&p);
		p.lim.max_header_bytes = 200;
		int n = snprintf(buf, 64 * 1024, "GET /%0300d HTTP/1.1\r\nHost: x\r\n\r\n", 0);
		expect_refused(&p, buf, (size_t)n, step, &(struct refusal){"long target", 431, "header too large"});

		px_init(&p);
		p.lim.max_headers = 3;
		n = snprintf(buf, 64 * 1024, "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n");
		expect_refused(&p, buf, (size_t)n, step, &(struct refusal){"header count", 431, "too many request headers"});

		/* Three headers are within a limit of three. */
		px_init(&p);
		p.lim.max_headers = 3;
		n = snprintf(buf, 64 * 1024, "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n");
		assert_int_equal(feed(&p, buf, (size_t)n, step, NULL), CG_HTTP_PARSE_MSG);
		cg_http_parse_cleanup(&p.h);

		/* The body: refused from its declared length, before it arrives ... */
		px_init(&p);
		p.lim.max_body = 10;
		n = snprintf(buf, 64 * 1024, "POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n");
		expect_refused(&p, buf, (size_t)n, step, &(struct refusal){"declared body", 413, "body too large"});
		/* ... and a chunked one as soon as it grows past the limit. */
		px_init(&p);
		p.lim.max_body = 10;
		n = snprintf(buf, 64 * 1024, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n6\r\nghijkl\r\n0\r\n\r\n");
		expect_refused(&p, buf, (size_t)n, step, &(struct refusal){"chunked body", 413, "body too large"});
		/* Exactly the limit is fine. */
		px_init(&p);
		p.lim.max_body = 10;
		n = snprintf(buf, 64 * 1024, "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789");
		assert_int_equal(feed(&p, buf, (size_t)n, step, NULL), CG_HTTP_PARSE_MSG);
		assert_int_equal(p.req.body_len, 10);
		cg_http_parse_cleanup(&p.h);

		/* Text that means two things to two readers is refused, not guessed at. */
		px_init(&p);
		n = snprintf(buf, 64 * 1024, "POST / HTTP/1.1\r\nX-A: 1\r\n folded\r\nContent-Length: 0\r\n\r\n");
		expect_refused(&p, buf, (size_t)n, step, &(struct refusal){"obs-fold", 400, "obs-folded"});
		px_init(&p);
		n = snprintf(buf, 64 * 1024, "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx");
		expect_refused(&p, buf, (size_t)n, step, &(struct refusal){"two lengths", 400, "Content-Length"});
		px_init(&p);
		n = snprintf(buf, 64 * 1024, "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
		expect_refused(&p, buf, (size_t)n, step, &(struct refusal){"two hosts", 400, "duplicate"});
		px_init(&p);
		n = snprintf(buf, 64 * 1024, "GARBAGE\r\n\r\n");
		expect_refused(&p, buf, (size_t)n, step, &(struct refusal){"not HTTP", 400, "malformed request"});
	}
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_any_split),
		cmocka_unit_test(test_pipeline),
		cmocka_unit_test(test_expect_continue),
		cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
