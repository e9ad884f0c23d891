/* provision.h: `casegate provision` (Case Management resources declared in the config, reconciled
 * like plan/apply) and `casegate maintenance start|end` (a project's maintenance window). */
#ifndef CG_PROVISION_H
#define CG_PROVISION_H

#include <stdio.h>

/* Name suffix that marks automation rules, case views and maintenance windows as casegate's. */
#define CG_PROVISION_MARK " [casegate]"

/*
 * casegate provision -c FILE (--plan | --apply) [--datadog-url URL]
 * Prints the plan to out ("+ create", "~ update", "- delete", then a summary line; "No changes."
 * when there is nothing to do); --apply carries it out, each failure reported on err with the
 * resource it concerns. Exit code: 0 ok, 1 failure (config, Datadog), 2 usage.
 * Blocking (libcurl easy): a command-line tool, not the daemon. Keys are never printed.
 */
int cg_provision_cli(int argc, char **argv, FILE *out, FILE *err);

/*
 * casegate maintenance start|end -c FILE --project KEY [--duration 1h] [--datadog-url URL]
 * start opens a window "maintenance KEY [casegate]" on query project:KEY from now for the
 * duration; end ends the open windows start made for that project (end_at = now).
 */
int cg_maintenance_cli(int argc, char **argv, FILE *out, FILE *err);

#endif
