/* curlio.c: libcurl multi driven by libuv (after curl's multi-uv.c): one uv_poll_t per socket curl
 * asks us to watch, one timer, completions handed back to each transfer's callback. */
#include "curlio.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

#define CG_LOG_COMPONENT "curlio"
#include "log.h"

/* One per socket curl watches; freed only in the poll's close callback. */
struct sock {
	uv_poll_t poll;
	curl_socket_t fd;
	struct cg_curlio *io;
	struct sock *prev, *next;
};

/* One per transfer in flight (the easy handle's CURLOPT_PRIVATE). */
struct xfer {
	struct cg_curlio *io;
	CURL *easy;
	cg_curlio_done_fn done;
	void *ud;
	struct xfer *prev, *next;
};

struct cg_curlio {
	uv_loop_t *loop;
	CURLM *multi;
	uv_timer_t timer; /* the bridge is freed in the last close callback, the timer's included */
	struct xfer *xfers;
	size_t nxfers;
	struct sock *socks;
	unsigned open_handles; /* timer + polls not yet through their close callback */
	int closing;
	void (*on_closed)(void *ud);
	void *closed_ud;
};

static void maybe_free(struct cg_curlio *io)
{
	if (!io->closing || io->open_handles > 0)
		return;
	void (*cb)(void *) = io->on_closed;
	void *ud = io->closed_ud;
	free(io);
	if (cb)
		cb(ud);
}

static void timer_closed(uv_handle_t *h)
{
	struct cg_curlio *io = h->data;
	io->open_handles--;
	maybe_free(io);
}

static void sock_closed(uv_handle_t *h)
{
	struct sock *k = h->data;
	struct cg_curlio *io = k->io;
	free(k);
	io->open_handles--;
	maybe_free(io);
}

static void sock_close(struct sock *k)
{
	struct cg_curlio *io = k->io;
	if (k->prev)
		k->prev->next = k->next;
	else
		io->socks = k->next;
	if (k->next)
		k->next->prev = k->prev;
	k->prev = k->next = NULL;
	/* uv_close stops polling at once, before curl closes the descriptor. */
	uv_close((uv_handle_t *)&k->poll, sock_closed);
}

/* Takes x out of the multi and the list, then runs its callback (which may add transfers or
 * destroy the bridge). */
static void finish(struct xfer *x, CURLcode rc)
{
	struct cg_curlio *io = x->io;
	CURL *easy = x->easy;
	cg_curlio_done_fn done = x->done;
	void *ud = x->ud;

	curl_multi_remove_handle(io->multi, easy);
	curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
	if (x->prev)
		x->prev->next = x->next;
	else
		io->xfers = x->next;
	if (x->next)
		x->next->prev = x->prev;
	io->nxfers--;
	free(x);
	done(easy, rc, ud);
}

static void check_done(struct cg_curlio *io)
{
	CURLMsg *m;
	int pending;

	/* A callback may destroy the bridge: its memory stays until the close callbacks, but the
	 * multi handle is gone, so stop reading. */
	while (!io->closing && (m = curl_multi_info_read(io->multi, &pending)) != NULL) {
		char *priv = NULL;
		if (m->msg != CURLMSG_DONE)
			continue;
		/* m is invalid once the handle leaves the multi: copy first. */
		CURL *e = m->easy_handle;
		CURLcode rc = m->data.result;
		if (curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv) == CURLE_OK && priv)
			finish((struct xfer *)(void *)priv, rc);
	}
}

static void drive(struct cg_curlio *io, curl_socket_t fd, int flags)
{
	int running = 0;
	CURLMcode mc = curl_multi_socket_action(io->multi, fd, flags, &running);

	/* Even after an error some transfers may have finished: collect them. */
	if (mc != CURLM_OK)
		CG_LOG_WARN("curl_multi_socket_action: %s", curl_multi_strerror(mc));
	check_done(io);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	struct sock *k = h->data;
	int flags = 0;

	if (k->io->closing)
		return;
	if (status < 0)
		flags = CURL_CSELECT_ERR;
	else
		flags = (events & UV_READABLE ? CURL_CSELECT_IN : 0) | (events & UV_WRITABLE ? CURL_CSELECT_OUT : 0);
	drive(k->io, k->fd, flags);
}

static void on_timer(uv_timer_t *t)
{
	struct cg_curlio *io = t->data;

	if (!io->closing)
		drive(io, CURL_SOCKET_TIMEOUT, 0);
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct cg_curlio *io = userp;

	(void)multi;
	if (timeout_ms < 0) {
		uv_timer_stop(&io->timer);
		return 0;
	}
	/* Even a 0 ms timeout goes through the loop: curl forbids re-entering socket_action from
	 * this callback. */
	return uv_timer_start(&io->timer, on_timer, (uint64_t)timeout_ms, 0) == 0 ? 0 : -1;
}

static int sock_cb(CURL *easy, curl_socket_t s, int action, void *userp, void *socketp)
{
	struct cg_curlio *io = userp;
	struct sock *k = socketp;

	(void)easy;
	if (action == CURL_POLL_REMOVE) {
		if (k) {
			curl_multi_assign(io->multi, s, NULL);
			sock_close(k);
		}
		return 0;
	}
	if (!k) {
		if (!(k = calloc(1, sizeof(*k))))
			return -1; /* curl fails the transfers on this socket */
		if (uv_poll_init_socket(io->loop, &k->poll, s) != 0) {
			free(k);
			return -1;
		}
		k->fd = s;
		k->io = io;
		k->poll.data = k;
		k->next = io->socks;
		if (io->socks)
			io->socks->prev = k;
		io->socks = k;
		io->open_handles++;
		if (curl_multi_assign(io->multi, s, k) != CURLM_OK) {
			sock_close(k);
			return -1;
		}
	}
	int events = (action & CURL_POLL_IN ? UV_READABLE : 0) | (action & CURL_POLL_OUT ? UV_WRITABLE : 0);
	return uv_poll_start(&k->poll, events, on_poll) == 0 ? 0 : -1;
}

int cg_curlio_create(uv_loop_t *loop, const struct cg_curlio_opts *opts, struct cg_curlio **out)
{
	struct cg_curlio *io = calloc(1, sizeof(*io));
	if (!io)
		return CG_ENOMEM;
	io->loop = loop;
	if (!(io->multi = curl_multi_init())) {
		free(io);
		return CG_ENOMEM;
	}
	if (curl_multi_setopt(io->multi, CURLMOPT_SOCKETFUNCTION, sock_cb) != CURLM_OK ||
	    curl_multi_setopt(io->multi, CURLMOPT_SOCKETDATA, io) != CURLM_OK ||
	    curl_multi_setopt(io->multi, CURLMOPT_TIMERFUNCTION, timer_cb) != CURLM_OK ||
	    curl_multi_setopt(io->multi, CURLMOPT_TIMERDATA, io) != CURLM_OK ||
	    (opts && opts->max_host_connections &&
	     curl_multi_setopt(io->multi, CURLMOPT_MAX_HOST_CONNECTIONS, opts->max_host_connections) != CURLM_OK) ||
	    (opts && opts->max_connects &&
	     curl_multi_setopt(io->multi, CURLMOPT_MAXCONNECTS, opts->max_connects) != CURLM_OK) ||
	    (opts && opts->no_multiplex &&
	     curl_multi_setopt(io->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_NOTHING) != CURLM_OK) ||
	    uv_timer_init(loop, &io->timer) != 0) {
		curl_multi_cleanup(io->multi);
		free(io);
		return CG_EIO;
	}
	/* From here on the bridge is freed only through the timer's close callback. */
	io->timer.data = io;
	io->open_handles = 1;
	*out = io;
	return 0;
}

int cg_curlio_add(struct cg_curlio *io, CURL *easy, cg_curlio_done_fn done, void *ud)
{
	if (!io || io->closing)
		return CG_ECLOSED;
	struct xfer *x = calloc(1, sizeof(*x));
	if (!x)
		return CG_ENOMEM;
	x->io = io;
	x->easy = easy;
	x->done = done;
	x->ud = ud;
	if (curl_easy_setopt(easy, CURLOPT_PRIVATE, (char *)x) != CURLE_OK ||
	    curl_multi_add_handle(io->multi, easy) != CURLM_OK) {
		curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
		free(x);
		return CG_ENOMEM;
	}
	x->next = io->xfers;
	if (io->xfers)
		io->xfers->prev = x;
	io->xfers = x;
	io->nxfers++;
	return 0;
}

size_t cg_curlio_pending(const struct cg_curlio *io)
{
	return io ? io->nxfers : 0;
}

void cg_curlio_destroy(struct cg_curlio *io, void (*on_closed)(void *ud), void *ud)
{
	if (!io || io->closing)
		return;
	/* closing is set first: a callback below cannot add a transfer (CG_ECLOSED) nor re-enter. */
	io->closing = 1;
	io->on_closed = on_closed;
	io->closed_ud = ud;
	while (io->xfers)
		finish(io->xfers, CURLE_ABORTED_BY_CALLBACK);
	/* Stop watching before curl closes the descriptors (and a new socket reuses a number). */
	while (io->socks) {
		curl_multi_assign(io->multi, io->socks->fd, NULL);
		sock_close(io->socks);
	}
	curl_multi_cleanup(io->multi);
	io->multi = NULL;
	uv_close((uv_handle_t *)&io->timer, timer_closed);
}

int cg_curlio_route(CURL *easy, const char *proxy, const char *ca_file, const char *server_ca)
{
	const char *trust = server_ca ? server_ca : ca_file;
	/* "" switches the *_proxy environment variables off: only the configured proxy is used. */
	if (curl_easy_setopt(easy, CURLOPT_PROXY, proxy ? proxy : "") != CURLE_OK)
		return CG_EIO;
	if (trust && curl_easy_setopt(easy, CURLOPT_CAINFO, trust) != CURLE_OK)
		return CG_EIO;
	if (ca_file && curl_easy_setopt(easy, CURLOPT_PROXY_CAINFO, ca_file) != CURLE_OK)
		return CG_EIO;
	return 0;
}

size_t cg_curlio_body_write(char *p, size_t size, size_t nmemb, void *ud)
{
	struct cg_curlio_body *b = ud;
	size_t n = size * nmemb; /* size is always 1 */

	if (n > b->max - b->len) {
		b->too_big = 1;
		return 0; /* anything but n fails the transfer with CURLE_WRITE_ERROR */
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		while (cap < b->len + n + 1)
			cap *= 2;
		if (cap > b->max + 1)
			cap = b->max + 1;
		char *nb = realloc(b->p, cap);
		if (!nb) {
			b->oom = 1;
			return 0;
		}
		b->p = nb;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}
