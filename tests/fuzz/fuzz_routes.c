/* fuzz_routes.c: libFuzzer target: any bytes as what a client sends to the daemon's listener. The real
 * daemon (cg_app_run: routes.c's cg_app_handle, intake, guard, admission, the store) runs on a
 * thread of this process with a small config; each input is one connection's bytes, read until
 * the daemon closes it. Nothing the client sends may crash it or make it misbehave under ASan. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <errno.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "config.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PROJECT "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n    case_type: 00000000-0000-0000-0000-000000000001\n"

/* One source per way in: none, bearer, basic, a signature, a mail source (never a webhook),
 * Datadog's case events, the paging APIs (a routing key in the body, a GenieKey header). Short timeouts: an unfinished request ends soon. Datadog is a closed
 * port: deliveries fail and wait, intake goes on. */
static const char *const config_fmt =
	"listen: 127.0.0.1:%d\n"
	"state_dir: %s\n"
	"log_level: error\n"
	"datadog:\n  api_key: k\n  app_key: a\n  url: http://127.0.0.1:9\n"
	"limits:\n  max_body: 64KiB\n  header_timeout: 300ms\n  body_timeout: 300ms\n  idle_timeout: 300ms\n"
	"sources:\n"
	"  - name: gen\n    type: generic\n    auth: none\n" PROJECT
	"  - name: am\n    type: alertmanager\n    auth: {bearer: tok-1}\n" PROJECT
	"  - name: aws\n    type: cloudwatch\n    auth: {basic: {user: sns, password: pw}}\n" PROJECT
	"  - name: gh\n    type: generic\n    auth: none\n"
	"    verify: [{hmac: {header: X-Hub-Signature-256, secret: s3cret, prefix: 'sha256=', encoding: hex}}]\n" PROJECT
	"  - name: mail\n    type: email\n" PROJECT
	"  - name: dd\n    type: datadog_case_events\n    auth: {bearer: tok-2}\n"
	"  - name: pd\n    type: pagerduty_events\n    routing_key: 0a1b2c3d4e5f60718293a4b5c6d7e8f9\n" PROJECT
	"  - name: og\n    type: opsgenie_alerts\n    genie_key: eb243592-faa2-4ba2-a551-1afdf565c889\n"
	"    actions: {acknowledge_status: IN_PROGRESS}\n" PROJECT;

static int port;

static void *daemon_main(void *arg)
{
	const char *path = arg;
	struct cg_config *cfg = NULL;
	char *errs = NULL;
	if (cg_config_load(path, &cfg, &errs) != 0) {
		fprintf(stderr, "fuzz_routes: config: %s\n", errs ? errs : "?");
		abort();
	}
	free(errs);
	int rc = cg_app_run(cfg, path, NULL);
	fprintf(stderr, "fuzz_routes: the daemon ended (%d)\n", rc);
	abort(); /* it must run for as long as the fuzzer does */
	return NULL;
}

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) != 0)
		abort();
	close(fd);
	return ntohs(a.sin_port);
}

static int dial_once(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	/* Thousands of connections a second: closed with a reset, so no TIME_WAIT uses up the
	 * ephemeral ports. */
	struct linger lg = {1, 0};
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
		return fd;
	if (fd >= 0)
		close(fd);
	return -1;
}

/* A connection, retried for up to 5 s (ports still held by earlier connections); -1 with errno. */
static int dial(void)
{
	for (int i = 0; i < 500; i++) {
		int fd = dial_once();
		if (fd >= 0)
			return fd;
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return -1;
}

static char dir[] = "/tmp/fuzz_routes.XXXXXX";

/* The state directory goes with the fuzzer (the daemon thread is still running: its files are
 * unlinked under it, which it survives). */
static void remove_dir(void)
{
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz_routes: could not remove %s\n", dir);
}

static void start_daemon(void)
{
	if (!mkdtemp(dir))
		abort();
	atexit(remove_dir);
	static char path[128];
	snprintf(path, sizeof(path), "%s/casegate.yaml", dir);
	port = free_port();
	FILE *f = fopen(path, "w");
	if (!f)
		abort();
	fprintf(f, config_fmt, port, dir);
	fclose(f);
	signal(SIGPIPE, SIG_IGN);
	pthread_t th;
	if (pthread_create(&th, NULL, daemon_main, path) != 0)
		abort();
	/* Up once it accepts a connection (5 s at most). */
	int fd = dial();
	if (fd < 0) {
		fprintf(stderr, "fuzz_routes: the daemon did not listen on %d\n", port);
		abort();
	}
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int started;
	if (!started) {
		cg_log_setup(CG_LOG_LEVEL_ERR, CG_LOG_TEXT);
		start_daemon();
		started = 1;
	}
	if (size > 96 * 1024)
		return 0;
	int fd = dial();
	if (fd < 0) {
		perror("fuzz_routes: the daemon stopped taking connections");
		abort();
	}
	size_t off = 0;
	char buf[16384];
	int closed = 0;
	/* Write what the client sends while reading what comes back, then half-close. */
	while (off < size && !closed) {
		struct pollfd p = {.fd = fd, .events = POLLOUT | POLLIN};
		if (poll(&p, 1, 2000) <= 0)
			break;
		if (p.revents & POLLIN) {
			ssize_t r = recv(fd, buf, sizeof(buf), 0);
			closed = r <= 0;
		}
		if (!closed && (p.revents & POLLOUT)) {
			ssize_t w = send(fd, data + off, size - off, MSG_NOSIGNAL);
			if (w <= 0)
				break;
			off += (size_t)w;
		}
		if (p.revents & (POLLERR | POLLHUP))
			closed = 1;
	}
	shutdown(fd, SHUT_WR);
	/* Every answer (async ones too: mapping on the pool, the store's commit) until the close;
	 * the daemon's own timeouts (300 ms) bound a request it cannot finish. */
	while (!closed) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 5000) <= 0)
			break;
		ssize_t r = recv(fd, buf, sizeof(buf), 0);
		closed = r <= 0;
	}
	close(fd);
	return 0;
}
