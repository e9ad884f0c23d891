/* test_config.c: the YAML config loader: every field, every error class with its position, env and file secrets. */
/* labels: unit */
#define _POSIX_C_SOURCE 200809L
#define _XOPEN_SOURCE 700 /* realpath */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "err.h"
#include "harness.h"

/* A minimal valid source; it starts on line `sources:` + 1. */
#define SRC                                                                                                  \
	"sources:\n"                                                                                         \
	"  - name: demo\n"                                                                                   \
	"    type: generic\n"                                                                                \
	"    auth: none\n"                                                                                   \
	"    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"                                                \
	"    case_type: 00000000-0000-0000-0000-000000000001\n"


__attribute__((format(printf, 1, 2))) static char *fmt(const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	int n = vsnprintf(NULL, 0, f, ap);
	va_end(ap);
	assert_true(n >= 0);
	char *s = malloc((size_t)n + 1);
	assert_non_null(s);
	va_start(ap, f);
	vsnprintf(s, (size_t)n + 1, f, ap);
	va_end(ap);
	return s;
}

static int parse(const char *text, struct cg_config **out, char **errs)
{
	return cg_config_parse("/cfgdir/t.yaml", text, strlen(text), out, errs);
}


static size_t count_lines(const char *s)
{
	size_t n = s && *s ? 1 : 0;
	for (; s && *s; s++)
		n += *s == '\n';
	return n;
}

static void test_full_roundtrip(void **state)
{
	(void)state;
	char *path = fmt("%s/tests/fixtures/config/full.yaml", cg_h_source_dir());
	char *fixdir = fmt("%s/tests/fixtures/config", cg_h_source_dir());
	char *real = realpath(fixdir, NULL);
	assert_non_null(real);
	setenv("CGT_API_KEY", "api-secret", 1);
	setenv("CGT_TOKEN1", "tok-one", 1);
	unsetenv("CGT_MAXCONN");
	unsetenv("CGT_PASS");

	struct cg_config *c = NULL;
	char *errs = NULL;
	int rc = cg_config_load(path, &c, &errs);
	if (rc != 0)
		fail_msg("got rc %d, want 0: %s", rc, errs ? errs : "");
	assert_string_equal(c->path, path);
	assert_string_equal(c->listen_host, "::1");
	assert_int_equal(c->listen_port, 9099);
	char *sd = fmt("%s/state", real);
	assert_string_equal(c->state_dir, sd);
	free(sd);
	assert_string_equal(c->log_level, "debug");
	assert_string_equal(c->log_format, "json");
	assert_string_equal(c->dd_site, "datadoghq.eu");
	assert_string_equal(c->dd_url, "https://api.datadoghq.eu");
	assert_string_equal(c->dd_api_key, "api-secret");
	assert_string_equal(c->dd_app_key, "app-secret");
	assert_int_equal(c->dd_timeout_ms, 2500);
	assert_string_equal(c->dd_ca_file, "/etc/ssl/ca.pem");
	assert_string_equal(c->dd_proxy, "http://proxy.example:3128");
	assert_int_equal(c->max_body, 2 * 1024 * 1024);
	assert_int_equal(c->max_header_bytes, 8 * 1024);
	assert_int_equal(c->max_connections, 77);
	assert_int_equal(c->header_timeout_ms, 3000);
	assert_int_equal(c->body_timeout_ms, 60000);
	assert_int_equal(c->idle_timeout_ms, 90 * 60000);
	assert_int_equal(c->max_connections_per_address, 0);
	assert_int_equal(c->first_byte_timeout_ms, 750);
	assert_int_equal(c->write_timeout_ms, 120000);
	assert_int_equal(c->max_inflight, 4);
	assert_int_equal(c->retry_base_ms, 250);
	assert_int_equal(c->retry_cap_ms, 600000);
	assert_int_equal(c->max_attempts, 12);
	assert_int_equal(c->store_max_bytes, 10000000);
	assert_int_equal(c->nsources, 2);

	const struct cg_source_config *s = cg_config_source(c, "demo");
	assert_ptr_equal(s, &c->sources[0]);
	assert_string_equal(s->type, "generic");
	assert_non_null(s->mapper);
	assert_string_equal(s->mapper->name, "generic");
	assert_int_equal(s->auth.kind, CG_AUTH_BEARER);
	assert_int_equal(s->auth.nbearer, 2);
	assert_string_equal(s->auth.bearer[0], "tok-one");
	assert_string_equal(s->auth.bearer[1], "tok-two");
	assert_int_equal(s->auth.nbasic, 2);
	assert_string_equal(s->auth.basic[0].user, "alice");
	assert_string_equal(s->auth.basic[0].password, "pw1");
	assert_string_equal(s->auth.basic[1].user, "bob");
	assert_string_equal(s->auth.basic[1].password, "bob-secret"); /* "\r\n" cut */
	assert_int_equal(s->group_by, CG_GROUP_ALERT);
	assert_string_equal(s->project, "d4bbe1af-f36e-42f1-87c1-493ca35c320e");
	assert_string_equal(s->case_type, "00000000-0000-0000-0000-000000000001");
	assert_string_equal(s->title, "{{labels.alertname}} on {{labels.instance}}");
	assert_string_equal(s->description, "{{annotations.summary}}");
	assert_string_equal(s->dedup_key, "{{labels.alertname}}/{{labels.instance}}");
	assert_string_equal(s->priority_from, "{{labels.severity}}");
	assert_int_equal(s->nprio, 2);
	assert_string_equal(s->prio_map[0].word, "critical");
	assert_int_equal(s->prio_map[0].prio, 1);
	assert_string_equal(s->prio_map[1].word, "warning");
	assert_int_equal(s->prio_map[1].prio, 3);
	assert_int_equal(s->prio_default, 4);
	assert_int_equal(s->prio_default_set, 1);

	assert_int_equal(s->ncas, 5);
	assert_string_equal(s->cas[0].key, "runbook");
	assert_int_equal(s->cas[0].type, CG_CA_URL);
	assert_int_equal(s->cas[0].is_multi, 0);
	assert_int_equal(s->cas[0].nvalues, 1);
	assert_string_equal(s->cas[0].values[0], "{{annotations.runbook_url}}");
	assert_string_equal(s->cas[1].key, "teams");
	assert_int_equal(s->cas[1].type, CG_CA_TEXT);
	assert_int_equal(s->cas[1].is_multi, 1);
	assert_int_equal(s->cas[1].nvalues, 2);
	assert_string_equal(s->cas[1].values[0], "{{labels.team}}");
	assert_string_equal(s->cas[1].values[1], "sre");
	assert_int_equal(s->cas[2].type, CG_CA_NUMBER);
	assert_int_equal(s->cas[2].is_multi, 0);
	assert_string_equal(s->cas[2].values[0], "3");
	assert_int_equal(s->cas[3].type, CG_CA_SELECT);
	assert_int_equal(s->cas[3].is_multi, 1);
	assert_int_equal(s->cas[3].nvalues, 2);
	assert_string_equal(s->cas[3].values[1], "b");
	assert_string_equal(s->cas[4].key, "plain");
	assert_int_equal(s->cas[4].type, CG_CA_TEXT);
	assert_string_equal(s->cas[4].values[0], "{{labels.x}}");

	assert_int_equal(s->attrs_set, 1);
	assert_int_equal(s->nattrs, 2);
	assert_string_equal(s->attrs[0].key, "service");
	assert_int_equal(s->attrs[0].nvalues, 2);
	assert_string_equal(s->attrs[0].values[0], "{{labels.service}}");
	assert_string_equal(s->attrs[0].values[1], "web");
	assert_string_equal(s->attrs[1].key, "env");
	assert_int_equal(s->attrs[1].nvalues, 1);
	assert_string_equal(s->attrs[1].values[0], "{{labels.env}}");

	assert_int_equal(s->on_repeat, CG_REPEAT_COMMENT);
	assert_int_equal(s->digest_interval_ms, 300000);
	assert_int_equal(s->on_resolve, CG_RESOLVE_CLOSE);
	assert_string_equal(s->status_name, "Closed");
	assert_string_equal(s->reopen_status_name, "Open");
	assert_int_equal(s->reopen_window_ms, 2 * 3600000);
	assert_int_equal(s->raise_priority, 0);
	assert_int_equal(s->lower_priority, 1);
	assert_int_equal(s->line, 30);

	struct cg_case_spec spec;
	cg_config_case_spec(s, &spec);
	assert_string_equal(spec.source_name, "demo");
	assert_ptr_equal(spec.project, s->project);
	assert_ptr_equal(spec.case_type, s->case_type);
	assert_ptr_equal(spec.title, s->title);
	assert_ptr_equal(spec.description, s->description);
	assert_ptr_equal(spec.dedup_key, s->dedup_key);
	assert_ptr_equal(spec.priority_from, s->priority_from);
	assert_ptr_equal(spec.prio_map, s->prio_map);
	assert_int_equal(spec.nprio, 2);
	assert_int_equal(spec.prio_default, 4);
	assert_int_equal(spec.prio_default_set, 1);
	assert_ptr_equal(spec.cas, s->cas);
	assert_int_equal(spec.ncas, 5);
	assert_ptr_equal(spec.attrs, s->attrs);
	assert_int_equal(spec.nattrs, 2);
	assert_int_equal(spec.attrs_set, 1);
	assert_ptr_equal(spec.default_priority_map, s->mapper->default_priority_map);

	s = cg_config_source(c, "second_2");
	assert_ptr_equal(s, &c->sources[1]);
	assert_int_equal(s->auth.kind, CG_AUTH_NONE);
	/* priority: P2 is a fixed priority: empty `from`, default P2. */
	assert_string_equal(s->priority_from, "");
	assert_int_equal(s->prio_default, 2);
	assert_int_equal(s->prio_default_set, 1);
	assert_null(s->prio_map);
	assert_int_equal(s->attrs_set, 1);
	assert_int_equal(s->nattrs, 0);
	/* Lifecycle defaults. */
	assert_int_equal(s->on_repeat, CG_REPEAT_DIGEST);
	assert_int_equal(s->digest_interval_ms, 15 * 60000);
	assert_int_equal(s->on_resolve, CG_RESOLVE_COMMENT_AND_CLOSE);
	assert_null(s->status_name);
	assert_null(s->reopen_status_name);
	assert_int_equal(s->reopen_window_ms, 3600000);
	assert_int_equal(s->raise_priority, 1);
	assert_int_equal(s->lower_priority, 0);
	assert_null(cg_config_source(c, "nope"));

	cg_config_free(c);
	cg_config_free(NULL);
	free(errs);
	free(real);
	free(fixdir);
	free(path);
}

static void test_defaults(void **state)
{
	(void)state;
	struct cg_config *c = cg_h_config_ok(SRC);
	assert_string_equal(c->listen_host, "127.0.0.1");
	assert_int_equal(c->listen_port, 8080);
	assert_string_equal(c->state_dir, "/cfgdir/var");
	assert_string_equal(c->log_level, "info");
	assert_string_equal(c->log_format, "text");
	assert_null(c->dd_url);
	assert_null(c->dd_api_key);
	assert_null(c->dd_app_key);
	assert_int_equal(c->dd_timeout_ms, 15000);
	assert_int_equal(c->max_body, 1024 * 1024);
	assert_int_equal(c->max_header_bytes, 16 * 1024);
	assert_int_equal(c->max_connections, 1024);
	assert_int_equal(c->header_timeout_ms, 10000);
	assert_int_equal(c->body_timeout_ms, 30000);
	assert_int_equal(c->idle_timeout_ms, 60000);
	assert_int_equal(c->max_connections_per_address, 128);
	assert_int_equal(c->first_byte_timeout_ms, 3000);
	assert_int_equal(c->write_timeout_ms, 30000);
	assert_int_equal(c->max_inflight, 16);
	assert_int_equal(c->retry_base_ms, 1000);
	assert_int_equal(c->retry_cap_ms, 300000);
	assert_int_equal(c->max_attempts, 0);
	assert_int_equal(c->store_max_bytes, 0);
	assert_int_equal(c->priority_aging_ms, 600000);
	assert_null(c->warnings);
	const struct cg_source_config *s = &c->sources[0];
	assert_null(s->title);
	assert_null(s->priority_from);
	assert_null(s->prio_map);
	assert_int_equal(s->prio_default_set, 0);
	assert_int_equal(s->attrs_set, 0);
	assert_int_equal(s->line, 2);
	struct cg_case_spec spec;
	cg_config_case_spec(s, &spec);
	assert_null(spec.attrs);
	assert_int_equal(spec.attrs_set, 0);
	assert_string_equal(spec.default_priority_map, s->mapper->default_priority_map);
	cg_config_free(c);
}

static void test_example_conf(void **state)
{
	(void)state;
	char *path = fmt("%s/conf/casegate.yaml", cg_h_source_dir());
	unsetenv("DD_API_KEY");
	unsetenv("DD_APP_KEY");
	unsetenv("DD_SITE");
	unsetenv("DEMO_TOKEN");
	struct cg_config *c = NULL;
	char *errs = NULL;
	/* The example holds no secret: the demo token must come from the environment. */
	int rc = cg_config_load(path, &c, &errs);
	assert_int_equal(rc, CG_EINVAL);
	if (!errs || !strstr(errs, "environment variable DEMO_TOKEN is not set"))
		fail_msg("example without DEMO_TOKEN: got \"%s\", want DEMO_TOKEN named", errs ? errs : "");
	free(errs);
	errs = NULL;
	setenv("DEMO_TOKEN", "demo", 1);
	rc = cg_config_load(path, &c, &errs);
	if (rc != 0)
		fail_msg("got rc %d, want 0: %s", rc, errs ? errs : "");
	/* No keys in the environment: the simulator is used; nothing to warn about. */
	assert_null(c->dd_url);
	assert_null(c->warnings);
	const struct cg_source_config *s = cg_config_source(c, "demo");
	assert_non_null(s);
	assert_int_equal(s->auth.kind, CG_AUTH_BEARER);
	assert_string_equal(s->auth.bearer[0], "demo");
	assert_int_equal(s->ncas, 0);
	assert_int_equal(s->nattrs, 2);
	cg_config_free(c);

	setenv("DD_API_KEY", "k1", 1);
	setenv("DD_APP_KEY", "k2", 1);
	setenv("DEMO_TOKEN", "t0k", 1);
	rc = cg_config_load(path, &c, &errs);
	if (rc != 0)
		fail_msg("got rc %d, want 0: %s", rc, errs ? errs : "");
	assert_string_equal(c->dd_url, "https://api.datadoghq.com");
	assert_string_equal(c->dd_api_key, "k1");
	assert_string_equal(c->sources[0].auth.bearer[0], "t0k");
	cg_config_free(c);
	unsetenv("DD_API_KEY");
	unsetenv("DD_APP_KEY");
	unsetenv("DEMO_TOKEN");
	free(path);
}

static void test_error_positions(void **state)
{
	(void)state;
	static const struct {
		const char *text, *want;
	} cases[] = {
		/* unknown keys */
		{"bogus: 1\n" SRC, "/cfgdir/t.yaml:1:1: unknown key 'bogus'"},
		{SRC "    titel: x\n", "/cfgdir/t.yaml:7:5: unknown key 'titel' in source 'demo' (did you mean 'title'?)"},
		{"datadog:\n  sit: datadoghq.com\n" SRC, "/cfgdir/t.yaml:2:3: unknown key 'sit' in datadog"},
		{SRC "    priority: { from: x, mapp: {} }\n",
		 "/cfgdir/t.yaml:7:26: unknown key 'mapp' in source 'demo' priority (did you mean 'map'?)"},
		/* wrong types */
		{"listen: [a]\n" SRC, "/cfgdir/t.yaml:1:9: listen: expected host:port, got a list"},
		{"limits: 5\n" SRC, "/cfgdir/t.yaml:1:9: limits: expected a mapping, got a string"},
		{SRC "    title: { a: 1 }\n", "/cfgdir/t.yaml:7:12: source 'demo': title: expected a template string, got a mapping"},
		{SRC "    raise_priority: maybe\n",
		 "/cfgdir/t.yaml:7:21: source 'demo': raise_priority: expected true or false, got 'maybe'"},
		{"queue:\n  max_inflight: -3\n" SRC,
		 "/cfgdir/t.yaml:2:17: queue.max_inflight: expected a whole number from 1 to 1024, got '-3'"},
		{"listen: 127.0.0.1\n" SRC, "/cfgdir/t.yaml:1:9: listen: expected IP:port"},
		{"listen: ::1:80\n" SRC, "/cfgdir/t.yaml:1:9: listen: expected IP:port"},
		{SRC "    on_resolve: delete\n",
		 "/cfgdir/t.yaml:7:17: source 'demo': on_resolve: unknown value 'delete' (expected one of: comment_and_close, "
		 "comment, close, ignore)"},
		/* durations and sizes */
		{"datadog:\n  timeout: 15x\n" SRC, "/cfgdir/t.yaml:2:12: datadog.timeout: bad duration '15x'"},
		{"limits:\n  idle_timeout: 1.5s\n" SRC, "/cfgdir/t.yaml:2:17: limits.idle_timeout: bad duration '1.5s'"},
		{"limits:\n  max_body: 1XB\n" SRC, "/cfgdir/t.yaml:2:13: limits.max_body: bad size '1XB'"},
		{"limits:\n  max_header_bytes: 10\n" SRC, "/cfgdir/t.yaml:2:21: limits.max_header_bytes: must be from 1024"},
		{"queue:\n  retry_base: 10m\n  retry_cap: 1m\n" SRC,
		 "/cfgdir/t.yaml:3:14: queue: retry_base must not exceed retry_cap"},
		{"priority_aging: 0s\n" SRC, "/cfgdir/t.yaml:1:17: priority_aging: must be from 1000ms"},
		{"priority_aging: 500ms\n" SRC, "/cfgdir/t.yaml:1:17: priority_aging: must be from 1000ms"},
		{"priority_aging: -1m\n" SRC, "/cfgdir/t.yaml:1:17: priority_aging: bad duration '-1m'"},
		/* priorities */
		{SRC "    priority: { map: { critical: P9 } }\n",
		 "/cfgdir/t.yaml:7:34: source 'demo': priority.map.critical: bad priority 'P9'"},
		{SRC "    priority:\n      default: urgent\n",
		 "/cfgdir/t.yaml:8:16: source 'demo': priority.default: bad priority 'urgent'"},
		/* mappers */
		{"sources:\n  - name: demo\n    type: nosuch\n    auth: none\n"
		 "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n    case_type: 00000000-0000-0000-0000-000000000001\n",
		 "/cfgdir/t.yaml:3:11: source 'demo': type: unknown mapper 'nosuch' (known: generic"},
		{SRC "    group_by: group\n", "/cfgdir/t.yaml:7:15: source 'demo': group_by: mapper 'generic' cannot group"},
		/* required fields */
		{"sources:\n  - name: demo\n    type: generic\n"
		 "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n    case_type: 00000000-0000-0000-0000-000000000001\n",
		 "/cfgdir/t.yaml:2:5: source 'demo': auth is required (write `auth: none` to accept unauthenticated "
		 "requests)"},
		{"sources:\n  - name: demo\n    type: generic\n    auth: none\n"
		 "    case_type: 00000000-0000-0000-0000-000000000001\n",
		 "/cfgdir/t.yaml:2:5: source 'demo': project is required"},
		{"sources:\n  - name: demo\n    type: generic\n    auth: none\n    project: my-project\n"
		 "    case_type: 00000000-0000-0000-0000-000000000001\n",
		 "/cfgdir/t.yaml:5:14: source 'demo': project: 'my-project' is not a UUID"},
		{"listen: 127.0.0.1:1\n", "/cfgdir/t.yaml:1:1: sources: at least one source is required"},
		{"sources: []\n", "/cfgdir/t.yaml:1:10: sources: at least one source is required"},
		{"", "/cfgdir/t.yaml:1:1: the configuration is empty"},
		{"sources:\n  - name: Demo X\n", "/cfgdir/t.yaml:2:11: source #1: name: 'Demo X' is not a valid name"},
		{SRC "    auth: {}\n", "/cfgdir/t.yaml:7:5: duplicate key 'auth' in source 'demo'"},
		{"sources:\n  - name: d\n    type: generic\n    auth: {}\n"
		 "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n    case_type: 00000000-0000-0000-0000-000000000001\n",
		 "/cfgdir/t.yaml:4:11: source 'd': auth: give bearer, bearer_file or basic"},
		{"sources:\n  - name: d\n    type: generic\n    auth: { basic: { user: u } }\n"
		 "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n    case_type: 00000000-0000-0000-0000-000000000001\n",
		 "/cfgdir/t.yaml:4:20: source 'd': auth.basic: password or password_file is required"},
		/* duplicate sources */
		{SRC "  - name: demo\n    type: generic\n    auth: none\n"
		     "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n    case_type: 00000000-0000-0000-0000-000000000001\n",
		 "/cfgdir/t.yaml:7:5: duplicate source name 'demo' (first declared at line 2)"},
		/* YAML syntax */
		{"listen: [a\n" SRC, "/cfgdir/t.yaml:2:8: YAML syntax error: did not find expected ',' or ']' while parsing a flow sequence"},
		{"a: b\n c: d\n", "/cfgdir/t.yaml:2:3: YAML syntax error: mapping values are not allowed in this context"},
		{SRC "    auth: { bearer: ${T} }\n", "/cfgdir/t.yaml:7:22: YAML syntax error: did not find expected ',' or '}' while parsing a flow mapping (inside { } or [ ], quote values that use variables: \"${VAR}\")"},
		{"a: 1\n---\nb: 2\n", "/cfgdir/t.yaml:3:1: only one YAML document is allowed"},
		{"datadog: &d { timeout: 1s }\nlimits: *d\n" SRC, "/cfgdir/t.yaml:1:10: YAML aliases are not supported here"},
		/* environment */
		{"listen: ${CGT_UNSET_VAR}\n" SRC,
		 "/cfgdir/t.yaml:1:9: listen: environment variable CGT_UNSET_VAR is not set (write ${CGT_UNSET_VAR:-default}"},
		{"listen: ${1X}\n" SRC, "/cfgdir/t.yaml:1:9: listen: bad variable reference"},
		{"listen: ${CGT_A:-x\n" SRC, "/cfgdir/t.yaml:1:9: listen: bad variable reference"},
		/* templates */
		{SRC "    title: \"{{x\"\n", "/cfgdir/t.yaml:7:12: source 'demo': title: bad template: "},
		{SRC "    attributes: { env: [ok, \"{{y\"] }\n", "/cfgdir/t.yaml:7:29: source 'demo': attributes.env[1]: bad template: "},
		{SRC "    custom_attributes:\n      r: { type: URL, value: \"{{z\" }\n",
		 "/cfgdir/t.yaml:8:30: source 'demo': custom_attributes.r.value: bad template: "},
		/* custom attributes and datadog */
		{SRC "    custom_attributes:\n      r: { type: DATE, value: x }\n",
		 "/cfgdir/t.yaml:8:18: source 'demo': custom_attributes.r.type: unknown type 'DATE'"},
		{SRC "    custom_attributes:\n      r: { value: [a, b] }\n",
		 "/cfgdir/t.yaml:8:19: source 'demo': custom_attributes.r: value: expected one template string, got a list"},
		{SRC "    custom_attributes:\n      r: { values: [a, b] }\n",
		 "/cfgdir/t.yaml:8:20: source 'demo': custom_attributes.r: values needs multi: true"},
		{"datadog:\n  site: datadoghq.com\n  url: http://x\n" SRC,
		 "/cfgdir/t.yaml:3:8: datadog: give site or url, not both"},
		{"datadog:\n  site: nowhere.example\n" SRC, "/cfgdir/t.yaml:2:9: datadog.site: unknown Datadog site 'nowhere.example'"},
		{"datadog:\n  api_key: k\n" SRC, "/cfgdir/t.yaml:2:3: datadog: api_key is set but app_key is not"},
		{"datadog:\n  url: ftp://x\n" SRC, "/cfgdir/t.yaml:2:8: datadog.url: expected an http:// or https:// URL"},
		/* the paging APIs' keys, and what an acknowledgement may set */
		{"sources:\n  - name: pd\n    type: pagerduty_events\n"
		 "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n    case_type: 00000000-0000-0000-0000-000000000001\n",
		 "/cfgdir/t.yaml:2:5: source 'pd': routing_key is required (or routing_key_file): the routing key senders send"},
		{"sources:\n  - name: pd\n    type: pagerduty_events\n    routing_key: samplekeyhere\n"
		 "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n    case_type: 00000000-0000-0000-0000-000000000001\n",
		 "/cfgdir/t.yaml:4:18: source 'pd': routing_key: a PagerDuty routing key is 32 letters and digits (make one "
		 "with `openssl rand -hex 16`)"},
		{"sources:\n  - name: og\n    type: opsgenie_alerts\n    genie_key: 12345\n"
		 "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n    case_type: 00000000-0000-0000-0000-000000000001\n",
		 "/cfgdir/t.yaml:4:16: source 'og': genie_key: an Opsgenie API key is a UUID"},
		{SRC "    routing_key: 0a1b2c3d4e5f60718293a4b5c6d7e8f9\n",
		 "/cfgdir/t.yaml:7:18: source 'demo': routing_key: only `type: pagerduty_events` sources take one"},
		{SRC "    actions: { acknowledge_status: CLOSED }\n",
		 "/cfgdir/t.yaml:7:36: source 'demo': actions.acknowledge_status: an acknowledgement does not close the case"},
		{"datadog:\n  api_key: a\n  api_key_file: f\n" SRC,
		 "/cfgdir/t.yaml:3:17: datadog.api_key_file: give datadog.api_key or datadog.api_key_file, not both"},
	};
	unsetenv("CGT_UNSET_VAR");
	unsetenv("CGT_A");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cg_h_config_error(cases[i].text, cases[i].want);
}

static void test_many_errors(void **state)
{
	(void)state;
	const char *text = "listen: nope\n"
			   "log_level: loud\n"
			   "limits:\n"
			   "  body_timeout: soon\n"
			   "sources:\n"
			   "  - name: demo\n"
			   "    type: generic\n"
			   "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
			   "    case_type: 00000000-0000-0000-0000-000000000001\n"
			   "    frobnicate: 1\n";
	struct cg_config *c = NULL;
	char *errs = NULL;
	assert_int_equal(parse(text, &c, &errs), CG_EINVAL);
	assert_null(c);
	assert_non_null(errs);
	static const char *const want[] = {
		"/cfgdir/t.yaml:1:9: listen: expected IP:port",
		"/cfgdir/t.yaml:2:12: log_level: unknown value 'loud'",
		"/cfgdir/t.yaml:4:17: limits.body_timeout: bad duration 'soon'",
		"/cfgdir/t.yaml:10:5: unknown key 'frobnicate' in source 'demo'",
		"/cfgdir/t.yaml:6:5: source 'demo': auth is required",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (!strstr(errs, want[i]))
			fail_msg("got errors:\n%s\nwant one containing: %s", errs, want[i]);
	if (count_lines(errs) != 5)
		fail_msg("got %zu error lines, want 5:\n%s", count_lines(errs), errs);
	assert_int_not_equal(errs[strlen(errs) - 1], '\n');
	free(errs);

	/* A flood of errors is capped. */
	size_t cap = 200 * 8 + 64, len = 0;
	char *big = malloc(cap);
	assert_non_null(big);
	for (int i = 0; i < 200; i++)
		len += (size_t)snprintf(big + len, cap - len, "k%03d: 1\n", i);
	assert_int_equal(cg_config_parse("big.yaml", big, len, &c, &errs), CG_EINVAL);
	assert_true(count_lines(errs) <= 52);
	assert_non_null(strstr(errs, "too many errors"));
	free(errs);
	free(big);
}

static void test_env_expansion(void **state)
{
	(void)state;
	setenv("CGT_A", "abc", 1);
	setenv("CGT_EMPTY", "", 1);
	setenv("CGT_N", "7", 1);
	setenv("CGT_PORT", "0", 1);
	unsetenv("CGT_UNSET");
	struct cg_config *c = cg_h_config_ok("listen: 0.0.0.0:${CGT_PORT}\n"
				       "queue:\n"
				       "  max_inflight: ${CGT_N}\n"
				       "  retry_cap: ${CGT_UNSET:-2}m\n" SRC
				       "    status_name: \"x${CGT_A}y ${CGT_UNSET:-dflt} ${CGT_EMPTY:-e} [${CGT_EMPTY}] $${CGT_A} "
				       "$$ $5 ${CGT_UNSET:-}.\"\n");
	assert_string_equal(c->listen_host, "0.0.0.0");
	assert_int_equal(c->listen_port, 0);
	assert_int_equal(c->max_inflight, 7);
	assert_int_equal(c->retry_cap_ms, 120000);
	assert_string_equal(c->sources[0].status_name, "xabcy dflt e [] ${CGT_A} $$ $5 .");
	/* auth: none on a non-loopback address is allowed but warned about. */
	assert_non_null(c->warnings);
	assert_non_null(strstr(c->warnings, "/cfgdir/t.yaml:6:1: warning: source 'demo' accepts unauthenticated"));
	cg_config_free(c);
	unsetenv("CGT_A");
	unsetenv("CGT_EMPTY");
	unsetenv("CGT_N");
	unsetenv("CGT_PORT");
}

static char *write_tmp(const char *dir, const char *name, const char *data, mode_t mode)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);
	assert_non_null(p);
	snprintf(p, n, "%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, strlen(data), f), strlen(data));
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(p, mode), 0);
	return p;
}

static void test_file_secrets_and_warnings(void **state)
{
	(void)state;
	char tmpl[] = "/tmp/cg_test_config_XXXXXX";
	char *dir = mkdtemp(tmpl);
	assert_non_null(dir);
	char *k1 = write_tmp(dir, "api", "api-from-file\n", 0600);
	char *k2 = write_tmp(dir, "app", "app-from-file", 0644);
	char *k3 = write_tmp(dir, "tok", "bearer-from-file\n", 0600);
	char *k4 = write_tmp(dir, "bad_tok", "two words\n", 0600);
	char *k5 = write_tmp(dir, "empty", "\n", 0600);
	char *cfgp = write_tmp(dir, "c.yaml",
			       "datadog:\n  api_key_file: api\n  app_key_file: ./app\n"
			       "sources:\n  - name: demo\n    type: generic\n    auth: { bearer_file: [tok] }\n"
			       "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
			       "    case_type: 00000000-0000-0000-0000-000000000001\n",
			       0600);
	struct cg_config *c = NULL;
	char *errs = NULL;
	int rc = cg_config_load(cfgp, &c, &errs);
	if (rc != 0)
		fail_msg("got rc %d, want 0: %s", rc, errs ? errs : "");
	assert_string_equal(c->dd_api_key, "api-from-file");
	assert_string_equal(c->dd_app_key, "app-from-file");
	assert_string_equal(c->dd_url, "https://api.datadoghq.com");
	assert_string_equal(c->dd_site, "datadoghq.com");
	assert_string_equal(c->sources[0].auth.bearer[0], "bearer-from-file");
	char *sd = fmt("%s/var", dir);
	assert_string_equal(c->state_dir, sd);
	free(sd);
	/* The app key file is world-readable: warned, not an error. */
	assert_non_null(c->warnings);
	assert_non_null(strstr(c->warnings, ":3:17: warning: datadog.app_key_file: "));
	cg_config_free(c);

	/* Inline secret in a world-readable config: warning naming the secret's position, never its value. */
	free(cfgp);
	cfgp = write_tmp(dir, "c.yaml",
			 "datadog:\n  url: http://127.0.0.1:8126/\n"
			 "sources:\n  - name: demo\n    type: generic\n    auth: { bearer: inline-secret-value }\n"
			 "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
			 "    case_type: 00000000-0000-0000-0000-000000000001\n",
			 0644);
	rc = cg_config_load(cfgp, &c, &errs);
	if (rc != 0)
		fail_msg("got rc %d, want 0: %s", rc, errs ? errs : "");
	assert_string_equal(c->dd_url, "http://127.0.0.1:8126");
	assert_null(c->dd_api_key);
	assert_non_null(c->warnings);
	assert_non_null(strstr(c->warnings, ":6:21: warning: "));
	assert_non_null(strstr(c->warnings, "readable by every user and holds a secret"));
	assert_null(strstr(c->warnings, "inline-secret-value"));
	cg_config_free(c);
	assert_int_equal(chmod(cfgp, 0600), 0);
	rc = cg_config_load(cfgp, &c, &errs);
	assert_int_equal(rc, 0);
	assert_null(c->warnings);
	cg_config_free(c);

	/* The same secret from the environment is not "in the file". */
	setenv("CGT_TOK", "env-secret", 1);
	free(cfgp);
	cfgp = write_tmp(dir, "c.yaml",
			 "sources:\n  - name: demo\n    type: generic\n    auth: { bearer: \"${CGT_TOK}\" }\n"
			 "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
			 "    case_type: 00000000-0000-0000-0000-000000000001\n",
			 0644);
	rc = cg_config_load(cfgp, &c, &errs);
	assert_int_equal(rc, 0);
	assert_string_equal(c->sources[0].auth.bearer[0], "env-secret");
	assert_null(c->warnings);
	cg_config_free(c);
	unsetenv("CGT_TOK");

	/* A ${VAR:-default} default as the secret: warned only while it is in use, and the warning
	 * says so (not "use ${VAR}", which it does). */
	free(cfgp);
	cfgp = write_tmp(dir, "c.yaml",
			 "sources:\n  - name: demo\n    type: generic\n    auth: { bearer: \"${CGT_TOK:-fallback}\" }\n"
			 "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
			 "    case_type: 00000000-0000-0000-0000-000000000001\n",
			 0644);
	rc = cg_config_load(cfgp, &c, &errs);
	assert_int_equal(rc, 0);
	assert_non_null(c->warnings);
	assert_non_null(strstr(c->warnings, ":4:21: warning: "));
	assert_non_null(strstr(c->warnings, "a ${VAR:-default}'s default, in use because VAR is unset or empty"));
	assert_null(strstr(c->warnings, "fallback"));
	assert_null(strchr(c->warnings, '\n')); /* once */
	cg_config_free(c);
	setenv("CGT_TOK", "env-secret", 1);
	rc = cg_config_load(cfgp, &c, &errs);
	assert_int_equal(rc, 0);
	assert_null(c->warnings);
	cg_config_free(c);
	unsetenv("CGT_TOK");

	/* Errors about secrets never show them. */
	free(cfgp);
	cfgp = write_tmp(dir, "c.yaml",
			 "datadog:\n  api_key_file: missing\n  app_key_file: empty\n"
			 "sources:\n  - name: demo\n    type: generic\n"
			 "    auth: { bearer: [\"sec ret\"], bearer_file: bad_tok }\n"
			 "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
			 "    case_type: 00000000-0000-0000-0000-000000000001\n",
			 0600);
	rc = cg_config_load(cfgp, &c, &errs);
	assert_int_equal(rc, CG_EINVAL);
	assert_non_null(errs);
	static const char *const want[] = {
		":2:17: datadog.api_key_file: cannot read '",
		":3:17: datadog.app_key_file: '",
		"' is empty",
		":7:22: source 'demo': auth.bearer[0]: token contains whitespace",
		":7:47: source 'demo': auth.bearer_file: the file's token contains whitespace",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (!strstr(errs, want[i]))
			fail_msg("got errors:\n%s\nwant one containing: %s", errs, want[i]);
	if (strstr(errs, "sec ret") || strstr(errs, "two words"))
		fail_msg("a secret leaked into the errors:\n%s", errs);
	free(errs);
	errs = NULL;

	/* A missing config file is an I/O error with a message. */
	char *missing = fmt("%s/none.yaml", dir);
	assert_int_equal(cg_config_load(missing, &c, &errs), CG_EIO);
	assert_non_null(errs);
	assert_non_null(strstr(errs, "none.yaml: cannot read"));
	free(errs);
	free(missing);

	char *paths[] = {k1, k2, k3, k4, k5, cfgp};
	for (size_t i = 0; i < 6; i++) {
		unlink(paths[i]);
		free(paths[i]);
	}
	rmdir(dir);
}

static void test_paths_and_dd(void **state)
{
	(void)state;
	struct cg_config *c = cg_h_config_ok("state_dir: ./data/q\n" SRC);
	assert_string_equal(c->state_dir, "/cfgdir/data/q");
	cg_config_free(c);
	c = cg_h_config_ok("state_dir: /var/lib/casegate\n" SRC);
	assert_string_equal(c->state_dir, "/var/lib/casegate");
	cg_config_free(c);
	c = NULL;
	char *errs = NULL;
	assert_int_equal(cg_config_parse("rel.yaml", SRC, strlen(SRC), &c, &errs), 0);
	assert_string_equal(c->state_dir, "./var");
	cg_config_free(c);

	c = cg_h_config_ok("priority_aging: 1h30m\n" SRC);
	assert_int_equal(c->priority_aging_ms, 90 * 60 * 1000);
	cg_config_free(c);

	/* No keys and no url: dd_url stays NULL (simulator), even with a site. */
	c = cg_h_config_ok("datadog:\n  site: datadoghq.eu\n  timeout: 1s\n" SRC);
	assert_null(c->dd_url);
	assert_int_equal(c->dd_timeout_ms, 1000);
	cg_config_free(c);
	c = cg_h_config_ok("datadog:\n  api_key: \"\"\n  app_key: ${CGT_UNSET:-}\n" SRC);
	assert_null(c->dd_url);
	assert_null(c->dd_api_key);
	cg_config_free(c);
	c = cg_h_config_ok("datadog:\n  api_key: a\n  app_key: b\n" SRC);
	assert_string_equal(c->dd_url, "https://api.datadoghq.com");
	assert_string_equal(c->dd_site, "datadoghq.com");
	cg_config_free(c);
	c = cg_h_config_ok("datadog:\n  url: https://dd.example/\n" SRC);
	assert_string_equal(c->dd_url, "https://dd.example");
	cg_config_free(c);
	c = cg_h_config_ok("listen: localhost:0\n" SRC);
	assert_string_equal(c->listen_host, "127.0.0.1");
	assert_int_equal(c->listen_port, 0);
	assert_null(c->warnings);
	cg_config_free(c);
}

/* Errors come in the file's order, whatever order the checks ran in; a tab says what to do. */
static void test_errors_in_file_order(void **state)
{
	(void)state;
	const char *text = "listen: 127.0.0.1:0\n"
			   "bogus1: 1\n"
			   "datadog:\n  api_key: k\n  app_key: a\n  bogus2: 2\n"
			   "sources:\n"
			   "  - name: demo\n    type: nosuchtype\n    auth: none\n    project: SEC\n"
			   "    case_type: 00000000-0000-0000-0000-000000000001\n"
			   "bogus3: 3\n";
	struct cg_config *c = NULL;
	char *errs = NULL;
	assert_int_equal(parse(text, &c, &errs), CG_EINVAL);
	assert_non_null(errs);
	long last = 0;
	int n = 0;
	for (const char *line = errs; line && *line; n++) {
		const char *colon = strchr(line, ':');
		long at = colon ? strtol(colon + 1, NULL, 10) : -1;
		if (at < last)
			fail_msg("errors out of the file's order (line %ld after line %ld):\n%s", at, last, errs);
		last = at;
		line = strchr(line, '\n');
		line = line ? line + 1 : NULL;
	}
	if (n != 4)
		fail_msg("got %d error lines, want 4:\n%s", n, errs);
	free(errs);
	/* A tab, wherever libyaml trips on it (a later key, the first key of a block, after a list
	 * dash), is said the same way. */
	cg_h_config_error("listen: 127.0.0.1:0\ndatadog:\n  api_key: k\n\tapp_key: a\n",
		     "/cfgdir/t.yaml:4:1: YAML syntax error: a tab character in the indentation (YAML indents with "
		     "spaces only: replace the tab with spaces)");
	cg_h_config_error("listen: 127.0.0.1:0\ndatadog:\n\tsite: x\n",
		     "/cfgdir/t.yaml:3:1: YAML syntax error: a tab character in the indentation");
	cg_h_config_error("listen: 127.0.0.1:0\nsources:\n\t- name: x\n",
		     "/cfgdir/t.yaml:3:1: YAML syntax error: a tab character in the indentation");
	cg_h_config_error("listen: 127.0.0.1:0\nsources:\n  -\tname: x\n    type: generic\n",
		     "/cfgdir/t.yaml:3:4: YAML syntax error: a tab character in the indentation");
	c = NULL;
	errs = NULL;
	assert_int_equal(parse("listen: 127.0.0.1:0\ndatadog:\n  api_key: k\n\tapp_key: a\n", &c, &errs), CG_EINVAL);
	if (!errs || !strstr(errs, "YAML indents with spaces only: replace the tab with spaces"))
		fail_msg("a tab: got %s, want the hint to use spaces", errs ? errs : "(none)");
	free(errs);
}

/* CG_CONFIG_ENV_LENIENT (the commands that need no secret): an unset ${VAR} stays as written and
 * is listed with where it is, what it is and which variable; the strict load refuses the same. */
static void test_env_lenient(void **state)
{
	(void)state;
	char *dir = cg_h_tmpdir("cg-lenient");
	assert_non_null(dir);
	unsetenv("CG_T_LENIENT");
	char *path = write_tmp(dir, "c.yaml",
			       "listen: 127.0.0.1:0\n"
			       "sources:\n  - name: demo\n    type: generic\n    auth: { bearer: \"${CG_T_LENIENT}\" }\n"
			       "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
			       "    case_type: 00000000-0000-0000-0000-000000000001\n",
			       0600);
	struct cg_config *c = NULL;
	char *errs = NULL;
	assert_int_equal(cg_config_load(path, &c, &errs), CG_EINVAL);
	assert_non_null(strstr(errs, "environment variable CG_T_LENIENT is not set"));
	free(errs);
	errs = NULL;
	assert_int_equal(cg_config_load_ex(path, CG_CONFIG_ENV_LENIENT, &c, &errs), 0);
	assert_int_equal(c->nunset, 1);
	char *where = fmt("%s:5:21", path);
	assert_string_equal(c->unset[0].where, where);
	free(where);
	assert_string_equal(c->unset[0].label, "source 'demo': auth.bearer");
	assert_string_equal(c->unset[0].var, "CG_T_LENIENT");
	assert_string_equal(c->sources[0].auth.bearer[0], "${CG_T_LENIENT}");
	cg_config_free(c);
	setenv("CG_T_LENIENT", "tok", 1);
	assert_int_equal(cg_config_load_ex(path, CG_CONFIG_ENV_LENIENT, &c, &errs), 0);
	assert_int_equal(c->nunset, 0);
	assert_null(c->unset);
	cg_config_free(c);
	unsetenv("CG_T_LENIENT");
	cg_h_rmrf(dir);
	free(dir);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_roundtrip),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_example_conf),
		cmocka_unit_test(test_env_lenient),
		cmocka_unit_test(test_error_positions),
		cmocka_unit_test(test_many_errors),
		cmocka_unit_test(test_env_expansion),
		cmocka_unit_test(test_file_secrets_and_warnings),
		cmocka_unit_test(test_paths_and_dd),
		cmocka_unit_test(test_errors_in_file_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
