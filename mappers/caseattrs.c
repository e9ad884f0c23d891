/* caseattrs.c: a draft's custom attributes and attributes (labels), rendered from the source's templates. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "caseattrs.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "mdsafe.h"
#include "text.h"
#include "tmpl.h"

#define NOTE_VALUE_MAX 60 /* how much of a rejected value a note quotes */

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

struct cg_caseattrs {
	struct ca *cas;
	size_t ncas;
	struct attr *attrs;
	size_t nattrs;
	int attrs_set;
};

static void tmpl_list_cleanup(struct tmpl_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		cg_tmpl_destroy(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

void cg_caseattrs_destroy(struct cg_caseattrs *a)
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
		int rc = cg_tmpl_compile_named(name, src[i], &out->v[i], err, errlen);
		if (rc)
			return rc;
		out->n = i + 1;
	}
	return 0;
}

/* err reads "out of memory", as cg_builder_create says it. */
static int nomem(char *err, size_t errlen)
{
	snprintf(err, errlen, "%s", cg_strerror(CG_ENOMEM));
	return CG_ENOMEM;
}

static int compile_cas(struct cg_caseattrs *a, const struct cg_ca_spec *cas, size_t ncas, char *err, size_t errlen)
{
	if (ncas && !(a->cas = calloc(ncas, sizeof(*a->cas))))
		return nomem(err, errlen);
	for (size_t i = 0; i < ncas; i++) {
		const struct cg_ca_spec *c = &cas[i];
		if (!c->key || !*c->key) {
			snprintf(err, errlen, "custom_attributes[%zu]: key is required", i);
			return CG_EINVAL;
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(cas[j].key, c->key) == 0) {
				snprintf(err, errlen, "custom_attributes.%s: given twice", c->key);
				return CG_EINVAL;
			}
		}
		if (c->nvalues == 0 || (!c->is_multi && c->nvalues != 1)) {
			snprintf(err, errlen, "custom_attributes.%s: %s", c->key,
				 c->nvalues ? "a single-value attribute takes one value" : "no value");
			return CG_EINVAL;
		}
		if ((unsigned)c->type > CG_CA_SELECT) {
			snprintf(err, errlen, "custom_attributes.%s: unknown type", c->key);
			return CG_EINVAL;
		}
		a->cas[i].key = strdup(c->key);
		if (!a->cas[i].key)
			return nomem(err, errlen);
		a->ncas = i + 1;
		a->cas[i].type = c->type;
		a->cas[i].is_multi = c->is_multi;
		int rc = compile_list("custom_attributes", c->key, c->values, c->nvalues, &a->cas[i].values, err, errlen);
		if (rc)
			return rc;
	}
	return 0;
}

static int compile_attrs(struct cg_caseattrs *a, const struct cg_attr_spec *attrs, size_t nattrs, char *err,
			 size_t errlen)
{
	if (nattrs && !(a->attrs = calloc(nattrs, sizeof(*a->attrs))))
		return nomem(err, errlen);
	for (size_t i = 0; i < nattrs; i++) {
		const struct cg_attr_spec *at = &attrs[i];
		if (!at->key || !*at->key) {
			snprintf(err, errlen, "attributes[%zu]: key is required", i);
			return CG_EINVAL;
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(attrs[j].key, at->key) == 0) {
				snprintf(err, errlen, "attributes.%s: given twice", at->key);
				return CG_EINVAL;
			}
		}
		a->attrs[i].key = strdup(at->key);
		if (!a->attrs[i].key)
			return nomem(err, errlen);
		a->nattrs = i + 1;
		int rc = compile_list("attributes", at->key, at->values, at->nvalues, &a->attrs[i].values, err, errlen);
		if (rc)
			return rc;
	}
	return 0;
}

int cg_caseattrs_create(const struct cg_ca_spec *cas, size_t ncas, const struct cg_attr_spec *attrs, size_t nattrs,
			int attrs_set, struct cg_caseattrs **out, char *err, size_t errlen)
{
	struct cg_caseattrs *a = calloc(1, sizeof(*a));
	if (!a)
		return nomem(err, errlen);
	a->attrs_set = attrs_set;
	int rc = compile_cas(a, cas, ncas, err, errlen);
	if (!rc)
		rc = compile_attrs(a, attrs, nattrs, err, errlen);
	if (rc) {
		cg_caseattrs_destroy(a);
		return rc;
	}
	*out = a;
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
/* Passes a template's {{name}} on to the watcher with the field it belongs to. */
struct field_var {
	const struct cg_field_watch *w;
	const char *field;
};

static void field_var(const struct cg_tmpl_var *v, void *ud)
{
	const struct field_var *fv = ud;
	fv->w->fn(fv->field, v, fv->w->ud);
}

static int render_values(const struct tmpl_list *l, const char *what, const char *key, const cJSON *ctx, int flags,
			 int single, const struct cg_field_watch *w, char ***out, size_t *nout)
{
	char **v = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	for (size_t i = 0; i < l->n && (!single || i == 0); i++) {
		char *r = NULL;
		char field[200];
		struct field_var fv = {w, field};
		struct cg_tmpl_opts o = {.flags = flags};
		if (w && w->fn) {
			if (l->n > 1)
				snprintf(field, sizeof(field), "%s.%s[%zu]", what, key, i);
			else
				snprintf(field, sizeof(field), "%s.%s", what, key);
			o.on_var = field_var;
			o.on_var_ud = &fv;
		}
		if ((rc = cg_tmpl_render_utf8(l->v[i], ctx, &o, &r)))
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
			cg_text_trim(piece);
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
	if (c->type == CG_CA_URL && (!cg_text_is_http_url(v) || strlen(v) > CG_VALUE_MAX)) {
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
static int build_one_ca(const struct ca *c, const cJSON *ctx, const struct cg_field_watch *w, cJSON *obj,
			struct cg_sbuf *notes)
{
	char **vals = NULL;
	size_t n = 0;
	int rc = render_values(&c->values, "custom_attributes", c->key, ctx,
			       c->type == CG_CA_URL ? CG_TMPL_ESCAPE_URL : CG_TMPL_ESCAPE_PLAIN, !c->is_multi, w, &vals, &n);
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
int cg_caseattrs_custom(const struct cg_caseattrs *a, const cJSON *ctx, const struct cg_field_watch *w, cJSON **out,
			struct cg_sbuf *notes)
{
	cJSON *custom = NULL;
	if (a->ncas && !(custom = cJSON_CreateObject()))
		return CG_ENOMEM;
	for (size_t i = 0; i < a->ncas; i++) {
		int rc = build_one_ca(&a->cas[i], ctx, w, custom, notes);
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
int cg_caseattrs_labels(const struct cg_caseattrs *a, const struct cg_event *ev, const cJSON *ctx,
			const struct cg_field_watch *w, cJSON **out, struct cg_sbuf *notes)
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
			if ((rc = render_values(&a->attrs[i].values, "attributes", a->attrs[i].key, ctx, CG_TMPL_ESCAPE_PLAIN, 0, w,
						&vals, &n)))
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
			cg_text_trim(k);
			cg_text_trim(v);
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
