/* test_catypes.c: a case type's custom attribute definitions (a recorded-shape listing) held against the config, and the create-request surgery that moves what a type refuses into the description. */
/* labels: unit */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "catypes.h"
#include "config.h"
#include "err.h"

#define TYPE_ID "d6472e40-180e-4f7f-bdc0-9c8a749da7ee"

/* GET /api/v2/cases/types/{id}/custom_attributes, each item shaped as Datadog answered the
 * recorded creates (../shared/contracts/datadog-recorded, Feature_Case_Management_Attribute). */
static const char listing[] =
	"{\"data\":["
	"{\"id\":\"d57aff81-87df-478e-af85-9553e0a5d221\",\"type\":\"custom_attribute\",\"attributes\":{"
	"\"case_type\":\"TUNKNOWN\",\"case_type_id\":\"" TYPE_ID "\",\"display_name\":\"AWS Region\","
	"\"is_multi\":true,\"key\":\"region\",\"type\":\"NUMBER\"}},"
	"{\"id\":\"e57aff81-87df-478e-af85-9553e0a5d222\",\"type\":\"custom_attribute\",\"attributes\":{"
	"\"case_type_id\":\"" TYPE_ID "\",\"display_name\":\"Runbook\",\"is_multi\":false,\"key\":\"runbook\",\"type\":\"URL\"}},"
	"{\"id\":\"f57aff81-87df-478e-af85-9553e0a5d223\",\"type\":\"custom_attribute\",\"attributes\":{"
	"\"case_type_id\":\"" TYPE_ID "\",\"display_name\":\"Marker\",\"is_multi\":false,\"key\":\"casegate_marker\",\"type\":\"TEXT\"}},"
	"{\"id\":\"a57aff81-87df-478e-af85-9553e0a5d224\",\"type\":\"custom_attribute\",\"attributes\":{"
	"\"case_type_id\":\"" TYPE_ID "\",\"display_name\":\"Teams\",\"is_multi\":true,\"key\":\"teams\",\"type\":\"TEXT\"}}"
	"]}";

static struct cg_catype *known_type(struct cg_catypes *all)
{
	struct cg_catype *t = cg_catypes_get(all, TYPE_ID, 1);
	assert_non_null(t);
	assert_false(t->known);
	assert_int_equal(cg_catype_set(t, listing, strlen(listing)), 0);
	assert_true(t->known);
	assert_int_equal(t->n, 4);
	return t;
}

static void test_table(void **state)
{
	(void)state;
	struct cg_catypes all = {0};
	assert_null(cg_catypes_get(&all, TYPE_ID, 0));
	struct cg_catype *t = known_type(&all);
	assert_ptr_equal(cg_catypes_get(&all, TYPE_ID, 0), t);
	assert_ptr_equal(cg_catypes_get(&all, TYPE_ID, 1), t); /* no second entry */
	assert_int_equal(all.n, 1);
	char longid[80];
	memset(longid, 'a', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	assert_null(cg_catypes_get(&all, longid, 1)); /* longer than any id: not kept */
	assert_null(cg_catypes_get(&all, NULL, 1));
	/* A refused listing keeps what was known. */
	assert_int_equal(cg_catype_set(t, "{\"errors\":[\"Forbidden\"]}", 24), CG_EINVAL);
	t = cg_catypes_get(&all, TYPE_ID, 0);
	assert_true(t->known);
	assert_int_equal(t->n, 4);
	cg_catypes_cleanup(&all);
	assert_int_equal(all.n, 0);
}

static void test_mismatch(void **state)
{
	(void)state;
	struct cg_catypes all = {0};
	struct cg_catype *t = known_type(&all);
	char buf[200];
	struct cg_ca_spec ok = {.key = "runbook", .type = CG_CA_URL, .is_multi = 0};
	assert_null(cg_catype_mismatch(t, &ok, buf, sizeof(buf)));
	struct cg_ca_spec missing = {.key = "service", .type = CG_CA_TEXT};
	assert_string_equal(cg_catype_mismatch(t, &missing, buf, sizeof(buf)), "not defined on case type " TYPE_ID);
	struct cg_ca_spec type = {.key = "region", .type = CG_CA_TEXT, .is_multi = 1};
	assert_string_equal(cg_catype_mismatch(t, &type, buf, sizeof(buf)),
			    "defined as NUMBER on case type " TYPE_ID ", configured as TEXT");
	struct cg_ca_spec multi = {.key = "region", .type = CG_CA_NUMBER, .is_multi = 0};
	assert_string_equal(cg_catype_mismatch(t, &multi, buf, sizeof(buf)),
			    "defined with is_multi: true on case type " TYPE_ID ", configured false");
	/* A type not (yet) known refuses nothing: values are sent as configured. */
	struct cg_catype unknown = {.id = "x"};
	assert_null(cg_catype_mismatch(&unknown, &missing, buf, sizeof(buf)));
	assert_null(cg_catype_mismatch(NULL, &missing, buf, sizeof(buf)));

	assert_true(cg_catype_has_text(t, "casegate_marker"));
	assert_false(cg_catype_has_text(t, "teams"));   /* TEXT, but a list */
	assert_false(cg_catype_has_text(t, "runbook")); /* a URL */
	assert_false(cg_catype_has_text(t, "nope"));
	assert_false(cg_catype_has_text(&unknown, "casegate_marker"));
	cg_catypes_cleanup(&all);
}

/* One warning line per configured attribute the known type refuses, with the config position. */
static void test_report(void **state)
{
	(void)state;
	static const char yaml[] = "listen: 127.0.0.1:0\n"
				   "sources:\n"
				   "  - name: demo\n"
				   "    type: generic\n"
				   "    auth: none\n"
				   "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
				   "    case_type: " TYPE_ID "\n"
				   "    custom_attributes:\n"
				   "      runbook: { type: URL, value: \"https://runbooks/{{title}}\" }\n"
				   "      service: { type: TEXT, value: \"{{source}}\" }\n"
				   "      region: { type: NUMBER, value: \"1\" }\n";
	struct cg_config *cfg = NULL;
	char *errs = NULL;
	if (cg_config_parse("t.yaml", yaml, strlen(yaml), &cfg, &errs) != 0)
		fail_msg("config: %s", errs ? errs : "?");
	free(errs);
	struct cg_catypes all = {0};
	char *out = NULL;
	assert_int_equal(cg_catypes_report(cfg, &all, &out), 0); /* nothing known: nothing to say */
	assert_null(out);
	known_type(&all);
	assert_int_equal(cg_catypes_report(cfg, &all, &out), 2);
	assert_non_null(out);
	if (!strstr(out, "source 'demo': custom_attributes.service: not defined on case type " TYPE_ID) ||
	    !strstr(out, "source 'demo': custom_attributes.region: defined with is_multi: true") ||
	    strstr(out, "runbook") || !strchr(out, '\n') || strncmp(out, "t.yaml:", 7) != 0)
		fail_msg("report:\n%s", out);
	free(out);
	cg_catypes_cleanup(&all);
	cg_config_free(cfg);
}

static cJSON *create_body(void)
{
	static const char text[] =
		"{\"data\":{\"type\":\"case\",\"attributes\":{\"title\":\"t\",\"description\":\"disk full\","
		"\"status_name\":\"Triage\",\"custom_attributes\":{"
		"\"runbook\":{\"type\":\"URL\",\"is_multi\":false,\"value\":\"https://rb/1\"},"
		"\"service\":{\"type\":\"TEXT\",\"is_multi\":false,\"value\":\"@here [x](http://evil)\"},"
		"\"region\":{\"type\":\"NUMBER\",\"is_multi\":false,\"value\":3}}},"
		"\"relationships\":{\"assignee\":{\"data\":{\"id\":\"u-1\",\"type\":\"user\"}}}}}";
	cJSON *b = cJSON_Parse(text);
	assert_non_null(b);
	return b;
}

static const cJSON *attrs(const cJSON *body)
{
	return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(body, "data"), "attributes");
}

static const char *desc(const cJSON *body)
{
	return cJSON_GetObjectItemCaseSensitive(attrs(body), "description")->valuestring;
}

static void test_surgery(void **state)
{
	(void)state;
	struct cg_catypes all = {0};
	struct cg_catype *t = known_type(&all);

	/* What the type refuses leaves the request and is kept in the description, as code (a mention
	 * in a value notifies nobody). */
	cJSON *b = create_body();
	assert_int_equal(cg_create_drop_refused(b, t), 2);
	const cJSON *ca = cJSON_GetObjectItemCaseSensitive(attrs(b), "custom_attributes");
	assert_non_null(cJSON_GetObjectItemCaseSensitive(ca, "runbook"));
	assert_null(cJSON_GetObjectItemCaseSensitive(ca, "service"));
	assert_null(cJSON_GetObjectItemCaseSensitive(ca, "region"));
	const char *d = desc(b);
	if (strncmp(d, "disk full\n\n**Custom attributes this case type does not define**\n", 64) != 0 ||
	    !strstr(d, "- `service`: `") || !strstr(d, "here [x](http://evil)`") || strstr(d, "@here") ||
	    !strstr(d, "- `region`: `3`") || strstr(d, "runbook"))
		fail_msg("description:\n%s", d);
	/* Nothing left to refuse; an unknown type refuses nothing. */
	assert_int_equal(cg_create_drop_refused(b, t), 0);
	assert_int_equal(cg_create_drop_refused(b, &(struct cg_catype){.id = "x"}), 0);

	/* Datadog refused the create: every custom attribute goes, and the key with them. */
	assert_int_equal(cg_create_drop_custom(b), 1);
	assert_null(cJSON_GetObjectItemCaseSensitive(attrs(b), "custom_attributes"));
	assert_non_null(strstr(desc(b), "**Custom attributes Datadog did not accept**\n- `runbook`: `https://rb/1`"));
	assert_int_equal(cg_create_drop_custom(b), 0);

	/* Assignee and status_name, when Datadog would not take them. */
	assert_int_equal(cg_create_drop_optional(b), 2);
	assert_null(cJSON_GetObjectItemCaseSensitive(attrs(b), "status_name"));
	const cJSON *rel = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(b, "data"), "relationships");
	assert_null(cJSON_GetObjectItemCaseSensitive(rel, "assignee"));
	if (!strstr(desc(b), "- assignee: `u-1`\n- status: `Triage`"))
		fail_msg("description:\n%s", desc(b));
	assert_int_equal(cg_create_drop_optional(b), 0);
	cJSON_Delete(b);
	cg_catypes_cleanup(&all);
}

static void test_marker_attr(void **state)
{
	(void)state;
	cJSON *b = create_body();
	assert_int_equal(cg_create_set_marker_attr(b, "casegate_marker", "cg-abc"), 0);
	assert_int_equal(cg_create_set_marker_attr(b, "casegate_marker", "cg-def"), 0); /* replaced, not doubled */
	const cJSON *ca = cJSON_GetObjectItemCaseSensitive(attrs(b), "custom_attributes");
	assert_int_equal(cJSON_GetArraySize(ca), 4);
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(ca, "casegate_marker");
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(m, "type")->valuestring, "TEXT");
	assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(m, "is_multi")));
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(m, "value")->valuestring, "cg-def");
	cJSON_Delete(b);
	cJSON *empty = cJSON_Parse("{\"data\":{}}");
	assert_int_equal(cg_create_set_marker_attr(empty, "k", "m"), CG_EINVAL);
	cJSON_Delete(empty);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),	cmocka_unit_test(test_mismatch),    cmocka_unit_test(test_report),
		cmocka_unit_test(test_surgery), cmocka_unit_test(test_marker_attr),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
