/* test_rt_tick.c - rt_tick: the function is called again and again on the tick's thread, never
 * after rt_tick_stop returns (a stop wakes a long interval at once); bad arguments refused. No
 * timing asserts beyond generous bounds: counts are polled for up to 10 s. */
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "ak_test.h"
#include "rt_tick.h"

static void count(void *arg)
{
    atomic_fetch_add((_Atomic int *)arg, 1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(void)
{
    _Atomic int n = 0;
    rt_tick *t = NULL;
    CHECK_EQ_INT(rt_tick_start(&t, 5, count, &n), AK_OK);
    for (int i = 0; i < 1000 && atomic_load(&n) < 3; i++)
        usleep(10000);
    CHECK(atomic_load(&n) >= 3);
    rt_tick_stop(t);
    int after = atomic_load(&n);
    usleep(50000);
    CHECK_EQ_INT(atomic_load(&n), after); /* no call after the stop */

    /* A stop does not wait out the interval (60 s here). */
    atomic_store(&n, 0);
    CHECK_EQ_INT(rt_tick_start(&t, 60000, count, &n), AK_OK);
    double t0 = now_s();
    rt_tick_stop(t);
    CHECK(now_s() - t0 < 10.0);
    CHECK_EQ_INT(atomic_load(&n), 0);

    rt_tick_stop(NULL);
    t = (rt_tick *)&n;
    CHECK_EQ_INT(rt_tick_start(&t, 0, count, &n), AK_ERR_ARG);
    CHECK(t == NULL);
    CHECK_EQ_INT(rt_tick_start(&t, 60001, count, &n), AK_ERR_ARG);
    CHECK_EQ_INT(rt_tick_start(&t, 10, NULL, &n), AK_ERR_ARG);
    return ak_test_report("test_rt_tick");
}
