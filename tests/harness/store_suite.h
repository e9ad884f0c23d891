/* store_suite.h: backend-independent conformance tests for struct cg_store (SQLite, PostgreSQL). */
#ifndef CG_STORE_SUITE_H
#define CG_STORE_SUITE_H

#include "store.h"

/* How the suite gets stores of one backend. */
struct cg_store_suite_backend {
	const char *name;
	/* Opens a new, empty store; *loc gets an opaque location for reopen/remove. */
	int (*create)(void **loc, struct cg_store **out);
	/* Opens the store at loc again (after close: the crash/restart case). */
	int (*reopen)(void *loc, struct cg_store **out);
	/* Deletes everything at loc and frees it. */
	void (*remove)(void *loc);
	/* Optional (NULL skips the disk-full test): full=1 makes growing writes fail with
	 * CG_EFULL, full=0 lifts that again. */
	int (*set_full)(struct cg_store *st, int full);
	/* Events in the bulk test; 0: 100000 (a networked backend may run fewer). */
	int bulk_events;
	/* Optional (NULL skips the shared-store tests): opens the store at loc as another replica
	 * would: its own connection, replica name and claim lease (ms), notifications on. */
	int (*open_peer)(void *loc, const char *name, int64_t lease_ms, struct cg_store **out);
};

/* Runs the whole suite as one cmocka group; returns the number of failed tests. */
int cg_store_suite_run(const struct cg_store_suite_backend *b);

/* Claims up to 10 events due at now from st and fails the test (saying what) unless their ids are
 * want[0..n-1], in that order. */
void cg_store_suite_expect_claim(struct cg_store *st, int64_t now, const int64_t *want, size_t n, const char *what);

/* Wall clock in ms (shared by the store tests). */
int64_t cg_store_suite_now_ms(void);

#endif
