/* metrics.h: Prometheus counters, gauges and histograms, rendered as text exposition format. */
#ifndef CG_METRICS_H
#define CG_METRICS_H

#include <stddef.h>

struct cg_metrics;

enum cg_metric_type { CG_COUNTER = 0, CG_GAUGE, CG_HISTOGRAM };

/* Not thread-safe: use from the loop thread only. */
int cg_metrics_create(struct cg_metrics **out);
void cg_metrics_destroy(struct cg_metrics *m);

/* Declares a family (name, type, help). Histograms use buckets (seconds) given here. */
int cg_metrics_describe(struct cg_metrics *m, const char *name, enum cg_metric_type type, const char *help);

/* labels is the label set as exposition text without braces, e.g. `source="demo",code="202"`, or "". */
void cg_metrics_add(struct cg_metrics *m, const char *name, const char *labels, double v);
/* The value of a counter series, for hot paths that add to it without a lookup each time (the
 * loop thread only, like every call here): valid until cg_metrics_destroy. NULL when out of memory. */
double *cg_metrics_counter_ref(struct cg_metrics *m, const char *name, const char *labels);
void cg_metrics_set(struct cg_metrics *m, const char *name, const char *labels, double v);
void cg_metrics_observe(struct cg_metrics *m, const char *name, const char *labels, double v);
/* Makes the series exist (at 0 when new; an existing one keeps its value) in a declared family, so
 * /metrics prints a 0 sample before the first event: a rate() or increase() then counts that
 * first event, and a dashboard shows 0 rather than "no data". Undeclared families are left alone. */
void cg_metrics_zero(struct cg_metrics *m, const char *name, const char *labels);
/* Current value of a counter/gauge series (0 when absent); for tests and `status`. */
double cg_metrics_get(const struct cg_metrics *m, const char *name, const char *labels);

/* Declares every family casegate exports (metrics_catalog.c), so /metrics lists each one from
 * the start and alert rules can rely on the names; a family without labels gets its 0 sample,
 * and so do the label sets fixed by the code (circuit causes, probe and reconciliation results). */
void cg_metrics_describe_casegate(struct cg_metrics *m);
/* 0 samples for one configured source (name as configured, type its mapper name: "email" and
 * "datadog_case_events" have their own families): the source's label sets known at start. Called
 * at start and for each source of an applied reload; a removed source keeps its series. */
void cg_metrics_zero_source(struct cg_metrics *m, const char *source, const char *type);

/* Renders every family; malloc'd text the caller frees, NULL on ENOMEM. */
char *cg_metrics_render(const struct cg_metrics *m, size_t *len);

/* Escapes a label value for exposition text into buf. */
void cg_metrics_escape(const char *in, char *buf, size_t buflen);

#endif
