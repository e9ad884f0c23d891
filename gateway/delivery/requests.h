/* requests.h: every Case API request the daemon sends, in one table: method, path, body, optional or
 * not, rate-limit class, create or not; and the one function that builds a request from a row. */
#ifndef CG_REQUESTS_H
#define CG_REQUESTS_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "catypes.h"
#include "config.h"
#include "lifecycle.h"
#include "payload.h"
#include "projects.h"
#include "ratelimit.h"
#include "store.h"

/* One per request casegate's daemon sends (one row each in requests.c). */
enum cg_req_kind {
	CG_REQ_NONE = 0,
	/* The lifecycle steps (enum cg_step). */
	CG_REQ_CREATE,
	CG_REQ_ATTRIBUTES,
	CG_REQ_COMMENT,
	CG_REQ_CLOSE,
	CG_REQ_OPEN,
	CG_REQ_PRIORITY,
	CG_REQ_ASSIGN,
	CG_REQ_WATCH,
	CG_REQ_INSIGHTS,
	CG_REQ_LINK,
	CG_REQ_DUE_DATE,
	CG_REQ_JIRA,
	CG_REQ_SERVICENOW,
	CG_REQ_NOTEBOOK,
	CG_REQ_ARCHIVE,
	CG_REQ_ACK_STATUS,
	/* The rest of an event's requests. */
	CG_REQ_BULK_PRIORITY, /* one priority change for several cases (actions.bulk) */
	CG_REQ_GET_CASE,      /* read a case back before acting on an old record */
	CG_REQ_SEARCH_MARKER, /* reconciliation: the create's marker as a search term */
	CG_REQ_SEARCH_ATTR,   /* ... as the value of the marker's custom attribute */
	CG_REQ_SEARCH_NEWEST, /* ... the newest cases, whatever the index makes of the marker */
	/* The engine's own reads. */
	CG_REQ_PROJECTS,      /* project keys -> UUIDs */
	CG_REQ_CASE_TYPE_ATTRS, /* the custom attributes a case type defines */
	CG_REQ_PROBE,         /* while the circuit is open: does the API answer, do the keys work */
	CG_REQ_MAX_
};

/*
 * What a request is built from: plain records. A row reads only what it needs; the others may
 * stay zero.
 */
struct cg_req_ctx {
	const struct cg_store_case *cs;      /* the case; {case_id} is its id, else its key */
	const struct cg_payload *pl;         /* the event's payload */
	const char *dedup_key;
	enum cg_action action;               /* what the event does ... */
	const enum cg_step *steps;           /* ... in which steps; steps[index] is this request's */
	int index;
	int prio_before, prio;               /* the case's priority before the event; the event's */
	const char *severity;                /* the event's, for comments (may be NULL) */
	int64_t now;                         /* when the event started (wall ms): due dates */
	const struct cg_source_config *src;  /* the source as configured now; NULL when it is gone */
	const struct cg_source_config *life; /* its lifecycle settings as the event started (status names) */
	/* CG_REQ_CREATE */
	int strip;                           /* optional parts dropped after refusals (0..2) */
	const struct cg_catype *catype;      /* the source's case type as Datadog defines it (NULL: unknown) */
	const char *marker_attr;             /* datadog.marker_attribute (NULL: none); also the search's */
	const struct cg_projects *projects;  /* project keys -> UUIDs */
	/* CG_REQ_BULK_PRIORITY */
	const char *const *case_ids;
	size_t ncase_ids;
	/* CG_REQ_CASE_TYPE_ATTRS */
	const char *case_type;
};

struct cg_req_in;
/* A row's body: a new cJSON (the builder owns it until it prints it), NULL on failure. */
typedef cJSON *(*cg_req_body_fn)(struct cg_req_in *in);

struct cg_req_row {
	const char *name;    /* label in metrics and logs: the step's name, "search", "refresh", ... */
	enum cg_step step;   /* the lifecycle step the request carries out; 0 for the others */
	const char *method;
	/* Datadog's path; {case_id} and {user_uuid} are filled in as they are (ids Datadog and the
	 * config gave), {case_type_id}, {marker} and {marker_attribute} percent-encoded. */
	const char *path;
	cg_req_body_fn body; /* NULL: the request has no body */
	int optional;        /* a 4xx answer skips the step instead of dead-lettering the event */
	enum cg_rl_class rl; /* the rate-limit class it is counted in (ratelimit.h) */
	int create;          /* it creates a case: never replayed on a reused connection */
};

/* The row of request k (NULL for CG_REQ_NONE or out of range). */
const struct cg_req_row *cg_req_row(enum cg_req_kind k);

/* The request that carries out step s (CG_REQ_NONE when none). */
enum cg_req_kind cg_req_of_step(enum cg_step s);

/* One request, ready to send. */
struct cg_request {
	const struct cg_req_row *row;
	char *path;       /* expanded path (and query); malloc'd */
	char *body;       /* JSON text (malloc'd), NULL when the row has no body */
	size_t body_len;
	int dropped;      /* create: custom attributes the case type does not define were left out */
};

/*
 * Builds request k from ctx into *out (free it with cg_request_cleanup). Returns 0, 1 when the
 * step has nothing to do (an action step the lifecycle skips: cg_actions_args), CG_ENOMEM, or
 * for a create CG_EAGAIN / CG_ENOENT (its project key is not resolved / not known).
 */
int cg_req_build(enum cg_req_kind k, const struct cg_req_ctx *ctx, struct cg_request *out);
void cg_request_cleanup(struct cg_request *r);

/* The idempotency marker of (dedup_key, generation): "cg" + 32 hex characters, one search token. */
void cg_req_marker(const char *dedup_key, int generation, char marker[40]);

/*
 * The CaseCreateRequest as sent: the drafted body with the marker (and the previous case's key,
 * when there is one) appended to the description; marker receives it. A new cJSON or NULL on
 * ENOMEM. (cg_engine_create_body.)
 */
cJSON *cg_req_create_body(const cJSON *draft_create, const char *dedup_key, int generation,
			  const char *prev_case_key, char marker[40]);

/*
 * After Datadog refused a create as invalid: the next strip level above strip that still removes
 * something from draft (1: the custom attributes, 2: assignee and status), or 0 when nothing is
 * left to drop. CG_ENOMEM on allocation failure.
 */
int cg_req_create_strip_next(const cJSON *draft, int strip);

#endif
