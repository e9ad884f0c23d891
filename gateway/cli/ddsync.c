/* ddsync.c: blocking Case API calls for the command line, with the daemon's transport settings. */
#define _POSIX_C_SOURCE 200809L
#include "ddsync.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "ddanswer.h"
#include "ddclient.h"

#define USER_AGENT "casegate/0.1"

struct buf {
	char *p;
	size_t len;
};

struct hdrs {
	long reset, retry_after;
};

static size_t on_data(char *ptr, size_t size, size_t n, void *ud)
{
	struct buf *b = ud;
	size_t add = size * n;
	if (b->len + add > CG_DD_MAX_BODY)
		return 0;
	char *p = realloc(b->p, b->len + add + 1);
	if (!p)
		return 0;
	memcpy(p + b->len, ptr, add);
	b->p = p;
	b->len += add;
	b->p[b->len] = '\0';
	return add;
}

static long header_num(const char *p, size_t n, const char *name)
{
	size_t nl = strlen(name);
	if (n <= nl + 1 || strncasecmp(p, name, nl) != 0 || p[nl] != ':')
		return -1;
	const char *v = p + nl + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	char *end;
	long x = strtol(v, &end, 10);
	return end != v && x >= 0 ? x : -1;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct hdrs *h = ud;
	size_t len = size * n;
	long v;
	if ((v = header_num(p, len, "X-RateLimit-Reset")) >= 0)
		h->reset = v;
	else if ((v = header_num(p, len, "Retry-After")) >= 0)
		h->retry_after = v;
	return len;
}

static void default_sleep(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0)
		;
}

int cg_ddsync_init(struct cg_ddsync *a, const struct cg_config *cfg, const char *dd_url, FILE *err)
{
	memset(a, 0, sizeof(*a));
	const char *url = dd_url ? dd_url : cfg->dd_url;
	if (!url) {
		fprintf(err, "casegate: no Datadog API configured (datadog.api_key and app_key, or --datadog-url)\n");
		return -1;
	}
	snprintf(a->base, sizeof(a->base), "%s", url);
	size_t l = strlen(a->base);
	while (l && a->base[l - 1] == '/')
		a->base[--l] = '\0';
	a->api_key = cfg->dd_api_key;
	a->app_key = cfg->dd_app_key;
	a->proxy = cfg->dd_proxy;
	a->ca_file = cfg->dd_ca_file;
	a->timeout_ms = cfg->dd_timeout_ms ? (long)cfg->dd_timeout_ms * 2 : 30000;
	a->max_429_waits = 5;
	a->max_wait_s = 60;
	return 0;
}

/* One attempt. */
static long once(const struct cg_ddsync *a, const char *method, const char *url, const char *text, struct buf *b,
		 struct hdrs *h, char *errbuf, size_t errlen)
{
	char h1[600], h2[600];
	long status = 0;
	CURL *c = curl_easy_init();
	struct curl_slist *hdr = NULL;
	if (!c) {
		snprintf(errbuf, errlen, "out of memory");
		return 0;
	}
	snprintf(h1, sizeof(h1), "DD-API-KEY: %s", a->api_key ? a->api_key : "");
	snprintf(h2, sizeof(h2), "DD-APPLICATION-KEY: %s", a->app_key ? a->app_key : "");
	hdr = curl_slist_append(hdr, "Content-Type: application/json");
	hdr = curl_slist_append(hdr, "Accept: application/json");
	if (a->api_key)
		hdr = curl_slist_append(hdr, h1);
	if (a->app_key)
		hdr = curl_slist_append(hdr, h2);
	OPENSSL_cleanse(h1, sizeof(h1));
	OPENSSL_cleanse(h2, sizeof(h2));
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, a->timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, USER_AGENT);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L); /* keys never go to another host */
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, h);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	/* As the daemon: the configured proxy or none (the environment's *_proxy is not followed). */
	curl_easy_setopt(c, CURLOPT_PROXY, a->proxy ? a->proxy : "");
	if (a->ca_file) {
		curl_easy_setopt(c, CURLOPT_CAINFO, a->ca_file);
		curl_easy_setopt(c, CURLOPT_PROXY_CAINFO, a->ca_file);
	}
	if (text) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, text);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(text));
	}
	CURLcode rc = curl_easy_perform(c);
	if (rc != CURLE_OK)
		snprintf(errbuf, errlen, "%s", curl_easy_strerror(rc));
	else
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(c);
	return status;
}

long cg_ddsync_call(const struct cg_ddsync *a, const char *method, const char *path, cJSON *body, cJSON **resp,
		    char *errbuf, size_t errlen)
{
	char url[1024];
	char *text = body ? cJSON_PrintUnformatted(body) : NULL;
	cJSON_Delete(body);
	if (resp)
		*resp = NULL;
	errbuf[0] = '\0';
	snprintf(url, sizeof(url), "%s%s", a->base, path);
	long status = 0;
	for (unsigned waits = 0;; waits++) {
		struct buf b = {0};
		struct hdrs h = {-1, -1};
		errbuf[0] = '\0';
		status = once(a, method, url, text, &b, &h, errbuf, errlen);
		if (status == 429 && waits < a->max_429_waits) {
			long s = h.reset >= 0 ? h.reset : h.retry_after >= 0 ? h.retry_after : 1;
			if (s > (long)a->max_wait_s)
				s = (long)a->max_wait_s;
			free(b.p);
			(a->sleep_ms ? a->sleep_ms : default_sleep)((unsigned)(s * 1000 + 100));
			continue;
		}
		if (status && (status < 200 || status >= 300)) {
			char why[400];
			cg_dd_answer_error(b.p, b.len, why, sizeof(why));
			snprintf(errbuf, errlen, "HTTP %ld: %s", status, why);
		} else if (status && resp && b.len) {
			*resp = cJSON_ParseWithLength(b.p, b.len);
		}
		free(b.p);
		break;
	}
	cJSON_free(text);
	return status;
}
