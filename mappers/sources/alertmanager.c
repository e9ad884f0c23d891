/* alertmanager.c: Alertmanager webhook (version 4) to events, one per alert or one per notification (amshape.c). */
#include "amshape.h"

static int map_alertmanager(const cJSON *payload, const struct cg_map_opts *opts, struct cg_event_list *out,
			    char *err, size_t errlen)
{
	static const struct cg_am_flavor fl = {.product = "Alertmanager", .grafana = 0};
	return cg_am_map(payload, opts, &fl, out, err, errlen);
}

const struct cg_mapper cg_mapper_alertmanager = {
	.name = "alertmanager",
	.description = "Prometheus Alertmanager webhook (version 4); one case per alert or per group",
	.map = map_alertmanager,
	.supports_group_by = 1,
	.default_priority_map = "critical=P1,crit=P1,high=P2,error=P2,major=P2,warning=P3,warn=P3,medium=P3,"
				"low=P4,minor=P4,info=P5,informational=P5,none=P5",
};
