/* rt_tick.c - a periodic background thread (see rt_tick.h). */
#include "rt_tick.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct rt_tick {
    pthread_mutex_t mu; /* guards stop */
    pthread_cond_t cv;  /* CLOCK_MONOTONIC: wakes the thread at stop */
    pthread_t thread;
    unsigned interval_ms;
    int stop;
    void (*fn)(void *arg);
    void *arg;
};

static void *tick_main(void *p)
{
    rt_tick *t = p;
    pthread_mutex_lock(&t->mu);
    while (!t->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts); /* the condition variable's own clock */
        ts.tv_sec += t->interval_ms / 1000;
        ts.tv_nsec += (long)(t->interval_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        (void)pthread_cond_timedwait(&t->cv, &t->mu, &ts);
        if (t->stop)
            break;
        pthread_mutex_unlock(&t->mu);
        t->fn(t->arg);
        pthread_mutex_lock(&t->mu);
    }
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

ak_err rt_tick_start(rt_tick **out, unsigned interval_ms, void (*fn)(void *arg), void *arg)
{
    pthread_condattr_t ca;
    rt_tick *t = NULL;
    ak_err rc = AK_ERR_ARG;
    *out = NULL;
    if (fn == NULL || interval_ms == 0 || interval_ms > 60000)
        return rc;
    if ((t = calloc(1, sizeof *t)) == NULL)
        return AK_ERR_NOMEM;
    t->interval_ms = interval_ms;
    t->fn = fn;
    t->arg = arg;
    rc = AK_ERR_INTERNAL;
    if (pthread_condattr_init(&ca) != 0)
        goto out;
    int bad =
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 || pthread_cond_init(&t->cv, &ca) != 0;
    pthread_condattr_destroy(&ca);
    if (bad)
        goto out;
    pthread_mutex_init(&t->mu, NULL);
    if (pthread_create(&t->thread, NULL, tick_main, t) != 0) {
        pthread_cond_destroy(&t->cv);
        pthread_mutex_destroy(&t->mu);
        goto out;
    }
    *out = t;
    t = NULL;
    rc = AK_OK;
out:
    free(t);
    return rc;
}

void rt_tick_stop(rt_tick *t)
{
    if (t == NULL)
        return;
    pthread_mutex_lock(&t->mu);
    t->stop = 1;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
    pthread_join(t->thread, NULL);
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    free(t);
}
