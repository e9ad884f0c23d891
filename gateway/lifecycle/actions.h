/* actions.h: lifecycle actions beyond create/comment/close (assignment, watchers, insights, links,
 * integrations, due dates, archive): which steps an event takes and what each carries (pure). */
#ifndef CG_ACTIONS_H
#define CG_ACTIONS_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "event.h"
#include "lifecycle.h"
#include "payload.h"
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
 * earlier case of its key (cg_store_case.prev_case_id); acknowledged: the event is an
 * acknowledgement (its payload says so). The list depends only on these and on the config, so
 * an event resumed after a restart finds the same steps at the same index.
 */
int cg_actions_steps(enum cg_action a, const struct cg_source_config *src, int prio_before, int prio,
		     int has_insights, int has_prev, int acknowledged, enum cg_step *steps, int n, int cap);

/* What an action step carries, decided from the config and the case: plain values, no request. */
struct cg_action_args {
	const char *assignee;       /* ASSIGN: the user the case goes to */
	const char *watcher;        /* WATCH: the user this step adds */
	char due_date[16];          /* DUE_DATE: "YYYY-MM-DD" (UTC) */
	const char *parent, *child; /* LINK: the two cases as the relationship reads them */
	const char *relationship;   /* LINK: "SUCCESSOR_OF" or "RELATES_TO" */
	const cJSON *insights;      /* INSIGHTS: the rendered list the event carries */
	const cJSON *integration;   /* JIRA, SERVICENOW: the attributes the config gives */
	const char *status;         /* ACK_STATUS: the status an acknowledgement sets */
};

/*
 * Decides what action step steps[index] of action a carries for the case cs (an event at
 * priority prio on a case at prio_before, payload as stored, now in wall ms). Returns 0 with
 * *out filled (pointers into src, cs and payload), or 1 when the step has nothing to do (a
 * one-shot integration already done, an archive for a case that moved on, a watcher the
 * config no longer has).
 */
int cg_actions_args(const struct cg_source_config *src, enum cg_action a, const enum cg_step *steps, int index,
		    int prio_before, int prio, const struct cg_store_case *cs, const struct cg_payload *payload,
		    int64_t now, struct cg_action_args *out);

/* Records a completed (done = 1) or skipped (done = 0) action step in the case record. */
void cg_actions_record(enum cg_step s, int done, struct cg_store_case *cs);

/*
 * Renders the source's insights (or, for a `datadog` source without `insights:`, the monitor
 * as a MONITOR insight) over the event's context: *out gets an array (caller deletes) or NULL
 * when there are none (those whose ref or resource_id render empty are dropped).
 * Returns 0 or CG_ENOMEM.
 */
int cg_actions_render_insights(const struct cg_source_config *src, const struct cg_event *ev, cJSON **out);

#endif
