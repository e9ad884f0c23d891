/* test_mailin_monit_e2e.c: real monit -> SMTP listener: start opens no case, a failure one, its recovery closes it. */
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
#include <unistd.h>

#include "itest.h"

#define MONIT "/usr/bin/monit"
#define FROM  "monit@web-1.example.com"

/* The README's monit source (E-mail intake, monit), with the sim's project and case type. */
static const char *sources = "  - name: monit\n"
                             "    type: email\n"
                             "    rules: { base: monit, alert_senders: ['" FROM "'] }\n"
                             "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
                             "    case_type: 00000000-0000-0000-0000-000000000001\n";

/* A listening socket on 127.0.0.1:port (the checked service coming up), or -1. */
static int listen_on(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 16) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}


static void wait_metric(struct itest *t, const char *name, const char *labels, double want, const char *why)
{
	struct itest_metric_wait w = {t, name, labels, want};
	if (!cg_h_poll(itest_metric_reached, &w, 20000)) {
		cg_h_dump_log(&t->gw);
		fail_msg("%s: %s{%s} got %g, want >= %g", why, name, labels, itest_metric(t, name, labels), want);
	}
}

/* monit's start mail was applied: ignored, or (the bug) a second case. */
static int start_handled(void *ud)
{
	struct itest_metric_wait *w = ud;
	return itest_metric_reached(w) || itest_ncases(w->t) > 1;
}

/* The value of custom attribute name on case c ("host"), or NULL. */
static const char *case_custom(const cJSON *c, const char *name)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(c, "attributes");
	const cJSON *ca = cJSON_GetObjectItemCaseSensitive(a ? a : c, "attributes");
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(ca, name);
	if (cJSON_IsArray(v))
		v = cJSON_GetArrayItem(v, 0);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

struct case_wait {
	struct itest *t;
	const char *title;
	int closed;
	int attrs; /* the attributes too (a request of their own after the create) */
};

static int case_there(void *ud)
{
	struct case_wait *w = ud;
	cJSON *doc = itest_cases(w->t);
	const cJSON *c = itest_find_case(doc, w->title);
	int ok = c && (!w->closed || itest_case_closed(c)) && (!w->attrs || case_custom(c, "service"));
	cJSON_Delete(doc);
	return ok;
}

/* What a failing test leaves behind is stopped by teardown (fail_msg leaves the test at once). */
struct monit_test {
	struct itest t;
	struct cg_h_proc monit;
	int monit_running, lfd;
};

static int setup(void **state)
{
	struct monit_test *m = calloc(1, sizeof(*m));
	if (!m)
		return -1;
	m->lfd = -1;
	*state = m;
	return 0;
}

static int teardown(void **state)
{
	struct monit_test *m = *state;
	if (m->monit_running)
		cg_h_stop(&m->monit, SIGKILL);
	if (m->lfd >= 0)
		close(m->lfd);
	if (m->t.dir)
		itest_teardown(&m->t, 0);
	free(m);
	return 0;
}

static void dump_and_fail(struct itest *t, struct cg_h_proc *monit, const char *what)
{
	cJSON *doc = itest_cases(t);
	char *s = doc ? cJSON_Print(doc) : NULL;
	cg_h_dump_log(&t->gw);
	cg_h_dump_log(monit);
	fail_msg("%s; cases: %s", what, s ? s : "(none)");
}

/*
 * monit 5.33, foreground (-I), `set daemon 1`, its default mail-format with a fixed From, checks
 * a port nobody listens on and mails casegate's SMTP listener. Its start ("Monit instance
 * changed") is handled and opens nothing; "Connection failed webapp" opens exactly one case (P2,
 * host and service attributes); the test starts listening on the port, and monit's "Connection
 * succeeded webapp" closes that case; its stop opens nothing either.
 */
static void test_monit_failure_then_recovery(void **state)
{
	struct monit_test *m = *state;
	if (access(MONIT, X_OK) != 0)
		cg_h_skip("monit", "%s missing (apt-get install monit)", MONIT);
	struct itest *t = &m->t;
	assert_int_equal(itest_setup(t, "monit-e2e"), 0);
	if (itest_start_sim(t, NULL) != 0 ||
	    itest_write_config(t, "mail:\n  listen: 127.0.0.1:0\n  protocol: smtp\n", sources) != 0 ||
	    itest_start_gw(t) != 0)
		fail_msg("casegate did not start (files in %s)", t->dir);
	int smtp = cg_h_log_port(&t->gw, "SMTP on 127.0.0.1:", 10000);
	if (smtp <= 0) {
		cg_h_dump_log(&t->gw);
		fail_msg("casegate logged no SMTP listener port");
	}
	int port = cg_h_free_port();
	assert_true(port > 0);
	char host[256] = "";
	assert_int_equal(gethostname(host, sizeof(host) - 1), 0);

	/* The control file: the README's lines (mailserver, alert, mail-format) and private files.
	 * monit refuses one that others may read. */
	char *rc = cg_h_fmt("%s/monitrc", t->dir);
	char *text = cg_h_fmt("set daemon 1\n"
	                      "set logfile %s/monit.log\n"
	                      "set pidfile %s/monit.pid\n"
	                      "set idfile %s/monit.id\n"
	                      "set statefile %s/monit.state\n"
	                      "set mailserver 127.0.0.1 port %d\n"
	                      "set alert alerts+monit@example.com\n"
	                      "set mail-format { from: " FROM " }\n"
	                      "check host webapp with address 127.0.0.1\n"
	                      "  if failed port %d then alert\n",
	                      t->dir, t->dir, t->dir, t->dir, smtp, port);
	assert_int_equal(cg_h_write_file(rc, text, strlen(text)), 0);
	assert_int_equal(chmod(rc, 0600), 0);
	char *mlog = cg_h_fmt("%s/monit.out", t->dir);
	struct cg_h_proc *monit = &m->monit;
	char *const argv[] = {MONIT, "-I", "-c", rc, NULL};
	if (cg_h_spawn(monit, argv, NULL, mlog) != 0)
		fail_msg("cannot start %s", MONIT);
	m->monit_running = 1;

	/* Start and failure: two mails, in that order. */
	wait_metric(t, "casegate_mail_messages_total", "source=\"monit\"", 2, "monit's start and failure mail");
	struct case_wait w = {t, "Connection failed webapp", 0, 1};
	if (!cg_h_poll(case_there, &w, 20000))
		dump_and_fail(t, monit, "no case for \"Connection failed webapp\"");
	/* The start mail was a comment with no case to land on: handled, ignored (had it opened a
	 * case, there would be two). */
	struct itest_metric_wait ign = {t, "casegate_events_total", "action=\"ignored\"", 1};
	if (!cg_h_poll(start_handled, &ign, 20000) || itest_ncases(t) != 1)
		dump_and_fail(t, monit, "want exactly one case after monit's start and one failure");
	cJSON *doc = itest_cases(t);
	const cJSON *c = itest_find_case(doc, "Connection failed webapp");
	const char *title = itest_case_attr(c, "title"), *prio = itest_case_attr(c, "priority");
	if (!title || strcmp(title, "monit alert -- Connection failed webapp") != 0 || !prio || strcmp(prio, "P2") != 0)
		dump_and_fail(t, monit, "want title \"monit alert -- Connection failed webapp\", priority P2");
	const char *h = case_custom(c, "host"), *svc = case_custom(c, "service");
	if (!h || strcmp(h, host) != 0 || !svc || strcmp(svc, "webapp") != 0)
		dump_and_fail(t, monit, "want attributes host (this machine's name) and service webapp");
	cJSON_Delete(doc);

	/* The service comes up: monit's next cycle mails "Connection succeeded webapp". */
	m->lfd = listen_on(port);
	assert_true(m->lfd >= 0);
	w.closed = 1;
	if (!cg_h_poll(case_there, &w, 20000))
		dump_and_fail(t, monit, "the recovery did not close the case");

	/* monit's stop mails "Monit instance changed" again: still one case, closed. */
	double before = itest_metric(t, "casegate_events_total", "action=\"ignored\"");
	int ws = cg_h_stop(monit, SIGTERM);
	m->monit_running = 0;
	if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
		fail_msg("monit exited with status 0x%x on SIGTERM, want 0", ws);
	wait_metric(t, "casegate_events_total", "action=\"ignored\"", before + 1, "monit's stop mail");
	if (itest_ncases(t) != 1)
		dump_and_fail(t, monit, "want still exactly one case after monit stopped");
	free(mlog);
	free(text);
	free(rc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_monit_failure_then_recovery, setup, teardown),
	};
	return cg_h_run_group(tests, NULL, NULL);
}
