/* test_cli_env.c: the operator's commands where secrets live elsewhere: status, dlq, map and migrate run without the daemon's ${VAR}s, check-config asks for them, --env-file supplies them. */
/* labels: integration */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"

/* The config the tests share: the source's token and the Datadog keys come from the daemon's
 * environment (unset here); state_dir is ${CG_T_STATE:-...} so a test can take it away. */
static const char config_fmt[] = "listen: 127.0.0.1:0\n"
				 "state_dir: \"%s\"\n"
				 "datadog:\n"
				 "  api_key: ${CG_T_DD_API_KEY}\n"
				 "  app_key: ${CG_T_DD_APP_KEY}\n"
				 "sources:\n"
				 "  - name: am\n"
				 "    type: alertmanager\n"
				 "    auth: { bearer: \"${CG_T_AM_TOKEN}\" }\n"
				 "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
				 "    case_type: 00000000-0000-0000-0000-000000000001\n";

static const char payload[] = "{\"alerts\":[{\"status\":\"firing\",\"labels\":{\"alertname\":\"DiskFull\"}}]}";

struct env_t {
	char *dir, *cfg, *envfile;
};

static void unset_all(void)
{
	unsetenv("CG_T_DD_API_KEY");
	unsetenv("CG_T_DD_APP_KEY");
	unsetenv("CG_T_AM_TOKEN");
	unsetenv("CG_T_STATE");
}

static void write_config(struct env_t *t, const char *state_dir)
{
	char *text = cg_h_fmt(config_fmt, state_dir);
	assert_int_equal(cg_h_write_file(t->cfg, text, strlen(text)), 0);
	free(text);
}

static int setup(void **state)
{
	struct env_t *t = calloc(1, sizeof(*t));
	if (!t || !(t->dir = cg_h_tmpdir("cg-cli-env")))
		return -1;
	t->cfg = cg_h_fmt("%s/casegate.yaml", t->dir);
	t->envfile = cg_h_fmt("%s/casegate.env", t->dir);
	unset_all();
	char *sd = cg_h_fmt("%s/var", t->dir);
	write_config(t, sd);
	free(sd);
	/* The unit's EnvironmentFile, as deploy/casegate.env.example writes one. */
	static const char env[] = "# /etc/casegate/casegate.env\n"
				  "CG_T_DD_API_KEY=k1\n"
				  "CG_T_DD_APP_KEY='k2'\n"
				  "CG_T_AM_TOKEN=\"s3cret\"\n";
	if (cg_h_write_file(t->envfile, env, sizeof(env) - 1))
		return -1;
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct env_t *t = *state;
	unset_all();
	cg_h_rmrf(t->dir);
	free(t->dir);
	free(t->cfg);
	free(t->envfile);
	free(t);
	return 0;
}

/* No secret in the shell: migrate, status, dlq and map run; map says which references it left
 * as written (never a value); check-config refuses and points at --env-file. */
static void test_commands_without_secrets(void **state)
{
	struct env_t *t = *state;
	const char *migrate[] = {"migrate", "-c", t->cfg, NULL};
	struct cg_h_cli r = cg_h_cli_run(t->dir, NULL, migrate);
	cg_h_cli_expect_code(&r, 0, "migrate without the secrets");
	cg_h_cli_free(&r);

	const char *status[] = {"status", "-c", t->cfg, NULL};
	r = cg_h_cli_run(t->dir, NULL, status);
	cg_h_cli_expect_code(&r, 0, "status without the secrets");
	cg_h_expect_has(r.out, "am", "status without the secrets: the configured source");
	cg_h_expect_not(r.err, "is not set", "status without the secrets");
	cg_h_cli_free(&r);

	const char *dlq[] = {"dlq", "list", "-c", t->cfg, NULL};
	r = cg_h_cli_run(t->dir, NULL, dlq);
	cg_h_cli_expect_code(&r, 0, "dlq list without the secrets");
	cg_h_expect_has(r.out, "no dead letters", "dlq list without the secrets");
	cg_h_cli_free(&r);

	const char *map[] = {"map", "-c", t->cfg, "--source", "am", payload, NULL};
	r = cg_h_cli_run(t->dir, NULL, map);
	cg_h_cli_expect_code(&r, 0, "map without the secrets");
	cg_h_expect_has(r.out, "\"dedup_key\":\"am:", "map without the secrets");
	cg_h_expect_has(r.err, "casegate.yaml:9:", "map: where the unexpanded reference is");
	cg_h_expect_has(r.err, "note: ${CG_T_AM_TOKEN} is not set here: left as written", "map: which variable");
	cg_h_expect_has(r.err, "note: ${CG_T_DD_API_KEY} is not set here", "map: which variable");
	cg_h_expect_has(r.err, "--env-file FILE", "map: the way to give them");
	cg_h_cli_free(&r);

	const char *check[] = {"check-config", "-c", t->cfg, NULL};
	r = cg_h_cli_run(t->dir, NULL, check);
	cg_h_cli_expect_code(&r, 1, "check-config without the secrets");
	cg_h_expect_has(r.err, "casegate.yaml:9:", "check-config: the line");
	cg_h_expect_has(r.err, "environment variable CG_T_AM_TOKEN is not set", "check-config without the secrets");
	cg_h_expect_has(r.err, "the daemon's environment is the one that counts: --env-file FILE", "check-config: the hint");
	cg_h_cli_free(&r);
}

/* --env-file FILE: the unit's EnvironmentFile makes the commands that need secrets whole; its
 * values replace the shell's; a bad file stops the command before anything is done. */
static void test_env_file(void **state)
{
	struct env_t *t = *state;
	const char *check[] = {"check-config", "-c", t->cfg, "--env-file", t->envfile, NULL};
	struct cg_h_cli r = cg_h_cli_run(t->dir, NULL, check);
	cg_h_cli_expect_code(&r, 0, "check-config --env-file");
	cg_h_cli_free(&r);

	const char *map[] = {"map", "-c", t->cfg, "--source", "am", "--env-file", t->envfile, payload, NULL};
	r = cg_h_cli_run(t->dir, NULL, map);
	cg_h_cli_expect_code(&r, 0, "map --env-file");
	cg_h_expect_not(r.err, "note:", "map --env-file: every variable set");
	cg_h_cli_free(&r);

	/* The file wins over the shell (the daemon gets the file's value). */
	setenv("CG_T_AM_TOKEN", "has spaces so auth refuses it", 1);
	r = cg_h_cli_run(t->dir, NULL, check);
	cg_h_cli_expect_code(&r, 0, "check-config --env-file with a different value in the shell");
	cg_h_cli_free(&r);
	const char *check_shell[] = {"check-config", "-c", t->cfg, NULL};
	setenv("CG_T_DD_API_KEY", "k1", 1);
	setenv("CG_T_DD_APP_KEY", "k2", 1);
	r = cg_h_cli_run(t->dir, NULL, check_shell);
	cg_h_cli_expect_code(&r, 1, "check-config with the shell's token");
	cg_h_expect_has(r.err, "token contains whitespace", "check-config with the shell's token");
	cg_h_cli_free(&r);
	unset_all();

	static const char bad[] = "CG_T_DD_API_KEY=k1\nCG_T_AM_TOKEN=\"unclosed\n";
	assert_int_equal(cg_h_write_file(t->envfile, bad, sizeof(bad) - 1), 0);
	r = cg_h_cli_run(t->dir, NULL, check);
	cg_h_cli_expect_code(&r, 1, "check-config with a bad --env-file");
	cg_h_expect_has(r.err, "casegate.env:2: the double quote opened here is never closed", "a bad --env-file");
	cg_h_expect_has(r.err, "was not used: nothing was done", "a bad --env-file");
	cg_h_cli_free(&r);

	/* provision and maintenance read their own options: --env-file too. */
	const char *prov[] = {"provision", "-c", t->cfg, "--plan", "--env-file", "/nonexistent/casegate.env", NULL};
	r = cg_h_cli_run(t->dir, NULL, prov);
	cg_h_cli_expect_code(&r, 1, "provision with a missing --env-file");
	cg_h_expect_has(r.err, "/nonexistent/casegate.env: cannot read", "provision --env-file");
	cg_h_cli_free(&r);
}

/* state_dir from an unset variable: status and dlq refuse (they would look in a directory
 * literally named ${...}) and create nothing; dlq on a state_dir without a store says so. */
static void test_store_needs_its_variables(void **state)
{
	struct env_t *t = *state;
	write_config(t, "${CG_T_STATE}");
	const char *status[] = {"status", "-c", t->cfg, NULL};
	struct cg_h_cli r = cg_h_cli_run(t->dir, NULL, status);
	cg_h_cli_expect_code(&r, 1, "status with state_dir unset");
	cg_h_expect_has(r.err, "casegate.yaml:2:", "status with state_dir unset: the line");
	cg_h_expect_has(r.err, "environment variable CG_T_STATE is not set: casegate status needs it to find the store",
		   "status with state_dir unset");
	cg_h_cli_free(&r);
	const char *dlq[] = {"dlq", "list", "-c", t->cfg, NULL};
	r = cg_h_cli_run(t->dir, NULL, dlq);
	cg_h_cli_expect_code(&r, 1, "dlq with state_dir unset");
	cg_h_expect_has(r.err, "casegate dlq needs it to find the store", "dlq with state_dir unset");
	cg_h_cli_free(&r);
	char *lit = cg_h_fmt("%s/${CG_T_STATE}", t->dir);
	struct stat st;
	if (stat(lit, &st) == 0)
		fail_msg("a directory %s was created; want none", lit);
	free(lit);

	/* Set, but no daemon ever ran there: dlq says so instead of creating an empty store. */
	char *fresh = cg_h_fmt("%s/fresh", t->dir);
	setenv("CG_T_STATE", fresh, 1);
	r = cg_h_cli_run(t->dir, NULL, dlq);
	cg_h_cli_expect_code(&r, 1, "dlq on a state_dir without a store");
	cg_h_expect_has(r.err, "no store (has casegate run with this state_dir?)", "dlq on a state_dir without a store");
	cg_h_cli_free(&r);
	char *db = cg_h_fmt("%s/casegate.db", fresh);
	if (stat(db, &st) == 0)
		fail_msg("dlq created %s; want no store created by a tool", db);
	free(db);
	free(fresh);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_commands_without_secrets, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_env_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_store_needs_its_variables, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
