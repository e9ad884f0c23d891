/* state.c: the intake part's shared insides: configuration generations, the commit signal, counters. */
#define CG_LOG_COMPONENT "intake"
#include "state.h"

#include <stdio.h>
#include <stdlib.h>

#include "builders.h"
#include "err.h"

static void gen_free(struct cg_intake_gen *g)
{
	if (g->cfg) {
		cg_builders_free(g->builders, g->cfg->nsources);
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

void cg_intake_work_begin(struct cg_intake *in)
{
	in->working++;
}

void cg_intake_gen_release(struct cg_intake *in, struct cg_intake_gen *g)
{
	if (--g->refs == 0 && g->retired)
		gen_free(g);
	cg_intake_work_end(in);
}

void cg_intake_work_end(struct cg_intake *in)
{
	in->working--;
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

void cg_intake_source_label(const char *name, char *out, size_t len)
{
	char esc[128];
	cg_metrics_escape(name, esc, sizeof(esc));
	snprintf(out, len, "source=\"%s\"", esc);
}

uint64_t cg_intake_store_bytes(const struct cg_intake *in)
{
	/* The journal's segments too (of them at most one segment is already in the store). */
	return in->stats.bytes + (in->d.journal ? cg_journal_bytes(in->d.journal) : 0);
}
