/* provision.h: what `casegate provision` (the config's provision: section reconciled with Case Management,
 * plan / apply) and `casegate maintenance start|end` (a project's maintenance window) share. */
#ifndef CG_PROVISION_H
#define CG_PROVISION_H

#include <stddef.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "ddsync.h"

/* Name suffix that marks automation rules, case views and maintenance windows as casegate's. */
#define CG_PROVISION_MARK " [casegate]"

/* Reads provision's and maintenance's options (-c, --datadog-url, --project, --duration, --plan,
 * --apply, one verb) from c->argv into c->a. -1 after saying what is wrong on c->err: the
 * command then prints its usage line and exits 2. */
int cg_prov_args(struct cg_cli *c);

/* A JSON:API request body {"data":{"attributes":attrs,"type":type}}; takes attrs. */
cJSON *cg_prov_env(const char *type, cJSON *attrs);

/* s with a zero fraction of seconds dropped: "2026-06-01T00:00:00.000Z" and
 * "2026-06-01T00:00:00Z" are the same time. */
void cg_prov_norm_time(const char *s, char *out, size_t len);

static inline int cg_prov_ok(long http_status)
{
	return http_status >= 200 && http_status < 300;
}

/* ---- the provision: section (provision_section.c) ---- */

/* Reads the provision: subtree of path as JSON; every mapping carries its line as "__line".
 * NULL when absent (*missing) or unreadable (said on err). */
cJSON *cg_prov_section_read(const char *path, FILE *err, int *missing);

/* Checks the section's keys and types; each problem as "file:line: provision: ..." on err.
 * Returns the number of problems. */
int cg_prov_section_check(const cJSON *sec, const char *file, FILE *err);

/* A copy of v without the "__line" bookkeeping. */
cJSON *cg_prov_clean(const cJSON *v);

/* The boolean at o.key, or dflt. */
int cg_prov_bool(const cJSON *o, const char *key, int dflt);

/* ---- the plan (provision_plan.c) ---- */

enum cg_prov_op { CG_PROV_CREATE, CG_PROV_UPDATE, CG_PROV_DELETE };

/* One request of the plan. */
struct cg_prov_item {
	enum cg_prov_op op;
	char kind[32];
	char label[300];
	char detail[300];
	const char *method;
	char path[512];       /* may hold "{project}" for a project created by this apply */
	char project_key[40]; /* whose id replaces {project} */
	cJSON *body;
};

struct cg_prov_plan {
	struct cg_prov_item *v;
	size_t n, cap;
	cJSON *project_ids; /* key -> id (known, or created by apply) */
};

/* One run of provision: the Datadog client, where errors go, the section's prune, and whether
 * reading Datadog failed (then nothing is printed or applied). */
struct cg_prov {
	const struct cg_ddsync *api;
	FILE *err;
	int prune;
	int failed;
};

/* Appends an item (takes body, also on failure); NULL when out of memory. The caller sets its
 * path (and project_key when the path holds "{project}"). */
__attribute__((format(printf, 6, 7))) struct cg_prov_item *cg_prov_add(struct cg_prov_plan *pl, enum cg_prov_op op,
                                                                       const char *kind, const char *method,
                                                                       cJSON *body, const char *label_fmt, ...);
void cg_prov_plan_free(struct cg_prov_plan *pl);

/* "+ kind label", "~ ...", "- ..." a line, then the summary ("No changes." when empty). */
void cg_prov_plan_print(const struct cg_prov_plan *pl, FILE *out);

/* GET path: the answer when it holds a data list; otherwise says so on s->err (what names the
 * list), sets s->failed and returns NULL. */
cJSON *cg_prov_get_list(struct cg_prov *s, const char *path, const char *what);

/* ---- one planner per resource kind (provision_kinds.c): each compares what Datadog has with
 * what decl declares and adds the difference to pl. pid NULL: the project is created by this
 * plan (its rules and views are all new). ---- */

void cg_prov_plan_nrules(struct cg_prov *s, struct cg_prov_plan *pl, const char *pkey, const char *pid,
                         const cJSON *decl);
/* kind: "automation_rule" or "view". */
void cg_prov_plan_named(struct cg_prov *s, struct cg_prov_plan *pl, const char *kind, const char *pkey, const char *pid,
                        const cJSON *decl);
void cg_prov_plan_case_types(struct cg_prov *s, struct cg_prov_plan *pl, const cJSON *decl);
void cg_prov_plan_windows(struct cg_prov *s, struct cg_prov_plan *pl, const cJSON *decl);

/* ---- apply (provision_apply.c) ---- */

/* Sends every item in order, printing "created|updated|deleted kind label" on out and each
 * failure on s->err; fills project ids in as projects are created. 1 when any failed. */
int cg_prov_apply(struct cg_prov *s, struct cg_prov_plan *pl, FILE *out);

#endif
