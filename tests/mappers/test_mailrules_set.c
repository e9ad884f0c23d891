/* test_mailrules_set.c: a rule's fixed fields (`set:`): set on a match, first filler wins, none if its status lost. */
/* labels: mapper */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "harness.h"
#include "json.h"
#include "mailrules.h"

static const char *const f_type[] = {"type"};
static const char *const f_sev[] = {"severity"};

/* Three rules over the subject: a recovery form (status resolved), a failure catch-all (status
 * firing) and one without a status; the body may name a severity itself. */
static const struct cg_mail_rule_spec rules[] = {
    {"subject", "^(UP) ", f_type, 1, 1, "resolved"},
    {"subject", "^([A-Z]+) ", f_type, 1, 1, "firing"},
    {"subject", "^[A-Z]+ (x)", NULL, 0, 1, NULL},
    {"body", "^Severity: ([a-z]+)", f_sev, 1, 0, NULL},
};

static struct cg_mail_rules *make(const struct cg_mail_rule_setting *st, size_t n)
{
	struct cg_mail_rules_spec spec = {.name = "t", .rules = rules, .nrules = 4, .settings = st, .nsettings = n};
	struct cg_mail_rules *r = NULL;
	char err[200] = "";
	if (cg_mail_rules_create(&spec, &r, err, sizeof(err)))
		fail_msg("create: %s", err);
	return r;
}

/* Applies r to a mail with subject and body; returns the fields (the caller deletes them). */
static cJSON *apply(const struct cg_mail_rules *r, const char *subject, const char *body, enum cg_mail_verdict *verdict)
{
	cJSON *mail = cJSON_CreateObject(), *fields = cJSON_CreateObject();
	assert_non_null(mail);
	assert_non_null(fields);
	cJSON_AddStringToObject(mail, "subject", subject);
	cJSON_AddStringToObject(mail, "text", body);
	int matched = 0;
	assert_int_equal(cg_mail_rules_apply(r, mail, fields, &matched, verdict), 0);
	assert_true(matched > 0);
	cJSON_Delete(mail);
	return fields;
}

static void expect_field(const cJSON *fields, const char *name, const char *want, const char *what)
{
	const char *got = cg_json_str(fields, name);
	int n = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, fields) n += it->string && strcmp(it->string, name) == 0;
	if (n > 1)
		fail_msg("%s: field %s: got it %d times, want once", what, name, n);
	if ((want == NULL) != (got == NULL) || (want && strcmp(got, want) != 0))
		fail_msg("%s: field %s: got %s, want %s", what, name, got ? got : "(none)", want ? want : "(none)");
}

static void test_set_applies(void **state)
{
	(void)state;
	static const struct cg_mail_rule_setting st[] = {
	    {.rule = 1, .field = "severity", .value = "error"},
	    {.rule = 1, .field = "team", .value = "ops"},
	    {.rule = 2, .field = "kind", .value = "x-mail"},
	};
	struct cg_mail_rules *r = make(st, 3);
	enum cg_mail_verdict v;
	/* The firing rule decides: both its fields are set. */
	cJSON *f = apply(r, "DOWN web", "", &v);
	assert_int_equal(v, CG_MAIL_FIRING);
	expect_field(f, "severity", "error", "DOWN");
	expect_field(f, "team", "ops", "DOWN");
	expect_field(f, "kind", NULL, "DOWN (rule 3 did not match)");
	cJSON_Delete(f);
	/* The set value came first, so a later rule's capture does not replace it (the first filler
	 * wins both ways: test_set_keeps_earlier). */
	f = apply(r, "DOWN xweb", "Severity: low", &v);
	expect_field(f, "severity", "error", "DOWN with a body severity after the set");
	expect_field(f, "kind", "x-mail", "rule without a status: its set applies");
	cJSON_Delete(f);
	/* The recovery also matches the catch-all firing rule: that rule lost, it sets nothing. */
	f = apply(r, "UP web", "", &v);
	assert_int_equal(v, CG_MAIL_RESOLVED);
	expect_field(f, "severity", NULL, "UP");
	expect_field(f, "team", NULL, "UP");
	cJSON_Delete(f);
	cg_mail_rules_destroy(r);
}

/* A field an earlier rule captured is kept: the set value does not replace it. */
static void test_set_keeps_earlier(void **state)
{
	(void)state;
	static const struct cg_mail_rule_spec body_first[] = {
	    {"body", "^Severity: ([a-z]+)", f_sev, 1, 0, NULL},
	    {"subject", "^([A-Z]+) ", f_type, 1, 1, "firing"},
	};
	static const struct cg_mail_rule_setting st[] = {{.rule = 1, .field = "severity", .value = "error"}};
	struct cg_mail_rules_spec spec = {
	    .name = "t", .rules = body_first, .nrules = 2, .settings = st, .nsettings = 1};
	struct cg_mail_rules *r = NULL;
	char err[200] = "";
	assert_int_equal(cg_mail_rules_create(&spec, &r, err, sizeof(err)), 0);
	enum cg_mail_verdict v;
	cJSON *f = apply(r, "DOWN web", "Severity: low", &v);
	expect_field(f, "severity", "low", "captured before the set");
	cJSON_Delete(f);
	f = apply(r, "DOWN web", "nothing", &v);
	expect_field(f, "severity", "error", "nothing captured");
	cJSON_Delete(f);
	cg_mail_rules_destroy(r);
}

/* Settings for a rule that does not exist, or with no field name, are refused with the reason;
 * two sets that differ only in a setting are told apart by cg_mail_rules_diff. */
static void test_set_refused_and_diffed(void **state)
{
	(void)state;
	static const struct {
		struct cg_mail_rule_setting st;
		const char *want;
	} bad[] = {
	    {{.rule = 4, .field = "severity", .value = "x"}, "set: for rule 5, but there are 4 rules"},
	    {{.rule = 0, .field = "", .value = "x"}, "rule 1: set: a field name is empty or _"},
	    {{.rule = 2, .field = "_", .value = "x"}, "rule 3: set: a field name is empty or _"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cg_mail_rules_spec spec = {
		    .name = "t", .rules = rules, .nrules = 4, .settings = &bad[i].st, .nsettings = 1};
		struct cg_mail_rules *r = NULL;
		char err[200] = "";
		int rc = cg_mail_rules_create(&spec, &r, err, sizeof(err));
		if (rc != CG_EINVAL || strcmp(err, bad[i].want) != 0)
			fail_msg("case %zu: got rc %d \"%s\", want CG_EINVAL \"%s\"", i, rc, err, bad[i].want);
		assert_null(r);
	}
	static const struct cg_mail_rule_setting a[] = {{.rule = 1, .field = "severity", .value = "error"}};
	static const struct cg_mail_rule_setting b[] = {{.rule = 1, .field = "severity", .value = "warning"}};
	struct cg_mail_rules *ra = make(a, 1), *rb = make(b, 1), *rn = make(NULL, 0);
	char why[300] = "";
	if (!cg_mail_rules_diff(ra, rb, why, sizeof(why)) || !strstr(why, "rule 2: set[1]"))
		fail_msg("error vs warning: got \"%s\", want a difference at rule 2: set[1]", why);
	if (!cg_mail_rules_diff(ra, rn, why, sizeof(why)) || !strstr(why, "rule 2: set[0]"))
		fail_msg("a setting vs none: got \"%s\", want a difference at rule 2: set[0]", why);
	assert_int_equal(cg_mail_rules_diff(ra, ra, why, sizeof(why)), 0);
	cg_mail_rules_destroy(ra);
	cg_mail_rules_destroy(rb);
	cg_mail_rules_destroy(rn);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_set_applies),
	    cmocka_unit_test(test_set_keeps_earlier),
	    cmocka_unit_test(test_set_refused_and_diffed),
	};
	return cg_h_run_group(tests, NULL, NULL);
}
