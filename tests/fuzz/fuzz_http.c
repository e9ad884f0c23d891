/* fuzz_http.c: libFuzzer target: arbitrary bytes as one client's stream into a real server connection. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "http.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	if (!init) {
		cg_log_setup(CG_LOG_LEVEL_ERR, CG_LOG_TEXT); /* the server warns on every refusal */
		init = 1;
	}
	if (size > 16384)
		return 0; /* bigger inputs add time, not coverage: the limits are small */
	/* First byte: write chunk size. Nonzero: a hang (spin bound hit) or a leaked handle. */
	if (cg_http_fuzz_feed(data, size) != 0)
		abort();
	return 0;
}
