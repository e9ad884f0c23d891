/* test_store_readme.c: the README's store schema is the one this build writes: SQLite's and PostgreSQL's version numbers, and every SQLite table named. */
/* labels: unit */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "store.h"

/* The README's text from the heading `from` up to the next heading of any level (malloc'd). */
static char *readme_section(const char *from)
{
	char *text = cg_h_readme();
	char *at = strstr(text, from);
	if (!at)
		fail_msg("README: no section \"%s\"", from);
	char *end = strstr(at + strlen(from), "\n#");
	size_t n = end ? (size_t)(end - at) : strlen(at);
	char *out = strndup(at, n);
	free(text);
	return out;
}

/* The number after "currently " in s, or -1. */
static int currently(const char *s)
{
	const char *p = strstr(s, "currently ");
	return p ? atoi(p + strlen("currently ")) : -1;
}

static void test_sqlite_schema_in_readme(void **state)
{
	(void)state;
	char *sec = readme_section("### State directory");
	if (currently(sec) != cg_store_sqlite_schema_version())
		fail_msg("README State directory: says schema version %d, this build writes %d", currently(sec),
			 cg_store_sqlite_schema_version());

	char *dir = cg_h_tmpdir("cg-store-readme");
	assert_non_null(dir);
	struct cg_store *st = NULL;
	char err[256] = "";
	if (cg_store_sqlite_open(dir, &st, err, sizeof(err)) != 0)
		fail_msg("open: %s", err);
	cg_store_close(st);
	char *db = cg_h_fmt("%s/casegate.db", dir);
	sqlite3 *h = NULL;
	assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_stmt *q = NULL;
	assert_int_equal(sqlite3_prepare_v2(h,
					    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
					    " ORDER BY name",
					    -1, &q, NULL),
			 SQLITE_OK);
	int ntables = 0;
	while (sqlite3_step(q) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(q, 0);
		char *quoted = cg_h_fmt("`%s`", name);
		if (!strstr(sec, quoted))
			fail_msg("README State directory: table %s is not described (want %s in the table list)", name, quoted);
		free(quoted);
		ntables++;
	}
	sqlite3_finalize(q);
	sqlite3_close(h);
	assert_true(ntables >= 6);
	cg_h_rmrf(dir);
	free(dir);
	free(db);
	free(sec);
}

static void test_pg_schema_in_readme(void **state)
{
	(void)state;
	char *sec = readme_section("## Several replicas: the PostgreSQL store");
	const char *p = strstr(sec, "`schema_version`");
	if (!p)
		fail_msg("README PostgreSQL store: no `schema_version` named");
	if (currently(p) != cg_store_pg_schema_version())
		fail_msg("README PostgreSQL store: says schema version %d, this build writes %d", currently(p),
			 cg_store_pg_schema_version());
	free(sec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sqlite_schema_in_readme),
	    cmocka_unit_test(test_pg_schema_in_readme),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
