/* sim_api.c: casegate-sim's request handling: routing, auth, injected faults, stats and request log. */
#define _POSIX_C_SOURCE 200809L
#include "sim.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#define CG_LOG_COMPONENT "sim"
#include "err.h"
#include "log.h"

struct cg_sim_pending {
	uv_timer_t timer;
	struct cg_sim *sim;
	struct cg_http_request *req;
	int status;
	int drop;
	const char *ctype;
	char *body;
	size_t body_len;
	struct cg_http_header hdr[8];
	char hval[8][48];
	size_t nhdr;
	char told_bucket[48];  /* a 429 of this bucket... */
	uint64_t told_window;  /* ...for this window: once sent, the client has been told */
	struct cg_sim_pending *prev, *next;
};

/* How long after a 429 is sent a request in the same window counts as sent in spite of it (what
 * was already on its way, or read in the same turn of the loop, does not). */
#define TOLD_GRACE_MS 100

/* Datadog answers every API call, errors included, as JSON:API (recorded). */
static const char api_ctype[] = "application/vnd.api+json";

/* ---- answers ---- */

static void pending_unlink(struct cg_sim_pending *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		p->sim->pending = p->next;
	if (p->next)
		p->next->prev = p->prev;
	p->prev = p->next = NULL;
}

static struct cg_sim_bucket *bucket_named(struct cg_sim *s, const char *name)
{
	for (size_t i = 0; i < s->faults.nbuckets; i++)
		if (strcmp(s->faults.buckets[i].name, name) == 0)
			return &s->faults.buckets[i];
	return NULL;
}

static void pending_send(struct cg_sim_pending *p)
{
	if (p->told_bucket[0] && !p->drop) {
		/* The client now knows this window is spent (the first such answer sets the time). */
		struct cg_sim_bucket *b = bucket_named(p->sim, p->told_bucket);
		if (b && b->window == p->told_window && b->told_window != p->told_window) {
			b->told_window = p->told_window;
			b->told_ms = cg_sim_wall_ms();
		}
	}
	if (p->drop)
		cg_http_drop(p->req);
	else
		cg_http_respond(p->req, p->status, p->ctype, p->body, p->body_len, p->hdr, p->nhdr);
	p->req = NULL;
}

static void pending_free(uv_handle_t *h)
{
	struct cg_sim_pending *p = h->data;
	free(p->body);
	free(p);
}

static void pending_fire(uv_timer_t *t)
{
	struct cg_sim_pending *p = t->data;
	pending_unlink(p);
	pending_send(p);
	uv_close((uv_handle_t *)&p->timer, pending_free);
}

void cg_sim_flush_pending(struct cg_sim *s)
{
	while (s->pending) {
		struct cg_sim_pending *p = s->pending;
		uv_timer_stop(&p->timer);
		pending_unlink(p);
		pending_send(p);
		uv_close((uv_handle_t *)&p->timer, pending_free);
	}
}

static void add_header_str(struct cg_sim_pending *p, const char *name, const char *v)
{
	if (p->nhdr >= sizeof(p->hdr) / sizeof(p->hdr[0]))
		return;
	snprintf(p->hval[p->nhdr], sizeof(p->hval[0]), "%s", v);
	p->hdr[p->nhdr].name = name;
	p->hdr[p->nhdr].value = p->hval[p->nhdr];
	p->nhdr++;
}

static void add_header(struct cg_sim_pending *p, const char *name, unsigned long v)
{
	char buf[24];
	snprintf(buf, sizeof(buf), "%lu", v);
	add_header_str(p, name, buf);
}

/* ---- rate-limit buckets ---- */

static uint64_t window_of(const struct cg_sim_bucket *b, uint64_t now_ms)
{
	return now_ms / ((uint64_t)b->period * 1000u);
}

/* Starts the bucket's current calendar window when the one it counted has passed. */
static void bucket_roll(struct cg_sim_bucket *b, uint64_t now_ms)
{
	uint64_t w = window_of(b, now_ms);
	if (w != b->window) {
		b->window = w;
		b->count = b->win_429 = 0;
		if (w == b->spent_window)
			b->count = b->limit; /* another client spent it before anyone here asked */
	}
}

static cJSON *bucket_stat(struct cg_sim *s, const char *name)
{
	cJSON *o = cJSON_GetObjectItemCaseSensitive(s->bucket_stats, name);
	if (o)
		return o;
	o = cJSON_AddObjectToObject(s->bucket_stats, name);
	if (o && (!cJSON_AddNumberToObject(o, "requests", 0) || !cJSON_AddNumberToObject(o, "rejected_429", 0) ||
		  !cJSON_AddNumberToObject(o, "max_429_per_window", 0) || !cJSON_AddNumberToObject(o, "late_429", 0))) {
		cJSON_DeleteItemFromObjectCaseSensitive(s->bucket_stats, name);
		return NULL;
	}
	return o;
}

static void stat_set(cJSON *o, const char *name, double v)
{
	cJSON *x = cJSON_GetObjectItemCaseSensitive(o, name);
	if (x)
		cJSON_SetNumberValue(x, v);
}

static double stat_get(const cJSON *o, const char *name)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, name);
	return cJSON_IsNumber(x) ? x->valuedouble : 0;
}

/* Counts a request against its bucket; 1 when the window is spent (answer 429). */
static int bucket_take(struct cg_sim *s, struct cg_sim_bucket *b)
{
	bucket_roll(b, cg_sim_wall_ms());
	cJSON *st = bucket_stat(s, b->name);
	stat_set(st, "requests", stat_get(st, "requests") + 1);
	if (b->count < b->limit) {
		b->count++;
		return 0;
	}
	b->win_429++;
	stat_set(st, "rejected_429", stat_get(st, "rejected_429") + 1);
	if (b->told_window == b->window && cg_sim_wall_ms() >= b->told_ms + TOLD_GRACE_MS)
		stat_set(st, "late_429", stat_get(st, "late_429") + 1);
	if (b->win_429 > stat_get(st, "max_429_per_window"))
		stat_set(st, "max_429_per_window", b->win_429);
	return 1;
}

static void add_ratelimit_headers(struct cg_sim_pending *p, struct cg_sim_bucket *b)
{
	uint64_t now = cg_sim_wall_ms();
	bucket_roll(b, now);
	uint64_t end = (window_of(b, now) + 1) * (uint64_t)b->period * 1000u;
	add_header(p, "X-RateLimit-Limit", b->limit);
	add_header(p, "X-RateLimit-Period", b->period);
	add_header(p, "X-RateLimit-Remaining", b->count < b->limit ? b->limit - b->count : 0);
	add_header(p, "X-RateLimit-Reset", (unsigned long)((end - now + 999) / 1000));
	add_header_str(p, "X-RateLimit-Name", b->name);
}

/* How an answer goes out. */
struct answer {
	int status;
	char *body; /* malloc'd, owned by deliver; may be NULL */
	int drop;   /* close the connection instead */
	int api;    /* a Datadog API answer: JSON:API media type, latency */
	struct cg_sim_bucket *bucket; /* X-RateLimit-* from this bucket, or NULL */
	unsigned retry_after;         /* Retry-After seconds, 0: none */
};

/* Sends (or drops) the answer now or after --latency-ms. */
static void deliver(struct cg_sim *s, struct cg_http_request *req, const struct answer *a)
{
	struct cg_sim_pending *p = calloc(1, sizeof(*p));
	if (!p) {
		free(a->body);
		cg_http_respond_error(req, 500, "out of memory");
		return;
	}
	p->sim = s;
	p->req = req;
	p->status = a->status;
	p->drop = a->drop;
	p->ctype = a->api ? api_ctype : NULL;
	p->body = a->body;
	p->body_len = a->body ? strlen(a->body) : 0;
	if (a->bucket)
		add_ratelimit_headers(p, a->bucket);
	if (a->bucket && a->status == 429) {
		snprintf(p->told_bucket, sizeof(p->told_bucket), "%s", a->bucket->name);
		p->told_window = a->bucket->window;
	}
	if (a->retry_after)
		add_header(p, "Retry-After", a->retry_after);
	if (!a->api || s->faults.latency_ms == 0 || s->closing || uv_timer_init(s->loop, &p->timer) != 0) {
		pending_send(p);
		free(p->body);
		free(p);
		return;
	}
	p->timer.data = p;
	p->next = s->pending;
	if (s->pending)
		s->pending->prev = p;
	s->pending = p;
	uv_timer_start(&p->timer, pending_fire, s->faults.latency_ms, 0);
}

/*
 * An API error body: JSON:API {"errors":[{"status":"400","title":"Bad Request","detail":msg}]}
 * (detail left out when msg is empty or only repeats the title, as Datadog's bare 400s), or the
 * old {"errors":["msg"]} with plain_errors.
 */
static char *error_body(const struct cg_sim *s, int status, const char *msg, const char *title)
{
	const char *reason = cg_http_reason(status);
	if (!title)
		title = reason;
	cJSON *doc = cJSON_CreateObject();
	cJSON *arr = cJSON_AddArrayToObject(doc, "errors");
	char *out = NULL;
	if (!arr)
		goto out;
	if (s->faults.plain_errors) {
		cJSON *m = cJSON_CreateString(msg && *msg ? msg : title);
		if (!m)
			goto out;
		cJSON_AddItemToArray(arr, m);
	} else {
		char code[8];
		snprintf(code, sizeof(code), "%d", status);
		cJSON *e = cJSON_CreateObject();
		if (!e)
			goto out;
		cJSON_AddItemToArray(arr, e);
		if (!cJSON_AddStringToObject(e, "status", code) || !cJSON_AddStringToObject(e, "title", title))
			goto out;
		if (msg && *msg && strcmp(msg, title) != 0 && !cJSON_AddStringToObject(e, "detail", msg))
			goto out;
	}
	out = cJSON_PrintUnformatted(doc);
out:
	cJSON_Delete(doc);
	return out;
}

/* Answers a /_sim request with a JSON document (consumed). */
static void answer_doc(struct cg_sim *s, struct cg_http_request *req, int status, cJSON *doc)
{
	char *body = doc ? cJSON_PrintUnformatted(doc) : NULL;
	cJSON_Delete(doc);
	if (!body) {
		cg_http_respond_error(req, 500, "out of memory");
		return;
	}
	struct answer a = {.status = status, .body = body};
	deliver(s, req, &a);
}

/* ---- stats and request log ---- */

static void bump(cJSON *obj, const char *name)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	if (v)
		cJSON_SetNumberValue(v, v->valuedouble + 1);
	else
		cJSON_AddNumberToObject(obj, name, 1);
}

static void log_request(struct cg_sim *s, const struct cg_http_request *req, const char *op, int status,
			const cJSON *body, int invalid_json, const char *fault)
{
	if (!s->request_log)
		return;
	cJSON *o = cJSON_CreateObject();
	cJSON *b = body ? cJSON_Duplicate(body, 1) : cJSON_CreateNull();
	if (!o || !b) {
		cJSON_Delete(o);
		cJSON_Delete(b);
		return;
	}
	cJSON_AddStringToObject(o, "method", req->method);
	cJSON_AddStringToObject(o, "path", req->path);
	cJSON_AddStringToObject(o, "query", req->query);
	cJSON_AddNumberToObject(o, "status", status);
	cJSON_AddStringToObject(o, "operation", op);
	cJSON_AddItemToObject(o, "body", b);
	if (invalid_json)
		cJSON_AddTrueToObject(o, "invalid_json");
	if (fault)
		cJSON_AddStringToObject(o, "fault", fault);
	char *line = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (line) {
		fprintf(s->request_log, "%s\n", line);
		fflush(s->request_log);
		free(line);
	}
}

/* ---- routing ---- */

struct route {
	const char *op;
	int (*fn)(struct cg_sim_call *c);
	int needs_body;
};

static const struct {
	const char *action;
	struct route r;
} case_actions[] = {
	{"status", {"UpdateStatus", cg_sim_op_update_status, 1}},
	{"priority", {"UpdatePriority", cg_sim_op_update_priority, 1}},
	{"title", {"UpdateCaseTitle", cg_sim_op_update_title, 1}},
	{"description", {"UpdateCaseDescription", cg_sim_op_update_description, 1}},
	{"assign", {"AssignCase", cg_sim_op_assign, 1}},
	{"unassign", {"UnassignCase", cg_sim_op_unassign, 1}},
	{"archive", {"ArchiveCase", cg_sim_op_archive, 1}},
	{"unarchive", {"UnarchiveCase", cg_sim_op_unarchive, 1}},
	{"attributes", {"UpdateAttributes", cg_sim_op_update_attributes, 1}},
	{"comment", {"CommentCase", cg_sim_op_comment, 1}},
};

#define SEG_MAX 4
#define SEG_LEN 160

/*
 * Maps method + path to an operation. Returns 0 (found), 404 (no such path) or 405
 * (path known, method not). seg receives the path segments after /api/v2/cases.
 */
static int route(const char *method, const char *path, char seg[SEG_MAX][SEG_LEN], struct route *out,
		 struct cg_sim_call *c)
{
	static const char prefix[] = "/api/v2/cases";
	size_t plen = sizeof(prefix) - 1;
	if (strncmp(path, prefix, plen) != 0 || (path[plen] != '\0' && path[plen] != '/'))
		return 404;
	const char *p = path + plen;
	int n = 0;
	while (*p == '/') {
		p++;
		if (!*p)
			break; /* trailing slash */
		if (n == SEG_MAX)
			return 404;
		size_t len = strcspn(p, "/");
		if (len == 0 || len >= SEG_LEN)
			return 404;
		memcpy(seg[n], p, len);
		seg[n][len] = '\0';
		n++;
		p += len;
	}
	int get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0,
	    del = strcmp(method, "DELETE") == 0;
	memset(out, 0, sizeof(*out));
	if (n == 0) {
		if (get)
			*out = (struct route){"SearchCases", cg_sim_op_search_cases, 0};
		else if (post)
			*out = (struct route){"CreateCase", cg_sim_op_create_case, 1};
		return out->fn ? 0 : 405;
	}
	if (strcmp(seg[0], "projects") == 0) {
		if (n == 1 && get)
			*out = (struct route){"GetProjects", cg_sim_op_get_projects, 0};
		else if (n == 1 && post)
			*out = (struct route){"CreateProject", cg_sim_op_create_project, 1};
		else if (n == 2 && get)
			*out = (struct route){"GetProject", cg_sim_op_get_project, 0};
		else
			return n <= 2 ? 405 : 404;
		c->param2 = n == 2 ? seg[1] : NULL;
		return 0;
	}
	if (strcmp(seg[0], "types") == 0) {
		if (n == 1) {
			if (get)
				*out = (struct route){"GetAllCaseTypes", cg_sim_op_get_case_types, 0};
			else if (post)
				*out = (struct route){"CreateCaseType", cg_sim_op_create_case_type, 1};
		} else if (n == 2 && strcmp(seg[1], "custom_attributes") == 0) {
			if (get)
				*out = (struct route){"GetAllCustomAttributes", cg_sim_op_get_all_custom_attributes, 0};
		} else if (n == 2) {
			c->param2 = seg[1];
			if (del)
				*out = (struct route){"DeleteCaseType", cg_sim_op_delete_case_type, 0};
		} else if ((n == 3 || n == 4) && strcmp(seg[2], "custom_attributes") == 0) {
			c->param2 = seg[1];
			c->param3 = n == 4 ? seg[3] : NULL;
			if (n == 3 && get)
				*out = (struct route){"GetAllCustomAttributeConfigsByCaseType",
						      cg_sim_op_get_type_custom_attributes, 0};
			else if (n == 3 && post)
				*out = (struct route){"CreateCustomAttributeConfig", cg_sim_op_create_custom_attribute, 1};
			else if (n == 4 && del)
				*out = (struct route){"DeleteCustomAttributeConfig", cg_sim_op_delete_custom_attribute_config,
						      0};
		} else {
			return 404;
		}
		return out->fn ? 0 : 405;
	}
	c->case_id = seg[0];
	if (n == 1) {
		if (!get)
			return 405;
		*out = (struct route){"GetCase", cg_sim_op_get_case, 0};
		return 0;
	}
	if (n == 2) {
		for (size_t i = 0; i < sizeof(case_actions) / sizeof(case_actions[0]); i++) {
			if (strcmp(seg[1], case_actions[i].action) == 0) {
				if (!post)
					return 405;
				*out = case_actions[i].r;
				return 0;
			}
		}
		return 404;
	}
	if (n == 3 && strcmp(seg[1], "custom_attributes") == 0) {
		c->param2 = seg[2];
		if (post)
			*out = (struct route){"UpdateCaseCustomAttribute", cg_sim_op_update_custom_attribute, 1};
		else if (del)
			*out = (struct route){"DeleteCaseCustomAttribute", cg_sim_op_delete_custom_attribute, 0};
		return out->fn ? 0 : 405;
	}
	return 404;
}

static int secret_eq(const char *got, const char *want)
{
	size_t n = strlen(want);
	return strlen(got) == n && CRYPTO_memcmp(got, want, n) == 0;
}

/* 0 when authorized, else the status to answer (message in *msg). */
static int check_auth(struct cg_sim *s, const struct cg_http_request *req, const char **msg)
{
	if (s->no_auth)
		return 0;
	const char *api = cg_http_header_get(req, "DD-API-KEY");
	if (!api || !*api || (s->api_key && !secret_eq(api, s->api_key))) {
		*msg = "Forbidden";
		return 403;
	}
	const char *app = cg_http_header_get(req, "DD-APPLICATION-KEY");
	if (!app || !*app || (s->app_key && !secret_eq(app, s->app_key))) {
		*msg = "Unauthorized";
		return 401;
	}
	return 0;
}

static int parse_long_param(const struct cg_http_request *req, const char *name, long dflt, long *out)
{
	char buf[64];
	int rc = cg_http_query_get(req, name, buf, sizeof(buf));
	if (rc == CG_ENOENT || (rc == 0 && buf[0] == '\0')) {
		*out = dflt;
		return 0;
	}
	if (rc != 0)
		return -1;
	char *end;
	errno = 0;
	long v = strtol(buf, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

static void handle_api(struct cg_sim *s, struct cg_http_request *req)
{
	char seg[SEG_MAX][SEG_LEN];
	char filter[512] = "", sort_field[32] = "", sort_asc[16] = "";
	struct cg_sim_call call = {.sim = s};
	struct route r;
	const char *fault = NULL, *msg = NULL;
	struct answer ans = {.api = 1};
	cJSON *in = NULL;

	int invalid_json = 0;
	if (req->body_len > 0) {
		in = cJSON_ParseWithLength(req->body, req->body_len);
		invalid_json = in == NULL;
	}
	struct cg_sim_route xr;
	call.req = req;
	int rrc = cg_sim_extra_route(s, req, &xr, &call);
	if (rrc == 0)
		r = (struct route){xr.op, xr.fn, xr.needs_body};
	else if (rrc == 404)
		rrc = route(req->method, req->path, seg, &r, &call);
	const char *op = rrc == 0 ? r.op : "unknown";

	s->total++;
	bump(s->by_operation, op);

	/* Faults are decided up front so a given --seed replays the same sequence. */
	double err_draw = cg_sim_rand01(&s->fault_rng);
	double drop_draw = cg_sim_rand01(&s->fault_rng);
	uint64_t code_draw = cg_sim_rand(&s->fault_rng);
	/* Drawn only when asked for, so existing seeds keep their sequences. */
	int hdr_drop = s->faults.header_drop_ratio > 0 && cg_sim_rand01(&s->fault_rng) < s->faults.header_drop_ratio;
	struct cg_sim_bucket *bucket = cg_sim_bucket_for(&s->faults, req->method);

	/* An outage is no Datadog answer at all: no processing, no rate-limit headers. */
	if (s->faults.outage != CG_SIM_OUTAGE_NONE) {
		s->outage_requests++;
		fault = "outage";
		if (s->faults.outage != CG_SIM_OUTAGE_503) {
			/* reset; refuse catches a request on a connection accepted before it began */
			log_request(s, req, op, 0, in, invalid_json, fault);
			cJSON_Delete(in);
			cg_http_drop(req);
			return;
		}
		ans.status = 503;
		ans.retry_after = s->faults.retry_after_s;
		msg = "Service Unavailable";
		goto answer;
	}
	ans.bucket = bucket;
	if (err_draw < s->faults.error_ratio) {
		static const int codes[] = {500, 502, 503};
		ans.status = codes[code_draw % 3];
		msg = cg_http_reason(ans.status);
		fault = "error";
		s->injected_5xx++;
		goto answer;
	}
	if (s->faults.auth_fail) {
		/* Revoked keys: whatever the request carries. */
		ans.status = s->faults.auth_fail;
		msg = cg_http_reason(ans.status);
		fault = "auth_fail";
		s->auth_failed++;
		goto answer;
	}
	if ((ans.status = check_auth(s, req, &msg)) != 0) {
		s->auth_failed++;
		goto answer;
	}
	if (bucket && bucket_take(s, bucket)) {
		ans.status = 429;
		msg = "Too many requests";
		fault = "rate_limit";
		s->rejected_429++;
		goto answer;
	}
	if (rrc != 0) {
		ans.status = rrc;
		msg = cg_http_reason(rrc);
		goto answer;
	}
	if (r.needs_body && req->body_len == 0) {
		ans.status = 400;
		msg = "request body is required";
		goto answer;
	}
	if (invalid_json) {
		ans.status = 400;
		msg = "request body is not valid JSON";
		goto answer;
	}
	call.body = in;
	if (strcmp(r.op, "SearchCases") == 0) {
		if (parse_long_param(req, "page[size]", 10, &call.page_size) != 0 ||
		    parse_long_param(req, "page[number]", 0, &call.page_number) != 0) {
			ans.status = 400;
			msg = "page[size] and page[number] must be integers";
			goto answer;
		}
		if (cg_http_query_get(req, "filter", filter, sizeof(filter)) == 0)
			call.query_filter = filter;
		if (cg_http_query_get(req, "sort[field]", sort_field, sizeof(sort_field)) == 0)
			call.sort_field = sort_field;
		if (cg_http_query_get(req, "sort[asc]", sort_asc, sizeof(sort_asc)) == 0)
			call.sort_asc = strcmp(sort_asc, "true") == 0;
	}
	ans.status = r.fn(&call);
	if (ans.status >= 200 && ans.status < 300) {
		/* 201/202/204 answers without a document (watch, Jira, notebook, deletes) have no body. */
		ans.body = call.out ? cJSON_PrintUnformatted(call.out) : strdup("");
		if (!ans.body) {
			ans.status = 500;
			msg = "out of memory";
		} else if (hdr_drop) {
			ans.bucket = NULL; /* Datadog sometimes leaves X-RateLimit-* off a success */
		}
	} else {
		msg = call.err;
	}
	/* Drop only processed requests: the state changed, the client never learns it. */
	ans.drop = drop_draw < s->faults.drop_ratio;
	if (ans.drop) {
		fault = "drop";
		s->dropped++;
	}
	cJSON_Delete(call.out);
	if (!ans.body)
		ans.body = error_body(s, ans.status, msg, call.err_title);
	if (!ans.drop) {
		char code[8];
		snprintf(code, sizeof(code), "%d", ans.status);
		bump(s->by_status, code);
	}
	log_request(s, req, op, ans.status, in, invalid_json, fault);
	cJSON_Delete(in);
	deliver(s, req, &ans);
	return;

answer: {
	char code[8];
	snprintf(code, sizeof(code), "%d", ans.status);
	bump(s->by_status, code);
	log_request(s, req, op, ans.status, in, invalid_json, fault);
	cJSON_Delete(in);
	ans.body = error_body(s, ans.status, msg, NULL);
	deliver(s, req, &ans);
}
}

/* ---- listeners and outages ---- */

static void outage_timer_cb(uv_timer_t *t);

static void reopen_listener(struct cg_sim *s)
{
	if (s->srv || s->closing || s->faults.outage == CG_SIM_OUTAGE_REFUSE)
		return;
	struct cg_http_limits lim;
	char err[256];
	cg_http_limits_default(&lim);
	if (cg_http_server_create(s->loop, s->host, s->port, &lim, cg_sim_handle, s, &s->srv, err, sizeof(err)) != 0) {
		/* The port was taken meanwhile: keep trying, the clients expect the same address. */
		CG_LOG_WARN("cannot re-open %s:%d after the outage: %s; retrying", s->host, s->port, err);
		s->srv = NULL;
		s->reopen_retry = 1;
		uv_timer_start(&s->outage_timer, outage_timer_cb, 200, 0);
		return;
	}
	CG_LOG_INFO("outage over: listening on %s:%d again", s->host, s->port);
}

static void outage_timer_cb(uv_timer_t *t)
{
	struct cg_sim *s = t->data;
	if (s->closing)
		return;
	if (s->reopen_retry) {
		s->reopen_retry = 0;
	} else {
		CG_LOG_INFO("outage %s ended after %u ms", cg_sim_outage_name(s->faults.outage), s->faults.outage_ms);
		s->faults.outage = CG_SIM_OUTAGE_NONE;
	}
	reopen_listener(s);
}

void cg_sim_outage_changed(struct cg_sim *s)
{
	if (!s->timer_live || s->closing)
		return;
	uv_timer_stop(&s->outage_timer);
	s->reopen_retry = 0;
	if (s->faults.outage == CG_SIM_OUTAGE_REFUSE && s->srv) {
		/* Closing the listener first: by the time the client reads the /_sim/faults answer,
		 * new connections are refused. Requests in flight still get their answers. */
		cg_http_server_close(s->srv, NULL, NULL);
		s->srv = NULL;
		CG_LOG_INFO("outage refuse: listener on %s:%d closed", s->host, s->port);
	}
	reopen_listener(s);
	if (s->faults.outage != CG_SIM_OUTAGE_NONE && s->faults.outage_ms > 0 && !s->reopen_retry)
		uv_timer_start(&s->outage_timer, outage_timer_cb, s->faults.outage_ms, 0);
}

int cg_sim_start(struct cg_sim *s, const char *ctl_host, int ctl_port, char *err, size_t errlen)
{
	struct cg_http_limits lim;
	cg_http_limits_default(&lim);
	if (cg_http_server_create(s->loop, s->host, s->port, &lim, cg_sim_handle, s, &s->srv, err, errlen) != 0) {
		s->srv = NULL;
		return CG_EIO;
	}
	s->port = cg_http_server_port(s->srv);
	if (ctl_host && cg_http_server_create(s->loop, ctl_host, ctl_port, &lim, cg_sim_handle_control, s, &s->ctl, err,
					      errlen) != 0) {
		s->ctl = NULL;
		return CG_EIO;
	}
	if (uv_timer_init(s->loop, &s->outage_timer) != 0) {
		snprintf(err, errlen, "uv_timer_init failed");
		return CG_EIO;
	}
	s->outage_timer.data = s;
	s->timer_live = 1;
	if (s->faults.outage != CG_SIM_OUTAGE_NONE)
		cg_sim_outage_changed(s);
	return 0;
}

void cg_sim_stop(struct cg_sim *s)
{
	s->closing = 1;
	cg_sim_flush_pending(s);
	if (s->srv)
		cg_http_server_close(s->srv, NULL, NULL);
	if (s->ctl)
		cg_http_server_close(s->ctl, NULL, NULL);
	s->srv = s->ctl = NULL;
	if (s->timer_live) {
		uv_timer_stop(&s->outage_timer);
		uv_close((uv_handle_t *)&s->outage_timer, NULL);
		s->timer_live = 0;
	}
	cg_sim_state_close(s);
}

/* ---- /_sim inspection endpoints ---- */

static cJSON *stats_json(const struct cg_sim *s)
{
	cJSON *o = cJSON_CreateObject();
	if (!o || !cJSON_AddNumberToObject(o, "total", (double)s->total) ||
	    !cJSON_AddNumberToObject(o, "rejected_429", (double)s->rejected_429) ||
	    !cJSON_AddNumberToObject(o, "injected_5xx", (double)s->injected_5xx) ||
	    !cJSON_AddNumberToObject(o, "dropped", (double)s->dropped) ||
	    !cJSON_AddNumberToObject(o, "auth_failed", (double)s->auth_failed) ||
	    !cJSON_AddNumberToObject(o, "outage_requests", (double)s->outage_requests) ||
	    !cJSON_AddNumberToObject(o, "cases", (double)cg_sim_live_cases(s))) {
		cJSON_Delete(o);
		return NULL;
	}
	cJSON_AddItemToObject(o, "by_operation", cJSON_Duplicate(s->by_operation, 1));
	cJSON_AddItemToObject(o, "by_status", cJSON_Duplicate(s->by_status, 1));
	cJSON_AddItemToObject(o, "buckets", cJSON_Duplicate(s->bucket_stats, 1));
	return o;
}

/* POST /_sim/cases/{id_or_key}/{close|reopen|archive|delete}: a person in Datadog's UI. */
static void handle_human(struct cg_sim *s, struct cg_http_request *req, const char *rest)
{
	const char *slash = strrchr(rest, '/');
	char id[SEG_LEN];
	if (!slash || slash == rest || (size_t)(slash - rest) >= sizeof(id) || strchr(rest, '/') != slash) {
		cg_http_respond_error(req, 404, "Not Found");
		return;
	}
	if (strcmp(req->method, "POST") != 0) {
		cg_http_respond_error(req, 405, "use POST");
		return;
	}
	memcpy(id, rest, (size_t)(slash - rest));
	id[slash - rest] = '\0';
	char err[160];
	cJSON *doc = NULL;
	int st = cg_sim_human(s, id, slash + 1, &doc, err, sizeof(err));
	if (st != 200) {
		cg_http_respond_error(req, st, err);
		return;
	}
	answer_doc(s, req, 200, doc);
}

static void handle_sim(struct cg_sim *s, struct cg_http_request *req)
{
	const char *p = req->path + 5; /* after "/_sim" */
	int get = strcmp(req->method, "GET") == 0, post = strcmp(req->method, "POST") == 0;
	if (strcmp(p, "/cases") == 0 && get) {
		answer_doc(s, req, 200, cg_sim_dump_cases(s));
	} else if (strncmp(p, "/cases/", 7) == 0) {
		handle_human(s, req, p + 7);
	} else if (strcmp(p, "/stats") == 0 && get) {
		answer_doc(s, req, 200, stats_json(s));
	} else if (strcmp(p, "/faults") == 0 && (get || post)) {
		if (post) {
			char err[200];
			cJSON *in = cJSON_ParseWithLength(req->body, req->body_len);
			int rc = cg_sim_faults_apply(&s->faults, in, err, sizeof(err));
			int outage_touched =
				cJSON_HasObjectItem(in, "outage") || cJSON_HasObjectItem(in, "outage_ms");
			cJSON_Delete(in);
			if (rc) {
				cg_http_respond_error(req, 400, err);
				return;
			}
			if (outage_touched)
				cg_sim_outage_changed(s);
		}
		answer_doc(s, req, 200, cg_sim_faults_json(&s->faults));
	} else if (cg_sim_extra_control(s, req)) {
		/* handled */
	} else if (strcmp(p, "/reset") == 0 && post) {
		cg_sim_reset(s);
		cJSON *o = cJSON_CreateObject();
		if (o)
			cJSON_AddTrueToObject(o, "ok");
		answer_doc(s, req, 200, o);
	} else {
		cg_http_respond_error(req, 404, "Not Found");
	}
}

/* Every request but a read may have changed the model (requests are processed before their
 * answer is delayed or dropped): --state saves it shortly. */
static int may_change(const struct cg_http_request *req)
{
	return strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0;
}

void cg_sim_handle(struct cg_http_request *req, void *ud)
{
	struct cg_sim *s = ud;
	int change = may_change(req);
	if (strncmp(req->path, "/_sim/", 6) == 0)
		handle_sim(s, req);
	else
		handle_api(s, req);
	if (change)
		cg_sim_state_changed(s);
}

void cg_sim_handle_control(struct cg_http_request *req, void *ud)
{
	int change = may_change(req);
	if (strncmp(req->path, "/_sim/", 6) == 0)
		handle_sim(ud, req);
	else
		cg_http_respond_error(req, 404, "the control listener serves /_sim/ only");
	if (change)
		cg_sim_state_changed(ud);
}
