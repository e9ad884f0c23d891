/* cmd_migrate.c: `casegate migrate`: the schema upgrade as its own step (e.g. a deploy job before a rollout). */
#include <stdio.h>

#include "commands.h"
#include "config.h"
#include "err.h"
#include "store_open.h"

int cg_cmd_migrate(struct cg_cli *c)
{
	struct cg_config *cfg = cg_cli_config(c);
	if (!cfg)
		return 1;
	char msg[768] = "";
	int rc = cg_store_migrate_config(cfg, msg, sizeof(msg));
	if (rc)
		fprintf(stderr, "casegate migrate: %s\n", msg[0] ? msg : cg_strerror(rc));
	else
		printf("%s\n", msg);
	cg_config_free(cfg);
	return rc ? 1 : 0;
}
