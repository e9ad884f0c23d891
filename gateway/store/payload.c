/* payload.c: encoding and decoding a stored event's payload (the one place that knows its shape). */
#include "payload.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "event.h"

char *cg_payload_encode(const struct cg_payload_in *in)
{
	cJSON *o = cJSON_CreateObject();
	char *out = NULL;
	if (!o)
		return NULL;
	if (in->title && !cJSON_AddStringToObject(o, "title", in->title))
		goto out;
	if (in->summary && !cJSON_AddStringToObject(o, "summary", in->summary))
		goto out;
	/* References, not copies: this runs for every accepted alert and the draft outlives o. */
	if (in->create && !cJSON_AddItemReferenceToObject(o, "create", (cJSON *)in->create))
		goto out;
	if (in->attributes && !cJSON_AddItemReferenceToObject(o, "attributes", (cJSON *)in->attributes))
		goto out;
	if (in->insights && cJSON_GetArraySize(in->insights) > 0 &&
	    !cJSON_AddItemReferenceToObject(o, "insights", (cJSON *)in->insights))
		goto out;
	if (in->case_id && !cJSON_AddStringToObject(o, "case_id", in->case_id))
		goto out;
	if (in->acknowledged && !cJSON_AddTrueToObject(o, "acknowledged"))
		goto out;
	if (in->comment_only && !cJSON_AddTrueToObject(o, "comment_only"))
		goto out;
	char *text = cJSON_PrintUnformatted(o);
	if (text) {
		/* cJSON's allocator may be an arena (intake workers): hand out plain heap memory. */
		out = strdup(text);
		cJSON_free(text);
	}
out:
	cJSON_Delete(o);
	return out;
}

int cg_payload_decode(const char *text, struct cg_payload *out)
{
	memset(out, 0, sizeof(*out));
	out->title = out->summary = "";
	cJSON *doc = cJSON_Parse(text ? text : "");
	if (!cJSON_IsObject(doc)) {
		cJSON_Delete(doc);
		return CG_EINVAL;
	}
	out->doc = doc;
	const char *s;
	if ((s = cg_json_str(doc, "title")))
		out->title = s;
	if ((s = cg_json_str(doc, "summary")))
		out->summary = s;
	out->create = cJSON_GetObjectItemCaseSensitive(doc, "create");
	if (!cJSON_IsObject(out->create))
		out->create = NULL;
	out->attributes = cJSON_GetObjectItemCaseSensitive(doc, "attributes");
	out->insights = cJSON_GetObjectItemCaseSensitive(doc, "insights");
	if (!cJSON_IsArray(out->insights))
		out->insights = NULL;
	out->case_id = cg_json_str(doc, "case_id");
	out->comment_only = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "comment_only"));
	out->acknowledged = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "acknowledged"));
	return 0;
}

void cg_payload_cleanup(struct cg_payload *p)
{
	cJSON_Delete(p->doc);
	memset(p, 0, sizeof(*p));
}

int cg_payload_has_attributes(const struct cg_payload *p)
{
	return p->attributes != NULL;
}

int cg_payload_has_insights(const struct cg_payload *p)
{
	return cJSON_GetArraySize(p->insights) > 0;
}

const char *cg_payload_project(const struct cg_payload *p)
{
	return p->create ? cg_json_str(p->create, "data.relationships.project.data.id") : NULL;
}
