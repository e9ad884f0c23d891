/* fleet.h: two casegate replicas on one PostgreSQL store (a schema of a test server) and one simulator, for fleet tests. */
#ifndef CG_FLEET_H
#define CG_FLEET_H

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include <libpq-fe.h>

#include "itest.h"
#include "pgserver.h"

#define ITEST_FLEET_N 2

/* The test program's PostgreSQL server (itest_fleet_main starts it) and its state: 0 running,
 * 77 no PostgreSQL installed, -1 failed. */
static struct cg_h_pg itest_fleet_server;
static int itest_fleet_server_state = -1;

struct itest_fleet {
	struct itest t; /* dir and sim */
	struct cg_h_pg *server;
	const char *sources; /* the replicas' sources: YAML */
	char schema[48];
	char *dsn;
	struct cg_h_proc gw[ITEST_FLEET_N];
	int port[ITEST_FLEET_N];
	int alive[ITEST_FLEET_N];
	char cfg[ITEST_FLEET_N][600];
};

/* Sets f up: its directory, the simulator, a fresh schema named "<prefix>_<pid>_<n>" on server.
 * 0 or -1. */
static inline int itest_fleet_setup(struct itest_fleet *f, struct cg_h_pg *server, const char *prefix,
				    const char *sources)
{
	static int nschema;
	memset(f, 0, sizeof(*f));
	f->server = server;
	f->sources = sources;
	if (itest_setup(&f->t, prefix) != 0 || itest_start_sim(&f->t, NULL) != 0)
		return -1;
	snprintf(f->schema, sizeof(f->schema), "%s_%ld_%d", prefix, (long)getpid(), nschema++);
	for (char *p = f->schema; *p; p++)
		if (*p == '-')
			*p = '_';
	f->dsn = cg_h_pg_schema_dsn(server, f->schema);
	return f->dsn ? 0 : -1;
}

/* Starts replica i (casegate run against the schema and the simulator). 0 or -1. */
static inline int itest_fleet_start(struct itest_fleet *f, int i)
{
	snprintf(f->cfg[i], sizeof(f->cfg[i]), "%s/casegate-%d.yaml", f->t.dir, i);
	if (itest_write_fleet_config(&f->t, f->cfg[i], i, 0, f->dsn, f->sources) != 0)
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

/* Stops everything, drops the schema; returns how many replicas did not exit cleanly on
 * SIGTERM. Their logs are printed when failed, or when they did not. */
static inline int itest_fleet_stop(struct itest_fleet *f, int failed)
{
	int unclean = 0;
	for (int i = 0; i < ITEST_FLEET_N; i++) {
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
		cg_h_pg_exec(f->server, sql);
		free(sql);
	}
	free(f->dsn);
	itest_teardown(&f->t, 0);
	return unclean;
}

/* Runs sql on connection c; 1 when it succeeded (else the error is printed). */
static inline int itest_pg_ok(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	if (!ok)
		fprintf(stderr, "%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	return ok;
}

/* A query to wait for with cg_h_poll(itest_pg_reached, &w, ms): its number at least want. */
struct itest_pgwait {
	const char *dsn;
	const char *sql;
	long want;
};

static inline int itest_pg_reached(void *ud)
{
	struct itest_pgwait *w = ud;
	return cg_h_pg_long(w->dsn, w->sql) >= w->want;
}

/* A fleet test program's main: starts the server, runs the group named name, stops the server.
 * 77 (skipped, noted) when PostgreSQL is not installed. */
static inline int itest_fleet_main(const char *name, const struct CMUnitTest *tests, size_t n)
{
	itest_fleet_server_state = cg_h_pg_start(&itest_fleet_server);
	if (itest_fleet_server_state == 77) {
		cg_h_skip_note("postgresql", "main", "no PostgreSQL server binaries (install postgresql: deploy/install-deps.sh test)");
		cg_h_pg_destroy(&itest_fleet_server);
		return 77;
	}
	int failed = _cmocka_run_group_tests(name, tests, n, NULL, NULL);
	cg_h_pg_destroy(&itest_fleet_server);
	return cg_h_tests_done(failed ? 1 : 0, n);
}

#endif
