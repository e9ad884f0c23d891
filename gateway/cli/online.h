/* online.h: `casegate check-config --online`: the configuration held against Datadog itself. */
#ifndef CG_ONLINE_H
#define CG_ONLINE_H

#include <stdio.h>

#include "config.h"

/*
 * Asks Datadog (blocking) whether the keys work, every source's project exists and every case
 * type defines the custom attributes the sources set (and the marker attribute). Errors (keys
 * refused, a project or case type missing) and warnings go to err as "file:line: ..." lines;
 * a summary line to out. Returns 0 (no errors; warnings may have been printed) or 1.
 */
int cg_check_online(const struct cg_config *cfg, const char *dd_url, FILE *out, FILE *err);

#endif
