/* config.h: casegate's YAML configuration: parsed, validated, errors as file:line:col. */
#ifndef CG_CONFIG_H
#define CG_CONFIG_H

#include <regex.h>
#include <stddef.h>
#include <stdint.h>

#include "builder.h"
#include "cidr.h"
#include "registry.h"

enum cg_auth_kind { CG_AUTH_UNSET = 0, CG_AUTH_NONE, CG_AUTH_BEARER, CG_AUTH_BASIC };

struct cg_basic_cred {
	char *user;
	char *password; /* secret: wiped on free */
};

struct cg_auth_config {
	enum cg_auth_kind kind;   /* bearer and basic may both be configured: then kind = BEARER and nbasic > 0 */
	char **bearer;            /* secrets; several for rotation */
	size_t nbearer;
	struct cg_basic_cred *basic;
	size_t nbasic;
};

/* A secret as bytes (Standard Webhooks secrets are base64-decoded binary); wiped on free. */
struct cg_secret {
	unsigned char *p;
	size_t len;
};

/* Signature schemes of `verify:` (see verify.h); every configured one must pass. */
enum cg_verify_kind {
	CG_VERIFY_HMAC = 1,   /* generic HMAC-SHA256 over the raw body (optionally "ts:body") */
	CG_VERIFY_SENTRY,     /* Sentry-Hook-Signature: hex HMAC-SHA256(body) */
	CG_VERIFY_PAGERDUTY,  /* X-PagerDuty-Signature: v1=<hex>[,v1=<hex>] */
	CG_VERIFY_STDWH,      /* Standard Webhooks: webhook-id/-timestamp/-signature */
	CG_VERIFY_GRAFANA,    /* X-Grafana-Alerting-Signature (+ X-Grafana-Alerting-Timestamp) */
	CG_VERIFY_SNS,        /* AWS SNS message signature (RSA, certificate fetched over HTTPS) */
};
enum cg_verify_enc { CG_VERIFY_HEX = 0, CG_VERIFY_BASE64 };

struct cg_verify_config {
	enum cg_verify_kind kind;
	struct cg_secret *secrets;    /* several for rotation: any one may match */
	size_t nsecrets;
	/* HMAC family (named schemes get their sender's values). */
	char *header;                 /* signature header */
	enum cg_verify_enc encoding;
	char *prefix;                 /* stripped from the header value ("sha256="); NULL: none */
	char *timestamp_header;       /* NULL: no timestamp */
	char *signed_fmt;             /* signed content: {ts}, {id}, {body}; NULL: the body */
	uint64_t replay_window_ms;    /* |now - timestamp| must stay within; default 5 min */
	/* SNS */
	regex_t *cert_hosts;          /* SigningCertURL host must match one (POSIX ERE) */
	size_t ncert_hosts;
	regex_t *confirm_hosts;       /* SubscribeURL host must match one */
	size_t nconfirm_hosts;
	char *ca_file;                /* trust store for the certificate fetch; NULL: system */
	char *cert_file;              /* tests: use this PEM instead of fetching */
	int confirm;                  /* GET SubscribeURL of a verified SubscriptionConfirmation; default 1 */
	int line;
};

enum cg_on_repeat { CG_REPEAT_DIGEST = 0, CG_REPEAT_COMMENT, CG_REPEAT_IGNORE };
enum cg_on_resolve { CG_RESOLVE_COMMENT_AND_CLOSE = 0, CG_RESOLVE_COMMENT, CG_RESOLVE_CLOSE, CG_RESOLVE_IGNORE };

/*
 * Lifecycle actions (a source's `actions:`). The top-level settings apply to every case; a
 * block under P1..P5 overrides them for cases at that priority (created at it or escalated to it).
 */
struct cg_action_set {
	char *assignee;         /* user UUID: assignee at creation; assigned on escalation to this priority */
	char **watchers;        /* user UUIDs added as watchers of new cases */
	size_t nwatchers;
	int watchers_set;
	uint64_t due_ms;        /* due date = creation / escalation day + this; 0 with due_set: none */
	int due_set;
	cJSON *jira;            /* attributes of POST .../relationships/jira_issues; NULL: none */
	cJSON *servicenow;      /* attributes of POST .../relationships/servicenow_tickets; NULL: none */
	int notebook;           /* 1: create an investigation notebook; -1: explicitly not; 0: unset */
};

/* A templated insight ({type, ref, resource_id}); templates render over the event's context. */
struct cg_insight_tmpl {
	char *type, *ref, *resource_id;
};

enum cg_link_rel { CG_LINK_SUCCESSOR_OF = 0, CG_LINK_RELATES_TO, CG_LINK_NONE };

struct cg_actions_config {
	struct cg_action_set base;
	struct cg_action_set prio[6]; /* [1..5]: P1..P5 overrides */
	int prio_set[6];
	struct cg_insight_tmpl *insights;
	size_t ninsights;
	int insights_set;             /* 1 when given (even empty: no default MONITOR insight) */
	enum cg_link_rel link_previous; /* new case after the reopen window -> previous case */
	uint64_t archive_after_ms;    /* archive cases closed longer than this; 0: never */
	int bulk;                     /* one bulk request for a notification's priority changes (default 0) */
	/* An acknowledgement (PagerDuty's and Opsgenie's acknowledge) of an open case sets this
	 * status: IN_PROGRESS, OPEN or a custom status name. NULL: it is a comment only. */
	char *acknowledge_status;
};

/* A source's heartbeat (dead-man's switch, `heartbeat:`): traffic promised at least every
 * every_ms; after every_ms + grace_ms of silence casegate raises a case for the source. */
struct cg_heartbeat_config {
	uint64_t every_ms;            /* 0: no heartbeat */
	uint64_t grace_ms;            /* default 1 min */
	int prio_idx;                 /* the case's priority: 0..4 for P1..P5 (default P2) */
	int priority;                 /* 1..5, from prio_idx once the mapping is read */
	char *alert;                  /* only firing alerts of this name count (and open no case); NULL: any traffic */
};

/* A source's storm folding (`storm:`): past max_new_cases new cases within per, further new
 * alerts go to one storm case (see gateway/intake/storm.h). */
struct cg_storm_config {
	unsigned max_new_cases;       /* 0: no storm folding */
	uint64_t per_ms;              /* the window new cases are counted in */
	uint64_t digest_ms;           /* one digest comment naming newly folded alerts per this */
};

struct cg_source_config {
	char *name;
	char *type;                   /* mapper name */
	const struct cg_mapper *mapper;
	struct cg_auth_config auth;
	struct cg_verify_config *verify; /* all must pass (after auth); NULL when none */
	size_t nverify;
	struct cg_cidr *allow_ips;    /* client must be in one (403 otherwise); none: any */
	size_t nallow_ips;
	enum cg_group_by group_by;
	/* Case settings (strings owned here; spec.* point into this struct). */
	char *project, *case_type, *title, *description, *dedup_key, *priority_from;
	struct cg_prio_entry *prio_map;
	size_t nprio;
	int prio_default, prio_default_set;
	struct cg_ca_spec *cas;
	size_t ncas;
	struct cg_attr_spec *attrs;
	size_t nattrs;
	int attrs_set;
	/* Lifecycle. */
	enum cg_on_repeat on_repeat;
	uint64_t digest_interval_ms;  /* default 15 min */
	enum cg_on_resolve on_resolve;
	char *status_name;            /* close with this status_name; NULL: status CLOSED */
	char *reopen_status_name;     /* NULL: status OPEN */
	uint64_t reopen_window_ms;    /* default 1 h */
	int raise_priority;           /* default 1 */
	int lower_priority;           /* default 0 */
	/* Intake throttle for this source (rate_limit: { rps, burst }); rl_rps 0 = none. */
	unsigned rl_rps, rl_burst;
	struct cg_actions_config actions;
	int line;                     /* where the source was declared */
	struct cg_heartbeat_config heartbeat; /* `heartbeat:` (dead-man's switch) */
	struct cg_storm_config storm;  /* `storm:` (alert storms folded into one case) */
	struct cg_mail_rules *mail_rules; /* type email: compiled `rules:` (owned); NULL: subject heuristics */
	/* type email: who may comment on this source's cases by replying (fnmatch globs, lowercase);
	 * none given: the rules' alert_senders; neither: nobody. */
	char **reply_senders;
	size_t nreply_senders;
	int reply_to_closed;          /* replies may comment on closed cases; default 0 */
	/* The paging APIs' own credentials (secrets, wiped on free): the routing_key a
	 * pagerduty_events sender puts in its events, the GenieKey an opsgenie_alerts sender sends. */
	char *routing_key;
	char *genie_key;
};

/* E-mail intake (gateway/lmtp.c): one listener, recipients routed to `type: email` sources. */
enum cg_mail_protocol { CG_MAIL_LMTP = 0, CG_MAIL_SMTP = 1 };

struct cg_mail_route {
	char *rcpt;   /* lowercase address, or an fnmatch pattern ("alerts+*@example.com") */
	char *source; /* an email source */
};

struct cg_mail_config {
	int enabled;                  /* mail.listen was given: the daemon runs the listener */
	char *listen_host;
	int listen_port;
	enum cg_mail_protocol protocol;
	uint64_t max_size;            /* message bytes, default 10 MiB (SIZE, 552 past it) */
	unsigned max_recipients;      /* per transaction, default 100 */
	unsigned timeout_ms;          /* inactivity per command or data chunk, default 5 min */
	unsigned max_connections;     /* default 100 */
	unsigned max_per_sender_hour; /* messages per envelope sender per hour; 0 = unlimited; default 120 */
	char *hostname;               /* for the greeting; default "casegate" */
	struct cg_mail_route *routes;
	size_t nroutes;
	size_t max_parts;             /* MIME parts per message, default 1000 (554 / exit 65 past it) */
	/* The authserv-id of the MTA in front of casegate: its topmost Authentication-Results
	 * header decides whether a sender is authenticated (mailtrust.h). NULL: not used. */
	char *authserv_id;
};

/*
 * The whole configuration. Each field is set by one row of a key table (keys.h), declared by
 * the part that reads it; the structs above are filled the same way.
 */
/* A ${VAR} reference left as written (CG_CONFIG_ENV_LENIENT). */
struct cg_config_unset {
	char *where; /* "file:line:col" of the value */
	char *label; /* the value as messages name it ("source 'am': auth.bearer") */
	char *var;   /* the variable's name */
};

struct cg_config {
	char *path;
	char *listen_host;
	int listen_port;
	char *state_dir;
	/* datadog */
	char *dd_url;                 /* resolved base URL (from site or url) */
	char *dd_site;
	char *dd_api_key, *dd_app_key;/* secrets; NULL when unset */
	unsigned dd_timeout_ms;
	char *dd_ca_file, *dd_proxy;
	uint64_t dd_search_settle_ms; /* an unknown create is not "not found" until this after it was sent */
	uint64_t dd_case_refresh_ms;  /* re-read a case from Datadog before acting when older than this */
	char *dd_marker_attr;         /* TEXT custom attribute that carries the marker (when the type has it) */
	unsigned dd_circuit_threshold;/* transport errors / 5xx in a row that open the circuit */
	/* limits */
	size_t max_body;
	size_t max_header_bytes;
	unsigned max_connections;
	unsigned header_timeout_ms, body_timeout_ms, idle_timeout_ms;
	unsigned max_connections_per_address; /* 0: no limit; default 128 (trusted_proxies exempt) */
	unsigned first_byte_timeout_ms;       /* a new connection's first byte; default 3 s */
	unsigned write_timeout_ms;            /* answers not taken for this long close the connection; 30 s */
	/* queue / delivery */
	unsigned max_inflight;        /* concurrent outbound operations; default 16 */
	uint64_t retry_base_ms, retry_cap_ms;
	unsigned max_attempts;        /* 0 = retry forever (transient errors) */
	uint64_t store_max_bytes;     /* 0 = unlimited; intake answers 503 past it */
	unsigned max_pending;         /* store jobs queued in memory before intake answers 503; default 10000 */
	uint64_t max_pending_bytes;   /* bytes of accepted webhooks waiting for the store; default 64 MiB */
	unsigned rl_rps, rl_burst;    /* global intake throttle (rate_limit: { rps, burst }); 0 = none */
	uint64_t priority_aging_ms;   /* claim order: one priority level of waiting (priority_aging); 10 min */
	/* store (`store:` section) */
	enum cg_store_backend { CG_STORE_SQLITE = 0, CG_STORE_POSTGRES } store_backend;
	char *store_dsn;              /* PostgreSQL connection string; secret (may hold a password) */
	char *store_replica;          /* replica name (stable per process slot); NULL: generated */
	uint64_t store_lease_ms;      /* claim lease; 0: max(30 s, 2 x (datadog.timeout + 1 s)) */
	int group_commit;             /* default 1; 0: one transaction (fsync) per store job (benchmarks) */
	int journal;                  /* default 1: the intake journal in front of a SQLite store (queue.journal) */
	/* logging */
	char *log_level, *log_format;
	/* reverse proxy: forwarded client addresses are believed only from these peers */
	struct cg_cidr *trusted_proxies;
	size_t ntrusted_proxies;
	int proxy_header_forwarded;   /* 1: RFC 7239 Forwarded; 0 (default): X-Forwarded-For */
	/* TLS on the listener; NULL: plain HTTP */
	char *tls_cert_file, *tls_key_file;
	struct cg_source_config *sources;
	size_t nsources;
	struct cg_mail_config mail;
	/* Non-fatal findings, one per line "file:line:col: warning: ..." (e.g. the file is
	 * world-readable and holds a secret, a *_file secret is world-readable, auth: none on a
	 * non-loopback listen address); NULL when none. The caller logs each line. */
	char *warnings;
	/* Loaded with CG_CONFIG_ENV_LENIENT: each ${VAR} left as written because VAR is unset. */
	struct cg_config_unset *unset;
	size_t nunset;
};

/*
 * Loads and validates path. On success *out is set and 0 returned. On failure returns
 * CG_EINVAL (or CG_EIO, CG_ENOMEM) and errs receives every error found, one per line,
 * "file:line:col: message"; errs is malloc'd (caller frees) and may be NULL on ENOMEM.
 * ${VAR} is expanded from the environment (an unset variable is an error unless written
 * ${VAR:-default}); keys ending in _file read the secret from that file (trailing newline cut).
 */
int cg_config_load(const char *path, struct cg_config **out, char **errs);

/* cg_config_load with flags: CG_CONFIG_ENV_LENIENT leaves an unset ${VAR} as written (listed in
 * cfg->unset) instead of failing: for commands that need no secret (status, dlq, map, ...). */
#define CG_CONFIG_ENV_LENIENT 1u
int cg_config_load_ex(const char *path, unsigned flags, struct cg_config **out, char **errs);

/* Same over an in-memory document; name is used in messages. */
int cg_config_parse(const char *name, const char *text, size_t len, struct cg_config **out, char **errs);

/* Wipes secrets and frees; accepts NULL. */
void cg_config_free(struct cg_config *c);

const struct cg_source_config *cg_config_source(const struct cg_config *c, const char *name);

/* The email source for a recipient address (routes, else "+name" subaddress naming an email
 * source, else the only email source); NULL when none. */
const struct cg_source_config *cg_config_mail_route(const struct cg_config *c, const char *rcpt);

/* Fills spec from src; spec points into src (valid while src lives). */
void cg_config_case_spec(const struct cg_source_config *src, struct cg_case_spec *spec);

#endif
