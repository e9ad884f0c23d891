/* fetch.c: HTTPS GET through the curlio bridge (no keys, no redirects, capped bodies). */
#include "fetch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "curlio.h"
#include "err.h"

struct freq {
	struct cg_fetch *f;
	cg_fetch_done_fn done;
	void *ud;
	struct cg_curlio_body body;
	char errbuf[CURL_ERROR_SIZE];
};

struct cg_fetch {
	struct cg_curlio *io;
	char *proxy, *ca_file;
	int closing;
	void (*on_closed)(void *ud);
	void *closed_ud;
};

static void fetch_free(struct cg_fetch *f)
{
	free(f->proxy);
	free(f->ca_file);
	free(f);
}

static void io_closed(void *ud)
{
	struct cg_fetch *f = ud;
	void (*cb)(void *) = f->on_closed;
	void *cud = f->closed_ud;
	fetch_free(f);
	if (cb)
		cb(cud);
}

static void finish(CURL *easy, CURLcode cc, void *ud)
{
	struct freq *r = ud;
	long status = 0;
	char msg[CURL_ERROR_SIZE + 32];
	int rc = 0;
	msg[0] = '\0';
	if (cc == CURLE_OK) {
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	} else if (r->body.too_big || cc == CURLE_FILESIZE_EXCEEDED) {
		rc = CG_E2BIG;
		snprintf(msg, sizeof(msg), "response over %zu bytes", r->body.max);
	} else if (cc == CURLE_ABORTED_BY_CALLBACK && r->f->closing) {
		rc = CG_ECLOSED;
		snprintf(msg, sizeof(msg), "client shut down");
	} else {
		rc = cc == CURLE_OPERATION_TIMEDOUT ? CG_ETIMEDOUT : CG_EIO;
		snprintf(msg, sizeof(msg), "%s", r->errbuf[0] ? r->errbuf : curl_easy_strerror(cc));
	}
	r->done(rc, status, rc ? "" : (r->body.p ? r->body.p : ""), rc ? 0 : r->body.len, msg, r->ud);
	curl_easy_cleanup(easy);
	free(r->body.p);
	free(r);
}

static char *dup_opt(const char *s, int *fail)
{
	char *d = s ? strdup(s) : NULL;
	if (s && !d)
		*fail = 1;
	return d;
}

int cg_fetch_create(uv_loop_t *loop, const char *proxy, const char *ca_file, struct cg_fetch **out)
{
	int fail = 0;
	struct cg_fetch *f = calloc(1, sizeof(*f));
	if (!f)
		return CG_ENOMEM;
	f->proxy = dup_opt(proxy, &fail);
	f->ca_file = dup_opt(ca_file, &fail);
	int rc = fail ? CG_ENOMEM : cg_curlio_create(loop, NULL, &f->io);
	if (rc) {
		fetch_free(f);
		return rc;
	}
	*out = f;
	return 0;
}

#define SET(opt, val)                                           \
	do {                                                    \
		if (curl_easy_setopt(e, opt, val) != CURLE_OK)  \
			goto fail;                              \
	} while (0)

int cg_fetch_get(struct cg_fetch *f, const char *url, const struct cg_fetch_opts *o, cg_fetch_done_fn done,
		 void *ud)
{
	if (!f || f->closing)
		return CG_ECLOSED;
	struct freq *r = calloc(1, sizeof(*r));
	CURL *e = curl_easy_init();
	int rc = CG_EINVAL;
	if (!r || !e) {
		free(r);
		curl_easy_cleanup(e);
		return CG_ENOMEM;
	}
	r->f = f;
	r->done = done;
	r->ud = ud;
	r->body.max = o && o->max_bytes ? o->max_bytes : 64 * 1024;
	long timeout = o && o->timeout_ms ? (long)o->timeout_ms : 10000;
	SET(CURLOPT_URL, url);
	SET(CURLOPT_PROTOCOLS_STR, "https");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_TIMEOUT_MS, timeout);
	SET(CURLOPT_CONNECTTIMEOUT_MS, timeout < 5000 ? timeout : 5000L);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)r->body.max);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	SET(CURLOPT_USERAGENT, "casegate/0.1");
	SET(CURLOPT_WRITEFUNCTION, cg_curlio_body_write);
	SET(CURLOPT_WRITEDATA, &r->body);
	SET(CURLOPT_ERRORBUFFER, r->errbuf);
	if (cg_curlio_route(e, f->proxy, f->ca_file, o ? o->ca_file : NULL) != 0)
		goto fail;
	rc = cg_curlio_add(f->io, e, finish, r);
	if (rc == 0)
		return 0;
fail:
	curl_easy_cleanup(e);
	free(r);
	return rc;
}

void cg_fetch_destroy(struct cg_fetch *f, void (*on_closed)(void *ud), void *ud)
{
	if (!f || f->closing)
		return;
	f->closing = 1;
	f->on_closed = on_closed;
	f->closed_ud = ud;
	/* Transfers in flight end now (CG_ECLOSED); f goes once the bridge's handles closed. */
	cg_curlio_destroy(f->io, io_closed, f);
}
