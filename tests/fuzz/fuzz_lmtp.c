/* fuzz_lmtp.c: libFuzzer target: arbitrary bytes as one LMTP/SMTP client's stream into a real server connection. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "lmtp.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	if (!init) {
		cg_log_setup(CG_LOG_LEVEL_ERR, CG_LOG_TEXT); /* the server logs every refusal */
		init = 1;
	}
	if (size > 16384)
		return 0; /* the limits are small: bigger inputs add time, not coverage */
	/* Nonzero: a hang, a leaked handle, or a malformed reply / message over the limits. */
	if (cg_lmtp_fuzz_feed(data, size) != 0)
		abort();
	return 0;
}
