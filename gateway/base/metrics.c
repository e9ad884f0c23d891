/* metrics.c: a small in-process metrics registry; series are few, so lookups are linear. */
#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "sbuf.h"

static const double buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

struct series {
	struct series *next;
	char *labels;
	double value;             /* counter/gauge; histogram sum */
	unsigned long long count; /* histogram */
	unsigned long long bucket[NBUCKETS];
};

struct family {
	struct family *next;
	char *name;
	char *help;
	enum cg_metric_type type;
	struct series *series, **tail;
};

struct cg_metrics {
	struct family *families, **tail;
};

int cg_metrics_create(struct cg_metrics **out)
{
	struct cg_metrics *m = calloc(1, sizeof(*m));
	if (!m)
		return CG_ENOMEM;
	m->tail = &m->families;
	*out = m;
	return 0;
}

void cg_metrics_destroy(struct cg_metrics *m)
{
	if (!m)
		return;
	struct family *f = m->families;
	while (f) {
		struct family *fn = f->next;
		struct series *s = f->series;
		while (s) {
			struct series *sn = s->next;
			free(s->labels);
			free(s);
			s = sn;
		}
		free(f->name);
		free(f->help);
		free(f);
		f = fn;
	}
	free(m);
}

static struct family *find_family(const struct cg_metrics *m, const char *name)
{
	for (struct family *f = m->families; f; f = f->next)
		if (strcmp(f->name, name) == 0)
			return f;
	return NULL;
}

int cg_metrics_describe(struct cg_metrics *m, const char *name, enum cg_metric_type type, const char *help)
{
	if (find_family(m, name))
		return 0;
	struct family *f = calloc(1, sizeof(*f));
	if (!f)
		return CG_ENOMEM;
	f->name = strdup(name);
	f->help = strdup(help);
	if (!f->name || !f->help) {
		free(f->name);
		free(f->help);
		free(f);
		return CG_ENOMEM;
	}
	f->type = type;
	f->tail = &f->series;
	*m->tail = f;
	m->tail = &f->next;
	return 0;
}

static struct series *get_series(struct cg_metrics *m, const char *name, const char *labels, enum cg_metric_type type)
{
	struct family *f = find_family(m, name);
	if (!f) {
		if (cg_metrics_describe(m, name, type, name) != 0)
			return NULL;
		f = find_family(m, name);
	}
	if (!labels)
		labels = "";
	for (struct series *s = f->series; s; s = s->next)
		if (strcmp(s->labels, labels) == 0)
			return s;
	struct series *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->labels = strdup(labels);
	if (!s->labels) {
		free(s);
		return NULL;
	}
	*f->tail = s;
	f->tail = &s->next;
	return s;
}

void cg_metrics_add(struct cg_metrics *m, const char *name, const char *labels, double v)
{
	struct series *s = get_series(m, name, labels, CG_COUNTER);
	if (s)
		s->value += v;
}

double *cg_metrics_counter_ref(struct cg_metrics *m, const char *name, const char *labels)
{
	struct series *s = get_series(m, name, labels, CG_COUNTER);
	return s ? &s->value : NULL;
}

void cg_metrics_set(struct cg_metrics *m, const char *name, const char *labels, double v)
{
	struct series *s = get_series(m, name, labels, CG_GAUGE);
	if (s)
		s->value = v;
}

void cg_metrics_observe(struct cg_metrics *m, const char *name, const char *labels, double v)
{
	struct series *s = get_series(m, name, labels, CG_HISTOGRAM);
	if (!s)
		return;
	s->value += v;
	s->count++;
	for (size_t i = 0; i < NBUCKETS; i++)
		if (v <= buckets[i])
			s->bucket[i]++;
}

void cg_metrics_zero(struct cg_metrics *m, const char *name, const char *labels)
{
	const struct family *f = find_family(m, name);
	if (f)
		(void)get_series(m, name, labels, f->type);
}

double cg_metrics_get(const struct cg_metrics *m, const char *name, const char *labels)
{
	const struct family *f = find_family(m, name);
	if (!f)
		return 0;
	for (const struct series *s = f->series; s; s = s->next)
		if (strcmp(s->labels, labels ? labels : "") == 0)
			return f->type == CG_HISTOGRAM ? (double)s->count : s->value;
	return 0;
}

void cg_metrics_escape(const char *in, char *buf, size_t buflen)
{
	size_t o = 0;
	for (; in && *in && o + 3 < buflen; in++) {
		if (*in == '\\' || *in == '"') {
			buf[o++] = '\\';
			buf[o++] = *in;
		} else if (*in == '\n') {
			buf[o++] = '\\';
			buf[o++] = 'n';
		} else {
			buf[o++] = *in;
		}
	}
	if (buflen)
		buf[o] = '\0';
}

static const char *type_name(enum cg_metric_type t)
{
	return t == CG_COUNTER ? "counter" : t == CG_GAUGE ? "gauge" : "histogram";
}

/* The shortest decimal that reads back as v (0.009578, not 0.0095779999999999997). */
static const char *num(double v, char *buf, size_t cap)
{
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, cap, "%.*g", prec, v);
		if (prec == 17 || strtod(buf, NULL) == v)
			break;
	}
	return buf;
}

char *cg_metrics_render(const struct cg_metrics *m, size_t *len)
{
	char v[40];
	struct cg_sbuf b = {0};
	for (const struct family *f = m->families; f; f = f->next) {
		cg_sbuf_addf(&b, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name, type_name(f->type));
		for (const struct series *s = f->series; s; s = s->next) {
			const char *sep = s->labels[0] ? "," : "";
			if (f->type != CG_HISTOGRAM) {
				if (s->labels[0])
					cg_sbuf_addf(&b, "%s{%s} %s\n", f->name, s->labels, num(s->value, v, sizeof(v)));
				else
					cg_sbuf_addf(&b, "%s %s\n", f->name, num(s->value, v, sizeof(v)));
				continue;
			}
			for (size_t i = 0; i < NBUCKETS; i++)
				cg_sbuf_addf(&b, "%s_bucket{%s%sle=\"%g\"} %llu\n", f->name, s->labels, sep, buckets[i],
					   s->bucket[i]);
			cg_sbuf_addf(&b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", f->name, s->labels, sep, s->count);
			cg_sbuf_addf(&b, "%s_sum{%s} %s\n%s_count{%s} %llu\n", f->name, s->labels, num(s->value, v, sizeof(v)),
				   f->name, s->labels, s->count);
		}
	}
	size_t n = b.len;
	char *text = cg_sbuf_take(&b);
	if (text && len)
		*len = n;
	return text;
}
