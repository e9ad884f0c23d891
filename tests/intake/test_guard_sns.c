/* test_guard_sns.c: CloudWatch alarms over AWS SNS end to end: MessageId redelivery dedup, resolve, subscription handshake.
 */
/* labels: integration */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "itest.h"

/* SNS sends credentials the only way it can: basic auth in the subscription URL. */
static const char *sns_source = "  - name: aws\n"
                                "    type: cloudwatch\n"
                                "    auth: { basic: { user: sns, password: pw } }\n"
                                "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
                                "    case_type: 00000000-0000-0000-0000-000000000001\n";

#define ALARM_ARN "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:checkout-5xx"

/* An SNS HTTPS Notification carrying a CloudWatch alarm state change (malloc'd JSON text). */
static char *notification(const char *message_id, const char *new_state, const char *old_state)
{
	cJSON *alarm = cJSON_CreateObject();
	cJSON_AddStringToObject(alarm, "AlarmName", "checkout-5xx");
	cJSON_AddStringToObject(alarm, "AlarmDescription", "Checkout returns 5xx");
	cJSON_AddStringToObject(alarm, "AWSAccountId", "123456789012");
	cJSON_AddStringToObject(alarm, "NewStateValue", new_state);
	cJSON_AddStringToObject(alarm, "NewStateReason", "Threshold Crossed: 1 datapoint [12.0] was greater than 5.0");
	cJSON_AddStringToObject(alarm, "StateChangeTime", "2024-05-01T10:00:00.000+0000");
	cJSON_AddStringToObject(alarm, "Region", "EU (Ireland)");
	cJSON_AddStringToObject(alarm, "AlarmArn", ALARM_ARN);
	cJSON_AddStringToObject(alarm, "OldStateValue", old_state);
	char *msg = cJSON_PrintUnformatted(alarm);
	cJSON_Delete(alarm);
	cJSON *env = cJSON_CreateObject();
	cJSON_AddStringToObject(env, "Type", "Notification");
	cJSON_AddStringToObject(env, "MessageId", message_id);
	cJSON_AddStringToObject(env, "TopicArn", "arn:aws:sns:eu-west-1:123456789012:alarms");
	cJSON_AddStringToObject(env, "Subject", "ALARM: \"checkout-5xx\" in EU (Ireland)");
	cJSON_AddStringToObject(env, "Message", msg);
	cJSON_AddStringToObject(env, "Timestamp", "2024-05-01T10:00:00.100Z");
	cJSON_AddStringToObject(env, "SignatureVersion", "1");
	cJSON_AddStringToObject(env, "Signature", "EXAMPLE");
	char *text = cJSON_Print(env);
	cJSON_Delete(env);
	cJSON_free(msg);
	return text;
}

/* POSTs like SNS does: text/plain body, its headers, basic credentials. Returns the status. */
static long post_sns(struct itest *t, const char *type, const char *body, char **resp)
{
	char url[256], typeh[128];
	snprintf(url, sizeof(url), "%s/hooks/aws", t->gw_url);
	snprintf(typeh, sizeof(typeh), "x-amz-sns-message-type: %s", type);
	const char *headers[] = {"Content-Type: text/plain; charset=UTF-8", typeh,
	                         "Authorization: Basic c25zOnB3", /* sns:pw */
	                         "User-Agent: Amazon Simple Notification Service Agent", NULL};
	struct cg_h_resp r;
	if (cg_h_http("POST", url, headers, body, strlen(body), &r) != 0)
		return 0;
	long st = r.status;
	*resp = r.body;
	r.body = NULL;
	cg_h_resp_free(&r);
	return st;
}

static void expect_post(struct itest *t, const char *type, const char *body, long want_status, const char *want_in)
{
	char *resp = NULL;
	long st = post_sns(t, type, body, &resp);
	if (st != want_status || !resp || !strstr(resp, want_in))
		fprintf(stderr, "got %ld %s, want %ld with %s\n", st, resp ? resp : "(no body)", want_status, want_in);
	assert_int_equal(st, want_status);
	assert_non_null(resp);
	assert_non_null(strstr(resp, want_in));
	free(resp);
}

struct closed_wait {
	struct itest *t;
};

static int case_is_closed(void *ud)
{
	struct closed_wait *w = ud;
	cJSON *cases = itest_cases(w->t);
	cJSON *c = itest_find_case(cases, "checkout-5xx");
	int ok = c && itest_case_closed(c);
	cJSON_Delete(cases);
	return ok;
}

/* The same SNS delivery twice makes one case; the second is acknowledged 200 "duplicate", also after a restart. */
static void test_message_id_dedup(void **state)
{
	(void)state;
	struct itest t;
	assert_int_equal(itest_setup(&t, "cg-sns"), 0);
	snprintf(t.req_log, sizeof(t.req_log), "%s/requests.jsonl", t.dir);
	const char *sim_args[] = {"--request-log", t.req_log, NULL};
	assert_int_equal(itest_start_sim(&t, sim_args), 0);
	assert_int_equal(itest_write_config(&t, NULL, sns_source), 0);
	assert_int_equal(itest_start_gw(&t), 0);

	char *alarm = notification("5e4b7c1a-0001-4c2c-8f9d-bdfb0c7bf324", "ALARM", "OK");
	expect_post(&t, "Notification", alarm, 202, "\"accepted\":1");
	expect_post(&t, "Notification", alarm, 200, "\"status\":\"duplicate\"");

	struct itest_wait w = {&t, 1};
	int ok = cg_h_poll(itest_has_ncases, &w, 20000);
	if (!ok)
		cg_h_dump_log(&t.gw);
	assert_true(ok);
	cJSON *cases = itest_cases(&t);
	cJSON *c = itest_find_case(cases, "checkout-5xx");
	assert_non_null(c);
	const char *prio = itest_case_attr(c, "priority");
	if (!prio || strcmp(prio, "P2") != 0)
		fprintf(stderr, "priority: got %s, want P2 (cloudwatch default alarm=P2)\n", prio ? prio : "NULL");
	assert_string_equal(prio, "P2");
	cJSON_Delete(cases);

	/* OK resolves the case; its redelivery is dropped too. */
	char *ok_msg = notification("5e4b7c1a-0002-4c2c-8f9d-bdfb0c7bf324", "OK", "ALARM");
	expect_post(&t, "Notification", ok_msg, 202, "\"status\":\"resolved\"");
	expect_post(&t, "Notification", ok_msg, 200, "\"status\":\"duplicate\"");
	struct closed_wait cw = {&t};
	ok = cg_h_poll(case_is_closed, &cw, 20000);
	if (!ok)
		cg_h_dump_log(&t.gw);
	assert_true(ok);
	assert_int_equal(itest_ncases(&t), 1);
	double accepted = itest_metric(&t, "casegate_events_accepted_total", "source=\"aws\"");
	double dups = itest_metric(&t, "casegate_duplicate_deliveries_total", "source=\"aws\"");
	if (accepted != 2 || dups != 2)
		fprintf(stderr, "got accepted %g duplicates %g, want 2 and 2\n", accepted, dups);
	assert_true(accepted == 2);
	assert_true(dups == 2);

	/* The seen ids are durable: a redelivery after a restart is still a duplicate. */
	cg_h_stop(&t.gw, SIGTERM);
	t.gw_running = 0;
	assert_int_equal(itest_start_gw(&t), 0);
	expect_post(&t, "Notification", alarm, 200, "\"status\":\"duplicate\"");
	assert_int_equal(itest_ncases(&t), 1);
	free(alarm);
	free(ok_msg);

	char *dir = strdup(t.dir);
	itest_teardown(&t, 1);
	int rc = cg_h_validate_contract(t.req_log);
	cg_h_rmrf(dir);
	free(dir);
	if (rc != 77)
		assert_int_equal(rc, 0);
}

/* The subscription handshake and non-alarm states create nothing and say why. */
static void test_handshake_and_ignored(void **state)
{
	(void)state;
	struct itest t;
	assert_int_equal(itest_setup(&t, "cg-sns"), 0);
	assert_int_equal(itest_start_sim(&t, NULL), 0);
	assert_int_equal(itest_write_config(&t, NULL, sns_source), 0);
	assert_int_equal(itest_start_gw(&t), 0);

	const char *confirm =
	    "{\"Type\":\"SubscriptionConfirmation\",\"MessageId\":\"165545c9-2a5c-472c-8df2-7ff2be2b3b1b\","
	    "\"Token\":\"2336412f37\",\"TopicArn\":\"arn:aws:sns:eu-west-1:123456789012:alarms\","
	    "\"Message\":\"You have chosen to subscribe to the topic.\","
	    "\"SubscribeURL\":\"https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=2336412f37\","
	    "\"Timestamp\":\"2024-05-01T10:00:00.000Z\",\"SignatureVersion\":\"1\",\"Signature\":\"EXAMPLE\"}";
	expect_post(&t, "SubscriptionConfirmation", confirm, 200, "\"status\":\"ignored\"");
	expect_post(&t, "SubscriptionConfirmation", confirm, 200, "SubscribeURL");
	/* The operator finds the URL in the log. */
	int logged = cg_h_wait_log(&t.gw, "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription", 5000);
	if (!logged)
		cg_h_dump_log(&t.gw);
	assert_true(logged);

	char *nodata = notification("5e4b7c1a-0003-4c2c-8f9d-bdfb0c7bf324", "INSUFFICIENT_DATA", "OK");
	expect_post(&t, "Notification", nodata, 200, "INSUFFICIENT_DATA");
	free(nodata);
	expect_post(&t, "Notification", "{\"Type\":\"Notification\",\"MessageId\":\"x\"}", 422, "Message");
	double ignored = itest_metric(&t, "casegate_ignored_payloads_total", "source=\"aws\"");
	if (ignored != 3)
		fprintf(stderr, "ignored payloads: got %g, want 3\n", ignored);
	assert_true(ignored == 3);
	assert_int_equal(itest_ncases(&t), 0);
	itest_teardown(&t, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_message_id_dedup),
	    cmocka_unit_test(test_handshake_and_ignored),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
