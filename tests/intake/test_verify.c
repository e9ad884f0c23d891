/* test_verify.c: signature schemes with vectors computed by the openssl CLI at test time,
 * SNS RSA signatures, URL allowlists, client address resolution, CIDRs, verify config. */
/* labels: unit */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cidr.h"
#include "config.h"
#include "err.h"
#include "guard.h"
#include "harness.h"
#include "text.h"
#include "verify.h"

static char *tmp;

#define CHECK_STR(got, want)                                                                     \
	do {                                                                                     \
		const char *g_ = (got), *w_ = (want);                                            \
		if (!g_ || strcmp(g_, w_) != 0) {                                                \
			print_error("got '%s', want '%s'\n", g_ ? g_ : "(null)", w_);            \
			fail();                                                                  \
		}                                                                                \
	} while (0)

/* Runs a shell command, returns its stdout (trailing newline cut), malloc'd. */
static char *sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	char *out = calloc(1, 8192);
	size_t n = fread(out, 1, 8191, p);
	int st = pclose(p);
	if (st != 0) {
		print_error("command failed (%d): %s\n", st, cmd);
		fail();
	}
	while (n && (out[n - 1] == '\n' || out[n - 1] == '\r'))
		out[--n] = '\0';
	return out;
}

static char *write_tmp(const char *name, const char *data, size_t len)
{
	char *path = cg_h_fmt("%s/%s", tmp, name);
	assert_int_equal(cg_h_write_file(path, data, len), 0);
	return path;
}

/* hex HMAC-SHA256 of data with a text key, by openssl. */
static char *openssl_hmac_hex(const char *key, const char *data, size_t len)
{
	char *f = write_tmp("msg", data, len);
	char *out = sh("openssl dgst -sha256 -hmac '%s' -binary '%s' | od -An -v -tx1 | tr -d ' \\n'", key, f);
	free(f);
	return out;
}

static char *openssl_hmac_b64(const char *key, const char *data, size_t len)
{
	char *f = write_tmp("msg", data, len);
	char *out = sh("openssl dgst -sha256 -hmac '%s' -binary '%s' | base64 -w0", key, f);
	free(f);
	return out;
}

struct req {
	struct cg_http_header h[8];
	size_t nh;
	struct cg_http_request r;
};

static void req_init(struct req *q, const char *body)
{
	memset(q, 0, sizeof(*q));
	q->r.method = "POST";
	q->r.path = "/hooks/x";
	q->r.query = "";
	q->r.body = body;
	q->r.body_len = strlen(body);
	q->r.headers = q->h;
	snprintf(q->r.remote_addr, sizeof(q->r.remote_addr), "127.0.0.1");
}

static void req_hdr(struct req *q, const char *name, const char *value)
{
	q->h[q->nh].name = name;
	q->h[q->nh].value = value;
	q->nh++;
	q->r.nheaders = q->nh;
}

/* Parses a config whose only source has the given verify block (indented 4). */
static struct cg_config *cfg_with(const char *verify_yaml)
{
	char *text = cg_h_fmt("sources:\n"
			      "  - name: demo\n"
			      "    type: generic\n"
			      "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
			      "    case_type: 00000000-0000-0000-0000-000000000001\n"
			      "    verify:\n%s",
			      verify_yaml);
	struct cg_config *c = NULL;
	char *errs = NULL;
	int rc = cg_config_parse("t.yaml", text, strlen(text), &c, &errs);
	if (rc) {
		print_error("config rejected: %s\n", errs ? errs : "?");
		fail();
	}
	free(errs);
	free(text);
	return c;
}

static int64_t now_ms(void)
{
	return (int64_t)time(NULL) * 1000;
}

static int check(const struct cg_verify_config *v, struct req *q, char *why, size_t wl, struct cg_verify_pass *pass)
{
	struct cg_verify_pass p;
	memset(&p, 0, sizeof(p));
	why[0] = '\0';
	int rc = cg_verify_hmac(v, &q->r, now_ms(), pass ? pass : &p, why, wl);
	return rc;
}

static const char BODY[] = "{\"alerts\":[{\"status\":\"firing\",\"labels\":{\"alertname\":\"Disk\"}}]}";

static void test_decoders(void **state)
{
	unsigned char out[8];
	assert_int_equal(cg_verify_hex_decode("00ffA0", 6, out, sizeof(out)), 3);
	assert_int_equal(out[1], 0xff);
	assert_int_equal(cg_verify_hex_decode("0g", 2, out, sizeof(out)), -1);
	assert_int_equal(cg_verify_hex_decode("abc", 3, out, sizeof(out)), -1);
	assert_int_equal(cg_verify_b64_decode("aGVsbG8=", 8, out, sizeof(out)), 5);
	assert_memory_equal(out, "hello", 5);
	assert_int_equal(cg_verify_b64_decode("aGVsbG8", 7, out, sizeof(out)), 5);
	assert_int_equal(cg_verify_b64_decode("a*==", 4, out, sizeof(out)), -1);
	int64_t ms;
	assert_int_equal(cg_verify_parse_ts("1614265330", &ms), 0);
	assert_true(ms == 1614265330000LL);
	assert_int_equal(cg_verify_parse_ts("1614265330123", &ms), 0);
	assert_true(ms == 1614265330123LL);
	assert_int_equal(cg_verify_parse_ts("12x", &ms), CG_EINVAL);
	assert_int_equal(cg_verify_parse_ts("", &ms), CG_EINVAL);
	assert_int_equal(cg_verify_parse_ts("99999999999999999999", &ms), CG_EINVAL);
}

static void test_hmac_generic_hex_prefix(void **state)
{
	struct cg_config *c = cfg_with("      - hmac: {header: X-Hub-Signature-256, secret: s3cr3t-new, secrets: [s3cr3t-old], "
				       "prefix: \"sha256=\"}\n");
	const struct cg_verify_config *v = &c->sources[0].verify[0];
	char *good = openssl_hmac_hex("s3cr3t-new", BODY, strlen(BODY));
	char *old = openssl_hmac_hex("s3cr3t-old", BODY, strlen(BODY));
	char *bad = openssl_hmac_hex("other", BODY, strlen(BODY));
	char hv[128], why[192];
	struct req q;

	snprintf(hv, sizeof(hv), "sha256=%s", good);
	req_init(&q, BODY);
	req_hdr(&q, "x-hub-signature-256", hv);
	assert_int_equal(check(v, &q, why, sizeof(why), NULL), 0);

	/* Rotation: the old secret still verifies. */
	snprintf(hv, sizeof(hv), "sha256=%s", old);
	assert_int_equal(check(v, &q, why, sizeof(why), NULL), 0);

	snprintf(hv, sizeof(hv), "sha256=%s", bad);
	assert_int_equal(check(v, &q, why, sizeof(why), NULL), CG_EAUTH);
	CHECK_STR(why, "signature mismatch");
	assert_null(strstr(why, good));

	/* A changed body (one byte) fails. */
	snprintf(hv, sizeof(hv), "sha256=%s", good);
	char body2[sizeof(BODY)];
	memcpy(body2, BODY, sizeof(BODY));
	body2[5] ^= 1;
	req_init(&q, body2);
	req_hdr(&q, "X-Hub-Signature-256", hv);
	assert_int_equal(check(v, &q, why, sizeof(why), NULL), CG_EAUTH);
	CHECK_STR(why, "signature mismatch");

	/* Without the prefix, or truncated: malformed. */
	req_init(&q, BODY);
	req_hdr(&q, "X-Hub-Signature-256", good);
	assert_int_equal(check(v, &q, why, sizeof(why), NULL), CG_EAUTH);
	CHECK_STR(why, "malformed header X-Hub-Signature-256");
	good[10] = '\0';
	snprintf(hv, sizeof(hv), "sha256=%s", good);
	req_init(&q, BODY);
	req_hdr(&q, "X-Hub-Signature-256", hv);
	assert_int_equal(check(v, &q, why, sizeof(why), NULL), CG_EAUTH);
	CHECK_STR(why, "malformed header X-Hub-Signature-256");

	req_init(&q, BODY);
	assert_int_equal(check(v, &q, why, sizeof(why), NULL), CG_EAUTH);
	CHECK_STR(why, "missing header X-Hub-Signature-256");
	free(good);
	free(old);
	free(bad);
	cg_config_free(c);
}

static void test_hmac_generic_b64_timestamp(void **state)
{
	struct cg_config *c = cfg_with("      - hmac:\n"
				       "          header: X-Sig\n"
				       "          secret: k3y\n"
				       "          encoding: base64\n"
				       "          timestamp_header: X-Ts\n"
				       "          signed: \"{ts}.{body}\"\n"
				       "          replay_window: 2m\n");
	const struct cg_verify_config *v = &c->sources[0].verify[0];
	char ts[32], msg[512], why[192];
	snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
	snprintf(msg, sizeof(msg), "%s.%s", ts, BODY);
	char *sig = openssl_hmac_b64("k3y", msg, strlen(msg));
	struct req q;
	req_init(&q, BODY);
	req_hdr(&q, "X-Sig", sig);
	req_hdr(&q, "X-Ts", ts);
	assert_int_equal(check(v, &q, why, sizeof(why), NULL), 0);

	/* Old timestamp (signed correctly): outside the window. */
	char old[32];
	snprintf(old, sizeof(old), "%lld", (long long)time(NULL) - 600);
	snprintf(msg, sizeof(msg), "%s.%s", old, BODY);
	char *sig2 = openssl_hmac_b64("k3y", msg, strlen(msg));
	req_init(&q, BODY);
	req_hdr(&q, "X-Sig", sig2);
	req_hdr(&q, "X-Ts", old);
	assert_int_equal(check(v, &q, why, sizeof(why), NULL), CG_EAUTH);
	CHECK_STR(why, "timestamp outside the 2m window");

	/* The timestamp is signed: a fresh one with the old signature fails. */
	req_init(&q, BODY);
	req_hdr(&q, "X-Sig", sig2);
	req_hdr(&q, "X-Ts", ts);
	assert_int_equal(check(v, &q, why, sizeof(why), NULL), CG_EAUTH);
	CHECK_STR(why, "signature mismatch");

	req_init(&q, BODY);
	req_hdr(&q, "X-Sig", sig);
	assert_int_equal(check(v, &q, why, sizeof(why), NULL), CG_EAUTH);
	CHECK_STR(why, "missing header X-Ts");
	req_hdr(&q, "X-Ts", "yesterday");
	assert_int_equal(check(v, &q, why, sizeof(why), NULL), CG_EAUTH);
	CHECK_STR(why, "malformed timestamp in header X-Ts");
	free(sig);
	free(sig2);
	cg_config_free(c);
}

static void test_sentry(void **state)
{
	struct cg_config *c = cfg_with("      - sentry: {secret: sentry-client-secret}\n");
	const struct cg_verify_config *v = &c->sources[0].verify[0];
	char *sig = openssl_hmac_hex("sentry-client-secret", BODY, strlen(BODY));
	char why[192];
	struct req q;
	req_init(&q, BODY);
	req_hdr(&q, "Sentry-Hook-Signature", sig);
	assert_int_equal(check(v, &q, why, sizeof(why), NULL), 0);
	req_init(&q, BODY);
	req_hdr(&q, "Sentry-Hook-Signature", "00");
	assert_int_equal(check(v, &q, why, sizeof(why), NULL), CG_EAUTH);
	CHECK_STR(why, "malformed header Sentry-Hook-Signature");
	req_init(&q, "{}");
	req_hdr(&q, "Sentry-Hook-Signature", sig);
	assert_int_equal(check(v, &q, why, sizeof(why), NULL), CG_EAUTH);
	CHECK_STR(why, "signature mismatch");
	free(sig);
	cg_config_free(c);
}

static void test_pagerduty(void **state)
{
	struct cg_config *c = cfg_with("      - pagerduty: {secrets: [pd-new, pd-old]}\n");
	const struct cg_verify_config *v = &c->sources[0].verify[0];
	char *good = openssl_hmac_hex("pd-old", BODY, strlen(BODY));
	char *bad = openssl_hmac_hex("nope", BODY, strlen(BODY));
	char hv[300], why[192];
	struct req q;
	/* PagerDuty sends one v1= per active secret: any one matching is enough. */
	snprintf(hv, sizeof(hv), "v1=%s,v1=%s", bad, good);
	req_init(&q, BODY);
	req_hdr(&q, "X-PagerDuty-Signature", hv);
	assert_int_equal(check(v, &q, why, sizeof(why), NULL), 0);
	snprintf(hv, sizeof(hv), "v1=%s", bad);
	assert_int_equal(check(v, &q, why, sizeof(why), NULL), CG_EAUTH);
	CHECK_STR(why, "signature mismatch");
	snprintf(hv, sizeof(hv), "v2=%s", good);
	assert_int_equal(check(v, &q, why, sizeof(why), NULL), CG_EAUTH);
	CHECK_STR(why, "malformed header X-PagerDuty-Signature");
	free(good);
	free(bad);
	cg_config_free(c);
}

static void test_standard_webhooks(void **state)
{
	/* The published example of the Standard Webhooks specification. */
	struct cg_config *c = cfg_with("      - standard_webhooks: {secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw, "
				       "replay_window: 1d}\n");
	struct cg_verify_config *v = &c->sources[0].verify[0];
	const char *body = "{\"test\": 2432232314}";
	char why[192];
	struct req q;
	struct cg_verify_pass pass;
	req_init(&q, body);
	req_hdr(&q, "webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek");
	req_hdr(&q, "webhook-timestamp", "1614265330");
	req_hdr(&q, "webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
	memset(&pass, 0, sizeof(pass));
	/* At the vector's own time (the window is checked against now). */
	assert_int_equal(cg_verify_hmac(v, &q.r, 1614265330000LL + 1000, &pass, why, sizeof(why)), 0);
	CHECK_STR(pass.replay_id, "msg_p5jXN8AQM9LWM0D4loKWxJek");
	assert_int_equal(cg_verify_hmac(v, &q.r, now_ms(), &pass, why, sizeof(why)), CG_EAUTH);
	CHECK_STR(why, "timestamp outside the 1d window");
	cg_config_free(c);

	/* Fresh vector by openssl with the decoded key; a rotated second signature in the header. */
	c = cfg_with("      - standard_webhooks: {secrets: [whsec_c2VjcmV0LWtleS1ieXRlcw==]}\n");
	v = &c->sources[0].verify[0];
	char ts[32], msg[512], hv[300];
	snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
	snprintf(msg, sizeof(msg), "msg_1.%s.%s", ts, BODY);
	char *f = write_tmp("msg", msg, strlen(msg));
	/* c2VjcmV0LWtleS1ieXRlcw== is base64 of "secret-key-bytes". */
	char *sig = sh("openssl dgst -sha256 -mac HMAC -macopt hexkey:%s -binary '%s' | base64 -w0",
		       "7365637265742d6b65792d6279746573", f);
	snprintf(hv, sizeof(hv), "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= v1a,xyz v1,%s", sig);
	req_init(&q, BODY);
	req_hdr(&q, "webhook-id", "msg_1");
	req_hdr(&q, "webhook-timestamp", ts);
	req_hdr(&q, "webhook-signature", hv);
	memset(&pass, 0, sizeof(pass));
	assert_int_equal(check(v, &q, why, sizeof(why), &pass), 0);
	CHECK_STR(pass.replay_id, "msg_1");
	/* The id is signed: another id with the same signature fails. */
	q.h[0].value = "msg_2";
	assert_int_equal(check(v, &q, why, sizeof(why), NULL), CG_EAUTH);
	CHECK_STR(why, "signature mismatch");
	req_init(&q, BODY);
	req_hdr(&q, "webhook-timestamp", ts);
	req_hdr(&q, "webhook-signature", hv);
	assert_int_equal(check(v, &q, why, sizeof(why), NULL), CG_EAUTH);
	CHECK_STR(why, "missing header webhook-id");
	free(sig);
	free(f);
	cg_config_free(c);
}

static void test_grafana(void **state)
{
	struct cg_config *c = cfg_with("      - grafana: {secret: gr-secret}\n");
	const struct cg_verify_config *v = &c->sources[0].verify[0];
	char *sig = openssl_hmac_hex("gr-secret", BODY, strlen(BODY));
	char why[192];
	struct req q;
	req_init(&q, BODY);
	req_hdr(&q, "X-Grafana-Alerting-Signature", sig);
	struct cg_verify_pass p0;
	memset(&p0, 0, sizeof(p0));
	assert_int_equal(check(v, &q, why, sizeof(why), &p0), 0);
	CHECK_STR(p0.replay_id, ""); /* without a timestamp there is no window to replay within */
	free(sig);
	cg_config_free(c);

	c = cfg_with("      - grafana: {secret: gr-secret, timestamp: true}\n");
	v = &c->sources[0].verify[0];
	char ts[32], msg[512];
	snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
	snprintf(msg, sizeof(msg), "%s:%s", ts, BODY);
	sig = openssl_hmac_hex("gr-secret", msg, strlen(msg));
	req_init(&q, BODY);
	req_hdr(&q, "X-Grafana-Alerting-Signature", sig);
	req_hdr(&q, "X-Grafana-Alerting-Timestamp", ts);
	struct cg_verify_pass pass;
	memset(&pass, 0, sizeof(pass));
	assert_int_equal(check(v, &q, why, sizeof(why), &pass), 0);
	/* No id in this scheme: the signature itself is what a replay would repeat. */
	char want[80];
	snprintf(want, sizeof(want), "sig:%s", sig);
	CHECK_STR(pass.replay_id, want);
	req_init(&q, BODY);
	req_hdr(&q, "X-Grafana-Alerting-Signature", sig);
	assert_int_equal(check(v, &q, why, sizeof(why), NULL), CG_EAUTH);
	CHECK_STR(why, "missing header X-Grafana-Alerting-Timestamp");
	free(sig);
	cg_config_free(c);
}

/* ---- SNS ---- */

static char *sns_body(const char *type, const char *msg, const char *subject, const char *sigver, const char *sig)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "Type", type);
	cJSON_AddStringToObject(o, "MessageId", "165545c9-2a5c-472c-8df2-7ff2be2b3b1b");
	if (strcmp(type, "Notification") != 0) {
		cJSON_AddStringToObject(o, "Token", "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a7");
		cJSON_AddStringToObject(o, "SubscribeURL", "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-west-2:123456789012:MyTopic&Token=2336412f37");
	}
	cJSON_AddStringToObject(o, "TopicArn", "arn:aws:sns:us-west-2:123456789012:MyTopic");
	if (subject)
		cJSON_AddStringToObject(o, "Subject", subject);
	cJSON_AddStringToObject(o, "Message", msg);
	cJSON_AddStringToObject(o, "Timestamp", "2012-05-02T00:54:06.655Z");
	cJSON_AddStringToObject(o, "SignatureVersion", sigver);
	cJSON_AddStringToObject(o, "Signature", sig ? sig : "");
	cJSON_AddStringToObject(o, "SigningCertURL", "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem");
	char *s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

/* The documented string to sign, written out here independently of verify.c. */
static char *sns_sts(const char *type, const char *msg, const char *subject)
{
	if (strcmp(type, "Notification") == 0)
		return cg_h_fmt("Message\n%s\nMessageId\n165545c9-2a5c-472c-8df2-7ff2be2b3b1b\n%s%s%s"
				"Timestamp\n2012-05-02T00:54:06.655Z\nTopicArn\narn:aws:sns:us-west-2:123456789012:MyTopic\n"
				"Type\nNotification\n",
				msg, subject ? "Subject\n" : "", subject ? subject : "", subject ? "\n" : "");
	return cg_h_fmt("Message\n%s\nMessageId\n165545c9-2a5c-472c-8df2-7ff2be2b3b1b\n"
			"SubscribeURL\nhttps://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-west-2:123456789012:MyTopic&Token=2336412f37\n"
			"Timestamp\n2012-05-02T00:54:06.655Z\n"
			"Token\n2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a7\n"
			"TopicArn\narn:aws:sns:us-west-2:123456789012:MyTopic\nType\n%s\n",
			msg, type);
}

static void sns_case(const char *pem, const char *type, const char *subject, const char *ver)
{
	const char *msg = "{\"AlarmName\":\"cpu-high\",\"NewStateValue\":\"ALARM\"}";
	char *sts = sns_sts(type, msg, subject);
	char *f = write_tmp("sts", sts, strlen(sts));
	char *sig = sh("openssl dgst -%s -sign '%s/key.pem' '%s' | base64 -w0", strcmp(ver, "1") == 0 ? "sha1" : "sha256",
		       tmp, f);
	char *body = sns_body(type, msg, subject, ver, sig);
	struct cg_sns_msg m;
	char why[160];
	assert_int_equal(cg_sns_parse(body, strlen(body), &m, why, sizeof(why)), 0);
	char *mine = NULL;
	size_t mlen = 0;
	assert_int_equal(cg_sns_string_to_sign(&m, &mine, &mlen, why, sizeof(why)), 0);
	CHECK_STR(mine, sts);
	free(mine);
	if (cg_sns_verify(&m, pem, strlen(pem), why, sizeof(why)) != 0) {
		print_error("%s v%s: got '%s', want a pass\n", type, ver, why);
		fail();
	}
	cg_sns_msg_cleanup(&m);
	free(body);

	/* Tampered message: mismatch. */
	body = sns_body(type, "{\"AlarmName\":\"cpu-low\"}", subject, ver, sig);
	assert_int_equal(cg_sns_parse(body, strlen(body), &m, why, sizeof(why)), 0);
	assert_int_equal(cg_sns_verify(&m, pem, strlen(pem), why, sizeof(why)), CG_EAUTH);
	CHECK_STR(why, "signature mismatch");
	cg_sns_msg_cleanup(&m);
	free(body);
	/* Version swapped (SHA1 vs SHA256): mismatch. */
	body = sns_body(type, msg, subject, strcmp(ver, "1") == 0 ? "2" : "1", sig);
	assert_int_equal(cg_sns_parse(body, strlen(body), &m, why, sizeof(why)), 0);
	assert_int_equal(cg_sns_verify(&m, pem, strlen(pem), why, sizeof(why)), CG_EAUTH);
	cg_sns_msg_cleanup(&m);
	free(body);
	free(sig);
	free(f);
	free(sts);
}

static void test_sns(void **state)
{
	free(sh("cd '%s' && openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 2 "
		"-subj /CN=sns.us-west-2.amazonaws.com 2>/dev/null",
		tmp));
	char *cp = cg_h_fmt("%s/cert.pem", tmp);
	size_t len = 0;
	char *pem = cg_h_read_file(cp, &len);
	assert_non_null(pem);
	sns_case(pem, "Notification", "ALARM: cpu-high", "1");
	sns_case(pem, "Notification", "ALARM: cpu-high", "2");
	sns_case(pem, "Notification", NULL, "2");
	sns_case(pem, "SubscriptionConfirmation", NULL, "1");
	sns_case(pem, "UnsubscribeConfirmation", NULL, "2");

	struct cg_sns_msg m;
	char why[160];
	assert_int_equal(cg_sns_parse("[1]", 3, &m, why, sizeof(why)), CG_EAUTH);
	CHECK_STR(why, "not an SNS message: the body is not a JSON object");
	char *body = sns_body("Notification", "x", NULL, "3", "AAAA");
	assert_int_equal(cg_sns_parse(body, strlen(body), &m, why, sizeof(why)), CG_EAUTH);
	CHECK_STR(why, "unsupported SNS SignatureVersion (want 1 or 2)");
	free(body);
	const char *nosig = "{\"Type\":\"Notification\",\"SignatureVersion\":\"1\",\"SigningCertURL\":\"https://x\"}";
	assert_int_equal(cg_sns_parse(nosig, strlen(nosig), &m, why, sizeof(why)), CG_EAUTH);
	CHECK_STR(why, "missing SNS field Signature");
	/* A garbage certificate is refused cleanly. */
	body = sns_body("Notification", "x", NULL, "1", "AAAA");
	assert_int_equal(cg_sns_parse(body, strlen(body), &m, why, sizeof(why)), 0);
	assert_int_equal(cg_sns_verify(&m, "nope", 4, why, sizeof(why)), CG_EAUTH);
	CHECK_STR(why, "SNS signing certificate unreadable");
	cg_sns_msg_cleanup(&m);
	free(body);
	free(pem);
	free(cp);
}

static void test_url_allowlist(void **state)
{
	struct cg_config *c = cfg_with("      - sns: {}\n");
	const struct cg_verify_config *v = &c->sources[0].verify[0];
	char why[96];
	static const struct {
		const char *url;
		int ok;
	} cases[] = {
		{"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem", 1},
		{"https://SNS.eu-west-3.amazonaws.com/x.pem", 1},
		{"https://sns.cn-north-1.amazonaws.com.cn/x.pem", 1},
		{"https://sns.us-east-1.amazonaws.com:443/x.pem", 1},
		{"https://sns.us-east-1.amazonaws.com:8443/x.pem", 0},
		{"https://sns.us-east-1.amazonaws.com:444/x.pem", 0},
		{"https://sns.us-east-1.amazonaws.com:0/x.pem", 0},
		{"https://sns.us-east-1.amazonaws.com:65535?x", 0},
		{"https://sns.us-east-1.amazonaws.com:00443/x.pem", 1},
		{"http://sns.us-east-1.amazonaws.com/x.pem", 0},
		{"https://sns.us-east-1.amazonaws.com.evil.example/x.pem", 0},
		{"https://evil.example/sns.us-east-1.amazonaws.com/x.pem", 0},
		{"https://sns.us-east-1.amazonaws.com@evil.example/x.pem", 0},
		{"https://evil.example#@sns.us-east-1.amazonaws.com/", 0},
		{"https://sns.us-east-1.amazonaws.com:x/", 0},
		{"https://s3.amazonaws.com/x.pem", 0},
		{"https:///x.pem", 0},
		{"", 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got = cg_verify_url_allowed(cases[i].url, v->cert_hosts, v->ncert_hosts, why, sizeof(why));
		if (got != cases[i].ok) {
			print_error("%s: got %d, want %d (%s)\n", cases[i].url, got, cases[i].ok, why);
			fail();
		}
	}
	assert_int_equal(v->confirm, 1);
	cg_config_free(c);
	/* Another port only where a pattern names it (host:port); the host alone does not allow it. */
	c = cfg_with("      - sns: {cert_hosts: ['^certs\\.example$', '^certs\\.example:8443$']}\n");
	v = &c->sources[0].verify[0];
	assert_int_equal(cg_verify_url_allowed("https://certs.example:8443/c.pem", v->cert_hosts, v->ncert_hosts, why,
					       sizeof(why)),
			 1);
	assert_int_equal(cg_verify_url_allowed("https://certs.example:8444/c.pem", v->cert_hosts, v->ncert_hosts, why,
					       sizeof(why)),
			 0);
	CHECK_STR(why, "URL port is not 443 (and host:port is not in the allowlist)");
	assert_int_equal(cg_verify_url_allowed("https://certs.example/c.pem", v->cert_hosts, v->ncert_hosts, why,
					       sizeof(why)),
			 1);
	cg_config_free(c);
}

/* ---- client address and CIDRs ---- */

static void test_cidr(void **state)
{
	struct cg_cidr r[3];
	assert_int_equal(cg_cidr_parse("10.0.0.0/8", &r[0]), 0);
	assert_int_equal(cg_cidr_parse("2001:db8::/32", &r[1]), 0);
	assert_int_equal(cg_cidr_parse("::ffff:192.168.1.0/120", &r[2]), 0);
	assert_int_equal(r[2].family, 4);
	assert_int_equal(r[2].bits, 24);
	assert_true(cg_cidr_match(r, 3, "10.200.1.1"));
	assert_false(cg_cidr_match(r, 3, "11.0.0.1"));
	assert_true(cg_cidr_match(r, 3, "2001:db8:1::5"));
	assert_false(cg_cidr_match(r, 3, "2001:db9::5"));
	assert_true(cg_cidr_match(r, 3, "192.168.1.77"));
	assert_true(cg_cidr_match(r, 3, "::ffff:10.1.2.3")); /* dual-stack peer form */
	assert_false(cg_cidr_match(r, 3, "garbage"));
	assert_int_equal(cg_cidr_parse("10.0.0.0/33", &r[0]), CG_EINVAL);
	assert_int_equal(cg_cidr_parse("10.0.0/8", &r[0]), CG_EINVAL);
	assert_int_equal(cg_cidr_parse("10.0.0.0/", &r[0]), CG_EINVAL);
	assert_int_equal(cg_cidr_parse("1.2.3.4/x", &r[0]), CG_EINVAL);
	assert_int_equal(cg_cidr_parse("0.0.0.0/0", &r[0]), 0);
	assert_true(cg_cidr_match(r, 1, "8.8.8.8"));
}

static void test_client_address(void **state)
{
	struct cg_cidr t[2];
	cg_cidr_parse("127.0.0.1", &t[0]);
	cg_cidr_parse("10.0.0.0/8", &t[1]);
	char out[64];
	static const struct {
		const char *peer;
		int fwd;
		const char *v1, *v2;
		const char *want;
	} cases[] = {
		{"127.0.0.1", 0, "203.0.113.7", NULL, "203.0.113.7"},
		/* Rightmost untrusted: a spoofed leftmost entry is not believed. */
		{"127.0.0.1", 0, "1.1.1.1, 203.0.113.7, 10.1.1.1", NULL, "203.0.113.7"},
		{"127.0.0.1", 0, "1.1.1.1", "203.0.113.9, 10.0.0.2", "203.0.113.9"},
		/* Untrusted peer: headers ignored. */
		{"198.51.100.2", 0, "203.0.113.7", NULL, "198.51.100.2"},
		/* All trusted: the leftmost. */
		{"127.0.0.1", 0, "10.0.0.9, 10.0.0.1", NULL, "10.0.0.9"},
		/* Garbage stops the walk at the hop to its right. */
		{"127.0.0.1", 0, "203.0.113.7, evil, 10.0.0.3", NULL, "10.0.0.3"},
		{"127.0.0.1", 0, "[2001:db8::1]:443, 203.0.113.8:5555", NULL, "203.0.113.8"},
		{"127.0.0.1", 0, "", NULL, "127.0.0.1"},
		{"127.0.0.1", 1, "for=192.0.2.60;proto=http;by=203.0.113.43, for=\"[2001:db8:cafe::17]:4711\"", NULL,
		 "2001:db8:cafe::17"},
		{"127.0.0.1", 1, "for=192.0.2.60, for=10.0.0.1", NULL, "192.0.2.60"},
		{"127.0.0.1", 1, "for=unknown", NULL, "127.0.0.1"},
		{"::ffff:127.0.0.1", 0, "203.0.113.7", NULL, "203.0.113.7"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *vals[2] = {cases[i].v1, cases[i].v2};
		cg_guard_resolve_client(t, 2, cases[i].fwd, cases[i].peer, vals, cases[i].v2 ? 2 : 1, out, sizeof(out));
		if (strcmp(out, cases[i].want) != 0) {
			print_error("case %zu: got %s, want %s\n", i, out, cases[i].want);
			fail();
		}
	}
	/* No trusted proxies configured: the peer, always. */
	const char *v[1] = {"203.0.113.7"};
	cg_guard_resolve_client(t, 0, 0, "127.0.0.1", v, 1, out, sizeof(out));
	CHECK_STR(out, "127.0.0.1");
}

/* ---- config ---- */

static void expect_config_error(const char *yaml, const char *needle, const char *secret)
{
	char *text = cg_h_fmt("trusted_proxies: [127.0.0.1, 10.0.0.0/8]\n"
			      "sources:\n"
			      "  - name: demo\n"
			      "    type: generic\n"
			      "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
			      "    case_type: 00000000-0000-0000-0000-000000000001\n%s",
			      yaml);
	struct cg_config *c = NULL;
	char *errs = NULL;
	int rc = cg_config_parse("t.yaml", text, strlen(text), &c, &errs);
	if (rc != CG_EINVAL || !errs || !strstr(errs, needle)) {
		print_error("yaml:\n%s\ngot rc %d errs '%s', want an error containing '%s'\n", yaml, rc,
			    errs ? errs : "(none)", needle);
		fail();
	}
	if (secret && strstr(errs, secret)) {
		print_error("error text quotes the secret: %s\n", errs);
		fail();
	}
	free(errs);
	free(text);
	cg_config_free(c);
}

static void test_config(void **state)
{
	expect_config_error("    verify: [{sentry: {}}]\n", "give secret, secret_file or secrets", NULL);
	expect_config_error("    verify: [{github: {secret: x}}]\n", "unknown scheme 'github'", NULL);
	expect_config_error("    verify: [{standard_webhooks: {secret: whsec_!!notbase64!!}}]\n",
			    "expected whsec_ followed by base64", "notbase64");
	expect_config_error("    verify: [{sentry: {secret: abc, header: X}}]\n", "'header' does not apply", NULL);
	expect_config_error("    verify: [{hmac: {secret: abc}}]\n", "header is required", NULL);
	expect_config_error("    verify: [{hmac: {header: X, secret: abc, signed: \"{ts}:{body}\"}}]\n",
			    "{ts} needs timestamp_header", NULL);
	expect_config_error("    verify: [{sns: {cert_hosts: [\"(\"]}}]\n", "not a valid regular expression", NULL);
	/* Stacked quantifiers and huge bounds are refused before regcomp (glibc copies the tree for
	 * each: a fuzzed rules pattern with thirty "+" in a row took 2 GB); a bracketed "+" is fine. */
	expect_config_error("    verify: [{sns: {cert_hosts: [\"a++\"]}}]\n", "a quantifier right after another", NULL);
	expect_config_error("    verify: [{sns: {cert_hosts: [\"a{1,300}\"]}}]\n", "a quantifier right after another", NULL);
	assert_int_equal(cg_text_regex_cheap("^sns\\.[a-z0-9+*]+\\.amazonaws\\.com(\\.cn)?$"), 1);
	assert_int_equal(cg_text_regex_cheap("x\\++"), 1);
	assert_int_equal(cg_text_regex_cheap("(a+)*{2}"), 0);
	expect_config_error("    verify: [{sns: {}}, {sns: {}}]\n", "sns is given twice", NULL);
	expect_config_error("    auth: none\n    allow_ips: [10.0.0.0/99]\n", "not an address or CIDR range", NULL);
}

static void test_config_ok(void **state)
{
	const char *text = "trusted_proxies: [127.0.0.1, \"10.0.0.0/8\"]\n"
			   "proxy_header: forwarded\n"
			   "tls: {cert_file: /etc/c.pem, key_file: /etc/k.pem}\n"
			   "sources:\n"
			   "  - name: demo\n"
			   "    type: generic\n"
			   "    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
			   "    case_type: 00000000-0000-0000-0000-000000000001\n"
			   "    auth: {bearer: tok}\n"
			   "    allow_ips: [192.0.2.0/24]\n"
			   "    verify:\n"
			   "      - grafana: {secret: a, timestamp: true, replay_window: 90s}\n"
			   "      - sns: {cert_hosts: [\"^localhost$\"], confirm: false}\n";
	struct cg_config *c = NULL;
	char *errs = NULL;
	int rc = cg_config_parse("t.yaml", text, strlen(text), &c, &errs);
	if (rc) {
		print_error("got %d (%s), want 0\n", rc, errs ? errs : "");
		fail();
	}
	assert_int_equal(c->ntrusted_proxies, 2);
	assert_int_equal(c->proxy_header_forwarded, 1);
	CHECK_STR(c->tls_cert_file, "/etc/c.pem");
	const struct cg_source_config *s = &c->sources[0];
	assert_int_equal(s->nallow_ips, 1);
	assert_int_equal(s->nverify, 2);
	assert_int_equal(s->verify[0].kind, CG_VERIFY_GRAFANA);
	assert_true(s->verify[0].replay_window_ms == 90000);
	CHECK_STR(s->verify[0].timestamp_header, "X-Grafana-Alerting-Timestamp");
	assert_int_equal(s->verify[1].kind, CG_VERIFY_SNS);
	assert_int_equal(s->verify[1].confirm, 0);
	assert_int_equal(s->auth.kind, CG_AUTH_BEARER);
	cg_config_free(c);

	/* verify without auth: the signature is the credential (auth defaults to none). */
	c = cfg_with("      - sentry: {secret: x}\n");
	assert_int_equal(c->sources[0].auth.kind, CG_AUTH_NONE);
	cg_config_free(c);
}

int main(void)
{
	tmp = cg_h_tmpdir("verify");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decoders),
		cmocka_unit_test(test_hmac_generic_hex_prefix),
		cmocka_unit_test(test_hmac_generic_b64_timestamp),
		cmocka_unit_test(test_sentry),
		cmocka_unit_test(test_pagerduty),
		cmocka_unit_test(test_standard_webhooks),
		cmocka_unit_test(test_grafana),
		cmocka_unit_test(test_sns),
		cmocka_unit_test(test_url_allowlist),
		cmocka_unit_test(test_cidr),
		cmocka_unit_test(test_client_address),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_config_ok),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	cg_h_rmrf(tmp);
	free(tmp);
	return rc;
}
