/* cloudwatch.c: CloudWatch alarms delivered by AWS SNS (HTTPS body, bare alarm, Lambda Records[], EventBridge). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "mdsafe.h"
#include "maputil.h"
#include "registry.h"

/*
 * Shapes accepted, first match wins:
 *  1. the SNS HTTPS envelope {Type, MessageId, TopicArn, Subject, Message, ...}: what an
 *     HTTPS subscription POSTs (Content-Type text/plain, JSON inside);
 *  2. a Lambda event {Records: [{Sns: {Type, MessageId, Message, ...}}]} (someone forwarding
 *     what a Lambda received): every record is an envelope;
 *  3. a bare CloudWatch alarm {AlarmName, NewStateValue, ...} (the SNS Message itself);
 *  4. an EventBridge "CloudWatch Alarm State Change" event {detail-type, detail.state.value, ...}.
 * A Notification whose Message is neither an alarm nor such an event becomes one generic event.
 *
 * States: ALARM fires, OK resolves. INSUFFICIENT_DATA is not a page: it is ignored, except
 * right after ALARM, where it is reported as a firing repeat (the open case stays open with
 * its priority and gets a comment) because missing data is no proof the problem went away.
 */

/* SNS alarms spell Trigger keys "MetricName", EventBridge "metricStat"/"name": look up either. */
static const cJSON *geti(const cJSON *o, const char *k)
{
	return cJSON_IsObject(o) ? cJSON_GetObjectItem(o, k) : NULL;
}

static const char *stri(const cJSON *o, const char *k)
{
	const cJSON *v = geti(o, k);
	return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

/* The fields of an alarm, whichever shape they came in. */
struct alarm {
	const cJSON *json; /* the alarm object (template context) */
	const char *name, *description, *account, *region, *arn, *state, *old_state, *reason, *time;
	const cJSON *trigger; /* Trigger (SNS alarm) or configuration (EventBridge); may be NULL */
	/* SNS alarms give Region as a display name ("US East (N. Virginia)"); the ARN has the code. */
	const char *region_code;
	char arn_region[64], arn_account[32];
};

/* Envelope facts a Notification adds to its events. */
struct envelope {
	const cJSON *json; /* NULL for a bare alarm */
	const char *message_id, *topic, *subject, *timestamp;
};

/*
 * A severity word written in the alarm description ("severity: critical"): CloudWatch alarms
 * have no severity of their own, and the description is the one free-text field the
 * notification carries. "alarm" when there is none.
 */
static const char *find_ci(const char *s, const char *needle)
{
	size_t n = strlen(needle);
	for (; s && *s; s++)
		if (strncasecmp(s, needle, n) == 0)
			return s;
	return NULL;
}

static char *description_severity(const char *desc)
{
	for (const char *p = desc; p && (p = find_ci(p, "severity")) != NULL; p += 8) {
		const char *q = p + 8;
		while (*q == ' ')
			q++;
		if (*q != ':' && *q != '=')
			continue;
		q++;
		while (*q == ' ' || *q == '"' || *q == '\'')
			q++;
		size_t n = 0;
		while ((q[n] >= 'a' && q[n] <= 'z') || (q[n] >= 'A' && q[n] <= 'Z') || (q[n] >= '0' && q[n] <= '9') ||
		       q[n] == '_' || q[n] == '-')
			n++;
		if (!n || n > 32)
			continue;
		char w[40];
		memcpy(w, q, n);
		w[n] = '\0';
		return cg_mu_word(w);
	}
	return cg_strdup0("alarm");
}

/* Dimensions as "a=b, c=d": SNS sends [{name, value}], EventBridge {name: value}. */
static void dims_md(struct cg_sbuf *b, const cJSON *dims)
{
	const cJSON *d;
	int n = 0;
	cJSON_ArrayForEach(d, dims)
	{
		const char *k = cJSON_IsString(d) ? d->string : stri(d, "name");
		const char *v = cJSON_IsString(d) ? d->valuestring : stri(d, "value");
		if (!k || !v)
			continue;
		cg_sbuf_add(b, n++ ? ", " : "");
		cg_md_addf(b, "%s=%s", k, v);
	}
}

static int dims_labels(cJSON *labels, const cJSON *dims)
{
	const cJSON *d;
	int rc = 0;
	cJSON_ArrayForEach(d, dims)
	{
		const char *k = cJSON_IsString(d) ? d->string : stri(d, "name");
		const char *v = cJSON_IsString(d) ? d->valuestring : stri(d, "value");
		if (k && v)
			rc = rc ? rc : cg_mu_set(labels, k, v);
	}
	return rc;
}

static void num_md(struct cg_sbuf *b, const cJSON *v)
{
	if (cJSON_IsNumber(v))
		cg_sbuf_addf(b, "%.10g", v->valuedouble);
	else if (cJSON_IsString(v))
		cg_md_put(b, v->valuestring, CG_MD_TEXT);
}

/* One metric of a metric-math alarm (Trigger.Metrics[] / configuration.metrics[]). */
static void metric_md(struct cg_sbuf *b, const cJSON *m)
{
	const char *id = stri(m, "Id"), *expr = stri(m, "Expression"), *label = stri(m, "Label");
	const cJSON *ms = geti(m, "MetricStat");
	const cJSON *metric = geti(ms, "Metric");
	cg_md_addf(b, "- %s: ", id ? id : "?");
	if (expr) {
		cg_md_code(b, expr);
	} else if (metric) {
		const char *ns = stri(metric, "Namespace"), *name = stri(metric, "MetricName");
		if (!name)
			name = stri(metric, "name");
		cg_md_addf(b, "%s %s", ns ? ns : "", name ? name : "?");
		if (stri(ms, "Stat"))
			cg_md_addf(b, " %s", stri(ms, "Stat"));
		if (cJSON_IsNumber(geti(ms, "Period")))
			cg_md_addf(b, " over %.0f s", geti(ms, "Period")->valuedouble);
		const cJSON *dims = geti(metric, "Dimensions");
		if (cJSON_GetArraySize(dims) > 0) {
			cg_sbuf_add(b, " — ");
			dims_md(b, dims);
		}
	}
	if (label)
		cg_md_addf(b, " (%s)", label);
	const cJSON *rd = geti(m, "ReturnData");
	if (cJSON_IsTrue(rd))
		cg_sbuf_add(b, " ← alarm value");
	cg_sbuf_add(b, "\n");
}

static void trigger_md(struct cg_sbuf *b, const struct alarm *a)
{
	const cJSON *t = a->trigger;
	if (!t)
		return;
	const char *ns = stri(t, "Namespace"), *name = stri(t, "MetricName");
	const char *stat = stri(t, "Statistic") ? stri(t, "Statistic") : stri(t, "ExtendedStatistic");
	if (name) {
		cg_md_addf(b, "**Metric:** %s%s%s", ns ? ns : "", ns ? " " : "", name);
		if (stat)
			cg_md_addf(b, " (%s)", stat);
		const cJSON *dims = geti(t, "Dimensions");
		if (cJSON_GetArraySize(dims) > 0) {
			cg_sbuf_add(b, " — ");
			dims_md(b, dims);
		}
		cg_sbuf_add(b, "\n");
	}
	const char *op = stri(t, "ComparisonOperator");
	if (op) {
		cg_md_addf(b, "**Condition:** %s ", op);
		if (geti(t, "Threshold"))
			num_md(b, geti(t, "Threshold"));
		else if (stri(t, "ThresholdMetricId"))
			cg_md_addf(b, "band %s", stri(t, "ThresholdMetricId"));
		if (cJSON_IsNumber(geti(t, "EvaluationPeriods")) && cJSON_IsNumber(geti(t, "Period")))
			cg_md_addf(b, " for %.0f × %.0f s", geti(t, "EvaluationPeriods")->valuedouble,
			             geti(t, "Period")->valuedouble);
		cg_sbuf_add(b, "\n");
	}
	const cJSON *metrics = geti(t, "Metrics");
	if (cJSON_GetArraySize(metrics) > 0) {
		const cJSON *m;
		cg_sbuf_add(b, "\n**Metrics:**\n");
		cJSON_ArrayForEach(m, metrics) metric_md(b, m);
	}
}

static int is_region_code(const char *r)
{
	if (!r || !*r || strlen(r) > 40)
		return 0;
	for (const char *p = r; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
			return 0;
	return 1;
}

/* Region code from "arn:aws:cloudwatch:<region>:<account>:alarm:<name>"; account when the field is missing. */
static void from_arn(struct alarm *a)
{
	if (!a->arn || strncmp(a->arn, "arn:", 4) != 0)
		return;
	const char *p = a->arn;
	const char *f[6] = {0};
	size_t len[6] = {0};
	for (int i = 0; i < 6 && p; i++) {
		const char *c = strchr(p, ':');
		f[i] = p;
		len[i] = c ? (size_t)(c - p) : strlen(p);
		p = c ? c + 1 : NULL;
	}
	if (f[3] && len[3] && len[3] < sizeof(a->arn_region)) {
		memcpy(a->arn_region, f[3], len[3]);
		if (is_region_code(a->arn_region))
			a->region_code = a->arn_region;
	}
	if (!a->account && f[4] && len[4] && len[4] < sizeof(a->arn_account)) {
		memcpy(a->arn_account, f[4], len[4]);
		a->account = a->arn_account;
	}
}

static int console_link(cJSON *links, const struct alarm *a)
{
	if (!a->region_code || !a->name)
		return 0;
	struct cg_sbuf b = {0};
	cg_sbuf_addf(&b, "https://console.aws.amazon.com/cloudwatch/home?region=%s#alarmsV2:alarm/", a->region_code);
	cg_sbuf_pct_encode(&b, a->name);
	return cg_mu_link_take(links, "console", &b);
}

static int alarm_event(const struct alarm *a, const struct envelope *env, const cJSON *payload,
                       struct cg_event_list *out, char *err, size_t errlen)
{
	if (!a->state) {
		snprintf(err, errlen, "missing field 'NewStateValue' (CloudWatch alarm)");
		return CG_EINVAL;
	}
	int resolved = 0, no_data = 0;
	if (strcmp(a->state, "OK") == 0) {
		resolved = 1;
	} else if (strcmp(a->state, "INSUFFICIENT_DATA") == 0) {
		if (!a->old_state || strcmp(a->old_state, "ALARM") != 0) {
			snprintf(out->ignored_reason, sizeof(out->ignored_reason),
			         "CloudWatch alarm state INSUFFICIENT_DATA (from %.20s): not an alert",
			         a->old_state ? a->old_state : "unknown");
			return 0;
		}
		no_data = 1;
	} else if (strcmp(a->state, "ALARM") != 0) {
		snprintf(err, errlen, "invalid field 'NewStateValue': '%.40s' (want ALARM, OK or INSUFFICIENT_DATA)",
		         a->state);
		return CG_EINVAL;
	}
	char key[512];
	if (a->arn)
		snprintf(key, sizeof(key), "%s", a->arn);
	else if (a->name)
		snprintf(key, sizeof(key), "%s/%s/%s", a->name, a->account ? a->account : "",
		         a->region ? a->region : "");
	else {
		snprintf(err, errlen, "missing field 'AlarmName' (CloudWatch alarm)");
		return CG_EINVAL;
	}
	struct cg_event *e = cg_mu_push(out);
	if (!e)
		return CG_ENOMEM;
	e->status = resolved ? CG_STATUS_RESOLVED : CG_STATUS_FIRING;
	e->dedup_key = cg_strdup0(key);
	e->severity = description_severity(a->description);
	if (!e->dedup_key || !e->severity)
		return CG_ENOMEM;
	if (a->time && !(e->starts_at = cg_strdup0(a->time)))
		return CG_ENOMEM;
	if (resolved && a->time && !(e->ends_at = cg_strdup0(a->time)))
		return CG_ENOMEM;
	int rc = cg_mu_set(e->labels, "alarm_name", a->name);
	rc = rc ? rc : cg_mu_set(e->labels, "aws_account", a->account);
	rc = rc ? rc : cg_mu_set(e->labels, "region", a->region_code ? a->region_code : a->region);
	rc = rc ? rc : cg_mu_set(e->labels, "namespace", stri(a->trigger, "Namespace"));
	rc = rc ? rc : cg_mu_set(e->labels, "metric_name", stri(a->trigger, "MetricName"));
	rc = rc ? rc : dims_labels(e->labels, geti(a->trigger, "Dimensions"));
	rc = rc ? rc : cg_mu_set(e->annotations, "description", a->description);
	rc = rc ? rc : cg_mu_set(e->annotations, "reason", a->reason);
	rc = rc ? rc : console_link(e->links, a);
	if (rc)
		return rc;

	struct cg_sbuf b = {0};
	const char *name = a->name ? a->name : key;
	char *first = a->description ? cg_mu_first_line(a->description, 160) : NULL;
	if (first && *first && strcmp(first, name) != 0)
		cg_sbuf_addf(&b, "%s: %s", name, first);
	else
		cg_sbuf_add(&b, name);
	free(first);
	e->title = cg_sbuf_take(&b);

	if (a->description && strcmp(a->description, name) != 0)
		cg_md_addf(&b, "%s\n\n", a->description);
	cg_md_addf(&b, "**State:** %s", a->state);
	if (a->old_state)
		cg_md_addf(&b, " (was %s)", a->old_state);
	if (a->time)
		cg_md_addf(&b, " at %s", a->time);
	cg_sbuf_add(&b, "\n");
	if (no_data)
		cg_sbuf_add(&b,
		            "_The metric stopped reporting while in ALARM: the problem is not known to be over._\n");
	if (a->reason)
		cg_md_addf(&b, "**Reason:** %s\n", a->reason);
	cg_sbuf_add(&b, "\n");
	size_t before = b.len;
	trigger_md(&b, a);
	if (b.len != before)
		cg_sbuf_add(&b, "\n");
	if (a->account || a->region) {
		cg_md_addf(&b, "**Account:** %s · **Region:** %s\n", a->account ? a->account : "unknown",
		             a->region ? a->region : "unknown");
	}
	if (env && env->topic)
		cg_md_addf(&b, "**SNS topic:** %s\n", env->topic);
	cg_sbuf_add(&b, "\n");
	rc = cg_mu_finish(e, &b, a->json, payload);
	if (!rc && env && env->json)
		rc = cg_mu_ctx_put(e->ctx, "sns", env->json);
	if (!rc && !cJSON_AddStringToObject(e->ctx, "state", a->state))
		rc = CG_ENOMEM;
	return rc;
}

static void alarm_from_sns(struct alarm *a, const cJSON *m)
{
	memset(a, 0, sizeof(*a));
	a->json = m;
	a->name = cg_json_str(m, "AlarmName");
	a->description = cg_mu_filled(m, "AlarmDescription");
	a->account = cg_mu_filled(m, "AWSAccountId");
	a->region = cg_mu_filled(m, "Region");
	a->arn = cg_mu_filled(m, "AlarmArn");
	a->state = cg_mu_filled(m, "NewStateValue");
	a->old_state = cg_mu_filled(m, "OldStateValue");
	a->reason = cg_mu_filled(m, "NewStateReason");
	a->time = cg_mu_filled(m, "StateChangeTime");
	a->trigger = cJSON_IsObject(cg_mu_get(m, "Trigger")) ? cg_mu_get(m, "Trigger") : NULL;
	if (a->name && !*a->name)
		a->name = NULL;
	from_arn(a);
	if (!a->region_code && is_region_code(a->region))
		a->region_code = a->region;
}

static int is_eventbridge_alarm(const cJSON *m)
{
	const char *dt = cg_json_str(m, "detail-type");
	return dt && strcmp(dt, "CloudWatch Alarm State Change") == 0 && cJSON_IsObject(cg_mu_get(m, "detail"));
}

static void alarm_from_eventbridge(struct alarm *a, const cJSON *ev)
{
	const cJSON *d = cg_mu_get(ev, "detail");
	memset(a, 0, sizeof(*a));
	a->json = d;
	a->name = cg_mu_filled(d, "alarmName");
	a->trigger = cJSON_IsObject(cg_mu_get(d, "configuration")) ? cg_mu_get(d, "configuration") : NULL;
	a->description = cg_mu_filled(a->trigger, "description");
	a->account = cg_mu_filled(ev, "account");
	a->region = cg_mu_filled(ev, "region");
	a->arn = cg_json_str(ev, "resources.0");
	if (a->arn && !*a->arn)
		a->arn = NULL;
	a->state = cg_json_str(d, "state.value");
	a->old_state = cg_json_str(d, "previousState.value");
	a->reason = cg_json_str(d, "state.reason");
	a->time = cg_json_str(d, "state.timestamp");
	from_arn(a);
	if (!a->region_code && is_region_code(a->region))
		a->region_code = a->region;
}

/* A Notification that carries something else than an alarm: one event, repeats of a subject share a case. */
static int other_event(const struct envelope *env, const char *message, const cJSON *parsed, const cJSON *payload,
                       struct cg_event_list *out)
{
	struct cg_event *e = cg_mu_push(out);
	if (!e)
		return CG_ENOMEM;
	e->status = CG_STATUS_FIRING;
	e->severity = cg_strdup0("notification");
	if (!e->severity)
		return CG_ENOMEM;
	struct cg_sbuf b = {0};
	char hex[65];
	if (env->subject)
		cg_sbuf_addf(&b, "%s/%s", env->topic ? env->topic : "sns", env->subject);
	else if (env->message_id)
		cg_sbuf_add(&b, env->message_id);
	else {
		if (cg_sha256_hex_r(message, strlen(message), hex))
			return CG_ENOMEM;
		cg_sbuf_addf(&b, "sns-message-%s", hex);
	}
	e->dedup_key = cg_sbuf_take(&b);
	if (env->subject)
		e->title = cg_strdup0(env->subject);
	else
		e->title = cg_mu_first_line(message, 200);
	if (e->title && !*e->title) {
		free(e->title);
		e->title = cg_strdup0("SNS notification");
	}
	if (parsed) {
		char *pretty = cJSON_Print(parsed);
		if (!pretty)
			return CG_ENOMEM;
		cg_md_fence(&b, pretty);
		cg_sbuf_add(&b, "\n");
		cJSON_free(pretty);
	} else if (*message) {
		cg_md_addf(&b, "%s\n\n", message);
	}
	if (env->topic)
		cg_md_addf(&b, "**SNS topic:** %s\n", env->topic);
	if (env->timestamp)
		cg_md_addf(&b, "**Sent:** %s\n", env->timestamp);
	e->description = cg_sbuf_take(&b);
	if (!e->dedup_key || !e->title || !e->description)
		return CG_ENOMEM;
	int rc = cg_mu_set(e->labels, "sns_topic", env->topic);
	rc = rc ? rc : cg_mu_set(e->annotations, "subject", env->subject);
	if (rc)
		return rc;
	if (env->timestamp && !(e->starts_at = cg_strdup0(env->timestamp)))
		return CG_ENOMEM;
	rc = cg_event_build_ctx(e, env->json, payload);
	if (!rc && parsed)
		rc = cg_mu_ctx_put(e->ctx, "message", parsed);
	if (!rc)
		rc = cg_mu_ctx_put(e->ctx, "sns", env->json);
	return rc;
}

static int copy_field(char *dst, size_t dstlen, const char *val, const char *name, char *err, size_t errlen)
{
	if (!val)
		return 0;
	if (strlen(val) >= dstlen) {
		snprintf(err, errlen, "invalid field '%s': longer than %zu bytes", name, dstlen - 1);
		return CG_EINVAL;
	}
	memcpy(dst, val, strlen(val) + 1);
	return 0;
}

/*
 * One SNS envelope. single: this request is that one message (HTTPS delivery), so its
 * envelope facts go to the list for the gateway (subscription handshake, redelivery dedup).
 */
static int envelope_map(const cJSON *envj, const cJSON *payload, int single, struct cg_event_list *out, char *err,
                        size_t errlen)
{
	const char *type = cg_json_str(envj, "Type");
	struct envelope env = {
	    .json = envj,
	    .message_id = cg_mu_filled(envj, "MessageId"),
	    .topic = cg_mu_filled(envj, "TopicArn"),
	    .subject = cg_mu_filled(envj, "Subject"),
	    .timestamp = cg_mu_filled(envj, "Timestamp"),
	};
	if (!type) {
		snprintf(err, errlen, "missing field 'Type' (SNS message)");
		return CG_EINVAL;
	}
	if (single) {
		int rc = copy_field(out->message_type, sizeof(out->message_type), type, "Type", err, errlen);
		rc =
		    rc ? rc
		       : copy_field(out->message_id, sizeof(out->message_id), env.message_id, "MessageId", err, errlen);
		if (rc)
			return rc;
	}
	if (strcmp(type, "SubscriptionConfirmation") == 0) {
		const char *url = cg_mu_filled(envj, "SubscribeURL");
		if (!url) {
			snprintf(err, errlen, "missing field 'SubscribeURL' (SNS SubscriptionConfirmation)");
			return CG_EINVAL;
		}
		if (strncmp(url, "https://", 8) != 0) {
			snprintf(err, errlen, "invalid field 'SubscribeURL': not an https URL");
			return CG_EINVAL;
		}
		if (single) {
			int rc = copy_field(out->subscribe_url, sizeof(out->subscribe_url), url, "SubscribeURL", err,
			                    errlen);
			if (rc)
				return rc;
		}
		snprintf(out->ignored_reason, sizeof(out->ignored_reason), "SNS subscription confirmation");
		return 0;
	}
	if (strcmp(type, "UnsubscribeConfirmation") == 0) {
		/* Its SubscribeURL would subscribe again: never handed to the gateway. */
		snprintf(out->ignored_reason, sizeof(out->ignored_reason), "SNS unsubscribe confirmation");
		return 0;
	}
	if (strcmp(type, "Notification") != 0) {
		snprintf(err, errlen,
		         "invalid field 'Type': '%.40s' (want Notification, SubscriptionConfirmation or "
		         "UnsubscribeConfirmation)",
		         type);
		return CG_EINVAL;
	}
	const cJSON *msg = cg_mu_get(envj, "Message");
	if (!cJSON_IsString(msg)) {
		snprintf(err, errlen,
		         msg ? "invalid field 'Message': not a string" : "missing field 'Message' (SNS Notification)");
		return CG_EINVAL;
	}
	cJSON *parsed = cJSON_Parse(msg->valuestring);
	int rc;
	struct alarm a;
	if (cJSON_IsObject(parsed) && (cg_mu_get(parsed, "AlarmName") || cg_mu_get(parsed, "NewStateValue"))) {
		alarm_from_sns(&a, parsed);
		rc = alarm_event(&a, &env, payload, out, err, errlen);
	} else if (cJSON_IsObject(parsed) && is_eventbridge_alarm(parsed)) {
		alarm_from_eventbridge(&a, parsed);
		rc = alarm_event(&a, &env, payload, out, err, errlen);
	} else {
		rc = other_event(&env, msg->valuestring,
		                 cJSON_IsObject(parsed) || cJSON_IsArray(parsed) ? parsed : NULL, payload, out);
	}
	cJSON_Delete(parsed);
	return rc;
}

static int map_cloudwatch(const cJSON *payload, const struct cg_map_opts *opts, struct cg_event_list *out, char *err,
                          size_t errlen)
{
	(void)opts;
	if (cg_mu_need_object(payload, err, errlen))
		return CG_EINVAL;
	const cJSON *records = cg_mu_get(payload, "Records");
	if (records) {
		if (!cJSON_IsArray(records)) {
			snprintf(err, errlen, "invalid field 'Records': not an array");
			return CG_EINVAL;
		}
		int n = cJSON_GetArraySize(records), i = 0;
		const cJSON *r;
		cJSON_ArrayForEach(r, records)
		{
			const cJSON *sns = cg_mu_get(r, "Sns");
			if (!cJSON_IsObject(sns)) {
				snprintf(err, errlen, "missing field 'Records[%d].Sns'", i);
				return CG_EINVAL;
			}
			int rc = envelope_map(sns, payload, n == 1, out, err, errlen);
			if (rc)
				return rc;
			i++;
		}
		if (n == 0)
			snprintf(out->ignored_reason, sizeof(out->ignored_reason), "no records in Lambda event");
		/* An ignored record (INSUFFICIENT_DATA) next to real ones: the events are what counts. */
		if (out->n)
			out->ignored_reason[0] = '\0';
		return 0;
	}
	if (cg_json_str(payload, "Type") && (cg_mu_get(payload, "MessageId") || cg_mu_get(payload, "TopicArn")))
		return envelope_map(payload, payload, 1, out, err, errlen);
	struct alarm a;
	if (cg_mu_get(payload, "AlarmName") || cg_mu_get(payload, "NewStateValue")) {
		alarm_from_sns(&a, payload);
		return alarm_event(&a, NULL, payload, out, err, errlen);
	}
	if (is_eventbridge_alarm(payload)) {
		alarm_from_eventbridge(&a, payload);
		return alarm_event(&a, NULL, payload, out, err, errlen);
	}
	snprintf(err, errlen, "missing field 'Type' (SNS message) or 'AlarmName' (CloudWatch alarm)");
	return CG_EINVAL;
}

const struct cg_mapper cg_mapper_cloudwatch = {
    .name = "cloudwatch",
    .description = "Amazon CloudWatch alarms via an AWS SNS HTTPS subscription (also bare alarms, Lambda and "
                   "EventBridge shapes)",
    .map = map_cloudwatch,
    .supports_group_by = 0,
    /* "alarm" is the severity of an alarm whose description names none ("severity: critical" does). */
    .default_priority_map = "critical=P1,high=P2,alarm=P2,error=P2,warning=P3,medium=P3,low=P4,info=P5,"
                            "notification=P4",
};
