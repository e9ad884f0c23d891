/* test_pagingapi_daemon.c: the daemon answers PagerDuty's Events API v2 and Opsgenie's Alert API with their documentation's own examples: cases opened, commented, closed, and keys refused as the real APIs refuse them. */
/* labels: integration */
#define _GNU_SOURCE /* memmem */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "itest.h"

#define PD_KEY "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
#define PD2_KEY "ffffffffffffffffffffffffffffffff"
#define OG_KEY "eb243592-faa2-4ba2-a551-1afdf565c889"
#define WAIT_MS 20000

static const char *sources = "  - name: pd\n"
			     "    type: pagerduty_events\n"
			     "    routing_key: " PD_KEY "\n"
			     /* A template that asks for the secret gets nothing. */
			     "    description: \"key={{payload.routing_key}}; {{summary}}\"\n"
			     "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
			     "    case_type: 00000000-0000-0000-0000-000000000001\n"
			     "  - name: pd2\n"
			     "    type: pagerduty_events\n"
			     "    routing_key: " PD2_KEY "\n"
			     "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
			     "    case_type: 00000000-0000-0000-0000-000000000001\n"
			     "  - name: og\n"
			     "    type: opsgenie_alerts\n"
			     "    genie_key: " OG_KEY "\n"
			     "    actions: { acknowledge_status: IN_PROGRESS }\n"
			     "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
			     "    case_type: 00000000-0000-0000-0000-000000000001\n";

struct ctx {
	struct itest t;
	int passed;
};

static int start(void **state, const char *srcs)
{
	struct ctx *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	assert_int_equal(itest_setup(&c->t, "cg-paging"), 0);
	assert_int_equal(itest_start_sim(&c->t, NULL), 0);
	assert_int_equal(itest_write_config(&c->t, NULL, srcs), 0);
	assert_int_equal(itest_start_gw(&c->t), 0);
	*state = c;
	return 0;
}

static int setup(void **state)
{
	return start(state, sources);
}

/* A PagerDuty source whose sender must be heard every second (and a second's grace). */
static int setup_heartbeat(void **state)
{
	return start(state, "  - name: pd\n"
			    "    type: pagerduty_events\n"
			    "    routing_key: " PD_KEY "\n"
			    "    heartbeat: { every: 1s, grace: 1s }\n"
			    "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
			    "    case_type: 00000000-0000-0000-0000-000000000001\n");
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	if (!c->passed) {
		cg_h_dump_log(&c->t.gw);
		cJSON *cases = itest_cases(&c->t);
		char *s = cases ? cJSON_Print(cases) : NULL;
		if (s)
			fprintf(stderr, "---- simulator cases ----\n%s\n", s);
		free(s);
		cJSON_Delete(cases);
	}
	itest_teardown(&c->t, !c->passed);
	free(c);
	return 0;
}

/* A fixture of tests/fixtures/<dir>/<name> (parsed; the caller frees). */
static cJSON *fixture(const char *dir, const char *name)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/tests/fixtures/%s/%s", cg_h_source_dir(), dir, name);
	char *text = cg_h_read_file(path, NULL);
	if (!text)
		fprintf(stderr, "cannot read %s\n", path);
	assert_non_null(text);
	cJSON *j = cJSON_Parse(text);
	free(text);
	assert_non_null(j);
	return j;
}

/* Sends body (NULL: none) to casegate's path; returns the status, *resp the body (malloc'd). */
static long send(struct ctx *c, const char *method, const char *path, const char *genie_key, const cJSON *body,
		 char **resp)
{
	char url[1024], auth[128];
	snprintf(url, sizeof(url), "%s%s", c->t.gw_url, path);
	snprintf(auth, sizeof(auth), "Authorization: GenieKey %s", genie_key ? genie_key : "");
	const char *headers[] = {"Content-Type: application/json", genie_key ? auth : NULL, NULL};
	char *text = body ? cJSON_PrintUnformatted(body) : NULL;
	struct cg_h_resp r;
	int rc = cg_h_http(method, url, headers, text, text ? strlen(text) : 0, &r);
	free(text);
	long st = rc == 0 ? r.status : 0;
	*resp = r.body;
	r.body = NULL;
	cg_h_resp_free(&r);
	return st;
}

/* A PagerDuty fixture sent with routing key rk (NULL: as the fixture has it), dedup key dk (NULL:
 * as it has it) to path; checks the status and, when want_body is given, the exact answer. */
static char *pd_send(struct ctx *c, const char *path, const char *name, const char *rk, const char *dk, long want,
		     const char *want_body)
{
	cJSON *ev = fixture("pagerduty_events", name);
	if (rk) {
		cJSON_DeleteItemFromObjectCaseSensitive(ev, "routing_key");
		cJSON_AddStringToObject(ev, "routing_key", rk);
	}
	if (dk) {
		cJSON_DeleteItemFromObjectCaseSensitive(ev, "dedup_key");
		cJSON_AddStringToObject(ev, "dedup_key", dk);
	}
	char *resp = NULL;
	long st = send(c, "POST", path, NULL, ev, &resp);
	cJSON_Delete(ev);
	if (st != want || (want_body && (!resp || strcmp(resp, want_body) != 0)))
		fprintf(stderr, "POST %s (%s): got %ld %s, want %ld %s\n", path, name, st, resp ? resp : "", want,
			want_body ? want_body : "");
	assert_int_equal(st, want);
	if (want_body)
		assert_string_equal(resp, want_body);
	return resp;
}

struct case_wait {
	struct ctx *c;
	const char *title;
	int closed;          /* also wait for it to be closed */
	const char *comment; /* also wait for a comment containing this */
};

static int case_state(void *ud)
{
	struct case_wait *w = ud;
	cJSON *cases = itest_cases(&w->c->t);
	const cJSON *k = cases ? itest_find_case(cases, w->title) : NULL;
	int ok = k && (!w->closed || itest_case_closed(k)) && (!w->comment || itest_case_has_comment(k, w->comment));
	cJSON_Delete(cases);
	return ok;
}

static void wait_case(struct ctx *c, const char *title, int closed, const char *comment)
{
	struct case_wait w = {c, title, closed, comment};
	if (!cg_h_poll(case_state, &w, WAIT_MS)) {
		fprintf(stderr, "got no case titled ...%s...%s%s%s in time\n", title, closed ? " (closed)" : "",
			comment ? " with a comment containing " : "", comment ? comment : "");
		fail();
	}
}

/* An attribute of the case titled ...title... as the simulator has it (status: OPEN, IN_PROGRESS,
 * CLOSED; priority: P1..P5). */
static void expect_attr(struct ctx *c, const char *title, const char *name, const char *want)
{
	cJSON *cases = itest_cases(&c->t);
	const char *got = itest_case_attr(itest_find_case(cases, title), name);
	if (!got || strcmp(got, want) != 0)
		fprintf(stderr, "case %s: got %s %s, want %s\n", title, name, got ? got : "(none)", want);
	assert_non_null(got);
	assert_string_equal(got, want);
	cJSON_Delete(cases);
}

struct status_wait {
	struct ctx *c;
	const char *title, *want;
};

static int status_is(void *ud)
{
	struct status_wait *w = ud;
	cJSON *cases = itest_cases(&w->c->t);
	const char *got = itest_case_attr(itest_find_case(cases, w->title), "status");
	int ok = got && strcmp(got, w->want) == 0;
	cJSON_Delete(cases);
	return ok;
}


/* PagerDuty's documented trigger, acknowledge and resolve on one case; a trigger without dedup_key
 * gets one back that resolves it; a change event makes no case; keys are refused in PagerDuty's words. */
static void test_pagerduty_documented_examples(void **state)
{
	struct ctx *c = *state;
	free(pd_send(c, "/v2/enqueue", "docs_trigger.json", PD_KEY, NULL, 202,
		     "{\"status\":\"success\",\"message\":\"Event processed\",\"dedup_key\":\"samplekeyhere\"}"));
	wait_case(c, "Example alert on host1.example.com", 0, NULL);
	expect_attr(c, "Example alert on host1.example.com", "priority", "P4"); /* severity info */
	/* The documented acknowledge and resolve, for the dedup key the trigger used. */
	free(pd_send(c, "/v2/enqueue", "docs_acknowledge.json", PD_KEY, "samplekeyhere", 202,
		     "{\"status\":\"success\",\"message\":\"Event processed\",\"dedup_key\":\"samplekeyhere\"}"));
	wait_case(c, "Example alert on host1.example.com", 0, "Acknowledged");
	expect_attr(c, "Example alert on host1.example.com", "status", "OPEN"); /* no acknowledge_status: a comment only */
	free(pd_send(c, "/hooks/pd/v2/enqueue", "docs_resolve.json", PD_KEY, "samplekeyhere", 202, NULL));
	wait_case(c, "Example alert on host1.example.com", 1, NULL);

	/* No dedup_key: casegate makes one, hands it back, and it resolves the same case. */
	char *resp = pd_send(c, "/v2/enqueue", "trigger_without_dedup_key.json", PD_KEY, NULL, 202, NULL);
	cJSON *a = cJSON_Parse(resp);
	const cJSON *dk = cJSON_GetObjectItemCaseSensitive(a, "dedup_key");
	assert_true(cJSON_IsString(dk) && dk->valuestring[0]);
	wait_case(c, "CPU high on web-1", 0, NULL);
	free(pd_send(c, "/v2/enqueue", "docs_resolve.json", PD_KEY, dk->valuestring, 202, NULL));
	wait_case(c, "CPU high on web-1", 1, NULL);
	cJSON_Delete(a);
	free(resp);

	/* A change event is answered as PagerDuty does and makes no case. */
	free(pd_send(c, "/v2/change/enqueue", "docs_change_event.json", PD_KEY, NULL, 202,
		     "{\"status\":\"success\",\"message\":\"Change event processed\"}"));

	/* Keys: the documentation's own placeholder (13 characters), a well-formed key no source has,
	 * another source's key on a named route. */
	free(pd_send(c, "/v2/enqueue", "docs_trigger.json", NULL, NULL, 400,
		     "{\"status\":\"invalid event\",\"message\":\"Event object is invalid\",\"errors\":[\"Length of "
		     "'routing_key' is incorrect (should be 32 characters)\"]}"));
	free(pd_send(c, "/v2/enqueue", "docs_trigger.json", "0a1b2c3d4e5f60718293a4b5c6d7e8f-", NULL, 400,
		     "{\"status\":\"invalid event\",\"message\":\"Event object is invalid\",\"errors\":[\"'routing_key' "
		     "cannot contain non-alphanumeric characters.\"]}"));
	const char *invalid = "{\"status\":\"invalid event\",\"message\":\"Event object is invalid\",\"errors\":[\"Invalid "
			      "routing key\"]}";
	free(pd_send(c, "/v2/enqueue", "docs_trigger.json", "0a1b2c3d4e5f60718293a4b5c6d7e8f8", NULL, 400, invalid));
	free(pd_send(c, "/hooks/pd/v2/enqueue", "docs_trigger.json", PD2_KEY, NULL, 400, invalid));
	free(pd_send(c, "/v2/enqueue", "docs_change_event.json", "0a1b2c3d4e5f60718293a4b5c6d7e8f8", NULL, 400, invalid));
	/* An invalid event, in PagerDuty's shape (400: its senders do not retry). */
	free(pd_send(c, "/v2/enqueue", "bad_acknowledge_without_dedup_key.json", PD_KEY, NULL, 400,
		     "{\"status\":\"invalid event\",\"message\":\"Event object is invalid\",\"errors\":[\"'dedup_key' is "
		     "missing or blank\"]}"));
	/* A paging source is not a plain hook. */
	assert_int_equal(itest_post(&c->t, "pd", PD_KEY, "{\"title\":\"x\"}", NULL), 401);

	assert_int_equal(itest_ncases(&c->t), 2); /* the change event and the refusals made none */
	/* The routing key is a secret: no template sees it, so it never reaches the store or Datadog. */
	cJSON *cases = itest_cases(&c->t);
	const char *desc = itest_case_attr(itest_find_case(cases, "Example alert on host1.example.com"), "description");
	assert_non_null(desc);
	if (!strstr(desc, "key=; Example alert"))
		fprintf(stderr, "got description %s, want \"key=; Example alert...\"\n", desc);
	assert_non_null(strstr(desc, "key=; Example alert"));
	cJSON_Delete(cases);
	for (int i = 0; i < 2; i++) {
		char path[600];
		snprintf(path, sizeof(path), "%s/state/casegate.db%s", c->t.dir, i ? "-wal" : "");
		size_t len = 0;
		char *db = cg_h_read_file(path, &len);
		assert_true(i == 1 || db); /* the WAL may be checkpointed away */
		if (db && memmem(db, len, PD_KEY, strlen(PD_KEY)))
			fprintf(stderr, "got the routing key in %s, want it never stored\n", path);
		assert_false(db && memmem(db, len, PD_KEY, strlen(PD_KEY)));
		free(db);
	}
	assert_true(itest_metric(&c->t, "casegate_auth_failures_total", NULL) >= 5);
	c->passed = 1;
}

/* The request of an Opsgenie fixture (an envelope {action, identifier, identifierType, request}). */
static cJSON *og_request(const char *name)
{
	cJSON *env = fixture("opsgenie_alerts", name);
	cJSON *req = cJSON_DetachItemFromObjectCaseSensitive(env, "request");
	cJSON_Delete(env);
	assert_non_null(req);
	return req;
}

static long og_send(struct ctx *c, const char *method, const char *path, const char *key, const char *name,
		    char **resp)
{
	cJSON *req = name ? og_request(name) : NULL;
	long st = send(c, method, path, key, req, resp);
	cJSON_Delete(req);
	return st;
}

/* The 202 of the Opsgenie Alert API: result, took, requestId. */
static void expect_og_accepted(long st, const char *resp)
{
	if (st != 202)
		fprintf(stderr, "got %ld %s, want 202\n", st, resp ? resp : "");
	assert_int_equal(st, 202);
	cJSON *a = cJSON_Parse(resp);
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(a, "result");
	const cJSON *rid = cJSON_GetObjectItemCaseSensitive(a, "requestId");
	assert_true(cJSON_IsString(r));
	assert_string_equal(r->valuestring, "Request will be processed");
	assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(a, "took")));
	assert_true(cJSON_IsString(rid) && strlen(rid->valuestring) == 36);
	cJSON_Delete(a);
}

/* Opsgenie's documented create, acknowledge, add note and close on one alert (by its alias); keys
 * and bad bodies refused in Opsgenie's words. */
static void test_opsgenie_documented_examples(void **state)
{
	struct ctx *c = *state;
	char *resp = NULL;
	long st = og_send(c, "POST", "/v2/alerts", OG_KEY, "docs_create.json", &resp);
	expect_og_accepted(st, resp);
	free(resp);
	wait_case(c, "An example alert message", 0, NULL);
	expect_attr(c, "An example alert message", "priority", "P1");

	const char *alias = "/v2/alerts/Life%20is%20too%20short%20for%20no%20alias";
	char path[256];
	snprintf(path, sizeof(path), "%s/acknowledge?identifierType=alias", alias);
	st = og_send(c, "POST", path, OG_KEY, "docs_acknowledge.json", &resp);
	expect_og_accepted(st, resp);
	free(resp);
	wait_case(c, "An example alert message", 0, "Acknowledged");
	/* actions.acknowledge_status: the acknowledgement moves the case along too. */
	struct status_wait sw = {c, "An example alert message", "IN_PROGRESS"};
	if (!cg_h_poll(status_is, &sw, WAIT_MS))
		expect_attr(c, "An example alert message", "status", "IN_PROGRESS");
	snprintf(path, sizeof(path), "/hooks/og%s/notes?identifierType=alias", alias);
	st = og_send(c, "POST", path, OG_KEY, "docs_add_note.json", &resp);
	expect_og_accepted(st, resp);
	free(resp);
	snprintf(path, sizeof(path), "%s/close?identifierType=alias", alias);
	st = og_send(c, "POST", path, OG_KEY, "docs_close.json", &resp);
	expect_og_accepted(st, resp);
	free(resp);
	wait_case(c, "An example alert message", 1, NULL);

	/* Keys: none, the wrong shape, a UUID no source has (Opsgenie's answers). */
	st = og_send(c, "POST", "/v2/alerts", NULL, "docs_create.json", &resp);
	assert_int_equal(st, 422);
	assert_non_null(strstr(resp, "\"message\":\"Key format is not valid!\""));
	free(resp);
	st = og_send(c, "POST", "/v2/alerts", "not-a-key", "docs_create.json", &resp);
	assert_int_equal(st, 422);
	assert_non_null(strstr(resp, "\"message\":\"Key format is not valid!\""));
	free(resp);
	st = og_send(c, "POST", "/v2/alerts", "eb243592-faa2-4ba2-a551-1afdf565c880", "docs_create.json", &resp);
	assert_int_equal(st, 401);
	assert_non_null(strstr(resp, "\"message\":\"Could not authenticate\""));
	free(resp);
	/* A create without message: 422 and Opsgenie's errors object naming the field. */
	st = og_send(c, "POST", "/v2/alerts", OG_KEY, "bad_create_no_message.json", &resp);
	assert_int_equal(st, 422);
	cJSON *a = cJSON_Parse(resp);
	const cJSON *errs = cJSON_GetObjectItemCaseSensitive(a, "errors");
	if (!cJSON_IsObject(errs) || !cJSON_GetObjectItemCaseSensitive(errs, "message"))
		fprintf(stderr, "got %s, want errors: {\"message\": ...}\n", resp);
	assert_true(cJSON_IsObject(errs));
	assert_non_null(cJSON_GetObjectItemCaseSensitive(errs, "message"));
	cJSON_Delete(a);
	free(resp);
	assert_int_equal(itest_ncases(&c->t), 1);
	c->passed = 1;
}

/* A paging source's heartbeat: its silence opens the "went silent" case (which points at the paging
 * routes, not /hooks/), and an event through /v2/enqueue closes it. */
static void test_paging_source_heartbeat(void **state)
{
	struct ctx *c = *state;
	wait_case(c, "source 'pd' went silent", 0, NULL);
	cJSON *cases = itest_cases(&c->t);
	const char *desc = itest_case_attr(itest_find_case(cases, "source 'pd' went silent"), "description");
	assert_non_null(desc);
	if (!strstr(desc, "`/v2/enqueue` or `/v2/alerts`") || strstr(desc, "/hooks/pd"))
		fprintf(stderr, "got description %s, want the paging routes named, not /hooks/pd\n", desc);
	assert_non_null(strstr(desc, "`/v2/enqueue` or `/v2/alerts`"));
	assert_null(strstr(desc, "/hooks/pd"));
	cJSON_Delete(cases);
	free(pd_send(c, "/v2/enqueue", "docs_trigger.json", PD_KEY, NULL, 202, NULL));
	wait_case(c, "source 'pd' went silent", 1, NULL);
	wait_case(c, "Example alert on host1.example.com", 0, NULL);
	c->passed = 1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_pagerduty_documented_examples, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_opsgenie_documented_examples, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_paging_source_heartbeat, setup_heartbeat, teardown),
	};
	return cg_h_run_group(tests, NULL, NULL);
}
