/* json.h: small cJSON helpers shared by mappers and the gateway: dotted paths, string objects. */
#ifndef CG_JSON_H
#define CG_JSON_H

#include <cjson/cJSON.h>

/* Small JSON helpers shared by mappers: value at a dotted path ("a.b.c"), string or NULL. */
const cJSON *cg_json_path(const cJSON *root, const char *dotted);
const char *cg_json_str(const cJSON *root, const char *dotted);
/* A new object holding copies of the string members of src (an object; anything else gives
 * an empty object). NULL on ENOMEM. */
cJSON *cg_json_string_object(const cJSON *src);

#endif
