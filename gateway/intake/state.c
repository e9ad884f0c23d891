/* state.c: the intake part's shared insides: builders, configuration generations, the commit signal, counters. */
#define CG_LOG_COMPONENT "intake"
#include "state.h"

#include <stdio.h>
#include <stdlib.h>

#include "err.h"

int cg_intake_builders(const struct cg_config *cfg, struct cg_builder ***out, char *err, size_t errlen)
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
			cg_intake_builders_free(b, i);
			return rc;
		}
	}
	*out = b;
	return 0;
}

void cg_intake_builders_free(struct cg_builder **b, size_t n)
{
	if (!b)
		return;
	for (size_t i = 0; i < n; i++)
		cg_builder_destroy(b[i]);
	free(b);
}

static void gen_free(struct cg_intake_gen *g)
{
	if (g->cfg) {
		cg_intake_builders_free(g->builders, g->cfg->nsources);
		cg_config_free(g->cfg);
	}
	free(g);
}

struct cg_intake_gen *cg_intake_gen_acquire(struct cg_intake *in)
{
	in->gen->refs++;
	in->working++;
	return in->gen;
}

void cg_intake_gen_release(struct cg_intake *in, struct cg_intake_gen *g)
{
	in->working--;
	if (--g->refs == 0 && g->retired)
		gen_free(g);
	if (in->working == 0 && in->idle_cb) {
		void (*cb)(void *) = in->idle_cb;
		in->idle_cb = NULL;
		cb(in->idle_ud);
	}
}

void cg_intake_committed(struct cg_intake *in)
{
	/* During shutdown delivery may already be gone (the commit outlived a departed client). */
	if (!in->stopping && in->d.committed)
		in->d.committed(in->d.ud);
}

void cg_intake_count(struct cg_intake *in, const char *source_label, int status)
{
	char labels[256];
	snprintf(labels, sizeof(labels), "%s,code=\"%d\"", source_label, status);
	cg_metrics_add(in->d.metrics, "casegate_http_requests_total", labels, 1);
}
