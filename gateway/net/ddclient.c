/* ddclient.c: Datadog API client on the loop (requests go through curlio.c, the libcurl-libuv bridge). */
#define _POSIX_C_SOURCE 200809L

#include "ddclient.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "curlio.h"
#include "err.h"

#define CG_LOG_COMPONENT "ddclient"
#include "log.h"

#define USER_AGENT "casegate/0.1"
#define DEFAULT_TIMEOUT_MS 15000u
#define DEFAULT_CONNECT_TIMEOUT_MS 5000u
#define DEFAULT_MAX_CONNECTIONS 8u
/* Idle connections older than this are not reused: a server closing an idle connection just
 * as we reuse it makes curl resend the request on a new one, which for a POST may create
 * a duplicate; keeping idle time short makes that race rare. */
#define MAX_IDLE_AGE_S 30L

struct req {
	struct cg_dd_client *c;
	CURL *easy;
	cg_dd_done_fn done;
	void *ud;
	struct cg_curlio_body body;
	long rl_limit, rl_period, rl_remaining, rl_reset, retry_after;
	char rl_name[64];
	struct curl_slist *hdrs; /* the client's headers when it was sent (keys may change meanwhile) */
	char errbuf[CURL_ERROR_SIZE];
};

struct cg_dd_client {
	struct cg_curlio *io; /* the client is freed once the bridge closed */
	struct curl_slist *hdrs; /* holds the keys: wiped before free */
	/* Header lists replaced by cg_dd_client_set_keys while requests still used them: freed (wiped)
	 * when nothing is in flight any more. */
	struct curl_slist *retired[4];
	unsigned nretired;
	char *base_url, *ca_file, *proxy;
	long timeout_ms, connect_timeout_ms;
	size_t inflight;
	int closing;
	void (*on_closed)(void *ud);
	void *on_closed_ud;
};

int cg_dd_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : CG_EIO;
}

void cg_dd_global_cleanup(void)
{
	curl_global_cleanup();
}

static const char *const dd_sites[] = {
	"datadoghq.com",     "us3.datadoghq.com", "us5.datadoghq.com", "datadoghq.eu",
	"ap1.datadoghq.com", "ap2.datadoghq.com", "ddog-gov.com",      "us2.ddog-gov.com",
	"uk1.datadoghq.com",
};

int cg_dd_site_url(const char *site, char *buf, size_t buflen)
{
	if (site == NULL || buf == NULL)
		return CG_EINVAL;
	/* Users copy the site from the browser's address bar: "app.datadoghq.eu" is the same site. */
	if (strncasecmp(site, "app.", 4) == 0)
		site += 4;
	for (size_t i = 0; i < sizeof(dd_sites) / sizeof(dd_sites[0]); i++) {
		if (strcasecmp(site, dd_sites[i]) != 0)
			continue;
		int n = snprintf(buf, buflen, "https://api.%s", dd_sites[i]);

		if (n < 0 || (size_t)n >= buflen)
			return CG_E2BIG;
		return 0;
	}
	return CG_EINVAL;
}

static char *dup_str(const char *s)
{
	size_t n;
	char *p;

	if (s == NULL)
		return NULL;
	n = strlen(s);
	p = malloc(n + 1);
	if (p != NULL)
		memcpy(p, s, n + 1);
	return p;
}

static void set_err(char *err, size_t errlen, const char *msg)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s", msg);
}

/* A header value must not smuggle in another header line. */
static int has_ctl(const char *s)
{
	for (; *s; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	}
	return 0;
}

static void wipe_headers(struct curl_slist *l)
{
	for (struct curl_slist *p = l; p != NULL; p = p->next) {
		if (p->data != NULL)
			OPENSSL_cleanse(p->data, strlen(p->data));
	}
	curl_slist_free_all(l);
}

/* Appends "name: value" built in a scratch buffer that is wiped afterwards (it may hold a key). */
static int add_header(struct curl_slist **l, const char *name, const char *value)
{
	size_t n = strlen(name) + 2 + strlen(value) + 1;
	char *line = malloc(n);
	struct curl_slist *nl;

	if (line == NULL)
		return CG_ENOMEM;
	snprintf(line, n, "%s: %s", name, value);
	nl = curl_slist_append(*l, line);
	OPENSSL_cleanse(line, n);
	free(line);
	if (nl == NULL)
		return CG_ENOMEM;
	*l = nl;
	return 0;
}

/* Every request's headers; the keys' lines are left out when a key is NULL or "". NULL: no memory. */
static struct curl_slist *make_headers(const char *api_key, const char *app_key)
{
	struct curl_slist *h = NULL, *t;

	if (add_header(&h, "Content-Type", "application/json") != 0 || add_header(&h, "Accept", "application/json") != 0)
		goto fail;
	/* An empty Expect stops curl from waiting for "100 Continue" on larger bodies. */
	if ((t = curl_slist_append(h, "Expect:")) == NULL)
		goto fail;
	h = t;
	if (api_key && *api_key && add_header(&h, "DD-API-KEY", api_key) != 0)
		goto fail;
	if (app_key && *app_key && add_header(&h, "DD-APPLICATION-KEY", app_key) != 0)
		goto fail;
	return h;
fail:
	wipe_headers(h);
	return NULL;
}

static void free_retired(struct cg_dd_client *c)
{
	for (unsigned i = 0; i < c->nretired; i++)
		wipe_headers(c->retired[i]);
	c->nretired = 0;
}

static void free_client(struct cg_dd_client *c)
{
	free_retired(c);
	wipe_headers(c->hdrs);
	free(c->base_url);
	free(c->ca_file);
	free(c->proxy);
	free(c);
}

static void io_closed(void *ud)
{
	struct cg_dd_client *c = ud;
	void (*cb)(void *ud) = c->on_closed;
	void *cud = c->on_closed_ud;

	free_client(c);
	if (cb != NULL)
		cb(cud);
}

/* --- completion -------------------------------------------------------------------------- */

/*
 * Could the server have seen the request? Only bytes handed to the socket can reach it, and
 * curl counts them in the request size (and upload size for a streamed body). Errors of the
 * connect phase with nothing written are certainly unsent; anything else that got past the
 * connect phase (pre-transfer time set) counts as maybe sent: duplicates are the lesser evil.
 */
static int guess_maybe_sent(CURL *e, CURLcode rc)
{
	long reqsize = 0;
	curl_off_t up = 0, pretransfer = 0;

	if (curl_easy_getinfo(e, CURLINFO_REQUEST_SIZE, &reqsize) != CURLE_OK ||
	    curl_easy_getinfo(e, CURLINFO_SIZE_UPLOAD_T, &up) != CURLE_OK)
		return 1;
	if (reqsize > 0 || up > 0)
		return 1;
	switch (rc) {
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_FAILED_INIT:
	case CURLE_URL_MALFORMAT:
	case CURLE_NOT_BUILT_IN:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
		return 0;
	default:
		break;
	}
	if (curl_easy_getinfo(e, CURLINFO_PRETRANSFER_TIME_T, &pretransfer) != CURLE_OK)
		return 1;
	return pretransfer > 0;
}

static void fill_result(struct req *r, CURLcode rc, struct cg_dd_result *res)
{
	double total = 0;

	memset(res, 0, sizeof(*res));
	res->body = "";
	res->ratelimit_limit = r->rl_limit;
	res->ratelimit_period = r->rl_period;
	res->ratelimit_remaining = r->rl_remaining;
	res->ratelimit_reset = r->rl_reset;
	res->retry_after = r->retry_after;
	memcpy(res->ratelimit_name, r->rl_name, sizeof(res->ratelimit_name));
	if (curl_easy_getinfo(r->easy, CURLINFO_TOTAL_TIME, &total) == CURLE_OK)
		res->elapsed_s = total;
	if (rc == CURLE_OK) {
		long status = 0;

		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
		res->status = status;
		res->maybe_sent = 1;
		if (r->body.p != NULL) {
			res->body = r->body.p;
			res->body_len = r->body.len;
		}
		return;
	}
	res->transport_error = (int)rc;
	res->maybe_sent = guess_maybe_sent(r->easy, rc);
	if (r->body.too_big)
		snprintf(res->errmsg, sizeof(res->errmsg), "response body over the %u byte limit", CG_DD_MAX_BODY);
	else if (r->body.oom)
		snprintf(res->errmsg, sizeof(res->errmsg), "out of memory reading the response body");
	else if (rc == CURLE_ABORTED_BY_CALLBACK)
		snprintf(res->errmsg, sizeof(res->errmsg), "aborted: client shut down");
	else if (r->errbuf[0] != '\0')
		snprintf(res->errmsg, sizeof(res->errmsg), "%s", r->errbuf);
	else
		snprintf(res->errmsg, sizeof(res->errmsg), "%s", curl_easy_strerror(rc));
}

/* The easy handle is cleaned up before the retired key headers it may point to. */
static void free_req(struct req *r)
{
	struct cg_dd_client *c = r->c;
	if (r->easy != NULL)
		curl_easy_cleanup(r->easy);
	free(r->body.p);
	free(r);
	if (c && c->inflight == 0 && c->nretired)
		free_retired(c);
}

/* The bridge is done with r (answered, failed, or aborted by destroy): runs its callback, which
 * may destroy the client or start new requests. */
static void req_done(CURL *easy, CURLcode rc, void *ud)
{
	struct req *r = ud;
	struct cg_dd_result res;

	(void)easy;
	fill_result(r, rc, &res);
	r->c->inflight--;
	if (res.transport_error != 0)
		CG_LOG_DEBUG("request failed: %s (maybe_sent=%d, %.3f s)", res.errmsg, res.maybe_sent, res.elapsed_s);
	else
		CG_LOG_DEBUG("HTTP %ld, %zu bytes, %.3f s", res.status, res.body_len, res.elapsed_s);
	r->done(&res, r->ud);
	free_req(r);
}

/* --- public API --------------------------------------------------------------------------- */

int cg_dd_client_create(uv_loop_t *loop, const struct cg_dd_opts *opts, struct cg_dd_client **out, char *err,
			size_t errlen)
{
	struct cg_dd_client *c = NULL;
	size_t n;
	long maxconn;
	int rc = CG_ENOMEM;

	if (loop == NULL || opts == NULL || out == NULL) {
		set_err(err, errlen, "missing argument");
		return CG_EINVAL;
	}
	if (opts->base_url == NULL ||
	    (strncmp(opts->base_url, "https://", 8) != 0 && strncmp(opts->base_url, "http://", 7) != 0) ||
	    has_ctl(opts->base_url)) {
		set_err(err, errlen, "base_url must start with https:// or http://");
		return CG_EINVAL;
	}
	if ((opts->api_key != NULL && has_ctl(opts->api_key)) || (opts->app_key != NULL && has_ctl(opts->app_key))) {
		set_err(err, errlen, "API or application key contains control characters");
		return CG_EINVAL;
	}
	if ((opts->proxy != NULL && has_ctl(opts->proxy)) || (opts->ca_file != NULL && has_ctl(opts->ca_file))) {
		set_err(err, errlen, "proxy or ca_file contains control characters");
		return CG_EINVAL;
	}

	c = calloc(1, sizeof(*c));
	if (c == NULL)
		goto fail;
	c->timeout_ms = opts->timeout_ms ? opts->timeout_ms : DEFAULT_TIMEOUT_MS;
	c->connect_timeout_ms = opts->connect_timeout_ms ? opts->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
	maxconn = opts->max_connections ? opts->max_connections : DEFAULT_MAX_CONNECTIONS;
	c->base_url = dup_str(opts->base_url);
	if (c->base_url == NULL)
		goto fail;
	n = strlen(c->base_url);
	while (n > 0 && c->base_url[n - 1] == '/')
		c->base_url[--n] = '\0';
	if (opts->ca_file != NULL && (c->ca_file = dup_str(opts->ca_file)) == NULL)
		goto fail;
	if (opts->proxy != NULL && (c->proxy = dup_str(opts->proxy)) == NULL)
		goto fail;

	if ((c->hdrs = make_headers(opts->api_key, opts->app_key)) == NULL)
		goto fail;

	/* Last: from here on the client is freed through the bridge's on_closed. */
	struct cg_curlio_opts io = {.max_host_connections = maxconn, .max_connects = maxconn, .no_multiplex = 1};
	rc = cg_curlio_create(loop, &io, &c->io);
	if (rc != 0) {
		set_err(err, errlen, rc == CG_ENOMEM ? "out of memory" : "libcurl rejected a multi option");
		free_client(c);
		return rc;
	}
	*out = c;
	return 0;

fail:
	set_err(err, errlen, "out of memory");
	if (c != NULL)
		free_client(c);
	return rc;
}

/* Non-negative decimal integer of at most 18 digits, else -1. */
static long parse_num(const char *v, size_t n)
{
	long x = 0;

	if (n == 0 || n > 18)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		x = x * 10 + (v[i] - '0');
	}
	return x;
}

/* Retry-After is delta-seconds or an HTTP-date. */
static long parse_retry_after(const char *v, size_t n)
{
	char tmp[64];
	time_t when, now;

	if (n > 0 && v[0] >= '0' && v[0] <= '9')
		return parse_num(v, n);
	if (n == 0 || n >= sizeof(tmp))
		return -1;
	memcpy(tmp, v, n);
	tmp[n] = '\0';
	when = curl_getdate(tmp, NULL);
	if (when == (time_t)-1)
		return -1;
	now = time(NULL);
	return when > now ? (long)(when - now) : 0;
}

static int name_is(const char *p, size_t n, const char *name)
{
	return strlen(name) == n && strncasecmp(p, name, n) == 0;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
	struct req *r = ud;
	size_t n = size * nmemb;
	const char *colon, *v, *end;
	size_t nlen;

	if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) {
		/* A new response (after an interim 1xx): forget the previous one's headers. */
		r->rl_limit = r->rl_period = r->rl_remaining = r->rl_reset = r->retry_after = -1;
		r->rl_name[0] = '\0';
		return n;
	}
	colon = memchr(p, ':', n);
	if (colon == NULL)
		return n;
	nlen = (size_t)(colon - p);
	v = colon + 1;
	end = p + n;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (name_is(p, nlen, "X-RateLimit-Limit"))
		r->rl_limit = parse_num(v, (size_t)(end - v));
	else if (name_is(p, nlen, "X-RateLimit-Period"))
		r->rl_period = parse_num(v, (size_t)(end - v));
	else if (name_is(p, nlen, "X-RateLimit-Remaining"))
		r->rl_remaining = parse_num(v, (size_t)(end - v));
	else if (name_is(p, nlen, "X-RateLimit-Reset"))
		r->rl_reset = parse_num(v, (size_t)(end - v));
	else if (name_is(p, nlen, "Retry-After"))
		r->retry_after = parse_retry_after(v, (size_t)(end - v));
	else if (name_is(p, nlen, "X-RateLimit-Name")) {
		size_t vn = (size_t)(end - v);
		if (vn >= sizeof(r->rl_name))
			vn = sizeof(r->rl_name) - 1;
		/* A name is a token: anything else (control characters, spaces) ends it. */
		size_t k = 0;
		while (k < vn && (unsigned char)v[k] > 0x20 && v[k] != 0x7f)
			k++;
		memcpy(r->rl_name, v, k);
		r->rl_name[k] = '\0';
	}
	return n;
}

static int valid_method(const char *m)
{
	size_t n = strlen(m);

	if (n == 0 || n > 16)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (m[i] < 'A' || m[i] > 'Z')
			return 0;
	}
	return 1;
}

static int valid_path(const char *p)
{
	if (p[0] != '/')
		return 0;
	for (; *p; p++) {
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return 0;
	}
	return 1;
}

#define SETOPT(opt, val)                                              \
	do {                                                          \
		if (curl_easy_setopt(e, opt, val) != CURLE_OK)        \
			goto fail;                                    \
	} while (0)

int cg_dd_request(struct cg_dd_client *c, const char *method, const char *path, const char *body,
		  size_t body_len, cg_dd_done_fn done, void *ud)
{
	return cg_dd_request_flags(c, method, path, body, body_len, 0, done, ud);
}

int cg_dd_request_flags(struct cg_dd_client *c, const char *method, const char *path, const char *body,
			size_t body_len, int flags, cg_dd_done_fn done, void *ud)
{
	struct req *r = NULL;
	CURL *e = NULL;
	char *url = NULL;
	size_t ulen;
	int rc = CG_ENOMEM;
	int is_get = 0, is_post = 0;

	if (c == NULL || method == NULL || path == NULL || done == NULL || !valid_method(method) ||
	    !valid_path(path) || (body == NULL && body_len > 0))
		return CG_EINVAL;
	if (c->closing)
		return CG_ECLOSED;
	is_get = strcmp(method, "GET") == 0;
	is_post = strcmp(method, "POST") == 0;

	r = calloc(1, sizeof(*r));
	if (r == NULL)
		goto fail;
	r->c = c;
	r->done = done;
	r->ud = ud;
	r->body.max = CG_DD_MAX_BODY;
	r->rl_limit = r->rl_period = r->rl_remaining = r->rl_reset = r->retry_after = -1;
	ulen = strlen(c->base_url) + strlen(path) + 1;
	url = malloc(ulen);
	if (url == NULL)
		goto fail;
	snprintf(url, ulen, "%s%s", c->base_url, path);
	e = r->easy = curl_easy_init();
	if (e == NULL)
		goto fail;

	rc = CG_EIO; /* a setopt failure is not an allocation failure in most cases */
	SETOPT(CURLOPT_URL, url);
	SETOPT(CURLOPT_NOSIGNAL, 1L);
	SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
	SETOPT(CURLOPT_FOLLOWLOCATION, 0L); /* a redirect must not carry the keys elsewhere */
	SETOPT(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	SETOPT(CURLOPT_HTTPHEADER, c->hdrs);
	SETOPT(CURLOPT_USERAGENT, USER_AGENT);
	SETOPT(CURLOPT_TIMEOUT_MS, c->timeout_ms);
	SETOPT(CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
	SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
	SETOPT(CURLOPT_MAXAGE_CONN, MAX_IDLE_AGE_S);
	if (flags & CG_DD_NO_REPLAY)
		SETOPT(CURLOPT_FRESH_CONNECT, 1L);
	SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
	SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
	SETOPT(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (cg_curlio_route(e, c->proxy, c->ca_file, NULL) != 0)
		goto fail;
	SETOPT(CURLOPT_ERRORBUFFER, r->errbuf);
	SETOPT(CURLOPT_WRITEFUNCTION, cg_curlio_body_write);
	SETOPT(CURLOPT_WRITEDATA, &r->body);
	SETOPT(CURLOPT_HEADERFUNCTION, on_header);
	SETOPT(CURLOPT_HEADERDATA, r);

	if (body != NULL || (!is_get && strcmp(method, "DELETE") != 0)) {
		SETOPT(CURLOPT_POST, 1L);
		SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
		/* Copies exactly body_len bytes: the caller's buffer is free after we return. */
		SETOPT(CURLOPT_COPYPOSTFIELDS, body != NULL ? body : "");
		if (!is_post)
			SETOPT(CURLOPT_CUSTOMREQUEST, method);
	} else if (is_get) {
		SETOPT(CURLOPT_HTTPGET, 1L);
	} else {
		SETOPT(CURLOPT_CUSTOMREQUEST, method);
	}

	rc = cg_curlio_add(c->io, e, req_done, r);
	if (rc != 0)
		goto fail;
	c->inflight++;
	free(url); /* curl copied it */
	return 0;

fail:
	free(url);
	if (r != NULL)
		free_req(r);
	return rc;
}

struct waiter {
	cg_dd_done_fn done;
	void *ud;
	int finished;
};

static void wait_done(const struct cg_dd_result *res, void *ud)
{
	struct waiter *w = ud;
	w->finished = 1;
	w->done(res, w->ud);
}

int cg_dd_request_wait(const struct cg_dd_opts *opts, const char *method, const char *path, const char *body,
		       size_t body_len, int flags, cg_dd_done_fn done, void *ud, char *err, size_t errlen)
{
	uv_loop_t loop;
	struct cg_dd_client *c = NULL;
	struct waiter w = {done, ud, 0};
	int rc;

	if (uv_loop_init(&loop) != 0) {
		set_err(err, errlen, "cannot create an event loop");
		return CG_EIO;
	}
	rc = cg_dd_client_create(&loop, opts, &c, err, errlen);
	if (rc == 0) {
		rc = cg_dd_request_flags(c, method, path, body, body_len, flags, wait_done, &w);
		if (rc != 0)
			set_err(err, errlen, cg_strerror(rc));
		/* The request holds the timer while it runs: a loop without work would mean it ended. */
		while (rc == 0 && !w.finished && uv_run(&loop, UV_RUN_ONCE) != 0)
			;
		cg_dd_client_destroy(c, NULL, NULL); /* still running: done now, aborted */
	}
	uv_run(&loop, UV_RUN_DEFAULT); /* the close callbacks free the client */
	if (uv_loop_close(&loop) != 0)
		CG_LOG_WARN("blocking request: a loop handle was left open");
	return rc;
}

int cg_dd_client_set_keys(struct cg_dd_client *c, const char *api_key, const char *app_key)
{
	struct curl_slist *h;
	if (!c || (api_key && has_ctl(api_key)) || (app_key && has_ctl(app_key)))
		return CG_EINVAL;
	if (c->inflight && c->nretired == sizeof(c->retired) / sizeof(c->retired[0]))
		return CG_ENOMEM; /* reloads faster than requests finish: keep the keys for now */
	if ((h = make_headers(api_key, app_key)) == NULL)
		return CG_ENOMEM;
	if (c->inflight)
		c->retired[c->nretired++] = c->hdrs;
	else
		wipe_headers(c->hdrs);
	c->hdrs = h;
	return 0;
}

size_t cg_dd_inflight(const struct cg_dd_client *c)
{
	return c != NULL ? c->inflight : 0;
}

void cg_dd_client_destroy(struct cg_dd_client *c, void (*on_closed)(void *ud), void *ud)
{
	if (c == NULL || c->closing)
		return;
	c->closing = 1;
	c->on_closed = on_closed;
	c->on_closed_ud = ud;
	/* closing is set first: a callback of an aborted request cannot start another one
	 * (CG_ECLOSED) nor re-enter destroy. The bridge runs those callbacks before it returns. */
	cg_curlio_destroy(c->io, io_closed, c);
}

#undef SETOPT
