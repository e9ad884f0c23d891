/* lifecycle.h: what one alert event does to the case of its dedup key (pure decisions). */
#ifndef CG_LIFECYCLE_H
#define CG_LIFECYCLE_H

#include <stdint.h>

#include "config.h"
#include "store.h"

enum cg_action {
	CG_ACT_NONE = 0,    /* undecided */
	CG_ACT_CREATE,      /* open a new case */
	CG_ACT_REOPEN,      /* firing again within reopen_window: reopen + comment */
	CG_ACT_COMMENT,     /* repeat: one comment (on_repeat comment, or a digest that is due) */
	CG_ACT_ESCALATE,    /* severity rose: raise priority + comment */
	CG_ACT_DEESCALATE,  /* severity fell and lower_priority is on: lower priority + comment */
	CG_ACT_RESOLVE,     /* resolved: comment and/or close per on_resolve */
	CG_ACT_FOLD,        /* repeat folded into the next digest: no request */
	CG_ACT_IGNORE,      /* nothing to do (on_repeat ignore, resolution of an unknown key, ...) */
	CG_ACT_ARCHIVE,     /* archive a case closed long ago (queued by the engine's sweep, never decided) */
	CG_ACT_NOTE,        /* CG_STATUS_COMMENT on a known case: one comment, the case is left as it is */
	CG_ACT_SYNC,        /* re-read the case from Datadog (queued when Datadog says it changed; never decided) */
	CG_ACT_MAX_
};

enum cg_step {
	CG_STEP_CREATE = 1, /* POST /cases (after reconciling an unknown earlier outcome) */
	CG_STEP_ATTRS,      /* POST /cases/{id}/attributes */
	CG_STEP_COMMENT,    /* POST /cases/{id}/comment */
	CG_STEP_CLOSE,      /* POST /cases/{id}/status (closed) */
	CG_STEP_OPEN,       /* POST /cases/{id}/status (open) */
	CG_STEP_PRIORITY,   /* POST /cases/{id}/priority */
	/* Lifecycle actions (actions.h); a 4xx answer skips them instead of dead-lettering the event. */
	CG_STEP_ASSIGN,     /* POST /cases/{id}/assign */
	CG_STEP_WATCH,      /* POST /cases/{id}/watchers/{user} (one step per watcher) */
	CG_STEP_INSIGHTS,   /* PUT /cases/{id}/insights */
	CG_STEP_LINK,       /* POST /cases/link (to the previous case of the key) */
	CG_STEP_DUE_DATE,   /* POST /cases/{id}/due_date */
	CG_STEP_JIRA,       /* POST /cases/{id}/relationships/jira_issues */
	CG_STEP_SERVICENOW, /* POST /cases/{id}/relationships/servicenow_tickets */
	CG_STEP_NOTEBOOK,   /* POST /cases/{id}/relationships/notebook */
	CG_STEP_ARCHIVE,    /* POST /cases/{id}/archive */
	CG_STEP_ACK_STATUS, /* POST /cases/{id}/status (actions.acknowledge_status) */
};

const char *cg_action_name(enum cg_action a);
const char *cg_step_name(enum cg_step s);

/* Lifecycle settings with their defaults, for events whose source no longer exists. */
void cg_lifecycle_defaults(struct cg_source_config *src);

/*
 * Decides the action for an event (status, priority) given the case state c (state
 * CG_CASE_NONE when there is none) and the source settings, at time now (ms).
 */
enum cg_action cg_lifecycle_decide(int status, int priority, const struct cg_store_case *c,
				   const struct cg_source_config *src, int64_t now);

/*
 * The requests an action makes, in order, into steps (at most 4). Returns the count.
 * has_attrs: the event carries labels to set after creation. case_state: the stored state of
 * the case before the event (a reopen sets the status only of a case that is closed; one left
 * open by `on_resolve: comment` keeps whatever status people gave it).
 */
int cg_lifecycle_steps(enum cg_action a, const struct cg_source_config *src, int has_attrs, int case_state,
		       enum cg_step steps[4]);

/*
 * Applies a completed action to the case record (counters, state, times, priority).
 * CREATE's id/key are set by the caller from the response.
 */
void cg_lifecycle_apply(enum cg_action a, struct cg_store_case *c, int priority, const char *summary,
			const struct cg_source_config *src, int64_t now);

/*
 * The text of the comment step of action a on case c (as stored before the event: its
 * priority, counters and times), for an event at priority prio with severity (may be NULL) and
 * summary. A note's comment is the summary alone. malloc'd (caller frees); NULL on ENOMEM.
 */
char *cg_lifecycle_comment(enum cg_action a, const struct cg_store_case *c, int prio, const char *severity,
			   const char *summary);

/* Step encoding persisted in the event: (action << 8) | index of the next step. */
static inline int cg_step_encode(enum cg_action a, int index)
{
	return ((int)a << 8) | index;
}
static inline enum cg_action cg_step_action(int step)
{
	return (enum cg_action)(step >> 8);
}
static inline int cg_step_index(int step)
{
	return step & 0xff;
}

#endif
