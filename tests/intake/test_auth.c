/* test_auth.c: inbound authentication edge cases (schemes, whitespace, Basic padding, rotation). */
/* labels: unit */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "err.h"

static char *tokens[] = {"old-token", "tok"};
static struct cg_basic_cred creds[] = {{"u", "p"}, {"alert", "pa:ss"}};

static int check(const struct cg_auth_config *a, const char *header)
{
	struct cg_http_header h = {"authorization", header};
	struct cg_http_request req = {.method = "POST", .path = "/hooks/x", .query = ""};
	if (header) {
		req.headers = &h;
		req.nheaders = 1;
	}
	char why[128] = "";
	return cg_auth_check(a, &req, why, sizeof(why));
}

struct row {
	const char *header;
	int ok;
};

static void test_auth_table(void **state)
{
	(void)state;
	struct cg_auth_config a = {.kind = CG_AUTH_BEARER, .bearer = tokens, .nbearer = 2, .basic = creds, .nbasic = 2};
	static const struct row rows[] = {
	    {"Bearer tok", 1},
	    {"Bearer old-token", 1}, /* rotation: every configured token works */
	    {"bearer  tok", 1},      /* scheme is case-insensitive; extra spaces */
	    {"Bearer tok  ", 1},     /* trailing whitespace is not part of the value (RFC 9110 OWS) */
	    {"Bearer tok\t", 1},
	    {"Bearer to", 0},
	    {"Bearer tokk", 0},
	    {"Bearer ", 0},
	    {"Bearer", 0},
	    {"Token tok", 0},
	    {NULL, 0},
	    {"Basic dTpw", 1}, /* u:p, no padding needed */
	    {"Basic dTpw  ", 1},
	    {"Basic YWxlcnQ6cGE6c3M=", 1}, /* alert:pa:ss (colon in the password), one '=' */
	    {"Basic YWxlcnQ6cGE6c3M= ", 1},
	    {"Basic dTpweHk=", 0}, /* u:pxy */
	    {"Basic dTpweA==", 0}, /* u:px */
	    {"Basic dTo=", 0},     /* u: (empty password) */
	    {"Basic dQ==", 0},     /* no colon */
	    {"Basic !!!!", 0},
	    {"Basic ", 0},
	};
	int bad = 0;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int got = check(&a, rows[i].header) == 0;
		if (got != rows[i].ok) {
			fprintf(stderr, "auth '%s': got %s, want %s\n", rows[i].header ? rows[i].header : "(none)",
			        got ? "allowed" : "refused", rows[i].ok ? "allowed" : "refused");
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

static void test_auth_none_and_kinds(void **state)
{
	(void)state;
	struct cg_auth_config none = {.kind = CG_AUTH_NONE};
	assert_int_equal(check(&none, NULL), 0);
	struct cg_auth_config basic_only = {.kind = CG_AUTH_BASIC, .basic = creds, .nbasic = 1};
	assert_int_equal(check(&basic_only, "Bearer tok"), CG_EAUTH);
	assert_int_equal(check(&basic_only, "Basic dTpw"), 0);
	struct cg_auth_config bearer_only = {.kind = CG_AUTH_BEARER, .bearer = tokens, .nbearer = 2};
	assert_int_equal(check(&bearer_only, "Basic dTpw"), CG_EAUTH);
}

static void test_secret_equal(void **state)
{
	(void)state;
	assert_true(cg_secret_equal("abc", 3, "abc", 3));
	assert_false(cg_secret_equal("abc", 3, "abd", 3));
	assert_false(cg_secret_equal("abc", 3, "abc", 2));
	assert_true(cg_secret_equal("", 0, "", 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_auth_table),
	    cmocka_unit_test(test_auth_none_and_kinds),
	    cmocka_unit_test(test_secret_equal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
