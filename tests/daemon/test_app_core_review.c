/* test_app_core_review.c: regression tests for daemon-core review findings (engine, store use, reload, CLI). */
/* labels: integration */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <sys/wait.h>
#include <uv.h>

#include "config.h"
#include "ddclient.h"
#include "engine.h"
#include "err.h"
#include "event.h"
#include "http.h"
#include "itest.h"
#include "metrics.h"
#include "store.h"
#include "storeq.h"

#define DEADLINE_MS 8000u

/* ---- a scripted Case API on the test's own loop ------------------------------------------ */

enum verdict { V_PROCESS = 0, V_DROP = -1, V_HOLD = -2 };

struct rec {
	char method[8];
	char path[256];
	char *body;
};

struct fake {
	struct cg_http_server *srv;
	int port;
	int ncases;
	char *desc[32]; /* description of case i+1 */
	struct rec recs[256];
	int nrec;
	/* Decides per request: V_PROCESS, V_DROP (process, then close without answer), V_HOLD
	 * (answer later with fake_release), or an HTTP status to answer without processing. */
	int (*script)(struct fake *f, const struct cg_http_request *req, const char *op);
	int script_state;
	struct cg_http_request *held;
	int held_status;
	char *held_body;
	const char *extra_hdr_name, *extra_hdr_value; /* sent with every answer */
	const char *extra_hdr_name2, *extra_hdr_value2;
	int closed;
};

static int count_recs(const struct fake *f, const char *method, const char *path_sub)
{
	int n = 0;
	for (int i = 0; i < f->nrec; i++)
		if (strcmp(f->recs[i].method, method) == 0 && strstr(f->recs[i].path, path_sub))
			n++;
	return n;
}

/* The body of the k-th (0-based) recorded request matching method and path_sub, or NULL. */
static const char *rec_body(const struct fake *f, const char *method, const char *path_sub, int k)
{
	for (int i = 0; i < f->nrec; i++)
		if (strcmp(f->recs[i].method, method) == 0 && strstr(f->recs[i].path, path_sub) && k-- == 0)
			return f->recs[i].body ? f->recs[i].body : "";
	return NULL;
}

static void fake_answer(struct fake *f, struct cg_http_request *req, int status, const char *body)
{
	struct cg_http_header h[2];
	size_t nh = 0;
	if (f->extra_hdr_name)
		h[nh++] = (struct cg_http_header){f->extra_hdr_name, f->extra_hdr_value};
	if (f->extra_hdr_name2)
		h[nh++] = (struct cg_http_header){f->extra_hdr_name2, f->extra_hdr_value2};
	cg_http_respond(req, status, "application/json", body, strlen(body), nh ? h : NULL, nh);
}

/* Applies the request to the fake's state; returns the status and a malloc'd body. */
static int fake_process(struct fake *f, const struct cg_http_request *req, char **body)
{
	if (strcmp(req->method, "POST") == 0 && strcmp(req->path, "/api/v2/cases") == 0) {
		cJSON *in = cJSON_ParseWithLength(req->body, req->body_len);
		const char *d = cg_json_str(in, "data.attributes.description");
		int n = ++f->ncases;
		if (n <= 32)
			f->desc[n - 1] = strdup(d ? d : "");
		cJSON_Delete(in);
		*body = cg_h_fmt(
		    "{\"data\":{\"id\":\"case-%d\",\"type\":\"case\",\"attributes\":{\"key\":\"DEMO-%d\"}}}", n, n);
		return 201;
	}
	if (strcmp(req->method, "GET") == 0 && strcmp(req->path, "/api/v2/cases") == 0) {
		char filter[128] = "";
		cg_http_query_get(req, "filter", filter, sizeof(filter));
		cJSON *out = cJSON_CreateObject();
		cJSON *data = cJSON_AddArrayToObject(out, "data");
		for (int i = 0; i < f->ncases && i < 32; i++) {
			if (!filter[0] || !strstr(f->desc[i], filter))
				continue;
			cJSON *c = cJSON_CreateObject();
			char id[32], key[32];
			snprintf(id, sizeof(id), "case-%d", i + 1);
			snprintf(key, sizeof(key), "DEMO-%d", i + 1);
			cJSON_AddStringToObject(c, "id", id);
			cJSON *a = cJSON_AddObjectToObject(c, "attributes");
			cJSON_AddStringToObject(a, "key", key);
			cJSON_AddStringToObject(a, "description", f->desc[i]);
			cJSON_AddItemToArray(data, c);
		}
		*body = cJSON_PrintUnformatted(out);
		cJSON_Delete(out);
		return 200;
	}
	if (strncmp(req->path, "/api/v2/cases/case-", 19) == 0) {
		*body = strdup("{\"data\":{\"id\":\"x\",\"type\":\"case\"}}");
		return 200;
	}
	*body = strdup("{\"errors\":[\"Not Found\"]}");
	return 404;
}

static void fake_handle(struct cg_http_request *req, void *ud)
{
	struct fake *f = ud;
	if (f->nrec < 256) {
		struct rec *r = &f->recs[f->nrec++];
		snprintf(r->method, sizeof(r->method), "%s", req->method);
		snprintf(r->path, sizeof(r->path), "%s%s%s", req->path, req->query[0] ? "?" : "", req->query);
		r->body = req->body_len ? strdup(req->body) : NULL;
	}
	const char *op = strcmp(req->method, "GET") == 0           ? "search"
	                 : strcmp(req->path, "/api/v2/cases") == 0 ? "create"
	                                                           : strrchr(req->path, '/') + 1;
	int v = f->script ? f->script(f, req, op) : V_PROCESS;
	if (v > 0) {
		fake_answer(f, req, v, "{\"errors\":[\"scripted\"]}");
		return;
	}
	char *body = NULL;
	int status = fake_process(f, req, &body);
	if (v == V_DROP) {
		free(body);
		cg_http_drop(req);
	} else if (v == V_HOLD) {
		assert_null(f->held);
		f->held = req;
		f->held_status = status;
		f->held_body = body;
	} else {
		fake_answer(f, req, status, body ? body : "{}");
		free(body);
	}
}

static void fake_release(struct fake *f)
{
	assert_non_null(f->held);
	fake_answer(f, f->held, f->held_status, f->held_body ? f->held_body : "{}");
	free(f->held_body);
	f->held = NULL;
	f->held_body = NULL;
}

/* ---- one engine with its store, store queue and client ------------------------------------ */

struct rig {
	uv_loop_t loop;
	char *dir;
	struct fake fake;
	struct cg_config *cfg;
	struct cg_store *st;
	struct cg_storeq *q;
	struct cg_dd_client *dd;
	struct cg_metrics *metrics;
	struct cg_engine *e;
	int stopped, dd_closed, q_closed;
	int64_t next_id;
};

static struct cg_config *parse_cfg(const char *source_extra)
{
	char *text = cg_h_fmt("listen: 127.0.0.1:0\n"
	                      "datadog:\n  search_settle: 300ms\n"
	                      "queue:\n  retry_base: 20ms\n  retry_cap: 100ms\n"
	                      "sources:\n"
	                      "  - name: demo\n"
	                      "    type: generic\n"
	                      "    auth: none\n"
	                      "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
	                      "    case_type: 00000000-0000-0000-0000-000000000001\n"
	                      "%s",
	                      source_extra ? source_extra : "");
	struct cg_config *c = NULL;
	char *errs = NULL;
	int rc = cg_config_parse("rig.yaml", text, strlen(text), &c, &errs);
	if (rc)
		fprintf(stderr, "config: %s\n", errs ? errs : "?");
	free(errs);
	free(text);
	assert_int_equal(rc, 0);
	return c;
}

static void rig_start(struct rig *r, const char *source_extra)
{
	memset(r, 0, sizeof(*r));
	assert_int_equal(uv_loop_init(&r->loop), 0);
	r->dir = cg_h_tmpdir("cg-review");
	assert_non_null(r->dir);
	struct cg_http_limits lim;
	cg_http_limits_default(&lim);
	char err[256] = "";
	assert_int_equal(cg_http_server_create(&r->loop, "127.0.0.1", 0, &lim, fake_handle, &r->fake, &r->fake.srv, err,
	                                       sizeof(err)),
	                 0);
	r->fake.port = cg_http_server_port(r->fake.srv);
	r->cfg = parse_cfg(source_extra);
	assert_int_equal(cg_store_sqlite_open(r->dir, &r->st, err, sizeof(err)), 0);
	assert_int_equal(cg_storeq_create(&r->loop, r->st, 1, &r->q), 0);
	assert_int_equal(cg_metrics_create(&r->metrics), 0);
	char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", r->fake.port);
	struct cg_dd_opts o = {.base_url = url, .api_key = "k", .app_key = "k"};
	assert_int_equal(cg_dd_client_create(&r->loop, &o, &r->dd, err, sizeof(err)), 0);
	assert_int_equal(cg_engine_create(&r->loop, r->q, r->dd, r->metrics, r->cfg, &r->e), 0);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs the loop until pred(r) holds or the deadline passes; returns pred's last value. */
static void tick_cb(uv_timer_t *t)
{
	(void)t;
}
static int run_until(struct rig *r, int (*pred)(struct rig *r), unsigned deadline_ms)
{
	uv_timer_t tick;
	uv_timer_init(&r->loop, &tick);
	uv_timer_start(&tick, tick_cb, 5, 5);
	int64_t end = now_ms() + deadline_ms;
	int ok;
	while (!(ok = pred(r)) && now_ms() < end)
		uv_run(&r->loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(&r->loop, UV_RUN_NOWAIT);
	return ok;
}

/* A blocking store call from the test, through the store queue (the store is single-threaded). */
struct sync_job {
	int (*fn)(struct cg_store *st, void *arg);
	void *arg;
	int rc, done;
};
static int sync_run(struct cg_store *st, void *ud)
{
	struct sync_job *j = ud;
	return j->fn(st, j->arg);
}
static void sync_done(int rc, void *ud)
{
	struct sync_job *j = ud;
	j->rc = rc;
	j->done = 1;
}
static struct sync_job *cur_sync;
static int sync_finished(struct rig *r)
{
	(void)r;
	return cur_sync->done;
}
static int store_sync(struct rig *r, int (*fn)(struct cg_store *st, void *arg), void *arg)
{
	struct sync_job j = {.fn = fn, .arg = arg};
	cur_sync = &j;
	assert_int_equal(cg_storeq_submit(r->q, sync_run, sync_done, &j), 0);
	assert_true(run_until(r, sync_finished, DEADLINE_MS));
	return j.rc;
}

static int enqueue_fn(struct cg_store *st, void *arg)
{
	return cg_store_enqueue(st, arg, 1);
}

/* Queues one event for key `key` of source demo and kicks the engine. */
static void rig_event(struct rig *r, const char *key, int status, int prio, const char *summary, int with_attrs)
{
	char dk[128];
	snprintf(dk, sizeof(dk), "demo:%s", key);
	char *payload =
	    cg_h_fmt("{\"title\":\"%s\",\"summary\":\"%s\",\"create\":{\"data\":{\"type\":\"case\",\"attributes\":"
	             "{\"title\":\"%s\",\"type_id\":\"00000000-0000-0000-0000-000000000001\",\"priority\":\"P%d\","
	             "\"description\":\"d\"},\"relationships\":{\"project\":{\"data\":{\"id\":"
	             "\"d4bbe1af-f36e-42f1-87c1-493ca35c320e\",\"type\":\"project\"}}}}}%s}",
	             key, summary, key, prio, with_attrs ? ",\"attributes\":{\"team\":[\"db\"]}" : "");
	struct cg_store_event ev = {
	    .source = "demo",
	    .dedup_key = dk,
	    .status = status,
	    .priority = prio,
	    .severity = prio == 1 ? "critical" : "warning",
	    .payload = payload,
	    .received_ms = now_ms(),
	    .next_ms = now_ms(),
	};
	assert_int_equal(store_sync(r, enqueue_fn, &ev), 0);
	free(payload);
	cg_engine_kick(r->e);
}

static int stats_fn(struct cg_store *st, void *arg)
{
	return cg_store_stats(st, arg);
}

static int queue_empty(struct rig *r)
{
	struct cg_store_stats s;
	if (store_sync(r, stats_fn, &s) != 0)
		return 0;
	return s.pending == 0 && cg_engine_inflight(r->e) == 0;
}

__attribute__((unused)) static int engine_idle(struct rig *r)
{
	return cg_engine_inflight(r->e) == 0;
}

struct case_arg {
	const char *key;
	struct cg_store_case c;
};
struct dl_arg {
	size_t n;
	char last_reason[512];
};

static int dl_fn(struct cg_store *st, void *arg)
{
	struct dl_arg *a = arg;
	struct cg_dead_letter *v = NULL;
	int rc = cg_store_dead_list(st, 100, &v, &a->n);
	if (rc == 0 && a->n)
		snprintf(a->last_reason, sizeof(a->last_reason), "%s", v[a->n - 1].reason ? v[a->n - 1].reason : "");
	cg_dead_letters_free(v, a->n);
	return rc;
}

static int case_fn(struct cg_store *st, void *arg)
{
	struct case_arg *a = arg;
	cg_store_case_cleanup(&a->c);
	memset(&a->c, 0, sizeof(a->c));
	return cg_store_case_get(st, a->key, &a->c);
}

static void on_stopped(void *ud)
{
	((struct rig *)ud)->stopped = 1;
}
static void on_dd_closed(void *ud)
{
	((struct rig *)ud)->dd_closed = 1;
}
static void on_q_closed(void *ud)
{
	((struct rig *)ud)->q_closed = 1;
}
static void on_fake_closed(void *ud)
{
	((struct fake *)ud)->closed = 1;
}
static int rig_stopped(struct rig *r)
{
	return r->stopped;
}
static int rig_all_closed(struct rig *r)
{
	return r->dd_closed && r->q_closed && r->fake.closed;
}

static void rig_stop(struct rig *r)
{
	if (r->fake.held)
		fake_release(&r->fake);
	if (!r->stopped) {
		cg_engine_stop(r->e, on_stopped, r);
		assert_true(run_until(r, rig_stopped, DEADLINE_MS));
	}
	cg_engine_destroy(r->e);
	cg_dd_client_destroy(r->dd, on_dd_closed, r);
	cg_storeq_destroy(r->q, on_q_closed, r);
	cg_http_server_close(r->fake.srv, on_fake_closed, &r->fake);
	assert_true(run_until(r, rig_all_closed, DEADLINE_MS));
	uv_run(&r->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&r->loop), 0);
	cg_store_close(r->st);
	cg_metrics_destroy(r->metrics);
	cg_config_free(r->cfg);
	for (int i = 0; i < r->fake.nrec; i++)
		free(r->fake.recs[i].body);
	for (int i = 0; i < r->fake.ncases && i < 32; i++)
		free(r->fake.desc[i]);
	cg_h_rmrf(r->dir);
	free(r->dir);
}

static void expect_cases(struct rig *r, int want)
{
	if (r->fake.ncases != want) {
		fprintf(stderr, "cases created: got %d, want %d; requests:\n", r->fake.ncases, want);
		for (int i = 0; i < r->fake.nrec; i++)
			fprintf(stderr, "  %s %s\n", r->fake.recs[i].method, r->fake.recs[i].path);
	}
	assert_int_equal(r->fake.ncases, want);
}

/* ---- a create retried after a certain failure must be marked CREATING again ---------------- */

static int script_408_then_drop(struct fake *f, const struct cg_http_request *req, const char *op)
{
	(void)req;
	if (strcmp(op, "create") != 0)
		return V_PROCESS;
	switch (f->script_state++) {
	case 0:
		return 408; /* certainly not created: the engine undoes its CREATING mark */
	case 1:
		return V_DROP; /* created, but the answer is lost: outcome unknown */
	default:
		return V_PROCESS;
	}
}

static void test_create_retry_reconciles(void **state)
{
	(void)state;
	struct rig r;
	rig_start(&r, NULL);
	r.fake.script = script_408_then_drop;
	rig_event(&r, "a", CG_STATUS_FIRING, 3, "first", 0);
	assert_true(run_until(&r, queue_empty, DEADLINE_MS));
	/* The third attempt must search for the marker and adopt the case the second one made. */
	expect_cases(&r, 1);
	assert_int_equal(count_recs(&r.fake, "GET", "filter=cg"), 1);
	struct case_arg a = {.key = "demo:a"};
	assert_int_equal(store_sync(&r, case_fn, &a), 0);
	assert_int_equal(a.c.state, CG_CASE_OPEN);
	assert_string_equal(a.c.case_key, "DEMO-1");
	cg_store_case_cleanup(&a.c);
	rig_stop(&r);
}

/* ---- a dead-lettered follow-up of a successful create must not forget the case ------------- */

static int script_attrs_400(struct fake *f, const struct cg_http_request *req, const char *op)
{
	(void)f;
	(void)req;
	return strcmp(op, "attributes") == 0 ? 400 : V_PROCESS;
}

static void test_attrs_dead_keeps_case(void **state)
{
	(void)state;
	struct rig r;
	rig_start(&r, "    on_repeat: comment\n");
	r.fake.script = script_attrs_400;
	rig_event(&r, "b", CG_STATUS_FIRING, 3, "first", 1);
	assert_true(run_until(&r, queue_empty, DEADLINE_MS));
	expect_cases(&r, 1);
	assert_int_equal(count_recs(&r.fake, "POST", "/attributes"), 1);
	struct case_arg a = {.key = "demo:b"};
	assert_int_equal(store_sync(&r, case_fn, &a), 0);
	if (a.c.state != CG_CASE_OPEN)
		fprintf(stderr, "case state after dead attributes: got %d, want %d (open)\n", a.c.state, CG_CASE_OPEN);
	assert_int_equal(a.c.state, CG_CASE_OPEN);
	cg_store_case_cleanup(&a.c);
	/* The next firing lands on the same case. */
	rig_event(&r, "b", CG_STATUS_FIRING, 3, "second", 1);
	assert_true(run_until(&r, queue_empty, DEADLINE_MS));
	expect_cases(&r, 1);
	assert_int_equal(count_recs(&r.fake, "POST", "/api/v2/cases/case-1/comment"), 1);
	rig_stop(&r);
}

/* ---- a resolution for a case whose create was given up with an unknown outcome ------------- */

static int script_drop_first_create(struct fake *f, const struct cg_http_request *req, const char *op)
{
	(void)req;
	if (strcmp(op, "create") != 0)
		return V_PROCESS;
	return f->script_state++ == 0 ? V_DROP : V_PROCESS; /* created, answer lost */
}

static int script_refuse_create(struct fake *f, const struct cg_http_request *req, const char *op)
{
	(void)f;
	(void)req;
	return strcmp(op, "create") == 0 ? 503 : V_PROCESS;
}

static void test_resolve_after_unknown_create(void **state)
{
	(void)state;
	struct rig r;
	rig_start(&r, NULL);
	r.cfg->max_attempts = 1; /* the create is given up at once, its outcome unknown */
	r.fake.script = script_drop_first_create;
	rig_event(&r, "u", CG_STATUS_FIRING, 3, "first", 0);
	assert_true(run_until(&r, queue_empty, DEADLINE_MS));
	expect_cases(&r, 1);
	/* The resolution finds the case by its marker, then comments and closes it. */
	rig_event(&r, "u", CG_STATUS_RESOLVED, 3, "gone", 0);
	assert_true(run_until(&r, queue_empty, DEADLINE_MS));
	assert_int_equal(count_recs(&r.fake, "GET", "filter=cg"), 1);
	assert_int_equal(count_recs(&r.fake, "POST", "/api/v2/cases/case-1/comment"), 1);
	assert_int_equal(count_recs(&r.fake, "POST", "/api/v2/cases/case-1/status"), 1);
	struct case_arg a = {.key = "demo:u"};
	assert_int_equal(store_sync(&r, case_fn, &a), 0);
	assert_int_equal(a.c.state, CG_CASE_CLOSED);
	cg_store_case_cleanup(&a.c);
	rig_stop(&r);

	/* Same, but the create never happened: once the search settled, the resolution is recorded
	 * as a dead letter (never silently ignored), and the CREATING mark stays for the next firing. */
	rig_start(&r, NULL);
	r.cfg->max_attempts = 1;
	r.fake.script = script_refuse_create;
	rig_event(&r, "v", CG_STATUS_FIRING, 3, "first", 0);
	assert_true(run_until(&r, queue_empty, DEADLINE_MS));
	expect_cases(&r, 0);
	rig_event(&r, "v", CG_STATUS_RESOLVED, 3, "gone", 0);
	assert_true(run_until(&r, queue_empty, DEADLINE_MS));
	struct case_arg b = {.key = "demo:v"};
	assert_int_equal(store_sync(&r, case_fn, &b), 0);
	if (b.c.state != CG_CASE_CREATING)
		fprintf(stderr, "case state: got %d, want %d (creating)\n", b.c.state, CG_CASE_CREATING);
	assert_int_equal(b.c.state, CG_CASE_CREATING);
	cg_store_case_cleanup(&b.c);
	assert_int_equal(count_recs(&r.fake, "POST", "/comment"), 0);
	struct dl_arg d = {0};
	assert_int_equal(store_sync(&r, dl_fn, &d), 0);
	/* Two dead letters: the given-up create and the resolution with nothing to resolve. */
	assert_int_equal(d.n, 2);
	if (!strstr(d.last_reason, "never created"))
		fprintf(stderr, "dead letter reason: got \"%s\", want \"... never created\"\n", d.last_reason);
	assert_non_null(strstr(d.last_reason, "never created"));
	/* It searched more than once: "not found" right after the create was no proof. */
	assert_true(count_recs(&r.fake, "GET", "filter=cg") >= 2);
	rig_stop(&r);
}

/* ---- SIGHUP reload while an operation holds the old source settings ------------------------ */

static int script_hold_comment(struct fake *f, const struct cg_http_request *req, const char *op)
{
	(void)req;
	if (strcmp(op, "comment") == 0 && f->script_state++ == 0)
		return V_HOLD;
	return V_PROCESS;
}

static int comment_held(struct rig *r)
{
	return r->fake.held != NULL;
}

static int close_sent(struct rig *r)
{
	return count_recs(&r->fake, "POST", "/status") > 0;
}

static void test_reload_keeps_status_name(void **state)
{
	(void)state;
	struct rig r;
	rig_start(&r, "    status_name: Resolved-by-A\n    reopen_status_name: Reopened-by-A\n");
	rig_event(&r, "c", CG_STATUS_FIRING, 3, "first", 0);
	assert_true(run_until(&r, queue_empty, DEADLINE_MS));
	r.fake.script = script_hold_comment;
	rig_event(&r, "c", CG_STATUS_RESOLVED, 3, "resolved", 0);
	assert_true(run_until(&r, comment_held, DEADLINE_MS));

	/* Reload as app.c does: the engine gets the new config, the old one is freed. */
	struct cg_config *old = r.cfg;
	r.cfg = parse_cfg("    status_name: Resolved-by-B\n");
	cg_engine_set_config(r.e, r.cfg);
	/* Scribble over the old strings first, as a reused allocation would. */
	memset(old->sources[0].status_name, 'Z', strlen(old->sources[0].status_name));
	memset(old->sources[0].reopen_status_name, 'Z', strlen(old->sources[0].reopen_status_name));
	cg_config_free(old);

	fake_release(&r.fake);
	assert_true(run_until(&r, close_sent, DEADLINE_MS));
	const char *body = rec_body(&r.fake, "POST", "/status", 0);
	/* The operation keeps its decision, taken with config A. */
	if (!strstr(body, "\"Resolved-by-A\""))
		fprintf(stderr, "close body: got %s, want status_name Resolved-by-A\n", body);
	assert_non_null(strstr(body, "\"Resolved-by-A\""));
	assert_true(run_until(&r, queue_empty, DEADLINE_MS));
	rig_stop(&r);
}

/* ---- a failed store job must not leave its event in flight until restart ------------------- */

static const struct cg_store_ops *real_ops;
static struct cg_store_ops faulty_ops;
static atomic_int fail_done, fail_step;

static int faulty_event_done(struct cg_store *st, int64_t id)
{
	if (atomic_load(&fail_done) > 0) {
		atomic_fetch_sub(&fail_done, 1);
		return CG_EIO;
	}
	return real_ops->event_done(st, id);
}

static int faulty_event_step(struct cg_store *st, int64_t id, int step)
{
	if (atomic_load(&fail_step) > 0) {
		atomic_fetch_sub(&fail_step, 1);
		return CG_EFULL;
	}
	return real_ops->event_step(st, id, step);
}

/* Runs on the store thread, so no store call is under way while the table changes. */
static int install_faults(struct cg_store *st, void *arg)
{
	(void)arg;
	real_ops = st->ops;
	faulty_ops = *st->ops;
	faulty_ops.event_done = faulty_event_done;
	faulty_ops.event_step = faulty_event_step;
	st->ops = &faulty_ops;
	return 0;
}

static int restore_ops(struct cg_store *st, void *arg)
{
	(void)arg;
	st->ops = real_ops;
	return 0;
}

static void test_store_failure_retried(void **state)
{
	(void)state;
	struct rig r;
	rig_start(&r, "    on_repeat: comment\n");
	assert_int_equal(store_sync(&r, install_faults, NULL), 0);
	/* Saving the outcome fails twice (batch and alone), then the store recovers. */
	atomic_store(&fail_done, 2);
	rig_event(&r, "d", CG_STATUS_FIRING, 3, "first", 0);
	if (!run_until(&r, queue_empty, DEADLINE_MS))
		fprintf(stderr, "event still queued or in flight after a transient store failure\n");
	assert_true(queue_empty(&r));
	expect_cases(&r, 1);
	/* Saving progress between two steps fails (disk full) once: the op continues afterwards. */
	atomic_store(&fail_step, 1);
	rig_event(&r, "d", CG_STATUS_RESOLVED, 3, "resolved", 0);
	assert_true(run_until(&r, queue_empty, DEADLINE_MS));
	assert_int_equal(count_recs(&r.fake, "POST", "/api/v2/cases/case-1/status"), 1);
	assert_int_equal(atomic_load(&fail_done), 0);
	assert_int_equal(atomic_load(&fail_step), 0);
	assert_int_equal(store_sync(&r, restore_ops, NULL), 0);
	rig_stop(&r);
}

/* ---- the dlq CLI must not hand the daemon's in-flight events out a second time ------------- */

static const char *cli_sources = "  - name: rv\n"
                                 "    type: generic\n"
                                 "    auth: { bearer: tok }\n"
                                 "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
                                 "    case_type: 00000000-0000-0000-0000-000000000001\n"
                                 "    title: \"{{labels.alertname}}\"\n"
                                 "    dedup_key: \"{{labels.alertname}}\"\n"
                                 "    on_repeat: comment\n";

struct case_wait {
	struct itest *t;
	const char *title;
	int comments;
};

static int case_has_comments(void *ud)
{
	struct case_wait *w = ud;
	cJSON *all = itest_cases(w->t);
	cJSON *c = itest_find_case(all, w->title);
	int ok = c && itest_case_ncomments(c) >= w->comments;
	cJSON_Delete(all);
	return ok;
}

static int gw_idle(void *ud)
{
	struct itest *t = ud;
	return itest_metric(t, "casegate_inflight_operations", NULL) == 0 &&
	       itest_metric(t, "casegate_queue_depth", NULL) == 0;
}

static int proc_exited(void *ud)
{
	return !cg_h_alive(ud);
}

/* Runs `casegate ARGS...` to completion; returns its exit status (-1 on failure to run). */
static int run_cli(struct itest *t, const char *log_name, const char *a1, const char *a2)
{
	char bin[512], log[600];
	snprintf(bin, sizeof(bin), "%s/casegate", cg_h_binary_dir());
	snprintf(log, sizeof(log), "%s/%s", t->dir, log_name);
	char *const with2[] = {bin, (char *)a1, (char *)a2, "-c", t->cfg_path, NULL};
	char *const with1[] = {bin, (char *)a1, "-c", t->cfg_path, NULL};
	char *const *argv = a2 ? with2 : with1;
	struct cg_h_proc p;
	if (cg_h_spawn(&p, argv, NULL, log) != 0)
		return -1;
	if (!cg_h_poll(proc_exited, &p, 20000)) {
		cg_h_stop(&p, SIGKILL);
		return -1;
	}
	return WIFEXITED(p.wstatus) ? WEXITSTATUS(p.wstatus) : -1;
}

/* Processes are stopped by the teardown, also when an assertion failed. */
static int proc_setup(void **state)
{
	struct itest *t = calloc(1, sizeof(*t));
	if (!t || itest_setup(t, "cg-review-proc") != 0)
		return -1;
	*state = t;
	return 0;
}

static int proc_teardown(void **state)
{
	struct itest *t = *state;
	if (t) {
		itest_teardown(t, 0);
		free(t);
	}
	return 0;
}

static void test_dlq_cli_keeps_inflight(void **state)
{
	struct itest *t = *state;
	assert_int_equal(itest_start_sim(t, NULL), 0);
	assert_int_equal(itest_write_config(t, NULL, cli_sources), 0);
	assert_int_equal(itest_start_gw(t), 0);

	const char *fire = "{\"labels\":{\"alertname\":\"CliRace\",\"severity\":\"warning\"}}";
	assert_int_equal(itest_post(t, "rv", "tok", fire, NULL), 202);
	struct itest_wait w = {t, 1};
	assert_true(cg_h_poll(itest_has_ncases, &w, DEADLINE_MS));

	/* Slow answers keep the repeat's comment request in flight while the CLI runs. */
	char url[128];
	snprintf(url, sizeof(url), "%s/_sim/faults", t->sim_url);
	const char *slow = "{\"latency_ms\":3000}";
	struct cg_h_resp resp;
	assert_int_equal(cg_h_http("POST", url, NULL, slow, strlen(slow), &resp), 0);
	assert_int_equal(resp.status, 200);
	cg_h_resp_free(&resp);
	assert_int_equal(itest_post(t, "rv", "tok", fire, NULL), 202);
	struct case_wait cw = {t, "CliRace", 1};
	assert_true(cg_h_poll(case_has_comments, &cw, DEADLINE_MS));

	assert_int_equal(run_cli(t, "dlq.log", "dlq", "list"), 0);

	/* Both the daemon's op and any second op for the same event have ended. */
	assert_true(cg_h_poll(gw_idle, t, 15000));
	cJSON *all = itest_cases(t);
	cJSON *c = itest_find_case(all, "CliRace");
	assert_non_null(c);
	int n = itest_case_ncomments(c);
	if (n != 1)
		fprintf(stderr, "comments for one repeat: got %d, want 1\n", n);
	assert_int_equal(n, 1);
	cJSON_Delete(all);
}

/* ---- README: folded repeats are reported in the next comment, escalation included --------- */

static void test_escalation_reports_folded(void **state)
{
	(void)state;
	struct rig r;
	rig_start(&r, NULL);
	rig_event(&r, "e", CG_STATUS_FIRING, 3, "first", 0);
	assert_true(run_until(&r, queue_empty, DEADLINE_MS));
	rig_event(&r, "e", CG_STATUS_FIRING, 3, "again 1", 0);
	rig_event(&r, "e", CG_STATUS_FIRING, 3, "again 2", 0);
	assert_true(run_until(&r, queue_empty, DEADLINE_MS));
	assert_int_equal(count_recs(&r.fake, "POST", "/comment"), 0); /* folded into the digest */
	rig_event(&r, "e", CG_STATUS_FIRING, 1, "worse", 0);
	assert_true(run_until(&r, queue_empty, DEADLINE_MS));
	assert_int_equal(count_recs(&r.fake, "POST", "/priority"), 1);
	const char *body = rec_body(&r.fake, "POST", "/comment", 0);
	assert_non_null(body);
	if (!strstr(body, "Priority raised") || !strstr(body, "2 more times"))
		fprintf(stderr, "escalation comment: got %s, want \"Priority raised\" and \"2 more times\"\n", body);
	assert_non_null(strstr(body, "Priority raised"));
	assert_non_null(strstr(body, "2 more times"));
	rig_stop(&r);
}

/* ---- a step dead-lettered before sending must not count as a request on the wire ---------- */

/* A CREATING record without a marker: nothing to search for, so the step cannot be sent. */
static int put_creating(struct cg_store *st, void *arg)
{
	(void)arg;
	struct cg_store_case c = {.dedup_key = "demo:f", .state = CG_CASE_CREATING, .generation = 1, .marker = NULL};
	return cg_store_case_put(st, &c);
}

static void test_unsent_step_not_counted(void **state)
{
	(void)state;
	struct rig r;
	rig_start(&r, NULL);
	/* Every answer: one request left in a window of a minute. */
	r.fake.extra_hdr_name = "X-RateLimit-Remaining";
	r.fake.extra_hdr_value = "1";
	r.fake.extra_hdr_name2 = "X-RateLimit-Reset";
	r.fake.extra_hdr_value2 = "60";
	/* A resolution for a case whose create outcome is unknown: no case id, dead letter. */
	assert_int_equal(store_sync(&r, put_creating, NULL), 0);
	rig_event(&r, "f", CG_STATUS_RESOLVED, 3, "resolved", 0);
	assert_true(run_until(&r, queue_empty, DEADLINE_MS));
	/* Only the engine's start-up read of the case type's custom attributes went out. */
	assert_int_equal(r.fake.nrec - count_recs(&r.fake, "GET", "/api/v2/cases/types/"), 0);
	/* Sequential requests: each answer says one is left, so none may wait for the window. */
	rig_event(&r, "g", CG_STATUS_FIRING, 3, "first", 0);
	assert_true(run_until(&r, queue_empty, DEADLINE_MS));
	rig_event(&r, "h", CG_STATUS_FIRING, 3, "first", 0);
	if (!run_until(&r, queue_empty, DEADLINE_MS))
		fprintf(stderr, "second create waits for the rate-limit window: got %d case(s), want 2\n",
		        r.fake.ncases);
	expect_cases(&r, 2);
	rig_stop(&r);
}

/* ---- absurd rate-limit headers (a proxy, a bug) must not overflow the window arithmetic ---- */

static void test_huge_ratelimit_headers(void **state)
{
	(void)state;
	struct rig r;
	rig_start(&r, NULL);
	r.fake.extra_hdr_name = "X-RateLimit-Reset";
	r.fake.extra_hdr_value = "999999999999999999";
	r.fake.extra_hdr_name2 = "X-RateLimit-Remaining";
	r.fake.extra_hdr_value2 = "1000";
	rig_event(&r, "i", CG_STATUS_FIRING, 3, "first", 0);
	assert_true(run_until(&r, queue_empty, DEADLINE_MS));
	rig_event(&r, "j", CG_STATUS_FIRING, 3, "first", 0);
	assert_true(run_until(&r, queue_empty, DEADLINE_MS));
	expect_cases(&r, 2);
	rig_stop(&r);
}

/* ---- after stop, events claimed by a claim already under way are not started -------------- */

static void test_stop_during_claim(void **state)
{
	(void)state;
	struct rig r;
	rig_start(&r, "    on_repeat: comment\n");
	rig_event(&r, "k", CG_STATUS_FIRING, 3, "first", 0);
	assert_true(run_until(&r, queue_empty, DEADLINE_MS));
	int before = r.fake.nrec;
	rig_event(&r, "k", CG_STATUS_FIRING, 3, "again", 0); /* kicks: a claim job is queued */
	cg_engine_stop(r.e, on_stopped, &r);
	assert_true(run_until(&r, rig_stopped, DEADLINE_MS));
	/* README: SIGTERM lets operations finish their current request; it starts no new one. */
	if (r.fake.nrec != before)
		fprintf(stderr, "requests after stop: got %d, want 0 (%s %s)\n", r.fake.nrec - before,
		        r.fake.recs[before].method, r.fake.recs[before].path);
	assert_int_equal(r.fake.nrec, before);
	rig_stop(&r);
}

/* ---- README: non-fatal config findings are printed as file:line:col: warning: ... -------- */

static void test_config_warnings_printed(void **state)
{
	struct itest *t = *state;
	snprintf(t->cfg_path, sizeof(t->cfg_path), "%s/open.yaml", t->dir);
	const char *cfg = "listen: 0.0.0.0:0\n"
	                  "sources:\n"
	                  "  - name: open\n"
	                  "    type: generic\n"
	                  "    auth: none\n"
	                  "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
	                  "    case_type: 00000000-0000-0000-0000-000000000001\n";
	assert_int_equal(cg_h_write_file(t->cfg_path, cfg, strlen(cfg)), 0);
	assert_int_equal(run_cli(t, "check.log", "check-config", NULL), 0);
	char path[600];
	snprintf(path, sizeof(path), "%s/check.log", t->dir);
	char *out = cg_h_read_file(path, NULL);
	assert_non_null(out);
	const char *w = strstr(out, "open.yaml:");
	if (!w || !strstr(w, ": warning: source 'open' accepts unauthenticated"))
		fprintf(stderr, "check-config output: got \"%s\", want the auth: none warning with its position\n",
		        out);
	assert_non_null(w);
	assert_non_null(strstr(w, ": warning: source 'open' accepts unauthenticated"));
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_create_retry_reconciles),
	    cmocka_unit_test(test_attrs_dead_keeps_case),
	    cmocka_unit_test(test_resolve_after_unknown_create),
	    cmocka_unit_test(test_reload_keeps_status_name),
	    cmocka_unit_test(test_store_failure_retried),
	    cmocka_unit_test(test_escalation_reports_folded),
	    cmocka_unit_test(test_unsent_step_not_counted),
	    cmocka_unit_test(test_huge_ratelimit_headers),
	    cmocka_unit_test(test_stop_during_claim),
	    cmocka_unit_test_setup_teardown(test_dlq_cli_keeps_inflight, proc_setup, proc_teardown),
	    cmocka_unit_test_setup_teardown(test_config_warnings_printed, proc_setup, proc_teardown),
	};
	if (cg_dd_global_init() != 0)
		return 1;
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	cg_dd_global_cleanup();
	return rc;
}
