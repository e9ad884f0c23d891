/* store_sqlite.c: the durable store in one SQLite file (WAL, synchronous=FULL): open, close, the operations table. */
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "err.h"
#include "fsdir.h"
#include "store_sqlite_int.h"

#define CG_LOG_COMPONENT "store"
#include "log.h"

/*
 * The backend is spread over store_sqlite_*.c (see store_sqlite_int.h): the statements and how
 * they run (stmt), the schema and its migrations (schema), background checkpoints (ckpt) and the
 * queries by subject (events, cases, dead, seen, status).
 */
static const struct cg_store_ops sq_ops;

static void sq_close(struct cg_store *st)
{
	struct sq_store *s = sq(st);
	if (!s)
		return;
	cg_sq_ckpt_stop(s);
	cg_sq_stmts_close(s);
	if (s->db) {
		if (!sqlite3_get_autocommit(s->db))
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		int rc = sqlite3_close(s->db);
		if (rc != SQLITE_OK)
			CG_LOG_ERR("close %s: %s", s->path, sqlite3_errstr(rc));
	}
	free(s->path);
	free(s);
}

static const struct cg_store_ops sq_ops = {
	.name = "sqlite",
	.close = sq_close,
	.begin = cg_sq_begin,
	.commit = cg_sq_commit,
	.set_relaxed = cg_sq_set_relaxed,
	.rollback = cg_sq_rollback,
	.enqueue = cg_sq_enqueue,
	.claim = cg_sq_claim,
	.next_due_ms = cg_sq_next_due_ms,
	.event_step = cg_sq_event_step,
	.event_done = cg_sq_event_done,
	.event_retry = cg_sq_event_retry,
	.event_dead = cg_sq_event_dead,
	.case_get = cg_sq_case_get,
	.case_put = cg_sq_case_put,
	.case_find_by_key = cg_sq_case_find_by_key,
	.stats = cg_sq_stats,
	.dead_list = cg_sq_dead_list,
	.dead_get = cg_sq_dead_get,
	.dead_retry = cg_sq_dead_retry,
	.dead_drop = cg_sq_dead_drop,
	.seen = cg_sq_seen,
	.probe = cg_sq_probe,
	.case_list_closed = cg_sq_case_list_closed,
	.case_mark_closed = cg_sq_case_mark_closed,
	.seen_get = cg_sq_seen_get,
	.source_stats = cg_sq_source_stats,
	.event_defer = cg_sq_event_defer,
	.note_put = cg_sq_note_put,
	.note_list = cg_sq_note_list,
	.hb_register = cg_sq_hb_register,
	.hb_heard = cg_sq_hb_heard,
	.hb_list = cg_sq_hb_list,
	.hb_raise = cg_sq_hb_raise,
	.hb_clear = cg_sq_hb_clear,
	.kv_lock = cg_sq_kv_lock,
	.kv_get = cg_sq_kv_get,
	.kv_put = cg_sq_kv_put,
	.kv_list = cg_sq_kv_list,
	.key_active = cg_sq_key_active,
};

/* A store for dir/casegate.db, not yet open. */
static int sq_new(const char *dir, struct sq_store **out)
{
	struct sq_store *s = calloc(1, sizeof(*s));
	if (!s)
		return CG_ENOMEM;
	s->base.ops = &sq_ops;
	size_t plen = strlen(dir) + sizeof("/casegate.db");
	s->path = malloc(plen);
	if (!s->path) {
		free(s);
		return CG_ENOMEM;
	}
	snprintf(s->path, plen, "%s/casegate.db", dir);
	*out = s;
	return 0;
}

/* Opens s's file (flags of sqlite3_open_v2). */
static int sq_connect(struct sq_store *s, int flags, char *err, size_t errlen)
{
	int rc = sqlite3_open_v2(s->path, &s->db, flags, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", s->path, s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		return cg_sq_map(rc);
	}
	sqlite3_extended_result_codes(s->db, 1);
	/* A second process (the dlq CLI) may hold the write lock briefly. */
	sqlite3_busy_timeout(s->db, 5000);
	return 0;
}

/*
 * create: the daemon's open: creates and migrates the file, makes what a previous process left
 * in flight pending again, checkpoints in the background. 0: a tool's open of an existing store
 * next to a running daemon: no creation, no migration, nothing in flight touched.
 */
static int sq_open(const char *dir, int create, struct cg_store **out, char *err, size_t errlen)
{
	struct sq_store *s = NULL;
	char scratch[1];
	struct stat sb;
	int rc;

	if (!err || errlen == 0) {
		err = scratch;
		errlen = sizeof(scratch);
	}
	err[0] = '\0';
	if (!dir || !out) {
		snprintf(err, errlen, "no store directory");
		return CG_EINVAL;
	}
	if (create && cg_mkdir_p(dir) != 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return CG_EIO;
	}
	if ((rc = sq_new(dir, &s)))
		return rc;
	if (!create && stat(s->path, &sb) != 0) {
		snprintf(err, errlen, "%s: no store (has casegate run with this state_dir?)", s->path);
		rc = CG_ENOENT;
		goto fail;
	}
	if ((rc = sq_connect(s, SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0), err, errlen)) ||
	    (rc = create ? cg_sq_schema_create(s, err, errlen) : cg_sq_schema_check(s, err, errlen)))
		goto fail;
	if (create)
		cg_sq_ckpt_start(s);
	*out = &s->base;
	return 0;
fail:
	/* A tool's caller decides what a missing store means (the CLI then creates one). */
	if (create && err[0])
		CG_LOG_ERR("open: %s", err);
	sq_close(&s->base);
	return rc;
}

int cg_store_sqlite_open(const char *dir, struct cg_store **out, char *err, size_t errlen)
{
	return sq_open(dir, 1, out, err, errlen);
}

int cg_store_sqlite_open_existing(const char *dir, struct cg_store **out, char *err, size_t errlen)
{
	return sq_open(dir, 0, out, err, errlen);
}

static struct sq_store *as_sqlite(struct cg_store *st)
{
	return st && st->ops == &sq_ops ? sq(st) : NULL;
}

const char *cg_store_sqlite_errmsg(struct cg_store *st)
{
	struct sq_store *s = as_sqlite(st);
	if (!s)
		return "not a sqlite store";
	return s->errmsg;
}

int cg_store_sqlite_set_max_pages(struct cg_store *st, int64_t pages, int64_t *out)
{
	struct sq_store *s = as_sqlite(st);
	sqlite3_stmt *stmt = NULL;
	char sql[64];
	int rc;
	if (!s || pages < 0)
		return CG_EINVAL;
	snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %" PRId64, pages);
	rc = sqlite3_prepare_v2(s->db, sql, -1, &stmt, NULL);
	if (rc != SQLITE_OK)
		return cg_sq_fail(s, rc, "max_page_count");
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW && out)
		*out = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : cg_sq_fail(s, rc, "max_page_count");
}
