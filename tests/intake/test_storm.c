/* test_storm.c: storm folding as the store transaction decides it: the window, the storm case, folded repeats, escalations, resolutions and digests. */
/* labels: unit */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "casebody.h"
#include "err.h"
#include "event.h"
#include "harness.h"
#include "payload.h"
#include "store.h"
#include "storm.h"

#define T0 1700000000000LL

struct fx {
	char *dir;
	struct cg_store *st;
	struct cg_storm_rule r;
	struct cg_storm_fold out;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[256] = "";
	if (!f || !(f->dir = cg_h_tmpdir("storm")) || cg_store_sqlite_open(f->dir, &f->st, err, sizeof(err)) != 0)
		fail_msg("store: %s", err);
	snprintf(f->r.source, sizeof(f->r.source), "am");
	f->r.max_new = 3;
	f->r.per_ms = 60000;
	f->r.digest_ms = 1000;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	cg_storm_fold_cleanup(&f->out);
	cg_store_close(f->st);
	cg_h_rmrf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

/* An event of source am for key (namespaced here), as intake stores it. */
static struct cg_store_event ev(const char *key, int status, int prio)
{
	char title[64], desc[96];
	snprintf(title, sizeof(title), "alert %s", key);
	snprintf(desc, sizeof(desc), "Own description of %s", key);
	cJSON *create = cg_body_create("d4bbe1af-f36e-42f1-87c1-493ca35c320e", "00000000-0000-0000-0000-000000000001",
				       title, desc, prio, NULL);
	struct cg_payload_in in = {.title = title, .summary = "fired", .create = create};
	struct cg_store_event e = {.source = strdup("am"),
				   .dedup_key = cg_h_fmt("am:%s", key),
				   .status = status,
				   .priority = prio,
				   .payload = cg_payload_encode(&in),
				   .received_ms = T0,
				   .next_ms = T0};
	cJSON_Delete(create);
	if (!e.source || !e.dedup_key || !e.payload)
		fail_msg("out of memory");
	return e;
}

/* Folds the events (freed after) at now in one transaction and stores what it decided. */
static void fold(struct fx *f, struct cg_store_event *evs, size_t n, int64_t now)
{
	if (cg_store_begin(f->st) != 0)
		fail_msg("begin");
	int rc = cg_storm_fold(f->st, &f->r, evs, n, now, &f->out);
	if (rc == 0 && f->out.n)
		rc = cg_store_enqueue(f->st, f->out.evs, f->out.n);
	if (rc != 0 || cg_store_commit(f->st) != 0)
		fail_msg("fold: %s", cg_strerror(rc));
	cg_store_events_free(evs, n);
}

static void fold1(struct fx *f, const char *key, int status, int prio, int64_t now)
{
	struct cg_store_event *e = malloc(sizeof(*e));
	*e = ev(key, status, prio);
	fold(f, e, 1, now);
}

/* The output event i: its key and status. */
static void expect_out(const struct fx *f, size_t i, const char *key, int status, int prio)
{
	if (i >= f->out.n)
		fail_msg("event %zu: the fold stored only %zu", i, f->out.n);
	const struct cg_store_event *e = &f->out.evs[i];
	if (strcmp(e->dedup_key, key) != 0 || e->status != status || e->priority != prio)
		fail_msg("event %zu: got %s status %d P%d, want %s status %d P%d", i, e->dedup_key, e->status, e->priority,
			 key, status, prio);
}

static const char *storm_key(const struct fx *f)
{
	for (size_t i = 0; i < f->out.n; i++)
		if (strstr(f->out.evs[i].dedup_key, ":#storm-"))
			return f->out.evs[i].dedup_key;
	fail_msg("no storm event among %zu", f->out.n);
	return NULL;
}

/* The create body's title and description of output event i. */
static void create_text(const struct fx *f, size_t i, char **title, char **desc)
{
	struct cg_payload p;
	if (cg_payload_decode(f->out.evs[i].payload, &p) != 0 || !p.create)
		fail_msg("event %zu has no create", i);
	const cJSON *a = cJSON_GetObjectItem(cJSON_GetObjectItem(p.create, "data"), "attributes");
	*title = strdup(cJSON_GetObjectItem(a, "title")->valuestring);
	*desc = strdup(cJSON_GetObjectItem(a, "description")->valuestring);
	cg_payload_cleanup(&p);
}

static char *summary_of(const struct fx *f, size_t i)
{
	struct cg_payload p;
	if (cg_payload_decode(f->out.evs[i].payload, &p) != 0)
		fail_msg("event %zu: bad payload", i);
	char *s = strdup(p.summary);
	cg_payload_cleanup(&p);
	return s;
}

static struct cg_storm_info storm_info(struct fx *f, size_t *n)
{
	struct cg_storm_info *v = NULL, one = {0};
	if (cg_storm_list(f->st, &v, n) != 0)
		fail_msg("storm list");
	if (*n) {
		one = v[0];
		v[0].source = v[0].key = NULL;
	}
	cg_storm_infos_free(v, *n);
	return one;
}

/* A storm of ten new alerts: three cases of their own, then one storm case from the most urgent of the rest. */
static void t_storm_opens_one_case(void **state)
{
	struct fx *f = *state;
	struct cg_store_event *e = calloc(10, sizeof(*e));
	for (int i = 0; i < 10; i++) {
		char k[8];
		snprintf(k, sizeof(k), "a%d", i);
		e[i] = ev(k, CG_STATUS_FIRING, i == 5 ? 1 : 4);
	}
	fold(f, e, 10, T0);
	if (f->out.n != 4 || f->out.folded != 7 || f->out.started != 1)
		fail_msg("got %zu events, %zu folded, %zu storms started; want 4, 7, 1", f->out.n, f->out.folded,
			 f->out.started);
	expect_out(f, 0, "am:a0", CG_STATUS_FIRING, 4);
	expect_out(f, 2, "am:a2", CG_STATUS_FIRING, 4);
	char want[64];
	snprintf(want, sizeof(want), "am:#storm-%lld", (long long)T0);
	expect_out(f, 3, want, CG_STATUS_FIRING, 1);
	char *title = NULL, *desc = NULL;
	create_text(f, 3, &title, &desc);
	if (strcmp(title, "Alert storm on am: alert a5") != 0)
		fail_msg("storm title: got '%s'", title);
	for (int i = 3; i < 10; i++) {
		char k[16];
		snprintf(k, sizeof(k), "(`a%d`)", i);
		if (!strstr(desc, k))
			fail_msg("storm description does not name a%d:\n%s", i, desc);
	}
	if (!strstr(desc, "**P1** alert a5") || !strstr(desc, "Own description of a5") || strstr(desc, "(`a2`)"))
		fail_msg("storm description: want the P1 alert's own text and no unfolded alert:\n%s", desc);
	free(title);
	free(desc);
	size_t n = 0;
	struct cg_storm_info si = storm_info(f, &n);
	if (n != 1 || si.members != 7 || si.open != 7 || si.priority != 1 || strcmp(si.key, want) != 0)
		fail_msg("storm listed: got %zu storms, %ld alerts, %ld open, P%d", n, si.members, si.open, si.priority);
	free(si.source);
	free(si.key);
}

/* Repeats add nothing; a more urgent one raises the storm case; notes land on it. */
static void t_repeats_and_escalation(void **state)
{
	struct fx *f = *state;
	struct cg_store_event *e = calloc(5, sizeof(*e));
	for (int i = 0; i < 5; i++) {
		char k[8];
		snprintf(k, sizeof(k), "b%d", i);
		e[i] = ev(k, CG_STATUS_FIRING, 4);
	}
	fold(f, e, 5, T0);
	const char *sk = storm_key(f);
	char *skey = strdup(sk);
	/* An alert of its own (b0) is active: its repeat stays its own; folded b4 repeats at P4: nothing. */
	fold1(f, "b0", CG_STATUS_FIRING, 4, T0 + 10);
	expect_out(f, 0, "am:b0", CG_STATUS_FIRING, 4);
	fold1(f, "b4", CG_STATUS_FIRING, 4, T0 + 20);
	if (f->out.n != 0 || f->out.absorbed != 1)
		fail_msg("repeat of a folded alert: got %zu events, %zu absorbed; want 0, 1", f->out.n, f->out.absorbed);
	/* b4 escalates to P2: the storm case is raised, once. */
	fold1(f, "b4", CG_STATUS_FIRING, 2, T0 + 30);
	expect_out(f, 0, skey, CG_STATUS_FIRING, 2);
	char *sum = summary_of(f, 0);
	if (!strstr(sum, "more urgent than this storm case: alert b4"))
		fail_msg("escalation summary: got '%s'", sum);
	free(sum);
	fold1(f, "b4", CG_STATUS_FIRING, 2, T0 + 40);
	if (f->out.n != 0)
		fail_msg("a second P2 repeat: got %zu events, want 0", f->out.n);
	/* An acknowledgement of a folded alert goes to the storm case. */
	fold1(f, "b3", CG_STATUS_COMMENT, 0, T0 + 50);
	expect_out(f, 0, skey, CG_STATUS_COMMENT, 0);
	free(skey);
}

/* Resolutions tick alerts off; the digest names them; the last one resolves the storm case. */
static void t_resolution_closes_storm(void **state)
{
	struct fx *f = *state;
	struct cg_store_event *e = calloc(6, sizeof(*e));
	for (int i = 0; i < 6; i++) {
		char k[8];
		snprintf(k, sizeof(k), "c%d", i);
		e[i] = ev(k, CG_STATUS_FIRING, 3);
	}
	fold(f, e, 6, T0);
	char *skey = strdup(storm_key(f));
	/* A new alert later in the window joins the storm: named in the next digest, no event now. */
	fold1(f, "c6", CG_STATUS_FIRING, 3, T0 + 100);
	if (f->out.n != 0 || f->out.folded != 1)
		fail_msg("late alert: got %zu events, %zu folded; want 0, 1", f->out.n, f->out.folded);
	struct cg_store_kv *due = NULL;
	size_t ndue = 0;
	if (cg_store_kv_list(f->st, "s:", T0 + 100 + 1000, &due, &ndue) != 0 || ndue != 1)
		fail_msg("the digest is not due a digest_interval after the late alert (%zu due)", ndue);
	if (!strstr(due[0].v, "new: **P3** alert c6"))
		fail_msg("digest lines: %s", due[0].v);
	cg_store_kvs_free(due, ndue);
	/* c0..c2 have cases of their own: their resolutions are theirs. */
	fold1(f, "c0", CG_STATUS_RESOLVED, 3, T0 + 200);
	expect_out(f, 0, "am:c0", CG_STATUS_RESOLVED, 3);
	for (int i = 3; i < 6; i++) {
		char k[8];
		snprintf(k, sizeof(k), "c%d", i);
		fold1(f, k, CG_STATUS_RESOLVED, 3, T0 + 300 + i);
		if (f->out.n != 0)
			fail_msg("resolution of %s while others fire: got %zu events, want 0", k, f->out.n);
	}
	size_t n = 0;
	struct cg_storm_info si = storm_info(f, &n);
	if (n != 1 || si.open != 1 || si.members != 4)
		fail_msg("after three resolutions: %zu storms, %ld of %ld open; want 1 of 4", n, si.open, si.members);
	free(si.source);
	free(si.key);
	/* The last one: the digest (naming what is new and resolved), then the storm's resolve. */
	fold1(f, "c6", CG_STATUS_RESOLVED, 3, T0 + 400);
	if (f->out.n != 2)
		fail_msg("last resolution: got %zu events, want 2 (digest, resolve)", f->out.n);
	expect_out(f, 0, skey, CG_STATUS_COMMENT, 3);
	expect_out(f, 1, skey, CG_STATUS_RESOLVED, 3);
	char *digest = summary_of(f, 0);
	if (!strstr(digest, "0 of 4 folded alerts still firing") || !strstr(digest, "new: **P3** alert c6") ||
	    !strstr(digest, "resolved: **P3** alert c3 (`c3`)") || !strstr(digest, "resolved: **P3** alert c6"))
		fail_msg("digest: got\n%s", digest);
	free(digest);
	storm_info(f, &n);
	if (n != 0)
		fail_msg("a resolved storm is still listed (%zu)", n);
	/* Its alerts stand on their own again: a repeat of c4 in a new storm-free window is its own. */
	fold1(f, "c4", CG_STATUS_FIRING, 3, T0 + 200000);
	expect_out(f, 0, "am:c4", CG_STATUS_FIRING, 3);
	free(skey);
}

/* A storm goes on through a window that is still busy, and ends after a quiet one. */
static void t_windows(void **state)
{
	struct fx *f = *state;
	struct cg_store_event *e = calloc(5, sizeof(*e));
	for (int i = 0; i < 5; i++) {
		char k[8];
		snprintf(k, sizeof(k), "d%d", i);
		e[i] = ev(k, CG_STATUS_FIRING, 3);
	}
	fold(f, e, 5, T0);
	char *first = strdup(storm_key(f));
	/* The next window: the storm goes on (the last one saw 5 > 3): d5 folds at once. */
	fold1(f, "d5", CG_STATUS_FIRING, 3, T0 + 60000);
	if (f->out.n != 0 || f->out.folded != 1)
		fail_msg("storming window: got %zu events, %zu folded; want 0, 1", f->out.n, f->out.folded);
	/* The window after that one saw only d5 (1 <= 3): the storm is over for new alerts. */
	fold1(f, "d6", CG_STATUS_FIRING, 3, T0 + 120000);
	expect_out(f, 0, "am:d6", CG_STATUS_FIRING, 3);
	/* Alerts whose key is already busy are not new: they neither count nor fold. */
	for (int i = 0; i < 4; i++)
		fold1(f, "d6", CG_STATUS_FIRING, 3, T0 + 120001 + i);
	if (f->out.n != 1 || strcmp(f->out.evs[0].dedup_key, "am:d6") != 0)
		fail_msg("a busy key's repeats must stay its own");
	fold1(f, "d7", CG_STATUS_FIRING, 3, T0 + 120010);
	fold1(f, "d8", CG_STATUS_FIRING, 3, T0 + 120020);
	expect_out(f, 0, "am:d8", CG_STATUS_FIRING, 3);
	/* The fourth new one of this window opens a new storm, with a new key. */
	fold1(f, "d9", CG_STATUS_FIRING, 3, T0 + 120030);
	if (f->out.started != 1 || strcmp(storm_key(f), first) == 0)
		fail_msg("a new storm: started %zu, key %s (the first was %s)", f->out.started, storm_key(f), first);
	free(first);
}

/* A batch that rolls back and runs again decides the same, from the same store. */
static void t_rerun_after_rollback(void **state)
{
	struct fx *f = *state;
	struct cg_store_event *e = calloc(5, sizeof(*e));
	for (int i = 0; i < 5; i++) {
		char k[8];
		snprintf(k, sizeof(k), "e%d", i);
		e[i] = ev(k, CG_STATUS_FIRING, 3);
	}
	for (int round = 0; round < 2; round++) {
		if (cg_store_begin(f->st) != 0 || cg_storm_fold(f->st, &f->r, e, 5, T0, &f->out) != 0)
			fail_msg("fold");
		if (f->out.n != 4 || f->out.folded != 2)
			fail_msg("round %d: got %zu events, %zu folded; want 4, 2", round, f->out.n, f->out.folded);
		if (round == 0 && cg_store_rollback(f->st) != 0)
			fail_msg("rollback");
	}
	if (cg_store_commit(f->st) != 0)
		fail_msg("commit");
	size_t n = 0;
	struct cg_storm_info si = storm_info(f, &n);
	if (n != 1 || si.members != 2)
		fail_msg("after a rolled-back run and a committed one: %zu storms, %ld alerts; want 1, 2", n, si.members);
	free(si.source);
	free(si.key);
	cg_store_events_free(e, 5);
}

/* A sender's key cannot leave its code span in the storm's text (a longer fence than its backticks). */
static void t_key_stays_code(void **state)
{
	struct fx *f = *state;
	const char *evil = "q`<img src=x> [l](https://e.example)";
	struct cg_store_event *e = calloc(4, sizeof(*e));
	for (int i = 0; i < 3; i++) {
		char k[8];
		snprintf(k, sizeof(k), "g%d", i);
		e[i] = ev(k, CG_STATUS_FIRING, 3);
	}
	e[3] = ev(evil, CG_STATUS_FIRING, 3);
	fold(f, e, 4, T0);
	char *title = NULL, *desc = NULL;
	create_text(f, 3, &title, &desc);
	if (!strstr(desc, "(``q`<img src=x> [l](https://e.example)``)"))
		fail_msg("the key is not one code span with a double fence:\n%s", desc);
	free(title);
	free(desc);
}

/* A note about an alert folded by the notification that opens the storm comes after the create. */
static void t_note_after_create(void **state)
{
	struct fx *f = *state;
	struct cg_store_event *e = calloc(6, sizeof(*e));
	for (int i = 0; i < 5; i++) {
		char k[8];
		snprintf(k, sizeof(k), "n%d", i);
		e[i] = ev(k, CG_STATUS_FIRING, 4);
	}
	e[5] = ev("n4", CG_STATUS_COMMENT, 0);
	fold(f, e, 6, T0);
	const char *sk = storm_key(f);
	char *skey = strdup(sk);
	expect_out(f, 3, skey, CG_STATUS_FIRING, 4);
	expect_out(f, 4, skey, CG_STATUS_COMMENT, 0);
	free(skey);
}

/* A repeat more urgent than the storm, in the notification that opens it, raises it after its create. */
static void t_raise_in_opening_fold(void **state)
{
	struct fx *f = *state;
	struct cg_store_event *e = calloc(6, sizeof(*e));
	for (int i = 0; i < 5; i++) {
		char k[8];
		snprintf(k, sizeof(k), "r%d", i);
		e[i] = ev(k, CG_STATUS_FIRING, 4);
	}
	e[5] = ev("r4", CG_STATUS_FIRING, 1);
	fold(f, e, 6, T0);
	char *skey = strdup(storm_key(f));
	expect_out(f, 3, skey, CG_STATUS_FIRING, 4);
	expect_out(f, 4, skey, CG_STATUS_FIRING, 1);
	free(skey);
}

/* A storm whose case is gone (closed in Datadog) takes no more alerts: the next ones get a new storm. */
static void t_storm_case_gone(void **state)
{
	struct fx *f = *state;
	struct cg_store_event *e = calloc(5, sizeof(*e));
	for (int i = 0; i < 5; i++) {
		char k[8];
		snprintf(k, sizeof(k), "h%d", i);
		e[i] = ev(k, CG_STATUS_FIRING, 3);
	}
	fold(f, e, 5, T0);
	char *first = strdup(storm_key(f));
	/* Delivered, then closed by people: nothing queued, the case closed. */
	struct cg_store_event *v = NULL;
	size_t n = 0;
	if (cg_store_claim(f->st, T0 + 10, 100, &v, &n) != 0)
		fail_msg("claim");
	for (size_t i = 0; i < n; i++)
		cg_store_event_done(f->st, v[i].id);
	cg_store_events_free(v, n);
	struct cg_store_case c = {.dedup_key = first, .state = CG_CASE_CLOSED, .generation = 1};
	if (cg_store_case_put(f->st, &c) != 0)
		fail_msg("case put");
	fold1(f, "h5", CG_STATUS_FIRING, 3, T0 + 100);
	if (f->out.started != 1 || strcmp(storm_key(f), first) == 0)
		fail_msg("after the storm case closed: started %zu, key %s (the first was %s)", f->out.started,
			 storm_key(f), first);
	free(first);
}

/* A storm nothing is heard of for its stale time ends: resolved, its alerts their own again. */
static void t_stale_storm_ends(void **state)
{
	struct fx *f = *state;
	struct cg_store_event *e = calloc(5, sizeof(*e));
	for (int i = 0; i < 5; i++) {
		char k[8];
		snprintf(k, sizeof(k), "s%d", i);
		e[i] = ev(k, CG_STATUS_FIRING, 3);
	}
	fold(f, e, 5, T0);
	char *skey = strdup(storm_key(f));
	/* A repeat within the stale time keeps it going (absorbed). */
	fold1(f, "s4", CG_STATUS_FIRING, 3, T0 + 20LL * 3600 * 1000);
	if (f->out.n != 0 || f->out.absorbed != 1)
		fail_msg("a repeat 20 h in: got %zu events, %zu absorbed; want 0, 1", f->out.n, f->out.absorbed);
	/* 25 h after that: the storm is resolved by casegate, and s3 opens its own case. */
	fold1(f, "s3", CG_STATUS_FIRING, 3, T0 + 45LL * 3600 * 1000);
	size_t i_res = f->out.n, i_own = f->out.n;
	for (size_t i = 0; i < f->out.n; i++) {
		if (strcmp(f->out.evs[i].dedup_key, skey) == 0 && f->out.evs[i].status == CG_STATUS_RESOLVED)
			i_res = i;
		if (strcmp(f->out.evs[i].dedup_key, "am:s3") == 0)
			i_own = i;
	}
	if (i_res == f->out.n || i_own == f->out.n)
		fail_msg("stale storm: got %zu events, want its resolve and s3's own", f->out.n);
	char *sum = summary_of(f, i_res);
	if (!strstr(sum, "resolved by casegate"))
		fail_msg("stale resolve summary: %s", sum);
	free(sum);
	size_t n = 0;
	storm_info(f, &n);
	if (n != 0)
		fail_msg("a stale storm is still listed");
	free(skey);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(t_storm_opens_one_case, setup, teardown),
		cmocka_unit_test_setup_teardown(t_repeats_and_escalation, setup, teardown),
		cmocka_unit_test_setup_teardown(t_resolution_closes_storm, setup, teardown),
		cmocka_unit_test_setup_teardown(t_windows, setup, teardown),
		cmocka_unit_test_setup_teardown(t_rerun_after_rollback, setup, teardown),
		cmocka_unit_test_setup_teardown(t_key_stays_code, setup, teardown),
		cmocka_unit_test_setup_teardown(t_note_after_create, setup, teardown),
		cmocka_unit_test_setup_teardown(t_raise_in_opening_fold, setup, teardown),
		cmocka_unit_test_setup_teardown(t_storm_case_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(t_stale_storm_ends, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
