/* pgserver.c: starts a private PostgreSQL server for a test (as an unprivileged user when run as root). */
#include "pgserver.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "harness.h"

static int find_bindir(char *out, size_t len)
{
	const char *env = getenv("CG_PG_BINDIR");
	char path[600];
	if (env && *env) {
		snprintf(path, sizeof(path), "%s/initdb", env);
		if (access(path, X_OK) != 0)
			return -1;
		snprintf(out, len, "%s", env);
		return 0;
	}
	glob_t g;
	if (glob("/usr/lib/postgresql/*/bin/initdb", 0, NULL, &g) != 0)
		return -1;
	/* Highest major version: compare numerically (9 < 15). */
	const char *best = NULL;
	long bestv = -1;
	for (size_t i = 0; i < g.gl_pathc; i++) {
		long v = strtol(g.gl_pathv[i] + strlen("/usr/lib/postgresql/"), NULL, 10);
		if (v > bestv && access(g.gl_pathv[i], X_OK) == 0) {
			bestv = v;
			best = g.gl_pathv[i];
		}
	}
	int rc = -1;
	if (best) {
		size_t l = strlen(best) - strlen("/initdb");
		snprintf(out, len, "%.*s", (int)l, best);
		rc = 0;
	}
	globfree(&g);
	return rc;
}

/* Runs argv as pg->uid (when set), output appended to log; returns the exit status or -1. */
static int run_as(const struct cg_h_pg *pg, char *const argv[], const char *log)
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		if (pg->uid >= 0) {
			if (setgroups(0, NULL) != 0 || setgid((gid_t)pg->gid) != 0 || setuid((uid_t)pg->uid) != 0)
				_exit(126);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	int st = 0;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void cg_h_pg_dump_log(const struct cg_h_pg *pg)
{
	const char *names[] = {"initdb.log", "server.log", "pg_ctl.log"};
	for (size_t i = 0; i < 3 && pg->dir; i++) {
		char *p = cg_h_fmt("%s/%s", pg->dir, names[i]);
		char *t = p ? cg_h_read_file(p, NULL) : NULL;
		if (t)
			fprintf(stderr, "---- %s ----\n%s\n", names[i], t);
		free(t);
		free(p);
	}
}

static int pg_ctl_start(struct cg_h_pg *pg)
{
	char ctl[600], data[600], log[600], ctllog[600], opts[1200];
	snprintf(ctl, sizeof(ctl), "%s/pg_ctl", pg->bindir);
	snprintf(data, sizeof(data), "%s/data", pg->dir);
	snprintf(log, sizeof(log), "%s/server.log", pg->dir);
	snprintf(ctllog, sizeof(ctllog), "%s/pg_ctl.log", pg->dir);
	/* Durability is not under test here: fsync off keeps initdb and commits fast. */
	snprintf(opts, sizeof(opts),
		 "-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off -c synchronous_commit=off"
		 " -c full_page_writes=off -c max_connections=80 -c shared_buffers=32MB",
		 pg->port, pg->dir);
	char *const argv[] = {ctl, "-D", data, "-l", log, "-w", "-t", "60", "-o", opts, "start", NULL};
	return run_as(pg, argv, ctllog) == 0 ? 0 : -1;
}

int cg_h_pg_start(struct cg_h_pg *pg)
{
	memset(pg, 0, sizeof(*pg));
	pg->uid = pg->gid = -1;
	if (find_bindir(pg->bindir, sizeof(pg->bindir)) != 0)
		return 77;
	pg->dir = cg_h_tmpdir("cg-pg");
	if (!pg->dir)
		return -1;
	if (geteuid() == 0) {
		/* PostgreSQL refuses to run as root. */
		struct passwd *pw = getpwnam("nobody");
		if (!pw) {
			fprintf(stderr, "pgserver: running as root and no user 'nobody' to run PostgreSQL as\n");
			return -1;
		}
		pg->uid = (int)pw->pw_uid;
		pg->gid = (int)pw->pw_gid;
		if (chown(pg->dir, pw->pw_uid, pw->pw_gid) != 0 || chmod(pg->dir, 0755) != 0) {
			fprintf(stderr, "pgserver: chown %s: %s\n", pg->dir, strerror(errno));
			return -1;
		}
	}
	char initdb[600], data[600], log[600];
	snprintf(initdb, sizeof(initdb), "%s/initdb", pg->bindir);
	snprintf(data, sizeof(data), "%s/data", pg->dir);
	snprintf(log, sizeof(log), "%s/initdb.log", pg->dir);
	char *const argv[] = {initdb, "-D", data, "-A", "trust", "-U", "casegate", "-E", "UTF8", "--locale=C", "-N", NULL};
	if (run_as(pg, argv, log) != 0) {
		fprintf(stderr, "pgserver: initdb failed\n");
		cg_h_pg_dump_log(pg);
		return -1;
	}
	for (int attempt = 0; attempt < 3; attempt++) {
		pg->port = cg_h_free_port();
		if (pg->port <= 0)
			continue;
		if (pg_ctl_start(pg) == 0) {
			pg->running = 1;
			snprintf(pg->dsn, sizeof(pg->dsn), "host=127.0.0.1 port=%d user=casegate dbname=postgres", pg->port);
			return 0;
		}
	}
	fprintf(stderr, "pgserver: the server did not start\n");
	cg_h_pg_dump_log(pg);
	return -1;
}

int cg_h_pg_stop(struct cg_h_pg *pg)
{
	if (!pg->running)
		return 0;
	char ctl[600], data[600], ctllog[600];
	snprintf(ctl, sizeof(ctl), "%s/pg_ctl", pg->bindir);
	snprintf(data, sizeof(data), "%s/data", pg->dir);
	snprintf(ctllog, sizeof(ctllog), "%s/pg_ctl.log", pg->dir);
	char *const argv[] = {ctl, "-D", data, "-m", "fast", "-w", "-t", "60", "stop", NULL};
	int rc = run_as(pg, argv, ctllog);
	if (rc == 0)
		pg->running = 0;
	return rc == 0 ? 0 : -1;
}

int cg_h_pg_restart(struct cg_h_pg *pg)
{
	if (pg->running)
		return 0;
	if (pg_ctl_start(pg) != 0) {
		cg_h_pg_dump_log(pg);
		return -1;
	}
	pg->running = 1;
	return 0;
}

void cg_h_pg_destroy(struct cg_h_pg *pg)
{
	if (!pg->dir)
		return;
	cg_h_pg_stop(pg);
	cg_h_rmrf(pg->dir);
	free(pg->dir);
	pg->dir = NULL;
}

static void quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

int cg_h_pg_exec(const struct cg_h_pg *pg, const char *sql)
{
	PGconn *c = PQconnectdb(pg->dsn);
	if (!c || PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "pgserver: connect: %s", c ? PQerrorMessage(c) : "out of memory\n");
		PQfinish(c);
		return -1;
	}
	PQsetNoticeProcessor(c, quiet, NULL); /* DROP ... CASCADE lists every object */
	PGresult *r = PQexec(c, sql);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
	if (!ok)
		fprintf(stderr, "pgserver: %s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
	return ok ? 0 : -1;
}

long cg_h_pg_long(const char *dsn, const char *sql)
{
	PGconn *c = PQconnectdb(dsn);
	long v = -1;
	if (c && PQstatus(c) == CONNECTION_OK) {
		PGresult *r = PQexec(c, sql);
		if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
			v = strtol(PQgetvalue(r, 0, 0), NULL, 10);
		PQclear(r);
	}
	PQfinish(c);
	return v;
}

char *cg_h_pg_schema_dsn(const struct cg_h_pg *pg, const char *schema)
{
	char *sql = cg_h_fmt("CREATE SCHEMA IF NOT EXISTS %s", schema);
	int rc = sql ? cg_h_pg_exec(pg, sql) : -1;
	free(sql);
	if (rc)
		return NULL;
	return cg_h_fmt("%s options='-csearch_path=%s'", pg->dsn, schema);
}
