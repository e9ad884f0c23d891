/* test_mailhtml_links.c: an HTML mail's links survive as casegate's own Markdown links, http(s) only, their text inert.
 */
/* labels: mapper */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "casebody.h"
#include "email.h"
#include "err.h"
#include "event.h"
#include "harness.h"
#include "mail.h"
#include "mailrules.h"
#include "sbuf.h"

/* The links cg_mail_html_to_text collects, as "text -> url" lines. */
static char *links_of(const char *html, size_t max, char **text_out)
{
	cJSON *links = cJSON_CreateArray();
	assert_non_null(links);
	char *text = cg_mail_html_to_text(html, strlen(html), max, links);
	assert_non_null(text);
	struct cg_sbuf b = {0};
	cg_sbuf_addn(&b, "", 0);
	const cJSON *l;
	cJSON_ArrayForEach(l, links)
	{
		cg_sbuf_addf(&b, "%s -> %s\n", cg_json_str(l, "text"), cg_json_str(l, "url"));
	}
	cJSON_Delete(links);
	char *out = cg_sbuf_take(&b);
	assert_non_null(out);
	if (text_out)
		*text_out = text;
	else
		free(text);
	return out;
}

static void expect_eq(const char *what, const char *got, const char *want)
{
	if (strcmp(got, want) != 0)
		fail_msg("%s: got\n%s\nwant\n%s", what, got, want);
}

/* http(s) hrefs in any attribute spelling, entities decoded, blanks trimmed; other schemes, relative
 * URLs, anchors without href and a URL seen before are left out; an anchor's text is its words. */
static void test_collect(void **state)
{
	(void)state;
	const char *html =
	    "<p><a class=\"btn\" href=\"https://ok.example/a?x=1&amp;y=2\" style='color:red'>Go <b>here</b></a>"
	    "<a HREF='http://b.example/'>B</a><a href=http://c.example/c>C</a>"
	    "<a href=\"javascript:alert(1)\">J</a><a href=\"JavaScript:alert(1)\">J2</a>"
	    "<a href=\"data:text/html,x\">D</a><a href=\"/relative\">R</a><a href=\"mailto:x@y.example\">M</a>"
	    "<a href=\"  https://ok.example/a?x=1&amp;y=2 \">dup</a><a name=\"top\">no href</a>"
	    "<a href=\"https://n.example/\">  </a>"
	    "<a href=\"https://nl.example/a\nb\">split<br>text</a>"
	    "<a href=\"https://f.example/x\">unclosed";
	char *text = NULL;
	char *got = links_of(html, 4096, &text);
	expect_eq("links", got,
	          "Go here -> https://ok.example/a?x=1&y=2\n"
	          "B -> http://b.example/\n"
	          "C -> http://c.example/c\n"
	          "https://n.example/ -> https://n.example/\n"
	          "split text -> https://nl.example/ab\n"
	          "unclosed -> https://f.example/x\n");
	/* The text is as before: the words, no URL. */
	if (!strstr(text, "Go here") || strstr(text, "https://"))
		fail_msg("text: got \"%s\", want the anchors' words and no URL", text);
	free(text);
	free(got);

	/* Without a links array nothing is collected, the text is the same. */
	char *plain = cg_mail_html_to_text(html, strlen(html), 4096, NULL);
	char *again = NULL;
	free(links_of(html, 4096, &again));
	expect_eq("text without links", plain, again);
	free(plain);
	free(again);
}

/* At most CG_MAIL_MAX_LINKS links; a URL past CG_MAIL_MAX_URL is dropped, not cut. */
static void test_limits(void **state)
{
	(void)state;
	size_t cap = 64 * (CG_MAIL_MAX_LINKS + 10) + CG_MAIL_MAX_URL + 200;
	char *html = calloc(1, cap);
	assert_non_null(html);
	size_t n = 0;
	n += (size_t)snprintf(html + n, cap - n, "<a href=\"https://long.example/");
	for (size_t i = 0; i < CG_MAIL_MAX_URL; i++)
		html[n++] = 'x';
	n += (size_t)snprintf(html + n, cap - n, "\">long</a>");
	for (int i = 0; i < CG_MAIL_MAX_LINKS + 10; i++)
		n += (size_t)snprintf(html + n, cap - n, "<a href=\"https://e.example/%d\">l%d</a> ", i, i);
	cJSON *links = cJSON_CreateArray();
	char *text = cg_mail_html_to_text(html, n, 1 << 20, links);
	assert_non_null(text);
	if (cJSON_GetArraySize(links) != CG_MAIL_MAX_LINKS)
		fail_msg("got %d links, want %d", cJSON_GetArraySize(links), CG_MAIL_MAX_LINKS);
	expect_eq("first link", cg_json_str(cJSON_GetArrayItem(links, 0), "url"), "https://e.example/0");
	cJSON_Delete(links);
	free(text);
	free(html);
}

/* A raw HTML mail through cg_mail_parse and the email mapper: the description ends with the links as
 * casegate's Markdown links; sender text in a link's words stays text, a URL cannot end its link early. */
static void test_description(void **state)
{
	(void)state;
	const char *raw =
	    "From: alertmanager@mon.example.com\r\n"
	    "To: alerts+am@example.com\r\n"
	    "Subject: [FIRING:1] DiskFull (db-1 critical)\r\n"
	    "Message-Id: <links-1@mon.example.com>\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/html; charset=UTF-8\r\n\r\n"
	    "<html><body><a href=\"http://am.example.com:9093/#/alerts?receiver=mail\">View in Alertmanager</a>"
	    "<br>alertname = DiskFull<br>"
	    "<a href=\"http://prom.example.com:9090/graph?g0.expr=up%20%3D%3D%200&amp;g0.tab=1\">Source</a>"
	    "<a href=\"https://evil.example/a b)c [d]\">[x](javascript:alert(1)) @team</a>"
	    "<a href=\"javascript:alert(2)\">click</a>"
	    "<a href=\"https://dup.example/1\">Source</a>"
	    "</body></html>\r\n";
	cJSON *m = NULL;
	char err[256] = "";
	int rc = cg_mail_parse(raw, strlen(raw), NULL, &m, err, sizeof(err));
	if (rc)
		fail_msg("parse: %s (%s)", cg_strerror(rc), err);
	struct cg_event_list ev;
	cg_event_list_init(&ev);
	assert_int_equal(cg_email_map(m, NULL, &ev, NULL, err, sizeof(err)), 0);
	assert_int_equal(ev.n, 1);
	const char *d = ev.v[0].description;
	const char *want = "\n\n**Links**\n"
	                   "- [View in Alertmanager](http://am.example.com:9093/#/alerts?receiver=mail) (am.example.com:9093)\n"
	                   "- [Source](http://prom.example.com:9090/graph?g0.expr=up%20%3D%3D%200&g0.tab=1) "
	                   "(prom.example.com:9090)\n"
	                   "- [\\[x\\](javascript:alert(1)) \xEF\xBC\xA0team](https://evil.example/a%20b%29c%20[d]) "
	                   "(evil.example)\n"
	                   "- [Source](https://dup.example/1) (dup.example)";
	if (!d || !strstr(d, want))
		fail_msg("description: got\n%s\nwant it to contain\n%s", d ? d : "(null)", want);
	if (strstr(d, "alert(2)"))
		fail_msg("description: got a javascript: link's URL in\n%s", d);
	/* The event's links, named by their words (a second "Source" is "Source (2)"). */
	const cJSON *links = ev.v[0].links;
	const char *src = cg_json_str(links, "Source"), *src2 = cg_json_str(links, "Source (2)");
	if (!src || strcmp(src, "http://prom.example.com:9090/graph?g0.expr=up%20%3D%3D%200&g0.tab=1") != 0 || !src2 ||
	    strcmp(src2, "https://dup.example/1") != 0 || cJSON_GetArraySize(links) != 4)
		fail_msg("links: got %s", cJSON_PrintUnformatted(links));
	cg_event_list_cleanup(&ev);
	cJSON_Delete(m);
}

/* Maps tests/fixtures/email/<name> with the shipped `alertmanager` rules into ev (one event). */
static void map_am(const char *name, struct cg_event_list *ev)
{
	cJSON *m = cg_h_mail_fixture(name);
	char err[256] = "";
	struct cg_mail_rules *r = NULL;
	if (cg_mail_rules_create(cg_mail_rules_builtin("alertmanager"), &r, err, sizeof(err)) != 0)
		fail_msg("rules alertmanager: %s", err);
	cg_event_list_init(ev);
	int matched = 0;
	if (cg_email_map(m, r, ev, &matched, err, sizeof(err)) != 0)
		fail_msg("%s: map: %s", name, err);
	if (ev->n != 1 || matched == 0)
		fail_msg("%s: got %zu events, %d rules matched (ignored: %s), want 1 event, rules matched", name, ev->n,
		         matched, ev->ignored_reason);
	cg_mail_rules_destroy(r);
	cJSON_Delete(m);
}

/* Real Alertmanager 0.25 mail (email_configs, its stock HTML template, group_by [alertname]; see
 * tests/fixtures/e2e/alertmanager-email.yml): what `casegate map` gives with `rules: alertmanager`. */
static void test_alertmanager_stock_mail(void **state)
{
	(void)state;
	struct cg_event_list ev;
	map_am("am_stock_firing.eml", &ev);
	const struct cg_event *e = &ev.v[0];
	assert_int_equal(e->status, CG_STATUS_FIRING);
	expect_eq("dedup_key", e->dedup_key, "DiskFull");
	expect_eq("severity", e->severity ? e->severity : "(none)", "critical");
	expect_eq("title", e->title, "DiskFull (db-1:9100 node critical)");
	expect_eq("label group", cg_json_str(e->labels, "group") ? cg_json_str(e->labels, "group") : "(none)",
	          "DiskFull");
	const char *want[] = {
	    "[View in Alertmanager](http://alertmanager.example.com:9093/#/alerts?receiver=casegate-mail)",
	    "[Source](http://prometheus.example.com:9090/"
	    "graph?g0.expr=node_filesystem_avail_bytes%20%3C%201e9&g0.tab=1)",
	    "[Sent by Alertmanager](http://alertmanager.example.com:9093)",
	    "summary = /var on db-1 is 97% full",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (!strstr(e->description, want[i]))
			fail_msg("description: got\n%s\nwant it to contain %s", e->description, want[i]);
	cg_event_list_cleanup(&ev);

	map_am("am_stock_resolved.eml", &ev);
	assert_int_equal(ev.v[0].status, CG_STATUS_RESOLVED);
	expect_eq("resolved dedup_key", ev.v[0].dedup_key, "DiskFull");
	cg_event_list_cleanup(&ev);
}

/* The HTML mail of raw html through the email mapper: its one event's description (caller frees
 * with cg_event_list_cleanup). */
static void map_html(const char *html, struct cg_event_list *ev)
{
	char *raw = cg_h_fmt("From: a@mon.example.com\r\nSubject: disk full\r\nMessage-Id: <h-1@mon.example.com>\r\n"
	                     "MIME-Version: 1.0\r\nContent-Type: text/html; charset=UTF-8\r\n\r\n%s\r\n",
	                     html);
	cJSON *m = NULL;
	char err[256] = "";
	if (cg_mail_parse(raw, strlen(raw), NULL, &m, err, sizeof(err)) != 0)
		fail_msg("parse: %s", err);
	cg_event_list_init(ev);
	assert_int_equal(cg_email_map(m, NULL, ev, NULL, err, sizeof(err)), 0);
	assert_int_equal(ev->n, 1);
	cJSON_Delete(m);
	free(raw);
}

/* Words that look like another address cannot hide where a link goes: the host it really goes to
 * follows it as text, past any userinfo ("grafana.corp@"). A link whose words are its URL needs
 * none. */
static void test_link_shows_host(void **state)
{
	(void)state;
	struct cg_event_list ev;
	map_html("<a href=\"https://grafana.corp@evil.example:8443/x?y\">https://grafana.corp/d/ok</a>"
	         "<a href=\"https://plain.example/p\">https://plain.example/p</a>",
	         &ev);
	const char *d = ev.v[0].description;
	const char *want = "- [https://grafana.corp/d/ok](https://grafana.corp%40evil.example:8443/x?y) "
	                   "(evil.example:8443)\n- [https://plain.example/p](https://plain.example/p)";
	if (!d || !strstr(d, want))
		fail_msg("description: got\n%s\nwant it to contain\n%s", d ? d : "(null)", want);
	cg_event_list_cleanup(&ev);
}

/* Twenty links of 2 KiB URLs and 200-byte words would pass the builder's 32 KiB cut: the list
 * stops whole before it and says so, the link names stay valid UTF-8 when cut. */
static void test_links_fit(void **state)
{
	(void)state;
	struct cg_sbuf h = {0};
	/* No words: the name is the URL, 19 ASCII bytes then "é"s, so a byte cut at 200 splits one. */
	cg_sbuf_add(&h, "<a href=\"https://e.example/x");
	for (int k = 0; k < 150; k++)
		cg_sbuf_add(&h, "\xC3\xA9");
	cg_sbuf_add(&h, "\"></a> ");
	for (int i = 0; i < CG_MAIL_MAX_LINKS - 1; i++) {
		cg_sbuf_addf(&h, "<a href=\"https://e.example/%d/", i);
		for (int k = 0; k < 2000; k++)
			cg_sbuf_add(&h, "%");
		cg_sbuf_add(&h, "\">");
		for (int k = 0; k < 150; k++)
			cg_sbuf_add(&h, "\xC3\xA9"); /* 300 bytes of "é": a cut at 200 splits none */
		cg_sbuf_add(&h, "</a> ");
	}
	char *html = cg_sbuf_take(&h);
	assert_non_null(html);
	struct cg_event_list ev;
	map_html(html, &ev);
	const char *d = ev.v[0].description;
	if (strlen(d) > CG_DESCRIPTION_MAX - 1024)
		fail_msg("description: got %zu bytes, want the links list to stop before %d", strlen(d),
		         CG_DESCRIPTION_MAX - 1024);
	if (!strstr(d, "_(more links left out: the description is full)_"))
		fail_msg("description: got no note that links were left out:\n%.300s...", d);
	const cJSON *l;
	cJSON_ArrayForEach(l, ev.v[0].links)
	{
		size_t n = strlen(l->string);
		if (n > CG_MAIL_MAX_LINK_TEXT + 16 || (unsigned char)l->string[n - 1] == 0xC3)
			fail_msg("link name: got \"%s\" (%zu bytes), want at most %d bytes of whole characters", l->string,
			         n, CG_MAIL_MAX_LINK_TEXT);
	}
	cg_event_list_cleanup(&ev);
	free(html);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_collect),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_description),
	    cmocka_unit_test(test_alertmanager_stock_mail),
	    cmocka_unit_test(test_link_shows_host),
	    cmocka_unit_test(test_links_fit),
	};
	return cg_h_run_group(tests, NULL, NULL);
}
