/* test_storm_fleet.c: two replicas on one PostgreSQL store take one alert storm at the same moment: one window, one storm case, at most max_new_cases + 1 cases. */
/* labels: integration */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "fleet.h"
#include "sbuf.h"

#define NGW ITEST_FLEET_N


static const char *sources = "  - name: am\n"
			     "    type: alertmanager\n"
			     "    auth: { bearer: tok }\n"
			     "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
			     "    case_type: 00000000-0000-0000-0000-000000000001\n"
			     "    storm: { max_new_cases: 3, per: 1m, digest_interval: 1s }\n";

/* One replica's share of the storm: ten new alerts in one Alertmanager notification. */
struct poster {
	struct itest_fleet *f;
	int replica, from;
	long status;
};

static void *post_storm(void *ud)
{
	struct poster *p = ud;
	struct cg_sbuf b = {0};
	cg_sbuf_add(&b, "{\"version\":\"4\",\"status\":\"firing\",\"receiver\":\"casegate\",\"alerts\":[");
	for (int i = p->from; i < p->from + 10; i++)
		cg_sbuf_addf(&b,
			     "%s{\"status\":\"firing\",\"labels\":{\"alertname\":\"DiskFull\",\"instance\":\"host%02d\"},"
			     "\"annotations\":{\"summary\":\"disk full on host%02d\"},\"fingerprint\":\"f%02d\"}",
			     i > p->from ? "," : "", i, i, i);
	cg_sbuf_add(&b, "]}");
	char *body = cg_sbuf_take(&b);
	char url[128];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/hooks/am", p->f->port[p->replica]);
	const char *headers[] = {"Content-Type: application/json", "Authorization: Bearer tok", NULL};
	struct cg_h_resp r;
	p->status = body && cg_h_http("POST", url, headers, body, strlen(body), &r) == 0 ? r.status : -1;
	if (body)
		cg_h_resp_free(&r);
	free(body);
	return NULL;
}

struct named_wait {
	struct itest *t;
};

/* Every one of the 20 alerts is named in some case (its own, the storm case's description or a digest). */
static int all_named(void *ud)
{
	struct named_wait *w = ud;
	cJSON *all = itest_cases(w->t);
	int named = 0;
	for (int i = 0; i < 20; i++) {
		char host[16];
		snprintf(host, sizeof(host), "host%02d", i);
		const cJSON *c;
		int hit = 0;
		cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(all, "cases"))
		{
			const char *d = itest_case_attr(c, "description");
			const char *ti = itest_case_attr(c, "title");
			hit |= (d && strstr(d, host)) || (ti && strstr(ti, host)) || itest_case_has_comment(c, host);
		}
		named += hit;
	}
	cJSON_Delete(all);
	return named == 20;
}

static void t_one_storm_for_the_fleet(void **state)
{
	(void)state;
	struct itest_fleet f;
	if (itest_fleet_server_state != 0 || itest_fleet_setup(&f, &itest_fleet_server, "stormfleet", sources) != 0)
		fail_msg("setup failed");
	int setup_ok = 1;
	for (int i = 0; i < NGW && setup_ok; i++)
		setup_ok = itest_fleet_start(&f, i) == 0;
	/*
	 * Hold the documents' table (EXCLUSIVE: reads go on, writes wait) while each replica takes
	 * half of the storm, until both are waiting (one on the table, the other on the documents'
	 * lock): without that lock both would read the same window and each open its own cases.
	 */
	PGconn *c = setup_ok ? PQconnectdb(f.dsn) : NULL;
	int locked = c && PQstatus(c) == CONNECTION_OK && itest_pg_ok(c, "BEGIN") && itest_pg_ok(c, "LOCK TABLE kv IN EXCLUSIVE MODE");
	struct poster p[NGW] = {{&f, 0, 0, 0}, {&f, 1, 10, 0}};
	pthread_t th[NGW];
	int started = 0;
	for (int i = 0; i < NGW && locked; i++)
		started += pthread_create(&th[i], NULL, post_storm, &p[i]) == 0;
	struct itest_pgwait w = {itest_fleet_server.dsn, "SELECT count(*) FROM pg_locks WHERE NOT granted", NGW};
	int raced = started == NGW && cg_h_poll(itest_pg_reached, &w, 20000);
	if (c) {
		itest_pg_ok(c, "COMMIT");
		PQfinish(c);
	}
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	struct named_wait nw = {&f.t};
	int named = raced && cg_h_poll(all_named, &nw, 20000);
	int ncases = itest_ncases(&f.t);
	long folded = cg_h_pg_long(f.dsn, "SELECT count(*) FROM kv WHERE k LIKE 'm:%'");
	fprintf(stderr,
		"[storm fleet] 2 replicas, 20 new alerts at once: race caught %d, answers %ld %ld, %d case(s), %ld folded, "
		"all named %d\n",
		raced, p[0].status, p[1].status, ncases, folded, named);
	int bad = !setup_ok || !raced || p[0].status != 202 || p[1].status != 202 || !named || ncases != 4 ||
		  folded != 17;
	int unclean = itest_fleet_stop(&f, bad);
	if (unclean)
		fail_msg("%d replica(s) did not exit cleanly", unclean);
	if (bad)
		fail_msg("two replicas: got setup %d, race %d, answers %ld %ld, %d case(s), %ld folded, all named %d; "
			 "want 4 cases (3 + the storm case), 17 folded, every alert named",
			 setup_ok, raced, p[0].status, p[1].status, ncases, folded, named);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_one_storm_for_the_fleet),
	};
	return itest_fleet_main("storm folding on a PostgreSQL fleet", tests, sizeof(tests) / sizeof(tests[0]));
}
