/* routes.c: the daemon's HTTP routes: /hooks/ go to intake; /healthz, /readyz and /metrics answer here. */
#define CG_LOG_COMPONENT "http"
#include "app.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

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
	if (app->jq) {
		struct cg_journalq_counts jc;
		cg_journalq_counts(app->jq, &jc);
		cg_metrics_set(app->metrics, "casegate_journal_syncs_total", "", (double)jc.batches);
		cg_metrics_set(app->metrics, "casegate_journal_records_total", "", (double)jc.records);
		cg_metrics_set(app->metrics, "casegate_journal_appended_bytes_total", "", (double)jc.bytes);
		cg_metrics_set(app->metrics, "casegate_journal_bytes", "", (double)cg_journal_bytes(app->journal));
		cg_metrics_set(app->metrics, "casegate_journal_unindexed", "", (double)cg_indexer_backlog(app->indexer));
		cg_metrics_set(app->metrics, "casegate_journal_stalled", "", cg_indexer_stalled(app->indexer) ? 1 : 0);
	}
	size_t len = 0;
	char *text = cg_metrics_render(app->metrics, &len);
	if (!text) {
		cg_http_respond_error(req, 500, "out of memory");
		return;
	}
	cg_http_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len, NULL, 0);
	free(text);
}

static void handle_ready(struct cg_app *app, struct cg_http_request *req)
{
	const char *why = app->stopping ? "shutting down" : cg_intake_not_ready(app->intake);
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
}

/* "METHOD /hooks/<source>/..." or "METHOD /first-segment/..." of path, safe to log: control
 * bytes replaced, no query, nothing past the source's name (the rest may hold a token). */
static void safe_route(const char *method, const char *p, char *out, size_t cap)
{
	size_t n = p[0] == '/' ? 1 + strcspn(p + 1, "/?") : strcspn(p, "/?");
	if (strncmp(p, "/hooks/", 7) == 0)
		n = 7 + strcspn(p + 7, "/?");
	int more = p[n] == '/' && p[n + 1] != '\0'; /* a query is left out, not hinted at */
	snprintf(out, cap, "%.10s %.*s%s", method ? method : "?", (int)(n > 80 ? 80 : n), p, more ? "/..." : "");
	for (char *c = out; *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c == 0x7f)
			*c = '?';
}

/* What no route took, logged (at most once a second per kind, with how many were not) and
 * counted: a typo in a hook URL or an oversized alert group must not be invisible. what is
 * already safe to log. */
static void refused(struct cg_app *app, int status, const char *peer, const char *what)
{
	char labels[64];
	snprintf(labels, sizeof(labels), "source=\"\",code=\"%d\"", status);
	cg_metrics_add(app->metrics, "casegate_http_requests_total", labels, 1);
	/* One warning a second per kind: a flood of one kind does not hide another. */
	static const int kinds[] = {400, 404, 405, 413, 431};
	size_t k = 0;
	while (k < sizeof(kinds) / sizeof(kinds[0]) && kinds[k] != status)
		k++;
	uint64_t now = uv_now(app->loop);
	if (app->refused_log_ms[k] && now - app->refused_log_ms[k] < 1000) {
		app->refused_quiet[k]++;
		return;
	}
	if (app->refused_quiet[k])
		CG_LOG_WARN("client=%s: %d %s (and %lu more like it in the last second or so)", peer, status, what,
			    app->refused_quiet[k]);
	else
		CG_LOG_WARN("client=%s: %d %s", peer, status, what);
	app->refused_log_ms[k] = now;
	app->refused_quiet[k] = 0;
}

void cg_app_refused(const struct cg_http_refusal *r, void *ud)
{
	/* "413 request body too large: at most 1048576 bytes: POST /hooks/am (2000000 bytes
	 * declared)": which hook, how big, against which limit. */
	char route[128] = "", what[320];
	if (r->path)
		safe_route(r->method, r->path, route, sizeof(route));
	if (r->size && route[0])
		snprintf(what, sizeof(what), "%s: %s (%" PRIu64 " bytes%s)", r->msg, route, r->size,
			 r->declared ? " declared" : r->status == 413 ? " and more" : " read");
	else if (r->size)
		snprintf(what, sizeof(what), "%s (%" PRIu64 " bytes%s)", r->msg, r->size,
			 r->declared ? " declared" : r->status == 413 ? " and more" : " read");
	else if (route[0])
		snprintf(what, sizeof(what), "%s: %s", r->msg, route);
	else
		snprintf(what, sizeof(what), "%s", r->msg);
	refused(ud, r->status, r->peer, what);
}

/* "METHOD /hooks/<source>/..." or "METHOD /first-segment/..." of a request no route took. */
static void route_of(const struct cg_http_request *req, char *out, size_t cap)
{
	safe_route(req->method, req->path, out, cap);
}

void cg_app_handle(struct cg_http_request *req, void *ud)
{
	struct cg_app *app = ud;
	/* From here on remote_addr is the client (behind trusted proxies), for logs and allowlists. */
	cg_guard_client_addr(app->cfg, req);
	if (cg_intake_handle(app->intake, req))
		return;
	const char *p = req->path;
	int is_get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
	int own = strcmp(p, "/healthz") == 0 || strcmp(p, "/readyz") == 0 || strcmp(p, "/metrics") == 0;
	char what[120];
	if (own && !is_get) {
		static const struct cg_http_header allow[] = {{"Allow", "GET, HEAD"}};
		static const char body[] = "{\"errors\":[\"method not allowed: GET or HEAD\"]}";
		route_of(req, what, sizeof(what));
		refused(app, 405, req->remote_addr, what);
		cg_http_respond(req, 405, "application/json", body, sizeof(body) - 1, allow, 1);
	} else if (strcmp(p, "/healthz") == 0) {
		const char *ok = "{\"status\":\"ok\"}";
		cg_http_respond(req, 200, "application/json", ok, strlen(ok), NULL, 0);
	} else if (strcmp(p, "/readyz") == 0) {
		handle_ready(app, req);
	} else if (strcmp(p, "/metrics") == 0) {
		handle_metrics(app, req);
	} else {
		route_of(req, what, sizeof(what));
		refused(app, 404, req->remote_addr, what);
		cg_http_respond_error(req, 404, "not found");
	}
}

int cg_app_continue(struct cg_http_request *req, void *ud)
{
	struct cg_app *app = ud;
	return cg_intake_continue(req, app->intake);
}
