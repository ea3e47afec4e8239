/*
 * cn_opsigner.c - OP Stack remote-signer methods: health_status and block-payload signing
 * (see cn_opsigner.h). Parsing and the digest are ak_opsig's; this file picks the account,
 * applies the guard rails and asks the account's signer.
 */
#include "cn_opsigner.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ak_addr.h"
#include "ak_hex.h"
#include "ak_opsig.h"
#include "cn_audit.h"
#include "cn_log.h"
#include "cn_metrics.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The account to sign with: senderAddress's, or the only one when none is named. */
static cn_account *pick_account(cn_rpc *r, const ak_opsig_block *blk, cn_call_err *e)
{
    cn_account *a;
    char s[AK_ADDR_STR_SIZE];
    if (!blk->has_sender) {
        if (r->n_accounts == 1)
            return &r->accounts[0];
        cn_err_set(e, CN_E_PARAMS,
                   "senderAddress: required when the connector has more than one account");
        return NULL;
    }
    if ((a = cn_rpc_account(r, blk->sender)) == NULL) {
        ak_addr_to_checksum(s, blk->sender);
        cn_err_set(e, CN_E_SIGNER, "no signer configured for address %s", s);
    }
    return a;
}

/* The guard rails: block-gossip domain only, our chain only. */
static int block_allowed(const cn_rpc *r, const ak_opsig_block *blk, cn_call_err *e)
{
    ak_u256 ours;
    char q[AK_U256_DECIMAL_MAX];
    if (!ak_opsig_domain_is_blocks_v1(blk->domain)) {
        cn_err_set(e, CN_E_PARAMS,
                   "domain: only the block-gossip domain (32 zero bytes) is signed: any other "
                   "would let the request choose all 96 signed bytes");
        return 0;
    }
    ak_u256_from_u64(&ours, r->cfg.chain_id);
    if (ak_u256_cmp(&ours, &blk->chain_id) != 0) {
        if (ak_u256_format_decimal(q, sizeof q, &blk->chain_id) != AK_OK)
            snprintf(q, sizeof q, "?");
        cn_err_set(e, CN_E_PARAMS, "chainId: %s is not the connector's chain id %llu", q,
                   (unsigned long long)r->cfg.chain_id);
        return 0;
    }
    return 1;
}

static cJSON *sign_block(cn_rpc *r, const char *method, const cJSON *params, int v2, cn_call_err *e)
{
    ak_opsig_block blk;
    cn_account *a;
    uint8_t digest[32], out[65];
    char why[128], hex[AK_HEX_ENCODED_SIZE(65)];
    ak_sig sig;
    ak_err rc;
    double t0;
    if (!cJSON_IsArray(params) || cJSON_GetArraySize(params) != 1) {
        cn_err_set(e, CN_E_PARAMS, "expected [%s]", v2 ? "BlockPayloadArgsV2" : "BlockPayloadArgs");
        return NULL;
    }
    rc = v2 ? ak_opsig_block_v2_from_json(&blk, cJSON_GetArrayItem(params, 0), why, sizeof why)
            : ak_opsig_block_v1_from_json(&blk, cJSON_GetArrayItem(params, 0), why, sizeof why);
    if (rc != AK_OK) {
        cn_err_set(e, rc == AK_ERR_NOMEM ? CN_E_INTERNAL : CN_E_PARAMS, "invalid params: %s",
                   rc == AK_ERR_NOMEM ? "out of memory" : why);
        return NULL;
    }
    if (!block_allowed(r, &blk, e) || (a = pick_account(r, &blk, e)) == NULL)
        return NULL;
    /* V1 and V2 are one method for policies (as eth_signTypedData / _v4 are). */
    char pwhy[192];
    if (!cn_policy_method_check(a->policy, "opsigner_signBlockPayload", pwhy, sizeof pwhy)) {
        cn_err_set(e, CN_E_POLICY, "%s", pwhy);
        return NULL;
    }
    ak_opsig_signing_hash(digest, &blk);
    cn_sign_ctx ctx = {method, NULL, r->cfg.chain_id, time(NULL), NULL};
    t0 = now_s();
    rc = cn_audit_sign_eth(a->signer, &sig, digest, &ctx); /* signs and audits */
    cn_metrics_sign((size_t)(a - r->accounts), rc == AK_OK, now_s() - t0);
    if (rc != AK_OK) {
        cn_err_set(e, CN_E_SIGNER, "signer %s failed: %s", a->signer->name, ak_strerror(rc));
        cn_log(CN_LOG_WARN, "signing failed", "method", method, "signer", a->signer->name, "error",
               ak_errname(rc), (char *)NULL);
        return NULL;
    }
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

cJSON *cn_opsigner_dispatch(cn_rpc *r, const char *method, const cJSON *params, cn_call_err *e,
                            int *handled)
{
    *handled = 1;
    if (strcmp(method, "health_status") == 0) {
        /* As op-service's RPC server: the version string (their client logs "ok [version=..]"). */
        cJSON *res = cJSON_CreateString(AK_VERSION);
        if (res == NULL)
            cn_err_set(e, CN_E_INTERNAL, "out of memory");
        return res;
    }
    if (strcmp(method, "opsigner_signBlockPayload") == 0)
        return sign_block(r, method, params, 0, e);
    if (strcmp(method, "opsigner_signBlockPayloadV2") == 0)
        return sign_block(r, method, params, 1, e);
    *handled = 0;
    return NULL;
}
