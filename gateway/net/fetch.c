/* fetch.c: HTTPS GET over libcurl multi driven by libuv (same glue as ddclient.c, no keys). */
#include "fetch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "err.h"

#define CG_LOG_COMPONENT "fetch"
#include "log.h"

struct fsock {
	uv_poll_t poll;
	curl_socket_t fd;
	struct cg_fetch *f;
	struct fsock *prev, *next;
};

struct freq {
	struct cg_fetch *f;
	CURL *easy;
	struct freq *prev, *next;
	cg_fetch_done_fn done;
	void *ud;
	char *buf;
	size_t len, cap, max;
	int too_big;
	char errbuf[CURL_ERROR_SIZE];
};

struct cg_fetch {
	uv_loop_t *loop;
	CURLM *multi;
	uv_timer_t timer;
	struct freq *reqs;
	struct fsock *socks;
	unsigned open_handles;
	int closing;
	void (*on_closed)(void *ud);
	void *closed_ud;
};

static void maybe_free(struct cg_fetch *f)
{
	if (!f->closing || f->open_handles > 0)
		return;
	void (*cb)(void *) = f->on_closed;
	void *ud = f->closed_ud;
	free(f);
	if (cb)
		cb(ud);
}

static void handle_closed(uv_handle_t *h)
{
	struct cg_fetch *f = h->data;
	f->open_handles--;
	maybe_free(f);
}

static void sock_closed(uv_handle_t *h)
{
	struct fsock *k = h->data;
	struct cg_fetch *f = k->f;
	free(k);
	f->open_handles--;
	maybe_free(f);
}

static void sock_close(struct fsock *k)
{
	struct cg_fetch *f = k->f;
	if (k->prev)
		k->prev->next = k->next;
	else
		f->socks = k->next;
	if (k->next)
		k->next->prev = k->prev;
	uv_close((uv_handle_t *)&k->poll, sock_closed);
}

static void finish(struct freq *r, CURLcode cc)
{
	struct cg_fetch *f = r->f;
	long status = 0;
	char msg[CURL_ERROR_SIZE + 32];
	int rc = 0;
	curl_multi_remove_handle(f->multi, r->easy);
	if (r->prev)
		r->prev->next = r->next;
	else
		f->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	msg[0] = '\0';
	if (cc == CURLE_OK) {
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
	} else if (r->too_big || cc == CURLE_FILESIZE_EXCEEDED) {
		rc = CG_E2BIG;
		snprintf(msg, sizeof(msg), "response over %zu bytes", r->max);
	} else if (cc == CURLE_ABORTED_BY_CALLBACK && f->closing) {
		rc = CG_ECLOSED;
		snprintf(msg, sizeof(msg), "client shut down");
	} else {
		rc = cc == CURLE_OPERATION_TIMEDOUT ? CG_ETIMEDOUT : CG_EIO;
		snprintf(msg, sizeof(msg), "%s", r->errbuf[0] ? r->errbuf : curl_easy_strerror(cc));
	}
	r->done(rc, status, rc ? "" : (r->buf ? r->buf : ""), rc ? 0 : r->len, msg, r->ud);
	curl_easy_cleanup(r->easy);
	free(r->buf);
	free(r);
}

static void check_done(struct cg_fetch *f)
{
	CURLMsg *m;
	int pending;
	while (!f->closing && (m = curl_multi_info_read(f->multi, &pending)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		CURL *e = m->easy_handle;
		CURLcode cc = m->data.result;
		char *priv = NULL;
		if (curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv) == CURLE_OK && priv)
			finish((struct freq *)(void *)priv, cc);
	}
}

static void drive(struct cg_fetch *f, curl_socket_t fd, int flags)
{
	int running = 0;
	curl_multi_socket_action(f->multi, fd, flags, &running);
	check_done(f);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	struct fsock *k = h->data;
	int flags = 0;
	if (k->f->closing)
		return;
	if (status < 0)
		flags = CURL_CSELECT_ERR;
	else
		flags = (events & UV_READABLE ? CURL_CSELECT_IN : 0) | (events & UV_WRITABLE ? CURL_CSELECT_OUT : 0);
	drive(k->f, k->fd, flags);
}

static void on_timer(uv_timer_t *t)
{
	struct cg_fetch *f = t->data;
	if (!f->closing)
		drive(f, CURL_SOCKET_TIMEOUT, 0);
}

static int timer_cb(CURLM *multi, long ms, void *userp)
{
	struct cg_fetch *f = userp;
	(void)multi;
	if (ms < 0) {
		uv_timer_stop(&f->timer);
		return 0;
	}
	return uv_timer_start(&f->timer, on_timer, (uint64_t)ms, 0) == 0 ? 0 : -1;
}

static int sock_cb(CURL *easy, curl_socket_t s, int action, void *userp, void *socketp)
{
	struct cg_fetch *f = userp;
	struct fsock *k = socketp;
	(void)easy;
	if (action == CURL_POLL_REMOVE) {
		if (k) {
			curl_multi_assign(f->multi, s, NULL);
			sock_close(k);
		}
		return 0;
	}
	if (!k) {
		if (!(k = calloc(1, sizeof(*k))))
			return -1;
		if (uv_poll_init_socket(f->loop, &k->poll, s) != 0) {
			free(k);
			return -1;
		}
		k->fd = s;
		k->f = f;
		k->poll.data = k;
		k->next = f->socks;
		if (f->socks)
			f->socks->prev = k;
		f->socks = k;
		f->open_handles++;
		if (curl_multi_assign(f->multi, s, k) != CURLM_OK) {
			sock_close(k);
			return -1;
		}
	}
	int ev = (action & CURL_POLL_IN ? UV_READABLE : 0) | (action & CURL_POLL_OUT ? UV_WRITABLE : 0);
	return uv_poll_start(&k->poll, ev, on_poll) == 0 ? 0 : -1;
}

static size_t on_data(char *p, size_t size, size_t nmemb, void *ud)
{
	struct freq *r = ud;
	size_t n = size * nmemb;
	if (n > r->max - r->len) {
		r->too_big = 1;
		return 0; /* aborts the transfer */
	}
	if (r->len + n + 1 > r->cap) {
		size_t cap = r->cap ? r->cap : 4096;
		while (cap < r->len + n + 1)
			cap *= 2;
		char *nb = realloc(r->buf, cap);
		if (!nb)
			return 0;
		r->buf = nb;
		r->cap = cap;
	}
	memcpy(r->buf + r->len, p, n);
	r->len += n;
	r->buf[r->len] = '\0';
	return n;
}

int cg_fetch_create(uv_loop_t *loop, struct cg_fetch **out)
{
	struct cg_fetch *f = calloc(1, sizeof(*f));
	if (!f)
		return CG_ENOMEM;
	f->loop = loop;
	if (!(f->multi = curl_multi_init())) {
		free(f);
		return CG_ENOMEM;
	}
	curl_multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(f->multi, CURLMOPT_SOCKETDATA, f);
	curl_multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(f->multi, CURLMOPT_TIMERDATA, f);
	uv_timer_init(loop, &f->timer);
	f->timer.data = f;
	f->open_handles = 1;
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
	if (!r || !e) {
		free(r);
		curl_easy_cleanup(e);
		return CG_ENOMEM;
	}
	r->f = f;
	r->easy = e;
	r->done = done;
	r->ud = ud;
	r->max = o && o->max_bytes ? o->max_bytes : 64 * 1024;
	long timeout = o && o->timeout_ms ? (long)o->timeout_ms : 10000;
	SET(CURLOPT_URL, url);
	SET(CURLOPT_PROTOCOLS_STR, "https");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_TIMEOUT_MS, timeout);
	SET(CURLOPT_CONNECTTIMEOUT_MS, timeout < 5000 ? timeout : 5000L);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)r->max);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	SET(CURLOPT_USERAGENT, "casegate/0.1");
	SET(CURLOPT_WRITEFUNCTION, on_data);
	SET(CURLOPT_WRITEDATA, r);
	SET(CURLOPT_ERRORBUFFER, r->errbuf);
	SET(CURLOPT_PRIVATE, (char *)r);
	if (o && o->ca_file)
		SET(CURLOPT_CAINFO, o->ca_file);
	if (curl_multi_add_handle(f->multi, e) != CURLM_OK)
		goto fail;
	r->next = f->reqs;
	if (f->reqs)
		f->reqs->prev = r;
	f->reqs = r;
	return 0;
fail:
	curl_easy_cleanup(e);
	free(r);
	return CG_EINVAL;
}

void cg_fetch_destroy(struct cg_fetch *f, void (*on_closed)(void *ud), void *ud)
{
	if (!f || f->closing)
		return;
	f->closing = 1;
	f->on_closed = on_closed;
	f->closed_ud = ud;
	while (f->reqs)
		finish(f->reqs, CURLE_ABORTED_BY_CALLBACK);
	while (f->socks) {
		curl_multi_assign(f->multi, f->socks->fd, NULL);
		sock_close(f->socks);
	}
	curl_multi_cleanup(f->multi);
	f->multi = NULL;
	uv_close((uv_handle_t *)&f->timer, handle_closed);
}
