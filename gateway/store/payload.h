/* payload.h: the one codec of a stored event's payload: what delivery needs of an accepted alert. */
#ifndef CG_PAYLOAD_H
#define CG_PAYLOAD_H

#include <cjson/cJSON.h>

/*
 * What an event carries to the engine. Written once at intake (cg_payload_encode), read by the
 * engine (cg_payload_decode); nothing else looks inside the stored text. Every field is
 * optional: a note carries a summary only, an archive event the case it archives, a sync event
 * nothing.
 */
struct cg_payload_in {
	const char *title;          /* the case title as drafted */
	const char *summary;        /* this occurrence in a line or a few (comments) */
	const cJSON *create;        /* the drafted CaseCreateRequest (referenced, not copied) */
	const cJSON *attributes;    /* labels to set after creation */
	const cJSON *insights;      /* rendered insights for the case */
	const char *case_id;        /* archive events: the closed case the sweep saw */
	int comment_only;           /* a note (mail reply): the summary is the whole comment */
	int acknowledged;           /* a note that acknowledges the alert (actions.acknowledge_status) */
};

/* The JSON text to store (malloc'd, caller frees with free()), or NULL on ENOMEM. */
char *cg_payload_encode(const struct cg_payload_in *in);

struct cg_payload {
	cJSON *doc;                 /* owns everything below */
	const char *title, *summary; /* "" when absent */
	const cJSON *create, *attributes, *insights; /* NULL when absent */
	const char *case_id;        /* NULL when absent */
	int comment_only;
	int acknowledged;
};

/* Reads a stored payload. 0, or CG_EINVAL when text is not a payload (not a JSON object). */
int cg_payload_decode(const char *text, struct cg_payload *out);
void cg_payload_cleanup(struct cg_payload *p);

/* 1 when the event carries labels to set after creation / insights to add. */
int cg_payload_has_attributes(const struct cg_payload *p);
int cg_payload_has_insights(const struct cg_payload *p);
/* The project the create names (a UUID or a project key), or NULL. */
const char *cg_payload_project(const struct cg_payload *p);

#endif
