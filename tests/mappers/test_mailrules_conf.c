/* test_mailrules_conf.c: the YAML files in conf/mail-rules equal the built-in rule sets; `rules: { file: }` loading and its errors. */
/* labels: mapper */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "email.h"
#include "err.h"
#include "harness.h"
#include "mail.h"
#include "mailrules.h"

static const char *const TOOLS[] = {"nagios", "icinga2", "zabbix", "alertmanager", "monit"};
/* The fixture name prefix of each tool's mail (nagios_/nagios4_, icinga_/icinga213_). */
static const char *const PREFIX[] = {"nagios", "icinga", "zabbix_", "am_", "monit_"};
#define NTOOLS 5

#define SOURCE_TAIL                                                                                \
	"    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"                                      \
	"    case_type: 00000000-0000-0000-0000-000000000001\n"

/* Parses text as if it were the file cfgname (relative paths resolve next to it). */
static struct cg_config *parse(const char *cfgname, const char *text, char **errs)
{
	struct cg_config *cfg = NULL;
	*errs = NULL;
	cg_config_parse(cfgname, text, strlen(text), &cfg, errs);
	return cfg;
}

/* A config whose source "m" uses `rules: { file: mail-rules/<tool>.yaml }`, as if it lived in conf/. */
static struct cg_config *load_tool_file(const char *tool)
{
	char *name = cg_h_fmt("%s/conf/casegate-test.yaml", cg_h_source_dir());
	char *text = cg_h_fmt("sources:\n  - name: m\n    type: email\n    rules: { file: mail-rules/%s.yaml }\n" SOURCE_TAIL,
			      tool);
	char *errs = NULL;
	struct cg_config *cfg = parse(name, text, &errs);
	if (!cfg)
		fail_msg("conf/mail-rules/%s.yaml: got errors:\n%s\nwant it to load", tool, errs ? errs : "(none)");
	/* The shipped rule sets name no alert senders (a site's own): only that warning, about the
	 * source, is expected; nothing about the rules file. */
	for (const char *l = cfg->warnings; l && *l;) {
		const char *eol = strchr(l, '\n');
		size_t len = eol ? (size_t)(eol - l) : strlen(l);
		char line[512];
		snprintf(line, sizeof(line), "%.*s", (int)len, l);
		if (!strstr(line, "source 'm' accepts alert mail from any sender"))
			fail_msg("conf/mail-rules/%s.yaml: got warning:\n%s\nwant none about the rules", tool, line);
		l = eol ? eol + 1 : NULL;
	}
	free(errs);
	free(text);
	free(name);
	return cfg;
}

static struct cg_mail_rules *builtin(const char *tool)
{
	struct cg_mail_rules *r = NULL;
	char err[256] = "";
	const struct cg_mail_rules_spec *spec = cg_mail_rules_builtin(tool);
	if (!spec)
		fail_msg("got no built-in rule set '%s', want one", tool);
	if (cg_mail_rules_create(spec, &r, err, sizeof(err)))
		fail_msg("built-in %s: %s", tool, err);
	return r;
}

static const struct cg_mail_rules *source_rules(const struct cg_config *cfg)
{
	const struct cg_source_config *s = cg_config_source(cfg, "m");
	assert_non_null(s);
	assert_non_null(s->mail_rules);
	return s->mail_rules;
}

/* The shipped file, compiled through the config loader, is the built-in set rule for rule. */
static void test_files_equal_builtins(void **state)
{
	(void)state;
	for (size_t t = 0; t < NTOOLS; t++) {
		struct cg_config *cfg = load_tool_file(TOOLS[t]);
		struct cg_mail_rules *b = builtin(TOOLS[t]);
		char why[512] = "";
		if (cg_mail_rules_diff(b, source_rules(cfg), why, sizeof(why)))
			fail_msg("conf/mail-rules/%s.yaml vs built-in %s: got a difference (%s), want none", TOOLS[t],
				 TOOLS[t], why);
		cg_mail_rules_destroy(b);
		cg_config_free(cfg);
	}
}

/* The file's text pasted under `rules:` (what the README tells users) gives the same set. */
static void test_inline_copy(void **state)
{
	(void)state;
	for (size_t t = 0; t < NTOOLS; t++) {
		char *path = cg_h_fmt("%s/conf/mail-rules/%s.yaml", cg_h_source_dir(), TOOLS[t]);
		char *body = cg_h_read_file(path, NULL);
		if (!body)
			fail_msg("%s: got no such file, want it shipped", path);
		/* Indent every line by 6 spaces under "    rules:". */
		size_t cap = strlen(body) * 2 + 4096, len = 0;
		char *text = malloc(cap);
		assert_non_null(text);
		len += (size_t)snprintf(text, cap, "sources:\n  - name: m\n    type: email\n    rules:\n");
		for (const char *p = body; *p;) {
			const char *eol = strchr(p, '\n');
			size_t n = eol ? (size_t)(eol - p) : strlen(p);
			if (n)
				len += (size_t)snprintf(text + len, cap - len, "      %.*s\n", (int)n, p);
			else
				text[len++] = '\n';
			p = eol ? eol + 1 : p + n;
		}
		snprintf(text + len, cap - len, "%s", SOURCE_TAIL);
		char *errs = NULL;
		struct cg_config *cfg = parse("inline.yaml", text, &errs);
		if (!cfg)
			fail_msg("%s pasted under rules: got errors:\n%s", TOOLS[t], errs ? errs : "(none)");
		struct cg_mail_rules *b = builtin(TOOLS[t]);
		char why[512] = "";
		if (cg_mail_rules_diff(b, source_rules(cfg), why, sizeof(why)))
			fail_msg("%s pasted under rules: got a difference (%s), want none", TOOLS[t], why);
		cg_mail_rules_destroy(b);
		cg_config_free(cfg);
		free(errs);
		free(text);
		free(body);
		free(path);
	}
}

static const char *nz(const char *s)
{
	return s ? s : "(null)";
}

static int str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void same_str(const char *fx, const char *tool, const char *what, const char *a, const char *b)
{
	if (!str_eq(a, b))
		fail_msg("%s with %s: %s: got \"%.200s\" from the conf file, want \"%.200s\" (built-in)", fx, tool, what,
			 nz(b), nz(a));
}

static void same_json(const char *fx, const char *tool, const char *what, const cJSON *a, const cJSON *b)
{
	if (cJSON_Compare(a, b, 1))
		return;
	char *sa = cJSON_PrintUnformatted(a), *sb = cJSON_PrintUnformatted(b);
	fail_msg("%s with %s: %s: got %.300s from the conf file, want %.300s (built-in)", fx, tool, what, nz(sb),
		 nz(sa));
}

/*
 * Every e-mail fixture mapped with the built-in set and with the conf/ file gives the same
 * events (status, key, severity, title, description, labels, annotations, template context).
 * Each tool's own fixtures must be matched by its rules, so the comparison is not vacuous.
 */
static void test_fixture_events_equal(void **state)
{
	(void)state;
	char *dir = cg_h_fmt("%s/tests/fixtures/email", cg_h_source_dir());
	for (size_t t = 0; t < NTOOLS; t++) {
		struct cg_config *cfg = load_tool_file(TOOLS[t]);
		const struct cg_mail_rules *file = source_rules(cfg);
		struct cg_mail_rules *b = builtin(TOOLS[t]);
		DIR *d = opendir(dir);
		if (!d)
			fail_msg("cannot open %s", dir);
		int own = 0, total = 0;
		struct dirent *de;
		while ((de = readdir(d))) {
			size_t n = strlen(de->d_name);
			if (n < 5 || strcmp(de->d_name + n - 4, ".eml") != 0)
				continue;
			const char *fx = de->d_name;
			cJSON *m = cg_h_mail_fixture(fx);
			struct cg_event_list ea, eb;
			char err[256] = "";
			int ma = 0, mb = 0;
			cg_event_list_init(&ea);
			cg_event_list_init(&eb);
			int ra = cg_email_map(m, b, &ea, &ma, err, sizeof(err));
			int rb = cg_email_map(m, file, &eb, &mb, err, sizeof(err));
			if (ra != rb || ma != mb || ea.n != eb.n)
				fail_msg("%s with %s: got rc %d, %d rules matched, %zu events from the conf file; want rc %d, "
					 "%d, %zu (built-in)",
					 fx, TOOLS[t], rb, mb, eb.n, ra, ma, ea.n);
			same_str(fx, TOOLS[t], "ignored_reason", ea.ignored_reason, eb.ignored_reason);
			for (size_t i = 0; i < ea.n; i++) {
				const struct cg_event *x = &ea.v[i], *y = &eb.v[i];
				if (x->status != y->status)
					fail_msg("%s with %s: status: got %d from the conf file, want %d (built-in)", fx,
						 TOOLS[t], (int)y->status, (int)x->status);
				same_str(fx, TOOLS[t], "dedup_key", x->dedup_key, y->dedup_key);
				same_str(fx, TOOLS[t], "severity", x->severity, y->severity);
				same_str(fx, TOOLS[t], "title", x->title, y->title);
				same_str(fx, TOOLS[t], "description", x->description, y->description);
				same_json(fx, TOOLS[t], "labels", x->labels, y->labels);
				same_json(fx, TOOLS[t], "annotations", x->annotations, y->annotations);
				same_json(fx, TOOLS[t], "context", x->ctx, y->ctx);
			}
			if (strncmp(fx, PREFIX[t], strlen(PREFIX[t])) == 0) {
				if (ma == 0 || ea.n != 1)
					fail_msg("%s with %s: got %d rules matched and %zu events, want its own rules to match "
						 "and one event",
						 fx, TOOLS[t], ma, ea.n);
				/* The tool's subjects carry the host (Nagios, Icinga) or the group (Alertmanager). */
				if (t < 2 && !cJSON_GetObjectItemCaseSensitive(ea.v[0].labels, "host"))
					fail_msg("%s with %s: got no host label, want one", fx, TOOLS[t]);
				own++;
			}
			total++;
			cg_event_list_cleanup(&ea);
			cg_event_list_cleanup(&eb);
			cJSON_Delete(m);
		}
		closedir(d);
		if (own < 2)
			fail_msg("%s: got %d fixtures named %s*.eml, want at least 2", TOOLS[t], own, PREFIX[t]);
		if (total < 10)
			fail_msg("%s: got %d fixtures, want the whole tests/fixtures/email set (>= 10)", TOOLS[t], total);
		cg_mail_rules_destroy(b);
		cg_config_free(cfg);
	}
	free(dir);
}

/* The comparison catches a drift: an edited copy of a shipped file differs, and says where. */
static void test_diff_detects_changes(void **state)
{
	(void)state;
	static const struct {
		const char *tool, *from, *to, *want;
	} cases[] = {
		{"nagios", "fields: [type, host, state]", "fields: [type, host, status]", "rule 2: fields[2]"},
		{"icinga2", "case_sensitive: true", "case_sensitive: false", "rule 1: case_sensitive"},
		{"zabbix", "status: comment", "status: firing", "rule 3"},
		{"zabbix", "Severity: *", "Severity:  *", "rule 6: pattern"},
		{"alertmanager", "dedup_key: '{{group}}'", "dedup_key: '{{group}}/{{severity}}'", "dedup_key"},
		{"alertmanager", "unmatched: case", "unmatched: ignore", "unmatched"},
		{"nagios", "CLEARED]", "CLEARED, FIXED]", "resolved_words[6]"},
		{"monit", "set: { severity: error }", "set: { severity: critical }", "rule 4: set[1]"},
		{"monit", "set: { severity: warning }", "set: { priority: warning }", "rule 3: set[0]"},
	};
	char *tmp = cg_h_tmpdir("mailconf");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *src = cg_h_fmt("%s/conf/mail-rules/%s.yaml", cg_h_source_dir(), cases[i].tool);
		char *body = cg_h_read_file(src, NULL);
		assert_non_null(body);
		char *at = strstr(body, cases[i].from);
		if (!at)
			fail_msg("case %zu: got no '%s' in %s, want it there", i, cases[i].from, src);
		char *edited = cg_h_fmt("%.*s%s%s", (int)(at - body), body, cases[i].to, at + strlen(cases[i].from));
		char *dst = cg_h_fmt("%s/edited.yaml", tmp);
		assert_int_equal(cg_h_write_file(dst, edited, strlen(edited)), 0);
		char *cfgname = cg_h_fmt("%s/casegate.yaml", tmp);
		char *errs = NULL;
		struct cg_config *cfg = parse(cfgname,
					      "sources:\n  - name: m\n    type: email\n    rules: { file: edited.yaml }\n" SOURCE_TAIL,
					      &errs);
		if (!cfg)
			fail_msg("case %zu: got errors:\n%s", i, errs ? errs : "(none)");
		struct cg_mail_rules *b = builtin(cases[i].tool);
		char why[512] = "";
		if (!cg_mail_rules_diff(b, source_rules(cfg), why, sizeof(why)) || !strstr(why, cases[i].want))
			fail_msg("case %zu: got difference \"%s\", want one naming \"%s\"", i, why, cases[i].want);
		cg_mail_rules_destroy(b);
		cg_config_free(cfg);
		free(errs);
		free(cfgname);
		free(dst);
		free(edited);
		free(body);
		free(src);
	}
	cg_h_rmrf(tmp);
	free(tmp);
}

/* Problems inside a rules file are reported as file:line:col of that file. */
static void test_file_errors(void **state)
{
	(void)state;
	char *tmp = cg_h_tmpdir("mailconf");
	static const struct {
		const char *file_text; /* NULL: no file */
		const char *rules;     /* the source's rules: value */
		const char *want;      /* %s: the temporary directory */
	} cases[] = {
		{NULL, "{ file: missing.yaml }", "casegate.yaml:5:20: source 'm': rules.file: cannot read"},
		{NULL, "{ file: missing.yaml }", "rules.file: cannot read '%s/missing.yaml'"},
		{"match:\n  - in: body\n    pattern: '(a'\n", "{ file: r.yaml }", "%s/r.yaml:2:5: "},
		{"match:\n  - in: body\n    pattern: '(a'\n", "{ file: r.yaml }", "rule 1: pattern"},
		{"match:\n  - in: head\n    pattern: 'a'\n", "{ file: r.yaml }", "%s/r.yaml:2:9: "},
		{"match:\n  - { pattern: 'a', colour: red }\n", "{ file: r.yaml }", "%s/r.yaml:2:21: unknown key 'colour'"},
		{"match:\n  - [ unclosed\n", "{ file: r.yaml }", "%s/r.yaml:3:1: YAML syntax error"},
		{"", "{ file: r.yaml }", "the rules file is empty"},
		{"file: other.yaml\n", "{ file: r.yaml }", "%s/r.yaml:1:7: "},
		{"file: other.yaml\n", "{ file: r.yaml }", "cannot name another rules file"},
		{"match: [ { pattern: a } ]\n", "{ file: r.yaml, dedup_key: x }", "give `file:` alone"},
		{"base: zabbix\nunmatched: ignore\n", "{ file: r.yaml, match: [] }", "give `file:` alone"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *rpath = cg_h_fmt("%s/r.yaml", tmp);
		remove(rpath);
		if (cases[i].file_text)
			assert_int_equal(cg_h_write_file(rpath, cases[i].file_text, strlen(cases[i].file_text)), 0);
		char *cfgname = cg_h_fmt("%s/casegate.yaml", tmp);
		char *text = cg_h_fmt("sources:\n  - name: m\n    type: email\n    project: d4bbe1af-f36e-42f1-87c1-493ca35c320e\n"
				      "    rules: %s\n    case_type: 00000000-0000-0000-0000-000000000001\n",
				      cases[i].rules);
		/* "%s" in want stands for the temporary directory. */
		const char *pct = strstr(cases[i].want, "%s");
		char *want = pct ? cg_h_fmt("%.*s%s%s", (int)(pct - cases[i].want), cases[i].want, tmp, pct + 2)
				 : cg_h_fmt("%s", cases[i].want);
		char *errs = NULL;
		struct cg_config *cfg = parse(cfgname, text, &errs);
		if (cfg || !errs || !strstr(errs, want))
			fail_msg("case %zu: got %s, want an error containing \"%s\"", i, errs ? errs : "success", want);
		cg_config_free(cfg);
		free(errs);
		free(want);
		free(text);
		free(cfgname);
		free(rpath);
	}
	/* A file that is fine: a shipped base plus local settings, relative to the config file. */
	char *rpath = cg_h_fmt("%s/sub/r.yaml", tmp);
	char *sub = cg_h_fmt("%s/sub", tmp);
	char *cfgname = cg_h_fmt("%s/casegate.yaml", tmp);
	const char *ok = "base: zabbix\nalert_senders: ['zabbix@*']\nunmatched: ignore\n";
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(cg_h_write_file(rpath, ok, strlen(ok)), 0);
	char *errs = NULL;
	struct cg_config *cfg =
		parse(cfgname, "sources:\n  - name: m\n    type: email\n    rules: { file: ./sub/r.yaml }\n" SOURCE_TAIL, &errs);
	if (!cfg)
		fail_msg("base file: got errors:\n%s", errs ? errs : "(none)");
	const struct cg_mail_rules *r = source_rules(cfg);
	assert_int_equal(cg_mail_rules_ignore_unmatched(r), 1);
	assert_true(cg_mail_rules_sender_ok(r, "zabbix@mon.example.com"));
	assert_false(cg_mail_rules_sender_ok(r, "mallory@example.com"));
	struct cg_mail_rules *b = builtin("zabbix");
	char why[512] = "";
	if (!cg_mail_rules_diff(b, r, why, sizeof(why)) || !strstr(why, "alert_senders"))
		fail_msg("base file: got difference \"%s\", want alert_senders", why);
	cg_mail_rules_destroy(b);
	cg_config_free(cfg);
	free(errs);
	free(cfgname);
	free(sub);
	free(rpath);
	cg_h_rmrf(tmp);
	free(tmp);
}

/* A captured (or set:) field named like a built-in template variable gets a warning at its name, naming
 * {{fields.<name>}}; the config still loads, and harmless names get none. */
static void test_builtin_field_warning(void **state)
{
	(void)state;
	/* line 6, col 74: "status" inside the flow list; "title" two lines below. */
	const char *text = "sources:\n"
			   "  - name: m\n"
			   "    type: email\n"
			   "    rules:\n"
			   "      match:\n"
			   "        - { in: subject, pattern: '^Backup (OK|FAILED): (.+)$', fields: [status, job] }\n"
			   "        - in: body\n"
			   "          fields: [severity, title]\n"
			   "          pattern: 'sev=([a-z]+) (.*)'\n"
			   "        - { in: from, pattern: 'x', set: { title: fixed, severity: error } }\n"
			   "      alert_senders: ['backup@*']\n" SOURCE_TAIL;
	char *errs = NULL;
	struct cg_config *cfg = parse("casegate.yaml", text, &errs);
	if (!cfg)
		fail_msg("got errors:\n%s\nwant the config to load", errs ? errs : "(none)");
	const char *w = cfg->warnings ? cfg->warnings : "";
	static const char *const want[] = {
		"casegate.yaml:6:74: warning: source 'm': rules[0]: fields: field 'status' is hidden in templates by the "
		"built-in {{status}} (the case status, firing or resolved): write {{fields.status}} for the captured value, "
		"or name it `type`",
		"casegate.yaml:8:30: warning: source 'm': rules[1]: fields: field 'title' is hidden in templates by the "
		"built-in {{title}} (the cleaned subject): write {{fields.title}} for the captured value",
		/* A name a rule's set: gives hides the same way. */
		"casegate.yaml:10:44: warning: source 'm': rules[2]: set: field 'title' is hidden in templates by the "
		"built-in {{title}}",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (!strstr(w, want[i]))
			fail_msg("warnings: got\n%s\nwant a line containing\n%s", w, want[i]);
	if (strstr(w, "'job'") || strstr(w, "'severity'"))
		fail_msg("warnings: got\n%s\nwant none about job or severity", w);
	cg_config_free(cfg);
	free(errs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_files_equal_builtins), cmocka_unit_test(test_inline_copy),
		cmocka_unit_test(test_fixture_events_equal), cmocka_unit_test(test_diff_detects_changes),
		cmocka_unit_test(test_file_errors), cmocka_unit_test(test_builtin_field_warning),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
