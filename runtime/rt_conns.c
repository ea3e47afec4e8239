/* rt_conns.c - connection tracking, header deadline and drain (see rt_conns.h). */
#include "rt_conns.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>

#include "rt_ticker.h"

#define RT_CONNS_TICK_MS 100

typedef struct {
    const void *key;
    int fd;
    int in_req;
    int shut;         /* shutdown(2) already done */
    int used;         /* has had a request */
    int64_t since_ms; /* opened, or the end of the previous answer */
} conn_ent;

struct rt_conns {
    pthread_mutex_t lk;
    conn_ent *ents;
    size_t n, max;
    size_t inflight;
    unsigned header_timeout_ms;
    const rt_clock *clk;
    int draining, closing;
    unsigned long header_closed, untracked;
    rt_ticker *reaper; /* every RT_CONNS_TICK_MS: reap() */
};

static int64_t now_ms(const rt_conns *t)
{
    return rt_clock_mono_ms(t->clk);
}

static conn_ent *find(rt_conns *t, const void *key)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->ents[i].key == key)
            return &t->ents[i];
    return NULL;
}

static size_t unread(int fd)
{
    int n = 0;
    if (ioctl(fd, FIONREAD, &n) != 0 || n < 0)
        return 0;
    return (size_t)n;
}

/* Under t->lk: shut down idle connections past the header deadline, or (draining) idle for at
 * least grace_ms. */
static void sweep(rt_conns *t, int64_t now, int draining, unsigned grace_ms)
{
    for (size_t i = 0; i < t->n; i++) {
        conn_ent *e = &t->ents[i];
        if (e->in_req || e->shut)
            continue;
        int64_t idle = now - e->since_ms;
        int late = t->header_timeout_ms > 0 && idle >= (int64_t)t->header_timeout_ms;
        unsigned grace =
            e->used || grace_ms > RT_CONNS_FRESH_GRACE_MS ? grace_ms : RT_CONNS_FRESH_GRACE_MS;
        int drain = draining && idle >= (int64_t)grace;
        if ((late || drain) && unread(e->fd) == 0) {
            (void)shutdown(e->fd, SHUT_RDWR);
            e->shut = 1;
            if (late && !drain)
                t->header_closed++;
        }
    }
}

/* The reaper (every RT_CONNS_TICK_MS): connections past the header deadline. */
static void reap(void *arg)
{
    rt_conns *t = arg;
    pthread_mutex_lock(&t->lk);
    if (t->header_timeout_ms > 0)
        sweep(t, now_ms(t), 0, 0);
    pthread_mutex_unlock(&t->lk);
}

ak_err rt_conns_new(rt_conns **out, size_t max, unsigned header_timeout_ms, const rt_clock *clk)
{
    ak_err rc = AK_ERR_NOMEM;
    rt_conns *t = calloc(1, sizeof(*t));
    *out = NULL;
    if (t == NULL || max == 0)
        goto out;
    t->ents = calloc(max, sizeof(*t->ents));
    if (t->ents == NULL)
        goto out;
    t->max = max;
    t->header_timeout_ms = header_timeout_ms;
    t->clk = clk != NULL ? clk : rt_clock_system();
    if (pthread_mutex_init(&t->lk, NULL) != 0)
        goto out;
    if ((rc = rt_ticker_start(&t->reaper, RT_CONNS_TICK_MS, reap, t)) != AK_OK) {
        pthread_mutex_destroy(&t->lk);
        goto out;
    }
    *out = t;
    t = NULL;
out:
    if (t != NULL) {
        free(t->ents);
        free(t);
    }
    return rc;
}

void rt_conns_free(rt_conns *t)
{
    if (t == NULL)
        return;
    rt_ticker_stop(t->reaper);
    pthread_mutex_destroy(&t->lk);
    free(t->ents);
    free(t);
}

void rt_conns_open(rt_conns *t, const void *key, int fd)
{
    pthread_mutex_lock(&t->lk);
    if (t->n < t->max && fd >= 0) {
        conn_ent *e = &t->ents[t->n++];
        e->key = key;
        e->fd = fd;
        e->in_req = 0;
        e->shut = 0;
        e->used = 0;
        e->since_ms = now_ms(t); /* also during a drain: the grace starts now */
    } else {
        t->untracked++;
    }
    pthread_mutex_unlock(&t->lk);
}

void rt_conns_close(rt_conns *t, const void *key)
{
    pthread_mutex_lock(&t->lk);
    conn_ent *e = find(t, key);
    if (e != NULL) {
        if (e->in_req)
            t->inflight--;
        *e = t->ents[--t->n];
    }
    pthread_mutex_unlock(&t->lk);
}

int rt_conns_begin(rt_conns *t, const void *key)
{
    int ok;
    pthread_mutex_lock(&t->lk);
    conn_ent *e = find(t, key);
    /* A connection already shut down may still have its request read by the server (the
     * shutdown came between the read and this call): it must not be executed. */
    ok = !t->closing && (e == NULL || !e->shut);
    if (ok && e != NULL && !e->in_req) {
        e->in_req = 1;
        e->used = 1;
        t->inflight++;
    }
    pthread_mutex_unlock(&t->lk);
    return ok;
}

void rt_conns_end(rt_conns *t, const void *key)
{
    pthread_mutex_lock(&t->lk);
    conn_ent *e = find(t, key);
    if (e != NULL && e->in_req) {
        e->in_req = 0;
        e->since_ms = now_ms(t);
        t->inflight--;
    }
    pthread_mutex_unlock(&t->lk);
}

int rt_conns_draining(rt_conns *t)
{
    pthread_mutex_lock(&t->lk);
    int d = t->draining;
    pthread_mutex_unlock(&t->lk);
    return d;
}

size_t rt_conns_drain(rt_conns *t, unsigned timeout_ms, unsigned grace_ms)
{
    size_t left = 0;
    int64_t deadline = now_ms(t) + timeout_ms;
    pthread_mutex_lock(&t->lk);
    t->draining = 1;
    for (;;) {
        int64_t now = now_ms(t);
        sweep(t, now, 1, grace_ms);
        if (t->n == 0 || now >= deadline) {
            t->closing = 1;
            left = t->inflight;
            break;
        }
        pthread_mutex_unlock(&t->lk);
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&t->lk);
    }
    pthread_mutex_unlock(&t->lk);
    return left;
}

unsigned long rt_conns_header_closed(rt_conns *t)
{
    pthread_mutex_lock(&t->lk);
    unsigned long v = t->header_closed;
    pthread_mutex_unlock(&t->lk);
    return v;
}

unsigned long rt_conns_untracked(rt_conns *t)
{
    pthread_mutex_lock(&t->lk);
    unsigned long v = t->untracked;
    pthread_mutex_unlock(&t->lk);
    return v;
}
