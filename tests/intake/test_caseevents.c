/* test_caseevents.c: which sources are case-event sources, and which case a Datadog notification names (the order of fields, what looks like a case id or key). */
/* labels: unit */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "caseevents.h"
#include "config.h"

static void test_is(void **state)
{
	(void)state;
	struct cg_source_config src;
	memset(&src, 0, sizeof(src));
	assert_false(cg_caseevents_is(NULL));
	assert_false(cg_caseevents_is(&src));
	src.type = "generic";
	assert_false(cg_caseevents_is(&src));
	src.type = "datadog_case_events";
	assert_true(cg_caseevents_is(&src));
	src.type = "datadog";
	assert_false(cg_caseevents_is(&src));
}

static const char *ref(const char *json)
{
	static char buf[256];
	cJSON *doc = cJSON_Parse(json);
	assert_non_null(doc);
	const char *r = cg_caseevents_ref(doc);
	snprintf(buf, sizeof(buf), "%s", r ? r : "");
	cJSON_Delete(doc);
	return r ? buf : NULL;
}

static void test_ref(void **state)
{
	(void)state;
	/* The README's fields, in its order: the first that looks like a case wins. */
	assert_string_equal(ref("{\"case_id\":\"0b7b41d6-5c5b-4b7c-9d1f-1c2d3e4f5a6b\",\"key\":\"OPS-1\"}"),
			    "0b7b41d6-5c5b-4b7c-9d1f-1c2d3e4f5a6b");
	assert_string_equal(ref("{\"key\":\"OPS-9\",\"case_key\":\"OPS-12\"}"), "OPS-12");
	assert_string_equal(ref("{\"case\":{\"key\":\"OPS-3\"},\"id\":\"x\"}"), "OPS-3");
	assert_string_equal(ref("{\"case\":{\"id\":\"abc_1\",\"key\":\"OPS-3\"}}"), "abc_1");
	assert_string_equal(ref("{\"data\":{\"id\":\"d1\",\"attributes\":{\"key\":\"OPS-4\"}}}"), "d1");
	assert_string_equal(ref("{\"data\":{\"attributes\":{\"key\":\"OPS-4\"}}}"), "OPS-4");
	assert_string_equal(ref("{\"id\":\"OPS-5\"}"), "OPS-5");
	/* What does not look like a case id or key is passed over, not used. */
	assert_string_equal(ref("{\"case_id\":\"OPS 1; DROP\",\"key\":\"OPS-6\"}"), "OPS-6");
	assert_string_equal(ref("{\"case_id\":\"\",\"key\":\"OPS-7\"}"), "OPS-7");
	assert_string_equal(ref("{\"case_id\":\"../../x\",\"id\":\"OPS-8\"}"), "OPS-8");
	char a101[102], doc[256];
	memset(a101, 'a', 101);
	a101[101] = '\0';
	snprintf(doc, sizeof(doc), "{\"case_id\":\"%s\"}", a101);
	assert_null(ref(doc)); /* 101 characters: too long for a case reference */
	snprintf(doc, sizeof(doc), "{\"case_id\":\"%.100s\"}", a101);
	assert_non_null(ref(doc)); /* 100 is the most */
	assert_null(ref("{\"case_id\":42}"));
	assert_null(ref("{\"title\":\"OPS-1 closed\"}"));
	assert_null(ref("[\"OPS-1\"]"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_is),
		cmocka_unit_test(test_ref),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
