/* verify.c: webhook signatures over the raw body, constant-time, several secrets per scheme. */
#include "verify.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "err.h"

/* ---- decoding ---- */

static int hexv(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

int cg_verify_hex_decode(const char *s, size_t len, unsigned char *out, size_t cap)
{
	if (len % 2 || len / 2 > cap)
		return -1;
	for (size_t i = 0; i < len; i += 2) {
		int h = hexv((unsigned char)s[i]), l = hexv((unsigned char)s[i + 1]);
		if (h < 0 || l < 0)
			return -1;
		out[i / 2] = (unsigned char)(h << 4 | l);
	}
	return (int)(len / 2);
}

static int b64v(int ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+' || ch == '-')
		return 62; /* base64url too: senders differ */
	if (ch == '/' || ch == '_')
		return 63;
	return -1;
}

int cg_verify_b64_decode(const char *s, size_t len, unsigned char *out, size_t cap)
{
	while (len > 0 && s[len - 1] == '=')
		len--;
	if (len % 4 == 1)
		return -1;
	size_t o = 0;
	unsigned acc = 0, nb = 0;
	for (size_t i = 0; i < len; i++) {
		int v = b64v((unsigned char)s[i]);
		if (v < 0)
			return -1;
		acc = (acc << 6) | (unsigned)v;
		nb += 6;
		if (nb >= 8) {
			nb -= 8;
			if (o >= cap)
				return -1;
			out[o++] = (unsigned char)(acc >> nb);
			acc &= (1u << nb) - 1;
		}
	}
	return (int)o;
}

int cg_verify_parse_ts(const char *s, int64_t *ms)
{
	int64_t v = 0;
	size_t n = 0;
	while (*s == ' ')
		s++;
	for (; s[n] >= '0' && s[n] <= '9'; n++) {
		if (n >= 15)
			return CG_EINVAL;
		v = v * 10 + (s[n] - '0');
	}
	const char *e = s + n;
	while (*e == ' ')
		e++;
	if (n == 0 || *e)
		return CG_EINVAL;
	/* Seconds unless the value can only be milliseconds (past year 5138 as seconds). */
	*ms = v >= 100000000000LL ? v : v * 1000;
	return 0;
}

/* ---- signature header parsing ---- */

static size_t trim(const char **p, size_t len)
{
	const char *s = *p;
	while (len && (*s == ' ' || *s == '\t')) {
		s++;
		len--;
	}
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	*p = s;
	return len;
}

static int decode_sig(enum cg_verify_enc enc, const char *s, size_t len, unsigned char *out)
{
	unsigned char tmp[CG_VERIFY_SIG_LEN + 4];
	int n = enc == CG_VERIFY_HEX ? cg_verify_hex_decode(s, len, tmp, sizeof(tmp))
				     : cg_verify_b64_decode(s, len, tmp, sizeof(tmp));
	if (n != CG_VERIFY_SIG_LEN)
		return -1;
	memcpy(out, tmp, CG_VERIFY_SIG_LEN);
	return 0;
}

size_t cg_verify_parse_sigs(const struct cg_verify_config *v, const char *value,
			    unsigned char sigs[CG_VERIFY_MAX_SIGS][CG_VERIFY_SIG_LEN])
{
	size_t n = 0;
	if (!value)
		return 0;
	if (v->kind == CG_VERIFY_PAGERDUTY || v->kind == CG_VERIFY_STDWH) {
		/* PagerDuty: "v1=hex,v1=hex"; Standard Webhooks: "v1,b64 v1,b64". Other versions are skipped. */
		char sep = v->kind == CG_VERIFY_PAGERDUTY ? ',' : ' ';
		const char *vp = v->kind == CG_VERIFY_PAGERDUTY ? "v1=" : "v1,";
		enum cg_verify_enc enc = v->kind == CG_VERIFY_PAGERDUTY ? CG_VERIFY_HEX : CG_VERIFY_BASE64;
		const char *p = value;
		while (*p && n < CG_VERIFY_MAX_SIGS) {
			const char *end = strchr(p, sep);
			size_t len = end ? (size_t)(end - p) : strlen(p);
			const char *item = p;
			size_t il = trim(&item, len);
			if (il > 3 && strncmp(item, vp, 3) == 0 && decode_sig(enc, item + 3, il - 3, sigs[n]) == 0)
				n++;
			if (!end)
				break;
			p = end + 1;
		}
		return n;
	}
	const char *s = value;
	size_t len = trim(&s, strlen(value));
	if (v->prefix && *v->prefix) {
		size_t pl = strlen(v->prefix);
		if (len < pl || strncasecmp(s, v->prefix, pl) != 0)
			return 0;
		s += pl;
		len -= pl;
	}
	if (decode_sig(v->encoding, s, len, sigs[0]) == 0)
		n = 1;
	return n;
}

/* ---- HMAC ---- */

struct seg {
	const void *p;
	size_t len;
};

/* Splits fmt ({ts}, {id}, {body}) into segments; returns the count or -1 when too many. */
static int build_segments(const char *fmt, const char *ts, const char *id, const char *body, size_t blen,
			  struct seg *out, int cap)
{
	int n = 0;
	const char *lit = fmt;
	for (const char *p = fmt;; p++) {
		const char *val = NULL;
		size_t vlen = 0, klen = 0;
		if (*p == '{') {
			if (strncmp(p, "{ts}", 4) == 0) {
				val = ts;
				vlen = strlen(ts);
				klen = 4;
			} else if (strncmp(p, "{id}", 4) == 0) {
				val = id;
				vlen = strlen(id);
				klen = 4;
			} else if (strncmp(p, "{body}", 6) == 0) {
				val = body;
				vlen = blen;
				klen = 6;
			}
		}
		if (!*p || klen) {
			if (p > lit) {
				if (n >= cap)
					return -1;
				out[n++] = (struct seg){lit, (size_t)(p - lit)};
			}
			if (!*p)
				break;
			if (n >= cap)
				return -1;
			out[n++] = (struct seg){val, vlen};
			p += klen - 1;
			lit = p + 1;
		}
	}
	return n;
}

static int hmac_sha256(const struct cg_secret *key, const struct seg *segs, int nseg, unsigned char out[32])
{
	int rc = -1;
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
			       OSSL_PARAM_construct_end()};
	size_t olen = 0;
	if (!ctx || !EVP_MAC_init(ctx, key->p, key->len, params))
		goto out;
	for (int i = 0; i < nseg; i++)
		if (segs[i].len && !EVP_MAC_update(ctx, segs[i].p, segs[i].len))
			goto out;
	if (!EVP_MAC_final(ctx, out, &olen, 32) || olen != 32)
		goto out;
	rc = 0;
out:
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return rc;
}

static void fmt_window(uint64_t ms, char *buf, size_t len)
{
	if (ms && ms % 86400000 == 0)
		snprintf(buf, len, "%llud", (unsigned long long)(ms / 86400000));
	else if (ms && ms % 3600000 == 0)
		snprintf(buf, len, "%lluh", (unsigned long long)(ms / 3600000));
	else if (ms && ms % 60000 == 0)
		snprintf(buf, len, "%llum", (unsigned long long)(ms / 60000));
	else if (ms && ms % 1000 == 0)
		snprintf(buf, len, "%llus", (unsigned long long)(ms / 1000));
	else
		snprintf(buf, len, "%llums", (unsigned long long)ms);
}

int cg_verify_hmac(const struct cg_verify_config *v, const struct cg_http_request *req, int64_t now_ms,
		   struct cg_verify_pass *pass, char *why, size_t whylen)
{
	unsigned char sigs[CG_VERIFY_MAX_SIGS][CG_VERIFY_SIG_LEN];
	unsigned char mac[32];
	const char *id = "", *ts = "";
	int rc = CG_EAUTH;

	if (v->kind == CG_VERIFY_SNS || !v->header) {
		snprintf(why, whylen, "internal error: not an HMAC scheme");
		return CG_EAUTH;
	}
	const char *hv = cg_http_header_get(req, v->header);
	if (!hv) {
		snprintf(why, whylen, "missing header %s", v->header);
		return CG_EAUTH;
	}
	if (v->kind == CG_VERIFY_STDWH) {
		id = cg_http_header_get(req, "webhook-id");
		if (!id) {
			snprintf(why, whylen, "missing header webhook-id");
			return CG_EAUTH;
		}
		if (!*id || strlen(id) >= sizeof(pass->replay_id)) {
			snprintf(why, whylen, "malformed header webhook-id");
			return CG_EAUTH;
		}
	}
	if (v->timestamp_header) {
		ts = cg_http_header_get(req, v->timestamp_header);
		int64_t tms;
		if (!ts) {
			snprintf(why, whylen, "missing header %s", v->timestamp_header);
			return CG_EAUTH;
		}
		if (cg_verify_parse_ts(ts, &tms) != 0) {
			snprintf(why, whylen, "malformed timestamp in header %s", v->timestamp_header);
			return CG_EAUTH;
		}
		int64_t d = now_ms - tms;
		if (d < 0)
			d = -d;
		if ((uint64_t)d > v->replay_window_ms) {
			char w[32];
			fmt_window(v->replay_window_ms, w, sizeof(w));
			snprintf(why, whylen, "timestamp outside the %s window", w);
			return CG_EAUTH;
		}
	}
	size_t nsig = cg_verify_parse_sigs(v, hv, sigs);
	if (nsig == 0) {
		snprintf(why, whylen, "malformed header %s", v->header);
		goto out;
	}
	struct seg segs[16];
	int nseg = build_segments(v->signed_fmt ? v->signed_fmt : "{body}", ts, id, req->body, req->body_len, segs, 16);
	if (nseg < 0) {
		snprintf(why, whylen, "internal error: signed format too complex");
		goto out;
	}
	int ok = 0, err = 0;
	size_t matched = 0;
	/* No early exit: the time taken does not depend on which secret or signature matched. */
	for (size_t k = 0; k < v->nsecrets; k++) {
		if (hmac_sha256(&v->secrets[k], segs, nseg, mac) != 0) {
			err = 1;
			continue;
		}
		for (size_t i = 0; i < nsig; i++) {
			int eq = CRYPTO_memcmp(mac, sigs[i], sizeof(mac)) == 0;
			ok |= eq;
			matched = eq ? i : matched; /* which of the sender's own signatures: not secret */
		}
	}
	if (!ok) {
		snprintf(why, whylen, err ? "signature check failed (crypto error)" : "signature mismatch");
		goto out;
	}
	if (v->kind == CG_VERIFY_STDWH && pass) {
		snprintf(pass->replay_id, sizeof(pass->replay_id), "%s", id);
	} else if (v->timestamp_header && v->signed_fmt && strstr(v->signed_fmt, "{ts}") && pass) {
		/* A signed timestamp without an id (grafana, hmac with timestamp_header and {ts}): the
		 * window alone would let a captured request be replayed within it, so the signature
		 * is remembered like an id. (Without {ts} in what is signed, identical bodies have
		 * identical signatures: nothing to tell a replay from a new alert.) */
		static const char hex[] = "0123456789abcdef";
		char *o = pass->replay_id;
		memcpy(o, "sig:", 4);
		o += 4;
		for (size_t i = 0; i < sizeof(mac); i++) {
			*o++ = hex[sigs[matched][i] >> 4];
			*o++ = hex[sigs[matched][i] & 15];
		}
		*o = '\0';
	}
	rc = 0;
out:
	OPENSSL_cleanse(mac, sizeof(mac));
	OPENSSL_cleanse(sigs, sizeof(sigs));
	return rc;
}

/* ---- AWS SNS ---- */

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

int cg_sns_parse(const char *body, size_t len, struct cg_sns_msg *m, char *why, size_t whylen)
{
	memset(m, 0, sizeof(*m));
	m->doc = cJSON_ParseWithLength(body, len);
	if (!cJSON_IsObject(m->doc)) {
		snprintf(why, whylen, "not an SNS message: the body is not a JSON object");
		cg_sns_msg_cleanup(m);
		return CG_EAUTH;
	}
	m->type = jstr(m->doc, "Type");
	m->message_id = jstr(m->doc, "MessageId");
	m->token = jstr(m->doc, "Token");
	m->topic_arn = jstr(m->doc, "TopicArn");
	m->subject = jstr(m->doc, "Subject");
	m->message = jstr(m->doc, "Message");
	m->subscribe_url = jstr(m->doc, "SubscribeURL");
	m->timestamp = jstr(m->doc, "Timestamp");
	m->sig_version = jstr(m->doc, "SignatureVersion");
	m->signature = jstr(m->doc, "Signature");
	m->cert_url = jstr(m->doc, "SigningCertURL");
	if (!m->signature || !m->cert_url || !m->sig_version) {
		snprintf(why, whylen, "missing SNS field %s",
			 !m->signature ? "Signature" : !m->cert_url ? "SigningCertURL" : "SignatureVersion");
		cg_sns_msg_cleanup(m);
		return CG_EAUTH;
	}
	if (strcmp(m->sig_version, "1") != 0 && strcmp(m->sig_version, "2") != 0) {
		snprintf(why, whylen, "unsupported SNS SignatureVersion (want 1 or 2)");
		cg_sns_msg_cleanup(m);
		return CG_EAUTH;
	}
	return 0;
}

void cg_sns_msg_cleanup(struct cg_sns_msg *m)
{
	cJSON_Delete(m->doc);
	memset(m, 0, sizeof(*m));
}

struct sfield {
	const char *name, *val;
	int optional;
};

int cg_sns_string_to_sign(const struct cg_sns_msg *m, char **out, size_t *outlen, char *why, size_t whylen)
{
	struct sfield f[8];
	int n = 0;
	if (!m->type) {
		snprintf(why, whylen, "missing SNS field Type");
		return CG_EAUTH;
	}
	int note = strcmp(m->type, "Notification") == 0;
	int sub = strcmp(m->type, "SubscriptionConfirmation") == 0 || strcmp(m->type, "UnsubscribeConfirmation") == 0;
	if (!note && !sub) {
		snprintf(why, whylen, "unknown SNS message Type");
		return CG_EAUTH;
	}
	f[n++] = (struct sfield){"Message", m->message, 0};
	f[n++] = (struct sfield){"MessageId", m->message_id, 0};
	if (note) {
		f[n++] = (struct sfield){"Subject", m->subject, 1};
	} else {
		f[n++] = (struct sfield){"SubscribeURL", m->subscribe_url, 0};
	}
	f[n++] = (struct sfield){"Timestamp", m->timestamp, 0};
	if (sub)
		f[n++] = (struct sfield){"Token", m->token, 0};
	f[n++] = (struct sfield){"TopicArn", m->topic_arn, 0};
	f[n++] = (struct sfield){"Type", m->type, 0};
	size_t total = 1;
	for (int i = 0; i < n; i++) {
		if (!f[i].val) {
			if (f[i].optional)
				continue;
			snprintf(why, whylen, "missing SNS field %s", f[i].name);
			return CG_EAUTH;
		}
		total += strlen(f[i].name) + strlen(f[i].val) + 2;
	}
	char *s = malloc(total);
	if (!s)
		return CG_ENOMEM;
	size_t o = 0;
	for (int i = 0; i < n; i++) {
		if (!f[i].val)
			continue;
		size_t nl = strlen(f[i].name), vl = strlen(f[i].val);
		memcpy(s + o, f[i].name, nl);
		o += nl;
		s[o++] = '\n';
		memcpy(s + o, f[i].val, vl);
		o += vl;
		s[o++] = '\n';
	}
	s[o] = '\0';
	*out = s;
	*outlen = o;
	return 0;
}

int cg_verify_url_allowed(const char *url, const regex_t *hosts, size_t n, char *why, size_t whylen)
{
	char host[256 + 8]; /* a name of up to 255 bytes, and room for ":port" */
	if (!url || strncasecmp(url, "https://", 8) != 0) {
		snprintf(why, whylen, "URL is not https");
		return 0;
	}
	const char *a = url + 8;
	size_t alen = strcspn(a, "/?#");
	if (memchr(a, '@', alen) || memchr(a, '\\', alen)) {
		snprintf(why, whylen, "URL carries user info");
		return 0;
	}
	size_t hlen = strcspn(a, ":/?#");
	if (hlen == 0 || hlen >= 256 || hlen > alen) {
		snprintf(why, whylen, "URL has no valid host");
		return 0;
	}
	for (size_t i = 0; i < hlen; i++) {
		int ch = (unsigned char)a[i];
		if (!(isalnum(ch) || ch == '-' || ch == '.')) {
			snprintf(why, whylen, "URL has no valid host");
			return 0;
		}
		host[i] = (char)tolower(ch);
	}
	host[hlen] = '\0';
	int other_port = 0;
	if (a[hlen] == ':') {
		const char *p = a + hlen + 1;
		size_t plen = alen - hlen - 1;
		if (plen == 0 || plen > 5 || strspn(p, "0123456789") < plen) {
			snprintf(why, whylen, "URL has a bad port");
			return 0;
		}
		/* AWS serves certificates and confirmations on 443 only: another port on an allowed
		 * name is some other service. It must be named in a pattern ("^host:8443$"), which
		 * the anchored defaults never do. */
		unsigned long port = strtoul(p, NULL, 10);
		if (port != 443) {
			snprintf(host + hlen, sizeof(host) - hlen, ":%lu", port);
			other_port = 1;
		}
	}
	for (size_t i = 0; i < n; i++)
		if (regexec(&hosts[i], host, 0, NULL, 0) == 0)
			return 1;
	int host_ok = 0;
	host[hlen] = '\0';
	for (size_t i = 0; other_port && i < n && !host_ok; i++)
		host_ok = regexec(&hosts[i], host, 0, NULL, 0) == 0;
	snprintf(why, whylen, host_ok ? "URL port is not 443 (and host:port is not in the allowlist)"
				      : "URL host is not in the allowlist");
	return 0;
}

int cg_sns_verify(const struct cg_sns_msg *m, const char *pem, size_t pemlen, char *why, size_t whylen)
{
	int rc = CG_EAUTH;
	char *sts = NULL;
	size_t stslen = 0;
	unsigned char *sig = NULL;
	BIO *bio = NULL;
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	EVP_MD_CTX *md = NULL;

	rc = cg_sns_string_to_sign(m, &sts, &stslen, why, whylen);
	if (rc)
		goto out;
	rc = CG_EAUTH;
	size_t slen = strlen(m->signature);
	sig = malloc(slen + 1);
	if (!sig) {
		rc = CG_ENOMEM;
		goto out;
	}
	int n = cg_verify_b64_decode(m->signature, slen, sig, slen + 1);
	if (n <= 0) {
		snprintf(why, whylen, "malformed SNS Signature");
		goto out;
	}
	if (!(bio = BIO_new_mem_buf(pem, (int)pemlen)) || !(cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) ||
	    !(key = X509_get_pubkey(cert))) {
		snprintf(why, whylen, "SNS signing certificate unreadable");
		goto out;
	}
	const EVP_MD *dg = strcmp(m->sig_version, "1") == 0 ? EVP_sha1() : EVP_sha256();
	if (!(md = EVP_MD_CTX_new()) || EVP_DigestVerifyInit(md, NULL, dg, NULL, key) != 1 ||
	    EVP_DigestVerifyUpdate(md, sts, stslen) != 1) {
		snprintf(why, whylen, "signature check failed (crypto error)");
		goto out;
	}
	if (EVP_DigestVerifyFinal(md, sig, (size_t)n) != 1) {
		snprintf(why, whylen, "signature mismatch");
		goto out;
	}
	rc = 0;
out:
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(key);
	X509_free(cert);
	BIO_free(bio);
	free(sig);
	free(sts);
	return rc;
}
