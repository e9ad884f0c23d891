/* test_cli_commands.c: the command table: `casegate help`, every command's --help, unknown commands, and the one
 * way every command loads its config (the same error text, warnings where the table says so). */
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

#include "harness.h"

extern char **environ;

/* Every command `casegate help` lists, in its order. */
static const char *const listed[] = {"run",       "check-config", "map",    "mail",   "dlq",     "migrate",
                                     "provision", "maintenance",  "reload", "status", "mappers", "version"};
#define NLISTED (sizeof(listed) / sizeof(listed[0]))

struct cli_test {
	char *dir;
};

struct result {
	int code;
	char *out, *err;
};

static void result_free(struct result *r)
{
	free(r->out);
	free(r->err);
}

struct child {
	pid_t pid;
	int status;
};

static int exited(void *ud)
{
	struct child *c = ud;
	return waitpid(c->pid, &c->status, WNOHANG) == c->pid;
}

/* Runs casegate with args (NULL-terminated, after the program name), stdin from /dev/null (or
 * the file in_path); stdout and stderr apart. */
static struct result run_in(struct cli_test *t, const char *in_path, const char *const args[])
{
	static int n;
	struct result r = {-1, NULL, NULL};
	char bin[600], out[600], err[600];
	snprintf(bin, sizeof(bin), "%s/casegate", cg_h_binary_dir());
	snprintf(out, sizeof(out), "%s/out.%d", t->dir, n);
	snprintf(err, sizeof(err), "%s/err.%d", t->dir, n++);
	char *argv[16];
	size_t k = 0;
	argv[k++] = bin;
	for (size_t i = 0; args[i] && k < 15; i++)
		argv[k++] = (char *)args[i];
	argv[k] = NULL;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, in_path ? in_path : "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	struct child c = {0};
	int rc = posix_spawn(&c.pid, bin, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	assert_int_equal(rc, 0);
	if (!cg_h_poll(exited, &c, 20000)) {
		kill(c.pid, SIGKILL);
		waitpid(c.pid, &c.status, 0);
		fail_msg("casegate %s did not exit", args[0] ? args[0] : "");
	}
	r.code = WIFEXITED(c.status) ? WEXITSTATUS(c.status) : -1;
	r.out = cg_h_read_file(out, NULL);
	r.err = cg_h_read_file(err, NULL);
	assert_non_null(r.out);
	assert_non_null(r.err);
	return r;
}

static struct result run(struct cli_test *t, const char *const args[])
{
	return run_in(t, NULL, args);
}

static void expect_prefix(const char *got, const char *want)
{
	if (strncmp(got, want, strlen(want)) != 0)
		fail_msg("got:\n%s\nwant it to start with:\n%s", got, want);
}

static void expect_has(const char *got, const char *want, int present)
{
	if ((strstr(got, want) != NULL) != present)
		fail_msg("got:\n%s\nwant it %s:\n%s", got, present ? "to hold" : "not to hold", want);
}

static const char *const sources = "sources:\n"
                                   "  - name: demo\n"
                                   "    type: generic\n"
                                   "    auth: none\n"
                                   "    project: SEC\n"
                                   "    case_type: 00000000-0000-0000-0000-000000000001\n";

static char *write_config(struct cli_test *t, const char *name, const char *listen, const char *extra)
{
	char *path = cg_h_fmt("%s/%s", t->dir, name);
	char *text = cg_h_fmt("listen: %s\nstate_dir: %s/state\n%s%s", listen, t->dir, extra, sources);
	assert_int_equal(cg_h_write_file(path, text, strlen(text)), 0);
	free(text);
	return path;
}

static int setup(void **state)
{
	struct cli_test *t = calloc(1, sizeof(*t));
	if (!t || !(t->dir = cg_h_tmpdir("cg-cli")))
		return -1;
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct cli_test *t = *state;
	cg_h_rmrf(t->dir);
	free(t->dir);
	free(t);
	return 0;
}

/* `casegate help` is "usage:" and, command after command, what `casegate NAME --help` shows. */
static void test_help_is_every_commands_usage(void **state)
{
	struct cli_test *t = *state;
	struct result help = run(t, (const char *const[]){"help", NULL});
	assert_int_equal(help.code, 0);
	assert_string_equal(help.err, "");
	char *joined = strdup("usage:\n");
	for (size_t i = 0; i < NLISTED; i++) {
		struct result one = run(t, (const char *const[]){listed[i], "--help", NULL});
		if (one.code != 0)
			fail_msg("casegate %s --help: exit %d, stderr:\n%s", listed[i], one.code, one.err);
		assert_string_equal(one.err, "");
		char *want = cg_h_fmt("usage:\n  casegate %s", listed[i]);
		expect_prefix(one.out, want);
		free(want);
		char *next = cg_h_fmt("%s%s", joined, one.out + strlen("usage:\n"));
		free(joined);
		joined = next;
		result_free(&one);
	}
	assert_string_equal(help.out, joined);
	free(joined);
	/* The other names of help and version. */
	const char *const names[] = {"--help", "-h"};
	for (size_t i = 0; i < 2; i++) {
		struct result r = run(t, (const char *const[]){names[i], NULL});
		assert_int_equal(r.code, 0);
		assert_string_equal(r.out, help.out);
		result_free(&r);
	}
	struct result v1 = run(t, (const char *const[]){"version", NULL});
	struct result v2 = run(t, (const char *const[]){"--version", NULL});
	assert_int_equal(v1.code, 0);
	expect_prefix(v1.out, "casegate ");
	assert_string_equal(v1.out, v2.out);
	result_free(&v1);
	result_free(&v2);
	result_free(&help);
}

/* --help (or -h) anywhere after the command wins over its other arguments: nothing runs. */
static void test_help_anywhere(void **state)
{
	struct cli_test *t = *state;
	struct result a = run(t, (const char *const[]){"status", "--help", NULL});
	struct result b = run(t, (const char *const[]){"status", "-c", "/nonexistent.yaml", "--json", "-h", NULL});
	struct result c = run(t, (const char *const[]){"provision", "-c", "/nonexistent.yaml", "--help", NULL});
	assert_int_equal(b.code, 0);
	assert_string_equal(b.out, a.out);
	assert_string_equal(b.err, "");
	assert_int_equal(c.code, 0);
	expect_prefix(c.out, "usage:\n  casegate provision -c FILE --plan|--apply");
	result_free(&a);
	result_free(&b);
	result_free(&c);
}

static void test_no_or_unknown_command(void **state)
{
	struct cli_test *t = *state;
	struct result help = run(t, (const char *const[]){"help", NULL});
	struct result none = run(t, (const char *const[]){NULL});
	assert_int_equal(none.code, 2);
	assert_string_equal(none.out, "");
	assert_string_equal(none.err, help.out);
	struct result bad = run(t, (const char *const[]){"frobnicate", "--help", NULL});
	assert_int_equal(bad.code, 2);
	assert_string_equal(bad.out, "");
	expect_prefix(bad.err, "casegate: unknown command 'frobnicate'\nusage:\n");
	/* The common options: an unknown one names itself, then the whole usage. */
	struct result opt = run(t, (const char *const[]){"status", "-c", "x.yaml", "--frob", NULL});
	assert_int_equal(opt.code, 2);
	char *want = cg_h_fmt("casegate: unknown option --frob\n%s", help.out);
	assert_string_equal(opt.err, want);
	free(want);
	result_free(&help);
	result_free(&none);
	result_free(&bad);
	result_free(&opt);
}

/* Every command that reads the config reports a bad one the same way: the loader's file:line:col
 * lines on stderr, nothing on stdout, then its exit code (mail: EX_CONFIG). */
static void test_config_errors_reported_one_way(void **state)
{
	struct cli_test *t = *state;
	char *bad = write_config(t, "bad.yaml", "127.0.0.1:0", "bogus_key: 1\n");
	char *mail_in = cg_h_fmt("%s/message.eml", t->dir);
	assert_int_equal(cg_h_write_file(mail_in, "Subject: x\r\n\r\nbody\r\n", 20), 0);
	char *want = cg_h_fmt("%s:3:1: unknown key 'bogus_key'\n", bad);
	struct {
		const char *args[10];
		int code;
		const char *then; /* what the command adds after the loader's report, or NULL */
	} cases[] = {
	    {{"run", "-c", bad, NULL}, 1, NULL},
	    {{"check-config", "-c", bad, NULL}, 1, NULL},
	    {{"map", "-c", bad, "--source", "demo", NULL}, 1, NULL},
	    {{"mail", "-c", bad, "--source", "demo", NULL}, 78, NULL},
	    {{"dlq", "list", "-c", bad, NULL}, 1, NULL},
	    {{"migrate", "-c", bad, NULL}, 1, NULL},
	    {{"reload", "-c", bad, NULL}, 1, "casegate reload: "},
	    {{"status", "-c", bad, NULL}, 1, NULL},
	    {{"provision", "-c", bad, "--plan", NULL}, 1, NULL},
	    {{"maintenance", "start", "-c", bad, "--project", "SEC", NULL}, 1, NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct result r = run_in(t, mail_in, cases[i].args);
		if (r.code != cases[i].code)
			fail_msg("casegate %s: exit %d, want %d; stderr:\n%s", cases[i].args[0], r.code, cases[i].code,
			         r.err);
		assert_string_equal(r.out, "");
		if (cases[i].then) {
			expect_prefix(r.err, want);
			expect_prefix(r.err + strlen(want), cases[i].then);
		} else {
			assert_string_equal(r.err, want);
		}
		result_free(&r);
	}
	free(want);
	free(mail_in);
	free(bad);
}

/* The table says which commands print the config's warnings: check-config and the commands that
 * act on the store print them; status and reload do not. */
static void test_config_warnings_where_the_table_says(void **state)
{
	struct cli_test *t = *state;
	char *warn = write_config(t, "warn.yaml", "0.0.0.0:0", "");
	const char *needle = "accepts unauthenticated requests on 0.0.0.0";
	struct result mig = run(t, (const char *const[]){"migrate", "-c", warn, NULL});
	assert_int_equal(mig.code, 0);
	expect_has(mig.err, needle, 1);
	struct result dlq = run(t, (const char *const[]){"dlq", "list", "-c", warn, NULL});
	assert_int_equal(dlq.code, 0);
	expect_has(dlq.err, needle, 1);
	struct result st = run(t, (const char *const[]){"status", "-c", warn, NULL});
	assert_int_equal(st.code, 0);
	expect_has(st.err, needle, 0);
	expect_prefix(st.out, "state_dir:");
	struct result rl = run(t, (const char *const[]){"reload", "-c", warn, NULL});
	assert_int_equal(rl.code, 1); /* no daemon runs */
	expect_has(rl.err, needle, 0);
	expect_prefix(rl.err, "casegate reload: no casegate is running");
	result_free(&mig);
	result_free(&dlq);
	result_free(&st);
	result_free(&rl);
	free(warn);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_help_is_every_commands_usage, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_help_anywhere, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_or_unknown_command, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_config_errors_reported_one_way, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_config_warnings_where_the_table_says, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
