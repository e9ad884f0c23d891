/* registry.c: the table of mappers. A new source: its file in sources/, one extern and one row here. */
#include "registry.h"

#include <string.h>

/* The sources name themselves here only: the table is the one place that knows them all (no header). */
extern const struct cg_mapper cg_mapper_generic;
/* the Alertmanager shape (amshape.c) */
extern const struct cg_mapper cg_mapper_alertmanager;
extern const struct cg_mapper cg_mapper_grafana;
/* the other webhook sources: each maps its own shape with the kit (maputil.h) */
extern const struct cg_mapper cg_mapper_datadog;
extern const struct cg_mapper cg_mapper_sentry;
extern const struct cg_mapper cg_mapper_azure;
extern const struct cg_mapper cg_mapper_gcp;
extern const struct cg_mapper cg_mapper_pagerduty;
extern const struct cg_mapper cg_mapper_opsgenie;
extern const struct cg_mapper cg_mapper_cloudwatch;
extern const struct cg_mapper cg_mapper_newrelic;
extern const struct cg_mapper cg_mapper_zabbix;
extern const struct cg_mapper cg_mapper_uptimekuma;
extern const struct cg_mapper cg_mapper_kibana;
/* the paging APIs casegate answers in their own shape (the intake hands the request to these) */
extern const struct cg_mapper cg_mapper_pagerduty_events;
extern const struct cg_mapper cg_mapper_opsgenie_alerts;
/* e-mail (mail.c parses, sources/email.c maps) */
extern const struct cg_mapper cg_mapper_email;

static const struct cg_mapper *const all[] = {
	&cg_mapper_generic,
	&cg_mapper_alertmanager,
	&cg_mapper_grafana,
	&cg_mapper_datadog,
	&cg_mapper_sentry,
	&cg_mapper_azure,
	&cg_mapper_gcp,
	&cg_mapper_pagerduty,
	&cg_mapper_opsgenie,
	&cg_mapper_cloudwatch,
	&cg_mapper_newrelic,
	&cg_mapper_zabbix,
	&cg_mapper_uptimekuma,
	&cg_mapper_kibana,
	&cg_mapper_pagerduty_events,
	&cg_mapper_opsgenie_alerts,
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
