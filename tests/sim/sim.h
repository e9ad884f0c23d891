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
	cJSON *data;         /* the JSON:API Case object exactly as answered */
	cJSON *comments;     /* [{"comment","created_at"}] */
	cJSON *events;       /* ["create","comment","status:Closed",...] in order */
	uint64_t seq;        /* creation order, for sorting by created_at */
	uint64_t created_ms; /* cg_sim_mono_ms() at creation: the search index sees it search_lag_ms later */
	int deleted;         /* removed by a person (/_sim/cases/{id}/delete): the API no longer finds it */
};

enum cg_sim_outage {
	CG_SIM_OUTAGE_NONE,
	CG_SIM_OUTAGE_503,    /* every API request answered 503 (+ Retry-After) */
	CG_SIM_OUTAGE_RESET,  /* the connection is closed as soon as a request arrives */
	CG_SIM_OUTAGE_REFUSE, /* the listening socket is closed: connections are refused */
};

/* Which requests a rate-limit bucket counts: GET, every other method, or all. */
enum cg_sim_match { CG_SIM_MATCH_ALL, CG_SIM_MATCH_READ, CG_SIM_MATCH_WRITE };

#define CG_SIM_MAX_BUCKETS 8
#define CG_SIM_LEGACY_BUCKET "cases" /* what --rate-limit / faults rate_limit configure */

/*
 * A named rate limit. Windows are calendar-aligned like Datadog's: window number =
 * floor(unix_ms / (period * 1000)), so every client sees the same edges.
 */
struct cg_sim_bucket {
	char name[48];
	unsigned limit, period;
	enum cg_sim_match match;
	uint64_t window;  /* the window count and win_429 belong to */
	unsigned count;   /* requests let through in that window */
	unsigned win_429; /* 429s given in that window */
	uint64_t spent_window; /* a window that begins already spent (rate_spent); 0 none */
	uint64_t told_window;  /* the window a 429 was last sent for, and when (wall ms): a 429 */
	uint64_t told_ms;      /* later in that window is a request sent in spite of it (late_429) */
};

struct cg_sim_faults {
	double error_ratio;   /* answer 500/502/503 without processing */
	unsigned latency_ms;  /* delay every answer */
	double drop_ratio;    /* process, then close without answering */
	unsigned rate_period; /* period of the legacy bucket, kept while rate_limit is 0 */
	struct cg_sim_bucket buckets[CG_SIM_MAX_BUCKETS];
	size_t nbuckets;
	double header_drop_ratio; /* 2xx answers sent without any X-RateLimit-* header */
	unsigned search_lag_ms;   /* SearchCases sees a case this long after its creation */
	int search_archived;      /* SearchCases returns archived cases too */
	int search_text;          /* free text: 0 substring, 1 whole tokens only, 2 never matches */
	int plain_errors;         /* {"errors":["msg"]} instead of JSON:API error objects */
	int strict_case_types;    /* a case of a type the sim does not know is refused */
	int auth_fail;            /* 0, or 401 / 403 for every API request (revoked keys) */
	enum cg_sim_outage outage;
	unsigned retry_after_s; /* Retry-After of outage 503 answers; 0 = none */
	unsigned outage_ms;     /* an outage ends by itself after this long; 0 = when changed */
};

struct cg_sim_pending; /* an answer waiting for its latency timer */
struct cg_sim_extra;   /* sim_extra.c: watchers, insights, links, rules, views, windows, bulk */

struct cg_sim {
	uv_loop_t *loop;
	struct cg_http_server *srv;  /* the API (and /_sim) listener; NULL while connections are refused */
	struct cg_http_server *ctl;  /* --control-listen: /_sim only, reachable during any outage */
	char host[64];
	int port; /* the port actually bound, so a refuse outage can re-open the same one */
	uv_timer_t outage_timer; /* ends a timed outage; retries re-opening the listener */
	int timer_live;
	int reopen_retry; /* the timer retries re-opening (the port was briefly taken) */

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

	/* Case types (CaseTypeResource, deleted ones keep attributes.deleted_at) and their
	 * custom-attribute configurations (CustomAttributeConfig); sim_types.c. */
	cJSON *case_types;
	cJSON *ca_configs;

	FILE *request_log;

	/* stats */
	cJSON *by_operation;
	cJSON *by_status;
	cJSON *bucket_stats; /* name -> {"requests","rejected_429","max_429_per_window"} */
	unsigned long total, rejected_429, injected_5xx, dropped, auth_failed, outage_requests;

	struct cg_sim_pending *pending; /* doubly linked, for shutdown */
	int closing;
	struct cg_sim_extra *extra;

	/* --state FILE (sim_state.c): the model survives a restart. */
	char *state_path;
	uv_timer_t state_timer; /* debounces saves after changes */
	int state_timer_live;
	int state_dirty;
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
/* Monotonic milliseconds (search lag) and wall-clock milliseconds (calendar-aligned windows). */
uint64_t cg_sim_mono_ms(void);
uint64_t cg_sim_wall_ms(void);
/* Answer of the /_sim/cases/{id_or_key}/{close|reopen|archive|delete} endpoints: a person
 * acting in Datadog's UI. Returns 200 with *out = {"data": case}, 404 or 400 (err set). */
int cg_sim_human(struct cg_sim *s, const char *id_or_key, const char *action, cJSON **out, char *err,
		 size_t errlen);

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
	char err[256];         /* detail of an error answer; empty: none (a bare JSON:API error) */
	const char *err_title; /* title of an error answer; NULL: the reason phrase */
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

/* The /_sim/cases document: {"cases":[live cases], "deleted_cases":[removed by a person]}. */
cJSON *cg_sim_dump_cases(struct cg_sim *s);
/* Cases the API can still find (not deleted). */
size_t cg_sim_live_cases(const struct cg_sim *s);

/* sim_types.c: case types and their custom-attribute configurations. */
int cg_sim_types_init(struct cg_sim *s);
void cg_sim_types_cleanup(struct cg_sim *s);
/* --case-type UUID[=Name]: CG_EINVAL (bad UUID or name), CG_EEXIST, CG_ENOMEM or 0. */
int cg_sim_add_case_type(struct cg_sim *s, const char *id, const char *name);
/* --custom-attribute TYPE_UUID:key:TYPE[:multi]; err names the problem. */
int cg_sim_add_custom_attribute(struct cg_sim *s, const char *spec, char *err, size_t errlen);
/*
 * Checks a custom attribute value (key and value, both NULL: only the type) sent for a case
 * of type_id against the type's configuration, the way Datadog enforces it. 0 when it fits
 * (or the type is unknown and strict_case_types is off), else the status with c->err set.
 * update: the one-key UpdateCaseCustomAttribute endpoint (an unconfigured key is 404 there).
 */
int cg_sim_types_check(struct cg_sim_call *c, const char *type_id, const char *key, const cJSON *value,
		       int update);
int cg_sim_op_get_case_types(struct cg_sim_call *c);
int cg_sim_op_create_case_type(struct cg_sim_call *c);
int cg_sim_op_delete_case_type(struct cg_sim_call *c);
int cg_sim_op_get_all_custom_attributes(struct cg_sim_call *c);
int cg_sim_op_get_type_custom_attributes(struct cg_sim_call *c);
int cg_sim_op_create_custom_attribute(struct cg_sim_call *c);
int cg_sim_op_delete_custom_attribute_config(struct cg_sim_call *c);

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

/* The --state parts of sim_extra.c: per-case state and configuration resources as one object. */
cJSON *cg_sim_extra_save(const struct cg_sim *s);
/* Replaces them with in (from cg_sim_extra_save); on error err says which part is wrong. */
int cg_sim_extra_load(struct cg_sim *s, const cJSON *in, char *err, size_t errlen);

/*
 * sim_state.c: --state FILE. cg_sim_state_open loads FILE when it exists (cases with their
 * comments and events, projects and their next case numbers, case types, custom attributes, the
 * sim_extra.c resources, the id generator), merging projects, case types and custom attributes
 * given on the command line; then saves it once (so an unwritable path fails at start). Returns
 * 0, or negative with err set (a corrupt or unreadable file names the problem). After that,
 * cg_sim_state_changed after each request that may have changed the model saves it within
 * CG_SIM_STATE_DEBOUNCE_MS, and cg_sim_state_close (from cg_sim_stop) saves what is pending.
 * Each save writes FILE.tmp, fsyncs it, renames it over FILE and fsyncs the directory.
 */
#define CG_SIM_STATE_DEBOUNCE_MS 50
int cg_sim_state_open(struct cg_sim *s, const char *path, char *err, size_t errlen);
void cg_sim_state_changed(struct cg_sim *s);
void cg_sim_state_close(struct cg_sim *s);
/* Writes the state now; 0, or negative with err set. */
int cg_sim_state_save(struct cg_sim *s, char *err, size_t errlen);

/* sim_faults.c: the fault settings, from the command line and from POST /_sim/faults. */
/* Sets the legacy "cases" bucket (limit 0 removes it); period 0 keeps the current one. */
int cg_sim_set_rate_limit(struct cg_sim_faults *f, unsigned limit, unsigned period);
/* --bucket NAME=LIMIT/PERIOD[:read|write|all]; err names the problem. */
int cg_sim_parse_bucket(struct cg_sim_faults *f, const char *spec, char *err, size_t errlen);
int cg_sim_parse_outage(const char *v, enum cg_sim_outage *out);
const char *cg_sim_outage_name(enum cg_sim_outage o);
/* Applies a /_sim/faults body to a copy of *f: on error *f is unchanged and err says why. */
int cg_sim_faults_apply(struct cg_sim_faults *f, const cJSON *in, char *err, size_t errlen);
cJSON *cg_sim_faults_json(const struct cg_sim_faults *f);
/* The bucket a request falls in: the first one matching its method class (read = GET,
 * write = the rest), else the first "all" bucket; NULL when none. */
struct cg_sim_bucket *cg_sim_bucket_for(struct cg_sim_faults *f, const char *method);

/* sim_api.c: request handling, faults, stats, request log. */
void cg_sim_handle(struct cg_http_request *req, void *ud);
/* Handler of the --control-listen listener: /_sim only. */
void cg_sim_handle_control(struct cg_http_request *req, void *ud);
/* Answers every request still waiting for its latency timer (shutdown). */
void cg_sim_flush_pending(struct cg_sim *s);
/*
 * Starts listening on s->host:s->port (and the control listener when ctl_host is set), then
 * applies an outage given on the command line. 0, or negative with err set.
 */
int cg_sim_start(struct cg_sim *s, const char *ctl_host, int ctl_port, char *err, size_t errlen);
/* Closes the listeners and the outage timer (shutdown); the loop then ends. */
void cg_sim_stop(struct cg_sim *s);
/* Makes the current faults.outage take effect (closes or re-opens the listener, arms the timer). */
void cg_sim_outage_changed(struct cg_sim *s);

#endif
