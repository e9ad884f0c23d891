/* lifecycle.c: the per-dedup-key case lifecycle: create, fold repeats, escalate, resolve, reopen, and
 * what each says on the case. */
#include "lifecycle.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "builder.h"
#include "event.h"

static const char *const action_names[] = {
	[CG_ACT_NONE] = "none",	      [CG_ACT_CREATE] = "create",	[CG_ACT_REOPEN] = "reopen",
	[CG_ACT_COMMENT] = "comment", [CG_ACT_ESCALATE] = "escalate",	[CG_ACT_DEESCALATE] = "deescalate",
	[CG_ACT_RESOLVE] = "resolve", [CG_ACT_FOLD] = "fold",		[CG_ACT_IGNORE] = "ignore",
	[CG_ACT_ARCHIVE] = "archive",
	[CG_ACT_NOTE] = "note",
	[CG_ACT_SYNC] = "sync",
};

const char *cg_action_name(enum cg_action a)
{
	return a < CG_ACT_MAX_ ? action_names[a] : "unknown";
}

const char *cg_step_name(enum cg_step s)
{
	switch (s) {
	case CG_STEP_CREATE: return "create";
	case CG_STEP_ATTRS: return "attributes";
	case CG_STEP_COMMENT: return "comment";
	case CG_STEP_CLOSE: return "close";
	case CG_STEP_OPEN: return "open";
	case CG_STEP_PRIORITY: return "priority";
	case CG_STEP_ASSIGN: return "assign";
	case CG_STEP_WATCH: return "watch";
	case CG_STEP_INSIGHTS: return "insights";
	case CG_STEP_LINK: return "link";
	case CG_STEP_DUE_DATE: return "due_date";
	case CG_STEP_JIRA: return "jira";
	case CG_STEP_SERVICENOW: return "servicenow";
	case CG_STEP_NOTEBOOK: return "notebook";
	case CG_STEP_ARCHIVE: return "archive";
	case CG_STEP_ACK_STATUS: return "acknowledge";
	}
	return "unknown";
}

void cg_lifecycle_defaults(struct cg_source_config *src)
{
	memset(src, 0, sizeof(*src));
	src->on_repeat = CG_REPEAT_DIGEST;
	src->digest_interval_ms = 15 * 60 * 1000;
	src->on_resolve = CG_RESOLVE_COMMENT_AND_CLOSE;
	src->reopen_window_ms = 60 * 60 * 1000;
	src->raise_priority = 1;
}

/* Priority 1 is the most urgent; 0 (NOT_DEFINED) ranks below P5. */
static int rank(int prio)
{
	return prio >= 1 && prio <= 5 ? prio : 6;
}

static int closes_case(const struct cg_source_config *src)
{
	return src->on_resolve == CG_RESOLVE_CLOSE || src->on_resolve == CG_RESOLVE_COMMENT_AND_CLOSE;
}

enum cg_action cg_lifecycle_decide(int status, int priority, const struct cg_store_case *c,
				   const struct cg_source_config *src, int64_t now)
{
	int state = c ? c->state : CG_CASE_NONE;
	if (status == CG_STATUS_COMMENT) {
		/* A note (mail reply, acknowledgement) needs a case to land on; it never makes one, and an
		 * archived case is never touched again. */
		return (state == CG_CASE_OPEN || state == CG_CASE_CLOSED) && (c->case_id || c->case_key) &&
				       !(c->action_flags & CG_CASE_ARCHIVED)
			       ? CG_ACT_NOTE
			       : CG_ACT_IGNORE;
	}
	/* Resolved, but the case left open in Datadog (on_resolve: comment): closed_ms is set while
	 * the state stays OPEN. */
	int resolved_open = state == CG_CASE_OPEN && c->closed_ms > 0;
	if (status == CG_STATUS_RESOLVED) {
		/* A resolution never creates a case. A repeated one adds nothing, unless the source now
		 * closes cases (its config changed since): then the open case is closed. */
		if (state != CG_CASE_OPEN && state != CG_CASE_CREATING)
			return CG_ACT_IGNORE;
		if (resolved_open && !closes_case(src))
			return CG_ACT_IGNORE;
		return src->on_resolve == CG_RESOLVE_IGNORE ? CG_ACT_IGNORE : CG_ACT_RESOLVE;
	}
	if (state == CG_CASE_NONE || state == CG_CASE_CREATING)
		return CG_ACT_CREATE;
	/* Firing again after a resolution that left the case open: it lands on that case, however
	 * long ago (a new case would leave two open cases for one alert). */
	if (resolved_open)
		return CG_ACT_REOPEN;
	if (state == CG_CASE_CLOSED) {
		/* An archived case is never reopened: the alert gets a new case. */
		if (c->action_flags & CG_CASE_ARCHIVED)
			return CG_ACT_CREATE;
		if (src->reopen_window_ms > 0 && now - c->closed_ms <= (int64_t)src->reopen_window_ms)
			return CG_ACT_REOPEN;
		return CG_ACT_CREATE;
	}
	/* Open case, firing again. */
	if (src->raise_priority && rank(priority) < rank(c->priority))
		return CG_ACT_ESCALATE;
	if (src->lower_priority && priority >= 1 && rank(priority) > rank(c->priority))
		return CG_ACT_DEESCALATE;
	switch (src->on_repeat) {
	case CG_REPEAT_IGNORE: return CG_ACT_IGNORE;
	case CG_REPEAT_COMMENT: return CG_ACT_COMMENT;
	case CG_REPEAT_DIGEST: break;
	}
	int64_t last = c->last_comment_ms > c->created_ms ? c->last_comment_ms : c->created_ms;
	return now - last >= (int64_t)src->digest_interval_ms ? CG_ACT_COMMENT : CG_ACT_FOLD;
}

int cg_lifecycle_steps(enum cg_action a, const struct cg_source_config *src, int has_attrs, int case_state,
		       enum cg_step steps[4])
{
	int n = 0;
	switch (a) {
	case CG_ACT_CREATE:
		steps[n++] = CG_STEP_CREATE;
		if (has_attrs)
			steps[n++] = CG_STEP_ATTRS;
		break;
	case CG_ACT_REOPEN:
		/* Whatever on_resolve says now: a case closed (then, or by an older config) is opened. */
		if (case_state == CG_CASE_CLOSED)
			steps[n++] = CG_STEP_OPEN;
		steps[n++] = CG_STEP_COMMENT;
		break;
	case CG_ACT_COMMENT:
	case CG_ACT_NOTE:
		steps[n++] = CG_STEP_COMMENT;
		break;
	case CG_ACT_ESCALATE:
	case CG_ACT_DEESCALATE:
		steps[n++] = CG_STEP_PRIORITY;
		steps[n++] = CG_STEP_COMMENT;
		break;
	case CG_ACT_RESOLVE:
		if (src->on_resolve == CG_RESOLVE_COMMENT || src->on_resolve == CG_RESOLVE_COMMENT_AND_CLOSE)
			steps[n++] = CG_STEP_COMMENT;
		if (closes_case(src))
			steps[n++] = CG_STEP_CLOSE;
		break;
	default:
		break;
	}
	return n;
}

/* A firing the case shows (not folded): counted, and any digest window ends with it. */
static void fired(struct cg_store_case *c, int64_t now)
{
	c->last_fire_ms = now;
	c->fires++;
	c->pending_repeats = 0;
	c->first_pending_ms = 0;
}

void cg_lifecycle_apply(enum cg_action a, struct cg_store_case *c, int priority, const char *summary,
			const struct cg_source_config *src, int64_t now)
{
	switch (a) {
	case CG_ACT_CREATE:
		c->state = CG_CASE_OPEN;
		c->priority = priority;
		c->created_ms = now;
		c->closed_ms = 0;
		c->last_comment_ms = 0;
		fired(c, now);
		break;
	case CG_ACT_REOPEN:
		c->state = CG_CASE_OPEN;
		c->closed_ms = 0;
		c->last_comment_ms = now;
		fired(c, now);
		break;
	case CG_ACT_COMMENT:
	case CG_ACT_ESCALATE:
	case CG_ACT_DEESCALATE:
		if (a != CG_ACT_COMMENT)
			c->priority = priority;
		c->last_comment_ms = now;
		fired(c, now);
		break;
	case CG_ACT_RESOLVE:
		/* on_resolve: comment leaves the case open in Datadog, and so in the store (the time of
		 * the resolution is kept in closed_ms: the next firing comments on the same case). */
		c->state = closes_case(src) ? CG_CASE_CLOSED : CG_CASE_OPEN;
		c->closed_ms = now;
		c->last_comment_ms = now;
		c->pending_repeats = 0;
		c->first_pending_ms = 0;
		break;
	case CG_ACT_FOLD:
		if (summary) {
			char *copy = strdup(summary);
			if (copy) {
				free(c->last_summary);
				c->last_summary = copy;
			}
		}
		if (c->pending_repeats == 0)
			c->first_pending_ms = now;
		c->pending_repeats++;
		c->last_fire_ms = now;
		c->fires++;
		break;
	case CG_ACT_NOTE: /* a human's note changes no counter: digests and reopen windows run as before */
	case CG_ACT_IGNORE:
	case CG_ACT_ARCHIVE: /* the archive step keeps its own flags */
	case CG_ACT_SYNC:    /* the engine writes what Datadog said */
	case CG_ACT_NONE:
	case CG_ACT_MAX_:
		return;
	}
}

static void iso8601(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

char *cg_lifecycle_comment(enum cg_action a, const struct cg_store_case *c, int prio, const char *severity,
			   const char *summary)
{
	char head[512] = "";
	char t1[32], t2[32];
	if (a == CG_ACT_NOTE)
		return strdup(summary); /* the note is the whole comment (e-mail replies) */
	switch (a) {
	case CG_ACT_REOPEN:
		iso8601(c->closed_ms, t1, sizeof(t1));
		snprintf(head, sizeof(head), "**Firing again** (resolved at %s): %s.", t1,
			 c->state == CG_CASE_CLOSED ? "case reopened" : "same case");
		break;
	case CG_ACT_COMMENT:
		/* A repeat of an alert that never resolved (a resolution reopens instead): it is still
		 * firing, never "again". Counted since the oldest repeat folded into this comment, else
		 * since the case last said something (its last comment, else its creation). */
		if (c->pending_repeats > 0) {
			iso8601(c->first_pending_ms, t1, sizeof(t1));
			snprintf(head, sizeof(head), "**Still firing**: fired %" PRId64 " more time%s since %s; latest:",
				 c->pending_repeats + 1, c->pending_repeats + 1 == 1 ? "" : "s", t1);
		} else {
			int64_t since = c->last_comment_ms > c->created_ms ? c->last_comment_ms : c->created_ms;
			if (since > 0) {
				iso8601(since, t1, sizeof(t1));
				snprintf(head, sizeof(head), "**Still firing**: fired 1 more time since %s; latest:",
					 t1);
			} else {
				snprintf(head, sizeof(head), "**Still firing**; latest:");
			}
		}
		break;
	case CG_ACT_ESCALATE:
	case CG_ACT_DEESCALATE:
		snprintf(head, sizeof(head), "**Priority %s** from %s to %s: severity is now `%s`.",
			 a == CG_ACT_ESCALATE ? "raised" : "lowered", cg_priority_name(c->priority),
			 cg_priority_name(prio), severity ? severity : "unknown");
		if (c->pending_repeats > 0) {
			/* This comment ends the digest window: report the folded repeats too. */
			size_t n = strlen(head);
			iso8601(c->first_pending_ms, t2, sizeof(t2));
			snprintf(head + n, sizeof(head) - n, " It fired %" PRId64 " more time%s since %s.",
				 c->pending_repeats, c->pending_repeats == 1 ? "" : "s", t2);
		}
		break;
	case CG_ACT_RESOLVE:
		if (c->pending_repeats > 0) {
			iso8601(c->first_pending_ms, t2, sizeof(t2));
			snprintf(head, sizeof(head), "**Resolved.** It fired %" PRId64 " more time%s since %s.",
				 c->pending_repeats, c->pending_repeats == 1 ? "" : "s", t2);
		} else {
			snprintf(head, sizeof(head), "**Resolved.**");
		}
		break;
	default:
		break;
	}
	size_t cap = strlen(head) + strlen(summary) + 4;
	char *text = malloc(cap);
	if (text)
		snprintf(text, cap, "%s\n\n%s", head, summary);
	return text;
}
