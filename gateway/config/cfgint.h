/* cfgint.h: what the files of the config loader share (its state, diagnostics, typed values, the walker); no other part includes it. */
#ifndef CG_CFGINT_H
#define CG_CFGINT_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <yaml.h>

#include "config.h"
#include "keys.h"

/* Past this many errors the rest is noise (and a fuzzer could make the list huge). */
#define CG_CFG_MAX_ERRORS 50

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
	int inline_secret; /* a secret's text came from the file: bit 1 as written, bit 2 a ${VAR:-default} in use */
	yaml_mark_t inline_mark;
	int in_rules_file; /* parsing a `rules: { file: }` file: it may not name another */
	struct cg_config *cfg; /* what is being read (NULL in a rules file) */
	/* CG_CONFIG_ENV_LENIENT: an unset ${VAR} is left as written and listed in *unset instead
	 * of being an error. */
	int env_lenient;
	struct cg_cfg_unsets *unset;
};

/* The references a lenient load left as written (shared with a rules file's parse). */
struct cg_cfg_unsets {
	struct cg_config_unset *v;
	size_t n, cap;
};

/* Key slots of one mapping: a row's key, and a secret's KEY_file after it. */
#define CG_KEYMAP_MAX 64

/* The keys one mapping was given, matched against its tables (walk.c). */
struct cg_keymap {
	struct cg_cfg *c;
	const struct cg_keys *const *tables;
	yaml_node_t *node;                       /* the mapping; NULL: absent */
	yaml_node_t *at;                         /* the mapping that holds it */
	const char *label;                       /* the mapping as messages name it */
	size_t nslots;
	const struct cg_key *row[CG_KEYMAP_MAX]; /* the slot's row */
	unsigned char file[CG_KEYMAP_MAX];       /* the slot is a secret's KEY_file */
	yaml_node_t *val[CG_KEYMAP_MAX];         /* the value given; NULL: absent or null */
	unsigned char state[CG_KEYMAP_MAX];      /* a row's first slot: 0 not read yet, 1 read, 2 failed */
	int stop;                                /* a CG_KEY_F_STOP / _GATE row failed: read no further */
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
/* A file read whole (doc.c): at most max bytes, a regular file. */
struct cg_cfg_file {
	struct cg_cfgbuf b; /* NUL-terminated; wipe it with cg_cfgbuf_wipe (it may be a secret) */
	int world_readable;
};
/* 0; CG_E2BIG (not a regular file, or larger than max); CG_ENOMEM; CG_EIO with errno. */
int cg_cfg_read_file(const char *path, size_t max, struct cg_cfg_file *f);
/* One YAML document: a syntax error, emptiness (message `empty`) or a second document is reported.
 * The root (c->doc and c->seen set), or NULL; cg_cfg_doc_close wipes every scalar and frees. */
struct cg_cfg_doc {
	yaml_parser_t parser;
	yaml_document_t doc;
	int have_parser, have_doc;
};
yaml_node_t *cg_cfg_doc_open(struct cg_cfg *c, struct cg_cfg_doc *d, const char *text, size_t len, const char *empty);
void cg_cfg_doc_close(struct cg_cfg *c, struct cg_cfg_doc *d);
/* walk.c: match a mapping (0, or -1 when it is not one: reported), read its rows (-1: one failed) */
int cg_keys_match(struct cg_cfg *c, yaml_node_t *n, const struct cg_keys *const *tables, const char *label,
		  const char *where, struct cg_keymap *m);
void cg_keys_empty(struct cg_cfg *c, const struct cg_keys *const *tables, const char *label, struct cg_keymap *m);
int cg_keys_apply(struct cg_keymap *m, void *base, void *parent, const char *prefix);
int cg_keys_apply_one(struct cg_keymap *m, const char *key, void *base, void *parent, const char *prefix);
int cg_keys_walk(struct cg_cfg *c, yaml_node_t *n, yaml_node_t *at, const struct cg_keys *const *tables, void *base,
		 void *parent, const char *label, const char *where, const char *prefix);
int cg_keys_table(const struct cg_keyarg *a);
int cg_keys_tables(const struct cg_keyarg *a);
void cg_keys_defaults(struct cg_cfg *c, const struct cg_keys *const *tables, void *base);
void cg_keys_free(const struct cg_keys *const *tables, void *base);
/* values.c */
int cg_cfg_str(struct cg_cfg *c, yaml_node_t *n, const char *label, char **dst);
int cg_cfg_name(struct cg_cfg *c, yaml_node_t *n, const char *label, char **dst);
int cg_cfg_uint(struct cg_cfg *c, yaml_node_t *n, const char *label, uint64_t min, uint64_t max, uint64_t *out);
int cg_cfg_duration(struct cg_cfg *c, yaml_node_t *n, const char *label, uint64_t min, uint64_t max, uint64_t *out);
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
int cg_cfg_parse_uint(const char *s, uint64_t *out);
int cg_cfg_parse_duration(const char *s, uint64_t *ms);
int cg_cfg_parse_size(const char *s, uint64_t *out);
int cg_cfg_parse_bool(const char *s, int *out);
/* sources.c */
cg_key_parse_fn cg_cfg_sources;
cg_key_free_fn cg_cfg_sources_free;

#endif
