/*
 * rt_pool.h - a small persistent pool of worker threads: fixed threads, a bounded queue, and
 * groups of jobs a caller submits and then waits for (the connector's batch fan-out, which used
 * to create up to 63 threads per batch request).
 *
 * A group belongs to one caller. rt_pool_wait() never waits for a job that no worker has taken:
 * the group's jobs still queued are taken back and run on the caller's own thread, then it
 * waits for the ones that workers are running. So a caller always makes progress on its own
 * thread even when every worker is busy (for example blocked on a frozen peer for another
 * caller), and each job runs exactly once.
 *
 * Limits: `threads` workers (1..RT_POOL_MAX_THREADS) and at most `queue_max` jobs queued at once
 * (1..RT_POOL_MAX_QUEUE), both fixed at creation; every queue slot is allocated then (40 bytes
 * each), nothing allocates afterwards. A submit to a full queue is refused (AK_ERR_LIMIT): the
 * caller runs the job itself or does without help.
 *
 * Thread-safe: any thread may submit to and wait for its own groups. rt_pool_free() must not be
 * called while a group is not yet waited for.
 */
#ifndef RT_POOL_H
#define RT_POOL_H

#include <stddef.h>

#include "ak_err.h"

#define RT_POOL_MAX_THREADS 256
#define RT_POOL_MAX_QUEUE   65536

typedef struct rt_pool rt_pool;
typedef void (*rt_pool_fn)(void *arg);

/* A caller's set of jobs; initialise with rt_pool_group_init, then submit, then wait. */
typedef struct {
    rt_pool *pool;
    size_t queued;  /* jobs of the group in the queue (under the pool's lock) */
    size_t running; /* jobs of the group a worker runs now (under the pool's lock) */
} rt_pool_group;

/* *out freed with rt_pool_free. AK_ERR_ARG for a count out of range, AK_ERR_NOMEM. */
AK_WUR ak_err rt_pool_new(rt_pool **out, unsigned threads, size_t queue_max);
void rt_pool_free(rt_pool *p); /* stops and joins the workers; NULL allowed */

void rt_pool_group_init(rt_pool_group *g, rt_pool *p);

/* Queue fn(arg) for a worker. AK_OK, or AK_ERR_LIMIT when the queue is full (nothing queued). */
AK_WUR ak_err rt_pool_submit(rt_pool_group *g, rt_pool_fn fn, void *arg);

/* Run the group's jobs still queued on this thread, then wait until the workers have finished
 * the group's others. Returns the number of jobs run here. The group may be reused after. */
size_t rt_pool_wait(rt_pool_group *g);

unsigned rt_pool_threads(const rt_pool *p);

#endif
