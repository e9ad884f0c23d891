/* test_admission_store_size.c: past queue.store_max_bytes webhooks get 503 + Retry-After: 30 (readyz 503, healthz 200), and 202 again once the limit allows it (reload). */
/* labels: integration */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>

#include "itest.h"
#include "crash_common.h"

static struct itest T;

static int setup(void **state)
{
	(void)state;
	return itest_setup(&T, "cg-storesize");
}

static int teardown(void **state)
{
	(void)state;
	itest_teardown(&T, 0);
	return 0;
}

static void post(const char *name, struct cg_crash_answer *a)
{
	cg_crash_post(T.gw_url, name, a);
}

static int store_measured(void *ud)
{
	(void)ud;
	return itest_metric(&T, "casegate_store_bytes", NULL) > 0;
}

struct reload_wait {
	double want;
};

static int reloaded(void *ud)
{
	struct reload_wait *w = ud;
	return itest_metric(&T, "casegate_config_reloads_total", NULL) >= w->want;
}

/* Rewrites the config with this store_max_bytes and reloads (SIGHUP), waiting for the n-th reload. */
static void set_limit(const char *limit, int nth)
{
	char *q = cg_h_fmt("  store_max_bytes: %s\n", limit);
	assert_int_equal(itest_write_config_full(&T, NULL, q, NULL, cg_crash_sources), 0);
	free(q);
	assert_int_equal(kill(T.gw.pid, SIGHUP), 0);
	struct reload_wait w = {nth};
	if (!cg_h_poll(reloaded, &w, 15000))
		fail_msg("reload %d (store_max_bytes: %s) not applied within 15 s", nth, limit);
}

struct ncases_wait {
	int want;
};

static int has_ncases(void *ud)
{
	struct ncases_wait *w = ud;
	return itest_ncases(&T) >= w->want;
}

/* A 503 of the size limit, with its Retry-After and its reason. */
static int size_refusal(const struct cg_crash_answer *a)
{
	return a->status == 503 && strcmp(a->retry_after, "30") == 0 && a->body && strstr(a->body, "\"errors\"") &&
	       strstr(a->body, "size limit");
}

/* One post per call (cg_h_poll paces them): 202 until the limit is seen, then only refusals. */
struct over_run {
	int posts, acked, n503;
	char bad[600];
};

static int post_over(void *ud)
{
	struct over_run *r = ud;
	if (r->bad[0])
		return 1;
	char name[32];
	snprintf(name, sizeof(name), "over%03d", r->posts++);
	struct cg_crash_answer a;
	post(name, &a);
	if (a.status == 202 && r->n503 == 0)
		r->acked++;
	else if (size_refusal(&a))
		r->n503++;
	else
		snprintf(r->bad, sizeof(r->bad),
			 "post %s over store_max_bytes: got %ld, Retry-After '%s', body %.120s; want 503, Retry-After 30, "
			 "{\"errors\":[\"store over its size limit: retry later\"]}%s",
			 name, a.status, a.retry_after, a.body ? a.body : "(none)",
			 a.status == 202 ? " (202 after a refusal, the store still over its limit)" : "");
	free(a.body);
	return r->bad[0] || r->n503 >= 3;
}

static void test_store_size_limit(void **state)
{
	(void)state;
	assert_int_equal(itest_start_sim(&T, NULL), 0);
	assert_int_equal(itest_write_config_full(&T, NULL, "  store_max_bytes: 1GiB\n", NULL, cg_crash_sources), 0);
	assert_int_equal(itest_start_gw(&T), 0);

	/* Under the limit: accepted. */
	int acked = 0;
	struct cg_crash_answer a;
	post("under", &a);
	assert_int_equal(a.status, 202);
	free(a.body);
	acked++;
	assert_true(cg_h_poll(store_measured, NULL, 15000));
	double bytes = itest_metric(&T, "casegate_store_bytes", NULL);
	printf("store size: %.0f bytes\n", bytes);
	/* A fresh store (schema, WAL) is several pages: a 4 KiB limit is already passed. */
	assert_true(bytes > 4096);

	set_limit("4KiB", 1);
	/* The store's size is refreshed every second: the refusal comes at once or within seconds;
	 * every 503 must say when to come back, and no 202 may follow the first refusal. */
	struct over_run r = {0};
	int done = cg_h_poll(post_over, &r, 20000);
	if (r.bad[0])
		fail_msg("%s", r.bad);
	printf("store over its limit: %d post(s) accepted before the refresh, then %d refused\n", r.acked, r.n503);
	if (!done)
		fail_msg("no 503 within 20 s over store_max_bytes (4KiB, store %.0f bytes): %d posts, %d accepted", bytes,
			 r.posts, r.acked);
	acked += r.acked;
	assert_true(cg_h_alive(&T.gw));
	char *rb = NULL;
	assert_int_equal(itest_get(&T, "/readyz", &rb), 503);
	assert_non_null(rb);
	assert_non_null(strstr(rb, "size limit"));
	free(rb);
	assert_int_equal(itest_get(&T, "/healthz", NULL), 200);
	assert_true(itest_metric(&T, "casegate_overload_rejections_total", "reason=\"store_size\"") >= 3);

	/* The limit raised (0: unlimited): accepted again, and nothing accepted was lost. */
	set_limit("0", 2);
	post("after", &a);
	if (a.status != 202)
		fail_msg("post after the limit was lifted: got %ld (%s), want 202", a.status, a.body ? a.body : "");
	free(a.body);
	acked++;
	assert_int_equal(itest_get(&T, "/readyz", NULL), 200);
	struct ncases_wait w = {acked};
	int ok = cg_h_poll(has_ncases, &w, 30000);
	int n = itest_ncases(&T);
	if (!ok || n != acked)
		fail_msg("cases: got %d, want %d (every 202)", n, acked);
	assert_int_equal(itest_stop_gw(&T, SIGTERM), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_store_size_limit, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
