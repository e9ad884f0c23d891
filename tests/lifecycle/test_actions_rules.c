/* test_actions_rules.c: the pure lifecycle decisions behind the Case API requests: which action steps an
 * event takes (lifecycle/actions.c), what each carries, and what the comment step says (lifecycle.c). */
/* labels: unit */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actions.h"
#include "config.h"
#include "err.h"
#include "payload.h"

#define A_BASE "aaaaaaaa-0000-4000-8000-000000000001"
#define A_P1 "aaaaaaaa-0000-4000-8000-000000000099"
#define W1 "bbbbbbbb-0000-4000-8000-000000000001"
#define W2 "bbbbbbbb-0000-4000-8000-000000000002"
#define W3 "bbbbbbbb-0000-4000-8000-000000000003"
#define NOW_MS 1767225600000LL /* 2026-01-01T00:00:00Z */

static const char config_text[] =
	"sources:\n"
	"  - actions:\n"
	"      assignee: " A_BASE "\n"
	"      watchers: [" W1 ", " W2 "]\n"
	"      due: 7d\n"
	"      link_previous: RELATES_TO\n"
	"      acknowledge_status: In Review\n"
	"      P1:\n"
	"        assignee: " A_P1 "\n"
	"        watchers: [" W1 ", " W3 "]\n"
	"        due: 1d\n"
	"        jira: { project_id: \"OPS\", issue_type_id: \"3\", jira_account_id: \"acct-1\" }\n"
	"        notebook: true\n"
	"    name: demo\n"
	"    type: generic\n"
	"    auth: none\n"
	"    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
	"    case_type: 00000000-0000-0000-0000-000000000001\n";

static struct cg_config *cfg;

static int setup(void **state)
{
	(void)state;
	char *errs = NULL;
	int rc = cg_config_parse("t.yaml", config_text, strlen(config_text), &cfg, &errs);
	if (rc)
		print_error("config: %s\n", errs ? errs : "?");
	free(errs);
	return rc;
}

static int teardown(void **state)
{
	(void)state;
	cg_config_free(cfg);
	return 0;
}

static void expect_steps(const enum cg_step *got, int n, const enum cg_step *want, int nwant, const char *what)
{
	int same = n == nwant;
	for (int i = 0; same && i < n; i++)
		same = got[i] == want[i];
	if (!same) {
		print_error("%s: got", what);
		for (int i = 0; i < n; i++)
			print_error(" %s", cg_step_name(got[i]));
		print_error(", want");
		for (int i = 0; i < nwant; i++)
			print_error(" %s", cg_step_name(want[i]));
		print_error("\n");
	}
	assert_true(same);
}

static void test_steps(void **state)
{
	(void)state;
	const struct cg_source_config *src = &cfg->sources[0];
	enum cg_step s[CG_MAX_STEPS] = {CG_STEP_CREATE};

	/* A new P3 case: every watcher, insights, the link to the earlier case, the due date. */
	int n = cg_actions_steps(CG_ACT_CREATE, src, 0, 3, 1, 1, 0, s, 1, CG_MAX_STEPS);
	const enum cg_step create_p3[] = {CG_STEP_CREATE, CG_STEP_WATCH, CG_STEP_WATCH, CG_STEP_INSIGHTS, CG_STEP_LINK,
					  CG_STEP_DUE_DATE};
	expect_steps(s, n, create_p3, 6, "create P3");

	/* A new P1 case without insights or predecessor: P1's watchers and its integrations. */
	n = cg_actions_steps(CG_ACT_CREATE, src, 0, 1, 0, 0, 0, s, 1, CG_MAX_STEPS);
	const enum cg_step create_p1[] = {CG_STEP_CREATE, CG_STEP_WATCH, CG_STEP_WATCH, CG_STEP_DUE_DATE,
					  CG_STEP_JIRA, CG_STEP_NOTEBOOK};
	expect_steps(s, n, create_p1, 6, "create P1");

	/* P3 -> P1: the new assignee, the one watcher P1 adds, the tighter due date, integrations. */
	s[0] = CG_STEP_PRIORITY;
	s[1] = CG_STEP_COMMENT;
	n = cg_actions_steps(CG_ACT_ESCALATE, src, 3, 1, 1, 1, 0, s, 2, CG_MAX_STEPS);
	const enum cg_step esc[] = {CG_STEP_PRIORITY, CG_STEP_COMMENT, CG_STEP_ASSIGN, CG_STEP_WATCH,
				    CG_STEP_DUE_DATE, CG_STEP_JIRA, CG_STEP_NOTEBOOK};
	expect_steps(s, n, esc, 7, "escalate P3 -> P1");

	/* P4 -> P3: same settings, nothing to add. */
	n = cg_actions_steps(CG_ACT_ESCALATE, src, 4, 3, 1, 1, 0, s, 2, CG_MAX_STEPS);
	expect_steps(s, n, esc, 2, "escalate P4 -> P3");

	/* The cap holds; archives are one step; comments take none. */
	n = cg_actions_steps(CG_ACT_CREATE, src, 0, 3, 1, 1, 0, s, 1, 3);
	assert_int_equal(n, 3);
	n = cg_actions_steps(CG_ACT_ARCHIVE, src, 3, 3, 0, 0, 0, s, 0, CG_MAX_STEPS);
	expect_steps(s, n, (const enum cg_step[]){CG_STEP_ARCHIVE}, 1, "archive");
	n = cg_actions_steps(CG_ACT_COMMENT, src, 3, 3, 1, 1, 0, s, 0, CG_MAX_STEPS);
	assert_int_equal(n, 0);
	/* A note: the status step only when it acknowledges (and the source sets acknowledge_status). */
	s[0] = CG_STEP_COMMENT;
	n = cg_actions_steps(CG_ACT_NOTE, src, 3, 3, 0, 0, 0, s, 1, CG_MAX_STEPS);
	assert_int_equal(n, 1);
	n = cg_actions_steps(CG_ACT_NOTE, src, 3, 3, 0, 0, 1, s, 1, CG_MAX_STEPS);
	expect_steps(s, n, (const enum cg_step[]){CG_STEP_COMMENT, CG_STEP_ACK_STATUS}, 2, "acknowledge");
	struct cg_source_config plain = *src;
	plain.actions.acknowledge_status = NULL;
	n = cg_actions_steps(CG_ACT_NOTE, &plain, 3, 3, 0, 0, 1, s, 1, CG_MAX_STEPS);
	assert_int_equal(n, 1);
}

/* An acknowledgement's status step carries the configured status, for an open case only. */
static void test_ack_status_args(void **state)
{
	(void)state;
	const struct cg_source_config *src = &cfg->sources[0];
	const enum cg_step steps[] = {CG_STEP_COMMENT, CG_STEP_ACK_STATUS};
	struct cg_store_case cs = {.state = CG_CASE_OPEN};
	struct cg_payload pl = {.acknowledged = 1};
	struct cg_action_args a;
	assert_int_equal(cg_actions_args(src, CG_ACT_NOTE, steps, 1, 3, 3, &cs, &pl, NOW_MS, &a), 0);
	assert_string_equal(a.status, "In Review");
	cs.state = CG_CASE_CLOSED; /* acknowledged after the close: nothing reopens it */
	assert_int_equal(cg_actions_args(src, CG_ACT_NOTE, steps, 1, 3, 3, &cs, &pl, NOW_MS, &a), 1);
	cs.state = CG_CASE_OPEN;
	cs.closed_ms = NOW_MS; /* resolved, left open by on_resolve: comment */
	assert_int_equal(cg_actions_args(src, CG_ACT_NOTE, steps, 1, 3, 3, &cs, &pl, NOW_MS, &a), 1);
	cs.closed_ms = 0;
	pl.acknowledged = 0;
	assert_int_equal(cg_actions_args(src, CG_ACT_NOTE, steps, 1, 3, 3, &cs, &pl, NOW_MS, &a), 1);
}

struct fixture_case {
	struct cg_store_case cs;
	struct cg_payload pl;
};

static void case_init(struct fixture_case *f, const char *payload)
{
	memset(f, 0, sizeof(*f));
	f->cs.case_id = (char *)"c-new";
	f->cs.prev_case_id = (char *)"c-old";
	f->cs.state = CG_CASE_OPEN;
	f->cs.priority = 3;
	assert_int_equal(cg_payload_decode(payload, &f->pl), 0);
}

static void test_args(void **state)
{
	(void)state;
	const struct cg_source_config *src = &cfg->sources[0];
	struct fixture_case f;
	struct cg_action_args a;
	case_init(&f, "{\"summary\":\"s\",\"insights\":[{\"type\":\"MONITOR\",\"ref\":\"/monitors/1\",\"resource_id\":\"1\"}],"
		      "\"case_id\":\"c-new\"}");

	/* The assignee of the priority the case goes to. */
	enum cg_step esc[] = {CG_STEP_PRIORITY, CG_STEP_COMMENT, CG_STEP_ASSIGN, CG_STEP_WATCH, CG_STEP_DUE_DATE};
	assert_int_equal(cg_actions_args(src, CG_ACT_ESCALATE, esc, 2, 3, 1, &f.cs, &f.pl, NOW_MS, &a), 0);
	assert_string_equal(a.assignee, A_P1);
	/* The watcher an escalation adds is the one the old priority did not have. */
	assert_int_equal(cg_actions_args(src, CG_ACT_ESCALATE, esc, 3, 3, 1, &f.cs, &f.pl, NOW_MS, &a), 0);
	assert_string_equal(a.watcher, W3);
	/* Due date: the day (UTC) the event started, plus the priority's due. */
	assert_int_equal(cg_actions_args(src, CG_ACT_ESCALATE, esc, 4, 3, 1, &f.cs, &f.pl, NOW_MS - 1, &a), 0);
	assert_string_equal(a.due_date, "2026-01-01");
	assert_int_equal(cg_actions_args(src, CG_ACT_ESCALATE, esc, 4, 3, 3, &f.cs, &f.pl, NOW_MS, &a), 0);
	assert_string_equal(a.due_date, "2026-01-08");

	/* A new case: its watchers in order, one per step; one more than the config has is nothing. */
	enum cg_step cr[] = {CG_STEP_CREATE, CG_STEP_WATCH, CG_STEP_WATCH, CG_STEP_WATCH, CG_STEP_INSIGHTS, CG_STEP_LINK};
	assert_int_equal(cg_actions_args(src, CG_ACT_CREATE, cr, 1, 0, 3, &f.cs, &f.pl, NOW_MS, &a), 0);
	assert_string_equal(a.watcher, W1);
	assert_int_equal(cg_actions_args(src, CG_ACT_CREATE, cr, 2, 0, 3, &f.cs, &f.pl, NOW_MS, &a), 0);
	assert_string_equal(a.watcher, W2);
	assert_int_equal(cg_actions_args(src, CG_ACT_CREATE, cr, 3, 0, 3, &f.cs, &f.pl, NOW_MS, &a), 1);
	/* The insights the event carries. */
	assert_int_equal(cg_actions_args(src, CG_ACT_CREATE, cr, 4, 0, 3, &f.cs, &f.pl, NOW_MS, &a), 0);
	assert_int_equal(cJSON_GetArraySize(a.insights), 1);
	/* RELATES_TO: the older case is the parent. */
	assert_int_equal(cg_actions_args(src, CG_ACT_CREATE, cr, 5, 0, 3, &f.cs, &f.pl, NOW_MS, &a), 0);
	assert_string_equal(a.parent, "c-old");
	assert_string_equal(a.child, "c-new");
	assert_string_equal(a.relationship, "RELATES_TO");
	/* No predecessor: no link. */
	f.cs.prev_case_id = NULL;
	assert_int_equal(cg_actions_args(src, CG_ACT_CREATE, cr, 5, 0, 3, &f.cs, &f.pl, NOW_MS, &a), 1);

	/* Integrations: once per case. */
	enum cg_step in[] = {CG_STEP_CREATE, CG_STEP_JIRA, CG_STEP_NOTEBOOK};
	assert_int_equal(cg_actions_args(src, CG_ACT_CREATE, in, 1, 0, 1, &f.cs, &f.pl, NOW_MS, &a), 0);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(a.integration, "project_id")->valuestring, "OPS");
	assert_int_equal(cg_actions_args(src, CG_ACT_CREATE, in, 2, 0, 1, &f.cs, &f.pl, NOW_MS, &a), 0);
	cg_actions_record(CG_STEP_JIRA, 1, &f.cs);
	cg_actions_record(CG_STEP_NOTEBOOK, 0, &f.cs); /* skipped: may be tried again */
	assert_int_equal(cg_actions_args(src, CG_ACT_CREATE, in, 1, 0, 1, &f.cs, &f.pl, NOW_MS, &a), 1);
	assert_int_equal(cg_actions_args(src, CG_ACT_CREATE, in, 2, 0, 1, &f.cs, &f.pl, NOW_MS, &a), 0);
	/* A priority without them. */
	assert_int_equal(cg_actions_args(src, CG_ACT_CREATE, in, 2, 0, 3, &f.cs, &f.pl, NOW_MS, &a), 1);

	/* Archive: only the closed case the sweep saw, and only once. */
	enum cg_step ar[] = {CG_STEP_ARCHIVE};
	assert_int_equal(cg_actions_args(src, CG_ACT_ARCHIVE, ar, 0, 3, 3, &f.cs, &f.pl, NOW_MS, &a), 1); /* open */
	f.cs.state = CG_CASE_CLOSED;
	f.cs.action_flags |= CG_CASE_ARCHIVE_QUEUED;
	assert_int_equal(cg_actions_args(src, CG_ACT_ARCHIVE, ar, 0, 3, 3, &f.cs, &f.pl, NOW_MS, &a), 0);
	cg_actions_record(CG_STEP_ARCHIVE, 1, &f.cs);
	assert_int_equal(f.cs.action_flags & (CG_CASE_ARCHIVED | CG_CASE_ARCHIVE_QUEUED), CG_CASE_ARCHIVED);
	assert_int_equal(cg_actions_args(src, CG_ACT_ARCHIVE, ar, 0, 3, 3, &f.cs, &f.pl, NOW_MS, &a), 1);
	f.cs.action_flags = 0;
	f.cs.case_id = (char *)"c-newer";
	assert_int_equal(cg_actions_args(src, CG_ACT_ARCHIVE, ar, 0, 3, 3, &f.cs, &f.pl, NOW_MS, &a), 1);
	cg_payload_cleanup(&f.pl);

	/* No insights in the payload: nothing to add. */
	case_init(&f, "{\"summary\":\"s\"}");
	assert_int_equal(cg_actions_args(src, CG_ACT_CREATE, cr, 4, 0, 3, &f.cs, &f.pl, NOW_MS, &a), 1);
	cg_payload_cleanup(&f.pl);
}

static void expect_comment(enum cg_action a, const struct cg_store_case *c, int prio, const char *sev,
			   const char *want)
{
	char *got = cg_lifecycle_comment(a, c, prio, sev, "latest text");
	assert_non_null(got);
	if (strcmp(got, want) != 0)
		print_error("%s: got\n  %s\nwant\n  %s\n", cg_action_name(a), got, want);
	assert_string_equal(got, want);
	free(got);
}

static void test_comments(void **state)
{
	(void)state;
	struct cg_store_case c = {.state = CG_CASE_OPEN, .priority = 3};
	/* A repeat that never resolved is "still firing", never "fired again" (issue #20): without
	 * folded repeats it counts one since the case last spoke (created, else its last comment). */
	expect_comment(CG_ACT_COMMENT, &c, 3, NULL, "**Still firing**; latest:\n\nlatest text");
	c.created_ms = NOW_MS;
	expect_comment(CG_ACT_COMMENT, &c, 3, NULL,
		       "**Still firing**: fired 1 more time since 2026-01-01T00:00:00Z; latest:\n\nlatest text");
	c.last_comment_ms = NOW_MS + 15 * 60 * 1000;
	expect_comment(CG_ACT_COMMENT, &c, 3, NULL,
		       "**Still firing**: fired 1 more time since 2026-01-01T00:15:00Z; latest:\n\nlatest text");
	c.created_ms = c.last_comment_ms = 0;
	expect_comment(CG_ACT_RESOLVE, &c, 3, NULL, "**Resolved.**\n\nlatest text");
	expect_comment(CG_ACT_ESCALATE, &c, 1, "critical",
		       "**Priority raised** from P3 to P1: severity is now `critical`.\n\nlatest text");
	expect_comment(CG_ACT_DEESCALATE, &c, 4, NULL,
		       "**Priority lowered** from P3 to P4: severity is now `unknown`.\n\nlatest text");
	expect_comment(CG_ACT_NOTE, &c, 3, NULL, "latest text");
	/* Folded repeats: the digest comment counts the one it carries; the others report them. */
	c.pending_repeats = 2;
	c.first_pending_ms = NOW_MS;
	expect_comment(CG_ACT_COMMENT, &c, 3, NULL,
		       "**Still firing**: fired 3 more times since 2026-01-01T00:00:00Z; latest:\n\nlatest text");
	expect_comment(CG_ACT_RESOLVE, &c, 3, NULL,
		       "**Resolved.** It fired 2 more times since 2026-01-01T00:00:00Z.\n\nlatest text");
	c.pending_repeats = 1;
	expect_comment(CG_ACT_ESCALATE, &c, 2, "error",
		       "**Priority raised** from P3 to P2: severity is now `error`. It fired 1 more time since "
		       "2026-01-01T00:00:00Z.\n\nlatest text");
	/* Reopen: says whether the case was closed. */
	c.pending_repeats = 0;
	c.closed_ms = NOW_MS + 90 * 1000;
	expect_comment(CG_ACT_REOPEN, &c, 3, NULL,
		       "**Firing again** (resolved at 2026-01-01T00:01:30Z): same case.\n\nlatest text");
	c.state = CG_CASE_CLOSED;
	expect_comment(CG_ACT_REOPEN, &c, 3, NULL,
		       "**Firing again** (resolved at 2026-01-01T00:01:30Z): case reopened.\n\nlatest text");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_steps),
		cmocka_unit_test(test_args),
		cmocka_unit_test(test_ack_status_args),
		cmocka_unit_test(test_comments),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
