/* fuzz_indexer.c: libFuzzer target: a journal record read back at start (cg_intake_put_decode) must never crash or leak, and what decodes re-encodes to the same bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "indexer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cg_intake_put p;
	memset(&p, 0, sizeof(p));
	int rc = cg_intake_put_decode(data, size, &p);
	if (rc != 0 && rc != CG_EINVAL && rc != CG_ENOMEM)
		abort();
	if (rc == CG_EINVAL && (p.evs || p.n))
		abort(); /* a refused record leaves nothing behind */
	if (rc == 0) {
		/* One meaning per record: what was read is what would be written. */
		void *again = NULL;
		size_t len = 0;
		if (cg_intake_put_encode(&p, &again, &len) == 0) {
			if (len != size || memcmp(again, data, size) != 0)
				abort();
			free(again);
		}
		cg_intake_put_cleanup(&p);
	}
	return 0;
}
