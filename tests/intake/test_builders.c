/* test_builders.c: one case builder per configured source, in the sources' order, none for a source that drafts no case. */
/* labels: unit */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "builder.h"
#include "builders.h"
#include "config.h"
#include "err.h"
#include "event.h"
#include "registry.h"

static const char yaml[] = "listen: 127.0.0.1:0\n"
			   "sources:\n"
			   "  - name: backups\n"
			   "    type: generic\n"
			   "    auth: none\n"
			   "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
			   "    case_type: 00000000-0000-0000-0000-000000000001\n"
			   "    title: \"[backups] {{title}}\"\n"
			   "  - name: dd-cases\n"
			   "    type: datadog_case_events\n"
			   "    auth: none\n"
			   "  - name: nightly\n"
			   "    type: generic\n"
			   "    auth: none\n"
			   "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
			   "    case_type: 00000000-0000-0000-0000-000000000001\n"
			   "    title: \"nightly: {{title}}\"\n";

static void draft(const struct cg_builder *b, struct cg_case_draft *d)
{
	cJSON *payload = cJSON_Parse("{\"title\":\"Backup failed\",\"status\":\"open\",\"dedup_key\":\"backup-nightly\"}");
	struct cg_event_list evs;
	cg_event_list_init(&evs);
	char err[256] = "";
	struct cg_map_opts opts = {.group_by = CG_GROUP_ALERT};
	assert_int_equal(cg_mapper_find("generic")->map(payload, &opts, &evs, err, sizeof(err)), 0);
	assert_int_equal(evs.n, 1);
	memset(d, 0, sizeof(*d));
	if (cg_builder_build(b, &evs.v[0], d, err, sizeof(err)) != 0)
		fail_msg("build: %s", err);
	cg_event_list_cleanup(&evs);
	cJSON_Delete(payload);
}

static void test_one_per_source(void **state)
{
	(void)state;
	struct cg_config *cfg = NULL;
	char *errs = NULL;
	if (cg_config_parse("t.yaml", yaml, strlen(yaml), &cfg, &errs) != 0)
		fail_msg("config: %s", errs ? errs : "?");
	free(errs);
	assert_int_equal(cfg->nsources, 3);
	struct cg_builder **b = NULL;
	char err[256] = "";
	assert_int_equal(cg_builders_create(cfg, &b, err, sizeof(err)), 0);
	assert_non_null(b);
	assert_non_null(b[0]);
	assert_null(b[1]); /* datadog_case_events maps no alerts */
	assert_non_null(b[2]);
	/* Each builder is its own source's: its title template and its dedup namespace. */
	struct cg_case_draft d0, d2;
	draft(b[0], &d0);
	draft(b[2], &d2);
	assert_string_equal(d0.title, "[backups] Backup failed");
	assert_string_equal(d2.title, "nightly: Backup failed");
	assert_string_equal(d0.dedup_key, "backups:backup-nightly");
	assert_string_equal(d2.dedup_key, "nightly:backup-nightly");
	cg_case_draft_cleanup(&d0);
	cg_case_draft_cleanup(&d2);
	cg_builders_free(b, cfg->nsources);
	cg_builders_free(NULL, 0);
	cg_config_free(cfg);
}

/* No sources: an empty (but valid) array. */
static void test_no_sources(void **state)
{
	(void)state;
	struct cg_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	struct cg_builder **b = NULL;
	char err[64] = "";
	assert_int_equal(cg_builders_create(&cfg, &b, err, sizeof(err)), 0);
	assert_non_null(b);
	cg_builders_free(b, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_per_source),
		cmocka_unit_test(test_no_sources),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
