/* cmd_reload.c: `casegate reload`: validate the config, signal the running daemon, wait for its verdict. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "builders.h"
#include "commands.h"
#include "config.h"
#include "pidfile.h"
#include "reloadnote.h"

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* How long `casegate reload` waits for the daemon's verdict. */
#define WAIT_MS 10000u

int cg_cmd_reload(struct cg_cli *c)
{
	const char *config_path = c->a.config;
	unsigned wait_ms = WAIT_MS;
	FILE *out = c->out, *err = c->err;
	struct cg_config *cfg = cg_cli_config(c);
	if (!cfg) {
		/* The reason is above: the config, the --env-file, or a state_dir that does not expand. */
		fprintf(err, "casegate reload: the running daemon was not signalled\n");
		return 1;
	}
	int rc = 1;
	char *path = NULL, *before = NULL, *after = NULL;
	struct cg_builder **b = NULL;
	char e[512] = "";
	if (cg_builders_create(cfg, &b, e, sizeof(e)) != 0) {
		fprintf(err, "%s: %s\ncasegate reload: %s is invalid: the running daemon was not signalled\n",
			config_path, e, config_path);
		goto out;
	}
	cg_builders_free(b, cfg->nsources);
	long pid = 0;
	if (cg_pidfile_running(cfg->state_dir, &pid) != 0) {
		fprintf(err, "casegate reload: no casegate is running with state_dir %s\n", cfg->state_dir);
		goto out;
	}
	path = cg_reload_note_path(cfg->state_dir);
	if (!path)
		goto out;
	before = cg_reload_note_read(path);
	if (kill((pid_t)pid, SIGHUP) != 0) {
		fprintf(err, "casegate reload: cannot signal pid %ld: %s\n", pid, strerror(errno));
		goto out;
	}
	int64_t deadline = wall_ms() + wait_ms;
	for (;;) {
		free(after);
		after = cg_reload_note_read(path);
		if (after && (!before || strcmp(before, after) != 0))
			break;
		if (wall_ms() >= deadline) {
			fprintf(out, "casegate reload: sent SIGHUP to pid %ld; no answer within %u ms (see its log)\n", pid,
				wait_ms);
			rc = 3;
			goto out;
		}
		usleep(20000);
	}
	const char *msg = NULL;
	int ok = cg_reload_note_verdict(after, &msg);
	if (ok) {
		fprintf(out, "casegate reload: pid %ld reloaded %s: %s", pid, config_path, msg);
		rc = 0;
	} else {
		fprintf(err, "casegate reload: pid %ld rejected %s and keeps its configuration:\n%s", pid, config_path,
			msg);
	}
out:
	free(before);
	free(after);
	free(path);
	cg_config_free(cfg);
	return rc;
}
