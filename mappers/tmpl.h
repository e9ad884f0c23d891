/* tmpl.h: Mustache templates rendered over cJSON data (spec-conformant, plus a default-value extension). */
#ifndef CG_TMPL_H
#define CG_TMPL_H

#include <stddef.h>
#include <cjson/cJSON.h>

struct cg_tmpl;

/*
 * What {{x}} does to a value (flags & CG_TMPL_ESCAPE_MASK); {{{x}}}, {{&x}} and the text of the
 * template itself are never touched. The non-HTML modes are mdsafe.h's: a sender's value cannot
 * mention anyone, link anywhere or hide characters, while what the operator wrote stays as written.
 */
enum cg_tmpl_flags {
	CG_TMPL_ESCAPE_HTML = 1,     /* HTML-escaped, as the Mustache spec requires */
	CG_TMPL_ESCAPE_MARKDOWN = 2, /* CG_MD_TEXT: case description and comment text */
	CG_TMPL_ESCAPE_PLAIN = 3,    /* CG_MD_PLAIN: the title, attribute and custom attribute values */
	CG_TMPL_ESCAPE_URL = 4,      /* CG_MD_URL: URL custom attribute values */
	CG_TMPL_ESCAPE_MASK = 7,     /* 0: {{x}} inserts the value as is (dedup keys, priorities) */
};

/* Looks up a partial by name; returns its source (NUL-terminated) or NULL. */
typedef const char *(*cg_tmpl_partial_fn)(const char *name, void *ud);

/*
 * Compiles src (len bytes). Returns 0 and sets *out, or CG_EINVAL with a message
 * "line L, col C: what" in err (L and C 1-based, C in characters), or CG_ENOMEM. Refused: a tag
 * not closed before the end or before the next opening delimiter ("{{a} on {{b}}"), a brace in
 * a tag name, an empty name, an unclosed section, a close tag that matches no open one, a bad
 * delimiter change.
 */
int cg_tmpl_compile(const char *src, size_t len, struct cg_tmpl **out, char *err, size_t errlen);

/*
 * Renders t over ctx. On success *out is a malloc'd NUL-terminated string the caller
 * frees with free(). partials may be NULL. Returns 0, CG_ENOMEM, or CG_EINVAL (bad partial).
 */
int cg_tmpl_render(const struct cg_tmpl *t, const cJSON *ctx, int flags, cg_tmpl_partial_fn partials,
		   void *partials_ud, char **out);

/*
 * One {{name}} a render met (cg_tmpl_opts.on_var), so a caller can tell what the payload lacked
 * without the renderer deciding what is worth a warning. Everything points into the template or
 * the output being built: valid only during the call.
 */
struct cg_tmpl_var {
	const char *name; /* as written, trimmed, without the fallback: "labels.alertname" */
	size_t name_len;
	int found;        /* the name resolved to a value other than null */
	int fallback;     /* {{name|fallback}} inserted its fallback */
	const char *text; /* the bytes the tag added to the output (escaped as flags say) */
	size_t text_len;
};
typedef void (*cg_tmpl_var_fn)(const struct cg_tmpl_var *v, void *ud);

struct cg_tmpl_opts {
	int flags;
	cg_tmpl_partial_fn partials; /* may be NULL */
	void *partials_ud;
	/*
	 * A value that is Markdown casegate made itself, its sender parts neutralised already (the
	 * mapper's description in ctx): with CG_TMPL_ESCAPE_MARKDOWN, {{x}} naming this very item
	 * keeps its Markdown and only gets CG_MD_MINIMAL (no double escaping). NULL: none.
	 */
	const cJSON *markdown;
	cg_tmpl_var_fn on_var; /* told about every {{name}} rendered, in output order; NULL: nobody */
	void *on_var_ud;
};

/* cg_tmpl_render with options (opts NULL: flags 0, no partials). */
int cg_tmpl_render_opts(const struct cg_tmpl *t, const cJSON *ctx, const struct cg_tmpl_opts *opts, char **out);

/* Compile + render in one step (flags 0, no partials). */
int cg_tmpl_render_str(const char *src, const cJSON *ctx, char **out, char *err, size_t errlen);

/* 1 when src contains no tag at all (a plain string). */
int cg_tmpl_is_literal(const struct cg_tmpl *t);

void cg_tmpl_destroy(struct cg_tmpl *t);

/* Compiles the NUL-terminated src; on a template error err reads "<what>: line L, col C: ...". */
int cg_tmpl_compile_named(const char *what, const char *src, struct cg_tmpl **out, char *err, size_t errlen);
/*
 * Renders t over ctx into a malloc'd string made valid UTF-8 (cg_utf8_sanitize): opts->flags says how
 * {{x}} neutralises a sender's value for where the text goes (CG_TMPL_ESCAPE_*); opts may be NULL.
 * 0, CG_ENOMEM or CG_EINVAL.
 */
int cg_tmpl_render_utf8(const struct cg_tmpl *t, const cJSON *ctx, const struct cg_tmpl_opts *opts, char **out);

#endif
