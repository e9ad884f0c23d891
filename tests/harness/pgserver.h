/* pgserver.h: a throwaway PostgreSQL server for tests (initdb + pg_ctl in a temp dir, loopback port). */
#ifndef CG_PGSERVER_H
#define CG_PGSERVER_H

struct cg_h_pg {
	char *dir;          /* temp dir holding data/, the socket and the server log */
	char bindir[512];   /* where initdb and pg_ctl live */
	char dsn[768];      /* admin DSN (superuser "casegate", database "postgres", TCP loopback) */
	int port;
	int running;
	int uid, gid;       /* the unprivileged user the server runs as when the test is root; -1 otherwise */
};

/*
 * Creates and starts a server on 127.0.0.1 and a free port (fsync off: tests only).
 * Returns 0, 77 when no PostgreSQL binaries are installed (the caller skips), -1 on failure
 * (server log printed). CG_PG_BINDIR overrides the search of /usr/lib/postgresql/N/bin.
 */
int cg_h_pg_start(struct cg_h_pg *pg);
/* pg_ctl stop -m fast (connections are cut) / start again on the same port. 0 or -1. */
int cg_h_pg_stop(struct cg_h_pg *pg);
int cg_h_pg_restart(struct cg_h_pg *pg);
/* Stops the server and removes its directory. */
void cg_h_pg_destroy(struct cg_h_pg *pg);
/* Runs SQL as the superuser on database "postgres"; 0 or -1 (message printed). */
int cg_h_pg_exec(const struct cg_h_pg *pg, const char *sql);
/* One integer a query returns (one row, one column) over dsn; -1 on any error. */
long cg_h_pg_long(const char *dsn, const char *sql);
/* A DSN for the same server whose search_path is schema (created if needed); malloc'd. */
char *cg_h_pg_schema_dsn(const struct cg_h_pg *pg, const char *schema);
/* Prints the server log to stderr. */
void cg_h_pg_dump_log(const struct cg_h_pg *pg);

#endif
