/* test_mailin_e2e.c: end to end with real mail tools: swaks (LMTP) and a private Postfix relay into casegate. */
/* labels: e2e */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"

#define SWAKS "/usr/bin/swaks"
#define POSTFIX "/usr/sbin/postfix"

static const char *sources = "  - name: nagios\n"
			     "    type: email\n"
			     "    rules: {base: nagios, alert_senders: ['nagios@mon.example.com']}\n"
			     "    reply_senders: ['*@example.com']\n"
			     "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
			     "    case_type: 00000000-0000-0000-0000-000000000001\n"
			     "  - name: zabbix\n"
			     "    type: email\n"
			     "    rules: zabbix\n"
			     "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
			     "    case_type: 00000000-0000-0000-0000-000000000001\n";

struct mt {
	struct itest t;
	int lmtp_port;
};

static const char *fixture(const char *name)
{
	static char path[1024];
	snprintf(path, sizeof(path), "%s/tests/fixtures/email/%s", cg_h_source_dir(), name);
	return path;
}

/* Runs argv to completion (at most 30 s); returns its exit status or -1. Output goes to log. */
static int run(char *const argv[], const char *log, const char *stdin_file)
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		FILE *o = freopen(log, "a", stdout);
		(void)o;
		dup2(1, 2);
		if (stdin_file && !freopen(stdin_file, "r", stdin))
			_exit(126);
		execv(argv[0], argv);
		_exit(127);
	}
	for (int i = 0; i < 3000; i++) {
		int st;
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL); /* polling a child's exit, not waiting for an effect */
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

static int setup(void **state)
{
	if (access(SWAKS, X_OK) != 0) {
		*state = NULL; /* each case says so with cg_h_skip */
		return 0;
	}
	struct mt *m = calloc(1, sizeof(*m));
	if (!m || itest_setup(&m->t, "mail-e2e") != 0 || itest_start_sim(&m->t, NULL) != 0 ||
	    itest_write_config(&m->t, "mail:\n  listen: 127.0.0.1:0\n  protocol: lmtp\n", sources) != 0 ||
	    itest_start_gw(&m->t) != 0)
		return -1;
	m->lmtp_port = cg_h_log_port(&m->t.gw, "LMTP on 127.0.0.1:", 10000);
	if (m->lmtp_port <= 0)
		return -1;
	*state = m;
	return 0;
}

static int teardown(void **state)
{
	struct mt *m = *state;
	if (m) {
		itest_teardown(&m->t, 0);
		free(m);
	}
	return 0;
}

/* swaks's dialogue goes to log (NULL: <dir>/swaks.log), appended. */
static int swaks_lmtp_log(struct mt *m, const char *to, const char *from, const char *file, const char *log_path)
{
	char server[64], log[600];
	snprintf(server, sizeof(server), "127.0.0.1:%d", m->lmtp_port);
	if (log_path)
		snprintf(log, sizeof(log), "%s", log_path);
	else
		snprintf(log, sizeof(log), "%s/swaks.log", m->t.dir);
	char *const argv[] = {SWAKS, "--protocol", "LMTP", "--server", server, "--to", (char *)to, "--from",
			      (char *)from, "--data", (char *)fixture(file), "--timeout", "20", NULL};
	return run(argv, log, NULL);
}

static int swaks_lmtp(struct mt *m, const char *to, const char *from, const char *file)
{
	return swaks_lmtp_log(m, to, from, file, NULL);
}

struct want_case {
	struct itest *t;
	const char *title;
	const char *comment; /* NULL: the case exists */
	int closed;
};

static int case_ready(void *ud)
{
	struct want_case *w = ud;
	cJSON *doc = itest_cases(w->t);
	const cJSON *c = itest_find_case(doc, w->title);
	int ok = c && (!w->comment || itest_case_has_comment(c, w->comment)) && (!w->closed || itest_case_closed(c));
	cJSON_Delete(doc);
	return ok;
}

static void wait_case(struct mt *m, const char *title, const char *comment, int closed)
{
	struct want_case w = {&m->t, title, comment, closed};
	if (!cg_h_poll(case_ready, &w, 20000)) {
		cJSON *doc = itest_cases(&m->t);
		char *s = doc ? cJSON_Print(doc) : NULL;
		cg_h_dump_log(&m->t.gw);
		fail_msg("no case titled \"%s\"%s%s%s; got %s", title, comment ? " with comment " : "",
			 comment ? comment : "", closed ? " (closed)" : "", s ? s : "(none)");
	}
}

/* swaks over LMTP: an alert opens a case, a human reply lands on it as a comment, the
 * recovery (through pipe mode) closes it, an out-of-office answer is counted and dropped. */
static void test_swaks_lmtp_thread(void **state)
{
	struct mt *m = *state;
	if (!m)
		cg_h_skip("swaks", "%s missing (apt-get install swaks)", SWAKS);
	int rc = swaks_lmtp(m, "alerts+nagios@example.com", "nagios@mon.example.com", "nagios_problem.eml");
	if (rc != 0)
		fail_msg("swaks: exit %d (log %s/swaks.log)", rc, m->t.dir);
	wait_case(m, "Service Alert: web1/HTTP", NULL, 0);
	rc = swaks_lmtp(m, "alerts+nagios@example.com", "joerg@example.com", "reply_thread.eml");
	assert_int_equal(rc, 0);
	wait_case(m, "Service Alert: web1/HTTP", "Load-Balancer hängt", 0);
	rc = swaks_lmtp(m, "alerts+nagios@example.com", "joerg@example.com", "ooo.eml");
	assert_int_equal(rc, 0);
	/* An unknown recipient is refused at RCPT with 550 (permanent: the MTA bounces, never
	 * retries), not any failure. swaks marks a refusal "<** ". */
	char *nolog = cg_h_fmt("%s/swaks-unknown.log", m->t.dir);
	rc = swaks_lmtp_log(m, "nobody@example.com", "joerg@example.com", "ooo.eml", nolog);
	assert_int_not_equal(rc, 0);
	char *dialogue = cg_h_read_file(nolog, NULL);
	const char *rcpt = dialogue ? strstr(dialogue, "RCPT TO:<nobody@example.com>") : NULL;
	const char *answer = rcpt ? strstr(rcpt, "\n<") : NULL;
	if (!answer || strncmp(answer, "\n<** 550 ", 9) != 0)
		fail_msg("unknown recipient: want RCPT answered 550, got swaks dialogue:\n%s", dialogue ? dialogue : "(none)");
	free(dialogue);
	free(nolog);

	/* Pipe mode: the daemon picks the queued recovery up. */
	char bin[512], log[600];
	snprintf(bin, sizeof(bin), "%s/casegate", cg_h_binary_dir());
	snprintf(log, sizeof(log), "%s/pipe.log", m->t.dir);
	char *const argv[] = {bin, "mail", "-c", m->t.cfg_path, "--source", "nagios", NULL};
	rc = run(argv, log, fixture("nagios_recovery.eml"));
	assert_int_equal(rc, 0);
	wait_case(m, "Service Alert: web1/HTTP", "Resolved", 1);
	/* Garbage is EX_DATAERR; an unknown source is the operator's to fix: EX_TEMPFAIL. */
	char *const bad[] = {bin, "mail", "-c", m->t.cfg_path, "--source", "nagios", NULL};
	rc = run(bad, log, "/dev/null");
	assert_int_equal(rc, 65);
	char *const nouser[] = {bin, "mail", "-c", m->t.cfg_path, "--source", "nope", NULL};
	rc = run(nouser, log, fixture("nagios_recovery.eml"));
	assert_int_equal(rc, 75);

	double ignored = itest_metric(&m->t, "casegate_mail_ignored_total", "reason=\"auto_reply\"");
	if (ignored != 1)
		fail_msg("casegate_mail_ignored_total{reason=auto_reply}: got %g, want 1", ignored);
	/* Exactly one case: the reply and the recovery went to it. */
	assert_int_equal(itest_ncases(&m->t), 1);
}

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	socklen_t len = sizeof(a);
	int port = -1;
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

#define MASTER_CF "%d inet n - n - - smtpd\n" \
			       "pickup unix n - n 60 1 pickup\n" \
			       "cleanup unix n - n - 0 cleanup\n" \
			       "qmgr unix n - n 300 1 qmgr\n" \
			       "rewrite unix - - n - - trivial-rewrite\n" \
			       "bounce unix - - n - 0 bounce\n" \
			       "defer unix - - n - 0 bounce\n" \
			       "trace unix - - n - 0 bounce\n" \
			       "verify unix - - n - 1 verify\n" \
			       "proxymap unix - - n - - proxymap\n" \
			       "smtp unix - - n - - smtp\n" \
			       "error unix - - n - - error\n" \
			       "retry unix - - n - - error\n" \
			       "discard unix - - n - - discard\n" \
			       "lmtp unix - - n - - lmtp\n" \
			       "anvil unix - - n - 1 anvil\n" \
			       "scache unix - - n - 1 scache\n" \
			       "postlog unix-dgram n - n - 1 postlogd\n"

/* A private Postfix (loopback only, its own config and queue) relays SMTP to casegate's LMTP. */
static void test_postfix_relay(void **state)
{
	struct mt *m = *state;
	if (!m)
		cg_h_skip("swaks", "%s missing (apt-get install swaks)", SWAKS);
	if (access(POSTFIX, X_OK) != 0)
		cg_h_skip("postfix", "%s missing (apt-get install postfix)", POSTFIX);
	if (geteuid() != 0)
		cg_h_skip("root", "Postfix needs root (postfix start)");
	char *pd = cg_h_fmt("%s/postfix", m->t.dir);
	char *conf = cg_h_fmt("%s/conf", pd), *queue = cg_h_fmt("%s/queue", pd), *data = cg_h_fmt("%s/data", pd);
	mkdir(pd, 0755);
	mkdir(conf, 0755);
	mkdir(queue, 0755);
	mkdir(data, 0755);
	/* Postfix's own user must reach its queue and own its data directory. */
	chmod(m->t.dir, 0755);
	if (run((char *const[]){"/bin/chown", "postfix", data, NULL}, "/dev/null", NULL) != 0)
		fail_msg("chown postfix %s failed", data);
	int port = free_port();
	assert_true(port > 0);
	char *main_cf = cg_h_fmt("compatibility_level = 3.6\n"
				 "queue_directory = %s\n"
				 "data_directory = %s\n"
				 "mail_owner = postfix\n"
				 "setgid_group = postdrop\n"
				 "inet_interfaces = 127.0.0.1\n"
				 "inet_protocols = ipv4\n"
				 "myhostname = mx.casegate.test\n"
				 "mydestination =\n"
				 "mynetworks = 127.0.0.0/8\n"
				 "relay_domains = example.com\n"
				 "transport_maps = inline:{ example.com=lmtp:inet:127.0.0.1:%d }\n"
				 "maillog_file = %s/maillog\n"
				 "maillog_file_prefixes = %s\n"
				 "smtputf8_enable = no\n"
				 "biff = no\n",
				 queue, data, m->lmtp_port, pd, pd);
	char *master = cg_h_fmt(MASTER_CF, port);
	char *p1 = cg_h_fmt("%s/main.cf", conf), *p2 = cg_h_fmt("%s/master.cf", conf);
	assert_int_equal(cg_h_write_file(p1, main_cf, strlen(main_cf)), 0);
	assert_int_equal(cg_h_write_file(p2, master, strlen(master)), 0);
	char *log = cg_h_fmt("%s/postfix.out", pd);
	int rc = run((char *const[]){POSTFIX, "-c", conf, "start", NULL}, log, NULL);
	if (rc != 0) {
		char *ml = cg_h_fmt("%s/maillog", pd);
		char *text = cg_h_read_file(ml, NULL);
		fail_msg("postfix start: exit %d; maillog:\n%s", rc, text ? text : "(none)");
	}
	/* swaks speaks SMTP to Postfix, which delivers over LMTP to casegate. */
	char server[64];
	snprintf(server, sizeof(server), "127.0.0.1:%d", port);
	char *swlog = cg_h_fmt("%s/swaks-smtp.log", m->t.dir);
	int ok = 0;
	for (int i = 0; i < 100 && !ok; i++) {
		/* smtpd may need a moment after `postfix start` returns */
		rc = run((char *const[]){SWAKS, "--server", server, "--to", "alerts+zabbix@example.com", "--from",
					 "zabbix@zabbix.example.com", "--data", (char *)fixture("zabbix_problem.eml"),
					 "--timeout", "20", NULL},
			 swlog, NULL);
		ok = rc == 0;
		if (!ok) {
			struct timespec ts = {0, 100 * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
	}
	struct want_case w = {&m->t, "High CPU utilization", NULL, 0};
	int got = ok && cg_h_poll(case_ready, &w, 30000);
	/* The Zabbix recovery through the same path resolves it. */
	if (got) {
		rc = run((char *const[]){SWAKS, "--server", server, "--to", "alerts+zabbix@example.com", "--from",
					 "zabbix@zabbix.example.com", "--data", (char *)fixture("zabbix_resolved.eml"),
					 "--timeout", "20", NULL},
			 swlog, NULL);
		struct want_case w2 = {&m->t, "High CPU utilization", "Resolved", 1};
		got = rc == 0 && cg_h_poll(case_ready, &w2, 30000);
	}
	run((char *const[]){POSTFIX, "-c", conf, "stop", NULL}, log, NULL);
	if (!got) {
		char *ml = cg_h_fmt("%s/maillog", pd);
		char *text = cg_h_read_file(ml, NULL);
		cg_h_dump_log(&m->t.gw);
		fail_msg("Postfix relay: swaks %s, case not resolved; maillog:\n%s", ok ? "ok" : "failed",
			 text ? text : "(none)");
	}
	free(pd);
	free(conf);
	free(queue);
	free(data);
	free(main_cf);
	free(master);
	free(p1);
	free(p2);
	free(log);
	free(swlog);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_swaks_lmtp_thread),
		cmocka_unit_test(test_postfix_relay),
	};
	return cg_h_run_group(tests, setup, teardown);
}
