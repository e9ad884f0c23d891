/* http_parse.c: llhttp glue of the HTTP server: head and body buffers, header table, limits,
 * obs-fold and duplicate-header refusals; knows nothing of the connection. */
#include "http_parse.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_text.h"

/* Buffers above these sizes are released after a request instead of kept for reuse. */
#define HBUF_KEEP (16 * 1024)
#define BBUF_KEEP (64 * 1024)

/* Where the head scan is: start of a request (leading CRLF allowed), inside a line, at a
 * line start, after a CR at a line start, done (head over: body and the rest not scanned). */
enum hscan { HS_START, HS_MID, HS_LINESTART, HS_CR, HS_DONE };

static const char empty_str[] = "";

static struct cg_http_parse *php(llhttp_t *p)
{
	return p->data;
}

static int refuse(struct cg_http_parse *h, int status, const char *msg)
{
	h->err_status = status;
	h->err_msg = msg;
	return -1;
}

/* Counts head bytes up to at+len; the whole head (request line + headers) is bounded. */
static int head_check(struct cg_http_parse *h, const char *at, size_t len)
{
	if (!h->head_base)
		h->head_base = at;
	size_t n = h->head_prev + (size_t)(at + len - h->head_base);
	if (n > h->lim->max_header_bytes) {
		h->err_size = n;
		return refuse(h, 431, "request header too large");
	}
	return 0;
}

static int head_append(struct cg_http_parse *h, const char *at, size_t len)
{
	if (!h->tok_open) {
		h->tok_start = h->hlen;
		h->tok_open = 1;
	}
	if (cg_http_grow(&h->hbuf, &h->hcap, h->hlen + len + 1, 512) < 0)
		return refuse(h, 500, "out of memory");
	memcpy(h->hbuf + h->hlen, at, len);
	h->hlen += len;
	return 0;
}

/* Ends the current token with a NUL; returns its offset. */
static int head_token_end(struct cg_http_parse *h, size_t *off)
{
	if (!h->tok_open) {
		h->tok_start = h->hlen;
	}
	if (cg_http_grow(&h->hbuf, &h->hcap, h->hlen + 1, 512) < 0)
		return refuse(h, 500, "out of memory");
	h->hbuf[h->hlen++] = '\0';
	h->tok_open = 0;
	*off = h->tok_start;
	return 0;
}

static int on_message_begin(llhttp_t *p)
{
	struct cg_http_parse *h = php(p);
	h->hlen = 0;
	h->nhdr = 0;
	h->blen = 0;
	h->tok_open = 0;
	h->url_done = 0;
	h->in_head = 1;
	h->head_prev = 0;
	h->head_base = NULL;
	h->err_status = 0;
	h->err_size = 0;
	h->err_declared = 0;
	h->events |= CG_HTTP_PARSE_BEGAN;
	/* Release what one large request grew, so idle connections stay small. */
	if (h->bcap > BBUF_KEEP) {
		free(h->bbuf);
		h->bbuf = NULL;
		h->bcap = 0;
	}
	if (h->hcap > HBUF_KEEP) {
		free(h->hbuf);
		h->hbuf = NULL;
		h->hcap = 0;
	}
	return 0;
}

/* The URL, a header name or a header value (trailers are ignored: the request already points
 * into hbuf). */
static int on_head_bytes(llhttp_t *p, const char *at, size_t len)
{
	struct cg_http_parse *h = php(p);
	if (!h->in_head)
		return 0;
	if (head_check(h, at, len) < 0)
		return -1;
	return head_append(h, at, len);
}

static int on_url_complete(llhttp_t *p)
{
	struct cg_http_parse *h = php(p);
	h->url_done = 1;
	return head_token_end(h, &h->url_off);
}

static int on_header_field_complete(llhttp_t *p)
{
	struct cg_http_parse *h = php(p);
	if (!h->in_head)
		return 0; /* trailers: ignored (the request already points into hbuf) */
	size_t off;
	if (h->nhdr >= h->lim->max_headers)
		return refuse(h, 431, "too many request headers");
	if (h->nhdr * 2 + 2 > h->hoff_cap) {
		size_t ncap = h->hoff_cap ? h->hoff_cap * 2 : 32;
		size_t *n = realloc(h->hoff, ncap * sizeof(*n));
		if (!n)
			return refuse(h, 500, "out of memory");
		h->hoff = n;
		h->hoff_cap = ncap;
	}
	if (head_token_end(h, &off) < 0)
		return -1;
	h->hoff[h->nhdr * 2] = off;
	h->hoff[h->nhdr * 2 + 1] = SIZE_MAX;
	h->nhdr++;
	return 0;
}

static int on_header_value_complete(llhttp_t *p)
{
	struct cg_http_parse *h = php(p);
	if (!h->in_head)
		return 0; /* trailers: ignored (the request already points into hbuf) */
	size_t off;
	if (head_token_end(h, &off) < 0)
		return -1;
	if (h->nhdr > 0)
		h->hoff[h->nhdr * 2 - 1] = off;
	return 0;
}

/* The first header that may appear once only and appears twice, or NULL. */
static const char *duplicate_singleton(const struct cg_http_header *hd, size_t n)
{
	static const char *const once[] = {"Authorization", "Proxy-Authorization", "Host", "Content-Type",
					   "Content-Encoding", "Expect", NULL};
	for (size_t k = 0; once[k]; k++) {
		int seen = 0;
		for (size_t i = 0; i < n; i++)
			if (cg_http_casecmp(hd[i].name, once[k]) == 0 && seen++)
				return once[k];
	}
	return NULL;
}

/* A GET or HEAD of a reserved path (a health check): what a reserved slot may serve. */
static int reserved_request(const struct cg_http_limits *l, const struct cg_http_request *r)
{
	if (!l->reserved_paths || (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0))
		return 0;
	for (size_t i = 0; l->reserved_paths[i]; i++)
		if (strcmp(r->path, l->reserved_paths[i]) == 0)
			return 1;
	return 0;
}

static int on_headers_complete(llhttp_t *p)
{
	struct cg_http_parse *h = php(p);
	const struct cg_http_limits *l = h->lim;
	h->in_head = 0;
	if (!h->url_done)
		return refuse(h, 400, "missing request target");

	if (h->nhdr > h->hdrs_cap) {
		struct cg_http_header *hd = realloc(h->hdrs, h->nhdr * sizeof(*hd));
		if (!hd)
			return refuse(h, 500, "out of memory");
		h->hdrs = hd;
		h->hdrs_cap = h->nhdr;
	}
	for (size_t i = 0; i < h->nhdr; i++) {
		h->hdrs[i].name = h->hbuf + h->hoff[2 * i];
		h->hdrs[i].value = h->hoff[2 * i + 1] == SIZE_MAX ? empty_str : h->hbuf + h->hoff[2 * i + 1];
	}
	const char *dup = duplicate_singleton(h->hdrs, h->nhdr);
	if (dup) {
		/* Which one counts would depend on who reads it (a proxy, us): refuse instead. */
		snprintf(h->err_buf, sizeof(h->err_buf), "duplicate %s header", dup);
		return refuse(h, 400, h->err_buf);
	}
	struct cg_http_request *r = h->req;
	r->method = llhttp_method_name((llhttp_method_t)llhttp_get_method(p));
	char *url = h->hbuf + h->url_off;
	char *q = strchr(url, '?');
	if (q) {
		*q = '\0';
		r->query = q + 1;
	} else {
		r->query = empty_str;
	}
	r->path = url;
	r->headers = h->hdrs;
	r->nheaders = h->nhdr;
	r->body = empty_str;
	r->body_len = 0;
	h->http10 = llhttp_get_http_major(p) == 1 && llhttp_get_http_minor(p) == 0;
	if (h->reserve_only && !reserved_request(l, r))
		return refuse(h, 503, "too many connections");

	int has_body = (p->flags & F_CHUNKED) || ((p->flags & F_CONTENT_LENGTH) && p->content_length > 0);
	if ((p->flags & F_CONTENT_LENGTH) && p->content_length > l->max_body) {
		h->err_size = p->content_length;
		h->err_declared = 1;
		return refuse(h, 413, "request body too large");
	}
	if ((p->flags & F_CONTENT_LENGTH) && p->content_length > 0) {
		/* Exact size known (and bounded above): one allocation, no regrowth. */
		if (cg_http_grow(&h->bbuf, &h->bcap, (size_t)p->content_length + 1, 256) < 0)
			return refuse(h, 500, "out of memory");
	}
	if (has_body) {
		const char *expect = cg_http_header_get(r, "Expect");
		h->events |= CG_HTTP_PARSE_BODY;
		/* The connection decides whether to invite the body (credentials first). */
		if (expect && cg_http_casecmp(expect, "100-continue") == 0 && !h->http10)
			h->events |= CG_HTTP_PARSE_CONTINUE;
	}
	return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
	struct cg_http_parse *h = php(p);
	if (len > h->lim->max_body - h->blen) {
		h->err_size = (uint64_t)h->blen + len; /* chunked: what came so far */
		return refuse(h, 413, "request body too large");
	}
	if (cg_http_grow(&h->bbuf, &h->bcap, h->blen + len + 1, 256) < 0)
		return refuse(h, 500, "out of memory");
	memcpy(h->bbuf + h->blen, at, len);
	h->blen += len;
	return 0;
}

static int on_message_complete(llhttp_t *p)
{
	struct cg_http_parse *h = php(p);
	if (h->blen > 0) {
		h->bbuf[h->blen] = '\0';
		h->req->body = h->bbuf;
		h->req->body_len = h->blen;
	}
	h->keep_alive = llhttp_should_keep_alive(p) ? 1 : 0;
	h->upgrade = p->upgrade ? 1 : 0;
	h->hscan = HS_START; /* the next bytes start the next request */
	h->paused = 1;
	/* Stop here: the next pipelined request is parsed only after this one is answered. */
	return HPE_PAUSED;
}

static const llhttp_settings_t parser_settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_head_bytes,
	.on_header_field = on_head_bytes,
	.on_header_value = on_head_bytes,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
	.on_url_complete = on_url_complete,
	.on_header_field_complete = on_header_field_complete,
	.on_header_value_complete = on_header_value_complete,
};

void cg_http_parse_init(struct cg_http_parse *h, struct cg_http_request *req, const struct cg_http_limits *lim)
{
	llhttp_init(&h->llh, HTTP_REQUEST, &parser_settings);
	h->llh.data = h;
	h->req = req;
	h->lim = lim;
	h->keep_alive = 1;
}

void cg_http_parse_cleanup(struct cg_http_parse *h)
{
	free(h->hbuf);
	free(h->hoff);
	free(h->hdrs);
	free(h->bbuf);
}

void cg_http_parse_resume(struct cg_http_parse *h)
{
	if (h->paused) {
		h->paused = 0;
		llhttp_resume(&h->llh);
	}
}

/*
 * Scans the head bytes in data for obs-fold (a header line starting with a space or tab,
 * RFC 9112 5.2): llhttp joins such a line to the previous value, others read it as its own
 * line or drop it, which lets a client smuggle a header past a proxy. 1 when found.
 */
static int head_scan(struct cg_http_parse *h, const char *data, size_t len)
{
	enum hscan st = (enum hscan)h->hscan;
	for (size_t i = 0; i < len && st != HS_DONE; i++) {
		char ch = data[i];
		switch (st) {
		case HS_START:
			if (ch != '\r' && ch != '\n')
				st = HS_MID;
			break;
		case HS_MID:
			if (ch == '\n')
				st = HS_LINESTART;
			break;
		case HS_LINESTART:
			if (ch == ' ' || ch == '\t')
				return 1;
			st = ch == '\r' ? HS_CR : ch == '\n' ? HS_DONE : HS_MID;
			break;
		case HS_CR:
			st = ch == '\n' ? HS_DONE : HS_MID;
			break;
		case HS_DONE:
			break;
		}
	}
	h->hscan = st;
	return 0;
}

enum cg_http_parse_result cg_http_parse_feed(struct cg_http_parse *h, const char *data, size_t len, size_t *used)
{
	if (head_scan(h, data, len)) {
		*used = len;
		refuse(h, 400, "malformed request: obs-folded header line (starts with a space or tab)");
		return CG_HTTP_PARSE_ERR;
	}
	if (h->in_head)
		h->head_base = data;
	llhttp_errno_t e = llhttp_execute(&h->llh, data, len);
	if (e == HPE_OK) {
		*used = len;
		if (h->in_head && h->head_base) {
			h->head_prev += (size_t)(data + len - h->head_base);
			h->head_base = NULL;
			if (h->head_prev > h->lim->max_header_bytes) {
				h->err_size = h->head_prev;
				refuse(h, 431, "request header too large");
				return CG_HTTP_PARSE_ERR;
			}
		}
		return CG_HTTP_PARSE_MORE;
	}
	if (e == HPE_PAUSED || (e == HPE_PAUSED_UPGRADE && h->paused)) {
		const char *pos = llhttp_get_error_pos(&h->llh);
		*used = pos ? (size_t)(pos - data) : len;
		return CG_HTTP_PARSE_MSG;
	}
	*used = len;
	if (!h->err_status) {
		const char *why = llhttp_get_error_reason(&h->llh);
		snprintf(h->err_buf, sizeof(h->err_buf), "malformed request: %s", why ? why : llhttp_errno_name(e));
		refuse(h, 400, h->err_buf);
	}
	return CG_HTTP_PARSE_ERR;
}
