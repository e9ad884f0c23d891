/* http_text.c: what HTTP text looks like to the server: default limits, reason phrases, header
 * and query lookups, the JSON error body. */
#include "http.h"
#include "http_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

void cg_http_limits_default(struct cg_http_limits *l)
{
	l->max_body = 1024 * 1024;
	l->max_header_bytes = 16 * 1024;
	l->max_headers = 100;
	l->header_timeout_ms = 10000;
	l->body_timeout_ms = 30000;
	l->idle_timeout_ms = 60000;
	l->max_connections = 1024;
	l->max_output_conn = 64 * 1024;
	l->max_output_total = 16 * 1024 * 1024;
	l->write_timeout_ms = 30000;
	l->first_byte_timeout_ms = 0;
	l->max_per_addr = 0;
	l->reserved = 0;
	l->reserved_paths = NULL;
}

const char *cg_http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Entity";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: break;
	}
	if (status >= 200 && status < 300)
		return "OK";
	if (status >= 400 && status < 500)
		return "Client Error";
	if (status >= 500 && status < 600)
		return "Server Error";
	return "Unknown";
}

static int ascii_lower(int ch)
{
	return (ch >= 'A' && ch <= 'Z') ? ch + ('a' - 'A') : ch;
}

int cg_http_casecmp(const char *a, const char *b)
{
	for (;; a++, b++) {
		int x = ascii_lower((unsigned char)*a), y = ascii_lower((unsigned char)*b);
		if (x != y || x == 0)
			return x - y;
	}
}

const char *cg_http_header_get(const struct cg_http_request *req, const char *name)
{
	for (size_t i = 0; i < req->nheaders; i++)
		if (cg_http_casecmp(req->headers[i].name, name) == 0)
			return req->headers[i].value;
	return NULL;
}

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = ascii_lower(ch);
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* Decodes one form-encoded char at *p (advancing it). Invalid or %00 escapes stay literal,
 * so a decoded string never carries an embedded NUL. */
static int form_next(const char **p)
{
	const char *s = *p;
	if (*s == '+') {
		*p = s + 1;
		return ' ';
	}
	if (*s == '%') {
		int h = hexval((unsigned char)s[1]), l = h >= 0 ? hexval((unsigned char)s[2]) : -1;
		if (h >= 0 && l >= 0 && (h | l) != 0) {
			*p = s + 3;
			return h * 16 + l;
		}
	}
	*p = s + 1;
	return (unsigned char)*s;
}

int cg_http_query_get(const struct cg_http_request *req, const char *name, char *buf, size_t buflen)
{
	const char *q = req->query ? req->query : "";
	while (*q) {
		const char *k = q;
		const char *n = name;
		int match = 1;
		while (*k && *k != '=' && *k != '&') {
			int ch = form_next(&k);
			if (match && (*n == '\0' || (unsigned char)*n != ch))
				match = 0;
			else if (match)
				n++;
		}
		if (match && *n == '\0') {
			size_t o = 0;
			if (*k == '=')
				k++;
			while (*k && *k != '&') {
				int ch = form_next(&k);
				if (o + 1 >= buflen)
					return CG_E2BIG;
				buf[o++] = (char)ch;
			}
			if (buflen == 0)
				return CG_E2BIG;
			buf[o] = '\0';
			return 0;
		}
		while (*k && *k != '&')
			k++;
		q = *k ? k + 1 : k;
	}
	return CG_ENOENT;
}

/* Grows *buf to hold at least need bytes (doubling). */
int cg_http_grow(char **buf, size_t *cap, size_t need, size_t min)
{
	if (need <= *cap)
		return 0;
	size_t ncap = *cap ? *cap : min;
	while (ncap < need)
		ncap *= 2;
	char *nb = realloc(*buf, ncap);
	if (!nb)
		return CG_ENOMEM;
	*buf = nb;
	*cap = ncap;
	return 0;
}

/* JSON string body {"errors":["msg"]}, malloc'd. */
char *cg_http_json_error(const char *msg, size_t *len)
{
	static const char pre[] = "{\"errors\":[\"", post[] = "\"]}";
	size_t mlen = strlen(msg);
	char *out = malloc(sizeof(pre) + sizeof(post) + 6 * mlen);
	if (!out)
		return NULL;
	size_t o = sizeof(pre) - 1;
	memcpy(out, pre, o);
	for (const unsigned char *s = (const unsigned char *)msg; *s; s++) {
		if (*s == '"' || *s == '\\') {
			out[o++] = '\\';
			out[o++] = (char)*s;
		} else if (*s < 0x20) {
			o += (size_t)snprintf(out + o, 7, "\\u%04x", *s);
		} else {
			out[o++] = (char)*s;
		}
	}
	memcpy(out + o, post, sizeof(post));
	*len = o + sizeof(post) - 1;
	return out;
}
