/* casetext.c: the Markdown casegate writes into a draft itself: the description when nobody gave one, an occurrence's summary. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "casetext.h"

#include <stdlib.h>
#include <string.h>

#include "casebody.h"
#include "json.h"
#include "mdsafe.h"
#include "text.h"

/* Writes a sender's value on a list item, neutralised; continuation lines are indented so they stay inside it. */
static void sb_put_item_value(struct cg_sbuf *s, const char *v)
{
	char *safe = cg_md_str(v, CG_MD_TEXT);
	if (!safe) {
		s->oom = 1;
		return;
	}
	for (const char *p = safe; *p;) {
		size_t run = strcspn(p, "\n");
		cg_sbuf_addn(s, p, run);
		p += run;
		if (*p == '\n') {
			cg_sbuf_addn(s, p, 1);
			if (p[1])
				cg_sbuf_add(s, "  ");
			p++;
		}
	}
	free(safe);
}

static void sb_put_string_list(struct cg_sbuf *s, const char *heading, const cJSON *obj, int code)
{
	const cJSON *it;
	int any = 0;
	cJSON_ArrayForEach(it, obj)
	{
		if (!cJSON_IsString(it) || !it->string)
			continue;
		if (!any)
			cg_sbuf_addf(s, "\n**%s**\n", heading);
		any = 1;
		cg_md_addf(s, "- **%s**: ", it->string);
		if (code && it->valuestring[0] && !strpbrk(it->valuestring, "\r\n"))
			cg_md_code(s, it->valuestring); /* a fence longer than any backtick run inside */
		else
			sb_put_item_value(s, it->valuestring);
		cg_sbuf_add(s, "\n");
	}
}

static void sb_put_links(struct cg_sbuf *s, const cJSON *links, const char *sep, const char *heading)
{
	const cJSON *it;
	int any = 0;
	cJSON_ArrayForEach(it, links)
	{
		if (!cJSON_IsString(it) || !it->string || !cg_text_is_http_url(it->valuestring))
			continue;
		if (heading)
			cg_sbuf_add(s, any ? "" : heading);
		else if (any)
			cg_sbuf_add(s, sep);
		any = 1;
		if (heading)
			cg_sbuf_add(s, "- ");
		cg_md_link(s, it->string, it->valuestring);
		if (heading)
			cg_sbuf_add(s, "\n");
	}
	if (any && !heading)
		cg_sbuf_add(s, "\n");
}

/* The Markdown description used when neither the spec nor the mapper gives one. */
char *cg_casetext_description(const struct cg_event *ev)
{
	struct cg_sbuf s = {0};
	cg_sbuf_addf(&s, "**Status:** %s  \n", ev->status == CG_STATUS_RESOLVED ? "resolved" : "firing");
	if (ev->severity && *ev->severity)
		cg_md_addf(&s, "**Severity:** %s  \n", ev->severity);
	if (ev->starts_at && *ev->starts_at)
		cg_md_addf(&s, "**Started:** %s  \n", ev->starts_at);
	if (ev->status == CG_STATUS_RESOLVED && ev->ends_at && *ev->ends_at)
		cg_md_addf(&s, "**Ended:** %s  \n", ev->ends_at);
	sb_put_string_list(&s, "Labels", ev->labels, 1);
	sb_put_string_list(&s, "Annotations", ev->annotations, 0);
	sb_put_links(&s, ev->links, NULL, "\n**Links**\n");
	return cg_sbuf_take(&s);
}

/* The annotation most worth repeating in a comment. `output` (a check's plugin output, which
 * the e-mail rules capture: "DISK OK - free space: / 3326 MB") says what this occurrence found,
 * so it comes before `description`, which often explains the alert in general and reads the same
 * on every repeat; a tool's own one-line `summary` or `message` still wins. */
static const char *best_annotation(const struct cg_event *ev)
{
	static const char *const keys[] = {"summary", "message", "output", "description"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *s = cg_json_str(ev->annotations, keys[i]);
		if (s && s[strspn(s, " \t\r\n")])
			return s;
	}
	return NULL;
}

/* One "label value" of the summary's first line: the first capitalised, the rest after " · ". */
static void sb_fact(struct cg_sbuf *s, int *parts, const char *first, const char *later, const char *value)
{
	cg_sbuf_add(s, (*parts)++ ? " \xC2\xB7 " : "");
	cg_sbuf_add(s, *parts == 1 ? first : later);
	cg_md_addf(s, " %s", value); /* the sender's text, neutralised */
}

char *cg_casetext_summary(const struct cg_event *ev, const char *notes)
{
	struct cg_sbuf s = {0};
	/* No status word here: the comment's head says it ("**Resolved.**", "**Still firing**");
	 * this line adds what the head does not, and is left out when there is nothing to add. */
	int parts = 0;
	if (ev->severity && *ev->severity)
		sb_fact(&s, &parts, "Severity", "severity", ev->severity);
	if (ev->starts_at && *ev->starts_at)
		sb_fact(&s, &parts, "Started", "started", ev->starts_at);
	if (ev->status == CG_STATUS_RESOLVED && ev->ends_at && *ev->ends_at)
		sb_fact(&s, &parts, "Ended", "ended", ev->ends_at);
	if (parts)
		cg_sbuf_add(&s, "\n");
	const char *ann = best_annotation(ev);
	if (ann) {
		char *a = cg_utf8_sanitize(ann);
		if (!a) {
			s.oom = 1;
		} else {
			cg_text_trim(a);
			cg_utf8_truncate(a, CG_SUMMARY_MAX / 2);
			cg_md_put(&s, a, CG_MD_TEXT);
			cg_sbuf_add(&s, "\n");
			free(a);
		}
	}
	if (ev->comment_detail && *ev->comment_detail) {
		cg_md_put(&s, ev->comment_detail, CG_MD_MINIMAL); /* the mapper's Markdown, neutralised by it */
		if (s.len && s.p[s.len - 1] != '\n')
			cg_sbuf_add(&s, "\n");
	}
	sb_put_links(&s, ev->links, " \xC2\xB7 ", NULL);
	if (notes && *notes) {
		const char *p = notes;
		while (*p) {
			size_t n = strcspn(p, "\n");
			cg_sbuf_add(&s, "_casegate: ");
			cg_md_putn(&s, p, n, CG_MD_TEXT); /* notes quote rendered values */
			cg_sbuf_add(&s, "_\n");
			p += n;
			if (*p)
				p++;
		}
	}
	char *out = cg_sbuf_take(&s);
	if (!out)
		return NULL;
	/* No operator text in here: a last pass over all of it catches a mention any part let through. */
	char *clean = cg_md_str(out, CG_MD_MINIMAL);
	free(out);
	if (clean) {
		cg_text_trim(clean);
		cg_utf8_truncate(clean, CG_SUMMARY_MAX);
	}
	return clean;
}

/*
 * The severity as comments quote it (`severity is now `x``, in a one-backtick code span):
 * one line, mentions and hidden characters gone, a backtick would end the span so it becomes "'".
 */
char *cg_casetext_severity(const char *sev)
{
	char *s = cg_md_str(sev, CG_MD_CODE);
	for (char *p = s; p && *p; p++)
		if (*p == '`')
			*p = '\'';
	if (s)
		cg_utf8_truncate(s, CG_VALUE_MAX);
	return s;
}
