/* pagingapi.h: the PagerDuty Events API v2 and Opsgenie Alert API dialects: routes, the key that picks a source, the mappers' envelope and answers shaped like the real APIs'. */
#ifndef CG_PAGINGAPI_H
#define CG_PAGINGAPI_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "http.h"

enum cg_paging_api {
	CG_PAGING_NONE = 0,
	CG_PAGING_PD,        /* POST /v2/enqueue: an event (trigger, acknowledge, resolve) */
	CG_PAGING_PD_CHANGE, /* POST /v2/change/enqueue: a change event (answered, makes no case) */
	CG_PAGING_OG,        /* /v2/alerts[/{identifier}/{action}] */
};

/* A request under /v2/ (or /hooks/<source>/v2/): which API, and for Opsgenie which action. */
struct cg_paging_route {
	enum cg_paging_api api;
	const char *source;  /* /hooks/<source>/v2/...: a slice of the path (source_len bytes); NULL for /v2/... */
	size_t source_len;
	const char *action;  /* Opsgenie: "create", "close", "acknowledge", "note", "message", ... (static) */
	char identifier[512]; /* Opsgenie: the path's {identifier}, percent-decoded */
	char id_type[8];     /* Opsgenie: identifierType "id" (the default), "alias" or "tiny" */
	int status;          /* not 0: the route is refused with this status (404, 405) and why */
	char why[160];
};

/*
 * Recognises the dialects' paths: 1 with r filled (r->status set when the path is under /v2/ but
 * is no route or the method does not fit it), 0 when path is none of them.
 */
int cg_paging_route(const char *method, const char *path, const struct cg_http_request *req,
		    struct cg_paging_route *r);

/* The dialect a source speaks (its type): CG_PAGING_PD for pagerduty_events, CG_PAGING_OG for
 * opsgenie_alerts, CG_PAGING_NONE for the others. */
enum cg_paging_api cg_paging_source_api(const struct cg_source_config *src);

/*
 * The source a key selects among the sources speaking api (PD and PD_CHANGE: routing_key;
 * OG: genie_key). Every candidate is compared in constant time (no early exit). With a named
 * route only that source may match. NULL when none does; *idx is its index in cfg->sources.
 */
const struct cg_source_config *cg_paging_source_for_key(const struct cg_config *cfg, enum cg_paging_api api,
							 const char *name, size_t name_len, const char *key,
							 size_t key_len, size_t *idx);

/* What is wrong with the shape of a PagerDuty routing key (32 ASCII letters and digits): 0 when
 * nothing, else CG_PAGING_KEY_LENGTH and/or CG_PAGING_KEY_CHARS. */
#define CG_PAGING_KEY_LENGTH 1
#define CG_PAGING_KEY_CHARS 2
int cg_paging_key_shape_pd(const char *k);
/* 0 when k has an Opsgenie API key's shape (a UUID: 8-4-4-4-12 hex digits), else -1. */
int cg_paging_key_shape_og(const char *k);

/* The GenieKey of an `Authorization: GenieKey <key>` header: a pointer into h and its length
 * (trailing blanks cut), or NULL. */
const char *cg_paging_genie_key(const char *h, size_t *len);

/*
 * What the source's mapper reads. PagerDuty: the body without routing_key (the secret is never
 * stored). Opsgenie: {"action", "identifier", "identifierType", "request": body} (body may be
 * NULL: an empty object). Takes body (it is moved into the envelope or returned); NULL without
 * memory.
 */
cJSON *cg_paging_envelope(const struct cg_paging_route *r, cJSON *body);

/* Opsgenie's answer (422) to a GenieKey of the wrong shape, or none. */
#define CG_PAGING_OG_BAD_KEY "Key format is not valid!"

/* Answers in the dialect: set as req->reshape for every request of that API (http.h). */
void cg_paging_reshape_pd(const struct cg_http_request *req, int *status, const char *body, size_t len, char **out,
			  size_t *outlen);
void cg_paging_reshape_og(const struct cg_http_request *req, int *status, const char *body, size_t len, char **out,
			  size_t *outlen);

#endif
