/* walk.c: the key-table walker: a mapping's keys against the tables (unknown keys with a "did you mean" hint, duplicates), each row's value, defaults and freeing. */

#include "cfgint.h"

#include <ctype.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "err.h"

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[33];
	if (la > 32 || lb > 32)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/* The name of slot s: the row's key, or key + "_file" for a secret's file. */
static const char *slot_name(const struct cg_keymap *m, size_t s, char *buf, size_t len)
{
	if (!m->file[s])
		return m->row[s]->key;
	snprintf(buf, len, "%s_file", m->row[s]->key);
	return buf;
}

static void map_init(struct cg_cfg *c, struct cg_keymap *m, const struct cg_keys *const *tables, yaml_node_t *n,
		     const char *label)
{
	memset(m, 0, sizeof(*m));
	m->c = c;
	m->tables = tables;
	m->node = n;
	m->label = label;
	for (size_t t = 0; tables && tables[t]; t++) {
		for (size_t i = 0; i < tables[t]->n; i++) {
			const struct cg_key *k = &tables[t]->keys[i];
			for (int f = 0; f <= (k->type == CG_KEY_SECRET); f++) {
				/* A programmer's error: the tests load every table. */
				if (m->nslots == CG_KEYMAP_MAX)
					abort();
				m->row[m->nslots] = k;
				m->file[m->nslots++] = (unsigned char)f;
			}
		}
	}
}

/*
 * Matches n's keys against the tables into m, reporting unknown and duplicate keys. where names
 * the mapping in "unknown key" messages (NULL at the top level), label in type errors.
 * Returns 0 when n is a mapping, -1 otherwise (reported).
 */
int cg_keys_match(struct cg_cfg *c, yaml_node_t *n, const struct cg_keys *const *tables, const char *label,
		  const char *where, struct cg_keymap *m)
{
	uint64_t present = 0;
	char kb[80], nb[80];

	map_init(c, m, tables, n, label);
	if (n->type != YAML_MAPPING_NODE) {
		cg_cfg_err(c, n, "%s: expected a mapping, got %s", label, cg_cfg_kind_name(n));
		return -1;
	}
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
		if (!k)
			continue;
		if (k->type != YAML_SCALAR_NODE) {
			cg_cfg_err(c, k, "%s: keys must be strings, got %s", label, cg_cfg_kind_name(k));
			continue;
		}
		const char *ks = (const char *)k->data.scalar.value;
		size_t i;
		for (i = 0; i < m->nslots; i++) {
			const char *name = slot_name(m, i, nb, sizeof(nb));
			if (strlen(name) == k->data.scalar.length && strcmp(ks, name) == 0)
				break;
		}
		if (i == m->nslots) {
			const char *hint = NULL;
			for (size_t j = 0; j < m->nslots && !hint; j++)
				if (k->data.scalar.length > 2 && edit_distance(ks, slot_name(m, j, nb, sizeof(nb))) <= 2)
					hint = m->file[j] ? nb : m->row[j]->key;
			cg_cfg_err(c, k, "unknown key '%s'%s%s%s%s%s", cg_cfg_disp(ks, kb, sizeof(kb)), where ? " in " : "",
				   where ? where : "", hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
			continue;
		}
		if (present & (1ULL << i)) {
			cg_cfg_err(c, k, "duplicate key '%s'%s%s", slot_name(m, i, nb, sizeof(nb)), where ? " in " : "",
				   where ? where : "");
			continue;
		}
		present |= 1ULL << i;
		yaml_node_t *v = cg_cfg_node(c, p->value);
		if (v && !cg_cfg_is_null(v))
			m->val[i] = v;
	}
	return 0;
}

/* A keymap with no key given (a mapping that is null). */
void cg_keys_empty(struct cg_cfg *c, const struct cg_keys *const *tables, const char *label, struct cg_keymap *m)
{
	map_init(c, m, tables, NULL, label);
}

static int slot_of(const struct cg_keymap *m, const char *key)
{
	char nb[80];
	for (size_t i = 0; m && i < m->nslots; i++)
		if (strcmp(slot_name(m, i, nb, sizeof(nb)), key) == 0)
			return (int)i;
	return -1;
}

yaml_node_t *cg_keymap_node(const struct cg_keymap *m, const char *key)
{
	int s = slot_of(m, key);
	return s < 0 ? NULL : m->val[s];
}

int cg_keymap_failed(const struct cg_keymap *m, const char *key)
{
	int s = slot_of(m, key);
	if (s > 0 && m->file[s])
		s--;
	return s >= 0 && m->state[s] == 2;
}

void *cg_key_field(const struct cg_keyarg *a)
{
	return (char *)a->base + a->key->off;
}

/* Runs the checks of tables whose mapping is absent (node NULL): a TABLE row with CG_KEY_F_ALWAYS. */
static void checks_absent(struct cg_cfg *c, const struct cg_keys *const *tables, void *base, void *parent,
			  const char *label, yaml_node_t *at)
{
	struct cg_keymap m;
	map_init(c, &m, tables, NULL, label);
	for (size_t t = 0; tables[t]; t++) {
		if (!tables[t]->check)
			continue;
		struct cg_keyarg a = {.c = c, .at = at, .label = label, .owner = label, .base = base, .parent = parent, .map = &m};
		tables[t]->check(&a);
	}
}

/* Slot s (a row's first slot) of m: its value parsed into base, or its absence handled. */
static void apply_slot(struct cg_keymap *m, size_t s, void *base, void *parent, const char *prefix)
{
	struct cg_cfg *c = m->c;
	const struct cg_key *k = m->row[s];
	yaml_node_t *v = m->val[s], *fv = k->type == CG_KEY_SECRET ? m->val[s + 1] : NULL;
	char lb[512];
	int rc = 0;

	snprintf(lb, sizeof(lb), "%s%s", prefix, k->key);
	struct cg_keyarg a = {.c = c,
			      .key = k,
			      .node = v,
			      .file = fv,
			      .at = m->node,
			      .label = lb,
			      .owner = m->label,
			      .base = base,
			      .parent = parent,
			      .map = m};
	if (!v && !fv) {
		if (k->required) {
			cg_cfg_err(c, m->node, "%s: %s", m->label, k->required);
			rc = -1;
			if (k->flags & CG_KEY_F_GATE)
				m->stop = 1;
		} else if ((k->flags & CG_KEY_F_ALWAYS) && k->parse) {
			rc = k->parse(&a);
		} else if ((k->flags & CG_KEY_F_ALWAYS) && k->type == CG_KEY_TABLE) {
			checks_absent(c, k->sub, (char *)base + k->off, base, lb, m->node);
		}
	} else {
		rc = k->parse ? k->parse(&a) : cg_key_parse_typed(&a);
		if (rc == 0 && k->check)
			rc = k->check(&a);
		if (rc == 0 && k->required && k->type == CG_KEY_SECRET && !*(char **)cg_key_field(&a)) {
			/* Empty after expansion (${PASSWORD:-}) is not given. */
			cg_cfg_err(c, m->node, "%s: %s", m->label, k->required);
			rc = -1;
		}
	}
	m->state[s] = rc ? 2 : 1;
	if (rc && (k->flags & CG_KEY_F_STOP))
		m->stop = 1;
}

int cg_keys_apply_one(struct cg_keymap *m, const char *key, void *base, void *parent, const char *prefix)
{
	int s = slot_of(m, key);
	if (s < 0 || m->stop)
		return -1;
	apply_slot(m, (size_t)s, base, parent, prefix);
	return m->state[s] == 2 ? -1 : 0;
}

int cg_keys_apply(struct cg_keymap *m, void *base, void *parent, const char *prefix)
{
	int bad = 0;
	for (size_t s = 0; s < m->nslots && !m->stop; s++) {
		if (m->file[s])
			continue;
		if (!m->state[s])
			apply_slot(m, s, base, parent, prefix);
		bad |= m->state[s] == 2;
	}
	if (m->stop)
		return -1;
	for (size_t t = 0; m->tables[t]; t++) {
		if (!m->tables[t]->check)
			continue;
		struct cg_keyarg a = {.c = m->c, .node = m->node, .at = m->at, .label = m->label, .owner = m->label,
				      .base = base, .parent = parent, .map = m};
		m->tables[t]->check(&a);
	}
	return bad ? -1 : 0;
}

/* A table whose every key is required: a missing one is reported once and the mapping skipped. */
static int missing_required(struct cg_keymap *m)
{
	for (size_t t = 0; m->tables[t]; t++) {
		if (!m->tables[t]->required)
			continue;
		for (size_t s = 0; s < m->nslots; s++) {
			if (m->file[s] || m->val[s] || (m->row[s]->type == CG_KEY_SECRET && m->val[s + 1]))
				continue;
			if (m->row[s] < m->tables[t]->keys || m->row[s] >= m->tables[t]->keys + m->tables[t]->n)
				continue;
			cg_cfg_err(m->c, m->node, "%s: %s", m->label, m->tables[t]->required);
			return 1;
		}
	}
	return 0;
}

int cg_keys_walk(struct cg_cfg *c, yaml_node_t *n, yaml_node_t *at, const struct cg_keys *const *tables, void *base,
		 void *parent, const char *label, const char *where, const char *prefix)
{
	struct cg_keymap m;
	if (cg_keys_match(c, n, tables, label, where, &m) || missing_required(&m))
		return -1;
	m.at = at;
	return cg_keys_apply(&m, base, parent, prefix);
}

/* Stores v in a number field of size bytes (unsigned, or size_t / uint64_t). */
static void put_number(void *f, size_t size, uint64_t v)
{
	if (size == sizeof(uint64_t)) {
		memcpy(f, &v, sizeof(v));
	} else {
		unsigned u = (unsigned)v;
		memcpy(f, &u, sizeof(u));
	}
}

static void lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

int cg_key_parse_typed(const struct cg_keyarg *a)
{
	struct cg_cfg *c = a->c;
	const struct cg_key *k = a->key;
	yaml_node_t *n = a->node;
	void *f = cg_key_field(a);
	void *second = (char *)a->base + k->count;
	/* An unsigned field caps the bound (the messages say so). */
	uint64_t v, max = k->size == sizeof(unsigned) && k->max > UINT_MAX ? UINT_MAX : k->max;
	char b[80];
	int rc = -1, e;

	switch (k->type) {
	case CG_KEY_STR:
		rc = cg_cfg_str(c, n, a->label, f);
		if (!rc && (k->flags & CG_KEY_F_LOWER))
			lower(*(char **)f);
		break;
	case CG_KEY_NAME:
		rc = cg_cfg_name(c, n, a->label, f);
		break;
	case CG_KEY_PATH:
		rc = cg_cfg_path(c, n, a->label, f);
		break;
	case CG_KEY_TMPL:
		rc = cg_cfg_tmpl(c, n, a->label, f);
		break;
	case CG_KEY_SECRET: {
		char fl[560], *s = NULL;
		snprintf(fl, sizeof(fl), "%s_file", a->label);
		rc = cg_cfg_secret(c, n, a->file, a->label, fl, &s);
		if (!rc && s) {
			cg_cfg_secret_free(*(char **)f);
			*(char **)f = s;
		}
		break;
	}
	case CG_KEY_BOOL:
		rc = cg_cfg_bool(c, n, a->label, f);
		break;
	case CG_KEY_UINT:
		if (!(rc = cg_cfg_uint(c, n, a->label, k->min, k->max, &v)))
			put_number(f, k->size, v);
		break;
	case CG_KEY_DURATION:
		if (!(rc = cg_cfg_duration(c, n, a->label, k->min, max, &v)))
			put_number(f, k->size, v);
		break;
	case CG_KEY_SIZE:
		if (!(rc = cg_cfg_size(c, n, a->label, k->min, max, &v)))
			put_number(f, k->size, v);
		break;
	case CG_KEY_ENUM:
		if (!(rc = cg_cfg_enum(c, n, a->label, k->names, &e)))
			memcpy(f, &e, sizeof(e));
		break;
	case CG_KEY_ENUM_NAME:
		if (!(rc = cg_cfg_enum(c, n, a->label, k->names, &e))) {
			free(*(char **)f);
			if (!(*(char **)f = strdup(k->names[e])))
				c->oom = 1;
		}
		break;
	case CG_KEY_LIST: {
		char **lv = NULL;
		size_t ln = 0;
		rc = cg_cfg_strs(c, n, a->label, 0, &lv, &ln);
		if (!rc) {
			cg_cfg_strv_free(*(char ***)f, *(size_t *)second, 0);
			*(char ***)f = lv;
			*(size_t *)second = ln;
			for (size_t i = 0; i < ln && (k->flags & CG_KEY_F_LOWER); i++)
				lower(lv[i]);
		}
		break;
	}
	case CG_KEY_CIDRS:
		rc = cg_cfg_cidrs(c, n, a->label, f, second);
		break;
	case CG_KEY_ADDR: {
		char *s = cg_cfg_scalar(c, n, a->label, "host:port", 0), *host = NULL;
		if (!s)
			return -1;
		int r = cg_cfg_listen(s, &host, second);
		if (r == CG_ENOMEM) {
			c->oom = 1;
		} else if (r) {
			cg_cfg_err(c, n, "%s: expected IP:port (e.g. %s), got '%s'", a->label, k->what,
				   cg_cfg_disp(s, b, sizeof(b)));
		} else {
			free(*(char **)f);
			*(char **)f = host;
			rc = 0;
		}
		free(s);
		break;
	}
	case CG_KEY_TABLE:
		return cg_keys_table(a);
	case CG_KEY_TABLES:
		return cg_keys_tables(a);
	case CG_KEY_OPAQUE:
		return 0;
	case CG_KEY_CUSTOM:
		return -1;
	}
	if (!rc && (k->flags & CG_KEY_F_SET))
		*(int *)((char *)a->base + k->set) = 1;
	return rc;
}

/* Sets k's field in base to its default, written as in the file. -1: the default does not parse. */
static int key_default(struct cg_cfg *c, const struct cg_key *k, void *base)
{
	const char *d = k->def;
	void *f = (char *)base + k->off;
	char *s = NULL;
	uint64_t v;
	int e;

	switch (k->type) {
	case CG_KEY_STR:
	case CG_KEY_NAME:
	case CG_KEY_TMPL:
	case CG_KEY_ENUM_NAME:
	case CG_KEY_PATH:
		s = k->type == CG_KEY_PATH ? cg_cfg_path_join(c, d) : strdup(d);
		if (!s)
			c->oom = 1;
		free(*(char **)f);
		*(char **)f = s;
		return 0;
	case CG_KEY_BOOL:
		return cg_cfg_parse_bool(d, f);
	case CG_KEY_UINT:
	case CG_KEY_DURATION:
	case CG_KEY_SIZE:
		if (k->type == CG_KEY_UINT ? cg_cfg_parse_uint(d, &v)
		    : k->type == CG_KEY_DURATION ? cg_cfg_parse_duration(d, &v)
						   : cg_cfg_parse_size(d, &v))
			return -1;
		if (v < k->min || v > k->max)
			return -1;
		put_number(f, k->size, v);
		return 0;
	case CG_KEY_ENUM:
		for (e = 0; k->names[e]; e++) {
			if (strcmp(k->names[e], d) == 0) {
				memcpy(f, &e, sizeof(e));
				return 0;
			}
		}
		return -1;
	case CG_KEY_ADDR:
		e = cg_cfg_listen(d, &s, (int *)((char *)base + k->count));
		if (e == CG_ENOMEM)
			c->oom = 1;
		else if (e)
			return -1;
		free(*(char **)f);
		*(char **)f = s;
		return 0;
	default:
		return -1;
	}
}

/* TABLE: a nested mapping, its fields .off into base. */
int cg_keys_table(const struct cg_keyarg *a)
{
	const struct cg_key *k = a->key;
	char prefix[520];

	if ((k->flags & CG_KEY_F_SET) && a->node->type == YAML_MAPPING_NODE)
		*(int *)((char *)a->base + k->set) = 1;
	snprintf(prefix, sizeof(prefix), "%s.", a->label);
	return cg_keys_walk(a->c, a->node, a->at, k->sub, (char *)a->base + k->off, a->base, a->label, a->label, prefix);
}

/* TABLES: a list of mappings, items of .size bytes in an array at .off, their count at .count. */
int cg_keys_tables(const struct cg_keyarg *a)
{
	const struct cg_key *k = a->key;
	yaml_node_t *n = a->node;
	char lb[512], prefix[520];

	if (n->type != YAML_SEQUENCE_NODE) {
		cg_cfg_err(a->c, n, "%s: expected a list of %s, got %s", a->label, k->what, cg_cfg_kind_name(n));
		return -1;
	}
	size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (k->flags & CG_KEY_F_SET)
		*(int *)((char *)a->base + k->set) = 1;
	if (!cnt)
		return 0;
	if (k->max && cnt > k->max) {
		cg_cfg_err(a->c, n, "%s: at most %llu %s", a->label, (unsigned long long)k->max, k->key);
		return -1;
	}
	char *items = calloc(cnt, k->size);
	if (!items) {
		cg_cfg_nomem(a->c);
		return -1;
	}
	*(void **)((char *)a->base + k->off) = items;
	size_t *count = (size_t *)((char *)a->base + k->count);
	int bad = 0;
	for (size_t i = 0; i < cnt; i++) {
		yaml_node_t *item = cg_cfg_node(a->c, n->data.sequence.items.start[i]);
		void *elem = items + i * k->size;
		(*count)++; /* counted first so freeing sees partial items */
		if (!item) {
			bad = 1;
			continue;
		}
		snprintf(lb, sizeof(lb), "%s[%zu]", a->label, i);
		snprintf(prefix, sizeof(prefix), "%s.", lb);
		cg_keys_defaults(a->c, k->sub, elem);
		if (cg_keys_walk(a->c, item, n, k->sub, elem, a->base, lb, lb, prefix))
			bad = 1;
	}
	return bad ? -1 : 0;
}

void cg_keys_defaults(struct cg_cfg *c, const struct cg_keys *const *tables, void *base)
{
	for (size_t t = 0; tables && tables[t]; t++) {
		for (size_t i = 0; i < tables[t]->n; i++) {
			const struct cg_key *k = &tables[t]->keys[i];
			if (k->type == CG_KEY_TABLE)
				cg_keys_defaults(c, k->sub, (char *)base + k->off);
			else if (k->def && k->type != CG_KEY_CUSTOM && key_default(c, k, base))
				cg_cfg_err_mark(c, (yaml_mark_t){0}, "internal: bad default '%s' for %s", k->def, k->key);
		}
	}
}

void cg_keys_free(const struct cg_keys *const *tables, void *base)
{
	for (size_t t = 0; tables && tables[t]; t++) {
		for (size_t i = 0; i < tables[t]->n; i++) {
			const struct cg_key *k = &tables[t]->keys[i];
			void *f = (char *)base + k->off;
			switch (k->type) {
			case CG_KEY_STR:
			case CG_KEY_NAME:
			case CG_KEY_PATH:
			case CG_KEY_TMPL:
			case CG_KEY_ENUM_NAME:
			case CG_KEY_CIDRS:
			case CG_KEY_ADDR:
				free(*(void **)f);
				*(void **)f = NULL;
				break;
			case CG_KEY_SECRET:
				cg_cfg_secret_free(*(char **)f);
				*(char **)f = NULL;
				break;
			case CG_KEY_LIST:
				cg_cfg_strv_free(*(char ***)f, *(size_t *)((char *)base + k->count), 0);
				*(char ***)f = NULL;
				break;
			case CG_KEY_TABLE:
				cg_keys_free(k->sub, f);
				break;
			case CG_KEY_TABLES: {
				char *items = *(char **)f;
				size_t n = *(size_t *)((char *)base + k->count);
				for (size_t j = 0; items && j < n; j++)
					cg_keys_free(k->sub, items + j * k->size);
				free(items);
				*(char **)f = NULL;
				break;
			}
			case CG_KEY_CUSTOM:
				if (k->release)
					k->release(base, k);
				break;
			default:
				break;
			}
		}
	}
}
