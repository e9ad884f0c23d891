/* test_sources_conf.c: the tool-side files casegate ships (Zabbix media type, Kibana body) agree with their mappers. */
/* labels: mapper */
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
#include "event.h"
#include "registry.h"

static char *slurp(const char *rel)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", CG_SOURCE_DIR, rel);
	FILE *f = fopen(path, "rb");
	if (!f) {
		print_error("%s: got no such file, want it shipped\n", path);
		return NULL;
	}
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	if (buf)
		buf[n] = '\0';
	fclose(f);
	return buf;
}

/* The YAML literal block under "      script: |" with its 8-space indent removed. */
static char *yaml_script(const char *yaml)
{
	const char *p = strstr(yaml, "\n      script: |\n");
	if (!p)
		return NULL;
	p += strlen("\n      script: |\n");
	size_t cap = strlen(p) + 1, len = 0;
	char *out = malloc(cap);
	if (!out)
		return NULL;
	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t n = eol ? (size_t)(eol - p) : strlen(p);
		if (n > 0 && strncmp(p, "        ", n < 8 ? n : 8) != 0)
			break; /* the next key of the media type */
		if (n >= 8) {
			memcpy(out + len, p + 8, n - 8);
			len += n - 8;
		}
		out[len++] = '\n';
		p = eol ? eol + 1 : p + n;
	}
	/* A literal block keeps one final newline (clip); blank lines before the next key are not part of it. */
	while (len > 1 && out[len - 1] == '\n' && out[len - 2] == '\n')
		len--;
	out[len] = '\0';
	return out;
}

static void test_zabbix_media_type(void **state)
{
	(void)state;
	char *yaml = slurp("conf/zabbix/media_casegate.yaml");
	char *js = slurp("conf/zabbix/casegate.js");
	assert_non_null(yaml);
	assert_non_null(js);
	char *script = yaml_script(yaml);
	assert_non_null(script);
	if (strcmp(script, js) != 0)
		print_error(
		    "media_casegate.yaml script: got a copy that differs from casegate.js, want the same text\n");
	assert_string_equal(script, js);
	/* Every field the mapper reads is a parameter, fed by the macro the mapper expects. */
	static const char *const params[][2] = {
	    {"event_id", "{EVENT.ID}"},
	    {"event_value", "{EVENT.VALUE}"},
	    {"event_update_status", "{EVENT.UPDATE.STATUS}"},
	    {"event_update_action", "{EVENT.UPDATE.ACTION}"},
	    {"event_nseverity", "{EVENT.NSEVERITY}"},
	    {"event_severity", "{EVENT.SEVERITY}"},
	    {"event_source", "{EVENT.SOURCE}"},
	    {"event_tags", "{EVENT.TAGSJSON}"},
	    {"trigger_id", "{TRIGGER.ID}"},
	    {"host_name", "{HOST.NAME}"},
	    {"zabbix_url", "{$ZABBIX.URL}"},
	    {"casegate_url", "https://"},
	    {"casegate_token", "<put your token>"},
	};
	for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
		char want[256];
		snprintf(want, sizeof(want), "- name: %s\n          value: '%s", params[i][0], params[i][1]);
		if (!strstr(yaml, want))
			print_error("media_casegate.yaml: got no parameter %s = %s, want one\n", params[i][0],
			            params[i][1]);
		assert_non_null(strstr(yaml, want));
	}
	free(script);
	free(yaml);
	free(js);
}

/* Renders the body as Kibana would: every {{var}} replaced by vals (or "" when not listed, as Mustache does). */
static char *render(const char *tmpl, const char *const vals[][2], size_t nvals)
{
	size_t cap = strlen(tmpl) * 4 + 1024, len = 0;
	char *out = malloc(cap);
	assert_non_null(out);
	for (const char *p = tmpl; *p;) {
		if (p[0] == '{' && p[1] == '{') {
			const char *end = strstr(p, "}}");
			assert_non_null(end);
			const char *val = "";
			for (size_t i = 0; i < nvals; i++)
				if (strlen(vals[i][0]) == (size_t)(end - p - 2) &&
				    strncmp(vals[i][0], p + 2, (size_t)(end - p - 2)) == 0)
					val = vals[i][1];
			assert_true(len + strlen(val) < cap);
			memcpy(out + len, val, strlen(val));
			len += strlen(val);
			p = end + 2;
			continue;
		}
		assert_true(len + 1 < cap);
		out[len++] = *p++;
	}
	out[len] = '\0';
	return out;
}

static void map_kibana_text(const char *text, struct cg_event_list *out)
{
	cJSON *p = cJSON_Parse(text);
	assert_non_null(p);
	char err[256] = "";
	struct cg_map_opts opts = {.group_by = CG_GROUP_ALERT};
	int rc = cg_mapper_find("kibana")->map(p, &opts, out, err, sizeof(err));
	if (rc)
		print_error("kibana body: got rc %d (%s), want 0\n", rc, err);
	assert_int_equal(rc, 0);
	cJSON_Delete(p);
}

static void test_kibana_body(void **state)
{
	(void)state;
	char *body = slurp("conf/kibana-webhook-body.json");
	assert_non_null(body);
	static const char *const vals[][2] = {
	    {"rule.id", "rule-1"},
	    {"rule.name", "Disk usage"},
	    {"rule.tags", "team:storage,prod"},
	    {"rule.url", "https://kibana.example.com/app/rules/rule-1"},
	    {"alert.id", "host-1"},
	    {"alert.actionGroup", "threshold met"},
	    {"context.reason", "disk 95% on host-1"},
	    {"date", "2024-05-01T10:00:00.000Z"},
	};
	char *text = render(body, vals, sizeof(vals) / sizeof(vals[0]));
	struct cg_event_list out;
	cg_event_list_init(&out);
	map_kibana_text(text, &out);
	assert_int_equal(out.n, 1);
	assert_string_equal(out.v[0].dedup_key, "rule-1/host-1");
	assert_int_equal(out.v[0].status, CG_STATUS_FIRING);
	assert_string_equal(out.v[0].severity, "high"); /* the body's default, edited per rule */
	assert_string_equal(out.v[0].title, "Disk usage: host-1");
	assert_string_equal(out.v[0].starts_at, "2024-05-01T10:00:00.000Z");
	assert_string_equal(cg_json_str(out.v[0].links, "rule"), "https://kibana.example.com/app/rules/rule-1");
	cg_event_list_cleanup(&out);
	free(text);

	/* The same action for the Recovered group closes the same case. */
	static const char *const rec[][2] = {
	    {"rule.id", "rule-1"}, {"alert.id", "host-1"}, {"alert.actionGroup", "recovered"}};
	text = render(body, rec, sizeof(rec) / sizeof(rec[0]));
	cg_event_list_init(&out);
	map_kibana_text(text, &out);
	assert_int_equal(out.n, 1);
	assert_string_equal(out.v[0].dedup_key, "rule-1/host-1");
	assert_int_equal(out.v[0].status, CG_STATUS_RESOLVED);
	cg_event_list_cleanup(&out);
	free(text);

	/* The connector's Test tab sends the template unrendered: ignored, not a case. */
	cg_event_list_init(&out);
	map_kibana_text(body, &out);
	assert_int_equal(out.n, 0);
	assert_non_null(strstr(out.ignored_reason, "test"));
	cg_event_list_cleanup(&out);
	free(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_zabbix_media_type),
	    cmocka_unit_test(test_kibana_body),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
