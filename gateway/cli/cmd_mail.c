/* cmd_mail.c: `casegate mail`: one e-mail from stdin queued as the mail listener would (pipe mode for MTAs). */
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "config.h"
#include "mailin.h"

/* Pipe mode for aliases and procmail: one message on stdin, sysexits codes like RT's mail gateway. */
int cg_cmd_mail(struct cg_cli *c)
{
	const struct cg_cli_args *a = &c->a;
	if (!a->source) {
		fprintf(stderr, "casegate mail: --source NAME is required\n");
		return 64; /* EX_USAGE */
	}
	struct cg_config *cfg = cg_cli_config(c);
	if (!cfg)
		return 78; /* EX_CONFIG */
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
