/* maputil.h: the mapper helper kit: reading a sender's payload, filling events (labels, links, text). */
#ifndef CG_MAPUTIL_H
#define CG_MAPUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "event.h"
#include "sbuf.h"

/* ---- reading the payload ----------------------------------------------------------------------------
 * Readers take a dotted path ("incident.resource.type", cg_json_path) and give NULL for anything
 * absent, of another type or empty: a mapper tests one pointer. */

/* Member of o (an object, or anything: NULL) by exact name. */
const cJSON *cg_mu_get(const cJSON *o, const char *key);
/* Non-empty string at a dotted path, or NULL. */
const char *cg_mu_str(const cJSON *o, const char *dotted);
/* 0 when payload is a JSON object, else CG_EINVAL with err "payload must be a JSON object". */
int cg_mu_need_object(const cJSON *payload, char *err, size_t errlen);
/* The object at a dotted path, or NULL with err naming the path ("missing field 'incident'",
 * "invalid field 'incident': not an object"): the mapper then returns CG_EINVAL. */
const cJSON *cg_mu_object(const cJSON *o, const char *dotted, char *err, size_t errlen);
/* 1 when s is one of the words of list (NULL-terminated), compared case-insensitively. */
int cg_mu_one_of(const char *s, const char *const list[]);
/* 1 when s is a Zabbix/Mustache placeholder the sender left unexpanded ("{EVENT.ID}", "{{rule.id}}"). */
int cg_mu_unexpanded(const char *s);
/* cg_mu_str, and NULL for a placeholder left unexpanded too: for senders whose body is a template the
 * user fills (Zabbix media type, Kibana connector, New Relic workflow, Uptime Kuma). */
const char *cg_mu_filled(const cJSON *o, const char *dotted);

/*
 * Ids. Senders give an id as a string or as a JSON number. A non-empty string is the id as given.
 * A number is an id only when it is an exact integer below 2^53 in magnitude (printed in decimal
 * into buf, size >= 32; -0 is "0"); a fraction, or anything from 2^53 up, is no id: NULL, as for
 * an absent one. Why not keep the number's text instead: cJSON keeps the parsed double, not the
 * digits the sender wrote, so by the time a mapper runs they are gone; and from 2^53 up a double
 * no longer holds every integer, so two different ids (2^53 and 2^53 + 1) arrive as one double
 * and would share one case. A sender with larger ids sends them as strings, which are used as is.
 */
#define CG_MU_ID_LIMIT 9007199254740992.0 /* 2^53 */
/* The id v holds, or NULL. */
const char *cg_mu_id(const cJSON *v, char *buf, size_t buflen);
/* The id at a dotted path; a string must also be filled (cg_mu_filled). */
const char *cg_mu_filled_id(const cJSON *o, const char *dotted, char *buf, size_t buflen);

/*
 * RFC 3339 UTC text for an epoch number in seconds, milliseconds, microseconds or nanoseconds
 * (the unit is guessed from the magnitude: senders differ, Opsgenie mixes ms and ns in one
 * payload). Accepts a number or a numeric string. Returns out, or NULL when v is not a
 * plausible time (missing, zero, negative, past year 9999).
 */
const char *cg_mu_epoch_text(const cJSON *v, char out[40]);
/* Milliseconds since the epoch to RFC 3339 UTC ("2024-04-22T06:16:30.228Z") in out (>= 32 bytes); 0 or CG_EINVAL. */
int cg_mu_ms_text(double ms, char *out, size_t outlen);

/* ---- filling events --------------------------------------------------------------------------------- */

/* Pushes an event with empty labels, annotations and links; NULL on ENOMEM. */
struct cg_event *cg_mu_push(struct cg_event_list *out);
/* e->field = strdup(s) (NULL stays NULL). 0 or CG_ENOMEM. */
int cg_mu_dup(char **field, const char *s);

/* Sets obj[key] = s (string) when s is non-empty and the key is not there yet; 0 or CG_ENOMEM. */
int cg_mu_set(cJSON *obj, const char *key, const char *s);
/* The same for a label whose key may come from the payload: an empty or NULL key is no label. */
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

/* 1 when url starts with http:// or https:// (case-insensitive): the only links casegate makes. */
int cg_mu_is_http(const char *url);
/* Sets links[name] = url when url is a non-empty http(s) URL (other schemes are dropped). 0 or CG_ENOMEM. */
int cg_mu_link(cJSON *links, const char *name, const char *url);

/* cg_mu_link with the text of b as the URL (b is taken, so reset); CG_ENOMEM when b ran out of memory. */
int cg_mu_link_take(cJSON *links, const char *name, struct cg_sbuf *b);

/*
 * The end every mapper's description shares: the links line (cg_mu_links_md) appended to b, and b
 * handed over to e->description. 0, or CG_ENOMEM when b ran out of memory or e->title is missing
 * (its allocation failed): mappers build the title first.
 */
int cg_mu_describe(struct cg_event *e, struct cg_sbuf *b);
/* cg_mu_describe, then e's template context from alert and payload (cg_event_build_ctx). */
int cg_mu_finish(struct cg_event *e, struct cg_sbuf *b, const cJSON *alert, const cJSON *payload);

/* Adds a duplicate of val as ctx[key] (replacing); 0 or CG_ENOMEM. */
int cg_mu_ctx_put(cJSON *ctx, const char *key, const cJSON *val);

/* ---- text ------------------------------------------------------------------------------------------- */

/* Appends the event's links as one Markdown line ("**Links:** [Source](...) · ..."), URLs escaped
 * (cg_md_link); nothing when empty. */
void cg_mu_links_md(struct cg_sbuf *b, const cJSON *links);
/* "- key: value" lines for the string/number members of obj, sorted by key (nothing when none). */
void cg_mu_pairs_md(struct cg_sbuf *b, const char *heading, const cJSON *obj);
/* "**label:** value" lines, value neutralised, for each {dotted path, label} row whose path holds a
 * non-empty string (cg_mu_str), in the rows' order. */
void cg_mu_rows_md(struct cg_sbuf *b, const cJSON *o, const char *const rows[][2], size_t n);
/* The string items of an array joined with sep into b (non-strings skipped); returns how many were added. */
int cg_mu_join(struct cg_sbuf *b, const cJSON *arr, const char *sep);
/* A malloc'd lower-case copy with spaces turned into '_' ("Not classified" -> "not_classified"); NULL on ENOMEM. */
char *cg_mu_word(const char *s);
/* The first line of s, at most max bytes (cut on a UTF-8 boundary), malloc'd; NULL on ENOMEM. */
char *cg_mu_first_line(const char *s, size_t max);
/* Characters (UTF-8 sequences; a stray byte counts as one) in s. */
size_t cg_mu_utf8_chars(const char *s);
/* A malloc'd copy of s cut to at most max characters (never inside a UTF-8 sequence), *cut set
 * when something was cut (cut may be NULL); NULL on ENOMEM. The paging APIs count characters. */
char *cg_mu_cut_chars(const char *s, size_t max, int *cut);
/* A key made from content, for a sender that gave none (the same content: the same key): prefix
 * and 32 hex digits of SHA-256 over the fields, each as its length and bytes so no two splits of
 * the same text collide (NULL fields count as ""). 0 or CG_ENOMEM. */
int cg_mu_content_key(const char *prefix, const char *const fields[], size_t n, char **out);

#endif
