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
#include <sys/uio.h>

#include "err.h"
#include "harness.h"
#include "indexer.h"
#include "journal.h"
#include "store.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_round_trip),
		cmocka_unit_test_setup_teardown(test_replay_exactly_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replay_refuses_foreign_record, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
