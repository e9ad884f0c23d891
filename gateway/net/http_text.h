/* http_text.h: the HTTP server's text helpers shared by its files (http_parse.c, http_conn.c). */
#ifndef CG_HTTP_TEXT_H
#define CG_HTTP_TEXT_H

#include <stddef.h>

/* ASCII case-insensitive strcmp. */
int cg_http_casecmp(const char *a, const char *b);

/* Grows *buf to hold at least need bytes (doubling, from min). 0 or CG_ENOMEM. */
int cg_http_grow(char **buf, size_t *cap, size_t need, size_t min);

/* JSON string body {"errors":["msg"]}, malloc'd (NULL: no memory); *len its length. */
char *cg_http_json_error(const char *msg, size_t *len);

#endif
