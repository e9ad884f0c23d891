/* ddsync.h: a blocking Case API client for command-line tools (provision, maintenance,
 * check-config --online): the daemon's client and settings (proxy, CA file, timeout, User-Agent)
 * on a private loop, and patience with 429s. The process calls cg_dd_global_init() first. */
#ifndef CG_DDSYNC_H
#define CG_DDSYNC_H

#include <stddef.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "config.h"

struct cg_ddsync {
	char base[512];
	const char *api_key, *app_key; /* not owned */
	const char *proxy, *ca_file;   /* not owned; NULL: none (proxy environment variables ignored) */
	long timeout_ms;
	unsigned max_429_waits;        /* 429 answers waited out per call (default 5) */
	unsigned max_wait_s;           /* longest single wait for a rate-limit reset (default 60) */
	void (*sleep_ms)(unsigned ms); /* tests: instead of nanosleep */
};

/*
 * Fills a from cfg (keys, proxy, ca_file, timeout); dd_url (may be NULL) overrides the API URL.
 * Returns 0, or -1 with a message on err when no API is configured.
 */
int cg_ddsync_init(struct cg_ddsync *a, const struct cg_config *cfg, const char *dd_url, FILE *err);

/*
 * method path with body (taken, may be NULL). A 429 is waited out (X-RateLimit-Reset, else
 * Retry-After, else 1 s; capped) and the call repeated, at most max_429_waits times. Returns the
 * HTTP status (0 on a transport error); on a non-2xx answer or transport error errbuf says why
 * ("HTTP 403: Forbidden"); *resp (may be NULL) gets the parsed 2xx answer (may be NULL).
 */
long cg_ddsync_call(const struct cg_ddsync *a, const char *method, const char *path, cJSON *body, cJSON **resp,
		    char *errbuf, size_t errlen);

#endif
