/* cli.c: what every casegate command shares: the common options, loading the config and reporting on it. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

int cg_cli_parse(struct cg_cli *c)
{
	struct cg_cli_args *a = &c->a;
	int argc = c->argc;
	char **argv = c->argv;
	memset(a, 0, sizeof(*a));
	for (int i = 2; i < argc; i++) {
		if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc)
			a->config = argv[++i];
		else if (strcmp(argv[i], "--source") == 0 && i + 1 < argc)
			a->source = argv[++i];
		else if (strcmp(argv[i], "--datadog-url") == 0 && i + 1 < argc)
			a->dd_url = argv[++i];
		else if (strcmp(argv[i], "--all") == 0)
			a->all = 1;
		else if (strcmp(argv[i], "--sender") == 0 && i + 1 < argc)
			a->sender = argv[++i];
		else if (strcmp(argv[i], "--json") == 0)
			a->json = 1;
		else if (strcmp(argv[i], "--online") == 0)
			a->online = 1;
		else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			fprintf(stderr, "casegate: unknown option %s\n", argv[i]);
			goto bad;
		} else if (a->npos < 4)
			a->pos[a->npos++] = argv[i];
		else {
			fprintf(stderr, "casegate: too many arguments\n");
			goto bad;
		}
	}
	if (!a->config) {
		fprintf(stderr, "casegate: -c FILE is required\n");
		goto bad;
	}
	return 0;
bad:
	c->usage(stderr);
	return -1;
}

/* Prints text and ends the line unless it ends one already. */
static void put_lines(FILE *f, const char *text)
{
	size_t n = strlen(text);
	fprintf(f, "%s%s", text, n && text[n - 1] == '\n' ? "" : "\n");
}

struct cg_config *cg_cli_config(const struct cg_cli *c)
{
	const char *path = c->a.config;
	struct cg_config *cfg = NULL;
	char *errs = NULL;
	int rc = cg_config_load(path, &cfg, &errs);
	if (rc) {
		if (errs && errs[0])
			put_lines(c->err, errs);
		else
			fprintf(c->err, "%s: %s\n", path, cg_strerror(rc));
		free(errs);
		return NULL;
	}
	free(errs);
	/* Non-fatal findings (world-readable secrets, auth: none on a public address). The daemon
	 * logs them itself, in its log format; commands that only read the store or call Datadog
	 * (status, reload, provision, maintenance) have never printed them. */
	if ((c->cmd->needs & CG_CLI_WARNINGS) && cfg->warnings)
		put_lines(c->err, cfg->warnings);
	return cfg;
}

char *cg_cli_read_all(FILE *f, size_t *len)
{
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap);
	if (!buf)
		return NULL;
	for (;;) {
		if (n + 1 >= cap) {
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				return NULL;
			}
			buf = nb;
			cap *= 2;
		}
		size_t r = fread(buf + n, 1, cap - n - 1, f);
		if (r == 0)
			break;
		n += r;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}
