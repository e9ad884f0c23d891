/* gate.c: what stands between an op and the Case API: the outage circuit (hold, probe,
 * resume) and the rate-limit buckets (wait for the window, most urgent first). */
#define CG_LOG_COMPONENT "engine"
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ddanswer.h"
#include "engine_int.h"
#include "err.h"
#include "log.h"

#define container_of(p, type, member) ((type *)(void *)((char *)(p)-offsetof(type, member)))

int cg_eng_request_back(struct cg_engine *e);
static void rl_timer_cb(uv_timer_t *t);
static void probe_timer_cb(uv_timer_t *t);
static void note_circuit(struct cg_engine *e);

static struct cg_store *store(const struct cg_engine *e)
{
	return cg_storeq_store(e->q);
}

static unsigned fleet(const struct cg_engine *e)
{
	return cg_store_fleet_size(store(e));
}

void cg_gate_init(struct cg_engine *e)
{
	cg_rl_init(&e->rl);
	uv_timer_init(e->loop, &e->rl_timer);
	e->rl_timer.data = e;
	uv_timer_init(e->loop, &e->probe_timer);
	e->probe_timer.data = e;
	cg_circuit_init(&e->circ, e->cfg->dd_circuit_threshold, e->cfg->retry_base_ms, e->cfg->retry_cap_ms);
	struct cg_metrics *m = e->metrics;
	cg_metrics_describe(m, "casegate_rate_limit_waits_total", CG_COUNTER,
			    "429 answers that paused outbound requests, by rate-limit bucket");
	cg_metrics_describe(m, "casegate_rate_limit_deferred_total", CG_COUNTER,
			    "Requests held until their bucket's advertised rate-limit window reset, by bucket");
	cg_metrics_describe(m, "casegate_datadog_circuit_open", CG_GAUGE,
			    "1 while the Case API circuit holds the queue, by cause (unavailable, credentials)");
	cg_metrics_describe(m, "casegate_datadog_circuit_opened_total", CG_COUNTER,
			    "Times the Case API circuit opened, by cause");
	cg_metrics_describe(m, "casegate_datadog_probes_total", CG_COUNTER,
			    "Probe requests while the circuit was open, by result (ok, failed)");
	cg_metrics_describe(m, "casegate_datadog_held_operations", CG_GAUGE,
			    "Operations waiting in memory for the Case API circuit to close");
	cg_metrics_set(m, "casegate_datadog_circuit_open", "cause=\"unavailable\"", 0);
	cg_metrics_set(m, "casegate_datadog_circuit_open", "cause=\"credentials\"", 0);
	cg_metrics_set(m, "casegate_datadog_held_operations", "", 0);
	/* A note left by an earlier run (stopped during an outage) is history now. */
	note_circuit(e);
}

static void arm_probe(struct cg_engine *e)
{
	if (e->stopping || !e->circ.open)
		return;
	int64_t now = cg_eng_wall_ms();
	uint64_t in = e->circ.next_probe_ms > now ? (uint64_t)(e->circ.next_probe_ms - now) : 0;
	uv_timer_start(&e->probe_timer, probe_timer_cb, in, 0);
}

void cg_gate_config(struct cg_engine *e)
{
	const struct cg_config *c = e->cfg;
	e->circ.threshold = c->dd_circuit_threshold ? c->dd_circuit_threshold : 10;
	e->circ.base_ms = c->retry_base_ms ? c->retry_base_ms : 1000;
	e->circ.cap_ms = c->retry_cap_ms >= e->circ.base_ms ? c->retry_cap_ms : e->circ.base_ms;
	/* A reload may bring the keys or settings that end the outage: look at once. */
	if (e->circ.open) {
		cg_circuit_probe_now(&e->circ, cg_eng_wall_ms());
		arm_probe(e);
	}
}

int cg_gate_holding(const struct cg_engine *e)
{
	return e->circ.open || e->held_head != NULL || e->canary != NULL;
}

static void held_gauge(struct cg_engine *e)
{
	unsigned n = 0;
	for (struct op *o = e->held_head; o; o = o->held_next)
		n++;
	cg_metrics_set(e->metrics, "casegate_datadog_held_operations", "", n);
}

static void hold_append(struct op *op, int front)
{
	struct cg_engine *e = op->e;
	op->held = 1;
	op->held_next = NULL;
	if (front) {
		op->held_next = e->held_head;
		e->held_head = op;
		if (!e->held_tail)
			e->held_tail = op;
	} else {
		if (e->held_tail)
			e->held_tail->held_next = op;
		else
			e->held_head = op;
		e->held_tail = op;
	}
	held_gauge(e);
}

static struct op *hold_pop(struct cg_engine *e)
{
	struct op *op = e->held_head;
	if (!op)
		return NULL;
	e->held_head = op->held_next;
	if (!e->held_head)
		e->held_tail = NULL;
	op->held_next = NULL;
	op->held = 0;
	held_gauge(e);
	return op;
}

int cg_gate_hold(struct op *op)
{
	struct cg_engine *e = op->e;
	/* While the circuit is open every request waits; right after it closed, only the canary
	 * goes until its answer shows the API takes real work again. */
	if (!e->circ.open && !(e->canary && e->canary != op))
		return 0;
	hold_append(op, 0);
	return 1;
}

void cg_gate_park_held(struct op *op)
{
	struct cg_engine *e = op->e;
	if (e->canary == op)
		e->canary = NULL;
	/* It failed on the way out: it goes first when the outage ends (oldest work first). */
	hold_append(op, 1);
}

/* Every held op goes again, at the pace the rate limits allow; claiming resumes. */
static void release_held(struct cg_engine *e)
{
	struct op *list = e->held_head;
	e->held_head = e->held_tail = NULL;
	held_gauge(e);
	while (list) {
		struct op *op = list;
		list = op->held_next;
		op->held_next = NULL;
		op->held = 0;
		cg_eng_op_send_step(op);
	}
	cg_engine_kick(e);
}

/* An op ends (finished, released at stop): it must not stay the canary. */
void cg_gate_op_gone(struct op *op);
void cg_gate_op_gone(struct op *op)
{
	struct cg_engine *e = op->e;
	if (e->canary == op) {
		e->canary = NULL;
		if (!e->circ.open && !e->stopping)
			release_held(e);
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
static void note_circuit(struct cg_engine *e)
{
	if (!store(e)->ops->note_put)
		return;
	struct note_job *j = calloc(1, sizeof(*j));
	if (!j)
		return;
	snprintf(j->name, sizeof(j->name), "datadog");
	if (e->circ.open) {
		char since[32];
		time_t t = (time_t)(e->circ.opened_ms / 1000);
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm);
		size_t n = strlen(e->circ.why) + 160;
		j->value = malloc(n);
		if (j->value)
			snprintf(j->value, n, "holding since %s (%s): %s", since, cg_circuit_cause_name(e->circ.cause),
				 e->circ.why);
		if (!j->value) {
			free(j);
			return;
		}
	}
	if (cg_storeq_submit(e->q, note_run, note_done, j) != 0) {
		free(j->value);
		free(j);
	}
}

static void circuit_opened(struct cg_engine *e)
{
	char labels[64];
	snprintf(labels, sizeof(labels), "cause=\"%s\"", cg_circuit_cause_name(e->circ.cause));
	cg_metrics_add(e->metrics, "casegate_datadog_circuit_opened_total", labels, 1);
	cg_metrics_set(e->metrics, "casegate_datadog_circuit_open", labels, 1);
	if (e->circ.cause == CG_CAUSE_CREDENTIALS)
		CG_LOG_ERR("Datadog refuses casegate's keys (%s): holding the queue (nothing is dead-lettered); probing "
			   "until they work again (fix datadog.api_key/app_key and reload, or wait)",
			   e->circ.why);
	else
		CG_LOG_ERR("Datadog's Case API is unavailable (%s): holding the queue; probing at most every %" PRIu64
			   " ms until it answers",
			   e->circ.why, e->circ.cap_ms);
	note_circuit(e);
	arm_probe(e);
}

static void circuit_closed(struct cg_engine *e, enum cg_circuit_cause was, int64_t opened_ms)
{
	char labels[64];
	snprintf(labels, sizeof(labels), "cause=\"%s\"", cg_circuit_cause_name(was));
	cg_metrics_set(e->metrics, "casegate_datadog_circuit_open", labels, 0);
	uv_timer_stop(&e->probe_timer);
	CG_LOG_WARN("Datadog's Case API answers again after %" PRId64 " s (%s): resuming delivery",
		    (cg_eng_wall_ms() - opened_ms) / 1000, cg_circuit_cause_name(was));
	note_circuit(e);
	/* One op first (the canary): the probe read says the API is up, real work says more. */
	struct op *c = hold_pop(e);
	if (!c) {
		cg_engine_kick(e);
		return;
	}
	e->canary = c;
	cg_eng_op_send_step(c);
}

/* A cause change while open (unavailable -> credentials) is reflected in the gauge. */
static void circuit_cause(struct cg_engine *e, enum cg_circuit_cause was)
{
	if (!e->circ.open || was == e->circ.cause)
		return;
	char labels[64];
	snprintf(labels, sizeof(labels), "cause=\"%s\"", cg_circuit_cause_name(was));
	cg_metrics_set(e->metrics, "casegate_datadog_circuit_open", labels, 0);
	snprintf(labels, sizeof(labels), "cause=\"%s\"", cg_circuit_cause_name(e->circ.cause));
	cg_metrics_set(e->metrics, "casegate_datadog_circuit_open", labels, 1);
	CG_LOG_ERR("Datadog outage continues, now: %s (%s)", cg_circuit_cause_name(e->circ.cause), e->circ.why);
	note_circuit(e);
}

/* ---- rate limits ---- */

static void rl_arm(struct cg_engine *e)
{
	int64_t due = cg_rl_next_wake(&e->rl);
	if (!due || e->stopping)
		return;
	int64_t now = cg_eng_wall_ms();
	uv_timer_start(&e->rl_timer, rl_timer_cb, due > now ? (uint64_t)(due - now) : 0, 0);
}

int cg_gate_rank(const struct op *op)
{
	int p = op->ev.priority >= 1 && op->ev.priority <= 5 ? op->ev.priority : 6;
	/* A new case or a raised priority is what someone must see now; comments, closes and the
	 * rest of an equally urgent alert come after it. */
	int urgent = op->action == CG_ACT_CREATE || op->action == CG_ACT_ESCALATE || op->action == CG_ACT_REOPEN;
	return p * 2 + (urgent ? 0 : 1);
}

static void bucket_label(const struct cg_engine *e, unsigned b, char *buf, size_t len)
{
	char esc[80];
	cg_metrics_escape(e->rl.b[b].name[0] ? e->rl.b[b].name : "default", esc, sizeof(esc));
	snprintf(buf, len, "bucket=\"%s\"", esc);
}

int cg_gate_defer(struct op *op, enum cg_rl_class cls)
{
	struct cg_engine *e = op->e;
	if (!cg_rl_class_open(&e->rl, cls)) {
		/* The first request of its kind is out: its answer says which bucket this is. */
		cg_rl_wait(&e->rl, 0, &op->rlw, cg_gate_rank(op));
		return 1;
	}
	unsigned b = cg_rl_bucket_of(&e->rl, cls);
	int64_t closed = cg_store_rl_closed_until(store(e), e->rl.b[b].name);
	if (cg_rl_take(&e->rl, b, cg_eng_wall_ms(), fleet(e), closed)) {
		op->rl_bucket = b;
		op->rl_class = cls;
		return 0;
	}
	char labels[96];
	bucket_label(e, b, labels, sizeof(labels));
	cg_metrics_add(e->metrics, "casegate_rate_limit_deferred_total", labels, 1);
	cg_rl_wait(&e->rl, b, &op->rlw, cg_gate_rank(op));
	rl_arm(e);
	return 1;
}

/* Sends the waiters of list again (they take their bucket's room or park again). */
static void rl_resend(struct cg_engine *e, struct cg_rl_waiter *w)
{
	while (w) {
		struct cg_rl_waiter *next = w->next;
		w->next = NULL;
		struct op *op = container_of(w, struct op, rlw);
		if (e->stopping)
			cg_eng_op_release(op);
		else
			cg_eng_op_send_step(op);
		w = next;
	}
}

static void rl_timer_cb(uv_timer_t *t)
{
	struct cg_engine *e = t->data;
	/* New windows: a scout goes first (most urgent first), the rest wait for its answer. */
	rl_resend(e, cg_rl_release(&e->rl, cg_eng_wall_ms(), fleet(e)));
	rl_arm(e);
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

static int observe(struct cg_engine *e, struct op *op, enum cg_rl_class cls, unsigned bucket, const char *step,
		   const struct cg_dd_result *res, int probe)
{
	char labels[160];
	int64_t now = cg_eng_wall_ms();
	snprintf(labels, sizeof(labels), "step=\"%s\"", step);
	cg_metrics_observe(e->metrics, "casegate_outbound_latency_seconds", labels, res->elapsed_s);
	if (res->status) {
		snprintf(labels, sizeof(labels), "code=\"%ld\"", res->status);
		cg_metrics_add(e->metrics, "casegate_delivery_http_total", labels, 1);
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
	unsigned b = cg_rl_observe(&e->rl, cls, bucket, &a, now, fleet(e), &closed_until);
	if (closed_until)
		cg_store_rl_publish(store(e), e->rl.b[b].name, closed_until);

	enum cg_circuit_class cc = cg_circuit_classify(res->transport_error, res->status);
	char why[300] = "";
	if (cc != CG_CIRCUIT_ANSWERED)
		describe(res, why, sizeof(why));
	long wait_s = res->retry_after >= 0 ? res->retry_after : -1;
	enum cg_circuit_cause was = e->circ.cause;
	int64_t opened = e->circ.opened_ms;
	int t = cg_circuit_observe(&e->circ, cc, probe, why, wait_s, now, cg_eng_rnd64());
	if (probe)
		cg_metrics_add(e->metrics, "casegate_datadog_probes_total",
			       cc == CG_CIRCUIT_ANSWERED ? "result=\"ok\"" : "result=\"failed\"", 1);
	int canary_back = op && op == e->canary;
	if (canary_back)
		e->canary = NULL;
	/* The first real request after an outage failed the same way: the outage goes on. */
	if (canary_back && cc != CG_CIRCUIT_ANSWERED && t == 0 && cg_circuit_trip(&e->circ, cc, why, now, cg_eng_rnd64()))
		t = 1;
	if (t > 0) {
		circuit_opened(e);
	} else if (t < 0) {
		circuit_closed(e, was, opened);
	} else {
		circuit_cause(e, was);
		if (probe && e->circ.open)
			arm_probe(e);
	}
	/* The canary's answer (not an outage one) shows real work goes through: everyone goes. */
	if (canary_back && !e->circ.open && !e->stopping)
		release_held(e);

	int parked = 0;
	if (op && res->status == 429 && !e->stopping) {
		/* Not processed: the very same request goes again when the window resets. */
		bucket_label(e, b, labels, sizeof(labels));
		cg_metrics_add(e->metrics, "casegate_rate_limit_waits_total", labels, 1);
		cg_rl_wait(&e->rl, b, &op->rlw, cg_gate_rank(op));
		parked = 1;
	}
	/* A scout's answer (or any) may have made room before the window's end: those waiting go. */
	if (!e->stopping)
		rl_resend(e, cg_rl_ready(&e->rl));
	rl_arm(e);
	return parked ? -1 : (int)cc;
}

int cg_gate_answer(struct cg_engine *e, struct op *op, enum cg_rl_class cls, unsigned bucket, const char *step,
		   const struct cg_dd_result *res)
{
	return observe(e, op, cls, bucket, step, res, 0);
}

/* ---- probes ---- */

static void probe_done(const struct cg_dd_result *res, void *ud)
{
	struct cg_engine *e = ud;
	e->probe_out = 0;
	if (cg_eng_request_back(e))
		return;
	if (e->stopping)
		return;
	observe(e, NULL, CG_RL_READ, CG_RL_MAX_BUCKETS, "probe", res, 1);
}

static void probe_timer_cb(uv_timer_t *t)
{
	struct cg_engine *e = t->data;
	if (!e->circ.open || e->probe_out || e->stopping)
		return;
	struct cg_req_ctx ctx = {0};
	struct cg_request rq;
	int rc = cg_req_build(CG_REQ_PROBE, &ctx, &rq);
	if (!rc) {
		rc = cg_dd_request(e->dd, rq.row->method, rq.path, rq.body, rq.body_len, probe_done, e);
		cg_request_cleanup(&rq);
	}
	if (rc != 0) {
		e->circ.failed_probes++;
		e->circ.next_probe_ms = cg_eng_wall_ms() + (int64_t)e->circ.base_ms;
		arm_probe(e);
		return;
	}
	e->probe_out = 1;
	e->pending_cb++;
}

/* ---- lifecycle ---- */

void cg_gate_stop(struct cg_engine *e)
{
	uv_timer_stop(&e->rl_timer);
	uv_timer_stop(&e->probe_timer);
	struct cg_rl_waiter *w = cg_rl_take_all_waiters(&e->rl);
	while (w) {
		struct cg_rl_waiter *next = w->next;
		w->next = NULL;
		cg_eng_op_release(container_of(w, struct op, rlw));
		w = next;
	}
	struct op *op;
	while ((op = hold_pop(e)) != NULL)
		cg_eng_op_release(op);
}

void cg_gate_close_handles(struct cg_engine *e, uv_close_cb cb)
{
	uv_close((uv_handle_t *)&e->rl_timer, cb);
	uv_close((uv_handle_t *)&e->probe_timer, cb);
}

int cg_engine_datadog_state(const struct cg_engine *e, char *why, size_t len)
{
	if (!e || !e->circ.open)
		return 0;
	if (why && len)
		snprintf(why, len, "Datadog %s: %s",
			 e->circ.cause == CG_CAUSE_CREDENTIALS ? "refuses casegate's keys" : "Case API unavailable",
			 e->circ.why);
	return 1;
}
