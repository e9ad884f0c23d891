/* test_cidr.c: address ranges for trusted proxies and allowlists: parsing edge cases, host bits, IPv4-mapped folding, matching. */
/* labels: unit */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "cidr.h"
#include "err.h"

static void test_parse_rejects(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"",		  "/8",		    "10.0.0.0/",     "10.0.0.0/33",	  "2001:db8::/129",
		"10.0.0.0/8x",	  "10.0.0.0/-1",    "10.0.0.0/+8",   "10.0.0/8",	  "10.0.0.256",
		"host.example",	  "10.0.0.0 /8",    "::ffff:10.0.0.0/300", "10.0.0.0/008", "10.0.0.0/00",
		"10.0.0.0/99999999999999999999999999", /* would overflow an unsigned */
		"1234567890123456789012345678901234567890123456789012345678901234567890", /* longer than any address */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cg_cidr c;
		if (cg_cidr_parse(bad[i], &c) != CG_EINVAL)
			fail_msg("\"%s\" parsed; want CG_EINVAL", bad[i]);
	}
}

static void test_parse_clears_host_bits(void **state)
{
	(void)state;
	struct cg_cidr c;
	assert_int_equal(cg_cidr_parse("10.1.2.3/8", &c), 0);
	assert_int_equal(c.family, 4);
	assert_int_equal(c.bits, 8);
	static const unsigned char want4[4] = {10, 0, 0, 0};
	assert_memory_equal(c.addr, want4, 4);

	assert_int_equal(cg_cidr_parse("192.168.255.255/23", &c), 0);
	static const unsigned char want23[4] = {192, 168, 254, 0};
	assert_memory_equal(c.addr, want23, 4);

	/* A bare address is a single host. */
	assert_int_equal(cg_cidr_parse("203.0.113.7", &c), 0);
	assert_int_equal(c.bits, 32);
	assert_int_equal(cg_cidr_parse("2001:db8::1", &c), 0);
	assert_int_equal(c.family, 6);
	assert_int_equal(c.bits, 128);

	assert_int_equal(cg_cidr_parse("2001:db8:ffff:ffff::1/33", &c), 0);
	static const unsigned char want6[16] = {0x20, 0x01, 0x0d, 0xb8, 0x80};
	assert_memory_equal(c.addr, want6, 16);
}

/* ::ffff:a.b.c.d/n (n >= 96) is the IPv4 range a.b.c.d/(n-96): a dual-stack listener reports IPv4 peers so. */
static void test_mapped_folds_to_ipv4(void **state)
{
	(void)state;
	struct cg_cidr c;
	assert_int_equal(cg_cidr_parse("::ffff:10.9.8.7/104", &c), 0);
	assert_int_equal(c.family, 4);
	assert_int_equal(c.bits, 8);
	assert_true(cg_cidr_match(&c, 1, "10.200.0.1"));
	assert_true(cg_cidr_match(&c, 1, "::ffff:10.200.0.1"));
	assert_false(cg_cidr_match(&c, 1, "11.0.0.1"));
	/* Below /96 the range is wider than IPv4 space: it stays IPv6. */
	assert_int_equal(cg_cidr_parse("::ffff:0.0.0.0/80", &c), 0);
	assert_int_equal(c.family, 6);
}

static void test_match(void **state)
{
	(void)state;
	struct cg_cidr v[3];
	assert_int_equal(cg_cidr_parse("10.0.0.0/8", &v[0]), 0);
	assert_int_equal(cg_cidr_parse("192.168.1.128/25", &v[1]), 0);
	assert_int_equal(cg_cidr_parse("2001:db8::/32", &v[2]), 0);
	assert_true(cg_cidr_match(v, 3, "10.255.255.255"));
	assert_true(cg_cidr_match(v, 3, "192.168.1.128"));
	assert_true(cg_cidr_match(v, 3, "192.168.1.255"));
	assert_false(cg_cidr_match(v, 3, "192.168.1.127"));
	assert_false(cg_cidr_match(v, 3, "9.255.255.255"));
	assert_true(cg_cidr_match(v, 3, "2001:db8:1234::5"));
	assert_true(cg_cidr_match(v, 3, "2001:db8::5%eth0")); /* a zone is not part of the address */
	assert_false(cg_cidr_match(v, 3, "2001:db9::5"));
	/* Families never cross: 10.0.0.1 is not ::a00:1. */
	assert_false(cg_cidr_match(&v[2], 1, "10.0.0.1"));
	assert_false(cg_cidr_match(v, 2, "::a00:1"));
	/* Unparsable or absent addresses match nothing, and no range matches nothing. */
	assert_false(cg_cidr_match(v, 3, "10.0.0.1 "));
	assert_false(cg_cidr_match(v, 3, ""));
	assert_false(cg_cidr_match(v, 3, NULL));
	assert_false(cg_cidr_match(v, 0, "10.0.0.1"));

	struct cg_cidr all4, all6;
	assert_int_equal(cg_cidr_parse("0.0.0.0/0", &all4), 0);
	assert_int_equal(cg_cidr_parse("::/0", &all6), 0);
	assert_true(cg_cidr_match(&all4, 1, "255.255.255.255"));
	assert_false(cg_cidr_match(&all4, 1, "::1"));
	assert_true(cg_cidr_match(&all6, 1, "::1"));
}

static void test_ip_parse(void **state)
{
	(void)state;
	unsigned char a[16];
	int fam = 0;
	/* Only len bytes count: the text need not end there. */
	assert_int_equal(cg_ip_parse("127.0.0.1:8080", 9, a, &fam), 0);
	assert_int_equal(fam, 4);
	static const unsigned char lo[4] = {127, 0, 0, 1};
	assert_memory_equal(a, lo, 4);
	assert_int_equal(cg_ip_parse("::ffff:127.0.0.1", 16, a, &fam), 0);
	assert_int_equal(fam, 4);
	assert_memory_equal(a, lo, 4);
	assert_int_equal(cg_ip_parse("fe80::1%lo", 10, a, &fam), 0);
	assert_int_equal(fam, 6);
	assert_int_equal(a[0], 0xfe);
	assert_int_equal(cg_ip_parse("", 0, a, &fam), CG_EINVAL);
	assert_int_equal(cg_ip_parse("127.0.0.1", 3, a, &fam), CG_EINVAL);
	char big[100];
	memset(big, '1', sizeof(big));
	assert_int_equal(cg_ip_parse(big, sizeof(big), a, &fam), CG_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_rejects), cmocka_unit_test(test_parse_clears_host_bits),
		cmocka_unit_test(test_mapped_folds_to_ipv4), cmocka_unit_test(test_match),
		cmocka_unit_test(test_ip_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
