/* builder.c: turns a normalised event plus a source's case spec into Datadog Case API bodies. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "builder.h"
#include "sbuf.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "mdsafe.h"
#include "tmpl.h"

#define NOTE_VALUE_MAX 60 /* how much of a rejected value a note quotes */

/* ---- small helpers -------------------------------------------------------------------- */

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

static int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Collapses every run of whitespace into one space and trims both ends, in place. */
static void collapse_ws(char *s)
{
	char *w = s;
	int pending = 0;
	for (const char *r = s; *r; r++) {
		if (is_ws(*r)) {
			pending = w != s;
			continue;
		}
		if (pending)
			*w++ = ' ';
		pending = 0;
		*w++ = *r;
	}
	*w = '\0';
}

static void trim(char *s)
{
	size_t len = strlen(s);
	while (len > 0 && is_ws(s[len - 1]))
		s[--len] = '\0';
	size_t lead = 0;
	while (is_ws(s[lead]))
		lead++;
	if (lead)
		memmove(s, s + lead, len - lead + 1);
}

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

struct tmpl_list {
	struct cg_tmpl **v;
	size_t n;
};

struct ca {
	char *key;
	enum cg_ca_type type;
	int is_multi;
	struct tmpl_list values;
};

struct attr {
	char *key;
	struct tmpl_list values;
};

/* The custom attribute and attribute templates, compiled. */
struct caseattrs {
	struct ca *cas;
	size_t ncas;
	struct attr *attrs;
	size_t nattrs;
	int attrs_set;
};

struct cg_builder {
	char *source_name, *project, *case_type;
	struct cg_tmpl *title, *description, *dedup_key, *priority_from; /* NULL: not configured */
	struct prio_word *prio;
	size_t nprio;
	int prio_default;
	struct caseattrs *values;
};

static void tmpl_list_cleanup(struct tmpl_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		cg_tmpl_destroy(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static void caseattrs_destroy(struct caseattrs *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->ncas; i++) {
		free(a->cas[i].key);
		tmpl_list_cleanup(&a->cas[i].values);
	}
	free(a->cas);
	for (size_t i = 0; i < a->nattrs; i++) {
		free(a->attrs[i].key);
		tmpl_list_cleanup(&a->attrs[i].values);
	}
	free(a->attrs);
	free(a);
}

void cg_builder_destroy(struct cg_builder *b)
{
	if (!b)
		return;
	free(b->source_name);
	free(b->project);
	free(b->case_type);
	cg_tmpl_destroy(b->title);
	cg_tmpl_destroy(b->description);
	cg_tmpl_destroy(b->dedup_key);
	cg_tmpl_destroy(b->priority_from);
	for (size_t i = 0; i < b->nprio; i++)
		free(b->prio[i].word);
	free(b->prio);
	caseattrs_destroy(b->values);
	free(b);
}

/* Compiles src; on a template error err reads "<what>: line N: ...". */
static int compile(const char *what, const char *src, struct cg_tmpl **out, char *err, size_t errlen)
{
	char terr[200] = "";
	int rc = cg_tmpl_compile(src, strlen(src), out, terr, sizeof(terr));
	if (rc == CG_EINVAL)
		snprintf(err, errlen, "%s: %s", what, terr[0] ? terr : "invalid template");
	else if (rc)
		snprintf(err, errlen, "%s: %s", what, cg_strerror(rc));
	return rc;
}

static int compile_list(const char *what, const char *key, char *const *src, size_t n, struct tmpl_list *out,
			char *err, size_t errlen)
{
	if (n == 0)
		return 0;
	out->v = calloc(n, sizeof(*out->v));
	if (!out->v) {
		snprintf(err, errlen, "%s", cg_strerror(CG_ENOMEM));
		return CG_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		char name[160];
		snprintf(name, sizeof(name), "%s.%s[%zu]", what, key, i);
		if (!src[i]) {
			snprintf(err, errlen, "%s: missing value", name);
			return CG_EINVAL;
		}
		int rc = compile(name, src[i], &out->v[i], err, errlen);
		if (rc)
			return rc;
		out->n = i + 1;
	}
	return 0;
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
		trim(word);
		if (val)
			trim(val);
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

/* Compiles the custom attribute and attribute templates; err names the entry on CG_EINVAL. */
static int caseattrs_create(const struct cg_ca_spec *cas, size_t ncas, const struct cg_attr_spec *attrs, size_t nattrs,
			    int attrs_set, struct caseattrs **out, char *err, size_t errlen)
{
	int rc;
	struct caseattrs *a = calloc(1, sizeof(*a));
	if (!a)
		goto nomem;
	a->attrs_set = attrs_set;
	if (ncas) {
		a->cas = calloc(ncas, sizeof(*a->cas));
		if (!a->cas)
			goto nomem;
	}
	for (size_t i = 0; i < ncas; i++) {
		const struct cg_ca_spec *c = &cas[i];
		if (!c->key || !*c->key) {
			snprintf(err, errlen, "custom_attributes[%zu]: key is required", i);
			rc = CG_EINVAL;
			goto fail;
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(cas[j].key, c->key) == 0) {
				snprintf(err, errlen, "custom_attributes.%s: given twice", c->key);
				rc = CG_EINVAL;
				goto fail;
			}
		}
		if (c->nvalues == 0 || (!c->is_multi && c->nvalues != 1)) {
			snprintf(err, errlen, "custom_attributes.%s: %s", c->key,
				 c->nvalues ? "a single-value attribute takes one value" : "no value");
			rc = CG_EINVAL;
			goto fail;
		}
		if ((unsigned)c->type > CG_CA_SELECT) {
			snprintf(err, errlen, "custom_attributes.%s: unknown type", c->key);
			rc = CG_EINVAL;
			goto fail;
		}
		a->cas[i].key = strdup(c->key);
		if (!a->cas[i].key)
			goto nomem;
		a->ncas = i + 1;
		a->cas[i].type = c->type;
		a->cas[i].is_multi = c->is_multi;
		if ((rc = compile_list("custom_attributes", c->key, c->values, c->nvalues, &a->cas[i].values, err,
				       errlen)))
			goto fail;
	}

	if (nattrs) {
		a->attrs = calloc(nattrs, sizeof(*a->attrs));
		if (!a->attrs)
			goto nomem;
	}
	for (size_t i = 0; i < nattrs; i++) {
		const struct cg_attr_spec *at = &attrs[i];
		if (!at->key || !*at->key) {
			snprintf(err, errlen, "attributes[%zu]: key is required", i);
			rc = CG_EINVAL;
			goto fail;
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(attrs[j].key, at->key) == 0) {
				snprintf(err, errlen, "attributes.%s: given twice", at->key);
				rc = CG_EINVAL;
				goto fail;
			}
		}
		a->attrs[i].key = strdup(at->key);
		if (!a->attrs[i].key)
			goto nomem;
		a->nattrs = i + 1;
		if ((rc = compile_list("attributes", at->key, at->values, at->nvalues, &a->attrs[i].values, err, errlen)))
			goto fail;
	}

	*out = a;
	return 0;
nomem:
	rc = CG_ENOMEM;
	snprintf(err, errlen, "%s", cg_strerror(rc));
fail:
	caseattrs_destroy(a);
	return rc;
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

	if ((spec->title && (rc = compile("title", spec->title, &b->title, err, errlen))) ||
	    (spec->description && (rc = compile("description", spec->description, &b->description, err, errlen))) ||
	    (spec->dedup_key && (rc = compile("dedup_key", spec->dedup_key, &b->dedup_key, err, errlen))) ||
	    (rc = compile("priority_from", spec->priority_from ? spec->priority_from : "{{severity}}",
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

	if ((rc = caseattrs_create(spec->cas, spec->ncas, spec->attrs, spec->nattrs, spec->attrs_set, &b->values, err,
				   errlen)))
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

/*
 * Renders t over ctx into a sanitised, malloc'd string; flags says how {{x}} neutralises a
 * sender's value for where the text goes (CG_TMPL_ESCAPE_*), markdown is cg_tmpl_opts.markdown.
 */
static int render(const struct cg_tmpl *t, const cJSON *ctx, int flags, const cJSON *markdown, char **out)
{
	char *raw = NULL;
	struct cg_tmpl_opts o = {.flags = flags, .markdown = markdown};
	int rc = cg_tmpl_render_opts(t, ctx, &o, &raw);
	if (rc)
		return rc;
	char *clean = cg_utf8_sanitize(raw);
	free(raw);
	if (!clean)
		return CG_ENOMEM;
	*out = clean;
	return 0;
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
	collapse_ws(c);
	if (!*c) {
		free(c);
		return 0;
	}
	*out = c;
	return 0;
}

static int build_dedup(const struct cg_builder *b, const struct cg_event *ev, const cJSON *ctx, char **out, char *err,
		       size_t errlen)
{
	char *key = NULL;
	int rc;
	if (b->dedup_key) {
		if ((rc = cg_tmpl_render(b->dedup_key, ctx, 0, NULL, NULL, &key)))
			return rc;
	} else {
		key = strdup(ev->dedup_key ? ev->dedup_key : "");
		if (!key)
			return CG_ENOMEM;
	}
	trim(key);
	if (!*key) {
		free(key);
		snprintf(err, errlen, "dedup_key rendered empty");
		return CG_EINVAL;
	}
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

static int build_title(const struct cg_builder *b, const struct cg_event *ev, const cJSON *ctx, char **out)
{
	char *title = NULL;
	int rc;
	if (b->title) {
		char *r = NULL;
		if ((rc = render(b->title, ctx, CG_TMPL_ESCAPE_PLAIN, NULL, &r)))
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

static int is_http_url(const char *s)
{
	size_t skip;
	if (strncasecmp(s, "http://", 7) == 0)
		skip = 7;
	else if (strncasecmp(s, "https://", 8) == 0)
		skip = 8;
	else
		return 0;
	if (!s[skip] || s[skip] == '/')
		return 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= 0x20 || *p == 0x7f)
			return 0;
	return 1;
}

/* Writes a sender's value on a list item, neutralised; continuation lines are indented so they stay inside it. */
static void sb_put_item_value(struct cg_sbuf *s, const char *v)
{
	char *safe = cg_md_str(v, CG_MD_TEXT);
	if (!safe) {
		s->oom = 1;
		return;
	}
	for (const char *p = safe; *p;) {
		size_t run = strcspn(p, "\n");
		cg_sbuf_addn(s, p, run);
		p += run;
		if (*p == '\n') {
			cg_sbuf_addn(s, p, 1);
			if (p[1])
				cg_sbuf_add(s, "  ");
			p++;
		}
	}
	free(safe);
}

static void sb_put_string_list(struct cg_sbuf *s, const char *heading, const cJSON *obj, int code)
{
	const cJSON *it;
	int any = 0;
	cJSON_ArrayForEach(it, obj)
	{
		if (!cJSON_IsString(it) || !it->string)
			continue;
		if (!any)
			cg_sbuf_addf(s, "\n**%s**\n", heading);
		any = 1;
		cg_md_addf(s, "- **%s**: ", it->string);
		if (code && it->valuestring[0] && !strpbrk(it->valuestring, "\r\n"))
			cg_md_code(s, it->valuestring); /* a fence longer than any backtick run inside */
		else
			sb_put_item_value(s, it->valuestring);
		cg_sbuf_add(s, "\n");
	}
}

static void sb_put_links(struct cg_sbuf *s, const cJSON *links, const char *sep, const char *heading)
{
	const cJSON *it;
	int any = 0;
	cJSON_ArrayForEach(it, links)
	{
		if (!cJSON_IsString(it) || !it->string || !is_http_url(it->valuestring))
			continue;
		if (heading)
			cg_sbuf_add(s, any ? "" : heading);
		else if (any)
			cg_sbuf_add(s, sep);
		any = 1;
		if (heading)
			cg_sbuf_add(s, "- ");
		cg_md_link(s, it->string, it->valuestring);
		if (heading)
			cg_sbuf_add(s, "\n");
	}
	if (any && !heading)
		cg_sbuf_add(s, "\n");
}

/* The Markdown description used when neither the spec nor the mapper gives one. */
static char *generated_description(const struct cg_event *ev)
{
	struct cg_sbuf s = {0};
	cg_sbuf_addf(&s, "**Status:** %s  \n", ev->status == CG_STATUS_RESOLVED ? "resolved" : "firing");
	if (ev->severity && *ev->severity)
		cg_md_addf(&s, "**Severity:** %s  \n", ev->severity);
	if (ev->starts_at && *ev->starts_at)
		cg_md_addf(&s, "**Started:** %s  \n", ev->starts_at);
	if (ev->status == CG_STATUS_RESOLVED && ev->ends_at && *ev->ends_at)
		cg_md_addf(&s, "**Ended:** %s  \n", ev->ends_at);
	sb_put_string_list(&s, "Labels", ev->labels, 1);
	sb_put_string_list(&s, "Annotations", ev->annotations, 0);
	sb_put_links(&s, ev->links, NULL, "\n**Links**\n");
	return cg_sbuf_take(&s);
}

static int build_description(const struct cg_builder *b, const struct cg_event *ev, const cJSON *ctx, char **out)
{
	char *d = NULL;
	int rc;
	if (b->description) {
		/* {{description}} is the mapper's Markdown, neutralised when the mapper built it. */
		const cJSON *mine = cJSON_GetObjectItemCaseSensitive(ctx, "description");
		if (!ev->description || !cJSON_IsString(mine) || strcmp(mine->valuestring, ev->description) != 0)
			mine = NULL;
		if ((rc = render(b->description, ctx, CG_TMPL_ESCAPE_MARKDOWN, mine, &d)))
			return rc;
		char *probe = strdup(d);
		if (!probe) {
			free(d);
			return CG_ENOMEM;
		}
		trim(probe);
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
		char *g = generated_description(ev);
		if (!g)
			return CG_ENOMEM;
		d = cg_utf8_sanitize(g);
		free(g);
		if (!d)
			return CG_ENOMEM;
		trim(d);
	}
	cg_utf8_truncate(d, CG_DESCRIPTION_MAX);
	*out = d;
	return 0;
}

static int build_priority(const struct cg_builder *b, const cJSON *ctx, int *out)
{
	char *v = NULL;
	int rc = cg_tmpl_render(b->priority_from, ctx, 0, NULL, NULL, &v);
	if (rc)
		return rc;
	trim(v);
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

/* Quotes a rejected value in a note, shortened. */
static void note_value(struct cg_sbuf *notes, const char *v)
{
	char q[NOTE_VALUE_MAX + 4];
	snprintf(q, sizeof(q), "%s", v);
	cg_utf8_truncate(q, NOTE_VALUE_MAX);
	cg_sbuf_addf(notes, "\"%s\"", q);
}

static int parse_number(const char *s, double *out)
{
	if (!*s || s[strspn(s, "0123456789+-.eE")])
		return CG_EINVAL; /* also rules out hex, inf and nan, which strtod would take */
	errno = 0;
	char *end = NULL;
	double d = strtod(s, &end);
	if (end == s || *end || errno == ERANGE || !isfinite(d))
		return CG_EINVAL;
	*out = d;
	return 0;
}

/*
 * Renders a list of templates into values: each render is split on newlines (so a section
 * can yield several), trimmed, and empty pieces dropped. single: only the first render, not split.
 */
static int render_values(const struct tmpl_list *l, const cJSON *ctx, int flags, int single, char ***out,
			 size_t *nout)
{
	char **v = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	for (size_t i = 0; i < l->n && (!single || i == 0); i++) {
		char *r = NULL;
		if ((rc = render(l->v[i], ctx, flags, NULL, &r)))
			goto fail;
		char *p = r;
		while (p) {
			char *nl = single ? NULL : strchr(p, '\n');
			if (nl)
				*nl = '\0';
			char *piece = strdup(p);
			if (!piece) {
				free(r);
				rc = CG_ENOMEM;
				goto fail;
			}
			trim(piece);
			if (!*piece) {
				free(piece);
			} else {
				if (n == cap) {
					size_t nc = cap ? cap * 2 : 4;
					char **nv = realloc(v, nc * sizeof(*nv));
					if (!nv) {
						free(piece);
						free(r);
						rc = CG_ENOMEM;
						goto fail;
					}
					v = nv;
					cap = nc;
				}
				v[n++] = piece;
			}
			p = nl ? nl + 1 : NULL;
		}
		free(r);
	}
	*out = v;
	*nout = n;
	return 0;
fail:
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	return rc;
}

static void free_values(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Checks one rendered value for its type; 0 keeps it (the number in *num for NUMBER). */
static int check_value(const struct ca *c, char *v, double *num, struct cg_sbuf *notes)
{
	if (c->type == CG_CA_NUMBER && parse_number(v, num)) {
		cg_sbuf_addf(notes, "custom attribute %s: ", c->key);
		note_value(notes, v);
		cg_sbuf_add(notes, " is not a number; skipped\n");
		return CG_EINVAL;
	}
	if (c->type == CG_CA_URL && (!is_http_url(v) || strlen(v) > CG_VALUE_MAX)) {
		cg_sbuf_addf(notes, "custom attribute %s: ", c->key);
		note_value(notes, v);
		cg_sbuf_add(notes, strlen(v) > CG_VALUE_MAX ? " is too long for a URL; skipped\n"
							: " is not an http(s) URL; skipped\n");
		return CG_EINVAL;
	}
	cg_utf8_truncate(v, CG_VALUE_MAX);
	return 0;
}

/* Adds {"type","is_multi","value"} for c to obj, or nothing when no value survives. */
static int build_one_ca(const struct ca *c, const cJSON *ctx, cJSON *obj, struct cg_sbuf *notes)
{
	char **vals = NULL;
	size_t n = 0;
	int rc = render_values(&c->values, ctx, c->type == CG_CA_URL ? CG_TMPL_ESCAPE_URL : CG_TMPL_ESCAPE_PLAIN,
			       !c->is_multi, &vals, &n);
	if (rc)
		return rc;
	cJSON *value = NULL;
	if (!c->is_multi) {
		double num = 0;
		/* Rendered empty: the alert has no value for it, nothing to note. */
		if (n == 0 || check_value(c, vals[0], &num, notes))
			goto out;
		value = c->type == CG_CA_NUMBER ? cJSON_CreateNumber(num) : cJSON_CreateString(vals[0]);
		if (!value)
			goto nomem;
	} else {
		value = cJSON_CreateArray();
		if (!value)
			goto nomem;
		size_t kept = 0;
		for (size_t i = 0; i < n; i++) {
			double num = 0;
			if (check_value(c, vals[i], &num, notes))
				continue;
			if (kept == CG_MULTI_MAX) {
				cg_sbuf_addf(notes, "custom attribute %s: more than %d values; the rest dropped\n", c->key,
					  CG_MULTI_MAX);
				break;
			}
			cJSON *el = c->type == CG_CA_NUMBER ? cJSON_CreateNumber(num) : cJSON_CreateString(vals[i]);
			if (!el || !cJSON_AddItemToArray(value, el)) {
				cJSON_Delete(el);
				goto nomem;
			}
			kept++;
		}
		if (kept == 0) {
			/* An empty array would match both list shapes of the oneOf: send nothing. */
			cJSON_Delete(value);
			value = NULL;
			goto out;
		}
	}
	cJSON *item = cJSON_CreateObject();
	if (!item || !cJSON_AddItemToObject(obj, c->key, item)) {
		cJSON_Delete(item);
		goto nomem;
	}
	if (!cJSON_AddStringToObject(item, "type", cg_ca_type_name(c->type)) ||
	    !cJSON_AddBoolToObject(item, "is_multi", c->is_multi ? 1 : 0))
		goto nomem;
	if (!cJSON_AddItemToObject(item, "value", value))
		goto nomem;
	value = NULL;
out:
	cJSON_Delete(value);
	free_values(vals, n);
	return rc;
nomem:
	rc = CG_ENOMEM;
	goto out;
}

/* The custom attributes of the draft: an object, or NULL in *out when no value survived. */
static int caseattrs_custom(const struct caseattrs *a, const cJSON *ctx, cJSON **out, struct cg_sbuf *notes)
{
	cJSON *custom = NULL;
	if (a->ncas && !(custom = cJSON_CreateObject()))
		return CG_ENOMEM;
	for (size_t i = 0; i < a->ncas; i++) {
		int rc = build_one_ca(&a->cas[i], ctx, custom, notes);
		if (rc) {
			cJSON_Delete(custom);
			return rc;
		}
	}
	if (custom && !custom->child) {
		cJSON_Delete(custom);
		custom = NULL;
	}
	*out = custom;
	return 0;
}

/* Appends v to the array unless already there. */
static int add_unique(cJSON *arr, const char *v)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, arr)
	{
		if (strcmp(it->valuestring, v) == 0)
			return 0;
	}
	cJSON *s = cJSON_CreateString(v);
	if (!s || !cJSON_AddItemToArray(arr, s)) {
		cJSON_Delete(s);
		return CG_ENOMEM;
	}
	return 0;
}

/* The attributes (labels) of the draft: the spec's templates, or the event's labels when it gave none. */
static int caseattrs_labels(const struct caseattrs *a, const struct cg_event *ev, const cJSON *ctx, cJSON **out,
			    struct cg_sbuf *notes)
{
	cJSON *obj = cJSON_CreateObject();
	char *k = NULL, *v = NULL;
	int rc = 0;
	if (!obj)
		return CG_ENOMEM;
	if (a->attrs_set) {
		for (size_t i = 0; i < a->nattrs; i++) {
			char **vals = NULL;
			size_t n = 0;
			if ((rc = render_values(&a->attrs[i].values, ctx, CG_TMPL_ESCAPE_PLAIN, 0, &vals, &n)))
				goto fail;
			cJSON *arr = n ? cJSON_CreateArray() : NULL;
			if (n && !arr) {
				free_values(vals, n);
				goto nomem;
			}
			for (size_t j = 0; j < n && !rc; j++) {
				if (cJSON_GetArraySize(arr) == CG_MULTI_MAX) {
					cg_sbuf_addf(notes, "attribute %s: more than %d values; the rest dropped\n",
						  a->attrs[i].key, CG_MULTI_MAX);
					break;
				}
				cg_utf8_truncate(vals[j], CG_VALUE_MAX);
				rc = add_unique(arr, vals[j]);
			}
			free_values(vals, n);
			if (rc || (arr && !cJSON_AddItemToObject(obj, a->attrs[i].key, arr))) {
				cJSON_Delete(arr);
				goto nomem;
			}
		}
	} else {
		const cJSON *it;
		cJSON_ArrayForEach(it, ev->labels)
		{
			if (!cJSON_IsString(it) || !it->string)
				continue;
			k = cg_md_str(it->string, CG_MD_PLAIN);
			v = cg_md_str(it->valuestring, CG_MD_PLAIN);
			if (!k || !v)
				goto nomem;
			trim(k);
			trim(v);
			if (*k && *v && !cJSON_GetObjectItemCaseSensitive(obj, k)) {
				cg_utf8_truncate(v, CG_VALUE_MAX);
				cJSON *arr = cJSON_CreateArray();
				if (!arr || !cJSON_AddItemToObject(obj, k, arr)) {
					cJSON_Delete(arr);
					goto nomem;
				}
				if (add_unique(arr, v))
					goto nomem;
			}
			free(k);
			free(v);
			k = v = NULL;
		}
	}
	if (!obj->child) {
		cJSON_Delete(obj);
		obj = NULL;
	}
	*out = obj;
	return 0;
nomem:
	rc = CG_ENOMEM;
fail:
	free(k);
	free(v);
	cJSON_Delete(obj);
	return rc;
}

/* The annotation most worth repeating in a comment. */
static const char *best_annotation(const struct cg_event *ev)
{
	static const char *const keys[] = {"summary", "message", "description"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *s = cg_json_str(ev->annotations, keys[i]);
		if (s && s[strspn(s, " \t\r\n")])
			return s;
	}
	return NULL;
}

static char *build_summary(const struct cg_event *ev, const char *notes)
{
	struct cg_sbuf s = {0};
	cg_sbuf_add(&s, ev->status == CG_STATUS_RESOLVED ? "**RESOLVED**" : "**FIRING**");
	if (ev->severity && *ev->severity)
		cg_md_addf(&s, " \xC2\xB7 severity %s", ev->severity);
	if (ev->starts_at && *ev->starts_at)
		cg_md_addf(&s, " \xC2\xB7 started %s", ev->starts_at);
	if (ev->status == CG_STATUS_RESOLVED && ev->ends_at && *ev->ends_at)
		cg_md_addf(&s, " \xC2\xB7 ended %s", ev->ends_at);
	cg_sbuf_add(&s, "\n");
	const char *ann = best_annotation(ev);
	if (ann) {
		char *a = cg_utf8_sanitize(ann);
		if (!a) {
			s.oom = 1;
		} else {
			trim(a);
			cg_utf8_truncate(a, CG_SUMMARY_MAX / 2);
			cg_md_put(&s, a, CG_MD_TEXT);
			cg_sbuf_add(&s, "\n");
			free(a);
		}
	}
	if (ev->comment_detail && *ev->comment_detail) {
		cg_md_put(&s, ev->comment_detail, CG_MD_MINIMAL); /* the mapper's Markdown, neutralised by it */
		if (s.len && s.p[s.len - 1] != '\n')
			cg_sbuf_add(&s, "\n");
	}
	sb_put_links(&s, ev->links, " \xC2\xB7 ", NULL);
	if (notes && *notes) {
		const char *p = notes;
		while (*p) {
			size_t n = strcspn(p, "\n");
			cg_sbuf_add(&s, "_casegate: ");
			cg_md_putn(&s, p, n, CG_MD_TEXT); /* notes quote rendered values */
			cg_sbuf_add(&s, "_\n");
			p += n;
			if (*p)
				p++;
		}
	}
	char *out = cg_sbuf_take(&s);
	if (!out)
		return NULL;
	/* No operator text in here: a last pass over all of it catches a mention any part let through. */
	char *clean = cg_md_str(out, CG_MD_MINIMAL);
	free(out);
	if (clean) {
		trim(clean);
		cg_utf8_truncate(clean, CG_SUMMARY_MAX);
	}
	return clean;
}

/*
 * The severity as comments quote it (`severity is now `x``, in a one-backtick code span):
 * one line, mentions and hidden characters gone, a backtick would end the span so it becomes "'".
 */
static char *safe_severity(const char *sev)
{
	char *s = cg_md_str(sev, CG_MD_CODE);
	for (char *p = s; p && *p; p++)
		if (*p == '`')
			*p = '\'';
	if (s)
		cg_utf8_truncate(s, CG_VALUE_MAX);
	return s;
}

static cJSON *add_obj(cJSON *parent, const char *key)
{
	cJSON *o = cJSON_CreateObject();
	if (!o || !cJSON_AddItemToObject(parent, key, o)) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static cJSON *create_body(const char *project, const char *case_type, const char *title, const char *description,
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

int cg_builder_build(const struct cg_builder *b, const struct cg_event *ev, struct cg_case_draft *out, char *err,
		     size_t errlen)
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

	if ((rc = build_dedup(b, ev, ctx, &d.dedup_key, err, errlen)) || (rc = build_title(b, ev, ctx, &d.title)) ||
	    (rc = build_description(b, ev, ctx, &description)) || (rc = build_priority(b, ctx, &d.priority)))
		goto fail;
	d.status = ev->status;
	if (ev->severity && !(d.severity = safe_severity(ev->severity)))
		goto nomem;

	if ((rc = caseattrs_custom(b->values, ctx, &custom, &notes)) ||
	    (rc = caseattrs_labels(b->values, ev, ctx, &d.attributes, &notes)))
		goto fail;

	d.create = create_body(b->project, b->case_type, d.title, description, d.priority, custom);
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
	if (!(d.summary = build_summary(ev, d.notes)))
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

/* ---- follow-up bodies ----------------------------------------------------------------- */

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

static cJSON *body_status(const char *status_name, const char *legacy)
{
	cJSON *attrs = NULL;
	cJSON *root = body_shell(&attrs);
	if (!root)
		return NULL;
	int ok = status_name && *status_name ? cJSON_AddStringToObject(attrs, "status_name", status_name) != NULL
					     : cJSON_AddStringToObject(attrs, "status", legacy) != NULL;
	if (!ok) {
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}

cJSON *cg_body_status(const char *status_name)
{
	return body_status(status_name, "CLOSED");
}

cJSON *cg_body_reopen(const char *status_name)
{
	return body_status(status_name, "OPEN");
}

cJSON *cg_body_priority(int prio)
{
	cJSON *attrs = NULL;
	cJSON *root = body_shell(&attrs);
	if (root && !cJSON_AddStringToObject(attrs, "priority", cg_priority_name(prio))) {
		cJSON_Delete(root);
		return NULL;
	}
	return root;
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
