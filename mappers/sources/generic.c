/* generic.c: any JSON object is one alert; the source's templates say what it means. */
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "maputil.h"
#include "mdsafe.h"
#include "registry.h"
#include "text.h"

static const char *const resolved_words[] = {"resolved", "ok", "closed", "recovered", "inactive", NULL};

static int is_resolved(const char *s)
{
	return s && cg_mu_one_of(s, resolved_words);
}

static int map_generic(const cJSON *payload, const struct cg_map_opts *opts, struct cg_event_list *out, char *err,
		       size_t errlen)
{
	(void)opts;
	if (cg_mu_need_object(payload, err, errlen))
		return CG_EINVAL;
	struct cg_event *e = cg_event_list_push(out);
	if (!e)
		return CG_ENOMEM;
	e->status = is_resolved(cg_json_str(payload, "status")) || is_resolved(cg_json_str(payload, "state"))
			    ? CG_STATUS_RESOLVED
			    : CG_STATUS_FIRING;
	e->severity = cg_strdup0(cg_json_str(payload, "severity"));
	e->title = cg_strdup0(cg_json_str(payload, "title"));
	/* The sender's own text: neutralised (mdsafe.h); a template can take it raw as {{{payload.description}}}. */
	const char *desc = cg_json_str(payload, "description");
	e->description = desc ? cg_md_str(desc, CG_MD_TEXT) : NULL;
	const char *key = cg_json_str(payload, "dedup_key");
	if (!key)
		key = cg_json_str(payload, "fingerprint");
	if (!key)
		key = cg_json_str(payload, "id");
	char hex[65];
	if (!key) {
		/* No id in the payload: identical payloads are the same alert. */
		char *text = cJSON_PrintUnformatted(payload);
		if (!text)
			return CG_ENOMEM;
		cg_sha256_hex(text, strlen(text), hex);
		cJSON_free(text);
		key = hex;
	}
	e->dedup_key = cg_strdup0(key);
	e->labels = cg_json_string_object(cJSON_GetObjectItemCaseSensitive(payload, "labels"));
	e->annotations = cg_json_string_object(cJSON_GetObjectItemCaseSensitive(payload, "annotations"));
	e->links = cJSON_CreateObject();
	if (!e->dedup_key || !e->labels || !e->annotations || !e->links || (desc && !e->description))
		return CG_ENOMEM;
	return cg_event_build_ctx(e, payload, payload);
}

const struct cg_mapper cg_mapper_generic = {
	.name = "generic",
	.description = "any JSON object; the source's templates give title, dedup key and priority",
	.map = map_generic,
	.supports_group_by = 0,
	.default_priority_map = "critical=P1,error=P2,high=P2,warning=P3,medium=P3,low=P4,info=P5",
};
