/* test_circuit.c: the Case API circuit's decisions: when it opens, how probes back off, when it closes. */
/* labels: unit */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "circuit.h"

static void t_classify(void **state)
{
	(void)state;
	assert_int_equal(cg_circuit_classify(7, 0), CG_CIRCUIT_DOWN);
	assert_int_equal(cg_circuit_classify(0, 503), CG_CIRCUIT_DOWN);
	assert_int_equal(cg_circuit_classify(0, 500), CG_CIRCUIT_DOWN);
	assert_int_equal(cg_circuit_classify(0, 401), CG_CIRCUIT_REFUSED);
	assert_int_equal(cg_circuit_classify(0, 403), CG_CIRCUIT_REFUSED);
	/* The request's own business: the API answered. */
	assert_int_equal(cg_circuit_classify(0, 200), CG_CIRCUIT_ANSWERED);
	assert_int_equal(cg_circuit_classify(0, 400), CG_CIRCUIT_ANSWERED);
	assert_int_equal(cg_circuit_classify(0, 404), CG_CIRCUIT_ANSWERED);
	assert_int_equal(cg_circuit_classify(0, 408), CG_CIRCUIT_ANSWERED);
	assert_int_equal(cg_circuit_classify(0, 429), CG_CIRCUIT_ANSWERED);
}

/* A run of failures across requests opens it; one success in between resets the run. */
static void t_opens_after_run(void **state)
{
	(void)state;
	struct cg_circuit c;
	cg_circuit_init(&c, 3, 100, 1000);
	assert_int_equal(cg_circuit_observe(&c, CG_CIRCUIT_DOWN, 0, "HTTP 503", -1, 1000, 0), 0);
	assert_int_equal(cg_circuit_observe(&c, CG_CIRCUIT_DOWN, 0, "HTTP 503", -1, 1000, 0), 0);
	assert_int_equal(cg_circuit_observe(&c, CG_CIRCUIT_ANSWERED, 0, NULL, -1, 1000, 0), 0);
	assert_int_equal(cg_circuit_observe(&c, CG_CIRCUIT_DOWN, 0, "HTTP 503", -1, 1000, 0), 0);
	assert_int_equal(cg_circuit_observe(&c, CG_CIRCUIT_DOWN, 0, "HTTP 503", -1, 1000, 0), 0);
	assert_false(c.open);
	assert_int_equal(cg_circuit_observe(&c, CG_CIRCUIT_DOWN, 0, "connection refused", -1, 2000, 0), 1);
	assert_true(c.open);
	assert_int_equal(c.cause, CG_CAUSE_UNAVAILABLE);
	assert_string_equal(c.why, "connection refused");
	assert_int_equal(c.opened_ms, 2000);
	/* First probe: half of base fixed, half jittered. */
	assert_true(c.next_probe_ms >= 2050 && c.next_probe_ms <= 2100);
}

/* One 401/403 is enough: keys do not get better by retrying. */
static void t_refused_opens_at_once(void **state)
{
	(void)state;
	struct cg_circuit c;
	cg_circuit_init(&c, 5, 100, 1000);
	assert_int_equal(cg_circuit_observe(&c, CG_CIRCUIT_REFUSED, 0, "HTTP 403: Forbidden", -1, 10, 0), 1);
	assert_int_equal(c.cause, CG_CAUSE_CREDENTIALS);
	assert_string_equal(cg_circuit_cause_name(c.cause), "credentials");
	/* While open, requests already out come back refused: no second "opened". */
	assert_int_equal(cg_circuit_observe(&c, CG_CIRCUIT_REFUSED, 0, "HTTP 403", -1, 20, 0), 0);
	/* The cause follows the latest failure. */
	assert_int_equal(cg_circuit_observe(&c, CG_CIRCUIT_DOWN, 1, "HTTP 502", -1, 30, 0), 0);
	assert_int_equal(c.cause, CG_CAUSE_UNAVAILABLE);
}

/* Failed probes back off (doubling, capped by retry_cap, never below half); a server's Retry-After
 * is never undercut; the first answer closes it. */
static void t_probe_backoff_and_close(void **state)
{
	(void)state;
	struct cg_circuit c;
	cg_circuit_init(&c, 1, 100, 1000);
	int64_t now = 0;
	assert_int_equal(cg_circuit_observe(&c, CG_CIRCUIT_DOWN, 0, "x", -1, now, 0), 1);
	int64_t want_lo[] = {100, 200, 400, 500, 500, 500}, want_hi[] = {200, 400, 800, 1000, 1000, 1000};
	for (int i = 0; i < 6; i++) {
		now = c.next_probe_ms;
		uint64_t rnd = (uint64_t)i * 7919u;
		assert_int_equal(cg_circuit_observe(&c, CG_CIRCUIT_DOWN, 1, "x", -1, now, rnd), 0);
		int64_t d = c.next_probe_ms - now;
		if (d < want_lo[i] || d > want_hi[i])
			fail_msg("probe %d: next in %lld ms, want %lld..%lld", i + 1, (long long)d, (long long)want_lo[i],
				 (long long)want_hi[i]);
	}
	/* Retry-After 30 s on a failed probe: the next one waits at least that. */
	now = c.next_probe_ms;
	cg_circuit_observe(&c, CG_CIRCUIT_DOWN, 1, "HTTP 503", 30, now, 0);
	assert_true(c.next_probe_ms - now >= 30000);
	/* A probe that is answered (even 404) closes it, and the next outage starts from base. */
	assert_int_equal(cg_circuit_observe(&c, CG_CIRCUIT_ANSWERED, 1, NULL, -1, now, 0), -1);
	assert_false(c.open);
	assert_int_equal(c.cause, CG_CAUSE_NONE);
	assert_int_equal(cg_circuit_observe(&c, CG_CIRCUIT_DOWN, 0, "x", -1, 100000, 0), 1);
	assert_true(c.next_probe_ms - 100000 <= 100);
}

static void t_trip_and_probe_now(void **state)
{
	(void)state;
	struct cg_circuit c;
	cg_circuit_init(&c, 5, 1000, 60000);
	/* The canary failed: open at once, whatever the run. */
	assert_int_equal(cg_circuit_trip(&c, CG_CIRCUIT_DOWN, "reset", 5000, 0), 1);
	assert_true(c.open);
	assert_int_equal(cg_circuit_trip(&c, CG_CIRCUIT_DOWN, "reset", 5000, 0), 0);
	for (int i = 0; i < 8; i++)
		cg_circuit_observe(&c, CG_CIRCUIT_REFUSED, 1, "x", -1, 6000, 0);
	assert_true(c.next_probe_ms >= 6000 + 30000); /* capped: 60 s, half of it jittered */
	/* A reload: probe now, backoff from the start. */
	cg_circuit_probe_now(&c, 7000);
	assert_int_equal(c.next_probe_ms, 7000);
	assert_int_equal(c.failed_probes, 0);
	/* Huge values never overflow the backoff. */
	cg_circuit_init(&c, 1, UINT64_MAX / 2, UINT64_MAX / 2);
	cg_circuit_observe(&c, CG_CIRCUIT_DOWN, 0, "x", -1, 0, UINT64_MAX);
	assert_true(c.next_probe_ms > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_classify),
		cmocka_unit_test(t_opens_after_run),
		cmocka_unit_test(t_refused_opens_at_once),
		cmocka_unit_test(t_probe_backoff_and_close),
		cmocka_unit_test(t_trip_and_probe_now),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
