/*
 * cn_rpc_impl.h - private to the router's modules (cn_rpc.c, cn_methods.c, cn_txreq.c): the
 * router state and the error record a method fills in. Not for other modules.
 */
#ifndef CN_RPC_IMPL_H
#define CN_RPC_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "cn_rpc.h"

/* JSON-RPC error codes (JSON-RPC 2.0 section 5.1, and ours). */
#define CN_E_PARSE           (-32700)
#define CN_E_INVALID_REQUEST (-32600)
#define CN_E_METHOD          (-32601)
#define CN_E_PARAMS          (-32602)
#define CN_E_INTERNAL        (-32603)
#define CN_E_SIGNER          (-32000)
#define CN_E_DOWNSTREAM      (-32001)
#define CN_E_NETWORK         (-32002)
#define CN_E_POLICY          (-32003) /* EIP-1474 "transaction rejected": the account's policy */

typedef struct {
    int code;           /* 0 = no error */
    char message[256];  /* secret-free, sent to the client */
    cJSON *passthrough; /* a node's own error object to return unchanged (owned) */
} cn_call_err;

typedef struct {
    cn_signer *signer;
    const cn_policy *policy;   /* NULL: none */
    pthread_mutex_t send_lock; /* serialises eth_sendTransaction with a filled nonce */
    int have_next;
    uint64_t next_nonce; /* lowest nonce not yet used by us, when have_next */
    uint64_t
        next_set_ms; /* monotonic time next_nonce was last set (it expires, see cn_methods.c) */
} cn_account;

struct cn_rpc {
    cn_rpc_config cfg;
    cn_account accounts[CN_RPC_MAX_ACCOUNTS];
    size_t n_accounts;
    atomic_uint fwd_cut;        /* 0, or the smaller downstream batch size after a refusal */
    _Atomic int64_t fwd_cut_ms; /* ... since when (monotonic ms) */
};

void cn_err_set(cn_call_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Map a cn_ds_call failure: the node's error object passes through, else -32002 / -32001. */
void cn_err_from_ds(cn_call_err *e, ak_err rc, cn_ds_reply *reply, const char *method);

/* The account for addr, or NULL. */
cn_account *cn_rpc_account(cn_rpc *r, const uint8_t addr[20]);

/*
 * Answer method if it is one of ours: *handled = 1 and the result (owned by the caller), or
 * NULL with e set. *handled = 0 means forward it.
 */
cJSON *cn_methods_dispatch(cn_rpc *r, const char *method, const cJSON *params, cn_call_err *e,
                           int *handled);

#endif
