/* fuzz_mail.c: libFuzzer target for the MIME parser and the email mapper over arbitrary message bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "email.h"
#include "err.h"
#include "event.h"
#include "mail.h"
#include "mailrules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct cg_mail_rules *rules[4];

static void init(void)
{
	static int done;
	if (done)
		return;
	done = 1;
	const char *const *names = cg_mail_rules_builtin_names();
	for (size_t i = 0; i < 4 && names[i]; i++) {
		char err[128];
		if (cg_mail_rules_create(cg_mail_rules_builtin(names[i]), &rules[i], err, sizeof(err)) != 0)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	init();
	if (size > 256 * 1024)
		return 0;
	struct cg_mail_limits lim;
	cg_mail_limits_default(&lim);
	lim.max_text = 4096;
	cJSON *m = NULL;
	char err[256] = "";
	int rc = cg_mail_parse((const char *)data, size, &lim, &m, err, sizeof(err));
	if (rc == CG_EINVAL && !err[0])
		abort();
	if (rc)
		return 0;
	/* Invariants: the fields the mapper and the gateway read are there and are strings. */
	if (!cJSON_IsString(cJSON_GetObjectItem(m, "subject")) || !cJSON_IsString(cJSON_GetObjectItem(m, "text")) ||
	    !cJSON_IsArray(cJSON_GetObjectItem(m, "attachments")))
		abort();
	if (strlen(cJSON_GetObjectItem(m, "text")->valuestring) > lim.max_text + 4)
		abort();
	char *printed = cJSON_PrintUnformatted(m);
	if (!printed)
		abort();
	cJSON_free(printed);
	for (size_t i = 0; i < 5; i++) {
		struct cg_event_list ev;
		cg_event_list_init(&ev);
		int matched = 0;
		rc = cg_email_map(m, i < 4 ? rules[i] : NULL, &ev, &matched, err, sizeof(err));
		if (rc != 0 && rc != CG_EINVAL && rc != CG_ENOMEM)
			abort();
		if (rc == 0 && ev.n == 0 && !ev.ignored_reason[0])
			abort();
		for (size_t k = 0; k < ev.n; k++)
			if (!ev.v[k].dedup_key || !*ev.v[k].dedup_key || !ev.v[k].title || !ev.v[k].ctx)
				abort();
		cg_event_list_cleanup(&ev);
	}
	char *c = cg_email_comment_text(m, 2048);
	free(c);
	cJSON_Delete(m);
	return 0;
}
