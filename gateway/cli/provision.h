/* provision.h: what `casegate provision` (the config's provision: section reconciled with Case Management,
 * plan / apply) and `casegate maintenance start|end` (a project's maintenance window) share. */
#ifndef CG_PROVISION_H
#define CG_PROVISION_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "cli.h"

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

#endif
