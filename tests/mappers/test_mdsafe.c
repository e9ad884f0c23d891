/* test_mdsafe.c: the neutraliser that keeps sender text from mentioning, linking or hiding anything in case text. */
/* labels: unit */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mdsafe.h"
#include "sbuf.h"

#define FW_AT "\xEF\xBC\xA0" /* U+FF20, what '@' becomes */
#define FFFD  "\xEF\xBF\xBD"

static const char *mode_name(enum cg_md_mode m)
{
	static const char *const n[] = {"TEXT", "CODE", "BLOCK", "PLAIN", "MINIMAL", "URL"};
	return (unsigned)m < sizeof(n) / sizeof(n[0]) ? n[m] : "?";
}

static void expect(enum cg_md_mode mode, const char *in, const char *want)
{
	char *got = cg_md_str(in, mode);
	assert_non_null(got);
	if (strcmp(got, want) != 0) {
		print_error("%s(\"%s\"): got \"%s\", want \"%s\"\n", mode_name(mode), in, got, want);
		free(got);
		fail();
	}
	free(got);
}

/* 1 when s is valid UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
static int valid_utf8(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	while (*s) {
		size_t n;
		unsigned char lo = 0x80, hi = 0xBF;
		if (*s < 0x80) {
			s++;
			continue;
		} else if (*s >= 0xC2 && *s <= 0xDF) {
			n = 2;
		} else if (*s >= 0xE0 && *s <= 0xEF) {
			n = 3;
			lo = *s == 0xE0 ? 0xA0 : 0x80;
			hi = *s == 0xED ? 0x9F : 0xBF;
		} else if (*s >= 0xF0 && *s <= 0xF4) {
			n = 4;
			lo = *s == 0xF0 ? 0x90 : 0x80;
			hi = *s == 0xF4 ? 0x8F : 0xBF;
		} else {
			return 0;
		}
		if (s[1] < lo || s[1] > hi)
			return 0;
		for (size_t i = 2; i < n; i++)
			if ((s[i] & 0xC0) != 0x80)
				return 0;
		s += n;
	}
	return 1;
}

static void test_mentions(void **state)
{
	(void)state;
	expect(CG_MD_TEXT, "ping @oncall-team and @all", "ping " FW_AT "oncall-team and " FW_AT "all");
	expect(CG_MD_TEXT, "@pagerduty-Prod @webhook-x @slack-ops",
	       FW_AT "pagerduty-Prod " FW_AT "webhook-x " FW_AT "slack-ops");
	/* A bare address too: "@user@example.com" notifies a Datadog user, and no parser is trusted to
	 * tell the two apart. */
	expect(CG_MD_TEXT, "mail ops@example.com", "mail ops" FW_AT "example.com");
	for (enum cg_md_mode m = CG_MD_TEXT; m <= CG_MD_MINIMAL; m++) {
		char *s = cg_md_str("x @all y", m);
		assert_non_null(s);
		assert_null(strchr(s, '@'));
		assert_non_null(strstr(s, FW_AT "all"));
		free(s);
	}
	expect(CG_MD_URL, "https://x.example/@u", "https://x.example/%40u");
}

static void test_markdown_text(void **state)
{
	(void)state;
	/* Links and images need '[': escaped, they are text. Parentheses and '!' read as they are. */
	expect(CG_MD_TEXT, "see [login](https://evil.example/login)", "see \\[login\\](https://evil.example/login)");
	expect(CG_MD_TEXT, "![x](https://evil.example/p.png)", "!\\[x\\](https://evil.example/p.png)");
	expect(CG_MD_TEXT, "[a]: https://evil.example", "\\[a\\]: https://evil.example");
	/* HTML and autolinks: entities, which every Markdown dialect decodes to the character. */
	expect(CG_MD_TEXT, "<img src=x onerror=alert(1)>", "&lt;img src=x onerror=alert(1)&gt;");
	expect(CG_MD_TEXT, "<https://evil.example>", "&lt;https://evil.example&gt;");
	/* A character reference must not turn into '@' or '<' once rendered. */
	expect(CG_MD_TEXT, "&#64;all &commat;x AT&T", "&amp;\\#64;all &amp;commat;x AT&amp;T");
	/* Code spans, emphasis, headings, tables, strikethrough, escapes. */
	expect(CG_MD_TEXT, "a `b` c", "a \\`b\\` c");
	expect(CG_MD_TEXT, "*bold* _it_ # h | t ~s~ \\", "\\*bold\\* \\_it\\_ \\# h \\| t \\~s\\~ \\\\");
	expect(CG_MD_TEXT, "\\[not escaped by the sender\\]", "\\\\\\[not escaped by the sender\\\\\\]");
	/* Plain text stays plain; a bare URL stays visible as it is. */
	expect(CG_MD_TEXT, "CPU 95% (limit 90%)! see https://x.example/a?b=c",
	       "CPU 95% (limit 90%)! see https://x.example/a?b=c");
	expect(CG_MD_TEXT, "Grüße 日本 😀", "Grüße 日本 😀");
	expect(CG_MD_TEXT, "", "");
	char *s = cg_md_str(NULL, CG_MD_TEXT);
	assert_string_equal(s, "");
	free(s);
}

static void test_control_and_hidden(void **state)
{
	(void)state;
	/* C0 (but tab and newline), DEL; CR LF and a lone CR become LF. */
	expect(CG_MD_TEXT,
	       "a\x01"
	       "b\x7f c\r\nd\re\tf\x1b[31mg",
	       "ab c\nd\ne\tf\\[31mg");
	/* C1 (U+0085 NEL, U+009B CSI), bidi and zero-width characters go. */
	expect(CG_MD_MINIMAL,
	       "a\xC2\x85"
	       "b\xC2\x9B"
	       "c",
	       "abc");
	expect(CG_MD_MINIMAL,
	       "1\xE2\x80\xAA"
	       "2\xE2\x80\xAB"
	       "3\xE2\x80\xAC"
	       "4\xE2\x80\xAD"
	       "5\xE2\x80\xAE"
	       "6\xE2\x81\xA6"
	       "7\xE2\x81\xA7"
	       "8\xE2\x81\xA8"
	       "9\xE2\x81\xA9"
	       "a\xE2\x80\x8E"
	       "b\xE2\x80\x8F"
	       "c\xD8\x9C"
	       "d",
	       "123456789abcd");
	expect(CG_MD_MINIMAL,
	       "z\xE2\x80\x8B"
	       "w\xE2\x80\x8C"
	       "j\xE2\x80\x8D"
	       "n\xE2\x81\xA0"
	       "b\xEF\xBB\xBF"
	       "o",
	       "zwjnbo");
	/* Characters next to those ranges stay: U+2010 hyphen, U+202F narrow no-break space. */
	expect(CG_MD_MINIMAL,
	       "a\xE2\x80\x90"
	       "b\xE2\x80\xAF"
	       "c",
	       "a\xE2\x80\x90"
	       "b\xE2\x80\xAF"
	       "c");
	/* In a code span everything is one line. */
	expect(CG_MD_CODE, "a\nb\tc\r\nd", "a b c d");
	/* Invalid UTF-8 becomes U+FFFD, and a sequence is never split. */
	expect(CG_MD_TEXT,
	       "a\xFF"
	       "b\xC3",
	       "a" FFFD "b" FFFD);
	expect(CG_MD_MINIMAL, "\xED\xA0\x80x\xF4\x90\x80\x80y\xC0\xAF",
	       FFFD FFFD FFFD "x" FFFD FFFD FFFD FFFD "y" FFFD FFFD);
}

static void test_plain(void **state)
{
	(void)state;
	/* Readable as plain text, inert if Datadog renders titles as Markdown after all. */
	expect(CG_MD_PLAIN, "Disk full @all @team-x see [login](https://evil.example/login)",
	       "Disk full " FW_AT "all " FW_AT "team-x see [login] (https://evil.example/login)");
	expect(CG_MD_PLAIN, "![x](https://evil.example/p.png) <img src=x> </b> <!-- c --> <?x?>",
	       "![x] (https://evil.example/p.png) < img src=x> < /b> < !-- c --> < ?x?>");
	expect(CG_MD_PLAIN, "<https://evil.example>", "< https://evil.example>");
	expect(CG_MD_PLAIN, "&#64;all &commat;x &amp; AT&T R&D", "& #64;all & commat;x & amp; AT&T R&D");
	/* Ordinary titles are left alone. */
	expect(CG_MD_PLAIN, "[FIRING:2] CPU > 90% on db-1 (prod) a < b, x<1",
	       "[FIRING:2] CPU > 90% on db-1 (prod) a < b, x<1");
	/* Hidden characters go before the checks, so they cannot hide a "](" from them. */
	expect(CG_MD_PLAIN, "[a]\xE2\x80\x8B(https://evil.example)", "[a] (https://evil.example)");
	expect(CG_MD_PLAIN, "<\xE2\x80\x8Dimg>", "< img>");
	expect(CG_MD_PLAIN, "a\nb", "a\nb"); /* the builder collapses whitespace afterwards */
}

static void test_minimal_and_url(void **state)
{
	(void)state;
	/* Values keep their punctuation: only mentions and hidden characters go. */
	/* casegate's own Markdown keeps everything but mentions and hidden characters. */
	expect(CG_MD_MINIMAL, "team@x [a](b) <b> `c` *d*\xE2\x80\xAE", "team" FW_AT "x [a](b) <b> `c` *d*");
	/* A value keeps its punctuation too, only no link, image or tag can form. */
	expect(CG_MD_PLAIN, "team@x [a](b) <b> `c` *d* \\_", "team" FW_AT "x [a] (b) < b> `c` *d* \\_");
	expect(CG_MD_URL, "https://x.example/p?q=<a>&r=\"`\"#f", "https://x.example/p?q=%3Ca%3E&r=%22%60%22#f");
	expect(CG_MD_URL,
	       "https://x.example/\xE2\x80\xAE"
	       "fdp.exe",
	       "https://x.example/%E2%80%AEfdp.exe");
	/* Trimmed (a YAML block scalar's newline); blanks inside encoded, other controls dropped. */
	expect(CG_MD_URL,
	       " https://x.example/a\x01"
	       "b\x7f c\td\n",
	       "https://x.example/ab%20c%09d");
	expect(CG_MD_URL, "https://bücher.example/\xFF", "https://b%C3%BCcher.example/%FF");
	/* No Markdown link can form inside a URL value either. */
	expect(CG_MD_URL, "https://x.example/a) [login](https://evil.example",
	       "https://x.example/a%29%20%5Blogin%5D%28https://evil.example");
}

static void expect_code(const char *in, const char *want)
{
	struct cg_sbuf b = {0};
	cg_md_code(&b, in);
	char *got = cg_sbuf_take(&b);
	assert_non_null(got);
	if (strcmp(got, want) != 0) {
		print_error("code(\"%s\"): got \"%s\", want \"%s\"\n", in, got, want);
		free(got);
		fail();
	}
	free(got);
}

static void test_code_span(void **state)
{
	(void)state;
	expect_code("db-1", "`db-1`");
	/* The fence is longer than any run of backticks inside, so the value cannot close it. */
	expect_code("a`b", "``a`b``");
	expect_code("x``y` [l](https://evil.example)", "```x``y` [l](https://evil.example)```");
	/* Padded when the value starts or ends with a backtick (CommonMark strips one space). */
	expect_code("`x", "`` `x ``");
	expect_code("x``", "``` x`` ```");
	/* No escapes inside code (they would show), but mentions still break; one line. */
	expect_code("@all *x* <b>", "`" FW_AT "all *x* <b>`");
	expect_code("a\n\nb", "`a  b`");
	expect_code("", "");
	expect_code("\xE2\x80\x8B", "");
}

static void test_fence(void **state)
{
	(void)state;
	struct cg_sbuf b = {0};
	cg_md_fence(&b, "{\"a\": \"@x\"}\n```\n[l](https://evil.example)\n````");
	char *got = cg_sbuf_take(&b);
	assert_string_equal(got, "`````\n{\"a\": \"" FW_AT "x\"}\n```\n[l](https://evil.example)\n````\n`````\n");
	free(got);
	cg_md_fence(&b, "x\n");
	got = cg_sbuf_take(&b);
	assert_string_equal(got, "```\nx\n```\n");
	free(got);
}

static void test_addf(void **state)
{
	(void)state;
	struct cg_sbuf b = {0};
	cg_md_addf(&b, "**%s:** %d %ld %zu %u %x %.3s %.0f %.15g %% %c|", "[a](b)", -5, 123456789012L, (size_t)7, 9u,
	           255u, "abcdef", 2.0, 0.1, '@');
	char *got = cg_sbuf_take(&b);
	assert_string_equal(got, "**\\[a\\](b):** -5 123456789012 7 9 ff abc 2 0.1 % " FW_AT "|");
	free(got);
	/* A precision cuts at a character boundary, before neutralising. */
	cg_md_addf(&b, "%.3s|%.1s|%.*s", "\xC3\xA9\xC3\xA9", "\xC3\xA9", 2, "@@@");
	got = cg_sbuf_take(&b);
	assert_string_equal(got, "\xC3\xA9||" FW_AT FW_AT);
	free(got);
	/* The format is casegate's: its Markdown and '@' stay. */
	cg_md_addf(&b, "[%s](https://x.example/@me) `x`", "t]");
	got = cg_sbuf_take(&b);
	assert_string_equal(got, "[t\\]](https://x.example/@me) `x`");
	free(got);
	cg_md_addf(&b, "%lld %llu %jd", -1LL, 2ULL, (intmax_t)3);
	got = cg_sbuf_take(&b);
	assert_string_equal(got, "-1 2 3");
	free(got);
}

/* Markdown-active characters that TEXT escapes must only ever appear escaped. */
static int unescaped_active(const char *s)
{
	for (const char *p = s; *p; p++) {
		if (*p == '\\') {
			if (!p[1] || !strchr("\\`*_[]#|~", p[1]))
				return 1; /* a lone backslash could escape what follows the value */
			p++;
			continue;
		}
		if (strchr("`*_[]#|~<>@", *p))
			return 1;
	}
	return 0;
}

static void test_random_inputs(void **state)
{
	(void)state;
	/* Bytes biased towards the interesting ones, through every mode: output is valid UTF-8,
	 * has no ASCII '@', no control but tab/newline, no hidden character, and in TEXT mode no
	 * active Markdown character unescaped. */
	static const char pool[] = "@[]()!<>&#`*_|~\\\r\n\t\x01\x1b\x7f azAZ09:;/.";
	static const char *const multi[] = {"\xE2\x80\xAE", "\xE2\x80\x8B",     "\xEF\xBB\xBF", "\xC2\x85",
	                                    "\xC3\xA9",     "\xF0\x9F\x98\x80", "\xFF",         "\xE2\x80"};
	unsigned seed = 12345;
	for (int iter = 0; iter < 3000; iter++) {
		char in[200];
		size_t n = 0;
		while (n < sizeof(in) - 5) {
			seed = seed * 1103515245u + 12345u;
			unsigned r = (seed >> 16) & 0x7fff;
			if (r % 4 == 0) {
				const char *m = multi[(r / 4) % (sizeof(multi) / sizeof(multi[0]))];
				memcpy(in + n, m, strlen(m));
				n += strlen(m);
			} else {
				in[n++] = pool[(r / 4) % (sizeof(pool) - 1)];
			}
			if (r % 50 == 0)
				break;
		}
		in[n] = '\0';
		for (enum cg_md_mode m = CG_MD_TEXT; m <= CG_MD_MINIMAL; m++) {
			char *out = cg_md_str(in, m);
			assert_non_null(out);
			int bad = !valid_utf8(out) || strchr(out, '@') != NULL || strstr(out, "\xE2\x80\xAE") ||
			          strstr(out, "\xE2\x80\x8B") || strstr(out, "\xEF\xBB\xBF") || strstr(out, "\xC2\x85");
			for (const char *p = out; *p && !bad; p++)
				bad = ((unsigned char)*p < 0x20 && *p != '\n' && *p != '\t') || *p == 0x7f ||
				      (m == CG_MD_CODE && (*p == '\n' || *p == '\t'));
			if (!bad && m == CG_MD_TEXT)
				bad = unescaped_active(out);
			for (const char *p = out; *p && !bad && m == CG_MD_PLAIN; p++)
				bad = (p[0] == ']' && p[1] == '(') ||
				      (p[0] == '<' && p[1] &&
				       (strchr("/!?", p[1]) || ((p[1] | 0x20) >= 'a' && (p[1] | 0x20) <= 'z')));
			if (bad) {
				print_error("%s: input of %zu bytes gave \"%s\"\n", mode_name(m), n, out);
				free(out);
				fail();
			}
			free(out);
		}
	}
}

static void test_link(void **state)
{
	(void)state;
	struct cg_sbuf b = {0};
	/* The text is Markdown text; in the URL whatever could end the destination or read as a mention. */
	cg_md_link(&b, "run[b](https://evil.example)", "https://x.example/@me/a b(c)<d>\\`e\xE2\x80\xAE");
	char *got = cg_sbuf_take(&b);
	assert_string_equal(
	    got, "[run\\[b\\](https://evil.example)](https://x.example/%40me/a%20b%28c%29%3Cd%3E%5C%60e%E2%80%AE)");
	free(got);
	cg_md_link(&b, "Source", "https://prom.example/graph?g0.expr=rate(x[5m])) [login](https://evil.example");
	got = cg_sbuf_take(&b);
	assert_string_equal(
	    got, "[Source](https://prom.example/graph?g0.expr=rate%28x[5m]%29%29%20[login]%28https://evil.example)");
	free(got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mentions),
	    cmocka_unit_test(test_markdown_text),
	    cmocka_unit_test(test_control_and_hidden),
	    cmocka_unit_test(test_plain),
	    cmocka_unit_test(test_minimal_and_url),
	    cmocka_unit_test(test_code_span),
	    cmocka_unit_test(test_fence),
	    cmocka_unit_test(test_addf),
	    cmocka_unit_test(test_random_inputs),
	    cmocka_unit_test(test_link),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
