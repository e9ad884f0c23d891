/* test_builder.c: the case builder: dedup keys, titles, descriptions, priorities, attributes, API bodies. */
/* labels: unit */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "builder.h"
#include "err.h"
#include "event.h"
#include "harness.h"
#include "mdsafe.h"
#include "registry.h"

/* ---- bodies collected for the contract check at the end ------------------------------- */

#define MAX_BODIES 512
static char body_dir[256];
static const char *body_schema[MAX_BODIES];
static char *body_path[MAX_BODIES];
static int nbodies;

/* Writes body to the temp dir so the last test can validate it against the OpenAPI schema. */
static void record(const char *schema, const cJSON *body)
{
	assert_non_null(body);
	if (!body_dir[0] || nbodies == MAX_BODIES)
		return;
	char path[320];
	snprintf(path, sizeof(path), "%s/%03d-%s.json", body_dir, nbodies, schema);
	char *text = cJSON_Print(body);
	assert_non_null(text);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	cJSON_free(text);
	body_schema[nbodies] = schema;
	body_path[nbodies] = strdup(path);
	assert_non_null(body_path[nbodies]);
	nbodies++;
}

static int group_setup(void **state)
{
	(void)state;
	char tmpl[] = "/tmp/cg-builder-XXXXXX";
	if (!mkdtemp(tmpl))
		return -1;
	snprintf(body_dir, sizeof(body_dir), "%s", tmpl);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	for (int i = 0; i < nbodies; i++) {
		if (body_dir[0]) /* cleared when a failure keeps the files for inspection */
			unlink(body_path[i]);
		free(body_path[i]);
	}
	if (body_dir[0])
		rmdir(body_dir);
	return 0;
}

/* ---- helpers -------------------------------------------------------------------------- */

static void check_str(const char *what, const char *got, const char *want)
{
	if ((got == NULL) != (want == NULL) || (got && strcmp(got, want) != 0)) {
		print_error("%s: got \"%s\", want \"%s\"\n", what, got ? got : "(null)", want ? want : "(null)");
		fail();
	}
}

static void check_contains(const char *what, const char *got, const char *needle)
{
	if (!got || !strstr(got, needle)) {
		print_error("%s: got \"%s\", want it to contain \"%s\"\n", what, got ? got : "(null)", needle);
		fail();
	}
}

static void check_json(const char *what, const cJSON *got, const char *want_text)
{
	cJSON *want = want_text ? cJSON_Parse(want_text) : NULL;
	if (want_text)
		assert_non_null(want);
	int same = (!got && !want) || (got && want && cJSON_Compare(got, want, 1));
	if (!same) {
		char *g = got ? cJSON_PrintUnformatted(got) : NULL;
		print_error("%s:\n got  %s\n want %s\n", what, g ? g : "(null)", want_text ? want_text : "(null)");
		cJSON_free(g);
		cJSON_Delete(want);
		fail();
	}
	cJSON_Delete(want);
}

static const char *generic_map(void)
{
	const struct cg_mapper *m = cg_mapper_find("generic");
	assert_non_null(m);
	return m->default_priority_map;
}

static struct cg_case_spec base_spec(void)
{
	struct cg_case_spec s;
	memset(&s, 0, sizeof(s));
	s.source_name = "src";
	s.project = "e555e290-ed65-49bd-ae18-8acbfcf18db7";
	s.case_type = "3b010bde-09ce-4449-b745-71dd5f861963";
	s.default_priority_map = generic_map();
	return s;
}

/*
 * Builds an event from a compact JSON description: key, status ("resolved"), severity, title,
 * description, labels, annotations, links, starts_at, ends_at, alert (extra ctx fields).
 */
static void ev_from(struct cg_event *e, const char *desc)
{
	memset(e, 0, sizeof(*e));
	cJSON *d = cJSON_Parse(desc);
	if (!d)
		print_error("bad event description: %s\n", desc);
	assert_non_null(d);
	e->dedup_key = cg_strdup0(cg_json_str(d, "key"));
	const char *st = cg_json_str(d, "status");
	e->status = st && strcmp(st, "resolved") == 0 ? CG_STATUS_RESOLVED : CG_STATUS_FIRING;
	e->severity = cg_strdup0(cg_json_str(d, "severity"));
	e->title = cg_strdup0(cg_json_str(d, "title"));
	e->description = cg_strdup0(cg_json_str(d, "description"));
	e->starts_at = cg_strdup0(cg_json_str(d, "starts_at"));
	e->ends_at = cg_strdup0(cg_json_str(d, "ends_at"));
	const cJSON *l = cJSON_GetObjectItemCaseSensitive(d, "labels");
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(d, "annotations");
	const cJSON *k = cJSON_GetObjectItemCaseSensitive(d, "links");
	e->labels = l ? cJSON_Duplicate(l, 1) : cJSON_CreateObject();
	e->annotations = a ? cJSON_Duplicate(a, 1) : cJSON_CreateObject();
	e->links = k ? cJSON_Duplicate(k, 1) : cJSON_CreateObject();
	assert_int_equal(cg_event_build_ctx(e, cJSON_GetObjectItemCaseSensitive(d, "alert"), NULL), 0);
	cJSON_Delete(d);
}

static struct cg_builder *builder_ok(const struct cg_case_spec *spec)
{
	struct cg_builder *b = NULL;
	char err[256] = "";
	int rc = cg_builder_create(spec, &b, err, sizeof(err));
	if (rc != 0)
		print_error("cg_builder_create: got %d (%s), want 0\n", rc, err);
	assert_int_equal(rc, 0);
	assert_non_null(b);
	return b;
}

/* Builds, checks success, and records the bodies for the contract test. */
static void build_ok(const struct cg_case_spec *spec, const char *event_desc, struct cg_case_draft *d)
{
	struct cg_builder *b = builder_ok(spec);
	struct cg_event ev;
	ev_from(&ev, event_desc);
	char err[256] = "";
	int rc = cg_builder_build(b, &ev, d, err, sizeof(err));
	if (rc != 0)
		print_error("cg_builder_build(%s): got %d (%s), want 0\n", event_desc, rc, err);
	assert_int_equal(rc, 0);
	cg_event_cleanup(&ev);
	cg_builder_destroy(b);
	record("CaseCreateRequest", d->create);
	if (d->attributes) {
		cJSON *body = cg_body_attributes(d->attributes);
		record("CaseUpdateAttributesRequest", body);
		cJSON_Delete(body);
	}
	cJSON *c = cg_body_comment(d->summary);
	record("CaseCommentRequest", c);
	cJSON_Delete(c);
}

static const cJSON *create_attr(const struct cg_case_draft *d, const char *name)
{
	return cg_json_path(d->create, "data.attributes") ? cJSON_GetObjectItemCaseSensitive(
								   cg_json_path(d->create, "data.attributes"), name)
							 : NULL;
}

static char *repeat(const char *unit, size_t times)
{
	size_t u = strlen(unit);
	char *s = malloc(u * times + 1);
	assert_non_null(s);
	for (size_t i = 0; i < times; i++)
		memcpy(s + i * u, unit, u);
	s[u * times] = '\0';
	return s;
}

/* 1 when s is valid UTF-8 (sanitising changes nothing). */
static int valid_utf8(const char *s)
{
	char *c = cg_utf8_sanitize(s);
	assert_non_null(c);
	int same = strcmp(c, s) == 0;
	free(c);
	return same;
}

/* ---- pure helpers --------------------------------------------------------------------- */

static void test_priority_names(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		int rc, want;
	} cases[] = {
		{"P1", 0, 1}, {"p3", 0, 3}, {"P5", 0, 5}, {"1", 0, 1}, {"5", 0, 5}, {"NOT_DEFINED", 0, 0},
		{"not_defined", 0, 0}, {"P6", CG_EINVAL, 0}, {"0", CG_EINVAL, 0}, {"P", CG_EINVAL, 0},
		{"", CG_EINVAL, 0}, {"11", CG_EINVAL, 0}, {"P1 ", CG_EINVAL, 0}, {"high", CG_EINVAL, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got = -1;
		int rc = cg_priority_parse(cases[i].in, &got);
		if (rc != cases[i].rc || (rc == 0 && got != cases[i].want)) {
			print_error("parse(\"%s\"): got rc %d prio %d, want rc %d prio %d\n", cases[i].in, rc, got,
				    cases[i].rc, cases[i].want);
			fail();
		}
	}
	assert_int_equal(cg_priority_parse(NULL, &(int){0}), CG_EINVAL);
	check_str("name(0)", cg_priority_name(0), "NOT_DEFINED");
	check_str("name(2)", cg_priority_name(2), "P2");
	check_str("name(5)", cg_priority_name(5), "P5");
	check_str("name(-1)", cg_priority_name(-1), "NOT_DEFINED");
	check_str("name(6)", cg_priority_name(6), "NOT_DEFINED");
}

static void test_ca_types(void **state)
{
	(void)state;
	static const enum cg_ca_type all[] = {CG_CA_TEXT, CG_CA_URL, CG_CA_NUMBER, CG_CA_SELECT};
	static const char *const names[] = {"TEXT", "URL", "NUMBER", "SELECT"};
	for (size_t i = 0; i < 4; i++) {
		check_str("type name", cg_ca_type_name(all[i]), names[i]);
		enum cg_ca_type t = CG_CA_TEXT;
		assert_int_equal(cg_ca_type_parse(names[i], &t), 0);
		assert_int_equal(t, all[i]);
	}
	enum cg_ca_type t = CG_CA_TEXT;
	assert_int_equal(cg_ca_type_parse("number", &t), 0);
	assert_int_equal(t, CG_CA_NUMBER);
	assert_int_equal(cg_ca_type_parse("DATE", &t), CG_EINVAL);
	assert_int_equal(cg_ca_type_parse(NULL, &t), CG_EINVAL);
}

static void test_sha256(void **state)
{
	(void)state;
	char hex[65];
	cg_sha256_hex("abc", 3, hex);
	check_str("sha256(abc)", hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	cg_sha256_hex("", 0, hex);
	check_str("sha256()", hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_utf8_truncate(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		size_t max;
		const char *want;
	} cases[] = {
		{"hello", 10, "hello"},
		{"hello", 5, "hello"},
		{"hello world", 8, "hello\xE2\x80\xA6"},
		/* "abc" + é (2 bytes) + "xyz": the cut at 4 would split é. */
		{"abc\xC3\xA9xyz", 7, "abc\xE2\x80\xA6"},
		{"abc\xC3\xA9xyz", 8, "abc\xC3\xA9xyz"},
		{"abc\xC3\xA9xyzw", 8, "abc\xC3\xA9\xE2\x80\xA6"},
		/* a 4-byte emoji cut in the middle */
		{"ab\xF0\x9F\x98\x80" "cd", 6, "ab\xE2\x80\xA6"},
		{"ab\xF0\x9F\x98\x80" "cd", 7, "ab\xE2\x80\xA6"},
		{"ab\xF0\x9F\x98\x80" "cdef", 9, "ab\xF0\x9F\x98\x80\xE2\x80\xA6"},
		/* an ellipsis in the input is 3 bytes like any other character */
		{"\xE2\x80\xA6\xE2\x80\xA6\xE2\x80\xA6", 8, "\xE2\x80\xA6\xE2\x80\xA6"},
		/* stray continuation bytes: no boundary to find, cut where the limit says */
		{"\x80\x80\x80\x80\x80\x80xx", 6, "\x80\x80\x80\xE2\x80\xA6"},
		/* a lead byte without its continuation */
		{"ab\xE2zzzzzz", 6, "ab\xE2\xE2\x80\xA6"},
		/* no room for the ellipsis */
		{"abcdef", 2, "ab"},
		{"\xC3\xA9\xC3\xA9", 3, "\xE2\x80\xA6"},
		{"abcdef", 3, "\xE2\x80\xA6"},
		{"\xC3\xA9\xC3\xA9", 1, ""},
		{"abc", 0, ""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[64];
		snprintf(buf, sizeof(buf), "%s", cases[i].in);
		cg_utf8_truncate(buf, cases[i].max);
		if (strcmp(buf, cases[i].want) != 0 || strlen(buf) > cases[i].max) {
			print_error("case %zu truncate(max %zu): got \"%s\" (%zu bytes), want \"%s\"\n", i, cases[i].max,
				    buf, strlen(buf), cases[i].want);
			fail();
		}
	}
	/* Every cut point of a valid mixed string stays valid UTF-8 and within max. */
	const char *mixed = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80z \xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80";
	for (size_t max = 0; max <= strlen(mixed) + 1; max++) {
		char buf[64];
		snprintf(buf, sizeof(buf), "%s", mixed);
		cg_utf8_truncate(buf, max);
		if (strlen(buf) > max || !valid_utf8(buf)) {
			print_error("max %zu: got \"%s\" (%zu bytes), want valid UTF-8 of at most %zu bytes\n", max, buf,
				    strlen(buf), max);
			fail();
		}
	}
}

static void test_utf8_sanitize(void **state)
{
	(void)state;
	static const struct {
		const char *in, *want;
	} cases[] = {
		{"plain", "plain"},
		{"\xC3\xA9\xF0\x9F\x98\x80", "\xC3\xA9\xF0\x9F\x98\x80"},
		{"a\xFF" "b", "a\xEF\xBF\xBD" "b"},
		{"\xC0\xAF", "\xEF\xBF\xBD\xEF\xBF\xBD"},                     /* overlong '/' */
		{"\xED\xA0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},     /* a surrogate */
		{"x\xE2\x82", "x\xEF\xBF\xBD\xEF\xBF\xBD"},                   /* truncated sequence */
		{"\xF4\x90\x80\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"}, /* > U+10FFFF */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = cg_utf8_sanitize(cases[i].in);
		check_str("sanitize", got, cases[i].want);
		free(got);
	}
}

/* ---- dedup keys ----------------------------------------------------------------------- */

static void test_dedup_keys(void **state)
{
	(void)state;
	char *k196 = repeat("k", 196); /* "src:" + 196 = 200 bytes: fits */
	char *k197 = repeat("k", 197);
	char hex[65];
	char want197[128], want_sha[128];
	cg_sha256_hex(k197, strlen(k197), hex);
	snprintf(want197, sizeof(want197), "src:sha256:%s", hex);
	cg_sha256_hex("sha256:abc", 10, hex);
	snprintf(want_sha, sizeof(want_sha), "src:sha256:%s", hex);
	char want196[256];
	snprintf(want196, sizeof(want196), "src:%s", k196);
	char ev196[512], ev197[512];
	snprintf(ev196, sizeof(ev196), "{\"key\":\"%s\"}", k196);
	snprintf(ev197, sizeof(ev197), "{\"key\":\"%s\"}", k197);

	const struct {
		const char *tmpl, *event, *want;
	} cases[] = {
		{NULL, "{\"key\":\"abc\"}", "src:abc"},
		{NULL, "{\"key\":\"  abc \\n\"}", "src:abc"},
		{"{{labels.alertname}}/{{labels.instance}}",
		 "{\"key\":\"ignored\",\"labels\":{\"alertname\":\"HighCPU\",\"instance\":\"db1\"}}", "src:HighCPU/db1"},
		{"fixed", "{}", "src:fixed"},
		{"  {{alert_id}}  ", "{\"alert\":{\"alert_id\":\"77\"}}", "src:77"},
		{NULL, ev196, want196},
		{NULL, ev197, want197},
		{NULL, "{\"key\":\"sha256:abc\"}", want_sha},
		/* One tag that put more than blanks in is enough; a fallback counts (the operator chose it). */
		{"{{a}}/{{b}}", "{\"alert\":{\"a\":\"x\"}}", "src:x/"},
		{"{{a|none}}/{{b}}", "{}", "src:none/"},
		{"{{a}}", "{\"alert\":{\"a\":\"\u6771\u4eac\"}}", "src:\xe6\x9d\xb1\xe4\xba\xac"},
		{"{{a}}", "{\"alert\":{\"a\":7}}", "src:7"},
		/* Punctuation from the payload is the payload's: an Alertmanager groupKey may be "{}:{}". */
		{"{{a}}/{{b}}", "{\"alert\":{\"a\":\"{}:{}\"}}", "src:{}:{}/"},
		{NULL, "{\"key\":\"{}:{}\"}", "src:{}:{}"},
		{"{{#labels}}{{alertname}}{{/labels}}", "{\"labels\":{\"alertname\":\"A\"}}", "src:A"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cg_case_spec spec = base_spec();
		spec.dedup_key = cases[i].tmpl;
		struct cg_case_draft d;
		build_ok(&spec, cases[i].event, &d);
		check_str("dedup_key", d.dedup_key, cases[i].want);
		assert_true(strlen(d.dedup_key) <= CG_DEDUP_KEY_MAX);
		cg_case_draft_cleanup(&d);
	}

	/*
	 * Keys that render empty, or whose tags put nothing but blanks in them (nothing of the
	 * alert: every such alert would share one case), are an error the caller answers with 422.
	 */
	const struct {
		const char *tmpl, *event, *want;
	} empty[] = {
		{NULL, "{}", "source 'src': dedup_key (the mapper's) rendered empty"},
		{NULL, "{\"key\":\" \\t\"}", "source 'src': dedup_key (the mapper's) rendered empty"},
		{"{{labels.missing}}", "{\"key\":\"abc\"}",
		 "source 'src': dedup_key \"{{labels.missing}}\" rendered empty (not in the payload: labels.missing)"},
		{"  \n ", "{\"key\":\"abc\"}", "source 'src': dedup_key \"  ? \" rendered empty"},
		{"{{labels.alertname}}/{{labels.instance}}", "{}",
		 "source 'src': dedup_key \"{{labels.alertname}}/{{labels.instance}}\" rendered \"/\": nothing from the "
		 "payload (not in the payload: labels.alertname, labels.instance)"},
		{"static-{{x}}", "{\"key\":\"abc\"}",
		 "source 'src': dedup_key \"static-{{x}}\" rendered \"static-\": nothing from the payload (not "
		 "in the payload: x)"},
		{"{{a}}-{{b}}", "{\"alert\":{\"a\":\" \\t\",\"b\":\"\"}}",
		 "source 'src': dedup_key \"{{a}}-{{b}}\" rendered \"-\": nothing from the payload"},
		{"{{a}}\n{{b}}", "{}",
		 "source 'src': dedup_key \"{{a}}?{{b}}\" rendered empty (not in the payload: a, b)"},
		{"{{a}}{{b}}{{c}}{{d}}{{e}}{{f}}", "{}",
		 "source 'src': dedup_key \"{{a}}{{b}}{{c}}{{d}}{{e}}{{f}}\" rendered empty (not in the payload: a, b, c, d, "
		 "...)"},
	};
	for (size_t i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
		struct cg_case_spec spec = base_spec();
		spec.dedup_key = empty[i].tmpl;
		struct cg_builder *b = builder_ok(&spec);
		struct cg_event ev;
		ev_from(&ev, empty[i].event);
		struct cg_case_draft d;
		memset(&d, 0x5a, sizeof(d)); /* must stay untouched */
		char err[512] = "";
		int rc = cg_builder_build(b, &ev, &d, err, sizeof(err));
		if (rc != CG_EINVAL) {
			print_error("empty key case %zu: got %d, want CG_EINVAL\n", i, rc);
			fail();
		}
		check_str("err", err, empty[i].want);
		assert_int_equal(((unsigned char *)&d)[0], 0x5a);
		cg_event_cleanup(&ev);
		cg_builder_destroy(b);
	}

	/* The longest source name still fits its hashed keys into CG_DEDUP_KEY_MAX. */
	char *longsrc = repeat("s", CG_SOURCE_NAME_MAX);
	struct cg_case_spec spec = base_spec();
	spec.source_name = longsrc;
	struct cg_case_draft d;
	build_ok(&spec, ev197, &d);
	if (strlen(d.dedup_key) > CG_DEDUP_KEY_MAX) {
		print_error("long source: got %zu bytes, want <= %d\n", strlen(d.dedup_key), CG_DEDUP_KEY_MAX);
		fail();
	}
	cg_case_draft_cleanup(&d);
	free(longsrc);
	free(k196);
	free(k197);
}

/* ---- titles --------------------------------------------------------------------------- */

static void test_titles(void **state)
{
	(void)state;
	char *a300 = repeat("a", 300);
	char *a246 = repeat("a", 246);
	char *e10 = repeat("\xC3\xA9", 10);
	char long_ascii[400], long_mb[400], want_ascii[300], want_mb[300];
	snprintf(long_ascii, sizeof(long_ascii), "{\"key\":\"k\",\"title\":\"%s\"}", a300);
	snprintf(want_ascii, sizeof(want_ascii), "%.*s\xE2\x80\xA6", CG_TITLE_MAX - 3, a300);
	/* 246 'a' + é...: the cut at 247 falls inside the first é. */
	snprintf(long_mb, sizeof(long_mb), "{\"key\":\"k\",\"title\":\"%s%s\"}", a246, e10);
	snprintf(want_mb, sizeof(want_mb), "%s\xE2\x80\xA6", a246);

	const struct {
		const char *tmpl, *event, *want;
	} cases[] = {
		{NULL, "{\"key\":\"k\",\"title\":\"Disk full\"}", "Disk full"},
		{NULL, "{\"key\":\"k\",\"title\":\"  Disk\\n\\n  full\\t on\\r\\n db1 \"}", "Disk full on db1"},
		{"[{{severity}}] {{labels.alertname}}\n on {{labels.instance}}",
		 "{\"key\":\"k\",\"severity\":\"critical\",\"labels\":{\"alertname\":\"HighCPU\",\"instance\":\"db1\"}}",
		 "[critical] HighCPU on db1"},
		{"{{labels.missing}}", "{\"key\":\"k\",\"title\":\"fallback\"}", "fallback"},
		{NULL, "{\"key\":\"k\"}", "src alert"},
		{NULL, "{\"key\":\"k\",\"title\":\" \\n \"}", "src alert"},
		{NULL, "{\"key\":\"k\",\"title\":\"bad \\u00ff\"}", "bad \xC3\xBF"},
		{NULL, long_ascii, want_ascii},
		{NULL, long_mb, want_mb},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cg_case_spec spec = base_spec();
		spec.title = cases[i].tmpl;
		struct cg_case_draft d;
		build_ok(&spec, cases[i].event, &d);
		check_str("title", d.title, cases[i].want);
		check_str("create title", cJSON_GetStringValue(create_attr(&d, "title")), cases[i].want);
		assert_true(strlen(d.title) <= CG_TITLE_MAX);
		cg_case_draft_cleanup(&d);
	}

	/* Invalid UTF-8 from a payload becomes U+FFFD, so the JSON body stays valid. */
	struct cg_case_spec spec = base_spec();
	struct cg_builder *b = builder_ok(&spec);
	struct cg_event ev;
	ev_from(&ev, "{\"key\":\"k\"}");
	free(ev.title);
	ev.title = strdup("bad \xFF byte");
	struct cg_case_draft d;
	char err[128];
	assert_int_equal(cg_builder_build(b, &ev, &d, err, sizeof(err)), 0);
	check_str("invalid utf-8 title", d.title, "bad \xEF\xBF\xBD byte");
	record("CaseCreateRequest", d.create);
	cg_case_draft_cleanup(&d);
	cg_event_cleanup(&ev);
	cg_builder_destroy(b);
	free(a300);
	free(a246);
	free(e10);
}

/* ---- descriptions --------------------------------------------------------------------- */

static void test_descriptions(void **state)
{
	(void)state;
	struct cg_case_spec spec = base_spec();
	struct cg_case_draft d;

	/* A template wins. */
	spec.description = "Alert {{labels.alertname}} is {{status}}.";
	build_ok(&spec, "{\"key\":\"k\",\"description\":\"mapper's\",\"labels\":{\"alertname\":\"HighCPU\"}}", &d);
	check_str("description", cJSON_GetStringValue(create_attr(&d, "description")), "Alert HighCPU is firing.");
	cg_case_draft_cleanup(&d);

	/* A template that renders blank falls back to the mapper's description. */
	spec.description = "{{annotations.missing}}\n";
	build_ok(&spec, "{\"key\":\"k\",\"description\":\"mapper's *own*\"}", &d);
	check_str("description", cJSON_GetStringValue(create_attr(&d, "description")), "mapper's *own*");
	cg_case_draft_cleanup(&d);

	/* Neither: generated Markdown from the event. */
	spec.description = NULL;
	build_ok(&spec,
		 "{\"key\":\"k\",\"status\":\"resolved\",\"severity\":\"critical\","
		 "\"starts_at\":\"2024-05-01T10:00:00Z\",\"ends_at\":\"2024-05-01T11:00:00Z\","
		 "\"labels\":{\"alertname\":\"HighCPU\",\"instance\":\"db1:9100\"},"
		 "\"annotations\":{\"summary\":\"CPU is high\",\"runbook\":\"line one\\nline two\"},"
		 "\"links\":{\"generator\":\"https://prom.example/graph?g0.expr=up(1)\",\"bogus\":\"javascript:alert(1)\"}}",
		 &d);
	const char *desc = cJSON_GetStringValue(create_attr(&d, "description"));
	static const char *const want[] = {
		"**Status:** resolved",
		"**Severity:** critical",
		"**Started:** 2024-05-01T10:00:00Z",
		"**Ended:** 2024-05-01T11:00:00Z",
		"**Labels**\n- **alertname**: `HighCPU`\n- **instance**: `db1:9100`\n",
		"**Annotations**\n- **summary**: CPU is high\n- **runbook**: line one\n  line two\n",
		"**Links**\n- [generator](https://prom.example/graph?g0.expr=up%281%29)",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		check_contains("generated description", desc, want[i]);
	if (strstr(desc, "javascript:")) {
		print_error("generated description: got \"%s\", want no non-http link\n", desc);
		fail();
	}
	cg_case_draft_cleanup(&d);

	/* A firing event has no "Ended" line even when ends_at is set (Alertmanager sends a future one). */
	build_ok(&spec, "{\"key\":\"k\",\"ends_at\":\"2024-05-01T11:00:00Z\"}", &d);
	desc = cJSON_GetStringValue(create_attr(&d, "description"));
	check_contains("description", desc, "**Status:** firing");
	assert_null(strstr(desc, "Ended"));
	cg_case_draft_cleanup(&d);

	/* Over-long descriptions are cut at CG_DESCRIPTION_MAX with an ellipsis. */
	char *big = repeat("\xE2\x82\xAC", CG_DESCRIPTION_MAX); /* 3x the limit, 3-byte chars */
	struct cg_builder *b = builder_ok(&spec);
	struct cg_event ev;
	ev_from(&ev, "{\"key\":\"k\"}");
	ev.description = big;
	char err[128];
	assert_int_equal(cg_builder_build(b, &ev, &d, err, sizeof(err)), 0);
	desc = cJSON_GetStringValue(create_attr(&d, "description"));
	size_t len = strlen(desc);
	if (len > CG_DESCRIPTION_MAX || len < CG_DESCRIPTION_MAX - 3 || strcmp(desc + len - 3, "\xE2\x80\xA6") != 0 ||
	    !valid_utf8(desc)) {
		print_error("long description: got %zu bytes, want <= %d ending in an ellipsis\n", len,
			    CG_DESCRIPTION_MAX);
		fail();
	}
	record("CaseCreateRequest", d.create);
	cg_case_draft_cleanup(&d);
	cg_event_cleanup(&ev);
	cg_builder_destroy(b);
}

/* ---- priorities ----------------------------------------------------------------------- */

static void test_priorities(void **state)
{
	(void)state;
	static const struct cg_prio_entry custom_map[] = {{"sev1", 1}, {"sev2", 2}, {"1", 5}, {"noisy", 0}};
	enum { DEFAULT_MAP, CUSTOM_MAP, EMPTY_MAP, NO_MAP };
	const struct {
		int map;
		const char *from;
		int def_set, def;
		const char *event;
		int want;
	} cases[] = {
		/* the mapper's default map, case-insensitive */
		{DEFAULT_MAP, NULL, 0, 0, "{\"key\":\"k\",\"severity\":\"critical\"}", 1},
		{DEFAULT_MAP, NULL, 0, 0, "{\"key\":\"k\",\"severity\":\"Warning\"}", 3},
		{DEFAULT_MAP, NULL, 0, 0, "{\"key\":\"k\",\"severity\":\" INFO \"}", 5},
		{DEFAULT_MAP, NULL, 0, 0, "{\"key\":\"k\",\"severity\":\"unheard-of\"}", 0},
		{DEFAULT_MAP, NULL, 0, 0, "{\"key\":\"k\"}", 0},
		{DEFAULT_MAP, NULL, 1, 4, "{\"key\":\"k\",\"severity\":\"unheard-of\"}", 4},
		{DEFAULT_MAP, NULL, 1, 4, "{\"key\":\"k\"}", 4},
		/* a rendered P-value or digit is taken as is */
		{DEFAULT_MAP, NULL, 1, 4, "{\"key\":\"k\",\"severity\":\"P2\"}", 2},
		{DEFAULT_MAP, NULL, 0, 0, "{\"key\":\"k\",\"severity\":\"3\"}", 3},
		{DEFAULT_MAP, NULL, 1, 2, "{\"key\":\"k\",\"severity\":\"NOT_DEFINED\"}", 0},
		/* a configured map replaces the default one and wins over direct values */
		{CUSTOM_MAP, NULL, 0, 0, "{\"key\":\"k\",\"severity\":\"SEV1\"}", 1},
		{CUSTOM_MAP, NULL, 0, 0, "{\"key\":\"k\",\"severity\":\"1\"}", 5},
		{CUSTOM_MAP, NULL, 0, 0, "{\"key\":\"k\",\"severity\":\"critical\"}", 0},
		{CUSTOM_MAP, NULL, 1, 3, "{\"key\":\"k\",\"severity\":\"noisy\"}", 0},
		{CUSTOM_MAP, NULL, 0, 0, "{\"key\":\"k\",\"severity\":\"p4\"}", 4},
		{EMPTY_MAP, NULL, 0, 0, "{\"key\":\"k\",\"severity\":\"critical\"}", 0},
		{NO_MAP, NULL, 1, 5, "{\"key\":\"k\",\"severity\":\"critical\"}", 5},
		/* priority_from picks another field */
		{DEFAULT_MAP, "{{labels.priority}}", 0, 0,
		 "{\"key\":\"k\",\"severity\":\"critical\",\"labels\":{\"priority\":\"low\"}}", 4},
		{CUSTOM_MAP, "sev{{alert.level}}", 0, 0, "{\"key\":\"k\",\"alert\":{\"alert\":{\"level\":\"2\"}}}", 2},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cg_case_spec spec = base_spec();
		spec.priority_from = cases[i].from;
		spec.prio_default_set = cases[i].def_set;
		spec.prio_default = cases[i].def;
		if (cases[i].map == CUSTOM_MAP) {
			spec.prio_map = custom_map;
			spec.nprio = sizeof(custom_map) / sizeof(custom_map[0]);
		} else if (cases[i].map == EMPTY_MAP) {
			spec.prio_map = custom_map;
			spec.nprio = 0;
		} else if (cases[i].map == NO_MAP) {
			spec.default_priority_map = NULL;
		}
		struct cg_case_draft d;
		build_ok(&spec, cases[i].event, &d);
		if (d.priority != cases[i].want) {
			print_error("case %zu %s: got priority %d, want %d\n", i, cases[i].event, d.priority,
				    cases[i].want);
			fail();
		}
		check_str("create priority", cJSON_GetStringValue(create_attr(&d, "priority")),
			  cg_priority_name(cases[i].want));
		cg_case_draft_cleanup(&d);
	}
}

/* ---- custom attributes ---------------------------------------------------------------- */

static void test_custom_attributes(void **state)
{
	(void)state;
	char *t_service[] = {"{{labels.service}}"};
	char *t_runbook[] = {"{{links.runbook}}"};
	char *t_badurl[] = {"{{labels.service}}"};
	char *t_count[] = {" {{labels.count}} "};
	char *t_garbage[] = {"{{labels.garbage}}"};
	char *t_hex[] = {"0x10"};
	char *t_inf[] = {"inf"};
	char *t_huge[] = {"1e999"};
	char *t_teams[] = {"{{labels.team}}", "static", "", "{{labels.missing}}"};
	char *t_nums[] = {"1", "2.5", "x", "-3e2"};
	char *t_empty_multi[] = {"{{labels.missing}}", " "};
	char *t_empty_single[] = {"{{labels.missing}}"};
	char *t_hosts[] = {"{{#hosts}}{{.}}\n{{/hosts}}"};
	char *t_urls[] = {"https://a.example/x", "ftp://b.example", "http://c.example/y"};
	const struct cg_ca_spec cas[] = {
		{"service", CG_CA_TEXT, 0, t_service, 1},
		{"runbook", CG_CA_URL, 0, t_runbook, 1},
		{"bad_url", CG_CA_URL, 0, t_badurl, 1},
		{"count", CG_CA_NUMBER, 0, t_count, 1},
		{"garbage", CG_CA_NUMBER, 0, t_garbage, 1},
		{"hex", CG_CA_NUMBER, 0, t_hex, 1},
		{"inf", CG_CA_NUMBER, 0, t_inf, 1},
		{"huge", CG_CA_NUMBER, 0, t_huge, 1},
		{"teams", CG_CA_SELECT, 1, t_teams, 4},
		{"nums", CG_CA_NUMBER, 1, t_nums, 4},
		{"empty_multi", CG_CA_TEXT, 1, t_empty_multi, 2},
		{"empty_single", CG_CA_SELECT, 0, t_empty_single, 1},
		{"hosts", CG_CA_TEXT, 1, t_hosts, 1},
		{"urls", CG_CA_URL, 1, t_urls, 3},
	};
	struct cg_case_spec spec = base_spec();
	spec.cas = cas;
	spec.ncas = sizeof(cas) / sizeof(cas[0]);
	struct cg_case_draft d;
	build_ok(&spec,
		 "{\"key\":\"k\",\"labels\":{\"service\":\"api\",\"count\":\"42.5\",\"garbage\":\"12abc\","
		 "\"team\":\"payments\"},\"links\":{\"runbook\":\"https://wiki.example/rb\"},"
		 "\"alert\":{\"hosts\":[\"db1\",\" \",\"db2\"]}}",
		 &d);
	check_json("custom_attributes", create_attr(&d, "custom_attributes"),
		   "{\"service\":{\"type\":\"TEXT\",\"is_multi\":false,\"value\":\"api\"},"
		   "\"runbook\":{\"type\":\"URL\",\"is_multi\":false,\"value\":\"https://wiki.example/rb\"},"
		   "\"count\":{\"type\":\"NUMBER\",\"is_multi\":false,\"value\":42.5},"
		   "\"teams\":{\"type\":\"SELECT\",\"is_multi\":true,\"value\":[\"payments\",\"static\"]},"
		   "\"nums\":{\"type\":\"NUMBER\",\"is_multi\":true,\"value\":[1,2.5,-300]},"
		   "\"hosts\":{\"type\":\"TEXT\",\"is_multi\":true,\"value\":[\"db1\",\"db2\"]},"
		   "\"urls\":{\"type\":\"URL\",\"is_multi\":true,\"value\":[\"https://a.example/x\",\"http://c.example/y\"]}}");
	/* What was dropped is said in notes and in the summary; blank renders are not. */
	static const char *const noted[] = {
		"custom attribute bad_url: \"api\" is not an http(s) URL; skipped",
		"custom attribute garbage: \"12abc\" is not a number; skipped",
		"custom attribute hex: \"0x10\" is not a number; skipped",
		"custom attribute inf: \"inf\" is not a number; skipped",
		"custom attribute huge: \"1e999\" is not a number; skipped",
		"custom attribute nums: \"x\" is not a number; skipped",
		"custom attribute urls: \"ftp://b.example\" is not an http(s) URL; skipped",
	};
	for (size_t i = 0; i < sizeof(noted) / sizeof(noted[0]); i++) {
		check_contains("notes", d.notes, noted[i]);
		/* In the summary a note is Markdown text like any other: escaped ("bad\_url"). */
		char *md = cg_md_str(noted[i], CG_MD_TEXT);
		assert_non_null(md);
		check_contains("summary", d.summary, md);
		free(md);
	}
	if (strstr(d.notes, "empty_")) {
		print_error("notes: got \"%s\", want nothing about blank renders\n", d.notes);
		fail();
	}
	cg_case_draft_cleanup(&d);

	/* Nothing survives: no custom_attributes key at all, no notes. */
	const struct cg_ca_spec only_empty[] = {
		{"empty_multi", CG_CA_TEXT, 1, t_empty_multi, 2},
		{"empty_single", CG_CA_NUMBER, 0, t_empty_single, 1},
	};
	spec.cas = only_empty;
	spec.ncas = 2;
	build_ok(&spec, "{\"key\":\"k\"}", &d);
	assert_null(create_attr(&d, "custom_attributes"));
	assert_null(d.notes);
	cg_case_draft_cleanup(&d);

	/* Long TEXT values are cut at CG_VALUE_MAX. */
	char *t_long[] = {"{{labels.long}}"};
	const struct cg_ca_spec long_ca[] = {{"long", CG_CA_TEXT, 0, t_long, 1}};
	spec.cas = long_ca;
	spec.ncas = 1;
	char *a2000 = repeat("a", 2000);
	char ev[2200];
	snprintf(ev, sizeof(ev), "{\"key\":\"k\",\"labels\":{\"long\":\"%s\"}}", a2000);
	build_ok(&spec, ev, &d);
	const char *v = cg_json_str(create_attr(&d, "custom_attributes"), "long.value");
	assert_non_null(v);
	assert_int_equal(strlen(v), CG_VALUE_MAX);
	cg_case_draft_cleanup(&d);
	free(a2000);
}

/* ---- attributes (labels) -------------------------------------------------------------- */

static void test_attributes(void **state)
{
	(void)state;
	char *t_env[] = {"{{labels.env}}", "prod", "  "};
	char *t_missing[] = {"{{labels.missing}}"};
	char *t_hosts[] = {"{{#hosts}}{{.}}\n{{/hosts}}", "db1"};
	const struct cg_attr_spec attrs[] = {
		{"env", t_env, 3},
		{"service", t_missing, 1},
		{"host", t_hosts, 2},
	};
	const char *event = "{\"key\":\"k\",\"labels\":{\"alertname\":\"HighCPU\",\"env\":\"prod\",\"empty\":\"\","
			    "\"team\":\" payments \"},\"alert\":{\"hosts\":[\"db1\",\"db2\"]}}";
	const struct {
		const struct cg_attr_spec *attrs;
		size_t n;
		int set;
		const char *event, *want;
	} cases[] = {
		/* not configured: labels as-is, blank values dropped */
		{NULL, 0, 0, event, "{\"alertname\":[\"HighCPU\"],\"env\":[\"prod\"],\"team\":[\"payments\"]}"},
		{NULL, 0, 0, "{\"key\":\"k\"}", NULL},
		/* configured but empty: no attributes at all */
		{NULL, 0, 1, event, NULL},
		/* configured: rendered, deduplicated, blank keys omitted */
		{attrs, 3, 1, event, "{\"env\":[\"prod\"],\"host\":[\"db1\",\"db2\"]}"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cg_case_spec spec = base_spec();
		spec.attrs = cases[i].attrs;
		spec.nattrs = cases[i].n;
		spec.attrs_set = cases[i].set;
		struct cg_case_draft d;
		build_ok(&spec, cases[i].event, &d);
		check_json("attributes", d.attributes, cases[i].want);
		cg_case_draft_cleanup(&d);
	}
}

/* ---- summaries ------------------------------------------------------------------------ */

static void test_summaries(void **state)
{
	(void)state;
	struct cg_case_spec spec = base_spec();
	struct cg_case_draft d;
	build_ok(&spec,
		 "{\"key\":\"k\",\"severity\":\"critical\",\"starts_at\":\"2024-05-01T10:00:00Z\","
		 "\"annotations\":{\"description\":\"long text\",\"summary\":\"CPU is high\"},"
		 "\"links\":{\"generator\":\"https://prom.example/g\",\"silence\":\"https://am.example/s\"}}",
		 &d);
	check_str("summary", d.summary,
		  "Severity critical \xC2\xB7 started 2024-05-01T10:00:00Z\nCPU is high\n"
		  "[generator](https://prom.example/g) \xC2\xB7 [silence](https://am.example/s)");
	assert_int_equal(d.status, CG_STATUS_FIRING);
	check_str("severity", d.severity, "critical");
	assert_null(d.notes);
	cg_case_draft_cleanup(&d);

	build_ok(&spec,
		 "{\"key\":\"k\",\"status\":\"resolved\",\"starts_at\":\"2024-05-01T10:00:00Z\","
		 "\"ends_at\":\"2024-05-01T11:00:00Z\",\"annotations\":{\"message\":\"back to normal\"}}",
		 &d);
	check_str("summary", d.summary,
		  "Started 2024-05-01T10:00:00Z \xC2\xB7 ended 2024-05-01T11:00:00Z\n"
		  "back to normal");
	assert_int_equal(d.status, CG_STATUS_RESOLVED);
	assert_null(d.severity);
	cg_case_draft_cleanup(&d);

	char *huge = repeat("word ", 2000);
	char ev[10100];
	snprintf(ev, sizeof(ev), "{\"key\":\"k\",\"annotations\":{\"summary\":\"%s\"}}", huge);
	build_ok(&spec, ev, &d);
	if (strlen(d.summary) > CG_SUMMARY_MAX) {
		print_error("summary: got %zu bytes, want <= %d\n", strlen(d.summary), CG_SUMMARY_MAX);
		fail();
	}
	if (strstr(d.summary, "FIRING"))
		fail_msg("summary: got %s, want no status word (the comment head says it)", d.summary);
	check_contains("summary", d.summary, "word word");
	cg_case_draft_cleanup(&d);
	free(huge);
}


/* ---- sender text stays text ----------------------------------------------------------- */

#define FW_AT "\xEF\xBC\xA0" /* U+FF20: what a sender's '@' becomes */

/* Fails when text has an ASCII '@' followed by a handle character other than at allowed[i]. */
static void check_no_live_mention(const char *what, const char *text, const char *const *allowed, size_t nallowed)
{
	for (const char *p = text; p && (p = strchr(p, '@')); p++) {
		char c = p[1];
		int handle = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
			     c == '-' || c == '.';
		int ok = !handle;
		for (size_t i = 0; i < nallowed && !ok; i++)
			ok = strncmp(p, allowed[i], strlen(allowed[i])) == 0;
		if (!ok) {
			print_error("%s: live mention at \"%.30s\" in \"%s\"\n", what, p, text);
			fail();
		}
	}
}

static void check_excludes(const char *what, const char *got, const char *needle)
{
	if (got && strstr(got, needle)) {
		print_error("%s: got \"%s\", want no \"%s\"\n", what, got, needle);
		fail();
	}
}

/* Length of the code span starting at p (a run of n backticks up to the next run of exactly n), or 0. */
static size_t code_span(const char *p)
{
	size_t n = strspn(p, "`");
	for (const char *q = p + n; (q = strchr(q, '`'));) {
		size_t m = strspn(q, "`");
		if (m == n)
			return (size_t)(q + m - p);
		q += m;
	}
	return 0;
}

/* Fails on a "](" outside code and not "\\](": a sender's link or image that would render as one. */
static void check_no_live_link(const char *what, const char *text, const char *dest)
{
	size_t dlen = strlen(dest);
	for (const char *p = text; p && *p; p++) {
		if (*p == '`' && (p == text || p[-1] != '\\')) {
			size_t span = code_span(p);
			p += span ? span - 1 : strspn(p, "`") - 1;
			continue;
		}
		if (strncmp(p, "](", 2) != 0)
			continue;
		if (p > text && p[-1] == '\\')
			continue;
		if (strncmp(p + 2, dest, dlen) == 0) {
			print_error("%s: live link at \"%.40s\" in \"%s\"\n", what, p, text);
			fail();
		}
	}
}

static char *body_text(const cJSON *body)
{
	char *t = cJSON_PrintUnformatted(body);
	assert_non_null(t);
	return t;
}

static void test_sender_text_neutralised(void **state)
{
	(void)state;
	/* Everything the sender controls carries mentions, links, images, HTML, backticks and hidden characters. */
	const char *event =
		"{\"key\":\"k\",\"severity\":\"crit`x @all\\u202e\",\"title\":\"Disk full @all @team-x see "
		"[login](https://evil.example/login)\",\"starts_at\":\"2024 @now\","
		"\"labels\":{\"alertname\":\"Disk full @all [login](https://evil.example/login)\","
		"\"cmd\":\"rm `x` ``y`` @all\",\"k@ey [a](https://evil.example/k)\":\"v\\u200b@team-y\"},"
		"\"annotations\":{\"summary\":\"ping @oncall-team ![x](https://evil.example/p.png) <img src=x>\"},"
		"\"links\":{\"run[b](https://evil.example)\":\"https://wiki.example/@me/rb\"}}";
	char *t_attr[] = {"{{labels.alertname}}"};
	const struct cg_attr_spec attrs[] = {{"name", t_attr, 1}};
	char *t_text[] = {"{{labels.alertname}}"};
	char *t_url[] = {"https://x.example/?q={{labels.alertname}}"};
	const struct cg_ca_spec cas[] = {{"what", CG_CA_TEXT, 0, t_text, 1}, {"where", CG_CA_URL, 0, t_url, 1}};
	static const char *const operator[] = {"@oncall-sre", "@oncall-team", "@me/"};

	/* Templates: the operator's @oncall-sre stays live, every value is neutralised. */
	struct cg_case_spec spec = base_spec();
	spec.title = "{{labels.alertname}} @oncall-sre";
	spec.description = "@oncall-sre {{annotations.summary}}\n\n{{labels.cmd}}";
	spec.attrs = attrs;
	spec.nattrs = 1;
	spec.attrs_set = 1;
	spec.cas = cas;
	spec.ncas = 2;
	struct cg_case_draft d;
	build_ok(&spec, event, &d);
	check_str("title", d.title, "Disk full " FW_AT "all [login] (https://evil.example/login) @oncall-sre");
	check_str("description", cJSON_GetStringValue(create_attr(&d, "description")),
		  "@oncall-sre ping " FW_AT "oncall-team !\\[x\\](https://evil.example/p.png) &lt;img src=x&gt;\n\n"
		  "rm \\`x\\` \\`\\`y\\`\\` " FW_AT "all");
	check_json("attributes", d.attributes, "{\"name\":[\"Disk full " FW_AT "all [login] (https://evil.example/login)\"]}");
	check_str("custom text", cJSON_GetStringValue(cg_json_path(create_attr(&d, "custom_attributes"), "what.value")),
		  "Disk full " FW_AT "all [login] (https://evil.example/login)");
	check_str("custom url", cJSON_GetStringValue(cg_json_path(create_attr(&d, "custom_attributes"), "where.value")),
		  "https://x.example/?q=Disk%20full%20%40all%20%5Blogin%5D%28https://evil.example/login%29");
	check_str("severity", d.severity, "crit'x " FW_AT "all");
	char *create = body_text(d.create);
	check_no_live_mention("create", create, operator, 3);
	cg_case_draft_cleanup(&d);
	free(create);

	/* No templates: the mapper's title, generated description, labels as attributes, summary. */
	spec = base_spec();
	build_ok(&spec, event, &d);
	check_str("title", d.title, "Disk full " FW_AT "all " FW_AT "team-x see [login] (https://evil.example/login)");
	const char *desc = cJSON_GetStringValue(create_attr(&d, "description"));
	/* A label value in a code span: a fence longer than its runs of backticks. */
	check_contains("description", desc, "- **cmd**: ```rm `x` ``y`` " FW_AT "all```\n");
	check_contains("description", desc, "- **k" FW_AT "ey \\[a\\](https://evil.example/k)**: `v" FW_AT "team-y`\n");
	check_contains("description", desc, "**Started:** 2024 " FW_AT "now");
	check_contains("description", desc, "- [run\\[b\\](https://evil.example)](https://wiki.example/%40me/rb)");
	check_excludes("description", desc, "\xE2\x80\x8B");
	check_no_live_link("description", desc, "https://evil");
	check_json("attributes", d.attributes,
		   "{\"alertname\":[\"Disk full " FW_AT "all [login] (https://evil.example/login)\"],"
		   "\"cmd\":[\"rm `x` ``y`` " FW_AT "all\"],\"k" FW_AT "ey [a] (https://evil.example/k)\":[\"v" FW_AT
		   "team-y\"]}");
	check_str("summary", d.summary,
		  "Severity crit\\`x " FW_AT "all \xC2\xB7 started 2024 " FW_AT "now\n"
		  "ping " FW_AT "oncall-team !\\[x\\](https://evil.example/p.png) &lt;img src=x&gt;\n"
		  "[run\\[b\\](https://evil.example)](https://wiki.example/%40me/rb)");
	create = body_text(d.create);
	char *attrs_body = body_text(d.attributes);
	check_no_live_mention("create", create, NULL, 0);
	check_no_live_mention("attributes", attrs_body, NULL, 0);
	check_no_live_link("attributes", attrs_body, "https://evil");
	check_no_live_mention("summary", d.summary, NULL, 0);
	cJSON *comment = cg_body_comment("**Still firing**\nping @all");
	char *comment_body = body_text(comment);
	check_contains("comment", comment_body, "ping " FW_AT "all");
	cJSON_Delete(comment);
	free(comment_body);
	free(attrs_body);
	free(create);
	cg_case_draft_cleanup(&d);

	/* The mapper's own description: kept as Markdown (it neutralised its values), mentions go anyway;
	 * inserted through {{description}} it is not escaped twice. */
	const char *mapped = "{\"key\":\"k\",\"description\":\"**Summary:** \\\\[x\\\\] @all\\u2066\","
			     "\"annotations\":{\"summary\":\"*s*\"}}";
	build_ok(&spec, mapped, &d);
	check_str("description", cJSON_GetStringValue(create_attr(&d, "description")),
		  "**Summary:** \\[x\\] " FW_AT "all");
	cg_case_draft_cleanup(&d);
	spec.description = "@oncall-sre {{description}} / {{annotations.summary}} / {{{annotations.summary}}}";
	build_ok(&spec, mapped, &d);
	check_str("description", cJSON_GetStringValue(create_attr(&d, "description")),
		  "@oncall-sre **Summary:** \\[x\\] " FW_AT "all / \\*s\\* / *s*");
	cg_case_draft_cleanup(&d);
}

/* ---- the whole create body ------------------------------------------------------------ */

static void test_create_body(void **state)
{
	(void)state;
	char *t_sev[] = {"{{severity}}"};
	const struct cg_ca_spec cas[] = {{"sev", CG_CA_SELECT, 0, t_sev, 1}};
	struct cg_case_spec spec = base_spec();
	spec.title = "{{title}}";
	spec.description = "see {{links.generator}}";
	spec.cas = cas;
	spec.ncas = 1;
	struct cg_case_draft d;
	build_ok(&spec,
		 "{\"key\":\"k\",\"title\":\"Disk full\",\"severity\":\"error\","
		 "\"links\":{\"generator\":\"https://g.example\"}}",
		 &d);
	check_json("create", d.create,
		   "{\"data\":{\"type\":\"case\",\"attributes\":{\"title\":\"Disk full\","
		   "\"type_id\":\"3b010bde-09ce-4449-b745-71dd5f861963\",\"priority\":\"P2\","
		   "\"description\":\"see https://g.example\","
		   "\"custom_attributes\":{\"sev\":{\"type\":\"SELECT\",\"is_multi\":false,\"value\":\"error\"}}},"
		   "\"relationships\":{\"project\":{\"data\":{\"id\":\"e555e290-ed65-49bd-ae18-8acbfcf18db7\","
		   "\"type\":\"project\"}}}}}");
	cg_case_draft_cleanup(&d);
}

/* ---- builder creation errors ---------------------------------------------------------- */

static void test_create_errors(void **state)
{
	(void)state;
	char *one[] = {"x"};
	char *two[] = {"x", "y"};
	char *bad[] = {"{{#open}}"};
	const struct cg_ca_spec dup[] = {{"a", CG_CA_TEXT, 0, one, 1}, {"a", CG_CA_TEXT, 0, one, 1}};
	const struct cg_ca_spec single_two[] = {{"a", CG_CA_TEXT, 0, two, 2}};
	const struct cg_ca_spec none[] = {{"a", CG_CA_TEXT, 1, NULL, 0}};
	const struct cg_ca_spec bad_ca[] = {{"a", CG_CA_TEXT, 1, bad, 1}};
	const struct cg_attr_spec bad_attr[] = {{"team", bad, 1}};
	const struct cg_prio_entry bad_prio[] = {{"x", 7}};
	enum { TITLE, DESC, DEDUP, FROM, NOPROJ, NOTYPE, NOSRC, LONGSRC, DEFMAP, DEFMAP2, PRIO, DEF, DUP, SINGLE2,
	       NONE, BADCA, BADATTR };
	const struct {
		int what;
		const char *want; /* err prefix */
	} cases[] = {
		{TITLE, "title: line 1"},
		{DESC, "description: line "},
		{DEDUP, "dedup_key: line 1"},
		{FROM, "priority_from: line 1"},
		{NOPROJ, "project is required"},
		{NOTYPE, "case_type is required"},
		{NOSRC, "source_name is required"},
		{LONGSRC, "source_name longer than"},
		{DEFMAP, "default_priority_map: bad entry \"critical=P9\""},
		{DEFMAP2, "default_priority_map: bad entry \"critical\""},
		{PRIO, "priority map entry 0 invalid"},
		{DEF, "priority default 9 out of range"},
		{DUP, "custom_attributes.a: given twice"},
		{SINGLE2, "custom_attributes.a: a single-value attribute takes one value"},
		{NONE, "custom_attributes.a: no value"},
		{BADCA, "custom_attributes.a[0]: line 1"},
		{BADATTR, "attributes.team[0]: line 1"},
	};
	char *longsrc = repeat("s", CG_SOURCE_NAME_MAX + 1);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cg_case_spec s = base_spec();
		switch (cases[i].what) {
		case TITLE: s.title = "{{#open}} never closed"; break;
		case DESC: s.description = "ok\n{{#a}}\n"; break;
		case DEDUP: s.dedup_key = "{{/nothing}}"; break;
		case FROM: s.priority_from = "{{#x}}"; break;
		case NOPROJ: s.project = ""; break;
		case NOTYPE: s.case_type = NULL; break;
		case NOSRC: s.source_name = NULL; break;
		case LONGSRC: s.source_name = longsrc; break;
		case DEFMAP: s.default_priority_map = "warning=P3,critical=P9"; break;
		case DEFMAP2: s.default_priority_map = "critical"; break;
		case PRIO: s.prio_map = bad_prio; s.nprio = 1; break;
		case DEF: s.prio_default_set = 1; s.prio_default = 9; break;
		case DUP: s.cas = dup; s.ncas = 2; break;
		case SINGLE2: s.cas = single_two; s.ncas = 1; break;
		case NONE: s.cas = none; s.ncas = 1; break;
		case BADCA: s.cas = bad_ca; s.ncas = 1; break;
		case BADATTR: s.attrs = bad_attr; s.nattrs = 1; s.attrs_set = 1; break;
		}
		struct cg_builder *b = (struct cg_builder *)0x1;
		char err[256] = "";
		int rc = cg_builder_create(&s, &b, err, sizeof(err));
		if (rc != CG_EINVAL || strncmp(err, cases[i].want, strlen(cases[i].want)) != 0) {
			print_error("case %zu: got %d \"%s\", want CG_EINVAL \"%s...\"\n", i, rc, err, cases[i].want);
			fail();
		}
		assert_ptr_equal(b, (struct cg_builder *)0x1); /* out untouched */
	}
	free(longsrc);
	cg_builder_destroy(NULL);
	cg_case_draft_cleanup(NULL);
}

/* ---- follow-up bodies ----------------------------------------------------------------- */

static void test_followup_bodies(void **state)
{
	(void)state;
	const struct {
		cJSON *body;
		const char *schema, *want;
	} cases[] = {
		{cg_body_comment("hello **world**"), "CaseCommentRequest",
		 "{\"data\":{\"type\":\"case\",\"attributes\":{\"comment\":\"hello **world**\"}}}"},
		{cg_body_status(NULL), "CaseUpdateStatusRequest",
		 "{\"data\":{\"type\":\"case\",\"attributes\":{\"status\":\"CLOSED\"}}}"},
		{cg_body_status(""), "CaseUpdateStatusRequest",
		 "{\"data\":{\"type\":\"case\",\"attributes\":{\"status\":\"CLOSED\"}}}"},
		{cg_body_status("Resolved"), "CaseUpdateStatusRequest",
		 "{\"data\":{\"type\":\"case\",\"attributes\":{\"status_name\":\"Resolved\"}}}"},
		{cg_body_reopen(NULL), "CaseUpdateStatusRequest",
		 "{\"data\":{\"type\":\"case\",\"attributes\":{\"status\":\"OPEN\"}}}"},
		{cg_body_reopen("Triage"), "CaseUpdateStatusRequest",
		 "{\"data\":{\"type\":\"case\",\"attributes\":{\"status_name\":\"Triage\"}}}"},
		{cg_body_priority(3), "CaseUpdatePriorityRequest",
		 "{\"data\":{\"type\":\"case\",\"attributes\":{\"priority\":\"P3\"}}}"},
		{cg_body_priority(0), "CaseUpdatePriorityRequest",
		 "{\"data\":{\"type\":\"case\",\"attributes\":{\"priority\":\"NOT_DEFINED\"}}}"},
		{cg_body_priority(42), "CaseUpdatePriorityRequest",
		 "{\"data\":{\"type\":\"case\",\"attributes\":{\"priority\":\"NOT_DEFINED\"}}}"},
		{cg_body_attributes(NULL), "CaseUpdateAttributesRequest",
		 "{\"data\":{\"type\":\"case\",\"attributes\":{\"attributes\":{}}}}"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		check_json(cases[i].schema, cases[i].body, cases[i].want);
		record(cases[i].schema, cases[i].body);
		cJSON_Delete(cases[i].body);
	}

	cJSON *attrs = cJSON_Parse("{\"env\":[\"prod\"],\"team\":[\"a\",\"b\"]}");
	cJSON *body = cg_body_attributes(attrs);
	cJSON_Delete(attrs); /* duplicated: the body must not depend on it */
	check_json("attributes", body,
		   "{\"data\":{\"type\":\"case\",\"attributes\":{\"attributes\":{\"env\":[\"prod\"],\"team\":[\"a\",\"b\"]}}}}");
	record("CaseUpdateAttributesRequest", body);
	cJSON_Delete(body);

	/* Comments are cut at CG_COMMENT_MAX; invalid bytes replaced. */
	char *big = repeat("\xC3\xA9", CG_COMMENT_MAX);
	body = cg_body_comment(big);
	const char *c = cg_json_str(body, "data.attributes.comment");
	assert_non_null(c);
	if (strlen(c) > CG_COMMENT_MAX || !valid_utf8(c)) {
		print_error("comment: got %zu bytes, want valid UTF-8 <= %d\n", strlen(c), CG_COMMENT_MAX);
		fail();
	}
	record("CaseCommentRequest", body);
	cJSON_Delete(body);
	free(big);
	body = cg_body_comment("x\xFFy");
	check_str("comment", cg_json_str(body, "data.attributes.comment"), "x\xEF\xBF\xBDy");
	cJSON_Delete(body);
}

/* ---- through the generic mapper ------------------------------------------------------- */

static void test_generic_mapper(void **state)
{
	(void)state;
	const struct cg_mapper *m = cg_mapper_find("generic");
	assert_non_null(m);
	char hex[65];
	const char *nokey = "{\"title\":\"No id\",\"severity\":\"low\"}";
	cJSON *p = cJSON_Parse(nokey);
	char *text = cJSON_PrintUnformatted(p);
	cg_sha256_hex(text, strlen(text), hex);
	cJSON_free(text);
	cJSON_Delete(p);
	char want_nokey[128];
	snprintf(want_nokey, sizeof(want_nokey), "gen:%s", hex);

	const struct {
		const char *payload, *dedup_tmpl, *key, *title;
		int prio;
		enum cg_alert_status status;
		const char *attrs;
	} cases[] = {
		{"{\"id\":\"42\",\"title\":\"Disk full\",\"severity\":\"critical\",\"labels\":{\"host\":\"db1\"},"
		 "\"annotations\":{\"summary\":\"disk at 99%\"}}",
		 NULL, "gen:42", "Disk full", 1, CG_STATUS_FIRING, "{\"host\":[\"db1\"]}"},
		{"{\"fingerprint\":\"abc\",\"status\":\"resolved\",\"severity\":\"WARNING\"}", NULL, "gen:abc",
		 "gen alert", 3, CG_STATUS_RESOLVED, NULL},
		{"{\"check\":{\"name\":\"ping\",\"host\":\"web-1\"},\"state\":\"OK\",\"title\":\"Ping\"}",
		 "{{check.name}}@{{check.host}}", "gen:ping@web-1", "Ping", 0, CG_STATUS_RESOLVED, NULL},
		{nokey, NULL, want_nokey, "No id", 4, CG_STATUS_FIRING, NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cJSON *payload = cJSON_Parse(cases[i].payload);
		assert_non_null(payload);
		struct cg_event_list list;
		cg_event_list_init(&list);
		struct cg_map_opts opts = {0};
		char err[256] = "";
		assert_int_equal(m->map(payload, &opts, &list, err, sizeof(err)), 0);
		assert_int_equal(list.n, 1);

		struct cg_case_spec spec = base_spec();
		spec.source_name = "gen";
		spec.dedup_key = cases[i].dedup_tmpl;
		spec.default_priority_map = m->default_priority_map;
		struct cg_builder *b = builder_ok(&spec);
		struct cg_case_draft d;
		int rc = cg_builder_build(b, &list.v[0], &d, err, sizeof(err));
		if (rc)
			print_error("build(%s): got %d (%s), want 0\n", cases[i].payload, rc, err);
		assert_int_equal(rc, 0);
		check_str("key", d.dedup_key, cases[i].key);
		check_str("title", d.title, cases[i].title);
		if (d.priority != cases[i].prio || d.status != cases[i].status) {
			print_error("%s: got prio %d status %d, want %d %d\n", cases[i].payload, d.priority, d.status,
				    cases[i].prio, cases[i].status);
			fail();
		}
		check_json("attributes", d.attributes, cases[i].attrs);
		record("CaseCreateRequest", d.create);
		cg_case_draft_cleanup(&d);
		cg_builder_destroy(b);
		cg_event_list_cleanup(&list);
		cJSON_Delete(payload);
	}
}

/* A hand-built event without ctx still renders the normalised fields. */
static void test_event_without_ctx(void **state)
{
	(void)state;
	struct cg_case_spec spec = base_spec();
	spec.title = "{{severity}}: {{title}}";
	struct cg_builder *b = builder_ok(&spec);
	struct cg_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.dedup_key = strdup("k");
	ev.severity = strdup("warning");
	ev.title = strdup("Slow");
	struct cg_case_draft d;
	char err[128];
	assert_int_equal(cg_builder_build(b, &ev, &d, err, sizeof(err)), 0);
	check_str("title", d.title, "warning: Slow");
	assert_int_equal(d.priority, 3);
	assert_null(ev.ctx);
	cg_case_draft_cleanup(&d);
	cg_event_cleanup(&ev);
	cg_builder_destroy(b);
}

/* Real payloads from ../shared/fixtures through the generic mapper: bodies must stay valid. */
static void test_shared_fixtures(void **state)
{
	(void)state;
	const char *shared = getenv("CG_SHARED_DIR");
	char root[512];
	snprintf(root, sizeof(root), "%s/fixtures", shared ? shared : "");
	DIR *top = shared ? opendir(root) : NULL;
	if (!top)
		cg_h_skip("shared", "%s not found (CG_SHARED_DIR)", root);
	const struct cg_mapper *m = cg_mapper_find("generic");
	struct cg_case_spec spec = base_spec();
	spec.source_name = "fixture";
	int built = 0;
	struct dirent *de;
	while ((de = readdir(top))) {
		if (de->d_name[0] == '.')
			continue;
		char sub[800];
		snprintf(sub, sizeof(sub), "%s/%s", root, de->d_name);
		DIR *d = opendir(sub);
		if (!d)
			continue;
		struct dirent *fe;
		while ((fe = readdir(d))) {
			size_t n = strlen(fe->d_name);
			if (n < 5 || strcmp(fe->d_name + n - 5, ".json") != 0)
				continue;
			char path[1200];
			snprintf(path, sizeof(path), "%s/%s", sub, fe->d_name);
			FILE *f = fopen(path, "rb");
			assert_non_null(f);
			static char buf[1 << 20];
			size_t len = fread(buf, 1, sizeof(buf) - 1, f);
			fclose(f);
			buf[len] = '\0';
			cJSON *payload = cJSON_Parse(buf);
			if (!cJSON_IsObject(payload)) {
				cJSON_Delete(payload);
				continue;
			}
			struct cg_event_list list;
			cg_event_list_init(&list);
			struct cg_map_opts opts = {0};
			char err[256] = "";
			assert_int_equal(m->map(payload, &opts, &list, err, sizeof(err)), 0);
			struct cg_builder *b = builder_ok(&spec);
			for (size_t i = 0; i < list.n; i++) {
				struct cg_case_draft dr;
				int rc = cg_builder_build(b, &list.v[i], &dr, err, sizeof(err));
				if (rc)
					print_error("%s: got %d (%s), want 0\n", path, rc, err);
				assert_int_equal(rc, 0);
				assert_true(strlen(dr.title) <= CG_TITLE_MAX && valid_utf8(dr.title));
				assert_true(strlen(dr.dedup_key) <= CG_DEDUP_KEY_MAX);
				record("CaseCreateRequest", dr.create);
				built++;
				cg_case_draft_cleanup(&dr);
			}
			cg_builder_destroy(b);
			cg_event_list_cleanup(&list);
			cJSON_Delete(payload);
		}
		closedir(d);
	}
	closedir(top);
	assert_true(built > 0);
}

/* ---- contract: every body above against the OpenAPI schema --------------------------- */

static void test_contract_bodies(void **state)
{
	(void)state;
	const char *shared = getenv("CG_SHARED_DIR");
	char spec[512];
	snprintf(spec, sizeof(spec), "%s/contracts/datadog-cases-openapi.yaml", shared ? shared : "");
	struct stat st;
	if (!shared || stat(spec, &st) != 0)
		cg_h_skip("shared", "%s not found (CG_SHARED_DIR)", spec);
	if (access("/usr/bin/python3", X_OK) != 0)
		cg_h_skip("python3", "/usr/bin/python3 missing: bodies not validated");
	const char *src = getenv("CG_SOURCE_DIR");
	if (!src)
		src = CG_SOURCE_DIR;
	char script[512];
	snprintf(script, sizeof(script), "%s/tests/contract/validate_bodies.py", src);
	assert_true(nbodies > 0);

	char **argv = calloc((size_t)nbodies * 2 + 5, sizeof(*argv));
	assert_non_null(argv);
	int a = 0;
	argv[a++] = "/usr/bin/python3";
	argv[a++] = script;
	argv[a++] = "--spec";
	argv[a++] = spec;
	for (int i = 0; i < nbodies; i++) {
		argv[a++] = (char *)body_schema[i];
		argv[a++] = body_path[i];
	}
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* Only failures matter on the console. */
		if (!freopen("/dev/null", "w", stdout))
			_exit(3);
		execv(argv[0], argv);
		_exit(127);
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	free(argv);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77) /* its CASEGATE-SKIP line went to /dev/null with the rest */
		cg_h_skip("python3-jsonschema", "validate_bodies.py skipped (python3-jsonschema or python3-yaml missing)");
	if (WEXITSTATUS(status) != 0) {
		/* Run again with output so the failing bodies are visible. */
		print_error("validate_bodies.py: got exit %d, want 0 (bodies in %s)\n", WEXITSTATUS(status), body_dir);
		char cmd[2400];
		snprintf(cmd, sizeof(cmd), "/usr/bin/python3 '%s' --spec '%s' $(cd '%s' && for f in *.json; do "
					   "s=${f#*-}; echo ${s%%.json} '%s'/$f; done) | grep -v '^ok'",
			 script, spec, body_dir, body_dir);
		if (system(cmd) == -1)
			print_error("could not rerun the validator\n");
		body_dir[0] = '\0'; /* keep the files for inspection */
		fail();
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_priority_names),
		cmocka_unit_test(test_ca_types),
		cmocka_unit_test(test_sha256),
		cmocka_unit_test(test_utf8_truncate),
		cmocka_unit_test(test_utf8_sanitize),
		cmocka_unit_test(test_dedup_keys),
		cmocka_unit_test(test_titles),
		cmocka_unit_test(test_descriptions),
		cmocka_unit_test(test_priorities),
		cmocka_unit_test(test_custom_attributes),
		cmocka_unit_test(test_attributes),
		cmocka_unit_test(test_summaries),
		cmocka_unit_test(test_sender_text_neutralised),
		cmocka_unit_test(test_create_body),
		cmocka_unit_test(test_create_errors),
		cmocka_unit_test(test_followup_bodies),
		cmocka_unit_test(test_generic_mapper),
		cmocka_unit_test(test_event_without_ctx),
		cmocka_unit_test(test_shared_fixtures),
		cmocka_unit_test(test_contract_bodies),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
