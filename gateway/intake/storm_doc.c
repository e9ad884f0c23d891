/* storm_doc.c: what storm folding (storm.c) and the daemon's storm tick (storm_tick.c) share: JSON document fields, alert lines, and the storm case's event payloads. */
#include "storm_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "maputil.h"
#include "mdsafe.h"
#include "payload.h"

int64_t cg_storm_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Lower is more urgent; no priority (0) is the least urgent. */
int cg_storm_urgency(int prio)
{
	return prio >= 1 && prio <= 5 ? prio : 6;
}

/* "5m", "90s", "2h": a duration as a person reads it. */
void cg_storm_human_ms(int64_t ms, char *out, size_t len)
{
	int64_t s = ms / 1000;
	if (s >= 3600 && s % 3600 == 0)
		snprintf(out, len, "%" PRId64 "h", s / 3600);
	else if (s >= 60 && s % 60 == 0)
		snprintf(out, len, "%" PRId64 "m", s / 60);
	else
		snprintf(out, len, "%" PRId64 "s", s);
}

const char *cg_storm_prio_name(int prio)
{
	const char *const names[] = {"no priority", "P1", "P2", "P3", "P4", "P5"};
	return prio >= 1 && prio <= 5 ? names[prio] : names[0];
}

/* "**P2** Disk full on db-1 (`db-1/disk`)": one alert in Markdown, its sender text inert. */
void cg_storm_alert_line(struct cg_sbuf *b, int prio, const char *title, const char *key)
{
	int cut_t = 0, cut_k = 0;
	char *t = cg_mu_cut_chars(title && title[0] ? title : "(no title)", LINE_TITLE_MAX, &cut_t);
	char *k = cg_mu_cut_chars(key, LINE_KEY_MAX, &cut_k);
	if (!t || !k) {
		b->oom = 1;
	} else {
		cg_sbuf_addf(b, "**%s** ", cg_storm_prio_name(prio));
		cg_md_put(b, t, CG_MD_TEXT);
		if (cut_t)
			cg_sbuf_add(b, "…");
		/* A code span whose fence outgrows any backticks in the key: nothing in it can escape. */
		cg_sbuf_add(b, " (");
		cg_md_code(b, k);
		cg_sbuf_add(b, cut_k ? "…)" : ")");
	}
	free(t);
	free(k);
}

int64_t cg_storm_num(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

const char *cg_storm_str(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	return cJSON_IsString(v) ? v->valuestring : "";
}

int cg_storm_set_num(cJSON *o, const char *name, int64_t v)
{
	cJSON *n = cJSON_CreateNumber((double)v);
	return n && cJSON_ReplaceItemInObjectCaseSensitive(o, name, n) ? 0 : (cJSON_Delete(n), CG_ENOMEM);
}

int cg_storm_add_num(cJSON *o, const char *name, int64_t v)
{
	return cJSON_GetObjectItemCaseSensitive(o, name) ? cg_storm_set_num(o, name, v)
							  : (cJSON_AddNumberToObject(o, name, (double)v) ? 0 : CG_ENOMEM);
}

int cg_storm_set_str(cJSON *o, const char *name, const char *v)
{
	cJSON *s = cJSON_CreateString(v);
	if (!s)
		return CG_ENOMEM;
	if (cJSON_GetObjectItemCaseSensitive(o, name))
		return cJSON_ReplaceItemInObjectCaseSensitive(o, name, s) ? 0 : (cJSON_Delete(s), CG_ENOMEM);
	return cJSON_AddItemToObject(o, name, s) ? 0 : (cJSON_Delete(s), CG_ENOMEM);
}

/* The alert's own payload, its summary saying it raised the storm case. */
char *cg_storm_raise_payload(const struct cg_store_event *ev)
{
	struct cg_payload p;
	if (cg_payload_decode(ev->payload, &p) != 0)
		return NULL;
	struct cg_sbuf b = {0};
	cg_sbuf_add(&b, "A folded alert is more urgent than this storm case: ");
	cg_md_put(&b, p.title[0] ? p.title : "(no title)", CG_MD_TEXT);
	char *text = cg_sbuf_take(&b);
	char *out = NULL;
	if (text) {
		struct cg_payload_in in = {.title = p.title,
					   .summary = text,
					   .create = p.create,
					   .attributes = p.attributes,
					   .insights = p.insights};
		out = cg_payload_encode(&in);
	}
	free(text);
	cg_payload_cleanup(&p);
	return out;
}

/* A comment-only payload with text. */
char *cg_storm_note_payload(const char *text)
{
	struct cg_payload_in in = {.summary = text, .comment_only = 1};
	return cg_payload_encode(&in);
}

char *cg_storm_digest_take(cJSON *doc)
{
	cJSON *d = cJSON_GetObjectItemCaseSensitive(doc, "digest");
	int n = cJSON_IsArray(d) ? cJSON_GetArraySize(d) : 0;
	int64_t dropped = cg_storm_num(doc, "dropped");
	if (n == 0 && dropped == 0)
		return NULL;
	struct cg_sbuf b = {0};
	cg_sbuf_addf(&b, "**Alert storm digest**: %" PRId64 " of %" PRId64 " folded alerts still firing.\n\n",
		     cg_storm_num(doc, "open"), cg_storm_num(doc, "members"));
	const cJSON *it;
	cJSON_ArrayForEach(it, d)
	{
		if (cJSON_IsString(it)) {
			cg_sbuf_add(&b, it->valuestring);
			cg_sbuf_add(&b, "\n");
		}
	}
	if (dropped)
		cg_sbuf_addf(&b, "- … and %" PRId64 " more\n", dropped);
	cJSON_DeleteItemFromObjectCaseSensitive(doc, "digest");
	cJSON_DeleteItemFromObjectCaseSensitive(doc, "dropped");
	char *text = cg_sbuf_take(&b);
	if (!text || !cJSON_AddArrayToObject(doc, "digest")) {
		free(text);
		return NULL;
	}
	char *pl = cg_storm_note_payload(text);
	free(text);
	return pl;
}

/* The payload of a storm's resolve: its summary says why. */
char *cg_storm_resolve_payload(const cJSON *doc, int stale)
{
	struct cg_sbuf b = {0};
	if (stale)
		cg_sbuf_addf(&b,
			     "Nothing heard of this storm's %" PRId64 " still-firing alert(s) for %" PRId64
			     " h (no repeat, no resolution): resolved by casegate",
			     cg_storm_num(doc, "open"), cg_storm_num(doc, "stale_ms") / 3600000);
	else
		cg_sbuf_addf(&b, "All %" PRId64 " alerts of this storm resolved", cg_storm_num(doc, "members"));
	char *text = cg_sbuf_take(&b);
	struct cg_payload_in in = {.summary = text ? text : ""};
	char *pl = text ? cg_payload_encode(&in) : NULL;
	free(text);
	return pl;
}
