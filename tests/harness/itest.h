/* itest.h: shared pieces of the casegate integration tests (sim + daemon as real processes). */
#ifndef CG_ITEST_H
#define CG_ITEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "harness.h"

struct itest {
	char *dir;
	struct cg_h_proc sim, gw;
	int sim_port, gw_port;
	char sim_url[64], gw_url[64];
	char cfg_path[512];
	char req_log[512];
	int gw_running, sim_running;
};

/* Starts casegate-sim with extra args (NULL-terminated list or NULL). */
static inline int itest_start_sim(struct itest *t, const char *const extra[])
{
	if (cg_h_start_sim(&t->sim, t->dir, extra, &t->sim_port) != 0)
		return -1;
	snprintf(t->sim_url, sizeof(t->sim_url), "http://127.0.0.1:%d", t->sim_port);
	t->sim_running = 1;
	return 0;
}

/* Writes the config of replica i of a PostgreSQL fleet (state dir state-<i> under t's dir) to
 * path: listening on port (0: any), the store at dsn, sources under sources:. lease 4s: the
 * shortest allowed with a 1 s Datadog timeout; a killed replica's work moves on after at most that. */
static inline int itest_write_fleet_config(struct itest *t, const char *path, int i, int port, const char *dsn,
					   const char *sources_yaml)
{
	char *text = cg_h_fmt("listen: 127.0.0.1:%d\n"
			      "state_dir: %s/state-%d\n"
			      "log_level: info\n"
			      "datadog:\n  api_key: test-api-key\n  app_key: test-app-key\n  timeout: 1s\n  search_settle: 1s\n"
			      "queue:\n  retry_base: 50ms\n  retry_cap: 1s\n"
			      "store:\n  backend: postgres\n  dsn: \"%s\"\n  lease: 4s\n"
			      "sources:\n%s",
			      port, t->dir, i, dsn, sources_yaml);
	int rc = cg_h_write_file(path, text, strlen(text));
	free(text);
	return rc;
}

/* Writes the config: dd_extra lines go into the datadog: section (indented two spaces each, may be
 * NULL), extra_top at the top level, sources_yaml under sources:. */
static inline int itest_write_config_full(struct itest *t, const char *dd_extra, const char *queue_extra,
					  const char *extra_top, const char *sources_yaml)
{
	snprintf(t->cfg_path, sizeof(t->cfg_path), "%s/casegate.yaml", t->dir);
	char *text = cg_h_fmt("listen: 127.0.0.1:0\n"
			      "state_dir: %s/state\n"
			      "log_level: debug\n"
			      "datadog:\n  api_key: test-api-key\n  app_key: test-app-key\n%s"
			      "queue:\n  retry_base: 50ms\n  retry_cap: 1s\n%s"
			      "%s"
			      "sources:\n%s",
			      t->dir, dd_extra ? dd_extra : "  search_settle: 1s\n", queue_extra ? queue_extra : "",
			      extra_top ? extra_top : "", sources_yaml);
	int rc = cg_h_write_file(t->cfg_path, text, strlen(text));
	free(text);
	return rc;
}

/* The same with the default queue settings. */
static inline int itest_write_config_dd(struct itest *t, const char *dd_extra, const char *extra_top,
					const char *sources_yaml)
{
	return itest_write_config_full(t, dd_extra, NULL, extra_top, sources_yaml);
}

/* Writes the config (sources part given by the test) and starts casegate against the sim. */
static inline int itest_write_config(struct itest *t, const char *extra_top, const char *sources_yaml)
{
	return itest_write_config_dd(t, NULL, extra_top, sources_yaml);
}

static inline int itest_start_gw(struct itest *t)
{
	char log[600];
	static int n;
	snprintf(log, sizeof(log), "%s/casegate.%d.log", t->dir, n++);
	char bin[512];
	snprintf(bin, sizeof(bin), "%s/casegate", cg_h_binary_dir());
	char *const argv[] = {bin, "run", "-c", t->cfg_path, "--datadog-url", t->sim_url, NULL};
	/* CG_VALGRIND=1 runs the daemon under valgrind: any error (or a definite leak) makes it exit
	 * with 99, which itest_stop_gw reports. */
	char vg[] = "/usr/bin/valgrind", vg_exit[] = "--error-exitcode=99", vg_leak[] = "--leak-check=full",
	     vg_kinds[] = "--errors-for-leak-kinds=definite", vg_quiet[] = "--quiet";
	char *const vargv[] = {vg, vg_exit, vg_leak, vg_kinds, vg_quiet, bin, "run", "-c", t->cfg_path,
			       "--datadog-url", t->sim_url, NULL};
	const char *v = getenv("CG_VALGRIND");
	int use_vg = v && strcmp(v, "1") == 0;
	if (cg_h_spawn(&t->gw, use_vg ? vargv : argv, NULL, log) != 0)
		return -1;
	t->gw_port = cg_h_log_port(&t->gw, "listening on 127.0.0.1:", use_vg ? 60000 : 15000);
	if (t->gw_port <= 0) {
		cg_h_dump_log(&t->gw);
		return -1;
	}
	snprintf(t->gw_url, sizeof(t->gw_url), "http://127.0.0.1:%d", t->gw_port);
	t->gw_running = 1;
	return 0;
}

/* GET path from t's daemon: the status (0 on a transport error); the body (malloc'd) in *body
 * when body is not NULL. */
static inline long itest_get(struct itest *t, const char *path, char **body)
{
	char url[256];
	snprintf(url, sizeof(url), "%s%s", t->gw_url, path);
	struct cg_h_resp r;
	long st = cg_h_http("GET", url, NULL, NULL, 0, &r) == 0 ? r.status : 0;
	if (body) {
		*body = r.body;
		r.body = NULL;
	}
	cg_h_resp_free(&r);
	return st;
}

static inline int itest_exited_(void *ud)
{
	return !cg_h_alive(ud);
}

/*
 * A start that must fail: runs `casegate run` on t's configuration (log in t->dir/logname) and
 * waits up to deadline_ms for it to exit. Returns its log (malloc'd; "" when unreadable) with the
 * exit status in *wstatus, or NULL when it was still running (it is killed).
 */
static inline char *itest_run_must_exit(struct itest *t, const char *logname, unsigned deadline_ms, int *wstatus)
{
	char bin[512], log[700];
	snprintf(bin, sizeof(bin), "%s/casegate", cg_h_binary_dir());
	snprintf(log, sizeof(log), "%s/%s", t->dir, logname);
	char *const argv[] = {bin, "run", "-c", t->cfg_path, "--datadog-url", t->sim_url, NULL};
	struct cg_h_proc p;
	if (cg_h_spawn(&p, argv, NULL, log) != 0)
		return NULL;
	if (!cg_h_poll(itest_exited_, &p, deadline_ms)) {
		cg_h_stop(&p, SIGKILL);
		return NULL;
	}
	*wstatus = p.wstatus;
	char *text = cg_h_read_file(log, NULL);
	return text ? text : strdup("");
}

/* Stops casegate with sig (SIGTERM: graceful) and returns its exit code, 128+signal when a
 * signal ended it, or -1. Under CG_VALGRIND=1, 99 means valgrind found errors (log dumped). */
static inline int itest_stop_gw(struct itest *t, int sig)
{
	if (!t->gw_running)
		return -1;
	int ws = cg_h_stop(&t->gw, sig);
	t->gw_running = 0;
	int code = WIFEXITED(ws) ? WEXITSTATUS(ws) : WIFSIGNALED(ws) ? 128 + WTERMSIG(ws) : -1;
	if (code == 99 || (sig != SIGKILL && code != 0))
		cg_h_dump_log(&t->gw);
	return code;
}

static inline int itest_setup(struct itest *t, const char *prefix)
{
	memset(t, 0, sizeof(*t));
	t->dir = cg_h_tmpdir(prefix);
	return t->dir ? 0 : -1;
}

/* Stops what is still running and removes the files (kept when keep). A daemon still running
 * is stopped with SIGTERM and must exit 0: a sanitizer finding (ASan, UBSan), a leak LeakSanitizer
 * reports at exit, a crash or a hang at shutdown fails the test here, whichever test it was. */
static inline void itest_teardown(struct itest *t, int keep)
{
	int code = t->gw_running ? itest_stop_gw(t, SIGTERM) : 0;
	if (code == 99) {
		/* Under CG_VALGRIND=1: fail the test program, whichever test left the daemon running. */
		fprintf(stderr, "valgrind reported errors in casegate (log above)\n");
		exit(99);
	}
	if (t->sim_running)
		cg_h_stop(&t->sim, SIGTERM);
	if (t->dir && !keep && code == 0)
		cg_h_rmrf(t->dir);
	else if (t->dir && code != 0)
		fprintf(stderr, "test files kept in %s\n", t->dir);
	free(t->dir);
	t->dir = NULL;
	if (code != 0)
		fail_msg("casegate exited %d on SIGTERM at teardown, want 0 (a sanitizer finding, a leak, a crash or a "
			 "hang at shutdown: its log is above)",
			 code);
}

/* A cmocka setup's body: a fresh struct itest in *state with the simulator running (the test
 * writes the config and starts casegate). 0 or -1. */
static inline int itest_state_with_sim(void **state, const char *prefix)
{
	struct itest *t = calloc(1, sizeof(*t));
	if (!t || itest_setup(t, prefix) != 0 || itest_start_sim(t, NULL) != 0)
		return -1;
	*state = t;
	return 0;
}

/* The cmocka teardown of such a state: stops what runs, removes the files, frees it. */
static inline int itest_state_free(void **state)
{
	struct itest *t = *state;
	if (t) {
		itest_teardown(t, 0);
		free(t);
	}
	return 0;
}

/* POSTs body to /hooks/<source> with a bearer token (NULL: none). Returns the status. */
static inline long itest_post(struct itest *t, const char *source, const char *token, const char *body,
			      char **resp_body)
{
	char url[256], auth[256];
	snprintf(url, sizeof(url), "%s/hooks/%s", t->gw_url, source);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token ? token : "");
	const char *headers[] = {"Content-Type: application/json", token ? auth : NULL, NULL};
	struct cg_h_resp r;
	if (cg_h_http("POST", url, headers, body, strlen(body), &r) != 0) {
		cg_h_resp_free(&r); /* allocated even on failure */
		return 0;
	}
	long st = r.status;
	if (resp_body) {
		*resp_body = r.body;
		r.body = NULL;
	}
	cg_h_resp_free(&r);
	return st;
}

/* POSTs json to the simulator's path ("/_sim/faults", "/_sim/cases/DEMO-1/close"); the status. */
static inline long itest_sim_post(struct itest *t, const char *path, const char *json)
{
	char url[256];
	snprintf(url, sizeof(url), "%s%s", t->sim_url, path);
	const char *headers[] = {"Content-Type: application/json", NULL};
	struct cg_h_resp r;
	long st = cg_h_http("POST", url, headers, json, strlen(json), &r) == 0 ? r.status : 0;
	cg_h_resp_free(&r);
	return st;
}

/* The simulator's /_sim/stats, or NULL. */
static inline cJSON *itest_sim_stats(struct itest *t)
{
	char url[128];
	snprintf(url, sizeof(url), "%s/_sim/stats", t->sim_url);
	return cg_h_get_json(url);
}

/* A number in /_sim/stats by dotted path ("outage_requests", "by_operation.CreateCase"), 0 absent. */
static inline double itest_sim_stat(struct itest *t, const char *dotted)
{
	cJSON *st = itest_sim_stats(t);
	const cJSON *v = st;
	char part[128];
	for (const char *p = dotted; v && *p;) {
		size_t n = strcspn(p, ".");
		snprintf(part, sizeof(part), "%.*s", (int)n, p);
		v = cJSON_GetObjectItemCaseSensitive(v, part);
		p += n;
		if (*p == '.')
			p++;
	}
	double d = cJSON_IsNumber(v) ? v->valuedouble : 0;
	cJSON_Delete(st);
	return d;
}

/* The simulator's cases ({"cases":[...]}), or NULL. */
static inline cJSON *itest_cases(struct itest *t)
{
	char url[128];
	snprintf(url, sizeof(url), "%s/_sim/cases", t->sim_url);
	return cg_h_get_json(url);
}

static inline int itest_ncases(struct itest *t)
{
	cJSON *c = itest_cases(t);
	int n = c ? cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(c, "cases")) : -1;
	cJSON_Delete(c);
	return n;
}

/* Attribute of a case object from /_sim/cases ("title", "status_name", "priority", ...). */
static inline const char *itest_case_attr(const cJSON *c, const char *name)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(c, "attributes");
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(a ? a : c, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static inline int itest_case_ncomments(const cJSON *c)
{
	return cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(c, "comments"));
}

struct itest_wait {
	struct itest *t;
	int want;
};

static inline int itest_has_ncases(void *ud)
{
	struct itest_wait *w = ud;
	return itest_ncases(w->t) >= w->want;
}

/* Sum of the samples of metric `name` on casegate's /metrics whose labels contain label_sub
 * (e.g. "source=\"am\""; NULL: all samples). -1 when /metrics cannot be read. */
static inline double itest_metric(struct itest *t, const char *name, const char *label_sub)
{
	char url[128];
	snprintf(url, sizeof(url), "%s/metrics", t->gw_url);
	struct cg_h_resp r;
	if (cg_h_http("GET", url, NULL, NULL, 0, &r) != 0 || r.status != 200 || !r.body) {
		cg_h_resp_free(&r);
		return -1;
	}
	double sum = 0;
	size_t nlen = strlen(name);
	for (const char *line = r.body; line && *line;) {
		const char *eol = strchr(line, '\n');
		size_t len = eol ? (size_t)(eol - line) : strlen(line);
		/* The name must end right there: casegate_x must not match casegate_x_total. */
		if (len > nlen && strncmp(line, name, nlen) == 0 && (line[nlen] == '{' || line[nlen] == ' ')) {
			const char *sp = line + len;
			while (sp > line && sp[-1] != ' ')
				sp--;
			int labels_ok = 1;
			if (label_sub) {
				char buf[512];
				size_t ll = (size_t)(sp - line) < sizeof(buf) ? (size_t)(sp - line) : sizeof(buf) - 1;
				memcpy(buf, line, ll);
				buf[ll] = '\0';
				labels_ok = strstr(buf, label_sub) != NULL;
			}
			if (labels_ok)
				sum += strtod(sp, NULL);
		}
		line = eol ? eol + 1 : NULL;
	}
	cg_h_resp_free(&r);
	return sum;
}

/* A metric to wait for with cg_h_poll(itest_metric_reached, &w, ms): name{labels} at least want. */
struct itest_metric_wait {
	struct itest *t;
	const char *name, *labels;
	double want;
};

static inline int itest_metric_reached(void *ud)
{
	struct itest_metric_wait *w = ud;
	return itest_metric(w->t, w->name, w->labels) >= w->want;
}

/* How many of the simulator's cases are titled exactly title. */
static inline int itest_count_titled(struct itest *t, const char *title)
{
	cJSON *c = itest_cases(t);
	int n = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(c, "cases"))
	{
		const char *ti = itest_case_attr(it, "title");
		n += ti && strcmp(ti, title) == 0;
	}
	cJSON_Delete(c);
	return n;
}

/* The first case of a /_sim/cases document whose title contains needle, or NULL. */
static inline cJSON *itest_find_case(const cJSON *cases_doc, const char *needle)
{
	const cJSON *c;
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(cases_doc, "cases"))
	{
		const char *title = itest_case_attr(c, "title");
		if (title && strstr(title, needle))
			return (cJSON *)c;
	}
	return NULL;
}

/* 1 when the case is closed (status_name "Closed" or the legacy status "CLOSED"). */
static inline int itest_case_closed(const cJSON *c)
{
	const char *sn = itest_case_attr(c, "status_name");
	const char *st = itest_case_attr(c, "status");
	return (sn && strcmp(sn, "Closed") == 0) || (st && strcmp(st, "CLOSED") == 0);
}

/* 1 when one of the case's comments contains needle. */
static inline int itest_case_has_comment(const cJSON *c, const char *needle)
{
	const cJSON *m;
	cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(c, "comments"))
	{
		const cJSON *text = cJSON_GetObjectItemCaseSensitive(m, "comment");
		if (cJSON_IsString(text) && strstr(text->valuestring, needle))
			return 1;
	}
	return 0;
}

/* 1 once the wall clock passed the time (ms since the epoch) ud points at. */
static inline int itest_wall_past(void *ud)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 >= *(const int64_t *)ud;
}

/*
 * Another client of the same Datadog organisation spends what is left of the simulator's
 * rate-limit window (GET /api/v2/cases until X-RateLimit-Remaining is 0, never past it while
 * casegate is idle) in a window with at least min_left_s seconds to run: casegate's next request
 * in that window meets a 429 it could not have foreseen. Injected faults (5xx, dropped
 * connections) are tried again; a 429 of its own (casegate spent the rest meanwhile) ends it.
 * Returns the requests answered 200, or -1 (no rate-limit headers, or no such window).
 */
static inline int itest_sim_spend_window(struct itest *t, long min_left_s)
{
	char url[160];
	snprintf(url, sizeof(url), "%s/api/v2/cases", t->sim_url);
	const char *headers[] = {"DD-API-KEY: test-api-key", "DD-APPLICATION-KEY: test-app-key", NULL};
	int spent = 0;
	for (int tries = 0; tries < 10000; tries++) {
		struct cg_h_resp r;
		char rem[32], reset[32];
		int got = cg_h_http("GET", url, headers, NULL, 0, &r) == 0;
		long st = got ? r.status : 0;
		int ok = st == 200 && cg_h_resp_header(&r, "X-RateLimit-Remaining", rem, sizeof(rem)) == 0 &&
			 cg_h_resp_header(&r, "X-RateLimit-Reset", reset, sizeof(reset)) == 0;
		cg_h_resp_free(&r);
		if (st == 429)
			return spent;
		if (st == 0 || st >= 500)
			continue; /* an injected fault: not counted against the window, or unknown */
		if (!ok) {
			fprintf(stderr, "spending the window: GET %s got %ld, want 200 with X-RateLimit-*\n", url, st);
			return -1;
		}
		spent++;
		if (strtol(rem, NULL, 10) > 0)
			continue;
		long left = strtol(reset, NULL, 10);
		if (left >= min_left_s)
			return spent;
		/* Too near the window's end: let it pass (one more request now would meet a 429). */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		int64_t after = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + left * 1000 + 50;
		if (!cg_h_poll(itest_wall_past, &after, (unsigned)left * 1000 + 1000))
			return -1;
	}
	return -1;
}

#endif
