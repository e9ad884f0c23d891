/* test_nagios_e2e.c: real Nagios 4, stock mail commands, private Postfix, casegate's LMTP and pipe mode. */
/* labels: e2e */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"
#include "pfserver.h"

#define NAGIOS          "/usr/sbin/nagios4"
#define NAGIOS_COMMANDS "/etc/nagios4/objects/commands.cfg"
#define MAIL            "/usr/bin/mail"
#define POSTMAP         "/usr/sbin/postmap"
#define POSTQUEUE       "/usr/sbin/postqueue"
#define SETPRIV         "/usr/bin/setpriv"
#define PIPE_USER       "casegate"

/* Where the source's alerts come from: Nagios on mon.example.com, as the README's example has it. */
#define SOURCES                                                                                                        \
	"  - name: nagios\n"                                                                                           \
	"    type: email\n"                                                                                            \
	"    rules: {base: nagios, alert_senders: ['nagios@mon.example.com']}\n"                                       \
	"    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"                                                          \
	"    case_type: 00000000-0000-0000-0000-000000000001\n"

struct ng {
	struct itest t;
	struct cg_h_pf pf; /* the private Postfix: <dir>/postfix, its config in <dir>/postfix/conf */
	char *nd; /* Nagios's files: <dir>/nagios */
	struct cg_h_proc nagios;
	int nagios_up;
	char *mail_config; /* Nagios's MAIL_CONFIG=...: putenv'd in its child, so kept to the end */
};

/* s with every `from` replaced by `to` (malloc'd). */
static char *replace_all(const char *s, const char *from, const char *to)
{
	size_t n = 0, fl = strlen(from), tl = strlen(to);
	for (const char *p = strstr(s, from); p; p = strstr(p + fl, from))
		n++;
	char *out = malloc(strlen(s) + n * tl + 1), *o = out;
	assert_non_null(out);
	for (const char *p = s, *q; (q = strstr(p, from)) != NULL; p = q + fl) {
		memcpy(o, p, (size_t)(q - p));
		o += q - p;
		memcpy(o, to, tl);
		o += tl;
		s = q + fl;
	}
	memcpy(o, s, strlen(s) + 1);
	return out;
}

static int setup(void **state)
{
	struct ng *g = calloc(1, sizeof(*g));
	if (!g || itest_setup(&g->t, "nagios-e2e") != 0)
		return -1;
	/* Postfix's own user and the pipe's user must reach what lies below. */
	chmod(g->t.dir, 0755);
	g->nd = cg_h_fmt("%s/nagios", g->t.dir);
	if (mkdir(g->nd, 0755) != 0)
		return -1;
	*state = g;
	return 0;
}

static int teardown(void **state)
{
	struct ng *g = *state;
	if (!g)
		return 0;
	if (g->nagios_up)
		cg_h_stop(&g->nagios, SIGTERM);
	cg_h_pf_free(&g->pf);
	itest_teardown(&g->t, 0);
	free(g->nd);
	free(g->mail_config);
	free(g);
	return 0;
}

/* The tools this test runs, each skipped for by the name deploy/install-deps.sh gives it. */
static void need_tools(void)
{
	if (access(NAGIOS, X_OK) != 0 || access(NAGIOS_COMMANDS, R_OK) != 0)
		cg_h_skip("nagios4", "%s or %s missing (apt-get install nagios4-core)", NAGIOS, NAGIOS_COMMANDS);
	if (access(MAIL, X_OK) != 0)
		cg_h_skip("mail", "%s missing (apt-get install bsd-mailx)", MAIL);
	if (access(CG_H_POSTFIX, X_OK) != 0 || access(POSTQUEUE, X_OK) != 0)
		cg_h_skip("postfix", "%s missing (apt-get install postfix)", CG_H_POSTFIX);
	if (access(POSTMAP, X_OK) != 0)
		cg_h_skip("postmap", "%s missing (apt-get install postfix)", POSTMAP);
	if (geteuid() != 0)
		cg_h_skip("root", "Postfix (postfix start, MAIL_CONFIG for sendmail) and pipe(8)'s user= need root");
}

static char *maillog(struct ng *g)
{
	return cg_h_pf_maillog(&g->pf);
}

/* What a failed step shows: casegate's log, Nagios's log and Postfix's. */
static void dump_all(struct ng *g)
{
	cg_h_dump_log(&g->t.gw);
	char *p = cg_h_fmt("%s/nagios.log", g->nd);
	char *nl = cg_h_read_file(p, NULL);
	char *ml = maillog(g);
	fprintf(stderr, "---- nagios.log\n%s\n---- maillog\n%s\n", nl ? nl : "(none)", ml);
	free(nl);
	free(ml);
	free(p);
}

/*
 * Starts a private Postfix (its own config, queue and log under <dir>/postfix; no listener:
 * mail comes in through sendmail, as Nagios's /usr/bin/mail hands it over) whose transport_maps
 * is `transport` and whose master.cf has the stock services plus master_extra.
 */
static void pf_start(struct ng *g, const char *transport, const char *master_extra)
{
	/* Mail leaves the Nagios host as the user Nagios runs as (myorigin appended). Nagios runs as
	 * root here, since Postfix's postdrop takes MAIL_CONFIG (this private Postfix) only from root
	 * or from directories the system's main.cf lists; the canonical map gives its mail the
	 * address the packaged Nagios (user nagios) sends from, envelope and From alike. */
	char *main_extra = cg_h_fmt("myorigin = mon.example.com\n"
	                            "relay_domains = example.com\n"
	                            "sender_canonical_maps = inline:{ root@mon.example.com=nagios@mon.example.com }\n"
	                            "transport_maps = %s\n",
	                            transport);
	struct cg_h_pf_opts o = {.smtpd = 0, .main_extra = main_extra, .master_extra = master_extra};
	cg_h_pf_start(&g->pf, g->t.dir, "postfix", &o);
	free(main_extra);
}

/* The service's next check result: "<exit> <output>" read by the check script (renamed into place,
 * so a check never reads half of it). */
static void set_state(struct ng *g, int code, const char *output)
{
	char *tmp = cg_h_fmt("%s/state.tmp", g->nd), *path = cg_h_fmt("%s/state", g->nd);
	char *text = cg_h_fmt("%d %s\n", code, output);
	assert_int_equal(cg_h_write_file(tmp, text, strlen(text)), 0);
	assert_int_equal(rename(tmp, path), 0);
	free(tmp);
	free(path);
	free(text);
}

/*
 * Writes a private Nagios configuration (its own log, status, command file and check results
 * under <dir>/nagios; the stock commands.cfg included as Debian ships it, so notifications are
 * the stock notify-service-by-email / notify-host-by-email) for host db-1 with the service
 * "Disk /var" checked every second, notifying contact ops at `email`, and starts Nagios with
 * MAIL_CONFIG pointing its sendmail at the private Postfix.
 */
static void nagios_start(struct ng *g, const char *email)
{
	char *results = cg_h_fmt("%s/checkresults", g->nd);
	assert_int_equal(mkdir(results, 0755), 0);
	char *script = cg_h_fmt("%s/check_state", g->nd);
	const char *check = "#!/bin/sh\n"
	                    "# the test's stand-in for a plugin: prints the output and exits with the code it is told\n"
	                    "read code text < \"$1\" || exit 3\n"
	                    "printf '%s\\n' \"$text\"\n"
	                    "exit \"$code\"\n";
	assert_int_equal(cg_h_write_file(script, check, strlen(check)), 0);
	assert_int_equal(chmod(script, 0755), 0);
	char *objects = cg_h_fmt("define timeperiod {\n"
	                         "  timeperiod_name 24x7\n  alias always\n"
	                         "  sunday 00:00-24:00\n  monday 00:00-24:00\n  tuesday 00:00-24:00\n"
	                         "  wednesday 00:00-24:00\n  thursday 00:00-24:00\n  friday 00:00-24:00\n"
	                         "  saturday 00:00-24:00\n}\n"
	                         "define command {\n  command_name check_state\n  command_line %s %s/state\n}\n"
	                         "define command {\n  command_name host_up\n  command_line /bin/true\n}\n"
	                         "define contact {\n  contact_name ops\n  email %s\n"
	                         "  service_notification_period 24x7\n  host_notification_period 24x7\n"
	                         "  service_notification_options w,u,c,r\n  host_notification_options d,u,r\n"
	                         "  service_notification_commands notify-service-by-email\n"
	                         "  host_notification_commands notify-host-by-email\n}\n"
	                         "define host {\n  host_name db-1\n  address 127.0.0.1\n  check_command host_up\n"
	                         "  max_check_attempts 1\n  check_interval 60\n  check_period 24x7\n"
	                         "  notification_period 24x7\n  notification_interval 3600\n  contacts ops\n}\n"
	                         /* One check a second (interval_length 1), hard at once; no re-notification
	                          * within the test: every mail is a state change or the acknowledgement. */
	                         "define service {\n  host_name db-1\n  service_description Disk /var\n"
	                         "  check_command check_state\n  max_check_attempts 1\n  check_interval 1\n"
	                         "  retry_interval 1\n  check_period 24x7\n  notification_period 24x7\n"
	                         "  notification_interval 3600\n  notification_options w,u,c,r\n  contacts ops\n}\n",
	                         script, g->nd, email);
	char *cfg = cg_h_fmt("log_file=%1$s/nagios.log\n"
	                     "cfg_file=" NAGIOS_COMMANDS "\n"
	                     "cfg_file=%1$s/objects.cfg\n"
	                     "object_cache_file=%1$s/objects.cache\n"
	                     "precached_object_file=%1$s/objects.precache\n"
	                     "status_file=%1$s/status.dat\n"
	                     "status_update_interval=1\n"
	                     /* root: see pf_start (MAIL_CONFIG); Nagios 4.4 runs as root when told to */
	                     "nagios_user=root\n"
	                     "nagios_group=root\n"
	                     "check_external_commands=1\n"
	                     "command_file=%1$s/nagios.cmd\n"
	                     "lock_file=%1$s/nagios.lock\n"
	                     "temp_file=%1$s/nagios.tmp\n"
	                     "temp_path=%1$s\n"
	                     "check_result_path=%1$s/checkresults\n"
	                     "query_socket=%1$s/nagios.qh\n"
	                     "retain_state_information=0\n"
	                     "state_retention_file=%1$s/retention.dat\n"
	                     "use_syslog=0\n"
	                     "interval_length=1\n"
	                     "service_inter_check_delay_method=n\n"
	                     "host_inter_check_delay_method=n\n"
	                     "max_service_check_spread=1\n"
	                     "max_host_check_spread=1\n"
	                     "enable_flap_detection=0\n"
	                     "enable_notifications=1\n"
	                     "log_notifications=1\n"
	                     "check_workers=1\n"
	                     "illegal_macro_output_chars=`~$&|'\"<>\n",
	                     g->nd);
	char *p1 = cg_h_fmt("%s/objects.cfg", g->nd), *p2 = cg_h_fmt("%s/nagios.cfg", g->nd);
	assert_int_equal(cg_h_write_file(p1, objects, strlen(objects)), 0);
	assert_int_equal(cg_h_write_file(p2, cfg, strlen(cfg)), 0);
	char *log = cg_h_fmt("%s/nagios.out", g->nd);
	char *verify = cg_h_fmt("%s/verify.out", g->nd);
	if (cg_h_run_cmd((char *const[]){NAGIOS, "-v", p2, NULL}, verify, NULL) != 0) {
		char *out = cg_h_read_file(verify, NULL);
		fail_msg("nagios4 -v %s failed:\n%s", p2, out ? out : "");
	}
	/* Nagios passes its environment on to the notification commands: /usr/bin/mail runs
	 * /usr/sbin/sendmail, which reads MAIL_CONFIG. */
	g->mail_config = cg_h_fmt("MAIL_CONFIG=%s", g->pf.conf);
	char *const env[] = {g->mail_config, NULL};
	assert_int_equal(cg_h_spawn(&g->nagios, (char *const[]){NAGIOS, p2, NULL}, env, log), 0);
	g->nagios_up = 1;
	free(results);
	free(script);
	free(objects);
	free(cfg);
	free(p1);
	free(p2);
	free(log);
	free(verify);
}

/* Writes an external command into Nagios's command file (a FIFO it creates once running). */
static int cmd_file_ready(void *ud)
{
	struct stat st;
	return stat(ud, &st) == 0 && S_ISFIFO(st.st_mode);
}

static void nagios_command(struct ng *g, const char *command)
{
	char *path = cg_h_fmt("%s/nagios.cmd", g->nd);
	if (!cg_h_poll(cmd_file_ready, path, 10000))
		fail_msg("Nagios never created its command file %s", path);
	char *line = cg_h_fmt("[%lld] %s\n", (long long)time(NULL), command);
	int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		fail_msg("open %s: %s", path, strerror(errno));
	assert_int_equal(write(fd, line, strlen(line)), (ssize_t)strlen(line));
	close(fd);
	free(line);
	free(path);
}

/* 1 when the case's attributes (labels, which casegate sets after creating the case) give key
 * the value. */
static int case_label(const cJSON *c, const char *key, const char *value)
{
	const cJSON *a =
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(c, "attributes"), "attributes");
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(a, key), *it;
	if (cJSON_IsString(v))
		return strcmp(v->valuestring, value) == 0;
	cJSON_ArrayForEach(it, v)
	{
		if (cJSON_IsString(it) && strcmp(it->valuestring, value) == 0)
			return 1;
	}
	return 0;
}

/* What a step waits for on the one case about "Disk /var". */
struct want {
	struct itest *t;
	const char *priority; /* NULL: any */
	int ncomments;        /* -1: any */
	int closed;
	const char *comment; /* NULL: any */
	int labelled;        /* 1: host db-1, service Disk /var */
};

static int case_is(void *ud)
{
	struct want *w = ud;
	cJSON *doc = itest_cases(w->t);
	const cJSON *c = itest_find_case(doc, "Disk /var");
	const char *p = c ? itest_case_attr(c, "priority") : NULL;
	int ok = c && (!w->priority || (p && strcmp(p, w->priority) == 0)) &&
	         (w->ncomments < 0 || itest_case_ncomments(c) == w->ncomments) && itest_case_closed(c) == w->closed &&
	         (!w->comment || itest_case_has_comment(c, w->comment)) &&
	         (!w->labelled || (case_label(c, "host", "db-1") && case_label(c, "service", "Disk /var")));
	cJSON_Delete(doc);
	return ok;
}

static void wait_case(struct ng *g, const char *step, struct want w, unsigned ms)
{
	w.t = &g->t;
	if (cg_h_poll(case_is, &w, ms))
		return;
	cJSON *doc = itest_cases(&g->t);
	char *s = doc ? cJSON_Print(doc) : NULL;
	dump_all(g);
	fail_msg("%s: want the \"Disk /var\" case with priority %s, %d comments%s%s%s, %s; got %s", step,
	         w.priority ? w.priority : "any", w.ncomments, w.comment ? " one holding " : "",
	         w.comment ? w.comment : "", w.labelled ? ", labels host db-1 and service Disk /var" : "",
	         w.closed ? "closed" : "open", s ? s : "(none)");
}

static void expect_one_case(struct ng *g, const char *step)
{
	int n = itest_ncases(&g->t);
	if (n != 1) {
		cJSON *doc = itest_cases(&g->t);
		char *s = doc ? cJSON_Print(doc) : NULL;
		fail_msg("%s: %d cases, want the one; got %s", step, n, s ? s : "(none)");
	}
}

/*
 * Nagios's stock notify-service-by-email → /usr/bin/mail → Postfix's sendmail → the private
 * Postfix → LMTP: the WARNING opens one case (P3, host and service labels), the CRITICAL raises
 * its priority, the acknowledgement is a comment on it, the recovery closes it.
 */
static void test_nagios_postfix_lmtp(void **state)
{
	struct ng *g = *state;
	need_tools();
	if (itest_start_sim(&g->t, NULL) != 0 ||
	    itest_write_config(&g->t, "mail:\n  listen: 127.0.0.1:0\n  protocol: lmtp\n", SOURCES) != 0 ||
	    itest_start_gw(&g->t) != 0)
		fail_msg("casegate or the simulator did not start");
	int lmtp = cg_h_log_port(&g->t.gw, "LMTP on 127.0.0.1:", 10000);
	assert_true(lmtp > 0);
	char *transport = cg_h_fmt("inline:{ example.com=lmtp:inet:127.0.0.1:%d }", lmtp);
	pf_start(g, transport, NULL);

	set_state(g, 1, "DISK WARNING - free space: /var 9% (1843 MB)");
	nagios_start(g, "alerts+nagios@example.com");
	wait_case(g, "PROBLEM (WARNING)", (struct want){.priority = "P3", .ncomments = 0, .labelled = 1}, 30000);
	expect_one_case(g, "problem");

	set_state(g, 2, "DISK CRITICAL - free space: /var 3% (602 MB)");
	wait_case(g, "escalation (CRITICAL)", (struct want){.priority = "P1", .ncomments = 1, .labelled = 1}, 20000);
	expect_one_case(g, "escalation");

	nagios_command(g, "ACKNOWLEDGE_SVC_PROBLEM;db-1;Disk /var;2;1;0;ops;looking at /var");
	wait_case(g, "ACKNOWLEDGEMENT", (struct want){.priority = "P1", .ncomments = 2, .comment = "ACKNOWLEDGEMENT"},
	          20000);
	expect_one_case(g, "acknowledgement");

	set_state(g, 0, "DISK OK - free space: /var 41% (25120 MB)");
	wait_case(g, "RECOVERY", (struct want){.priority = "P1", .ncomments = 3, .closed = 1, .comment = "DISK OK"},
	          20000);
	expect_one_case(g, "recovery");
	/* Each of the four came from Nagios's own notification, not from a test's mail. */
	char *p = cg_h_fmt("%s/nagios.log", g->nd);
	char *nl = cg_h_read_file(p, NULL);
	assert_non_null(nl);
	const char *kinds[] = {";WARNING;notify-service-by-email;", ";CRITICAL;notify-service-by-email;",
	                       ";ACKNOWLEDGEMENT (CRITICAL);notify-service-by-email;", ";OK;notify-service-by-email;"};
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strstr(nl, kinds[i]))
			fail_msg("nagios.log has no SERVICE NOTIFICATION with %s:\n%s", kinds[i], nl);
	free(nl);
	free(p);
	free(transport);
}

/* The .deb's system user, created by the command deploy/debian/postinst uses when the machine has
 * none (the test runs as root; the user stays, as after installing the package). */
static void ensure_pipe_user(void)
{
	if (getpwnam(PIPE_USER))
		return;
	char *log = cg_h_fmt("%s/adduser.log", cg_h_binary_dir());
	if (cg_h_run_cmd((char *const[]){"/usr/sbin/addgroup", "--system", PIPE_USER, NULL}, log, NULL) != 0 ||
	    cg_h_run_cmd((char *const[]){"/usr/sbin/adduser", "--system", "--ingroup", PIPE_USER, "--home",
	                                 "/var/lib/casegate", "--no-create-home", "--shell", "/usr/sbin/nologin", "--gecos",
	                                 "casegate daemon", PIPE_USER, NULL},
	                 log, NULL) != 0 ||
	    !getpwnam(PIPE_USER)) {
		char *out = cg_h_read_file(log, NULL);
		fail_msg("adding the system user %s failed:\n%s", PIPE_USER, out ? out : "");
	}
	free(log);
}

/* The lines that follow `marker` in text up to the next empty line (malloc'd), or NULL. */
static char *lines_after(const char *text, const char *marker)
{
	const char *p = strstr(text, marker);
	if (!p)
		return NULL;
	p += strlen(marker);
	const char *end = strstr(p, "\n\n");
	const char *fence = strstr(p, "\n```");
	if (!end || (fence && fence < end))
		end = fence;
	if (!end)
		return NULL;
	return cg_h_fmt("%.*s\n", (int)(end - p), p);
}

static int chown_name(const char *path, const char *user, const char *group)
{
	/* getpwnam's answer lives in one static buffer: take the uid before the next call. */
	struct passwd *pw = getpwnam(user);
	if (!pw)
		return -1;
	uid_t uid = pw->pw_uid;
	pw = getpwnam(group);
	return pw ? chown(path, uid, pw->pw_gid) : -1;
}

/* Starts casegate as the pipe's user, as the packaged unit runs it (User=casegate): the daemon
 * and `casegate mail` share state_dir. */
static void start_gw_as_pipe_user(struct ng *g)
{
	char *bin = cg_h_fmt("%s/casegate", cg_h_binary_dir());
	char *log = cg_h_fmt("%s/casegate.log", g->t.dir);
	char *const argv[] = {SETPRIV, "--reuid=" PIPE_USER, "--regid=" PIPE_USER, "--init-groups", bin, "run",
	                      "-c",    g->t.cfg_path,        "--datadog-url",      g->t.sim_url,    NULL};
	assert_int_equal(cg_h_spawn(&g->t.gw, argv, NULL, log), 0);
	g->t.gw_running = 1;
	g->t.gw_port = cg_h_log_port(&g->t.gw, "listening on 127.0.0.1:", 15000);
	if (g->t.gw_port <= 0) {
		cg_h_dump_log(&g->t.gw);
		fail_msg("casegate (as %s) did not start", PIPE_USER);
	}
	snprintf(g->t.gw_url, sizeof(g->t.gw_url), "http://127.0.0.1:%d", g->t.gw_port);
	free(bin);
	free(log);
}

struct logwait {
	struct ng *g;
	const char *a, *b; /* a line of the maillog holding both */
	int times;
	int bounced; /* set by maillog_has: Postfix bounced a mail */
};

static int maillog_has(void *ud)
{
	struct logwait *w = ud;
	char *text = maillog(w->g);
	int n = 0;
	w->bounced = 0;
	for (const char *line = text; line && *line;) {
		const char *eol = strchr(line, '\n');
		size_t len = eol ? (size_t)(eol - line) : strlen(line);
		char *l = cg_h_fmt("%.*s", (int)len, line);
		n += strstr(l, w->a) && strstr(l, w->b);
		w->bounced |= strstr(l, "status=bounced") != NULL;
		free(l);
		line = eol ? eol + 1 : NULL;
	}
	free(text);
	/* A bounce is final: no use waiting for anything else. */
	return n >= w->times || w->bounced;
}

static void wait_maillog(struct ng *g, const char *a, const char *b, int times)
{
	struct logwait w = {g, a, b, times, 0};
	if (!cg_h_poll(maillog_has, &w, 20000) || w.bounced) {
		dump_all(g);
		fail_msg("the maillog has not %d line(s) with \"%s\" and \"%s\"%s", times, a, b,
		         w.bounced ? ", and Postfix bounced a mail (status=bounced)" : "");
	}
}

/*
 * Pipe mode exactly as the README's E-mail intake shows it: its master.cf service (a pipe(8)
 * with user=casegate) and transport entry in the private Postfix, the config root:casegate 0640
 * and state_dir casegate's 0700, the daemon running as casegate. Nagios's PROBLEM opens the case;
 * with the config unreadable for the pipe's user, the RECOVERY is deferred (kept in Postfix's
 * queue, not bounced); once the config is readable again a queue flush delivers it and the case
 * closes.
 */
static void test_nagios_postfix_pipe(void **state)
{
	struct ng *g = *state;
	need_tools();
	assert_int_equal(access(SETPRIV, X_OK), 0);
	ensure_pipe_user();

	/* The documented text: the master.cf service and the transport entry. */
	char *readme = cg_h_readme();
	char *service = lines_after(readme, "# /etc/postfix/master.cf (then: postfix reload)\n");
	char *entry = lines_after(readme, "(then: postmap /etc/postfix/transport)\n");
	if (!service || !entry || !strstr(service, " pipe\n") || !strstr(service, "user=" PIPE_USER " ") ||
	    !strstr(service, "/usr/bin/casegate mail -c /etc/casegate/casegate.yaml "))
		fail_msg(
		    "README.md (E-mail intake, pipe mode): no master.cf pipe service running /usr/bin/casegate mail -c "
		    "/etc/casegate/casegate.yaml as user=%s, or no transport entry after it; got "
		    "service:\n%s\nentry:\n%s",
		    PIPE_USER, service ? service : "(none)", entry ? entry : "(none)");
	char address[256];
	if (sscanf(entry, "%255s", address) != 1 || !strchr(address, '@'))
		fail_msg("README.md's transport entry names no address: %s", entry);

	if (itest_start_sim(&g->t, NULL) != 0 || itest_write_config(&g->t, NULL, SOURCES) != 0)
		fail_msg("the simulator did not start or the config was not written");
	/* As the README says the package sets them up. */
	char *sd = cg_h_fmt("%s/state", g->t.dir);
	assert_int_equal(mkdir(sd, 0700), 0);
	assert_int_equal(chown_name(sd, PIPE_USER, PIPE_USER), 0);
	assert_int_equal(chown_name(g->t.cfg_path, "root", PIPE_USER), 0);
	assert_int_equal(chmod(g->t.cfg_path, 0640), 0);
	start_gw_as_pipe_user(g);

	char *bin = cg_h_fmt("%s/casegate", cg_h_binary_dir());
	char *s1 = replace_all(service, "/usr/bin/casegate", bin);
	char *master = replace_all(s1, "/etc/casegate/casegate.yaml", g->t.cfg_path);
	/* The map beside main.cf (pf_start makes <dir>/postfix/conf); postmap builds it once Postfix runs. */
	char *tpath = cg_h_fmt("%s/postfix/conf/transport", g->t.dir);
	char *transport = cg_h_fmt("hash:%s", tpath);
	pf_start(g, transport, master);
	assert_int_equal(cg_h_write_file(tpath, entry, strlen(entry)), 0);
	char *pmlog = cg_h_fmt("%s/postmap.out", g->pf.dir);
	if (cg_h_run_cmd((char *const[]){POSTMAP, "-c", g->pf.conf, transport, NULL}, pmlog, NULL) != 0) {
		char *out = cg_h_read_file(pmlog, NULL);
		fail_msg("postmap %s failed:\n%s", transport, out ? out : "");
	}

	set_state(g, 1, "DISK WARNING - free space: /var 9% (1843 MB)");
	nagios_start(g, address);
	wait_case(g, "PROBLEM through the pipe", (struct want){.priority = "P3", .ncomments = 0, .labelled = 1}, 30000);
	wait_maillog(g, "relay=casegate-nagios", "status=sent", 1);

	/* The config unreadable for the pipe's user (root's 0600, as casegate once advised): the
	 * recovery waits in the queue. */
	assert_int_equal(chmod(g->t.cfg_path, 0600), 0);
	set_state(g, 0, "DISK OK - free space: /var 41% (25120 MB)");
	wait_maillog(g, "relay=casegate-nagios", "status=deferred", 1);
	char *ml = maillog(g);
	if (strstr(ml, "status=bounced") || !strstr(ml, "Permission denied"))
		fail_msg(
		    "want the recovery deferred with casegate's \"Permission denied\", never bounced; maillog:\n%s",
		    ml);
	free(ml);
	char *qlog = cg_h_fmt("%s/postqueue.out", g->pf.dir);
	assert_int_equal(cg_h_run_cmd((char *const[]){POSTQUEUE, "-c", g->pf.conf, "-p", NULL}, qlog, NULL), 0);
	char *queue = cg_h_read_file(qlog, NULL);
	if (!queue || !strstr(queue, address))
		fail_msg("postqueue -p does not list the deferred mail to %s:\n%s", address, queue ? queue : "");
	free(queue);
	expect_one_case(g, "deferred recovery");
	wait_case(g, "deferred recovery", (struct want){.priority = "P3", .ncomments = 0}, 1000);

	/* Fixed: Postfix's next try (flushed now instead of after its backoff) delivers it. */
	assert_int_equal(chmod(g->t.cfg_path, 0640), 0);
	assert_int_equal(cg_h_run_cmd((char *const[]){POSTQUEUE, "-c", g->pf.conf, "-f", NULL}, qlog, NULL), 0);
	wait_maillog(g, "relay=casegate-nagios", "status=sent", 2);
	wait_case(g, "RECOVERY after the flush",
	          (struct want){.priority = "P3", .ncomments = 1, .closed = 1, .comment = "DISK OK"}, 20000);
	expect_one_case(g, "recovery");

	free(readme);
	free(service);
	free(entry);
	free(sd);
	free(bin);
	free(s1);
	free(master);
	free(tpath);
	free(transport);
	free(pmlog);
	free(qlog);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_nagios_postfix_lmtp, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nagios_postfix_pipe, setup, teardown),
	};
	return cg_h_run_group(tests, NULL, NULL);
}
