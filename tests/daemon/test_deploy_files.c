/* test_deploy_files.c: runs tests/deploy/check_deploy.py over each deploy/ file (real nginx, systemd-analyze, postmap, ...). */
/* labels: integration */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* Exit status of the checker for one part: 0 pass, 77 skip, else fail (its stderr says why). */
static int run_check(const char *what)
{
	if (access("/usr/bin/python3", X_OK) != 0) {
		cg_h_skip_note("python3", what, "/usr/bin/python3 missing: check_deploy.py not run");
		return 77;
	}
	char script[1024];
	snprintf(script, sizeof(script), "%s/tests/deploy/check_deploy.py", cg_h_source_dir());
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		setenv("CG_SOURCE_DIR", cg_h_source_dir(), 1);
		setenv("CG_BINARY_DIR", cg_h_binary_dir(), 1);
		execl("/usr/bin/python3", "python3", script, what, (char *)NULL);
		_exit(127);
	}
	int ws = 0;
	while (waitpid(pid, &ws, 0) < 0)
		;
	return WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
}

static void check(const char *what)
{
	int rc = run_check(what);
	if (rc == 77) /* check_deploy.py printed the CASEGATE-SKIP line: which tool, why */
		cg_h_skip(NULL, "check_deploy.py %s", what);
	if (rc != 0)
		fail_msg("check_deploy.py %s: got exit %d, want 0 (problems above)", what, rc);
}

static void test_systemd_unit(void **state)
{
	(void)state;
	check("systemd");
}

static void test_nginx_in_front(void **state)
{
	(void)state;
	check("nginx");
}

static void test_dockerfile(void **state)
{
	(void)state;
	check("docker");
}

static void test_k8s_manifests(void **state)
{
	(void)state;
	check("k8s");
}

static void test_postfix_transport(void **state)
{
	(void)state;
	check("postfix");
}

static void test_prometheus_rules(void **state)
{
	(void)state;
	check("rules");
}

/* Valid JSON for Grafana 9/10, every panel queries ${datasource}, every metric it names is on a
 * running casegate's /metrics. */
static void test_grafana_dashboard(void **state)
{
	(void)state;
	check("dashboard");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_systemd_unit),	   cmocka_unit_test(test_nginx_in_front),
		cmocka_unit_test(test_dockerfile),	   cmocka_unit_test(test_k8s_manifests),
		cmocka_unit_test(test_postfix_transport), cmocka_unit_test(test_prometheus_rules),
		cmocka_unit_test(test_grafana_dashboard),
	};
	return cg_h_run_group(tests, NULL, NULL);
}
