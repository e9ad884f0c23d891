/* test_mdsafe_daemon.c: through the running daemon, sender text reaches Datadog as text and logs as one line each. */
/* labels: integration */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "event.h" /* cg_json_path */
#include "itest.h"

/* What a sender puts everywhere: mentions, a link, an image, HTML, backticks, bidi and zero-width characters. */
#define ATTACK                                                                                                         \
	"@all @team-x [login](https://evil.example/login) ![x](https://evil.example/p.png) <img src=x> `x` ``y`` "     \
	"\\u202e\\u200b"
#define ATTACK_RAW                                                                                                     \
	"@all @team-x [login](https://evil.example/login) ![x](https://evil.example/p.png) <img src=x> `x` ``y`` "     \
	"\xE2\x80\xAE\xE2\x80\x8B"
/* A generic alert whose every field attacks (%s: its status). */
#define TMPL_BODY                                                                                                      \
	"{\"dedup_key\":\"tmpl-1\",\"status\":\"%s\",\"severity\":\"critical`x @all\","                                \
	"\"title\":\"Disk full @all @team-x see [login](https://evil.example/login) \\u202e\","                        \
	"\"description\":\"desc " ATTACK "\","                                                                         \
	"\"labels\":{\"host\":\"db-1 " ATTACK "\",\"team@x [k](https://evil.example/k)\":\"v " ATTACK                  \
	"\"},\"annotations\":{\"summary\":\"ping @oncall-team " ATTACK "\"}}"

/* An alert mail (%s: PROBLEM or RECOVERY, then a number for Message-ID and Date) with an attachment. */
#define MAIL_FMT                                                                                                       \
	"From: Mallory <attacker@evil.example>\n"                                                                      \
	"To: alerts+mail@example.com\n"                                                                                \
	"Subject: %s: disk full @all [login](https://evil.example/login) <img src=x> `x`\n"                            \
	"Message-ID: <m%d@evil.example>\n"                                                                             \
	"Date: Mon, 01 Jan 2024 10:00:0%d +0000\n"                                                                     \
	"MIME-Version: 1.0\n"                                                                                          \
	"Content-Type: multipart/mixed; boundary=\"b1\"\n"                                                             \
	"\n"                                                                                                           \
	"--b1\n"                                                                                                       \
	"Content-Type: text/plain; charset=utf-8\n"                                                                    \
	"\n"                                                                                                           \
	"Body @oncall-team " ATTACK_RAW "\n"                                                                           \
	"--b1\n"                                                                                                       \
	"Content-Type: text/plain; name=\"@all [a](https://evil.example/a).txt\"\n"                                    \
	"Content-Disposition: attachment; filename=\"@all [a](https://evil.example/a) <b>.txt\"\n"                     \
	"\n"                                                                                                           \
	"attached\n"                                                                                                   \
	"--b1--\n"

/* The operator's own mention, written in the tmpl source's description template: it must stay live. */
#define OPERATOR_MENTION "@oncall-team please look"

#define PROJECT                                                                                                        \
	"    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"                                                          \
	"    case_type: 00000000-0000-0000-0000-000000000001\n"

static const char *sources = "  - name: tmpl\n"
                             "    type: generic\n"
                             "    auth: { bearer: tok }\n" PROJECT "    title: \"{{title}}\"\n"
                             "    description: \"" OPERATOR_MENTION
                             ": {{annotations.summary}}\\n\\n{{description}}\\n\\nHost: {{labels.host}}\"\n"
                             "    attributes:\n"
                             "      host: \"{{labels.host}}\"\n"
                             "    custom_attributes:\n"
                             "      summary: { type: TEXT, value: \"{{annotations.summary}}\" }\n"
                             "      runbook: { type: URL, value: \"https://wiki.example/{{labels.host}}\" }\n"
                             "    on_repeat: comment\n"
                             "  - name: plain\n"
                             "    type: generic\n"
                             "    auth: { bearer: tok }\n" PROJECT "    on_repeat: comment\n"
                             "  - name: am\n"
                             "    type: alertmanager\n"
                             "    auth: { bearer: tok }\n"
                             "    group_by: group\n" PROJECT "    on_repeat: comment\n"
                             "  - name: mail\n"
                             "    type: email\n" PROJECT;

struct ts {
	struct itest t;
	int lmtp_port;
};

static int setup(void **state)
{
	struct ts *s = calloc(1, sizeof(*s));
	/* The case type defines the custom attributes the tmpl source sets (as Datadog would need). */
	static const char *const sim_args[] = {"--custom-attribute", "00000000-0000-0000-0000-000000000001:summary:TEXT",
					       "--custom-attribute", "00000000-0000-0000-0000-000000000001:runbook:URL",
					       NULL};
	if (!s || itest_setup(&s->t, "text-safety") != 0 || itest_start_sim(&s->t, sim_args) != 0 ||
	    itest_write_config(&s->t, "log_format: text\nmail:\n  listen: 127.0.0.1:0\n  protocol: lmtp\n", sources) !=
	        0 ||
	    itest_start_gw(&s->t) != 0)
		return -1;
	s->lmtp_port = cg_h_log_port(&s->t.gw, "LMTP on 127.0.0.1:", 10000);
	if (s->lmtp_port <= 0)
		return -1;
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	struct ts *s = *state;
	if (s) {
		itest_teardown(&s->t, 0);
		free(s);
	}
	return 0;
}

static void post_ok(struct ts *s, const char *source, const char *body)
{
	char *resp = NULL;
	long st = itest_post(&s->t, source, "tok", body, &resp);
	if (st != 200 && st != 202)
		fail_msg("POST /hooks/%s: got %ld (%s), want 200/202", source, st, resp ? resp : "");
	free(resp);
}

/* ---- a minimal LMTP client ---- */

/* Reads one reply (all its lines) into buf; returns the code of the last line, or -1. */
static int lmtp_reply(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	for (;;) {
		ssize_t r = recv(fd, buf + n, cap - n - 1, 0);
		if (r <= 0)
			return -1;
		n += (size_t)r;
		buf[n] = '\0';
		/* Complete when the last line is "ddd " + text + CRLF. */
		if (n >= 2 && buf[n - 2] == '\r' && buf[n - 1] == '\n') {
			const char *last = buf;
			for (const char *p = buf; p < buf + n - 2; p++)
				if (p[0] == '\n')
					last = p + 1;
			if (strlen(last) >= 4 && last[3] == ' ')
				return (int)strtol(last, NULL, 10);
		}
		if (n + 1 >= cap)
			return -1;
	}
}

static int lmtp_cmd(int fd, const char *cmd, char *buf, size_t cap)
{
	if (cmd && send(fd, cmd, strlen(cmd), MSG_NOSIGNAL) != (ssize_t)strlen(cmd))
		return -1;
	return lmtp_reply(fd, buf, cap);
}

/* Delivers msg (LF line ends, no line starting with '.') from -> to; returns the final reply code. */
static int lmtp_deliver(int port, const char *from, const char *to, const char *msg)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct timeval tv = {10, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	char buf[4096], line[512];
	int code = lmtp_cmd(fd, NULL, buf, sizeof(buf));
	if (code == 220)
		code = lmtp_cmd(fd, "LHLO test.example\r\n", buf, sizeof(buf));
	snprintf(line, sizeof(line), "MAIL FROM:<%s>\r\n", from);
	if (code == 250)
		code = lmtp_cmd(fd, line, buf, sizeof(buf));
	snprintf(line, sizeof(line), "RCPT TO:<%s>\r\n", to);
	if (code == 250)
		code = lmtp_cmd(fd, line, buf, sizeof(buf));
	if (code == 250)
		code = lmtp_cmd(fd, "DATA\r\n", buf, sizeof(buf));
	if (code == 354) {
		/* LF -> CRLF, then the end-of-data line. */
		char *d = malloc(strlen(msg) * 2 + 8);
		size_t n = 0;
		assert_non_null(d);
		for (const char *p = msg; *p; p++) {
			if (*p == '\n')
				d[n++] = '\r';
			d[n++] = *p;
		}
		memcpy(d + n, ".\r\n", 3);
		n += 3;
		code = send(fd, d, n, MSG_NOSIGNAL) == (ssize_t)n ? lmtp_reply(fd, buf, sizeof(buf)) : -1;
		free(d);
	}
	if (code != 250)
		fprintf(stderr, "LMTP: last reply %s\n", buf);
	lmtp_cmd(fd, "QUIT\r\n", buf, sizeof(buf));
	close(fd);
	return code;
}

/* ---- what the cases must look like in the end ---- */

struct want {
	struct itest *t;
	const char *title;
	int comments; /* at least */
	int closed;
};

static int case_ready(void *ud)
{
	struct want *w = ud;
	cJSON *doc = itest_cases(w->t);
	const cJSON *c = itest_find_case(doc, w->title);
	int ok = c && itest_case_ncomments(c) >= w->comments && (!w->closed || itest_case_closed(c));
	cJSON_Delete(doc);
	return ok;
}

static void wait_case(struct ts *s, const char *title, int comments, int closed)
{
	struct want w = {&s->t, title, comments, closed};
	if (!cg_h_poll(case_ready, &w, 20000)) {
		cJSON *doc = itest_cases(&s->t);
		char *text = doc ? cJSON_Print(doc) : NULL;
		cg_h_dump_log(&s->t.gw);
		fail_msg("no case titled \"%s\" with %d comments%s; got %s", title, comments, closed ? ", closed" : "",
		         text ? text : "(none)");
	}
}

/* Webhooks to three sources (templates, mapper defaults, Alertmanager groups) and a mail thread through
 * LMTP, each firing, repeating and resolving, so that creates, attributes and comments are all sent. */
static void test_send_everything(void **state)
{
	struct ts *s = *state;
	for (int i = 0; i < 3; i++) {
		char *body = cg_h_fmt(TMPL_BODY, i == 2 ? "resolved" : "firing");
		post_ok(s, "tmpl", body);
		char *plain = cg_h_fmt("{\"dedup_key\":\"plain-1\",\"status\":\"%s\",\"severity\":\"warn " ATTACK "\","
		                       "\"title\":\"Plain title " ATTACK "\",\"labels\":{\"cmd\":\"rm " ATTACK
		                       "\",\"k@team-k [k](https://evil.example/k)\":\"v " ATTACK "\"},"
		                       "\"annotations\":{\"summary\":\"sum " ATTACK "\",\"note\":\"n " ATTACK "\"}}",
		                       i == 2 ? "resolved" : "firing");
		post_ok(s, "plain", plain);
		char *am = cg_h_fmt(
		    "{\"version\":\"4\",\"status\":\"%s\",\"receiver\":\"r " ATTACK "\",\"groupKey\":\"g1\","
		    "\"groupLabels\":{\"alertname\":\"AmGroup\"},\"commonLabels\":{\"alertname\":\"AmGroup\"},"
		    "\"commonAnnotations\":{\"summary\":\"common " ATTACK "\",\"description\":\"d " ATTACK "\"},"
		    "\"externalURL\":\"https://am.example\",\"alerts\":[{\"status\":\"%s\",\"labels\":{\"alertname\":"
		    "\"AmGroup\",\"instance\":\"i-%d " ATTACK "\"},\"annotations\":{\"summary\":\"s " ATTACK "\"},"
		    "\"startsAt\":\"2024-05-01T10:00:00Z\",\"generatorURL\":\"https://prom.example/g?x=1) [login]"
		    "(https://evil.example/login\",\"fingerprint\":\"f%d\"}]}",
		    i == 2 ? "resolved" : "firing", i == 2 ? "resolved" : "firing", i, i);
		post_ok(s, "am", am);
		free(body);
		free(plain);
		free(am);
		if (i == 0) {
			/* The repeats must find the cases open. */
			wait_case(s, "Disk full", 0, 0);
			wait_case(s, "Plain title", 0, 0);
			wait_case(s, "AmGroup", 0, 0);
		}
	}

	char *problem = cg_h_fmt(MAIL_FMT, "PROBLEM", 1, 1);
	assert_int_equal(lmtp_deliver(s->lmtp_port, "attacker@evil.example", "alerts+mail@example.com", problem), 250);
	wait_case(s, "disk full", 0, 0);
	char *recovery = cg_h_fmt(MAIL_FMT, "RECOVERY", 2, 2);
	assert_int_equal(lmtp_deliver(s->lmtp_port, "attacker@evil.example", "alerts+mail@example.com", recovery), 250);
	free(problem);
	free(recovery);

	wait_case(s, "Disk full", 2, 1);
	wait_case(s, "Plain title", 2, 1);
	wait_case(s, "AmGroup", 2, 1);
	wait_case(s, "disk full", 1, 1);
}

/* ---- the checks ---- */

static int handle_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
	       c == '.';
}

/* The first code span's length at p (backtick runs as CommonMark pairs them), or 0 when unclosed. */
static size_t code_span(const char *p)
{
	size_t n = strspn(p, "`");
	for (const char *q = p + n; (q = strchr(q, '`'));) {
		size_t m = strspn(q, "`");
		if (m == n)
			return (size_t)(q + m - p);
		q += m;
	}
	return 0;
}

/*
 * What a sender must not get into case text: an ASCII '@' followed by a handle character (but the
 * operator's own), a link or image to evil.example or an <img> tag outside code, a bidi or zero-width
 * character. Returns a description of the first problem (static buffer), or NULL.
 */
static const char *problem(const char *text)
{
	static char why[200];
	for (const char *p = text; *p; p++) {
		if (*p == '@' && handle_char(p[1]) && strncmp(p, OPERATOR_MENTION, strlen(OPERATOR_MENTION)) != 0) {
			snprintf(why, sizeof(why), "live mention at \"%.40s\"", p);
			return why;
		}
		if (*p == '`' && (p == text || p[-1] != '\\')) {
			size_t span = code_span(p);
			p += (span ? span : strspn(p, "`")) - 1;
			continue;
		}
		if (!strncmp(p, "](https://evil", 14) && (p == text || p[-1] != '\\')) {
			snprintf(why, sizeof(why), "live link at \"%.40s\"", p);
			return why;
		}
		if (!strncmp(p, "<img", 4)) {
			snprintf(why, sizeof(why), "HTML at \"%.40s\"", p);
			return why;
		}
		if (!strncmp(p, "\xE2\x80\xAE", 3) || !strncmp(p, "\xE2\x80\x8B", 3)) {
			snprintf(why, sizeof(why), "hidden character at \"%.40s\"", p);
			return why;
		}
	}
	return NULL;
}

/* Checks every string in v (recursively, keys too); returns how many strings were looked at. */
static int check_strings(const cJSON *v, const char *where)
{
	int n = 0;
	if (v->string) {
		const char *why = problem(v->string);
		if (why)
			fail_msg("%s: key \"%s\": %s", where, v->string, why);
	}
	if (cJSON_IsString(v)) {
		const char *why = problem(v->valuestring);
		if (why)
			fail_msg("%s: \"%s\": %s", where, v->valuestring, why);
		return 1;
	}
	const cJSON *it;
	cJSON_ArrayForEach(it, v) n += check_strings(it, where);
	return n;
}

/* Every request body casegate sent to the Case API (sim-requests.jsonl): creates, attributes, comments. */
static void test_request_bodies(void **state)
{
	struct ts *s = *state;
	char *path = cg_h_fmt("%s/%s", s->t.dir, CG_H_SIM_REQUEST_LOG);
	char *log = cg_h_read_file(path, NULL);
	assert_non_null(log);
	int creates = 0, comments = 0, attrs = 0, operator_live = 0;
	for (char *line = log; line && *line;) {
		char *eol = strchr(line, '\n');
		if (eol)
			*eol = '\0';
		cJSON *req = cJSON_Parse(line);
		assert_non_null(req);
		const char *op = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req, "operation"));
		const cJSON *body = cJSON_GetObjectItemCaseSensitive(req, "body");
		if (op && body && !cJSON_IsNull(body)) {
			char where[200];
			snprintf(where, sizeof(where), "%s body", op);
			check_strings(body, where);
			creates += !strcmp(op, "CreateCase");
			comments += !strcmp(op, "CommentCase");
			attrs += !strcmp(op, "UpdateAttributes");
			const char *desc = cJSON_GetStringValue(cg_json_path(body, "data.attributes.description"));
			if (!strcmp(op, "CreateCase") && desc &&
			    !strncmp(desc, OPERATOR_MENTION ": ping ", strlen(OPERATOR_MENTION ": ping ")))
				operator_live++;
		}
		cJSON_Delete(req);
		line = eol ? eol + 1 : NULL;
	}
	free(log);
	free(path);
	/* All four cases were created, got their attributes and their comments (repeat, resolve). */
	if (creates < 4 || attrs < 3 || comments < 7)
		fail_msg("got %d creates, %d attribute updates, %d comments; want at least 4, 3, 7", creates, attrs,
		         comments);
	/* The operator's mention, written in the template, reached the create body unchanged. */
	assert_int_equal(operator_live, 1);
}

/* What the simulator stored: titles, descriptions, attributes and comments of every case. */
static void test_sim_cases(void **state)
{
	struct ts *s = *state;
	cJSON *doc = itest_cases(&s->t);
	assert_non_null(doc);
	int n = 0;
	const cJSON *c;
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(doc, "cases"))
	{
		const cJSON *a = cJSON_GetObjectItemCaseSensitive(c, "attributes");
		static const char *const keys[] = {"title", "description", "attributes", "custom_attributes"};
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(a ? a : c, keys[i]);
			if (v)
				n += check_strings(v, keys[i]);
		}
		const cJSON *m;
		cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(c, "comments")) n +=
		    check_strings(cJSON_GetObjectItemCaseSensitive(m, "comment"), "comment");
	}
	/* The sender's text is there, readable: "@" became U+FF20, brackets are escaped. */
	const cJSON *tc = itest_find_case(doc, "Disk full");
	assert_non_null(tc);
	const char *title = itest_case_attr(tc, "title");
	if (!strstr(title, "Disk full \xEF\xBC\xA0"
	                   "all \xEF\xBC\xA0"
	                   "team-x see [login] (https://evil.example/login)"))
		fail_msg("title: got \"%s\"", title);
	const char *desc = itest_case_attr(tc, "description");
	if (!strstr(desc, OPERATOR_MENTION ": ping \xEF\xBC\xA0"
	                                   "oncall-team \xEF\xBC\xA0"
	                                   "all"))
		fail_msg("description: got \"%s\"", desc);
	const cJSON *mc = itest_find_case(doc, "disk full");
	assert_non_null(mc);
	desc = itest_case_attr(mc, "description");
	if (!strstr(desc, "attacker\xEF\xBC\xA0"
	                  "evil.example") ||
	    !strstr(desc, "\\[a\\](https://evil.example/a)"))
		fail_msg("mail description: got \"%s\"", desc);
	cJSON_Delete(doc);
	assert_true(n >= 20);
}

/* A dedup key with a newline and a terminal escape writes one escaped record, never a line of its own. */
static void test_log_forging(void **state)
{
	struct ts *s = *state;
	post_ok(s, "plain", "{\"dedup_key\":\"forge\\n2026-01-01 INFO fake\\u001b[31m\",\"title\":\"Forged key\"}");
	wait_case(s, "Forged key", 0, 0);
	/* The record about its creation names the key escaped. */
	if (!cg_h_wait_log(&s->t.gw, "forge\\n2026-01-01 INFO fake\\x1b[31m", 10000)) {
		cg_h_dump_log(&s->t.gw);
		fail_msg("no log record with the escaped key");
	}
	char *log = cg_h_read_file(s->t.gw.log_path, NULL);
	assert_non_null(log);
	int records = 0;
	for (char *line = log; line && *line;) {
		char *eol = strchr(line, '\n');
		if (eol)
			*eol = '\0';
		if (strstr(line, "INFO fake")) {
			/* Only ever inside a record that starts like one, with the key escaped. */
			if (strncmp(line, "2026-01-01", 10) == 0 ||
			    !strstr(line, "forge\\n2026-01-01 INFO fake\\x1b[31m"))
				fail_msg("forged log line: \"%s\"", line);
			records++;
		}
		line = eol ? eol + 1 : NULL;
	}
	if (strchr(log, '\x1b'))
		fail_msg("the log holds a raw ESC byte");
	free(log);
	assert_true(records >= 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_send_everything),
	    cmocka_unit_test(test_request_bodies),
	    cmocka_unit_test(test_sim_cases),
	    cmocka_unit_test(test_log_forging),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
