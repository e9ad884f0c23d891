/* maputil.h: small helpers shared by the SaaS mappers (datadog, sentry, azure, gcp, pagerduty, opsgenie). */
#ifndef CG_MAPUTIL_H
#define CG_MAPUTIL_H

#include <stddef.h>
#include <cjson/cJSON.h>

#include "amshape.h" /* cg_am_add_link, cg_am_links_md */
#include "event.h"
#include "sbuf.h"

/* Member of o (an object, or anything: NULL) by exact name. */
const cJSON *cg_mu_get(const cJSON *o, const char *key);
/* Non-empty string at a dotted path, or NULL. */
const char *cg_mu_str(const cJSON *o, const char *dotted);

/*
 * An id that senders give as a string or a number, as text into buf (size >= 32): a non-empty
 * string is returned as is, an integral number is printed; NULL otherwise.
 */
const char *cg_mu_id(const cJSON *v, char *buf, size_t buflen);

/*
 * RFC 3339 UTC text for an epoch number in seconds, milliseconds, microseconds or nanoseconds
 * (the unit is guessed from the magnitude: senders differ, Opsgenie mixes ms and ns in one
 * payload). Accepts a number or a numeric string. Returns out, or NULL when v is not a
 * plausible time (missing, zero, negative, past year 9999).
 */
const char *cg_mu_epoch_text(const cJSON *v, char out[40]);

/* Sets labels[key] = value unless key is already there or either is empty. 0 or CG_ENOMEM. */
int cg_mu_label(cJSON *labels, const char *key, const char *value);
/* Adds the string members of src to labels (first wins). 0 or CG_ENOMEM. */
int cg_mu_labels_from(cJSON *labels, const cJSON *src);

/*
 * Parses "key:value" tags into labels: a comma-separated string ("env:prod, team:db") or an
 * array of such strings. A key seen twice gets its values joined with ","; tags without a
 * colon are not labels (they stay in ctx). Every tag, trimmed, is appended to list when it
 * is not NULL (an array). 0 or CG_ENOMEM.
 */
int cg_mu_tags(cJSON *labels, cJSON *list, const cJSON *tags);
/* The same for a comma-separated text (NULL: nothing). */
int cg_mu_tags_text(cJSON *labels, cJSON *list, const char *text);


/* Pushes an event with empty labels, annotations and links; NULL on ENOMEM. */
struct cg_event *cg_mu_push(struct cg_event_list *out);
/* e->field = strdup(s) (NULL stays NULL). 0 or CG_ENOMEM. */
int cg_mu_dup(char **field, const char *s);

/* "- key: value" lines for the string/number members of obj, sorted by key (nothing when none). */
void cg_mu_pairs_md(struct cg_sbuf *b, const char *heading, const cJSON *obj);

#endif
