/* intake_keys.c: the keys intake reads (a source's intake and case keys, rate_limit, queue.max_pending*, mail.*) as key-table rows. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "config.h"
#include "keys.h"
#include "pagingapi.h"
#include "registry.h"
#include "sbuf.h"

/* ---- rate_limit: { rps, burst } (the top level: every source together; a source: its own) ---- */

/* One table serves both structs: its rows count from rl_rps. */
#define RL_BURST(type) (offsetof(type, rl_burst) - offsetof(type, rl_rps))
_Static_assert(RL_BURST(struct cg_config) == RL_BURST(struct cg_source_config), "rl_rps, rl_burst side by side");

static const struct cg_key rate_limit_rows[] = {
	{.key = "rps", .type = CG_KEY_UINT, .size = sizeof(unsigned), .min = 1, .max = 1000000,
	 .required = "rps is required (webhooks per second)", .flags = CG_KEY_F_GATE,
	 .doc = "webhooks per second (429 and Retry-After past it)"},
	{.key = "burst", .type = CG_KEY_UINT, .off = RL_BURST(struct cg_config), .size = sizeof(unsigned), .min = 1,
	 .max = 10000000, .doc = "the bucket's depth"},
};

const struct cg_keys cg_rate_limit_keys = {
	.name = "intake: rate_limit", .keys = rate_limit_rows, .n = CG_KEYS_N(rate_limit_rows)};

/* ---- queue: what admission holds in memory before answering 503 ---- */

static const struct cg_key queue_rows[] = {
	{.key = "max_pending", .type = CG_KEY_UINT, CG_KEY_AT(struct cg_config, max_pending), .def = "10000", .min = 1,
	 .max = 10000000, .doc = "store jobs (and webhooks being mapped) waiting in memory before intake answers 503"},
	{.key = "max_pending_bytes", .type = CG_KEY_SIZE, CG_KEY_AT(struct cg_config, max_pending_bytes), .def = "64MiB",
	 .min = 64 * 1024, .max = 1ULL << 40, .doc = "webhook bytes waiting in memory before intake answers 503"},
};

const struct cg_keys cg_queue_intake_keys = {.name = "intake: queue", .keys = queue_rows, .n = CG_KEYS_N(queue_rows)};

/* ---- a source: how requests are let in, and what the case looks like ---- */

#define SRC_AT(field) CG_KEY_AT(struct cg_source_config, field)

static int is_email(const struct cg_source_config *s)
{
	return s->type && strcmp(s->type, "email") == 0;
}

static int valid_name(const struct cg_keyarg *a)
{
	char **v = cg_key_field(a), b[80];
	size_t n = strlen(*v);
	int ok = n > 0 && n <= 64;
	for (const char *p = *v; *p && ok; p++)
		ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-';
	if (ok)
		return 0;
	cg_cfg_err(a->c, a->node, "%s: '%s' is not a valid name (use 1 to 64 of a-z, 0-9, _ and -)", a->label,
		   cg_cfg_disp(*v, b, sizeof(b)));
	free(*v);
	*v = NULL;
	return -1;
}

/* "generic, alertmanager, ..." (caller frees; NULL without memory). */
static char *known_types(void)
{
	struct cg_sbuf b = {0};
	const struct cg_mapper *const *all = cg_mapper_all();
	for (size_t i = 0; all[i]; i++)
		cg_sbuf_addf(&b, "%s%s", i ? ", " : "", all[i]->name);
	cg_sbuf_add(&b, ", datadog_case_events");
	return cg_sbuf_take(&b);
}

static int type_parse(const struct cg_keyarg *a)
{
	struct cg_source_config *s = a->base;
	char b[80], *known;
	if (!a->node) {
		known = known_types();
		cg_cfg_err(a->c, a->at, "%s: type is required (known: %s)", a->owner, known ? known : "");
		free(known);
		return -1;
	}
	if (cg_key_parse_typed(a))
		return -1;
	if ((s->mapper = cg_mapper_find(s->type)) || strcmp(s->type, "datadog_case_events") == 0)
		return 0;
	known = known_types();
	cg_cfg_err(a->c, a->node, "%s: unknown mapper '%s' (known: %s)", a->label, cg_cfg_disp(s->type, b, sizeof(b)),
		   known ? known : "");
	free(known);
	return -1;
}

/* A source answering a paging API (its key is the credential). */
static int is_paging(const struct cg_source_config *s)
{
	return s->type && (strcmp(s->type, "pagerduty_events") == 0 || strcmp(s->type, "opsgenie_alerts") == 0);
}

/* routing_key (pagerduty_events) and genie_key (opsgenie_alerts): the key senders send; required
 * for that type, refused for the others. */
static int api_key_parse(const struct cg_keyarg *a)
{
	const struct cg_source_config *s = a->base;
	int pd = strcmp(a->key->key, "routing_key") == 0;
	const char *want = pd ? "pagerduty_events" : "opsgenie_alerts";
	int mine = s->type && strcmp(s->type, want) == 0;
	if (!a->node && !a->file) {
		if (!mine)
			return 0;
		cg_cfg_err(a->c, a->at, "%s: %s is required (or %s_file): the %s senders send", a->owner, a->key->key,
			   a->key->key, pd ? "routing key" : "GenieKey");
		return -1;
	}
	if (!mine) {
		cg_cfg_err(a->c, a->node ? a->node : a->file, "%s: %s: only `type: %s` sources take one", a->owner,
			   a->key->key, want);
		return -1;
	}
	if (cg_key_parse_typed(a))
		return -1;
	/* The keys look as the real APIs' do, so every sender (and its own checks) takes them:
	 * PagerDuty's 32 letters and digits, Opsgenie's UUID. */
	char **v = cg_key_field(a);
	if (*v && (pd ? cg_paging_key_shape_pd(*v) != 0 : cg_paging_key_shape_og(*v) != 0)) {
		cg_cfg_err(a->c, a->node ? a->node : a->file, "%s: %s (make one with `%s`)", a->label,
			   pd ? "a PagerDuty routing key is 32 letters and digits" : "an Opsgenie API key is a UUID",
			   pd ? "openssl rand -hex 16" : "cat /proc/sys/kernel/random/uuid");
		OPENSSL_cleanse(*v, strlen(*v));
		free(*v);
		*v = NULL;
		return -1;
	}
	return 0;
}

static int auth_parse(const struct cg_keyarg *a)
{
	struct cg_source_config *s = a->base;
	if (a->node)
		return cg_cfg_auth(a);
	if (is_paging(s)) {
		s->auth.kind = CG_AUTH_NONE; /* routing_key or genie_key is the credential */
		return 0;
	}
	if (cg_keymap_node(a->map, "verify")) {
		s->auth.kind = CG_AUTH_NONE; /* the signature is the credential */
		return 0;
	}
	if (is_email(s)) /* mail comes through the mail listener, not HTTP */
		return 0;
	cg_cfg_err(a->c, a->at, "%s: auth is required (write `auth: none` to accept unauthenticated requests)", a->owner);
	return -1;
}

static int rules_parse(const struct cg_keyarg *a)
{
	if (is_email(a->base))
		return cg_cfg_rules(a);
	cg_cfg_err(a->c, a->node, "%s: rules: only `type: email` sources have rules", a->owner);
	return -1;
}

/* reply_senders, reply_to_closed: replies reach e-mail sources only. */
static int reply_parse(const struct cg_keyarg *a)
{
	if (is_email(a->base))
		return cg_key_parse_typed(a);
	cg_cfg_err(a->c, a->node, "%s: %s: only `type: email` sources take replies", a->owner, a->key->key);
	return -1;
}

static int group_by_check(const struct cg_keyarg *a)
{
	const struct cg_source_config *s = a->base;
	if (s->group_by != CG_GROUP_GROUP || !s->mapper || s->mapper->supports_group_by)
		return 0;
	cg_cfg_err(a->c, a->node, "%s: mapper '%s' cannot group alerts (use group_by: alert)", a->label, s->mapper->name);
	return -1;
}

/* A project key: upper-case letters and digits, resolved through GET /cases/projects at start. */
static int is_project_key(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 31 || strcmp(s, "CASE") == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!(s[i] >= 'A' && s[i] <= 'Z') && !(s[i] >= '0' && s[i] <= '9'))
			return 0;
	return s[0] >= 'A' && s[0] <= 'Z';
}

/* project, case_type: required (a case-events source makes no case: it needs neither). */
static int case_uuid_parse(const struct cg_keyarg *a)
{
	const struct cg_source_config *s = a->base;
	int project = strcmp(a->key->key, "project") == 0;
	char **v = cg_key_field(a), b[80];
	if (!a->node) {
		if (s->type && strcmp(s->type, "datadog_case_events") == 0)
			return 0;
		cg_cfg_err(a->c, a->at, "%s: %s is required (the UUID of %s)", a->owner, a->key->key,
			   project ? "the Datadog project" : "the case type");
		return -1;
	}
	if (cg_key_parse_typed(a))
		return -1;
	if (cg_cfg_is_uuid(*v) || (project && is_project_key(*v)))
		return 0;
	cg_cfg_err(a->c, a->node, "%s: '%s' is not a UUID%s", a->label, cg_cfg_disp(*v, b, sizeof(b)),
		   project ? " or a project key (upper-case letters and digits)" : "");
	free(*v);
	*v = NULL;
	return -1;
}

static const char *const group_by_names[] = {"alert", "group", NULL};

/* ---- heartbeat: { every, grace, priority, alert } ---- */

#define HB_AT(field) CG_KEY_AT(struct cg_heartbeat_config, field)

static const char *const hb_prio_names[] = {"P1", "P2", "P3", "P4", "P5", NULL};

/* Runs once the mapping is read: the priority as a number, and what the source can promise. */
static void heartbeat_check(const struct cg_keyarg *a)
{
	struct cg_heartbeat_config *h = a->base;
	const struct cg_source_config *s = a->parent;
	h->priority = h->prio_idx + 1;
	if (s && s->type && strcmp(s->type, "datadog_case_events") == 0)
		cg_cfg_err(a->c, a->node, "%s: a datadog_case_events source sends no alerts to watch", a->label);
	else if (s && is_email(s) && h->alert)
		cg_cfg_err(a->c, a->node, "%s: alert: only webhook sources name a heartbeat alert (every mail an e-mail "
			   "source accepts as an alert counts)", a->label);
}

static const struct cg_key heartbeat_rows[] = {
	{.key = "every", .type = CG_KEY_DURATION, HB_AT(every_ms), .min = CG_MS_SECOND, .max = 7 * CG_MS_DAY,
	 .required = "every is required (how often the sender promises something, e.g. 5m)", .flags = CG_KEY_F_GATE,
	 .doc = "the sender promises traffic (or the heartbeat alert) at least this often"},
	{.key = "grace", .type = CG_KEY_DURATION, HB_AT(grace_ms), .def = "1m", .max = 7 * CG_MS_DAY,
	 .doc = "extra time before the source counts as silent"},
	{.key = "priority", .type = CG_KEY_ENUM, HB_AT(prio_idx), .def = "P2", .names = hb_prio_names,
	 .doc = "the priority of the \"went silent\" case"},
	{.key = "alert", .type = CG_KEY_NAME, HB_AT(alert),
	 .doc = "only firing alerts with this alertname (else title) count; they open no case"},
};

static const struct cg_keys heartbeat_keys = {.name = "intake: sources[].heartbeat",
					      .keys = heartbeat_rows,
					      .n = CG_KEYS_N(heartbeat_rows),
					      .check = heartbeat_check};

/* ---- storm: { max_new_cases, per, digest_interval } ---- */

#define STORM_AT(field) CG_KEY_AT(struct cg_storm_config, field)

static void storm_check(const struct cg_keyarg *a)
{
	const struct cg_source_config *s = a->parent;
	if (s && s->type && strcmp(s->type, "datadog_case_events") == 0)
		cg_cfg_err(a->c, a->node, "%s: a datadog_case_events source opens no cases to fold", a->label);
}

static const struct cg_key storm_rows[] = {
	{.key = "max_new_cases", .type = CG_KEY_UINT, STORM_AT(max_new_cases), .min = 1, .max = 100000,
	 .required = "max_new_cases is required (new cases allowed per window before alerts fold, e.g. 20)",
	 .flags = CG_KEY_F_GATE, .doc = "new cases the source may open per window; further new alerts fold into one storm case"},
	{.key = "per", .type = CG_KEY_DURATION, STORM_AT(per_ms), .min = CG_MS_SECOND, .max = CG_MS_DAY,
	 .required = "per is required (the window new cases are counted in, e.g. 5m)",
	 .doc = "the window new cases are counted in"},
	{.key = "digest_interval", .type = CG_KEY_DURATION, STORM_AT(digest_ms), .def = "5m", .min = CG_MS_SECOND,
	 .max = CG_MS_DAY, .doc = "at most one comment this often naming newly folded and resolved alerts"},
};

static const struct cg_keys storm_keys = {.name = "intake: sources[].storm",
					  .keys = storm_rows,
					  .n = CG_KEYS_N(storm_rows),
					  .check = storm_check};

static const struct cg_key source_rows[] = {
	{.key = "name", .type = CG_KEY_STR, SRC_AT(name), .check = valid_name, .required = "name is required",
	 .doc = "unique; the URL is /hooks/<name>; namespaces dedup keys"},
	{.key = "type", .type = CG_KEY_STR, SRC_AT(type), .parse = type_parse, .flags = CG_KEY_F_ALWAYS,
	 .doc = "the mapper (`casegate mappers`), or datadog_case_events"},
	{.key = "rate_limit", .type = CG_KEY_TABLE, SRC_AT(rl_rps), .sub = CG_KEYS_SUB(&cg_rate_limit_keys),
	 .doc = "intake token bucket for this source"},
	{.key = "verify", .type = CG_KEY_CUSTOM, SRC_AT(verify), .parse = cg_cfg_verify, .release = cg_cfg_verify_free,
	 .sub = CG_KEYS_SUB(&cg_verify_keys), .doc = "signature schemes that must all pass"},
	{.key = "allow_ips", .type = CG_KEY_CIDRS, SRC_AT(allow_ips), .count = offsetof(struct cg_source_config, nallow_ips),
	 .doc = "other clients get 401"},
	{.key = "auth", .type = CG_KEY_CUSTOM, SRC_AT(auth), .parse = auth_parse, .release = cg_cfg_auth_free,
	 .flags = CG_KEY_F_ALWAYS, .sub = CG_KEYS_SUB(&cg_auth_keys),
	 .doc = "none, or bearer tokens and basic credentials (optional with verify, and for e-mail sources)"},
	{.key = "reply_senders", .type = CG_KEY_LIST, SRC_AT(reply_senders),
	 .count = offsetof(struct cg_source_config, nreply_senders), .flags = CG_KEY_F_LOWER, .parse = reply_parse,
	 .doc = "e-mail sources: who may comment on this source's cases by replying (globs)"},
	{.key = "reply_to_closed", .type = CG_KEY_BOOL, SRC_AT(reply_to_closed), .def = "false", .parse = reply_parse,
	 .doc = "e-mail sources: replies may comment on closed cases too"},
	{.key = "heartbeat", .type = CG_KEY_TABLE, SRC_AT(heartbeat), .sub = CG_KEYS_SUB(&heartbeat_keys),
	 .doc = "dead-man's switch: a case when the source goes silent, closed when it is heard again"},
	{.key = "storm", .type = CG_KEY_TABLE, SRC_AT(storm), .sub = CG_KEYS_SUB(&storm_keys),
	 .doc = "alert storms: past max_new_cases new cases per window, new alerts fold into one storm case"},
	{.key = "group_by", .type = CG_KEY_ENUM, SRC_AT(group_by), .def = "alert", .names = group_by_names,
	 .check = group_by_check, .doc = "one case per alert, or one per notification group"},
	{.key = "project", .type = CG_KEY_STR, SRC_AT(project), .parse = case_uuid_parse, .flags = CG_KEY_F_ALWAYS,
	 .doc = "the Case Management project (UUID or key)"},
	{.key = "case_type", .type = CG_KEY_STR, SRC_AT(case_type), .parse = case_uuid_parse, .flags = CG_KEY_F_ALWAYS,
	 .doc = "the case type (UUID)"},
	{.key = "title", .type = CG_KEY_TMPL, SRC_AT(title), .doc = "template: the case title (default: the mapper's)"},
	{.key = "description", .type = CG_KEY_TMPL, SRC_AT(description), .doc = "template: the case description"},
	{.key = "dedup_key", .type = CG_KEY_TMPL, SRC_AT(dedup_key), .doc = "template: which alerts share a case"},
	{.key = "priority", .type = CG_KEY_CUSTOM, .parse = cg_cfg_priority, .release = cg_cfg_priority_free,
	 .sub = CG_KEYS_SUB(&cg_priority_keys), .doc = "P1..P5 fixed, or from/map/default"},
	{.key = "custom_attributes", .type = CG_KEY_CUSTOM, .parse = cg_cfg_custom_attributes,
	 .release = cg_cfg_custom_attributes_free, .sub = CG_KEYS_SUB(&cg_ca_keys), .doc = "case custom attributes"},
	{.key = "attributes", .type = CG_KEY_CUSTOM, .parse = cg_cfg_attributes, .release = cg_cfg_attributes_free,
	 .doc = "case attributes (labels): key: template or list"},
	{.key = "routing_key", .type = CG_KEY_SECRET, SRC_AT(routing_key), .parse = api_key_parse,
	 .flags = CG_KEY_F_ALWAYS, .doc = "pagerduty_events: the routing key senders put in their events (required)"},
	{.key = "genie_key", .type = CG_KEY_SECRET, SRC_AT(genie_key), .parse = api_key_parse, .flags = CG_KEY_F_ALWAYS,
	 .doc = "opsgenie_alerts: the key senders send as `Authorization: GenieKey <key>` (required)"},
	/* After title: "did you mean" names the first near key, and 'tiles' has meant 'title'. */
	{.key = "rules", .type = CG_KEY_CUSTOM, SRC_AT(mail_rules), .parse = rules_parse, .release = cg_cfg_rules_free,
	 .sub = CG_KEYS_SUB(&cg_rules_keys), .doc = "e-mail sources: the rule set (a shipped name, rules, or a file)"},
};

const struct cg_keys cg_source_intake_keys = {
	.name = "intake: sources[]", .keys = source_rows, .n = CG_KEYS_N(source_rows)};

/* ---- mail: the LMTP/SMTP listener ---- */

#define MAIL_AT(field) CG_KEY_AT(struct cg_mail_config, field)

static int route_source_check(const struct cg_keyarg *a)
{
	const struct cg_mail_route *rt = a->base;
	const struct cg_source_config *src = cg_config_source(cg_cfg_config(a->c), rt->source);
	char b[80];
	if (!src) {
		cg_cfg_err(a->c, a->node, "%s: no source named '%s'", a->label, cg_cfg_disp(rt->source, b, sizeof(b)));
		return -1;
	}
	if (!src->type || strcmp(src->type, "email") != 0) {
		cg_cfg_err(a->c, a->node, "%s: source '%s' is not `type: email`", a->label, rt->source);
		return -1;
	}
	return 0;
}

static const struct cg_key route_rows[] = {
	{.key = "rcpt", .type = CG_KEY_STR, CG_KEY_AT(struct cg_mail_route, rcpt), .flags = CG_KEY_F_LOWER,
	 .doc = "a recipient address, or an fnmatch pattern"},
	{.key = "source", .type = CG_KEY_STR, CG_KEY_AT(struct cg_mail_route, source), .check = route_source_check,
	 .doc = "the e-mail source it goes to"},
};

static const struct cg_keys route_keys = {.name = "intake: mail.routes[]",
					  .keys = route_rows,
					  .n = CG_KEYS_N(route_rows),
					  .required = "rcpt and source are required"};

static int authserv_id_check(const struct cg_keyarg *a)
{
	const char *id = *(char **)cg_key_field(a);
	char b[80];
	if (!strpbrk(id, " \t;()\""))
		return 0;
	/* RFC 8601: a token or a domain name, the text before the first ';'. */
	cg_cfg_err(a->c, a->node, "%s: '%s' is not an authserv-id (no spaces, ';', '(' or quotes)", a->label,
		   cg_cfg_disp(id, b, sizeof(b)));
	return -1;
}

/* Without listen, the section configures pipe mode (`casegate mail`) only. */
static void mail_check(const struct cg_keyarg *a)
{
	struct cg_mail_config *m = a->base;
	m->enabled = cg_keymap_node(a->map, "listen") != NULL;
}

static const char *const proto_names[] = {"lmtp", "smtp", NULL};

static const struct cg_key mail_rows[] = {
	{.key = "listen", .type = CG_KEY_ADDR, MAIL_AT(listen_host), .count = offsetof(struct cg_mail_config, listen_port),
	 .what = "127.0.0.1:2525", .doc = "IP:port of the listener (none: pipe mode only)"},
	{.key = "protocol", .type = CG_KEY_ENUM, MAIL_AT(protocol), .def = "lmtp", .names = proto_names,
	 .doc = "LMTP behind an MTA, or SMTP"},
	{.key = "max_size", .type = CG_KEY_SIZE, MAIL_AT(max_size), .def = "10MiB", .min = 1024, .max = 1024ULL * 1024 * 1024,
	 .doc = "message bytes (SIZE; 552 past it)"},
	{.key = "max_recipients", .type = CG_KEY_UINT, MAIL_AT(max_recipients), .def = "100", .min = 1, .max = 10000,
	 .doc = "recipients per transaction"},
	{.key = "timeout", .type = CG_KEY_DURATION, MAIL_AT(timeout_ms), .def = "5m", .min = 1, .max = CG_MS_HOUR,
	 .doc = "inactivity per command or data chunk"},
	{.key = "max_connections", .type = CG_KEY_UINT, MAIL_AT(max_connections), .def = "100", .min = 1, .max = 100000,
	 .doc = "connections at once"},
	{.key = "max_per_sender_hour", .type = CG_KEY_UINT, MAIL_AT(max_per_sender_hour), .def = "120", .max = 1000000,
	 .doc = "messages per envelope sender per hour (0: unlimited)"},
	{.key = "hostname", .type = CG_KEY_NAME, MAIL_AT(hostname), .doc = "for the greeting (default casegate)"},
	{.key = "max_parts", .type = CG_KEY_UINT, MAIL_AT(max_parts), .def = "1000", .min = 1, .max = 1000000,
	 .doc = "MIME parts per message (554, exit 65 past it)"},
	{.key = "authserv_id", .type = CG_KEY_NAME, MAIL_AT(authserv_id), .check = authserv_id_check,
	 .doc = "the authserv-id of the MTA whose Authentication-Results decide who is authenticated"},
	{.key = "routes", .type = CG_KEY_TABLES, .off = offsetof(struct cg_mail_config, routes),
	 .size = sizeof(struct cg_mail_route), .count = offsetof(struct cg_mail_config, nroutes),
	 .sub = CG_KEYS_SUB(&route_keys), .what = "{rcpt, source}", .doc = "recipients routed to e-mail sources"},
};

const struct cg_keys cg_mail_keys = {
	.name = "intake: mail", .keys = mail_rows, .n = CG_KEYS_N(mail_rows), .check = mail_check};
