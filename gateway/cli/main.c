/* main.c: casegate's command table (name, needs, usage lines, function) and the dispatch it drives. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"

/* Each command's lines in `casegate help` (in the table's order) and `casegate NAME --help`. */
static const char run_usage[] = "  casegate run -c FILE [--datadog-url URL]   run the daemon\n";
static const char check_config_usage[] =
    "  casegate check-config -c FILE [--online [--datadog-url URL]]\n"
    "                                             validate FILE; every error as file:line:col;\n"
    "                                             --online also asks Datadog (keys, projects, case types)\n";
static const char map_usage[] =
    "  casegate map -c FILE --source NAME [PAYLOAD-FILE|-|'{JSON}']\n"
    "                                             dry run: print the case events a payload yields\n";
static const char mail_usage[] =
    "  casegate mail -c FILE --source NAME [--sender ADDR] < MESSAGE\n"
    "                                             queue one e-mail (pipe mode; exit 0, 65 or 75)\n";
static const char dlq_usage[] = "  casegate dlq list|show ID|retry ID|drop ID -c FILE\n"
                                "  casegate dlq retry --all|drop --all -c FILE\n"
                                "                                             inspect and act on dead letters\n";
static const char migrate_usage[] =
    "  casegate migrate -c FILE                   create or upgrade the store's schema\n";
static const char provision_usage[] =
    "  casegate provision -c FILE --plan|--apply  reconcile the config's provision: section with Datadog\n";
static const char maintenance_usage[] =
    "  casegate maintenance start|end -c FILE --project KEY [--duration 1h]\n"
    "                                             open or end a project's maintenance window\n";
static const char reload_usage[] =
    "  casegate reload -c FILE                    validate FILE, then make the running daemon reload it\n";
static const char status_usage[] =
    "  casegate status -c FILE [--json]           queue depth, oldest item, dead letters, last delivery per source\n";
static const char mappers_usage[] = "  casegate mappers                           list source types\n";
static const char version_usage[] = "  casegate version\n";
/* After the table, and after one command's lines when it takes -c FILE. */
static const char env_file_usage[] =
    "every command with -c FILE also takes --env-file FILE: a systemd EnvironmentFile (KEY=VALUE lines,\n"
    "the one the unit reads) whose variables are set before FILE's ${VAR} are expanded\n";

/* One row a command, in the order `casegate help` lists them; cmd_<name>.c holds its function. */
static const struct cg_cli_cmd commands[] = {
    /* name, other names, needs (CG_CLI_*), function, usage lines */
    {"run", {NULL}, CG_CLI_CONFIG | CG_CLI_SECRETS, cg_cmd_run, run_usage},
    {"check-config", {NULL}, CG_CLI_CONFIG | CG_CLI_WARNINGS | CG_CLI_SECRETS, cg_cmd_check_config, check_config_usage},
    {"map", {NULL}, CG_CLI_CONFIG | CG_CLI_WARNINGS | CG_CLI_ENV_NOTE, cg_cmd_map, map_usage},
    {"mail", {NULL}, CG_CLI_CONFIG | CG_CLI_WARNINGS | CG_CLI_STORE | CG_CLI_TEMPFAIL, cg_cmd_mail, mail_usage},
    {"dlq", {NULL}, CG_CLI_CONFIG | CG_CLI_WARNINGS | CG_CLI_STORE, cg_cmd_dlq, dlq_usage},
    {"migrate", {NULL}, CG_CLI_CONFIG | CG_CLI_WARNINGS | CG_CLI_STORE, cg_cmd_migrate, migrate_usage},
    {"provision", {NULL}, CG_CLI_CONFIG | CG_CLI_OWN_ARGS | CG_CLI_SECRETS, cg_cmd_provision, provision_usage},
    {"maintenance", {NULL}, CG_CLI_CONFIG | CG_CLI_OWN_ARGS | CG_CLI_SECRETS, cg_cmd_maintenance, maintenance_usage},
    {"reload", {NULL}, CG_CLI_CONFIG | CG_CLI_STORE | CG_CLI_ENV_NOTE, cg_cmd_reload, reload_usage},
    {"status", {NULL}, CG_CLI_CONFIG | CG_CLI_STORE, cg_cmd_status, status_usage},
    {"mappers", {NULL}, CG_CLI_NO_ARGS, cg_cmd_mappers, mappers_usage},
    {"version", {"--version"}, CG_CLI_NO_ARGS, cg_cmd_version, version_usage},
    {"help", {"--help", "-h"}, 0, cg_cmd_help, NULL}, /* not listed: it prints the list */
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
	fputs("usage:\n", f);
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (commands[i].usage)
			fputs(commands[i].usage, f);
	fputs(env_file_usage, f);
}

static const struct cg_cli_cmd *find(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++) {
		const struct cg_cli_cmd *c = &commands[i];
		if (strcmp(name, c->name) == 0 || (c->alias[0] && strcmp(name, c->alias[0]) == 0) ||
		    (c->alias[1] && strcmp(name, c->alias[1]) == 0))
			return c;
	}
	return NULL;
}

/* `casegate NAME ... --help` (or -h) anywhere after the name. */
static int wants_help(int argc, char **argv)
{
	for (int i = 2; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const struct cg_cli_cmd *cmd = find(argv[1]);
	if (!cmd) {
		fprintf(stderr, "casegate: unknown command '%s'\n", argv[1]);
		usage(stderr);
		return 2;
	}
	if (wants_help(argc, argv)) {
		if (cmd->usage)
			printf("usage:\n%s%s", cmd->usage, (cmd->needs & CG_CLI_CONFIG) ? env_file_usage : "");
		else
			usage(stdout);
		return 0;
	}
	if ((cmd->needs & CG_CLI_NO_ARGS) && argc > 2) {
		/* Said, not ignored: `casegate version --json` must not look like it was understood. */
		fprintf(stderr, "casegate %s takes no arguments (got %s)\n", cmd->name, argv[2]);
		usage(stderr);
		return 2;
	}
	struct cg_cli c = {.cmd = cmd, .argc = argc, .argv = argv, .out = stdout, .err = stderr, .usage = usage};
	if ((cmd->needs & CG_CLI_CONFIG) && !(cmd->needs & CG_CLI_OWN_ARGS) && cg_cli_parse(&c) != 0)
		return (cmd->needs & CG_CLI_TEMPFAIL) ? 75 : 2;
	return cmd->run(&c);
}
