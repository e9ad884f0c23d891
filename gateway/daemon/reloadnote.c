/* reloadnote.c: state_dir/casegate.reload, the daemon's verdict on its last reload, for `casegate reload`. */
#define CG_LOG_COMPONENT "ops" /* as before this file was cut from opscli.c: the log lines stay the same */
#include "reloadnote.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

char *cg_reload_note_read(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = malloc(65536);
	if (buf) {
		size_t n = fread(buf, 1, 65535, f);
		buf[n] = '\0';
	}
	fclose(f);
	return buf;
}

char *cg_reload_note_path(const char *state_dir)
{
	size_t n = strlen(state_dir) + sizeof("/casegate.reload");
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/casegate.reload", state_dir);
	return p;
}

void cg_reload_note(const char *state_dir, int ok, const char *msg)
{
	char *path = cg_reload_note_path(state_dir);
	if (!path)
		return;
	size_t tn = strlen(path) + 8;
	char *tmp = malloc(tn);
	FILE *f = NULL;
	if (!tmp)
		goto out;
	snprintf(tmp, tn, "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f) {
		CG_LOG_WARN("cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	/* The first line differs for every reload: the CLI waits for it to change. */
	fprintf(f, "%lld.%09ld %ld %s\n%s\n", (long long)ts.tv_sec, ts.tv_nsec, (long)getpid(), ok ? "ok" : "rejected",
		msg ? msg : "");
	int bad = fclose(f) != 0;
	if (bad || rename(tmp, path) != 0)
		CG_LOG_WARN("cannot write %s: %s", path, strerror(errno));
out:
	free(tmp);
	free(path);
}

int cg_reload_note_verdict(const char *note, const char **msg)
{
	/* "<stamp> <pid> ok|rejected\n<message>", as cg_reload_note writes it */
	const char *sp = strchr(note, ' ');
	sp = sp ? strchr(sp + 1, ' ') : NULL;
	const char *m = strchr(note, '\n');
	*msg = m ? m + 1 : "";
	return sp && strncmp(sp + 1, "ok", 2) == 0;
}
