/* cfgint.h: what the files of the config loader share (its state, diagnostics and typed values); no other part includes it. */
#ifndef CG_CFGINT_H
#define CG_CFGINT_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <yaml.h>

#include "config.h"

/* Past this many errors the rest is noise (and a fuzzer could make the list huge). */
#define CG_CFG_MAX_ERRORS 50
#define CG_MS_SECOND 1000ULL
#define CG_MS_MINUTE (60 * CG_MS_SECOND)
#define CG_MS_HOUR (60 * CG_MS_MINUTE)
#define CG_MS_DAY (24 * CG_MS_HOUR)

struct cg_cfgbuf {
	char *p;
	size_t len, cap;
};

struct cg_cfg {
	yaml_document_t *doc;
	const char *name; /* file name for messages */
	const char *dir;  /* base for relative paths */
	struct cg_cfgbuf errs, warns;
	size_t nerrs;
	unsigned char *seen; /* per node: already walked (a second visit means an alias) */
	size_t nnodes;
	int oom;
	int inline_secret; /* a secret's text came from the file itself, not the environment */
	yaml_mark_t inline_mark;
	int in_rules_file; /* parsing a `rules: { file: }` file: it may not name another */
};

struct cg_cfg_field {
	const char *key;
	yaml_node_t *val; /* NULL when absent or null */
};

/* doc.c */
int cg_cfgbuf_append(struct cg_cfgbuf *b, const char *s, size_t n);
__attribute__((format(printf, 2, 3))) int cg_cfgbuf_printf(struct cg_cfgbuf *b, const char *fmt, ...);
void cg_cfgbuf_wipe(struct cg_cfgbuf *b);
void cg_cfg_secret_free(char *s);
void cg_cfg_strv_free(char **v, size_t n, int secret);
__attribute__((format(printf, 3, 4))) void cg_cfg_err_mark(struct cg_cfg *c, yaml_mark_t m, const char *fmt, ...);
__attribute__((format(printf, 3, 4))) void cg_cfg_err(struct cg_cfg *c, const yaml_node_t *n, const char *fmt, ...);
__attribute__((format(printf, 3, 4))) void cg_cfg_warn_mark(struct cg_cfg *c, yaml_mark_t m, const char *fmt, ...);
const char *cg_cfg_disp(const char *s, char *buf, size_t len);
const char *cg_cfg_kind_name(const yaml_node_t *n);
int cg_cfg_is_null(const yaml_node_t *n);
yaml_node_t *cg_cfg_node(struct cg_cfg *c, int id);
char *cg_cfg_scalar(struct cg_cfg *c, yaml_node_t *n, const char *label, const char *what, int secret);
int cg_cfg_secret_file(struct cg_cfg *c, yaml_node_t *n, const char *label, char **dst);
int cg_cfg_secret(struct cg_cfg *c, yaml_node_t *val, yaml_node_t *file, const char *label, const char *file_label,
		      char **dst);
void cg_cfg_syntax_error(struct cg_cfg *c, const yaml_parser_t *p, const char *text, size_t len);
/* walk.c */
int cg_cfg_fields(struct cg_cfg *c, yaml_node_t *n, const char *label, const char *where, struct cg_cfg_field *f, size_t nf);
/* values.c */
int cg_cfg_str(struct cg_cfg *c, yaml_node_t *n, const char *label, char **dst);
int cg_cfg_name(struct cg_cfg *c, yaml_node_t *n, const char *label, char **dst);
int cg_cfg_uint(struct cg_cfg *c, yaml_node_t *n, const char *label, uint64_t min, uint64_t max, uint64_t *out);
int cg_cfg_duration(struct cg_cfg *c, yaml_node_t *n, const char *label, uint64_t min, uint64_t max, uint64_t *out);
int cg_cfg_duration_u(struct cg_cfg *c, yaml_node_t *n, const char *label, uint64_t min, uint64_t max, unsigned *out);
int cg_cfg_size(struct cg_cfg *c, yaml_node_t *n, const char *label, uint64_t min, uint64_t max, uint64_t *out);
int cg_cfg_bool(struct cg_cfg *c, yaml_node_t *n, const char *label, int *out);
int cg_cfg_enum(struct cg_cfg *c, yaml_node_t *n, const char *label, const char *const *names, int *out);
int cg_cfg_tmpl_check(struct cg_cfg *c, yaml_node_t *n, const char *label, const char *s);
int cg_cfg_tmpl(struct cg_cfg *c, yaml_node_t *n, const char *label, char **dst);
int cg_cfg_strs(struct cg_cfg *c, yaml_node_t *n, const char *label, int kind, char ***out, size_t *nout);
char *cg_cfg_path_join(struct cg_cfg *c, const char *p);
int cg_cfg_path(struct cg_cfg *c, yaml_node_t *n, const char *label, char **dst);
int cg_cfg_listen(const char *s, char **host, int *port);
int cg_cfg_is_uuid(const char *s);
int cg_cfg_cidrs(struct cg_cfg *c, yaml_node_t *n, const char *label, struct cg_cidr **out, size_t *nout);
cJSON *cg_cfg_json(struct cg_cfg *c, yaml_node_t *n, const char *label);
/* auth.c */
void cg_cfg_parse_auth(struct cg_cfg *c, yaml_node_t *n, const char *sp, struct cg_auth_config *a);
void cg_cfg_verify_cleanup(struct cg_verify_config *v);
void cg_cfg_parse_verify(struct cg_cfg *c, yaml_node_t *n, const char *sp, struct cg_source_config *s);
/* sources.c */
void cg_cfg_parse_sources(struct cg_cfg *c, yaml_node_t *root, yaml_node_t *n, struct cg_config *cfg);
void cg_cfg_source_cleanup(struct cg_source_config *s);
/* actions.c */
void cg_cfg_parse_actions(struct cg_cfg *c, yaml_node_t *n, const char *sp, struct cg_source_config *s);
void cg_cfg_actions_cleanup(struct cg_actions_config *ac);
/* rules.c */
void cg_cfg_parse_mail_rules(struct cg_cfg *c, yaml_node_t *n, const char *sp, struct cg_source_config *s);
/* config.c */
void cg_cfg_parse_rate_limit(struct cg_cfg *c, yaml_node_t *n, const char *label, unsigned *rps, unsigned *burst);
void cg_cfg_parse_root(struct cg_cfg *c, yaml_node_t *root, struct cg_config *cfg);
struct cg_config *cg_cfg_config_new(void);

#endif
