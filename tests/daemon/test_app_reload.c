/* test_app_reload.c: hot reload under traffic (SIGHUP and `casegate reload`), the pid file lock, `casegate status`. */
/* labels: integration */
#define _GNU_SOURCE /* strcasestr */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

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

/* ---- one kept-alive HTTP/1.1 connection, by hand (libcurl would hide a reconnect) ---- */

static int ka_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* Generous: a loaded 2-core machine may take seconds to answer; a dropped connection is
	 * seen at once (EOF), not by this timeout. */
	struct timeval tv = {30, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int ka_send(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads one response; its status, or 0 when the connection was closed or broke. *closing: the
 * server said Connection: close. */
static long ka_response(int fd, int *closing)
{
	char buf[8192];
	size_t n = 0;
	char *end = NULL;
	while (!end) {
		if (n + 1 >= sizeof(buf))
			return 0;
		ssize_t r = recv(fd, buf + n, sizeof(buf) - 1 - n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return 0;
		n += (size_t)r;
		buf[n] = '\0';
		end = strstr(buf, "\r\n\r\n");
	}
	long status = strncmp(buf, "HTTP/1.1 ", 9) == 0 ? strtol(buf + 9, NULL, 10) : 0;
	const char *cl = strcasestr(buf, "\r\nContent-Length:");
	long want = cl ? strtol(cl + 17, NULL, 10) : 0;
	*closing = strcasestr(buf, "\r\nConnection: close") != NULL;
	long have = (long)(n - (size_t)(end + 4 - buf));
	while (have < want) {
		ssize_t r = recv(fd, buf, sizeof(buf), 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return 0;
		have += r;
	}
	return status;
}

/* The head of a POST to /hooks/demo whose body is body_len bytes. */
static char *ka_head(size_t body_len)
{
	return cg_h_fmt("POST /hooks/demo HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer tok-demo\r\n"
			"Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
			body_len);
}

struct poster {
	struct itest *t;
	atomic_int stop;
	atomic_int accepted;
	int sent, failed, connections;
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

/* Posts over one kept-alive connection for the whole test: a reload that dropped or closed it
 * would show as a failure and a second connection. */
static void *poster_main(void *ud)
{
	struct poster *p = ud;
	int fd = -1;
	while (!atomic_load(&p->stop)) {
		if (fd < 0) {
			fd = ka_connect(p->t->gw_port);
			p->connections++;
			if (fd < 0) {
				p->failed++;
				break;
			}
		}
		char *body = cg_h_fmt("{\"title\":\"flow-%d\",\"status\":\"firing\",\"id\":\"flow-%d\"}", p->sent, p->sent);
		char *head = ka_head(strlen(body));
		int closing = 0;
		long st = ka_send(fd, head, strlen(head)) == 0 && ka_send(fd, body, strlen(body)) == 0
				  ? ka_response(fd, &closing)
				  : 0;
		free(head);
		free(body);
		p->sent++;
		if (st == 202) {
			atomic_fetch_add(&p->accepted, 1);
		} else {
			p->failed++;
			p->last_bad_status = st;
		}
		if (st == 0 || closing) {
			close(fd);
			fd = -1;
		}
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

/* The poster got at least want answers 202 (traffic flows). */
struct flow_wait {
	struct poster *p;
	int want;
};

static int flowed(void *ud)
{
	struct flow_wait *w = ud;
	return atomic_load(&w->p->accepted) >= w->want;
}

static void wait_flow(struct poster *p, int more)
{
	struct flow_wait w = {p, atomic_load(&p->accepted) + more};
	if (!cg_h_poll(flowed, &w, 30000))
		fail_msg("poster: got %d accepted, want %d (failed %d, last status %ld)", atomic_load(&p->accepted), w.want,
			 p->failed, p->last_bad_status);
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
	struct itest_metric_wait *w = ud;
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
	assert_int_equal(itest_post(tp, "demo", "tok-demo", "{\"title\":\"warmup\",\"status\":\"firing\",\"id\":\"w\"}", NULL),
			 202);

	struct poster *pp = &reload_p;
	memset(pp, 0, sizeof(*pp));
	pp->t = tp;
	atomic_init(&pp->stop, 0);
	atomic_init(&pp->accepted, 0);
	assert_int_equal(pthread_create(&pp->th, NULL, poster_main, pp), 0);
	pp->running = 1;
	/* Traffic flows before and after each reload (counted, not timed). */
	wait_flow(pp, 10);

	/* A request in flight across the reload, on its own kept-alive connection: its head and
	 * half its body before the reload, the rest after; then a second request on the same
	 * connection. Both must be answered 202 on it. */
	const char *held_body = "{\"title\":\"held\",\"status\":\"firing\",\"id\":\"held\"}";
	size_t held_len = strlen(held_body), half = held_len / 2;
	char *held_head = ka_head(held_len);
	int held = ka_connect(tp->gw_port);
	assert_true(held >= 0);
	assert_int_equal(ka_send(held, held_head, strlen(held_head)), 0);
	assert_int_equal(ka_send(held, held_body, half), 0);
	free(held_head);

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
	/* A source a reload adds gets its 0 samples too (dashboards read 0, not "no data"). */
	char *metrics = NULL;
	assert_int_equal(itest_get(tp, "/metrics", &metrics), 200);
	if (!metrics || !strstr(metrics, "\ncasegate_dead_letters_total{source=\"extra\"} 0\n") ||
	    !strstr(metrics, "\ncasegate_events_total{source=\"extra\",action=\"created\"} 0\n"))
		fail_msg("after a reload adding source extra: want its 0 samples in:\n%s", metrics ? metrics : "(none)");
	free(metrics);
	/* The reload was applied (the new source answers) while the request was half sent. */
	assert_int_equal(itest_post(tp, "extra", "tok-extra", "{\"title\":\"new-source\",\"status\":\"firing\",\"id\":\"x1\"}",
				    NULL),
			 202);
	int closing = 0;
	assert_int_equal(ka_send(held, held_body + half, held_len - half), 0);
	long held_st = ka_response(held, &closing);
	if (held_st != 202 || closing)
		fail_msg("request in flight across the reload: got %ld%s, want 202 on a connection kept alive", held_st,
			 closing ? " with Connection: close" : "");
	const char *after_body = "{\"title\":\"after\",\"status\":\"firing\",\"id\":\"after\"}";
	char *after_head = ka_head(strlen(after_body));
	assert_int_equal(ka_send(held, after_head, strlen(after_head)), 0);
	assert_int_equal(ka_send(held, after_body, strlen(after_body)), 0);
	free(after_head);
	held_st = ka_response(held, &closing);
	close(held);
	if (held_st != 202)
		fail_msg("second request on the connection kept across the reload: got %ld, want 202", held_st);
	wait_flow(pp, 10);

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
	struct itest_metric_wait mw = {tp, "casegate_config_reload_failures_total", NULL, 1};
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
	wait_flow(pp, 10);
	poster_stop(pp);
	assert_int_equal(itest_post(tp, "extra", "tok-extra", "{\"title\":\"still-there\",\"status\":\"firing\",\"id\":\"x2\"}",
				    NULL),
			 202);

	int accepted = atomic_load(&pp->accepted);
	if (pp->failed != 0 || accepted < 30 || pp->connections != 1) {
		fprintf(stderr,
			"poster: got %d accepted, %d failed (last status %ld) of %d over %d connection(s); want 0 failed, "
			">= 30 accepted, one kept-alive connection\n",
			accepted, pp->failed, pp->last_bad_status, pp->sent, pp->connections);
		fail();
	}
	fprintf(stderr, "reload under traffic: %d requests on one connection, %d accepted, %d failed\n", pp->sent,
		accepted, pp->failed);
	/* Every accepted event became a case: warmup + flow-* + held + after + two on extra. */
	struct cases_wait cw = {tp, 1 + accepted + 2 + 2};
	if (!cg_h_poll(all_delivered, &cw, 60000)) {
		fprintf(stderr, "cases: got %d, want %d (queue depth %g)\n", itest_ncases(tp), cw.want,
			itest_metric(tp, "casegate_queue_depth", NULL));
		cg_h_dump_log(&tp->gw);
		fail();
	}
	assert_int_equal(itest_ncases(tp), cw.want);
	int v1 = count_titles(tp, "v1 "), v2 = count_titles(tp, "v2 "), extra = count_titles(tp, "extra ");
	/* The held request finished after the reload: v2's title. */
	if (v2 == 0 || v1 == 0 || extra != 2 || v1 + v2 != 1 + accepted + 2 || count_titles(tp, "v2 held") != 1) {
		fprintf(stderr,
			"titles: got v1 %d, v2 %d, extra %d, \"v2 held\" %d; want both v1 and v2 > 0 summing to %d, extra 2, "
			"one \"v2 held\"\n",
			v1, v2, extra, count_titles(tp, "v2 held"), 1 + accepted + 2);
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

/* The daemon's environment is the one that counts: a config that now uses a ${VAR} the daemon
 * was started without is rejected by the daemon even when the operator's --env-file has it, and
 * the answer says a restart with the variable set is what it takes. */
static void test_reload_new_variable(void **state)
{
	(void)state;
	struct itest t;
	unsetenv("CG_T_NEWV");
	assert_int_equal(itest_setup(&t, "cg-newvar"), 0);
	assert_int_equal(itest_start_sim(&t, NULL), 0);
	assert_int_equal(itest_write_config(&t, NULL, demo_v1), 0);
	assert_int_equal(itest_start_gw(&t), 0);
	static const char with_var[] = "  - name: demo\n"
				       "    type: generic\n"
				       "    auth: { bearer: \"${CG_T_NEWV}\" }\n"
				       "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
				       "    case_type: 00000000-0000-0000-0000-000000000001\n";
	assert_int_equal(itest_write_config(&t, NULL, with_var), 0);
	char *envfile = cg_h_fmt("%s/casegate.env", t.dir);
	assert_int_equal(cg_h_write_file(envfile, "CG_T_NEWV=new-token\n", 20), 0);
	char *out = NULL;
	const char *reload[] = {"reload", "-c", t.cfg_path, "--env-file", envfile, NULL};
	int rc = ops_run_casegate(&t, reload, &out);
	if (rc != 1 || !out || !strstr(out, "environment variable CG_T_NEWV is not set") ||
	    !strstr(out, "restart casegate with the variable set"))
		fail_msg("reload with a variable only the operator has: got exit %d, output:\n%s\nwant 1, the variable "
			 "named and a restart asked for",
			 rc, out ? out : "");
	free(out);
	assert_true(cg_h_wait_log(&t.gw, "a reload re-reads the config, not the environment", 5000));
	/* The running configuration stays: the old token still works. */
	assert_int_equal(itest_post(&t, "demo", "tok-demo", "{\"title\":\"a\",\"status\":\"firing\",\"id\":\"a\"}", NULL),
			 202);
	free(envfile);
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
	struct itest_metric_wait mw = {&t, "casegate_events_total", "action=\"created\"", 1};
	assert_true(cg_h_poll(itest_metric_reached, &mw, 10000));

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
	char *case1 = strdup(cJSON_GetObjectItemCaseSensitive(demo, "last_case")->valuestring);
	cJSON_Delete(doc);

	/* A resolution for an alert that has no case is delivered as "ignored": LAST CASE stays
	 * the last case the source made, not "-". */
	assert_int_equal(itest_post(&t, "demo", "tok-demo", "{\"title\":\"s9\",\"status\":\"resolved\",\"id\":\"s9\"}", NULL),
			 202);
	struct itest_metric_wait iw = {&t, "casegate_events_total", "action=\"ignored\"", 1};
	assert_true(cg_h_poll(itest_metric_reached, &iw, 10000));
	doc = run_status(&t);
	assert_non_null(doc);
	demo = status_source(doc, "demo");
	const cJSON *lc = cJSON_GetObjectItemCaseSensitive(demo, "last_case");
	if (num(demo, "delivered", NULL) != 2 || !cJSON_IsString(lc) || strcmp(lc->valuestring, case1) != 0) {
		char *s = cJSON_Print(demo);
		fprintf(stderr, "status demo after an ignored resolve: got %s; want delivered 2, last_case %s\n", s, case1);
		free(s);
		fail();
	}
	free(case1);
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
		cmocka_unit_test(test_reload_new_variable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
