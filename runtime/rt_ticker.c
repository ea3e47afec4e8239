/* rt_ticker.c - a periodic background thread (see rt_ticker.h). */
#include "rt_ticker.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct rt_ticker {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* on CLOCK_MONOTONIC */
    pthread_t thread;
    int stop;
    unsigned interval_ms;
    void (*fn)(void *ctx);
    void *ctx;
};

static void *ticker_main(void *arg)
{
    rt_ticker *t = arg;
    pthread_mutex_lock(&t->mu);
    while (!t->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += t->interval_ms / 1000u;
        ts.tv_nsec += (long)(t->interval_ms % 1000u) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        int w = 0;
        while (!t->stop && w != ETIMEDOUT)
            w = pthread_cond_timedwait(&t->cv, &t->mu, &ts);
        if (t->stop)
            break;
        pthread_mutex_unlock(&t->mu);
        t->fn(t->ctx);
        pthread_mutex_lock(&t->mu);
    }
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

ak_err rt_ticker_start(rt_ticker **out, unsigned interval_ms, void (*fn)(void *ctx), void *ctx)
{
    pthread_condattr_t ca;
    ak_err rc = AK_ERR_INTERNAL;
    *out = NULL;
    if (fn == NULL || interval_ms < 1 || interval_ms > RT_TICKER_MAX_MS)
        return AK_ERR_ARG;
    rt_ticker *t = calloc(1, sizeof *t);
    if (t == NULL)
        return AK_ERR_NOMEM;
    *t = (rt_ticker){.interval_ms = interval_ms, .fn = fn, .ctx = ctx};
    if (pthread_condattr_init(&ca) != 0)
        goto out;
    int bad =
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 || pthread_cond_init(&t->cv, &ca) != 0;
    pthread_condattr_destroy(&ca);
    if (bad)
        goto out;
    pthread_mutex_init(&t->mu, NULL);
    if (pthread_create(&t->thread, NULL, ticker_main, t) != 0) {
        pthread_mutex_destroy(&t->mu);
        pthread_cond_destroy(&t->cv);
        goto out;
    }
    *out = t;
    t = NULL;
    rc = AK_OK;
out:
    free(t);
    return rc;
}

void rt_ticker_stop(rt_ticker *t)
{
    if (t == NULL)
        return;
    pthread_mutex_lock(&t->mu);
    t->stop = 1;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    pthread_join(t->thread, NULL);
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    free(t);
}
