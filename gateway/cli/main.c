/* main.c: casegate's command table (name, needs, usage lines, function) and the dispatch it drives. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"

/* One row a command, in the order `casegate help` lists them; cmd_<name>.c holds its function. */
static const struct cg_cli_cmd commands[] = {
	{.name = "run",
	 .needs = CG_CLI_CONFIG,
	 .usage = "  casegate run -c FILE [--datadog-url URL]   run the daemon\n",
	 .run = cg_cmd_run},
	{.name = "check-config",
	 .needs = CG_CLI_CONFIG | CG_CLI_WARNINGS,
	 .usage = "  casegate check-config -c FILE [--online [--datadog-url URL]]\n"
		  "                                             validate FILE; every error as file:line:col;\n"
		  "                                             --online also asks Datadog (keys, projects, case types)\n",
	 .run = cg_cmd_check_config},
	{.name = "map",
	 .needs = CG_CLI_CONFIG | CG_CLI_WARNINGS,
	 .usage = "  casegate map -c FILE --source NAME [PAYLOAD|-]\n"
		  "                                             dry run: print the case events a payload yields\n",
	 .run = cg_cmd_map},
	{.name = "mail",
	 .needs = CG_CLI_CONFIG | CG_CLI_WARNINGS,
	 .usage = "  casegate mail -c FILE --source NAME [--sender ADDR] < MESSAGE\n"
		  "                                             queue one e-mail (pipe mode; exit 0, 65, 67 or 75)\n",
	 .run = cg_cmd_mail},
	{.name = "dlq",
	 .needs = CG_CLI_CONFIG | CG_CLI_WARNINGS,
	 .usage = "  casegate dlq list|show ID|retry ID|drop ID -c FILE\n"
		  "  casegate dlq retry --all|drop --all -c FILE\n"
		  "                                             inspect and act on dead letters\n",
	 .run = cg_cmd_dlq},
	{.name = "migrate",
	 .needs = CG_CLI_CONFIG | CG_CLI_WARNINGS,
	 .usage = "  casegate migrate -c FILE                   create or upgrade the store's schema\n",
	 .run = cg_cmd_migrate},
	{.name = "provision",
	 .needs = CG_CLI_CONFIG | CG_CLI_OWN_ARGS,
	 .usage = "  casegate provision -c FILE --plan|--apply  reconcile the config's provision: section with Datadog\n",
	 .run = cg_cmd_provision},
	{.name = "maintenance",
	 .needs = CG_CLI_CONFIG | CG_CLI_OWN_ARGS,
	 .usage = "  casegate maintenance start|end -c FILE --project KEY [--duration 1h]\n"
		  "                                             open or end a project's maintenance window\n",
	 .run = cg_cmd_maintenance},
	{.name = "reload",
	 .needs = CG_CLI_CONFIG,
	 .usage = "  casegate reload -c FILE                    validate FILE, then make the running daemon reload it\n",
	 .run = cg_cmd_reload},
	{.name = "status",
	 .needs = CG_CLI_CONFIG,
	 .usage = "  casegate status -c FILE [--json]           queue depth, oldest item, dead letters, last delivery per source\n",
	 .run = cg_cmd_status},
	{.name = "mappers",
	 .usage = "  casegate mappers                           list source types\n",
	 .run = cg_cmd_mappers},
	{.name = "version", .alias = {"--version"}, .usage = "  casegate version\n", .run = cg_cmd_version},
	{.name = "help", .alias = {"--help", "-h"}, .run = cg_cmd_help},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
	fputs("usage:\n", f);
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (commands[i].usage)
			fputs(commands[i].usage, f);
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
			printf("usage:\n%s", cmd->usage);
		else
			usage(stdout);
		return 0;
	}
	struct cg_cli c = {.cmd = cmd, .argc = argc, .argv = argv, .out = stdout, .err = stderr, .usage = usage};
	if ((cmd->needs & CG_CLI_CONFIG) && !(cmd->needs & CG_CLI_OWN_ARGS) && cg_cli_parse(&c) != 0)
		return 2;
	return cmd->run(&c);
}
