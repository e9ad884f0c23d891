/* test_sim_case_api.c: casegate-sim behaves like Datadog's Case Management API v2 (incl. faults and contract). */
/* labels: integration */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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
	/* STANDARD has no custom attributes in a new org: the ones the tests set are defined, as a
	 * Datadog admin would have to. */
	const char *const args[] = {"--api-key", API_KEY, "--app-key", APP_KEY, "--seed", "42", "--project",
				    "OPS=" OPS_PROJECT, "--custom-attribute", TYPE_ID ":runbook:URL",
				    "--custom-attribute", TYPE_ID ":hosts:NUMBER:multi", NULL};
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

/* Drops the cases and stats, and puts every fault back to its default: a test that failed
 * half-way must not leave a rate limit or an outage behind for the next one. */
static void reset(const struct sim *s)
{
	cJSON *j = call_json(s, "POST", "/_sim/reset", "{}", 200);
	cJSON_Delete(j);
	j = call_json(s, "POST", "/_sim/faults",
		      "{\"error_ratio\":0,\"latency_ms\":0,\"drop_ratio\":0,\"buckets\":{},\"rate_period\":60,"
		      "\"header_drop_ratio\":0,\"search_lag_ms\":0,\"search_archived\":false,\"plain_errors\":false,"
		      "\"strict_case_types\":false,\"auth_fail\":0,\"outage\":\"none\",\"retry_after_s\":0,"
		      "\"outage_ms\":0,\"search_text\":\"substring\"}",
		      200);
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


/* Every /api/ answer is JSON:API (recorded from real Datadog). */
#define assert_content_type(r)                                                                                 \
	do {                                                                                                   \
		char ct_[128] = "";                                                                            \
		int have_ = cg_h_resp_header((r), "Content-Type", ct_, sizeof(ct_)) == 0;                      \
		if (!have_ || strcmp(ct_, "application/vnd.api+json") != 0)                                     \
			fprintf(stderr, "Content-Type: got %s, want application/vnd.api+json\n",              \
				have_ ? ct_ : "(absent)");                                                     \
		assert_true(have_);                                                                            \
		assert_string_equal(ct_, "application/vnd.api+json");                                          \
	} while (0)

/* Header name of r equals want. */
#define assert_header(r, name, want)                                                                           \
	do {                                                                                                   \
		char hv_[128] = "";                                                                            \
		int have_ = cg_h_resp_header((r), (name), hv_, sizeof(hv_)) == 0;                              \
		if (!have_ || strcmp(hv_, (want)) != 0)                                                        \
			fprintf(stderr, "%s: got %s, want %s\n", (name), have_ ? hv_ : "(absent)", (want));     \
		assert_true(have_);                                                                            \
		assert_string_equal(hv_, (want));                                                              \
	} while (0)

static long header_long(const struct cg_h_resp *r, const char *name)
{
	char v[64];
	if (cg_h_resp_header(r, name, v, sizeof(v)) != 0) {
		fprintf(stderr, "%s: got (absent), want a number\n", name);
		return -1;
	}
	return strtol(v, NULL, 10);
}

static int has_ratelimit_headers(const struct cg_h_resp *r)
{
	static const char *const names[] = {"X-RateLimit-Limit", "X-RateLimit-Period", "X-RateLimit-Remaining",
					    "X-RateLimit-Reset", "X-RateLimit-Name"};
	char v[64];
	int n = 0;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		n += cg_h_resp_header(r, names[i], v, sizeof(v)) == 0;
	return n;
}

static uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* X-RateLimit-Reset Datadog-style at wall time t: whole seconds to the window's end, rounded up. */
static long calendar_reset(unsigned period_s, uint64_t t)
{
	uint64_t p = (uint64_t)period_s * 1000;
	uint64_t end = (t / p + 1) * p;
	return (long)((end - t + 999) / 1000);
}

/* Calendar-aligned windows end at fixed wall-clock instants: a test that needs a few requests in
 * one window first waits (polling the clock, which the sim shares) until enough of it is left. */
struct window_room {
	unsigned period_s[2];
	unsigned min_left_ms[2];
};

static int window_has_room(void *ud)
{
	const struct window_room *w = ud;
	uint64_t now = wall_ms();
	for (int i = 0; i < 2; i++) {
		if (!w->period_s[i])
			continue;
		uint64_t p = (uint64_t)w->period_s[i] * 1000;
		if (p - now % p < w->min_left_ms[i])
			return 0;
	}
	return 1;
}

static void wait_window_room(unsigned period_a, unsigned left_a, unsigned period_b, unsigned left_b)
{
	struct window_room w = {{period_a, period_b}, {left_a, left_b}};
	unsigned longest = period_a > period_b ? period_a : period_b;
	assert_true(cg_h_poll(window_has_room, &w, longest * 1000 + 2000));
}

/*
 * A raw TCP exchange with 127.0.0.1:port: -ECONNREFUSED when the connection is refused,
 * otherwise sends req and returns the bytes answered before the peer closed (0: closed or
 * reset without an answer), or another negative errno.
 */
static long raw_exchange(int port, const char *req, char *buf, size_t buflen)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -errno;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	struct timeval tv = {5, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	long rc = 0;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	size_t len = strlen(req), off = 0;
	while (off < len) {
		ssize_t w = send(fd, req + off, len - off, MSG_NOSIGNAL);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	size_t got = 0;
	for (;;) {
		ssize_t n = recv(fd, buf + got, buflen - 1 - got, 0);
		if (n < 0 && errno == ECONNRESET)
			break;
		if (n < 0) {
			rc = -errno;
			break;
		}
		if (n == 0 || (got += (size_t)n) >= buflen - 1)
			break;
	}
	buf[got] = '\0';
	close(fd);
	return rc < 0 ? rc : (long)got;
}

static int refused(int port)
{
	char buf[64];
	return raw_exchange(port, "", buf, sizeof(buf)) == -ECONNREFUSED;
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

	/* How free text is matched (search_text): a whole token only, or never. */
	cJSON_Delete(create_case(&main_sim, "ref cg0123abcd in the text"));
	cJSON *f = call_json(&main_sim, "POST", "/_sim/faults", "{\"search_text\":\"tokens\"}", 200);
	assert_jstr(f, "search_text", "tokens");
	cJSON_Delete(f);
	s = call_json(&main_sim, "GET", "/api/v2/cases?filter=cg0123abcd", NULL, 200);
	assert_int_equal(cJSON_GetArraySize(jget(s, "data")), 1);
	cJSON_Delete(s);
	s = call_json(&main_sim, "GET", "/api/v2/cases?filter=cg0123", NULL, 200); /* a part of a token */
	assert_int_equal(cJSON_GetArraySize(jget(s, "data")), 0);
	cJSON_Delete(s);
	cJSON_Delete(call_json(&main_sim, "POST", "/_sim/faults", "{\"search_text\":\"none\"}", 200));
	s = call_json(&main_sim, "GET", "/api/v2/cases?filter=cg0123abcd", NULL, 200);
	assert_int_equal(cJSON_GetArraySize(jget(s, "data")), 0);
	cJSON_Delete(s);
	s = call_json(&main_sim, "GET", "/api/v2/cases?filter=key:DEMO-6", NULL, 200); /* key: still works */
	assert_int_equal(cJSON_GetArraySize(jget(s, "data")), 1);
	cJSON_Delete(s);
	cJSON_Delete(call_json(&main_sim, "POST", "/_sim/faults", "{\"search_text\":\"bogus\"}", 400));
	cJSON_Delete(call_json(&main_sim, "POST", "/_sim/faults", "{\"search_text\":\"substring\"}", 200));
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

static int got_429(void *ud)
{
	struct cg_h_resp r;
	long st = call(ud, "GET", "/api/v2/cases", NULL, &r);
	cg_h_resp_free(&r);
	return st == 429;
}

/* The legacy single bucket ("cases", every request), now calendar-aligned. */
static void test_rate_limit(void **state)
{
	(void)state;
	reset(&main_sim);
	wait_window_room(60, 3000, 0, 0);
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
	uint64_t t0 = wall_ms();
	assert_int_equal(call(&main_sim, "GET", "/api/v2/cases", NULL, &r), 429);
	uint64_t t1 = wall_ms();
	assert_non_null(strstr(r.body, "{\"errors\":[{\"status\":\"429\",\"title\":\"Too Many Requests\""));
	assert_content_type(&r);
	assert_header(&r, "X-RateLimit-Limit", "3");
	assert_header(&r, "X-RateLimit-Period", "60");
	assert_header(&r, "X-RateLimit-Remaining", "0");
	assert_header(&r, "X-RateLimit-Name", "cases");
	/* the reset points at the next whole minute of the wall clock */
	long reset_s = header_long(&r, "X-RateLimit-Reset");
	if (reset_s < calendar_reset(60, t1) || reset_s > calendar_reset(60, t0))
		fprintf(stderr, "X-RateLimit-Reset: got %ld, want %ld..%ld\n", reset_s, calendar_reset(60, t1),
			calendar_reset(60, t0));
	assert_true(reset_s >= calendar_reset(60, t1) && reset_s <= calendar_reset(60, t0));
	cg_h_resp_free(&r);
	assert_true(stat_of("rejected_429") == 1);

	/* a 1 s window lets requests through again once it has passed */
	set_faults("{\"rate_limit\":1,\"rate_period\":1}");
	assert_true(cg_h_poll(got_429, &main_sim, 3000));
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
	reset(&main_sim);
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
			char *want = cg_h_fmt("{\"errors\":[{\"status\":\"%ld\",\"title\":\"%s\"}]}", cases[i].want,
					      cases[i].msg);
			if (strcmp(r.body, want) != 0)
				fprintf(stderr, "auth case %zu body: got %s, want %s\n", i, r.body, want);
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
		{"GET", "/api/v2/cases/DEMO-99", NULL, 404,
		 "{\"errors\":[{\"status\":\"404\",\"title\":\"Not Found\",\"detail\":\"case not found\"}]}"},
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
		/* JSON:API error objects, with the status as a string */
		char *shape = cg_h_fmt("{\"errors\":[{\"status\":\"%ld\",\"title\":\"", cases[i].want);
		if (strncmp(r.body, shape, strlen(shape)) != 0)
			fprintf(stderr, "validation case %zu body: got %s, want it to start %s\n", i, r.body, shape);
		assert_true(strncmp(r.body, shape, strlen(shape)) == 0);
		free(shape);
		assert_content_type(&r);
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

/* ---- search index: lag, archived cases ---- */

struct search_wait {
	const struct sim *s;
	const char *query;
	int want;
};

static int search_count(const struct sim *s, const char *query)
{
	char *path = cg_h_fmt("/api/v2/cases?%s", query);
	cJSON *j = call_json(s, "GET", path, NULL, 200);
	int n = cJSON_GetArraySize(jget(j, "data"));
	cJSON_Delete(j);
	free(path);
	return n;
}

static int search_finds(void *ud)
{
	struct search_wait *w = ud;
	return search_count(w->s, w->query) == w->want;
}

/* SearchCases reads an index that trails creation; GetCase reads the primary store. */
static void test_search_lag(void **state)
{
	(void)state;
	reset(&main_sim);
	enum { LAG_MS = 1500 };
	set_faults("{\"search_lag_ms\":1500}");
	uint64_t t0 = now_ms();
	cJSON *c = create_case(&main_sim, "lagging behind");
	char *path = cg_h_fmt("/api/v2/cases/%s", jstr(c, "data.id"));
	cJSON_Delete(call_json(&main_sim, "GET", path, NULL, 200)); /* seen at once by id */
	int right_after = search_count(&main_sim, "filter=key:DEMO-1");
	int all_after = search_count(&main_sim, "");
	uint64_t t_absent = now_ms();
	struct search_wait w = {&main_sim, "filter=key:DEMO-1", 1};
	int found = cg_h_poll(search_finds, &w, 10000);
	uint64_t t_found = now_ms();
	set_faults("{\"search_lag_ms\":0}");
	if (t_absent - t0 >= LAG_MS)
		fprintf(stderr, "the machine is too slow for this check: %llu ms between create and search\n",
			(unsigned long long)(t_absent - t0));
	assert_true(t_absent - t0 < LAG_MS);
	if (right_after != 0 || all_after != 0)
		fprintf(stderr, "search right after creation: got %d and %d hits, want 0\n", right_after, all_after);
	assert_int_equal(right_after, 0);
	assert_int_equal(all_after, 0);
	assert_true(found);
	if (t_found - t0 < LAG_MS - 5)
		fprintf(stderr, "search found the case after %llu ms, want >= %d\n", (unsigned long long)(t_found - t0),
			LAG_MS);
	assert_true(t_found - t0 >= LAG_MS - 5);
	/* with the lag off again new cases are found at once */
	cJSON_Delete(create_case(&main_sim, "instant"));
	assert_int_equal(search_count(&main_sim, "filter=key:DEMO-2"), 1);
	free(path);
	cJSON_Delete(c);
}

static void test_search_archived(void **state)
{
	(void)state;
	reset(&main_sim);
	cJSON_Delete(create_case(&main_sim, "stays"));
	cJSON_Delete(create_case(&main_sim, "archived later"));
	cJSON_Delete(call_json(&main_sim, "POST", "/api/v2/cases/DEMO-2/archive", "{\"data\":{\"type\":\"case\"}}", 200));
	cJSON *g = call_json(&main_sim, "GET", "/api/v2/cases/DEMO-2", NULL, 200);
	assert_non_null(jstr(g, "data.attributes.archived_at"));
	cJSON_Delete(g);
	cJSON *sr = call_json(&main_sim, "GET", "/api/v2/cases", NULL, 200);
	assert_int_equal(cJSON_GetArraySize(jget(sr, "data")), 1);
	assert_jstr(sr, "data.0.attributes.key", "DEMO-1");
	cJSON_Delete(sr);
	assert_int_equal(search_count(&main_sim, "filter=key:DEMO-2"), 0);
	set_faults("{\"search_archived\":true}");
	assert_int_equal(search_count(&main_sim, ""), 2);
	assert_int_equal(search_count(&main_sim, "filter=key:DEMO-2"), 1);
	set_faults("{\"search_archived\":false}");
	cJSON_Delete(call_json(&main_sim, "POST", "/api/v2/cases/DEMO-2/unarchive", "{\"data\":{\"type\":\"case\"}}", 200));
	assert_int_equal(search_count(&main_sim, ""), 2);
}

/* ---- media type and error bodies ---- */

static void test_content_type_and_errors(void **state)
{
	(void)state;
	reset(&main_sim);
	struct cg_h_resp r;
	char *b = create_body("typed", DEMO_PROJECT);
	assert_int_equal(call(&main_sim, "POST", "/api/v2/cases", b, &r), 201);
	assert_content_type(&r);
	cg_h_resp_free(&r);
	free(b);
	assert_int_equal(call(&main_sim, "GET", "/api/v2/cases?page[size]=5", NULL, &r), 200);
	assert_content_type(&r);
	cg_h_resp_free(&r);
	/* an error with a message: detail carries it */
	assert_int_equal(call(&main_sim, "GET", "/api/v2/cases/DEMO-77", NULL, &r), 404);
	assert_content_type(&r);
	assert_string_equal(r.body, "{\"errors\":[{\"status\":\"404\",\"title\":\"Not Found\",\"detail\":\"case not found\"}]}");
	cg_h_resp_free(&r);
	/* 401 from a bad application key, same form */
	char *url = cg_h_fmt("http://127.0.0.1:%d/api/v2/cases", main_sim.port);
	const char *const bad_app[] = {"DD-API-KEY: " API_KEY, "DD-APPLICATION-KEY: nope", NULL};
	cg_h_http("GET", url, bad_app, NULL, 0, &r);
	assert_int_equal(r.status, 401);
	assert_content_type(&r);
	assert_string_equal(r.body, "{\"errors\":[{\"status\":\"401\",\"title\":\"Unauthorized\"}]}");
	cg_h_resp_free(&r);

	/* plain_errors brings back the simulator's old form; the media type stays */
	set_faults("{\"plain_errors\":true}");
	assert_int_equal(call(&main_sim, "GET", "/api/v2/cases/DEMO-77", NULL, &r), 404);
	assert_string_equal(r.body, "{\"errors\":[\"case not found\"]}");
	assert_content_type(&r);
	cg_h_resp_free(&r);
	cg_h_http("GET", url, bad_app, NULL, 0, &r);
	assert_string_equal(r.body, "{\"errors\":[\"Unauthorized\"]}");
	cg_h_resp_free(&r);
	set_faults("{\"plain_errors\":false}");
	free(url);
}

/* ---- case types and custom attributes ---- */

#define INCIDENT_TYPE "6a1f0bb0-41c4-4c5e-9f7e-0d3b1e2a9c10"
#define UNKNOWN_TYPE "9e8d7c6b-5a49-4382-9170-aabbccddeeff"

static char *case_with_attrs(const char *type_id, const char *custom)
{
	return cg_h_fmt("{\"data\":{\"type\":\"case\",\"attributes\":{\"title\":\"typed case\",\"type_id\":\"%s\","
			"\"custom_attributes\":{%s}},\"relationships\":{\"project\":{\"data\":"
			"{\"id\":\"" DEMO_PROJECT "\",\"type\":\"project\"}}}}}",
			type_id, custom);
}

static long create_typed(const struct sim *s, const char *type_id, const char *custom, char **body_out)
{
	struct cg_h_resp r;
	char *b = case_with_attrs(type_id, custom);
	long st = call(s, "POST", "/api/v2/cases", b, &r);
	free(b);
	if (body_out)
		*body_out = strdup(r.body ? r.body : "");
	cg_h_resp_free(&r);
	return st;
}

#define BARE_400 "{\"errors\":[{\"status\":\"400\",\"title\":\"Bad Request\"}]}"
#define REGION_OK "\"region\":{\"type\":\"NUMBER\",\"is_multi\":true,\"value\":[1,2]}"

static void expect_typed(const struct sim *s, const char *type_id, const char *custom, long want, const char *want_body)
{
	char *body = NULL;
	long st = create_typed(s, type_id, custom, &body);
	int body_ok = !want_body || strcmp(body, want_body) == 0;
	if (st != want || !body_ok)
		fprintf(stderr, "create type %s with {%s}: got %ld %s, want %ld %s\n", type_id, custom, st, body, want,
			want_body ? want_body : "");
	assert_int_equal(st, want);
	assert_true(body_ok);
	free(body);
}

static void test_case_types(void **state)
{
	(void)state;
	struct sim ts;
	const char *const args[] = {"--case-type", INCIDENT_TYPE "=Incident", "--custom-attribute",
				    INCIDENT_TYPE ":region:NUMBER:multi", NULL};
	assert_int_equal(sim_start(&ts, "cg-sim-types", args), 0);

	/* the built-in types, Standard first, and the one from the command line */
	cJSON *t = call_json(&ts, "GET", "/api/v2/cases/types", NULL, 200);
	assert_jstr(t, "data.0.id", TYPE_ID);
	assert_jstr(t, "data.0.type", "case_type");
	assert_jstr(t, "data.0.attributes.name", "Standard");
	assert_true(cJSON_IsTrue(jget(t, "data.0.attributes.internal")));
	assert_jstr(t, "data.0.attributes.statuses_config.closed.default", "Closed");
	assert_jstr(t, "data.5.id", INCIDENT_TYPE);
	assert_jstr(t, "data.5.attributes.name", "Incident");
	assert_true(cJSON_IsFalse(jget(t, "data.5.attributes.internal")));
	cJSON_Delete(t);
	cJSON *all = call_json(&ts, "GET", "/api/v2/cases/types/custom_attributes", NULL, 200);
	assert_int_equal(cJSON_GetArraySize(jget(all, "data")), 1);
	assert_jstr(all, "data.0.type", "custom_attribute");
	assert_jstr(all, "data.0.attributes.key", "region");
	assert_jstr(all, "data.0.attributes.type", "NUMBER");
	assert_jstr(all, "data.0.attributes.case_type_id", INCIDENT_TYPE);
	assert_jstr(all, "data.0.attributes.case_type", "TUNKNOWN");
	assert_true(cJSON_IsTrue(jget(all, "data.0.attributes.is_multi")));
	cJSON_Delete(all);
	cJSON *std = call_json(&ts, "GET", "/api/v2/cases/types/" TYPE_ID "/custom_attributes", NULL, 200);
	assert_int_equal(cJSON_GetArraySize(jget(std, "data")), 0);
	cJSON_Delete(std);

	/* enforcement on a known type: defined key, same type and multiplicity, else Datadog's bare 400 */
	expect_typed(&ts, INCIDENT_TYPE, REGION_OK, 201, NULL);
	expect_typed(&ts, INCIDENT_TYPE, "\"zone\":{\"type\":\"TEXT\",\"is_multi\":false,\"value\":\"a\"}", 400, BARE_400);
	expect_typed(&ts, INCIDENT_TYPE, "\"region\":{\"type\":\"TEXT\",\"is_multi\":true,\"value\":[\"a\"]}", 400,
		     BARE_400);
	expect_typed(&ts, INCIDENT_TYPE, "\"region\":{\"type\":\"NUMBER\",\"is_multi\":false,\"value\":1}", 400, BARE_400);
	/* STANDARD is known and defines nothing */
	expect_typed(&ts, TYPE_ID, "\"runbook\":{\"type\":\"URL\",\"is_multi\":false,\"value\":\"https://x\"}", 400,
		     BARE_400);
	expect_typed(&ts, TYPE_ID, "", 201, NULL);
	/* a type the simulator does not know stays permissive, unless strict */
	expect_typed(&ts, UNKNOWN_TYPE, "\"anything\":{\"type\":\"TEXT\",\"is_multi\":false,\"value\":\"a\"}", 201, NULL);
	cJSON_Delete(call_json(&ts, "POST", "/_sim/faults", "{\"strict_case_types\":true}", 200));
	char *body = NULL;
	long st = create_typed(&ts, UNKNOWN_TYPE, "", &body);
	if (st != 400 || !strstr(body, "\"detail\":\"case type " UNKNOWN_TYPE " does not exist\""))
		fprintf(stderr, "strict unknown type: got %ld %s\n", st, body);
	assert_int_equal(st, 400);
	assert_non_null(strstr(body, "{\"errors\":[{\"status\":\"400\",\"title\":\"Bad Request\",\"detail\":"));
	free(body);
	expect_typed(&ts, INCIDENT_TYPE, REGION_OK, 201, NULL);
	cJSON_Delete(call_json(&ts, "POST", "/_sim/faults", "{\"strict_case_types\":false}", 200));

	/* UpdateCaseCustomAttribute: an undefined key is 404 (recorded), a mismatch a bare 400 */
	struct cg_h_resp r;
	assert_int_equal(call(&ts, "POST", "/api/v2/cases/DEMO-1/custom_attributes/zone",
			      "{\"data\":{\"type\":\"case\",\"attributes\":{\"type\":\"TEXT\",\"is_multi\":false,\"value\":\"a\"}}}",
			      &r),
			 404);
	assert_non_null(strstr(r.body, "custom attribute configuration not found"));
	cg_h_resp_free(&r);
	assert_int_equal(call(&ts, "POST", "/api/v2/cases/DEMO-1/custom_attributes/region",
			      "{\"data\":{\"type\":\"case\",\"attributes\":{\"type\":\"NUMBER\",\"is_multi\":false,\"value\":3}}}",
			      &r),
			 400);
	assert_string_equal(r.body, BARE_400);
	cg_h_resp_free(&r);
	cJSON *u = call_json(&ts, "POST", "/api/v2/cases/DEMO-1/custom_attributes/region",
			     "{\"data\":{\"type\":\"case\",\"attributes\":{\"type\":\"NUMBER\",\"is_multi\":true,\"value\":[3]}}}",
			     200);
	assert_true(jnum(u, "data.attributes.custom_attributes.region.value.0") == 3);
	cJSON_Delete(u);

	/* types and configs through the API, shapes as recorded */
	assert_int_equal(call(&ts, "POST", "/api/v2/cases/types",
			      "{\"data\":{\"attributes\":{\"description\":\"x\",\"emoji\":\"notanemoji\",\"name\":\"Bad\"},"
			      "\"type\":\"case_type\"}}",
			      &r),
			 400);
	assert_string_equal(r.body, BARE_400);
	assert_content_type(&r);
	cg_h_resp_free(&r);
	cJSON *nt = call_json(&ts, "POST", "/api/v2/cases/types",
			      "{\"data\":{\"attributes\":{\"description\":\"Worldwide case type\",\"emoji\":\"\xF0\x9F\x8C\x8D\","
			      "\"name\":\"World\"},\"type\":\"case_type\"}}",
			      201);
	assert_jstr(nt, "data.type", "case_type");
	assert_jstr(nt, "data.attributes.name", "World");
	assert_jstr(nt, "data.attributes.statuses_config.open.default", "Open");
	char *tid = strdup(jstr(nt, "data.id"));
	cJSON_Delete(nt);
	char *ca_path = cg_h_fmt("/api/v2/cases/types/%s/custom_attributes", tid);
	assert_int_equal(call(&ts, "POST", ca_path,
			      "{\"data\":{\"attributes\":{\"display_name\":\"AWS Region\",\"is_multi\":true,\"key\":\"aws\","
			      "\"type\":\"FLOAT\"},\"type\":\"custom_attribute\"}}",
			      &r),
			 400);
	assert_string_equal(r.body, BARE_400);
	cg_h_resp_free(&r);
	cJSON *ca = call_json(&ts, "POST", ca_path,
			      "{\"data\":{\"attributes\":{\"display_name\":\"Runbook\",\"is_multi\":false,\"key\":\"runbook\","
			      "\"type\":\"URL\",\"description\":\"where to look\"},\"type\":\"custom_attribute\"}}",
			      201);
	assert_jstr(ca, "data.attributes.case_type_id", tid);
	assert_jstr(ca, "data.attributes.display_name", "Runbook");
	assert_jstr(ca, "data.attributes.description", "where to look");
	char *ca_id = strdup(jstr(ca, "data.id"));
	cJSON_Delete(ca);
	const char *rb = "\"runbook\":{\"type\":\"URL\",\"is_multi\":false,\"value\":\"https://r\"}";
	expect_typed(&ts, tid, rb, 201, NULL);
	cJSON *list = call_json(&ts, "GET", ca_path, NULL, 200);
	assert_int_equal(cJSON_GetArraySize(jget(list, "data")), 1);
	cJSON_Delete(list);
	assert_int_equal(call(&ts, "POST", "/api/v2/cases/types/0b5b1c53-8f0e-4b43-a0a4-5a4f5e1f0c8e/custom_attributes",
			      "{\"data\":{\"attributes\":{\"display_name\":\"R\",\"is_multi\":true,\"key\":\"r\","
			      "\"type\":\"NUMBER\"},\"type\":\"custom_attribute\"}}",
			      &r),
			 404);
	assert_non_null(strstr(r.body, "case_type not found"));
	cg_h_resp_free(&r);

	/* deleting the config: the key is no longer accepted */
	char *del = cg_h_fmt("%s/%s", ca_path, ca_id);
	assert_int_equal(call(&ts, "DELETE", del, NULL, &r), 204);
	cg_h_resp_free(&r);
	expect_typed(&ts, tid, rb, 400, BARE_400);
	char *bad_del = cg_h_fmt("%s/not-an-uuid", ca_path);
	assert_int_equal(call(&ts, "DELETE", bad_del, NULL, &r), 400);
	assert_string_equal(r.body, "{\"errors\":[{\"status\":\"400\",\"title\":\"Invalid Parameter\",\"detail\":"
				    "\"invalid parameter \\\"CustomAttributeId\\\" in \\\"path\\\"; expected type \\\"uuid\\\"\"}]}");
	cg_h_resp_free(&r);

	/* /_sim/reset keeps types and their configs */
	cJSON_Delete(call_json(&ts, "POST", "/_sim/reset", "{}", 200));
	expect_typed(&ts, INCIDENT_TYPE, REGION_OK, 201, NULL);
	expect_typed(&ts, INCIDENT_TYPE, rb, 400, BARE_400);

	/* a soft delete, twice 204; the list keeps it with deleted_at; it is no longer enforced */
	char *tpath = cg_h_fmt("/api/v2/cases/types/%s", tid);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(call(&ts, "DELETE", tpath, NULL, &r), 204);
		cg_h_resp_free(&r);
	}
	t = call_json(&ts, "GET", "/api/v2/cases/types", NULL, 200);
	assert_jstr(t, "data.6.id", tid);
	assert_non_null(jstr(t, "data.6.attributes.deleted_at"));
	cJSON_Delete(t);
	expect_typed(&ts, tid, rb, 201, NULL);

	/* everything valid here is in the contract, under the contract's operation names */
	char *log = cg_h_fmt("%s/%s", ts.dir, CG_H_SIM_REQUEST_LOG);
	char *text = cg_h_read_file(log, NULL);
	assert_non_null(text);
	static const char *const ops[] = {"GetAllCaseTypes", "CreateCaseType", "DeleteCaseType",
					  "GetAllCustomAttributes", "GetAllCustomAttributeConfigsByCaseType",
					  "CreateCustomAttributeConfig", "DeleteCustomAttributeConfig"};
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		char *needle = cg_h_fmt("\"operation\":\"%s\"", ops[i]);
		if (!strstr(text, needle))
			fprintf(stderr, "request log: got no %s, want one\n", needle);
		assert_non_null(strstr(text, needle));
		free(needle);
	}
	free(text);
	const char *const skip4[] = {"--skip-4xx", "--quiet", NULL};
	int rc = cg_h_validate_contract_args(log, skip4);
	if (rc != 0 && rc != 77)
		fprintf(stderr, "contract of the types traffic: got %d, want 0\n", rc);
	assert_true(rc == 0 || rc == 77);
	free(log);
	free(tpath);
	free(bad_del);
	free(del);
	free(ca_id);
	free(ca_path);
	free(tid);
	assert_int_equal(sim_stop(&ts), 0);
}

/* ---- revoked keys ---- */

static void test_auth_fail(void **state)
{
	(void)state;
	reset(&main_sim);
	struct cg_h_resp r;
	set_faults("{\"auth_fail\":403}");
	for (int i = 0; i < 3; i++) {
		char *b = create_body("never stored", DEMO_PROJECT);
		assert_int_equal(call(&main_sim, i ? "GET" : "POST", i ? "/api/v2/cases/projects" : "/api/v2/cases", i ? NULL : b,
				      &r),
				 403);
		free(b);
		assert_string_equal(r.body, "{\"errors\":[{\"status\":\"403\",\"title\":\"Forbidden\"}]}");
		assert_content_type(&r);
		cg_h_resp_free(&r);
	}
	set_faults("{\"auth_fail\":401}");
	assert_int_equal(call(&main_sim, "GET", "/api/v2/cases", NULL, &r), 401);
	assert_string_equal(r.body, "{\"errors\":[{\"status\":\"401\",\"title\":\"Unauthorized\"}]}");
	cg_h_resp_free(&r);
	assert_true(stat_of("auth_failed") == 4);
	assert_true(stat_of("cases") == 0);
	/* keys restored: the same requests go through */
	set_faults("{\"auth_fail\":0}");
	cJSON_Delete(create_case(&main_sim, "after recovery"));
	assert_int_equal(call(&main_sim, "GET", "/api/v2/cases/projects", NULL, &r), 200);
	cg_h_resp_free(&r);
	assert_true(stat_of("auth_failed") == 4);
}

/* ---- outages ---- */

struct port_wait {
	int port;
};

static int port_answers(void *ud)
{
	const struct port_wait *w = ud;
	char *url = cg_h_fmt("http://127.0.0.1:%d/api/v2/cases/projects", w->port);
	struct cg_h_resp r;
	cg_h_http("GET", url, auth_headers, NULL, 0, &r);
	long st = r.status;
	cg_h_resp_free(&r);
	free(url);
	return st == 200;
}

static void ctl_faults(int ctl_port, const char *json)
{
	char *url = cg_h_fmt("http://127.0.0.1:%d/_sim/faults", ctl_port);
	struct cg_h_resp r;
	cg_h_http("POST", url, NULL, json, strlen(json), &r);
	if (r.status != 200)
		fprintf(stderr, "control POST /_sim/faults %s: got %ld %s\n", json, r.status, r.body);
	assert_int_equal(r.status, 200);
	cg_h_resp_free(&r);
	free(url);
}

static double stat_at(const struct sim *s, const char *name)
{
	cJSON *j = call_json(s, "GET", "/_sim/stats", NULL, 200);
	double v = jnum(j, name);
	cJSON_Delete(j);
	return v;
}

static void test_outage(void **state)
{
	(void)state;
	struct sim os;
	const char *const args[] = {"--control-listen", "127.0.0.1:0", NULL};
	assert_int_equal(sim_start(&os, "cg-sim-outage", args), 0);
	int ctl = cg_h_log_port(&os.proc, "casegate-sim control on 127.0.0.1:", 10000);
	assert_true(ctl > 0);
	struct cg_h_resp r;
	char *b = create_body("during an outage", DEMO_PROJECT);

	/* 503: an answer, JSON:API, Retry-After, nothing processed */
	cJSON_Delete(call_json(&os, "POST", "/_sim/faults", "{\"outage\":\"503\",\"retry_after_s\":5}", 200));
	assert_int_equal(call(&os, "POST", "/api/v2/cases", b, &r), 503);
	assert_header(&r, "Retry-After", "5");
	assert_content_type(&r);
	assert_string_equal(r.body, "{\"errors\":[{\"status\":\"503\",\"title\":\"Service Unavailable\"}]}");
	cg_h_resp_free(&r);
	cJSON_Delete(call_json(&os, "POST", "/_sim/faults", "{\"retry_after_s\":0}", 200));
	assert_int_equal(call(&os, "GET", "/api/v2/cases", NULL, &r), 503);
	assert_int_not_equal(cg_h_resp_header(&r, "Retry-After", (char[8]){0}, 8), 0);
	cg_h_resp_free(&r);

	/* reset: the connection closes with no answer, nothing processed; /_sim still answers */
	cJSON_Delete(call_json(&os, "POST", "/_sim/faults", "{\"outage\":\"reset\"}", 200));
	assert_int_equal(call(&os, "POST", "/api/v2/cases", b, &r), 0);
	cg_h_resp_free(&r);
	char buf[512];
	long got = raw_exchange(os.port, "GET /api/v2/cases HTTP/1.1\r\nHost: x\r\nDD-API-KEY: k\r\n"
				"DD-APPLICATION-KEY: k\r\n\r\n", buf, sizeof(buf));
	if (got != 0)
		fprintf(stderr, "reset outage: got %ld bytes (%s), want the connection closed without any\n", got, buf);
	assert_int_equal(got, 0);
	assert_true(stat_at(&os, "cases") == 0);
	assert_true(stat_at(&os, "outage_requests") == 4);

	/* refuse: the listener closes before the answer to this very request reaches us */
	cJSON_Delete(call_json(&os, "POST", "/_sim/faults", "{\"outage\":\"refuse\"}", 200));
	assert_true(refused(os.port));
	assert_int_equal(call(&os, "GET", "/api/v2/cases", NULL, &r), 0);
	cg_h_resp_free(&r);
	ctl_faults(ctl, "{\"outage\":\"none\"}");
	/* the same port again */
	struct port_wait pw = {os.port};
	assert_true(cg_h_poll(port_answers, &pw, 5000));
	cJSON_Delete(call_json(&os, "POST", "/api/v2/cases", b, 201));

	/* a timed outage ends by itself */
	cJSON_Delete(call_json(&os, "POST", "/_sim/faults", "{\"outage\":\"refuse\",\"outage_ms\":400}", 200));
	assert_true(refused(os.port));
	assert_true(cg_h_poll(port_answers, &pw, 5000));
	cJSON *f = call_json(&os, "GET", "/_sim/faults", NULL, 200);
	assert_jstr(f, "outage", "none");
	cJSON_Delete(f);
	cJSON_Delete(call_json(&os, "POST", "/_sim/faults", "{\"outage\":\"503\",\"outage_ms\":300}", 200));
	assert_int_equal(call(&os, "GET", "/api/v2/cases/projects", NULL, &r), 503);
	cg_h_resp_free(&r);
	assert_true(cg_h_poll(port_answers, &pw, 5000));
	assert_true(stat_at(&os, "cases") == 1);
	free(b);
	assert_int_equal(sim_stop(&os), 0);
}

/* ---- named, calendar-aligned rate-limit buckets ---- */

struct post_wait {
	const struct sim *s;
	long status;
};

static int post_goes_through(void *ud)
{
	struct post_wait *w = ud;
	struct cg_h_resp r;
	char *b = create_body("write window", DEMO_PROJECT);
	w->status = call(w->s, "POST", "/api/v2/cases", b, &r);
	free(b);
	cg_h_resp_free(&r);
	return w->status == 201;
}

static void check_bucket_headers(const struct cg_h_resp *r, const char *name, const char *limit, const char *period,
				 const char *remaining, uint64_t t0, uint64_t t1)
{
	assert_header(r, "X-RateLimit-Name", name);
	assert_header(r, "X-RateLimit-Limit", limit);
	assert_header(r, "X-RateLimit-Period", period);
	assert_header(r, "X-RateLimit-Remaining", remaining);
	unsigned p = (unsigned)strtoul(period, NULL, 10);
	long reset_s = header_long(r, "X-RateLimit-Reset");
	if (reset_s < calendar_reset(p, t1) || reset_s > calendar_reset(p, t0))
		fprintf(stderr, "%s X-RateLimit-Reset: got %ld, want %ld..%ld (the next multiple of %u s)\n", name, reset_s,
			calendar_reset(p, t1), calendar_reset(p, t0), p);
	assert_true(reset_s >= calendar_reset(p, t1) && reset_s <= calendar_reset(p, t0));
}

static void test_buckets(void **state)
{
	(void)state;
	reset(&main_sim);
	/* Both windows must have room for what follows: the edges are the wall clock's. */
	wait_window_room(20, 8000, 2, 1300);
	set_faults("{\"buckets\":{\"cases_read\":{\"limit\":2,\"period\":20,\"match\":\"read\"},"
		   "\"cases_write\":{\"limit\":1,\"period\":2,\"match\":\"write\"}}}");
	struct cg_h_resp r;
	for (int i = 0; i < 2; i++) {
		uint64_t t0 = wall_ms();
		assert_int_equal(call(&main_sim, "GET", "/api/v2/cases", NULL, &r), 200);
		check_bucket_headers(&r, "cases_read", "2", "20", i ? "0" : "1", t0, wall_ms());
		cg_h_resp_free(&r);
	}
	uint64_t t0 = wall_ms();
	assert_int_equal(call(&main_sim, "GET", "/api/v2/cases/projects", NULL, &r), 429);
	check_bucket_headers(&r, "cases_read", "2", "20", "0", t0, wall_ms());
	assert_content_type(&r);
	assert_non_null(strstr(r.body, "{\"errors\":[{\"status\":\"429\",\"title\":\"Too Many Requests\""));
	cg_h_resp_free(&r);
	/* writes have their own bucket */
	char *b = create_body("first write", DEMO_PROJECT);
	t0 = wall_ms();
	assert_int_equal(call(&main_sim, "POST", "/api/v2/cases", b, &r), 201);
	check_bucket_headers(&r, "cases_write", "1", "2", "0", t0, wall_ms());
	cg_h_resp_free(&r);
	t0 = wall_ms();
	assert_int_equal(call(&main_sim, "POST", "/api/v2/cases", b, &r), 429);
	check_bucket_headers(&r, "cases_write", "1", "2", "0", t0, wall_ms());
	cg_h_resp_free(&r);
	free(b);
	/* the write window turns over on its own; reads stay limited in theirs */
	struct post_wait pw = {&main_sim, 0};
	assert_true(cg_h_poll(post_goes_through, &pw, 4000));
	t0 = wall_ms();
	assert_int_equal(call(&main_sim, "GET", "/api/v2/cases", NULL, &r), 429);
	check_bucket_headers(&r, "cases_read", "2", "20", "0", t0, wall_ms());
	cg_h_resp_free(&r);

	cJSON *st = call_json(&main_sim, "GET", "/_sim/stats", NULL, 200);
	assert_true(jnum(st, "buckets.cases_read.requests") == 4);
	assert_true(jnum(st, "buckets.cases_read.rejected_429") == 2);
	assert_true(jnum(st, "buckets.cases_read.max_429_per_window") == 2);
	double w429 = jnum(st, "buckets.cases_write.rejected_429");
	assert_true(w429 >= 1);
	assert_true(jnum(st, "buckets.cases_write.requests") == 2 + w429);
	assert_true(jnum(st, "buckets.cases_write.max_429_per_window") >= 1);
	assert_true(jnum(st, "rejected_429") == 2 + w429);
	cJSON_Delete(st);

	/* header_drop_ratio 1: successes carry no X-RateLimit-* at all, 429s still do */
	wait_window_room(20, 3000, 0, 0);
	/* (a new name: "cases_read" would carry on with its current window's count) */
	set_faults("{\"buckets\":{\"reads\":{\"limit\":3,\"period\":20,\"match\":\"read\"}},\"header_drop_ratio\":1}");
	int ok = 0;
	for (int i = 0; i < 4; i++) {
		long code = call(&main_sim, "GET", "/api/v2/cases", NULL, &r);
		if (code == 200) {
			ok++;
			if (has_ratelimit_headers(&r) != 0)
				fprintf(stderr, "header_drop_ratio 1: got X-RateLimit-* headers on a 200\n");
			assert_int_equal(has_ratelimit_headers(&r), 0);
		} else {
			assert_int_equal(code, 429);
			assert_int_equal(has_ratelimit_headers(&r), 5);
		}
		cg_h_resp_free(&r);
	}
	assert_int_equal(ok, 3);
	set_faults("{\"buckets\":{\"cases_read\":{\"limit\":1000,\"period\":20,\"match\":\"read\"}},\"header_drop_ratio\":0}");
	assert_int_equal(call(&main_sim, "GET", "/api/v2/cases", NULL, &r), 200);
	assert_int_equal(has_ratelimit_headers(&r), 5);
	cg_h_resp_free(&r);
	set_faults("{\"buckets\":{}}");
	assert_int_equal(call(&main_sim, "GET", "/api/v2/cases", NULL, &r), 200);
	assert_int_equal(has_ratelimit_headers(&r), 0);
	cg_h_resp_free(&r);
}

/* ---- a person in Datadog's UI ---- */

static cJSON *human(const char *target, const char *action, long want)
{
	char *path = cg_h_fmt("/_sim/cases/%s/%s", target, action);
	struct cg_h_resp r;
	long got = call(&main_sim, "POST", path, "", &r);
	if (got != want)
		fprintf(stderr, "POST %s: got %ld %s, want %ld\n", path, got, r.body, want);
	assert_int_equal(got, want);
	cJSON *j = cJSON_ParseWithLength(r.body, r.body_len);
	assert_non_null(j);
	cg_h_resp_free(&r);
	free(path);
	return j;
}

static void test_person_in_ui(void **state)
{
	(void)state;
	reset(&main_sim);
	cJSON *c = create_case(&main_sim, "a person handles this");
	char *id = strdup(jstr(c, "data.id"));
	cJSON_Delete(c);
	cJSON_Delete(create_case(&main_sim, "a bystander"));
	/* spent rate limit: the UI is no API client */
	set_faults("{\"rate_limit\":1,\"rate_period\":3600}");
	struct cg_h_resp r;
	call(&main_sim, "GET", "/api/v2/cases/projects", NULL, &r);
	cg_h_resp_free(&r);
	double total = stat_of("total");

	cJSON *h = human("DEMO-1", "close", 200);
	assert_jstr(h, "data.attributes.status_name", "Closed");
	assert_jstr(h, "data.attributes.status", "CLOSED");
	assert_jstr(h, "data.attributes.status_group", "SG_CLOSED");
	assert_non_null(jstr(h, "data.attributes.closed_at"));
	cJSON_Delete(h);
	h = human(id, "reopen", 200);
	assert_jstr(h, "data.attributes.status_name", "Open");
	assert_jstr(h, "data.attributes.status_group", "SG_OPEN");
	assert_null(jget(h, "data.attributes.closed_at"));
	cJSON_Delete(h);
	h = human("DEMO-1", "close", 200);
	cJSON_Delete(h);
	h = human("DEMO-1", "archive", 200);
	assert_non_null(jstr(h, "data.attributes.archived_at"));
	cJSON_Delete(h);
	assert_true(stat_of("total") == total); /* none of that was an API request */
	set_faults("{\"rate_limit\":0}");

	/* what the API sees now */
	cJSON *g = call_json(&main_sim, "GET", "/api/v2/cases/DEMO-1", NULL, 200);
	assert_jstr(g, "data.attributes.status_name", "Closed");
	assert_non_null(jstr(g, "data.attributes.archived_at"));
	cJSON_Delete(g);
	assert_int_equal(search_count(&main_sim, "filter=key:DEMO-1"), 0); /* archived */
	h = human("DEMO-2", "delete", 200);
	cJSON_Delete(h);
	assert_int_equal(call(&main_sim, "GET", "/api/v2/cases/DEMO-2", NULL, &r), 404);
	cg_h_resp_free(&r);
	set_faults("{\"search_archived\":true}");
	assert_int_equal(search_count(&main_sim, ""), 1); /* DEMO-1 only: DEMO-2 is gone */
	set_faults("{\"search_archived\":false}");
	assert_true(stat_of("cases") == 1);

	cJSON *dump = call_json(&main_sim, "GET", "/_sim/cases", NULL, 200);
	assert_int_equal(cJSON_GetArraySize(jget(dump, "cases")), 1);
	assert_jstr(dump, "deleted_cases.0.attributes.key", "DEMO-2");
	assert_jstr(dump, "deleted_cases.0.events.1", "human:delete");
	static const char *const want[] = {"create", "human:close", "human:reopen", "human:close", "human:archive"};
	const cJSON *ev = jget(dump, "cases.0.events");
	assert_int_equal(cJSON_GetArraySize(ev), 5);
	for (int i = 0; i < 5; i++)
		assert_string_equal(cJSON_GetArrayItem(ev, i)->valuestring, want[i]);
	cJSON_Delete(dump);

	/* unknown cases and actions: a JSON error */
	cJSON *e = human("DEMO-2", "close", 404);
	assert_true(cJSON_IsArray(jget(e, "errors")));
	cJSON_Delete(e);
	e = human("DEMO-404", "reopen", 404);
	cJSON_Delete(e);
	e = human("DEMO-1", "explode", 404);
	cJSON_Delete(e);
	free(id);
}

/* ---- /_sim/faults: every field, and bad bodies change nothing ---- */

static void test_faults_endpoint(void **state)
{
	(void)state;
	reset(&main_sim);
	cJSON *before = call_json(&main_sim, "GET", "/_sim/faults", NULL, 200);
	static const char *const bad[] = {
		"not json",
		"[1]",
		"{\"outage\":\"sometimes\"}",
		"{\"outage\":503}",
		"{\"auth_fail\":500}",
		"{\"search_lag_ms\":-1}",
		"{\"search_lag_ms\":1.5}",
		"{\"plain_errors\":1}",
		"{\"error_ratio\":2}",
		"{\"header_drop_ratio\":-0.1}",
		"{\"rate_period\":0}",
		"{\"buckets\":[]}",
		"{\"buckets\":{\"a\":{\"limit\":0,\"period\":1}}}",
		"{\"buckets\":{\"a\":{\"limit\":1}}}",
		"{\"buckets\":{\"a b\":{\"limit\":1,\"period\":1}}}",
		"{\"buckets\":{\"a\":{\"limit\":1,\"period\":1,\"match\":\"sometimes\"}}}",
		"{\"buckets\":{\"a\":{\"limit\":1,\"period\":1,\"burst\":3}}}",
		"{\"no_such_fault\":1}",
		/* a good field next to a bad one: nothing applied */
		"{\"rate_limit\":5,\"latency_ms\":10,\"outage\":\"bogus\"}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cg_h_resp r;
		long st = call(&main_sim, "POST", "/_sim/faults", bad[i], &r);
		int clear = r.body && strncmp(r.body, "{\"errors\":[\"", 12) == 0 && r.body_len > 16;
		if (st != 400 || !clear)
			fprintf(stderr, "faults %s: got %ld %s, want 400 with a message\n", bad[i], st, r.body);
		assert_int_equal(st, 400);
		assert_true(clear);
		cg_h_resp_free(&r);
	}
	cJSON *after = call_json(&main_sim, "GET", "/_sim/faults", NULL, 200);
	char *a = cJSON_PrintUnformatted(before), *b = cJSON_PrintUnformatted(after);
	if (strcmp(a, b) != 0)
		fprintf(stderr, "faults after bad bodies: got %s, want %s\n", b, a);
	assert_string_equal(a, b);
	free(a);
	free(b);
	cJSON_Delete(before);
	cJSON_Delete(after);

	/* every field round-trips; rate_limit is the bucket "cases" */
	cJSON *f = call_json(&main_sim, "POST", "/_sim/faults",
			     "{\"search_lag_ms\":10,\"search_archived\":true,\"plain_errors\":true,\"strict_case_types\":true,"
			     "\"auth_fail\":0,\"outage\":\"none\",\"retry_after_s\":9,\"outage_ms\":0,\"header_drop_ratio\":0.5,"
			     "\"buckets\":{\"r\":{\"limit\":7,\"period\":3,\"match\":\"read\"}},\"rate_limit\":4,\"rate_period\":30}",
			     200);
	assert_true(jnum(f, "search_lag_ms") == 10);
	assert_true(cJSON_IsTrue(jget(f, "search_archived")));
	assert_true(cJSON_IsTrue(jget(f, "plain_errors")));
	assert_true(cJSON_IsTrue(jget(f, "strict_case_types")));
	assert_true(jnum(f, "retry_after_s") == 9);
	assert_true(jnum(f, "header_drop_ratio") == 0.5);
	assert_true(jnum(f, "buckets.r.limit") == 7);
	assert_jstr(f, "buckets.r.match", "read");
	assert_true(jnum(f, "buckets.cases.limit") == 4);
	assert_true(jnum(f, "buckets.cases.period") == 30);
	assert_jstr(f, "buckets.cases.match", "all");
	assert_true(jnum(f, "rate_limit") == 4);
	cJSON_Delete(f);
	f = call_json(&main_sim, "POST", "/_sim/faults",
		      "{\"search_lag_ms\":0,\"search_archived\":false,\"plain_errors\":false,\"strict_case_types\":false,"
		      "\"retry_after_s\":0,\"header_drop_ratio\":0,\"buckets\":{}}",
		      200);
	assert_int_equal(cJSON_GetArraySize(jget(f, "buckets")), 0);
	assert_true(jnum(f, "rate_limit") == 0);
	cJSON_Delete(f);
}

/* ---- the command line ---- */

static void test_command_line(void **state)
{
	(void)state;
	char *bin = cg_h_fmt("%s/casegate-sim", cg_h_binary_dir());
	char *dir = cg_h_tmpdir("cg-sim-cli");
	char *log = cg_h_fmt("%s/out.log", dir);
	/* --help names every option */
	{
		struct cg_h_proc p;
		char *const argv[] = {bin, "--help", NULL};
		assert_int_equal(cg_h_spawn(&p, argv, NULL, log), 0);
		int st = cg_h_stop(&p, 0);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		char *text = cg_h_read_file(log, NULL);
		static const char *const opts[] = {
			"--listen", "--control-listen", "--api-key", "--app-key", "--no-auth", "--request-log", "--seed",
			"--project", "--case-type", "--custom-attribute", "--strict-case-types", "--search-lag-ms",
			"--search-archived", "--plain-errors", "--rate-limit", "--rate-period", "--bucket",
			"--header-drop-ratio", "--error-ratio", "--drop-ratio", "--latency-ms", "--auth-fail", "--outage",
			"--retry-after-s", "--outage-ms", "--log-level", "--help"};
		for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
			if (!text || !strstr(text, opts[i]))
				fprintf(stderr, "--help: got no %s\n", opts[i]);
			assert_non_null(strstr(text, opts[i]));
		}
		free(text);
	}
	static const char *const bad[][3] = {
		{"--bucket", "reads=0/10", "LIMIT"},
		{"--bucket", "reads=5/10:sometimes", "read, write or all"},
		{"--bucket", "re ads=5/10", "bucket name"},
		{"--search-lag-ms", "-5", "--search-lag-ms"},
		{"--auth-fail", "500", "0, 401 or 403"},
		{"--outage", "sometimes", "none, 503, reset or refuse"},
		{"--retry-after-s", "x", "--retry-after-s"},
		{"--header-drop-ratio", "1.5", "--header-drop-ratio"},
		{"--case-type", "not-a-uuid", "UUID"},
		{"--case-type", TYPE_ID "=Again", "exists already"},
		{"--custom-attribute", UNKNOWN_TYPE ":k:TEXT", "does not exist"},
		{"--custom-attribute", TYPE_ID ":k:FLOAT", "URL, TEXT, NUMBER or SELECT"},
		{"--custom-attribute", TYPE_ID ":k:TEXT:many", "multi"},
		{"--custom-attribute", TYPE_ID ":k", "TYPE_UUID:key"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cg_h_proc p;
		char *const argv[] = {bin, "--listen", "127.0.0.1:0", (char *)bad[i][0], (char *)bad[i][1], NULL};
		unlink(log);
		assert_int_equal(cg_h_spawn(&p, argv, NULL, log), 0);
		int st = cg_h_stop(&p, 0);
		char *text = cg_h_read_file(log, NULL);
		int ok = WIFEXITED(st) && WEXITSTATUS(st) == 2 && text && strstr(text, bad[i][2]) &&
			 strstr(text, "casegate-sim: bad value for");
		if (!ok)
			fprintf(stderr, "%s %s: got status 0x%x, output %s; want exit 2 naming \"%s\"\n", bad[i][0],
				bad[i][1], st, text ? text : "", bad[i][2]);
		assert_true(ok);
		free(text);
	}
	/* good values reach the faults */
	struct sim s;
	const char *const args[] = {"--search-lag-ms", "1234", "--search-archived", "--plain-errors", "--strict-case-types",
				    "--auth-fail", "403", "--retry-after-s", "3", "--outage-ms", "0", "--header-drop-ratio",
				    "0.25", "--bucket", "cases_read=50/10:read", "--bucket", "cases_write=20/10:write",
				    "--rate-limit", "7", "--rate-period", "30", NULL};
	assert_int_equal(sim_start(&s, "cg-sim-cli-ok", args), 0);
	cJSON *f = call_json(&s, "GET", "/_sim/faults", NULL, 200);
	assert_true(jnum(f, "search_lag_ms") == 1234);
	assert_true(cJSON_IsTrue(jget(f, "search_archived")));
	assert_true(cJSON_IsTrue(jget(f, "plain_errors")));
	assert_true(cJSON_IsTrue(jget(f, "strict_case_types")));
	assert_true(jnum(f, "auth_fail") == 403);
	assert_true(jnum(f, "retry_after_s") == 3);
	assert_true(jnum(f, "header_drop_ratio") == 0.25);
	assert_true(jnum(f, "buckets.cases_read.limit") == 50);
	assert_jstr(f, "buckets.cases_write.match", "write");
	assert_true(jnum(f, "buckets.cases.limit") == 7);
	assert_true(jnum(f, "buckets.cases.period") == 30);
	cJSON_Delete(f);
	struct cg_h_resp r;
	assert_int_equal(call(&s, "GET", "/api/v2/cases", NULL, &r), 403);
	assert_string_equal(r.body, "{\"errors\":[\"Forbidden\"]}"); /* --plain-errors */
	cg_h_resp_free(&r);
	assert_int_equal(sim_stop(&s), 0);
	/* --outage 503 from the start */
	const char *const args2[] = {"--outage", "503", NULL};
	assert_int_equal(sim_start(&s, "cg-sim-cli-outage", args2), 0);
	assert_int_equal(call(&s, "GET", "/api/v2/cases", NULL, &r), 503);
	cg_h_resp_free(&r);
	assert_int_equal(sim_stop(&s), 0);
	cg_h_rmrf(dir);
	free(dir);
	free(log);
	free(bin);
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
		cg_h_skip(NULL, "contract validator skipped (line above)");
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
		cmocka_unit_test(test_search_lag),
		cmocka_unit_test(test_search_archived),
		cmocka_unit_test(test_content_type_and_errors),
		cmocka_unit_test(test_case_types),
		cmocka_unit_test(test_auth_fail),
		cmocka_unit_test(test_outage),
		cmocka_unit_test(test_buckets),
		cmocka_unit_test(test_person_in_ui),
		cmocka_unit_test(test_faults_endpoint),
		cmocka_unit_test(test_command_line),
		cmocka_unit_test(test_request_log_contract),
	};
	return cmocka_run_group_tests(tests, setup_main, teardown_main);
}
