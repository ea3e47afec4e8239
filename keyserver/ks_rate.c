/* ks_rate.c - per-client token buckets (see ks_rate.h). */
#include "ks_rate.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

typedef struct {
    pthread_mutex_t mu;
    double tokens, per_s, burst; /* per_s == 0: no limit */
    double last;                 /* monotonic seconds of the last refill */
} bucket;

struct ks_rate {
    bucket *b;
    size_t n;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

ak_err ks_rate_new(ks_rate **out, const ks_config *cfg)
{
    ks_rate *r = calloc(1, sizeof *r);
    *out = NULL;
    if (r == NULL || (r->b = calloc(cfg->n_clients ? cfg->n_clients : 1, sizeof *r->b)) == NULL) {
        free(r);
        return AK_ERR_NOMEM;
    }
    r->n = cfg->n_clients;
    double t = now_s();
    for (size_t i = 0; i < r->n; i++) {
        bucket *b = &r->b[i];
        pthread_mutex_init(&b->mu, NULL);
        b->per_s = cfg->clients[i].rate_per_s;
        b->burst = cfg->clients[i].rate_burst;
        b->tokens = b->burst; /* a client may start with a full burst */
        b->last = t;
    }
    *out = r;
    return AK_OK;
}

void ks_rate_free(ks_rate *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++)
        pthread_mutex_destroy(&r->b[i].mu);
    free(r->b);
    free(r);
}

int ks_rate_take(ks_rate *r, long client)
{
    if (r == NULL || client < 0 || (size_t)client >= r->n || r->b[client].per_s == 0)
        return 1;
    bucket *b = &r->b[client];
    int ok = 0;
    pthread_mutex_lock(&b->mu);
    double t = now_s();
    b->tokens += (t - b->last) * b->per_s;
    if (b->tokens > b->burst)
        b->tokens = b->burst;
    b->last = t;
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
        ok = 1;
    }
    pthread_mutex_unlock(&b->mu);
    return ok;
}
