/* cmd_status.c: `casegate status`: queue depth, oldest item, dead letters, last delivery per source, from the store. */
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "commands.h"
#include "config.h"
#include "err.h"
#include "pidfile.h"
#include "store.h"
#include "storm.h"
#include "store_open.h"

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void fmt_age(int64_t ms, char *buf, size_t len)
{
	int64_t s = ms / 1000;
	if (s < 0)
		s = 0;
	if (s < 120)
		snprintf(buf, len, "%" PRId64 "s", s);
	else if (s < 7200)
		snprintf(buf, len, "%" PRId64 "m%02" PRId64 "s", s / 60, s % 60);
	else if (s < 172800)
		snprintf(buf, len, "%" PRId64 "h%02" PRId64 "m", s / 3600, (s / 60) % 60);
	else
		snprintf(buf, len, "%" PRId64 "d%02" PRId64 "h", s / 86400, (s / 3600) % 24);
}

static void iso(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int configured(const struct cg_config *cfg, const char *name)
{
	return cg_config_source(cfg, name) != NULL;
}

static const struct cg_store_source_stat *stat_of(const struct cg_store_source_stat *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].source, name) == 0)
			return &v[i];
	return NULL;
}

static void add_source_json(cJSON *arr, const char *name, int is_configured, const struct cg_store_source_stat *x,
			    int64_t now)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return;
	char t[32];
	cJSON_AddStringToObject(o, "name", name);
	cJSON_AddBoolToObject(o, "configured", is_configured);
	cJSON_AddNumberToObject(o, "pending", x ? (double)x->pending : 0);
	if (x && x->oldest_ms)
		cJSON_AddNumberToObject(o, "oldest_age_seconds", (double)(now - x->oldest_ms) / 1000.0);
	else
		cJSON_AddNullToObject(o, "oldest_age_seconds");
	cJSON_AddNumberToObject(o, "dead_letters", x ? (double)x->dead : 0);
	cJSON_AddNumberToObject(o, "delivered", x ? (double)x->delivered : 0);
	if (x && x->last_delivered_ms) {
		iso(x->last_delivered_ms, t, sizeof(t));
		cJSON_AddStringToObject(o, "last_delivery", t);
		cJSON_AddNumberToObject(o, "last_delivery_age_seconds", (double)(now - x->last_delivered_ms) / 1000.0);
	} else {
		cJSON_AddNullToObject(o, "last_delivery");
		cJSON_AddNullToObject(o, "last_delivery_age_seconds");
	}
	if (x && x->last_dedup_key)
		cJSON_AddStringToObject(o, "last_dedup_key", x->last_dedup_key);
	else
		cJSON_AddNullToObject(o, "last_dedup_key");
	if (x && x->last_case_key)
		cJSON_AddStringToObject(o, "last_case", x->last_case_key);
	else
		cJSON_AddNullToObject(o, "last_case");
	cJSON_AddItemToArray(arr, o);
}

static void print_source_line(FILE *out, const char *name, int is_configured, const struct cg_store_source_stat *x,
			      int64_t now)
{
	char oldest[32] = "-", last[128] = "never", age[32];
	if (x && x->oldest_ms)
		fmt_age(now - x->oldest_ms, oldest, sizeof(oldest));
	if (x && x->last_delivered_ms) {
		char t[32];
		iso(x->last_delivered_ms, t, sizeof(t));
		fmt_age(now - x->last_delivered_ms, age, sizeof(age));
		snprintf(last, sizeof(last), "%s (%s ago)", t, age);
	}
	fprintf(out, "  %-16s %8" PRId64 " %8s %6" PRId64 " %10" PRId64 "  %-32s %s%s\n", name, x ? x->pending : 0,
		oldest, x ? x->dead : 0, x ? x->delivered : 0, last, x && x->last_case_key ? x->last_case_key : "-",
		is_configured ? "" : "  (not in config)");
}

int cg_cmd_status(struct cg_cli *c)
{
	int json = c->a.json;
	FILE *out = c->out, *err = c->err;
	struct cg_config *cfg = cg_cli_config(c);
	if (!cfg)
		return 1;
	int rc = 1;
	struct cg_store *st = NULL;
	struct cg_store_source_stat *v = NULL;
	struct cg_store_note *notes = NULL;
	size_t nnotes = 0;
	struct cg_store_heartbeat *hbs = NULL;
	size_t nhbs = 0;
	struct cg_storm_info *storms = NULL;
	char **storm_cases = NULL;
	size_t nstorms = 0;
	size_t n = 0;
	cJSON *doc = NULL;
	char e[512] = "";
	long pid = 0;
	int running = cg_pidfile_running(cfg->state_dir, &pid) == 0;
	/* The configured store: SQLite in state_dir (never created here), or PostgreSQL. */
	int r = cfg->store_backend == CG_STORE_POSTGRES ? cg_store_open_config(cfg, 0, &st, e, sizeof(e))
							 : cg_store_sqlite_open_existing(cfg->state_dir, &st, e, sizeof(e));
	if (r) {
		fprintf(err, "casegate status: %s\n", e[0] ? e : cg_strerror(r));
		goto out;
	}
	struct cg_store_stats s;
	if ((r = cg_store_stats(st, &s)) != 0) {
		fprintf(err, "casegate status: reading the store: %s\n", cg_strerror(r));
		goto out;
	}
	int have_sources = cg_store_source_stats(st, &v, &n) == 0;
	/* What the daemon(s) noted: an outage the Case API circuit is holding the queue for, ... */
	if (!st->ops->note_list || cg_store_note_list(st, &notes, &nnotes) != 0)
		nnotes = 0;
	/* Heartbeats (a store from before them has none). */
	if (cg_store_hb_list(st, &hbs, &nhbs) != 0)
		nhbs = 0;
	/* Only the sources watched now (a heartbeat removed from the config leaves its record). */
	for (size_t i = 0; i < nhbs;) {
		const struct cg_source_config *src = cg_config_source(cfg, hbs[i].source);
		if (src && src->heartbeat.every_ms) {
			i++;
			continue;
		}
		free(hbs[i].source);
		memmove(&hbs[i], &hbs[i + 1], (nhbs - i - 1) * sizeof(*hbs));
		nhbs--;
	}
	/* Storms going on (a store from before them has none), each with its case when known. */
	if (cg_storm_list(st, &storms, &nstorms) != 0)
		nstorms = 0;
	if (nstorms && !(storm_cases = calloc(nstorms, sizeof(*storm_cases))))
		goto out;
	for (size_t i = 0; i < nstorms; i++) {
		struct cg_store_case sc;
		if (cg_store_case_get(st, storms[i].key, &sc) == 0) {
			storm_cases[i] = sc.case_key ? strdup(sc.case_key) : NULL;
			cg_store_case_cleanup(&sc);
		}
	}
	int64_t now = wall_ms();
	if (json) {
		doc = cJSON_CreateObject();
		if (!doc)
			goto out;
		cJSON_AddStringToObject(doc, "state_dir", cfg->state_dir);
		cJSON *d = cJSON_AddObjectToObject(doc, "daemon");
		cJSON_AddBoolToObject(d, "running", running);
		if (running)
			cJSON_AddNumberToObject(d, "pid", (double)pid);
		cJSON *q = cJSON_AddObjectToObject(doc, "queue");
		cJSON_AddNumberToObject(q, "depth", (double)s.pending);
		cJSON_AddNumberToObject(q, "inflight", (double)s.inflight);
		if (s.oldest_ms) {
			char t[32];
			iso(s.oldest_ms, t, sizeof(t));
			cJSON_AddStringToObject(q, "oldest_received", t);
			cJSON_AddNumberToObject(q, "oldest_age_seconds", (double)(now - s.oldest_ms) / 1000.0);
		} else {
			cJSON_AddNullToObject(q, "oldest_received");
			cJSON_AddNullToObject(q, "oldest_age_seconds");
		}
		cJSON *dd = cJSON_AddObjectToObject(doc, "datadog");
		int holding = 0;
		for (size_t i = 0; i < nnotes; i++) {
			if (strcmp(notes[i].name, "datadog") != 0)
				continue;
			cJSON *h = holding++ ? NULL : cJSON_AddArrayToObject(dd, "holding");
			h = h ? h : cJSON_GetObjectItemCaseSensitive(dd, "holding");
			cJSON *one = cJSON_CreateObject();
			cJSON_AddStringToObject(one, "replica", notes[i].replica);
			cJSON_AddStringToObject(one, "detail", notes[i].value);
			cJSON_AddItemToArray(h, one);
		}
		cJSON_AddStringToObject(dd, "state", holding ? "holding" : "delivering");
		cJSON_AddNumberToObject(doc, "dead_letters", (double)s.dead);
		cJSON_AddNumberToObject(doc, "cases", (double)s.cases);
		cJSON_AddNumberToObject(doc, "store_bytes", (double)s.bytes);
		cJSON *hba = cJSON_AddArrayToObject(doc, "heartbeats");
		for (size_t i = 0; hba && i < nhbs; i++) {
			cJSON *one = cJSON_CreateObject();
			char t[32];
			cJSON_AddStringToObject(one, "source", hbs[i].source);
			cJSON_AddBoolToObject(one, "silent", hbs[i].raised);
			if (hbs[i].heard_ms) {
				iso(hbs[i].heard_ms, t, sizeof(t));
				cJSON_AddStringToObject(one, "last_heard", t);
			} else {
				cJSON_AddNullToObject(one, "last_heard");
			}
			iso(hbs[i].started_ms, t, sizeof(t));
			cJSON_AddStringToObject(one, "watched_since", t);
			cJSON_AddItemToArray(hba, one);
		}
		cJSON *sta = cJSON_AddArrayToObject(doc, "storms");
		for (size_t i = 0; sta && i < nstorms; i++) {
			cJSON *one = cJSON_CreateObject();
			char t[32];
			cJSON_AddStringToObject(one, "source", storms[i].source);
			cJSON_AddStringToObject(one, "dedup_key", storms[i].key);
			if (storm_cases[i])
				cJSON_AddStringToObject(one, "case", storm_cases[i]);
			else
				cJSON_AddNullToObject(one, "case");
			iso(storms[i].started_ms, t, sizeof(t));
			cJSON_AddStringToObject(one, "started", t);
			cJSON_AddNumberToObject(one, "alerts", (double)storms[i].members);
			cJSON_AddNumberToObject(one, "firing", (double)storms[i].open);
			cJSON_AddItemToArray(sta, one);
		}
		cJSON *arr = have_sources ? cJSON_AddArrayToObject(doc, "sources") : NULL;
		if (arr) {
			for (size_t i = 0; i < cfg->nsources; i++)
				add_source_json(arr, cfg->sources[i].name, 1, stat_of(v, n, cfg->sources[i].name), now);
			for (size_t i = 0; i < n; i++)
				if (!configured(cfg, v[i].source))
					add_source_json(arr, v[i].source, 0, &v[i], now);
		}
		char *text = cJSON_Print(doc);
		if (!text)
			goto out;
		fprintf(out, "%s\n", text);
		cJSON_free(text);
		rc = 0;
		goto out;
	}
	fprintf(out, "state_dir:     %s\n", cfg->state_dir);
	if (running)
		fprintf(out, "daemon:        running (pid %ld)\n", pid);
	else
		fprintf(out, "daemon:        not running\n");
	fprintf(out, "queue:         %" PRId64 " event(s) waiting, %" PRId64 " in flight\n", s.pending, s.inflight);
	if (s.oldest_ms) {
		char t[32], age[32];
		iso(s.oldest_ms, t, sizeof(t));
		fmt_age(now - s.oldest_ms, age, sizeof(age));
		fprintf(out, "oldest item:   received %s (%s ago)\n", t, age);
	} else {
		fprintf(out, "oldest item:   -\n");
	}
	int holding = 0;
	for (size_t i = 0; i < nnotes; i++) {
		if (strcmp(notes[i].name, "datadog") != 0)
			continue;
		fprintf(out, "datadog:       %s%s%s%s\n", notes[i].value, notes[i].replica[0] ? " [replica " : "",
			notes[i].replica, notes[i].replica[0] ? "]" : "");
		holding = 1;
	}
	if (!holding)
		fprintf(out, "datadog:       %s\n", running ? "delivering (no outage held)" : "-");
	fprintf(out, "dead letters:  %" PRId64 "%s\n", s.dead, s.dead ? "  (casegate dlq list -c FILE)" : "");
	fprintf(out, "cases tracked: %" PRId64 "\n", s.cases);
	fprintf(out, "store size:    %.1f MiB\n", (double)s.bytes / (1024.0 * 1024.0));
	for (size_t i = 0; i < nhbs; i++) {
		if (!hbs[i].raised)
			continue;
		char t[32], age[32];
		int64_t since = hbs[i].heard_ms ? hbs[i].heard_ms : hbs[i].started_ms;
		iso(since, t, sizeof(t));
		fmt_age(now - since, age, sizeof(age));
		fprintf(out, "silent:        %s: %s %s (%s ago)\n", hbs[i].source,
			hbs[i].heard_ms ? "last heard" : "never heard since", t, age);
	}
	for (size_t i = 0; i < nstorms; i++) {
		char t[32];
		iso(storms[i].started_ms, t, sizeof(t));
		fprintf(out, "storm:         %s: case %s, %ld alert(s) folded, %ld still firing, since %s\n", storms[i].source,
			storm_cases[i] ? storm_cases[i] : "(not created yet)", storms[i].members, storms[i].open, t);
	}
	if (!have_sources) {
		fprintf(out, "per source:    unavailable (store schema older than this casegate: start the daemon once)\n");
		rc = 0;
		goto out;
	}
	fprintf(out, "\n  %-16s %8s %8s %6s %10s  %-32s %s\n", "SOURCE", "WAITING", "OLDEST", "DEAD", "DELIVERED",
		"LAST DELIVERY", "LAST CASE");
	for (size_t i = 0; i < cfg->nsources; i++)
		print_source_line(out, cfg->sources[i].name, 1, stat_of(v, n, cfg->sources[i].name), now);
	for (size_t i = 0; i < n; i++)
		if (!configured(cfg, v[i].source))
			print_source_line(out, v[i].source, 0, &v[i], now);
	rc = 0;
out:
	cJSON_Delete(doc);
	cg_store_source_stats_free(v, n);
	cg_store_notes_free(notes, nnotes);
	cg_store_heartbeats_free(hbs, nhbs);
	for (size_t i = 0; storm_cases && i < nstorms; i++)
		free(storm_cases[i]);
	free(storm_cases);
	cg_storm_infos_free(storms, nstorms);
	cg_store_close(st);
	cg_config_free(cfg);
	return rc;
}
