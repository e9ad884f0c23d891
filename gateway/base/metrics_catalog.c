/* metrics_catalog.c: every metric family casegate exports, with its type and help (the alerting contract). */
#include "metrics.h"

#include <stdio.h>
#include <string.h>

static const struct {
	const char *name;
	enum cg_metric_type type;
	const char *labels; /* the label names (documentation); NULL: none, so the family starts at 0 */
	const char *help;
} catalog[] = {
	/* intake */
	{"casegate_http_requests_total", CG_COUNTER, "source,code", "Webhook requests by source and HTTP status (code)"},
	{"casegate_events_accepted_total", CG_COUNTER, "source", "Events made durable, by source"},
	{"casegate_events_rejected_total", CG_COUNTER, "source", "Alerts of an accepted payload that could not become an event"},
	{"casegate_ignored_payloads_total", CG_COUNTER, "source", "Payloads answered 200 with nothing to do, by source"},
	{"casegate_case_events_total", CG_COUNTER, "source,result",
	 "Datadog case notifications received, by source and result (queued, ignored, invalid)"},
	{"casegate_duplicate_deliveries_total", CG_COUNTER, "source",
	 "Repeats of an accepted delivery (SNS MessageId, webhook-id, same signed request) answered 200, by source"},
	{"casegate_auth_failures_total", CG_COUNTER, "source", "Rejected credentials, by source"},
	{"casegate_overload_rejections_total", CG_COUNTER, "source,reason", "Requests answered 503 because the store queue was full"},
	{"casegate_intake_throttled_total", CG_COUNTER, "source,scope",
	 "Webhook requests answered 429 by the intake rate limit, by source and scope (source, global)"},
	{"casegate_intake_pending_bytes", CG_GAUGE, NULL, "Webhook bytes received and waiting for the store"},
	{"casegate_mail_messages_total", CG_COUNTER, "source,outcome",
	 "E-mail messages by source and outcome (events, comment, duplicate, ignored, tempfail)"},
	{"casegate_mail_ignored_total", CG_COUNTER, "source,reason", "E-mail messages accepted and ignored, by source and reason"},
	{"casegate_http_connections", CG_GAUGE, NULL, "Open intake connections"},
	{"casegate_source_silent", CG_GAUGE, "source",
	 "1 while a source's heartbeat is raised (nothing heard for heartbeat.every + grace), by source"},
	{"casegate_source_last_heard_timestamp_seconds", CG_GAUGE, "source",
	 "When a source with a heartbeat was last heard by any replica (Unix seconds; 0: never), by source"},
	{"casegate_storm_active", CG_GAUGE, "source",
	 "1 while a source's new alerts fold into a storm case (storm: max_new_cases passed), by source"},
	{"casegate_storm_alerts_folded_total", CG_COUNTER, "source",
	 "New alerts folded into a storm case instead of opening their own, by source"},
	/* queue and store */
	{"casegate_queue_depth", CG_GAUGE, NULL, "Events waiting for delivery (including in flight)"},
	{"casegate_queue_depth_by_priority", CG_GAUGE, "priority",
	 "Events waiting for delivery (including in flight), by priority (P1..P5, none)"},
	{"casegate_queue_inflight", CG_GAUGE, NULL, "Events being delivered now"},
	{"casegate_queue_oldest_age_seconds", CG_GAUGE, NULL, "Age of the oldest undelivered event"},
	{"casegate_dead_letters", CG_GAUGE, NULL, "Events in the dead-letter table"},
	{"casegate_cases_tracked", CG_GAUGE, NULL, "Dedup keys with a case record"},
	{"casegate_store_bytes", CG_GAUGE, NULL, "Size of the store: SQLite pages in use plus its WAL; PostgreSQL tables on disk"},
	{"casegate_store_full", CG_GAUGE, NULL, "1 while the last store write failed for lack of space"},
	{"casegate_store_jobs_pending", CG_GAUGE, NULL, "Store jobs queued for the store thread"},
	{"casegate_store_commits_total", CG_COUNTER, NULL, "Store transactions committed (one group commit holds many jobs)"},
	{"casegate_store_committed_jobs_total", CG_COUNTER, NULL,
	 "Store jobs in committed transactions; divided by commits: the mean group-commit batch"},
	{"casegate_store_busy_seconds_total", CG_COUNTER, NULL,
	 "Time the store thread spent running transactions (incl. fsync); near 1 per second: the store is the bottleneck"},
	{"casegate_journal_syncs_total", CG_COUNTER, NULL,
	 "Intake journal appends (one fdatasync each); records divided by syncs: the mean batch"},
	{"casegate_journal_records_total", CG_COUNTER, NULL, "Webhooks appended to the intake journal"},
	{"casegate_journal_appended_bytes_total", CG_COUNTER, NULL, "Record bytes appended to the intake journal"},
	{"casegate_journal_bytes", CG_GAUGE, NULL, "Size of the intake journal's segment files (counts toward store_max_bytes)"},
	{"casegate_journal_unindexed", CG_GAUGE, NULL, "Journaled webhooks not yet applied to the store"},
	{"casegate_journal_stalled", CG_GAUGE, NULL,
	 "1 while a store failure holds the indexer (the webhooks are safe in the journal; it retries every second)"},
	/* delivery */
	{"casegate_events_total", CG_COUNTER, "source,action",
	 "Events applied to cases, by source and action (created, reopened, commented, escalated, deescalated, "
	 "closed, folded, ignored)"},
	{"casegate_deliveries_total", CG_COUNTER, "source,step,outcome", "Case API requests by source, step and outcome (delivered, retry, give_up)"},
	{"casegate_delivery_http_total", CG_COUNTER, "code", "Case API answers by HTTP status (code)"},
	{"casegate_retries_total", CG_COUNTER, "source", "Events scheduled for another attempt, by source"},
	{"casegate_dead_letters_total", CG_COUNTER, "source", "Events moved to the dead-letter table, by source"},
	{"casegate_reconciliations_total", CG_COUNTER, "result", "Unknown create outcomes resolved by searching, by result"},
	{"casegate_rate_limit_waits_total", CG_COUNTER, "bucket",
	 "429 answers that paused outbound requests, by rate-limit bucket"},
	{"casegate_rate_limit_deferred_total", CG_COUNTER, "bucket",
	 "Requests held until their bucket's advertised rate-limit window reset, by bucket"},
	{"casegate_bulk_requests_total", CG_COUNTER, "outcome",
	 "Bulk case updates (closing cases resolved together), by outcome (delivered, retry, refused)"},
	{"casegate_bulk_cases_total", CG_COUNTER, "source", "Cases closed through a bulk update, by source"},
	{"casegate_inflight_operations", CG_GAUGE, NULL, "Events whose case requests are in progress"},
	{"casegate_datadog_circuit_open", CG_GAUGE, "cause",
	 "1 while the Case API circuit holds the queue, by cause (unavailable, credentials)"},
	{"casegate_datadog_circuit_opened_total", CG_COUNTER, "cause", "Times the Case API circuit opened, by cause"},
	{"casegate_datadog_probes_total", CG_COUNTER, "result", "Probe requests while the circuit was open, by result (ok, failed)"},
	{"casegate_datadog_held_operations", CG_GAUGE, NULL, "Operations waiting in memory for the Case API circuit to close"},
	{"casegate_optional_dropped_total", CG_COUNTER, "source,what",
	 "Optional parts of creates and updates that Datadog would not take, by source and what"},
	{"casegate_case_refreshes_total", CG_COUNTER, "source,found", "Cases read back from Datadog before acting on them, by what was found"},
	{"casegate_outbound_latency_seconds", CG_HISTOGRAM, "step", "Case API request latency by step"},
	/* process */
	{"casegate_config_reloads_total", CG_COUNTER, NULL, "Configuration reloads applied"},
	{"casegate_config_reload_failures_total", CG_COUNTER, NULL, "Configuration reloads rejected (old config kept)"},
	{"casegate_config_last_reload_success", CG_GAUGE, NULL, "1 when the last reload (or the start) succeeded, else 0"},
	{"casegate_config_last_reload_timestamp_seconds", CG_GAUGE, NULL, "When the configuration was last (re)loaded"},
	{"casegate_start_time_seconds", CG_GAUGE, NULL, "Process start time (Unix seconds)"},
};

/* Labelled series whose label values are fixed by the code, not by traffic or configuration. */
static const struct {
	const char *name, *labels;
} fixed_zero[] = {
	{"casegate_datadog_circuit_opened_total", "cause=\"unavailable\""},
	{"casegate_datadog_circuit_opened_total", "cause=\"credentials\""},
	{"casegate_datadog_circuit_open", "cause=\"unavailable\""},
	{"casegate_datadog_circuit_open", "cause=\"credentials\""},
	{"casegate_datadog_probes_total", "result=\"ok\""},
	{"casegate_datadog_probes_total", "result=\"failed\""},
	{"casegate_reconciliations_total", "result=\"adopted\""},
	{"casegate_reconciliations_total", "result=\"waiting\""},
	{"casegate_reconciliations_total", "result=\"not_found\""},
	{"casegate_bulk_requests_total", "outcome=\"delivered\""},
	{"casegate_bulk_requests_total", "outcome=\"retry\""},
	{"casegate_bulk_requests_total", "outcome=\"refused\""},
	{"casegate_queue_depth_by_priority", "priority=\"P1\""},
	{"casegate_queue_depth_by_priority", "priority=\"P2\""},
	{"casegate_queue_depth_by_priority", "priority=\"P3\""},
	{"casegate_queue_depth_by_priority", "priority=\"P4\""},
	{"casegate_queue_depth_by_priority", "priority=\"P5\""},
	{"casegate_queue_depth_by_priority", "priority=\"none\""},
};

void cg_metrics_describe_casegate(struct cg_metrics *m)
{
	for (size_t i = 0; i < sizeof(catalog) / sizeof(catalog[0]); i++) {
		cg_metrics_describe(m, catalog[i].name, catalog[i].type, catalog[i].help);
		if (!catalog[i].labels)
			cg_metrics_zero(m, catalog[i].name, "");
	}
	for (size_t i = 0; i < sizeof(fixed_zero) / sizeof(fixed_zero[0]); i++)
		cg_metrics_zero(m, fixed_zero[i].name, fixed_zero[i].labels);
}

/*
 * Per source, only what every source of its kind can count: label values come from the code
 * (actions, outcomes), never from traffic. The HTTP codes are the accepted answer and the two
 * an alert watches (401 bad credentials, 503 overloaded or store unavailable); the delivery
 * steps are the ones an alert's life goes through (create, comment, close), each with the
 * three outcomes. Other codes, steps and bucket names appear when they first happen.
 */
static const char *const per_source[] = {
	"casegate_events_accepted_total", "casegate_events_rejected_total", "casegate_ignored_payloads_total",
	"casegate_duplicate_deliveries_total", "casegate_auth_failures_total",
};
static const char *const per_source_engine[] = {"casegate_retries_total", "casegate_dead_letters_total",
						"casegate_bulk_cases_total"};
static const char *const overload_reasons[] = {"store_full", "store_size", "pending_jobs", "pending_bytes"};
static const char *const throttle_scopes[] = {"source", "global"};
static const char *const http_codes[] = {"202", "401", "503"};
static const char *const actions[] = {"created",    "reopened", "commented", "escalated",
				      "deescalated", "closed",   "folded",    "ignored"};
static const char *const steps[] = {"create", "comment", "close"};
static const char *const outcomes[] = {"delivered", "retry", "give_up"};
static const char *const mail_outcomes[] = {"events", "comment", "duplicate", "ignored", "tempfail"};
static const char *const case_event_results[] = {"queued", "ignored", "invalid"};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static void zero_with(struct cg_metrics *m, const char *name, const char *src, const char *k, const char *v)
{
	char labels[320];
	snprintf(labels, sizeof(labels), "%s,%s=\"%s\"", src, k, v);
	cg_metrics_zero(m, name, labels);
}

void cg_metrics_zero_source(struct cg_metrics *m, const char *source, const char *type)
{
	char esc[128], src[160], labels[320];
	cg_metrics_escape(source, esc, sizeof(esc));
	snprintf(src, sizeof(src), "source=\"%s\"", esc);
	int email = type && strcmp(type, "email") == 0;
	int case_events = type && strcmp(type, "datadog_case_events") == 0;
	if (email) {
		for (size_t i = 0; i < NELEM(mail_outcomes); i++)
			zero_with(m, "casegate_mail_messages_total", src, "outcome", mail_outcomes[i]);
	} else {
		for (size_t i = 0; i < NELEM(per_source); i++)
			cg_metrics_zero(m, per_source[i], src);
		for (size_t i = 0; i < NELEM(http_codes); i++)
			zero_with(m, "casegate_http_requests_total", src, "code", http_codes[i]);
		for (size_t i = 0; i < NELEM(overload_reasons); i++)
			zero_with(m, "casegate_overload_rejections_total", src, "reason", overload_reasons[i]);
		for (size_t i = 0; i < NELEM(throttle_scopes); i++)
			zero_with(m, "casegate_intake_throttled_total", src, "scope", throttle_scopes[i]);
	}
	if (case_events) {
		for (size_t i = 0; i < NELEM(case_event_results); i++)
			zero_with(m, "casegate_case_events_total", src, "result", case_event_results[i]);
		return; /* its notifications queue read-backs counted under the case's own source */
	}
	for (size_t i = 0; i < NELEM(per_source_engine); i++)
		cg_metrics_zero(m, per_source_engine[i], src);
	for (size_t i = 0; i < NELEM(actions); i++)
		zero_with(m, "casegate_events_total", src, "action", actions[i]);
	for (size_t i = 0; i < NELEM(steps); i++)
		for (size_t j = 0; j < NELEM(outcomes); j++) {
			snprintf(labels, sizeof(labels), "%s,step=\"%s\",outcome=\"%s\"", src, steps[i], outcomes[j]);
			cg_metrics_zero(m, "casegate_deliveries_total", labels);
		}
}
