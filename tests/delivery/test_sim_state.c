/* test_sim_state.c: casegate-sim --state keeps the model across restarts, so casegate's remembered cases stay there. */
/* labels: integration */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "itest.h"
#include "json.h"

#define DEMO_PROJECT "d4bbe1af-f36e-42f1-87c1-493ca35c320e"
#define TYPE_ID "00000000-0000-0000-0000-000000000001"

static const char *const api_headers[] = {"Content-Type: application/vnd.api+json", NULL};

struct sim {
	struct cg_h_proc proc;
	char url[64];
};

static int sim_start(struct sim *s, const char *dir, const char *state)
{
	const char *extra[] = {"--no-auth", "--state", state, NULL};
	int port = 0;
	memset(s, 0, sizeof(*s));
	if (cg_h_start_sim(&s->proc, dir, extra, &port) != 0)
		return -1;
	snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%d", port);
	return 0;
}

/* SIGTERM, and the simulator must exit 0 (state saved, clean loop close). */
static void sim_stop(struct sim *s)
{
	int st = cg_h_stop(&s->proc, SIGTERM);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		cg_h_dump_log(&s->proc);
		fail_msg("casegate-sim on SIGTERM: got status 0x%x, want exit 0", st);
	}
}

/* POST/GET on the simulator's API; the answer document (NULL on a transport error), status in *st. */
static cJSON *api(struct sim *s, const char *method, const char *path, const char *body, long *st)
{
	char *url = cg_h_fmt("%s%s", s->url, path);
	struct cg_h_resp r;
	cJSON *doc = NULL;
	*st = 0;
	if (cg_h_http(method, url, body ? api_headers : NULL, body, body ? strlen(body) : 0, &r) == 0) {
		*st = r.status;
		doc = r.body ? cJSON_Parse(r.body) : NULL;
		cg_h_resp_free(&r);
	}
	free(url);
	return doc;
}

/* Creates a case titled title; its key in key, its id in id. */
static void create_case(struct sim *s, const char *title, char key[32], char id[40])
{
	char *body = cg_h_fmt("{\"data\":{\"type\":\"case\",\"attributes\":{\"title\":\"%s\",\"type_id\":\"" TYPE_ID
			      "\"},\"relationships\":{\"project\":{\"data\":{\"id\":\"" DEMO_PROJECT
			      "\",\"type\":\"project\"}}}}}",
			      title);
	long st = 0;
	cJSON *doc = api(s, "POST", "/api/v2/cases", body, &st);
	free(body);
	assert_int_equal(st, 201);
	snprintf(key, 32, "%s", cg_json_str(doc, "data.attributes.key"));
	snprintf(id, 40, "%s", cg_json_str(doc, "data.id"));
	cJSON_Delete(doc);
}

struct file_has {
	const char *path, *needle;
};

static int file_has(void *ud)
{
	struct file_has *f = ud;
	char *text = cg_h_read_file(f->path, NULL);
	int ok = text && strstr(text, f->needle);
	free(text);
	return ok;
}

/* A case, its comment, its next key and a case type made through the API are there after a
 * SIGTERM restart; after a SIGKILL too, once the change was saved (within the debounce). */
static void test_state_survives_restart(void **state)
{
	(void)state;
	char *dir = cg_h_tmpdir("cg-simstate");
	char *path = cg_h_fmt("%s/sim-state.json", dir);
	struct sim s;
	char key1[32], id1[40], key2[32], id2[40], key3[32], id3[40];
	long st = 0;

	assert_int_equal(sim_start(&s, dir, path), 0);
	create_case(&s, "disk full on db-1", key1, id1);
	assert_string_equal(key1, "DEMO-1");
	char *cpath = cg_h_fmt("/api/v2/cases/%s/comment", id1);
	cJSON *doc = api(&s, "POST", cpath,
			 "{\"data\":{\"type\":\"case\",\"attributes\":{\"comment\":\"still full\"}}}", &st);
	assert_int_equal(st, 200);
	cJSON_Delete(doc);
	doc = api(&s, "POST", "/api/v2/cases/types",
		  "{\"data\":{\"type\":\"case_type\",\"attributes\":{\"name\":\"Persisted type\"}}}", &st);
	assert_int_equal(st, 201);
	char type_id[40];
	snprintf(type_id, sizeof(type_id), "%s", cg_json_str(doc, "data.id"));
	cJSON_Delete(doc);
	sim_stop(&s);

	assert_int_equal(sim_start(&s, dir, path), 0);
	char *gpath = cg_h_fmt("/api/v2/cases/%s", id1);
	doc = api(&s, "GET", gpath, NULL, &st);
	if (st != 200)
		cg_h_dump_log(&s.proc);
	assert_int_equal(st, 200);
	assert_string_equal(cg_json_str(doc, "data.attributes.key"), "DEMO-1");
	assert_string_equal(cg_json_str(doc, "data.attributes.title"), "disk full on db-1");
	cJSON_Delete(doc);
	char *url = cg_h_fmt("%s/_sim/cases", s.url);
	cJSON *dump = cg_h_get_json(url);
	const cJSON *c = itest_find_case(dump, "disk full on db-1");
	assert_non_null(c);
	assert_true(itest_case_has_comment(c, "still full"));
	cJSON_Delete(dump);
	doc = api(&s, "GET", "/api/v2/cases/types", NULL, &st);
	assert_int_equal(st, 200);
	char *body = cJSON_PrintUnformatted(doc);
	assert_non_null(strstr(body, type_id));
	free(body);
	cJSON_Delete(doc);
	create_case(&s, "second", key2, id2);
	assert_string_equal(key2, "DEMO-2"); /* numbering goes on: not DEMO-1 again */
	assert_string_not_equal(id2, id1);

	/* Saved shortly after the change, not only at exit: a SIGKILL loses nothing once it is. */
	struct file_has fh = {path, id2};
	assert_true(cg_h_poll(file_has, &fh, 5000));
	cg_h_stop(&s.proc, SIGKILL);
	assert_int_equal(sim_start(&s, dir, path), 0);
	create_case(&s, "third", key3, id3);
	assert_string_equal(key3, "DEMO-3");
	free(url);
	url = cg_h_fmt("%s/_sim/cases", s.url); /* another port */
	dump = cg_h_get_json(url);
	assert_non_null(itest_find_case(dump, "second"));
	cJSON_Delete(dump);
	sim_stop(&s);

	free(url);
	free(gpath);
	free(cpath);
	cg_h_rmrf(dir);
	free(path);
	free(dir);
}

/* A damaged state file: a clear error naming the file and the problem, exit 1, the file untouched. */
static void check_refused(const char *dir, const char *contents, const char *want)
{
	char *path = cg_h_fmt("%s/bad-state.json", dir);
	char *log = cg_h_fmt("%s/bad-sim.log", dir);
	char *bin = cg_h_fmt("%s/casegate-sim", cg_h_binary_dir());
	assert_int_equal(cg_h_write_file(path, contents, strlen(contents)), 0);
	char *const argv[] = {bin, "--listen", "127.0.0.1:0", "--state", path, NULL};
	struct cg_h_proc p;
	assert_int_equal(cg_h_spawn(&p, argv, NULL, log), 0);
	int st = cg_h_stop(&p, 0); /* signal 0: only waits (10 s) for the exit */
	char *out = cg_h_read_file(log, NULL);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 1 || !out || !strstr(out, want) || !strstr(out, path))
		fail_msg("casegate-sim --state over %s: got status 0x%x and\n%s\nwant exit 1 and \"%s\"", contents, st,
			 out ? out : "(no output)", want);
	char *after = cg_h_read_file(path, NULL);
	assert_non_null(after);
	assert_string_equal(after, contents);
	free(after);
	free(out);
	free(bin);
	free(log);
	free(path);
}

static void test_corrupt_state_refused(void **state)
{
	(void)state;
	char *dir = cg_h_tmpdir("cg-simstate-bad");
	check_refused(dir, "{\"casegate_sim_state\":1,\"cases\":[", "is not JSON");
	check_refused(dir, "[1,2,3]", "not a casegate-sim state file");
	check_refused(dir,
		      "{\"casegate_sim_state\":1,\"next_seq\":1,\"id_rng\":\"ab\",\"projects\":[],\"cases\":[{\"data\":1}],"
		      "\"case_types\":[],\"custom_attributes\":[]}",
		      "cases[0]");
	check_refused(dir, "{\"casegate_sim_state\":7}", "casegate_sim_state 7");
	cg_h_rmrf(dir);
	free(dir);
}

static const char *source_yaml = "  - name: demo\n"
				  "    type: generic\n"
				  "    auth: none\n"
				  "    project: " DEMO_PROJECT "\n"
				  "    case_type: " TYPE_ID "\n"
				  "    on_repeat: comment\n";

struct case_wait {
	struct itest *t;
	const char *title;
	int comments; /* at least this many */
	int closed;
};

static int case_is(void *ud)
{
	struct case_wait *w = ud;
	cJSON *d = itest_cases(w->t);
	const cJSON *c = itest_find_case(d, w->title);
	int ok = c && itest_case_ncomments(c) >= w->comments && (!w->closed || itest_case_closed(c));
	cJSON_Delete(d);
	return ok;
}

/* deploy/dev.sh run, restarted: casegate and the simulator both come back with their state, so
 * the next firing of a remembered alert lands on the same case (no 404, no dead letter) and new
 * cases go on numbering. */
static void test_restart_keeps_delivering_to_same_case(void **state)
{
	(void)state;
	struct itest t;
	assert_int_equal(itest_setup(&t, "cg-simstate-gw"), 0);
	char *path = cg_h_fmt("%s/sim-state.json", t.dir);
	const char *sim_args[] = {"--state", path, NULL};
	assert_int_equal(itest_start_sim(&t, sim_args), 0);
	assert_int_equal(itest_write_config(&t, "", source_yaml), 0);
	assert_int_equal(itest_start_gw(&t), 0);
	const char *a = "{\"id\":\"disk-db1\",\"title\":\"Disk full on db-1\",\"status\":\"firing\"}";
	assert_int_equal(itest_post(&t, "demo", NULL, a, NULL), 202);
	struct case_wait w = {&t, "Disk full on db-1", 0, 0};
	assert_true(cg_h_poll(case_is, &w, 20000));

	assert_int_equal(itest_stop_gw(&t, SIGTERM), 0);
	cg_h_stop(&t.sim, SIGTERM);
	assert_true(WIFEXITED(t.sim.wstatus) && WEXITSTATUS(t.sim.wstatus) == 0);
	assert_int_equal(itest_start_sim(&t, sim_args), 0);
	assert_int_equal(itest_start_gw(&t), 0);

	/* Fires again: a comment on the remembered case; then resolves: that case closes. */
	assert_int_equal(itest_post(&t, "demo", NULL, a, NULL), 202);
	w.comments = 1;
	int ok = cg_h_poll(case_is, &w, 20000);
	const char *r = "{\"id\":\"disk-db1\",\"title\":\"Disk full on db-1\",\"status\":\"resolved\"}";
	if (ok) {
		assert_int_equal(itest_post(&t, "demo", NULL, r, NULL), 202);
		w.closed = 1;
		ok = cg_h_poll(case_is, &w, 20000);
	}
	if (!ok)
		cg_h_dump_log(&t.gw);
	assert_true(ok);
	assert_int_equal(itest_ncases(&t), 1);
	assert_true(itest_metric(&t, "casegate_dead_letters_total", NULL) == 0);
	assert_true(itest_metric(&t, "casegate_deliveries_total", "outcome=\"give_up\"") == 0);

	/* A new alert: the next number, not DEMO-1 again. */
	const char *b = "{\"id\":\"cpu-web1\",\"title\":\"CPU high on web-1\",\"status\":\"firing\"}";
	assert_int_equal(itest_post(&t, "demo", NULL, b, NULL), 202);
	struct case_wait wb = {&t, "CPU high on web-1", 0, 0};
	assert_true(cg_h_poll(case_is, &wb, 20000));
	cJSON *d = itest_cases(&t);
	assert_string_equal(itest_case_attr(itest_find_case(d, "CPU high on web-1"), "key"), "DEMO-2");
	assert_string_equal(itest_case_attr(itest_find_case(d, "Disk full on db-1"), "key"), "DEMO-1");
	cJSON_Delete(d);
	free(path);
	itest_teardown(&t, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_state_survives_restart),
		cmocka_unit_test(test_corrupt_state_refused),
		cmocka_unit_test(test_restart_keeps_delivering_to_same_case),
	};
	return cg_h_run_group(tests, NULL, NULL);
}
