/* fuzz_tmpl.c: libFuzzer target: template \0 JSON data; compile + render (with every {{name}} reported) must never crash or leak. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "err.h"
#include "tmpl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Partials: "self" is the template itself (exercises the recursion limit), "bad" never
 * compiles, any other name is looked up in the data's "partials" object or is missing.
 */
struct fuzz_ud {
	const char *self;
	const cJSON *partials;
};

static const char *fuzz_partial(const char *name, void *ud)
{
	const struct fuzz_ud *u = ud;
	if (strcmp(name, "self") == 0)
		return u->self;
	if (strcmp(name, "bad") == 0)
		return "{{#unclosed}}";
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(u->partials, name);
	return cJSON_IsString(p) ? p->valuestring : NULL;
}

/* Every {{name}} a render reports: its name and text must be readable, the texts add up to at most the output. */
static void fuzz_var(const struct cg_tmpl_var *v, void *ud)
{
	size_t *sum = ud;
	volatile unsigned char x = 0;
	for (size_t i = 0; i < v->name_len; i++)
		x ^= (unsigned char)v->name[i];
	for (size_t i = 0; i < v->text_len; i++)
		x ^= (unsigned char)v->text[i];
	(void)x;
	if (v->name_len == 0)
		abort();
	*sum += v->text_len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t tlen = nul ? (size_t)(nul - data) : size;
	char *tsrc = malloc(tlen + 1);
	if (!tsrc)
		return 0;
	memcpy(tsrc, data, tlen);
	tsrc[tlen] = '\0';
	cJSON *ctx = NULL;
	if (nul)
		ctx = cJSON_ParseWithLength((const char *)nul + 1, size - tlen - 1);

	struct cg_tmpl *t = NULL;
	char err[128];
	/* Pass the exact length: compile must not read past it (the copy has a NUL just after). */
	int crc = cg_tmpl_compile(tsrc, tlen, &t, err, sizeof(err));
	if (crc == 0) {
		struct fuzz_ud ud = {tsrc, cJSON_GetObjectItemCaseSensitive(ctx, "partials")};
		for (int flags = 0; flags <= CG_TMPL_ESCAPE_URL; flags++) {
			char *out = NULL;
			size_t sum = 0;
			struct cg_tmpl_opts o = {.flags = flags,
						 .partials = fuzz_partial,
						 .partials_ud = &ud,
						 .on_var = fuzz_var,
						 .on_var_ud = &sum};
			int rc = cg_tmpl_render_opts(t, ctx, &o, &out);
			if (rc == 0) {
				if (!out || strlen(out) > 1024 * 1024 || sum > strlen(out))
					abort();
				free(out);
			} else if (out) {
				abort(); /* out-parameters are written only on success */
			}
		}
		(void)cg_tmpl_is_literal(t);
	} else if (t || (crc == CG_EINVAL && (strncmp(err, "line ", 5) != 0 || !strstr(err, ", col ")))) {
		abort(); /* every compile error names its line and column */
	}
	cg_tmpl_destroy(t);
	cJSON_Delete(ctx);
	free(tsrc);
	return 0;
}
