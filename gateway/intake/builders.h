/* builders.h: one case builder per configured source, compiled from the config's templates. */
#ifndef CG_BUILDERS_H
#define CG_BUILDERS_H

#include <stddef.h>

#include "builder.h"
#include "config.h"

/* Compiles one builder per source into *out (an array of cfg->nsources; NULL where a source
 * drafts no case, e.g. datadog_case_events). Returns 0, or an error with err naming the source. */
int cg_builders_create(const struct cg_config *cfg, struct cg_builder ***out, char *err, size_t errlen);

/* Frees the array and its n builders; accepts NULL. */
void cg_builders_free(struct cg_builder **b, size_t n);

#endif
