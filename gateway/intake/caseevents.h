/* caseevents.h: `type: datadog_case_events` sources: Datadog says a case changed (a Case Management
 * notification rule's HTTP recipient); casegate reads the case back and follows it. */
#ifndef CG_CASEEVENTS_H
#define CG_CASEEVENTS_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "http.h"
#include "metrics.h"
#include "storeq.h"

#define CG_CASEEVENTS_TYPE "datadog_case_events"

/* 1 when src is a case-events source (it maps no alerts). */
int cg_caseevents_is(const struct cg_source_config *src);

/*
 * The case a notification names: the first string of case_id, case_key, case.id, case.key,
 * data.id, data.attributes.key, id, key that looks like a case id or key ([A-Za-z0-9_-], at most
 * 100 characters). Returns it (pointing into payload) or NULL.
 */
const char *cg_caseevents_ref(const cJSON *payload);

/*
 * Handles an authenticated request of a case-events source: 400 for a body that is not a JSON
 * object, 422 when it names no case; otherwise a store job looks the case up and, when casegate
 * knows it, queues a sync event for its dedup key (in order with the key's other events): the
 * engine then reads the case from Datadog. Answers 202 {"status":"accepted","case":...} or
 * 200 {"status":"ignored",...}; committed(ud) runs after a sync event was stored.
 */
void cg_caseevents_handle(struct cg_http_request *req, const struct cg_source_config *src, struct cg_storeq *q,
			  struct cg_metrics *metrics, void (*committed)(void *ud), void *ud);

#endif
