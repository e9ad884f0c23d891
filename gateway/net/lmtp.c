/* lmtp.c: LMTP/SMTP receiver on libuv: connections, pipelining and backpressure, time limits,
 * handing messages over; the dialogue itself is lmtp_session.c. */
#define CG_LOG_COMPONENT "mail"
#include "lmtp.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "fuzzpump.h"
#include "lmtp_session.h"
#include "log.h"

#define IN_MAX (256 * 1024)   /* unprocessed input held while a message is being stored */
#define OUT_MAX (64 * 1024)   /* replies not yet taken by the client: past this, input waits */
#define RATE_SLOTS 1024

struct rate_slot {
	uint64_t hash;    /* 0: free */
	double tokens;
	uint64_t last_ms;
};

struct conn;

struct cg_lmtp_server {
	uv_loop_t *loop;
	uv_tcp_t listener;
	struct cg_lmtp_opts opts;
	char *hostname, *host;
	cg_lmtp_rcpt_fn rcpt_fn;
	cg_lmtp_msg_fn msg_fn;
	void *ud;
	int port;
	unsigned nconns;
	struct conn *conns;
	int closing, listener_closed;
	void (*on_closed)(void *ud);
	void *closed_ud;
	struct cg_lmtp_rules rules; /* what its sessions obey (from opts) */
	struct rate_slot rate[RATE_SLOTS];
};

struct msg_priv {
	struct cg_lmtp_msg pub;
	struct conn *conn; /* NULL once the connection is gone */
	int *codes;
	char **texts;
};

struct conn {
	uv_tcp_t tcp;
	uv_timer_t timer;
	struct cg_lmtp_server *srv;
	struct conn *next, *prev;
	int open_handles;
	char remote[64];
	char *in;
	size_t in_len, in_cap;
	struct cg_lmtp_session s;
	struct msg_priv *busy; /* handed to the handler */
	int closing;
	int reading;
	int out_paused; /* reading stopped: the client does not take its replies */
};

static uint64_t now_ms(uv_loop_t *loop)
{
	return uv_now(loop);
}

/* ---- output ---- */

static void conn_close(struct conn *c);
static void start_reading(struct conn *c);
static void process(struct conn *c);

struct wreq {
	uv_write_t req;
	struct conn *c;
	char *buf;
	int close_after;
};

static void write_done(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct conn *c = w->c;
	free(w->buf);
	int close_after = w->close_after;
	free(w);
	if (status < 0 || close_after) {
		conn_close(c);
		return;
	}
	/* The client took its replies: go on with what it pipelined. */
	if (c->out_paused && !c->closing && uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) < OUT_MAX / 2) {
		c->out_paused = 0;
		if (!c->busy) {
			start_reading(c);
			process(c);
		}
	}
}

static void flush(struct conn *c, int close_after)
{
	if (c->closing)
		return;
	if (c->s.out.n == 0) {
		if (close_after)
			conn_close(c);
		return;
	}
	struct wreq *w = calloc(1, sizeof(*w));
	if (!w) {
		conn_close(c);
		return;
	}
	w->c = c;
	w->buf = c->s.out.p;
	w->close_after = close_after;
	uv_buf_t b = uv_buf_init(c->s.out.p, (unsigned)c->s.out.n);
	c->s.out.p = NULL;
	c->s.out.n = c->s.out.cap = 0;
	if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, write_done) != 0) {
		free(w->buf);
		free(w);
		conn_close(c);
	}
}

/* ---- connection lifetime ---- */

static void maybe_server_closed(struct cg_lmtp_server *s)
{
	if (s->closing && s->listener_closed && s->nconns == 0) {
		void (*cb)(void *) = s->on_closed;
		void *ud = s->closed_ud;
		free(s->hostname);
		free(s->host);
		free(s);
		if (cb)
			cb(ud);
	}
}

static void conn_free(struct conn *c)
{
	struct cg_lmtp_server *s = c->srv;
	cg_lmtp_session_cleanup(&c->s);
	free(c->in);
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->nconns--;
	free(c);
	maybe_server_closed(s);
}

static void handle_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	if (--c->open_handles > 0)
		return;
	if (c->busy) {
		/* The handler still holds the message: it frees the connection when done. */
		c->busy->conn = NULL;
		c->busy = NULL;
	}
	conn_free(c);
}

static void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = 1;
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->timer, handle_closed);
	uv_close((uv_handle_t *)&c->tcp, handle_closed);
}

static void on_timeout(uv_timer_t *t)
{
	struct conn *c = t->data;
	if (c->busy)
		return; /* waiting on us, not on the peer */
	if (c->out_paused) {
		/* It does not read: a goodbye would only wait behind the replies it never took. */
		CG_LOG_INFO("client=%s: timeout, replies not taken", c->remote);
		conn_close(c);
		return;
	}
	CG_LOG_INFO("client=%s: timeout", c->remote);
	cg_lmtp_say(&c->s, "421 4.4.2 %s timeout, closing connection", c->srv->hostname);
	flush(c, 1);
}

static void arm_timeout(struct conn *c)
{
	if (!c->closing)
		uv_timer_start(&c->timer, on_timeout, c->srv->opts.timeout_ms, 0);
}

/* ---- rate limit per envelope sender (token bucket; colliding senders share a slot) ---- */

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++) {
		h ^= (unsigned char)tolower((unsigned char)*s);
		h *= 1099511628211ULL;
	}
	return h ? h : 1;
}

static int rate_take(struct cg_lmtp_server *s, const char *sender)
{
	unsigned cap = s->opts.max_per_sender_hour;
	if (!cap)
		return 1;
	uint64_t h = fnv1a(sender), now = now_ms(s->loop);
	struct rate_slot *r = &s->rate[h % RATE_SLOTS];
	if (r->hash != h) {
		r->hash = h;
		r->tokens = cap;
		r->last_ms = now;
	}
	r->tokens += (double)(now - r->last_ms) * cap / 3600000.0;
	if (r->tokens > cap)
		r->tokens = cap;
	r->last_ms = now;
	if (r->tokens < 1)
		return 0;
	r->tokens -= 1;
	return 1;
}

/* The session holds a whole message: it becomes the handler's (the connection reads nothing
 * further until cg_lmtp_msg_done). */
static void hand_over(struct conn *c)
{
	struct cg_lmtp_server *s = c->srv;
	struct cg_lmtp_session *ss = &c->s;
	struct msg_priv *m = calloc(1, sizeof(*m));
	if (m) {
		m->codes = calloc(ss->nrcpts, sizeof(*m->codes));
		m->texts = calloc(ss->nrcpts, sizeof(*m->texts));
	}
	if (!m || !m->codes || !m->texts || (!ss->data && !(ss->data = strdup("")))) {
		if (m) {
			free(m->codes);
			free(m->texts);
			free(m);
		}
		size_t n = s->opts.smtp ? 1 : ss->nrcpts;
		for (size_t i = 0; i < n; i++)
			cg_lmtp_say(ss, "451 4.3.0 out of memory");
		cg_lmtp_session_reset(ss);
		return;
	}
	/* Ownership of the transaction moves to the message. */
	m->conn = c;
	m->pub.mail_from = ss->mail_from;
	m->pub.rcpts = ss->rcpts;
	m->pub.nrcpts = ss->nrcpts;
	m->pub.data = ss->data;
	m->pub.len = ss->data_len;
	m->pub.remote = c->remote;
	m->pub.rate_limited = !rate_take(s, ss->mail_from ? ss->mail_from : "");
	ss->mail_from = NULL;
	ss->rcpts = NULL;
	ss->nrcpts = 0;
	ss->data = NULL;
	ss->data_len = ss->data_cap = 0;
	ss->has_mail = 0;
	c->busy = m;
	uv_timer_stop(&c->timer);
	if (c->reading) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = 0;
	}
	s->msg_fn(&m->pub, s->ud);
}

/* Handles what is buffered, as far as possible without waiting on the handler. */
static void process(struct conn *c)
{
	while (!c->busy && !c->closing && !c->s.quit && c->in_len) {
		if (cg_lmtp_session_feed(&c->s, c->in, &c->in_len) != CG_LMTP_MESSAGE)
			break;
		hand_over(c);
	}
	flush(c, c->s.quit);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;
	(void)suggested;
	size_t want = 65536;
	if (c->in_cap - c->in_len < want) {
		char *p = realloc(c->in, c->in_len + want);
		if (!p) {
			*buf = uv_buf_init(NULL, 0);
			return;
		}
		c->in = p;
		c->in_cap = c->in_len + want;
	}
	*buf = uv_buf_init(c->in + c->in_len, (unsigned)(c->in_cap - c->in_len));
}

static void read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = st->data;
	(void)buf;
	if (nread < 0) {
		conn_close(c);
		return;
	}
	if (nread == 0)
		return;
	c->in_len += (size_t)nread;
	arm_timeout(c);
	process(c);
	if (!c->closing && c->busy == NULL && c->in_len > IN_MAX && !c->s.in_data) {
		cg_lmtp_say(&c->s, "421 4.7.0 too much pipelined input");
		flush(c, 1);
		return;
	}
	if (!c->closing && c->reading && uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) >= OUT_MAX) {
		/* Commands answered faster than the client reads: its replies would pile up here. */
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = 0;
		c->out_paused = 1;
	}
}

static void start_reading(struct conn *c)
{
	if (!c->reading && !c->closing && uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) == 0)
		c->reading = 1;
}

void cg_lmtp_reply(struct cg_lmtp_msg *pub, size_t i, int code, const char *text)
{
	struct msg_priv *m = (struct msg_priv *)pub;
	if (i >= pub->nrcpts)
		return;
	m->codes[i] = code;
	free(m->texts[i]);
	m->texts[i] = strdup(text ? text : "");
}

static void msg_free(struct msg_priv *m)
{
	for (size_t i = 0; i < m->pub.nrcpts; i++) {
		free(m->pub.rcpts[i]);
		free(m->texts[i]);
	}
	free(m->pub.rcpts);
	free(m->texts);
	free(m->codes);
	free((char *)m->pub.mail_from);
	free((char *)m->pub.data);
	free(m);
}

static int default_code(int code)
{
	return code >= 200 && code < 600 ? code : 451;
}

void cg_lmtp_msg_done(struct cg_lmtp_msg *pub)
{
	struct msg_priv *m = (struct msg_priv *)pub;
	struct conn *c = m->conn;
	if (!c) {
		msg_free(m);
		return;
	}
	struct cg_lmtp_server *s = c->srv;
	if (s->opts.smtp) {
		/* One reply for all: a temporary failure anywhere makes the sender retry (duplicates
		 * are recognised by Message-ID), a permanent one only when every recipient failed. */
		size_t worst = 0;
		int any_temp = 0, all_perm = 1;
		for (size_t i = 0; i < pub->nrcpts; i++) {
			int code = default_code(m->codes[i]);
			if (code >= 400 && code < 500) {
				any_temp = 1;
				worst = i;
			}
			if (code < 500)
				all_perm = 0;
		}
		size_t pick = any_temp ? worst : all_perm ? 0 : SIZE_MAX;
		if (pick == SIZE_MAX) {
			for (size_t i = 0; i < pub->nrcpts; i++)
				if (default_code(m->codes[i]) < 300) {
					pick = i;
					break;
				}
		}
		if (pick == SIZE_MAX)
			pick = 0;
		cg_lmtp_say(&c->s, "%d %s", default_code(m->codes[pick]), m->texts[pick] ? m->texts[pick] : "");
	} else {
		for (size_t i = 0; i < pub->nrcpts; i++)
			cg_lmtp_say(&c->s, "%d %s", default_code(m->codes[i]), m->texts[i] ? m->texts[i] : "");
	}
	c->busy = NULL;
	msg_free(m);
	if (c->closing)
		return;
	if (s->closing) {
		cg_lmtp_say(&c->s, "421 4.3.2 %s shutting down", s->hostname);
		flush(c, 1);
		return;
	}
	arm_timeout(c);
	if (!c->out_paused)
		start_reading(c);
	process(c);
}

/* A connection linked into s with both handles initialised; the stream is not connected yet. */
static struct conn *conn_new(struct cg_lmtp_server *s)
{
	struct conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->srv = s;
	uv_tcp_init(s->loop, &c->tcp);
	uv_timer_init(s->loop, &c->timer);
	c->tcp.data = c->timer.data = c;
	c->open_handles = 2;
	cg_lmtp_session_init(&c->s, &s->rules, c->remote);
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->nconns++;
	return c;
}

/* The stream is connected: greet (or refuse) and start reading. */
static void conn_greet(struct conn *c)
{
	struct cg_lmtp_server *s = c->srv;
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	snprintf(c->remote, sizeof(c->remote), "?");
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET)
			uv_ip4_name((struct sockaddr_in *)&ss, c->remote, sizeof(c->remote));
		else if (ss.ss_family == AF_INET6)
			uv_ip6_name((struct sockaddr_in6 *)&ss, c->remote, sizeof(c->remote));
	}
	/* Replies are small: a large kernel buffer would only hold those a client does not read. */
	int sndbuf = OUT_MAX;
	uv_send_buffer_size((uv_handle_t *)&c->tcp, &sndbuf);
	if (s->nconns > s->opts.max_connections) {
		cg_lmtp_say(&c->s, "421 4.7.0 %s too many connections, try again later", s->hostname);
		flush(c, 1);
		return;
	}
	cg_lmtp_say(&c->s, "220 %s casegate %s ready", s->hostname, s->opts.smtp ? "ESMTP" : "LMTP");
	flush(c, 0);
	arm_timeout(c);
	start_reading(c);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct cg_lmtp_server *s = server->data;
	if (status < 0 || s->closing)
		return;
	struct conn *c = conn_new(s);
	if (!c)
		return;
	if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
		conn_close(c);
		return;
	}
	conn_greet(c);
}

static void listener_closed(uv_handle_t *h);

static void set_rules(struct cg_lmtp_server *s)
{
	s->rules = (struct cg_lmtp_rules){.smtp = s->opts.smtp,
					  .max_size = s->opts.max_size,
					  .max_recipients = s->opts.max_recipients,
					  .hostname = s->hostname,
					  .rcpt = s->rcpt_fn,
					  .ud = s->ud};
}

int cg_lmtp_server_create(uv_loop_t *loop, const struct cg_lmtp_opts *opts, cg_lmtp_rcpt_fn rcpt, cg_lmtp_msg_fn msg,
			  void *ud, struct cg_lmtp_server **out, char *err, size_t errlen)
{
	struct cg_lmtp_server *s = calloc(1, sizeof(*s));
	if (!s)
		return CG_ENOMEM;
	s->loop = loop;
	s->opts = *opts;
	if (!s->opts.max_size)
		s->opts.max_size = 10 * 1024 * 1024;
	if (!s->opts.max_recipients)
		s->opts.max_recipients = 100;
	if (!s->opts.timeout_ms)
		s->opts.timeout_ms = 5 * 60 * 1000;
	if (!s->opts.max_connections)
		s->opts.max_connections = 100;
	s->hostname = strdup(opts->hostname && *opts->hostname ? opts->hostname : "casegate");
	s->host = strdup(opts->host ? opts->host : "127.0.0.1");
	s->rcpt_fn = rcpt;
	s->msg_fn = msg;
	s->ud = ud;
	if (!s->hostname || !s->host) {
		free(s->hostname);
		free(s->host);
		free(s);
		return CG_ENOMEM;
	}
	s->opts.hostname = s->hostname;
	s->opts.host = s->host;
	set_rules(s);
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	if (uv_ip4_addr(s->host, opts->port, (struct sockaddr_in *)&ss) != 0 &&
	    uv_ip6_addr(s->host, opts->port, (struct sockaddr_in6 *)&ss) != 0) {
		snprintf(err, errlen, "not an IP address: %s", s->host);
		free(s->hostname);
		free(s->host);
		free(s);
		return CG_EINVAL;
	}
	uv_tcp_init(loop, &s->listener);
	s->listener.data = s;
	int r = uv_tcp_bind(&s->listener, (const struct sockaddr *)&ss, 0);
	if (r == 0)
		r = uv_listen((uv_stream_t *)&s->listener, 128, on_connection);
	if (r != 0) {
		snprintf(err, errlen, "%s", uv_strerror(r));
		/* The handle lives in s: s goes in the close callback, when the caller's loop runs. */
		s->closing = 1;
		uv_close((uv_handle_t *)&s->listener, listener_closed);
		return CG_EIO;
	}
	struct sockaddr_storage bound;
	int blen = sizeof(bound);
	if (uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &blen) == 0)
		s->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
							   : ((struct sockaddr_in *)&bound)->sin_port);
	*out = s;
	return 0;
}

int cg_lmtp_server_port(const struct cg_lmtp_server *s)
{
	return s->port;
}

unsigned cg_lmtp_server_connections(const struct cg_lmtp_server *s)
{
	return s->nconns;
}

static void listener_closed(uv_handle_t *h)
{
	struct cg_lmtp_server *s = h->data;
	s->listener_closed = 1;
	maybe_server_closed(s);
}

void cg_lmtp_server_close(struct cg_lmtp_server *s, void (*on_closed)(void *ud), void *ud)
{
	if (!s) {
		if (on_closed)
			on_closed(ud);
		return;
	}
	s->closing = 1;
	s->on_closed = on_closed;
	s->closed_ud = ud;
	for (struct conn *c = s->conns; c; c = c->next) {
		if (c->busy)
			continue; /* answered first, then closed by the peer or at QUIT */
		cg_lmtp_say(&c->s, "421 4.3.2 %s shutting down", s->hostname);
		flush(c, 1);
	}
	uv_close((uv_handle_t *)&s->listener, listener_closed);
}

/* ---------------------------------------------------------------- fuzz hook */

#define FUZZ_MAX_SIZE 512
#define FUZZ_MAX_RCPTS 3

struct fuzz_state {
	struct cg_lmtp_msg *held;
	struct cg_lmtp_server *srv; /* NULL once closing */
	int closed;
	unsigned n;
	int bad; /* an invariant broke */
	char line[2048];
	size_t line_len;
};

static int fuzz_rcpt(const char *rcpt, void *ud, char *msg, size_t msglen)
{
	struct fuzz_state *fs = ud;
	if (!rcpt[0] || strpbrk(rcpt, " <>"))
		fs->bad = 1;
	switch (rcpt[0]) {
	case 'x':
		snprintf(msg, msglen, "5.1.1 <%s>: no such recipient", rcpt);
		return 550;
	case 't':
		return 451; /* no text: the server supplies one */
	default:
		return 0;
	}
}

/* Answers synchronously, later (from the feed loop), or not at all (every code defaults). */
static void fuzz_msg(struct cg_lmtp_msg *m, void *ud)
{
	struct fuzz_state *fs = ud;
	static const int codes[] = {250, 451, 550, 0, 999};
	if (!m->mail_from || m->nrcpts == 0 || m->nrcpts > FUZZ_MAX_RCPTS || m->len > FUZZ_MAX_SIZE ||
	    !m->data || m->data[m->len] != '\0' || fs->held)
		fs->bad = 1;
	switch (fs->n++ % 3) {
	case 0:
		for (size_t i = 0; i < m->nrcpts; i++)
			cg_lmtp_reply(m, i, codes[(i + m->len) % 5], i % 2 ? NULL : "2.0.0 fuzz");
		cg_lmtp_msg_done(m);
		break;
	case 1:
		fs->held = m;
		break;
	default:
		cg_lmtp_msg_done(m);
		break;
	}
}

/* Every reply line the server writes is "ddd" + ' ' or '-' + printable text + CRLF. */
static void fuzz_check_out(struct fuzz_state *fs, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (fs->line_len >= sizeof(fs->line)) {
			fs->bad = 1;
			fs->line_len = 0;
		}
		fs->line[fs->line_len++] = p[i];
		if (p[i] != '\n')
			continue;
		const char *l = fs->line;
		size_t ll = fs->line_len;
		fs->line_len = 0;
		if (ll < 6 || l[ll - 2] != '\r' || l[0] < '2' || l[0] > '5' || !isdigit((unsigned char)l[1]) ||
		    !isdigit((unsigned char)l[2]) || (l[3] != ' ' && l[3] != '-')) {
			fs->bad = 1;
			continue;
		}
		for (size_t k = 4; k < ll - 2; k++)
			if ((unsigned char)l[k] < ' ' || l[k] == 0x7f)
				fs->bad = 1;
	}
}

static void fuzz_closed(void *ud)
{
	*(int *)ud = 1;
}

static void fuzz_output(const char *p, size_t n, void *ud)
{
	fuzz_check_out(ud, p, n);
}

/* Answers a held message later (its connection may be gone by then). */
static void fuzz_answer_held(void *ud)
{
	struct fuzz_state *fs = ud;
	if (fs->held) {
		struct cg_lmtp_msg *m = fs->held;
		fs->held = NULL;
		for (size_t i = 0; i < m->nrcpts; i++)
			cg_lmtp_reply(m, i, i % 2 ? 250 : 452, "4.2.2 later");
		cg_lmtp_msg_done(m);
	}
}

static int fuzz_server_gone(void *ud)
{
	struct fuzz_state *fs = ud;
	if (fs->srv && fs->srv->nconns == 0) {
		cg_lmtp_server_close(fs->srv, fuzz_closed, &fs->closed);
		fs->srv = NULL;
	}
	return fs->closed;
}

int cg_lmtp_fuzz_feed(const uint8_t *data, size_t len)
{
	struct fuzz_state fs = {0};
	struct cg_fuzz_pump p = {.before = fuzz_answer_held, .after = fuzz_server_gone, .output = fuzz_output, .ud = &fs};
	int rc = -1;

	if (cg_fuzz_pump_open(&p) != 0)
		return -1;
	struct cg_lmtp_server *s = calloc(1, sizeof(*s));
	if (!s)
		goto out;
	s->loop = &p.loop;
	s->opts.smtp = len && (data[0] & 0x80);
	s->opts.max_size = FUZZ_MAX_SIZE;
	s->opts.max_recipients = FUZZ_MAX_RCPTS;
	s->opts.timeout_ms = 20;
	s->opts.max_connections = 4;
	s->opts.max_per_sender_hour = 2;
	s->hostname = strdup("fuzz.example");
	s->host = strdup("127.0.0.1");
	s->opts.hostname = s->hostname;
	s->opts.host = s->host;
	s->rcpt_fn = fuzz_rcpt;
	s->msg_fn = fuzz_msg;
	s->ud = &fs;
	set_rules(s);
	uv_tcp_init(&p.loop, &s->listener); /* never bound: closed like a real listener */
	s->listener.data = s;
	fs.srv = s;
	if (!s->hostname || !s->host)
		goto out;
	struct conn *c = conn_new(s);
	if (!c)
		goto out;
	if (uv_tcp_open(&c->tcp, p.sv[0]) < 0) {
		conn_close(c);
		goto out;
	}
	p.sv[0] = -1; /* owned by the handle now */
	conn_greet(c);
	/* First byte: bit 7 picks SMTP, the rest the write chunk size so lines split at varied places. */
	rc = cg_fuzz_pump_run(&p, data + (len ? 1 : 0), len ? len - 1 : 0, len ? (size_t)(data[0] % 64) + 1 : 1);
out:
	if (fs.held) /* the connection is gone: this frees it */
		cg_lmtp_msg_done(fs.held);
	if (fs.srv) {
		cg_lmtp_server_close(fs.srv, fuzz_closed, &fs.closed);
		uv_run(&p.loop, UV_RUN_DEFAULT);
	}
	if (cg_fuzz_pump_close(&p) != 0)
		rc = -2;
	if (rc == 0 && fs.bad)
		rc = -3;
	return rc;
}
