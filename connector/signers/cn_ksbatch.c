/*
 * cn_ksbatch.c - the keyless signer's batching queue (see cn_ksbatch.h): opportunistic
 * batching (group commit) of signatures over at most max_inflight requests.
 */
#include "cn_ksbatch.h"

#include <stdlib.h>
#include <time.h>

#include "rt_clock.h"

enum { W_QUEUED, W_LEAD, W_TAKEN, W_DONE };

struct cn_ksbatch {
    pthread_mutex_t mu; /* guards inflight, the queue and every queued item */
    unsigned inflight, max_inflight, batch_max;
    cn_ksb_item *qhead, *qtail;
    size_t qlen;
    cn_ksb_alone_fn alone;
    cn_ksb_batch_fn batch;
    void *user;
};

/* The one clock (rt_clock); the items' condition variables wait on CLOCK_MONOTONIC, as it. */
static int64_t now_ms(void)
{
    return rt_clock_mono_ms(rt_clock_system());
}

ak_err cn_ksbatch_new(cn_ksbatch **out, unsigned batch_max, unsigned max_inflight,
                      cn_ksb_alone_fn alone, cn_ksb_batch_fn batch, void *user)
{
    *out = NULL;
    if (batch_max < 1 || batch_max > CN_KSBATCH_MAX || max_inflight < 1 ||
        max_inflight > CN_KSBATCH_MAX || alone == NULL || batch == NULL)
        return AK_ERR_ARG;
    cn_ksbatch *b = calloc(1, sizeof *b);
    if (b == NULL)
        return AK_ERR_NOMEM;
    if (pthread_mutex_init(&b->mu, NULL) != 0) {
        free(b);
        return AK_ERR_NOMEM;
    }
    b->batch_max = batch_max;
    b->max_inflight = max_inflight;
    b->alone = alone;
    b->batch = batch;
    b->user = user;
    *out = b;
    return AK_OK;
}

void cn_ksbatch_free(cn_ksbatch *b)
{
    if (b == NULL)
        return;
    pthread_mutex_destroy(&b->mu);
    free(b);
}

/* With mu held: remove and return the first queued item (NULL: none). */
static cn_ksb_item *pop(cn_ksbatch *b)
{
    cn_ksb_item *h = b->qhead;
    if (h == NULL)
        return NULL;
    b->qhead = h->next;
    if (b->qhead == NULL)
        b->qtail = NULL;
    b->qlen--;
    return h;
}

/* With mu held: one request finished; hand its slot to the first waiter, which leads. */
static void slot_release(cn_ksbatch *b)
{
    b->inflight--;
    cn_ksb_item *h = pop(b);
    if (h == NULL)
        return;
    h->state = W_LEAD;
    b->inflight++;
    pthread_cond_signal(&h->cv);
}

/* With mu held: drop w (still queued) from the queue. */
static void unqueue(cn_ksbatch *b, cn_ksb_item *w)
{
    cn_ksb_item **pp = &b->qhead, *prev = NULL;
    while (*pp != NULL && *pp != w) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (*pp == NULL)
        return;
    *pp = w->next;
    if (b->qtail == w)
        b->qtail = prev;
    b->qlen--;
}

/* With mu held (released during the request): w got a slot; send it and up to batch_max - 1
 * waiters behind it, then wake them and pass the slot on. */
static void lead(cn_ksbatch *b, cn_ksb_item *w)
{
    cn_ksb_item *m[CN_KSBATCH_MAX], *x;
    size_t n = 0;
    int64_t t = now_ms();
    m[n++] = w;
    w->state = W_TAKEN;
    while (n < b->batch_max && (x = pop(b)) != NULL) {
        if (x->deadline_ms <= t) {
            /* Out of time already: it must not cut the batch's deadline short. */
            x->rc = AK_ERR_TIMEOUT;
            x->state = W_DONE;
            pthread_cond_signal(&x->cv);
            continue;
        }
        x->state = W_TAKEN;
        m[n++] = x;
    }
    pthread_mutex_unlock(&b->mu);
    if (n == 1)
        w->rc = b->alone(b->user, w, w->deadline_ms);
    else
        b->batch(b->user, m, n);
    pthread_mutex_lock(&b->mu);
    for (size_t i = 1; i < n; i++) {
        m[i]->state = W_DONE;
        pthread_cond_signal(&m[i]->cv);
    }
    slot_release(b);
}

static int cond_init_mono(pthread_cond_t *cv)
{
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0)
        return -1;
    int bad =
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 || pthread_cond_init(cv, &ca) != 0;
    pthread_condattr_destroy(&ca);
    return bad ? -1 : 0;
}

/* With mu held: wait until w is done, leading a batch if it is handed a slot. */
static void wait_turn(cn_ksbatch *b, cn_ksb_item *w)
{
    int64_t deadline = w->deadline_ms;
    while (w->state != W_DONE) {
        if (w->state == W_LEAD) {
            if (now_ms() >= deadline) { /* granted too late: pass the slot on */
                w->rc = AK_ERR_TIMEOUT;
                slot_release(b);
            } else {
                lead(b, w);
            }
            return;
        }
        if (w->state == W_QUEUED) {
            if (now_ms() >= deadline) {
                unqueue(b, w);
                w->rc = AK_ERR_TIMEOUT;
                return;
            }
            struct timespec ts = {.tv_sec = deadline / 1000,
                                  .tv_nsec = (deadline % 1000) * 1000000L};
            (void)pthread_cond_timedwait(&w->cv, &b->mu, &ts);
        } else {
            /* W_TAKEN: the batch's request ends by the earliest member deadline. */
            (void)pthread_cond_wait(&w->cv, &b->mu);
        }
    }
}

ak_err cn_ksbatch_sign(cn_ksbatch *b, const cn_ksb_item *item)
{
    cn_ksb_item w = *item;
    ak_err rc = AK_ERR_INTERNAL;
    w.rc = AK_ERR_INTERNAL;
    w.alone = 0;
    w.state = W_QUEUED;
    w.next = NULL;
    if (b->batch_max <= 1)
        return b->alone(b->user, &w, w.deadline_ms);
    pthread_mutex_lock(&b->mu);
    if (b->inflight < b->max_inflight && b->qhead == NULL) {
        /* Nothing in the way: alone, at once (no added delay at low load). */
        b->inflight++;
        pthread_mutex_unlock(&b->mu);
        rc = b->alone(b->user, &w, w.deadline_ms);
        pthread_mutex_lock(&b->mu);
        slot_release(b);
        pthread_mutex_unlock(&b->mu);
        return rc;
    }
    if (b->qlen >= CN_KSBATCH_QUEUE_MAX || cond_init_mono(&w.cv) != 0) {
        rc = b->qlen >= CN_KSBATCH_QUEUE_MAX ? AK_ERR_BUSY : AK_ERR_INTERNAL;
        pthread_mutex_unlock(&b->mu);
        return rc;
    }
    if (b->qtail != NULL)
        b->qtail->next = &w;
    else
        b->qhead = &w;
    b->qtail = &w;
    b->qlen++;
    wait_turn(b, &w);
    pthread_mutex_unlock(&b->mu);
    pthread_cond_destroy(&w.cv);
    if (w.alone)
        return b->alone(b->user, &w, w.deadline_ms);
    return w.rc;
}
