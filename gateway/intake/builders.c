/* builders.c: one case builder per configured source (the daemon, check-config and reload). */
#include "builders.h"

#include <stdio.h>
#include <stdlib.h>

#include "err.h"

int cg_builders_create(const struct cg_config *cfg, struct cg_builder ***out, char *err, size_t errlen)
{
	struct cg_builder **b = calloc(cfg->nsources ? cfg->nsources : 1, sizeof(*b));
	if (!b)
		return CG_ENOMEM;
	for (size_t i = 0; i < cfg->nsources; i++) {
		if (!cfg->sources[i].mapper)
			continue; /* datadog_case_events: maps no alerts, drafts no case */
		struct cg_case_spec spec;
		cg_config_case_spec(&cfg->sources[i], &spec);
		char e[256] = "";
		int rc = cg_builder_create(&spec, &b[i], e, sizeof(e));
		if (rc) {
			snprintf(err, errlen, "source '%s': %s", cfg->sources[i].name, rc == CG_EINVAL ? e : cg_strerror(rc));
			cg_builders_free(b, i);
			return rc;
		}
	}
	*out = b;
	return 0;
}

void cg_builders_free(struct cg_builder **b, size_t n)
{
	if (!b)
		return;
	for (size_t i = 0; i < n; i++)
		cg_builder_destroy(b[i]);
	free(b);
}
