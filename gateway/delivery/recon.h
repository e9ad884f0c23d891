/* recon.h: Datadog is the truth: finding the case of a create whose answer was lost (searches under
 * index lag), and reading a case back before acting on an old record. Decisions on plain records;
 * the caller sends the requests and carries the verdicts out. */
#ifndef CG_RECON_H
#define CG_RECON_H

#include <stdint.h>

#include "ddanswer.h"
#include "ddclient.h"
#include "requests.h"
#include "store.h"

/* The searches of one reconciliation round, in order. */
enum cg_recon_phase { CG_RECON_MARKER = 0, CG_RECON_ATTR, CG_RECON_NEWEST, CG_RECON_DONE };

/* What a round knows of the create it looks for. */
struct cg_recon {
	const char *source, *key; /* for logs */
	const char *marker;       /* the create's marker */
	const char *attr;         /* the custom attribute that carries it (the case type has one), or NULL */
	const char *project_id;   /* the create's project (UUID); NULL: any */
	int64_t sent_ms;          /* when the create left: the search index lags behind it */
	uint64_t settle_ms;       /* datadog.search_settle */
};

/* The search to send for *phase, moved past those that do not apply (a new round when none is left). */
enum cg_req_kind cg_recon_search(int *phase, const struct cg_recon *r, int64_t now);

enum cg_recon_verdict {
	CG_RECON_FOUND,  /* *view is the case the create made */
	CG_RECON_NEXT,   /* *phase moved on: send cg_recon_search */
	CG_RECON_WAIT,   /* nowhere yet, and the index may lag: search again at *next_ms */
	CG_RECON_ABSENT, /* settled and nowhere: the create never made a case */
	CG_RECON_RETRY,  /* the search failed (transport, 5xx, 429): retry the event */
};

/* Reads a search's answer (why: the failure, for a refused search). *phase is reset for the next
 * round except on NEXT and RETRY. */
enum cg_recon_verdict cg_recon_answer(int *phase, const struct cg_recon *r, const struct cg_dd_result *res,
				      const char *why, int64_t now, struct cg_dd_case_view *view, int64_t *next_ms);

/* The case v is the one the marker names: c records it (open, confirmed now). create: the event's
 * own create made it (priority prio, created then or at started). */
void cg_recon_adopt(struct cg_store_case *c, const struct cg_dd_case_view *v, int create, int prio, int64_t started,
		    int64_t now);

/* 1 when c is a case casegate knows by id and has not confirmed for refresh_ms: read it back
 * before acting on it. */
int cg_refresh_due(const struct cg_store_case *c, int64_t now, uint64_t refresh_ms);

/*
 * Applies the answer to reading c back (Datadog's state wins): deleted, archived, closed or
 * reopened by a person. Returns what was found ("deleted", "archived", "closed", "reopened",
 * "unchanged", "unreadable"), or NULL when the read is to be retried. source, key: for logs;
 * why: the failure of an answer that tells nothing.
 */
const char *cg_refresh_apply(struct cg_store_case *c, const struct cg_dd_result *res, const char *source,
			     const char *key, const char *why, int64_t now);

#endif
