/* fuzz_envfile.c: libFuzzer target: --env-file's parser (systemd EnvironmentFile syntax) must never crash, leak or loop. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "envfile.h"
#include "err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every assignment must be a valid name and a NUL-terminated value: touch both. */
static int check(void *arg, const char *key, const char *value)
{
	size_t *n = arg;
	*n += strlen(key) + strlen(value);
	return key[0] == '\0'; /* an empty name never reaches here: stop with an error if it does */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t n = 0;
	char *errs = NULL;
	int rc = cg_envfile_parse("fuzz.env", (const char *)data, size, check, &n, &errs);
	if (rc == CG_EINVAL && (errs == NULL || errs[0] == '\0'))
		abort(); /* a refused file always says why */
	if (rc != 0 && rc != CG_EINVAL && rc != CG_ENOMEM)
		abort();
	free(errs);
	return 0;
}
