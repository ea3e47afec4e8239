/* test_rt_ticker.c - rt_ticker: its arguments are checked, fn runs again and again on its own
 * thread, and after rt_ticker_stop() returns (also while fn is running) fn never runs again.
 * No timing assert: the waits below are only upper bounds (5 s) for a loaded machine. */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "ak_test.h"
#include "rt_ticker.h"

typedef struct {
    _Atomic int runs;
    _Atomic int inside; /* fn is running */
    unsigned sleep_ms;  /* how long each run takes */
} counter;

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void tick(void *arg)
{
    counter *c = arg;
    atomic_store(&c->inside, 1);
    sleep_ms(c->sleep_ms);
    atomic_fetch_add(&c->runs, 1);
    atomic_store(&c->inside, 0);
}

/* Wait (at most 5 s) until fn has run at least n times. */
static int wait_runs(counter *c, int n)
{
    for (int i = 0; i < 500 && atomic_load(&c->runs) < n; i++)
        sleep_ms(10);
    return atomic_load(&c->runs) >= n;
}

static void test_args(void)
{
    rt_ticker *t = NULL;
    counter c = {0};
    CHECK_EQ_INT(rt_ticker_start(&t, 0, tick, &c), AK_ERR_ARG);
    CHECK_EQ_INT(rt_ticker_start(&t, RT_TICKER_MAX_MS + 1, tick, &c), AK_ERR_ARG);
    CHECK_EQ_INT(rt_ticker_start(&t, 10, NULL, &c), AK_ERR_ARG);
    CHECK(t == NULL);
    rt_ticker_stop(NULL);
}

static void test_runs_then_stops(void)
{
    rt_ticker *t = NULL;
    counter c = {0};
    CHECK_EQ_INT(rt_ticker_start(&t, 5, tick, &c), AK_OK);
    CHECK(wait_runs(&c, 3));
    rt_ticker_stop(t);
    int after = atomic_load(&c.runs);
    sleep_ms(50);
    CHECK_EQ_INT(atomic_load(&c.runs), after);
}

/* A long interval: stop does not wait for it to pass, and fn never ran. */
static void test_stop_while_sleeping(void)
{
    rt_ticker *t = NULL;
    counter c = {0};
    CHECK_EQ_INT(rt_ticker_start(&t, RT_TICKER_MAX_MS, tick, &c), AK_OK);
    rt_ticker_stop(t);
    CHECK_EQ_INT(atomic_load(&c.runs), 0);
}

/* Stop while fn runs: it returns once that run has ended, and no run follows. */
static void test_stop_while_running(void)
{
    rt_ticker *t = NULL;
    counter c = {.sleep_ms = 100};
    CHECK_EQ_INT(rt_ticker_start(&t, 1, tick, &c), AK_OK);
    for (int i = 0; i < 500 && !atomic_load(&c.inside); i++)
        sleep_ms(10);
    CHECK(atomic_load(&c.inside));
    rt_ticker_stop(t);
    CHECK(!atomic_load(&c.inside));
    int after = atomic_load(&c.runs);
    CHECK(after >= 1);
    sleep_ms(150);
    CHECK_EQ_INT(atomic_load(&c.runs), after);
}

int main(void)
{
    test_args();
    test_runs_then_stops();
    test_stop_while_sleeping();
    test_stop_while_running();
    return ak_test_report("test_rt_ticker");
}
