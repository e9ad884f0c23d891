/* maputil.h: the mapper helper kit: reading a sender's payload, filling events (labels, links, text). */
#ifndef CG_MAPUTIL_H
#define CG_MAPUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

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

/* Non-empty string member of o, or NULL (also for a placeholder left unexpanded: "{EVENT.ID}", "{{rule.id}}"). */
const char *cg_mu_filled(const cJSON *o, const char *key);
/*
 * An id member as text: a non-empty string, or an integral number (printed without
 * exponent). buf receives the number form. NULL when absent, empty, or another type.
 */
const char *cg_mu_filled_id(const cJSON *o, const char *key, char *buf, size_t buflen);
/* 1 when s is a Zabbix/Mustache placeholder the sender left unexpanded ("{EVENT.ID}", "{{rule.id}}"). */
int cg_mu_unexpanded(const char *s);
/* Milliseconds since the epoch to RFC 3339 UTC ("2024-04-22T06:16:30.228Z") in out (>= 32 bytes); 0 or CG_EINVAL. */
int cg_mu_ms_text(double ms, char *out, size_t outlen);
/* The string items of an array joined with sep into b (non-strings skipped); returns how many were added. */
int cg_mu_join(struct cg_sbuf *b, const cJSON *arr, const char *sep);
/* A malloc'd lower-case copy with spaces turned into '_' ("Not classified" -> "not_classified"); NULL on ENOMEM. */
char *cg_mu_word(const char *s);
/* Sets obj[key] = s (string) when s is non-empty and the key is not there yet; 0 or CG_ENOMEM. */
int cg_mu_set(cJSON *obj, const char *key, const char *s);
/* Adds a duplicate of val as ctx[key] (replacing); 0 or CG_ENOMEM. */
int cg_mu_ctx_put(cJSON *ctx, const char *key, const cJSON *val);
/* The first line of s, at most max bytes (cut on a UTF-8 boundary), malloc'd; NULL on ENOMEM. */
char *cg_mu_first_line(const char *s, size_t max);

/* 1 when url starts with http:// or https:// (case-insensitive): the only links casegate makes. */
int cg_mu_is_http(const char *url);
/* Sets links[name] = url when url is a non-empty http(s) URL (other schemes are dropped). 0 or CG_ENOMEM. */
int cg_mu_link(cJSON *links, const char *name, const char *url);
/* Appends the event's links as one Markdown line ("**Links:** [Source](...) · ..."), URLs escaped
 * (cg_md_link); nothing when empty. */
void cg_mu_links_md(struct cg_sbuf *b, const cJSON *links);

#endif
