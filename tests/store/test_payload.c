/* test_payload.c: the stored event payload codec: round trip, the older texts, what is not a payload. */
/* labels: unit */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "payload.h"

static void t_round_trip(void **state)
{
	(void)state;
	cJSON *create = cJSON_Parse("{\"data\":{\"type\":\"case\",\"attributes\":{\"title\":\"Disk\"},"
				    "\"relationships\":{\"project\":{\"data\":{\"id\":\"OPS\",\"type\":\"project\"}}}}}");
	cJSON *attrs = cJSON_Parse("{\"host\":[\"db-1\"]}");
	cJSON *ins = cJSON_Parse("[{\"type\":\"MONITOR\",\"ref\":\"/monitors/1\",\"resource_id\":\"1\"}]");
	struct cg_payload_in in = {.title = "Disk full", .summary = "90%", .create = create, .attributes = attrs,
				   .insights = ins};
	char *text = cg_payload_encode(&in);
	assert_non_null(text);
	struct cg_payload p;
	assert_int_equal(cg_payload_decode(text, &p), 0);
	assert_string_equal(p.title, "Disk full");
	assert_string_equal(p.summary, "90%");
	assert_true(cJSON_Compare(p.create, create, 1));
	assert_true(cJSON_Compare(p.attributes, attrs, 1));
	assert_true(cg_payload_has_attributes(&p));
	assert_true(cg_payload_has_insights(&p));
	assert_string_equal(cg_payload_project(&p), "OPS");
	assert_null(p.case_id);
	assert_false(p.comment_only);
	cg_payload_cleanup(&p);
	free(text);
	/* An empty insights list is left out. */
	cJSON *none = cJSON_CreateArray();
	struct cg_payload_in in2 = {.summary = "note", .comment_only = 1, .insights = none};
	text = cg_payload_encode(&in2);
	assert_int_equal(cg_payload_decode(text, &p), 0);
	assert_true(p.comment_only);
	assert_false(cg_payload_has_insights(&p));
	assert_false(cg_payload_has_attributes(&p));
	assert_null(cg_payload_project(&p));
	assert_string_equal(p.title, "");
	cg_payload_cleanup(&p);
	free(text);
	cJSON_Delete(none);
	cJSON_Delete(create);
	cJSON_Delete(attrs);
	cJSON_Delete(ins);
}

/* Texts stored by older versions (same shape, written by hand there) and the archive/sync events. */
static void t_older_and_small(void **state)
{
	(void)state;
	struct cg_payload p;
	assert_int_equal(cg_payload_decode("{\"case_id\":\"abc\"}", &p), 0);
	assert_string_equal(p.case_id, "abc");
	assert_string_equal(p.summary, "");
	cg_payload_cleanup(&p);
	assert_int_equal(cg_payload_decode("{}", &p), 0);
	assert_null(p.create);
	cg_payload_cleanup(&p);
	assert_int_equal(cg_payload_decode("{\"summary\":\"x\",\"comment_only\":true,\"insights\":{}}", &p), 0);
	assert_true(p.comment_only);
	assert_null(p.insights); /* not a list */
	cg_payload_cleanup(&p);
	assert_int_equal(cg_payload_decode("[1]", &p), CG_EINVAL);
	assert_int_equal(cg_payload_decode("not json", &p), CG_EINVAL);
	assert_int_equal(cg_payload_decode(NULL, &p), CG_EINVAL);
	cg_payload_cleanup(&p); /* harmless after a failed decode */
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(t_round_trip), cmocka_unit_test(t_older_and_small)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
