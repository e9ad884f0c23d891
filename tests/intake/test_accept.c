/* test_accept.c: a drafted alert becomes the stored event the engine delivers: fields moved from the draft, the payload it carries, and a mail note as a comment-only payload. */
/* labels: unit */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "accept.h"
#include "builder.h"
#include "builders.h"
#include "config.h"
#include "event.h"
#include "payload.h"
#include "registry.h"
#include "store.h"

static const char yaml[] = "listen: 127.0.0.1:0\n"
			   "sources:\n"
			   "  - name: backups\n"
			   "    type: generic\n"
			   "    auth: none\n"
			   "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
			   "    case_type: 00000000-0000-0000-0000-000000000001\n";

struct fx {
	struct cg_config *cfg;
	struct cg_builder **b;
	cJSON *payload;
	struct cg_event_list evs;
	struct cg_case_draft d;
};

static void fx_init(struct fx *f)
{
	memset(f, 0, sizeof(*f));
	char *errs = NULL;
	if (cg_config_parse("t.yaml", yaml, strlen(yaml), &f->cfg, &errs) != 0)
		fail_msg("config: %s", errs ? errs : "?");
	free(errs);
	char err[256] = "";
	assert_int_equal(cg_builders_create(f->cfg, &f->b, err, sizeof(err)), 0);
	f->payload = cJSON_Parse("{\"title\":\"Backup failed\",\"status\":\"open\",\"severity\":\"error\","
				 "\"dedup_key\":\"backup-nightly\",\"description\":\"exit code 3\"}");
	cg_event_list_init(&f->evs);
	struct cg_map_opts opts = {.group_by = CG_GROUP_ALERT};
	assert_int_equal(cg_mapper_find("generic")->map(f->payload, &opts, &f->evs, err, sizeof(err)), 0);
	if (cg_builder_build(f->b[0], &f->evs.v[0], &f->d, err, sizeof(err)) != 0)
		fail_msg("build: %s", err);
}

static void fx_cleanup(struct fx *f)
{
	cg_case_draft_cleanup(&f->d);
	cg_event_list_cleanup(&f->evs);
	cJSON_Delete(f->payload);
	cg_builders_free(f->b, f->cfg->nsources);
	cg_config_free(f->cfg);
}

static void test_alert(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f);
	char *want_title = strdup(f.d.title), *want_summary = strdup(f.d.summary ? f.d.summary : "");
	int want_prio = f.d.priority;
	struct cg_store_event ev;
	memset(&ev, 0, sizeof(ev));
	assert_int_equal(cg_accept_event(&f.cfg->sources[0], &f.d, &f.evs.v[0], NULL, 1700000000123LL, &ev), 0);
	assert_string_equal(ev.source, "backups");
	assert_string_equal(ev.dedup_key, "backups:backup-nightly");
	assert_null(f.d.dedup_key); /* moved, not copied: the draft no longer owns it */
	assert_string_equal(ev.severity, "error");
	assert_null(f.d.severity);
	assert_int_equal(ev.status, CG_STATUS_FIRING);
	assert_int_equal(ev.priority, want_prio);
	assert_int_equal(ev.received_ms, 1700000000123LL);
	assert_int_equal(ev.next_ms, 1700000000123LL); /* due at once */
	struct cg_payload p;
	assert_int_equal(cg_payload_decode(ev.payload, &p), 0);
	assert_string_equal(p.title, want_title);
	assert_false(p.comment_only);
	assert_non_null(p.create);
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(p.create, "data"), "attributes"), "title");
	assert_true(cJSON_IsString(t));
	assert_string_equal(t->valuestring, want_title);
	assert_string_equal(p.summary, want_summary);
	cg_payload_cleanup(&p);
	cg_store_event_cleanup(&ev);
	free(want_title);
	free(want_summary);
	fx_cleanup(&f);
}

/* A mail reply or acknowledgement: the note is the whole comment, nothing to create. */
static void test_note(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f);
	struct cg_store_event ev;
	memset(&ev, 0, sizeof(ev));
	assert_int_equal(cg_accept_event(&f.cfg->sources[0], &f.d, NULL, "Looking into it. -- alice", 5, &ev), 0);
	assert_string_equal(ev.dedup_key, "backups:backup-nightly");
	struct cg_payload p;
	assert_int_equal(cg_payload_decode(ev.payload, &p), 0);
	assert_true(p.comment_only);
	assert_string_equal(p.summary, "Looking into it. -- alice");
	assert_null(p.create);
	assert_string_equal(p.title, "");
	cg_payload_cleanup(&p);
	cg_store_event_cleanup(&ev);
	fx_cleanup(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alert),
		cmocka_unit_test(test_note),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
