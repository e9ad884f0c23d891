/* test_indexer.c: a webhook's journal record (round trip, every truncation refused) and the replay of journaled records into the store, exactly once. */
/* labels: unit */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <sys/uio.h>
#include <uv.h>

#include "err.h"
#include "harness.h"
#include "indexer.h"
#include "journal.h"
#include "store.h"
#include "storeq.h"

#define T0 1700000000000LL

static struct cg_store_event ev(const char *key, int status, const char *severity)
{
	struct cg_store_event e = {.source = strdup("am"),
				   .dedup_key = cg_h_fmt("am:%s", key),
				   .status = status,
				   .priority = 3,
				   .severity = severity ? strdup(severity) : NULL,
				   .payload = cg_h_fmt("{\"title\":\"alert %s\",\"summary\":\"s\"}", key),
				   .received_ms = T0,
				   .next_ms = T0 + 5};
	return e;
}

/* A put of n firing alerts k<first>..; message_id may be NULL. */
static void make_put(struct cg_intake_put *p, int first, int n, const char *message_id)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->source, sizeof(p->source), "am");
	if (message_id)
		snprintf(p->message_id, sizeof(p->message_id), "%s", message_id);
	p->accepted_ms = T0;
	p->heard_ms = T0;
	p->evs = calloc((size_t)n, sizeof(*p->evs));
	assert_non_null(p->evs);
	for (int i = 0; i < n; i++) {
		char key[16];
		snprintf(key, sizeof(key), "k%d", first + i);
		p->evs[i] = ev(key, 1, i % 2 ? NULL : "critical");
	}
	p->n = (size_t)n;
}

static void test_record_round_trip(void **state)
{
	(void)state;
	struct cg_intake_put p, q;
	make_put(&p, 0, 3, "msg-1");
	snprintf(p.replay_ns, sizeof(p.replay_ns), "replay:am");
	snprintf(p.replay_id, sizeof(p.replay_id), "wh-7");
	snprintf(p.storm.source, sizeof(p.storm.source), "am");
	p.storm.max_new = 20;
	p.storm.per_ms = 300000;
	p.storm.digest_ms = 60000;
	void *rec = NULL;
	size_t len = 0;
	assert_int_equal(cg_intake_put_encode(&p, &rec, &len), 0);
	memset(&q, 0, sizeof(q));
	assert_int_equal(cg_intake_put_decode(rec, len, &q), 0);
	assert_string_equal(q.source, "am");
	assert_string_equal(q.message_id, "msg-1");
	assert_string_equal(q.replay_ns, "replay:am");
	assert_string_equal(q.replay_id, "wh-7");
	assert_int_equal(q.accepted_ms, T0);
	assert_int_equal(q.heard_ms, T0);
	assert_string_equal(q.storm.source, "am");
	assert_int_equal(q.storm.max_new, 20);
	assert_int_equal(q.storm.per_ms, 300000);
	assert_int_equal(q.storm.digest_ms, 60000);
	assert_int_equal(q.n, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(q.evs[i].source, p.evs[i].source);
		assert_string_equal(q.evs[i].dedup_key, p.evs[i].dedup_key);
		assert_string_equal(q.evs[i].payload, p.evs[i].payload);
		if (p.evs[i].severity)
			assert_string_equal(q.evs[i].severity, p.evs[i].severity);
		else
			assert_null(q.evs[i].severity);
		assert_int_equal(q.evs[i].status, 1);
		assert_int_equal(q.evs[i].priority, 3);
		assert_int_equal(q.evs[i].received_ms, T0);
		assert_int_equal(q.evs[i].next_ms, T0 + 5);
	}
	cg_intake_put_cleanup(&q);

	/* Every shorter record, and one byte more, is refused (never half-read). */
	for (size_t cut = 0; cut < len; cut++) {
		memset(&q, 0, sizeof(q));
		int rc = cg_intake_put_decode(rec, cut, &q);
		if (rc != CG_EINVAL)
			fail_msg("a record cut to %zu of %zu bytes: got %d, want CG_EINVAL", cut, len, rc);
		assert_null(q.evs);
	}
	unsigned char *longer = malloc(len + 1);
	memcpy(longer, rec, len);
	longer[len] = 0;
	memset(&q, 0, sizeof(q));
	assert_int_equal(cg_intake_put_decode(longer, len + 1, &q), CG_EINVAL);
	/* A NUL inside a string is not a string. */
	memcpy(longer, rec, len);
	char *k0 = memmem(longer, len, "am:k0", 5);
	assert_non_null(k0);
	k0[2] = 0;
	memset(&q, 0, sizeof(q));
	assert_int_equal(cg_intake_put_decode(longer, len, &q), CG_EINVAL);
	free(longer);
	free(rec);
	cg_intake_put_cleanup(&p);
}

struct fx {
	char *dir;
	char jdir[600];
	struct cg_store *st;
	struct cg_journal *jr;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[256] = "";
	if (!f || !(f->dir = cg_h_tmpdir("indexer")) || cg_store_sqlite_open(f->dir, &f->st, err, sizeof(err)) != 0)
		fail_msg("store: %s", err);
	snprintf(f->jdir, sizeof(f->jdir), "%s/journal", f->dir);
	if (cg_journal_open(f->jdir, 4096, 1, &f->jr, err, sizeof(err)) != 0)
		fail_msg("journal: %s", err);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	cg_journal_close(f->jr);
	cg_store_close(f->st);
	cg_h_rmrf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

/* Journals the put (one append). */
static void journal_put(struct fx *f, struct cg_intake_put *p)
{
	void *rec = NULL;
	size_t len = 0;
	assert_int_equal(cg_intake_put_encode(p, &rec, &len), 0);
	struct iovec io = {rec, len};
	uint64_t seq = 0;
	assert_int_equal(cg_journal_append(f->jr, &io, 1, &seq), 0);
	free(rec);
	cg_intake_put_cleanup(p);
}

static long count_events(struct fx *f, const char *key)
{
	struct cg_store_event *evs = NULL;
	size_t n = 0;
	long hits = 0;
	assert_int_equal(cg_store_begin(f->st), 0);
	assert_int_equal(cg_store_claim(f->st, T0 + 1000000000LL, 100000, &evs, &n), 0);
	cg_store_rollback(f->st);
	for (size_t i = 0; i < n; i++)
		hits += !key || strcmp(evs[i].dedup_key, key) == 0;
	cg_store_events_free(evs, n);
	return hits;
}

static uint64_t watermark(struct fx *f)
{
	uint64_t w = 0;
	assert_int_equal(cg_store_begin(f->st), 0);
	assert_int_equal(cg_indexer_watermark(f->st, &w), 0);
	cg_store_rollback(f->st);
	return w;
}

static void test_replay_exactly_once(void **state)
{
	struct fx *f = *state;
	struct cg_intake_put p;
	/* 300 records (past one replay transaction of 256), over several 4 KiB segments; the same
	 * SNS message twice (a redelivery: its second record adds nothing). */
	for (int i = 0; i < 300; i++) {
		make_put(&p, i, 1, i == 7 || i == 8 ? "dup-msg" : NULL);
		journal_put(f, &p);
	}
	size_t n = 0;
	char err[256] = "";
	assert_int_equal(cg_indexer_replay(f->st, f->jr, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 300);
	assert_int_equal(watermark(f), 300);
	assert_int_equal(count_events(f, NULL), 299);
	assert_int_equal(count_events(f, "am:k7"), 1);
	assert_int_equal(count_events(f, "am:k8"), 0);
	/* Applied segments are retired: the journal keeps at most its active segment. */
	assert_true(cg_journal_bytes(f->jr) <= 4096 + 4096);

	/* Again (a restart): nothing is applied twice. */
	assert_int_equal(cg_indexer_replay(f->st, f->jr, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
	assert_int_equal(count_events(f, NULL), 299);

	/* Reopened (a restart): the records after the watermark only. */
	cg_journal_close(f->jr);
	f->jr = NULL;
	assert_int_equal(cg_journal_open(f->jdir, 4096, watermark(f) + 1, &f->jr, err, sizeof(err)), 0);
	make_put(&p, 1000, 2, NULL);
	journal_put(f, &p);
	assert_int_equal(cg_indexer_replay(f->st, f->jr, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_int_equal(watermark(f), 301);
	assert_int_equal(count_events(f, NULL), 301);
}

/* A record that is not a webhook's (a foreign or damaged journal) stops the start with its seq. */
static void test_replay_refuses_foreign_record(void **state)
{
	struct fx *f = *state;
	struct iovec io = {"not a record", 12};
	uint64_t seq = 0;
	assert_int_equal(cg_journal_append(f->jr, &io, 1, &seq), 0);
	size_t n = 0;
	char err[256] = "";
	assert_int_not_equal(cg_indexer_replay(f->st, f->jr, &n, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "journal record 1"));
	assert_int_equal(watermark(f), 0);
}

/* ---- the running indexer: a real store, store queue and loop ---- */

struct rjob {
	struct cg_index_job ij;
	struct cg_intake_put put;
	int calls, last_rc, done; /* done: applied, or given up (ECLOSED) */
};

static int rjob_done(struct cg_index_job *ij, int rc)
{
	struct rjob *r = (struct rjob *)((char *)ij - offsetof(struct rjob, ij));
	r->calls++;
	r->last_rc = rc;
	if (rc == 0 || rc == CG_ECLOSED) {
		r->done = 1;
		return 0;
	}
	return 1; /* held for a retry */
}

/* Journals a put of alert k<i> and makes the index job of its record. */
static void rjob_make(struct fx *f, struct rjob *r, int i)
{
	memset(r, 0, sizeof(*r));
	struct cg_intake_put p;
	make_put(&p, i, 1, NULL);
	void *rec = NULL;
	size_t len = 0;
	assert_int_equal(cg_intake_put_encode(&p, &rec, &len), 0);
	struct iovec io = {rec, len};
	assert_int_equal(cg_journal_append(f->jr, &io, 1, &r->ij.seq), 0);
	free(rec);
	r->put = p;
	r->ij.put = &r->put;
	r->ij.done = rjob_done;
}

/* A loop, a store queue and an indexer on the fixture's store, and n journaled jobs. */
struct running {
	uv_loop_t loop;
	struct cg_storeq *q;
	struct cg_indexer *ix;
};

static void running_start(struct fx *f, struct running *rn, struct rjob *r, int n)
{
	uv_loop_init(&rn->loop);
	assert_int_equal(cg_storeq_create(&rn->loop, f->st, 1, &rn->q), 0);
	assert_int_equal(cg_indexer_create(rn->q, f->jr, &rn->ix), 0);
	for (int i = 0; i < n; i++)
		rjob_make(f, &r[i], i);
}

static void running_stop(struct running *rn, struct rjob *r, int n)
{
	cg_storeq_destroy(rn->q, NULL, NULL);
	uv_run(&rn->loop, UV_RUN_DEFAULT);
	cg_indexer_destroy(rn->ix);
	for (int i = 0; i < n; i++)
		cg_intake_put_cleanup(&r[i].put);
	assert_int_equal(uv_loop_close(&rn->loop), 0);
}

struct gate {
	uv_sem_t started, release;
	int runs;
};

/* A store job that holds the store thread (inside its transaction) until released, once. */
static int gate_run(struct cg_store *st, void *ud)
{
	(void)st;
	struct gate *g = ud;
	if (g->runs++ == 0) {
		uv_sem_post(&g->started);
		uv_sem_wait(&g->release);
	}
	return 0;
}

static void sql(struct fx *f, const char *text)
{
	char path[700];
	snprintf(path, sizeof(path), "%s/casegate.db", f->dir);
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 10000);
	char *err = NULL;
	if (sqlite3_exec(db, text, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", text, err);
	sqlite3_close(db);
}

/* Runs the loop until every job is done (or the deadline), ticking the indexer every 200 ms. */
static int run_until_done(uv_loop_t *loop, struct cg_indexer *ix, struct rjob *r, size_t n, int tick,
			  unsigned deadline_ms)
{
	uint64_t end = uv_hrtime() / 1000000 + deadline_ms, next_tick = 0;
	for (;;) {
		uv_run(loop, UV_RUN_NOWAIT);
		size_t done = 0;
		for (size_t i = 0; i < n; i++)
			done += r[i].done;
		if (done == n)
			return 1;
		uint64_t now = uv_hrtime() / 1000000;
		if (now >= end)
			return 0;
		if (tick && now >= next_tick) {
			cg_indexer_tick(ix);
			next_tick = now + 200;
		}
		struct timespec ts = {0, 2000000};
		nanosleep(&ts, NULL);
	}
}

static void expect_order(struct fx *f, int n)
{
	/* Every alert once, in journal order (ids increase with the seq). */
	struct cg_store_event *evs = NULL;
	size_t m = 0;
	assert_int_equal(cg_store_begin(f->st), 0);
	assert_int_equal(cg_store_claim(f->st, T0 + 1000000000LL, 1000, &evs, &m), 0);
	cg_store_rollback(f->st);
	assert_int_equal(m, (size_t)n);
	int64_t prev = 0;
	for (int i = 0; i < n; i++) {
		char key[32];
		snprintf(key, sizeof(key), "am:k%d", i);
		int64_t id = 0;
		for (size_t k = 0; k < m; k++)
			if (strcmp(evs[k].dedup_key, key) == 0)
				id = evs[k].id;
		if (id <= prev)
			fail_msg("%s: id %lld, want after %lld (journal order)", key, (long long)id, (long long)prev);
		prev = id;
	}
	cg_store_events_free(evs, m);
}

/*
 * The first record's transaction fails at its commit (the watermark write), while the next
 * records are already queued in a job of their own: they must not go in before it (nor move the
 * watermark past it); once the store takes writes, all go in, in order.
 */
static void test_running_never_passes_a_failed_commit(void **state)
{
	struct fx *f = *state;
	struct running rn;
	struct rjob r[3];
	running_start(f, &rn, r, 3);
	uv_loop_t *loop = &rn.loop;
	struct cg_storeq *q = rn.q;
	struct cg_indexer *ix = rn.ix;
	sql(f, "CREATE TRIGGER t_wm_i BEFORE INSERT ON kv WHEN NEW.k = '" CG_INDEXER_KEY "' AND NEW.v = '1' "
	       "BEGIN SELECT RAISE(ABORT, 'test: watermark refused'); END;"
	       "CREATE TRIGGER t_wm_u BEFORE UPDATE ON kv WHEN NEW.k = '" CG_INDEXER_KEY "' AND NEW.v = '1' "
	       "BEGIN SELECT RAISE(ABORT, 'test: watermark refused'); END;");

	struct gate g = {.runs = 0};
	uv_sem_init(&g.started, 0);
	uv_sem_init(&g.release, 0);
	cg_indexer_submit(ix, &r[0].ij);
	assert_int_equal(cg_storeq_submit(q, gate_run, NULL, &g), 0);
	uv_sem_wait(&g.started); /* record 1 was taken, its transaction is open */
	cg_indexer_submit(ix, &r[1].ij);
	cg_indexer_submit(ix, &r[2].ij); /* a second job, queued before the failure is known */
	uv_sem_post(&g.release);
	uint64_t end = uv_hrtime() / 1000000 + 10000;
	while ((r[0].calls == 0 || r[1].calls == 0 || r[2].calls == 0) && uv_hrtime() / 1000000 < end)
		uv_run(loop, UV_RUN_NOWAIT);
	for (int i = 0; i < 3; i++)
		if (r[i].done || r[i].last_rc == 0)
			fail_msg("record %d went in while record 1 was refused", i + 1);
	assert_true(cg_indexer_stalled(ix));
	uint64_t w = 99;
	(void)w;
	/* The store thread is idle now (every job came back): read the store from here. */
	assert_int_equal(watermark(f), 0);
	assert_int_equal(count_events(f, NULL), 0);

	sql(f, "DROP TRIGGER t_wm_i; DROP TRIGGER t_wm_u;");
	assert_true(run_until_done(loop, ix, r, 3, 1, 10000));
	assert_false(cg_indexer_stalled(ix));
	assert_int_equal(watermark(f), 3);
	expect_order(f, 3);
	running_stop(&rn, r, 3);
	uv_sem_destroy(&g.started);
	uv_sem_destroy(&g.release);
}

/* The store cannot even begin a transaction (another process holds its write lock for longer
 * than the busy timeout): the records are held, not forgotten, and go in once it is released. */
static void test_running_survives_a_locked_store(void **state)
{
	struct fx *f = *state;
	struct running rn;
	struct rjob r[3];
	running_start(f, &rn, r, 3);
	struct cg_indexer *ix = rn.ix;
	char path[700];
	snprintf(path, sizeof(path), "%s/casegate.db", f->dir);
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	for (int i = 0; i < 3; i++)
		cg_indexer_submit(ix, &r[i].ij);
	uint64_t end = uv_hrtime() / 1000000 + 30000;
	while (!cg_indexer_stalled(ix) && uv_hrtime() / 1000000 < end) {
		uv_run(&rn.loop, UV_RUN_NOWAIT);
		struct timespec ts = {0, 5000000};
		nanosleep(&ts, NULL);
	}
	assert_true(cg_indexer_stalled(ix));
	assert_int_equal(cg_indexer_backlog(ix), 3);
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(db);
	assert_true(run_until_done(&rn.loop, ix, r, 3, 1, 30000));
	assert_int_equal(watermark(f), 3);
	assert_int_equal(cg_indexer_backlog(ix), 0);
	expect_order(f, 3);
	running_stop(&rn, r, 3);
}

/* Stopping answers every held job (a waiting sender gets its 202; the record stays journaled). */
static void test_stop_settles_held(void **state)
{
	struct fx *f = *state;
	struct running rn;
	struct rjob r[2];
	running_start(f, &rn, r, 2);
	struct cg_indexer *ix = rn.ix;
	sql(f, "CREATE TRIGGER t_ev BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'test: refused'); END;");
	cg_indexer_submit(ix, &r[0].ij);
	uint64_t end = uv_hrtime() / 1000000 + 10000;
	while (!cg_indexer_stalled(ix) && uv_hrtime() / 1000000 < end)
		uv_run(&rn.loop, UV_RUN_NOWAIT);
	assert_true(cg_indexer_stalled(ix));
	cg_indexer_submit(ix, &r[1].ij); /* behind the failure: told at once, and held */
	assert_int_equal(r[1].calls, 1);
	assert_int_equal(r[1].last_rc, CG_EAGAIN);
	cg_indexer_stop(ix);
	assert_true(r[0].done && r[1].done);
	assert_int_equal(r[0].last_rc, CG_ECLOSED);
	assert_int_equal(r[1].last_rc, CG_ECLOSED);
	running_stop(&rn, r, 2);
	/* Still journaled: the next start applies both. */
	sql(f, "DROP TRIGGER t_ev;");
	size_t n = 0;
	char err[256] = "";
	assert_int_equal(cg_indexer_replay(f->st, f->jr, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	expect_order(f, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_round_trip),
		cmocka_unit_test_setup_teardown(test_replay_exactly_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replay_refuses_foreign_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_running_never_passes_a_failed_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_running_survives_a_locked_store, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_settles_held, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
