/* cli.c: what every casegate command shares: the common options, loading the config and reporting on it. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

#include "envfile.h"
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
		else if (strcmp(argv[i], "--env-file") == 0 && i + 1 < argc)
			a->env_file = argv[++i];
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

/* The name of the command as the user typed it ("casegate status"). */
static const char *cmd_name(const struct cg_cli *c)
{
	return c->cmd ? c->cmd->name : "casegate";
}

/* state_dir and store.* must expand: the command cannot find the store without them. Returns
 * how many did not (each said). */
static int store_unset(const struct cg_cli *c, const struct cg_config *cfg)
{
	int bad = 0;
	for (size_t i = 0; i < cfg->nunset; i++) {
		const struct cg_config_unset *u = &cfg->unset[i];
		if (strcmp(u->label, "state_dir") != 0 && strncmp(u->label, "store", 5) != 0)
			continue;
		fprintf(c->err, "%s: %s: environment variable %s is not set: casegate %s needs it to find the store\n",
			u->where, u->label, u->var, cmd_name(c));
		bad++;
	}
	return bad;
}

struct cg_config *cg_cli_config(const struct cg_cli *c)
{
	const char *path = c->a.config;
	struct cg_config *cfg = NULL;
	char *errs = NULL;
	unsigned needs = c->cmd ? c->cmd->needs : CG_CLI_SECRETS;
	if (c->a.env_file) {
		int er = cg_envfile_apply(c->a.env_file, &errs);
		if (er) {
			if (errs && errs[0])
				put_lines(c->err, errs);
			else
				fprintf(c->err, "%s: %s\n", c->a.env_file, cg_strerror(er));
			fprintf(c->err, "casegate %s: --env-file %s was not used: nothing was done\n", cmd_name(c), c->a.env_file);
			free(errs);
			return NULL;
		}
	}
	int rc = cg_config_load_ex(path, (needs & CG_CLI_SECRETS) ? 0 : CG_CONFIG_ENV_LENIENT, &cfg, &errs);
	if (rc) {
		if (errs && errs[0])
			put_lines(c->err, errs);
		else
			fprintf(c->err, "%s: %s\n", path, cg_strerror(rc));
		/* The secrets usually live in the daemon's EnvironmentFile, not the operator's shell. */
		if (errs && strstr(errs, ": environment variable ") && !c->a.env_file)
			fprintf(c->err,
				"casegate %s: the daemon's environment is the one that counts: --env-file FILE "
				"(e.g. /etc/casegate/casegate.env) reads it\n",
				cmd_name(c));
		free(errs);
		return NULL;
	}
	free(errs);
	if ((needs & CG_CLI_STORE) && store_unset(c, cfg)) {
		if (!c->a.env_file)
			fprintf(c->err, "casegate %s: --env-file FILE (e.g. /etc/casegate/casegate.env) reads the daemon's environment\n",
				cmd_name(c));
		cg_config_free(cfg);
		return NULL;
	}
	/* Where each reference left as written is, and which variable; never a value. */
	for (size_t i = 0; (needs & CG_CLI_ENV_NOTE) && i < cfg->nunset; i++)
		fprintf(c->err, "%s: %s: note: ${%s} is not set here: left as written\n", cfg->unset[i].where,
			cfg->unset[i].label, cfg->unset[i].var);
	if ((needs & CG_CLI_ENV_NOTE) && cfg->nunset)
		fprintf(c->err,
			"casegate %s: the daemon expands these from its own environment (--env-file FILE reads "
			"one like it)\n",
			cmd_name(c));
	/* Non-fatal findings (world-readable secrets, auth: none on a public address). The daemon
	 * logs them itself, in its log format; commands that only read the store or call Datadog
	 * (status, reload, provision, maintenance) have never printed them. */
	if ((needs & CG_CLI_WARNINGS) && cfg->warnings)
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
