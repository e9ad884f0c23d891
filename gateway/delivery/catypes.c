/* catypes.c: case types' custom attribute definitions, checked against the config and applied to creates. */
#include "catypes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder.h"
#include "err.h"
#include "mdsafe.h"
#include "sbuf.h"

void cg_catypes_cleanup(struct cg_catypes *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->v[i].defs);
	free(t->v);
	t->v = NULL;
	t->n = 0;
}

struct cg_catype *cg_catypes_get(struct cg_catypes *t, const char *id, int create)
{
	if (!id)
		return NULL;
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->v[i].id, id) == 0)
			return &t->v[i];
	if (!create || strlen(id) >= sizeof(t->v[0].id))
		return NULL;
	struct cg_catype *v = realloc(t->v, (t->n + 1) * sizeof(*v));
	if (!v)
		return NULL;
	t->v = v;
	struct cg_catype *e = &t->v[t->n++];
	memset(e, 0, sizeof(*e));
	snprintf(e->id, sizeof(e->id), "%s", id);
	return e;
}

int cg_catype_set(struct cg_catype *t, const char *body, size_t len)
{
	struct cg_dd_ca_def *defs = NULL;
	size_t n = 0;
	int rc = cg_dd_answer_ca_defs(body, len, &defs, &n);
	if (rc)
		return rc;
	free(t->defs);
	t->defs = defs;
	t->n = n;
	t->known = 1;
	return 0;
}

static const struct cg_dd_ca_def *def_of(const struct cg_catype *t, const char *key)
{
	for (size_t i = 0; t && i < t->n; i++)
		if (strcmp(t->defs[i].key, key) == 0)
			return &t->defs[i];
	return NULL;
}

static enum cg_dd_ca_kind kind_of(enum cg_ca_type type)
{
	switch (type) {
	case CG_CA_TEXT: return CG_DD_CA_TEXT;
	case CG_CA_URL: return CG_DD_CA_URL;
	case CG_CA_NUMBER: return CG_DD_CA_NUMBER;
	case CG_CA_SELECT: return CG_DD_CA_SELECT;
	}
	return CG_DD_CA_UNKNOWN;
}

/* The same question for a value as sent ({"type","is_multi","value"}). */
static const char *mismatch(const struct cg_catype *t, const char *key, enum cg_dd_ca_kind kind, int is_multi,
			    char *buf, size_t len)
{
	if (!t || !t->known)
		return NULL;
	const struct cg_dd_ca_def *d = def_of(t, key);
	if (!d)
		snprintf(buf, len, "not defined on case type %s", t->id);
	else if (d->type != kind)
		snprintf(buf, len, "defined as %s on case type %s, configured as %s", cg_dd_ca_kind_name(d->type), t->id,
			 cg_dd_ca_kind_name(kind));
	else if (d->is_multi != is_multi)
		snprintf(buf, len, "defined with is_multi: %s on case type %s, configured %s", d->is_multi ? "true" : "false",
			 t->id, is_multi ? "true" : "false");
	else
		return NULL;
	return buf;
}

const char *cg_catype_mismatch(const struct cg_catype *t, const struct cg_ca_spec *spec, char *buf, size_t len)
{
	return mismatch(t, spec->key, kind_of(spec->type), spec->is_multi, buf, len);
}

int cg_catype_has_text(const struct cg_catype *t, const char *key)
{
	const struct cg_dd_ca_def *d = t && t->known && key ? def_of(t, key) : NULL;
	return d && d->type == CG_DD_CA_TEXT && !d->is_multi;
}

size_t cg_catypes_report(const struct cg_config *cfg, const struct cg_catypes *t, char **out)
{
	struct cg_sbuf sb;
	memset(&sb, 0, sizeof(sb));
	size_t lines = 0;
	if (*out)
		cg_sbuf_add(&sb, *out);
	for (size_t i = 0; i < cfg->nsources; i++) {
		const struct cg_source_config *src = &cfg->sources[i];
		const struct cg_catype *ct = NULL;
		for (size_t k = 0; src->case_type && k < t->n; k++)
			if (strcmp(t->v[k].id, src->case_type) == 0)
				ct = &t->v[k];
		for (size_t k = 0; ct && k < src->ncas; k++) {
			char why[200];
			if (!cg_catype_mismatch(ct, &src->cas[k], why, sizeof(why)))
				continue;
			if (sb.len)
				cg_sbuf_add(&sb, "\n");
			cg_sbuf_addf(&sb, "%s:%d: warning: source '%s': custom_attributes.%s: %s: its values go into the "
					    "case description instead",
				       cfg->path ? cfg->path : "config", src->line, src->name, src->cas[k].key, why);
			lines++;
		}
	}
	char *text = cg_sbuf_take(&sb);
	if (!text)
		return lines;
	free(*out);
	*out = *text ? text : NULL;
	if (!*out)
		free(text);
	return lines;
}

/* ---- create request surgery ---- */

static cJSON *attrs_of(cJSON *body)
{
	return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(body, "data"), "attributes");
}

/* A value as an inline code span (mentions broken, fenced past any backtick run inside): shown as
 * it is, never as Markdown; nothing from the sender turns into a link or a notification. */
static void put_code(struct cg_sbuf *sb, const char *v)
{
	if (*v)
		cg_md_code(sb, v);
	else
		cg_sbuf_add(sb, "(empty)");
}

static void put_value(struct cg_sbuf *sb, const cJSON *v)
{
	if (cJSON_IsString(v)) {
		put_code(sb, v->valuestring);
	} else if (cJSON_IsArray(v)) {
		const cJSON *e;
		int first = 1;
		cJSON_ArrayForEach(e, v)
		{
			if (!first)
				cg_sbuf_add(sb, ", ");
			first = 0;
			put_value(sb, e);
		}
	} else {
		char *t = cJSON_PrintUnformatted(v);
		if (t)
			put_code(sb, t);
		cJSON_free(t);
	}
}

/* Appends "\n\n**heading**\n- `key`: value ..." to the description (before casegate's marker
 * line, which the engine adds after this). */
static int append_note(cJSON *attrs, const char *heading, const struct cg_sbuf *items)
{
	const char *desc = NULL;
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(attrs, "description");
	if (cJSON_IsString(d))
		desc = d->valuestring;
	struct cg_sbuf sb;
	memset(&sb, 0, sizeof(sb));
	if (desc && *desc) {
		cg_sbuf_add(&sb, desc);
		cg_sbuf_add(&sb, "\n\n");
	}
	cg_sbuf_addf(&sb, "**%s**\n", heading);
	cg_sbuf_addn(&sb, items->p, items->len);
	char *text = cg_sbuf_take(&sb);
	if (!text)
		return CG_ENOMEM;
	cJSON *s = cJSON_CreateString(text);
	free(text);
	if (!s)
		return CG_ENOMEM;
	if (d)
		cJSON_ReplaceItemInObjectCaseSensitive(attrs, "description", s);
	else
		cJSON_AddItemToObject(attrs, "description", s);
	return 0;
}

/* Drops the custom attributes for which keep() says 0 and notes them. */
static int drop_custom(cJSON *body, const struct cg_catype *t, const char *heading)
{
	cJSON *attrs = attrs_of(body);
	cJSON *ca = cJSON_GetObjectItemCaseSensitive(attrs, "custom_attributes");
	if (!cJSON_IsObject(ca))
		return 0;
	struct cg_sbuf items;
	memset(&items, 0, sizeof(items));
	int dropped = 0;
	for (cJSON *e = ca->child; e;) {
		cJSON *next = e->next;
		int drop = 1;
		if (t) {
			const cJSON *ty = cJSON_GetObjectItemCaseSensitive(e, "type");
			char why[200];
			enum cg_dd_ca_kind kind = cJSON_IsString(ty) ? cg_dd_ca_kind_parse(ty->valuestring) : CG_DD_CA_UNKNOWN;
			drop = mismatch(t, e->string, kind, cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "is_multi")), why,
					sizeof(why)) != NULL;
		}
		if (drop) {
			cg_sbuf_add(&items, "- ");
			put_code(&items, e->string);
			cg_sbuf_add(&items, ": ");
			put_value(&items, cJSON_GetObjectItemCaseSensitive(e, "value"));
			cg_sbuf_add(&items, "\n");
			cJSON_Delete(cJSON_DetachItemViaPointer(ca, e));
			dropped++;
		}
		e = next;
	}
	int rc = items.oom ? CG_ENOMEM : 0;
	if (!rc && dropped) {
		if (!ca->child)
			cJSON_DeleteItemFromObjectCaseSensitive(attrs, "custom_attributes");
		rc = append_note(attrs, heading, &items);
	}
	free(items.p);
	return rc ? rc : dropped;
}

int cg_create_drop_refused(cJSON *body, const struct cg_catype *t)
{
	if (!t || !t->known)
		return 0;
	return drop_custom(body, t, "Custom attributes this case type does not define");
}

int cg_create_drop_custom(cJSON *body)
{
	return drop_custom(body, NULL, "Custom attributes Datadog did not accept");
}

int cg_create_drop_optional(cJSON *body)
{
	cJSON *data = cJSON_GetObjectItemCaseSensitive(body, "data");
	cJSON *attrs = attrs_of(body);
	cJSON *rel = cJSON_GetObjectItemCaseSensitive(data, "relationships");
	struct cg_sbuf items;
	memset(&items, 0, sizeof(items));
	int dropped = 0;
	const char *assignee = NULL;
	cJSON *as = cJSON_GetObjectItemCaseSensitive(rel, "assignee");
	const cJSON *aid = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(as, "data"), "id");
	if (cJSON_IsString(aid))
		assignee = aid->valuestring;
	if (as) {
		cg_sbuf_add(&items, "- assignee: ");
		put_code(&items, assignee ? assignee : "?");
		cg_sbuf_add(&items, "\n");
		cJSON_DeleteItemFromObjectCaseSensitive(rel, "assignee");
		dropped++;
	}
	cJSON *sn = cJSON_GetObjectItemCaseSensitive(attrs, "status_name");
	if (sn) {
		cg_sbuf_add(&items, "- status: ");
		put_code(&items, cJSON_IsString(sn) ? sn->valuestring : "?");
		cg_sbuf_add(&items, "\n");
		cJSON_DeleteItemFromObjectCaseSensitive(attrs, "status_name");
		dropped++;
	}
	int rc = items.oom ? CG_ENOMEM : 0;
	if (!rc && dropped)
		rc = append_note(attrs, "Not set on this case (Datadog did not accept them)", &items);
	free(items.p);
	return rc ? rc : dropped;
}

int cg_create_set_marker_attr(cJSON *body, const char *key, const char *marker)
{
	cJSON *attrs = attrs_of(body);
	if (!attrs)
		return CG_EINVAL;
	cJSON *ca = cJSON_GetObjectItemCaseSensitive(attrs, "custom_attributes");
	if (!ca && !(ca = cJSON_AddObjectToObject(attrs, "custom_attributes")))
		return CG_ENOMEM;
	cJSON *v = cJSON_CreateObject();
	if (!v || !cJSON_AddStringToObject(v, "type", "TEXT") || !cJSON_AddFalseToObject(v, "is_multi") ||
	    !cJSON_AddStringToObject(v, "value", marker)) {
		cJSON_Delete(v);
		return CG_ENOMEM;
	}
	cJSON_DeleteItemFromObjectCaseSensitive(ca, key);
	cJSON_AddItemToObject(ca, key, v);
	return 0;
}
