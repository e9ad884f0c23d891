/* pidfile.h: state_dir/casegate.pid, locked while the daemon runs: one daemon per store, found by `reload`. */
#ifndef CG_PIDFILE_H
#define CG_PIDFILE_H

#include <stddef.h>

struct cg_pidfile;

/*
 * Creates state_dir when missing and locks state_dir/casegate.pid (flock, exclusive), leaving
 * it empty until cg_pidfile_publish. Returns 0, CG_EEXIST when another live process holds the lock
 * (*holder, which may be NULL, gets its pid or 0), or CG_EIO/CG_ENOMEM (err says why).
 */
int cg_pidfile_acquire(const char *state_dir, struct cg_pidfile **out, long *holder, char *err, size_t errlen);

/* Writes this process's pid: from then on `casegate reload` may signal it (so call it once
 * the signal handlers are in place). 0 or CG_EIO. */
int cg_pidfile_publish(struct cg_pidfile *p);

/* Removes the file and drops the lock; accepts NULL. */
void cg_pidfile_release(struct cg_pidfile *p);

/* The pid of the daemon running on state_dir, or CG_ENOENT when none runs (no file, or a
 * stale file nobody holds the lock of). */
int cg_pidfile_running(const char *state_dir, long *pid);

#endif
