/* cli.h: what every casegate command shares: its row in the command table, its options, loading the config. */
#ifndef CG_CLI_H
#define CG_CLI_H

#include <stddef.h>
#include <stdio.h>

#include "config.h"

/* What a command needs (struct cg_cli_cmd.needs), or 0 for nothing. */
#define CG_CLI_CONFIG   1u /* -c FILE is required; the command loads it with cg_cli_config() */
#define CG_CLI_WARNINGS 2u /* cg_cli_config() also prints the config's warnings on stderr */
#define CG_CLI_OWN_ARGS 4u /* the command reads its own argv; main does not parse the common options */
#define CG_CLI_NO_ARGS  8u /* the command takes nothing: anything after its name is refused (exit 2) */
/* ${VAR} in the config: with CG_CLI_SECRETS an unset VAR is an error (the command needs every
 * value: run, check-config, provision, maintenance); without it the reference is left as written
 * (status, dlq, map, ... need no secret), except where CG_CLI_STORE says the command opens the
 * store or the state directory (state_dir and store.* must expand). CG_CLI_ENV_NOTE: say which
 * references were left as written (their values show in the command's output or verdict). */
#define CG_CLI_SECRETS  16u
#define CG_CLI_STORE    32u
#define CG_CLI_ENV_NOTE 64u
/* An MTA runs the command (pipe mode): a usage error exits 75 (EX_TEMPFAIL), not 2, so the mail
 * stays queued while the operator fixes the command line (other codes bounce it for good). */
#define CG_CLI_TEMPFAIL 128u

struct cg_cli;

/* One row of the command table in main.c. */
struct cg_cli_cmd {
	const char *name;
	const char *alias[2];         /* other names it answers to ("--version"), or NULL */
	unsigned needs;               /* CG_CLI_*, or 0 */
	int (*run)(struct cg_cli *c); /* returns the process exit code */
	/* Its lines in `casegate help` and `casegate NAME --help`, each "  casegate NAME ...\n";
	 * NULL: not listed (help answers with the whole table). */
	const char *usage;
};

/* The options, as the commands read them. cg_cli_parse() fills the common ones (run,
 * check-config, map, mail, dlq, migrate, reload, status); provision and maintenance read
 * theirs with cg_prov_args() (provision.h). */
struct cg_cli_args {
	const char *config;   /* -c, --config FILE */
	const char *env_file; /* --env-file FILE: a systemd EnvironmentFile read before the config */
	const char *dd_url; /* --datadog-url URL */
	const char *source; /* --source NAME (map, mail) */
	const char *sender; /* --sender ADDR (mail) */
	const char *pos[4]; /* positional arguments (dlq's verb and id, map's payload) */
	int npos;
	int json;   /* --json (status) */
	int all;    /* --all (dlq retry/drop) */
	int online; /* --online (check-config) */
	/* provision and maintenance */
	const char *verb;     /* start|end */
	const char *project;  /* --project KEY */
	const char *duration; /* --duration 1h */
	int plan, apply;      /* --plan, --apply */
};

/* One invocation: the command's row, its arguments and where it writes. */
struct cg_cli {
	const struct cg_cli_cmd *cmd;
	int argc;
	char **argv; /* argv[1] is the command's name */
	struct cg_cli_args a;
	FILE *out, *err;        /* stdout, stderr */
	void (*usage)(FILE *f); /* prints every command's usage (the table lives in main.c) */
};

/* Reads the common options from c->argv into c->a; -c FILE is required. On a bad or missing
 * option, says so on stderr with the whole usage and returns -1 (exit code 2). */
int cg_cli_parse(struct cg_cli *c);

/* The one way a command loads its config (c->a.config), after --env-file's variables are set:
 * errors go to c->err as the loader wrote them (file:line:col), then NULL (exit code 1 for most
 * commands). ${VAR} follows CG_CLI_SECRETS / CG_CLI_STORE / CG_CLI_ENV_NOTE. With
 * CG_CLI_WARNINGS in the command's needs, the config's warnings are printed too. Free with
 * cg_config_free. */
struct cg_config *cg_cli_config(const struct cg_cli *c);

/* All of f (a payload, a message), NUL-terminated; *len gets its length. NULL when out of memory. */
char *cg_cli_read_all(FILE *f, size_t *len);

#endif
