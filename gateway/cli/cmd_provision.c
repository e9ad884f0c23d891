/* cmd_provision.c: `casegate provision`: reconciles the Case Management resources of the config's
 * `provision:` section with Datadog (plan / apply). */
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "commands.h"
#include "config.h"
#include "ddclient.h"
#include "ddsync.h"
#include "provision.h"

/* The whole plan, in the order apply needs: each project before its notification rules,
 * automation rules and views; then case types' custom attributes and maintenance windows. */
static void make_plan(struct cg_prov *s, const cJSON *sec, struct cg_prov_plan *pl)
{
	cJSON *projects = cg_prov_get_list(s, "/api/v2/cases/projects", "projects");
	if (!projects)
		return;
	pl->project_ids = cJSON_CreateObject();
	const cJSON *p;
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(projects, "data"))
	{
		const char *key = cJSON_GetStringValue(
			cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(p, "attributes"), "key"));
		const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "id"));
		if (key && id)
			cJSON_AddStringToObject(pl->project_ids, key, id);
	}
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(sec, "projects"))
	{
		const char *key = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "key"));
		const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "name"));
		const char *team = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "team"));
		const char *pid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pl->project_ids, key));
		const cJSON *cur = NULL, *it;
		cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(projects, "data"))
		{
			if (pid && strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "id")), pid) == 0)
				cur = it;
		}
		if (!pid) {
			cJSON *a = cJSON_CreateObject();
			cJSON_AddStringToObject(a, "key", key);
			cJSON_AddStringToObject(a, "name", name);
			if (team)
				cJSON_AddStringToObject(a, "team_uuid", team);
			struct cg_prov_item *x = cg_prov_add(pl, CG_PROV_CREATE, "project", "POST",
			                                     cg_prov_env("project", a), "%s (%s)", key, name);
			if (x) {
				snprintf(x->path, sizeof(x->path), "/api/v2/cases/projects");
				snprintf(x->project_key, sizeof(x->project_key), "%s", key);
			}
		} else {
			const char *cn = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
			    cJSON_GetObjectItemCaseSensitive(cur, "attributes"), "name"));
			/* The team is given at creation only: the update endpoint has no team field. */
			if (!cn || strcmp(cn, name) != 0) {
				cJSON *a = cJSON_CreateObject();
				cJSON_AddStringToObject(a, "name", name);
				struct cg_prov_item *x = cg_prov_add(pl, CG_PROV_UPDATE, "project", "PATCH",
				                                     cg_prov_env("project", a), "%s", key);
				if (x) {
					snprintf(x->path, sizeof(x->path), "/api/v2/cases/projects/%s", pid);
					snprintf(x->detail, sizeof(x->detail), "name \"%s\" -> \"%s\"", cn ? cn : "",
					         name);
				}
			}
		}
		cg_prov_plan_nrules(s, pl, key, pid, cJSON_GetObjectItemCaseSensitive(p, "notification_rules"));
		cg_prov_plan_named(s, pl, "automation_rule", key, pid,
		                   cJSON_GetObjectItemCaseSensitive(p, "automation_rules"));
		cg_prov_plan_named(s, pl, "view", key, pid, cJSON_GetObjectItemCaseSensitive(p, "views"));
	}
	cg_prov_plan_case_types(s, pl, cJSON_GetObjectItemCaseSensitive(sec, "case_types"));
	cg_prov_plan_windows(s, pl, cJSON_GetObjectItemCaseSensitive(sec, "maintenance_windows"));
	cJSON_Delete(projects);
}

int cg_cmd_provision(struct cg_cli *c)
{
	const struct cg_cli_args *a = &c->a;
	FILE *out = c->out, *err = c->err;
	if (cg_prov_args(c) != 0 || a->plan == a->apply || a->verb || a->project || a->duration) {
		fprintf(err, "usage: casegate provision -c FILE --plan | --apply [--datadog-url URL]\n");
		return 2;
	}
	struct cg_config *cfg = cg_cli_config(c);
	if (!cfg)
		return 1;
	int missing = 0, rc = 1;
	struct cg_ddsync api;
	struct cg_prov_plan pl = {0};
	cJSON *sec = cg_prov_section_read(a->config, err, &missing);
	if (!sec) {
		if (missing)
			fprintf(err, "%s: no provision: section\n", a->config);
		goto out;
	}
	if (cg_prov_section_check(sec, a->config, err) || cg_ddsync_init(&api, cfg, a->dd_url, err) != 0)
		goto out;
	if (cg_dd_global_init() != 0)
		goto out;
	struct cg_prov st = {&api, err, cg_prov_bool(sec, "prune", 0), 0};
	make_plan(&st, sec, &pl);
	if (st.failed) {
		cg_dd_global_cleanup();
		goto out;
	}
	cg_prov_plan_print(&pl, out);
	rc = 0;
	if (a->apply && pl.n)
		rc = cg_prov_apply(&st, &pl, out) ? 1 : 0;
	cg_dd_global_cleanup();
out:
	cg_prov_plan_free(&pl);
	cJSON_Delete(sec);
	cg_config_free(cfg);
	return rc;
}
