/* harness.h: helpers for integration tests: temp dirs, child processes, HTTP calls, polling. */
#ifndef CG_HARNESS_H
#define CG_HARNESS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

/* Paths: CG_SOURCE_DIR / CG_BINARY_DIR (compile definitions, overridable by env). */
const char *cg_h_source_dir(void);
const char *cg_h_binary_dir(void);
/* ../shared next to the source tree, or NULL when absent (tests then skip). */
const char *cg_h_shared_dir(void);

/* Creates a fresh temporary directory (removed by cg_h_rmrf). Returns malloc'd path. */
char *cg_h_tmpdir(const char *prefix);
/* cmocka setup and teardown for a case that needs a scratch directory: *state is its path
 * (char *), made fresh before the case and removed after it. */
int cg_h_dir_setup(void **state);
int cg_h_dir_teardown(void **state);
void cg_h_rmrf(const char *path);
int cg_h_write_file(const char *path, const char *data, size_t len);
/* Reads a whole file, NUL-terminated; *len may be NULL. NULL on error. */
char *cg_h_read_file(const char *path, size_t *len);
/* Parses tests/fixtures/email/<name> with cg_mail_parse (no limits): the mail's JSON (caller
 * deletes). Fails the test, naming the file, when it cannot be read or parsed. */
cJSON *cg_h_mail_fixture(const char *name);

/* A child process with stdout+stderr captured to a log file. */
struct cg_h_proc {
	pid_t pid;          /* 0 once reaped */
	char log_path[512];
	int reaped;         /* 1 once waitpid collected it (cg_h_alive or cg_h_stop) */
	int wstatus;        /* waitpid status once reaped */
};
/* argv[0] is a path; env_extra is a NULL-terminated list of "K=V" (may be NULL). */
int cg_h_spawn(struct cg_h_proc *p, char *const argv[], char *const env_extra[], const char *log_path);
/* Sends sig and waits (up to 10 s, then SIGKILL). Returns the exit status as waitpid gives it. */
int cg_h_stop(struct cg_h_proc *p, int sig);
/* Non-blocking: 1 if still running. */
int cg_h_alive(struct cg_h_proc *p);
/* Prints the child's log to stderr (on failure, for diagnosis). */
void cg_h_dump_log(const struct cg_h_proc *p);

/* Polls fn(ud) every few ms until it returns nonzero or deadline_ms passes. Returns 1/0. */
int cg_h_poll(int (*fn)(void *ud), void *ud, unsigned deadline_ms);

/* Waits until the child's log contains needle (e.g. "listening on 127.0.0.1:"); returns 1/0. */
int cg_h_wait_log(const struct cg_h_proc *p, const char *needle, unsigned deadline_ms);
/* Extracts the port printed after needle in the child's log ("listening on 127.0.0.1:PORT"). */
int cg_h_log_port(const struct cg_h_proc *p, const char *needle, unsigned deadline_ms);

/* Blocking HTTP request (libcurl). headers: NULL-terminated "Name: value" list or NULL. */
struct cg_h_resp {
	long status;      /* 0 on transport error */
	char *body;       /* malloc'd, NUL-terminated */
	size_t body_len;
	char *headers;    /* raw response headers */
};
int cg_h_http(const char *method, const char *url, const char *const headers[], const char *body, size_t body_len,
	      struct cg_h_resp *out);
void cg_h_resp_free(struct cg_h_resp *r);
/* Header value from a response (case-insensitive), copied into buf; 0 or -1. */
int cg_h_resp_header(const struct cg_h_resp *r, const char *name, char *buf, size_t buflen);

/* Starts casegate-sim on a free port with extra args (NULL-terminated, may be NULL).
 * Writes the port. The sim logs every Datadog API request it receives to
 * <dir>/CG_H_SIM_REQUEST_LOG (JSON lines, see tests/sim) and its output to <dir>/sim.log;
 * an extra "--request-log FILE" overrides the first. Returns 0 or -1 (log dumped). */
#define CG_H_SIM_REQUEST_LOG "sim-requests.jsonl"
int cg_h_start_sim(struct cg_h_proc *p, const char *dir, const char *const extra_args[], int *port);

/* GET url and parse JSON; NULL on error. */
cJSON *cg_h_get_json(const char *url);

/* Runs the contract validator over a sim request log when ../shared is present.
 * Returns 0 valid, 1 invalid (prints why), 77 skipped. */
int cg_h_validate_contract(const char *req_log);
/* Same with extra validator flags (NULL-terminated), e.g. "--skip-4xx" to ignore requests
 * the sim rejected with a 4xx answer. */
int cg_h_validate_contract_args(const char *req_log, const char *const extra_args[]);

/* Skips that show. A test that cannot run because a tool (or ../shared) is missing calls
 * cg_h_skip(tool, fmt, ...) instead of cmocka's skip(): it prints one line
 *   CASEGATE-SKIP tool=<tool> test=<program>/<function>: <reason>
 * to stdout (deploy/dev.sh collects these from ctest's log, summarises them and, under CI=true,
 * fails when <tool> is one deploy/install-deps.sh installs) and then skips the cmocka test.
 * `tool` is a short name without spaces: nginx, postgresql, alertmanager, swaks, postfix, root,
 * shared, python3, ... ("none" when nothing is missing: the case does not apply).
 * cg_h_skip_note() prints the same line without skipping (a part of a test left out, e.g. a
 * contract check). A NULL tool skips without a line: a child process (check_deploy.py,
 * validate.py) printed it already. Programs end with cg_h_run_group(): when every case skipped, the program
 * exits 77, which CMake's SKIP_RETURN_CODE turns into ctest's "Not Run (Skipped)". */
#define cg_h_skip(tool, ...)                                                                                           \
	do {                                                                                                           \
		cg_h_skip_case((tool), __func__, __VA_ARGS__);                                                         \
		skip();                                                                                                \
	} while (0)
void cg_h_skip_case(const char *tool, const char *test, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void cg_h_skip_note(const char *tool, const char *test, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* main's exit status: cmocka's failure count when anything failed, 77 when all ncases skipped. */
int cg_h_tests_done(int failed, size_t ncases);
#define cg_h_run_group(group, setup, teardown)                                                                         \
	cg_h_tests_done(cmocka_run_group_tests(group, setup, teardown), sizeof(group) / sizeof((group)[0]))

/* Runs argv to completion (at most 30 s; then SIGKILL), stdout and stderr appended to log, stdin
 * from stdin_file (NULL: inherited). Returns its exit status, or -1 (killed, or not run). */
int cg_h_run_cmd(char *const argv[], const char *log, const char *stdin_file);
/* A loopback port nobody listens on (bound, read, released), or -1. */
int cg_h_free_port(void);

/* Formats into a malloc'd string. */
char *cg_h_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* What a run of the casegate binary gave: its exit code (-1 when a signal ended it), stdout and
 * stderr (malloc'd). */
struct cg_h_cli {
	int code;
	char *out, *err;
};
/* Runs the built casegate with args (NULL-terminated, after the program name; at most 14), stdin
 * from in_path (NULL: /dev/null), stdout and stderr apart in files under dir. Fails the test when
 * it cannot start or has not exited within 20 s. */
struct cg_h_cli cg_h_cli_run(const char *dir, const char *in_path, const char *const args[]);
void cg_h_cli_free(struct cg_h_cli *r);
/* Fails the test (naming what, with the run's stdout and stderr) unless r exited with want. */
void cg_h_cli_expect_code(const struct cg_h_cli *r, int want, const char *what);
/* Fails the test unless got holds want (cg_h_expect_has) / holds nothing like it (cg_h_expect_not). */
void cg_h_expect_has(const char *got, const char *want, const char *what);
void cg_h_expect_not(const char *got, const char *unwanted, const char *what);

/* The source tree's README.md, NUL-terminated (malloc'd); fails the test when unreadable. */
char *cg_h_readme(void);

/* Reads fd (a socket) until the peer closes it or ms passed; keeps what fits in buf (cap - 1
 * bytes, NUL-terminated) and drops the rest. Returns the bytes kept; *eof is 1 when it closed. */
size_t cg_h_read_for(int fd, char *buf, size_t cap, unsigned ms, int *eof);

/* Parses text as the configuration file "/cfgdir/t.yaml": the test fails unless it loads
 * (cg_h_config_ok; the caller frees it) / unless it is refused (CG_EINVAL) with an error line
 * starting with want (cg_h_config_error: "/cfgdir/t.yaml:LINE:COL: ..."). */
struct cg_config;
struct cg_config *cg_h_config_ok(const char *text);
/* A config with one source "am" of the type given, no auth, a project and a case type; a
 * mapping appended to it (e.g. "    heartbeat: ...") starts on line 7. */
#define CG_H_CONFIG_SOURCE(type)                                                                            \
	"sources:\n"                                                                                         \
	"  - name: am\n"                                                                                     \
	"    type: " type "\n"                                                                               \
	"    auth: none\n"                                                                                   \
	"    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"                                                \
	"    case_type: 00000000-0000-0000-0000-000000000001\n"
void cg_h_config_error(const char *text, const char *want);

#endif
