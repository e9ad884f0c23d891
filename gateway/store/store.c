/* store.c: backend-independent helpers of the store interface (freeing what backends return, checking what they get). */
#include "store.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

void cg_store_event_cleanup(struct cg_store_event *ev)
{
	if (!ev)
		return;
	free(ev->source);
	free(ev->dedup_key);
	free(ev->severity);
	free(ev->payload);
	free(ev->last_error);
	memset(ev, 0, sizeof(*ev));
}

void cg_store_events_free(struct cg_store_event *evs, size_t n)
{
	if (!evs)
		return;
	for (size_t i = 0; i < n; i++)
		cg_store_event_cleanup(&evs[i]);
	free(evs);
}

void cg_store_case_cleanup(struct cg_store_case *c)
{
	if (!c)
		return;
	free(c->dedup_key);
	free(c->case_id);
	free(c->case_key);
	free(c->marker);
	free(c->prev_case_key);
	free(c->prev_case_id);
	free(c->last_summary);
	memset(c, 0, sizeof(*c));
}

void cg_dead_letter_cleanup(struct cg_dead_letter *d)
{
	if (!d)
		return;
	cg_store_event_cleanup(&d->ev);
	free(d->reason);
	memset(d, 0, sizeof(*d));
}

void cg_dead_letters_free(struct cg_dead_letter *d, size_t n)
{
	if (!d)
		return;
	for (size_t i = 0; i < n; i++)
		cg_dead_letter_cleanup(&d[i]);
	free(d);
}

void cg_store_source_stats_free(struct cg_store_source_stat *v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++) {
		free(v[i].source);
		free(v[i].last_dedup_key);
		free(v[i].last_case_key);
	}
	free(v);
}

void cg_store_heartbeats_free(struct cg_store_heartbeat *v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i].source);
	free(v);
}

void cg_store_notes_free(struct cg_store_note *v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++) {
		free(v[i].replica);
		free(v[i].name);
		free(v[i].value);
	}
	free(v);
}

int cg_store_case_list_closed(struct cg_store *st, const char *key_prefix, int64_t closed_before, int64_t flags_clear,
			      size_t limit, struct cg_store_case **out, size_t *nout)
{
	if (!st->ops->case_list_closed || !key_prefix)
		return CG_EINVAL; /* a backend without it, or no prefix */
	if (limit > 1000)
		limit = 1000;
	if (limit == 0) {
		*out = NULL;
		*nout = 0;
		return 0;
	}
	/* Backends see 1 <= limit <= 1000 and a key_prefix. */
	return st->ops->case_list_closed(st, key_prefix, closed_before, flags_clear, limit, out, nout);
}

int cg_store_case_mark_closed(struct cg_store *st, const char *dedup_key, const char *case_id, int64_t flag,
			      int *marked)
{
	*marked = 0;
	if (!st->ops->case_mark_closed)
		return CG_EINVAL;
	if (!dedup_key || !case_id)
		return CG_EINVAL;
	return st->ops->case_mark_closed(st, dedup_key, case_id, flag, marked);
}

void cg_store_cases_free(struct cg_store_case *c, size_t n)
{
	if (!c)
		return;
	for (size_t i = 0; i < n; i++)
		cg_store_case_cleanup(&c[i]);
	free(c);
}
