/* opstest.h: helpers of the ops integration tests: run a casegate CLI command, poll metrics. */
#ifndef CG_OPSTEST_H
#define CG_OPSTEST_H

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"

/* Runs `casegate <args...>` (NULL-terminated), output (stdout+stderr) into *out (malloc'd, may
 * be NULL). Returns the exit status, or -1 when it did not exit normally. */
static inline int ops_run_casegate(struct itest *t, const char *const args[], char **out)
{
	char bin[512], path[600];
	snprintf(bin, sizeof(bin), "%s/casegate", cg_h_binary_dir());
	static int seq;
	snprintf(path, sizeof(path), "%s/cli.%d.out", t->dir, seq++);
	const char *argv[16] = {bin};
	size_t n = 1;
	for (; args[n - 1] && n < 15; n++)
		argv[n] = args[n - 1];
	argv[n] = NULL;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	int ws = 0;
	while (waitpid(pid, &ws, 0) < 0)
		;
	if (out)
		*out = cg_h_read_file(path, NULL);
	return WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
}

#endif
