/* tmpl.h: Mustache templates rendered over cJSON data (spec-conformant, plus a default-value extension). */
#ifndef CG_TMPL_H
#define CG_TMPL_H

#include <stddef.h>
#include <cjson/cJSON.h>

struct cg_tmpl;

enum cg_tmpl_flags {
	CG_TMPL_ESCAPE_HTML = 1, /* {{x}} HTML-escapes as the spec requires; off for case text (JSON, Markdown) */
};

/* Looks up a partial by name; returns its source (NUL-terminated) or NULL. */
typedef const char *(*cg_tmpl_partial_fn)(const char *name, void *ud);

/*
 * Compiles src (len bytes). Returns 0 and sets *out, or CG_EINVAL with a message
 * "line N: ..." in err (unclosed section, bad delimiters, ...), or CG_ENOMEM.
 */
int cg_tmpl_compile(const char *src, size_t len, struct cg_tmpl **out, char *err, size_t errlen);

/*
 * Renders t over ctx. On success *out is a malloc'd NUL-terminated string the caller
 * frees with free(). partials may be NULL. Returns 0, CG_ENOMEM, or CG_EINVAL (bad partial).
 */
int cg_tmpl_render(const struct cg_tmpl *t, const cJSON *ctx, int flags, cg_tmpl_partial_fn partials,
		   void *partials_ud, char **out);

/* Compile + render in one step (flags 0, no partials). */
int cg_tmpl_render_str(const char *src, const cJSON *ctx, char **out, char *err, size_t errlen);

/* 1 when src contains no tag at all (a plain string). */
int cg_tmpl_is_literal(const struct cg_tmpl *t);

void cg_tmpl_destroy(struct cg_tmpl *t);

#endif
