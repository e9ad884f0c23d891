/* provision_apply.c: carries out a plan, in order (a project before what it holds); the only writes provision makes. */
#include "provision.h"

#include <stdio.h>
#include <string.h>

#include "ddsync.h"

/* Replaces "{project}" in s (in place) with id. */
static void subst(char *s, size_t len, const char *id)
{
	char *at = strstr(s, "{project}");
	if (!at || !id)
		return;
	char tail[600];
	snprintf(tail, sizeof(tail), "%s", at + 9);
	snprintf(at, len - (size_t)(at - s), "%s%s", id, tail);
}

int cg_prov_apply(struct cg_prov *s, struct cg_prov_plan *pl, FILE *out)
{
	int failed = 0;
	for (size_t i = 0; i < pl->n; i++) {
		struct cg_prov_item *it = &pl->v[i];
		const char *pid =
		    it->project_key[0]
		        ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pl->project_ids, it->project_key))
		        : NULL;
		if (strstr(it->path, "{project}") && !pid && strcmp(it->kind, "project") != 0) {
			fprintf(s->err, "error: %s %s: project %s was not created\n", it->kind, it->label,
			        it->project_key);
			failed = 1;
			continue;
		}
		subst(it->path, sizeof(it->path), pid);
		cJSON *pidv = cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(it->body, "data"), "attributes"),
		    "project_id");
		if (pidv && pid)
			cJSON_SetValuestring(pidv, pid);
		char e[400];
		cJSON *resp = NULL;
		cJSON *body = it->body;
		it->body = NULL;
		long st = cg_ddsync_call(s->api, it->method, it->path, body, &resp, e, sizeof(e));
		if (!cg_prov_ok(st)) {
			fprintf(s->err, "error: %s %s %s: %s\n",
			        it->op == CG_PROV_CREATE   ? "creating"
			        : it->op == CG_PROV_UPDATE ? "updating"
			                                   : "deleting",
			        it->kind, it->label, e);
			failed = 1;
		} else {
			fprintf(out, "%s %s %s\n",
			        it->op == CG_PROV_CREATE   ? "created"
			        : it->op == CG_PROV_UPDATE ? "updated"
			                                   : "deleted",
			        it->kind, it->label);
			if (strcmp(it->kind, "project") == 0 && it->op == CG_PROV_CREATE) {
				const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
				    cJSON_GetObjectItemCaseSensitive(resp, "data"), "id"));
				if (id)
					cJSON_AddStringToObject(pl->project_ids, it->project_key, id);
			}
		}
		cJSON_Delete(resp);
	}
	return failed;
}
