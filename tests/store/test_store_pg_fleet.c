/* test_store_pg_fleet.c: several casegate replicas on one PostgreSQL behind nginx: crashes, duplicates, DB restart. */
/* labels: integration */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "itest.h"
#include "opstest.h"
#include "pgserver.h"

#define NGINX_BIN "/usr/sbin/nginx"
#define MAXGW 3

static struct cg_h_pg server;
static int server_state = -1; /* 0 running, 77 skip, -1 failed */
static int nschema;

struct fleet {
	struct itest t; /* dir and sim */
	char schema[48];
	char *dsn;
	int n;
	struct cg_h_proc gw[MAXGW];
	int port[MAXGW];
	int alive[MAXGW];
	char cfg[MAXGW][600];
	int gen; /* log file generation */
	struct cg_h_proc nginx;
	int nginx_port, nginx_running;
	char url[64]; /* nginx front */
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int never(void *ud)
{
	(void)ud;
	return 0;
}

static void pause_ms(unsigned ms)
{
	cg_h_poll(never, NULL, ms);
}

static const char *sources =
	"  - name: fl\n"
	"    type: generic\n"
	"    auth: { bearer: tok }\n"
	"    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
	"    case_type: 00000000-0000-0000-0000-000000000001\n"
	"    title: \"{{labels.alertname}}\"\n"
	"    description: \"{{annotations.summary}}\"\n"
	"    dedup_key: \"{{labels.alertname}}\"\n"
	"    on_repeat: comment\n";

static int write_cfg(struct fleet *f, int i)
{
	snprintf(f->cfg[i], sizeof(f->cfg[i]), "%s/casegate-%d.yaml", f->t.dir, i);
	return itest_write_fleet_config(&f->t, f->cfg[i], i, f->port[i], f->dsn, sources);
}

static int start_gw(struct fleet *f, int i)
{
	char log[700], bin[512];
	snprintf(log, sizeof(log), "%s/casegate-%d.%d.log", f->t.dir, i, f->gen++);
	snprintf(bin, sizeof(bin), "%s/casegate", cg_h_binary_dir());
	char *const argv[] = {bin, "run", "-c", f->cfg[i], "--datadog-url", f->t.sim_url, NULL};
	if (cg_h_spawn(&f->gw[i], argv, NULL, log) != 0)
		return -1;
	if (cg_h_log_port(&f->gw[i], "listening on 127.0.0.1:", 15000) != f->port[i]) {
		cg_h_dump_log(&f->gw[i]);
		return -1;
	}
	f->alive[i] = 1;
	return 0;
}

static int start_nginx(struct fleet *f)
{
	char ups[512] = "";
	size_t ul = 0;
	for (int i = 0; i < f->n; i++)
		ul += (size_t)snprintf(ups + ul, sizeof(ups) - ul, "    server 127.0.0.1:%d max_fails=1 fail_timeout=1s;\n",
				       f->port[i]);
	f->nginx_port = cg_h_free_port();
	char *tmp = cg_h_fmt("%s/nginx-tmp", f->t.dir);
	mkdir(tmp, 0777);
	chmod(tmp, 0777);
	char *conf = cg_h_fmt(
		"daemon off;\nmaster_process on;\nworker_processes 1;\npid %s/nginx.pid;\nerror_log %s/nginx-error.log warn;\n"
		"events { worker_connections 512; }\n"
		"http {\n  access_log off;\n  client_body_temp_path %s/body;\n  proxy_temp_path %s/proxy;\n"
		"  fastcgi_temp_path %s/fcgi;\n  uwsgi_temp_path %s/uwsgi;\n  scgi_temp_path %s/scgi;\n"
		"  upstream casegate {\n%s    keepalive 16;\n  }\n"
		"  server {\n    listen 127.0.0.1:%d;\n"
		"    location / {\n      proxy_pass http://casegate;\n      proxy_http_version 1.1;\n"
		"      proxy_set_header Connection \"\";\n      proxy_connect_timeout 1s;\n      proxy_read_timeout 10s;\n"
		"      proxy_next_upstream error timeout http_502 http_503;\n      proxy_next_upstream_tries 3;\n"
		"    }\n  }\n}\n",
		f->t.dir, f->t.dir, tmp, tmp, tmp, tmp, tmp, ups, f->nginx_port);
	char *path = cg_h_fmt("%s/nginx.conf", f->t.dir);
	int rc = cg_h_write_file(path, conf, strlen(conf));
	free(conf);
	free(tmp);
	if (rc) {
		free(path);
		return -1;
	}
	char log[600];
	snprintf(log, sizeof(log), "%s/nginx.out", f->t.dir);
	char *const argv[] = {NGINX_BIN, "-p", f->t.dir, "-c", path, NULL};
	rc = cg_h_spawn(&f->nginx, argv, NULL, log);
	free(path);
	if (rc)
		return -1;
	f->nginx_running = 1;
	snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d", f->nginx_port);
	/* Up when it answers (any status: the upstreams may still be starting). */
	for (int i = 0; i < 200; i++) {
		struct cg_h_resp r;
		char u[128];
		snprintf(u, sizeof(u), "%s/healthz", f->url);
		if (cg_h_http("GET", u, NULL, NULL, 0, &r) == 0 && r.status == 200) {
			cg_h_resp_free(&r);
			return 0;
		}
		cg_h_resp_free(&r);
		pause_ms(25);
	}
	return -1;
}

/* Lines containing needle in every replica log written so far. */
/* Lines with needle in the logs of replica only (-1: every replica). */
static int count_log_lines_of(struct fleet *f, int only, const char *needle)
{
	int n = 0;
	for (int i = 0; i < f->n; i++) {
		if (only >= 0 && i != only)
			continue;
		for (int g = 0; g < f->gen; g++) {
			char *path = cg_h_fmt("%s/casegate-%d.%d.log", f->t.dir, i, g);
			char *text = path ? cg_h_read_file(path, NULL) : NULL;
			for (const char *p = text; p && (p = strstr(p, needle)) != NULL; p += strlen(needle))
				n++;
			free(text);
			free(path);
		}
	}
	return n;
}

static int count_log_lines(struct fleet *f, const char *needle)
{
	return count_log_lines_of(f, -1, needle);
}

/* Sim + n replicas on a fresh schema; nginx in front when with_nginx. 0 ok, 77 skip, -1 failure. */
static int fleet_start(struct fleet *f, int n, int with_nginx, const char *const sim_args[])
{
	memset(f, 0, sizeof(*f));
	if (server_state != 0)
		return -1;
	if (with_nginx && access(NGINX_BIN, X_OK) != 0)
		return 77;
	if (itest_setup(&f->t, "cg-fleet") != 0 || itest_start_sim(&f->t, sim_args) != 0)
		return -1;
	snprintf(f->schema, sizeof(f->schema), "fleet_%ld_%d", (long)getpid(), nschema++);
	f->dsn = cg_h_pg_schema_dsn(&server, f->schema);
	if (!f->dsn)
		return -1;
	f->n = n;
	for (int i = 0; i < n; i++) {
		f->port[i] = cg_h_free_port();
		if (write_cfg(f, i) != 0 || start_gw(f, i) != 0)
			return -1;
	}
	if (with_nginx && start_nginx(f) != 0)
		return -1;
	return 0;
}

/* Stops everything; returns the number of replicas that did not exit cleanly on SIGTERM
 * (a crash, or a leak report under the sanitizers). */
static int fleet_stop(struct fleet *f, int failed)
{
	int unclean = 0;
	if (f->nginx_running)
		cg_h_stop(&f->nginx, SIGTERM);
	for (int i = 0; i < f->n; i++) {
		if (!f->alive[i])
			continue;
		int st = cg_h_stop(&f->gw[i], SIGTERM);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "replica %d: got exit status 0x%x on SIGTERM, want a clean exit\n", i, st);
			unclean++;
		}
		if (failed || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "---- replica %d ----\n", i);
			cg_h_dump_log(&f->gw[i]);
		}
	}
	if (f->dsn) {
		char *sql = cg_h_fmt("DROP SCHEMA %s CASCADE", f->schema);
		cg_h_pg_exec(&server, sql);
		free(sql);
	}
	free(f->dsn);
	itest_teardown(&f->t, 0);
	return unclean;
}

static char *notification(const char *key, int occurrence)
{
	return cg_h_fmt("{\"labels\":{\"alertname\":\"%s\",\"severity\":\"warning\"},"
			"\"annotations\":{\"summary\":\"occurrence %d\"}}",
			key, occurrence);
}

/* POSTs to base/hooks/fl; returns the status (0 on a transport error). */
static long post(const char *base, const char *body)
{
	char url[128];
	snprintf(url, sizeof(url), "%s/hooks/fl", base);
	const char *h[] = {"Content-Type: application/json", "Authorization: Bearer tok", NULL};
	struct cg_h_resp r;
	long st = 0;
	if (cg_h_http("POST", url, h, body, strlen(body), &r) == 0)
		st = r.status;
	cg_h_resp_free(&r);
	return st;
}

static long readyz(const char *base)
{
	char url[128];
	snprintf(url, sizeof(url), "%s/readyz", base);
	struct cg_h_resp r;
	long st = 0;
	if (cg_h_http("GET", url, NULL, NULL, 0, &r) == 0)
		st = r.status;
	cg_h_resp_free(&r);
	return st;
}

/* Cases per title and the occurrence numbers found in each case, in order. */
struct key_view {
	int ncases;
	int occ[64];
	int nocc;
};

static int parse_occurrence(const char *text)
{
	const char *p = text ? strstr(text, "occurrence ") : NULL;
	return p ? (int)strtol(p + 11, NULL, 10) : -1;
}

/* Fills views[k] for titles prefix%03d; returns the number of cases whose title has prefix. */
static int view_cases(struct fleet *f, const char *prefix, int nkeys, struct key_view *views)
{
	memset(views, 0, (size_t)nkeys * sizeof(*views));
	cJSON *doc = itest_cases(&f->t);
	int total = 0;
	const cJSON *c;
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(doc, "cases"))
	{
		const char *title = itest_case_attr(c, "title");
		if (!title || strncmp(title, prefix, strlen(prefix)) != 0)
			continue;
		total++;
		int k = (int)strtol(title + strlen(prefix), NULL, 10);
		if (k < 0 || k >= nkeys)
			continue;
		struct key_view *v = &views[k];
		v->ncases++;
		int o = parse_occurrence(itest_case_attr(c, "description"));
		if (o > 0 && v->nocc < 64)
			v->occ[v->nocc++] = o;
		const cJSON *m;
		cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(c, "comments"))
		{
			const cJSON *text = cJSON_GetObjectItemCaseSensitive(m, "comment");
			o = parse_occurrence(cJSON_IsString(text) ? text->valuestring : NULL);
			if (o > 0 && v->nocc < 64)
				v->occ[v->nocc++] = o;
		}
	}
	cJSON_Delete(doc);
	return total;
}

struct drained {
	struct fleet *f;
};

/* SELECT what FROM the fleet's schema's table (events, dead_letters): one number. */
static long fleet_long(struct fleet *f, const char *what, const char *table)
{
	char *sql = cg_h_fmt("SELECT %s FROM %s.%s", what, f->schema, table);
	long n = cg_h_pg_long(server.dsn, sql);
	free(sql);
	return n;
}

static int queue_empty(void *ud)
{
	struct drained *d = ud;
	return fleet_long(d->f, "count(*)", "events") == 0;
}

/* What the replicas log in the windows the crash tests are for (gateway/delivery/engine.c,
 * gateway/store/store_pg_events.c). */
#define ADOPTED_LOG "adopted the case created by an earlier attempt"
#define NOT_FOUND_LOG "after the search settled; creating it"
#define FENCED_LOG "another replica owns it now"

/* ---- crash test: random SIGKILLs while webhooks flow through nginx ---- */

static void t_crash(void **state)
{
	(void)state;
	enum { KEYS = 20, OCC = 6, KILL_EVERY = 12 };
	struct fleet f;
	/* Slow answers keep operations in flight, so kills interrupt them. */
	const char *sim_args[] = {"--latency-ms", "40", NULL};
	int rc = fleet_start(&f, 3, 1, sim_args);
	if (rc == 77)
		cg_h_skip("nginx", "%s missing (apt-get install nginx-light)", NGINX_BIN);
	assert_int_equal(rc, 0);
	unsigned seed = (unsigned)time(NULL);
	if (getenv("CG_FLEET_SEED"))
		seed = (unsigned)strtoul(getenv("CG_FLEET_SEED"), NULL, 10);
	srand(seed);
	double t0 = now_s();
	int kills = 0, sent = 0, retries = 0, odd = 0;
	long odd_status = 0;
	for (int o = 1; o <= OCC; o++) {
		for (int k = 0; k < KEYS; k++) {
			char key[32];
			snprintf(key, sizeof(key), "crash-%03d", k);
			char *body = notification(key, o);
			long st = 0;
			for (int attempt = 0; attempt < 400 && st != 202; attempt++) {
				st = post(f.url, body);
				if (st != 202) {
					/* Only a replica that is down may refuse: nginx's 502/504, a
					 * stopping replica's 503, a dropped connection (0). */
					if (st != 0 && st != 502 && st != 503 && st != 504) {
						odd++;
						odd_status = st;
					}
					retries++;
					pause_ms(25);
				}
			}
			free(body);
			if (st != 202) {
				fleet_stop(&f, 1);
				fail_msg("key %s occurrence %d: got %ld, want 202 (after retries)", key, o, st);
			}
			sent++;
			if (sent % KILL_EVERY == 0) {
				int victim = rand() % f.n;
				cg_h_stop(&f.gw[victim], SIGKILL);
				f.alive[victim] = 0;
				kills++;
				if (start_gw(&f, victim) != 0) {
					fleet_stop(&f, 1);
					fail_msg("replica %d did not restart", victim);
				}
			}
		}
	}
	double t_send = now_s() - t0;
	struct drained d = {&f};
	int ok = cg_h_poll(queue_empty, &d, 60000);
	double t_drain = now_s() - t0;
	struct key_view v[KEYS];
	int total = view_cases(&f, "crash-", KEYS, v);
	int bad = !ok || total != KEYS;
	for (int k = 0; k < KEYS; k++) {
		int seen[OCC + 1] = {0}, order_ok = 1;
		for (int i = 0; i < v[k].nocc; i++) {
			if (v[k].occ[i] >= 1 && v[k].occ[i] <= OCC)
				seen[v[k].occ[i]] = 1;
			if (i && v[k].occ[i] < v[k].occ[i - 1])
				order_ok = 0;
		}
		int missing = 0;
		for (int o = 1; o <= OCC; o++)
			missing += !seen[o];
		if (v[k].ncases != 1 || missing || !order_ok) {
			bad = 1;
			char list[256] = "";
			size_t l = 0;
			for (int i = 0; i < v[k].nocc && l < sizeof(list) - 8; i++)
				l += (size_t)snprintf(list + l, sizeof(list) - l, "%s%d", i ? "," : "", v[k].occ[i]);
			fprintf(stderr, "key crash-%03d: got %d case(s), occurrences [%s], want 1 case with 1..%d in order\n",
				k, v[k].ncases, list, OCC);
		}
	}
	fprintf(stderr,
		"[fleet crash] seed %u: %d webhooks via nginx to 3 replicas, %d SIGKILLs, %d client retries; sent in "
		"%.1f s, all delivered after %.1f s; %d cases for %d keys; %d create(s) reconciled by marker, "
		"%d stale write(s) fenced off\n",
		seed, sent, kills, retries, t_send, t_drain, total, KEYS, count_log_lines(&f, ADOPTED_LOG) + count_log_lines(&f, NOT_FOUND_LOG),
		count_log_lines(&f, FENCED_LOG));
	bad |= odd > 0;
	int unclean = fleet_stop(&f, bad);
	if (!ok)
		fail_msg("queue not drained within 60 s");
	if (odd)
		fail_msg("%d re-post(s) answered %ld (the last), want only 502/503/504 or a dropped connection while a "
			 "replica is down",
			 odd, odd_status);
	if (bad)
		fail_msg("lost, duplicated or reordered events (see above); got %d cases, want %d", total, KEYS);
	if (unclean)
		fail_msg("%d replica(s) did not exit cleanly", unclean);
}

/* ---- the windows the crash test exists for, forced ---- */

struct titled {
	struct fleet *f;
	const char *title;
};

static int case_titled(void *ud)
{
	struct titled *w = ud;
	struct key_view v[1];
	return view_cases(w->f, w->title, 1, v) >= 1;
}

struct log_wait {
	struct fleet *f;
	int replica; /* -1: any */
	const char *needle;
};

static int logged(void *ud)
{
	struct log_wait *w = ud;
	return count_log_lines_of(w->f, w->replica, w->needle) >= 1;
}

/* The claim token on the (only) queued event; 0 none. */
static long token_of(struct fleet *f)
{
	return fleet_long(f, "coalesce(max(claim_token), 0)", "events");
}

struct claim_wait {
	struct fleet *f;
	long token;
};

static int claimed_anew(void *ud)
{
	struct claim_wait *w = ud;
	long t = token_of(w->f);
	return t > 0 && t != w->token;
}

/*
 * A replica stopped after its create reached Datadog and before the answer came back (the case
 * exists, the outcome is unknown to the fleet); the other replica takes the key once the lease
 * lapses and finds the case by its marker instead of creating a second one. Then the stopped
 * replica wakes with the answer in hand, and its progress is fenced off: another replica owns the
 * key now. (SIGSTOP rather than SIGKILL: the frozen replica comes back, stale, as a paused VM or
 * a long GC pause would.)
 */
static void t_crash_windows(void **state)
{
	(void)state;
	/* Answers 700 ms after the work is done, under the 1 s timeout: the gap to stop a replica in. */
	const char *sim_args[] = {"--latency-ms", "700", NULL};
	struct fleet f;
	assert_int_equal(fleet_start(&f, 2, 0, sim_args), 0);
	char base0[64];
	snprintf(base0, sizeof(base0), "http://127.0.0.1:%d", f.port[0]);
	/* Replica 1 frozen: replica 0 accepts the webhook and is the one to claim its key. */
	assert_int_equal(kill(f.gw[1].pid, SIGSTOP), 0);
	char *body = notification("window-000", 1);
	long st = post(base0, body);
	free(body);
	int bad = st != 202;
	struct titled tw = {&f, "window-000"};
	if (!bad && !cg_h_poll(case_titled, &tw, 10000)) {
		fprintf(stderr, "window-000: no case in Datadog 10 s after the webhook\n");
		bad = 1;
	}
	/* The case exists, its answer is still on the way: replica 0 freezes, replica 1 wakes. */
	kill(f.gw[0].pid, SIGSTOP);
	kill(f.gw[1].pid, SIGCONT);
	struct claim_wait cw = {&f, token_of(&f)};
	/* Replica 1 claims the key once replica 0's lease lapses (a new claim token), and is held
	 * there, its lease fresh: the key is its own for the next 4 s... */
	int claimed = !bad && cw.token > 0 && cg_h_poll(claimed_anew, &cw, 30000);
	kill(f.gw[1].pid, SIGSTOP);
	/* ...while replica 0 comes back, finds its create's outcome, and would record it: fenced
	 * off (the event is there, held under another token). */
	kill(f.gw[0].pid, SIGCONT);
	struct drained d = {&f};
	struct log_wait adopted = {&f, 1, ADOPTED_LOG}, fenced = {&f, 0, FENCED_LOG};
	int was_fenced = claimed && cg_h_poll(logged, &fenced, 15000);
	/* Replica 1 goes on: it finds the case by its marker and finishes the event (never fenced). */
	kill(f.gw[1].pid, SIGCONT);
	int took_over = claimed && cg_h_poll(queue_empty, &d, 30000) && cg_h_poll(logged, &adopted, 5000);
	/* The key goes on, through either replica, on the same case. */
	body = notification("window-000", 2);
	long st2 = post(base0, body);
	free(body);
	int drained = cg_h_poll(queue_empty, &d, 30000);
	struct key_view v[1];
	view_cases(&f, "window-", 1, v);
	int occ1 = 0, occ2 = 0;
	for (int i = 0; i < v[0].nocc; i++) {
		occ1 += v[0].occ[i] == 1;
		occ2 += v[0].occ[i] == 2;
	}
	int adopted_n = count_log_lines(&f, ADOPTED_LOG), fenced_n = count_log_lines_of(&f, 0, FENCED_LOG);
	/* The replica that holds the key is never fenced off: only the stale one is. */
	int fenced_owner = count_log_lines_of(&f, 1, FENCED_LOG);
	fprintf(stderr,
		"[fleet windows] webhook %ld; replica 1 claimed the key: %s, took over: %s (%d adoption(s) by marker); "
		"replica 0 fenced off: %s (%d), replica 1 (the owner) fenced off %d time(s); second webhook %ld, "
		"drained %s; %d case(s), occurrence 1 seen %d time(s), 2 seen %d\n",
		st, claimed ? "yes" : "no", took_over ? "yes" : "no", adopted_n, was_fenced ? "yes" : "no", fenced_n,
		fenced_owner, st2, drained ? "yes" : "no", v[0].ncases, occ1, occ2);
	bad |= !took_over || !was_fenced || fenced_owner != 0 || st2 != 202 || !drained || v[0].ncases != 1 || occ1 != 1 || occ2 != 1;
	int unclean = fleet_stop(&f, bad);
	if (bad)
		fail_msg("forced windows: want replica 1 to adopt the case by its marker, replica 0's stale progress "
			 "fenced off (and never replica 1's), and one case with occurrences 1 and 2 once each (see above)");
	if (unclean)
		fail_msg("%d replica(s) did not exit cleanly", unclean);
}

/* ---- the same notification to both replicas at once ---- */

struct dup_sender {
	const char *base;
	pthread_barrier_t *bar;
	int n, keys;
	int ok, fail;
	int reposts; /* answers other than 202: none expected (both replicas up, no faults) */
};

static void *dup_thread(void *arg)
{
	struct dup_sender *s = arg;
	for (int i = 0; i < s->n; i++) {
		char key[32];
		snprintf(key, sizeof(key), "dup-%03d", i % s->keys);
		char *body = notification(key, i / s->keys + 1);
		pthread_barrier_wait(s->bar);
		long st = 0;
		for (int attempt = 0; attempt < 50 && st != 202; attempt++) {
			st = post(s->base, body);
			s->reposts += st != 202;
		}
		free(body);
		if (st == 202)
			s->ok++;
		else
			s->fail++;
	}
	return NULL;
}

static void t_duplicates(void **state)
{
	(void)state;
	enum { N = 500, KEYS = 100 };
	struct fleet f;
	int rc = fleet_start(&f, 2, 0, NULL);
	if (rc == 77)
		cg_h_skip("nginx", "%s missing (apt-get install nginx-light)", NGINX_BIN);
	assert_int_equal(rc, 0);
	char a[64], b[64];
	snprintf(a, sizeof(a), "http://127.0.0.1:%d", f.port[0]);
	snprintf(b, sizeof(b), "http://127.0.0.1:%d", f.port[1]);
	pthread_barrier_t bar;
	pthread_barrier_init(&bar, NULL, 2);
	struct dup_sender sa = {a, &bar, N, KEYS, 0, 0, 0}, sb = {b, &bar, N, KEYS, 0, 0, 0};
	pthread_t ta, tb;
	double t0 = now_s();
	pthread_create(&ta, NULL, dup_thread, &sa);
	pthread_create(&tb, NULL, dup_thread, &sb);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	pthread_barrier_destroy(&bar);
	double t_send = now_s() - t0;
	struct drained d = {&f};
	int ok = cg_h_poll(queue_empty, &d, 60000);
	double t_drain = now_s() - t0;
	struct key_view v[KEYS];
	int total = view_cases(&f, "dup-", KEYS, v);
	int dups = 0, missing = 0;
	for (int k = 0; k < KEYS; k++) {
		dups += v[k].ncases > 1;
		missing += v[k].ncases == 0;
	}
	fprintf(stderr,
		"[fleet duplicates] %d notifications over %d keys, each to both replicas at once: %d+%d accepted, "
		"%d failed; sent in %.1f s, drained after %.1f s; %d cases (%d keys with duplicates, %d missing)\n",
		N, KEYS, sa.ok, sb.ok, sa.fail + sb.fail, t_send, t_drain, total, dups, missing);
	int bad = !ok || total != KEYS || dups || missing || sa.fail || sb.fail || sa.reposts || sb.reposts;
	/* `casegate status` reads the shared PostgreSQL store: every delivery of both replicas. */
	char *out = NULL;
	const char *args[] = {"status", "-c", f.cfg[0], "--json", NULL};
	int src = ops_run_casegate(&f.t, args, &out);
	cJSON *doc = src == 0 && out ? cJSON_Parse(out) : NULL;
	const cJSON *srcs = cJSON_GetObjectItemCaseSensitive(doc, "sources");
	const cJSON *fl = cJSON_GetArrayItem(srcs, 0);
	const cJSON *delivered = cJSON_GetObjectItemCaseSensitive(fl, "delivered");
	const cJSON *depth = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "queue"), "depth");
	long want_delivered = (long)(sa.ok + sb.ok);
	int status_ok = cJSON_IsNumber(delivered) && (long)delivered->valuedouble == want_delivered &&
			cJSON_IsNumber(depth) && depth->valuedouble == 0 &&
			cJSON_IsString(cJSON_GetObjectItemCaseSensitive(fl, "last_case"));
	if (!status_ok)
		fprintf(stderr, "casegate status on PostgreSQL: exit %d, want %ld delivered, depth 0, a last case: %s\n",
			src, want_delivered, out ? out : "");
	free(out);
	cJSON_Delete(doc);
	bad |= !status_ok;
	int unclean = fleet_stop(&f, bad);
	if (unclean)
		fail_msg("%d replica(s) did not exit cleanly", unclean);
	if (!ok)
		fail_msg("queue not drained within 60 s");
	if (bad)
		fail_msg("got %d cases (%d duplicated keys, %d missing, %d failed posts, %d re-posts), want exactly %d and "
			 "every post answered 202 at once",
			 total, dups, missing, sa.fail + sb.fail, sa.reposts + sb.reposts, KEYS);
}

/* ---- the org's rate limit shared by the fleet ---- */

static double sim_stat(struct fleet *f, const char *name)
{
	char url[128];
	snprintf(url, sizeof(url), "%s/_sim/stats", f->t.sim_url);
	cJSON *doc = cg_h_get_json(url);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, name);
	double d = cJSON_IsNumber(v) ? v->valuedouble : -1;
	cJSON_Delete(doc);
	return d;
}

/*
 * Datadog's limit is per organisation, not per replica: two replicas draining one backlog must
 * keep to it together (each spends its share of the advertised window, and a 429 one of them
 * gets closes the window for both). Each replica learns the window's edge on its own (the reset
 * header has whole seconds), so a window may cost a 429 or two, never a burst of them.
 */
static void t_rate_limit(void **state)
{
	(void)state;
	/* 30 a second, advertised as 60 per 2 s windows: long enough for the replicas' first
	 * requests to land in the window another client spent (below). */
	enum { N = 120, LIMIT = 30, PERIOD = 2 };
	char lim[16], per[16];
	snprintf(lim, sizeof(lim), "%d", LIMIT * PERIOD);
	snprintf(per, sizeof(per), "%d", PERIOD);
	const char *const sim_args[] = {"--rate-limit", lim, "--rate-period", per, NULL};
	struct fleet f;
	int rc = fleet_start(&f, 2, 0, sim_args);
	if (rc == 77)
		cg_h_skip("nginx", "%s missing (apt-get install nginx-light)", NGINX_BIN);
	assert_int_equal(rc, 0);
	char base[2][64];
	for (int i = 0; i < 2; i++)
		snprintf(base[i], sizeof(base[i]), "http://127.0.0.1:%d", f.port[i]);
	/* Another client of the organisation spends the first window: the replicas' first requests
	 * meet a 429 they could not foresee, which must close the window for both. */
	int spent = itest_sim_spend_window(&f.t, PERIOD);
	assert_true(spent > 0);
	double t0 = now_s();
	int failed = 0;
	for (int k = 0; k < N; k++) {
		char key[32];
		snprintf(key, sizeof(key), "rl-%03d", k);
		char *body = notification(key, 1);
		failed += post(base[k % 2], body) != 202;
		free(body);
	}
	struct drained d = {&f};
	int ok = cg_h_poll(queue_empty, &d, 60000);
	double secs = now_s() - t0;
	struct key_view v[N];
	int total = view_cases(&f, "rl-", N, v);
	double r429 = sim_stat(&f, "rejected_429"), all = sim_stat(&f, "total") - spent;
	double windows = secs / PERIOD + 1;
	double ideal = (all - r429) / LIMIT;
	fprintf(stderr,
		"[fleet rate limit] %d creates through 2 replicas against %d/s: drained in %.1f s (ideal %.1f s), "
		"%.0f requests, %.0f answered 429 over ~%.0f windows\n",
		N, LIMIT, secs, ideal, all, r429, windows);
	/* Coordinated (each replica keeps to its share of every window, a new window starts with one
	 * scout, a 429 closes the window fleet-wide) the fleet gets at most one 429 per window;
	 * uncoordinated replicas get about one for every two creates here. */
	double max429 = windows;
	int bad = failed || !ok || total != N || r429 < 1 || r429 > max429 || secs > ideal * 2 + 3;
	int unclean = fleet_stop(&f, bad);
	if (unclean)
		fail_msg("%d replica(s) did not exit cleanly", unclean);
	if (failed || !ok || total != N)
		fail_msg("%d posts failed, drained %d, %d cases: want 0, 1 and %d", failed, ok, total, N);
	if (r429 < 1)
		fail_msg("429s: got %.0f, want >= 1 (the window another client spent)", r429);
	if (r429 > max429)
		fail_msg("429s: got %.0f, want at most %.0f (one per window: a coordinated fleet)", r429, max429);
	if (secs > ideal * 2 + 3)
		fail_msg("drain: got %.1f s, want at most %.1f s (the fleet uses most of the window)", secs, ideal * 2 + 3);
}

/* ---- a Datadog outage with two replicas: each holds, probes, resumes; nothing hammered ---- */

static double gw_metric(struct fleet *f, int i, const char *name, const char *labels)
{
	struct itest one = f->t;
	snprintf(one.gw_url, sizeof(one.gw_url), "http://127.0.0.1:%d", f->port[i]);
	return itest_metric(&one, name, labels);
}

struct fleet_metric {
	struct fleet *f;
	const char *name, *labels;
	double want;
};

static int both_at_least(void *ud)
{
	struct fleet_metric *m = ud;
	return gw_metric(m->f, 0, m->name, m->labels) >= m->want && gw_metric(m->f, 1, m->name, m->labels) >= m->want;
}

static void t_outage(void **state)
{
	(void)state;
	enum { N = 300 };
	const char *const sim_args[] = {"--bucket", "cases=60/1:all", NULL};
	struct fleet f;
	int rc = fleet_start(&f, 2, 0, sim_args);
	if (rc == 77)
		cg_h_skip("nginx", "%s missing (apt-get install nginx-light)", NGINX_BIN);
	assert_int_equal(rc, 0);
	assert_int_equal(itest_sim_post(&f.t, "/_sim/faults", "{\"outage\":\"503\"}"), 200);
	char base[2][64];
	for (int i = 0; i < 2; i++)
		snprintf(base[i], sizeof(base[i]), "http://127.0.0.1:%d", f.port[i]);
	int failed = 0;
	for (int k = 0; k < N; k++) {
		char key[32];
		snprintf(key, sizeof(key), "out-%03d", k);
		char *body = notification(key, 1);
		failed += post(base[k % 2], body) != 202;
		free(body);
	}
	/* Both replicas hold the queue and probe for a while. */
	struct fleet_metric open = {&f, "casegate_datadog_circuit_open", "cause=\"unavailable\"", 1};
	struct fleet_metric probes = {&f, "casegate_datadog_probes_total", "result=\"failed\"", 4};
	int held = cg_h_poll(both_at_least, &open, 20000) && cg_h_poll(both_at_least, &probes, 20000);
	double during = itest_sim_stat(&f.t, "outage_requests");
	assert_int_equal(itest_sim_post(&f.t, "/_sim/faults", "{\"outage\":\"none\"}"), 200);
	struct drained d = {&f};
	int ok = held && cg_h_poll(queue_empty, &d, 90000);
	struct key_view v[N];
	int total = view_cases(&f, "out-", N, v);
	int dups = 0, missing = 0;
	for (int k = 0; k < N; k++) {
		dups += v[k].ncases > 1;
		missing += v[k].ncases == 0;
	}
	long dead = fleet_long(&f, "count(*)", "dead_letters");
	double max429 = itest_sim_stat(&f.t, "buckets.cases.max_429_per_window");
	fprintf(stderr, "[fleet outage] %d queued: %.0f Case API requests during the outage, %ld dead letters, "
			"%d cases, at most %.0f 429s in one window after it\n",
		N, during, dead, total, max429);
	/* Each replica: up to max_inflight (16) requests out when it opens, then one probe per
	 * backoff step; an event's own retries would have made hundreds here. */
	int bad = failed || !ok || during > 80 || dead != 0 || total != N || dups || missing || max429 > 1;
	int unclean = fleet_stop(&f, bad);
	if (unclean)
		fail_msg("%d replica(s) did not exit cleanly", unclean);
	if (!held)
		fail_msg("the replicas did not both hold the queue and probe");
	if (during > 80)
		fail_msg("requests during the outage: got %.0f for %d queued alerts, want at most 80", during, N);
	if (failed || !ok || dead != 0 || total != N || dups || missing)
		fail_msg("%d posts failed, drained %d, %ld dead letters, %d cases (%d twice, %d missing): want 0, 1, 0, %d",
			 failed, ok, dead, total, dups, missing, N);
	/* Each replica keeps to its share of a window and learns a new window from one scout. */
	if (max429 > 1)
		fail_msg("after the outage: %.0f 429s in one window, want at most 1", max429);
}

/* ---- PostgreSQL restarted mid-load ---- */

struct ready_poll {
	const char *base;
	long want;
};

static int ready_is(void *ud)
{
	struct ready_poll *p = ud;
	return readyz(p->base) == p->want;
}

static void t_db_restart(void **state)
{
	(void)state;
	enum { MAXK = 400 };
	struct fleet f;
	int rc = fleet_start(&f, 2, 1, NULL);
	if (rc == 77)
		cg_h_skip("nginx", "%s missing (apt-get install nginx-light)", NGINX_BIN);
	assert_int_equal(rc, 0);
	static long status[MAXK];
	int k = 0, n202 = 0, n503 = 0, nother = 0;
	char direct[64];
	snprintf(direct, sizeof(direct), "http://127.0.0.1:%d", f.port[0]);
	/* Phase 1: load with the database up. */
	for (; k < 40; k++) {
		char key[32];
		snprintf(key, sizeof(key), "db-%03d", k);
		char *body = notification(key, 1);
		status[k] = post(f.url, body);
		free(body);
	}
	/* Phase 2: the database goes away; intake answers 503 and /readyz turns unready. */
	double t_down = now_s();
	assert_int_equal(cg_h_pg_stop(&server), 0);
	int down_from = k;
	for (; k < 80; k++) {
		char key[32];
		snprintf(key, sizeof(key), "db-%03d", k);
		char *body = notification(key, 1);
		status[k] = post(f.url, body);
		free(body);
	}
	struct ready_poll rp = {direct, 503};
	int unready = cg_h_poll(ready_is, &rp, 5000);
	int down_to = k;
	double down_s = now_s() - t_down;
	/* Phase 3: back up; intake recovers by itself. */
	double t_up = now_s();
	int restarted = cg_h_pg_restart(&server) == 0;
	server_state = restarted ? 0 : -1;
	double recovered_after = -1;
	for (; restarted && k < MAXK && now_s() - t_up < 30; k++) {
		char key[32];
		snprintf(key, sizeof(key), "db-%03d", k);
		char *body = notification(key, 1);
		status[k] = post(f.url, body);
		free(body);
		if (status[k] == 202 && recovered_after < 0)
			recovered_after = now_s() - t_up;
		if (recovered_after >= 0 && k >= down_to + 40)
			break;
		if (status[k] != 202)
			pause_ms(50);
	}
	int total_posts = k + (k < MAXK);
	rp.want = 200;
	int ready_again = cg_h_poll(ready_is, &rp, 15000);
	for (int i = 0; i < total_posts; i++) {
		if (status[i] == 202)
			n202++;
		else if (status[i] == 503)
			n503++;
		else
			nother++;
	}
	int down503 = 0;
	for (int i = down_from; i < down_to; i++)
		down503 += status[i] == 503;
	struct drained d = {&f};
	int drained = restarted && cg_h_poll(queue_empty, &d, 30000);
	struct key_view *v = calloc(MAXK, sizeof(*v));
	assert_non_null(v);
	int total = view_cases(&f, "db-", MAXK, v);
	int lost = 0, dups = 0;
	for (int i = 0; i < total_posts; i++) {
		if (status[i] == 202 && v[i].ncases == 0)
			lost++;
		dups += v[i].ncases > 1;
	}
	free(v);
	fprintf(stderr,
		"[fleet db restart] %d webhooks via nginx to 2 replicas: %d accepted, %d answered 503, %d other; "
		"while the database was down (%.1f s): %d/%d answered 503, /readyz unready: %s; first 202 %.2f s "
		"after restart, /readyz ready again: %s; %d cases, %d lost, %d duplicated\n",
		total_posts, n202, n503, nother, down_s, down503, down_to - down_from, unready ? "yes" : "no",
		recovered_after, ready_again ? "yes" : "no", total, lost, dups);
	int bad = !restarted || !unready || !ready_again || recovered_after < 0 || down503 != down_to - down_from ||
		  !drained || lost || dups;
	int unclean = fleet_stop(&f, bad);
	if (unclean)
		fail_msg("%d replica(s) did not exit cleanly", unclean);
	if (bad)
		fail_msg("database restart: got restarted=%d unready=%d ready_again=%d recovered=%.2f 503s while "
			 "down %d/%d drained=%d lost=%d duplicated=%d; want all ok, every post answered 503 while "
			 "down, none lost",
			 restarted, unready, ready_again, recovered_after, down503, down_to - down_from, drained, lost,
			 dups);
}

int main(void)
{
	server_state = cg_h_pg_start(&server);
	if (server_state == 77) {
		cg_h_skip_note("postgresql", "main", "no PostgreSQL server binaries (install postgresql: deploy/install-deps.sh test)");
		cg_h_pg_destroy(&server);
		return 77;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_duplicates),
		cmocka_unit_test(t_rate_limit),
		cmocka_unit_test(t_outage),
		cmocka_unit_test(t_crash),
		cmocka_unit_test(t_crash_windows),
		cmocka_unit_test(t_db_restart),
	};
	int failed = cmocka_run_group_tests_name("casegate fleet on PostgreSQL", tests, NULL, NULL);
	cg_h_pg_destroy(&server);
	return cg_h_tests_done(failed ? 1 : 0, sizeof(tests) / sizeof(tests[0]));
}
