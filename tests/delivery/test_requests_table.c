/* test_requests_table.c: the Case API request table (delivery/requests.c): every row's method, path
 * and body for one fixed case, each row's flags, and every request against Datadog's reference
 * (the OpenAPI contract, validated by tests/contract/validate.py, or the API reference text). */
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
#include "harness.h"
#include "payload.h"
#include "requests.h"

#define CASE_ID "8f2d1c3e-0000-4000-8000-000000000002"
#define PREV_ID "8f2d1c3e-0000-4000-8000-000000000001"
#define TYPE_ID "00000000-0000-0000-0000-000000000001"
#define PROJECT_ID "d4bbe1af-f36e-42f1-87c1-493ca35c320e"
#define ASSIGNEE "aaaaaaaa-0000-4000-8000-000000000001"
#define ASSIGNEE_P1 "aaaaaaaa-0000-4000-8000-000000000099"
#define WATCHER1 "bbbbbbbb-0000-4000-8000-000000000001"
#define WATCHER2 "bbbbbbbb-0000-4000-8000-000000000002"
#define MARKER "cg0123456789abcdef0123456789abcdef"
#define NOW_MS 1767225600000LL /* 2026-01-01T00:00:00Z */

static const char config_text[] =
	"sources:\n"
	"  - name: demo\n"
	"    type: generic\n"
	"    auth: none\n"
	"    project: DEMO\n"
	"    case_type: " TYPE_ID "\n"
	"    status_name: Resolved\n"
	"    actions:\n"
	"      assignee: " ASSIGNEE "\n"
	"      watchers: [" WATCHER1 ", " WATCHER2 "]\n"
	"      due: 7d\n"
	"      link_previous: SUCCESSOR_OF\n"
	"      acknowledge_status: IN_PROGRESS\n"
	"      P1:\n"
	"        assignee: " ASSIGNEE_P1 "\n"
	"        jira: { project_id: \"OPS\", issue_type_id: \"3\", jira_account_id: \"acct-1\" }\n"
	"        servicenow: { instance_name: acme, assignment_group: sre }\n"
	"        notebook: true\n";

static const char create_draft[] =
	"{\"data\":{\"type\":\"case\",\"attributes\":{\"title\":\"disk full\",\"type_id\":\"" TYPE_ID "\","
	"\"priority\":\"P1\",\"status_name\":\"Triage\",\"description\":\"db-1 is out of disk\","
	"\"custom_attributes\":{\"team\":{\"type\":\"TEXT\",\"is_multi\":false,\"value\":\"storage\"}}},"
	"\"relationships\":{\"project\":{\"data\":{\"id\":\"DEMO\",\"type\":\"project\"}}}}}";

struct fixture {
	struct cg_config *cfg;
	struct cg_payload pl;
	struct cg_store_case cs;
	struct cg_projects projects;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	char *errs = NULL;
	int rc = cg_config_parse("t.yaml", config_text, strlen(config_text), &f->cfg, &errs);
	if (rc)
		print_error("config: %s\n", errs ? errs : "?");
	assert_int_equal(rc, 0);
	free(errs);

	cJSON *create = cJSON_Parse(create_draft);
	cJSON *attrs = cJSON_Parse("{\"env\":[\"prod\"],\"team\":[\"storage\"]}");
	cJSON *insights = cJSON_Parse("[{\"ref\":\"/monitors/42\",\"resource_id\":\"42\",\"type\":\"MONITOR\"}]");
	assert_non_null(create);
	assert_non_null(attrs);
	assert_non_null(insights);
	struct cg_payload_in in = {.title = "disk full", .summary = "db-1 is out of disk", .create = create,
				   .attributes = attrs, .insights = insights, .case_id = CASE_ID, .acknowledged = 1};
	char *text = cg_payload_encode(&in);
	assert_non_null(text);
	assert_int_equal(cg_payload_decode(text, &f->pl), 0);
	free(text);
	cJSON_Delete(create);
	cJSON_Delete(attrs);
	cJSON_Delete(insights);

	/* The case: open, created as the second of its key, after an earlier one. */
	f->cs.dedup_key = strdup("demo:disk");
	f->cs.case_id = strdup(CASE_ID);
	f->cs.case_key = strdup("DEMO-2");
	f->cs.prev_case_id = strdup(PREV_ID);
	f->cs.prev_case_key = strdup("DEMO-1");
	f->cs.marker = strdup(MARKER);
	f->cs.state = CG_CASE_OPEN;
	f->cs.priority = 3;
	f->cs.generation = 2;

	f->projects.keys = calloc(1, sizeof(char *));
	f->projects.ids = calloc(1, sizeof(char *));
	assert_non_null(f->projects.keys);
	assert_non_null(f->projects.ids);
	f->projects.keys[0] = strdup("DEMO");
	f->projects.ids[0] = strdup(PROJECT_ID);
	f->projects.n = 1;
	f->projects.loaded = 1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	cg_config_free(f->cfg);
	cg_payload_cleanup(&f->pl);
	cg_store_case_cleanup(&f->cs);
	cg_projects_cleanup(&f->projects);
	free(f);
	return 0;
}

/* ---- every row for the fixed case ---- */

struct want {
	enum cg_req_kind kind;
	const char *operation; /* Datadog's operationId (the contract) or the reference's name */
	enum cg_action action;  /* the event that takes the step */
	enum cg_step steps[4];  /* its steps; the request carries the last one listed */
	int prio;               /* the event's priority (the case is at P3) */
	const char *method, *path, *body; /* body NULL: none */
};

static const char *const ids2[] = {CASE_ID, PREV_ID};

static const struct want wants[] = {
	{CG_REQ_CREATE, "CreateCase", CG_ACT_CREATE, {CG_STEP_CREATE}, 1, "POST", "/api/v2/cases",
	 "{\"data\":{\"type\":\"case\",\"attributes\":{\"title\":\"disk full\",\"type_id\":\"" TYPE_ID "\","
	 "\"priority\":\"P1\",\"status_name\":\"Triage\","
	 "\"custom_attributes\":{\"team\":{\"type\":\"TEXT\",\"is_multi\":false,\"value\":\"storage\"}},"
	 "\"description\":\"db-1 is out of disk\\n\\nFollows case DEMO-1 (resolved earlier).\\n\\n---\\ncasegate ref "
	 "cgf2e82b3e23673dc909749dcc3e3a4041\"},"
	 "\"relationships\":{\"project\":{\"data\":{\"id\":\"" PROJECT_ID "\",\"type\":\"project\"}},"
	 "\"assignee\":{\"data\":{\"id\":\"" ASSIGNEE_P1 "\",\"type\":\"user\"}}}}}"},
	{CG_REQ_ATTRIBUTES, "UpdateAttributes", CG_ACT_CREATE, {CG_STEP_CREATE, CG_STEP_ATTRS}, 3, "POST",
	 "/api/v2/cases/" CASE_ID "/attributes",
	 "{\"data\":{\"type\":\"case\",\"attributes\":{\"attributes\":{\"env\":[\"prod\"],\"team\":[\"storage\"]}}}}"},
	{CG_REQ_COMMENT, "CommentCase", CG_ACT_COMMENT, {CG_STEP_COMMENT}, 3, "POST", "/api/v2/cases/" CASE_ID "/comment",
	 "{\"data\":{\"type\":\"case\",\"attributes\":{\"comment\":"
	 "\"**Still firing**; latest:\\n\\ndb-1 is out of disk\"}}}"},
	{CG_REQ_CLOSE, "UpdateStatus", CG_ACT_RESOLVE, {CG_STEP_COMMENT, CG_STEP_CLOSE}, 3, "POST",
	 "/api/v2/cases/" CASE_ID "/status", "{\"data\":{\"type\":\"case\",\"attributes\":{\"status_name\":\"Resolved\"}}}"},
	{CG_REQ_OPEN, "UpdateStatus", CG_ACT_REOPEN, {CG_STEP_OPEN}, 3, "POST", "/api/v2/cases/" CASE_ID "/status",
	 "{\"data\":{\"type\":\"case\",\"attributes\":{\"status\":\"OPEN\"}}}"},
	{CG_REQ_PRIORITY, "UpdatePriority", CG_ACT_ESCALATE, {CG_STEP_PRIORITY}, 1, "POST",
	 "/api/v2/cases/" CASE_ID "/priority", "{\"data\":{\"type\":\"case\",\"attributes\":{\"priority\":\"P1\"}}}"},
	{CG_REQ_ASSIGN, "AssignCase", CG_ACT_ESCALATE, {CG_STEP_PRIORITY, CG_STEP_COMMENT, CG_STEP_ASSIGN}, 1, "POST",
	 "/api/v2/cases/" CASE_ID "/assign",
	 "{\"data\":{\"attributes\":{\"assignee_id\":\"" ASSIGNEE_P1 "\"},\"type\":\"case\"}}"},
	/* The second watch step adds the second watcher. */
	{CG_REQ_WATCH, "AddCaseWatcher", CG_ACT_CREATE, {CG_STEP_CREATE, CG_STEP_WATCH, CG_STEP_WATCH}, 3, "POST",
	 "/api/v2/cases/" CASE_ID "/watchers/" WATCHER2, NULL},
	{CG_REQ_INSIGHTS, "AddCaseInsights", CG_ACT_CREATE, {CG_STEP_CREATE, CG_STEP_INSIGHTS}, 3, "PUT",
	 "/api/v2/cases/" CASE_ID "/insights",
	 "{\"data\":{\"attributes\":{\"insights\":[{\"ref\":\"/monitors/42\",\"resource_id\":\"42\",\"type\":\"MONITOR\"}]},"
	 "\"type\":\"case\"}}"},
	/* successor_of: the new case is the parent. */
	{CG_REQ_LINK, "CreateCaseLink", CG_ACT_CREATE, {CG_STEP_CREATE, CG_STEP_LINK}, 3, "POST", "/api/v2/cases/link",
	 "{\"data\":{\"attributes\":{\"child_entity_id\":\"" PREV_ID "\",\"child_entity_type\":\"CASE\","
	 "\"parent_entity_id\":\"" CASE_ID "\",\"parent_entity_type\":\"CASE\",\"relationship\":\"SUCCESSOR_OF\"},"
	 "\"type\":\"link\"}}"},
	/* Seven days after the event started. */
	{CG_REQ_DUE_DATE, "UpdateCaseDueDate", CG_ACT_CREATE, {CG_STEP_CREATE, CG_STEP_DUE_DATE}, 3, "POST",
	 "/api/v2/cases/" CASE_ID "/due_date", "{\"data\":{\"attributes\":{\"due_date\":\"2026-01-08\"},\"type\":\"case\"}}"},
	{CG_REQ_JIRA, "CreateCaseJiraIssue", CG_ACT_CREATE, {CG_STEP_CREATE, CG_STEP_JIRA}, 1, "POST",
	 "/api/v2/cases/" CASE_ID "/relationships/jira_issues",
	 "{\"data\":{\"attributes\":{\"project_id\":\"OPS\",\"issue_type_id\":\"3\",\"jira_account_id\":\"acct-1\"},"
	 "\"type\":\"issues\"}}"},
	{CG_REQ_SERVICENOW, "CreateCaseServiceNowTicket", CG_ACT_CREATE, {CG_STEP_CREATE, CG_STEP_SERVICENOW}, 1, "POST",
	 "/api/v2/cases/" CASE_ID "/relationships/servicenow_tickets",
	 "{\"data\":{\"attributes\":{\"instance_name\":\"acme\",\"assignment_group\":\"sre\"},\"type\":\"tickets\"}}"},
	{CG_REQ_NOTEBOOK, "CreateCaseNotebook", CG_ACT_CREATE, {CG_STEP_CREATE, CG_STEP_NOTEBOOK}, 1, "POST",
	 "/api/v2/cases/" CASE_ID "/relationships/notebook", "{\"data\":{\"type\":\"notebook\"}}"},
	{CG_REQ_ARCHIVE, "ArchiveCase", CG_ACT_ARCHIVE, {CG_STEP_ARCHIVE}, 3, "POST", "/api/v2/cases/" CASE_ID "/archive",
	 "{\"data\":{\"type\":\"case\"}}"},
	/* An acknowledgement (PagerDuty, Opsgenie) with actions.acknowledge_status. */
	{CG_REQ_ACK_STATUS, "UpdateStatus", CG_ACT_NOTE, {CG_STEP_COMMENT, CG_STEP_ACK_STATUS}, 3, "POST",
	 "/api/v2/cases/" CASE_ID "/status", "{\"data\":{\"type\":\"case\",\"attributes\":{\"status\":\"IN_PROGRESS\"}}}"},
	{CG_REQ_BULK_PRIORITY, "BulkUpdateCases", CG_ACT_ESCALATE, {CG_STEP_PRIORITY}, 2, "POST", "/api/v2/cases/bulk",
	 "{\"data\":{\"attributes\":{\"case_ids\":[\"" CASE_ID "\",\"" PREV_ID "\"],\"payload\":{\"priority\":\"P2\"},"
	 "\"type\":\"priority\"},\"type\":\"bulk\"}}"},
	{CG_REQ_GET_CASE, "GetCase", CG_ACT_COMMENT, {CG_STEP_COMMENT}, 3, "GET", "/api/v2/cases/" CASE_ID, NULL},
	{CG_REQ_SEARCH_MARKER, "SearchCases", CG_ACT_CREATE, {CG_STEP_CREATE}, 3, "GET",
	 "/api/v2/cases?filter=" MARKER "&page%5Bsize%5D=10", NULL},
	/* The attribute's key is percent-encoded like any query value. */
	{CG_REQ_SEARCH_ATTR, "SearchCases", CG_ACT_CREATE, {CG_STEP_CREATE}, 3, "GET",
	 "/api/v2/cases?filter=casegate%20ref%3A" MARKER "&page%5Bsize%5D=10", NULL},
	{CG_REQ_SEARCH_NEWEST, "SearchCases", CG_ACT_CREATE, {CG_STEP_CREATE}, 3, "GET",
	 "/api/v2/cases?page%5Bsize%5D=100&sort%5Bfield%5D=created_at&sort%5Basc%5D=false", NULL},
	{CG_REQ_PROJECTS, "GetProjects", CG_ACT_NONE, {0}, 3, "GET", "/api/v2/cases/projects", NULL},
	{CG_REQ_CASE_TYPE_ATTRS, "GetAllCustomAttributeConfigsByCaseType", CG_ACT_NONE, {0}, 3, "GET",
	 "/api/v2/cases/types/" TYPE_ID "/custom_attributes", NULL},
	{CG_REQ_PROBE, "GetProjects", CG_ACT_NONE, {0}, 3, "GET", "/api/v2/cases/projects", NULL},
};

static void ctx_for(const struct fixture *f, const struct want *w, struct cg_req_ctx *c, struct cg_store_case *cs)
{
	*cs = f->cs;
	if (w->action == CG_ACT_ARCHIVE)
		cs->state = CG_CASE_CLOSED; /* the sweep archives closed cases only */
	memset(c, 0, sizeof(*c));
	c->cs = cs;
	c->pl = &f->pl;
	c->dedup_key = "demo:disk";
	c->action = w->action;
	c->steps = w->steps;
	for (int i = 0; i < 4 && w->steps[i]; i++)
		c->index = i;
	c->prio_before = f->cs.priority;
	c->prio = w->prio;
	c->severity = "critical";
	c->now = NOW_MS;
	c->src = &f->cfg->sources[0];
	c->life = &f->cfg->sources[0];
	c->projects = &f->projects;
	c->marker_attr = "casegate ref";
	c->case_ids = ids2;
	c->ncase_ids = 2;
	c->case_type = TYPE_ID;
}

static const struct want *want_of(enum cg_req_kind k)
{
	for (size_t i = 0; i < sizeof(wants) / sizeof(wants[0]); i++)
		if (wants[i].kind == k)
			return &wants[i];
	return NULL;
}

static void test_every_row_built(void **state)
{
	struct fixture *f = *state;
	int failed = 0;
	for (int k = CG_REQ_NONE + 1; k < CG_REQ_MAX_; k++) {
		const struct want *w = want_of((enum cg_req_kind)k);
		const struct cg_req_row *row = cg_req_row((enum cg_req_kind)k);
		if (!w || !row) {
			print_error("request %d: no expectation or no row: every row needs one here\n", k);
			failed = 1;
			continue;
		}
		struct cg_req_ctx c;
		struct cg_store_case cs;
		struct cg_request rq;
		ctx_for(f, w, &c, &cs);
		int rc = cg_req_build((enum cg_req_kind)k, &c, &rq);
		if (rc != 0) {
			print_error("%s: build got %d, want 0\n", w->operation, rc);
			failed = 1;
			continue;
		}
		if (strcmp(row->method, w->method) != 0 || strcmp(rq.path, w->path) != 0) {
			print_error("%s: got %s %s, want %s %s\n", w->operation, row->method, rq.path, w->method, w->path);
			failed = 1;
		}
		if ((rq.body == NULL) != (w->body == NULL) || (rq.body && strcmp(rq.body, w->body) != 0)) {
			print_error("%s: body got\n  %s\nwant\n  %s\n", w->operation, rq.body ? rq.body : "(none)",
				    w->body ? w->body : "(none)");
			failed = 1;
		}
		if (rq.body && rq.body_len != strlen(rq.body))
			failed = 1;
		cg_request_cleanup(&rq);
	}
	assert_int_equal(failed, 0);
}

/* ---- each row's flags ---- */

static void test_row_flags(void **state)
{
	(void)state;
	assert_null(cg_req_row(CG_REQ_NONE));
	assert_null(cg_req_row(CG_REQ_MAX_));
	for (int k = CG_REQ_NONE + 1; k < CG_REQ_MAX_; k++) {
		const struct cg_req_row *r = cg_req_row((enum cg_req_kind)k);
		assert_non_null(r);
		assert_non_null(r->name);
		assert_non_null(r->method);
		assert_true(r->path && strncmp(r->path, "/api/v2/cases", 13) == 0);
		/* Only the create makes a case: the one request libcurl must never replay. */
		assert_int_equal(r->create, k == CG_REQ_CREATE);
		/* GETs have no body; the only POST without one adds a watcher. */
		if (strcmp(r->method, "GET") == 0 || k == CG_REQ_WATCH)
			assert_null(r->body);
		else
			assert_non_null(r->body);
	}
	/* Every step has its row, named as the step is in metrics and logs. */
	for (int s = CG_STEP_CREATE; s <= CG_STEP_ACK_STATUS; s++) {
		enum cg_req_kind k = cg_req_of_step((enum cg_step)s);
		const struct cg_req_row *r = cg_req_row(k);
		if (!r || r->step != (enum cg_step)s || strcmp(r->name, cg_step_name((enum cg_step)s)) != 0)
			print_error("step %s: got row %s, want one named after it\n", cg_step_name((enum cg_step)s),
				    r ? r->name : "(none)");
		assert_non_null(r);
		assert_int_equal(r->step, s);
		assert_string_equal(r->name, cg_step_name((enum cg_step)s));
		/* A 4xx skips labels and lifecycle actions; it dead-letters the case's own work and the
		 * archive the sweep asked for. */
		int optional = s == CG_STEP_ATTRS || (s >= CG_STEP_ASSIGN && s != CG_STEP_ARCHIVE);
		assert_int_equal(r->optional, optional);
	}
	assert_int_equal(cg_req_of_step((enum cg_step)0), CG_REQ_NONE);
	/* Rate-limit classes: each kind of request learns its own bucket. */
	assert_int_equal(cg_req_row(CG_REQ_CREATE)->rl, CG_RL_CREATE);
	assert_int_equal(cg_req_row(CG_REQ_COMMENT)->rl, CG_RL_WRITE);
	assert_int_equal(cg_req_row(CG_REQ_WATCH)->rl, CG_RL_WRITE);
	assert_int_equal(cg_req_row(CG_REQ_ARCHIVE)->rl, CG_RL_WRITE);
	assert_int_equal(cg_req_row(CG_REQ_BULK_PRIORITY)->rl, CG_RL_BULK);
	assert_int_equal(cg_req_row(CG_REQ_GET_CASE)->rl, CG_RL_READ);
	assert_int_equal(cg_req_row(CG_REQ_PROJECTS)->rl, CG_RL_READ);
	assert_int_equal(cg_req_row(CG_REQ_CASE_TYPE_ATTRS)->rl, CG_RL_READ);
	assert_int_equal(cg_req_row(CG_REQ_PROBE)->rl, CG_RL_READ);
	for (int k = CG_REQ_SEARCH_MARKER; k <= CG_REQ_SEARCH_NEWEST; k++) {
		assert_int_equal(cg_req_row((enum cg_req_kind)k)->rl, CG_RL_SEARCH);
		assert_string_equal(cg_req_row((enum cg_req_kind)k)->name, "search");
	}
	assert_string_equal(cg_req_row(CG_REQ_GET_CASE)->name, "refresh");
	assert_string_equal(cg_req_row(CG_REQ_BULK_PRIORITY)->name, "bulk");
}

/* ---- what the rows skip, and what they refuse to build ---- */

static void test_skips_and_errors(void **state)
{
	struct fixture *f = *state;
	struct cg_req_ctx c;
	struct cg_store_case cs;
	struct cg_request rq;

	/* An integration done once is not done again. */
	ctx_for(f, want_of(CG_REQ_JIRA), &c, &cs);
	cs.action_flags |= CG_CASE_JIRA;
	assert_int_equal(cg_req_build(CG_REQ_JIRA, &c, &rq), 1);
	/* A priority without jira: nothing to do. */
	ctx_for(f, want_of(CG_REQ_JIRA), &c, &cs);
	c.prio = 3;
	assert_int_equal(cg_req_build(CG_REQ_JIRA, &c, &rq), 1);
	/* An archive for a case that moved on (the sweep saw another one). */
	ctx_for(f, want_of(CG_REQ_ARCHIVE), &c, &cs);
	cs.case_id = (char *)PREV_ID;
	assert_int_equal(cg_req_build(CG_REQ_ARCHIVE, &c, &rq), 1);
	/* A source that is gone: its actions are the defaults (none). */
	ctx_for(f, want_of(CG_REQ_ASSIGN), &c, &cs);
	c.src = NULL;
	assert_int_equal(cg_req_build(CG_REQ_ASSIGN, &c, &rq), 1);

	/* A create whose project key is not resolved, or unknown to Datadog, is not built. */
	ctx_for(f, want_of(CG_REQ_CREATE), &c, &cs);
	struct cg_projects none = {0};
	c.projects = &none;
	assert_int_equal(cg_req_build(CG_REQ_CREATE, &c, &rq), CG_EAGAIN);
	none.loaded = 1;
	assert_int_equal(cg_req_build(CG_REQ_CREATE, &c, &rq), CG_ENOENT);
	assert_null(rq.path);

	/* After refusals: without custom attributes, then without assignee and status. */
	ctx_for(f, want_of(CG_REQ_CREATE), &c, &cs);
	assert_int_equal(cg_req_create_strip_next(f->pl.create, 0), 1);
	c.strip = 2;
	assert_int_equal(cg_req_build(CG_REQ_CREATE, &c, &rq), 0);
	assert_null(strstr(rq.body, "\"custom_attributes\""));
	assert_null(strstr(rq.body, "\"status_name\""));
	assert_non_null(strstr(rq.body, "storage")); /* kept in the description */
	assert_non_null(strstr(rq.body, "Triage"));
	cg_request_cleanup(&rq);
	/* The marker's custom attribute goes in only where the case type defines it as TEXT. */
	ctx_for(f, want_of(CG_REQ_CREATE), &c, &cs);
	struct cg_dd_ca_def def = {.key = "casegate ref", .type = CG_DD_CA_TEXT};
	struct cg_catype t = {.id = TYPE_ID, .known = 1, .defs = &def, .n = 1};
	c.catype = &t;
	assert_int_equal(cg_req_build(CG_REQ_CREATE, &c, &rq), 0);
	assert_non_null(strstr(rq.body, "\"casegate ref\":{\"type\":\"TEXT\",\"is_multi\":false,"
					"\"value\":\"cgf2e82b3e23673dc909749dcc3e3a4041\"}"));
	/* ... and what the known type does not define is left out (and counted). */
	assert_null(strstr(rq.body, "\"team\":{"));
	assert_int_equal(rq.dropped, 1);
	cg_request_cleanup(&rq);
}

/* ---- against Datadog's reference ---- */

/* 1 when METHOD path is an operation of the OpenAPI contract or of the API reference text. */
static int documented(const char *spec, const char *reference, const char *method, const char *path)
{
	char key[300];
	size_t n = strcspn(path, "?");
	snprintf(key, sizeof(key), "\n  %.*s:\n", (int)n, path);
	const char *p = spec ? strstr(spec, key) : NULL;
	if (p) {
		/* The path's operations follow, up to the next path. */
		char m[16];
		snprintf(m, sizeof(m), "\n    %s:", method);
		for (size_t i = 0; m[i]; i++)
			if (m[i] >= 'A' && m[i] <= 'Z')
				m[i] = (char)(m[i] - 'A' + 'a');
		const char *next = strstr(p + strlen(key), "\n  /");
		const char *op = strstr(p, m);
		if (op && (!next || op < next))
			return 1;
	}
	snprintf(key, sizeof(key), "%s https://api.datadoghq.com%.*s ", method, (int)n, path);
	return reference && strstr(reference, key) != NULL;
}

static void test_rows_documented(void **state)
{
	(void)state;
	const char *shared = cg_h_shared_dir();
	if (!shared)
		cg_h_skip("shared", "../shared (CG_SHARED_DIR) not found: rows not checked against the contract");
	char *spec_path = cg_h_fmt("%s/contracts/datadog-cases-openapi.yaml", shared);
	char *ref_path = cg_h_fmt("%s/seed/000_8f27d15e2a148076.txt", shared);
	char *spec = cg_h_read_file(spec_path, NULL);
	char *ref = cg_h_read_file(ref_path, NULL);
	if (!spec || !ref) {
		free(spec_path);
		free(ref_path);
		free(spec);
		free(ref);
		cg_h_skip("shared", "the OpenAPI contract or the API reference is missing from ../shared");
	}
	for (int k = CG_REQ_NONE + 1; k < CG_REQ_MAX_; k++) {
		const struct cg_req_row *r = cg_req_row((enum cg_req_kind)k);
		if (!documented(spec, ref, r->method, r->path))
			print_error("%s %s: in neither the OpenAPI contract nor the API reference\n", r->method, r->path);
		assert_true(documented(spec, ref, r->method, r->path));
	}
	/* The check itself: a path Datadog does not have is not documented. */
	assert_false(documented(spec, ref, "POST", "/api/v2/cases/{case_id}/nonsense"));
	assert_false(documented(spec, ref, "DELETE", "/api/v2/cases/{case_id}/comment"));
	free(spec_path);
	free(ref_path);
	free(spec);
	free(ref);
}

/* Every built request as casegate-sim logs one, validated by tests/contract/validate.py: bodies
 * against the schemas, query parameters, and the operation each path resolves to. */
static void test_contract(void **state)
{
	struct fixture *f = *state;
	char *dir = cg_h_tmpdir("reqtable");
	assert_non_null(dir);
	char *log = cg_h_fmt("%s/requests.jsonl", dir);
	FILE *fp = fopen(log, "w");
	assert_non_null(fp);
	for (size_t i = 0; i < sizeof(wants) / sizeof(wants[0]); i++) {
		const struct want *w = &wants[i];
		struct cg_req_ctx c;
		struct cg_store_case cs;
		struct cg_request rq;
		ctx_for(f, w, &c, &cs);
		assert_int_equal(cg_req_build(w->kind, &c, &rq), 0);
		cJSON *rec = cJSON_CreateObject();
		assert_non_null(rec);
		const char *q = strchr(rq.path, '?');
		char path[512];
		snprintf(path, sizeof(path), "%.*s", (int)(q ? (size_t)(q - rq.path) : strlen(rq.path)), rq.path);
		cJSON_AddStringToObject(rec, "method", rq.row->method);
		cJSON_AddStringToObject(rec, "path", path);
		if (q)
			cJSON_AddStringToObject(rec, "query", q + 1);
		/* The reference's operations the contract lacks are "not in contract" there (documented
		 * above); those in it must resolve to the operation named here. */
		cJSON_AddStringToObject(rec, "operation", w->operation);
		cJSON_AddNumberToObject(rec, "status", 200);
		if (rq.body)
			cJSON_AddItemToObject(rec, "body", cJSON_Parse(rq.body));
		char *line = cJSON_PrintUnformatted(rec);
		assert_non_null(line);
		fprintf(fp, "%s\n", line);
		cJSON_free(line);
		cJSON_Delete(rec);
		cg_request_cleanup(&rq);
	}
	fclose(fp);
	const char *args[] = {"--quiet", NULL};
	int rc = cg_h_validate_contract_args(log, args);
	cg_h_rmrf(dir);
	free(log);
	free(dir);
	if (rc == 77)
		cg_h_skip(NULL, "contract validator skipped (line above)");
	assert_int_equal(rc, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_row_flags),
		cmocka_unit_test(test_every_row_built),
		cmocka_unit_test(test_skips_and_errors),
		cmocka_unit_test(test_rows_documented),
		cmocka_unit_test(test_contract),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
