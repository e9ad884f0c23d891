/* store_pg.c: the store in PostgreSQL (libpq), shared by several replicas: open, close, the operations table. */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <uv.h>

#include "err.h"
#include "store_pg_int.h"

#define CG_LOG_COMPONENT "store-pg"
#include "log.h"

/*
 * Claims are leases, NOTIFY wakes the peers. The backend is spread over store_pg_*.c (see
 * store_pg_int.h): the connection and how statements run (conn), the schema and its migrations
 * (schema), the listener thread (listen) and the queries by subject (events, cases, dead, seen,
 * status).
 */
static const struct cg_store_ops pg_ops;

static void pg_close(struct cg_store *st)
{
	struct pg_store *s = pg(st);
	if (!s)
		return;
	if (s->thread_started) {
		atomic_store(&s->stop, 1);
		cg_pg_poke(s);
		uv_thread_join(&s->thread);
	}
	if (s->conn)
		PQfinish(s->conn);
	if (s->pipefd[0] >= 0)
		close(s->pipefd[0]);
	if (s->pipefd[1] >= 0)
		close(s->pipefd[1]);
	uv_mutex_destroy(&s->mu);
	if (s->conninfo) {
		OPENSSL_cleanse(s->conninfo, strlen(s->conninfo));
		free(s->conninfo);
	}
	free(s->name);
	free(s->holds);
	cg_pg_pend_drop(s);
	free(s->ids);
	free(s);
}

static const struct cg_store_ops pg_ops = {
	.name = "postgres",
	.close = pg_close,
	.begin = cg_pg_begin,
	.commit = cg_pg_commit,
	.rollback = cg_pg_rollback,
	.enqueue = cg_pg_enqueue,
	.claim = cg_pg_claim,
	.next_due_ms = cg_pg_next_due_ms,
	.event_step = cg_pg_event_step,
	.event_done = cg_pg_event_done,
	.source_stats = cg_pg_source_stats,
	.event_defer = cg_pg_event_defer,
	.note_put = cg_pg_note_put,
	.note_list = cg_pg_note_list,
	.hb_register = cg_pg_hb_register,
	.hb_heard = cg_pg_hb_heard,
	.hb_list = cg_pg_hb_list,
	.hb_raise = cg_pg_hb_raise,
	.hb_clear = cg_pg_hb_clear,
	.kv_lock = cg_pg_kv_lock,
	.kv_get = cg_pg_kv_get,
	.kv_put = cg_pg_kv_put,
	.kv_list = cg_pg_kv_list,
	.key_active = cg_pg_key_active,
	.event_retry = cg_pg_event_retry,
	.event_dead = cg_pg_event_dead,
	.case_get = cg_pg_case_get,
	.case_put = cg_pg_case_put,
	.case_find_by_key = cg_pg_case_find_by_key,
	.stats = cg_pg_stats,
	.dead_list = cg_pg_dead_list,
	.dead_get = cg_pg_dead_get,
	.dead_retry = cg_pg_dead_retry,
	.dead_drop = cg_pg_dead_drop,
	.seen = cg_pg_seen,
	.case_list_closed = cg_pg_case_list_closed,
	.case_mark_closed = cg_pg_case_mark_closed,
	.seen_get = cg_pg_seen_get,
	.fence = cg_pg_fence,
	.hold = cg_pg_hold,
	.lease_valid = cg_pg_lease_valid,
	.watch = cg_pg_watch,
	.fleet_size = cg_pg_fleet_size,
	.rl_publish = cg_pg_rl_publish,
	.rl_closed_until = cg_pg_rl_closed_until,
};

static char *default_name(void)
{
	char host[256] = "casegate";
	unsigned char rnd[4] = {0};
	gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		uint64_t t = uv_hrtime();
		memcpy(rnd, &t, sizeof(rnd));
	}
	char buf[320];
	snprintf(buf, sizeof(buf), "%s:%ld:%02x%02x%02x%02x", host, (long)getpid(), rnd[0], rnd[1], rnd[2], rnd[3]);
	return strdup(buf);
}

int cg_store_pg_open(const struct cg_store_pg_opts *o, struct cg_store **out, char *err, size_t errlen)
{
	struct pg_store *s = NULL;
	char scratch[1];
	int rc;

	if (!err || errlen == 0) {
		err = scratch;
		errlen = sizeof(scratch);
	}
	err[0] = '\0';
	if (!o || !o->dsn || !out) {
		snprintf(err, errlen, "no database DSN (store.dsn)");
		return CG_EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return CG_ENOMEM;
	s->base.ops = &pg_ops;
	s->pend_flush = cg_pg_flush;
	s->pend_drop = cg_pg_pend_drop;
	s->pipefd[0] = s->pipefd[1] = -1;
	if (uv_mutex_init(&s->mu) != 0) {
		free(s);
		return CG_ENOMEM;
	}
	atomic_init(&s->last_renew_mono, 0);
	atomic_init(&s->fleet, 1);
	atomic_init(&s->main_pid, 0);
	atomic_init(&s->stop, 0);
	s->lease_ms = o->lease_ms > 0 ? o->lease_ms : DEFAULT_LEASE_MS;
	s->conninfo = strdup(o->dsn);
	s->name = o->name ? strdup(o->name) : default_name();
	if (!s->conninfo || !s->name) {
		rc = CG_ENOMEM;
		goto fail;
	}
	s->conn = cg_pg_connect(s->conninfo, err, errlen);
	if (!s->conn) {
		rc = CG_EIO;
		goto fail;
	}
	atomic_store(&s->main_pid, PQbackendPID(s->conn));
	if ((rc = cg_pg_schema_open(s->conn, o->migrate, err, errlen)))
		goto fail;
	/* Claims of an earlier process under this name: it is gone, they are free again. */
	long ch = 0;
	if ((rc = cg_pg_q_changes(s, "release own claims",
			    "UPDATE events SET claimed_by = NULL, lease_until = 0 WHERE claimed_by = $1",
			    CG_ARGS(CG_ARG_TEXT(s->name)), &ch))) {
		snprintf(err, errlen, "%s", s->errmsg);
		goto fail;
	}
	if (ch > 0)
		CG_LOG_WARN("%ld event(s) claimed by an earlier run of %s are pending again", ch, s->name);
	if (pipe(s->pipefd) != 0 || fcntl(s->pipefd[0], F_SETFL, O_NONBLOCK) != 0 ||
	    fcntl(s->pipefd[1], F_SETFL, O_NONBLOCK) != 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		rc = CG_EIO;
		goto fail;
	}
	/* The claims made from now on count as renewed now. */
	atomic_store(&s->last_renew_mono, mono_ms());
	s->listen = o->listen;
	if (s->listen) {
		if (uv_thread_create(&s->thread, cg_pg_listener, s) != 0) {
			snprintf(err, errlen, "cannot start the listener thread");
			rc = CG_EIO;
			goto fail;
		}
		s->thread_started = 1;
	}
	/* The daemon says which replica it is; a tool (status, dlq) keeps its output clean. */
	if (o->listen)
		CG_LOG_INFO("PostgreSQL store open: replica %s, lease %" PRId64 " ms, schema version %d", s->name,
			    s->lease_ms, cg_store_pg_schema_version());
	else
		CG_LOG_DEBUG("PostgreSQL store open: schema version %d", cg_store_pg_schema_version());
	*out = &s->base;
	return 0;
fail:
	if (err[0])
		CG_LOG_ERR("open: %s", err);
	pg_close(&s->base);
	return rc;
}
