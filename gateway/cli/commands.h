/* commands.h: the functions main.c's command table points at, one cmd_*.c file each. */
#ifndef CG_COMMANDS_H
#define CG_COMMANDS_H

#include "cli.h"

/* Each returns the process exit code. */
int cg_cmd_run(struct cg_cli *c);          /* cmd_run.c */
int cg_cmd_check_config(struct cg_cli *c); /* cmd_check_config.c */
int cg_cmd_map(struct cg_cli *c);          /* cmd_map.c */
int cg_cmd_mail(struct cg_cli *c);         /* cmd_mail.c */
int cg_cmd_dlq(struct cg_cli *c);          /* cmd_dlq.c */
int cg_cmd_migrate(struct cg_cli *c);      /* cmd_migrate.c */
int cg_cmd_provision(struct cg_cli *c);    /* cmd_provision.c */
int cg_cmd_maintenance(struct cg_cli *c);  /* cmd_maintenance.c */
int cg_cmd_reload(struct cg_cli *c);       /* cmd_reload.c */
int cg_cmd_status(struct cg_cli *c);       /* cmd_status.c */
int cg_cmd_mappers(struct cg_cli *c);      /* cmd_mappers.c */
int cg_cmd_version(struct cg_cli *c);      /* cmd_version.c */
int cg_cmd_help(struct cg_cli *c);         /* cmd_help.c */

#endif
