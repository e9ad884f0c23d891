/* test_mailin_store_fail.c: the LMTP listener answers every recipient 451 (temporary: the MTA keeps the message) when the store cannot take it, and 250 for the same message once it can. */
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

#include <sqlite3.h>

#include "itest.h"

#define PROJECT "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n    case_type: 00000000-0000-0000-0000-000000000001\n"
static const char *const sources = "  - name: ops\n"
                                   "    type: email\n"
                                   "    rules: {base: nagios, alert_senders: ['nagios@mon.example.com']}\n" PROJECT
                                   "  - name: dbteam\n"
                                   "    type: email\n"
                                   "    rules: {base: nagios, alert_senders: ['nagios@mon.example.com']}\n" PROJECT;

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct conn {
	int fd;
	char buf[8192];
	size_t len;
};

/* Reads reply lines until a final one ("NNN "); returns its code, the line in out. The store's
 * busy wait (5 s per job, several jobs queued) comes first: a generous deadline. */
static int reply(struct conn *c, char *out, size_t cap)
{
	int64_t end = mono_ms() + 60000;
	for (;;) {
		char *nl;
		while ((nl = memchr(c->buf, '\n', c->len))) {
			size_t ll = (size_t)(nl - c->buf) + 1;
			int final = ll >= 4 && c->buf[3] == ' ';
			snprintf(out, cap, "%.*s", (int)(ll > 2 ? ll - 2 : 0), c->buf);
			memmove(c->buf, c->buf + ll, c->len - ll);
			c->len -= ll;
			if (final)
				return (int)strtol(out, NULL, 10);
		}
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		if (mono_ms() > end || poll(&p, 1, (int)(end - mono_ms())) <= 0)
			fail_msg("LMTP: no reply in time");
		ssize_t r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len - 1, 0);
		if (r <= 0)
			fail_msg("LMTP: connection closed");
		c->len += (size_t)r;
	}
}

static void send_all(struct conn *c, const char *s)
{
	size_t n = strlen(s);
	while (n) {
		ssize_t w = send(c->fd, s, n, MSG_NOSIGNAL);
		if (w <= 0)
			fail_msg("LMTP send: %s", strerror(errno));
		s += w;
		n -= (size_t)w;
	}
}

static const char *const message = "Message-ID: <store-fail-1@mon.example.com>\r\n"
                                   "From: Nagios <nagios@mon.example.com>\r\n"
                                   "To: alerts@example.com\r\n"
                                   "Subject: ** PROBLEM Service Alert: db1/Disk is CRITICAL **\r\n"
                                   "\r\n"
                                   "***** Nagios *****\r\n"
                                   "\r\n"
                                   "Notification Type: PROBLEM\r\n"
                                   "Service: Disk\r\n"
                                   "Host: db1\r\n"
                                   "State: CRITICAL\r\n"
                                   ".\r\n";

/* One message to alerts+ops and alerts+dbteam; LMTP answers each recipient after DATA. */
static void deliver(int port, int codes[2], char texts[2][256])
{
	struct conn c = {.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	assert_int_equal(connect(c.fd, (struct sockaddr *)&a, sizeof(a)), 0);
	char line[256];
	assert_int_equal(reply(&c, line, sizeof(line)), 220);
	send_all(&c, "LHLO test.example\r\n");
	assert_int_equal(reply(&c, line, sizeof(line)), 250);
	send_all(&c, "MAIL FROM:<nagios@mon.example.com>\r\n");
	assert_int_equal(reply(&c, line, sizeof(line)), 250);
	send_all(&c, "RCPT TO:<alerts+ops@example.com>\r\n");
	assert_int_equal(reply(&c, line, sizeof(line)), 250);
	send_all(&c, "RCPT TO:<alerts+dbteam@example.com>\r\n");
	assert_int_equal(reply(&c, line, sizeof(line)), 250);
	send_all(&c, "DATA\r\n");
	assert_int_equal(reply(&c, line, sizeof(line)), 354);
	send_all(&c, message);
	for (int i = 0; i < 2; i++)
		codes[i] = reply(&c, texts[i], 256);
	send_all(&c, "QUIT\r\n");
	close(c.fd);
}

static void test_store_fails_451_per_recipient(void **state)
{
	(void)state;
	struct itest t;
	assert_int_equal(itest_setup(&t, "cg-lmtp451"), 0);
	assert_int_equal(itest_start_sim(&t, NULL), 0);
	assert_int_equal(itest_write_config(&t, "mail:\n  listen: 127.0.0.1:0\n  protocol: lmtp\n", sources), 0);
	assert_int_equal(itest_start_gw(&t), 0);
	int port = cg_h_log_port(&t.gw, "LMTP on 127.0.0.1:", 10000);
	assert_true(port > 0);

	/* Another writer holds the store: casegate's writes fail after their busy wait. */
	char *db_path = cg_h_fmt("%s/state/casegate.db", t.dir);
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 10000);
	assert_int_equal(sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
	int codes[2];
	char texts[2][256];
	deliver(port, codes, texts);
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	free(db_path);
	for (int i = 0; i < 2; i++)
		if (codes[i] != 451 || strncmp(texts[i], "451 4.", 6) != 0 || !strstr(texts[i], "could not store"))
			fail_msg("recipient %d while the store fails: got \"%s\", want 451 4.x.x could not store", i,
				 texts[i]);
	assert_true(itest_metric(&t, "casegate_mail_messages_total", "outcome=\"tempfail\"") >= 2);
	assert_int_equal(itest_ncases(&t), 0);

	/* The MTA's retry of the same message once the store works: accepted for both. */
	deliver(port, codes, texts);
	for (int i = 0; i < 2; i++)
		if (codes[i] != 250)
			fail_msg("recipient %d after the store recovered: got \"%s\", want 250", i, texts[i]);
	struct itest_wait w = {&t, 2};
	assert_true(cg_h_poll(itest_has_ncases, &w, 20000));
	assert_int_equal(itest_stop_gw(&t, SIGTERM), 0);
	itest_teardown(&t, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_store_fails_451_per_recipient),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
