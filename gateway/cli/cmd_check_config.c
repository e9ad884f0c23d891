/* cmd_check_config.c: `casegate check-config`: the config and its templates, and with --online what Datadog has. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actions.h"
#include "builders.h"
#include "catypes.h"
#include "commands.h"
#include "config.h"
#include "ddclient.h"
#include "ddsync.h"
#include "projects.h"

/*
 * --online: asks Datadog (blocking) whether the keys work, every source's project exists and
 * every case type defines the custom attributes the sources set (and the marker attribute).
 * Errors (keys refused, a project or case type missing) and warnings go to err as
 * "file:line: ..." lines; a summary line to out. Returns 0 (no errors; warnings may have been
 * printed) or 1.
 */
static int check_online(const struct cg_config *cfg, const char *dd_url, FILE *out, FILE *err)
{
	struct cg_ddsync api;
	if (cg_ddsync_init(&api, cfg, dd_url, err) != 0)
		return 1;
	if (cg_dd_global_init() != 0) {
		fprintf(err, "casegate: libcurl initialisation failed\n");
		return 1;
	}
	const char *file = cfg->path ? cfg->path : "config";
	int errors = 0;
	size_t warnings = 0;
	char e[500];
	cJSON *resp = NULL;
	long st = cg_ddsync_call(&api, "GET", "/api/v2/cases/projects", NULL, &resp, e, sizeof(e));
	if (st == 401 || st == 403) {
		fprintf(err, "%s: error: Datadog refuses the API or application key (%s): the daemon would hold every "
			     "event until they work\n",
			file, e);
		cg_dd_global_cleanup();
		return 1;
	}
	if (st < 200 || st >= 300) {
		fprintf(err, "%s: error: listing projects: %s\n", file, e[0] ? e : "no answer");
		cg_dd_global_cleanup();
		return 1;
	}
	struct cg_projects projects = {0};
	char *text = resp ? cJSON_PrintUnformatted(resp) : NULL;
	if (!text || cg_projects_parse(&projects, text, strlen(text)) != 0) {
		fprintf(err, "%s: error: the project listing is not understood\n", file);
		errors++;
	}
	cJSON_free(text);
	cJSON_Delete(resp);
	for (size_t i = 0; i < cfg->nsources && !errors; i++) {
		const struct cg_source_config *src = &cfg->sources[i];
		if (!src->project)
			continue;
		int found = 0;
		for (size_t k = 0; k < projects.n; k++)
			found |= strcmp(projects.keys[k], src->project) == 0 || strcmp(projects.ids[k], src->project) == 0;
		if (!found) {
			fprintf(err, "%s:%d: error: source '%s': project '%s' does not exist in Datadog (create it, e.g. with "
				     "casegate provision)\n",
				file, src->line, src->name, src->project);
			errors++;
		}
	}
	cg_projects_cleanup(&projects);

	struct cg_catypes types = {0};
	for (size_t i = 0; i < cfg->nsources; i++) {
		const struct cg_source_config *src = &cfg->sources[i];
		if (!src->case_type || cg_catypes_get(&types, src->case_type, 0))
			continue;
		struct cg_catype *t = cg_catypes_get(&types, src->case_type, 1);
		if (!t)
			break;
		char path[200];
		snprintf(path, sizeof(path), "/api/v2/cases/types/%s/custom_attributes", src->case_type);
		st = cg_ddsync_call(&api, "GET", path, NULL, &resp, e, sizeof(e));
		if (st == 404) {
			fprintf(err, "%s:%d: error: source '%s': case type %s does not exist in Datadog\n", file, src->line,
				src->name, src->case_type);
			errors++;
			continue;
		}
		text = st >= 200 && st < 300 && resp ? cJSON_PrintUnformatted(resp) : NULL;
		cJSON_Delete(resp);
		if (!text || cg_catype_set(t, text, strlen(text)) != 0) {
			fprintf(err, "%s:%d: warning: source '%s': could not read case type %s's custom attributes: %s\n", file,
				src->line, src->name, src->case_type, e[0] ? e : "not understood");
			warnings++;
		} else if (cfg->dd_marker_attr && !cg_catype_has_text(t, cfg->dd_marker_attr)) {
			fprintf(err,
				"%s:%d: note: case type %s has no single TEXT custom attribute '%s': casegate finds a case "
				"whose create answer was lost by its description only (add the attribute with provision "
				"case_types)\n",
				file, src->line, src->case_type, cfg->dd_marker_attr);
		}
		cJSON_free(text);
	}
	char *lines = NULL;
	warnings += cg_catypes_report(cfg, &types, &lines);
	if (lines)
		fprintf(err, "%s\n", lines);
	free(lines);
	cg_catypes_cleanup(&types);
	cg_dd_global_cleanup();
	if (errors)
		return 1;
	fprintf(out, "%s: ok online (keys accepted, %zu source(s) checked against Datadog, %zu warning(s))\n", file,
		cfg->nsources, warnings);
	return 0;
}

int cg_cmd_check_config(struct cg_cli *c)
{
	const struct cg_cli_args *a = &c->a;
	struct cg_config *cfg = cg_cli_config(c);
	if (!cfg)
		return 1;
	struct cg_builder **b = NULL;
	char err[512];
	int rc = cg_builders_create(cfg, &b, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "%s: %s\n", a->config, err);
	} else {
		/* cg_cli_config printed the warnings already (CG_CLI_WARNINGS in the command table). */
		printf("%s: ok (%zu source(s))\n", a->config, cfg->nsources);
		cg_builders_free(b, cfg->nsources);
		if (a->online)
			rc = check_online(cfg, a->dd_url, stdout, stderr);
	}
	cg_config_free(cfg);
	return rc ? 1 : 0;
}
