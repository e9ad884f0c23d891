/* json.c: small cJSON helpers shared by mappers and the gateway: dotted paths, string objects. */
#include "json.h"

#include <stdlib.h>
#include <string.h>

const cJSON *cg_json_path(const cJSON *root, const char *dotted)
{
	const cJSON *cur = root;
	const char *p = dotted;
	char part[256];
	while (cur && *p) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		if (n >= sizeof(part))
			return NULL;
		memcpy(part, p, n);
		part[n] = '\0';
		if (cJSON_IsArray(cur)) {
			char *end = NULL;
			long idx = strtol(part, &end, 10);
			if (!*part || *end || idx < 0)
				return NULL;
			cur = cJSON_GetArrayItem(cur, (int)idx);
		} else if (cJSON_IsObject(cur)) {
			cur = cJSON_GetObjectItemCaseSensitive(cur, part);
		} else {
			return NULL;
		}
		p += n;
		if (*p == '.')
			p++;
	}
	return cur;
}

const char *cg_json_str(const cJSON *root, const char *dotted)
{
	const cJSON *v = cg_json_path(root, dotted);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

cJSON *cg_json_string_object(const cJSON *src)
{
	cJSON *o = cJSON_CreateObject();
	if (!o || !cJSON_IsObject(src))
		return o;
	const cJSON *it;
	cJSON_ArrayForEach(it, src)
	{
		if (cJSON_IsString(it) && !cJSON_AddStringToObject(o, it->string, it->valuestring)) {
			cJSON_Delete(o);
			return NULL;
		}
	}
	return o;
}
