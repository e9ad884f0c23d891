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
	"usage: casegate-sim --listen HOST:PORT [options]\n"
	"  --listen HOST:PORT          API and /_sim listener (port 0: any free port)\n"
	"  --control-listen HOST:PORT  a second listener for /_sim only, reachable during any outage\n"
	"  --api-key K --app-key K     keys to require (default: any non-empty value)\n"
	"  --no-auth                   accept requests without keys\n"
	"  --request-log FILE          append one JSON line per API request\n"
	"  --state FILE                keep cases, projects, case types and the rest in FILE across\n"
	"                              restarts (loaded at start, saved after changes and at exit)\n"
	"  --seed N                    reproducible ids and fault decisions\n"
	"  --project KEY=UUID          another project (repeatable; DEMO always exists)\n"
	"  --case-type UUID[=Name]     another case type (repeatable; the built-in ones always exist)\n"
	"  --custom-attribute TYPE_UUID:key:URL|TEXT|NUMBER|SELECT[:multi]\n"
	"                              a custom attribute defined for a case type (repeatable)\n"
	"  --strict-case-types         refuse cases whose type_id the simulator does not know\n"
	"  --search-lag-ms N           SearchCases finds a case only N ms after its creation\n"
	"  --search-archived           SearchCases returns archived cases too\n"
	"  --plain-errors              error bodies {\"errors\":[\"msg\"]} instead of JSON:API objects\n"
	"  --rate-limit N [--rate-period S]\n"
	"                              the bucket \"cases\" (all requests): N per S seconds (60)\n"
	"  --bucket NAME=LIMIT/PERIOD[:read|write|all]\n"
	"                              a named rate-limit bucket (repeatable; read = GET)\n"
	"  --header-drop-ratio F       fraction of 2xx answers without X-RateLimit-* headers\n"
	"  --error-ratio F             fraction answered 500/502/503 without processing\n"
	"  --drop-ratio F              fraction processed, then closed without an answer\n"
	"  --latency-ms N              delay every API answer\n"
	"  --auth-fail 0|401|403       answer every API request with this status (revoked keys)\n"
	"  --outage none|503|reset|refuse\n"
	"                              start in an outage (see README)\n"
	"  --retry-after-s N           Retry-After of outage 503 answers (0: none)\n"
	"  --outage-ms N               an outage ends by itself after N ms (0: when changed)\n"
	"  --log-level error|warn|info|debug\n"
	"  --help\n";

struct main_ctx {
	struct cg_sim sim;
	uv_signal_t sigterm, sigint;
};

static void on_signal(uv_signal_t *h, int signum)
{
	struct main_ctx *m = h->data;
	if (m->sim.closing)
		return;
	CG_LOG_INFO("signal %d: shutting down", signum);
	uv_close((uv_handle_t *)&m->sigterm, NULL);
	uv_close((uv_handle_t *)&m->sigint, NULL);
	cg_sim_stop(&m->sim);
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

/* Options that take no value. */
static const char *const flags[] = {"--no-auth", "--strict-case-types", "--search-archived", "--plain-errors"};
/* Options that take one. */
static const char *const with_value[] = {
	"--listen",	     "--control-listen", "--api-key",	     "--app-key",	 "--request-log",
	"--rate-limit",	     "--rate-period",	 "--bucket",	     "--header-drop-ratio", "--error-ratio",
	"--drop-ratio",	     "--latency-ms",	 "--seed",	     "--log-level",	 "--project",
	"--case-type",	     "--custom-attribute", "--search-lag-ms", "--auth-fail",	 "--outage",
	"--retry-after-s",   "--outage-ms",	 "--state",
};

static int in_list(const char *a, const char *const *list, size_t n)
{
	for (size_t k = 0; k < n; k++)
		if (strcmp(a, list[k]) == 0)
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	static struct main_ctx m; /* static: large, and alive for the whole run */
	char ctl_host[64] = "";
	int ctl_port = -1, rc = 1, have_seed = 0, listen_given = 0;
	unsigned long seed = 0, v;
	unsigned rate_limit = 0, rate_period = 0;
	const char *request_log = NULL, *state_path = NULL;
	const char **custom_attrs = NULL; /* applied once every --case-type is known */
	size_t ncustom = 0;
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
	snprintf(s->host, sizeof(s->host), "127.0.0.1");
	custom_attrs = calloc((size_t)argc, sizeof(*custom_attrs));
	if (!custom_attrs) {
		fprintf(stderr, "casegate-sim: out of memory\n");
		goto out;
	}

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;
		char why[200] = "";
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			fputs(usage, stdout);
			rc = 0;
			goto out;
		}
		if (in_list(a, flags, sizeof(flags) / sizeof(flags[0]))) {
			if (strcmp(a, "--no-auth") == 0)
				s->no_auth = 1;
			else if (strcmp(a, "--strict-case-types") == 0)
				s->faults.strict_case_types = 1;
			else if (strcmp(a, "--search-archived") == 0)
				s->faults.search_archived = 1;
			else
				s->faults.plain_errors = 1;
			continue;
		}
		if (!in_list(a, with_value, sizeof(with_value) / sizeof(with_value[0]))) {
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
			bad = parse_listen(val, s->host, sizeof(s->host), &s->port);
			listen_given = !bad;
		} else if (strcmp(a, "--control-listen") == 0) {
			bad = parse_listen(val, ctl_host, sizeof(ctl_host), &ctl_port);
		} else if (strcmp(a, "--api-key") == 0 || strcmp(a, "--app-key") == 0) {
			char **dst = strcmp(a, "--api-key") == 0 ? &s->api_key : &s->app_key;
			free(*dst);
			*dst = dup_str(val);
			bad = !*dst || !*val;
		} else if (strcmp(a, "--request-log") == 0) {
			request_log = val;
		} else if (strcmp(a, "--state") == 0) {
			state_path = val;
			bad = !*val;
		} else if (strcmp(a, "--rate-limit") == 0) {
			bad = parse_uint(val, 1000000000UL, &v);
			rate_limit = (unsigned)v;
		} else if (strcmp(a, "--rate-period") == 0) {
			bad = parse_uint(val, 86400, &v) || v == 0;
			rate_period = (unsigned)v;
		} else if (strcmp(a, "--bucket") == 0) {
			bad = cg_sim_parse_bucket(&s->faults, val, why, sizeof(why)) != 0;
		} else if (strcmp(a, "--header-drop-ratio") == 0) {
			bad = parse_ratio(val, &s->faults.header_drop_ratio);
		} else if (strcmp(a, "--error-ratio") == 0) {
			bad = parse_ratio(val, &s->faults.error_ratio);
		} else if (strcmp(a, "--drop-ratio") == 0) {
			bad = parse_ratio(val, &s->faults.drop_ratio);
		} else if (strcmp(a, "--latency-ms") == 0) {
			bad = parse_uint(val, 600000, &v);
			s->faults.latency_ms = (unsigned)v;
		} else if (strcmp(a, "--search-lag-ms") == 0) {
			bad = parse_uint(val, 3600000, &v);
			s->faults.search_lag_ms = (unsigned)v;
		} else if (strcmp(a, "--retry-after-s") == 0) {
			bad = parse_uint(val, 86400, &v);
			s->faults.retry_after_s = (unsigned)v;
		} else if (strcmp(a, "--outage-ms") == 0) {
			bad = parse_uint(val, 86400000, &v);
			s->faults.outage_ms = (unsigned)v;
		} else if (strcmp(a, "--auth-fail") == 0) {
			bad = parse_uint(val, 403, &v) || (v != 0 && v != 401 && v != 403);
			s->faults.auth_fail = (int)v;
			if (bad)
				snprintf(why, sizeof(why), "want 0, 401 or 403");
		} else if (strcmp(a, "--outage") == 0) {
			bad = cg_sim_parse_outage(val, &s->faults.outage) != 0;
			if (bad)
				snprintf(why, sizeof(why), "want none, 503, reset or refuse");
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
		} else if (strcmp(a, "--case-type") == 0) {
			const char *eq = strchr(val, '=');
			char id[64];
			if ((eq ? (size_t)(eq - val) : strlen(val)) >= sizeof(id)) {
				bad = 1;
			} else {
				snprintf(id, sizeof(id), "%.*s", eq ? (int)(eq - val) : (int)strlen(val), val);
				int r = cg_sim_add_case_type(s, id, eq ? eq + 1 : id);
				bad = r != 0;
				snprintf(why, sizeof(why), "%s",
					 r == CG_EEXIST ? "that case type exists already"
							: "want UUID or UUID=Name (a name of 1 to 200 bytes)");
			}
		} else if (strcmp(a, "--custom-attribute") == 0) {
			custom_attrs[ncustom++] = val;
		}
		if (bad) {
			fprintf(stderr, "casegate-sim: bad value for %s: %s%s%s\n%s", a, val, why[0] ? ": " : "", why,
				usage);
			rc = 2;
			goto out;
		}
	}
	for (size_t k = 0; k < ncustom; k++) {
		char why[200];
		if (cg_sim_add_custom_attribute(s, custom_attrs[k], why, sizeof(why)) != 0) {
			fprintf(stderr, "casegate-sim: bad value for --custom-attribute: %s: %s\n%s", custom_attrs[k], why,
				usage);
			rc = 2;
			goto out;
		}
	}
	if ((rate_limit || rate_period) && cg_sim_set_rate_limit(&s->faults, rate_limit, rate_period) != 0) {
		fprintf(stderr, "casegate-sim: --rate-limit: at most %d buckets in all\n", CG_SIM_MAX_BUCKETS);
		rc = 2;
		goto out;
	}
	if (!listen_given) {
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

	char err[512];
	/* After the command line: its projects, case types and custom attributes merge with the file's. */
	if (state_path && cg_sim_state_open(s, state_path, err, sizeof(err)) != 0) {
		fprintf(stderr, "casegate-sim: --state: %s\n", err);
		goto out;
	}
	if (cg_sim_start(s, ctl_host[0] ? ctl_host : NULL, ctl_port, err, sizeof(err)) != 0) {
		fprintf(stderr, "casegate-sim: cannot listen: %s\n", err);
		goto out;
	}
	uv_signal_init(&loop, &m.sigterm);
	uv_signal_init(&loop, &m.sigint);
	m.sigterm.data = m.sigint.data = &m;
	uv_signal_start(&m.sigterm, on_signal, SIGTERM);
	uv_signal_start(&m.sigint, on_signal, SIGINT);

	printf("casegate-sim listening on %s:%d\n", s->host, s->port);
	if (s->ctl)
		printf("casegate-sim control on %s:%d\n", ctl_host, cg_http_server_port(s->ctl));
	fflush(stdout);

	uv_run(&loop, UV_RUN_DEFAULT);
	rc = 0;
out:
	free(custom_attrs);
	if (!s->closing) { /* early exit before the loop ran: close what was opened and let it finish */
		cg_sim_stop(s);
		uv_run(&loop, UV_RUN_DEFAULT);
	}
	if (uv_loop_close(&loop) != 0) {
		fprintf(stderr, "casegate-sim: handles still open at exit\n");
		rc = 1;
	}
	cg_sim_cleanup(s);
	return rc;
}
