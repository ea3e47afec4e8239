/*
 * bench_raw.c - thread harness with latency histogram, and the raw C_Sign baseline
 * (see bench_raw.h).
 */
#include "bench_raw.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "p11_module.h"

/* Latency histogram: 1 us buckets below 10 ms, 100 us buckets up to 1 s, then one overflow. */
#define HIST_FINE    10000
#define HIST_BUCKETS (HIST_FINE + 9900 + 1)

static size_t hist_index(size_t us)
{
    if (us < HIST_FINE)
        return us;
    if (us < 1000000)
        return HIST_FINE + (us - HIST_FINE) / 100;
    return HIST_BUCKETS - 1;
}

static double hist_value(size_t i)
{
    if (i < HIST_FINE)
        return (double)i + 0.5;
    return (double)HIST_FINE + (double)(i - HIST_FINE) * 100.0 + 50.0;
}

typedef struct {
    int (*op)(void *, unsigned);
    void *ctx;
    unsigned index;
    double seconds;
    pthread_barrier_t *start;
    uint32_t *hist; /* HIST_BUCKETS */
    uint64_t ops, errors;
    double t_end;
} run_arg;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *run_thread(void *p)
{
    run_arg *a = p;
    double t0, end;
    pthread_barrier_wait(a->start);
    t0 = now_s();
    end = t0 + a->seconds;
    for (;;) {
        double s = now_s(), e;
        size_t us;
        if (s >= end)
            break;
        if (a->op(a->ctx, a->index) != 0) {
            a->errors++;
            continue;
        }
        e = now_s();
        us = (size_t)((e - s) * 1e6);
        a->hist[hist_index(us)]++;
        a->ops++;
    }
    a->t_end = now_s();
    return NULL;
}

static double percentile(const uint64_t *hist, uint64_t total, double q)
{
    uint64_t want = (uint64_t)((double)total * q), acc = 0;
    for (size_t i = 0; i < HIST_BUCKETS; i++) {
        acc += hist[i];
        if (acc > want)
            return hist_value(i);
    }
    return hist_value(HIST_BUCKETS - 1);
}

ak_err bench_run_threads(bench_result *out, unsigned threads, double seconds,
                         int (*op)(void *ctx, unsigned thread), void *ctx)
{
    pthread_t th[BENCH_MAX_THREADS];
    run_arg *args = NULL;
    uint64_t *hist = NULL;
    pthread_barrier_t start;
    unsigned started = 0;
    double t0, t_end = 0;
    ak_err e = AK_OK;

    if (out == NULL || op == NULL || threads == 0 || threads > BENCH_MAX_THREADS || seconds <= 0)
        return AK_ERR_ARG;
    memset(out, 0, sizeof(*out));
    args = calloc(threads, sizeof(*args));
    hist = calloc(HIST_BUCKETS, sizeof(*hist));
    if (args == NULL || hist == NULL) {
        e = AK_ERR_NOMEM;
        goto out;
    }
    if (pthread_barrier_init(&start, NULL, threads + 1) != 0) {
        e = AK_ERR_INTERNAL;
        goto out;
    }
    for (unsigned i = 0; i < threads; i++) {
        args[i] = (run_arg){op, ctx, i, seconds, &start, NULL, 0, 0, 0};
        args[i].hist = calloc(HIST_BUCKETS, sizeof(uint32_t));
        if (args[i].hist == NULL) {
            e = AK_ERR_NOMEM;
            break;
        }
    }
    for (unsigned i = 0; e == AK_OK && i < threads; i++) {
        if (pthread_create(&th[i], NULL, run_thread, &args[i]) != 0) {
            e = AK_ERR_INTERNAL;
            break;
        }
        started++;
    }
    if (e != AK_OK) {
        /* cannot release the barrier with fewer threads: this only happens on resource
         * exhaustion before any started thread passed it, so exit like the OOM it is */
        if (started > 0) {
            fprintf(stderr, "bench: thread creation failed after %u threads\n", started);
            abort();
        }
        pthread_barrier_destroy(&start);
        goto out;
    }
    t0 = now_s();
    pthread_barrier_wait(&start);
    for (unsigned i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        out->ops += args[i].ops;
        out->errors += args[i].errors;
        if (args[i].t_end > t_end)
            t_end = args[i].t_end;
        for (size_t b = 0; b < HIST_BUCKETS; b++)
            hist[b] += args[i].hist[b];
    }
    pthread_barrier_destroy(&start);
    out->threads = threads;
    out->seconds = t_end - t0;
    out->per_sec = out->seconds > 0 ? (double)out->ops / out->seconds : 0;
    out->p50_us = out->ops ? percentile(hist, out->ops, 0.50) : 0;
    out->p99_us = out->ops ? percentile(hist, out->ops, 0.99) : 0;
out:
    if (args != NULL)
        for (unsigned i = 0; i < threads; i++)
            free(args[i].hist);
    free(args);
    free(hist);
    return e;
}

/* ---- raw C_Sign ------------------------------------------------------------------------------ */

typedef struct {
    CK_FUNCTION_LIST *f;
    CK_OBJECT_HANDLE key;
    CK_SESSION_HANDLE sess[BENCH_MAX_THREADS];
} raw_ctx;

static int raw_sign_op(void *p, unsigned thread)
{
    raw_ctx *c = p;
    CK_MECHANISM mech = {CKM_ECDSA, NULL, 0};
    unsigned char digest[32], sig[80];
    CK_ULONG len = sizeof(sig);
    memset(digest, 0x42, sizeof(digest));
    digest[0] = (unsigned char)thread;
    if (c->f->C_SignInit(c->sess[thread], &mech, c->key) != CKR_OK)
        return -1;
    if (c->f->C_Sign(c->sess[thread], digest, sizeof(digest), sig, &len) != CKR_OK)
        return -1;
    return len == 64 ? 0 : -1;
}

ak_err bench_raw_sign(bench_result *out, const char *module_path, const char *token_label,
                      const char *pin, const char *key_label, unsigned threads, double seconds,
                      char *err_msg, size_t err_cap)
{
    p11_module *m = NULL;
    raw_ctx *c = NULL;
    CK_SLOT_ID slot = 0;
    CK_SESSION_HANDLE anchor = CK_INVALID_HANDLE;
    CK_OBJECT_HANDLE objs[2];
    size_t n = 0;
    int more = 0;
    CK_RV rv = CKR_OK;
    unsigned opened = 0;
    ak_err e;

    if (out == NULL || module_path == NULL || token_label == NULL || pin == NULL ||
        key_label == NULL || threads == 0 || threads > BENCH_MAX_THREADS)
        return AK_ERR_ARG;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return AK_ERR_NOMEM;
    e = p11_module_load(&m, module_path, err_msg, err_cap);
    if (e != AK_OK)
        goto out;
    c->f = p11_module_functions(m);
    e = p11_find_slot_by_label(c->f, &slot, &rv, token_label);
    if (e != AK_OK) {
        snprintf(err_msg, err_cap, "token '%s' not found (%s)", token_label, p11_rv_name(rv));
        goto out;
    }
    e = p11_open_login(c->f, &anchor, &rv, slot, 0, pin, strlen(pin));
    if (e != AK_OK) {
        snprintf(err_msg, err_cap, "session/login failed: %s", p11_rv_name(rv));
        anchor = CK_INVALID_HANDLE;
        goto out;
    }
    e = p11_find_objects(c->f, anchor, CKO_PRIVATE_KEY, key_label, NULL, 0, objs, 2, &n, &more,
                         &rv);
    if (e != AK_OK || n != 1) {
        snprintf(err_msg, err_cap, "need exactly one private key labelled '%s'", key_label);
        e = AK_ERR_KEY_NOT_FOUND;
        goto out;
    }
    c->key = objs[0];
    for (; opened < threads; opened++) {
        e = p11_open_login(c->f, &c->sess[opened], &rv, slot, 0, pin, strlen(pin));
        if (e != AK_OK) {
            snprintf(err_msg, err_cap, "session %u: %s", opened, p11_rv_name(rv));
            goto out;
        }
    }
    e = bench_run_threads(out, threads, seconds, raw_sign_op, c);
out:
    if (c != NULL && c->f != NULL) {
        for (unsigned i = 0; i < opened; i++)
            (void)c->f->C_CloseSession(c->sess[i]);
        if (anchor != CK_INVALID_HANDLE)
            (void)c->f->C_CloseSession(anchor);
    }
    p11_module_release(m);
    free(c);
    return e;
}
