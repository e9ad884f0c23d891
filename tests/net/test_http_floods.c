/* test_http_floods.c: connection floods against the real daemon stay within a memory bound and
 * leave health checks answerable: slow readers, idle floods, per-address limit, first-byte timeout. */
/* labels: integration */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"

#define PROJECT "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n    case_type: 00000000-0000-0000-0000-000000000001\n"
#define SOURCES "  - name: demo\n    type: generic\n    auth: {bearer: demo-token}\n" PROJECT

/* The bound the README states: what floods may add to the daemon's resident memory, and how
 * close to its idle size it must come back once they are gone. */
#define FLOOD_GROWTH_MAX_KB (64 * 1024)
#define AFTER_GROWTH_MAX_KB (16 * 1024)

/* Under AddressSanitizer (CG_SANITIZE) the daemon's memory is ASan's (shadow, quarantined
 * frees): the bound is the release build's; everything else is checked there too. */
#if defined(__SANITIZE_ADDRESS__)
#define MEASURE_RSS 0
#else
#define MEASURE_RSS 1
#endif

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long rss_kb(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	char *s = cg_h_read_file(path, NULL);
	const char *v = s ? strstr(s, "VmRSS:") : NULL;
	long kb = v ? strtol(v + 6, NULL, 10) : -1;
	free(s);
	return kb;
}

/* Lets this process (and the daemon it starts) hold many sockets. Returns the soft limit. */
static long raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 1024;
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	getrlimit(RLIMIT_NOFILE, &rl);
	return (long)rl.rlim_cur;
}

/* A non-blocking connection from ip (a 127/8 address) to port; connect may still be in progress. */
static int dial_from(const char *ip, int port, int rcvbuf)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		fail_msg("socket: %s", strerror(errno));
	if (rcvbuf > 0) {
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
		/* A slow reader's own send buffer stays small too: left to grow (up to 4 MiB a socket),
		 * the client's kernel would soak up what the daemon never read, and "the sender is
		 * stopped" would say nothing about the daemon. */
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &rcvbuf, sizeof(rcvbuf));
	}
	struct sockaddr_in b = {.sin_family = AF_INET};
	inet_pton(AF_INET, ip, &b.sin_addr);
	if (bind(fd, (struct sockaddr *)&b, sizeof(b)) != 0)
		fail_msg("bind %s: %s", ip, strerror(errno));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0 && errno != EINPROGRESS)
		fail_msg("connect from %s: %s", ip, strerror(errno));
	return fd;
}

/* Waits (bounded) until fd is connected. 1 when it is. */
static int connected(int fd, unsigned ms)
{
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	if (poll(&p, 1, (int)ms) != 1)
		return 0;
	int err = 0;
	socklen_t l = sizeof(err);
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l);
	return err == 0;
}

/* GET path from ip with a deadline; returns the status (0: none in time). */
static int get_status(const char *ip, int port, const char *path, unsigned ms, char *resp, size_t cap)
{
	int fd = dial_from(ip, port, 0);
	if (!connected(fd, ms)) {
		close(fd);
		return 0;
	}
	char req[256];
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
	if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
		close(fd);
		return 0;
	}
	int eof;
	cg_h_read_for(fd, resp, cap, ms, &eof);
	close(fd);
	int st = 0;
	return sscanf(resp, "HTTP/1.1 %d", &st) == 1 ? st : 0;
}

static void start(struct itest *t, const char *prefix, const char *top)
{
	assert_int_equal(itest_setup(t, prefix), 0);
	assert_int_equal(itest_start_sim(t, NULL), 0);
	assert_int_equal(itest_write_config(t, top, SOURCES), 0);
	if (itest_start_gw(t) != 0)
		fail_msg("casegate did not start");
}

struct conns_wait {
	struct itest *t;
	double at_most;
};

static int conns_at_most(void *ud)
{
	struct conns_wait *w = ud;
	double n = itest_metric(w->t, "casegate_http_connections", NULL);
	return n >= 0 && n <= w->at_most;
}

struct rss_wait {
	pid_t pid;
	long at_most;
	long last;
};

static int rss_at_most(void *ud)
{
	struct rss_wait *w = ud;
	w->last = rss_kb(w->pid);
	return w->last > 0 && w->last <= w->at_most;
}

/* Some traffic first, so the baseline includes what a warm daemon holds anyway. */
static long warm_baseline(struct itest *t)
{
	char resp[16384];
	for (int i = 0; i < 20; i++) {
		assert_int_equal(get_status("127.0.0.1", t->gw_port, "/metrics", 5000, resp, sizeof(resp)), 200);
		assert_int_equal(get_status("127.0.0.1", t->gw_port, "/readyz", 5000, resp, sizeof(resp)), 200);
	}
	return rss_kb(t->gw.pid);
}

/*
 * 320 connections pipeline GETs (/healthz and /metrics) and never read an answer: the daemon
 * stops reading them once their answers are queued, its memory stays within the bound, /readyz
 * answers meanwhile, and the memory comes back once they are gone.
 */
static void test_slow_readers(void **state)
{
	(void)state;
	enum { N = 320 };
	if (raise_nofile() < N + 200)
		fail_msg("RLIMIT_NOFILE too low for %d connections", N);
	struct itest t;
	start(&t, "flood-slow", NULL);
	long base = warm_baseline(&t);
	static int fds[N];
	static size_t off[N];
	static int stalled[N];
	char ip[32];
	for (int i = 0; i < N; i++) {
		/* 80 per address: under the per-address limit, as many clients would be. */
		snprintf(ip, sizeof(ip), "127.0.1.%d", 1 + i / 80);
		fds[i] = dial_from(ip, t.gw_port, 4096);
	}
	for (int i = 0; i < N; i++)
		if (!connected(fds[i], 5000))
			fail_msg("connection %d did not connect", i);
	static const char *const reqs[] = {"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"};
	long peak = base;
	int nstalled = 0, readyz_ok = 0, readyz_tries = 0;
	int64_t t0 = mono_ms(), last_progress = mono_ms();
	size_t total_sent = 0;
	/* Send until no socket takes more for a second (the daemon stopped reading all of them). */
	while (mono_ms() - last_progress < 1000 && mono_ms() - t0 < 60000) {
		for (int i = 0; i < N; i++) {
			const char *r = reqs[i % 2];
			size_t len = strlen(r);
			for (int k = 0; k < 64; k++) {
				ssize_t w = send(fds[i], r + off[i], len - off[i], MSG_NOSIGNAL);
				if (w <= 0) {
					if (!stalled[i]) {
						stalled[i] = 1;
						nstalled++;
					}
					break;
				}
				stalled[i] = 0;
				total_sent += (size_t)w;
				last_progress = mono_ms();
				off[i] = (off[i] + (size_t)w) % len;
			}
		}
		long now = rss_kb(t.gw.pid);
		if (now > peak)
			peak = now;
		if (mono_ms() - t0 > 2000 && readyz_tries < 3) {
			char resp[4096];
			readyz_tries++;
			/* Answered, not fast: an ASan build on a busy 2-core machine may take seconds. */
			int64_t asked = mono_ms();
			readyz_ok += get_status("127.0.0.1", t.gw_port, "/readyz?scope=intake", 8000, resp, sizeof(resp)) == 200;
			last_progress += mono_ms() - asked; /* the probe's time is not the senders' silence */
		}
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL); /* pacing the sender, not waiting for an effect */
	}
	for (int i = 0; i < 10; i++) {
		long now = rss_kb(t.gw.pid);
		if (now > peak)
			peak = now;
	}
	char resp[4096];
	int st = get_status("127.0.0.1", t.gw_port, "/readyz?scope=intake", 8000, resp, sizeof(resp));
	print_message("slow readers: %d connections, %zu KiB sent, RSS %ld KiB idle, peak %ld KiB (+%ld)\n", N,
		      total_sent / 1024, base, peak, peak - base);
	if (st != 200 || readyz_ok != readyz_tries)
		fail_msg("/readyz during the flood: %d of %d answered 200, last %d", readyz_ok, readyz_tries, st);
	if (mono_ms() - last_progress < 1000)
		fail_msg("the daemon kept reading for 60 s: %zu KiB taken from clients that read nothing",
			 total_sent / 1024);
	if (MEASURE_RSS && peak - base > FLOOD_GROWTH_MAX_KB)
		fail_msg("RSS grew by %ld KiB under %d slow readers, want at most %d KiB", peak - base, N,
			 FLOOD_GROWTH_MAX_KB);
	assert_true(cg_h_alive(&t.gw));
	for (int i = 0; i < N; i++)
		close(fds[i]);
	struct conns_wait cw = {&t, 1};
	if (!cg_h_poll(conns_at_most, &cw, 20000))
		fail_msg("connections did not close");
	/* The sweep returns memory once the peak passed (within a second or two). */
	struct rss_wait rw = {t.gw.pid, base + AFTER_GROWTH_MAX_KB, 0};
	if (MEASURE_RSS && !cg_h_poll(rss_at_most, &rw, 10000))
		fail_msg("RSS after the slow readers left: %ld KiB, want at most %ld (idle %ld)", rw.last, rw.at_most,
			 base);
	print_message("slow readers gone: RSS %ld KiB\n", rw.last);
	itest_teardown(&t, 0);
}

struct excess_wait {
	const int *fds;
	int n, want, seen;
};

static int excess_answered(void *ud)
{
	struct excess_wait *w = ud;
	int seen = 0;
	for (int i = 0; i < w->n; i++) {
		struct pollfd p = {w->fds[i], POLLIN, 0};
		if (poll(&p, 1, 0) == 1 && (p.revents & (POLLIN | POLLHUP | POLLERR)))
			seen++;
	}
	w->seen = seen;
	return seen >= w->want;
}

/*
 * Thousands of idle connections from 40 addresses fill every slot (the first-byte timeout is
 * set long so they stay): health checks still get through reserved slots, other requests are
 * refused at once, memory stays within the bound and returns.
 */
static void test_idle_flood(void **state)
{
	(void)state;
	long nofile = raise_nofile();
	int slots = 1024, n = 4000;
	if (nofile < n + 1500) {
		/* A smaller machine: still more idle connections than slots, in proportion. */
		n = (int)(nofile - 400) * 2 / 3;
		slots = n / 4;
	}
	if (slots < 64)
		fail_msg("RLIMIT_NOFILE %ld too low for an idle flood", nofile);
	char *top = cg_h_fmt("limits:\n  max_connections: %d\n  first_byte_timeout: 2m\n  header_timeout: 2m\n", slots);
	struct itest t;
	start(&t, "flood-idle", top);
	free(top);
	long base = warm_baseline(&t);
	int *fds = calloc((size_t)n, sizeof(*fds));
	assert_non_null(fds);
	char ip[32];
	/* In batches the listen backlog (511) holds: a SYN dropped from a full backlog comes back
	 * seconds later, and such stragglers would take the reserved slots while the health checks
	 * below ask for them. */
	for (int i = 0; i < n; i += 256) {
		int end = i + 256 < n ? i + 256 : n;
		for (int j = i; j < end; j++) {
			snprintf(ip, sizeof(ip), "127.0.2.%d", 10 + j % 40); /* 100 per address: under its limit */
			fds[j] = dial_from(ip, t.gw_port, 0);
		}
		for (int j = i; j < end; j++) {
			/* Established, or already answered and closed (past the slots): either is settled. */
			struct pollfd p = {.fd = fds[j], .events = POLLOUT};
			if (poll(&p, 1, 10000) != 1)
				fail_msg("idle flood: connection %d not established in 10 s", j);
		}
	}
	/* Every slot is taken: the daemon's own count shows it (read through a reserved slot). */
	int64_t t0 = mono_ms();
	double conns = 0;
	while (mono_ms() - t0 < 20000) {
		conns = itest_metric(&t, "casegate_http_connections", NULL);
		if (conns >= slots)
			break;
		struct timespec ts = {0, 50 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	if (conns < slots)
		fail_msg("idle flood: %g connections open, want all %d slots taken", conns, slots);
	/* The connections past the slots are still being accepted: each takes a reserved slot for
	 * up to a second or is refused at once. A health check asked now may meet eight reserved
	 * slots held by idle flood connections; wait until the daemon has answered every one of
	 * them (their sockets turn readable: a 503 or the close), so what follows measures slots
	 * full and reserved slots free. */
	struct excess_wait ew = {fds, n, n - slots, 0};
	if (!cg_h_poll(excess_answered, &ew, 30000))
		fail_msg("idle flood: %d of the %d connections past the slots answered", ew.seen, n - slots);
	char resp[4096];
	/* Health checks answer, repeatedly, while the slots stay full. */
	for (int i = 0; i < 5; i++) {
		int64_t q0 = mono_ms();
		int st = get_status("127.0.0.1", t.gw_port, "/readyz?scope=intake", 3000, resp, sizeof(resp));
		if (st != 200)
			fail_msg("/readyz #%d during the idle flood: got %d (%s), want 200", i, st, resp);
		if (mono_ms() - q0 > 2000)
			fail_msg("/readyz #%d took %lld ms", i, (long long)(mono_ms() - q0));
	}
	assert_int_equal(get_status("127.0.0.1", t.gw_port, "/healthz", 3000, resp, sizeof(resp)), 200);
	/* Anything else is refused at once (no slot), with a clear answer. */
	int st = get_status("127.0.0.1", t.gw_port, "/hooks/demo", 3000, resp, sizeof(resp));
	if (st != 503 || !strstr(resp, "too many connections"))
		fail_msg("a request while every slot is taken: got %d %s, want 503 too many connections", st, resp);
	long during = rss_kb(t.gw.pid);
	print_message("idle flood: %d connections, %d slots, RSS %ld KiB idle, %ld KiB during (+%ld)\n", n, slots, base,
		      during, during - base);
	if (MEASURE_RSS && during - base > FLOOD_GROWTH_MAX_KB)
		fail_msg("RSS grew by %ld KiB under %d idle connections, want at most %d KiB", during - base, n,
			 FLOOD_GROWTH_MAX_KB);
	for (int i = 0; i < n; i++)
		close(fds[i]);
	free(fds);
	struct conns_wait cw = {&t, 1};
	if (!cg_h_poll(conns_at_most, &cw, 30000))
		fail_msg("connections did not close");
	struct rss_wait rw = {t.gw.pid, base + AFTER_GROWTH_MAX_KB, 0};
	if (MEASURE_RSS && !cg_h_poll(rss_at_most, &rw, 10000))
		fail_msg("RSS after the idle flood: %ld KiB, want at most %ld (idle %ld)", rw.last, rw.at_most, base);
	assert_int_equal(get_status("127.0.0.1", t.gw_port, "/readyz?scope=intake", 3000, resp, sizeof(resp)), 200);
	itest_teardown(&t, 0);
}

/*
 * One address may hold limits.max_connections_per_address connections (a trusted proxy any
 * number); a connection that sends nothing is closed after limits.first_byte_timeout.
 */
static void test_per_address_and_first_byte(void **state)
{
	(void)state;
	raise_nofile();
	struct itest t;
	start(&t, "flood-addr",
	      "limits:\n  max_connections_per_address: 10\n  first_byte_timeout: 300ms\n  header_timeout: 10s\n"
	      "trusted_proxies: [127.0.3.9/32]\n");
	char resp[4096];
	int eof;
	/* Ten connections from one address, each mid-head (the header timeout holds them). */
	int held[10];
	for (int i = 0; i < 10; i++) {
		held[i] = dial_from("127.0.3.1", t.gw_port, 0);
		assert_true(connected(held[i], 5000));
		assert_int_equal(send(held[i], "GET /healthz HTTP/1.1\r\n", 23, MSG_NOSIGNAL), 23);
	}
	int64_t t0 = mono_ms();
	while (itest_metric(&t, "casegate_http_connections", NULL) < 11 && mono_ms() - t0 < 5000) {
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	/* The eleventh from that address is refused at once. */
	int fd = dial_from("127.0.3.1", t.gw_port, 0);
	assert_true(connected(fd, 5000));
	cg_h_read_for(fd, resp, sizeof(resp), 3000, &eof);
	close(fd);
	if (strncmp(resp, "HTTP/1.1 503", 12) != 0 || !strstr(resp, "too many connections from this address"))
		fail_msg("11th connection from one address: got %s, want 503 too many connections from this address",
			 resp);
	/* Another address is served. */
	assert_int_equal(get_status("127.0.3.2", t.gw_port, "/healthz", 3000, resp, sizeof(resp)), 200);
	/* A trusted proxy carries many clients: fifteen at once are fine. */
	int prox[15];
	for (int i = 0; i < 15; i++) {
		prox[i] = dial_from("127.0.3.9", t.gw_port, 0);
		assert_true(connected(prox[i], 5000));
		assert_int_equal(send(prox[i], "GET /healthz HTTP/1.1\r\n", 23, MSG_NOSIGNAL), 23);
	}
	for (int i = 0; i < 15; i++) {
		assert_int_equal(send(prox[i], "Host: x\r\nConnection: close\r\n\r\n", 31, MSG_NOSIGNAL), 31);
		cg_h_read_for(prox[i], resp, sizeof(resp), 3000, &eof);
		if (strncmp(resp, "HTTP/1.1 200", 12) != 0)
			fail_msg("proxy connection %d: got %s, want 200", i, resp);
		close(prox[i]);
	}
	for (int i = 0; i < 10; i++)
		close(held[i]);
	/* A connection that sends nothing is closed after the first-byte timeout, without an answer. */
	t0 = mono_ms();
	fd = dial_from("127.0.3.3", t.gw_port, 0);
	assert_true(connected(fd, 5000));
	size_t got = cg_h_read_for(fd, resp, sizeof(resp), 5000, &eof);
	int64_t took = mono_ms() - t0;
	close(fd);
	if (!eof || got != 0 || took > 2000)
		fail_msg("silent connection: closed=%d after %lld ms with %zu bytes, want closed within 2 s, silently",
			 eof, (long long)took, got);
	/* One that starts in time has the header timeout for the rest. */
	fd = dial_from("127.0.3.3", t.gw_port, 0);
	assert_true(connected(fd, 5000));
	assert_int_equal(send(fd, "GET /healthz", 12, MSG_NOSIGNAL), 12);
	cg_h_read_for(fd, resp, sizeof(resp), 800, &eof);
	assert_false(eof);
	assert_int_equal(send(fd, " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 41, MSG_NOSIGNAL), 41);
	cg_h_read_for(fd, resp, sizeof(resp), 3000, &eof);
	close(fd);
	if (strncmp(resp, "HTTP/1.1 200", 12) != 0)
		fail_msg("slow but started request: got %s, want 200", resp);
	itest_teardown(&t, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slow_readers),
		cmocka_unit_test(test_idle_flood),
		cmocka_unit_test(test_per_address_and_first_byte),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
