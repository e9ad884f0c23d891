/* cidr.c: address range parsing and matching for proxies and allowlists. */
#include "cidr.h"

#include <arpa/inet.h>
#include <string.h>

#include "err.h"

static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int cg_ip_parse(const char *s, size_t len, unsigned char addr[16], int *family)
{
	char buf[64];
	if (len == 0 || len >= sizeof(buf))
		return CG_EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	char *zone = strchr(buf, '%');
	if (zone)
		*zone = '\0';
	unsigned char a[16];
	memset(a, 0, sizeof(a));
	if (inet_pton(AF_INET, buf, a) == 1) {
		memcpy(addr, a, 16);
		*family = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, buf, a) != 1)
		return CG_EINVAL;
	/* A dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d: compare them as IPv4. */
	if (memcmp(a, v4mapped, sizeof(v4mapped)) == 0) {
		memset(addr, 0, 16);
		memcpy(addr, a + 12, 4);
		*family = 4;
		return 0;
	}
	memcpy(addr, a, 16);
	*family = 6;
	return 0;
}

static void mask_bits(unsigned char *a, unsigned bits, unsigned total)
{
	for (unsigned i = 0; i < total / 8; i++) {
		if (bits >= (i + 1) * 8)
			continue;
		if (bits <= i * 8)
			a[i] = 0;
		else
			a[i] &= (unsigned char)(0xff << (8 - (bits - i * 8)));
	}
}

int cg_cidr_parse(const char *s, struct cg_cidr *out)
{
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	struct cg_cidr c;
	memset(&c, 0, sizeof(c));
	char buf[64];
	if (alen == 0 || alen >= sizeof(buf))
		return CG_EINVAL;
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	int mapped = 0;
	if (inet_pton(AF_INET, buf, c.addr) == 1) {
		c.family = 4;
	} else if (inet_pton(AF_INET6, buf, c.addr) == 1) {
		c.family = 6;
		mapped = memcmp(c.addr, v4mapped, sizeof(v4mapped)) == 0;
	} else {
		return CG_EINVAL;
	}
	unsigned total = c.family == 4 ? 32 : 128;
	unsigned bits = total;
	if (slash) {
		const char *p = slash + 1;
		if (!*p || (p[0] == '0' && p[1]))
			return CG_EINVAL; /* "/008": no leading zeros (other parsers read them as octal) */
		bits = 0;
		for (; *p; p++) {
			if (*p < '0' || *p > '9' || bits > 128)
				return CG_EINVAL;
			bits = bits * 10 + (unsigned)(*p - '0');
		}
		if (bits > total)
			return CG_EINVAL;
	}
	if (mapped && bits >= 96) {
		unsigned char a4[16] = {0};
		memcpy(a4, c.addr + 12, 4);
		memcpy(c.addr, a4, 16);
		c.family = 4;
		bits -= 96;
		total = 32;
	}
	mask_bits(c.addr, bits, total);
	c.bits = bits;
	*out = c;
	return 0;
}

int cg_cidr_match_addr(const struct cg_cidr *v, size_t n, const unsigned char addr[16], int family)
{
	for (size_t i = 0; i < n; i++) {
		if (v[i].family != family)
			continue;
		unsigned char a[16];
		memcpy(a, addr, 16);
		mask_bits(a, v[i].bits, family == 4 ? 32 : 128);
		if (memcmp(a, v[i].addr, family == 4 ? 4 : 16) == 0)
			return 1;
	}
	return 0;
}

int cg_cidr_match(const struct cg_cidr *v, size_t n, const char *ip)
{
	unsigned char a[16];
	int fam;
	if (!ip || cg_ip_parse(ip, strlen(ip), a, &fam) != 0)
		return 0;
	return cg_cidr_match_addr(v, n, a, fam);
}
