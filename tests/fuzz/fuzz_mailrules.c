/* fuzz_mailrules.c: libFuzzer target: any bytes as a mail rules file (`rules: {file: ...}`, what
 * conf/mail-rules/ ships): config/rules.c reads it and mappers/mailrules.c compiles it; a set that
 * compiles is then run over a parsed alert mail by the email mapper. Never a crash, leak or hang. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "event.h"
#include "log.h"
#include "mail.h"
#include "mailrules.h"
#include "registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char mail_text[] = "Message-ID: <fz-1@mon.example.com>\r\n"
				"From: Nagios <nagios@mon.example.com>\r\n"
				"To: alerts@example.com\r\n"
				"Subject: ** PROBLEM Service Alert: web1/HTTP is CRITICAL **\r\n"
				"\r\n"
				"***** Nagios *****\r\n\r\nNotification Type: PROBLEM\r\nService: HTTP\r\n"
				"Host: web1\r\nState: CRITICAL\r\nAdditional Info: HTTP CRITICAL - 503\r\n";

static char rules_path[64];

static void remove_rules(void)
{
	unlink(rules_path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *config;
	static cJSON *mail;
	if (!config) {
		cg_log_setup(CG_LOG_LEVEL_ERR, CG_LOG_TEXT);
		snprintf(rules_path, sizeof(rules_path), "/tmp/fuzz_mailrules.%ld.yaml", (long)getpid());
		atexit(remove_rules);
		size_t cap = 512;
		config = malloc(cap);
		if (!config)
			abort();
		snprintf(config, cap,
			 "listen: 127.0.0.1:0\nstate_dir: /tmp\nsources:\n  - name: m\n    type: email\n"
			 "    rules: {file: %s}\n    project: SEC\n"
			 "    case_type: 00000000-0000-0000-0000-000000000001\n",
			 rules_path);
		struct cg_mail_limits lim;
		cg_mail_limits_default(&lim);
		char err[256];
		if (cg_mail_parse(mail_text, sizeof(mail_text) - 1, &lim, &mail, err, sizeof(err)) != 0)
			abort();
	}
	if (size > 64 * 1024)
		return 0;
	FILE *f = fopen(rules_path, "wb");
	if (!f)
		return 0;
	fwrite(data, 1, size, f);
	fclose(f);
	struct cg_config *c = NULL;
	char *errs = NULL;
	if (cg_config_parse("/tmp/fuzz.yaml", config, strlen(config), &c, &errs) == 0) {
		const struct cg_source_config *src = cg_config_source(c, "m");
		if (!src || !src->mapper)
			abort();
		struct cg_map_opts opts = {.group_by = src->group_by, .mail_rules = src->mail_rules};
		struct cg_event_list ev;
		cg_event_list_init(&ev);
		char err[256];
		(void)src->mapper->map(mail, &opts, &ev, err, sizeof(err));
		cg_event_list_cleanup(&ev);
		if (src->mail_rules) {
			cJSON *fields = cJSON_CreateObject();
			int matched = 0;
			enum cg_mail_verdict v;
			if (fields)
				(void)cg_mail_rules_apply(src->mail_rules, mail, fields, &matched, &v);
			cJSON_Delete(fields);
			(void)cg_mail_rules_sender_ok(src->mail_rules, "nagios@mon.example.com");
			char why[128];
			if (cg_mail_rules_diff(src->mail_rules, src->mail_rules, why, sizeof(why)) != 0)
				abort(); /* a set always behaves like itself */
		}
	}
	cg_config_free(c);
	free(errs);
	return 0;
}
