/* test_lmtp_session.c: one client's LMTP/SMTP dialogue without sockets: command order, recipients, DATA dot-unstuffing and the size limit, with the reply codes a client sees. */
/* labels: unit */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmtp_session.h"

static int rcpt_ok(const char *rcpt, void *ud, char *msg, size_t msglen)
{
	(void)ud;
	if (strstr(rcpt, "unknown")) {
		snprintf(msg, msglen, "5.1.1 <%s>: no such mailbox", rcpt);
		return 550;
	}
	return 0;
}

/* Feeds text (copied: feed consumes its input); returns the result, input left in *rest_len. */
static int say(struct cg_lmtp_session *s, const char *text, size_t *rest_len)
{
	char buf[8192];
	size_t len = strlen(text);
	assert_true(len < sizeof(buf));
	memcpy(buf, text, len);
	int r = cg_lmtp_session_feed(s, buf, &len);
	if (rest_len)
		*rest_len = len;
	return r;
}

/* The reply codes queued so far ("250 250 550 ..."), then the queue is emptied. */
static char *codes(struct cg_lmtp_session *s, char *out, size_t outlen)
{
	size_t o = 0;
	out[0] = '\0';
	const char *p = s->out.p, *end = s->out.p + s->out.n;
	while (p && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		assert_non_null(nl);
		assert_true(nl > p && nl[-1] == '\r'); /* CRLF */
		if (p[3] == ' ') /* last line of a reply */
			o += (size_t)snprintf(out + o, outlen - o, "%s%.3s", o ? " " : "", p);
		p = nl + 1;
	}
	s->out.n = 0;
	return out;
}

static const struct cg_lmtp_rules lmtp_rules = {
	.smtp = 0, .max_size = 100, .max_recipients = 2, .hostname = "gw.test", .rcpt = rcpt_ok,
};

static void test_transaction(void **state)
{
	(void)state;
	struct cg_lmtp_session s;
	char c[256];
	cg_lmtp_session_init(&s, &lmtp_rules, "127.0.0.1");
	/* Nothing before the greeting's answer, and LMTP wants LHLO, not HELO. */
	assert_int_equal(say(&s, "MAIL FROM:<a@x>\r\n", NULL), CG_LMTP_MORE);
	assert_string_equal(codes(&s, c, sizeof(c)), "503");
	assert_int_equal(say(&s, "HELO x\r\n", NULL), CG_LMTP_MORE);
	assert_int_not_equal(codes(&s, c, sizeof(c))[0], '2');
	assert_int_equal(say(&s, "LHLO client.test\r\n", NULL), CG_LMTP_MORE);
	assert_string_equal(codes(&s, c, sizeof(c)), "250");
	/* DATA needs a recipient; RCPT needs a sender. */
	assert_int_equal(say(&s, "RCPT TO:<alerts@gw.test>\r\nDATA\r\n", NULL), CG_LMTP_MORE);
	assert_string_equal(codes(&s, c, sizeof(c)), "503 503");
	/* Pipelined envelope; the unknown recipient is refused with the callback's 5xx. */
	assert_int_equal(say(&s, "MAIL FROM:<alice@example.org>\r\nRCPT TO:<alerts@gw.test>\r\n"
				 "RCPT TO:<unknown@gw.test>\r\nRCPT TO:<ops@gw.test>\r\nRCPT TO:<more@gw.test>\r\n",
			     NULL),
			 CG_LMTP_MORE);
	codes(&s, c, sizeof(c));
	if (strcmp(c, "250 250 550 250 452") != 0)
		fail_msg("envelope replies: %s (want 250 250 550 250 452: two recipients at most)", c);
	assert_int_equal(s.nrcpts, 2);
	/* DATA: a line starting with a dot is unstuffed, the lone dot ends the message. */
	size_t rest = 0;
	int r = say(&s, "DATA\r\nSubject: x\r\n\r\n..hidden dot\r\nbody\r\n.\r\nNOOP\r\n", &rest);
	assert_int_equal(r, CG_LMTP_MESSAGE);
	assert_string_equal(codes(&s, c, sizeof(c)), "354");
	assert_string_equal(s.mail_from, "alice@example.org");
	assert_string_equal(s.rcpts[0], "alerts@gw.test");
	assert_string_equal(s.rcpts[1], "ops@gw.test");
	assert_non_null(s.data);
	/* Lines are kept with LF ends (as the MIME parser reads them). */
	if (s.data_len != strlen("Subject: x\n\n.hidden dot\nbody\n") ||
	    memcmp(s.data, "Subject: x\n\n.hidden dot\nbody\n", s.data_len) != 0)
		fail_msg("data (%zu bytes): %.*s", s.data_len, (int)s.data_len, s.data);
	assert_int_equal(rest, strlen("NOOP\r\n")); /* what follows the message stays for the next call */
	cg_lmtp_session_reset(&s);
	assert_int_equal(say(&s, "NOOP\r\nQUIT\r\n", NULL), CG_LMTP_MORE);
	assert_true(s.quit);
	codes(&s, c, sizeof(c));
	assert_string_equal(c, "250 221");
	cg_lmtp_session_cleanup(&s);
}

/* A message past max_size is read to its end and refused, and the session goes on. */
static void test_size_limit(void **state)
{
	(void)state;
	struct cg_lmtp_session s;
	char c[256];
	cg_lmtp_session_init(&s, &lmtp_rules, "127.0.0.1");
	say(&s, "LHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<alerts@gw.test>\r\nDATA\r\n", NULL);
	codes(&s, c, sizeof(c));
	char big[600];
	size_t o = 0;
	for (int i = 0; i < 10; i++)
		o += (size_t)snprintf(big + o, sizeof(big) - o, "line %02d 0123456789012345678901234567890123456789\r\n", i);
	snprintf(big + o, sizeof(big) - o, ".\r\n");
	int r = say(&s, big, NULL);
	assert_int_equal(r, CG_LMTP_MORE);
	codes(&s, c, sizeof(c));
	if (c[0] != '5' && c[0] != '4')
		fail_msg("oversize message: replies \"%s\", want a refusal", c);
	/* The next transaction works. */
	say(&s, "MAIL FROM:<a@x>\r\nRCPT TO:<alerts@gw.test>\r\nDATA\r\nshort\r\n.\r\n", NULL);
	if (s.data_len != 6 || memcmp(s.data, "short\n", 6) != 0)
		fail_msg("data after an oversize message (%zu bytes): \"%.*s\"", s.data_len, (int)s.data_len, s.data);
	cg_lmtp_session_cleanup(&s);
}

/* Replies never carry control bytes from the client's text. */
static void test_say(void **state)
{
	(void)state;
	struct cg_lmtp_session s;
	cg_lmtp_session_init(&s, &lmtp_rules, "127.0.0.1");
	cg_lmtp_say(&s, "550 bad %s", "a\r\nb\x01");
	assert_int_equal(s.out.n, strlen("550 bad a??b?\r\n"));
	assert_memory_equal(s.out.p, "550 bad a??b?\r\n", s.out.n);
	cg_lmtp_session_cleanup(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_transaction),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_say),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
