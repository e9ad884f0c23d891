/* fuzz_mappers.c: libFuzzer target running every registered mapper (or the one named by CG_FUZZ_MAPPER), in both group modes, over arbitrary JSON. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "err.h"
#include "event.h"
#include "registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Invariants the gateway relies on; a violation aborts so libFuzzer keeps the input. */
static void check(const struct cg_mapper *m, int rc, const struct cg_event_list *out, const char *err)
{
	if (rc == CG_EINVAL && !err[0])
		abort(); /* a 422 must say which field */
	if (rc != 0 && rc != CG_EINVAL && rc != CG_ENOMEM)
		abort();
	if (rc != 0)
		return;
	if (out->n == 0 && !out->ignored_reason[0])
		abort();
	for (size_t i = 0; i < out->n; i++) {
		const struct cg_event *e = &out->v[i];
		if (e->status != CG_STATUS_FIRING && e->status != CG_STATUS_RESOLVED && e->status != CG_STATUS_COMMENT)
			abort();
		/* A comment lands on an existing case: it needs the key and the text it adds. */
		if (e->status == CG_STATUS_COMMENT && (!e->comment_detail || !e->comment_detail[0]))
			abort();
		if (!e->ctx || !e->labels || !e->annotations || !e->links)
			abort();
		if (strcmp(m->name, "generic") != 0 && (!e->dedup_key || !e->dedup_key[0] || !e->title || !e->description))
			abort();
	}
}

#ifdef CG_FUZZ_MAPPER
/* One mapper per executable (fuzz_mapper_<name>): its own corpus and its whole time budget. */
static const struct cg_mapper *only[2];

static const struct cg_mapper *const *mappers(void)
{
	if (!only[0] && !(only[0] = cg_mapper_find(CG_FUZZ_MAPPER)))
		abort(); /* the CMake list names a mapper the registry lacks */
	return only;
}
#else
static const struct cg_mapper *const *mappers(void)
{
	return cg_mapper_all();
}
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct cg_mapper *const *list = mappers();
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	cJSON *payload = cJSON_Parse(text);
	free(text);
	if (!payload)
		return 0;
	for (const struct cg_mapper *const *m = list; *m; m++) {
		for (int g = 0; g < 2; g++) {
			struct cg_map_opts opts = {.group_by = g ? CG_GROUP_GROUP : CG_GROUP_ALERT};
			struct cg_event_list out;
			char err[256] = "";
			cg_event_list_init(&out);
			int rc = (*m)->map(payload, &opts, &out, err, sizeof(err));
			check(*m, rc, &out, err);
			cg_event_list_cleanup(&out);
		}
	}
	cJSON_Delete(payload);
	return 0;
}
