/*
 * rt_tick.h - a background thread that calls fn(arg) every interval until it is stopped: the
 * connection reaper (rt_conns, both daemons), the connector's key-cache reaper (cn_keycache) and
 * failover prober (cn_rhttp). One copy of the wait on a CLOCK_MONOTONIC condition variable and of
 * the wake-up and join at stop.
 *
 * fn runs on the tick's thread, never after rt_tick_stop returns and never twice at once; it
 * takes its own locks. A stop wakes the thread at once, but waits for a call of fn in progress.
 */
#ifndef RT_TICK_H
#define RT_TICK_H

#include "ak_err.h"

typedef struct rt_tick rt_tick;

/* Start the thread (the first call after interval_ms, 1..60000). AK_ERR_ARG, AK_ERR_NOMEM,
 * AK_ERR_INTERNAL (no thread); *out NULL on failure. */
AK_WUR ak_err rt_tick_start(rt_tick **out, unsigned interval_ms, void (*fn)(void *arg), void *arg);

/* Wake, join and free the thread; NULL allowed. */
void rt_tick_stop(rt_tick *t);

#endif
