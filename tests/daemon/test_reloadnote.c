/* test_reloadnote.c: the reload note the daemon leaves for `casegate reload`: written whole, each one distinct, its verdict and message read back. */
/* labels: unit */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "reloadnote.h"

static void test_round_trip(void **state)
{
	(void)state;
	char *dir = cg_h_tmpdir("reloadnote");
	char *path = cg_reload_note_path(dir);
	char *want = cg_h_fmt("%s/casegate.reload", dir);
	assert_string_equal(path, want);
	free(want);
	assert_null(cg_reload_note_read(path)); /* no reload yet */

	cg_reload_note(dir, 1, "");
	char *note = cg_reload_note_read(path);
	assert_non_null(note);
	const char *msg = NULL;
	assert_int_equal(cg_reload_note_verdict(note, &msg), 1);
	assert_string_equal(msg, "\n");
	/* The first line names this process: the CLI knows whose verdict it reads. */
	char *pid = cg_h_fmt(" %ld ok\n", (long)getpid());
	if (!strstr(note, pid))
		fail_msg("note \"%s\" lacks \"%s\"", note, pid);
	free(pid);

	/* A rejection with a message of several lines; the first line changes (the CLI waits for that). */
	char *first = strndup(note, (size_t)(strchr(note, '\n') - note));
	cg_reload_note(dir, 0, "config.yaml:3: unknown key 'sourcs'\nconfig.yaml:9: bad port");
	char *note2 = cg_reload_note_read(path);
	assert_non_null(note2);
	assert_int_equal(cg_reload_note_verdict(note2, &msg), 0);
	assert_string_equal(msg, "config.yaml:3: unknown key 'sourcs'\nconfig.yaml:9: bad port\n");
	if (strncmp(note2, first, strlen(first)) == 0 && note2[strlen(first)] == '\n')
		fail_msg("two reloads left the same first line \"%s\"", first);
	/* Written by rename: no temporary file stays behind. */
	char *tmp = cg_h_fmt("%s.tmp", path);
	assert_int_not_equal(access(tmp, F_OK), 0);
	free(tmp);
	free(first);
	free(note2);
	free(note);
	free(path);
	cg_h_rmrf(dir);
	free(dir);
}

/* What is not a note reads as a rejection, never as success. */
static void test_verdict_of_odd_notes(void **state)
{
	(void)state;
	const char *msg = NULL;
	assert_int_equal(cg_reload_note_verdict("", &msg), 0);
	assert_string_equal(msg, "");
	assert_int_equal(cg_reload_note_verdict("ok", &msg), 0);
	assert_int_equal(cg_reload_note_verdict("1.0 42 rejected\nok", &msg), 0);
	assert_string_equal(msg, "ok");
	assert_int_equal(cg_reload_note_verdict("1.0 42 ok\n", &msg), 1);
	assert_string_equal(msg, "");
}

/* A state_dir that cannot be written loses the note (logged), nothing else. */
static void test_unwritable(void **state)
{
	(void)state;
	cg_reload_note("/nonexistent/casegate-state", 1, "x");
	char *path = cg_reload_note_path("/nonexistent/casegate-state");
	assert_null(cg_reload_note_read(path));
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_verdict_of_odd_notes),
		cmocka_unit_test(test_unwritable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
