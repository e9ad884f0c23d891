/* test_lmtp_server.c: the LMTP/SMTP listener driven over a real socket: pipelining, errors, limits, timeouts. */
/* labels: integration */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "lmtp.h"

struct srv {
	uv_loop_t loop;
	uv_async_t stop;
	struct cg_lmtp_server *s;
	pthread_t th;
	int port;
	pthread_mutex_t mu;
	char last_data[4096];
	char last_from[128];
	int nmsgs, last_rate_limited;
	size_t last_nrcpts;
};

static int rcpt_cb(const char *rcpt, void *ud, char *msg, size_t msglen)
{
	(void)ud;
	if (strstr(rcpt, "unknown")) {
		snprintf(msg, msglen, "5.1.1 <%s>: no such recipient", rcpt);
		return 550;
	}
	return 0;
}

static void msg_cb(struct cg_lmtp_msg *m, void *ud)
{
	struct srv *s = ud;
	pthread_mutex_lock(&s->mu);
	snprintf(s->last_data, sizeof(s->last_data), "%.*s", (int)(m->len < 4000 ? m->len : 4000), m->data);
	snprintf(s->last_from, sizeof(s->last_from), "%s", m->mail_from);
	s->nmsgs++;
	s->last_rate_limited = m->rate_limited;
	s->last_nrcpts = m->nrcpts;
	pthread_mutex_unlock(&s->mu);
	for (size_t i = 0; i < m->nrcpts; i++) {
		if (strstr(m->data, "FAIL-TEMP"))
			cg_lmtp_reply(m, i, 451, "4.3.0 try later");
		else if (strstr(m->rcpts[i], "second"))
			cg_lmtp_reply(m, i, 250, "2.0.0 second ok");
		else
			cg_lmtp_reply(m, i, 250, "2.0.0 ok");
	}
	cg_lmtp_msg_done(m);
}

static void closed_cb(void *ud)
{
	(void)ud;
}

static void stop_cb(uv_async_t *a)
{
	struct srv *s = a->data;
	cg_lmtp_server_close(s->s, closed_cb, NULL);
	uv_close((uv_handle_t *)a, NULL);
}

static void *loop_main(void *arg)
{
	struct srv *s = arg;
	uv_run(&s->loop, UV_RUN_DEFAULT);
	return NULL;
}

static struct srv *start(int smtp, size_t max_size, unsigned timeout_ms, unsigned per_hour)
{
	struct srv *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	pthread_mutex_init(&s->mu, NULL);
	assert_int_equal(uv_loop_init(&s->loop), 0);
	uv_async_init(&s->loop, &s->stop, stop_cb);
	s->stop.data = s;
	struct cg_lmtp_opts o = {.host = "127.0.0.1",
				 .port = 0,
				 .smtp = smtp,
				 .max_size = max_size,
				 .max_recipients = 3,
				 .timeout_ms = timeout_ms,
				 .max_connections = 4,
				 .max_per_sender_hour = per_hour,
				 .hostname = "mx.test"};
	char err[128];
	assert_int_equal(cg_lmtp_server_create(&s->loop, &o, rcpt_cb, msg_cb, s, &s->s, err, sizeof(err)), 0);
	s->port = cg_lmtp_server_port(s->s);
	assert_true(s->port > 0);
	assert_int_equal(pthread_create(&s->th, NULL, loop_main, s), 0);
	return s;
}

static void stop(struct srv *s)
{
	uv_async_send(&s->stop);
	pthread_join(s->th, NULL);
	int rc = uv_loop_close(&s->loop);
	if (rc != 0)
		fail_msg("uv_loop_close: got %d, want 0 (handles left open)", rc);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

static int dial(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

static void send_all(int fd, const char *s)
{
	size_t n = strlen(s);
	while (n) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
		assert_true(w > 0);
		s += w;
		n -= (size_t)w;
	}
}

/* Replies of one connection accumulate, so reply indexes count from the greeting. */
static char acc[16384];
static size_t acc_len;
static int acc_fd = -1;

/* Reads until want final reply lines ("NNN text", not "NNN-") arrived in total, or the deadline. */
static void read_replies(int fd, int want, char *buf, size_t cap, unsigned deadline_ms)
{
	if (acc_fd != fd) {
		acc_fd = fd;
		acc_len = 0;
		acc[0] = '\0';
	}
	int got = 0;
	for (;;) {
		got = 0;
		for (const char *l = acc; *l;) {
			const char *e = strstr(l, "\r\n");
			if (!e)
				break;
			if (e - l >= 4 && l[3] == ' ')
				got++;
			l = e + 2;
		}
		if (got >= want)
			break;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r = poll(&p, 1, (int)deadline_ms);
		if (r <= 0)
			fail_msg("timed out after %d of %d replies; got so far:\n%s", got, want, acc);
		ssize_t n = recv(fd, acc + acc_len, sizeof(acc) - acc_len - 1, 0);
		if (n <= 0)
			fail_msg("connection closed after %d of %d replies; got:\n%s", got, want, acc);
		acc_len += (size_t)n;
		acc[acc_len] = '\0';
	}
	snprintf(buf, cap, "%s", acc);
}

static void hang_up(int fd)
{
	close(fd);
	acc_fd = -1;
}

/* The n-th final reply line (0-based) as "NNN text". */
static void nth_reply(const char *buf, int n, char *out, size_t cap)
{
	int i = 0;
	out[0] = '\0';
	for (const char *l = buf; *l;) {
		const char *e = strstr(l, "\r\n");
		if (!e)
			break;
		if (e - l >= 4 && l[3] == ' ') {
			if (i++ == n) {
				snprintf(out, cap, "%.*s", (int)(e - l), l);
				return;
			}
		}
		l = e + 2;
	}
}

static void expect_code(const char *buf, int n, const char *code)
{
	char line[512];
	nth_reply(buf, n, line, sizeof(line));
	if (strncmp(line, code, 3) != 0)
		fail_msg("reply %d: got \"%s\", want %s...\nall replies:\n%s", n, line, code, buf);
}

static void test_pipelined_session(void **state)
{
	(void)state;
	struct srv *s = start(0, 4096, 5000, 0);
	int fd = dial(s->port);
	char buf[8192];
	read_replies(fd, 1, buf, sizeof(buf), 5000);
	expect_code(buf, 0, "220");
	/* Everything in one write, as a PIPELINING client may send it. */
	send_all(fd, "LHLO client.test\r\n"
		     "MAIL FROM:<nagios@mon.test> SIZE=100 BODY=8BITMIME\r\n"
		     "RCPT TO:<alerts@x.test>\r\n"
		     "RCPT TO:<unknown@x.test>\r\n"
		     "RCPT TO:<second@x.test>\r\n"
		     "DATA\r\n"
		     "Subject: one\r\n"
		     "\r\n"
		     "..leading dot\r\n"
		     ".\r\n"
		     "MAIL FROM:<>\r\n"
		     "RCPT TO:<alerts@x.test>\r\n"
		     "DATA\r\n"
		     "Subject: two\n"
		     "\n"
		     "bare LF lines\n"
		     ".\n"
		     "QUIT\r\n");
	/* LHLO, MAIL, RCPT, RCPT(550), RCPT, DATA(354), 2 per-recipient replies, MAIL, RCPT, 354, 1, QUIT */
	read_replies(fd, 14, buf, sizeof(buf), 5000);
	if (!strstr(buf, "250-PIPELINING") || !strstr(buf, "250 SIZE 4096") || !strstr(buf, "250-8BITMIME"))
		fail_msg("LHLO: got\n%s\nwant PIPELINING, 8BITMIME and SIZE 4096 advertised", buf);
	static const char *const want[] = {"220", "250", "250", "250", "550", "250", "354", "250",
					   "250", "250", "250", "354", "250", "221"};
	for (int i = 0; i < 14; i++)
		expect_code(buf, i, want[i]);
	char line[256];
	nth_reply(buf, 8, line, sizeof(line));
	if (!strstr(line, "second ok"))
		fail_msg("LMTP per-recipient replies: got \"%s\" for the second recipient, want \"second ok\"", line);
	pthread_mutex_lock(&s->mu);
	assert_int_equal(s->nmsgs, 2);
	assert_string_equal(s->last_from, "");
	assert_string_equal(s->last_data, "Subject: two\n\nbare LF lines\n");
	pthread_mutex_unlock(&s->mu);
	hang_up(fd);
	stop(s);
}

static void test_dot_stuffing(void **state)
{
	(void)state;
	struct srv *s = start(0, 4096, 5000, 0);
	int fd = dial(s->port);
	char buf[4096];
	read_replies(fd, 1, buf, sizeof(buf), 5000);
	send_all(fd, "LHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<r@x>\r\nDATA\r\n");
	read_replies(fd, 5, buf, sizeof(buf), 5000);
	send_all(fd, "Subject: d\r\n\r\n..\r\n...x\r\n.y\r\n. \r\n.\r\n");
	read_replies(fd, 6, buf, sizeof(buf), 5000);
	expect_code(buf, 5, "250");
	pthread_mutex_lock(&s->mu);
	if (strcmp(s->last_data, "Subject: d\n\n.\n..x\ny\n \n") != 0)
		fail_msg("unstuffed data: got \"%s\", want \"Subject: d\\n\\n.\\n..x\\ny\\n \\n\"", s->last_data);
	pthread_mutex_unlock(&s->mu);
	hang_up(fd);
	stop(s);
}

static void test_bad_commands(void **state)
{
	(void)state;
	struct srv *s = start(0, 4096, 5000, 0);
	int fd = dial(s->port);
	char buf[8192];
	read_replies(fd, 1, buf, sizeof(buf), 5000);
	char longline[3000];
	memset(longline, 'A', sizeof(longline) - 3);
	memcpy(longline + sizeof(longline) - 3, "\r\n", 3);
	send_all(fd, "MAIL FROM:<a@b>\r\n"     /* 503 before LHLO */
		     "HELO c\r\n"              /* 500: LMTP wants LHLO */
		     "LHLO\r\n"                /* 501: no domain */
		     "LHLO c\r\n"              /* 250 */
		     "RCPT TO:<r@x>\r\n"       /* 503 no MAIL */
		     "DATA\r\n"                /* 503 no MAIL */
		     "MAIL FROM:a@b\r\n"       /* 501 syntax */
		     "MAIL FROM:<a@b> FOO=1\r\n" /* 555 */
		     "MAIL FROM:<a@b>\r\n"     /* 250 */
		     "MAIL FROM:<a@b>\r\n"     /* 503 nested */
		     "DATA\r\n"                /* 554 no recipients */
		     "RCPT TO:<>\r\n"          /* 501 */
		     "XYZZY\r\n"               /* 500 */
		     "STARTTLS\r\n"            /* 502 */
		     "RCPT TO:<1@x>\r\nRCPT TO:<2@x>\r\nRCPT TO:<3@x>\r\nRCPT TO:<4@x>\r\n" /* 250 x3, 452 */
		     "RSET\r\nNOOP\r\nVRFY x\r\n");
	send_all(fd, longline); /* 500 line too long */
	send_all(fd, "NOOP\r\n");
	static const char *const want[] = {"220", "503", "500", "501", "250", "503", "503", "501", "555", "250", "503",
					   "554", "501", "500", "502", "250", "250", "250", "452", "250", "250", "252",
					   "500", "250"};
	size_t n = sizeof(want) / sizeof(want[0]);
	read_replies(fd, (int)n, buf, sizeof(buf), 5000);
	for (size_t i = 0; i < n; i++)
		expect_code(buf, (int)i, want[i]);
	pthread_mutex_lock(&s->mu);
	assert_int_equal(s->nmsgs, 0);
	pthread_mutex_unlock(&s->mu);
	hang_up(fd);
	stop(s);
}

static void test_oversize_and_tempfail(void **state)
{
	(void)state;
	struct srv *s = start(0, 2048, 5000, 0);
	int fd = dial(s->port);
	char buf[8192];
	read_replies(fd, 1, buf, sizeof(buf), 5000);
	send_all(fd, "LHLO c\r\nMAIL FROM:<a@b> SIZE=999999\r\n");
	read_replies(fd, 3, buf, sizeof(buf), 5000);
	expect_code(buf, 2, "552");
	send_all(fd, "MAIL FROM:<a@b>\r\nRCPT TO:<r@x>\r\nRCPT TO:<second@x>\r\nDATA\r\n");
	read_replies(fd, 7, buf, sizeof(buf), 5000);
	expect_code(buf, 6, "354");
	char line[200];
	memset(line, 'x', sizeof(line));
	memcpy(line + sizeof(line) - 3, "\r\n", 3);
	for (int i = 0; i < 30; i++)
		send_all(fd, line);
	send_all(fd, ".\r\n");
	/* Both recipients get 552; the listener still works afterwards. */
	read_replies(fd, 9, buf, sizeof(buf), 5000);
	expect_code(buf, 7, "552");
	expect_code(buf, 8, "552");
	send_all(fd, "MAIL FROM:<a@b>\r\nRCPT TO:<r@x>\r\nDATA\r\nSubject: FAIL-TEMP\r\n\r\nx\r\n.\r\n");
	read_replies(fd, 13, buf, sizeof(buf), 5000);
	expect_code(buf, 12, "451");
	pthread_mutex_lock(&s->mu);
	assert_int_equal(s->nmsgs, 1);
	pthread_mutex_unlock(&s->mu);
	hang_up(fd);
	stop(s);
}

static void test_timeout(void **state)
{
	(void)state;
	struct srv *s = start(0, 2048, 150, 0);
	int fd = dial(s->port);
	char buf[1024];
	/* Greeting, then silence: the listener says 421 and closes. */
	read_replies(fd, 2, buf, sizeof(buf), 5000);
	expect_code(buf, 1, "421");
	struct pollfd p = {.fd = fd, .events = POLLIN};
	assert_int_equal(poll(&p, 1, 5000), 1);
	char c;
	assert_int_equal(recv(fd, &c, 1, 0), 0);
	hang_up(fd);
	/* Mid-DATA silence times out too. */
	fd = dial(s->port);
	read_replies(fd, 1, buf, sizeof(buf), 5000);
	send_all(fd, "LHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<r@x>\r\nDATA\r\npartial");
	read_replies(fd, 6, buf, sizeof(buf), 5000);
	expect_code(buf, 5, "421");
	hang_up(fd);
	stop(s);
}

static void test_smtp_mode_and_rate(void **state)
{
	(void)state;
	struct srv *s = start(1, 4096, 5000, 1);
	int fd = dial(s->port);
	char buf[8192];
	read_replies(fd, 1, buf, sizeof(buf), 5000);
	if (!strstr(buf, "ESMTP"))
		fail_msg("greeting: got \"%s\", want ESMTP", buf);
	send_all(fd, "LHLO c\r\nEHLO c\r\nMAIL FROM:<loop@x>\r\nRCPT TO:<r@x>\r\nRCPT TO:<second@x>\r\nDATA\r\n"
		     "Subject: a\r\n\r\nx\r\n.\r\n"
		     "MAIL FROM:<loop@x>\r\nRCPT TO:<r@x>\r\nDATA\r\nSubject: b\r\n\r\ny\r\n.\r\nQUIT\r\n");
	/* 220, 500 (LHLO in SMTP), EHLO, MAIL, RCPT, RCPT, 354, ONE reply for both, MAIL, RCPT, 354, 250, 221 */
	read_replies(fd, 13, buf, sizeof(buf), 5000);
	static const char *const want[] = {"220", "500", "250", "250", "250", "250", "354", "250", "250", "250",
					   "354", "250", "221"};
	for (int i = 0; i < 13; i++)
		expect_code(buf, i, want[i]);
	pthread_mutex_lock(&s->mu);
	assert_int_equal(s->nmsgs, 2);
	/* One message per hour for this sender: the second is flagged for the handler to drop. */
	assert_int_equal(s->last_rate_limited, 1);
	pthread_mutex_unlock(&s->mu);
	hang_up(fd);
	stop(s);
}

/* A client that pipelines commands without reading the replies: the listener stops reading
 * once its replies back up (they would pile up in memory), and answers everything once the
 * client reads; one that never reads is closed at the timeout. */
static void test_unread_replies(void **state)
{
	(void)state;
	struct srv *s = start(0, 4096, 3000, 0);
	int fd = dial(s->port);
	static char noops[6 * 4096];
	for (size_t i = 0; i < sizeof(noops); i += 6)
		memcpy(noops + i, "NOOP\r\n", 6);
	size_t sent = 0;
	int blocked = 0;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		if (poll(&p, 1, 500) != 1) {
			blocked = 1;
			break;
		}
		ssize_t w = send(fd, noops, sizeof(noops), MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0)
			sent += (size_t)w;
		struct timespec t1;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (t1.tv_sec - t0.tv_sec > 10)
			break;
	}
	if (!blocked)
		fail_msg("the listener kept reading commands whose replies were not taken (%zu bytes sent)", sent);

	/* Now read: every complete NOOP is answered (the greeting first). */
	size_t want = sent / 6 + 1, got = 0, carry = 0;
	char rb[65536];
	while (got < want) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 5000) != 1)
			fail_msg("replies: got %zu of %zu", got, want);
		ssize_t r = recv(fd, rb + carry, sizeof(rb) - carry, 0);
		if (r <= 0)
			fail_msg("connection closed after %zu of %zu replies", got, want);
		size_t len = carry + (size_t)r, start = 0;
		for (size_t i = 0; i < len; i++)
			if (rb[i] == '\n') {
				got++;
				start = i + 1;
			}
		carry = len - start;
		memmove(rb, rb + start, carry);
	}
	close(fd);
	/* One that never reads is closed at the inactivity timeout (3 s here), not kept. */
	fd = dial(s->port);
	for (int i = 0; i < 2000; i++)
		if (send(fd, noops, sizeof(noops), MSG_NOSIGNAL | MSG_DONTWAIT) <= 0)
			break;
	struct timespec ts = {0, 100 * 1000 * 1000};
	int closed = 0;
	for (int i = 0; i < 100 && !closed; i++) {
		nanosleep(&ts, NULL); /* waiting for the listener's timeout, polled */
		closed = cg_lmtp_server_connections(s->s) == 0;
	}
	close(fd);
	if (!closed)
		fail_msg("a client that never reads was not closed at the timeout");
	stop(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipelined_session), cmocka_unit_test(test_dot_stuffing),
		cmocka_unit_test(test_bad_commands),	  cmocka_unit_test(test_oversize_and_tempfail),
		cmocka_unit_test(test_timeout),		  cmocka_unit_test(test_smtp_mode_and_rate),
		cmocka_unit_test(test_unread_replies),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
