/* auth.c: a source's `auth:` (bearer tokens, basic credentials) and `verify:` (signature schemes): their key tables and readers. */

#include "cfgint.h"
#include "text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <yaml.h>

static int user_check(const struct cg_keyarg *a)
{
	const char *u = *(char **)cg_key_field(a);
	if (!strchr(u, ':'))
		return 0;
	cg_cfg_err(a->c, a->node, "%s: must not contain ':'", a->label);
	return -1;
}

static const struct cg_key basic_rows[] = {
	{.key = "user", .type = CG_KEY_NAME, CG_KEY_AT(struct cg_basic_cred, user), .check = user_check,
	 .required = "user is required", .doc = "the user name (no ':')"},
	{.key = "password", .type = CG_KEY_SECRET, CG_KEY_AT(struct cg_basic_cred, password),
	 .required = "password or password_file is required", .doc = "the password"},
};

static const struct cg_keys basic_keys = {
	.name = "config: sources[].auth.basic", .keys = basic_rows, .n = CG_KEYS_N(basic_rows)};

static int parse_basic_one(struct cg_cfg *c, yaml_node_t *n, const char *sp, const char *label,
			   struct cg_basic_cred *cred)
{
	char where[256], prefix[330];
	snprintf(where, sizeof(where), "%s auth.basic", sp);
	snprintf(prefix, sizeof(prefix), "%s.", label);
	return cg_keys_walk(c, n, NULL, CG_KEYS_SUB(&basic_keys), cred, NULL, label, where, prefix);
}

/* Why t cannot be a bearer token, or NULL. Never quotes the token. */
static const char *bad_token(const char *t)
{
	if (!*t)
		return "token is empty";
	for (; *t; t++)
		if ((unsigned char)*t <= 0x20 || *t == 0x7f)
			return "token contains whitespace or control characters (one token per value or file)";
	return NULL;
}

static const struct cg_key auth_rows[] = {
	{.key = "bearer", .type = CG_KEY_CUSTOM, .doc = "a token or a list of them (rotation)"},
	{.key = "bearer_file", .type = CG_KEY_CUSTOM, .doc = "a file holding a token, or a list of them"},
	{.key = "basic", .type = CG_KEY_CUSTOM, .sub = CG_KEYS_SUB(&basic_keys),
	 .doc = "{user, password | password_file} or a list of them"},
};

const struct cg_keys cg_auth_keys = {.name = "config: sources[].auth", .keys = auth_rows, .n = CG_KEYS_N(auth_rows)};

/* auth: `none`, or a mapping read here (bearer and bearer_file add up to one list of tokens). */
static void parse_auth(struct cg_cfg *c, yaml_node_t *n, const char *sp, struct cg_auth_config *a)
{
	enum { A_BEARER, A_BEARER_FILE, A_BASIC, A_N };
	yaml_node_t *f[A_N];
	struct cg_keymap m;
	char lb[256], where[256];

	snprintf(lb, sizeof(lb), "%s: auth", sp);
	if (n->type == YAML_SCALAR_NODE) {
		char *s = cg_cfg_scalar(c, n, lb, "a string", 0);
		if (s && strcmp(s, "none") == 0)
			a->kind = CG_AUTH_NONE;
		else if (s)
			cg_cfg_err(c, n, "%s: expected `none` or a mapping with bearer, bearer_file or basic", lb);
		free(s);
		return;
	}
	snprintf(where, sizeof(where), "%s auth", sp);
	if (cg_keys_match(c, n, CG_KEYS_SUB(&cg_auth_keys), lb, where, &m))
		return;
	for (size_t i = 0; i < A_N; i++)
		f[i] = m.val[i];
	if (!f[A_BEARER] && !f[A_BEARER_FILE] && !f[A_BASIC]) {
		cg_cfg_err(c, n, "%s: give bearer, bearer_file or basic (or write `auth: none`)", lb);
		return;
	}
	int bad = 0;
	char **tok = NULL, **files = NULL;
	size_t ntok = 0, nfiles = 0;
	if (f[A_BEARER]) {
		snprintf(lb, sizeof(lb), "%s: auth.bearer", sp);
		if (cg_cfg_strs(c, f[A_BEARER], lb, 2, &tok, &ntok))
			bad = 1;
		for (size_t i = 0; i < ntok; i++) {
			yaml_node_t *bv = f[A_BEARER];
			yaml_node_t *item = bv->type == YAML_SEQUENCE_NODE
						    ? yaml_document_get_node(c->doc, bv->data.sequence.items.start[i])
						    : bv;
			if (bad_token(tok[i])) {
				if (bv->type == YAML_SEQUENCE_NODE)
					snprintf(lb, sizeof(lb), "%s: auth.bearer[%zu]", sp, i);
				cg_cfg_err(c, item ? item : bv, "%s: %s", lb, bad_token(tok[i]));
				bad = 1;
			}
		}
	}
	if (f[A_BEARER_FILE]) {
		snprintf(lb, sizeof(lb), "%s: auth.bearer_file", sp);
		yaml_node_t *fn = f[A_BEARER_FILE];
		size_t nf = fn->type == YAML_SEQUENCE_NODE ? (size_t)(fn->data.sequence.items.top - fn->data.sequence.items.start) : 1;
		if (fn->type == YAML_MAPPING_NODE) {
			cg_cfg_err(c, fn, "%s: expected a path or a list of paths, got a mapping", lb);
			bad = 1;
		} else if (!(files = calloc(nf ? nf : 1, sizeof(*files)))) {
			c->oom = 1;
			bad = 1;
		} else {
			for (size_t i = 0; i < nf; i++) {
				yaml_node_t *item = fn->type == YAML_SEQUENCE_NODE ? cg_cfg_node(c, fn->data.sequence.items.start[i]) : fn;
				if (!item || cg_cfg_secret_file(c, item, lb, &files[nfiles])) {
					bad = 1;
					continue;
				}
				if (bad_token(files[nfiles])) {
					cg_cfg_err(c, item, "%s: the file's %s", lb, bad_token(files[nfiles]));
					bad = 1;
				}
				nfiles++;
			}
		}
	}
	if (!bad && ntok + nfiles > 0) {
		char **all = calloc(ntok + nfiles, sizeof(*all));
		if (!all) {
			c->oom = 1;
			bad = 1;
		} else {
			for (size_t i = 0; i < ntok; i++)
				all[i] = tok[i];
			for (size_t i = 0; i < nfiles; i++)
				all[ntok + i] = files[i];
			free(tok);
			free(files);
			tok = files = NULL;
			a->bearer = all;
			a->nbearer = ntok + nfiles;
			ntok = nfiles = 0;
		}
	}
	cg_cfg_strv_free(tok, ntok, 1);
	cg_cfg_strv_free(files, nfiles, 1);
	if (f[A_BASIC]) {
		yaml_node_t *bn = f[A_BASIC];
		size_t nb = bn->type == YAML_SEQUENCE_NODE ? (size_t)(bn->data.sequence.items.top - bn->data.sequence.items.start) : 1;
		if (bn->type == YAML_SCALAR_NODE) {
			cg_cfg_err(c, bn, "%s: auth.basic: expected a mapping {user, password} or a list of them", sp);
			bad = 1;
		} else if (nb && !(a->basic = calloc(nb, sizeof(*a->basic)))) {
			c->oom = 1;
			bad = 1;
		} else {
			for (size_t i = 0; i < nb; i++) {
				yaml_node_t *item = bn;
				if (bn->type == YAML_SEQUENCE_NODE) {
					item = cg_cfg_node(c, bn->data.sequence.items.start[i]);
					snprintf(lb, sizeof(lb), "%s: auth.basic[%zu]", sp, i);
				} else {
					snprintf(lb, sizeof(lb), "%s: auth.basic", sp);
				}
				a->nbasic++; /* counted before parsing so free() sees partial entries */
				if (!item || parse_basic_one(c, item, sp, lb, &a->basic[i]))
					bad = 1;
			}
		}
	}
	if (!bad)
		a->kind = a->nbearer ? CG_AUTH_BEARER : a->nbasic ? CG_AUTH_BASIC : CG_AUTH_UNSET;
	if (!bad && a->kind == CG_AUTH_UNSET)
		cg_cfg_err(c, n, "%s: auth: no credentials given (an empty list?)", sp);
}

static void regexv_free(regex_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		regfree(&v[i]);
	free(v);
}

static int get_regexes(struct cg_cfg *c, yaml_node_t *n, const char *label, regex_t **out, size_t *nout)
{
	char **v = NULL;
	size_t nv = 0;
	char b[80];
	int bad = 0;
	if (n && cg_cfg_strs(c, n, label, 0, &v, &nv))
		return -1;
	static const char *const def[] = {"^sns\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?$"};
	size_t cnt = n ? nv : 1;
	regex_t *r = calloc(cnt ? cnt : 1, sizeof(*r));
	if (!r) {
		c->oom = 1;
		cg_cfg_strv_free(v, nv, 0);
		return -1;
	}
	size_t ok = 0;
	for (size_t i = 0; i < cnt; i++) {
		const char *s = n ? v[i] : def[i];
		if (!cg_text_regex_cheap(s)) {
			cg_cfg_err(c, n, "%s: '%s': a quantifier right after another, or a {} bound above 255", label,
				   cg_cfg_disp(s, b, sizeof(b)));
			bad = 1;
			continue;
		}
		if (regcomp(&r[ok], s, REG_EXTENDED | REG_ICASE | REG_NOSUB) != 0) {
			cg_cfg_err(c, n, "%s: '%s' is not a valid regular expression", label, cg_cfg_disp(s, b, sizeof(b)));
			bad = 1;
			continue;
		}
		ok++;
	}
	cg_cfg_strv_free(v, nv, 0);
	if (bad || cnt == 0) {
		if (!bad)
			cg_cfg_err(c, n, "%s: the list is empty", label);
		regexv_free(r, ok);
		return -1;
	}
	*out = r;
	*nout = ok;
	return 0;
}

static void verify_cleanup(struct cg_verify_config *v)
{
	for (size_t i = 0; i < v->nsecrets; i++) {
		if (v->secrets[i].p) {
			OPENSSL_cleanse(v->secrets[i].p, v->secrets[i].len);
			free(v->secrets[i].p);
		}
	}
	free(v->secrets);
	free(v->header);
	free(v->prefix);
	free(v->timestamp_header);
	free(v->signed_fmt);
	regexv_free(v->cert_hosts, v->ncert_hosts);
	regexv_free(v->confirm_hosts, v->nconfirm_hosts);
	free(v->ca_file);
	free(v->cert_file);
}

/* Appends s (consumed) to v's secrets; Standard Webhooks secrets are "whsec_" + base64. */
static int add_secret(struct cg_cfg *c, yaml_node_t *at, const char *label, struct cg_verify_config *v, char *s)
{
	unsigned char *p = (unsigned char *)s;
	size_t len = strlen(s);
	int rc = -1;
	if (len == 0) {
		cg_cfg_err(c, at, "%s: the secret is empty", label);
		goto out;
	}
	if (v->kind == CG_VERIFY_STDWH) {
		const char *b64 = strncmp(s, "whsec_", 6) == 0 ? s + 6 : s;
		size_t bl = strlen(b64);
		unsigned char *dec = malloc(bl + 1);
		if (!dec) {
			c->oom = 1;
			goto out;
		}
		int n = bl && bl % 4 == 0 ? EVP_DecodeBlock(dec, (const unsigned char *)b64, (int)bl) : -1;
		for (size_t i = bl; n > 0 && i > 0 && b64[i - 1] == '='; i--)
			n--;
		if (n <= 0) {
			/* Never quote the secret, not even a part of it. */
			cg_cfg_err(c, at, "%s: expected whsec_ followed by base64", label);
			OPENSSL_cleanse(dec, bl + 1);
			free(dec);
			goto out;
		}
		OPENSSL_cleanse(s, len);
		free(s);
		s = NULL;
		p = dec;
		len = (size_t)n;
	}
	struct cg_secret *ns = realloc(v->secrets, (v->nsecrets + 1) * sizeof(*ns));
	if (!ns) {
		c->oom = 1;
		if (p != (unsigned char *)s) {
			OPENSSL_cleanse(p, len);
			free(p);
		}
		goto out;
	}
	v->secrets = ns;
	v->secrets[v->nsecrets].p = p;
	v->secrets[v->nsecrets].len = len;
	v->nsecrets++;
	return 0;
out:
	cg_cfg_secret_free(s);
	return rc;
}

static char *dup_or_oom(struct cg_cfg *c, const char *s)
{
	char *d = strdup(s);
	if (!d)
		c->oom = 1;
	return d;
}

enum {
	V_SECRET, V_SECRET_FILE, V_SECRETS, V_HEADER, V_ENCODING, V_PREFIX, V_TS_HEADER, V_SIGNED,
	V_REPLAY_WINDOW, V_TIMESTAMP, V_CERT_HOSTS, V_CONFIRM_HOSTS, V_CA_FILE, V_CERT_FILE, V_CONFIRM, V_N
};

/* Every key a scheme may take (read by parse_verify_one); each scheme names its own below. */
static const struct cg_key verify_field_rows[V_N] = {
	[V_SECRET] = {.key = "secret", .type = CG_KEY_CUSTOM, .doc = "the shared secret (secret, secret_file and secrets add up)"},
	[V_SECRET_FILE] = {.key = "secret_file", .type = CG_KEY_CUSTOM, .doc = "a file holding the secret"},
	[V_SECRETS] = {.key = "secrets", .type = CG_KEY_CUSTOM, .doc = "several secrets (rotation: any may match)"},
	[V_HEADER] = {.key = "header", .type = CG_KEY_CUSTOM, .doc = "hmac: the request header holding the signature"},
	[V_ENCODING] = {.key = "encoding", .type = CG_KEY_CUSTOM, .doc = "hmac: hex (default) or base64"},
	[V_PREFIX] = {.key = "prefix", .type = CG_KEY_CUSTOM, .doc = "hmac: cut from the header value (sha256=)"},
	[V_TS_HEADER] = {.key = "timestamp_header", .type = CG_KEY_CUSTOM, .doc = "hmac: the header holding the timestamp"},
	[V_SIGNED] = {.key = "signed", .type = CG_KEY_CUSTOM, .doc = "hmac: the signed content: {ts}, {id}, {body}"},
	[V_REPLAY_WINDOW] = {.key = "replay_window", .type = CG_KEY_CUSTOM, .def = "5m",
			     .doc = "how far the timestamp may be from now"},
	[V_TIMESTAMP] = {.key = "timestamp", .type = CG_KEY_CUSTOM, .doc = "grafana: the signature covers the timestamp"},
	[V_CERT_HOSTS] = {.key = "cert_hosts", .type = CG_KEY_CUSTOM, .doc = "sns: hosts the signing certificate may come from"},
	[V_CONFIRM_HOSTS] = {.key = "confirm_hosts", .type = CG_KEY_CUSTOM, .doc = "sns: hosts a SubscribeURL may point at"},
	[V_CA_FILE] = {.key = "ca_file", .type = CG_KEY_CUSTOM, .doc = "sns: trust store for the certificate fetch"},
	[V_CERT_FILE] = {.key = "cert_file", .type = CG_KEY_CUSTOM, .doc = "sns: a PEM instead of fetching (tests)"},
	[V_CONFIRM] = {.key = "confirm", .type = CG_KEY_CUSTOM, .def = "true", .doc = "sns: confirm subscriptions"},
};

static const struct cg_keys verify_field_keys = {
	.name = "config: sources[].verify[].<scheme>", .keys = verify_field_rows, .n = V_N};

#define SECRET_KEYS "secret", "secret_file", "secrets"
#define SCHEME(name_, doc_, ...)                                                                               \
	{.key = name_, .type = CG_KEY_TABLE, .sub = CG_KEYS_SUB(&verify_field_keys),                            \
	 .names = (const char *const[]){__VA_ARGS__, NULL}, .doc = doc_}

/* The schemes in enum cg_verify_kind's order; .names: the keys each takes. */
static const struct cg_key scheme_rows[] = {
	SCHEME("hmac", "generic HMAC-SHA256 over the body", SECRET_KEYS, "header", "encoding", "prefix", "timestamp_header",
	       "signed", "replay_window"),
	SCHEME("sentry", "Sentry-Hook-Signature", SECRET_KEYS),
	SCHEME("pagerduty", "X-PagerDuty-Signature", SECRET_KEYS),
	SCHEME("standard_webhooks", "webhook-id, -timestamp, -signature", SECRET_KEYS, "replay_window"),
	SCHEME("grafana", "X-Grafana-Alerting-Signature", SECRET_KEYS, "timestamp", "replay_window"),
	SCHEME("sns", "AWS SNS message signatures", "cert_hosts", "confirm_hosts", "ca_file", "cert_file", "confirm"),
};
_Static_assert(CG_KEYS_N(scheme_rows) == CG_VERIFY_SNS, "one row per enum cg_verify_kind, in its order");

const struct cg_keys cg_verify_keys = {
	.name = "config: sources[].verify[]", .keys = scheme_rows, .n = CG_KEYS_N(scheme_rows)};

static void parse_verify_one(struct cg_cfg *c, yaml_node_t *item, const char *sp, size_t idx, struct cg_verify_config *v)
{
	yaml_node_t *f[V_N];
	struct cg_keymap m;
	static const char *const enc_names[] = {"hex", "base64", NULL};
	char lb[300], where[300], b[80];

	v->line = (int)item->start_mark.line + 1;
	v->replay_window_ms = 5 * CG_MS_MINUTE;
	v->confirm = 1;
	snprintf(lb, sizeof(lb), "%s: verify[%zu]", sp, idx);
	if (item->type != YAML_MAPPING_NODE || item->data.mapping.pairs.top - item->data.mapping.pairs.start != 1) {
		cg_cfg_err(c, item,
		       "%s: expected one scheme, e.g. `- sentry: {secret: ...}` (schemes: hmac, sentry, pagerduty, "
		       "standard_webhooks, grafana, sns)",
		       lb);
		return;
	}
	yaml_node_pair_t *pair = item->data.mapping.pairs.start;
	yaml_node_t *k = yaml_document_get_node(c->doc, pair->key);
	yaml_node_t *val = cg_cfg_node(c, pair->value);
	if (!k || !val)
		return;
	const char *kn = k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "";
	size_t si;
	for (si = 0; si < CG_KEYS_N(scheme_rows); si++)
		if (strcmp(kn, scheme_rows[si].key) == 0)
			break;
	if (si == CG_KEYS_N(scheme_rows)) {
		cg_cfg_err(c, k, "%s: unknown scheme '%s' (schemes: hmac, sentry, pagerduty, standard_webhooks, grafana, sns)",
		       lb, cg_cfg_disp(kn, b, sizeof(b)));
		return;
	}
	v->kind = (enum cg_verify_kind)(si + 1);
	snprintf(lb, sizeof(lb), "%s: verify.%s", sp, kn);
	snprintf(where, sizeof(where), "%s verify.%s", sp, kn);
	if (cg_cfg_is_null(val))
		cg_keys_empty(c, CG_KEYS_SUB(&verify_field_keys), lb, &m);
	else if (cg_keys_match(c, val, CG_KEYS_SUB(&verify_field_keys), lb, where, &m))
		return;
	for (size_t i = 0; i < V_N; i++) {
		int allowed = 0;
		for (const char *const *ok = scheme_rows[si].names; *ok; ok++)
			allowed |= strcmp(*ok, verify_field_rows[i].key) == 0;
		f[i] = m.val[i];
		if (f[i] && !allowed) {
			cg_cfg_err(c, f[i], "%s: '%s' does not apply to this scheme", lb, verify_field_rows[i].key);
			f[i] = NULL;
		}
	}
	char fl[340];
	size_t errs0 = c->nerrs;
	/* Secrets: secret, secret_file and secrets all add up (rotation: old and new both valid). */
	if (f[V_SECRET]) {
		snprintf(fl, sizeof(fl), "%s.secret", lb);
		char *s = cg_cfg_scalar(c, f[V_SECRET], fl, "a string", 1);
		if (s)
			add_secret(c, f[V_SECRET], fl, v, s);
	}
	if (f[V_SECRET_FILE]) {
		snprintf(fl, sizeof(fl), "%s.secret_file", lb);
		char *s = NULL;
		if (!cg_cfg_secret_file(c, f[V_SECRET_FILE], fl, &s))
			add_secret(c, f[V_SECRET_FILE], fl, v, s);
	}
	if (f[V_SECRETS]) {
		snprintf(fl, sizeof(fl), "%s.secrets", lb);
		char **sv = NULL;
		size_t ns = 0;
		if (!cg_cfg_strs(c, f[V_SECRETS], fl, 2, &sv, &ns)) {
			for (size_t i = 0; i < ns; i++) {
				add_secret(c, f[V_SECRETS], fl, v, sv[i]);
				sv[i] = NULL;
			}
			free(sv);
		}
	}
	if (v->kind != CG_VERIFY_SNS && v->nsecrets == 0 && c->nerrs == errs0)
		cg_cfg_err(c, val, "%s: give secret, secret_file or secrets", lb);

	if (f[V_REPLAY_WINDOW]) {
		snprintf(fl, sizeof(fl), "%s.replay_window", lb);
		cg_cfg_duration(c, f[V_REPLAY_WINDOW], fl, CG_MS_SECOND, CG_MS_DAY, &v->replay_window_ms);
	}
	switch (v->kind) {
	case CG_VERIFY_HMAC:
		if (!f[V_HEADER]) {
			cg_cfg_err(c, val, "%s: header is required (the request header holding the signature)", lb);
		} else {
			snprintf(fl, sizeof(fl), "%s.header", lb);
			cg_cfg_name(c, f[V_HEADER], fl, &v->header);
		}
		if (f[V_ENCODING]) {
			int e;
			snprintf(fl, sizeof(fl), "%s.encoding", lb);
			if (!cg_cfg_enum(c, f[V_ENCODING], fl, enc_names, &e))
				v->encoding = (enum cg_verify_enc)e;
		}
		if (f[V_PREFIX]) {
			snprintf(fl, sizeof(fl), "%s.prefix", lb);
			cg_cfg_str(c, f[V_PREFIX], fl, &v->prefix);
		}
		if (f[V_TS_HEADER]) {
			snprintf(fl, sizeof(fl), "%s.timestamp_header", lb);
			cg_cfg_name(c, f[V_TS_HEADER], fl, &v->timestamp_header);
		}
		if (f[V_SIGNED]) {
			snprintf(fl, sizeof(fl), "%s.signed", lb);
			if (!cg_cfg_str(c, f[V_SIGNED], fl, &v->signed_fmt)) {
				if (!strstr(v->signed_fmt, "{body}"))
					cg_cfg_err(c, f[V_SIGNED], "%s: must contain {body}", fl);
				else if (strstr(v->signed_fmt, "{ts}") && !v->timestamp_header)
					cg_cfg_err(c, f[V_SIGNED], "%s: {ts} needs timestamp_header", fl);
			}
		} else if (v->timestamp_header) {
			v->signed_fmt = dup_or_oom(c, "{ts}:{body}");
		}
		break;
	case CG_VERIFY_SENTRY:
		v->header = dup_or_oom(c, "Sentry-Hook-Signature");
		break;
	case CG_VERIFY_PAGERDUTY:
		v->header = dup_or_oom(c, "X-PagerDuty-Signature");
		break;
	case CG_VERIFY_STDWH:
		v->header = dup_or_oom(c, "webhook-signature");
		v->timestamp_header = dup_or_oom(c, "webhook-timestamp");
		v->encoding = CG_VERIFY_BASE64;
		v->signed_fmt = dup_or_oom(c, "{id}.{ts}.{body}");
		break;
	case CG_VERIFY_GRAFANA: {
		int ts = 0;
		v->header = dup_or_oom(c, "X-Grafana-Alerting-Signature");
		snprintf(fl, sizeof(fl), "%s.timestamp", lb);
		if (f[V_TIMESTAMP] && !cg_cfg_bool(c, f[V_TIMESTAMP], fl, &ts) && ts) {
			v->timestamp_header = dup_or_oom(c, "X-Grafana-Alerting-Timestamp");
			v->signed_fmt = dup_or_oom(c, "{ts}:{body}");
		}
		break;
	}
	case CG_VERIFY_SNS:
		snprintf(fl, sizeof(fl), "%s.cert_hosts", lb);
		get_regexes(c, f[V_CERT_HOSTS], fl, &v->cert_hosts, &v->ncert_hosts);
		snprintf(fl, sizeof(fl), "%s.confirm_hosts", lb);
		get_regexes(c, f[V_CONFIRM_HOSTS], fl, &v->confirm_hosts, &v->nconfirm_hosts);
		if (f[V_CA_FILE]) {
			snprintf(fl, sizeof(fl), "%s.ca_file", lb);
			cg_cfg_path(c, f[V_CA_FILE], fl, &v->ca_file);
		}
		if (f[V_CERT_FILE]) {
			snprintf(fl, sizeof(fl), "%s.cert_file", lb);
			cg_cfg_path(c, f[V_CERT_FILE], fl, &v->cert_file);
		}
		if (f[V_CONFIRM]) {
			snprintf(fl, sizeof(fl), "%s.confirm", lb);
			cg_cfg_bool(c, f[V_CONFIRM], fl, &v->confirm);
		}
		break;
	}
}

static void parse_verify(struct cg_cfg *c, yaml_node_t *n, const char *sp, struct cg_source_config *s)
{
	size_t cnt = n->type == YAML_SEQUENCE_NODE ? (size_t)(n->data.sequence.items.top - n->data.sequence.items.start) : 1;
	if (cnt == 0) {
		cg_cfg_err(c, n, "%s: verify: the list is empty", sp);
		return;
	}
	if (!(s->verify = calloc(cnt, sizeof(*s->verify)))) {
		c->oom = 1;
		return;
	}
	for (size_t i = 0; i < cnt; i++) {
		yaml_node_t *item = n->type == YAML_SEQUENCE_NODE ? cg_cfg_node(c, n->data.sequence.items.start[i]) : n;
		s->nverify++; /* counted first so cleanup sees partial entries */
		if (item)
			parse_verify_one(c, item, sp, i, &s->verify[i]);
		for (size_t j = 0; item && j < i; j++)
			if (s->verify[i].kind && s->verify[j].kind == s->verify[i].kind && s->verify[i].kind == CG_VERIFY_SNS)
				cg_cfg_err(c, item, "%s: verify: sns is given twice", sp);
	}
}

int cg_cfg_auth(const struct cg_keyarg *a)
{
	struct cg_source_config *s = a->base;
	size_t errs0 = a->c->nerrs;
	parse_auth(a->c, a->node, a->owner, &s->auth);
	return a->c->nerrs == errs0 ? 0 : -1;
}

void cg_cfg_auth_free(void *base, const struct cg_key *k)
{
	struct cg_auth_config *a = &((struct cg_source_config *)base)->auth;
	(void)k;
	cg_cfg_strv_free(a->bearer, a->nbearer, 1);
	for (size_t i = 0; i < a->nbasic; i++)
		cg_keys_free(CG_KEYS_SUB(&basic_keys), &a->basic[i]);
	free(a->basic);
}

int cg_cfg_verify(const struct cg_keyarg *a)
{
	size_t errs0 = a->c->nerrs;
	parse_verify(a->c, a->node, a->owner, a->base);
	return a->c->nerrs == errs0 ? 0 : -1;
}

void cg_cfg_verify_free(void *base, const struct cg_key *k)
{
	struct cg_source_config *s = base;
	(void)k;
	for (size_t i = 0; i < s->nverify; i++)
		verify_cleanup(&s->verify[i]);
	free(s->verify);
}
