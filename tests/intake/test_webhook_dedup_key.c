/* test_webhook_dedup_key.c: a dedup key with nothing of the alert in it is a 422 (alone or per alert of a batch),
 * nothing stored; a template syntax error stops start and reload with file:line:col. */
/* labels: integration */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include "itest.h"

/* The shipped example's `demo` source (conf/casegate.yaml), and an Alertmanager source keyed the same way. */
#define DEMO_SOURCE(title)                                                                                             \
	"  - name: demo\n"                                                                                             \
	"    type: generic\n"                                                                                          \
	"    auth: { bearer: tok-demo }\n"                                                                             \
	"    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"                                                          \
	"    case_type: 00000000-0000-0000-0000-000000000001\n"                                                        \
	"    title: \"" title "\"\n"                                                                                   \
	"    description: \"{{annotations.summary}}\"\n"                                                               \
	"    dedup_key: \"{{labels.alertname}}/{{labels.instance}}\"\n"                                                \
	"  - name: am\n"                                                                                               \
	"    type: alertmanager\n"                                                                                     \
	"    auth: { bearer: tok-am }\n"                                                                               \
	"    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"                                                          \
	"    case_type: 00000000-0000-0000-0000-000000000001\n"                                                        \
	"    dedup_key: \"{{labels.alertname}}/{{labels.instance}}\"\n"

static const char *good_sources = DEMO_SOURCE("{{labels.alertname}} on {{labels.instance}}");
/* One '}' missing: before, this was a tag named "labels.alertname} on {{labels.instance" that rendered nothing. */
static const char *bad_sources = DEMO_SOURCE("{{labels.alertname} on {{labels.instance}}");

#define DEMO_KEY_ERR(src)                                                                                              \
	"source '" src "': dedup_key \"{{labels.alertname}}/{{labels.instance}}\" rendered \"/\": nothing from the "   \
	"payload (not in the payload: labels.alertname, labels.instance)"

static const char *title_err = "source 'demo': title: bad template: line 1, col 1: unclosed tag: '{{' has no '}}' "
                               "before the next '{{' (line 1, col 24)";

/* An Alertmanager notification with two alerts: labels (JSON object text) of each. */
static char *am_batch(const char *labels0, const char *labels1)
{
	return cg_h_fmt("{\"version\":\"4\",\"groupKey\":\"g\",\"status\":\"firing\",\"receiver\":\"casegate\","
	                "\"groupLabels\":{},\"commonLabels\":{},\"commonAnnotations\":{},\"externalURL\":\"http://am\","
	                "\"alerts\":["
	                "{\"status\":\"firing\",\"labels\":%s,\"annotations\":{},\"startsAt\":\"2024-05-01T10:00:00Z\","
	                "\"endsAt\":\"0001-01-01T00:00:00Z\",\"fingerprint\":\"f0\"},"
	                "{\"status\":\"firing\",\"labels\":%s,\"annotations\":{},\"startsAt\":\"2024-05-01T10:00:00Z\","
	                "\"endsAt\":\"0001-01-01T00:00:00Z\",\"fingerprint\":\"f1\"}]}",
	                labels0, labels1);
}

/* body's member name must be an array of exactly the strings want (NULL-terminated). */
static int strings_are(const char *body, const char *name, const char *const want[])
{
	cJSON *doc = body ? cJSON_Parse(body) : NULL;
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(doc, name);
	int ok = cJSON_IsArray(arr);
	int n = 0;
	for (; ok && want[n]; n++) {
		const cJSON *it = cJSON_GetArrayItem(arr, n);
		ok = cJSON_IsString(it) && strcmp(it->valuestring, want[n]) == 0;
	}
	ok = ok && cJSON_GetArraySize(arr) == n;
	if (!ok) {
		print_error("got body %s, want \"%s\" to be:\n", body ? body : "(none)", name);
		for (int i = 0; want[i]; i++)
			print_error("  %s\n", want[i]);
	}
	cJSON_Delete(doc);
	return ok;
}

/* "path:line:col: " of the title value in the written config (where the loader reports it). */
static char *title_pos(const struct itest *t)
{
	char *text = cg_h_read_file(t->cfg_path, NULL);
	assert_non_null(text);
	const char *at = strstr(text, "    title: \"");
	assert_non_null(at);
	int line = 1;
	for (const char *p = text; p < at; p++)
		line += *p == '\n';
	char *pos = cg_h_fmt("%s:%d:%d: ", t->cfg_path, line, (int)strlen("    title: ") + 1);
	free(text);
	return pos;
}

static void test_empty_key_is_422_and_nothing_stored(void **state)
{
	(void)state;
	struct itest t;
	assert_int_equal(itest_setup(&t, "cg-dkey"), 0);
	assert_int_equal(itest_start_sim(&t, NULL), 0);
	assert_int_equal(itest_write_config(&t, NULL, good_sources), 0);
	assert_int_equal(itest_start_gw(&t), 0);
	int failed = 0;

	/* The shipped example's source and `{}`: the key renders "/" (was: a case "on" with key demo:/). */
	char *resp = NULL;
	long st = itest_post(&t, "demo", "tok-demo", "{}", &resp);
	if (st != 422 || !strings_are(resp, "errors", (const char *const[]){DEMO_KEY_ERR("demo"), NULL})) {
		print_error("demo {}: got HTTP %ld, want 422 naming the source and its dedup_key\n", st);
		failed++;
	}
	free(resp);

	/* A batch: the alert without labels is skipped (named by its index), the other is accepted. */
	char *mixed = am_batch("{\"alertname\":\"DiskFull\",\"instance\":\"db-1\"}", "{\"severity\":\"warning\"}");
	st = itest_post(&t, "am", "tok-am", mixed, &resp);
	if (st != 202 || !strings_are(resp, "skipped", (const char *const[]){"alert 1: " DEMO_KEY_ERR("am"), NULL}) ||
	    !strstr(resp, "\"accepted\":1")) {
		print_error("am mixed batch: got HTTP %ld, want 202 with one accepted and alert 1 skipped\n", st);
		failed++;
	}
	free(resp);
	free(mixed);

	/* A batch where no alert has a key: 422, one error per alert. */
	char *none = am_batch("{}", "{\"alertname\":\"\",\"instance\":\"\"}");
	st = itest_post(&t, "am", "tok-am", none, &resp);
	const char *const both[] = {
	    "alert 0: " DEMO_KEY_ERR("am"),
	    "alert 1: source 'am': dedup_key \"{{labels.alertname}}/{{labels.instance}}\" rendered "
	    "\"/\": nothing from the payload",
	    NULL};
	if (st != 422 || !strings_are(resp, "errors", both)) {
		print_error("am batch without keys: got HTTP %ld, want 422 with an error per alert\n", st);
		failed++;
	}
	free(resp);
	free(none);

	/* A good alert afterwards: exactly the two good alerts became cases, nothing of the refused ones. */
	st =
	    itest_post(&t, "demo", "tok-demo", "{\"labels\":{\"alertname\":\"HighCPU\",\"instance\":\"web-1\"}}", NULL);
	if (st != 202) {
		print_error("good demo alert: got HTTP %ld, want 202\n", st);
		failed++;
	}
	struct itest_wait w = {&t, 2};
	if (!cg_h_poll(itest_has_ncases, &w, 20000))
		failed++;
	int n = itest_ncases(&t);
	if (n != 2) {
		print_error("got %d cases, want 2 (HighCPU on web-1, and DiskFull from the mixed batch)\n", n);
		failed++;
	}
	cJSON *doc = itest_cases(&t);
	if (!itest_find_case(doc, "HighCPU on web-1")) {
		print_error("got no case titled 'HighCPU on web-1'\n");
		failed++;
	}
	cJSON_Delete(doc);
	double accepted = itest_metric(&t, "casegate_events_accepted_total", NULL);
	double rej_demo = itest_metric(&t, "casegate_events_rejected_total", "source=\"demo\"");
	double rej_am = itest_metric(&t, "casegate_events_rejected_total", "source=\"am\"");
	if (accepted != 2 || rej_demo != 1 || rej_am != 3) {
		print_error("got accepted %g, rejected demo %g am %g; want 2, 1, 3\n", accepted, rej_demo, rej_am);
		failed++;
	}
	if (failed)
		cg_h_dump_log(&t.gw);
	itest_teardown(&t, failed != 0);
	assert_int_equal(failed, 0);
}

static void test_template_error_stops_reload_and_start(void **state)
{
	(void)state;
	struct itest t;
	assert_int_equal(itest_setup(&t, "cg-tsyn"), 0);
	assert_int_equal(itest_start_sim(&t, NULL), 0);
	assert_int_equal(itest_write_config(&t, NULL, good_sources), 0);
	assert_int_equal(itest_start_gw(&t), 0);
	int failed = 0;

	assert_int_equal(itest_write_config(&t, NULL, bad_sources), 0);
	char *pos = title_pos(&t);
	char *want = cg_h_fmt("%s%s\n", pos, title_err);
	/* `casegate reload` reads the file first and does not signal. */
	struct cg_h_cli rl = cg_h_cli_run(t.dir, NULL, (const char *const[]){"reload", "-c", t.cfg_path, NULL});
	if (rl.code != 1 || strncmp(rl.err, want, strlen(want)) != 0) {
		print_error("casegate reload: got exit %d, stderr:\n%s\nwant 1, starting with:\n%s", rl.code, rl.err,
		            want);
		failed++;
	}
	cg_h_cli_free(&rl);
	/* A SIGHUP all the same: the daemon refuses, says why where, and keeps serving. */
	kill(t.gw.pid, SIGHUP);
	char *in_log = cg_h_fmt("%s%s", pos, title_err);
	if (!cg_h_wait_log(&t.gw, "reload rejected", 10000) || !cg_h_wait_log(&t.gw, in_log, 5000)) {
		print_error("SIGHUP: want the log to say 'reload rejected' and:\n%s\n", in_log);
		failed++;
	}
	long st = itest_post(&t, "demo", "tok-demo", "{\"labels\":{\"alertname\":\"A\",\"instance\":\"b\"}}", NULL);
	if (st != 202) {
		print_error("after the rejected reload: got HTTP %ld, want 202\n", st);
		failed++;
	}
	if (itest_stop_gw(&t, SIGTERM) != 0)
		failed++;

	/* A start on it fails with the same line. */
	int ws = 0;
	char *log = itest_run_must_exit(&t, "start-bad.log", 15000, &ws);
	if (!log || !WIFEXITED(ws) || WEXITSTATUS(ws) == 0 || !strstr(log, in_log)) {
		print_error("start: got %s, log:\n%s\nwant a non-zero exit and:\n%s\n", log ? "an exit" : "no exit",
		            log ? log : "", in_log);
		failed++;
	}
	free(log);
	free(in_log);
	free(want);
	free(pos);
	itest_teardown(&t, failed != 0);
	assert_int_equal(failed, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty_key_is_422_and_nothing_stored),
	    cmocka_unit_test(test_template_error_stops_reload_and_start),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
