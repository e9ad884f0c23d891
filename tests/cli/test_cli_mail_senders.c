/* test_cli_mail_senders.c: `casegate map` on the mail the real Icinga 2.13 scripts and Nagios 4.4 commands write
 * (fixtures regenerated from them and compared), and on Alertmanager 0.25's stock mail. */
/* labels: integration */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define ICINGA_SVC  "/etc/icinga2/scripts/mail-service-notification.sh"
#define ICINGA_HOST "/etc/icinga2/scripts/mail-host-notification.sh"
#define NAGIOS_CMDS "/etc/nagios4/objects/commands.cfg"
#define MAIL_BIN    "/usr/bin/mail"
#define PYTHON      "/usr/bin/python3"

/* The fixtures gen_mail_fixtures.py writes (and nothing else starts with these prefixes). */
static int generated_name(const char *n)
{
	size_t len = strlen(n);
	return (strncmp(n, "icinga213_", 10) == 0 || strncmp(n, "nagios4_", 8) == 0) && len > 4 &&
	       strcmp(n + len - 4, ".eml") == 0;
}

/* The checked-in fixtures are what the real scripts write today: gen_mail_fixtures.py, run into a
 * scratch folder, gives the same bytes and the same set of files. */
static void test_fixtures_are_the_real_senders_mail(void **state)
{
	const char *dir = *state;
	/* Skips name the tool deploy/install-deps.sh installs, so CI fails on them. */
	if (access(ICINGA_SVC, R_OK) != 0 || access(ICINGA_HOST, R_OK) != 0)
		cg_h_skip("icinga2-scripts", "%s missing (package icinga2-common)", ICINGA_SVC);
	if (access(NAGIOS_CMDS, R_OK) != 0)
		cg_h_skip("nagios4", "%s missing (package nagios4-core)", NAGIOS_CMDS);
	if (access(MAIL_BIN, X_OK) != 0)
		cg_h_skip("mail", "%s missing (package bsd-mailx)", MAIL_BIN);
	if (access(PYTHON, X_OK) != 0)
		cg_h_skip("python3", "%s missing: gen_mail_fixtures.py not run", PYTHON);
	char *out = cg_h_fmt("%s/generated", dir);
	char *gen = cg_h_fmt("%s/tests/mappers/gen_mail_fixtures.py", cg_h_source_dir());
	char *log = cg_h_fmt("%s/gen.log", dir);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		FILE *f = freopen(log, "w", stderr);
		if (f && dup2(fileno(stderr), 1) < 0)
			_exit(126);
		execl(PYTHON, "python3", gen, "--out", out, (char *)NULL);
		_exit(127);
	}
	int st = 0;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		char *l = cg_h_read_file(log, NULL);
		fail_msg("gen_mail_fixtures.py --out %s: exit status %d:\n%s", out, st, l ? l : "");
	}
	char *fixdir = cg_h_fmt("%s/tests/fixtures/email", cg_h_source_dir());
	size_t ngen = 0, nfix = 0;
	DIR *d = opendir(out);
	assert_non_null(d);
	for (struct dirent *de; (de = readdir(d));) {
		if (de->d_name[0] == '.')
			continue;
		if (!generated_name(de->d_name))
			fail_msg("gen_mail_fixtures.py wrote %s: want only icinga213_*.eml and nagios4_*.eml",
			         de->d_name);
		char *a = cg_h_fmt("%s/%s", out, de->d_name), *b = cg_h_fmt("%s/%s", fixdir, de->d_name);
		size_t la = 0, lb = 0;
		char *ga = cg_h_read_file(a, &la), *fb = cg_h_read_file(b, &lb);
		if (!fb)
			fail_msg("tests/fixtures/email/%s: not checked in; the real scripts write it (run "
			         "tests/mappers/gen_mail_fixtures.py)",
			         de->d_name);
		if (!ga || la != lb || memcmp(ga, fb, la) != 0) {
			size_t i = 0, line = 1;
			while (ga && i < la && i < lb && ga[i] == fb[i])
				line += ga[i++] == '\n';
			fail_msg("tests/fixtures/email/%s differs from what the real scripts write now, from line %zu "
			         "(re-run tests/mappers/gen_mail_fixtures.py and review the change):\n--- "
			         "generated\n%s\n--- "
			         "checked in\n%s",
			         de->d_name, line, ga ? ga : "", fb);
		}
		free(ga);
		free(fb);
		free(a);
		free(b);
		ngen++;
	}
	closedir(d);
	d = opendir(fixdir);
	assert_non_null(d);
	for (struct dirent *de; (de = readdir(d));) {
		if (!generated_name(de->d_name))
			continue;
		char *a = cg_h_fmt("%s/%s", out, de->d_name);
		if (access(a, F_OK) != 0)
			fail_msg("tests/fixtures/email/%s: the generator no longer writes it (remove it)", de->d_name);
		free(a);
		nfix++;
	}
	closedir(d);
	if (ngen < 13 || ngen != nfix)
		fail_msg("got %zu generated and %zu checked-in fixtures, want the same 13", ngen, nfix);
	free(fixdir);
	free(log);
	free(gen);
	free(out);
}

/* A config with the shipped rule sets: by name, and Icinga's also as the shipped file. */
static char *write_config(const char *dir)
{
	char *path = cg_h_fmt("%s/casegate.yaml", dir);
	char *text = cg_h_fmt("state_dir: %s/state\n"
	                      "datadog:\n  api_key: k\n  app_key: a\n"
	                      "sources:\n"
	                      "  - { name: icinga, type: email, rules: icinga2, project: SEC, case_type: "
	                      "00000000-0000-0000-0000-000000000001 }\n"
	                      "  - { name: icingafile, type: email, rules: { file: %s/conf/mail-rules/icinga2.yaml }, "
	                      "project: SEC, case_type: 00000000-0000-0000-0000-000000000001 }\n"
	                      "  - { name: nagios, type: email, rules: nagios, project: SEC, case_type: "
	                      "00000000-0000-0000-0000-000000000001 }\n"
	                      "  - { name: am, type: email, rules: alertmanager, project: SEC, case_type: "
	                      "00000000-0000-0000-0000-000000000001 }\n",
	                      dir, cg_h_source_dir());
	assert_int_equal(cg_h_write_file(path, text, strlen(text)), 0);
	free(text);
	return path;
}

/* casegate map's one line for fixture fx through source src (its JSON; caller deletes). */
static cJSON *map_one(const char *dir, const char *cfg, const char *src, const char *fx)
{
	char *path = cg_h_fmt("%s/tests/fixtures/email/%s", cg_h_source_dir(), fx);
	struct cg_h_cli r =
	    cg_h_cli_run(dir, NULL, (const char *const[]){"map", "-c", cfg, "--source", src, path, NULL});
	char what[160];
	snprintf(what, sizeof(what), "casegate map --source %s %s", src, fx);
	cg_h_cli_expect_code(&r, 0, what);
	const char *eol = strchr(r.out, '\n');
	if (!eol || eol[1])
		fail_msg("%s: got stdout \"%s\", want one JSON line", what, r.out);
	cJSON *o = cJSON_ParseWithLength(r.out, (size_t)(eol - r.out));
	if (!cJSON_IsObject(o))
		fail_msg("%s: got \"%s\", want a JSON object", what, r.out);
	cg_h_cli_free(&r);
	free(path);
	return o;
}

static const char *str_of(const cJSON *o, const char *a, const char *b)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);
	if (b)
		v = cJSON_GetObjectItemCaseSensitive(v, b);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void expect(const char *fx, const char *src, const char *what, const char *got, const char *want)
{
	if ((want == NULL) != (got == NULL) || (want && strcmp(got, want) != 0))
		fail_msg("%s via source %s: %s: got %s, want %s", fx, src, what, got ? got : "(absent)",
		         want ? want : "(absent)");
}

/* What each stock mail becomes: status, priority (from the state: CRITICAL/DOWN P1, WARNING P3;
 * OK/UP none), key and labels. Problem, escalation, acknowledgement and recovery of one service
 * share its key, so the acknowledgement is a comment on the open case and the recovery closes it. */
static void test_map_stock_mails(void **state)
{
	const char *dir = *state;
	char *cfg = write_config(dir);
	static const struct {
		const char *fx, *src, *status, *priority, *key, *host, *service, *address;
	} cases[] = {
	    {"icinga213_service_problem_warning.eml", "icinga", "firing", "P3", "db-1.prod.example/disk-var",
	     "db-1.prod.example", "disk-var", "10.0.20.11"},
	    {"icinga213_service_problem_critical.eml", "icinga", "firing", "P1", "db-1.prod.example/disk-var",
	     "db-1.prod.example", "disk-var", "10.0.20.11"},
	    {"icinga213_service_ack.eml", "icinga", "comment", "P1", "db-1.prod.example/disk-var", "db-1.prod.example",
	     "disk-var", "10.0.20.11"},
	    {"icinga213_service_recovery.eml", "icinga", "resolved", "NOT_DEFINED", "db-1.prod.example/disk-var",
	     "db-1.prod.example", "disk-var", "10.0.20.11"},
	    {"icinga213_host_problem.eml", "icinga", "firing", "P1", "edge-3", "edge-3", NULL, "192.0.2.33"},
	    {"icinga213_host_recovery.eml", "icinga", "resolved", "NOT_DEFINED", "edge-3", "edge-3", NULL,
	     "192.0.2.33"},
	    /* Icinga 2.7 and earlier ("PROBLEM - web1.example.com - disk /var is WARNING") still work. */
	    {"icinga_problem.eml", "icinga", "firing", "P3", "web1.example.com/disk /var", "web1.example.com",
	     "disk /var", "10.0.0.5"},
	    {"icinga_recovery.eml", "icinga", "resolved", "NOT_DEFINED", "web1.example.com/disk /var",
	     "web1.example.com", "disk /var", NULL},
	    {"icinga_host.eml", "icinga", "firing", "P1", "db2.example.com", "db2.example.com", NULL, NULL},
	    /* Nagios' stock service mail names the host by its alias (see test_nagios_host_label). */
	    {"nagios4_service_problem_warning.eml", "nagios", "firing", "P3", "web1.example.com/HTTP",
	     "web1.example.com", "HTTP", "10.0.0.5"},
	    {"nagios4_service_problem_critical.eml", "nagios", "firing", "P1", "web1.example.com/HTTP",
	     "web1.example.com", "HTTP", "10.0.0.5"},
	    {"nagios4_service_ack.eml", "nagios", "comment", "P1", "web1.example.com/HTTP", "web1.example.com", "HTTP",
	     "10.0.0.5"},
	    {"nagios4_service_recovery.eml", "nagios", "resolved", "NOT_DEFINED", "web1.example.com/HTTP",
	     "web1.example.com", "HTTP", "10.0.0.5"},
	    {"nagios4_host_problem.eml", "nagios", "firing", "P1", "web1", "web1", NULL, "10.0.0.5"},
	    {"nagios4_host_recovery.eml", "nagios", "resolved", "NOT_DEFINED", "web1", "web1", NULL, "10.0.0.5"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* Icinga's set as the shipped file gives the same. */
		int icinga = strcmp(cases[i].src, "icinga") == 0;
		for (int file = 0; file <= icinga; file++) {
			const char *src = file ? "icingafile" : cases[i].src;
			cJSON *o = map_one(dir, cfg, src, cases[i].fx);
			char *key = cg_h_fmt("%s:%s", src, cases[i].key);
			expect(cases[i].fx, src, "status", str_of(o, "status", NULL), cases[i].status);
			expect(cases[i].fx, src, "priority", str_of(o, "priority", NULL), cases[i].priority);
			expect(cases[i].fx, src, "dedup_key", str_of(o, "dedup_key", NULL), key);
			expect(cases[i].fx, src, "labels.host", str_of(o, "labels", "host"), cases[i].host);
			expect(cases[i].fx, src, "labels.service", str_of(o, "labels", "service"), cases[i].service);
			expect(cases[i].fx, src, "labels.address", str_of(o, "labels", "address"), cases[i].address);
			/* A firing mail creates a case; the rest find none on empty state (a comment never
			 * opens one). */
			expect(cases[i].fx, src, "action", str_of(o, "action", NULL),
			       strcmp(cases[i].status, "firing") == 0 ? "create" : "ignore");
			free(key);
			cJSON_Delete(o);
		}
	}
	free(cfg);
}

/* The title has no state (it is written once, and the escalation and the recovery would make a
 * state in it wrong); the description shows the plain-text mail as written: in a fenced block,
 * the "***** Nagios *****" line verbatim, one line under the other. */
static void test_title_and_description(void **state)
{
	const char *dir = *state;
	char *cfg = write_config(dir);
	static const struct {
		const char *fx, *src, *title, *verbatim;
	} cases[] = {
	    {"nagios4_service_problem_warning.eml", "nagios", "Service Alert: web1.example.com/HTTP",
	     "\n```\n***** Nagios *****\n\nNotification Type: PROBLEM\n\nService: HTTP\nHost: web1.example.com\n"
	     "Address: 10.0.0.5\nState: WARNING\n"},
	    {"nagios4_host_problem.eml", "nagios", "Host Alert: web1", "\n```\n***** Nagios *****\n"},
	    {"icinga213_service_problem_warning.eml", "icinga", "Disk /var on db-1 on rack-4",
	     "\n```\n***** Service Monitoring on icinga-master *****\n\nDisk /var on db-1 on rack-4 is WARNING!\n\n"
	     "Info:    DISK WARNING - free space: /var 1843 MiB (9.02% inode=96%);\n\n"},
	    {"icinga213_host_problem.eml", "icinga", "Host edge-3", "Host:    edge-3\nIPv4:\t 192.0.2.33\n```\n"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cJSON *o = map_one(dir, cfg, cases[i].src, cases[i].fx);
		const cJSON *attr = cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(
		        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "request"), "body"),
		        "data"),
		    "attributes");
		expect(cases[i].fx, cases[i].src, "title", str_of(attr, "title", NULL), cases[i].title);
		const char *desc = str_of(attr, "description", NULL);
		if (!desc || !strstr(desc, cases[i].verbatim))
			fail_msg("%s: description: got \"%s\", want it to hold \"%s\"", cases[i].fx,
			         desc ? desc : "(absent)", cases[i].verbatim);
		cg_h_expect_not(desc, "\\*", cases[i].fx); /* no Markdown escape: nothing renders in a fence */
		cJSON_Delete(o);
	}
	free(cfg);
}

/* Nagios' stock notify-service-by-email names the host by $HOSTALIAS$, notify-host-by-email by
 * $HOSTNAME$: with an alias set, a host's service cases and its host case carry different host
 * labels. The README's one-word change ($HOSTALIAS$ to $HOSTNAME$ in the service command, which
 * gen_mail_fixtures.py makes in the stock command_line) makes them agree. */
static void test_nagios_host_label(void **state)
{
	const char *dir = *state;
	char *cfg = write_config(dir);
	cJSON *svc = map_one(dir, cfg, "nagios", "nagios4_service_problem_critical.eml");
	cJSON *host = map_one(dir, cfg, "nagios", "nagios4_host_problem.eml");
	cJSON *fixed = map_one(dir, cfg, "nagios", "nagios4_hostname_service_problem_critical.eml");
	expect("stock service mail", "nagios", "labels.host", str_of(svc, "labels", "host"), "web1.example.com");
	expect("stock host mail", "nagios", "labels.host", str_of(host, "labels", "host"), "web1");
	expect("service mail with $HOSTNAME$", "nagios", "labels.host", str_of(fixed, "labels", "host"),
	       str_of(host, "labels", "host"));
	expect("service mail with $HOSTNAME$", "nagios", "dedup_key", str_of(fixed, "dedup_key", NULL),
	       "nagios:web1/HTTP");
	expect("service mail with $HOSTNAME$", "nagios", "priority", str_of(fixed, "priority", NULL), "P1");
	cJSON_Delete(fixed);
	cJSON_Delete(host);
	cJSON_Delete(svc);
	free(cfg);
}

/* Alertmanager 0.25's own mail (email_configs, stock template; made by the real Alertmanager, see
 * tests/fixtures/e2e/alertmanager-email.yml): the group is the key and the label, the body's
 * severity the priority, and the label lines of its HTML stay one under the other (hard breaks). */
static void test_map_alertmanager_mails(void **state)
{
	const char *dir = *state;
	char *cfg = write_config(dir);
	cJSON *fire = map_one(dir, cfg, "am", "am_stock_firing.eml");
	cJSON *res = map_one(dir, cfg, "am", "am_stock_resolved.eml");
	expect("am_stock_firing.eml", "am", "status", str_of(fire, "status", NULL), "firing");
	expect("am_stock_firing.eml", "am", "priority", str_of(fire, "priority", NULL), "P1");
	expect("am_stock_firing.eml", "am", "dedup_key", str_of(fire, "dedup_key", NULL), "am:DiskFull");
	expect("am_stock_firing.eml", "am", "labels.group", str_of(fire, "labels", "group"), "DiskFull");
	expect("am_stock_firing.eml", "am", "action", str_of(fire, "action", NULL), "create");
	expect("am_stock_resolved.eml", "am", "status", str_of(res, "status", NULL), "resolved");
	expect("am_stock_resolved.eml", "am", "dedup_key", str_of(res, "dedup_key", NULL), "am:DiskFull");
	expect("am_stock_resolved.eml", "am", "labels.group", str_of(res, "labels", "group"), "DiskFull");
	const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(
	        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(fire, "request"), "body"), "data"),
	    "attributes");
	const char *desc = str_of(attrs, "description", NULL);
	if (!desc || !strstr(desc, "Labels  \nalertname = DiskFull  \n"))
		fail_msg("am_stock_firing.eml: description: got\n%s\nwant \"Labels\" and each label line ending in a "
		         "hard break (two spaces)",
		         desc ? desc : "(absent)");
	cJSON_Delete(res);
	cJSON_Delete(fire);
	free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_fixtures_are_the_real_senders_mail, cg_h_dir_setup, cg_h_dir_teardown),
	    cmocka_unit_test_setup_teardown(test_map_stock_mails, cg_h_dir_setup, cg_h_dir_teardown),
	    cmocka_unit_test_setup_teardown(test_title_and_description, cg_h_dir_setup, cg_h_dir_teardown),
	    cmocka_unit_test_setup_teardown(test_nagios_host_label, cg_h_dir_setup, cg_h_dir_teardown),
	    cmocka_unit_test_setup_teardown(test_map_alertmanager_mails, cg_h_dir_setup, cg_h_dir_teardown),
	};
	return cg_h_run_group(tests, NULL, NULL);
}
