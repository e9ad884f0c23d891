/* fsdir.c: mkdir -p for the state directory (the pid file and the SQLite store both make it). */
#include "fsdir.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

int cg_mkdir_p(const char *dir)
{
	char buf[4096];
	size_t len = strlen(dir);
	if (len == 0 || len >= sizeof(buf)) {
		errno = len ? ENAMETOOLONG : ENOENT;
		return -1;
	}
	memcpy(buf, dir, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		char c = buf[i];
		buf[i] = '\0';
		if (mkdir(buf, 0700) != 0 && errno != EEXIST)
			return -1;
		buf[i] = c;
	}
	struct stat sb;
	if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}
