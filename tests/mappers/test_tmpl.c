/* test_tmpl.c: Mustache engine against the official spec files, our case table and the limits. */
/* labels: unit */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "err.h"
#include "harness.h"
#include "tmpl.h"

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (len + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			char *nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
		}
		size_t n = fread(buf + len, 1, 4096, f);
		len += n;
		if (n < 4096)
			break;
	}
	fclose(f);
	buf[len] = '\0';
	return buf;
}

static cJSON *load_json(const char *path)
{
	char *s = read_file(path);
	if (!s)
		return NULL;
	cJSON *j = cJSON_Parse(s);
	free(s);
	return j;
}

static const char *source_dir(void)
{
	const char *s = getenv("CG_SOURCE_DIR");
#ifdef CG_SOURCE_DIR
	if (!s)
		s = CG_SOURCE_DIR;
#endif
	return s ? s : ".";
}

/* Partials come from a JSON object {name: source}. */
static const char *json_partial(const char *name, void *ud)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive((const cJSON *)ud, name);
	return cJSON_IsString(p) ? p->valuestring : NULL;
}

static void print_escaped(const char *label, const char *s)
{
	fprintf(stderr, "    %s \"", label);
	for (; s && *s; s++) {
		if (*s == '\n')
			fprintf(stderr, "\\n");
		else if (*s == '\r')
			fprintf(stderr, "\\r");
		else if (*s == '\t')
			fprintf(stderr, "\\t");
		else
			fputc(*s, stderr);
	}
	fprintf(stderr, "\"\n");
}

/* Renders one test object {template, data, partials?, flags?}; returns the rc, *out on success. */
static int render_case(const cJSON *tc, int flags, char **out, char *err, size_t errlen)
{
	const cJSON *tpl = cJSON_GetObjectItemCaseSensitive(tc, "template");
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(tc, "data");
	const cJSON *partials = cJSON_GetObjectItemCaseSensitive(tc, "partials");
	struct cg_tmpl *t = NULL;
	err[0] = '\0';
	if (!cJSON_IsString(tpl))
		return -100;
	int rc = cg_tmpl_compile(tpl->valuestring, strlen(tpl->valuestring), &t, err, errlen);
	if (rc)
		return rc;
	rc = cg_tmpl_render(t, data, flags, partials ? json_partial : NULL, (void *)partials, out);
	cg_tmpl_destroy(t);
	return rc;
}

static void test_spec(void **state)
{
	(void)state;
	static const char *const files[] = {"comments", "delimiters", "interpolation", "inverted", "partials", "sections"};
	const char *shared = getenv("CG_SHARED_DIR");
	char path[1024];
	if (!shared)
		cg_h_skip("shared", "CG_SHARED_DIR not set: the mustache spec not run");
	snprintf(path, sizeof(path), "%s/mustache-spec/comments.json", shared);
	FILE *probe = fopen(path, "rb");
	if (!probe)
		cg_h_skip("shared", "%s missing", path);
	fclose(probe);

	int total = 0, failed = 0;
	for (size_t fi = 0; fi < sizeof(files) / sizeof(files[0]); fi++) {
		snprintf(path, sizeof(path), "%s/mustache-spec/%s.json", shared, files[fi]);
		cJSON *doc = load_json(path);
		assert_non_null(doc);
		const cJSON *tc;
		cJSON_ArrayForEach(tc, cJSON_GetObjectItemCaseSensitive(doc, "tests"))
		{
			const char *name = cJSON_GetObjectItemCaseSensitive(tc, "name")->valuestring;
			const char *want = cJSON_GetObjectItemCaseSensitive(tc, "expected")->valuestring;
			char err[256];
			char *got = NULL;
			total++;
			int rc = render_case(tc, CG_TMPL_ESCAPE_HTML, &got, err, sizeof(err));
			if (rc || strcmp(got, want) != 0) {
				failed++;
				fprintf(stderr, "FAIL %s / %s (rc %d %s)\n", files[fi], name, rc, err);
				print_escaped("got ", rc ? "<error>" : got);
				print_escaped("want", want);
			}
			free(got);
		}
		cJSON_Delete(doc);
	}
	fprintf(stderr, "mustache spec: %d/%d passed\n", total - failed, total);
	assert_int_equal(total, 136);
	assert_int_equal(failed, 0);
}

static int rc_from_name(const char *s)
{
	if (!s)
		return 0;
	if (strcmp(s, "EINVAL") == 0)
		return CG_EINVAL;
	if (strcmp(s, "E2BIG") == 0)
		return CG_E2BIG;
	return -999;
}

/* tests/fixtures/tmpl/cases.json: [{name, template, data, partials?, html?, expected | rc + error}]. */
static void test_cases(void **state)
{
	(void)state;
	char path[1024];
	snprintf(path, sizeof(path), "%s/tests/fixtures/tmpl/cases.json", source_dir());
	cJSON *doc = load_json(path);
	if (!doc)
		fprintf(stderr, "cannot load %s\n", path);
	assert_non_null(doc);
	int total = 0, failed = 0;
	const cJSON *tc;
	cJSON_ArrayForEach(tc, doc)
	{
		const char *name = cJSON_GetObjectItemCaseSensitive(tc, "name")->valuestring;
		const cJSON *want = cJSON_GetObjectItemCaseSensitive(tc, "expected");
		const cJSON *want_rc = cJSON_GetObjectItemCaseSensitive(tc, "rc");
		const cJSON *want_err = cJSON_GetObjectItemCaseSensitive(tc, "error");
		int flags = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(tc, "html")) ? CG_TMPL_ESCAPE_HTML : 0;
		int wrc = rc_from_name(cJSON_IsString(want_rc) ? want_rc->valuestring : NULL);
		char err[256];
		char *got = NULL;
		total++;
		int rc = render_case(tc, flags, &got, err, sizeof(err));
		int ok = rc == wrc;
		if (ok && !rc)
			ok = cJSON_IsString(want) && strcmp(got, want->valuestring) == 0;
		if (ok && cJSON_IsString(want_err))
			ok = strstr(err, want_err->valuestring) != NULL;
		if (!ok) {
			failed++;
			fprintf(stderr, "FAIL case %s: got rc %d err \"%s\", want rc %d err \"%s\"\n", name, rc, err, wrc,
				cJSON_IsString(want_err) ? want_err->valuestring : "");
			if (!rc)
				print_escaped("got ", got);
			if (cJSON_IsString(want))
				print_escaped("want", want->valuestring);
		}
		free(got);
	}
	cJSON_Delete(doc);
	fprintf(stderr, "tmpl cases: %d/%d passed\n", total - failed, total);
	assert_true(total >= 30);
	assert_int_equal(failed, 0);
}

static const char *self_partial(const char *name, void *ud)
{
	(void)name;
	return ud;
}

static void test_partial_recursion_limit(void **state)
{
	(void)state;
	const char *src = "x{{>self}}";
	struct cg_tmpl *t = NULL;
	char *out = (char *)0x1;
	assert_int_equal(cg_tmpl_compile(src, strlen(src), &t, NULL, 0), 0);
	assert_int_equal(cg_tmpl_render(t, NULL, 0, self_partial, (void *)src, &out), CG_EINVAL);
	assert_ptr_equal(out, (char *)0x1); /* untouched on failure */

	/* Indented standalone self-recursion grows the indent each level: still bounded. */
	const char *ind = "a\n  {{>self}}\n";
	cg_tmpl_destroy(t);
	assert_int_equal(cg_tmpl_compile(ind, strlen(ind), &t, NULL, 0), 0);
	assert_int_equal(cg_tmpl_render(t, NULL, 0, self_partial, (void *)ind, &out), CG_EINVAL);

	/* 30 nested inclusions are fine: the recursion stops on data (innermost c is false). */
	const char *node = "{{#c}}<{{>self}}>{{/c}}";
	cJSON *data = cJSON_CreateObject();
	cJSON *cur = data;
	for (int i = 0; i < 30; i++)
		cur = cJSON_AddObjectToObject(cur, "c");
	cJSON_AddFalseToObject(cur, "c");
	cg_tmpl_destroy(t);
	assert_int_equal(cg_tmpl_compile(node, strlen(node), &t, NULL, 0), 0);
	out = NULL;
	assert_int_equal(cg_tmpl_render(t, data, 0, self_partial, (void *)node, &out), 0);
	assert_int_equal(strlen(out), 60);
	assert_int_equal(out[29], '<');
	assert_int_equal(out[30], '>');
	free(out);
	cJSON_Delete(data);
	cg_tmpl_destroy(t);
}

static void test_output_cap(void **state)
{
	(void)state;
	/* 1024 x 1024 x "xx" = 2 MiB: over the cap. */
	cJSON *data = cJSON_CreateObject();
	cJSON *a = cJSON_AddArrayToObject(data, "a");
	for (int i = 0; i < 1024; i++)
		cJSON_AddItemToArray(a, cJSON_CreateNumber(i));
	char *out = NULL;
	char err[128];
	assert_int_equal(cg_tmpl_render_str("{{#a}}{{#a}}xx{{/a}}{{/a}}", data, &out, err, sizeof(err)), CG_E2BIG);
	assert_null(out);
	/* Just under: 1024 x 1024 x "x" = 1 MiB exactly fits. */
	assert_int_equal(cg_tmpl_render_str("{{#a}}{{#a}}x{{/a}}{{/a}}", data, &out, err, sizeof(err)), 0);
	assert_int_equal(strlen(out), 1024 * 1024);
	free(out);
	/* A loop that prints nothing still has a work budget. */
	assert_int_equal(cg_tmpl_render_str("{{#a}}{{#a}}{{#a}}{{/a}}{{/a}}{{/a}}", data, &out, err, sizeof(err)),
			 CG_E2BIG);
	cJSON_Delete(data);
}

static void test_nesting_limit(void **state)
{
	(void)state;
	char src[4096];
	size_t n = 0;
	for (int i = 0; i < 101; i++)
		n += (size_t)snprintf(src + n, sizeof(src) - n, "{{#a}}\n");
	char err[128];
	struct cg_tmpl *t = NULL;
	assert_int_equal(cg_tmpl_compile(src, n, &t, err, sizeof(err)), CG_EINVAL);
	assert_null(t);
	if (strstr(err, "line 101, col 1: sections nested deeper than 100") == NULL)
		fail_msg("got \"%s\", want \"line 101, col 1: sections nested deeper than 100\"", err);

	/* 100 levels compile and render. */
	n = 0;
	for (int i = 0; i < 100; i++)
		n += (size_t)snprintf(src + n, sizeof(src) - n, "{{#a}}");
	n += (size_t)snprintf(src + n, sizeof(src) - n, "deep");
	for (int i = 0; i < 100; i++)
		n += (size_t)snprintf(src + n, sizeof(src) - n, "{{/a}}");
	assert_int_equal(cg_tmpl_compile(src, n, &t, err, sizeof(err)), 0);
	cJSON *data = cJSON_Parse("{\"a\":true}");
	char *out = NULL;
	assert_int_equal(cg_tmpl_render(t, data, 0, NULL, NULL, &out), 0);
	assert_string_equal(out, "deep");
	free(out);
	cJSON_Delete(data);
	cg_tmpl_destroy(t);
}

static void test_is_literal(void **state)
{
	(void)state;
	struct cg_tmpl *t = NULL;
	assert_int_equal(cg_tmpl_compile("plain { text }", 14, &t, NULL, 0), 0);
	assert_int_equal(cg_tmpl_is_literal(t), 1);
	cg_tmpl_destroy(t);
	assert_int_equal(cg_tmpl_compile("", 0, &t, NULL, 0), 0);
	assert_int_equal(cg_tmpl_is_literal(t), 1);
	cg_tmpl_destroy(t);
	assert_int_equal(cg_tmpl_compile("a {{!c}} b", 10, &t, NULL, 0), 0);
	assert_int_equal(cg_tmpl_is_literal(t), 0);
	cg_tmpl_destroy(t);
	assert_int_equal(cg_tmpl_compile("{{x}}", 5, &t, NULL, 0), 0);
	assert_int_equal(cg_tmpl_is_literal(t), 0);
	cg_tmpl_destroy(t);
	assert_int_equal(cg_tmpl_is_literal(NULL), 0);
	cg_tmpl_destroy(NULL);
}

static void test_len_not_nul_terminated(void **state)
{
	(void)state;
	/* compile reads exactly len bytes: the tail after len must be ignored. */
	const char buf[] = "{{a}}-{{b}}";
	struct cg_tmpl *t = NULL;
	assert_int_equal(cg_tmpl_compile(buf, 5, &t, NULL, 0), 0);
	cJSON *data = cJSON_Parse("{\"a\":\"A\",\"b\":\"B\"}");
	char *out = NULL;
	assert_int_equal(cg_tmpl_render(t, data, 0, NULL, NULL, &out), 0);
	assert_string_equal(out, "A");
	free(out);
	/* The same compiled template renders again with different data. */
	cJSON_Delete(data);
	data = cJSON_Parse("{\"a\":[1,{\"k\":null}]}");
	assert_int_equal(cg_tmpl_render(t, data, 0, NULL, NULL, &out), 0);
	assert_string_equal(out, "[1,{\"k\":null}]");
	free(out);
	cJSON_Delete(data);
	cg_tmpl_destroy(t);
}


#define FW_AT "\xEF\xBC\xA0" /* U+FF20: what a sender's '@' becomes */

/* Renders src over the JSON data with opts; the result must equal want. */
static void expect_render(const char *src, const char *data_json, const struct cg_tmpl_opts *opts, const char *want)
{
	struct cg_tmpl *t = NULL;
	char err[160] = "";
	assert_int_equal(cg_tmpl_compile(src, strlen(src), &t, err, sizeof(err)), 0);
	cJSON *data = cJSON_Parse(data_json);
	assert_non_null(data);
	char *out = NULL;
	assert_int_equal(cg_tmpl_render_opts(t, data, opts, &out), 0);
	if (strcmp(out, want) != 0) {
		print_error("render(\"%s\", flags %d): got \"%s\", want \"%s\"\n", src, opts ? opts->flags : 0, out, want);
		free(out);
		fail();
	}
	free(out);
	cJSON_Delete(data);
	cg_tmpl_destroy(t);
}

static void test_markdown_mode(void **state)
{
	(void)state;
	const struct cg_tmpl_opts md = {.flags = CG_TMPL_ESCAPE_MARKDOWN};
	const char *data = "{\"t\":\"Disk full @all [login](https://evil.example/login) <img src=x> `x`\"}";
	/* {{x}} neutralises the sender's value; the operator's own '@oncall-team' and Markdown stay live;
	 * {{{x}}} and {{&x}} are the documented opt-out. */
	expect_render("**Page** @oncall-team: {{t}}", data, &md,
		      "**Page** @oncall-team: Disk full " FW_AT "all \\[login\\](https://evil.example/login) "
		      "&lt;img src=x&gt; \\`x\\`");
	expect_render("{{{t}}}|{{&t}}", data, &md,
		      "Disk full @all [login](https://evil.example/login) <img src=x> `x`|"
		      "Disk full @all [login](https://evil.example/login) <img src=x> `x`");
	/* Flags 0 (dedup keys, priorities) insert as is. */
	expect_render("{{t}}", data, NULL, "Disk full @all [login](https://evil.example/login) <img src=x> `x`");
	/* The fallback is the operator's text: never escaped. */
	expect_render("{{missing|@team-db [runbook](https://wiki.example)}}", data, &md,
		      "@team-db [runbook](https://wiki.example)");
	/* One render escapes each value exactly once, also through sections, lists and partial-free nesting. */
	expect_render("{{#l}}- {{.}}\n{{/l}}{{#o}}{{k}}{{/o}}", "{\"l\":[\"a_b\",\"\\\\[x\\\\]\"],\"o\":{\"k\":\"*\"}}",
		      &md, "- a\\_b\n- \\\\\\[x\\\\\\]\n\\*");
	/* Numbers, booleans and objects (compact JSON) are values too. */
	expect_render("{{n}} {{b}} {{o}}", "{\"n\":1.5,\"b\":true,\"o\":{\"a\":[\"@x\"]}}", &md,
		      "1.5 true {\"a\":\\[\"" FW_AT "x\"\\]}");
	/* Bidi and zero-width characters of a value go; the template's own text is untouched. */
	expect_render("\xE2\x80\x8B{{t}}", "{\"t\":\"a\\u202eb\\u200bc\"}", &md, "\xE2\x80\x8B" "abc");
}

static void test_markdown_trusted_value(void **state)
{
	(void)state;
	/* The mapper's description is Markdown casegate made: {{description}} keeps it (no double
	 * escaping) but still loses mentions and hidden characters. Only that very item is trusted. */
	cJSON *ctx = cJSON_Parse("{\"description\":\"**Summary:** \\\\[x\\\\] @y\\u200b\","
				 "\"copy\":\"**Summary:** \\\\[x\\\\] @y\"}");
	assert_non_null(ctx);
	struct cg_tmpl_opts md = {.flags = CG_TMPL_ESCAPE_MARKDOWN,
				  .markdown = cJSON_GetObjectItemCaseSensitive(ctx, "description")};
	struct cg_tmpl *t = NULL;
	const char *src = "{{description}}|{{copy}}|{{#description}}{{.}}{{/description}}";
	assert_int_equal(cg_tmpl_compile(src, strlen(src), &t, NULL, 0), 0);
	char *out = NULL;
	assert_int_equal(cg_tmpl_render_opts(t, ctx, &md, &out), 0);
	assert_string_equal(out, "**Summary:** \\[x\\] " FW_AT "y|\\*\\*Summary:\\*\\* \\\\\\[x\\\\\\] " FW_AT
				 "y|**Summary:** \\[x\\] " FW_AT "y");
	free(out);
	/* In another mode the trusted item is just a value. */
	md.flags = CG_TMPL_ESCAPE_PLAIN;
	assert_int_equal(cg_tmpl_render_opts(t, ctx, &md, &out), 0);
	assert_string_equal(out, "**Summary:** \\[x\\] " FW_AT "y|**Summary:** \\[x\\] " FW_AT
				 "y|**Summary:** \\[x\\] " FW_AT "y");
	free(out);
	cg_tmpl_destroy(t);
	cJSON_Delete(ctx);
}

static void test_plain_modes(void **state)
{
	(void)state;
	const char *data = "{\"t\":\"@all [login](https://evil.example/login) <b>\",\"u\":\"https://x.example/@u?a=<b>\"}";
	const struct cg_tmpl_opts title = {.flags = CG_TMPL_ESCAPE_PLAIN};
	const struct cg_tmpl_opts url = {.flags = CG_TMPL_ESCAPE_URL};
	/* The operator's "[P1]" and "@me" stay; the value cannot link, tag or mention. */
	expect_render("[P1] {{t}} @me", data, &title, "[P1] " FW_AT "all [login] (https://evil.example/login) < b> @me");
	expect_render("{{u}}#x@y", data, &url, "https://x.example/%40u?a=%3Cb%3E#x@y");
	expect_render("{{{t}}}", data, &title, "@all [login](https://evil.example/login) <b>");
	/* HTML escaping is unchanged. */
	const struct cg_tmpl_opts html = {.flags = CG_TMPL_ESCAPE_HTML};
	expect_render("{{t}}", data, &html, "@all [login](https://evil.example/login) &lt;b&gt;");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec),
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_partial_recursion_limit),
		cmocka_unit_test(test_output_cap),
		cmocka_unit_test(test_nesting_limit),
		cmocka_unit_test(test_is_literal),
		cmocka_unit_test(test_len_not_nul_terminated),
		cmocka_unit_test(test_markdown_mode),
		cmocka_unit_test(test_markdown_trusted_value),
		cmocka_unit_test(test_plain_modes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
