/* test_envfile.c: --env-file reads a systemd EnvironmentFile as systemd does (comments, quotes, escapes, continuations) and refuses a bad one whole. */
/* labels: unit */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envfile.h"
#include "err.h"
#include "harness.h"

/* The assignments a parse made, as "KEY=VALUE\n" lines. */
struct got {
	char buf[4096];
	size_t len;
};

static int record(void *arg, const char *key, const char *value)
{
	struct got *g = arg;
	int n = snprintf(g->buf + g->len, sizeof(g->buf) - g->len, "%s=%s\n", key, value);
	if (n < 0 || (size_t)n >= sizeof(g->buf) - g->len)
		return 1;
	g->len += (size_t)n;
	return 0;
}

static void expect_parse(const char *text, const char *want)
{
	struct got g = {{0}, 0};
	char *errs = NULL;
	int rc = cg_envfile_parse("f.env", text, strlen(text), record, &g, &errs);
	if (rc != 0)
		fail_msg("parse of <<%s>>: got rc %d (%s), want 0", text, rc, errs ? errs : "");
	if (strcmp(g.buf, want) != 0)
		fail_msg("parse of <<%s>>:\ngot:\n%s\nwant:\n%s", text, g.buf, want);
	free(errs);
}

static void expect_error(const char *text, const char *want)
{
	struct got g = {{0}, 0};
	char *errs = NULL;
	int rc = cg_envfile_parse("f.env", text, strlen(text), record, &g, &errs);
	if (rc != CG_EINVAL)
		fail_msg("parse of <<%s>>: got rc %d, want CG_EINVAL", text, rc);
	if (!errs || !strstr(errs, want))
		fail_msg("parse of <<%s>>: got errors \"%s\", want them to hold \"%s\"", text, errs ? errs : "", want);
	free(errs);
}

/* What systemd.exec(5) says about EnvironmentFile=, line by line. */
static void test_systemd_syntax(void **state)
{
	(void)state;
	expect_parse("", "");
	expect_parse("# comment\n; also a comment\n\n   \nA=1\n", "A=1\n");
	/* Whitespace around = and at both ends of an unquoted value goes; interior stays. */
	expect_parse("  KEY =   two  words  \r\n", "KEY=two  words\n");
	expect_parse("EMPTY=\nB=x", "EMPTY=\nB=x\n");
	/* Unquoted: a backslash keeps the next character; at the end of a line it continues. */
	expect_parse("P=a\\ b\\\\c\\#d\n", "P=a b\\c#d\n");
	expect_parse("C=first \\\nsecond\nD=3\n", "C=first second\nD=3\n");
	/* Quotes after the first character are kept as they are. */
	expect_parse("Q=it's \"here\"\n", "Q=it's \"here\"\n");
	/* Single quotes: verbatim, across lines, no escapes. */
	expect_parse("S='a \\n $x\nb'\n", "S=a \\n $x\nb\n");
	/* Double quotes: \" \\ \` \$ and backslash-newline are escapes; other backslashes stay. */
	expect_parse("T=\"x \\\"y\\\" \\\\ \\$HOME \\n\"\n", "T=x \"y\" \\ $HOME \\n\n");
	expect_parse("U=\"  padded  \"   \n", "U=  padded  \n");
	expect_parse("M=\"line1\nline2\"\nN=after\n", "M=line1\nline2\nN=after\n");
	/* A # inside a value is the value's. */
	expect_parse("H=abc#def\n", "H=abc#def\n");
	/* Shell files say export KEY=...: the name is what follows. */
	expect_parse("export DD_API_KEY=k1\nexport\tX = y\n", "DD_API_KEY=k1\nX=y\n");
	/* = inside the value is the value's. */
	expect_parse("DSN=host=db password=a=b\n", "DSN=host=db password=a=b\n");
}

/* A bad line is named by its line (the first line of a multi-line value). */
static void test_errors(void **state)
{
	(void)state;
	expect_error("A=1\njust words\n", "f.env:2: no '='");
	expect_error("A=1\n\n1BAD=x\n", "f.env:3: '1BAD' is not a variable name");
	expect_error("A=1\nMY-KEY=x\n", "f.env:2: 'MY-KEY' is not a variable name");
	expect_error("=x\n", "f.env:1: '' is not a variable name");
	expect_error("A=1\nB=\"open\nstill\n", "f.env:2: the double quote opened here is never closed");
	expect_error("B='open\n", "f.env:1: the single quote opened here is never closed");
	expect_error("A=\"x\" y\n", "f.env:1: text after the closing quote");
	static const char nul[] = "A=1\0B=2\n";
	struct got g = {{0}, 0};
	char *errs = NULL;
	assert_int_equal(cg_envfile_parse("f.env", nul, sizeof(nul) - 1, record, &g, &errs), CG_EINVAL);
	assert_non_null(strstr(errs, "NUL byte"));
	free(errs);
}

/* cg_envfile_apply: a good file sets (and replaces) variables; a bad or missing one sets none. */
static void test_apply(void **state)
{
	(void)state;
	char *dir = cg_h_tmpdir("cg-envfile");
	assert_non_null(dir);
	char *good = cg_h_fmt("%s/good.env", dir), *bad = cg_h_fmt("%s/bad.env", dir), *none = cg_h_fmt("%s/none.env", dir);
	const char gtext[] = "CG_T_ENV_A=from file\nCG_T_ENV_B='b'\n";
	const char btext[] = "CG_T_ENV_C=set?\nno equals here\n";
	assert_int_equal(cg_h_write_file(good, gtext, sizeof(gtext) - 1), 0);
	assert_int_equal(cg_h_write_file(bad, btext, sizeof(btext) - 1), 0);
	setenv("CG_T_ENV_A", "from shell", 1);
	unsetenv("CG_T_ENV_C");
	char *errs = NULL;
	assert_int_equal(cg_envfile_apply(good, &errs), 0);
	assert_null(errs);
	assert_string_equal(getenv("CG_T_ENV_A"), "from file");
	assert_string_equal(getenv("CG_T_ENV_B"), "b");
	assert_int_equal(cg_envfile_apply(bad, &errs), CG_EINVAL);
	assert_non_null(strstr(errs, "bad.env:2: no '='"));
	free(errs);
	assert_null(getenv("CG_T_ENV_C"));
	assert_int_equal(cg_envfile_apply(none, &errs), CG_EIO);
	assert_non_null(strstr(errs, "none.env: cannot read: No such file or directory"));
	free(errs);
	unsetenv("CG_T_ENV_A");
	unsetenv("CG_T_ENV_B");
	cg_h_rmrf(dir);
	free(dir);
	free(good);
	free(bad);
	free(none);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_systemd_syntax),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_apply),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
