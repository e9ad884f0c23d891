/* intake.c: HTTP routes: webhooks become durable events (202 after commit), plus health and metrics. */
#define CG_LOG_COMPONENT "intake"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admission.h"
#include <openssl/crypto.h>

#include "actions.h"
#include "app.h"
#include "caseevents.h"
#include "auth.h"
#include "err.h"
#include "guard.h"
#include "jsonarena.h"
#include "log.h"
#include "registry.h"

struct intake_job {
	struct cg_app *app;
	struct cg_http_request *req;
	struct cg_store_event *evs;
	size_t n;
	cJSON *answer; /* 202 body */
	size_t held;   /* bytes counted by cg_admission_hold */
	char source_label[160];
	char replay_ns[96], replay_id[256]; /* id-based replay rejection, checked in the store transaction */
	/* Sender's delivery id (SNS MessageId): a redelivery is acknowledged without new events. */
	char source[128];
	char message_id[160];
	int duplicate; /* set by intake_run: 1 replay_id, 2 message_id was already committed */
	/* Mapping and drafting run on a libuv worker thread (intake_work); the loop thread
	 * only parses HTTP, checks auth and answers. */
	uv_work_t work;
	const struct cg_source_config *src; /* valid while gen is referenced */
	struct cg_builder *builder;
	struct cg_intake_gen *gen;
	char subscribe_url[1024];    /* a subscription handshake for the loop to confirm */
	char ignored_reason[128];
	size_t rejected;             /* alerts the builder refused (metric, counted on the loop) */
	int status;                  /* HTTP status when not 202, with msg */
	char msg[768];
};

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void count_request(struct cg_app *app, const char *source_label, int status)
{
	char labels[256];
	snprintf(labels, sizeof(labels), "%s,code=\"%d\"", source_label, status);
	cg_metrics_add(app->metrics, "casegate_http_requests_total", labels, 1);
}

static void respond_json(struct cg_http_request *req, int status, cJSON *body, const struct cg_http_header *extra,
			 size_t nextra)
{
	char *text = body ? cJSON_PrintUnformatted(body) : NULL;
	if (!text) {
		cg_http_respond_error(req, 500, "out of memory");
		return;
	}
	cg_http_respond(req, status, "application/json", text, strlen(text), extra, nextra);
	cJSON_free(text);
}

static void respond_unavailable(struct cg_http_request *req, const char *msg, const char *retry_after)
{
	char body[256];
	snprintf(body, sizeof(body), "{\"errors\":[\"%s\"]}", msg);
	struct cg_http_header h[] = {{"Retry-After", retry_after}};
	cg_http_respond(req, 503, "application/json", body, strlen(body), h, 1);
}

static void intake_job_free(struct intake_job *j)
{
	cg_admission_release(j->app, j->held);
	if (j->evs)
		cg_store_events_free(j->evs, j->n);
	cJSON_Delete(j->answer);
	free(j);
}

static int intake_run(struct cg_store *st, void *ud)
{
	struct intake_job *j = ud;
	j->duplicate = 0; /* a job may run again after its batch rolled back */
	if (j->replay_id[0]) {
		/* Same transaction as the enqueue: a rolled-back store leaves the id unseen, so the
		 * sender's retry is accepted. A repeat adds nothing and is acknowledged (a sender
		 * whose 202 was lost retries with the same id): no error, which would roll back the
		 * other webhooks of the batch. */
		int was = 0;
		int rc = cg_store_seen(st, j->replay_ns, j->replay_id, wall_ms(), &was);
		if (rc)
			return rc;
		if (was) {
			j->duplicate = 1;
			return 0;
		}
	}
	if (j->message_id[0]) {
		/* Same transaction as the enqueue: the id is remembered only if the events commit. */
		int was_seen = 0;
		int rc = cg_store_seen(st, j->source, j->message_id, wall_ms(), &was_seen);
		if (rc)
			return rc;
		if (was_seen) {
			j->duplicate = 2;
			return 0;
		}
	}
	return cg_store_enqueue(st, j->evs, j->n);
}

static void intake_done(int rc, void *ud)
{
	struct intake_job *j = ud;
	struct cg_app *app = j->app;
	if (rc) {
		if (rc == CG_EFULL)
			app->store_full = 1;
		CG_LOG_ERR("could not store %zu event(s): %s", j->n, cg_strerror(rc));
		count_request(app, j->source_label, 503);
		respond_unavailable(j->req, rc == CG_EFULL ? "store full: retry later" : "store unavailable: retry later",
				    "30");
		intake_job_free(j);
		return;
	}
	app->store_full = 0;
	if (j->duplicate) {
		/* The same delivery again (SNS MessageId, webhook-id, or the same signed request):
		 * already accepted, nothing more to do. */
		int by_message = j->duplicate == 2;
		const char *id = by_message ? j->message_id : j->replay_id;
		CG_LOG_EV(CG_LOG_LEVEL_INFO, j->source, NULL, NULL, "client=%s: redelivery of %s %s: already accepted",
			  j->req->remote_addr, by_message ? "message" : "webhook", id);
		count_request(app, j->source_label, 200);
		cg_metrics_add(app->metrics, "casegate_duplicate_deliveries_total", j->source_label, 1);
		cJSON *body = cJSON_CreateObject();
		if (body) {
			cJSON_AddStringToObject(body, "status", "duplicate");
			cJSON_AddStringToObject(body, by_message ? "message_id" : "webhook_id", id);
		}
		respond_json(j->req, 200, body, NULL, 0);
		cJSON_Delete(body);
		intake_job_free(j);
		return;
	}
	for (size_t i = 0; i < j->n; i++)
		CG_LOG_EV(CG_LOG_LEVEL_DEBUG, j->evs[i].source, j->evs[i].dedup_key, NULL, "queued event %" PRId64,
			  j->evs[i].id);
	count_request(app, j->source_label, 202);
	cg_metrics_add(app->metrics, "casegate_events_accepted_total", j->source_label, (double)j->n);
	respond_json(j->req, 202, j->answer, NULL, 0);
	intake_job_free(j);
	/* During shutdown the engine may already be gone (the commit outlived a departed client). */
	if (app->engine && !app->stopping)
		cg_engine_kick(app->engine);
}

static const struct cg_source_config *lookup_source(const struct cg_config *cfg, const char *name, size_t len,
						    size_t *idx)
{
	for (size_t i = 0; i < cfg->nsources; i++) {
		if (strlen(cfg->sources[i].name) == len && memcmp(cfg->sources[i].name, name, len) == 0) {
			*idx = i;
			return &cfg->sources[i];
		}
	}
	return NULL;
}

/*
 * SNS-like subscription handshakes: the mapper found a SubscribeURL to GET. With an sns verify
 * scheme (the signature was verified before mapping) the guard GETs it over HTTPS when its host
 * is allowed and logs the outcome; otherwise it logs the URL for the operator (intake_worked).
 */

/* Maps and drafts the payload; fills j->evs and j->answer. Returns the HTTP status to answer
 * when it is not 202 (with msg), or 0. Runs on a worker thread: no metrics, no loop calls (the
 * caller counts j->rejected and confirms a subscription on the loop). */
static int intake_prepare(const struct cg_source_config *src, struct cg_builder *b, const cJSON *payload,
			  struct intake_job *j, char *msg, size_t msglen)
{
	struct cg_event_list evl, *events = &evl;
	cg_event_list_init(events);
	struct cg_map_opts opts = {.group_by = src->group_by};
	char err[512] = "";
	int status = 0;
	int rc = src->mapper->map(payload, &opts, events, err, sizeof(err));
	if (rc == CG_EINVAL) {
		snprintf(msg, msglen, "%s payload not understood: %s", src->type, err);
		status = 422;
		goto out;
	}
	if (rc) {
		snprintf(msg, msglen, "mapping failed: %s", cg_strerror(rc));
		status = 500;
		goto out;
	}
	if (events->subscribe_url[0]) {
		status = 200; /* the loop confirms it (intake_worked) and writes msg */
		goto out;
	}
	memcpy(j->message_id, events->message_id, sizeof(j->message_id));
	snprintf(j->source, sizeof(j->source), "%s", src->name);
	/* The answer outlives the job's arena (it is sent from the loop): plain malloc. */
	cg_jsonarena_pause();
	j->answer = cJSON_CreateObject();
	cJSON *list = cJSON_CreateArray();
	cJSON *skipped = cJSON_CreateArray();
	if (j->answer && list)
		cJSON_AddItemToObject(j->answer, "events", list);
	else
		cJSON_Delete(list);
	cg_jsonarena_resume();
	if (!j->answer || !list || !skipped) {
		cJSON_Delete(skipped);
		status = 500;
		snprintf(msg, msglen, "out of memory");
		goto out;
	}
	if (events->n == 0) {
		snprintf(msg, msglen, "%.127s", events->ignored_reason[0] ? events->ignored_reason : "no alerts in payload");
		cJSON_Delete(skipped);
		status = 200;
		goto out;
	}
	j->evs = calloc(events->n, sizeof(*j->evs));
	if (!j->evs) {
		cJSON_Delete(skipped);
		status = 500;
		snprintf(msg, msglen, "out of memory");
		goto out;
	}
	int64_t now = wall_ms();
	for (size_t i = 0; i < events->n; i++) {
		struct cg_case_draft d;
		char berr[256] = "";
		rc = cg_builder_build(b, &events->v[i], &d, berr, sizeof(berr));
		if (rc) {
			/* One bad alert in a group must not hold back the others. */
			CG_LOG_EV(CG_LOG_LEVEL_WARN, src->name, NULL, NULL, "alert %zu skipped: %s", i,
				  rc == CG_EINVAL ? berr : cg_strerror(rc));
			j->rejected++;
			cg_jsonarena_pause();
			cJSON_AddItemToArray(skipped, cJSON_CreateString(rc == CG_EINVAL ? berr : cg_strerror(rc)));
			cg_jsonarena_resume();
			continue;
		}
		struct cg_store_event *ev = &j->evs[j->n];
		ev->source = strdup(src->name);
		ev->dedup_key = d.dedup_key;
		d.dedup_key = NULL;
		ev->status = (int)d.status;
		ev->priority = d.priority;
		ev->severity = d.severity;
		d.severity = NULL;
		char *text = cg_engine_event_payload(&d);
		if (text && cg_actions_payload_insights(src, &events->v[i], &text) != 0) {
			cJSON_free(text); /* out of memory: answered 500 below */
			text = NULL;
		}
		/* Printed in the arena; the store job needs it after the arena is gone. */
		ev->payload = text ? strdup(text) : NULL;
		cJSON_free(text);
		ev->received_ms = now;
		ev->next_ms = now;
		cg_jsonarena_pause();
		cJSON *item = cJSON_CreateObject();
		if (item) {
			cJSON_AddStringToObject(item, "dedup_key", ev->dedup_key);
			cJSON_AddStringToObject(item, "status", d.status == CG_STATUS_RESOLVED ? "resolved" : "firing");
			cJSON_AddStringToObject(item, "priority", cg_priority_name(d.priority));
			cJSON_AddItemToArray(list, item);
		}
		cg_jsonarena_resume();
		cg_case_draft_cleanup(&d);
		j->n++;
		if (!ev->source || !ev->payload) {
			status = 500;
			snprintf(msg, msglen, "out of memory");
			cJSON_Delete(skipped);
			goto out;
		}
	}
	cg_jsonarena_pause();
	if (cJSON_GetArraySize(skipped) > 0)
		cJSON_AddItemToObject(j->answer, "skipped", skipped);
	else
		cJSON_Delete(skipped);
	cg_jsonarena_resume();
	if (j->n == 0) {
		char *why = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(j->answer, "skipped"));
		snprintf(msg, msglen, "no alert could be turned into a case: %s", why ? why : "");
		cJSON_free(why);
		status = 422;
		goto out;
	}
	cg_jsonarena_pause();
	cJSON_AddNumberToObject(j->answer, "accepted", (double)j->n);
	if (events->note[0])
		cJSON_AddStringToObject(j->answer, "note", events->note);
	cg_jsonarena_resume();
out:
	memcpy(j->subscribe_url, events->subscribe_url, sizeof(j->subscribe_url));
	memcpy(j->ignored_reason, events->ignored_reason, sizeof(j->ignored_reason));
	cg_event_list_cleanup(events);
	return status;
}

static void hook_accept(struct cg_app *app, struct cg_http_request *req, const struct cg_source_config *src,
			size_t idx, const struct cg_verify_pass *pass);

static void source_label_of(const char *name, char *out, size_t len)
{
	char esc[128];
	cg_metrics_escape(name, esc, sizeof(esc));
	snprintf(out, len, "source=\"%s\"", esc);
}

/* The guard's verdict; may come later (SNS certificate fetch), after a reload: look up again. */
static void hook_checked(struct cg_http_request *req, int status, const char *why, const struct cg_verify_pass *pass,
			 const char *source, void *ud)
{
	struct cg_app *app = ud;
	char source_label[160];
	source_label_of(source, source_label, sizeof(source_label));
	if (status) {
		count_request(app, source_label, status);
		cg_metrics_add(app->metrics, "casegate_auth_failures_total", source_label, 1);
		CG_LOG_EV(CG_LOG_LEVEL_WARN, source, NULL, NULL, "client=%s: %s: %s", req->remote_addr,
			  status == 403 ? "forbidden" : status == 401 ? "unauthorized" : "cannot verify", why);
		char msg[256];
		snprintf(msg, sizeof(msg), "%s: %s",
			 status == 403 ? "forbidden" : status == 401 ? "unauthorized" : "unavailable", why);
		if (status != 401) {
			cg_http_respond_error(req, status, msg);
			return;
		}
		char *body = NULL;
		cJSON *doc = cJSON_CreateObject();
		cJSON *errs = doc ? cJSON_AddArrayToObject(doc, "errors") : NULL;
		if (errs)
			cJSON_AddItemToArray(errs, cJSON_CreateString(msg));
		body = doc ? cJSON_PrintUnformatted(doc) : NULL;
		cJSON_Delete(doc);
		struct cg_http_header h[] = {{"WWW-Authenticate", "Bearer realm=\"casegate\""}};
		if (body)
			cg_http_respond(req, 401, "application/json", body, strlen(body), h, 1);
		else
			cg_http_respond_error(req, 401, "unauthorized");
		cJSON_free(body);
		return;
	}
	size_t idx = 0;
	const struct cg_source_config *src = lookup_source(app->cfg, source, strlen(source), &idx);
	if (!src) {
		count_request(app, "source=\"\"", 404);
		cg_http_respond_error(req, 404, "unknown source");
		return;
	}
	hook_accept(app, req, src, idx, pass);
}

static void handle_hook(struct cg_app *app, struct cg_http_request *req, const char *name, size_t name_len,
			const char *url_token)
{
	size_t idx = 0;
	const struct cg_source_config *src = lookup_source(app->cfg, name, name_len, &idx);
	if (!src) {
		count_request(app, "source=\"\"", 404);
		cg_http_respond_error(req, 404, "unknown source");
		return;
	}
	if (src->type && strcmp(src->type, "email") == 0) {
		/* Mail sources take mail (mail.listen or `casegate mail`), never webhooks. */
		count_request(app, "source=\"\"", 404);
		cg_http_respond_error(req, 404, "unknown source");
		return;
	}
	char source_label[160];
	source_label_of(src->name, source_label, sizeof(source_label));
	if (strcmp(req->method, "POST") != 0) {
		count_request(app, source_label, 405);
		struct cg_http_header h[] = {{"Allow", "POST"}};
		const char *body = "{\"errors\":[\"method not allowed: use POST\"]}";
		cg_http_respond(req, 405, "application/json", body, strlen(body), h, 1);
		return;
	}
	cg_guard_check(app->guard, src, req, url_token, wall_ms(), hook_checked, app);
}

/* Worker thread: parse, map and draft. Touches only the job, its source and builder (kept alive
 * by the job's generation reference) and the request body (kept until the answer). */
static void intake_work(uv_work_t *w)
{
	struct intake_job *j = w->data;
	const struct cg_http_request *req = j->req;
	const char *end = NULL;
	cg_jsonarena_begin();
	cJSON *payload = cJSON_ParseWithLengthOpts(req->body, req->body_len, &end, 0);
	if (!payload) {
		cg_jsonarena_end();
		size_t off = end && end >= req->body ? (size_t)(end - req->body) : 0;
		j->status = 400;
		if (req->body_len == 0)
			snprintf(j->msg, sizeof(j->msg), "empty body: expected a JSON object");
		else
			snprintf(j->msg, sizeof(j->msg), "invalid JSON near byte %zu", off);
		return;
	}
	j->status = intake_prepare(j->src, j->builder, payload, j, j->msg, sizeof(j->msg));
	cJSON_Delete(payload);
	cg_jsonarena_end();
}

/* Loop thread: metrics, subscription confirmation, the answer or the store job. */
static void intake_worked(uv_work_t *w, int wstatus)
{
	struct intake_job *j = w->data;
	struct cg_app *app = j->app;
	struct cg_http_request *req = j->req;
	struct cg_intake_gen *gen = j->gen;
	const struct cg_source_config *src = j->src;
	const char *source_label = j->source_label;
	if (wstatus != 0) { /* cancelled: never done today, but answer so the sender retries */
		j->status = 503;
		snprintf(j->msg, sizeof(j->msg), "shutting down: retry later");
	}
	if (j->rejected)
		cg_metrics_add(app->metrics, "casegate_events_rejected_total", source_label, (double)j->rejected);
	if (j->status == 200 && j->subscribe_url[0]) {
		int started = cg_guard_confirm_subscription(app->guard, src, j->subscribe_url) == 0;
		snprintf(j->msg, sizeof(j->msg), "%s: %s",
			 j->ignored_reason[0] ? j->ignored_reason : "subscription confirmation",
			 started ? "casegate is confirming the SubscribeURL"
				 : "confirm by opening the SubscribeURL (casegate logged it)");
	}
	if (j->status == 200) {
		CG_LOG_EV(CG_LOG_LEVEL_INFO, src->name, NULL, NULL, "ignored: %s", j->msg);
		cg_metrics_add(app->metrics, "casegate_ignored_payloads_total", source_label, 1);
		count_request(app, source_label, 200);
		cJSON *body = cJSON_CreateObject();
		cJSON_AddStringToObject(body, "status", "ignored");
		cJSON_AddStringToObject(body, "reason", j->msg);
		respond_json(req, 200, body, NULL, 0);
		cJSON_Delete(body);
		intake_job_free(j);
	} else if (j->status) {
		count_request(app, source_label, j->status);
		if (j->status == 503) {
			respond_unavailable(req, j->msg, "5");
		} else {
			CG_LOG_EV(CG_LOG_LEVEL_WARN, src->name, NULL, NULL, "client=%s: %d: %s", req->remote_addr,
				  j->status, j->msg);
			cg_http_respond_error(req, j->status, j->msg);
		}
		intake_job_free(j);
	} else if (cg_storeq_submit(app->q, intake_run, intake_done, j) != 0) {
		count_request(app, source_label, 503);
		respond_unavailable(req, "shutting down: retry later", "5");
		intake_job_free(j);
	}
	/* Last: may free a retired configuration (src) or let a pending shutdown go on. */
	cg_app_gen_release(app, gen);
}

/* A case event was queued: the engine reads the case now. */
static void case_event_committed(void *ud)
{
	struct cg_app *app = ud;
	if (app->engine && !app->stopping)
		cg_engine_kick(app->engine);
}

static void hook_accept(struct cg_app *app, struct cg_http_request *req, const struct cg_source_config *src,
			size_t idx, const struct cg_verify_pass *pass)
{
	char source_label[160];
	source_label_of(src->name, source_label, sizeof(source_label));
	if (app->stopping) {
		count_request(app, source_label, 503);
		respond_unavailable(req, "shutting down: retry later", "5");
		return;
	}
	if (cg_admission_check(app, idx, source_label, req) != 0)
		return;
	if (cg_caseevents_is(src)) {
		/* Counted by result in casegate_case_events_total. */
		cg_caseevents_handle(req, src, app->q, app->metrics, case_event_committed, app);
		return;
	}
	struct intake_job *j = calloc(1, sizeof(*j));
	if (!j) {
		count_request(app, source_label, 503);
		respond_unavailable(req, "out of memory: retry later", "1");
		return;
	}
	j->app = app;
	j->req = req;
	j->src = src;
	j->builder = app->builders[idx];
	j->held = req->body_len;
	cg_admission_hold(app, j->held);
	memcpy(j->source_label, source_label, sizeof(source_label));
	if (pass && pass->replay_id[0]) {
		snprintf(j->replay_ns, sizeof(j->replay_ns), CG_SEEN_REPLAY_PREFIX "%s", src->name);
		snprintf(j->replay_id, sizeof(j->replay_id), "%s", pass->replay_id);
	}
	j->work.data = j;
	j->gen = cg_app_gen_acquire(app);
	if (uv_queue_work(app->loop, &j->work, intake_work, intake_worked) != 0) {
		cg_app_gen_release(app, j->gen);
		count_request(app, source_label, 503);
		respond_unavailable(req, "shutting down: retry later", "5");
		intake_job_free(j);
	}
}

static void handle_metrics(struct cg_app *app, struct cg_http_request *req)
{
	cg_metrics_set(app->metrics, "casegate_http_connections", "", (double)cg_http_server_connections(app->http));
	cg_metrics_set(app->metrics, "casegate_inflight_operations", "", (double)cg_engine_inflight(app->engine));
	cg_metrics_set(app->metrics, "casegate_store_jobs_pending", "", (double)cg_storeq_pending(app->q));
	struct cg_storeq_counts sc;
	cg_storeq_counts(app->q, &sc);
	cg_metrics_set(app->metrics, "casegate_store_commits_total", "", (double)sc.commits);
	cg_metrics_set(app->metrics, "casegate_store_committed_jobs_total", "", (double)sc.jobs);
	cg_metrics_set(app->metrics, "casegate_store_busy_seconds_total", "", (double)sc.busy_us / 1e6);
	size_t len = 0;
	char *text = cg_metrics_render(app->metrics, &len);
	if (!text) {
		cg_http_respond_error(req, 500, "out of memory");
		return;
	}
	cg_http_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len, NULL, 0);
	free(text);
}

void cg_app_handle(struct cg_http_request *req, void *ud)
{
	struct cg_app *app = ud;
	const char *p = req->path;
	/* From here on remote_addr is the client (behind trusted proxies), for logs and allowlists. */
	cg_guard_client_addr(app->cfg, req);
	if (strncmp(p, "/hooks/", 7) == 0 && p[7]) {
		const char *name = p + 7;
		size_t len = strcspn(name, "/");
		if (name[len] == '\0' || (name[len] == '/' && name[len + 1] == '\0')) {
			handle_hook(app, req, name, len, NULL);
			return;
		}
		/* /hooks/<name>/<token>[/]: for senders that cannot set headers. The path is never logged. */
		const char *tok = name + len + 1;
		size_t tlen = strcspn(tok, "/");
		if (tlen > 0 && tlen < 512 && (tok[tlen] == '\0' || (tok[tlen] == '/' && tok[tlen + 1] == '\0'))) {
			char token[512];
			memcpy(token, tok, tlen);
			token[tlen] = '\0';
			handle_hook(app, req, name, len, token);
			OPENSSL_cleanse(token, sizeof(token));
			return;
		}
		count_request(app, "source=\"\"", 404);
		cg_http_respond_error(req, 404, "not found");
		return;
	}
	int is_get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
	if (strcmp(p, "/healthz") == 0 && is_get) {
		const char *ok = "{\"status\":\"ok\"}";
		cg_http_respond(req, 200, "application/json", ok, strlen(ok), NULL, 0);
		return;
	}
	if (strcmp(p, "/readyz") == 0 && is_get) {
		const char *why = NULL;
		if (app->stopping)
			why = "shutting down";
		else if (app->store_full)
			why = "store full";
		else if (app->store_down)
			why = "store unavailable";
		else if (app->cfg->store_max_bytes && app->stats.bytes > app->cfg->store_max_bytes)
			why = "store over its size limit";
		/* Webhooks are still taken while Datadog is out (the queue is durable); /readyz says
		 * deliveries are held, unless the caller only asks about intake (?scope=intake, for
		 * load balancers that should keep sending alerts to a casegate whose queue holds). */
		char dd[400], scope[16] = "";
		cg_http_query_get(req, "scope", scope, sizeof(scope));
		if (!why && strcmp(scope, "intake") != 0 && cg_engine_datadog_state(app->engine, dd, sizeof(dd)))
			why = dd;
		if (why) {
			cg_http_respond_error(req, 503, why);
			return;
		}
		const char *ok = "{\"status\":\"ready\"}";
		cg_http_respond(req, 200, "application/json", ok, strlen(ok), NULL, 0);
		return;
	}
	if (strcmp(p, "/metrics") == 0 && is_get) {
		handle_metrics(app, req);
		return;
	}
	cg_http_respond_error(req, 404, "not found");
}
