/* email.c: the `email` mapper: alert mail (parsed by mail.c) becomes one case event via its rule set. */
#include "email.h"
#include "sbuf.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "casebody.h" /* CG_DESCRIPTION_MAX */
#include "err.h"
#include "mail.h"
#include "maputil.h"
#include "mdsafe.h"
#include "registry.h"
#include "text.h"
#include "tmpl.h"

/* ---- subject handling ---- */

static size_t skip_space(const char *s, size_t i)
{
	while (s[i] == ' ' || s[i] == '\t')
		i++;
	return i;
}

/* Length of a leading reply/forward prefix ("Re:", "AW:", "Fwd:") incl. following space, or 0. */
static size_t reply_prefix(const char *s)
{
	static const char *const p[] = {"re:", "aw:", "fwd:", "fw:", "wg:", "sv:", "antw:", "tr:", NULL};
	for (size_t i = 0; p[i]; i++)
		if (strncasecmp(s, p[i], strlen(p[i])) == 0)
			return skip_space(s, strlen(p[i]));
	return 0;
}

/* Length of a leading "[FIRING:2]" / "[RESOLVED]" / "[FIRING]" tag incl. space, or 0. */
static size_t status_tag(const char *s)
{
	static const char *const t[] = {"[firing", "[resolved", "[alert", "[ok", "[problem", "[recovery", NULL};
	for (size_t i = 0; t[i]; i++) {
		size_t n = strlen(t[i]);
		if (strncasecmp(s, t[i], n) != 0)
			continue;
		size_t j = n;
		if (s[j] == ':')
			for (j++; isdigit((unsigned char)s[j]); j++)
				;
		if (s[j] == ']')
			return skip_space(s, j + 1);
	}
	return 0;
}

/* Leading status words: "PROBLEM", "RECOVERY", "Problem:", "Resolved in 5m:", "PROBLEM -". */
static size_t status_word(const char *s)
{
	static const char *const w[] = {"problem", "recovery", "resolved", "firing", "alert", NULL};
	for (size_t i = 0; w[i]; i++) {
		size_t n = strlen(w[i]);
		if (strncasecmp(s, w[i], n) != 0)
			continue;
		size_t j = n;
		if (strncasecmp(s + j, " in ", 4) == 0) {
			/* "Resolved in 5m 3s: ..." */
			const char *colon = strchr(s + j, ':');
			if (!colon || colon - s > 40)
				continue;
			j = (size_t)(colon - s);
		}
		if (s[j] == ':')
			return skip_space(s, j + 1);
		if (s[j] == ' ' && s[j + 1] == '-' && s[j + 2] == ' ')
			return skip_space(s, j + 3);
		if (s[j] == ' ' && (isupper((unsigned char)s[0]) && isupper((unsigned char)s[1])))
			return skip_space(s, j); /* all-caps word as in Nagios' "PROBLEM Service Alert" */
	}
	return 0;
}

char *cg_email_clean_subject(const char *subject)
{
	const char *s = subject ? subject : "";
	size_t i = skip_space(s, 0);
	for (int guard = 0; guard < 8; guard++) {
		size_t k;
		if ((k = reply_prefix(s + i)) || (k = status_tag(s + i))) {
			i += k;
			continue;
		}
		if (s[i] == '*' && s[i + 1] == '*') {
			i = skip_space(s, i + 2);
			continue;
		}
		if ((k = status_word(s + i))) {
			i += k;
			continue;
		}
		break;
	}
	char *out = strdup(s + i);
	if (!out)
		return NULL;
	size_t n = strlen(out);
	while (n && (out[n - 1] == ' ' || out[n - 1] == '*' || out[n - 1] == '\t'))
		out[--n] = '\0';
	if (!*out) {
		free(out);
		return strdup(subject && *subject ? subject : "(no subject)");
	}
	return out;
}

static int is_state_word(const char *w, size_t n)
{
	static const char *const st[] = {"ok",	     "up",	 "down",    "critical", "warning", "unknown",
					 "unreachable", "pending", "resolved", "firing", NULL};
	for (size_t i = 0; st[i]; i++)
		if (strlen(st[i]) == n && strncasecmp(w, st[i], n) == 0)
			return 1;
	return 0;
}

char *cg_email_subject_key(const char *subject)
{
	char *c = cg_email_clean_subject(subject);
	if (!c)
		return NULL;
	/* Drop a trailing " is STATE" / " is STATE!" */
	size_t n = strlen(c);
	while (n && c[n - 1] == '!')
		c[--n] = '\0';
	char *is = NULL;
	for (char *p = c; (p = strstr(p, " is ")); p++)
		is = p;
	if (is && is_state_word(is + 4, strlen(is + 4)))
		*is = '\0';
	/* Lower case, one space between words. */
	size_t j = 0;
	int sp = 0;
	for (size_t i = 0; c[i]; i++) {
		unsigned char ch = (unsigned char)c[i];
		if (ch == ' ' || ch == '\t') {
			sp = j > 0;
			continue;
		}
		if (sp)
			c[j++] = ' ';
		sp = 0;
		c[j++] = (char)tolower(ch);
	}
	c[j] = '\0';
	return c;
}

/* The case title: the cleaned subject without a trailing " is STATE" (Nagios' "web1/HTTP is
 * CRITICAL", Icinga's "... is WARNING!"). The title is set once, at creation: a state in it would
 * still say WARNING after an escalation to CRITICAL and after the recovery. Other text is kept as
 * written; the dedup key (cg_email_subject_key) is left as it was, so existing cases still match. */
static char *title_of(const char *clean)
{
	char *t = strdup(clean);
	if (!t)
		return NULL;
	char *is = NULL;
	for (char *p = t; (p = strstr(p, " is ")); p++)
		is = p;
	if (is) {
		size_t n = strlen(is + 4);
		while (n && is[4 + n - 1] == '!')
			n--;
		if (is_state_word(is + 4, n)) {
			*is = '\0';
			size_t m = strlen(t);
			while (m && (t[m - 1] == ' ' || t[m - 1] == '\t' || t[m - 1] == '-' || t[m - 1] == ':'))
				t[--m] = '\0';
			if (!*t) { /* nothing before it: keep the subject as it was */
				free(t);
				return strdup(clean);
			}
		}
	}
	return t;
}

void cg_email_subject_case_key(const char *subject, char out[64])
{
	out[0] = '\0';
	for (const char *p = subject ? strchr(subject, '[') : NULL; p; p = strchr(p + 1, '[')) {
		const char *q = p + 1;
		size_t n = 0;
		if (!isupper((unsigned char)q[0]))
			continue;
		while (isupper((unsigned char)q[n]) || isdigit((unsigned char)q[n]) || q[n] == '_')
			n++;
		if (q[n] != '-' || !isdigit((unsigned char)q[n + 1]))
			continue;
		n++;
		while (isdigit((unsigned char)q[n]))
			n++;
		if (q[n] != ']' || n >= 63)
			continue;
		memcpy(out, q, n);
		out[n] = '\0';
		return;
	}
}

/* ---- text ---- */

static int quote_start(const char *line, size_t len)
{
	if (len > 0 && line[0] == '>')
		return 1;
	if (len >= 5 && strncmp(line, "-----", 5) == 0)
		return 1; /* "-----Original Message-----" and the like */
	if (len == 3 && strncmp(line, "-- ", 3) == 0)
		return 1; /* signature separator */
	if (len > 8 && strncmp(line, "On ", 3) == 0 && len >= 6 && strncmp(line + len - 6, "wrote:", 6) == 0)
		return 1;
	if (len > 8 && strncmp(line, "Am ", 3) == 0 && len >= 12 && strncmp(line + len - 12, "geschrieben:", 12) == 0)
		return 1;
	return 0;
}

/* The mail's attachments as a list after the text (they are named, never uploaded). */
static void attachments_md(struct cg_sbuf *b, const cJSON *mail)
{
	const cJSON *att;
	int first = 1;
	cJSON_ArrayForEach(att, cJSON_GetObjectItemCaseSensitive(mail, "attachments"))
	{
		cg_sbuf_add(b, first ? "\n\n**Attachments (not uploaded):**\n" : "\n");
		first = 0;
		double size = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(att, "size"));
		const char *an = cg_json_str(att, "name");
		if (size >= 0)
			cg_md_addf(b, "- %.200s (%.0f bytes, %.80s)", an ? an : "?", size,
				   cg_json_str(att, "content_type") ? cg_json_str(att, "content_type") : "?");
		else
			cg_md_addf(b, "- %.200s", an ? an : "?");
	}
}

/* Appends the n bytes of text made from HTML as Markdown text. Its single line breaks are the
 * HTML's own layout (Alertmanager's stock mail: "Labels" over one "alertname = DiskFull" line a
 * label); as Markdown text they would run together into one line, so each becomes a hard break
 * (two spaces before it). Blank lines stay paragraph breaks. */
static void html_text(struct cg_sbuf *b, const char *text, size_t n)
{
	for (size_t i = 0; i < n;) {
		const char *nl = memchr(text + i, '\n', n - i);
		size_t end = nl ? (size_t)(nl - text) : n;
		cg_md_putn(b, text + i, end - i, CG_MD_TEXT);
		if (!nl)
			break;
		cg_sbuf_add(b, end > i && end + 1 < n && text[end + 1] != '\n' ? "  \n" : "\n");
		i = end + 1;
	}
}

/* The builder cuts a description at CG_DESCRIPTION_MAX (32 KiB): the fenced text stays below it,
 * with room for the head line and the notes after it, so the block is always closed. */
#define FENCED_TEXT_MAX (30 * 1024)

/* Appends the n bytes at s as a fenced block (cg_md_fence) of at most max bytes of neutralised
 * content (neutralising can make text longer: it is cut after). Returns 1 when it cut. */
static int fenced(struct cg_sbuf *b, const char *s, size_t n, size_t max)
{
	struct cg_sbuf t = {0};
	cg_md_putn(&t, s, n, CG_MD_BLOCK);
	char *c = cg_sbuf_take(&t);
	if (!c) {
		b->oom = 1;
		return 0;
	}
	int cut = strlen(c) > max;
	if (cut)
		cg_utf8_truncate(c, max);
	cg_md_fence(b, c); /* CG_MD_BLOCK again: changes nothing now */
	free(c);
	return cut;
}

char *cg_email_comment_text(const cJSON *mail, size_t max)
{
	struct cg_sbuf b = {0};
	const char *from = cg_json_str(mail, "from");
	const char *name = cg_json_str(mail, "from_name");
	const char *subject = cg_json_str(mail, "subject");
	/* Head line bounded (200 bytes each; invalid UTF-8 from a cut becomes U+FFFD), so the block
	 * below knows its room and is always closed within max. */
	cg_sbuf_add(&b, "**E-mail from ");
	if (name && *name)
		cg_md_addf(&b, "%.200s &lt;%.200s&gt;", name, from ? from : "?"); /* a bare <...> could read as HTML */
	else
		cg_md_addf(&b, "%.200s", from ? from : "unknown sender");
	cg_sbuf_add(&b, "**");
	if (subject && *subject)
		cg_md_addf(&b, ": %.200s", subject);
	cg_sbuf_add(&b, "\n\n");
	const char *text = cg_json_str(mail, "text");
	/* The reply's own text: up to the quote of the mail it answers. */
	size_t own = 0;
	for (const char *line = text; line && *line;) {
		const char *eol = strchr(line, '\n');
		size_t len = eol ? (size_t)(eol - line) : strlen(line);
		if (quote_start(line, len))
			break;
		own = (size_t)(line - text) + len;
		line = eol ? eol + 1 : NULL;
	}
	while (own && (text[own - 1] == '\n' || text[own - 1] == ' ' || text[own - 1] == '\t'))
		own--;
	if (own && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(mail, "text_html"))) {
		html_text(&b, text, own);
	} else if (own) {
		/* Plain text shown as written (see description()), the block closed within max. */
		/* The head's length, then 1 KiB for the fence lines and the attachment list. */
		fenced(&b, text, own, max > b.len + 2048 ? max - b.len - 1024 : 64);
		if (b.len && b.p && b.p[b.len - 1] == '\n')
			b.p[--b.len] = '\0';
	}
	attachments_md(&b, mail);
	char *out = cg_sbuf_take(&b);
	if (out && strlen(out) > max)
		cg_utf8_truncate(out, max);
	return out;
}

/* After a link whose words are not its URL: the host it really goes to, as text ("[Grafana
 * dashboard](https://evil.example/...) (evil.example)"). A sender writes the words; without the
 * host, words that look like another address ("https://grafana.corp/ok") would hide where the
 * link leads. Userinfo ("grafana.corp@evil.example") is not the host and is not shown. */
static void link_host(struct cg_sbuf *b, const char *text, const char *url)
{
	if (!text || !*text || strcmp(text, url) == 0)
		return;
	const char *h = strstr(url, "://");
	if (!h)
		return;
	h += 3;
	size_t n = strcspn(h, "/?#");
	for (size_t i = n; i > 0; i--)
		if (h[i - 1] == '@') {
			h += i;
			n -= i;
			break;
		}
	cg_sbuf_add(b, " (");
	cg_md_putn(b, h, n, CG_MD_TEXT);
	cg_sbuf_add(b, ")");
}

static char *description(const cJSON *mail)
{
	struct cg_sbuf b = {0};
	const char *from = cg_json_str(mail, "from");
	const char *date = cg_json_str(mail, "date");
	cg_md_addf(&b, "_E-mail from %.200s%s%.40s_\n\n", from ? from : "unknown sender", date ? " at " : "",
		   date ? date : "");
	const char *text = cg_json_str(mail, "text");
	int cut = 0;
	if (!text || !*text)
		cg_sbuf_add(&b, "(no text)");
	else if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(mail, "text_html")))
		html_text(&b, text, strlen(text)); /* HTML made readable, as Markdown text */
	else {
		/* Plain text is laid out by its lines ("***** Nagios *****", "Host: web1" one under the
		 * other): as Markdown text its line breaks run together and its stars turn into emphasis.
		 * A fenced block shows it as written, and nothing inside a fence renders (cg_md_fence:
		 * the fence is longer than any backtick run inside, mentions and hidden characters are
		 * neutralised as everywhere). */
		cut = fenced(&b, text, strlen(text), FENCED_TEXT_MAX);
		if (b.len && b.p && b.p[b.len - 1] == '\n')
			b.p[--b.len] = '\0'; /* what follows starts with its own blank line */
	}
	if (cut || cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(mail, "text_truncated")))
		cg_sbuf_add(&b, "\n\n_(text truncated)_");
	/* The HTML's links (an HTML body's text keeps only their words): casegate's own Markdown links,
	 * http(s) only, their text neutralised like the body, their URL percent-encoded where it could
	 * end the link (cg_md_link). */
	const cJSON *l;
	int first = 1;
	cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(mail, "links"))
	{
		const char *url = cg_json_str(l, "url"), *ltext = cg_json_str(l, "text");
		if (!cg_mu_is_http(url))
			continue;
		/* The builder cuts at CG_DESCRIPTION_MAX: the list stops whole before that (an encoded
		 * URL is at most three times its length), with room left for the attachments. */
		if (b.len + 3 * strlen(url) + 4 * CG_MAIL_MAX_LINK_TEXT + 512 > CG_DESCRIPTION_MAX - 2048) {
			cg_sbuf_add(&b, first ? "\n\n**Links**\n- _(left out: the description is full)_"
			                      : "\n- _(more links left out: the description is full)_");
			break;
		}
		cg_sbuf_add(&b, first ? "\n\n**Links**\n- " : "\n- ");
		cg_md_link(&b, ltext && *ltext ? ltext : url, url);
		link_host(&b, ltext, url);
		first = 0;
	}
	attachments_md(&b, mail);
	return cg_sbuf_take(&b);
}

/* The mail's links as the event's links (comments list them; templates see {{links.TEXT}}), named
 * by their text; a second link with the same text is "TEXT (2)", and so on. */
static int mail_links(cJSON *links, const cJSON *mail)
{
	const cJSON *l;
	cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(mail, "links"))
	{
		const char *url = cg_json_str(l, "url"), *text = cg_json_str(l, "text");
		if (!cg_mu_is_http(url))
			continue;
		/* The name: the link's words (or its URL) cut at a character boundary, so it stays UTF-8. */
		char *base = strdup(text && *text ? text : url);
		if (!base)
			return CG_ENOMEM;
		cg_utf8_truncate(base, CG_MAIL_MAX_LINK_TEXT);
		char name[CG_MAIL_MAX_LINK_TEXT + 16];
		snprintf(name, sizeof(name), "%s", base);
		for (int n = 2; cJSON_GetObjectItemCaseSensitive(links, name) && n <= CG_MAIL_MAX_LINKS + 1; n++)
			snprintf(name, sizeof(name), "%s (%d)", base, n);
		free(base);
		int rc = cg_mu_link(links, name, url);
		if (rc)
			return rc;
	}
	return 0;
}

/* Resolved/firing from the subject alone (no rule said anything). */
static enum cg_mail_verdict subject_verdict(const char *subject)
{
	const char *s = subject ? subject : "";
	size_t i = skip_space(s, 0);
	size_t k;
	while ((k = reply_prefix(s + i)))
		i += k;
	if (strncasecmp(s + i, "[resolved", 9) == 0 || strncasecmp(s + i, "[ok]", 4) == 0 ||
	    strncasecmp(s + i, "** recovery", 11) == 0 || strncasecmp(s + i, "recovery", 8) == 0 ||
	    strncasecmp(s + i, "resolved", 8) == 0 || strncasecmp(s + i, "[recovery", 9) == 0)
		return CG_MAIL_RESOLVED;
	/* "... is OK", "... is UP" (Nagios/Icinga style without a rule set). */
	const char *is = NULL;
	for (const char *p = s; (p = strstr(p, " is ")); p++)
		is = p;
	if (is) {
		const char *w = is + 4;
		size_t n = strcspn(w, " !*");
		if ((n == 2 && (strncasecmp(w, "ok", 2) == 0 || strncasecmp(w, "up", 2) == 0)) && !w[n + strspn(w + n, " !*")])
			return CG_MAIL_RESOLVED;
	}
	return CG_MAIL_FIRING;
}

static int add_label(cJSON *labels, const char *k, const char *v)
{
	if (!v || cJSON_GetObjectItemCaseSensitive(labels, k))
		return 0;
	return cJSON_AddStringToObject(labels, k, v) ? 0 : CG_ENOMEM;
}

int cg_email_map(const cJSON *mail, const struct cg_mail_rules *rules, struct cg_event_list *out, int *matched,
		 char *err, size_t errlen)
{
	if (matched)
		*matched = 0;
	if (!cJSON_IsObject(mail) || !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(mail, "subject"))) {
		snprintf(err, errlen, "not a mail payload (give casegate map an .eml file)");
		return CG_EINVAL;
	}
	char why[256];
	const char *code = cg_mail_noise(mail, 0, why, sizeof(why));
	if (code) {
		snprintf(out->ignored_reason, sizeof(out->ignored_reason), "%.20s: %.100s", code, why);
		return 0;
	}
	const char *from = cg_json_str(mail, "from");
	if (rules && !cg_mail_rules_sender_ok(rules, from)) {
		snprintf(out->ignored_reason, sizeof(out->ignored_reason),
			 "sender: %.70s is not an alert sender of rules '%.12s'", from ? from : "(none)",
			 cg_mail_rules_name(rules));
		return 0;
	}
	int rc = CG_ENOMEM;
	cJSON *fields = cJSON_CreateObject(), *captured = NULL;
	char *key = NULL, *clean = NULL;
	if (!fields)
		return CG_ENOMEM;
	int nmatched = 0;
	enum cg_mail_verdict verdict = CG_MAIL_UNKNOWN;
	if (rules && (rc = cg_mail_rules_apply(rules, mail, fields, &nmatched, &verdict)))
		goto out;
	rc = CG_ENOMEM;
	if (matched)
		*matched = nmatched;
	if (rules && nmatched == 0 && cg_mail_rules_ignore_unmatched(rules)) {
		snprintf(out->ignored_reason, sizeof(out->ignored_reason), "unmatched: no rule of '%.40s' matched",
			 cg_mail_rules_name(rules));
		rc = 0;
		goto out;
	}
	const char *subject = cg_json_str(mail, "subject");
	if (verdict == CG_MAIL_UNKNOWN)
		verdict = subject_verdict(subject);

	/* Template context: the extracted fields plus the mail's own facts, and the captured fields
	 * again under `fields`: a field named like a built-in variable ({{status}}, {{title}}, ...)
	 * is hidden at the top level by the event's own value, never under `fields.` (check-config
	 * warns about such names, see cg_mail_field_builtin). */
	if (!(captured = cJSON_Duplicate(fields, 1)))
		goto out;
	static const char *const facts[] = {"subject", "from", "from_name", "message_id", "date", NULL};
	for (size_t i = 0; facts[i]; i++) {
		const char *v = cg_json_str(mail, facts[i]);
		if (v && !cJSON_GetObjectItemCaseSensitive(fields, facts[i]) && !cJSON_AddStringToObject(fields, facts[i], v))
			goto out;
	}
	cJSON_DeleteItemFromObjectCaseSensitive(fields, "fields");
	if (!cJSON_AddItemToObject(fields, "fields", captured))
		goto out;
	captured = NULL;
	if (!(clean = cg_email_clean_subject(subject)))
		goto out;
	const char *tmpl = rules ? cg_mail_rules_dedup_key(rules) : NULL;
	if (tmpl && nmatched) {
		char terr[128];
		int trc = cg_tmpl_render_str(tmpl, fields, &key, terr, sizeof(terr));
		if (trc == CG_ENOMEM)
			goto out;
		/* A key of separators only means the fields it needs were not found. */
		if (key && strspn(key, "/-_ :") == strlen(key)) {
			free(key);
			key = NULL;
		}
	}
	if (!key && !(key = cg_email_subject_key(subject)))
		goto out;
	if (!*key) {
		snprintf(err, errlen, "mail has no subject to build a dedup key from");
		rc = CG_EINVAL;
		goto out;
	}

	struct cg_event *e = cg_event_list_push(out);
	if (!e)
		goto out;
	e->status = verdict == CG_MAIL_RESOLVED  ? CG_STATUS_RESOLVED
		    : verdict == CG_MAIL_COMMENT ? CG_STATUS_COMMENT
						 : CG_STATUS_FIRING;
	const char *sev = cg_json_str(fields, "severity");
	if (!sev)
		sev = cg_json_str(fields, "state");
	e->severity = cg_strdup0(sev);
	e->title = title_of(clean);
	e->description = description(mail);
	e->dedup_key = key;
	key = NULL;
	/* A mail tells when it was sent, not when the problem began: every repeat has a new Date, so
	 * "started" stays empty unless a rule captured a `starts_at` field ({{date}} keeps the Date). */
	const char *started = cg_json_str(fields, "fields.starts_at");
	e->starts_at = cg_strdup0(started);
	e->labels = cJSON_CreateObject();
	e->annotations = cJSON_CreateObject();
	e->links = cJSON_CreateObject();
	if (!e->title || !e->description || !e->labels || !e->annotations || !e->links || (sev && !e->severity) ||
	    (started && !e->starts_at))
		goto out;
	static const char *const label_keys[] = {"host", "service", "address", "event_id", "group", NULL};
	for (size_t i = 0; label_keys[i]; i++)
		if (add_label(e->labels, label_keys[i], cg_json_str(fields, label_keys[i])))
			goto out;
	if ((rc = mail_links(e->links, mail)))
		goto out;
	rc = CG_ENOMEM;
	if (add_label(e->annotations, "from", from) || add_label(e->annotations, "subject", subject) ||
	    add_label(e->annotations, "message_id", cg_json_str(mail, "message_id")) ||
	    add_label(e->annotations, "output", cg_json_str(fields, "output")))
		goto out;
	/* Who acknowledged and why (Icinga's "Comment by ana:" line, any rule's `comment`/`author`):
	 * the comment on the case says it, next to the plugin output. */
	const char *note = cg_json_str(fields, "fields.comment");
	if (note && *note) {
		struct cg_sbuf cb = {0};
		const char *who = cg_json_str(fields, "fields.author");
		if (who && *who)
			cg_md_addf(&cb, "**Comment by %.200s:** %.2000s", who, note);
		else
			cg_md_addf(&cb, "**Comment:** %.2000s", note);
		if (!(e->comment_detail = cg_sbuf_take(&cb)))
			goto out;
	}
	if ((rc = cg_event_build_ctx(e, fields, mail)))
		goto out;
	if (rules && nmatched)
		snprintf(out->note, sizeof(out->note), "rules '%.40s': %d rule(s) matched", cg_mail_rules_name(rules),
			 nmatched);
	rc = 0;
out:
	if (rc == CG_ENOMEM)
		snprintf(err, errlen, "out of memory");
	free(key);
	free(clean);
	cJSON_Delete(captured);
	cJSON_Delete(fields);
	return rc;
}

static int map_email(const cJSON *payload, const struct cg_map_opts *opts, struct cg_event_list *out, char *err,
		     size_t errlen)
{
	return cg_email_map(payload, opts ? opts->mail_rules : NULL, out, NULL, err, errlen);
}

const struct cg_mapper cg_mapper_email = {
	.name = "email",
	.description = "alert e-mail (LMTP/SMTP listener or `casegate mail`); rules read host, service and state",
	.map = map_email,
	.supports_group_by = 0,
	.default_priority_map = "critical=P1,down=P1,disaster=P1,high=P2,unreachable=P2,error=P2,average=P3,"
				"warning=P3,unknown=P3,low=P4,information=P5,info=P5",
};
