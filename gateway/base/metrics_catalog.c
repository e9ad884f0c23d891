/* metrics_catalog.c: every metric family casegate exports, with its type and help (the alerting contract). */
#include "metrics.h"

static const struct {
	const char *name;
	enum cg_metric_type type;
	const char *help;
} catalog[] = {
	/* intake */
	{"casegate_http_requests_total", CG_COUNTER, "Webhook requests by source and HTTP status (code)"},
	{"casegate_events_accepted_total", CG_COUNTER, "Events made durable, by source"},
	{"casegate_events_rejected_total", CG_COUNTER, "Alerts of an accepted payload that could not become an event"},
	{"casegate_ignored_payloads_total", CG_COUNTER, "Payloads answered 200 with nothing to do, by source"},
	{"casegate_case_events_total", CG_COUNTER,
	 "Datadog case notifications received, by source and result (queued, ignored, invalid)"},
	{"casegate_duplicate_deliveries_total", CG_COUNTER,
	 "Repeats of an accepted delivery (SNS MessageId, webhook-id, same signed request) answered 200, by source"},
	{"casegate_auth_failures_total", CG_COUNTER, "Rejected credentials, by source"},
	{"casegate_overload_rejections_total", CG_COUNTER, "Requests answered 503 because the store queue was full"},
	{"casegate_http_connections", CG_GAUGE, "Open intake connections"},
	/* queue and store */
	{"casegate_queue_depth", CG_GAUGE, "Events waiting for delivery (including in flight)"},
	{"casegate_queue_inflight", CG_GAUGE, "Events being delivered now"},
	{"casegate_queue_oldest_age_seconds", CG_GAUGE, "Age of the oldest undelivered event"},
	{"casegate_dead_letters", CG_GAUGE, "Events in the dead-letter table"},
	{"casegate_cases_tracked", CG_GAUGE, "Dedup keys with a case record"},
	{"casegate_store_bytes", CG_GAUGE, "Size of the store: SQLite pages in use plus its WAL; PostgreSQL tables on disk"},
	{"casegate_store_full", CG_GAUGE, "1 while the last store write failed for lack of space"},
	{"casegate_store_jobs_pending", CG_GAUGE, "Store jobs queued for the store thread"},
	{"casegate_store_commits_total", CG_COUNTER, "Store transactions committed (one group commit holds many jobs)"},
	{"casegate_store_committed_jobs_total", CG_COUNTER,
	 "Store jobs in committed transactions; divided by commits: the mean group-commit batch"},
	{"casegate_store_busy_seconds_total", CG_COUNTER,
	 "Time the store thread spent running transactions (incl. fsync); near 1 per second: the store is the bottleneck"},
	/* delivery */
	{"casegate_events_total", CG_COUNTER,
	 "Events applied to cases, by source and action (created, reopened, commented, escalated, deescalated, "
	 "closed, folded, ignored)"},
	{"casegate_deliveries_total", CG_COUNTER, "Case API requests by source, step and outcome (delivered, retry, give_up)"},
	{"casegate_delivery_http_total", CG_COUNTER, "Case API answers by HTTP status (code)"},
	{"casegate_retries_total", CG_COUNTER, "Events scheduled for another attempt, by source"},
	{"casegate_dead_letters_total", CG_COUNTER, "Events moved to the dead-letter table, by source"},
	{"casegate_reconciliations_total", CG_COUNTER, "Unknown create outcomes resolved by searching, by result"},
	{"casegate_rate_limit_waits_total", CG_COUNTER, "429 answers that paused outbound requests"},
	{"casegate_rate_limit_deferred_total", CG_COUNTER, "Requests held until the advertised rate-limit window reset"},
	{"casegate_inflight_operations", CG_GAUGE, "Events whose case requests are in progress"},
	{"casegate_datadog_circuit_open", CG_GAUGE,
	 "1 while the Case API circuit holds the queue, by cause (unavailable, credentials)"},
	{"casegate_datadog_circuit_opened_total", CG_COUNTER, "Times the Case API circuit opened, by cause"},
	{"casegate_datadog_probes_total", CG_COUNTER, "Probe requests while the circuit was open, by result (ok, failed)"},
	{"casegate_datadog_held_operations", CG_GAUGE, "Operations waiting in memory for the Case API circuit to close"},
	{"casegate_optional_dropped_total", CG_COUNTER,
	 "Optional parts of creates and updates that Datadog would not take, by source and what"},
	{"casegate_case_refreshes_total", CG_COUNTER, "Cases read back from Datadog before acting on them, by what was found"},
	{"casegate_outbound_latency_seconds", CG_HISTOGRAM, "Case API request latency by step"},
	/* process */
	{"casegate_config_reloads_total", CG_COUNTER, "Configuration reloads applied"},
	{"casegate_config_reload_failures_total", CG_COUNTER, "Configuration reloads rejected (old config kept)"},
	{"casegate_config_last_reload_success", CG_GAUGE, "1 when the last reload (or the start) succeeded, else 0"},
	{"casegate_config_last_reload_timestamp_seconds", CG_GAUGE, "When the configuration was last (re)loaded"},
	{"casegate_start_time_seconds", CG_GAUGE, "Process start time (Unix seconds)"},
};

void cg_metrics_describe_casegate(struct cg_metrics *m)
{
	for (size_t i = 0; i < sizeof(catalog) / sizeof(catalog[0]); i++)
		cg_metrics_describe(m, catalog[i].name, catalog[i].type, catalog[i].help);
}
