/* fuzz_ddanswer.c: libFuzzer target: any bytes as a Case API answer (and as a case notification):
 * every reader must reject or read it without crashing, leaking or overrunning its buffers: the
 * case and search answers, custom-attribute listings (ddanswer.c and a case type's cache in
 * catypes.c), the project listing (projects.c), error bodies, times, case-event references. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "caseevents.h"
#include "catypes.h"
#include "ddanswer.h"
#include "projects.h"

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
	if (!memchr(why, 0, sizeof(why)))
		abort();
	/* A case type's definitions, replaced by the listing answer, then asked about. */
	struct cg_catypes types = {0};
	struct cg_catype *t = cg_catypes_get(&types, "00000000-0000-0000-0000-000000000001", 1);
	if (t && cg_catype_set(t, body, size) == 0) {
		(void)cg_catype_has_text(t, "team");
		(void)cg_catype_has_text(t, "casegate_ref");
		/* A second listing replaces the first (no leak of the old definitions). */
		(void)cg_catype_set(t, body, size);
	}
	cg_catypes_cleanup(&types);
	/* The project listing: key to id. */
	struct cg_projects pr = {0};
	if (cg_projects_parse(&pr, body, size) == 0) {
		for (size_t i = 0; i < pr.n; i++)
			if (!pr.keys[i] || !pr.ids[i] || cg_projects_id(&pr, pr.keys[i]) == NULL)
				abort(); /* every listed key finds an id */
		(void)cg_projects_id(&pr, "SEC");
	}
	cg_projects_cleanup(&pr);
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
