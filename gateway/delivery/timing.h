/* timing.h: the wall clock and the random numbers delivery's schedules run on. */
#ifndef CG_TIMING_H
#define CG_TIMING_H

#include <stdint.h>

/* Wall-clock time in ms since the epoch (what the store's schedule and Datadog's headers use). */
int64_t cg_timing_wall_ms(void);

/* A random 64-bit value for jitter (a clock-derived one when the system has none to give). */
uint64_t cg_timing_rnd64(void);

#endif
