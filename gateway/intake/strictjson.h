/* strictjson.h: a webhook body parsed so it means one thing: what cJSON would resolve silently (a NUL, data after the value, a key twice) is refused. */
#ifndef CG_STRICTJSON_H
#define CG_STRICTJSON_H

#include <stddef.h>

#include <cjson/cJSON.h>

/*
 * Parses len bytes of body (with cJSON's current allocator: an intake worker's arena). Refused,
 * with *status 400 and msg naming the byte or the key and where: invalid JSON, a NUL byte or a
 * \u0000 escape in a string (the C string would end there), data after the JSON value, a key twice
 * in one object (readers would disagree on which one counts). Returns the value, or NULL with
 * *status (400, or 500 without memory) and msg.
 */
cJSON *cg_strictjson_parse(const char *body, size_t len, int *status, char *msg, size_t msglen);

#endif
