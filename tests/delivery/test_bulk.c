/* test_bulk.c: delivery/bulk.c groups the priority changes of one 50 ms window: same priority in one
 * request (arrival order, the first leads), a lone one goes single, stop releases what is collected. */
/* labels: unit */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>
#include <uv.h>

#include "bulk.h"

struct rec {
	struct cg_bulk_item *sent[8];
	int nsent;
	struct cg_bulk_item *released[8];
	int nreleased;
};

static void on_send(struct cg_bulk_item *leader, void *ud)
{
	struct rec *r = ud;
	r->sent[r->nsent++] = leader;
}

static void on_release(struct cg_bulk_item *it, void *ud)
{
	struct rec *r = ud;
	r->released[r->nreleased++] = it;
}

static int members(const struct cg_bulk_item *leader)
{
	int n = 0;
	for (const struct cg_bulk_item *m = leader->members; m; m = m->next)
		n++;
	return n;
}

static void test_groups(void **state)
{
	(void)state;
	uv_loop_t loop;
	assert_int_equal(uv_loop_init(&loop), 0);
	struct rec r = {0};
	struct cg_bulk_hooks hooks = {on_send, on_release, &r};
	struct cg_bulk *b = NULL;
	assert_int_equal(cg_bulk_create(&loop, &hooks, &b), 0);
	struct cg_bulk_item it[5];
	memset(it, 0, sizeof(it));
	cg_bulk_collect(b, &it[0], 2);
	cg_bulk_collect(b, &it[1], 3);
	cg_bulk_collect(b, &it[2], 2);
	cg_bulk_collect(b, &it[3], 2);
	assert_int_equal(r.nsent, 0); /* nothing before the window closes */
	uv_run(&loop, UV_RUN_DEFAULT);
	/* P2 first (it arrived first), carrying the other two P2s in order; the lone P3 goes single. */
	assert_int_equal(r.nsent, 2);
	assert_ptr_equal(r.sent[0], &it[0]);
	assert_int_equal(members(&it[0]), 2);
	assert_ptr_equal(it[0].members, &it[2]);
	assert_ptr_equal(it[2].next, &it[3]);
	assert_false(it[0].single);
	assert_ptr_equal(r.sent[1], &it[1]);
	assert_int_equal(members(&it[1]), 0);
	assert_true(it[1].single);

	/* Refusal is remembered. */
	assert_false(cg_bulk_refused(b));
	cg_bulk_refuse(b);
	assert_true(cg_bulk_refused(b));

	/* Stop: collected items are released, none is sent. */
	cg_bulk_collect(b, &it[4], 1);
	cg_bulk_stop(b);
	assert_int_equal(r.nreleased, 1);
	assert_ptr_equal(r.released[0], &it[4]);
	cg_bulk_destroy(b);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(r.nsent, 2);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_groups),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
