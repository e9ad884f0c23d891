/* reloadnote.h: state_dir/casegate.reload: the daemon notes how each reload went, `casegate reload` reads it. */
#ifndef CG_RELOADNOTE_H
#define CG_RELOADNOTE_H

/* Daemon side: records the outcome of a reload in state_dir/casegate.reload, where
 * `casegate reload` looks for it. msg may hold several lines. */
void cg_reload_note(const char *state_dir, int ok, const char *msg);

/* state_dir/casegate.reload (malloc'd), or NULL. */
char *cg_reload_note_path(const char *state_dir);

/* The whole file (at most 64 KiB) NUL-terminated (malloc'd), or NULL. */
char *cg_reload_note_read(const char *path);

/* Reads a note: 1 when the reload succeeded, 0 when it was rejected; *msg points into note at
 * the message (possibly several lines, "" when there is none). */
int cg_reload_note_verdict(const char *note, const char **msg);

#endif
