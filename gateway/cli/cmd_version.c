/* cmd_version.c: `casegate version`. */
#include <stdio.h>

#include "commands.h"

#define CG_VERSION "0.1.0"

int cg_cmd_version(struct cg_cli *c)
{
	printf("casegate %s\n", CG_VERSION);
	return 0;
}
