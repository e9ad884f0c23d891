/* test_maputil_ids.c: the mapper kit's one rule for ids: a string as given, a JSON number only as an exact integer below 2^53. */
/* labels: unit */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maputil.h"

struct id_case {
	const char *json; /* the value as a sender writes it */
	const char *want; /* the id, or NULL: no id */
};

/* Numbers: the edges of 2^53 on both sides, fractions, exponents, -0; and the other JSON types. */
static const struct id_case cases[] = {
	{"0", "0"},
	{"-0", "0"},
	{"42", "42"},
	{"-7", "-7"},
	{"1e2", "100"},
	{"9007199254740991", "9007199254740991"},   /* 2^53 - 1: the largest exact one */
	{"-9007199254740991", "-9007199254740991"},
	{"9007199254740992", NULL},                 /* 2^53: 2^53 + 1 parses to it too */
	{"9007199254740993", NULL},
	{"-9007199254740992", NULL},
	{"99999999999999999", NULL},                /* under the old 1e17 limit of cg_src_id */
	{"1e17", NULL},
	{"1e300", NULL},
	{"1.5", NULL},
	{"-0.25", NULL},
	{"\"9007199254740993\"", "9007199254740993"}, /* a string is the id as given */
	{"\"abc\"", "abc"},
	{"\"\"", NULL},
	{"true", NULL},
	{"null", NULL},
	{"[1]", NULL},
	{"{}", NULL},
};

static void expect(const char *what, const char *json, const char *got, const char *want)
{
	if ((got == NULL) != (want == NULL) || (got && strcmp(got, want) != 0)) {
		print_error("%s(%s): got %s%s%s, want %s%s%s\n", what, json, got ? "\"" : "", got ? got : "NULL",
			    got ? "\"" : "", want ? "\"" : "", want ? want : "NULL", want ? "\"" : "");
		fail();
	}
}

static void test_id_of_a_value(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cJSON *v = cJSON_Parse(cases[i].json);
		assert_non_null(v);
		char buf[32];
		expect("cg_mu_id", cases[i].json, cg_mu_id(v, buf, sizeof(buf)), cases[i].want);
		cJSON_Delete(v);
	}
}

/* cg_mu_filled_id reads a dotted path and applies the same rule to numbers. */
static void test_id_at_a_path(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[128];
		snprintf(text, sizeof(text), "{\"event\": {\"id\": %s}}", cases[i].json);
		cJSON *o = cJSON_Parse(text);
		assert_non_null(o);
		char buf[32];
		expect("cg_mu_filled_id", cases[i].json, cg_mu_filled_id(o, "event.id", buf, sizeof(buf)), cases[i].want);
		cJSON_Delete(o);
	}
}

/* A placeholder the sender left unexpanded is no id for the templated senders; cg_mu_id takes any string. */
static void test_placeholder_is_no_filled_id(void **state)
{
	(void)state;
	cJSON *o = cJSON_Parse("{\"a\": \"{EVENT.ID}\", \"b\": \"{{rule.id}}\", \"c\": \"{x}\"}");
	assert_non_null(o);
	char buf[32];
	expect("cg_mu_filled_id", "\"{EVENT.ID}\"", cg_mu_filled_id(o, "a", buf, sizeof(buf)), NULL);
	expect("cg_mu_filled_id", "\"{{rule.id}}\"", cg_mu_filled_id(o, "b", buf, sizeof(buf)), NULL);
	expect("cg_mu_filled_id", "\"{x}\"", cg_mu_filled_id(o, "c", buf, sizeof(buf)), "{x}");
	expect("cg_mu_id", "\"{EVENT.ID}\"", cg_mu_id(cg_mu_get(o, "a"), buf, sizeof(buf)), "{EVENT.ID}");
	expect("cg_mu_filled_id", "(absent)", cg_mu_filled_id(o, "missing", buf, sizeof(buf)), NULL);
	cJSON_Delete(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_id_of_a_value),
		cmocka_unit_test(test_id_at_a_path),
		cmocka_unit_test(test_placeholder_is_no_filled_id),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
