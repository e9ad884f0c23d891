/* catypes.h: the custom attributes each case type defines in Datadog, held against the sources' config
 * and applied to create requests (what a type does not define never costs the case). */
#ifndef CG_CATYPES_H
#define CG_CATYPES_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "ddanswer.h"

/* One case type as Datadog answered GET /api/v2/cases/types/{id}/custom_attributes. */
struct cg_catype {
	char id[64];
	int known;                 /* 1: defs is what Datadog has; 0: not (yet) known: send as configured */
	struct cg_dd_ca_def *defs;
	size_t n;
};

struct cg_catypes {
	struct cg_catype *v;
	size_t n;
};

void cg_catypes_cleanup(struct cg_catypes *t);

/* The entry of type id (NULL when absent); with create = 1 it is added (unknown). */
struct cg_catype *cg_catypes_get(struct cg_catypes *t, const char *id, int create);

/* Replaces the definitions of t from a listing answer. 0, CG_EINVAL (not such an answer), CG_ENOMEM. */
int cg_catype_set(struct cg_catype *t, const char *body, size_t len);

/*
 * Why a configured custom attribute would be refused by known type t ("not defined on case type
 * X", "defined as NUMBER, configured as TEXT", "defined with is_multi: true, configured false"),
 * written to buf; NULL when t accepts it or is not known.
 */
const char *cg_catype_mismatch(const struct cg_catype *t, const struct cg_ca_spec *spec, char *buf, size_t len);

/* 1 when known type t defines key as a single TEXT attribute (the marker can go there). */
int cg_catype_has_text(const struct cg_catype *t, const char *key);

/*
 * One line per configured custom attribute that a known case type would refuse, as
 * "source 'NAME': custom attributes.KEY: WHY: its values go into the description", appended to
 * *out (malloc'd, "\n"-separated; may stay NULL). Returns the number of lines.
 */
size_t cg_catypes_report(const struct cg_config *cfg, const struct cg_catypes *t, char **out);

/*
 * Create-request surgery (body: a CaseCreateRequest). Each moves what it removes into the
 * description under a short heading, as text, so nothing the alert said is lost:
 * - cg_create_drop_refused: the custom attributes known type t does not define as sent;
 * - cg_create_drop_custom: every custom attribute (Datadog refused the create);
 * - cg_create_drop_optional: assignee and status_name.
 * Each returns how many parts it removed (0: nothing to remove), or CG_ENOMEM.
 */
int cg_create_drop_refused(cJSON *body, const struct cg_catype *t);
int cg_create_drop_custom(cJSON *body);
int cg_create_drop_optional(cJSON *body);

/* Puts marker into custom attribute key (TEXT, single value). 0 or CG_ENOMEM. */
int cg_create_set_marker_attr(cJSON *body, const char *key, const char *marker);

#endif
