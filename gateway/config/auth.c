/* auth.c: a source's `auth:` (bearer tokens, basic credentials) and `verify:` (signature schemes). */

#include "cfgint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <yaml.h>

static int parse_basic_one(struct cg_cfg *c, yaml_node_t *n, const char *sp, const char *label,
			   struct cg_basic_cred *cred)
{
	enum { B_USER, B_PASSWORD, B_PASSWORD_FILE, B_N };
	struct cg_cfg_field f[B_N] = {
		[B_USER] = {"user", NULL}, [B_PASSWORD] = {"password", NULL}, [B_PASSWORD_FILE] = {"password_file", NULL}};
	char lb[320], lb2[320], where[256];
	int rc = 0;

	snprintf(where, sizeof(where), "%s auth.basic", sp);
	if (cg_cfg_fields(c, n, label, where, f, B_N))
		return -1;
	if (!f[B_USER].val) {
		cg_cfg_err(c, n, "%s: user is required", label);
		rc = -1;
	} else {
		snprintf(lb, sizeof(lb), "%s.user", label);
		if (cg_cfg_name(c, f[B_USER].val, lb, &cred->user)) {
			rc = -1;
		} else if (strchr(cred->user, ':')) {
			cg_cfg_err(c, f[B_USER].val, "%s: must not contain ':'", lb);
			rc = -1;
		}
	}
	snprintf(lb, sizeof(lb), "%s.password", label);
	snprintf(lb2, sizeof(lb2), "%s.password_file", label);
	if (cg_cfg_secret(c, f[B_PASSWORD].val, f[B_PASSWORD_FILE].val, lb, lb2, &cred->password))
		rc = -1;
	else if (!cred->password) {
		cg_cfg_err(c, n, "%s: password or password_file is required", label);
		rc = -1;
	}
	return rc;
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

void cg_cfg_parse_auth(struct cg_cfg *c, yaml_node_t *n, const char *sp, struct cg_auth_config *a)
{
	enum { A_BEARER, A_BEARER_FILE, A_BASIC, A_N };
	struct cg_cfg_field f[A_N] = {
		[A_BEARER] = {"bearer", NULL}, [A_BEARER_FILE] = {"bearer_file", NULL}, [A_BASIC] = {"basic", NULL}};
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
	if (cg_cfg_fields(c, n, lb, where, f, A_N))
		return;
	if (!f[A_BEARER].val && !f[A_BEARER_FILE].val && !f[A_BASIC].val) {
		cg_cfg_err(c, n, "%s: give bearer, bearer_file or basic (or write `auth: none`)", lb);
		return;
	}
	int bad = 0;
	char **tok = NULL, **files = NULL;
	size_t ntok = 0, nfiles = 0;
	if (f[A_BEARER].val) {
		snprintf(lb, sizeof(lb), "%s: auth.bearer", sp);
		if (cg_cfg_strs(c, f[A_BEARER].val, lb, 2, &tok, &ntok))
			bad = 1;
		for (size_t i = 0; i < ntok; i++) {
			yaml_node_t *bv = f[A_BEARER].val;
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
	if (f[A_BEARER_FILE].val) {
		snprintf(lb, sizeof(lb), "%s: auth.bearer_file", sp);
		yaml_node_t *fn = f[A_BEARER_FILE].val;
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
	if (f[A_BASIC].val) {
		yaml_node_t *bn = f[A_BASIC].val;
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

void cg_cfg_verify_cleanup(struct cg_verify_config *v)
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

static void parse_verify_one(struct cg_cfg *c, yaml_node_t *item, const char *sp, size_t idx, struct cg_verify_config *v)
{
	enum {
		V_SECRET, V_SECRET_FILE, V_SECRETS, V_HEADER, V_ENCODING, V_PREFIX, V_TS_HEADER, V_SIGNED,
		V_REPLAY_WINDOW, V_TIMESTAMP, V_CERT_HOSTS, V_CONFIRM_HOSTS, V_CA_FILE, V_CERT_FILE, V_CONFIRM, V_N
	};
	static const struct {
		const char *name;
		enum cg_verify_kind kind;
		uint64_t keys; /* allowed fields */
	} schemes[] = {
		{"hmac", CG_VERIFY_HMAC,
		 1u << V_SECRET | 1u << V_SECRET_FILE | 1u << V_SECRETS | 1u << V_HEADER | 1u << V_ENCODING |
			 1u << V_PREFIX | 1u << V_TS_HEADER | 1u << V_SIGNED | 1u << V_REPLAY_WINDOW},
		{"sentry", CG_VERIFY_SENTRY, 1u << V_SECRET | 1u << V_SECRET_FILE | 1u << V_SECRETS},
		{"pagerduty", CG_VERIFY_PAGERDUTY, 1u << V_SECRET | 1u << V_SECRET_FILE | 1u << V_SECRETS},
		{"standard_webhooks", CG_VERIFY_STDWH,
		 1u << V_SECRET | 1u << V_SECRET_FILE | 1u << V_SECRETS | 1u << V_REPLAY_WINDOW},
		{"grafana", CG_VERIFY_GRAFANA,
		 1u << V_SECRET | 1u << V_SECRET_FILE | 1u << V_SECRETS | 1u << V_TIMESTAMP | 1u << V_REPLAY_WINDOW},
		{"sns", CG_VERIFY_SNS,
		 1u << V_CERT_HOSTS | 1u << V_CONFIRM_HOSTS | 1u << V_CA_FILE | 1u << V_CERT_FILE | 1u << V_CONFIRM},
	};
	struct cg_cfg_field f[V_N] = {[V_SECRET] = {"secret", NULL},
			       [V_SECRET_FILE] = {"secret_file", NULL},
			       [V_SECRETS] = {"secrets", NULL},
			       [V_HEADER] = {"header", NULL},
			       [V_ENCODING] = {"encoding", NULL},
			       [V_PREFIX] = {"prefix", NULL},
			       [V_TS_HEADER] = {"timestamp_header", NULL},
			       [V_SIGNED] = {"signed", NULL},
			       [V_REPLAY_WINDOW] = {"replay_window", NULL},
			       [V_TIMESTAMP] = {"timestamp", NULL},
			       [V_CERT_HOSTS] = {"cert_hosts", NULL},
			       [V_CONFIRM_HOSTS] = {"confirm_hosts", NULL},
			       [V_CA_FILE] = {"ca_file", NULL},
			       [V_CERT_FILE] = {"cert_file", NULL},
			       [V_CONFIRM] = {"confirm", NULL}};
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
	for (si = 0; si < sizeof(schemes) / sizeof(schemes[0]); si++)
		if (strcmp(kn, schemes[si].name) == 0)
			break;
	if (si == sizeof(schemes) / sizeof(schemes[0])) {
		cg_cfg_err(c, k, "%s: unknown scheme '%s' (schemes: hmac, sentry, pagerduty, standard_webhooks, grafana, sns)",
		       lb, cg_cfg_disp(kn, b, sizeof(b)));
		return;
	}
	v->kind = schemes[si].kind;
	snprintf(lb, sizeof(lb), "%s: verify.%s", sp, kn);
	snprintf(where, sizeof(where), "%s verify.%s", sp, kn);
	if (cg_cfg_is_null(val)) {
		for (size_t i = 0; i < V_N; i++)
			f[i].val = NULL;
	} else if (cg_cfg_fields(c, val, lb, where, f, V_N)) {
		return;
	}
	for (size_t i = 0; i < V_N; i++) {
		if (f[i].val && !(schemes[si].keys & (1u << i))) {
			cg_cfg_err(c, f[i].val, "%s: '%s' does not apply to this scheme", lb, f[i].key);
			f[i].val = NULL;
		}
	}
	char fl[340];
	size_t errs0 = c->nerrs;
	/* Secrets: secret, secret_file and secrets all add up (rotation: old and new both valid). */
	if (f[V_SECRET].val) {
		snprintf(fl, sizeof(fl), "%s.secret", lb);
		char *s = cg_cfg_scalar(c, f[V_SECRET].val, fl, "a string", 1);
		if (s)
			add_secret(c, f[V_SECRET].val, fl, v, s);
	}
	if (f[V_SECRET_FILE].val) {
		snprintf(fl, sizeof(fl), "%s.secret_file", lb);
		char *s = NULL;
		if (!cg_cfg_secret_file(c, f[V_SECRET_FILE].val, fl, &s))
			add_secret(c, f[V_SECRET_FILE].val, fl, v, s);
	}
	if (f[V_SECRETS].val) {
		snprintf(fl, sizeof(fl), "%s.secrets", lb);
		char **sv = NULL;
		size_t ns = 0;
		if (!cg_cfg_strs(c, f[V_SECRETS].val, fl, 2, &sv, &ns)) {
			for (size_t i = 0; i < ns; i++) {
				add_secret(c, f[V_SECRETS].val, fl, v, sv[i]);
				sv[i] = NULL;
			}
			free(sv);
		}
	}
	if (v->kind != CG_VERIFY_SNS && v->nsecrets == 0 && c->nerrs == errs0)
		cg_cfg_err(c, val, "%s: give secret, secret_file or secrets", lb);

	if (f[V_REPLAY_WINDOW].val) {
		snprintf(fl, sizeof(fl), "%s.replay_window", lb);
		cg_cfg_duration(c, f[V_REPLAY_WINDOW].val, fl, CG_MS_SECOND, CG_MS_DAY, &v->replay_window_ms);
	}
	switch (v->kind) {
	case CG_VERIFY_HMAC:
		if (!f[V_HEADER].val) {
			cg_cfg_err(c, val, "%s: header is required (the request header holding the signature)", lb);
		} else {
			snprintf(fl, sizeof(fl), "%s.header", lb);
			cg_cfg_name(c, f[V_HEADER].val, fl, &v->header);
		}
		if (f[V_ENCODING].val) {
			int e;
			snprintf(fl, sizeof(fl), "%s.encoding", lb);
			if (!cg_cfg_enum(c, f[V_ENCODING].val, fl, enc_names, &e))
				v->encoding = (enum cg_verify_enc)e;
		}
		if (f[V_PREFIX].val) {
			snprintf(fl, sizeof(fl), "%s.prefix", lb);
			cg_cfg_str(c, f[V_PREFIX].val, fl, &v->prefix);
		}
		if (f[V_TS_HEADER].val) {
			snprintf(fl, sizeof(fl), "%s.timestamp_header", lb);
			cg_cfg_name(c, f[V_TS_HEADER].val, fl, &v->timestamp_header);
		}
		if (f[V_SIGNED].val) {
			snprintf(fl, sizeof(fl), "%s.signed", lb);
			if (!cg_cfg_str(c, f[V_SIGNED].val, fl, &v->signed_fmt)) {
				if (!strstr(v->signed_fmt, "{body}"))
					cg_cfg_err(c, f[V_SIGNED].val, "%s: must contain {body}", fl);
				else if (strstr(v->signed_fmt, "{ts}") && !v->timestamp_header)
					cg_cfg_err(c, f[V_SIGNED].val, "%s: {ts} needs timestamp_header", fl);
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
		if (f[V_TIMESTAMP].val && !cg_cfg_bool(c, f[V_TIMESTAMP].val, fl, &ts) && ts) {
			v->timestamp_header = dup_or_oom(c, "X-Grafana-Alerting-Timestamp");
			v->signed_fmt = dup_or_oom(c, "{ts}:{body}");
		}
		break;
	}
	case CG_VERIFY_SNS:
		snprintf(fl, sizeof(fl), "%s.cert_hosts", lb);
		get_regexes(c, f[V_CERT_HOSTS].val, fl, &v->cert_hosts, &v->ncert_hosts);
		snprintf(fl, sizeof(fl), "%s.confirm_hosts", lb);
		get_regexes(c, f[V_CONFIRM_HOSTS].val, fl, &v->confirm_hosts, &v->nconfirm_hosts);
		if (f[V_CA_FILE].val) {
			snprintf(fl, sizeof(fl), "%s.ca_file", lb);
			cg_cfg_path(c, f[V_CA_FILE].val, fl, &v->ca_file);
		}
		if (f[V_CERT_FILE].val) {
			snprintf(fl, sizeof(fl), "%s.cert_file", lb);
			cg_cfg_path(c, f[V_CERT_FILE].val, fl, &v->cert_file);
		}
		if (f[V_CONFIRM].val) {
			snprintf(fl, sizeof(fl), "%s.confirm", lb);
			cg_cfg_bool(c, f[V_CONFIRM].val, fl, &v->confirm);
		}
		break;
	}
}

void cg_cfg_parse_verify(struct cg_cfg *c, yaml_node_t *n, const char *sp, struct cg_source_config *s)
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
