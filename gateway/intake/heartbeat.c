/* heartbeat.c: per-source heartbeats: deadlines checked in the store each second, "went silent" events raised and resolved once. */
#define CG_LOG_COMPONENT "heartbeat"
#include "heartbeat.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "accept.h"
#include "builder.h"
#include "err.h"
#include "log.h"
#include "pagingapi.h"
#include "sbuf.h"

/* Traffic is recorded at most this often per source (and process): the intake path stays cheap. */
#define HEARD_EVERY_MS 1000

struct hb_source {
	char *name;
	uint64_t every_ms, grace_ms;
	int priority;
	char *alert;             /* the heartbeat alert's name; NULL: any traffic */
	int email;
	int paging;              /* a paging API's source: its senders post to /v2/..., not /hooks/<name> */
	struct cg_builder *b;    /* the source's project and case type, the heartbeat's own title, key, priority */
	int64_t written_ms;      /* the latest time intake asked the store to record */
	int busy;                /* a raise or clear job is queued */
	int raised;              /* as the latest check found it (the gauge keeps it across a reload) */
	char label[160];         /* source="<name>" */
};

struct cg_heartbeat {
	struct cg_heartbeat_deps d;
	const struct cg_config *cfg;
	struct hb_source *v;
	size_t n;
	int listing;       /* the check's list job is queued */
	int need_register; /* the sources' store records are to be created (next check) */
};

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct hb_source *find(struct cg_heartbeat *hb, const char *name)
{
	for (size_t i = 0; i < hb->n; i++)
		if (strcmp(hb->v[i].name, name) == 0)
			return &hb->v[i];
	return NULL;
}

static void sources_free(struct hb_source *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].name);
		free(v[i].alert);
		cg_builder_destroy(v[i].b);
	}
	free(v);
}

int cg_heartbeat_create(const struct cg_heartbeat_deps *deps, struct cg_heartbeat **out)
{
	struct cg_heartbeat *hb = calloc(1, sizeof(*hb));
	if (!hb)
		return CG_ENOMEM;
	hb->d = *deps;
	*out = hb;
	return 0;
}

/* The source's case settings, except what the heartbeat says itself: its title, description and
 * key come from the event, its priority from `heartbeat.priority`, its attributes are its labels. */
static int source_builder(const struct cg_source_config *src, struct cg_builder **out, char *err, size_t errlen)
{
	struct cg_case_spec spec;
	cg_config_case_spec(src, &spec);
	struct cg_prio_entry prio = {.word = (char *)"silent", .prio = src->heartbeat.priority};
	spec.title = NULL;
	spec.description = NULL;
	spec.dedup_key = NULL;
	spec.priority_from = "{{severity}}";
	spec.prio_map = &prio;
	spec.nprio = 1;
	spec.prio_default = src->heartbeat.priority;
	spec.prio_default_set = 1;
	spec.attrs = NULL;
	spec.nattrs = 0;
	spec.attrs_set = 0;
	spec.default_priority_map = NULL;
	return cg_builder_create(&spec, out, err, errlen);
}

int cg_heartbeat_configure(struct cg_heartbeat *hb, const struct cg_config *cfg, char *err, size_t errlen)
{
	size_t n = 0;
	for (size_t i = 0; i < cfg->nsources; i++)
		n += cfg->sources[i].heartbeat.every_ms > 0;
	struct hb_source *v = n ? calloc(n, sizeof(*v)) : NULL;
	if (n && !v)
		return CG_ENOMEM;
	size_t k = 0;
	int rc = 0;
	for (size_t i = 0; i < cfg->nsources && rc == 0; i++) {
		const struct cg_source_config *src = &cfg->sources[i];
		if (!src->heartbeat.every_ms)
			continue;
		struct hb_source *e = &v[k++];
		e->every_ms = src->heartbeat.every_ms;
		e->grace_ms = src->heartbeat.grace_ms;
		e->priority = src->heartbeat.priority;
		e->email = src->type && strcmp(src->type, "email") == 0;
		e->paging = cg_paging_source_api(src) != CG_PAGING_NONE;
		char esc[128];
		cg_metrics_escape(src->name, esc, sizeof(esc));
		snprintf(e->label, sizeof(e->label), "source=\"%s\"", esc);
		if (!(e->name = strdup(src->name)) || (src->heartbeat.alert && !(e->alert = strdup(src->heartbeat.alert)))) {
			rc = CG_ENOMEM;
			break;
		}
		char berr[256] = "";
		if ((rc = source_builder(src, &e->b, berr, sizeof(berr))) != 0) {
			snprintf(err, errlen, "source '%s': heartbeat: %s", src->name,
				 rc == CG_EINVAL ? berr : cg_strerror(rc));
			break;
		}
		/* A reload keeps what intake recorded (no extra write for a source heard a moment ago). */
		const struct hb_source *old = find(hb, src->name);
		if (old) {
			e->written_ms = old->written_ms;
			e->raised = old->raised;
		} else {
			/* Samples from the start (0 until the first check): alert rules see the series. */
			cg_metrics_set(hb->d.metrics, "casegate_source_silent", e->label, 0);
			cg_metrics_set(hb->d.metrics, "casegate_source_last_heard_timestamp_seconds", e->label, 0);
		}
	}
	if (rc) {
		sources_free(v, k);
		return rc;
	}
	sources_free(hb->v, hb->n);
	hb->v = v;
	hb->n = n;
	hb->cfg = cfg;
	hb->need_register = n > 0;
	return 0;
}

int cg_heartbeat_is_beat(const struct cg_source_config *src, const struct cg_event *ev)
{
	const char *want = src->heartbeat.alert;
	if (!want || !src->heartbeat.every_ms)
		return 0;
	const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev->labels, "alertname"));
	if (!name)
		name = ev->title;
	return name && strcmp(name, want) == 0;
}

int64_t cg_heartbeat_heard(struct cg_heartbeat *hb, const struct cg_source_config *src, size_t alerts, size_t beats,
			   int64_t now_ms)
{
	if (!hb || !src->heartbeat.every_ms || (src->heartbeat.alert ? beats == 0 : alerts == 0))
		return 0;
	struct hb_source *e = find(hb, src->name);
	if (!e || (now_ms >= e->written_ms && now_ms - e->written_ms < HEARD_EVERY_MS))
		return 0;
	/* Counted as written now: a failed write is made good by the next traffic a second on (the
	 * silence that matters is far longer than that). */
	e->written_ms = now_ms;
	return now_ms;
}

/* ---- the event ---- */

static void fmt_time(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	if (!gmtime_r(&t, &tm) || strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, len, "%" PRId64 " ms", ms);
}

static void fmt_dur(uint64_t ms, char *buf, size_t len)
{
	if (ms < 1000) {
		snprintf(buf, len, "%llums", (unsigned long long)ms);
		return;
	}
	uint64_t s = ms / 1000, d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60;
	size_t o = 0;
	buf[0] = '\0';
	if (d)
		o += (size_t)snprintf(buf + o, len - o, "%llud", (unsigned long long)d);
	if (h && o < len)
		o += (size_t)snprintf(buf + o, len - o, "%lluh", (unsigned long long)h);
	if (m && o < len)
		o += (size_t)snprintf(buf + o, len - o, "%llum", (unsigned long long)m);
	if ((s % 60 || o == 0) && o < len)
		snprintf(buf + o, len - o, "%llus", (unsigned long long)(s % 60));
}

static char *describe(const struct hb_source *e, const struct cg_store_heartbeat *row, int raise, int64_t now)
{
	struct cg_sbuf b = {0};
	char at[64], ago[48], every[48], grace[48];
	int64_t since = row->heard_ms ? row->heard_ms : row->started_ms;
	fmt_time(since, at, sizeof(at));
	fmt_dur(now > since ? (uint64_t)(now - since) : 0, ago, sizeof(ago));
	fmt_dur(e->every_ms, every, sizeof(every));
	fmt_dur(e->grace_ms, grace, sizeof(grace));
	if (!raise) {
		char back[64];
		fmt_time(row->heard_ms, back, sizeof(back));
		fmt_dur(row->heard_ms > row->raised_ms ? (uint64_t)(row->heard_ms - row->raised_ms) : 0, ago, sizeof(ago));
		cg_sbuf_addf(&b, "casegate heard from source `%s` again at %s, %s after it raised this case.", e->name,
			     back, ago);
		return cg_sbuf_take(&b);
	}
	const char *what = e->alert ? "a firing heartbeat alert" : "anything";
	if (e->alert)
		cg_sbuf_addf(&b, "casegate has received no firing `%s` alert from source `%s`", e->alert, e->name);
	else
		cg_sbuf_addf(&b, "casegate has heard nothing from source `%s`", e->name);
	if (row->heard_ms)
		cg_sbuf_addf(&b, " since %s (%s ago).\n\n", at, ago);
	else
		cg_sbuf_addf(&b, " since it began watching it at %s (%s ago): never since the heartbeat was configured.\n\n",
			     at, ago);
	cg_sbuf_addf(&b,
		     "The source promises %s at least every %s (`heartbeat.every`); casegate allows %s more "
		     "(`heartbeat.grace`) before it calls the source silent.\n\n**What to check**\n",
		     what, every, grace);
	if (e->email) {
		cg_sbuf_add(&b, "- Is the sender running, and does it still mail the address routed to this source?\n"
				"- The mail path: the MTA's log and queue, and its route to casegate's mail listener.\n");
	} else {
		if (e->paging)
			cg_sbuf_add(&b, "- Is the sender running, and does it still post to casegate's paging API "
					"(`/v2/enqueue` or `/v2/alerts`) with this source's key?\n");
		else
			cg_sbuf_addf(&b, "- Is the sender running, and does it still post to casegate (`/hooks/%s`, its "
					 "credentials)?\n",
				     e->name);
		cg_sbuf_addf(&b,
			     "- casegate's log and `casegate_http_requests_total{source=\"%s\"}`: are its requests refused "
			     "(401, 403, 413, 429)?\n"
			     "- The network between the sender and casegate (proxy, firewall, DNS, TLS certificates).\n",
			     e->name);
	}
	if (e->alert)
		cg_sbuf_addf(&b,
			     "- Alertmanager: is the `%s` rule (`expr: vector(1)`) loaded and firing in Prometheus, and does a "
			     "route send it here with a `repeat_interval` shorter than %s?\n",
			     e->alert, every);
	cg_sbuf_add(&b, "\ncasegate resolves this alert when it hears from the source again (the source's "
			"`on_resolve` applies).");
	return cg_sbuf_take(&b);
}

/* The event of the decision, drafted like an alert of the source (the engine then treats it so). */
static int build_event(struct cg_heartbeat *hb, const struct hb_source *e, const struct cg_store_heartbeat *row,
		       int raise, int64_t now, struct cg_store_event *out)
{
	const struct cg_source_config *src = cg_config_source(hb->cfg, e->name);
	if (!src)
		return CG_ENOENT;
	struct cg_event ev = {0};
	struct cg_case_draft d;
	char title[200], err[512] = "";
	snprintf(title, sizeof(title), "casegate: source '%s' went silent", e->name);
	ev.status = raise ? CG_STATUS_FIRING : CG_STATUS_RESOLVED;
	ev.dedup_key = strdup(CG_HEARTBEAT_KEY);
	ev.severity = strdup("silent");
	ev.title = strdup(title);
	ev.description = describe(e, row, raise, now);
	ev.labels = cJSON_CreateObject();
	int rc = CG_ENOMEM;
	if (!ev.dedup_key || !ev.severity || !ev.title || !ev.description || !ev.labels ||
	    !cJSON_AddStringToObject(ev.labels, "alertname", "CasegateSourceSilent") ||
	    !cJSON_AddStringToObject(ev.labels, "source", e->name) || cg_event_build_ctx(&ev, NULL, NULL) != 0)
		goto out;
	if ((rc = cg_builder_build(e->b, &ev, &d, err, sizeof(err))) != 0) {
		CG_LOG_EV(CG_LOG_LEVEL_ERR, e->name, NULL, NULL, "heartbeat event not built: %s",
			  rc == CG_EINVAL ? err : cg_strerror(rc));
		goto out;
	}
	rc = cg_accept_event(src, &d, &ev, NULL, now, out);
	cg_case_draft_cleanup(&d);
	if (rc)
		cg_store_event_cleanup(out);
out:
	cg_event_cleanup(&ev);
	return rc;
}

/* ---- the decision: raise or clear, and its event, in one transaction ---- */

struct decide_job {
	struct cg_heartbeat *hb;
	char *name;
	int raise;
	int64_t silent_before, now;
	struct cg_store_event ev;
	int won;
};

static int decide_run(struct cg_store *st, void *ud)
{
	struct decide_job *j = ud;
	int won = 0;
	j->won = 0; /* a re-run after a rolled-back batch decides afresh */
	int rc = j->raise ? cg_store_hb_raise(st, j->name, j->silent_before, j->now, &won)
			  : cg_store_hb_clear(st, j->name, &won);
	if (rc == 0 && won)
		rc = cg_store_enqueue(st, &j->ev, 1);
	if (rc == 0)
		j->won = won;
	return rc;
}

static void decide_done(int rc, void *ud)
{
	struct decide_job *j = ud;
	struct cg_heartbeat *hb = j->hb;
	struct hb_source *e = find(hb, j->name);
	if (e)
		e->busy = 0;
	if (rc) {
		CG_LOG_EV(CG_LOG_LEVEL_WARN, j->name, j->ev.dedup_key, NULL, "heartbeat %s not stored: %s (next check retries)",
			  j->raise ? "raise" : "resolve", cg_strerror(rc));
	} else if (j->won) {
		if (j->raise)
			CG_LOG_EV(CG_LOG_LEVEL_WARN, j->name, j->ev.dedup_key, NULL,
				  "source went silent: queued event %" PRId64 " (a case at the heartbeat's priority)", j->ev.id);
		else
			CG_LOG_EV(CG_LOG_LEVEL_INFO, j->name, j->ev.dedup_key, NULL,
				  "source heard again: queued resolve event %" PRId64, j->ev.id);
		if (e) {
			e->raised = j->raise;
			cg_metrics_set(hb->d.metrics, "casegate_source_silent", e->label, e->raised);
		}
		if (hb->d.committed)
			hb->d.committed(hb->d.ud);
	}
	cg_store_event_cleanup(&j->ev);
	free(j->name);
	free(j);
}

static void decide(struct cg_heartbeat *hb, struct hb_source *e, const struct cg_store_heartbeat *row, int raise,
		   int64_t now)
{
	struct decide_job *j = calloc(1, sizeof(*j));
	if (!j || !(j->name = strdup(e->name))) {
		free(j);
		return;
	}
	j->hb = hb;
	j->raise = raise;
	j->now = now;
	j->silent_before = now - (int64_t)(e->every_ms + e->grace_ms);
	if (build_event(hb, e, row, raise, now, &j->ev) != 0) {
		free(j->name);
		free(j);
		return;
	}
	e->busy = 1;
	if (cg_storeq_submit(hb->d.q, decide_run, decide_done, j) != 0) {
		e->busy = 0;
		cg_store_event_cleanup(&j->ev);
		free(j->name);
		free(j);
	}
}

/* ---- the check: register new sources, list every heartbeat, decide on the loop ---- */

struct list_job {
	struct cg_heartbeat *hb;
	char **reg; /* sources to register first */
	size_t nreg;
	int64_t now;
	struct cg_store_heartbeat *rows;
	size_t nrows;
};

static void list_job_free(struct list_job *j)
{
	for (size_t i = 0; i < j->nreg; i++)
		free(j->reg[i]);
	free(j->reg);
	cg_store_heartbeats_free(j->rows, j->nrows);
	free(j);
}

static int list_run(struct cg_store *st, void *ud)
{
	struct list_job *j = ud;
	cg_store_heartbeats_free(j->rows, j->nrows);
	j->rows = NULL;
	j->nrows = 0;
	for (size_t i = 0; i < j->nreg; i++) {
		int rc = cg_store_hb_register(st, j->reg[i], j->now);
		if (rc)
			return rc;
	}
	return cg_store_hb_list(st, &j->rows, &j->nrows);
}

static void list_done(int rc, void *ud)
{
	struct list_job *j = ud;
	struct cg_heartbeat *hb = j->hb;
	hb->listing = 0;
	if (rc) {
		if (j->nreg)
			hb->need_register = 1;
		CG_LOG_DEBUG("heartbeat check: %s", cg_strerror(rc));
		list_job_free(j);
		return;
	}
	int64_t now = wall_ms();
	for (size_t i = 0; i < hb->n; i++) {
		struct hb_source *e = &hb->v[i];
		const struct cg_store_heartbeat *row = NULL;
		for (size_t r = 0; r < j->nrows && !row; r++)
			if (strcmp(j->rows[r].source, e->name) == 0)
				row = &j->rows[r];
		if (!row) {
			hb->need_register = 1; /* configured after this job was queued */
			continue;
		}
		e->raised = row->raised != 0;
		cg_metrics_set(hb->d.metrics, "casegate_source_silent", e->label, e->raised);
		cg_metrics_set(hb->d.metrics, "casegate_source_last_heard_timestamp_seconds", e->label,
			       (double)row->heard_ms / 1000.0);
		if (e->busy)
			continue;
		int64_t last = row->heard_ms > row->started_ms ? row->heard_ms : row->started_ms;
		if (!row->raised && now - last > (int64_t)(e->every_ms + e->grace_ms))
			decide(hb, e, row, 1, now);
		else if (row->raised && row->heard_ms > row->raised_ms)
			decide(hb, e, row, 0, now);
	}
	list_job_free(j);
}

void cg_heartbeat_tick(struct cg_heartbeat *hb)
{
	if (!hb || hb->n == 0 || hb->listing)
		return;
	struct list_job *j = calloc(1, sizeof(*j));
	if (!j)
		return;
	j->hb = hb;
	j->now = wall_ms();
	if (hb->need_register) {
		if (!(j->reg = calloc(hb->n, sizeof(*j->reg)))) {
			free(j);
			return;
		}
		for (size_t i = 0; i < hb->n; i++) {
			if (!(j->reg[j->nreg] = strdup(hb->v[i].name))) {
				list_job_free(j);
				return;
			}
			j->nreg++;
		}
		hb->need_register = 0;
	}
	hb->listing = 1;
	if (cg_storeq_submit(hb->d.q, list_run, list_done, j) != 0) {
		hb->listing = 0;
		hb->need_register = j->nreg > 0 || hb->need_register;
		list_job_free(j);
	}
}

void cg_heartbeat_destroy(struct cg_heartbeat *hb)
{
	if (!hb)
		return;
	sources_free(hb->v, hb->n);
	free(hb);
}
