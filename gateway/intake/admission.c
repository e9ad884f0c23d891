/* admission.c: intake admission: token buckets (429), memory and store caps (503), disk-full recovery. */
#define CG_LOG_COMPONENT "admission"
#include "admission.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "state.h"
#include "err.h"
#include "log.h"

/* Free space the state directory needs before intake resumes after a full disk: enough for a
 * burst of webhooks and SQLite's WAL, so the daemon does not flap between full and ready. */
#define MIN_FREE_BYTES (1024ULL * 1024)

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int cg_admission_setup(struct cg_intake *in)
{
	const struct cg_config *cfg = in->cfg;
	struct cg_tbucket *b = calloc(cfg->nsources ? cfg->nsources : 1, sizeof(*b));
	struct cg_intake_hot *hot = calloc(cfg->nsources ? cfg->nsources : 1, sizeof(*hot));
	if (!b || !hot) {
		/* Never keep buckets (or counters) sized for another configuration's sources. */
		free(b);
		free(hot);
		free(in->rl_sources);
		in->rl_sources = NULL;
		free(in->hot);
		in->hot = NULL;
		return CG_ENOMEM;
	}
	for (size_t i = 0; i < cfg->nsources; i++) {
		cg_tbucket_init(&b[i], cfg->sources[i].rl_rps, cfg->sources[i].rl_burst);
		cg_intake_source_label(cfg->sources[i].name, hot[i].label, sizeof(hot[i].label));
		char labels[256];
		snprintf(labels, sizeof(labels), "%s,code=\"202\"", hot[i].label);
		hot[i].answered202 = cg_metrics_counter_ref(in->d.metrics, "casegate_http_requests_total", labels);
		hot[i].accepted = cg_metrics_counter_ref(in->d.metrics, "casegate_events_accepted_total", hot[i].label);
	}
	free(in->rl_sources);
	in->rl_sources = b;
	free(in->hot);
	in->hot = hot;
	cg_tbucket_init(&in->rl_global, cfg->rl_rps, cfg->rl_burst);
	cg_metrics_describe(in->d.metrics, "casegate_intake_throttled_total", CG_COUNTER,
			    "Webhooks refused with 429 by the intake rate limit, by source and scope");
	cg_metrics_describe(in->d.metrics, "casegate_overload_rejections_total", CG_COUNTER,
			    "Webhooks refused with 503 to protect memory or the store, by source and reason");
	cg_metrics_describe(in->d.metrics, "casegate_intake_pending_bytes", CG_GAUGE,
			    "Bytes of accepted webhooks waiting for the store");
	return 0;
}

void cg_admission_cleanup(struct cg_intake *in)
{
	free(in->rl_sources);
	in->rl_sources = NULL;
	free(in->hot);
	in->hot = NULL;
}

static void refuse(struct cg_intake *in, struct cg_http_request *req, const char *source_label, int status,
		   const char *reason, const char *msg, uint64_t retry_after_s)
{
	char labels[256], ra[32], body[256];
	snprintf(labels, sizeof(labels), "%s,%s=\"%s\"", source_label, status == 429 ? "scope" : "reason", reason);
	cg_metrics_add(in->d.metrics,
		       status == 429 ? "casegate_intake_throttled_total" : "casegate_overload_rejections_total", labels,
		       1);
	cg_intake_count(in, source_label, status);
	snprintf(ra, sizeof(ra), "%llu", (unsigned long long)(retry_after_s ? retry_after_s : 1));
	snprintf(body, sizeof(body), "{\"errors\":[\"%s\"]}", msg);
	struct cg_http_header h[] = {{"Retry-After", ra}};
	cg_http_respond(req, status, "application/json", body, strlen(body), h, 1);
}

int cg_admission_check(struct cg_intake *in, size_t src_idx, const char *source_label, struct cg_http_request *req)
{
	const struct cg_config *cfg = in->cfg;
	if (in->store_full) {
		refuse(in, req, source_label, 503, "store_full", "store full: retry later", 30);
		return 503;
	}
	if (cfg->store_max_bytes && cg_intake_store_bytes(in) > cfg->store_max_bytes) {
		refuse(in, req, source_label, 503, "store_size", "store over its size limit: retry later", 30);
		return 503;
	}
	/* The store thread (or the workers mapping webhooks) are behind: more would only pile up
	 * in memory. */
	if (cg_storeq_pending(in->d.q) + in->working >= cfg->max_pending) {
		refuse(in, req, source_label, 503, "pending_jobs", "overloaded: retry later", 1);
		return 503;
	}
	if (in->pending_bytes + req->body_len > cfg->max_pending_bytes) {
		refuse(in, req, source_label, 503, "pending_bytes", "overloaded: retry later", 1);
		return 503;
	}
	struct cg_tbucket *bs[2] = {in->rl_sources ? &in->rl_sources[src_idx] : NULL, &in->rl_global};
	uint64_t wait_ms = 0;
	int which = cg_tbucket_take(bs, 2, wall_ms(), &wait_ms);
	if (which) {
		refuse(in, req, source_label, 429, which == 1 ? "source" : "global", "rate limited: retry later",
		       (wait_ms + 999) / 1000);
		return 429;
	}
	return 0;
}

void cg_admission_hold(struct cg_intake *in, size_t bytes)
{
	in->pending_bytes += bytes;
}

void cg_admission_release(struct cg_intake *in, size_t bytes)
{
	in->pending_bytes = in->pending_bytes > bytes ? in->pending_bytes - bytes : 0;
}

/* ---- recovery from a full store ---- */

struct probe_job {
	struct cg_intake *in;
	char *dir;
	unsigned long long avail;
};

static int probe_run(struct cg_store *st, void *ud)
{
	struct probe_job *j = ud;
	struct statvfs vs;
	j->avail = 0;
	if (statvfs(j->dir, &vs) == 0)
		j->avail = (unsigned long long)vs.f_bavail * vs.f_frsize;
	else
		j->avail = MIN_FREE_BYTES; /* cannot tell: let the write decide */
	if (j->avail < MIN_FREE_BYTES)
		return CG_EFULL;
	/* A real write that needs new pages, as an intake would; rolled into the batch's commit. */
	return cg_store_probe(st);
}

static void probe_done(int rc, void *ud)
{
	struct probe_job *j = ud;
	struct cg_intake *in = j->in;
	in->probe_busy = 0;
	if (rc == 0 && in->store_full) {
		in->store_full = 0;
		CG_LOG_INFO("store has space again (%llu bytes free): accepting webhooks", j->avail);
	} else if (rc) {
		CG_LOG_DEBUG("store still full: %s (%llu bytes free)", cg_strerror(rc), j->avail);
	}
	free(j->dir);
	free(j);
}

void cg_admission_tick(struct cg_intake *in)
{
	cg_metrics_set(in->d.metrics, "casegate_intake_pending_bytes", "", (double)in->pending_bytes);
	if (!in->store_full || in->probe_busy || in->stopping)
		return;
	struct probe_job *j = calloc(1, sizeof(*j));
	if (!j)
		return;
	j->in = in;
	j->dir = strdup(in->cfg->state_dir);
	if (!j->dir || cg_storeq_submit(in->d.q, probe_run, probe_done, j) != 0) {
		free(j->dir);
		free(j);
		return;
	}
	in->probe_busy = 1;
}
