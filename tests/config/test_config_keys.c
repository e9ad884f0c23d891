/* test_config_keys.c: every key of every part's table is documented in README's Configuration section, every row there names a real key, and the defaults agree. */
/* labels: unit */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfgint.h"
#include "config.h"
#include "err.h"
#include "harness.h"
#include "keys.h"

/*
 * How README's Configuration table is read. A row's first cell names its keys in backticks:
 * `datadog.timeout`; a name after the first one in the same cell is its sibling
 * (`datadog.api_key` / `api_key_file`); `.name` is a key of the last list row (`sources[]`).
 * A key is documented by a row that names it, or by a row that names one of its mappings and
 * mentions, in backticks anywhere in the row, each key on the way down (`store` documents
 * store.lease when the row says `lease`); a mapping also by the rows of its keys.
 */

#define MAX_PATH 8
#define MAX_ROWS 256
#define MAX_WORDS 96

/* A key's path, "sources.auth.basic.user", as components (offsets into buf: copies stay valid). */
struct path {
	unsigned char off[MAX_PATH];
	size_t n;
	char buf[256];
};

static const char *comp(const struct path *p, size_t i)
{
	return p->buf + p->off[i];
}

struct row {
	int line;
	struct path keys[6];
	size_t nkeys;
	char words[MAX_WORDS][40];
	size_t nwords;
	char def[64]; /* the Default cell when it is one backticked value */
};

static struct row rows[MAX_ROWS];
static size_t nrows;
static int failures;

__attribute__((format(printf, 1, 2))) static void complain(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	failures++;
}

static void path_set(struct path *p, const char *dotted)
{
	snprintf(p->buf, sizeof(p->buf), "%s", dotted);
	p->n = 0;
	for (char *s = p->buf; *s && p->n < MAX_PATH;) {
		p->off[p->n++] = (unsigned char)(s - p->buf);
		char *dot = strchr(s, '.');
		if (!dot)
			break;
		*dot = '\0';
		s = dot + 1;
	}
}

static void path_str(const struct path *p, char *out, size_t len)
{
	size_t o = 0;
	out[0] = '\0';
	for (size_t i = 0; i < p->n && o < len; i++)
		o += (size_t)snprintf(out + o, len - o, "%s%s", i ? "." : "", comp(p, i));
}

/* The cells of a table row: "| a | b \| c | d |" -> cut at unescaped '|'. */
static size_t cells(char *line, char **out, size_t max)
{
	size_t n = 0;
	char *s = line + 1;
	for (char *p = s; *p && n < max; p++) {
		if (*p == '\\' && p[1]) {
			p++;
			continue;
		}
		if (*p == '|') {
			*p = '\0';
			out[n++] = s;
			s = p + 1;
		}
	}
	return n;
}

static void add_words(struct row *r, const char *cell)
{
	const char *p = cell;
	while ((p = strchr(p, '`'))) {
		const char *end = strchr(p + 1, '`');
		if (!end)
			break;
		for (const char *w = p + 1; w < end;) {
			if (!(isalnum((unsigned char)*w) || *w == '_')) {
				w++;
				continue;
			}
			size_t l = 0;
			while (w + l < end && (isalnum((unsigned char)w[l]) || w[l] == '_'))
				l++;
			if (r->nwords < MAX_WORDS && l < sizeof(r->words[0]))
				snprintf(r->words[r->nwords++], sizeof(r->words[0]), "%.*s", (int)l, w);
			w += l;
		}
		p = end + 1;
	}
}

static void read_readme(void)
{
	char *path = cg_h_fmt("%s/README.md", cg_h_source_dir());
	char *text = cg_h_read_file(path, NULL);
	if (!text)
		fail_msg("%s: got no file, want the README", path);
	char *sec = strstr(text, "\n## Configuration\n");
	assert_non_null(sec);
	char *end = strstr(sec + 1, "\n## ");
	if (end)
		*end = '\0';
	int line = 1;
	for (char *p = text; p < sec; p++)
		line += *p == '\n';
	struct path list = {0};
	for (char *l = sec + 1; l && *l;) {
		char *nl = strchr(l, '\n');
		if (nl)
			*nl = '\0';
		line++;
		if (strncmp(l, "| `", 3) == 0) {
			assert_true(nrows < MAX_ROWS);
			struct row *r = &rows[nrows++];
			r->line = line;
			char *cell[8];
			size_t nc = cells(l, cell, 8);
			for (size_t i = 0; i < nc; i++)
				add_words(r, cell[i]);
			/* The keys: backticked names in the first cell. */
			for (char *k = strchr(cell[0], '`'); k && r->nkeys < 6; k = strchr(k, '`')) {
				char *ke = strchr(k + 1, '`'), name[200];
				if (!ke)
					break;
				snprintf(name, sizeof(name), "%.*s", (int)(ke - k - 1), k + 1);
				size_t nl2 = strlen(name);
				int is_list = nl2 > 2 && strcmp(name + nl2 - 2, "[]") == 0;
				if (is_list)
					name[nl2 - 2] = '\0';
				char full[420];
				if (name[0] == '.') {
					char lp[200];
					path_str(&list, lp, sizeof(lp));
					snprintf(full, sizeof(full), "%s%s", lp, name);
				} else if (r->nkeys && !strchr(name, '.') && r->keys[0].n > 1) {
					char parent[200];
					struct path pp = r->keys[0];
					pp.n--;
					path_str(&pp, parent, sizeof(parent));
					snprintf(full, sizeof(full), "%s.%s", parent, name);
				} else {
					snprintf(full, sizeof(full), "%s", name);
				}
				path_set(&r->keys[r->nkeys++], full);
				if (is_list && r->nkeys == 1)
					list = r->keys[0];
				k = ke + 1;
			}
			/* The Default cell, when it is one value. */
			if (nc > 2) {
				const char *d = cell[2];
				while (*d == ' ')
					d++;
				const char *de = d[0] == '`' ? strchr(d + 1, '`') : NULL;
				if (de && strspn(de + 1, " ") == strlen(de + 1))
					snprintf(r->def, sizeof(r->def), "%.*s", (int)(de - d - 1), d + 1);
			}
		}
		l = nl ? nl + 1 : NULL;
	}
	free(text);
	free(path);
}

static int has_word(const struct row *r, const char *w)
{
	for (size_t i = 0; i < r->nwords; i++)
		if (strcmp(r->words[i], w) == 0)
			return 1;
	return 0;
}

/* 1 when p starts with q (q no longer than p). */
static int prefix(const struct path *q, const struct path *p)
{
	if (q->n > p->n)
		return 0;
	for (size_t i = 0; i < q->n; i++)
		if (strcmp(comp(q, i), comp(p, i)) != 0)
			return 0;
	return 1;
}

static int documented(const struct path *p)
{
	for (size_t r = 0; r < nrows; r++) {
		for (size_t k = 0; k < rows[r].nkeys; k++) {
			/* A mapping is documented by the rows of its keys. */
			if (rows[r].keys[k].n > p->n && prefix(p, &rows[r].keys[k]))
				return 1;
			if (!prefix(&rows[r].keys[k], p))
				continue;
			size_t i = rows[r].keys[k].n;
			while (i < p->n && has_word(&rows[r], comp(p, i)))
				i++;
			if (i == p->n)
				return 1;
		}
	}
	return 0;
}

/* The README row naming exactly p, if one does and it names nothing else. */
static const struct row *own_row(const struct path *p)
{
	for (size_t r = 0; r < nrows; r++)
		if (rows[r].nkeys == 1 && rows[r].keys[0].n == p->n && prefix(&rows[r].keys[0], p))
			return &rows[r];
	return NULL;
}

/* Every key path the tables know, for the reverse check. */
static struct path known[1024];
static size_t nknown;

static void visit(const struct cg_keys *const *tables, const struct path *at, const char *const *only, int depth);

static void visit_key(const struct cg_keys *t, const struct cg_key *k, const struct path *at, int depth)
{
	char name[256];
	struct path p;
	path_str(at, name, sizeof(name));
	snprintf(name + strlen(name), sizeof(name) - strlen(name), "%s%s", at->n ? "." : "", k->key);
	path_set(&p, name);
	char ps[256];
	path_str(&p, ps, sizeof(ps));

	if (!k->doc || !*k->doc)
		complain("%s (%s): the row has no description (.doc)", ps, t->name);
	if ((k->type == CG_KEY_TABLE || k->type == CG_KEY_TABLES) && !k->sub)
		complain("%s (%s): a TABLE row without .sub", ps, t->name);
	if ((k->type == CG_KEY_ENUM || k->type == CG_KEY_ENUM_NAME) && !k->names)
		complain("%s (%s): an enum without .names", ps, t->name);
	assert_true(nknown < sizeof(known) / sizeof(known[0]));
	known[nknown++] = p;
	if (!documented(&p))
		complain("README.md, ## Configuration: no row documents `%s` (%s: %s)", ps, t->name, k->doc ? k->doc : "");
	const struct row *own = own_row(&p);
	if (own && own->def[0] && k->def && strcmp(own->def, k->def) != 0)
		complain("README.md:%d: `%s` defaults to `%s`, the table (%s) to \"%s\"", own->line, ps, own->def, t->name,
			 k->def);
	if (k->type == CG_KEY_SECRET) {
		struct path pf;
		snprintf(name + strlen(name), sizeof(name) - strlen(name), "_file");
		path_set(&pf, name);
		known[nknown++] = pf;
		if (!documented(&pf))
			complain("README.md, ## Configuration: no row documents `%s_file` (%s)", ps, t->name);
	}
	if (k->sub)
		visit(k->sub, &known[nknown - (k->type == CG_KEY_SECRET ? 2 : 1)], k->type == CG_KEY_TABLE ? k->names : NULL,
		      depth + 1);
}

/* only: when set, the keys of these tables that the mapping takes (a verify scheme's). */
static void visit(const struct cg_keys *const *tables, const struct path *at, const char *const *only, int depth)
{
	size_t slots = 0;
	for (size_t t = 0; tables[t]; t++) {
		for (size_t i = 0; i < tables[t]->n; i++) {
			const struct cg_key *k = &tables[t]->keys[i];
			int taken = !only;
			for (size_t j = 0; only && only[j]; j++)
				taken |= strcmp(only[j], k->key) == 0;
			slots += k->type == CG_KEY_SECRET ? 2 : 1;
			if (taken)
				visit_key(tables[t], k, at, depth);
		}
	}
	char ps[256];
	path_str(at, ps, sizeof(ps));
	if (slots > CG_KEYMAP_MAX)
		complain("%s: %zu keys in one mapping, the walker takes %d", ps, slots, CG_KEYMAP_MAX);
}

static void test_readme_documents_every_key(void **state)
{
	(void)state;
	struct path root = {0};
	read_readme();
	if (nrows < 40)
		fail_msg("README.md: got %zu rows in the Configuration table, want the table", nrows);
	failures = 0;
	visit(CG_KEYS_SUB(&cg_config_keys), &root, NULL, 0);
	if (nknown < 150)
		fail_msg("got %zu keys from the tables, want them all", nknown);

	/* Every row names keys that exist. */
	for (size_t r = 0; r < nrows; r++) {
		for (size_t k = 0; k < rows[r].nkeys; k++) {
			int found = 0;
			for (size_t i = 0; i < nknown && !found; i++)
				found = prefix(&rows[r].keys[k], &known[i]);
			if (!found) {
				char ps[256];
				path_str(&rows[r].keys[k], ps, sizeof(ps));
				complain("README.md:%d: the row names `%s`, which no key table has", rows[r].line, ps);
			}
		}
	}
	if (failures)
		fail_msg("got %d problems (listed above), want none", failures);
}

/* A default that does not parse fails every load: the smallest config must load. */
static void test_defaults_parse(void **state)
{
	(void)state;
	const char *text = "sources:\n  - name: d\n    type: generic\n    auth: none\n"
			   "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
			   "    case_type: 00000000-0000-0000-0000-000000000001\n"
			   "mail:\n  routes: [{rcpt: a@b, source: d}]\n";
	struct cg_config *c = NULL;
	char *errs = NULL;
	int rc = cg_config_parse("t.yaml", text, strlen(text), &c, &errs);
	if (rc != CG_EINVAL || !errs || !strstr(errs, "source 'd' is not `type: email`") || strstr(errs, "internal"))
		fail_msg("got rc %d, errors:\n%s\nwant only the route's error", rc, errs ? errs : "(none)");
	free(errs);
	errs = NULL;
	text = "sources:\n  - name: d\n    type: generic\n    auth: none\n"
	       "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
	       "    case_type: 00000000-0000-0000-0000-000000000001\n"
	       "    actions: { P1: { due: 1d }, insights: [] }\n"
	       "mail: {}\nqueue: {}\nlimits: {}\nstore: {}\ndatadog: {}\n";
	rc = cg_config_parse("t.yaml", text, strlen(text), &c, &errs);
	if (rc != 0)
		fail_msg("got rc %d, errors:\n%s\nwant the defaults to load", rc, errs ? errs : "(none)");
	assert_int_equal(c->mail.max_parts, 1000);
	assert_int_equal(c->sources[0].actions.prio_set[1], 1);
	assert_int_equal(c->sources[0].actions.prio[1].due_ms, 86400000);
	assert_int_equal(c->sources[0].actions.insights_set, 1);
	cg_config_free(c);
}

/*
 * An e-mail source's rule keys have their own tables under ## E-mail intake ("**Rule set keys**",
 * "**Rule keys**"): each key of the tables has a row there, with the table's default when it has
 * one, and each row names a real key.
 */
static void check_key_table(const char *text, const char *marker, const struct cg_keys *t)
{
	const char *at = strstr(text, marker);
	if (!at) {
		complain("README.md: no %s table (%s)", marker, t->name);
		return;
	}
	int seen[32] = {0};
	assert_true(t->n <= sizeof(seen) / sizeof(seen[0]));
	/* The table: the first run of lines starting with '|' after the marker. */
	const char *p = strstr(at, "\n|");
	int rows_read = 0;
	while (p && p[1] == '|') {
		p++;
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		char line[1024];
		snprintf(line, sizeof(line), "%.*s", (int)(len < sizeof(line) - 1 ? len : sizeof(line) - 1), p);
		char *c[8];
		size_t nc = cells(line, c, 8);
		p = eol;
		if (nc < 3 || c[0][strspn(c[0], " -")] == '\0' || strstr(c[0], " key "))
			continue; /* the separator and the header */
		char key[64] = "", def[128] = "";
		if (sscanf(c[0], " `%63[^`]`", key) != 1) {
			complain("README.md, %s: a row whose key is not in backticks: %s", marker, c[0]);
			continue;
		}
		sscanf(c[1], " `%127[^`]`", def);
		rows_read++;
		size_t i = 0;
		while (i < t->n && strcmp(t->keys[i].key, key) != 0)
			i++;
		if (i == t->n) {
			complain("README.md, %s: the row names `%s`, which %s has not", marker, key, t->name);
			continue;
		}
		seen[i] = 1;
		if (t->keys[i].def && strcmp(def, t->keys[i].def) != 0)
			complain("README.md, %s: `%s` defaults to `%s`, the table (%s) to \"%s\"", marker, key, def,
				 t->name, t->keys[i].def);
	}
	if (rows_read == 0)
		complain("README.md, %s: got no rows, want the table", marker);
	for (size_t i = 0; i < t->n; i++)
		if (!seen[i])
			complain("README.md, %s: no row for `%s` (%s: %s)", marker, t->keys[i].key, t->name,
				 t->keys[i].doc ? t->keys[i].doc : "");
}

static void test_readme_rule_keys(void **state)
{
	(void)state;
	char *text = cg_h_readme();
	assert_non_null(text);
	const char *mail = strstr(text, "\n## E-mail intake");
	assert_non_null(mail);
	failures = 0;
	check_key_table(mail, "**Rule set keys**", &cg_rules_keys);
	const struct cg_keys *rule = NULL;
	for (size_t i = 0; i < cg_rules_keys.n; i++)
		if (strcmp(cg_rules_keys.keys[i].key, "match") == 0 && cg_rules_keys.keys[i].sub)
			rule = cg_rules_keys.keys[i].sub[0];
	assert_non_null(rule);
	check_key_table(mail, "**Rule keys**", rule);
	free(text);
	if (failures)
		fail_msg("got %d problems (listed above), want none", failures);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_readme_documents_every_key),
		cmocka_unit_test(test_defaults_parse),
		cmocka_unit_test(test_readme_rule_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
