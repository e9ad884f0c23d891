/* main.c: the casegate command line: run, check-config, map, dlq, version. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ddclient.h"

#include "app.h"
#include "builder.h"
#include "builders.h"
#include "config.h"
#include "engine.h"
#include "err.h"
#include "lifecycle.h"
#include "log.h"
#include "mail.h"
#include "mailin.h"
#include "provision.h"
#include "online.h"
#include "opscli.h"
#include "registry.h"
#include "store.h"
#include "store_open.h"

#define CG_VERSION "0.1.0"

static void usage(FILE *f)
{
	fprintf(f, "usage:\n"
		   "  casegate run -c FILE [--datadog-url URL]   run the daemon\n"
		   "  casegate check-config -c FILE [--online [--datadog-url URL]]\n"
		   "                                             validate FILE; every error as file:line:col;\n"
		   "                                             --online also asks Datadog (keys, projects, case types)\n"
		   "  casegate map -c FILE --source NAME [PAYLOAD|-]\n"
		   "                                             dry run: print the case events a payload yields\n"
		   "  casegate mail -c FILE --source NAME [--sender ADDR] < MESSAGE\n"
		   "                                             queue one e-mail (pipe mode; exit 0, 65, 67 or 75)\n"
		   "  casegate dlq list|show ID|retry ID|drop ID -c FILE\n"
		   "  casegate dlq retry --all|drop --all -c FILE\n"
		   "                                             inspect and act on dead letters\n"
		   "  casegate migrate -c FILE                   create or upgrade the store's schema\n"
		   "  casegate provision -c FILE --plan|--apply  reconcile the config's provision: section with Datadog\n"
		   "  casegate maintenance start|end -c FILE --project KEY [--duration 1h]\n"
		   "                                             open or end a project's maintenance window\n"
		   "  casegate reload -c FILE                    validate FILE, then make the running daemon reload it\n"
		   "  casegate status -c FILE [--json]           queue depth, oldest item, dead letters, last delivery per source\n"
		   "  casegate mappers                           list source types\n"
		   "  casegate version\n");
}

struct args {
	const char *config;
	const char *source;
	const char *dd_url;
	const char *sender;
	const char *pos[4];
	int npos;
	int json;
	int all;    /* dlq retry/drop --all */
	int online; /* check-config --online */
};

static int parse_args(int argc, char **argv, struct args *a)
{
	memset(a, 0, sizeof(*a));
	for (int i = 2; i < argc; i++) {
		if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc)
			a->config = argv[++i];
		else if (strcmp(argv[i], "--source") == 0 && i + 1 < argc)
			a->source = argv[++i];
		else if (strcmp(argv[i], "--datadog-url") == 0 && i + 1 < argc)
			a->dd_url = argv[++i];
		else if (strcmp(argv[i], "--all") == 0)
			a->all = 1;
		else if (strcmp(argv[i], "--sender") == 0 && i + 1 < argc)
			a->sender = argv[++i];
		else if (strcmp(argv[i], "--json") == 0)
			a->json = 1;
		else if (strcmp(argv[i], "--online") == 0)
			a->online = 1;
		else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			fprintf(stderr, "casegate: unknown option %s\n", argv[i]);
			return -1;
		} else if (a->npos < 4)
			a->pos[a->npos++] = argv[i];
		else {
			fprintf(stderr, "casegate: too many arguments\n");
			return -1;
		}
	}
	if (!a->config) {
		fprintf(stderr, "casegate: -c FILE is required\n");
		return -1;
	}
	return 0;
}

static struct cg_config *load_config(const char *path, int print_warnings)
{
	struct cg_config *cfg = NULL;
	char *errs = NULL;
	int rc = cg_config_load(path, &cfg, &errs);
	if (rc) {
		if (errs)
			fprintf(stderr, "%s%s", errs, errs[0] && errs[strlen(errs) - 1] == '\n' ? "" : "\n");
		else
			fprintf(stderr, "%s: %s\n", path, cg_strerror(rc));
		free(errs);
		return NULL;
	}
	free(errs);
	/* Non-fatal findings (world-readable secrets, auth: none on a public address). The daemon
	 * logs them itself, in its log format. */
	if (print_warnings && cfg->warnings)
		fprintf(stderr, "%s%s", cfg->warnings,
			cfg->warnings[0] && cfg->warnings[strlen(cfg->warnings) - 1] == '\n' ? "" : "\n");
	return cfg;
}

static struct cg_config *load_or_report(const char *path)
{
	return load_config(path, 1);
}

static char *read_all(FILE *f, size_t *len)
{
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap);
	if (!buf)
		return NULL;
	for (;;) {
		if (n + 1 >= cap) {
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				return NULL;
			}
			buf = nb;
			cap *= 2;
		}
		size_t r = fread(buf + n, 1, cap - n - 1, f);
		if (r == 0)
			break;
		n += r;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

static int cmd_map(const struct args *a)
{
	if (!a->source) {
		fprintf(stderr, "casegate map: --source NAME is required\n");
		return 2;
	}
	struct cg_config *cfg = load_or_report(a->config);
	if (!cfg)
		return 1;
	int rc = 1;
	char *text = NULL;
	cJSON *payload = NULL;
	struct cg_builder *b = NULL;
	struct cg_event_list events;
	cg_event_list_init(&events);
	const struct cg_source_config *src = cg_config_source(cfg, a->source);
	if (!src) {
		fprintf(stderr, "casegate map: no source named '%s' in %s\n", a->source, a->config);
		goto out;
	}
	const char *file = a->npos > 0 ? a->pos[0] : "-";
	FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "rb");
	if (!f) {
		fprintf(stderr, "casegate map: cannot open %s\n", file);
		goto out;
	}
	size_t len = 0;
	text = read_all(f, &len);
	if (f != stdin)
		fclose(f);
	if (!text)
		goto out;
	const char *end = NULL;
	int is_email = src->type && strcmp(src->type, "email") == 0;
	if (is_email) {
		/* An email source maps a message (.eml): parse it as the listener would. */
		char perr[256] = "";
		struct cg_mail_limits lim;
		cg_mail_limits_default(&lim);
		lim.max_parts = cfg->mail.max_parts;
		int prc = cg_mail_parse(text, len, &lim, &payload, perr, sizeof(perr));
		if (prc) {
			fprintf(stderr, "casegate map: %s\n", prc == CG_EINVAL || prc == CG_E2BIG ? perr : cg_strerror(prc));
			goto out;
		}
	} else {
		payload = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	}
	if (!payload) {
		fprintf(stderr, "casegate map: invalid JSON near byte %td\n", end ? end - text : 0);
		goto out;
	}
	if (!src->mapper) {
		fprintf(stderr, "casegate map: source '%s' (type %s) takes Datadog's case events, not alerts\n", src->name,
			src->type);
		goto out;
	}
	struct cg_case_spec spec;
	cg_config_case_spec(src, &spec);
	char err[512] = "";
	if (cg_builder_create(&spec, &b, err, sizeof(err)) != 0) {
		fprintf(stderr, "casegate map: source '%s': %s\n", src->name, err);
		goto out;
	}
	struct cg_map_opts opts = {.group_by = src->group_by, .mail_rules = src->mail_rules};
	int mrc = src->mapper->map(payload, &opts, &events, err, sizeof(err));
	if (mrc) {
		fprintf(stderr, "casegate map: %s payload not understood: %s\n", src->type,
			mrc == CG_EINVAL ? err : cg_strerror(mrc));
		goto out;
	}
	if (events.n == 0) {
		fprintf(stderr, "casegate map: ignored: %s\n", events.ignored_reason[0] ? events.ignored_reason : "no alerts");
		rc = 0;
		goto out;
	}
	rc = 0;
	for (size_t i = 0; i < events.n; i++) {
		struct cg_case_draft d;
		if (cg_builder_build(b, &events.v[i], &d, err, sizeof(err)) != 0) {
			fprintf(stderr, "casegate map: alert %zu skipped: %s\n", i, err);
			rc = 1;
			continue;
		}
		struct cg_store_case none = {.state = CG_CASE_NONE};
		enum cg_action act = cg_lifecycle_decide((int)d.status, d.priority, &none, src, 0);
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "source", src->name);
		cJSON_AddStringToObject(o, "dedup_key", d.dedup_key);
		cJSON_AddStringToObject(o, "status", d.status == CG_STATUS_RESOLVED  ? "resolved"
						     : d.status == CG_STATUS_COMMENT ? "comment"
										     : "firing");
		cJSON_AddStringToObject(o, "priority", cg_priority_name(d.priority));
		cJSON_AddStringToObject(o, "action", cg_action_name(act));
		if (act == CG_ACT_CREATE) {
			char marker[40];
			cJSON *req = cJSON_AddObjectToObject(o, "request");
			cJSON_AddStringToObject(req, "method", "POST");
			cJSON_AddStringToObject(req, "path", "/api/v2/cases");
			cJSON *body = cg_engine_create_body(d.create, d.dedup_key, 1, NULL, marker);
			if (body)
				cJSON_AddItemToObject(req, "body", body);
			if (d.attributes) {
				cJSON *then = cJSON_AddObjectToObject(o, "then");
				cJSON_AddStringToObject(then, "method", "POST");
				cJSON_AddStringToObject(then, "path", "/api/v2/cases/{case_id}/attributes");
				cJSON_AddItemToObject(then, "body", cg_body_attributes(d.attributes));
			}
		} else {
			cJSON_AddNullToObject(o, "request");
		}
		char *line = cJSON_PrintUnformatted(o);
		if (line)
			printf("%s\n", line);
		cJSON_free(line);
		cJSON_Delete(o);
		cg_case_draft_cleanup(&d);
	}
out:
	cg_event_list_cleanup(&events);
	cg_builder_destroy(b);
	cJSON_Delete(payload);
	free(text);
	cg_config_free(cfg);
	return rc;
}

/* Pipe mode for aliases and procmail: one message on stdin, sysexits codes like RT's mail gateway. */
static int cmd_mail(const struct args *a)
{
	if (!a->source) {
		fprintf(stderr, "casegate mail: --source NAME is required\n");
		return 64; /* EX_USAGE */
	}
	struct cg_config *cfg = load_or_report(a->config);
	if (!cfg)
		return 78; /* EX_CONFIG */
	size_t len = 0;
	char *raw = read_all(stdin, &len);
	if (!raw) {
		cg_config_free(cfg);
		fprintf(stderr, "casegate mail: out of memory reading the message\n");
		return 75;
	}
	char msg[512] = "";
	int code = cg_mailin_pipe(cfg, a->source, raw, len, a->sender, msg, sizeof(msg));
	fprintf(stderr, "casegate mail: %s\n", msg);
	free(raw);
	cg_config_free(cfg);
	return code;
}

static void print_dead(const struct cg_dead_letter *d, int full)
{
	char when[32];
	time_t t = (time_t)(d->failed_ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf("%" PRId64 "\t%s\t%s\t%s\tHTTP %d\t%s\n", d->id, when, d->ev.source ? d->ev.source : "-",
	       d->ev.dedup_key ? d->ev.dedup_key : "-", d->http_status, d->reason ? d->reason : "");
	if (full)
		printf("payload: %s\n", d->ev.payload ? d->ev.payload : "");
}

/* Retries (oldest first, so each key keeps its order) or drops every dead letter. */
static int dlq_all(struct cg_store *st, int retry)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t now = (int64_t)ts.tv_sec * 1000;
	long long done = 0;
	for (;;) {
		struct cg_dead_letter *dl = NULL;
		size_t n = 0;
		int r = cg_store_dead_list(st, 1000, &dl, &n);
		if (r) {
			fprintf(stderr, "casegate dlq: %s\n", cg_strerror(r));
			return 1;
		}
		for (size_t i = 0; i < n && r == 0; i++) {
			r = retry ? cg_store_dead_retry(st, dl[i].id, now) : cg_store_dead_drop(st, dl[i].id);
			if (r)
				fprintf(stderr, "casegate dlq %s %" PRId64 ": %s\n", retry ? "retry" : "drop", dl[i].id,
					cg_strerror(r));
			else
				done++;
		}
		cg_dead_letters_free(dl, n);
		if (r)
			return 1;
		if (n == 0)
			break;
	}
	printf("%lld dead letter(s) %s\n", done, retry ? "queued again" : "dropped");
	return 0;
}

static int cmd_dlq(const struct args *a)
{
	if (a->npos < 1) {
		usage(stderr);
		return 2;
	}
	struct cg_config *cfg = load_or_report(a->config);
	if (!cfg)
		return 1;
	struct cg_store *st = NULL;
	char err[256];
	int rc = 1;
	/* The daemon may be running: opened as a tool, the store leaves its in-flight events alone. */
	if (cg_store_open_config(cfg, 0, &st, err, sizeof(err)) != 0) {
		fprintf(stderr, "casegate dlq: %s\n", err);
		goto out;
	}
	const char *verb = a->pos[0];
	if (strcmp(verb, "list") == 0) {
		struct cg_dead_letter *dl = NULL;
		size_t n = 0;
		if (cg_store_dead_list(st, 1000, &dl, &n) == 0) {
			for (size_t i = 0; i < n; i++)
				print_dead(&dl[i], 0);
			cg_dead_letters_free(dl, n);
			rc = 0;
		}
		goto out;
	}
	if (a->all && (strcmp(verb, "retry") == 0 || strcmp(verb, "drop") == 0)) {
		rc = dlq_all(st, strcmp(verb, "retry") == 0);
		goto out;
	}
	if (a->npos < 2) {
		fprintf(stderr, "casegate dlq %s: ID required (or --all for retry and drop)\n", verb);
		goto out;
	}
	char *end = NULL;
	long long id = strtoll(a->pos[1], &end, 10);
	if (!end || *end || id <= 0) {
		fprintf(stderr, "casegate dlq: bad id '%s'\n", a->pos[1]);
		goto out;
	}
	int r;
	if (strcmp(verb, "show") == 0) {
		struct cg_dead_letter d;
		r = cg_store_dead_get(st, id, &d);
		if (r == 0) {
			print_dead(&d, 1);
			cg_dead_letter_cleanup(&d);
		}
	} else if (strcmp(verb, "retry") == 0) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		r = cg_store_dead_retry(st, id, (int64_t)ts.tv_sec * 1000);
		if (r == 0)
			printf("dead letter %lld queued again\n", id);
	} else if (strcmp(verb, "drop") == 0) {
		r = cg_store_dead_drop(st, id);
		if (r == 0)
			printf("dead letter %lld dropped\n", id);
	} else {
		usage(stderr);
		goto out;
	}
	if (r)
		fprintf(stderr, "casegate dlq %s %lld: %s\n", verb, id, cg_strerror(r));
	rc = r ? 1 : 0;
out:
	cg_store_close(st);
	cg_config_free(cfg);
	return rc;
}
/* `casegate migrate`: the schema upgrade as its own step (e.g. a deploy job before a rollout). */
static int cmd_migrate(const struct args *a)
{
	struct cg_config *cfg = load_or_report(a->config);
	if (!cfg)
		return 1;
	char msg[768] = "";
	int rc = cg_store_migrate_config(cfg, msg, sizeof(msg));
	if (rc)
		fprintf(stderr, "casegate migrate: %s\n", msg[0] ? msg : cg_strerror(rc));
	else
		printf("%s\n", msg);
	cg_config_free(cfg);
	return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		printf("casegate %s\n", CG_VERSION);
		return 0;
	}
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "mappers") == 0) {
		for (const struct cg_mapper *const *m = cg_mapper_all(); *m; m++)
			printf("%-14s %s\n", (*m)->name, (*m)->description);
		return 0;
	}
	if (strcmp(cmd, "provision") == 0)
		return cg_provision_cli(argc, argv, stdout, stderr);
	if (strcmp(cmd, "maintenance") == 0)
		return cg_maintenance_cli(argc, argv, stdout, stderr);
	struct args a;
	if (strcmp(cmd, "run") != 0 && strcmp(cmd, "check-config") != 0 && strcmp(cmd, "map") != 0 &&
	    strcmp(cmd, "dlq") != 0 && strcmp(cmd, "mail") != 0 && strcmp(cmd, "migrate") != 0 &&
	    strcmp(cmd, "reload") != 0 && strcmp(cmd, "status") != 0) {
		fprintf(stderr, "casegate: unknown command '%s'\n", cmd);
		usage(stderr);
		return 2;
	}
	if (parse_args(argc, argv, &a) != 0) {
		usage(stderr);
		return 2;
	}
	if (strcmp(cmd, "check-config") == 0) {
		struct cg_config *cfg = load_or_report(a.config);
		if (!cfg)
			return 1;
		struct cg_builder **b = NULL;
		char err[512];
		int rc = cg_builders_create(cfg, &b, err, sizeof(err));
		if (rc) {
			fprintf(stderr, "%s: %s\n", a.config, err);
		} else {
			if (cfg->warnings)
				fprintf(stderr, "%s\n", cfg->warnings);
			printf("%s: ok (%zu source(s))\n", a.config, cfg->nsources);
			cg_builders_free(b, cfg->nsources);
			if (a.online)
				rc = cg_check_online(cfg, a.dd_url, stdout, stderr);
		}
		cg_config_free(cfg);
		return rc ? 1 : 0;
	}
	if (strcmp(cmd, "map") == 0)
		return cmd_map(&a);
	if (strcmp(cmd, "dlq") == 0)
		return cmd_dlq(&a);
	if (strcmp(cmd, "mail") == 0)
		return cmd_mail(&a);
	if (strcmp(cmd, "migrate") == 0)
		return cmd_migrate(&a);
	if (strcmp(cmd, "reload") == 0)
		return cg_cli_reload(a.config, 10000, stdout, stderr);
	if (strcmp(cmd, "status") == 0)
		return cg_cli_status(a.config, a.json, stdout, stderr);
	struct cg_config *cfg = load_config(a.config, 0);
	if (!cfg)
		return 1;
	if (cg_dd_global_init() != 0) {
		fprintf(stderr, "casegate: libcurl initialisation failed\n");
		cg_config_free(cfg);
		return 1;
	}
	int rc = cg_app_run(cfg, a.config, a.dd_url);
	cg_dd_global_cleanup();
	return rc;
}
