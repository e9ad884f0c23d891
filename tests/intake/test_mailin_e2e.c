/* test_mailin_e2e.c: end to end with real mail tools: swaks (LMTP), a private Postfix relay and Alertmanager's e-mail into casegate. */
/* labels: e2e */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <time.h>
#include <unistd.h>

#include "itest.h"
#include "pfserver.h"
#include "sbuf.h"

#define SWAKS "/usr/bin/swaks"

static const char *sources = "  - name: nagios\n"
			     "    type: email\n"
			     "    rules: {base: nagios, alert_senders: ['nagios@mon.example.com']}\n"
			     "    reply_senders: ['*@example.com']\n"
			     "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
			     "    case_type: 00000000-0000-0000-0000-000000000001\n"
			     "  - name: am\n"
			     "    type: email\n"
			     "    rules: {base: alertmanager, alert_senders: ['alertmanager@mon.example.com']}\n"
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
	return cg_h_run_cmd(argv, log, NULL);
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
	rc = cg_h_run_cmd(argv, log, fixture("nagios_recovery.eml"));
	assert_int_equal(rc, 0);
	wait_case(m, "Service Alert: web1/HTTP", "Resolved", 1);
	/* Garbage is EX_DATAERR; an unknown source is the operator's to fix: EX_TEMPFAIL. */
	char *const bad[] = {bin, "mail", "-c", m->t.cfg_path, "--source", "nagios", NULL};
	rc = cg_h_run_cmd(bad, log, "/dev/null");
	assert_int_equal(rc, 65);
	char *const nouser[] = {bin, "mail", "-c", m->t.cfg_path, "--source", "nope", NULL};
	rc = cg_h_run_cmd(nouser, log, fixture("nagios_recovery.eml"));
	assert_int_equal(rc, 75);

	double ignored = itest_metric(&m->t, "casegate_mail_ignored_total", "reason=\"auto_reply\"");
	if (ignored != 1)
		fail_msg("casegate_mail_ignored_total{reason=auto_reply}: got %g, want 1", ignored);
	/* Exactly one case: the reply and the recovery went to it. */
	assert_int_equal(itest_ncases(&m->t), 1);
}

/* A private Postfix that relays mail for example.com to casegate's LMTP, with smtpd on a free
 * loopback port (pf->port); skips without Postfix or root. */
static void pf_start(struct mt *m, struct cg_h_pf *pf, const char *name)
{
	char *relay = cg_h_fmt("relay_domains = example.com\n"
			       "transport_maps = inline:{ example.com=lmtp:inet:127.0.0.1:%d }\n",
			       m->lmtp_port);
	struct cg_h_pf_opts o = {.smtpd = 1, .main_extra = relay};
	cg_h_pf_start(pf, m->t.dir, name, &o);
	free(relay);
}

/* A private Postfix (loopback only, its own config and queue) relays SMTP to casegate's LMTP. */
static void test_postfix_relay(void **state)
{
	struct mt *m = *state;
	if (!m)
		cg_h_skip("swaks", "%s missing (apt-get install swaks)", SWAKS);
	struct cg_h_pf pf = {0};
	pf_start(m, &pf, "postfix");
	/* swaks speaks SMTP to Postfix, which delivers over LMTP to casegate. */
	char server[64];
	snprintf(server, sizeof(server), "127.0.0.1:%d", pf.port);
	char *swlog = cg_h_fmt("%s/swaks-smtp.log", m->t.dir);
	int ok = 0, rc;
	for (int i = 0; i < 100 && !ok; i++) {
		/* smtpd may need a moment after `postfix start` returns */
		rc = cg_h_run_cmd((char *const[]){SWAKS, "--server", server, "--to", "alerts+zabbix@example.com", "--from",
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
		rc = cg_h_run_cmd((char *const[]){SWAKS, "--server", server, "--to", "alerts+zabbix@example.com", "--from",
					 "zabbix@zabbix.example.com", "--data", (char *)fixture("zabbix_resolved.eml"),
					 "--timeout", "20", NULL},
			 swlog, NULL);
		struct want_case w2 = {&m->t, "High CPU utilization", "Resolved", 1};
		got = rc == 0 && cg_h_poll(case_ready, &w2, 30000);
	}
	cg_h_pf_stop(&pf);
	if (!got) {
		char *text = cg_h_pf_maillog(&pf);
		cg_h_dump_log(&m->t.gw);
		fail_msg("Postfix relay: swaks %s, case not resolved; maillog:\n%s", ok ? "ok" : "failed", text);
	}
	cg_h_pf_free(&pf);
	free(swlog);
}

/* ---- Alertmanager's email_configs -> Postfix -> LMTP ---- */

/* Debian's path; CG_ALERTMANAGER overrides it (as in test_webhook_alertmanager_e2e). */
#define AM_BIN "/usr/bin/prometheus-alertmanager"
#define AM_GENERATOR "http://prometheus.example.com:9090/graph?g0.expr=node_filesystem_avail_bytes%20%3C%201e9&g0.tab=1"

static const char *am_bin(void)
{
	const char *b = getenv("CG_ALERTMANAGER");
	return b && *b ? b : AM_BIN;
}

struct http_ok {
	const char *url;
	struct cg_h_proc *proc;
	int dead;
};

static int http_answers(void *ud)
{
	struct http_ok *w = ud;
	if (!cg_h_alive(w->proc)) {
		w->dead = 1;
		return 1;
	}
	struct cg_h_resp r;
	int ok = cg_h_http("GET", w->url, NULL, NULL, 0, &r) == 0 && r.status == 200;
	cg_h_resp_free(&r);
	return ok;
}

/* Starts Alertmanager with tests/fixtures/e2e/alertmanager-email.yml sending to smtp_port; its port
 * goes to *port (its external URL is http://127.0.0.1:PORT: the mail's links point there). */
static int am_start(struct mt *m, struct cg_h_proc *am, int smtp_port, int *port)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/tests/fixtures/e2e/alertmanager-email.yml", cg_h_source_dir());
	char *tmpl = cg_h_read_file(path, NULL);
	char *at = tmpl ? strstr(tmpl, "@SMARTHOST@") : NULL;
	if (!at) {
		free(tmpl);
		fprintf(stderr, "cannot read %s (or no @SMARTHOST@ in it)\n", path);
		return -1;
	}
	*at = '\0';
	char *cfg = cg_h_fmt("%s127.0.0.1:%d%s", tmpl, smtp_port, at + strlen("@SMARTHOST@"));
	free(tmpl);
	char *cfg_path = cg_h_fmt("%s/alertmanager-email.yml", m->t.dir);
	int rc = cfg && cfg_path ? cg_h_write_file(cfg_path, cfg, strlen(cfg)) : -1;
	free(cfg);
	int started = 0;
	for (int attempt = 0; rc == 0 && !started && attempt < 3; attempt++) {
		*port = cg_h_free_port();
		char *cfg_arg = cg_h_fmt("--config.file=%s", cfg_path);
		char *storage = cg_h_fmt("--storage.path=%s/am-data.%d", m->t.dir, attempt);
		char *listen = cg_h_fmt("--web.listen-address=127.0.0.1:%d", *port);
		char *url = cg_h_fmt("--web.external-url=http://127.0.0.1:%d", *port);
		char *log = cg_h_fmt("%s/alertmanager.%d.log", m->t.dir, attempt);
		/* An empty cluster address disables gossip: no second port, no peers to wait for. */
		char *const argv[] = {(char *)am_bin(), cfg_arg, storage, listen, url, "--cluster.listen-address=", NULL};
		int spawned = cg_h_spawn(am, argv, NULL, log) == 0;
		free(cfg_arg);
		free(storage);
		free(listen);
		free(url);
		free(log);
		if (!spawned)
			break;
		char *ready = cg_h_fmt("http://127.0.0.1:%d/-/ready", *port);
		struct http_ok w = {ready, am, 0};
		started = cg_h_poll(http_answers, &w, 20000) && !w.dead;
		free(ready);
		if (started)
			break;
		cg_h_dump_log(am);
		cg_h_stop(am, SIGKILL);
		if (!w.dead)
			break; /* running but never ready: another attempt would not help */
		/* it died: most likely the port was taken meanwhile; try another */
	}
	free(cfg_path);
	return started ? 0 : -1;
}

/* POSTs one DiskFull alert to Alertmanager's API; ends_at NULL while firing. 1 when it took it. */
static int am_post(int port, const char *ends_at)
{
	char *url = cg_h_fmt("http://127.0.0.1:%d/api/v2/alerts", port);
	char ends[64] = "";
	if (ends_at)
		snprintf(ends, sizeof(ends), ",\"endsAt\":\"%s\"", ends_at);
	char *body = cg_h_fmt("[{\"labels\":{\"alertname\":\"DiskFull\",\"instance\":\"db-1:9100\",\"job\":\"node\","
			      "\"severity\":\"critical\"},\"annotations\":{\"summary\":\"/var on db-1 is 97%% full\"},"
			      "\"generatorURL\":\"%s\"%s}]",
			      AM_GENERATOR, ends);
	const char *headers[] = {"Content-Type: application/json", NULL};
	struct cg_h_resp r;
	int ok = cg_h_http("POST", url, headers, body, strlen(body), &r) == 0 && r.status == 200;
	if (!ok)
		fprintf(stderr, "POST %s: got %ld (%s), want 200\n", url, r.status, r.body ? r.body : "");
	cg_h_resp_free(&r);
	free(url);
	free(body);
	return ok;
}

/* The first value of a case's attribute (label) as the simulator keeps it: attributes.attributes.NAME. */
static const char *case_label(const cJSON *c, const char *name)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(c, "attributes");
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(a, "attributes"), name);
	const cJSON *first = cJSON_IsArray(v) ? cJSON_GetArrayItem(v, 0) : v;
	return cJSON_IsString(first) ? first->valuestring : NULL;
}

/* What the firing mail's case must show: "" when it does, else what is wrong (malloc'd). */
static char *am_case_problems(struct mt *m, int am_port)
{
	cJSON *doc = itest_cases(&m->t);
	const cJSON *c = itest_find_case(doc, "DiskFull");
	struct cg_sbuf b = {0};
	cg_sbuf_addn(&b, "", 0);
	const char *title = c ? itest_case_attr(c, "title") : NULL;
	const char *prio = c ? itest_case_attr(c, "priority") : NULL;
	const char *group = c ? case_label(c, "group") : NULL;
	const char *desc = c ? itest_case_attr(c, "description") : NULL;
	/* The stock template's links, as links: Prometheus's generatorURL ("Source") and Alertmanager's own. */
	char *view = cg_h_fmt("[View in Alertmanager](http://127.0.0.1:%d/#/alerts?receiver=casegate-mail)", am_port);
	const char *source = "[Source](" AM_GENERATOR ")";
	if (!c)
		cg_sbuf_add(&b, "no DiskFull case; ");
	if (c && (!title || strcmp(title, "DiskFull (db-1:9100 node critical)") != 0))
		cg_sbuf_addf(&b, "title \"%s\", want \"DiskFull (db-1:9100 node critical)\"; ", title ? title : "(none)");
	if (c && (!prio || strcmp(prio, "P1") != 0))
		cg_sbuf_addf(&b, "priority %s, want P1 (severity = critical); ", prio ? prio : "(none)");
	if (c && (!group || strcmp(group, "DiskFull") != 0))
		cg_sbuf_addf(&b, "label group \"%s\", want \"DiskFull\"; ", group ? group : "(none)");
	if (c && (!desc || !strstr(desc, source) || !strstr(desc, view) || !strstr(desc, "/var on db-1 is 97% full")))
		cg_sbuf_addf(&b, "description\n%s\nwant the summary and the links %s and %s; ", desc ? desc : "(none)",
			     source, view);
	free(view);
	cJSON_Delete(doc);
	return cg_sbuf_take(&b);
}

struct am_wait {
	struct mt *m;
	int am_port;
	char *problems; /* the last look's */
};

static int am_case_ok(void *ud)
{
	struct am_wait *w = ud;
	free(w->problems);
	w->problems = am_case_problems(w->m, w->am_port);
	return w->problems && !*w->problems;
}

static char *iso_now(int offset_s)
{
	time_t t = time(NULL) + offset_s;
	struct tm tm;
	gmtime_r(&t, &tm);
	char buf[32];
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return strdup(buf);
}

/* The real Alertmanager's email_configs (its stock HTML template) through a private Postfix into
 * casegate's LMTP: one case with the title, priority and label the `alertmanager` rules give, the
 * mail's links kept as links; the [RESOLVED] mail closes the same case. */
static void test_alertmanager_email(void **state)
{
	struct mt *m = *state;
	if (!m)
		cg_h_skip("swaks", "%s missing (apt-get install swaks)", SWAKS);
	if (access(am_bin(), X_OK) != 0)
		cg_h_skip("alertmanager", "%s not installed (apt-get install prometheus-alertmanager)", am_bin());
	struct cg_h_pf pf = {0};
	pf_start(m, &pf, "postfix-am");
	struct cg_h_proc am = {0};
	int am_port = 0;
	const char *stage = "Alertmanager did not start";
	char *problems = NULL;
	if (am_start(m, &am, pf.port, &am_port) == 0) {
		stage = "Alertmanager refused the firing alert";
		if (am_post(am_port, NULL)) {
			/* Until the case shows all of it (its labels are set right after it is created). */
			struct am_wait aw = {m, am_port, NULL};
			stage = "the firing mail's case";
			if (cg_h_poll(am_case_ok, &aw, 30000)) {
				stage = "Alertmanager refused the resolved alert";
				char *ends = iso_now(-1);
				if (am_post(am_port, ends)) {
					stage = "the DiskFull case was not resolved by the [RESOLVED] mail in time";
					struct want_case w2 = {&m->t, "DiskFull", "Resolved", 1};
					if (cg_h_poll(case_ready, &w2, 30000))
						stage = NULL;
				}
				free(ends);
			}
			problems = aw.problems;
		}
		cg_h_stop(&am, SIGTERM);
	}
	cg_h_pf_stop(&pf);
	if (stage) {
		char *text = cg_h_pf_maillog(&pf);
		cJSON *doc = itest_cases(&m->t);
		char *cases = doc ? cJSON_Print(doc) : NULL;
		if (am.log_path[0])
			cg_h_dump_log(&am);
		cg_h_dump_log(&m->t.gw);
		fail_msg("%s%s%s\ncases: %s\nmaillog:\n%s", stage, problems && *problems ? ": " : "",
			 problems ? problems : "", cases ? cases : "(none)", text);
	}
	free(problems);
	/* One case: the resolved mail went to the firing mail's case. */
	int n = itest_count_titled(&m->t, "DiskFull (db-1:9100 node critical)");
	if (n != 1)
		fail_msg("got %d DiskFull cases, want 1", n);
	cg_h_pf_free(&pf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_swaks_lmtp_thread),
		cmocka_unit_test(test_postfix_relay),
		cmocka_unit_test(test_alertmanager_email),
	};
	return cg_h_run_group(tests, setup, teardown);
}
