/*
 * cn_rpc_batch.h - a JSON-RPC 2.0 batch (cn_rpc.h): its members run concurrently, up to
 * `threads` at once (this thread plus idle workers of a persistent pool), and are answered in
 * request order. Members to forward are only recorded while they run, then go to the node as
 * batches of up to 20 (sent concurrently), answers matched by id; one by one when ids are null or
 * repeated, or when the node refused a batch as a whole (then smaller batches for 10 minutes).
 * A delivered request is never sent again.
 *
 * Owns: the worker pool (threads workers, a queue of 1024 jobs), the "smaller batches" state.
 * Borrows the transport and the clock (they outlive it). Thread-safe: cn_rpc_batch_run may run
 * on many threads at once.
 */
#ifndef CN_RPC_BATCH_H
#define CN_RPC_BATCH_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "ak_err.h"
#include "cn_downstream.h"
#include "cn_rpc_msg.h"
#include "rt_clock.h"

typedef struct cn_rpc_batch cn_rpc_batch;

/*
 * One member's processing (the router's): fill ans, or record a call to forward in it
 * (ans->deferred with raw, raw_len, id, notification). raw: the member's exact bytes, NULL when
 * unknown. Only AK_ERR_NOMEM fails.
 */
typedef ak_err (*cn_rpc_member_fn)(void *ctx, cn_rpc_answer *ans, const cJSON *req, const char *raw,
                                   size_t raw_len);

/* threads: 1..64; ds: the node; clock NULL: the system clock. */
AK_WUR ak_err cn_rpc_batch_new(cn_rpc_batch **out, unsigned threads, const cn_transport *ds,
                               const rt_clock *clock);
void cn_rpc_batch_free(cn_rpc_batch *b); /* NULL allowed */

/*
 * Run the batch arr (a non-empty array, parsed from body[0..len)) with fn(ctx, ...) per member.
 * *out: the malloc'd response array (caller frees), or NULL with *out_len 0 when every member was
 * a notification. Only AK_ERR_NOMEM fails.
 */
AK_WUR ak_err cn_rpc_batch_run(cn_rpc_batch *b, cn_rpc_member_fn fn, void *ctx, const cJSON *arr,
                               const char *body, size_t len, char **out, size_t *out_len);

#endif
