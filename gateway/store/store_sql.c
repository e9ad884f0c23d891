/* store_sql.c: the stored records' columns for both SQL backends: row readers and argument lists. */
#include "store_sql.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

void cg_store_case_args(const struct cg_store_case *c, struct cg_store_arg a[CG_CASE_NARGS])
{
	const struct cg_store_arg v[CG_CASE_NARGS] = {
		CG_ARG_TEXT(c->dedup_key),     CG_ARG_TEXT(c->case_id),      CG_ARG_TEXT(c->case_key),
		CG_ARG_I64(c->state),          CG_ARG_I64(c->priority),      CG_ARG_I64(c->generation),
		CG_ARG_TEXT(c->marker),        CG_ARG_TEXT(c->prev_case_key), CG_ARG_I64(c->created_ms),
		CG_ARG_I64(c->closed_ms),      CG_ARG_I64(c->last_fire_ms),  CG_ARG_I64(c->last_comment_ms),
		CG_ARG_I64(c->fires),          CG_ARG_I64(c->pending_repeats), CG_ARG_I64(c->first_pending_ms),
		CG_ARG_TEXT(c->last_summary),  CG_ARG_TEXT(c->prev_case_id), CG_ARG_I64(c->action_flags),
		CG_ARG_I64(c->sent_ms),        CG_ARG_I64(c->confirmed_ms),
	};
	memcpy(a, v, sizeof(v));
}

int cg_store_events_check(const struct cg_store_event *evs, size_t n)
{
	if (!evs)
		return CG_EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!evs[i].source || !evs[i].dedup_key)
			return CG_EINVAL;
	return 0;
}

void cg_store_event_args(const struct cg_store_event *e, struct cg_store_arg a[CG_EV_NARGS])
{
	const struct cg_store_arg v[CG_EV_NARGS] = {
		CG_ARG_TEXT(e->source),     CG_ARG_TEXT(e->dedup_key), CG_ARG_I64(e->status),
		CG_ARG_I64(e->priority),    CG_ARG_TEXT(e->severity),  CG_ARG_TEXT(e->payload),
		CG_ARG_I64(e->received_ms), CG_ARG_I64(e->attempts),   CG_ARG_I64(e->next_ms),
		CG_ARG_I64(e->step),        CG_ARG_TEXT(e->last_error),
	};
	memcpy(a, v, sizeof(v));
}

int cg_store_read_event(const struct cg_store_row *r, int c0, struct cg_store_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->id = r->i64(r, c0);
	ev->status = (int)r->i64(r, c0 + 3);
	ev->priority = (int)r->i64(r, c0 + 4);
	ev->received_ms = r->i64(r, c0 + 7);
	ev->attempts = (int)r->i64(r, c0 + 8);
	ev->next_ms = r->i64(r, c0 + 9);
	ev->step = (int)r->i64(r, c0 + 10);
	if (r->text(r, c0 + 1, &ev->source) || r->text(r, c0 + 2, &ev->dedup_key) || r->text(r, c0 + 5, &ev->severity) ||
	    r->text(r, c0 + 6, &ev->payload) || r->text(r, c0 + 11, &ev->last_error)) {
		cg_store_event_cleanup(ev);
		return CG_ENOMEM;
	}
	return 0;
}

int cg_store_read_case(const struct cg_store_row *r, struct cg_store_case *c)
{
	memset(c, 0, sizeof(*c));
	c->state = (int)r->i64(r, 3);
	c->priority = (int)r->i64(r, 4);
	c->generation = (int)r->i64(r, 5);
	c->created_ms = r->i64(r, 8);
	c->closed_ms = r->i64(r, 9);
	c->last_fire_ms = r->i64(r, 10);
	c->last_comment_ms = r->i64(r, 11);
	c->fires = r->i64(r, 12);
	c->pending_repeats = r->i64(r, 13);
	c->first_pending_ms = r->i64(r, 14);
	c->action_flags = r->i64(r, 17);
	c->sent_ms = r->i64(r, 18);
	c->confirmed_ms = r->i64(r, 19);
	if (r->text(r, 0, &c->dedup_key) || r->text(r, 1, &c->case_id) || r->text(r, 2, &c->case_key) ||
	    r->text(r, 6, &c->marker) || r->text(r, 7, &c->prev_case_key) || r->text(r, 15, &c->last_summary) ||
	    r->text(r, 16, &c->prev_case_id)) {
		cg_store_case_cleanup(c);
		return CG_ENOMEM;
	}
	return 0;
}

int cg_store_read_dead(const struct cg_store_row *r, struct cg_dead_letter *d)
{
	memset(d, 0, sizeof(*d));
	d->id = r->i64(r, 0);
	int rc = cg_store_read_event(r, 1, &d->ev);
	if (rc)
		return rc;
	d->http_status = (int)r->i64(r, 13);
	d->failed_ms = r->i64(r, 15);
	if (r->text(r, 14, &d->reason)) {
		cg_dead_letter_cleanup(d);
		return CG_ENOMEM;
	}
	return 0;
}

/* ---- the records as items of the row loops ---- */

static int item_event(const struct cg_store_row *r, void *item)
{
	return cg_store_read_event(r, 0, item);
}

static void free_events(void *items, size_t n)
{
	cg_store_events_free(items, n);
}

static int item_case(const struct cg_store_row *r, void *item)
{
	return cg_store_read_case(r, item);
}

static void free_cases(void *items, size_t n)
{
	cg_store_cases_free(items, n);
}

static int item_dead(const struct cg_store_row *r, void *item)
{
	return cg_store_read_dead(r, item);
}

static void free_dead(void *items, size_t n)
{
	cg_dead_letters_free(items, n);
}

static int item_source_stat(const struct cg_store_row *r, void *item)
{
	struct cg_store_source_stat *x = item;
	memset(x, 0, sizeof(*x));
	x->pending = r->i64(r, 1);
	x->oldest_ms = r->i64(r, 2); /* NULL reads as 0 */
	x->dead = r->i64(r, 3);
	x->delivered = r->i64(r, 4);
	x->last_delivered_ms = r->i64(r, 5);
	if (r->text(r, 0, &x->source) || r->text(r, 6, &x->last_dedup_key) || r->text(r, 7, &x->last_case_key)) {
		free(x->source);
		free(x->last_dedup_key);
		free(x->last_case_key);
		memset(x, 0, sizeof(*x));
		return CG_ENOMEM;
	}
	return 0;
}

static void free_source_stats(void *items, size_t n)
{
	cg_store_source_stats_free(items, n);
}

static int item_note(const struct cg_store_row *r, void *item)
{
	struct cg_store_note *x = item;
	memset(x, 0, sizeof(*x));
	x->updated_ms = r->i64(r, 3);
	if (r->text(r, 0, &x->replica) || r->text(r, 1, &x->name) || r->text(r, 2, &x->value)) {
		free(x->replica);
		free(x->name);
		free(x->value);
		memset(x, 0, sizeof(*x));
		return CG_ENOMEM;
	}
	return 0;
}

static void free_notes(void *items, size_t n)
{
	cg_store_notes_free(items, n);
}

static int item_heartbeat(const struct cg_store_row *r, void *item)
{
	struct cg_store_heartbeat *x = item;
	memset(x, 0, sizeof(*x));
	x->started_ms = r->i64(r, 1);
	x->heard_ms = r->i64(r, 2);
	x->raised = r->i64(r, 3) != 0;
	x->raised_ms = r->i64(r, 4);
	return r->text(r, 0, &x->source);
}

static void free_heartbeats(void *items, size_t n)
{
	cg_store_heartbeats_free(items, n);
}

static int item_kv(const struct cg_store_row *r, void *item)
{
	struct cg_store_kv *x = item;
	memset(x, 0, sizeof(*x));
	x->due_ms = r->i64(r, 2);
	if (r->text(r, 0, &x->k) || r->text(r, 1, &x->v)) {
		cg_store_kv_cleanup(x);
		return CG_ENOMEM;
	}
	return 0;
}

static void free_kvs(void *items, size_t n)
{
	cg_store_kvs_free(items, n);
}

void cg_store_kv_cleanup(struct cg_store_kv *kv)
{
	if (!kv)
		return;
	free(kv->k);
	free(kv->v);
	memset(kv, 0, sizeof(*kv));
}

void cg_store_kvs_free(struct cg_store_kv *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		cg_store_kv_cleanup(&v[i]);
	free(v);
}

static int item_flag(const struct cg_store_row *r, void *item)
{
	*(int *)item = r->i64(r, 0) != 0;
	return 0;
}

static void free_flags(void *items, size_t n)
{
	(void)n;
	free(items);
}

static int item_text(const struct cg_store_row *r, void *item)
{
	return r->text(r, 0, item);
}

static void free_texts(void *items, size_t n)
{
	char **v = items;
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

const struct cg_store_rec cg_store_rec_event = {sizeof(struct cg_store_event), item_event, free_events};
const struct cg_store_rec cg_store_rec_case = {sizeof(struct cg_store_case), item_case, free_cases};
const struct cg_store_rec cg_store_rec_dead = {sizeof(struct cg_dead_letter), item_dead, free_dead};
const struct cg_store_rec cg_store_rec_source_stat = {sizeof(struct cg_store_source_stat), item_source_stat,
						      free_source_stats};
const struct cg_store_rec cg_store_rec_note = {sizeof(struct cg_store_note), item_note, free_notes};
const struct cg_store_rec cg_store_rec_heartbeat = {sizeof(struct cg_store_heartbeat), item_heartbeat,
						     free_heartbeats};
const struct cg_store_rec cg_store_rec_kv = {sizeof(struct cg_store_kv), item_kv, free_kvs};
const struct cg_store_rec cg_store_rec_flag = {sizeof(int), item_flag, free_flags};
const struct cg_store_rec cg_store_rec_text = {sizeof(char *), item_text, free_texts};
