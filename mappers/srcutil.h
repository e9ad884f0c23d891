/* srcutil.h: small helpers shared by the source mappers (ids, times, text) of cloudwatch, newrelic, zabbix, ... */
#ifndef CG_SRCUTIL_H
#define CG_SRCUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "amshape.h"

/* Non-empty string member of o, or NULL (also for a placeholder left unexpanded: "{EVENT.ID}", "{{rule.id}}"). */
const char *cg_src_str(const cJSON *o, const char *key);
/*
 * An id member as text: a non-empty string, or an integral number (printed without
 * exponent). buf receives the number form. NULL when absent, empty, or another type.
 */
const char *cg_src_id(const cJSON *o, const char *key, char *buf, size_t buflen);
/* 1 when s is a Zabbix/Mustache placeholder the sender left unexpanded ("{EVENT.ID}", "{{rule.id}}"). */
int cg_src_unexpanded(const char *s);
/* Milliseconds since the epoch to RFC 3339 UTC ("2024-04-22T06:16:30.228Z") in out (>= 32 bytes); 0 or CG_EINVAL. */
int cg_src_ms_to_rfc3339(double ms, char *out, size_t outlen);
/* The string items of an array joined with sep into b (non-strings skipped); returns how many were added. */
int cg_src_join(struct cg_sbuf *b, const cJSON *arr, const char *sep);
/* A malloc'd lower-case copy with spaces turned into '_' ("Not classified" -> "not_classified"); NULL on ENOMEM. */
char *cg_src_word(const char *s);
/* Sets obj[key] = s (string) when s is non-empty and the key is not there yet; 0 or CG_ENOMEM. */
int cg_src_set(cJSON *obj, const char *key, const char *s);
/* Adds a duplicate of val as ctx[key] (replacing); 0 or CG_ENOMEM. */
int cg_src_ctx_put(cJSON *ctx, const char *key, const cJSON *val);
/* The first line of s, at most max bytes (cut on a UTF-8 boundary), malloc'd; NULL on ENOMEM. */
char *cg_src_first_line(const char *s, size_t max);

#endif
