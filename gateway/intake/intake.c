/* intake.c: the intake part's state: its configuration generations, store view, stop and idle. */
#define CG_LOG_COMPONENT "intake"
#include "intake.h"

#include <stdlib.h>
#include <string.h>

#include "admission.h"
#include "err.h"
#include "state.h"
#include "log.h"
#include "mailin.h"

/* A heartbeat event or a storm digest was stored. */
static void heartbeat_committed(void *ud)
{
	cg_intake_committed(ud);
}

int cg_intake_create(const struct cg_intake_deps *deps, struct cg_config *cfg, struct cg_builder **builders,
		     struct cg_intake **out)
{
	struct cg_intake *in = calloc(1, sizeof(*in));
	if (!in || !(in->gen = calloc(1, sizeof(*in->gen)))) {
		free(in);
		return CG_ENOMEM;
	}
	in->d = *deps;
	in->cfg = cfg;
	in->builders = builders;
	struct cg_heartbeat_deps hd = {.q = deps->q, .metrics = deps->metrics, .committed = heartbeat_committed, .ud = in};
	struct cg_storm_deps sd = {.q = deps->q, .metrics = deps->metrics, .committed = heartbeat_committed, .ud = in};
	char err[256] = "";
	if (cg_heartbeat_create(&hd, &in->hb) != 0 || cg_heartbeat_configure(in->hb, cfg, err, sizeof(err)) != 0 ||
	    cg_storm_create(&sd, &in->storm) != 0 || cg_storm_configure(in->storm, cfg) != 0 ||
	    cg_admission_setup(in) != 0) {
		if (err[0])
			CG_LOG_ERR("%s", err);
		cg_heartbeat_destroy(in->hb);
		cg_storm_destroy(in->storm);
		free(in->gen);
		free(in);
		return CG_ENOMEM;
	}
	*out = in;
	return 0;
}

const struct cg_config *cg_intake_config(const struct cg_intake *in)
{
	return in->cfg;
}

int cg_intake_reload(struct cg_intake *in, struct cg_config *cfg, struct cg_builder **builders)
{
	/* Intake work still reading the old sources keeps them until it is done. */
	struct cg_intake_gen *ngen = NULL;
	if (in->gen->refs > 0 && !(ngen = calloc(1, sizeof(*ngen))))
		return CG_ENOMEM;
	/* First: a failure leaves everything as it was. */
	char err[256] = "";
	int rc = cg_heartbeat_configure(in->hb, cfg, err, sizeof(err));
	if (rc) {
		CG_LOG_ERR("reload: %s", err[0] ? err : cg_strerror(rc));
		free(ngen);
		return rc;
	}
	if (cg_storm_configure(in->storm, cfg) != 0)
		CG_LOG_WARN("reload: out of memory for the storm gauges: keeping the old ones");
	struct cg_config *old = in->cfg;
	struct cg_builder **old_builders = in->builders;
	in->cfg = cfg;
	in->builders = builders;
	if (cg_admission_setup(in) != 0)
		CG_LOG_WARN("reload: out of memory for the intake rate limits: keeping the old ones");
	if (ngen) {
		in->gen->cfg = old;
		in->gen->builders = old_builders;
		in->gen->retired = 1;
		in->gen = ngen;
	} else {
		cg_builders_free(old_builders, old->nsources);
		cg_config_free(old);
	}
	return 0;
}

void cg_intake_store_stats(struct cg_intake *in, const struct cg_store_stats *st, int down)
{
	in->store_down = down;
	if (st)
		in->stats = *st;
}

const char *cg_intake_not_ready(const struct cg_intake *in)
{
	if (in->stopping)
		return "shutting down";
	if (in->store_full)
		return "store full";
	if (in->store_down)
		return "store unavailable";
	if (in->cfg->store_max_bytes && cg_intake_store_bytes(in) > in->cfg->store_max_bytes)
		return "store over its size limit";
	return NULL;
}

int cg_intake_store_full(const struct cg_intake *in)
{
	return in->store_full;
}

void cg_intake_tick(struct cg_intake *in)
{
	cg_admission_tick(in);
	if (in->d.indexer)
		cg_indexer_tick(in->d.indexer);
}

void cg_intake_heartbeat_tick(struct cg_intake *in)
{
	if (!in->stopping) {
		cg_heartbeat_tick(in->hb);
		cg_storm_tick(in->storm);
	}
}

int cg_intake_mail_start(struct cg_intake *in, char *err, size_t errlen)
{
	return cg_mailin_start(in, err, errlen);
}

void cg_intake_stop(struct cg_intake *in, void (*on_closed)(void *ud), void *ud)
{
	in->stopping = 1;
	/* Webhooks held behind a store failure are answered now (they are journaled). */
	cg_indexer_stop(in->d.indexer);
	cg_mailin_stop(in, on_closed, ud);
}

void cg_intake_when_idle(struct cg_intake *in, void (*done)(void *ud), void *ud)
{
	/* A departed client's webhook may still be mapped on a worker thread: its events go to the
	 * store queue when it is done, so the store must stay open until then. */
	if (in->working == 0) {
		done(ud);
		return;
	}
	in->idle_cb = done;
	in->idle_ud = ud;
}

void cg_intake_destroy(struct cg_intake *in)
{
	if (!in)
		return;
	cg_admission_cleanup(in);
	cg_heartbeat_destroy(in->hb);
	cg_storm_destroy(in->storm);
	cg_builders_free(in->builders, in->cfg ? in->cfg->nsources : 0);
	cg_config_free(in->cfg);
	free(in->gen); /* the running generation (retired ones were freed by their last job) */
	free(in);
}
