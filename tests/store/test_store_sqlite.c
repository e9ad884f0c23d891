/* test_store_sqlite.c: the store conformance suite on SQLite, plus SQLite-specific checks (files, schema, errors). */
/* labels: unit */
#define _XOPEN_SOURCE 700 /* nftw */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "err.h"
#include "store.h"
#include "store_suite.h"

static char *mk_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char tmpl[512];
	snprintf(tmpl, sizeof(tmpl), "%s/cg-store-XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(tmpl))
		return NULL;
	return strdup(tmpl);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_rf(const char *path)
{
	if (path)
		nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- the SQLite backend for the conformance suite ---- */

static int sqlite_reopen(void *loc, struct cg_store **out)
{
	char err[256];
	int rc = cg_store_sqlite_open(loc, out, err, sizeof(err));
	if (rc)
		fprintf(stderr, "open %s: %s\n", (char *)loc, err);
	return rc;
}

static int sqlite_create(void **loc, struct cg_store **out)
{
	char *dir = mk_tmpdir();
	if (!dir)
		return CG_EIO;
	int rc = sqlite_reopen(dir, out);
	if (rc) {
		rm_rf(dir);
		free(dir);
		return rc;
	}
	*loc = dir;
	return 0;
}

static void sqlite_remove(void *loc)
{
	rm_rf(loc);
	free(loc);
}

static int sqlite_set_full(struct cg_store *st, int full)
{
	/* SQLite clamps max_page_count to the current size: 1 means "no growth from here". */
	return cg_store_sqlite_set_max_pages(st, full ? 1 : 1073741823, NULL);
}

static const struct cg_store_suite_backend sqlite_backend = {
	.name = "sqlite",
	.create = sqlite_create,
	.reopen = sqlite_reopen,
	.remove = sqlite_remove,
	.set_full = sqlite_set_full,
};

/* ---- SQLite-specific ---- */

static void pragma_text(const char *db_path, const char *sql, char *out, size_t outlen)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *stmt = NULL;
	assert_int_equal(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
	out[0] = '\0';
	if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0))
		snprintf(out, outlen, "%s", (const char *)sqlite3_column_text(stmt, 0));
	sqlite3_finalize(stmt);
	sqlite3_close(db);
}

static void t_files_and_schema(void **state)
{
	(void)state;
	char *base = mk_tmpdir();
	assert_non_null(base);
	char dir[600], db[700], got[64], want[64];
	snprintf(dir, sizeof(dir), "%s/a/b", base);
	snprintf(db, sizeof(db), "%s/casegate.db", dir);
	struct cg_store *st = NULL;
	char err[256];
	int rc = cg_store_sqlite_open(dir, &st, err, sizeof(err));
	if (rc)
		fail_msg("open nested dir: got %s (%s), want ok", cg_strerror(rc), err);
	struct stat sb;
	assert_int_equal(stat(dir, &sb), 0);
	if ((sb.st_mode & 0777) != 0700)
		fail_msg("dir mode: got %o, want 700", (unsigned)(sb.st_mode & 0777));
	assert_int_equal(stat(db, &sb), 0);
	pragma_text(db, "PRAGMA journal_mode", got, sizeof(got));
	if (strcmp(got, "wal") != 0)
		fail_msg("journal_mode: got %s, want wal", got);
	pragma_text(db, "PRAGMA user_version", got, sizeof(got));
	snprintf(want, sizeof(want), "%d", cg_store_sqlite_schema_version());
	if (strcmp(got, want) != 0)
		fail_msg("user_version: got %s, want %s", got, want);
	if (cg_store_sqlite_schema_version() < 1)
		fail_msg("schema version: got %d, want >= 1", cg_store_sqlite_schema_version());
	assert_string_equal(cg_store_sqlite_errmsg(st), "");
	cg_store_close(st);

	/* A file from a newer casegate is refused, not mangled. */
	pragma_text(db, "PRAGMA user_version = 999", got, sizeof(got));
	rc = cg_store_sqlite_open(dir, &st, err, sizeof(err));
	if (rc != CG_EINVAL || !strstr(err, "newer"))
		fail_msg("open newer schema: got %s (%s), want invalid input (newer)", cg_strerror(rc), err);
	pragma_text(db, "PRAGMA user_version", got, sizeof(got));
	assert_string_equal(got, "999");
	rm_rf(base);
	free(base);
}

static void t_open_errors(void **state)
{
	(void)state;
	char *base = mk_tmpdir();
	assert_non_null(base);
	char path[600], db[700];
	struct cg_store *st = (struct cg_store *)&st; /* must stay untouched on failure */
	char err[256];

	/* The directory is a regular file. */
	snprintf(path, sizeof(path), "%s/file", base);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fclose(fp);
	int rc = cg_store_sqlite_open(path, &st, err, sizeof(err));
	if (rc != CG_EIO || err[0] == '\0')
		fail_msg("open on a file: got %s (\"%s\"), want I/O error with a message", cg_strerror(rc), err);
	assert_ptr_equal(st, (struct cg_store *)&st);

	/* casegate.db is not a database. */
	snprintf(path, sizeof(path), "%s/junk", base);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(db, sizeof(db), "%s/casegate.db", path);
	fp = fopen(db, "w");
	assert_non_null(fp);
	for (int i = 0; i < 512; i++)
		fputs("this is not sqlite ", fp);
	fclose(fp);
	rc = cg_store_sqlite_open(path, &st, err, sizeof(err));
	if (rc != CG_EIO || err[0] == '\0')
		fail_msg("open junk file: got %s (\"%s\"), want I/O error with a message", cg_strerror(rc), err);

	rc = cg_store_sqlite_open(NULL, &st, err, sizeof(err));
	assert_int_equal(rc, CG_EINVAL);
	/* No error buffer is fine too. */
	rc = cg_store_sqlite_open(path, &st, NULL, 0);
	assert_int_equal(rc, CG_EIO);
	rm_rf(base);
	free(base);
}

static void t_full_errmsg(void **state)
{
	(void)state;
	void *loc = NULL;
	struct cg_store *st = NULL;
	assert_int_equal(sqlite_create(&loc, &st), 0);
	assert_int_equal(cg_store_sqlite_set_max_pages(st, 1, NULL), 0);
	int rc = 0;
	static char big[8192];
	memset(big, 'y', sizeof(big) - 1);
	for (int i = 0; i < 1000 && rc == 0; i++) {
		struct cg_store_event e = {.source = (char *)"s", .dedup_key = (char *)"k", .payload = big};
		rc = cg_store_enqueue(st, &e, 1);
	}
	assert_int_equal(rc, CG_EFULL);
	const char *m = cg_store_sqlite_errmsg(st);
	if (!strstr(m, "full"))
		fail_msg("errmsg: got \"%s\", want it to mention full", m);
	struct cg_store other = {0};
	assert_string_equal(cg_store_sqlite_errmsg(&other), "not a sqlite store");
	assert_int_equal(cg_store_sqlite_set_max_pages(&other, 1, NULL), CG_EINVAL);
	cg_store_close(st);
	cg_store_close(NULL);
	sqlite_remove(loc);
}

/* The per-key head flag is rebuilt at open, so a damaged flag cannot strand a key. */
static void t_head_repair(void **state)
{
	(void)state;
	void *loc = NULL;
	struct cg_store *st = NULL;
	assert_int_equal(sqlite_create(&loc, &st), 0);
	struct cg_store_event evs[3] = {
		{.source = (char *)"s", .dedup_key = (char *)"A", .next_ms = 1},
		{.source = (char *)"s", .dedup_key = (char *)"A", .next_ms = 1},
		{.source = (char *)"s", .dedup_key = (char *)"B", .next_ms = 1},
	};
	assert_int_equal(cg_store_enqueue(st, evs, 3), 0);
	cg_store_close(st);
	char db[600], got[64];
	snprintf(db, sizeof(db), "%s/casegate.db", (char *)loc);
	pragma_text(db, "UPDATE events SET is_head = CASE WHEN dedup_key = 'A' THEN 0 ELSE 1 END RETURNING 1", got,
		    sizeof(got));
	assert_int_equal(sqlite_reopen(loc, &st), 0);
	struct cg_store_event *v = NULL;
	size_t n = 0;
	assert_int_equal(cg_store_claim(st, 1, 10, &v, &n), 0);
	if (n != 2 || v[0].id != evs[0].id || v[1].id != evs[2].id)
		fail_msg("claim after repair: got %zu events (first id %lld), want ids %lld,%lld", n,
			 n ? (long long)v[0].id : -1LL, (long long)evs[0].id, (long long)evs[2].id);
	cg_store_events_free(v, n);
	cg_store_close(st);
	sqlite_remove(loc);
}

static void exec_sql(const char *db_path, const char *sql)
{
	sqlite3 *db = NULL;
	char *msg = NULL;
	assert_int_equal(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg ? msg : "?");
	sqlite3_close(db);
}

/* The migration that added the claim rank (rank_ms) made this version. */
#define RANK_SCHEMA 7

/*
 * A file of the version before (no rank_ms, events_ready on next_ms) with events queued
 * migrates to the claim order by priority and age: its events are ranked from their priority,
 * status and received_ms with the default aging (10 min).
 */
static void t_migrate_queue_before_rank(void **state)
{
	(void)state;
	if (cg_store_sqlite_schema_version() < RANK_SCHEMA)
		fail_msg("schema version: got %d, want >= %d", cg_store_sqlite_schema_version(), RANK_SCHEMA);
	void *loc = NULL;
	struct cg_store *st = NULL;
	assert_int_equal(sqlite_create(&loc, &st), 0);
	cg_store_close(st);
	char db[600], got[256];
	snprintf(db, sizeof(db), "%s/casegate.db", (char *)loc);
	/* Back to the version before the rank, then a queue as such a casegate left it. */
	const long long t0 = 1700000000000LL, min = 60000;
	char sql[2048];
	snprintf(sql, sizeof(sql),
		 "DROP INDEX events_ready; DROP INDEX events_due; DROP INDEX events_priority;"
		 "ALTER TABLE events DROP COLUMN rank_ms;"
		 "CREATE INDEX events_ready ON events(next_ms, id) WHERE is_head = 1 AND inflight = 0;"
		 "INSERT INTO events (source, dedup_key, status, priority, payload, received_ms, next_ms, is_head) VALUES"
		 " ('s', 'p3', 0, 3, '{}', %lld, %lld, 1),"  /* id 1 */
		 " ('s', 'r1', 1, 1, '{}', %lld, %lld, 1),"  /* id 2: a P1 resolution */
		 " ('s', 'p1', 0, 1, '{}', %lld, %lld, 1),"  /* id 3 */
		 " ('s', 'old5', 0, 5, '{}', %lld, %lld, 1)," /* id 4: a P5 queued 45 min before */
		 " ('s', 'p1', 0, 1, '{}', %lld, %lld, 0),"  /* id 5: behind id 3 */
		 " ('s', 'none', 0, 0, '{}', %lld, %lld, 1);" /* id 6: no priority */
		 "PRAGMA user_version = %d;",
		 t0, t0, t0, t0, t0, t0, t0 - 45 * min, t0, t0, t0, t0, t0, RANK_SCHEMA - 1);
	exec_sql(db, sql);
	assert_int_equal(sqlite_reopen(loc, &st), 0);
	pragma_text(db, "PRAGMA user_version", got, sizeof(got));
	if (strtol(got, NULL, 10) != cg_store_sqlite_schema_version())
		fail_msg("user_version after open: got %s, want %d", got, cg_store_sqlite_schema_version());
	pragma_text(db, "SELECT sql FROM sqlite_master WHERE name = 'events_ready'", got, sizeof(got));
	if (!strstr(got, "rank_ms"))
		fail_msg("events_ready after migration: got \"%s\", want it on rank_ms", got);
	const int64_t want[] = {4, 3, 2, 1, 6};
	cg_store_suite_expect_claim(st, t0, want, 5, "claim after migration (old P5, P1, P1 resolution, P3, none)");
	cg_store_close(st);
	sqlite_remove(loc);
}

static long file_size(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

/*
 * Checkpoints run on the store's own thread: after enough commits the rows reach the database
 * file (no checkpoint would leave it at its initial few pages) and the WAL is reused from its
 * start instead of growing with every commit.
 */
static void t_background_checkpoint(void **state)
{
	(void)state;
	char *dir = mk_tmpdir();
	assert_non_null(dir);
	char db[600], wal[600], err[256];
	snprintf(db, sizeof(db), "%s/casegate.db", dir);
	snprintf(wal, sizeof(wal), "%s/casegate.db-wal", dir);
	struct cg_store *st = NULL;
	assert_int_equal(cg_store_sqlite_open(dir, &st, err, sizeof(err)), 0);
	long db0 = file_size(db);
	static char payload[2049];
	memset(payload, 'p', sizeof(payload) - 1);
	enum { BATCHES = 300, PER = 40 }; /* ~12000 pages through the WAL */
	long wal_max = 0;
	for (int b = 0; b < BATCHES; b++) {
		struct cg_store_event evs[PER];
		char keys[PER][32];
		memset(evs, 0, sizeof(evs));
		for (int i = 0; i < PER; i++) {
			snprintf(keys[i], sizeof(keys[i]), "k%d-%d", b, i);
			evs[i].source = "s";
			evs[i].dedup_key = keys[i];
			evs[i].payload = payload;
		}
		assert_int_equal(cg_store_begin(st), 0);
		assert_int_equal(cg_store_enqueue(st, evs, PER), 0);
		assert_int_equal(cg_store_commit(st), 0);
		long w = file_size(wal);
		if (w > wal_max)
			wal_max = w;
	}
	/* The checkpointer runs behind the commits: wait for it (deadline, no fixed sleep). */
	long want = db0 + (long)BATCHES * PER * 2048;
	for (int i = 0; i < 1000 && file_size(db) < want; i++) {
		struct cg_store_event e = {.source = "s", .dedup_key = "poke", .payload = "x"};
		assert_int_equal(cg_store_begin(st), 0);
		assert_int_equal(cg_store_enqueue(st, &e, 1), 0);
		assert_int_equal(cg_store_commit(st), 0);
		usleep(10 * 1000);
	}
	long dbn = file_size(db);
	if (dbn < want)
		fail_msg("database file: got %ld bytes, want >= %ld (rows checkpointed out of the WAL)", dbn, want);
	/* Without checkpoints, or with a WAL never reused, it would hold all ~12000 pages (~50 MB). */
	if (wal_max > 24L * 1024 * 1024)
		fail_msg("WAL grew to %ld bytes, want it reused (< 24 MiB)", wal_max);
	struct cg_store_stats stt;
	assert_int_equal(cg_store_stats(st, &stt), 0);
	if (stt.pending < (int64_t)BATCHES * PER)
		fail_msg("pending: got %lld, want >= %d", (long long)stt.pending, BATCHES * PER);
	cg_store_close(st);
	rm_rf(dir);
	free(dir);
}

/* The store's size is the pages in use: delivered events' pages are free again, so a store past
 * queue.store_max_bytes comes back under it once its backlog is delivered (the file never
 * shrinks). The WAL's bytes, counted too, are taken out here to look at the pages alone. */
static void t_size_is_pages_in_use(void **state)
{
	(void)state;
	char *dir = mk_tmpdir();
	assert_non_null(dir);
	char wal[600], err[256];
	snprintf(wal, sizeof(wal), "%s/casegate.db-wal", dir);
	struct cg_store *st = NULL;
	assert_int_equal(cg_store_sqlite_open(dir, &st, err, sizeof(err)), 0);
	static char payload[4097];
	memset(payload, 'p', sizeof(payload) - 1);
	enum { N = 600 };
	for (int i = 0; i < N; i++) {
		char key[32];
		snprintf(key, sizeof(key), "k%d", i);
		struct cg_store_event e = {.source = "s", .dedup_key = key, .payload = payload};
		assert_int_equal(cg_store_begin(st), 0);
		assert_int_equal(cg_store_enqueue(st, &e, 1), 0);
		assert_int_equal(cg_store_commit(st), 0);
	}
	struct cg_store_stats full, empty;
	assert_int_equal(cg_store_stats(st, &full), 0);
	long live_full = (long)full.bytes - file_size(wal);
	if (live_full < (long)N * 4096)
		fail_msg("pages in use with %d events of 4 KiB: got %ld bytes, want >= %ld", N, live_full, (long)N * 4096);
	for (;;) {
		struct cg_store_event *evs = NULL;
		size_t n = 0;
		assert_int_equal(cg_store_claim(st, INT64_MAX / 2, 100, &evs, &n), 0);
		if (n == 0)
			break;
		assert_int_equal(cg_store_begin(st), 0);
		for (size_t i = 0; i < n; i++)
			assert_int_equal(cg_store_event_done(st, evs[i].id), 0);
		assert_int_equal(cg_store_commit(st), 0);
		cg_store_events_free(evs, n);
	}
	assert_int_equal(cg_store_stats(st, &empty), 0);
	assert_int_equal(empty.pending, 0);
	long live_empty = (long)empty.bytes - file_size(wal);
	if (live_empty > live_full / 4)
		fail_msg("pages in use after every event was delivered: got %ld bytes, want <= %ld (a quarter of %ld)",
			 live_empty, live_full / 4, live_full);
	cg_store_close(st);
	rm_rf(dir);
	free(dir);
}

int main(void)
{
	/* CG_TEST_FILTER=t_bulk runs only matching tests (profiling, debugging). */
	const char *filter = getenv("CG_TEST_FILTER");
	if (filter && *filter)
		cmocka_set_test_filter(filter);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_files_and_schema),
		cmocka_unit_test(t_open_errors),
		cmocka_unit_test(t_full_errmsg),
		cmocka_unit_test(t_head_repair),
		cmocka_unit_test(t_migrate_queue_before_rank),
		cmocka_unit_test(t_background_checkpoint),
		cmocka_unit_test(t_size_is_pages_in_use),
	};
	int failed = cmocka_run_group_tests_name("sqlite specifics", tests, NULL, NULL);
	failed += cg_store_suite_run(&sqlite_backend);
	return failed ? 1 : 0;
}
