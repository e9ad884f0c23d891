/* harness.c: integration-test helpers: temp dirs, child processes, blocking HTTP via libcurl, polling. */
#define _GNU_SOURCE /* program_invocation_short_name */
#define _XOPEN_SOURCE 700
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "config.h"
#include "err.h"
#include "mail.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

extern char **environ;

/* CG_TEST_FILTER=pattern runs only the matching cases of a test program (cmocka's filter):
 * `CG_TEST_FILTER=test_rate_limit_buckets ./test_engine_datadog_truth` to chase one case. */
__attribute__((constructor)) static void test_filter_from_env(void)
{
	const char *f = getenv("CG_TEST_FILTER");
	if (f && *f)
		cmocka_set_test_filter(f);
}

#ifndef CG_SOURCE_DIR
#define CG_SOURCE_DIR "."
#endif
#ifndef CG_BINARY_DIR
#define CG_BINARY_DIR "."
#endif

/* ---- paths and files ---- */

static int is_dir(const char *p)
{
	struct stat st;
	return p && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *cg_h_source_dir(void)
{
	const char *e = getenv("CG_SOURCE_DIR");
	return e && *e ? e : CG_SOURCE_DIR;
}

const char *cg_h_binary_dir(void)
{
	const char *e = getenv("CG_BINARY_DIR");
	return e && *e ? e : CG_BINARY_DIR;
}

const char *cg_h_shared_dir(void)
{
	static char buf[1024];
	const char *e = getenv("CG_SHARED_DIR");
	if (e && *e)
		return is_dir(e) ? e : NULL;
	snprintf(buf, sizeof(buf), "%s/../shared", cg_h_source_dir());
	return is_dir(buf) ? buf : NULL;
}

/* ---- skips ---- */

static size_t skipped_cases;

static void skip_line(const char *tool, const char *test, const char *fmt, va_list ap)
{
	/* One line, flushed at once: ctest's log keeps stdout and stderr interleaved. */
	char reason[512];
	vsnprintf(reason, sizeof(reason), fmt, ap);
	for (char *c = reason; *c; c++)
		if (*c == '\n')
			*c = ' ';
	fflush(stderr);
	printf("CASEGATE-SKIP tool=%s test=%s/%s: %s\n", tool, program_invocation_short_name, test, reason);
	fflush(stdout);
}

void cg_h_skip_case(const char *tool, const char *test, const char *fmt, ...)
{
	if (tool) {
		va_list ap;
		va_start(ap, fmt);
		skip_line(tool, test, fmt, ap);
		va_end(ap);
	}
	skipped_cases++;
}

void cg_h_skip_note(const char *tool, const char *test, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	skip_line(tool, test, fmt, ap);
	va_end(ap);
}

int cg_h_tests_done(int failed, size_t ncases)
{
	if (failed)
		return failed;
	if (ncases > 0 && skipped_cases >= ncases)
		return 77;
	return 0;
}

int cg_h_run_cmd(char *const argv[], const char *log, const char *stdin_file)
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		FILE *o = freopen(log, "a", stdout);
		(void)o;
		dup2(1, 2);
		if (stdin_file && !freopen(stdin_file, "r", stdin))
			_exit(126);
		execv(argv[0], argv);
		_exit(127);
	}
	for (int i = 0; i < 3000; i++) {
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL); /* polling a child's exit, not waiting for an effect */
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

int cg_h_free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	socklen_t len = sizeof(a);
	int port = -1;
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

char *cg_h_fmt(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	char *s = malloc((size_t)n + 1);
	if (!s)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

char *cg_h_tmpdir(const char *prefix)
{
	const char *base = getenv("TMPDIR");
	char *t = cg_h_fmt("%s/%s-XXXXXX", base && *base ? base : "/tmp", prefix ? prefix : "cg");
	if (t && !mkdtemp(t)) {
		free(t);
		return NULL;
	}
	return t;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void cg_h_rmrf(const char *path)
{
	if (path && *path && strcmp(path, "/") != 0)
		nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int cg_h_write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	size_t w = fwrite(data, 1, len, f);
	int rc = fclose(f);
	return w == len && rc == 0 ? 0 : -1;
}

char *cg_h_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	while (buf) {
		if (n + 1 >= cap) {
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		size_t r = fread(buf + n, 1, cap - n - 1, f);
		n += r;
		if (r == 0)
			break;
	}
	fclose(f);
	if (!buf)
		return NULL;
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

/* ---- processes ---- */

int cg_h_spawn(struct cg_h_proc *p, char *const argv[], char *const env_extra[], const char *log_path)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->log_path, sizeof(p->log_path), "%s", log_path);
	fflush(stdout);
	fflush(stderr);
	/* Empty the log before the child exists: a poller must never read a previous run's lines. */
	int tfd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (tfd >= 0)
		close(tfd);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		/* A crashed test must not leave its servers running. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
		int nul = open("/dev/null", O_RDONLY);
		if (fd < 0 || nul < 0)
			_exit(126);
		dup2(nul, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		for (size_t i = 0; env_extra && env_extra[i]; i++)
			putenv(env_extra[i]);
		execv(argv[0], argv);
		dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	p->pid = pid;
	return 0;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int cg_h_alive(struct cg_h_proc *p)
{
	if (p->reaped || p->pid <= 0)
		return 0;
	int st;
	pid_t r = waitpid(p->pid, &st, WNOHANG);
	if (r == 0)
		return 1;
	if (r == p->pid) {
		p->reaped = 1;
		p->wstatus = st;
	}
	return 0;
}

int cg_h_stop(struct cg_h_proc *p, int sig)
{
	if (p->reaped || p->pid <= 0)
		return p->wstatus;
	kill(p->pid, sig);
	uint64_t end = mono_ms() + 10000;
	while (cg_h_alive(p)) {
		if (mono_ms() > end) {
			fprintf(stderr, "harness: pid %d ignored signal %d, killing\n", (int)p->pid, sig);
			kill(p->pid, SIGKILL);
			int st;
			if (waitpid(p->pid, &st, 0) == p->pid) {
				p->reaped = 1;
				p->wstatus = st;
			}
			break;
		}
		sleep_ms(5);
	}
	return p->wstatus;
}

void cg_h_dump_log(const struct cg_h_proc *p)
{
	char *s = cg_h_read_file(p->log_path, NULL);
	fprintf(stderr, "---- %s ----\n%s\n---- end ----\n", p->log_path, s ? s : "(unreadable)");
	free(s);
}

int cg_h_poll(int (*fn)(void *ud), void *ud, unsigned deadline_ms)
{
	uint64_t end = mono_ms() + deadline_ms;
	for (;;) {
		if (fn(ud))
			return 1;
		if (mono_ms() >= end)
			return 0;
		sleep_ms(5);
	}
}

struct log_wait {
	const struct cg_h_proc *p;
	const char *needle;
	int dead;
};

static int log_has(void *ud)
{
	struct log_wait *w = ud;
	char *s = cg_h_read_file(w->p->log_path, NULL);
	int found = s && strstr(s, w->needle) != NULL;
	free(s);
	if (!found && !cg_h_alive((struct cg_h_proc *)w->p)) {
		w->dead = 1;
		return 1; /* stop waiting: it will never print it */
	}
	return found;
}

int cg_h_wait_log(const struct cg_h_proc *p, const char *needle, unsigned deadline_ms)
{
	struct log_wait w = {p, needle, 0};
	if (!cg_h_poll(log_has, &w, deadline_ms))
		return 0;
	if (!w.dead)
		return 1;
	/* It may have printed the needle just before exiting. */
	char *s = cg_h_read_file(p->log_path, NULL);
	int found = s && strstr(s, needle) != NULL;
	free(s);
	return found;
}

int cg_h_log_port(const struct cg_h_proc *p, const char *needle, unsigned deadline_ms)
{
	if (!cg_h_wait_log(p, needle, deadline_ms))
		return -1;
	char *s = cg_h_read_file(p->log_path, NULL);
	const char *at = s ? strstr(s, needle) : NULL;
	long port = -1;
	if (at) {
		char *end;
		port = strtol(at + strlen(needle), &end, 10);
		if (end == at + strlen(needle) || port <= 0 || port > 65535)
			port = -1;
	}
	free(s);
	return (int)port;
}

/* ---- HTTP ---- */

struct buf {
	char *p;
	size_t n;
	int oom;
};

static size_t buf_write(char *data, size_t size, size_t nmemb, void *ud)
{
	struct buf *b = ud;
	size_t len = size * nmemb;
	char *np = realloc(b->p, b->n + len + 1);
	if (!np) {
		b->oom = 1;
		return 0;
	}
	memcpy(np + b->n, data, len);
	b->n += len;
	np[b->n] = '\0';
	b->p = np;
	return len;
}

static void curl_init_once(void)
{
	static int done;
	if (!done) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		done = 1;
	}
}

int cg_h_http(const char *method, const char *url, const char *const headers[], const char *body, size_t body_len,
	      struct cg_h_resp *out)
{
	memset(out, 0, sizeof(*out));
	curl_init_once();
	CURL *c = curl_easy_init();
	struct curl_slist *hl = NULL;
	struct buf b = {0}, h = {0};
	int rc = -1, have_ct = 0;
	if (!c)
		return -1;
	for (size_t i = 0; headers && headers[i]; i++) {
		if (strncasecmp(headers[i], "Content-Type:", 13) == 0)
			have_ct = 1;
		hl = curl_slist_append(hl, headers[i]);
	}
	if (body && !have_ct)
		hl = curl_slist_append(hl, "Content-Type: application/json");
	hl = curl_slist_append(hl, "Expect:"); /* no 100-continue round trip */
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, buf_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, buf_write);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
	} else if (strcmp(method, "GET") == 0) {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	}
	CURLcode cc = curl_easy_perform(c);
	if (cc == CURLE_OK && !b.oom && !h.oom) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
		rc = 0;
	}
	if (!b.p)
		b.p = calloc(1, 1);
	if (!h.p)
		h.p = calloc(1, 1);
	out->body = b.p;
	out->body_len = b.n;
	out->headers = h.p;
	if (rc != 0)
		out->status = 0;
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	return rc;
}

void cg_h_resp_free(struct cg_h_resp *r)
{
	if (!r)
		return;
	free(r->body);
	free(r->headers);
	memset(r, 0, sizeof(*r));
}

int cg_h_resp_header(const struct cg_h_resp *r, const char *name, char *buf, size_t buflen)
{
	size_t nlen = strlen(name);
	const char *line = r->headers;
	int found = -1;
	while (line && *line) {
		const char *eol = strchr(line, '\n');
		size_t len = eol ? (size_t)(eol - line) : strlen(line);
		/* The last match wins: a 100-continue block may precede the real one. */
		if (len > nlen && strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
			const char *v = line + nlen + 1;
			const char *e = line + len;
			while (v < e && (*v == ' ' || *v == '\t'))
				v++;
			while (e > v && (e[-1] == '\r' || e[-1] == ' '))
				e--;
			snprintf(buf, buflen, "%.*s", (int)(e - v), v);
			found = 0;
		}
		line = eol ? eol + 1 : NULL;
	}
	return found;
}

cJSON *cg_h_get_json(const char *url)
{
	struct cg_h_resp r;
	cJSON *j = NULL;
	if (cg_h_http("GET", url, NULL, NULL, 0, &r) == 0)
		j = cJSON_ParseWithLength(r.body, r.body_len);
	cg_h_resp_free(&r);
	return j;
}

/* ---- casegate-sim and the contract validator ---- */

int cg_h_start_sim(struct cg_h_proc *p, const char *dir, const char *const extra_args[], int *port)
{
	char *bin = cg_h_fmt("%s/casegate-sim", cg_h_binary_dir());
	char *req_log = cg_h_fmt("%s/%s", dir, CG_H_SIM_REQUEST_LOG);
	char *log = cg_h_fmt("%s/sim.log", dir);
	char *argv[64];
	size_t n = 0;
	int rc = -1;
	if (!bin || !req_log || !log)
		goto out;
	argv[n++] = bin;
	argv[n++] = (char *)"--listen";
	argv[n++] = (char *)"127.0.0.1:0";
	argv[n++] = (char *)"--request-log";
	argv[n++] = req_log;
	for (size_t i = 0; extra_args && extra_args[i] && n < 63; i++)
		argv[n++] = (char *)extra_args[i];
	argv[n] = NULL;
	if (cg_h_spawn(p, argv, NULL, log) != 0)
		goto out;
	int got = cg_h_log_port(p, "casegate-sim listening on 127.0.0.1:", 10000);
	if (got <= 0) {
		fprintf(stderr, "harness: casegate-sim did not start\n");
		cg_h_stop(p, SIGKILL);
		cg_h_dump_log(p);
		goto out;
	}
	*port = got;
	rc = 0;
out:
	free(bin);
	free(req_log);
	free(log);
	return rc;
}

int cg_h_validate_contract_args(const char *req_log, const char *const extra_args[])
{
	/* A contract check left out shows as a skip wherever the caller treats 77 as a pass. */
	const char *shared = cg_h_shared_dir();
	if (!shared) {
		cg_h_skip_note("shared", "contract", "../shared (CG_SHARED_DIR) not found: %s not validated", req_log);
		return 77;
	}
	if (access("/usr/bin/python3", X_OK) != 0) {
		cg_h_skip_note("python3", "contract", "/usr/bin/python3 missing: %s not validated", req_log);
		return 77;
	}
	char *script = cg_h_fmt("%s/tests/contract/validate.py", cg_h_source_dir());
	char *env = cg_h_fmt("CG_SHARED_DIR=%s", shared);
	char *argv[32];
	size_t n = 0;
	int rc = 1;
	if (!script || !env)
		goto out;
	argv[n++] = (char *)"/usr/bin/python3";
	argv[n++] = script;
	for (size_t i = 0; extra_args && extra_args[i] && n < 30; i++)
		argv[n++] = (char *)extra_args[i];
	argv[n++] = (char *)req_log;
	argv[n] = NULL;
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0)
		goto out;
	if (pid == 0) {
		putenv(env);
		execv(argv[0], argv);
		dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	int st;
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		goto out;
	rc = WEXITSTATUS(st);
	if (rc != 0 && rc != 77)
		rc = 1;
out:
	free(script);
	free(env);
	return rc;
}

int cg_h_validate_contract(const char *req_log)
{
	return cg_h_validate_contract_args(req_log, NULL);
}

struct cg_h_child {
	pid_t pid;
	int status;
};

static int child_exited(void *ud)
{
	struct cg_h_child *c = ud;
	return waitpid(c->pid, &c->status, WNOHANG) == c->pid;
}

struct cg_h_cli cg_h_cli_run(const char *dir, const char *in_path, const char *const args[])
{
	static int n;
	struct cg_h_cli r = {-1, NULL, NULL};
	char bin[600], out[600], err[600];
	snprintf(bin, sizeof(bin), "%s/casegate", cg_h_binary_dir());
	snprintf(out, sizeof(out), "%s/out.%d", dir, n);
	snprintf(err, sizeof(err), "%s/err.%d", dir, n++);
	char *argv[16];
	size_t k = 0;
	argv[k++] = bin;
	for (size_t i = 0; args[i] && k < 15; i++)
		argv[k++] = (char *)args[i];
	argv[k] = NULL;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, in_path ? in_path : "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	struct cg_h_child c = {0};
	int rc = posix_spawn(&c.pid, bin, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	assert_int_equal(rc, 0);
	if (!cg_h_poll(child_exited, &c, 20000)) {
		kill(c.pid, SIGKILL);
		waitpid(c.pid, &c.status, 0);
		fail_msg("casegate %s did not exit", args[0] ? args[0] : "");
	}
	r.code = WIFEXITED(c.status) ? WEXITSTATUS(c.status) : -1;
	r.out = cg_h_read_file(out, NULL);
	r.err = cg_h_read_file(err, NULL);
	assert_non_null(r.out);
	assert_non_null(r.err);
	return r;
}

void cg_h_cli_free(struct cg_h_cli *r)
{
	free(r->out);
	free(r->err);
}

void cg_h_cli_expect_code(const struct cg_h_cli *r, int want, const char *what)
{
	if (r->code != want)
		fail_msg("%s: got exit %d, want %d\nstdout:\n%s\nstderr:\n%s", what, r->code, want, r->out, r->err);
}

void cg_h_expect_has(const char *got, const char *want, const char *what)
{
	if (!got || !strstr(got, want))
		fail_msg("%s: got:\n%s\nwant it to hold:\n%s", what, got ? got : "(nothing)", want);
}

void cg_h_expect_not(const char *got, const char *unwanted, const char *what)
{
	if (got && strstr(got, unwanted))
		fail_msg("%s: got:\n%s\nwant nothing like:\n%s", what, got, unwanted);
}

int cg_h_dir_setup(void **state)
{
	char *dir = cg_h_tmpdir("cg-case");
	if (!dir)
		return -1;
	*state = dir;
	return 0;
}

int cg_h_dir_teardown(void **state)
{
	cg_h_rmrf(*state);
	free(*state);
	return 0;
}

char *cg_h_readme(void)
{
	char *path = cg_h_fmt("%s/README.md", cg_h_source_dir());
	char *text = cg_h_read_file(path, NULL);
	if (!text)
		fail_msg("cannot read %s", path);
	free(path);
	return text;
}

size_t cg_h_read_for(int fd, char *buf, size_t cap, unsigned ms, int *eof)
{
	size_t n = 0;
	uint64_t end = mono_ms() + ms;
	*eof = 0;
	while (mono_ms() < end) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, (int)(end - mono_ms())) <= 0)
			continue;
		char tmp[4096];
		ssize_t r = recv(fd, n + 1 < cap ? buf + n : tmp, n + 1 < cap ? cap - n - 1 : sizeof(tmp), 0);
		if (r <= 0) {
			*eof = 1;
			break;
		}
		if (n + 1 < cap)
			n += (size_t)r;
	}
	buf[n] = '\0';
	return n;
}

cJSON *cg_h_mail_fixture(const char *name)
{
	char *path = cg_h_fmt("%s/tests/fixtures/email/%s", cg_h_source_dir(), name);
	size_t len = 0;
	char *raw = cg_h_read_file(path, &len);
	if (!raw)
		fail_msg("cannot read %s", path);
	cJSON *m = NULL;
	char err[256] = "";
	int rc = cg_mail_parse(raw, len, NULL, &m, err, sizeof(err));
	free(raw);
	free(path);
	if (rc)
		fail_msg("%s: parse failed: %s (%s)", name, cg_strerror(rc), err);
	return m;
}

/* ---- configuration files ---- */

struct cg_config *cg_h_config_ok(const char *text)
{
	struct cg_config *c = NULL;
	char *errs = NULL;
	int rc = cg_config_parse("/cfgdir/t.yaml", text, strlen(text), &c, &errs);
	if (rc != 0)
		fail_msg("parse failed: got rc %d, want 0; errors:\n%s", rc, errs ? errs : "(none)");
	free(errs);
	return c;
}

void cg_h_config_error(const char *text, const char *want)
{
	struct cg_config *c = NULL;
	char *errs = NULL;
	int rc = cg_config_parse("/cfgdir/t.yaml", text, strlen(text), &c, &errs);
	if (rc != CG_EINVAL)
		fail_msg("got rc %d, want CG_EINVAL for:\n%s\nerrors: %s", rc, text, errs ? errs : "(none)");
	if (c)
		fail_msg("a refused configuration came back loaded");
	int found = 0;
	for (const char *line = errs; line && *line;) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		if (len >= strlen(want) && strncmp(line, want, strlen(want)) == 0)
			found = 1;
		line = nl ? nl + 1 : NULL;
	}
	if (!found)
		fail_msg("got errors:\n%s\nwant a line starting with:\n%s", errs ? errs : "(none)", want);
	free(errs);
}
