/* test_config_storm.c: a source's `storm:` mapping: defaults, values, and every bad value as file:line:col. */
/* labels: unit */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "err.h"
#include "harness.h"

#define SRC(type) CG_H_CONFIG_SOURCE(type) /* its mapping starts on line 7 */

static void t_defaults_and_values(void **state)
{
	(void)state;
	struct cg_config *c = cg_h_config_ok(SRC("alertmanager"));
	if (c->sources[0].storm.max_new_cases != 0)
		fail_msg("no storm: max_new_cases got %u, want 0 (off)", c->sources[0].storm.max_new_cases);
	cg_config_free(c);
	c = cg_h_config_ok(SRC("alertmanager") "    storm:\n      max_new_cases: 20\n      per: 5m\n");
	const struct cg_storm_config *s = &c->sources[0].storm;
	if (s->max_new_cases != 20 || s->per_ms != 300000 || s->digest_ms != 300000)
		fail_msg("defaults: got max %u per %llu digest %llu, want 20 300000 300000", s->max_new_cases,
			 (unsigned long long)s->per_ms, (unsigned long long)s->digest_ms);
	cg_config_free(c);
	c = cg_h_config_ok(SRC("generic") "    storm: { max_new_cases: 1, per: 1s, digest_interval: 2s }\n");
	s = &c->sources[0].storm;
	if (s->max_new_cases != 1 || s->per_ms != 1000 || s->digest_ms != 2000)
		fail_msg("given: got max %u per %llu digest %llu, want 1 1000 2000", s->max_new_cases,
			 (unsigned long long)s->per_ms, (unsigned long long)s->digest_ms);
	cg_config_free(c);
}

static void t_errors(void **state)
{
	(void)state;
	struct {
		const char *text, *want;
	} cases[] = {
		{SRC("alertmanager") "    storm:\n      max_new_cases: 0\n      per: 5m\n",
		 "/cfgdir/t.yaml:8:22: source 'am': storm.max_new_cases:"},
		{SRC("alertmanager") "    storm:\n      max_new_cases: -3\n      per: 5m\n",
		 "/cfgdir/t.yaml:8:22: source 'am': storm.max_new_cases:"},
		{SRC("alertmanager") "    storm:\n      max_new_cases: 20\n      per: -5m\n",
		 "/cfgdir/t.yaml:9:12: source 'am': storm.per:"},
		{SRC("alertmanager") "    storm:\n      max_new_cases: 20\n      per: 0s\n",
		 "/cfgdir/t.yaml:9:12: source 'am': storm.per:"},
		{SRC("alertmanager") "    storm:\n      max_new_cases: 20\n",
		 "/cfgdir/t.yaml:8:7: source 'am': storm: per is required"},
		{SRC("alertmanager") "    storm:\n      per: 5m\n",
		 "/cfgdir/t.yaml:8:7: source 'am': storm: max_new_cases is required"},
		{SRC("alertmanager") "    storm:\n      max_new_cases: 20\n      per: 5m\n      digest_interval: -1m\n",
		 "/cfgdir/t.yaml:10:24: source 'am': storm.digest_interval:"},
		{SRC("alertmanager") "    storm:\n      max_new_cases: 20\n      per: 5m\n      max_new_case: 3\n",
		 "/cfgdir/t.yaml:10:7: unknown key 'max_new_case' in source 'am': storm (did you mean 'max_new_cases'?)"},
		{SRC("alertmanager") "    storm: 20\n", "/cfgdir/t.yaml:7:12: source 'am': storm:"},
		{SRC("datadog_case_events") "    storm: { max_new_cases: 5, per: 1m }\n",
		 "/cfgdir/t.yaml:7:12: source 'am': storm: a datadog_case_events source opens no cases"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cg_h_config_error(cases[i].text, cases[i].want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_defaults_and_values),
		cmocka_unit_test(t_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
