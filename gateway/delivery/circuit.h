/* circuit.h: one circuit for the Case API: an outage (down, or credentials refused) holds the queue
 * and is probed at a capped backoff instead of every queued event running its own retries. */
#ifndef CG_CIRCUIT_H
#define CG_CIRCUIT_H

#include <stdint.h>

/* What one answer says about the API as a whole. */
enum cg_circuit_class {
	CG_CIRCUIT_ANSWERED = 0, /* an HTTP answer that is the request's own business (2xx, 4xx, 429, 408) */
	CG_CIRCUIT_DOWN,         /* transport error or 5xx: the API (or the way to it) is failing */
	CG_CIRCUIT_REFUSED,      /* 401/403: the keys do not work (revoked, rotated, missing scope) */
};

enum cg_circuit_cause { CG_CAUSE_NONE = 0, CG_CAUSE_UNAVAILABLE, CG_CAUSE_CREDENTIALS };

struct cg_circuit {
	int open;
	enum cg_circuit_cause cause;
	unsigned run;           /* DOWN answers in a row while closed */
	unsigned threshold;     /* run that opens the circuit (0: 5); one REFUSED answer is enough */
	unsigned failed_probes; /* probes that failed since it opened */
	int64_t opened_ms;
	int64_t next_probe_ms;  /* when the next probe may go (wall ms) */
	uint64_t base_ms, cap_ms; /* probe backoff: min(cap, base * 2^failed_probes), half of it jittered */
	char why[256];          /* the last failure, for logs, /readyz and `casegate status` */
};

enum cg_circuit_class cg_circuit_classify(int transport_error, long status);

void cg_circuit_init(struct cg_circuit *c, unsigned threshold, uint64_t base_ms, uint64_t cap_ms);

/*
 * Feeds one answer (probe: it was the probe request). why describes a failure ("HTTP 503:
 * Service Unavailable", "connection refused"); server_wait_s is the answer's Retry-After or
 * X-RateLimit-Reset (-1 when none): the next probe waits at least that long. rnd is any random
 * value (jitter). Returns +1 when the circuit opened, -1 when it closed, 0 when its state stayed.
 */
int cg_circuit_observe(struct cg_circuit *c, enum cg_circuit_class cls, int probe, const char *why,
		       long server_wait_s, int64_t now_ms, uint64_t rnd);

/* Opens the circuit at once (the first real request after an outage failed again). 1 when it
 * opened, 0 when it was open already. */
int cg_circuit_trip(struct cg_circuit *c, enum cg_circuit_class cls, const char *why, int64_t now_ms, uint64_t rnd);

/* Probe again at once (a reload brought new keys or settings): next_probe_ms = now_ms. */
void cg_circuit_probe_now(struct cg_circuit *c, int64_t now_ms);

const char *cg_circuit_cause_name(enum cg_circuit_cause cause);

#endif
