/* store_open.c: picks and opens the store backend from the configuration. */
#include "store_open.h"

#include <stdio.h>

#include "err.h"

uint64_t cg_store_config_lease_ms(const struct cg_config *cfg)
{
	if (cfg->store_lease_ms)
		return cfg->store_lease_ms;
	/* Long enough that a request started with datadog.timeout left always ends inside it. */
	uint64_t need = 2 * ((uint64_t)cfg->dd_timeout_ms + 1000);
	return need > 30000 ? need : 30000;
}

static int open_backend(const struct cg_config *cfg, int flags, struct cg_store **out, char *err, size_t errlen)
{
	if (cfg->store_backend != CG_STORE_POSTGRES) {
		/* A tool next to a running daemon must leave the daemon's in-flight events alone. */
		if (flags & CG_STORE_OPEN_DAEMON)
			return cg_store_sqlite_open(cfg->state_dir, out, err, errlen);
		int rc = cg_store_sqlite_open_existing(cfg->state_dir, out, err, errlen);
		/* No store yet means no daemon ever ran here: nothing in flight to disturb. */
		if (rc == CG_ENOENT)
			rc = cg_store_sqlite_open(cfg->state_dir, out, err, errlen);
		return rc;
	}
	struct cg_store_pg_opts o = {
		.dsn = cfg->store_dsn,
		.name = cfg->store_replica,
		.lease_ms = (int64_t)cg_store_config_lease_ms(cfg),
		.migrate = (flags & CG_STORE_OPEN_DAEMON) != 0,
		.listen = (flags & CG_STORE_OPEN_DAEMON) != 0,
	};
	return cg_store_pg_open(&o, out, err, errlen);
}

int cg_store_open_config(const struct cg_config *cfg, int flags, struct cg_store **out, char *err, size_t errlen)
{
	struct cg_store *st = NULL;
	int rc = open_backend(cfg, flags, &st, err, errlen);
	if (rc == 0) {
		/* Whoever enqueues through this store (the daemon, `casegate mail`) ranks by the config. */
		st->aging_ms = (int64_t)cfg->priority_aging_ms;
		*out = st;
	}
	return rc;
}

int cg_store_migrate_config(const struct cg_config *cfg, char *msg, size_t msglen)
{
	if (cfg->store_backend != CG_STORE_POSTGRES) {
		/* SQLite migrates its file at every open. */
		struct cg_store *st = NULL;
		int rc = cg_store_sqlite_open(cfg->state_dir, &st, msg, msglen);
		if (rc == 0)
			snprintf(msg, msglen, "sqlite store %s/casegate.db: schema version %d", cfg->state_dir,
				 cg_store_sqlite_schema_version());
		cg_store_close(st);
		return rc;
	}
	int from = 0, to = 0;
	int rc = cg_store_pg_migrate(cfg->store_dsn, &from, &to, msg, msglen);
	if (rc == 0) {
		if (from == to)
			snprintf(msg, msglen, "postgres store: schema version %d, nothing to do", to);
		else
			snprintf(msg, msglen, "postgres store: schema migrated from version %d to %d", from, to);
	}
	return rc;
}
