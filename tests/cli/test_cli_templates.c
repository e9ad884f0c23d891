/* test_cli_templates.c: the real binary on templates: check-config names each syntax error at file:line:col, map warns
 * about what the payload lacks and refuses a dedup key with nothing of the alert. */
/* labels: integration */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* Line 9 of every config is the source's `title:`, its value at column 12. */
static char *write_config(const char *dir, const char *name, const char *rest)
{
	char *path = cg_h_fmt("%s/%s", dir, name);
	char *text = cg_h_fmt("listen: 127.0.0.1:0\n"
	                      "state_dir: %s/state\n"
	                      "sources:\n"
	                      "  - name: demo\n"
	                      "    type: generic\n"
	                      "    auth: none\n"
	                      "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
	                      "    case_type: 00000000-0000-0000-0000-000000000001\n"
	                      "%s",
	                      dir, rest);
	assert_int_equal(cg_h_write_file(path, text, strlen(text)), 0);
	free(text);
	return path;
}

/* Each kind of template error: check-config exits 1 with exactly "file:line:col: what" per error. */
static void test_check_config_names_each_error(void **state)
{
	const char *dir = *state;
	static const struct {
		const char *yaml; /* from line 9 on */
		const char *want; /* stderr after "<file>:"; '@' in it stands for the file */
	} cases[] = {
	    /* The example: one '}' short, it rendered nothing (the title fell back to "demo alert"). */
	    {"    title: \"{{labels.alertname} on {{labels.instance}}\"\n",
	     "9:12: source 'demo': title: bad template: line 1, col 1: unclosed tag: '{{' has no '}}' before the next "
	     "'{{' (line 1, col 24)\n"},
	    {"    title: \"on {{labels.instance\"\n",
	     "9:12: source 'demo': title: bad template: line 1, col 4: unclosed tag: '{{' has no '}}' after it\n"},
	    {"    title: \"{{#labels}}{{alertname}}\"\n", "9:12: source 'demo': title: bad template: line 1, col 1: "
	                                                  "unclosed section 'labels' (no '{{/labels}}' after "
	                                                  "it)\n"},
	    {"    title: \"{{#a}}x{{/b}}\"\n",
	     "9:12: source 'demo': title: bad template: line 1, col 8: close tag 'b' does not match open section 'a' "
	     "(line 1, col 1)\n"},
	    {"    title: \"x{{/a}}\"\n",
	     "9:12: source 'demo': title: bad template: line 1, col 2: close tag 'a' without an open section\n"},
	    {"    title: \"a {{ }} b\"\n",
	     "9:12: source 'demo': title: bad template: line 1, col 3: empty tag: no name between '{{' and '}}'\n"},
	    {"    title: \"{{=<%=}}\"\n",
	     "9:12: source 'demo': title: bad template: line 1, col 1: bad delimiter change (want {{=<open> "
	     "<close>=}})\n"},
	    {"    title: \"{{labels.a}b}}\"\n", "9:12: source 'demo': title: bad template: line 1, col 1: '}' in tag "
	                                        "name 'labels.a}b' (a brace too many or "
	                                        "too few?)\n"},
	    /* A block scalar: the position is the value's, the line and column inside the template say the rest. */
	    {"    description: |\n      Alert {{labels.alertname}}\n      on {{labels.instance}\n",
	     "9:18: source 'demo': description: bad template: line 2, col 4: unclosed tag: '{{' has no '}}' after "
	     "it\n"},
	    /* Every template field goes through the same check, and every error is listed at once. */
	    {"    dedup_key: \"{{labels.alertname}/x\"\n"
	     "    priority: { from: \"{{#s}}\" }\n"
	     "    attributes: { env: [ok, \"{{#e}}{{/f}}\"] }\n"
	     "    custom_attributes: { r: { type: URL, value: \"{{a}\" } }\n",
	     "9:16: source 'demo': dedup_key: bad template: line 1, col 1: unclosed tag: '{{' has no '}}' after it\n"
	     "@:10:23: source 'demo': priority.from: bad template: line 1, col 1: unclosed section 's' (no '{{/s}}' "
	     "after it)\n"
	     "@:11:29: source 'demo': attributes.env[1]: bad template: line 1, col 7: close tag 'f' does not match "
	     "open section 'e' (line 1, col 1)\n"
	     "@:12:49: source 'demo': custom_attributes.r.value: bad template: line 1, col 1: unclosed tag: '{{' has "
	     "no '}}' after it\n"},
	};
	int failed = 0;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char name[32];
		snprintf(name, sizeof(name), "bad%zu.yaml", i);
		char *path = write_config(dir, name, cases[i].yaml);
		char *want = cg_h_fmt("%s:", path);
		for (const char *p = cases[i].want; *p; p++) {
			char *more = *p == '@' ? cg_h_fmt("%s%s", want, path) : cg_h_fmt("%s%c", want, *p);
			free(want);
			want = more;
		}
		struct cg_h_cli r = cg_h_cli_run(dir, NULL, (const char *const[]){"check-config", "-c", path, NULL});
		if (r.code != 1 || strcmp(r.err, want) != 0) {
			print_error("case %zu: got exit %d, stderr:\n%swant exit 1, stderr:\n%s", i, r.code, r.err,
			            want);
			failed++;
		}
		/* The daemon's start reads the file the same way and refuses with the same lines. */
		if (i == 0) {
			struct cg_h_cli run =
			    cg_h_cli_run(dir, NULL, (const char *const[]){"run", "-c", path, NULL});
			if (run.code != 1 || strcmp(run.err, want) != 0) {
				print_error("run: got exit %d, stderr:\n%swant exit 1, stderr:\n%s", run.code, run.err,
				            want);
				failed++;
			}
			cg_h_cli_free(&run);
		}
		cg_h_cli_free(&r);
		free(want);
		free(path);
	}
	assert_int_equal(failed, 0);
}

/* What map warns about: one line per {{name}} the payload lacks or that rendered empty; a fallback is no surprise. */
static void test_map_warns_about_missing_variables(void **state)
{
	const char *dir = *state;
	char *path = write_config(dir, "map.yaml",
	                          "    title: \"{{lables.alertname}} on {{labels.instance}}\"\n"
	                          "    description: \"{{annotations.summary}}\"\n"
	                          "    dedup_key: \"{{labels.alertname}}/{{labels.instance}}\"\n"
	                          "    priority: { from: \"{{labels.severity}}\" }\n"
	                          "    attributes:\n"
	                          "      service: [\"{{labels.service}}\"]\n"
	                          "      env: \"{{labels.env|prod}}\"\n"
	                          "  - name: am\n"
	                          "    type: alertmanager\n"
	                          "    auth: none\n"
	                          "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
	                          "    case_type: 00000000-0000-0000-0000-000000000001\n"
	                          "    title: \"{{labels.alertname}} on {{labels.instance}}\"\n"
	                          "    dedup_key: \"{{labels.alertname}}/{{labels.instance}}\"\n");
	struct cg_h_cli r = cg_h_cli_run(
	    dir, NULL,
	    (const char *const[]){"map", "-c", path, "--source", "demo",
	                          "{\"labels\":{\"alertname\":\"A\",\"instance\":\"h\",\"service\":\"\"}}", NULL});
	const char *want_err = "warning: title: {{lables.alertname}} is not in the payload (rendered empty)\n"
	                       "warning: description: {{annotations.summary}} is not in the payload (rendered empty)\n"
	                       "warning: priority.from: {{labels.severity}} is not in the payload (rendered empty)\n"
	                       "warning: attributes.service: {{labels.service}} rendered empty\n";
	if (r.code != 0 || strcmp(r.err, want_err) != 0)
		fail_msg("map: got exit %d, stderr:\n%swant 0, stderr:\n%s", r.code, r.err, want_err);
	/* The output stays what the daemon would send. */
	if (!strstr(r.out, "\"title\":\"on h\"") || !strstr(r.out, "\"dedup_key\":\"demo:A/h\"") ||
	    !strstr(r.out, "\"env\":[\"prod\"]"))
		fail_msg("map: got stdout:\n%s\nwant the title 'on h', the key demo:A/h and env prod", r.out);
	cg_h_cli_free(&r);

	/* The shipped example's case: `{}` has no key; map says so as the daemon's 422 does. */
	r = cg_h_cli_run(dir, NULL, (const char *const[]){"map", "-c", path, "--source", "demo", "{}", NULL});
	const char *want_tail = "casegate map: alert 0 skipped: source 'demo': dedup_key "
	                        "\"{{labels.alertname}}/{{labels.instance}}\" rendered \"/\": nothing from the payload "
	                        "(not in the payload: labels.alertname, labels.instance)\n";
	const char *want_head = "warning: dedup_key: {{labels.alertname}} is not in the payload (rendered empty)\n"
	                        "warning: dedup_key: {{labels.instance}} is not in the payload (rendered empty)\n";
	char *want = cg_h_fmt("%s%s", want_head, want_tail);
	if (r.code != 1 || strcmp(r.err, want) != 0 || r.out[0])
		fail_msg("map {}: got exit %d, stdout:\n%s\nstderr:\n%swant 1, no stdout, stderr:\n%s", r.code, r.out,
		         r.err, want);
	free(want);
	cg_h_cli_free(&r);

	/* A notification with several alerts: the warnings say which alert. */
	r = cg_h_cli_run(
	    dir, NULL,
	    (const char *const[]){"map", "-c", path, "--source", "am",
	                          "{\"version\":\"4\",\"groupKey\":\"g\",\"status\":\"firing\",\"alerts\":["
	                          "{\"status\":\"firing\",\"labels\":{\"alertname\":\"A\",\"instance\":\"h\"},"
	                          "\"fingerprint\":\"f0\"},"
	                          "{\"status\":\"firing\",\"labels\":{\"alertname\":\"B\"},\"fingerprint\":\"f1\"}]}",
	                          NULL});
	want_err = "warning: alert 1: dedup_key: {{labels.instance}} is not in the payload (rendered empty)\n"
	           "warning: alert 1: title: {{labels.instance}} is not in the payload (rendered empty)\n";
	if (r.code != 0 || strcmp(r.err, want_err) != 0)
		fail_msg("map am: got exit %d, stderr:\n%swant 0, stderr:\n%s", r.code, r.err, want_err);
	cg_h_cli_free(&r);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_check_config_names_each_error, cg_h_dir_setup, cg_h_dir_teardown),
	    cmocka_unit_test_setup_teardown(test_map_warns_about_missing_variables, cg_h_dir_setup, cg_h_dir_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
