/* registry.c: the table of mappers. Add a mapper here and in its own file. */
#include "registry.h"

#include <string.h>

extern const struct cg_mapper cg_mapper_generic;
extern const struct cg_mapper cg_mapper_alertmanager;
extern const struct cg_mapper cg_mapper_grafana;
/* SaaS alerting tools (srcA) */
extern const struct cg_mapper cg_mapper_datadog;
extern const struct cg_mapper cg_mapper_sentry;
extern const struct cg_mapper cg_mapper_azure;
extern const struct cg_mapper cg_mapper_gcp;
extern const struct cg_mapper cg_mapper_pagerduty;
extern const struct cg_mapper cg_mapper_opsgenie;
/* srcB: */
extern const struct cg_mapper cg_mapper_cloudwatch;
extern const struct cg_mapper cg_mapper_newrelic;
extern const struct cg_mapper cg_mapper_zabbix;
extern const struct cg_mapper cg_mapper_uptimekuma;
extern const struct cg_mapper cg_mapper_kibana;
/* e-mail (mail.c parses, email.c maps) */
extern const struct cg_mapper cg_mapper_email;

static const struct cg_mapper *const all[] = {
	&cg_mapper_generic,
	&cg_mapper_alertmanager,
	&cg_mapper_grafana,
	/* SaaS alerting tools (srcA) */
	&cg_mapper_datadog,
	&cg_mapper_sentry,
	&cg_mapper_azure,
	&cg_mapper_gcp,
	&cg_mapper_pagerduty,
	&cg_mapper_opsgenie,
	/* srcB: */
	&cg_mapper_cloudwatch,
	&cg_mapper_newrelic,
	&cg_mapper_zabbix,
	&cg_mapper_uptimekuma,
	&cg_mapper_kibana,
	/* e-mail */
	&cg_mapper_email,
	NULL,
};

const struct cg_mapper *cg_mapper_find(const char *name)
{
	for (size_t i = 0; all[i]; i++)
		if (strcmp(all[i]->name, name) == 0)
			return all[i];
	return NULL;
}

const struct cg_mapper *const *cg_mapper_all(void)
{
	return all;
}
