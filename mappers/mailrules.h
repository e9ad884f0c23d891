/* mailrules.h: per-source rules that read alert facts out of e-mail (POSIX regex over subject/body). */
#ifndef CG_MAILRULES_H
#define CG_MAILRULES_H

#include <stddef.h>
#include <cjson/cJSON.h>

/*
 * One rule: a POSIX extended regex over the subject, the body text or the sender. Each
 * numbered group i (1-based) is stored under fields[i-1] ("" or "_" skips a group);
 * a field set by an earlier rule is kept (first match wins). Every rule is tried.
 */
struct cg_mail_rule_spec {
	const char *in;          /* "subject" (default), "body" or "from" */
	const char *pattern;
	const char *const *fields;
	size_t nfields;
	int case_sensitive;      /* default 0: REG_ICASE */
	const char *status;      /* NULL, or "firing", "resolved", "comment": forced when this rule matches */
};

/*
 * A field a rule sets to a fixed value when it matches (`set:` under a rule), for a mail format
 * that does not carry the fact (monit's mail has no severity). Like a capture, a field an
 * earlier rule filled is kept; a rule whose status lost to an earlier rule's sets nothing.
 */
struct cg_mail_rule_setting {
	size_t rule;             /* index into cg_mail_rules_spec.rules */
	const char *field;
	const char *value;
};

/*
 * A rule set. After the rules ran, the field "status" (else "type") decides what the
 * mail means: one of resolved_words -> resolved, one of comment_words -> a comment on the
 * key's case (acknowledgements, downtimes), anything else -> firing. The field
 * "severity" (else "state") is the severity. NULL word lists take the defaults.
 */
struct cg_mail_rules_spec {
	const char *name;                    /* for messages */
	const struct cg_mail_rule_spec *rules;
	size_t nrules;
	const char *const *resolved_words;   /* default RECOVERY RESOLVED OK UP RECOVERED CLEARED */
	size_t nresolved;
	const char *const *comment_words;    /* default ACKNOWLEDGEMENT CUSTOM FLAPPINGSTART ... DOWNTIMEEND UPDATE */
	size_t ncomment;
	const char *const *alert_senders;    /* fnmatch globs on From (lowercase); none: anyone */
	size_t nsenders;
	const char *dedup_key;               /* Mustache over the fields; NULL: {{host}}/{{service}}, else the subject */
	int ignore_unmatched;                /* 1: a mail no rule matched is ignored (not an alert) */
	const struct cg_mail_rule_setting *settings; /* in rule order, each rule's in the order given */
	size_t nsettings;
};

struct cg_mail_rules;

/* Compiles spec (copied). Returns 0, CG_EINVAL (err: which rule and why) or CG_ENOMEM. */
int cg_mail_rules_create(const struct cg_mail_rules_spec *spec, struct cg_mail_rules **out, char *err, size_t errlen);
void cg_mail_rules_destroy(struct cg_mail_rules *r);

/* The spec of a shipped rule set ("nagios", "icinga2", "zabbix", "alertmanager", "monit"), or NULL. */
const struct cg_mail_rules_spec *cg_mail_rules_builtin(const char *name);
/* NULL-terminated list of the shipped names. */
const char *const *cg_mail_rules_builtin_names(void);

const char *cg_mail_rules_name(const struct cg_mail_rules *r);
int cg_mail_rules_ignore_unmatched(const struct cg_mail_rules *r);
const char *cg_mail_rules_dedup_key(const struct cg_mail_rules *r);

enum cg_mail_verdict { CG_MAIL_FIRING = 0, CG_MAIL_RESOLVED = 1, CG_MAIL_COMMENT = 2, CG_MAIL_UNKNOWN = 3 };

/*
 * Runs the rules over a mail payload (mail.h): matched fields are added to fields (an
 * object of strings); *matched counts the rules that matched; *verdict is what the
 * status words say (CG_MAIL_UNKNOWN when no field said anything). 0 or CG_ENOMEM.
 */
int cg_mail_rules_apply(const struct cg_mail_rules *r, const cJSON *mail, cJSON *fields, int *matched,
			enum cg_mail_verdict *verdict);

/*
 * 0 when a and b behave the same (same rules, patterns, flags, field names, word lists,
 * senders, dedup key and unmatched policy; the name is not compared), else 1 with why
 * saying the first difference. Proves the YAML files in conf/mail-rules match the shipped sets.
 */
int cg_mail_rules_diff(const struct cg_mail_rules *a, const struct cg_mail_rules *b, char *why, size_t whylen);

/* 1 when from may send alerts to this source (no alert_senders configured, or one matches). */
int cg_mail_rules_sender_ok(const struct cg_mail_rules *r, const char *from);

/*
 * When a captured field's name is also a built-in template variable whose value is the event's
 * own (status, title, description, dedup_key, labels, annotations, links, payload, fields), what
 * that variable holds ("the case status, firing or resolved"); else NULL. Templates reach such a
 * field only as {{fields.<name>}}. severity and starts_at are not listed: a captured one becomes
 * the event's value, so both spellings agree.
 */
const char *cg_mail_field_builtin(const char *name);

/* Verdict of one status word with the default word lists (used without a rule set). */
enum cg_mail_verdict cg_mail_status_word(const char *word);

#endif
