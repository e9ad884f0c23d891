/* test_cli_mail_tempfail.c: `casegate mail` (pipe mode) exits 75 (EX_TEMPFAIL: the MTA keeps the message and retries) for whatever the operator can fix: a store it cannot use or locked by another writer, a config it cannot read (as the unprivileged user an MTA runs the pipe as) or that is invalid, an unusable --env-file, an unknown source, a bad command line; and 0 once it can. */
/* labels: integration */
#define _GNU_SOURCE /* setresuid, setresgid */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "harness.h"

extern char **environ;

struct result {
	int code;
	char *err;
};

struct child {
	pid_t pid;
	int status;
};

static int exited(void *ud)
{
	struct child *c = ud;
	return waitpid(c->pid, &c->status, WNOHANG) == c->pid;
}

/* The user Postfix runs a pipe as when root's aliases file names it (default_privs: nobody). Root
 * bypasses permission bits, so the test drops to it to see what the MTA's pipe sees. */
#define PIPE_UID 65534
#define PIPE_GID 65534

/* `casegate ARGS... < eml`: exit code and stderr. as_mta: run as the MTA's pipe user (PIPE_UID,
 * when the test runs as root; otherwise as the test's own user). args ends with NULL. */
static struct result mail_argv(const char *dir, const char *eml, int as_mta, const char *const *args)
{
	static int n;
	char bin[600], out[600], err[600];
	snprintf(bin, sizeof(bin), "%s/casegate", cg_h_binary_dir());
	snprintf(out, sizeof(out), "%s/out.%d", dir, n);
	snprintf(err, sizeof(err), "%s/err.%d", dir, n++);
	char *argv[16] = {bin};
	size_t na = 1;
	for (; args[na - 1] && na < 15; na++)
		argv[na] = (char *)args[na - 1];
	argv[na] = NULL;
	int in = open(eml, O_RDONLY | O_CLOEXEC);
	int o = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int e = open(err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(in >= 0 && o >= 0 && e >= 0);
	struct child c = {0};
	c.pid = fork();
	assert_true(c.pid >= 0);
	if (c.pid == 0) {
		/* Only async-signal-safe calls until execve. */
		if (dup2(in, 0) < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
			_exit(126);
		if (as_mta && geteuid() == 0 &&
		    (setgroups(0, NULL) != 0 || setresgid(PIPE_GID, PIPE_GID, PIPE_GID) != 0 ||
		     setresuid(PIPE_UID, PIPE_UID, PIPE_UID) != 0))
			_exit(126);
		execve(bin, argv, environ);
		_exit(127);
	}
	close(in);
	close(o);
	close(e);
	if (!cg_h_poll(exited, &c, 30000)) {
		kill(c.pid, SIGKILL);
		waitpid(c.pid, &c.status, 0);
		fail_msg("casegate mail did not exit");
	}
	struct result r = {WIFEXITED(c.status) ? WEXITSTATUS(c.status) : -1, cg_h_read_file(err, NULL)};
	assert_non_null(r.err);
	return r;
}

/* `casegate mail -c cfg --source src < eml`. */
static struct result mail(const char *dir, const char *cfg, const char *src, const char *eml)
{
	const char *args[] = {"mail", "-c", cfg, "--source", src, NULL};
	return mail_argv(dir, eml, 0, args);
}

static char *write_config(const char *dir, const char *name, const char *state_dir)
{
	char *path = cg_h_fmt("%s/%s", dir, name);
	char *text = cg_h_fmt("listen: 127.0.0.1:0\n"
			      "state_dir: %s\n"
			      "sources:\n"
			      "  - name: nagios\n"
			      "    type: email\n"
			      "    rules: {base: nagios, alert_senders: ['nagios@mon.example.com']}\n"
			      "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
			      "    case_type: 00000000-0000-0000-0000-000000000001\n",
			      state_dir);
	assert_int_equal(cg_h_write_file(path, text, strlen(text)), 0);
	free(text);
	return path;
}

static void expect(const struct result *r, int code, const char *err, const char *what)
{
	if (r->code != code || !strstr(r->err, err))
		fail_msg("%s: got exit %d, stderr:\n%s\nwant exit %d and stderr holding \"%s\"", what, r->code, r->err, code,
			 err);
}

/* Events queued in the store (the rows the daemon would deliver). */
static int queued(const char *db_path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int n = -1;
	if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "SELECT count(*) FROM events", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

static void test_store_unavailable_is_75(void **state)
{
	(void)state;
	char *dir = cg_h_tmpdir("cg-mail75");
	assert_non_null(dir);
	char *eml = cg_h_fmt("%s/tests/fixtures/email/nagios_problem.eml", cg_h_source_dir());
	char *eml2 = cg_h_fmt("%s/tests/fixtures/email/nagios_recovery.eml", cg_h_source_dir());

	/* state_dir names a file: the store cannot be opened. */
	char *file = cg_h_fmt("%s/not-a-dir", dir);
	assert_int_equal(cg_h_write_file(file, "x", 1), 0);
	char *bad_cfg = write_config(dir, "bad.yaml", file);
	struct result r = mail(dir, bad_cfg, "nagios", eml);
	expect(&r, 75, "casegate mail: store: ", "a state_dir that is a file");
	free(r.err);

	/* The same message with a usable store: 0, queued. */
	char *state_dir = cg_h_fmt("%s/state", dir);
	char *cfg = write_config(dir, "good.yaml", state_dir);
	r = mail(dir, cfg, "nagios", eml);
	expect(&r, 0, "1 event(s) queued", "a usable store");
	free(r.err);
	char *db_path = cg_h_fmt("%s/casegate.db", state_dir);
	int before = queued(db_path);
	assert_true(before >= 1);

	/* Another writer holds the store (a daemon's long transaction, a migration): after its
	 * busy wait, casegate mail says "later", and nothing is half-written. */
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
	r = mail(dir, cfg, "nagios", eml2);
	expect(&r, 75, "casegate mail: store: ", "a store locked by another writer");
	free(r.err);
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(queued(db_path), before);

	/* The MTA's retry once the lock is gone: taken. */
	r = mail(dir, cfg, "nagios", eml2);
	expect(&r, 0, "event(s) queued", "the retry after the lock");
	free(r.err);
	assert_true(queued(db_path) > before);

	/* No such source: the alias or the config is wrong, not the mail. The message stays with
	 * the MTA until the operator adds the source or fixes the command line. */
	r = mail(dir, cfg, "nope", eml);
	expect(&r, 75, "no `type: email` source named 'nope' in the config: exit 75", "an unknown source");
	free(r.err);

	/* The message itself at fault stays permanent: 65, the MTA bounces it. */
	r = mail(dir, cfg, "nagios", "/dev/null");
	expect(&r, 65, "casegate mail: ", "an empty message");
	free(r.err);

	free(db_path);
	free(cfg);
	free(state_dir);
	free(bad_cfg);
	free(file);
	free(eml2);
	free(eml);
	cg_h_rmrf(dir);
	free(dir);
}

/* Pipe mode as an MTA runs it, unprivileged: the setup the README shows works (config root:GROUP
 * 0640 with the pipe user in GROUP, state_dir owned by it), and each thing an operator can get
 * wrong exits 75 with a line saying what. */
static void test_config_problems_are_75(void **state)
{
	(void)state;
	char *dir = cg_h_tmpdir("cg-mail75c");
	assert_non_null(dir);
	assert_int_equal(chmod(dir, 0755), 0); /* the pipe user must reach the files inside */
	int root = geteuid() == 0;
	char *eml = cg_h_fmt("%s/tests/fixtures/email/nagios_problem.eml", cg_h_source_dir());
	char *state_dir = cg_h_fmt("%s/state", dir);
	assert_int_equal(mkdir(state_dir, 0750), 0);
	if (root)
		assert_int_equal(chown(state_dir, PIPE_UID, PIPE_GID), 0);
	char *cfg = write_config(dir, "casegate.yaml", state_dir);
	if (root)
		assert_int_equal(chown(cfg, 0, PIPE_GID), 0);
	assert_int_equal(chmod(cfg, root ? 0640 : 0600), 0);

	/* The working setup first: if this failed, the 75s below would prove nothing. */
	const char *ok[] = {"mail", "-c", cfg, "--source", "nagios", NULL};
	struct result r = mail_argv(dir, eml, 1, ok);
	expect(&r, 0, "1 event(s) queued", "the README's setup");
	free(r.err);

	/* The config unreadable for the pipe's user (the Postfix bounce: mode 600). */
	assert_int_equal(chmod(cfg, 0), 0);
	r = mail_argv(dir, eml, 1, ok);
	expect(&r, 75, "Permission denied", "a config the pipe user cannot read");
	expect(&r, 75, "casegate mail: cannot use ", "a config the pipe user cannot read");
	free(r.err);
	assert_int_equal(chmod(cfg, root ? 0640 : 0600), 0);

	/* An invalid config. */
	char *bad = cg_h_fmt("%s/bad.yaml", dir);
	assert_int_equal(cg_h_write_file(bad, "bogus_key: 1\n", 13), 0);
	assert_int_equal(chmod(bad, 0644), 0);
	const char *inval[] = {"mail", "-c", bad, "--source", "nagios", NULL};
	r = mail_argv(dir, eml, 1, inval);
	expect(&r, 75, "unknown key 'bogus_key'", "an invalid config");
	expect(&r, 75, "casegate mail: cannot use ", "an invalid config");
	free(r.err);

	/* An --env-file that is not there (or root's 0600 casegate.env). */
	char *env = cg_h_fmt("%s/missing.env", dir);
	const char *envf[] = {"mail", "-c", cfg, "--env-file", env, "--source", "nagios", NULL};
	r = mail_argv(dir, eml, 1, envf);
	expect(&r, 75, "--env-file", "a missing --env-file");
	expect(&r, 75, "casegate mail: cannot use ", "a missing --env-file");
	free(r.err);

	/* A state_dir the pipe user cannot write (root's, or read-only). */
	char *ro_dir = cg_h_fmt("%s/ro-state", dir);
	assert_int_equal(mkdir(ro_dir, 0555), 0);
	char *ro_cfg = write_config(dir, "ro.yaml", ro_dir);
	assert_int_equal(chmod(ro_cfg, 0644), 0);
	const char *ro[] = {"mail", "-c", ro_cfg, "--source", "nagios", NULL};
	r = mail_argv(dir, eml, 1, ro);
	expect(&r, 75, "casegate mail: store: ", "an unwritable state_dir");
	expect(&r, 75, "exit 75, the MTA keeps the message", "an unwritable state_dir");
	free(r.err);

	/* The command line itself: no --source, an unknown option. */
	const char *nosrc[] = {"mail", "-c", cfg, NULL};
	r = mail_argv(dir, eml, 1, nosrc);
	expect(&r, 75, "--source NAME is required", "no --source");
	free(r.err);
	const char *opt[] = {"mail", "-c", cfg, "--source", "nagios", "--bogus", NULL};
	r = mail_argv(dir, eml, 1, opt);
	expect(&r, 75, "unknown option --bogus", "an unknown option");
	free(r.err);

	free(ro_cfg);
	free(ro_dir);
	free(env);
	free(bad);
	free(cfg);
	free(state_dir);
	free(eml);
	cg_h_rmrf(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_store_unavailable_is_75),
	    cmocka_unit_test(test_config_problems_are_75),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
