/* builder.h: a normalised event plus a source's case spec become a case draft (the create body, attributes, comment text). */
#ifndef CG_BUILDER_H
#define CG_BUILDER_H

#include <stddef.h>
#include <cjson/cJSON.h>

#include "caseattrs.h" /* struct cg_ca_spec, struct cg_attr_spec */
#include "casebody.h"  /* limits, priorities, custom attribute types, request bodies: callers got them here */
#include "event.h"
#include "text.h" /* cg_utf8_truncate, cg_utf8_sanitize, cg_sha256_hex: callers got them here */

struct cg_prio_entry {
	char *word; /* compared case-insensitively with the rendered `from` */
	int prio;
};

/*
 * A source's case settings as the config gives them; strings are templates unless
 * noted. NULL templates fall back to the mapper's defaults. The builder copies what it
 * needs: the spec may be freed after cg_builder_create().
 */
struct cg_case_spec {
	const char *source_name; /* literal; namespaces the dedup key */
	const char *project;     /* literal project UUID */
	const char *case_type;   /* literal case type UUID */
	const char *title;
	const char *description;
	const char *dedup_key;
	const char *priority_from;   /* default "{{severity}}" */
	const struct cg_prio_entry *prio_map; /* NULL: the mapper's default_priority_map */
	size_t nprio;
	int prio_default;            /* used when nothing matches; 0 = NOT_DEFINED */
	int prio_default_set;        /* 0: use 0 */
	const struct cg_ca_spec *cas;
	size_t ncas;
	const struct cg_attr_spec *attrs; /* NULL and nattrs 0: labels are sent as attributes as-is */
	size_t nattrs;
	int attrs_set;               /* 1 when the config gave `attributes` (even empty) */
	const char *default_priority_map; /* the mapper's "word=P1,..." (from struct cg_mapper) */
};

struct cg_builder;

int cg_builder_create(const struct cg_case_spec *spec, struct cg_builder **out, char *err, size_t errlen);
void cg_builder_destroy(struct cg_builder *b);

/* What one event turns into. Everything owned by the draft. */
struct cg_case_draft {
	char *dedup_key;     /* "<source>:<key>", SHA-256 hex of that when longer than CG_DEDUP_KEY_MAX */
	enum cg_alert_status status;
	int priority;        /* 0..5 */
	char *severity;      /* copied from the event, may be NULL */
	char *title;         /* rendered, truncated */
	char *summary;       /* Markdown lines for comments about this occurrence */
	cJSON *create;       /* CaseCreateRequest body: {"data":{"type":"case","attributes":{...},"relationships":{...}}} */
	cJSON *attributes;   /* {"key":["v",...]} for POST /cases/{id}/attributes, or NULL when none */
	char *notes;         /* what the builder dropped and why ("custom attribute ...: skipped"), one per
				line, for the caller to log; NULL when nothing was dropped. Also in summary. */
};

/*
 * Builds the draft for ev. Returns 0, CG_EINVAL (err says why: e.g. "source 'demo': dedup_key
 * \"{{labels.x}}\" rendered empty ..."), or CG_ENOMEM. Out is written only on success.
 */
int cg_builder_build(const struct cg_builder *b, const struct cg_event *ev, struct cg_case_draft *out, char *err,
		     size_t errlen);
/*
 * cg_builder_build, telling w (may be NULL) about every {{name}} the source's own templates
 * render (title, description, dedup_key, priority.from when configured, attributes,
 * custom_attributes): `casegate map` warns about the ones the payload lacks.
 *
 * A dedup key must identify the alert: it is refused (CG_EINVAL, err names the source, the
 * template, what it rendered and the names the payload lacked) when it is empty after trimming,
 * or when the template's {{name}} tags inserted nothing but blanks (a fallback's text counts):
 * "{{a}}/{{b}}" over a payload without a and b renders "/" and is refused. A template without
 * any tag is a constant the operator chose and is kept; the mapper's own key (no template) is
 * refused only when empty.
 */
int cg_builder_build_watch(const struct cg_builder *b, const struct cg_event *ev, const struct cg_field_watch *w,
			   struct cg_case_draft *out, char *err, size_t errlen);
void cg_case_draft_cleanup(struct cg_case_draft *d);

#endif
