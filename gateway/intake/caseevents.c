/* caseevents.c: Datadog's "this case changed" notifications: find the case, queue a read-back of it. */
#define CG_LOG_COMPONENT "intake"
#include "caseevents.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "event.h"
#include "lifecycle.h"
#include "log.h"
#include "payload.h"
#include "store.h"

int cg_caseevents_is(const struct cg_source_config *src)
{
	return src && src->type && strcmp(src->type, CG_CASEEVENTS_TYPE) == 0;
}

static int looks_like_ref(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 100)
		return 0;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		      *p == '_'))
			return 0;
	return 1;
}

const char *cg_caseevents_ref(const cJSON *payload)
{
	static const char *const paths[] = {"case_id", "case_key", "case.id", "case.key", "data.id",
					    "data.attributes.key", "id", "key"};
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		const char *v = cg_json_str(payload, paths[i]);
		if (v && looks_like_ref(v))
			return v;
	}
	return NULL;
}

struct ce_job {
	struct cg_http_request *req;
	struct cg_metrics *metrics;
	void (*committed)(void *ud);
	void *ud;
	char source_label[160];
	char ref[104];
	/* results */
	int found;
	char case_key[104];
};

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int ce_run(struct cg_store *st, void *ud)
{
	struct ce_job *j = ud;
	struct cg_store_case c;
	j->found = 0;
	int rc = cg_store_case_find_by_key(st, j->ref, &c);
	if (rc == CG_ENOENT)
		return 0;
	if (rc)
		return rc;
	/* The event belongs to the source that owns the key ("<source>:<key>"). */
	char source[CG_SOURCE_NAME_MAX + 1];
	size_t sl = strcspn(c.dedup_key, ":");
	snprintf(source, sizeof(source), "%.*s", (int)(sl < sizeof(source) ? sl : sizeof(source) - 1), c.dedup_key);
	int64_t now = wall_ms();
	struct cg_payload_in in = {0};
	char *payload = cg_payload_encode(&in); /* a sync event carries nothing */
	if (!payload) {
		cg_store_case_cleanup(&c);
		return CG_ENOMEM;
	}
	struct cg_store_event ev = {.source = source,
				    .dedup_key = c.dedup_key,
				    .status = CG_STATUS_COMMENT,
				    .priority = c.priority,
				    .payload = payload,
				    .received_ms = now,
				    .next_ms = now,
				    .step = cg_step_encode(CG_ACT_SYNC, 0)};
	rc = cg_store_enqueue(st, &ev, 1);
	free(payload);
	if (rc == 0) {
		j->found = 1;
		snprintf(j->case_key, sizeof(j->case_key), "%s", c.case_key ? c.case_key : j->ref);
	}
	cg_store_case_cleanup(&c);
	return rc;
}

static void ce_done(int rc, void *ud)
{
	struct ce_job *j = ud;
	char labels[256];
	if (rc) {
		CG_LOG_WARN("case event for %s not stored: %s", j->ref, cg_strerror(rc));
		struct cg_http_header h[] = {{"Retry-After", "5"}};
		const char *body = "{\"errors\":[\"store unavailable: retry later\"]}";
		cg_http_respond(j->req, 503, "application/json", body, strlen(body), h, 1);
		free(j);
		return;
	}
	snprintf(labels, sizeof(labels), "%s,result=\"%s\"", j->source_label, j->found ? "queued" : "ignored");
	cg_metrics_add(j->metrics, "casegate_case_events_total", labels, 1);
	cJSON *doc = cJSON_CreateObject();
	if (j->found) {
		cJSON_AddStringToObject(doc, "status", "accepted");
		cJSON_AddStringToObject(doc, "case", j->case_key);
	} else {
		cJSON_AddStringToObject(doc, "status", "ignored");
		cJSON_AddStringToObject(doc, "reason", "no case casegate opened has that id or key");
	}
	char *text = doc ? cJSON_PrintUnformatted(doc) : NULL;
	cJSON_Delete(doc);
	if (text)
		cg_http_respond(j->req, j->found ? 202 : 200, "application/json", text, strlen(text), NULL, 0);
	else
		cg_http_respond_error(j->req, 500, "out of memory");
	cJSON_free(text);
	if (j->found && j->committed)
		j->committed(j->ud);
	free(j);
}

static void reject(struct cg_http_request *req, struct cg_metrics *m, const char *label, int status, const char *msg)
{
	char labels[256];
	snprintf(labels, sizeof(labels), "%s,result=\"invalid\"", label);
	cg_metrics_add(m, "casegate_case_events_total", labels, 1);
	cg_http_respond_error(req, status, msg);
}

void cg_caseevents_handle(struct cg_http_request *req, const struct cg_source_config *src, struct cg_storeq *q,
			  struct cg_metrics *metrics, void (*committed)(void *ud), void *ud)
{
	char label[160], esc[128];
	cg_metrics_escape(src->name, esc, sizeof(esc));
	snprintf(label, sizeof(label), "source=\"%s\"", esc);
	cJSON *doc = req->body_len ? cJSON_ParseWithLength(req->body, req->body_len) : NULL;
	if (!cJSON_IsObject(doc)) {
		cJSON_Delete(doc);
		reject(req, metrics, label, 400, "expected a JSON object naming the case (case_id or case_key)");
		return;
	}
	const char *ref = cg_caseevents_ref(doc);
	if (!ref) {
		cJSON_Delete(doc);
		reject(req, metrics, label, 422,
		       "no case in the payload: give case_id (the case UUID) or case_key (\"PROJ-12\")");
		return;
	}
	struct ce_job *j = calloc(1, sizeof(*j));
	if (!j) {
		cJSON_Delete(doc);
		cg_http_respond_error(req, 500, "out of memory");
		return;
	}
	j->req = req;
	j->metrics = metrics;
	j->committed = committed;
	j->ud = ud;
	snprintf(j->source_label, sizeof(j->source_label), "%s", label);
	snprintf(j->ref, sizeof(j->ref), "%s", ref);
	cJSON_Delete(doc);
	if (cg_storeq_submit(q, ce_run, ce_done, j) != 0) {
		free(j);
		struct cg_http_header h[] = {{"Retry-After", "5"}};
		const char *body = "{\"errors\":[\"shutting down: retry later\"]}";
		cg_http_respond(req, 503, "application/json", body, strlen(body), h, 1);
	}
}
