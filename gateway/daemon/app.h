/* app.h: the running daemon: wires store, delivery and intake together; signals, reload, metrics. */
#ifndef CG_APP_H
#define CG_APP_H

#include <stdint.h>
#include <uv.h>

#include "builder.h"
#include "config.h"
#include "ddclient.h"
#include "engine.h"
#include "guard.h"
#include "http.h"
#include "intake.h"
#include "metrics.h"
#include "store.h"
#include "storeq.h"
#include "tls.h"

/* The daemon: the one owner of every part's instance; nothing below daemon/ sees this struct. */
struct cg_app {
	uv_loop_t *loop;
	const struct cg_config *cfg;  /* the running configuration (owned by intake, see cg_intake_config) */
	struct cg_config *cfg_owned;  /* until intake takes it */
	char *config_path;
	struct cg_store *store;
	struct cg_storeq *q;
	struct cg_journal *journal;   /* the intake journal (SQLite store, queue.journal); NULL without */
	struct cg_journalq *jq;
	struct cg_indexer *indexer;
	struct cg_dd_client *dd;
	struct cg_engine *engine;
	struct cg_intake *intake;
	struct cg_metrics *metrics;
	struct cg_http_server *http;
	struct cg_guard *guard;       /* inbound checks, SNS certificate cache and fetches */
	struct cg_tls_ctx *tls;       /* listener TLS; NULL: plain HTTP */
	uv_signal_t sig_term, sig_int, sig_hup;
	uv_timer_t stats_timer;
	uv_timer_t heartbeat_timer;   /* sources' heartbeat deadlines, checked every second */
	int stats_busy;
	int stopping;
	int exit_code;
	uint64_t refused_log_ms[6];     /* per kind of refusal (routes.c), the last warning: one a second */
	unsigned long refused_quiet[6]; /* refused requests of that kind not logged since */
};

/* Runs the daemon until SIGTERM/SIGINT. dd_url overrides the config's Datadog URL when set.
 * Returns the process exit code. Takes ownership of cfg. */
int cg_app_run(struct cg_config *cfg, const char *config_path, const char *dd_url);

/* The HTTP handler: /hooks/ go to intake; /healthz, /readyz and /metrics are the daemon's. */
void cg_app_handle(struct cg_http_request *req, void *ud);
/* The `100 Continue` check (cg_http_continue_fn; ud is the app): intake's. */
int cg_app_continue(struct cg_http_request *req, void *ud);
/* A request refused before any route saw it (cg_http_refused_fn; ud is the app): logged and
 * counted like the routes' own refusals. */
void cg_app_refused(const struct cg_http_refusal *r, void *ud);

#endif
