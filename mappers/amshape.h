/* amshape.h: the Alertmanager webhook shape, shared by the alertmanager and grafana mappers. */
#ifndef CG_AMSHAPE_H
#define CG_AMSHAPE_H

#include <stddef.h>
#include <cjson/cJSON.h>

#include "event.h"
#include "registry.h"
#include "sbuf.h"

/* What differs between Alertmanager's webhook and Grafana's Alertmanager-shaped one. */
struct cg_am_flavor {
	const char *product; /* "Alertmanager" / "Grafana": used in generated texts */
	/* Grafana: per-alert silenceURL/dashboardURL/panelURL/imageURL/valueString/values, silence links in
	 * Grafana's URL form, and the deprecated top-level `state: "ok"` also means resolved. */
	int grafana;
};

/*
 * Maps a webhook payload in the Alertmanager shape (`alerts[]` plus group fields). The
 * contract is cg_map_fn's: 0 with events (or an ignored_reason), CG_EINVAL naming the
 * field, or CG_ENOMEM; events already appended stay in out on error (the caller cleans up).
 */
int cg_am_map(const cJSON *payload, const struct cg_map_opts *opts, const struct cg_am_flavor *fl,
	      struct cg_event_list *out, char *err, size_t errlen);


#endif
