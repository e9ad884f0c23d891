/* app.c: wires the daemon together and runs the loop until a stop signal; SIGHUP reloads. */
#define CG_LOG_COMPONENT "app"
#include "app.h"
#include "jsonarena.h"

#include <inttypes.h>
#include <signal.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "log.h"
#include "store_open.h"
#include "reloadnote.h"
#include "pidfile.h"

/* Connections admitted past limits.max_connections, each for one health check. */
#define HEALTH_RESERVED 8
static const char *const health_paths[] = {"/healthz", "/readyz", "/metrics", NULL};

/* Non-fatal config findings (world-readable secrets, unauthenticated public sources): one line each. */
static void log_warnings(const struct cg_config *cfg)
{
	for (const char *p = cfg->warnings; p && *p;) {
		size_t len = strcspn(p, "\n");
		CG_LOG_WARN("%.*s", (int)len, p);
		p += len;
		if (*p)
			p++;
	}
}

static void log_setup(const struct cg_config *cfg)
{
	enum cg_log_level lvl = CG_LOG_LEVEL_INFO;
	if (cfg->log_level)
		cg_log_level_parse(cfg->log_level, &lvl);
	enum cg_log_format fmt = cfg->log_format && strcmp(cfg->log_format, "json") == 0 ? CG_LOG_JSON : CG_LOG_TEXT;
	cg_log_setup(lvl, fmt);
}

/* ---- store statistics, refreshed every second for metrics and admission ---- */

struct stats_job {
	struct cg_app *app;
	struct cg_store_stats st;
};

static int stats_run(struct cg_store *st, void *ud)
{
	struct stats_job *j = ud;
	return cg_store_stats(st, &j->st);
}

static void stats_done(int rc, void *ud)
{
	struct stats_job *j = ud;
	struct cg_app *app = j->app;
	app->stats_busy = 0;
	/* The store answers nothing (database unreachable): /readyz says so until it does. */
	cg_intake_store_stats(app->intake, rc == 0 ? &j->st : NULL, rc != 0 && rc != CG_ENOMEM);
	if (rc == 0) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
		cg_metrics_set(app->metrics, "casegate_queue_depth", "", (double)j->st.pending);
		cg_metrics_set(app->metrics, "casegate_queue_oldest_age_seconds", "",
			       j->st.oldest_ms ? (double)(now - j->st.oldest_ms) / 1000.0 : 0);
		cg_metrics_set(app->metrics, "casegate_dead_letters", "", (double)j->st.dead);
		cg_metrics_set(app->metrics, "casegate_cases_tracked", "", (double)j->st.cases);
		cg_metrics_set(app->metrics, "casegate_store_bytes", "", (double)j->st.bytes);
		cg_metrics_set(app->metrics, "casegate_queue_inflight", "", (double)j->st.inflight);
		static const char *const prio_labels[6] = {"priority=\"none\"", "priority=\"P1\"", "priority=\"P2\"",
							   "priority=\"P3\"", "priority=\"P4\"", "priority=\"P5\""};
		for (int p = 0; p < 6; p++)
			cg_metrics_set(app->metrics, "casegate_queue_depth_by_priority", prio_labels[p],
				       (double)j->st.pending_by_priority[p]);
	}
	cg_metrics_set(app->metrics, "casegate_store_full", "", cg_intake_store_full(app->intake) ? 1 : 0);
	free(j);
}

static void stats_tick(uv_timer_t *t)
{
	struct cg_app *app = t->data;
	if (app->stopping)
		return;
	/* Also picks up work queued by other processes (`casegate dlq retry`). */
	cg_engine_kick(app->engine);
	cg_intake_tick(app->intake);
	if (app->stats_busy)
		return;
	struct stats_job *j = calloc(1, sizeof(*j));
	if (!j)
		return;
	j->app = app;
	app->stats_busy = 1;
	if (cg_storeq_submit(app->q, stats_run, stats_done, j) != 0) {
		app->stats_busy = 0;
		free(j);
	}
}

/* ---- priority aging: the store ranks what it queues on its own thread, so it is set there ---- */

struct aging_job {
	int64_t ms;
};

static int aging_run(struct cg_store *st, void *ud)
{
	st->aging_ms = ((struct aging_job *)ud)->ms;
	return 0;
}

static void aging_done(int rc, void *ud)
{
	(void)rc;
	free(ud);
}

/* priority_aging of a reloaded config, for the events queued after the jobs before it. */
static void aging_set(struct cg_app *app, uint64_t ms)
{
	struct aging_job *j = malloc(sizeof(*j));
	if (j)
		j->ms = (int64_t)ms;
	if (!j || cg_storeq_submit(app->q, aging_run, aging_done, j) != 0) {
		free(j);
		CG_LOG_WARN("reload: the new priority_aging takes effect after a restart (out of memory)");
	}
}

/* ---- heartbeats: every second intake checks the sources' deadlines (a store job, never a wait) ---- */

static void heartbeat_tick(uv_timer_t *t)
{
	struct cg_app *app = t->data;
	if (!app->stopping)
		cg_intake_heartbeat_tick(app->intake);
}

/* ---- wake-ups from other replicas (shared store): kick the engine from the loop thread ---- */

static uv_async_t store_wake;

static void store_wake_cb(uv_async_t *a)
{
	struct cg_app *app = a->data;
	if (!app->stopping)
		cg_engine_kick(app->engine);
}

/* Called on the store's listener thread. */
static void store_wake_send(void *ud)
{
	uv_async_send(ud);
}

/* ---- shutdown: intake first, then the engine, then the store ---- */

static int pending_closes;

static void handle_closed(uv_handle_t *h)
{
	(void)h;
}

static void store_closed(void *ud)
{
	struct cg_app *app = ud;
	cg_store_close(app->store);
	app->store = NULL;
	CG_LOG_INFO("stopped");
}

static void dd_closed(void *ud)
{
	struct cg_app *app = ud;
	cg_engine_destroy(app->engine);
	app->engine = NULL;
	cg_storeq_destroy(app->q, store_closed, app);
}

static void guard_closed(void *ud)
{
	struct cg_app *app = ud;
	app->guard = NULL;
	cg_dd_client_destroy(app->dd, dd_closed, app);
}

static void finish_stop_journaled(struct cg_app *app);

static void journalq_closed(void *ud)
{
	struct cg_app *app = ud;
	app->jq = NULL;
	finish_stop_journaled(app);
}

static void finish_stop(struct cg_app *app)
{
	/* Intake is idle: nothing more is journaled; the queued appends finish first (their
	 * webhooks go to the indexer, whose jobs the store queue finishes before it closes). */
	if (app->jq)
		cg_journalq_destroy(app->jq, journalq_closed, app);
	else
		finish_stop_journaled(app);
}

static void finish_stop_journaled(struct cg_app *app)
{
	/* Intake is closed, so no check waits on the guard any more. */
	if (app->guard)
		cg_guard_destroy(app->guard, guard_closed, app);
	else
		cg_dd_client_destroy(app->dd, dd_closed, app);
}

static void finish_stop_cb(void *ud)
{
	finish_stop(ud);
}

static void maybe_finish_stop(struct cg_app *app)
{
	if (--pending_closes > 0)
		return;
	/* A departed client's webhook may still be mapped on a worker thread: its events go to the
	 * store queue when it is done, so the store must stay open until then. */
	cg_intake_when_idle(app->intake, finish_stop_cb, app);
}

static void http_closed(void *ud)
{
	maybe_finish_stop(ud);
}

static void engine_stopped(void *ud)
{
	maybe_finish_stop(ud);
}

static void app_stop(struct cg_app *app)
{
	if (app->stopping)
		return;
	app->stopping = 1;
	CG_LOG_INFO("stopping: no new requests; finishing requests in flight");
	uv_timer_stop(&app->stats_timer);
	uv_close((uv_handle_t *)&app->stats_timer, handle_closed);
	uv_timer_stop(&app->heartbeat_timer);
	uv_close((uv_handle_t *)&app->heartbeat_timer, handle_closed);
	uv_close((uv_handle_t *)&app->sig_term, handle_closed);
	uv_close((uv_handle_t *)&app->sig_int, handle_closed);
	uv_close((uv_handle_t *)&app->sig_hup, handle_closed);
	/* After watch(NULL) returns the listener no longer touches the handle. */
	cg_store_watch(app->store, NULL, NULL);
	uv_close((uv_handle_t *)&store_wake, handle_closed);
	pending_closes = 3;
	cg_http_server_close(app->http, http_closed, app);
	cg_intake_stop(app->intake, http_closed, app);
	cg_engine_stop(app->engine, engine_stopped, app);
}

/* 0 samples for each configured source (see cg_metrics_zero_source). */
static void zero_sources(struct cg_app *app, const struct cg_config *cfg)
{
	for (size_t i = 0; i < cfg->nsources; i++)
		cg_metrics_zero_source(app->metrics, cfg->sources[i].name, cfg->sources[i].type);
}

static void reload_outcome(struct cg_app *app, int ok)
{
	cg_metrics_add(app->metrics, ok ? "casegate_config_reloads_total" : "casegate_config_reload_failures_total", "", 1);
	cg_metrics_set(app->metrics, "casegate_config_last_reload_success", "", ok ? 1 : 0);
	if (ok)
		cg_metrics_set(app->metrics, "casegate_config_last_reload_timestamp_seconds", "", (double)time(NULL));
}

static void reload_outcome_start(struct cg_app *app)
{
	cg_metrics_set(app->metrics, "casegate_config_last_reload_success", "", 1);
	cg_metrics_set(app->metrics, "casegate_config_last_reload_timestamp_seconds", "", (double)time(NULL));
}

static int str_same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void reload(struct cg_app *app)
{
	struct cg_config *ncfg = NULL;
	char *errs = NULL;
	int rc = cg_config_load(app->config_path, &ncfg, &errs);
	if (rc) {
		/* The environment is the one the daemon started with: a new ${VAR} cannot come by reload. */
		const char *why = errs ? errs : cg_strerror(rc);
		char *text = NULL;
		if (errs && strstr(errs, ": environment variable ") &&
		    (text = malloc(strlen(errs) + 128)) != NULL) {
			snprintf(text, strlen(errs) + 128,
				 "%s\na reload re-reads the config, not the environment: restart casegate with the variable set",
				 errs);
			why = text;
		}
		CG_LOG_ERR("reload rejected, keeping the running configuration:\n%s", why);
		cg_reload_note(app->cfg->state_dir, 0, why);
		free(text);
		free(errs);
		reload_outcome(app, 0);
		return;
	}
	free(errs);
	struct cg_builder **nb = NULL;
	char err[512];
	rc = cg_builders_create(ncfg, &nb, err, sizeof(err));
	if (rc) {
		CG_LOG_ERR("reload rejected, keeping the running configuration: %s", err);
		cg_reload_note(app->cfg->state_dir, 0, err);
		cg_config_free(ncfg);
		reload_outcome(app, 0);
		return;
	}
	if (strcmp(ncfg->state_dir, app->cfg->state_dir) != 0) {
		/* The running store, pid file and reload note stay in the old directory. */
		CG_LOG_WARN("reload: `state_dir` changes take effect after a restart");
		free(ncfg->state_dir);
		ncfg->state_dir = strdup(app->cfg->state_dir);
		if (!ncfg->state_dir) {
			CG_LOG_ERR("reload rejected: out of memory");
			cg_builders_free(nb, ncfg->nsources);
			cg_config_free(ncfg);
			reload_outcome(app, 0);
			return;
		}
	}
	int restart_needed = 0;
	if (ncfg->journal != app->cfg->journal && ncfg->store_backend != CG_STORE_POSTGRES) {
		/* Intake keeps the running journal (or none) until the restart. */
		CG_LOG_WARN("reload: `queue.journal` changes take effect after a restart");
		restart_needed = 1;
	}
	if (strcmp(ncfg->listen_host, app->cfg->listen_host) != 0 || ncfg->listen_port != app->cfg->listen_port) {
		CG_LOG_WARN("reload: `listen` changes take effect after a restart");
		restart_needed = 1;
	}
	if (!ncfg->tls_cert_file != !app->cfg->tls_cert_file ||
	    (ncfg->tls_cert_file && (strcmp(ncfg->tls_cert_file, app->cfg->tls_cert_file) != 0 ||
				     strcmp(ncfg->tls_key_file, app->cfg->tls_key_file) != 0)))
		CG_LOG_WARN("reload: `tls` changes take effect after a restart");
	log_warnings(ncfg);
	/* Keys read again (api_key_file, a rotated secret): requests from now on carry them. */
	if (!str_same(ncfg->dd_api_key, app->cfg->dd_api_key) || !str_same(ncfg->dd_app_key, app->cfg->dd_app_key)) {
		if (cg_dd_client_set_keys(app->dd, ncfg->dd_api_key, ncfg->dd_app_key) != 0)
			CG_LOG_WARN("reload: the new Datadog keys take effect after a restart (too many requests in flight)");
		else
			CG_LOG_INFO("reload: new Datadog keys in use");
	}
	/* Read before intake takes the new configuration: it frees the old one. */
	uint64_t old_aging = app->cfg->priority_aging_ms;
	/* Delivery first: intake may free the old configuration the engine still points at. */
	cg_engine_set_config(app->engine, ncfg);
	int irc = cg_intake_reload(app->intake, ncfg, nb);
	if (irc != 0) {
		CG_LOG_ERR("reload rejected: %s", irc == CG_ENOMEM ? "out of memory" : "a source's heartbeat (see above)");
		cg_engine_set_config(app->engine, app->cfg);
		cg_builders_free(nb, ncfg->nsources);
		cg_config_free(ncfg);
		reload_outcome(app, 0);
		return;
	}
	if (ncfg->priority_aging_ms != old_aging)
		aging_set(app, ncfg->priority_aging_ms);
	app->cfg = ncfg;
	if (app->http && cg_http_server_set_exempt(app->http, ncfg->trusted_proxies, ncfg->ntrusted_proxies) != 0)
		CG_LOG_WARN("reload: out of memory: the per-address limit keeps the old trusted proxies");
	log_setup(ncfg);
	zero_sources(app, ncfg);
	reload_outcome(app, 1);
	CG_LOG_INFO("configuration reloaded: %zu source(s)", ncfg->nsources);
	char note[160];
	snprintf(note, sizeof(note), "%zu source(s)%s", ncfg->nsources,
		 restart_needed ? "; `listen` changes need a restart" : "");
	cg_reload_note(ncfg->state_dir, 1, note);
}

/* Intake stored events: delivery may start now. */
static void events_committed(void *ud)
{
	struct cg_app *app = ud;
	if (app->engine && !app->stopping)
		cg_engine_kick(app->engine);
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct cg_app *app = s->data;
	if (signum == SIGHUP) {
		reload(app);
		return;
	}
	app_stop(app);
}

/*
 * The intake journal of a SQLite store: what it holds past the store's watermark is applied
 * first (also when queue.journal was turned off since: acknowledged webhooks are in it), then
 * it takes new webhooks unless queue.journal is false. 0, or -1 (logged).
 */
static int open_journal(struct cg_app *app, const struct cg_config *cfg)
{
	if (cfg->store_backend == CG_STORE_POSTGRES)
		return 0;
	char dir[4096], err[512] = "";
	snprintf(dir, sizeof(dir), "%s/journal", cfg->state_dir);
	struct stat sb;
	if (!cfg->journal && stat(dir, &sb) != 0)
		return 0;
	uint64_t mark = 0;
	int rc = cg_store_begin(app->store);
	if (!rc) {
		rc = cg_indexer_watermark(app->store, &mark);
		cg_store_rollback(app->store);
	}
	if (rc) {
		CG_LOG_ERR("reading the journal watermark: %s", cg_strerror(rc));
		return -1;
	}
	/* 16 MiB segments: of what counts toward store_max_bytes, at most one segment's worth is
	 * already in the store (indexed, waiting for its segment to be retired). */
	if (cg_journal_open(dir, 16u << 20, mark + 1, &app->journal, err, sizeof(err)) != 0) {
		CG_LOG_ERR("intake journal %s: %s", dir, err);
		return -1;
	}
	size_t n = 0;
	if (cg_indexer_replay(app->store, app->journal, &n, err, sizeof(err)) != 0) {
		CG_LOG_ERR("intake journal %s: %s", dir, err);
		return -1;
	}
	if (n)
		CG_LOG_INFO("applied %zu journaled webhook(s) the store did not have yet", n);
	if (!cfg->journal) {
		cg_journal_close(app->journal);
		app->journal = NULL;
	}
	return 0;
}

int cg_app_run(struct cg_config *cfg, const char *config_path, const char *dd_url)
{
	struct cg_app app_storage, *app = &app_storage;
	memset(app, 0, sizeof(*app));
	uv_loop_t loop;
	struct cg_pidfile *pidf = NULL;
	char err[512] = "";
	int rc = 1;
	/* Before any thread uses cJSON: intake workers build their trees in per-job arenas. */
	cg_jsonarena_install();
	uv_loop_init(&loop);
	app->loop = &loop;
	app->cfg = cfg;
	app->cfg_owned = cfg;
	struct cg_builder **builders = NULL;
	app->config_path = strdup(config_path);
	log_setup(cfg);
	log_warnings(cfg);
	signal(SIGPIPE, SIG_IGN);

	const char *url = dd_url ? dd_url : cfg->dd_url;
	if (!url) {
		CG_LOG_ERR("no Datadog API configured: set datadog.api_key and datadog.app_key (or datadog.url), "
			   "or start with deploy/dev.sh run to use the local simulator");
		goto early_fail;
	}
	if (cg_builders_create(cfg, &builders, err, sizeof(err)) != 0) {
		CG_LOG_ERR("%s", err);
		goto early_fail;
	}
	/* Before the store: opening it requeues what was in flight, which must never happen
	 * under a running daemon. */
	if (cg_pidfile_acquire(cfg->state_dir, &pidf, NULL, err, sizeof(err)) != 0) {
		CG_LOG_ERR("%s", err);
		goto early_fail;
	}
	/* A port taken by another process fails the start before the store is opened (or created,
	 * or migrated): a start that cannot listen leaves the state as it was. */
	if (cg_http_listen_probe(cfg->listen_host, cfg->listen_port, err, sizeof(err)) != 0 ||
	    (cfg->mail.enabled && cfg->mail.listen_host &&
	     cg_http_listen_probe(cfg->mail.listen_host, cfg->mail.listen_port, err, sizeof(err)) != 0)) {
		CG_LOG_ERR("cannot %s", err);
		goto early_fail;
	}
	if (cg_store_open_config(cfg, CG_STORE_OPEN_DAEMON, &app->store, err, sizeof(err)) != 0) {
		if (cfg->store_backend == CG_STORE_POSTGRES)
			CG_LOG_ERR("opening the PostgreSQL store: %s", err);
		else
			CG_LOG_ERR("opening the store in %s: %s", cfg->state_dir, err);
		goto early_fail;
	}
	if (open_journal(app, cfg) != 0)
		goto early_fail;
	if (cg_metrics_create(&app->metrics) != 0 ||
	    cg_storeq_create(&loop, app->store, cfg->group_commit, &app->q) != 0 ||
	    (app->journal && (cg_journalq_create(&loop, app->journal, &app->jq) != 0 ||
			      cg_indexer_create(app->q, app->journal, &app->indexer) != 0))) {
		CG_LOG_ERR("out of memory");
		goto early_fail;
	}
	if (!cfg->group_commit)
		CG_LOG_WARN("queue.group_commit is off: one fsync per store job (slow; for benchmarks)");
	cg_metrics_describe_casegate(app->metrics);
	zero_sources(app, cfg);
	cg_metrics_set(app->metrics, "casegate_start_time_seconds", "", (double)time(NULL));
	reload_outcome_start(app);
	struct cg_dd_opts dopts = {
		.base_url = url,
		.api_key = cfg->dd_api_key,
		.app_key = cfg->dd_app_key,
		.timeout_ms = cfg->dd_timeout_ms,
		.ca_file = cfg->dd_ca_file,
		.proxy = cfg->dd_proxy,
	};
	if (cg_dd_client_create(&loop, &dopts, &app->dd, err, sizeof(err)) != 0) {
		CG_LOG_ERR("Datadog client: %s", err);
		goto early_fail;
	}
	cg_metrics_describe(app->metrics, "casegate_http_requests_total", CG_COUNTER,
			    "Webhook requests by source and HTTP status");
	cg_metrics_describe(app->metrics, "casegate_events_accepted_total", CG_COUNTER,
			    "Events made durable, by source");
	cg_metrics_describe(app->metrics, "casegate_auth_failures_total", CG_COUNTER, "Rejected credentials");
	cg_metrics_describe(app->metrics, "casegate_queue_depth", CG_GAUGE, "Events waiting for delivery");
	cg_metrics_describe(app->metrics, "casegate_queue_oldest_age_seconds", CG_GAUGE,
			    "Age of the oldest undelivered event");
	cg_metrics_describe(app->metrics, "casegate_dead_letters", CG_GAUGE, "Events in the dead-letter table");
	cg_metrics_describe(app->metrics, "casegate_store_bytes", CG_GAUGE, "Size of the store");
	if (cg_engine_create(&loop, app->q, app->dd, app->metrics, cfg, &app->engine) != 0)
		goto early_fail;
	if (cg_guard_create(&loop, cfg, &app->guard) != 0) {
		CG_LOG_ERR("out of memory");
		goto late_fail;
	}
	struct cg_intake_deps ideps = {
		.loop = &loop,
		.q = app->q,
		.metrics = app->metrics,
		.guard = app->guard,
		.journal = app->journal,
		.journalq = app->jq,
		.indexer = app->indexer,
		.committed = events_committed,
		.ud = app,
	};
	if (cg_intake_create(&ideps, cfg, builders, &app->intake) != 0) {
		CG_LOG_ERR("out of memory");
		goto late_fail;
	}
	app->cfg_owned = NULL; /* intake's now */
	builders = NULL;
	if (cfg->tls_cert_file && cg_tls_ctx_create(cfg->tls_cert_file, cfg->tls_key_file, &app->tls, err, sizeof(err)) != 0) {
		CG_LOG_ERR("tls: %s", err);
		goto late_fail;
	}

	struct cg_http_limits lim;
	cg_http_limits_default(&lim);
	if (cfg->max_body)
		lim.max_body = cfg->max_body;
	if (cfg->max_header_bytes)
		lim.max_header_bytes = cfg->max_header_bytes;
	if (cfg->max_connections)
		lim.max_connections = cfg->max_connections;
	if (cfg->header_timeout_ms)
		lim.header_timeout_ms = cfg->header_timeout_ms;
	if (cfg->body_timeout_ms)
		lim.body_timeout_ms = cfg->body_timeout_ms;
	if (cfg->idle_timeout_ms)
		lim.idle_timeout_ms = cfg->idle_timeout_ms;
	lim.max_per_addr = cfg->max_connections_per_address;
	lim.first_byte_timeout_ms = cfg->first_byte_timeout_ms;
	lim.write_timeout_ms = cfg->write_timeout_ms;
	/* Probes keep working while every slot is taken (an idle flood). */
	lim.reserved = HEALTH_RESERVED;
	lim.reserved_paths = health_paths;
	if (cg_http_server_create(&loop, cfg->listen_host, cfg->listen_port, &lim, cg_app_handle, app, &app->http, err,
				  sizeof(err)) != 0) {
		CG_LOG_ERR("cannot %s", err); /* err: "listen on HOST:PORT: reason" */
		goto late_fail;
	}
	if (app->tls)
		cg_http_server_use_tls(app->http, app->tls);
	cg_http_server_set_continue(app->http, cg_app_continue);
	cg_http_server_set_refused(app->http, cg_app_refused);
	/* Reverse proxies carry many clients' connections: the per-address limit is not for them. */
	if (cg_http_server_set_exempt(app->http, cfg->trusted_proxies, cfg->ntrusted_proxies) != 0)
		CG_LOG_WARN("out of memory: limits.max_connections_per_address applies to trusted proxies too");
	if (cg_intake_mail_start(app->intake, err, sizeof(err)) != 0) {
		CG_LOG_ERR("cannot listen for mail on %s:%d: %s", cfg->mail.listen_host, cfg->mail.listen_port, err);
		cg_http_server_close(app->http, NULL, NULL);
		app->http = NULL;
		goto late_fail;
	}
	uv_signal_init(&loop, &app->sig_term);
	uv_signal_init(&loop, &app->sig_int);
	uv_signal_init(&loop, &app->sig_hup);
	app->sig_term.data = app->sig_int.data = app->sig_hup.data = app;
	uv_signal_start(&app->sig_term, on_signal, SIGTERM);
	uv_signal_start(&app->sig_int, on_signal, SIGINT);
	uv_signal_start(&app->sig_hup, on_signal, SIGHUP);
	if (cg_pidfile_publish(pidf) != 0)
		CG_LOG_WARN("cannot write the pid file in %s: `casegate reload` will not find this daemon", cfg->state_dir);
	uv_timer_init(&loop, &app->stats_timer);
	app->stats_timer.data = app;
	uv_timer_start(&app->stats_timer, stats_tick, 0, 1000);
	uv_timer_init(&loop, &app->heartbeat_timer);
	app->heartbeat_timer.data = app;
	uv_timer_start(&app->heartbeat_timer, heartbeat_tick, 0, 1000);
	uv_async_init(&loop, &store_wake, store_wake_cb);
	store_wake.data = app;
	cg_store_watch(app->store, store_wake_send, &store_wake); /* CG_EINVAL: single-process store */

	const char *host = cfg->listen_host;
	int v6 = strchr(host, ':') != NULL;
	CG_LOG_INFO("listening on %s%s%s:%d (%s%zu source(s), Datadog API %s)", v6 ? "[" : "", host, v6 ? "]" : "",
		    cg_http_server_port(app->http), app->tls ? "TLS, " : "", cfg->nsources, url);
	cg_engine_kick(app->engine);
	uv_run(&loop, UV_RUN_DEFAULT);
	rc = 0;
	goto out;

late_fail:
	cg_guard_destroy(app->guard, NULL, NULL);
	app->guard = NULL;
	cg_engine_stop(app->engine, NULL, NULL);
	cg_engine_destroy(app->engine);
	app->engine = NULL;
	cg_dd_client_destroy(app->dd, NULL, NULL);
	app->dd = NULL;
	cg_journalq_destroy(app->jq, NULL, NULL);
	app->jq = NULL;
	cg_storeq_destroy(app->q, NULL, NULL);
	app->q = NULL;
	uv_run(&loop, UV_RUN_DEFAULT);
	goto out;
early_fail:
	if (app->jq || app->q) {
		cg_journalq_destroy(app->jq, NULL, NULL);
		cg_storeq_destroy(app->q, NULL, NULL);
		uv_run(&loop, UV_RUN_DEFAULT);
	}
out:
	/* Records held after a failure stay in the journal: the next start applies them. */
	cg_indexer_destroy(app->indexer);
	cg_store_close(app->store);
	cg_journal_close(app->journal);
	cg_tls_ctx_destroy(app->tls);
	if (uv_loop_close(&loop) != 0)
		CG_LOG_WARN("event loop closed with open handles");
	cg_pidfile_release(pidf);
	cg_intake_destroy(app->intake); /* and the running configuration with it */
	cg_metrics_destroy(app->metrics);
	if (app->cfg_owned) {
		cg_builders_free(builders, app->cfg_owned->nsources);
		cg_config_free(app->cfg_owned);
	}
	free(app->config_path);
	return rc;
}
