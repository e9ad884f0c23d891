/* ddanswer.h: what casegate reads from Datadog's Case API answers (pure; tested against recorded answers). */
#ifndef CG_DDANSWER_H
#define CG_DDANSWER_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* What casegate needs to know of one case, as Datadog has it. */
struct cg_dd_case_view {
	char id[64];
	char key[64];          /* "PROJ-12"; "" when absent */
	char project_id[64];   /* "" when absent */
	int closed;            /* status CLOSED, or a status in the SG_CLOSED group */
	int archived;          /* archived_at set */
	int priority;          /* 1..5, 0 NOT_DEFINED, -1 absent or unknown */
	int64_t created_ms;    /* 0 when absent */
	int64_t closed_ms;     /* closed_at; 0 when absent */
};

/* One case object (a `data` item: {"id", "type":"case", "attributes":{...}}). 0 or CG_EINVAL
 * (no id). */
int cg_dd_case_view_parse(const cJSON *item, struct cg_dd_case_view *out);

/* A whole single-case answer ({"data":{...}}: create, get, status, priority, archive, ...).
 * 0, CG_EINVAL (not a case answer: no data.id) or CG_ENOMEM. */
int cg_dd_answer_case(const char *body, size_t len, struct cg_dd_case_view *out);

/*
 * Looks through a search answer ({"data":[cases...]}) for the case that carries marker: in its
 * description, or as the value of custom attribute attr_key (may be NULL). project_id (may be
 * NULL) keeps only cases of that project. Returns 1 and fills out when found, 0 when not, or
 * CG_EINVAL when body is not a search answer. *oldest_ms (may be NULL) gets the smallest
 * created_at among the listed cases (0 when none or unknown): a newest-first listing that
 * reached cases older than the create needs no further page.
 */
int cg_dd_answer_find_marker(const char *body, size_t len, const char *marker, const char *attr_key,
			     const char *project_id, struct cg_dd_case_view *out, int64_t *oldest_ms);

/* A custom attribute definition of a case type. */
enum cg_dd_ca_kind { CG_DD_CA_UNKNOWN = 0, CG_DD_CA_TEXT, CG_DD_CA_URL, CG_DD_CA_NUMBER, CG_DD_CA_SELECT };
struct cg_dd_ca_def {
	char key[128];
	enum cg_dd_ca_kind type;
	int is_multi;
};
/* Parses GET /api/v2/cases/types/{id}/custom_attributes: *out (malloc'd, NULL when none, caller
 * frees) and *n. 0, CG_EINVAL (not such an answer) or CG_ENOMEM. */
int cg_dd_answer_ca_defs(const char *body, size_t len, struct cg_dd_ca_def **out, size_t *n);
/* "TEXT" -> CG_DD_CA_TEXT, ...; CG_DD_CA_UNKNOWN otherwise. */
enum cg_dd_ca_kind cg_dd_ca_kind_parse(const char *s);
const char *cg_dd_ca_kind_name(enum cg_dd_ca_kind k);

/*
 * The human part of an error answer, for logs and dead letters: JSON:API errors
 * ({"errors":[{"status","title","detail"}]}: "title: detail", or the title alone) or the plain
 * form ({"errors":["text", ...]}), several joined with "; ". Anything else: the body's first bytes
 * with control characters replaced. Always NUL-terminates buf (buflen > 0).
 */
void cg_dd_answer_error(const char *body, size_t len, char *buf, size_t buflen);

/* "2026-01-24T00:47:45.477244496Z" (also with an offset, or without fraction) -> Unix ms; 0 when
 * it does not parse. */
int64_t cg_dd_parse_time(const char *s);

#endif
