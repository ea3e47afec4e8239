/*
 * cn_rpc.h - the connector's JSON-RPC 2.0 router: parses one HTTP request body (a single call or
 * a batch), answers the signing methods with the configured signers, forwards everything else to
 * the downstream node unchanged, and produces the HTTP response body.
 *
 * Spec (JSON-RPC 2.0 + issue 4): invalid JSON -> -32700 with id null; not a request object /
 * empty batch / oversized batch -> -32600 (a single error object, id null unless the id was
 * readable); bad params -> -32602; internal -> -32603; signer failure -> -32000 (also: address
 * not ours); downstream answered unusably -> -32001; downstream unreachable or timed out ->
 * -32002. Errors the node itself returns to a call made on the client's behalf (eth_estimateGas,
 * eth_sendRawTransaction) are passed through unchanged. Notifications (no "id") are executed and
 * get no response; a batch of only notifications gives an empty body. Batch members are
 * processed concurrently (up to batch_threads at once) and answered in request order. Ids are
 * echoed with their exact text (numbers too: the raw text is located in the body and used when
 * it parses to the same value). A forwarded call - single or batch member - is sent as its exact
 * request bytes and answered with the node's exact response bytes. A batch's forwarded members
 * go to the node as batches of up to 20 (sent concurrently), answers matched by id; one by one
 * when ids are null or repeated, or when the node refused a batch as a whole (then smaller
 * batches for a while). A delivered request is never sent again.
 *
 * The methods answered here are the rows of method tables (cn_methods.h): the built-in one and
 * cfg.extra's. A call's id that is a short token is its signatures' "rpc_id" in the audit record
 * and in the log lines (each signature's request_id, sent to the backend, is the audit's).
 *
 * Ownership: the router borrows the signers, policies, tables and the transport; they must
 * outlive it.
 * Thread-safe: cn_rpc_handle() may run on many threads at once.
 */
#ifndef CN_RPC_H
#define CN_RPC_H

#include <stddef.h>
#include <stdint.h>

#include "ak_err.h"
#include "cn_downstream.h"
#include "cn_methods.h"
#include "cn_policy.h"
#include "cn_signer.h"
#include "rt_clock.h"

#define CN_RPC_MAX_ACCOUNTS 64
#define CN_RPC_MAX_EXTRA    4
#define CN_RPC_ID_MAX       41 /* a call's id kept as its "rpc_id": up to 40 characters */

typedef struct {
    cn_signer *const *signers;        /* one per account; the signer's address is the account */
    size_t n_signers;                 /* 1..CN_RPC_MAX_ACCOUNTS */
    const cn_policy *const *policies; /* per account, parallel to signers; NULL or NULL entries:
                                         no policy (borrowed, outlives the router) */
    cn_transport downstream;
    uint64_t chain_id;        /* non-zero */
    int allow_unprotected_tx; /* allow legacy pre-EIP-155 signing when asked with chainId 0 */
    unsigned nonce_retries;   /* extra attempts on nonce errors (0..10) */
    size_t max_batch;         /* members per batch (1..10000) */
    unsigned batch_threads;   /* concurrent members per batch (1..64) */
    const cn_method_table *const *extra; /* more method tables (the paymaster's), */
    size_t n_extra;                      /* looked up before the built-in one (<= 4) */
    const rt_clock *clock;               /* NULL: the system clock */
    unsigned max_sign_per_batch;         /* signing calls one batch may carry (0: max_batch) */
    struct cn_rate *rate;                /* per-client signing rate limit (cn_rate.h); NULL: none */
    st_store *state;  /* NULL, or the state store: cumulative caps (borrowed; issue 13) */
    int state_nonces; /* 1: filled nonces from the store too (postgres) instead of in-process */
    /* Hot reload (app/cn_app_gen): routers of successive generations share these. */
    struct cn_nonce *nonce;     /* NULL: the router's own; else borrowed, holding every signer's
                                   address (cn_nonce_new_shared + cn_nonce_add) */
    const size_t *metric_index; /* per account, its metrics label slot; NULL: its position */
} cn_rpc_config;

typedef struct cn_rpc cn_rpc;

AK_WUR ak_err cn_rpc_new(cn_rpc **out, const cn_rpc_config *cfg);
void cn_rpc_free(cn_rpc *r); /* NULL allowed */

/*
 * Handle one HTTP body; body[len] must be '\0' (the body itself may not contain NUL bytes: that is
 * a parse error). On AK_OK, *out is a malloc'd response body (caller frees) or NULL with
 * *out_len 0 when there is nothing to answer (notifications). Only AK_ERR_NOMEM fails.
 */
AK_WUR ak_err cn_rpc_handle(cn_rpc *r, const char *body, size_t len, char **out, size_t *out_len);

/*
 * cn_rpc_handle for an identified client (cn_auth_client_id; NULL = "anonymous"): before
 * anything runs, a batch carrying more than max_sign_per_batch signing calls is refused (-32600)
 * and the request's signing calls are taken from the client's rate-limit bucket, all or none
 * (none: the whole request is refused with -32005 and counted; no signer is asked).
 */
AK_WUR ak_err cn_rpc_handle_as(cn_rpc *r, const char *client, const char *body, size_t len,
                               char **out, size_t *out_len);

#endif
