/* walk.c: matches a mapping's keys against the known ones: unknown keys with a "did you mean" hint, duplicates. */

#include "cfgint.h"

#include <stdint.h>
#include <string.h>

#include <yaml.h>

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

/*
 * Matches n's keys against f, reporting unknown and duplicate keys. where names the
 * mapping for "unknown key" messages (NULL at top level), label for type errors.
 * Returns 0 when n is a mapping, -1 otherwise (reported).
 */
int cg_cfg_fields(struct cg_cfg *c, yaml_node_t *n, const char *label, const char *where, struct cg_cfg_field *f, size_t nf)
{
	uint64_t present = 0;
	char kb[80];

	for (size_t i = 0; i < nf; i++)
		f[i].val = NULL;
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
		for (i = 0; i < nf; i++)
			if (strlen(f[i].key) == k->data.scalar.length && strcmp(ks, f[i].key) == 0)
				break;
		if (i == nf) {
			const char *hint = NULL;
			for (size_t j = 0; j < nf && !hint; j++)
				if (k->data.scalar.length > 2 && edit_distance(ks, f[j].key) <= 2)
					hint = f[j].key;
			cg_cfg_err(c, k, "unknown key '%s'%s%s%s%s%s", cg_cfg_disp(ks, kb, sizeof(kb)), where ? " in " : "",
			       where ? where : "", hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
			continue;
		}
		if (present & (1ULL << i)) {
			cg_cfg_err(c, k, "duplicate key '%s'%s%s", f[i].key, where ? " in " : "", where ? where : "");
			continue;
		}
		present |= 1ULL << i;
		yaml_node_t *v = cg_cfg_node(c, p->value);
		if (v && !cg_cfg_is_null(v))
			f[i].val = v;
	}
	return 0;
}
