/* storm_int.h: what storm folding (storm.c) and the daemon's storm tick (storm_tick.c) share (storm_doc.c). */
#ifndef CG_STORM_INT_H
#define CG_STORM_INT_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "sbuf.h"
#include "store.h"

#define LINE_TITLE_MAX 120 /* characters of an alert's title in a listing or digest line */
#define LINE_KEY_MAX 80    /* characters of its key */

int64_t cg_storm_wall_ms(void);
/* Lower is more urgent; no priority (0) is the least urgent. */
int cg_storm_urgency(int prio);
/* "5m", "90s", "2h": a duration as a person reads it. */
void cg_storm_human_ms(int64_t ms, char *out, size_t len);
const char *cg_storm_prio_name(int prio);
/* "**P2** Disk full on db-1 (`db-1/disk`)": one alert in Markdown, its sender text inert (the
 * title cut to LINE_TITLE_MAX characters, the key to LINE_KEY_MAX, in a code span). */
void cg_storm_alert_line(struct cg_sbuf *b, int prio, const char *title, const char *key);

/* Fields of the JSON documents: a number (0 when absent), a string ("" when absent), and
 * setters (0 or CG_ENOMEM; add_num also adds a field that is absent). */
int64_t cg_storm_num(const cJSON *o, const char *name);
const char *cg_storm_str(const cJSON *o, const char *name);
int cg_storm_set_num(cJSON *o, const char *name, int64_t v);
int cg_storm_add_num(cJSON *o, const char *name, int64_t v);
int cg_storm_set_str(cJSON *o, const char *name, const char *v);

/* Payloads of the storm case's events (malloc'd, NULL on ENOMEM): an escalation by alert ev
 * (its own draft along, its summary naming it); a comment; the digest of storm document doc
 * (NULL when it has nothing to say; clears it in doc); its resolve (stale: casegate ends it). */
char *cg_storm_raise_payload(const struct cg_store_event *ev);
char *cg_storm_note_payload(const char *text);
char *cg_storm_digest_take(cJSON *doc);
char *cg_storm_resolve_payload(const cJSON *doc, int stale);

#endif
