/* routes.c: the daemon's HTTP routes: /hooks/ go to intake; /healthz, /readyz and /metrics answer here. */
#include "app.h"

#include <stdlib.h>
#include <string.h>

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

void cg_app_handle(struct cg_http_request *req, void *ud)
{
	struct cg_app *app = ud;
	/* From here on remote_addr is the client (behind trusted proxies), for logs and allowlists. */
	cg_guard_client_addr(app->cfg, req);
	if (cg_intake_handle(app->intake, req))
		return;
	const char *p = req->path;
	int is_get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
	if (strcmp(p, "/healthz") == 0 && is_get) {
		const char *ok = "{\"status\":\"ok\"}";
		cg_http_respond(req, 200, "application/json", ok, strlen(ok), NULL, 0);
	} else if (strcmp(p, "/readyz") == 0 && is_get) {
		handle_ready(app, req);
	} else if (strcmp(p, "/metrics") == 0 && is_get) {
		handle_metrics(app, req);
	} else {
		cg_http_respond_error(req, 404, "not found");
	}
}

int cg_app_continue(struct cg_http_request *req, void *ud)
{
	struct cg_app *app = ud;
	return cg_intake_continue(req, app->intake);
}
