/* mailin.c: e-mail intake: LMTP/SMTP messages and pipe mode become durable events or threaded comments. */
#define CG_LOG_COMPONENT "mail"
#include "mailin.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "accept.h"
#include "state.h"
#include "email.h"
#include "err.h"
#include "lmtp.h"
#include "log.h"
#include "mail.h"
#include "mailrules.h"
#include "mailtrust.h"
#include "payload.h"
#include "store_open.h"

#include <fnmatch.h>

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the plan ---- */

void cg_mail_plan_free(struct cg_mail_plan *p)
{
	if (!p)
		return;
	free(p->source);
	free(p->message_id);
	for (size_t i = 0; i < p->nrefs; i++)
		free(p->refs[i]);
	free(p->refs);
	free(p->comment_payload);
	if (p->evs)
		cg_store_events_free(p->evs, p->nevs);
	cg_storm_fold_cleanup(&p->fold);
	free(p->target);
	free(p);
}

static int add_ref(struct cg_mail_plan *p, const char *id)
{
	if (!id || !*id)
		return 0;
	for (size_t i = 0; i < p->nrefs; i++)
		if (strcmp(p->refs[i], id) == 0)
			return 0;
	char **n = realloc(p->refs, (p->nrefs + 1) * sizeof(*n));
	if (!n)
		return CG_ENOMEM;
	p->refs = n;
	if (!(p->refs[p->nrefs] = strdup(id)))
		return CG_ENOMEM;
	p->nrefs++;
	return 0;
}

/* {"summary": text, "comment_only": true}: what the engine needs for a note. */
static char *note_payload(const char *text)
{
	struct cg_payload_in in = {.summary = text, .comment_only = 1};
	return cg_payload_encode(&in);
}

static int on_alert_list(const char *addr, const void *ud)
{
	return cg_mail_rules_sender_ok(ud, addr);
}

static int on_reply_list(const char *addr, const void *ud)
{
	const struct cg_source_config *src = ud;
	for (size_t i = 0; i < src->nreply_senders; i++)
		if (fnmatch(src->reply_senders[i], addr, 0) == 0)
			return 1;
	return 0;
}

int cg_mail_plan_build(const struct cg_source_config *src, const struct cg_builder *b, const cJSON *mail,
		       const char *authserv_id, int64_t now, struct cg_mail_plan **out, char *err, size_t errlen)
{
	struct cg_mail_plan *p = calloc(1, sizeof(*p));
	struct cg_event_list events;
	char *comment = NULL;
	int rc = CG_ENOMEM;
	cg_event_list_init(&events);
	if (!p)
		return CG_ENOMEM;
	if (!(p->source = strdup(src->name)))
		goto out;
	const char *mid = cg_json_str(mail, "message_id");
	if (mid && !(p->message_id = strdup(mid)))
		goto out;
	if (add_ref(p, cg_json_str(mail, "in_reply_to")))
		goto out;
	const cJSON *refs = cJSON_GetObjectItemCaseSensitive(mail, "references");
	for (int i = cJSON_GetArraySize(refs) - 1; i >= 0; i--) {
		const cJSON *r = cJSON_GetArrayItem(refs, i);
		if (cJSON_IsString(r) && add_ref(p, r->valuestring))
			goto out;
	}
	cg_email_subject_case_key(cg_json_str(mail, "subject"), p->case_key);
	if (!(comment = cg_email_comment_text(mail, CG_COMMENT_MAX)) || !(p->comment_payload = note_payload(comment)))
		goto out;

	int matched = 0;
	char merr[256] = "";
	rc = cg_email_map(mail, src->mail_rules, &events, &matched, merr, sizeof(merr));
	if (rc == CG_EINVAL) {
		snprintf(p->reason_code, sizeof(p->reason_code), "invalid");
		snprintf(p->reason, sizeof(p->reason), "%.150s", merr);
		rc = 0;
	} else if (rc) {
		goto out;
	}
	rc = CG_ENOMEM;
	char why[256];
	const char *noise = cg_mail_noise(mail, 0, why, sizeof(why));
	/* Threading is for people: a rule-recognised alert or machine mail never becomes a comment. */
	int reply = !noise && matched == 0 && (p->nrefs || p->case_key[0]) && !cg_mail_noise(mail, 1, why, sizeof(why));
	/*
	 * Who may act through this source: the rules' alert_senders raise alerts (none given:
	 * anyone), reply_senders (else alert_senders, else nobody) comment by replying. From, the
	 * envelope and, with authserv_id, the MTA's Authentication-Results must agree: a header
	 * From alone is whatever the sender wrote.
	 */
	int alert_list = src->mail_rules && !cg_mail_rules_sender_ok(src->mail_rules, NULL);
	char awhy[256] = "", rwhy[256] = "";
	int alert_ok = !noise && (!alert_list || cg_mail_sender_trusted(mail, authserv_id, on_alert_list, src->mail_rules,
									    awhy, sizeof(awhy)));
	int reply_ok = 0;
	if (reply && src->nreply_senders) {
		reply_ok = cg_mail_sender_trusted(mail, authserv_id, on_reply_list, src, rwhy, sizeof(rwhy));
	} else if (reply && alert_list) {
		reply_ok = alert_ok;
		snprintf(rwhy, sizeof(rwhy), "%s", awhy);
	} else if (reply) {
		snprintf(rwhy, sizeof(rwhy), "this source takes no replies (no reply_senders or alert_senders)");
	}
	p->may_thread = reply && reply_ok;
	p->reply_to_closed = src->reply_to_closed;
	p->heartbeat = src->heartbeat.every_ms > 0;
	cg_storm_rule_of(src, &p->storm);
	if (!noise && !alert_ok) {
		/* Not an alert sender: nothing of this mail is queued (a reply it may be, see below). */
		for (size_t i = 0; i < events.n; i++)
			cg_event_cleanup(&events.v[i]);
		events.n = 0;
		snprintf(p->reason_code, sizeof(p->reason_code), "sender");
		snprintf(p->reason, sizeof(p->reason), "not an alert sender: %.200s", awhy);
	}
	if (reply && !reply_ok && events.n == 0) {
		snprintf(p->reason_code, sizeof(p->reason_code), "reply_sender");
		snprintf(p->reason, sizeof(p->reason), "a reply, not threaded: %.200s", rwhy[0] ? rwhy : awhy);
	}
	if (events.n == 0 && !p->reason_code[0]) {
		const char *r = events.ignored_reason[0] ? events.ignored_reason : "nothing: no event";
		size_t cl = strcspn(r, ":");
		snprintf(p->reason_code, sizeof(p->reason_code), "%.*s", (int)(cl < 23 ? cl : 23), r);
		snprintf(p->reason, sizeof(p->reason), "%s", r);
	}
	if (events.n) {
		if (!(p->evs = calloc(events.n, sizeof(*p->evs))))
			goto out;
	}
	for (size_t i = 0; i < events.n; i++) {
		struct cg_case_draft d;
		char berr[512] = "";
		int brc = cg_builder_build(b, &events.v[i], &d, berr, sizeof(berr));
		if (brc == CG_ENOMEM)
			goto out;
		if (brc) {
			snprintf(p->reason_code, sizeof(p->reason_code), "invalid");
			snprintf(p->reason, sizeof(p->reason), "%.255s", berr);
			continue;
		}
		struct cg_store_event *ev = &p->evs[p->nevs++];
		/* A note (acknowledgement, Zabbix update) carries the mail as its comment. */
		int arc = cg_accept_event(src, &d, NULL, d.status == CG_STATUS_COMMENT ? comment : NULL, now, ev);
		cg_case_draft_cleanup(&d);
		if (arc)
			goto out;
	}
	*out = p;
	p = NULL;
	rc = 0;
out:
	if (rc == CG_ENOMEM)
		snprintf(err, errlen, "out of memory");
	free(comment);
	cg_event_list_cleanup(&events);
	cg_mail_plan_free(p);
	return rc;
}

/* "mailref:<source>:<Message-ID>": per source, so a reply can only find its own source's mail. */
static char *mailref_ns(const char *source, const char *message_id)
{
	size_t n = strlen(message_id) + (source ? strlen(source) : 0) + 16;
	char *ns = malloc(n);
	if (ns) {
		if (source)
			snprintf(ns, n, "mailref:%s:%s", source, message_id);
		else
			snprintf(ns, n, "mailref:%s", message_id); /* written before per-source refs */
	}
	return ns;
}

static int remember(struct cg_store *st, const char *source, const char *message_id, const char *key, int64_t now)
{
	if (!message_id || !key)
		return 0;
	char *ns = mailref_ns(source, message_id);
	if (!ns)
		return CG_ENOMEM;
	int was = 0;
	int rc = cg_store_seen(st, ns, key, now, &was);
	free(ns);
	return rc;
}

/* What a reply may land on: found (0), nothing of this source (CG_ENOENT), or an error. */
enum thread_verdict { THREAD_NONE, THREAD_OK, THREAD_CLOSED, THREAD_FOREIGN };

/* Whether key (a dedup key a reply names) is a case this plan's reply may comment on. */
static int thread_check(struct cg_store *st, const struct cg_mail_plan *p, const char *key, enum thread_verdict *v)
{
	size_t sl = strlen(p->source);
	if (strncmp(key, p->source, sl) != 0 || key[sl] != ':') {
		*v = THREAD_FOREIGN; /* another source's case: not ours to touch */
		return 0;
	}
	struct cg_store_case c;
	int rc = cg_store_case_get(st, key, &c);
	if (rc == CG_ENOENT) {
		*v = THREAD_OK; /* not created yet: the note waits behind the create in key order */
		return 0;
	}
	if (rc)
		return rc;
	*v = c.state == CG_CASE_CLOSED && !p->reply_to_closed ? THREAD_CLOSED : THREAD_OK;
	cg_store_case_cleanup(&c);
	return 0;
}

/*
 * The dedup key of the case a reply belongs to (*key, malloc'd) with *v THREAD_OK; else *v
 * says why there is none (THREAD_NONE: nothing found; CLOSED/FOREIGN: found, but not one this
 * reply may touch). Returns 0 or a store error.
 */
static int find_thread(struct cg_store *st, const struct cg_mail_plan *p, int64_t now, char **key,
		       enum thread_verdict *v)
{
	enum thread_verdict worst = THREAD_NONE;
	*key = NULL;
	for (size_t i = 0; i < p->nrefs; i++) {
		/* This source's refs, then those written before refs were per source. */
		for (int legacy = 0; legacy < 2; legacy++) {
			char *ns = mailref_ns(legacy ? NULL : p->source, p->refs[i]);
			if (!ns)
				return CG_ENOMEM;
			char *k = NULL;
			int rc = cg_store_seen_get(st, ns, now, &k);
			free(ns);
			if (rc == CG_ENOENT)
				continue;
			if (!rc)
				rc = thread_check(st, p, k, v);
			if (rc) {
				free(k);
				return rc;
			}
			if (*v == THREAD_OK) {
				*key = k;
				return 0;
			}
			free(k);
			if (*v > worst)
				worst = *v;
		}
	}
	if (p->case_key[0]) {
		struct cg_store_case c;
		int rc = cg_store_case_find_by_key(st, p->case_key, &c);
		if (rc && rc != CG_ENOENT)
			return rc;
		if (rc == 0) {
			rc = c.dedup_key ? thread_check(st, p, c.dedup_key, v) : 0;
			if (!rc && c.dedup_key && *v == THREAD_OK) {
				*key = c.dedup_key;
				c.dedup_key = NULL;
			} else if (!rc && c.dedup_key && *v > worst) {
				worst = *v;
			}
			cg_store_case_cleanup(&c);
			if (rc || *key)
				return rc;
		}
	}
	*v = worst;
	return 0;
}

/* Stores evs, through the source's storm folding when it has one. */
static int enqueue(struct cg_store *st, struct cg_mail_plan *p, struct cg_store_event *evs, size_t n, int64_t now)
{
	return cg_storm_enqueue(st, &p->storm, evs, n, now, &p->fold);
}

int cg_mail_plan_store(struct cg_store *st, struct cg_mail_plan *p, int64_t now)
{
	/* A re-run after a rollback starts from nothing. */
	free(p->target);
	p->target = NULL;
	p->queued = 0;
	p->outcome = CG_MAIL_OUT_IGNORED;
	int rc;
	if (p->message_id) {
		size_t n = strlen(p->source) + 16;
		char *ns = malloc(n);
		if (!ns)
			return CG_ENOMEM;
		snprintf(ns, n, "mailmsg:%s", p->source);
		int was = 0;
		rc = cg_store_seen(st, ns, p->message_id, now, &was);
		free(ns);
		if (rc)
			return rc;
		if (was) {
			p->outcome = CG_MAIL_OUT_DUPLICATE;
			return 0;
		}
	}
	if (p->may_thread) {
		char *key = NULL;
		enum thread_verdict v = THREAD_NONE;
		rc = find_thread(st, p, now, &key, &v);
		if (rc)
			return rc;
		if (key) {
			struct cg_store_event ev = {
				.source = p->source,
				.dedup_key = key,
				.status = CG_STATUS_COMMENT,
				.payload = p->comment_payload,
				.received_ms = now,
				.next_ms = now,
			};
			rc = enqueue(st, p, &ev, 1, now);
			if (!rc)
				rc = remember(st, p->source, p->message_id, key, now);
			if (rc) {
				free(key);
				return rc;
			}
			p->target = key;
			p->queued = 1;
			p->outcome = CG_MAIL_OUT_COMMENT;
			return 0;
		}
		if (v == THREAD_CLOSED || v == THREAD_FOREIGN) {
			/* A reply to a case it may not touch: dropped, not turned into a new alert. */
			snprintf(p->reason_code, sizeof(p->reason_code), "%s", v == THREAD_CLOSED ? "reply_closed" : "reply_source");
			snprintf(p->reason, sizeof(p->reason), "%s",
				 v == THREAD_CLOSED ? "a reply to a closed case (reply_to_closed is off)"
						    : "a reply to a case of another source");
			return 0;
		}
	}
	if (p->nevs == 0)
		return 0;
	/* An alert mail: the source is alive (mail is rare enough to record each one). */
	if (p->heartbeat && (rc = cg_store_hb_heard(st, p->source, now)))
		return rc;
	if ((rc = enqueue(st, p, p->evs, p->nevs, now)))
		return rc;
	for (size_t i = 0; i < p->nevs; i++)
		if ((rc = remember(st, p->source, p->message_id, p->evs[i].dedup_key, now)))
			return rc;
	p->queued = p->nevs;
	p->outcome = CG_MAIL_OUT_EVENTS;
	return 0;
}

/* ---- the daemon's listener ---- */

struct rcpt_plan {
	const struct cg_source_config *src; /* at RCPT time; re-resolved after a reload */
	char *source;
	struct cg_mail_plan *plan;          /* shared by recipients of the same source (first owns it) */
	int owner;
	int code;
	char text[200];
};

struct delivery {
	struct cg_intake *in;
	struct cg_lmtp_msg *m;
	uv_work_t work;
	/* parse results (worker thread) */
	cJSON *mail;
	int parse_rc;
	char parse_err[200];
	struct rcpt_plan *r;
	size_t n;
	int64_t now;
	struct cg_mail_limits lim; /* taken on the loop: the worker must not read the configuration */
};

static void count(struct cg_intake *in, const char *name, const char *source, const char *k, const char *v)
{
	char esc[128], labels[256];
	cg_metrics_escape(source ? source : "", esc, sizeof(esc));
	snprintf(labels, sizeof(labels), "source=\"%s\",%s=\"%s\"", esc, k, v);
	cg_metrics_add(in->d.metrics, name, labels, 1);
}

static void delivery_finish(struct delivery *d)
{
	for (size_t i = 0; i < d->n; i++) {
		cg_lmtp_reply(d->m, i, d->r[i].code, d->r[i].text);
		if (d->r[i].owner)
			cg_mail_plan_free(d->r[i].plan);
		free(d->r[i].source);
	}
	free(d->r);
	cJSON_Delete(d->mail);
	cg_lmtp_msg_done(d->m);
	free(d);
}

static void answer_all(struct delivery *d, int code, const char *text)
{
	for (size_t i = 0; i < d->n; i++) {
		d->r[i].code = code;
		snprintf(d->r[i].text, sizeof(d->r[i].text), "%s", text);
	}
}

static int route_rcpt(const char *rcpt, void *ud, char *msg, size_t msglen)
{
	struct cg_intake *in = ud;
	if (in->stopping) {
		snprintf(msg, msglen, "4.3.2 shutting down, try again later");
		return 421;
	}
	if (!cg_config_mail_route(in->cfg, rcpt)) {
		snprintf(msg, msglen, "5.1.1 <%.200s>: no casegate source for this recipient", rcpt);
		return 550;
	}
	return 0;
}

static void parse_work(uv_work_t *w)
{
	struct delivery *d = w->data;
	d->parse_rc = cg_mail_parse(d->m->data, d->m->len, &d->lim, &d->mail, d->parse_err, sizeof(d->parse_err));
}

static int store_run(struct cg_store *st, void *ud)
{
	struct delivery *d = ud;
	for (size_t i = 0; i < d->n; i++) {
		if (!d->r[i].owner)
			continue;
		int rc = cg_mail_plan_store(st, d->r[i].plan, d->now);
		if (rc)
			return rc;
	}
	return 0;
}

static void store_done(int rc, void *ud)
{
	struct delivery *d = ud;
	struct cg_intake *in = d->in;
	if (rc) {
		if (rc == CG_EFULL)
			in->store_full = 1;
		CG_LOG_ERR("from=<%s>: could not store mail: %s", d->m->mail_from, cg_strerror(rc));
		for (size_t i = 0; i < d->n; i++)
			if (d->r[i].owner)
				count(in, "casegate_mail_messages_total", d->r[i].source, "outcome", "tempfail");
		answer_all(d, 451, "4.3.0 could not store the message, try again later");
		delivery_finish(d);
		return;
	}
	in->store_full = 0;
	int queued = 0;
	for (size_t i = 0; i < d->n; i++) {
		struct rcpt_plan *r = &d->r[i];
		struct cg_mail_plan *p = r->plan;
		if (!p)
			continue;
		r->code = 250;
		const char *mid = p->message_id ? p->message_id : "-";
		switch (p->outcome) {
		case CG_MAIL_OUT_EVENTS:
			snprintf(r->text, sizeof(r->text), "2.0.0 queued %zu event(s) for %s", p->queued, p->source);
			if (r->owner) {
				count(in, "casegate_mail_messages_total", p->source, "outcome", "events");
				cg_storm_counted(in->storm, p->source, &p->fold);
				CG_LOG_INFO("source=%s message-id=<%s> from=<%s>: %zu event(s) queued", p->source, mid,
					    d->m->mail_from, p->queued);
				queued = 1;
			}
			break;
		case CG_MAIL_OUT_COMMENT:
			snprintf(r->text, sizeof(r->text), "2.0.0 comment queued for %s", p->source);
			if (r->owner) {
				count(in, "casegate_mail_messages_total", p->source, "outcome", "comment");
				CG_LOG_INFO("source=%s message-id=<%s> from=<%s>: reply, comment on key %s", p->source,
					    mid, d->m->mail_from, p->target);
				queued = 1;
			}
			break;
		case CG_MAIL_OUT_DUPLICATE:
			snprintf(r->text, sizeof(r->text), "2.0.0 already received");
			if (r->owner) {
				count(in, "casegate_mail_messages_total", p->source, "outcome", "duplicate");
				CG_LOG_INFO("source=%s message-id=<%s>: duplicate delivery dropped", p->source, mid);
			}
			break;
		case CG_MAIL_OUT_IGNORED:
			snprintf(r->text, sizeof(r->text), "2.0.0 accepted and ignored (%s)",
				 p->reason_code[0] ? p->reason_code : "no event");
			if (r->owner) {
				count(in, "casegate_mail_ignored_total", p->source, "reason",
				      p->reason_code[0] ? p->reason_code : "no_event");
				count(in, "casegate_mail_messages_total", p->source, "outcome", "ignored");
				CG_LOG_INFO("source=%s message-id=<%s> from=<%s>: ignored: %s", p->source, mid,
					    d->m->mail_from, p->reason[0] ? p->reason : p->reason_code);
			}
			break;
		}
	}
	delivery_finish(d);
	if (queued)
		cg_intake_committed(in);
}

static void parse_done(uv_work_t *w, int status)
{
	struct delivery *d = w->data;
	struct cg_intake *in = d->in;
	if (status != 0 || d->parse_rc == CG_ENOMEM) {
		answer_all(d, 451, "4.3.0 out of memory, try again later");
		delivery_finish(d);
		return;
	}
	if (d->parse_rc == CG_E2BIG) {
		/* A mail bomb: refused before GMime built its parts. */
		CG_LOG_WARN("from=<%s> client=%s: refused: %s", d->m->mail_from, d->m->remote, d->parse_err);
		for (size_t i = 0; i < d->n; i++)
			count(in, "casegate_mail_ignored_total", d->r[i].source, "reason", "too_many_parts");
		char text[sizeof(d->r[0].text)];
		snprintf(text, sizeof(text), "5.6.0 %.180s", d->parse_err);
		answer_all(d, 554, text);
		delivery_finish(d);
		return;
	}
	if (d->parse_rc) {
		CG_LOG_WARN("from=<%s> client=%s: not a message: %s", d->m->mail_from, d->m->remote, d->parse_err);
		for (size_t i = 0; i < d->n; i++)
			count(in, "casegate_mail_ignored_total", d->r[i].source, "reason", "unparseable");
		answer_all(d, 554, "5.6.0 not an e-mail message");
		delivery_finish(d);
		return;
	}
	if (!cJSON_AddStringToObject(d->mail, "envelope_from", d->m->mail_from)) {
		answer_all(d, 451, "4.3.0 out of memory, try again later");
		delivery_finish(d);
		return;
	}
	d->now = wall_ms();
	const struct cg_config *cfg = in->cfg;
	for (size_t i = 0; i < d->n; i++) {
		struct rcpt_plan *r = &d->r[i];
		/* The configuration may have been reloaded while parsing: route again. */
		const struct cg_source_config *src = cg_config_mail_route(cfg, d->m->rcpts[i]);
		if (!src) {
			r->code = 550;
			snprintf(r->text, sizeof(r->text), "5.1.1 no casegate source for this recipient any more");
			continue;
		}
		free(r->source);
		r->source = strdup(src->name);
		for (size_t j = 0; j < i; j++) {
			if (d->r[j].plan && d->r[j].source && r->source && strcmp(d->r[j].source, r->source) == 0) {
				r->plan = d->r[j].plan; /* same source, same outcome */
				break;
			}
		}
		if (r->plan)
			continue;
		char err[256] = "";
		size_t idx = (size_t)(src - cfg->sources);
		int rc = cg_mail_plan_build(src, in->builders[idx], d->mail, cfg->mail.authserv_id, d->now, &r->plan, err,
					    sizeof(err));
		if (rc) {
			r->code = rc == CG_ENOMEM ? 451 : 554;
			snprintf(r->text, sizeof(r->text), "%s %.150s", rc == CG_ENOMEM ? "4.3.0" : "5.6.0", err);
			continue;
		}
		r->owner = 1;
	}
	int any = 0;
	for (size_t i = 0; i < d->n; i++)
		any |= d->r[i].owner;
	if (!any) {
		delivery_finish(d);
		return;
	}
	if (cg_storeq_submit(in->d.q, store_run, store_done, d) != 0) {
		for (size_t i = 0; i < d->n; i++) {
			d->r[i].code = 451;
			snprintf(d->r[i].text, sizeof(d->r[i].text), "4.3.2 shutting down, try again later");
		}
		delivery_finish(d);
	}
}

static void on_message(struct cg_lmtp_msg *m, void *ud)
{
	struct cg_intake *in = ud;
	struct delivery *d = calloc(1, sizeof(*d));
	if (d)
		d->r = calloc(m->nrcpts ? m->nrcpts : 1, sizeof(*d->r));
	if (!d || !d->r) {
		if (d)
			free(d);
		for (size_t i = 0; i < m->nrcpts; i++)
			cg_lmtp_reply(m, i, 451, "4.3.0 out of memory, try again later");
		cg_lmtp_msg_done(m);
		return;
	}
	d->in = in;
	d->m = m;
	d->n = m->nrcpts;
	for (size_t i = 0; i < d->n; i++) {
		const struct cg_source_config *src = cg_config_mail_route(in->cfg, m->rcpts[i]);
		d->r[i].source = src ? strdup(src->name) : NULL;
		d->r[i].code = 451;
		snprintf(d->r[i].text, sizeof(d->r[i].text), "4.3.0 internal error");
	}
	if (m->rate_limited) {
		/* A mail loop or a storm: accept and drop, so the sender stops rather than retries. */
		CG_LOG_WARN("from=<%s> client=%s: over mail.max_per_sender_hour: dropped", m->mail_from, m->remote);
		for (size_t i = 0; i < d->n; i++)
			count(in, "casegate_mail_ignored_total", d->r[i].source, "reason", "rate_limited");
		answer_all(d, 250, "2.0.0 accepted and dropped: sender over its hourly limit");
		delivery_finish(d);
		return;
	}
	if (in->stopping || cg_storeq_pending(in->d.q) + in->working >= in->cfg->max_pending ||
	    (in->cfg->store_max_bytes && in->stats.bytes > in->cfg->store_max_bytes)) {
		answer_all(d, 451, "4.3.2 busy, try again later");
		delivery_finish(d);
		return;
	}
	d->work.data = d;
	cg_mail_limits_default(&d->lim);
	d->lim.max_parts = in->cfg->mail.max_parts;
	/* MIME parsing of a large message is too slow for the loop. */
	if (uv_queue_work(in->d.loop, &d->work, parse_work, parse_done) != 0) {
		answer_all(d, 451, "4.3.0 internal error, try again later");
		delivery_finish(d);
	}
}

int cg_mailin_start(struct cg_intake *in, char *err, size_t errlen)
{
	const struct cg_mail_config *mc = &in->cfg->mail;
	if (!mc->enabled)
		return 0;
	cg_mail_global_init();
	cg_metrics_describe(in->d.metrics, "casegate_mail_messages_total", CG_COUNTER,
			    "Mail taken per source by outcome (events, comment, ignored, duplicate, tempfail)");
	cg_metrics_describe(in->d.metrics, "casegate_mail_ignored_total", CG_COUNTER,
			    "Mail accepted and dropped, by source and reason");
	struct cg_lmtp_opts o = {
		.host = mc->listen_host,
		.port = mc->listen_port,
		.smtp = mc->protocol == CG_MAIL_SMTP,
		.max_size = (size_t)mc->max_size,
		.max_recipients = mc->max_recipients,
		.timeout_ms = mc->timeout_ms,
		.max_connections = mc->max_connections,
		.max_per_sender_hour = mc->max_per_sender_hour,
		.hostname = mc->hostname,
	};
	int rc = cg_lmtp_server_create(in->d.loop, &o, route_rcpt, on_message, in, &in->mail, err, errlen);
	if (rc)
		return rc;
	CG_LOG_INFO("mail: %s on %s:%d", o.smtp ? "SMTP" : "LMTP", mc->listen_host, cg_lmtp_server_port(in->mail));
	return 0;
}

void cg_mailin_stop(struct cg_intake *in, void (*on_closed)(void *ud), void *ud)
{
	struct cg_lmtp_server *s = in->mail;
	in->mail = NULL;
	cg_lmtp_server_close(s, on_closed, ud);
}

/* ---- pipe mode ---- */

int cg_mailin_pipe(const struct cg_config *cfg, const char *source, const char *raw, size_t len, const char *sender,
		   char *msg, size_t msglen)
{
	const struct cg_source_config *src = cg_config_source(cfg, source);
	if (!src || !src->type || strcmp(src->type, "email") != 0) {
		/* The MTA's command line or the config is wrong, not the mail: kept until fixed. */
		snprintf(msg, msglen, "no `type: email` source named '%s' in the config: exit 75, the MTA keeps the message",
			 source);
		return 75;
	}
	if (len > cfg->mail.max_size) {
		snprintf(msg, msglen, "message of %zu bytes over mail.max_size: ignored", len);
		return 0; /* a permanent condition: retrying would not help, bouncing might loop */
	}
	cJSON *mail = NULL;
	struct cg_builder *b = NULL;
	struct cg_mail_plan *p = NULL;
	struct cg_store *st = NULL;
	char err[512] = "";
	int code = 75;
	struct cg_mail_limits lim;
	cg_mail_limits_default(&lim);
	lim.max_parts = cfg->mail.max_parts;
	int rc = cg_mail_parse(raw, len, &lim, &mail, err, sizeof(err));
	if (rc == CG_EINVAL || rc == CG_E2BIG) {
		snprintf(msg, msglen, "%s", err);
		return 65;
	}
	if (rc) {
		snprintf(msg, msglen, "%s", cg_strerror(rc));
		return 75;
	}
	if (sender && !cJSON_AddStringToObject(mail, "envelope_from", sender)) {
		snprintf(msg, msglen, "out of memory: exit 75, the MTA keeps the message");
		goto out;
	}
	struct cg_case_spec spec;
	cg_config_case_spec(src, &spec);
	if ((rc = cg_builder_create(&spec, &b, err, sizeof(err)))) {
		snprintf(msg, msglen, "source '%s': %s", src->name, err);
		code = 75; /* the source's config, not the mail: kept until fixed */
		goto out;
	}
	int64_t now = wall_ms();
	rc = cg_mail_plan_build(src, b, mail, cfg->mail.authserv_id, now, &p, err, sizeof(err));
	if (rc) {
		snprintf(msg, msglen, "%s", err);
		code = rc == CG_ENOMEM ? 75 : 65;
		goto out;
	}
	/* Opened as a tool: a running daemon's in-flight events stay untouched. */
	if (cg_store_open_config(cfg, 0, &st, err, sizeof(err)) != 0) {
		snprintf(msg, msglen, "store: %s: exit 75, the MTA keeps the message", err);
		goto out;
	}
	if ((rc = cg_store_begin(st)) == 0) {
		rc = cg_mail_plan_store(st, p, now);
		rc = rc ? rc : cg_store_commit(st);
		if (rc)
			cg_store_rollback(st);
	}
	if (rc) {
		snprintf(msg, msglen, "store: %s: exit 75, the MTA keeps the message", cg_strerror(rc));
		goto out;
	}
	code = 0;
	switch (p->outcome) {
	case CG_MAIL_OUT_EVENTS:
		snprintf(msg, msglen, "source=%s: %zu event(s) queued", p->source, p->queued);
		break;
	case CG_MAIL_OUT_COMMENT:
		snprintf(msg, msglen, "source=%s: reply queued as a comment (key %s)", p->source, p->target);
		break;
	case CG_MAIL_OUT_DUPLICATE:
		snprintf(msg, msglen, "source=%s: Message-ID already received: dropped", p->source);
		break;
	case CG_MAIL_OUT_IGNORED:
		snprintf(msg, msglen, "source=%s: ignored: %s", p->source, p->reason[0] ? p->reason : p->reason_code);
		break;
	}
out:
	cg_store_close(st);
	cg_mail_plan_free(p);
	cg_builder_destroy(b);
	cJSON_Delete(mail);
	return code;
}
