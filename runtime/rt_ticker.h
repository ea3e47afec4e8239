/*
 * rt_ticker.h - one background thread that calls fn(ctx) every interval_ms until stopped: the
 * periodic work of both daemons (the connector's signer health checks, readiness probe, key-cache
 * reaper and failover prober; rt_conns' header-deadline reaper; the key server's connection
 * reaper), written once.
 *
 * The thread sleeps a whole interval on the monotonic clock (a spurious wake-up does not shorten
 * it), then runs fn without any lock of this module held; fn may take as long as it needs (the
 * next interval starts when it returns). rt_ticker_stop() wakes the sleeping thread and joins it:
 * when it returns, fn is not running and will not run again (a run in progress is waited for).
 *
 * Ownership: rt_ticker_start() returns a ticker freed by rt_ticker_stop() (NULL allowed).
 * Limits: interval_ms 1..RT_TICKER_MAX_MS. Thread safety: start and stop from one thread; stop
 * must not be called from fn.
 */
#ifndef RT_TICKER_H
#define RT_TICKER_H

#include "ak_err.h"

#define RT_TICKER_MAX_MS (24u * 3600u * 1000u)

typedef struct rt_ticker rt_ticker;

/* AK_ERR_ARG for a bad interval or a NULL fn, AK_ERR_NOMEM, AK_ERR_INTERNAL (no thread). */
AK_WUR ak_err rt_ticker_start(rt_ticker **out, unsigned interval_ms, void (*fn)(void *ctx),
                              void *ctx);
void rt_ticker_stop(rt_ticker *t);

#endif
