/*
 * test_cn_ksbatch.c - the keyless signer's batching queue (signers/cn_ksbatch) with hooks that
 * stand for the key server's two request forms: a lone signature goes at once; while the slots
 * are busy the others wait and go together (never more than max_inflight requests at once, each
 * signature gets its own result); a batch the server cannot carry is sent again alone; a
 * signature still waiting at its deadline fails with AK_ERR_TIMEOUT; bad arguments are refused.
 * The real requests are in test_cn_keyless (mock and real key server).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "ak_test.h"
#include "cn_ksbatch.h"
#include "rt_clock.h"

#define N_THREADS 16

static _Atomic int g_inflight, g_max_inflight, g_requests, g_batches, g_largest, g_alone_calls;
static int g_hold_ms = 40;      /* how long a request holds its slot */
static int g_refuse_batches;    /* the batch hook sends everything back alone */
static uint8_t g_forbidden = 0; /* a digest whose first byte is this is refused (0: none) */

static int64_t now_ms(void)
{
    return rt_clock_mono_ms(rt_clock_system());
}

static void enter(void)
{
    int n = atomic_fetch_add(&g_inflight, 1) + 1, m = atomic_load(&g_max_inflight);
    while (n > m && !atomic_compare_exchange_weak(&g_max_inflight, &m, n))
        ;
    atomic_fetch_add(&g_requests, 1);
    usleep((useconds_t)g_hold_ms * 1000);
}

/* The "signature": the digest's first byte, so each caller can tell its own result. */
static ak_err answer(const cn_ksb_item *it)
{
    if (g_forbidden != 0 && it->digest[0] == g_forbidden)
        return AK_ERR_FORBIDDEN;
    memset(it->out, 0, sizeof *it->out);
    it->out->bytes[0] = it->digest[0];
    it->out->len = 1;
    return AK_OK;
}

static ak_err hook_alone(void *user, const cn_ksb_item *it, int64_t deadline_ms)
{
    (void)user;
    (void)deadline_ms;
    atomic_fetch_add(&g_alone_calls, 1);
    enter();
    ak_err rc = answer(it);
    atomic_fetch_sub(&g_inflight, 1);
    return rc;
}

static void hook_batch(void *user, cn_ksb_item *const *items, size_t n)
{
    (void)user;
    enter();
    atomic_fetch_add(&g_batches, 1);
    if ((int)n > atomic_load(&g_largest))
        atomic_store(&g_largest, (int)n);
    for (size_t i = 0; i < n; i++) {
        items[i]->alone = g_refuse_batches;
        items[i]->rc = g_refuse_batches ? AK_ERR_UPSTREAM : answer(items[i]);
    }
    atomic_fetch_sub(&g_inflight, 1);
}

static void reset(void)
{
    atomic_store(&g_inflight, 0);
    atomic_store(&g_max_inflight, 0);
    atomic_store(&g_requests, 0);
    atomic_store(&g_batches, 0);
    atomic_store(&g_largest, 0);
    atomic_store(&g_alone_calls, 0);
    g_refuse_batches = 0;
    g_forbidden = 0;
    g_hold_ms = 40;
}

typedef struct {
    cn_ksbatch *b;
    uint8_t digest[32];
    int64_t wait_ms; /* deadline from now */
    cn_raw_sig out;
    ak_err rc;
} job;

static void *signer_thread(void *arg)
{
    job *j = arg;
    cn_ksb_item it = {.digest = j->digest, .rid = "t", .out = &j->out};
    it.deadline_ms = now_ms() + j->wait_ms;
    j->rc = cn_ksbatch_sign(j->b, &it);
    return NULL;
}

/* N_THREADS signatures at once; returns how many got their own answer. */
static int run(cn_ksbatch *b, job *jobs)
{
    pthread_t t[N_THREADS];
    int own = 0;
    for (int i = 0; i < N_THREADS; i++) {
        memset(&jobs[i], 0, sizeof jobs[i]);
        jobs[i].b = b;
        jobs[i].digest[0] = (uint8_t)(i + 1);
        jobs[i].wait_ms = 20000;
        CHECK_EQ_INT(pthread_create(&t[i], NULL, signer_thread, &jobs[i]), 0);
    }
    for (int i = 0; i < N_THREADS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < N_THREADS; i++)
        own += jobs[i].rc == AK_OK && jobs[i].out.len == 1 && jobs[i].out.bytes[0] == i + 1;
    return own;
}

static void test_args(void)
{
    cn_ksbatch *b = NULL;
    CHECK_EQ_INT(cn_ksbatch_new(&b, 0, 4, hook_alone, hook_batch, NULL), AK_ERR_ARG);
    CHECK_EQ_INT(cn_ksbatch_new(&b, CN_KSBATCH_MAX + 1, 4, hook_alone, hook_batch, NULL),
                 AK_ERR_ARG);
    CHECK_EQ_INT(cn_ksbatch_new(&b, 8, 0, hook_alone, hook_batch, NULL), AK_ERR_ARG);
    CHECK_EQ_INT(cn_ksbatch_new(&b, 8, 4, NULL, hook_batch, NULL), AK_ERR_ARG);
    CHECK_EQ_INT(cn_ksbatch_new(&b, 8, 4, hook_alone, NULL, NULL), AK_ERR_ARG);
    CHECK(b == NULL);
    cn_ksbatch_free(NULL);
}

/* batch_max 1: every signature alone, at once (no queue), as many at a time as callers. */
static void test_never_batch(void)
{
    static job jobs[N_THREADS];
    cn_ksbatch *b = NULL;
    reset();
    CHECK_EQ_INT(cn_ksbatch_new(&b, 1, 1, hook_alone, hook_batch, NULL), AK_OK);
    CHECK_EQ_INT(run(b, jobs), N_THREADS);
    CHECK_EQ_INT(atomic_load(&g_batches), 0);
    CHECK_EQ_INT(atomic_load(&g_alone_calls), N_THREADS);
    cn_ksbatch_free(b);
}

/* max_inflight 1: the first goes alone, the others gather behind it and go in batches. */
static void test_batches(void)
{
    static job jobs[N_THREADS];
    cn_ksbatch *b = NULL;
    reset();
    CHECK_EQ_INT(cn_ksbatch_new(&b, 64, 1, hook_alone, hook_batch, NULL), AK_OK);
    CHECK_EQ_INT(run(b, jobs), N_THREADS);
    CHECK_EQ_INT(atomic_load(&g_max_inflight), 1);
    CHECK(atomic_load(&g_batches) >= 1);
    CHECK(atomic_load(&g_largest) >= 2);
    CHECK(atomic_load(&g_requests) < N_THREADS);
    /* batch_max bounds a batch */
    cn_ksbatch_free(b);
    reset();
    CHECK_EQ_INT(cn_ksbatch_new(&b, 3, 2, hook_alone, hook_batch, NULL), AK_OK);
    CHECK_EQ_INT(run(b, jobs), N_THREADS);
    CHECK(atomic_load(&g_largest) <= 3);
    CHECK(atomic_load(&g_max_inflight) <= 2);
    cn_ksbatch_free(b);
}

/* Per-signature results: one refused signature in a batch fails alone; a batch the server
 * cannot carry goes again signature by signature. */
static void test_results(void)
{
    static job jobs[N_THREADS];
    cn_ksbatch *b = NULL;
    reset();
    g_forbidden = 5;
    CHECK_EQ_INT(cn_ksbatch_new(&b, 64, 1, hook_alone, hook_batch, NULL), AK_OK);
    CHECK_EQ_INT(run(b, jobs), N_THREADS - 1);
    CHECK_EQ_INT(jobs[4].rc, AK_ERR_FORBIDDEN);
    cn_ksbatch_free(b);
    reset();
    g_refuse_batches = 1;
    g_hold_ms = 10;
    CHECK_EQ_INT(cn_ksbatch_new(&b, 64, 1, hook_alone, hook_batch, NULL), AK_OK);
    CHECK_EQ_INT(run(b, jobs), N_THREADS);
    CHECK(atomic_load(&g_batches) >= 1);
    CHECK_EQ_INT(atomic_load(&g_alone_calls), N_THREADS); /* each one alone in the end */
    cn_ksbatch_free(b);
}

/* A signature still queued at its deadline gives up with AK_ERR_TIMEOUT; the one holding the
 * slot is not disturbed. */
static void test_deadline(void)
{
    static job slow, late;
    pthread_t a, c;
    cn_ksbatch *b = NULL;
    reset();
    g_hold_ms = 400;
    CHECK_EQ_INT(cn_ksbatch_new(&b, 64, 1, hook_alone, hook_batch, NULL), AK_OK);
    slow = (job){.b = b, .digest = {1}, .wait_ms = 20000};
    late = (job){.b = b, .digest = {2}, .wait_ms = 50};
    CHECK_EQ_INT(pthread_create(&a, NULL, signer_thread, &slow), 0);
    usleep(100 * 1000); /* the slow one holds the only slot */
    CHECK_EQ_INT(pthread_create(&c, NULL, signer_thread, &late), 0);
    pthread_join(c, NULL);
    pthread_join(a, NULL);
    CHECK_EQ_INT(late.rc, AK_ERR_TIMEOUT);
    CHECK_EQ_INT(slow.rc, AK_OK);
    CHECK_EQ_INT(atomic_load(&g_requests), 1);
    cn_ksbatch_free(b);
}

int main(void)
{
    test_args();
    test_never_batch();
    test_batches();
    test_results();
    test_deadline();
    return ak_test_report("test_cn_ksbatch");
}
