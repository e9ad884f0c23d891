/* provision_section.c: the config's provision: section, read from the YAML as JSON and checked before any request. */
#include "provision.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <yaml.h>

#include "ddanswer.h"

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
cJSON *cg_prov_clean(const cJSON *v)
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
cJSON *cg_prov_section_read(const char *path, FILE *err, int *missing)
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

/* o.a and o.b both of the kind is() accepts; msg when either is not. */
static void need_both(struct checker *k, const cJSON *o, cJSON_bool (*is)(const cJSON *), const char *a,
		      const char *b, const char *msg)
{
	if (!is(cJSON_GetObjectItemCaseSensitive(o, a)) || !is(cJSON_GetObjectItemCaseSensitive(o, b)))
		bad(k, o, "%s", msg);
}

int cg_prov_bool(const cJSON *o, const char *key, int dflt)
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
			need_both(k, x, cJSON_IsArray, "triggers", "recipients",
				  "notification rule: triggers and recipients are required (lists)");
		}
		cJSON_ArrayForEach(x, list(k, p, "project", "automation_rules"))
		{
			only_keys(k, x, "automation rule", ak);
			need_str(k, x, "automation rule", "name");
			need_both(k, x, cJSON_IsObject, "trigger", "action",
				  "automation rule: trigger and action are required (mappings)");
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

int cg_prov_section_check(const cJSON *sec, const char *file, FILE *err)
{
	struct checker k = {file, err, 0};
	check_section(&k, sec);
	return k.nerr;
}
