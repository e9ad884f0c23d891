/* actions.c: which lifecycle actions an event takes (assign, watch, insights, link, due date,
 * Jira/ServiceNow/notebook, archive) and what each carries; delivery turns them into requests. */
#include "actions.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "builder.h"
#include "err.h"
#include "tmpl.h"

void cg_actions_effective(const struct cg_actions_config *ac, int prio, struct cg_action_set *out)
{
	*out = ac->base;
	if (prio < 1 || prio > 5 || !ac->prio_set[prio])
		return;
	const struct cg_action_set *p = &ac->prio[prio];
	if (p->assignee)
		out->assignee = p->assignee;
	if (p->watchers_set) {
		out->watchers = p->watchers;
		out->nwatchers = p->nwatchers;
		out->watchers_set = 1;
	}
	if (p->due_set) {
		out->due_ms = p->due_ms;
		out->due_set = 1;
	}
	if (p->jira)
		out->jira = p->jira;
	if (p->servicenow)
		out->servicenow = p->servicenow;
	if (p->notebook)
		out->notebook = p->notebook;
}

static int in_list(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return 1;
	return 0;
}

/*
 * The watchers an action adds, in order: every watcher of the priority for a new case, the
 * ones the new priority adds for an escalation. Returns the count (at most cap).
 */
static size_t watch_list(enum cg_action a, const struct cg_actions_config *ac, int prio_before, int prio,
			 const char **out, size_t cap)
{
	struct cg_action_set now, before;
	size_t n = 0;
	cg_actions_effective(ac, prio, &now);
	if (a == CG_ACT_CREATE) {
		for (size_t i = 0; i < now.nwatchers && n < cap; i++)
			out[n++] = now.watchers[i];
		return n;
	}
	if (a != CG_ACT_ESCALATE)
		return 0;
	cg_actions_effective(ac, prio_before, &before);
	for (size_t i = 0; i < now.nwatchers && n < cap; i++)
		if (!in_list(before.watchers, before.nwatchers, now.watchers[i]))
			out[n++] = now.watchers[i];
	return n;
}

static int add_step(enum cg_step *steps, int n, int cap, enum cg_step s)
{
	if (n < cap)
		steps[n++] = s;
	return n;
}

int cg_actions_steps(enum cg_action a, const struct cg_source_config *src, int prio_before, int prio,
		     int has_insights, int has_prev, int acknowledged, enum cg_step *steps, int n, int cap)
{
	const struct cg_actions_config *ac = &src->actions;
	struct cg_action_set now, before;
	const char *w[16];
	cg_actions_effective(ac, prio, &now);
	cg_actions_effective(ac, prio_before, &before);
	switch (a) {
	case CG_ACT_CREATE: {
		size_t nw = watch_list(a, ac, prio_before, prio, w, 16);
		for (size_t i = 0; i < nw; i++)
			n = add_step(steps, n, cap, CG_STEP_WATCH);
		if (has_insights)
			n = add_step(steps, n, cap, CG_STEP_INSIGHTS);
		if (has_prev && ac->link_previous != CG_LINK_NONE)
			n = add_step(steps, n, cap, CG_STEP_LINK);
		if (now.due_set && now.due_ms)
			n = add_step(steps, n, cap, CG_STEP_DUE_DATE);
		break;
	}
	case CG_ACT_ESCALATE: {
		if (now.assignee && (!before.assignee || strcmp(now.assignee, before.assignee) != 0))
			n = add_step(steps, n, cap, CG_STEP_ASSIGN);
		size_t nw = watch_list(a, ac, prio_before, prio, w, 16);
		for (size_t i = 0; i < nw; i++)
			n = add_step(steps, n, cap, CG_STEP_WATCH);
		/* A tighter SLA moves the due date; an unchanged one keeps the original. */
		if (now.due_set && now.due_ms && (!before.due_set || !before.due_ms || now.due_ms < before.due_ms))
			n = add_step(steps, n, cap, CG_STEP_DUE_DATE);
		break;
	}
	case CG_ACT_ARCHIVE:
		return add_step(steps, n, cap, CG_STEP_ARCHIVE);
	case CG_ACT_NOTE:
		/* Someone took the alert (the paging APIs' acknowledge): the case says so too. */
		return acknowledged && ac->acknowledge_status ? add_step(steps, n, cap, CG_STEP_ACK_STATUS) : n;
	default:
		return n;
	}
	/* Integrations: once per case, when it is created at or escalated to a priority that has them. */
	if (now.jira)
		n = add_step(steps, n, cap, CG_STEP_JIRA);
	if (now.servicenow)
		n = add_step(steps, n, cap, CG_STEP_SERVICENOW);
	if (now.notebook == 1)
		n = add_step(steps, n, cap, CG_STEP_NOTEBOOK);
	return n;
}

static void due_day(int64_t now_ms, uint64_t offset_ms, char out[16])
{
	time_t t = (time_t)((now_ms + (int64_t)offset_ms) / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	if (strftime(out, 16, "%Y-%m-%d", &tm) == 0)
		out[0] = '\0';
}

int cg_actions_args(const struct cg_source_config *src, enum cg_action a, const enum cg_step *steps, int index,
		    int prio_before, int prio, const struct cg_store_case *cs, const struct cg_payload *payload,
		    int64_t now, struct cg_action_args *out)
{
	const struct cg_actions_config *ac = &src->actions;
	struct cg_action_set eff;
	cg_actions_effective(ac, prio, &eff);
	memset(out, 0, sizeof(*out));
	switch (steps[index]) {
	case CG_STEP_ASSIGN:
		out->assignee = eff.assignee;
		return eff.assignee ? 0 : 1;
	case CG_STEP_WATCH: {
		const char *w[16];
		size_t nw = watch_list(a, ac, prio_before, prio, w, 16), nth = 0;
		for (int i = 0; i < index; i++)
			nth += steps[i] == CG_STEP_WATCH;
		if (nth >= nw)
			return 1; /* the config changed since the event started */
		out->watcher = w[nth];
		return 0;
	}
	case CG_STEP_INSIGHTS:
		out->insights = payload->insights;
		return cJSON_IsArray(out->insights) && cJSON_GetArraySize(out->insights) > 0 ? 0 : 1;
	case CG_STEP_LINK: {
		if (!cs->prev_case_id || !cs->case_id || ac->link_previous == CG_LINK_NONE)
			return 1;
		/* SUCCESSOR_OF reads "parent is the successor of child": the new case is the parent.
		 * RELATES_TO is symmetric; the older case is the parent there. */
		int succ = ac->link_previous == CG_LINK_SUCCESSOR_OF;
		out->parent = succ ? cs->case_id : cs->prev_case_id;
		out->child = succ ? cs->prev_case_id : cs->case_id;
		out->relationship = succ ? "SUCCESSOR_OF" : "RELATES_TO";
		return 0;
	}
	case CG_STEP_DUE_DATE:
		if (!eff.due_set || !eff.due_ms)
			return 1;
		due_day(now, eff.due_ms, out->due_date);
		return 0;
	case CG_STEP_JIRA:
		out->integration = eff.jira;
		return !eff.jira || (cs->action_flags & CG_CASE_JIRA) ? 1 : 0;
	case CG_STEP_SERVICENOW:
		out->integration = eff.servicenow;
		return !eff.servicenow || (cs->action_flags & CG_CASE_SERVICENOW) ? 1 : 0;
	case CG_STEP_NOTEBOOK:
		return eff.notebook != 1 || (cs->action_flags & CG_CASE_NOTEBOOK) ? 1 : 0;
	case CG_STEP_ACK_STATUS:
		/* Only an open case: an acknowledgement that comes after the close reopens nothing. */
		out->status = ac->acknowledge_status;
		return out->status && payload->acknowledged && cs->state == CG_CASE_OPEN && cs->closed_ms == 0 ? 0 : 1;
	case CG_STEP_ARCHIVE: {
		/* Only the case the sweep saw, still closed: a newer case of the key stays. */
		const char *want = payload->case_id;
		return cs->state != CG_CASE_CLOSED || !cs->case_id || (cs->action_flags & CG_CASE_ARCHIVED) || !want ||
				       strcmp(want, cs->case_id) != 0
			       ? 1
			       : 0;
	}
	default:
		return 1;
	}
}

void cg_actions_record(enum cg_step s, int done, struct cg_store_case *cs)
{
	switch (s) {
	case CG_STEP_JIRA:
		if (done)
			cs->action_flags |= CG_CASE_JIRA;
		break;
	case CG_STEP_SERVICENOW:
		if (done)
			cs->action_flags |= CG_CASE_SERVICENOW;
		break;
	case CG_STEP_NOTEBOOK:
		if (done)
			cs->action_flags |= CG_CASE_NOTEBOOK;
		break;
	case CG_STEP_ARCHIVE:
		cs->action_flags &= ~(int64_t)CG_CASE_ARCHIVE_QUEUED;
		if (done)
			cs->action_flags |= CG_CASE_ARCHIVED;
		break;
	default:
		break;
	}
}

/* ---- insights ---- */

static int all_digits(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return 0;
	return 1;
}

/* Renders one insight into arr; an insight rendering empty is left out. */
static int render_insight(const char *type, const char *ref_t, const char *id_t, const cJSON *ctx, int numeric_id,
			  cJSON *arr)
{
	char err[160];
	char *ref = NULL, *rid = NULL;
	int rc = cg_tmpl_render_str(ref_t, ctx, &ref, err, sizeof(err));
	if (rc == 0)
		rc = cg_tmpl_render_str(id_t, ctx, &rid, err, sizeof(err));
	if (rc == CG_ENOMEM)
		goto out;
	rc = 0;
	if (!ref || !rid || !*ref || !*rid || (numeric_id && !all_digits(rid)))
		goto out;
	cg_utf8_truncate(ref, 1024);
	cg_utf8_truncate(rid, 256);
	cJSON *o = cJSON_CreateObject();
	if (!o || !cJSON_AddStringToObject(o, "ref", ref) || !cJSON_AddStringToObject(o, "resource_id", rid) ||
	    !cJSON_AddStringToObject(o, "type", type)) {
		cJSON_Delete(o);
		rc = CG_ENOMEM;
		goto out;
	}
	cJSON_AddItemToArray(arr, o);
out:
	free(ref);
	free(rid);
	return rc;
}

int cg_actions_render_insights(const struct cg_source_config *src, const struct cg_event *ev, cJSON **out)
{
	const struct cg_actions_config *ac = &src->actions;
	/* The datadog mapper's payload template carries the monitor as alert.id (or alert_id). */
	static const char dd_id[] = "{{alert.id}}{{^alert.id}}{{alert_id}}{{/alert.id}}";
	static const char dd_ref[] = "/monitors/{{alert.id}}{{^alert.id}}{{alert_id}}{{/alert.id}}";
	int dd_default = !ac->insights_set && src->type && strcmp(src->type, "datadog") == 0;
	*out = NULL;
	if ((!ac->ninsights && !dd_default) || !ev->ctx)
		return 0;
	cJSON *arr = cJSON_CreateArray();
	int rc = CG_ENOMEM;
	if (!arr)
		goto out;
	if (dd_default) {
		if ((rc = render_insight("MONITOR", dd_ref, dd_id, ev->ctx, 1, arr)))
			goto out;
	}
	for (size_t i = 0; i < ac->ninsights; i++) {
		const struct cg_insight_tmpl *t = &ac->insights[i];
		if (!t->type || !t->ref || !t->resource_id)
			continue;
		if ((rc = render_insight(t->type, t->ref, t->resource_id, ev->ctx, 0, arr)))
			goto out;
	}
	rc = 0;
	if (cJSON_GetArraySize(arr) > 0) {
		*out = arr;
		arr = NULL;
	}
out:
	cJSON_Delete(arr);
	return rc;
}
