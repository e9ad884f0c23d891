/* rules.c: an e-mail source's `rules:` (a shipped set, rules inline, or a rules file read as a document of its own): its key tables and reader. */
#define _POSIX_C_SOURCE 200809L

#include "cfgint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "err.h"
#include "mailrules.h"

static void known_rule_sets(struct cg_cfgbuf *b)
{
	int i = 0;
	for (const char *const *n = cg_mail_rules_builtin_names(); *n; n++)
		cg_cfgbuf_printf(b, "%s%s", i++ ? ", " : "", *n);
}

enum { R_IN, R_PATTERN, R_FIELDS, R_CASE, R_STATUS, R_SET, R_N };

static const struct cg_key rule_rows[R_N] = {
	[R_IN] = {.key = "in", .type = CG_KEY_CUSTOM, .def = "subject", .doc = "subject, body or from"},
	[R_PATTERN] = {.key = "pattern", .type = CG_KEY_CUSTOM, .doc = "a POSIX extended regular expression"},
	[R_FIELDS] = {.key = "fields", .type = CG_KEY_CUSTOM, .doc = "names for the pattern's groups"},
	[R_CASE] = {.key = "case_sensitive", .type = CG_KEY_CUSTOM, .def = "false", .doc = "the pattern minds case"},
	[R_STATUS] = {.key = "status", .type = CG_KEY_CUSTOM, .doc = "firing, resolved or comment, when it matches"},
	[R_SET] = {.key = "set", .type = CG_KEY_CUSTOM, .doc = "fields set to fixed values when it matches"},
};

static const struct cg_keys rule_keys = {.name = "config: sources[].rules.match[]", .keys = rule_rows, .n = R_N};

enum { M_BASE, M_MATCH, M_RESOLVED, M_COMMENT, M_SENDERS, M_DEDUP, M_UNMATCHED, M_FILE, M_N };

/* rules: as a mapping (it may also be a shipped set's name, or the list of rules alone). */
static const struct cg_key rules_rows[M_N] = {
	[M_BASE] = {.key = "base", .type = CG_KEY_CUSTOM, .doc = "a shipped rule set to start from"},
	[M_MATCH] = {.key = "match", .type = CG_KEY_CUSTOM, .sub = CG_KEYS_SUB(&rule_keys),
		     .doc = "the rules: every one that matches fills the fields not yet filled"},
	[M_RESOLVED] = {.key = "resolved_words", .type = CG_KEY_CUSTOM, .doc = "words that mean resolved"},
	[M_COMMENT] = {.key = "comment_words", .type = CG_KEY_CUSTOM, .doc = "words that mean a comment"},
	[M_SENDERS] = {.key = "alert_senders", .type = CG_KEY_CUSTOM, .doc = "who may raise alerts (globs)"},
	[M_DEDUP] = {.key = "dedup_key", .type = CG_KEY_CUSTOM, .doc = "template: which mails share a case"},
	[M_UNMATCHED] = {.key = "unmatched", .type = CG_KEY_CUSTOM, .def = "case", .doc = "case or ignore"},
	[M_FILE] = {.key = "file", .type = CG_KEY_CUSTOM, .doc = "a file holding what could stand here (alone)"},
};

const struct cg_keys cg_rules_keys = {.name = "config: sources[].rules", .keys = rules_rows, .n = M_N};

/*
 * A captured field named like a built-in template variable ({{status}}, {{title}}, ...) is
 * hidden by the event's own value in templates: say so at the name, with the spelling that
 * reaches it. A warning, not an error: `status` also decides the verdict, and configurations
 * written before `fields.` existed keep loading.
 */
static void warn_builtin_fields(struct cg_cfg *c, yaml_node_t *n, const char *label, char **fv, size_t nf)
{
	size_t nitems = n->type == YAML_SEQUENCE_NODE
				? (size_t)(n->data.sequence.items.top - n->data.sequence.items.start)
				: 1;
	for (size_t i = 0; i < nf; i++) {
		const char *what = cg_mail_field_builtin(fv[i]);
		if (!what)
			continue;
		yaml_node_t *at = n;
		if (n->type == YAML_SEQUENCE_NODE && nf == nitems) {
			yaml_node_t *item = yaml_document_get_node(c->doc, n->data.sequence.items.start[i]);
			if (item)
				at = item;
		}
		cg_cfg_warn_mark(c, at->start_mark,
				 "%s: field '%s' is hidden in templates by the built-in {{%s}} (%s): write "
				 "{{fields.%s}} for the captured value%s",
				 label, fv[i], fv[i], what, fv[i],
				 strcmp(fv[i], "status") == 0 ? ", or name it `type` (it decides resolved/comment the same way)"
							       : "");
	}
}

/* The `set:` entries of all rules of one rule set, in rule order (cg_mail_rules_spec.settings). */
struct settings {
	struct cg_mail_rule_setting *v;
	size_t n;
};

/*
 * Rule ri's `set:` ({name: value, ...}) appended to *st; every string goes into *strs (the
 * caller frees them). -1 after an error at the node.
 */
static int parse_rule_set(struct cg_cfg *c, yaml_node_t *n, const char *label, size_t ri, struct settings *st,
			  char ***strs, size_t *nstrs)
{
	if (n->type != YAML_MAPPING_NODE) {
		cg_cfg_err(c, n, "%s: expected a mapping of field names to values, got %s", label, cg_cfg_kind_name(n));
		return -1;
	}
	size_t np = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	char **ns = realloc(*strs, (*nstrs + 2 * np + 1) * sizeof(**strs));
	if (ns)
		*strs = ns;
	struct cg_mail_rule_setting *sv = ns ? realloc(st->v, (st->n + np + 1) * sizeof(*sv)) : NULL;
	if (sv)
		st->v = sv;
	if (!ns || !sv) {
		c->oom = 1;
		return -1;
	}
	int bad = 0;
	for (size_t i = 0; i < np; i++) {
		yaml_node_pair_t *pr = &n->data.mapping.pairs.start[i];
		yaml_node_t *k = cg_cfg_node(c, pr->key), *v = cg_cfg_node(c, pr->value);
		char lb[400];
		char *name = k ? cg_cfg_scalar(c, k, label, "a field name", 0) : NULL;
		if (name)
			snprintf(lb, sizeof(lb), "%.300s.%.60s", label, name);
		char *val = name && v ? cg_cfg_scalar(c, v, lb, "a string", 0) : NULL;
		if (name && !*name) {
			cg_cfg_err(c, k, "%s: a field name is empty", label);
			bad = 1;
		}
		if (name && *name)
			warn_builtin_fields(c, k, label, &name, 1); /* as for fields: the same names hide */
		if (name)
			ns[(*nstrs)++] = name;
		if (val)
			ns[(*nstrs)++] = val;
		if (!name || !val) {
			bad = 1;
			continue;
		}
		st->v[st->n++] = (struct cg_mail_rule_setting){.rule = ri, .field = name, .value = val};
	}
	return bad ? -1 : 0;
}

/* One rule mapping into rs (strings owned by the caller's arrays). */
static int parse_mail_rule(struct cg_cfg *c, yaml_node_t *n, const char *label, size_t ri,
			   struct cg_mail_rule_spec *rs, struct settings *st, char ***strs, size_t *nstrs)
{
	yaml_node_t *f[R_N];
	struct cg_keymap km;
	static const char *const in_names[] = {"subject", "body", "from", NULL};
	static const char *const status_names[] = {"firing", "resolved", "comment", NULL};
	char lb[400];
	int e, bad = 0;
	if (cg_keys_match(c, n, CG_KEYS_SUB(&rule_keys), label, label, &km))
		return -1;
	for (size_t i = 0; i < R_N; i++)
		f[i] = km.val[i];
	rs->in = "subject";
	if (f[R_IN]) {
		snprintf(lb, sizeof(lb), "%.300s: in", label);
		if (!cg_cfg_enum(c, f[R_IN], lb, in_names, &e))
			rs->in = in_names[e];
		else
			bad = 1;
	}
	if (f[R_STATUS]) {
		snprintf(lb, sizeof(lb), "%.300s: status", label);
		if (!cg_cfg_enum(c, f[R_STATUS], lb, status_names, &e))
			rs->status = status_names[e];
		else
			bad = 1;
	}
	if (f[R_CASE]) {
		snprintf(lb, sizeof(lb), "%.300s: case_sensitive", label);
		if (cg_cfg_bool(c, f[R_CASE], lb, &rs->case_sensitive))
			bad = 1;
	}
	char **pv = NULL;
	size_t np = 0;
	if (!f[R_PATTERN]) {
		cg_cfg_err(c, n, "%s: pattern is required (a POSIX extended regular expression)", label);
		bad = 1;
	} else {
		snprintf(lb, sizeof(lb), "%.300s: pattern", label);
		char *pat = cg_cfg_scalar(c, f[R_PATTERN], lb, "a string", 0);
		if (!pat)
			bad = 1;
		else {
			pv = calloc(1, sizeof(*pv));
			if (!pv) {
				free(pat);
				c->oom = 1;
				return -1;
			}
			pv[0] = pat;
			np = 1;
			rs->pattern = pat;
		}
	}
	char **fv = NULL;
	size_t nf = 0;
	if (f[R_FIELDS]) {
		snprintf(lb, sizeof(lb), "%.300s: fields", label);
		if (cg_cfg_strs(c, f[R_FIELDS], lb, 0, &fv, &nf))
			bad = 1;
		else
			warn_builtin_fields(c, f[R_FIELDS], lb, fv, nf);
	}
	rs->fields = (const char *const *)fv;
	rs->nfields = nf;
	/* Keep every string for freeing after compilation. */
	char **ns = realloc(*strs, (*nstrs + np + nf + 1) * sizeof(**strs));
	if (!ns) {
		cg_cfg_strv_free(pv, np, 0);
		cg_cfg_strv_free(fv, nf, 0);
		c->oom = 1;
		return -1;
	}
	*strs = ns;
	for (size_t i = 0; i < np; i++)
		ns[(*nstrs)++] = pv[i];
	free(pv);
	/* The field array itself is needed by the spec: store it as one more pointer to free. */
	ns[(*nstrs)++] = (char *)fv;
	if (f[R_SET]) {
		snprintf(lb, sizeof(lb), "%.300s: set", label);
		if (parse_rule_set(c, f[R_SET], lb, ri, st, strs, nstrs))
			bad = 1;
	}
	return bad ? -1 : 0;
}

#define MAX_RULES_FILE (1024 * 1024)

static void parse_mail_rules(struct cg_cfg *c, yaml_node_t *n, const char *sp, struct cg_source_config *s);

/*
 * `rules: { file: path }` (relative to the config file): the file holds exactly what could stand
 * under `rules:` (conf/mail-rules/ ships one per built-in set), so a copy can be adapted; its
 * problems are reported as file:line:col of that file.
 */
static void parse_mail_rules_file(struct cg_cfg *c, yaml_node_t *n, const char *lb, const char *sp,
				  struct cg_source_config *s)
{
	char l2[300], pb[160], *path = NULL;
	struct cg_cfg sub = {0};
	struct cg_cfg_file f = {0};
	struct cg_cfg_doc d;

	snprintf(l2, sizeof(l2), "%s.file", lb);
	if (c->in_rules_file) {
		cg_cfg_err(c, n, "%s: a rules file cannot name another rules file", l2);
		return;
	}
	if (cg_cfg_path(c, n, l2, &path))
		return;
	int r = cg_cfg_read_file(path, MAX_RULES_FILE, &f);
	if (r == CG_ENOMEM) {
		c->oom = 1;
		goto out;
	}
	if (r == CG_E2BIG) {
		cg_cfg_err(c, n, "%s: '%s' is not a regular file of at most 1 MiB", l2, cg_cfg_disp(path, pb, sizeof(pb)));
		goto out;
	}
	if (r) {
		cg_cfg_err(c, n, "%s: cannot read '%s': %s", l2, cg_cfg_disp(path, pb, sizeof(pb)), strerror(errno));
		goto out;
	}
	sub.name = path;
	sub.dir = c->dir;
	sub.in_rules_file = 1;
	sub.env_lenient = c->env_lenient;
	sub.unset = c->unset;
	yaml_node_t *root =
		cg_cfg_doc_open(&sub, &d, f.b.p, f.b.len, "the rules file is empty (give `match:` or `base:`, as under `rules:`)");
	if (root)
		parse_mail_rules(&sub, root, sp, s);
	/* The file's diagnostics join the config's (the error cap counts both). */
	if (sub.errs.p && c->nerrs < CG_CFG_MAX_ERRORS && cg_cfgbuf_append(&c->errs, sub.errs.p, sub.errs.len))
		c->oom = 1;
	if (sub.warns.p && cg_cfgbuf_append(&c->warns, sub.warns.p, sub.warns.len))
		c->oom = 1;
	c->nerrs += sub.nerrs;
	if (sub.oom)
		c->oom = 1;
	cg_cfg_doc_close(&sub, &d);
	free(sub.errs.p);
	free(sub.warns.p);
out:
	cg_cfgbuf_wipe(&f.b);
	free(path);
}

static void parse_mail_rules(struct cg_cfg *c, yaml_node_t *n, const char *sp, struct cg_source_config *s)
{
	char lb[256], b[80];
	struct cg_mail_rules_spec spec = {0};
	struct cg_mail_rule_spec *rules = NULL;
	char **strs = NULL; /* owned strings and arrays, freed at the end */
	struct settings st = {0};
	size_t nstrs = 0;
	char **resolved = NULL, **comment = NULL, **senders = NULL, *dedup = NULL, *base = NULL;
	size_t nres = 0, ncom = 0, nsend = 0;
	yaml_node_t *list = NULL;
	int bad = 0;
	snprintf(lb, sizeof(lb), "%s: rules", sp);
	if (n->type == YAML_SCALAR_NODE) {
		base = cg_cfg_scalar(c, n, lb, "a rule set name", 0);
		if (!base)
			return;
	} else if (n->type == YAML_SEQUENCE_NODE) {
		list = n;
	} else {
		yaml_node_t *f[M_N];
		struct cg_keymap km;
		static const char *const unmatched_names[] = {"case", "ignore", NULL};
		char l2[300];
		int e;
		if (cg_keys_match(c, n, CG_KEYS_SUB(&cg_rules_keys), lb, lb, &km))
			return;
		for (size_t i = 0; i < M_N; i++)
			f[i] = km.val[i];
		if (f[M_FILE]) {
			for (int i = 0; i < M_FILE; i++)
				if (f[i]) {
					cg_cfg_err(c, f[i], "%s: give `file:` alone (put %s in the file)", lb, rules_rows[i].key);
					return;
				}
			parse_mail_rules_file(c, f[M_FILE], lb, sp, s);
			return;
		}
		if (f[M_BASE]) {
			snprintf(l2, sizeof(l2), "%s.base", lb);
			if (!(base = cg_cfg_scalar(c, f[M_BASE], l2, "a rule set name", 0)))
				bad = 1;
		}
		if (f[M_MATCH]) {
			if (f[M_MATCH]->type != YAML_SEQUENCE_NODE) {
				cg_cfg_err(c, f[M_MATCH], "%s.match: expected a list of rules, got %s", lb,
				       cg_cfg_kind_name(f[M_MATCH]));
				bad = 1;
			} else {
				list = f[M_MATCH];
			}
		}
		snprintf(l2, sizeof(l2), "%s.resolved_words", lb);
		if (f[M_RESOLVED] && cg_cfg_strs(c, f[M_RESOLVED], l2, 0, &resolved, &nres))
			bad = 1;
		snprintf(l2, sizeof(l2), "%s.comment_words", lb);
		if (f[M_COMMENT] && cg_cfg_strs(c, f[M_COMMENT], l2, 0, &comment, &ncom))
			bad = 1;
		snprintf(l2, sizeof(l2), "%s.alert_senders", lb);
		if (f[M_SENDERS] && cg_cfg_strs(c, f[M_SENDERS], l2, 0, &senders, &nsend))
			bad = 1;
		snprintf(l2, sizeof(l2), "%s.dedup_key", lb);
		if (f[M_DEDUP] && cg_cfg_tmpl(c, f[M_DEDUP], l2, &dedup))
			bad = 1;
		snprintf(l2, sizeof(l2), "%s.unmatched", lb);
		if (f[M_UNMATCHED] && !cg_cfg_enum(c, f[M_UNMATCHED], l2, unmatched_names, &e))
			spec.ignore_unmatched = e;
		if (!list && !base) {
			cg_cfg_err(c, n, "%s: give `base:` (a shipped rule set) or `match:` (a list of rules)", lb);
			bad = 1;
		}
	}
	if (base) {
		const struct cg_mail_rules_spec *bs = cg_mail_rules_builtin(base);
		if (!bs) {
			struct cg_cfgbuf kn = {0};
			known_rule_sets(&kn);
			cg_cfg_err(c, n, "%s: unknown rule set '%s' (shipped: %s)", lb, cg_cfg_disp(base, b, sizeof(b)),
			       kn.p ? kn.p : "");
			free(kn.p);
			bad = 1;
		} else {
			spec = (struct cg_mail_rules_spec){.name = bs->name,
							    .rules = bs->rules,
							    .nrules = bs->nrules,
							    .resolved_words = bs->resolved_words,
							    .nresolved = bs->nresolved,
							    .comment_words = bs->comment_words,
							    .ncomment = bs->ncomment,
							    .dedup_key = bs->dedup_key,
							    .ignore_unmatched = spec.ignore_unmatched,
							    .settings = bs->settings,
							    .nsettings = bs->nsettings};
		}
	}
	if (list) {
		size_t nr = (size_t)(list->data.sequence.items.top - list->data.sequence.items.start);
		rules = calloc(nr ? nr : 1, sizeof(*rules));
		if (!rules) {
			c->oom = 1;
			goto out;
		}
		for (size_t i = 0; i < nr; i++) {
			char l3[300];
			snprintf(l3, sizeof(l3), "%s[%zu]", lb, i);
			yaml_node_t *item = cg_cfg_node(c, list->data.sequence.items.start[i]);
			if (!item || parse_mail_rule(c, item, l3, i, &rules[i], &st, &strs, &nstrs))
				bad = 1;
		}
		spec.rules = rules;
		spec.nrules = nr;
		spec.settings = st.v;
		spec.nsettings = st.n;
		spec.name = s->name ? s->name : "custom";
	}
	if (resolved) {
		spec.resolved_words = (const char *const *)resolved;
		spec.nresolved = nres;
	}
	if (comment) {
		spec.comment_words = (const char *const *)comment;
		spec.ncomment = ncom;
	}
	spec.alert_senders = (const char *const *)senders;
	spec.nsenders = nsend;
	if (dedup)
		spec.dedup_key = dedup;
	if (bad || c->oom)
		goto out;
	char err[300] = "";
	int rc = cg_mail_rules_create(&spec, &s->mail_rules, err, sizeof(err));
	if (rc == CG_ENOMEM) {
		c->oom = 1;
	} else if (rc) {
		/* "rule N: ..." points at that rule's line (a long rules file needs it). */
		yaml_node_t *at = n;
		unsigned long ri = 0;
		if (list && sscanf(err, "rule %lu:", &ri) == 1 && ri >= 1 &&
		    ri <= (unsigned long)(list->data.sequence.items.top - list->data.sequence.items.start)) {
			yaml_node_t *item = yaml_document_get_node(c->doc, list->data.sequence.items.start[ri - 1]);
			if (item)
				at = item;
		}
		cg_cfg_err(c, at, "%s: %s", lb, err);
	}
out:
	/* The rules' field names first: their arrays are among strs. */
	for (size_t i = 0; rules && list && i < (size_t)(list->data.sequence.items.top - list->data.sequence.items.start);
	     i++)
		for (size_t k = 0; k < rules[i].nfields; k++)
			free((char *)rules[i].fields[k]);
	for (size_t i = 0; i < nstrs; i++)
		free(strs[i]);
	free(strs);
	free(st.v);
	free(rules);
	cg_cfg_strv_free(resolved, nres, 0);
	cg_cfg_strv_free(comment, ncom, 0);
	cg_cfg_strv_free(senders, nsend, 0);
	free(dedup);
	free(base);
}

int cg_cfg_rules(const struct cg_keyarg *a)
{
	size_t errs0 = a->c->nerrs;
	parse_mail_rules(a->c, a->node, a->owner, a->base);
	return a->c->nerrs == errs0 ? 0 : -1;
}

void cg_cfg_rules_free(void *base, const struct cg_key *k)
{
	(void)k;
	cg_mail_rules_destroy(((struct cg_source_config *)base)->mail_rules);
}
