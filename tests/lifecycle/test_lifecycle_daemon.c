/* test_lifecycle_daemon.c: one case per alert lifecycle: repeats, digests, escalation, resolve, reopen, HA pairs. */
/* labels: integration */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>

#include "itest.h"

static const char *sources =
	"  - name: lc\n"
	"    type: generic\n"
	"    auth: { bearer: tok }\n"
	"    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
	"    case_type: 00000000-0000-0000-0000-000000000001\n"
	"    title: \"{{labels.alertname}} on {{labels.instance}}\"\n"
	"    dedup_key: \"{{labels.alertname}}/{{labels.instance}}\"\n"
	"    priority: { from: \"{{labels.severity}}\", map: { critical: P1, warning: P3 }, default: P4 }\n"
	"    digest_interval: 1s\n"
	"  - name: short\n"
	"    type: generic\n"
	"    auth: { bearer: tok }\n"
	"    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
	"    case_type: 00000000-0000-0000-0000-000000000001\n"
	"    title: \"{{labels.alertname}}\"\n"
	"    dedup_key: \"{{labels.alertname}}\"\n"
	"    reopen_window: 1ms\n"
	"  - name: amg\n"
	"    type: alertmanager\n"
	"    group_by: group\n"
	"    on_repeat: comment\n"
	"    auth: { bearer: tok }\n"
	"    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
	"    case_type: 00000000-0000-0000-0000-000000000001\n";

static char *ev(const char *name, const char *inst, const char *sev, const char *status, int n)
{
	return cg_h_fmt("{\"status\":\"%s\",\"labels\":{\"alertname\":\"%s\",\"instance\":\"%s\",\"severity\":\"%s\"},"
			"\"annotations\":{\"summary\":\"occurrence %d\"}}",
			status, name, inst, sev, n);
}

static void post_ok(struct itest *t, const char *src, const char *body)
{
	char *resp = NULL;
	long st = itest_post(t, src, "tok", body, &resp);
	if (st != 202)
		fprintf(stderr, "got %ld (%s), want 202\n", st, resp ? resp : "");
	free(resp);
	assert_int_equal(st, 202);
}

static int setup(void **state)
{
	struct itest *t = calloc(1, sizeof(*t));
	if (!t || itest_setup(t, "cg-lc") != 0)
		return -1;
	if (itest_start_sim(t, NULL) != 0 || itest_write_config(t, NULL, sources) != 0 || itest_start_gw(t) != 0)
		return -1;
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	return itest_state_free(state);
}

/* Finds the case whose title is `title` in a fresh /_sim/cases answer; caller deletes *all. */
static cJSON *find_case(struct itest *t, const char *title, cJSON **all)
{
	*all = itest_cases(t);
	cJSON *c;
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(*all, "cases"))
	{
		const char *ti = itest_case_attr(c, "title");
		if (ti && strcmp(ti, title) == 0)
			return c;
	}
	return NULL;
}

static int count_titled(struct itest *t, const char *title)
{
	cJSON *all = itest_cases(t);
	int n = 0;
	cJSON *c;
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(all, "cases"))
	{
		const char *ti = itest_case_attr(c, "title");
		n += ti && strcmp(ti, title) == 0;
	}
	cJSON_Delete(all);
	return n;
}

struct cond {
	struct itest *t;
	const char *title;
	const char *attr, *value; /* attribute equals value */
	const char *comment_has;  /* some comment contains this */
	int min_comments;
};

static int cond_met(void *ud)
{
	struct cond *k = ud;
	cJSON *all;
	cJSON *c = find_case(k->t, k->title, &all);
	int ok = c != NULL;
	if (ok && k->attr) {
		const char *v = itest_case_attr(c, k->attr);
		ok = v && strcmp(v, k->value) == 0;
	}
	if (ok && k->comment_has)
		ok = itest_case_has_comment(c, k->comment_has);
	if (ok && k->min_comments)
		ok = itest_case_ncomments(c) >= k->min_comments;
	cJSON_Delete(all);
	return ok;
}

static void wait_for(struct itest *t, struct cond *k)
{
	k->t = t;
	if (!cg_h_poll(cond_met, k, 20000)) {
		cJSON *all = itest_cases(t);
		char *s = cJSON_Print(all);
		fprintf(stderr, "condition not met for '%s' (%s=%s, comment '%s'); cases:\n%s\n", k->title,
			k->attr ? k->attr : "-", k->value ? k->value : "-", k->comment_has ? k->comment_has : "-",
			s ? s : "");
		free(s);
		cJSON_Delete(all);
		cg_h_dump_log(&t->gw);
		fail();
	}
}

struct closed_cond {
	struct itest *t;
	const char *title;
	int want_closed;
};

static int closed_met(void *ud)
{
	struct closed_cond *k = ud;
	cJSON *all;
	cJSON *c = find_case(k->t, k->title, &all);
	int ok = c && itest_case_closed(c) == k->want_closed;
	cJSON_Delete(all);
	return ok;
}

/* 50 repeats of one alert: one case, a handful of digest comments at most. */
static void test_repeats_fold_into_digest(void **state)
{
	struct itest *t = *state;
	for (int i = 0; i < 50; i++) {
		char *b = ev("Flappy", "db-1", "warning", "firing", i);
		post_ok(t, "lc", b);
		free(b);
	}
	struct cond k = {.title = "Flappy on db-1"};
	wait_for(t, &k);
	/* One more after the digest interval surely passed: it must produce a digest comment. */
	struct timespec ts = {1, 100 * 1000 * 1000};
	nanosleep(&ts, NULL); /* the digest interval is a time rule; this is the interval, not a wait for work */
	char *b = ev("Flappy", "db-1", "warning", "firing", 51);
	post_ok(t, "lc", b);
	free(b);
	struct cond k2 = {.title = "Flappy on db-1", .comment_has = "more time"};
	wait_for(t, &k2);
	assert_int_equal(count_titled(t, "Flappy on db-1"), 1);
	cJSON *all;
	cJSON *c = find_case(t, "Flappy on db-1", &all);
	int n = itest_case_ncomments(c);
	if (n < 1 || n > 10)
		fprintf(stderr, "got %d comments, want 1..10\n", n);
	assert_true(n >= 1 && n <= 10);
	cJSON_Delete(all);
}

/* warning -> critical raises the priority with a comment; resolve comments and closes; re-fire reopens. */
static void test_escalate_resolve_reopen(void **state)
{
	struct itest *t = *state;
	char *b = ev("CPU", "app-1", "warning", "firing", 1);
	post_ok(t, "lc", b);
	free(b);
	struct cond k = {.title = "CPU on app-1", .attr = "priority", .value = "P3"};
	wait_for(t, &k);

	b = ev("CPU", "app-1", "critical", "firing", 2);
	post_ok(t, "lc", b);
	free(b);
	struct cond k2 = {.title = "CPU on app-1", .attr = "priority", .value = "P1", .comment_has = "Priority raised"};
	wait_for(t, &k2);

	/* Severity falling back does not lower the priority by default. */
	b = ev("CPU", "app-1", "warning", "firing", 3);
	post_ok(t, "lc", b);
	free(b);

	b = ev("CPU", "app-1", "warning", "resolved", 4);
	post_ok(t, "lc", b);
	free(b);
	struct cond k3 = {.title = "CPU on app-1", .comment_has = "**Resolved.**", .attr = "priority", .value = "P1"};
	wait_for(t, &k3);
	/* The resolve comment says "Resolved" once: its details line repeats no status word. */
	{
		cJSON *all;
		cJSON *c = find_case(t, "CPU on app-1", &all);
		const cJSON *m;
		int seen = 0;
		cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(c, "comments"))
		{
			const cJSON *text = cJSON_GetObjectItemCaseSensitive(m, "comment");
			if (!cJSON_IsString(text) || !strstr(text->valuestring, "**Resolved.**"))
				continue;
			seen = 1;
			const char *after = strstr(text->valuestring, "**Resolved.**") + 5;
			if (strstr(after, "Resolved") || strstr(after, "resolved") || strstr(text->valuestring, "RESOLVED") || strstr(text->valuestring, "FIRING"))
				fail_msg("resolve comment: got \"%s\", want the status said once", text->valuestring);
		}
		assert_true(seen);
		cJSON_Delete(all);
	}
	struct closed_cond cc = {t, "CPU on app-1", 1};
	assert_true(cg_h_poll(closed_met, &cc, 20000));

	b = ev("CPU", "app-1", "critical", "firing", 5);
	post_ok(t, "lc", b);
	free(b);
	struct cond k4 = {.title = "CPU on app-1", .comment_has = "Firing again"};
	wait_for(t, &k4);
	cc.want_closed = 0;
	assert_true(cg_h_poll(closed_met, &cc, 20000));
	assert_int_equal(count_titled(t, "CPU on app-1"), 1);
}

struct count_cond {
	struct itest *t;
	const char *title;
	int want;
};

static int count_met(void *ud)
{
	struct count_cond *k = ud;
	return count_titled(k->t, k->title) == k->want;
}

/* After the reopen window a new case opens and points back to the old one. */
static void test_new_case_after_window(void **state)
{
	struct itest *t = *state;
	char *b = ev("Backup", "x", "warning", "firing", 1);
	post_ok(t, "short", b);
	free(b);
	struct cond k = {.title = "Backup"};
	wait_for(t, &k);
	b = ev("Backup", "x", "warning", "resolved", 2);
	post_ok(t, "short", b);
	free(b);
	struct closed_cond cc = {t, "Backup", 1};
	assert_true(cg_h_poll(closed_met, &cc, 20000));
	b = ev("Backup", "x", "warning", "firing", 3);
	post_ok(t, "short", b);
	free(b);
	struct count_cond cc2 = {t, "Backup", 2};
	int ok = cg_h_poll(count_met, &cc2, 20000);
	assert_true(ok);
	cJSON *all = itest_cases(t);
	int linked = 0;
	cJSON *c;
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(all, "cases"))
	{
		const char *d = itest_case_attr(c, "description");
		if (d && strstr(d, "Follows case"))
			linked++;
	}
	cJSON_Delete(all);
	assert_int_equal(linked, 1);
}

/* What source lc's events did so far, to tell when the ones posted next were all dealt with. */
struct lc_mark {
	struct itest *t;
	double accepted, applied;
};

static struct lc_mark lc_mark(struct itest *t)
{
	struct lc_mark m = {t, itest_metric(t, "casegate_events_accepted_total", "source=\"lc\""),
			    itest_metric(t, "casegate_events_total", "source=\"lc\"")};
	assert_true(m.accepted >= 0 && m.applied >= 0);
	return m;
}

/* Every event of source lc accepted since the mark was applied (whatever the action, "ignored"
 * included) and the queue is empty: the queue moved past them, whatever ran in parallel. */
static int lc_settled(void *ud)
{
	const struct lc_mark *m = ud;
	double accepted = itest_metric(m->t, "casegate_events_accepted_total", "source=\"lc\"") - m->accepted;
	double applied = itest_metric(m->t, "casegate_events_total", "source=\"lc\"") - m->applied;
	return accepted > 0 && applied >= accepted && itest_metric(m->t, "casegate_queue_depth", NULL) == 0;
}

static void wait_settled(const struct lc_mark *m)
{
	if (!cg_h_poll(lc_settled, (void *)m, 20000))
		fail_msg("source lc: got %.0f events applied of %.0f accepted, queue depth %.0f; want all applied, depth 0",
			 itest_metric(m->t, "casegate_events_total", "source=\"lc\"") - m->applied,
			 itest_metric(m->t, "casegate_events_accepted_total", "source=\"lc\"") - m->accepted,
			 itest_metric(m->t, "casegate_queue_depth", NULL));
}

/* A resolution for an alert casegate never saw opens nothing. */
static void test_resolve_unknown_ignored(void **state)
{
	struct itest *t = *state;
	int before = itest_ncases(t);
	double ignored = itest_metric(t, "casegate_events_total", "action=\"ignored\"");
	struct lc_mark m = lc_mark(t);
	char *b = ev("Ghost", "nowhere", "critical", "resolved", 1);
	post_ok(t, "lc", b);
	free(b);
	wait_settled(&m);
	/* It was looked at and ignored, not lost, and no request went out for it. */
	assert_true(itest_metric(t, "casegate_events_total", "action=\"ignored\"") == ignored + 1);
	assert_int_equal(count_titled(t, "Ghost on nowhere"), 0);
	assert_int_equal(itest_ncases(t), before);
}

struct poster {
	struct itest *t;
	long status;
};

static void *post_thread(void *ud)
{
	struct poster *p = ud;
	char *b = ev("HAPair", "am", "critical", "firing", 1);
	p->status = itest_post(p->t, "lc", "tok", b, NULL);
	free(b);
	return NULL;
}

/* An HA Alertmanager pair sends the same notification twice at once: exactly one case. */
static void test_concurrent_duplicates_one_case(void **state)
{
	struct itest *t = *state;
	pthread_t th[4];
	struct poster p[4];
	struct lc_mark m = lc_mark(t);
	for (int i = 0; i < 4; i++) {
		p[i].t = t;
		assert_int_equal(pthread_create(&th[i], NULL, post_thread, &p[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(p[i].status, 202);
	}
	struct cond k = {.title = "HAPair on am"};
	wait_for(t, &k);
	/* All four were dealt with (not merely the first): a second case would be there now. */
	wait_settled(&m);
	assert_int_equal(count_titled(t, "HAPair on am"), 1);
}

static char *am_group(const char *status, const char *st1, const char *st2)
{
	return cg_h_fmt("{\"version\":\"4\",\"groupKey\":\"{}:{alertname=\\\"DiskFull\\\"}\",\"status\":\"%s\","
			"\"receiver\":\"casegate\",\"groupLabels\":{\"alertname\":\"DiskFull\"},"
			"\"commonLabels\":{\"alertname\":\"DiskFull\",\"severity\":\"warning\"},\"commonAnnotations\":{},"
			"\"externalURL\":\"http://am.example.com\",\"alerts\":["
			"{\"status\":\"%s\",\"labels\":{\"alertname\":\"DiskFull\",\"instance\":\"db-1\",\"severity\":\"warning\"},"
			"\"annotations\":{\"summary\":\"disk db-1\"},\"startsAt\":\"2026-01-01T00:00:00Z\",\"fingerprint\":\"a1\"},"
			"{\"status\":\"%s\",\"labels\":{\"alertname\":\"DiskFull\",\"instance\":\"db-2\",\"severity\":\"warning\"},"
			"\"annotations\":{\"summary\":\"disk db-2\"},\"startsAt\":\"2026-01-01T00:00:00Z\",\"fingerprint\":\"a2\"}]}",
			status, st1, st2);
}

/* group_by: group: one case per notification group; the comments list the group's alerts. */
static void test_group_mode_lists_alerts(void **state)
{
	struct itest *t = *state;
	char *b = am_group("firing", "firing", "firing");
	post_ok(t, "amg", b);
	free(b);
	cJSON *all = itest_cases(t);
	const char *title = NULL;
	for (int i = 0; i < 2000 && !title; i++) {
		cJSON_Delete(all);
		all = itest_cases(t);
		cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(all, "cases"), 0);
		title = c ? itest_case_attr(c, "title") : NULL;
		if (!title) {
			struct timespec ts = {0, 10 * 1000 * 1000};
			nanosleep(&ts, NULL); /* polling interval of a bounded wait (20 s) */
		}
	}
	assert_non_null(title);
	char *want = strdup(title);
	cJSON_Delete(all);
	b = am_group("firing", "firing", "resolved");
	post_ok(t, "amg", b);
	free(b);
	struct cond k = {.title = want, .comment_has = "**RESOLVED** DiskFull"};
	wait_for(t, &k);
	struct cond k2 = {.title = want, .comment_has = "**FIRING** DiskFull"};
	wait_for(t, &k2);
	b = am_group("resolved", "resolved", "resolved");
	post_ok(t, "amg", b);
	free(b);
	struct closed_cond cc = {t, want, 1};
	assert_true(cg_h_poll(closed_met, &cc, 20000));
	assert_int_equal(count_titled(t, want), 1);
	free(want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_repeats_fold_into_digest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_escalate_resolve_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_new_case_after_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resolve_unknown_ignored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_duplicates_one_case, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_mode_lists_alerts, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
