/* storm_tick.c: the daemon's side of storm folding: digests posted when due, storms gone quiet resolved, gauges; the storms listed for `casegate status`. */
#define CG_LOG_COMPONENT "storm"
#include "storm.h"
#include "storm_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "err.h"
#include "event.h"
#include "log.h"

/* ---- listing ---- */

void cg_storm_infos_free(struct cg_storm_info *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].source);
		free(v[i].key);
	}
	free(v);
}

int cg_storm_list(struct cg_store *st, struct cg_storm_info **out, size_t *nout)
{
	struct cg_store_kv *kv = NULL;
	size_t n = 0;
	*out = NULL;
	*nout = 0;
	int rc = cg_store_kv_list(st, "s:", 0, &kv, &n);
	if (rc)
		return rc;
	struct cg_storm_info *v = n ? calloc(n, sizeof(*v)) : NULL;
	size_t k = 0;
	for (size_t i = 0; i < n && (v || !n); i++) {
		cJSON *d = cJSON_Parse(kv[i].v);
		if (!cJSON_IsObject(d)) {
			cJSON_Delete(d);
			continue;
		}
		struct cg_storm_info *x = &v[k];
		x->source = strdup(cg_storm_str(d, "source"));
		x->key = strdup(kv[i].k + 2);
		x->started_ms = cg_storm_num(d, "started");
		x->priority = (int)cg_storm_num(d, "priority");
		x->members = (long)cg_storm_num(d, "members");
		x->open = (long)cg_storm_num(d, "open");
		cJSON_Delete(d);
		k++;
		if (!x->source || !x->key) {
			rc = CG_ENOMEM;
			break;
		}
	}
	cg_store_kvs_free(kv, n);
	if (n && !v)
		rc = CG_ENOMEM;
	if (rc) {
		cg_storm_infos_free(v, k);
		return rc;
	}
	*out = v;
	*nout = k;
	return 0;
}

/* ---- the daemon's side ---- */

struct storm_src {
	char *name;
	char label[160];
	int active;
};

struct cg_storm {
	struct cg_storm_deps d;
	struct storm_src *v;
	size_t n;
	int busy;
	int64_t last_idle_ms; /* the last tick while no source folds */
};

int cg_storm_create(const struct cg_storm_deps *deps, struct cg_storm **out)
{
	struct cg_storm *sm = calloc(1, sizeof(*sm));
	if (!sm)
		return CG_ENOMEM;
	sm->d = *deps;
	*out = sm;
	return 0;
}

static void srcs_free(struct storm_src *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i].name);
	free(v);
}

int cg_storm_configure(struct cg_storm *sm, const struct cg_config *cfg)
{
	size_t n = 0;
	for (size_t i = 0; i < cfg->nsources; i++)
		n += cfg->sources[i].storm.max_new_cases > 0;
	struct storm_src *v = n ? calloc(n, sizeof(*v)) : NULL;
	if (n && !v)
		return CG_ENOMEM;
	size_t k = 0;
	for (size_t i = 0; i < cfg->nsources; i++) {
		const struct cg_source_config *src = &cfg->sources[i];
		if (!src->storm.max_new_cases)
			continue;
		struct storm_src *e = &v[k++];
		if (!(e->name = strdup(src->name))) {
			srcs_free(v, k);
			return CG_ENOMEM;
		}
		char esc[128];
		cg_metrics_escape(src->name, esc, sizeof(esc));
		snprintf(e->label, sizeof(e->label), "source=\"%s\"", esc);
		/* Samples from the start: alert rules see the series. */
		cg_metrics_set(sm->d.metrics, "casegate_storm_active", e->label, 0);
		cg_metrics_add(sm->d.metrics, "casegate_storm_alerts_folded_total", e->label, 0);
	}
	srcs_free(sm->v, sm->n);
	sm->v = v;
	sm->n = k;
	return 0;
}

struct tick_job {
	struct cg_storm *sm;
	int64_t now;
	size_t queued;              /* digest events stored */
	struct cg_storm_info *info; /* the storms still open, after the digests */
	size_t ninfo;
};

/* Something for the tick to do about this storm document: a digest due, or gone stale. */
static int tick_work(const struct cg_store_kv *kv, const cJSON *doc, int64_t now, int *stale)
{
	int64_t stale_ms = cg_storm_num(doc, "stale_ms");
	*stale = stale_ms > 0 && now - cg_storm_num(doc, "last") > stale_ms;
	return *stale || (kv->due_ms > 0 && kv->due_ms <= now);
}

/* One storm event of the tick, for the storm of doc with key. */
static int tick_enqueue(struct cg_store *st, const char *key, const cJSON *doc, int status, char *pl, int64_t now)
{
	if (!pl)
		return CG_ENOMEM;
	struct cg_store_event ev = {.source = (char *)cg_storm_str(doc, "source"),
				    .dedup_key = (char *)key,
				    .status = status,
				    .priority = (int)cg_storm_num(doc, "priority"),
				    .payload = pl,
				    .received_ms = now,
				    .next_ms = now};
	int rc = cg_store_enqueue(st, &ev, 1);
	free(pl);
	return rc;
}

static int tick_run(struct cg_store *st, void *ud)
{
	struct tick_job *j = ud;
	j->queued = 0; /* a re-run after a rolled-back batch starts over */
	cg_storm_infos_free(j->info, j->ninfo);
	j->info = NULL;
	j->ninfo = 0;
	struct cg_store_kv *kv = NULL;
	size_t n = 0;
	/* A look first, without the lock the fleet's storm intake takes: most ticks find nothing. */
	int rc = cg_store_kv_list(st, "s:", 0, &kv, &n);
	int work = 0;
	for (size_t i = 0; i < n && rc == 0 && !work; i++) {
		cJSON *doc = cJSON_Parse(kv[i].v);
		int stale = 0;
		work = cJSON_IsObject(doc) && tick_work(&kv[i], doc, j->now, &stale);
		cJSON_Delete(doc);
	}
	if (rc == 0 && work) {
		cg_store_kvs_free(kv, n);
		kv = NULL;
		n = 0;
		rc = cg_store_kv_lock(st);
		if (!rc)
			rc = cg_store_kv_list(st, "s:", 0, &kv, &n);
	}
	for (size_t i = 0; i < n && rc == 0 && work; i++) {
		struct {
			const char *key;
			cJSON *doc;
		} s = {kv[i].k + 2, cJSON_Parse(kv[i].v)};
		int stale = 0;
		if (!cJSON_IsObject(s.doc) || !tick_work(&kv[i], s.doc, j->now, &stale)) {
			cJSON_Delete(s.doc);
			continue;
		}
		int known = cg_storm_str(s.doc, "source")[0] != 0;
		char *pl = cg_storm_digest_take(s.doc);
		if (pl && known && (rc = tick_enqueue(st, s.key, s.doc, CG_STATUS_COMMENT, pl, j->now)) == 0)
			j->queued++;
		else if (pl && !known)
			free(pl);
		if (!rc && stale) {
			/* Its alerts went quiet without resolving: resolved by casegate, and forgotten (its
			 * alerts' records go when they are next heard of). */
			if (known && (rc = tick_enqueue(st, s.key, s.doc, CG_STATUS_RESOLVED, cg_storm_resolve_payload(s.doc, 1),
							 j->now)) == 0)
				j->queued++;
			if (!rc)
				rc = cg_store_kv_put(st, kv[i].k, NULL, 0);
		} else if (!rc) {
			char *v = cJSON_PrintUnformatted(s.doc);
			rc = v ? cg_store_kv_put(st, kv[i].k, v, 0) : CG_ENOMEM;
			cJSON_free(v);
		}
		cJSON_Delete(s.doc);
	}
	cg_store_kvs_free(kv, n);
	if (!rc)
		rc = cg_storm_list(st, &j->info, &j->ninfo);
	return rc;
}

static void tick_done(int rc, void *ud)
{
	struct tick_job *j = ud;
	struct cg_storm *sm = j->sm;
	sm->busy = 0;
	if (rc) {
		CG_LOG_DEBUG("storm digests: %s (next tick retries)", cg_strerror(rc));
	} else {
		for (size_t i = 0; i < sm->n; i++) {
			int active = 0;
			for (size_t k = 0; k < j->ninfo && !active; k++)
				active = strcmp(j->info[k].source, sm->v[i].name) == 0;
			sm->v[i].active = active;
			cg_metrics_set(sm->d.metrics, "casegate_storm_active", sm->v[i].label, active);
		}
		if (j->queued) {
			CG_LOG_INFO("queued %zu storm digest comment(s)", j->queued);
			if (sm->d.committed)
				sm->d.committed(sm->d.ud);
		}
	}
	cg_storm_infos_free(j->info, j->ninfo);
	free(j);
}

void cg_storm_tick(struct cg_storm *sm)
{
	if (!sm || sm->busy)
		return;
	int64_t now = cg_storm_wall_ms();
	/* Storms of a source that no longer folds (its `storm:` removed) still get their digests and
	 * end when stale: once a minute then, every second while some source folds. */
	if (sm->n == 0 && now - sm->last_idle_ms < 60000)
		return;
	sm->last_idle_ms = now;
	struct tick_job *j = calloc(1, sizeof(*j));
	if (!j)
		return;
	j->sm = sm;
	j->now = now;
	sm->busy = 1;
	if (cg_storeq_submit(sm->d.q, tick_run, tick_done, j) != 0) {
		sm->busy = 0;
		free(j);
	}
}

void cg_storm_counted(struct cg_storm *sm, const char *source, const struct cg_storm_fold *f)
{
	if (!sm || !f->folded)
		return;
	for (size_t i = 0; i < sm->n; i++)
		if (strcmp(sm->v[i].name, source) == 0) {
			cg_metrics_add(sm->d.metrics, "casegate_storm_alerts_folded_total", sm->v[i].label, (double)f->folded);
			if (f->started) {
				sm->v[i].active = 1;
				cg_metrics_set(sm->d.metrics, "casegate_storm_active", sm->v[i].label, 1);
				CG_LOG_EV(CG_LOG_LEVEL_WARN, source, NULL, NULL,
					  "alert storm: new alerts of this source now fold into one storm case");
			}
			return;
		}
}

void cg_storm_destroy(struct cg_storm *sm)
{
	if (!sm)
		return;
	srcs_free(sm->v, sm->n);
	free(sm);
}
