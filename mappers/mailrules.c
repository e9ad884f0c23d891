/* mailrules.c: compiles and applies e-mail rule sets; ships the Nagios, Icinga 2, Zabbix, Alertmanager and monit sets. */
#include "mailrules.h"

#include <fnmatch.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "json.h"
#include "text.h"
#include "tmpl.h"

enum in { IN_SUBJECT = 0, IN_BODY, IN_FROM };

struct rule {
	enum in in;
	regex_t re;
	int compiled;
	char *pattern; /* kept for cg_mail_rules_diff */
	int case_sensitive;
	char **fields;
	size_t nfields;
	int status; /* -1 none, else enum cg_mail_verdict */
	char **set; /* name, value, name, value, ... */
	size_t nset; /* pairs */
};

struct cg_mail_rules {
	char *name;
	struct rule *rules;
	size_t nrules;
	char **resolved, **comment, **senders;
	size_t nresolved, ncomment, nsenders;
	char *dedup_key;
	int ignore_unmatched;
};

static const char *const default_resolved[] = {"RECOVERY", "RESOLVED", "OK", "UP", "RECOVERED", "CLEARED"};
static const char *const default_comment[] = {"ACKNOWLEDGEMENT", "ACKNOWLEDGED", "CUSTOM", "FLAPPINGSTART",
					      "FLAPPINGSTOP", "FLAPPINGEND", "FLAPPINGDISABLED", "DOWNTIMESTART",
					      "DOWNTIMEEND", "DOWNTIMECANCELLED", "DOWNTIMEREMOVED", "UPDATE",
					      "UPDATED"};
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- shipped rule sets (the mail formats of each tool's stock notification commands) ----
 * conf/mail-rules/<name>.yaml spells each set in the `rules:` syntax; tests/mappers/test_mailrules_conf.c
 * fails when the two differ, so change both together. */

/* Nagios commands.cfg: "** PROBLEM Service Alert: web1/HTTP is CRITICAL **",
 * "** RECOVERY Host Alert: web1 is UP **"; body "Notification Type: ...". */
static const char *const nagios_svc_f[] = {"type", "host", "service", "state"};
static const char *const nagios_host_f[] = {"type", "host", "state"};
static const char *const nagios_addr_f[] = {"address"};
static const char *const nagios_info_f[] = {"output"};
static const struct cg_mail_rule_spec nagios_rules[] = {
	{"subject", "^\\*\\* ([A-Z]+) Service Alert: ([^/]+)/(.+) is ([A-Z]+) \\*\\*$", nagios_svc_f, 4, 1, NULL},
	{"subject", "^\\*\\* ([A-Z]+) Host Alert: (.+) is ([A-Z]+) \\*\\*$", nagios_host_f, 3, 1, NULL},
	{"body", "Address: *([^\n]+)", nagios_addr_f, 1, 0, NULL},
	{"body", "(Additional )?Info:[ \n]*([^\n]+)", (const char *const[]){"_", "output"}, 2, 0, NULL},
};

/* Icinga 2's stock mail-service-notification.sh / mail-host-notification.sh, two generations.
 * 2.8 and later (Debian 12 ships 2.13): subject "[PROBLEM] Disk /var on db-1 is CRITICAL!" /
 * "[PROBLEM] Host edge-3 is DOWN!", made of display names, which can differ from the object names
 * and contain " on ": the subject is not split; the body's "Host:" (host.name) and "Service:"
 * (service.name) lines name the case, so problem, acknowledgement and recovery share a key.
 * 2.7 and earlier: "PROBLEM - web1 - HTTP is CRITICAL", "RECOVERY - web1 is UP!" (split as
 * before, the body lines still win when they are there). */
static const char *const icinga_svc_f[] = {"type", "host", "service", "state"};
static const char *const icinga_host_f[] = {"type", "host", "state"};
static const struct cg_mail_rule_spec icinga_rules[] = {
	{"body", "(^|\n)Service:[ \t]*([^\n]*[^\n \t])", (const char *const[]){"_", "service"}, 2, 1, NULL},
	{"body", "(^|\n)Host:[ \t]*([^\n]*[^\n \t])", (const char *const[]){"_", "host"}, 2, 1, NULL},
	{"subject", "^\\[([A-Z]+)\\] .+ is ([A-Z]+)!$", (const char *const[]){"type", "state"}, 2, 1, NULL},
	{"subject", "^\\[?([A-Z]+)\\]? - (.+) - (.+) is ([A-Z]+)!?$", icinga_svc_f, 4, 1, NULL},
	{"subject", "^\\[?([A-Z]+)\\]? - (.+) is ([A-Z]+)!?$", icinga_host_f, 3, 1, NULL},
	{"body", "Info:[ \t]*([^\n]+)", nagios_info_f, 1, 0, NULL},
	{"body", "IPv4:[ \t]*([^\n]+)", nagios_addr_f, 1, 0, NULL},
	/* An acknowledgement's (or custom notification's) "Comment by AUTHOR:\n  TEXT". */
	{"body", "(^|\n)Comment by ([^\n]*):\n[ \t]*([^\n]*[^\n \t])", (const char *const[]){"_", "author", "comment"},
	 3, 1, NULL},
};

/* Zabbix default media messages: "Problem: High CPU on web1" / "Resolved in 5m: ..." /
 * "Resolved: ..." / "Updated problem in 1h: ..."; body "Host: ", "Severity: ",
 * "Original problem ID: " (the same id in problem and recovery mail). */
static const struct cg_mail_rule_spec zabbix_rules[] = {
	{"subject", "^(Problem): (.+)$", (const char *const[]){"type", "problem"}, 2, 1, "firing"},
	{"subject", "^(Resolved)( in [^:]+)?: (.+)$", (const char *const[]){"type", "_", "problem"}, 3, 1, "resolved"},
	{"subject", "^(Updated) problem( in [^:]+)?: (.+)$", (const char *const[]){"type", "_", "problem"}, 3, 1,
	 "comment"},
	{"body", "Original problem ID: *([0-9]+)", (const char *const[]){"event_id"}, 1, 0, NULL},
	{"body", "(^|\n)Host: *([^\n]+)", (const char *const[]){"_", "host"}, 2, 0, NULL},
	{"body", "(^|\n)Severity: *([^\n]+)", (const char *const[]){"_", "severity"}, 2, 0, NULL},
	{"body", "(^|\n)Problem name: *([^\n]+)", (const char *const[]){"_", "problem"}, 2, 0, NULL},
	{"body", "(^|\n)Operational data: *([^\n]+)", (const char *const[]){"_", "opdata"}, 2, 0, NULL},
};

/* Alertmanager's default subject: "[FIRING:2] HighLatency api (prod critical)",
 * "[RESOLVED] HighLatency api (prod critical)". */
static const struct cg_mail_rule_spec am_rules[] = {
	{"subject", "^\\[(FIRING|RESOLVED)(:[0-9]+)?\\] ([^(]*[^ (])( \\((.*)\\))?$",
	 (const char *const[]){"type", "count", "group", "_", "common_labels"}, 5, 0, NULL},
	{"body", "severity *[=:] *([A-Za-z]+)", (const char *const[]){"severity"}, 1, 0, NULL},
};

/* monit's default mail-format (monit(1), "Message format"): subject "monit alert --  $EVENT $SERVICE",
 * body "$EVENT Service $SERVICE" then tab-indented Date:, Action:, Host:, Description: lines. Each
 * check has a failure event and its recovery (Event_Table in monit's event.c, the strings of 5.33):
 * "Connection failed"/"Connection succeeded", "Does not exist"/"Exists", "Resource limit
 * matched"/"Resource limit succeeded", "Timeout"/"Timeout recovery", "Link down"/"Link up",
 * "Saturation exceeded"/"Saturation ok", "Does exist"/"Exists not" (`if exist`), "Content
 * match"/"Content doesn't match" (`if content`: a warning), and
 * "X changed" (`if changed`: one mail per change, no "X not changed" follows). The first rule with a
 * status decides: monit's own events (start, stop, reload: "Monit instance changed"; a user's
 * action: "Action done") are comments, the recovery forms resolve, anything else fires. monit has
 * no severity: thresholds and changes are a warning (P3), every other failure an error (P2). */
static const struct cg_mail_rule_spec monit_rules[] = {
	{.in = "subject",
	 .pattern = "^monit alert -- +(Monit instance [a-z ]+|Action done) ([^ ]+)$",
	 .fields = (const char *const[]){"type", "service"},
	 .nfields = 2,
	 .case_sensitive = 1,
	 .status = "comment"},
	{.in = "subject",
	 .pattern = "^monit alert -- +(.+ (succeeded|ok|not changed)|Exists|Exists not|Link up|Timeout recovery|Content doesn't match) ([^ ]+)$",
	 .fields = (const char *const[]){"type", "_", "service"},
	 .nfields = 3,
	 .case_sensitive = 1,
	 .status = "resolved"},
	{.in = "subject",
	 .pattern = "^monit alert -- +(Resource limit matched|Content match|.+ exceeded|.+ changed) ([^ ]+)$",
	 .fields = (const char *const[]){"type", "service"},
	 .nfields = 2,
	 .case_sensitive = 1,
	 .status = "firing"},
	{.in = "subject",
	 .pattern = "^monit alert -- +(.+) ([^ ]+)$",
	 .fields = (const char *const[]){"type", "service"},
	 .nfields = 2,
	 .case_sensitive = 1,
	 .status = "firing"},
	{.in = "body", .pattern = "^[ \t]*Host: *([^\r\n]+)", .fields = (const char *const[]){"host"}, .nfields = 1},
	{.in = "body",
	 .pattern = "^[ \t]*Description: *([^\r\n]+)",
	 .fields = (const char *const[]){"output"},
	 .nfields = 1},
	{.in = "body", .pattern = "^[ \t]*Action: *([^\r\n]+)", .fields = (const char *const[]){"action"}, .nfields = 1},
};
static const struct cg_mail_rule_setting monit_settings[] = {
	{.rule = 2, .field = "severity", .value = "warning"},
	{.rule = 3, .field = "severity", .value = "error"},
};

static const struct cg_mail_rules_spec builtins[] = {
	{.name = "nagios",
	 .rules = nagios_rules,
	 .nrules = NELEM(nagios_rules),
	 .dedup_key = "{{host}}{{#service}}/{{service}}{{/service}}"},
	{.name = "icinga2",
	 .rules = icinga_rules,
	 .nrules = NELEM(icinga_rules),
	 .dedup_key = "{{host}}{{#service}}/{{service}}{{/service}}"},
	{.name = "zabbix",
	 .rules = zabbix_rules,
	 .nrules = NELEM(zabbix_rules),
	 .dedup_key = "{{#event_id}}event-{{event_id}}{{/event_id}}{{^event_id}}{{host}}/{{problem}}{{/event_id}}"},
	{.name = "alertmanager", .rules = am_rules, .nrules = NELEM(am_rules), .dedup_key = "{{group}}"},
	{.name = "monit",
	 .rules = monit_rules,
	 .nrules = NELEM(monit_rules),
	 .dedup_key = "{{host}}/{{service}}",
	 .settings = monit_settings,
	 .nsettings = NELEM(monit_settings)},
};

static const char *const builtin_names[] = {"nagios", "icinga2", "zabbix", "alertmanager", "monit", NULL};

const struct cg_mail_rules_spec *cg_mail_rules_builtin(const char *name)
{
	for (size_t i = 0; name && i < NELEM(builtins); i++)
		if (strcmp(builtins[i].name, name) == 0)
			return &builtins[i];
	return NULL;
}

const char *const *cg_mail_rules_builtin_names(void)
{
	return builtin_names;
}

/* ---- compile ---- */

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

static int strv_copy(const char *const *src, size_t n, char ***out)
{
	*out = NULL;
	if (!n)
		return 0;
	char **v = calloc(n, sizeof(*v));
	if (!v)
		return CG_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (!(v[i] = strdup(src[i] ? src[i] : ""))) {
			strv_free(v, i);
			return CG_ENOMEM;
		}
	}
	*out = v;
	return 0;
}

void cg_mail_rules_destroy(struct cg_mail_rules *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nrules; i++) {
		if (r->rules[i].compiled)
			regfree(&r->rules[i].re);
		free(r->rules[i].pattern);
		strv_free(r->rules[i].fields, r->rules[i].nfields);
		strv_free(r->rules[i].set, 2 * r->rules[i].nset);
	}
	free(r->rules);
	strv_free(r->resolved, r->nresolved);
	strv_free(r->comment, r->ncomment);
	strv_free(r->senders, r->nsenders);
	free(r->dedup_key);
	free(r->name);
	free(r);
}

static int parse_status(const char *s, int *out)
{
	if (!s) {
		*out = -1;
		return 0;
	}
	if (strcmp(s, "firing") == 0)
		*out = CG_MAIL_FIRING;
	else if (strcmp(s, "resolved") == 0)
		*out = CG_MAIL_RESOLVED;
	else if (strcmp(s, "comment") == 0)
		*out = CG_MAIL_COMMENT;
	else
		return CG_EINVAL;
	return 0;
}

int cg_mail_rules_create(const struct cg_mail_rules_spec *spec, struct cg_mail_rules **out, char *err, size_t errlen)
{
	struct cg_mail_rules *r = calloc(1, sizeof(*r));
	int rc = CG_ENOMEM;
	if (!r)
		return CG_ENOMEM;
	if (!(r->name = strdup(spec->name ? spec->name : "custom")))
		goto fail;
	if (spec->nrules && !(r->rules = calloc(spec->nrules, sizeof(*r->rules))))
		goto fail;
	for (size_t k = 0; k < spec->nsettings; k++) {
		if (spec->settings[k].rule >= spec->nrules) {
			snprintf(err, errlen, "set: for rule %zu, but there are %zu rules", spec->settings[k].rule + 1,
				 spec->nrules);
			rc = CG_EINVAL;
			goto fail;
		}
	}
	for (size_t i = 0; i < spec->nrules; i++) {
		const struct cg_mail_rule_spec *rs = &spec->rules[i];
		struct rule *ru = &r->rules[i];
		r->nrules = i + 1;
		const char *in = rs->in ? rs->in : "subject";
		if (strcmp(in, "subject") == 0)
			ru->in = IN_SUBJECT;
		else if (strcmp(in, "body") == 0)
			ru->in = IN_BODY;
		else if (strcmp(in, "from") == 0)
			ru->in = IN_FROM;
		else {
			snprintf(err, errlen, "rule %zu: in: '%s' is not subject, body or from", i + 1, in);
			rc = CG_EINVAL;
			goto fail;
		}
		if (parse_status(rs->status, &ru->status)) {
			snprintf(err, errlen, "rule %zu: status: '%s' is not firing, resolved or comment", i + 1,
				 rs->status);
			rc = CG_EINVAL;
			goto fail;
		}
		if (!rs->pattern || !*rs->pattern) {
			snprintf(err, errlen, "rule %zu: pattern is required", i + 1);
			rc = CG_EINVAL;
			goto fail;
		}
		if (!cg_text_regex_cheap(rs->pattern)) {
			snprintf(err, errlen, "rule %zu: pattern: a quantifier right after another, or a {} bound above 255",
				 i + 1);
			rc = CG_EINVAL;
			goto fail;
		}
		int cflags = REG_EXTENDED | REG_NEWLINE | (rs->case_sensitive ? 0 : REG_ICASE);
		int rerr = regcomp(&ru->re, rs->pattern, cflags);
		if (rerr) {
			char msg[160];
			regerror(rerr, &ru->re, msg, sizeof(msg));
			snprintf(err, errlen, "rule %zu: pattern: %s", i + 1, msg);
			rc = rerr == REG_ESPACE ? CG_ENOMEM : CG_EINVAL;
			goto fail;
		}
		ru->compiled = 1;
		ru->case_sensitive = rs->case_sensitive != 0;
		if (!(ru->pattern = strdup(rs->pattern)))
			goto fail;
		if (rs->nfields > ru->re.re_nsub) {
			snprintf(err, errlen, "rule %zu: %zu field names for %zu group(s) in the pattern", i + 1,
				 rs->nfields, (size_t)ru->re.re_nsub);
			rc = CG_EINVAL;
			goto fail;
		}
		if (strv_copy(rs->fields, rs->nfields, &ru->fields))
			goto fail;
		ru->nfields = rs->nfields;
		size_t nset = 0;
		for (size_t k = 0; k < spec->nsettings; k++) {
			const struct cg_mail_rule_setting *st = &spec->settings[k];
			if (st->rule != i)
				continue;
			if (!st->field || !*st->field || strcmp(st->field, "_") == 0) {
				snprintf(err, errlen, "rule %zu: set: a field name is empty or _", i + 1);
				rc = CG_EINVAL;
				goto fail;
			}
			nset++;
		}
		if (nset && !(ru->set = calloc(2 * nset, sizeof(*ru->set))))
			goto fail;
		for (size_t k = 0; k < spec->nsettings; k++) {
			const struct cg_mail_rule_setting *st = &spec->settings[k];
			if (st->rule != i)
				continue;
			if (!(ru->set[2 * ru->nset] = strdup(st->field)) ||
			    !(ru->set[2 * ru->nset + 1] = strdup(st->value ? st->value : ""))) {
				ru->nset++; /* frees what the pair holds */
				goto fail;
			}
			ru->nset++;
		}
	}
	const char *const *rw = spec->resolved_words ? spec->resolved_words : default_resolved;
	size_t nrw = spec->resolved_words ? spec->nresolved : NELEM(default_resolved);
	const char *const *cw = spec->comment_words ? spec->comment_words : default_comment;
	size_t ncw = spec->comment_words ? spec->ncomment : NELEM(default_comment);
	if (strv_copy(rw, nrw, &r->resolved) || strv_copy(cw, ncw, &r->comment) ||
	    strv_copy(spec->alert_senders, spec->nsenders, &r->senders))
		goto fail;
	r->nresolved = nrw;
	r->ncomment = ncw;
	r->nsenders = spec->nsenders;
	for (size_t i = 0; i < r->nsenders; i++)
		for (char *p = r->senders[i]; *p; p++)
			*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
	if (spec->dedup_key) {
		struct cg_tmpl *t = NULL;
		char terr[200];
		rc = cg_tmpl_compile(spec->dedup_key, strlen(spec->dedup_key), &t, terr, sizeof(terr));
		cg_tmpl_destroy(t);
		if (rc) {
			if (rc == CG_EINVAL)
				snprintf(err, errlen, "dedup_key: %s", terr);
			goto fail;
		}
		rc = CG_ENOMEM;
		if (!(r->dedup_key = strdup(spec->dedup_key)))
			goto fail;
	}
	r->ignore_unmatched = spec->ignore_unmatched;
	*out = r;
	return 0;
fail:
	if (rc == CG_ENOMEM)
		snprintf(err, errlen, "out of memory");
	cg_mail_rules_destroy(r);
	return rc;
}

const char *cg_mail_rules_name(const struct cg_mail_rules *r)
{
	return r->name;
}

int cg_mail_rules_ignore_unmatched(const struct cg_mail_rules *r)
{
	return r->ignore_unmatched;
}

const char *cg_mail_rules_dedup_key(const struct cg_mail_rules *r)
{
	return r->dedup_key;
}

/* ---- apply ---- */

static int word_in(const char *w, char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(w, list[i]) == 0)
			return 1;
	return 0;
}

static enum cg_mail_verdict verdict_of(const char *w, char *const *res, size_t nres, char *const *com, size_t ncom)
{
	if (!w || !*w)
		return CG_MAIL_UNKNOWN;
	if (word_in(w, res, nres))
		return CG_MAIL_RESOLVED;
	if (word_in(w, com, ncom))
		return CG_MAIL_COMMENT;
	return CG_MAIL_FIRING;
}

enum cg_mail_verdict cg_mail_status_word(const char *word)
{
	return verdict_of(word, (char *const *)default_resolved, NELEM(default_resolved), (char *const *)default_comment,
			  NELEM(default_comment));
}

int cg_mail_rules_apply(const struct cg_mail_rules *r, const cJSON *mail, cJSON *fields, int *matched,
			enum cg_mail_verdict *verdict)
{
	int forced = -1;
	*matched = 0;
	for (size_t i = 0; i < r->nrules; i++) {
		const struct rule *ru = &r->rules[i];
		const char *key = ru->in == IN_SUBJECT ? "subject" : ru->in == IN_BODY ? "text" : "from";
		const char *s = cg_json_str(mail, key);
		if (!s)
			continue;
		regmatch_t m[10];
		if (regexec(&ru->re, s, 10, m, 0) != 0)
			continue;
		(*matched)++;
		if (ru->status >= 0 && forced < 0)
			forced = ru->status;
		for (size_t g = 0; g < ru->nfields && g + 1 < 10; g++) {
			const char *name = ru->fields[g];
			if (!*name || strcmp(name, "_") == 0 || m[g + 1].rm_so < 0)
				continue;
			if (cJSON_GetObjectItemCaseSensitive(fields, name))
				continue;
			size_t len = (size_t)(m[g + 1].rm_eo - m[g + 1].rm_so);
			char *v = malloc(len + 1);
			if (!v)
				return CG_ENOMEM;
			memcpy(v, s + m[g + 1].rm_so, len);
			v[len] = '\0';
			/* Trim: captures up to a line end often carry spaces. */
			while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
				v[--len] = '\0';
			cJSON *sv = cJSON_AddStringToObject(fields, name, v);
			free(v);
			if (!sv)
				return CG_ENOMEM;
		}
		/* A rule's fixed values go with its verdict: when an earlier rule decided otherwise
		 * (a recovery also matches a catch-all failure rule), they do not apply. */
		int lost = ru->status >= 0 && forced != ru->status;
		for (size_t k = 0; !lost && k < ru->nset; k++)
			if (!cJSON_GetObjectItemCaseSensitive(fields, ru->set[2 * k]) &&
			    !cJSON_AddStringToObject(fields, ru->set[2 * k], ru->set[2 * k + 1]))
				return CG_ENOMEM;
	}
	if (forced >= 0) {
		*verdict = (enum cg_mail_verdict)forced;
		return 0;
	}
	const char *w = cg_json_str(fields, "status");
	if (!w)
		w = cg_json_str(fields, "type");
	*verdict = verdict_of(w, r->resolved, r->nresolved, r->comment, r->ncomment);
	if (*verdict == CG_MAIL_UNKNOWN) {
		/* A state word alone ("is OK", "is UP") also tells a recovery. */
		const char *st = cg_json_str(fields, "state");
		if (st && word_in(st, r->resolved, r->nresolved))
			*verdict = CG_MAIL_RESOLVED;
	}
	return 0;
}

static int strv_diff(const char *what, char *const *a, size_t na, char *const *b, size_t nb, char *why,
		     size_t whylen)
{
	for (size_t i = 0; i < na || i < nb; i++) {
		const char *x = i < na ? a[i] : "(none)", *y = i < nb ? b[i] : "(none)";
		if (i >= na || i >= nb || strcmp(x, y) != 0) {
			snprintf(why, whylen, "%s[%zu]: '%.120s' vs '%.120s'", what, i, x, y);
			return 1;
		}
	}
	return 0;
}

int cg_mail_rules_diff(const struct cg_mail_rules *a, const struct cg_mail_rules *b, char *why, size_t whylen)
{
	static const char *const in_names[] = {"subject", "body", "from"};
	if (a->nrules != b->nrules) {
		snprintf(why, whylen, "%zu rules vs %zu", a->nrules, b->nrules);
		return 1;
	}
	for (size_t i = 0; i < a->nrules; i++) {
		const struct rule *x = &a->rules[i], *y = &b->rules[i];
		char what[64];
		if (strcmp(x->pattern, y->pattern) != 0) {
			snprintf(why, whylen, "rule %zu: pattern '%.150s' vs '%.150s'", i + 1, x->pattern, y->pattern);
			return 1;
		}
		if (x->in != y->in) {
			snprintf(why, whylen, "rule %zu: in: %s vs %s", i + 1, in_names[x->in], in_names[y->in]);
			return 1;
		}
		if (x->case_sensitive != y->case_sensitive || x->status != y->status) {
			snprintf(why, whylen, "rule %zu: case_sensitive %d vs %d, status %d vs %d", i + 1,
				 x->case_sensitive, y->case_sensitive, x->status, y->status);
			return 1;
		}
		snprintf(what, sizeof(what), "rule %zu: fields", i + 1);
		if (strv_diff(what, x->fields, x->nfields, y->fields, y->nfields, why, whylen))
			return 1;
		snprintf(what, sizeof(what), "rule %zu: set", i + 1);
		if (strv_diff(what, x->set, 2 * x->nset, y->set, 2 * y->nset, why, whylen))
			return 1;
	}
	if (strv_diff("resolved_words", a->resolved, a->nresolved, b->resolved, b->nresolved, why, whylen) ||
	    strv_diff("comment_words", a->comment, a->ncomment, b->comment, b->ncomment, why, whylen) ||
	    strv_diff("alert_senders", a->senders, a->nsenders, b->senders, b->nsenders, why, whylen))
		return 1;
	if ((a->dedup_key == NULL) != (b->dedup_key == NULL) ||
	    (a->dedup_key && strcmp(a->dedup_key, b->dedup_key) != 0)) {
		snprintf(why, whylen, "dedup_key '%.150s' vs '%.150s'", a->dedup_key ? a->dedup_key : "(none)",
			 b->dedup_key ? b->dedup_key : "(none)");
		return 1;
	}
	if (a->ignore_unmatched != b->ignore_unmatched) {
		snprintf(why, whylen, "unmatched: %s vs %s", a->ignore_unmatched ? "ignore" : "case",
			 b->ignore_unmatched ? "ignore" : "case");
		return 1;
	}
	return 0;
}

const char *cg_mail_field_builtin(const char *name)
{
	/* cg_event_build_ctx's names that the email mapper fills whatever the rules captured. */
	static const struct {
		const char *name, *what;
	} builtin[] = {
		{"status", "the case status, firing or resolved"},
		{"title", "the cleaned subject"},
		{"description", "the mail's text as Markdown"},
		{"dedup_key", "the event's dedup key"},
		{"labels", "the event's labels"},
		{"annotations", "the event's annotations"},
		{"links", "the event's links"},
		{"payload", "the whole parsed mail"},
		{"fields", "the captured fields"},
	};
	for (size_t i = 0; name && i < NELEM(builtin); i++)
		if (strcmp(name, builtin[i].name) == 0)
			return builtin[i].what;
	return NULL;
}

int cg_mail_rules_sender_ok(const struct cg_mail_rules *r, const char *from)
{
	if (!r || r->nsenders == 0)
		return 1;
	if (!from)
		return 0;
	for (size_t i = 0; i < r->nsenders; i++)
		if (fnmatch(r->senders[i], from, 0) == 0)
			return 1;
	return 0;
}
