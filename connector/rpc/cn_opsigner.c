/*
 * cn_opsigner.c - the OP Stack remote-signer methods the connector answers itself, so that
 * op-batcher, op-proposer and op-node can use it as their `--signer.endpoint`
 * (ethereum-optimism/optimism op-service/signer, served by ethereum-optimism/infra op-signer):
 *
 *   health_status                  -> our version, e.g. "0.1.0" (their client calls it at start-up)
 *   opsigner_signBlockPayload      [BlockPayloadArgs]   -> "0x" r || s || yParity (65 bytes)
 *   opsigner_signBlockPayloadV2    [BlockPayloadArgsV2] -> the same
 *
 * (eth_signTransaction is cn_methods.c's.) Block payloads are signed only with the block-gossip
 * domain (32 zero bytes) and the connector's chain id, by the account named in senderAddress
 * (or the only account), under its policy's "opsigner_signBlockPayload" method. The three are
 * rows of the built-in method table (cn_methods.c; functions declared in cn_methods.h).
 */
/* Parsing and the digest are ak_opsig's; this file picks the account, applies the guard rails
 * and asks the account to sign. */
#include <stdio.h>
#include <string.h>

#include "ak_hex.h"
#include "ak_opsig.h"
#include "cn_intent.h"
#include "cn_methods.h"

/* The account to sign with: senderAddress's, or the only one when none is named. */
static const cn_account *pick_account(const cn_method_env *env, const ak_opsig_block *blk,
                                      cn_rpc_err *e)
{
    if (blk->has_sender)
        return cn_method_account_of(env, blk->sender, e);
    if (env->n_accounts == 1)
        return &env->accounts[0];
    cn_err_set(e, CN_E_PARAMS,
               "senderAddress: required when the connector has more than one account");
    return NULL;
}

/* The guard rails: block-gossip domain only, our chain only. */
static int block_allowed(const cn_method_env *env, const ak_opsig_block *blk, cn_rpc_err *e)
{
    ak_u256 ours;
    char q[AK_U256_DECIMAL_MAX];
    if (!ak_opsig_domain_is_blocks_v1(blk->domain)) {
        cn_err_set(e, CN_E_PARAMS,
                   "domain: only the block-gossip domain (32 zero bytes) is signed: any other "
                   "would let the request choose all 96 signed bytes");
        return 0;
    }
    ak_u256_from_u64(&ours, env->chain_id);
    if (ak_u256_cmp(&ours, &blk->chain_id) != 0) {
        if (ak_u256_format_decimal(q, sizeof q, &blk->chain_id) != AK_OK)
            snprintf(q, sizeof q, "?");
        cn_err_set(e, CN_E_PARAMS, "chainId: %s is not the connector's chain id %llu", q,
                   (unsigned long long)env->chain_id);
        return 0;
    }
    return 1;
}

cJSON *cn_opsigner_sign_block(const cn_method_env *env, const cn_call *call, const cJSON *params,
                              cn_rpc_err *e)
{
    int v2 = strcmp(call->method, "opsigner_signBlockPayloadV2") == 0;
    ak_opsig_block blk;
    const cn_account *a;
    uint8_t digest[32], out[65];
    char why[128], hex[AK_HEX_ENCODED_SIZE(65)];
    ak_sig sig;
    ak_err rc;
    if (!cn_method_params(params, 1, 1, call->method,
                          v2 ? "[BlockPayloadArgsV2]" : "[BlockPayloadArgs]", e))
        return NULL;
    rc = v2 ? ak_opsig_block_v2_from_json(&blk, cJSON_GetArrayItem(params, 0), why, sizeof why)
            : ak_opsig_block_v1_from_json(&blk, cJSON_GetArrayItem(params, 0), why, sizeof why);
    if (rc != AK_OK) {
        cn_err_set(e, rc == AK_ERR_NOMEM ? CN_E_INTERNAL : CN_E_PARAMS, "invalid params: %s",
                   rc == AK_ERR_NOMEM ? "out of memory" : why);
        return NULL;
    }
    if (!block_allowed(env, &blk, e) || (a = pick_account(env, &blk, e)) == NULL)
        return NULL;
    /* V1 and V2 are one method for policies (as eth_signTypedData / _v4 are). */
    char pwhy[192];
    if (!cn_policy_method_check(a->policy, "opsigner_signBlockPayload", pwhy, sizeof pwhy)) {
        cn_err_set(e, CN_E_POLICY, "%s", pwhy);
        return NULL;
    }
    ak_intent in;
    ak_opsig_signing_hash(digest, &blk);
    if (cn_method_sign_intent(a, &sig, digest, call, env->chain_id, NULL,
                              cn_intent_block(&in, &blk), e) != AK_OK)
        return NULL;
    ak_opsig_signature65(out, &sig);
    if (ak_hex_encode(hex, sizeof hex, out, sizeof out) != AK_OK) {
        cn_err_set(e, CN_E_INTERNAL, "internal error");
        return NULL;
    }
    cJSON *res = cJSON_CreateString(hex);
    if (res == NULL)
        cn_err_set(e, CN_E_INTERNAL, "out of memory");
    return res;
}

cJSON *cn_opsigner_health(const cn_method_env *env, const cn_call *call, const cJSON *params,
                          cn_rpc_err *e)
{
    (void)env;
    (void)call;
    (void)params;
    /* As op-service's RPC server: the version string (their client logs "ok [version=..]"). */
    cJSON *res = cJSON_CreateString(AK_VERSION);
    if (res == NULL)
        cn_err_set(e, CN_E_INTERNAL, "out of memory");
    return res;
}
