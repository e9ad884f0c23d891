/* sources.c: the `sources:` list (each source walked over the parts' tables) and the values config reads for them: priority, custom_attributes, attributes. */

#include "cfgint.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <yaml.h>


/*
 * Pair i of mapping m whose key must be a non-empty string without NUL bytes (the keys of
 * priority.map, custom_attributes, attributes). 1 with *k and *v set; 0 when the pair is to be
 * skipped (an error was reported for a bad key).
 */
static int map_pair(struct cg_cfg *c, yaml_node_t *m, size_t i, const char *sp, const char *what, yaml_node_t **k,
		    yaml_node_t **v)
{
	yaml_node_pair_t *p = &m->data.mapping.pairs.start[i];
	*k = yaml_document_get_node(c->doc, p->key);
	*v = cg_cfg_node(c, p->value);
	if (!*k || !*v)
		return 0;
	if ((*k)->type != YAML_SCALAR_NODE || !(*k)->data.scalar.length ||
	    memchr((*k)->data.scalar.value, 0, (*k)->data.scalar.length)) {
		cg_cfg_err(c, *k, "%s: %s: keys must be non-empty strings", sp, what);
		return 0;
	}
	return 1;
}

enum { P_FROM, P_MAP, P_DEFAULT, P_N };

static const struct cg_key priority_rows[P_N] = {
	[P_FROM] = {.key = "from", .type = CG_KEY_CUSTOM, .def = "{{severity}}",
		    .doc = "template: the word that picks the priority (default: the mapper's)"},
	[P_MAP] = {.key = "map", .type = CG_KEY_CUSTOM, .doc = "word: P1..P5 or NOT_DEFINED (words compared case-insensitively)"},
	[P_DEFAULT] = {.key = "default", .type = CG_KEY_CUSTOM, .doc = "the priority when no word matches"},
};

const struct cg_keys cg_priority_keys = {
	.name = "config: sources[].priority", .keys = priority_rows, .n = CG_KEYS_N(priority_rows)};

/* priority: `P2` (fixed), or {from, map, default}. */
static void parse_priority(struct cg_cfg *c, yaml_node_t *n, const char *sp, struct cg_source_config *s)
{
	yaml_node_t *f[P_N];
	struct cg_keymap km;
	char lb[256], where[256], b[80], kb[80];

	if (n->type == YAML_SCALAR_NODE) {
		/* `priority: P2`: a fixed priority; "from" renders empty so the default always applies. */
		snprintf(lb, sizeof(lb), "%s: priority", sp);
		char *v = cg_cfg_scalar(c, n, lb, "a priority", 0);
		if (!v)
			return;
		if (cg_priority_parse(v, &s->prio_default)) {
			cg_cfg_err(c, n, "%s: bad priority '%s' (use P1..P5 or NOT_DEFINED)", lb, cg_cfg_disp(v, b, sizeof(b)));
		} else {
			s->prio_default_set = 1;
			if (!(s->priority_from = strdup("")))
				c->oom = 1;
		}
		free(v);
		return;
	}
	snprintf(lb, sizeof(lb), "%s: priority", sp);
	snprintf(where, sizeof(where), "%s priority", sp);
	if (cg_keys_match(c, n, CG_KEYS_SUB(&cg_priority_keys), lb, where, &km))
		return;
	for (size_t i = 0; i < P_N; i++)
		f[i] = km.val[i];
	if (f[P_FROM]) {
		snprintf(lb, sizeof(lb), "%s: priority.from", sp);
		cg_cfg_tmpl(c, f[P_FROM], lb, &s->priority_from);
	}
	if (f[P_DEFAULT]) {
		snprintf(lb, sizeof(lb), "%s: priority.default", sp);
		char *v = cg_cfg_scalar(c, f[P_DEFAULT], lb, "a priority", 0);
		if (v && cg_priority_parse(v, &s->prio_default))
			cg_cfg_err(c, f[P_DEFAULT], "%s: bad priority '%s' (use P1..P5 or NOT_DEFINED)", lb,
			       cg_cfg_disp(v, b, sizeof(b)));
		else if (v)
			s->prio_default_set = 1;
		free(v);
	}
	yaml_node_t *m = f[P_MAP];
	if (!m)
		return;
	if (m->type != YAML_MAPPING_NODE) {
		cg_cfg_err(c, m, "%s: priority.map: expected a mapping (word: P1), got %s", sp, cg_cfg_kind_name(m));
		return;
	}
	size_t np = (size_t)(m->data.mapping.pairs.top - m->data.mapping.pairs.start);
	if (!np)
		return;
	if (!(s->prio_map = calloc(np, sizeof(*s->prio_map)))) {
		c->oom = 1;
		return;
	}
	for (size_t i = 0; i < np; i++) {
		yaml_node_t *k, *v;
		if (!map_pair(c, m, i, sp, "priority.map", &k, &v))
			continue;
		const char *word = (const char *)k->data.scalar.value;
		snprintf(lb, sizeof(lb), "%s: priority.map.%s", sp, cg_cfg_disp(word, kb, sizeof(kb)));
		int dup = 0;
		for (size_t j = 0; j < s->nprio; j++)
			dup |= strcasecmp(s->prio_map[j].word, word) == 0;
		if (dup) {
			cg_cfg_err(c, k, "%s: duplicate word (words are compared case-insensitively)", lb);
			continue;
		}
		char *pv = cg_cfg_scalar(c, v, lb, "a priority", 0);
		int prio;
		if (!pv)
			continue;
		if (cg_priority_parse(pv, &prio)) {
			cg_cfg_err(c, v, "%s: bad priority '%s' (use P1..P5 or NOT_DEFINED)", lb, cg_cfg_disp(pv, b, sizeof(b)));
			free(pv);
			continue;
		}
		free(pv);
		if (!(s->prio_map[s->nprio].word = strdup(word))) {
			c->oom = 1;
			return;
		}
		s->prio_map[s->nprio++].prio = prio;
	}
}

enum { C_TYPE, C_MULTI, C_IS_MULTI, C_VALUE, C_VALUES, C_N };

/* One custom attribute (`key: "{{tmpl}}"` is a single TEXT one). */
static const struct cg_key ca_rows[C_N] = {
	[C_TYPE] = {.key = "type", .type = CG_KEY_CUSTOM, .def = "TEXT", .doc = "TEXT, URL, NUMBER or SELECT"},
	[C_MULTI] = {.key = "multi", .type = CG_KEY_CUSTOM, .doc = "a list of values"},
	[C_IS_MULTI] = {.key = "is_multi", .type = CG_KEY_CUSTOM, .doc = "the same as multi"},
	[C_VALUE] = {.key = "value", .type = CG_KEY_CUSTOM, .doc = "template: the value"},
	[C_VALUES] = {.key = "values", .type = CG_KEY_CUSTOM, .doc = "templates: the values (multi)"},
};

const struct cg_keys cg_ca_keys = {.name = "config: sources[].custom_attributes.<key>", .keys = ca_rows, .n = C_N};

static void parse_one_ca(struct cg_cfg *c, yaml_node_t *n, const char *sp, const char *key, struct cg_ca_spec *ca)
{
	yaml_node_t *f[C_N];
	struct cg_keymap km;
	char lb[256], where[256], b[80];

	ca->type = CG_CA_TEXT;
	snprintf(lb, sizeof(lb), "%s: custom_attributes.%s", sp, key);
	if (n->type == YAML_SCALAR_NODE) {
		/* `key: "{{tmpl}}"` is a single TEXT attribute. */
		cg_cfg_strs(c, n, lb, 1, &ca->values, &ca->nvalues);
		return;
	}
	snprintf(where, sizeof(where), "%s custom attribute '%s'", sp, key);
	if (cg_keys_match(c, n, CG_KEYS_SUB(&cg_ca_keys), lb, where, &km))
		return;
	for (size_t i = 0; i < C_N; i++)
		f[i] = km.val[i];
	if (f[C_TYPE]) {
		char tl[300];
		snprintf(tl, sizeof(tl), "%s.type", lb);
		char *t = cg_cfg_scalar(c, f[C_TYPE], tl, "a string", 0);
		if (t && cg_ca_type_parse(t, &ca->type))
			cg_cfg_err(c, f[C_TYPE], "%s: unknown type '%s' (use TEXT, URL, NUMBER or SELECT)", tl,
			       cg_cfg_disp(t, b, sizeof(b)));
		free(t);
	}
	if (f[C_MULTI] && f[C_IS_MULTI]) {
		cg_cfg_err(c, f[C_IS_MULTI], "%s: give multi or is_multi, not both", lb);
		return;
	}
	yaml_node_t *mn = f[C_MULTI] ? f[C_MULTI] : f[C_IS_MULTI];
	if (mn) {
		char ml[300];
		snprintf(ml, sizeof(ml), "%s.%s", lb, f[C_MULTI] ? "multi" : "is_multi");
		if (cg_cfg_bool(c, mn, ml, &ca->is_multi))
			return;
	}
	yaml_node_t *vn = f[C_VALUE], *vsn = f[C_VALUES];
	if (vn && vsn) {
		cg_cfg_err(c, vsn, "%s: give value or values, not both", lb);
		return;
	}
	if (!vn && !vsn) {
		cg_cfg_err(c, n, "%s: %s is required", lb, ca->is_multi ? "values" : "value");
		return;
	}
	if (!ca->is_multi && vsn) {
		cg_cfg_err(c, vsn, "%s: values needs multi: true (use value: for a single value)", lb);
		return;
	}
	if (!ca->is_multi && vn->type != YAML_SCALAR_NODE) {
		cg_cfg_err(c, vn, "%s: value: expected one template string, got %s (set multi: true for a list)", lb,
		       cg_cfg_kind_name(vn));
		return;
	}
	char vl[300];
	snprintf(vl, sizeof(vl), "%s.%s", lb, vsn ? "values" : "value");
	cg_cfg_strs(c, vsn ? vsn : vn, vl, 1, &ca->values, &ca->nvalues);
}

static void parse_cas(struct cg_cfg *c, yaml_node_t *n, const char *sp, struct cg_source_config *s)
{
	char kb[80];
	if (n->type != YAML_MAPPING_NODE) {
		cg_cfg_err(c, n, "%s: custom_attributes: expected a mapping, got %s", sp, cg_cfg_kind_name(n));
		return;
	}
	size_t np = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	if (!np)
		return;
	if (!(s->cas = calloc(np, sizeof(*s->cas)))) {
		c->oom = 1;
		return;
	}
	for (size_t i = 0; i < np; i++) {
		yaml_node_t *k, *v;
		if (!map_pair(c, n, i, sp, "custom_attributes", &k, &v))
			continue;
		const char *key = cg_cfg_disp((const char *)k->data.scalar.value, kb, sizeof(kb));
		int dup = 0;
		for (size_t j = 0; j < s->ncas; j++)
			dup |= strcmp(s->cas[j].key, (const char *)k->data.scalar.value) == 0;
		if (dup) {
			cg_cfg_err(c, k, "%s: custom_attributes: duplicate key '%s'", sp, key);
			continue;
		}
		struct cg_ca_spec *ca = &s->cas[s->ncas++];
		if (!(ca->key = strdup((const char *)k->data.scalar.value))) {
			c->oom = 1;
			return;
		}
		parse_one_ca(c, v, sp, key, ca);
	}
}

static void parse_attrs(struct cg_cfg *c, yaml_node_t *n, const char *sp, struct cg_source_config *s)
{
	char lb[256], kb[80];
	if (n->type != YAML_MAPPING_NODE) {
		cg_cfg_err(c, n, "%s: attributes: expected a mapping (key: template or list), got %s", sp, cg_cfg_kind_name(n));
		return;
	}
	s->attrs_set = 1;
	size_t np = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	if (!np)
		return;
	if (!(s->attrs = calloc(np, sizeof(*s->attrs)))) {
		c->oom = 1;
		return;
	}
	for (size_t i = 0; i < np; i++) {
		yaml_node_t *k, *v;
		if (!map_pair(c, n, i, sp, "attributes", &k, &v))
			continue;
		const char *key = (const char *)k->data.scalar.value;
		int dup = 0;
		for (size_t j = 0; j < s->nattrs; j++)
			dup |= strcmp(s->attrs[j].key, key) == 0;
		snprintf(lb, sizeof(lb), "%s: attributes.%s", sp, cg_cfg_disp(key, kb, sizeof(kb)));
		if (dup) {
			cg_cfg_err(c, k, "%s: duplicate key", lb);
			continue;
		}
		struct cg_attr_spec *a = &s->attrs[s->nattrs++];
		if (!(a->key = strdup(key))) {
			c->oom = 1;
			return;
		}
		cg_cfg_strs(c, v, lb, 1, &a->values, &a->nvalues);
	}
}

int cg_cfg_priority(const struct cg_keyarg *a)
{
	size_t errs0 = a->c->nerrs;
	parse_priority(a->c, a->node, a->owner, a->base);
	return a->c->nerrs == errs0 ? 0 : -1;
}

void cg_cfg_priority_free(void *base, const struct cg_key *k)
{
	struct cg_source_config *s = base;
	(void)k;
	free(s->priority_from);
	for (size_t i = 0; i < s->nprio; i++)
		free(s->prio_map[i].word);
	free(s->prio_map);
}

int cg_cfg_custom_attributes(const struct cg_keyarg *a)
{
	size_t errs0 = a->c->nerrs;
	parse_cas(a->c, a->node, a->owner, a->base);
	return a->c->nerrs == errs0 ? 0 : -1;
}

void cg_cfg_custom_attributes_free(void *base, const struct cg_key *k)
{
	struct cg_source_config *s = base;
	(void)k;
	for (size_t i = 0; i < s->ncas; i++) {
		free(s->cas[i].key);
		cg_cfg_strv_free(s->cas[i].values, s->cas[i].nvalues, 0);
	}
	free(s->cas);
}

int cg_cfg_attributes(const struct cg_keyarg *a)
{
	size_t errs0 = a->c->nerrs;
	parse_attrs(a->c, a->node, a->owner, a->base);
	return a->c->nerrs == errs0 ? 0 : -1;
}

void cg_cfg_attributes_free(void *base, const struct cg_key *k)
{
	struct cg_source_config *s = base;
	(void)k;
	for (size_t i = 0; i < s->nattrs; i++) {
		free(s->attrs[i].key);
		cg_cfg_strv_free(s->attrs[i].values, s->attrs[i].nvalues, 0);
	}
	free(s->attrs);
}

/* ---- the sources list ---- */

/* The name, if it is one, before anything is read: even unknown-key messages say which source. */
static void peek_name(struct cg_cfg *c, yaml_node_t *n, char *sp, size_t len)
{
	if (n->type != YAML_MAPPING_NODE)
		return;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
		if (!k || !v || k->type != YAML_SCALAR_NODE || v->type != YAML_SCALAR_NODE ||
		    strcmp((const char *)k->data.scalar.value, "name") != 0)
			continue;
		const char *name = (const char *)v->data.scalar.value;
		size_t nl = strlen(name);
		int ok = nl > 0 && nl <= 64;
		for (const char *q = name; *q && ok; q++)
			ok = (*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') || *q == '_' || *q == '-';
		if (ok)
			snprintf(sp, len, "source '%s'", name);
	}
}

static void parse_source(struct cg_cfg *c, yaml_node_t *n, size_t idx, struct cg_source_config *s,
			 const struct cg_keys *const *tables, struct cg_config *cfg)
{
	char sp[128], prefix[136];
	struct cg_keymap m;

	s->line = (int)n->start_mark.line + 1;
	cg_keys_defaults(c, tables, s);
	snprintf(sp, sizeof(sp), "source #%zu", idx + 1);
	peek_name(c, n, sp, sizeof(sp));
	if (cg_keys_match(c, n, tables, sp, sp, &m))
		return;
	/* The name first: the messages about the other keys say which source they are about. */
	snprintf(prefix, sizeof(prefix), "%s: ", sp);
	cg_keys_apply_one(&m, "name", s, cfg, prefix);
	if (s->name) {
		snprintf(sp, sizeof(sp), "source '%s'", s->name);
		snprintf(prefix, sizeof(prefix), "%s: ", sp);
	}
	cg_keys_apply(&m, s, cfg, prefix);
}

int cg_cfg_sources(const struct cg_keyarg *a)
{
	struct cg_cfg *c = a->c;
	struct cg_config *cfg = a->base;
	yaml_node_t *n = a->node;
	if (!n) {
		cg_cfg_err(c, a->at, "sources: at least one source is required");
		return -1;
	}
	if (n->type != YAML_SEQUENCE_NODE) {
		cg_cfg_err(c, n, "sources: expected a list of sources, got %s", cg_cfg_kind_name(n));
		return -1;
	}
	size_t ns = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (!ns) {
		cg_cfg_err(c, n, "sources: at least one source is required");
		return -1;
	}
	if (!(cfg->sources = calloc(ns, sizeof(*cfg->sources)))) {
		c->oom = 1;
		return -1;
	}
	for (size_t i = 0; i < ns; i++) {
		yaml_node_t *item = cg_cfg_node(c, n->data.sequence.items.start[i]);
		struct cg_source_config *s = &cfg->sources[cfg->nsources++];
		if (!item)
			continue;
		parse_source(c, item, i, s, a->key->sub, cfg);
		for (size_t j = 0; j < i && s->name; j++) {
			if (cfg->sources[j].name && strcmp(cfg->sources[j].name, s->name) == 0) {
				cg_cfg_err(c, item, "duplicate source name '%s' (first declared at line %d)", s->name,
					   cfg->sources[j].line);
				break;
			}
		}
	}
	return 0;
}

void cg_cfg_sources_free(void *base, const struct cg_key *k)
{
	struct cg_config *cfg = base;
	for (size_t i = 0; i < cfg->nsources; i++)
		cg_keys_free(k->sub, &cfg->sources[i]);
	free(cfg->sources);
}
