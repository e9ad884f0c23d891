/* ddsync.c: blocking Case API calls for the command line: the daemon's client on a private loop
 * (ddclient.h, cg_dd_request_wait), with the config's settings and patience with 429s. */
#define _POSIX_C_SOURCE 200809L
#include "ddsync.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ddanswer.h"
#include "ddclient.h"

/* What one attempt brought back (the body copied out of the callback). */
struct answer {
	long status;
	long reset, retry_after;
	char *body;
	size_t len;
	char errmsg[256];
};

static void got(const struct cg_dd_result *res, void *ud)
{
	struct answer *a = ud;
	a->status = res->transport_error ? 0 : res->status;
	a->reset = res->ratelimit_reset;
	a->retry_after = res->retry_after;
	snprintf(a->errmsg, sizeof(a->errmsg), "%s", res->errmsg);
	if (!res->transport_error && (a->body = malloc(res->body_len + 1)) != NULL) {
		memcpy(a->body, res->body, res->body_len + 1);
		a->len = res->body_len;
	}
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

/* One attempt, through the daemon's client (net/ddclient.c) on a private loop. */
static long once(const struct cg_ddsync *a, const char *method, const char *path, const char *text, struct answer *ans,
		 char *errbuf, size_t errlen)
{
	struct cg_dd_opts o = {
		.base_url = a->base,
		.api_key = a->api_key,
		.app_key = a->app_key,
		.timeout_ms = (unsigned)a->timeout_ms,
		.ca_file = a->ca_file,
		.proxy = a->proxy,
	};
	if (cg_dd_request_wait(&o, method, path, text, text ? strlen(text) : 0, 0, got, ans, errbuf, errlen) != 0)
		return 0;
	if (!ans->status)
		snprintf(errbuf, errlen, "%s", ans->errmsg);
	return ans->status;
}

long cg_ddsync_call(const struct cg_ddsync *a, const char *method, const char *path, cJSON *body, cJSON **resp,
		    char *errbuf, size_t errlen)
{
	char *text = body ? cJSON_PrintUnformatted(body) : NULL;
	cJSON_Delete(body);
	if (resp)
		*resp = NULL;
	errbuf[0] = '\0';
	long status = 0;
	for (unsigned waits = 0;; waits++) {
		struct answer b = {0};
		errbuf[0] = '\0';
		status = once(a, method, path, text, &b, errbuf, errlen);
		if (status == 429 && waits < a->max_429_waits) {
			long s = b.reset >= 0 ? b.reset : b.retry_after >= 0 ? b.retry_after : 1;
			if (s > (long)a->max_wait_s)
				s = (long)a->max_wait_s;
			free(b.body);
			(a->sleep_ms ? a->sleep_ms : default_sleep)((unsigned)(s * 1000 + 100));
			continue;
		}
		if (status && (status < 200 || status >= 300)) {
			char why[400];
			cg_dd_answer_error(b.body, b.len, why, sizeof(why));
			snprintf(errbuf, errlen, "HTTP %ld: %s", status, why);
		} else if (status && resp && b.len) {
			*resp = cJSON_ParseWithLength(b.body, b.len);
		}
		free(b.body);
		break;
	}
	cJSON_free(text);
	return status;
}
