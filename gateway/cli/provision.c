/* provision.c: reconciles the Case Management resources of the config's `provision:` section with
 * Datadog (plan / apply), and opens or ends maintenance windows from the command line. */
#include "provision.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <yaml.h>

#include "config.h"
#include "ddclient.h"
#include "ddanswer.h"
#include "ddsync.h"
#include "err.h"

/* ---- HTTP: the blocking client with the daemon's proxy, CA file, timeout, 429 handling ---- */

static long call(const struct cg_ddsync *a, const char *method, const char *path, cJSON *body, cJSON **resp,
		 char *errbuf, size_t errlen)
{
	return cg_ddsync_call(a, method, path, body, resp, errbuf, errlen);
}

static int ok2xx(long st)
{
	return st >= 200 && st < 300;
}

/* ---- the provision section: YAML -> JSON (mappings carry their line as "__line") ---- */

static cJSON *yaml_json(yaml_document_t *doc, yaml_node_t *n, int depth)
{
	if (!n || depth > 32)
		return NULL;
	if (n->type == YAML_SCALAR_NODE) {
		const char *s = (const char *)n->data.scalar.value;
		int plain = n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		if (plain && (strcmp(s, "true") == 0 || strcmp(s, "false") == 0))
			return cJSON_CreateBool(strcmp(s, "true") == 0);
		if (plain && (n->data.scalar.length == 0 || strcmp(s, "~") == 0 || strcmp(s, "null") == 0))
			return cJSON_CreateNull();
		return cJSON_CreateString(s);
	}
	cJSON *o = n->type == YAML_SEQUENCE_NODE ? cJSON_CreateArray() : cJSON_CreateObject();
	if (!o)
		return NULL;
	if (n->type == YAML_SEQUENCE_NODE) {
		for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
			cJSON *v = yaml_json(doc, yaml_document_get_node(doc, *it), depth + 1);
			if (!v) {
				cJSON_Delete(o);
				return NULL;
			}
			cJSON_AddItemToArray(o, v);
		}
		return o;
	}
	cJSON_AddNumberToObject(o, "__line", (double)n->start_mark.line + 1);
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(doc, p->key);
		cJSON *v = yaml_json(doc, yaml_document_get_node(doc, p->value), depth + 1);
		if (!k || k->type != YAML_SCALAR_NODE || !v) {
			cJSON_Delete(v);
			cJSON_Delete(o);
			return NULL;
		}
		cJSON_AddItemToObject(o, (const char *)k->data.scalar.value, v);
	}
	return o;
}

/* A copy without the "__line" bookkeeping. */
static cJSON *clean(const cJSON *v)
{
	cJSON *d = cJSON_Duplicate(v, 1);
	if (!d)
		return NULL;
	cJSON *stack[64];
	int sp = 0;
	stack[sp++] = d;
	while (sp) {
		cJSON *x = stack[--sp];
		cJSON_DeleteItemFromObjectCaseSensitive(x, "__line");
		for (cJSON *c = x->child; c; c = c->next)
			if ((cJSON_IsObject(c) || cJSON_IsArray(c)) && sp < 64)
				stack[sp++] = c;
	}
	return d;
}

/* Reads the provision: subtree of path as JSON. NULL when absent (*missing) or unreadable. */
static cJSON *read_section(const char *path, FILE *err, int *missing)
{
	FILE *f = fopen(path, "rb");
	yaml_parser_t p;
	yaml_document_t doc;
	cJSON *out = NULL;
	*missing = 0;
	if (!f) {
		fprintf(err, "%s: cannot read\n", path);
		return NULL;
	}
	if (!yaml_parser_initialize(&p)) {
		fclose(f);
		return NULL;
	}
	yaml_parser_set_input_file(&p, f);
	if (!yaml_parser_load(&p, &doc)) {
		fprintf(err, "%s: YAML syntax error\n", path);
		yaml_parser_delete(&p);
		fclose(f);
		return NULL;
	}
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	*missing = 1;
	if (root && root->type == YAML_MAPPING_NODE) {
		for (yaml_node_pair_t *pr = root->data.mapping.pairs.start; pr < root->data.mapping.pairs.top; pr++) {
			yaml_node_t *k = yaml_document_get_node(&doc, pr->key);
			if (k && k->type == YAML_SCALAR_NODE && strcmp((const char *)k->data.scalar.value, "provision") == 0) {
				*missing = 0;
				out = yaml_json(&doc, yaml_document_get_node(&doc, pr->value), 0);
			}
		}
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&p);
	fclose(f);
	return out;
}

/* ---- the declared resources ---- */

struct checker {
	const char *file;
	FILE *err;
	int nerr;
};

__attribute__((format(printf, 3, 4))) static void bad(struct checker *k, const cJSON *at, const char *fmt, ...)
{
	va_list ap;
	const cJSON *ln = cJSON_GetObjectItemCaseSensitive(at, "__line");
	fprintf(k->err, "%s:%d: provision: ", k->file, cJSON_IsNumber(ln) ? ln->valueint : 0);
	va_start(ap, fmt);
	vfprintf(k->err, fmt, ap);
	va_end(ap);
	fputc('\n', k->err);
	k->nerr++;
}

static void only_keys(struct checker *k, const cJSON *o, const char *what, const char *const *keys)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, o)
	{
		int known = strcmp(it->string, "__line") == 0;
		for (size_t i = 0; keys[i] && !known; i++)
			known = strcmp(it->string, keys[i]) == 0;
		if (!known)
			bad(k, o, "%s: unknown key '%s'", what, it->string);
	}
}

static const char *need_str(struct checker *k, const cJSON *o, const char *what, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (!cJSON_IsString(v) || !v->valuestring[0]) {
		bad(k, o, "%s: %s is required (a string)", what, key);
		return NULL;
	}
	return v->valuestring;
}

static int bool_or(const cJSON *o, const char *key, int dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

static const cJSON *list(struct checker *k, const cJSON *o, const char *what, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (v && !cJSON_IsNull(v) && !cJSON_IsArray(v)) {
		bad(k, o, "%s: %s must be a list", what, key);
		return NULL;
	}
	return cJSON_IsArray(v) ? v : NULL;
}

static void check_section(struct checker *k, const cJSON *sec)
{
	static const char *const top[] = {"prune", "projects", "maintenance_windows", "case_types", NULL};
	static const char *const tk[] = {"id", "custom_attributes", NULL};
	static const char *const ck[] = {"key", "type", "display_name", "is_multi", "description", NULL};
	static const char *const pk[] = {"key", "name", "team", "notification_rules", "automation_rules", "views", NULL};
	static const char *const nk[] = {"query", "enabled", "triggers", "recipients", NULL};
	static const char *const ak[] = {"name", "enabled", "trigger", "action", NULL};
	static const char *const vk[] = {"name", "query", NULL};
	static const char *const wk[] = {"name", "query", "start", "end", NULL};
	const cJSON *p, *x;
	if (!cJSON_IsObject(sec)) {
		bad(k, sec, "expected a mapping");
		return;
	}
	only_keys(k, sec, "provision", top);
	cJSON_ArrayForEach(p, list(k, sec, "provision", "projects"))
	{
		only_keys(k, p, "project", pk);
		const char *key = need_str(k, p, "project", "key");
		need_str(k, p, "project", "name");
		if (key) {
			int ok = isupper((unsigned char)key[0]) && strcmp(key, "CASE") != 0;
			for (const char *c = key; *c; c++)
				ok &= isupper((unsigned char)*c) || isdigit((unsigned char)*c);
			if (!ok)
				bad(k, p, "project key '%s': upper-case letters and digits, not CASE", key);
		}
		cJSON_ArrayForEach(x, list(k, p, "project", "notification_rules"))
		{
			only_keys(k, x, "notification rule", nk);
			if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(x, "triggers")) ||
			    !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(x, "recipients")))
				bad(k, x, "notification rule: triggers and recipients are required (lists)");
		}
		cJSON_ArrayForEach(x, list(k, p, "project", "automation_rules"))
		{
			only_keys(k, x, "automation rule", ak);
			need_str(k, x, "automation rule", "name");
			if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(x, "trigger")) ||
			    !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(x, "action")))
				bad(k, x, "automation rule: trigger and action are required (mappings)");
		}
		cJSON_ArrayForEach(x, list(k, p, "project", "views"))
		{
			only_keys(k, x, "view", vk);
			need_str(k, x, "view", "name");
			need_str(k, x, "view", "query");
		}
	}
	cJSON_ArrayForEach(p, list(k, sec, "provision", "case_types"))
	{
		only_keys(k, p, "case type", tk);
		need_str(k, p, "case type", "id");
		cJSON_ArrayForEach(x, list(k, p, "case type", "custom_attributes"))
		{
			only_keys(k, x, "custom attribute", ck);
			need_str(k, x, "custom attribute", "key");
			const char *t = need_str(k, x, "custom attribute", "type");
			if (t && cg_dd_ca_kind_parse(t) == CG_DD_CA_UNKNOWN)
				bad(k, x, "custom attribute: type '%s': use TEXT, URL, NUMBER or SELECT", t);
		}
	}
	cJSON_ArrayForEach(x, list(k, sec, "provision", "maintenance_windows"))
	{
		only_keys(k, x, "maintenance window", wk);
		for (size_t i = 0; wk[i]; i++)
			need_str(k, x, "maintenance window", wk[i]);
	}
}

/* ---- plan ---- */

enum pop { P_CREATE, P_UPDATE, P_DELETE };

struct item {
	enum pop op;
	char kind[32];
	char label[300];
	char detail[300];
	const char *method;
	char path[512];       /* may hold "{project}" for a project created by this apply */
	char project_key[40]; /* whose id replaces {project} */
	cJSON *body;
};

struct plan {
	struct item *v;
	size_t n, cap;
	cJSON *project_ids; /* key -> id (known, or created by apply) */
};

__attribute__((format(printf, 6, 7))) static struct item *add(struct plan *pl, enum pop op, const char *kind,
							       const char *method, cJSON *body, const char *label_fmt, ...)
{
	if (pl->n == pl->cap) {
		size_t cap = pl->cap ? pl->cap * 2 : 16;
		struct item *v = realloc(pl->v, cap * sizeof(*v));
		if (!v) {
			cJSON_Delete(body);
			return NULL;
		}
		pl->v = v;
		pl->cap = cap;
	}
	struct item *it = &pl->v[pl->n++];
	memset(it, 0, sizeof(*it));
	it->op = op;
	snprintf(it->kind, sizeof(it->kind), "%s", kind);
	it->method = method;
	it->body = body;
	va_list ap;
	va_start(ap, label_fmt);
	vsnprintf(it->label, sizeof(it->label), label_fmt, ap);
	va_end(ap);
	return it;
}

static void plan_free(struct plan *pl)
{
	for (size_t i = 0; i < pl->n; i++)
		cJSON_Delete(pl->v[i].body);
	free(pl->v);
	cJSON_Delete(pl->project_ids);
}

static cJSON *env(const char *type, cJSON *attrs)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *d = cJSON_AddObjectToObject(root, "data");
	if (attrs)
		cJSON_AddItemToObject(d, "attributes", attrs);
	cJSON_AddStringToObject(d, "type", type);
	return root;
}

static int has_mark(const char *name)
{
	size_t n = strlen(name), m = strlen(CG_PROVISION_MARK);
	return n >= m && strcmp(name + n - m, CG_PROVISION_MARK) == 0;
}

static void marked(const char *name, char *out, size_t len)
{
	snprintf(out, len, "%s%s", name, CG_PROVISION_MARK);
}

/* 1 when every member of want equals the same member of have. */
static int subset_equal(const cJSON *want, const cJSON *have)
{
	const cJSON *w;
	cJSON_ArrayForEach(w, want)
	{
		const cJSON *h = cJSON_GetObjectItemCaseSensitive(have, w->string);
		if (!h || !cJSON_Compare(w, h, 1))
			return 0;
	}
	return 1;
}

/* "2026-06-01T00:00:00.000Z" and "2026-06-01T00:00:00Z" are the same time. */
static void norm_time(const char *s, char *out, size_t len)
{
	snprintf(out, len, "%s", s ? s : "");
	char *dot = strchr(out, '.');
	if (dot) {
		char *e = dot + 1;
		while (*e == '0')
			e++;
		if (!isdigit((unsigned char)*e))
			memmove(dot, e, strlen(e) + 1);
	}
}

struct state {
	const struct cg_ddsync *api;
	struct checker *k;
	int prune;
	int failed;
};

static cJSON *get_list(struct state *s, const char *path, const char *what)
{
	char e[400];
	cJSON *resp = NULL;
	long st = call(s->api, "GET", path, NULL, &resp, e, sizeof(e));
	if (!ok2xx(st) || !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(resp, "data"))) {
		fprintf(s->k->err, "error: reading %s: %s\n", what, e[0] ? e : "answer without a data list");
		cJSON_Delete(resp);
		s->failed = 1;
		return NULL;
	}
	return resp;
}

/* Sets the string at o.key (when there is one) to upper or lower case: Datadog's enums are
 * TRIGGER_TYPES for notification rules, trigger_types and action_types for automation rules. */
static void enum_case(cJSON *o, const char *key, int upper)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (!cJSON_IsString(v))
		return;
	for (char *c = v->valuestring; *c; c++)
		*c = (char)(upper ? toupper((unsigned char)*c) : tolower((unsigned char)*c));
}

static void plan_nrules(struct state *s, struct plan *pl, const char *pkey, const char *pid, const cJSON *decl)
{
	cJSON *cur = NULL;
	char path[300];
	if (pid) {
		snprintf(path, sizeof(path), "/api/v2/cases/projects/%s/notification_rules", pid);
		if (!(cur = get_list(s, path, "notification rules")))
			return;
	}
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(cur, "data");
	int n = cJSON_GetArraySize(data);
	char *matched = calloc((size_t)n + 1, 1);
	const cJSON *d;
	int i = 0;
	cJSON_ArrayForEach(d, decl)
	{
		cJSON *a = cJSON_CreateObject();
		cJSON_AddBoolToObject(a, "is_enabled", bool_or(d, "enabled", 1));
		const cJSON *q = cJSON_GetObjectItemCaseSensitive(d, "query");
		cJSON_AddStringToObject(a, "query", cJSON_IsString(q) ? q->valuestring : "");
		cJSON *rec = clean(cJSON_GetObjectItemCaseSensitive(d, "recipients"));
		cJSON *trig = clean(cJSON_GetObjectItemCaseSensitive(d, "triggers"));
		cJSON *e;
		cJSON_ArrayForEach(e, rec)
		{
			enum_case(e, "type", 1);
		}
		cJSON_ArrayForEach(e, trig)
		{
			enum_case(e, "type", 1);
		}
		cJSON_AddItemToObject(a, "recipients", rec);
		cJSON_AddItemToObject(a, "triggers", trig);
		/* No name field: a rule is identified by its content. */
		int found = -1, j = 0;
		const cJSON *h;
		cJSON_ArrayForEach(h, data)
		{
			if (found < 0 && !matched[j] && subset_equal(a, cJSON_GetObjectItemCaseSensitive(h, "attributes")))
				found = j;
			j++;
		}
		if (found >= 0) {
			matched[found] = 1;
			cJSON_Delete(a);
		} else {
			struct item *it = add(pl, P_CREATE, "notification_rule", "POST", env("notification_rule", a),
					      "%s #%d (query \"%s\")", pkey, i + 1, cJSON_IsString(q) ? q->valuestring : "");
			if (it) {
				snprintf(it->path, sizeof(it->path), "/api/v2/cases/projects/{project}/notification_rules");
				snprintf(it->project_key, sizeof(it->project_key), "%s", pkey);
			}
		}
		i++;
	}
	i = 0;
	cJSON_ArrayForEach(d, data)
	{
		/* Notification rules have no field to mark them casegate's: only prune removes them. */
		if (!matched[i] && s->prune) {
			const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "id"));
			struct item *it = add(pl, P_DELETE, "notification_rule", "DELETE", NULL, "%s %s (prune)", pkey,
					      id ? id : "?");
			if (it && id)
				snprintf(it->path, sizeof(it->path), "/api/v2/cases/projects/%s/notification_rules/%s", pid, id);
		}
		i++;
	}
	free(matched);
	cJSON_Delete(cur);
}

/* Automation rules and views: named, casegate's carry CG_PROVISION_MARK. */
static void plan_named(struct state *s, struct plan *pl, const char *kind, const char *pkey, const char *pid,
		       const cJSON *decl)
{
	int rules = strcmp(kind, "automation_rule") == 0;
	cJSON *cur = NULL;
	char path[300];
	if (pid) {
		if (rules)
			snprintf(path, sizeof(path), "/api/v2/cases/projects/%s/rules", pid);
		else
			snprintf(path, sizeof(path), "/api/v2/cases/views?project_id=%s", pid);
		if (!(cur = get_list(s, path, rules ? "automation rules" : "case views")))
			return;
	}
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(cur, "data");
	char *matched = calloc((size_t)cJSON_GetArraySize(data) + 1, 1);
	const cJSON *d;
	cJSON_ArrayForEach(d, decl)
	{
		const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "name"));
		char full[300];
		marked(name, full, sizeof(full));
		cJSON *a = cJSON_CreateObject();
		cJSON_AddStringToObject(a, "name", full);
		if (rules) {
			cJSON_AddStringToObject(a, "state", bool_or(d, "enabled", 1) ? "ENABLED" : "DISABLED");
			cJSON *trig = clean(cJSON_GetObjectItemCaseSensitive(d, "trigger"));
			cJSON *act = clean(cJSON_GetObjectItemCaseSensitive(d, "action"));
			enum_case(trig, "type", 0);
			enum_case(act, "type", 0);
			cJSON_AddItemToObject(a, "trigger", trig);
			cJSON_AddItemToObject(a, "action", act);
		} else {
			cJSON_AddStringToObject(a, "query", cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "query")));
		}
		int found = -1, j = 0;
		const cJSON *h;
		cJSON_ArrayForEach(h, data)
		{
			const char *hn = cJSON_GetStringValue(
				cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(h, "attributes"), "name"));
			if (found < 0 && hn && strcmp(hn, full) == 0)
				found = j;
			j++;
		}
		const char *id = found >= 0 ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
						      cJSON_GetArrayItem(data, found), "id"))
					    : NULL;
		if (found >= 0)
			matched[found] = 1;
		if (found >= 0 &&
		    subset_equal(a, cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(data, found), "attributes"))) {
			cJSON_Delete(a);
			continue;
		}
		struct item *it;
		if (found >= 0) {
			it = add(pl, P_UPDATE, kind, "PUT", env(rules ? "rule" : "view", a), "%s \"%s\"", pkey, name);
			if (it && rules)
				snprintf(it->path, sizeof(it->path), "/api/v2/cases/projects/%s/rules/%s", pid, id);
			else if (it)
				snprintf(it->path, sizeof(it->path), "/api/v2/cases/views/%s", id);
		} else {
			if (!rules)
				cJSON_AddStringToObject(a, "project_id", "{project}");
			it = add(pl, P_CREATE, kind, "POST", env(rules ? "rule" : "view", a), "%s \"%s\"", pkey, name);
			if (it) {
				snprintf(it->path, sizeof(it->path), "%s",
					 rules ? "/api/v2/cases/projects/{project}/rules" : "/api/v2/cases/views");
				snprintf(it->project_key, sizeof(it->project_key), "%s", pkey);
			}
		}
	}
	int i = 0;
	cJSON_ArrayForEach(d, data)
	{
		const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "id"));
		const char *hn = cJSON_GetStringValue(
			cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(d, "attributes"), "name"));
		int mine = hn && has_mark(hn);
		if (!matched[i] && id && (mine || s->prune)) {
			struct item *it = add(pl, P_DELETE, kind, "DELETE", NULL, "%s \"%s\"%s", pkey, hn ? hn : id,
					      mine ? "" : " (prune)");
			if (it && rules)
				snprintf(it->path, sizeof(it->path), "/api/v2/cases/projects/%s/rules/%s", pid, id);
			else if (it)
				snprintf(it->path, sizeof(it->path), "/api/v2/cases/views/%s", id);
		}
		i++;
	}
	free(matched);
	cJSON_Delete(cur);
}

/*
 * Case types: each declared custom attribute that the type lacks is created (e.g. the TEXT
 * attribute that carries casegate's marker, datadog.marker_attribute). An existing attribute is
 * never changed or deleted: one with another type or is_multi is an error to settle by hand.
 */
static void plan_case_types(struct state *s, struct plan *pl, const cJSON *decl)
{
	const cJSON *t;
	cJSON_ArrayForEach(t, decl)
	{
		const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(t, "id"));
		if (!id)
			continue;
		char path[300];
		snprintf(path, sizeof(path), "/api/v2/cases/types/%s/custom_attributes", id);
		cJSON *cur = get_list(s, path, "custom attributes");
		if (!cur)
			return;
		char *text = cJSON_PrintUnformatted(cur);
		struct cg_dd_ca_def *defs = NULL;
		size_t nd = 0;
		if (!text || cg_dd_answer_ca_defs(text, strlen(text), &defs, &nd) != 0) {
			fprintf(s->k->err, "error: case type %s: the custom attribute listing is not understood\n", id);
			s->failed = 1;
		}
		cJSON_free(text);
		cJSON_Delete(cur);
		const cJSON *c;
		cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(t, "custom_attributes"))
		{
			const char *key = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "key"));
			const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "type"));
			if (!key || !type)
				continue;
			enum cg_dd_ca_kind kind = cg_dd_ca_kind_parse(type);
			int multi = bool_or(c, "is_multi", 0);
			const struct cg_dd_ca_def *have = NULL;
			for (size_t i = 0; i < nd; i++)
				if (strcmp(defs[i].key, key) == 0)
					have = &defs[i];
			if (have) {
				if (have->type != kind || have->is_multi != multi) {
					fprintf(s->k->err,
						"error: case type %s: custom attribute %s is %s%s in Datadog, declared %s%s: "
						"casegate does not change it (delete or rename it in Datadog)\n",
						id, key, cg_dd_ca_kind_name(have->type), have->is_multi ? " (multi)" : "",
						cg_dd_ca_kind_name(kind), multi ? " (multi)" : "");
					s->failed = 1;
				}
				continue;
			}
			cJSON *a = cJSON_CreateObject();
			const char *dn = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "display_name"));
			const char *desc = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "description"));
			cJSON_AddStringToObject(a, "display_name", dn ? dn : key);
			cJSON_AddStringToObject(a, "key", key);
			cJSON_AddStringToObject(a, "type", cg_dd_ca_kind_name(kind));
			cJSON_AddBoolToObject(a, "is_multi", multi);
			if (desc)
				cJSON_AddStringToObject(a, "description", desc);
			struct item *x = add(pl, P_CREATE, "custom_attribute", "POST", env("custom_attribute", a), "%s on %s",
					     key, id);
			if (x)
				snprintf(x->path, sizeof(x->path), "/api/v2/cases/types/%s/custom_attributes", id);
		}
		free(defs);
	}
}

static void plan_windows(struct state *s, struct plan *pl, const cJSON *decl)
{
	cJSON *cur = get_list(s, "/api/v2/maintenance_windows", "maintenance windows");
	if (!cur)
		return;
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(cur, "data");
	char *matched = calloc((size_t)cJSON_GetArraySize(data) + 1, 1);
	const cJSON *d;
	cJSON_ArrayForEach(d, decl)
	{
		const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "name"));
		char full[300], t1[64], t2[64];
		marked(name, full, sizeof(full));
		cJSON *a = cJSON_CreateObject();
		cJSON_AddStringToObject(a, "name", full);
		cJSON_AddStringToObject(a, "query", cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "query")));
		cJSON_AddStringToObject(a, "start_at", cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "start")));
		cJSON_AddStringToObject(a, "end_at", cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "end")));
		int found = -1, j = 0;
		const cJSON *h;
		cJSON_ArrayForEach(h, data)
		{
			const char *hn = cJSON_GetStringValue(
				cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(h, "attributes"), "name"));
			if (found < 0 && hn && strcmp(hn, full) == 0)
				found = j;
			j++;
		}
		int same = 0;
		if (found >= 0) {
			matched[found] = 1;
			const cJSON *ha = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(data, found), "attributes");
			char h1[64], h2[64];
			norm_time(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "start_at")), t1, sizeof(t1));
			norm_time(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "end_at")), t2, sizeof(t2));
			norm_time(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ha, "start_at")), h1, sizeof(h1));
			norm_time(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ha, "end_at")), h2, sizeof(h2));
			const char *hq = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ha, "query"));
			same = strcmp(t1, h1) == 0 && strcmp(t2, h2) == 0 && hq &&
			       strcmp(hq, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "query"))) == 0;
		}
		if (same) {
			cJSON_Delete(a);
			continue;
		}
		const char *id = found >= 0 ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
						      cJSON_GetArrayItem(data, found), "id"))
					    : NULL;
		struct item *it = add(pl, found >= 0 ? P_UPDATE : P_CREATE, "maintenance_window", found >= 0 ? "PUT" : "POST",
				      env("maintenance_window", a), "\"%s\"", name);
		if (it && id)
			snprintf(it->path, sizeof(it->path), "/api/v2/maintenance_windows/%s", id);
		else if (it)
			snprintf(it->path, sizeof(it->path), "/api/v2/maintenance_windows");
	}
	int i = 0;
	cJSON_ArrayForEach(d, data)
	{
		const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "id"));
		const char *hn = cJSON_GetStringValue(
			cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(d, "attributes"), "name"));
		int mine = hn && has_mark(hn);
		/* Windows opened by `casegate maintenance start` are not declared: they are left alone. */
		int cli = hn && strncmp(hn, "maintenance ", 12) == 0;
		if (!matched[i] && id && ((mine && !cli) || s->prune)) {
			struct item *it = add(pl, P_DELETE, "maintenance_window", "DELETE", NULL, "\"%s\"%s", hn ? hn : id,
					      mine ? "" : " (prune)");
			if (it)
				snprintf(it->path, sizeof(it->path), "/api/v2/maintenance_windows/%s", id);
		}
		i++;
	}
	free(matched);
	cJSON_Delete(cur);
}

static void make_plan(struct state *s, const cJSON *sec, struct plan *pl)
{
	cJSON *projects = get_list(s, "/api/v2/cases/projects", "projects");
	if (!projects)
		return;
	pl->project_ids = cJSON_CreateObject();
	const cJSON *p;
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(projects, "data"))
	{
		const char *key = cJSON_GetStringValue(
			cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(p, "attributes"), "key"));
		const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "id"));
		if (key && id)
			cJSON_AddStringToObject(pl->project_ids, key, id);
	}
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(sec, "projects"))
	{
		const char *key = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "key"));
		const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "name"));
		const char *team = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "team"));
		const char *pid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pl->project_ids, key));
		const cJSON *cur = NULL, *it;
		cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(projects, "data"))
		{
			if (pid && strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "id")), pid) == 0)
				cur = it;
		}
		if (!pid) {
			cJSON *a = cJSON_CreateObject();
			cJSON_AddStringToObject(a, "key", key);
			cJSON_AddStringToObject(a, "name", name);
			if (team)
				cJSON_AddStringToObject(a, "team_uuid", team);
			struct item *x = add(pl, P_CREATE, "project", "POST", env("project", a), "%s (%s)", key, name);
			if (x) {
				snprintf(x->path, sizeof(x->path), "/api/v2/cases/projects");
				snprintf(x->project_key, sizeof(x->project_key), "%s", key);
			}
		} else {
			const char *cn = cJSON_GetStringValue(
				cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cur, "attributes"), "name"));
			/* The team is given at creation only: the update endpoint has no team field. */
			if (!cn || strcmp(cn, name) != 0) {
				cJSON *a = cJSON_CreateObject();
				cJSON_AddStringToObject(a, "name", name);
				struct item *x = add(pl, P_UPDATE, "project", "PATCH", env("project", a), "%s", key);
				if (x) {
					snprintf(x->path, sizeof(x->path), "/api/v2/cases/projects/%s", pid);
					snprintf(x->detail, sizeof(x->detail), "name \"%s\" -> \"%s\"", cn ? cn : "", name);
				}
			}
		}
		plan_nrules(s, pl, key, pid, cJSON_GetObjectItemCaseSensitive(p, "notification_rules"));
		plan_named(s, pl, "automation_rule", key, pid, cJSON_GetObjectItemCaseSensitive(p, "automation_rules"));
		plan_named(s, pl, "view", key, pid, cJSON_GetObjectItemCaseSensitive(p, "views"));
	}
	plan_case_types(s, pl, cJSON_GetObjectItemCaseSensitive(sec, "case_types"));
	plan_windows(s, pl, cJSON_GetObjectItemCaseSensitive(sec, "maintenance_windows"));
	cJSON_Delete(projects);
}

static void print_plan(const struct plan *pl, FILE *out)
{
	size_t n[3] = {0, 0, 0};
	for (size_t i = 0; i < pl->n; i++) {
		const struct item *it = &pl->v[i];
		n[it->op]++;
		fprintf(out, "%c %s %s%s%s\n", it->op == P_CREATE ? '+' : it->op == P_UPDATE ? '~' : '-', it->kind,
			it->label, it->detail[0] ? ": " : "", it->detail);
	}
	if (pl->n == 0)
		fprintf(out, "No changes.\n");
	else
		fprintf(out, "Plan: %zu to create, %zu to update, %zu to delete.\n", n[P_CREATE], n[P_UPDATE], n[P_DELETE]);
}

/* Replaces "{project}" in s (in place) with id. */
static void subst(char *s, size_t len, const char *id)
{
	char *at = strstr(s, "{project}");
	if (!at || !id)
		return;
	char tail[600];
	snprintf(tail, sizeof(tail), "%s", at + 9);
	snprintf(at, len - (size_t)(at - s), "%s%s", id, tail);
}

static int apply_plan(struct state *s, struct plan *pl, FILE *out)
{
	int failed = 0;
	for (size_t i = 0; i < pl->n; i++) {
		struct item *it = &pl->v[i];
		const char *pid = it->project_key[0]
					  ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pl->project_ids, it->project_key))
					  : NULL;
		if (strstr(it->path, "{project}") && !pid && strcmp(it->kind, "project") != 0) {
			fprintf(s->k->err, "error: %s %s: project %s was not created\n", it->kind, it->label, it->project_key);
			failed = 1;
			continue;
		}
		subst(it->path, sizeof(it->path), pid);
		cJSON *pidv = cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(it->body, "data"), "attributes"),
			"project_id");
		if (pidv && pid)
			cJSON_SetValuestring(pidv, pid);
		char e[400];
		cJSON *resp = NULL;
		cJSON *body = it->body;
		it->body = NULL;
		long st = call(s->api, it->method, it->path, body, &resp, e, sizeof(e));
		if (!ok2xx(st)) {
			fprintf(s->k->err, "error: %s %s %s: %s\n",
				it->op == P_CREATE ? "creating" : it->op == P_UPDATE ? "updating" : "deleting", it->kind,
				it->label, e);
			failed = 1;
		} else {
			fprintf(out, "%s %s %s\n", it->op == P_CREATE ? "created" : it->op == P_UPDATE ? "updated" : "deleted",
				it->kind, it->label);
			if (strcmp(it->kind, "project") == 0 && it->op == P_CREATE) {
				const char *id = cJSON_GetStringValue(
					cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(resp, "data"), "id"));
				if (id)
					cJSON_AddStringToObject(pl->project_ids, it->project_key, id);
			}
		}
		cJSON_Delete(resp);
	}
	return failed;
}

/* ---- command line ---- */

struct cli {
	const char *config, *dd_url, *project, *duration;
	int plan, apply;
	const char *verb;
};

static int parse_cli(int argc, char **argv, struct cli *a, FILE *err)
{
	memset(a, 0, sizeof(*a));
	for (int i = 2; i < argc; i++) {
		const char *s = argv[i];
		int more = i + 1 < argc;
		if ((strcmp(s, "-c") == 0 || strcmp(s, "--config") == 0) && more)
			a->config = argv[++i];
		else if (strcmp(s, "--datadog-url") == 0 && more)
			a->dd_url = argv[++i];
		else if (strcmp(s, "--project") == 0 && more)
			a->project = argv[++i];
		else if (strcmp(s, "--duration") == 0 && more)
			a->duration = argv[++i];
		else if (strcmp(s, "--plan") == 0)
			a->plan = 1;
		else if (strcmp(s, "--apply") == 0)
			a->apply = 1;
		else if (s[0] != '-' && !a->verb)
			a->verb = s;
		else {
			fprintf(err, "casegate %s: unexpected argument %s\n", argv[1], s);
			return -1;
		}
	}
	if (!a->config) {
		fprintf(err, "casegate %s: -c FILE is required\n", argv[1]);
		return -1;
	}
	return 0;
}

static struct cg_config *load(const char *path, FILE *err)
{
	struct cg_config *cfg = NULL;
	char *errs = NULL;
	int rc = cg_config_load(path, &cfg, &errs);
	if (rc) {
		fprintf(err, "%s\n", errs ? errs : cg_strerror(rc));
		free(errs);
		return NULL;
	}
	return cfg;
}


int cg_provision_cli(int argc, char **argv, FILE *out, FILE *err)
{
	struct cli a;
	if (parse_cli(argc, argv, &a, err) != 0 || a.plan == a.apply || a.verb || a.project || a.duration) {
		fprintf(err, "usage: casegate provision -c FILE --plan | --apply [--datadog-url URL]\n");
		return 2;
	}
	struct cg_config *cfg = load(a.config, err);
	if (!cfg)
		return 1;
	int missing = 0, rc = 1;
	struct cg_ddsync api;
	struct plan pl = {0};
	struct checker k = {a.config, err, 0};
	cJSON *sec = read_section(a.config, err, &missing);
	if (!sec) {
		if (missing)
			fprintf(err, "%s: no provision: section\n", a.config);
		goto out;
	}
	check_section(&k, sec);
	if (k.nerr || cg_ddsync_init(&api, cfg, a.dd_url, err) != 0)
		goto out;
	if (cg_dd_global_init() != 0)
		goto out;
	struct state st = {&api, &k, bool_or(sec, "prune", 0), 0};
	make_plan(&st, sec, &pl);
	if (st.failed) {
		cg_dd_global_cleanup();
		goto out;
	}
	print_plan(&pl, out);
	rc = 0;
	if (a.apply && pl.n)
		rc = apply_plan(&st, &pl, out) ? 1 : 0;
	cg_dd_global_cleanup();
out:
	plan_free(&pl);
	cJSON_Delete(sec);
	cg_config_free(cfg);
	return rc;
}

static int parse_dur(const char *s, long *secs)
{
	char *end;
	long v = strtol(s, &end, 10);
	long f = strcmp(end, "s") == 0 ? 1 : strcmp(end, "m") == 0 ? 60 : strcmp(end, "h") == 0 ? 3600 : strcmp(end, "d") == 0 ? 86400 : 0;
	if (end == s || v <= 0 || !f || v > 30L * 86400 / f)
		return -1;
	*secs = v * f;
	return 0;
}

static void iso(time_t t, char *out, size_t len)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int cg_maintenance_cli(int argc, char **argv, FILE *out, FILE *err)
{
	struct cli a;
	long secs = 3600;
	if (parse_cli(argc, argv, &a, err) != 0 || !a.verb || !a.project ||
	    (strcmp(a.verb, "start") != 0 && strcmp(a.verb, "end") != 0) || a.plan || a.apply ||
	    (a.duration && parse_dur(a.duration, &secs) != 0)) {
		fprintf(err, "usage: casegate maintenance start|end -c FILE --project KEY [--duration 1h] "
			     "[--datadog-url URL]\n");
		return 2;
	}
	for (const char *c = a.project; *c; c++)
		if (!isupper((unsigned char)*c) && !isdigit((unsigned char)*c)) {
			fprintf(err, "casegate maintenance: --project takes a project key (e.g. SEC)\n");
			return 2;
		}
	struct cg_config *cfg = load(a.config, err);
	if (!cfg)
		return 1;
	struct cg_ddsync api;
	int rc = 1;
	char name[200], query[80], e[400], t0[32], t1[32];
	snprintf(name, sizeof(name), "maintenance %s%s", a.project, CG_PROVISION_MARK);
	snprintf(query, sizeof(query), "project:%s", a.project);
	if (cg_ddsync_init(&api, cfg, a.dd_url, err) != 0 || cg_dd_global_init() != 0) {
		cg_config_free(cfg);
		return 1;
	}
	time_t now = time(NULL);
	iso(now, t0, sizeof(t0));
	if (strcmp(a.verb, "start") == 0) {
		iso(now + secs, t1, sizeof(t1));
		cJSON *at = cJSON_CreateObject();
		cJSON_AddStringToObject(at, "end_at", t1);
		cJSON_AddStringToObject(at, "name", name);
		cJSON_AddStringToObject(at, "query", query);
		cJSON_AddStringToObject(at, "start_at", t0);
		cJSON *resp = NULL;
		long st = call(&api, "POST", "/api/v2/maintenance_windows", env("maintenance_window", at), &resp, e, sizeof(e));
		if (ok2xx(st)) {
			const char *id = cJSON_GetStringValue(
				cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(resp, "data"), "id"));
			fprintf(out, "maintenance window %s for project %s: %s to %s\n", id ? id : "?", a.project, t0, t1);
			rc = 0;
		} else {
			fprintf(err, "error: opening the maintenance window for %s: %s\n", a.project, e);
		}
		cJSON_Delete(resp);
	} else {
		cJSON *resp = NULL;
		long st = call(&api, "GET", "/api/v2/maintenance_windows", NULL, &resp, e, sizeof(e));
		if (!ok2xx(st)) {
			fprintf(err, "error: listing maintenance windows: %s\n", e);
		} else {
			int ended = 0;
			rc = 0;
			const cJSON *w;
			cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(resp, "data"))
			{
				const cJSON *wa = cJSON_GetObjectItemCaseSensitive(w, "attributes");
				const char *wn = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(wa, "name"));
				const char *we = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(wa, "end_at"));
				const char *ws = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(wa, "start_at"));
				const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(w, "id"));
				char ne[32], ns[32];
				norm_time(we, ne, sizeof(ne));
				norm_time(ws, ns, sizeof(ns));
				/* The earliest end a window can have: one second after its start. */
				char first_end[32] = "";
				struct tm tm = {0};
				if (sscanf(ns, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
					   &tm.tm_min, &tm.tm_sec) == 6) {
					tm.tm_year -= 1900;
					tm.tm_mon -= 1;
					iso(timegm(&tm) + 1, first_end, sizeof(first_end));
				}
				if (!wn || !id || strcmp(wn, name) != 0 || strcmp(ne, t0) <= 0 || strcmp(ne, first_end) <= 0)
					continue; /* not ours, or over already (or ended within its first second) */
				/* End now; a window that has not started yet ends one second after its start. */
				char endt[32];
				snprintf(endt, sizeof(endt), "%s", strcmp(ns, t0) >= 0 && first_end[0] ? first_end : t0);
				cJSON *at = cJSON_CreateObject();
				cJSON_AddStringToObject(at, "end_at", endt);
				char path[200];
				snprintf(path, sizeof(path), "/api/v2/maintenance_windows/%s", id);
				long s2 = call(&api, "PUT", path, env("maintenance_window", at), NULL, e, sizeof(e));
				if (ok2xx(s2)) {
					fprintf(out, "maintenance window %s for project %s ended at %s\n", id, a.project, endt);
					ended++;
				} else {
					fprintf(err, "error: ending maintenance window %s (%s): %s\n", id, a.project, e);
					rc = 1;
				}
			}
			if (!ended && rc == 0)
				fprintf(out, "no open maintenance window for project %s\n", a.project);
		}
		cJSON_Delete(resp);
	}
	cg_dd_global_cleanup();
	cg_config_free(cfg);
	return rc;
}
