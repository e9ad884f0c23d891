/* store_sqlite_ckpt.c: the SQLite store's background checkpoints, on a thread and connection of their own. */
#define _GNU_SOURCE /* pthread_setname_np */
#include <pthread.h>
#include <stdlib.h>

#include <sqlite3.h>

#include "store_sqlite_int.h"

#define CG_LOG_COMPONENT "store"
#include "log.h"

/*
 * Checkpoints run on their own thread and connection: copying WAL frames into the database
 * (and its fsync) then overlaps the next commits instead of stalling one of them for many
 * milliseconds. The commit hook wakes the thread once the WAL holds CKPT_FRAMES frames. Under
 * steady writes the background checkpoint rarely catches the very last commit, and SQLite
 * reuses the WAL from its start only when every frame is checkpointed; so past
 * CKPT_INLINE_FRAMES the writer checkpoints the (short, not yet copied) rest itself, which
 * bounds the WAL at ~16 MiB (and covers a checkpointer that cannot keep up).
 */
#define CKPT_FRAMES 1000
#define CKPT_INLINE_FRAMES 4000

struct sq_ckpt {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	sqlite3 *db; /* the checkpointer's own connection */
	int wanted, stop, running;
};

static void *ckpt_main(void *arg)
{
	struct sq_ckpt *c = arg;
	pthread_setname_np(pthread_self(), "cg-checkpoint");
	pthread_mutex_lock(&c->mu);
	for (;;) {
		while (!c->wanted && !c->stop)
			pthread_cond_wait(&c->cond, &c->mu);
		if (c->stop)
			break;
		c->wanted = 0;
		c->running = 1;
		pthread_mutex_unlock(&c->mu);
		int nlog = 0, nckpt = 0;
		int rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &nlog, &nckpt);
		if (rc != SQLITE_OK && rc != SQLITE_BUSY)
			CG_LOG_WARN("checkpoint: %s (retried after the next commits)", sqlite3_errstr(rc));
		pthread_mutex_lock(&c->mu);
		c->running = 0;
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

static int ckpt_hook(void *ud, sqlite3 *db, const char *name, int frames)
{
	struct sq_store *s = ud;
	struct sq_ckpt *c = s->ckpt;
	if (frames >= CKPT_INLINE_FRAMES) {
		sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		return SQLITE_OK;
	}
	if (frames >= CKPT_FRAMES) {
		pthread_mutex_lock(&c->mu);
		if (!c->running && !c->wanted) {
			c->wanted = 1;
			pthread_cond_signal(&c->cond);
		}
		pthread_mutex_unlock(&c->mu);
	}
	return SQLITE_OK;
}

void cg_sq_ckpt_stop(struct sq_store *s)
{
	struct sq_ckpt *c = s->ckpt;
	if (!c)
		return;
	sqlite3_wal_hook(s->db, NULL, NULL);
	pthread_mutex_lock(&c->mu);
	c->stop = 1;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->thread, NULL);
	sqlite3_close(c->db);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->mu);
	free(c);
	s->ckpt = NULL;
}

/* Starts the checkpointer; on any failure SQLite's auto-checkpoint stays in charge. */
void cg_sq_ckpt_start(struct sq_store *s)
{
	struct sq_ckpt *c = calloc(1, sizeof(*c));
	if (!c)
		return;
	if (sqlite3_open_v2(s->path, &c->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		sqlite3_close(c->db);
		free(c);
		return;
	}
	sqlite3_busy_timeout(c->db, 1000);
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cond, NULL);
	if (sqlite3_exec(c->db, "PRAGMA synchronous = FULL", NULL, NULL, NULL) != SQLITE_OK ||
	    pthread_create(&c->thread, NULL, ckpt_main, c) != 0) {
		sqlite3_close(c->db);
		pthread_cond_destroy(&c->cond);
		pthread_mutex_destroy(&c->mu);
		free(c);
		return;
	}
	s->ckpt = c;
	sqlite3_wal_hook(s->db, ckpt_hook, s); /* replaces the auto-checkpoint */
}
