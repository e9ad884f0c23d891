/* circuit.c: the Case API circuit: when to hold the queue, when to probe, when to resume. */
#include "circuit.h"

#include <stdio.h>
#include <string.h>

#define DEFAULT_THRESHOLD 10u
#define MAX_SERVER_WAIT_S 3600L

enum cg_circuit_class cg_circuit_classify(int transport_error, long status)
{
	if (transport_error)
		return CG_CIRCUIT_DOWN;
	if (status == 401 || status == 403)
		return CG_CIRCUIT_REFUSED;
	/* 5xx says the service is failing; 501/505 say the request itself cannot be served (ours to
	 * fix, and no wait helps) but they are never Datadog's answer to a valid Case API call. */
	if (status >= 500 && status <= 599)
		return CG_CIRCUIT_DOWN;
	return CG_CIRCUIT_ANSWERED;
}

void cg_circuit_init(struct cg_circuit *c, unsigned threshold, uint64_t base_ms, uint64_t cap_ms)
{
	memset(c, 0, sizeof(*c));
	c->threshold = threshold ? threshold : DEFAULT_THRESHOLD;
	c->base_ms = base_ms ? base_ms : 1000;
	c->cap_ms = cap_ms >= c->base_ms ? cap_ms : c->base_ms;
}

/* Equal jitter: half the delay fixed, half uniform, so probes never bunch at zero. */
static uint64_t probe_delay(const struct cg_circuit *c, uint64_t rnd)
{
	unsigned k = c->failed_probes;
	uint64_t d = c->cap_ms;
	if (k < 63 && c->base_ms <= (c->cap_ms >> k))
		d = c->base_ms << k;
	uint64_t half = d / 2;
	return half + (half ? rnd % (half + 1) : 0);
}

static void schedule(struct cg_circuit *c, long server_wait_s, int64_t now_ms, uint64_t rnd)
{
	uint64_t d = probe_delay(c, rnd);
	if (server_wait_s > 0) {
		long s = server_wait_s > MAX_SERVER_WAIT_S ? MAX_SERVER_WAIT_S : server_wait_s;
		if ((uint64_t)s * 1000 > d)
			d = (uint64_t)s * 1000;
	}
	c->next_probe_ms = now_ms + (int64_t)d;
}

int cg_circuit_observe(struct cg_circuit *c, enum cg_circuit_class cls, int probe, const char *why,
		       long server_wait_s, int64_t now_ms, uint64_t rnd)
{
	if (cls == CG_CIRCUIT_ANSWERED) {
		c->run = 0;
		if (!c->open)
			return 0;
		/* Any answer of its own from the API (a probe's or one sent before the circuit opened)
		 * says the API and the keys work again. */
		c->open = 0;
		c->cause = CG_CAUSE_NONE;
		c->failed_probes = 0;
		return -1;
	}
	snprintf(c->why, sizeof(c->why), "%s", why ? why : "");
	enum cg_circuit_cause cause = cls == CG_CIRCUIT_REFUSED ? CG_CAUSE_CREDENTIALS : CG_CAUSE_UNAVAILABLE;
	if (c->open) {
		c->cause = cause;
		if (probe) {
			c->failed_probes++;
			schedule(c, server_wait_s, now_ms, rnd);
		}
		return 0;
	}
	c->run++;
	if (cls == CG_CIRCUIT_DOWN && c->run < c->threshold)
		return 0;
	c->open = 1;
	c->cause = cause;
	c->opened_ms = now_ms;
	c->failed_probes = 0;
	schedule(c, server_wait_s, now_ms, rnd);
	return 1;
}

int cg_circuit_trip(struct cg_circuit *c, enum cg_circuit_class cls, const char *why, int64_t now_ms, uint64_t rnd)
{
	if (c->open || cls == CG_CIRCUIT_ANSWERED)
		return 0;
	snprintf(c->why, sizeof(c->why), "%s", why ? why : "");
	c->open = 1;
	c->cause = cls == CG_CIRCUIT_REFUSED ? CG_CAUSE_CREDENTIALS : CG_CAUSE_UNAVAILABLE;
	c->opened_ms = now_ms;
	c->failed_probes = 0;
	c->run = 0;
	schedule(c, -1, now_ms, rnd);
	return 1;
}

void cg_circuit_probe_now(struct cg_circuit *c, int64_t now_ms)
{
	if (c->open) {
		c->next_probe_ms = now_ms;
		c->failed_probes = 0;
	}
}

const char *cg_circuit_cause_name(enum cg_circuit_cause cause)
{
	switch (cause) {
	case CG_CAUSE_UNAVAILABLE: return "unavailable";
	case CG_CAUSE_CREDENTIALS: return "credentials";
	case CG_CAUSE_NONE: break;
	}
	return "none";
}
