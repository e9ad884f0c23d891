/* opscli.h: operator commands against a running or stopped daemon: `casegate reload` and `casegate status`. */
#ifndef CG_OPSCLI_H
#define CG_OPSCLI_H

#include <stdio.h>

/*
 * `casegate reload -c FILE`: validates FILE (config and templates) and refuses to signal when
 * it is invalid; otherwise sends SIGHUP to the daemon of the config's state_dir (its pid file)
 * and waits up to wait_ms for the daemon's verdict. Returns the exit code: 0 reloaded,
 * 1 invalid / rejected by the daemon / no daemon, 3 sent but no verdict in time.
 */
int cg_cli_reload(const char *config_path, unsigned wait_ms, FILE *out, FILE *err);

/* `casegate status -c FILE [--json]`: queue depth, oldest item, dead letters, latest delivery
 * per source, read from the store (the daemon may run). Returns the exit code. */
int cg_cli_status(const char *config_path, int json, FILE *out, FILE *err);

#endif
