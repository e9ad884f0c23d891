/* lmtp_session.c: the LMTP/SMTP dialogue: command parsing and replies, the envelope transaction,
 * DATA with dot-unstuffing and the size limit. No I/O: lmtp.c feeds it and writes what it says. */
#define CG_LOG_COMPONENT "mail"
#include "lmtp_session.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

#define LINE_MAX_CMD 2048     /* RFC 5321 asks for 512; be lenient with long parameters */
#define DATA_CHUNK 8192       /* a partial data line longer than this is taken as it is */

static void out_put(struct cg_lmtp_session *s, const char *p, size_t n)
{
	if (s->out.n + n > s->out.cap) {
		size_t cap = s->out.cap ? s->out.cap : 512;
		while (cap < s->out.n + n)
			cap *= 2;
		char *np = realloc(s->out.p, cap);
		if (!np)
			return; /* the peer times out; nothing better to do without memory */
		s->out.p = np;
		s->out.cap = cap;
	}
	memcpy(s->out.p + s->out.n, p, n);
	s->out.n += n;
}

void cg_lmtp_say(struct cg_lmtp_session *s, const char *fmt, ...)
{
	char line[1100];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 3)
		n = (int)sizeof(line) - 3;
	/* Replies echo client text (a refused parameter): a bare CR or LF there would split the
	 * reply line for the client, so control bytes go out as '?'. */
	for (int i = 0; i < n; i++)
		if ((unsigned char)line[i] < ' ' || line[i] == 0x7f)
			line[i] = '?';
	line[n++] = '\r';
	line[n++] = '\n';
	out_put(s, line, (size_t)n);
}

void cg_lmtp_session_reset(struct cg_lmtp_session *s)
{
	free(s->mail_from);
	s->mail_from = NULL;
	for (size_t i = 0; i < s->nrcpts; i++)
		free(s->rcpts[i]);
	free(s->rcpts);
	s->rcpts = NULL;
	s->nrcpts = 0;
	free(s->data);
	s->data = NULL;
	s->data_len = s->data_cap = s->data_bytes = 0;
	s->has_mail = s->in_data = s->oversize = 0;
}

void cg_lmtp_session_init(struct cg_lmtp_session *s, const struct cg_lmtp_rules *rules, const char *remote)
{
	memset(s, 0, sizeof(*s));
	s->rules = rules;
	s->remote = remote;
}

void cg_lmtp_session_cleanup(struct cg_lmtp_session *s)
{
	cg_lmtp_session_reset(s);
	free(s->out.p);
	s->out.p = NULL;
	s->out.n = s->out.cap = 0;
}

/* Parses "<addr> params" after "FROM:" / "TO:". addr gets the address (no <>); params the rest. */
static int parse_path(const char *p, char *addr, size_t alen, const char **params)
{
	while (*p == ' ')
		p++;
	if (*p != '<')
		return -1;
	const char *end = strchr(p, '>');
	if (!end || (size_t)(end - p - 1) >= alen)
		return -1;
	size_t n = (size_t)(end - p - 1);
	memcpy(addr, p + 1, n);
	addr[n] = '\0';
	/* A source route ("<@a,@b:user@c>") is obsolete: keep the mailbox. */
	if (addr[0] == '@') {
		char *colon = strchr(addr, ':');
		if (!colon)
			return -1;
		memmove(addr, colon + 1, strlen(colon + 1) + 1);
	}
	for (const char *q = addr; *q; q++)
		if ((unsigned char)*q <= ' ' || *q == '<' || *q == '>')
			return -1;
	*params = end + 1;
	return 0;
}

static void cmd_hello(struct cg_lmtp_session *s, const char *verb, const char *arg)
{
	int lmtp = !s->rules->smtp;
	if (lmtp && strcasecmp(verb, "LHLO") != 0) {
		cg_lmtp_say(s, "500 5.5.1 this is LMTP: use LHLO");
		return;
	}
	if (!lmtp && strcasecmp(verb, "LHLO") == 0) {
		cg_lmtp_say(s, "500 5.5.1 this is SMTP: use EHLO or HELO");
		return;
	}
	if (!*arg) {
		cg_lmtp_say(s, "501 5.5.4 %s needs a domain", verb);
		return;
	}
	cg_lmtp_session_reset(s);
	s->helo = 1;
	if (strcasecmp(verb, "HELO") == 0) {
		cg_lmtp_say(s, "250 %s", s->rules->hostname);
		return;
	}
	cg_lmtp_say(s, "250-%s", s->rules->hostname);
	cg_lmtp_say(s, "250-PIPELINING");
	cg_lmtp_say(s, "250-ENHANCEDSTATUSCODES");
	cg_lmtp_say(s, "250-8BITMIME");
	cg_lmtp_say(s, "250 SIZE %zu", s->rules->max_size);
}

static void cmd_mail(struct cg_lmtp_session *s, const char *arg)
{
	if (!s->helo) {
		cg_lmtp_say(s, "503 5.5.1 say %s first", s->rules->smtp ? "EHLO" : "LHLO");
		return;
	}
	if (s->has_mail) {
		cg_lmtp_say(s, "503 5.5.1 nested MAIL command");
		return;
	}
	if (strncasecmp(arg, "FROM:", 5) != 0) {
		cg_lmtp_say(s, "501 5.5.4 syntax: MAIL FROM:<address>");
		return;
	}
	char addr[512];
	const char *params = NULL;
	if (parse_path(arg + 5, addr, sizeof(addr), &params) != 0) {
		cg_lmtp_say(s, "501 5.1.7 bad sender address syntax");
		return;
	}
	/* Parameters: SIZE=n and BODY=7BIT|8BITMIME are known; others are refused (RFC 5321 4.1.1.11). */
	while (*params) {
		while (*params == ' ')
			params++;
		if (!*params)
			break;
		size_t n = strcspn(params, " ");
		if (n > 5 && strncasecmp(params, "SIZE=", 5) == 0) {
			char num[24];
			size_t ln = n - 5 < sizeof(num) - 1 ? n - 5 : sizeof(num) - 1;
			memcpy(num, params + 5, ln);
			num[ln] = '\0';
			char *e = NULL;
			unsigned long long v = strtoull(num, &e, 10);
			if (!e || *e || !isdigit((unsigned char)num[0])) {
				cg_lmtp_say(s, "501 5.5.4 bad SIZE value");
				return;
			}
			if (v > s->rules->max_size) {
				cg_lmtp_say(s, "552 5.3.4 message size exceeds fixed limit of %zu bytes", s->rules->max_size);
				return;
			}
		} else if (n > 5 && strncasecmp(params, "BODY=", 5) == 0) {
			if (!((n == 9 && strncasecmp(params + 5, "7BIT", 4) == 0) ||
			      (n == 13 && strncasecmp(params + 5, "8BITMIME", 8) == 0))) {
				cg_lmtp_say(s, "501 5.5.4 BODY must be 7BIT or 8BITMIME");
				return;
			}
		} else {
			cg_lmtp_say(s, "555 5.5.4 unsupported MAIL parameter %.*s", (int)(n > 40 ? 40 : n), params);
			return;
		}
		params += n;
	}
	if (!(s->mail_from = strdup(addr))) {
		cg_lmtp_say(s, "451 4.3.0 out of memory");
		return;
	}
	s->has_mail = 1;
	cg_lmtp_say(s, "250 2.1.0 Ok");
}

static void cmd_rcpt(struct cg_lmtp_session *s, const char *arg)
{
	if (!s->has_mail) {
		cg_lmtp_say(s, "503 5.5.1 need MAIL before RCPT");
		return;
	}
	if (strncasecmp(arg, "TO:", 3) != 0) {
		cg_lmtp_say(s, "501 5.5.4 syntax: RCPT TO:<address>");
		return;
	}
	char addr[512];
	const char *params = NULL;
	if (parse_path(arg + 3, addr, sizeof(addr), &params) != 0 || !addr[0]) {
		cg_lmtp_say(s, "501 5.1.3 bad recipient address syntax");
		return;
	}
	while (*params == ' ')
		params++;
	if (*params) {
		cg_lmtp_say(s, "555 5.5.4 RCPT parameters are not supported");
		return;
	}
	if (s->nrcpts >= s->rules->max_recipients) {
		cg_lmtp_say(s, "452 4.5.3 too many recipients");
		return;
	}
	char msg[300] = "";
	int code = s->rules->rcpt(addr, s->rules->ud, msg, sizeof(msg));
	if (code) {
		cg_lmtp_say(s, "%d %s", code, msg[0] ? msg : "5.1.1 recipient unknown");
		return;
	}
	char **nr = realloc(s->rcpts, (s->nrcpts + 1) * sizeof(*nr));
	char *copy = strdup(addr);
	if (!nr || !copy) {
		if (nr)
			s->rcpts = nr;
		free(copy);
		cg_lmtp_say(s, "451 4.3.0 out of memory");
		return;
	}
	s->rcpts = nr;
	s->rcpts[s->nrcpts++] = copy;
	cg_lmtp_say(s, "250 2.1.5 Ok");
}

static void cmd_data(struct cg_lmtp_session *s)
{
	if (!s->has_mail) {
		cg_lmtp_say(s, "503 5.5.1 need MAIL before DATA");
		return;
	}
	if (s->nrcpts == 0) {
		cg_lmtp_say(s, "554 5.5.1 no valid recipients");
		return;
	}
	s->in_data = 1;
	s->at_line_start = 1;
	s->data_bytes = 0;
	s->oversize = 0;
	cg_lmtp_say(s, "354 End data with <CR><LF>.<CR><LF>");
}

static void command(struct cg_lmtp_session *s, char *line)
{
	char verb[16];
	size_t n = 0;
	while (line[n] && line[n] != ' ' && n + 1 < sizeof(verb)) {
		verb[n] = line[n];
		n++;
	}
	verb[n] = '\0';
	const char *arg = line + n;
	while (*arg == ' ')
		arg++;
	if (strcasecmp(verb, "LHLO") == 0 || strcasecmp(verb, "EHLO") == 0 || strcasecmp(verb, "HELO") == 0)
		cmd_hello(s, verb, arg);
	else if (strcasecmp(verb, "MAIL") == 0)
		cmd_mail(s, arg);
	else if (strcasecmp(verb, "RCPT") == 0)
		cmd_rcpt(s, arg);
	else if (strcasecmp(verb, "DATA") == 0 && !*arg)
		cmd_data(s);
	else if (strcasecmp(verb, "RSET") == 0) {
		cg_lmtp_session_reset(s);
		cg_lmtp_say(s, "250 2.0.0 Ok");
	} else if (strcasecmp(verb, "NOOP") == 0)
		cg_lmtp_say(s, "250 2.0.0 Ok");
	else if (strcasecmp(verb, "QUIT") == 0) {
		cg_lmtp_say(s, "221 2.0.0 %s closing connection", s->rules->hostname);
		s->quit = 1;
	} else if (strcasecmp(verb, "VRFY") == 0)
		cg_lmtp_say(s, "252 2.5.2 cannot verify; send mail and it will be tried");
	else if (strcasecmp(verb, "HELP") == 0)
		cg_lmtp_say(s, "214 2.0.0 commands: %s MAIL RCPT DATA RSET NOOP QUIT", s->rules->smtp ? "EHLO HELO" : "LHLO");
	else if (strcasecmp(verb, "STARTTLS") == 0 || strcasecmp(verb, "AUTH") == 0 || strcasecmp(verb, "BDAT") == 0 ||
		 strcasecmp(verb, "ETRN") == 0 || strcasecmp(verb, "EXPN") == 0)
		cg_lmtp_say(s, "502 5.5.1 %s not implemented", verb);
	else
		cg_lmtp_say(s, "500 5.5.2 unknown command");
}

static void data_append(struct cg_lmtp_session *s, const char *p, size_t n)
{
	s->data_bytes += n;
	if (s->oversize)
		return;
	if (s->data_bytes > s->rules->max_size) {
		/* Keep reading to the end of DATA (the reply must follow it), but keep nothing. */
		s->oversize = 1;
		free(s->data);
		s->data = NULL;
		s->data_len = s->data_cap = 0;
		return;
	}
	if (s->data_len + n + 1 > s->data_cap) {
		size_t cap = s->data_cap ? s->data_cap : 16384;
		while (cap < s->data_len + n + 1)
			cap *= 2;
		char *np = realloc(s->data, cap);
		if (!np) {
			s->oversize = 1; /* answered as too big: nothing better to say */
			free(s->data);
			s->data = NULL;
			s->data_len = s->data_cap = 0;
			return;
		}
		s->data = np;
		s->data_cap = cap;
	}
	memcpy(s->data + s->data_len, p, n);
	s->data_len += n;
	s->data[s->data_len] = '\0';
}

/* The final "." of DATA: 1 when the message is there to be handed over (mail_from, rcpts, data);
 * 0 when it was over max_size (refused and forgotten). */
static int message_end(struct cg_lmtp_session *s)
{
	s->in_data = 0;
	if (!s->oversize)
		return 1;
	CG_LOG_WARN("client=%s from=<%s>: message of %zu bytes over mail.max_size (%zu)", s->remote,
		    s->mail_from ? s->mail_from : "", s->data_bytes, s->rules->max_size);
	size_t n = s->rules->smtp ? 1 : s->nrcpts;
	for (size_t i = 0; i < n; i++)
		cg_lmtp_say(s, "552 5.3.4 message size exceeds fixed limit of %zu bytes", s->rules->max_size);
	cg_lmtp_session_reset(s);
	return 0;
}

static void consume(char *in, size_t *len, size_t n)
{
	memmove(in, in + n, *len - n);
	*len -= n;
}

int cg_lmtp_session_feed(struct cg_lmtp_session *s, char *in, size_t *len)
{
	while (!s->quit && *len) {
		char *nl = memchr(in, '\n', *len);
		if (s->in_data) {
			if (!nl) {
				if (*len < DATA_CHUNK)
					break;
				/* A very long line: pass it on in pieces (it cannot be the final "."). */
				size_t skip = s->at_line_start && in[0] == '.' ? 1 : 0;
				data_append(s, in + skip, *len - skip);
				s->at_line_start = 0;
				*len = 0;
				break;
			}
			size_t n = (size_t)(nl - in);
			size_t ll = n && in[n - 1] == '\r' ? n - 1 : n;
			if (s->at_line_start && ll == 1 && in[0] == '.') {
				consume(in, len, n + 1);
				if (message_end(s))
					return CG_LMTP_MESSAGE;
				continue;
			}
			size_t skip = s->at_line_start && ll > 0 && in[0] == '.' ? 1 : 0;
			data_append(s, in + skip, ll - skip);
			data_append(s, "\n", 1);
			s->at_line_start = 1;
			consume(in, len, n + 1);
			continue;
		}
		if (!nl) {
			if (*len > LINE_MAX_CMD) {
				cg_lmtp_say(s, "500 5.5.2 line too long");
				s->discard_line = 1;
				*len = 0;
			}
			break;
		}
		size_t n = (size_t)(nl - in);
		if (s->discard_line) {
			s->discard_line = 0;
			consume(in, len, n + 1);
			continue;
		}
		if (n > LINE_MAX_CMD) {
			cg_lmtp_say(s, "500 5.5.2 line too long");
			consume(in, len, n + 1);
			continue;
		}
		char line[LINE_MAX_CMD + 1];
		size_t ll = n && in[n - 1] == '\r' ? n - 1 : n;
		memcpy(line, in, ll);
		line[ll] = '\0';
		consume(in, len, n + 1);
		if (memchr(line, '\0', ll)) {
			cg_lmtp_say(s, "500 5.5.2 NUL in command");
			continue;
		}
		command(s, line);
	}
	return CG_LMTP_MORE;
}
