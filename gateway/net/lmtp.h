/* lmtp.h: an LMTP (RFC 2033) / SMTP (RFC 5321 subset) receiver on libuv for alert mail. */
#ifndef CG_LMTP_H
#define CG_LMTP_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct cg_lmtp_server;

struct cg_lmtp_opts {
	const char *host;
	int port;                     /* 0: any free port (tests) */
	int smtp;                     /* 0: LMTP (LHLO, one reply per recipient after DATA); 1: SMTP */
	size_t max_size;              /* message bytes; SIZE= and DATA past it get 552 */
	unsigned max_recipients;      /* per transaction; more get 452 */
	unsigned timeout_ms;          /* inactivity while reading a command or data: 421 and close */
	unsigned max_connections;     /* more get 421 at once */
	unsigned max_per_sender_hour; /* messages per envelope sender per hour (0: no cap) */
	const char *hostname;         /* in the greeting and LHLO reply */
};

/* A received message: everything is owned by the server until cg_lmtp_msg_done(). */
struct cg_lmtp_msg {
	const char *mail_from;    /* envelope sender without <>, "" for the null sender */
	char **rcpts;             /* accepted recipients, in RCPT order */
	size_t nrcpts;
	const char *data;         /* the message, dot-unstuffed, lines ending in LF */
	size_t len;
	int rate_limited;         /* the sender is over max_per_sender_hour */
	const char *remote;       /* peer address, for logs */
	void *app;                /* free for the handler */
};

/*
 * Called at RCPT TO. Returns 0 to accept, or an SMTP reply code (550, 451, ...) with text
 * in msg (enhanced status code included, e.g. "5.1.1 <x>: no such recipient").
 */
typedef int (*cg_lmtp_rcpt_fn)(const char *rcpt, void *ud, char *msg, size_t msglen);
/*
 * Called when DATA completed within the size limit. The handler answers every recipient
 * with cg_lmtp_reply() and then calls cg_lmtp_msg_done(), now or later on the loop thread.
 * Until then the connection reads no further commands (pipelined ones wait in its buffer).
 */
typedef void (*cg_lmtp_msg_fn)(struct cg_lmtp_msg *m, void *ud);

int cg_lmtp_server_create(uv_loop_t *loop, const struct cg_lmtp_opts *opts, cg_lmtp_rcpt_fn rcpt, cg_lmtp_msg_fn msg,
			  void *ud, struct cg_lmtp_server **out, char *err, size_t errlen);
/* The bound port. */
int cg_lmtp_server_port(const struct cg_lmtp_server *s);
unsigned cg_lmtp_server_connections(const struct cg_lmtp_server *s);
/* Stops listening and closes idle connections; on_closed runs once every connection is gone,
 * which waits for messages handed to the handler to be answered. */
void cg_lmtp_server_close(struct cg_lmtp_server *s, void (*on_closed)(void *ud), void *ud);

/* Sets the reply for recipient i: code 250 (accepted), 4xx (retry) or 5xx; text without code. */
void cg_lmtp_reply(struct cg_lmtp_msg *m, size_t i, int code, const char *text);
/* Sends the replies (LMTP: one per recipient; SMTP: the worst of them) and frees m. */
void cg_lmtp_msg_done(struct cg_lmtp_msg *m);

/*
 * Test hook for tests/fuzz/fuzz_lmtp.c: runs data (first byte: bit 7 SMTP instead of LMTP, the
 * rest the write chunk size) as one client's byte stream through a real connection (socketpair)
 * of a throwaway, never-bound server with small limits (512-byte messages, 3 recipients, 20 ms
 * timeout). Recipients starting with 'x' get 550, with 't' 451; messages are answered at once,
 * later, or with no codes set. Returns 0 when everything closed cleanly with well-formed replies,
 * -1 on a hang, -2 on a leaked handle, -3 on a broken invariant (malformed reply line, message
 * over the limits).
 */
int cg_lmtp_fuzz_feed(const uint8_t *data, size_t len);

#endif
