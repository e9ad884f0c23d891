/* store_open.h: opens the store backend the configuration selects (SQLite or PostgreSQL). */
#ifndef CG_STORE_OPEN_H
#define CG_STORE_OPEN_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "store.h"

enum {
	CG_STORE_OPEN_DAEMON = 1, /* the daemon: migrate (PostgreSQL: under an advisory lock) and listen */
};

/* Opens cfg's store; flags from the enum above (0: a CLI tool that neither migrates nor listens).
 * The store ranks what it queues with cfg's priority_aging. */
int cg_store_open_config(const struct cg_config *cfg, int flags, struct cg_store **out, char *err, size_t errlen);

/* The claim lease in effect (store.lease or its default, see config.h). */
uint64_t cg_store_config_lease_ms(const struct cg_config *cfg);

/* `casegate migrate`: applies pending schema migrations of cfg's store; prints what it did. */
int cg_store_migrate_config(const struct cg_config *cfg, char *msg, size_t msglen);

#endif
