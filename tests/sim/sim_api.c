/* sim_api.c: casegate-sim's request handling: routing, auth, injected faults, stats and request log. */
#define _POSIX_C_SOURCE 200809L
#include "sim.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "err.h"

struct cg_sim_pending {
	uv_timer_t timer;
	struct cg_sim *sim;
	struct cg_http_request *req;
	int status;
	int drop;
	char *body;
	size_t body_len;
	struct cg_http_header hdr[5];
	char hval[5][32];
	size_t nhdr;
	struct cg_sim_pending *prev, *next;
};

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

static void pending_send(struct cg_sim_pending *p)
{
	if (p->drop)
		cg_http_drop(p->req);
	else
		cg_http_respond(p->req, p->status, NULL, p->body, p->body_len, p->hdr, p->nhdr);
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

static void add_header(struct cg_sim_pending *p, const char *name, unsigned long v)
{
	if (p->nhdr >= sizeof(p->hdr) / sizeof(p->hdr[0]))
		return;
	snprintf(p->hval[p->nhdr], sizeof(p->hval[0]), "%lu", v);
	p->hdr[p->nhdr].name = name;
	p->hdr[p->nhdr].value = p->hval[p->nhdr];
	p->nhdr++;
}

/* Rolls the fixed rate-limit window forward when it has passed. */
static void window_roll(struct cg_sim *s)
{
	uint64_t now = uv_now(s->loop);
	if (now - s->window_start_ms >= (uint64_t)s->faults.rate_period * 1000) {
		s->window_start_ms = now;
		s->window_count = 0;
	}
}

static void add_ratelimit_headers(struct cg_sim *s, struct cg_sim_pending *p)
{
	if (!s->faults.rate_limit)
		return;
	window_roll(s);
	uint64_t now = uv_now(s->loop);
	uint64_t end = s->window_start_ms + (uint64_t)s->faults.rate_period * 1000;
	unsigned long left = end > now ? (unsigned long)((end - now + 999) / 1000) : 0;
	unsigned rem = s->window_count < s->faults.rate_limit ? s->faults.rate_limit - s->window_count : 0;
	add_header(p, "X-RateLimit-Limit", s->faults.rate_limit);
	add_header(p, "X-RateLimit-Period", s->faults.rate_period);
	add_header(p, "X-RateLimit-Remaining", rem);
	add_header(p, "X-RateLimit-Reset", left);
	if (p->nhdr < sizeof(p->hdr) / sizeof(p->hdr[0])) {
		p->hdr[p->nhdr].name = "X-RateLimit-Name";
		p->hdr[p->nhdr].value = "cases";
		p->nhdr++;
	}
}

/*
 * Sends (or drops) the answer now or after --latency-ms. Takes ownership of body
 * (malloc'd, may be NULL).
 */
static void deliver(struct cg_sim *s, struct cg_http_request *req, int status, char *body, int drop, int api)
{
	struct cg_sim_pending *p = calloc(1, sizeof(*p));
	if (!p) {
		free(body);
		cg_http_respond_error(req, 500, "out of memory");
		return;
	}
	p->sim = s;
	p->req = req;
	p->status = status;
	p->drop = drop;
	p->body = body;
	p->body_len = body ? strlen(body) : 0;
	if (api)
		add_ratelimit_headers(s, p);
	if (!api || s->faults.latency_ms == 0 || s->closing || uv_timer_init(s->loop, &p->timer) != 0) {
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

static char *error_body(const char *msg)
{
	cJSON *doc = cJSON_CreateObject();
	cJSON *arr = cJSON_AddArrayToObject(doc, "errors");
	cJSON *m = cJSON_CreateString(msg);
	char *out = NULL;
	if (arr && m) {
		cJSON_AddItemToArray(arr, m);
		m = NULL;
		out = cJSON_PrintUnformatted(doc);
	}
	cJSON_Delete(m);
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
	deliver(s, req, status, body, 0, 0);
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
	if (strcmp(seg[0], "types") == 0)
		return 404; /* case types are not simulated */
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
	int status;
	char *body = NULL;
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

	if (err_draw < s->faults.error_ratio) {
		static const int codes[] = {500, 502, 503};
		status = codes[code_draw % 3];
		msg = cg_http_reason(status);
		fault = "error";
		s->injected_5xx++;
		goto answer;
	}
	if ((status = check_auth(s, req, &msg)) != 0) {
		s->auth_failed++;
		goto answer;
	}
	if (s->faults.rate_limit) {
		window_roll(s);
		if (s->window_count >= s->faults.rate_limit) {
			status = 429;
			msg = "Too many requests";
			fault = "rate_limit";
			s->rejected_429++;
			goto answer;
		}
		s->window_count++;
	}
	if (rrc != 0) {
		status = rrc;
		msg = rrc == 404 ? "Not Found" : "Method Not Allowed";
		goto answer;
	}
	if (r.needs_body && req->body_len == 0) {
		status = 400;
		msg = "request body is required";
		goto answer;
	}
	if (invalid_json) {
		status = 400;
		msg = "request body is not valid JSON";
		goto answer;
	}
	call.body = in;
	if (strcmp(r.op, "SearchCases") == 0) {
		if (parse_long_param(req, "page[size]", 10, &call.page_size) != 0 ||
		    parse_long_param(req, "page[number]", 0, &call.page_number) != 0) {
			status = 400;
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
	status = r.fn(&call);
	if (status >= 200 && status < 300) {
		/* 201/202/204 answers without a document (watch, Jira, notebook, deletes) have no body. */
		body = call.out ? cJSON_PrintUnformatted(call.out) : strdup("");
		if (!body) {
			status = 500;
			msg = "out of memory";
		}
	} else {
		msg = call.err;
	}
	/* Drop only processed requests: the state changed, the client never learns it. */
	int drop = drop_draw < s->faults.drop_ratio;
	if (drop) {
		fault = "drop";
		s->dropped++;
	}
	cJSON_Delete(call.out);
	if (!body)
		body = error_body(msg);
	if (!drop) {
		char code[8];
		snprintf(code, sizeof(code), "%d", status);
		bump(s->by_status, code);
	}
	log_request(s, req, op, status, in, invalid_json, fault);
	cJSON_Delete(in);
	deliver(s, req, status, body, drop, 1);
	return;

answer: {
	char code[8];
	snprintf(code, sizeof(code), "%d", status);
	bump(s->by_status, code);
	log_request(s, req, op, status, in, invalid_json, fault);
	cJSON_Delete(in);
	deliver(s, req, status, error_body(msg), 0, 1);
}
}

/* ---- /_sim inspection endpoints ---- */

static cJSON *faults_json(const struct cg_sim *s)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddNumberToObject(o, "error_ratio", s->faults.error_ratio);
	cJSON_AddNumberToObject(o, "latency_ms", s->faults.latency_ms);
	cJSON_AddNumberToObject(o, "drop_ratio", s->faults.drop_ratio);
	cJSON_AddNumberToObject(o, "rate_limit", s->faults.rate_limit);
	cJSON_AddNumberToObject(o, "rate_period", s->faults.rate_period);
	return o;
}

static int set_faults(struct cg_sim *s, const cJSON *in, char *err, size_t errlen)
{
	struct cg_sim_faults f = s->faults;
	if (!cJSON_IsObject(in)) {
		snprintf(err, errlen, "body must be a JSON object");
		return -1;
	}
	const cJSON *e;
	cJSON_ArrayForEach(e, in)
	{
		if (!cJSON_IsNumber(e) || e->valuedouble < 0) {
			snprintf(err, errlen, "%s must be a non-negative number", e->string);
			return -1;
		}
		double v = e->valuedouble;
		if (strcmp(e->string, "error_ratio") == 0 && v <= 1)
			f.error_ratio = v;
		else if (strcmp(e->string, "drop_ratio") == 0 && v <= 1)
			f.drop_ratio = v;
		else if (strcmp(e->string, "latency_ms") == 0 && v <= 600000)
			f.latency_ms = (unsigned)v;
		else if (strcmp(e->string, "rate_limit") == 0 && v <= 1e9)
			f.rate_limit = (unsigned)v;
		else if (strcmp(e->string, "rate_period") == 0 && v >= 1 && v <= 86400)
			f.rate_period = (unsigned)v;
		else {
			snprintf(err, errlen, "unknown field or value out of range: %s", e->string);
			return -1;
		}
	}
	int window_changed = f.rate_limit != s->faults.rate_limit || f.rate_period != s->faults.rate_period;
	s->faults = f;
	if (window_changed) {
		s->window_start_ms = uv_now(s->loop);
		s->window_count = 0;
	}
	return 0;
}

static void handle_sim(struct cg_sim *s, struct cg_http_request *req)
{
	const char *p = req->path + 5; /* after "/_sim" */
	int get = strcmp(req->method, "GET") == 0, post = strcmp(req->method, "POST") == 0;
	if (strcmp(p, "/cases") == 0 && get) {
		answer_doc(s, req, 200, cg_sim_dump_cases(s));
	} else if (strcmp(p, "/stats") == 0 && get) {
		cJSON *o = cJSON_CreateObject();
		if (o) {
			cJSON_AddNumberToObject(o, "total", (double)s->total);
			cJSON_AddNumberToObject(o, "rejected_429", (double)s->rejected_429);
			cJSON_AddNumberToObject(o, "injected_5xx", (double)s->injected_5xx);
			cJSON_AddNumberToObject(o, "dropped", (double)s->dropped);
			cJSON_AddNumberToObject(o, "auth_failed", (double)s->auth_failed);
			cJSON_AddNumberToObject(o, "cases", (double)s->ncases);
			cJSON_AddItemToObject(o, "by_operation", cJSON_Duplicate(s->by_operation, 1));
			cJSON_AddItemToObject(o, "by_status", cJSON_Duplicate(s->by_status, 1));
		}
		answer_doc(s, req, 200, o);
	} else if (strcmp(p, "/faults") == 0 && (get || post)) {
		if (post) {
			char err[160];
			cJSON *in = cJSON_ParseWithLength(req->body, req->body_len);
			int rc = set_faults(s, in, err, sizeof(err));
			cJSON_Delete(in);
			if (rc) {
				cg_http_respond_error(req, 400, err);
				return;
			}
		}
		answer_doc(s, req, 200, faults_json(s));
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

void cg_sim_handle(struct cg_http_request *req, void *ud)
{
	struct cg_sim *s = ud;
	if (strncmp(req->path, "/_sim/", 6) == 0)
		handle_sim(s, req);
	else
		handle_api(s, req);
}
