/* test_guard_security.c: inbound security through the real daemon: signatures and replay, URL tokens
 * and their redaction, IP allowlists behind a real nginx, limits bounded in time, listener TLS,
 * AWS SNS with a certificate fetched over HTTPS from a local server. */
/* labels: integration */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "config.h"
#include "err.h"
#include "guard.h"
#include "itest.h"

#define PROJECT "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n    case_type: 00000000-0000-0000-0000-000000000001\n"
#define BODY(k) "{\"title\":\"t " k "\",\"status\":\"open\",\"dedup_key\":\"" k "\"}"

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- raw client ---- */

static int tcp_connect(const char *bind_ip, int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	if (bind_ip) {
		struct sockaddr_in b = {.sin_family = AF_INET};
		inet_pton(AF_INET, bind_ip, &b.sin_addr);
		assert_int_equal(bind(fd, (struct sockaddr *)&b, sizeof(b)), 0);
	}
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		print_error("connect to %d: %s\n", port, strerror(errno));
		fail();
	}
	return fd;
}

static int status_of(const char *resp)
{
	int st = 0;
	if (sscanf(resp, "HTTP/1.%*d %d", &st) != 1)
		return 0;
	return st;
}

/* One request on a fresh connection (from bind_ip, or any); the whole answer into resp. */
static int raw_request(const char *bind_ip, int port, const char *text, char *resp, size_t cap)
{
	int fd = tcp_connect(bind_ip, port);
	size_t len = strlen(text);
	assert_int_equal(send(fd, text, len, MSG_NOSIGNAL), (ssize_t)len);
	int eof;
	cg_h_read_for(fd, resp, cap, 5000, &eof);
	close(fd);
	return status_of(resp);
}

static char *post_text(const char *path, const char *extra_headers, const char *body)
{
	return cg_h_fmt("POST %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n"
			"%sContent-Length: %zu\r\n\r\n%s",
			path, extra_headers ? extra_headers : "", strlen(body), body);
}

static void hmac_hex(const char *key, const char *data, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned int mlen = 0;
	HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)data, len, md, &mlen);
	for (unsigned i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static char *gw_log(struct itest *t)
{
	size_t len = 0;
	char *s = cg_h_read_file(t->gw.log_path, &len);
	return s ? s : strdup("");
}

static void expect_status(int got, int want, const char *what, const char *resp)
{
	if (got != want) {
		print_error("%s: got %d, want %d\n%s\n", what, got, want, resp);
		fail();
	}
}

/* A refused webhook: 401 with the one answer every refusal gets (unknown source, credentials,
 * signatures, allowlist alike), and the reason only in casegate's log. */
static void expect_refused(struct itest *t, const char *resp, const char *reason, const char *what)
{
	expect_status(status_of(resp), 401, what, resp);
	if (!strstr(resp, "unauthorized: unknown source, or missing or invalid credentials"))
		fail_msg("%s: got %s, want the generic 401 answer", what, resp);
	if (strstr(resp, reason))
		fail_msg("%s: the answer names the reason \"%s\"; only the log may", what, reason);
	if (!cg_h_wait_log(&t->gw, reason, 5000))
		fail_msg("%s: \"%s\" not in casegate's log", what, reason);
}

/* Stops casegate and checks it exited cleanly (under ASan: no leak, no error), then tears down. */
static void finish(struct itest *t)
{
	int st = cg_h_stop(&t->gw, SIGTERM);
	t->gw_running = 0;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		cg_h_dump_log(&t->gw);
		fail_msg("casegate exit status %d, want a clean exit", st);
	}
	itest_teardown(t, 0);
}

static void start(struct itest *t, const char *prefix, const char *top, const char *sources)
{
	assert_int_equal(itest_setup(t, prefix), 0);
	assert_int_equal(itest_start_sim(t, NULL), 0);
	assert_int_equal(itest_write_config(t, top, sources), 0);
	if (itest_start_gw(t) != 0)
		fail_msg("casegate did not start");
}

/* ---- signatures, replay, URL tokens, allowlists ---- */

static const char *sig_sources = "  - name: sentry\n"
				 "    type: generic\n"
				 "    verify: [{sentry: {secret: sentry-SECRET-1}}]\n" PROJECT
				 "  - name: swh\n"
				 "    type: generic\n"
				 "    verify: [{standard_webhooks: {secret: whsec_c2VjcmV0LWtleS1ieXRlcw==}}]\n" PROJECT
				 "  - name: tok\n"
				 "    type: generic\n"
				 "    auth: {bearer: [tok-SECRET-old, tok-SECRET-new]}\n" PROJECT
				 "  - name: both\n"
				 "    type: generic\n"
				 "    auth: {bearer: both-SECRET}\n"
				 "    verify: [{pagerduty: {secrets: [pd-SECRET]}}]\n" PROJECT
				 "  - name: graf\n"
				 "    type: generic\n"
				 "    verify: [{grafana: {secret: graf-SECRET, timestamp: true}}]\n" PROJECT
				 "  - name: ipsrc\n"
				 "    type: generic\n"
				 "    auth: none\n"
				 "    allow_ips: [192.0.2.0/24]\n" PROJECT;

static void test_signatures(void **state)
{
	struct itest t;
	char resp[8192], hdr[512], sig[65];
	start(&t, "sec-sig", "trusted_proxies: [10.0.0.0/8]\n", sig_sources);

	/* Sentry: good, wrong, missing. */
	const char *b1 = BODY("s1");
	hmac_hex("sentry-SECRET-1", b1, strlen(b1), sig);
	snprintf(hdr, sizeof(hdr), "Sentry-Hook-Signature: %s\r\n", sig);
	char *rq = post_text("/hooks/sentry", hdr, b1);
	expect_status(raw_request(NULL, t.gw_port, rq, resp, sizeof(resp)), 202, "sentry good", resp);
	free(rq);
	rq = post_text("/hooks/sentry", hdr, BODY("s2")); /* signature of another body */
	raw_request(NULL, t.gw_port, rq, resp, sizeof(resp));
	expect_refused(&t, resp, "signature mismatch", "sentry wrong");
	char expect2[65];
	hmac_hex("sentry-SECRET-1", BODY("s2"), strlen(BODY("s2")), expect2);
	assert_null(strstr(resp, expect2)); /* never the expected signature */
	assert_null(strstr(resp, "sentry-SECRET"));
	free(rq);
	rq = post_text("/hooks/sentry", NULL, b1);
	raw_request(NULL, t.gw_port, rq, resp, sizeof(resp));
	expect_refused(&t, resp, "missing header Sentry-Hook-Signature", "sentry missing");
	free(rq);

	/* Standard Webhooks: accepted once; the same id again (a replay, or a retry whose 202 was
	 * lost) is acknowledged as a duplicate and adds nothing. */
	char ts[32], msg[512], b64[64];
	snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
	const char *b2 = BODY("w1");
	snprintf(msg, sizeof(msg), "msg_42.%s.%s", ts, b2);
	unsigned char md[32];
	unsigned mlen = 0;
	HMAC(EVP_sha256(), "secret-key-bytes", 16, (const unsigned char *)msg, strlen(msg), md, &mlen);
	EVP_EncodeBlock((unsigned char *)b64, md, 32);
	snprintf(hdr, sizeof(hdr), "webhook-id: msg_42\r\nwebhook-timestamp: %s\r\nwebhook-signature: v1,%s\r\n", ts, b64);
	rq = post_text("/hooks/swh", hdr, b2);
	expect_status(raw_request(NULL, t.gw_port, rq, resp, sizeof(resp)), 202, "swh first", resp);
	expect_status(raw_request(NULL, t.gw_port, rq, resp, sizeof(resp)), 200, "swh replay", resp);
	assert_non_null(strstr(resp, "\"duplicate\""));
	assert_non_null(strstr(resp, "msg_42"));
	free(rq);
	snprintf(hdr, sizeof(hdr), "webhook-id: msg_43\r\nwebhook-timestamp: %lld\r\nwebhook-signature: v1,%s\r\n",
		 (long long)time(NULL) - 3600, b64);
	rq = post_text("/hooks/swh", hdr, b2);
	raw_request(NULL, t.gw_port, rq, resp, sizeof(resp));
	expect_refused(&t, resp, "timestamp outside the 5m window", "swh expired");
	free(rq);

	/* Timestamped signature without an id (Grafana): a captured request replayed inside the
	 * window adds nothing (acknowledged as a duplicate); the next, newly signed one is accepted. */
	const char *b4 = BODY("g1");
	snprintf(msg, sizeof(msg), "%s:%s", ts, b4);
	hmac_hex("graf-SECRET", msg, strlen(msg), sig);
	snprintf(hdr, sizeof(hdr), "X-Grafana-Alerting-Signature: %s\r\nX-Grafana-Alerting-Timestamp: %s\r\n", sig, ts);
	rq = post_text("/hooks/graf", hdr, b4);
	expect_status(raw_request(NULL, t.gw_port, rq, resp, sizeof(resp)), 202, "grafana first", resp);
	expect_status(raw_request(NULL, t.gw_port, rq, resp, sizeof(resp)), 200, "grafana replay", resp);
	assert_non_null(strstr(resp, "\"duplicate\""));
	free(rq);
	char ts2[32];
	snprintf(ts2, sizeof(ts2), "%lld", (long long)time(NULL) + 1);
	snprintf(msg, sizeof(msg), "%s:%s", ts2, b4);
	hmac_hex("graf-SECRET", msg, strlen(msg), sig);
	snprintf(hdr, sizeof(hdr), "X-Grafana-Alerting-Signature: %s\r\nX-Grafana-Alerting-Timestamp: %s\r\n", sig, ts2);
	rq = post_text("/hooks/graf", hdr, b4);
	expect_status(raw_request(NULL, t.gw_port, rq, resp, sizeof(resp)), 202, "grafana re-signed", resp);
	free(rq);

	/* Token in the path and in the query; rotation (old and new both valid). */
	rq = post_text("/hooks/tok/tok-SECRET-old", NULL, BODY("t1"));
	expect_status(raw_request(NULL, t.gw_port, rq, resp, sizeof(resp)), 202, "path token", resp);
	free(rq);
	rq = post_text("/hooks/tok?token=tok-SECRET-new", NULL, BODY("t2"));
	expect_status(raw_request(NULL, t.gw_port, rq, resp, sizeof(resp)), 202, "query token", resp);
	free(rq);
	rq = post_text("/hooks/tok/tok-SECRET-wrong", NULL, BODY("t3"));
	raw_request(NULL, t.gw_port, rq, resp, sizeof(resp));
	expect_refused(&t, resp, "invalid URL token", "bad path token");
	assert_null(strstr(resp, "tok-SECRET"));
	free(rq);

	/* Auth and signature together: both required. */
	const char *b3 = BODY("b1");
	hmac_hex("pd-SECRET", b3, strlen(b3), sig);
	snprintf(hdr, sizeof(hdr), "Authorization: Bearer both-SECRET\r\nX-PagerDuty-Signature: v1=%s\r\n", sig);
	rq = post_text("/hooks/both", hdr, b3);
	expect_status(raw_request(NULL, t.gw_port, rq, resp, sizeof(resp)), 202, "bearer+pagerduty", resp);
	free(rq);
	snprintf(hdr, sizeof(hdr), "X-PagerDuty-Signature: v1=%s\r\n", sig);
	rq = post_text("/hooks/both", hdr, b3);
	expect_status(raw_request(NULL, t.gw_port, rq, resp, sizeof(resp)), 401, "pagerduty without bearer", resp);
	free(rq);

	/* IP allowlist: 127.0.0.1 is not in 192.0.2.0/24, and X-Forwarded-For from an untrusted peer is ignored. */
	rq = post_text("/hooks/ipsrc", "X-Forwarded-For: 192.0.2.10\r\n", BODY("i1"));
	raw_request(NULL, t.gw_port, rq, resp, sizeof(resp));
	expect_refused(&t, resp, "client address not allowed", "allowlist");
	free(rq);

	/* The accepted events became cases... and no secret or token is in the log or the metrics. */
	struct itest_wait w = {&t, 6}; /* sentry, swh, graf (one case: same body, same key), tok x2, both */
	assert_true(cg_h_poll(itest_has_ncases, &w, 10000));
	char url[128];
	snprintf(url, sizeof(url), "%s/metrics", t.gw_url);
	struct cg_h_resp r;
	assert_int_equal(cg_h_http("GET", url, NULL, NULL, 0, &r), 0);
	char *log = gw_log(&t);
	static const char *const secrets[] = {"SECRET", "c2VjcmV0LWtleS1ieXRlcw", "secret-key-bytes"};
	for (size_t i = 0; i < 3; i++) {
		if (strstr(log, secrets[i]) || (r.body && strstr(r.body, secrets[i]))) {
			print_error("'%s' leaked into the log or /metrics:\n%s\n", secrets[i], log);
			fail();
		}
	}
	assert_non_null(strstr(log, "redelivery of webhook msg_42"));
	/* The two repeats were counted, and neither became an event. */
	if (!strstr(r.body, "casegate_duplicate_deliveries_total{source=\"swh\"} 1") ||
	    !strstr(r.body, "casegate_duplicate_deliveries_total{source=\"graf\"} 1")) {
		print_error("duplicate deliveries not counted per source:\n%s\n", r.body);
		fail();
	}
	assert_non_null(strstr(r.body, "casegate_auth_failures_total"));
	cg_h_resp_free(&r);
	free(log);
	finish(&t);
}

/* ---- limits through the daemon, each bounded in time ---- */

struct conns_wait {
	struct itest *t;
};

static int conns_settled(void *ud)
{
	struct conns_wait *w = ud;
	double n = itest_metric(w->t, "casegate_http_connections", NULL);
	return n >= 0 && n <= 1;
}

static void test_limits(void **state)
{
	struct itest t;
	char resp[8192];
	int eof;
	start(&t, "sec-lim",
	      "limits:\n  max_body: 64KiB\n  header_timeout: 400ms\n  body_timeout: 400ms\n  max_connections: 16\n",
	      "  - name: open\n    type: generic\n    auth: none\n" PROJECT);

	/* Slowloris head: a byte every 100 ms never completes the head; 408 and closed by the
	 * header timeout (the trickle does not reset it). */
	int64_t t0 = mono_ms();
	int fd = tcp_connect(NULL, t.gw_port);
	const char *head = "POST /hooks/open HTTP/1.1\r\nHost: x\r\nX-A: ";
	send(fd, head, strlen(head), MSG_NOSIGNAL);
	eof = 0;
	resp[0] = '\0';
	while (!eof && mono_ms() - t0 < 5000) {
		send(fd, "a", 1, MSG_NOSIGNAL);
		cg_h_read_for(fd, resp, sizeof(resp), 100, &eof);
		if (resp[0])
			break;
	}
	size_t have = strlen(resp);
	if (!eof) /* the rest of the answer, after what the loop read */
		cg_h_read_for(fd, resp + have, sizeof(resp) - have, 2000, &eof);
	int64_t took = mono_ms() - t0;
	close(fd);
	expect_status(status_of(resp), 408, "slow head", resp);
	if (!eof || took > 2500) {
		print_error("slow head: closed=%d after %lld ms, want closed within 2.5 s\n", eof, (long long)took);
		fail();
	}

	/* Slow body: head complete, body stalls; 408 and closed. */
	t0 = mono_ms();
	fd = tcp_connect(NULL, t.gw_port);
	const char *sb = "POST /hooks/open HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"title\":";
	send(fd, sb, strlen(sb), MSG_NOSIGNAL);
	cg_h_read_for(fd, resp, sizeof(resp), 3000, &eof);
	took = mono_ms() - t0;
	close(fd);
	expect_status(status_of(resp), 408, "slow body", resp);
	if (!eof || took > 2500)
		fail_msg("slow body: closed=%d after %lld ms", eof, (long long)took);

	/* 1 GiB declared: refused before any body byte is read. */
	t0 = mono_ms();
	expect_status(raw_request(NULL, t.gw_port,
				  "POST /hooks/open HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\n\r\n", resp,
				  sizeof(resp)),
		      413, "1 GiB Content-Length", resp);
	if (mono_ms() - t0 > 1000)
		fail_msg("1 GiB refusal took %lld ms", (long long)(mono_ms() - t0));

	/* Chunked body past max_body: 413. */
	fd = tcp_connect(NULL, t.gw_port);
	const char *ch = "POST /hooks/open HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
	send(fd, ch, strlen(ch), MSG_NOSIGNAL);
	char chunk[8192 + 16];
	int n = snprintf(chunk, sizeof(chunk), "2000\r\n");
	memset(chunk + n, 'a', 8192);
	memcpy(chunk + n + 8192, "\r\n", 2);
	for (int i = 0; i < 16; i++)
		if (send(fd, chunk, (size_t)n + 8194, MSG_NOSIGNAL) < 0)
			break;
	cg_h_read_for(fd, resp, sizeof(resp), 3000, &eof);
	close(fd);
	expect_status(status_of(resp), 413, "chunked over max_body", resp);

	/* Too many headers: 431. */
	char *big = malloc(200 * 16 + 256);
	size_t o = (size_t)sprintf(big, "GET /healthz HTTP/1.1\r\nHost: x\r\n");
	for (int i = 0; i < 150; i++)
		o += (size_t)snprintf(big + o, 32, "X-H%d: v\r\n", i);
	memcpy(big + o, "\r\n", 3);
	expect_status(raw_request(NULL, t.gw_port, big, resp, sizeof(resp)), 431, "150 headers", resp);
	free(big);

	/* Connection limit: the 17th concurrent connection is refused with 503. */
	int fds[16];
	for (int i = 0; i < 16; i++) {
		fds[i] = tcp_connect(NULL, t.gw_port);
		send(fds[i], "GET /", 5, MSG_NOSIGNAL);
	}
	fd = tcp_connect(NULL, t.gw_port);
	cg_h_read_for(fd, resp, sizeof(resp), 2000, &eof);
	close(fd);
	for (int i = 0; i < 16; i++)
		close(fds[i]);
	expect_status(status_of(resp), 503, "connection 17", resp);
	assert_non_null(strstr(resp, "too many connections"));

	/* The refused and the 16 idle connections are gone before the flood starts (its own
	 * /metrics request is the one connection left). */
	struct conns_wait cw = {&t};
	if (!cg_h_poll(conns_settled, &cw, 5000))
		fail_msg("connections did not close");

	/* Pipelined flood: 8000 requests of 2 KiB (16 MiB, more than the socket buffers hold) without
	 * reading: the server stops reading (backpressure) instead of buffering, then answers every
	 * one once we read. Bounded in time. */
	t0 = mono_ms();
	fd = tcp_connect(NULL, t.gw_port);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	char one[2100];
	int ol = snprintf(one, sizeof(one), "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: %02000d\r\n\r\n", 0);
	const int total = 8000;
	size_t tosend = (size_t)ol * (size_t)total, sent = 0;
	int answered = 0, stalled = 0;
	char carry[16] = "";
	size_t carry_len = 0;
	static char rbuf[65536 + 16];
	char first[64] = "";
	while (answered < total && mono_ms() - t0 < 20000) {
		if (sent < tosend) {
			size_t off = sent % (size_t)ol;
			ssize_t w = send(fd, one + off, (size_t)ol - off, MSG_NOSIGNAL);
			if (w > 0) {
				sent += (size_t)w;
				if (!stalled)
					continue;
			} else {
				stalled = 1; /* the server is not taking more: bounded buffering */
			}
		}
		struct pollfd p = {.fd = fd, .events = POLLIN | (sent < tosend ? POLLOUT : 0)};
		poll(&p, 1, 100);
		memcpy(rbuf, carry, carry_len);
		ssize_t r = recv(fd, rbuf + carry_len, 65536, 0);
		if (r <= 0)
			continue;
		if (!first[0])
			snprintf(first, sizeof(first), "%.*s", (int)(r < 60 ? r : 60), rbuf + carry_len);
		size_t len = carry_len + (size_t)r;
		for (size_t i = 0; i + 12 <= len; i++)
			if (rbuf[i] == 'H' && memcmp(rbuf + i, "HTTP/1.1 200", 12) == 0)
				answered++;
		carry_len = len < 11 ? len : 11;
		memcpy(carry, rbuf + len - carry_len, carry_len);
	}
	close(fd);
	if (answered != total || !stalled)
		fail_msg("pipelined flood: %d/%d answered, stalled=%d, %lld ms, first answer: %s", answered, total,
			 stalled, (long long)(mono_ms() - t0), first);
	assert_true(cg_h_alive(&t.gw));
	/* Memory stayed bounded: the daemon's peak RSS under 200 MiB. */
	char st[64];
	snprintf(st, sizeof(st), "/proc/%d/status", (int)t.gw.pid);
	char *status = cg_h_read_file(st, NULL);
	const char *hwm = status ? strstr(status, "VmHWM:") : NULL;
	long kb = hwm ? strtol(hwm + 6, NULL, 10) : 0;
	free(status);
	if (kb <= 0 || kb > 200 * 1024)
		fail_msg("peak RSS %ld KiB", kb);
	finish(&t);
}

/* ---- behind a real nginx ---- */

struct port_wait {
	int port;
};

static int port_open(void *ud)
{
	struct port_wait *w = ud;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)w->port)};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	int ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

static void test_nginx(void **state)
{
	if (access("/usr/sbin/nginx", X_OK) != 0)
		cg_h_skip("nginx", "/usr/sbin/nginx missing (deploy/install-deps.sh test installs nginx-light)");
	struct itest t;
	char resp[8192];
	/* nginx reaches casegate from 127.0.0.2 (proxy_bind): only that peer is trusted. */
	start(&t, "sec-nginx", "trusted_proxies: [127.0.0.2/32]\n",
	      "  - name: edge\n    type: generic\n    auth: {bearer: edge-token}\n    allow_ips: [127.0.0.5/32]\n" PROJECT);

	/* The shipped config minus TLS: same location block, same proxy headers. */
	char *src = cg_h_fmt("%s/deploy/nginx-casegate.conf", cg_h_source_dir());
	char *shipped = cg_h_read_file(src, NULL);
	assert_non_null(shipped);
	const char *loc = strstr(shipped, "    location /hooks/ {");
	const char *loc_end = loc ? strstr(loc, "\n    }\n") : NULL;
	assert_non_null(loc_end);
	int nport = 0;
	struct cg_h_proc ng;
	int started = 0;
	for (int attempt = 0; attempt < 3 && !started; attempt++) {
		nport = cg_h_free_port();
		char *conf = cg_h_fmt("worker_processes 1;\npid %s/nginx.pid;\nerror_log %s/nginx-error.log info;\n"
				      "events { worker_connections 64; }\n"
				      "http {\n  access_log off;\n"
				      "  client_body_temp_path %s/cb; proxy_temp_path %s/pt; fastcgi_temp_path %s/ft;\n"
				      "  uwsgi_temp_path %s/ut; scgi_temp_path %s/st;\n"
				      "  upstream casegate { server 127.0.0.1:%d; keepalive 4; }\n"
				      "  server {\n    listen 127.0.0.1:%d;\n    proxy_bind 127.0.0.2;\n"
				      "    client_max_body_size 1m;\n"
				      "%.*s\n  }\n}\n",
				      t.dir, t.dir, t.dir, t.dir, t.dir, t.dir, t.dir, t.gw_port, nport,
				      (int)(loc_end - loc) + 6, loc);
		char *cpath = cg_h_fmt("%s/nginx.conf", t.dir);
		cg_h_write_file(cpath, conf, strlen(conf));
		char *log = cg_h_fmt("%s/nginx.out", t.dir);
		char *const argv[] = {"/usr/sbin/nginx", "-p", t.dir, "-e", "stderr", "-c", cpath, "-g", "daemon off;", NULL};
		if (cg_h_spawn(&ng, argv, NULL, log) == 0) {
			struct port_wait pw = {nport};
			started = cg_h_poll(port_open, &pw, 5000);
			if (!started) {
				cg_h_dump_log(&ng);
				cg_h_stop(&ng, SIGTERM);
			}
		}
		free(conf);
		free(cpath);
		free(log);
	}
	if (!started)
		fail_msg("nginx did not start");

	/* Through nginx from 127.0.0.5: nginx appends the real client; casegate believes its proxy. */
	char *rq = post_text("/hooks/edge", "Authorization: Bearer edge-token\r\n", BODY("n1"));
	expect_status(raw_request("127.0.0.5", nport, rq, resp, sizeof(resp)), 202, "via nginx from 127.0.0.5", resp);
	/* A spoofed X-Forwarded-For from another client does not help: the rightmost untrusted hop counts. */
	char *rq2 = post_text("/hooks/edge", "Authorization: Bearer edge-token\r\nX-Forwarded-For: 127.0.0.5\r\n", BODY("n2"));
	expect_status(raw_request("127.0.0.6", nport, rq2, resp, sizeof(resp)), 401, "spoofed via nginx", resp);
	/* Directly: the header of an untrusted peer is ignored. */
	expect_status(raw_request("127.0.0.6", t.gw_port, rq2, resp, sizeof(resp)), 401, "spoofed direct", resp);
	expect_status(raw_request("127.0.0.5", t.gw_port, rq, resp, sizeof(resp)), 202, "direct from 127.0.0.5", resp);
	free(rq);
	free(rq2);
	/* The log names the real client of the refused request. */
	char *log = gw_log(&t);
	if (!strstr(log, "client=127.0.0.6: forbidden")) {
		print_error("log lacks client=127.0.0.6:\n%s\n", log);
		fail();
	}
	free(log);
	cg_h_stop(&ng, SIGTERM);
	free(shipped);
	free(src);
	finish(&t);
}

/* ---- TLS on the listener ---- */

static void sh(const char *cmd)
{
	int rc = system(cmd);
	if (rc != 0)
		fail_msg("command failed (%d): %s", rc, cmd);
}

/* A CA and a localhost certificate it signed, in dir. */
static void make_pki(const char *dir)
{
	char *cmd = cg_h_fmt(
		"cd '%s' && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=test-ca "
		"2>/dev/null && openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=localhost "
		"2>/dev/null && printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > ext && "
		"openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 -extfile ext "
		"2>/dev/null && chmod 600 srv.key",
		dir);
	sh(cmd);
	free(cmd);
}

static size_t sink(char *p, size_t s, size_t n, void *ud)
{
	struct cg_h_resp *r = ud;
	size_t len = s * n;
	char *nb = realloc(r->body, r->body_len + len + 1);
	memcpy(nb + r->body_len, p, len);
	r->body = nb;
	r->body_len += len;
	nb[r->body_len] = '\0';
	return len;
}

static void test_tls(void **state)
{
	struct itest t;
	char resp[8192];
	int eof;
	assert_int_equal(itest_setup(&t, "sec-tls"), 0);
	make_pki(t.dir);
	assert_int_equal(itest_start_sim(&t, NULL), 0);
	char *top = cg_h_fmt("tls: {cert_file: %s/srv.pem, key_file: %s/srv.key}\nlimits:\n  header_timeout: 500ms\n", t.dir,
			     t.dir);
	assert_int_equal(itest_write_config(&t, top, "  - name: open\n    type: generic\n    auth: {bearer: tls-tok}\n" PROJECT), 0);
	free(top);
	if (itest_start_gw(&t) != 0)
		fail_msg("casegate did not start");
	char *log = gw_log(&t);
	assert_non_null(strstr(log, "(TLS, "));
	free(log);

	/* Several requests on one verified TLS connection, one with a body of many records. */
	CURL *e = curl_easy_init();
	char url[128], ca[600];
	snprintf(ca, sizeof(ca), "%s/ca.pem", t.dir);
	char *big = malloc(200 * 1024);
	int n = snprintf(big, 200 * 1024, "{\"title\":\"big\",\"status\":\"open\",\"dedup_key\":\"big\",\"description\":\"");
	memset(big + n, 'x', 150 * 1024);
	strcpy(big + n + 150 * 1024, "\"}");
	const char *bodies[] = {BODY("tls1"), big, BODY("tls2")};
	struct curl_slist *h = curl_slist_append(NULL, "Authorization: Bearer tls-tok");
	h = curl_slist_append(h, "Content-Type: application/json");
	for (int i = 0; i < 3; i++) {
		struct cg_h_resp r = {0};
		snprintf(url, sizeof(url), "https://localhost:%d/hooks/open", t.gw_port);
		curl_easy_setopt(e, CURLOPT_URL, url);
		curl_easy_setopt(e, CURLOPT_CAINFO, ca);
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, bodies[i]);
		curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
		curl_easy_setopt(e, CURLOPT_WRITEDATA, &r);
		CURLcode cc = curl_easy_perform(e);
		long st = 0;
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &st);
		if (cc != CURLE_OK || st != 202)
			fail_msg("TLS request %d: %s, HTTP %ld: %s", i, curl_easy_strerror(cc), st, r.body ? r.body : "");
		free(r.body);
	}
	long nconn = 0;
	curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &nconn);
	assert_int_equal(nconn, 0); /* the last request reused the connection */
	curl_easy_cleanup(e);
	curl_slist_free_all(h);
	free(big);

	/* An untrusted client (no CA) fails verification: the certificate really is checked. */
	e = curl_easy_init();
	snprintf(url, sizeof(url), "https://localhost:%d/healthz", t.gw_port);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_CAINFO, "/dev/null");
	assert_int_not_equal(curl_easy_perform(e), CURLE_OK);
	curl_easy_cleanup(e);

	/* Plain HTTP to the TLS port gets no HTTP answer, and the connection ends. */
	raw_request(NULL, t.gw_port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", resp, sizeof(resp));
	assert_int_equal(status_of(resp), 0);
	/* A client that never starts the handshake is closed by the header timeout. */
	int64_t t0 = mono_ms();
	int fd = tcp_connect(NULL, t.gw_port);
	cg_h_read_for(fd, resp, sizeof(resp), 3000, &eof);
	close(fd);
	if (!eof || mono_ms() - t0 > 2500)
		fail_msg("silent TLS client: closed=%d after %lld ms", eof, (long long)(mono_ms() - t0));
	struct itest_wait w = {&t, 3};
	assert_true(cg_h_poll(itest_has_ncases, &w, 10000));
	finish(&t);
}

/* ---- AWS SNS with the certificate fetched over HTTPS ---- */

static const char *py_server =
	"import http.server, ssl, sys\n"
	"d = sys.argv[1]\n"
	"class H(http.server.BaseHTTPRequestHandler):\n"
	"    def do_GET(self):\n"
	"        print('GET ' + self.path, flush=True)\n"
	"        if self.path.startswith('/cert.pem'):\n"
	"            body = open(d + '/sns.pem', 'rb').read()\n"
	"        else:\n"
	"            body = b'<ConfirmSubscriptionResponse/>'\n"
	"        self.send_response(200)\n"
	"        self.send_header('Content-Length', str(len(body)))\n"
	"        self.end_headers()\n"
	"        self.wfile.write(body)\n"
	"    def log_message(self, *a):\n"
	"        pass\n"
	"srv = http.server.HTTPServer(('127.0.0.1', 0), H)\n"
	"ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
	"ctx.load_cert_chain(d + '/srv.pem', d + '/srv.key')\n"
	"srv.socket = ctx.wrap_socket(srv.socket, server_side=True)\n"
	"print('PORT %d' % srv.server_address[1], flush=True)\n"
	"srv.serve_forever()\n";

/* A signed SNS SubscriptionConfirmation whose SubscribeURL points at the local server. */
static char *sns_confirmation(const char *dir, int port)
{
	char *cert_url = cg_h_fmt("https://localhost:%d/cert.pem", port);
	char *sub = cg_h_fmt("https://localhost:%d/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-east-1:123456789012:"
			     "alerts&Token=2336412f37fb",
			     port);
	const char *mid = "7c4a4b1e-0000-4000-8000-000000000009", *ts = "2024-05-02T00:54:06.655Z",
		   *topic = "arn:aws:sns:us-east-1:123456789012:alerts", *tok = "2336412f37fb",
		   *msg = "You have chosen to subscribe to the topic. To confirm, visit the SubscribeURL.";
	char *sts = cg_h_fmt("Message\n%s\nMessageId\n%s\nSubscribeURL\n%s\nTimestamp\n%s\nToken\n%s\nTopicArn\n%s\n"
			     "Type\nSubscriptionConfirmation\n",
			     msg, mid, sub, ts, tok, topic);
	char *f = cg_h_fmt("%s/sts", dir);
	cg_h_write_file(f, sts, strlen(sts));
	char *cmd = cg_h_fmt("openssl dgst -sha1 -sign '%s/sns.key' '%s' | base64 -w0", dir, f);
	FILE *p = popen(cmd, "r");
	char sig[1024] = "";
	size_t n = fread(sig, 1, sizeof(sig) - 1, p);
	sig[n] = '\0';
	pclose(p);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "Type", "SubscriptionConfirmation");
	cJSON_AddStringToObject(o, "MessageId", mid);
	cJSON_AddStringToObject(o, "Token", tok);
	cJSON_AddStringToObject(o, "TopicArn", topic);
	cJSON_AddStringToObject(o, "Message", msg);
	cJSON_AddStringToObject(o, "SubscribeURL", sub);
	cJSON_AddStringToObject(o, "Timestamp", ts);
	cJSON_AddStringToObject(o, "SignatureVersion", "1");
	cJSON_AddStringToObject(o, "Signature", sig);
	cJSON_AddStringToObject(o, "SigningCertURL", cert_url);
	char *s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	free(cmd);
	free(f);
	free(sts);
	free(sub);
	free(cert_url);
	return s;
}

static char *sns_envelope(const char *dir, int port, const char *message, int tamper)
{
	char *cert_url = cg_h_fmt("https://localhost:%d/cert.pem", port);
	const char *mid = "7c4a4b1e-0000-4000-8000-000000000001", *ts = "2024-05-02T00:54:06.655Z",
		   *topic = "arn:aws:sns:us-east-1:123456789012:alerts";
	char *sts = cg_h_fmt("Message\n%s\nMessageId\n%s\nSubject\nALARM\nTimestamp\n%s\nTopicArn\n%s\nType\nNotification\n",
			     message, mid, ts, topic);
	char *f = cg_h_fmt("%s/sts", dir);
	cg_h_write_file(f, sts, strlen(sts));
	char *cmd = cg_h_fmt("openssl dgst -sha256 -sign '%s/sns.key' '%s' | base64 -w0", dir, f);
	FILE *p = popen(cmd, "r");
	char sig[1024] = "";
	size_t n = fread(sig, 1, sizeof(sig) - 1, p);
	sig[n] = '\0';
	pclose(p);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "Type", "Notification");
	cJSON_AddStringToObject(o, "MessageId", mid);
	cJSON_AddStringToObject(o, "TopicArn", topic);
	cJSON_AddStringToObject(o, "Subject", "ALARM");
	cJSON_AddStringToObject(o, "Message", tamper ? "{\"title\":\"forged\"}" : message);
	cJSON_AddStringToObject(o, "Timestamp", ts);
	cJSON_AddStringToObject(o, "SignatureVersion", "2");
	cJSON_AddStringToObject(o, "Signature", sig);
	cJSON_AddStringToObject(o, "SigningCertURL", cert_url);
	/* The generic mapper reads title/status/dedup_key from the top level. */
	cJSON_AddStringToObject(o, "title", "sns alarm");
	cJSON_AddStringToObject(o, "status", "open");
	cJSON_AddStringToObject(o, "dedup_key", "sns-1");
	char *s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	free(cmd);
	free(f);
	free(sts);
	free(cert_url);
	return s;
}

static int count_lines(const char *path, const char *needle)
{
	char *s = cg_h_read_file(path, NULL);
	int n = 0;
	for (const char *p = s; p && (p = strstr(p, needle)); p++)
		n++;
	free(s);
	return n;
}

/* Proxy-form requests the trap proxy got (CONNECT host:port, or an absolute http(s) URL): what a
 * client sent it as a proxy. Other lines (a test running beside this one that connected to a port
 * it believed free) are not ours; they are printed, not counted. */
static int trap_hits(const char *path)
{
	int n = count_lines(path, "PROXY CONNECT ") + count_lines(path, " http://") + count_lines(path, " https://");
	if (n || count_lines(path, "PROXY ")) {
		char *s = cg_h_read_file(path, NULL);
		fprintf(stderr, "trap proxy log (%d proxy-form request(s)):\n%s\n", n, s ? s : "");
		free(s);
	}
	return n;
}

static int proc_exited(void *ud)
{
	return !cg_h_alive(ud);
}

struct confirm_wait {
	const char *log;
};

static int confirmed(void *ud)
{
	struct confirm_wait *w = ud;
	return count_lines(w->log, "GET /?Action=ConfirmSubscription") > 0;
}

/* In dir: a CA, a localhost certificate and an SNS signing key and certificate; the HTTPS server
 * (py_server) started with them, logging to *pylog. Returns its port. */
static int start_sns_server(const char *dir, struct cg_h_proc *ps, char **pylog)
{
	make_pki(dir);
	char *cmd = cg_h_fmt("cd '%s' && openssl req -x509 -newkey rsa:2048 -nodes -keyout sns.key -out sns.pem -days 2 "
			     "-subj /CN=sns.amazonaws.com 2>/dev/null",
			     dir);
	sh(cmd);
	free(cmd);
	char *py = cg_h_fmt("%s/srv.py", dir);
	cg_h_write_file(py, py_server, strlen(py_server));
	*pylog = cg_h_fmt("%s/py.log", dir);
	char *const argv[] = {"/usr/bin/python3", py, (char *)dir, NULL};
	assert_int_equal(cg_h_spawn(ps, argv, NULL, *pylog), 0);
	int pport = cg_h_log_port(ps, "PORT ", 10000);
	if (pport <= 0) {
		cg_h_dump_log(ps);
		fail_msg("python HTTPS server did not start");
	}
	free(py);
	return pport;
}

static void test_sns(void **state)
{
	struct itest t;
	char resp[8192];
	assert_int_equal(itest_setup(&t, "sec-sns"), 0);
	struct cg_h_proc ps;
	char *pylog = NULL;
	int pport = start_sns_server(t.dir, &ps, &pylog);
	assert_int_equal(itest_start_sim(&t, NULL), 0);
	/* The test server's port is not 443: the patterns must name it (host:port). */
	char *sources = cg_h_fmt("  - name: sns\n    type: generic\n"
				 "    verify: [{sns: {cert_hosts: [\"^localhost:[0-9]+$\"], ca_file: %s/ca.pem}}]\n" PROJECT
				 "  - name: sns-aws\n    type: generic\n    verify: [{sns: {}}]\n" PROJECT
				 "  - name: cw\n    type: cloudwatch\n"
				 "    verify: [{sns: {cert_hosts: [\"^localhost:%d$\"], confirm_hosts: [\"^localhost:%d$\"], ca_file: %s/ca.pem}}]\n" PROJECT
				 "  - name: sns-noport\n    type: generic\n"
				 "    verify: [{sns: {cert_hosts: [\"^localhost$\"], ca_file: %s/ca.pem}}]\n" PROJECT,
				 t.dir, pport, pport, t.dir, t.dir);
	assert_int_equal(itest_write_config(&t, NULL, sources), 0);
	free(sources);
	if (itest_start_gw(&t) != 0)
		fail_msg("casegate did not start");

	const char *msg = "{\"AlarmName\":\"cpu-high\",\"NewStateValue\":\"ALARM\"}";
	char *good = sns_envelope(t.dir, pport, msg, 0);
	char *rq = post_text("/hooks/sns", NULL, good);
	expect_status(raw_request(NULL, t.gw_port, rq, resp, sizeof(resp)), 202, "SNS signed", resp);
	/* Second message: the certificate comes from the cache (one download in all). */
	expect_status(raw_request(NULL, t.gw_port, rq, resp, sizeof(resp)), 202, "SNS signed again", resp);
	assert_int_equal(count_lines(pylog, "GET /cert.pem"), 1);
	free(rq);
	char *bad = sns_envelope(t.dir, pport, msg, 1);
	rq = post_text("/hooks/sns", NULL, bad);
	raw_request(NULL, t.gw_port, rq, resp, sizeof(resp));
	expect_refused(&t, resp, "signature mismatch", "SNS tampered");
	free(rq);
	/* The default allowlist (AWS hosts only) refuses a certificate from localhost, without fetching. */
	rq = post_text("/hooks/sns-aws", NULL, good);
	raw_request(NULL, t.gw_port, rq, resp, sizeof(resp));
	expect_refused(&t, resp, "SigningCertURL refused: URL host is not in the allowlist", "SNS cert host");
	free(rq);
	/* The right host on another port than 443, not named with its port: refused, not fetched. */
	rq = post_text("/hooks/sns-noport", NULL, good);
	raw_request(NULL, t.gw_port, rq, resp, sizeof(resp));
	expect_refused(&t, resp, "SigningCertURL refused: URL port is not 443", "SNS cert port");
	free(rq);
	assert_int_equal(count_lines(pylog, "GET /cert.pem"), 1);
	/* A verified SubscriptionConfirmation is confirmed: casegate GETs the SubscribeURL. */
	char *conf = sns_confirmation(t.dir, pport);
	rq = post_text("/hooks/cw", NULL, conf);
	expect_status(raw_request(NULL, t.gw_port, rq, resp, sizeof(resp)), 200, "SNS subscription", resp);
	free(rq);
	free(conf);
	struct confirm_wait cwait = {pylog};
	if (!cg_h_poll(confirmed, &cwait, 10000))
		fail_msg("the SubscribeURL was not fetched");
	assert_true(cg_h_wait_log(&t.gw, "SNS subscription confirmed (HTTP 200)", 5000));
	/* Certificate server gone: 503 (SNS retries), not 401. */
	cg_h_stop(&ps, SIGTERM);
	char *other = sns_envelope(t.dir, cg_h_free_port(), msg, 0);
	rq = post_text("/hooks/sns", NULL, other);
	expect_status(raw_request(NULL, t.gw_port, rq, resp, sizeof(resp)), 503, "SNS cert unreachable", resp);
	free(rq);
	free(other);
	free(good);
	free(bad);
	free(pylog);
	finish(&t);
}

/* ---- outbound calls through datadog.proxy, never the *_proxy environment variables ---- */

/* A forward proxy: CONNECT tunnels (https targets) and absolute-form requests (http targets),
 * keep-alive; logs each request line as "PROXY <line>". Started twice: the configured proxy, and
 * a trap the environment's *_proxy variables point at (which must stay silent). */
static const char *py_proxy =
	"import http.client, select, socket, sys, threading\n"
	"def log(s):\n"
	"    print('PROXY ' + s, flush=True)\n"
	"def tunnel(a, b):\n"
	"    while True:\n"
	"        r, _, _ = select.select([a, b], [], [], 30)\n"
	"        if not r:\n"
	"            return\n"
	"        for s in r:\n"
	"            d = s.recv(65536)\n"
	"            if not d:\n"
	"                return\n"
	"            (b if s is a else a).sendall(d)\n"
	"def serve(c):\n"
	"    f = c.makefile('rb')\n"
	"    while True:\n"
	"        line = f.readline().decode().rstrip('\\r\\n')\n"
	"        if not line:\n"
	"            return\n"
	"        hdrs = []\n"
	"        while True:\n"
	"            h = f.readline().decode().rstrip('\\r\\n')\n"
	"            if not h:\n"
	"                break\n"
	"            k, v = h.split(':', 1)\n"
	"            hdrs.append((k.strip(), v.strip()))\n"
	"        log(line)\n"
	"        method, target, _ = line.split(' ')\n"
	"        if method == 'CONNECT':\n"
	"            host, port = target.rsplit(':', 1)\n"
	"            u = socket.create_connection((host, int(port)))\n"
	"            c.sendall(b'HTTP/1.1 200 Connection established\\r\\n\\r\\n')\n"
	"            tunnel(c, u)\n"
	"            u.close()\n"
	"            return\n"
	"        n = int(dict((k.lower(), v) for k, v in hdrs).get('content-length', '0'))\n"
	"        body = f.read(n) if n else None\n"
	"        hostport, _, path = target.split('://', 1)[1].partition('/')\n"
	"        host, port = hostport.rsplit(':', 1)\n"
	"        u = http.client.HTTPConnection(host, int(port), timeout=30)\n"
	"        u.putrequest(method, '/' + path, skip_host=True, skip_accept_encoding=True)\n"
	"        for k, v in hdrs:\n"
	"            if not k.lower().startswith('proxy-'):\n"
	"                u.putheader(k, v)\n"
	"        u.endheaders(body)\n"
	"        r = u.getresponse()\n"
	"        data = r.read()\n"
	"        out = 'HTTP/1.1 %d %s\\r\\n' % (r.status, r.reason)\n"
	"        for k, v in r.getheaders():\n"
	"            if k.lower() not in ('transfer-encoding', 'content-length', 'connection'):\n"
	"                out += '%s: %s\\r\\n' % (k, v)\n"
	"        out += 'Content-Length: %d\\r\\n\\r\\n' % len(data)\n"
	"        c.sendall(out.encode() + data)\n"
	"        u.close()\n"
	"def run(c):\n"
	"    try:\n"
	"        serve(c)\n"
	"    except Exception as e:\n"
	"        print('ERROR %r' % e, flush=True)\n"
	"    finally:\n"
	"        c.close()\n"
	"ls = socket.socket()\n"
	"ls.bind(('127.0.0.1', 0))\n"
	"ls.listen(16)\n"
	"print('PORT %d' % ls.getsockname()[1], flush=True)\n"
	"while True:\n"
	"    c, _ = ls.accept()\n"
	"    threading.Thread(target=run, args=(c,), daemon=True).start()\n";

/* Starts py_proxy logging to dir/name.log; returns its port. */
static int start_proxy(struct cg_h_proc *p, const char *dir, const char *name, char **log_out)
{
	char *py = cg_h_fmt("%s/proxy.py", dir);
	cg_h_write_file(py, py_proxy, strlen(py_proxy));
	*log_out = cg_h_fmt("%s/%s.log", dir, name);
	char *const argv[] = {"/usr/bin/python3", py, NULL};
	assert_int_equal(cg_h_spawn(p, argv, NULL, *log_out), 0);
	int port = cg_h_log_port(p, "PORT ", 10000);
	if (port <= 0) {
		cg_h_dump_log(p);
		fail_msg("python proxy did not start");
	}
	free(py);
	return port;
}

/* Points every *_proxy variable libcurl reads at url (NULL: removes them). */
static void env_proxy(const char *url)
{
	static const char *const names[] = {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
					    "ALL_PROXY", NULL};
	for (size_t i = 0; names[i]; i++) {
		if (url)
			setenv(names[i], url, 1);
		else
			unsetenv(names[i]);
	}
	unsetenv("no_proxy");
	unsetenv("NO_PROXY");
}

struct lines_wait {
	const char *log, *needle;
	int want;
};

static int has_lines(void *ud)
{
	struct lines_wait *w = ud;
	return count_lines(w->log, w->needle) >= w->want;
}

/* ---- SNS subscription confirmation (in process: guard + fetch on a loop) ---- */

static void test_confirm_subscription(void **state)
{
	char *dir = cg_h_tmpdir("sec-confirm");
	make_pki(dir);
	char *cmd = cg_h_fmt("cp '%s/srv.pem' '%s/sns.pem'", dir, dir);
	sh(cmd);
	free(cmd);
	char *py = cg_h_fmt("%s/srv.py", dir);
	cg_h_write_file(py, py_server, strlen(py_server));
	struct cg_h_proc ps;
	char *pylog = cg_h_fmt("%s/py.log", dir);
	char *const argv[] = {"/usr/bin/python3", py, dir, NULL};
	assert_int_equal(cg_h_spawn(&ps, argv, NULL, pylog), 0);
	int pport = cg_h_log_port(&ps, "PORT ", 10000);
	assert_true(pport > 0);

	char *text = cg_h_fmt("sources:\n  - name: cw\n    type: generic\n"
			      "    verify: [{sns: {confirm_hosts: [\"^localhost:%d$\"], ca_file: %s/ca.pem}}]\n" PROJECT
			      "  - name: cw-default\n    type: generic\n    auth: none\n" PROJECT
			      "  - name: cw-noport\n    type: generic\n"
			      "    verify: [{sns: {confirm_hosts: [\"^localhost$\"], ca_file: %s/ca.pem}}]\n" PROJECT,
			      pport, dir, dir);
	struct cg_config *cfg = NULL;
	char *errs = NULL;
	if (cg_config_parse("t.yaml", text, strlen(text), &cfg, &errs) != 0)
		fail_msg("config: %s", errs);
	/* No datadog.proxy: fetches go straight to the server, whatever https_proxy says. */
	struct cg_h_proc trap;
	char *tlog = NULL;
	int trap_port = start_proxy(&trap, dir, "trap", &tlog);
	char *trap_url = cg_h_fmt("http://127.0.0.1:%d", trap_port);
	env_proxy(trap_url);
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct cg_guard *g = NULL;
	assert_int_equal(cg_guard_create(&loop, cfg, &g), 0);
	char *url = cg_h_fmt("https://localhost:%d/?Action=ConfirmSubscription&TopicArn=arn:x&Token=abc", pport);
	assert_int_equal(cg_guard_confirm_subscription(g, &cfg->sources[0], url), 0);
	/* Default allowlist: only sns.<region>.amazonaws.com. */
	assert_int_equal(cg_guard_confirm_subscription(g, &cfg->sources[1], url), CG_EAUTH);
	/* The allowed host on a port the allowlist does not name: not followed. */
	assert_int_equal(cg_guard_confirm_subscription(g, &cfg->sources[2], url), CG_EAUTH);
	/* Plain http is never followed. */
	assert_int_equal(cg_guard_confirm_subscription(g, &cfg->sources[0], "http://localhost/?Action=x"), CG_EAUTH);
	struct confirm_wait w = {pylog};
	int64_t end = mono_ms() + 10000;
	while (!confirmed(&w) && mono_ms() < end)
		uv_run(&loop, UV_RUN_ONCE);
	assert_true(confirmed(&w));
	/* Let the transfer finish before tearing down. */
	for (int i = 0; i < 50; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	cg_guard_destroy(g, NULL, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	env_proxy(NULL);
	assert_int_equal(trap_hits(tlog), 0);
	cg_h_stop(&trap, SIGTERM);
	free(tlog);
	free(trap_url);
	cg_h_stop(&ps, SIGTERM);
	cg_config_free(cfg);
	free(errs);
	free(text);
	free(url);
	free(py);
	free(pylog);
	cg_h_rmrf(dir);
	free(dir);
}

/*
 * datadog.proxy carries every outbound call of the daemon and the CLI: the SNS certificate fetch
 * (CONNECT, trusting datadog.ca_file as the source sets no ca_file of its own), the Case API calls
 * and check-config --online; the *_proxy environment variables (pointing at a trap) are never used.
 */
static void test_proxy_everywhere(void **state)
{
	(void)state;
	struct itest t;
	char resp[8192];
	assert_int_equal(itest_setup(&t, "sec-proxy"), 0);
	struct cg_h_proc ps, proxy, trap;
	char *pylog = NULL, *plog = NULL, *tlog = NULL;
	int pport = start_sns_server(t.dir, &ps, &pylog);
	int proxy_port = start_proxy(&proxy, t.dir, "proxy", &plog);
	int trap_port = start_proxy(&trap, t.dir, "trap", &tlog);
	assert_int_equal(itest_start_sim(&t, NULL), 0);

	char *dd = cg_h_fmt("  proxy: http://127.0.0.1:%d\n  ca_file: %s/ca.pem\n  search_settle: 1s\n", proxy_port, t.dir);
	char *sources = cg_h_fmt("  - name: sns\n    type: generic\n"
				 "    verify: [{sns: {cert_hosts: [\"^localhost:[0-9]+$\"]}}]\n" PROJECT);
	assert_int_equal(itest_write_config_dd(&t, dd, NULL, sources), 0);
	free(dd);
	free(sources);
	/* The daemon and the CLI run with every *_proxy variable pointing at the trap. */
	char *trap_url = cg_h_fmt("http://127.0.0.1:%d", trap_port);
	char *e1 = cg_h_fmt("http_proxy=%s", trap_url), *e2 = cg_h_fmt("https_proxy=%s", trap_url),
	     *e3 = cg_h_fmt("HTTPS_PROXY=%s", trap_url), *e4 = cg_h_fmt("ALL_PROXY=%s", trap_url),
	     *e5 = cg_h_fmt("all_proxy=%s", trap_url);
	char *const env[] = {e1, e2, e3, e4, e5, NULL};
	char bin[512], gwlog[600];
	snprintf(bin, sizeof(bin), "%s/casegate", cg_h_binary_dir());
	snprintf(gwlog, sizeof(gwlog), "%s/casegate.log", t.dir);
	char *const gargv[] = {bin, "run", "-c", t.cfg_path, "--datadog-url", t.sim_url, NULL};
	assert_int_equal(cg_h_spawn(&t.gw, gargv, env, gwlog), 0);
	t.gw_port = cg_h_log_port(&t.gw, "listening on 127.0.0.1:", 15000);
	if (t.gw_port <= 0) {
		cg_h_dump_log(&t.gw);
		fail_msg("casegate did not start");
	}
	t.gw_running = 1;

	const char *msg = "{\"AlarmName\":\"cpu-high\",\"NewStateValue\":\"ALARM\"}";
	char *good = sns_envelope(t.dir, pport, msg, 0);
	char *rq = post_text("/hooks/sns", NULL, good);
	expect_status(raw_request(NULL, t.gw_port, rq, resp, sizeof(resp)), 202, "SNS signed, through the proxy", resp);
	free(rq);
	free(good);
	char *connect = cg_h_fmt("PROXY CONNECT localhost:%d ", pport);
	assert_int_equal(count_lines(plog, connect), 1);
	assert_int_equal(count_lines(pylog, "GET /cert.pem"), 1);
	/* The case is created through the proxy too (absolute-form requests to the simulator). */
	char *cases = cg_h_fmt("PROXY POST %s/api/v2/cases", t.sim_url);
	struct lines_wait w = {plog, cases, 1};
	if (!cg_h_poll(has_lines, &w, 15000)) {
		cg_h_dump_log(&t.gw);
		fail_msg("no Case API call through the proxy");
	}
	/* The CLI goes the same way. */
	char clilog[600];
	snprintf(clilog, sizeof(clilog), "%s/cli.log", t.dir);
	char *const cargv[] = {bin, "check-config", "-c", t.cfg_path, "--online", "--datadog-url", t.sim_url, NULL};
	struct cg_h_proc cli;
	assert_int_equal(cg_h_spawn(&cli, cargv, env, clilog), 0);
	char *projects = cg_h_fmt("PROXY GET %s/api/v2/cases/projects", t.sim_url);
	w.needle = projects;
	if (!cg_h_poll(has_lines, &w, 15000)) {
		cg_h_stop(&cli, SIGKILL);
		cg_h_dump_log(&cli);
		fail_msg("check-config --online did not go through the proxy");
	}
	/* It finishes on its own: stopped while its tunnel is open, the proxy would log the reset. */
	if (!cg_h_poll(proc_exited, &cli, 20000)) {
		cg_h_dump_log(&cli);
		fail_msg("check-config --online did not finish within 20 s");
	}
	cg_h_stop(&cli, SIGTERM);
	/* Nothing ever reached the trap. */
	assert_int_equal(trap_hits(tlog), 0);
	if (count_lines(plog, "ERROR")) {
		char *s = cg_h_read_file(plog, NULL);
		fail_msg("the proxy logged errors:\n%s", s ? s : "");
	}
	finish(&t);
	cg_h_stop(&ps, SIGTERM);
	cg_h_stop(&proxy, SIGTERM);
	cg_h_stop(&trap, SIGTERM);
	free(projects);
	free(cases);
	free(connect);
	free(e1);
	free(e2);
	free(e3);
	free(e4);
	free(e5);
	free(trap_url);
	free(pylog);
	free(plog);
	free(tlog);
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signatures),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_nginx),
		cmocka_unit_test(test_tls),
		cmocka_unit_test(test_sns),
		cmocka_unit_test(test_confirm_subscription),
		cmocka_unit_test(test_proxy_everywhere),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
