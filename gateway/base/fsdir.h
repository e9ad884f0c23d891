/* fsdir.h: making the state directory: mkdir -p with owner-only permissions. */
#ifndef CG_FSDIR_H
#define CG_FSDIR_H

/*
 * Creates dir and every missing parent with mode 0700 (existing ones are left as they are), then
 * checks that dir is a directory. 0, or -1 with errno set (ENOTDIR when dir names something else,
 * ENAMETOOLONG past 4095 bytes).
 */
int cg_mkdir_p(const char *dir);

#endif
