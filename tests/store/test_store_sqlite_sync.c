/* test_store_sqlite_sync.c: every SQLite commit is on disk before it returns (WAL synced), and the store queue's completion (the 202) comes after that sync. */
/* labels: unit */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>
#include <uv.h>

#include "harness.h"
#include "store.h"
#include "storeq.h"

/*
 * A VFS over the default one that counts xSync calls on write-ahead-log files, per thread. It is
 * the default VFS while the tests run, so the store opens its files through it without knowing.
 * With `PRAGMA synchronous = FULL` SQLite syncs the WAL at every commit; with NORMAL (WAL mode)
 * only at checkpoints, with OFF never: a commit that returns without a WAL sync on the thread
 * that committed is a commit that a power cut can lose after the sender got its 202.
 * Only the committing thread's syncs count: the store's checkpointer syncs on its own thread.
 */

#define MAX_THREADS 16

static sqlite3_vfs *real_vfs;
static sqlite3_vfs count_vfs;
static pthread_mutex_t count_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	pthread_t th;
	unsigned long syncs;
} counts[MAX_THREADS];
static int ncounts;

/* The default VFS's method tables, each with xSync replaced (the unix VFS has a few). */
#define MAX_METHODS 8
static struct {
	const sqlite3_io_methods *real;
	sqlite3_io_methods patched;
} methods[MAX_METHODS];
static int nmethods;

static unsigned long syncs_of(pthread_t th)
{
	unsigned long n = 0;
	pthread_mutex_lock(&count_mu);
	for (int i = 0; i < ncounts; i++)
		if (pthread_equal(counts[i].th, th))
			n = counts[i].syncs;
	pthread_mutex_unlock(&count_mu);
	return n;
}

static const sqlite3_io_methods *real_methods(const sqlite3_io_methods *patched)
{
	for (int i = 0; i < nmethods; i++)
		if (&methods[i].patched == patched)
			return methods[i].real;
	return NULL;
}

static int wal_sync(sqlite3_file *f, int flags)
{
	pthread_t self = pthread_self();
	pthread_mutex_lock(&count_mu);
	int i;
	for (i = 0; i < ncounts && !pthread_equal(counts[i].th, self); i++)
		;
	if (i == ncounts && ncounts < MAX_THREADS) {
		counts[i].th = self;
		counts[i].syncs = 0;
		ncounts++;
	}
	if (i < ncounts)
		counts[i].syncs++;
	pthread_mutex_unlock(&count_mu);
	return real_methods(f->pMethods)->xSync(f, flags);
}

static int count_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
	(void)vfs;
	int rc = real_vfs->xOpen(real_vfs, name, f, flags, out_flags);
	if (rc != SQLITE_OK || !f->pMethods || !(flags & SQLITE_OPEN_WAL))
		return rc;
	/* Same file object, same size: only the method table changes, to one that counts syncs. */
	pthread_mutex_lock(&count_mu);
	int i;
	for (i = 0; i < nmethods && methods[i].real != f->pMethods; i++)
		;
	if (i == nmethods && nmethods < MAX_METHODS) {
		methods[i].real = f->pMethods;
		methods[i].patched = *f->pMethods;
		methods[i].patched.xSync = wal_sync;
		nmethods++;
	}
	if (i < nmethods)
		f->pMethods = &methods[i].patched;
	pthread_mutex_unlock(&count_mu);
	return rc;
}

static int setup_vfs(void **state)
{
	(void)state;
	real_vfs = sqlite3_vfs_find(NULL);
	if (!real_vfs)
		return -1;
	count_vfs = *real_vfs;
	count_vfs.zName = "cg-count-syncs";
	count_vfs.xOpen = count_open;
	return sqlite3_vfs_register(&count_vfs, 1) == SQLITE_OK ? 0 : -1;
}

static int teardown_vfs(void **state)
{
	(void)state;
	sqlite3_vfs_unregister(&count_vfs);
	return 0;
}

static int enqueue_one(struct cg_store *st, const char *key)
{
	struct cg_store_event e = {.source = (char *)"t", .dedup_key = (char *)key, .payload = (char *)"{}"};
	return cg_store_enqueue(st, &e, 1);
}

/* Three commits on this thread: each one syncs the WAL before cg_store_commit returns. */
static void commits_synced(struct cg_store *st, const char *what)
{
	for (int i = 0; i < 3; i++) {
		unsigned long before = syncs_of(pthread_self());
		assert_int_equal(cg_store_begin(st), 0);
		char key[32];
		snprintf(key, sizeof(key), "t:k%d", i);
		assert_int_equal(enqueue_one(st, key), 0);
		assert_int_equal(cg_store_commit(st), 0);
		unsigned long after = syncs_of(pthread_self());
		if (after <= before)
			fail_msg("%s: commit %d returned without syncing the WAL (%lu syncs before, %lu after): "
				 "is PRAGMA synchronous still FULL?",
				 what, i, before, after);
	}
}

static void t_daemon_open_syncs_every_commit(void **state)
{
	(void)state;
	char *dir = cg_h_tmpdir("cg-sync");
	assert_non_null(dir);
	struct cg_store *st = NULL;
	char err[256];
	assert_int_equal(cg_store_sqlite_open(dir, &st, err, sizeof(err)), 0);
	commits_synced(st, "cg_store_sqlite_open");
	cg_store_close(st);

	/* A tool's open (casegate dlq retry, status) writes too: its commits are synced as well. */
	assert_int_equal(cg_store_sqlite_open_existing(dir, &st, err, sizeof(err)), 0);
	commits_synced(st, "cg_store_sqlite_open_existing");
	cg_store_close(st);
	cg_h_rmrf(dir);
	free(dir);
}

/* ---- through the store queue: the completion (which sends the 202) follows the sync ---- */

struct qjob {
	pthread_t worker;
	unsigned long syncs_in_job; /* the worker's WAL syncs while the job ran (inside the transaction) */
	unsigned long syncs_at_done;
	int rc, done;
};

static int q_job(struct cg_store *st, void *ud)
{
	struct qjob *j = ud;
	j->worker = pthread_self();
	j->syncs_in_job = syncs_of(j->worker);
	return enqueue_one(st, "t:queued");
}

static void q_done(int rc, void *ud)
{
	struct qjob *j = ud;
	j->rc = rc;
	j->syncs_at_done = syncs_of(j->worker);
	j->done = 1;
}

static void q_closed(void *ud)
{
	*(int *)ud = 1;
}

static void t_queue_completion_after_sync(void **state)
{
	(void)state;
	char *dir = cg_h_tmpdir("cg-sync");
	assert_non_null(dir);
	struct cg_store *st = NULL;
	char err[256];
	assert_int_equal(cg_store_sqlite_open(dir, &st, err, sizeof(err)), 0);
	uv_loop_t loop;
	assert_int_equal(uv_loop_init(&loop), 0);
	struct cg_storeq *q = NULL;
	assert_int_equal(cg_storeq_create(&loop, st, 1, &q), 0);
	struct qjob j[4];
	memset(j, 0, sizeof(j));
	for (int i = 0; i < 4; i++)
		assert_int_equal(cg_storeq_submit(q, q_job, q_done, &j[i]), 0);
	uint64_t deadline = uv_hrtime() + 20ULL * 1000 * 1000 * 1000;
	while (!(j[0].done && j[1].done && j[2].done && j[3].done)) {
		if (uv_hrtime() > deadline)
			fail_msg("store queue: jobs not completed within 20 s");
		uv_run(&loop, UV_RUN_ONCE);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(j[i].rc, 0);
		if (j[i].syncs_at_done <= j[i].syncs_in_job)
			fail_msg("job %d completed (its 202 would go out) without a WAL sync after it ran "
				 "(%lu syncs then, %lu at completion)",
				 i, j[i].syncs_in_job, j[i].syncs_at_done);
	}
	int closed = 0;
	cg_storeq_destroy(q, q_closed, &closed);
	deadline = uv_hrtime() + 20ULL * 1000 * 1000 * 1000;
	while (!closed && uv_hrtime() < deadline)
		uv_run(&loop, UV_RUN_ONCE);
	assert_true(closed);
	assert_int_equal(uv_loop_close(&loop), 0);
	cg_store_close(st);
	cg_h_rmrf(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_daemon_open_syncs_every_commit),
		cmocka_unit_test(t_queue_completion_after_sync),
	};
	return cmocka_run_group_tests(tests, setup_vfs, teardown_vfs);
}
