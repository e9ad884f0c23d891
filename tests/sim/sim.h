/* sim.h: internals of casegate-sim, an in-memory stand-in for Datadog's Case Management API v2. */
#ifndef CG_SIM_H
#define CG_SIM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include <cjson/cJSON.h>

#include "http.h"

#define CG_SIM_DEFAULT_PROJECT_ID "d4bbe1af-f36e-42f1-87c1-493ca35c320e"
#define CG_SIM_DEFAULT_PROJECT_KEY "DEMO"

struct cg_sim_project {
	char id[40];
	char key[32];
	char name[128];
	unsigned long next_number; /* next case number: keys are "<key>-<n>" */
};

struct cg_sim_case {
	cJSON *data;     /* the JSON:API Case object exactly as answered */
	cJSON *comments; /* [{"comment","created_at"}] */
	cJSON *events;   /* ["create","comment","status:Closed",...] in order */
	uint64_t seq;    /* creation order, for sorting by created_at */
};

struct cg_sim_faults {
	double error_ratio;   /* answer 500/502/503 without processing */
	unsigned latency_ms;  /* delay every answer */
	double drop_ratio;    /* process, then close without answering */
	unsigned rate_limit;  /* requests per window; 0 = unlimited */
	unsigned rate_period; /* window length in seconds */
};

struct cg_sim_pending; /* an answer waiting for its latency timer */
struct cg_sim_extra;   /* sim_extra.c: watchers, insights, links, rules, views, windows, bulk */

struct cg_sim {
	uv_loop_t *loop;
	struct cg_http_server *srv;

	/* Keys: NULL means "any non-empty value". no_auth accepts requests without keys too. */
	char *api_key;
	char *app_key;
	int no_auth;

	struct cg_sim_project *projects;
	size_t nprojects, cap_projects;
	struct cg_sim_case *cases;
	size_t ncases, cap_cases;
	uint64_t next_seq;

	struct cg_sim_faults faults;
	uint64_t fault_rng; /* decides faults; separate from ids so faults stay reproducible */
	uint64_t id_rng;    /* generates UUIDs */

	uint64_t window_start_ms;
	unsigned window_count;

	FILE *request_log;

	/* stats */
	cJSON *by_operation;
	cJSON *by_status;
	unsigned long total, rejected_429, injected_5xx, dropped, auth_failed;

	struct cg_sim_pending *pending; /* doubly linked, for shutdown */
	int closing;
	struct cg_sim_extra *extra;
};

/* sim_model.c: cases and projects. */
int cg_sim_init(struct cg_sim *s, uv_loop_t *loop, uint64_t seed);
void cg_sim_cleanup(struct cg_sim *s);
/* Drops every case and resets per-project counters and stats; projects and faults stay. */
void cg_sim_reset(struct cg_sim *s);
int cg_sim_add_project(struct cg_sim *s, const char *key, const char *id, const char *name);
struct cg_sim_project *cg_sim_find_project(struct cg_sim *s, const char *id);
/* Finds a case by UUID or key. */
struct cg_sim_case *cg_sim_find_case(struct cg_sim *s, const char *id_or_key);
void cg_sim_uuid(struct cg_sim *s, char out[37]);
uint64_t cg_sim_rand(uint64_t *state);
double cg_sim_rand01(uint64_t *state);
void cg_sim_now_iso(char out[32]);

/*
 * Datadog operations. Each takes the parsed body (may be NULL) and returns an HTTP
 * status; on 2xx *out receives the answer document, otherwise err holds the message.
 */
struct cg_sim_call {
	struct cg_sim *sim;
	const char *case_id; /* path parameter, or NULL */
	const char *param2;  /* custom attribute key / project id, or NULL */
	const char *param3;  /* sim_extra.c: rule / view / window / link id, watcher UUID, or NULL */
	const struct cg_http_request *req; /* sim_extra.c: query parameters */
	const char *query_filter;
	long page_size, page_number;
	const char *sort_field;
	int sort_asc;
	const cJSON *body;
	cJSON *out;
	char err[256];
};

int cg_sim_op_create_case(struct cg_sim_call *c);
int cg_sim_op_search_cases(struct cg_sim_call *c);
int cg_sim_op_get_case(struct cg_sim_call *c);
int cg_sim_op_update_status(struct cg_sim_call *c);
int cg_sim_op_update_priority(struct cg_sim_call *c);
int cg_sim_op_update_title(struct cg_sim_call *c);
int cg_sim_op_update_description(struct cg_sim_call *c);
int cg_sim_op_assign(struct cg_sim_call *c);
int cg_sim_op_unassign(struct cg_sim_call *c);
int cg_sim_op_archive(struct cg_sim_call *c);
int cg_sim_op_unarchive(struct cg_sim_call *c);
int cg_sim_op_update_attributes(struct cg_sim_call *c);
int cg_sim_op_comment(struct cg_sim_call *c);
int cg_sim_op_update_custom_attribute(struct cg_sim_call *c);
int cg_sim_op_delete_custom_attribute(struct cg_sim_call *c);
int cg_sim_op_get_projects(struct cg_sim_call *c);
int cg_sim_op_get_project(struct cg_sim_call *c);
int cg_sim_op_create_project(struct cg_sim_call *c);

/* The /_sim/cases document. */
cJSON *cg_sim_dump_cases(struct cg_sim *s);

/* sim_extra.c: the endpoints beyond cases, comments and projects. */
struct cg_sim_route {
	const char *op;
	int (*fn)(struct cg_sim_call *c);
	int needs_body;
};
int cg_sim_extra_init(struct cg_sim *s);
void cg_sim_extra_cleanup(struct cg_sim *s);
/* Forgets per-case state (watchers, insights, due dates, links); configuration resources stay. */
void cg_sim_extra_reset(struct cg_sim *s);
/*
 * Routes the endpoints sim_extra.c serves. Returns 0 (found: *out set, c's parameters point into
 * s->extra until the next call), 404 (not one of them) or 405 (path known, method not).
 */
int cg_sim_extra_route(struct cg_sim *s, const struct cg_http_request *req, struct cg_sim_route *out,
		       struct cg_sim_call *c);
/* /_sim/extra (GET: state dump) and /_sim/bulk (POST {"refuse": bool}); 1 when handled. */
int cg_sim_extra_control(struct cg_sim *s, struct cg_http_request *req);

/* sim_api.c: request handling, faults, stats, request log. */
void cg_sim_handle(struct cg_http_request *req, void *ud);
/* Answers every request still waiting for its latency timer (shutdown). */
void cg_sim_flush_pending(struct cg_sim *s);

#endif
