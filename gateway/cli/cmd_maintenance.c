/* cmd_maintenance.c: `casegate maintenance start|end`: open or end a project's maintenance window in Datadog.
 * start opens "maintenance KEY [casegate]" on query project:KEY from now for --duration (1h);
 * end ends the open windows start made for that project (end_at = now). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "commands.h"
#include "config.h"
#include "ddclient.h"
#include "ddsync.h"
#include "provision.h"

static int parse_dur(const char *s, long *secs)
{
	char *end;
	long v = strtol(s, &end, 10);
	long f = strcmp(end, "s") == 0 ? 1 : strcmp(end, "m") == 0 ? 60 : strcmp(end, "h") == 0 ? 3600 : strcmp(end, "d") == 0 ? 86400 : 0;
	if (end == s || v <= 0 || !f || v > 30L * 86400 / f)
		return -1;
	*secs = v * f;
	return 0;
}

static void iso(time_t t, char *out, size_t len)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int cg_cmd_maintenance(struct cg_cli *c)
{
	const struct cg_cli_args *a = &c->a;
	FILE *out = c->out, *err = c->err;
	long secs = 3600;
	if (cg_prov_args(c) != 0 || !a->verb || !a->project ||
	    (strcmp(a->verb, "start") != 0 && strcmp(a->verb, "end") != 0) || a->plan || a->apply ||
	    (a->duration && parse_dur(a->duration, &secs) != 0)) {
		fprintf(err, "usage: casegate maintenance start|end -c FILE --project KEY [--duration 1h] "
			     "[--datadog-url URL]\n");
		return 2;
	}
	for (const char *k = a->project; *k; k++)
		if (!isupper((unsigned char)*k) && !isdigit((unsigned char)*k)) {
			fprintf(err, "casegate maintenance: --project takes a project key (e.g. SEC)\n");
			return 2;
		}
	struct cg_config *cfg = cg_cli_config(c);
	if (!cfg)
		return 1;
	struct cg_ddsync api;
	int rc = 1;
	char name[200], query[80], e[400], t0[32], t1[32];
	snprintf(name, sizeof(name), "maintenance %s%s", a->project, CG_PROVISION_MARK);
	snprintf(query, sizeof(query), "project:%s", a->project);
	if (cg_ddsync_init(&api, cfg, a->dd_url, err) != 0 || cg_dd_global_init() != 0) {
		cg_config_free(cfg);
		return 1;
	}
	time_t now = time(NULL);
	iso(now, t0, sizeof(t0));
	if (strcmp(a->verb, "start") == 0) {
		iso(now + secs, t1, sizeof(t1));
		cJSON *at = cJSON_CreateObject();
		cJSON_AddStringToObject(at, "end_at", t1);
		cJSON_AddStringToObject(at, "name", name);
		cJSON_AddStringToObject(at, "query", query);
		cJSON_AddStringToObject(at, "start_at", t0);
		cJSON *resp = NULL;
		long st = cg_ddsync_call(&api, "POST", "/api/v2/maintenance_windows", cg_prov_env("maintenance_window", at), &resp, e, sizeof(e));
		if (cg_prov_ok(st)) {
			const char *id = cJSON_GetStringValue(
				cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(resp, "data"), "id"));
			fprintf(out, "maintenance window %s for project %s: %s to %s\n", id ? id : "?", a->project, t0, t1);
			rc = 0;
		} else {
			fprintf(err, "error: opening the maintenance window for %s: %s\n", a->project, e);
		}
		cJSON_Delete(resp);
	} else {
		cJSON *resp = NULL;
		long st = cg_ddsync_call(&api, "GET", "/api/v2/maintenance_windows", NULL, &resp, e, sizeof(e));
		if (!cg_prov_ok(st)) {
			fprintf(err, "error: listing maintenance windows: %s\n", e);
		} else {
			int ended = 0;
			rc = 0;
			const cJSON *w;
			cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(resp, "data"))
			{
				const cJSON *wa = cJSON_GetObjectItemCaseSensitive(w, "attributes");
				const char *wn = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(wa, "name"));
				const char *we = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(wa, "end_at"));
				const char *ws = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(wa, "start_at"));
				const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(w, "id"));
				char ne[32], ns[32];
				cg_prov_norm_time(we, ne, sizeof(ne));
				cg_prov_norm_time(ws, ns, sizeof(ns));
				/* The earliest end a window can have: one second after its start. */
				char first_end[32] = "";
				struct tm tm = {0};
				if (sscanf(ns, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
					   &tm.tm_min, &tm.tm_sec) == 6) {
					tm.tm_year -= 1900;
					tm.tm_mon -= 1;
					iso(timegm(&tm) + 1, first_end, sizeof(first_end));
				}
				if (!wn || !id || strcmp(wn, name) != 0 || strcmp(ne, t0) <= 0 || strcmp(ne, first_end) <= 0)
					continue; /* not ours, or over already (or ended within its first second) */
				/* End now; a window that has not started yet ends one second after its start. */
				char endt[32];
				snprintf(endt, sizeof(endt), "%s", strcmp(ns, t0) >= 0 && first_end[0] ? first_end : t0);
				cJSON *at = cJSON_CreateObject();
				cJSON_AddStringToObject(at, "end_at", endt);
				char path[200];
				snprintf(path, sizeof(path), "/api/v2/maintenance_windows/%s", id);
				long s2 = cg_ddsync_call(&api, "PUT", path, cg_prov_env("maintenance_window", at), NULL, e, sizeof(e));
				if (cg_prov_ok(s2)) {
					fprintf(out, "maintenance window %s for project %s ended at %s\n", id, a->project, endt);
					ended++;
				} else {
					fprintf(err, "error: ending maintenance window %s (%s): %s\n", id, a->project, e);
					rc = 1;
				}
			}
			if (!ended && rc == 0)
				fprintf(out, "no open maintenance window for project %s\n", a->project);
		}
		cJSON_Delete(resp);
	}
	cg_dd_global_cleanup();
	cg_config_free(cfg);
	return rc;
}
