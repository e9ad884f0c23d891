/* cmd_run.c: `casegate run`: the daemon, until SIGTERM or SIGINT (SIGHUP reloads). */
#include <stdio.h>

#include "app.h"
#include "commands.h"
#include "config.h"
#include "ddclient.h"

int cg_cmd_run(struct cg_cli *c)
{
	/* Without CG_CLI_WARNINGS: the daemon logs the config's warnings itself, in its log format. */
	struct cg_config *cfg = cg_cli_config(c);
	if (!cfg)
		return 1;
	if (cg_dd_global_init() != 0) {
		fprintf(stderr, "casegate: libcurl initialisation failed\n");
		cg_config_free(cfg);
		return 1;
	}
	int rc = cg_app_run(cfg, c->a.config, c->a.dd_url);
	cg_dd_global_cleanup();
	return rc;
}
