/* fuzzpump.h: what the servers' fuzz hooks share (cg_http_fuzz_feed, cg_lmtp_fuzz_feed): one
 * client's bytes pumped through a socketpair into a server connection on a private loop. */
#ifndef CG_FUZZPUMP_H
#define CG_FUZZPUMP_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct cg_fuzz_pump {
	uv_loop_t loop;
	int sv[2]; /* sv[0]: the server's end (set it to -1 once a handle owns it); sv[1]: the client's */
	/* Each turn, before the loop runs: answer what the handler held (may be NULL). */
	void (*before)(void *ud);
	/* Each turn, after the loop ran: close the server once its last connection went; returns 1
	 * once the server has closed. */
	int (*after)(void *ud);
	/* What the server wrote (may be NULL). */
	void (*output)(const char *p, size_t n, void *ud);
	void *ud;
};

/* Starts the loop and the socketpair (set the callbacks first). 0, or -1 with nothing left open. */
int cg_fuzz_pump_open(struct cg_fuzz_pump *p);

/* Writes data to the client's end in pieces of chunk bytes, then shuts its write side, while
 * running the loop and reading what the server answers. 0 once after() said the server closed,
 * -1 when it did not within 20000 turns (a hang). */
int cg_fuzz_pump_run(struct cg_fuzz_pump *p, const uint8_t *data, size_t len, size_t chunk);

/* Closes what is left of the socketpair and runs the loop out. 0, or -2 when a handle was left. */
int cg_fuzz_pump_close(struct cg_fuzz_pump *p);

#endif
