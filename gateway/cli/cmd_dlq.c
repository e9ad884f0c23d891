/* cmd_dlq.c: `casegate dlq`: list, show, retry and drop dead letters (the daemon may be running). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "config.h"
#include "err.h"
#include "store.h"
#include "store_open.h"

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

int cg_cmd_dlq(struct cg_cli *c)
{
	const struct cg_cli_args *a = &c->a;
	if (a->npos < 1) {
		c->usage(stderr);
		return 2;
	}
	struct cg_config *cfg = cg_cli_config(c);
	if (!cfg)
		return 1;
	struct cg_store *st = NULL;
	char err[256];
	int rc = 1;
	/* The daemon may be running: opened as a tool, the store leaves its in-flight events alone.
	 * SQLite: an existing store only; created here it would belong to the operator's user, not
	 * the daemon's, and list an empty queue as if all were well. */
	if ((cfg->store_backend == CG_STORE_POSTGRES ? cg_store_open_config(cfg, 0, &st, err, sizeof(err))
						      : cg_store_sqlite_open_existing(cfg->state_dir, &st, err, sizeof(err))) != 0) {
		fprintf(stderr, "casegate dlq: %s\n", err);
		goto out;
	}
	/* A retried letter is ranked again from when it arrived, with the configured aging. */
	st->aging_ms = (int64_t)cfg->priority_aging_ms;
	const char *verb = a->pos[0];
	if (strcmp(verb, "list") == 0) {
		struct cg_dead_letter *dl = NULL;
		size_t n = 0;
		if (cg_store_dead_list(st, 1000, &dl, &n) == 0) {
			/* A header over the rows; an empty list says so (nothing printed looked like a
			 * failure). Rows still begin with their id, for scripts. */
			if (n == 0)
				printf("no dead letters\n");
			else
				printf("ID\tFAILED\tSOURCE\tKEY\tSTATUS\tREASON\n");
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
		c->usage(stderr);
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
