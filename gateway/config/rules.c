/* rules.c: an e-mail source's `rules:` (a shipped set, rules inline, or a rules file read as a document of its own). */
#define _POSIX_C_SOURCE 200809L

#include "cfgint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "err.h"
#include "mailrules.h"

/* ---- e-mail sources: `rules:` (a shipped set's name, a list of rules, or a mapping) ---- */

static void known_rule_sets(struct cg_cfgbuf *b)
{
	int i = 0;
	for (const char *const *n = cg_mail_rules_builtin_names(); *n; n++)
		cg_cfgbuf_printf(b, "%s%s", i++ ? ", " : "", *n);
}

/* One rule mapping into rs (strings owned by the caller's arrays). */
static int parse_mail_rule(struct cg_cfg *c, yaml_node_t *n, const char *label, struct cg_mail_rule_spec *rs,
			   char ***strs, size_t *nstrs)
{
	enum { R_IN, R_PATTERN, R_FIELDS, R_CASE, R_STATUS, R_N };
	struct cg_cfg_field f[R_N] = {[R_IN] = {"in", NULL},
			       [R_PATTERN] = {"pattern", NULL},
			       [R_FIELDS] = {"fields", NULL},
			       [R_CASE] = {"case_sensitive", NULL},
			       [R_STATUS] = {"status", NULL}};
	static const char *const in_names[] = {"subject", "body", "from", NULL};
	static const char *const status_names[] = {"firing", "resolved", "comment", NULL};
	char lb[400];
	int e, bad = 0;
	if (cg_cfg_fields(c, n, label, label, f, R_N))
		return -1;
	rs->in = "subject";
	if (f[R_IN].val) {
		snprintf(lb, sizeof(lb), "%.300s: in", label);
		if (!cg_cfg_enum(c, f[R_IN].val, lb, in_names, &e))
			rs->in = in_names[e];
		else
			bad = 1;
	}
	if (f[R_STATUS].val) {
		snprintf(lb, sizeof(lb), "%.300s: status", label);
		if (!cg_cfg_enum(c, f[R_STATUS].val, lb, status_names, &e))
			rs->status = status_names[e];
		else
			bad = 1;
	}
	if (f[R_CASE].val) {
		snprintf(lb, sizeof(lb), "%.300s: case_sensitive", label);
		if (cg_cfg_bool(c, f[R_CASE].val, lb, &rs->case_sensitive))
			bad = 1;
	}
	char **pv = NULL;
	size_t np = 0;
	if (!f[R_PATTERN].val) {
		cg_cfg_err(c, n, "%s: pattern is required (a POSIX extended regular expression)", label);
		bad = 1;
	} else {
		snprintf(lb, sizeof(lb), "%.300s: pattern", label);
		char *pat = cg_cfg_scalar(c, f[R_PATTERN].val, lb, "a string", 0);
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
	if (f[R_FIELDS].val) {
		snprintf(lb, sizeof(lb), "%.300s: fields", label);
		if (cg_cfg_strs(c, f[R_FIELDS].val, lb, 0, &fv, &nf))
			bad = 1;
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
	return bad ? -1 : 0;
}

#define MAX_RULES_FILE (1024 * 1024)

/*
 * `rules: { file: path }` (relative to the config file): the file holds exactly what could stand
 * under `rules:` (conf/mail-rules/ ships one per built-in set), so a copy can be adapted; its
 * problems are reported as file:line:col of that file.
 */
static void parse_mail_rules_file(struct cg_cfg *c, yaml_node_t *n, const char *lb, const char *sp,
				  struct cg_source_config *s)
{
	char l2[300], pb[160];
	char *path = NULL, *buf = NULL;
	struct stat st;
	struct cg_cfg sub = {0};
	yaml_parser_t parser;
	yaml_document_t doc, doc2;
	int fd = -1, have_parser = 0, have_doc = 0;

	snprintf(l2, sizeof(l2), "%s.file", lb);
	if (c->in_rules_file) {
		cg_cfg_err(c, n, "%s: a rules file cannot name another rules file", l2);
		return;
	}
	if (cg_cfg_path(c, n, l2, &path))
		return;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) != 0) {
		cg_cfg_err(c, n, "%s: cannot read '%s': %s", l2, cg_cfg_disp(path, pb, sizeof(pb)), strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > MAX_RULES_FILE) {
		cg_cfg_err(c, n, "%s: '%s' is not a regular file of at most 1 MiB", l2, cg_cfg_disp(path, pb, sizeof(pb)));
		goto out;
	}
	size_t cap = (size_t)st.st_size, len = 0;
	if (!(buf = malloc(cap + 1))) {
		c->oom = 1;
		goto out;
	}
	while (len < cap) {
		ssize_t r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			cg_cfg_err(c, n, "%s: cannot read '%s': %s", l2, cg_cfg_disp(path, pb, sizeof(pb)), strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	buf[len] = '\0';
	sub.name = path;
	sub.dir = c->dir;
	sub.in_rules_file = 1;
	if (!yaml_parser_initialize(&parser)) {
		c->oom = 1;
		goto out;
	}
	have_parser = 1;
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&parser, &doc)) {
		cg_cfg_syntax_error(&sub, &parser, buf, len);
		goto merge;
	}
	have_doc = 1;
	sub.doc = &doc;
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	if (!root) {
		cg_cfg_err_mark(&sub, parser.mark, "the rules file is empty (give `match:` or `base:`, as under `rules:`)");
		goto merge;
	}
	if (!yaml_parser_load(&parser, &doc2)) {
		cg_cfg_syntax_error(&sub, &parser, buf, len);
	} else {
		yaml_node_t *r2 = yaml_document_get_root_node(&doc2);
		if (r2)
			cg_cfg_err(&sub, r2, "only one YAML document is allowed");
		yaml_document_delete(&doc2);
	}
	sub.nnodes = (size_t)(doc.nodes.top - doc.nodes.start);
	if (!(sub.seen = calloc(sub.nnodes ? sub.nnodes : 1, 1))) {
		sub.oom = 1;
		goto merge;
	}
	sub.seen[0] = 1; /* the root */
	cg_cfg_parse_mail_rules(&sub, root, sp, s);
merge:
	/* The file's diagnostics join the config's (the error cap counts both). */
	if (sub.errs.p && c->nerrs < CG_CFG_MAX_ERRORS && cg_cfgbuf_append(&c->errs, sub.errs.p, sub.errs.len))
		c->oom = 1;
	if (sub.warns.p && cg_cfgbuf_append(&c->warns, sub.warns.p, sub.warns.len))
		c->oom = 1;
	c->nerrs += sub.nerrs;
	if (sub.oom)
		c->oom = 1;
out:
	if (have_doc)
		yaml_document_delete(&doc);
	if (have_parser)
		yaml_parser_delete(&parser);
	free(sub.seen);
	free(sub.errs.p);
	free(sub.warns.p);
	if (fd >= 0)
		close(fd);
	free(buf);
	free(path);
}

void cg_cfg_parse_mail_rules(struct cg_cfg *c, yaml_node_t *n, const char *sp, struct cg_source_config *s)
{
	char lb[256], b[80];
	struct cg_mail_rules_spec spec = {0};
	struct cg_mail_rule_spec *rules = NULL;
	char **strs = NULL; /* owned strings and arrays, freed at the end */
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
		enum { M_BASE, M_MATCH, M_RESOLVED, M_COMMENT, M_SENDERS, M_DEDUP, M_UNMATCHED, M_FILE, M_N };
		struct cg_cfg_field f[M_N] = {[M_BASE] = {"base", NULL},
				       [M_MATCH] = {"match", NULL},
				       [M_RESOLVED] = {"resolved_words", NULL},
				       [M_COMMENT] = {"comment_words", NULL},
				       [M_SENDERS] = {"alert_senders", NULL},
				       [M_DEDUP] = {"dedup_key", NULL},
				       [M_UNMATCHED] = {"unmatched", NULL},
				       [M_FILE] = {"file", NULL}};
		static const char *const unmatched_names[] = {"case", "ignore", NULL};
		char l2[300];
		int e;
		if (cg_cfg_fields(c, n, lb, lb, f, M_N))
			return;
		if (f[M_FILE].val) {
			for (int i = 0; i < M_FILE; i++)
				if (f[i].val) {
					cg_cfg_err(c, f[i].val, "%s: give `file:` alone (put %s in the file)", lb, f[i].key);
					return;
				}
			parse_mail_rules_file(c, f[M_FILE].val, lb, sp, s);
			return;
		}
		if (f[M_BASE].val) {
			snprintf(l2, sizeof(l2), "%s.base", lb);
			if (!(base = cg_cfg_scalar(c, f[M_BASE].val, l2, "a rule set name", 0)))
				bad = 1;
		}
		if (f[M_MATCH].val) {
			if (f[M_MATCH].val->type != YAML_SEQUENCE_NODE) {
				cg_cfg_err(c, f[M_MATCH].val, "%s.match: expected a list of rules, got %s", lb,
				       cg_cfg_kind_name(f[M_MATCH].val));
				bad = 1;
			} else {
				list = f[M_MATCH].val;
			}
		}
		snprintf(l2, sizeof(l2), "%s.resolved_words", lb);
		if (f[M_RESOLVED].val && cg_cfg_strs(c, f[M_RESOLVED].val, l2, 0, &resolved, &nres))
			bad = 1;
		snprintf(l2, sizeof(l2), "%s.comment_words", lb);
		if (f[M_COMMENT].val && cg_cfg_strs(c, f[M_COMMENT].val, l2, 0, &comment, &ncom))
			bad = 1;
		snprintf(l2, sizeof(l2), "%s.alert_senders", lb);
		if (f[M_SENDERS].val && cg_cfg_strs(c, f[M_SENDERS].val, l2, 0, &senders, &nsend))
			bad = 1;
		snprintf(l2, sizeof(l2), "%s.dedup_key", lb);
		if (f[M_DEDUP].val && cg_cfg_tmpl(c, f[M_DEDUP].val, l2, &dedup))
			bad = 1;
		snprintf(l2, sizeof(l2), "%s.unmatched", lb);
		if (f[M_UNMATCHED].val && !cg_cfg_enum(c, f[M_UNMATCHED].val, l2, unmatched_names, &e))
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
							    .ignore_unmatched = spec.ignore_unmatched};
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
			if (!item || parse_mail_rule(c, item, l3, &rules[i], &strs, &nstrs))
				bad = 1;
		}
		spec.rules = rules;
		spec.nrules = nr;
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
	free(rules);
	cg_cfg_strv_free(resolved, nres, 0);
	cg_cfg_strv_free(comment, ncom, 0);
	cg_cfg_strv_free(senders, nsend, 0);
	free(dedup);
	free(base);
}
