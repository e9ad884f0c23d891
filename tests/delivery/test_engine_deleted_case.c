/* test_engine_deleted_case.c: a case deleted in Datadog is forgotten: the follow-up that meets its 404 is dead-lettered (once), the next firing opens a new case. */
/* labels: integration */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "opstest.h"

/* case_refresh is left at its default (5m): casegate trusts its record, so it learns of the
 * deletion only from the Case API's 404 on its next request, the path this test is about. */
static const char *const sources = "  - name: del\n"
                                   "    type: generic\n"
                                   "    auth: none\n"
                                   "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
                                   "    case_type: 00000000-0000-0000-0000-000000000001\n";

static void post(struct itest *t, const char *severity)
{
	char body[256];
	snprintf(body, sizeof(body),
		 "{\"title\":\"Deleted-In-Datadog\",\"status\":\"firing\",\"dedup_key\":\"gone-1\",\"severity\":\"%s\"}",
		 severity);
	char *resp = NULL;
	long st = itest_post(t, "del", NULL, body, &resp);
	if (st != 202)
		fail_msg("POST /hooks/del: got HTTP %ld (%s), want 202", st, resp ? resp : "");
	free(resp);
}

/* The casegate ref of the one live case titled like ours, copied into key; 1 when found. */
static int live_case_key(struct itest *t, char *key, size_t keylen)
{
	cJSON *doc = itest_cases(t);
	const cJSON *c = itest_find_case(doc, "Deleted-In-Datadog");
	const char *k = c ? itest_case_attr(c, "key") : NULL;
	if (k)
		snprintf(key, keylen, "%s", k);
	cJSON_Delete(doc);
	return k != NULL;
}

struct key_wait {
	struct itest *t;
	const char *not_key; /* NULL: any */
	char key[64];
};

static int case_appeared(void *ud)
{
	struct key_wait *w = ud;
	return live_case_key(w->t, w->key, sizeof(w->key)) && (!w->not_key || strcmp(w->key, w->not_key) != 0);
}

/* Nothing queued or in flight (casegate status --json, the store's word). */
static int queue_idle(void *ud)
{
	struct itest *t = ud;
	if (itest_metric(t, "casegate_inflight_operations", NULL) != 0)
		return 0;
	const char *args[] = {"status", "-c", t->cfg_path, "--json", NULL};
	char *out = NULL;
	int rc = ops_run_casegate(t, args, &out);
	cJSON *doc = rc == 0 && out ? cJSON_Parse(out) : NULL;
	free(out);
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "queue"), "depth");
	int idle = cJSON_IsNumber(d) && d->valuedouble == 0;
	cJSON_Delete(doc);
	return idle;
}

/* The dead letters `casegate dlq list` prints (malloc'd output); *n their number. */
static char *dead_letters(struct itest *t, int *n)
{
	const char *args[] = {"dlq", "list", "-c", t->cfg_path, NULL};
	char *out = NULL;
	assert_int_equal(ops_run_casegate(t, args, &out), 0);
	assert_non_null(out);
	*n = 0;
	for (const char *p = out; (p = strstr(p, "gone-1")); p++)
		(*n)++;
	return out;
}

static void test_deleted_case_forgotten(void **state)
{
	(void)state;
	struct itest t;
	assert_int_equal(itest_setup(&t, "cg-deleted"), 0);
	assert_int_equal(itest_start_sim(&t, NULL), 0);
	assert_int_equal(itest_write_config(&t, NULL, sources), 0);
	assert_int_equal(itest_start_gw(&t), 0);

	post(&t, "warning");
	struct key_wait first = {&t, NULL, ""};
	assert_true(cg_h_poll(case_appeared, &first, 15000));
	assert_true(cg_h_poll(queue_idle, &t, 15000));
	char old_key[64];
	snprintf(old_key, sizeof(old_key), "%s", first.key);

	/* A person deletes it in Datadog. */
	char path[160];
	snprintf(path, sizeof(path), "/_sim/cases/%s/delete", old_key);
	assert_int_equal(itest_sim_post(&t, path, "{}"), 200);
	assert_int_equal(itest_ncases(&t), 0);

	/* The next change (an escalation) meets the 404: that event is a dead letter naming it. */
	post(&t, "critical");
	assert_true(cg_h_poll(queue_idle, &t, 15000));
	int n = 0;
	char *dl = dead_letters(&t, &n);
	if (n != 1 || !strstr(dl, "404"))
		fail_msg("after the escalation of a deleted case: `casegate dlq list` says\n%s\nwant one dead letter for "
			 "gone-1 naming the 404",
			 dl);
	free(dl);
	assert_int_equal(itest_ncases(&t), 0); /* nothing created on the escalation itself */

	/* Forgotten: the next firing opens a new case (no reopen, no comment into the deleted one). */
	post(&t, "critical");
	struct key_wait second = {&t, old_key, ""};
	if (!cg_h_poll(case_appeared, &second, 15000)) {
		cg_h_dump_log(&t.gw);
		fail_msg("after the 404: want a new case for the next firing, got none");
	}
	assert_true(cg_h_poll(queue_idle, &t, 15000));
	cJSON *doc = itest_cases(&t);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "cases")), 1);
	const cJSON *c = itest_find_case(doc, "Deleted-In-Datadog");
	const char *prio = itest_case_attr(c, "priority");
	if (!prio || strcmp(prio, "P1") != 0)
		fail_msg("the new case: got priority %s, want P1 (the firing that opened it)", prio ? prio : "(none)");
	cJSON_Delete(doc);
	/* The deleted case got no request after its 404 (the sim keeps it under deleted_cases). */
	doc = itest_cases(&t);
	const cJSON *gone;
	int seen = 0;
	cJSON_ArrayForEach(gone, cJSON_GetObjectItemCaseSensitive(doc, "deleted_cases"))
	{
		const char *k = itest_case_attr(gone, "key");
		if (!k || strcmp(k, old_key) != 0)
			continue;
		seen = 1;
		const cJSON *e;
		int after = 0;
		cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(gone, "events"))
		{
			if (after && cJSON_IsString(e))
				fail_msg("the deleted case %s got \"%s\" after human:delete", old_key, e->valuestring);
			after |= cJSON_IsString(e) && strcmp(e->valuestring, "human:delete") == 0;
		}
	}
	cJSON_Delete(doc);
	assert_true(seen);
	/* Still exactly the one dead letter: the new case's create went through. */
	dl = dead_letters(&t, &n);
	if (n != 1)
		fail_msg("after the new case: `casegate dlq list` says\n%s\nwant still one dead letter", dl);
	free(dl);
	assert_int_equal(itest_stop_gw(&t, SIGTERM), 0);
	itest_teardown(&t, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_deleted_case_forgotten),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
