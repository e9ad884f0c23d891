/* cmd_mappers.c: `casegate mappers`: the source types this build maps. */
#include <stdio.h>

#include "commands.h"
#include "registry.h"

int cg_cmd_mappers(struct cg_cli *c)
{
	for (const struct cg_mapper *const *m = cg_mapper_all(); *m; m++)
		printf("%-14s %s\n", (*m)->name, (*m)->description);
	return 0;
}
