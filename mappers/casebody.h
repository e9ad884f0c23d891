/* casebody.h: the Case API's words (priorities, custom attribute types) and the request bodies casegate sends. */
#ifndef CG_CASEBODY_H
#define CG_CASEBODY_H

#include <cjson/cJSON.h>

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

/*
 * CaseCreateRequest: {"data":{"type":"case","attributes":{title, type_id, priority, description,
 * custom_attributes},"relationships":{"project":{"data":{"id","type":"project"}}}}}. custom (may be
 * NULL) is taken, also on failure. Caller frees with cJSON_Delete; NULL on ENOMEM.
 */
cJSON *cg_body_create(const char *project, const char *case_type, const char *title, const char *description,
		      int prio, cJSON *custom);
/* Request bodies for follow-ups (caller frees with cJSON_Delete); NULL on ENOMEM. */
cJSON *cg_body_comment(const char *text);           /* CaseCommentRequest, text truncated to CG_COMMENT_MAX */
/* CaseUpdateStatusRequest closing the case: {"status_name": name}, or the deprecated
 * {"status": "CLOSED"} when status_name is NULL or empty (valid for every case type). */
cJSON *cg_body_status(const char *status_name);
/* {"data":{"type":"case","attributes":{"status": S}}} for OPEN, IN_PROGRESS, CLOSED; otherwise S is a
 * custom status: {"status_name": S}. NULL for an empty S or without memory. */
cJSON *cg_body_set_status(const char *status);
/* The same for reopening: status_name, else the deprecated {"status": "OPEN"}. */
cJSON *cg_body_reopen(const char *status_name);
cJSON *cg_body_priority(int prio);                  /* CaseUpdatePriorityRequest */
cJSON *cg_body_attributes(const cJSON *attrs);      /* CaseUpdateAttributesRequest; attrs duplicated */

#endif
