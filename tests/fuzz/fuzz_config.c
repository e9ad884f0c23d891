/* fuzz_config.c: libFuzzer target: cg_config_parse over arbitrary bytes must never crash, leak or hang. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cg_config *c = NULL;
	char *errs = NULL;
	/* The name has no directory: relative *_file paths resolve against the working directory. */
	if (cg_config_parse("fuzz.yaml", (const char *)data, size, &c, &errs) == 0) {
		(void)cg_config_source(c, "demo");
		for (size_t i = 0; i < c->nsources; i++) {
			struct cg_case_spec spec;
			cg_config_case_spec(&c->sources[i], &spec);
		}
	}
	cg_config_free(c);
	free(errs);
	return 0;
}
