/* test_cli_readme.c: the README stays true where it can be checked: its `casegate map` example is what the real binary prints for the Quick start's alert, and its table of contents is every section in order. */
/* labels: integration */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* The text between the first `open` after `from` and the next `close` (malloc'd). */
static char *between(const char *from, const char *open, const char *close, const char *what)
{
	const char *a = strstr(from, open);
	if (!a)
		fail_msg("README: %s: no \"%s\"", what, open);
	a += strlen(open);
	const char *b = strstr(a, close);
	if (!b)
		fail_msg("README: %s: no \"%s\" after \"%s\"", what, close, open);
	return strndup(a, (size_t)(b - a));
}

static void test_map_example_is_true(void **state)
{
	(void)state;
	char *readme = cg_h_readme();

	const char *cmd = "casegate map -c conf/casegate.yaml --source demo '";
	const char *at = strstr(readme, cmd);
	if (!at)
		fail_msg("README: no `%s...` example", cmd);
	char *payload = between(at, cmd, "'\n", "map example's payload");
	char *want = between(at, "```json\n", "\n```", "map example's output");

	/* The Quick start posts the same alert (written over two lines there). */
	char *posted = between(readme, "http://127.0.0.1:8080/hooks/demo \\\n  -d '", "'", "Quick start's curl");
	cJSON *a = cJSON_Parse(payload), *b = cJSON_Parse(posted);
	if (!a || !b || !cJSON_Compare(a, b, 1))
		fail_msg("README: the map example's payload\n%s\nis not the Quick start's\n%s", payload, posted);
	cJSON_Delete(a);
	cJSON_Delete(b);
	/* ... and the answer the Quick start shows names the same key and priority. */
	char *answer = between(readme, "# {\"events\":[", "]", "Quick start's answer");
	cJSON *mapped = cJSON_Parse(want);
	if (!mapped)
		fail_msg("README: the map example's output is not JSON:\n%s", want);
	char *key = cg_h_fmt("\"dedup_key\":\"%s\"", cJSON_GetObjectItemCaseSensitive(mapped, "dedup_key")->valuestring);
	char *prio = cg_h_fmt("\"priority\":\"%s\"", cJSON_GetObjectItemCaseSensitive(mapped, "priority")->valuestring);
	if (!strstr(answer, key) || !strstr(answer, prio))
		fail_msg("README: the Quick start's answer %s disagrees with the map example (%s, %s)", answer, key, prio);
	cJSON_Delete(mapped);

	char *dir = cg_h_tmpdir("cg-cli-readme");
	assert_non_null(dir);
	char *conf = cg_h_fmt("%s/conf/casegate.yaml", cg_h_source_dir());
	setenv("DEMO_TOKEN", "demo", 1);
	const char *args[] = {"map", "-c", conf, "--source", "demo", payload, NULL};
	struct cg_h_cli r = cg_h_cli_run(dir, NULL, args);
	unsetenv("DEMO_TOKEN");
	if (r.code != 0)
		fail_msg("casegate map (README example): exit %d\n%s", r.code, r.err);
	size_t n = strlen(r.out);
	if (n && r.out[n - 1] == '\n')
		r.out[n - 1] = '\0';
	if (strcmp(r.out, want) != 0)
		fail_msg("README's map example is stale:\nREADME:\n%s\ncasegate map prints:\n%s", want, r.out);
	cg_h_cli_free(&r);
	cg_h_rmrf(dir);
	free(dir);
	free(conf);
	free(key);
	free(prio);
	free(answer);
	free(posted);
	free(payload);
	free(want);
	free(readme);
}

/* GitHub's anchor of a heading: lower case, spaces to '-', other ASCII punctuation but '-' and
 * '_' dropped (the ToC's links must land). */
static char *anchor(const char *h, size_t n)
{
	char *a = malloc(n + 1);
	size_t j = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)h[i];
		if (isalnum(ch) || ch == '-' || ch == '_' || ch >= 0x80)
			a[j++] = (char)tolower(ch);
		else if (ch == ' ')
			a[j++] = '-';
	}
	a[j] = '\0';
	return a;
}

/* The "## Contents" list is every "## " heading after it, in order, each linked to its anchor. */
static void test_toc_is_every_section(void **state)
{
	(void)state;
	char *readme = cg_h_readme();
	char *toc = strstr(readme, "\n## Contents\n");
	if (!toc)
		fail_msg("README: no \"## Contents\" section");
	toc += strlen("\n## Contents\n");
	char *toc_end = strstr(toc, "\n## ");
	assert_non_null(toc_end);
	/* The headings after the ToC, outside code blocks. */
	char want[8192] = "";
	size_t wl = 0;
	int code = 0, nsec = 0;
	for (char *l = toc_end + 1; l && *l;) {
		char *nl = strchr(l, '\n');
		size_t n = nl ? (size_t)(nl - l) : strlen(l);
		if (n >= 3 && strncmp(l, "```", 3) == 0)
			code = !code;
		else if (!code && n > 3 && strncmp(l, "## ", 3) == 0) {
			char *a = anchor(l + 3, n - 3);
			int w = snprintf(want + wl, sizeof(want) - wl, "- [%.*s](#%s)\n", (int)(n - 3), l + 3, a);
			assert_true(w > 0 && (size_t)w < sizeof(want) - wl);
			wl += (size_t)w;
			free(a);
			nsec++;
		}
		l = nl ? nl + 1 : NULL;
	}
	/* The ToC's list lines (blank lines around it aside). */
	char got[8192] = "";
	size_t gl = 0;
	for (char *l = toc; l < toc_end;) {
		char *nl = strchr(l, '\n');
		size_t n = (size_t)((nl ? nl : toc_end) - l);
		if (n > 0 && l[0] == '-') {
			assert_true(gl + n + 2 < sizeof(got));
			memcpy(got + gl, l, n);
			gl += n;
			got[gl++] = '\n';
			got[gl] = '\0';
		}
		l = nl ? nl + 1 : toc_end;
	}
	assert_true(nsec >= 20);
	if (strcmp(got, want) != 0)
		fail_msg("README's Contents is not the sections in order:\ngot:\n%s\nwant:\n%s", got, want);
	free(readme);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_map_example_is_true),
	    cmocka_unit_test(test_toc_is_every_section),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
