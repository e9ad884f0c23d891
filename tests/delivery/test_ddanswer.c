/* test_ddanswer.c: casegate's reading of Case API answers, replayed against answers recorded from real Datadog. */
/* labels: unit */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <yaml.h>

#include "ddanswer.h"
#include "err.h"
#include "harness.h"
#include "projects.h"

/* ---- the recorded cassettes (../shared/contracts/datadog-recorded) ---- */

struct rec {
	char method[8];
	char *path; /* after the host, query included */
	char *req_body;
	long code;
	char *body;
	char file[160];
};

struct recs {
	struct rec *v;
	size_t n, cap;
};

static yaml_node_t *map_get(yaml_document_t *d, yaml_node_t *m, const char *key)
{
	if (!m || m->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(d, p->key);
		if (k && k->type == YAML_SCALAR_NODE && strcmp((const char *)k->data.scalar.value, key) == 0)
			return yaml_document_get_node(d, p->value);
	}
	return NULL;
}

static const char *scalar(yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static void load_file(struct recs *rs, const char *path, const char *name)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	yaml_parser_t p;
	yaml_document_t d;
	assert_true(yaml_parser_initialize(&p));
	yaml_parser_set_input_file(&p, f);
	if (!yaml_parser_load(&p, &d))
		fail_msg("%s: not YAML: %s", path, p.problem ? p.problem : "?");
	yaml_node_t *root = yaml_document_get_root_node(&d);
	yaml_node_t *list = map_get(&d, root, "interactions");
	assert_non_null(list);
	assert_int_equal(list->type, YAML_SEQUENCE_NODE);
	for (yaml_node_item_t *it = list->data.sequence.items.start; it < list->data.sequence.items.top; it++) {
		yaml_node_t *x = yaml_document_get_node(&d, *it);
		yaml_node_t *req = map_get(&d, x, "request"), *resp = map_get(&d, x, "response");
		const char *method = scalar(map_get(&d, req, "method")), *url = scalar(map_get(&d, req, "url"));
		const char *code = scalar(map_get(&d, resp, "code")), *body = scalar(map_get(&d, resp, "body"));
		assert_non_null(method);
		assert_non_null(url);
		assert_non_null(code);
		const char *path_at = strstr(url, "/api/");
		if (!path_at)
			continue;
		if (rs->n == rs->cap) {
			rs->cap = rs->cap ? rs->cap * 2 : 64;
			rs->v = realloc(rs->v, rs->cap * sizeof(*rs->v));
			assert_non_null(rs->v);
		}
		struct rec *r = &rs->v[rs->n++];
		memset(r, 0, sizeof(*r));
		snprintf(r->method, sizeof(r->method), "%s", method);
		r->path = strdup(path_at);
		r->req_body = strdup(scalar(map_get(&d, req, "body")) ? scalar(map_get(&d, req, "body")) : "");
		r->code = strtol(code, NULL, 10);
		r->body = strdup(body ? body : "");
		snprintf(r->file, sizeof(r->file), "%s", name);
	}
	yaml_document_delete(&d);
	yaml_parser_delete(&p);
	fclose(f);
}

static struct recs load_all(void)
{
	struct recs rs = {0};
	const char *shared = cg_h_shared_dir();
	/* CI always has ../shared: a contract test that skipped would prove nothing. */
	if (!shared)
		fail_msg("../shared/contracts/datadog-recorded not found (CG_SHARED_DIR): the contract test needs it");
	static const char *const dirs[] = {"Feature_Case_Management", "Feature_Case_Management_Attribute",
					   "Feature_Case_Management_Type"};
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		char *dir = cg_h_fmt("%s/contracts/datadog-recorded/cassettes/%s", shared, dirs[i]);
		DIR *dh = opendir(dir);
		if (!dh)
			fail_msg("cannot open %s", dir);
		struct dirent *e;
		while ((e = readdir(dh)) != NULL) {
			if (!strstr(e->d_name, ".yaml"))
				continue;
			char *path = cg_h_fmt("%s/%s", dir, e->d_name);
			load_file(&rs, path, e->d_name);
			free(path);
		}
		closedir(dh);
		free(dir);
	}
	if (rs.n < 100)
		fail_msg("recorded interactions: got %zu, want >= 100", rs.n);
	return rs;
}

static void free_all(struct recs *rs)
{
	for (size_t i = 0; i < rs->n; i++) {
		free(rs->v[i].path);
		free(rs->v[i].req_body);
		free(rs->v[i].body);
	}
	free(rs->v);
}

/* 1 when path is /api/v2/cases/<uuid>[/<action>] (a single case or an action on one). */
static int case_path(const char *path, const char **action)
{
	static const char pre[] = "/api/v2/cases/";
	if (strncmp(path, pre, sizeof(pre) - 1) != 0)
		return 0;
	const char *id = path + sizeof(pre) - 1;
	size_t n = strcspn(id, "/?");
	if (n != 36 || id[8] != '-')
		return 0; /* projects, types, ... */
	*action = id[n] == '/' ? id + n + 1 : "";
	return 1;
}

/* Every answer that carries one case (create, get, status, priority, archive, ...) reads back as
 * the same case: id, key, closed, archived and priority as the JSON says. */
static void t_case_answers(void **state)
{
	(void)state;
	struct recs rs = load_all();
	int checked = 0, closed_seen = 0, archived_seen = 0, open_seen = 0;
	for (size_t i = 0; i < rs.n; i++) {
		struct rec *r = &rs.v[i];
		const char *action = "";
		int is_create = strcmp(r->method, "POST") == 0 && strcmp(r->path, "/api/v2/cases") == 0;
		if (!(r->code >= 200 && r->code < 300) || !r->body[0])
			continue;
		if (!is_create && !case_path(r->path, &action))
			continue;
		if (strncmp(action, "comment", 7) == 0 || strncmp(action, "custom_attributes", 17) == 0)
			continue; /* not case documents */
		cJSON *doc = cJSON_Parse(r->body);
		assert_non_null(doc);
		const cJSON *data = cJSON_GetObjectItemCaseSensitive(doc, "data");
		const cJSON *a = cJSON_GetObjectItemCaseSensitive(data, "attributes");
		struct cg_dd_case_view v;
		int rc = cg_dd_answer_case(r->body, strlen(r->body), &v);
		if (rc != 0)
			fail_msg("%s %s %s: got %s, want a case", r->file, r->method, r->path, cg_strerror(rc));
		assert_string_equal(v.id, cJSON_GetObjectItemCaseSensitive(data, "id")->valuestring);
		const cJSON *key = cJSON_GetObjectItemCaseSensitive(a, "key");
		assert_string_equal(v.key, cJSON_IsString(key) ? key->valuestring : "");
		const cJSON *st = cJSON_GetObjectItemCaseSensitive(a, "status");
		int want_closed = cJSON_IsString(st) && strcmp(st->valuestring, "CLOSED") == 0;
		if (v.closed != want_closed)
			fail_msg("%s: closed got %d, want %d (status %s)", r->file, v.closed, want_closed,
				 cJSON_IsString(st) ? st->valuestring : "-");
		int want_arch = cJSON_GetObjectItemCaseSensitive(a, "archived_at") != NULL;
		assert_int_equal(v.archived, want_arch);
		const cJSON *pr = cJSON_GetObjectItemCaseSensitive(a, "priority");
		if (cJSON_IsString(pr) && pr->valuestring[0] == 'P')
			assert_int_equal(v.priority, pr->valuestring[1] - '0');
		if (cJSON_GetObjectItemCaseSensitive(a, "created_at"))
			assert_true(v.created_ms > 1500000000000LL);
		if (cJSON_GetObjectItemCaseSensitive(a, "closed_at"))
			assert_true(v.closed_ms > 1500000000000LL);
		const cJSON *pid = cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(
				cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(data, "relationships"), "project"),
				"data"),
			"id");
		if (cJSON_IsString(pid))
			assert_string_equal(v.project_id, pid->valuestring);
		closed_seen += v.closed;
		archived_seen += v.archived;
		open_seen += !v.closed;
		checked++;
		cJSON_Delete(doc);
	}
	/* The recordings hold creates, status changes and an archive (closed cases are met in the
	 * search answers, t_search_answers). */
	if (checked < 30 || archived_seen < 1 || open_seen < 1)
		fail_msg("case answers checked %d (closed %d, archived %d, open %d): want >= 30, >= 1 archived and open",
			 checked, closed_seen, archived_seen, open_seen);
	free_all(&rs);
}

/* Search answers: every case in them parses; a marker in a description or a custom attribute is
 * found, scoped to the project; the oldest created_at is reported. */
static void t_search_answers(void **state)
{
	(void)state;
	struct recs rs = load_all();
	int searches = 0;
	for (size_t i = 0; i < rs.n; i++) {
		struct rec *r = &rs.v[i];
		if (strcmp(r->method, "GET") != 0 || strncmp(r->path, "/api/v2/cases?", 14) != 0 || r->code != 200)
			continue;
		searches++;
		struct cg_dd_case_view v;
		/* Each listed case reads as the status it has (the recorded search is status:closed). */
		cJSON *listing = cJSON_Parse(r->body);
		const cJSON *c;
		int closed = 0;
		cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(listing, "data"))
		{
			assert_int_equal(cg_dd_case_view_parse(c, &v), 0);
			const char *st = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(c, "attributes"),
									  "status")
						 ->valuestring;
			assert_int_equal(v.closed, strcmp(st, "CLOSED") == 0);
			closed += v.closed;
			assert_true(v.closed_ms == 0 || v.closed_ms > 1500000000000LL);
		}
		assert_true(closed >= 1);
		cJSON_Delete(listing);
		int64_t oldest = -1;
		assert_int_equal(cg_dd_answer_find_marker(r->body, strlen(r->body), "cgabsent", NULL, NULL, &v, &oldest),
				 0);
		assert_true(oldest > 1500000000000LL);
		/* The same answer with our marker written into the first case's description. */
		cJSON *doc = cJSON_Parse(r->body);
		cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "data"), 0);
		assert_non_null(first);
		cJSON *a = cJSON_GetObjectItemCaseSensitive(first, "attributes");
		cJSON_ReplaceItemInObjectCaseSensitive(a, "description",
						       cJSON_CreateString("Disk full\n\n---\ncasegate ref cg0123abcd"));
		const char *pid = cJSON_GetObjectItemCaseSensitive(
					  cJSON_GetObjectItemCaseSensitive(
						  cJSON_GetObjectItemCaseSensitive(
							  cJSON_GetObjectItemCaseSensitive(first, "relationships"), "project"),
						  "data"),
					  "id")
					  ->valuestring;
		char *text = cJSON_PrintUnformatted(doc);
		assert_int_equal(cg_dd_answer_find_marker(text, strlen(text), "cg0123abcd", NULL, pid, &v, NULL), 1);
		assert_string_equal(v.id, cJSON_GetObjectItemCaseSensitive(first, "id")->valuestring);
		/* Another project's case with our marker is not ours. */
		assert_int_equal(cg_dd_answer_find_marker(text, strlen(text), "cg0123abcd", NULL,
							  "00000000-0000-0000-0000-00000000beef", &v, NULL),
				 0);
		free(text);
		/* As a TEXT custom attribute value. */
		cJSON_ReplaceItemInObjectCaseSensitive(a, "description", cJSON_CreateString(""));
		cJSON *ca = cJSON_GetObjectItemCaseSensitive(a, "custom_attributes");
		cJSON *ref = cJSON_CreateObject();
		cJSON_AddStringToObject(ref, "type", "TEXT");
		cJSON_AddFalseToObject(ref, "is_multi");
		cJSON_AddStringToObject(ref, "value", "cg0123abcd");
		cJSON_AddItemToObject(ca, "casegate_ref", ref);
		text = cJSON_PrintUnformatted(doc);
		assert_int_equal(cg_dd_answer_find_marker(text, strlen(text), "cg0123abcd", NULL, NULL, &v, NULL), 0);
		assert_int_equal(cg_dd_answer_find_marker(text, strlen(text), "cg0123abcd", "casegate_ref", NULL, &v, NULL),
				 1);
		free(text);
		cJSON_Delete(doc);
	}
	assert_true(searches >= 2);
	free_all(&rs);
}

/* Custom attribute definitions of a case type, from the recorded listing and creates. */
static void t_custom_attribute_answers(void **state)
{
	(void)state;
	struct recs rs = load_all();
	int lists = 0, defs = 0;
	for (size_t i = 0; i < rs.n; i++) {
		struct rec *r = &rs.v[i];
		if (r->code != 200 && r->code != 201)
			continue;
		if (!strstr(r->path, "/custom_attributes") || strncmp(r->path, "/api/v2/cases/types", 19) != 0)
			continue;
		if (strcmp(r->method, "GET") == 0) {
			struct cg_dd_ca_def *v = NULL;
			size_t n = 99;
			assert_int_equal(cg_dd_answer_ca_defs(r->body, strlen(r->body), &v, &n), 0);
			cJSON *doc = cJSON_Parse(r->body);
			assert_int_equal(n, (size_t)cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "data")));
			for (size_t k = 0; k < n; k++)
				assert_int_not_equal(v[k].type, CG_DD_CA_UNKNOWN);
			cJSON_Delete(doc);
			free(v);
			lists++;
		} else if (strcmp(r->method, "POST") == 0) {
			/* A created definition, wrapped as a one-item listing, reads back as sent. */
			cJSON *doc = cJSON_Parse(r->body), *req = cJSON_Parse(r->req_body);
			cJSON *wrap = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(wrap, "data");
			cJSON_AddItemToArray(arr, cJSON_DetachItemFromObjectCaseSensitive(doc, "data"));
			char *text = cJSON_PrintUnformatted(wrap);
			struct cg_dd_ca_def *v = NULL;
			size_t n = 0;
			assert_int_equal(cg_dd_answer_ca_defs(text, strlen(text), &v, &n), 0);
			assert_int_equal(n, 1);
			const cJSON *ra = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(req, "data"),
									   "attributes");
			assert_string_equal(v[0].key, cJSON_GetObjectItemCaseSensitive(ra, "key")->valuestring);
			assert_int_equal(v[0].type,
					 cg_dd_ca_kind_parse(cJSON_GetObjectItemCaseSensitive(ra, "type")->valuestring));
			assert_int_equal(v[0].is_multi, cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ra, "is_multi")));
			free(v);
			free(text);
			cJSON_Delete(wrap);
			cJSON_Delete(doc);
			cJSON_Delete(req);
			defs++;
		}
	}
	if (lists < 1 || defs < 4)
		fail_msg("custom attribute answers: %d listings, %d creates; want >= 1, >= 4", lists, defs);
	free_all(&rs);
}

/* Every recorded error answer gives a readable reason: the detail when Datadog sent one. */
static void t_error_answers(void **state)
{
	(void)state;
	struct recs rs = load_all();
	int n = 0, with_detail = 0;
	for (size_t i = 0; i < rs.n; i++) {
		struct rec *r = &rs.v[i];
		if (r->code < 400)
			continue;
		char why[512];
		cg_dd_answer_error(r->body, strlen(r->body), why, sizeof(why));
		if (!why[0])
			fail_msg("%s: %ld answer gave no reason (body %s)", r->file, r->code, r->body);
		cJSON *doc = cJSON_Parse(r->body);
		const cJSON *e0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "errors"), 0);
		const cJSON *detail = cJSON_GetObjectItemCaseSensitive(e0, "detail");
		if (cJSON_IsString(detail)) {
			if (!strstr(why, detail->valuestring) && strlen(detail->valuestring) < 300)
				fail_msg("%s: reason \"%s\" lacks the detail \"%s\"", r->file, why, detail->valuestring);
			with_detail++;
		}
		for (const char *p = why; *p; p++)
			assert_true((unsigned char)*p >= 0x20);
		cJSON_Delete(doc);
		n++;
	}
	if (n < 30 || with_detail < 5)
		fail_msg("error answers: %d (with detail %d); want >= 30, >= 5", n, with_detail);
	char why[64];
	cg_dd_answer_error("{\"errors\":[\"Forbidden\"]}", 24, why, sizeof(why));
	assert_string_equal(why, "Forbidden");
	cg_dd_answer_error("<html>\n<b>403</b></html>", 24, why, sizeof(why));
	assert_string_equal(why, "<html> <b>403</b></html>");
	free_all(&rs);
}

/* The project listing answer (recorded PATCH/GET project documents) feeds the key -> id map. */
static void t_project_answers(void **state)
{
	(void)state;
	struct recs rs = load_all();
	int n = 0;
	for (size_t i = 0; i < rs.n; i++) {
		struct rec *r = &rs.v[i];
		if (r->code != 200 || strncmp(r->path, "/api/v2/cases/projects/", 23) != 0)
			continue;
		cJSON *doc = cJSON_Parse(r->body);
		cJSON *wrap = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(wrap, "data");
		cJSON *item = cJSON_DetachItemFromObjectCaseSensitive(doc, "data");
		const char *key = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(item, "attributes"), "key")
					  ->valuestring;
		char *want_key = strdup(key), *want_id = strdup(cJSON_GetObjectItemCaseSensitive(item, "id")->valuestring);
		cJSON_AddItemToArray(arr, item);
		char *text = cJSON_PrintUnformatted(wrap);
		struct cg_projects p = {0};
		assert_int_equal(cg_projects_parse(&p, text, strlen(text)), 0);
		assert_string_equal(cg_projects_id(&p, want_key), want_id);
		cg_projects_cleanup(&p);
		free(text);
		free(want_key);
		free(want_id);
		cJSON_Delete(wrap);
		cJSON_Delete(doc);
		n++;
	}
	assert_true(n >= 1);
	free_all(&rs);
}

static void t_parse_time(void **state)
{
	(void)state;
	assert_int_equal(cg_dd_parse_time("1970-01-01T00:00:00Z"), 0);
	assert_int_equal(cg_dd_parse_time("2026-01-24T00:47:45.477244496Z"), 1769215665477LL);
	assert_int_equal(cg_dd_parse_time("2026-01-24T01:47:45+01:00"), 1769215665000LL);
	assert_int_equal(cg_dd_parse_time("2026-01-24T00:47:45.5Z"), 1769215665500LL);
	assert_int_equal(cg_dd_parse_time("2026-01-24"), 0);
	assert_int_equal(cg_dd_parse_time("2026-01-24T00:47:45.Z"), 0);
	assert_int_equal(cg_dd_parse_time("2026-13-24T00:47:45Z"), 0);
	assert_int_equal(cg_dd_parse_time("2026-01-24T00:47:45Zjunk"), 0);
	assert_int_equal(cg_dd_parse_time(NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_case_answers),	     cmocka_unit_test(t_search_answers),
		cmocka_unit_test(t_custom_attribute_answers), cmocka_unit_test(t_error_answers),
		cmocka_unit_test(t_project_answers),	     cmocka_unit_test(t_parse_time),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
