/* pidfile.c: the daemon's pid file; the flock, not the pid, says whether the daemon still runs. */
#include "pidfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "fsdir.h"

struct cg_pidfile {
	int fd;
	char path[4096];
};

static int pid_path(const char *state_dir, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/casegate.pid", state_dir);
	return n > 0 && (size_t)n < len ? 0 : CG_EINVAL;
}

static long read_pid(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	char *end = NULL;
	long pid = strtol(buf, &end, 10);
	return end != buf && pid > 0 ? pid : 0;
}

int cg_pidfile_acquire(const char *state_dir, struct cg_pidfile **out, long *holder, char *err, size_t errlen)
{
	struct cg_pidfile *p = calloc(1, sizeof(*p));
	if (!p)
		return CG_ENOMEM;
	p->fd = -1;
	int rc = CG_EIO;
	if (pid_path(state_dir, p->path, sizeof(p->path)) != 0) {
		snprintf(err, errlen, "state_dir too long");
		rc = CG_EINVAL;
		goto fail;
	}
	if (cg_mkdir_p(state_dir) != 0) {
		snprintf(err, errlen, "%s: %s", state_dir, strerror(errno));
		goto fail;
	}
	p->fd = open(p->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (p->fd < 0) {
		snprintf(err, errlen, "%s: %s", p->path, strerror(errno));
		goto fail;
	}
	if (flock(p->fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK) {
			long pid = read_pid(p->fd);
			if (holder)
				*holder = pid;
			snprintf(err, errlen, "%s is locked by another casegate (pid %ld) using the same state_dir",
				 p->path, pid);
			rc = CG_EEXIST;
		} else {
			snprintf(err, errlen, "%s: lock: %s", p->path, strerror(errno));
		}
		goto fail;
	}
	if (ftruncate(p->fd, 0) != 0) {
		snprintf(err, errlen, "%s: %s", p->path, strerror(errno));
		goto fail;
	}
	*out = p;
	return 0;
fail:
	if (p->fd >= 0)
		close(p->fd);
	free(p);
	return rc;
}

int cg_pidfile_publish(struct cg_pidfile *p)
{
	char line[32];
	int n = snprintf(line, sizeof(line), "%ld\n", (long)getpid());
	return pwrite(p->fd, line, (size_t)n, 0) == n ? 0 : CG_EIO;
}

void cg_pidfile_release(struct cg_pidfile *p)
{
	if (!p)
		return;
	/* Unlink while still holding the lock: a new daemon then creates a fresh file. */
	unlink(p->path);
	close(p->fd);
	free(p);
}

int cg_pidfile_running(const char *state_dir, long *pid)
{
	char path[4096];
	if (pid_path(state_dir, path, sizeof(path)) != 0)
		return CG_EINVAL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return CG_ENOENT;
	int rc = CG_ENOENT;
	/* A shared lock we can take means nobody holds the exclusive one: the file is stale. */
	if (flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK) {
		long v = read_pid(fd);
		if (v > 0) {
			*pid = v;
			rc = 0;
		}
	}
	close(fd);
	return rc;
}
