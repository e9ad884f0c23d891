/* guard.c: inbound gate: client address, IP allowlist, credentials, signatures, SNS certificates. */
#define CG_LOG_COMPONENT "guard"
#include "guard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <arpa/inet.h>

#include <openssl/crypto.h>

#include "auth.h"
#include "err.h"
#include "fetch.h"
#include "log.h"

#define MAX_HOPS 32
#define CERT_CACHE_MAX 16
#define CERT_MAX_BYTES (64 * 1024)
#define CERT_TTL_MS (24LL * 3600 * 1000)
#define FETCH_TIMEOUT_MS 10000u

struct cert_entry {
	char *url;
	char *pem;
	size_t len;
	int64_t fetched_ms;
};

struct op;

/* One certificate download; checks waiting for the same URL share it. */
struct pending {
	struct cg_guard *g;
	char *url;
	struct op *waiters;
	struct pending *next;
};

struct op {
	struct cg_guard *g;
	struct cg_http_request *req;
	cg_guard_done_fn done;
	void *ud;
	char source[80];
	struct cg_verify_pass pass;
	struct cg_sns_msg msg;
	struct op *next; /* in its pending's waiters */
};

struct cg_guard {
	uv_loop_t *loop;
	struct cg_fetch *fetch;
	struct cert_entry cache[CERT_CACHE_MAX];
	struct pending *pend;
	int closing;
};

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int cg_guard_create(uv_loop_t *loop, const struct cg_config *cfg, struct cg_guard **out)
{
	struct cg_guard *g = calloc(1, sizeof(*g));
	if (!g)
		return CG_ENOMEM;
	g->loop = loop;
	int rc = cg_fetch_create(loop, cfg->dd_proxy, cfg->dd_ca_file, &g->fetch);
	if (rc) {
		free(g);
		return rc;
	}
	*out = g;
	return 0;
}

static void guard_free(struct cg_guard *g)
{
	for (size_t i = 0; i < CERT_CACHE_MAX; i++) {
		free(g->cache[i].url);
		free(g->cache[i].pem);
	}
	free(g);
}

struct destroy_ctx {
	struct cg_guard *g;
	void (*cb)(void *);
	void *ud;
};

static void fetch_closed(void *ud)
{
	struct destroy_ctx *d = ud;
	guard_free(d->g);
	void (*cb)(void *) = d->cb;
	void *cud = d->ud;
	free(d);
	if (cb)
		cb(cud);
}

void cg_guard_destroy(struct cg_guard *g, void (*on_closed)(void *ud), void *ud)
{
	if (!g || g->closing)
		return;
	g->closing = 1;
	struct destroy_ctx *d = malloc(sizeof(*d));
	if (!d) {
		/* Cannot wait for the fetch client: its transfers end now; leak the guard rather than
		 * free memory the close callbacks still use. */
		cg_fetch_destroy(g->fetch, NULL, NULL);
		if (on_closed)
			on_closed(ud);
		return;
	}
	d->g = g;
	d->cb = on_closed;
	d->ud = ud;
	/* Pending downloads finish with CG_ECLOSED: their waiters get 503. */
	cg_fetch_destroy(g->fetch, fetch_closed, d);
}

/* ---- client address ---- */

struct hop {
	const char *p;
	size_t len;
};

/* The address part of one hop: strips quotes, [v6] brackets and an IPv4 ":port". */
static int hop_addr(const char *p, size_t len, unsigned char a[16], int *fam)
{
	while (len && (*p == ' ' || *p == '\t')) {
		p++;
		len--;
	}
	while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
		len--;
	if (len >= 2 && p[0] == '"' && p[len - 1] == '"') {
		p++;
		len -= 2;
	}
	if (len && p[0] == '[') {
		const char *e = memchr(p, ']', len);
		if (!e)
			return -1;
		return cg_ip_parse(p + 1, (size_t)(e - p - 1), a, fam);
	}
	const char *c1 = memchr(p, ':', len);
	if (c1 && !memchr(c1 + 1, ':', len - (size_t)(c1 - p) - 1))
		len = (size_t)(c1 - p); /* a.b.c.d:port */
	return cg_ip_parse(p, len, a, fam);
}

/* Splits the Forwarded element list into its for= values. */
static size_t forwarded_hops(const char *v, struct hop *h, size_t n, size_t cap)
{
	const char *p = v;
	while (*p && n < cap) {
		size_t elen = 0;
		int q = 0;
		while (p[elen] && (q || p[elen] != ',')) {
			if (p[elen] == '"')
				q = !q;
			elen++;
		}
		struct hop found = {"", 0};
		for (size_t i = 0; i < elen;) {
			size_t plen = 0;
			int qq = 0;
			while (i + plen < elen && (qq || p[i + plen] != ';')) {
				if (p[i + plen] == '"')
					qq = !qq;
				plen++;
			}
			const char *pp = p + i;
			size_t pl = plen;
			while (pl && (*pp == ' ' || *pp == '\t')) {
				pp++;
				pl--;
			}
			if (pl > 4 && strncasecmp(pp, "for=", 4) == 0)
				found = (struct hop){pp + 4, pl - 4};
			i += plen + 1;
		}
		h[n++] = found;
		p += elen;
		if (*p == ',')
			p++;
	}
	return n;
}

static size_t xff_hops(const char *v, struct hop *h, size_t n, size_t cap)
{
	const char *p = v;
	while (n < cap) {
		size_t len = strcspn(p, ",");
		h[n++] = (struct hop){p, len};
		if (!p[len])
			break;
		p += len + 1;
	}
	return n;
}

void cg_guard_resolve_client(const struct cg_cidr *trusted, size_t n, int forwarded, const char *peer,
			     const char *const *values, size_t nvalues, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s", peer ? peer : "");
	if (!n || !cg_cidr_match(trusted, n, peer) || nvalues == 0)
		return;
	struct hop hops[MAX_HOPS];
	size_t nh = 0;
	for (size_t i = 0; i < nvalues; i++)
		nh = forwarded ? forwarded_hops(values[i], hops, nh, MAX_HOPS) : xff_hops(values[i], hops, nh, MAX_HOPS);
	/* Too many hops: the leftmost were cut, which only moves the answer toward the proxies. */
	for (size_t i = nh; i-- > 0;) {
		unsigned char a[16];
		int fam;
		char txt[INET6_ADDRSTRLEN];
		if (hop_addr(hops[i].p, hops[i].len, a, &fam) != 0)
			return; /* unparsable: believe nothing left of it (out: the hop to its right) */
		/* Print the normalised address, never the raw header text. */
		if (!inet_ntop(fam == 4 ? AF_INET : AF_INET6, a, txt, sizeof(txt)))
			return;
		snprintf(out, outlen, "%s", txt);
		if (!cg_cidr_match_addr(trusted, n, a, fam))
			return;
	}
}

void cg_guard_client_addr(const struct cg_config *cfg, struct cg_http_request *req)
{
	if (!cfg->ntrusted_proxies)
		return;
	const char *name = cfg->proxy_header_forwarded ? "Forwarded" : "X-Forwarded-For";
	const char *vals[8];
	size_t nv = 0;
	for (size_t i = 0; i < req->nheaders && nv < 8; i++)
		if (strcasecmp(req->headers[i].name, name) == 0)
			vals[nv++] = req->headers[i].value;
	char out[sizeof(req->remote_addr)];
	cg_guard_resolve_client(cfg->trusted_proxies, cfg->ntrusted_proxies, cfg->proxy_header_forwarded,
				req->remote_addr, vals, nv, out, sizeof(out));
	memcpy(req->remote_addr, out, sizeof(out));
}

/* ---- credentials and signatures ---- */

const struct cg_verify_config *cg_guard_sns_scheme(const struct cg_source_config *src)
{
	for (size_t i = 0; i < src->nverify; i++)
		if (src->verify[i].kind == CG_VERIFY_SNS)
			return &src->verify[i];
	return NULL;
}

/* Header or URL credentials per the source's auth section. 0 or CG_EAUTH with why. */
static int check_credentials(const struct cg_source_config *src, const struct cg_http_request *req,
			     const char *url_token, char *why, size_t whylen)
{
	const struct cg_auth_config *a = &src->auth;
	char qtok[512];
	int rc = 0;
	if (a->kind == CG_AUTH_NONE || a->kind == CG_AUTH_UNSET)
		return 0;
	if (!url_token) {
		int q = cg_http_query_get(req, "token", qtok, sizeof(qtok));
		if (q == 0)
			url_token = qtok;
		else if (q == CG_E2BIG) {
			snprintf(why, whylen, "invalid URL token");
			rc = CG_EAUTH;
			goto out;
		}
	}
	if (url_token) {
		if (a->nbearer == 0) {
			snprintf(why, whylen, "URL tokens not accepted by this source (it has no bearer tokens)");
			rc = CG_EAUTH;
		} else if (!cg_auth_check_token(a, url_token, strlen(url_token))) {
			snprintf(why, whylen, "invalid URL token");
			rc = CG_EAUTH;
		} else if (cg_http_header_get(req, "Authorization")) {
			/* Both given: both must hold, so a stale header cannot ride on a good URL. */
			rc = cg_auth_check(a, req, why, whylen);
		}
		goto out;
	}
	rc = cg_auth_check(a, req, why, whylen);
out:
	OPENSSL_cleanse(qtok, sizeof(qtok));
	return rc;
}

static void op_finish(struct op *o, int status, const char *why)
{
	o->done(o->req, status, why, &o->pass, o->source, o->ud);
	cg_sns_msg_cleanup(&o->msg);
	free(o);
}

static void cache_put(struct cg_guard *g, const char *url, const char *pem, size_t len)
{
	size_t slot = 0;
	for (size_t i = 0; i < CERT_CACHE_MAX; i++) {
		if (!g->cache[i].url) {
			slot = i;
			break;
		}
		if (g->cache[i].fetched_ms < g->cache[slot].fetched_ms)
			slot = i;
	}
	char *u = strdup(url), *p = malloc(len + 1);
	if (!u || !p) {
		free(u);
		free(p);
		return;
	}
	memcpy(p, pem, len);
	p[len] = '\0';
	free(g->cache[slot].url);
	free(g->cache[slot].pem);
	g->cache[slot] = (struct cert_entry){u, p, len, mono_ms()};
}

static const struct cert_entry *cache_get(struct cg_guard *g, const char *url)
{
	int64_t now = mono_ms();
	for (size_t i = 0; i < CERT_CACHE_MAX; i++)
		if (g->cache[i].url && strcmp(g->cache[i].url, url) == 0 && now - g->cache[i].fetched_ms < CERT_TTL_MS)
			return &g->cache[i];
	return NULL;
}

static void sns_verify_finish(struct op *o, const char *pem, size_t len)
{
	char why[160];
	int rc = cg_sns_verify(&o->msg, pem, len, why, sizeof(why));
	if (rc == CG_ENOMEM)
		op_finish(o, 503, "out of memory");
	else if (rc)
		op_finish(o, 401, why);
	else
		op_finish(o, 0, NULL);
}

static void cert_fetched(int rc, long status, const char *body, size_t len, const char *errmsg, void *ud)
{
	struct pending *p = ud;
	struct cg_guard *g = p->g;
	int ok = rc == 0 && status == 200 && len > 0 && strstr(body, "-----BEGIN CERTIFICATE-----");
	if (ok) {
		cache_put(g, p->url, body, len);
		CG_LOG_DEBUG("SNS signing certificate fetched (%zu bytes)", len);
	} else if (rc == 0) {
		CG_LOG_WARN("SNS signing certificate fetch: HTTP %ld%s", status, status == 200 ? " without a PEM certificate" : "");
	} else if (rc != CG_ECLOSED) {
		CG_LOG_WARN("SNS signing certificate fetch failed: %s", errmsg);
	}
	struct pending **pp = &g->pend;
	while (*pp && *pp != p)
		pp = &(*pp)->next;
	if (*pp)
		*pp = p->next;
	struct op *w = p->waiters;
	while (w) {
		struct op *next = w->next;
		if (ok)
			sns_verify_finish(w, body, len);
		else
			op_finish(w, 503, "could not fetch the SNS signing certificate: retry later");
		w = next;
	}
	free(p->url);
	free(p);
}

static void sns_check(struct cg_guard *g, const struct cg_verify_config *v, struct op *o)
{
	char why[160];
	int rc = cg_sns_parse(o->req->body, o->req->body_len, &o->msg, why, sizeof(why));
	if (rc) {
		op_finish(o, 401, why);
		return;
	}
	char uwhy[96];
	if (!cg_verify_url_allowed(o->msg.cert_url, v->cert_hosts, v->ncert_hosts, uwhy, sizeof(uwhy))) {
		snprintf(why, sizeof(why), "SigningCertURL refused: %s", uwhy);
		op_finish(o, 401, why);
		return;
	}
	if (v->cert_file) {
		FILE *f = fopen(v->cert_file, "rb");
		char buf[CERT_MAX_BYTES];
		size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
		if (f)
			fclose(f);
		if (n == 0) {
			CG_LOG_ERR("cannot read sns cert_file %s", v->cert_file);
			op_finish(o, 503, "SNS signing certificate unavailable");
			return;
		}
		buf[n] = '\0';
		sns_verify_finish(o, buf, n);
		return;
	}
	const struct cert_entry *ce = cache_get(g, o->msg.cert_url);
	if (ce) {
		sns_verify_finish(o, ce->pem, ce->len);
		return;
	}
	for (struct pending *p = g->pend; p; p = p->next) {
		if (strcmp(p->url, o->msg.cert_url) == 0) {
			o->next = p->waiters;
			p->waiters = o;
			return;
		}
	}
	struct pending *p = g ? calloc(1, sizeof(*p)) : NULL;
	if (!p || !(p->url = strdup(o->msg.cert_url))) {
		free(p);
		op_finish(o, 503, "out of memory");
		return;
	}
	p->g = g;
	p->waiters = o;
	struct cg_fetch_opts fo = {.ca_file = v->ca_file, .max_bytes = CERT_MAX_BYTES, .timeout_ms = FETCH_TIMEOUT_MS};
	rc = g->closing ? CG_ECLOSED : cg_fetch_get(g->fetch, p->url, &fo, cert_fetched, p);
	if (rc) {
		free(p->url);
		free(p);
		op_finish(o, 503, "could not fetch the SNS signing certificate: retry later");
		return;
	}
	p->next = g->pend;
	g->pend = p;
}

int cg_guard_check_head(const struct cg_source_config *src, const struct cg_http_request *req, const char *url_token,
			char *why, size_t whylen)
{
	if (src->nallow_ips && !cg_cidr_match(src->allow_ips, src->nallow_ips, req->remote_addr)) {
		snprintf(why, whylen, "client address not allowed for this source");
		return 403;
	}
	if (check_credentials(src, req, url_token, why, whylen) != 0)
		return 401;
	return 0;
}

void cg_guard_check(struct cg_guard *g, const struct cg_source_config *src, struct cg_http_request *req,
		    const char *url_token, int64_t now_ms, cg_guard_done_fn done, void *ud)
{
	struct cg_verify_pass pass;
	char why[192];
	memset(&pass, 0, sizeof(pass));
	int st = cg_guard_check_head(src, req, url_token, why, sizeof(why));
	if (st) {
		done(req, st, why, &pass, src->name, ud);
		return;
	}
	const struct cg_verify_config *sns = NULL;
	for (size_t i = 0; i < src->nverify; i++) {
		const struct cg_verify_config *v = &src->verify[i];
		if (v->kind == CG_VERIFY_SNS) {
			sns = v;
			continue;
		}
		if (cg_verify_hmac(v, req, now_ms, &pass, why, sizeof(why)) != 0) {
			done(req, 401, why, &pass, src->name, ud);
			return;
		}
	}
	if (!sns) {
		done(req, 0, NULL, &pass, src->name, ud);
		return;
	}
	struct op *o = calloc(1, sizeof(*o));
	if (!o) {
		done(req, 503, "out of memory", &pass, src->name, ud);
		return;
	}
	o->g = g;
	o->req = req;
	o->done = done;
	o->ud = ud;
	o->pass = pass;
	snprintf(o->source, sizeof(o->source), "%s", src->name);
	sns_check(g, sns, o);
}

/* ---- SNS subscription confirmation ---- */

struct confirm {
	char source[80];
};

static void confirm_done(int rc, long status, const char *body, size_t len, const char *errmsg, void *ud)
{
	struct confirm *c = ud;
	if (rc == 0 && status >= 200 && status < 300)
		CG_LOG_INFO("source=%s: SNS subscription confirmed (HTTP %ld)", c->source, status);
	else if (rc == 0)
		CG_LOG_WARN("source=%s: SNS subscription confirmation refused: HTTP %ld", c->source, status);
	else
		CG_LOG_WARN("source=%s: SNS subscription confirmation failed: %s", c->source, errmsg);
	free(c);
}

int cg_guard_confirm_subscription(struct cg_guard *g, const struct cg_source_config *src, const char *url)
{
	const struct cg_verify_config *v = cg_guard_sns_scheme(src);
	char why[96];
	if (!v) {
		/* Unsigned handshakes are not followed automatically: anyone knowing the hook URL could
		 * send one. The operator confirms by hand (or configures verify: [{sns: {}}]). */
		CG_LOG_WARN("source=%s: subscription confirmation received: confirm it by opening %s", src->name, url);
		return CG_EAUTH;
	}
	if (!v->confirm) {
		/* The operator confirms by hand: the URL is needed (its host was not checked: do not open
		 * it blindly). */
		CG_LOG_WARN("source=%s: SNS subscription confirmation is off (confirm: false): confirm it by opening %s",
			    src->name, url);
		return CG_EAUTH;
	}
	const regex_t *hosts = v->confirm_hosts;
	size_t nh = v->nconfirm_hosts;
	if (!cg_verify_url_allowed(url, hosts, nh, why, sizeof(why))) {
		CG_LOG_WARN("source=%s: SNS SubscribeURL not followed: %s", src->name, why);
		return CG_EAUTH;
	}
	struct confirm *c = calloc(1, sizeof(*c));
	if (!c)
		return CG_ENOMEM;
	snprintf(c->source, sizeof(c->source), "%s", src->name);
	struct cg_fetch_opts fo = {.ca_file = v->ca_file, .max_bytes = 64 * 1024, .timeout_ms = FETCH_TIMEOUT_MS};
	int rc = g->closing ? CG_ECLOSED : cg_fetch_get(g->fetch, url, &fo, confirm_done, c);
	if (rc) {
		free(c);
		CG_LOG_WARN("source=%s: SNS subscription confirmation not started: %s", src->name, cg_strerror(rc));
		return rc;
	}
	CG_LOG_INFO("source=%s: confirming SNS subscription", src->name);
	return 0;
}
