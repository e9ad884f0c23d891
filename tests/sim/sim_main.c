/* sim_main.c: casegate-sim command line: parses flags, runs the HTTP server until SIGTERM/SIGINT. */
#define _POSIX_C_SOURCE 200809L
#include "sim.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CG_LOG_COMPONENT "sim"
#include "err.h"
#include "log.h"

static const char usage[] =
	"usage: casegate-sim --listen HOST:PORT [--api-key K --app-key K | --no-auth]\n"
	"                    [--request-log FILE] [--rate-limit N [--rate-period S]]\n"
	"                    [--error-ratio F] [--latency-ms N] [--drop-ratio F] [--seed N]\n"
	"                    [--project KEY=UUID ...] [--log-level error|warn|info|debug]\n";

struct main_ctx {
	struct cg_sim sim;
	uv_signal_t sigterm, sigint;
};

static void on_server_closed(void *ud)
{
	(void)ud;
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct main_ctx *m = h->data;
	if (m->sim.closing)
		return;
	CG_LOG_INFO("signal %d: shutting down", signum);
	m->sim.closing = 1;
	uv_close((uv_handle_t *)&m->sigterm, NULL);
	uv_close((uv_handle_t *)&m->sigint, NULL);
	cg_sim_flush_pending(&m->sim);
	cg_http_server_close(m->sim.srv, on_server_closed, m);
	m->sim.srv = NULL;
}

static int parse_ratio(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || end == s || !(v >= 0 && v <= 1))
		return -1;
	*out = v;
	return 0;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	errno = 0;
	if (*s == '-')
		return -1;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || end == s || v > max)
		return -1;
	*out = (unsigned long)v;
	return 0;
}

/* Splits "host:port"; host must fit. */
static int parse_listen(const char *s, char *host, size_t hostlen, int *port)
{
	const char *colon = strrchr(s, ':');
	unsigned long p;
	if (!colon || (size_t)(colon - s) >= hostlen || colon == s || parse_uint(colon + 1, 65535, &p) != 0)
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	*port = (int)p;
	return 0;
}

static char *dup_str(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = malloc(n);
	if (d)
		memcpy(d, s, n);
	return d;
}

int main(int argc, char **argv)
{
	static struct main_ctx m; /* static: large, and alive for the whole run */
	char host[64] = "127.0.0.1";
	int port = -1, rc = 1, have_seed = 0;
	unsigned long seed = 0, v;
	const char *request_log = NULL;
	uv_loop_t loop;

	signal(SIGPIPE, SIG_IGN);
	if (uv_loop_init(&loop) != 0) {
		fprintf(stderr, "casegate-sim: uv_loop_init failed\n");
		return 1;
	}
	/* Seed first-pass scan so ids are reproducible with --seed. */
	for (int i = 1; i + 1 < argc; i++) {
		if (strcmp(argv[i], "--seed") == 0) {
			if (parse_uint(argv[i + 1], ~0UL, &seed) != 0) {
				fprintf(stderr, "casegate-sim: bad --seed\n%s", usage);
				return 2;
			}
			have_seed = 1;
		}
	}
	if (!have_seed) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		seed = (unsigned long)ts.tv_sec ^ ((unsigned long)ts.tv_nsec << 20) ^ ((unsigned long)getpid() << 40);
	}
	if (cg_sim_init(&m.sim, &loop, seed) != 0) {
		fprintf(stderr, "casegate-sim: out of memory\n");
		return 1;
	}
	struct cg_sim *s = &m.sim;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			fputs(usage, stdout);
			rc = 0;
			goto out;
		}
		if (strcmp(a, "--no-auth") == 0) {
			s->no_auth = 1;
			continue;
		}
		static const char *const with_value[] = {"--listen", "--api-key", "--app-key", "--request-log",
							 "--rate-limit", "--rate-period", "--error-ratio", "--drop-ratio",
							 "--latency-ms", "--seed", "--log-level", "--project"};
		int known = 0;
		for (size_t k = 0; k < sizeof(with_value) / sizeof(with_value[0]); k++)
			known |= strcmp(a, with_value[k]) == 0;
		if (!known) {
			fprintf(stderr, "casegate-sim: unknown option %s\n%s", a, usage);
			rc = 2;
			goto out;
		}
		if (!val) {
			fprintf(stderr, "casegate-sim: %s needs a value\n%s", a, usage);
			rc = 2;
			goto out;
		}
		i++;
		int bad = 0;
		if (strcmp(a, "--listen") == 0) {
			bad = parse_listen(val, host, sizeof(host), &port);
		} else if (strcmp(a, "--api-key") == 0 || strcmp(a, "--app-key") == 0) {
			char **dst = strcmp(a, "--api-key") == 0 ? &s->api_key : &s->app_key;
			free(*dst);
			*dst = dup_str(val);
			bad = !*dst || !*val;
		} else if (strcmp(a, "--request-log") == 0) {
			request_log = val;
		} else if (strcmp(a, "--rate-limit") == 0) {
			bad = parse_uint(val, 1000000000UL, &v);
			s->faults.rate_limit = (unsigned)v;
		} else if (strcmp(a, "--rate-period") == 0) {
			bad = parse_uint(val, 86400, &v) || v == 0;
			s->faults.rate_period = (unsigned)v;
		} else if (strcmp(a, "--error-ratio") == 0) {
			bad = parse_ratio(val, &s->faults.error_ratio);
		} else if (strcmp(a, "--drop-ratio") == 0) {
			bad = parse_ratio(val, &s->faults.drop_ratio);
		} else if (strcmp(a, "--latency-ms") == 0) {
			bad = parse_uint(val, 600000, &v);
			s->faults.latency_ms = (unsigned)v;
		} else if (strcmp(a, "--seed") == 0) {
			/* handled above */
		} else if (strcmp(a, "--log-level") == 0) {
			enum cg_log_level lvl;
			bad = cg_log_level_parse(val, &lvl) != 0;
			if (!bad)
				cg_log_setup(lvl, CG_LOG_TEXT);
		} else if (strcmp(a, "--project") == 0) {
			const char *eq = strchr(val, '=');
			char key[32];
			if (!eq || (size_t)(eq - val) >= sizeof(key)) {
				bad = 1;
			} else {
				memcpy(key, val, (size_t)(eq - val));
				key[eq - val] = '\0';
				bad = cg_sim_add_project(s, key, eq + 1, key) != 0;
			}
		} else {
			fprintf(stderr, "casegate-sim: unknown option %s\n%s", a, usage);
			rc = 2;
			goto out;
		}
		if (bad) {
			fprintf(stderr, "casegate-sim: bad value for %s: %s\n%s", a, val, usage);
			rc = 2;
			goto out;
		}
	}
	if (port < 0) {
		fprintf(stderr, "casegate-sim: --listen is required\n%s", usage);
		rc = 2;
		goto out;
	}
	if (request_log) {
		s->request_log = fopen(request_log, "a");
		if (!s->request_log) {
			fprintf(stderr, "casegate-sim: cannot open %s: %s\n", request_log, strerror(errno));
			goto out;
		}
	}
	s->window_start_ms = uv_now(&loop);

	struct cg_http_limits lim;
	char err[256];
	cg_http_limits_default(&lim);
	if (cg_http_server_create(&loop, host, port, &lim, cg_sim_handle, s, &s->srv, err, sizeof(err)) != 0) {
		fprintf(stderr, "casegate-sim: cannot listen on %s:%d: %s\n", host, port, err);
		goto out;
	}
	uv_signal_init(&loop, &m.sigterm);
	uv_signal_init(&loop, &m.sigint);
	m.sigterm.data = m.sigint.data = &m;
	uv_signal_start(&m.sigterm, on_signal, SIGTERM);
	uv_signal_start(&m.sigint, on_signal, SIGINT);

	printf("casegate-sim listening on %s:%d\n", host, cg_http_server_port(s->srv));
	fflush(stdout);

	uv_run(&loop, UV_RUN_DEFAULT);
	rc = 0;
out:
	if (s->srv) { /* early exit before the loop ran: close the server and let it finish */
		cg_http_server_close(s->srv, on_server_closed, &m);
		s->srv = NULL;
		uv_run(&loop, UV_RUN_DEFAULT);
	}
	if (uv_loop_close(&loop) != 0) {
		fprintf(stderr, "casegate-sim: handles still open at exit\n");
		rc = 1;
	}
	cg_sim_cleanup(s);
	return rc;
}
