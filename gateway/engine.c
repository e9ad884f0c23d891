/* engine.c: claims due events from the store and drives each through its case requests. */
#define CG_LOG_COMPONENT "engine"
#include "engine.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "actions.h"
#include "builder.h"
#include "err.h"
#include "event.h"
#include "lifecycle.h"
#include "log.h"
#include "retry.h"

struct cg_engine {
	uv_loop_t *loop;
	struct cg_storeq *q;
	struct cg_dd_client *dd;
	struct cg_metrics *metrics;
	const struct cg_config *cfg;
	uv_timer_t timer;
	int64_t timer_due;     /* wall ms the timer is armed for, 0 when idle */
	unsigned inflight;     /* operations started and not finished */
	int claiming;          /* a claim job is running */
	int rekick;            /* kick again when the claim job returns */
	int stopping;
	/* Rate-limit gate from Datadog's X-RateLimit-* headers (shared by the whole org). */
	long rl_remaining;     /* requests left in the window; -1 unknown */
	long rl_limit, rl_period;
	int64_t rl_reset_at;   /* wall ms the window resets */
	unsigned unanswered;   /* requests sent, answer not yet seen */
	uv_timer_t rl_timer;
	struct op *wait_head, *wait_tail; /* ops holding a request until the window resets */
	uv_timer_t store_timer;
	struct op *sr_head, *sr_tail; /* ops whose store job failed, waiting to run it again */
	void (*on_stopped)(void *ud);
	void *stopped_ud;
	int closed;
	/* Lifecycle actions (the sections at the end of this file). */
	struct cg_projects projects;  /* project keys -> UUIDs */
	int proj_fetching;
	int64_t proj_fetch_ms;        /* when the last listing was asked for */
	struct op *proj_head, *proj_tail; /* creates waiting for the listing */
	struct op *bulk_head;         /* closes / priority changes collected for one bulk request */
	uv_timer_t bulk_timer;
	uv_timer_t sweep_timer;       /* archive sweep */
	int sweeping;
};

#define ENGINE_TIMERS 5

/* One event being applied. */
struct op {
	struct cg_engine *e;
	struct cg_store_event ev;
	struct cg_store_case cs;
	struct cg_store_case before; /* case as claimed: restored when the event dead-letters */
	cJSON *payload;               /* parsed ev.payload */
	struct cg_source_config src;  /* lifecycle settings (copied: the config may be reloaded) */
	char source_label[160];
	enum cg_action action;
	enum cg_step steps[CG_MAX_STEPS];
	int nsteps;
	int prio_before;              /* the case's priority when the event started */
	struct cg_action_req areq;    /* the pending action step's request */
	struct op *bulk_next;         /* collected for a bulk request, or a member of one */
	struct op *bulk_members;      /* the leader of a bulk request: the other ops it carries */
	int no_bulk;                  /* bulk was refused: single requests */
	int index;                    /* next step */
	int reconciling;              /* the current request is the search for an unknown create */
	int need_reconcile;           /* claimed with an unknown create outcome: search before creating */
	struct op *wait_next;         /* in the rate-limit wait list */
	uint64_t claimed_mono;        /* uv_now when claimed: a shared store's lease runs from here */
	struct op *sr_next;           /* in the store-retry list */
	cg_storeq_job_fn sr_fn;       /* the store job to run again, and its completion */
	cg_storeq_done_fn sr_done;
	int64_t now;
	char marker[40];
	/* job results */
	int job_rc;
	int finish_kind; /* enum fin */
	char reason[512];
	int http_status;
	int64_t next_ms;
};

enum fin { FIN_DONE = 0, FIN_RETRY, FIN_DEAD };

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t rnd64(void)
{
	uint64_t r = 0;
	if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
		r = (uint64_t)wall_ms() * 6364136223846793005ULL;
	return r;
}

static void iso8601(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static char *dupstr(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Deep copy of a case record (strings duplicated). 0 or CG_ENOMEM. */
static int case_copy(struct cg_store_case *dst, const struct cg_store_case *src)
{
	*dst = *src;
	dst->dedup_key = dupstr(src->dedup_key);
	dst->case_id = dupstr(src->case_id);
	dst->case_key = dupstr(src->case_key);
	dst->marker = dupstr(src->marker);
	dst->prev_case_key = dupstr(src->prev_case_key);
	dst->prev_case_id = dupstr(src->prev_case_id);
	dst->last_summary = dupstr(src->last_summary);
	if ((src->dedup_key && !dst->dedup_key) || (src->case_id && !dst->case_id) ||
	    (src->case_key && !dst->case_key) || (src->marker && !dst->marker) ||
	    (src->prev_case_key && !dst->prev_case_key) || (src->last_summary && !dst->last_summary) ||
	    (src->prev_case_id && !dst->prev_case_id)) {
		cg_store_case_cleanup(dst);
		return CG_ENOMEM;
	}
	return 0;
}

static void set_str(char **dst, const char *v)
{
	char *c = v ? strdup(v) : NULL;
	free(*dst);
	*dst = c;
}

static void make_marker(const char *dedup_key, int generation, char marker[40])
{
	char seed[600];
	snprintf(seed, sizeof(seed), "%s#%d", dedup_key, generation);
	char hex[65];
	cg_sha256_hex(seed, strlen(seed), hex);
	snprintf(marker, 40, "cg-%.32s", hex);
}

cJSON *cg_engine_create_body(const cJSON *draft_create, const char *dedup_key, int generation,
			     const char *prev_case_key, char marker[40])
{
	make_marker(dedup_key, generation, marker);

	cJSON *body = cJSON_Duplicate(draft_create, 1);
	if (!body)
		return NULL;
	cJSON *attrs = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(body, "data"), "attributes");
	if (!cJSON_IsObject(attrs)) {
		cJSON_Delete(body);
		return NULL;
	}
	const char *desc = cg_json_str(attrs, "description");
	size_t dlen = desc ? strlen(desc) : 0;
	size_t cap = dlen + 256 + (prev_case_key ? strlen(prev_case_key) : 0);
	char *text = malloc(cap);
	if (!text) {
		cJSON_Delete(body);
		return NULL;
	}
	/* The marker lets casegate find this case again when the create's answer was lost. */
	int n = snprintf(text, cap, "%s%s", desc ? desc : "", dlen ? "\n\n" : "");
	if (prev_case_key)
		n += snprintf(text + n, cap - (size_t)n, "Follows case %s (resolved earlier).\n\n", prev_case_key);
	snprintf(text + n, cap - (size_t)n, "---\n_casegate ref: %s_", marker);
	cJSON_DeleteItemFromObjectCaseSensitive(attrs, "description");
	cJSON *s = cJSON_AddStringToObject(attrs, "description", text);
	free(text);
	if (!s) {
		cJSON_Delete(body);
		return NULL;
	}
	return body;
}

char *cg_engine_event_payload(const struct cg_case_draft *d)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	char *out = NULL;
	if (!cJSON_AddStringToObject(o, "title", d->title ? d->title : ""))
		goto out;
	if (!cJSON_AddStringToObject(o, "summary", d->summary ? d->summary : ""))
		goto out;
	/* References, not copies: this runs for every accepted alert and the draft outlives o. */
	if (!cJSON_AddItemReferenceToObject(o, "create", d->create))
		goto out;
	if (d->attributes && !cJSON_AddItemReferenceToObject(o, "attributes", d->attributes))
		goto out;
	out = cJSON_PrintUnformatted(o);
out:
	cJSON_Delete(o);
	return out;
}

static void arm_timer(struct cg_engine *e, int64_t due);
static void actions_start(struct cg_engine *e);
static void actions_stop(struct cg_engine *e);
static int project_wait(struct op *op);
static int bulk_collect(struct op *op);
static int send_bulk(struct op *op);
static int send_create_for(struct op *op);
static int action_prepare(struct op *op);
static void op_run(struct op *op);
static void op_free(struct op *op);
static void op_release(struct op *op);
static void op_send_step(struct op *op);
static void op_advance(struct op *op);
static void finish_done(int rc, void *ud);
static int progress_run(struct cg_store *st, void *ud);
static void progress_done(int rc, void *ud);

static void timer_cb(uv_timer_t *t)
{
	struct cg_engine *e = t->data;
	e->timer_due = 0;
	cg_engine_kick(e);
}

int cg_engine_create(uv_loop_t *loop, struct cg_storeq *q, struct cg_dd_client *dd, struct cg_metrics *metrics,
		     const struct cg_config *cfg, struct cg_engine **out)
{
	struct cg_engine *e = calloc(1, sizeof(*e));
	if (!e)
		return CG_ENOMEM;
	e->loop = loop;
	e->q = q;
	e->dd = dd;
	e->metrics = metrics;
	e->cfg = cfg;
	uv_timer_init(loop, &e->timer);
	e->timer.data = e;
	uv_timer_init(loop, &e->rl_timer);
	e->rl_timer.data = e;
	uv_timer_init(loop, &e->store_timer);
	e->store_timer.data = e;
	uv_timer_init(loop, &e->bulk_timer);
	e->bulk_timer.data = e;
	uv_timer_init(loop, &e->sweep_timer);
	e->sweep_timer.data = e;
	e->rl_remaining = -1;
	cg_metrics_describe(metrics, "casegate_events_total", CG_COUNTER,
			    "Events applied to cases, by source and action");
	cg_metrics_describe(metrics, "casegate_deliveries_total", CG_COUNTER,
			    "Case API requests by source, step and outcome");
	cg_metrics_describe(metrics, "casegate_delivery_http_total", CG_COUNTER, "Case API answers by HTTP status");
	cg_metrics_describe(metrics, "casegate_retries_total", CG_COUNTER, "Requests scheduled for retry, by source");
	cg_metrics_describe(metrics, "casegate_dead_letters_total", CG_COUNTER, "Events moved to the dead-letter table");
	cg_metrics_describe(metrics, "casegate_reconciliations_total", CG_COUNTER,
			    "Unknown create outcomes resolved by searching, by result");
	cg_metrics_describe(metrics, "casegate_rate_limit_waits_total", CG_COUNTER,
			    "429 answers that paused outbound requests");
	cg_metrics_describe(metrics, "casegate_rate_limit_deferred_total", CG_COUNTER,
			    "Requests held until the advertised rate-limit window reset");
	cg_metrics_describe(metrics, "casegate_outbound_latency_seconds", CG_HISTOGRAM,
			    "Case API request latency by step");
	*out = e;
	actions_start(e);
	return 0;
}

void cg_engine_set_config(struct cg_engine *e, const struct cg_config *cfg)
{
	e->cfg = cfg;
	actions_start(e);
}

unsigned cg_engine_inflight(const struct cg_engine *e)
{
	return e->inflight;
}

static void maybe_stopped(struct cg_engine *e)
{
	if (e->stopping && e->inflight == 0 && !e->claiming && !e->sweeping && e->on_stopped) {
		void (*cb)(void *) = e->on_stopped;
		e->on_stopped = NULL;
		cb(e->stopped_ud);
	}
}

static void timer_closed(uv_handle_t *h)
{
	struct cg_engine *e = h->data;
	/* The timers share the engine: free it when the last one has closed. */
	if (++e->closed == ENGINE_TIMERS && !e->proj_fetching) {
		cg_projects_cleanup(&e->projects);
		free(e);
	}
}

void cg_engine_stop(struct cg_engine *e, void (*on_stopped)(void *ud), void *ud)
{
	e->stopping = 1;
	e->on_stopped = on_stopped;
	e->stopped_ud = ud;
	uv_timer_stop(&e->timer);
	uv_timer_stop(&e->rl_timer);
	actions_stop(e);
	/* Waiting ops have saved their progress: they resume from the store after restart. */
	struct op *list = e->wait_head;
	e->wait_head = e->wait_tail = NULL;
	while (list) {
		struct op *op = list;
		list = op->wait_next;
		op_release(op);
	}
	/* Ops whose store job failed: their events stay in flight and are retried after restart. */
	uv_timer_stop(&e->store_timer);
	list = e->sr_head;
	e->sr_head = e->sr_tail = NULL;
	while (list) {
		struct op *op = list;
		list = op->sr_next;
		op_release(op);
	}
	maybe_stopped(e);
}

void cg_engine_destroy(struct cg_engine *e)
{
	if (!e)
		return;
	uv_close((uv_handle_t *)&e->timer, timer_closed);
	uv_close((uv_handle_t *)&e->rl_timer, timer_closed);
	uv_close((uv_handle_t *)&e->store_timer, timer_closed);
	uv_close((uv_handle_t *)&e->bulk_timer, timer_closed);
	uv_close((uv_handle_t *)&e->sweep_timer, timer_closed);
}

static void arm_timer(struct cg_engine *e, int64_t due)
{
	if (e->stopping)
		return;
	if (e->timer_due && e->timer_due <= due)
		return;
	int64_t now = wall_ms();
	e->timer_due = due;
	uv_timer_start(&e->timer, timer_cb, due > now ? (uint64_t)(due - now) : 0, 0);
}

/* ---- claiming ---- */

struct claim_job {
	struct cg_engine *e;
	int64_t now;
	size_t limit;
	struct cg_store_event *evs;
	size_t n;
	struct cg_store_case *cases; /* state CG_CASE_NONE and dedup_key NULL when unknown */
	int64_t next_due;
	int has_next;
};

static void claim_reset(struct claim_job *j)
{
	if (j->cases)
		for (size_t i = 0; i < j->n; i++)
			cg_store_case_cleanup(&j->cases[i]);
	free(j->cases);
	if (j->evs)
		cg_store_events_free(j->evs, j->n);
	j->cases = NULL;
	j->evs = NULL;
	j->n = 0;
	j->has_next = 0;
}

static int claim_run(struct cg_store *st, void *ud)
{
	struct claim_job *j = ud;
	/* storeq re-runs a job alone when its batch failed: start from nothing. */
	claim_reset(j);
	int rc = cg_store_claim(st, j->now, j->limit, &j->evs, &j->n);
	if (rc)
		return rc;
	if (j->n) {
		j->cases = calloc(j->n, sizeof(*j->cases));
		if (!j->cases)
			return CG_ENOMEM;
		for (size_t i = 0; i < j->n; i++) {
			rc = cg_store_case_get(st, j->evs[i].dedup_key, &j->cases[i]);
			if (rc == CG_ENOENT)
				rc = 0;
			if (rc)
				return rc;
		}
	}
	rc = cg_store_next_due_ms(st, &j->next_due);
	if (rc == 0)
		j->has_next = 1;
	return rc == CG_ENOENT ? 0 : rc;
}

static void claim_free(struct claim_job *j)
{
	claim_reset(j);
	free(j);
}

static void op_start(struct cg_engine *e, struct cg_store_event *ev, struct cg_store_case *cs);

static void claim_done(int rc, void *ud)
{
	struct claim_job *j = ud;
	struct cg_engine *e = j->e;
	e->claiming = 0;
	if (rc) {
		CG_LOG_ERR("claiming due events failed: %s", cg_strerror(rc));
		/* Claims were rolled back with the batch; try again shortly. */
		claim_free(j);
		arm_timer(e, wall_ms() + 1000);
		maybe_stopped(e);
		return;
	}
	for (size_t i = 0; i < j->n && !e->stopping; i++) {
		/* Ownership of the event and case strings moves to the op. After stop nothing
		 * starts: the claimed events stay in flight and are pending again at next start. */
		op_start(e, &j->evs[i], &j->cases[i]);
		memset(&j->evs[i], 0, sizeof(j->evs[i]));
		memset(&j->cases[i], 0, sizeof(j->cases[i]));
	}
	size_t got = j->n, limit = j->limit;
	if (got < limit && j->has_next)
		arm_timer(e, j->next_due);
	claim_free(j);
	if (e->stopping) {
		maybe_stopped(e);
		return;
	}
	if (e->rekick || got == limit) {
		e->rekick = 0;
		cg_engine_kick(e);
	}
}

void cg_engine_kick(struct cg_engine *e)
{
	if (e->stopping)
		return;
	if (e->claiming) {
		e->rekick = 1;
		return;
	}
	unsigned max = e->cfg->max_inflight ? e->cfg->max_inflight : 16;
	if (e->inflight >= max)
		return;
	int64_t now = wall_ms();
	struct claim_job *j = calloc(1, sizeof(*j));
	if (!j) {
		arm_timer(e, now + 1000);
		return;
	}
	j->e = e;
	j->now = now;
	j->limit = max - e->inflight;
	e->claiming = 1;
	e->rekick = 0;
	if (cg_storeq_submit(e->q, claim_run, claim_done, j) != 0) {
		e->claiming = 0;
		free(j);
		arm_timer(e, now + 1000);
	}
}

/* ---- one operation ---- */

static const struct cg_source_config *find_source(const struct cg_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nsources; i++)
		if (strcmp(cfg->sources[i].name, name) == 0)
			return &cfg->sources[i];
	return NULL;
}

static void op_free(struct op *op)
{
	/* Not renewed any more: a lease held by an abandoned op runs out and another replica retries. */
	cg_store_hold(cg_storeq_store(op->e->q), op->ev.id, op->ev.lease, 0);
	cg_store_event_cleanup(&op->ev);
	cg_store_case_cleanup(&op->cs);
	cg_store_case_cleanup(&op->before);
	cJSON_Delete(op->payload);
	free(op->src.status_name);
	free(op->src.reopen_status_name);
	cJSON_Delete(op->areq.body);
	free(op);
}

/* Ends an op after its final job: counts it out and looks for more work. */
static void op_release(struct op *op)
{
	struct cg_engine *e = op->e;
	/* A bulk request's leader carries the other ops: they end with it (progress is saved). */
	struct op *m = op->bulk_members;
	op->bulk_members = NULL;
	while (m) {
		struct op *next = m->bulk_next;
		op_release(m);
		m = next;
	}
	op_free(op);
	e->inflight--;
	if (e->stopping)
		maybe_stopped(e);
	else
		cg_engine_kick(e);
}

static void store_retry_cb(uv_timer_t *t)
{
	struct cg_engine *e = t->data;
	struct op *list = e->sr_head;
	e->sr_head = e->sr_tail = NULL;
	while (list) {
		struct op *op = list;
		list = op->sr_next;
		if (e->stopping || cg_storeq_submit(e->q, op->sr_fn, op->sr_done, op) != 0)
			op_release(op);
	}
}

/*
 * A store job of op failed (disk full, database locked, I/O error) and was rolled back: the
 * event is still in flight in the store, and nothing would ever claim it again before a
 * restart. The job is idempotent (it writes op's state), so run it again a little later.
 */
static void store_retry(struct op *op, int rc, cg_storeq_job_fn fn, cg_storeq_done_fn done)
{
	struct cg_engine *e = op->e;
	/* CG_ENOENT: the event row is gone (deleted behind our back); nothing to save. */
	if (e->stopping || rc == CG_ENOENT) {
		/* Otherwise the event stays in flight; the next start makes it pending again. */
		op_release(op);
		return;
	}
	op->sr_fn = fn;
	op->sr_done = done;
	op->sr_next = NULL;
	if (e->sr_tail)
		e->sr_tail->sr_next = op;
	else
		e->sr_head = op;
	e->sr_tail = op;
	if (!uv_is_active((uv_handle_t *)&e->store_timer))
		uv_timer_start(&e->store_timer, store_retry_cb, 1000, 0);
}

static int finish_run(struct cg_store *st, void *ud)
{
	struct op *op = ud;
	/* Shared store: write nothing unless the event is still ours (the lease may have run out). */
	int rc = cg_store_fence(st, op->ev.id, op->ev.lease);
	if (rc)
		return rc;
	switch (op->finish_kind) {
	case FIN_DONE:
		if (op->cs.dedup_key)
			rc = cg_store_case_put(st, &op->cs);
		return rc ? rc : cg_store_event_done(st, op->ev.id);
	case FIN_RETRY:
		/* The case record keeps any CREATING mark so the next attempt reconciles. */
		if (op->cs.dedup_key)
			rc = cg_store_case_put(st, &op->cs);
		if (!rc)
			rc = cg_store_event_step(st, op->ev.id, op->ev.step);
		return rc ? rc : cg_store_event_retry(st, op->ev.id, op->next_ms, op->reason);
	case FIN_DEAD:
		if (op->cs.dedup_key)
			rc = cg_store_case_put(st, &op->cs);
		return rc ? rc : cg_store_event_dead(st, op->ev.id, op->http_status, op->reason);
	}
	return CG_EINVAL;
}

/* What the event did to its case, as the casegate_events_total action label (past tense). */
static const char *action_label(const struct op *op)
{
	switch (op->action) {
	case CG_ACT_CREATE: return "created";
	case CG_ACT_REOPEN: return "reopened";
	case CG_ACT_COMMENT: return "commented";
	case CG_ACT_ESCALATE: return "escalated";
	case CG_ACT_DEESCALATE: return "deescalated";
	case CG_ACT_RESOLVE:
		for (int i = 0; i < op->nsteps; i++)
			if (op->steps[i] == CG_STEP_CLOSE)
				return "closed";
		return "commented";
	case CG_ACT_FOLD: return "folded";
	case CG_ACT_IGNORE: return "ignored";
	default: return cg_action_name(op->action);
	}
}

static void finish_done(int rc, void *ud)
{
	struct op *op = ud;
	struct cg_engine *e = op->e;
	char labels[256];
	if (rc) {
		/* The event is still in flight in the store and this op owns it: save again later. */
		CG_LOG_ERR("saving the outcome of event %" PRId64 " (%s) failed: %s; retrying", op->ev.id,
			   op->ev.dedup_key, cg_strerror(rc));
		store_retry(op, rc, finish_run, finish_done);
		return;
	}
	if (op->finish_kind == FIN_DONE) {
		snprintf(labels, sizeof(labels), "%s,action=\"%s\"", op->source_label, action_label(op));
		cg_metrics_add(e->metrics, "casegate_events_total", labels, 1);
		CG_LOG_EV(CG_LOG_LEVEL_INFO, op->ev.source, op->ev.dedup_key, op->cs.case_key, "action=%s",
			  cg_action_name(op->action));
	} else if (op->finish_kind == FIN_DEAD) {
		cg_metrics_add(e->metrics, "casegate_dead_letters_total", op->source_label, 1);
		CG_LOG_EV(CG_LOG_LEVEL_ERR, op->ev.source, op->ev.dedup_key, op->cs.case_key,
			  "dead letter (HTTP %d): %s", op->http_status, op->reason);
	} else {
		cg_metrics_add(e->metrics, "casegate_retries_total", op->source_label, 1);
		CG_LOG_EV(CG_LOG_LEVEL_WARN, op->ev.source, op->ev.dedup_key, op->cs.case_key,
			  "retry in %" PRId64 " ms: %s", op->next_ms - wall_ms(), op->reason);
	}
	op_release(op);
}

static void op_finish(struct op *op, enum fin kind)
{
	op->finish_kind = kind;
	if (kind == FIN_DONE) {
		const char *summary = cg_json_str(op->payload, "summary");
		cg_lifecycle_apply(op->action, &op->cs, op->ev.priority, summary, &op->src, op->now);
	}
	if (kind == FIN_DEAD && op->action == CG_ACT_CREATE && op->http_status != 404 &&
	    (op->cs.state == CG_CASE_OPEN || op->cs.state == CG_CASE_CREATING)) {
		/* The case exists (a later step failed) or may exist (outcome unknown): keep it
		 * (or the CREATING mark, so the next firing reconciles) instead of opening a
		 * duplicate on the next firing. */
		if (op->cs.state == CG_CASE_OPEN)
			cg_lifecycle_apply(op->action, &op->cs, op->ev.priority, NULL, &op->src, op->now);
	} else if (kind == FIN_DEAD) {
		/* Nothing of this event happened: the case stays as it was. */
		cg_store_case_cleanup(&op->cs);
		if (op->before.dedup_key && case_copy(&op->cs, &op->before) != 0)
			memset(&op->cs, 0, sizeof(op->cs));
	}
	if (cg_storeq_submit(op->e->q, finish_run, finish_done, op) != 0) {
		CG_LOG_ERR("store queue closed; event %" PRId64 " stays queued", op->ev.id);
		op_release(op);
	}
}

static void op_retry(struct op *op, const struct cg_dd_result *res)
{
	struct cg_engine *e = op->e;
	unsigned attempt = (unsigned)op->ev.attempts + 1;
	uint64_t base = e->cfg->retry_base_ms ? e->cfg->retry_base_ms : 1000;
	uint64_t cap = e->cfg->retry_cap_ms ? e->cfg->retry_cap_ms : 300000;
	uint64_t delay;
	if (res && res->status == 429)
		delay = cg_ratelimit_delay_ms(res->ratelimit_reset, res->retry_after, attempt, base, cap, rnd64());
	else
		delay = cg_backoff_ms(attempt, base, cap, rnd64());
	op->next_ms = wall_ms() + (int64_t)delay;
	if (e->cfg->max_attempts && attempt >= e->cfg->max_attempts) {
		size_t n = strlen(op->reason);
		snprintf(op->reason + n, sizeof(op->reason) - n, " (gave up after %u attempts)", attempt);
		op_finish(op, FIN_DEAD);
		return;
	}
	op_finish(op, FIN_RETRY);
}

/* Persists progress (step index, case record) before the next request. */
static int progress_run(struct cg_store *st, void *ud)
{
	struct op *op = ud;
	int rc = cg_store_fence(st, op->ev.id, op->ev.lease);
	if (!rc && op->cs.dedup_key)
		rc = cg_store_case_put(st, &op->cs);
	return rc ? rc : cg_store_event_step(st, op->ev.id, op->ev.step);
}

static void progress_done(int rc, void *ud)
{
	struct op *op = ud;
	if (rc) {
		CG_LOG_ERR("saving progress of event %" PRId64 " failed: %s; retrying", op->ev.id, cg_strerror(rc));
		store_retry(op, rc, progress_run, progress_done);
		return;
	}
	if (op->e->stopping) {
		/* Progress is saved; the event resumes from here after restart. */
		op_release(op);
		return;
	}
	op_run(op);
}

static void op_save_progress(struct op *op)
{
	op->ev.step = cg_step_encode(op->action, op->index);
	if (cg_storeq_submit(op->e->q, progress_run, progress_done, op) != 0)
		op_release(op);
}

static void dd_done(const struct cg_dd_result *res, void *ud);

/* ---- rate-limit gate ---- */

static void rl_timer_cb(uv_timer_t *t);

static void rl_arm(struct cg_engine *e)
{
	int64_t now = wall_ms();
	uv_timer_start(&e->rl_timer, rl_timer_cb, e->rl_reset_at > now ? (uint64_t)(e->rl_reset_at - now) : 0, 0);
}

static void rl_wait(struct op *op)
{
	struct cg_engine *e = op->e;
	op->wait_next = NULL;
	if (e->wait_tail)
		e->wait_tail->wait_next = op;
	else
		e->wait_head = op;
	e->wait_tail = op;
	rl_arm(e);
}

/* The advertised window starts again: this replica's share of it (unknown: -1, unlimited). */
static void rl_new_window(struct cg_engine *e)
{
	long share = e->rl_limit / (long)cg_store_fleet_size(cg_storeq_store(e->q));
	e->rl_remaining = e->rl_limit > 0 ? (share > 0 ? share : 1) : -1;
	e->rl_reset_at = wall_ms() + (e->rl_period > 0 ? e->rl_period * 1000 : 1000);
}

/* 1 when the window is spent: op waits in the list and is sent when it resets. */
static int rl_defer(struct op *op)
{
	struct cg_engine *e = op->e;
	/* Another replica of the fleet got a 429: the window is closed for everyone. */
	int64_t fleet_until = cg_store_rl_closed_until(cg_storeq_store(e->q));
	if (fleet_until > wall_ms() && !(e->rl_remaining == 0 && e->rl_reset_at >= fleet_until)) {
		e->rl_remaining = 0;
		e->rl_reset_at = fleet_until;
	}
	if (e->rl_remaining == 0 && wall_ms() < e->rl_reset_at) {
		cg_metrics_add(e->metrics, "casegate_rate_limit_deferred_total", "", 1);
		rl_wait(op);
		return 1;
	}
	if (e->rl_remaining == 0)
		rl_new_window(e); /* the window passed before its timer ran: the next one, not "unlimited" */
	if (e->rl_remaining > 0)
		e->rl_remaining--;
	return 0;
}

/* Learns the window from an answer's headers; a 429 closes it until the reset. */
static void rl_observe(struct cg_engine *e, const struct cg_dd_result *res)
{
	int64_t now = wall_ms();
	if (res->ratelimit_limit > 0)
		e->rl_limit = res->ratelimit_limit;
	/* Headers are up to 18 digits: clamp seconds before multiplying (signed overflow). */
	if (res->ratelimit_period > 0)
		e->rl_period = res->ratelimit_period > 3600 ? 3600 : res->ratelimit_period;
	if (res->status == 429) {
		long s = res->ratelimit_reset >= 0 ? res->ratelimit_reset : res->retry_after >= 0 ? res->retry_after : 1;
		if (s > 3600)
			s = 3600;
		e->rl_remaining = 0;
		/* Reset is whole seconds: 0 means "within the second"; never spin on it. */
		e->rl_reset_at = now + (s > 0 ? s * 1000 : 100) + 20;
		cg_store_rl_publish(cg_storeq_store(e->q), e->rl_reset_at);
		return;
	}
	if (res->status >= 200 && res->status < 300 && res->ratelimit_limit < 0 && res->ratelimit_remaining < 0) {
		/* The API no longer announces a limit: stop pacing to the one it had. */
		e->rl_limit = e->rl_period = 0;
		if (e->rl_remaining >= 0 && !e->wait_head)
			e->rl_remaining = -1;
		return;
	}
	if (res->ratelimit_remaining >= 0 && res->ratelimit_reset >= 0) {
		/* Requests already on the wire count against what the server says is left. */
		long left = res->ratelimit_remaining - (long)e->unanswered;
		/* The budget is the org's: with a shared store each live replica spends its share. */
		if (left > 0)
			left /= (long)cg_store_fleet_size(cg_storeq_store(e->q));
		e->rl_remaining = left > 0 ? left : 0;
		e->rl_reset_at = now + (res->ratelimit_reset > 3600 ? 3600 : res->ratelimit_reset) * 1000 + 20;
	}
}

static void rl_timer_cb(uv_timer_t *t)
{
	struct cg_engine *e = t->data;
	/* A new window: as many as it holds go now, the rest wait for the one after. */
	rl_new_window(e);
	struct op *list = e->wait_head;
	e->wait_head = e->wait_tail = NULL;
	while (list) {
		struct op *op = list;
		list = op->wait_next;
		if (e->stopping) {
			op_release(op);
			continue;
		}
		op_send_step(op);
	}
}

static int send_json_flags(struct op *op, const char *method, const char *path, cJSON *body, int flags)
{
	char *text = NULL;
	if (body) {
		text = cJSON_PrintUnformatted(body);
		cJSON_Delete(body);
		if (!text)
			return CG_ENOMEM;
	}
	int rc = cg_dd_request_flags(op->e->dd, method, path, text, text ? strlen(text) : 0, flags, dd_done, op);
	cJSON_free(text);
	return rc;
}

static int send_json(struct op *op, const char *method, const char *path, cJSON *body)
{
	return send_json_flags(op, method, path, body, 0);
}

/* Creates are the one request casegate cannot repeat blindly: never let libcurl replay one. */
static int send_create(struct op *op, cJSON *body)
{
	return send_json_flags(op, "POST", "/api/v2/cases", body, CG_DD_NO_REPLAY);
}

static char *comment_text(struct op *op)
{
	const char *summary = cg_json_str(op->payload, "summary");
	if (!summary)
		summary = "";
	char head[512] = "";
	char t1[32], t2[32];
	const struct cg_store_case *c = &op->cs;
	if (op->action == CG_ACT_NOTE)
		return strdup(summary); /* the note is the whole comment (e-mail replies) */
	switch (op->action) {
	case CG_ACT_REOPEN:
		iso8601(c->closed_ms, t1, sizeof(t1));
		snprintf(head, sizeof(head), "**Firing again** (resolved at %s): %s.", t1,
			 c->state == CG_CASE_CLOSED ? "case reopened" : "same case");
		break;
	case CG_ACT_COMMENT:
		if (c->pending_repeats > 0) {
			iso8601(c->first_pending_ms, t1, sizeof(t1));
			snprintf(head, sizeof(head), "**Still firing**: fired %" PRId64 " more time%s since %s; latest:",
				 c->pending_repeats + 1, c->pending_repeats + 1 == 1 ? "" : "s", t1);
		} else {
			snprintf(head, sizeof(head), "**Fired again.**");
		}
		break;
	case CG_ACT_ESCALATE:
	case CG_ACT_DEESCALATE:
		snprintf(head, sizeof(head), "**Priority %s** from %s to %s: severity is now `%s`.",
			 op->action == CG_ACT_ESCALATE ? "raised" : "lowered", cg_priority_name(c->priority),
			 cg_priority_name(op->ev.priority), op->ev.severity ? op->ev.severity : "unknown");
		if (c->pending_repeats > 0) {
			/* This comment ends the digest window: report the folded repeats too. */
			size_t n = strlen(head);
			iso8601(c->first_pending_ms, t2, sizeof(t2));
			snprintf(head + n, sizeof(head) - n, " It fired %" PRId64 " more time%s since %s.",
				 c->pending_repeats, c->pending_repeats == 1 ? "" : "s", t2);
		}
		break;
	case CG_ACT_RESOLVE:
		if (c->pending_repeats > 0) {
			iso8601(c->first_pending_ms, t2, sizeof(t2));
			snprintf(head, sizeof(head), "**Resolved.** It fired %" PRId64 " more time%s since %s.",
				 c->pending_repeats, c->pending_repeats == 1 ? "" : "s", t2);
		} else {
			snprintf(head, sizeof(head), "**Resolved.**");
		}
		break;
	default:
		break;
	}
	size_t cap = strlen(head) + strlen(summary) + 4;
	char *text = malloc(cap);
	if (text)
		snprintf(text, cap, "%s\n\n%s", head, summary);
	return text;
}

static const char *case_ref(const struct op *op)
{
	return op->cs.case_id ? op->cs.case_id : op->cs.case_key;
}

/*
 * Shared store: 1 when the op's lease might run out before a request answers (the database
 * was unreachable for a while, so renewals failed). The op is then dropped without writing;
 * the next claimer resumes the event, reconciling an unfinished create by its marker.
 */
static int op_lease_lost(struct op *op)
{
	struct cg_engine *e = op->e;
	uint64_t need = (uint64_t)(e->cfg->dd_timeout_ms ? e->cfg->dd_timeout_ms : 15000) + 1000;
	if (cg_store_lease_valid(cg_storeq_store(e->q), op->claimed_mono, need))
		return 0;
	CG_LOG_WARN("key=%s event %" PRId64 ": its lease could run out before a request ends; leaving it to the "
		    "next claim", op->ev.dedup_key, op->ev.id);
	op_release(op);
	return 1;
}

static void op_send_step(struct op *op)
{
	struct cg_engine *e = op->e;
	enum cg_step s = op->steps[op->index];
	char path[512];
	int rc = 0;
	if (op_lease_lost(op))
		return;
	if (s == CG_STEP_CREATE && project_wait(op))
		return;
	if (s >= CG_STEP_ASSIGN && action_prepare(op))
		return;
	if (s != CG_STEP_CREATE && !case_ref(op) && op->cs.state == CG_CASE_CREATING && op->cs.marker) {
		/* The create's outcome never became known (it was given up): find the case before
		 * acting on it; if it does not exist, there is nothing to update. */
		if (rl_defer(op))
			return;
		e->unanswered++;
		op->reconciling = 1;
		snprintf(path, sizeof(path), "/api/v2/cases?filter=%s&page%%5Bsize%%5D=10", op->cs.marker);
		rc = cg_dd_request(e->dd, "GET", path, NULL, 0, dd_done, op);
		if (rc) {
			e->unanswered--;
			op->reconciling = 0;
			snprintf(op->reason, sizeof(op->reason), "could not send search: %s", cg_strerror(rc));
			op_retry(op, NULL);
		}
		return;
	}
	if (s != CG_STEP_CREATE && !case_ref(op)) {
		/* Checked before the gate: nothing is sent, so nothing may count as on the wire. */
		snprintf(op->reason, sizeof(op->reason), "no case id for step %s", cg_step_name(s));
		op->http_status = 0;
		op_finish(op, FIN_DEAD);
		return;
	}
	if ((s == CG_STEP_CLOSE || s == CG_STEP_PRIORITY) && bulk_collect(op))
		return;
	if (rl_defer(op))
		return;
	e->unanswered++;
	switch (s) {
	case CG_STEP_CREATE:
		if (op->need_reconcile && op->cs.marker) {
			/* An earlier create may have succeeded without us hearing back. */
			op->reconciling = 1;
			snprintf(path, sizeof(path), "/api/v2/cases?filter=%s&page%%5Bsize%%5D=10", op->cs.marker);
			rc = cg_dd_request(e->dd, "GET", path, NULL, 0, dd_done, op);
			break;
		}
		op->reconciling = 0;
		rc = CG_EINVAL;
		break;
	case CG_STEP_ATTRS:
		snprintf(path, sizeof(path), "/api/v2/cases/%s/attributes", case_ref(op));
		rc = send_json(op, "POST", path,
			       cg_body_attributes(cJSON_GetObjectItemCaseSensitive(op->payload, "attributes")));
		break;
	case CG_STEP_COMMENT: {
		char *text = comment_text(op);
		if (!text) {
			rc = CG_ENOMEM;
			break;
		}
		snprintf(path, sizeof(path), "/api/v2/cases/%s/comment", case_ref(op));
		rc = send_json(op, "POST", path, cg_body_comment(text));
		free(text);
		break;
	}
	case CG_STEP_CLOSE:
		if (op->bulk_members) {
			rc = send_bulk(op);
			break;
		}
		snprintf(path, sizeof(path), "/api/v2/cases/%s/status", case_ref(op));
		rc = send_json(op, "POST", path, cg_body_status(op->src.status_name));
		break;
	case CG_STEP_OPEN:
		snprintf(path, sizeof(path), "/api/v2/cases/%s/status", case_ref(op));
		rc = send_json(op, "POST", path, cg_body_reopen(op->src.reopen_status_name));
		break;
	case CG_STEP_PRIORITY:
		if (op->bulk_members) {
			rc = send_bulk(op);
			break;
		}
		snprintf(path, sizeof(path), "/api/v2/cases/%s/priority", case_ref(op));
		rc = send_json(op, "POST", path, cg_body_priority(op->ev.priority));
		break;
	default: {
		/* An action step: action_prepare built the request. */
		cJSON *body = op->areq.body;
		op->areq.body = NULL;
		rc = body ? send_json(op, op->areq.method, op->areq.path, body)
			  : cg_dd_request(e->dd, op->areq.method, op->areq.path, NULL, 0, dd_done, op);
		break;
	}
	}
	if (s == CG_STEP_CREATE && !op->reconciling)
		rc = send_create_for(op);
	if (rc) {
		e->unanswered--;
		snprintf(op->reason, sizeof(op->reason), "could not send %s: %s", cg_step_name(s), cg_strerror(rc));
		op_retry(op, NULL);
	}
}

/* Moves the case into CREATING (persisted) before the create request leaves. */
static void op_begin_create(struct op *op)
{
	struct cg_store_case *c = &op->cs;
	if (c->state == CG_CASE_CLOSED) {
		/* After the reopen window: a new case that points back to the old one. */
		set_str(&c->prev_case_key, c->case_key);
		set_str(&c->prev_case_id, c->case_id);
	}
	c->action_flags = 0; /* one-shot actions are per case */
	set_str(&c->case_id, NULL);
	set_str(&c->case_key, NULL);
	c->generation++;
	c->state = CG_CASE_CREATING;
	char marker[40];
	make_marker(op->ev.dedup_key, c->generation, marker);
	set_str(&c->marker, marker);
	op_save_progress(op);
}

static void op_run(struct op *op)
{
	if (op->index >= op->nsteps) {
		op_finish(op, FIN_DONE);
		return;
	}
	op_send_step(op);
}

/*
 * Copies the lifecycle settings of src into op. Only these, and the strings copied: a reload
 * frees the config while the op (waiting on a request, a store job or the rate-limit window)
 * still runs, so op->src must own every pointer it keeps.
 */
static int lifecycle_copy(struct op *op, const struct cg_source_config *src)
{
	struct cg_source_config *d = &op->src;
	d->on_repeat = src->on_repeat;
	d->digest_interval_ms = src->digest_interval_ms;
	d->on_resolve = src->on_resolve;
	d->reopen_window_ms = src->reopen_window_ms;
	d->raise_priority = src->raise_priority;
	d->lower_priority = src->lower_priority;
	d->status_name = dupstr(src->status_name);
	d->reopen_status_name = dupstr(src->reopen_status_name);
	if ((src->status_name && !d->status_name) || (src->reopen_status_name && !d->reopen_status_name))
		return CG_ENOMEM;
	return 0;
}

static void op_start(struct cg_engine *e, struct cg_store_event *ev, struct cg_store_case *cs)
{
	struct op *op = calloc(1, sizeof(*op));
	if (!op) {
		/* Leave the event in flight; it is retried after restart. Should not happen. */
		CG_LOG_ERR("out of memory starting event %" PRId64, ev->id);
		cg_store_event_cleanup(ev);
		cg_store_case_cleanup(cs);
		return;
	}
	e->inflight++;
	op->e = e;
	op->ev = *ev;
	op->cs = *cs;
	op->now = wall_ms();
	op->claimed_mono = uv_now(e->loop);
	cg_store_hold(cg_storeq_store(e->q), op->ev.id, op->ev.lease, 1);
	if (!op->cs.dedup_key) {
		op->cs.dedup_key = dupstr(op->ev.dedup_key);
		op->cs.state = CG_CASE_NONE;
	}
	op->need_reconcile = op->cs.state == CG_CASE_CREATING;
	if (case_copy(&op->before, &op->cs) != 0 || !op->cs.dedup_key) {
		snprintf(op->reason, sizeof(op->reason), "out of memory");
		op_retry(op, NULL);
		return;
	}
	char esc[128];
	cg_metrics_escape(op->ev.source, esc, sizeof(esc));
	snprintf(op->source_label, sizeof(op->source_label), "source=\"%s\"", esc);

	const struct cg_source_config *src = find_source(e->cfg, op->ev.source);
	cg_lifecycle_defaults(&op->src);
	if (src && lifecycle_copy(op, src) != 0) {
		snprintf(op->reason, sizeof(op->reason), "out of memory");
		op_retry(op, NULL);
		return;
	}

	op->payload = cJSON_Parse(op->ev.payload ? op->ev.payload : "");
	if (!cJSON_IsObject(op->payload)) {
		snprintf(op->reason, sizeof(op->reason), "stored event payload is not valid JSON");
		op_finish(op, FIN_DEAD);
		return;
	}
	int has_attrs = cJSON_GetObjectItemCaseSensitive(op->payload, "attributes") != NULL;
	int has_insights = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(op->payload, "insights")) > 0;
	/* The case's priority before this event: escalation actions compare against it (unchanged in
	 * the store until the event finishes, so a resumed event computes the same steps). */
	op->prio_before = op->cs.priority;

	if (op->ev.step != 0 && !(cg_step_action(op->ev.step) == CG_ACT_CREATE && cg_step_index(op->ev.step) == 0)) {
		/* Resume where an earlier attempt stopped; its decision stands. A create at index 0
		 * is decided again: its CREATING mark was undone when the attempt certainly failed,
		 * and op_begin_create must persist it again before the create is sent. */
		op->action = cg_step_action(op->ev.step);
		op->index = cg_step_index(op->ev.step);
		op->nsteps = cg_lifecycle_steps(op->action, &op->src, has_attrs, op->cs.state, op->steps);
		op->nsteps = cg_actions_steps(op->action, src ? src : &op->src, op->prio_before, op->ev.priority,
					      has_insights, op->cs.prev_case_id != NULL, op->steps, op->nsteps,
					      CG_MAX_STEPS);
		op_run(op);
		return;
	}
	op->action = cg_lifecycle_decide(op->ev.status, op->ev.priority, &op->cs, &op->src, op->now);
	op->nsteps = cg_lifecycle_steps(op->action, &op->src, has_attrs, op->cs.state, op->steps);
	/* A new case after the reopen window follows the current one (op_begin_create records it). */
	int will_have_prev = op->action == CG_ACT_CREATE &&
			     (op->cs.state == CG_CASE_CLOSED ? op->cs.case_id != NULL : op->cs.prev_case_id != NULL);
	op->nsteps = cg_actions_steps(op->action, src ? src : &op->src, op->prio_before, op->ev.priority, has_insights,
				      will_have_prev, op->steps, op->nsteps, CG_MAX_STEPS);
	op->index = 0;
	if (op->action == CG_ACT_CREATE && op->cs.state != CG_CASE_CREATING) {
		op_begin_create(op);
		return;
	}
	op_run(op);
}

/* Looks for the case carrying our marker in a search answer; adopts it when found. */
static int adopt_from_search(struct op *op, const cJSON *resp)
{
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(resp, "data");
	const cJSON *it;
	cJSON_ArrayForEach(it, data)
	{
		const char *desc = cg_json_str(it, "attributes.description");
		const char *id = cg_json_str(it, "id");
		if (desc && id && strstr(desc, op->cs.marker)) {
			set_str(&op->cs.case_id, id);
			set_str(&op->cs.case_key, cg_json_str(it, "attributes.key"));
			return 1;
		}
	}
	return 0;
}

/*
 * What every Case API answer does first: latency and status metrics, the rate-limit window.
 * Returns 1 for a 429: the request was not processed and waits (op) until the window resets,
 * when it is sent again.
 */
static int answer_seen(struct cg_engine *e, struct op *op, const char *step, const struct cg_dd_result *res)
{
	char labels[160];
	snprintf(labels, sizeof(labels), "step=\"%s\"", step);
	cg_metrics_observe(e->metrics, "casegate_outbound_latency_seconds", labels, res->elapsed_s);
	if (res->status) {
		snprintf(labels, sizeof(labels), "code=\"%ld\"", res->status);
		cg_metrics_add(e->metrics, "casegate_delivery_http_total", labels, 1);
	}
	if (e->unanswered)
		e->unanswered--;
	rl_observe(e, res);
	if (res->status != 429 || e->stopping)
		return 0;
	cg_metrics_add(e->metrics, "casegate_rate_limit_waits_total", "", 1);
	rl_wait(op);
	return 1;
}

static void dd_done(const struct cg_dd_result *res, void *ud)
{
	struct op *op = ud;
	struct cg_engine *e = op->e;
	enum cg_step s = op->steps[op->index];
	const char *step = op->reconciling ? "search" : cg_step_name(s);
	char labels[320];
	if (answer_seen(e, op, step, res))
		return;
	enum cg_outcome oc = cg_retry_classify(res->transport_error, res->status);
	snprintf(labels, sizeof(labels), "%s,step=\"%s\",outcome=\"%s\"", op->source_label, step,
		 oc == CG_DELIVERED ? "delivered" : oc == CG_RETRY_LATER ? "retry" : "give_up");
	cg_metrics_add(e->metrics, "casegate_deliveries_total", labels, 1);

	if (oc != CG_DELIVERED) {
		if (res->transport_error)
			snprintf(op->reason, sizeof(op->reason), "%s: %s", step, res->errmsg);
		else
			snprintf(op->reason, sizeof(op->reason), "%s: HTTP %ld: %.400s", step, res->status,
				 res->body ? res->body : "");
		op->http_status = (int)res->status;
		if (s == CG_STEP_CREATE && !op->reconciling && op->before.state != CG_CASE_CREATING &&
		    ((res->transport_error && !res->maybe_sent) || (res->status >= 400 && res->status < 500))) {
			/* Certainly not created: no need to search before the next attempt. */
			cg_store_case_cleanup(&op->cs);
			if (case_copy(&op->cs, &op->before) != 0)
				memset(&op->cs, 0, sizeof(op->cs));
		}
		if (oc == CG_RETRY_LATER) {
			op_retry(op, res);
			return;
		}
		if (cg_actions_is_optional(s)) {
			/* An action that Datadog refuses (integration not set up, bad user) must not
			 * undo the case work before it: note it and go on. */
			CG_LOG_WARN("source=%s key=%s case=%s: %s skipped: %s", op->ev.source, op->ev.dedup_key,
				    op->cs.case_key ? op->cs.case_key : "-", cg_step_name(s), op->reason);
			cg_actions_record(s, 0, &op->cs);
			op_advance(op);
			return;
		}
		if (res->status == 404 && s != CG_STEP_CREATE) {
			/* The case is gone (deleted in Datadog): forget it so a new alert opens a new one. */
			op->finish_kind = FIN_DEAD;
			cg_store_case_cleanup(&op->before);
			memset(&op->before, 0, sizeof(op->before));
			op->before.dedup_key = dupstr(op->ev.dedup_key);
			op->before.state = CG_CASE_NONE;
			op->before.generation = op->cs.generation;
		}
		op_finish(op, FIN_DEAD);
		return;
	}
	cJSON *resp = res->body_len ? cJSON_ParseWithLength(res->body, res->body_len) : NULL;
	if (op->reconciling && s != CG_STEP_CREATE) {
		int found = adopt_from_search(op, resp);
		cJSON_Delete(resp);
		cg_metrics_add(e->metrics, "casegate_reconciliations_total",
			       found ? "result=\"adopted\"" : "result=\"not_found\"", 1);
		op->reconciling = 0;
		op->need_reconcile = 0;
		if (found) {
			/* The given-up create had worked: this event applies to that case. */
			op->cs.state = CG_CASE_OPEN;
			if (!op->cs.created_ms)
				op->cs.created_ms = op->now;
			op_send_step(op);
			return;
		}
		/* No case was ever made: nothing to comment on or close. */
		CG_LOG_EV(CG_LOG_LEVEL_INFO, op->ev.source, op->ev.dedup_key, NULL,
			  "no case with marker %s: %s ignored", op->cs.marker, cg_action_name(op->action));
		op->cs.state = CG_CASE_NONE;
		op->action = CG_ACT_IGNORE;
		op->nsteps = 0;
		op_finish(op, FIN_DONE);
		return;
	}
	if (s == CG_STEP_CREATE) {
		if (op->reconciling) {
			int found = adopt_from_search(op, resp);
			cJSON_Delete(resp);
			cg_metrics_add(e->metrics, "casegate_reconciliations_total",
				       found ? "result=\"adopted\"" : "result=\"not_found\"", 1);
			op->reconciling = 0;
			op->need_reconcile = 0;
			if (!found) {
				CG_LOG_EV(CG_LOG_LEVEL_INFO, op->ev.source, op->ev.dedup_key, NULL,
					  "no case with marker %s; creating it", op->cs.marker);
				if (op_lease_lost(op))
					return;
				/* Same generation, same marker; the record stays CREATING on disk. */
				int rc = send_create_for(op);
				if (rc == 0)
					e->unanswered++;
				if (rc) {
					snprintf(op->reason, sizeof(op->reason), "could not send create: %s",
						 cg_strerror(rc));
					op_retry(op, NULL);
				}
				return;
			}
			CG_LOG_EV(CG_LOG_LEVEL_WARN, op->ev.source, op->ev.dedup_key,
				  op->cs.case_key ? op->cs.case_key : op->cs.case_id,
				  "adopted the case created by an earlier attempt");
		} else {
			const char *id = cg_json_str(resp, "data.id");
			const char *key = cg_json_str(resp, "data.attributes.key");
			if (!id) {
				cJSON_Delete(resp);
				snprintf(op->reason, sizeof(op->reason), "create: answer without data.id");
				op->http_status = (int)res->status;
				/* The case may exist: keep CREATING so the retry searches first. */
				op_retry(op, NULL);
				return;
			}
			set_str(&op->cs.case_id, id);
			set_str(&op->cs.case_key, key);
			cJSON_Delete(resp);
		}
		/* The case exists now: record it before anything else can go wrong. The
		 * lifecycle counters are applied once, when the whole action finishes. */
		op->cs.state = CG_CASE_OPEN;
		op->cs.priority = op->ev.priority;
		op->cs.created_ms = op->now;
		op_advance(op);
		return;
	}
	cJSON_Delete(resp);
	cg_actions_record(s, 1, &op->cs);
	op_advance(op);
}

/* ---- lifecycle actions: steps, project keys, bulk requests, archive sweep ---- */

/* After a successful (or skipped) step: the next one, or the end of the event. */
static void op_advance(struct op *op)
{
	op->index++;
	if (op->index >= op->nsteps) {
		op_finish(op, FIN_DONE);
		return;
	}
	op_save_progress(op);
}

/* Builds an action step's request into op->areq. 1 when the op moved on (skipped, or retry). */
static int action_prepare(struct op *op)
{
	struct cg_engine *e = op->e;
	enum cg_step s = op->steps[op->index];
	if (!case_ref(op))
		return 0; /* op_send_step dead-letters it with the usual message */
	const struct cg_source_config *src = find_source(e->cfg, op->ev.source);
	struct cg_source_config dflt;
	if (!src) {
		cg_lifecycle_defaults(&dflt);
		src = &dflt;
	}
	cJSON_Delete(op->areq.body);
	memset(&op->areq, 0, sizeof(op->areq));
	int r = cg_actions_request(src, op->action, op->steps, op->index, op->prio_before, op->ev.priority, &op->cs,
				   op->payload, op->now, &op->areq);
	if (r == 0)
		return 0;
	if (r == 1) {
		CG_LOG_DEBUG("key=%s: %s: nothing to do", op->ev.dedup_key, cg_step_name(s));
		cg_actions_record(s, 0, &op->cs);
		op_advance(op);
		return 1;
	}
	snprintf(op->reason, sizeof(op->reason), "could not build %s: %s", cg_step_name(s), cg_strerror(r));
	op_retry(op, NULL);
	return 1;
}

/* The create request: the drafted body, the marker, the assignee and the project's UUID. */
static int send_create_for(struct op *op)
{
	cJSON *create = cJSON_GetObjectItemCaseSensitive(op->payload, "create");
	cJSON *body = create ? cg_engine_create_body(create, op->ev.dedup_key, op->cs.generation, op->cs.prev_case_key,
						     op->marker)
			     : NULL;
	if (!body)
		return CG_ENOMEM;
	int rc = cg_actions_decorate_create(body, find_source(op->e->cfg, op->ev.source), op->ev.priority,
					    &op->e->projects);
	if (rc) {
		cJSON_Delete(body);
		return rc;
	}
	return send_create(op, body);
}

static void projects_fetch(struct cg_engine *e);

static void projects_check(struct cg_engine *e)
{
	for (size_t i = 0; i < e->cfg->nsources; i++) {
		const struct cg_source_config *src = &e->cfg->sources[i];
		if (cg_project_is_key(src->project) && !cg_projects_id(&e->projects, src->project))
			CG_LOG_ERR("source '%s': project key '%s' is unknown to Datadog: its new cases wait until "
				   "the project exists (create it, e.g. with casegate provision)",
				   src->name, src->project);
	}
}

static void projects_done(const struct cg_dd_result *res, void *ud)
{
	struct cg_engine *e = ud;
	e->proj_fetching = 0;
	if (e->closed == ENGINE_TIMERS) {
		/* The engine was destroyed while the listing was out: it is ours to free now. */
		cg_projects_cleanup(&e->projects);
		free(e);
		return;
	}
	char why[300] = "";
	if (res->status == 200 && cg_projects_parse(&e->projects, res->body, res->body_len) == 0) {
		e->projects.loaded_ms = wall_ms();
		CG_LOG_INFO("project keys resolved (%zu project(s))", e->projects.n);
		projects_check(e);
	} else if (res->transport_error) {
		snprintf(why, sizeof(why), "listing projects failed: %s", res->errmsg);
	} else {
		snprintf(why, sizeof(why), "listing projects failed: HTTP %ld: %.200s", res->status,
			 res->body ? res->body : "");
	}
	if (why[0])
		CG_LOG_WARN("%s", why);
	struct op *list = e->proj_head;
	e->proj_head = e->proj_tail = NULL;
	while (list) {
		struct op *op = list;
		list = op->wait_next;
		if (e->stopping) {
			op_release(op);
		} else if (why[0] && !e->projects.loaded) {
			snprintf(op->reason, sizeof(op->reason), "project key not resolved: %s", why);
			op_retry(op, NULL);
		} else {
			op_send_step(op);
		}
	}
}

static void projects_fetch(struct cg_engine *e)
{
	if (e->proj_fetching || e->stopping)
		return;
	e->proj_fetching = 1;
	e->proj_fetch_ms = wall_ms();
	if (cg_dd_request(e->dd, "GET", "/api/v2/cases/projects", NULL, 0, projects_done, e) != 0) {
		e->proj_fetching = 0;
		CG_LOG_WARN("could not ask Datadog for the project list");
	}
}

/* 1 when the create must wait for project keys (the op waits or retries), 0 to send it. */
static int project_wait(struct op *op)
{
	struct cg_engine *e = op->e;
	const char *p = cg_json_str(op->payload, "create.data.relationships.project.data.id");
	if (!p || !cg_project_is_key(p))
		return 0;
	if (e->projects.loaded && cg_projects_id(&e->projects, p))
		return 0;
	if (e->projects.loaded && !e->proj_fetching && wall_ms() - e->proj_fetch_ms < 30000) {
		snprintf(op->reason, sizeof(op->reason),
			 "project key '%.64s' is unknown to Datadog (GET /api/v2/cases/projects)", p);
		op->http_status = 0;
		op_retry(op, NULL);
		return 1;
	}
	op->wait_next = NULL;
	if (e->proj_tail)
		e->proj_tail->wait_next = op;
	else
		e->proj_head = op;
	e->proj_tail = op;
	projects_fetch(e);
	if (!e->proj_fetching) {
		/* Could not even ask: leave the list for the next attempt. */
		e->proj_head = e->proj_tail = NULL;
		snprintf(op->reason, sizeof(op->reason), "project key '%.64s' not resolved yet", p);
		op_retry(op, NULL);
	}
	return 1;
}

/* Bulk: ops whose next step is the same close or priority change, within 50 ms, share one request. */
#define BULK_WINDOW_MS 50
#define BULK_MAX 100

static int bulk_enabled(const struct op *op)
{
	const struct cg_source_config *src = find_source(op->e->cfg, op->ev.source);
	if (!src || !src->actions.bulk || op->no_bulk || !op->cs.case_id)
		return 0;
	/* The bulk payload documents no status names: custom close statuses go one by one. */
	return !(op->steps[op->index] == CG_STEP_CLOSE && op->src.status_name);
}

static void bulk_timer_cb(uv_timer_t *t);

static int bulk_collect(struct op *op)
{
	struct cg_engine *e = op->e;
	if (op->bulk_members || !bulk_enabled(op))
		return 0;
	op->bulk_next = e->bulk_head;
	e->bulk_head = op;
	if (!uv_is_active((uv_handle_t *)&e->bulk_timer))
		uv_timer_start(&e->bulk_timer, bulk_timer_cb, BULK_WINDOW_MS, 0);
	return 1;
}

static int same_bulk(const struct op *a, const struct op *b)
{
	enum cg_step sa = a->steps[a->index], sb = b->steps[b->index];
	return sa == sb && (sa != CG_STEP_PRIORITY || a->ev.priority == b->ev.priority);
}

static void bulk_timer_cb(uv_timer_t *t)
{
	struct cg_engine *e = t->data;
	/* Arrival order (the list is newest first). */
	struct op *rev = NULL, *list = e->bulk_head;
	e->bulk_head = NULL;
	while (list) {
		struct op *n = list->bulk_next;
		list->bulk_next = rev;
		rev = list;
		list = n;
	}
	while (rev) {
		struct op *leader = rev, *tail = NULL;
		size_t n = 1;
		rev = rev->bulk_next;
		leader->bulk_next = NULL;
		for (struct op **pp = &rev; *pp && n < BULK_MAX;) {
			struct op *o = *pp;
			if (!same_bulk(leader, o)) {
				pp = &o->bulk_next;
				continue;
			}
			*pp = o->bulk_next;
			o->bulk_next = NULL;
			if (tail)
				tail->bulk_next = o;
			else
				leader->bulk_members = o;
			tail = o;
			n++;
		}
		if (n == 1)
			leader->no_bulk = 1; /* alone: the single request is the cheaper one */
		op_send_step(leader);
	}
}

static void bulk_done(const struct cg_dd_result *res, void *ud);

static int send_bulk(struct op *leader)
{
	size_t n = 1;
	for (struct op *m = leader->bulk_members; m; m = m->bulk_next)
		n++;
	const char **ids = calloc(n, sizeof(*ids));
	if (!ids)
		return CG_ENOMEM;
	ids[0] = leader->cs.case_id;
	size_t i = 1;
	for (struct op *m = leader->bulk_members; m; m = m->bulk_next)
		ids[i++] = m->cs.case_id;
	int close = leader->steps[leader->index] == CG_STEP_CLOSE;
	cJSON *body = close ? cg_body_bulk(ids, n, "status", "status", "CLOSED")
			    : cg_body_bulk(ids, n, "priority", "priority", cg_priority_name(leader->ev.priority));
	free(ids);
	if (!body)
		return CG_ENOMEM;
	char *text = cJSON_PrintUnformatted(body);
	cJSON_Delete(body);
	if (!text)
		return CG_ENOMEM;
	int rc = cg_dd_request(leader->e->dd, "POST", "/api/v2/cases/bulk", text, strlen(text), bulk_done, leader);
	cJSON_free(text);
	if (rc == 0)
		CG_LOG_DEBUG("bulk %s of %zu cases", close ? "close" : "priority", n);
	return rc;
}

static void bulk_done(const struct cg_dd_result *res, void *ud)
{
	struct op *leader = ud;
	struct cg_engine *e = leader->e;
	char labels[160];
	if (answer_seen(e, leader, "bulk", res))
		return; /* the whole batch goes again when the window resets */
	enum cg_outcome oc = cg_retry_classify(res->transport_error, res->status);
	snprintf(labels, sizeof(labels), "outcome=\"%s\"",
		 oc == CG_DELIVERED ? "delivered" : oc == CG_RETRY_LATER ? "retry" : "refused");
	cg_metrics_add(e->metrics, "casegate_bulk_requests_total", labels, 1);
	struct op *all = leader;
	leader->bulk_next = leader->bulk_members;
	leader->bulk_members = NULL;
	if (oc == CG_GIVE_UP)
		CG_LOG_WARN("bulk update refused (HTTP %ld: %.200s): single requests instead", res->status,
			    res->body ? res->body : "");
	while (all) {
		struct op *op = all;
		all = op->bulk_next;
		op->bulk_next = NULL;
		if (oc == CG_DELIVERED) {
			cg_metrics_add(e->metrics, "casegate_bulk_cases_total", op->source_label, 1);
			op_advance(op);
		} else if (oc == CG_GIVE_UP) {
			op->no_bulk = 1;
			op_send_step(op);
		} else {
			if (res->transport_error)
				snprintf(op->reason, sizeof(op->reason), "bulk: %s", res->errmsg);
			else
				snprintf(op->reason, sizeof(op->reason), "bulk: HTTP %ld", res->status);
			op->http_status = (int)res->status;
			op_retry(op, res);
		}
	}
}

/* Archive sweep: closed cases older than a source's archive_after get an archive event, which
 * then runs like any other event of their key (ordered, rate-limited, retried). */
struct sweep_job {
	struct cg_engine *e;
	size_t n;
	char **names;
	int64_t *before;
	size_t queued;
	int unsupported;
};

static void sweep_free(struct sweep_job *j)
{
	for (size_t i = 0; i < j->n; i++)
		free(j->names[i]);
	free(j->names);
	free(j->before);
	free(j);
}

static int sweep_run(struct cg_store *st, void *ud)
{
	struct sweep_job *j = ud;
	int64_t now = wall_ms();
	j->queued = 0;
	j->unsupported = 0;
	for (size_t i = 0; i < j->n; i++) {
		char prefix[200];
		struct cg_store_case *v = NULL;
		size_t nv = 0;
		snprintf(prefix, sizeof(prefix), "%s:", j->names[i]);
		int rc = cg_store_case_list_closed(st, prefix, j->before[i], CG_CASE_ARCHIVE_QUEUED | CG_CASE_ARCHIVED, 100,
						   &v, &nv);
		if (rc == CG_EINVAL && !st->ops->case_list_closed) {
			j->unsupported = 1;
			return 0;
		}
		if (rc)
			return rc;
		for (size_t k = 0; k < nv && rc == 0; k++) {
			char payload[128];
			snprintf(payload, sizeof(payload), "{\"case_id\":\"%.64s\"}", v[k].case_id);
			struct cg_store_event ev = {.source = j->names[i],
						    .dedup_key = v[k].dedup_key,
						    .status = CG_STATUS_RESOLVED,
						    .priority = v[k].priority,
						    .payload = payload,
						    .received_ms = now,
						    .next_ms = now,
						    .step = cg_step_encode(CG_ACT_ARCHIVE, 0)};
			/* Flag the case only if it is still the closed case listed: a replica (or this
			 * process) may have reopened or replaced it since; writing back the listed row
			 * would undo that. */
			int marked = 0;
			rc = cg_store_case_mark_closed(st, v[k].dedup_key, v[k].case_id, CG_CASE_ARCHIVE_QUEUED, &marked);
			if (rc == 0 && marked)
				rc = cg_store_enqueue(st, &ev, 1);
			if (rc == 0 && marked)
				j->queued++;
		}
		cg_store_cases_free(v, nv);
		if (rc)
			return rc;
	}
	return 0;
}

static void sweep_done(int rc, void *ud)
{
	struct sweep_job *j = ud;
	struct cg_engine *e = j->e;
	e->sweeping = 0;
	if (rc)
		CG_LOG_WARN("archive sweep failed: %s", cg_strerror(rc));
	else if (j->unsupported)
		CG_LOG_WARN("archive_after: the store cannot list closed cases; archiving is off");
	else if (j->queued) {
		CG_LOG_INFO("archive sweep: %zu case(s) to archive", j->queued);
		if (!e->stopping)
			cg_engine_kick(e);
	}
	sweep_free(j);
	maybe_stopped(e);
}

static void sweep_cb(uv_timer_t *t)
{
	struct cg_engine *e = t->data;
	if (e->sweeping || e->stopping)
		return;
	struct sweep_job *j = calloc(1, sizeof(*j));
	size_t n = e->cfg->nsources;
	if (!j || !(j->names = calloc(n ? n : 1, sizeof(char *))) || !(j->before = calloc(n ? n : 1, sizeof(int64_t)))) {
		if (j)
			sweep_free(j);
		return;
	}
	j->e = e;
	int64_t now = wall_ms();
	for (size_t i = 0; i < n; i++) {
		const struct cg_source_config *src = &e->cfg->sources[i];
		if (!src->actions.archive_after_ms)
			continue;
		if (!(j->names[j->n] = strdup(src->name)))
			break;
		j->before[j->n++] = now - (int64_t)src->actions.archive_after_ms;
	}
	if (j->n == 0 || cg_storeq_submit(e->q, sweep_run, sweep_done, j) != 0) {
		sweep_free(j);
		return;
	}
	e->sweeping = 1;
}

/* At creation and after a reload: resolve project keys, (re)arm the archive sweep. */
static void actions_start(struct cg_engine *e)
{
	uint64_t min = 0;
	int keys = 0;
	for (size_t i = 0; i < e->cfg->nsources; i++) {
		const struct cg_source_config *src = &e->cfg->sources[i];
		keys |= cg_project_is_key(src->project);
		if (src->actions.archive_after_ms && (!min || src->actions.archive_after_ms < min))
			min = src->actions.archive_after_ms;
	}
	if (keys) {
		/* A reload lists again: a project created since then resolves now. */
		e->projects.loaded_ms = 0;
		projects_fetch(e);
	}
	if (!min) {
		uv_timer_stop(&e->sweep_timer);
		return;
	}
	uint64_t iv = min / 4;
	if (iv < 250)
		iv = 250;
	if (iv > 10 * 60 * 1000)
		iv = 10 * 60 * 1000;
	uv_timer_start(&e->sweep_timer, sweep_cb, iv, iv);
}

static void actions_stop(struct cg_engine *e)
{
	uv_timer_stop(&e->sweep_timer);
	uv_timer_stop(&e->bulk_timer);
	/* Collected and waiting ops have saved their progress: they resume after restart. */
	struct op *list = e->bulk_head;
	e->bulk_head = NULL;
	while (list) {
		struct op *op = list;
		list = op->bulk_next;
		op->bulk_next = NULL;
		op_release(op);
	}
	list = e->proj_head;
	e->proj_head = e->proj_tail = NULL;
	while (list) {
		struct op *op = list;
		list = op->wait_next;
		op_release(op);
	}
}
