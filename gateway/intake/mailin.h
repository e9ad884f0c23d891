/* mailin.h: e-mail intake: a parsed mail becomes durable events, threaded comments, or a counted drop. */
#ifndef CG_MAILIN_H
#define CG_MAILIN_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "builder.h"
#include "config.h"
#include "store.h"
#include "storm.h"

struct cg_intake;

enum cg_mail_outcome {
	CG_MAIL_OUT_EVENTS = 0, /* alert events queued */
	CG_MAIL_OUT_COMMENT,    /* a reply: one comment queued for an existing case */
	CG_MAIL_OUT_IGNORED,    /* noise or nothing to do: reason_code says why */
	CG_MAIL_OUT_DUPLICATE,  /* this Message-ID was already taken for this source (an MTA retry) */
};

/* What one mail means for one source; built on the loop (or the CLI), stored on the store thread. */
struct cg_mail_plan {
	char *source;
	char *message_id;        /* may be NULL */
	char **refs;             /* In-Reply-To, then References newest first */
	size_t nrefs;
	char case_key[64];       /* "[PROJ-123]" in the subject, without brackets; "" when none */
	int may_thread;          /* a reply may become a comment (no rule matched, not machine mail,
				  * from a sender the source trusts with replies) */
	int reply_to_closed;     /* the source lets replies comment on closed cases */
	char *comment_payload;   /* engine payload for a threaded comment */
	struct cg_store_event *evs; /* alert events (dedup keys namespaced) */
	size_t nevs;
	int heartbeat;           /* the source has a heartbeat: its alerts are recorded as heard */
	struct cg_storm_rule storm; /* the source's storm folding (max_new 0: none) */
	struct cg_storm_fold fold;  /* filled by cg_mail_plan_store: what the storm folding decided */
	char reason_code[24];    /* why nothing is queued when there are no events */
	char reason[256];
	/* Filled by cg_mail_plan_store. */
	enum cg_mail_outcome outcome;
	char *target;            /* dedup key of the case a comment went to */
	size_t queued;           /* events queued */
};

/*
 * Maps a parsed mail (cg_mail_parse, plus "envelope_from" when known) for src. b is the
 * source's builder; authserv_id is mail.authserv_id (NULL: not configured). Alerts are taken
 * only from the rules' alert_senders (when given), replies only from reply_senders (else
 * alert_senders; neither: no replies), each checked on From, the envelope and, with
 * authserv_id, the MTA's Authentication-Results (mailtrust.h). Returns 0, CG_ENOMEM, or
 * CG_EINVAL (err says why; the mail cannot be used). A mail that is noise, or from a sender
 * the source does not trust, gives a plan with no events and reason_code set.
 */
int cg_mail_plan_build(const struct cg_source_config *src, const struct cg_builder *b, const cJSON *mail,
		       const char *authserv_id, int64_t now, struct cg_mail_plan **out, char *err, size_t errlen);

/*
 * On the store thread, inside a transaction: drops a Message-ID seen before for the
 * source, threads a reply (In-Reply-To/References recorded as "mailref:<source>:<id>" in
 * seen(), else the case key in the subject) into a comment event, else queues the alert
 * events, and records this mail's Message-ID for later replies. A reply lands only on a case
 * of its own source (dedup key "<source>:..."), and on a closed one only with
 * reply_to_closed; a reply to a case it may not touch is ignored (reason_code reply_source or
 * reply_closed). Safe to run again after a rollback.
 */
int cg_mail_plan_store(struct cg_store *st, struct cg_mail_plan *p, int64_t now);

void cg_mail_plan_free(struct cg_mail_plan *p);

/* The daemon's listener: starts it when cfg->mail.enabled (else does nothing). */
int cg_mailin_start(struct cg_intake *in, char *err, size_t errlen);
/* Stops it; on_closed runs when every connection is gone (at once when none was started). */
void cg_mailin_stop(struct cg_intake *in, void (*on_closed)(void *ud), void *ud);

/*
 * Pipe mode (`casegate mail`): maps raw for the source and queues the result directly in
 * the store. sender is the envelope sender (--sender; NULL when unknown). Returns a sysexits
 * code: 0 done (also for ignored mail), 65 (EX_DATAERR) not a message or more MIME parts than
 * mail.max_parts, 75 (EX_TEMPFAIL) no such email source, a source the config cannot build,
 * the store busy or failing: the MTA keeps the mail and tries again. msg receives one line for stderr.
 */
int cg_mailin_pipe(const struct cg_config *cfg, const char *source, const char *raw, size_t len, const char *sender,
		   char *msg, size_t msglen);

#endif
