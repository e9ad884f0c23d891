/* verify.h: webhook signature checks over the raw body: HMAC family (generic, Sentry, PagerDuty,
 * Standard Webhooks, Grafana) and AWS SNS message signatures. Pure functions: no I/O. */
#ifndef CG_VERIFY_H
#define CG_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "http.h"

/* At most this many signatures of one header are considered (rotation sends 2). */
#define CG_VERIFY_MAX_SIGS 8
#define CG_VERIFY_SIG_LEN 32 /* HMAC-SHA256 */

/* What a passing check leaves for the caller to enforce durably (on the store thread). */
struct cg_verify_pass {
	char replay_id[256]; /* non-empty: a repeat must be refused (Standard Webhooks webhook-id, or "sig:<hex>"
			      * for timestamped signatures without an id) */
};

/*
 * Checks one HMAC-family scheme (any kind but CG_VERIFY_SNS) against req's headers and raw
 * body at now_ms (Unix time in ms). Every configured secret is tried against every signature
 * of the header, without early exit; comparisons use CRYPTO_memcmp. Returns 0 (pass may get
 * a replay id) or CG_EAUTH with a reason in why ("missing header X", "signature mismatch",
 * "timestamp outside the 5m window", ...) that never contains a secret or a signature.
 */
int cg_verify_hmac(const struct cg_verify_config *v, const struct cg_http_request *req, int64_t now_ms,
		   struct cg_verify_pass *pass, char *why, size_t whylen);

/*
 * Parses a signature header value as scheme v->kind writes it into sigs (decoded, 32 bytes
 * each). Returns how many were found (0..CG_VERIFY_MAX_SIGS); 0 means malformed or none in a
 * supported version. Exposed for tests and tests/fuzz/fuzz_verify.c.
 */
size_t cg_verify_parse_sigs(const struct cg_verify_config *v, const char *value,
			    unsigned char sigs[CG_VERIFY_MAX_SIGS][CG_VERIFY_SIG_LEN]);

/* Parses a decimal Unix timestamp in seconds (or ms when it is that large) into ms; 0 or CG_EINVAL. */
int cg_verify_parse_ts(const char *s, int64_t *ms);

/* Decoders returning the decoded length, or -1 when s is not valid or does not fit. */
int cg_verify_hex_decode(const char *s, size_t len, unsigned char *out, size_t cap);
int cg_verify_b64_decode(const char *s, size_t len, unsigned char *out, size_t cap);

/* ---- AWS SNS ---- */

struct cg_sns_msg {
	cJSON *doc; /* owns the strings below */
	const char *type, *message_id, *token, *topic_arn, *subject, *message, *subscribe_url, *timestamp,
		*sig_version, *signature, *cert_url;
};

/* Parses an SNS HTTP(S) delivery (JSON envelope). 0, or CG_EAUTH with why (never a secret). */
int cg_sns_parse(const char *body, size_t len, struct cg_sns_msg *m, char *why, size_t whylen);
void cg_sns_msg_cleanup(struct cg_sns_msg *m);

/*
 * The string to sign of the documented field list: Notification: Message, MessageId,
 * Subject (when present), Timestamp, TopicArn, Type; SubscriptionConfirmation and
 * UnsubscribeConfirmation: Message, MessageId, SubscribeURL, Timestamp, Token, TopicArn,
 * Type; each "Name\nvalue\n". *out is malloc'd. 0, CG_EAUTH (missing field), CG_ENOMEM.
 */
int cg_sns_string_to_sign(const struct cg_sns_msg *m, char **out, size_t *outlen, char *why, size_t whylen);

/*
 * 1 when url is https://HOST[:port]/... with no user info and HOST (lower-cased) matches one
 * of the n regexes; else 0 with why.
 */
int cg_verify_url_allowed(const char *url, const regex_t *hosts, size_t n, char *why, size_t whylen);

/* Verifies m's Signature (SignatureVersion 1: SHA1withRSA, 2: SHA256withRSA) with the PEM
 * certificate. 0 or CG_EAUTH with why. */
int cg_sns_verify(const struct cg_sns_msg *m, const char *pem, size_t pemlen, char *why, size_t whylen);

#endif
