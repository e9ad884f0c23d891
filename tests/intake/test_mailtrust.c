/* test_mailtrust.c: Authentication-Results reading and the sender decision (envelope, From, authserv-id). */
/* labels: unit */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

#include "mailtrust.h"

static void test_auth_results(void **state)
{
	(void)state;
	static const struct {
		const char *ar, *domain;
		int want;
		const char *why; /* part of the reason when refused */
	} cases[] = {
		{"mx.example.com; dmarc=pass (p=reject dis=none) header.from=corp.example", "corp.example", 1, NULL},
		{"MX.Example.COM; DMARC=PASS header.from=Corp.Example", "corp.example", 1, NULL},
		{"mx.example.com 1; dmarc=pass header.from=corp.example", "corp.example", 1, NULL},
		{"mx.example.com;\r\n\tdkim=pass (2048-bit key; unprotected) header.d=corp.example header.i=@corp.example "
		 "header.b=\"AbC;d\"; spf=fail smtp.mailfrom=x@evil.example",
		 "corp.example", 1, NULL},
		{"mx.example.com; dkim=pass header.d=mail.corp.example", "corp.example", 1, NULL},
		{"mx.example.com; dkim=fail header.b=\"x;dkim=pass header.d=corp.example\"", "corp.example", 0, NULL},
		{"mx.example.com; spf=pass smtp.mailfrom=bounce@corp.example", "corp.example", 1, NULL},
		{"mx.example.com; dkim/1=pass header.i=alerts@corp.example", "corp.example", 1, NULL},
		/* failures */
		{"mx.example.com; dmarc=fail header.from=corp.example", "corp.example", 0, "dmarc=fail"},
		{"mx.example.com; dmarc=pass header.from=evil.example", "corp.example", 0, "do not authenticate corp.example"},
		{"mx.example.com; dkim=pass header.d=evil.example", "corp.example", 0, NULL},
		{"mx.example.com; dkim=pass header.d=example", "corp.example", 0, NULL}, /* a parent does not vouch */
		{"mx.example.com; dkim=pass header.d=xcorp.example", "corp.example", 0, NULL},
		{"mx.example.com; spf=pass smtp.mailfrom=corp.example.evil", "corp.example", 0, NULL},
		{"mx.example.com; none", "corp.example", 0, NULL},
		{"mx.example.com", "corp.example", 0, NULL},
		{"mx.example.com.evil; dmarc=pass header.from=corp.example", "corp.example", 0, "not 'mx.example.com'"},
		{"evil (mx.example.com); dmarc=pass header.from=corp.example", "corp.example", 0, "not 'mx.example.com'"},
		{"mx.example.com; dmarc=pass (header.from=corp.example) header.from=evil.example", "corp.example", 0, NULL},
		{"", "corp.example", 0, NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char why[200] = "";
		int got = cg_mail_auth_results_pass(cases[i].ar, "mx.example.com", cases[i].domain, why, sizeof(why));
		if (got != cases[i].want)
			fail_msg("#%zu %s: got %d (%s), want %d", i, cases[i].ar, got, why, cases[i].want);
		if (cases[i].why && !strstr(why, cases[i].why))
			fail_msg("#%zu: reason \"%s\", want it to contain \"%s\"", i, why, cases[i].why);
	}
	char why[200];
	assert_int_equal(cg_mail_auth_results_pass(NULL, "mx.example.com", "corp.example", why, sizeof(why)), 0);
}

static int on_list(const char *addr, const void *ud)
{
	return fnmatch((const char *)ud, addr, 0) == 0;
}

static cJSON *mail(const char *from, const char *env, const char *ar)
{
	cJSON *m = cJSON_CreateObject();
	if (from)
		cJSON_AddStringToObject(m, "from", from);
	if (env)
		cJSON_AddStringToObject(m, "envelope_from", env);
	cJSON *h = cJSON_AddObjectToObject(m, "headers");
	if (ar)
		cJSON_AddStringToObject(h, "authentication-results", ar);
	return m;
}

static void test_sender_trusted(void **state)
{
	(void)state;
	static const char *const ar = "mx.example.com; dmarc=pass header.from=corp.example";
	static const struct {
		const char *from, *env, *ar, *authserv;
		int want;
		const char *why;
	} cases[] = {
		{"backup@corp.example", "backup@corp.example", NULL, NULL, 1, NULL},
		{"backup@corp.example", NULL, NULL, NULL, 1, NULL}, /* envelope unknown (pipe mode without --sender) */
		{"Backup@Corp.Example", "BACKUP@corp.example", NULL, NULL, 1, NULL},
		{"backup@corp.example", "attacker@evil.example", NULL, NULL, 0, "envelope sender attacker@evil.example"},
		{"backup@corp.example", "", NULL, NULL, 0, "envelope sender <>"},
		{"attacker@evil.example", "backup@corp.example", NULL, NULL, 0, "From attacker@evil.example"},
		{NULL, "backup@corp.example", NULL, NULL, 0, "no From"},
		/* With the MTA's verdict: the envelope may be a forwarder's, From must be authenticated. */
		{"backup@corp.example", "srs0=x@forwarder.example", ar, "mx.example.com", 1, NULL},
		{"backup@corp.example", "backup@corp.example", NULL, "mx.example.com", 0, "not authenticated"},
		{"backup@corp.example", "backup@corp.example", "mx.example.com; dmarc=fail header.from=corp.example",
		 "mx.example.com", 0, "dmarc=fail"},
		{"attacker@evil.example", "attacker@evil.example", "mx.example.com; dmarc=pass header.from=evil.example",
		 "mx.example.com", 0, "is not on the list"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cJSON *m = mail(cases[i].from, cases[i].env, cases[i].ar);
		char why[200] = "";
		int got = cg_mail_sender_trusted(m, cases[i].authserv, on_list, "*@corp.example", why, sizeof(why));
		cJSON_Delete(m);
		if (got != cases[i].want)
			fail_msg("#%zu from=%s env=%s: got %d (%s), want %d", i, cases[i].from ? cases[i].from : "-",
				 cases[i].env ? cases[i].env : "-", got, why, cases[i].want);
		if (cases[i].why && !strstr(why, cases[i].why))
			fail_msg("#%zu: reason \"%s\", want it to contain \"%s\"", i, why, cases[i].why);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_auth_results),
		cmocka_unit_test(test_sender_trusted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
