/* test_heartbeat_fleet.c: two replicas on one PostgreSQL store watch one source's heartbeat: one raise, one case, one resolve. */
/* labels: integration */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "fleet.h"

#define NGW ITEST_FLEET_N
#define TITLE "casegate: source 'hb' went silent"


static const char *sources = "  - name: hb\n"
			     "    type: generic\n"
			     "    auth: { bearer: tok }\n"
			     "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
			     "    case_type: 00000000-0000-0000-0000-000000000001\n"
			     "    heartbeat: { every: 2s, grace: 1s }\n";

static void let_time_pass(unsigned ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t until = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + ms;
	cg_h_poll(itest_wall_past, &until, ms + 1000);
}

/* Lines "needle" in both replicas' logs together. */
static int log_count(struct itest_fleet *f, const char *needle)
{
	int n = 0;
	for (int i = 0; i < NGW; i++) {
		char *text = cg_h_read_file(f->gw[i].log_path, NULL);
		for (const char *p = text; p && (p = strstr(p, needle)) != NULL; p += strlen(needle))
			n++;
		free(text);
	}
	return n;
}

/*
 * Holds the heartbeats table (EXCLUSIVE: reads go on, updates wait) until both replicas have a
 * decision waiting on it: each listed the same state and decided the same thing, as two replicas
 * racing on a slow database would. Then lets them go at once. 1 when both were caught waiting.
 */
static int race_both(struct itest_fleet *f, void (*between)(struct itest_fleet *f))
{
	PGconn *c = PQconnectdb(f->dsn);
	if (!c || PQstatus(c) != CONNECTION_OK) {
		PQfinish(c);
		return 0;
	}
	int ok = itest_pg_ok(c, "BEGIN") && itest_pg_ok(c, "LOCK TABLE heartbeats IN EXCLUSIVE MODE");
	if (ok && between)
		between(f);
	char *sql = cg_h_fmt("SELECT count(*) FROM pg_locks WHERE relation = '%s.heartbeats'::regclass AND NOT granted",
			     f->schema);
	struct itest_pgwait w = {itest_fleet_server.dsn, sql, NGW};
	int both = ok && cg_h_poll(itest_pg_reached, &w, 20000);
	itest_pg_ok(c, "COMMIT");
	PQfinish(c);
	free(sql);
	return both;
}

static void post_traffic(struct itest_fleet *f)
{
	char url[128];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/hooks/hb", f->port[1]);
	const char *headers[] = {"Content-Type: application/json", "Authorization: Bearer tok", NULL};
	const char *body = "{\"labels\":{\"alertname\":\"Disk\"}}";
	struct cg_h_resp r;
	if (cg_h_http("POST", url, headers, body, strlen(body), &r) != 0 || r.status != 202)
		fprintf(stderr, "POST to replica 1: got %ld, want 202\n", (long)r.status);
	cg_h_resp_free(&r);
}

struct case_wait {
	struct itest *t;
	int closed;
};

static int case_is(void *ud)
{
	struct case_wait *w = ud;
	cJSON *all = itest_cases(w->t);
	cJSON *c = itest_find_case(all, TITLE);
	int ok = c && itest_case_closed(c) == w->closed;
	cJSON_Delete(all);
	return ok;
}

static void t_one_case_for_the_fleet(void **state)
{
	(void)state;
	struct itest_fleet f;
	if (itest_fleet_server_state != 0 || itest_fleet_setup(&f, &itest_fleet_server, "hbfleet", sources) != 0)
		fail_msg("setup failed");
	int setup_ok = 1;
	for (int i = 0; i < NGW && setup_ok; i++)
		setup_ok = itest_fleet_start(&f, i) == 0;
	/* Both replicas registered the source (one row: the clock started once). */
	struct itest_pgwait reg = {f.dsn, "SELECT count(*) FROM heartbeats", 1};
	setup_ok = setup_ok && cg_h_poll(itest_pg_reached, &reg, 15000);
	/* Each replica registers at its first check, at start: a second on, both have (the lock
	 * below would hold back a registration, and then only one replica could race). */
	if (setup_ok)
		let_time_pass(1000);
	/* Never heard: both decide to raise at the deadline, at once. */
	int raced = setup_ok && race_both(&f, NULL);
	struct case_wait open = {&f.t, 0};
	int opened = raced && cg_h_poll(case_is, &open, 20000);
	if (opened)
		let_time_pass(3500);
	int ncases = itest_count_titled(&f.t, TITLE);
	int raises = log_count(&f, "source went silent");
	long fires = cg_h_pg_long(f.dsn, "SELECT fires FROM cases WHERE dedup_key = 'hb:casegate-heartbeat'");
	/* Traffic at replica 1: both see it and decide to resolve, at once. */
	int raced2 = opened && race_both(&f, post_traffic);
	struct case_wait closed = {&f.t, 1};
	int closed_ok = raced2 && cg_h_poll(case_is, &closed, 20000);
	int resolves = log_count(&f, "source heard again");
	fprintf(stderr,
		"[heartbeat fleet] 2 replicas: raise race caught %d, %d silent case(s), %d raise event(s), fires %ld; "
		"resolve race caught %d, closed %d, %d resolve event(s)\n",
		raced, ncases, raises, fires, raced2, closed_ok, resolves);
	int bad = !setup_ok || !raced || !opened || ncases != 1 || raises != 1 || fires != 1 || !raced2 || !closed_ok ||
		  resolves != 1;
	int unclean = itest_fleet_stop(&f, bad);
	if (unclean)
		fail_msg("%d replica(s) did not exit cleanly", unclean);
	if (bad)
		fail_msg("two replicas: got setup %d, raise race %d, opened %d, %d case(s), %d raise(s), fires %ld, "
			 "resolve race %d, closed %d, %d resolve(s); want one of each",
			 setup_ok, raced, opened, ncases, raises, fires, raced2, closed_ok, resolves);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_one_case_for_the_fleet),
	};
	return itest_fleet_main("heartbeat on a PostgreSQL fleet", tests, sizeof(tests) / sizeof(tests[0]));
}
