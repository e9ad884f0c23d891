/* config.c: casegate's YAML configuration: the top-level sections, defaults, freeing and lookups. */

#include "cfgint.h"

#include <ctype.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <yaml.h>

#include "ddclient.h"
#include "err.h"
#include "mailrules.h"

static int is_loopback(const char *host)
{
	return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0;
}

/* ---- sections ---- */

static void parse_datadog(struct cg_cfg *c, yaml_node_t *root, yaml_node_t *n, struct cg_config *cfg)
{
	enum {
		D_SITE,
		D_URL,
		D_API_KEY,
		D_API_KEY_FILE,
		D_APP_KEY,
		D_APP_KEY_FILE,
		D_TIMEOUT,
		D_CA_FILE,
		D_PROXY,
		D_SETTLE,
		D_REFRESH,
		D_MARKER_ATTR,
		D_CIRCUIT,
		D_N
	};
	struct cg_cfg_field f[D_N] = {[D_SITE] = {"site", NULL},
			       [D_URL] = {"url", NULL},
			       [D_API_KEY] = {"api_key", NULL},
			       [D_API_KEY_FILE] = {"api_key_file", NULL},
			       [D_APP_KEY] = {"app_key", NULL},
			       [D_APP_KEY_FILE] = {"app_key_file", NULL},
			       [D_TIMEOUT] = {"timeout", NULL},
			       [D_CA_FILE] = {"ca_file", NULL},
			       [D_PROXY] = {"proxy", NULL},
			       [D_SETTLE] = {"search_settle", NULL},
			       [D_REFRESH] = {"case_refresh", NULL},
			       [D_MARKER_ATTR] = {"marker_attribute", NULL},
			       [D_CIRCUIT] = {"circuit_threshold", NULL}};
	char b[80];
	int bad = 0;

	if (n && cg_cfg_fields(c, n, "datadog", "datadog", f, D_N))
		return;
	if (f[D_SITE].val && cg_cfg_name(c, f[D_SITE].val, "datadog.site", &cfg->dd_site))
		bad = 1;
	if (f[D_URL].val) {
		char *u = NULL;
		if (cg_cfg_name(c, f[D_URL].val, "datadog.url", &u)) {
			bad = 1;
		} else if ((strncmp(u, "http://", 7) != 0 || !u[7]) && (strncmp(u, "https://", 8) != 0 || !u[8])) {
			cg_cfg_err(c, f[D_URL].val, "datadog.url: expected an http:// or https:// URL, got '%s'",
			       cg_cfg_disp(u, b, sizeof(b)));
			free(u);
			bad = 1;
		} else {
			size_t l = strlen(u);
			while (l > 8 && u[l - 1] == '/')
				u[--l] = '\0';
			cfg->dd_url = u;
		}
	}
	if (cg_cfg_secret(c, f[D_API_KEY].val, f[D_API_KEY_FILE].val, "datadog.api_key", "datadog.api_key_file",
		       &cfg->dd_api_key))
		bad = 1;
	if (cg_cfg_secret(c, f[D_APP_KEY].val, f[D_APP_KEY_FILE].val, "datadog.app_key", "datadog.app_key_file",
		       &cfg->dd_app_key))
		bad = 1;
	if (f[D_TIMEOUT].val)
		cg_cfg_duration_u(c, f[D_TIMEOUT].val, "datadog.timeout", 1, CG_MS_HOUR, &cfg->dd_timeout_ms);
	if (f[D_CA_FILE].val)
		cg_cfg_path(c, f[D_CA_FILE].val, "datadog.ca_file", &cfg->dd_ca_file);
	if (f[D_PROXY].val)
		cg_cfg_name(c, f[D_PROXY].val, "datadog.proxy", &cfg->dd_proxy);
	if (f[D_SETTLE].val)
		cg_cfg_duration(c, f[D_SETTLE].val, "datadog.search_settle", 0, CG_MS_HOUR, &cfg->dd_search_settle_ms);
	if (f[D_REFRESH].val)
		cg_cfg_duration(c, f[D_REFRESH].val, "datadog.case_refresh", 0, 24 * CG_MS_HOUR, &cfg->dd_case_refresh_ms);
	if (f[D_MARKER_ATTR].val) {
		char *m = NULL;
		if (!cg_cfg_str(c, f[D_MARKER_ATTR].val, "datadog.marker_attribute", &m)) {
			int ok = strlen(m) < 100;
			for (const char *p = m; *p && ok; p++)
				ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_';
			if (!ok) {
				cg_cfg_err(c, f[D_MARKER_ATTR].val,
				       "datadog.marker_attribute: a custom attribute key (a-z, 0-9, _), or \"\" for none");
				free(m);
			} else {
				free(cfg->dd_marker_attr);
				cfg->dd_marker_attr = *m ? m : NULL; /* "" turns the attribute off */
				if (!*m)
					free(m);
			}
		}
	}
	if (f[D_CIRCUIT].val) {
		uint64_t v;
		if (!cg_cfg_uint(c, f[D_CIRCUIT].val, "datadog.circuit_threshold", 1, 1000, &v))
			cfg->dd_circuit_threshold = (unsigned)v;
	}
	if (bad)
		return;

	if (f[D_SITE].val && f[D_URL].val) {
		cg_cfg_err(c, f[D_URL].val, "datadog: give site or url, not both");
		return;
	}
	if (cfg->dd_url)
		return;
	if (!cfg->dd_site && !(cfg->dd_site = strdup("datadoghq.com"))) {
		c->oom = 1;
		return;
	}
	char url[256];
	yaml_node_t *at = f[D_SITE].val ? f[D_SITE].val : n ? n : root;
	if (cg_dd_site_url(cfg->dd_site, url, sizeof(url)) != 0) {
		cg_cfg_err(c, at,
		       "datadog.site: unknown Datadog site '%s' (e.g. datadoghq.com, us3.datadoghq.com, datadoghq.eu, "
		       "ap1.datadoghq.com, ddog-gov.com)",
		       cg_cfg_disp(cfg->dd_site, b, sizeof(b)));
		return;
	}
	if (!cfg->dd_api_key && !cfg->dd_app_key)
		return; /* No keys, no url: dd_url stays NULL and the run command starts the local simulator. */
	if (!cfg->dd_api_key || !cfg->dd_app_key) {
		cg_cfg_err(c, at, "datadog: %s is set but %s is not: give both (or neither, to use the local simulator)",
		       cfg->dd_api_key ? "api_key" : "app_key", cfg->dd_api_key ? "app_key" : "api_key");
		return;
	}
	if (!(cfg->dd_url = strdup(url)))
		c->oom = 1;
}

static void parse_limits(struct cg_cfg *c, yaml_node_t *n, struct cg_config *cfg)
{
	enum {
		L_MAX_BODY, L_MAX_HEADER_BYTES, L_MAX_CONNECTIONS, L_HEADER_TIMEOUT, L_BODY_TIMEOUT, L_IDLE_TIMEOUT,
		L_PER_ADDRESS, L_FIRST_BYTE_TIMEOUT, L_WRITE_TIMEOUT, L_N
	};
	struct cg_cfg_field f[L_N] = {[L_MAX_BODY] = {"max_body", NULL},
			       [L_MAX_HEADER_BYTES] = {"max_header_bytes", NULL},
			       [L_MAX_CONNECTIONS] = {"max_connections", NULL},
			       [L_HEADER_TIMEOUT] = {"header_timeout", NULL},
			       [L_BODY_TIMEOUT] = {"body_timeout", NULL},
			       [L_IDLE_TIMEOUT] = {"idle_timeout", NULL},
			       [L_PER_ADDRESS] = {"max_connections_per_address", NULL},
			       [L_FIRST_BYTE_TIMEOUT] = {"first_byte_timeout", NULL},
			       [L_WRITE_TIMEOUT] = {"write_timeout", NULL}};
	uint64_t v;

	if (cg_cfg_fields(c, n, "limits", "limits", f, L_N))
		return;
	if (f[L_MAX_BODY].val && !cg_cfg_size(c, f[L_MAX_BODY].val, "limits.max_body", 1, 1024ULL * 1024 * 1024, &v))
		cfg->max_body = (size_t)v;
	if (f[L_MAX_HEADER_BYTES].val &&
	    !cg_cfg_size(c, f[L_MAX_HEADER_BYTES].val, "limits.max_header_bytes", 1024, 1024 * 1024, &v))
		cfg->max_header_bytes = (size_t)v;
	if (f[L_MAX_CONNECTIONS].val &&
	    !cg_cfg_uint(c, f[L_MAX_CONNECTIONS].val, "limits.max_connections", 1, 1000000, &v))
		cfg->max_connections = (unsigned)v;
	if (f[L_HEADER_TIMEOUT].val)
		cg_cfg_duration_u(c, f[L_HEADER_TIMEOUT].val, "limits.header_timeout", 1, CG_MS_HOUR, &cfg->header_timeout_ms);
	if (f[L_BODY_TIMEOUT].val)
		cg_cfg_duration_u(c, f[L_BODY_TIMEOUT].val, "limits.body_timeout", 1, CG_MS_HOUR, &cfg->body_timeout_ms);
	if (f[L_IDLE_TIMEOUT].val)
		cg_cfg_duration_u(c, f[L_IDLE_TIMEOUT].val, "limits.idle_timeout", 1, CG_MS_DAY, &cfg->idle_timeout_ms);
	if (f[L_PER_ADDRESS].val &&
	    !cg_cfg_uint(c, f[L_PER_ADDRESS].val, "limits.max_connections_per_address", 0, 1000000, &v))
		cfg->max_connections_per_address = (unsigned)v;
	if (f[L_FIRST_BYTE_TIMEOUT].val)
		cg_cfg_duration_u(c, f[L_FIRST_BYTE_TIMEOUT].val, "limits.first_byte_timeout", 1, CG_MS_HOUR,
			       &cfg->first_byte_timeout_ms);
	if (f[L_WRITE_TIMEOUT].val)
		cg_cfg_duration_u(c, f[L_WRITE_TIMEOUT].val, "limits.write_timeout", 1, CG_MS_DAY, &cfg->write_timeout_ms);
}

/* rate_limit: { rps: N, burst: M } (top level: all sources together; in a source: that source). */
void cg_cfg_parse_rate_limit(struct cg_cfg *c, yaml_node_t *n, const char *label, unsigned *rps, unsigned *burst)
{
	enum { R_RPS, R_BURST, R_N };
	struct cg_cfg_field f[R_N] = {[R_RPS] = {"rps", NULL}, [R_BURST] = {"burst", NULL}};
	char lb[256];
	uint64_t v;

	if (cg_cfg_fields(c, n, label, label, f, R_N))
		return;
	if (!f[R_RPS].val) {
		cg_cfg_err(c, n, "%s: rps is required (webhooks per second)", label);
		return;
	}
	snprintf(lb, sizeof(lb), "%s.rps", label);
	if (!cg_cfg_uint(c, f[R_RPS].val, lb, 1, 1000000, &v))
		*rps = (unsigned)v;
	snprintf(lb, sizeof(lb), "%s.burst", label);
	if (f[R_BURST].val && !cg_cfg_uint(c, f[R_BURST].val, lb, 1, 10000000, &v))
		*burst = (unsigned)v;
}

static void parse_queue(struct cg_cfg *c, yaml_node_t *n, struct cg_config *cfg)
{
	enum {
		Q_MAX_INFLIGHT, Q_RETRY_BASE, Q_RETRY_CAP, Q_MAX_ATTEMPTS, Q_STORE_MAX_BYTES, Q_GROUP_COMMIT, Q_MAX_PENDING,
		Q_MAX_PENDING_BYTES, Q_N
	};
	struct cg_cfg_field f[Q_N] = {[Q_MAX_INFLIGHT] = {"max_inflight", NULL},
			       [Q_RETRY_BASE] = {"retry_base", NULL},
			       [Q_RETRY_CAP] = {"retry_cap", NULL},
			       [Q_MAX_ATTEMPTS] = {"max_attempts", NULL},
			       [Q_STORE_MAX_BYTES] = {"store_max_bytes", NULL},
			       [Q_GROUP_COMMIT] = {"group_commit", NULL},
			       [Q_MAX_PENDING] = {"max_pending", NULL},
			       [Q_MAX_PENDING_BYTES] = {"max_pending_bytes", NULL}};
	uint64_t v;
	int ok = 1;

	if (cg_cfg_fields(c, n, "queue", "queue", f, Q_N))
		return;
	if (f[Q_MAX_INFLIGHT].val && !cg_cfg_uint(c, f[Q_MAX_INFLIGHT].val, "queue.max_inflight", 1, 1024, &v))
		cfg->max_inflight = (unsigned)v;
	if (f[Q_RETRY_BASE].val && cg_cfg_duration(c, f[Q_RETRY_BASE].val, "queue.retry_base", 1, CG_MS_HOUR, &cfg->retry_base_ms))
		ok = 0;
	if (f[Q_RETRY_CAP].val &&
	    cg_cfg_duration(c, f[Q_RETRY_CAP].val, "queue.retry_cap", 1, 7 * CG_MS_DAY, &cfg->retry_cap_ms))
		ok = 0;
	if (f[Q_MAX_ATTEMPTS].val && !cg_cfg_uint(c, f[Q_MAX_ATTEMPTS].val, "queue.max_attempts", 0, 1000000, &v))
		cfg->max_attempts = (unsigned)v;
	if (f[Q_STORE_MAX_BYTES].val)
		cg_cfg_size(c, f[Q_STORE_MAX_BYTES].val, "queue.store_max_bytes", 0, UINT64_MAX, &cfg->store_max_bytes);
	if (f[Q_GROUP_COMMIT].val)
		cg_cfg_bool(c, f[Q_GROUP_COMMIT].val, "queue.group_commit", &cfg->group_commit);
	if (f[Q_MAX_PENDING].val && !cg_cfg_uint(c, f[Q_MAX_PENDING].val, "queue.max_pending", 1, 10000000, &v))
		cfg->max_pending = (unsigned)v;
	if (f[Q_MAX_PENDING_BYTES].val)
		cg_cfg_size(c, f[Q_MAX_PENDING_BYTES].val, "queue.max_pending_bytes", 64 * 1024, 1ULL << 40,
			 &cfg->max_pending_bytes);
	if (ok && cfg->retry_base_ms > cfg->retry_cap_ms)
		cg_cfg_err(c, f[Q_RETRY_CAP].val ? f[Q_RETRY_CAP].val : f[Q_RETRY_BASE].val ? f[Q_RETRY_BASE].val : n,
		       "queue: retry_base must not exceed retry_cap");
}

/* store: { backend: sqlite|postgres, dsn | dsn_file, replica, lease } */
static void parse_store(struct cg_cfg *c, yaml_node_t *n, struct cg_config *cfg)
{
	enum { S_BACKEND, S_DSN, S_DSN_FILE, S_REPLICA, S_LEASE, S_N };
	struct cg_cfg_field f[S_N] = {[S_BACKEND] = {"backend", NULL},
			       [S_DSN] = {"dsn", NULL},
			       [S_DSN_FILE] = {"dsn_file", NULL},
			       [S_REPLICA] = {"replica", NULL},
			       [S_LEASE] = {"lease", NULL}};
	static const char *const backends[] = {"sqlite", "postgres", NULL};
	int e;

	if (cg_cfg_fields(c, n, "store", "store", f, S_N))
		return;
	if (f[S_BACKEND].val && !cg_cfg_enum(c, f[S_BACKEND].val, "store.backend", backends, &e))
		cfg->store_backend = e == 1 ? CG_STORE_POSTGRES : CG_STORE_SQLITE;
	if (cg_cfg_secret(c, f[S_DSN].val, f[S_DSN_FILE].val, "store.dsn", "store.dsn_file", &cfg->store_dsn))
		return;
	if (f[S_REPLICA].val)
		cg_cfg_name(c, f[S_REPLICA].val, "store.replica", &cfg->store_replica);
	if (f[S_LEASE].val &&
	    !cg_cfg_duration(c, f[S_LEASE].val, "store.lease", CG_MS_SECOND, CG_MS_HOUR, &cfg->store_lease_ms) &&
	    cfg->store_lease_ms < 2 * ((uint64_t)cfg->dd_timeout_ms + CG_MS_SECOND))
		/* A replica starts a request only with datadog.timeout left on its lease (renewed every lease/4). */
		cg_cfg_err(c, f[S_LEASE].val, "store.lease: at least 2 x (datadog.timeout + 1s) = %llu ms, got %llu ms",
		       (unsigned long long)(2 * ((uint64_t)cfg->dd_timeout_ms + CG_MS_SECOND)),
		       (unsigned long long)cfg->store_lease_ms);
	if (cfg->store_backend == CG_STORE_POSTGRES && !cfg->store_dsn)
		cg_cfg_err(c, f[S_BACKEND].val ? f[S_BACKEND].val : n,
		       "store: backend postgres needs dsn (e.g. dsn: ${CASEGATE_PG_DSN}) or dsn_file");
	if (cfg->store_backend == CG_STORE_SQLITE && (f[S_DSN].val || f[S_DSN_FILE].val || f[S_REPLICA].val))
		cg_cfg_err(c, f[S_DSN].val ? f[S_DSN].val : f[S_DSN_FILE].val ? f[S_DSN_FILE].val : f[S_REPLICA].val,
		       "store: dsn and replica apply to backend postgres only");
}

static void parse_tls(struct cg_cfg *c, yaml_node_t *n, struct cg_config *cfg)
{
	enum { T_CERT_FILE, T_KEY_FILE, T_N };
	struct cg_cfg_field f[T_N] = {[T_CERT_FILE] = {"cert_file", NULL}, [T_KEY_FILE] = {"key_file", NULL}};
	if (cg_cfg_fields(c, n, "tls", "tls", f, T_N))
		return;
	if (!f[T_CERT_FILE].val || !f[T_KEY_FILE].val) {
		cg_cfg_err(c, n, "tls: cert_file and key_file are both required");
		return;
	}
	cg_cfg_path(c, f[T_CERT_FILE].val, "tls.cert_file", &cfg->tls_cert_file);
	cg_cfg_path(c, f[T_KEY_FILE].val, "tls.key_file", &cfg->tls_key_file);
}

/* ---- mail: the LMTP/SMTP listener ---- */

static void parse_mail(struct cg_cfg *c, yaml_node_t *n, struct cg_config *cfg)
{
	enum {
		X_LISTEN, X_PROTOCOL, X_MAX_SIZE, X_MAX_RCPT, X_TIMEOUT, X_MAX_CONN, X_PER_SENDER, X_HOSTNAME, X_ROUTES,
		X_MAX_PARTS, X_AUTHSERV_ID, X_N
	};
	struct cg_cfg_field f[X_N] = {[X_LISTEN] = {"listen", NULL},
			       [X_PROTOCOL] = {"protocol", NULL},
			       [X_MAX_SIZE] = {"max_size", NULL},
			       [X_MAX_RCPT] = {"max_recipients", NULL},
			       [X_TIMEOUT] = {"timeout", NULL},
			       [X_MAX_CONN] = {"max_connections", NULL},
			       [X_PER_SENDER] = {"max_per_sender_hour", NULL},
			       [X_HOSTNAME] = {"hostname", NULL},
			       [X_ROUTES] = {"routes", NULL},
			       [X_MAX_PARTS] = {"max_parts", NULL},
			       [X_AUTHSERV_ID] = {"authserv_id", NULL}};
	static const char *const proto_names[] = {"lmtp", "smtp", NULL};
	struct cg_mail_config *m = &cfg->mail;
	char b[80];
	uint64_t v;
	int e;
	if (cg_cfg_fields(c, n, "mail", "mail", f, X_N))
		return;
	/* Without listen, the section configures pipe mode (`casegate mail`) only. */
	m->enabled = f[X_LISTEN].val != NULL;
	if (f[X_LISTEN].val) {
		char *s = cg_cfg_scalar(c, f[X_LISTEN].val, "mail.listen", "host:port", 0);
		if (s) {
			char *host = NULL;
			int rc = cg_cfg_listen(s, &host, &m->listen_port);
			if (rc == CG_ENOMEM)
				c->oom = 1;
			else if (rc)
				cg_cfg_err(c, f[X_LISTEN].val, "mail.listen: expected IP:port (e.g. 127.0.0.1:2525), got '%s'",
				       cg_cfg_disp(s, b, sizeof(b)));
			else {
				free(m->listen_host);
				m->listen_host = host;
			}
			free(s);
		}
	}
	if (f[X_PROTOCOL].val && !cg_cfg_enum(c, f[X_PROTOCOL].val, "mail.protocol", proto_names, &e))
		m->protocol = (enum cg_mail_protocol)e;
	if (f[X_MAX_SIZE].val && !cg_cfg_size(c, f[X_MAX_SIZE].val, "mail.max_size", 1024, 1024ULL * 1024 * 1024, &v))
		m->max_size = v;
	if (f[X_MAX_RCPT].val && !cg_cfg_uint(c, f[X_MAX_RCPT].val, "mail.max_recipients", 1, 10000, &v))
		m->max_recipients = (unsigned)v;
	if (f[X_TIMEOUT].val)
		cg_cfg_duration_u(c, f[X_TIMEOUT].val, "mail.timeout", 1, CG_MS_HOUR, &m->timeout_ms);
	if (f[X_MAX_CONN].val && !cg_cfg_uint(c, f[X_MAX_CONN].val, "mail.max_connections", 1, 100000, &v))
		m->max_connections = (unsigned)v;
	if (f[X_PER_SENDER].val && !cg_cfg_uint(c, f[X_PER_SENDER].val, "mail.max_per_sender_hour", 0, 1000000, &v))
		m->max_per_sender_hour = (unsigned)v;
	if (f[X_HOSTNAME].val)
		cg_cfg_name(c, f[X_HOSTNAME].val, "mail.hostname", &m->hostname);
	if (f[X_MAX_PARTS].val && !cg_cfg_uint(c, f[X_MAX_PARTS].val, "mail.max_parts", 1, 1000000, &v))
		m->max_parts = (size_t)v;
	if (f[X_AUTHSERV_ID].val && !cg_cfg_name(c, f[X_AUTHSERV_ID].val, "mail.authserv_id", &m->authserv_id) &&
	    strpbrk(m->authserv_id, " \t;()\"")) {
		/* RFC 8601: a token or a domain name, the text before the first ';'. */
		cg_cfg_err(c, f[X_AUTHSERV_ID].val, "mail.authserv_id: '%s' is not an authserv-id (no spaces, ';', '(' or quotes)",
		       cg_cfg_disp(m->authserv_id, b, sizeof(b)));
	}
	yaml_node_t *r = f[X_ROUTES].val;
	if (!r)
		return;
	if (r->type != YAML_SEQUENCE_NODE) {
		cg_cfg_err(c, r, "mail.routes: expected a list of {rcpt, source}, got %s", cg_cfg_kind_name(r));
		return;
	}
	size_t nr = (size_t)(r->data.sequence.items.top - r->data.sequence.items.start);
	if (nr && !(m->routes = calloc(nr, sizeof(*m->routes)))) {
		c->oom = 1;
		return;
	}
	for (size_t i = 0; i < nr; i++) {
		char lb[64];
		snprintf(lb, sizeof(lb), "mail.routes[%zu]", i);
		yaml_node_t *item = cg_cfg_node(c, r->data.sequence.items.start[i]);
		struct cg_cfg_field rf[2] = {{"rcpt", NULL}, {"source", NULL}};
		if (!item || cg_cfg_fields(c, item, lb, lb, rf, 2))
			continue;
		struct cg_mail_route *rt = &m->routes[m->nroutes++];
		if (!rf[0].val || !rf[1].val) {
			cg_cfg_err(c, item, "%s: rcpt and source are required", lb);
			continue;
		}
		char l2[96];
		snprintf(l2, sizeof(l2), "%s.rcpt", lb);
		if (!cg_cfg_str(c, rf[0].val, l2, &rt->rcpt))
			for (char *p = rt->rcpt; *p; p++)
				*p = (char)tolower((unsigned char)*p);
		snprintf(l2, sizeof(l2), "%s.source", lb);
		if (cg_cfg_str(c, rf[1].val, l2, &rt->source))
			continue;
		const struct cg_source_config *src = cg_config_source(cfg, rt->source);
		if (!src)
			cg_cfg_err(c, rf[1].val, "%s: no source named '%s'", l2, cg_cfg_disp(rt->source, b, sizeof(b)));
		else if (!src->type || strcmp(src->type, "email") != 0)
			cg_cfg_err(c, rf[1].val, "%s: source '%s' is not `type: email`", l2, rt->source);
	}
}

void cg_cfg_parse_root(struct cg_cfg *c, yaml_node_t *root, struct cg_config *cfg)
{
	enum {
		K_LISTEN, K_STATE_DIR, K_LOG_LEVEL, K_LOG_FORMAT, K_DATADOG, K_LIMITS, K_QUEUE, K_STORE, K_SOURCES, K_PROVISION,
		K_MAIL, K_TRUSTED_PROXIES, K_PROXY_HEADER, K_TLS, K_RATE_LIMIT, K_N
	};
	struct cg_cfg_field f[K_N] = {[K_RATE_LIMIT] = {"rate_limit", NULL},
			       [K_LISTEN] = {"listen", NULL},
			       [K_STATE_DIR] = {"state_dir", NULL},
			       [K_LOG_LEVEL] = {"log_level", NULL},
			       [K_LOG_FORMAT] = {"log_format", NULL},
			       [K_DATADOG] = {"datadog", NULL},
			       [K_LIMITS] = {"limits", NULL},
			       [K_QUEUE] = {"queue", NULL},
			       [K_STORE] = {"store", NULL},
			       [K_SOURCES] = {"sources", NULL},
			       /* Case Management resources for `casegate provision` (provision.c reads them). */
			       [K_PROVISION] = {"provision", NULL},
			       [K_MAIL] = {"mail", NULL},
			       [K_TRUSTED_PROXIES] = {"trusted_proxies", NULL},
			       [K_PROXY_HEADER] = {"proxy_header", NULL},
			       [K_TLS] = {"tls", NULL}};
	static const char *const proxy_header_names[] = {"x-forwarded-for", "forwarded", NULL};
	static const char *const level_names[] = {"error", "warn", "info", "debug", NULL};
	static const char *const format_names[] = {"text", "json", NULL};
	char b[80];
	int e;

	if (cg_cfg_fields(c, root, "configuration", NULL, f, K_N))
		return;
	if (f[K_LISTEN].val) {
		char *s = cg_cfg_scalar(c, f[K_LISTEN].val, "listen", "host:port", 0);
		if (s) {
			char *host = NULL;
			int rc = cg_cfg_listen(s, &host, &cfg->listen_port);
			if (rc == CG_ENOMEM)
				c->oom = 1;
			else if (rc)
				cg_cfg_err(c, f[K_LISTEN].val,
				       "listen: expected IP:port (e.g. 127.0.0.1:8080, 0.0.0.0:8080, [::1]:8080), got '%s'",
				       cg_cfg_disp(s, b, sizeof(b)));
			else {
				free(cfg->listen_host);
				cfg->listen_host = host;
			}
			free(s);
		}
	}
	if (f[K_STATE_DIR].val)
		cg_cfg_path(c, f[K_STATE_DIR].val, "state_dir", &cfg->state_dir);
	if (f[K_LOG_LEVEL].val && !cg_cfg_enum(c, f[K_LOG_LEVEL].val, "log_level", level_names, &e)) {
		free(cfg->log_level);
		if (!(cfg->log_level = strdup(level_names[e])))
			c->oom = 1;
	}
	if (f[K_LOG_FORMAT].val && !cg_cfg_enum(c, f[K_LOG_FORMAT].val, "log_format", format_names, &e)) {
		free(cfg->log_format);
		if (!(cfg->log_format = strdup(format_names[e])))
			c->oom = 1;
	}
	parse_datadog(c, root, f[K_DATADOG].val, cfg);
	if (f[K_LIMITS].val)
		parse_limits(c, f[K_LIMITS].val, cfg);
	if (f[K_QUEUE].val)
		parse_queue(c, f[K_QUEUE].val, cfg);
	if (f[K_STORE].val)
		parse_store(c, f[K_STORE].val, cfg);
	if (f[K_RATE_LIMIT].val)
		cg_cfg_parse_rate_limit(c, f[K_RATE_LIMIT].val, "rate_limit", &cfg->rl_rps, &cfg->rl_burst);
	cg_cfg_parse_sources(c, root, f[K_SOURCES].val, cfg);
	if (f[K_MAIL].val)
		parse_mail(c, f[K_MAIL].val, cfg);
	if (f[K_TRUSTED_PROXIES].val)
		cg_cfg_cidrs(c, f[K_TRUSTED_PROXIES].val, "trusted_proxies", &cfg->trusted_proxies, &cfg->ntrusted_proxies);
	if (f[K_PROXY_HEADER].val && !cg_cfg_enum(c, f[K_PROXY_HEADER].val, "proxy_header", proxy_header_names, &e))
		cfg->proxy_header_forwarded = e == 1;
	if (f[K_TLS].val)
		parse_tls(c, f[K_TLS].val, cfg);

	if (c->nerrs || c->oom || !cfg->listen_host)
		return;
	for (size_t i = 0; i < cfg->nsources; i++) {
		const struct cg_source_config *s = &cfg->sources[i];
		/* No alert_senders: a forged From (or envelope) opens and closes cases. */
		if (s->type && strcmp(s->type, "email") == 0 && cg_mail_rules_sender_ok(s->mail_rules, NULL)) {
			yaml_mark_t m = {0, (size_t)s->line - 1, 0};
			cg_cfg_warn_mark(c, m,
				  "source '%s' accepts alert mail from any sender: whoever can mail it can open and close its "
				  "cases (set rules.alert_senders%s)",
				  s->name, cfg->mail.authserv_id ? "" : ", and mail.authserv_id to check them");
		}
	}
	if (!is_loopback(cfg->listen_host)) {
		for (size_t i = 0; i < cfg->nsources; i++) {
			const struct cg_source_config *s = &cfg->sources[i];
			if (s->auth.kind == CG_AUTH_NONE && s->nverify == 0 && s->nallow_ips == 0) {
				yaml_mark_t m = {0, (size_t)s->line - 1, 0};
				cg_cfg_warn_mark(c, m, "source '%s' accepts unauthenticated requests on %s, which is not loopback",
					  s->name, cfg->listen_host);
			}
		}
	}
}

struct cg_config *cg_cfg_config_new(void)
{
	struct cg_config *cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return NULL;
	cfg->listen_host = strdup("127.0.0.1");
	cfg->listen_port = 8080;
	cfg->log_level = strdup("info");
	cfg->log_format = strdup("text");
	cfg->dd_timeout_ms = 15000;
	cfg->dd_search_settle_ms = 2 * CG_MS_MINUTE;
	cfg->dd_case_refresh_ms = 5 * CG_MS_MINUTE;
	cfg->dd_marker_attr = strdup("casegate_ref");
	cfg->dd_circuit_threshold = 10;
	cfg->max_body = 1024 * 1024;
	cfg->max_header_bytes = 16 * 1024;
	cfg->max_connections = 1024;
	cfg->header_timeout_ms = 10000;
	cfg->body_timeout_ms = 30000;
	cfg->idle_timeout_ms = 60000;
	cfg->max_connections_per_address = 128;
	cfg->first_byte_timeout_ms = 3000;
	cfg->write_timeout_ms = 30000;
	cfg->max_inflight = 16;
	cfg->retry_base_ms = CG_MS_SECOND;
	cfg->retry_cap_ms = 5 * CG_MS_MINUTE;
	cfg->max_attempts = 0;
	cfg->store_max_bytes = 0;
	cfg->max_pending = 10000;
	cfg->max_pending_bytes = 64ULL * 1024 * 1024;
	cfg->mail.max_size = 10 * 1024 * 1024;
	cfg->mail.max_recipients = 100;
	cfg->mail.timeout_ms = 5 * 60 * 1000;
	cfg->mail.max_connections = 100;
	cfg->mail.max_per_sender_hour = 120;
	cfg->mail.max_parts = 1000;
	cfg->group_commit = 1;
	if (!cfg->listen_host || !cfg->log_level || !cfg->log_format) {
		cg_config_free(cfg);
		return NULL;
	}
	return cfg;
}

void cg_config_free(struct cg_config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nsources; i++)
		cg_cfg_source_cleanup(&c->sources[i]);
	free(c->sources);
	for (size_t i = 0; i < c->mail.nroutes; i++) {
		free(c->mail.routes[i].rcpt);
		free(c->mail.routes[i].source);
	}
	free(c->mail.routes);
	free(c->mail.listen_host);
	free(c->mail.hostname);
	free(c->mail.authserv_id);
	free(c->path);
	free(c->listen_host);
	free(c->state_dir);
	free(c->dd_url);
	free(c->dd_site);
	cg_cfg_secret_free(c->dd_api_key);
	cg_cfg_secret_free(c->dd_app_key);
	free(c->dd_ca_file);
	free(c->dd_proxy);
	free(c->dd_marker_attr);
	cg_cfg_secret_free(c->store_dsn);
	free(c->store_replica);
	free(c->log_level);
	free(c->log_format);
	free(c->warnings);
	free(c->trusted_proxies);
	free(c->tls_cert_file);
	free(c->tls_key_file);
	free(c);
}

const struct cg_source_config *cg_config_source(const struct cg_config *c, const char *name)
{
	for (size_t i = 0; c && name && i < c->nsources; i++)
		if (c->sources[i].name && strcmp(c->sources[i].name, name) == 0)
			return &c->sources[i];
	return NULL;
}

const struct cg_source_config *cg_config_mail_route(const struct cg_config *c, const char *rcpt)
{
	char addr[512];
	size_t n = 0;
	for (; rcpt[n] && n + 1 < sizeof(addr); n++)
		addr[n] = (char)tolower((unsigned char)rcpt[n]);
	addr[n] = '\0';
	for (size_t i = 0; i < c->mail.nroutes; i++) {
		const struct cg_mail_route *r = &c->mail.routes[i];
		if (r->rcpt && r->source && (strcmp(r->rcpt, addr) == 0 || fnmatch(r->rcpt, addr, 0) == 0))
			return cg_config_source(c, r->source);
	}
	if (c->mail.nroutes)
		return NULL;
	/* No routes: "anything+NAME@domain" goes to the email source NAME. */
	const char *plus = strchr(addr, '+'), *at = strchr(addr, '@');
	if (plus && (!at || plus < at)) {
		char name[128];
		size_t len = at ? (size_t)(at - plus - 1) : strlen(plus + 1);
		if (len < sizeof(name)) {
			memcpy(name, plus + 1, len);
			name[len] = '\0';
			const struct cg_source_config *s = cg_config_source(c, name);
			if (s && s->type && strcmp(s->type, "email") == 0)
				return s;
		}
	}
	const struct cg_source_config *only = NULL;
	for (size_t i = 0; i < c->nsources; i++) {
		if (c->sources[i].type && strcmp(c->sources[i].type, "email") == 0) {
			if (only)
				return NULL;
			only = &c->sources[i];
		}
	}
	return only;
}

void cg_config_case_spec(const struct cg_source_config *src, struct cg_case_spec *spec)
{
	memset(spec, 0, sizeof(*spec));
	spec->source_name = src->name;
	spec->project = src->project;
	spec->case_type = src->case_type;
	spec->title = src->title;
	spec->description = src->description;
	spec->dedup_key = src->dedup_key;
	spec->priority_from = src->priority_from;
	spec->prio_map = src->prio_map;
	spec->nprio = src->nprio;
	spec->prio_default = src->prio_default;
	spec->prio_default_set = src->prio_default_set;
	spec->cas = src->cas;
	spec->ncas = src->ncas;
	spec->attrs = src->attrs;
	spec->nattrs = src->nattrs;
	spec->attrs_set = src->attrs_set;
	spec->default_priority_map = src->mapper ? src->mapper->default_priority_map : NULL;
}
