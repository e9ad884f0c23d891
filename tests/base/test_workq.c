/* test_workq.c: the worker-thread queue under the store thread and the journal writer: batches within their caps, completions in submission order, a destroy that finishes what is queued. */
/* labels: unit */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "err.h"
#include "workq.h"

struct item {
	struct cg_workq_item it;
	int id;
	size_t weight;
	int ran;   /* in which batch (1-based) */
};

struct fx {
	int batches;
	size_t max_batch, max_weight_seen;
	int done_order[1000];
	int ndone;
	int closed;
	char thread_name[16];
};

static size_t weight(const struct cg_workq_item *it)
{
	return ((const struct item *)it)->weight;
}

static void run(void *ud, struct cg_workq_item *head, size_t n)
{
	struct fx *f = ud;
	f->batches++;
	pthread_getname_np(pthread_self(), f->thread_name, sizeof(f->thread_name));
	size_t count = 0, w = 0;
	for (struct cg_workq_item *it = head; it; it = it->next, count++) {
		((struct item *)it)->ran = f->batches;
		w += ((struct item *)it)->weight;
	}
	assert_int_equal(count, n);
	if (n > f->max_batch)
		f->max_batch = n;
	if (n > 1 && w > f->max_weight_seen)
		f->max_weight_seen = w;
}

static void done(void *ud, struct cg_workq_item *it)
{
	struct fx *f = ud;
	struct item *i = (struct item *)it;
	assert_true(i->ran > 0); /* completed only after its batch ran */
	f->done_order[f->ndone++] = i->id;
}

static void on_closed(void *ud)
{
	((struct fx *)ud)->closed = 1;
}

static const struct cg_workq_ops ops = {
	.thread_name = "cg-test",
	.max_items = 16,
	.max_weight = 100,
	.weight = weight,
	.run = run,
	.done = done,
};

/* A loop and a queue on it (the tests destroy the queue; teardown closes the loop). */
struct run {
	uv_loop_t loop;
	struct fx f;
	struct cg_workq *q;
};

static int setup(void **state)
{
	struct run *r = calloc(1, sizeof(*r));
	if (!r || uv_loop_init(&r->loop) != 0 || cg_workq_create(&r->loop, &ops, &r->f, &r->q) != 0)
		return -1;
	*state = r;
	return 0;
}

static int teardown(void **state)
{
	struct run *r = *state;
	int rc = uv_loop_close(&r->loop);
	free(r);
	return rc == 0 ? 0 : -1;
}

static void t_batches_and_order(void **state)
{
	struct run *r = *state;
	uv_loop_t *loop = &r->loop;
	struct fx *fp = &r->f;
	struct cg_workq *q = r->q;
	static struct item items[500];
	for (int i = 0; i < 500; i++) {
		items[i].id = i;
		items[i].weight = i == 250 ? 1000 : 7; /* one over the cap: it goes alone */
		assert_int_equal(cg_workq_submit(q, &items[i].it), 0);
	}
	cg_workq_destroy(q, on_closed, fp); /* what is queued still runs */
	assert_int_equal(cg_workq_submit(q, &items[0].it), CG_ECLOSED);
	uv_run(loop, UV_RUN_DEFAULT);
	assert_true(fp->closed);
	assert_int_equal(fp->ndone, 500);
	for (int i = 0; i < 500; i++)
		assert_int_equal(fp->done_order[i], i);
	assert_true(fp->max_batch <= 16);
	assert_true(fp->max_weight_seen <= 100);
	assert_true(fp->batches < 500); /* batched */
	assert_string_equal(fp->thread_name, "cg-test");
}

/* Completions run on the loop as batches finish; pending counts what has not come back. */
static void t_pending(void **state)
{
	struct run *r = *state;
	uv_loop_t *loop = &r->loop;
	struct fx *fp = &r->f;
	struct cg_workq *q = r->q;
	static struct item items[3];
	for (int i = 0; i < 3; i++) {
		items[i].id = i;
		assert_int_equal(cg_workq_submit(q, &items[i].it), 0);
	}
	assert_int_equal(cg_workq_pending(q), 3 - (size_t)fp->ndone);
	while (fp->ndone < 3)
		uv_run(loop, UV_RUN_ONCE);
	assert_int_equal(cg_workq_pending(q), 0);
	cg_workq_destroy(q, on_closed, fp);
	cg_workq_destroy(q, NULL, NULL); /* ignored */
	uv_run(loop, UV_RUN_DEFAULT);
	assert_true(fp->closed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(t_batches_and_order, setup, teardown),
		cmocka_unit_test_setup_teardown(t_pending, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
