/* text.c: text helpers shared by mappers and the gateway: UTF-8 decoding, repair and cutting, whitespace, http(s) URLs, SHA-256 hex, strdup0. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "err.h"

#define ELLIPSIS "\xE2\x80\xA6" /* U+2026, 3 bytes */
#define REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD */

char *cg_strdup0(const char *s)
{
	return s ? strdup(s) : NULL;
}

int cg_sha256_hex_r(const void *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	static const char hex[] = "0123456789abcdef";
	if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32) {
		out[0] = '\0';
		return CG_ENOMEM;
	}
	for (unsigned i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
	return 0;
}

void cg_sha256_hex(const void *data, size_t len, char out[65])
{
	(void)cg_sha256_hex_r(data, len, out);
}

size_t cg_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	unsigned char c = s[0];
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	unsigned char lo = 0x80, hi = 0xBF;
	size_t len;
	uint32_t v;
	if (c >= 0xC2 && c <= 0xDF) {
		len = 2;
		v = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		len = 3;
		v = c & 0x0F;
		if (c == 0xE0)
			lo = 0xA0; /* overlong */
		else if (c == 0xED)
			hi = 0x9F; /* surrogates */
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4;
		v = c & 0x07;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F; /* > U+10FFFF */
	} else {
		return 0;
	}
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3F);
	}
	*cp = v;
	return len;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when the bytes there are not one. s is
 * NUL-terminated: cg_utf8_decode stops at the NUL, which is no continuation byte. */
static size_t utf8_seq(const unsigned char *s)
{
	uint32_t cp;
	return cg_utf8_decode(s, 4, &cp);
}

char *cg_utf8_sanitize(const char *s)
{
	if (!s)
		s = "";
	/* Valid UTF-8 (nearly always): one exact copy. */
	const unsigned char *q = (const unsigned char *)s;
	for (;;) {
		while (*q && *q < 0x80)
			q++;
		if (!*q)
			return strdup(s);
		size_t n = utf8_seq(q);
		if (!n)
			break;
		q += n;
	}
	size_t len = strlen(s);
	/* Worst case every byte becomes a 3-byte U+FFFD. */
	char *out = malloc(len * 3 + 1);
	if (!out)
		return NULL;
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0;
	while (*p) {
		size_t n = utf8_seq(p);
		if (n) {
			memcpy(out + o, p, n);
			o += n;
			p += n;
		} else {
			memcpy(out + o, REPLACEMENT, 3);
			o += 3;
			p++;
		}
	}
	out[o] = '\0';
	char *shrunk = realloc(out, o + 1);
	return shrunk ? shrunk : out;
}

void cg_utf8_truncate(char *s, size_t max)
{
	size_t len = strlen(s);
	if (len <= max)
		return;
	if (max < sizeof(ELLIPSIS) - 1) {
		/* No room for the ellipsis: cut at a boundary and mark nothing. */
		size_t c = max;
		for (int k = 0; k < 3 && c > 0 && ((unsigned char)s[c] & 0xC0) == 0x80; k++)
			c--;
		if (((unsigned char)s[c] & 0xC0) == 0x80)
			c = max; /* a run of stray continuation bytes: nothing valid to protect */
		s[c] = '\0';
		return;
	}
	size_t c = max - (sizeof(ELLIPSIS) - 1);
	size_t orig = c;
	/* A valid sequence is at most 4 bytes, so at most 3 continuation bytes precede a boundary. */
	for (int k = 0; k < 3 && c > 0 && ((unsigned char)s[c] & 0xC0) == 0x80; k++)
		c--;
	if (((unsigned char)s[c] & 0xC0) == 0x80)
		c = orig;
	memcpy(s + c, ELLIPSIS, sizeof(ELLIPSIS)); /* includes the NUL */
}

static int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Collapses every run of whitespace into one space and trims both ends, in place. */
void cg_text_collapse_ws(char *s)
{
	char *w = s;
	int pending = 0;
	for (const char *r = s; *r; r++) {
		if (is_ws(*r)) {
			pending = w != s;
			continue;
		}
		if (pending)
			*w++ = ' ';
		pending = 0;
		*w++ = *r;
	}
	*w = '\0';
}

void cg_text_trim(char *s)
{
	size_t len = strlen(s);
	while (len > 0 && is_ws(s[len - 1]))
		s[--len] = '\0';
	size_t lead = 0;
	while (is_ws(s[lead]))
		lead++;
	if (lead)
		memmove(s, s + lead, len - lead + 1);
}

int cg_text_is_http_url(const char *s)
{
	size_t skip;
	if (strncasecmp(s, "http://", 7) == 0)
		skip = 7;
	else if (strncasecmp(s, "https://", 8) == 0)
		skip = 8;
	else
		return 0;
	if (!s[skip] || s[skip] == '/')
		return 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= 0x20 || *p == 0x7f)
			return 0;
	return 1;
}

int cg_text_regex_cheap(const char *p)
{
	int after_quant = 0;
	for (size_t i = 0; p[i]; i++) {
		char c = p[i];
		if (c == '\\') {
			if (p[i + 1])
				i++;
			after_quant = 0;
		} else if (c == '[') {
			/* A bracket expression: "]" first is a member, then up to the closing "]". */
			size_t j = i + 1;
			if (p[j] == '^')
				j++;
			if (p[j] == ']')
				j++;
			while (p[j] && p[j] != ']')
				j++;
			if (!p[j])
				return 1; /* unbalanced: regcomp says so */
			i = j;
			after_quant = 0;
		} else if (c == '*' || c == '+' || c == '?' || c == '{') {
			if (after_quant)
				return 0;
			if (c == '{') {
				unsigned long v = 0;
				size_t j = i + 1;
				for (; p[j] && p[j] != '}'; j++) {
					if (p[j] >= '0' && p[j] <= '9') {
						v = v * 10 + (unsigned long)(p[j] - '0');
						if (v > 255)
							return 0;
					} else if (p[j] == ',') {
						v = 0;
					} else {
						break;
					}
				}
				if (p[j] != '}') {
					after_quant = 0; /* a literal "{": regcomp decides */
					continue;
				}
				i = j;
			}
			after_quant = 1;
		} else {
			after_quant = 0;
		}
	}
	return 1;
}
