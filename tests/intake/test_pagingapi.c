/* test_pagingapi.c: the paging APIs' routes, key shapes, key-selected sources, the mappers' envelope and answers in each API's dialect. */
/* labels: unit */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pagingapi.h"

static void test_routes(void **state)
{
	(void)state;
	struct cg_paging_route r;
	assert_int_equal(cg_paging_route("POST", "/v2/enqueue", NULL, &r), 1);
	assert_int_equal(r.api, CG_PAGING_PD);
	assert_int_equal(r.status, 0);
	assert_null(r.source);
	assert_int_equal(cg_paging_route("POST", "/hooks/pd-prod/v2/enqueue", NULL, &r), 1);
	assert_int_equal(r.api, CG_PAGING_PD);
	assert_int_equal(r.source_len, 7);
	assert_memory_equal(r.source, "pd-prod", 7);
	assert_int_equal(cg_paging_route("POST", "/v2/change/enqueue", NULL, &r), 1);
	assert_int_equal(r.api, CG_PAGING_PD_CHANGE);
	assert_int_equal(cg_paging_route("GET", "/v2/enqueue", NULL, &r), 1);
	assert_int_equal(r.status, 405);
	/* Opsgenie: create, and the actions on one alert (percent-decoded identifier). */
	assert_int_equal(cg_paging_route("POST", "/v2/alerts", NULL, &r), 1);
	assert_int_equal(r.api, CG_PAGING_OG);
	assert_string_equal(r.action, "create");
	assert_int_equal(cg_paging_route("POST", "/hooks/og/v2/alerts/Life%20is%20short/close", NULL, &r), 1);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.action, "close");
	assert_string_equal(r.identifier, "Life is short");
	assert_string_equal(r.id_type, "id"); /* Opsgenie's default */
	assert_int_equal(cg_paging_route("POST", "/v2/alerts/abc/notes", NULL, &r), 1);
	assert_string_equal(r.action, "note");
	assert_int_equal(cg_paging_route("PUT", "/v2/alerts/abc/message", NULL, &r), 1);
	assert_string_equal(r.action, "message");
	assert_int_equal(cg_paging_route("DELETE", "/v2/alerts/abc", NULL, &r), 1);
	assert_string_equal(r.action, "delete");
	assert_int_equal(cg_paging_route("POST", "/v2/alerts/abc/reboot", NULL, &r), 1);
	assert_int_equal(r.status, 404);
	assert_int_equal(cg_paging_route("POST", "/v2/alerts/a%0ab/close", NULL, &r), 1);
	assert_int_equal(r.status, 404); /* a control byte in the identifier */
	assert_int_equal(cg_paging_route("POST", "/v2/alerts/ab%2/close", NULL, &r), 1);
	assert_int_equal(r.status, 404);
	assert_int_equal(cg_paging_route("POST", "/v2/incidents", NULL, &r), 1);
	assert_int_equal(r.status, 404);
	/* Not the APIs' paths: left to the hooks. */
	assert_int_equal(cg_paging_route("POST", "/hooks/am", NULL, &r), 0);
	assert_int_equal(cg_paging_route("POST", "/hooks/am/token", NULL, &r), 0);
	assert_int_equal(cg_paging_route("POST", "/hooks//v2/enqueue", NULL, &r), 0);
	assert_int_equal(cg_paging_route("GET", "/metrics", NULL, &r), 0);
}

static void test_identifier_type(void **state)
{
	(void)state;
	struct cg_paging_route r;
	struct cg_http_request req = {.method = "POST", .path = "/v2/alerts/x/close", .query = "identifierType=alias"};
	assert_int_equal(cg_paging_route(req.method, req.path, &req, &r), 1);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.id_type, "alias");
	req.query = "identifierType=tiny";
	assert_int_equal(cg_paging_route(req.method, req.path, &req, &r), 1);
	assert_string_equal(r.id_type, "tiny");
	req.query = "identifierType=name";
	assert_int_equal(cg_paging_route(req.method, req.path, &req, &r), 1);
	assert_int_equal(r.status, 422);
}

static void test_key_shapes(void **state)
{
	(void)state;
	assert_int_equal(cg_paging_key_shape_pd("0123456789abcdefABCDEF0123456789"), 0);
	assert_int_equal(cg_paging_key_shape_pd("samplekeyhere"), CG_PAGING_KEY_LENGTH);
	assert_int_equal(cg_paging_key_shape_pd("0123456789abcdefABCDEF012345678-"), CG_PAGING_KEY_CHARS);
	assert_int_equal(cg_paging_key_shape_pd("a-b"), CG_PAGING_KEY_LENGTH | CG_PAGING_KEY_CHARS);
	assert_int_equal(cg_paging_key_shape_pd(""), CG_PAGING_KEY_LENGTH);
	assert_int_equal(cg_paging_key_shape_og("eb243592-faa2-4ba2-a551-1afdf565c889"), 0);
	assert_int_equal(cg_paging_key_shape_og("eb243592faa24ba2a5511afdf565c889"), -1);
	assert_int_equal(cg_paging_key_shape_og("eb243592-faa2-4ba2-a551-1afdf565c88g"), -1);
	size_t n = 0;
	const char *k = cg_paging_genie_key("GenieKey  eb243592-faa2 \t", &n);
	assert_non_null(k);
	assert_int_equal(n, 13);
	assert_memory_equal(k, "eb243592-faa2", 13);
	assert_null(cg_paging_genie_key("Bearer x", &n));
	assert_null(cg_paging_genie_key("GenieKey ", &n));
	assert_null(cg_paging_genie_key("GenieKeyx", &n));
	assert_null(cg_paging_genie_key(NULL, &n));
}

static void test_source_for_key(void **state)
{
	(void)state;
	struct cg_source_config s[4] = {
	    {.name = "am", .type = "alertmanager"},
	    {.name = "pd-a", .type = "pagerduty_events", .routing_key = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
	    {.name = "pd-b", .type = "pagerduty_events", .routing_key = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"},
	    {.name = "og", .type = "opsgenie_alerts", .genie_key = "eb243592-faa2-4ba2-a551-1afdf565c889"},
	};
	struct cg_config cfg = {.sources = s, .nsources = 4};
	size_t idx = 99;
	const char *kb = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
	assert_ptr_equal(cg_paging_source_for_key(&cfg, CG_PAGING_PD, NULL, 0, kb, 32, &idx), &s[2]);
	assert_int_equal(idx, 2);
	assert_ptr_equal(cg_paging_source_for_key(&cfg, CG_PAGING_PD_CHANGE, NULL, 0, kb, 32, &idx), &s[2]);
	/* A named route takes only that source's key. */
	assert_ptr_equal(cg_paging_source_for_key(&cfg, CG_PAGING_PD, "pd-b", 4, kb, 32, &idx), &s[2]);
	assert_null(cg_paging_source_for_key(&cfg, CG_PAGING_PD, "pd-a", 4, kb, 32, &idx));
	assert_null(cg_paging_source_for_key(&cfg, CG_PAGING_PD, NULL, 0, kb, 31, &idx));
	/* A GenieKey is not a routing key, and the other way round. */
	const char *og = "eb243592-faa2-4ba2-a551-1afdf565c889";
	assert_null(cg_paging_source_for_key(&cfg, CG_PAGING_PD, NULL, 0, og, strlen(og), &idx));
	assert_ptr_equal(cg_paging_source_for_key(&cfg, CG_PAGING_OG, NULL, 0, og, strlen(og), &idx), &s[3]);
	assert_null(cg_paging_source_for_key(&cfg, CG_PAGING_OG, NULL, 0, kb, 32, &idx));
}

static void test_envelope(void **state)
{
	(void)state;
	struct cg_paging_route r;
	/* PagerDuty: the routing key never reaches the mapper (nor the store). */
	assert_int_equal(cg_paging_route("POST", "/v2/enqueue", NULL, &r), 1);
	cJSON *pd = cJSON_Parse("{\"routing_key\":\"k\",\"event_action\":\"trigger\"}");
	cJSON *env = cg_paging_envelope(&r, pd);
	assert_ptr_equal(env, pd);
	assert_null(cJSON_GetObjectItemCaseSensitive(env, "routing_key"));
	assert_non_null(cJSON_GetObjectItemCaseSensitive(env, "event_action"));
	cJSON_Delete(env);
	/* Opsgenie: action and identifier from the path around the body. */
	struct cg_http_request req = {.method = "POST", .path = "/v2/alerts/web-1/acknowledge", .query = "identifierType=alias"};
	assert_int_equal(cg_paging_route(req.method, req.path, &req, &r), 1);
	env = cg_paging_envelope(&r, cJSON_Parse("{\"user\":\"ana\",\"note\":\"on it\"}"));
	char *text = cJSON_PrintUnformatted(env);
	assert_string_equal(text, "{\"action\":\"acknowledge\",\"identifier\":\"web-1\",\"identifierType\":\"alias\","
				  "\"request\":{\"user\":\"ana\",\"note\":\"on it\"}}");
	free(text);
	cJSON_Delete(env);
	assert_int_equal(cg_paging_route("POST", "/v2/alerts", NULL, &r), 1);
	env = cg_paging_envelope(&r, NULL);
	text = cJSON_PrintUnformatted(env);
	assert_string_equal(text, "{\"action\":\"create\",\"request\":{}}");
	free(text);
	cJSON_Delete(env);
}

/* Runs a reshaper on casegate's answer; returns the new body (malloc'd) and sets *st. */
static char *shape(void (*fn)(const struct cg_http_request *, int *, const char *, size_t, char **, size_t *),
		   const char *path, int *st, const char *ours)
{
	struct cg_http_request req = {.method = "POST", .path = path, .query = ""};
	char *out = NULL;
	size_t len = 0;
	fn(&req, st, ours, strlen(ours), &out, &len);
	assert_non_null(out);
	assert_int_equal(strlen(out), len);
	return out;
}

static void test_answers_pd(void **state)
{
	(void)state;
	int st = 202;
	char *b = shape(cg_paging_reshape_pd, "/v2/enqueue", &st,
			"{\"events\":[{\"dedup_key\":\"pd:x\",\"sender_key\":\"srv01/HTTP\"}],\"accepted\":1}");
	assert_int_equal(st, 202);
	assert_string_equal(b, "{\"status\":\"success\",\"message\":\"Event processed\",\"dedup_key\":\"srv01/HTTP\"}");
	free(b);
	st = 202;
	b = shape(cg_paging_reshape_pd, "/v2/change/enqueue", &st, "{\"status\":\"ignored\"}");
	assert_string_equal(b, "{\"status\":\"success\",\"message\":\"Change event processed\"}");
	free(b);
	st = 422;
	b = shape(cg_paging_reshape_pd, "/v2/enqueue", &st, "{\"errors\":[\"'dedup_key' is missing or blank\"]}");
	assert_int_equal(st, 400); /* PagerDuty's senders do not retry a 400 */
	assert_string_equal(b, "{\"status\":\"invalid event\",\"message\":\"Event object is invalid\","
			       "\"errors\":[\"'dedup_key' is missing or blank\"]}");
	free(b);
	st = 503;
	b = shape(cg_paging_reshape_pd, "/v2/enqueue", &st, "{\"errors\":[\"store full: retry later\"]}");
	assert_int_equal(st, 503); /* retried */
	assert_non_null(strstr(b, "\"errors\":[\"store full: retry later\"]"));
	free(b);
	st = 429;
	b = shape(cg_paging_reshape_pd, "/v2/enqueue", &st, "{\"errors\":[\"rate limited\"]}");
	assert_int_equal(st, 429);
	assert_non_null(strstr(b, "\"status\":\"throttle event\""));
	free(b);
}

static void test_answers_og(void **state)
{
	(void)state;
	int st = 202;
	char *b = shape(cg_paging_reshape_og, "/v2/alerts", &st, "{\"events\":[],\"accepted\":1}");
	assert_int_equal(st, 202);
	cJSON *o = cJSON_Parse(b);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "result")->valuestring, "Request will be processed");
	assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(o, "took")));
	const char *rid = cJSON_GetObjectItemCaseSensitive(o, "requestId")->valuestring;
	assert_int_equal(strlen(rid), 36);
	assert_int_equal(rid[14], '4'); /* a version 4 UUID */
	cJSON_Delete(o);
	free(b);
	/* Validation: Opsgenie's errors name the field. */
	st = 422;
	b = shape(cg_paging_reshape_og, "/v2/alerts", &st, "{\"errors\":[\"message: Message can not be empty.\"]}");
	assert_int_equal(st, 422);
	o = cJSON_Parse(b);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "message")->valuestring,
			    "Request body is not processable. Please check the errors.");
	const cJSON *errs = cJSON_GetObjectItemCaseSensitive(o, "errors");
	assert_true(cJSON_IsObject(errs));
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(errs, "message")->valuestring, "Message can not be empty.");
	cJSON_Delete(o);
	free(b);
	st = 422;
	b = shape(cg_paging_reshape_og, "/v2/alerts", &st, "{\"errors\":[\"" CG_PAGING_OG_BAD_KEY "\"]}");
	assert_int_equal(st, 422);
	assert_non_null(strstr(b, "{\"message\":\"Key format is not valid!\",\"took\":"));
	free(b);
	st = 401;
	b = shape(cg_paging_reshape_og, "/v2/alerts", &st, "{\"errors\":[\"unauthorized\"]}");
	assert_int_equal(st, 401);
	assert_non_null(strstr(b, "{\"message\":\"Could not authenticate\",\"took\":"));
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_routes),	    cmocka_unit_test(test_identifier_type),
	    cmocka_unit_test(test_key_shapes),	    cmocka_unit_test(test_source_for_key),
	    cmocka_unit_test(test_envelope),	    cmocka_unit_test(test_answers_pd),
	    cmocka_unit_test(test_answers_og),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
