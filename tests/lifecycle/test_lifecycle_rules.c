/* test_lifecycle_rules.c: table-driven checks of the lifecycle rules (decide, steps, apply) against the README table.
 */
/* labels: unit */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "lifecycle.h"

#define MIN_MS (60 * 1000LL)
#define NOW    (1700000000000LL)

enum { F = CG_STATUS_FIRING, R = CG_STATUS_RESOLVED };

struct decide_row {
	const char *name;
	int status, prio;
	int state, case_prio;
	int64_t created_ago, closed_ago, last_comment_ago; /* minutes before NOW; -1: field 0 */
	/* Source overrides (0 / -1 keep the default). */
	int on_repeat, on_resolve;
	int64_t reopen_window_min, digest_min; /* -1: default */
	int raise, lower;                      /* -1: default */
	enum cg_action want;
};

#define D -1
static const struct decide_row decide_rows[] = {
    /* README: firing, none -> create; a resolution never opens a case. */
    {"new firing", F, 3, CG_CASE_NONE, 0, D, D, D, 0, 0, D, D, D, D, CG_ACT_CREATE},
    {"resolved, unknown key", R, 3, CG_CASE_NONE, 0, D, D, D, 0, 0, D, D, D, D, CG_ACT_IGNORE},
    {"resolved, closed case", R, 3, CG_CASE_CLOSED, 3, 120, 5, 5, 0, 0, D, D, D, D, CG_ACT_IGNORE},
    {"firing, create outcome unknown", F, 3, CG_CASE_CREATING, 0, D, D, D, 0, 0, D, D, D, D, CG_ACT_CREATE},
    /* Open case, same severity: digest default folds within the interval, comments after. */
    {"repeat within digest", F, 3, CG_CASE_OPEN, 3, 5, D, D, 0, 0, D, D, D, D, CG_ACT_FOLD},
    {"repeat after digest interval", F, 3, CG_CASE_OPEN, 3, 16, D, D, 0, 0, D, D, D, D, CG_ACT_COMMENT},
    {"repeat, digest counts from last comment", F, 3, CG_CASE_OPEN, 3, 60, D, 5, 0, 0, D, D, D, D, CG_ACT_FOLD},
    {"repeat, digest interval exactly", F, 3, CG_CASE_OPEN, 3, 15, D, D, 0, 0, D, D, D, D, CG_ACT_COMMENT},
    {"repeat, custom digest 1m", F, 3, CG_CASE_OPEN, 3, 2, D, D, 0, 0, D, 1, D, D, CG_ACT_COMMENT},
    {"on_repeat comment", F, 3, CG_CASE_OPEN, 3, 0, D, D, CG_REPEAT_COMMENT, 0, D, D, D, D, CG_ACT_COMMENT},
    {"on_repeat ignore", F, 3, CG_CASE_OPEN, 3, 0, D, D, CG_REPEAT_IGNORE, 0, D, D, D, D, CG_ACT_IGNORE},
    /* Severity rose: escalate (raise_priority default true); never lowered unless configured. */
    {"severity rose", F, 1, CG_CASE_OPEN, 3, 0, D, D, 0, 0, D, D, D, D, CG_ACT_ESCALATE},
    {"severity rose from NOT_DEFINED", F, 5, CG_CASE_OPEN, 0, 0, D, D, 0, 0, D, D, D, D, CG_ACT_ESCALATE},
    {"severity rose, raise off", F, 1, CG_CASE_OPEN, 3, 0, D, D, 0, 0, D, D, 0, D, CG_ACT_FOLD},
    {"severity fell, lower off", F, 4, CG_CASE_OPEN, 2, 0, D, D, 0, 0, D, D, D, D, CG_ACT_FOLD},
    {"severity fell, lower on", F, 4, CG_CASE_OPEN, 2, 0, D, D, 0, 0, D, D, D, 1, CG_ACT_DEESCALATE},
    {"severity fell to NOT_DEFINED, lower on", F, 0, CG_CASE_OPEN, 2, 0, D, D, 0, 0, D, D, D, 1, CG_ACT_FOLD},
    {"escalate beats on_repeat ignore", F, 1, CG_CASE_OPEN, 3, 0, D, D, CG_REPEAT_IGNORE, 0, D, D, D, D,
     CG_ACT_ESCALATE},
    /* Resolved while open: on_resolve (default comment_and_close); ignore keeps it open. */
    {"resolved, open", R, 3, CG_CASE_OPEN, 3, 10, D, D, 0, 0, D, D, D, D, CG_ACT_RESOLVE},
    {"resolved, on_resolve comment", R, 3, CG_CASE_OPEN, 3, 10, D, D, 0, CG_RESOLVE_COMMENT, D, D, D, D,
     CG_ACT_RESOLVE},
    {"resolved, on_resolve ignore", R, 3, CG_CASE_OPEN, 3, 10, D, D, 0, CG_RESOLVE_IGNORE, D, D, D, D, CG_ACT_IGNORE},
    /* Firing again after resolution: reopen within the window (default 1h), else a new case. */
    {"refire within window", F, 3, CG_CASE_CLOSED, 3, 120, 30, 30, 0, 0, D, D, D, D, CG_ACT_REOPEN},
    {"refire at window edge", F, 3, CG_CASE_CLOSED, 3, 120, 60, 60, 0, 0, D, D, D, D, CG_ACT_REOPEN},
    {"refire after window", F, 3, CG_CASE_CLOSED, 3, 180, 61, 61, 0, 0, D, D, D, D, CG_ACT_CREATE},
    {"refire, reopen_window 0", F, 3, CG_CASE_CLOSED, 3, 180, 1, 1, 0, 0, 0, D, D, D, CG_ACT_CREATE},
    {"refire, custom window 1d", F, 3, CG_CASE_CLOSED, 3, 3000, 1000, 1000, 0, 0, 24 * 60, D, D, D, CG_ACT_REOPEN},
    /* on_resolve comment leaves the case open in Datadog: a later firing lands on it, however
     * late (a new case would leave two open cases for one alert); a second resolution adds nothing. */
    {"refire long after resolve, case left open", F, 3, CG_CASE_OPEN, 3, 3000, 1000, 1000, 0, CG_RESOLVE_COMMENT, D, D,
     D, D, CG_ACT_REOPEN},
    {"refire soon after resolve, case left open", F, 3, CG_CASE_OPEN, 3, 30, 1, 1, 0, CG_RESOLVE_COMMENT, D, D, D, D,
     CG_ACT_REOPEN},
    {"resolved again, case left open", R, 3, CG_CASE_OPEN, 3, 30, 1, 1, 0, CG_RESOLVE_COMMENT, D, D, D, D, CG_ACT_IGNORE},
    /* A case closed by an older config of a now comment-only source: the reopen window applies. */
    {"refire after window, closed case, comment-only source", F, 3, CG_CASE_CLOSED, 3, 3000, 1000, 1000, 0,
     CG_RESOLVE_COMMENT, D, D, D, D, CG_ACT_CREATE},
    {"refire within window, closed case, comment-only source", F, 3, CG_CASE_CLOSED, 3, 120, 30, 30, 0,
     CG_RESOLVE_COMMENT, D, D, D, D, CG_ACT_REOPEN},
    /* A source switched back to closing: the next resolution closes the case left open. */
    {"resolved again, case left open, source now closes", R, 3, CG_CASE_OPEN, 3, 30, 1, 1, 0, 0, D, D, D, D,
     CG_ACT_RESOLVE},
};
#undef D

static void source_for(const struct decide_row *r, struct cg_source_config *src)
{
	cg_lifecycle_defaults(src);
	src->on_repeat = (enum cg_on_repeat)r->on_repeat;
	src->on_resolve = (enum cg_on_resolve)r->on_resolve;
	if (r->reopen_window_min >= 0)
		src->reopen_window_ms = (uint64_t)(r->reopen_window_min * MIN_MS);
	if (r->digest_min >= 0)
		src->digest_interval_ms = (uint64_t)(r->digest_min * MIN_MS);
	if (r->raise >= 0)
		src->raise_priority = r->raise;
	if (r->lower >= 0)
		src->lower_priority = r->lower;
}

static int64_t ago(int64_t minutes)
{
	return minutes < 0 ? 0 : NOW - minutes * MIN_MS;
}

static void test_decide_table(void **state)
{
	(void)state;
	int bad = 0;
	for (size_t i = 0; i < sizeof(decide_rows) / sizeof(decide_rows[0]); i++) {
		const struct decide_row *r = &decide_rows[i];
		struct cg_source_config src;
		source_for(r, &src);
		struct cg_store_case c = {.state = r->state,
		                          .priority = r->case_prio,
		                          .created_ms = ago(r->created_ago),
		                          .closed_ms = ago(r->closed_ago),
		                          .last_comment_ms = ago(r->last_comment_ago)};
		enum cg_action got = cg_lifecycle_decide(r->status, r->prio, &c, &src, NOW);
		if (got != r->want) {
			fprintf(stderr, "decide '%s': got %s, want %s\n", r->name, cg_action_name(got),
			        cg_action_name(r->want));
			bad++;
		}
	}
	/* No case record at all behaves like state NONE. */
	struct cg_source_config src;
	cg_lifecycle_defaults(&src);
	enum cg_action got = cg_lifecycle_decide(F, 3, NULL, &src, NOW);
	if (got != CG_ACT_CREATE) {
		fprintf(stderr, "decide NULL case firing: got %s, want create\n", cg_action_name(got));
		bad++;
	}
	got = cg_lifecycle_decide(R, 3, NULL, &src, NOW);
	if (got != CG_ACT_IGNORE) {
		fprintf(stderr, "decide NULL case resolved: got %s, want ignore\n", cg_action_name(got));
		bad++;
	}
	assert_int_equal(bad, 0);
}

struct steps_row {
	const char *name;
	enum cg_action action;
	int on_resolve;
	int has_attrs;
	enum cg_step want[4];
	int nwant;
	int case_state; /* 0: open */
};

static const struct steps_row steps_rows[] = {
    {"create", CG_ACT_CREATE, 0, 0, {CG_STEP_CREATE}, 1, 0},
    {"create with labels", CG_ACT_CREATE, 0, 1, {CG_STEP_CREATE, CG_STEP_ATTRS}, 2, 0},
    {"comment", CG_ACT_COMMENT, 0, 1, {CG_STEP_COMMENT}, 1, 0},
    {"escalate", CG_ACT_ESCALATE, 0, 1, {CG_STEP_PRIORITY, CG_STEP_COMMENT}, 2, 0},
    {"deescalate", CG_ACT_DEESCALATE, 0, 0, {CG_STEP_PRIORITY, CG_STEP_COMMENT}, 2, 0},
    {"resolve comment_and_close", CG_ACT_RESOLVE, CG_RESOLVE_COMMENT_AND_CLOSE, 0, {CG_STEP_COMMENT, CG_STEP_CLOSE}, 2, 0},
    {"resolve comment", CG_ACT_RESOLVE, CG_RESOLVE_COMMENT, 0, {CG_STEP_COMMENT}, 1, 0},
    {"resolve close", CG_ACT_RESOLVE, CG_RESOLVE_CLOSE, 0, {CG_STEP_CLOSE}, 1, 0},
    {"reopen (case was closed)", CG_ACT_REOPEN, CG_RESOLVE_COMMENT_AND_CLOSE, 0, {CG_STEP_OPEN, CG_STEP_COMMENT}, 2,
     CG_CASE_CLOSED},
    /* on_resolve comment never closed the case: firing again is only a comment... */
    {"reopen (case left open)", CG_ACT_REOPEN, CG_RESOLVE_COMMENT, 0, {CG_STEP_COMMENT}, 1, CG_CASE_OPEN},
    /* ...but a case that is closed (an older config closed it) is opened, whatever on_resolve says now. */
    {"reopen (closed, source now comment-only)", CG_ACT_REOPEN, CG_RESOLVE_COMMENT, 0,
     {CG_STEP_OPEN, CG_STEP_COMMENT}, 2, CG_CASE_CLOSED},
    {"fold", CG_ACT_FOLD, 0, 1, {0}, 0, 0},
    {"ignore", CG_ACT_IGNORE, 0, 1, {0}, 0, 0},
};

static void test_steps_table(void **state)
{
	(void)state;
	int bad = 0;
	for (size_t i = 0; i < sizeof(steps_rows) / sizeof(steps_rows[0]); i++) {
		const struct steps_row *r = &steps_rows[i];
		struct cg_source_config src;
		cg_lifecycle_defaults(&src);
		src.on_resolve = (enum cg_on_resolve)r->on_resolve;
		enum cg_step got[4] = {0};
		int n = cg_lifecycle_steps(r->action, &src, r->has_attrs, r->case_state ? r->case_state : CG_CASE_OPEN,
					   got);
		int same = n == r->nwant;
		for (int k = 0; same && k < n; k++)
			same = got[k] == r->want[k];
		if (!same) {
			fprintf(stderr, "steps '%s': got", r->name);
			for (int k = 0; k < n; k++)
				fprintf(stderr, " %s", cg_step_name(got[k]));
			fprintf(stderr, ", want");
			for (int k = 0; k < r->nwant; k++)
				fprintf(stderr, " %s", cg_step_name(r->want[k]));
			fprintf(stderr, "\n");
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* The step encoding survives every action and index the engine persists. */
static void test_step_encoding(void **state)
{
	(void)state;
	for (int a = CG_ACT_CREATE; a < CG_ACT_MAX_; a++)
		for (int i = 0; i < 4; i++) {
			int s = cg_step_encode((enum cg_action)a, i);
			assert_int_not_equal(s, 0); /* 0 means "not started" in the store */
			assert_int_equal(cg_step_action(s), a);
			assert_int_equal(cg_step_index(s), i);
		}
}

/* A digest cycle: create, folds, the due comment reports them, escalation, resolve, reopen, new case. */
static void test_apply_cycle(void **state)
{
	(void)state;
	struct cg_source_config src;
	cg_lifecycle_defaults(&src);
	struct cg_store_case c = {.state = CG_CASE_NONE};
	int64_t t = NOW;

	cg_lifecycle_apply(CG_ACT_CREATE, &c, 3, "s0", &src, t);
	assert_int_equal(c.state, CG_CASE_OPEN);
	assert_int_equal(c.priority, 3);
	assert_true(c.created_ms == t);
	assert_true(c.fires == 1);

	/* Two repeats within the interval fold; the first one starts the digest window. */
	t += MIN_MS;
	assert_int_equal(cg_lifecycle_decide(F, 3, &c, &src, t), CG_ACT_FOLD);
	cg_lifecycle_apply(CG_ACT_FOLD, &c, 3, "s1", &src, t);
	int64_t first = t;
	t += MIN_MS;
	assert_int_equal(cg_lifecycle_decide(F, 3, &c, &src, t), CG_ACT_FOLD);
	cg_lifecycle_apply(CG_ACT_FOLD, &c, 3, "s2", &src, t);
	assert_true(c.pending_repeats == 2);
	assert_true(c.first_pending_ms == first);
	assert_string_equal(c.last_summary, "s2");
	assert_true(c.fires == 3);

	/* The interval has passed since creation: the next repeat comments and clears the digest. */
	t = NOW + 15 * MIN_MS;
	assert_int_equal(cg_lifecycle_decide(F, 3, &c, &src, t), CG_ACT_COMMENT);
	cg_lifecycle_apply(CG_ACT_COMMENT, &c, 3, "s3", &src, t);
	assert_true(c.pending_repeats == 0);
	assert_true(c.last_comment_ms == t);
	/* ...and the next repeat right after it folds again (at most one comment per interval). */
	assert_int_equal(cg_lifecycle_decide(F, 3, &c, &src, t + 1000), CG_ACT_FOLD);

	t += MIN_MS;
	assert_int_equal(cg_lifecycle_decide(F, 1, &c, &src, t), CG_ACT_ESCALATE);
	cg_lifecycle_apply(CG_ACT_ESCALATE, &c, 1, "s4", &src, t);
	assert_int_equal(c.priority, 1);
	/* The same (raised) severity again is a repeat, not another escalation. */
	assert_int_equal(cg_lifecycle_decide(F, 1, &c, &src, t + 1000), CG_ACT_FOLD);
	/* A lower severity is not a de-escalation by default, and keeps the raised priority. */
	assert_int_equal(cg_lifecycle_decide(F, 4, &c, &src, t + 1000), CG_ACT_FOLD);

	t += MIN_MS;
	assert_int_equal(cg_lifecycle_decide(R, 1, &c, &src, t), CG_ACT_RESOLVE);
	cg_lifecycle_apply(CG_ACT_RESOLVE, &c, 1, "s5", &src, t);
	assert_int_equal(c.state, CG_CASE_CLOSED);
	assert_true(c.closed_ms == t);
	/* A second resolution of the closed case is ignored. */
	assert_int_equal(cg_lifecycle_decide(R, 1, &c, &src, t + 1000), CG_ACT_IGNORE);

	t += 30 * MIN_MS;
	assert_int_equal(cg_lifecycle_decide(F, 2, &c, &src, t), CG_ACT_REOPEN);
	cg_lifecycle_apply(CG_ACT_REOPEN, &c, 2, "s6", &src, t);
	assert_int_equal(c.state, CG_CASE_OPEN);
	assert_true(c.closed_ms == 0);

	t += MIN_MS;
	cg_lifecycle_apply(CG_ACT_RESOLVE, &c, 2, NULL, &src, t);
	t += 2 * 60 * MIN_MS;
	assert_int_equal(cg_lifecycle_decide(F, 2, &c, &src, t), CG_ACT_CREATE);
	cg_lifecycle_apply(CG_ACT_CREATE, &c, 2, NULL, &src, t);
	assert_int_equal(c.state, CG_CASE_OPEN);
	assert_true(c.created_ms == t);
	assert_true(c.closed_ms == 0);
	assert_true(c.last_comment_ms == 0);

	/* on_resolve comment: the resolution comments but the case stays open, here as in Datadog;
	 * firing again a day later comments on the same case instead of opening a second one. */
	struct cg_source_config keep = src;
	keep.on_resolve = CG_RESOLVE_COMMENT;
	struct cg_store_case k = {.state = CG_CASE_NONE};
	cg_lifecycle_apply(CG_ACT_CREATE, &k, 3, NULL, &keep, t);
	assert_int_equal(cg_lifecycle_decide(R, 3, &k, &keep, t + MIN_MS), CG_ACT_RESOLVE);
	cg_lifecycle_apply(CG_ACT_RESOLVE, &k, 3, NULL, &keep, t + MIN_MS);
	assert_int_equal(k.state, CG_CASE_OPEN);
	assert_true(k.closed_ms == t + MIN_MS);
	assert_int_equal(cg_lifecycle_decide(R, 3, &k, &keep, t + 2 * MIN_MS), CG_ACT_IGNORE);
	assert_int_equal(cg_lifecycle_decide(F, 3, &k, &keep, t + 24 * 60 * MIN_MS), CG_ACT_REOPEN);
	enum cg_step steps[4];
	int n = cg_lifecycle_steps(CG_ACT_REOPEN, &keep, 0, k.state, steps);
	assert_int_equal(n, 1);
	assert_int_equal(steps[0], CG_STEP_COMMENT); /* never a status change: the case is open */
	cg_lifecycle_apply(CG_ACT_REOPEN, &k, 3, NULL, &keep, t + 24 * 60 * MIN_MS);
	assert_int_equal(k.state, CG_CASE_OPEN);
	assert_true(k.closed_ms == 0);
	/* Open again and not resolved: repeats follow on_repeat as usual. */
	assert_int_equal(cg_lifecycle_decide(F, 3, &k, &keep, t + 24 * 60 * MIN_MS + 1000), CG_ACT_FOLD);

	/* An archived case is not reopened, even inside the window: the alert gets a new case. */
	struct cg_store_case arch = {.state = CG_CASE_CLOSED, .closed_ms = t, .action_flags = CG_CASE_ARCHIVED};
	assert_int_equal(cg_lifecycle_decide(F, 3, &arch, &src, t + MIN_MS), CG_ACT_CREATE);
	arch.action_flags = 0;
	assert_int_equal(cg_lifecycle_decide(F, 3, &arch, &src, t + MIN_MS), CG_ACT_REOPEN);

	/* IGNORE changes nothing. */
	struct cg_store_case before = c;
	cg_lifecycle_apply(CG_ACT_IGNORE, &c, 5, "x", &src, t + 5);
	assert_memory_equal(&before, &c, sizeof(c));
	free(c.last_summary);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decide_table),
	    cmocka_unit_test(test_steps_table),
	    cmocka_unit_test(test_step_encoding),
	    cmocka_unit_test(test_apply_cycle),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
