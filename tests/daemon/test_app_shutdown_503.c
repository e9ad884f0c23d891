/* test_app_shutdown_503.c: a webhook that reaches intake while the daemon stops gracefully gets 503 + Retry-After + a JSON error (the sender retries), the daemon still exits 0, and what was answered 202 before the stop is delivered. */
/* labels: integration */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"

#define PROJECT "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n    case_type: 00000000-0000-0000-0000-000000000001\n"

/*
 * Why SNS: at SIGTERM the listener closes idle and half-read connections at once, so a request
 * meets the stopping intake only when it was already being checked. An SNS notification is: its
 * signing certificate is fetched first, from this HTTPS server, which holds the answer until the
 * test creates <dir>/release.
 */
static const char *const py_server = "import http.server, ssl, sys, os, time\n"
                                     "d = sys.argv[1]\n"
                                     "class H(http.server.BaseHTTPRequestHandler):\n"
                                     "    def do_GET(self):\n"
                                     "        print('GET ' + self.path, flush=True)\n"
                                     "        end = time.time() + 60\n"
                                     "        while not os.path.exists(d + '/release') and time.time() < end:\n"
                                     "            time.sleep(0.02)\n"
                                     "        body = open(d + '/sns.pem', 'rb').read()\n"
                                     "        self.send_response(200)\n"
                                     "        self.send_header('Content-Length', str(len(body)))\n"
                                     "        self.end_headers()\n"
                                     "        self.wfile.write(body)\n"
                                     "    def log_message(self, *a):\n"
                                     "        pass\n"
                                     "srv = http.server.HTTPServer(('127.0.0.1', 0), H)\n"
                                     "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
                                     "ctx.load_cert_chain(d + '/srv.pem', d + '/srv.key')\n"
                                     "srv.socket = ctx.wrap_socket(srv.socket, server_side=True)\n"
                                     "print('PORT %d' % srv.server_address[1], flush=True)\n"
                                     "srv.serve_forever()\n";

static void sh(const char *cmd)
{
	int rc = system(cmd);
	if (rc != 0)
		fail_msg("command failed (%d): %s", rc, cmd);
}

/* A CA, a localhost certificate it signed (the HTTPS server's), an SNS signing key and its
 * certificate; the server started. Returns its port. */
static int start_cert_server(const char *dir, struct cg_h_proc *ps)
{
	char *cmd = cg_h_fmt(
		"cd '%s' && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=test-ca "
		"2>/dev/null && openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=localhost "
		"2>/dev/null && printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > ext && "
		"openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 -extfile ext "
		"2>/dev/null && openssl req -x509 -newkey rsa:2048 -nodes -keyout sns.key -out sns.pem -days 2 "
		"-subj /CN=sns.amazonaws.com 2>/dev/null",
		dir);
	sh(cmd);
	free(cmd);
	char *py = cg_h_fmt("%s/srv.py", dir), *log = cg_h_fmt("%s/py.log", dir);
	assert_int_equal(cg_h_write_file(py, py_server, strlen(py_server)), 0);
	char *const argv[] = {"/usr/bin/python3", py, (char *)dir, NULL};
	assert_int_equal(cg_h_spawn(ps, argv, NULL, log), 0);
	int port = cg_h_log_port(ps, "PORT ", 10000);
	if (port <= 0) {
		cg_h_dump_log(ps);
		fail_msg("python HTTPS server did not start");
	}
	free(log);
	free(py);
	return port;
}

/* A Notification signed with sns.key (SignatureVersion 2), its certificate on the local server. */
static char *sns_notification(const char *dir, int port)
{
	const char *mid = "7c4a4b1e-0000-4000-8000-000000000077", *ts = "2024-05-02T00:54:06.655Z",
		   *topic = "arn:aws:sns:us-east-1:123456789012:alerts", *message = "{\"alarm\":\"stop\"}";
	char *sts = cg_h_fmt("Message\n%s\nMessageId\n%s\nSubject\nALARM\nTimestamp\n%s\nTopicArn\n%s\nType\nNotification\n",
			     message, mid, ts, topic);
	char *f = cg_h_fmt("%s/sts", dir);
	assert_int_equal(cg_h_write_file(f, sts, strlen(sts)), 0);
	char *cmd = cg_h_fmt("openssl dgst -sha256 -sign '%s/sns.key' '%s' | base64 -w0", dir, f);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	char sig[1024] = "";
	size_t n = fread(sig, 1, sizeof(sig) - 1, p);
	sig[n] = '\0';
	pclose(p);
	char *cert_url = cg_h_fmt("https://localhost:%d/cert.pem", port);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "Type", "Notification");
	cJSON_AddStringToObject(o, "MessageId", mid);
	cJSON_AddStringToObject(o, "TopicArn", topic);
	cJSON_AddStringToObject(o, "Subject", "ALARM");
	cJSON_AddStringToObject(o, "Message", message);
	cJSON_AddStringToObject(o, "Timestamp", ts);
	cJSON_AddStringToObject(o, "SignatureVersion", "2");
	cJSON_AddStringToObject(o, "Signature", sig);
	cJSON_AddStringToObject(o, "SigningCertURL", cert_url);
	cJSON_AddStringToObject(o, "title", "during stop");
	cJSON_AddStringToObject(o, "status", "open");
	cJSON_AddStringToObject(o, "dedup_key", "stop-1");
	char *s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	free(cert_url);
	free(cmd);
	free(f);
	free(sts);
	return s;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads until the peer closes (or 20 s): the whole HTTP answer, NUL-terminated. */
static void read_answer(int fd, char *out, size_t cap)
{
	size_t len = 0;
	int64_t end = mono_ms() + 20000;
	while (len + 1 < cap) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (mono_ms() > end || poll(&p, 1, (int)(end - mono_ms())) <= 0)
			break;
		ssize_t r = recv(fd, out + len, cap - len - 1, 0);
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	out[len] = '\0';
}

struct log_wait {
	const char *path, *needle;
};

static int log_has(void *ud)
{
	struct log_wait *w = ud;
	char *s = cg_h_read_file(w->path, NULL);
	int ok = s && strstr(s, w->needle);
	free(s);
	return ok;
}

static int gw_exited(void *ud)
{
	return !cg_h_alive(ud);
}

static void test_webhook_during_stop_gets_503(void **state)
{
	(void)state;
	struct itest t;
	assert_int_equal(itest_setup(&t, "cg-stop503"), 0);
	struct cg_h_proc ps;
	int cport = start_cert_server(t.dir, &ps);
	assert_int_equal(itest_start_sim(&t, NULL), 0);
	char *sources = cg_h_fmt("  - name: sns\n    type: generic\n"
				 "    verify: [{sns: {cert_hosts: [\"^localhost:[0-9]+$\"], ca_file: %s/ca.pem}}]\n" PROJECT
				 "  - name: gen\n    type: generic\n    auth: none\n" PROJECT,
				 t.dir);
	assert_int_equal(itest_write_config(&t, NULL, sources), 0);
	free(sources);
	assert_int_equal(itest_start_gw(&t), 0);

	/* Accepted before the stop. */
	long st = itest_post(&t, "gen", NULL, "{\"title\":\"before stop\",\"status\":\"firing\",\"dedup_key\":\"pre-1\"}",
			     NULL);
	assert_int_equal(st, 202);

	/* The notification is sent and its certificate fetch held. */
	char *body = sns_notification(t.dir, cport);
	char *req = cg_h_fmt("POST /hooks/sns HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain; charset=UTF-8\r\n"
			     "x-amz-sns-message-type: Notification\r\nContent-Length: %zu\r\n\r\n%s",
			     strlen(body), body);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)t.gw_port)};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(send(fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
	struct log_wait fetching = {ps.log_path, "GET /cert.pem"};
	assert_true(cg_h_poll(log_has, &fetching, 15000));

	/* SIGTERM while it is being checked; the certificate comes once the daemon is stopping. */
	assert_int_equal(kill(t.gw.pid, SIGTERM), 0);
	struct log_wait stopping = {t.gw.log_path, "stopping: no new requests"};
	assert_true(cg_h_poll(log_has, &stopping, 15000));
	char *release = cg_h_fmt("%s/release", t.dir);
	assert_int_equal(cg_h_write_file(release, "", 0), 0);
	free(release);

	char resp[8192];
	read_answer(fd, resp, sizeof(resp));
	close(fd);
	if (strncmp(resp, "HTTP/1.1 503", 12) != 0 || !strstr(resp, "\r\nRetry-After: 5\r\n") ||
	    !strstr(resp, "{\"errors\":[\"shutting down: retry later\"]}"))
		fail_msg("the webhook checked during the stop: got\n%s\nwant 503, Retry-After: 5 and "
			 "{\"errors\":[\"shutting down: retry later\"]}",
			 resp);
	/* The stop itself goes on and is clean (a second SIGTERM would not be graceful: wait). */
	assert_true(cg_h_poll(gw_exited, &t.gw, 20000));
	t.gw_running = 0;
	if (!WIFEXITED(t.gw.wstatus) || WEXITSTATUS(t.gw.wstatus) != 0) {
		cg_h_dump_log(&t.gw);
		fail_msg("casegate after the graceful stop: wait status 0x%x, want exit 0", t.gw.wstatus);
	}

	/* Nothing accepted is lost: after a restart (if the stop came first) the 202 is a case; the
	 * refused notification is not. */
	assert_int_equal(itest_start_gw(&t), 0);
	struct itest_wait w = {&t, 1};
	assert_true(cg_h_poll(itest_has_ncases, &w, 15000));
	cJSON *doc = itest_cases(&t);
	assert_non_null(itest_find_case(doc, "before stop"));
	assert_null(itest_find_case(doc, "during stop"));
	cJSON_Delete(doc);
	assert_int_equal(itest_stop_gw(&t, SIGTERM), 0);
	cg_h_stop(&ps, SIGTERM);
	free(req);
	free(body);
	itest_teardown(&t, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_webhook_during_stop_gets_503),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
