/* casebody.c: the Case API's words (priorities, custom attribute types) and the request bodies casegate sends. */
#include "casebody.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "mdsafe.h"
#include "text.h"

const char *cg_priority_name(int prio)
{
	static const char *const names[] = {"NOT_DEFINED", "P1", "P2", "P3", "P4", "P5"};
	return prio >= 0 && prio <= 5 ? names[prio] : names[0];
}

int cg_priority_parse(const char *s, int *out)
{
	if (!s)
		return CG_EINVAL;
	if (strcasecmp(s, "NOT_DEFINED") == 0) {
		*out = 0;
		return 0;
	}
	const char *d = (s[0] == 'P' || s[0] == 'p') ? s + 1 : s;
	if (d[0] >= '1' && d[0] <= '5' && d[1] == '\0') {
		*out = d[0] - '0';
		return 0;
	}
	return CG_EINVAL;
}

const char *cg_ca_type_name(enum cg_ca_type t)
{
	switch (t) {
	case CG_CA_TEXT: return "TEXT";
	case CG_CA_URL: return "URL";
	case CG_CA_NUMBER: return "NUMBER";
	case CG_CA_SELECT: return "SELECT";
	}
	return "TEXT";
}

int cg_ca_type_parse(const char *s, enum cg_ca_type *out)
{
	static const enum cg_ca_type all[] = {CG_CA_TEXT, CG_CA_URL, CG_CA_NUMBER, CG_CA_SELECT};
	if (!s)
		return CG_EINVAL;
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (strcasecmp(s, cg_ca_type_name(all[i])) == 0) {
			*out = all[i];
			return 0;
		}
	}
	return CG_EINVAL;
}

/* ---- request bodies ------------------------------------------------------------------- */

static cJSON *add_obj(cJSON *parent, const char *key)
{
	cJSON *o = cJSON_CreateObject();
	if (!o || !cJSON_AddItemToObject(parent, key, o)) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

cJSON *cg_body_create(const char *project, const char *case_type, const char *title, const char *description,
		      int prio, cJSON *custom /* taken */)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *data = root ? add_obj(root, "data") : NULL;
	cJSON *attrs = data && cJSON_AddStringToObject(data, "type", "case") ? add_obj(data, "attributes") : NULL;
	if (!attrs || !cJSON_AddStringToObject(attrs, "title", title) ||
	    !cJSON_AddStringToObject(attrs, "type_id", case_type) ||
	    !cJSON_AddStringToObject(attrs, "priority", cg_priority_name(prio)) ||
	    !cJSON_AddStringToObject(attrs, "description", description))
		goto fail;
	if (custom) {
		if (!cJSON_AddItemToObject(attrs, "custom_attributes", custom))
			goto fail;
		custom = NULL;
	}
	cJSON *rel = add_obj(data, "relationships");
	cJSON *proj = rel ? add_obj(rel, "project") : NULL;
	cJSON *pd = proj ? add_obj(proj, "data") : NULL;
	if (!pd || !cJSON_AddStringToObject(pd, "id", project) || !cJSON_AddStringToObject(pd, "type", "project"))
		goto fail;
	return root;
fail:
	cJSON_Delete(custom);
	cJSON_Delete(root);
	return NULL;
}

/* {"data":{"type":"case","attributes":{}}}; *attrs receives the inner object. */
static cJSON *body_shell(cJSON **attrs)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *data = root ? add_obj(root, "data") : NULL;
	if (!data || !cJSON_AddStringToObject(data, "type", "case") || !(*attrs = add_obj(data, "attributes"))) {
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}

cJSON *cg_body_comment(const char *text)
{
	cJSON *attrs = NULL;
	cJSON *root = body_shell(&attrs);
	/* Comments are casegate's text and sender text, never an operator's: no mention stays live. */
	char *t = cg_md_str(text, CG_MD_MINIMAL);
	if (!root || !t)
		goto fail;
	cg_utf8_truncate(t, CG_COMMENT_MAX);
	if (!cJSON_AddStringToObject(attrs, "comment", t))
		goto fail;
	free(t);
	return root;
fail:
	free(t);
	cJSON_Delete(root);
	return NULL;
}

/* {"data":{"type":"case","attributes":{key: value}}}. */
static cJSON *body_one(const char *key, const char *value)
{
	cJSON *attrs = NULL;
	cJSON *root = body_shell(&attrs);
	if (root && !cJSON_AddStringToObject(attrs, key, value)) {
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}

static cJSON *body_status(const char *status_name, const char *legacy)
{
	return status_name && *status_name ? body_one("status_name", status_name) : body_one("status", legacy);
}

cJSON *cg_body_status(const char *status_name)
{
	return body_status(status_name, "CLOSED");
}

cJSON *cg_body_reopen(const char *status_name)
{
	return body_status(status_name, "OPEN");
}

cJSON *cg_body_set_status(const char *status)
{
	static const char *const plain[] = {"OPEN", "IN_PROGRESS", "CLOSED"};
	for (size_t i = 0; status && i < sizeof(plain) / sizeof(plain[0]); i++)
		if (strcmp(status, plain[i]) == 0)
			return body_one("status", status);
	return status && *status ? body_one("status_name", status) : NULL;
}

cJSON *cg_body_priority(int prio)
{
	return body_one("priority", cg_priority_name(prio));
}

cJSON *cg_body_attributes(const cJSON *attrs)
{
	cJSON *inner = NULL;
	cJSON *root = body_shell(&inner);
	cJSON *copy = attrs ? cJSON_Duplicate(attrs, 1) : cJSON_CreateObject();
	if (!root || !copy || !cJSON_AddItemToObject(inner, "attributes", copy)) {
		cJSON_Delete(copy);
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}
