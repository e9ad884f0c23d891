/* builder.c: a normalised event plus a source's case spec become a case draft (the create body, attributes, comment text). */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "builder.h"
#include "sbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "casetext.h"
#include "err.h"
#include "mdsafe.h"
#include "tmpl.h"

static char *dup_n(const char *s, size_t n)
{
	char *d = malloc(n + 1);
	if (!d)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

/* ---- compiled spec -------------------------------------------------------------------- */

struct prio_word {
	char *word;
	int prio;
};

struct cg_builder {
	char *source_name, *project, *case_type;
	char *dedup_src; /* the dedup_key template as configured, for messages; NULL: the mapper's key */
	int prio_from_set; /* priority.from was configured (watched; the default is not) */
	struct cg_tmpl *title, *description, *dedup_key, *priority_from; /* NULL: not configured */
	struct prio_word *prio;
	size_t nprio;
	int prio_default;
	struct cg_caseattrs *values;
};

void cg_builder_destroy(struct cg_builder *b)
{
	if (!b)
		return;
	free(b->source_name);
	free(b->project);
	free(b->case_type);
	free(b->dedup_src);
	cg_tmpl_destroy(b->title);
	cg_tmpl_destroy(b->description);
	cg_tmpl_destroy(b->dedup_key);
	cg_tmpl_destroy(b->priority_from);
	for (size_t i = 0; i < b->nprio; i++)
		free(b->prio[i].word);
	free(b->prio);
	cg_caseattrs_destroy(b->values);
	free(b);
}

/* Parses the mapper's "word=P1,word2=P3" map. */
static int parse_default_map(struct cg_builder *b, const char *map, char *err, size_t errlen)
{
	size_t n = 1;
	for (const char *p = map; *p; p++)
		n += *p == ',';
	b->prio = calloc(n, sizeof(*b->prio));
	if (!b->prio)
		return CG_ENOMEM;
	const char *p = map;
	while (*p) {
		size_t elen = strcspn(p, ",");
		const char *eq = memchr(p, '=', elen);
		if (elen == 0) {
			p++;
			continue;
		}
		char *word = dup_n(p, eq ? (size_t)(eq - p) : elen);
		char *val = eq ? dup_n(eq + 1, elen - (size_t)(eq - p) - 1) : NULL;
		if (!word || (eq && !val)) {
			free(word);
			free(val);
			return CG_ENOMEM;
		}
		cg_text_trim(word);
		if (val)
			cg_text_trim(val);
		int prio = 0;
		if (!eq || !*word || cg_priority_parse(val, &prio)) {
			snprintf(err, errlen, "default_priority_map: bad entry \"%.*s\"", (int)(elen > 60 ? 60 : elen), p);
			free(word);
			free(val);
			return CG_EINVAL;
		}
		free(val);
		b->prio[b->nprio].word = word;
		b->prio[b->nprio].prio = prio;
		b->nprio++;
		p += elen;
		if (*p == ',')
			p++;
	}
	return 0;
}

static int check_literal(const char *what, const char *s, char *err, size_t errlen)
{
	if (!s || !*s) {
		snprintf(err, errlen, "%s is required", what);
		return CG_EINVAL;
	}
	return 0;
}

int cg_builder_create(const struct cg_case_spec *spec, struct cg_builder **out, char *err, size_t errlen)
{
	struct cg_builder *b = NULL;
	int rc = CG_ENOMEM;
	char tmp[1];
	if (!err || errlen == 0) {
		err = tmp;
		errlen = sizeof(tmp);
	}
	err[0] = '\0';

	if ((rc = check_literal("source_name", spec->source_name, err, errlen)) ||
	    (rc = check_literal("project", spec->project, err, errlen)) ||
	    (rc = check_literal("case_type", spec->case_type, err, errlen)))
		return rc;
	if (strlen(spec->source_name) > CG_SOURCE_NAME_MAX) {
		snprintf(err, errlen, "source_name longer than %d bytes", CG_SOURCE_NAME_MAX);
		return CG_EINVAL;
	}
	if (spec->prio_default_set && (spec->prio_default < 0 || spec->prio_default > 5)) {
		snprintf(err, errlen, "priority default %d out of range 0..5", spec->prio_default);
		return CG_EINVAL;
	}

	b = calloc(1, sizeof(*b));
	if (!b)
		goto nomem;
	b->source_name = strdup(spec->source_name);
	b->project = strdup(spec->project);
	b->case_type = strdup(spec->case_type);
	if (!b->source_name || !b->project || !b->case_type)
		goto nomem;
	b->prio_default = spec->prio_default_set ? spec->prio_default : 0;
	b->prio_from_set = spec->priority_from != NULL;
	if (spec->dedup_key && !(b->dedup_src = strdup(spec->dedup_key)))
		goto nomem;

	if ((spec->title && (rc = cg_tmpl_compile_named("title", spec->title, &b->title, err, errlen))) ||
	    (spec->description && (rc = cg_tmpl_compile_named("description", spec->description, &b->description, err, errlen))) ||
	    (spec->dedup_key && (rc = cg_tmpl_compile_named("dedup_key", spec->dedup_key, &b->dedup_key, err, errlen))) ||
	    (rc = cg_tmpl_compile_named("priority_from", spec->priority_from ? spec->priority_from : "{{severity}}",
			  &b->priority_from, err, errlen)))
		goto fail;

	if (spec->prio_map) {
		b->prio = calloc(spec->nprio ? spec->nprio : 1, sizeof(*b->prio));
		if (!b->prio)
			goto nomem;
		for (size_t i = 0; i < spec->nprio; i++) {
			const struct cg_prio_entry *e = &spec->prio_map[i];
			if (!e->word || e->prio < 0 || e->prio > 5) {
				snprintf(err, errlen, "priority map entry %zu invalid", i);
				rc = CG_EINVAL;
				goto fail;
			}
			b->prio[i].word = strdup(e->word);
			if (!b->prio[i].word)
				goto nomem;
			b->prio[i].prio = e->prio;
			b->nprio = i + 1;
		}
	} else if (spec->default_priority_map) {
		if ((rc = parse_default_map(b, spec->default_priority_map, err, errlen)))
			goto fail;
	}

	if ((rc = cg_caseattrs_create(spec->cas, spec->ncas, spec->attrs, spec->nattrs, spec->attrs_set, &b->values,
				      err, errlen)))
		goto fail;

	*out = b;
	return 0;
nomem:
	rc = CG_ENOMEM;
	snprintf(err, errlen, "%s", cg_strerror(rc));
fail:
	cg_builder_destroy(b);
	return rc;
}

/* ---- building one draft --------------------------------------------------------------- */

void cg_case_draft_cleanup(struct cg_case_draft *d)
{
	if (!d)
		return;
	free(d->dedup_key);
	free(d->severity);
	free(d->title);
	free(d->summary);
	free(d->notes);
	cJSON_Delete(d->create);
	cJSON_Delete(d->attributes);
	memset(d, 0, sizeof(*d));
}

/* A sanitised copy with collapsed whitespace; NULL in *out when s is NULL or collapses to "". */
static int collapsed_copy(const char *s, char **out)
{
	*out = NULL;
	if (!s)
		return 0;
	char *c = cg_utf8_sanitize(s);
	if (!c)
		return CG_ENOMEM;
	cg_text_collapse_ws(c);
	if (!*c) {
		free(c);
		return 0;
	}
	*out = c;
	return 0;
}

/* What one template's {{name}} tags did, for the watcher and for the dedup key's check. */
struct var_seen {
	const struct cg_field_watch *w;
	const char *field;
	int collect;            /* note what is missing (the dedup key's message) */
	int text;               /* some tag inserted more than blanks */
	struct cg_sbuf missing; /* "a, b" of the names not in the payload */
	size_t nmissing;
};

/* Anything but blanks: a value of the payload, even "-" or "{}:{}" (an Alertmanager groupKey), identifies. */
static int has_text(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strchr(" \t\r\n\v\f", p[i]))
			return 1;
	return 0;
}

/* Template text for a one-line message: control characters shown as '?', long ones cut. */
static void add_shown(struct cg_sbuf *s, const char *t, size_t n, size_t max)
{
	for (size_t i = 0; i < n && i < max; i++)
		cg_sbuf_addf(s, "%c", ((unsigned char)t[i] < 0x20 || t[i] == 0x7f) ? '?' : t[i]);
	if (n > max)
		cg_sbuf_add(s, "...");
}

static void seen_var(const struct cg_tmpl_var *v, void *ud)
{
	struct var_seen *s = ud;
	if (s->w && s->w->fn)
		s->w->fn(s->field, v, s->w->ud);
	if (!s->collect)
		return;
	if (has_text(v->text, v->text_len))
		s->text = 1;
	if (v->found || v->fallback)
		return;
	if (s->nmissing < 4) {
		if (s->nmissing)
			cg_sbuf_add(&s->missing, ", ");
		add_shown(&s->missing, v->name, v->name_len, 60);
	} else if (s->nmissing == 4) {
		cg_sbuf_add(&s->missing, ", ...");
	}
	s->nmissing++;
}

static int build_dedup(const struct cg_builder *b, const struct cg_event *ev, const cJSON *ctx,
		       const struct cg_field_watch *w, char **out, char *err, size_t errlen)
{
	char *key = NULL;
	int rc;
	struct var_seen seen = {.w = w, .field = "dedup_key", .collect = 1};
	if (b->dedup_key) {
		struct cg_tmpl_opts o = {.on_var = seen_var, .on_var_ud = &seen};
		if ((rc = cg_tmpl_render_opts(b->dedup_key, ctx, &o, &key))) {
			free(seen.missing.p);
			return rc;
		}
	} else {
		key = strdup(ev->dedup_key ? ev->dedup_key : "");
		if (!key)
			return CG_ENOMEM;
	}
	cg_text_trim(key);
	/*
	 * A key without anything of the alert in it ("/" from "{{a}}/{{b}}") would fold every such
	 * alert into one case. A template without tags is a constant the operator chose.
	 */
	int refuse = !*key || (b->dedup_key && !cg_tmpl_is_literal(b->dedup_key) && !seen.text);
	if (refuse) {
		struct cg_sbuf m = {0};
		cg_sbuf_addf(&m, "source '%s': dedup_key ", b->source_name);
		if (b->dedup_src) {
			cg_sbuf_add(&m, "\"");
			add_shown(&m, b->dedup_src, strlen(b->dedup_src), 80);
			cg_sbuf_add(&m, "\" ");
		} else {
			cg_sbuf_add(&m, "(the mapper's) ");
		}
		if (*key) {
			cg_sbuf_add(&m, "rendered \"");
			add_shown(&m, key, strlen(key), 40);
			cg_sbuf_add(&m, "\": nothing from the payload");
		} else {
			cg_sbuf_add(&m, "rendered empty");
		}
		if (seen.nmissing)
			cg_sbuf_addf(&m, " (not in the payload: %s)", seen.missing.p ? seen.missing.p : "");
		snprintf(err, errlen, "%s", m.p && !m.oom ? m.p : "dedup_key rendered empty");
		int oom = m.oom || seen.missing.oom;
		free(m.p);
		free(seen.missing.p);
		free(key);
		return oom ? CG_ENOMEM : CG_EINVAL;
	}
	free(seen.missing.p);
	struct cg_sbuf s = {0};
	size_t klen = strlen(key);
	/*
	 * Hash keys that would not fit, and also keys that already look like "sha256:...": a
	 * payload must not be able to name the hashed form of some other, long key.
	 */
	if (strlen(b->source_name) + 1 + klen > CG_DEDUP_KEY_MAX || strncmp(key, "sha256:", 7) == 0) {
		char hex[65];
		if (cg_sha256_hex_r(key, klen, hex)) {
			free(key);
			return CG_ENOMEM;
		}
		cg_sbuf_addf(&s, "%s:sha256:%s", b->source_name, hex);
	} else {
		cg_sbuf_addf(&s, "%s:%s", b->source_name, key);
	}
	free(key);
	*out = cg_sbuf_take(&s);
	return *out ? 0 : CG_ENOMEM;
}

/* cg_tmpl_opts that pass each {{name}} of field to the watcher (w may be NULL or empty). */
static struct cg_tmpl_opts watched(int flags, const cJSON *markdown, const struct cg_field_watch *w, struct var_seen *vs,
				   const char *field)
{
	struct cg_tmpl_opts o = {.flags = flags, .markdown = markdown};
	vs->w = w;
	vs->field = field;
	if (w && w->fn) {
		o.on_var = seen_var;
		o.on_var_ud = vs;
	}
	return o;
}

static int build_title(const struct cg_builder *b, const struct cg_event *ev, const cJSON *ctx,
		       const struct cg_field_watch *w, char **out)
{
	char *title = NULL;
	int rc;
	if (b->title) {
		char *r = NULL;
		struct var_seen vs = {0};
		struct cg_tmpl_opts o = watched(CG_TMPL_ESCAPE_PLAIN, NULL, w, &vs, "title");
		rc = cg_tmpl_render_utf8(b->title, ctx, &o, &r);
		free(vs.missing.p);
		if (rc)
			return rc;
		rc = collapsed_copy(r, &title);
		free(r);
		if (rc)
			return rc;
	}
	if (!title && ev->title) {
		/* The mapper's title is sender text through and through. */
		char *t = cg_md_str(ev->title, CG_MD_PLAIN);
		if (!t)
			return CG_ENOMEM;
		rc = collapsed_copy(t, &title);
		free(t);
		if (rc)
			return rc;
	}
	if (!title) {
		struct cg_sbuf s = {0};
		cg_sbuf_addf(&s, "%s alert", b->source_name);
		if (!(title = cg_sbuf_take(&s)))
			return CG_ENOMEM;
	}
	cg_utf8_truncate(title, CG_TITLE_MAX);
	*out = title;
	return 0;
}

static int build_description(const struct cg_builder *b, const struct cg_event *ev, const cJSON *ctx,
			     const struct cg_field_watch *w, char **out)
{
	char *d = NULL;
	int rc;
	if (b->description) {
		/* {{description}} is the mapper's Markdown, neutralised when the mapper built it. */
		const cJSON *mine = cJSON_GetObjectItemCaseSensitive(ctx, "description");
		if (!ev->description || !cJSON_IsString(mine) || strcmp(mine->valuestring, ev->description) != 0)
			mine = NULL;
		struct var_seen vs = {0};
		struct cg_tmpl_opts o = watched(CG_TMPL_ESCAPE_MARKDOWN, mine, w, &vs, "description");
		rc = cg_tmpl_render_utf8(b->description, ctx, &o, &d);
		free(vs.missing.p);
		if (rc)
			return rc;
		char *probe = strdup(d);
		if (!probe) {
			free(d);
			return CG_ENOMEM;
		}
		cg_text_trim(probe);
		int empty = !*probe;
		free(probe);
		if (empty) {
			free(d);
			d = NULL;
		}
	}
	if (!d && ev->description) {
		/* Mappers neutralise what they insert; mentions and hidden characters go again in case one slipped. */
		d = cg_md_str(ev->description, CG_MD_MINIMAL);
		if (!d)
			return CG_ENOMEM;
		if (!d[strspn(d, " \t\r\n\v\f")]) {
			free(d);
			d = NULL;
		}
	}
	if (!d) {
		char *g = cg_casetext_description(ev);
		if (!g)
			return CG_ENOMEM;
		d = cg_utf8_sanitize(g);
		free(g);
		if (!d)
			return CG_ENOMEM;
		cg_text_trim(d);
	}
	cg_utf8_truncate(d, CG_DESCRIPTION_MAX);
	*out = d;
	return 0;
}

static int build_priority(const struct cg_builder *b, const cJSON *ctx, const struct cg_field_watch *w, int *out)
{
	char *v = NULL;
	struct var_seen vs = {0};
	struct cg_tmpl_opts o = watched(0, NULL, b->prio_from_set ? w : NULL, &vs, "priority.from");
	int rc = cg_tmpl_render_opts(b->priority_from, ctx, &o, &v);
	free(vs.missing.p);
	if (rc)
		return rc;
	cg_text_trim(v);
	int prio = b->prio_default;
	int found = 0;
	if (*v) {
		/* The map first: a source may use "1".."5" with a meaning of its own. */
		for (size_t i = 0; i < b->nprio && !found; i++) {
			if (strcasecmp(b->prio[i].word, v) == 0) {
				prio = b->prio[i].prio;
				found = 1;
			}
		}
		int direct;
		if (!found && cg_priority_parse(v, &direct) == 0)
			prio = direct;
	}
	free(v);
	*out = prio;
	return 0;
}

int cg_builder_build(const struct cg_builder *b, const struct cg_event *ev, struct cg_case_draft *out, char *err,
		     size_t errlen)
{
	return cg_builder_build_watch(b, ev, NULL, out, err, errlen);
}

int cg_builder_build_watch(const struct cg_builder *b, const struct cg_event *ev, const struct cg_field_watch *w,
			   struct cg_case_draft *out, char *err, size_t errlen)
{
	struct cg_case_draft d;
	memset(&d, 0, sizeof(d));
	struct cg_sbuf notes = {0};
	char *description = NULL;
	cJSON *custom = NULL;
	cJSON *own_ctx = NULL;
	char tmp[1];
	int rc;
	if (!err || errlen == 0) {
		err = tmp;
		errlen = sizeof(tmp);
	}
	err[0] = '\0';

	const cJSON *ctx = ev->ctx;
	if (!ctx) {
		/* A hand-built event without ctx: give templates the normalised fields at least. */
		struct cg_event copy = *ev;
		copy.ctx = NULL;
		if ((rc = cg_event_build_ctx(&copy, NULL, NULL)))
			goto fail;
		own_ctx = copy.ctx;
		ctx = own_ctx;
	}

	if ((rc = build_dedup(b, ev, ctx, w, &d.dedup_key, err, errlen)) || (rc = build_title(b, ev, ctx, w, &d.title)) ||
	    (rc = build_description(b, ev, ctx, w, &description)) || (rc = build_priority(b, ctx, w, &d.priority)))
		goto fail;
	d.status = ev->status;
	if (ev->severity && !(d.severity = cg_casetext_severity(ev->severity)))
		goto nomem;

	if ((rc = cg_caseattrs_custom(b->values, ctx, w, &custom, &notes)) ||
	    (rc = cg_caseattrs_labels(b->values, ev, ctx, w, &d.attributes, &notes)))
		goto fail;

	d.create = cg_body_create(b->project, b->case_type, d.title, description, d.priority, custom);
	custom = NULL;
	if (!d.create)
		goto nomem;
	if (notes.oom)
		goto nomem;
	if (notes.len) {
		d.notes = cg_sbuf_take(&notes);
		if (!d.notes)
			goto nomem;
	}
	if (!(d.summary = cg_casetext_summary(ev, d.notes)))
		goto nomem;

	free(description);
	cJSON_Delete(own_ctx);
	*out = d;
	return 0;
nomem:
	rc = CG_ENOMEM;
fail:
	if (rc == CG_ENOMEM && !err[0])
		snprintf(err, errlen, "%s", cg_strerror(rc));
	else if (rc && !err[0])
		snprintf(err, errlen, "template: %s", cg_strerror(rc));
	free(notes.p);
	free(description);
	cJSON_Delete(custom);
	cJSON_Delete(own_ctx);
	cg_case_draft_cleanup(&d);
	return rc;
}
