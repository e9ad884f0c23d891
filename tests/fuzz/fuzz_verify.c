/* fuzz_verify.c: libFuzzer target for the signature header, timestamp, forwarded-chain, URL and
 * SNS envelope parsers. First byte picks the parser; the rest is the input text. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guard.h"
#include "log.h"
#include "verify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static regex_t hosts;
	static int init;
	if (!init) {
		cg_log_setup(CG_LOG_LEVEL_ERR, CG_LOG_TEXT);
		if (regcomp(&hosts, "^sns\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?$", REG_EXTENDED | REG_ICASE | REG_NOSUB))
			abort();
		init = 1;
	}
	if (size < 1 || size > 8192)
		return 0;
	char *s = malloc(size);
	if (!s)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	unsigned char sigs[CG_VERIFY_MAX_SIGS][CG_VERIFY_SIG_LEN];
	struct cg_verify_config v;
	memset(&v, 0, sizeof(v));
	char why[192], out[64];
	switch (data[0] % 8) {
	case 0:
		v.kind = CG_VERIFY_PAGERDUTY;
		if (cg_verify_parse_sigs(&v, s, sigs) > CG_VERIFY_MAX_SIGS)
			abort();
		break;
	case 1:
		v.kind = CG_VERIFY_STDWH;
		if (cg_verify_parse_sigs(&v, s, sigs) > CG_VERIFY_MAX_SIGS)
			abort();
		break;
	case 2:
		v.kind = CG_VERIFY_HMAC;
		v.prefix = (char *)"sha256=";
		v.encoding = (data[0] & 8) ? CG_VERIFY_BASE64 : CG_VERIFY_HEX;
		if (cg_verify_parse_sigs(&v, s, sigs) > 1)
			abort();
		break;
	case 3: {
		int64_t ms;
		(void)cg_verify_parse_ts(s, &ms);
		break;
	}
	case 4:
	case 5: {
		struct cg_cidr t[2];
		cg_cidr_parse("127.0.0.1", &t[0]);
		cg_cidr_parse("10.0.0.0/8", &t[1]);
		const char *vals[1] = {s};
		cg_guard_resolve_client(t, 2, data[0] % 8 == 5, "127.0.0.1", vals, 1, out, sizeof(out));
		if (!memchr(out, 0, sizeof(out)))
			abort();
		break;
	}
	case 6:
		(void)cg_verify_url_allowed(s, &hosts, 1, why, sizeof(why));
		break;
	default: {
		struct cg_sns_msg m;
		if (cg_sns_parse(s, strlen(s), &m, why, sizeof(why)) == 0) {
			char *sts = NULL;
			size_t len = 0;
			if (cg_sns_string_to_sign(&m, &sts, &len, why, sizeof(why)) == 0)
				free(sts);
			(void)cg_sns_verify(&m, "x", 1, why, sizeof(why));
			cg_sns_msg_cleanup(&m);
		}
		break;
	}
	}
	free(s);
	return 0;
}
