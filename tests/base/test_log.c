/* test_log.c: log records: JSON shape (ts, level, component, source, dedup_key, case, msg), text form, levels. */
/* labels: unit */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#define CG_LOG_COMPONENT "testcomp"
#include "log.h"

static FILE *cap;

static int setup(void **state)
{
	(void)state;
	cap = tmpfile();
	assert_non_null(cap);
	cg_log_set_output(cap);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	cg_log_set_output(NULL);
	cg_log_setup(CG_LOG_LEVEL_INFO, CG_LOG_TEXT);
	fclose(cap);
	return 0;
}

/* Everything written so far, then the capture starts empty again. */
static char *take(void)
{
	fflush(cap);
	long n = ftell(cap);
	char *buf = calloc(1, (size_t)n + 1);
	assert_non_null(buf);
	rewind(cap);
	size_t got = fread(buf, 1, (size_t)n, cap);
	buf[got] = '\0';
	rewind(cap);
	assert_int_equal(ftruncate(fileno(cap), 0), 0);
	return buf;
}

static const char *str(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void check_str(const cJSON *o, const char *k, const char *want)
{
	const char *got = str(o, k);
	if ((got == NULL) != (want == NULL) || (got && strcmp(got, want) != 0))
		fail_msg("field %s: got %s, want %s", k, got ? got : "(absent)", want ? want : "(absent)");
}

static void test_json_event_shape(void **state)
{
	(void)state;
	cg_log_setup(CG_LOG_LEVEL_DEBUG, CG_LOG_JSON);
	CG_LOG_EV(CG_LOG_LEVEL_WARN, "am", "am:HighLatency/web-1", "PROJ-12", "retry in %d ms: %s", 250,
		  "HTTP 503: \"busy\"\nline two");
	char *out = take();
	size_t len = strlen(out);
	assert_true(len > 0 && out[len - 1] == '\n');
	if (strchr(out, '\n') != out + len - 1)
		fail_msg("got several lines for one record: %s", out);
	cJSON *o = cJSON_Parse(out);
	if (!cJSON_IsObject(o))
		fail_msg("got %s, want one JSON object", out);
	check_str(o, "level", "warn");
	check_str(o, "component", "testcomp");
	check_str(o, "source", "am");
	check_str(o, "dedup_key", "am:HighLatency/web-1");
	check_str(o, "case", "PROJ-12");
	check_str(o, "msg", "retry in 250 ms: HTTP 503: \"busy\"\nline two");
	const char *ts = str(o, "ts");
	/* 2024-05-01T12:00:00.123Z */
	if (!ts || strlen(ts) != 24 || ts[4] != '-' || ts[10] != 'T' || ts[19] != '.' || ts[23] != 'Z')
		fail_msg("ts: got %s, want RFC 3339 UTC with milliseconds", ts ? ts : "(absent)");
	/* Exactly these fields, nothing else. */
	int n = cJSON_GetArraySize(o);
	if (n != 7)
		fail_msg("fields: got %d, want 7", n);
	cJSON_Delete(o);
	free(out);
}

static void test_json_unknown_fields_left_out(void **state)
{
	(void)state;
	cg_log_setup(CG_LOG_LEVEL_INFO, CG_LOG_JSON);
	CG_LOG_EV(CG_LOG_LEVEL_INFO, "grafana", NULL, NULL, "ignored: %s", "no alerts");
	CG_LOG_INFO("plain %s", "record");
	char *out = take();
	char *nl = strchr(out, '\n');
	assert_non_null(nl);
	*nl = '\0';
	cJSON *a = cJSON_Parse(out), *b = cJSON_Parse(nl + 1);
	assert_non_null(a);
	assert_non_null(b);
	check_str(a, "source", "grafana");
	check_str(a, "dedup_key", NULL);
	check_str(a, "case", NULL);
	check_str(a, "msg", "ignored: no alerts");
	check_str(b, "source", NULL);
	check_str(b, "level", "info");
	check_str(b, "msg", "plain record");
	cJSON_Delete(a);
	cJSON_Delete(b);
	free(out);
}

static void test_text_form(void **state)
{
	(void)state;
	cg_log_setup(CG_LOG_LEVEL_INFO, CG_LOG_TEXT);
	CG_LOG_EV(CG_LOG_LEVEL_ERR, "am", "am:k", NULL, "dead letter (HTTP %d)", 400);
	char *out = take();
	if (!strstr(out, " error [testcomp] source=am key=am:k dead letter (HTTP 400)\n"))
		fail_msg("got %s", out);
	free(out);
}

static void test_levels(void **state)
{
	(void)state;
	cg_log_setup(CG_LOG_LEVEL_WARN, CG_LOG_JSON);
	CG_LOG_INFO("hidden");
	CG_LOG_DEBUG("hidden");
	CG_LOG_EV(CG_LOG_LEVEL_INFO, "s", "k", "c", "hidden");
	CG_LOG_WARN("shown");
	CG_LOG_ERR("shown too");
	char *out = take();
	if (strstr(out, "hidden") || !strstr(out, "\"msg\":\"shown\"") || !strstr(out, "\"level\":\"error\""))
		fail_msg("level warn: got %s", out);
	free(out);
	enum cg_log_level l;
	assert_int_equal(cg_log_level_parse("debug", &l), 0);
	assert_int_equal(l, CG_LOG_LEVEL_DEBUG);
	assert_int_not_equal(cg_log_level_parse("verbose", &l), 0);
}


/* Counts the '\n' in s. */
static int lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void test_text_values_escaped(void **state)
{
	(void)state;
	cg_log_setup(CG_LOG_LEVEL_INFO, CG_LOG_TEXT);
	/* A dedup key and a message trying to write a second, fake record and colour the terminal. */
	const char *key = "am:x\n2026-01-01T00:00:00.000Z info  [intake] fake \x1b[31mred\r";
	CG_LOG_EV(CG_LOG_LEVEL_WARN, "am", key, NULL, "rejected: %s", "bad\npayload\x1b]0;title\x07 \\n");
	char *out = take();
	if (lines(out) != 1)
		fail_msg("got %d lines, want 1: %s", lines(out), out);
	if (strchr(out, '\x1b') || strchr(out, '\r') || strchr(out, '\x07'))
		fail_msg("got a raw control character: %s", out);
	/* The key holds spaces: quoted, so "[intake] fake" cannot pose as the record's own fields. */
	if (!strstr(out, " warn  [testcomp] source=am key=\"am:x\\n2026-01-01T00:00:00.000Z info  [intake] fake "
			 "\\x1b[31mred\\r\" rejected: bad\\npayload\\x1b]0;title\\x07 \\\\n\n"))
		fail_msg("got %s", out);
	free(out);

	/* Bidi, zero-width, C1 and line separators become visible; other UTF-8 stays; stray bytes are \xHH. */
	CG_LOG_EV(CG_LOG_LEVEL_INFO, "s", "a\xE2\x80\xAE" "b\xE2\x80\x8B" "c\xC2\x85" "d\xE2\x80\xA8" "e", "c=1",
		  "Gr\xC3\xBC\xC3\x9F" "e \xFF\xC3 \xE2\x81\xA6x");
	out = take();
	if (!strstr(out, "] source=s key=a\\u202eb\\u200bc\\u0085d\\u2028e case=\"c=1\" Gr\xC3\xBC\xC3\x9F"
			 "e \\xff\\xc3 \\u2066x\n"))
		fail_msg("got %s", out);
	free(out);

	/* An empty value and a quote inside a quoted value. */
	CG_LOG_EV(CG_LOG_LEVEL_INFO, "s", "", "say \"hi\"", "m");
	out = take();
	if (!strstr(out, "] source=s key=\"\" case=\"say \\\"hi\\\"\" m\n"))
		fail_msg("got %s", out);
	free(out);

	/* A long message of control characters is cut between escapes, still one line. */
	char big[2000];
	memset(big, '\x01', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CG_LOG_EV(CG_LOG_LEVEL_INFO, "s", big, big, "%s%s%s%s", big, big, big, big);
	out = take();
	size_t len = strlen(out);
	if (lines(out) != 1 || len < 8000 || strcmp(out + len - 4, "...\n") != 0)
		fail_msg("got %d lines, %zu bytes ending \"%s\"", lines(out), len, len > 8 ? out + len - 8 : out);
	free(out);

	/* JSON records carry values as JSON strings (escaped by cJSON): unchanged. */
	cg_log_setup(CG_LOG_LEVEL_INFO, CG_LOG_JSON);
	CG_LOG_EV(CG_LOG_LEVEL_INFO, "s", key, NULL, "m");
	out = take();
	assert_int_equal(lines(out), 1);
	cJSON *o = cJSON_Parse(out);
	assert_non_null(o);
	check_str(o, "dedup_key", key);
	cJSON_Delete(o);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_json_event_shape, setup, teardown),
		cmocka_unit_test_setup_teardown(test_json_unknown_fields_left_out, setup, teardown),
		cmocka_unit_test_setup_teardown(test_text_form, setup, teardown),
		cmocka_unit_test_setup_teardown(test_levels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_text_values_escaped, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
