/* tmpl_int.h: what the Mustache compiler (tmpl.c) and renderer (tmpl_render.c) share: the compiled form and the limits. */
#ifndef CG_TMPL_INT_H
#define CG_TMPL_INT_H

#include <stddef.h>

#include "tmpl.h"

/* Limits keep hostile templates and data from exhausting stack, memory or CPU. */
#define MAX_NESTING 100            /* sections open at once inside one template */
#define MAX_PARTIAL_DEPTH 32       /* partials included inside partials */
#define MAX_RENDER_DEPTH 256       /* sections + partials nested at render time */
#define MAX_OUTPUT (1024u * 1024u) /* bytes of rendered output */
#define MAX_STEPS (1u << 22)       /* nodes visited per render: bounds loops that print nothing */
#define MAX_DELIM 16               /* bytes in a custom delimiter */

enum kind {
	N_TEXT,
	N_VAR,      /* {{x}} {{{x}}} {{&x}} */
	N_SECTION,  /* {{#x}} ... {{/x}} */
	N_INVERTED, /* {{^x}} ... {{/x}} */
	N_PARTIAL,  /* {{>x}} */
};

/* Slices point into cg_tmpl.src, so nodes never own memory. */
struct node {
	enum kind kind;
	int escape;       /* N_VAR: {{x}} (escaped as flags say) vs {{{x}}}/{{&x}} (never) */
	int has_fallback; /* N_VAR: {{x|fallback}} */
	size_t off, len;  /* N_TEXT: text; otherwise the tag name */
	size_t fb_off, fb_len;
	size_t ind_off, ind_len; /* N_PARTIAL: indentation of a standalone partial tag */
	size_t end;              /* N_SECTION/N_INVERTED: index of the first node after the body */
	size_t tag;              /* N_SECTION/N_INVERTED: offset of the open tag (for errors) */
};

struct cg_tmpl {
	char *src;
	size_t src_len;
	struct node *nodes;
	size_t n, cap;
	size_t ntags;
};

/* Compiles src as a partial standing alone on its line: every line after the first starts with
 * indent (the Mustache spec's standalone partial indentation); indent NULL: none. */
int cg_tmpl_compile_indented(const char *src, size_t len, const char *indent, size_t ind_len, struct cg_tmpl **out,
			     char *err, size_t errlen);

#endif
