/* fuzz_ddanswer.c: libFuzzer target: any bytes as a Case API answer (and as a case notification):
 * every reader must reject or read it without crashing, leaking or overrunning its buffers. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "caseevents.h"
#include "catypes.h"
#include "ddanswer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;
	struct cg_dd_case_view v;
	cg_dd_answer_case(body, size, &v);
	int64_t oldest = 0;
	cg_dd_answer_find_marker(body, size, "cg0123456789abcdef0123456789abcdef", "casegate_ref",
				 "d4bbe1af-f36e-42f1-87c1-493ca35c320e", &v, &oldest);
	struct cg_dd_ca_def *defs = NULL;
	size_t n = 0;
	if (cg_dd_answer_ca_defs(body, size, &defs, &n) == 0)
		free(defs);
	char why[128];
	cg_dd_answer_error(body, size, why, sizeof(why));
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	cg_dd_parse_time(s);
	cJSON *doc = cJSON_ParseWithLength(body, size);
	if (doc) {
		cg_caseevents_ref(doc);
		/* The answer as a create request: the surgery on optional parts. */
		cJSON *c1 = cJSON_Duplicate(doc, 1);
		cg_create_drop_custom(c1);
		cg_create_drop_optional(c1);
		cJSON_Delete(c1);
		cJSON_Delete(doc);
	}
	free(s);
	return 0;
}
