/* test_journal_crash.c: webhooks acknowledged from the intake journal survive a kill -9 before the store has them, and a torn journal tail. */
/* labels: integration */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "itest.h"
#include "crash_common.h"
#include "journal.h"

#define NALERTS 20

/* Holds the store's write lock from outside (as a long `sqlite3` session would): the daemon's
 * indexer cannot apply anything while it is held; readers go on (WAL). */
static sqlite3 *lock_store(struct itest *t)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/state/casegate.db", t->dir);
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	return db;
}

static void unlock_store(sqlite3 *db)
{
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(db);
}

/* Events in the store (read through the lock holder's own connection). */
static long stored_events(sqlite3 *db)
{
	sqlite3_stmt *s = NULL;
	long n = -1;
	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM events", -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return n;
}

/* The newest segment file of the journal (path written to out); its size, or -1. */
static long last_segment(struct itest *t, char *out, size_t cap)
{
	char dir[600];
	snprintf(dir, sizeof(dir), "%s/state/journal", t->dir);
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	char best[256] = "";
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, "seg-", 4) == 0 && strcmp(de->d_name, best) > 0)
			snprintf(best, sizeof(best), "%s", de->d_name);
	closedir(d);
	if (!best[0])
		return -1;
	snprintf(out, cap, "%s/%s", dir, best);
	struct stat sb;
	return stat(out, &sb) == 0 ? (long)sb.st_size : -1;
}

struct run {
	struct itest t;
	struct cg_crash_key keys[NALERTS + 1];
	size_t nkeys;
};

static void expect_key(struct run *r, const char *name)
{
	struct cg_crash_key *k = &r->keys[r->nkeys++];
	memset(k, 0, sizeof(*k));
	k->name = strdup(name);
	cg_crash_expect(k, 1);
}

/* Starts sim and daemon, gets one case made (the store exists), then takes the store's lock and
 * posts n alerts: every one must be acknowledged from the journal although the store has none. */
static sqlite3 *accept_while_store_locked(struct run *r, const char *prefix, int n)
{
	struct itest *t = &r->t;
	assert_int_equal(itest_setup(t, prefix), 0);
	assert_int_equal(itest_start_sim(t, NULL), 0);
	assert_int_equal(itest_write_config(t, NULL, cg_crash_sources), 0);
	assert_int_equal(itest_start_gw(t), 0);
	struct cg_crash_answer a;
	cg_crash_post(t->gw_url, "first", &a);
	assert_int_equal(a.status, 202);
	free(a.body);
	expect_key(r, "first");
	struct itest_wait w = {t, 1};
	assert_true(cg_h_poll(itest_has_ncases, &w, 15000));

	sqlite3 *db = lock_store(t);
	long before = stored_events(db);
	for (int i = 0; i < n; i++) {
		char name[32];
		snprintf(name, sizeof(name), "j%03d", i);
		cg_crash_post(t->gw_url, name, &a);
		if (a.status != 202)
			fprintf(stderr, "%s: got %ld (%s), want 202\n", name, a.status, a.body ? a.body : "");
		assert_int_equal(a.status, 202);
		free(a.body);
		expect_key(r, name);
	}
	/* Acknowledged, and not in the store: they are only in the journal. */
	assert_int_equal(stored_events(db), before);
	assert_int_equal(itest_ncases(t), 1);
	char seg[700];
	assert_true(last_segment(t, seg, sizeof(seg)) > 0);
	return db;
}

static void expect_all_once(struct run *r)
{
	struct cg_crash_check chk = {.t = &r->t, .keys = r->keys, .nkeys = r->nkeys};
	int ok = cg_crash_poll(cg_crash_all_match, &chk, 30000);
	cg_crash_all_match(&chk);
	if (!ok || chk.lost || chk.duplicates)
		fprintf(stderr, "lost=%d duplicates=%d cases=%d first mismatch: %s\n", chk.lost, chk.duplicates,
			chk.ncases, chk.first_mismatch);
	assert_int_equal(chk.duplicates, 0);
	assert_int_equal(chk.lost, 0);
	assert_int_equal(chk.ncases, (int)r->nkeys);
	assert_true(ok);
}

static void run_free(struct run *r)
{
	cg_crash_key_free(r->keys, r->nkeys);
	itest_teardown(&r->t, 0);
}

/* Killed between the journal's fdatasync (the 202) and indexing: the next start applies them. */
static void test_kill_between_journal_and_store(void **state)
{
	(void)state;
	struct run *r = calloc(1, sizeof(*r));
	assert_non_null(r);
	sqlite3 *db = accept_while_store_locked(r, "cg-jcrash", NALERTS);
	assert_int_equal(itest_stop_gw(&r->t, SIGKILL), 128 + SIGKILL);
	unlock_store(db);

	assert_int_equal(itest_start_gw(&r->t), 0);
	expect_all_once(r);
	assert_true(cg_crash_count_logs(r->t.dir, "applied 20 journaled webhook(s)") == 1);
	/* A second start applies nothing again. */
	assert_int_equal(itest_stop_gw(&r->t, SIGTERM), 0);
	assert_int_equal(itest_start_gw(&r->t), 0);
	assert_true(cg_crash_count_logs(r->t.dir, "journaled webhook(s) the store did not have") == 1);
	expect_all_once(r);
	assert_int_equal(itest_stop_gw(&r->t, SIGTERM), 0);
	run_free(r);
	free(r);
}

/* A record torn by the crash (never acknowledged) after acknowledged ones: dropped, the rest applied. */
static void test_torn_tail_after_kill(void **state)
{
	(void)state;
	struct run *r = calloc(1, sizeof(*r));
	assert_non_null(r);
	sqlite3 *db = accept_while_store_locked(r, "cg-jtorn", 5);
	assert_int_equal(itest_stop_gw(&r->t, SIGKILL), 128 + SIGKILL);
	unlock_store(db);

	/* The write the crash interrupted: one more record, framed as the journal frames it (the
	 * next seq, the right CRC) but cut in its payload. */
	char seg[700];
	long size = last_segment(&r->t, seg, sizeof(seg));
	assert_true(size > CG_JOURNAL_HEADER_BYTES);
	size_t len = 0;
	unsigned char *data = (unsigned char *)cg_h_read_file(seg, &len);
	assert_non_null(data);
	uint64_t last = 0;
	for (size_t off = CG_JOURNAL_HEADER_BYTES; off + CG_JOURNAL_RECORD_HEAD <= len;) {
		uint32_t n = 0;
		for (int i = 0; i < 4; i++)
			n |= (uint32_t)data[off + (size_t)i] << (8 * i);
		last = 0;
		for (int i = 0; i < 8; i++)
			last |= (uint64_t)data[off + 8 + (size_t)i] << (8 * i);
		off += CG_JOURNAL_RECORD_HEAD + n;
	}
	assert_true(last >= 5);
	unsigned char rec[CG_JOURNAL_RECORD_HEAD + 200], pre[12];
	memset(rec + CG_JOURNAL_RECORD_HEAD, 'x', 200);
	uint64_t seq = last + 1;
	for (int i = 0; i < 4; i++)
		rec[i] = pre[i] = (unsigned char)(200u >> (8 * i));
	for (int i = 0; i < 8; i++)
		rec[8 + i] = pre[4 + i] = (unsigned char)(seq >> (8 * i));
	uint32_t crc = cg_journal_crc32c(cg_journal_crc32c(0, pre, sizeof(pre)), rec + CG_JOURNAL_RECORD_HEAD, 200);
	for (int i = 0; i < 4; i++)
		rec[4 + i] = (unsigned char)(crc >> (8 * i));
	int fd = open(seg, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, rec, CG_JOURNAL_RECORD_HEAD + 120), CG_JOURNAL_RECORD_HEAD + 120);
	close(fd);
	free(data);

	assert_int_equal(itest_start_gw(&r->t), 0);
	expect_all_once(r);
	assert_true(cg_crash_count_logs(r->t.dir, "applied 5 journaled webhook(s)") == 1);
	/* The torn frame was cut off (a warning says so), never applied. */
	assert_true(cg_crash_count_logs(r->t.dir, "the torn or corrupt tail") == 1);
	struct stat sb;
	if (stat(seg, &sb) == 0)
		assert_true(sb.st_size <= size);
	assert_int_equal(itest_stop_gw(&r->t, SIGTERM), 0);
	run_free(r);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kill_between_journal_and_store),
		cmocka_unit_test(test_torn_tail_after_kill),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
