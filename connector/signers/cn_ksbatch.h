/*
 * cn_ksbatch.h - the batching queue of the keyless/custom signer (group commit toward the key
 * server; the rules are in cn_signer_keyless.h, the measured effect in docs/benchmarks.md).
 *
 * At most max_inflight requests are in flight per queue. A signature that finds a free slot and
 * nobody waiting is sent alone, at once (no added delay at low load); the others wait, and each
 * slot that frees carries up to batch_max of them to the caller's batch hook. A signature still
 * waiting for a slot at its deadline fails with AK_ERR_TIMEOUT; more than CN_KSBATCH_QUEUE_MAX
 * waiting -> AK_ERR_BUSY.
 *
 * Owns: the queue and its lock, nothing else. Items live on their callers' stacks; an item is
 * only touched under the queue's lock, and its caller returns only once it is done (or it left
 * the queue itself at its deadline). The caller that leads a batch owns the members' out buffers
 * until it marks them done. No I/O here: the two hooks send. Thread-safe.
 */
#ifndef CN_KSBATCH_H
#define CN_KSBATCH_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "ak_err.h"
#include "cn_signer.h"

#define CN_KSBATCH_MAX       256 /* batch_max and max_inflight bound (the key server's max_batch) */
#define CN_KSBATCH_QUEUE_MAX 4096 /* waiting signatures per queue; more -> AK_ERR_BUSY */

/* One signature waiting for (or travelling in) a batch. The caller fills the first members. */
typedef struct cn_ksb_item {
    const uint8_t *digest;
    const char *intent; /* the intent's JSON text, or NULL: digest only */
    char *why;          /* the server's reason for a refusal (may be NULL) */
    size_t why_cap;
    const char *rid;
    int64_t deadline_ms; /* rt_clock monotonic milliseconds */
    cn_raw_sig *out;
    /* Set by the batch hook: */
    ak_err rc;
    int alone; /* the batch could not carry it: it is sent again alone */
    /* Private to cn_ksbatch: */
    int state;
    pthread_cond_t cv;
    struct cn_ksb_item *next;
} cn_ksb_item;

/* Send one item alone until deadline_ms (with retries and failover): its result. */
typedef ak_err (*cn_ksb_alone_fn)(void *user, const cn_ksb_item *it, int64_t deadline_ms);
/* Send n >= 2 items as one request: set each item's rc (or alone). */
typedef void (*cn_ksb_batch_fn)(void *user, cn_ksb_item *const *items, size_t n);

typedef struct cn_ksbatch cn_ksbatch;

/* A queue; batch_max 1 sends every signature alone (no queue). Free with cn_ksbatch_free. */
AK_WUR ak_err cn_ksbatch_new(cn_ksbatch **out, unsigned batch_max, unsigned max_inflight,
                             cn_ksb_alone_fn alone, cn_ksb_batch_fn batch, void *user);
void cn_ksbatch_free(cn_ksbatch *b); /* NULL allowed; no signature may be in progress */

/* The signature of item (copied: the caller's item is not modified) - alone at once, or queued
 * for a batch. */
AK_WUR ak_err cn_ksbatch_sign(cn_ksbatch *b, const cn_ksb_item *item);

#endif
