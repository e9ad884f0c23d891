/* provision_plan.c: the plan: the changes provision would make (create / update / delete), listed and printed. */
#include "provision.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ddsync.h"

struct cg_prov_item *cg_prov_add(struct cg_prov_plan *pl, enum cg_prov_op op, const char *kind, const char *method,
                                 cJSON *body, const char *label_fmt, ...)
{
	if (pl->n == pl->cap) {
		size_t cap = pl->cap ? pl->cap * 2 : 16;
		struct cg_prov_item *v = realloc(pl->v, cap * sizeof(*v));
		if (!v) {
			cJSON_Delete(body);
			return NULL;
		}
		pl->v = v;
		pl->cap = cap;
	}
	struct cg_prov_item *it = &pl->v[pl->n++];
	memset(it, 0, sizeof(*it));
	it->op = op;
	snprintf(it->kind, sizeof(it->kind), "%s", kind);
	it->method = method;
	it->body = body;
	va_list ap;
	va_start(ap, label_fmt);
	vsnprintf(it->label, sizeof(it->label), label_fmt, ap);
	va_end(ap);
	return it;
}

void cg_prov_plan_free(struct cg_prov_plan *pl)
{
	for (size_t i = 0; i < pl->n; i++)
		cJSON_Delete(pl->v[i].body);
	free(pl->v);
	cJSON_Delete(pl->project_ids);
}

cJSON *cg_prov_get_list(struct cg_prov *s, const char *path, const char *what)
{
	char e[400];
	cJSON *resp = NULL;
	long st = cg_ddsync_call(s->api, "GET", path, NULL, &resp, e, sizeof(e));
	if (!cg_prov_ok(st) || !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(resp, "data"))) {
		fprintf(s->err, "error: reading %s: %s\n", what, e[0] ? e : "answer without a data list");
		cJSON_Delete(resp);
		s->failed = 1;
		return NULL;
	}
	return resp;
}

void cg_prov_plan_print(const struct cg_prov_plan *pl, FILE *out)
{
	size_t n[3] = {0, 0, 0};
	for (size_t i = 0; i < pl->n; i++) {
		const struct cg_prov_item *it = &pl->v[i];
		n[it->op]++;
		fprintf(out, "%c %s %s%s%s\n",
		        it->op == CG_PROV_CREATE   ? '+'
		        : it->op == CG_PROV_UPDATE ? '~'
		                                   : '-',
		        it->kind, it->label, it->detail[0] ? ": " : "", it->detail);
	}
	if (pl->n == 0)
		fprintf(out, "No changes.\n");
	else
		fprintf(out, "Plan: %zu to create, %zu to update, %zu to delete.\n", n[CG_PROV_CREATE],
		        n[CG_PROV_UPDATE], n[CG_PROV_DELETE]);
}
