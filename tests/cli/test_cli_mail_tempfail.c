/* test_cli_mail_tempfail.c: `casegate mail` (pipe mode) exits 75 (EX_TEMPFAIL: the MTA keeps the message and retries) when the store cannot take it: a state_dir it cannot use, a store locked by another writer; and 0 once it can. */
/* labels: integration */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

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

/* `casegate mail -c cfg --source src < eml`: exit code and stderr. */
static struct result mail(const char *dir, const char *cfg, const char *src, const char *eml)
{
	static int n;
	char bin[600], out[600], err[600];
	snprintf(bin, sizeof(bin), "%s/casegate", cg_h_binary_dir());
	snprintf(out, sizeof(out), "%s/out.%d", dir, n);
	snprintf(err, sizeof(err), "%s/err.%d", dir, n++);
	char *argv[] = {bin, "mail", "-c", (char *)cfg, "--source", (char *)src, NULL};
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, eml, O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	struct child c = {0};
	assert_int_equal(posix_spawn(&c.pid, bin, &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	if (!cg_h_poll(exited, &c, 30000)) {
		kill(c.pid, SIGKILL);
		waitpid(c.pid, &c.status, 0);
		fail_msg("casegate mail did not exit");
	}
	struct result r = {WIFEXITED(c.status) ? WEXITSTATUS(c.status) : -1, cg_h_read_file(err, NULL)};
	assert_non_null(r.err);
	return r;
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

	/* state_dir names a file: the store cannot be opened. Root can write anywhere, so a
	 * permission bit would not do. */
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

	/* The other codes stay apart from 75: no such source is 67 (EX_NOUSER), permanent. */
	r = mail(dir, cfg, "nope", eml);
	expect(&r, 67, "no `type: email` source named 'nope'", "an unknown source");
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_store_unavailable_is_75),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
