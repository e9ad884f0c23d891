/* webhook.c: /hooks/<source>: a webhook becomes durable events (202 after commit) or a clear error. */
#define CG_LOG_COMPONENT "intake"
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "admission.h"
#include <openssl/crypto.h>

#include "actions.h"
#include "state.h"
#include "accept.h"
#include "caseevents.h"
#include "auth.h"
#include "err.h"
#include "guard.h"
#include "heartbeat.h"
#include "indexer.h"
#include "jsonarena.h"
#include "log.h"
#include "pagingapi.h"
#include "registry.h"
#include "strictjson.h"

struct intake_job {
	struct cg_intake *in;
	struct cg_http_request *req;
	struct cg_intake_put put; /* what the store gets (events, ids, heartbeat, storm rule) */
	struct cg_index_job ix;   /* with a journal: its place in the indexer */
	int answered;             /* with a journal: the 202 went out after the append */
	struct cg_intake_hot hot; /* the source's counters of a 202 (as when the webhook came) */
	cJSON *answer; /* 202 body */
	size_t held;   /* bytes counted by cg_admission_hold */
	char source_label[160];
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
	size_t beats, beats_seen;    /* the source's heartbeat alerts: firing ones, all (they open no case) */
};

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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
	cg_admission_release(j->in, j->held);
	cg_intake_put_cleanup(&j->put);
	cJSON_Delete(j->answer);
	free(j);
}

static int intake_run(struct cg_store *st, void *ud)
{
	struct intake_job *j = ud;
	return cg_intake_put_run(st, &j->put);
}

static void respond_accepted(struct intake_job *j)
{
	struct cg_intake *in = j->in;
	j->answered = 1;
	if (j->hot.answered202 && j->hot.accepted) {
		*j->hot.answered202 += 1;
		*j->hot.accepted += (double)j->put.n;
	} else {
		cg_intake_count(in, j->source_label, 202);
		cg_metrics_add(in->d.metrics, "casegate_events_accepted_total", j->source_label, (double)j->put.n);
	}
	respond_json(j->req, 202, j->answer, NULL, 0);
}

static void respond_duplicate(struct intake_job *j)
{
	/* The same delivery again (SNS MessageId, webhook-id, or the same signed request): already
	 * accepted, nothing more to do. */
	struct cg_intake *in = j->in;
	int by_message = j->put.duplicate == 2;
	const char *id = by_message ? j->put.message_id : j->put.replay_id;
	CG_LOG_EV(CG_LOG_LEVEL_INFO, j->put.source, NULL, NULL, "client=%s: redelivery of %s %s: already accepted",
		  j->req->remote_addr, by_message ? "message" : "webhook", id);
	j->answered = 1;
	cg_intake_count(in, j->source_label, 200);
	cg_metrics_add(in->d.metrics, "casegate_duplicate_deliveries_total", j->source_label, 1);
	cJSON *body = cJSON_CreateObject();
	if (body) {
		cJSON_AddStringToObject(body, "status", "duplicate");
		cJSON_AddStringToObject(body, by_message ? "message_id" : "webhook_id", id);
	}
	respond_json(j->req, 200, body, NULL, 0);
	cJSON_Delete(body);
}

/* The put is in the store (committed): the answer if not given yet, the log, the engine told. */
static void stored(struct intake_job *j)
{
	struct cg_intake *in = j->in;
	in->store_full = 0;
	if (j->put.duplicate) {
		if (!j->answered)
			respond_duplicate(j);
		intake_job_free(j);
		return;
	}
	/* What was stored: the events as mapped, or what storm folding made of them. */
	size_t nstored = 0;
	const struct cg_store_event *st = cg_intake_put_stored(&j->put, &nstored);
	for (size_t i = 0; i < nstored; i++)
		CG_LOG_EV(CG_LOG_LEVEL_DEBUG, st[i].source, st[i].dedup_key, NULL, "queued event %" PRId64, st[i].id);
	cg_storm_counted(in->storm, j->put.source, &j->put.fold);
	if (!j->answered)
		respond_accepted(j);
	intake_job_free(j);
	cg_intake_committed(in);
}

/* The webhook could not be made durable (store or journal, as what says): 503, the job freed. */
static void refuse_durable(struct intake_job *j, int rc, const char *what, const char *full_msg, const char *down_msg)
{
	struct cg_intake *in = j->in;
	if (rc == CG_EFULL)
		in->store_full = 1;
	CG_LOG_ERR("could not %s %zu event(s): %s", what, j->put.n, cg_strerror(rc));
	cg_intake_count(in, j->source_label, 503);
	respond_unavailable(j->req, rc == CG_EFULL ? full_msg : down_msg, "30");
	intake_job_free(j);
}

static void intake_done(int rc, void *ud)
{
	struct intake_job *j = ud;
	if (rc)
		refuse_durable(j, rc, "store", "store full: retry later", "store unavailable: retry later");
	else
		stored(j);
}

/* ---- with the intake journal: 202 once journaled, then indexed into the store ---- */

/* The indexer applied the job's record (rc 0), failed (held for a retry: keep the job), or is
 * gone (the record waits in the journal for the next start). */
static int indexed(struct cg_index_job *ij, int rc)
{
	struct intake_job *j = (struct intake_job *)((char *)ij - offsetof(struct intake_job, ix));
	if (rc == 0) {
		stored(j);
		return 0;
	}
	if (rc == CG_EFULL)
		j->in->store_full = 1;
	/* The record is durable in the journal: acknowledged, whatever the store says now (a
	 * redelivery is then told apart when the record is applied, not in this answer). */
	if (!j->answered)
		respond_accepted(j);
	if (rc == CG_ECLOSED) {
		intake_job_free(j);
		return 0;
	}
	return 1;
}

static void journaled(int rc, uint64_t seq, void *ud)
{
	struct intake_job *j = ud;
	struct cg_intake *in = j->in;
	if (rc) {
		refuse_durable(j, rc, "journal", "disk full: retry later", "journal unavailable: retry later");
		cg_intake_work_end(in);
		return;
	}
	/* Durable now. A delivery with an id waits for the store, where a redelivery is recognised
	 * (200 "duplicate"); every other one is answered at once. */
	if (!j->put.replay_id[0] && !j->put.message_id[0])
		respond_accepted(j);
	j->ix.seq = seq;
	j->ix.put = &j->put;
	j->ix.done = indexed;
	cg_indexer_submit(in->d.indexer, &j->ix);
	/* Last: intake may turn idle, and the daemon's shutdown go on. */
	cg_intake_work_end(in);
}

/* Hands the job to the journal (with one) or the store; nonzero when neither takes it. */
static int intake_store(struct cg_intake *in, struct intake_job *j)
{
	if (!in->d.journalq)
		return cg_storeq_submit(in->d.q, intake_run, intake_done, j);
	void *rec = NULL;
	size_t len = 0;
	int rc = cg_intake_put_encode(&j->put, &rec, &len);
	if (rc)
		return rc;
	cg_intake_work_begin(in);
	rc = cg_journalq_submit(in->d.journalq, rec, len, journaled, j);
	if (rc) {
		/* Not taken: still ours (journal.h). */
		free(rec);
		cg_intake_work_end(in);
	}
	return rc;
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

/* Maps and drafts the payload; fills j->put.evs and j->answer. Returns the HTTP status to answer
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
	int paging = cg_paging_source_api(src) != CG_PAGING_NONE;
	if (rc == CG_EINVAL && paging) {
		snprintf(msg, msglen, "%s", err); /* the API's own words, as its senders know them */
		status = 422;
		goto out;
	}
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
	memcpy(j->put.message_id, events->message_id, sizeof(j->put.message_id));
	snprintf(j->put.source, sizeof(j->put.source), "%s", src->name);
	j->put.accepted_ms = wall_ms();
	cg_storm_rule_of(src, &j->put.storm);
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
	j->put.evs = calloc(events->n, sizeof(*j->put.evs));
	if (!j->put.evs) {
		cJSON_Delete(skipped);
		status = 500;
		snprintf(msg, msglen, "out of memory");
		goto out;
	}
	int64_t now = j->put.accepted_ms;
	for (size_t i = 0; i < events->n; i++) {
		struct cg_case_draft d;
		char berr[512] = "";
		if (cg_heartbeat_is_beat(src, &events->v[i])) {
			/* The source's heartbeat alert (Alertmanager's Watchdog): heard, and no case. */
			j->beats_seen++;
			j->beats += events->v[i].status == CG_STATUS_FIRING;
			continue;
		}
		rc = cg_builder_build(b, &events->v[i], &d, berr, sizeof(berr));
		if (rc) {
			/* One bad alert in a group must not hold back the others. */
			char why[600];
			const char *what = rc == CG_EINVAL ? berr : cg_strerror(rc);
			if (events->n > 1)
				snprintf(why, sizeof(why), "alert %zu: %s", i, what);
			else
				snprintf(why, sizeof(why), "%s", what);
			CG_LOG_EV(CG_LOG_LEVEL_WARN, src->name, NULL, NULL, "alert %zu skipped: %s", i, what);
			j->rejected++;
			cg_jsonarena_pause();
			cJSON_AddItemToArray(skipped, cJSON_CreateString(why));
			cg_jsonarena_resume();
			continue;
		}
		struct cg_store_event *ev = &j->put.evs[j->put.n];
		/* The payload is printed to plain heap memory: the store job needs it after the arena. */
		int arc = cg_accept_event(src, &d, &events->v[i], NULL, now, ev);
		cg_jsonarena_pause();
		cJSON *item = cJSON_CreateObject();
		if (item) {
			cJSON_AddStringToObject(item, "dedup_key", ev->dedup_key);
			cJSON_AddStringToObject(item, "status", d.status == CG_STATUS_RESOLVED  ? "resolved"
								: d.status == CG_STATUS_COMMENT ? "comment"
												: "firing");
			cJSON_AddStringToObject(item, "priority", cg_priority_name(d.priority));
			/* The paging APIs hand the sender's key back (PagerDuty's dedup_key). */
			if (paging && events->v[i].dedup_key)
				cJSON_AddStringToObject(item, "sender_key", events->v[i].dedup_key);
			cJSON_AddItemToArray(list, item);
		}
		cg_jsonarena_resume();
		cg_case_draft_cleanup(&d);
		j->put.n++;
		if (arc) {
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
	if (j->put.n == 0 && j->beats_seen == 0) {
		/* Each alert's reason is one entry of the 422's errors (the sender's fix is in them). */
		const cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j->answer, "skipped"), 0);
		snprintf(msg, msglen, "no alert could be turned into a case: %s",
			 cJSON_IsString(first) ? first->valuestring : "");
		cg_jsonarena_pause();
		cJSON *errs = cJSON_DetachItemFromObjectCaseSensitive(j->answer, "skipped");
		cJSON_Delete(j->answer);
		j->answer = cJSON_CreateObject();
		if (!j->answer || !errs || !cJSON_AddItemToObject(j->answer, "errors", errs)) {
			cJSON_Delete(errs);
			cJSON_Delete(j->answer);
			j->answer = NULL; /* answered with msg alone */
		}
		cg_jsonarena_resume();
		status = 422;
		goto out;
	}
	cg_jsonarena_pause();
	cJSON_AddNumberToObject(j->answer, "accepted", (double)j->put.n);
	if (j->beats_seen)
		cJSON_AddNumberToObject(j->answer, "heartbeats", (double)j->beats_seen);
	if (events->note[0])
		cJSON_AddStringToObject(j->answer, "note", events->note);
	cg_jsonarena_resume();
out:
	memcpy(j->subscribe_url, events->subscribe_url, sizeof(j->subscribe_url));
	memcpy(j->ignored_reason, events->ignored_reason, sizeof(j->ignored_reason));
	cg_event_list_cleanup(events);
	return status;
}

static void hook_accept(struct cg_intake *in, struct cg_http_request *req, const struct cg_source_config *src,
			size_t idx, const struct cg_verify_pass *pass);

static void source_label_of(const char *name, char *out, size_t len)
{
	cg_intake_source_label(name, out, len);
}

/*
 * One answer for every request that may not post to a hook: an unknown source, a mail source,
 * missing or wrong credentials or signatures, a client outside allow_ips. Telling them apart
 * would let anyone list the configured sources (and learn how each is protected); the
 * operator finds the reason in the log (warn).
 */
static void respond_unauthorized(struct cg_intake *in, struct cg_http_request *req, const char *source_label)
{
	static const char body[] = "{\"errors\":[\"unauthorized: unknown source, or missing or invalid credentials "
				   "(casegate's log says which)\"]}";
	cg_intake_count(in, source_label, 401);
	cg_metrics_add(in->d.metrics, "casegate_auth_failures_total", source_label, 1);
	struct cg_http_header h[] = {{"WWW-Authenticate", "Bearer realm=\"casegate\""}};
	cg_http_respond(req, 401, "application/json", body, sizeof(body) - 1, h, 1);
}

/* The guard's verdict; may come later (SNS certificate fetch), after a reload: look up again. */
static void hook_checked(struct cg_http_request *req, int status, const char *why, const struct cg_verify_pass *pass,
			 const char *source, void *ud)
{
	struct cg_intake *in = ud;
	char source_label[160];
	source_label_of(source, source_label, sizeof(source_label));
	if (status == 401 || status == 403) {
		CG_LOG_EV(CG_LOG_LEVEL_WARN, source, NULL, NULL, "client=%s: %s: %s (answered 401)", req->remote_addr,
			  status == 403 ? "forbidden" : "unauthorized", why);
		respond_unauthorized(in, req, source_label);
		return;
	}
	if (status) {
		cg_intake_count(in, source_label, status);
		CG_LOG_EV(CG_LOG_LEVEL_WARN, source, NULL, NULL, "client=%s: cannot verify: %s", req->remote_addr, why);
		char msg[256];
		snprintf(msg, sizeof(msg), "unavailable: %s", why);
		cg_http_respond_error(req, status, msg);
		return;
	}
	size_t idx = 0;
	const struct cg_source_config *src = lookup_source(in->cfg, source, strlen(source), &idx);
	if (!src) {
		CG_LOG_WARN("client=%s: source '%s' went away in a reload while its request was checked (answered 401)",
			    req->remote_addr, source);
		respond_unauthorized(in, req, "source=\"\"");
		return;
	}
	hook_accept(in, req, src, idx, pass);
}

/* The webhook source a request may post to: NULL for unknown names and mail sources (mail
 * sources take mail, through mail.listen or `casegate mail`, never webhooks). */
static const struct cg_source_config *hook_source(const struct cg_config *cfg, const char *name, size_t name_len,
						  size_t *idx)
{
	const struct cg_source_config *src = lookup_source(cfg, name, name_len, idx);
	if (src && src->type && strcmp(src->type, "email") == 0)
		return NULL;
	/* A paging-API source takes its API's paths only (/v2/..., /hooks/<name>/v2/...), where its
	 * key is checked. */
	if (src && cg_paging_source_api(src) != CG_PAGING_NONE)
		return NULL;
	return src;
}

/* NULL when the request's Content-Encoding is absent or identity; else the encoding named. */
static const char *foreign_encoding(const struct cg_http_request *req)
{
	const char *ce = cg_http_header_get(req, "Content-Encoding");
	if (!ce)
		return NULL;
	while (*ce == ' ' || *ce == '\t')
		ce++;
	size_t n = strlen(ce);
	while (n && (ce[n - 1] == ' ' || ce[n - 1] == '\t'))
		n--;
	if (n == 0 || (n == 8 && strncasecmp(ce, "identity", 8) == 0))
		return NULL;
	return ce;
}

static void handle_hook(struct cg_intake *in, struct cg_http_request *req, const char *name, size_t name_len,
			const char *url_token)
{
	size_t idx = 0;
	const struct cg_source_config *src = hook_source(in->cfg, name, name_len, &idx);
	char source_label[160] = "source=\"\"";
	if (src && in->hot && idx < in->cfg->nsources)
		memcpy(source_label, in->hot[idx].label, sizeof(source_label));
	else if (src)
		source_label_of(src->name, source_label, sizeof(source_label));
	/* Answers that do not depend on the source come first, alike for known and unknown names. */
	if (strcmp(req->method, "POST") != 0) {
		cg_intake_count(in, source_label, 405);
		struct cg_http_header h[] = {{"Allow", "POST"}};
		const char *body = "{\"errors\":[\"method not allowed: use POST\"]}";
		cg_http_respond(req, 405, "application/json", body, strlen(body), h, 1);
		return;
	}
	const char *enc = foreign_encoding(req);
	if (enc) {
		/* A compressed body would reach the JSON parser as binary: say so instead. */
		char msg[160];
		snprintf(msg, sizeof(msg), "Content-Encoding '%.40s' is not supported: send the body uncompressed", enc);
		cg_intake_count(in, source_label, 415);
		cg_http_respond_error(req, 415, msg);
		return;
	}
	if (!src) {
		/* As much work as checking a token, so timing does not tell unknown names apart. */
		const char *h = cg_http_header_get(req, "Authorization");
		(void)cg_secret_equal(h ? h : "", h ? strlen(h) : 0, "-", 1);
		CG_LOG_WARN("client=%s: no webhook source named '%.*s' (answered 401)", req->remote_addr,
			    (int)(name_len > 64 ? 64 : name_len), name);
		respond_unauthorized(in, req, source_label);
		return;
	}
	cg_guard_check(in->d.guard, src, req, url_token, wall_ms(), hook_checked, in);
}

/* Worker thread: parse, map and draft. Touches only the job, its source and builder (kept alive
 * by the job's generation reference) and the request body (kept until the answer). */
static void intake_work(uv_work_t *w)
{
	struct intake_job *j = w->data;
	const struct cg_http_request *req = j->req;
	enum cg_paging_api api = cg_paging_source_api(j->src);
	if (req->body_len == 0 && api != CG_PAGING_OG) { /* Opsgenie's close, acknowledge, ... may have none */
		j->status = 400;
		snprintf(j->msg, sizeof(j->msg), "empty body: expected a JSON object");
		return;
	}
	cg_jsonarena_begin();
	/* Every sender's text means one thing: what the JSON parser would resolve silently (or
	 * differently from one mapper to the next) is refused before mapping. */
	cJSON *payload = req->body_len ? cg_strictjson_parse(req->body, req->body_len, &j->status, j->msg, sizeof(j->msg))
				       : cJSON_CreateObject();
	if (!payload) {
		cg_jsonarena_end();
		if (!j->status) {
			j->status = 500;
			snprintf(j->msg, sizeof(j->msg), "out of memory");
		}
		return;
	}
	if (api != CG_PAGING_NONE) {
		/* What the API's mapper reads: PagerDuty's event without its routing_key, or Opsgenie's
		 * action and identifier (from the path) around the body. */
		struct cg_paging_route r;
		if (!cJSON_IsObject(payload)) {
			j->status = 400;
			snprintf(j->msg, sizeof(j->msg), "expected a JSON object");
		} else if (!cg_paging_route(req->method, req->path, req, &r) || r.status) {
			j->status = 404; /* checked on the loop already */
			snprintf(j->msg, sizeof(j->msg), "not found");
		} else if (!(payload = cg_paging_envelope(&r, payload))) {
			j->status = 500;
			snprintf(j->msg, sizeof(j->msg), "out of memory");
		}
		if (j->status) {
			cJSON_Delete(payload);
			cg_jsonarena_end();
			return;
		}
	}
	j->status = intake_prepare(j->src, j->builder, payload, j, j->msg, sizeof(j->msg));
	cJSON_Delete(payload);
	cg_jsonarena_end();
}

/* Loop thread: metrics, subscription confirmation, the answer or the store job. */
static void intake_worked(uv_work_t *w, int wstatus)
{
	struct intake_job *j = w->data;
	struct cg_intake *in = j->in;
	struct cg_http_request *req = j->req;
	struct cg_intake_gen *gen = j->gen;
	const struct cg_source_config *src = j->src;
	const char *source_label = j->source_label;
	if (wstatus != 0) { /* cancelled: never done today, but answer so the sender retries */
		j->status = 503;
		snprintf(j->msg, sizeof(j->msg), "shutting down: retry later");
	}
	if (j->rejected)
		cg_metrics_add(in->d.metrics, "casegate_events_rejected_total", source_label, (double)j->rejected);
	if (j->status == 0)
		j->put.heard_ms = cg_heartbeat_heard(in->hb, src, j->put.n, j->beats, wall_ms());
	if (j->status == 200 && j->subscribe_url[0]) {
		int started = cg_guard_confirm_subscription(in->d.guard, src, j->subscribe_url) == 0;
		snprintf(j->msg, sizeof(j->msg), "%s: %s",
			 j->ignored_reason[0] ? j->ignored_reason : "subscription confirmation",
			 started ? "casegate is confirming the SubscribeURL"
				 : "confirm by opening the SubscribeURL (casegate logged it)");
	}
	if (j->status == 200) {
		CG_LOG_EV(CG_LOG_LEVEL_INFO, src->name, NULL, NULL, "ignored: %s", j->msg);
		cg_metrics_add(in->d.metrics, "casegate_ignored_payloads_total", source_label, 1);
		cg_intake_count(in, source_label, 200);
		cJSON *body = cJSON_CreateObject();
		cJSON_AddStringToObject(body, "status", "ignored");
		cJSON_AddStringToObject(body, "reason", j->msg);
		respond_json(req, 200, body, NULL, 0);
		cJSON_Delete(body);
		intake_job_free(j);
	} else if (j->status) {
		cg_intake_count(in, source_label, j->status);
		if (j->status == 503) {
			respond_unavailable(req, j->msg, "5");
		} else {
			CG_LOG_EV(CG_LOG_LEVEL_WARN, src->name, NULL, NULL, "client=%s: %d: %s", req->remote_addr,
				  j->status, j->msg);
			if (j->status == 422 && cJSON_GetObjectItemCaseSensitive(j->answer, "errors"))
				respond_json(req, 422, j->answer, NULL, 0); /* one error per alert */
			else
				cg_http_respond_error(req, j->status, j->msg);
		}
		intake_job_free(j);
	} else {
		int rc = intake_store(in, j);
		if (rc) {
			cg_intake_count(in, source_label, 503);
			respond_unavailable(req, rc == CG_ECLOSED ? "shutting down: retry later" : "overloaded: retry later",
					    "5");
			intake_job_free(j);
		}
	}
	/* Last: may free a retired configuration (src) or let a pending shutdown go on. */
	cg_intake_gen_release(in, gen);
}

/* A case event was queued: the engine reads the case now. */
static void case_event_committed(void *ud)
{
	cg_intake_committed(ud);
}

static void hook_accept(struct cg_intake *in, struct cg_http_request *req, const struct cg_source_config *src,
			size_t idx, const struct cg_verify_pass *pass)
{
	char source_label[160];
	if (in->hot && idx < in->cfg->nsources && &in->cfg->sources[idx] == src)
		memcpy(source_label, in->hot[idx].label, sizeof(source_label));
	else
		source_label_of(src->name, source_label, sizeof(source_label));
	if (in->stopping) {
		cg_intake_count(in, source_label, 503);
		respond_unavailable(req, "shutting down: retry later", "5");
		return;
	}
	if (cg_admission_check(in, idx, source_label, req) != 0)
		return;
	if (cg_paging_source_api(src) == CG_PAGING_PD && strstr(req->path, "/v2/change/")) {
		/* PagerDuty change events (deploys, config changes) are context, not alerts: answered as
		 * PagerDuty does, counted, and no case is made. */
		CG_LOG_EV(CG_LOG_LEVEL_INFO, src->name, NULL, NULL, "client=%s: change event: no case", req->remote_addr);
		cg_intake_count(in, source_label, 202);
		cg_metrics_add(in->d.metrics, "casegate_ignored_payloads_total", source_label, 1);
		const char *ok = "{\"status\":\"ignored\",\"reason\":\"change event\"}";
		cg_http_respond(req, 202, "application/json", ok, strlen(ok), NULL, 0);
		return;
	}
	if (cg_caseevents_is(src)) {
		/* Counted by result in casegate_case_events_total. */
		cg_caseevents_handle(req, src, in->d.q, in->d.metrics, case_event_committed, in);
		return;
	}
	struct intake_job *j = calloc(1, sizeof(*j));
	if (!j) {
		cg_intake_count(in, source_label, 503);
		respond_unavailable(req, "out of memory: retry later", "1");
		return;
	}
	j->in = in;
	j->req = req;
	j->src = src;
	j->builder = in->builders[idx];
	j->held = req->body_len;
	cg_admission_hold(in, j->held);
	memcpy(j->source_label, source_label, sizeof(source_label));
	if (in->hot && idx < in->cfg->nsources && &in->cfg->sources[idx] == src)
		j->hot = in->hot[idx];
	if (pass && pass->replay_id[0]) {
		snprintf(j->put.replay_ns, sizeof(j->put.replay_ns), CG_SEEN_REPLAY_PREFIX "%s", src->name);
		snprintf(j->put.replay_id, sizeof(j->put.replay_id), "%s", pass->replay_id);
	}
	j->work.data = j;
	j->gen = cg_intake_gen_acquire(in);
	if (uv_queue_work(in->d.loop, &j->work, intake_work, intake_worked) != 0) {
		cg_intake_gen_release(in, j->gen);
		cg_intake_count(in, source_label, 503);
		respond_unavailable(req, "shutting down: retry later", "5");
		intake_job_free(j);
	}
}

enum hook_path { HOOK_NONE, HOOK_OK, HOOK_BAD };

/*
 * /hooks/<name>[/] (HOOK_OK, token "") or /hooks/<name>/<token>[/] (for senders that cannot
 * set headers; HOOK_OK with the token); HOOK_BAD for other paths under /hooks/, HOOK_NONE
 * for the rest. name is a slice of p. The caller wipes token.
 */
static enum hook_path hook_route(const char *p, const char **name, size_t *len, char token[512])
{
	token[0] = '\0';
	if (strncmp(p, "/hooks/", 7) != 0 || !p[7])
		return HOOK_NONE;
	*name = p + 7;
	*len = strcspn(*name, "/");
	const char *rest = *name + *len;
	if (rest[0] == '\0' || (rest[0] == '/' && rest[1] == '\0'))
		return HOOK_OK;
	const char *tok = rest + 1;
	size_t tlen = strcspn(tok, "/");
	if (tlen > 0 && tlen < 512 && (tok[tlen] == '\0' || (tok[tlen] == '/' && tok[tlen + 1] == '\0'))) {
		memcpy(token, tok, tlen);
		token[tlen] = '\0';
		return HOOK_OK;
	}
	return HOOK_BAD;
}

/* A key that selects no source, answered as the API does (status, its words), logged with why
 * and counted like any other authentication failure. */
static void paging_refuse2(struct cg_intake *in, struct cg_http_request *req, int status, const char *words,
			   const char *more, const char *why)
{
	const char *label = "source=\"\"";
	CG_LOG_WARN("client=%s: %s API: %s (answered %d)", req->remote_addr,
		    req->reshape == cg_paging_reshape_og ? "Opsgenie Alert" : "PagerDuty Events", why, status);
	cg_intake_count(in, label, status);
	cg_metrics_add(in->d.metrics, "casegate_auth_failures_total", label, 1);
	cJSON *body = cJSON_CreateObject(), *errs = cJSON_AddArrayToObject(body, "errors");
	cJSON_AddItemToArray(errs, cJSON_CreateString(words));
	if (more)
		cJSON_AddItemToArray(errs, cJSON_CreateString(more));
	respond_json(req, status, body, NULL, 0);
	cJSON_Delete(body);
}

static void paging_refuse(struct cg_intake *in, struct cg_http_request *req, int status, const char *words,
			  const char *why)
{
	paging_refuse2(in, req, status, words, NULL, why);
}

/*
 * A request in a paging API's dialect: its answers are shaped like the API's; the key (PagerDuty's
 * routing_key in the body, Opsgenie's GenieKey header) picks the source, then the source's own
 * checks (allow_ips, auth when given, verify) run as for any hook.
 */
static void handle_paging(struct cg_intake *in, struct cg_http_request *req, const struct cg_paging_route *r)
{
	req->reshape = r->api == CG_PAGING_OG ? cg_paging_reshape_og
		       : r->api == CG_PAGING_NONE ? NULL
						  : cg_paging_reshape_pd;
	const char *label = "source=\"\"";
	if (r->status) {
		cg_intake_count(in, label, r->status);
		if (r->status == 405) {
			struct cg_http_header h[] = {{"Allow", r->api == CG_PAGING_OG ? "POST, PUT, DELETE" : "POST"}};
			char body[256];
			snprintf(body, sizeof(body), "{\"errors\":[\"%s\"]}", r->why);
			cg_http_respond(req, 405, "application/json", body, strlen(body), h, 1);
		} else {
			cg_http_respond_error(req, r->status, r->why);
		}
		return;
	}
	const char *enc = foreign_encoding(req);
	if (enc) {
		char msg[160];
		snprintf(msg, sizeof(msg), "Content-Encoding '%.40s' is not supported: send the body uncompressed", enc);
		cg_intake_count(in, label, 415);
		cg_http_respond_error(req, 415, msg);
		return;
	}
	const char *key = NULL;
	size_t klen = 0;
	cJSON *body = NULL;
	if (r->api == CG_PAGING_OG) {
		key = cg_paging_genie_key(cg_http_header_get(req, "Authorization"), &klen);
		char shape[40];
		if (!key || klen >= sizeof(shape) || (memcpy(shape, key, klen), shape[klen] = '\0', cg_paging_key_shape_og(shape))) {
			/* Opsgenie's answer to a key that cannot be one (no secret compared). */
			OPENSSL_cleanse(shape, sizeof(shape));
			paging_refuse(in, req, 422, CG_PAGING_OG_BAD_KEY, key ? "a GenieKey of the wrong shape" : "no GenieKey");
			return;
		}
		OPENSSL_cleanse(shape, sizeof(shape));
	} else {
		/* The routing key is in the body: read it here (the worker reads the whole event). */
		body = req->body_len ? cJSON_ParseWithLength(req->body, req->body_len) : NULL;
		if (!cJSON_IsObject(body)) {
			cJSON_Delete(body);
			cg_intake_count(in, label, 400);
			cg_http_respond_error(req, 400, req->body_len ? "invalid JSON: expected an event object" : "empty body: expected an event object");
			return;
		}
		const cJSON *rk = cJSON_GetObjectItemCaseSensitive(body, "routing_key");
		int bad = cJSON_IsString(rk) ? cg_paging_key_shape_pd(rk->valuestring) : CG_PAGING_KEY_LENGTH;
		if (bad) {
			/* PagerDuty's own words for a key that cannot be one (no secret compared). */
			cJSON_Delete(body);
			const char *len_words = "Length of 'routing_key' is incorrect (should be 32 characters)";
			const char *chars_words = "'routing_key' cannot contain non-alphanumeric characters.";
			paging_refuse2(in, req, 400, bad & CG_PAGING_KEY_LENGTH ? len_words : chars_words,
				       bad == (CG_PAGING_KEY_LENGTH | CG_PAGING_KEY_CHARS) ? chars_words : NULL,
				       "a routing_key of the wrong shape");
			return;
		}
		key = rk->valuestring;
		klen = strlen(key);
	}
	size_t idx = 0;
	const struct cg_source_config *src = key ? cg_paging_source_for_key(in->cfg, r->api, r->source, r->source_len,
									     key, klen, &idx)
						 : NULL;
	cJSON_Delete(body);
	if (!src) {
		if (r->api == CG_PAGING_OG)
			paging_refuse(in, req, 401, "Could not authenticate", "no source has this GenieKey");
		else
			paging_refuse(in, req, 400, "Invalid routing key", "no source has this routing_key");
		return;
	}
	cg_guard_check(in->d.guard, src, req, NULL, wall_ms(), hook_checked, in);
}

int cg_intake_continue(struct cg_http_request *req, void *ud)
{
	struct cg_intake *in = ud;
	const char *name = NULL;
	size_t len = 0, idx = 0;
	char token[512];
	int ok = 1; /* not a hook (nothing to protect): the server's usual 100 */
	struct cg_paging_route pr;
	if (cg_paging_route(req->method, req->path, NULL, &pr))
		return pr.status == 0; /* the key is in the body, or checked with it */
	enum hook_path hp = hook_route(req->path, &name, &len, token);
	if (hp != HOOK_NONE) {
		const struct cg_source_config *src = hp == HOOK_OK ? hook_source(in->cfg, name, len, &idx) : NULL;
		ok = 0;
		if (src && strcmp(req->method, "POST") == 0 && !foreign_encoding(req)) {
			/* The handler resolves the client address again from the TCP peer. */
			char peer[sizeof(req->remote_addr)], why[192];
			memcpy(peer, req->remote_addr, sizeof(peer));
			cg_guard_client_addr(in->cfg, req);
			ok = cg_guard_check_head(src, req, token[0] ? token : NULL, why, sizeof(why)) == 0;
			memcpy(req->remote_addr, peer, sizeof(peer));
		}
	}
	OPENSSL_cleanse(token, sizeof(token));
	return ok;
}

int cg_intake_handle(struct cg_intake *in, struct cg_http_request *req)
{
	const char *name = NULL;
	size_t len = 0;
	char token[512];
	struct cg_paging_route pr;
	if (cg_paging_route(req->method, req->path, req, &pr)) {
		handle_paging(in, req, &pr);
		return 1;
	}
	switch (hook_route(req->path, &name, &len, token)) {
	case HOOK_OK:
		/* The path (it may hold a token) is never logged. */
		handle_hook(in, req, name, len, token[0] ? token : NULL);
		OPENSSL_cleanse(token, sizeof(token));
		return 1;
	case HOOK_BAD:
		cg_intake_count(in, "source=\"\"", 404);
		cg_http_respond_error(req, 404, "not found");
		return 1;
	case HOOK_NONE:
		break;
	}
	return 0;
}
