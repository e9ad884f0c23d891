/* test_fsdir.c: mkdir -p for the state directory: parents made owner-only, existing ones kept, a file in the way refused. */
/* labels: unit */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsdir.h"
#include "harness.h"

static mode_t mode_of(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	return st.st_mode & 07777;
}

/* Every missing component is made with 0700; an existing parent keeps its own mode; a second
 * call on the same path succeeds (the daemon and the store both make it). */
static void test_makes_parents(void **state)
{
	(void)state;
	char *tmp = cg_h_tmpdir("fsdir");
	assert_int_equal(chmod(tmp, 0755), 0);
	char *dir = cg_h_fmt("%s/a/b/c", tmp);
	char *mid = cg_h_fmt("%s/a/b", tmp);
	assert_int_equal(cg_mkdir_p(dir), 0);
	assert_int_equal(mode_of(dir), 0700);
	assert_int_equal(mode_of(mid), 0700);
	assert_int_equal(mode_of(tmp), 0755);
	assert_int_equal(cg_mkdir_p(dir), 0);
	char *slash = cg_h_fmt("%s/d/", tmp); /* a trailing slash is the same directory */
	assert_int_equal(cg_mkdir_p(slash), 0);
	assert_int_equal(mode_of(slash), 0700);
	free(slash);
	free(mid);
	free(dir);
	free(tmp);
}

/* A file where the directory should be, an empty name and a name past PATH_MAX are refused with
 * errno saying why. */
static void test_refusals(void **state)
{
	(void)state;
	char *tmp = cg_h_tmpdir("fsdir");
	char *file = cg_h_fmt("%s/state", tmp);
	FILE *f = fopen(file, "w");
	assert_non_null(f);
	fclose(f);
	errno = 0;
	assert_int_equal(cg_mkdir_p(file), -1);
	assert_int_equal(errno, ENOTDIR);
	char *below = cg_h_fmt("%s/state/x", tmp);
	assert_int_equal(cg_mkdir_p(below), -1);
	errno = 0;
	assert_int_equal(cg_mkdir_p(""), -1);
	assert_int_equal(errno, ENOENT);
	char *longp = malloc(5000);
	assert_non_null(longp);
	memset(longp, 'a', 4999);
	longp[0] = '/';
	longp[4999] = '\0';
	errno = 0;
	assert_int_equal(cg_mkdir_p(longp), -1);
	assert_int_equal(errno, ENAMETOOLONG);
	free(longp);
	free(below);
	free(file);
	free(tmp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_makes_parents),
		cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
