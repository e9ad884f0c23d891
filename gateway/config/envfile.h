/* envfile.h: reading a systemd EnvironmentFile (KEY=VALUE lines), so a command sees the daemon's environment. */
#ifndef CG_ENVFILE_H
#define CG_ENVFILE_H

#include <stddef.h>

/* Called once per assignment, in file order; a non-zero return stops the parse with CG_ENOMEM. */
typedef int (*cg_envfile_set_fn)(void *arg, const char *key, const char *value);

/*
 * Parses text as systemd reads an EnvironmentFile= (systemd.exec(5)): blank lines and lines
 * starting with # or ; are comments; KEY=VALUE with whitespace around = ignored; an unquoted
 * value keeps interior whitespace, drops leading and trailing whitespace, and a backslash keeps
 * the next character (a backslash at the end of a line continues the value on the next);
 * a value starting with ' runs to the next ' verbatim, one starting with " to the next
 * unescaped " (\" \\ \` \$ and a backslash-newline are escapes there); both may span lines.
 * A leading `export ` (shell syntax) is accepted. Returns 0, CG_EINVAL with every problem in
 * *errs as "name:line: message" lines (malloc'd; a line with no `=`, a bad name, an unclosed
 * quote, text after a closing quote), or CG_ENOMEM.
 */
int cg_envfile_parse(const char *name, const char *text, size_t len, cg_envfile_set_fn set, void *arg, char **errs);

/* Reads path (at most 1 MiB) and sets each variable in this process's environment, replacing
 * the shell's value. Returns 0, CG_EIO (cannot read: *errs says why), CG_EINVAL or CG_ENOMEM. */
int cg_envfile_apply(const char *path, char **errs);

#endif
