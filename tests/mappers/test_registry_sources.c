/* test_registry_sources.c: table-driven mapper tests over fixture pairs (payload -> expected events). */
/* labels: mapper */
/* strdup, opendir under -std=c11 */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "builder.h"
#include "err.h"
#include "event.h"
#include "harness.h"
#include "registry.h"

/*
 * Fixture layout: tests/fixtures/<mapper name>/NAME.json is a payload; NAME.expected.json
 * (group_by alert unless it says "group_by": "group") and NAME.group.expected.json
 * (group_by group) say what must come out. An expected file is an array of events or
 * an object:
 *   {"group_by": "alert"|"group", "error": "substring of the error message",
 *    "ignored_reason": "...", "note": "...", "count": N (else the number of events listed),
 *    "events": [{"index": i (default: position), <field>: value, ...}]}
 * Event fields: dedup_key, status ("firing"/"resolved"/"comment"), severity, title, description,
 * starts_at, ends_at, comment_detail (null = must be NULL); labels, annotations, links (objects, compared
 * whole); ctx {"dotted.path": value (null = absent)}; and for every string field F:
 * F_contains [..], F_excludes [..], F_min_len, F_maxlen. Unknown keys fail (typos).
 */

static const char *source_dir(void)
{
	const char *d = getenv("CG_SOURCE_DIR");
	return d && *d ? d : CG_SOURCE_DIR;
}

static const char *shared_dir(void)
{
	static char buf[4096];
	const char *d = getenv("CG_SHARED_DIR");
	if (!d || !*d) {
		snprintf(buf, sizeof(buf), "%s/../shared", source_dir());
		d = buf;
	}
	struct stat st;
	return stat(d, &st) == 0 && S_ISDIR(st.st_mode) ? d : NULL;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = NULL;
	size_t len = 0, cap = 0, n;
	char chunk[65536];
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (len + n + 1 > cap) {
			cap = (len + n + 1) * 2;
			char *p = realloc(buf, cap);
			if (!p) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = p;
		}
		memcpy(buf + len, chunk, n);
		len += n;
	}
	fclose(f);
	if (!buf)
		buf = calloc(1, 1);
	else
		buf[len] = '\0';
	return buf;
}

static cJSON *read_json(const char *path)
{
	char *text = read_file(path);
	if (!text)
		return NULL;
	cJSON *j = cJSON_Parse(text);
	free(text);
	return j;
}

static int file_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of the entries of dir ending in suffix (malloc'd, NULL-terminated); NULL if dir is missing. */
static char **list_dir(const char *dir, const char *suffix, int want_dirs)
{
	DIR *d = opendir(dir);
	if (!d)
		return NULL;
	size_t n = 0, cap = 16;
	char **v = calloc(cap + 1, sizeof(*v));
	struct dirent *de;
	while (v && (de = readdir(d))) {
		if (de->d_name[0] == '.' || !ends_with(de->d_name, suffix))
			continue;
		char path[4096];
		struct stat st;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &st) != 0 || (want_dirs ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)))
			continue;
		if (n == cap) {
			cap *= 2;
			char **p = realloc(v, (cap + 1) * sizeof(*v));
			assert_non_null(p);
			v = p;
		}
		v[n++] = strdup(de->d_name);
		v[n] = NULL;
	}
	closedir(d);
	assert_non_null(v);
	qsort(v, n, sizeof(*v), cmp_str);
	return v;
}

static void free_list(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* ---- comparing one event ---- */

static int failures;

static void fail_at(const char *where, const char *field, const char *got, const char *want)
{
	failures++;
	print_error("%s: %s: got %s, want %s\n", where, field, got, want);
}

static char *json_text(const cJSON *j)
{
	if (!j)
		return strdup("(absent)");
	char *t = cJSON_PrintUnformatted(j);
	if (t && strlen(t) > 600)
		memcpy(t + 590, "...\0", 4);
	return t;
}

static void show_str(char *buf, size_t len, const char *s)
{
	if (!s)
		snprintf(buf, len, "NULL");
	else
		snprintf(buf, len, "\"%.400s%s\"", s, strlen(s) > 400 ? "..." : "");
}

static const char *const str_fields[] = {"dedup_key", "severity",       "title", "description", "starts_at",
                                         "ends_at",   "comment_detail", NULL};

static const char *event_str(const struct cg_event *e, const char *name)
{
	if (strcmp(name, "dedup_key") == 0)
		return e->dedup_key;
	if (strcmp(name, "severity") == 0)
		return e->severity;
	if (strcmp(name, "title") == 0)
		return e->title;
	if (strcmp(name, "description") == 0)
		return e->description;
	if (strcmp(name, "starts_at") == 0)
		return e->starts_at;
	if (strcmp(name, "ends_at") == 0)
		return e->ends_at;
	if (strcmp(name, "comment_detail") == 0)
		return e->comment_detail;
	if (strcmp(name, "status") == 0)
		return e->status == CG_STATUS_RESOLVED ? "resolved"
		       : e->status == CG_STATUS_FIRING ? "firing"
		       : e->status == CG_STATUS_COMMENT ? "comment"
		                                        : "?";
	return NULL;
}

static int is_str_field(const char *k)
{
	for (size_t i = 0; str_fields[i]; i++)
		if (strcmp(str_fields[i], k) == 0)
			return 1;
	return strcmp(k, "status") == 0;
}

/* Splits "title_contains" into field "title" and op "contains"; returns 0 when key is no such form. */
static int split_op(const char *key, char *field, size_t flen, const char **op)
{
	static const char *const ops[] = {"_contains", "_excludes", "_min_len", "_maxlen", NULL};
	for (size_t i = 0; ops[i]; i++) {
		if (!ends_with(key, ops[i]))
			continue;
		size_t n = strlen(key) - strlen(ops[i]);
		if (n >= flen)
			return 0;
		memcpy(field, key, n);
		field[n] = '\0';
		for (size_t k = 0; str_fields[k]; k++)
			if (strcmp(str_fields[k], field) == 0) {
				*op = ops[i] + 1;
				return 1;
			}
	}
	return 0;
}

static void check_event(const char *where, const struct cg_event *e, const cJSON *want)
{
	char got[512], exp[512];
	const cJSON *it;
	cJSON_ArrayForEach(it, want)
	{
		const char *k = it->string;
		char field[64];
		const char *op = NULL;
		if (strcmp(k, "index") == 0)
			continue;
		if (is_str_field(k)) {
			const char *g = event_str(e, k);
			if (cJSON_IsNull(it) ? g != NULL : !cJSON_IsString(it) || !g || strcmp(g, it->valuestring) != 0) {
				show_str(got, sizeof(got), g);
				show_str(exp, sizeof(exp), cJSON_IsString(it) ? it->valuestring : NULL);
				fail_at(where, k, got, exp);
			}
			continue;
		}
		if (strcmp(k, "labels") == 0 || strcmp(k, "annotations") == 0 || strcmp(k, "links") == 0) {
			const cJSON *g = strcmp(k, "labels") == 0 ? e->labels : strcmp(k, "annotations") == 0 ? e->annotations : e->links;
			if (!g || !cJSON_Compare(g, it, 1)) {
				char *a = json_text(g), *b = json_text(it);
				fail_at(where, k, a, b);
				cJSON_free(a);
				cJSON_free(b);
			}
			continue;
		}
		if (strcmp(k, "ctx") == 0) {
			const cJSON *p;
			if (!e->ctx) {
				fail_at(where, "ctx", "NULL", "an object");
				continue;
			}
			cJSON_ArrayForEach(p, it)
			{
				const cJSON *g = cg_json_path(e->ctx, p->string);
				int ok = cJSON_IsNull(p) ? g == NULL : g && cJSON_Compare(g, p, 1);
				if (!ok) {
					char *a = json_text(g), *b = json_text(p), name[300];
					snprintf(name, sizeof(name), "ctx.%s", p->string);
					fail_at(where, name, a, b);
					cJSON_free(a);
					cJSON_free(b);
				}
			}
			continue;
		}
		if (split_op(k, field, sizeof(field), &op)) {
			const char *g = event_str(e, field);
			size_t glen = g ? strlen(g) : 0;
			if (strcmp(op, "contains") == 0 || strcmp(op, "excludes") == 0) {
				const cJSON *s;
				int must = strcmp(op, "contains") == 0;
				cJSON_ArrayForEach(s, it)
				{
					int has = g && cJSON_IsString(s) && strstr(g, s->valuestring);
					if (has != must) {
						show_str(got, sizeof(got), g);
						snprintf(exp, sizeof(exp), "%s \"%.300s\"", must ? "containing" : "not containing",
							 cJSON_IsString(s) ? s->valuestring : "?");
						fail_at(where, k, got, exp);
					}
				}
			} else {
				size_t lim = (size_t)cJSON_GetNumberValue(it);
				int ok = strcmp(op, "min_len") == 0 ? glen >= lim : glen <= lim;
				if (!ok) {
					snprintf(got, sizeof(got), "length %zu", glen);
					snprintf(exp, sizeof(exp), "%s %zu", op, lim);
					fail_at(where, k, got, exp);
				}
			}
			continue;
		}
		fail_at(where, k, "an unknown expectation key", "a known one (typo in the fixture?)");
	}
}

/* Runs one payload against an expectation (consumed); label names it in messages. Returns 1 when it ran. */
static int run_want(const struct cg_mapper *m, const char *payload_path, cJSON *want, const char *label, int force_group)
{
	char *text = read_file(payload_path);
	if (!text || !want) {
		fail_at(label, "file", "unreadable or invalid JSON", "a fixture");
		free(text);
		cJSON_Delete(want);
		return 0;
	}
	cJSON *payload = cJSON_Parse(text);
	free(text);
	if (!payload)
		fail_at(payload_path, "payload", "invalid JSON", "valid JSON");
	const cJSON *events = cJSON_IsArray(want) ? want : cJSON_GetObjectItemCaseSensitive(want, "events");
	const char *gb = cJSON_IsObject(want) ? cg_json_str(want, "group_by") : NULL;
	struct cg_map_opts opts = {.group_by = force_group || (gb && strcmp(gb, "group") == 0) ? CG_GROUP_GROUP : CG_GROUP_ALERT};
	struct cg_event_list out;
	char err[256] = "";
	char where[1024], got[512], exp[512];
	snprintf(where, sizeof(where), "%s/%s", m->name, label);
	cg_event_list_init(&out);
	int rc = m->map(payload, &opts, &out, err, sizeof(err));

	const char *want_err = cJSON_IsObject(want) ? cg_json_str(want, "error") : NULL;
	if (want_err) {
		if (rc != CG_EINVAL || !strstr(err, want_err)) {
			snprintf(got, sizeof(got), "rc %d \"%s\"", rc, err);
			snprintf(exp, sizeof(exp), "CG_EINVAL \"%s\"", want_err);
			fail_at(where, "error", got, exp);
		}
	} else if (rc != 0) {
		snprintf(got, sizeof(got), "rc %d (%s) \"%s\"", rc, cg_strerror(rc), err);
		fail_at(where, "rc", got, "0");
	} else {
		const cJSON *cnt = cJSON_IsObject(want) ? cJSON_GetObjectItemCaseSensitive(want, "count") : NULL;
		size_t n_want = cJSON_IsNumber(cnt) ? (size_t)cnt->valuedouble : (size_t)cJSON_GetArraySize(events);
		if (out.n != n_want) {
			snprintf(got, sizeof(got), "%zu events", out.n);
			snprintf(exp, sizeof(exp), "%zu", n_want);
			fail_at(where, "count", got, exp);
		}
		static const char *const list_fields[] = {"ignored_reason", "note"};
		for (size_t i = 0; i < 2; i++) {
			const char *w = cJSON_IsObject(want) ? cg_json_str(want, list_fields[i]) : NULL;
			const char *g = i == 0 ? out.ignored_reason : out.note;
			if (strcmp(g, w ? w : "") != 0) {
				show_str(got, sizeof(got), g);
				show_str(exp, sizeof(exp), w ? w : "");
				fail_at(where, list_fields[i], got, exp);
			}
		}
		int pos = 0;
		const cJSON *ev;
		cJSON_ArrayForEach(ev, events)
		{
			const cJSON *idx = cJSON_GetObjectItemCaseSensitive(ev, "index");
			size_t i = cJSON_IsNumber(idx) ? (size_t)idx->valuedouble : (size_t)pos;
			char w2[1100];
			snprintf(w2, sizeof(w2), "%s[%zu]", where, i);
			if (i >= out.n)
				fail_at(w2, "event", "missing", "present");
			else
				check_event(w2, &out.v[i], ev);
			pos++;
		}
	}
	cg_event_list_cleanup(&out);
	cJSON_Delete(payload);
	cJSON_Delete(want);
	return 1;
}

static int run_pair(const struct cg_mapper *m, const char *payload_path, const char *expected_path, int force_group)
{
	return run_want(m, payload_path, read_json(expected_path), strrchr(expected_path, '/') + 1, force_group);
}

/* Runs every pair under tests/fixtures/<name>/; returns how many ran. */
static int run_fixture_dir(const char *name)
{
	const struct cg_mapper *m = cg_mapper_find(name);
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/tests/fixtures/%s", source_dir(), name);
	if (!m) {
		fail_at(dir, "mapper", "no mapper with this name", "a registered mapper type");
		return 0;
	}
	char **files = list_dir(dir, ".json", 0);
	int ran = 0;
	for (size_t i = 0; files && files[i]; i++) {
		if (ends_with(files[i], ".expected.json"))
			continue;
		char payload[8300], expected[8300], group[8300];
		size_t stem = strlen(files[i]) - strlen(".json");
		snprintf(payload, sizeof(payload), "%s/%s", dir, files[i]);
		snprintf(expected, sizeof(expected), "%s/%.*s.expected.json", dir, (int)stem, files[i]);
		snprintf(group, sizeof(group), "%s/%.*s.group.expected.json", dir, (int)stem, files[i]);
		if (file_exists(expected))
			ran += run_pair(m, payload, expected, 0);
		if (file_exists(group)) {
			if (!m->supports_group_by)
				fail_at(group, "group_by", "a group fixture", "none: the mapper has no group mode");
			else
				ran += run_pair(m, payload, group, 1);
		}
	}
	free_list(files);
	return ran;
}

static void fixtures_for(const char *name, int min_pairs)
{
	failures = 0;
	int ran = run_fixture_dir(name);
	if (ran < min_pairs)
		print_error("%s: got %d fixture pairs, want at least %d\n", name, ran, min_pairs);
	assert_true(ran >= min_pairs);
	assert_int_equal(failures, 0);
}

static void test_alertmanager_fixtures(void **state)
{
	(void)state;
	fixtures_for("alertmanager", 30);
}

static void test_grafana_fixtures(void **state)
{
	(void)state;
	fixtures_for("grafana", 18);
}

static void test_generic_fixtures(void **state)
{
	(void)state;
	fixtures_for("generic", 4);
}

/* srcA's SaaS mappers: each must keep its fixture set (they also run in test_other_fixture_dirs). */
static void test_saas_fixtures(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		int min;
	} t[] = {{"datadog", 20}, {"sentry", 25}, {"azure", 13}, {"gcp", 12}, {"pagerduty", 20}, {"opsgenie", 18}};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const struct cg_mapper *m = cg_mapper_find(t[i].name);
		if (!m)
			print_error("mapper %s: got none, want it registered\n", t[i].name);
		assert_non_null(m);
		assert_non_null(m->default_priority_map);
		fixtures_for(t[i].name, t[i].min);
	}
}

/* Every other tests/fixtures/<name>/ (later mappers add fixtures without code); each must name a mapper. */
static void test_other_fixture_dirs(void **state)
{
	(void)state;
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/tests/fixtures", source_dir());
	char **dirs = list_dir(dir, "", 1);
	assert_non_null(dirs);
	failures = 0;
	for (size_t i = 0; dirs[i]; i++) {
		if (strcmp(dirs[i], "alertmanager") == 0 || strcmp(dirs[i], "grafana") == 0 || strcmp(dirs[i], "generic") == 0)
			continue;
		if (!cg_mapper_find(dirs[i]))
			continue; /* a fixture folder of another kind (e.g. email samples) */
		run_fixture_dir(dirs[i]);
	}
	free_list(dirs);
	assert_int_equal(failures, 0);
}

/* ---- real payloads from ../shared/fixtures ---- */

static void check_sane(const char *where, const struct cg_event_list *out)
{
	char got[300];
	if (out->n == 0 && !out->ignored_reason[0])
		fail_at(where, "events", "none and no ignored_reason", ">= 1 event or an ignored_reason");
	for (size_t i = 0; i < out->n; i++) {
		const struct cg_event *e = &out->v[i];
		snprintf(got, sizeof(got), "event %zu", i);
		if (!e->dedup_key || !e->dedup_key[0])
			fail_at(where, got, "empty dedup_key", "a key");
		if (e->status != CG_STATUS_FIRING && e->status != CG_STATUS_RESOLVED)
			fail_at(where, got, "invalid status", "firing or resolved");
		if (!e->title || !e->title[0])
			fail_at(where, got, "empty title", "a title");
		if (!e->description || !e->labels || !e->annotations || !e->links)
			fail_at(where, got, "NULL description/labels/annotations/links", "all set");
		if (!e->ctx || !cJSON_GetObjectItemCaseSensitive(e->ctx, "payload"))
			fail_at(where, got, "ctx without payload", "ctx.payload");
	}
}

/* The folder of ../shared/fixtures holding a mapper's real payloads, when it is not named like the mapper. */
static const char *shared_folder(const char *mapper)
{
	static const char *const map[][2] = {
		/* srcA */
		{"azure", "azure_monitor"},
		{"gcp", "gcp_monitoring"},
		/* srcB */
		{"cloudwatch", "aws_sns_cloudwatch"},
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(map[i][0], mapper) == 0)
			return map[i][1];
	return mapper;
}

static void test_shared_fixtures(void **state)
{
	(void)state;
	const char *shared = shared_dir();
	if (!shared)
		cg_h_skip("shared", "../shared (CG_SHARED_DIR) not found: real payloads not mapped");
	int ran = 0;
	failures = 0;
	for (const struct cg_mapper *const *m = cg_mapper_all(); *m; m++) {
		char dir[4096];
		snprintf(dir, sizeof(dir), "%s/fixtures/%s", shared, shared_folder((*m)->name));
		char **files = list_dir(dir, ".json", 0);
		for (size_t i = 0; files && files[i]; i++) {
			char path[8192];
			snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
			cJSON *payload = read_json(path);
			if (!payload) {
				fail_at(path, "payload", "invalid JSON", "JSON");
				continue;
			}
			for (int g = 0; g <= ((*m)->supports_group_by ? 1 : 0); g++) {
				struct cg_map_opts opts = {.group_by = g ? CG_GROUP_GROUP : CG_GROUP_ALERT};
				struct cg_event_list out;
				char err[256] = "", where[8300], got[400];
				snprintf(where, sizeof(where), "%s (%s)", path, g ? "group" : "alert");
				cg_event_list_init(&out);
				int rc = (*m)->map(payload, &opts, &out, err, sizeof(err));
				if (rc) {
					snprintf(got, sizeof(got), "rc %d \"%s\"", rc, err);
					fail_at(where, "rc", got, "0");
				} else {
					check_sane(where, &out);
				}
				cg_event_list_cleanup(&out);
				ran++;
			}
			cJSON_Delete(payload);
		}
		free_list(files);
	}
	if (!ran)
		cg_h_skip("shared", "no payload found under %s/fixtures", shared);
	assert_int_equal(failures, 0);
}

/* What the real payloads must give, pinned (skipped file by file when absent). */
static void test_shared_pinned(void **state)
{
	(void)state;
	static const struct {
		const char *mapper, *file, *expected;
		int group;
	} cases[] = {
		{"alertmanager", "alertmanager/zulip_alert_firing_captured.json",
		 "[{\"dedup_key\":\"a1bc48475b20e73d\",\"status\":\"firing\",\"severity\":\"critical\","
		 "\"title\":\"High CPU Temperature: High CPU core temperature\","
		 "\"links\":{\"generator\":\"http://cobalt:9090/graph?g0.expr=avg+by%28host%29+%28sensors_temp_input%7Bfeature%3D~%22core_%5B0-9%5D%2B%22%7D%29+%3E+15&g0.tab=1\","
		 "\"silence\":\"http://ops1:9093/#/silences/new?filter=%7Balertname%3D%22High%20CPU%20Temperature%22%2C%20host%3D%22andromeda%22%2C%20severity%3D%22critical%22%7D\"},"
		 "\"description_contains\":[\"CPU core temperature is 34.75C\"]},"
		 "{\"dedup_key\":\"c2ea85182f28cbd9\",\"description_contains\":[\"CPU core temperature is 17.625C\"]}]",
		 0},
		{"alertmanager", "alertmanager/zulip_alert_firing_captured.json",
		 "[{\"dedup_key\":\"{}/{}:{}\",\"status\":\"firing\",\"severity\":\"critical\",\"title\":\"High CPU Temperature\","
		 "\"description_contains\":[\"**2 alerts: 2 firing, 0 resolved** (receiver ops-zulip)\"]}]",
		 1},
		{"grafana", "grafana/zulip_alert-9-resolved_captured.json",
		 "[{\"dedup_key\":\"d8a21484c9c25a60\",\"status\":\"resolved\",\"ends_at\":\"2022-06-17T00:51:24.067337833Z\","
		 "\"links\":{\"generator\":\"https://grafana.example.com/alerting/grafana/zTjxv_C7k/view\",\"runbook\":\"https://example.com/\","
		 "\"silence\":\"https://grafana.example.com/alerting/silence/new?alertmanager=grafana&matcher=alertname%3DTest+alert&matcher=test%3Dtrue\"},"
		 "\"description_contains\":[\"**Value:** \\\\[ var='B0' metric='Value'\"]}]",
		 0},
		{"grafana", "grafana/zulip_alert-9-resolved_captured.json",
		 "[{\"dedup_key\":\"{}/{test=\\\"true\\\"}:{}\",\"status\":\"resolved\",\"title\":\"Test alert\"}]", 1},
		{"grafana", "grafana/docs_webhook_firing_two_alerts.json",
		 "[{\"dedup_key\":\"c6eadffa33fcdf37\",\"title\":\"High memory usage: This alert was triggered for zone us-1\","
		 "\"description_contains\":[\"**Value:** B=44.23943738, C=1\"],\"ctx\":{\"payload.orgId\":1,\"values.C\":1}},"
		 "{\"dedup_key\":\"bc97ff14869b13e3\",\"status\":\"firing\"}]",
		 0},
		/* srcA: SaaS tools */
		{"datadog", "datadog/template_integrations_extras_taskcall.json",
		 "{\"ignored_reason\":\"Datadog variables not rendered: a payload template, not a notification\",\"count\":0}", 0},
		{"datadog", "datadog/template_integrations_extras_ilert.json",
		 "{\"ignored_reason\":\"Datadog variables not rendered: a payload template, not a notification\",\"count\":0}", 0},
		{"sentry", "sentry/docs_issue_alert_event_alert_triggered.json",
		 "[{\"dedup_key\":\"issue/1117540176\",\"status\":\"firing\",\"severity\":\"error\","
		 "\"title\":\"ReferenceError: heck is not defined\",\"starts_at\":\"2019-08-19T21:06:17.677000Z\","
		 "\"links\":{\"generator\":\"https://sentry.io/organizations/test-org/issues/1117540176/events/e4874d664c3540c1a32eab185f12c5ab/\","
		 "\"issue\":\"https://sentry.io/organizations/test-org/issues/1117540176/\"},"
		 "\"description_contains\":[\"**Alert rule:** Very Important Alert Rule!\"],\"ctx\":{\"resource\":\"event_alert\"}}]",
		 0},
		{"sentry", "sentry/docs_metric_alert_resolved.json",
		 "[{\"dedup_key\":\"metric-alert/4\",\"status\":\"resolved\",\"title\":\"Too many errors\","
		 "\"links\":{\"generator\":\"https://sentry.io/organizations/baz/alerts/1/\"},\"labels\":{\"project\":\"bar\",\"dataset\":\"events\"}}]",
		 0},
		{"sentry", "sentry/docs_issue_created.json",
		 "[{\"dedup_key\":\"issue/1170820242\",\"status\":\"firing\",\"severity\":\"error\","
		 "\"title\":\"ReferenceError: blooopy is not defined\",\"description_contains\":[\"**FRONT-END-9** in front-end\"]}]",
		 0},
		{"azure", "azure_monitor/common_schema_metric_resolved.json",
		 "[{\"dedup_key\":\"/subscriptions/<subscription ID>/providers/Microsoft.AlertsManagement/alerts/aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e\","
		 "\"status\":\"resolved\",\"severity\":\"Sev3\",\"title\":\"WCUS-R2-Gen2 on wcus-r2-gen2\","
		 "\"starts_at\":\"2019-03-22T13:58:24.3713213Z\",\"ends_at\":\"2019-03-22T14:03:16.2246313Z\","
		 "\"description_contains\":[\"- Percentage CPU GreaterThan 25 (value 7.727)\"],"
		 "\"ctx\":{\"customProperties.Key1\":\"Value1\",\"alertContext.condition.windowSize\":\"PT5M\"}}]",
		 0},
		{"gcp", "gcp_monitoring/docs_v1.2_incident_closed.json",
		 "[{\"dedup_key\":\"0.opqiw61fsv7p\",\"status\":\"resolved\",\"severity\":\"no severity\","
		 "\"title\":\"Monitor-Project-Cluster: VM Instance - CPU utilization [MAX]\","
		 "\"starts_at\":\"2020-01-01T01:01:01Z\",\"ends_at\":\"2020-01-01T11:11:11Z\","
		 "\"links\":{\"generator\":\"https://console.cloud.google.com/monitoring/alerting/incidents/0.lxfiw61fsv7p?project=internal-project\","
		 "\"Playbook\":\"https://myownpersonaldomain.com/playbook?name=${resource.name}\"}}]",
		 0},
		{"gcp", "gcp_monitoring/test_connection_version_test.json", "{\"ignored_reason\":\"test notification\",\"count\":0}", 0},
		{"pagerduty", "pagerduty/docs_v3_incident_priority_updated.json",
		 "[{\"dedup_key\":\"PGR0VU2\",\"status\":\"firing\",\"severity\":\"P1\",\"title\":\"A little bump in the road\"}]", 0},
		{"pagerduty", "pagerduty/zulip_triggered_v3.json",
		 "[{\"dedup_key\":\"PFQZPSY\",\"status\":\"firing\",\"severity\":\"high\",\"title\":\"Test Incident 3\"}]", 0},
		{"pagerduty", "pagerduty/zulip_resolved_v3.json",
		 "[{\"dedup_key\":\"PCPZE64\",\"status\":\"resolved\",\"ends_at\":\"2021-06-04T13:16:53.816Z\"}]", 0},
		{"opsgenie", "opsgenie/zulip_create.json",
		 "[{\"dedup_key\":\"alert-alias\",\"status\":\"firing\",\"severity\":\"P3\",\"title\":\"another alert\","
		 "\"starts_at\":\"2017-08-14T11:25:56Z\",\"labels\":{\"entity\":\"Server\",\"source\":\"test@example.com\"}}]",
		 0},
		{"opsgenie", "opsgenie/zulip_close.json",
		 "[{\"dedup_key\":\"aliastest\",\"status\":\"resolved\",\"title\":\"test alert\",\"ends_at\":\"2015-01-05T10:06:14Z\"}]", 0},
		{"grafana", "grafana/alerting_test_default_payload_template_firing.json",
		 "[{\"dedup_key\":\"fac0861a85de433a\",\"title\":\"alert1\",\"links\":{\"generator\":\"http://localhost/test?orgId=1\","
		 "\"silence\":\"http://localhost/alerting/silence/new?alertmanager=grafana&matcher=alertname%3Dalert1&matcher=lbl1%3Dval1&orgId=1\"}}]",
		 0},
	};
	const char *shared = shared_dir();
	if (!shared)
		cg_h_skip("shared", "../shared (CG_SHARED_DIR) not found: real payloads not mapped");
	int ran = 0;
	failures = 0;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/fixtures/%s", shared, cases[i].file);
		if (!file_exists(path))
			continue;
		cJSON *want = cJSON_Parse(cases[i].expected);
		assert_non_null(want);
		ran += run_want(cg_mapper_find(cases[i].mapper), path, want, cases[i].file, cases[i].group);
	}
	if (!ran)
		cg_h_skip("shared", "no payload found under %s/fixtures", shared);
	assert_int_equal(failures, 0);
}


/* ---- sender text stays text, for every mapper ---- */

/* What a sender appends to every value: mentions, a link, an image, HTML, backticks, bidi and zero-width. */
#define ATTACK                                                                                                         \
	" @all @team-x [login](https://evil.example/login) ![x](https://evil.example/p.png) <img src=x> `x` ``y``"   \
	" \xE2\x80\xAE\xE2\x80\x8B"

/* Appends ATTACK to every string value except single words (status and action words the mapper must still
 * recognise); in an object named labels/tags/annotations/details, also adds a member whose key attacks. */
static void poison(cJSON *v)
{
	cJSON *it;
	if (cJSON_IsString(v)) {
		const char *s = v->valuestring;
		if (s[0] && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789.") == strlen(s) && strlen(s) <= 40)
			return;
		size_t n = strlen(s) + sizeof(ATTACK);
		char *p = malloc(n);
		assert_non_null(p);
		snprintf(p, n, "%s%s", s, ATTACK);
		assert_non_null(cJSON_SetValuestring(v, p));
		free(p);
		return;
	}
	cJSON_ArrayForEach(it, v) poison(it);
	if (cJSON_IsObject(v) && v->string &&
	    (!strcmp(v->string, "labels") || !strcmp(v->string, "tags") || !strcmp(v->string, "annotations") ||
	     !strcmp(v->string, "details") || !strcmp(v->string, "commonLabels")))
		assert_non_null(cJSON_AddStringToObject(v, "k@team-k [k](https://evil.example/k)", "v" ATTACK));
}

/* The first live '@' mention ("@" and a handle character), or NULL. */
static const char *live_mention(const char *s)
{
	for (const char *p = s; p && (p = strchr(p, '@')); p++) {
		char c = p[1];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-')
			return p;
	}
	return NULL;
}

/* The first sender link, image or HTML tag that Markdown would render (outside code spans: "](https://evil"
 * not escaped, "<img"), or NULL. */
static const char *live_markup(const char *s)
{
	for (const char *p = s; *p; p++) {
		if (*p == '`' && (p == s || p[-1] != '\\')) {
			/* A code span: a run of n backticks up to the next run of exactly n. */
			size_t n = strspn(p, "`");
			const char *q = p + n;
			while ((q = strchr(q, '`')) && strspn(q, "`") != n)
				q += strspn(q, "`");
			p = q ? q + n - 1 : p + n - 1;
			continue;
		}
		if ((!strncmp(p, "](https://evil", 14) && (p == s || p[-1] != '\\')) || !strncmp(p, "<img", 4))
			return p;
	}
	return NULL;
}

static void check_text(const char *where, const char *what, const char *text, int markdown, int *bad)
{
	const char *m = text ? live_mention(text) : NULL;
	const char *l = text && markdown ? live_markup(text) : NULL;
	const char *h = text ? strstr(text, "\xE2\x80\xAE") : NULL;
	if (!h && text)
		h = strstr(text, "\xE2\x80\x8B");
	const char *at = m ? m : l ? l : h;
	if (at) {
		char got[120];
		snprintf(got, sizeof(got), "\"%.60s\"", at);
		fail_at(where, what, got, "no live mention, link, HTML or hidden character from the sender");
		(*bad)++;
	}
}

/* Every mapper, every fixture payload with ATTACK in each value: neither the mapper's description and
 * comment detail nor what the builder makes of them (title, description, summary, attributes) may carry a
 * live mention, a sender's link or image, HTML or a hidden character. */
static void test_sender_text_stays_text(void **state)
{
	(void)state;
	failures = 0;
	for (const struct cg_mapper *const *m = cg_mapper_all(); *m; m++) {
		if (!strcmp((*m)->name, "email"))
			continue; /* maps parsed mail, not JSON fixtures: test_mail_eml and the LMTP tests cover it */
		char dir[4096];
		snprintf(dir, sizeof(dir), "%s/tests/fixtures/%s", source_dir(), (*m)->name);
		char **files = list_dir(dir, ".json", 0);
		int events = 0, bad = 0;
		struct cg_case_spec spec = {.source_name = "src",
					    .project = "e555e290-ed65-49bd-ae18-8acbfcf18db7",
					    .case_type = "3b010bde-09ce-4449-b745-71dd5f861963",
					    .default_priority_map = (*m)->default_priority_map};
		struct cg_builder *b = NULL;
		char err[256] = "";
		assert_int_equal(cg_builder_create(&spec, &b, err, sizeof(err)), 0);
		for (size_t i = 0; files && files[i]; i++) {
			if (ends_with(files[i], ".expected.json"))
				continue;
			char path[8300];
			snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
			cJSON *payload = read_json(path);
			if (!payload)
				continue; /* the invalid-JSON fixtures */
			poison(payload);
			for (int g = 0; g <= ((*m)->supports_group_by ? 1 : 0); g++) {
				struct cg_map_opts opts = {.group_by = g ? CG_GROUP_GROUP : CG_GROUP_ALERT};
				struct cg_event_list out;
				cg_event_list_init(&out);
				if ((*m)->map(payload, &opts, &out, err, sizeof(err)) == 0) {
					for (size_t k = 0; k < out.n; k++) {
						struct cg_event *e = &out.v[k];
						check_text(path, "event description", e->description, 1, &bad);
						check_text(path, "event comment_detail", e->comment_detail, 1, &bad);
						struct cg_case_draft d;
						if (cg_builder_build(b, e, &d, err, sizeof(err)) != 0)
							continue;
						events++;
						check_text(path, "title", d.title, 1, &bad);
						check_text(path, "description",
							   cJSON_GetStringValue(cg_json_path(d.create, "data.attributes.description")),
							   1, &bad);
						check_text(path, "summary", d.summary, 1, &bad);
						char *attrs = d.attributes ? cJSON_PrintUnformatted(d.attributes) : NULL;
						check_text(path, "attributes", attrs, 1, &bad);
						cJSON_free(attrs);
						cg_case_draft_cleanup(&d);
					}
				}
				cg_event_list_cleanup(&out);
			}
			cJSON_Delete(payload);
		}
		free_list(files);
		cg_builder_destroy(b);
		/* The poisoned payloads must still map: a check over nothing proves nothing. */
		if (events < 3)
			print_error("%s: got %d poisoned events built, want at least 3\n", (*m)->name, events);
		assert_true(events >= 3);
		if (bad > 20)
			break; /* enough to go on */
	}
	assert_int_equal(failures, 0);
}

/* ---- registry ---- */

static void test_registry(void **state)
{
	(void)state;
	static const char *const names[] = {"generic", "alertmanager", "grafana"};
	for (size_t i = 0; i < 3; i++) {
		const struct cg_mapper *m = cg_mapper_find(names[i]);
		assert_non_null(m);
		assert_string_equal(m->name, names[i]);
		assert_non_null(m->map);
		assert_non_null(m->description);
		assert_non_null(m->default_priority_map);
	}
	assert_true(cg_mapper_find("alertmanager")->supports_group_by);
	assert_true(cg_mapper_find("grafana")->supports_group_by);
	assert_false(cg_mapper_find("generic")->supports_group_by);
	assert_null(cg_mapper_find("prometheus"));
	/* Names are unique and the table is NULL-terminated. */
	size_t n = 0;
	for (const struct cg_mapper *const *m = cg_mapper_all(); *m; m++, n++)
		for (const struct cg_mapper *const *o = m + 1; *o; o++)
			assert_true(strcmp((*m)->name, (*o)->name) != 0);
	assert_true(n >= 3);
	/* The priority maps are "word=Pn" lists, as the builder parses them. */
	const char *pm = cg_mapper_find("alertmanager")->default_priority_map;
	assert_non_null(strstr(pm, "critical=P1"));
	assert_non_null(strstr(pm, "warning=P3"));
	assert_non_null(strstr(pm, "none=P5"));
}

/* NULL payload and a NULL opts must not crash (the gateway passes opts, but be forgiving). */
static void test_null_inputs(void **state)
{
	(void)state;
	for (const struct cg_mapper *const *m = cg_mapper_all(); *m; m++) {
		struct cg_event_list out;
		char err[128] = "";
		cg_event_list_init(&out);
		int rc = (*m)->map(NULL, NULL, &out, err, sizeof(err));
		if (rc != CG_EINVAL)
			print_error("%s: NULL payload: got rc %d, want CG_EINVAL\n", (*m)->name, rc);
		assert_int_equal(rc, CG_EINVAL);
		assert_true(err[0] != '\0');
		assert_int_equal(out.n, 0);
		cg_event_list_cleanup(&out);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registry),
		cmocka_unit_test(test_sender_text_stays_text),
		cmocka_unit_test(test_null_inputs),
		cmocka_unit_test(test_alertmanager_fixtures),
		cmocka_unit_test(test_grafana_fixtures),
		cmocka_unit_test(test_generic_fixtures),
		cmocka_unit_test(test_other_fixture_dirs),
		cmocka_unit_test(test_saas_fixtures),
		cmocka_unit_test(test_shared_fixtures),
		cmocka_unit_test(test_shared_pinned),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
