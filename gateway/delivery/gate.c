/* gate.c: what stands between a request and the Case API: the outage circuit (hold, probe,
 * resume) and the rate-limit buckets (wait for the window, most urgent first). */
#define CG_LOG_COMPONENT "engine"
#include "gate.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "circuit.h"
#include "ddanswer.h"
#include "err.h"
#include "log.h"
#include "requests.h"
#include "store.h"
#include "timing.h"

#define container_of(p, type, member) ((type *)(void *)((char *)(p)-offsetof(type, member)))

#define GATE_TIMERS 2

struct cg_gate {
	struct cg_storeq *q;
	struct cg_dd_client *dd;
	struct cg_metrics *metrics;
	struct cg_gate_hooks hooks;
	int stopping;
	/* Rate limits per bucket. */
	struct cg_rl rl;
	uv_timer_t rl_timer;
	/* The Case API circuit: while open, items wait in the held list, nothing new is taken, and
	 * one probe goes out at a capped backoff. */
	struct cg_circuit circ;
	uv_timer_t probe_timer;
	struct cg_gate_item *held_head, *held_tail;
	int probe_out;                /* the cheap probe request is on the wire */
	struct cg_gate_item *canary;  /* after the circuit closed: the one item sent before the others */
	int destroyed, closed;        /* cg_gate_destroy: free when the timers closed and the probe is back */
};

static void rl_timer_cb(uv_timer_t *t);
static void probe_timer_cb(uv_timer_t *t);
static void note_circuit(struct cg_gate *g);

static struct cg_store *store(const struct cg_gate *g)
{
	return cg_storeq_store(g->q);
}

static unsigned fleet(const struct cg_gate *g)
{
	return cg_store_fleet_size(store(g));
}

static const struct {
	const char *name;
	enum cg_metric_type type;
	const char *help;
} metrics_described[] = {
	{"casegate_rate_limit_waits_total", CG_COUNTER, "429 answers that paused outbound requests, by rate-limit bucket"},
	{"casegate_rate_limit_deferred_total", CG_COUNTER,
	 "Requests held until their bucket's advertised rate-limit window reset, by bucket"},
	{"casegate_datadog_circuit_open", CG_GAUGE,
	 "1 while the Case API circuit holds the queue, by cause (unavailable, credentials)"},
	{"casegate_datadog_circuit_opened_total", CG_COUNTER, "Times the Case API circuit opened, by cause"},
	{"casegate_datadog_probes_total", CG_COUNTER, "Probe requests while the circuit was open, by result (ok, failed)"},
	{"casegate_datadog_held_operations", CG_GAUGE, "Operations waiting in memory for the Case API circuit to close"},
};

int cg_gate_create(uv_loop_t *loop, struct cg_storeq *q, struct cg_dd_client *dd, struct cg_metrics *metrics,
		   const struct cg_config *cfg, const struct cg_gate_hooks *hooks, struct cg_gate **out)
{
	struct cg_gate *g = calloc(1, sizeof(*g));
	if (!g)
		return CG_ENOMEM;
	g->q = q;
	g->dd = dd;
	g->metrics = metrics;
	g->hooks = *hooks;
	cg_rl_init(&g->rl);
	uv_timer_init(loop, &g->rl_timer);
	g->rl_timer.data = g;
	uv_timer_init(loop, &g->probe_timer);
	g->probe_timer.data = g;
	cg_circuit_init(&g->circ, cfg->dd_circuit_threshold, cfg->retry_base_ms, cfg->retry_cap_ms);
	struct cg_metrics *m = g->metrics;
	for (size_t i = 0; i < sizeof(metrics_described) / sizeof(metrics_described[0]); i++)
		cg_metrics_describe(m, metrics_described[i].name, metrics_described[i].type, metrics_described[i].help);
	cg_metrics_set(m, "casegate_datadog_circuit_open", "cause=\"unavailable\"", 0);
	cg_metrics_set(m, "casegate_datadog_circuit_open", "cause=\"credentials\"", 0);
	cg_metrics_set(m, "casegate_datadog_held_operations", "", 0);
	/* A note left by an earlier run (stopped during an outage) is history now. */
	note_circuit(g);
	*out = g;
	return 0;
}

static void arm_probe(struct cg_gate *g)
{
	if (g->stopping || !g->circ.open)
		return;
	int64_t now = cg_timing_wall_ms();
	uint64_t in = g->circ.next_probe_ms > now ? (uint64_t)(g->circ.next_probe_ms - now) : 0;
	uv_timer_start(&g->probe_timer, probe_timer_cb, in, 0);
}

void cg_gate_set_config(struct cg_gate *g, const struct cg_config *c)
{
	g->circ.threshold = c->dd_circuit_threshold ? c->dd_circuit_threshold : 10;
	g->circ.base_ms = c->retry_base_ms ? c->retry_base_ms : 1000;
	g->circ.cap_ms = c->retry_cap_ms >= g->circ.base_ms ? c->retry_cap_ms : g->circ.base_ms;
	/* A reload may bring the keys or settings that end the outage: look at once. */
	if (g->circ.open) {
		cg_circuit_probe_now(&g->circ, cg_timing_wall_ms());
		arm_probe(g);
	}
}

int cg_gate_holding(const struct cg_gate *g)
{
	return g->circ.open || g->held_head != NULL || g->canary != NULL;
}

int cg_gate_open(const struct cg_gate *g)
{
	return g->circ.open;
}

static void held_gauge(struct cg_gate *g)
{
	unsigned n = 0;
	for (struct cg_gate_item *it = g->held_head; it; it = it->held_next)
		n++;
	cg_metrics_set(g->metrics, "casegate_datadog_held_operations", "", n);
}

static void hold_append(struct cg_gate *g, struct cg_gate_item *it, int front)
{
	it->held_next = NULL;
	if (front) {
		it->held_next = g->held_head;
		g->held_head = it;
		if (!g->held_tail)
			g->held_tail = it;
	} else {
		if (g->held_tail)
			g->held_tail->held_next = it;
		else
			g->held_head = it;
		g->held_tail = it;
	}
	held_gauge(g);
}

static struct cg_gate_item *hold_pop(struct cg_gate *g)
{
	struct cg_gate_item *it = g->held_head;
	if (!it)
		return NULL;
	g->held_head = it->held_next;
	if (!g->held_head)
		g->held_tail = NULL;
	it->held_next = NULL;
	held_gauge(g);
	return it;
}

int cg_gate_hold(struct cg_gate *g, struct cg_gate_item *it)
{
	/* While the circuit is open every request waits; right after it closed, only the canary
	 * goes until its answer shows the API takes real work again. */
	if (!g->circ.open && !(g->canary && g->canary != it))
		return 0;
	hold_append(g, it, 0);
	return 1;
}

void cg_gate_park_held(struct cg_gate *g, struct cg_gate_item *it)
{
	if (g->canary == it)
		g->canary = NULL;
	/* It failed on the way out: it goes first when the outage ends (oldest work first). */
	hold_append(g, it, 1);
}

/* Every held item goes again, at the pace the rate limits allow; new work is taken again. */
static void release_held(struct cg_gate *g)
{
	struct cg_gate_item *list = g->held_head;
	g->held_head = g->held_tail = NULL;
	held_gauge(g);
	while (list) {
		struct cg_gate_item *it = list;
		list = it->held_next;
		it->held_next = NULL;
		g->hooks.resend(it, g->hooks.ud);
	}
	g->hooks.resume(g->hooks.ud);
}

void cg_gate_gone(struct cg_gate *g, struct cg_gate_item *it)
{
	/* It must not stay the canary: the held ones would wait for an answer that never comes. */
	if (g->canary == it) {
		g->canary = NULL;
		if (!g->circ.open && !g->stopping)
			release_held(g);
	}
}

/* ---- circuit transitions ---- */

struct note_job {
	char name[32];
	char *value; /* NULL: remove */
};

static int note_run(struct cg_store *st, void *ud)
{
	struct note_job *j = ud;
	return cg_store_note_put(st, j->name, j->value);
}

static void note_done(int rc, void *ud)
{
	struct note_job *j = ud;
	if (rc && rc != CG_EINVAL)
		CG_LOG_DEBUG("status note %s not saved: %s", j->name, cg_strerror(rc));
	free(j->value);
	free(j);
}

/* Writes the circuit's state where `casegate status` reads it (best effort). */
static void note_circuit(struct cg_gate *g)
{
	if (!store(g)->ops->note_put)
		return;
	struct note_job *j = calloc(1, sizeof(*j));
	if (!j)
		return;
	snprintf(j->name, sizeof(j->name), "datadog");
	if (g->circ.open) {
		char since[32];
		time_t t = (time_t)(g->circ.opened_ms / 1000);
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm);
		size_t n = strlen(g->circ.why) + 160;
		j->value = malloc(n);
		if (j->value)
			snprintf(j->value, n, "holding since %s (%s): %s", since, cg_circuit_cause_name(g->circ.cause),
				 g->circ.why);
		if (!j->value) {
			free(j);
			return;
		}
	}
	if (cg_storeq_submit(g->q, note_run, note_done, j) != 0) {
		free(j->value);
		free(j);
	}
}

static void circuit_opened(struct cg_gate *g)
{
	char labels[64];
	snprintf(labels, sizeof(labels), "cause=\"%s\"", cg_circuit_cause_name(g->circ.cause));
	cg_metrics_add(g->metrics, "casegate_datadog_circuit_opened_total", labels, 1);
	cg_metrics_set(g->metrics, "casegate_datadog_circuit_open", labels, 1);
	if (g->circ.cause == CG_CAUSE_CREDENTIALS)
		CG_LOG_ERR("Datadog refuses casegate's keys (%s): holding the queue (nothing is dead-lettered); probing "
			   "until they work again (fix datadog.api_key/app_key and reload, or wait)",
			   g->circ.why);
	else
		CG_LOG_ERR("Datadog's Case API is unavailable (%s): holding the queue; probing at most every %" PRIu64
			   " ms until it answers",
			   g->circ.why, g->circ.cap_ms);
	note_circuit(g);
	arm_probe(g);
}

static void circuit_closed(struct cg_gate *g, enum cg_circuit_cause was, int64_t opened_ms)
{
	char labels[64];
	snprintf(labels, sizeof(labels), "cause=\"%s\"", cg_circuit_cause_name(was));
	cg_metrics_set(g->metrics, "casegate_datadog_circuit_open", labels, 0);
	uv_timer_stop(&g->probe_timer);
	CG_LOG_WARN("Datadog's Case API answers again after %" PRId64 " s (%s): resuming delivery",
		    (cg_timing_wall_ms() - opened_ms) / 1000, cg_circuit_cause_name(was));
	note_circuit(g);
	/* One item first (the canary): the probe read says the API is up, real work says more. */
	struct cg_gate_item *c = hold_pop(g);
	if (!c) {
		g->hooks.resume(g->hooks.ud);
		return;
	}
	g->canary = c;
	g->hooks.resend(c, g->hooks.ud);
}

/* A cause change while open (unavailable -> credentials) is reflected in the gauge. */
static void circuit_cause(struct cg_gate *g, enum cg_circuit_cause was)
{
	if (!g->circ.open || was == g->circ.cause)
		return;
	char labels[64];
	snprintf(labels, sizeof(labels), "cause=\"%s\"", cg_circuit_cause_name(was));
	cg_metrics_set(g->metrics, "casegate_datadog_circuit_open", labels, 0);
	snprintf(labels, sizeof(labels), "cause=\"%s\"", cg_circuit_cause_name(g->circ.cause));
	cg_metrics_set(g->metrics, "casegate_datadog_circuit_open", labels, 1);
	CG_LOG_ERR("Datadog outage continues, now: %s (%s)", cg_circuit_cause_name(g->circ.cause), g->circ.why);
	note_circuit(g);
}

/* ---- rate limits ---- */

static void rl_arm(struct cg_gate *g)
{
	int64_t due = cg_rl_next_wake(&g->rl);
	if (!due || g->stopping)
		return;
	int64_t now = cg_timing_wall_ms();
	uv_timer_start(&g->rl_timer, rl_timer_cb, due > now ? (uint64_t)(due - now) : 0, 0);
}

static void bucket_label(const struct cg_gate *g, unsigned b, char *buf, size_t len)
{
	char esc[80];
	cg_metrics_escape(g->rl.b[b].name[0] ? g->rl.b[b].name : "default", esc, sizeof(esc));
	snprintf(buf, len, "bucket=\"%s\"", esc);
}

static int64_t rank(const struct cg_gate *g, const struct cg_gate_item *it)
{
	return g->hooks.rank(it, g->hooks.ud);
}

int cg_gate_defer(struct cg_gate *g, struct cg_gate_item *it, enum cg_rl_class cls)
{
	int64_t now = cg_timing_wall_ms();
	int known = cls >= CG_RL_CLASSES || g->rl.cls_state[cls] == 2;
	if (!cg_rl_class_open(&g->rl, cls)) {
		/* The first request of its kind is out: its answer says which bucket this is. */
		cg_rl_wait(&g->rl, 0, &it->rlw, rank(g, it));
		return 1;
	}
	unsigned b = cg_rl_bucket_of(&g->rl, cls);
	unsigned charged = 0, full = 0;
	if (!known && cg_rl_charge_all(&g->rl, now, fleet(g), &charged, &full)) {
		/* Its bucket is not known yet and may be the one without room: the scout waits for
		 * that window to pass instead of meeting a 429 in it. */
		g->rl.cls_state[cls] = 0;
		cg_rl_wait(&g->rl, full, &it->rlw, rank(g, it));
		rl_arm(g);
		return 1;
	}
	int64_t closed = cg_store_rl_closed_until(store(g), g->rl.b[b].name);
	if (cg_rl_take(&g->rl, b, now, fleet(g), closed)) {
		it->bucket = b;
		it->charged = charged;
		it->cls = cls;
		CG_LOG_DEBUG("rl take cls=%d b=%u rem=%ld used=%ld unans=%u left=%ld reset_in=%lld scout=%d charged=%u", (int)cls, b,
			     g->rl.b[b].remaining, g->rl.b[b].used, g->rl.b[b].unanswered, g->rl.b[b].server_left,
			     (long long)(g->rl.b[b].reset_at ? g->rl.b[b].reset_at - now : -1), g->rl.b[b].scouting,
			     charged);
		return 0;
	}
	cg_rl_discharge(&g->rl, charged, -1);
	if (!known && cls < CG_RL_CLASSES)
		g->rl.cls_state[cls] = 0; /* the scout waits: when it goes, it is the scout again */
	char labels[96];
	bucket_label(g, b, labels, sizeof(labels));
	cg_metrics_add(g->metrics, "casegate_rate_limit_deferred_total", labels, 1);
	cg_rl_wait(&g->rl, b, &it->rlw, rank(g, it));
	rl_arm(g);
	return 1;
}

void cg_gate_unsent(struct cg_gate *g, struct cg_gate_item *it)
{
	cg_rl_untake(&g->rl, it->bucket);
	cg_rl_discharge(&g->rl, it->charged, -1);
	it->charged = 0;
	if (it->cls < CG_RL_CLASSES && g->rl.cls_state[it->cls] == 1)
		g->rl.cls_state[it->cls] = 0; /* the class's scout never left: the next one is */
}

/* Sends the waiters of list again (they take their bucket's room or park again). */
static void rl_resend(struct cg_gate *g, struct cg_rl_waiter *w)
{
	while (w) {
		struct cg_rl_waiter *next = w->next;
		w->next = NULL;
		struct cg_gate_item *it = container_of(w, struct cg_gate_item, rlw);
		if (g->stopping)
			g->hooks.release(it, g->hooks.ud);
		else
			g->hooks.resend(it, g->hooks.ud);
		w = next;
	}
}

static void rl_timer_cb(uv_timer_t *t)
{
	struct cg_gate *g = t->data;
	/* New windows: a scout goes first (most urgent first), the rest wait for its answer. */
	rl_resend(g, cg_rl_release(&g->rl, cg_timing_wall_ms(), fleet(g)));
	rl_arm(g);
}

/* ---- every answer ---- */

static void describe(const struct cg_dd_result *res, char *why, size_t len)
{
	if (res->transport_error) {
		snprintf(why, len, "%s", res->errmsg[0] ? res->errmsg : "transport error");
		return;
	}
	char text[200];
	cg_dd_answer_error(res->body, res->body_len, text, sizeof(text));
	snprintf(why, len, "HTTP %ld%s%s", res->status, text[0] ? ": " : "", text);
}

static int observe(struct cg_gate *g, struct cg_gate_item *it, enum cg_rl_class cls, unsigned bucket,
		   const char *step, const struct cg_dd_result *res, int probe)
{
	char labels[160];
	int64_t now = cg_timing_wall_ms();
	snprintf(labels, sizeof(labels), "step=\"%s\"", step);
	cg_metrics_observe(g->metrics, "casegate_outbound_latency_seconds", labels, res->elapsed_s);
	if (res->status) {
		snprintf(labels, sizeof(labels), "code=\"%ld\"", res->status);
		cg_metrics_add(g->metrics, "casegate_delivery_http_total", labels, 1);
	}
	struct cg_rl_answer a = {
		.status = res->status,
		.name = res->ratelimit_name,
		.limit = res->ratelimit_limit,
		.period = res->ratelimit_period,
		.remaining = res->ratelimit_remaining,
		.reset = res->ratelimit_reset,
		.retry_after = res->retry_after,
	};
	int64_t closed_until = 0;
	unsigned b = cg_rl_observe(&g->rl, cls, bucket, &a, now, fleet(g), &closed_until);
	CG_LOG_DEBUG("rl answer %ld cls=%d sent=%u b=%u hdr=%ld/%ld reset=%ld rem=%ld used=%ld unans=%u left=%ld", res->status, (int)cls,
		     bucket, b, a.remaining, a.limit, a.reset, g->rl.b[b].remaining, g->rl.b[b].used, g->rl.b[b].unanswered,
		     g->rl.b[b].server_left);
	if (it && it->charged) {
		cg_rl_discharge(&g->rl, it->charged, a.name && *a.name ? (int)b : 0);
		it->charged = 0;
	}
	if (closed_until)
		cg_store_rl_publish(store(g), g->rl.b[b].name, closed_until);

	enum cg_circuit_class cc = cg_circuit_classify(res->transport_error, res->status);
	char why[300] = "";
	if (cc != CG_CIRCUIT_ANSWERED)
		describe(res, why, sizeof(why));
	long wait_s = res->retry_after >= 0 ? res->retry_after : -1;
	enum cg_circuit_cause was = g->circ.cause;
	int64_t opened = g->circ.opened_ms;
	int t = cg_circuit_observe(&g->circ, cc, probe, why, wait_s, now, cg_timing_rnd64());
	if (probe)
		cg_metrics_add(g->metrics, "casegate_datadog_probes_total",
			       cc == CG_CIRCUIT_ANSWERED ? "result=\"ok\"" : "result=\"failed\"", 1);
	int canary_back = it && it == g->canary;
	if (canary_back)
		g->canary = NULL;
	/* The first real request after an outage failed the same way: the outage goes on. */
	if (canary_back && cc != CG_CIRCUIT_ANSWERED && t == 0 &&
	    cg_circuit_trip(&g->circ, cc, why, now, cg_timing_rnd64()))
		t = 1;
	if (t > 0) {
		circuit_opened(g);
	} else if (t < 0) {
		circuit_closed(g, was, opened);
	} else {
		circuit_cause(g, was);
		if (probe && g->circ.open)
			arm_probe(g);
	}
	/* The canary's answer (not an outage one) shows real work goes through: everyone goes. */
	if (canary_back && !g->circ.open && !g->stopping)
		release_held(g);

	int parked = 0;
	if (it && res->status == 429 && !g->stopping) {
		/* Not processed: the very same request goes again when the window resets. */
		bucket_label(g, b, labels, sizeof(labels));
		cg_metrics_add(g->metrics, "casegate_rate_limit_waits_total", labels, 1);
		cg_rl_wait(&g->rl, b, &it->rlw, rank(g, it));
		parked = 1;
	}
	/* A scout's answer (or any) may have made room before the window's end: those waiting go. */
	if (!g->stopping)
		rl_resend(g, cg_rl_ready(&g->rl));
	rl_arm(g);
	return parked ? -1 : (int)cc;
}

int cg_gate_answer(struct cg_gate *g, struct cg_gate_item *it, const char *step, const struct cg_dd_result *res)
{
	return observe(g, it, it->cls, it->bucket, step, res, 0);
}

void cg_gate_answer_read(struct cg_gate *g, const char *step, const struct cg_dd_result *res)
{
	observe(g, NULL, CG_RL_READ, CG_RL_MAX_BUCKETS, step, res, 0);
}

/* ---- probes ---- */

static void gate_free(struct cg_gate *g)
{
	free(g);
}

static void probe_done(const struct cg_dd_result *res, void *ud)
{
	struct cg_gate *g = ud;
	g->probe_out = 0;
	if (g->destroyed) {
		if (g->closed == GATE_TIMERS)
			gate_free(g);
		return;
	}
	if (g->stopping)
		return;
	observe(g, NULL, CG_RL_READ, CG_RL_MAX_BUCKETS, cg_req_row(CG_REQ_PROBE)->name, res, 1);
}

static void probe_timer_cb(uv_timer_t *t)
{
	struct cg_gate *g = t->data;
	if (!g->circ.open || g->probe_out || g->stopping)
		return;
	struct cg_req_ctx ctx = {0};
	struct cg_request rq;
	int rc = cg_req_build(CG_REQ_PROBE, &ctx, &rq);
	if (!rc) {
		rc = cg_dd_request(g->dd, rq.row->method, rq.path, rq.body, rq.body_len, probe_done, g);
		cg_request_cleanup(&rq);
	}
	if (rc != 0) {
		g->circ.failed_probes++;
		g->circ.next_probe_ms = cg_timing_wall_ms() + (int64_t)g->circ.base_ms;
		arm_probe(g);
		return;
	}
	g->probe_out = 1;
}

/* ---- stop ---- */

void cg_gate_stop(struct cg_gate *g)
{
	g->stopping = 1;
	uv_timer_stop(&g->rl_timer);
	uv_timer_stop(&g->probe_timer);
	struct cg_rl_waiter *w = cg_rl_take_all_waiters(&g->rl);
	while (w) {
		struct cg_rl_waiter *next = w->next;
		w->next = NULL;
		g->hooks.release(container_of(w, struct cg_gate_item, rlw), g->hooks.ud);
		w = next;
	}
	struct cg_gate_item *it;
	while ((it = hold_pop(g)) != NULL)
		g->hooks.release(it, g->hooks.ud);
}

static void timer_closed(uv_handle_t *h)
{
	struct cg_gate *g = h->data;
	if (++g->closed == GATE_TIMERS && !g->probe_out)
		gate_free(g);
}

void cg_gate_destroy(struct cg_gate *g)
{
	if (!g)
		return;
	g->destroyed = 1;
	g->stopping = 1;
	uv_close((uv_handle_t *)&g->rl_timer, timer_closed);
	uv_close((uv_handle_t *)&g->probe_timer, timer_closed);
}

int cg_gate_state(const struct cg_gate *g, char *why, size_t len)
{
	if (!g || !g->circ.open)
		return 0;
	if (why && len)
		snprintf(why, len, "Datadog %s: %s",
			 g->circ.cause == CG_CAUSE_CREDENTIALS ? "refuses casegate's keys" : "Case API unavailable",
			 g->circ.why);
	return 1;
}
