/* test_provision.c: casegate provision plan/apply/apply against the simulator (the second apply
 * changes nothing), updates and casegate-owned deletions, prune, Datadog errors, and
 * casegate maintenance start|end. */
/* labels: integration */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <sys/wait.h>

#include "itest.h"

static const char *sources = "  - name: sec\n"
			     "    type: generic\n"
			     "    auth: { bearer: tok }\n"
			     "    project: SEC\n"
			     "    case_type: 00000000-0000-0000-0000-000000000001\n"
			     "    title: \"{{labels.alertname}}\"\n"
			     "    dedup_key: \"{{labels.alertname}}\"\n";

static const char *provision_v1 =
	"provision:\n"
	"  projects:\n"
	"    - key: SEC\n"
	"      name: Security\n"
	"      notification_rules:\n"
	"        - query: \"priority:P1\"\n"
	"          triggers: [{ type: CASE_CREATED }]\n"
	"          recipients: [{ type: EMAIL, data: { email: \"oncall@example.com\" } }]\n"
	"      automation_rules:\n"
	"        - name: Page on P1\n"
	"          trigger: { type: case_created }\n"
	"          action: { type: execute_workflow, data: { handle: page-oncall } }\n"
	"        - name: Triage\n"
	"          enabled: false\n"
	"          trigger: { type: case_created }\n"
	"          action: { type: execute_workflow, data: { handle: triage } }\n"
	"      views:\n"
	"        - name: Open P1\n"
	"          query: \"status:open priority:P1\"\n"
	"    - key: DEMO\n"
	"      name: Demo\n"
	"  maintenance_windows:\n"
	"    - name: Weekly\n"
	"      query: \"project:SEC\"\n"
	"      start: \"2030-06-01T00:00:00Z\"\n"
	"      end: \"2030-06-01T06:00:00Z\"\n";

/* v1 with: the project renamed, the view's query changed, the Triage rule removed. */
static const char *provision_v2 =
	"provision:\n"
	"  projects:\n"
	"    - key: SEC\n"
	"      name: Security Operations\n"
	"      notification_rules:\n"
	"        - query: \"priority:P1\"\n"
	"          triggers: [{ type: CASE_CREATED }]\n"
	"          recipients: [{ type: EMAIL, data: { email: \"oncall@example.com\" } }]\n"
	"      automation_rules:\n"
	"        - name: Page on P1\n"
	"          trigger: { type: case_created }\n"
	"          action: { type: execute_workflow, data: { handle: page-oncall } }\n"
	"      views:\n"
	"        - name: Open P1\n"
	"          query: \"status:open priority:(P1 OR P2)\"\n"
	"    - key: DEMO\n"
	"      name: Demo\n"
	"  maintenance_windows:\n"
	"    - name: Weekly\n"
	"      query: \"project:SEC\"\n"
	"      start: \"2030-06-01T00:00:00Z\"\n"
	"      end: \"2030-06-01T06:00:00Z\"\n";

static int setup(void **state)
{
	return itest_state_with_sim(state, "cg-prov");
}

static int teardown(void **state)
{
	return itest_state_free(state);
}

static int exited(void *ud)
{
	return !cg_h_alive(ud);
}

/* Runs casegate with args (after the command and -c/--datadog-url); returns the exit code and
 * the combined output in *out. */
static int run(struct itest *t, const char *cmd, const char *const args[], char **out)
{
	static int n;
	char bin[512], log[600];
	snprintf(bin, sizeof(bin), "%s/casegate", cg_h_binary_dir());
	snprintf(log, sizeof(log), "%s/cli.%d.log", t->dir, n++);
	char *argv[16];
	size_t k = 0;
	argv[k++] = bin;
	argv[k++] = (char *)cmd;
	for (size_t i = 0; args[i] && k < 10; i++)
		argv[k++] = (char *)args[i];
	argv[k++] = (char *)"-c";
	argv[k++] = t->cfg_path;
	argv[k++] = (char *)"--datadog-url";
	argv[k++] = t->sim_url;
	argv[k] = NULL;
	struct cg_h_proc p;
	if (cg_h_spawn(&p, argv, NULL, log) != 0)
		return -1;
	if (!cg_h_poll(exited, &p, 20000))
		cg_h_stop(&p, SIGKILL);
	*out = cg_h_read_file(log, NULL);
	if (!*out)
		*out = strdup("");
	int code = WIFEXITED(p.wstatus) ? WEXITSTATUS(p.wstatus) : -1;
	if (strstr(*out, "test-api-key") || strstr(*out, "test-app-key")) {
		fprintf(stderr, "a Datadog key appeared in the output:\n%s\n", *out);
		fail();
	}
	return code;
}

static void expect(const char *out, const char *needle, int present)
{
	if ((strstr(out, needle) != NULL) != present)
		fprintf(stderr, "output %s '%s'; got:\n%s\n", present ? "lacks" : "has", needle, out);
	assert_true((strstr(out, needle) != NULL) == present);
}

static void provision(struct itest *t, const char *mode, int want_code, char **out)
{
	const char *args[] = {mode, NULL};
	int code = run(t, "provision", args, out);
	if (code != want_code)
		fprintf(stderr, "provision %s: got exit %d, want %d; output:\n%s\n", mode, code, want_code, *out);
	assert_int_equal(code, want_code);
}

static cJSON *extra(struct itest *t)
{
	char url[128];
	snprintf(url, sizeof(url), "%s/_sim/extra", t->sim_url);
	return cg_h_get_json(url);
}

static int count_named(const cJSON *arr, const char *name)
{
	int n = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, arr)
	{
		const char *nm = cJSON_GetStringValue(
			cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(it, "attributes"), "name"));
		n += nm && strcmp(nm, name) == 0;
	}
	return n;
}

static double writes(struct itest *t)
{
	char url[128];
	snprintf(url, sizeof(url), "%s/_sim/stats", t->sim_url);
	cJSON *st = cg_h_get_json(url);
	double n = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(st, "by_operation"))
	{
		if (strncmp(it->string, "Get", 3) != 0 && strncmp(it->string, "List", 4) != 0)
			n += it->valuedouble;
	}
	cJSON_Delete(st);
	return n;
}

static char *sec_id(struct itest *t)
{
	char url[128];
	snprintf(url, sizeof(url), "%s/api/v2/cases/projects", t->sim_url);
	const char *h[] = {"DD-API-KEY: k", "DD-APPLICATION-KEY: k", NULL};
	struct cg_h_resp r;
	char *id = NULL;
	if (cg_h_http("GET", url, h, NULL, 0, &r) == 0 && r.body) {
		cJSON *doc = cJSON_Parse(r.body);
		const cJSON *p;
		cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(doc, "data"))
		{
			const char *key = cJSON_GetStringValue(
				cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(p, "attributes"), "key"));
			if (key && strcmp(key, "SEC") == 0)
				id = strdup(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "id")));
		}
		cJSON_Delete(doc);
	}
	cg_h_resp_free(&r);
	return id;
}

/* Plan, apply, apply: the second apply finds nothing to do; the daemon then resolves project SEC. */
static void test_plan_apply_apply(void **state)
{
	struct itest *t = *state;
	char *out;
	assert_int_equal(itest_write_config(t, provision_v1, sources), 0);
	provision(t, "--plan", 0, &out);
	expect(out, "+ project SEC (Security)", 1);
	expect(out, "+ notification_rule SEC #1", 1);
	expect(out, "+ automation_rule SEC \"Page on P1\"", 1);
	expect(out, "+ automation_rule SEC \"Triage\"", 1);
	expect(out, "+ view SEC \"Open P1\"", 1);
	expect(out, "+ maintenance_window \"Weekly\"", 1);
	expect(out, "project DEMO", 0); /* exists with that name */
	expect(out, "Plan: 6 to create, 0 to update, 0 to delete.", 1);
	free(out);
	char *id = sec_id(t);
	assert_null(id); /* a plan changes nothing */

	provision(t, "--apply", 0, &out);
	expect(out, "created project SEC", 1);
	expect(out, "created view SEC \"Open P1\"", 1);
	free(out);
	cJSON *x = extra(t);
	assert_int_equal(count_named(cJSON_GetObjectItemCaseSensitive(x, "automation_rules"), "Page on P1 [casegate]"), 1);
	assert_int_equal(count_named(cJSON_GetObjectItemCaseSensitive(x, "views"), "Open P1 [casegate]"), 1);
	assert_int_equal(count_named(cJSON_GetObjectItemCaseSensitive(x, "maintenance_windows"), "Weekly [casegate]"), 1);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(x, "notification_rules")), 1);
	cJSON_Delete(x);

	double before = writes(t);
	provision(t, "--apply", 0, &out);
	expect(out, "No changes.", 1);
	free(out);
	if (writes(t) != before)
		fprintf(stderr, "second apply: got %.0f writes, want 0\n", writes(t) - before);
	assert_true(writes(t) == before);

	/* The daemon resolves the key of the project provisioning created. */
	assert_int_equal(itest_start_gw(t), 0);
	char *resp = NULL;
	long st = itest_post(t, "sec", "tok", "{\"status\":\"firing\",\"labels\":{\"alertname\":\"Intrusion\"}}", &resp);
	free(resp);
	assert_int_equal(st, 202);
	struct itest_wait w = {t, 1};
	assert_true(cg_h_poll(itest_has_ncases, &w, 15000));
	cJSON *cases = itest_cases(t);
	const char *key = itest_case_attr(itest_find_case(cases, "Intrusion"), "key");
	if (!key || strncmp(key, "SEC-", 4) != 0)
		fprintf(stderr, "case key: got %s, want SEC-n\n", key ? key : "(none)");
	assert_true(key && strncmp(key, "SEC-", 4) == 0);
	cJSON_Delete(cases);
	cg_h_stop(&t->gw, SIGTERM);
	t->gw_running = 0;
}

/* A changed config: updates, and casegate's own resources that are no longer declared go. */
static void test_update_and_owned_delete(void **state)
{
	struct itest *t = *state;
	char *out;
	assert_int_equal(itest_write_config(t, provision_v2, sources), 0);
	provision(t, "--plan", 0, &out);
	expect(out, "~ project SEC: name \"Security\" -> \"Security Operations\"", 1);
	expect(out, "~ view SEC \"Open P1\"", 1);
	expect(out, "- automation_rule SEC \"Triage [casegate]\"", 1);
	expect(out, "Plan: 0 to create, 2 to update, 1 to delete.", 1);
	free(out);
	provision(t, "--apply", 0, &out);
	free(out);
	provision(t, "--plan", 0, &out);
	expect(out, "No changes.", 1);
	free(out);
	cJSON *x = extra(t);
	assert_int_equal(count_named(cJSON_GetObjectItemCaseSensitive(x, "automation_rules"), "Triage [casegate]"), 0);
	cJSON_Delete(x);
}

static long sim_post(struct itest *t, const char *path, const char *body)
{
	char url[300];
	snprintf(url, sizeof(url), "%s%s", t->sim_url, path);
	const char *h[] = {"DD-API-KEY: k", "DD-APPLICATION-KEY: k", "Content-Type: application/json", NULL};
	struct cg_h_resp r;
	if (cg_h_http("POST", url, h, body, strlen(body), &r) != 0)
		return 0;
	long st = r.status;
	cg_h_resp_free(&r);
	return st;
}

/* Resources casegate does not own stay, unless prune: true. */
static void test_prune(void **state)
{
	struct itest *t = *state;
	char *out, *id = sec_id(t);
	assert_non_null(id);
	char *p1 = cg_h_fmt("/api/v2/cases/projects/%s/rules", id);
	char *p2 = cg_h_fmt("/api/v2/cases/projects/%s/notification_rules", id);
	assert_int_equal(sim_post(t, p1, "{\"data\":{\"type\":\"rule\",\"attributes\":{\"name\":\"Manual rule\","
					 "\"trigger\":{\"type\":\"case_created\"},\"action\":{\"type\":\"execute_workflow\","
					 "\"data\":{\"handle\":\"x\"}}}}}"),
			 201);
	assert_int_equal(sim_post(t, p2, "{\"data\":{\"type\":\"notification_rule\",\"attributes\":{\"query\":\"manual\","
					 "\"triggers\":[{\"type\":\"CASE_CREATED\"}],\"recipients\":[{\"type\":\"EMAIL\","
					 "\"data\":{\"email\":\"a@example.com\"}}]}}}"),
			 201);
	free(p1);
	free(p2);
	free(id);
	provision(t, "--plan", 0, &out);
	expect(out, "No changes.", 1);
	free(out);

	char *pruned = cg_h_fmt("%s", provision_v2);
	char *cfg = cg_h_fmt("provision:\n  prune: true\n%s", pruned + strlen("provision:\n"));
	free(pruned);
	assert_int_equal(itest_write_config(t, cfg, sources), 0);
	free(cfg);
	provision(t, "--plan", 0, &out);
	expect(out, "- automation_rule SEC \"Manual rule\" (prune)", 1);
	expect(out, "- notification_rule SEC ", 1);
	expect(out, "Plan: 0 to create, 0 to update, 2 to delete.", 1);
	free(out);
	provision(t, "--apply", 0, &out);
	free(out);
	cJSON *x = extra(t);
	assert_int_equal(count_named(cJSON_GetObjectItemCaseSensitive(x, "automation_rules"), "Manual rule"), 0);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(x, "notification_rules")), 1);
	cJSON_Delete(x);
	provision(t, "--apply", 0, &out);
	expect(out, "No changes.", 1);
	free(out);
}

/* Datadog refuses a resource: the error names it; the others are applied. */
static void test_datadog_error(void **state)
{
	struct itest *t = *state;
	char *out;
	char *cfg = cg_h_fmt("provision:\n"
			     "  projects:\n"
			     "    - key: OPS\n"
			     "      name: Operations\n"
			     "      automation_rules:\n"
			     "        - name: Broken\n"
			     "          trigger: { type: when_it_rains }\n"
			     "          action: { type: execute_workflow, data: { handle: x } }\n"
			     "      views:\n"
			     "        - name: All\n"
			     "          query: \"*\"\n");
	assert_int_equal(itest_write_config(t, cfg, sources), 0);
	free(cfg);
	provision(t, "--apply", 1, &out);
	expect(out, "error: creating automation_rule OPS \"Broken\": HTTP 400", 1);
	expect(out, "created view OPS \"All\"", 1);
	/* casegate's window, no longer declared, went too. */
	expect(out, "deleted maintenance_window \"Weekly [casegate]\"", 1);
	free(out);
	/* A config error is reported with its line, before anything is sent. */
	cfg = cg_h_fmt("provision:\n  projects:\n    - key: ops\n      name: x\n      colour: red\n");
	assert_int_equal(itest_write_config(t, cfg, sources), 0);
	free(cfg);
	provision(t, "--plan", 1, &out);
	expect(out, ":13: provision: project: unknown key 'colour'", 1);
	expect(out, "project key 'ops'", 1);
	free(out);
}


/* case_types: the marker attribute is created once; Datadog's enum cases are sent whatever the file
 * says; a tight rate limit is waited out (429s), not failed. */
static void test_case_types_enums_429(void **state)
{
	struct itest *t = *state;
	char *out;
	char *cfg = cg_h_fmt("provision:\n"
			     "  case_types:\n"
			     "    - id: 00000000-0000-0000-0000-000000000001\n"
			     "      custom_attributes:\n"
			     "        - { key: casegate_ref, type: TEXT, display_name: casegate reference }\n"
			     "  projects:\n"
			     "    - key: ENUM\n"
			     "      name: Enums\n"
			     "      notification_rules:\n"
			     "        - { query: \"\", triggers: [{type: status_transitioned}], recipients: [{type: http, data: "
			     "{name: casegate-case-events}}] }\n"
			     "      automation_rules:\n"
			     "        - name: Upper in the file\n"
			     "          trigger: { type: CASE_CREATED }\n"
			     "          action: { type: EXECUTE_WORKFLOW, data: { handle: page-oncall } }\n");
	assert_int_equal(itest_write_config(t, cfg, sources), 0);
	free(cfg);
	/* Three requests a second: the plan and the apply need more; 429s are waited out. */
	assert_int_equal(itest_sim_post(t, "/_sim/faults", "{\"rate_limit\":3,\"rate_period\":1}"), 200);
	double r429 = itest_sim_stat(t, "rejected_429");
	provision(t, "--plan", 0, &out);
	expect(out, "+ custom_attribute casegate_ref on 00000000-0000-0000-0000-000000000001", 1);
	free(out);
	provision(t, "--apply", 0, &out);
	expect(out, "created custom_attribute casegate_ref", 1);
	expect(out, "created notification_rule ENUM", 1);
	expect(out, "created automation_rule ENUM", 1);
	free(out);
	provision(t, "--plan", 0, &out);
	expect(out, "No changes.", 1);
	free(out);
	double got429 = itest_sim_stat(t, "rejected_429") - r429;
	assert_int_equal(itest_sim_post(t, "/_sim/faults", "{\"rate_limit\":0}"), 200);
	if (got429 < 1)
		fail_msg("429 answers during provisioning: got %.0f, want >= 1 (the limit must have been hit)", got429);
	/* The type has the attribute, as TEXT. */
	char url[256];
	snprintf(url, sizeof(url), "%s/api/v2/cases/types/00000000-0000-0000-0000-000000000001/custom_attributes",
		 t->sim_url);
	const char *h[] = {"DD-API-KEY: k", "DD-APPLICATION-KEY: k", NULL};
	struct cg_h_resp r;
	assert_int_equal(cg_h_http("GET", url, h, NULL, 0, &r), 0);
	assert_non_null(strstr(r.body, "\"key\":\"casegate_ref\""));
	assert_non_null(strstr(r.body, "\"type\":\"TEXT\""));
	cg_h_resp_free(&r);
	/* An existing attribute of another type is an error to settle by hand, never changed. */
	cfg = cg_h_fmt("provision:\n"
		       "  case_types:\n"
		       "    - id: 00000000-0000-0000-0000-000000000001\n"
		       "      custom_attributes:\n"
		       "        - { key: casegate_ref, type: NUMBER }\n");
	assert_int_equal(itest_write_config(t, cfg, sources), 0);
	free(cfg);
	provision(t, "--plan", 1, &out);
	expect(out, "casegate_ref is TEXT in Datadog, declared NUMBER", 1);
	free(out);
}

/* casegate maintenance start|end for deploy scripts. */
static void test_maintenance(void **state)
{
	struct itest *t = *state;
	char *out;
	assert_int_equal(itest_write_config(t, provision_v2, sources), 0);
	provision(t, "--apply", 0, &out); /* test_datadog_error's config had no windows: Weekly went */
	expect(out, "created maintenance_window \"Weekly\"", 1);
	free(out);
	const char *start[] = {"start", "--project", "SEC", "--duration", "2h", NULL};
	assert_int_equal(run(t, "maintenance", start, &out), 0);
	expect(out, "for project SEC", 1);
	free(out);
	cJSON *x = extra(t);
	const cJSON *w, *mine = NULL;
	cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(x, "maintenance_windows"))
	{
		const cJSON *a = cJSON_GetObjectItemCaseSensitive(w, "attributes");
		if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "name")), "maintenance SEC [casegate]") == 0)
			mine = a;
	}
	assert_non_null(mine);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(mine, "query")), "project:SEC");
	char *end_before = strdup(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(mine, "end_at")));
	cJSON_Delete(x);
	/* The declared config does not own a CLI window: provisioning leaves it. */
	provision(t, "--plan", 0, &out);
	expect(out, "No changes.", 1);
	free(out);
	const char *end[] = {"end", "--project", "SEC", NULL};
	assert_int_equal(run(t, "maintenance", end, &out), 0);
	expect(out, "ended at", 1);
	free(out);
	x = extra(t);
	cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(x, "maintenance_windows"))
	{
		const cJSON *a = cJSON_GetObjectItemCaseSensitive(w, "attributes");
		if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "name")), "maintenance SEC [casegate]") == 0) {
			const char *now_end = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "end_at"));
			if (strcmp(now_end, end_before) >= 0)
				fprintf(stderr, "end_at: got %s, want before %s\n", now_end, end_before);
			assert_true(strcmp(now_end, end_before) < 0);
		}
	}
	cJSON_Delete(x);
	free(end_before);
	assert_int_equal(run(t, "maintenance", end, &out), 0);
	expect(out, "no open maintenance window for project SEC", 1);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan_apply_apply), cmocka_unit_test(test_update_and_owned_delete),
		cmocka_unit_test(test_prune),		 cmocka_unit_test(test_datadog_error),
		cmocka_unit_test(test_maintenance),	 cmocka_unit_test(test_case_types_enums_429),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
