/*
 * cn_methods.h - the JSON-RPC methods the connector answers itself, as one table of rows
 * {name, canonical, flags, kind, fn}. The table is read by the router's lookup, the metrics
 * label set, the policies' allowed_methods (its names, aliases, intent kinds and error text) and
 * the rate limit's count of signing calls (cn_methods_publish hands it down at start). Anything
 * not in a table is forwarded to the node.
 *
 * Built-in rows: eth_accounts, eth_requestAccounts, eth_sign, personal_sign, eth_signTypedData,
 * eth_signTypedData_v4 (cn_methods.c), eth_signTransaction, eth_sendTransaction (cn_m_tx.c),
 * anode_signAuthorization (cn_m_auth.c), health_status and opsigner_signBlockPayload(V2)
 * (cn_opsigner.c). Other modules add tables of the same rows (the paymaster's pm_*).
 *
 * A method runs with the router's environment (const: accounts, node, chain, nonces) and its
 * call (name as called, its JSON-RPC id, its table's context); it returns a result (caller frees)
 * or NULL with e set. Methods never see the router.
 */
#ifndef CN_METHODS_H
#define CN_METHODS_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "ak_policy.h"
#include "ak_sig.h"
#include "cn_account.h"
#include "cn_downstream.h"
#include "cn_nonce.h"
#include "cn_rpc_err.h"
#include "st_store.h"

/* Row flags. */
#define CN_M_SIGNS  (1u << 0) /* asks one of our accounts for a signature (rate limit counts it) */
#define CN_M_POLICY (1u << 1) /* policy.allowed_methods may name it (as its canonical name) */

typedef struct {
    const cn_account *accounts; /* the connector's accounts, n_accounts of them */
    size_t n_accounts;
    const cn_transport *ds; /* the node */
    uint64_t chain_id;      /* non-zero */
    int allow_unprotected_tx;
    cn_nonce *nonce;  /* filled nonces (cn_nonce.h) */
    st_store *state;  /* NULL, or the state store: cumulative caps (cn_nonce_state.h) */
    int state_nonces; /* 1: the store also fills nonces (postgres), not cn_nonce */
    unsigned nonce_retries;
} cn_method_env;

typedef struct {
    const char *method; /* the name as called (an alias stays itself) */
    const char *rpc_id; /* the call's JSON-RPC id as text (a short token), or NULL */
    void *ctx;          /* the context of the row's table */
} cn_call;

typedef cJSON *(*cn_method_fn)(const cn_method_env *env, const cn_call *call, const cJSON *params,
                               cn_rpc_err *e);

typedef struct {
    const char *name;
    const char *canonical; /* NULL, or the method it is an alias of (one policy and audit name) */
    unsigned flags;        /* CN_M_* */
    ak_intent_kind kind;   /* what it signs (CN_M_POLICY rows: policy "serves") */
    cn_method_fn fn;
} cn_method;

typedef struct {
    const cn_method *rows;
    size_t n;
    void *ctx; /* handed to its rows' fn as call->ctx */
} cn_method_table;

/* The built-in table (static; ctx NULL). */
const cn_method_table *cn_methods_builtin(void);

/* The row named name in tables[0..n) (the first one wins), or NULL; *ctx its table's context. */
const cn_method *cn_methods_find(const cn_method_table *const *tables, size_t n, const char *name,
                                 void **ctx);

/*
 * Hand the rows of tables[0..n) to the metrics label set and to the policies (names, aliases,
 * kinds, signing methods). Call once at start-up, before any policy is parsed; the tables must
 * outlive the process. AK_ERR_RANGE if they hold more than 32 rows.
 */
AK_WUR ak_err cn_methods_publish(const cn_method_table *const *tables, size_t n);

/* The built-in rows' functions, one file per family: transactions (cn_m_tx.c), EIP-7702
 * authorizations (cn_m_auth.c), the OP Stack signer (cn_opsigner.c). */
cJSON *cn_m_sign_tx(const cn_method_env *env, const cn_call *call, const cJSON *params,
                    cn_rpc_err *e);
cJSON *cn_m_send_tx(const cn_method_env *env, const cn_call *call, const cJSON *params,
                    cn_rpc_err *e);
cJSON *cn_m_sign_authorization(const cn_method_env *env, const cn_call *call, const cJSON *params,
                               cn_rpc_err *e);
cJSON *cn_opsigner_health(const cn_method_env *env, const cn_call *call, const cJSON *params,
                          cn_rpc_err *e);
cJSON *cn_opsigner_sign_block(const cn_method_env *env, const cn_call *call, const cJSON *params,
                              cn_rpc_err *e);

/* "0x" r || s || v (65 bytes, v = 27/28) as a JSON string, or NULL (out of memory). */
cJSON *cn_m_rsv_result(const ak_sig *sig);

/* Helpers for the methods (cn_methods.c). */
/* 1 if params is an array of min..max items; else 0 with -32602 "expected <shape>", or for too
 * many "params[i] of <method> is not understood (expected <shape>)". */
int cn_method_params(const cJSON *params, int min, int max, const char *method, const char *shape,
                     cn_rpc_err *e);
/* The account named by an address param: -32602 when it is not one, -32000 when not ours. */
const cn_account *cn_method_account(const cn_method_env *env, const cJSON *v, cn_rpc_err *e);
/* The account for addr, or NULL with -32000 "no signer configured for address 0x..". */
const cn_account *cn_method_account_of(const cn_method_env *env, const uint8_t addr[20],
                                       cn_rpc_err *e);
/* The account's policy allows this method (a refusal: -32003 naming the rule). */
int cn_method_allowed(const cn_account *a, const char *method, cn_rpc_err *e);
/* Sign as a, with the intent the digest is the hash of (cn_intent.h; NULL: digest only) for a
 * backend that sends it; on failure e = -32000 "signer <name> failed: <reason>", a backend's
 * reason appended. */
AK_WUR ak_err cn_method_sign_intent(const cn_account *a, ak_sig *sig, const uint8_t digest[32],
                                    const cn_call *call, uint64_t chain_id, const void *tx,
                                    const ak_intent *intent, cn_rpc_err *e);
/* The node's pending transaction count for addr. */
AK_WUR ak_err cn_method_pending_nonce(const cn_method_env *env, const uint8_t addr[20],
                                      uint64_t *out, cn_rpc_err *e);

#endif
