/* test_metrics_observe.c: the daemon's JSON log lines (shape, alert fields, no secrets) and its /metrics catalogue. */
/* labels: integration */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "opstest.h"

static const char *sources = "  - name: demo\n"
			     "    type: generic\n"
			     "    auth: { bearer: Tok-Secret-4242 }\n"
			     "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
			     "    case_type: 00000000-0000-0000-0000-000000000001\n"
			     "    title: \"{{title}}\"\n";

static const char *const secrets[] = {"Tok-Secret-4242", "Wrong-Guess-9999", "test-api-key", "test-app-key"};

/* Every family a Prometheus rule or dashboard may rely on is listed from the start. */
static const char *const families[] = {
	"casegate_http_requests_total", "casegate_auth_failures_total", "casegate_events_total",
	"casegate_events_accepted_total", "casegate_queue_depth", "casegate_queue_oldest_age_seconds",
	"casegate_deliveries_total", "casegate_delivery_http_total", "casegate_retries_total",
	"casegate_dead_letters_total", "casegate_dead_letters", "casegate_rate_limit_waits_total",
	"casegate_rate_limit_deferred_total", "casegate_outbound_latency_seconds", "casegate_store_bytes",
	"casegate_store_full", "casegate_config_reloads_total", "casegate_config_reload_failures_total",
	"casegate_config_last_reload_success", "casegate_start_time_seconds",
};

static char *get_metrics(struct itest *t)
{
	char url[128];
	snprintf(url, sizeof(url), "%s/metrics", t->gw_url);
	struct cg_h_resp r;
	if (cg_h_http("GET", url, NULL, NULL, 0, &r) != 0 || r.status != 200) {
		cg_h_resp_free(&r);
		return NULL;
	}
	char *body = r.body;
	r.body = NULL;
	cg_h_resp_free(&r);
	return body;
}

static void test_json_logs_and_metrics(void **state)
{
	(void)state;
	struct itest t;
	assert_int_equal(itest_setup(&t, "cg-observe"), 0);
	assert_int_equal(itest_start_sim(&t, NULL), 0);
	assert_int_equal(itest_write_config(&t, "log_format: json\n", sources), 0);
	assert_int_equal(itest_start_gw(&t), 0);

	char *m = get_metrics(&t);
	assert_non_null(m);
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
		char *want = cg_h_fmt("# TYPE %s ", families[i]);
		if (!strstr(m, want))
			fail_msg("/metrics at start: no family %s", families[i]);
		free(want);
	}
	free(m);

	assert_int_equal(itest_post(&t, "demo", "Wrong-Guess-9999", "{\"title\":\"x\",\"status\":\"firing\",\"id\":\"x\"}", NULL),
			 401);
	assert_int_equal(itest_post(&t, "demo", "Tok-Secret-4242", "{\"title\":\"Disk full\",\"status\":\"firing\",\"id\":\"disk\"}",
				    NULL),
			 202);
	struct itest_metric_wait w = {&t, "casegate_events_total", "action=\"created\"", 1};
	assert_true(cg_h_poll(itest_metric_reached, &w, 15000));
	assert_int_equal(
		itest_post(&t, "demo", "Tok-Secret-4242", "{\"title\":\"Disk full\",\"status\":\"resolved\",\"id\":\"disk\"}", NULL),
		202);
	w.labels = "action=\"closed\"";
	if (!cg_h_poll(itest_metric_reached, &w, 15000)) {
		m = get_metrics(&t);
		fail_msg("no casegate_events_total{action=\"closed\"} after a resolve; metrics:\n%s", m ? m : "");
	}
	if (itest_metric(&t, "casegate_auth_failures_total", "source=\"demo\"") != 1)
		fail_msg("auth failures: got %g, want 1", itest_metric(&t, "casegate_auth_failures_total", "source=\"demo\""));
	if (itest_metric(&t, "casegate_http_requests_total", "code=\"401\"") != 1)
		fail_msg("401s: got %g, want 1", itest_metric(&t, "casegate_http_requests_total", "code=\"401\""));
	if (itest_metric(&t, "casegate_deliveries_total", "outcome=\"delivered\"") < 2)
		fail_msg("delivered: got %g, want >= 2", itest_metric(&t, "casegate_deliveries_total", "outcome=\"delivered\""));
	if (itest_metric(&t, "casegate_outbound_latency_seconds_count", "step=\"create\"") < 1)
		fail_msg("latency histogram: no create sample");
	if (itest_metric(&t, "casegate_store_bytes", NULL) <= 0)
		fail_msg("store bytes: got %g, want > 0", itest_metric(&t, "casegate_store_bytes", NULL));
	kill(t.gw.pid, SIGHUP);
	assert_true(cg_h_wait_log(&t.gw, "configuration reloaded", 5000));
	int st = cg_h_stop(&t.gw, SIGTERM);
	t.gw_running = 0;
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);

	/* Every line is one JSON object with the common fields; alert records carry theirs. */
	char *log = cg_h_read_file(t.gw.log_path, NULL);
	assert_non_null(log);
	int lines = 0, with_case = 0, auth_line = 0;
	for (char *line = log; line && *line;) {
		char *eol = strchr(line, '\n');
		if (eol)
			*eol = '\0';
		if (*line) {
			lines++;
			cJSON *o = cJSON_Parse(line);
			if (!cJSON_IsObject(o))
				fail_msg("log line %d is not a JSON object: %s", lines, line);
			const char *lvl = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "level"));
			if (!lvl || (strcmp(lvl, "error") && strcmp(lvl, "warn") && strcmp(lvl, "info") && strcmp(lvl, "debug")))
				fail_msg("log line %d: bad level: %s", lines, line);
			if (!cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "ts")) ||
			    !cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "component")) ||
			    !cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "msg")))
				fail_msg("log line %d lacks ts/component/msg: %s", lines, line);
			const char *src = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "source"));
			const char *key = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "dedup_key"));
			const char *cs = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "case"));
			if (src && key && cs && strcmp(src, "demo") == 0 && strcmp(key, "demo:disk") == 0 &&
			    strncmp(cs, "DEMO-", 5) == 0)
				with_case++;
			const char *msg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "msg"));
			if (src && strcmp(src, "demo") == 0 && msg && strstr(msg, "unauthorized"))
				auth_line++;
			for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
				if (strstr(line, secrets[i]))
					fail_msg("log line %d holds the secret %s: %s", lines, secrets[i], line);
			cJSON_Delete(o);
		}
		line = eol ? eol + 1 : NULL;
	}
	if (lines < 5 || with_case < 2 || auth_line != 1)
		fail_msg("log: got %d lines, %d with source+dedup_key+case, %d auth failures; want >= 5, >= 2 "
			 "(created, closed), 1",
			 lines, with_case, auth_line);
	free(log);
	itest_teardown(&t, 0);
}

/* Text form, and log_level applied by a reload: after switching to warn, no info lines;
 * alert fields are written as source=... before the message. */
static void test_text_logs_level(void **state)
{
	(void)state;
	struct itest t;
	assert_int_equal(itest_setup(&t, "cg-observe-text"), 0);
	assert_int_equal(itest_start_sim(&t, NULL), 0);
	assert_int_equal(itest_write_config(&t, "log_format: text\n", sources), 0);
	assert_int_equal(itest_start_gw(&t), 0);
	/* The same config at level warn (itest writes log_level: debug). */
	char *text = cg_h_read_file(t.cfg_path, NULL);
	assert_non_null(text);
	char *lvl = strstr(text, "log_level: debug");
	assert_non_null(lvl);
	memcpy(lvl, "log_level: warn ", 16);
	assert_int_equal(cg_h_write_file(t.cfg_path, text, strlen(text)), 0);
	free(text);
	/* Idle daemon (its start-up read of the case type's custom attributes answered): nothing
	 * logs between here and the reload, so the log from this offset on is at the new level. */
	assert_true(cg_h_wait_log(&t.gw, "custom attribute", 5000));
	size_t before = 0;
	free(cg_h_read_file(t.gw.log_path, &before));
	kill(t.gw.pid, SIGHUP);
	struct itest_metric_wait rw = {&t, "casegate_config_reloads_total", NULL, 1};
	assert_true(cg_h_poll(itest_metric_reached, &rw, 5000));
	assert_int_equal(itest_post(&t, "demo", "Wrong-Guess-9999", "{\"title\":\"x\",\"status\":\"firing\",\"id\":\"x\"}", NULL),
			 401);
	assert_int_equal(itest_post(&t, "demo", "Tok-Secret-4242", "{\"title\":\"y\",\"status\":\"firing\",\"id\":\"y\"}", NULL),
			 202);
	struct itest_metric_wait w = {&t, "casegate_events_total", "action=\"created\"", 1};
	assert_true(cg_h_poll(itest_metric_reached, &w, 15000));
	int st = cg_h_stop(&t.gw, SIGTERM);
	t.gw_running = 0;
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	size_t len = 0;
	char *out = cg_h_read_file(t.gw.log_path, &len);
	assert_non_null(out);
	assert_true(len >= before);
	const char *after = out + before;
	if (strstr(after, " info ") || strstr(after, " debug "))
		fail_msg("after switching to log_level warn: got info/debug lines:\n%s", after);
	if (!strstr(after, " warn  [intake] source=demo client="))
		fail_msg("want the auth failure as \"warn  [intake] source=demo client=...\", got:\n%s", after);
	for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
		if (strstr(out, secrets[i]))
			fail_msg("log holds the secret %s", secrets[i]);
	free(out);
	itest_teardown(&t, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_logs_and_metrics),
		cmocka_unit_test(test_text_logs_level),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
