/* test_store_open_config.c: the `store:` section of the configuration (backend, dsn, replica, lease). */
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
#include "store_open.h"

static const char *tail =
	"sources:\n"
	"  - name: s\n"
	"    type: generic\n"
	"    auth: none\n"
	"    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
	"    case_type: 00000000-0000-0000-0000-000000000001\n";

static struct cg_config *parse(const char *store, char **errs)
{
	char text[2048];
	snprintf(text, sizeof(text), "listen: 127.0.0.1:0\n%s%s", store, tail);
	struct cg_config *cfg = NULL;
	*errs = NULL;
	int rc = cg_config_parse("t.yaml", text, strlen(text), &cfg, errs);
	return rc == 0 ? cfg : NULL;
}

static void expect_error(const char *store, const char *needle)
{
	char *errs = NULL;
	struct cg_config *cfg = parse(store, &errs);
	if (cfg || !errs || !strstr(errs, needle))
		fail_msg("config:\n%s\ngot %s (%s), want an error containing '%s'", store, cfg ? "ok" : "error",
			 errs ? errs : "", needle);
	free(errs);
	cg_config_free(cfg);
}

static void t_default_sqlite(void **state)
{
	(void)state;
	char *errs = NULL;
	struct cg_config *cfg = parse("", &errs);
	assert_non_null(cfg);
	assert_int_equal(cfg->store_backend, CG_STORE_SQLITE);
	assert_null(cfg->store_dsn);
	/* Default lease: 2 x (15 s timeout + 1 s). */
	assert_int_equal(cg_store_config_lease_ms(cfg), 32000);
	cg_config_free(cfg);
	free(errs);
}

static void t_postgres(void **state)
{
	(void)state;
	char *errs = NULL;
	setenv("CG_TEST_PG_DSN", "host=db.example port=5432 user=cg password=pw", 1);
	struct cg_config *cfg = parse("datadog: { timeout: 2s }\n"
				      "store:\n  backend: postgres\n  dsn: ${CG_TEST_PG_DSN}\n  replica: gw-1\n"
				      "  lease: 10s\n",
				      &errs);
	if (!cfg)
		fail_msg("got errors:\n%s\nwant ok", errs ? errs : "");
	assert_int_equal(cfg->store_backend, CG_STORE_POSTGRES);
	assert_string_equal(cfg->store_dsn, "host=db.example port=5432 user=cg password=pw");
	assert_string_equal(cfg->store_replica, "gw-1");
	assert_int_equal(cg_store_config_lease_ms(cfg), 10000);
	cg_config_free(cfg);
	free(errs);
}

static void t_errors(void **state)
{
	(void)state;
	expect_error("store:\n  backend: postgres\n", "needs dsn");
	expect_error("store:\n  backend: mysql\n", "store.backend");
	expect_error("store:\n  dsn: host=x\n", "postgres only");
	expect_error("store:\n  backend: postgres\n  dsn: host=x\n  lease: 5s\n", "store.lease: at least");
	expect_error("store:\n  backend: postgres\n  dsn: host=x\n  bogus: 1\n", "bogus");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_default_sqlite),
		cmocka_unit_test(t_postgres),
		cmocka_unit_test(t_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
