/* test_webhook_store_unavailable.c: without the journal a webhook the store cannot take is answered 503 with Retry-After: 30 (never 202) and the retry lands; with it, the journaled webhook is held and lands once the store takes writes again, once. */
/* labels: integration */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <sqlite3.h>

#include "itest.h"
#include "crash_common.h"

/*
 * The store refuses writes without root or a full disk: the test adds a trigger to the daemon's
 * SQLite file that aborts every insert into the queue (as a failing disk or database would make
 * the enqueue fail), then drops it. The daemon's commit fails, so the answer must be 503 with
 * Retry-After (respond_unavailable in gateway/intake/webhook.c), never a 202 for an event that is
 * not stored.
 */

static struct itest T;

static int setup(void **state)
{
	(void)state;
	return itest_setup(&T, "cg-storeunavail");
}

static int teardown(void **state)
{
	(void)state;
	itest_teardown(&T, 0);
	return 0;
}

static void post(const char *name, struct cg_crash_answer *a)
{
	cg_crash_post(T.gw_url, name, a);
}

static void store_sql(const char *sql)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/state/casegate.db", T.dir);
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 10000);
	char *err = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
	if (rc != SQLITE_OK)
		fail_msg("%s: %s", sql, err ? err : sqlite3_errstr(rc));
	sqlite3_close(db);
}

struct ncases_wait {
	int want;
};

static int has_ncases(void *ud)
{
	struct ncases_wait *w = ud;
	return itest_ncases(&T) >= w->want;
}

/* Starts sim and daemon (queue_extra under queue:), gets one case made, then makes the store
 * refuse every insert into the queue (as a failing disk or database would). */
static void start_then_refuse(const char *queue_extra)
{
	assert_int_equal(itest_start_sim(&T, NULL), 0);
	assert_int_equal(itest_write_config_full(&T, NULL, queue_extra, NULL, cg_crash_sources), 0);
	assert_int_equal(itest_start_gw(&T), 0);
	struct cg_crash_answer a;
	post("before", &a);
	assert_int_equal(a.status, 202);
	free(a.body);
	struct ncases_wait w = {1};
	assert_true(cg_h_poll(has_ncases, &w, 20000));
	store_sql("CREATE TRIGGER cg_test_refuse BEFORE INSERT ON events "
		  "BEGIN SELECT RAISE(ABORT, 'test: the store refuses writes'); END");
}

static void test_store_refuses_writes(void **state)
{
	(void)state;
	/* Answered once committed in the store (the PostgreSQL store's way too). */
	start_then_refuse("  journal: false\n");
	struct cg_crash_answer a;
	struct ncases_wait w = {1};
	static const char *const names[] = {"refused1", "refused2", "refused3"};
	for (int i = 0; i < 3; i++) {
		post(names[i], &a);
		/* Every refusal says when to come back, not only the last one. */
		if (a.status != 503 || strcmp(a.retry_after, "30") != 0 || !a.body || !strstr(a.body, "\"errors\"") ||
		    !strstr(a.body, "store unavailable"))
			fail_msg("post %s while the store refuses writes: got %ld, Retry-After '%s', body %s; want 503, "
				 "Retry-After 30, {\"errors\":[\"store unavailable: retry later\"]}",
				 names[i], a.status, a.retry_after, a.body ? a.body : "(none)");
		free(a.body);
	}
	assert_true(cg_h_alive(&T.gw));
	assert_true(cg_h_wait_log(&T.gw, "could not store 1 event(s)", 5000));

	/* The store takes writes again: the senders' retries are accepted and become cases, once. */
	store_sql("DROP TRIGGER cg_test_refuse");
	for (int i = 0; i < 3; i++) {
		post(names[i], &a);
		if (a.status != 202)
			fail_msg("retry of %s after the store recovered: got %ld (%s), want 202", names[i], a.status,
				 a.body ? a.body : "");
		free(a.body);
	}
	w.want = 4;
	int ok = cg_h_poll(has_ncases, &w, 30000);
	int n = itest_ncases(&T);
	if (!ok || n != 4)
		fail_msg("cases: got %d, want 4 (before + the three retried)", n);
	for (int i = 0; i < 3; i++) {
		char title[64];
		snprintf(title, sizeof(title), "crash %s", names[i]);
		assert_int_equal(itest_count_titled(&T, title), 1);
	}
	assert_int_equal(itest_stop_gw(&T, SIGTERM), 0);
}

/*
 * With the intake journal (the default) the webhooks are durable before the store sees them: they
 * are acknowledged, the indexer holds them while the store refuses writes (nothing after the
 * first refused one is applied, so order holds), and once it takes writes again each lands once.
 */
static void test_journal_holds_until_store_takes_writes(void **state)
{
	(void)state;
	start_then_refuse(NULL);
	struct cg_crash_answer a;
	struct ncases_wait w = {1};
	static const char *const names[] = {"held1", "held2", "held3"};
	for (int i = 0; i < 3; i++) {
		post(names[i], &a);
		if (a.status != 202)
			fail_msg("post %s while the store refuses writes: got %ld (%s); want 202 (it is journaled)", names[i],
				 a.status, a.body ? a.body : "(none)");
		free(a.body);
	}
	assert_true(cg_h_wait_log(&T.gw, "indexing journal record", 10000));
	assert_true(cg_h_wait_log(&T.gw, "retrying the journal records held", 10000));
	assert_int_equal(itest_ncases(&T), 1);
	assert_true(itest_metric(&T, "casegate_journal_stalled", NULL) == 1);
	assert_true(itest_metric(&T, "casegate_journal_unindexed", NULL) >= 3);
	assert_true(cg_h_alive(&T.gw));

	store_sql("DROP TRIGGER cg_test_refuse");
	w.want = 4;
	int ok = cg_h_poll(has_ncases, &w, 30000);
	int n = itest_ncases(&T);
	if (!ok || n != 4)
		fail_msg("cases: got %d, want 4 (before + the three held)", n);
	for (int i = 0; i < 3; i++) {
		char title[64];
		snprintf(title, sizeof(title), "crash %s", names[i]);
		assert_int_equal(itest_count_titled(&T, title), 1);
	}
	assert_true(itest_metric(&T, "casegate_journal_stalled", NULL) == 0);
	assert_true(itest_metric(&T, "casegate_journal_unindexed", NULL) == 0);
	assert_int_equal(itest_stop_gw(&T, SIGTERM), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_store_refuses_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_journal_holds_until_store_takes_writes, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
