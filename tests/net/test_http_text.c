/* test_http_text.c: the HTTP server's text helpers: ASCII-only case folding, buffer growth, and the JSON error body every refusal carries. */
/* labels: unit */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "http_text.h"

static void test_casecmp(void **state)
{
	(void)state;
	assert_int_equal(cg_http_casecmp("Content-Length", "content-length"), 0);
	assert_int_equal(cg_http_casecmp("X-CASEGATE-TOKEN", "x-casegate-token"), 0);
	assert_true(cg_http_casecmp("Host", "Hos") > 0);
	assert_true(cg_http_casecmp("Hos", "Host") < 0);
	assert_true(cg_http_casecmp("a", "B") < 0);
	/* Only ASCII letters fold: a byte above 0x7f is not a letter ('\xc4' is not '\xe4'), and
	 * '[' (0x5b) is not '{' (0x7b), though they differ by the same bit as 'A' and 'a'. */
	assert_int_not_equal(cg_http_casecmp("\xc4", "\xe4"), 0);
	assert_int_not_equal(cg_http_casecmp("[", "{"), 0);
	assert_int_not_equal(cg_http_casecmp("@", "`"), 0);
}

static void test_grow(void **state)
{
	(void)state;
	char *buf = NULL;
	size_t cap = 0;
	assert_int_equal(cg_http_grow(&buf, &cap, 10, 64), 0);
	assert_non_null(buf);
	assert_int_equal(cap, 64);
	memset(buf, 'x', 64);
	char *same = buf;
	assert_int_equal(cg_http_grow(&buf, &cap, 64, 64), 0); /* enough already: untouched */
	assert_ptr_equal(buf, same);
	assert_int_equal(cap, 64);
	assert_int_equal(cg_http_grow(&buf, &cap, 65, 64), 0);
	assert_int_equal(cap, 128);
	assert_int_equal(cg_http_grow(&buf, &cap, 1000, 64), 0);
	assert_int_equal(cap, 1024); /* doubling, not exact */
	for (size_t i = 0; i < 64; i++)
		assert_int_equal(buf[i], 'x'); /* content kept */
	free(buf);
}

/* The body is JSON {"errors":["msg"]} for any message: quotes, backslashes and control bytes escaped. */
static void test_json_error(void **state)
{
	(void)state;
	static const char *const msgs[] = {
		"payload too large",
		"bad \"quote\" and \\backslash\\",
		"line\nbreak\ttab\r\x01\x1f end",
		"",
		"caf\xc3\xa9 \xe2\x9c\x93",
	};
	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		size_t len = 0;
		char *body = cg_http_json_error(msgs[i], &len);
		assert_non_null(body);
		assert_int_equal(len, strlen(body));
		cJSON *doc = cJSON_ParseWithLength(body, len);
		if (!doc)
			fail_msg("not JSON: %s", body);
		const cJSON *errs = cJSON_GetObjectItemCaseSensitive(doc, "errors");
		assert_true(cJSON_IsArray(errs));
		assert_int_equal(cJSON_GetArraySize(errs), 1);
		const cJSON *e0 = cJSON_GetArrayItem(errs, 0);
		assert_true(cJSON_IsString(e0));
		assert_string_equal(e0->valuestring, msgs[i]);
		/* Control bytes are escaped, never raw in the body. */
		for (const char *p = body; *p; p++)
			assert_true((unsigned char)*p >= 0x20);
		cJSON_Delete(doc);
		free(body);
	}
	size_t len = 0;
	char *body = cg_http_json_error("a\"b", &len);
	assert_string_equal(body, "{\"errors\":[\"a\\\"b\"]}");
	free(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_casecmp),
		cmocka_unit_test(test_grow),
		cmocka_unit_test(test_json_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
