/* recon.c: Datadog is the truth: finding the case of a create whose answer was lost (searches under
 * index lag), and reading a case back before acting on an old record. Decisions on plain records. */
#define CG_LOG_COMPONENT "engine"
#include "recon.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "retry.h"

static void set_str(char **dst, const char *v)
{
	char *c = v ? strdup(v) : NULL;
	free(*dst);
	*dst = c;
}

static int settled(const struct cg_recon *r, int64_t now)
{
	return r->sent_ms <= 0 || now >= r->sent_ms + (int64_t)r->settle_ms;
}

/* Moves phase past the searches that do not apply now. */
static int skip(int phase, const struct cg_recon *r, int64_t now)
{
	if (phase == CG_RECON_ATTR && !r->attr)
		phase = CG_RECON_NEWEST;
	if (phase == CG_RECON_NEWEST && !settled(r, now))
		phase = CG_RECON_DONE;
	return phase;
}

enum cg_req_kind cg_recon_search(int *phase, const struct cg_recon *r, int64_t now)
{
	static const enum cg_req_kind kinds[] = {
		[CG_RECON_MARKER] = CG_REQ_SEARCH_MARKER,
		[CG_RECON_ATTR] = CG_REQ_SEARCH_ATTR,
		[CG_RECON_NEWEST] = CG_REQ_SEARCH_NEWEST,
	};
	*phase = skip(*phase, r, now);
	if (*phase >= CG_RECON_DONE)
		*phase = CG_RECON_MARKER; /* nothing left to ask this round (a phase was skipped) */
	return kinds[*phase];
}

enum cg_recon_verdict cg_recon_answer(int *phase, const struct cg_recon *r, const struct cg_dd_result *res,
				      const char *why, int64_t now, struct cg_dd_case_view *view, int64_t *next_ms)
{
	enum cg_outcome oc = cg_retry_classify(res->transport_error, res->status);
	if (oc == CG_RETRY_LATER)
		return CG_RECON_RETRY;
	if (oc == CG_DELIVERED) {
		int64_t oldest = 0;
		int found = cg_dd_answer_find_marker(res->body, res->body_len, r->marker, r->attr, r->project_id, view,
						     &oldest);
		if (found == 1) {
			*phase = CG_RECON_MARKER;
			return CG_RECON_FOUND;
		}
		if (found < 0)
			CG_LOG_WARN("key=%s: search answer is not a case list; treating it as not found", r->key);
	} else {
		/* A search Datadog refuses (a filter syntax it does not know) tells nothing: go on. */
		CG_LOG_WARN("key=%s: search refused (%s): trying the next way", r->key, why);
	}
	*phase = skip(*phase + 1, r, now);
	if (*phase < CG_RECON_DONE)
		return CG_RECON_NEXT;
	*phase = CG_RECON_MARKER;
	if (settled(r, now))
		return CG_RECON_ABSENT;
	/* Search lag: "not found" proves nothing yet. Ask again on a schedule that thins out towards
	 * the settle time; the key's later events wait behind this one. */
	int64_t until = r->sent_ms + (int64_t)r->settle_ms;
	int64_t d = (now - r->sent_ms) / 2;
	if (d < 1000)
		d = 1000;
	if (d > until - now)
		d = until - now;
	if (d < 100)
		d = 100;
	*next_ms = now + d;
	return CG_RECON_WAIT;
}

void cg_recon_adopt(struct cg_store_case *c, const struct cg_dd_case_view *v, int create, int prio, int64_t started,
		    int64_t now)
{
	set_str(&c->case_id, v->id);
	set_str(&c->case_key, v->key[0] ? v->key : NULL);
	c->state = CG_CASE_OPEN;
	c->confirmed_ms = now;
	if (create) {
		c->priority = prio;
		c->created_ms = v->created_ms ? v->created_ms : started;
	} else if (!c->created_ms) {
		/* A given-up create had worked: the pending step applies to that case. */
		c->created_ms = v->created_ms ? v->created_ms : started;
	}
}

/* ---- reading a case back ---- */

int cg_refresh_due(const struct cg_store_case *c, int64_t now, uint64_t refresh_ms)
{
	if (!c->case_id || (c->state != CG_CASE_OPEN && c->state != CG_CASE_CLOSED) ||
	    (c->action_flags & CG_CASE_ARCHIVED))
		return 0;
	return now - c->confirmed_ms >= (int64_t)refresh_ms;
}

/* Datadog's state of the case wins over the record. */
static const char *apply_view(struct cg_store_case *c, const struct cg_dd_case_view *v, const char *source,
			      const char *dedup_key, int64_t now)
{
	const char *key = c->case_key ? c->case_key : v->id;
	c->confirmed_ms = now;
	if (v->priority >= 0)
		c->priority = v->priority;
	if (v->archived) {
		if (!(c->action_flags & CG_CASE_ARCHIVED))
			CG_LOG_EV(CG_LOG_LEVEL_INFO, source, dedup_key, key,
				  "archived in Datadog: never touched again (a new alert opens a new case)");
		c->action_flags |= CG_CASE_ARCHIVED;
		if (c->state != CG_CASE_CLOSED) {
			c->state = CG_CASE_CLOSED;
			c->closed_ms = v->closed_ms ? v->closed_ms : now;
		}
		return "archived";
	}
	if (v->closed && c->state == CG_CASE_OPEN) {
		CG_LOG_EV(CG_LOG_LEVEL_INFO, source, dedup_key, key, "closed in Datadog (by a person): treated as resolved");
		c->state = CG_CASE_CLOSED;
		c->closed_ms = v->closed_ms ? v->closed_ms : now;
		return "closed";
	}
	if (!v->closed && c->state == CG_CASE_CLOSED) {
		CG_LOG_EV(CG_LOG_LEVEL_INFO, source, dedup_key, key, "reopened in Datadog");
		c->state = CG_CASE_OPEN;
		c->closed_ms = 0;
		return "reopened";
	}
	return "unchanged";
}

const char *cg_refresh_apply(struct cg_store_case *c, const struct cg_dd_result *res, const char *source,
			     const char *key, const char *why, int64_t now)
{
	enum cg_outcome oc = cg_retry_classify(res->transport_error, res->status);
	struct cg_dd_case_view v;
	if (oc == CG_RETRY_LATER)
		return NULL;
	if (res->status == 404) {
		/* Deleted in Datadog: forget it; a firing opens a new case, a resolution has nothing
		 * left to close. */
		CG_LOG_EV(CG_LOG_LEVEL_INFO, source, key, c->case_key, "the case is gone from Datadog: forgotten");
		set_str(&c->case_id, NULL);
		set_str(&c->case_key, NULL);
		c->state = CG_CASE_NONE;
		c->closed_ms = 0;
		c->confirmed_ms = now;
		return "deleted";
	}
	if (oc == CG_DELIVERED && cg_dd_answer_case(res->body, res->body_len, &v) == 0)
		return apply_view(c, &v, source, key, now);
	/* An answer that tells nothing: act on what casegate knows. */
	CG_LOG_WARN("key=%s: reading case %s back failed (%s): acting on the stored state", key, c->case_id,
		    why && why[0] ? why : "not a case document");
	return "unreadable";
}
