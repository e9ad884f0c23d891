/* http_parse.h: the HTTP server's request parser (llhttp glue): a connection's bytes in, one
 * cg_http_request at a time out, within the head and body limits. */
#ifndef CG_HTTP_PARSE_H
#define CG_HTTP_PARSE_H

#include <stddef.h>

#include <llhttp.h>

#include "http.h"

/* What a feed reports besides its result (events, read and cleared by the caller). */
enum { CG_HTTP_PARSE_BEGAN = 1, CG_HTTP_PARSE_BODY = 2, CG_HTTP_PARSE_CONTINUE = 4 };
enum cg_http_parse_result { CG_HTTP_PARSE_MORE, CG_HTTP_PARSE_MSG, CG_HTTP_PARSE_ERR };

/*
 * The request parser: llhttp glue that turns a connection's bytes into cg_http_request, within
 * the head and body limits. It knows nothing of the connection: what the connection must do
 * (timers, a 100 Continue, the error answer) it learns from a feed's result and events.
 */
struct cg_http_parse {
	llhttp_t llh;
	struct cg_http_request *req;       /* filled in for each message */
	const struct cg_http_limits *lim;
	/* head: "url\0name\0value\0..." as offsets, turned into pointers at headers_complete */
	char *hbuf;
	size_t hlen, hcap;
	size_t *hoff; /* 2 per header: name offset, value offset (SIZE_MAX = none yet) */
	size_t nhdr, hoff_cap;
	struct cg_http_header *hdrs;
	size_t hdrs_cap;
	size_t url_off;
	size_t tok_start;
	const char *head_base; /* where head bytes start in the buffer being parsed */
	size_t head_prev;      /* head bytes seen in earlier buffers */
	char *bbuf;
	size_t blen, bcap;
	int err_status;        /* CG_HTTP_PARSE_ERR: the answer's status (400, 413, 431, ...) and text */
	const char *err_msg;
	uint64_t err_size;     /* 413/431: the size met (see struct cg_http_refusal) */
	unsigned err_declared : 1;
	char err_buf[160];     /* err_msg text built for this request */
	unsigned events;       /* CG_HTTP_PARSE_BEGAN | CG_HTTP_PARSE_BODY | CG_HTTP_PARSE_CONTINUE since the caller last looked */
	unsigned hscan : 3;    /* head scan state (obs-fold detection), enum hscan */
	unsigned in_head : 1;
	unsigned url_done : 1;
	unsigned tok_open : 1;
	unsigned paused : 1;   /* paused after a complete message */
	unsigned keep_alive : 1;
	unsigned http10 : 1;
	unsigned upgrade : 1;
	unsigned reserve_only : 1; /* a reserved slot: health checks only (503 otherwise) */
};

/* Ready to parse a connection's bytes into req within lim (both kept by pointer). */
void cg_http_parse_init(struct cg_http_parse *h, struct cg_http_request *req, const struct cg_http_limits *lim);
void cg_http_parse_cleanup(struct cg_http_parse *h);

/* After the answer to a complete message: the next pipelined one may be parsed. */
void cg_http_parse_resume(struct cg_http_parse *h);

/*
 * Runs the parser over data; *used = bytes consumed. CG_HTTP_PARSE_MSG: a whole request is in
 * req (the parser is paused until cg_http_parse_resume). CG_HTTP_PARSE_ERR: the request is
 * refused with err_status and err_msg (the parser state is unusable: answer and close).
 */
enum cg_http_parse_result cg_http_parse_feed(struct cg_http_parse *h, const char *data, size_t len, size_t *used);

#endif
