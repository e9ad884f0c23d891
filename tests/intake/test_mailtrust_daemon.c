/* test_mailtrust_daemon.c: who may act through mail, through the real daemon (LMTP) and pipe mode:
 * forged envelopes open and close nothing, replies stay inside their source and out of closed
 * cases, the MTA's Authentication-Results decide when configured, MIME bombs are refused. */
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"

#define PROJECT "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n    case_type: 00000000-0000-0000-0000-000000000001\n"

static const char *sources = "  - name: hook\n"
			     "    type: generic\n"
			     "    auth: {bearer: hook-token}\n" PROJECT "  - name: ops\n"
			     "    type: email\n"
			     "    rules: {base: nagios, alert_senders: ['nagios@mon.example.com']}\n"
			     "    reply_senders: ['*@example.com']\n" PROJECT "  - name: other\n"
			     "    type: email\n"
			     "    rules: {base: nagios, alert_senders: ['nagios@mon.example.com']}\n"
			     "    reply_senders: ['*@example.com']\n"
			     "    reply_to_closed: true\n" PROJECT "  - name: open\n"
			     "    type: email\n" PROJECT;

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct mt {
	struct itest t;
	int lmtp;
};

static void start(struct mt *m, const char *prefix, const char *mail_extra)
{
	memset(m, 0, sizeof(*m));
	assert_int_equal(itest_setup(&m->t, prefix), 0);
	assert_int_equal(itest_start_sim(&m->t, NULL), 0);
	char *top = cg_h_fmt("mail:\n  listen: 127.0.0.1:0\n  protocol: lmtp\n  max_parts: 50\n%s", mail_extra ? mail_extra : "");
	assert_int_equal(itest_write_config(&m->t, top, sources), 0);
	free(top);
	if (itest_start_gw(&m->t) != 0)
		fail_msg("casegate did not start");
	m->lmtp = cg_h_log_port(&m->t.gw, "LMTP on 127.0.0.1:", 10000);
	assert_true(m->lmtp > 0);
}

/* Reads reply lines until a final one ("NNN " not "NNN-"); returns its code, the line in out. */
static int lmtp_reply(int fd, char *out, size_t cap)
{
	static char buf[8192];
	static size_t len;
	int64_t end = mono_ms() + 15000;
	for (;;) {
		char *nl;
		while ((nl = memchr(buf, '\n', len))) {
			size_t ll = (size_t)(nl - buf) + 1;
			int final = ll >= 4 && buf[3] == ' ';
			snprintf(out, cap, "%.*s", (int)(ll > 2 ? ll - 2 : 0), buf);
			memmove(buf, buf + ll, len - ll);
			len -= ll;
			if (final)
				return atoi(out);
		}
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (mono_ms() > end || poll(&p, 1, (int)(end - mono_ms())) <= 0)
			fail_msg("LMTP: no reply in time");
		ssize_t r = recv(fd, buf + len, sizeof(buf) - len - 1, 0);
		if (r <= 0)
			fail_msg("LMTP: connection closed");
		len += (size_t)r;
	}
}

static void lmtp_send(int fd, const char *s)
{
	size_t n = strlen(s);
	while (n) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
		if (w <= 0)
			fail_msg("LMTP send: %s", strerror(errno));
		s += w;
		n -= (size_t)w;
	}
}

/* Delivers msg (LF line ends; dot-stuffed here) over LMTP with envelope sender env to
 * alerts+<source>@example.com. Returns the recipient's reply code; its text in reply. */
static int deliver(struct mt *m, const char *env, const char *source, const char *msg, char *reply, size_t cap)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)m->lmtp)};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	char line[512];
	assert_int_equal(lmtp_reply(fd, line, sizeof(line)), 220);
	lmtp_send(fd, "LHLO test.example\r\n");
	assert_int_equal(lmtp_reply(fd, line, sizeof(line)), 250);
	char *cmd = cg_h_fmt("MAIL FROM:<%s>\r\n", env);
	lmtp_send(fd, cmd);
	free(cmd);
	assert_int_equal(lmtp_reply(fd, line, sizeof(line)), 250);
	cmd = cg_h_fmt("RCPT TO:<alerts+%s@example.com>\r\n", source);
	lmtp_send(fd, cmd);
	free(cmd);
	assert_int_equal(lmtp_reply(fd, line, sizeof(line)), 250);
	lmtp_send(fd, "DATA\r\n");
	assert_int_equal(lmtp_reply(fd, line, sizeof(line)), 354);
	for (const char *p = msg; *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		if (n && p[0] == '.')
			lmtp_send(fd, ".");
		char *l = cg_h_fmt("%.*s\r\n", (int)n, p);
		lmtp_send(fd, l);
		free(l);
		p = nl ? nl + 1 : p + n;
	}
	lmtp_send(fd, ".\r\n");
	int code = lmtp_reply(fd, reply, cap);
	lmtp_send(fd, "QUIT\r\n");
	close(fd);
	return code;
}

static char *nagios(const char *id, const char *from, const char *type, const char *host, const char *state)
{
	return cg_h_fmt("Message-ID: <%s>\nFrom: Nagios <%s>\nTo: alerts@example.com\n"
			"Subject: ** %s Service Alert: %s/HTTP is %s **\n\n***** Nagios *****\n\n"
			"Notification Type: %s\nService: HTTP\nHost: %s\nState: %s\n",
			id, from, type, host, state, type, host, state);
}

static char *reply_mail(const char *id, const char *from, const char *in_reply_to, const char *subject,
			const char *text)
{
	return cg_h_fmt("Message-ID: <%s>\nFrom: %s\nTo: alerts@example.com\n%s%s%sSubject: %s\n\n%s\n", id, from,
			in_reply_to ? "In-Reply-To: <" : "", in_reply_to ? in_reply_to : "", in_reply_to ? ">\n" : "",
			subject, text);
}

/* The case whose title contains needle: its key, comments and state, from the simulator. */
struct seen_case {
	int found, closed, has_marker;
	char key[32];
};

static struct seen_case look(struct itest *t, const char *needle, const char *marker)
{
	struct seen_case s = {0};
	cJSON *doc = itest_cases(t);
	const cJSON *c = itest_find_case(doc, needle);
	if (c) {
		s.found = 1;
		s.closed = itest_case_closed(c);
		s.has_marker = marker && itest_case_has_comment(c, marker);
		const char *k = itest_case_attr(c, "key");
		snprintf(s.key, sizeof(s.key), "%s", k ? k : "");
	}
	cJSON_Delete(doc);
	return s;
}

struct want {
	struct itest *t;
	const char *needle, *marker;
	int closed;
};

static int case_is(void *ud)
{
	struct want *w = ud;
	struct seen_case s = look(w->t, w->needle, w->marker);
	return s.found && (!w->marker || s.has_marker) && (!w->closed || s.closed);
}

static void wait_case(struct itest *t, const char *needle, const char *marker, int closed)
{
	struct want w = {t, needle, marker, closed};
	if (!cg_h_poll(case_is, &w, 20000)) {
		cJSON *doc = itest_cases(t);
		char *txt = doc ? cJSON_Print(doc) : NULL;
		cg_h_dump_log(&t->gw);
		fail_msg("no case \"%s\"%s%s%s; cases: %s", needle, marker ? " with comment " : "", marker ? marker : "",
			 closed ? " (closed)" : "", txt ? txt : "(none)");
	}
}

static void expect_ignored(int code, const char *reply, const char *reason, const char *what)
{
	char want[64];
	snprintf(want, sizeof(want), "accepted and ignored (%s)", reason);
	if (code != 250 || !strstr(reply, want))
		fail_msg("%s: got %d \"%s\", want 250 ... %s", what, code, reply, want);
}

/* Runs `casegate mail` with stdin from text; returns the exit code. */
static int pipe_mail(struct itest *t, const char *source, const char *sender, const char *text)
{
	char *in = cg_h_fmt("%s/pipe-in.eml", t->dir);
	assert_int_equal(cg_h_write_file(in, text, strlen(text)), 0);
	char bin[512];
	snprintf(bin, sizeof(bin), "%s/casegate", cg_h_binary_dir());
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (!freopen(in, "r", stdin))
			_exit(126);
		char *log = cg_h_fmt("%s/pipe.log", t->dir);
		if (!freopen(log, "a", stderr))
			_exit(126);
		if (sender)
			execl(bin, bin, "mail", "-c", t->cfg_path, "--source", source, "--sender", sender, (char *)NULL);
		else
			execl(bin, bin, "mail", "-c", t->cfg_path, "--source", source, (char *)NULL);
		_exit(127);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	free(in);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/*
 * Forged envelopes open and close nothing; replies comment only inside their own source, from
 * reply senders, never on closed cases unless the source allows it.
 */
static void test_senders_and_replies(void **state)
{
	(void)state;
	struct mt m;
	char reply[512];
	start(&m, "mail-trust", NULL);
	struct itest *t = &m.t;

	/* A webhook case, and a real alert by mail. */
	assert_int_equal(itest_post(t, "hook", "hook-token", "{\"title\":\"webhook disk\",\"dedup_key\":\"w1\"}", NULL),
			 202);
	char *a1 = nagios("n-1@mon.example.com", "nagios@mon.example.com", "PROBLEM", "web1", "CRITICAL");
	assert_int_equal(deliver(&m, "nagios@mon.example.com", "ops", a1, reply, sizeof(reply)), 250);
	wait_case(t, "webhook disk", NULL, 0);
	wait_case(t, "web1/HTTP", NULL, 0);
	struct seen_case hook = look(t, "webhook disk", NULL), web1 = look(t, "web1/HTTP", NULL);

	/* The alert sender's From over a stranger's envelope: a new alert and a recovery, both
	 * refused; by pipe mode with --sender too. */
	char *f1 = nagios("f-1@evil.example", "nagios@mon.example.com", "PROBLEM", "web9", "CRITICAL");
	expect_ignored(deliver(&m, "attacker@evil.example", "ops", f1, reply, sizeof(reply)), reply, "sender",
		       "forged envelope, new alert");
	char *f2 = nagios("f-2@evil.example", "nagios@mon.example.com", "RECOVERY", "web1", "OK");
	expect_ignored(deliver(&m, "attacker@evil.example", "ops", f2, reply, sizeof(reply)), reply, "sender",
		       "forged envelope, recovery");
	char *f3 = nagios("f-3@evil.example", "nagios@mon.example.com", "RECOVERY", "web1", "OK");
	assert_int_equal(pipe_mail(t, "ops", "attacker@evil.example", f3), 0);

	/* Replies: the reply sender's lands; a stranger's, one over a stranger's envelope, and
	 * one naming the webhook case's key do not. */
	char *r1 = reply_mail("r-1@example.com", "Jorg <joerg@example.com>", "n-1@mon.example.com",
			      "Re: ** PROBLEM Service Alert: web1/HTTP is CRITICAL **", "MARK-trusted looking at it");
	assert_int_equal(deliver(&m, "joerg@example.com", "ops", r1, reply, sizeof(reply)), 250);
	char *r2 = reply_mail("r-2@evil.example", "random@evil.example", "n-1@mon.example.com",
			      "Re: ** PROBLEM Service Alert: web1/HTTP is CRITICAL **", "MARK-stranger @all click here");
	expect_ignored(deliver(&m, "random@evil.example", "ops", r2, reply, sizeof(reply)), reply, "reply_sender",
		       "stranger reply");
	char *r3 = reply_mail("r-3@evil.example", "joerg@example.com", "n-1@mon.example.com",
			      "Re: ** PROBLEM Service Alert: web1/HTTP is CRITICAL **", "MARK-forged-envelope");
	expect_ignored(deliver(&m, "random@evil.example", "ops", r3, reply, sizeof(reply)), reply, "reply_sender",
		       "reply over a forged envelope");
	char *subj = cg_h_fmt("Re: [%s] disk", hook.key);
	char *r4 = reply_mail("r-4@example.com", "joerg@example.com", NULL, subj, "MARK-cross-source");
	expect_ignored(deliver(&m, "joerg@example.com", "ops", r4, reply, sizeof(reply)), reply, "reply_source",
		       "reply naming another source's case");
	/* Through a source that takes alerts from anyone: the key of the webhook case is not
	 * a thread there either (the mail becomes that source's own alert, as configured). */
	char *r5 = reply_mail("r-5@evil.example", "random@evil.example", NULL, subj, "MARK-open-source");
	assert_int_equal(deliver(&m, "random@evil.example", "open", r5, reply, sizeof(reply)), 250);
	/* The same reply in pipe mode with a stranger's --sender. */
	char *r6 = reply_mail("r-6@evil.example", "joerg@example.com", "n-1@mon.example.com",
			      "Re: ** PROBLEM Service Alert: web1/HTTP is CRITICAL **", "MARK-pipe-forged");
	assert_int_equal(pipe_mail(t, "ops", "random@evil.example", r6), 0);
	wait_case(t, "web1/HTTP", "MARK-trusted", 0);

	/* The genuine recovery (pipe mode, true --sender) closes the case; a reply to the closed
	 * case is refused in ops (reply_to_closed off). */
	char *ok = nagios("n-2@mon.example.com", "nagios@mon.example.com", "RECOVERY", "web1", "OK");
	assert_int_equal(pipe_mail(t, "ops", "nagios@mon.example.com", ok), 0);
	wait_case(t, "web1/HTTP", NULL, 1);
	char *r7 = reply_mail("r-7@example.com", "joerg@example.com", "n-1@mon.example.com",
			      "Re: ** PROBLEM Service Alert: web1/HTTP is CRITICAL **", "MARK-closed");
	expect_ignored(deliver(&m, "joerg@example.com", "ops", r7, reply, sizeof(reply)), reply, "reply_closed",
		       "reply to a closed case");

	/* In `other` (reply_to_closed: true) a reply to its own closed case lands. */
	char *o1 = nagios("o-1@mon.example.com", "nagios@mon.example.com", "PROBLEM", "db7", "CRITICAL");
	assert_int_equal(deliver(&m, "nagios@mon.example.com", "other", o1, reply, sizeof(reply)), 250);
	wait_case(t, "db7/HTTP", NULL, 0);
	char *o2 = nagios("o-2@mon.example.com", "nagios@mon.example.com", "RECOVERY", "db7", "OK");
	assert_int_equal(deliver(&m, "nagios@mon.example.com", "other", o2, reply, sizeof(reply)), 250);
	wait_case(t, "db7/HTTP", NULL, 1);
	char *o3 = reply_mail("o-3@example.com", "joerg@example.com", "o-1@mon.example.com",
			      "Re: ** PROBLEM Service Alert: db7/HTTP is CRITICAL **", "MARK-closed-allowed");
	assert_int_equal(deliver(&m, "joerg@example.com", "other", o3, reply, sizeof(reply)), 250);
	if (!strstr(reply, "comment queued"))
		fail_msg("reply to other's closed case: got \"%s\", want a comment", reply);
	wait_case(t, "db7/HTTP", "MARK-closed-allowed", 1);

	/* What the simulator holds: the webhook case untouched, web1 closed with only the trusted
	 * comment, no case for the forged web9. */
	cJSON *doc = itest_cases(t);
	const cJSON *hc = itest_find_case(doc, "webhook disk");
	const cJSON *wc = itest_find_case(doc, "web1/HTTP");
	assert_non_null(hc);
	assert_non_null(wc);
	if (itest_case_ncomments(hc) != 0)
		fail_msg("the webhook case got %d comment(s) by mail, want none", itest_case_ncomments(hc));
	static const char *const never[] = {"MARK-stranger", "MARK-forged-envelope", "MARK-cross-source",
					    "MARK-pipe-forged", "MARK-closed", "MARK-open-source"};
	for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++)
		if (itest_case_has_comment(wc, never[i]) || itest_case_has_comment(hc, never[i]))
			fail_msg("comment \"%s\" reached a case", never[i]);
	assert_null(itest_find_case(doc, "web9"));
	assert_string_equal(web1.key, itest_case_attr(wc, "key"));
	cJSON_Delete(doc);
	double forged = itest_metric(t, "casegate_mail_ignored_total", "reason=\"sender\"");
	if (forged < 2)
		fail_msg("casegate_mail_ignored_total{reason=sender}: got %g, want 2 (LMTP)", forged);
	char *pl = cg_h_fmt("%s/pipe.log", t->dir);
	char *plog = cg_h_read_file(pl, NULL);
	if (!plog || !strstr(plog, "ignored: not an alert sender") || !strstr(plog, "ignored: a reply, not threaded"))
		fail_msg("pipe mode log: got %s, want the forged recovery and reply ignored", plog ? plog : "(none)");
	free(plog);
	free(pl);
	char *all[] = {a1, f1, f2, f3, r1, r2, r3, r4, r5, r6, subj, ok, r7, o1, o2, o3};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		free(all[i]);
	itest_teardown(t, 0);
}

/* With mail.authserv_id the MTA's topmost Authentication-Results decide; the envelope may be a
 * forwarder's. */
static void test_authentication_results(void **state)
{
	(void)state;
	struct mt m;
	char reply[512];
	start(&m, "mail-ar", "  authserv_id: mx.casegate.test\n");
	struct itest *t = &m.t;
	char *body = nagios("x", "nagios@mon.example.com", "PROBLEM", "h", "CRITICAL");
	const char *rest = strstr(body, "From:");
	/* Authenticated by our MTA, relayed by a forwarder: accepted. */
	char *good = cg_h_fmt("Authentication-Results: mx.casegate.test; dmarc=pass (p=reject) header.from=mon.example.com\n"
			      "Message-ID: <ar-1@mon.example.com>\n%s",
			      rest);
	char *p = strstr(good, "Alert: h/");
	memcpy(p, "Alert: a", 8);
	assert_int_equal(deliver(&m, "srs0=ab=cd=mon.example.com=nagios@forwarder.example", "ops", good, reply, sizeof(reply)),
			 250);
	if (!strstr(reply, "queued 1 event"))
		fail_msg("authenticated alert: got \"%s\", want it queued", reply);
	/* A forged pass below a failing verdict of ours: only the topmost counts. */
	char *below = cg_h_fmt("Authentication-Results: mx.casegate.test; dmarc=fail header.from=mon.example.com\n"
			       "Authentication-Results: mx.casegate.test; dmarc=pass header.from=mon.example.com\n"
			       "Message-ID: <ar-2@mon.example.com>\n%s",
			       rest);
	p = strstr(below, "Alert: h/");
	memcpy(p, "Alert: b", 8);
	expect_ignored(deliver(&m, "nagios@mon.example.com", "ops", below, reply, sizeof(reply)), reply, "sender",
		       "forged Authentication-Results below ours");
	/* Another MTA's verdict, or none: not trusted, whatever the envelope says. */
	char *foreign = cg_h_fmt("Authentication-Results: mx.evil.example; dmarc=pass header.from=mon.example.com\n"
				 "Message-ID: <ar-3@mon.example.com>\n%s",
				 rest);
	p = strstr(foreign, "Alert: h/");
	memcpy(p, "Alert: c", 8);
	expect_ignored(deliver(&m, "nagios@mon.example.com", "ops", foreign, reply, sizeof(reply)), reply, "sender",
		       "another MTA's Authentication-Results");
	char *none = cg_h_fmt("Message-ID: <ar-4@mon.example.com>\n%s", rest);
	p = strstr(none, "Alert: h/");
	memcpy(p, "Alert: d", 8);
	expect_ignored(deliver(&m, "nagios@mon.example.com", "ops", none, reply, sizeof(reply)), reply, "sender",
		       "no Authentication-Results");
	wait_case(t, "a/HTTP", NULL, 0);
	assert_int_equal(itest_ncases(t), 1);
	assert_true(cg_h_wait_log(&t->gw, "topmost Authentication-Results from 'mx.evil.example'", 5000));
	free(body);
	free(good);
	free(below);
	free(foreign);
	free(none);
	itest_teardown(t, 0);
}

/* A message with more MIME parts than mail.max_parts (50 here): 554 over LMTP, exit 65 in pipe
 * mode, quickly, and nothing queued. */
static void test_mime_part_cap(void **state)
{
	(void)state;
	struct mt m;
	char reply[512];
	start(&m, "mail-parts", NULL);
	struct itest *t = &m.t;
	size_t cap = 400000, o = 0;
	char *bomb = malloc(cap);
	assert_non_null(bomb);
	o += (size_t)snprintf(bomb + o, cap - o,
			      "Message-ID: <bomb@mon.example.com>\nFrom: nagios@mon.example.com\nSubject: ** PROBLEM "
			      "Service Alert: bomb/HTTP is CRITICAL **\nMIME-Version: 1.0\n"
			      "Content-Type: multipart/mixed;\n boundary=\"=_b\"\n\n");
	for (int i = 0; i < 20000; i++)
		o += (size_t)snprintf(bomb + o, cap - o, "--=_b\n\n");
	snprintf(bomb + o, cap - o, "--=_b--\n");
	int64_t t0 = mono_ms();
	int code = deliver(&m, "nagios@mon.example.com", "ops", bomb, reply, sizeof(reply));
	if (code != 554 || !strstr(reply, "5.6.0 message has more than 50 MIME parts (mail.max_parts)"))
		fail_msg("MIME bomb over LMTP: got %d \"%s\", want 554 naming mail.max_parts", code, reply);
	if (mono_ms() - t0 > 2000)
		fail_msg("MIME bomb refusal took %lld ms", (long long)(mono_ms() - t0));
	assert_int_equal(pipe_mail(t, "ops", "nagios@mon.example.com", bomb), 65);
	/* At the cap it is still a message. */
	o = (size_t)snprintf(bomb, cap,
			     "Message-ID: <fine@mon.example.com>\nFrom: nagios@mon.example.com\nSubject: ** PROBLEM "
			     "Service Alert: fine/HTTP is CRITICAL **\nMIME-Version: 1.0\n"
			     "Content-Type: multipart/mixed; boundary=\"=_b\"\n\n");
	for (int i = 0; i < 49; i++)
		o += (size_t)snprintf(bomb + o, cap - o, "--=_b\nContent-Type: text/plain\n\npart %d\n", i);
	snprintf(bomb + o, cap - o, "--=_b--\n");
	assert_int_equal(deliver(&m, "nagios@mon.example.com", "ops", bomb, reply, sizeof(reply)), 250);
	wait_case(t, "fine/HTTP", NULL, 0);
	assert_int_equal(itest_ncases(t), 1);
	double refused = itest_metric(t, "casegate_mail_ignored_total", "reason=\"too_many_parts\"");
	if (refused != 1)
		fail_msg("casegate_mail_ignored_total{reason=too_many_parts}: got %g, want 1", refused);
	free(bomb);
	itest_teardown(t, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_senders_and_replies),
		cmocka_unit_test(test_authentication_results),
		cmocka_unit_test(test_mime_part_cap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
