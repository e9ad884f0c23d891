/* sim_model.c: casegate-sim's in-memory cases and projects, and the Datadog operations on them. */
#define _POSIX_C_SOURCE 200809L
#include "sim.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "err.h"

/* ---- small helpers ---- */

uint64_t cg_sim_rand(uint64_t *state)
{
	/* splitmix64: tiny, good enough, and reproducible for a given --seed */
	uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

double cg_sim_rand01(uint64_t *state)
{
	return (double)(cg_sim_rand(state) >> 11) / (double)(1ULL << 53);
}

void cg_sim_uuid(struct cg_sim *s, char out[37])
{
	uint8_t b[16];
	uint64_t a = cg_sim_rand(&s->id_rng), c = cg_sim_rand(&s->id_rng);
	for (int i = 0; i < 8; i++) {
		b[i] = (uint8_t)(a >> (8 * i));
		b[8 + i] = (uint8_t)(c >> (8 * i));
	}
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
		 b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

void cg_sim_now_iso(char out[32])
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	char day[20];
	if (strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		day[0] = '\0';
	snprintf(out, 32, "%s.%03uZ", day, (unsigned)(ts.tv_nsec / 1000000) % 1000u);
}

uint64_t cg_sim_mono_ms(void)
{
	return uv_hrtime() / 1000000u;
}

uint64_t cg_sim_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int is_uuid(const char *s)
{
	if (strlen(s) != 36)
		return 0;
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!isxdigit((unsigned char)s[i])) {
			return 0;
		}
	}
	return 1;
}

/* Case-insensitive substring search (strcasestr is a GNU extension). */
static int contains_ci(const char *hay, const char *needle)
{
	size_t n = strlen(needle);
	if (n == 0)
		return 1;
	for (; *hay; hay++) {
		size_t i = 0;
		while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
			i++;
		if (i == n)
			return 1;
	}
	return 0;
}

static int eq_ci(const char *a, const char *b)
{
	for (; *a && *b; a++, b++)
		if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
			return 0;
	return *a == *b;
}

static int fail(struct cg_sim_call *c, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct cg_sim_call *c, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	return status;
}

/* Replaces or adds a string member; 0 or CG_ENOMEM. */
static int set_str(cJSON *obj, const char *name, const char *value)
{
	cJSON *v = cJSON_CreateString(value);
	if (!v)
		return CG_ENOMEM;
	if (cJSON_HasObjectItem(obj, name))
		cJSON_ReplaceItemInObjectCaseSensitive(obj, name, v);
	else
		cJSON_AddItemToObject(obj, name, v);
	return 0;
}

static int set_item(cJSON *obj, const char *name, cJSON *v)
{
	if (!v)
		return CG_ENOMEM;
	if (cJSON_HasObjectItem(obj, name))
		cJSON_ReplaceItemInObjectCaseSensitive(obj, name, v);
	else
		cJSON_AddItemToObject(obj, name, v);
	return 0;
}

static const char *str_of(const cJSON *obj, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static cJSON *attrs_of(struct cg_sim_case *cs)
{
	return cJSON_GetObjectItemCaseSensitive(cs->data, "attributes");
}

static int add_event(struct cg_sim_case *cs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int add_event(struct cg_sim_case *cs, const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	cJSON *v = cJSON_CreateString(buf);
	if (!v)
		return CG_ENOMEM;
	cJSON_AddItemToArray(cs->events, v);
	return 0;
}

static void touch(struct cg_sim_case *cs)
{
	char now[32];
	cg_sim_now_iso(now);
	set_str(attrs_of(cs), "modified_at", now);
}

/* ---- state ---- */

int cg_sim_init(struct cg_sim *s, uv_loop_t *loop, uint64_t seed)
{
	memset(s, 0, sizeof(*s));
	s->loop = loop;
	s->fault_rng = seed;
	s->id_rng = seed ^ 0xA5A5A5A5DEADBEEFULL;
	s->faults.rate_period = 60;
	s->by_operation = cJSON_CreateObject();
	s->by_status = cJSON_CreateObject();
	s->bucket_stats = cJSON_CreateObject();
	if (!s->by_operation || !s->by_status || !s->bucket_stats)
		goto fail;
	if (cg_sim_types_init(s) != 0)
		goto fail;
	if (cg_sim_add_project(s, CG_SIM_DEFAULT_PROJECT_KEY, CG_SIM_DEFAULT_PROJECT_ID, "Demo") != 0)
		goto fail;
	if (cg_sim_extra_init(s) != 0)
		goto fail;
	return 0;
fail:
	cg_sim_cleanup(s);
	return CG_ENOMEM;
}

static void free_cases(struct cg_sim *s)
{
	for (size_t i = 0; i < s->ncases; i++) {
		cJSON_Delete(s->cases[i].data);
		cJSON_Delete(s->cases[i].comments);
		cJSON_Delete(s->cases[i].events);
	}
	s->ncases = 0;
}

void cg_sim_cleanup(struct cg_sim *s)
{
	if (!s)
		return;
	free_cases(s);
	cg_sim_extra_cleanup(s);
	free(s->cases);
	free(s->projects);
	cg_sim_types_cleanup(s);
	cJSON_Delete(s->by_operation);
	cJSON_Delete(s->by_status);
	cJSON_Delete(s->bucket_stats);
	free(s->api_key);
	free(s->app_key);
	free(s->state_path);
	if (s->request_log)
		fclose(s->request_log);
	memset(s, 0, sizeof(*s));
}

void cg_sim_reset(struct cg_sim *s)
{
	free_cases(s);
	cg_sim_extra_reset(s);
	for (size_t i = 0; i < s->nprojects; i++)
		s->projects[i].next_number = 1;
	cJSON *a = cJSON_CreateObject(), *b = cJSON_CreateObject(), *bs = cJSON_CreateObject();
	if (a && b && bs) {
		cJSON_Delete(s->by_operation);
		cJSON_Delete(s->by_status);
		cJSON_Delete(s->bucket_stats);
		s->by_operation = a;
		s->by_status = b;
		s->bucket_stats = bs;
	} else {
		cJSON_Delete(a);
		cJSON_Delete(b);
		cJSON_Delete(bs);
	}
	s->total = s->rejected_429 = s->injected_5xx = s->dropped = s->auth_failed = s->outage_requests = 0;
	for (size_t i = 0; i < s->faults.nbuckets; i++) {
		s->faults.buckets[i].count = s->faults.buckets[i].win_429 = 0;
		s->faults.buckets[i].window = 0;
	}
}

static int valid_project_key(const char *key)
{
	size_t n = strlen(key);
	if (n == 0 || n >= sizeof(((struct cg_sim_project *)0)->key))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isupper((unsigned char)key[i]) && !isdigit((unsigned char)key[i]))
			return 0;
	return 1;
}

int cg_sim_add_project(struct cg_sim *s, const char *key, const char *id, const char *name)
{
	if (!valid_project_key(key) || !is_uuid(id) || strlen(name) >= sizeof(s->projects[0].name))
		return CG_EINVAL;
	for (size_t i = 0; i < s->nprojects; i++)
		if (strcmp(s->projects[i].key, key) == 0 || eq_ci(s->projects[i].id, id))
			return CG_EEXIST;
	if (s->nprojects == s->cap_projects) {
		size_t cap = s->cap_projects ? s->cap_projects * 2 : 4;
		struct cg_sim_project *p = realloc(s->projects, cap * sizeof(*p));
		if (!p)
			return CG_ENOMEM;
		s->projects = p;
		s->cap_projects = cap;
	}
	struct cg_sim_project *p = &s->projects[s->nprojects++];
	memset(p, 0, sizeof(*p));
	snprintf(p->id, sizeof(p->id), "%s", id);
	for (char *q = p->id; *q; q++)
		*q = (char)tolower((unsigned char)*q);
	snprintf(p->key, sizeof(p->key), "%s", key);
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->next_number = 1;
	return 0;
}

struct cg_sim_project *cg_sim_find_project(struct cg_sim *s, const char *id)
{
	for (size_t i = 0; i < s->nprojects; i++)
		if (eq_ci(s->projects[i].id, id))
			return &s->projects[i];
	return NULL;
}

struct cg_sim_case *cg_sim_find_case(struct cg_sim *s, const char *id_or_key)
{
	for (size_t i = 0; i < s->ncases; i++) {
		if (s->cases[i].deleted)
			continue;
		const char *key = str_of(attrs_of(&s->cases[i]), "key");
		if (eq_ci(str_of(s->cases[i].data, "id"), id_or_key) || (key && strcmp(key, id_or_key) == 0))
			return &s->cases[i];
	}
	return NULL;
}

/* ---- validation ---- */

struct status_def {
	const char *name, *legacy, *group;
};
static const struct status_def statuses[] = {
	{"Open", "OPEN", "SG_OPEN"},
	{"In Progress", "IN_PROGRESS", "SG_IN_PROGRESS"},
	{"Closed", "CLOSED", "SG_CLOSED"},
};

static const struct status_def *status_by_name(const char *name)
{
	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
		if (strcmp(statuses[i].name, name) == 0)
			return &statuses[i];
	return NULL;
}

static const struct status_def *status_by_legacy(const char *legacy)
{
	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
		if (strcmp(statuses[i].legacy, legacy) == 0)
			return &statuses[i];
	return NULL;
}

static const char *const priorities[] = {"NOT_DEFINED", "P1", "P2", "P3", "P4", "P5"};

static int priority_rank(const char *p)
{
	for (int i = 1; i < 6; i++)
		if (p && strcmp(p, priorities[i]) == 0)
			return i;
	return 6; /* NOT_DEFINED sorts last */
}

static int valid_priority(const char *p)
{
	for (size_t i = 0; i < 6; i++)
		if (strcmp(p, priorities[i]) == 0)
			return 1;
	return 0;
}

/*
 * Checks the JSON:API envelope shared by every case write: {"data":{"type":"case",
 * "attributes":{...}}}. *attrs is set when need_attrs.
 */
static int check_envelope(struct cg_sim_call *c, const char *rtype, int need_attrs, const cJSON **data,
			  const cJSON **attrs)
{
	if (!cJSON_IsObject(c->body))
		return fail(c, 400, "request body must be a JSON object");
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(c->body, "data");
	if (!d)
		return fail(c, 400, "data is required");
	if (!cJSON_IsObject(d))
		return fail(c, 400, "data must be an object");
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(d, "type");
	if (!t)
		return fail(c, 400, "data.type is required");
	if (!cJSON_IsString(t) || strcmp(t->valuestring, rtype) != 0)
		return fail(c, 400, "data.type must be \"%s\"", rtype);
	if (need_attrs) {
		const cJSON *a = cJSON_GetObjectItemCaseSensitive(d, "attributes");
		if (!a)
			return fail(c, 400, "data.attributes is required");
		if (!cJSON_IsObject(a))
			return fail(c, 400, "data.attributes must be an object");
		*attrs = a;
	}
	if (data)
		*data = d;
	return 0;
}

/* Validates one CustomAttributeValue ({type,is_multi,value}); where names it in messages. */
static int check_custom_value(struct cg_sim_call *c, const cJSON *v, const char *where)
{
	if (!cJSON_IsObject(v))
		return fail(c, 400, "%s must be an object", where);
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(v, "type");
	const cJSON *multi = cJSON_GetObjectItemCaseSensitive(v, "is_multi");
	const cJSON *val = cJSON_GetObjectItemCaseSensitive(v, "value");
	if (!type)
		return fail(c, 400, "%s.type is required", where);
	if (!cJSON_IsString(type) ||
	    (strcmp(type->valuestring, "URL") != 0 && strcmp(type->valuestring, "TEXT") != 0 &&
	     strcmp(type->valuestring, "NUMBER") != 0 && strcmp(type->valuestring, "SELECT") != 0))
		return fail(c, 400, "%s.type must be one of URL, TEXT, NUMBER, SELECT", where);
	if (!multi)
		return fail(c, 400, "%s.is_multi is required", where);
	if (!cJSON_IsBool(multi))
		return fail(c, 400, "%s.is_multi must be a boolean", where);
	if (!val)
		return fail(c, 400, "%s.value is required", where);
	int number = strcmp(type->valuestring, "NUMBER") == 0;
	const char *want = number ? "number" : "string";
	if (cJSON_IsTrue(multi)) {
		if (!cJSON_IsArray(val))
			return fail(c, 400, "%s.value must be an array when is_multi is true", where);
		const cJSON *e;
		cJSON_ArrayForEach(e, val)
		{
			if (number ? !cJSON_IsNumber(e) : !cJSON_IsString(e))
				return fail(c, 400, "%s.value items must be %ss for type %s", where, want,
					    type->valuestring);
		}
	} else {
		if (cJSON_IsArray(val))
			return fail(c, 400, "%s.value must not be an array when is_multi is false", where);
		if (number ? !cJSON_IsNumber(val) : !cJSON_IsString(val))
			return fail(c, 400, "%s.value must be a %s for type %s", where, want, type->valuestring);
	}
	return 0;
}

/* Validates {"k":["v",...]} (CaseObjectAttributes). */
static int check_object_attributes(struct cg_sim_call *c, const cJSON *a, const char *where)
{
	if (!cJSON_IsObject(a))
		return fail(c, 400, "%s must be an object", where);
	const cJSON *e;
	cJSON_ArrayForEach(e, a)
	{
		if (!cJSON_IsArray(e))
			return fail(c, 400, "%s.%s must be an array of strings", where, e->string);
		const cJSON *x;
		cJSON_ArrayForEach(x, e)
		{
			if (!cJSON_IsString(x))
				return fail(c, 400, "%s.%s must be an array of strings", where, e->string);
		}
	}
	return 0;
}

static int find_or_404(struct cg_sim_call *c, struct cg_sim_case **out)
{
	*out = c->case_id ? cg_sim_find_case(c->sim, c->case_id) : NULL;
	if (!*out)
		return fail(c, 404, "case not found"); /* Datadog's words (recorded) */
	return 0;
}

static int answer_case(struct cg_sim_call *c, struct cg_sim_case *cs, int status)
{
	cJSON *doc = cJSON_CreateObject();
	cJSON *dup = cJSON_Duplicate(cs->data, 1);
	if (!doc || !dup) {
		cJSON_Delete(doc);
		cJSON_Delete(dup);
		return fail(c, 500, "out of memory");
	}
	cJSON_AddItemToObject(doc, "data", dup);
	c->out = doc;
	return status;
}

static void apply_status(struct cg_sim_case *cs, const struct status_def *st)
{
	cJSON *a = attrs_of(cs);
	const char *old = str_of(a, "status_group");
	int was_closed = old && strcmp(old, "SG_CLOSED") == 0;
	set_str(a, "status_name", st->name);
	set_str(a, "status", st->legacy);
	set_str(a, "status_group", st->group);
	if (strcmp(st->group, "SG_CLOSED") == 0) {
		if (!was_closed) {
			char now[32];
			cg_sim_now_iso(now);
			set_str(a, "closed_at", now);
		}
	} else {
		cJSON_DeleteItemFromObjectCaseSensitive(a, "closed_at");
	}
}

static cJSON *relationship(const char *id, const char *type)
{
	cJSON *r = cJSON_CreateObject();
	cJSON *d = cJSON_AddObjectToObject(r, "data");
	if (!d || !cJSON_AddStringToObject(d, "id", id) || !cJSON_AddStringToObject(d, "type", type)) {
		cJSON_Delete(r);
		return NULL;
	}
	return r;
}

/* ---- operations ---- */

int cg_sim_op_create_case(struct cg_sim_call *c)
{
	struct cg_sim *s = c->sim;
	const cJSON *data, *a;
	int rc = check_envelope(c, "case", 1, &data, &a);
	if (rc)
		return rc;

	const cJSON *title = cJSON_GetObjectItemCaseSensitive(a, "title");
	if (!title)
		return fail(c, 400, "data.attributes.title is required");
	if (!cJSON_IsString(title))
		return fail(c, 400, "data.attributes.title must be a string");
	if (title->valuestring[0] == '\0')
		return fail(c, 400, "data.attributes.title must not be empty");
	const cJSON *type_id = cJSON_GetObjectItemCaseSensitive(a, "type_id");
	if (!type_id)
		return fail(c, 400, "data.attributes.type_id is required");
	if (!cJSON_IsString(type_id) || !is_uuid(type_id->valuestring))
		return fail(c, 400, "data.attributes.type_id must be a UUID string");
	const cJSON *desc = cJSON_GetObjectItemCaseSensitive(a, "description");
	if (desc && !cJSON_IsString(desc))
		return fail(c, 400, "data.attributes.description must be a string");
	const cJSON *prio = cJSON_GetObjectItemCaseSensitive(a, "priority");
	if (prio && (!cJSON_IsString(prio) || !valid_priority(prio->valuestring)))
		return fail(c, 400, "data.attributes.priority must be one of NOT_DEFINED, P1, P2, P3, P4, P5");
	const struct status_def *st = &statuses[0];
	const cJSON *sn = cJSON_GetObjectItemCaseSensitive(a, "status_name");
	if (sn) {
		if (!cJSON_IsString(sn) || !(st = status_by_name(sn->valuestring)))
			return fail(c, 400, "data.attributes.status_name must be one of Open, In Progress, Closed");
	}
	const cJSON *ca = cJSON_GetObjectItemCaseSensitive(a, "custom_attributes");
	if (ca) {
		if (!cJSON_IsObject(ca))
			return fail(c, 400, "data.attributes.custom_attributes must be an object");
		const cJSON *e;
		cJSON_ArrayForEach(e, ca)
		{
			char where[160];
			snprintf(where, sizeof(where), "data.attributes.custom_attributes.%s", e->string);
			if ((rc = check_custom_value(c, e, where)) != 0)
				return rc;
		}
	}
	/* Well-formed values, then what Datadog checks next: do they fit the case type? */
	if ((rc = cg_sim_types_check(c, type_id->valuestring, NULL, NULL, 0)) != 0)
		return rc;
	if (ca) {
		const cJSON *e;
		cJSON_ArrayForEach(e, ca)
		{
			if ((rc = cg_sim_types_check(c, type_id->valuestring, e->string, e, 0)) != 0)
				return rc;
		}
	}
	const cJSON *oa = cJSON_GetObjectItemCaseSensitive(a, "attributes");
	if (oa && (rc = check_object_attributes(c, oa, "data.attributes.attributes")) != 0)
		return rc;

	/* The seed marks relationships optional, but a case needs a project for its key. */
	const cJSON *rel = cJSON_GetObjectItemCaseSensitive(data, "relationships");
	if (!rel)
		return fail(c, 400, "data.relationships.project is required");
	if (!cJSON_IsObject(rel))
		return fail(c, 400, "data.relationships must be an object");
	const cJSON *proj = cJSON_GetObjectItemCaseSensitive(rel, "project");
	if (!proj)
		return fail(c, 400, "data.relationships.project is required");
	const cJSON *pd = cJSON_IsObject(proj) ? cJSON_GetObjectItemCaseSensitive(proj, "data") : NULL;
	if (!cJSON_IsObject(pd))
		return fail(c, 400, "data.relationships.project.data is required");
	const cJSON *pid = cJSON_GetObjectItemCaseSensitive(pd, "id");
	const cJSON *ptype = cJSON_GetObjectItemCaseSensitive(pd, "type");
	if (!cJSON_IsString(pid))
		return fail(c, 400, "data.relationships.project.data.id is required");
	if (!cJSON_IsString(ptype) || strcmp(ptype->valuestring, "project") != 0)
		return fail(c, 400, "data.relationships.project.data.type must be \"project\"");
	const char *assignee = NULL;
	const cJSON *as = cJSON_GetObjectItemCaseSensitive(rel, "assignee");
	if (as && !cJSON_IsNull(as)) {
		const cJSON *ad = cJSON_IsObject(as) ? cJSON_GetObjectItemCaseSensitive(as, "data") : NULL;
		if (!cJSON_IsObject(ad) && !cJSON_IsNull(ad))
			return fail(c, 400, "data.relationships.assignee.data is required");
		if (cJSON_IsObject(ad)) {
			const cJSON *aid = cJSON_GetObjectItemCaseSensitive(ad, "id");
			const cJSON *atype = cJSON_GetObjectItemCaseSensitive(ad, "type");
			if (!cJSON_IsString(aid))
				return fail(c, 400, "data.relationships.assignee.data.id is required");
			if (!cJSON_IsString(atype) || strcmp(atype->valuestring, "user") != 0)
				return fail(c, 400, "data.relationships.assignee.data.type must be \"user\"");
			assignee = aid->valuestring;
		}
	}
	struct cg_sim_project *p = cg_sim_find_project(s, pid->valuestring);
	if (!p)
		return fail(c, 404, "Project not found");

	if (s->ncases == s->cap_cases) {
		size_t cap = s->cap_cases ? s->cap_cases * 2 : 16;
		struct cg_sim_case *n = realloc(s->cases, cap * sizeof(*n));
		if (!n)
			return fail(c, 500, "out of memory");
		s->cases = n;
		s->cap_cases = cap;
	}

	char id[37], key[64], now[32];
	cg_sim_uuid(s, id);
	snprintf(key, sizeof(key), "%s-%lu", p->key, p->next_number);
	cg_sim_now_iso(now);

	struct cg_sim_case cs = {cJSON_CreateObject(), cJSON_CreateArray(), cJSON_CreateArray(), s->next_seq,
				 cg_sim_mono_ms(), 0};
	cJSON *at = NULL, *rels = NULL;
	if (!cs.data || !cs.comments || !cs.events)
		goto nomem;
	if (!cJSON_AddStringToObject(cs.data, "id", id) || !cJSON_AddStringToObject(cs.data, "type", "case") ||
	    !(at = cJSON_AddObjectToObject(cs.data, "attributes")) ||
	    !(rels = cJSON_AddObjectToObject(cs.data, "relationships")))
		goto nomem;
	cJSON *ca_out = ca ? cJSON_Duplicate(ca, 1) : cJSON_CreateObject();
	cJSON *oa_out = oa ? cJSON_Duplicate(oa, 1) : cJSON_CreateObject();
	if (!ca_out || !oa_out) {
		cJSON_Delete(ca_out);
		cJSON_Delete(oa_out);
		goto nomem;
	}
	cJSON_AddItemToObject(at, "attributes", oa_out);
	cJSON_AddItemToObject(at, "custom_attributes", ca_out);
	if (!cJSON_AddStringToObject(at, "created_at", now) ||
	    !cJSON_AddStringToObject(at, "description", desc ? desc->valuestring : "") ||
	    !cJSON_AddStringToObject(at, "key", key) || !cJSON_AddStringToObject(at, "modified_at", now) ||
	    !cJSON_AddStringToObject(at, "priority", prio ? prio->valuestring : "NOT_DEFINED") ||
	    !cJSON_AddStringToObject(at, "title", title->valuestring) ||
	    !cJSON_AddStringToObject(at, "type_id", type_id->valuestring))
		goto nomem;
	if (set_item(rels, "project", relationship(p->id, "project")) != 0)
		goto nomem;
	if (assignee && set_item(rels, "assignee", relationship(assignee, "user")) != 0)
		goto nomem;
	s->cases[s->ncases] = cs;
	struct cg_sim_case *stored = &s->cases[s->ncases];
	apply_status(stored, st);
	s->ncases++;
	s->next_seq++;
	p->next_number++;
	add_event(stored, "create");
	return answer_case(c, stored, 201);
nomem:
	cJSON_Delete(cs.data);
	cJSON_Delete(cs.comments);
	cJSON_Delete(cs.events);
	return fail(c, 500, "out of memory");
}

int cg_sim_op_get_case(struct cg_sim_call *c)
{
	struct cg_sim_case *cs;
	int rc = find_or_404(c, &cs);
	return rc ? rc : answer_case(c, cs, 200);
}

/* 1 when word is one whole token of text (tokens: runs of letters and digits, case-insensitive). */
static int has_token(const char *text, const char *word)
{
	size_t wl = strlen(word);
	for (const char *p = text; p && *p;) {
		while (*p && !isalnum((unsigned char)*p))
			p++;
		const char *q = p;
		while (*q && isalnum((unsigned char)*q))
			q++;
		if ((size_t)(q - p) == wl && strncasecmp(p, word, wl) == 0)
			return 1;
		p = q;
	}
	return 0;
}

/* Free text as the search engine of faults.search_text sees it. */
static int text_match(struct cg_sim *s, const char *text, const char *filter)
{
	if (!text)
		return 0;
	switch (s->faults.search_text) {
	case 1: return has_token(text, filter);
	case 2: return 0;
	default: return contains_ci(text, filter);
	}
}

static int filter_match(struct cg_sim *s, struct cg_sim_case *cs, const char *filter)
{
	cJSON *a = attrs_of(cs);
	const char *key = str_of(a, "key"), *title = str_of(a, "title"), *desc = str_of(a, "description");
	if (!filter || !*filter)
		return 1;
	if (strncmp(filter, "key:", 4) == 0)
		return key && eq_ci(key, filter + 4);
	/* name:value on a custom attribute the case carries: its value (or one of them), exactly. */
	const char *colon = strchr(filter, ':');
	if (colon && colon > filter) {
		char name[128];
		size_t nl = (size_t)(colon - filter);
		if (nl < sizeof(name)) {
			memcpy(name, filter, nl);
			name[nl] = '\0';
			const cJSON *ca = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(a, "custom_attributes"),
									   name);
			if (ca) {
				const cJSON *v = cJSON_GetObjectItemCaseSensitive(ca, "value"), *e;
				if (cJSON_IsString(v))
					return strcmp(v->valuestring, colon + 1) == 0;
				cJSON_ArrayForEach(e, v)
				{
					if (cJSON_IsString(e) && strcmp(e->valuestring, colon + 1) == 0)
						return 1;
				}
				return 0;
			}
		}
	}
	return text_match(s, title, filter) || text_match(s, desc, filter) || (key && contains_ci(key, filter));
}

static int status_rank(struct cg_sim_case *cs)
{
	const char *g = str_of(attrs_of(cs), "status_group");
	if (!g || strcmp(g, "SG_OPEN") == 0)
		return 0;
	return strcmp(g, "SG_IN_PROGRESS") == 0 ? 1 : 2;
}

static int cmp_created(const void *x, const void *y)
{
	const struct cg_sim_case *a = *(struct cg_sim_case *const *)x, *b = *(struct cg_sim_case *const *)y;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static int cmp_priority(const void *x, const void *y)
{
	struct cg_sim_case *a = *(struct cg_sim_case *const *)x, *b = *(struct cg_sim_case *const *)y;
	int ra = priority_rank(str_of(attrs_of(a), "priority")), rb = priority_rank(str_of(attrs_of(b), "priority"));
	return ra != rb ? (ra < rb ? -1 : 1) : cmp_created(x, y);
}

static int cmp_status(const void *x, const void *y)
{
	struct cg_sim_case *a = *(struct cg_sim_case *const *)x, *b = *(struct cg_sim_case *const *)y;
	int ra = status_rank(a), rb = status_rank(b);
	return ra != rb ? (ra < rb ? -1 : 1) : cmp_created(x, y);
}

int cg_sim_op_search_cases(struct cg_sim_call *c)
{
	struct cg_sim *s = c->sim;
	if (c->page_size < 1 || c->page_size > 100)
		return fail(c, 400, "page[size] must be between 1 and 100");
	if (c->page_number < 0)
		return fail(c, 400, "page[number] must not be negative");
	int (*cmp)(const void *, const void *) = cmp_created;
	if (c->sort_field && *c->sort_field) {
		if (strcmp(c->sort_field, "priority") == 0)
			cmp = cmp_priority;
		else if (strcmp(c->sort_field, "status") == 0)
			cmp = cmp_status;
		else if (strcmp(c->sort_field, "created_at") != 0)
			return fail(c, 400, "sort[field] must be one of created_at, priority, status");
	}
	struct cg_sim_case **hits = calloc(s->ncases ? s->ncases : 1, sizeof(*hits));
	if (!hits)
		return fail(c, 500, "out of memory");
	size_t n = 0;
	uint64_t now = cg_sim_mono_ms();
	for (size_t i = 0; i < s->ncases; i++) {
		struct cg_sim_case *cs = &s->cases[i];
		/* Search reads an index that trails the primary store, and leaves archived cases out. */
		if (cs->deleted || now - cs->created_ms < s->faults.search_lag_ms)
			continue;
		if (!s->faults.search_archived && cJSON_HasObjectItem(attrs_of(cs), "archived_at"))
			continue;
		if (filter_match(s, cs, c->query_filter))
			hits[n++] = cs;
	}
	qsort(hits, n, sizeof(*hits), cmp);
	if (!c->sort_asc) /* Datadog's default is descending */
		for (size_t i = 0; i < n / 2; i++) {
			struct cg_sim_case *t = hits[i];
			hits[i] = hits[n - 1 - i];
			hits[n - 1 - i] = t;
		}
	/* page[number] defaults to 0 in the spec; 0 and 1 both mean the first page. */
	long page = c->page_number < 1 ? 1 : c->page_number;
	size_t from = (size_t)(page - 1) * (size_t)c->page_size;
	cJSON *doc = cJSON_CreateObject();
	cJSON *arr = cJSON_AddArrayToObject(doc, "data");
	cJSON *meta = cJSON_AddObjectToObject(doc, "meta");
	cJSON *pg = cJSON_AddObjectToObject(meta, "page");
	if (!pg)
		goto nomem;
	long count = 0;
	for (size_t i = from; i < n && count < c->page_size; i++, count++) {
		cJSON *dup = cJSON_Duplicate(hits[i]->data, 1);
		if (!dup)
			goto nomem;
		cJSON_AddItemToArray(arr, dup);
	}
	if (!cJSON_AddNumberToObject(pg, "current", (double)page) || !cJSON_AddNumberToObject(pg, "size", (double)count) ||
	    !cJSON_AddNumberToObject(pg, "total", (double)((n + (size_t)c->page_size - 1) / (size_t)c->page_size)))
		goto nomem;
	free(hits);
	c->out = doc;
	return 200;
nomem:
	free(hits);
	cJSON_Delete(doc);
	return fail(c, 500, "out of memory");
}

int cg_sim_op_update_status(struct cg_sim_call *c)
{
	const cJSON *a;
	struct cg_sim_case *cs;
	int rc = check_envelope(c, "case", 1, NULL, &a);
	if (rc || (rc = find_or_404(c, &cs)))
		return rc;
	const cJSON *sn = cJSON_GetObjectItemCaseSensitive(a, "status_name");
	const cJSON *legacy = cJSON_GetObjectItemCaseSensitive(a, "status");
	const struct status_def *st = NULL;
	if (sn) {
		if (!cJSON_IsString(sn) || !(st = status_by_name(sn->valuestring)))
			return fail(c, 400, "data.attributes.status_name must be one of Open, In Progress, Closed");
	} else if (legacy) {
		if (!cJSON_IsString(legacy) || !(st = status_by_legacy(legacy->valuestring)))
			return fail(c, 400, "data.attributes.status must be one of OPEN, IN_PROGRESS, CLOSED");
	} else {
		return fail(c, 400, "data.attributes.status_name is required");
	}
	apply_status(cs, st);
	touch(cs);
	add_event(cs, "status:%s", st->name);
	return answer_case(c, cs, 200);
}

int cg_sim_op_update_priority(struct cg_sim_call *c)
{
	const cJSON *a;
	struct cg_sim_case *cs;
	int rc = check_envelope(c, "case", 1, NULL, &a);
	if (rc || (rc = find_or_404(c, &cs)))
		return rc;
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(a, "priority");
	if (!p)
		return fail(c, 400, "data.attributes.priority is required");
	if (!cJSON_IsString(p) || !valid_priority(p->valuestring))
		return fail(c, 400, "data.attributes.priority must be one of NOT_DEFINED, P1, P2, P3, P4, P5");
	set_str(attrs_of(cs), "priority", p->valuestring);
	touch(cs);
	add_event(cs, "priority:%s", p->valuestring);
	return answer_case(c, cs, 200);
}

static int update_text(struct cg_sim_call *c, const char *field, int allow_empty)
{
	const cJSON *a;
	struct cg_sim_case *cs;
	int rc = check_envelope(c, "case", 1, NULL, &a);
	if (rc || (rc = find_or_404(c, &cs)))
		return rc;
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(a, field);
	if (!v)
		return fail(c, 400, "data.attributes.%s is required", field);
	if (!cJSON_IsString(v))
		return fail(c, 400, "data.attributes.%s must be a string", field);
	if (!allow_empty && !v->valuestring[0])
		return fail(c, 400, "data.attributes.%s must not be empty", field);
	set_str(attrs_of(cs), field, v->valuestring);
	touch(cs);
	add_event(cs, "%s", field);
	return answer_case(c, cs, 200);
}

int cg_sim_op_update_title(struct cg_sim_call *c)
{
	return update_text(c, "title", 0);
}

int cg_sim_op_update_description(struct cg_sim_call *c)
{
	return update_text(c, "description", 1);
}

int cg_sim_op_assign(struct cg_sim_call *c)
{
	const cJSON *a;
	struct cg_sim_case *cs;
	int rc = check_envelope(c, "case", 1, NULL, &a);
	if (rc || (rc = find_or_404(c, &cs)))
		return rc;
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(a, "assignee_id");
	if (!id)
		return fail(c, 400, "data.attributes.assignee_id is required");
	if (!cJSON_IsString(id) || !id->valuestring[0])
		return fail(c, 400, "data.attributes.assignee_id must be a non-empty string");
	cJSON *rels = cJSON_GetObjectItemCaseSensitive(cs->data, "relationships");
	if (set_item(rels, "assignee", relationship(id->valuestring, "user")) != 0)
		return fail(c, 500, "out of memory");
	touch(cs);
	add_event(cs, "assign:%s", id->valuestring);
	return answer_case(c, cs, 200);
}

/* CaseEmptyRequest operations: unassign, archive, unarchive. */
static int empty_op(struct cg_sim_call *c, struct cg_sim_case **out)
{
	int rc = check_envelope(c, "case", 0, NULL, NULL);
	if (rc || (rc = find_or_404(c, out)))
		return rc;
	return 0;
}

int cg_sim_op_unassign(struct cg_sim_call *c)
{
	struct cg_sim_case *cs;
	int rc = empty_op(c, &cs);
	if (rc)
		return rc;
	cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(cs->data, "relationships"), "assignee");
	touch(cs);
	add_event(cs, "unassign");
	return answer_case(c, cs, 200);
}

int cg_sim_op_archive(struct cg_sim_call *c)
{
	struct cg_sim_case *cs;
	int rc = empty_op(c, &cs);
	if (rc)
		return rc;
	char now[32];
	cg_sim_now_iso(now);
	if (!cJSON_HasObjectItem(attrs_of(cs), "archived_at"))
		set_str(attrs_of(cs), "archived_at", now);
	touch(cs);
	add_event(cs, "archive");
	return answer_case(c, cs, 200);
}

int cg_sim_op_unarchive(struct cg_sim_call *c)
{
	struct cg_sim_case *cs;
	int rc = empty_op(c, &cs);
	if (rc)
		return rc;
	cJSON_DeleteItemFromObjectCaseSensitive(attrs_of(cs), "archived_at");
	touch(cs);
	add_event(cs, "unarchive");
	return answer_case(c, cs, 200);
}

int cg_sim_op_update_attributes(struct cg_sim_call *c)
{
	const cJSON *a;
	struct cg_sim_case *cs;
	int rc = check_envelope(c, "case", 1, NULL, &a);
	if (rc || (rc = find_or_404(c, &cs)))
		return rc;
	const cJSON *oa = cJSON_GetObjectItemCaseSensitive(a, "attributes");
	if (!oa)
		return fail(c, 400, "data.attributes.attributes is required");
	if ((rc = check_object_attributes(c, oa, "data.attributes.attributes")) != 0)
		return rc;
	/* The whole map is replaced: that is what the endpoint's "update" does. */
	if (set_item(attrs_of(cs), "attributes", cJSON_Duplicate(oa, 1)) != 0)
		return fail(c, 500, "out of memory");
	touch(cs);
	add_event(cs, "attributes");
	return answer_case(c, cs, 200);
}

int cg_sim_op_comment(struct cg_sim_call *c)
{
	struct cg_sim *s = c->sim;
	const cJSON *a;
	struct cg_sim_case *cs;
	int rc = check_envelope(c, "case", 1, NULL, &a);
	if (rc || (rc = find_or_404(c, &cs)))
		return rc;
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(a, "comment");
	if (!m)
		return fail(c, 400, "data.attributes.comment is required");
	if (!cJSON_IsString(m))
		return fail(c, 400, "data.attributes.comment must be a string");
	if (!m->valuestring[0])
		return fail(c, 400, "data.attributes.comment must not be empty");
	char now[32], cell_id[37];
	cg_sim_now_iso(now);
	cg_sim_uuid(s, cell_id);
	cJSON *rec = cJSON_CreateObject();
	if (!rec || !cJSON_AddStringToObject(rec, "comment", m->valuestring) ||
	    !cJSON_AddStringToObject(rec, "created_at", now) || !cJSON_AddStringToObject(rec, "cell_id", cell_id)) {
		cJSON_Delete(rec);
		return fail(c, 500, "out of memory");
	}
	/* TimelineResponse: {"data":[TimelineCellResource]} */
	cJSON *doc = cJSON_CreateObject();
	cJSON *arr = cJSON_AddArrayToObject(doc, "data");
	cJSON *cell = cJSON_CreateObject();
	cJSON_AddItemToArray(arr, cell);
	cJSON *ca = cJSON_AddObjectToObject(cell, "attributes");
	cJSON *content = cJSON_AddObjectToObject(ca, "cell_content");
	if (!content || !cJSON_AddStringToObject(content, "message", m->valuestring) ||
	    !cJSON_AddStringToObject(ca, "created_at", now) || !cJSON_AddStringToObject(ca, "modified_at", now) ||
	    !cJSON_AddStringToObject(ca, "type", "COMMENT") || !cJSON_AddStringToObject(cell, "id", cell_id) ||
	    !cJSON_AddStringToObject(cell, "type", "timeline_cell")) {
		cJSON_Delete(rec);
		cJSON_Delete(doc);
		return fail(c, 500, "out of memory");
	}
	cJSON_AddItemToArray(cs->comments, rec);
	touch(cs);
	add_event(cs, "comment");
	c->out = doc;
	return 200;
}

int cg_sim_op_update_custom_attribute(struct cg_sim_call *c)
{
	const cJSON *a;
	struct cg_sim_case *cs;
	int rc = check_envelope(c, "case", 1, NULL, &a);
	if (rc || (rc = find_or_404(c, &cs)))
		return rc;
	if (!c->param2 || !c->param2[0])
		return fail(c, 400, "custom_attribute_key is required");
	if ((rc = check_custom_value(c, a, "data.attributes")) != 0)
		return rc;
	if ((rc = cg_sim_types_check(c, str_of(attrs_of(cs), "type_id"), c->param2, a, 1)) != 0)
		return rc;
	cJSON *ca = cJSON_GetObjectItemCaseSensitive(attrs_of(cs), "custom_attributes");
	if (set_item(ca, c->param2, cJSON_Duplicate(a, 1)) != 0)
		return fail(c, 500, "out of memory");
	touch(cs);
	add_event(cs, "custom_attribute:%s", c->param2);
	return answer_case(c, cs, 200);
}

int cg_sim_op_delete_custom_attribute(struct cg_sim_call *c)
{
	struct cg_sim_case *cs;
	int rc = find_or_404(c, &cs);
	if (rc)
		return rc;
	cJSON *ca = cJSON_GetObjectItemCaseSensitive(attrs_of(cs), "custom_attributes");
	if (!c->param2 || !cJSON_HasObjectItem(ca, c->param2))
		return fail(c, 404, "Not Found");
	cJSON_DeleteItemFromObjectCaseSensitive(ca, c->param2);
	touch(cs);
	add_event(cs, "custom_attribute_delete:%s", c->param2);
	return answer_case(c, cs, 200);
}

static cJSON *project_json(const struct cg_sim_project *p)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *a = cJSON_AddObjectToObject(o, "attributes");
	if (!a || !cJSON_AddStringToObject(a, "key", p->key) || !cJSON_AddStringToObject(a, "name", p->name) ||
	    !cJSON_AddFalseToObject(a, "restricted") || !cJSON_AddStringToObject(o, "id", p->id) ||
	    !cJSON_AddStringToObject(o, "type", "project")) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

int cg_sim_op_get_projects(struct cg_sim_call *c)
{
	cJSON *doc = cJSON_CreateObject();
	cJSON *arr = cJSON_AddArrayToObject(doc, "data");
	if (!arr)
		goto nomem;
	for (size_t i = 0; i < c->sim->nprojects; i++) {
		cJSON *p = project_json(&c->sim->projects[i]);
		if (!p)
			goto nomem;
		cJSON_AddItemToArray(arr, p);
	}
	c->out = doc;
	return 200;
nomem:
	cJSON_Delete(doc);
	return fail(c, 500, "out of memory");
}

int cg_sim_op_get_project(struct cg_sim_call *c)
{
	struct cg_sim_project *p = c->param2 ? cg_sim_find_project(c->sim, c->param2) : NULL;
	if (!p)
		return fail(c, 404, "Not Found");
	cJSON *doc = cJSON_CreateObject();
	cJSON *pj = project_json(p);
	if (!doc || !pj) {
		cJSON_Delete(doc);
		cJSON_Delete(pj);
		return fail(c, 500, "out of memory");
	}
	cJSON_AddItemToObject(doc, "data", pj);
	c->out = doc;
	return 200;
}

int cg_sim_op_create_project(struct cg_sim_call *c)
{
	const cJSON *a;
	int rc = check_envelope(c, "project", 1, NULL, &a);
	if (rc)
		return rc;
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(a, "name");
	const cJSON *key = cJSON_GetObjectItemCaseSensitive(a, "key");
	if (!name)
		return fail(c, 400, "data.attributes.name is required");
	if (!cJSON_IsString(name) || !name->valuestring[0])
		return fail(c, 400, "data.attributes.name must be a non-empty string");
	if (!key)
		return fail(c, 400, "data.attributes.key is required");
	if (!cJSON_IsString(key) || !valid_project_key(key->valuestring))
		return fail(c, 400, "data.attributes.key must be 1-31 upper-case letters or digits");
	char id[37];
	cg_sim_uuid(c->sim, id);
	rc = cg_sim_add_project(c->sim, key->valuestring, id, name->valuestring);
	if (rc == CG_EEXIST)
		return fail(c, 409, "A project with key %s already exists", key->valuestring);
	if (rc == CG_EINVAL)
		return fail(c, 400, "data.attributes.name is too long");
	if (rc)
		return fail(c, 500, "out of memory");
	c->param2 = id;
	rc = cg_sim_op_get_project(c);
	c->param2 = NULL;
	return rc == 200 ? 201 : rc;
}

size_t cg_sim_live_cases(const struct cg_sim *s)
{
	size_t n = 0;
	for (size_t i = 0; i < s->ncases; i++)
		n += !s->cases[i].deleted;
	return n;
}

int cg_sim_human(struct cg_sim *s, const char *id_or_key, const char *action, cJSON **out, char *err, size_t errlen)
{
	struct cg_sim_case *cs = cg_sim_find_case(s, id_or_key);
	if (!cs) {
		snprintf(err, errlen, "no case %.80s", id_or_key);
		return 404;
	}
	cJSON *a = attrs_of(cs);
	if (strcmp(action, "close") == 0) {
		apply_status(cs, status_by_name("Closed"));
	} else if (strcmp(action, "reopen") == 0) {
		apply_status(cs, status_by_name("Open"));
	} else if (strcmp(action, "archive") == 0) {
		char now[32];
		cg_sim_now_iso(now);
		if (!cJSON_HasObjectItem(a, "archived_at") && set_str(a, "archived_at", now) != 0)
			goto nomem;
	} else if (strcmp(action, "delete") == 0) {
		cs->deleted = 1;
	} else {
		snprintf(err, errlen, "unknown action %.40s (close, reopen, archive, delete)", action);
		return 404;
	}
	if (!cs->deleted)
		touch(cs);
	add_event(cs, "human:%s", action);
	cJSON *doc = cJSON_CreateObject();
	cJSON *dup = cJSON_Duplicate(cs->data, 1);
	if (!doc || !dup) {
		cJSON_Delete(doc);
		cJSON_Delete(dup);
		goto nomem;
	}
	cJSON_AddItemToObject(doc, "data", dup);
	*out = doc;
	return 200;
nomem:
	snprintf(err, errlen, "out of memory");
	return 500;
}

cJSON *cg_sim_dump_cases(struct cg_sim *s)
{
	cJSON *doc = cJSON_CreateObject();
	cJSON *live = cJSON_AddArrayToObject(doc, "cases");
	cJSON *gone = cJSON_AddArrayToObject(doc, "deleted_cases");
	if (!live || !gone)
		goto fail;
	for (size_t i = 0; i < s->ncases; i++) {
		cJSON *o = cJSON_Duplicate(s->cases[i].data, 1);
		cJSON *cm = cJSON_Duplicate(s->cases[i].comments, 1);
		cJSON *ev = cJSON_Duplicate(s->cases[i].events, 1);
		if (!o || !cm || !ev) {
			cJSON_Delete(o);
			cJSON_Delete(cm);
			cJSON_Delete(ev);
			goto fail;
		}
		cJSON_AddItemToObject(o, "comments", cm);
		cJSON_AddItemToObject(o, "events", ev);
		cJSON_AddItemToArray(s->cases[i].deleted ? gone : live, o);
	}
	return doc;
fail:
	cJSON_Delete(doc);
	return NULL;
}
