/* test_store_pg.c: the store conformance suite on PostgreSQL (a private server), plus migrations. */
/* labels: integration */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "err.h"
#include "harness.h"
#include "pgserver.h"
#include "store.h"
#include "store_suite.h"

static struct cg_h_pg server;
static int nschemas;

struct loc {
	char schema[64];
	char *dsn;
};

static int pg_open_as(struct loc *l, const char *name, int64_t lease_ms, int listen, struct cg_store **out)
{
	struct cg_store_pg_opts o = {.dsn = l->dsn, .name = name, .lease_ms = lease_ms, .migrate = 1, .listen = listen};
	char err[512];
	int rc = cg_store_pg_open(&o, out, err, sizeof(err));
	if (rc)
		fprintf(stderr, "open %s: %s\n", l->schema, err);
	return rc;
}

static int pg_reopen(void *loc, struct cg_store **out)
{
	/* Same replica name: a restart releases that replica's claims, as SQLite's open does. */
	return pg_open_as(loc, "suite-main", 0, 0, out);
}

static int pg_create(void **out_loc, struct cg_store **out)
{
	struct loc *l = calloc(1, sizeof(*l));
	if (!l)
		return CG_ENOMEM;
	snprintf(l->schema, sizeof(l->schema), "suite_%ld_%d", (long)getpid(), nschemas++);
	l->dsn = cg_h_pg_schema_dsn(&server, l->schema);
	if (!l->dsn) {
		free(l);
		return CG_EIO;
	}
	int rc = pg_reopen(l, out);
	if (rc) {
		free(l->dsn);
		free(l);
		return rc;
	}
	*out_loc = l;
	return 0;
}

static void pg_remove(void *loc)
{
	struct loc *l = loc;
	char *sql = cg_h_fmt("DROP SCHEMA %s CASCADE", l->schema);
	if (sql)
		cg_h_pg_exec(&server, sql);
	free(sql);
	free(l->dsn);
	free(l);
}

static int pg_peer(void *loc, const char *name, int64_t lease_ms, struct cg_store **out)
{
	return pg_open_as(loc, name, lease_ms, 1, out);
}

/* Migrations: versioned, idempotent, refused when the schema is behind and migrate is off. */
static void t_migrate(void **state)
{
	(void)state;
	char *dsn = cg_h_pg_schema_dsn(&server, "mig");
	assert_non_null(dsn);
	struct cg_store_pg_opts o = {.dsn = dsn, .name = "m", .migrate = 0};
	struct cg_store *st = NULL;
	char err[512] = "";
	int rc = cg_store_pg_open(&o, &st, err, sizeof(err));
	if (rc != CG_EINVAL || !strstr(err, "casegate migrate"))
		fail_msg("open of an empty database without migrate: got %d (%s), want CG_EINVAL naming `casegate migrate`",
			 rc, err);
	int from = -1, to = -1;
	rc = cg_store_pg_migrate(dsn, &from, &to, err, sizeof(err));
	if (rc || from != 0 || to != cg_store_pg_schema_version())
		fail_msg("migrate: got rc %d from %d to %d (%s), want 0 from 0 to %d", rc, from, to, err,
			 cg_store_pg_schema_version());
	rc = cg_store_pg_migrate(dsn, &from, &to, err, sizeof(err));
	if (rc || from != to)
		fail_msg("second migrate: got rc %d from %d to %d, want a no-op", rc, from, to);
	rc = cg_store_pg_open(&o, &st, err, sizeof(err));
	if (rc)
		fail_msg("open after migrate: got %d (%s), want 0", rc, err);
	cg_store_close(st);
	/* A newer schema than this build is refused. */
	char *sql = cg_h_fmt("UPDATE mig.schema_version SET version = %d", cg_store_pg_schema_version() + 1);
	assert_int_equal(cg_h_pg_exec(&server, sql), 0);
	free(sql);
	rc = cg_store_pg_migrate(dsn, NULL, NULL, err, sizeof(err));
	if (rc != CG_EINVAL || !strstr(err, "newer"))
		fail_msg("migrate over a newer schema: got %d (%s), want CG_EINVAL", rc, err);
	cg_h_pg_exec(&server, "DROP SCHEMA mig CASCADE");
	free(dsn);
	/* Unreachable database: a clear error, no hang. */
	o.dsn = "host=127.0.0.1 port=1 user=x dbname=x connect_timeout=2";
	rc = cg_store_pg_open(&o, &st, err, sizeof(err));
	if (rc != CG_EIO)
		fail_msg("open of an unreachable database: got %d, want CG_EIO", rc);
}

/* The migration that added the claim rank (rank_ms) made this version. */
#define RANK_SCHEMA 6

/*
 * A database of the version before (no rank_ms, events_ready on next_ms) with events queued
 * migrates to the claim order by priority and age (ranked with the default aging, 10 min).
 */
static void t_migrate_queue_before_rank(void **state)
{
	(void)state;
	if (cg_store_pg_schema_version() < RANK_SCHEMA)
		fail_msg("schema version: got %d, want >= %d", cg_store_pg_schema_version(), RANK_SCHEMA);
	char *dsn = cg_h_pg_schema_dsn(&server, "mig4");
	assert_non_null(dsn);
	char err[512] = "";
	int from = -1, to = -1;
	int rc = cg_store_pg_migrate(dsn, NULL, NULL, err, sizeof(err));
	if (rc)
		fail_msg("migrate: got %d (%s), want 0", rc, err);
	/* Back to the version before the rank, then a queue as such a casegate left it. */
	const long long t0 = 1700000000000LL, min = 60000;
	char *sql = cg_h_fmt(
		"DROP INDEX mig4.events_ready; DROP INDEX mig4.events_due; DROP INDEX mig4.events_priority;"
		"ALTER TABLE mig4.events DROP COLUMN rank_ms;"
		"CREATE INDEX events_ready ON mig4.events(next_ms, id) WHERE is_head;"
		"INSERT INTO mig4.events (id, source, dedup_key, status, priority, payload, received_ms, next_ms, is_head)"
		" VALUES (1, 's', 'p3', 0, 3, '{}', %lld, %lld, true), (2, 's', 'r1', 1, 1, '{}', %lld, %lld, true),"
		" (3, 's', 'p1', 0, 1, '{}', %lld, %lld, true), (4, 's', 'old5', 0, 5, '{}', %lld, %lld, true),"
		" (5, 's', 'p1', 0, 1, '{}', %lld, %lld, false), (6, 's', 'none', 0, 0, '{}', %lld, %lld, true);"
		"SELECT setval('mig4.events_id_seq', 6);"
		"UPDATE mig4.schema_version SET version = %d",
		t0, t0, t0, t0, t0, t0, t0 - 45 * min, t0, t0, t0, t0, t0, RANK_SCHEMA - 1);
	assert_non_null(sql);
	assert_int_equal(cg_h_pg_exec(&server, sql), 0);
	free(sql);
	rc = cg_store_pg_migrate(dsn, &from, &to, err, sizeof(err));
	if (rc || from != RANK_SCHEMA - 1 || to != cg_store_pg_schema_version())
		fail_msg("migrate: got rc %d from %d to %d (%s), want 0 from %d to %d", rc, from, to, err, RANK_SCHEMA - 1,
			 cg_store_pg_schema_version());
	struct cg_store_pg_opts o = {.dsn = dsn, .name = "m4", .migrate = 0};
	struct cg_store *st = NULL;
	if ((rc = cg_store_pg_open(&o, &st, err, sizeof(err))))
		fail_msg("open after migrate: got %d (%s), want 0", rc, err);
	const int64_t want[] = {4, 3, 2, 1, 6};
	cg_store_suite_expect_claim(st, t0, want, 5, "claim after migration (old P5, P1, P1 resolution, P3, none)");
	cg_store_close(st);
	cg_h_pg_exec(&server, "DROP SCHEMA mig4 CASCADE");
	free(dsn);
}

/* `casegate migrate -c FILE`: creates the schema, then has nothing to do. */
static void t_migrate_cli(void **state)
{
	(void)state;
	char *dir = cg_h_tmpdir("cg-migrate");
	char *dsn = cg_h_pg_schema_dsn(&server, "cli");
	assert_non_null(dir);
	assert_non_null(dsn);
	char *cfg = cg_h_fmt("%s/c.yaml", dir);
	char *text = cg_h_fmt("listen: 127.0.0.1:0\nstore:\n  backend: postgres\n  dsn: \"%s\"\nsources:\n"
			      "  - name: s\n    type: generic\n    auth: none\n"
			      "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
			      "    case_type: 00000000-0000-0000-0000-000000000001\n",
			      dsn);
	assert_int_equal(cg_h_write_file(cfg, text, strlen(text)), 0);
	const char *want[] = {"migrated from version 0 to", "nothing to do"};
	for (int i = 0; i < 2; i++) {
		char bin[512], log[600];
		snprintf(bin, sizeof(bin), "%s/casegate", cg_h_binary_dir());
		snprintf(log, sizeof(log), "%s/migrate-%d.log", dir, i);
		char *const argv[] = {bin, "migrate", "-c", cfg, NULL};
		struct cg_h_proc p;
		assert_int_equal(cg_h_spawn(&p, argv, NULL, log), 0);
		int st = cg_h_stop(&p, 0);
		char *out = cg_h_read_file(log, NULL);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || !out || !strstr(out, want[i]))
			fail_msg("casegate migrate #%d: got status %d, output '%s', want 0 and '%s'", i + 1, st,
				 out ? out : "", want[i]);
		free(out);
	}
	cg_h_pg_exec(&server, "DROP SCHEMA cli CASCADE");
	cg_h_rmrf(dir);
	free(dir);
	free(dsn);
	free(cfg);
	free(text);
}

/* ---- deferred enqueues: a transaction's events go in one INSERT, before reads and at commit ---- */

static struct cg_store_event ev_of(const char *key, const char *payload)
{
	struct cg_store_event e = {0};
	e.source = (char *)"defer";
	e.dedup_key = (char *)key;
	e.priority = 3;
	e.payload = (char *)payload;
	e.received_ms = e.next_ms = 1000;
	return e;
}

static struct cg_store *open_defer(struct loc *l, const char *schema, const char *name)
{
	struct cg_store *st = NULL;
	snprintf(l->schema, sizeof(l->schema), "%s", schema);
	if (!l->dsn)
		l->dsn = cg_h_pg_schema_dsn(&server, schema);
	assert_non_null(l->dsn);
	assert_int_equal(pg_open_as(l, name, 0, 0, &st), 0);
	return st;
}

static void close_defer(struct loc *l, struct cg_store *a, struct cg_store *b)
{
	cg_store_close(a);
	cg_store_close(b);
	char *sql = cg_h_fmt("DROP SCHEMA %s CASCADE", l->schema);
	cg_h_pg_exec(&server, sql);
	free(sql);
	free(l->dsn);
}

/* What a transaction enqueued is there for its own reads (a claim, the queue's stats), with
 * its id known at once; and what it enqueued after a read is there at commit. */
static void t_defer_read(void **state)
{
	(void)state;
	struct loc l = {0};
	struct cg_store *st = open_defer(&l, "defer_read", "r");
	struct cg_store_event e1 = ev_of("k1", "{}"), e2 = ev_of("k2", "{}");
	assert_int_equal(cg_store_begin(st), 0);
	assert_int_equal(cg_store_enqueue(st, &e1, 1), 0);
	if (e1.id <= 0)
		fail_msg("enqueue in a transaction: got id %" PRId64 ", want one at once", e1.id);
	struct cg_store_stats stats = {0};
	assert_int_equal(cg_store_stats(st, &stats), 0);
	if (stats.pending != 1)
		fail_msg("stats in the transaction that enqueued: got %" PRId64 " pending, want 1", (int64_t)stats.pending);
	struct cg_store_event *v = NULL;
	size_t n = 0;
	assert_int_equal(cg_store_claim(st, 2000, 10, &v, &n), 0);
	if (n != 1 || v[0].id != e1.id)
		fail_msg("claim in the transaction that enqueued: got %zu event(s), want event %" PRId64, n, e1.id);
	cg_store_events_free(v, n);
	assert_int_equal(cg_store_enqueue(st, &e2, 1), 0);
	assert_int_equal(cg_store_commit(st), 0);
	long rows = cg_h_pg_long(l.dsn, "SELECT count(*) FROM events");
	if (rows != 2)
		fail_msg("after commit: got %ld events, want 2", rows);
	close_defer(&l, st, NULL);
}

/* A deferred INSERT that fails fails the commit: nothing of the transaction stays (not its seen
 * id either), and the store works on. */
static void t_defer_commit_fails(void **state)
{
	(void)state;
	struct loc l = {0};
	struct cg_store *st = open_defer(&l, "defer_fail", "r");
	struct cg_store_event ok = ev_of("k1", "{}"), bad = ev_of("k2", "{\"t\":\"\xff\xfe\"}"); /* not UTF-8 */
	int was = -1;
	assert_int_equal(cg_store_begin(st), 0);
	assert_int_equal(cg_store_seen(st, "defer", "msg-1", 1000, &was), 0);
	assert_int_equal(cg_store_enqueue(st, &ok, 1), 0);
	assert_int_equal(cg_store_enqueue(st, &bad, 1), 0); /* deferred: its failure comes at commit */
	int rc = cg_store_commit(st);
	if (rc == 0)
		fail_msg("commit of a transaction whose deferred INSERT fails: got 0, want an error");
	cg_store_rollback(st);
	long rows = cg_h_pg_long(l.dsn, "SELECT count(*) FROM events");
	long seen = cg_h_pg_long(l.dsn, "SELECT count(*) FROM seen");
	if (rows != 0 || seen != 0)
		fail_msg("after the failed commit: got %ld events and %ld seen ids, want none", rows, seen);
	ok = ev_of("k1", "{}");
	assert_int_equal(cg_store_enqueue(st, &ok, 1), 0);
	rows = cg_h_pg_long(l.dsn, "SELECT count(*) FROM events");
	if (rows != 1)
		fail_msg("enqueue after the failed commit: got %ld events, want 1", rows);
	close_defer(&l, st, NULL);
}

/*
 * The first enqueue of a transaction takes its keys' locks at once, not when its rows go out:
 * another replica's enqueue of the same key waits for this transaction (and gives up with
 * CG_EAGAIN after lock_timeout), so it cannot slip in an event with a higher id.
 */
static void t_defer_lock(void **state)
{
	(void)state;
	struct loc l = {0};
	struct cg_store *a = open_defer(&l, "defer_lock", "ra");
	struct cg_store *b = NULL;
	assert_int_equal(pg_open_as(&l, "rb", 0, 0, &b), 0);
	struct cg_store_event ea = ev_of("k", "{\"from\":\"a\"}"), eb = ev_of("k", "{\"from\":\"b\"}");
	assert_int_equal(cg_store_begin(a), 0);
	assert_int_equal(cg_store_enqueue(a, &ea, 1), 0);
	int rc = cg_store_enqueue(b, &eb, 1); /* b's own transaction */
	if (rc != CG_EAGAIN)
		fail_msg("enqueue of key k while a's transaction has enqueued k first: got %d (%s), want CG_EAGAIN "
			 "(lock timeout)",
			 rc, cg_strerror(rc));
	assert_int_equal(cg_store_commit(a), 0);
	eb = ev_of("k", "{\"from\":\"b\"}");
	assert_int_equal(cg_store_enqueue(b, &eb, 1), 0);
	if (eb.id <= ea.id)
		fail_msg("b's enqueue after a's commit: got id %" PRId64 ", want above a's %" PRId64, eb.id, ea.id);
	close_defer(&l, a, b);
}

/*
 * The next enqueues of a transaction take ids reserved ahead, before their keys' locks: when
 * another replica commits an event of such a key meanwhile (so with a higher id), the deferred
 * INSERT is refused with CG_EAGAIN, and the job run again alone gets an id above that event's:
 * per-key order stays the order of the commits.
 */
static void t_defer_order(void **state)
{
	(void)state;
	struct loc l = {0};
	struct cg_store *a = open_defer(&l, "defer_order", "ra");
	struct cg_store *b = NULL;
	assert_int_equal(pg_open_as(&l, "rb", 0, 0, &b), 0);
	struct cg_store_event ea = ev_of("k", "{\"from\":\"a\"}"), eb = ev_of("k", "{\"from\":\"b\"}");
	struct cg_store_event other = ev_of("other", "{}");
	/* A transaction of two events first: the next one reserves as many ids ahead. */
	struct cg_store_event warm[2] = {ev_of("w1", "{}"), ev_of("w2", "{}")};
	assert_int_equal(cg_store_begin(a), 0);
	assert_int_equal(cg_store_enqueue(a, &warm[0], 1), 0);
	assert_int_equal(cg_store_enqueue(a, &warm[1], 1), 0);
	assert_int_equal(cg_store_commit(a), 0);
	assert_int_equal(cg_store_begin(a), 0);
	assert_int_equal(cg_store_enqueue(a, &other, 1), 0);
	assert_int_equal(cg_store_enqueue(a, &ea, 1), 0);
	assert_int_equal(cg_store_enqueue(b, &eb, 1), 0); /* b's own transaction: committed */
	if (eb.id <= ea.id)
		fail_msg("setup: b's id %" PRId64 " should be above a's reserved %" PRId64, eb.id, ea.id);
	int rc = cg_store_commit(a);
	if (rc != CG_EAGAIN)
		fail_msg("commit of an event of key k with an id below b's later one: got %d (%s), want CG_EAGAIN", rc,
			 cg_strerror(rc));
	cg_store_rollback(a);
	long rows = cg_h_pg_long(l.dsn, "SELECT count(*) FROM events WHERE dedup_key IN ('k', 'other')");
	if (rows != 1)
		fail_msg("after the refused commit: got %ld events, want b's only", rows);
	ea = ev_of("k", "{\"from\":\"a\"}");
	assert_int_equal(cg_store_begin(a), 0);
	assert_int_equal(cg_store_enqueue(a, &ea, 1), 0);
	assert_int_equal(cg_store_commit(a), 0);
	if (ea.id <= eb.id)
		fail_msg("run again alone: got id %" PRId64 ", want above b's %" PRId64, ea.id, eb.id);
	struct cg_store_event *v = NULL;
	size_t n = 0;
	assert_int_equal(cg_store_claim(a, 2000, 10, &v, &n), 0);
	int64_t k_head = 0;
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].dedup_key, "k") == 0)
			k_head = k_head ? -1 : v[i].id;
	if (k_head != eb.id)
		fail_msg("claim: got %" PRId64 " as the head of k, want b's %" PRId64 " (and k once)", k_head, eb.id);
	cg_store_events_free(v, n);
	close_defer(&l, a, b);
}

/* An event's payload (an alert's JSON, a few kB) is stored as it is: compressing it cost more
 * of PostgreSQL's CPU per webhook than anything else (schema 7: toast_tuple_target). */
static void t_payload_not_compressed(void **state)
{
	(void)state;
	struct loc l = {0};
	struct cg_store *st = open_defer(&l, "payload_plain", "r");
	char payload[3001];
	memset(payload, 'a', sizeof(payload) - 1); /* pglz would make it a few dozen bytes */
	payload[sizeof(payload) - 1] = '\0';
	struct cg_store_event e = ev_of("k", payload);
	assert_int_equal(cg_store_enqueue(st, &e, 1), 0);
	long stored = cg_h_pg_long(l.dsn, "SELECT pg_column_size(payload) FROM events");
	if (stored < 3000)
		fail_msg("a 3000-byte payload takes %ld bytes in its row, want >= 3000 (not compressed)", stored);
	close_defer(&l, st, NULL);
}

int main(void)
{
	int rc = cg_h_pg_start(&server);
	if (rc == 77) {
		cg_h_skip_note("postgresql", "main", "no PostgreSQL server binaries (install postgresql: deploy/install-deps.sh test)");
		return 77;
	}
	if (rc)
		return 1;
	const struct CMUnitTest tests[] = {cmocka_unit_test(t_migrate), cmocka_unit_test(t_migrate_queue_before_rank),
					   cmocka_unit_test(t_migrate_cli)};
	int failed = cmocka_run_group_tests_name("postgres migrations", tests, NULL, NULL);
	const struct CMUnitTest defer[] = {cmocka_unit_test(t_defer_read), cmocka_unit_test(t_defer_commit_fails),
					   cmocka_unit_test(t_defer_lock), cmocka_unit_test(t_defer_order),
					   cmocka_unit_test(t_payload_not_compressed)};
	failed += cmocka_run_group_tests_name("postgres deferred enqueues", defer, NULL, NULL);
	struct cg_store_suite_backend b = {
		.name = "postgres",
		.create = pg_create,
		.reopen = pg_reopen,
		.remove = pg_remove,
		.set_full = NULL, /* a full disk cannot be imitated per database */
		.bulk_events = 2000,
		.open_peer = pg_peer,
	};
	failed += cg_store_suite_run(&b);
	cg_h_pg_destroy(&server);
	return failed ? 1 : 0;
}
