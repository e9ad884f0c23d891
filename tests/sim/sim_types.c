/* sim_types.c: casegate-sim's case types and their custom-attribute configurations (the Case
 * Management Type and Attribute endpoints), and the check Datadog makes of a case's custom
 * attributes against its type. Shapes and error bodies follow the recorded real answers
 * (shared/contracts/datadog-recorded, Feature_Case_Management_Type and _Attribute). */
#define _POSIX_C_SOURCE 200809L
#include "sim.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

/* The types every organisation has (recorded GetAllCaseTypes answer). */
static const struct {
	const char *id, *name, *description;
	int approvals; /* Change Request has its own statuses */
} builtin_types[] = {
	{"00000000-0000-0000-0000-000000000001", "Standard", "General tasks and investigations", 0},
	{"00000000-0000-0000-0000-000000000002", "Event Management", "Triage and investigate correlated alerts and events",
	 0},
	{"00000000-0000-0000-0000-000000000003", "Security",
	 "Used By Datadog Security products and for general security workflows", 0},
	{"00000000-0000-0000-0000-000000000004", "Change Request", "Request and track approvals", 1},
	{"00000000-0000-0000-0000-000000000005", "Error Tracking", "Triage and investigate errors", 0},
};

static const char statuses_standard[] =
	"{\"open\":{\"status_options\":[{\"name\":\"Open\"}],\"default\":\"Open\"},"
	"\"in_progress\":{\"status_options\":[{\"name\":\"In Progress\"}],\"default\":\"In Progress\"},"
	"\"closed\":{\"status_options\":[{\"name\":\"Closed\"}],\"default\":\"Closed\"}}";
static const char statuses_approvals[] =
	"{\"open\":{\"status_options\":[{\"name\":\"Open\"}],\"default\":\"Open\"},"
	"\"in_progress\":{\"status_options\":[{\"name\":\"Pending Approval\"},{\"name\":\"Approved\"},"
	"{\"name\":\"Implementing\"}],\"default\":\"Pending Approval\"},"
	"\"closed\":{\"status_options\":[{\"name\":\"Completed\"},{\"name\":\"Cancelled\"},{\"name\":\"Declined\"}],"
	"\"default\":\"Completed\"}}";

static const char *const ca_types[] = {"URL", "TEXT", "NUMBER", "SELECT"};

/* ---- helpers ---- */

static int tfail(struct cg_sim_call *c, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int tfail(struct cg_sim_call *c, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	return status;
}

/* Datadog's bare {"errors":[{"status":"400","title":"Bad Request"}]}: no detail at all. */
static int bare(struct cg_sim_call *c, int status)
{
	c->err[0] = '\0';
	return status;
}

/* The recorded answer to a path id that is not a UUID. */
static int invalid_param(struct cg_sim_call *c, const char *name)
{
	c->err_title = "Invalid Parameter";
	return tfail(c, 400, "invalid parameter \"%s\" in \"path\"; expected type \"uuid\"", name);
}

static int is_uuid(const char *s)
{
	if (!s || strlen(s) != 36)
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

static int eq_ci(const char *a, const char *b)
{
	for (; *a && *b; a++, b++)
		if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
			return 0;
	return *a == *b;
}

static const char *sget(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static cJSON *attrs(const cJSON *res)
{
	return cJSON_GetObjectItemCaseSensitive(res, "attributes");
}

/* Custom attribute keys end up in URL paths: letters, digits, '_' and '-'. */
static int valid_key(const char *k)
{
	size_t n = strlen(k);
	if (n == 0 || n > 100)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)k[i]) && k[i] != '_' && k[i] != '-')
			return 0;
	return 1;
}

static int valid_ca_type(const char *t)
{
	for (size_t i = 0; i < sizeof(ca_types) / sizeof(ca_types[0]); i++)
		if (strcmp(t, ca_types[i]) == 0)
			return 1;
	return 0;
}

/* The type with this id, deleted or not. */
static cJSON *find_type(struct cg_sim *s, const char *id)
{
	cJSON *t;
	cJSON_ArrayForEach(t, s->case_types)
	{
		const char *tid = sget(t, "id");
		if (tid && eq_ci(tid, id))
			return t;
	}
	return NULL;
}

/* A type cases can be created with: known and not deleted. */
static cJSON *live_type(struct cg_sim *s, const char *id)
{
	cJSON *t = id ? find_type(s, id) : NULL;
	return t && !cJSON_HasObjectItem(attrs(t), "deleted_at") ? t : NULL;
}

static cJSON *find_config(struct cg_sim *s, const char *type_id, const char *key)
{
	cJSON *ca;
	cJSON_ArrayForEach(ca, s->ca_configs)
	{
		const char *t = sget(attrs(ca), "case_type_id"), *k = sget(attrs(ca), "key");
		if (t && k && eq_ci(t, type_id) && strcmp(k, key) == 0)
			return ca;
	}
	return NULL;
}

static cJSON *type_json(const char *id, const char *name, const char *description, const char *emoji, int internal,
			const char *statuses)
{
	cJSON *t = cJSON_CreateObject();
	cJSON *st = cJSON_Parse(statuses);
	cJSON *a = NULL;
	if (!t || !st || !cJSON_AddStringToObject(t, "id", id) || !cJSON_AddStringToObject(t, "type", "case_type") ||
	    !(a = cJSON_AddObjectToObject(t, "attributes")) || !cJSON_AddStringToObject(a, "description", description) ||
	    !cJSON_AddStringToObject(a, "emoji", emoji) || !cJSON_AddBoolToObject(a, "internal", internal) ||
	    !cJSON_AddStringToObject(a, "name", name)) {
		cJSON_Delete(t);
		cJSON_Delete(st);
		return NULL;
	}
	cJSON_AddItemToObject(a, "statuses_config", st);
	return t;
}

static cJSON *config_json(struct cg_sim *s, const char *type_id, const char *key, const char *type, int is_multi,
			  const char *display_name, const char *description)
{
	char id[37];
	cg_sim_uuid(s, id);
	cJSON *o = cJSON_CreateObject();
	cJSON *a = NULL;
	/* "case_type":"TUNKNOWN" is what Datadog answers for every config (recorded). */
	if (!o || !cJSON_AddStringToObject(o, "id", id) || !cJSON_AddStringToObject(o, "type", "custom_attribute") ||
	    !(a = cJSON_AddObjectToObject(o, "attributes")) || !cJSON_AddStringToObject(a, "case_type", "TUNKNOWN") ||
	    !cJSON_AddStringToObject(a, "case_type_id", type_id) ||
	    (description && !cJSON_AddStringToObject(a, "description", description)) ||
	    !cJSON_AddStringToObject(a, "display_name", display_name) || !cJSON_AddBoolToObject(a, "is_multi", is_multi) ||
	    !cJSON_AddStringToObject(a, "key", key) || !cJSON_AddStringToObject(a, "type", type)) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static int out_data(struct cg_sim_call *c, cJSON *data, int status)
{
	cJSON *doc = cJSON_CreateObject();
	if (!doc || !data) {
		cJSON_Delete(doc);
		cJSON_Delete(data);
		return tfail(c, 500, "out of memory");
	}
	cJSON_AddItemToObject(doc, "data", data);
	c->out = doc;
	return status;
}

/* ---- state ---- */

int cg_sim_types_init(struct cg_sim *s)
{
	s->case_types = cJSON_CreateArray();
	s->ca_configs = cJSON_CreateArray();
	if (!s->case_types || !s->ca_configs)
		return CG_ENOMEM;
	for (size_t i = 0; i < sizeof(builtin_types) / sizeof(builtin_types[0]); i++) {
		cJSON *t = type_json(builtin_types[i].id, builtin_types[i].name, builtin_types[i].description, "", 1,
				     builtin_types[i].approvals ? statuses_approvals : statuses_standard);
		if (!t)
			return CG_ENOMEM;
		cJSON_AddItemToArray(s->case_types, t);
	}
	return 0;
}

void cg_sim_types_cleanup(struct cg_sim *s)
{
	cJSON_Delete(s->case_types);
	cJSON_Delete(s->ca_configs);
	s->case_types = s->ca_configs = NULL;
}

int cg_sim_add_case_type(struct cg_sim *s, const char *id, const char *name)
{
	if (!is_uuid(id) || !*name || strlen(name) > 200)
		return CG_EINVAL;
	if (find_type(s, id))
		return CG_EEXIST;
	char lower[37];
	for (int i = 0; i < 37; i++)
		lower[i] = (char)tolower((unsigned char)id[i]);
	cJSON *t = type_json(lower, name, "", "", 0, statuses_standard);
	if (!t)
		return CG_ENOMEM;
	cJSON_AddItemToArray(s->case_types, t);
	return 0;
}

int cg_sim_add_custom_attribute(struct cg_sim *s, const char *spec, char *err, size_t errlen)
{
	char buf[256], *parts[4] = {NULL};
	int n = 0;
	if (strlen(spec) >= sizeof(buf)) {
		snprintf(err, errlen, "too long");
		return CG_EINVAL;
	}
	snprintf(buf, sizeof(buf), "%s", spec);
	for (char *p = buf; n < 4;) {
		parts[n++] = p;
		char *colon = strchr(p, ':');
		if (!colon)
			break;
		*colon = '\0';
		p = colon + 1;
	}
	if (n < 3 || (n == 4 && strchr(parts[3], ':'))) {
		snprintf(err, errlen, "want TYPE_UUID:key:URL|TEXT|NUMBER|SELECT[:multi]");
		return CG_EINVAL;
	}
	if (!is_uuid(parts[0])) {
		snprintf(err, errlen, "%s is not a UUID", parts[0]);
		return CG_EINVAL;
	}
	if (!live_type(s, parts[0])) {
		snprintf(err, errlen, "case type %s does not exist (add it with --case-type)", parts[0]);
		return CG_EINVAL;
	}
	if (!valid_key(parts[1])) {
		snprintf(err, errlen, "key must be 1 to 100 letters, digits, '_' or '-'");
		return CG_EINVAL;
	}
	if (!valid_ca_type(parts[2])) {
		snprintf(err, errlen, "type must be URL, TEXT, NUMBER or SELECT");
		return CG_EINVAL;
	}
	if (n == 4 && strcmp(parts[3], "multi") != 0) {
		snprintf(err, errlen, "the fourth part can only be \"multi\"");
		return CG_EINVAL;
	}
	if (find_config(s, parts[0], parts[1])) {
		snprintf(err, errlen, "key %s is defined twice for type %s", parts[1], parts[0]);
		return CG_EEXIST;
	}
	const char *tid = sget(find_type(s, parts[0]), "id");
	cJSON *ca = config_json(s, tid, parts[1], parts[2], n == 4, parts[1], NULL);
	if (!ca) {
		snprintf(err, errlen, "out of memory");
		return CG_ENOMEM;
	}
	cJSON_AddItemToArray(s->ca_configs, ca);
	return 0;
}

/* ---- enforcement ---- */

int cg_sim_types_check(struct cg_sim_call *c, const char *type_id, const char *key, const cJSON *value, int update)
{
	struct cg_sim *s = c->sim;
	if (!live_type(s, type_id)) {
		/* Datadog knows every type; the sim only those it was told about, so by default it lets
		 * the rest through unchecked. */
		if (s->faults.strict_case_types)
			return tfail(c, 400, "case type %.40s does not exist", type_id ? type_id : "(none)");
		return 0;
	}
	if (!key)
		return 0;
	const cJSON *cfg = attrs(find_config(s, type_id, key));
	if (!cfg) {
		/* Recorded: UpdateCaseCustomAttribute with a key the type does not define is 404;
		 * CreateCase with one is a bare 400. */
		if (update)
			return tfail(c, 404, "custom attribute configuration not found");
		return bare(c, 400);
	}
	const char *want_type = sget(cfg, "type"), *got_type = sget(value, "type");
	const cJSON *want_multi = cJSON_GetObjectItemCaseSensitive(cfg, "is_multi");
	const cJSON *got_multi = cJSON_GetObjectItemCaseSensitive(value, "is_multi");
	if (!want_type || !got_type || strcmp(want_type, got_type) != 0 ||
	    cJSON_IsTrue(want_multi) != cJSON_IsTrue(got_multi))
		return bare(c, 400);
	return 0;
}

/* ---- operations ---- */

int cg_sim_op_get_case_types(struct cg_sim_call *c)
{
	return out_data(c, cJSON_Duplicate(c->sim->case_types, 1), 200);
}

/* Emoji must be emoji: Datadog refuses "notanemoji" with a bare 400 (recorded). */
static int valid_emoji(const char *e)
{
	for (const unsigned char *p = (const unsigned char *)e; *p; p++)
		if (*p < 0x80)
			return 0;
	return strlen(e) <= 64;
}

int cg_sim_op_create_case_type(struct cg_sim_call *c)
{
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(c->body, "data");
	if (!cJSON_IsObject(d))
		return tfail(c, 400, "data is required (an object)");
	const char *t = sget(d, "type");
	if (!t || strcmp(t, "case_type") != 0)
		return tfail(c, 400, "got type \"%.40s\" expected one of \"case_type\"", t ? t : "");
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(d, "attributes");
	if (!cJSON_IsObject(a))
		return tfail(c, 400, "data.attributes is required (an object)");
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(a, "name");
	const cJSON *desc = cJSON_GetObjectItemCaseSensitive(a, "description");
	const cJSON *emoji = cJSON_GetObjectItemCaseSensitive(a, "emoji");
	if (!cJSON_IsString(name) || !name->valuestring[0] || strlen(name->valuestring) > 200)
		return bare(c, 400);
	if ((desc && !cJSON_IsString(desc)) || (emoji && (!cJSON_IsString(emoji) || !valid_emoji(emoji->valuestring))))
		return bare(c, 400);
	char id[37];
	cg_sim_uuid(c->sim, id);
	cJSON *ty = type_json(id, name->valuestring, desc ? desc->valuestring : "", emoji ? emoji->valuestring : "", 0,
			      statuses_standard);
	cJSON *dup = ty ? cJSON_Duplicate(ty, 1) : NULL;
	if (!dup) {
		cJSON_Delete(ty);
		return tfail(c, 500, "out of memory");
	}
	cJSON_AddItemToArray(c->sim->case_types, ty);
	return out_data(c, dup, 201);
}

int cg_sim_op_delete_case_type(struct cg_sim_call *c)
{
	if (!is_uuid(c->param2))
		return invalid_param(c, "CaseTypeID");
	cJSON *t = find_type(c->sim, c->param2);
	if (t && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(attrs(t), "internal")))
		return tfail(c, 400, "built-in case types cannot be deleted");
	/* A soft delete: the list keeps the type with deleted_at, and deleting it again is 204
	 * too (both recorded). */
	if (t && !cJSON_HasObjectItem(attrs(t), "deleted_at")) {
		char now[32];
		cg_sim_now_iso(now);
		if (!cJSON_AddStringToObject(attrs(t), "deleted_at", now))
			return tfail(c, 500, "out of memory");
	}
	return 204;
}

static int list_configs(struct cg_sim_call *c, const char *type_id)
{
	cJSON *arr = cJSON_CreateArray();
	if (!arr)
		return tfail(c, 500, "out of memory");
	const cJSON *ca;
	cJSON_ArrayForEach(ca, c->sim->ca_configs)
	{
		const char *t = sget(attrs(ca), "case_type_id");
		if (type_id && (!t || !eq_ci(t, type_id)))
			continue;
		cJSON *dup = cJSON_Duplicate(ca, 1);
		if (!dup) {
			cJSON_Delete(arr);
			return tfail(c, 500, "out of memory");
		}
		cJSON_AddItemToArray(arr, dup);
	}
	return out_data(c, arr, 200);
}

int cg_sim_op_get_all_custom_attributes(struct cg_sim_call *c)
{
	return list_configs(c, NULL);
}

int cg_sim_op_get_type_custom_attributes(struct cg_sim_call *c)
{
	if (!is_uuid(c->param2))
		return invalid_param(c, "CaseTypeID");
	if (!live_type(c->sim, c->param2))
		return tfail(c, 404, "case_type not found");
	return list_configs(c, c->param2);
}

int cg_sim_op_create_custom_attribute(struct cg_sim_call *c)
{
	if (!is_uuid(c->param2))
		return invalid_param(c, "CaseTypeID");
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(c->body, "data");
	if (!cJSON_IsObject(d))
		return tfail(c, 400, "data is required (an object)");
	const char *t = sget(d, "type");
	if (!t || strcmp(t, "custom_attribute") != 0)
		return tfail(c, 400, "got type \"%.40s\" expected one of \"custom_attribute\"", t ? t : "");
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(d, "attributes");
	if (!cJSON_IsObject(a))
		return tfail(c, 400, "data.attributes is required (an object)");
	const char *key = sget(a, "key"), *type = sget(a, "type"), *dn = sget(a, "display_name");
	const cJSON *multi = cJSON_GetObjectItemCaseSensitive(a, "is_multi");
	const cJSON *desc = cJSON_GetObjectItemCaseSensitive(a, "description");
	if (!key || !valid_key(key) || !type || !valid_ca_type(type) || !dn || !*dn || !cJSON_IsBool(multi) ||
	    (desc && !cJSON_IsString(desc)))
		return bare(c, 400);
	cJSON *ty = live_type(c->sim, c->param2);
	if (!ty)
		return tfail(c, 404, "case_type not found");
	const char *tid = sget(ty, "id");
	if (find_config(c->sim, tid, key))
		return tfail(c, 400, "custom attribute %s already exists for this case type", key);
	cJSON *ca = config_json(c->sim, tid, key, type, cJSON_IsTrue(multi), dn, desc ? desc->valuestring : NULL);
	cJSON *dup = ca ? cJSON_Duplicate(ca, 1) : NULL;
	if (!dup) {
		cJSON_Delete(ca);
		return tfail(c, 500, "out of memory");
	}
	cJSON_AddItemToArray(c->sim->ca_configs, ca);
	return out_data(c, dup, 201);
}

int cg_sim_op_delete_custom_attribute_config(struct cg_sim_call *c)
{
	if (!is_uuid(c->param2))
		return invalid_param(c, "CaseTypeID");
	if (!is_uuid(c->param3))
		return invalid_param(c, "CustomAttributeId");
	int i = 0;
	const cJSON *ca;
	cJSON_ArrayForEach(ca, c->sim->ca_configs)
	{
		const char *id = sget(ca, "id"), *t = sget(attrs(ca), "case_type_id");
		if (id && t && eq_ci(id, c->param3) && eq_ci(t, c->param2)) {
			cJSON_DeleteItemFromArray(c->sim->ca_configs, i);
			break;
		}
		i++;
	}
	return 204; /* the contract lists no 404: a delete of what is not there succeeds */
}
