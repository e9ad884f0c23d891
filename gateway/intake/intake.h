/* intake.h: the intake part as the daemon sees it: webhooks and mail in, durable events out. */
#ifndef CG_INTAKE_H
#define CG_INTAKE_H

#include <stddef.h>
#include <uv.h>

#include "builder.h"
#include "builders.h"
#include "config.h"
#include "guard.h"
#include "http.h"
#include "metrics.h"
#include "store.h"
#include "storeq.h"
#include "indexer.h"
#include "journal.h"

struct cg_intake;

/* What intake needs from the daemon; nothing else of it. */
struct cg_intake_deps {
	uv_loop_t *loop;
	struct cg_storeq *q;
	struct cg_metrics *metrics;
	struct cg_guard *guard;          /* credentials, signatures, SNS certificates */
	/* The intake journal (SQLite store): webhooks are answered once journaled and indexed into
	 * the store by the indexer. All NULL: webhooks are answered once committed in the store. */
	struct cg_journal *journal;
	struct cg_journalq *journalq;
	struct cg_indexer *indexer;
	void (*committed)(void *ud);     /* events were stored: delivery may start */
	void *ud;
};

/*
 * Takes cfg and builders (one per source, cg_builders_create) as the running configuration;
 * they are freed by cg_intake_reload (once no intake work reads them) or cg_intake_destroy.
 * 0 or CG_ENOMEM (cfg and builders stay the caller's).
 */
int cg_intake_create(const struct cg_intake_deps *deps, struct cg_config *cfg, struct cg_builder **builders,
		     struct cg_intake **out);

/* The running configuration (valid until the next reload). */
const struct cg_config *cg_intake_config(const struct cg_intake *in);

/* Swaps in a new configuration (taken, as at create); work in flight keeps the old one alive. 0,
 * or CG_ENOMEM (or CG_EINVAL: a heartbeat's case could not be drafted, logged): nothing changed
 * and cfg/builders stay the caller's. */
int cg_intake_reload(struct cg_intake *in, struct cg_config *cfg, struct cg_builder **builders);

/* Starts the mail listener (`mail.listen`); 0 when there is none to start. */
int cg_intake_mail_start(struct cg_intake *in, char *err, size_t errlen);

/*
 * A request under /hooks/: /hooks/<name>[/] or /hooks/<name>/<token>[/] is answered 202 once
 * its events are durable, or with the error; other paths under /hooks/ get 404. Returns 1
 * (the request is intake's and answered, now or later), or 0 for a path outside /hooks/.
 * The caller has already resolved the client address (cg_guard_client_addr).
 */
int cg_intake_handle(struct cg_intake *in, struct cg_http_request *req);
/* The `100 Continue` check of a request (as cg_http_continue_fn, ud the intake): credentials
 * are checked before the body is sent. */
int cg_intake_continue(struct cg_http_request *req, void *ud);

/* The store's statistics (the daemon refreshes them every second); down: it did not answer. */
void cg_intake_store_stats(struct cg_intake *in, const struct cg_store_stats *st, int down);
/* Why intake would refuse alerts now (shutting down, store full, unreachable or over its size
 * limit), or NULL when it takes them; and whether the last store write found it full. */
const char *cg_intake_not_ready(const struct cg_intake *in);
int cg_intake_store_full(const struct cg_intake *in);

/* Every second: metrics, and while the store is full a probe for space. */
void cg_intake_tick(struct cg_intake *in);
/* The daemon's heartbeat timer (every second): sources' deadlines checked in the store, a
 * "went silent" event raised or resolved once per silence (heartbeat.h). Nothing while stopping. */
void cg_intake_heartbeat_tick(struct cg_intake *in);

/* Takes no more work; on_closed runs when the mail listener has closed (at once without one). */
void cg_intake_stop(struct cg_intake *in, void (*on_closed)(void *ud), void *ud);
/* done runs (on the loop) once no intake work is running any more: at once when none is. */
void cg_intake_when_idle(struct cg_intake *in, void (*done)(void *ud), void *ud);
/* Frees the running configuration too. Accepts NULL. */
void cg_intake_destroy(struct cg_intake *in);

#endif
