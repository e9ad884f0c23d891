/* test_cli_offline.c: the offline commands as a user runs them: `casegate map`, `mappers` and `version` (output shape, exit codes, bad input). */
/* labels: integration */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "harness.h"
#include "registry.h"


/* Runs the real casegate (cg_h_cli_run) with stdin from in_path (NULL: /dev/null). */
static struct cg_h_cli run_in(const char *dir, const char *in_path, const char *const args[])
{
	return cg_h_cli_run(dir, in_path, args);
}

static struct cg_h_cli run(const char *dir, const char *const args[])
{
	return run_in(dir, NULL, args);
}


/* `casegate version` and `--version`: one line "casegate X.Y.Z", nothing else, exit 0. */
static void test_version(void **state)
{
	const char *dir = *state;
	regex_t re;
	assert_int_equal(regcomp(&re, "^casegate [0-9]+\\.[0-9]+\\.[0-9]+\n$", REG_EXTENDED), 0);
	const char *const forms[][2] = {{"version", NULL}, {"--version", NULL}};
	for (size_t i = 0; i < 2; i++) {
		struct cg_h_cli r = run(dir, forms[i]);
		cg_h_cli_expect_code(&r, 0, forms[i][0]);
		if (regexec(&re, r.out, 0, NULL, 0) != 0)
			fail_msg("casegate %s: got stdout \"%s\", want one line \"casegate X.Y.Z\"", forms[i][0], r.out);
		if (r.err[0])
			fail_msg("casegate %s: got stderr \"%s\", want nothing", forms[i][0], r.err);
		cg_h_cli_free(&r);
	}
	regfree(&re);
}

/* `casegate mappers`: one line per registered source type, in the registry's order, each with its
 * description; exit 0. */
static void test_mappers(void **state)
{
	const char *dir = *state;
	struct cg_h_cli r = run(dir, (const char *const[]){"mappers", NULL});
	cg_h_cli_expect_code(&r, 0, "mappers");
	if (r.err[0])
		fail_msg("casegate mappers: got stderr \"%s\", want nothing", r.err);
	const char *line = r.out;
	size_t n = 0;
	for (const struct cg_mapper *const *m = cg_mapper_all(); *m; m++, n++) {
		const char *eol = strchr(line, '\n');
		if (!eol)
			fail_msg("casegate mappers: output ends before '%s':\n%s", (*m)->name, r.out);
		size_t nl = strlen((*m)->name);
		const char *desc = line + nl;
		while (*desc == ' ' && desc < eol)
			desc++;
		if (strncmp(line, (*m)->name, nl) != 0 || line[nl] != ' ' ||
		    (size_t)(eol - desc) != strlen((*m)->description) ||
		    strncmp(desc, (*m)->description, (size_t)(eol - desc)) != 0)
			fail_msg("casegate mappers line %zu: got \"%.*s\", want \"%s  %s\"", n + 1, (int)(eol - line), line,
				 (*m)->name, (*m)->description);
		line = eol + 1;
	}
	assert_true(n >= 15); /* every webhook source and email */
	if (*line)
		fail_msg("casegate mappers: got extra lines after the registry's %zu:\n%s", n, line);
	cg_h_cli_free(&r);
}

/* A command that takes nothing says so instead of ignoring what it was given. */
static void test_no_arguments_taken(void **state)
{
	const char *dir = *state;
	const char *const cases[][2] = {{"version", "extra"}, {"mappers", "--bogus"}, {"mappers", "generic"}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *args[] = {cases[i][0], cases[i][1], NULL};
		struct cg_h_cli r = run(dir, args);
		char what[64];
		snprintf(what, sizeof(what), "casegate %s %s", cases[i][0], cases[i][1]);
		cg_h_cli_expect_code(&r, 2, what);
		cg_h_expect_has(r.err, cases[i][1], what);
		cg_h_expect_has(r.err, "takes no arguments", what);
		if (r.out[0])
			fail_msg("%s: got stdout \"%s\", want nothing", what, r.out);
		cg_h_cli_free(&r);
	}
}

/* The config every map test uses (state_dir: %s/state); a literal, so the format is checked. */
#define CONFIG_TEXT \
	"listen: 127.0.0.1:0\n" \
	"state_dir: %s/state\n" \
	"datadog:\n  api_key: k\n  app_key: a\n" \
	"sources:\n" \
	"  - name: demo\n" \
	"    type: generic\n" \
	"    auth: none\n" \
	"    project: SEC\n" \
	"    case_type: 00000000-0000-0000-0000-000000000001\n" \
	"  - name: am\n" \
	"    type: alertmanager\n" \
	"    auth: none\n" \
	"    project: SEC\n" \
	"    case_type: 00000000-0000-0000-0000-000000000001\n" \
	"  - name: dd\n" \
	"    type: datadog_case_events\n" \
	"    auth: none\n"

static char *write_config(const char *dir)
{
	char *path = cg_h_fmt("%s/casegate.yaml", dir);
	char *text = cg_h_fmt(CONFIG_TEXT, dir);
	assert_int_equal(cg_h_write_file(path, text, strlen(text)), 0);
	free(text);
	return path;
}

static char *write_payload(const char *dir, const char *name, const char *text)
{
	char *path = cg_h_fmt("%s/%s", dir, name);
	assert_int_equal(cg_h_write_file(path, text, strlen(text)), 0);
	return path;
}

static const char *str_at(const cJSON *o, const char *a, const char *b, const char *c)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);
	if (b)
		v = cJSON_GetObjectItemCaseSensitive(v, b);
	if (c)
		v = cJSON_GetObjectItemCaseSensitive(v, c);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void expect_str(const cJSON *o, const char *a, const char *b, const char *c, const char *want)
{
	const char *got = str_at(o, a, b, c);
	if (!got || strcmp(got, want) != 0)
		fail_msg("map output %s%s%s%s%s: got %s, want %s", a, b ? "." : "", b ? b : "", c ? "." : "", c ? c : "",
			 got ? got : "(absent)", want);
}

/* One JSON object per line of out; n lines wanted. */
static cJSON **parse_lines(const char *out, size_t want)
{
	cJSON **v = calloc(want + 1, sizeof(*v));
	size_t n = 0;
	for (const char *p = out; *p;) {
		const char *eol = strchr(p, '\n');
		if (!eol)
			fail_msg("map output does not end its line: %s", p);
		if (n == want)
			fail_msg("map output: got more than %zu lines:\n%s", want, out);
		v[n] = cJSON_ParseWithLength(p, (size_t)(eol - p));
		if (!cJSON_IsObject(v[n]))
			fail_msg("map output line %zu is not a JSON object: %.*s", n + 1, (int)(eol - p), p);
		n++;
		p = eol + 1;
	}
	if (n != want)
		fail_msg("map output: got %zu lines, want %zu:\n%s", n, want, out);
	return v;
}

static void free_lines(cJSON **v)
{
	for (size_t i = 0; v[i]; i++)
		cJSON_Delete(v[i]);
	free(v);
}

/* `casegate map`: what a payload becomes, one JSON line per case event, the exact create request;
 * from a file, from stdin, and with no state written. */
static void test_map_output(void **state)
{
	const char *dir = *state;
	char *cfg = write_config(dir);
	char *firing = write_payload(dir, "firing.json",
				     "{\"title\":\"Disk full on db-1\",\"status\":\"firing\",\"dedup_key\":\"DiskFull/db-1\","
				     "\"severity\":\"critical\",\"labels\":{\"team\":\"storage\"}}");
	const char *const from_file[] = {"map", "-c", cfg, "--source", "demo", firing, NULL};
	const char *const from_dash[] = {"map", "-c", cfg, "--source", "demo", "-", NULL};
	const char *const from_stdin[] = {"map", "-c", cfg, "--source", "demo", NULL};
	const char *const inline_json[] = {"map", "-c", cfg, "--source", "demo",
					   "{\"title\":\"Disk full on db-1\",\"status\":\"firing\",\"dedup_key\":"
					   "\"DiskFull/db-1\",\"severity\":\"critical\",\"labels\":{\"team\":\"storage\"}}",
					   NULL};
	struct cg_h_cli r[4] = {run(dir, from_file), run_in(dir, firing, from_dash), run_in(dir, firing, from_stdin),
				run(dir, inline_json)};
	for (int i = 0; i < 4; i++) {
		cg_h_cli_expect_code(&r[i], 0, "map of a firing generic alert");
		if (strcmp(r[i].out, r[0].out) != 0)
			fail_msg("map from stdin differs from map of the file:\n%s\nvs\n%s", r[i].out, r[0].out);
	}
	cJSON **v = parse_lines(r[0].out, 1);
	expect_str(v[0], "source", NULL, NULL, "demo");
	expect_str(v[0], "dedup_key", NULL, NULL, "demo:DiskFull/db-1");
	expect_str(v[0], "status", NULL, NULL, "firing");
	expect_str(v[0], "priority", NULL, NULL, "P1");
	expect_str(v[0], "action", NULL, NULL, "create");
	expect_str(v[0], "request", "method", NULL, "POST");
	expect_str(v[0], "request", "path", NULL, "/api/v2/cases");
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(v[0], "request"), "body"), "data");
	expect_str(data, "type", NULL, NULL, "case");
	expect_str(data, "attributes", "title", NULL, "Disk full on db-1");
	expect_str(data, "attributes", "priority", NULL, "P1");
	expect_str(data, "attributes", "type_id", NULL, "00000000-0000-0000-0000-000000000001");
	const char *desc = str_at(data, "attributes", "description", NULL);
	assert_non_null(desc);
	cg_h_expect_has(desc, "casegate ref cg", "the create body's description (the idempotency marker)");
	const cJSON *proj =
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(data, "relationships"), "project");
	expect_str(proj, "data", "id", NULL, "SEC");
	/* Labels go in a second request once the case exists. */
	expect_str(v[0], "then", "method", NULL, "POST");
	expect_str(v[0], "then", "path", NULL, "/api/v2/cases/{case_id}/attributes");
	assert_non_null(strstr(r[0].out, "\"team\":[\"storage\"]"));
	free_lines(v);
	for (int i = 0; i < 4; i++)
		cg_h_cli_free(&r[i]);

	/* No state: not even the state directory is created. */
	char *state_dir = cg_h_fmt("%s/state", dir);
	struct stat sb;
	if (stat(state_dir, &sb) == 0)
		fail_msg("casegate map created %s: want no state touched", state_dir);
	free(state_dir);

	/* A resolution on empty state is ignored: no request. */
	char *resolved = write_payload(dir, "resolved.json",
				       "{\"title\":\"Disk full on db-1\",\"status\":\"resolved\",\"dedup_key\":\"DiskFull/db-1\"}");
	struct cg_h_cli rr = run(dir, (const char *const[]){"map", "-c", cfg, "--source", "demo", resolved, NULL});
	cg_h_cli_expect_code(&rr, 0, "map of a resolution");
	v = parse_lines(rr.out, 1);
	expect_str(v[0], "status", NULL, NULL, "resolved");
	expect_str(v[0], "action", NULL, NULL, "ignore");
	assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(v[0], "request")));
	free_lines(v);
	cg_h_cli_free(&rr);

	/* One line per case event: an Alertmanager group of two alerts is two lines. */
	char *am = cg_h_fmt("%s/tests/fixtures/alertmanager/many_alerts.json", cg_h_source_dir());
	struct cg_h_cli ra = run(dir, (const char *const[]){"map", "-c", cfg, "--source", "am", am, NULL});
	cg_h_cli_expect_code(&ra, 0, "map of an Alertmanager group");
	char *text = cg_h_read_file(am, NULL);
	cJSON *doc = cJSON_Parse(text);
	size_t alerts = (size_t)cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "alerts"));
	assert_true(alerts >= 2);
	v = parse_lines(ra.out, alerts);
	for (size_t i = 0; i < alerts; i++)
		expect_str(v[i], "source", NULL, NULL, "am");
	free_lines(v);
	cJSON_Delete(doc);
	free(text);
	cg_h_cli_free(&ra);
	free(am);
	free(resolved);
	free(firing);
	free(cfg);
}

/* Bad input to map: a clear message on stderr, nothing on stdout, the exit code the usage says. */
static void test_map_errors(void **state)
{
	const char *dir = *state;
	char *cfg = write_config(dir);
	char *good = write_payload(dir, "good.json", "{\"title\":\"t\",\"status\":\"firing\",\"dedup_key\":\"k\"}");
	char *bad = write_payload(dir, "bad.json", "{\"title\": \"t\", oops}");
	char *shape = write_payload(dir, "shape.json", "{\"receiver\":\"x\"}");
	char *missing = cg_h_fmt("%s/no-such.json", dir);
	struct {
		const char *args[9];
		int code;
		const char *err;
	} cases[] = {
	    {{"map", "-c", cfg, good, NULL}, 2, "--source NAME is required"},
	    {{"map", "--source", "demo", good, NULL}, 2, "-c FILE is required"},
	    {{"map", "-c", cfg, "--source", "demo", "--bogus", good, NULL}, 2, "unknown option --bogus"},
	    {{"map", "-c", cfg, "--source", "nope", good, NULL}, 1, "no source named 'nope'"},
	    {{"map", "-c", cfg, "--source", "demo", bad, NULL}, 1, "invalid JSON near byte 16"},
	    {{"map", "-c", cfg, "--source", "demo", missing, NULL}, 1, "cannot open"},
	    {{"map", "-c", cfg, "--source", "am", shape, NULL}, 1, "alertmanager payload not understood"},
	    {{"map", "-c", cfg, "--source", "dd", good, NULL}, 1, "takes Datadog's case events, not alerts"},
	    {{"map", "-c", missing, "--source", "demo", good, NULL}, 1, "cannot read"},
	    {{"map", "-c", cfg, "--source", "demo", good, bad, NULL}, 2, "one PAYLOAD file (or -), got 2"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cg_h_cli r = run(dir, cases[i].args);
		char what[80];
		snprintf(what, sizeof(what), "map error case %zu (%s)", i, cases[i].err);
		cg_h_cli_expect_code(&r, cases[i].code, what);
		cg_h_expect_has(r.err, cases[i].err, what);
		if (r.out[0])
			fail_msg("%s: got stdout \"%s\", want nothing", what, r.out);
		cg_h_cli_free(&r);
	}
	free(missing);
	free(shape);
	free(bad);
	free(good);
	free(cfg);
}

/* The paging APIs' mappers through `casegate map`: PagerDuty's documented trigger opens a case at the
 * priority its severity maps to, its acknowledge is a comment (nothing to land on in empty state),
 * Opsgenie's documented create keeps its alias, and a body PagerDuty would refuse is refused with
 * PagerDuty's words. */
static void test_map_paging(void **state)
{
	const char *dir = *state;
	char *cfg = cg_h_fmt("%s/paging.yaml", dir);
	char *text = cg_h_fmt("listen: 127.0.0.1:0\n"
			      "state_dir: %s/state\n"
			      "datadog:\n  api_key: k\n  app_key: a\n"
			      "sources:\n"
			      "  - name: pd\n    type: pagerduty_events\n    routing_key: 0a1b2c3d4e5f60718293a4b5c6d7e8f9\n"
			      "    project: SEC\n"
			      "    case_type: 00000000-0000-0000-0000-000000000001\n"
			      "  - name: og\n    type: opsgenie_alerts\n    genie_key: eb243592-faa2-4ba2-a551-1afdf565c889\n"
			      "    project: SEC\n"
			      "    case_type: 00000000-0000-0000-0000-000000000001\n",
			      dir);
	assert_int_equal(cg_h_write_file(cfg, text, strlen(text)), 0);
	free(text);
	char *trigger = cg_h_fmt("%s/tests/fixtures/pagerduty_events/docs_trigger.json", cg_h_source_dir());
	char *ack = cg_h_fmt("%s/tests/fixtures/pagerduty_events/docs_acknowledge.json", cg_h_source_dir());
	char *bad = cg_h_fmt("%s/tests/fixtures/pagerduty_events/bad_no_summary.json", cg_h_source_dir());
	char *create = cg_h_fmt("%s/tests/fixtures/opsgenie_alerts/docs_create.json", cg_h_source_dir());

	struct cg_h_cli r = run(dir, (const char *const[]){"map", "-c", cfg, "--source", "pd", trigger, NULL});
	cg_h_cli_expect_code(&r, 0, "map of PagerDuty's documented trigger");
	cJSON **v = parse_lines(r.out, 1);
	expect_str(v[0], "dedup_key", NULL, NULL, "pd:samplekeyhere");
	expect_str(v[0], "status", NULL, NULL, "firing");
	expect_str(v[0], "priority", NULL, NULL, "P4"); /* severity info */
	expect_str(v[0], "action", NULL, NULL, "create");
	if (strstr(r.out, "routing_key"))
		fail_msg("map output carries routing_key:\n%s", r.out);
	free_lines(v);
	cg_h_cli_free(&r);

	r = run(dir, (const char *const[]){"map", "-c", cfg, "--source", "pd", ack, NULL});
	cg_h_cli_expect_code(&r, 0, "map of PagerDuty's documented acknowledge");
	v = parse_lines(r.out, 1);
	expect_str(v[0], "dedup_key", NULL, NULL, "pd:dedupkeyhere");
	expect_str(v[0], "status", NULL, NULL, "comment");
	expect_str(v[0], "action", NULL, NULL, "ignore");
	free_lines(v);
	cg_h_cli_free(&r);

	r = run(dir, (const char *const[]){"map", "-c", cfg, "--source", "og", create, NULL});
	cg_h_cli_expect_code(&r, 0, "map of Opsgenie's documented create");
	v = parse_lines(r.out, 1);
	expect_str(v[0], "dedup_key", NULL, NULL, "og:Life is too short for no alias");
	expect_str(v[0], "priority", NULL, NULL, "P1");
	expect_str(v[0], "action", NULL, NULL, "create");
	free_lines(v);
	cg_h_cli_free(&r);

	/* The request body as a sender posts it (no envelope) is a create, as POST /v2/alerts takes it. */
	r = run(dir, (const char *const[]){"map", "-c", cfg, "--source", "og",
					    "{\"message\":\"Disk full on db-1\",\"alias\":\"db-1/disk\",\"priority\":\"P2\"}",
					    NULL});
	cg_h_cli_expect_code(&r, 0, "map of a plain Opsgenie create body");
	v = parse_lines(r.out, 1);
	expect_str(v[0], "dedup_key", NULL, NULL, "og:db-1/disk");
	expect_str(v[0], "priority", NULL, NULL, "P2");
	expect_str(v[0], "action", NULL, NULL, "create");
	free_lines(v);
	cg_h_cli_free(&r);

	r = run(dir, (const char *const[]){"map", "-c", cfg, "--source", "pd", bad, NULL});
	cg_h_cli_expect_code(&r, 1, "map of a trigger without summary");
	cg_h_expect_has(r.err, "'payload.summary' is missing or blank", "map's error for a trigger without summary");
	if (r.out[0])
		fail_msg("map of a refused body: got stdout \"%s\", want nothing", r.out);
	cg_h_cli_free(&r);
	free(create);
	free(bad);
	free(ack);
	free(trigger);
	free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_version, cg_h_dir_setup, cg_h_dir_teardown),
	    cmocka_unit_test_setup_teardown(test_mappers, cg_h_dir_setup, cg_h_dir_teardown),
	    cmocka_unit_test_setup_teardown(test_no_arguments_taken, cg_h_dir_setup, cg_h_dir_teardown),
	    cmocka_unit_test_setup_teardown(test_map_output, cg_h_dir_setup, cg_h_dir_teardown),
	    cmocka_unit_test_setup_teardown(test_map_errors, cg_h_dir_setup, cg_h_dir_teardown),
	    cmocka_unit_test_setup_teardown(test_map_paging, cg_h_dir_setup, cg_h_dir_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
