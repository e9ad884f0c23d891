/* test_config_limits.c: the reliability settings: rate_limit (global and per source), queue.max_pending*. */
/* labels: unit */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "err.h"

#define SRC_HEAD                                                                                             \
	"sources:\n"                                                                                         \
	"  - name: demo\n"                                                                                   \
	"    type: generic\n"                                                                                \
	"    auth: none\n"                                                                                   \
	"    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"                                                \
	"    case_type: 00000000-0000-0000-0000-000000000001\n"

static struct cg_config *parse_ok(const char *text)
{
	struct cg_config *c = NULL;
	char *errs = NULL;
	int rc = cg_config_parse("t.yaml", text, strlen(text), &c, &errs);
	if (rc)
		fprintf(stderr, "parse: got %d (%s), want 0\n", rc, errs ? errs : "");
	free(errs);
	assert_int_equal(rc, 0);
	return c;
}

/* Fails to parse and the errors contain want. */
static void parse_err(const char *text, const char *want)
{
	struct cg_config *c = NULL;
	char *errs = NULL;
	int rc = cg_config_parse("t.yaml", text, strlen(text), &c, &errs);
	if (rc != CG_EINVAL || !errs || !strstr(errs, want))
		fprintf(stderr, "errors: got %d '%s', want CG_EINVAL with '%s'\n", rc, errs ? errs : "", want);
	assert_int_equal(rc, CG_EINVAL);
	assert_non_null(errs);
	assert_non_null(strstr(errs, want));
	free(errs);
	cg_config_free(c);
}

static void test_defaults(void **state)
{
	(void)state;
	struct cg_config *c = parse_ok(SRC_HEAD);
	assert_int_equal(c->max_pending, 10000);
	assert_true(c->max_pending_bytes == 64ULL * 1024 * 1024);
	assert_int_equal(c->rl_rps, 0);
	assert_int_equal(c->sources[0].rl_rps, 0);
	cg_config_free(c);
}

static void test_values(void **state)
{
	(void)state;
	struct cg_config *c = parse_ok("rate_limit: { rps: 50, burst: 200 }\n"
				       "queue:\n  max_pending: 500\n  max_pending_bytes: 8MiB\n" SRC_HEAD
				       "    rate_limit: { rps: 5 }\n");
	assert_int_equal(c->rl_rps, 50);
	assert_int_equal(c->rl_burst, 200);
	assert_int_equal(c->max_pending, 500);
	if (c->max_pending_bytes != 8ULL * 1024 * 1024)
		fprintf(stderr, "max_pending_bytes: got %llu, want %llu\n", (unsigned long long)c->max_pending_bytes,
			8ULL * 1024 * 1024);
	assert_true(c->max_pending_bytes == 8ULL * 1024 * 1024);
	assert_int_equal(c->sources[0].rl_rps, 5);
	assert_int_equal(c->sources[0].rl_burst, 0);
	cg_config_free(c);
}

static void test_errors(void **state)
{
	(void)state;
	parse_err("rate_limit: { burst: 5 }\n" SRC_HEAD, "rate_limit: rps is required");
	parse_err("rate_limit: { rps: 0 }\n" SRC_HEAD, "rate_limit.rps");
	parse_err("rate_limit: { rps: 1, per: 2 }\n" SRC_HEAD, "per");
	parse_err("rate_limit: 5\n" SRC_HEAD, "expected a mapping");
	parse_err(SRC_HEAD "    rate_limit: { rps: many }\n", "source 'demo': rate_limit.rps");
	parse_err("queue:\n  max_pending: 0\n" SRC_HEAD, "queue.max_pending");
	parse_err("queue:\n  max_pending_bytes: 10\n" SRC_HEAD, "queue.max_pending_bytes");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
