/* cidr.h: IPv4/IPv6 address ranges (trusted proxies, per-source allowlists). */
#ifndef CG_CIDR_H
#define CG_CIDR_H

#include <stddef.h>

struct cg_cidr {
	unsigned char addr[16]; /* network address, host bits cleared */
	int family;             /* 4 or 6 */
	unsigned bits;          /* prefix length */
};

/*
 * Parses "10.0.0.0/8", "2001:db8::/32" or a bare address (a /32 or /128).
 * An IPv4-mapped IPv6 range (::ffff:a.b.c.d/n, n >= 96) becomes the IPv4 range.
 * Returns 0 or CG_EINVAL.
 */
int cg_cidr_parse(const char *s, struct cg_cidr *out);

/*
 * Parses an address literal (IPv4, IPv6, IPv4-mapped IPv6 folded to IPv4; an IPv6
 * zone "%eth0" is ignored). Returns 0 or CG_EINVAL.
 */
int cg_ip_parse(const char *s, size_t len, unsigned char addr[16], int *family);

/* 1 when the address text ip lies in any of the n ranges; 0 otherwise (also when ip is unparsable). */
int cg_cidr_match(const struct cg_cidr *v, size_t n, const char *ip);

/* The same for an already parsed address. */
int cg_cidr_match_addr(const struct cg_cidr *v, size_t n, const unsigned char addr[16], int family);

#endif
