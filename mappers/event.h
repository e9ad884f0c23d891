/* event.h: the normalised alert event every mapper produces. */
#ifndef CG_EVENT_H
#define CG_EVENT_H

#include <stddef.h>
#include <cjson/cJSON.h>

#include "json.h" /* cg_json_path, cg_json_str, cg_json_string_object: mappers' callers use them */
#include "text.h" /* cg_strdup0 */

/* CG_STATUS_COMMENT: a note for the case of the dedup key (an e-mail reply, an acknowledgement);
 * it never creates, closes or reopens a case and is dropped when the key has no case. */
enum cg_alert_status { CG_STATUS_FIRING = 0, CG_STATUS_RESOLVED = 1, CG_STATUS_COMMENT = 2 };

/*
 * One alert occurrence. Strings are malloc'd and owned by the event (NULL when
 * unknown). ctx is the template context the mapper built: the alert's own fields
 * plus "status", "severity", "labels", "annotations", "links", "starts_at", "ends_at",
 * and "payload" (a copy of the whole payload); templates render over it.
 */
struct cg_event {
	char *dedup_key;   /* mapper's default key, not yet namespaced; may be NULL when none */
	enum cg_alert_status status;
	char *severity;    /* the source's own word ("critical", "warning", ...) */
	char *title;       /* mapper's default title */
	char *description; /* mapper's default description (Markdown) */
	cJSON *labels;     /* object of strings */
	cJSON *annotations;/* object of strings */
	cJSON *links;      /* object: name -> URL (generator, dashboard, runbook, silence, ...) */
	char *starts_at, *ends_at; /* RFC 3339 text as sent */
	char *comment_detail; /* Markdown added to follow-up comments (group mode: the alerts and their status) */
	int acknowledged;  /* a COMMENT saying someone took the alert (the paging APIs' acknowledge) */
	cJSON *ctx;        /* owned */
};

struct cg_event_list {
	struct cg_event *v;
	size_t n, cap;
	/* Set by a mapper that recognised a payload that is not an alert (test, ack, note): n == 0. */
	char ignored_reason[128];
	/* Free-form note a mapper may set (e.g. "3 alerts truncated by Alertmanager"). */
	char note[128];
	/*
	 * Envelope facts for the gateway (AWS SNS and the like); empty when not applicable.
	 * subscribe_url: a subscription handshake to confirm by GETting this URL (the gateway
	 * checks its host against the source's allowlist before fetching). message_id: the
	 * sender's delivery id; a redelivery with the same id is acknowledged and dropped.
	 * message_type: the envelope's own word ("SubscriptionConfirmation", "Notification", ...).
	 */
	char subscribe_url[1024];
	char message_id[160];
	char message_type[48];
};

void cg_event_list_init(struct cg_event_list *l);
/* Appends a zeroed event; returns it or NULL on ENOMEM. */
struct cg_event *cg_event_list_push(struct cg_event_list *l);
void cg_event_list_cleanup(struct cg_event_list *l);
void cg_event_cleanup(struct cg_event *e);

/* Fills ctx from the event's fields (overwriting those keys), adds "payload" (duplicated).
 * alert may be NULL (ctx then holds only the normalised fields). Returns 0 or CG_ENOMEM. */
int cg_event_build_ctx(struct cg_event *e, const cJSON *alert, const cJSON *payload);

/* As cg_event_build_ctx, but ctx refers to the members of alert and payload instead of copying
 * them (payload's member skip_key, e.g. "alerts", left out): cheap, and the same keys in the same
 * order. alert and payload must outlive the event, so use it only for parts of the payload
 * map() was given (the caller keeps that alive while it uses the events). */
int cg_event_build_ctx_view(struct cg_event *e, const cJSON *alert, const cJSON *payload, const char *skip_key);

#endif
