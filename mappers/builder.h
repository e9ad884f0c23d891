/* builder.h: turns a normalised event plus a source's case spec into Datadog Case API bodies. */
#ifndef CG_BUILDER_H
#define CG_BUILDER_H

#include <stddef.h>
#include <cjson/cJSON.h>

#include "event.h"
#include "text.h" /* cg_utf8_truncate, cg_utf8_sanitize, cg_sha256_hex: callers got them here */

/* The Case API documents no length limits; these are casegate's, applied at UTF-8 boundaries. */
#define CG_TITLE_MAX 250
#define CG_DESCRIPTION_MAX 32768
#define CG_COMMENT_MAX 16384
#define CG_DEDUP_KEY_MAX 200 /* longer keys are replaced by their SHA-256 hex */
#define CG_SUMMARY_MAX 2048     /* the per-occurrence comment text in a draft */
#define CG_VALUE_MAX 1024       /* one custom-attribute string or attribute (label) value */
#define CG_MULTI_MAX 100        /* values kept per multi custom attribute or attribute key */
#define CG_SOURCE_NAME_MAX 120  /* so that "<source>:sha256:<64 hex>" fits CG_DEDUP_KEY_MAX */

/* Priorities: 0 = NOT_DEFINED, 1..5 = P1..P5 (1 is the most urgent). */
const char *cg_priority_name(int prio);
/* Parses "P1".."P5", "NOT_DEFINED" (case-insensitive, also "1".."5"); 0 or CG_EINVAL. */
int cg_priority_parse(const char *s, int *out);

enum cg_ca_type { CG_CA_TEXT = 0, CG_CA_URL, CG_CA_NUMBER, CG_CA_SELECT };
const char *cg_ca_type_name(enum cg_ca_type t);
int cg_ca_type_parse(const char *s, enum cg_ca_type *out);

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
 * Builds the draft for ev. Returns 0, CG_EINVAL (err says why: e.g. "dedup_key rendered
 * empty"), or CG_ENOMEM. Out is written only on success.
 */
int cg_builder_build(const struct cg_builder *b, const struct cg_event *ev, struct cg_case_draft *out, char *err,
		     size_t errlen);
void cg_case_draft_cleanup(struct cg_case_draft *d);

/* Request bodies for follow-ups (caller frees with cJSON_Delete); NULL on ENOMEM. */
cJSON *cg_body_comment(const char *text);           /* CaseCommentRequest, text truncated to CG_COMMENT_MAX */
/* CaseUpdateStatusRequest closing the case: {"status_name": name}, or the deprecated
 * {"status": "CLOSED"} when status_name is NULL or empty (valid for every case type). */
cJSON *cg_body_status(const char *status_name);
/* The same for reopening: status_name, else the deprecated {"status": "OPEN"}. */
cJSON *cg_body_reopen(const char *status_name);
cJSON *cg_body_priority(int prio);                  /* CaseUpdatePriorityRequest */
cJSON *cg_body_attributes(const cJSON *attrs);      /* CaseUpdateAttributesRequest; attrs duplicated */

#endif
