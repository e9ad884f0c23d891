/* cmd_help.c: `casegate help`: every command's usage, from the table in main.c. */
#include <stdio.h>

#include "commands.h"

int cg_cmd_help(struct cg_cli *c)
{
	c->usage(stdout);
	return 0;
}
