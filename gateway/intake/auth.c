/* auth.c: bearer and basic authentication with constant-time comparison. */
#include "auth.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "err.h"

int cg_secret_equal(const char *a, size_t alen, const char *b, size_t blen)
{
	unsigned char da[SHA256_DIGEST_LENGTH], db[SHA256_DIGEST_LENGTH];
	/* Hash first so the comparison time depends on neither content nor length. */
	SHA256((const unsigned char *)a, alen, da);
	SHA256((const unsigned char *)b, blen, db);
	int eq = CRYPTO_memcmp(da, db, sizeof(da)) == 0;
	OPENSSL_cleanse(da, sizeof(da));
	OPENSSL_cleanse(db, sizeof(db));
	return eq;
}

/* Length of a credential without trailing SP/HTAB: optional whitespace, not part of the value. */
static size_t value_len(const char *v)
{
	size_t n = strlen(v);
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	return n;
}

static int check_bearer(const struct cg_auth_config *auth, const char *cred)
{
	int ok = 0;
	size_t clen = value_len(cred);
	/* Check every token (no early exit) so timing does not reveal which one matched. */
	for (size_t i = 0; i < auth->nbearer; i++)
		ok |= cg_secret_equal(cred, clen, auth->bearer[i], strlen(auth->bearer[i]));
	return ok;
}

int cg_auth_check_token(const struct cg_auth_config *auth, const char *token, size_t len)
{
	int ok = 0;
	for (size_t i = 0; i < auth->nbearer; i++)
		ok |= cg_secret_equal(token, len, auth->bearer[i], strlen(auth->bearer[i]));
	return ok;
}

static int check_basic(const struct cg_auth_config *auth, const char *b64)
{
	unsigned char dec[1024];
	size_t inlen = value_len(b64);
	if (inlen == 0 || inlen > 4 * ((sizeof(dec) - 1) / 3))
		return 0;
	int n = EVP_DecodeBlock(dec, (const unsigned char *)b64, (int)inlen);
	if (n < 0)
		return 0;
	/* EVP_DecodeBlock counts padding bytes as output: drop them. */
	while (inlen > 0 && b64[inlen - 1] == '=' && n > 0) {
		n--;
		inlen--;
	}
	dec[n] = '\0';
	const char *colon = memchr(dec, ':', (size_t)n);
	int ok = 0;
	if (colon) {
		size_t ulen = (size_t)(colon - (const char *)dec);
		const char *pw = colon + 1;
		size_t pwlen = (size_t)n - ulen - 1;
		for (size_t i = 0; i < auth->nbasic; i++) {
			int u = cg_secret_equal((const char *)dec, ulen, auth->basic[i].user, strlen(auth->basic[i].user));
			int p = cg_secret_equal(pw, pwlen, auth->basic[i].password, strlen(auth->basic[i].password));
			ok |= u & p;
		}
	}
	OPENSSL_cleanse(dec, sizeof(dec));
	return ok;
}

int cg_auth_check(const struct cg_auth_config *auth, const struct cg_http_request *req, char *why, size_t whylen)
{
	if (auth->kind == CG_AUTH_NONE)
		return 0;
	const char *h = cg_http_header_get(req, "Authorization");
	if (!h) {
		snprintf(why, whylen, "missing Authorization header");
		return CG_EAUTH;
	}
	while (*h == ' ')
		h++;
	if (strncasecmp(h, "Bearer ", 7) == 0) {
		const char *cred = h + 7;
		while (*cred == ' ')
			cred++;
		if (auth->nbearer > 0 && check_bearer(auth, cred))
			return 0;
		snprintf(why, whylen, auth->nbearer ? "invalid bearer token" : "bearer tokens not accepted by this source");
		return CG_EAUTH;
	}
	if (strncasecmp(h, "Basic ", 6) == 0) {
		const char *cred = h + 6;
		while (*cred == ' ')
			cred++;
		if (auth->nbasic > 0 && check_basic(auth, cred))
			return 0;
		snprintf(why, whylen, auth->nbasic ? "invalid basic credentials" : "basic auth not accepted by this source");
		return CG_EAUTH;
	}
	snprintf(why, whylen, "unsupported Authorization scheme");
	return CG_EAUTH;
}
