/* test_cloudwatch_sns_envelope.c: the envelope facts the cloudwatch mapper hands the gateway (subscribe URL, MessageId, Type). */
/* labels: mapper */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "err.h"
#include "event.h"
#include "registry.h"

struct envelope_case {
	const char *file; /* under tests/fixtures/cloudwatch/ */
	const char *message_type, *message_id, *subscribe_url;
	size_t nevents;
};

static const struct envelope_case cases[] = {
    {"subscription_confirmation.json", "SubscriptionConfirmation", "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
     "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-east-1:123456789012:"
     "alarms&Token=2336412f37",
     0},
    /* Confirming an unsubscribe would subscribe again: no URL for the gateway. */
    {"unsubscribe_confirmation.json", "UnsubscribeConfirmation", "47138184-6831-46b8-8f7c-afc488602d7d", "", 0},
    {"sns_alarm_firing.json", "Notification", "b1946ac9-2f59-4f2b-8b7b-0e6d5b2f1a01", "", 1},
    {"insufficient_from_ok.json", "Notification", "b1946ac9-2f59-4f2b-8b7b-0e6d5b2f1a01", "", 0},
    {"other_text_message.json", "Notification", "b1946ac9-2f59-4f2b-8b7b-0e6d5b2f1a01", "", 1},
    /* A bare alarm has no envelope; several Lambda records have no single id. */
    {"bare_alarm_no_arn.json", "", "", "", 1},
    {"lambda_two_records.json", "", "", "", 2},
};

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	if (buf)
		buf[n] = '\0';
	fclose(f);
	return buf;
}

static void check_field(const char *file, const char *name, const char *got, const char *want, int *bad)
{
	if (strcmp(got, want) != 0) {
		print_error("%s: %s: got \"%s\", want \"%s\"\n", file, name, got, want);
		(*bad)++;
	}
}

static void test_envelope_fields(void **state)
{
	(void)state;
	const struct cg_mapper *m = cg_mapper_find("cloudwatch");
	assert_non_null(m);
	int bad = 0;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/tests/fixtures/cloudwatch/%s", CG_SOURCE_DIR, cases[i].file);
		char *text = slurp(path);
		assert_non_null(text);
		cJSON *p = cJSON_Parse(text);
		free(text);
		assert_non_null(p);
		struct cg_event_list out;
		struct cg_map_opts opts = {.group_by = CG_GROUP_ALERT};
		char err[256] = "";
		cg_event_list_init(&out);
		int rc = m->map(p, &opts, &out, err, sizeof(err));
		if (rc) {
			print_error("%s: got rc %d (%s), want 0\n", cases[i].file, rc, err);
			bad++;
		} else {
			check_field(cases[i].file, "message_type", out.message_type, cases[i].message_type, &bad);
			check_field(cases[i].file, "message_id", out.message_id, cases[i].message_id, &bad);
			check_field(cases[i].file, "subscribe_url", out.subscribe_url, cases[i].subscribe_url, &bad);
			if (out.n != cases[i].nevents) {
				print_error("%s: got %zu events, want %zu\n", cases[i].file, out.n, cases[i].nevents);
				bad++;
			}
		}
		cg_event_list_cleanup(&out);
		cJSON_Delete(p);
	}
	assert_int_equal(bad, 0);
}

/* The registry has every srcB mapper with a priority map the builder can parse ("word=Pn,..."). */
static void test_registry_entries(void **state)
{
	(void)state;
	static const char *const names[] = {"cloudwatch", "newrelic", "zabbix", "uptimekuma", "kibana"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const struct cg_mapper *m = cg_mapper_find(names[i]);
		if (!m)
			print_error("mapper %s: got none, want registered\n", names[i]);
		assert_non_null(m);
		assert_non_null(m->description);
		assert_non_null(m->default_priority_map);
		assert_false(m->supports_group_by);
		/* Every entry is word=P1..P5. */
		const char *p = m->default_priority_map;
		while (*p) {
			const char *eq = strchr(p, '=');
			assert_non_null(eq);
			assert_true(eq > p);
			assert_true(eq[1] == 'P' && eq[2] >= '1' && eq[2] <= '5');
			p = eq + 3;
			if (*p == ',')
				p++;
			else
				assert_true(*p == '\0');
		}
	}
	assert_non_null(strstr(cg_mapper_find("zabbix")->default_priority_map, "disaster=P1"));
	assert_non_null(strstr(cg_mapper_find("newrelic")->default_priority_map, "critical=P1"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_envelope_fields),
	    cmocka_unit_test(test_registry_entries),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
