/* test_strictjson.c: a webhook body means one thing: NUL bytes, \u0000, data after the value and keys given twice are refused, with the byte or the key and where. */
/* labels: unit */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "strictjson.h"

/* Parses text (len bytes); expects status want and, when refused, a message starting with msg. */
static void expect(const char *text, size_t len, int want, const char *msg)
{
	char got[256] = "";
	int status = -1;
	cJSON *v = cg_strictjson_parse(text, len, &status, got, sizeof(got));
	if (status != want || (msg && strncmp(got, msg, strlen(msg)) != 0))
		print_error("%.*s: got %d \"%s\", want %d \"%s\"\n", (int)len, text, status, got, want, msg ? msg : "");
	assert_int_equal(status, want);
	if (want) {
		assert_null(v);
		assert_non_null(msg);
		assert_memory_equal(got, msg, strlen(msg));
	} else {
		assert_non_null(v);
	}
	cJSON_Delete(v);
}

#define S(t) t, sizeof(t) - 1

static void test_accepted(void **state)
{
	(void)state;
	expect(S("{\"a\":1}"), 0, NULL);
	expect(S("{\"a\":\"x\\\"y\",\"b\":[1,{\"a\":2}]} \r\n\t"), 0, NULL); /* an escaped quote; a in two objects */
	expect(S("[{\"k\":1},{\"k\":2}]"), 0, NULL);
	expect(S("{\"a\":\"\\u0001\"}"), 0, NULL);
}

static void test_refused(void **state)
{
	(void)state;
	expect(S("{\"a\":1,}"), 400, "invalid JSON near byte 7");
	expect(S("{\"a\":1} x"), 400, "invalid JSON: data after the JSON value at byte 8");
	expect(S("{\"a\":1}{}"), 400, "invalid JSON: data after the JSON value at byte 7");
	expect("{\"a\":\"b\0c\"}", 11, 400, "invalid JSON: NUL byte at byte 7");
	expect(S("{\"a\":\"b\\u0000c\"}"), 400, "invalid JSON: \\u0000 (NUL) in a string at byte 7");
	expect(S("{\"severity\":1,\"severity\":2}"), 400, "invalid JSON: duplicate key \"severity\" in $");
	expect(S("{\"alerts\":[{\"labels\":{\"a\":1}},{\"x\":1,\"x\":2}]}"), 400,
	       "invalid JSON: duplicate key \"x\" in $.alerts[1]");
}

/* A path too deep to name in full ends in "..." and is still refused. */
static void test_deep_path(void **state)
{
	(void)state;
	char text[4096];
	size_t n = 0;
	for (int i = 0; i < 60; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "{\"level%02d\":", i);
	n += (size_t)snprintf(text + n, sizeof(text) - n, "{\"k\":1,\"k\":2}");
	for (int i = 0; i < 60; i++)
		text[n++] = '}';
	text[n] = '\0';
	char got[768] = ""; /* the intake's message buffer */
	int status = 0;
	cJSON *v = cg_strictjson_parse(text, n, &status, got, sizeof(got));
	assert_null(v);
	assert_int_equal(status, 400);
	assert_non_null(strstr(got, "duplicate key \"k\" in $.level00.level01"));
	assert_non_null(strstr(got, "..."));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_accepted),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_deep_path),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
