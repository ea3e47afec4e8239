/*
 * p11_token_many.c - p11_token_sign_many: n signatures at once over the session pool (contract
 * in p11_token.h). The caller's thread hands each item to a free slot's worker, as many as
 * there are free slots, and waits on a per-call condition (p11_batch) that the workers signal
 * when a job is done; finished slots go back to the pool (other callers get their turn) and
 * the next items are handed out. Recovery and the retry are the slot job's (slot_run_job), so
 * each item behaves as a p11_token_sign call. One deadline for the call: items not started by
 * then are AK_ERR_BUSY, items in flight at it are abandoned (AK_ERR_TIMEOUT) and their slots
 * quarantined exactly as in run_job. The batch lives on the caller's stack: a worker touches it
 * only while holding its slot's mutex with the job not yet collected or abandoned, so the
 * caller (which collects or abandons every slot under that mutex before returning) never frees
 * it under a worker.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ak_secmem.h"
#include "ak_sig.h"
#include "p11_token_int.h"

/* ---- batches (p11_token_sign_many) ----------------------------------------------------------- */

/* A free slot now, or AK_ERR_BUSY (never waits). */
static AK_WUR ak_err pool_try_acquire(p11_token *t, p11_slot **out)
{
    ak_err e = AK_ERR_BUSY;
    pthread_mutex_lock(&t->pool_mu);
    if (t->nfree > 0) {
        *out = &t->slots[t->free_stack[--t->nfree]];
        atomic_fetch_add(&t->sessions_in_use, 1);
        e = AK_OK;
    }
    pthread_mutex_unlock(&t->pool_mu);
    return e;
}

/* Hand item i to the (acquired, worker started) slot sl. */
static void batch_dispatch(p11_slot *sl, p11_batch *b, p11_key *k, const uint8_t digest[32])
{
    pthread_mutex_lock(&sl->mu);
    sl->job = JOB_SIGN;
    sl->key = k;
    memcpy(sl->digest, digest, 32);
    sl->batch = b;
    sl->state = SLOT_BUSY;
    pthread_cond_broadcast(&sl->cv);
    pthread_mutex_unlock(&sl->mu);
}

/*
 * Look at an in-flight slot: if its job is done, store the item's result and give the slot
 * back (returns 1); if not and give_up, quarantine it like run_job does on a deadline (the
 * worker releases it when the hung call returns; returns 1); otherwise returns 0.
 */
static int batch_collect(p11_token *t, p11_slot *sl, int give_up, uint8_t der[AK_DER_SIG_MAX],
                         size_t *der_len, ak_err *rc)
{
    pthread_mutex_lock(&sl->mu);
    if (sl->state == SLOT_DONE) {
        ak_err e = sl->result;
        if (e == AK_OK)
            e = ak_der_sig_encode(der, AK_DER_SIG_MAX, der_len, sl->rs, sl->rs + 32);
        *rc = e;
        ak_wipe(sl->rs, sizeof(sl->rs));
        sl->batch = NULL;
        sl->state = SLOT_IDLE;
        pthread_mutex_unlock(&sl->mu);
        p11i_pool_release(t, sl);
        return 1;
    }
    if (give_up) {
        sl->batch = NULL; /* the worker must not touch the batch any more */
        sl->abandoned = 1;
        pthread_mutex_unlock(&sl->mu);
        atomic_fetch_add(&t->timeouts, 1);
        *rc = AK_ERR_TIMEOUT;
        return 1;
    }
    pthread_mutex_unlock(&sl->mu);
    return 0;
}

/* Wait until a worker of the batch reports a completion or dl passes (returns 1 then). */
static int batch_wait(p11_batch *b, const struct timespec *dl)
{
    int expired = 0;
    pthread_mutex_lock(&b->mu);
    while (b->completed == 0) {
        int rc = pthread_cond_timedwait(&b->cv, &b->mu, dl);
        if (rc == ETIMEDOUT && b->completed == 0) {
            expired = 1;
            break;
        }
    }
    b->completed = 0;
    pthread_mutex_unlock(&b->mu);
    return expired;
}

/* Items the call never got to (no session before the deadline). */
static void batch_fail_rest(p11_token *t, size_t from, size_t n, ak_err *item_rc)
{
    for (size_t i = from; i < n; i++) {
        item_rc[i] = AK_ERR_BUSY;
        atomic_fetch_add(&t->timeouts, 1);
    }
}

/* The concurrent case: as many items in flight as free sessions, one shared deadline. */
static AK_WUR ak_err sign_many_pooled(p11_token *t, p11_key *const *keys,
                                      const uint8_t (*digests)[32], size_t n,
                                      uint8_t (*der)[AK_DER_SIG_MAX], size_t *der_len,
                                      ak_err *item_rc)
{
    struct timespec dl = p11i_deadline_after_ms(t->op_timeout_ms);
    size_t cap = n < t->max_sessions ? n : t->max_sessions;
    /* in-flight slots (an array of pointers) ... */
    p11_slot **fly = calloc(cap, sizeof(*fly));        /* NOLINT(bugprone-sizeof-expression) */
    size_t *fly_item = calloc(cap, sizeof(*fly_item)); /* ... and their items */
    size_t nfly = 0, next = 0;
    int expired = 0;
    ak_err e = AK_OK;
    p11_batch b;

    memset(&b, 0, sizeof(b));
    if (fly == NULL || fly_item == NULL) {
        e = AK_ERR_NOMEM;
        goto out;
    }
    pthread_mutex_init(&b.mu, NULL);
    if (p11i_init_cond(&b.cv) != 0) {
        pthread_mutex_destroy(&b.mu);
        e = AK_ERR_INTERNAL;
        goto out;
    }
    while (next < n || nfly > 0) {
        /* hand items to sessions while any is free; block only with nothing in flight */
        while (next < n && !expired && nfly < cap) {
            p11_slot *sl = NULL;
            ak_err a;
            if (p11i_deadline_passed(&dl)) {
                expired = 1; /* never start an item that has no time left */
                break;
            }
            a = nfly > 0 ? pool_try_acquire(t, &sl) : p11i_pool_acquire(t, &sl, &dl);
            if (a != AK_OK && nfly > 0)
                break; /* none free now: wait for one of ours */
            if (a != AK_OK) {
                expired = 1; /* no session before the deadline */
                break;
            }
            a = p11i_slot_start_worker(sl);
            if (a != AK_OK) {
                p11i_pool_release(t, sl);
                item_rc[next++] = a;
                continue;
            }
            batch_dispatch(sl, &b, keys[next], digests[next]);
            fly[nfly] = sl;
            fly_item[nfly] = next;
            nfly++;
            next++;
        }
        if (expired && next < n) {
            batch_fail_rest(t, next, n, item_rc);
            next = n;
        }
        if (nfly == 0)
            continue;
        if (batch_wait(&b, &dl))
            expired = 1;
        for (size_t i = 0; i < nfly;) {
            size_t it = fly_item[i];
            if (!batch_collect(t, fly[i], expired, der[it], &der_len[it], &item_rc[it])) {
                i++;
                continue;
            }
            nfly--;
            fly[i] = fly[nfly];
            fly_item[i] = fly_item[nfly];
        }
    }
    pthread_cond_destroy(&b.cv);
    pthread_mutex_destroy(&b.mu);
out:
    free(fly);
    free(fly_item);
    return e;
}

ak_err p11_token_sign_many(p11_token *t, p11_key *const *keys, const uint8_t (*digests)[32],
                           size_t n, uint8_t (*der)[AK_DER_SIG_MAX], size_t *der_len,
                           ak_err *item_rc)
{
    ak_err e = AK_OK;
    if (t == NULL || keys == NULL || digests == NULL || der == NULL || der_len == NULL ||
        item_rc == NULL || n == 0 || n > P11_SIGN_MANY_MAX)
        return AK_ERR_ARG;
    for (size_t i = 0; i < n; i++) {
        if (keys[i] == NULL)
            return AK_ERR_ARG;
    }
    for (size_t i = 0; i < n; i++) {
        item_rc[i] = AK_ERR_INTERNAL;
        der_len[i] = 0;
    }
    if (atomic_load(&t->inline_calls)) {
        /* no workers: one after another on this thread, each with its own deadline */
        for (size_t i = 0; i < n; i++)
            item_rc[i] =
                p11_token_sign(t, keys[i], digests[i], der[i], AK_DER_SIG_MAX, &der_len[i]);
    } else {
        e = sign_many_pooled(t, keys, digests, n, der, der_len, item_rc);
        if (e != AK_OK) {
            for (size_t i = 0; i < n; i++)
                item_rc[i] = e;
            return e;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (item_rc[i] != AK_OK)
            return item_rc[i];
    }
    return AK_OK;
}
