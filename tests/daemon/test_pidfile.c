/* test_pidfile.c: the pid file lock: one holder per state_dir, its pid found by `reload`, stale files ignored, release removes it. */
/* labels: unit */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "harness.h"
#include "pidfile.h"

static int exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

/* The first holder wins; a second acquire (another open of the file, as another process makes)
 * is refused with the holder's pid, and `running` finds it only once it is published. */
static void test_one_holder(void **state)
{
	(void)state;
	char *tmp = cg_h_tmpdir("pidfile");
	char *dir = cg_h_fmt("%s/a/b/state", tmp); /* missing parents are created */
	char *path = cg_h_fmt("%s/casegate.pid", dir);
	char err[256] = "";
	struct cg_pidfile *p = NULL, *q = NULL;
	long pid = -1, holder = -1;

	assert_int_equal(cg_pidfile_running(dir, &pid), CG_ENOENT);
	assert_int_equal(cg_pidfile_acquire(dir, &p, &holder, err, sizeof(err)), 0);
	assert_non_null(p);
	assert_true(exists(path));
	/* Locked but empty: nobody may signal it before its handlers are in place. */
	assert_int_equal(cg_pidfile_running(dir, &pid), CG_ENOENT);
	assert_int_equal(cg_pidfile_acquire(dir, &q, &holder, err, sizeof(err)), CG_EEXIST);
	assert_int_equal(holder, 0);

	assert_int_equal(cg_pidfile_publish(p), 0);
	assert_int_equal(cg_pidfile_running(dir, &pid), 0);
	assert_int_equal(pid, (long)getpid());
	assert_int_equal(cg_pidfile_acquire(dir, &q, &holder, err, sizeof(err)), CG_EEXIST);
	assert_int_equal(holder, (long)getpid());
	char *want = cg_h_fmt("pid %ld", (long)getpid());
	if (!strstr(err, want) || !strstr(err, path))
		fail_msg("error text \"%s\" should name %s and %s", err, path, want);
	free(want);

	cg_pidfile_release(p);
	assert_false(exists(path));
	assert_int_equal(cg_pidfile_running(dir, &pid), CG_ENOENT);
	/* Free again: the next daemon takes it. */
	assert_int_equal(cg_pidfile_acquire(dir, &q, NULL, err, sizeof(err)), 0);
	cg_pidfile_release(q);
	cg_pidfile_release(NULL);
	free(path);
	free(dir);
	cg_h_rmrf(tmp);
	free(tmp);
}

/* A file left by a killed daemon names a pid nobody holds the lock for: not running, and the
 * next acquire takes it over and empties it. */
static void test_stale_file(void **state)
{
	(void)state;
	char *dir = cg_h_tmpdir("pidfile");
	char *path = cg_h_fmt("%s/casegate.pid", dir);
	assert_int_equal(cg_h_write_file(path, "1\n", 2), 0); /* pid 1 is alive, but holds no lock */
	long pid = -1;
	assert_int_equal(cg_pidfile_running(dir, &pid), CG_ENOENT);
	assert_int_equal(pid, -1);

	char err[256];
	struct cg_pidfile *p = NULL;
	assert_int_equal(cg_pidfile_acquire(dir, &p, NULL, err, sizeof(err)), 0);
	size_t len = 99;
	char *text = cg_h_read_file(path, &len);
	assert_non_null(text);
	assert_int_equal(len, 0);
	free(text);
	assert_int_equal(cg_pidfile_publish(p), 0);
	text = cg_h_read_file(path, &len);
	char *want = cg_h_fmt("%ld\n", (long)getpid());
	assert_string_equal(text, want);
	free(want);
	free(text);
	cg_pidfile_release(p);
	free(path);
	cg_h_rmrf(dir);
	free(dir);
}

/* A state_dir that cannot be made is an error with its reason, not a crash. */
static void test_unusable_dir(void **state)
{
	(void)state;
	char *dir = cg_h_tmpdir("pidfile");
	char *file = cg_h_fmt("%s/plain", dir);
	assert_int_equal(cg_h_write_file(file, "x", 1), 0);
	char *below = cg_h_fmt("%s/state", file);
	char err[256] = "";
	struct cg_pidfile *p = NULL;
	assert_int_equal(cg_pidfile_acquire(below, &p, NULL, err, sizeof(err)), CG_EIO);
	assert_null(p);
	if (!strstr(err, below))
		fail_msg("error text \"%s\" should name %s", err, below);
	free(below);
	free(file);
	cg_h_rmrf(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_holder),
		cmocka_unit_test(test_stale_file),
		cmocka_unit_test(test_unusable_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
