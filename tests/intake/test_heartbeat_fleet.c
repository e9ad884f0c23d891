/* test_heartbeat_fleet.c: two replicas on one PostgreSQL store watch one source's heartbeat: one raise, one case, one resolve. */
/* labels: integration */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "itest.h"
#include "pgserver.h"

#define NGW 2
#define TITLE "casegate: source 'hb' went silent"

static struct cg_h_pg server;
static int server_state = -1; /* 0 running, 77 skip, -1 failed */

struct fleet {
	struct itest t; /* dir and sim */
	char schema[48];
	char *dsn;
	struct cg_h_proc gw[NGW];
	int port[NGW];
	int alive[NGW];
	char cfg[NGW][600];
};

static const char *sources = "  - name: hb\n"
			     "    type: generic\n"
			     "    auth: { bearer: tok }\n"
			     "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
			     "    case_type: 00000000-0000-0000-0000-000000000001\n"
			     "    heartbeat: { every: 2s, grace: 1s }\n";

static int start_gw(struct fleet *f, int i)
{
	snprintf(f->cfg[i], sizeof(f->cfg[i]), "%s/casegate-%d.yaml", f->t.dir, i);
	if (itest_write_fleet_config(&f->t, f->cfg[i], i, 0, f->dsn, sources) != 0)
		return -1;
	char log[700], bin[512];
	snprintf(log, sizeof(log), "%s/casegate-%d.log", f->t.dir, i);
	snprintf(bin, sizeof(bin), "%s/casegate", cg_h_binary_dir());
	char *const argv[] = {bin, "run", "-c", f->cfg[i], "--datadog-url", f->t.sim_url, NULL};
	if (cg_h_spawn(&f->gw[i], argv, NULL, log) != 0)
		return -1;
	f->port[i] = cg_h_log_port(&f->gw[i], "listening on 127.0.0.1:", 15000);
	if (f->port[i] <= 0) {
		cg_h_dump_log(&f->gw[i]);
		return -1;
	}
	f->alive[i] = 1;
	return 0;
}

/* Stops everything; returns how many replicas did not exit cleanly on SIGTERM. */
static int fleet_stop(struct fleet *f, int failed)
{
	int unclean = 0;
	for (int i = 0; i < NGW; i++) {
		if (!f->alive[i])
			continue;
		int st = cg_h_stop(&f->gw[i], SIGTERM);
		int bad = !WIFEXITED(st) || WEXITSTATUS(st) != 0;
		unclean += bad;
		if (failed || bad) {
			fprintf(stderr, "---- replica %d (exit status 0x%x) ----\n", i, st);
			cg_h_dump_log(&f->gw[i]);
		}
	}
	if (f->dsn) {
		char *sql = cg_h_fmt("DROP SCHEMA %s CASCADE", f->schema);
		cg_h_pg_exec(&server, sql);
		free(sql);
	}
	free(f->dsn);
	itest_teardown(&f->t, 0);
	return unclean;
}

static void let_time_pass(unsigned ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t until = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + ms;
	cg_h_poll(itest_wall_past, &until, ms + 1000);
}

static int pg_ok(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	if (!ok)
		fprintf(stderr, "%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	return ok;
}

/* Lines "needle" in both replicas' logs together. */
static int log_count(struct fleet *f, const char *needle)
{
	int n = 0;
	for (int i = 0; i < NGW; i++) {
		char *text = cg_h_read_file(f->gw[i].log_path, NULL);
		for (const char *p = text; p && (p = strstr(p, needle)) != NULL; p += strlen(needle))
			n++;
		free(text);
	}
	return n;
}

struct pgwait {
	const char *dsn;
	const char *sql;
	long want;
};

static int pg_reached(void *ud)
{
	struct pgwait *w = ud;
	return cg_h_pg_long(w->dsn, w->sql) >= w->want;
}

/*
 * Holds the heartbeats table (EXCLUSIVE: reads go on, updates wait) until both replicas have a
 * decision waiting on it: each listed the same state and decided the same thing, as two replicas
 * racing on a slow database would. Then lets them go at once. 1 when both were caught waiting.
 */
static int race_both(struct fleet *f, void (*between)(struct fleet *f))
{
	PGconn *c = PQconnectdb(f->dsn);
	if (!c || PQstatus(c) != CONNECTION_OK) {
		PQfinish(c);
		return 0;
	}
	int ok = pg_ok(c, "BEGIN") && pg_ok(c, "LOCK TABLE heartbeats IN EXCLUSIVE MODE");
	if (ok && between)
		between(f);
	char *sql = cg_h_fmt("SELECT count(*) FROM pg_locks WHERE relation = '%s.heartbeats'::regclass AND NOT granted",
			     f->schema);
	struct pgwait w = {server.dsn, sql, NGW};
	int both = ok && cg_h_poll(pg_reached, &w, 20000);
	pg_ok(c, "COMMIT");
	PQfinish(c);
	free(sql);
	return both;
}

static void post_traffic(struct fleet *f)
{
	char url[128];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/hooks/hb", f->port[1]);
	const char *headers[] = {"Content-Type: application/json", "Authorization: Bearer tok", NULL};
	const char *body = "{\"labels\":{\"alertname\":\"Disk\"}}";
	struct cg_h_resp r;
	if (cg_h_http("POST", url, headers, body, strlen(body), &r) != 0 || r.status != 202)
		fprintf(stderr, "POST to replica 1: got %ld, want 202\n", (long)r.status);
	cg_h_resp_free(&r);
}

struct case_wait {
	struct itest *t;
	int closed;
};

static int case_is(void *ud)
{
	struct case_wait *w = ud;
	cJSON *all = itest_cases(w->t);
	cJSON *c = itest_find_case(all, TITLE);
	int ok = c && itest_case_closed(c) == w->closed;
	cJSON_Delete(all);
	return ok;
}

static void t_one_case_for_the_fleet(void **state)
{
	(void)state;
	static int nschema;
	struct fleet f;
	memset(&f, 0, sizeof(f));
	if (server_state != 0 || itest_setup(&f.t, "cg-hbfleet") != 0 || itest_start_sim(&f.t, NULL) != 0)
		fail_msg("setup failed");
	snprintf(f.schema, sizeof(f.schema), "hbfleet_%ld_%d", (long)getpid(), nschema++);
	f.dsn = cg_h_pg_schema_dsn(&server, f.schema);
	int setup_ok = f.dsn != NULL;
	for (int i = 0; i < NGW && setup_ok; i++)
		setup_ok = start_gw(&f, i) == 0;
	/* Both replicas registered the source (one row: the clock started once). */
	struct pgwait reg = {f.dsn, "SELECT count(*) FROM heartbeats", 1};
	setup_ok = setup_ok && cg_h_poll(pg_reached, &reg, 15000);
	/* Each replica registers at its first check, at start: a second on, both have (the lock
	 * below would hold back a registration, and then only one replica could race). */
	if (setup_ok)
		let_time_pass(1000);
	/* Never heard: both decide to raise at the deadline, at once. */
	int raced = setup_ok && race_both(&f, NULL);
	struct case_wait open = {&f.t, 0};
	int opened = raced && cg_h_poll(case_is, &open, 20000);
	if (opened)
		let_time_pass(3500);
	int ncases = itest_count_titled(&f.t, TITLE);
	int raises = log_count(&f, "source went silent");
	long fires = cg_h_pg_long(f.dsn, "SELECT fires FROM cases WHERE dedup_key = 'hb:casegate-heartbeat'");
	/* Traffic at replica 1: both see it and decide to resolve, at once. */
	int raced2 = opened && race_both(&f, post_traffic);
	struct case_wait closed = {&f.t, 1};
	int closed_ok = raced2 && cg_h_poll(case_is, &closed, 20000);
	int resolves = log_count(&f, "source heard again");
	fprintf(stderr,
		"[heartbeat fleet] 2 replicas: raise race caught %d, %d silent case(s), %d raise event(s), fires %ld; "
		"resolve race caught %d, closed %d, %d resolve event(s)\n",
		raced, ncases, raises, fires, raced2, closed_ok, resolves);
	int bad = !setup_ok || !raced || !opened || ncases != 1 || raises != 1 || fires != 1 || !raced2 || !closed_ok ||
		  resolves != 1;
	int unclean = fleet_stop(&f, bad);
	if (unclean)
		fail_msg("%d replica(s) did not exit cleanly", unclean);
	if (bad)
		fail_msg("two replicas: got setup %d, raise race %d, opened %d, %d case(s), %d raise(s), fires %ld, "
			 "resolve race %d, closed %d, %d resolve(s); want one of each",
			 setup_ok, raced, opened, ncases, raises, fires, raced2, closed_ok, resolves);
}

int main(void)
{
	server_state = cg_h_pg_start(&server);
	if (server_state == 77) {
		cg_h_skip_note("postgresql", "main", "no PostgreSQL server binaries (install postgresql: deploy/install-deps.sh test)");
		cg_h_pg_destroy(&server);
		return 77;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_one_case_for_the_fleet),
	};
	int failed = cmocka_run_group_tests_name("heartbeat on a PostgreSQL fleet", tests, NULL, NULL);
	cg_h_pg_destroy(&server);
	return cg_h_tests_done(failed ? 1 : 0, sizeof(tests) / sizeof(tests[0]));
}
