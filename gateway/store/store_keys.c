/* store_keys.c: the keys the store reads (store.*: the backend; queue.*: its size and commits) as key-table rows. */
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "keys.h"

#define ST_AT(field) CG_KEY_AT(struct cg_config, field)

/* A replica starts a request only with datadog.timeout left on its lease (renewed every lease/4). */
static int lease_check(const struct cg_keyarg *a)
{
	const struct cg_config *cfg = a->base;
	uint64_t least = 2 * ((uint64_t)cfg->dd_timeout_ms + CG_MS_SECOND);
	if (cfg->store_lease_ms >= least)
		return 0;
	cg_cfg_err(a->c, a->node, "%s: at least 2 x (datadog.timeout + 1s) = %llu ms, got %llu ms", a->label,
		   (unsigned long long)least, (unsigned long long)cfg->store_lease_ms);
	return -1;
}

static void store_check(const struct cg_keyarg *a)
{
	const struct cg_config *cfg = a->base;
	struct yaml_node_s *backend = cg_keymap_node(a->map, "backend"), *dsn = cg_keymap_node(a->map, "dsn"),
			   *dsn_file = cg_keymap_node(a->map, "dsn_file"), *replica = cg_keymap_node(a->map, "replica");
	if (cfg->store_backend == CG_STORE_POSTGRES && !cfg->store_dsn)
		cg_cfg_err(a->c, backend ? backend : a->node,
			   "%s: backend postgres needs dsn (e.g. dsn: ${CASEGATE_PG_DSN}) or dsn_file", a->owner);
	if (cfg->store_backend == CG_STORE_SQLITE && (dsn || dsn_file || replica))
		cg_cfg_err(a->c, dsn ? dsn : dsn_file ? dsn_file : replica, "%s: dsn and replica apply to backend postgres only",
			   a->owner);
}

static const char *const backend_names[] = {"sqlite", "postgres", NULL};

static const struct cg_key store_rows[] = {
	{.key = "backend", .type = CG_KEY_ENUM, ST_AT(store_backend), .def = "sqlite", .names = backend_names,
	 .doc = "sqlite (state_dir) or postgres (several replicas)"},
	{.key = "dsn", .type = CG_KEY_SECRET, ST_AT(store_dsn), .flags = CG_KEY_F_STOP,
	 .doc = "postgres: the connection string (may hold a password)"},
	{.key = "replica", .type = CG_KEY_NAME, ST_AT(store_replica),
	 .doc = "postgres: this replica's name, stable per process slot (none: generated)"},
	{.key = "lease", .type = CG_KEY_DURATION, ST_AT(store_lease_ms), .min = CG_MS_SECOND, .max = CG_MS_HOUR,
	 .check = lease_check, .doc = "postgres: the claim lease (none: max(30s, 2 x (datadog.timeout + 1s)))"},
};

const struct cg_keys cg_store_keys = {
	.name = "store: store", .keys = store_rows, .n = CG_KEYS_N(store_rows), .check = store_check};

static const struct cg_key queue_rows[] = {
	{.key = "store_max_bytes", .type = CG_KEY_SIZE, ST_AT(store_max_bytes), .def = "0", .max = UINT64_MAX,
	 .doc = "0: unlimited; past it webhooks get 503"},
	{.key = "group_commit", .type = CG_KEY_BOOL, ST_AT(group_commit), .def = "true",
	 .doc = "false: one fsync per store job (benchmarks only)"},
	{.key = "journal", .type = CG_KEY_BOOL, ST_AT(journal), .def = "true",
	 .doc = "sqlite: webhooks are answered once in the intake journal (one fdatasync per batch) and indexed "
		"into the store after; false: answered once committed in the store. postgres: no journal"},
};

const struct cg_keys cg_queue_store_keys = {.name = "store: queue", .keys = queue_rows, .n = CG_KEYS_N(queue_rows)};
