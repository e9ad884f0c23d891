/* test_webhook_alertmanager_e2e.c: end to end with the real Alertmanager (and Prometheus): alerts -> webhook -> casegate -> cases. */
/* labels: e2e */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"

/* Debian's path; CG_ALERTMANAGER overrides it (e.g. an upstream `alertmanager` binary). */
#define AM_BIN "/usr/bin/prometheus-alertmanager"
/* Debian's path; CG_PROMETHEUS overrides it. */
#define PROM_BIN "/usr/bin/prometheus"
#define AM_TOKEN "e2e-am-token-7f3c9a"
/* Every test, start to finish, fits in this budget; each wait takes what is left of it. */
#define BUDGET_MS 90000u

static const char *am_source = "  - name: am\n"
			       "    type: alertmanager\n"
			       "    auth: { bearer: " AM_TOKEN " }\n"
			       "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
			       "    case_type: 00000000-0000-0000-0000-000000000001\n"
			       /* Repeats from Alertmanager (repeat_interval 2s) become comments. */
			       "    digest_interval: 1s\n";

struct e2e {
	struct itest t;
	struct cg_h_proc am;
	int am_running, am_port;
	char am_url[64];
	char am_cfg[600];
	uint64_t end_ms;
	int passed, skipped, started;
	int gw_status; /* casegate's wait status once stopped */
	struct cg_h_proc prom;
	int prom_running, prom_port;
	int target_fd;     /* the scrape target's socket: bound (refusing) until it listens */
	pid_t target_pid;  /* the child serving /metrics on target_fd, once started */
};

static const char *am_bin(void)
{
	const char *b = getenv("CG_ALERTMANAGER");
	return b && *b ? b : AM_BIN;
}

static const char *prom_bin(void)
{
	const char *b = getenv("CG_PROMETHEUS");
	return b && *b ? b : PROM_BIN;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* What is left of the test's budget, capped at cap_ms (at least 1 ms so a poll runs once). */
static unsigned left_ms(const struct e2e *e, unsigned cap_ms)
{
	uint64_t now = mono_ms();
	uint64_t left = e->end_ms > now ? e->end_ms - now : 1;
	return left < cap_ms ? (unsigned)left : cap_ms;
}

/* Replaces every @KEY@ of vars ({"KEY", "value", ..., NULL}) in text; malloc'd result. */
static char *fill_template(const char *text, const char *const vars[])
{
	size_t cap = strlen(text) + 1;
	for (size_t i = 0; vars[i]; i += 2)
		cap += 8 * strlen(vars[i + 1]); /* generous: each key appears a few times at most */
	char *out = malloc(cap);
	if (!out)
		return NULL;
	size_t n = 0;
	for (const char *p = text; *p;) {
		int done = 0;
		for (size_t i = 0; *p == '@' && vars[i]; i += 2) {
			size_t kl = strlen(vars[i]);
			if (strncmp(p + 1, vars[i], kl) == 0 && p[1 + kl] == '@') {
				size_t vl = strlen(vars[i + 1]);
				if (n + vl >= cap) {
					free(out);
					return NULL;
				}
				memcpy(out + n, vars[i + 1], vl);
				n += vl;
				p += kl + 2;
				done = 1;
				break;
			}
		}
		if (!done) {
			if (n + 1 >= cap) {
				free(out);
				return NULL;
			}
			out[n++] = *p++;
		}
	}
	out[n] = '\0';
	return out;
}

static void iso_time(char buf[32], time_t t)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

struct http_ok {
	const char *url;
	long want;
	struct cg_h_proc *proc;
	int dead;
};

static int http_answers(void *ud)
{
	struct http_ok *w = ud;
	if (w->proc && !cg_h_alive(w->proc)) {
		w->dead = 1;
		return 1;
	}
	struct cg_h_resp r;
	int ok = cg_h_http("GET", w->url, NULL, NULL, 0, &r) == 0 && r.status == w->want;
	cg_h_resp_free(&r);
	return ok;
}

/* Writes tests/fixtures/e2e/<name> with its @KEY@s filled in to out. */
static int write_fixture(const char *name, const char *const vars[], const char *out)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/tests/fixtures/e2e/%s", cg_h_source_dir(), name);
	char *tmpl = cg_h_read_file(path, NULL);
	if (!tmpl) {
		fprintf(stderr, "cannot read %s\n", path);
		return -1;
	}
	char *cfg = fill_template(tmpl, vars);
	free(tmpl);
	int rc = cfg ? cg_h_write_file(out, cfg, strlen(cfg)) : -1;
	free(cfg);
	return rc;
}

/*
 * Spawns argv (a Prometheus-family server listening on 127.0.0.1:port) and polls its /-/ready:
 * 0 ready (*running set); 1 it died, most likely because the port was taken meanwhile (try
 * another); -1 it did not spawn, or ran but never got ready (another attempt would not help).
 */
static int spawn_ready(struct e2e *e, struct cg_h_proc *p, int *running, char *const argv[], const char *log, int port)
{
	if (cg_h_spawn(p, argv, NULL, log) != 0)
		return -1;
	*running = 1;
	char ready[128];
	snprintf(ready, sizeof(ready), "http://127.0.0.1:%d/-/ready", port);
	struct http_ok w = {ready, 200, p, 0};
	int ok = cg_h_poll(http_answers, &w, left_ms(e, 20000));
	if (ok && !w.dead)
		return 0;
	cg_h_dump_log(p);
	cg_h_stop(p, SIGKILL);
	*running = 0;
	return w.dead ? 1 : -1;
}

/* Starts Alertmanager with a fixture config (its @KEY@s from vars) pointed at casegate; retries when
 * the port was taken. */
static int start_am_with(struct e2e *e, const char *fixture, const char *const vars[])
{
	snprintf(e->am_cfg, sizeof(e->am_cfg), "%s/alertmanager.yml", e->t.dir);
	if (write_fixture(fixture, vars, e->am_cfg) != 0)
		return -1;

	for (int attempt = 0; attempt < 3; attempt++) {
		e->am_port = cg_h_free_port(); /* Alertmanager and Prometheus cannot be told to bind port 0 and report it */
		if (e->am_port <= 0)
			return -1;
		char cfg_arg[700], storage[700], listen[64], log[600];
		snprintf(cfg_arg, sizeof(cfg_arg), "--config.file=%s", e->am_cfg);
		snprintf(storage, sizeof(storage), "--storage.path=%s/am-data", e->t.dir);
		snprintf(listen, sizeof(listen), "--web.listen-address=127.0.0.1:%d", e->am_port);
		snprintf(log, sizeof(log), "%s/alertmanager.%d.log", e->t.dir, attempt);
		/* An empty cluster address disables gossip: no second port, no peers to wait for. */
		char *const argv[] = {(char *)am_bin(), cfg_arg, storage, listen, "--cluster.listen-address=",
				      "--log.level=debug", NULL};
		snprintf(e->am_url, sizeof(e->am_url), "http://127.0.0.1:%d", e->am_port);
		int rc = spawn_ready(e, &e->am, &e->am_running, argv, log, e->am_port);
		if (rc <= 0)
			return rc;
	}
	return -1;
}

static int start_am(struct e2e *e)
{
	const char *vars[] = {"CASEGATE_URL", e->t.gw_url, "TOKEN", AM_TOKEN, NULL};
	return start_am_with(e, "alertmanager.yml", vars);
}

/* Stops Prometheus and Alertmanager first (so nothing is sent to a stopping casegate), then casegate and the sim. */
static void stop_all(struct e2e *e)
{
	if (e->prom_running) {
		cg_h_stop(&e->prom, SIGTERM);
		e->prom_running = 0;
	}
	if (e->target_pid > 0) {
		kill(e->target_pid, SIGKILL);
		waitpid(e->target_pid, NULL, 0);
		e->target_pid = 0;
	}
	if (e->target_fd >= 0) {
		close(e->target_fd);
		e->target_fd = -1;
	}
	if (e->am_running) {
		cg_h_stop(&e->am, SIGTERM);
		e->am_running = 0;
	}
	if (e->t.gw_running) {
		e->gw_status = cg_h_stop(&e->t.gw, SIGTERM);
		e->t.gw_running = 0;
	}
	if (e->t.sim_running) {
		cg_h_stop(&e->t.sim, SIGTERM);
		e->t.sim_running = 0;
	}
}

/* The simulator and casegate with these sources. */
static void start_gw_sim(struct e2e *e, const char *sources)
{
	assert_int_equal(itest_setup(&e->t, "cg-e2e-am"), 0);
	e->started = 1;
	snprintf(e->t.req_log, sizeof(e->t.req_log), "%s/requests.jsonl", e->t.dir);
	const char *sim_args[] = {"--request-log", e->t.req_log, NULL};
	assert_int_equal(itest_start_sim(&e->t, sim_args), 0);
	assert_int_equal(itest_write_config(&e->t, NULL, sources), 0);
	assert_int_equal(itest_start_gw(&e->t), 0);
}

static void start_all(struct e2e *e)
{
	start_gw_sim(e, am_source);
	assert_int_equal(start_am(e), 0);
}

static int setup(void **state)
{
	struct e2e *e = calloc(1, sizeof(*e));
	if (!e)
		return -1;
	e->end_ms = mono_ms() + BUDGET_MS;
	e->target_fd = -1;
	*state = e;
	return 0;
}

static void dump_all(struct e2e *e)
{
	if (e->prom.log_path[0])
		cg_h_dump_log(&e->prom);
	if (e->am.log_path[0])
		cg_h_dump_log(&e->am);
	if (e->t.gw.log_path[0])
		cg_h_dump_log(&e->t.gw);
	if (e->t.sim.log_path[0])
		cg_h_dump_log(&e->t.sim);
	if (e->t.dir) {
		cJSON *cases = e->t.sim_running ? itest_cases(&e->t) : NULL;
		char *s = cases ? cJSON_Print(cases) : NULL;
		if (s)
			fprintf(stderr, "---- simulator cases ----\n%s\n", s);
		cJSON_free(s);
		cJSON_Delete(cases);
		fprintf(stderr, "test files kept in %s\n", e->t.dir);
	}
}

/* Runs even when an assertion failed: stops every process, keeps the files and dumps logs on failure. */
static int teardown(void **state)
{
	struct e2e *e = *state;
	if (e->started && !e->passed && !e->skipped)
		dump_all(e); /* before stopping: the sim's cases live in its memory */
	stop_all(e);
	if (e->started)
		itest_teardown(&e->t, !e->passed);
	free(e);
	return 0;
}

/* A macro so the skip line names the test, not a helper. */
#define skip_without_am(e)                                                                                             \
	do {                                                                                                           \
		if (access(am_bin(), X_OK) != 0) {                                                                     \
			(e)->skipped = 1;                                                                              \
			cg_h_skip("alertmanager", "%s not installed (apt-get install prometheus-alertmanager)",        \
				  am_bin());                                                                           \
		}                                                                                                      \
	} while (0)

/* POSTs alerts (a JSON array) to Alertmanager's API; asserts it took them. */
static void am_post(struct e2e *e, const char *alerts)
{
	char url[128];
	snprintf(url, sizeof(url), "%s/api/v2/alerts", e->am_url);
	const char *headers[] = {"Content-Type: application/json", NULL};
	struct cg_h_resp r;
	assert_int_equal(cg_h_http("POST", url, headers, alerts, strlen(alerts), &r), 0);
	if (r.status != 200)
		fprintf(stderr, "POST %s: got %ld (%s), want 200\n", url, r.status, r.body ? r.body : "");
	long st = r.status;
	cg_h_resp_free(&r);
	assert_int_equal(st, 200);
}

/* One alert object; ends_at NULL while firing, a past time to resolve it. */
static char *alert_json(const char *name, const char *instance, const char *severity, const char *starts_at,
			const char *ends_at)
{
	char ends[64] = "";
	if (ends_at)
		snprintf(ends, sizeof(ends), ",\"endsAt\":\"%s\"", ends_at);
	return cg_h_fmt("{\"labels\":{\"alertname\":\"%s\",\"instance\":\"%s\",\"severity\":\"%s\",\"job\":\"node\"},"
			"\"annotations\":{\"summary\":\"%s on %s\","
			"\"description\":\"%s has been failing on %s for a while.\"},"
			"\"startsAt\":\"%s\"%s,"
			"\"generatorURL\":\"http://prometheus.example.com/graph?g0.expr=up\"}",
			name, instance, severity, name, instance, name, instance, starts_at, ends);
}

/* ---- waits (all bounded by the test's budget) ---- */

struct case_wait {
	struct e2e *e;
	const char *needle;   /* title substring */
	int want_closed;      /* also wait for status Closed and a "Resolved" comment */
};

static int case_ready(void *ud)
{
	struct case_wait *w = ud;
	cJSON *cases = itest_cases(&w->e->t);
	cJSON *c = cases ? itest_find_case(cases, w->needle) : NULL;
	int ok = c && (!w->want_closed || (itest_case_closed(c) && itest_case_has_comment(c, "Resolved")));
	cJSON_Delete(cases);
	return ok;
}

static void wait_case(struct e2e *e, const char *needle, int want_closed)
{
	struct case_wait w = {e, needle, want_closed};
	if (!cg_h_poll(case_ready, &w, left_ms(e, 45000))) {
		fprintf(stderr, "got no %scase titled \"...%s...\" in time, want one\n", want_closed ? "closed " : "",
			needle);
		/* Tell "Alertmanager never got through" apart from "casegate did not deliver". */
		fprintf(stderr, "casegate saw %g webhook requests from am, %g auth failures\n",
			itest_metric(&e->t, "casegate_http_requests_total", "source=\"am\""),
			itest_metric(&e->t, "casegate_auth_failures_total", NULL));
		fail();
	}
}


/* Waits until casegate applied at least n events from source am (repeats included). */
static void wait_events_applied(struct e2e *e, double n)
{
	struct itest_metric_wait w = {&e->t, "casegate_events_total", "source=\"am\"", n};
	if (!cg_h_poll(itest_metric_reached, &w, left_ms(e, 45000))) {
		fprintf(stderr, "got %g events applied for source am, want >= %g\n",
			itest_metric(&e->t, w.name, w.labels), n);
		fail();
	}
}

static int count_cases_with(struct e2e *e, const char *needle)
{
	cJSON *cases = itest_cases(&e->t);
	assert_non_null(cases);
	int n = 0;
	const cJSON *c;
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(cases, "cases"))
	{
		const char *title = itest_case_attr(c, "title");
		n += title && strstr(title, needle);
	}
	cJSON_Delete(cases);
	return n;
}

static void expect_attr(const cJSON *c, const char *name, const char *want)
{
	const char *got = itest_case_attr(c, name);
	if (!got || strcmp(got, want) != 0)
		fprintf(stderr, "case %s: got \"%s\", want \"%s\"\n", name, got ? got : "(none)", want);
	assert_non_null(got);
	assert_string_equal(got, want);
}

/* casegate drains and exits 0 on SIGTERM (under CG_SANITIZE a leak report makes this fail). */
static void expect_clean_exit(struct e2e *e)
{
	int st = e->gw_status;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "got casegate wait status 0x%x on SIGTERM, want exit 0\n", (unsigned)st);
		cg_h_dump_log(&e->t.gw);
	}
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void check_contract(struct e2e *e)
{
	int rc = cg_h_validate_contract(e->t.req_log);
	if (rc != 77)
		assert_int_equal(rc, 0);
}

/* One alert: fires (case, P1 from critical), repeats (comments, still one case), resolves (comment, Closed). */
static void test_fire_repeat_resolve(void **state)
{
	struct e2e *e = *state;
	skip_without_am(e);
	start_all(e);

	char starts[32], ends[32];
	iso_time(starts, time(NULL) - 60);
	char *a = alert_json("HighErrorRate", "web-1", "critical", starts, NULL);
	char *body = cg_h_fmt("[%s]", a);
	am_post(e, body);

	wait_case(e, "HighErrorRate", 0);
	cJSON *cases = itest_cases(&e->t);
	cJSON *c = itest_find_case(cases, "HighErrorRate");
	assert_non_null(c);
	expect_attr(c, "priority", "P1");
	assert_false(itest_case_closed(c));
	const char *desc = itest_case_attr(c, "description");
	assert_non_null(desc);
	if (!strstr(desc, "web-1"))
		fprintf(stderr, "got description \"%s\", want it to mention web-1\n", desc);
	assert_non_null(strstr(desc, "web-1"));
	cJSON_Delete(cases);

	/* Re-posting while firing and Alertmanager's own repeats must not open a second case. */
	am_post(e, body);
	wait_events_applied(e, 3);
	assert_int_equal(itest_ncases(&e->t), 1);
	cases = itest_cases(&e->t);
	c = itest_find_case(cases, "HighErrorRate");
	assert_non_null(c);
	assert_false(itest_case_closed(c));
	if (itest_case_ncomments(c) < 1)
		fprintf(stderr, "got no repeat comment, want at least one (digest_interval 1s)\n");
	assert_true(itest_case_ncomments(c) >= 1);
	assert_false(itest_case_has_comment(c, "Resolved"));
	cJSON_Delete(cases);
	free(body);
	free(a);

	/* Resolution: the same labels with endsAt in the past. */
	iso_time(ends, time(NULL) - 1);
	a = alert_json("HighErrorRate", "web-1", "critical", starts, ends);
	body = cg_h_fmt("[%s]", a);
	am_post(e, body);
	free(body);
	free(a);
	wait_case(e, "HighErrorRate", 1);
	assert_int_equal(itest_ncases(&e->t), 1);
	assert_int_equal(itest_metric(&e->t, "casegate_auth_failures_total", NULL) > 0, 0);

	stop_all(e);
	expect_clean_exit(e);
	check_contract(e);
	e->passed = 1;
}

/* Two instances of one alert are two cases; resolving one closes only its own case. */
static void test_two_instances(void **state)
{
	struct e2e *e = *state;
	skip_without_am(e);
	start_all(e);

	char starts[32], ends[32];
	iso_time(starts, time(NULL) - 30);
	char *a1 = alert_json("DiskFull", "db-1", "warning", starts, NULL);
	char *a2 = alert_json("DiskFull", "db-2", "critical", starts, NULL);
	char *body = cg_h_fmt("[%s,%s]", a1, a2);
	am_post(e, body);

	wait_case(e, "DiskFull on db-1", 0);
	wait_case(e, "DiskFull on db-2", 0);
	cJSON *cases = itest_cases(&e->t);
	expect_attr(itest_find_case(cases, "DiskFull on db-1"), "priority", "P3");
	expect_attr(itest_find_case(cases, "DiskFull on db-2"), "priority", "P1");
	cJSON_Delete(cases);

	am_post(e, body);
	wait_events_applied(e, 4); /* two creates and at least one repeat of each group */
	int n = count_cases_with(e, "DiskFull");
	if (n != 2)
		fprintf(stderr, "got %d DiskFull cases, want 2\n", n);
	assert_int_equal(n, 2);
	free(body);
	free(a2);

	iso_time(ends, time(NULL) - 1);
	a2 = alert_json("DiskFull", "db-2", "critical", starts, ends);
	body = cg_h_fmt("[%s]", a2);
	am_post(e, body);
	wait_case(e, "DiskFull on db-2", 1);
	cases = itest_cases(&e->t);
	cJSON *c1 = itest_find_case(cases, "DiskFull on db-1");
	assert_non_null(c1);
	if (itest_case_closed(c1))
		fprintf(stderr, "got db-1's case closed, want it open (only db-2 resolved)\n");
	assert_false(itest_case_closed(c1));
	assert_false(itest_case_has_comment(c1, "Resolved"));
	cJSON_Delete(cases);
	assert_int_equal(count_cases_with(e, "DiskFull"), 2);
	free(body);
	free(a1);
	free(a2);

	stop_all(e);
	expect_clean_exit(e);
	check_contract(e);
	e->passed = 1;
}

/* ---- Prometheus: a rule that fires and resolves, evaluated by the real Prometheus ---- */

#define skip_without_prom(e)                                                                                           \
	do {                                                                                                           \
		if (access(prom_bin(), X_OK) != 0) {                                                                   \
			(e)->skipped = 1;                                                                              \
			cg_h_skip("prometheus", "%s not installed (apt-get install prometheus)", prom_bin());           \
		}                                                                                                      \
	} while (0)

/* The scrape target: a loopback socket, bound but not listening, so Prometheus's scrapes are refused
 * (up == 0) until target_serve; no other process can take the port meanwhile. Returns its port. */
static int target_bind(struct e2e *e)
{
	e->target_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (e->target_fd < 0)
		return -1;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t alen = sizeof(a);
	if (bind(e->target_fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    getsockname(e->target_fd, (struct sockaddr *)&a, &alen) != 0)
		return -1;
	return ntohs(a.sin_port);
}

/* The target recovers: a child answers every request on the target's socket with a tiny /metrics. */
static int target_serve(struct e2e *e)
{
	if (listen(e->target_fd, 16) != 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlives the test */
		static const char resp[] = "HTTP/1.1 200 OK\r\n"
					   "Content-Type: text/plain; version=0.0.4\r\n"
					   "Content-Length: 19\r\n"
					   "Connection: close\r\n\r\n"
					   "cg_e2e_target_up 1\n";
		for (;;) {
			int c = accept(e->target_fd, NULL, NULL);
			if (c < 0)
				continue;
			char req[4096];
			size_t n = 0;
			ssize_t r;
			/* The whole request head, so closing does not reset an unread request. */
			while (n < sizeof(req) - 1 && (r = read(c, req + n, sizeof(req) - 1 - n)) > 0) {
				n += (size_t)r;
				req[n] = '\0';
				if (strstr(req, "\r\n\r\n"))
					break;
			}
			if (write(c, resp, sizeof(resp) - 1) < 0) {
				/* the scraper went away: it scrapes again in a second */
			}
			close(c);
		}
	}
	e->target_pid = pid;
	return 0;
}

/* Starts Prometheus (private TSDB in the test dir) scraping the target and alerting to Alertmanager. */
static int start_prom(struct e2e *e, int target_port)
{
	char am[64], target[64], rules[600], cfg[600];
	snprintf(am, sizeof(am), "127.0.0.1:%d", e->am_port);
	snprintf(target, sizeof(target), "127.0.0.1:%d", target_port);
	snprintf(rules, sizeof(rules), "%s/prometheus-rules.yml", e->t.dir);
	snprintf(cfg, sizeof(cfg), "%s/prometheus.yml", e->t.dir);
	const char *vars[] = {"ALERTMANAGER", am, "TARGET", target, "RULES", rules, NULL};
	if (write_fixture("prometheus-rules.yml", vars, rules) != 0 || write_fixture("prometheus.yml", vars, cfg) != 0)
		return -1;
	for (int attempt = 0; attempt < 3; attempt++) {
		e->prom_port = cg_h_free_port();
		if (e->prom_port <= 0)
			return -1;
		char cfg_arg[700], storage[700], listen_arg[64], url[80], log[600];
		snprintf(cfg_arg, sizeof(cfg_arg), "--config.file=%s", cfg);
		snprintf(storage, sizeof(storage), "--storage.tsdb.path=%s/prom-data.%d", e->t.dir, attempt);
		snprintf(listen_arg, sizeof(listen_arg), "--web.listen-address=127.0.0.1:%d", e->prom_port);
		/* generatorURL is built from the external URL: make it this Prometheus, not the host's name. */
		snprintf(url, sizeof(url), "--web.external-url=http://127.0.0.1:%d/", e->prom_port);
		snprintf(log, sizeof(log), "%s/prometheus.%d.log", e->t.dir, attempt);
		char *const argv[] = {(char *)prom_bin(), cfg_arg, storage, listen_arg, url, "--log.level=debug", NULL};
		int rc = spawn_ready(e, &e->prom, &e->prom_running, argv, log, e->prom_port);
		if (rc <= 0)
			return rc;
	}
	return -1;
}

/* The attribute (label) name of a case as the simulator keeps it: attributes.attributes.NAME[0]. */
static const char *case_label(const cJSON *c, const char *name)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(c, "attributes");
	const cJSON *labels = cJSON_GetObjectItemCaseSensitive(a ? a : c, "attributes");
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(labels, name);
	const cJSON *first = cJSON_IsArray(v) ? cJSON_GetArrayItem(v, 0) : v;
	return cJSON_IsString(first) ? first->valuestring : NULL;
}

static void expect_label(const cJSON *c, const char *name, const char *want)
{
	const char *got = case_label(c, name);
	if (!got || strcmp(got, want) != 0)
		fprintf(stderr, "case label %s: got \"%s\", want \"%s\"\n", name, got ? got : "(none)", want);
	assert_non_null(got);
	assert_string_equal(got, want);
}

struct label_wait {
	struct e2e *e;
	const char *needle, *label;
};

static int label_set(void *ud)
{
	struct label_wait *w = ud;
	cJSON *cases = itest_cases(&w->e->t);
	const cJSON *c = cases ? itest_find_case(cases, w->needle) : NULL;
	int ok = c && case_label(c, w->label);
	cJSON_Delete(cases);
	return ok;
}

/* Prometheus evaluates up{job="target"} == 0 on a target that refuses scrapes: the rule fires, Alertmanager
 * sends it to casegate (one case: title, priority and labels from the rule, its generatorURL a link); the
 * target then answers, the rule resolves, and the same case closes. */
static void test_prometheus_rule_fires_resolves(void **state)
{
	struct e2e *e = *state;
	skip_without_am(e);
	skip_without_prom(e);
	e->end_ms = mono_ms() + 45000;
	start_all(e);
	int tport = target_bind(e);
	assert_true(tport > 0);
	assert_int_equal(start_prom(e, tport), 0);

	char title[96];
	snprintf(title, sizeof(title), "TargetDown: 127.0.0.1:%d is down", tport);
	wait_case(e, "TargetDown", 0);
	/* Labels are set right after the case is created: wait for them too. */
	struct label_wait lw = {e, "TargetDown", "alertname"};
	if (!cg_h_poll(label_set, &lw, left_ms(e, 10000)))
		fprintf(stderr, "got no alertname label on the TargetDown case in time\n");
	cJSON *cases = itest_cases(&e->t);
	cJSON *c = itest_find_case(cases, "TargetDown");
	assert_non_null(c);
	expect_attr(c, "title", title);
	expect_attr(c, "priority", "P3"); /* severity: warning */
	assert_false(itest_case_closed(c));
	char instance[64];
	snprintf(instance, sizeof(instance), "127.0.0.1:%d", tport);
	expect_label(c, "alertname", "TargetDown");
	expect_label(c, "job", "target");
	expect_label(c, "instance", instance);
	expect_label(c, "severity", "warning");
	const char *desc = itest_case_attr(c, "description");
	assert_non_null(desc);
	/* Prometheus's generatorURL (its external URL + the rule's expression) as a Markdown link. */
	char *link = cg_h_fmt("](http://127.0.0.1:%d/graph?g0.expr=up", e->prom_port);
	if (!strstr(desc, link) || !strstr(desc, "Scrape job target got no answer from"))
		fprintf(stderr, "got description:\n%s\nwant the rule's description and a link \"...%s...\"\n", desc, link);
	assert_non_null(strstr(desc, link));
	assert_non_null(strstr(desc, "Scrape job target got no answer from"));
	free(link);
	cJSON_Delete(cases);

	/* The target answers: up == 1, the rule resolves, Prometheus sends the resolved alert. */
	assert_int_equal(target_serve(e), 0);
	wait_case(e, "TargetDown", 1);
	if (itest_ncases(&e->t) != 1)
		fprintf(stderr, "got %d cases, want 1 (firing and resolved on one case)\n", itest_ncases(&e->t));
	assert_int_equal(itest_ncases(&e->t), 1);
	assert_int_equal(itest_metric(&e->t, "casegate_auth_failures_total", NULL) > 0, 0);

	stop_all(e);
	expect_clean_exit(e);
	check_contract(e);
	e->passed = 1;
}

/* ---- the paging APIs: Alertmanager's own pagerduty_configs and opsgenie_configs ---- */

#define PD_KEY "e2e0pagerduty0routing0key0000001"
#define OG_KEY "3f0c2b9e-7d4a-4c1e-9b7a-2e5d8c6f1a04"

static const char *paging_sources = "  - name: pd\n"
				    "    type: pagerduty_events\n"
				    "    routing_key: " PD_KEY "\n"
				    "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
				    "    case_type: 00000000-0000-0000-0000-000000000001\n"
				    "  - name: og\n"
				    "    type: opsgenie_alerts\n"
				    "    genie_key: " OG_KEY "\n"
				    "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
				    "    case_type: 00000000-0000-0000-0000-000000000001\n";

/* Whether the case titled ...needle... has a comment containing text. */
static int case_comment_has(struct e2e *e, const char *needle, const char *text)
{
	cJSON *cases = itest_cases(&e->t);
	const cJSON *c = cases ? itest_find_case(cases, needle) : NULL;
	int ok = c && itest_case_has_comment(c, text);
	cJSON_Delete(cases);
	return ok;
}

/* Alertmanager configured with the stock pagerduty_configs (url: casegate's /v2/enqueue) and
 * opsgenie_configs (api_url: casegate's /hooks/og/): each alert opens one case through its API, with
 * the priority the sender chose, and its resolution closes it. Nothing is refused. */
static void test_alertmanager_paging_apis(void **state)
{
	struct e2e *e = *state;
	skip_without_am(e);
	start_gw_sim(e, paging_sources);
	const char *vars[] = {"CASEGATE_URL", e->t.gw_url, "PD_KEY", PD_KEY, "OG_KEY", OG_KEY, NULL};
	assert_int_equal(start_am_with(e, "alertmanager-paging.yml", vars), 0);

	char starts[32], ends[32];
	iso_time(starts, time(NULL) - 60);
	char *pd = alert_json("ApiLatencyHigh", "api-1", "critical", starts, NULL);
	/* team=ops routes to Opsgenie. */
	char *og0 = alert_json("QueueBacklog", "mq-1", "warning", starts, NULL);
	char *og = cg_h_fmt("{\"labels\":{\"team\":\"ops\",%s", strstr(og0, "\"labels\":{") + 10);
	char *body = cg_h_fmt("[%s,%s]", pd, og);
	am_post(e, body);
	free(body);

	wait_case(e, "ApiLatencyHigh", 0);
	wait_case(e, "QueueBacklog", 0);
	cJSON *cases = itest_cases(&e->t);
	expect_attr(itest_find_case(cases, "ApiLatencyHigh"), "priority", "P1"); /* PagerDuty severity critical */
	expect_attr(itest_find_case(cases, "QueueBacklog"), "priority", "P3");	  /* the opsgenie_configs priority */
	cJSON_Delete(cases);
	assert_int_equal(itest_ncases(&e->t), 2);
	free(pd);
	free(og);

	/* Both resolve: Alertmanager sends PagerDuty's resolve and Opsgenie's close (by alias). */
	iso_time(ends, time(NULL) - 1);
	pd = alert_json("ApiLatencyHigh", "api-1", "critical", starts, ends);
	char *og1 = alert_json("QueueBacklog", "mq-1", "warning", starts, ends);
	og = cg_h_fmt("{\"labels\":{\"team\":\"ops\",%s", strstr(og1, "\"labels\":{") + 10);
	body = cg_h_fmt("[%s,%s]", pd, og);
	am_post(e, body);
	free(body);
	free(pd);
	free(og);
	free(og0);
	free(og1);
	wait_case(e, "ApiLatencyHigh", 1);
	wait_case(e, "QueueBacklog", 1);
	assert_int_equal(itest_ncases(&e->t), 2);
	assert_false(case_comment_has(e, "ApiLatencyHigh", "QueueBacklog"));
	/* Alertmanager was never refused: every request it sent was taken. */
	assert_int_equal(itest_metric(&e->t, "casegate_auth_failures_total", NULL) > 0, 0);
	double pd_ok = itest_metric(&e->t, "casegate_http_requests_total", "source=\"pd\",code=\"202\"");
	double og_ok = itest_metric(&e->t, "casegate_http_requests_total", "source=\"og\",code=\"202\"");
	if (pd_ok < 2 || og_ok < 2)
		fprintf(stderr, "got %g PagerDuty and %g Opsgenie requests answered 202, want >= 2 each\n", pd_ok, og_ok);
	assert_true(pd_ok >= 2 && og_ok >= 2);

	stop_all(e);
	expect_clean_exit(e);
	check_contract(e);
	e->passed = 1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fire_repeat_resolve, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_instances, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prometheus_rule_fires_resolves, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alertmanager_paging_apis, setup, teardown),
	};
	return cg_h_run_group(tests, NULL, NULL);
}
