/* mailtrust.c: whether a mail's sender is one a source trusts: envelope, From and the MTA's Authentication-Results. */
#include "mailtrust.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "event.h"

#define AR_MAX 4096 /* an Authentication-Results value longer than this is not read */

/* Copies value without RFC 5322 comments (nested parentheses outside quoted strings). */
static void strip_comments(const char *in, char *out, size_t cap)
{
	size_t o = 0;
	int depth = 0, quoted = 0;
	for (const char *p = in; *p && o + 1 < cap; p++) {
		if (quoted) {
			if (*p == '\\' && p[1]) {
				out[o++] = *p++;
				if (o + 1 < cap)
					out[o++] = *p;
				continue;
			}
			if (*p == '"')
				quoted = 0;
			out[o++] = *p;
			continue;
		}
		if (depth) {
			if (*p == '\\' && p[1])
				p++;
			else if (*p == '(')
				depth++;
			else if (*p == ')')
				depth--;
			continue;
		}
		if (*p == '(') {
			depth = 1;
			out[o++] = ' ';
			continue;
		}
		if (*p == '"')
			quoted = 1;
		out[o++] = *p;
	}
	out[o] = '\0';
}

/* Next token of s (separated by blanks or sep, quotes kept together): start and length, or 0. */
static size_t next_token(const char **s, char sep, const char **start)
{
	const char *p = *s;
	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	*start = p;
	int quoted = 0;
	while (*p && (quoted || (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n' && *p != sep))) {
		if (*p == '"')
			quoted = !quoted;
		p++;
	}
	*s = p;
	return (size_t)(p - *start);
}

/* The domain of an address, a "@domain" or a bare domain, lowercase into out. */
static void domain_of(const char *v, size_t n, char *out, size_t cap)
{
	if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
		v++;
		n -= 2;
	}
	const char *at = NULL;
	for (size_t i = 0; i < n; i++)
		if (v[i] == '@')
			at = v + i;
	if (at) {
		n -= (size_t)(at + 1 - v);
		v = at + 1;
	}
	size_t o = 0;
	for (size_t i = 0; i < n && o + 1 < cap; i++)
		out[o++] = (char)(v[i] >= 'A' && v[i] <= 'Z' ? v[i] + 32 : v[i]);
	out[o] = '\0';
}

/*
 * Whether a DKIM/SPF-authenticated domain vouches for the From domain: the same, or a
 * subdomain of it (its owner controls those). A parent domain does not: without the public
 * suffix list "github.io" would vouch for "victim.github.io" (DMARC's own verdict does that
 * properly: prefer dmarc=pass).
 */
static int aligned(const char *auth_domain, const char *from_domain)
{
	size_t la = strlen(auth_domain), lf = strlen(from_domain);
	if (!la || !lf || la < lf)
		return 0;
	if (la == lf)
		return strcmp(auth_domain, from_domain) == 0;
	return auth_domain[la - lf - 1] == '.' && strcmp(auth_domain + la - lf, from_domain) == 0;
}

/* The next ';' of s outside quoted strings, or NULL. */
static const char *next_semi(const char *s)
{
	int quoted = 0;
	for (; *s; s++) {
		if (*s == '"')
			quoted = !quoted;
		else if (*s == '\\' && quoted && s[1])
			s++;
		else if (*s == ';' && !quoted)
			return s;
	}
	return NULL;
}

int cg_mail_auth_results_pass(const char *value, const char *authserv_id, const char *domain, char *why,
			      size_t whylen)
{
	if (!value || strlen(value) >= AR_MAX) {
		snprintf(why, whylen, "no readable Authentication-Results");
		return 0;
	}
	char *buf = malloc(AR_MAX);
	if (!buf) {
		snprintf(why, whylen, "out of memory reading Authentication-Results");
		return 0;
	}
	strip_comments(value, buf, AR_MAX);
	const char *p = buf, *tok;
	size_t n = next_token(&p, ';', &tok);
	if (n != strlen(authserv_id) || strncasecmp(tok, authserv_id, n) != 0) {
		snprintf(why, whylen, "topmost Authentication-Results from '%.*s', not '%s'", (int)(n > 64 ? 64 : n), tok,
			 authserv_id);
		free(buf);
		return 0;
	}
	int pass = 0;
	char failed[96] = "";
	/* Each resinfo: "method=result" then "reason=..." and "ptype.property=value" items. */
	while (*p && !pass) {
		const char *semi = next_semi(p);
		if (!semi)
			break;
		p = semi + 1;
		const char *end = next_semi(p);
		size_t rlen = end ? (size_t)(end - p) : strlen(p);
		char res[1024];
		snprintf(res, sizeof(res), "%.*s", (int)(rlen < sizeof(res) ? rlen : sizeof(res) - 1), p);
		const char *q = res;
		size_t mn = next_token(&q, '\0', &tok);
		const char *eq = mn ? memchr(tok, '=', mn) : NULL;
		if (!eq)
			continue; /* "none", or a version number */
		char method[16], result[16];
		size_t ml = (size_t)(eq - tok);
		const char *slash = memchr(tok, '/', ml);
		if (slash)
			ml = (size_t)(slash - tok); /* "dkim/1" */
		snprintf(method, sizeof(method), "%.*s", (int)(ml < sizeof(method) ? ml : sizeof(method) - 1), tok);
		size_t rl = (size_t)(tok + mn - (eq + 1));
		snprintf(result, sizeof(result), "%.*s", (int)(rl < sizeof(result) ? rl : sizeof(result) - 1), eq + 1);
		int is_dmarc = strcasecmp(method, "dmarc") == 0, is_dkim = strcasecmp(method, "dkim") == 0,
		    is_spf = strcasecmp(method, "spf") == 0;
		if (!is_dmarc && !is_dkim && !is_spf)
			continue;
		if (strcasecmp(result, "pass") != 0) {
			if (!failed[0])
				snprintf(failed, sizeof(failed), "%s=%s", method, result);
			continue;
		}
		size_t pn;
		while ((pn = next_token(&q, '\0', &tok)) > 0) {
			const char *e = memchr(tok, '=', pn);
			if (!e)
				continue;
			size_t kl = (size_t)(e - tok), vl = pn - kl - 1;
			char d[256];
			domain_of(e + 1, vl, d, sizeof(d));
			if (is_dmarc && kl == 11 && strncasecmp(tok, "header.from", 11) == 0)
				pass = strcmp(d, domain) == 0;
			else if (is_dkim && ((kl == 8 && strncasecmp(tok, "header.d", 8) == 0) ||
					     (kl == 8 && strncasecmp(tok, "header.i", 8) == 0)))
				pass = aligned(d, domain);
			else if (is_spf && kl == 13 && strncasecmp(tok, "smtp.mailfrom", 13) == 0)
				pass = aligned(d, domain);
			if (pass)
				break;
		}
	}
	free(buf);
	if (!pass)
		snprintf(why, whylen, "Authentication-Results from %s do not authenticate %s%s%s", authserv_id, domain,
			 failed[0] ? ": " : "", failed);
	return pass;
}

static void lower_copy(const char *in, char *out, size_t cap)
{
	size_t o = 0;
	for (; in && *in && o + 1 < cap; in++)
		out[o++] = (char)(*in >= 'A' && *in <= 'Z' ? *in + 32 : *in);
	out[o] = '\0';
}

int cg_mail_sender_trusted(const cJSON *mail, const char *authserv_id, cg_mail_sender_list_fn on_list, const void *ud,
			   char *why, size_t whylen)
{
	char from[320], env[320];
	lower_copy(cg_json_str(mail, "from"), from, sizeof(from));
	const char *env_raw = cg_json_str(mail, "envelope_from");
	lower_copy(env_raw, env, sizeof(env));
	if (!from[0]) {
		snprintf(why, whylen, "no From address");
		return 0;
	}
	if (!on_list(from, ud)) {
		snprintf(why, whylen, "From %.100s is not on the list", from);
		return 0;
	}
	if (authserv_id) {
		const char *at = strrchr(from, '@');
		const char *ar = cg_json_str(mail, "headers.authentication-results");
		char r[200];
		if (!at || !cg_mail_auth_results_pass(ar, authserv_id, at + 1, r, sizeof(r))) {
			snprintf(why, whylen, "From %.100s not authenticated: %s", from, at ? r : "no domain");
			return 0;
		}
		return 1;
	}
	if (env_raw && !on_list(env, ud)) {
		snprintf(why, whylen, "envelope sender %.100s (From %.100s) is not on the list", env[0] ? env : "<>", from);
		return 0;
	}
	return 1;
}
