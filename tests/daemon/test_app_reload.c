/* test_app_reload.c: hot reload under traffic (SIGHUP and `casegate reload`), the pid file lock, `casegate status`. */
/* labels: integration */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "opstest.h"

static const char *demo_v1 = "  - name: demo\n"
			     "    type: generic\n"
			     "    auth: { bearer: tok-demo }\n"
			     "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
			     "    case_type: 00000000-0000-0000-0000-000000000001\n"
			     "    title: \"v1 {{title}}\"\n";

/* demo's title template changed and a new source added. */
static const char *demo_v2 = "  - name: demo\n"
			     "    type: generic\n"
			     "    auth: { bearer: tok-demo }\n"
			     "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
			     "    case_type: 00000000-0000-0000-0000-000000000001\n"
			     "    title: \"v2 {{title}}\"\n"
			     "  - name: extra\n"
			     "    type: generic\n"
			     "    auth: { bearer: tok-extra }\n"
			     "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
			     "    case_type: 00000000-0000-0000-0000-000000000001\n"
			     "    title: \"extra {{title}}\"\n";

/* Invalid: an unclosed section in a template. */
static const char *demo_bad = "  - name: demo\n"
			      "    type: generic\n"
			      "    auth: { bearer: tok-demo }\n"
			      "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
			      "    case_type: 00000000-0000-0000-0000-000000000001\n"
			      "    title: \"{{#labels}}never closed\"\n";

struct poster {
	struct itest *t;
	atomic_int stop;
	int sent, accepted, failed;
	long last_bad_status;
	pthread_t th;
	int running;
};

/* Static, not on the test's stack: a failed assertion leaves the test function while the
 * poster thread still runs; the teardown stops it. */
static struct itest reload_t;
static struct poster reload_p;

static void poster_stop(struct poster *p)
{
	if (!p->running)
		return;
	atomic_store(&p->stop, 1);
	pthread_join(p->th, NULL);
	p->running = 0;
}

static int reload_teardown(void **state)
{
	(void)state;
	poster_stop(&reload_p);
	itest_teardown(&reload_t, 0);
	return 0;
}

static void *poster_main(void *ud)
{
	struct poster *p = ud;
	while (!atomic_load(&p->stop)) {
		char *body = cg_h_fmt("{\"title\":\"flow-%d\",\"status\":\"firing\",\"id\":\"flow-%d\"}", p->sent, p->sent);
		long st = itest_post(p->t, "demo", "tok-demo", body, NULL);
		free(body);
		p->sent++;
		if (st == 202) {
			p->accepted++;
		} else {
			p->failed++;
			p->last_bad_status = st;
		}
	}
	return NULL;
}

static int count_titles(struct itest *t, const char *prefix)
{
	cJSON *doc = itest_cases(t);
	int n = 0;
	const cJSON *c;
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(doc, "cases"))
	{
		const char *title = itest_case_attr(c, "title");
		if (title && strncmp(title, prefix, strlen(prefix)) == 0)
			n++;
	}
	cJSON_Delete(doc);
	return n;
}

struct cases_wait {
	struct itest *t;
	int want;
};

static int all_delivered(void *ud)
{
	struct cases_wait *w = ud;
	return itest_ncases(w->t) >= w->want && itest_metric(w->t, "casegate_queue_depth", NULL) == 0;
}

static int reloads_seen(void *ud)
{
	struct ops_metric_wait *w = ud;
	return itest_metric(w->t, w->name, NULL) >= w->want;
}

/* Valid reload under load: new source works, template change applies, nothing fails or is lost;
 * invalid reload (CLI and raw SIGHUP): rejected, errors logged, old config kept. */
static void test_reload_under_traffic(void **state)
{
	(void)state;
	struct itest *tp = &reload_t;
	assert_int_equal(itest_setup(tp, "cg-reload"), 0);
	/* Latency keeps operations in flight while the config is swapped under them. */
	const char *sim_args[] = {"--latency-ms", "20", NULL};
	assert_int_equal(itest_start_sim(tp, sim_args), 0);
	assert_int_equal(itest_write_config(tp, NULL, demo_v1), 0);
	assert_int_equal(itest_start_gw(tp), 0);
	/* libcurl's global init on this thread before the poster thread uses it. */
	assert_int_equal(itest_post(tp, "demo", "tok-demo", "{\"title\":\"warmup\",\"status\":\"firing\",\"id\":\"w\"}", NULL),
			 202);

	struct poster *pp = &reload_p;
	memset(pp, 0, sizeof(*pp));
	pp->t = tp;
	atomic_init(&pp->stop, 0);
	assert_int_equal(pthread_create(&pp->th, NULL, poster_main, pp), 0);
	pp->running = 1;
	/* Let traffic flow before and after each reload. */
	struct timespec pause = {0, 300 * 1000 * 1000};
	nanosleep(&pause, NULL);

	assert_int_equal(itest_write_config(tp, NULL, demo_v2), 0);
	char *out = NULL;
	const char *reload[] = {"reload", "-c", tp->cfg_path, NULL};
	int rc = ops_run_casegate(tp, reload, &out);
	if (rc != 0 || !out || !strstr(out, "reloaded")) {
		fprintf(stderr, "casegate reload: got exit %d, output: %s; want 0 and \"reloaded\"\n", rc, out ? out : "");
		cg_h_dump_log(&tp->gw);
		fail();
	}
	free(out);
	nanosleep(&pause, NULL);
	assert_int_equal(itest_post(tp, "extra", "tok-extra", "{\"title\":\"new-source\",\"status\":\"firing\",\"id\":\"x1\"}",
				    NULL),
			 202);

	/* An invalid config: the CLI refuses to signal... */
	assert_int_equal(itest_write_config(tp, NULL, demo_bad), 0);
	rc = ops_run_casegate(tp, reload, &out);
	if (rc != 1 || !out || !strstr(out, "not signalled")) {
		fprintf(stderr, "casegate reload (invalid): got exit %d, output: %s; want 1 and \"not signalled\"\n", rc,
			out ? out : "");
		fail();
	}
	free(out);
	/* ...and a raw SIGHUP (as `kill -HUP` would) is rejected by the daemon, which keeps v2. */
	kill(tp->gw.pid, SIGHUP);
	struct ops_metric_wait mw = {tp, "casegate_config_reload_failures_total", NULL, 1};
	if (!cg_h_poll(reloads_seen, &mw, 10000)) {
		fprintf(stderr, "reload failures: got %g, want 1\n", itest_metric(tp, mw.name, NULL));
		fail();
	}
	assert_true(cg_h_wait_log(&tp->gw, "reload rejected", 5000));
	assert_true(cg_h_wait_log(&tp->gw, "unclosed section", 5000)); /* the error says what is wrong */
	double last_ok = itest_metric(tp, "casegate_config_last_reload_success", NULL);
	if (last_ok != 0) {
		fprintf(stderr, "casegate_config_last_reload_success: got %g, want 0\n", last_ok);
		fail();
	}
	nanosleep(&pause, NULL);
	poster_stop(pp);
	assert_int_equal(itest_post(tp, "extra", "tok-extra", "{\"title\":\"still-there\",\"status\":\"firing\",\"id\":\"x2\"}",
				    NULL),
			 202);

	if (pp->failed != 0 || pp->accepted < 20) {
		fprintf(stderr, "poster: got %d accepted, %d failed (last status %ld) of %d; want 0 failed, >= 20 accepted\n",
			pp->accepted, pp->failed, pp->last_bad_status, pp->sent);
		fail();
	}
	fprintf(stderr, "reload under traffic: %d requests, %d accepted, %d failed\n", pp->sent, pp->accepted, pp->failed);
	/* Every accepted event became a case: warmup + flow-* + two on extra. */
	struct cases_wait cw = {tp, 1 + pp->accepted + 2};
	if (!cg_h_poll(all_delivered, &cw, 60000)) {
		fprintf(stderr, "cases: got %d, want %d (queue depth %g)\n", itest_ncases(tp), cw.want,
			itest_metric(tp, "casegate_queue_depth", NULL));
		cg_h_dump_log(&tp->gw);
		fail();
	}
	assert_int_equal(itest_ncases(tp), cw.want);
	int v1 = count_titles(tp, "v1 "), v2 = count_titles(tp, "v2 "), extra = count_titles(tp, "extra ");
	if (v2 == 0 || v1 == 0 || extra != 2 || v1 + v2 != 1 + pp->accepted) {
		fprintf(stderr, "titles: got v1 %d, v2 %d, extra %d; want both v1 and v2 > 0 summing to %d, extra 2\n", v1,
			v2, extra, 1 + pp->accepted);
		fail();
	}
	double reloads = itest_metric(tp, "casegate_config_reloads_total", NULL);
	if (reloads != 1) {
		fprintf(stderr, "casegate_config_reloads_total: got %g, want 1\n", reloads);
		fail();
	}
	assert_int_equal(WEXITSTATUS(cg_h_stop(&tp->gw, SIGTERM)), 0);
	tp->gw_running = 0;
}

/* One daemon per state_dir: the pid file names it, a second one refuses to start, and
 * `reload` without a daemon says so. */
static void test_pidfile(void **state)
{
	(void)state;
	struct itest t;
	assert_int_equal(itest_setup(&t, "cg-pid"), 0);
	assert_int_equal(itest_start_sim(&t, NULL), 0);
	assert_int_equal(itest_write_config(&t, NULL, demo_v1), 0);
	assert_int_equal(itest_start_gw(&t), 0);

	char *pidpath = cg_h_fmt("%s/state/casegate.pid", t.dir);
	char *text = cg_h_read_file(pidpath, NULL);
	assert_non_null(text);
	long pid = strtol(text, NULL, 10);
	if (pid != (long)t.gw.pid) {
		fprintf(stderr, "pid file: got %ld, want %ld\n", pid, (long)t.gw.pid);
		fail();
	}
	free(text);

	char *out = NULL;
	const char *run2[] = {"run", "-c", t.cfg_path, "--datadog-url", t.sim_url, NULL};
	int rc = ops_run_casegate(&t, run2, &out);
	if (rc == 0 || !out || !strstr(out, "locked by another casegate")) {
		fprintf(stderr, "second daemon: got exit %d, output: %s; want a failure naming the lock\n", rc,
			out ? out : "");
		fail();
	}
	free(out);
	/* The first daemon is unharmed. */
	assert_int_equal(itest_post(&t, "demo", "tok-demo", "{\"title\":\"a\",\"status\":\"firing\",\"id\":\"a\"}", NULL),
			 202);

	assert_int_equal(WEXITSTATUS(cg_h_stop(&t.gw, SIGTERM)), 0);
	t.gw_running = 0;
	if (access(pidpath, F_OK) == 0) {
		fprintf(stderr, "pid file: still there after exit, want removed\n");
		fail();
	}
	const char *reload[] = {"reload", "-c", t.cfg_path, NULL};
	rc = ops_run_casegate(&t, reload, &out);
	if (rc != 1 || !out || !strstr(out, "no casegate is running")) {
		fprintf(stderr, "reload without daemon: got exit %d, output: %s\n", rc, out ? out : "");
		fail();
	}
	free(out);
	free(pidpath);
	itest_teardown(&t, 0);
}

static const cJSON *status_source(const cJSON *doc, const char *name)
{
	const cJSON *s;
	cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(doc, "sources"))
	{
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(s, "name");
		if (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0)
			return s;
	}
	return NULL;
}

static double num(const cJSON *o, const char *path1, const char *path2)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, path1);
	if (path2)
		v = cJSON_GetObjectItemCaseSensitive(v, path2);
	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static cJSON *run_status(struct itest *t)
{
	char *out = NULL;
	const char *args[] = {"status", "-c", t->cfg_path, "--json", NULL};
	int rc = ops_run_casegate(t, args, &out);
	cJSON *doc = rc == 0 && out ? cJSON_Parse(out) : NULL;
	if (!doc)
		fprintf(stderr, "casegate status --json: got exit %d, output: %s; want 0 and JSON\n", rc, out ? out : "");
	free(out);
	return doc;
}

/* `casegate status`: last delivery per source with its case; waiting events and their age
 * while the Case API is down; works with the daemon stopped. */
static void test_status(void **state)
{
	(void)state;
	struct itest t;
	assert_int_equal(itest_setup(&t, "cg-status"), 0);
	assert_int_equal(itest_start_sim(&t, NULL), 0);
	assert_int_equal(itest_write_config(&t, NULL, demo_v2), 0);
	assert_int_equal(itest_start_gw(&t), 0);
	assert_int_equal(itest_post(&t, "demo", "tok-demo", "{\"title\":\"s1\",\"status\":\"firing\",\"id\":\"s1\"}", NULL),
			 202);
	struct itest_wait w = {&t, 1};
	assert_true(cg_h_poll(itest_has_ncases, &w, 15000));
	struct ops_metric_wait mw = {&t, "casegate_events_total", "action=\"created\"", 1};
	assert_true(cg_h_poll(ops_metric_at_least, &mw, 10000));

	cJSON *doc = run_status(&t);
	assert_non_null(doc);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "daemon"), "running")));
	if (num(doc, "daemon", "pid") != (double)t.gw.pid) {
		fprintf(stderr, "status pid: got %g, want %ld\n", num(doc, "daemon", "pid"), (long)t.gw.pid);
		fail();
	}
	const cJSON *demo = status_source(doc, "demo"), *extra = status_source(doc, "extra");
	assert_non_null(demo);
	assert_non_null(extra);
	if (num(demo, "delivered", NULL) != 1 || !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(demo, "last_case")) ||
	    !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(demo, "last_delivery"))) {
		char *s = cJSON_Print(demo);
		fprintf(stderr, "status demo: got %s; want delivered 1 with last_case and last_delivery\n", s);
		free(s);
		fail();
	}
	assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(extra, "last_delivery")));
	cJSON_Delete(doc);

	/* Case API down: events wait, and status shows them with their age. */
	cg_h_stop(&t.sim, SIGTERM);
	t.sim_running = 0;
	for (int i = 0; i < 3; i++) {
		char *body = cg_h_fmt("{\"title\":\"q%d\",\"status\":\"firing\",\"id\":\"q%d\"}", i, i);
		assert_int_equal(itest_post(&t, "extra", "tok-extra", body, NULL), 202);
		free(body);
	}
	assert_int_equal(WEXITSTATUS(cg_h_stop(&t.gw, SIGTERM)), 0);
	t.gw_running = 0;
	doc = run_status(&t);
	assert_non_null(doc);
	assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "daemon"), "running")));
	extra = status_source(doc, "extra");
	if (num(doc, "queue", "depth") != 3 || num(extra, "pending", NULL) != 3 || num(doc, "queue", "oldest_age_seconds") < 0 ||
	    num(extra, "oldest_age_seconds", NULL) < 0) {
		char *s = cJSON_Print(doc);
		fprintf(stderr, "status: got %s; want queue depth 3, extra pending 3 with ages\n", s);
		free(s);
		fail();
	}
	cJSON_Delete(doc);

	/* The text form names the columns and the source. */
	char *out = NULL;
	const char *args[] = {"status", "-c", t.cfg_path, NULL};
	assert_int_equal(ops_run_casegate(&t, args, &out), 0);
	if (!out || !strstr(out, "3 event(s) waiting") || !strstr(out, "LAST DELIVERY") || !strstr(out, "extra")) {
		fprintf(stderr, "status text: got %s\n", out ? out : "(none)");
		fail();
	}
	free(out);
	itest_teardown(&t, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_reload_under_traffic, reload_teardown),
		cmocka_unit_test(test_pidfile),
		cmocka_unit_test(test_status),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
