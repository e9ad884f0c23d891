/* builders.h: one case builder per configured source, compiled from the config's templates. */
#ifndef CG_BUILDERS_H
#define CG_BUILDERS_H

#include <stddef.h>

#include "builder.h"
#include "config.h"

/* Compiles one builder per source; on failure err names the source. */
int cg_app_builders(const struct cg_config *cfg, struct cg_builder ***out, char *err, size_t errlen);
void cg_app_builders_free(struct cg_builder **b, size_t n);

#endif
