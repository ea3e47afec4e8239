/* rt_clock.c - the system clock behind rt_clock (see rt_clock.h). */
#include "rt_clock.h"

#include <time.h>

static int64_t read_clock(clockid_t id)
{
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0)
        return 0; /* cannot fail for these two clocks on Linux */
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t sys_mono_ns(void *ctx)
{
    (void)ctx;
    return read_clock(CLOCK_MONOTONIC);
}

static int64_t sys_wall_ns(void *ctx)
{
    (void)ctx;
    return read_clock(CLOCK_REALTIME);
}

static const rt_clock k_system = {sys_mono_ns, sys_wall_ns, 0};

const rt_clock *rt_clock_system(void)
{
    return &k_system;
}
