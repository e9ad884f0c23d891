/* test_sim.c: casegate-sim behaves like Datadog's Case Management API v2 (incl. faults and contract). */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "harness.h"

#define API_KEY "sim-test-api-key"
#define APP_KEY "sim-test-app-key"
#define DEMO_PROJECT "d4bbe1af-f36e-42f1-87c1-493ca35c320e"
#define OPS_PROJECT "11111111-2222-4333-8444-555555555555"
#define TYPE_ID "00000000-0000-0000-0000-000000000001"

struct sim {
	struct cg_h_proc proc;
	char *dir;
	int port;
};

static struct sim main_sim; /* valid traffic only: its request log must pass the contract */

static const char *const auth_headers[] = {"DD-API-KEY: " API_KEY, "DD-APPLICATION-KEY: " APP_KEY, NULL};

static int sim_start(struct sim *s, const char *name, const char *const extra[])
{
	memset(s, 0, sizeof(*s));
	s->dir = cg_h_tmpdir(name);
	if (!s->dir)
		return -1;
	if (cg_h_start_sim(&s->proc, s->dir, extra, &s->port) != 0)
		return -1;
	return 0;
}

/* Stops with SIGTERM and checks the simulator exits 0 (clean loop close). */
static int sim_stop(struct sim *s)
{
	int ok = 1;
	if (s->proc.pid > 0) {
		int st = cg_h_stop(&s->proc, SIGTERM);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "casegate-sim exit status: got 0x%x, want exit 0\n", st);
			cg_h_dump_log(&s->proc);
			ok = 0;
		}
	}
	if (s->dir) {
		cg_h_rmrf(s->dir);
		free(s->dir);
		s->dir = NULL;
	}
	return ok ? 0 : -1;
}

static int setup_main(void **state)
{
	(void)state;
	const char *const args[] = {"--api-key", API_KEY, "--app-key", APP_KEY, "--seed", "42", "--project",
				    "OPS=" OPS_PROJECT, NULL};
	return sim_start(&main_sim, "cg-sim-test", args);
}

static int teardown_main(void **state)
{
	(void)state;
	return sim_stop(&main_sim);
}

/* Sends a request to s with the right keys; body may be NULL. */
static long call(const struct sim *s, const char *method, const char *path, const char *body, struct cg_h_resp *r)
{
	char *url = cg_h_fmt("http://127.0.0.1:%d%s", s->port, path);
	assert_non_null(url);
	cg_h_http(method, url, auth_headers, body, body ? strlen(body) : 0, r);
	free(url);
	return r->status;
}

/* call() and parse the JSON answer; fails the test when status differs. */
static cJSON *call_json(const struct sim *s, const char *method, const char *path, const char *body, long want)
{
	struct cg_h_resp r;
	long got = call(s, method, path, body, &r);
	if (got != want)
		fprintf(stderr, "%s %s: got %ld (%s), want %ld\n", method, path, got, r.body, want);
	assert_int_equal(got, want);
	cJSON *j = cJSON_ParseWithLength(r.body, r.body_len);
	if (!j)
		fprintf(stderr, "%s %s: body is not JSON: %s\n", method, path, r.body);
	assert_non_null(j);
	cg_h_resp_free(&r);
	return j;
}

/* Follows a dotted path ("data.0.attributes.key"); numeric parts index arrays. */
static const cJSON *jget(const cJSON *root, const char *dotted)
{
	const cJSON *cur = root;
	const char *p = dotted;
	while (cur && *p) {
		char part[128];
		size_t n = strcspn(p, ".");
		if (n >= sizeof(part))
			return NULL;
		memcpy(part, p, n);
		part[n] = '\0';
		p += n + (p[n] == '.');
		char *end;
		long idx = strtol(part, &end, 10);
		cur = (*end == '\0' && end != part && cJSON_IsArray(cur)) ? cJSON_GetArrayItem(cur, (int)idx)
									 : cJSON_GetObjectItemCaseSensitive(cur, part);
	}
	return cur;
}

static const char *jstr(const cJSON *root, const char *dotted)
{
	const cJSON *v = jget(root, dotted);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

#define assert_jstr(root, path, want)                                                                          \
	do {                                                                                                   \
		const char *got_ = jstr((root), (path));                                                       \
		if (!got_ || strcmp(got_, (want)) != 0)                                                        \
			fprintf(stderr, "%s: got %s, want %s\n", (path), got_ ? got_ : "(absent)", (want));    \
		assert_non_null(got_);                                                                         \
		assert_string_equal(got_, (want));                                                             \
	} while (0)

static double jnum(const cJSON *root, const char *path)
{
	const cJSON *v = jget(root, path);
	if (!cJSON_IsNumber(v))
		fprintf(stderr, "%s: got non-number, want a number\n", path);
	assert_true(cJSON_IsNumber(v));
	return v->valuedouble;
}

static char *create_body(const char *title, const char *project)
{
	return cg_h_fmt("{\"data\":{\"type\":\"case\",\"attributes\":{\"title\":\"%s\",\"description\":\"desc of %s\","
			"\"type_id\":\"" TYPE_ID "\",\"priority\":\"P3\"},\"relationships\":{\"project\":{\"data\":"
			"{\"id\":\"%s\",\"type\":\"project\"}}}}}",
			title, title, project);
}

static cJSON *create_case(const struct sim *s, const char *title)
{
	char *b = create_body(title, DEMO_PROJECT);
	cJSON *j = call_json(s, "POST", "/api/v2/cases", b, 201);
	free(b);
	return j;
}

static void reset(const struct sim *s)
{
	cJSON *j = call_json(s, "POST", "/_sim/reset", "{}", 200);
	cJSON_Delete(j);
}

static int is_uuid_v4(const char *s)
{
	if (!s || strlen(s) != 36 || s[14] != '4')
		return 0;
	for (int i = 0; i < 36; i++)
		if ((i == 8 || i == 13 || i == 18 || i == 23) ? s[i] != '-' : !strchr("0123456789abcdef", s[i]))
			return 0;
	return 1;
}

/* ---- tests ---- */

static void test_create_and_get(void **state)
{
	(void)state;
	reset(&main_sim);
	cJSON *c = create_case(&main_sim, "Disk full on db-1");
	assert_jstr(c, "data.type", "case");
	assert_jstr(c, "data.attributes.key", "DEMO-1");
	assert_jstr(c, "data.attributes.title", "Disk full on db-1");
	assert_jstr(c, "data.attributes.description", "desc of Disk full on db-1");
	assert_jstr(c, "data.attributes.priority", "P3");
	assert_jstr(c, "data.attributes.status_name", "Open");
	assert_jstr(c, "data.attributes.status", "OPEN");
	assert_jstr(c, "data.attributes.status_group", "SG_OPEN");
	assert_jstr(c, "data.attributes.type_id", TYPE_ID);
	assert_jstr(c, "data.relationships.project.data.id", DEMO_PROJECT);
	assert_jstr(c, "data.relationships.project.data.type", "project");
	assert_non_null(jstr(c, "data.attributes.created_at"));
	assert_non_null(jstr(c, "data.attributes.modified_at"));
	assert_null(jget(c, "data.attributes.closed_at"));
	assert_true(cJSON_IsObject(jget(c, "data.attributes.custom_attributes")));
	const char *id = jstr(c, "data.id");
	if (!is_uuid_v4(id))
		fprintf(stderr, "data.id: got %s, want a UUID v4\n", id ? id : "(absent)");
	assert_true(is_uuid_v4(id));

	char *path = cg_h_fmt("/api/v2/cases/%s", id);
	cJSON *g = call_json(&main_sim, "GET", path, NULL, 200);
	assert_jstr(g, "data.attributes.key", "DEMO-1");
	cJSON *k = call_json(&main_sim, "GET", "/api/v2/cases/DEMO-1", NULL, 200);
	assert_jstr(k, "data.id", id);

	/* keys increment per project */
	cJSON *c2 = create_case(&main_sim, "second");
	assert_jstr(c2, "data.attributes.key", "DEMO-2");
	char *ob = create_body("ops case", OPS_PROJECT);
	cJSON *o = call_json(&main_sim, "POST", "/api/v2/cases", ob, 201);
	assert_jstr(o, "data.attributes.key", "OPS-1");
	free(ob);
	free(path);
	cJSON_Delete(c);
	cJSON_Delete(c2);
	cJSON_Delete(o);
	cJSON_Delete(g);
	cJSON_Delete(k);
}

static void test_updates_and_events(void **state)
{
	(void)state;
	reset(&main_sim);
	cJSON *c = create_case(&main_sim, "CPU hot");
	cJSON_Delete(c);

	cJSON *cm = call_json(&main_sim, "POST", "/api/v2/cases/DEMO-1/comment",
			      "{\"data\":{\"type\":\"case\",\"attributes\":{\"comment\":\"first look\"}}}", 200);
	assert_jstr(cm, "data.0.type", "timeline_cell");
	assert_jstr(cm, "data.0.attributes.type", "COMMENT");
	assert_jstr(cm, "data.0.attributes.cell_content.message", "first look");
	assert_non_null(jstr(cm, "data.0.id"));
	cJSON_Delete(cm);

	cJSON *st = call_json(&main_sim, "POST", "/api/v2/cases/DEMO-1/status",
			      "{\"data\":{\"type\":\"case\",\"attributes\":{\"status_name\":\"Closed\"}}}", 200);
	assert_jstr(st, "data.attributes.status_group", "SG_CLOSED");
	assert_jstr(st, "data.attributes.status", "CLOSED");
	assert_non_null(jstr(st, "data.attributes.closed_at"));
	cJSON_Delete(st);

	/* deprecated enum reopens; closed_at goes away */
	st = call_json(&main_sim, "POST", "/api/v2/cases/DEMO-1/status",
		       "{\"data\":{\"type\":\"case\",\"attributes\":{\"status\":\"IN_PROGRESS\"}}}", 200);
	assert_jstr(st, "data.attributes.status_name", "In Progress");
	assert_jstr(st, "data.attributes.status_group", "SG_IN_PROGRESS");
	assert_null(jget(st, "data.attributes.closed_at"));
	cJSON_Delete(st);

	cJSON *p = call_json(&main_sim, "POST", "/api/v2/cases/DEMO-1/priority",
			     "{\"data\":{\"type\":\"case\",\"attributes\":{\"priority\":\"P1\"}}}", 200);
	assert_jstr(p, "data.attributes.priority", "P1");
	cJSON_Delete(p);

	cJSON *a = call_json(&main_sim, "POST", "/api/v2/cases/DEMO-1/attributes",
			     "{\"data\":{\"type\":\"case\",\"attributes\":{\"attributes\":{\"env\":[\"prod\"],"
			     "\"service\":[\"db\",\"api\"]}}}}",
			     200);
	assert_jstr(a, "data.attributes.attributes.env.0", "prod");
	assert_jstr(a, "data.attributes.attributes.service.1", "api");
	cJSON_Delete(a);

	cJSON *ca = call_json(&main_sim, "POST", "/api/v2/cases/DEMO-1/custom_attributes/runbook",
			      "{\"data\":{\"type\":\"case\",\"attributes\":{\"type\":\"URL\",\"is_multi\":false,"
			      "\"value\":\"https://runbooks.example/cpu\"}}}",
			      200);
	assert_jstr(ca, "data.attributes.custom_attributes.runbook.value", "https://runbooks.example/cpu");
	cJSON_Delete(ca);
	ca = call_json(&main_sim, "POST", "/api/v2/cases/DEMO-1/custom_attributes/hosts",
		       "{\"data\":{\"type\":\"case\",\"attributes\":{\"type\":\"NUMBER\",\"is_multi\":true,"
		       "\"value\":[1,2.5]}}}",
		       200);
	assert_true(jnum(ca, "data.attributes.custom_attributes.hosts.value.1") == 2.5);
	cJSON_Delete(ca);

	cJSON *as = call_json(&main_sim, "POST", "/api/v2/cases/DEMO-1/assign",
			      "{\"data\":{\"type\":\"case\",\"attributes\":{\"assignee_id\":\"user-1\"}}}", 200);
	assert_jstr(as, "data.relationships.assignee.data.id", "user-1");
	cJSON_Delete(as);
	cJSON *ar = call_json(&main_sim, "POST", "/api/v2/cases/DEMO-1/archive", "{\"data\":{\"type\":\"case\"}}", 200);
	assert_non_null(jstr(ar, "data.attributes.archived_at"));
	cJSON_Delete(ar);
	ar = call_json(&main_sim, "POST", "/api/v2/cases/DEMO-1/unarchive", "{\"data\":{\"type\":\"case\"}}", 200);
	assert_null(jget(ar, "data.attributes.archived_at"));
	cJSON_Delete(ar);

	cJSON *dump = call_json(&main_sim, "GET", "/_sim/cases", NULL, 200);
	const cJSON *cases = jget(dump, "cases");
	assert_int_equal(cJSON_GetArraySize(cases), 1);
	assert_jstr(dump, "cases.0.comments.0.comment", "first look");
	assert_non_null(jstr(dump, "cases.0.comments.0.created_at"));
	static const char *const want[] = {"create",
					   "comment",
					   "status:Closed",
					   "status:In Progress",
					   "priority:P1",
					   "attributes",
					   "custom_attribute:runbook",
					   "custom_attribute:hosts",
					   "assign:user-1",
					   "archive",
					   "unarchive"};
	const cJSON *ev = jget(dump, "cases.0.events");
	size_t nwant = sizeof(want) / sizeof(want[0]);
	if ((size_t)cJSON_GetArraySize(ev) != nwant) {
		char *s = cJSON_PrintUnformatted(ev);
		fprintf(stderr, "events: got %s, want %zu entries\n", s, nwant);
		free(s);
	}
	assert_int_equal(cJSON_GetArraySize(ev), nwant);
	for (size_t i = 0; i < nwant; i++) {
		const cJSON *e = cJSON_GetArrayItem(ev, (int)i);
		if (!cJSON_IsString(e) || strcmp(e->valuestring, want[i]) != 0)
			fprintf(stderr, "events[%zu]: got %s, want %s\n", i, cJSON_IsString(e) ? e->valuestring : "?",
				want[i]);
		assert_string_equal(e->valuestring, want[i]);
	}
	cJSON_Delete(dump);
}

static void test_search(void **state)
{
	(void)state;
	reset(&main_sim);
	for (int i = 1; i <= 5; i++) {
		char title[64];
		snprintf(title, sizeof(title), "Disk full on host-%d", i);
		cJSON_Delete(create_case(&main_sim, title));
	}
	cJSON_Delete(create_case(&main_sim, "Something else"));

	cJSON *s = call_json(&main_sim, "GET", "/api/v2/cases?filter=DISK&page[size]=2&page[number]=1", NULL, 200);
	assert_int_equal(cJSON_GetArraySize(jget(s, "data")), 2);
	assert_true(jnum(s, "meta.page.current") == 1);
	assert_true(jnum(s, "meta.page.size") == 2);
	assert_true(jnum(s, "meta.page.total") == 3); /* pages */
	assert_jstr(s, "data.0.attributes.key", "DEMO-5"); /* newest first by default */
	cJSON_Delete(s);

	s = call_json(&main_sim, "GET", "/api/v2/cases?filter=disk&page%5Bsize%5D=2&page%5Bnumber%5D=3&sort%5Basc%5D=true",
		      NULL, 200);
	assert_int_equal(cJSON_GetArraySize(jget(s, "data")), 1);
	assert_jstr(s, "data.0.attributes.key", "DEMO-5");
	cJSON_Delete(s);

	s = call_json(&main_sim, "GET", "/api/v2/cases?filter=key:DEMO-6", NULL, 200);
	assert_int_equal(cJSON_GetArraySize(jget(s, "data")), 1);
	assert_jstr(s, "data.0.attributes.title", "Something else");
	cJSON_Delete(s);

	/* description matches too */
	s = call_json(&main_sim, "GET", "/api/v2/cases?filter=desc%20of%20something", NULL, 200);
	assert_int_equal(cJSON_GetArraySize(jget(s, "data")), 1);
	cJSON_Delete(s);

	s = call_json(&main_sim, "GET", "/api/v2/cases", NULL, 200);
	assert_int_equal(cJSON_GetArraySize(jget(s, "data")), 6);
	cJSON_Delete(s);
}

static void test_projects(void **state)
{
	(void)state;
	cJSON *p = call_json(&main_sim, "GET", "/api/v2/cases/projects", NULL, 200);
	assert_int_equal(cJSON_GetArraySize(jget(p, "data")), 2);
	assert_jstr(p, "data.0.id", DEMO_PROJECT);
	assert_jstr(p, "data.0.attributes.key", "DEMO");
	assert_jstr(p, "data.1.attributes.key", "OPS");
	assert_jstr(p, "data.1.type", "project");
	cJSON_Delete(p);
	/* the main sim is reused by other tests: created projects stay, so use a unique key */
	p = call_json(&main_sim, "POST", "/api/v2/cases/projects",
		      "{\"data\":{\"type\":\"project\",\"attributes\":{\"name\":\"Security\",\"key\":\"SEC\"}}}", 201);
	assert_jstr(p, "data.attributes.key", "SEC");
	char *body = create_body("sec case", jstr(p, "data.id"));
	cJSON *c = call_json(&main_sim, "POST", "/api/v2/cases", body, 201);
	assert_jstr(c, "data.attributes.key", "SEC-1");
	free(body);
	cJSON_Delete(c);
	cJSON_Delete(p);
}

static long wait_status;
static int sim_answers(void *ud)
{
	struct cg_h_resp r;
	wait_status = call(ud, "GET", "/api/v2/cases/projects", NULL, &r);
	cg_h_resp_free(&r);
	return wait_status == 200;
}

static void set_faults(const char *json)
{
	cJSON *j = call_json(&main_sim, "POST", "/_sim/faults", json, 200);
	cJSON_Delete(j);
}

static double stat_of(const char *name)
{
	cJSON *s = call_json(&main_sim, "GET", "/_sim/stats", NULL, 200);
	double v = jnum(s, name);
	cJSON_Delete(s);
	return v;
}

static void test_rate_limit(void **state)
{
	(void)state;
	reset(&main_sim);
	set_faults("{\"rate_limit\":3,\"rate_period\":60}");
	char buf[64];
	for (int i = 0; i < 3; i++) {
		struct cg_h_resp r;
		assert_int_equal(call(&main_sim, "GET", "/api/v2/cases", NULL, &r), 200);
		assert_int_equal(cg_h_resp_header(&r, "X-RateLimit-Remaining", buf, sizeof(buf)), 0);
		char want[8];
		snprintf(want, sizeof(want), "%d", 2 - i);
		if (strcmp(buf, want) != 0)
			fprintf(stderr, "X-RateLimit-Remaining: got %s, want %s\n", buf, want);
		assert_string_equal(buf, want);
		cg_h_resp_free(&r);
	}
	struct cg_h_resp r;
	assert_int_equal(call(&main_sim, "GET", "/api/v2/cases", NULL, &r), 429);
	assert_non_null(strstr(r.body, "\"errors\""));
	assert_int_equal(cg_h_resp_header(&r, "X-RateLimit-Limit", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "3");
	assert_int_equal(cg_h_resp_header(&r, "X-RateLimit-Period", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "60");
	assert_int_equal(cg_h_resp_header(&r, "X-RateLimit-Remaining", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "0");
	assert_int_equal(cg_h_resp_header(&r, "X-RateLimit-Reset", buf, sizeof(buf)), 0);
	long reset_s = strtol(buf, NULL, 10);
	if (reset_s < 1 || reset_s > 60)
		fprintf(stderr, "X-RateLimit-Reset: got %ld, want 1..60\n", reset_s);
	assert_true(reset_s >= 1 && reset_s <= 60);
	assert_int_equal(cg_h_resp_header(&r, "X-RateLimit-Name", buf, sizeof(buf)), 0);
	cg_h_resp_free(&r);
	assert_true(stat_of("rejected_429") == 1);

	/* a 1 s window lets requests through again once it has passed */
	set_faults("{\"rate_limit\":1,\"rate_period\":1}");
	assert_int_equal(call(&main_sim, "GET", "/api/v2/cases", NULL, &r), 200);
	cg_h_resp_free(&r);
	assert_int_equal(call(&main_sim, "GET", "/api/v2/cases", NULL, &r), 429);
	cg_h_resp_free(&r);
	assert_true(cg_h_poll(sim_answers, &main_sim, 3000));

	set_faults("{\"rate_limit\":0}");
	assert_int_equal(call(&main_sim, "GET", "/api/v2/cases", NULL, &r), 200);
	assert_int_not_equal(cg_h_resp_header(&r, "X-RateLimit-Limit", buf, sizeof(buf)), 0);
	cg_h_resp_free(&r);
}

static void test_error_ratio(void **state)
{
	(void)state;
	reset(&main_sim);
	set_faults("{\"error_ratio\":1}");
	for (int i = 0; i < 5; i++) {
		struct cg_h_resp r;
		char *b = create_body("never stored", DEMO_PROJECT);
		long st = call(&main_sim, "POST", "/api/v2/cases", b, &r);
		free(b);
		if (st != 500 && st != 502 && st != 503)
			fprintf(stderr, "injected error: got %ld, want 500/502/503\n", st);
		assert_true(st == 500 || st == 502 || st == 503);
		cg_h_resp_free(&r);
	}
	set_faults("{\"error_ratio\":0}");
	assert_true(stat_of("injected_5xx") == 5);
	assert_true(stat_of("cases") == 0); /* answered without processing */
}

static void test_drop_ratio(void **state)
{
	(void)state;
	reset(&main_sim);
	set_faults("{\"drop_ratio\":1}");
	struct cg_h_resp r;
	char *b = create_body("outcome unknown", DEMO_PROJECT);
	long st = call(&main_sim, "POST", "/api/v2/cases", b, &r);
	free(b);
	cg_h_resp_free(&r);
	set_faults("{\"drop_ratio\":0}");
	if (st != 0)
		fprintf(stderr, "dropped request: got status %ld, want transport error\n", st);
	assert_int_equal(st, 0);
	cJSON *dump = call_json(&main_sim, "GET", "/_sim/cases", NULL, 200);
	assert_int_equal(cJSON_GetArraySize(jget(dump, "cases")), 1);
	assert_jstr(dump, "cases.0.attributes.title", "outcome unknown");
	cJSON_Delete(dump);
	assert_true(stat_of("dropped") == 1);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void test_latency(void **state)
{
	(void)state;
	set_faults("{\"latency_ms\":250}");
	struct cg_h_resp r;
	uint64_t t0 = now_ms();
	long st = call(&main_sim, "GET", "/api/v2/cases/projects", NULL, &r);
	uint64_t took = now_ms() - t0;
	cg_h_resp_free(&r);
	set_faults("{\"latency_ms\":0}");
	assert_int_equal(st, 200);
	if (took < 250)
		fprintf(stderr, "latency: got %llu ms, want >= 250\n", (unsigned long long)took);
	assert_true(took >= 250);
}

static void test_auth(void **state)
{
	(void)state;
	static const struct {
		const char *h1, *h2;
		long want;
		const char *msg;
	} cases[] = {
		{NULL, NULL, 403, "Forbidden"},
		{"DD-API-KEY: wrong", "DD-APPLICATION-KEY: " APP_KEY, 403, "Forbidden"},
		{"DD-API-KEY: " API_KEY, NULL, 401, "Unauthorized"},
		{"DD-API-KEY: " API_KEY, "DD-APPLICATION-KEY: wrong", 401, "Unauthorized"},
		{"DD-API-KEY: " API_KEY, "DD-APPLICATION-KEY: " APP_KEY, 200, NULL},
	};
	char *url = cg_h_fmt("http://127.0.0.1:%d/api/v2/cases", main_sim.port);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *h[3] = {cases[i].h1, cases[i].h2, NULL};
		if (!h[0]) {
			h[0] = h[1];
			h[1] = NULL;
		}
		struct cg_h_resp r;
		cg_h_http("GET", url, h, NULL, 0, &r);
		if (r.status != cases[i].want)
			fprintf(stderr, "auth case %zu: got %ld, want %ld\n", i, r.status, cases[i].want);
		assert_int_equal(r.status, cases[i].want);
		if (cases[i].msg) {
			char *want = cg_h_fmt("{\"errors\":[\"%s\"]}", cases[i].msg);
			assert_string_equal(r.body, want);
			free(want);
		}
		cg_h_resp_free(&r);
	}
	free(url);
}

/* Invalid requests go to their own simulator so the main request log stays valid. */
static void test_validation(void **state)
{
	(void)state;
	struct sim bad;
	assert_int_equal(sim_start(&bad, "cg-sim-bad", NULL), 0);
	cJSON_Delete(create_case(&bad, "target"));
#define CASE_ATTRS(x) "{\"data\":{\"type\":\"case\",\"attributes\":{" x "}}}"
#define REL "\"relationships\":{\"project\":{\"data\":{\"id\":\"" DEMO_PROJECT "\",\"type\":\"project\"}}}"
#define CREATE(attrs) "{\"data\":{\"type\":\"case\",\"attributes\":{" attrs "}," REL "}}"
#define OK_ATTRS "\"title\":\"t\",\"type_id\":\"" TYPE_ID "\""
	static const struct {
		const char *method, *path, *body;
		long want;
		const char *msg;
	} cases[] = {
		{"POST", "/api/v2/cases", "{", 400, "not valid JSON"},
		{"POST", "/api/v2/cases", NULL, 400, "body is required"},
		{"POST", "/api/v2/cases", "{}", 400, "data is required"},
		{"POST", "/api/v2/cases", "{\"data\":[]}", 400, "data must be an object"},
		{"POST", "/api/v2/cases", "{\"data\":{\"type\":\"cases\",\"attributes\":{}}}", 400,
		 "data.type must be \\\"case\\\""},
		{"POST", "/api/v2/cases", "{\"data\":{\"type\":\"case\"}}", 400, "data.attributes is required"},
		{"POST", "/api/v2/cases", CREATE("\"type_id\":\"" TYPE_ID "\""), 400, "data.attributes.title is required"},
		{"POST", "/api/v2/cases", CREATE("\"title\":5,\"type_id\":\"" TYPE_ID "\""), 400,
		 "data.attributes.title must be a string"},
		{"POST", "/api/v2/cases", CREATE("\"title\":\"t\""), 400, "data.attributes.type_id is required"},
		{"POST", "/api/v2/cases", CREATE("\"title\":\"t\",\"type_id\":\"abc\""), 400, "type_id must be a UUID"},
		{"POST", "/api/v2/cases", CREATE(OK_ATTRS ",\"priority\":\"P9\""), 400,
		 "data.attributes.priority must be one of NOT_DEFINED, P1, P2, P3, P4, P5"},
		{"POST", "/api/v2/cases", CREATE(OK_ATTRS ",\"status_name\":\"Done\""), 400, "status_name must be one of"},
		{"POST", "/api/v2/cases", CREATE(OK_ATTRS ",\"custom_attributes\":{\"x\":{\"type\":\"DATE\",\"is_multi\":false,\"value\":\"1\"}}"),
		 400, "custom_attributes.x.type must be one of URL, TEXT, NUMBER, SELECT"},
		{"POST", "/api/v2/cases", CREATE(OK_ATTRS ",\"custom_attributes\":{\"x\":{\"type\":\"TEXT\",\"is_multi\":true,\"value\":\"1\"}}"),
		 400, "value must be an array when is_multi is true"},
		{"POST", "/api/v2/cases", CREATE(OK_ATTRS ",\"custom_attributes\":{\"x\":{\"type\":\"NUMBER\",\"is_multi\":false,\"value\":\"1\"}}"),
		 400, "value must be a number for type NUMBER"},
		{"POST", "/api/v2/cases", CREATE(OK_ATTRS ",\"custom_attributes\":{\"x\":{\"type\":\"TEXT\",\"value\":\"1\"}}"),
		 400, "is_multi is required"},
		{"POST", "/api/v2/cases", "{\"data\":{\"type\":\"case\",\"attributes\":{" OK_ATTRS "}}}", 400,
		 "data.relationships.project is required"},
		{"POST", "/api/v2/cases",
		 "{\"data\":{\"type\":\"case\",\"attributes\":{" OK_ATTRS "},\"relationships\":{\"project\":{\"data\":"
		 "{\"id\":\"" DEMO_PROJECT "\",\"type\":\"team\"}}}}}",
		 400, "project.data.type must be \\\"project\\\""},
		{"POST", "/api/v2/cases",
		 "{\"data\":{\"type\":\"case\",\"attributes\":{" OK_ATTRS "},\"relationships\":{\"project\":{\"data\":"
		 "{\"id\":\"99999999-9999-4999-8999-999999999999\",\"type\":\"project\"}}}}}",
		 404, "Project not found"},
		{"POST", "/api/v2/cases/DEMO-1/status", CASE_ATTRS("\"status_name\":\"Bogus\""), 400,
		 "status_name must be one of Open, In Progress, Closed"},
		{"POST", "/api/v2/cases/DEMO-1/status", CASE_ATTRS(""), 400, "data.attributes.status_name is required"},
		{"POST", "/api/v2/cases/DEMO-1/priority", CASE_ATTRS("\"priority\":\"HIGH\""), 400, "priority must be one of"},
		{"POST", "/api/v2/cases/DEMO-1/comment", CASE_ATTRS(""), 400, "data.attributes.comment is required"},
		{"POST", "/api/v2/cases/DEMO-1/attributes", CASE_ATTRS("\"attributes\":{\"env\":\"prod\"}"), 400,
		 "data.attributes.attributes.env must be an array of strings"},
		{"POST", "/api/v2/cases/DEMO-1/custom_attributes/x",
		 CASE_ATTRS("\"type\":\"SELECT\",\"is_multi\":false,\"value\":[\"a\"]"), 400,
		 "value must not be an array when is_multi is false"},
		{"POST", "/api/v2/cases/DEMO-1/assign", CASE_ATTRS(""), 400, "assignee_id is required"},
		{"GET", "/api/v2/cases?page[size]=500", NULL, 400, "page[size] must be between 1 and 100"},
		{"GET", "/api/v2/cases/DEMO-99", NULL, 404, "{\"errors\":[\"Not Found\"]}"},
		{"GET", "/api/v2/cases/00000000-0000-4000-8000-000000000000", NULL, 404, "Not Found"},
		{"POST", "/api/v2/cases/DEMO-99/comment", CASE_ATTRS("\"comment\":\"x\""), 404, "Not Found"},
		{"GET", "/api/v2/nothing", NULL, 404, "Not Found"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cg_h_resp r;
		long got = call(&bad, cases[i].method, cases[i].path, cases[i].body, &r);
		int msg_ok = r.body && strstr(r.body, cases[i].msg) != NULL;
		if (got != cases[i].want || !msg_ok)
			fprintf(stderr, "validation case %zu (%s %s): got %ld %s, want %ld with \"%s\"\n", i,
				cases[i].method, cases[i].path, got, r.body ? r.body : "", cases[i].want, cases[i].msg);
		assert_int_equal(got, cases[i].want);
		assert_true(msg_ok);
		assert_non_null(strstr(r.body, "{\"errors\":[\""));
		cg_h_resp_free(&r);
	}
	/* Nothing invalid was stored. */
	cJSON *dump = call_json(&bad, "GET", "/_sim/cases", NULL, 200);
	assert_int_equal(cJSON_GetArraySize(jget(dump, "cases")), 1);
	cJSON_Delete(dump);

	/* The validator must flag this log, and pass it when 4xx answers are ignored. */
	char *log = cg_h_fmt("%s/%s", bad.dir, CG_H_SIM_REQUEST_LOG);
	int rc = cg_h_validate_contract(log);
	if (rc != 77) {
		if (rc != 1)
			fprintf(stderr, "validator on invalid traffic: got %d, want 1\n", rc);
		assert_int_equal(rc, 1);
		const char *const skip4[] = {"--skip-4xx", "--quiet", NULL};
		rc = cg_h_validate_contract_args(log, skip4);
		if (rc != 0)
			fprintf(stderr, "validator with --skip-4xx: got %d, want 0\n", rc);
		assert_int_equal(rc, 0);
	}
	free(log);
	assert_int_equal(sim_stop(&bad), 0);
}

/* --seed makes ids and fault decisions reproducible. */
static void test_seed_determinism(void **state)
{
	(void)state;
	char ids[2][64];
	char pattern[2][32];
	for (int run = 0; run < 2; run++) {
		struct sim s;
		const char *const args[] = {"--seed", "1234", "--drop-ratio", "0.5", NULL};
		assert_int_equal(sim_start(&s, "cg-sim-seed", args), 0);
		for (int i = 0; i < 16; i++) {
			struct cg_h_resp r;
			long st = call(&s, "GET", "/api/v2/cases/projects", NULL, &r);
			pattern[run][i] = st == 0 ? 'x' : '.';
			cg_h_resp_free(&r);
		}
		pattern[run][16] = '\0';
		cJSON *f = call_json(&s, "POST", "/_sim/faults", "{\"drop_ratio\":0}", 200);
		cJSON_Delete(f);
		cJSON *c = create_case(&s, "seeded");
		snprintf(ids[run], sizeof(ids[run]), "%s", jstr(c, "data.id"));
		cJSON_Delete(c);
		assert_int_equal(sim_stop(&s), 0);
	}
	if (strcmp(pattern[0], pattern[1]) != 0 || strcmp(ids[0], ids[1]) != 0)
		fprintf(stderr, "seeded runs: got %s/%s and %s/%s, want equal\n", pattern[0], ids[0], pattern[1], ids[1]);
	assert_string_equal(pattern[0], pattern[1]);
	assert_string_equal(ids[0], ids[1]);
	/* with ratio 0.5 over 16 requests, both outcomes should occur */
	assert_non_null(strchr(pattern[0], 'x'));
	assert_non_null(strchr(pattern[0], '.'));
}

static void test_request_log_contract(void **state)
{
	(void)state;
	char *log = cg_h_fmt("%s/%s", main_sim.dir, CG_H_SIM_REQUEST_LOG);
	size_t len = 0;
	char *text = cg_h_read_file(log, &len);
	assert_non_null(text);
	/* every Datadog call was logged, none of the /_sim ones */
	assert_non_null(strstr(text, "\"operation\":\"CreateCase\""));
	assert_non_null(strstr(text, "\"operation\":\"CommentCase\""));
	assert_non_null(strstr(text, "\"operation\":\"UpdateStatus\""));
	assert_non_null(strstr(text, "\"operation\":\"SearchCases\""));
	assert_null(strstr(text, "/_sim/"));
	free(text);
	int rc = cg_h_validate_contract(log);
	free(log);
	if (rc == 77)
		skip();
	if (rc != 0)
		fprintf(stderr, "contract validation of valid traffic: got %d, want 0\n", rc);
	assert_int_equal(rc, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_and_get),
		cmocka_unit_test(test_updates_and_events),
		cmocka_unit_test(test_search),
		cmocka_unit_test(test_projects),
		cmocka_unit_test(test_auth),
		cmocka_unit_test(test_rate_limit),
		cmocka_unit_test(test_error_ratio),
		cmocka_unit_test(test_drop_ratio),
		cmocka_unit_test(test_latency),
		cmocka_unit_test(test_validation),
		cmocka_unit_test(test_seed_determinism),
		cmocka_unit_test(test_request_log_contract),
	};
	return cmocka_run_group_tests(tests, setup_main, teardown_main);
}
