/* event.c: normalised alert events and their template context. */
#include "event.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

void cg_event_list_init(struct cg_event_list *l)
{
	memset(l, 0, sizeof(*l));
}

struct cg_event *cg_event_list_push(struct cg_event_list *l)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4;
		struct cg_event *v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return NULL;
		l->v = v;
		l->cap = cap;
	}
	struct cg_event *e = &l->v[l->n++];
	memset(e, 0, sizeof(*e));
	return e;
}

void cg_event_cleanup(struct cg_event *e)
{
	if (!e)
		return;
	free(e->dedup_key);
	free(e->severity);
	free(e->title);
	free(e->description);
	free(e->starts_at);
	free(e->ends_at);
	free(e->comment_detail);
	cJSON_Delete(e->labels);
	cJSON_Delete(e->annotations);
	cJSON_Delete(e->links);
	cJSON_Delete(e->ctx);
	memset(e, 0, sizeof(*e));
}

void cg_event_list_cleanup(struct cg_event_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		cg_event_cleanup(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int set_item(cJSON *obj, const char *key, cJSON *val)
{
	if (!val)
		return CG_ENOMEM;
	cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
	if (!cJSON_AddItemToObject(obj, key, val)) {
		cJSON_Delete(val);
		return CG_ENOMEM;
	}
	return 0;
}

static int set_str(cJSON *obj, const char *key, const char *s)
{
	if (!s)
		return 0;
	return set_item(obj, key, cJSON_CreateString(s));
}

static int set_obj(cJSON *obj, const char *key, const cJSON *src)
{
	if (!src)
		return set_item(obj, key, cJSON_CreateObject());
	return set_item(obj, key, cJSON_Duplicate(src, 1));
}

int cg_event_build_ctx(struct cg_event *e, const cJSON *alert, const cJSON *payload)
{
	cJSON *ctx = alert && cJSON_IsObject(alert) ? cJSON_Duplicate(alert, 1) : cJSON_CreateObject();
	if (!ctx)
		return CG_ENOMEM;
	int rc = 0;
	rc = rc ? rc : set_str(ctx, "status", e->status == CG_STATUS_RESOLVED ? "resolved" : "firing");
	rc = rc ? rc : set_str(ctx, "severity", e->severity);
	rc = rc ? rc : set_str(ctx, "title", e->title);
	rc = rc ? rc : set_str(ctx, "description", e->description);
	rc = rc ? rc : set_str(ctx, "dedup_key", e->dedup_key);
	rc = rc ? rc : set_str(ctx, "starts_at", e->starts_at);
	rc = rc ? rc : set_str(ctx, "ends_at", e->ends_at);
	rc = rc ? rc : set_obj(ctx, "labels", e->labels);
	rc = rc ? rc : set_obj(ctx, "annotations", e->annotations);
	rc = rc ? rc : set_obj(ctx, "links", e->links);
	if (!rc && payload)
		rc = set_item(ctx, "payload", cJSON_Duplicate(payload, 1));
	if (rc) {
		cJSON_Delete(ctx);
		return rc;
	}
	cJSON_Delete(e->ctx);
	e->ctx = ctx;
	return 0;
}

static int add_ref(cJSON *obj, const cJSON *item)
{
	return cJSON_AddItemReferenceToObject(obj, item->string, (cJSON *)item) ? 0 : CG_ENOMEM;
}

int cg_event_build_ctx_view(struct cg_event *e, const cJSON *alert, const cJSON *payload, const char *skip_key)
{
	/* cg_event_build_ctx's keys in its order: the alert's own members, then each normalised
	 * field it sets (a NULL string leaves the alert's member in place). */
	const char *status = e->status == CG_STATUS_RESOLVED ? "resolved" : "firing";
	const struct {
		const char *key, *val;
	} strs[] = {{"status", status},           {"severity", e->severity},   {"title", e->title},
		    {"description", e->description}, {"dedup_key", e->dedup_key}, {"starts_at", e->starts_at},
		    {"ends_at", e->ends_at}};
	const size_t nstrs = sizeof(strs) / sizeof(strs[0]);
	cJSON *ctx = cJSON_CreateObject();
	if (!ctx)
		return CG_ENOMEM;
	int rc = 0;
	const cJSON *it;
	if (alert && cJSON_IsObject(alert)) {
		cJSON_ArrayForEach(it, alert)
		{
			const char *k = it->string;
			if (!k)
				continue;
			int replaced = strcmp(k, "labels") == 0 || strcmp(k, "annotations") == 0 ||
				       strcmp(k, "links") == 0 || (payload && strcmp(k, "payload") == 0);
			for (size_t i = 0; i < nstrs && !replaced; i++)
				replaced = strs[i].val && strcmp(k, strs[i].key) == 0;
			if (!replaced && (rc = add_ref(ctx, it)))
				goto fail;
		}
	}
	for (size_t i = 0; i < nstrs && !rc; i++)
		rc = set_str(ctx, strs[i].key, strs[i].val);
	const cJSON *objs[] = {e->labels, e->annotations, e->links};
	const char *okeys[] = {"labels", "annotations", "links"};
	for (size_t i = 0; i < 3 && !rc; i++)
		rc = objs[i] ? (cJSON_AddItemReferenceToObject(ctx, okeys[i], (cJSON *)objs[i]) ? 0 : CG_ENOMEM)
			     : set_item(ctx, okeys[i], cJSON_CreateObject());
	if (!rc && payload) {
		cJSON *pv = cJSON_CreateObject();
		rc = pv ? 0 : CG_ENOMEM;
		if (pv && cJSON_IsObject(payload)) {
			cJSON_ArrayForEach(it, payload)
			{
				if (rc || !it->string || (skip_key && strcmp(it->string, skip_key) == 0))
					continue;
				rc = add_ref(pv, it);
			}
		} else if (pv && !rc) {
			/* Not an object: a full copy, as cg_event_build_ctx makes. */
			cJSON_Delete(pv);
			pv = cJSON_Duplicate(payload, 1);
			rc = pv ? 0 : CG_ENOMEM;
		}
		if (rc)
			cJSON_Delete(pv);
		else
			rc = set_item(ctx, "payload", pv);
	}
	if (rc)
		goto fail;
	cJSON_Delete(e->ctx);
	e->ctx = ctx;
	return 0;
fail:
	cJSON_Delete(ctx);
	return rc;
}
