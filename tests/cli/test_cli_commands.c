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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"


/* Every command `casegate help` lists, in its order. */
static const char *const listed[] = {"run",       "check-config", "map",    "mail",   "dlq",     "migrate",
                                     "provision", "maintenance",  "reload", "status", "mappers", "version"};
#define NLISTED (sizeof(listed) / sizeof(listed[0]))

struct cli_test {
	char *dir;
};

/* Runs the real casegate (cg_h_cli_run) with stdin from in_path (NULL: /dev/null). */
static struct cg_h_cli run_in(struct cli_test *t, const char *in_path, const char *const args[])
{
	return cg_h_cli_run(t->dir, in_path, args);
}

static struct cg_h_cli run(struct cli_test *t, const char *const args[])
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

/* `casegate help` is "usage:" and, command after command, what `casegate NAME --help` shows, then
 * once the --env-file note that each command taking -c FILE repeats after its own lines. */
static void test_help_is_every_commands_usage(void **state)
{
	struct cli_test *t = *state;
	struct cg_h_cli help = run(t, (const char *const[]){"help", NULL});
	assert_int_equal(help.code, 0);
	assert_string_equal(help.err, "");
	char *joined = strdup("usage:\n"), *env_note = NULL;
	for (size_t i = 0; i < NLISTED; i++) {
		struct cg_h_cli one = run(t, (const char *const[]){listed[i], "--help", NULL});
		if (one.code != 0)
			fail_msg("casegate %s --help: exit %d, stderr:\n%s", listed[i], one.code, one.err);
		assert_string_equal(one.err, "");
		char *want = cg_h_fmt("usage:\n  casegate %s", listed[i]);
		expect_prefix(one.out, want);
		free(want);
		/* The note follows exactly the commands that take -c FILE. */
		char *note = strstr(one.out, "every command with -c FILE also takes --env-file FILE");
		int takes_config = strstr(one.out, " -c FILE") != NULL;
		if (takes_config != (note != NULL))
			fail_msg("casegate %s --help: %s the --env-file note:\n%s", listed[i],
				 takes_config ? "takes -c FILE but lacks" : "takes no -c FILE but has", one.out);
		if (note) {
			if (!env_note)
				env_note = strdup(note);
			else
				assert_string_equal(note, env_note);
			*note = '\0';
		}
		char *next = cg_h_fmt("%s%s", joined, one.out + strlen("usage:\n"));
		free(joined);
		joined = next;
		cg_h_cli_free(&one);
	}
	assert_non_null(env_note);
	char *whole = cg_h_fmt("%s%s", joined, env_note);
	assert_string_equal(help.out, whole);
	free(whole);
	free(env_note);
	free(joined);
	/* The other names of help and version. */
	const char *const names[] = {"--help", "-h"};
	for (size_t i = 0; i < 2; i++) {
		struct cg_h_cli r = run(t, (const char *const[]){names[i], NULL});
		assert_int_equal(r.code, 0);
		assert_string_equal(r.out, help.out);
		cg_h_cli_free(&r);
	}
	struct cg_h_cli v1 = run(t, (const char *const[]){"version", NULL});
	struct cg_h_cli v2 = run(t, (const char *const[]){"--version", NULL});
	assert_int_equal(v1.code, 0);
	expect_prefix(v1.out, "casegate ");
	assert_string_equal(v1.out, v2.out);
	cg_h_cli_free(&v1);
	cg_h_cli_free(&v2);
	cg_h_cli_free(&help);
}

/* --help (or -h) anywhere after the command wins over its other arguments: nothing runs. */
static void test_help_anywhere(void **state)
{
	struct cli_test *t = *state;
	struct cg_h_cli a = run(t, (const char *const[]){"status", "--help", NULL});
	struct cg_h_cli b = run(t, (const char *const[]){"status", "-c", "/nonexistent.yaml", "--json", "-h", NULL});
	struct cg_h_cli c = run(t, (const char *const[]){"provision", "-c", "/nonexistent.yaml", "--help", NULL});
	assert_int_equal(b.code, 0);
	assert_string_equal(b.out, a.out);
	assert_string_equal(b.err, "");
	assert_int_equal(c.code, 0);
	expect_prefix(c.out, "usage:\n  casegate provision -c FILE --plan|--apply");
	cg_h_cli_free(&a);
	cg_h_cli_free(&b);
	cg_h_cli_free(&c);
}

static void test_no_or_unknown_command(void **state)
{
	struct cli_test *t = *state;
	struct cg_h_cli help = run(t, (const char *const[]){"help", NULL});
	struct cg_h_cli none = run(t, (const char *const[]){NULL});
	assert_int_equal(none.code, 2);
	assert_string_equal(none.out, "");
	assert_string_equal(none.err, help.out);
	struct cg_h_cli bad = run(t, (const char *const[]){"frobnicate", "--help", NULL});
	assert_int_equal(bad.code, 2);
	assert_string_equal(bad.out, "");
	expect_prefix(bad.err, "casegate: unknown command 'frobnicate'\nusage:\n");
	/* The common options: an unknown one names itself, then the whole usage. */
	struct cg_h_cli opt = run(t, (const char *const[]){"status", "-c", "x.yaml", "--frob", NULL});
	assert_int_equal(opt.code, 2);
	char *want = cg_h_fmt("casegate: unknown option --frob\n%s", help.out);
	assert_string_equal(opt.err, want);
	free(want);
	cg_h_cli_free(&help);
	cg_h_cli_free(&none);
	cg_h_cli_free(&bad);
	cg_h_cli_free(&opt);
}

/* Every command that reads the config reports a bad one the same way: the loader's file:line:col
 * lines on stderr, nothing on stdout, then its exit code (mail: EX_TEMPFAIL, the MTA keeps the message). */
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
	    {{"mail", "-c", bad, "--source", "demo", NULL}, 75, "casegate mail: cannot use "},
	    {{"dlq", "list", "-c", bad, NULL}, 1, NULL},
	    {{"migrate", "-c", bad, NULL}, 1, NULL},
	    {{"reload", "-c", bad, NULL}, 1, "casegate reload: "},
	    {{"status", "-c", bad, NULL}, 1, NULL},
	    {{"provision", "-c", bad, "--plan", NULL}, 1, NULL},
	    {{"maintenance", "start", "-c", bad, "--project", "SEC", NULL}, 1, NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cg_h_cli r = run_in(t, mail_in, cases[i].args);
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
		cg_h_cli_free(&r);
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
	struct cg_h_cli mig = run(t, (const char *const[]){"migrate", "-c", warn, NULL});
	assert_int_equal(mig.code, 0);
	expect_has(mig.err, needle, 1);
	struct cg_h_cli dlq = run(t, (const char *const[]){"dlq", "list", "-c", warn, NULL});
	assert_int_equal(dlq.code, 0);
	expect_has(dlq.err, needle, 1);
	if (strcmp(dlq.out, "no dead letters\n") != 0) /* an empty list says so */
		fail_msg("dlq list on an empty store: got stdout \"%s\", want \"no dead letters\"", dlq.out);
	/* check-config says each warning once. */
	struct cg_h_cli cc = run(t, (const char *const[]){"check-config", "-c", warn, NULL});
	assert_int_equal(cc.code, 0);
	const char *first = strstr(cc.err, needle);
	if (!first || strstr(first + 1, needle))
		fail_msg("check-config: got stderr:\n%s\nwant \"%s\" exactly once", cc.err, needle);
	cg_h_cli_free(&cc);
	struct cg_h_cli st = run(t, (const char *const[]){"status", "-c", warn, NULL});
	assert_int_equal(st.code, 0);
	expect_has(st.err, needle, 0);
	expect_prefix(st.out, "state_dir:");
	struct cg_h_cli rl = run(t, (const char *const[]){"reload", "-c", warn, NULL});
	assert_int_equal(rl.code, 1); /* no daemon runs */
	expect_has(rl.err, needle, 0);
	expect_prefix(rl.err, "casegate reload: no casegate is running");
	cg_h_cli_free(&mig);
	cg_h_cli_free(&dlq);
	cg_h_cli_free(&st);
	cg_h_cli_free(&rl);
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
