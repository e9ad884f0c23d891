/* store_pg_listen.c: the PostgreSQL store's listener thread (NOTIFY wake-ups, lease renewal, heartbeat,
 * rate-limit broadcast) and the members other threads call. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <uv.h>

#include "err.h"
#include "sbuf.h"
#include "store_pg_int.h"

#define CG_LOG_COMPONENT "store-pg"
#include "log.h"

void cg_pg_hold(struct cg_store *st, int64_t id, int64_t lease, int held)
{
	struct pg_store *s = pg(st);
	uv_mutex_lock(&s->mu);
	if (held) {
		if (s->nholds == s->capholds) {
			size_t ncap = s->capholds ? s->capholds * 2 : 64;
			struct held_claim *nh = realloc(s->holds, ncap * sizeof(*nh));
			if (!nh) {
				/* Unrenewed, the lease runs out and another replica retries the event. */
				uv_mutex_unlock(&s->mu);
				CG_LOG_ERR("out of memory: lease of event %" PRId64 " will not be renewed", id);
				return;
			}
			s->holds = nh;
			s->capholds = ncap;
		}
		s->holds[s->nholds++] = (struct held_claim){id, lease};
	} else {
		for (size_t i = 0; i < s->nholds; i++) {
			if (s->holds[i].id == id && s->holds[i].lease == lease) {
				s->holds[i] = s->holds[--s->nholds];
				break;
			}
		}
	}
	uv_mutex_unlock(&s->mu);
}

int cg_pg_lease_valid(struct cg_store *st, uint64_t since_mono_ms, uint64_t need_ms)
{
	struct pg_store *s = pg(st);
	uint64_t base = atomic_load(&s->last_renew_mono);
	if (since_mono_ms > base)
		base = since_mono_ms;
	return mono_ms() + need_ms < base + (uint64_t)s->lease_ms;
}

int cg_pg_watch(struct cg_store *st, void (*wake)(void *ud), void *ud)
{
	struct pg_store *s = pg(st);
	if (!s->listen)
		return CG_EINVAL;
	/* The listener calls wake with mu held: after this returns, no call is running. */
	uv_mutex_lock(&s->mu);
	s->wake = wake;
	s->wake_ud = ud;
	uv_mutex_unlock(&s->mu);
	return 0;
}

unsigned cg_pg_fleet_size(struct cg_store *st)
{
	return atomic_load(&pg(st)->fleet);
}

void cg_pg_poke(struct pg_store *s)
{
	if (s->pipefd[1] >= 0) {
		ssize_t w = write(s->pipefd[1], "x", 1);
		(void)w; /* a full pipe already holds a wake-up */
	}
}

/* The gate slot of name (made when new; the last slot is shared when all are used). Under mu. */
static unsigned rl_slot(struct pg_store *s, const char *name)
{
	for (unsigned i = 0; i < s->nrl; i++)
		if (strcmp(s->rl[i].name, name) == 0)
			return i;
	unsigned cap = sizeof(s->rl) / sizeof(s->rl[0]);
	if (s->nrl == cap)
		return cap - 1;
	unsigned i = s->nrl++;
	snprintf(s->rl[i].name, sizeof(s->rl[i].name), "%s", name);
	s->rl[i].until = s->rl[i].pending = 0;
	return i;
}

static void rl_heard(struct pg_store *s, const char *name, int64_t until_ms, int announce)
{
	uv_mutex_lock(&s->mu);
	unsigned i = rl_slot(s, name ? name : "");
	if (until_ms > s->rl[i].until)
		s->rl[i].until = until_ms;
	if (announce && until_ms > s->rl[i].pending)
		s->rl[i].pending = until_ms;
	uv_mutex_unlock(&s->mu);
}

void cg_pg_rl_publish(struct cg_store *st, const char *name, int64_t until_ms)
{
	struct pg_store *s = pg(st);
	rl_heard(s, name, until_ms, 1);
	cg_pg_poke(s);
}

int64_t cg_pg_rl_closed_until(struct cg_store *st, const char *name)
{
	struct pg_store *s = pg(st);
	int64_t until = 0;
	uv_mutex_lock(&s->mu);
	for (unsigned i = 0; i < s->nrl; i++)
		if (strcmp(s->rl[i].name, name ? name : "") == 0)
			until = s->rl[i].until;
	uv_mutex_unlock(&s->mu);
	return until;
}

/* ---- listener thread: NOTIFY wake-ups, lease renewal, heartbeat, rate-limit broadcast ---- */

static void call_wake(struct pg_store *s)
{
	uv_mutex_lock(&s->mu);
	if (s->wake)
		s->wake(s->wake_ud);
	uv_mutex_unlock(&s->mu);
}

/* Renews the leases of the claims still worked on, and this replica's heartbeat. */
static int renew(struct pg_store *s, PGconn *c)
{
	uint64_t start = mono_ms();
	struct cg_sbuf ids = {0}, toks = {0};
	int rc = 0;

	cg_sbuf_add(&ids, "{");
	cg_sbuf_add(&toks, "{");
	uv_mutex_lock(&s->mu);
	size_t n = s->nholds;
	for (size_t i = 0; i < n; i++) {
		cg_pg_buf_i64(&ids, s->holds[i].id, i == 0);
		cg_pg_buf_i64(&toks, s->holds[i].lease, i == 0);
	}
	uv_mutex_unlock(&s->mu);
	cg_sbuf_add(&ids, "}");
	cg_sbuf_add(&toks, "}");
	if (ids.oom || toks.oom) {
		rc = CG_ENOMEM;
		goto out;
	}
	if (n) {
		/* Only leases not yet expired: an expired one may belong to another replica now. */
		rc = cg_pg_lexec(s, c, "renew",
			   "WITH h AS (SELECT e.id FROM events e JOIN unnest($1::bigint[], $2::bigint[]) AS u(id, tok)"
			   " ON e.id = u.id AND e.claim_token = u.tok WHERE e.claimed_by = $3"
			   " AND e.lease_until >= cg_now_ms() FOR UPDATE OF e SKIP LOCKED)"
			   " UPDATE events SET lease_until = cg_now_ms() + $4::bigint FROM h WHERE events.id = h.id",
			   CG_ARGS(CG_ARG_TEXT(ids.p), CG_ARG_TEXT(toks.p), CG_ARG_TEXT(s->name), CG_ARG_I64(s->lease_ms)),
			   NULL);
		if (rc)
			goto out;
	}
	/* Live: a heartbeat within three of its own renewal periods. */
	rc = cg_pg_lexec(s, c, "heartbeat",
		   "INSERT INTO replicas (name, started_ms, heartbeat_ms, expires_ms)"
		   " VALUES ($1, cg_now_ms(), cg_now_ms(), cg_now_ms() + $2::bigint) ON CONFLICT (name)"
		   " DO UPDATE SET heartbeat_ms = EXCLUDED.heartbeat_ms, expires_ms = EXCLUDED.expires_ms",
		   CG_ARGS(CG_ARG_TEXT(s->name), CG_ARG_I64(3 * (s->lease_ms / 4) + 1000)), NULL);
	if (rc)
		goto out;
	PGresult *r = NULL;
	rc = cg_pg_lexec(s, c, "fleet", "SELECT count(*) FROM replicas WHERE name <> $1 AND expires_ms > cg_now_ms()",
		   CG_ARGS(CG_ARG_TEXT(s->name)), &r);
	if (rc)
		goto out;
	atomic_store(&s->fleet, 1 + (unsigned)cg_pg_get_i64(r, 0, 0));
	PQclear(r);
	atomic_store(&s->last_renew_mono, start);
out:
	free(ids.p);
	free(toks.p);
	return rc;
}

static PGconn *listener_connect(struct pg_store *s)
{
	char err[512];
	PGconn *c = cg_pg_connect(s->conninfo, err, sizeof(err));
	if (!c) {
		CG_LOG_DEBUG("listener: %s", err);
		return NULL;
	}
	if (cg_pg_lexec(s, c, "listen", "LISTEN " CHANNEL_WORK, NULL, 0, NULL) ||
	    cg_pg_lexec(s, c, "listen", "LISTEN " CHANNEL_RL, NULL, 0, NULL) ||
	    cg_pg_lexec(s, c, "prune", "DELETE FROM replicas WHERE expires_ms < cg_now_ms() - 86400000", NULL, 0, NULL)) {
		PQfinish(c);
		return NULL;
	}
	return c;
}

void cg_pg_listener(void *arg)
{
	struct pg_store *s = arg;
	PGconn *c = NULL;
	uint64_t period = (uint64_t)s->lease_ms / 4, next_renew = 0, next_connect = 0;
	unsigned backoff = 0;
	int was_down = 0;

	if (period < 50)
		period = 50;
	while (!atomic_load(&s->stop)) {
		uint64_t now = mono_ms();
		if (!c && now >= next_connect) {
			c = listener_connect(s);
			if (c) {
				if (was_down)
					CG_LOG_INFO("listener reconnected");
				was_down = 0;
				backoff = 0;
				next_renew = 0;
				/* Work may have been queued while we could not hear about it. */
				call_wake(s);
			} else {
				if (!was_down)
					CG_LOG_WARN("listener: database unreachable; retrying with backoff");
				was_down = 1;
				backoff = backoff ? backoff * 2 : BACKOFF_MIN_MS;
				if (backoff > BACKOFF_MAX_MS)
					backoff = BACKOFF_MAX_MS;
				next_connect = now + backoff;
			}
		}
		if (c && now >= next_renew) {
			if (renew(s, c) != 0 && PQstatus(c) != CONNECTION_OK) {
				PQfinish(c);
				c = NULL;
				continue;
			}
			next_renew = now + period;
		}
		if (c) {
			/* "until name": the window of bucket name is closed for the fleet until then. */
			char msgs[8][96];
			unsigned nmsg = 0;
			uv_mutex_lock(&s->mu);
			for (unsigned i = 0; i < s->nrl && nmsg < 8; i++) {
				if (!s->rl[i].pending)
					continue;
				snprintf(msgs[nmsg++], sizeof(msgs[0]), "%lld %s", (long long)s->rl[i].pending, s->rl[i].name);
				s->rl[i].pending = 0;
			}
			uv_mutex_unlock(&s->mu);
			for (unsigned i = 0; i < nmsg; i++)
				cg_pg_lexec(s, c, "rate-limit notify", "SELECT pg_notify('" CHANNEL_RL "', $1)",
				      CG_ARGS(CG_ARG_TEXT(msgs[i])), NULL);
		}
		now = mono_ms();
		uint64_t until = c ? next_renew : next_connect;
		int timeout = until > now ? (int)(until - now) : 0;
		struct pollfd p[2] = {{.fd = s->pipefd[0], .events = POLLIN}, {.fd = c ? PQsocket(c) : -1, .events = POLLIN}};
		int pr = poll(p, 2, timeout);
		if (pr < 0 && errno != EINTR)
			CG_LOG_WARN("listener poll: %s", strerror(errno));
		if (p[0].revents & POLLIN) {
			char drain[64];
			while (read(s->pipefd[0], drain, sizeof(drain)) > 0)
				;
		}
		if (c && (p[1].revents & (POLLIN | POLLERR | POLLHUP))) {
			if (!PQconsumeInput(c)) {
				CG_LOG_WARN("listener connection lost: %s", PQerrorMessage(c));
				PQfinish(c);
				c = NULL;
				was_down = 1;
				continue;
			}
			PGnotify *nt;
			int wake = 0;
			int self = atomic_load(&s->main_pid);
			while ((nt = PQnotifies(c)) != NULL) {
				if (strcmp(nt->relname, CHANNEL_RL) == 0) {
					char *rest = NULL;
					int64_t until_ms = strtoll(nt->extra, &rest, 10);
					rl_heard(s, rest && *rest == ' ' ? rest + 1 : "", until_ms, 0);
				} else if (nt->be_pid != self) {
					wake = 1;
				}
				PQfreemem(nt);
			}
			if (wake)
				call_wake(s);
		}
	}
	if (c) {
		cg_pg_lexec(s, c, "leave", "DELETE FROM replicas WHERE name = $1", CG_ARGS(CG_ARG_TEXT(s->name)), NULL);
		PQfinish(c);
	}
}
