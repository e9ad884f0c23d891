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
void cg_metrics_set(struct cg_metrics *m, const char *name, const char *labels, double v);
void cg_metrics_observe(struct cg_metrics *m, const char *name, const char *labels, double v);
/* Current value of a counter/gauge series (0 when absent); for tests and `status`. */
double cg_metrics_get(const struct cg_metrics *m, const char *name, const char *labels);

/* Declares every family casegate exports (metrics_catalog.c), so /metrics lists each one from
 * the start and alert rules can rely on the names. */
void cg_metrics_describe_casegate(struct cg_metrics *m);

/* Renders every family; malloc'd text the caller frees, NULL on ENOMEM. */
char *cg_metrics_render(const struct cg_metrics *m, size_t *len);

/* Escapes a label value for exposition text into buf. */
void cg_metrics_escape(const char *in, char *buf, size_t buflen);

#endif
