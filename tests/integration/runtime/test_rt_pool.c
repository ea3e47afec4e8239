/* test_rt_pool.c - rt_pool: every job runs exactly once (also with many callers at once), the
 * queue bound, workers really run concurrently, and a caller whose pool is busy (a worker
 * blocked, as on a frozen peer) runs its own queued jobs instead of waiting for them. */
#include <pthread.h>
#include <stdatomic.h>

#include "ak_test.h"
#include "rt_pool.h"

static void test_args(void)
{
    rt_pool *p = NULL;
    CHECK_EQ_INT(rt_pool_new(&p, 0, 8), AK_ERR_ARG);
    CHECK_EQ_INT(rt_pool_new(&p, 2, 0), AK_ERR_ARG);
    CHECK_EQ_INT(rt_pool_new(&p, RT_POOL_MAX_THREADS + 1, 8), AK_ERR_ARG);
    CHECK_EQ_INT(rt_pool_new(&p, 2, RT_POOL_MAX_QUEUE + 1), AK_ERR_ARG);
    CHECK(p == NULL);
    rt_pool_free(NULL);
}

typedef struct {
    _Atomic int runs[200];
} counts;

typedef struct {
    counts *c;
    int i;
} slot;

static void count_job(void *arg)
{
    slot *s = arg;
    atomic_fetch_add(&s->c->runs[s->i], 1);
}

/* 200 jobs through a 4-worker pool with room for 64: what does not fit is run by the test. */
static void test_each_once(void)
{
    rt_pool *p = NULL;
    static counts c;
    static slot s[200];
    CHECK_EQ_INT(rt_pool_new(&p, 4, 64), AK_OK);
    CHECK_EQ_INT(rt_pool_threads(p), 4);
    for (int round = 0; round < 2; round++) { /* the group is reused after a wait */
        rt_pool_group g;
        rt_pool_group_init(&g, p);
        for (int i = 0; i < 200; i++) {
            s[i] = (slot){&c, i};
            if (rt_pool_submit(&g, count_job, &s[i]) != AK_OK)
                count_job(&s[i]);
        }
        (void)rt_pool_wait(&g);
        int ok = 1;
        for (int i = 0; i < 200; i++)
            ok &= atomic_load(&c.runs[i]) == round + 1;
        CHECK(ok);
    }
    rt_pool_free(p);
}

typedef struct {
    pthread_mutex_t lk;
    pthread_cond_t cv;
    int started, open;
} gate;

/* Blocks its worker until the gate opens (a job stuck on a frozen peer). */
static void blocked_job(void *arg)
{
    gate *g = arg;
    pthread_mutex_lock(&g->lk);
    g->started++;
    pthread_cond_broadcast(&g->cv);
    while (!g->open)
        pthread_cond_wait(&g->cv, &g->lk);
    pthread_mutex_unlock(&g->lk);
}

static pthread_t g_main;
static _Atomic int g_on_main, g_elsewhere;

static void where_job(void *arg)
{
    (void)arg;
    if (pthread_equal(pthread_self(), g_main))
        atomic_fetch_add(&g_on_main, 1);
    else
        atomic_fetch_add(&g_elsewhere, 1);
}

static void wait_started(gate *g, int n)
{
    pthread_mutex_lock(&g->lk);
    while (g->started < n)
        pthread_cond_wait(&g->cv, &g->lk);
    pthread_mutex_unlock(&g->lk);
}

static void open_gate(gate *g)
{
    pthread_mutex_lock(&g->lk);
    g->open = 1;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->lk);
}

static void test_busy_pool_and_bound(void)
{
    rt_pool *p = NULL;
    gate gt = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    rt_pool_group a, b;
    g_main = pthread_self();
    CHECK_EQ_INT(rt_pool_new(&p, 1, 3), AK_OK);
    rt_pool_group_init(&a, p);
    rt_pool_group_init(&b, p);
    CHECK_EQ_INT(rt_pool_submit(&a, blocked_job, &gt), AK_OK);
    wait_started(&gt, 1); /* the only worker is now held */
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(rt_pool_submit(&b, where_job, NULL), AK_OK);
    CHECK_EQ_INT(rt_pool_submit(&b, where_job, NULL), AK_ERR_LIMIT); /* queue of 3 is full */
    /* b's jobs were never taken: the caller runs them all, without waiting for the worker */
    CHECK_EQ_INT(rt_pool_wait(&b), 3);
    CHECK_EQ_INT(atomic_load(&g_on_main), 3);
    CHECK_EQ_INT(atomic_load(&g_elsewhere), 0);
    CHECK_EQ_INT(rt_pool_submit(&b, where_job, NULL), AK_OK); /* the slots came back */
    CHECK_EQ_INT(rt_pool_wait(&b), 1);
    open_gate(&gt);
    CHECK_EQ_INT(rt_pool_wait(&a), 0); /* the worker had it: waited for, not run again */
    CHECK_EQ_INT(gt.started, 1);
    rt_pool_free(p);
}

/* Two jobs that each wait for the other to have started: only concurrent workers finish. */
static void test_concurrent(void)
{
    rt_pool *p = NULL;
    gate gt = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    rt_pool_group g;
    CHECK_EQ_INT(rt_pool_new(&p, 2, 8), AK_OK);
    rt_pool_group_init(&g, p);
    CHECK_EQ_INT(rt_pool_submit(&g, blocked_job, &gt), AK_OK);
    CHECK_EQ_INT(rt_pool_submit(&g, blocked_job, &gt), AK_OK);
    wait_started(&gt, 2); /* both workers hold one each */
    open_gate(&gt);
    CHECK_EQ_INT(rt_pool_wait(&g), 0);
    CHECK_EQ_INT(gt.started, 2);
    rt_pool_free(p);
}

/* 8 callers at once, each 200 groups of 10 jobs, through 3 workers and a queue of 8 (full most of
 * the time): every job runs exactly once, every wait returns with its group finished. */
typedef struct {
    rt_pool *p;
    _Atomic int *runs;
    int failed;
} caller;

typedef struct {
    _Atomic int *cell;
    _Atomic int *finished;
} tick;

static void tick_job(void *arg)
{
    tick *t = arg;
    atomic_fetch_add(t->cell, 1);
    atomic_fetch_add(t->finished, 1);
}

static void *caller_main(void *arg)
{
    caller *c = arg;
    for (int round = 0; round < 200; round++) {
        rt_pool_group g;
        tick t[10];
        _Atomic int finished = 0;
        rt_pool_group_init(&g, c->p);
        for (int i = 0; i < 10; i++) {
            t[i] = (tick){&c->runs[round * 10 + i], &finished};
            if (rt_pool_submit(&g, tick_job, &t[i]) != AK_OK)
                tick_job(&t[i]);
        }
        (void)rt_pool_wait(&g);
        if (atomic_load(&finished) != 10)
            c->failed = 1;
    }
    return NULL;
}

static void test_many_callers(void)
{
    rt_pool *p = NULL;
    pthread_t th[8];
    static caller cs[8];
    static _Atomic int runs[8][2000];
    CHECK_EQ_INT(rt_pool_new(&p, 3, 8), AK_OK);
    for (int i = 0; i < 8; i++) {
        cs[i] = (caller){p, runs[i], 0};
        CHECK(pthread_create(&th[i], NULL, caller_main, &cs[i]) == 0);
    }
    int ok = 1;
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        ok &= !cs[i].failed;
        for (int k = 0; k < 2000; k++)
            ok &= atomic_load(&runs[i][k]) == 1;
    }
    CHECK(ok);
    rt_pool_free(p);
}

int main(void)
{
    test_args();
    test_each_once();
    test_busy_pool_and_bound();
    test_concurrent();
    test_many_callers();
    printf("%d passed, %d failed\n", ak_test_passed, ak_test_failed);
    return ak_test_failed ? 1 : 0;
}
