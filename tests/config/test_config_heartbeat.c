/* test_config_heartbeat.c: a source's `heartbeat:` mapping: defaults, values, and every bad value as file:line:col. */
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
	if (c->sources[0].heartbeat.every_ms != 0)
		fail_msg("no heartbeat: every_ms got %llu, want 0", (unsigned long long)c->sources[0].heartbeat.every_ms);
	cg_config_free(c);
	c = cg_h_config_ok(SRC("alertmanager") "    heartbeat:\n      every: 5m\n");
	const struct cg_heartbeat_config *h = &c->sources[0].heartbeat;
	if (h->every_ms != 300000 || h->grace_ms != 60000 || h->priority != 2 || h->alert)
		fail_msg("defaults: got every %llu grace %llu priority %d alert %s, want 300000 60000 2 (null)",
			 (unsigned long long)h->every_ms, (unsigned long long)h->grace_ms, h->priority,
			 h->alert ? h->alert : "(null)");
	cg_config_free(c);
	c = cg_h_config_ok(SRC("alertmanager") "    heartbeat: { every: 1s, grace: 0s, priority: P4, alert: Watchdog }\n");
	h = &c->sources[0].heartbeat;
	if (h->every_ms != 1000 || h->grace_ms != 0 || h->priority != 4 || !h->alert || strcmp(h->alert, "Watchdog"))
		fail_msg("given: got every %llu grace %llu priority %d alert %s, want 1000 0 4 Watchdog",
			 (unsigned long long)h->every_ms, (unsigned long long)h->grace_ms, h->priority,
			 h->alert ? h->alert : "(null)");
	cg_config_free(c);
	/* An e-mail source: every alert mail counts. */
	c = cg_h_config_ok("sources:\n  - name: mail\n    type: email\n    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
		     "    case_type: 00000000-0000-0000-0000-000000000001\n    heartbeat: { every: 1h }\n");
	if (c->sources[0].heartbeat.every_ms != 3600000)
		fail_msg("email: every_ms got %llu, want 3600000", (unsigned long long)c->sources[0].heartbeat.every_ms);
	cg_config_free(c);
}

static void t_errors(void **state)
{
	(void)state;
	struct {
		const char *text, *want;
	} cases[] = {
		{SRC("alertmanager") "    heartbeat:\n      every: 0\n",
		 "/cfgdir/t.yaml:8:14: source 'am': heartbeat.every:"},
		{SRC("alertmanager") "    heartbeat:\n      every: -5m\n",
		 "/cfgdir/t.yaml:8:14: source 'am': heartbeat.every:"},
		{SRC("alertmanager") "    heartbeat:\n      every: soon\n",
		 "/cfgdir/t.yaml:8:14: source 'am': heartbeat.every:"},
		{SRC("alertmanager") "    heartbeat:\n      every: 500ms\n",
		 "/cfgdir/t.yaml:8:14: source 'am': heartbeat.every:"},
		{SRC("alertmanager") "    heartbeat:\n      every: 5m\n      grace: -1s\n",
		 "/cfgdir/t.yaml:9:14: source 'am': heartbeat.grace:"},
		{SRC("alertmanager") "    heartbeat:\n      grace: 2m\n",
		 "/cfgdir/t.yaml:8:7: source 'am': heartbeat: every is required"},
		{SRC("alertmanager") "    heartbeat:\n      every: 5m\n      priority: P9\n",
		 "/cfgdir/t.yaml:9:17: source 'am': heartbeat.priority:"},
		{SRC("alertmanager") "    heartbeat:\n      every: 5m\n      evry: 5m\n",
		 "/cfgdir/t.yaml:9:7: unknown key 'evry' in source 'am': heartbeat (did you mean 'every'?)"},
		{SRC("alertmanager") "    heartbeat: 5m\n", "/cfgdir/t.yaml:7:16: source 'am': heartbeat:"},
		{SRC("datadog_case_events") "    heartbeat: { every: 5m }\n",
		 "/cfgdir/t.yaml:7:16: source 'am': heartbeat: a datadog_case_events source sends no alerts"},
		{"sources:\n  - name: mail\n    type: email\n    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
		 "    case_type: 00000000-0000-0000-0000-000000000001\n    heartbeat: { every: 1h, alert: Watchdog }\n",
		 "/cfgdir/t.yaml:6:16: source 'mail': heartbeat: alert: only webhook sources"},
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
