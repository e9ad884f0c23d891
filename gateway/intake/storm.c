/* storm.c: alert storms folded into one case per storm: the decisions, made in the store transaction that stores the alerts. */
#define CG_LOG_COMPONENT "storm"
#include "storm.h"
#include "storm_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "err.h"
#include "event.h"
#include "json.h"
#include "log.h"
#include "casebody.h"
#include "maputil.h"
#include "mdsafe.h"
#include "payload.h"
#include "sbuf.h"
#include "text.h"

/*
 * The store's documents (cg_store_kv_*), JSON:
 *   "w:<source>"  the source's window: {"start", "count", "storming", "storm"}
 *   "s:<key>"     a storm not yet resolved: {"source", "started", "priority", "members", "open",
 *                 "digest": [lines not yet posted], "dropped": lines left out of the digest}; its
 *                 due time is when the digest is to be posted (0: nothing to post)
 *   "m:<key>"     a folded alert (its namespaced dedup key): {"storm", "priority", "title"}
 */
#define STORM_TAG "#storm-"
#define DIGEST_MAX_LINES 200    /* lines kept for one digest; the rest are counted */
#define LISTING_MAX_LINES 100   /* alerts named in the storm case's description */
#define FIRST_DESC_MAX 4000     /* characters kept of the first alert's own description */
#define TITLE_MAX 200
#define LISTING_MAX_BYTES 12000 /* the description's listing; the rest counted */
#define DIGEST_MAX_BYTES 12000  /* one digest comment (Datadog's comments: CG_COMMENT_MAX) */
/* A storm whose alerts neither fire again nor resolve for this long (a lost resolution, a sender
 * that sends none) is resolved by casegate, so that it cannot hold its alerts for ever. */
#define STALE_MIN_MS (24LL * 3600 * 1000)

int cg_storm_rule_of(const struct cg_source_config *src, struct cg_storm_rule *r)
{
	memset(r, 0, sizeof(*r));
	if (!src || !src->storm.max_new_cases)
		return 0;
	snprintf(r->source, sizeof(r->source), "%s", src->name);
	r->max_new = src->storm.max_new_cases;
	r->per_ms = (int64_t)src->storm.per_ms;
	r->digest_ms = (int64_t)src->storm.digest_ms;
	return 1;
}

/* The key as its sender gave it: the namespaced dedup key without "<source>:". */
static const char *bare_key(const char *dedup_key, const char *source)
{
	size_t n = strlen(source);
	if (strncmp(dedup_key, source, n) == 0 && dedup_key[n] == ':')
		return dedup_key + n + 1;
	return dedup_key;
}

/* ---- documents ---- */

static int doc_get(struct cg_store *st, const char *prefix, const char *key, cJSON **doc, int64_t *due)
{
	char *k = NULL;
	struct cg_sbuf b = {0};
	cg_sbuf_add(&b, prefix);
	cg_sbuf_add(&b, key);
	if (!(k = cg_sbuf_take(&b)))
		return CG_ENOMEM;
	struct cg_store_kv kv = {0};
	int rc = cg_store_kv_get(st, k, &kv);
	free(k);
	*doc = NULL;
	if (rc == CG_ENOENT)
		return 0;
	if (rc)
		return rc;
	*doc = cJSON_Parse(kv.v);
	if (due)
		*due = kv.due_ms;
	cg_store_kv_cleanup(&kv);
	/* A document this build cannot read is taken as absent (and rewritten when needed). */
	if (*doc && !cJSON_IsObject(*doc)) {
		cJSON_Delete(*doc);
		*doc = NULL;
	}
	return 0;
}

static int doc_put(struct cg_store *st, const char *prefix, const char *key, const cJSON *doc, int64_t due)
{
	struct cg_sbuf b = {0};
	cg_sbuf_add(&b, prefix);
	cg_sbuf_add(&b, key);
	char *k = cg_sbuf_take(&b);
	char *v = doc ? cJSON_PrintUnformatted(doc) : NULL;
	int rc = !k || (doc && !v) ? CG_ENOMEM : cg_store_kv_put(st, k, v, due);
	free(k);
	cJSON_free(v);
	return rc;
}

/* ---- one fold ---- */

/* A storm this fold touched. */
struct storm_ref {
	char *key;
	cJSON *doc;
	int64_t due;
	int created;        /* opened by this fold: its create event goes out at the end */
	int closing;        /* every folded alert resolved: its digest, then its resolve, go out */
	int ended;          /* over without a resolution of all (its case is gone, or it went stale):
			     * its digest goes out (and, stale, its resolve), then it is forgotten */
	int stale;          /* ended because nothing was heard of its alerts for its stale time */
	size_t *notes;      /* created: notes (input indices) that go out after its create */
	size_t nnotes;
	int raised_to;      /* priority this fold raised it to (0: not raised) */
	size_t raised_by;   /* raised: index (in the input) of the alert that raised it */
	size_t best;        /* created: index (in the input) of its most urgent alert */
	struct cg_sbuf listing; /* created: the alerts that opened it */
	size_t nlisted, nfirst;
};

struct fold {
	struct cg_store *st;
	const struct cg_storm_rule *r;
	const struct cg_store_event *in;
	int64_t now;
	cJSON *w;           /* the source's window (loaded on first need) */
	int w_loaded, w_dirty;
	struct storm_ref *s;
	size_t ns;
	char **passed;      /* keys let through by this fold (their events are not in the store yet) */
	size_t npassed;
	struct cg_storm_fold *out;
	size_t cap;
};

static struct cg_store_event *out_add(struct fold *f)
{
	struct cg_storm_fold *o = f->out;
	if (o->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 8;
		struct cg_store_event *v = realloc(o->evs, cap * sizeof(*v));
		if (!v)
			return NULL;
		o->evs = v;
		f->cap = cap;
	}
	struct cg_store_event *e = &o->evs[o->n++];
	memset(e, 0, sizeof(*e));
	return e;
}

/* A copy of ev (for dedup key key when not NULL) to enqueue. */
static int out_copy(struct fold *f, const struct cg_store_event *ev, const char *key)
{
	struct cg_store_event *e = out_add(f);
	if (!e)
		return CG_ENOMEM;
	e->source = strdup(ev->source);
	e->dedup_key = strdup(key ? key : ev->dedup_key);
	e->status = ev->status;
	e->priority = ev->priority;
	e->severity = ev->severity ? strdup(ev->severity) : NULL;
	e->payload = ev->payload ? strdup(ev->payload) : NULL;
	e->received_ms = ev->received_ms;
	e->next_ms = ev->next_ms;
	if (!e->source || !e->dedup_key || (ev->severity && !e->severity) || (ev->payload && !e->payload))
		return CG_ENOMEM;
	return 0;
}

/* An event of the storm case: status, priority, payload (taken). */
static int out_storm(struct fold *f, const struct storm_ref *s, int status, int prio, char *payload)
{
	struct cg_store_event *e = out_add(f);
	if (!e) {
		free(payload);
		return CG_ENOMEM;
	}
	e->source = strdup(f->r->source);
	e->dedup_key = strdup(s->key);
	e->status = status;
	e->priority = prio;
	e->payload = payload;
	e->received_ms = f->now;
	e->next_ms = f->now;
	return e->source && e->dedup_key && e->payload ? 0 : CG_ENOMEM;
}

static int passed_has(const struct fold *f, const char *key)
{
	for (size_t i = 0; i < f->npassed; i++)
		if (strcmp(f->passed[i], key) == 0)
			return 1;
	return 0;
}

static int passed_add(struct fold *f, const char *key)
{
	char **v = realloc(f->passed, (f->npassed + 1) * sizeof(*v));
	if (!v)
		return CG_ENOMEM;
	f->passed = v;
	return (v[f->npassed] = strdup(key)) ? (f->npassed++, 0) : CG_ENOMEM;
}

/* The storm of key, loaded once per fold; *out NULL when it is resolved (or never was). */
static int storm_load(struct fold *f, const char *key, struct storm_ref **out)
{
	*out = NULL;
	for (size_t i = 0; i < f->ns; i++)
		if (strcmp(f->s[i].key, key) == 0) {
			*out = f->s[i].closing || f->s[i].ended || !f->s[i].doc ? NULL : &f->s[i];
			return 0;
		}
	cJSON *doc = NULL;
	int64_t due = 0;
	int rc = doc_get(f->st, "s:", key, &doc, &due);
	if (rc)
		return rc;
	struct storm_ref *v = realloc(f->s, (f->ns + 1) * sizeof(*v));
	if (!v) {
		cJSON_Delete(doc);
		return CG_ENOMEM;
	}
	f->s = v;
	struct storm_ref *s = &v[f->ns];
	memset(s, 0, sizeof(*s));
	if (!(s->key = strdup(key))) {
		cJSON_Delete(doc);
		return CG_ENOMEM;
	}
	f->ns++;
	s->doc = doc;
	s->due = due;
	*out = doc ? s : NULL;
	return 0;
}

/* Opens a new storm for the window. */
static int storm_open(struct fold *f, int prio, struct storm_ref **out)
{
	char key[300];
	int64_t t = f->now;
	/* A storm resolved by this same fold keeps its key: the next one gets a later one. */
	for (;;) {
		snprintf(key, sizeof(key), "%s:" STORM_TAG "%" PRId64, f->r->source, t);
		int used = 0;
		for (size_t i = 0; i < f->ns; i++)
			used |= strcmp(f->s[i].key, key) == 0;
		struct cg_store_kv old = {0};
		char k2[310];
		snprintf(k2, sizeof(k2), "s:%s", key);
		int rc = cg_store_kv_get(f->st, k2, &old);
		if (rc && rc != CG_ENOENT)
			return rc;
		used |= rc == 0;
		cg_store_kv_cleanup(&old);
		if (!used)
			break;
		t++;
	}
	struct storm_ref *v = realloc(f->s, (f->ns + 1) * sizeof(*v));
	if (!v)
		return CG_ENOMEM;
	f->s = v;
	struct storm_ref *s = &v[f->ns];
	memset(s, 0, sizeof(*s));
	if (!(s->key = strdup(key)) || !(s->doc = cJSON_CreateObject())) {
		free(s->key);
		return CG_ENOMEM;
	}
	f->ns++;
	s->created = 1;
	int rc = cg_storm_set_str(s->doc, "source", f->r->source);
	if (!rc)
		rc = cg_storm_add_num(s->doc, "started", f->now);
	if (!rc)
		rc = cg_storm_add_num(s->doc, "priority", prio);
	if (!rc)
		rc = cg_storm_add_num(s->doc, "members", 0);
	if (!rc)
		rc = cg_storm_add_num(s->doc, "open", 0);
	if (!rc)
		rc = cg_storm_add_num(s->doc, "last", f->now);
	if (!rc)
		rc = cg_storm_add_num(s->doc, "stale_ms", 2 * f->r->per_ms > STALE_MIN_MS ? 2 * f->r->per_ms : STALE_MIN_MS);
	if (!rc && !cJSON_AddArrayToObject(s->doc, "digest"))
		rc = CG_ENOMEM;
	if (!rc)
		rc = cg_storm_set_str(f->w, "storm", key);
	f->w_dirty = 1;
	*out = s;
	return rc;
}

/* A line for the storm's next digest (at most DIGEST_MAX_LINES, the rest counted). */
static int digest_add(struct fold *f, struct storm_ref *s, const char *what, int prio, const char *title,
		      const char *key)
{
	cJSON *d = cJSON_GetObjectItemCaseSensitive(s->doc, "digest");
	if (!cJSON_IsArray(d)) {
		cJSON_DeleteItemFromObjectCaseSensitive(s->doc, "digest");
		if (!(d = cJSON_AddArrayToObject(s->doc, "digest")))
			return CG_ENOMEM;
	}
	if (s->due == 0)
		s->due = f->now + f->r->digest_ms;
	size_t bytes = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, d) bytes += cJSON_IsString(it) ? strlen(it->valuestring) + 1 : 0;
	if (cJSON_GetArraySize(d) >= DIGEST_MAX_LINES || bytes >= DIGEST_MAX_BYTES)
		return cg_storm_add_num(s->doc, "dropped", cg_storm_num(s->doc, "dropped") + 1);
	struct cg_sbuf b = {0};
	cg_sbuf_add(&b, what);
	cg_storm_alert_line(&b, prio, title, key);
	char *line = cg_sbuf_take(&b);
	cJSON *item = line ? cJSON_CreateString(line) : NULL;
	free(line);
	if (!item || !cJSON_AddItemToArray(d, item)) {
		cJSON_Delete(item);
		return CG_ENOMEM;
	}
	return 0;
}

/* The window of the source, rolled over when `per` has passed. */
static int window(struct fold *f)
{
	if (!f->w_loaded) {
		int rc = doc_get(f->st, "w:", f->r->source, &f->w, NULL);
		if (rc)
			return rc;
		f->w_loaded = 1;
		if (!f->w) {
			if (!(f->w = cJSON_CreateObject()) || cg_storm_add_num(f->w, "start", f->now) || cg_storm_add_num(f->w, "count", 0) ||
			    cg_storm_add_num(f->w, "storming", 0) || cg_storm_set_str(f->w, "storm", ""))
				return CG_ENOMEM;
			f->w_dirty = 1;
		}
	}
	int64_t start = cg_storm_num(f->w, "start");
	if (f->now - start >= f->r->per_ms || f->now < start) {
		/* A window that saw more than max_new new alerts keeps the storm going through the next
		 * (the one starting now, when it follows at once); a quieter one, or a whole window of
		 * silence since, ends it. */
		int storming = cg_storm_num(f->w, "count") > (int64_t)f->r->max_new && f->now - start < 2 * f->r->per_ms;
		if (cg_storm_set_num(f->w, "start", f->now) || cg_storm_set_num(f->w, "count", 0) || cg_storm_set_num(f->w, "storming", storming) ||
		    (!storming && cg_storm_set_str(f->w, "storm", "")))
			return CG_ENOMEM;
		f->w_dirty = 1;
	}
	return 0;
}

/* Reads the title a stored payload carries ("" when none); *has_create (may be NULL): it carries
 * a case draft. */
static char *payload_info(const char *payload, int *has_create)
{
	struct cg_payload p;
	if (has_create)
		*has_create = 0;
	if (cg_payload_decode(payload, &p) != 0)
		return strdup("");
	char *t = strdup(p.title);
	if (has_create)
		*has_create = p.create != NULL;
	cg_payload_cleanup(&p);
	return t;
}

/* s's case is gone (closed in Datadog, never made): new alerts must not fold into it unseen. */
static int storm_gone(struct fold *f, struct storm_ref *s, int *gone)
{
	int active = 0;
	int rc = cg_store_key_active(f->st, s->key, &active);
	*gone = rc == 0 && !active;
	return rc;
}

/* A new alert of the source past the window's allowance, with its title (taken): into the
 * window's storm. */
static int fold_new(struct fold *f, size_t i, char *title)
{
	const struct cg_store_event *ev = &f->in[i];
	struct storm_ref *s = NULL;
	const char *cur = cg_storm_str(f->w, "storm");
	int rc = cur[0] ? storm_load(f, cur, &s) : 0;
	if (rc) {
		free(title);
		return rc;
	}
	if (s && !s->created) {
		int gone = 0;
		if ((rc = storm_gone(f, s, &gone))) {
			free(title);
			return rc;
		}
		if (gone)
			s->ended = 1; /* its digest goes to the case as it is; new alerts get a new storm */
		if (gone)
			s = NULL;
	}
	if (!s && (rc = storm_open(f, ev->priority, &s))) {
		free(title);
		return rc;
	}
	const char *key = bare_key(ev->dedup_key, f->r->source);
	cJSON *m = cJSON_CreateObject();
	rc = !m || cg_storm_set_str(m, "storm", s->key) || cg_storm_add_num(m, "priority", ev->priority) || cg_storm_set_str(m, "title", title)
		     ? CG_ENOMEM
		     : doc_put(f->st, "m:", ev->dedup_key, m, 0);
	cJSON_Delete(m);
	if (!rc)
		rc = cg_storm_set_num(s->doc, "members", cg_storm_num(s->doc, "members") + 1);
	if (!rc)
		rc = cg_storm_set_num(s->doc, "open", cg_storm_num(s->doc, "open") + 1);
	if (!rc && s->created) {
		/* Opened by this fold: named in its description; the most urgent one gives the case. */
		if (s->nfirst == 0 || cg_storm_urgency(ev->priority) < cg_storm_urgency(f->in[s->best].priority))
			s->best = i;
		s->nfirst++;
		if (s->nlisted < LISTING_MAX_LINES && s->listing.len < LISTING_MAX_BYTES) {
			cg_sbuf_add(&s->listing, "- ");
			cg_storm_alert_line(&s->listing, ev->priority, title, key);
			cg_sbuf_add(&s->listing, "\n");
			s->nlisted++;
		}
		int p = (int)cg_storm_num(s->doc, "priority");
		if (cg_storm_urgency(ev->priority) < cg_storm_urgency(p))
			rc = cg_storm_set_num(s->doc, "priority", ev->priority);
	} else if (!rc) {
		rc = digest_add(f, s, "- new: ", ev->priority, title, key);
		int p = (int)cg_storm_num(s->doc, "priority");
		if (!rc && cg_storm_urgency(ev->priority) < cg_storm_urgency(p)) {
			rc = cg_storm_set_num(s->doc, "priority", ev->priority);
			s->raised_to = ev->priority;
			s->raised_by = i;
		}
	}
	free(title);
	if (!rc)
		rc = cg_storm_set_num(s->doc, "last", f->now);
	if (!rc)
		f->out->folded++;
	return rc;
}

/* An event of an alert folded into storm s (its document m). */
static int fold_member(struct fold *f, size_t i, struct storm_ref *s, cJSON *m)
{
	const struct cg_store_event *ev = &f->in[i];
	const char *key = bare_key(ev->dedup_key, f->r->source);
	if (ev->status != CG_STATUS_COMMENT && cg_storm_set_num(s->doc, "last", f->now))
		return CG_ENOMEM;
	switch (ev->status) {
	case CG_STATUS_RESOLVED: {
		int rc = doc_put(f->st, "m:", ev->dedup_key, NULL, 0);
		int64_t open = cg_storm_num(s->doc, "open") - 1;
		if (!rc)
			rc = cg_storm_set_num(s->doc, "open", open > 0 ? open : 0);
		if (!rc)
			rc = digest_add(f, s, "- resolved: ", (int)cg_storm_num(m, "priority"), cg_storm_str(m, "title"), key);
		if (!rc && open <= 0)
			s->closing = 1;
		return rc;
	}
	case CG_STATUS_FIRING: {
		int p = (int)cg_storm_num(s->doc, "priority");
		if (cg_storm_urgency(ev->priority) >= cg_storm_urgency(p)) {
			f->out->absorbed++;
			return 0;
		}
		int rc = cg_storm_set_num(s->doc, "priority", ev->priority);
		if (!rc)
			rc = cg_storm_set_num(m, "priority", ev->priority);
		if (!rc)
			rc = doc_put(f->st, "m:", ev->dedup_key, m, 0);
		s->raised_to = ev->priority;
		s->raised_by = i;
		return rc;
	}
	default:
		/* A note (acknowledgement, reply): on the storm case, after its create. */
		if (s->created) {
			size_t *v = realloc(s->notes, (s->nnotes + 1) * sizeof(*v));
			if (!v)
				return CG_ENOMEM;
			s->notes = v;
			v[s->nnotes++] = i;
			return 0;
		}
		return out_copy(f, ev, s->key);
	}
}

static int fold_one(struct fold *f, size_t i)
{
	const struct cg_store_event *ev = &f->in[i];
	cJSON *m = NULL;
	int rc = doc_get(f->st, "m:", ev->dedup_key, &m, NULL);
	if (rc)
		return rc;
	if (m) {
		struct storm_ref *s = NULL;
		rc = storm_load(f, cg_storm_str(m, "storm"), &s);
		if (!rc && s && !s->created && f->now - cg_storm_num(s->doc, "last") > cg_storm_num(s->doc, "stale_ms") &&
		    cg_storm_num(s->doc, "stale_ms") > 0) {
			/* Nothing heard of its alerts for so long: resolved by casegate (storm_finish). */
			s->ended = 1;
			s->stale = 1;
			s = NULL;
		}
		if (!rc && s)
			rc = fold_member(f, i, s, m);
		if (!rc && !s) {
			/* Its storm is over (resolved): the alert stands on its own again. */
			rc = doc_put(f->st, "m:", ev->dedup_key, NULL, 0);
			cJSON_Delete(m);
			m = NULL;
			if (!rc)
				goto own;
		}
		cJSON_Delete(m);
		return rc;
	}
own:
	if (ev->status != CG_STATUS_FIRING || passed_has(f, ev->dedup_key))
		return out_copy(f, ev, NULL);
	int active = 0;
	if ((rc = cg_store_key_active(f->st, ev->dedup_key, &active)))
		return rc;
	if (active)
		return out_copy(f, ev, NULL);
	if ((rc = window(f)))
		return rc;
	int64_t count = cg_storm_num(f->w, "count") + 1;
	if ((rc = cg_storm_set_num(f->w, "count", count)))
		return rc;
	f->w_dirty = 1;
	if (!cg_storm_num(f->w, "storming") && count <= (int64_t)f->r->max_new) {
		if ((rc = passed_add(f, ev->dedup_key)))
			return rc;
		return out_copy(f, ev, NULL);
	}
	int has_create = 0;
	char *title = payload_info(ev->payload, &has_create);
	if (!title)
		return CG_ENOMEM;
	if (!has_create) { /* nothing to make a storm case of: it stays its own */
		free(title);
		return out_copy(f, ev, NULL);
	}
	return fold_new(f, i, title);
}

/* The storm case's create: the most urgent first alert's own, retitled and described as the storm. */
static char *storm_create_payload(struct fold *f, struct storm_ref *s)
{
	const struct cg_store_event *best = &f->in[s->best];
	struct cg_payload p;
	if (cg_payload_decode(best->payload, &p) != 0)
		return NULL;
	if (!p.create) {
		cg_payload_cleanup(&p);
		return NULL;
	}
	char per[32], every[32];
	cg_storm_human_ms(f->r->per_ms, per, sizeof(per));
	cg_storm_human_ms(f->r->digest_ms, every, sizeof(every));
	int cut = 0;
	char *first = cg_mu_cut_chars(p.title, TITLE_MAX, &cut);
	struct cg_sbuf t = {0}, d = {0}, sum = {0};
	cg_sbuf_addf(&t, "Alert storm on %s: %s%s", f->r->source, first ? first : "", cut ? "…" : "");
	free(first);
	cg_sbuf_addf(&d,
		     "**Alert storm.** More than %u new alerts arrived from source `%s` within %s, so casegate folds "
		     "further new alerts of this source into this one case instead of opening a case for each.\n\n"
		     "- A digest comment names newly folded and resolved alerts, at most one every %s.\n"
		     "- Repeats of folded alerts add nothing; a folded alert more urgent than this case raises its "
		     "priority.\n"
		     "- When every folded alert has resolved, this case is resolved like any alert of the source.\n\n"
		     "**Alerts that opened it (%zu):**\n\n",
		     f->r->max_new, f->r->source, per, every, s->nfirst);
	cg_sbuf_addn(&d, s->listing.p ? s->listing.p : "", s->listing.len);
	if (s->nfirst > s->nlisted)
		cg_sbuf_addf(&d, "- … and %zu more\n", s->nfirst - s->nlisted);
	const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(p.create, "data"),
							       "attributes");
	const char *desc = cg_json_str(attrs, "description");
	if (desc && desc[0]) {
		char *own = cg_mu_cut_chars(desc, FIRST_DESC_MAX, &cut);
		cg_sbuf_add(&d, "\n**The most urgent of them, as its own case would have read:**\n\n");
		cg_sbuf_add(&d, own ? own : "");
		if (cut)
			cg_sbuf_add(&d, "\n\n(cut)");
		free(own);
	}
	cg_sbuf_addf(&sum, "Alert storm: %zu new alerts folded", s->nfirst);
	char *title = cg_sbuf_take(&t), *description = cg_sbuf_take(&d), *summary = cg_sbuf_take(&sum);
	if (title)
		cg_utf8_truncate(title, CG_TITLE_MAX);
	if (description) /* room for the marker the create appends */
		cg_utf8_truncate(description, CG_DESCRIPTION_MAX - 512);
	char *out = NULL;
	cJSON *create = cJSON_Duplicate(p.create, 1);
	cJSON *a = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(create, "data"), "attributes");
	if (title && description && summary && cJSON_IsObject(a) && cg_storm_set_str(a, "title", title) == 0 &&
	    cg_storm_set_str(a, "description", description) == 0) {
		struct cg_payload_in in = {.title = title,
					   .summary = summary,
					   .create = create,
					   .attributes = p.attributes,
					   .insights = p.insights};
		out = cg_payload_encode(&in);
	}
	cJSON_Delete(create);
	free(title);
	free(description);
	free(summary);
	cg_payload_cleanup(&p);
	return out;
}

/* What the fold decided for each storm it touched: its events, its document. */
static int storm_finish(struct fold *f, struct storm_ref *s)
{
	if (!s->doc)
		return 0;
	int prio = (int)cg_storm_num(s->doc, "priority");
	int rc = 0;
	int raise = s->raised_to != 0;
	if (s->created) {
		char *pl = storm_create_payload(f, s);
		if (!pl)
			return CG_ENOMEM;
		int made = f->in[s->best].priority;
		if ((rc = out_storm(f, s, CG_STATUS_FIRING, made, pl)))
			return rc;
		f->out->started++;
		/* Notes about its alerts in the same notification: after the create they are about. */
		for (size_t i = 0; i < s->nnotes; i++)
			if ((rc = out_copy(f, &f->in[s->notes[i]], s->key)))
				return rc;
		/* A repeat in the same notification more urgent than the case as made raises it. */
		raise = raise && cg_storm_urgency(s->raised_to) < cg_storm_urgency(made);
	}
	if (raise) {
		/* More urgent than the storm case: an escalation of it, which names the alert (its own
		 * case draft goes along: a storm case people closed meanwhile gives way to its case). */
		char *pl = cg_storm_raise_payload(&f->in[s->raised_by]);
		if (!pl)
			return CG_ENOMEM;
		if ((rc = out_storm(f, s, CG_STATUS_FIRING, s->raised_to, pl)))
			return rc;
	}
	if (s->closing || s->ended) {
		char *pl = cg_storm_digest_take(s->doc);
		if (pl && (rc = out_storm(f, s, CG_STATUS_COMMENT, prio, pl)))
			return rc;
		if (s->closing || s->stale) {
			if (!(pl = cg_storm_resolve_payload(s->doc, s->stale)))
				return CG_ENOMEM;
			if ((rc = out_storm(f, s, CG_STATUS_RESOLVED, prio, pl)))
				return rc;
		}
		return doc_put(f->st, "s:", s->key, NULL, 0);
	}
	return doc_put(f->st, "s:", s->key, s->doc, s->due);
}

static void fold_free(struct fold *f)
{
	for (size_t i = 0; i < f->ns; i++) {
		free(f->s[i].key);
		cJSON_Delete(f->s[i].doc);
		free(cg_sbuf_take(&f->s[i].listing));
		free(f->s[i].notes);
	}
	free(f->s);
	for (size_t i = 0; i < f->npassed; i++)
		free(f->passed[i]);
	free(f->passed);
	cJSON_Delete(f->w);
}

void cg_storm_fold_cleanup(struct cg_storm_fold *o)
{
	if (o->evs)
		cg_store_events_free(o->evs, o->n);
	memset(o, 0, sizeof(*o));
}

int cg_storm_fold(struct cg_store *st, const struct cg_storm_rule *r, const struct cg_store_event *evs, size_t n,
		  int64_t now, struct cg_storm_fold *out)
{
	cg_storm_fold_cleanup(out);
	struct fold f = {.st = st, .r = r, .in = evs, .now = now, .out = out};
	int rc = cg_store_kv_lock(st);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = fold_one(&f, i);
	for (size_t i = 0; i < f.ns && rc == 0; i++)
		rc = storm_finish(&f, &f.s[i]);
	if (rc == 0 && f.w_dirty)
		rc = doc_put(st, "w:", r->source, f.w, 0);
	fold_free(&f);
	if (rc)
		cg_storm_fold_cleanup(out);
	return rc;
}

int cg_storm_enqueue(struct cg_store *st, const struct cg_storm_rule *r, struct cg_store_event *evs, size_t n,
		     int64_t now, struct cg_storm_fold *out)
{
	if (!r->max_new)
		return cg_store_enqueue(st, evs, n);
	int rc = cg_storm_fold(st, r, evs, n, now, out);
	return rc || !out->n ? rc : cg_store_enqueue(st, out->evs, out->n);
}
