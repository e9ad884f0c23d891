/* test_projects.c: the project key map read from a GET /cases/projects listing: keys to ids, what is skipped, what is refused, keys told from UUIDs. */
/* labels: unit */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "err.h"
#include "projects.h"

/* A listing shaped as Datadog answers (the project document as recorded in
 * ../shared/contracts/datadog-recorded, Scenario_Update_a_project_returns_OK: id, type, attributes.key),
 * plus entries casegate must pass over. */
static const char listing[] =
	"{\"data\":["
	"{\"id\":\"d4bbe1af-f36e-42f1-87c1-493ca35c320e\",\"type\":\"project\","
	"\"attributes\":{\"key\":\"DDFC\",\"name\":\"Updated Project Name\"}},"
	"{\"id\":\"67d80aa3-36ff-44b9-a694-c501a7591737\",\"type\":\"project\","
	"\"attributes\":{\"key\":\"OPS\",\"name\":\"Operations\"}},"
	"{\"type\":\"project\",\"attributes\":{\"key\":\"NOID\"}},"
	"{\"id\":\"11111111-2222-3333-4444-555555555555\",\"type\":\"project\",\"attributes\":{\"name\":\"no key\"}},"
	"{\"id\":7,\"type\":\"project\",\"attributes\":{\"key\":\"NUMID\"}}"
	"],\"meta\":{\"page\":{\"total_count\":5}}}";

static void test_listing(void **state)
{
	(void)state;
	struct cg_projects p = {0};
	assert_int_equal(cg_projects_parse(&p, listing, strlen(listing)), 0);
	assert_int_equal(p.loaded, 1);
	assert_int_equal(p.n, 2);
	assert_string_equal(cg_projects_id(&p, "DDFC"), "d4bbe1af-f36e-42f1-87c1-493ca35c320e");
	assert_string_equal(cg_projects_id(&p, "OPS"), "67d80aa3-36ff-44b9-a694-c501a7591737");
	assert_null(cg_projects_id(&p, "ops")); /* keys are exact */
	assert_null(cg_projects_id(&p, "NOID"));
	assert_null(cg_projects_id(&p, "NUMID"));
	assert_null(cg_projects_id(&p, "Operations"));
	cg_projects_cleanup(&p);
	assert_int_equal(p.n, 0);
	assert_int_equal(p.loaded, 0);
}

/* A new listing replaces the map; an answer that is not a listing leaves the last good one. */
static void test_replace_and_refuse(void **state)
{
	(void)state;
	struct cg_projects p = {0};
	assert_int_equal(cg_projects_parse(&p, listing, strlen(listing)), 0);
	static const char *const bad[] = {
		"", "not json", "{}", "{\"data\":{}}", "{\"data\":null}", "[]",
		"{\"errors\":[{\"status\":\"403\",\"title\":\"Forbidden\"}]}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (cg_projects_parse(&p, bad[i], strlen(bad[i])) != CG_EINVAL)
			fail_msg("\"%s\" read as a listing", bad[i]);
		assert_int_equal(p.n, 2);
		assert_string_equal(cg_projects_id(&p, "OPS"), "67d80aa3-36ff-44b9-a694-c501a7591737");
	}
	static const char other[] =
		"{\"data\":[{\"id\":\"aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee\",\"type\":\"project\",\"attributes\":{\"key\":\"NEW\"}}]}";
	assert_int_equal(cg_projects_parse(&p, other, strlen(other)), 0);
	assert_int_equal(p.n, 1);
	assert_null(cg_projects_id(&p, "OPS"));
	assert_string_equal(cg_projects_id(&p, "NEW"), "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee");
	/* An empty listing is a listing: loaded, nothing known. */
	assert_int_equal(cg_projects_parse(&p, "{\"data\":[]}", 11), 0);
	assert_int_equal(p.loaded, 1);
	assert_int_equal(p.n, 0);
	assert_null(cg_projects_id(&p, "NEW"));
	cg_projects_cleanup(&p);
}

/* A source's `project:` is a key to look up unless it is a project UUID. */
static void test_is_key(void **state)
{
	(void)state;
	assert_true(cg_project_is_key("OPS"));
	assert_true(cg_project_is_key("DDFC"));
	assert_false(cg_project_is_key("d4bbe1af-f36e-42f1-87c1-493ca35c320e"));
	assert_false(cg_project_is_key(NULL));
	/* 36 characters, not a UUID: a key to look up, not an id to send. */
	assert_true(cg_project_is_key("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"));
	assert_true(cg_project_is_key("d4bbe1af-f36e-42f1-87c1-493ca35c320g"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_listing),
		cmocka_unit_test(test_replace_and_refuse),
		cmocka_unit_test(test_is_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
