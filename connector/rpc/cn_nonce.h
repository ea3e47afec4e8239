/*
 * cn_nonce.h - the nonce of a transaction whose sender left it out (eth_sendTransaction,
 * eth_signTransaction): one sender's fills are serialised, and each gets the node's pending
 * count, or our own next nonce while that is higher and younger than the trust window.
 *
 * Why the window: our own count only bridges the moment before the node's pending count includes
 * what we just sent. Past CN_NONCE_TRUST_MS the node is right: a dropped transaction, a node
 * restart or a reorg must not leave every later send queued behind a nonce gap.
 * Retry rule: when the node refuses a sent transaction's nonce as used ("nonce too low",
 * "already known", "replacement transaction underpriced", "transaction already imported": geth,
 * anvil, reth wording), the next nonce is tried, up to `retries` more times.
 *
 * The per-sender state (the lock, the next nonce and when it was set) lives behind a store
 * (cn_nonce_store_ops): cn_nonce_new() uses the in-process one; a store shared by several
 * connectors (issue 13) implements the same four calls. Time comes from the injected clock.
 * Thread-safe: any number of threads may allocate at once (one at a time per sender).
 */
#ifndef CN_NONCE_H
#define CN_NONCE_H

#include <stddef.h>
#include <stdint.h>

#include "ak_err.h"
#include "cn_rpc_err.h"
#include "rt_clock.h"

#define CN_NONCE_TRUST_MS    2000
#define CN_NONCE_MAX_RETRIES 10

/* A store of per-sender nonce state. begin/end bracket one allocation (exclusive per sender). */
typedef struct {
    AK_WUR ak_err (*begin)(void *st, const uint8_t addr[20]);
    /* *have = 0 when nothing is recorded for addr. */
    AK_WUR ak_err (*get)(void *st, const uint8_t addr[20], int *have, uint64_t *next,
                         int64_t *set_ms);
    AK_WUR ak_err (*put)(void *st, const uint8_t addr[20], uint64_t next, int64_t set_ms);
    void (*end)(void *st, const uint8_t addr[20]);
    void (*destroy)(void *st);
} cn_nonce_store_ops;

typedef struct cn_nonce cn_nonce;

/* The in-process store for these senders (1..64). clock NULL: the system clock. */
AK_WUR ak_err cn_nonce_new(cn_nonce **out, const uint8_t (*addrs)[20], size_t n, unsigned retries,
                           const rt_clock *clock);
/* Another store: takes st (ops->destroy frees it with the allocator, also on failure). */
AK_WUR ak_err cn_nonce_new_store(cn_nonce **out, const cn_nonce_store_ops *ops, void *st,
                                 unsigned retries, const rt_clock *clock);
void cn_nonce_free(cn_nonce *n); /* NULL allowed */

/*
 * Hot reload: one in-process store outlives the routers of successive configuration generations,
 * so that a sender's fills stay serialised across a reload. It starts empty with room for cap
 * senders (1..CN_NONCE_SHARED_MAX); cn_nonce_add gives each new sender of addrs a slot (slots are
 * never reused: AK_ERR_RANGE once cap senders were seen). cn_nonce_add runs on one thread at a
 * time, while any number of others allocate; AK_ERR_ARG for a store that is not in-process.
 */
#define CN_NONCE_SHARED_MAX 4096
AK_WUR ak_err cn_nonce_new_shared(cn_nonce **out, size_t cap, unsigned retries,
                                  const rt_clock *clock);
AK_WUR ak_err cn_nonce_add(cn_nonce *n, const uint8_t (*addrs)[20], size_t count);

/* The node's pending transaction count for the sender (e set on failure). */
typedef ak_err (*cn_nonce_pending_fn)(void *ctx, uint64_t *pending, cn_rpc_err *e);
/*
 * Sign with nonce (and send it, if that is the method): AK_OK with *sent = 1 when the node took
 * it (the nonce is used), 0 when nothing was sent (eth_signTransaction). On failure e is set and
 * *nonce_used = 1 when the node refused the nonce as used (cn_nonce_retryable).
 */
typedef ak_err (*cn_nonce_try_fn)(void *ctx, uint64_t nonce, int *sent, int *nonce_used,
                                  cn_rpc_err *e);

/* One allocation for addr: pending, pick, try; again on a used nonce (the retry rule). */
AK_WUR ak_err cn_nonce_run(cn_nonce *n, const uint8_t addr[20], cn_nonce_pending_fn pending,
                           cn_nonce_try_fn attempt, void *ctx, cn_rpc_err *e);

/* 1 if the node's error message says the nonce is already used (the retry rule's wording). */
int cn_nonce_retryable(const char *node_msg);

#endif
