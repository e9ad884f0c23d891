/* lmtp_session.h: the LMTP/SMTP dialogue of one client, without I/O: commands and their replies,
 * the envelope transaction, DATA (dot-unstuffing, the size limit). lmtp.c feeds it bytes. */
#ifndef CG_LMTP_SESSION_H
#define CG_LMTP_SESSION_H

#include <stddef.h>

/* What every session of a server obeys (not owned by the sessions). */
struct cg_lmtp_rules {
	int smtp;                /* 0: LMTP; 1: SMTP */
	size_t max_size;         /* message bytes */
	unsigned max_recipients; /* per transaction */
	const char *hostname;    /* in replies */
	int (*rcpt)(const char *rcpt, void *ud, char *msg, size_t msglen); /* as cg_lmtp_rcpt_fn */
	void *ud;
};

/* One client's side of the dialogue: its transaction and the replies not yet written. */
struct cg_lmtp_session {
	const struct cg_lmtp_rules *rules;
	const char *remote; /* peer address, for logs */
	int helo, has_mail, in_data, at_line_start, oversize, discard_line, quit;
	char *mail_from;
	char **rcpts;
	size_t nrcpts;
	char *data;
	size_t data_len, data_cap, data_bytes;
	struct {
		char *p;
		size_t n, cap;
	} out;
};

/* What cg_lmtp_session_feed stopped at. */
enum { CG_LMTP_MORE, CG_LMTP_MESSAGE };

/* s starts empty, obeying rules (kept by pointer); remote (kept) names the peer in logs. */
void cg_lmtp_session_init(struct cg_lmtp_session *s, const struct cg_lmtp_rules *rules, const char *remote);
/* Frees the transaction and the queued replies. */
void cg_lmtp_session_cleanup(struct cg_lmtp_session *s);
/* Forgets the transaction (sender, recipients, data). */
void cg_lmtp_session_reset(struct cg_lmtp_session *s);

/*
 * Handles the commands and data lines in in[0..*len) (what it consumes is removed) until a
 * message is complete (CG_LMTP_MESSAGE: take mail_from, rcpts and data over, then call again),
 * or the client said QUIT (quit set), or more input is needed (CG_LMTP_MORE). Replies queue in out.
 */
int cg_lmtp_session_feed(struct cg_lmtp_session *s, char *in, size_t *len);

/* Queues one reply line (CRLF added; control bytes in it become '?'). */
void cg_lmtp_say(struct cg_lmtp_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
