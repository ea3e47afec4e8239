/* rt_pool.c - persistent worker pool with groups (see rt_pool.h). */
#include "rt_pool.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct job {
    rt_pool_fn fn;
    void *arg;
    rt_pool_group *group;
    struct job *prev, *next; /* in the queue, or next in the free list */
} job;

struct rt_pool {
    pthread_mutex_t lk;
    pthread_cond_t work; /* a job was queued, or stopping */
    pthread_cond_t done; /* a worker finished a job */
    job *slots;          /* queue_max, allocated once */
    job *free_list;
    job *head, *tail; /* FIFO queue */
    int stopping;
    unsigned n_threads;
    pthread_t *threads;
};

static void unlink_job(rt_pool *p, job *j)
{
    if (j->prev != NULL)
        j->prev->next = j->next;
    else
        p->head = j->next;
    if (j->next != NULL)
        j->next->prev = j->prev;
    else
        p->tail = j->prev;
    j->prev = NULL;
    j->next = p->free_list;
    p->free_list = j;
}

static void *worker(void *arg)
{
    rt_pool *p = arg;
    pthread_mutex_lock(&p->lk);
    for (;;) {
        while (p->head == NULL && !p->stopping)
            pthread_cond_wait(&p->work, &p->lk);
        if (p->head == NULL)
            break; /* stopping, nothing left */
        job *j = p->head;
        rt_pool_fn fn = j->fn;
        void *fn_arg = j->arg;
        rt_pool_group *g = j->group;
        unlink_job(p, j);
        g->queued--;
        g->running++;
        pthread_mutex_unlock(&p->lk);
        fn(fn_arg);
        pthread_mutex_lock(&p->lk);
        g->running--;
        pthread_cond_broadcast(&p->done);
    }
    pthread_mutex_unlock(&p->lk);
    return NULL;
}

ak_err rt_pool_new(rt_pool **out, unsigned threads, size_t queue_max)
{
    ak_err rc = AK_ERR_NOMEM;
    *out = NULL;
    if (threads == 0 || threads > RT_POOL_MAX_THREADS || queue_max == 0 ||
        queue_max > RT_POOL_MAX_QUEUE)
        return AK_ERR_ARG;
    rt_pool *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return AK_ERR_NOMEM;
    pthread_mutex_init(&p->lk, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    p->slots = calloc(queue_max, sizeof(*p->slots));
    p->threads = calloc(threads, sizeof(*p->threads));
    if (p->slots == NULL || p->threads == NULL)
        goto out;
    for (size_t i = 0; i < queue_max; i++) {
        p->slots[i].next = p->free_list;
        p->free_list = &p->slots[i];
    }
    for (; p->n_threads < threads; p->n_threads++)
        if (pthread_create(&p->threads[p->n_threads], NULL, worker, p) != 0) {
            rc = AK_ERR_INTERNAL;
            goto out;
        }
    *out = p;
    p = NULL;
    rc = AK_OK;
out:
    rt_pool_free(p);
    return rc;
}

void rt_pool_free(rt_pool *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->lk);
    p->stopping = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->lk);
    for (unsigned i = 0; i < p->n_threads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->lk);
    free(p->threads);
    free(p->slots);
    free(p);
}

void rt_pool_group_init(rt_pool_group *g, rt_pool *p)
{
    g->pool = p;
    g->queued = 0;
    g->running = 0;
}

ak_err rt_pool_submit(rt_pool_group *g, rt_pool_fn fn, void *arg)
{
    rt_pool *p = g->pool;
    ak_err rc = AK_ERR_LIMIT;
    pthread_mutex_lock(&p->lk);
    job *j = p->free_list;
    if (j == NULL || p->stopping)
        goto out;
    p->free_list = j->next;
    *j = (job){.fn = fn, .arg = arg, .group = g, .prev = p->tail};
    if (p->tail != NULL)
        p->tail->next = j;
    else
        p->head = j;
    p->tail = j;
    g->queued++;
    pthread_cond_signal(&p->work);
    rc = AK_OK;
out:
    pthread_mutex_unlock(&p->lk);
    return rc;
}

size_t rt_pool_wait(rt_pool_group *g)
{
    rt_pool *p = g->pool;
    size_t ran = 0;
    pthread_mutex_lock(&p->lk);
    while (g->queued > 0) {
        job *j = p->head;
        while (j != NULL && j->group != g)
            j = j->next;
        if (j == NULL)
            break; /* cannot happen: queued counts the group's jobs in the queue */
        rt_pool_fn fn = j->fn;
        void *arg = j->arg;
        unlink_job(p, j);
        g->queued--;
        pthread_mutex_unlock(&p->lk);
        fn(arg);
        ran++;
        pthread_mutex_lock(&p->lk);
    }
    while (g->running > 0)
        pthread_cond_wait(&p->done, &p->lk);
    pthread_mutex_unlock(&p->lk);
    return ran;
}

unsigned rt_pool_threads(const rt_pool *p)
{
    return p->n_threads;
}
