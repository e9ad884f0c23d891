/* test_ddsync.c: the CLI's blocking Case API client against casegate-sim: answers and their errors, 429s waited out (each wait capped, at most max_429_waits), transport failures, no API configured. */
/* labels: integration */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "ddclient.h"
#include "ddsync.h"
#include "harness.h"

static struct cg_h_proc sim;
static int sim_port;
static char *dir;
static struct cg_config *cfg;

static int setup(void **state)
{
	(void)state;
	assert_int_equal(cg_dd_global_init(), 0);
	dir = cg_h_tmpdir("ddsync");
	if (cg_h_start_sim(&sim, dir, NULL, &sim_port) != 0)
		fail_msg("casegate-sim did not start");
	static const char yaml[] = "listen: 127.0.0.1:0\n"
				   "datadog:\n"
				   "  api_key: test-api\n"
				   "  app_key: test-app\n"
				   "sources:\n"
				   "  - name: s\n"
				   "    type: generic\n"
				   "    auth: none\n"
				   "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
				   "    case_type: 00000000-0000-0000-0000-000000000001\n";
	char *errs = NULL;
	if (cg_config_parse("t.yaml", yaml, strlen(yaml), &cfg, &errs) != 0)
		fail_msg("config: %s", errs ? errs : "?");
	free(errs);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	cg_h_stop(&sim, 15);
	cg_config_free(cfg);
	cg_h_rmrf(dir);
	free(dir);
	return 0;
}

static void sim_faults(const char *json)
{
	char *url = cg_h_fmt("http://127.0.0.1:%d/_sim/faults", sim_port);
	struct cg_h_resp r;
	static const char *const hdr[] = {"Content-Type: application/json", NULL};
	assert_int_equal(cg_h_http("POST", url, hdr, json, strlen(json), &r), 0);
	if (r.status != 200)
		fail_msg("POST /_sim/faults %s: %ld %s", json, r.status, r.body ? r.body : "");
	cg_h_resp_free(&r);
	free(url);
}

static unsigned nsleeps, slept_ms[16];

static void fake_sleep(unsigned ms)
{
	if (nsleeps < 16)
		slept_ms[nsleeps] = ms;
	nsleeps++;
}

static void init(struct cg_ddsync *a)
{
	char *url = cg_h_fmt("http://127.0.0.1:%d/", sim_port); /* the trailing slash is dropped */
	assert_int_equal(cg_ddsync_init(a, cfg, url, stderr), 0);
	free(url);
	assert_int_equal(a->base[strlen(a->base) - 1] != '/', 1);
	a->sleep_ms = fake_sleep;
	nsleeps = 0;
}

static void test_answers(void **state)
{
	(void)state;
	struct cg_ddsync a;
	init(&a);
	char err[512];
	cJSON *resp = NULL;
	assert_int_equal(cg_ddsync_call(&a, "GET", "/api/v2/cases/projects", NULL, &resp, err, sizeof(err)), 200);
	assert_string_equal(err, "");
	assert_non_null(resp);
	assert_true(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(resp, "data")));
	cJSON_Delete(resp);
	/* A refusal: the status, and Datadog's reason in the error text; no answer parsed. */
	resp = (cJSON *)1;
	long st = cg_ddsync_call(&a, "GET", "/api/v2/cases/00000000-0000-0000-0000-00000000dead", NULL, &resp, err,
				 sizeof(err));
	assert_int_equal(st, 404);
	assert_null(resp);
	if (strncmp(err, "HTTP 404: ", 10) != 0 || strlen(err) <= 10)
		fail_msg("404 error text: \"%s\"", err);
	assert_int_equal(nsleeps, 0);
}

/* The rate limit answers 429: each is waited out (the reset, capped at max_wait_s, plus 100 ms)
 * and the call repeated, max_429_waits times at most; then the 429 is the answer. */
static void test_429(void **state)
{
	(void)state;
	sim_faults("{\"rate_limit\":1,\"rate_period\":3600}");
	struct cg_ddsync a;
	init(&a);
	a.max_429_waits = 3;
	a.max_wait_s = 2;
	char err[512];
	cg_ddsync_call(&a, "GET", "/api/v2/cases/projects", NULL, NULL, err, sizeof(err)); /* uses the one */
	nsleeps = 0;
	long st = cg_ddsync_call(&a, "GET", "/api/v2/cases/projects", NULL, NULL, err, sizeof(err));
	assert_int_equal(st, 429);
	assert_int_equal(nsleeps, 3);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(slept_ms[i], 2100); /* an hour's reset, capped */
	if (strncmp(err, "HTTP 429: ", 10) != 0)
		fail_msg("429 error text: \"%s\"", err);
	a.max_429_waits = 0;
	nsleeps = 0;
	assert_int_equal(cg_ddsync_call(&a, "GET", "/api/v2/cases/projects", NULL, NULL, err, sizeof(err)), 429);
	assert_int_equal(nsleeps, 0);
	sim_faults("{\"rate_limit\":0}");
	assert_int_equal(cg_ddsync_call(&a, "GET", "/api/v2/cases/projects", NULL, NULL, err, sizeof(err)), 200);
}

static void test_transport_and_config(void **state)
{
	(void)state;
	struct cg_ddsync a;
	/* Nobody listens on port 1: status 0 and a reason. */
	assert_int_equal(cg_ddsync_init(&a, cfg, "http://127.0.0.1:1", stderr), 0);
	a.sleep_ms = fake_sleep;
	char err[512];
	assert_int_equal(cg_ddsync_call(&a, "GET", "/api/v2/cases/projects", cJSON_CreateObject(), NULL, err, sizeof(err)),
			 0);
	assert_true(err[0] != '\0');
	/* No API at all: refused with a message saying what to set. */
	struct cg_config none;
	memset(&none, 0, sizeof(none));
	char *msg = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&msg, &len);
	assert_int_equal(cg_ddsync_init(&a, &none, NULL, f), -1);
	fclose(f);
	if (!strstr(msg, "--datadog-url") || !strstr(msg, "api_key"))
		fail_msg("no-API message: \"%s\"", msg);
	free(msg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answers),
		cmocka_unit_test(test_429),
		cmocka_unit_test(test_transport_and_config),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
