/* bulk.c: bulk priority changes (opt-in, actions.bulk): requests that set the same priority within
 * 50 ms go as one; the window's items are grouped here, the engine sends each group's request. */
#include "bulk.h"

#include <stddef.h>
#include <stdlib.h>

#include "err.h"

#define BULK_WINDOW_MS 50
#define BULK_MAX 100

struct cg_bulk {
	uv_timer_t timer;
	struct cg_bulk_hooks hooks;
	struct cg_bulk_item *head; /* collected, newest first */
	int refused;
};

int cg_bulk_create(uv_loop_t *loop, const struct cg_bulk_hooks *hooks, struct cg_bulk **out)
{
	struct cg_bulk *b = calloc(1, sizeof(*b));
	if (!b)
		return CG_ENOMEM;
	b->hooks = *hooks;
	uv_timer_init(loop, &b->timer);
	b->timer.data = b;
	*out = b;
	return 0;
}

static void timer_cb(uv_timer_t *t)
{
	struct cg_bulk *b = t->data;
	/* Arrival order (the list is newest first). */
	struct cg_bulk_item *rev = NULL, *list = b->head;
	b->head = NULL;
	while (list) {
		struct cg_bulk_item *n = list->next;
		list->next = rev;
		rev = list;
		list = n;
	}
	while (rev) {
		struct cg_bulk_item *leader = rev, *tail = NULL;
		size_t n = 1;
		rev = rev->next;
		leader->next = NULL;
		for (struct cg_bulk_item **pp = &rev; *pp && n < BULK_MAX;) {
			struct cg_bulk_item *o = *pp;
			if (o->key != leader->key) {
				pp = &o->next;
				continue;
			}
			*pp = o->next;
			o->next = NULL;
			if (tail)
				tail->next = o;
			else
				leader->members = o;
			tail = o;
			n++;
		}
		if (n == 1)
			leader->single = 1; /* alone: the single request is the cheaper one */
		b->hooks.send(leader, b->hooks.ud);
	}
}

void cg_bulk_collect(struct cg_bulk *b, struct cg_bulk_item *it, int key)
{
	it->key = key;
	it->next = b->head;
	b->head = it;
	if (!uv_is_active((uv_handle_t *)&b->timer))
		uv_timer_start(&b->timer, timer_cb, BULK_WINDOW_MS, 0);
}

void cg_bulk_refuse(struct cg_bulk *b)
{
	b->refused = 1;
}

int cg_bulk_refused(const struct cg_bulk *b)
{
	return b->refused;
}

void cg_bulk_stop(struct cg_bulk *b)
{
	uv_timer_stop(&b->timer);
	/* Collected items have saved their progress: they resume after restart. */
	struct cg_bulk_item *list = b->head;
	b->head = NULL;
	while (list) {
		struct cg_bulk_item *it = list;
		list = it->next;
		it->next = NULL;
		b->hooks.release(it, b->hooks.ud);
	}
}

static void timer_closed(uv_handle_t *h)
{
	free(h->data);
}

void cg_bulk_destroy(struct cg_bulk *b)
{
	if (b)
		uv_close((uv_handle_t *)&b->timer, timer_closed);
}
