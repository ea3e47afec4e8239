/*
 * cn_m_tx.c - eth_signTransaction and eth_sendTransaction: parse the transaction object
 * (cn_txreq.c), apply the account's policy, fill gas from the node (cn_txreq_fill.c), then the
 * fees while the shared store's reservation is in flight (cn_nonce_state.h), then sign (and send)
 * it with the client's nonce, or with one cn_nonce or the store allocates.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ak_addr.h"
#include "ak_hex.h"
#include "ak_tx.h"
#include "cn_intent.h"
#include "cn_log.h"
#include "cn_methods.h"
#include "cn_nonce_state.h"
#include "cn_txreq.h"

typedef struct {
    const cn_method_env *env;
    const cn_call *call;
    const cn_account *a;
    int send; /* eth_sendTransaction */
    cn_txreq t;
    char *raw; /* the signed transaction, 0x hex */
    uint8_t hash[32];
    cJSON *res;
} tx_job;

/* Sign t->tx and return the raw transaction as 0x hex (malloc'd) and its hash. */
static char *sign_tx(const cn_account *a, cn_txreq *t, const cn_call *call, uint8_t hash[32],
                     cn_rpc_err *e)
{
    char *hex = NULL;
    uint8_t *raw = malloc(AK_TX_MAX_ENCODED);
    uint8_t digest[32];
    size_t len = 0;
    ak_sig sig;
    ak_err rc;
    if (raw == NULL) {
        cn_err_set(e, CN_E_INTERNAL, "out of memory");
        goto out;
    }
    if ((rc = ak_tx_signing_hash(digest, &t->tx)) != AK_OK) {
        cn_err_set(e, CN_E_PARAMS, "cannot encode the transaction: %s", ak_strerror(rc));
        goto out;
    }
    ak_intent in;
    if (cn_method_sign_intent(a, &sig, digest, call, t->tx.chain_id, &t->tx,
                              cn_intent_tx(&in, &t->tx), e) != AK_OK)
        goto out;
    if ((rc = ak_tx_encode_signed(raw, AK_TX_MAX_ENCODED, &len, &t->tx, &sig)) != AK_OK) {
        cn_err_set(e, CN_E_INTERNAL, "cannot serialise the signed transaction: %s",
                   ak_strerror(rc));
        goto out;
    }
    ak_tx_hash(hash, raw, len); /* of the signed transaction: a blob sidecar is not hashed */
    if (t->has_sidecar) {
        uint8_t *net = NULL;
        if (cn_txreq_network_form(t, &net, &len, raw, len, e) != AK_OK)
            goto out;
        free(raw);
        raw = net;
    }
    hex = malloc(AK_HEX_ENCODED_SIZE(len));
    if (hex == NULL || ak_hex_encode(hex, AK_HEX_ENCODED_SIZE(len), raw, len) != AK_OK) {
        free(hex);
        hex = NULL;
        cn_err_set(e, CN_E_INTERNAL, "out of memory");
    }
out:
    free(raw);
    return hex;
}

/* Submit raw; AK_OK with *result the node's answer (the hash). */
static ak_err send_raw(const cn_transport *ds, const char *raw_hex, cJSON **result,
                       cn_ds_reply *rep)
{
    cJSON *params = cJSON_CreateArray();
    cJSON_AddItemToArray(params, cJSON_CreateString(raw_hex));
    if (cJSON_GetArraySize(params) != 1) {
        cJSON_Delete(params);
        return AK_ERR_NOMEM;
    }
    ak_err rc = cn_ds_call(ds, rep, "eth_sendRawTransaction", params);
    if (rc == AK_OK) {
        *result = rep->result;
        rep->result = NULL;
    }
    return rc;
}

/* Step 1: the one param, the transaction object, and the sender's account. */
static ak_err parse(tx_job *j, const cJSON *params, cn_rpc_err *e)
{
    int n = cJSON_GetArraySize(params);
    if (cJSON_IsArray(params) && n > 1) {
        cn_err_set(e, CN_E_PARAMS, "params[%d] of %s is not understood (expected [transaction])",
                   n - 1, j->call->method);
        return AK_ERR_ARG;
    }
    if (!cJSON_IsArray(params) || n != 1) {
        cn_err_set(e, CN_E_PARAMS, "expected [transaction]");
        return AK_ERR_ARG;
    }
    ak_err rc = cn_txreq_parse(&j->t, cJSON_GetArrayItem(params, 0), j->env->chain_id,
                               j->env->allow_unprotected_tx, j->send ? CN_TXREQ_SIDECAR : 0, e);
    if (rc != AK_OK)
        return rc;
    if (j->send && j->t.type == 3 && !j->t.has_sidecar) {
        cn_err_set(e, CN_E_PARAMS,
                   "eth_sendTransaction of a blob (type 0x3) transaction needs its sidecar: "
                   "blobs, commitments and proofs are missing (the node takes it only with them)");
        return AK_ERR_ARG;
    }
    j->a = cn_method_account_of(j->env, j->t.from, e);
    return j->a != NULL ? AK_OK : AK_ERR_ARG;
}

/* Step 2: the account's policy on the method and the transaction as sent. */
static ak_err admit(tx_job *j, cn_rpc_err *e)
{
    char why[160];
    if (!cn_method_allowed(j->a, j->call->method, e))
        return AK_ERR_FORBIDDEN;
    if (!cn_policy_tx_ok(j->a->policy, &j->t.tx, why, sizeof(why))) {
        cn_err_set(e, CN_E_POLICY, "transaction rejected by the account's policy: %s", why);
        return AK_ERR_FORBIDDEN;
    }
    return AK_OK;
}

/* Step 3, before anything is reserved: the blob fee and gas from the node (a call that reverts
 * is refused here) and the policy on a filled blob fee - the request's own faults never take a
 * nonce (cn_nonce_state.h: a nonce given back behind another one in flight is a gap). */
static ak_err fill_gas(tx_job *j, cn_rpc_err *e)
{
    char why[160];
    ak_err rc = cn_txreq_fill_gas(&j->t, j->env->ds, e);
    if (rc != AK_OK)
        return rc;
    if (j->t.type == 3 &&
        !cn_policy_blob_fee_ok(j->a->policy, &j->t.tx.max_fee_per_blob_gas, why, sizeof(why))) {
        cn_err_set(e, CN_E_POLICY, "transaction rejected by the account's policy: %s", why);
        return AK_ERR_FORBIDDEN;
    }
    return AK_OK;
}

/* Step 3, run by step 4 while the store reserves: the fees from the node. */
static ak_err fill_fees(void *ctx, cn_rpc_err *e)
{
    tx_job *j = ctx;
    return cn_txreq_fill_fees(&j->t, j->env->ds, e);
}

static void log_tx(const tx_job *j)
{
    if (!cn_log_enabled(CN_LOG_INFO))
        return;
    char from[AK_ADDR_STR_SIZE], hs[AK_HEX_ENCODED_SIZE(32)], nonce[24], type[4];
    ak_addr_to_checksum(from, j->t.from);
    if (ak_hex_encode(hs, sizeof(hs), j->hash, 32) != AK_OK)
        hs[0] = '\0';
    snprintf(nonce, sizeof(nonce), "%llu", (unsigned long long)j->t.tx.nonce);
    snprintf(type, sizeof(type), "%d", (int)j->t.tx.type);
    cn_log(CN_LOG_INFO, "transaction signed", "method", j->call->method, "from", from, "nonce",
           nonce, "type", type, "hash", hs, "rpc_id", j->call->rpc_id ? j->call->rpc_id : "",
           (char *)NULL);
}

/* Step 4 (cn_nonce_try_fn): sign with nonce; send it if that is the method. */
static ak_err sign_and_send(void *ctx, uint64_t nonce, int *sent, int *nonce_used, cn_rpc_err *e)
{
    tx_job *j = ctx;
    cn_ds_reply rep = {0};
    j->t.tx.nonce = nonce;
    free(j->raw);
    j->raw = sign_tx(j->a, &j->t, j->call, j->hash, e);
    if (j->raw == NULL)
        return AK_ERR_SIG;
    if (!j->send) {
        log_tx(j);
        j->res = cJSON_CreateString(j->raw);
        return j->res != NULL ? AK_OK : AK_ERR_NOMEM;
    }
    ak_err rc = send_raw(j->env->ds, j->raw, &j->res, &rep);
    if (rc == AK_OK) {
        log_tx(j);
        *sent = 1;
    } else {
        *nonce_used = rep.error != NULL && cn_nonce_retryable(rep.msg);
        cn_err_from_ds(e, rc, &rep, "eth_sendRawTransaction");
    }
    cn_ds_reply_free(&rep);
    return rc;
}

static ak_err pending(void *ctx, uint64_t *out, cn_rpc_err *e)
{
    const tx_job *j = ctx;
    return cn_method_pending_nonce(j->env, j->t.from, out, e);
}

static ak_err own_nonce(void *ctx, cn_rpc_err *e) /* the client chose it: exactly that, once */
{
    tx_job *j = ctx;
    int sent = 0, used = 0;
    return sign_and_send(j, j->t.tx.nonce, &sent, &used, e);
}

static ak_err local_nonce(void *ctx, cn_rpc_err *e)
{
    tx_job *j = ctx;
    return cn_nonce_run(j->env->nonce, j->t.from, pending, sign_and_send, j, e);
}

/*
 * Step 4: the nonce and the account's cumulative cap (cn_nonce_state.h), with the fees filled
 * while the reservation's statement is in flight. With the postgres backend a filled nonce and
 * the reservation are one call to the shared store (after the node's pending count); otherwise
 * the reservation (if the policy has a cap) wraps the client's nonce or the in-process one.
 */
static ak_err allocate(tx_job *j, cn_rpc_err *e)
{
    cn_policy_cumulative c;
    st_spend_limit lim = {0};
    int capped = j->env->state != NULL && cn_policy_cumulative_cap(j->a->policy, &c);
    if (capped)
        lim = (st_spend_limit){c.window_s, c.has_max_value, c.max_value, c.max_tx};
    if (j->env->state_nonces && !j->t.has_nonce)
        return cn_nonce_run_state(j->env->state, j->env->chain_id, j->t.from, &j->t.tx.value,
                                  capped ? &lim : NULL, j->env->nonce_retries, fill_fees, pending,
                                  sign_and_send, j, e);
    return cn_spend_run(j->env->state, j->t.from, &j->t.tx.value, capped ? &lim : NULL, fill_fees,
                        j->t.has_nonce ? own_nonce : local_nonce, j, e);
}

static cJSON *run(const cn_method_env *env, const cn_call *call, const cJSON *params, int send,
                  cn_rpc_err *e)
{
    tx_job j = {.env = env, .call = call, .send = send};
    ak_err rc = parse(&j, params, e);
    if (rc == AK_OK && (rc = admit(&j, e)) == AK_OK && (rc = fill_gas(&j, e)) == AK_OK)
        rc = allocate(&j, e); /* the fees filled meanwhile */
    (void)rc;                 /* e says why */
    if (j.res == NULL && e->code == 0 && e->passthrough == NULL)
        cn_err_set(e, CN_E_INTERNAL, "out of memory");
    free(j.raw);
    cn_txreq_free(&j.t);
    return j.res;
}

cJSON *cn_m_sign_tx(const cn_method_env *env, const cn_call *call, const cJSON *params,
                    cn_rpc_err *e)
{
    return run(env, call, params, 0, e);
}

cJSON *cn_m_send_tx(const cn_method_env *env, const cn_call *call, const cJSON *params,
                    cn_rpc_err *e)
{
    return run(env, call, params, 1, e);
}
