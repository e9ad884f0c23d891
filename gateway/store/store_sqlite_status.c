/* store_sqlite_status.c: what the SQLite store tells `casegate status`, and its space probe. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "err.h"
#include "store_sqlite_int.h"

static int item_by_prio(const struct cg_store_row *r, void *item)
{
	int64_t *v = item;
	for (int p = 1; p <= 5; p++)
		v[p] = r->i64(r, p - 1);
	return 0;
}

/*
 * The queue depth by priority is a count over the whole queue, not SQLite's COUNT(*) shortcut:
 * past BY_PRIO_SMALL events it is counted again at most every BY_PRIO_EVERY_MS (stats run every
 * second) and the last count is given meanwhile, so a million queued events cost the store
 * thread a few percent, not a tenth.
 */
#define BY_PRIO_SMALL 100000
#define BY_PRIO_EVERY_MS 10000

static int by_priority(struct sq_store *s, struct cg_store_stats *r)
{
	int64_t now = cg_store_wall_ms();
	int fresh = s->by_prio_ms && now >= s->by_prio_ms && now - s->by_prio_ms < BY_PRIO_EVERY_MS;
	if (r->pending <= BY_PRIO_SMALL || !fresh) {
		const struct cg_store_rec rec = {sizeof(s->by_prio), item_by_prio, NULL};
		int64_t v[6] = {0};
		int rc = cg_sq_row1(s, S_ST_BY_PRIO, "queue depth by priority", NULL, 0, &rec, v);
		if (rc)
			return rc;
		v[0] = r->pending - v[1] - v[2] - v[3] - v[4] - v[5];
		memcpy(s->by_prio, v, sizeof(v));
		s->by_prio_ms = now;
	}
	memcpy(r->pending_by_priority, s->by_prio, sizeof(s->by_prio));
	return 0;
}

int cg_sq_stats(struct cg_store *st, struct cg_store_stats *out)
{
	struct sq_store *s = sq(st);
	struct cg_store_stats r = {0};
	int64_t pages = 0, psize = 0;
	int is_null = 0, rc;

	if ((rc = cg_sq_query_i64(s, S_ST_COUNT, &r.pending, NULL)) || (rc = by_priority(s, &r)) ||
	    (rc = cg_sq_query_i64(s, S_ST_INFLIGHT, &r.inflight, NULL)) ||
	    (rc = cg_sq_query_i64(s, S_ST_OLDEST, &r.oldest_ms, &is_null)) || (rc = cg_sq_query_i64(s, S_ST_DEAD, &r.dead, NULL)) ||
	    (rc = cg_sq_query_i64(s, S_ST_CASES, &r.cases, NULL)) || (rc = cg_sq_query_i64(s, S_ST_PAGES, &pages, NULL)) ||
	    (rc = cg_sq_query_i64(s, S_ST_PSIZE, &psize, NULL)))
		return rc;
	if (is_null)
		r.oldest_ms = 0;
	/* The pages in use, not the file: SQLite never gives the file back, but the pages of
	 * delivered events are free for new ones, so a store over queue.store_max_bytes comes back
	 * under it once its backlog is delivered. */
	r.bytes = (uint64_t)(pages > 0 ? pages : 0) * (uint64_t)psize;
	/* The WAL holds committed pages not yet checkpointed: part of what the disk holds. */
	char wal[4096];
	struct stat sb;
	if (snprintf(wal, sizeof(wal), "%s-wal", s->path) < (int)sizeof(wal) && stat(wal, &sb) == 0)
		r.bytes += (uint64_t)sb.st_size;
	*out = r;
	return 0;
}

int cg_sq_source_stats(struct cg_store *st, struct cg_store_source_stat **out, size_t *nout)
{
	void *items = NULL;
	int rc = cg_sq_rows(sq(st), S_SOURCE_STATS, "source stats", NULL, 0, &cg_store_rec_source_stat, 0, &items, nout);
	if (rc == 0)
		*out = items;
	return rc;
}

int cg_sq_note_put(struct cg_store *st, const char *name, const char *value)
{
	if (!value)
		return cg_sq_exec(sq(st), S_NOTE_DEL, "note", CG_ARGS(CG_ARG_TEXT(name)), NULL);
	return cg_sq_exec(sq(st), S_NOTE_PUT, "note",
			 CG_ARGS(CG_ARG_TEXT(name), CG_ARG_TEXT(value), CG_ARG_I64(cg_store_wall_ms())), NULL);
}

int cg_sq_note_list(struct cg_store *st, struct cg_store_note **out, size_t *nout)
{
	void *items = NULL;
	int rc = cg_sq_rows(sq(st), S_NOTE_LIST, "notes", NULL, 0, &cg_store_rec_note, 0, &items, nout);
	if (rc == 0)
		*out = items;
	return rc;
}

int cg_sq_probe(struct cg_store *st)
{
	struct sq_store *s = sq(st);
	int rc = cg_sq_sp_begin(s);
	if (rc)
		return rc;
	rc = cg_sq_exec(s, S_PROBE_INS, "probe insert", NULL, 0, NULL);
	if (rc == 0)
		rc = cg_sq_exec(s, S_PROBE_DEL, "probe delete", NULL, 0, NULL);
	return cg_sq_sp_end(s, rc);
}
