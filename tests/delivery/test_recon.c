/* test_recon.c: the decisions of delivery/recon.c: which search finds a create whose answer was lost
 * (and when to stop searching), and what reading a case back does to the record. */
/* labels: unit */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recon.h"

#define MARKER "cg0123456789abcdef0123456789abcdef"
#define SENT 1767225600000LL
#define SETTLE 60000u

static struct cg_dd_result answer(long status, const char *body)
{
	struct cg_dd_result r;
	memset(&r, 0, sizeof(r));
	r.status = status;
	r.body = body;
	r.body_len = body ? strlen(body) : 0;
	r.ratelimit_limit = r.ratelimit_period = r.ratelimit_remaining = r.ratelimit_reset = r.retry_after = -1;
	return r;
}

static struct cg_dd_result transport_error(void)
{
	struct cg_dd_result r = answer(0, NULL);
	r.transport_error = 7;
	snprintf(r.errmsg, sizeof(r.errmsg), "connection refused");
	return r;
}

static const char found_body[] =
	"{\"data\":[{\"id\":\"c-other\",\"type\":\"case\",\"attributes\":{\"description\":\"not ours\"}},"
	"{\"id\":\"c-1\",\"type\":\"case\",\"attributes\":{\"key\":\"OPS-1\",\"description\":\"x\\n---\\ncasegate ref " MARKER
	"\",\"created_at\":\"2026-01-01T00:00:05Z\",\"status\":\"OPEN\"},"
	"\"relationships\":{\"project\":{\"data\":{\"id\":\"p-1\",\"type\":\"project\"}}}}]}";
static const char empty_list[] = "{\"data\":[]}";

static void test_search_order(void **state)
{
	(void)state;
	struct cg_recon r = {.key = "k", .marker = MARKER, .attr = "casegate_ref", .sent_ms = SENT, .settle_ms = SETTLE};
	int phase = CG_RECON_MARKER;
	/* The marker as a search term first; then as the custom attribute; the newest cases last. */
	assert_int_equal(cg_recon_search(&phase, &r, SENT + 1000), CG_REQ_SEARCH_MARKER);
	phase = CG_RECON_ATTR;
	assert_int_equal(cg_recon_search(&phase, &r, SENT + 1000), CG_REQ_SEARCH_ATTR);
	/* The newest-cases listing only once the index settled: before, a new round begins. */
	phase = CG_RECON_NEWEST;
	assert_int_equal(cg_recon_search(&phase, &r, SENT + 1000), CG_REQ_SEARCH_MARKER);
	assert_int_equal(phase, CG_RECON_MARKER);
	phase = CG_RECON_NEWEST;
	assert_int_equal(cg_recon_search(&phase, &r, SENT + SETTLE), CG_REQ_SEARCH_NEWEST);
	/* No attribute on the case type: that search is skipped. */
	r.attr = NULL;
	phase = CG_RECON_ATTR;
	assert_int_equal(cg_recon_search(&phase, &r, SENT + SETTLE), CG_REQ_SEARCH_NEWEST);
}

static void test_answers(void **state)
{
	(void)state;
	struct cg_recon r = {.key = "k", .marker = MARKER, .attr = "casegate_ref", .sent_ms = SENT, .settle_ms = SETTLE};
	struct cg_dd_case_view v;
	int64_t next = 0;
	int phase = CG_RECON_MARKER;

	/* Found: the case that carries the marker, not the first listed. */
	struct cg_dd_result res = answer(200, found_body);
	assert_int_equal(cg_recon_answer(&phase, &r, &res, "", SENT + 1000, &v, &next), CG_RECON_FOUND);
	assert_string_equal(v.id, "c-1");
	assert_string_equal(v.key, "OPS-1");
	r.project_id = "p-1";
	phase = CG_RECON_MARKER;
	assert_int_equal(cg_recon_answer(&phase, &r, &res, "", SENT + 1000, &v, &next), CG_RECON_FOUND);
	/* ... unless it is in another project than the create's. */
	r.project_id = "p-2";
	phase = CG_RECON_MARKER;
	assert_int_equal(cg_recon_answer(&phase, &r, &res, "", SENT + 1000, &v, &next), CG_RECON_NEXT);
	r.project_id = NULL;

	/* The search failed: retried later, from the same search. */
	phase = CG_RECON_ATTR;
	res = transport_error();
	assert_int_equal(cg_recon_answer(&phase, &r, &res, "", SENT + 1000, &v, &next), CG_RECON_RETRY);
	assert_int_equal(phase, CG_RECON_ATTR);
	res = answer(503, "{}");
	assert_int_equal(cg_recon_answer(&phase, &r, &res, "", SENT + 1000, &v, &next), CG_RECON_RETRY);

	/* Not there: the next search; a refused one (a filter Datadog does not know) too. */
	phase = CG_RECON_MARKER;
	res = answer(200, empty_list);
	assert_int_equal(cg_recon_answer(&phase, &r, &res, "", SENT + 1000, &v, &next), CG_RECON_NEXT);
	assert_int_equal(phase, CG_RECON_ATTR);
	res = answer(400, "{\"errors\":[\"bad filter\"]}");
	phase = CG_RECON_MARKER;
	assert_int_equal(cg_recon_answer(&phase, &r, &res, "search: HTTP 400", SENT + 1000, &v, &next),
			 CG_RECON_NEXT);

	/* The round is over before the index settled: search again later, on a schedule that thins
	 * out (half the time since the send, at least 1 s) but never past the settle time. */
	res = answer(200, empty_list);
	phase = CG_RECON_ATTR;
	assert_int_equal(cg_recon_answer(&phase, &r, &res, "", SENT + 1000, &v, &next), CG_RECON_WAIT);
	assert_int_equal(phase, CG_RECON_MARKER);
	assert_int_equal(next, SENT + 1000 + 1000);
	phase = CG_RECON_ATTR;
	assert_int_equal(cg_recon_answer(&phase, &r, &res, "", SENT + 40000, &v, &next), CG_RECON_WAIT);
	assert_int_equal(next, SENT + 60000); /* 20 s would pass the settle time */
	phase = CG_RECON_ATTR;
	assert_int_equal(cg_recon_answer(&phase, &r, &res, "", SENT + SETTLE - 10, &v, &next), CG_RECON_WAIT);
	assert_int_equal(next, SENT + SETTLE - 10 + 100);

	/* Settled and nowhere, after the newest cases too: the create never made a case. */
	phase = CG_RECON_ATTR;
	assert_int_equal(cg_recon_answer(&phase, &r, &res, "", SENT + SETTLE, &v, &next), CG_RECON_NEXT);
	assert_int_equal(phase, CG_RECON_NEWEST);
	assert_int_equal(cg_recon_answer(&phase, &r, &res, "", SENT + SETTLE, &v, &next), CG_RECON_ABSENT);
	assert_int_equal(phase, CG_RECON_MARKER);
}

static void test_adopt(void **state)
{
	(void)state;
	struct cg_dd_case_view v = {.id = "c-1", .key = "OPS-1", .created_ms = SENT + 5000};
	struct cg_store_case c = {.state = CG_CASE_CREATING, .priority = 3};
	/* The event's own create made it. */
	cg_recon_adopt(&c, &v, 1, 2, SENT, SENT + 9000);
	assert_string_equal(c.case_id, "c-1");
	assert_string_equal(c.case_key, "OPS-1");
	assert_int_equal(c.state, CG_CASE_OPEN);
	assert_int_equal(c.priority, 2);
	assert_int_equal(c.created_ms, SENT + 5000);
	assert_int_equal(c.confirmed_ms, SENT + 9000);
	/* A given-up create had worked: a later event keeps what the record knows. */
	v.created_ms = 0;
	c.priority = 3;
	cg_recon_adopt(&c, &v, 0, 1, SENT + 1, SENT + 9000);
	assert_int_equal(c.priority, 3);
	assert_int_equal(c.created_ms, SENT + 5000);
	c.created_ms = 0;
	cg_recon_adopt(&c, &v, 0, 1, SENT + 1, SENT + 9000);
	assert_int_equal(c.created_ms, SENT + 1);
	cg_store_case_cleanup(&c);
}

static void test_refresh(void **state)
{
	(void)state;
	struct cg_store_case c = {.state = CG_CASE_OPEN, .priority = 3, .confirmed_ms = SENT};
	c.case_id = strdup("c-1");
	c.case_key = strdup("OPS-1");

	/* Only a case known by id, open or closed, not archived, unconfirmed for the interval. */
	assert_false(cg_refresh_due(&c, SENT + 999, 1000));
	assert_true(cg_refresh_due(&c, SENT + 1000, 1000));
	c.action_flags = CG_CASE_ARCHIVED;
	assert_false(cg_refresh_due(&c, SENT + 1000, 1000));
	c.action_flags = 0;
	c.state = CG_CASE_CREATING;
	assert_false(cg_refresh_due(&c, SENT + 1000, 1000));
	c.state = CG_CASE_OPEN;

	/* Datadog's state wins: a priority changed by a person, a close by a person. */
	struct cg_dd_result res = answer(200, "{\"data\":{\"id\":\"c-1\",\"type\":\"case\",\"attributes\":{\"status\":"
					      "\"CLOSED\",\"priority\":\"P1\",\"closed_at\":\"2026-01-01T00:01:00Z\"}}}");
	assert_string_equal(cg_refresh_apply(&c, &res, "s", "k", "", SENT + 5000), "closed");
	assert_int_equal(c.state, CG_CASE_CLOSED);
	assert_int_equal(c.priority, 1);
	assert_int_equal(c.closed_ms, SENT + 60000);
	assert_int_equal(c.confirmed_ms, SENT + 5000);
	assert_string_equal(cg_refresh_apply(&c, &res, "s", "k", "", SENT + 6000), "unchanged");
	res = answer(200, "{\"data\":{\"id\":\"c-1\",\"type\":\"case\",\"attributes\":{\"status\":\"OPEN\"}}}");
	assert_string_equal(cg_refresh_apply(&c, &res, "s", "k", "", SENT + 7000), "reopened");
	assert_int_equal(c.state, CG_CASE_OPEN);
	assert_int_equal(c.closed_ms, 0);
	res = answer(200, "{\"data\":{\"id\":\"c-1\",\"type\":\"case\",\"attributes\":{\"status\":\"OPEN\","
			  "\"archived_at\":\"2026-01-02T00:00:00Z\"}}}");
	assert_string_equal(cg_refresh_apply(&c, &res, "s", "k", "", SENT + 8000), "archived");
	assert_true(c.action_flags & CG_CASE_ARCHIVED);
	assert_int_equal(c.state, CG_CASE_CLOSED);

	/* An answer that tells nothing: the record stands. A failure to retry: NULL. */
	res = answer(200, "not json");
	assert_string_equal(cg_refresh_apply(&c, &res, "s", "k", "", SENT + 9000), "unreadable");
	res = answer(502, "{}");
	assert_null(cg_refresh_apply(&c, &res, "s", "k", "refresh: HTTP 502", SENT + 9000));
	res = transport_error();
	assert_null(cg_refresh_apply(&c, &res, "s", "k", "refresh: connection refused", SENT + 9000));

	/* Deleted in Datadog: forgotten, so a firing opens a new case. */
	res = answer(404, "{\"errors\":[\"not found\"]}");
	assert_string_equal(cg_refresh_apply(&c, &res, "s", "k", "", SENT + 10000), "deleted");
	assert_null(c.case_id);
	assert_null(c.case_key);
	assert_int_equal(c.state, CG_CASE_NONE);
	cg_store_case_cleanup(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_search_order),
		cmocka_unit_test(test_answers),
		cmocka_unit_test(test_adopt),
		cmocka_unit_test(test_refresh),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
