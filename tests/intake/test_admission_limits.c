/* test_admission_limits.c: queue.max_pending_bytes and queue.store_max_bytes answer 503 with Retry-After and a JSON error through a running daemon; what was answered 202 is still delivered. */
/* labels: integration */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "itest.h"

static const char *const sources = "  - name: adm\n"
                                   "    type: generic\n"
                                   "    auth: none\n"
                                   "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
                                   "    case_type: 00000000-0000-0000-0000-000000000001\n";

/* A generic alert whose description pads the body to about pad bytes. */
static char *alert(const char *key, size_t pad)
{
	char *fill = malloc(pad + 1);
	assert_non_null(fill);
	memset(fill, 'x', pad);
	fill[pad] = '\0';
	char *body = cg_h_fmt("{\"title\":\"Admission %s\",\"status\":\"firing\",\"dedup_key\":\"%s\","
			      "\"severity\":\"warning\",\"description\":\"%s\"}",
			      key, key, fill);
	free(fill);
	return body;
}

/* POSTs body to /hooks/adm; the whole answer. */
static struct cg_h_resp post(struct itest *t, const char *body)
{
	char url[160];
	snprintf(url, sizeof(url), "%s/hooks/adm", t->gw_url);
	const char *headers[] = {"Content-Type: application/json", NULL};
	struct cg_h_resp r;
	if (cg_h_http("POST", url, headers, body, strlen(body), &r) != 0)
		r.status = 0;
	return r;
}

/* A 503 as the README promises it: Retry-After (the value given) and {"errors":[msg]}. */
static void expect_503(const struct cg_h_resp *r, const char *retry_after, const char *msg, const char *what)
{
	char ra[32] = "";
	if (r->status != 503)
		fail_msg("%s: got HTTP %ld (%s), want 503", what, r->status, r->body ? r->body : "");
	if (cg_h_resp_header(r, "Retry-After", ra, sizeof(ra)) != 0 || strcmp(ra, retry_after) != 0)
		fail_msg("%s: got Retry-After \"%s\", want \"%s\"", what, ra, retry_after);
	cJSON *doc = r->body ? cJSON_Parse(r->body) : NULL;
	const cJSON *errs = cJSON_GetObjectItemCaseSensitive(doc, "errors");
	const cJSON *e0 = cJSON_GetArrayItem(errs, 0);
	if (!cJSON_IsArray(errs) || !cJSON_IsString(e0) || strcmp(e0->valuestring, msg) != 0)
		fail_msg("%s: got body %s, want {\"errors\":[\"%s\"]}", what, r->body ? r->body : "(none)", msg);
	cJSON_Delete(doc);
}

static void start(struct itest *t, const char *prefix, const char *queue_extra)
{
	assert_int_equal(itest_setup(t, prefix), 0);
	assert_int_equal(itest_start_sim(t, NULL), 0);
	assert_int_equal(itest_write_config_full(t, NULL, queue_extra, "limits:\n  max_body: 512KiB\n", sources), 0);
	assert_int_equal(itest_start_gw(t), 0);
}

static void stop(struct itest *t)
{
	assert_int_equal(itest_stop_gw(t, SIGTERM), 0);
	itest_teardown(t, 0);
}

/* max_pending_bytes: a webhook that would take the bytes held in memory past the limit is
 * refused before it is read into the queue; smaller ones still go in. */
static void test_max_pending_bytes(void **state)
{
	(void)state;
	struct itest t;
	start(&t, "cg-adm-bytes", "  max_pending_bytes: 64KiB\n");
	char *small = alert("small-1", 100);
	struct cg_h_resp r = post(&t, small);
	if (r.status != 202)
		fail_msg("a 100-byte webhook under a 64 KiB max_pending_bytes: got HTTP %ld (%s), want 202", r.status,
			 r.body ? r.body : "");
	cg_h_resp_free(&r);
	free(small);

	char *big = alert("big-1", 100 * 1024);
	r = post(&t, big);
	expect_503(&r, "1", "overloaded: retry later", "a 100 KiB webhook over a 64 KiB max_pending_bytes");
	cg_h_resp_free(&r);
	free(big);
	assert_true(itest_metric(&t, "casegate_overload_rejections_total", "reason=\"pending_bytes\"") >= 1);

	/* Nothing stuck: the next small one is taken, and both 202s become cases; the refused one not. */
	small = alert("small-2", 100);
	r = post(&t, small);
	assert_int_equal(r.status, 202);
	cg_h_resp_free(&r);
	free(small);
	struct itest_wait w = {&t, 2};
	assert_true(cg_h_poll(itest_has_ncases, &w, 15000));
	cJSON *doc = itest_cases(&t);
	assert_null(itest_find_case(doc, "Admission big-1"));
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "cases")), 2);
	cJSON_Delete(doc);
	stop(&t);
}

struct full_wait {
	struct itest *t;
	int accepted, n;
	struct cg_h_resp last;
};

/* Posts one more alert; done once one is refused (the daemon has measured its store). */
static int post_until_refused(void *ud)
{
	struct full_wait *w = ud;
	char key[32];
	snprintf(key, sizeof(key), "fill-%d", w->n++);
	char *body = alert(key, 10);
	cg_h_resp_free(&w->last);
	w->last = post(w->t, body);
	free(body);
	if (w->last.status == 202)
		w->accepted++;
	else if (w->last.status != 503)
		fail_msg("POST %s before the store limit: got HTTP %ld (%s)", key, w->last.status,
			 w->last.body ? w->last.body : "");
	return w->last.status == 503;
}

/* store_max_bytes: once the store is measured over it, webhooks get 503 + Retry-After: 30 and
 * /readyz says so, while what was accepted before is still delivered. */
static void test_store_max_bytes(void **state)
{
	(void)state;
	struct itest t;
	/* An empty SQLite store is already larger than 4 KiB (its schema): over the limit at the first
	 * measurement. */
	start(&t, "cg-adm-store", "  store_max_bytes: 4KiB\n");
	struct full_wait w = {&t, 0, 0, {0}};
	if (!cg_h_poll(post_until_refused, &w, 15000))
		fail_msg("store_max_bytes 4KiB: %d webhooks all accepted, want 503 once the store is measured", w.n);
	expect_503(&w.last, "30", "store over its size limit: retry later", "a webhook over store_max_bytes");
	cg_h_resp_free(&w.last);
	assert_true(itest_metric(&t, "casegate_overload_rejections_total", "reason=\"store_size\"") >= 1);

	/* It stays refused (not a one-off), and /readyz (both scopes) tells the load balancer. */
	char *body = alert("after", 10);
	struct cg_h_resp r = post(&t, body);
	expect_503(&r, "30", "store over its size limit: retry later", "the next webhook over store_max_bytes");
	cg_h_resp_free(&r);
	free(body);
	const char *paths[] = {"/readyz", "/readyz?scope=intake"};
	for (int i = 0; i < 2; i++) {
		char url[160];
		snprintf(url, sizeof(url), "%s%s", t.gw_url, paths[i]);
		assert_int_equal(cg_h_http("GET", url, NULL, NULL, 0, &r), 0);
		if (r.status != 503 || !r.body || !strstr(r.body, "size limit"))
			fail_msg("GET %s over store_max_bytes: got HTTP %ld (%s), want 503 naming the size limit", paths[i],
				 r.status, r.body ? r.body : "");
		cg_h_resp_free(&r);
	}

	/* Nothing accepted is lost: every 202 is delivered, and nothing refused was. */
	struct itest_wait cw = {&t, w.accepted};
	assert_true(cg_h_poll(itest_has_ncases, &cw, 15000));
	assert_int_equal(itest_ncases(&t), w.accepted);
	stop(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_max_pending_bytes),
	    cmocka_unit_test(test_store_max_bytes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
