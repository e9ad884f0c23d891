/* caseattrs.h: a draft's custom attributes and attributes (labels), rendered from the source's templates. */
#ifndef CG_CASEATTRS_H
#define CG_CASEATTRS_H

#include <stddef.h>
#include <cjson/cJSON.h>

#include "casebody.h"
#include "event.h"
#include "sbuf.h"

/* A custom attribute: one template (is_multi = 0) or a list (is_multi = 1). */
struct cg_ca_spec {
	char *key;
	enum cg_ca_type type;
	int is_multi;
	char **values; /* templates */
	size_t nvalues;
};

/* A free-form case attribute (label): key -> list of templates; empty renders are dropped. */
struct cg_attr_spec {
	char *key;
	char **values;
	size_t nvalues;
};

struct cg_tmpl_var;
/*
 * Told about each {{name}} of a source's template while a draft is rendered; field names the
 * template as the config does ("title", "dedup_key", "attributes.env", "custom_attributes.x[1]").
 */
typedef void (*cg_field_var_fn)(const char *field, const struct cg_tmpl_var *v, void *ud);
struct cg_field_watch {
	cg_field_var_fn fn; /* NULL: nobody watches */
	void *ud;
};

/* The custom attribute and attribute templates of a source, compiled. */
struct cg_caseattrs;

/*
 * Compiles cas and attrs (copied). attrs_set: the config gave `attributes` (even none); when not,
 * cg_caseattrs_labels sends the event's labels. Returns 0, CG_EINVAL (err names the entry:
 * "custom_attributes.x: given twice", "attributes.y[0]: line 1: ...") or CG_ENOMEM.
 */
int cg_caseattrs_create(const struct cg_ca_spec *cas, size_t ncas, const struct cg_attr_spec *attrs, size_t nattrs,
			int attrs_set, struct cg_caseattrs **out, char *err, size_t errlen);
void cg_caseattrs_destroy(struct cg_caseattrs *a);

/*
 * The custom_attributes object of a CaseCreateRequest rendered over ctx (w, may be NULL, is told
 * about every {{name}}): {"key": {"type", "is_multi",
 * "value"}}, or NULL in *out when no value survived. A value that is not a number (NUMBER) or not an
 * http(s) URL (URL) is skipped with a line in notes. 0, CG_ENOMEM, or a template error.
 */
int cg_caseattrs_custom(const struct cg_caseattrs *a, const cJSON *ctx, const struct cg_field_watch *w, cJSON **out,
			struct cg_sbuf *notes);
/* The attributes {"key": ["v", ...]} for ev: the templates over ctx, or ev's labels when the config gave
 * none; NULL in *out when empty. 0, CG_ENOMEM, or a template error. */
int cg_caseattrs_labels(const struct cg_caseattrs *a, const struct cg_event *ev, const cJSON *ctx,
			const struct cg_field_watch *w, cJSON **out, struct cg_sbuf *notes);

#endif
