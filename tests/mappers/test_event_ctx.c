/* test_event_ctx.c: the template context of an event: the referencing view (cg_event_build_ctx_view)
 * must give templates exactly what the copying cg_event_build_ctx gives, and must not free or
 * change the payload it refers to. */
/* labels: unit */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "registry.h"

/* The payload without one member, as the copying path would be handed it. */
static cJSON *without(const cJSON *payload, const char *skip)
{
	cJSON *o = cJSON_Duplicate(payload, 1);
	assert_non_null(o);
	if (skip && cJSON_IsObject(o))
		cJSON_DeleteItemFromObjectCaseSensitive(o, skip);
	return o;
}

static void fill(struct cg_event *e, int with_strings)
{
	memset(e, 0, sizeof(*e));
	e->status = CG_STATUS_RESOLVED;
	if (with_strings) {
		e->severity = strdup("critical");
		e->title = strdup("T");
		e->description = strdup("D");
		e->dedup_key = strdup("k1");
		e->starts_at = strdup("2024-05-01T10:00:00Z");
	}
	e->labels = cJSON_Parse("{\"alertname\":\"X\",\"severity\":\"critical\"}");
	e->annotations = cJSON_Parse("{\"summary\":\"s\"}");
	e->links = with_strings ? cJSON_Parse("{\"runbook\":\"https://r.example/\"}") : NULL;
}

static void same_ctx(const char *payload_json, const char *alert_path, const char *skip, int with_strings)
{
	cJSON *payload = cJSON_Parse(payload_json);
	assert_non_null(payload);
	const cJSON *alert = alert_path ? cg_json_path(payload, alert_path) : payload;
	char *before = cJSON_PrintUnformatted(payload);

	struct cg_event copy, view;
	fill(&copy, with_strings);
	fill(&view, with_strings);
	cJSON *lite = without(payload, skip);
	assert_int_equal(cg_event_build_ctx(&copy, alert, lite), 0);
	cJSON_Delete(lite); /* the copy owns everything */
	assert_int_equal(cg_event_build_ctx_view(&view, alert, payload, skip), 0);

	char *a = cJSON_PrintUnformatted(copy.ctx);
	char *b = cJSON_PrintUnformatted(view.ctx);
	if (strcmp(a, b) != 0)
		fprintf(stderr, "copy: %s\nview: %s\n", a, b);
	assert_string_equal(a, b);
	/* Same keys in the same order, so {{#.}}-style templates see the same thing too. */
	const cJSON *x = copy.ctx->child, *y = view.ctx->child;
	for (; x && y; x = x->next, y = y->next)
		assert_string_equal(x->string, y->string);
	assert_null(x);
	assert_null(y);
	cJSON_free(a);
	cJSON_free(b);

	cg_event_cleanup(&view);
	cg_event_cleanup(&copy);
	/* The view neither freed nor changed the payload. */
	char *after = cJSON_PrintUnformatted(payload);
	assert_string_equal(before, after);
	cJSON_free(before);
	cJSON_free(after);
	cJSON_Delete(payload);
}

static void test_view_equals_copy(void **state)
{
	(void)state;
	const char *am = "{\"status\":\"firing\",\"receiver\":\"r\",\"groupLabels\":{\"a\":\"b\"},"
			 "\"alerts\":[{\"status\":\"resolved\",\"labels\":{\"alertname\":\"X\"},"
			 "\"annotations\":{\"summary\":\"s\"},\"severity\":\"from-alert\",\"fingerprint\":\"f1\","
			 "\"payload\":\"shadowed\",\"links\":[1],\"extra\":{\"n\":[1,2,{\"d\":null}]}}],"
			 "\"externalURL\":\"http://am/\"}";
	/* With every normalised string set: the alert's own status/severity/payload/links are replaced. */
	same_ctx(am, "alerts.0", "alerts", 1);
	/* With NULL strings: the alert's own severity, title, ... stay as they are. */
	same_ctx(am, "alerts.0", "alerts", 0);
	/* The whole payload as the alert (generic-style mappers), nothing skipped. */
	same_ctx(am, NULL, NULL, 1);
	/* An alert without members, and a payload whose skipped key is absent. */
	same_ctx("{\"alerts\":[{}],\"x\":1}", "alerts.0", "nope", 1);
}

static void test_view_without_payload(void **state)
{
	(void)state;
	cJSON *alert = cJSON_Parse("{\"a\":1,\"status\":\"x\"}");
	struct cg_event copy, view;
	fill(&copy, 1);
	fill(&view, 1);
	assert_int_equal(cg_event_build_ctx(&copy, alert, NULL), 0);
	assert_int_equal(cg_event_build_ctx_view(&view, alert, NULL, NULL), 0);
	char *a = cJSON_PrintUnformatted(copy.ctx), *b = cJSON_PrintUnformatted(view.ctx);
	assert_string_equal(a, b);
	assert_null(cJSON_GetObjectItemCaseSensitive(view.ctx, "payload"));
	cJSON_free(a);
	cJSON_free(b);
	cg_event_cleanup(&copy);
	cg_event_cleanup(&view);
	cJSON_Delete(alert);
}

/* The Alertmanager mapper's events refer into the payload: while it lives they render; the
 * payload outlives them unchanged. */
static void test_alertmanager_ctx_refers_into_payload(void **state)
{
	(void)state;
	const char *body = "{\"version\":\"4\",\"status\":\"firing\",\"receiver\":\"r\",\"externalURL\":\"http://am/\","
			   "\"commonLabels\":{\"team\":\"t\"},\"alerts\":["
			   "{\"status\":\"firing\",\"labels\":{\"alertname\":\"A\",\"severity\":\"critical\"},"
			   "\"annotations\":{\"summary\":\"one\"},\"fingerprint\":\"f1\"},"
			   "{\"status\":\"firing\",\"labels\":{\"alertname\":\"B\"},\"annotations\":{},\"fingerprint\":\"f2\"}]}";
	cJSON *payload = cJSON_Parse(body);
	char *before = cJSON_PrintUnformatted(payload);
	struct cg_event_list out;
	cg_event_list_init(&out);
	struct cg_map_opts opts = {0};
	char err[256] = "";
	assert_int_equal(cg_mapper_find("alertmanager")->map(payload, &opts, &out, err, sizeof(err)), 0);
	assert_int_equal(out.n, 2);
	for (size_t i = 0; i < out.n; i++) {
		const cJSON *p = cJSON_GetObjectItemCaseSensitive(out.v[i].ctx, "payload");
		assert_non_null(p);
		assert_null(cJSON_GetObjectItemCaseSensitive(p, "alerts")); /* n alerts must not cost n² */
		assert_string_equal(cg_json_str(p, "commonLabels.team"), "t");
		assert_string_equal(cg_json_str(out.v[i].ctx, "fingerprint"), i ? "f2" : "f1");
	}
	cg_event_list_cleanup(&out);
	char *after = cJSON_PrintUnformatted(payload);
	assert_string_equal(before, after);
	cJSON_free(before);
	cJSON_free(after);
	cJSON_Delete(payload);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_view_equals_copy),
		cmocka_unit_test(test_view_without_payload),
		cmocka_unit_test(test_alertmanager_ctx_refers_into_payload),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
