/* fuzz_auth.c: libFuzzer target: any bytes as an Authorization header value (Basic, Bearer or
 * other) against a source with basic and bearer credentials: cg_auth_check must never crash or
 * overrun its decode buffer, and must let in only the exact configured credentials. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "auth.h"
#include "config.h"
#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The one Basic credential that must pass: "sns:pw"; the one bearer token: "tok-1". */
static int is_known(const char *v)
{
	while (*v == ' ')
		v++;
	if (strncasecmp(v, "Bearer ", 7) == 0) {
		v += 7;
		while (*v == ' ')
			v++;
		size_t n = strlen(v);
		while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
			n--;
		return n == 5 && memcmp(v, "tok-1", 5) == 0;
	}
	if (strncasecmp(v, "Basic ", 6) == 0) {
		v += 6;
		while (*v == ' ')
			v++;
		size_t n = strlen(v);
		while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
			n--;
		if (n == 0 || n > 2000)
			return 0;
		unsigned char dec[1600];
		int d = EVP_DecodeBlock(dec, (const unsigned char *)v, (int)n);
		if (d < 0)
			return 0;
		for (size_t k = n; k > 0 && v[k - 1] == '=' && d > 0; k--)
			d--;
		return d == 6 && memcmp(dec, "sns:pw", 6) == 0;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	char *value = malloc(size + 1);
	if (!value)
		return 0;
	memcpy(value, data, size);
	value[size] = '\0'; /* a header value ends at its first NUL, as the parser hands it over */
	char *bearer[] = {(char *)"tok-1"};
	struct cg_basic_cred basic[] = {{.user = (char *)"sns", .password = (char *)"pw"}};
	struct cg_auth_config auth = {.kind = CG_AUTH_BEARER, .bearer = bearer, .nbearer = 1, .basic = basic, .nbasic = 1};
	struct cg_http_header h[] = {{"Authorization", value}};
	struct cg_http_request req = {.method = "POST", .path = "/hooks/x", .query = "", .headers = h, .nheaders = 1,
				      .body = "", .body_len = 0};
	char why[128] = "";
	int rc = cg_auth_check(&auth, &req, why, sizeof(why));
	if ((rc == 0) != is_known(value))
		abort(); /* let in what is not the credential, or refused the credential */
	if (rc != 0 && (!memchr(why, 0, sizeof(why)) || !why[0]))
		abort(); /* a refusal always says why */
	/* The token form of the URL (/hooks/<name>/<token>) with the same bytes. */
	int tok = cg_auth_check_token(&auth, (const char *)data, size);
	if (tok != (size == 5 && memcmp(data, "tok-1", 5) == 0))
		abort();
	free(value);
	return 0;
}
