/* app.h: the running daemon: config, store, engine, HTTP intake, signals, metrics. */
#ifndef CG_APP_H
#define CG_APP_H

#include <stdint.h>
#include <uv.h>

#include "builder.h"
#include "config.h"
#include "ddclient.h"
#include "engine.h"
#include "http.h"
#include "lmtp.h"
#include "metrics.h"
#include "store.h"
#include "storeq.h"

struct cg_app {
	uv_loop_t *loop;
	struct cg_config *cfg;
	char *config_path;
	struct cg_builder **builders; /* one per cfg->sources[i] */
	struct cg_store *store;
	struct cg_storeq *q;
	struct cg_dd_client *dd;
	struct cg_engine *engine;
	struct cg_metrics *metrics;
	struct cg_http_server *http;
	struct cg_lmtp_server *mail;  /* the mail listener (mailin.c); NULL without `mail:` */
	uv_signal_t sig_term, sig_int, sig_hup;
	uv_timer_t stats_timer;
	struct cg_store_stats stats;
	int stats_busy;
	int store_full;      /* the last write failed for lack of space */
	int stopping;
	int exit_code;
	unsigned max_pending_jobs; /* intake answers 503 past this many queued store jobs */
};

/* Compiles one builder per source; on failure err names the source. */
int cg_app_builders(const struct cg_config *cfg, struct cg_builder ***out, char *err, size_t errlen);
void cg_app_builders_free(struct cg_builder **b, size_t n);

/* Runs the daemon until SIGTERM/SIGINT. dd_url overrides the config's Datadog URL when set.
 * Returns the process exit code. Takes ownership of cfg. */
int cg_app_run(struct cg_config *cfg, const char *config_path, const char *dd_url);

/* The HTTP handler (intake and admin routes). */
void cg_app_handle(struct cg_http_request *req, void *ud);

#endif
