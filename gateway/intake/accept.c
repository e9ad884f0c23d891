/* accept.c: a drafted alert as the event the store keeps and the engine delivers. */
#include "accept.h"

#include <stdlib.h>
#include <string.h>

#include "actions.h"
#include "err.h"
#include "payload.h"

int cg_accept_event(const struct cg_source_config *src, struct cg_case_draft *d, const struct cg_event *ev,
		    const char *note, int64_t now, struct cg_store_event *out)
{
	out->source = strdup(src->name);
	out->dedup_key = d->dedup_key;
	d->dedup_key = NULL;
	out->status = (int)d->status;
	out->priority = d->priority;
	out->severity = d->severity;
	d->severity = NULL;
	out->received_ms = now;
	out->next_ms = now;
	if (note) {
		struct cg_payload_in in = {.summary = note, .comment_only = 1};
		out->payload = cg_payload_encode(&in);
	} else {
		cJSON *insights = NULL;
		if (ev && cg_actions_render_insights(src, ev, &insights) != 0)
			return CG_ENOMEM;
		struct cg_payload_in in = {.title = d->title ? d->title : "",
					   .summary = d->summary ? d->summary : "",
					   .create = d->create,
					   .attributes = d->attributes,
					   .insights = insights,
					   .acknowledged = d->status == CG_STATUS_COMMENT && ev && ev->acknowledged};
		out->payload = cg_payload_encode(&in);
		cJSON_Delete(insights);
	}
	return out->source && out->payload ? 0 : CG_ENOMEM;
}
