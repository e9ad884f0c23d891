/* cmd_mail.c: `casegate mail`: one e-mail from stdin queued as the mail listener would (pipe mode for MTAs). */
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "config.h"
#include "mailin.h"

/* Pipe mode for aliases, procmail and Postfix pipe(8): one message on stdin, sysexits codes like
 * RT's mail gateway. Only 65 blames the message; everything the operator can fix (the command
 * line, the config, --env-file, the store) is 75, because an MTA bounces any other code for good
 * and the alert would be lost, where 75 keeps it queued until the retry succeeds. */
int cg_cmd_mail(struct cg_cli *c)
{
	const struct cg_cli_args *a = &c->a;
	if (!a->source) {
		fprintf(stderr, "casegate mail: --source NAME is required: exit 75, the MTA keeps the message\n");
		return 75;
	}
	struct cg_config *cfg = cg_cli_config(c);
	if (!cfg) {
		/* cg_cli_config said what is wrong above; this line says what happens to the mail. */
		fprintf(stderr, "casegate mail: cannot use %s: exit 75, the MTA keeps the message and retries\n",
			a->config);
		return 75;
	}
	size_t len = 0;
	char *raw = cg_cli_read_all(stdin, &len);
	if (!raw) {
		cg_config_free(cfg);
		fprintf(stderr, "casegate mail: out of memory reading the message\n");
		return 75;
	}
	char msg[512] = "";
	int code = cg_mailin_pipe(cfg, a->source, raw, len, a->sender, msg, sizeof(msg));
	fprintf(stderr, "casegate mail: %s\n", msg);
	free(raw);
	cg_config_free(cfg);
	return code;
}
