/* ks_rate.c - per-client token buckets (see ks_rate.h). */
#include "ks_rate.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "ak_bucket.h"

typedef struct {
    pthread_mutex_t mu;
    ak_bucket b; /* per_s == 0: no limit */
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
        ak_bucket_init(&b->b, cfg->clients[i].rate_per_s, cfg->clients[i].rate_burst, t);
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
    if (r == NULL || client < 0 || (size_t)client >= r->n || r->b[client].b.per_s == 0)
        return 1;
    bucket *b = &r->b[client];
    pthread_mutex_lock(&b->mu);
    int ok = ak_bucket_take(&b->b, 1.0, now_s());
    pthread_mutex_unlock(&b->mu);
    return ok;
}
