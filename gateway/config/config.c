/* config.c: the document's top level (the parts' sections assembled) and the keys of the parts below config (listen, limits, tls, logs, proxies); warnings, freeing, lookups. */
#define _POSIX_C_SOURCE 200809L
#define _XOPEN_SOURCE 700 /* realpath */

#include "cfgint.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

#include "mailrules.h"

#define CFG_AT(field) CG_KEY_AT(struct cg_config, field)

/* limits.* and tls.*: net reads them, and net sits below config. */
static const struct cg_key limits_rows[] = {
	{.key = "max_body", .type = CG_KEY_SIZE, CFG_AT(max_body), .def = "1MiB", .min = 1, .max = 1024ULL * 1024 * 1024,
	 .doc = "larger requests get 413"},
	{.key = "max_header_bytes", .type = CG_KEY_SIZE, CFG_AT(max_header_bytes), .def = "16KiB", .min = 1024,
	 .max = 1024 * 1024, .doc = "larger heads get 431"},
	{.key = "max_connections", .type = CG_KEY_UINT, CFG_AT(max_connections), .def = "1024", .min = 1, .max = 1000000,
	 .doc = "further connections get 503 and are closed"},
	{.key = "header_timeout", .type = CG_KEY_DURATION, CFG_AT(header_timeout_ms), .def = "10s", .min = 1,
	 .max = CG_MS_HOUR, .doc = "request head deadline (slowloris)"},
	{.key = "body_timeout", .type = CG_KEY_DURATION, CFG_AT(body_timeout_ms), .def = "30s", .min = 1, .max = CG_MS_HOUR,
	 .doc = "body deadline after the head"},
	{.key = "idle_timeout", .type = CG_KEY_DURATION, CFG_AT(idle_timeout_ms), .def = "60s", .min = 1, .max = CG_MS_DAY,
	 .doc = "keep-alive idle time"},
	{.key = "max_connections_per_address", .type = CG_KEY_UINT, CFG_AT(max_connections_per_address), .def = "128",
	 .max = 1000000, .doc = "connections from one client address (trusted_proxies exempt; 0: no limit)"},
	{.key = "first_byte_timeout", .type = CG_KEY_DURATION, CFG_AT(first_byte_timeout_ms), .def = "3s", .min = 1,
	 .max = CG_MS_HOUR, .doc = "a new connection that sends nothing for this long is closed"},
	{.key = "write_timeout", .type = CG_KEY_DURATION, CFG_AT(write_timeout_ms), .def = "30s", .min = 1,
	 .max = CG_MS_DAY, .doc = "a connection whose answers are not taken for this long is closed"},
};

static const struct cg_keys limits_keys = {.name = "config: limits", .keys = limits_rows, .n = CG_KEYS_N(limits_rows)};

static const struct cg_key tls_rows[] = {
	{.key = "cert_file", .type = CG_KEY_PATH, CFG_AT(tls_cert_file), .doc = "the listener's certificate chain (PEM)"},
	{.key = "key_file", .type = CG_KEY_PATH, CFG_AT(tls_key_file), .doc = "its private key (PEM)"},
};

static const struct cg_keys tls_keys = {.name = "config: tls",
					.keys = tls_rows,
					.n = CG_KEYS_N(tls_rows),
					.required = "cert_file and key_file are both required"};

static int is_loopback(const char *host)
{
	return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0;
}

/* Findings that are not errors, once the whole document is read without one. */
static void warnings(const struct cg_keyarg *a)
{
	struct cg_cfg *c = a->c;
	const struct cg_config *cfg = a->base;

	if (c->nerrs || c->oom || !cfg->listen_host)
		return;
	for (size_t i = 0; i < cfg->nsources; i++) {
		const struct cg_source_config *s = &cfg->sources[i];
		/* No alert_senders: a forged From (or envelope) opens and closes cases. */
		if (s->type && strcmp(s->type, "email") == 0 && cg_mail_rules_sender_ok(s->mail_rules, NULL)) {
			yaml_mark_t m = {0, (size_t)s->line - 1, 0};
			cg_cfg_warn_mark(c, m,
					 "source '%s' accepts alert mail from any sender: whoever can mail it can open and "
					 "close its cases (set rules.alert_senders%s)",
					 s->name, cfg->mail.authserv_id ? "" : ", and mail.authserv_id to check them");
		}
	}
	if (!is_loopback(cfg->listen_host)) {
		for (size_t i = 0; i < cfg->nsources; i++) {
			const struct cg_source_config *s = &cfg->sources[i];
			if (s->auth.kind == CG_AUTH_NONE && s->nverify == 0 && s->nallow_ips == 0 && !s->routing_key &&
			    !s->genie_key) {
				yaml_mark_t m = {0, (size_t)s->line - 1, 0};
				cg_cfg_warn_mark(c, m, "source '%s' accepts unauthenticated requests on %s, which is not loopback",
						 s->name, cfg->listen_host);
			}
		}
	}
}

static const char *const level_names[] = {"error", "warn", "info", "debug", NULL};
static const char *const format_names[] = {"text", "json", NULL};
static const char *const proxy_header_names[] = {"x-forwarded-for", "forwarded", NULL};

/*
 * The document, top down, in the order it is read. A section's keys come from the part that
 * uses them (keys.h names the tables); one mapping may gather several parts' tables.
 */
static const struct cg_key config_rows[] = {
	{.key = "listen", .type = CG_KEY_ADDR, CFG_AT(listen_host), .count = offsetof(struct cg_config, listen_port),
	 .def = "127.0.0.1:8080", .what = "127.0.0.1:8080, 0.0.0.0:8080, [::1]:8080",
	 .doc = "webhook listen address; port 0 picks a free port"},
	{.key = "state_dir", .type = CG_KEY_PATH, CFG_AT(state_dir), .def = "./var",
	 .doc = "the SQLite store (durable queue and case mapping)"},
	{.key = "log_level", .type = CG_KEY_ENUM_NAME, CFG_AT(log_level), .def = "info", .names = level_names,
	 .doc = "the least severe level logged"},
	{.key = "log_format", .type = CG_KEY_ENUM_NAME, CFG_AT(log_format), .def = "text", .names = format_names,
	 .doc = "text or JSON lines"},
	{.key = "datadog", .type = CG_KEY_TABLE, .sub = CG_KEYS_SUB(&cg_datadog_keys), .flags = CG_KEY_F_ALWAYS,
	 .doc = "the Case API: site or url, keys, timeouts"},
	{.key = "limits", .type = CG_KEY_TABLE, .sub = CG_KEYS_SUB(&limits_keys), .doc = "the HTTP listener's bounds"},
	{.key = "queue", .type = CG_KEY_TABLE, .sub = CG_KEYS_SUB(&cg_queue_delivery_keys, &cg_queue_store_keys, &cg_queue_intake_keys),
	 .doc = "delivery pace and retries, the store's size, what waits in memory"},
	{.key = "priority_aging", .type = CG_KEY_DURATION, CFG_AT(priority_aging_ms), .def = "10m", .min = CG_MS_SECOND,
	 .max = 30 * CG_MS_DAY,
	 .doc = "under a backlog, one priority level of waiting: a P5 queued 4 x this ago goes before a fresh P1"},
	{.key = "store", .type = CG_KEY_TABLE, .sub = CG_KEYS_SUB(&cg_store_keys), .doc = "the store's backend"},
	{.key = "rate_limit", .type = CG_KEY_TABLE, CFG_AT(rl_rps), .sub = CG_KEYS_SUB(&cg_rate_limit_keys),
	 .doc = "intake token bucket for all sources"},
	{.key = "sources", .type = CG_KEY_CUSTOM, .parse = cg_cfg_sources, .release = cg_cfg_sources_free,
	 .flags = CG_KEY_F_ALWAYS, .sub = CG_KEYS_SUB(&cg_source_intake_keys, &cg_source_lifecycle_keys),
	 .doc = "where alerts come from, and the cases they make (at least one)"},
	{.key = "mail", .type = CG_KEY_TABLE, CFG_AT(mail), .sub = CG_KEYS_SUB(&cg_mail_keys),
	 .doc = "the LMTP/SMTP listener"},
	{.key = "trusted_proxies", .type = CG_KEY_CIDRS, CFG_AT(trusted_proxies),
	 .count = offsetof(struct cg_config, ntrusted_proxies), .doc = "peers whose forwarded client addresses are believed"},
	{.key = "proxy_header", .type = CG_KEY_ENUM, CFG_AT(proxy_header_forwarded), .def = "x-forwarded-for",
	 .names = proxy_header_names, .doc = "the header they forward the client address in"},
	{.key = "tls", .type = CG_KEY_TABLE, .sub = CG_KEYS_SUB(&tls_keys), .doc = "TLS on the listener"},
	/* Case Management resources for `casegate provision` (cli/provision.c reads them). */
	{.key = "provision", .type = CG_KEY_OPAQUE, .doc = "Case Management resources, for `casegate provision`"},
};

const struct cg_keys cg_config_keys = {
	.name = "config: the top level", .keys = config_rows, .n = CG_KEYS_N(config_rows), .check = warnings};

/* ---- the entry points ---- */

#define MAX_CONFIG_FILE (4 * 1024 * 1024)

/* One error line and where it points. */
struct err_line {
	const char *s;
	size_t len, idx;
	int other;       /* not of the main file (an included file, or no position): kept in order, last */
	long line, col;
};

static int err_cmp(const void *a, const void *b)
{
	const struct err_line *x = a, *y = b;
	if (x->other != y->other)
		return x->other - y->other;
	if (!x->other && x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (!x->other && x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* The main file's errors in the file's order (line, then column), whatever order the checks ran
 * in; errors of other files and lines without a position keep their order after them. */
static void sort_errors(struct cg_cfgbuf *b, const char *name)
{
	size_t n = 0, nl = strlen(name);
	for (size_t i = 0; i < b->len; i++)
		n += b->p[i] == '\n';
	if (n < 2)
		return;
	struct err_line *v = calloc(n, sizeof(*v));
	char *out = malloc(b->len + 1);
	if (!v || !out) {
		free(v);
		free(out);
		return; /* unsorted is still every error */
	}
	size_t k = 0;
	for (const char *p = b->p; k < n && p < b->p + b->len; k++) {
		const char *eol = memchr(p, '\n', (size_t)(b->p + b->len - p));
		struct err_line *e = &v[k];
		e->s = p;
		e->len = (size_t)(eol - p) + 1;
		e->idx = k;
		e->other = 1;
		char *end = NULL;
		if (strncmp(p, name, nl) == 0 && p[nl] == ':' && p[nl + 1] >= '0' && p[nl + 1] <= '9') {
			e->line = strtol(p + nl + 1, &end, 10);
			if (end && *end == ':' && end[1] >= '0' && end[1] <= '9') {
				e->col = strtol(end + 1, NULL, 10);
				e->other = 0;
			}
		}
		p = eol + 1;
	}
	qsort(v, k, sizeof(*v), err_cmp);
	size_t o = 0;
	for (size_t i = 0; i < k; i++) {
		memcpy(out + o, v[i].s, v[i].len);
		o += v[i].len;
	}
	memcpy(out + o, b->p + o, b->len - o); /* nothing, unless the text did not end in a newline */
	out[b->len] = '\0';
	free(b->p);
	b->p = out;
	b->cap = b->len + 1;
	free(v);
}

static void unsets_free(struct cg_config_unset *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].where);
		free(v[i].label);
		free(v[i].var);
	}
	free(v);
}

static char *strip_nl(struct cg_cfgbuf *b)
{
	if (b->p && b->len && b->p[b->len - 1] == '\n')
		b->p[--b->len] = '\0';
	return b->p;
}

static int parse_text(const char *name, const char *dir, const char *text, size_t len, int world_readable,
		      unsigned flags, struct cg_config **out, char **errs)
{
	struct cg_cfg c = {0};
	struct cg_cfg_unsets unset = {0};
	struct cg_cfg_doc d;
	struct cg_config *cfg = NULL;
	int rc;

	if (errs)
		*errs = NULL;
	c.name = name;
	c.dir = dir;
	c.env_lenient = (flags & CG_CONFIG_ENV_LENIENT) != 0;
	c.unset = &unset;
	yaml_node_t *root = cg_cfg_doc_open(&c, &d, text, len, "the configuration is empty (at least `sources:` is required)");
	if (root && (!(cfg = calloc(1, sizeof(*cfg))) || !(cfg->path = strdup(name))))
		c.oom = 1;
	if (root && !c.oom) {
		c.cfg = cfg;
		cg_keys_defaults(&c, CG_KEYS_SUB(&cg_config_keys), cfg);
		if (!c.oom)
			cg_keys_walk(&c, root, NULL, CG_KEYS_SUB(&cg_config_keys), cfg, NULL, "configuration", NULL, "");
		if (!c.nerrs && !c.oom && world_readable && c.inline_secret == 2)
			/* Only a default is the secret: it is in use because its variable is unset or empty. */
			cg_cfg_warn_mark(&c, c.inline_mark,
					 "%s is readable by every user and a secret here is a ${VAR:-default}'s default, "
					 "in use because VAR is unset or empty: set VAR, or drop the default",
					 name);
		else if (!c.nerrs && !c.oom && world_readable && c.inline_secret)
			cg_cfg_warn_mark(&c, c.inline_mark,
					 "%s is readable by every user and holds a secret: chmod o-r it, or use ${VAR} or *_file",
					 name);
	}
	if (c.oom) {
		rc = CG_ENOMEM;
	} else if (c.nerrs) {
		rc = CG_EINVAL;
	} else {
		rc = 0;
		cfg->warnings = strip_nl(&c.warns);
		c.warns.p = NULL;
		cfg->unset = unset.v;
		cfg->nunset = unset.n;
		unset.v = NULL;
		unset.n = 0;
		*out = cfg;
		cfg = NULL;
	}
	if (rc && errs && !c.oom) {
		sort_errors(&c.errs, name);
		*errs = strip_nl(&c.errs);
		c.errs.p = NULL;
	}
	cg_config_free(cfg);
	free(c.errs.p);
	free(c.warns.p);
	unsets_free(unset.v, unset.n);
	cg_cfg_doc_close(&c, &d);
	return rc;
}

/* Directory part of path ("." when none). */
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

int cg_config_parse(const char *name, const char *text, size_t len, struct cg_config **out, char **errs)
{
	char *dir = dir_of(name);
	if (!dir) {
		if (errs)
			*errs = NULL;
		return CG_ENOMEM;
	}
	int rc = parse_text(name, dir, text, len, 0, 0, out, errs);
	free(dir);
	return rc;
}

int cg_config_load(const char *path, struct cg_config **out, char **errs)
{
	return cg_config_load_ex(path, 0, out, errs);
}

int cg_config_load_ex(const char *path, unsigned flags, struct cg_config **out, char **errs)
{
	struct cg_cfgbuf e = {0};
	struct cg_cfg_file f;
	char *dir = NULL, *real = NULL;
	int rc;

	if (errs)
		*errs = NULL;
	rc = cg_cfg_read_file(path, MAX_CONFIG_FILE, &f);
	if (rc == CG_E2BIG)
		cg_cfgbuf_printf(&e, "%s: not a regular file of at most 4 MiB", path);
	else if (rc == CG_EIO)
		cg_cfgbuf_printf(&e, "%s: cannot read: %s", path, strerror(errno));
	if (rc) {
		rc = rc == CG_ENOMEM ? CG_ENOMEM : CG_EIO;
		goto out;
	}
	if (!(dir = dir_of(path))) {
		rc = CG_ENOMEM;
		goto out;
	}
	/* An absolute base keeps state_dir and *_file paths valid whatever the working directory. */
	real = realpath(dir, NULL);
	rc = parse_text(path, real ? real : dir, f.b.p, f.b.len, f.world_readable, flags, out, errs);
out:
	cg_cfgbuf_wipe(&f.b);
	free(dir);
	free(real);
	if (e.p) {
		if (errs)
			*errs = e.p;
		else
			free(e.p);
	}
	return rc;
}

void cg_config_free(struct cg_config *c)
{
	if (!c)
		return;
	cg_keys_free(CG_KEYS_SUB(&cg_config_keys), c);
	free(c->path);
	free(c->warnings);
	unsets_free(c->unset, c->nunset);
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
