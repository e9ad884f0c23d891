/* registry.h: the table of mappers, looked up by the source's `type`. */
#ifndef CG_REGISTRY_H
#define CG_REGISTRY_H

#include <stddef.h>
#include <cjson/cJSON.h>

#include "event.h"

enum cg_group_by { CG_GROUP_ALERT = 0, CG_GROUP_GROUP = 1 };

struct cg_mail_rules; /* mailrules.h */

struct cg_map_opts {
	enum cg_group_by group_by;
	/* type email: the source's compiled rule set (NULL: subject heuristics only). */
	const struct cg_mail_rules *mail_rules;
};

/*
 * A mapper is a pure function: payload in, events out. No I/O, no globals, no logging.
 * Returns 0 (events appended to out; zero events with out->ignored_reason set for
 * non-alerts), CG_EINVAL with a message naming the missing/invalid field (answered 422),
 * or CG_ENOMEM. The events' ctx may refer into payload (cg_event_build_ctx_view): keep payload
 * until the events are cleaned up.
 */
typedef int (*cg_map_fn)(const cJSON *payload, const struct cg_map_opts *opts, struct cg_event_list *out,
			 char *err, size_t errlen);

struct cg_mapper {
	const char *name;        /* the config `type` */
	const char *description; /* one line for docs/CLI */
	cg_map_fn map;
	int supports_group_by;   /* group_by: group is allowed */
	/* Default severity -> priority map for this source, "word=P1,word2=P3"; NULL for none. */
	const char *default_priority_map;
};

/* NULL when unknown. */
const struct cg_mapper *cg_mapper_find(const char *name);
/* NULL-terminated table of all mappers. */
const struct cg_mapper *const *cg_mapper_all(void);

#endif
