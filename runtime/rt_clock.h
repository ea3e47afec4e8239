/*
 * rt_clock.h - the one clock of both daemons: monotonic time for deadlines and intervals, wall
 * time for records. A component that keeps time takes a `const rt_clock *` when it is created, so
 * a test can hand it a clock it advances by hand instead of sleeping (s2n's timer, curl's
 * TIME-KEEPING). The system clock is a process-wide constant; nothing here allocates.
 */
#ifndef RT_CLOCK_H
#define RT_CLOCK_H

#include <stdint.h>

typedef struct rt_clock {
    int64_t (*mono_ns)(void *ctx); /* CLOCK_MONOTONIC, nanoseconds; never goes back */
    int64_t (*wall_ns)(void *ctx); /* CLOCK_REALTIME, nanoseconds since the Unix epoch */
    void *ctx;
} rt_clock;

/* The real clocks. Never NULL; valid for the life of the process. */
const rt_clock *rt_clock_system(void);

static inline int64_t rt_clock_mono_ms(const rt_clock *c)
{
    return c->mono_ns(c->ctx) / 1000000;
}

static inline int64_t rt_clock_wall_s(const rt_clock *c)
{
    return c->wall_ns(c->ctx) / 1000000000;
}

#endif
