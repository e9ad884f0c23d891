/* actions.h: lifecycle actions beyond create/comment/close (assignment, watchers, insights, links,
 * integrations, due dates, archive), project keys, and the bodies of those requests. */
#ifndef CG_ACTIONS_H
#define CG_ACTIONS_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "ddclient.h"
#include "event.h"
#include "lifecycle.h"
#include "payload.h"
#include "projects.h"
#include "store.h"

/* Steps one event may take at most (lifecycle steps + actions). */
#define CG_MAX_STEPS 24

/*
 * The settings that apply to a case at priority prio: the defaults of actions:, each field
 * overridden by the P<prio> block when that block sets it. Pointers into ac (not owned).
 */
void cg_actions_effective(const struct cg_actions_config *ac, int prio, struct cg_action_set *out);

/*
 * Appends the action steps of action a to steps[0..n), at most cap in all; returns the new
 * count. prio_before: the case's priority before the event (escalations); prio: the event's.
 * has_insights: the event's payload carries rendered insights; has_prev: the case follows an
 * earlier case of its key (cg_store_case.prev_case_id). The list depends only on these and
 * on the config, so an event resumed after a restart finds the same steps at the same index.
 */
int cg_actions_steps(enum cg_action a, const struct cg_source_config *src, int prio_before, int prio,
		     int has_insights, int has_prev, enum cg_step *steps, int n, int cap);

/* 1 for the action steps: a 4xx answer (other than 429) skips them instead of dead-lettering. */
int cg_actions_is_optional(enum cg_step s);

/* One request of an action step. */
struct cg_action_req {
	const char *method;
	char path[512];
	cJSON *body; /* owned by the caller after the call; NULL for no body */
};

/*
 * Builds the request of action step steps[index] of action a for the case cs (an event at
 * priority prio on a case at prio_before, payload as stored, now in wall ms). Returns 0 with *req filled, 1 when the step has nothing to
 * do (a one-shot integration already done, an archive for a case that moved on), CG_ENOMEM.
 */
int cg_actions_request(const struct cg_source_config *src, enum cg_action a, const enum cg_step *steps, int index,
		       int prio_before, int prio, const struct cg_store_case *cs, const struct cg_payload *payload,
		       int64_t now, struct cg_action_req *req);

/* Records a completed (done = 1) or skipped (done = 0) action step in the case record. */
void cg_actions_record(enum cg_step s, int done, struct cg_store_case *cs);

/* ---- creation ---- */

/*
 * Renders the source's insights (or, for a `datadog` source without `insights:`, the monitor
 * as a MONITOR insight) over the event's context: *out gets an array (caller deletes) or NULL
 * when there are none (those whose ref or resource_id render empty are dropped).
 * Returns 0 or CG_ENOMEM.
 */
int cg_actions_render_insights(const struct cg_source_config *src, const struct cg_event *ev, cJSON **out);

/*
 * Completes the CaseCreateRequest body for a source: relationships.assignee for the case's
 * priority, and the project key swapped for its UUID. Returns 0, CG_EAGAIN (the key is not
 * resolved yet), CG_ENOENT (no project has that key) or CG_ENOMEM.
 */
int cg_actions_decorate_create(cJSON *body, const struct cg_source_config *src, int prio,
			       const struct cg_projects *projects);

/* Bodies (NULL on ENOMEM). */
cJSON *cg_body_bulk(const char **case_ids, size_t n, const char *type, const char *key, const char *value);
cJSON *cg_body_archive(void);

#endif
