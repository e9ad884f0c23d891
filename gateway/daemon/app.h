/* app.h: the running daemon: config, store, engine, HTTP intake, signals, metrics. */
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
#include "lmtp.h"
#include "metrics.h"
#include "store.h"
#include "storeq.h"
#include "tbucket.h"
#include "tls.h"

/* A configuration generation: intake work on worker threads holds a reference so that a reload
 * cannot free the source and builder it reads; the reload retires the old generation and its
 * last reference frees it. */
struct cg_intake_gen {
	struct cg_config *cfg; /* set when retired (owned): freed with the last reference */
	struct cg_builder **builders;
	unsigned refs;
	int retired;
};

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
	struct cg_guard *guard;       /* inbound checks, SNS certificate cache and fetches */
	struct cg_tls_ctx *tls;       /* listener TLS; NULL: plain HTTP */
	struct cg_lmtp_server *mail;  /* the mail listener (mailin.c); NULL without `mail:` */
	uv_signal_t sig_term, sig_int, sig_hup;
	uv_timer_t stats_timer;
	struct cg_store_stats stats;
	int stats_busy;
	int store_full;      /* the last write failed for lack of space */
	int store_down;      /* the last statistics query failed (database unreachable) */
	int stopping;
	int exit_code;
	/* Admission (admission.c). */
	struct cg_tbucket rl_global;
	struct cg_tbucket *rl_sources; /* one per cfg->sources[i] */
	size_t intake_bytes;           /* webhook bytes waiting for the store */
	int probe_busy;                /* a store-space probe is queued */
	/* Intake work on worker threads (intake.c). */
	struct cg_intake_gen *gen; /* the running configuration's generation */
	unsigned intake_working;   /* jobs between uv_queue_work and their completion */
	int stop_waits_for_intake; /* shutdown paused until intake_working is 0 */
};

/* A reference to the running configuration for work off the loop; release on the loop. */
struct cg_intake_gen *cg_app_gen_acquire(struct cg_app *app);
void cg_app_gen_release(struct cg_app *app, struct cg_intake_gen *g);

/* Runs the daemon until SIGTERM/SIGINT. dd_url overrides the config's Datadog URL when set.
 * Returns the process exit code. Takes ownership of cfg. */
int cg_app_run(struct cg_config *cfg, const char *config_path, const char *dd_url);

/* The HTTP handler (intake and admin routes). */
void cg_app_handle(struct cg_http_request *req, void *ud);

/* Whether a webhook waiting for `100 Continue` may send its body: 1 when its head passes the
 * source's allowlist and credentials (cg_http_continue_fn). */
int cg_app_continue(struct cg_http_request *req, void *ud);

#endif
