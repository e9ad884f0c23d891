/* fuzz_sns_cert.c: libFuzzer target: any bytes as the SNS signing certificate casegate fetched, read
 * as PEM text (first byte even) or as the DER inside a PEM block (odd), then used to check a
 * well-formed notification: cg_sns_verify must refuse or verify, never crash, leak or overrun. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "log.h"
#include "verify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A notification as SNS sends it; the signature is any base64 (no key would match it). */
static const char *const note =
	"{\"Type\":\"Notification\",\"MessageId\":\"22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\","
	"\"TopicArn\":\"arn:aws:sns:us-west-2:123456789012:MyTopic\",\"Subject\":\"My First Message\","
	"\"Message\":\"Hello world!\",\"Timestamp\":\"2012-05-02T00:54:06.655Z\",\"SignatureVersion\":\"%c\","
	"\"Signature\":\"EXAMPLEw6JRN+vF7ciajKl4Y+YRq3OTfyZBNTkNKT/T6c3iqZ1S40tEZBK0jC3EPhj2Or0pYhwTCgJ5Ek+0Q6M9eZ"
	"W5zwdASbmXvR6cZl5bTjNQ6eK4gjMMoSrVnGhWgGMVY5w5CTuyd5u1xhClbqt4Ix58Aps2IXFWA4gAhRkGfMbU3kDmh5VtBvwHgxS0A==\","
	"\"SigningCertURL\":\"https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem\","
	"\"UnsubscribeURL\":\"https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe\"}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	if (!init) {
		cg_log_setup(CG_LOG_LEVEL_ERR, CG_LOG_TEXT);
		init = 1;
	}
	if (size < 1 || size > 16384)
		return 0;
	char body[1024];
	/* SignatureVersion 1 (SHA1withRSA) or 2 (SHA256withRSA). */
	int blen = snprintf(body, sizeof(body), note, (data[0] & 2) ? '2' : '1');
	struct cg_sns_msg m;
	char why[192];
	if (blen <= 0 || (size_t)blen >= sizeof(body) || cg_sns_parse(body, (size_t)blen, &m, why, sizeof(why)) != 0)
		abort(); /* the fixed message must parse */
	const uint8_t *in = data + 1;
	size_t inlen = size - 1;
	char *pem = NULL;
	size_t pemlen = 0;
	if (data[0] & 1) {
		/* The bytes as DER: base64 in 64-column lines between the PEM markers. */
		static const char head[] = "-----BEGIN CERTIFICATE-----\n", tail[] = "-----END CERTIFICATE-----\n";
		size_t b64 = 4 * ((inlen + 2) / 3);
		size_t cap = sizeof(head) + b64 + b64 / 64 + 2 + sizeof(tail);
		pem = malloc(cap);
		if (!pem)
			goto out;
		memcpy(pem, head, sizeof(head) - 1);
		pemlen = sizeof(head) - 1;
		for (size_t off = 0; off < inlen; off += 48) {
			size_t n = inlen - off < 48 ? inlen - off : 48;
			pemlen += (size_t)EVP_EncodeBlock((unsigned char *)pem + pemlen, in + off, (int)n);
			pem[pemlen++] = '\n';
		}
		memcpy(pem + pemlen, tail, sizeof(tail) - 1);
		pemlen += sizeof(tail) - 1;
	} else {
		/* The bytes as fetched (not NUL-terminated: the reader must keep to the length). */
		pem = malloc(inlen ? inlen : 1);
		if (!pem)
			goto out;
		memcpy(pem, in, inlen);
		pemlen = inlen;
	}
	/* Nothing signed this message: a verdict of "verified" would be a forged notification let in. */
	if (cg_sns_verify(&m, pem, pemlen, why, sizeof(why)) == 0)
		abort();
out:
	free(pem);
	cg_sns_msg_cleanup(&m);
	return 0;
}
