/* test_intake_strict.c: webhook text means one thing, through the real daemon: ambiguous JSON,
 * encodings, repeated or folded headers, 100 Continue only after credentials, and one answer
 * for every refusal so source names cannot be probed. */
/* labels: integration */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"

#define PROJECT "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n    case_type: 00000000-0000-0000-0000-000000000001\n"

static const char *sources = "  - name: demo\n"
			     "    type: generic\n"
			     "    auth: {bearer: demo-token}\n" PROJECT "  - name: signed\n"
			     "    type: generic\n"
			     "    verify: [{sentry: {secret: sentry-secret}}]\n" PROJECT "  - name: fenced\n"
			     "    type: generic\n"
			     "    auth: none\n"
			     "    allow_ips: [192.0.2.0/24]\n" PROJECT "  - name: mailbox\n"
			     "    type: email\n"
			     "    rules: {base: nagios, alert_senders: ['nagios@*']}\n" PROJECT;

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int dial(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		fail_msg("connect to %d: %s", port, strerror(errno));
	return fd;
}

static void send_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
		if (w <= 0)
			fail_msg("send: %s", strerror(errno));
		s += w;
		n -= (size_t)w;
	}
}

/* Reads what arrives within ms (until EOF); NUL-terminated. */
static size_t read_for(int fd, char *buf, size_t cap, unsigned ms)
{
	size_t n = 0;
	int64_t end = mono_ms() + ms;
	while (n + 1 < cap && mono_ms() < end) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, (int)(end - mono_ms())) <= 0)
			continue;
		ssize_t r = recv(fd, buf + n, cap - n - 1, 0);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	return n;
}

/* One request (Connection: close) and its whole answer. Returns the status. */
static int raw(int port, const char *text, size_t len, char *resp, size_t cap)
{
	int fd = dial(port);
	send_all(fd, text, len);
	read_for(fd, resp, cap, 5000);
	close(fd);
	int st = 0;
	if (sscanf(resp, "HTTP/1.1 %d", &st) != 1)
		return 0;
	return st;
}

static int post(struct itest *t, const char *path, const char *headers, const char *body, size_t blen, char *resp,
		size_t cap)
{
	char *head = cg_h_fmt("POST %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%sContent-Length: %zu\r\n\r\n", path,
			      headers ? headers : "", blen);
	size_t hl = strlen(head);
	char *all = malloc(hl + blen);
	assert_non_null(all);
	memcpy(all, head, hl);
	memcpy(all + hl, body, blen);
	int st = raw(t->gw_port, all, hl + blen, resp, cap);
	free(all);
	free(head);
	return st;
}

static const char *body_of(const char *resp)
{
	const char *b = strstr(resp, "\r\n\r\n");
	return b ? b + 4 : "";
}

static void start(struct itest *t, const char *prefix)
{
	assert_int_equal(itest_setup(t, prefix), 0);
	assert_int_equal(itest_start_sim(t, NULL), 0);
	assert_int_equal(itest_write_config(t, NULL, sources), 0);
	if (itest_start_gw(t) != 0)
		fail_msg("casegate did not start");
}

#define AUTH "Authorization: Bearer demo-token\r\n"

/* JSON that cJSON would resolve silently (or differently per reader) is refused before mapping. */
static void test_ambiguous_json(void **state)
{
	(void)state;
	struct itest t;
	char resp[4096];
	start(&t, "strict-json");
	static const struct {
		const char *body;
		size_t len; /* 0: strlen */
		const char *want;
	} bad[] = {
		{"{\"title\":\"disk\",\"dedup_key\":\"k1\"} {\"title\":\"other\"}", 0,
		 "data after the JSON value at byte 34"},
		{"{\"title\":\"disk\",\"dedup_key\":\"k2\"}x", 0, "data after the JSON value at byte 33"},
		{"{\"title\":\"a\",\"severity\":\"low\",\"severity\":\"critical\"}", 0, "duplicate key \\\"severity\\\" in $"},
		{"{\"labels\":{\"env\":\"a\",\"env\":\"b\"},\"title\":\"t\"}", 0, "duplicate key \\\"env\\\" in $.labels"},
		{"{\"alerts\":[{\"k\":1},{\"k\":1,\"k\":2}]}", 0, "duplicate key \\\"k\\\" in $.alerts[1]"},
		{"{\"title\":\"disk\\u0000 @all\",\"dedup_key\":\"k3\"}", 0, "\\\\u0000 (NUL) in a string at byte 14"},
		{"{\"title\":\"disk\0 tail\",\"dedup_key\":\"k4\"}", 40, "NUL byte at byte 14"},
		{"", 0, "empty body"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = bad[i].len ? bad[i].len : strlen(bad[i].body);
		int st = post(&t, "/hooks/demo", AUTH, bad[i].body, len, resp, sizeof(resp));
		if (st != 400 || !strstr(body_of(resp), bad[i].want))
			fail_msg("body #%zu: got %d %s, want 400 naming \"%s\"", i, st, body_of(resp), bad[i].want);
	}
	/* The same texts without the ambiguity are accepted: an escaped backslash before u0000 is
	 * text, trailing whitespace is not data, equal keys in different objects are no duplicate. */
	static const char *const good[] = {
		"{\"title\":\"a\\\\u0000b\",\"dedup_key\":\"g1\"}",
		"{\"title\":\"t\",\"dedup_key\":\"g2\",\"labels\":{\"title\":\"x\"}}  \r\n",
	};
	for (size_t i = 0; i < 2; i++) {
		int st = post(&t, "/hooks/demo", AUTH, good[i], strlen(good[i]), resp, sizeof(resp));
		if (st != 202)
			fail_msg("good body #%zu: got %d %s, want 202", i, st, body_of(resp));
	}
	struct itest_wait w = {&t, 2};
	assert_true(cg_h_poll(itest_has_ncases, &w, 20000));
	assert_int_equal(itest_ncases(&t), 2); /* none of the refused bodies became a case */
	itest_teardown(&t, 0);
}

/* Content-Encoding, repeated credentials and folded headers. */
static void test_encoding_and_headers(void **state)
{
	(void)state;
	struct itest t;
	char resp[4096];
	start(&t, "strict-hdr");
	const char *b = "{\"title\":\"x\",\"dedup_key\":\"e1\"}";
	int st = post(&t, "/hooks/demo", AUTH "Content-Encoding: gzip\r\n", b, strlen(b), resp, sizeof(resp));
	if (st != 415 || !strstr(body_of(resp), "Content-Encoding 'gzip' is not supported"))
		fail_msg("gzip: got %d %s, want 415", st, resp);
	st = post(&t, "/hooks/demo", AUTH "Content-Encoding: br\r\n", b, strlen(b), resp, sizeof(resp));
	assert_int_equal(st, 415);
	st = post(&t, "/hooks/demo", AUTH "Content-Encoding: identity\r\n", b, strlen(b), resp, sizeof(resp));
	if (st != 202)
		fail_msg("identity: got %d %s, want 202", st, resp);

	/* Two Authorization headers: whichever a proxy checked, we would read the other. */
	st = post(&t, "/hooks/demo", "Authorization: Bearer wrong\r\n" AUTH, b, strlen(b), resp, sizeof(resp));
	if (st != 400 || !strstr(body_of(resp), "duplicate Authorization header"))
		fail_msg("two Authorization headers: got %d %s, want 400", st, resp);
	/* A folded line would carry a header past a proxy that does not join it. */
	st = post(&t, "/hooks/demo", "X-Note: a\r\n " AUTH, b, strlen(b), resp, sizeof(resp));
	if (st != 400 || !strstr(body_of(resp), "obs-folded header line"))
		fail_msg("obs-fold: got %d %s, want 400", st, resp);
	st = post(&t, "/hooks/demo", "X-Note:\r\n\t" AUTH, b, strlen(b), resp, sizeof(resp));
	assert_int_equal(st, 400);
	struct itest_wait w = {&t, 1};
	assert_true(cg_h_poll(itest_has_ncases, &w, 20000));
	assert_int_equal(itest_ncases(&t), 1);
	itest_teardown(&t, 0);
}

/* Sends a head with Expect: 100-continue; returns what came back within ms (no body sent). */
static int expect_head(struct itest *t, const char *path, const char *headers, size_t blen, char *resp, size_t cap,
		       unsigned ms)
{
	int fd = dial(t->gw_port);
	char *head = cg_h_fmt("POST %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%sExpect: 100-continue\r\n"
			      "Content-Length: %zu\r\n\r\n",
			      path, headers ? headers : "", blen);
	send_all(fd, head, strlen(head));
	free(head);
	read_for(fd, resp, cap, ms);
	return fd;
}

/* 100 Continue is sent only once the head's credentials passed. */
static void test_continue_after_auth(void **state)
{
	(void)state;
	struct itest t;
	char resp[4096];
	start(&t, "strict-100");
	const char *b = "{\"title\":\"c\",\"dedup_key\":\"c1\"}";
	/* Good token: 100 at once, then the answer. */
	int fd = expect_head(&t, "/hooks/demo", AUTH, strlen(b), resp, sizeof(resp), 2000);
	if (strncmp(resp, "HTTP/1.1 100 Continue\r\n\r\n", 25) != 0)
		fail_msg("good token: got \"%s\", want 100 Continue", resp);
	send_all(fd, b, strlen(b));
	read_for(fd, resp, sizeof(resp), 5000);
	close(fd);
	if (strncmp(resp, "HTTP/1.1 202", 12) != 0)
		fail_msg("good token: got %s, want 202", resp);
	/* A wrong token, no token, an unknown source, a client outside the allowlist: no 100.
	 * The body sent after the client's wait is answered with the usual 401. */
	static const struct {
		const char *path, *headers;
	} refused[] = {
		{"/hooks/demo", "Authorization: Bearer nope\r\n"},
		{"/hooks/demo", NULL},
		{"/hooks/nosuch", AUTH},
		{"/hooks/fenced", NULL},
		{"/hooks/mailbox", NULL},
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		fd = expect_head(&t, refused[i].path, refused[i].headers, strlen(b), resp, sizeof(resp), 600);
		if (resp[0])
			fail_msg("refused head #%zu (%s): got \"%s\" before the body, want nothing", i, refused[i].path, resp);
		send_all(fd, b, strlen(b));
		read_for(fd, resp, sizeof(resp), 5000);
		close(fd);
		if (strncmp(resp, "HTTP/1.1 401", 12) != 0)
			fail_msg("refused head #%zu: got %s, want 401 after the body", i, resp);
	}
	/* A source whose credential is a signature over the body: 100, the body decides. */
	fd = expect_head(&t, "/hooks/signed", NULL, strlen(b), resp, sizeof(resp), 2000);
	close(fd);
	if (strncmp(resp, "HTTP/1.1 100 Continue", 21) != 0)
		fail_msg("signed source: got \"%s\", want 100 (the signature needs the body)", resp);
	itest_teardown(&t, 0);
}

/* Unknown sources, mail sources, bad credentials, bad signatures and outsiders all get the same
 * answer; the log tells the operator which it was. GET is 405 for every name. */
static void test_no_source_enumeration(void **state)
{
	(void)state;
	struct itest t;
	char first[4096], resp[4096];
	start(&t, "strict-enum");
	const char *b = "{\"title\":\"e\",\"dedup_key\":\"n1\"}";
	static const struct {
		const char *path, *headers, *log;
	} cases[] = {
		{"/hooks/nosuch", NULL, "no webhook source named 'nosuch'"},
		{"/hooks/demo", NULL, "missing Authorization header"},
		{"/hooks/demo", "Authorization: Bearer wrong\r\n", "invalid bearer token"},
		{"/hooks/demo", "Authorization: Basic dTpw\r\n", "basic auth not accepted by this source"},
		{"/hooks/signed", NULL, "missing header Sentry-Hook-Signature"},
		{"/hooks/fenced", NULL, "client address not allowed"},
		{"/hooks/mailbox", NULL, "no webhook source named 'mailbox'"},
		{"/hooks/nosuch/sometoken", NULL, "no webhook source named 'nosuch'"},
		{"/hooks/demo/wrongtoken", NULL, "invalid URL token"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *r = i == 0 ? first : resp;
		int st = post(&t, cases[i].path, cases[i].headers, b, strlen(b), r, sizeof(resp));
		if (st != 401)
			fail_msg("case #%zu (%s): got %d, want 401", i, cases[i].path, st);
		if (!strstr(r, "WWW-Authenticate: Bearer realm=\"casegate\""))
			fail_msg("case #%zu: no WWW-Authenticate in %s", i, r);
		if (strcmp(body_of(r), body_of(first)) != 0)
			fail_msg("case #%zu (%s): got %s, want the same answer as an unknown source: %s", i,
				 cases[i].path, body_of(r), body_of(first));
		if (!cg_h_wait_log(&t.gw, cases[i].log, 5000))
			fail_msg("case #%zu: \"%s\" not logged", i, cases[i].log);
	}
	/* Other methods: 405 for a known and an unknown name alike. */
	char r1[4096], r2[4096];
	const char *g1 = "GET /hooks/demo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	const char *g2 = "GET /hooks/nosuch HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	assert_int_equal(raw(t.gw_port, g1, strlen(g1), r1, sizeof(r1)), 405);
	assert_int_equal(raw(t.gw_port, g2, strlen(g2), r2, sizeof(r2)), 405);
	assert_string_equal(body_of(r1), body_of(r2));
	/* A webhook never reaches a mail source, whatever it carries. */
	assert_int_equal(itest_ncases(&t), 0);
	itest_teardown(&t, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ambiguous_json),
		cmocka_unit_test(test_encoding_and_headers),
		cmocka_unit_test(test_continue_after_auth),
		cmocka_unit_test(test_no_source_enumeration),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
