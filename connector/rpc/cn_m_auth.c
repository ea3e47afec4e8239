/*
 * cn_m_auth.c - EIP-7702 authorizations signed by our accounts (issue 10).
 *
 * anode_signAuthorization [authority, {address, chainId?, nonce?, executor?}]: the authority (one
 * of our accounts) signs keccak256(0x05 || rlp([chainId, address, nonce])) (EIP-7702) and gets
 * the signed tuple {chainId, address, nonce, yParity, r, s} that authorizationList takes. No
 * JSON-RPC method is standard for this (viem refuses JSON-RPC accounts, ethers has none), hence
 * our prefix. chainId: absent = ours; 0x0 (every chain) only if the policy allows it. nonce:
 * absent = the authority's pending nonce from the node, + 1 when executor is "self" or the
 * authority's own address (the authority also sends the transaction that carries it, whose
 * own nonce is used first; as viem's executor: 'self').
 */
#include <string.h>

#include "ak_addr.h"
#include "ak_auth.h"
#include "ak_hex.h"
#include "ak_u256.h"
#include "cn_intent.h"
#include "cn_methods.h"
#include "cn_txreq.h"

static const char *const AUTH_REQUEST_MEMBERS[] = {"address", "chainId", "nonce", "executor"};

/* The request object's members into auth; *fill_nonce / *plus_one when the nonce is ours to
 * fill. */
static int auth_request(const cn_method_env *env, const cJSON *req, const cn_account *a,
                        ak_auth *auth, int *fill_nonce, int *plus_one, cn_rpc_err *e)
{
    const cJSON *addr = cJSON_GetObjectItemCaseSensitive(req, "address");
    const cJSON *chain = cJSON_GetObjectItemCaseSensitive(req, "chainId");
    const cJSON *nonce = cJSON_GetObjectItemCaseSensitive(req, "nonce");
    const cJSON *exec = cJSON_GetObjectItemCaseSensitive(req, "executor");
    if (!cJSON_IsObject(req)) {
        cn_err_set(e, CN_E_PARAMS,
                   "params[1] must be an object {address, chainId, nonce, executor}");
        return 0;
    }
    if (!cn_txreq_members_known(req, AUTH_REQUEST_MEMBERS, 4, "the authorization request", e))
        return 0;
    if (!cJSON_IsString(addr) ||
        ak_addr_parse(auth->address, addr->valuestring, strlen(addr->valuestring)) != AK_OK) {
        cn_err_set(e, CN_E_PARAMS, "invalid or missing address (the delegate)");
        return 0;
    }
    ak_u256 ours;
    ak_u256_from_u64(&ours, env->chain_id);
    auth->chain_id = ours;
    if (chain != NULL &&
        (!cJSON_IsString(chain) ||
         ak_u256_parse_quantity(&auth->chain_id, chain->valuestring, strlen(chain->valuestring)) !=
             AK_OK ||
         (!ak_u256_is_zero(&auth->chain_id) && ak_u256_cmp(&auth->chain_id, &ours) != 0))) {
        cn_err_set(e, CN_E_PARAMS, "chainId must be this chain (%llu) or 0x0",
                   (unsigned long long)env->chain_id);
        return 0;
    }
    *fill_nonce = nonce == NULL;
    if (nonce != NULL &&
        (!cJSON_IsString(nonce) || ak_quantity_parse_u64(&auth->nonce, nonce->valuestring,
                                                         strlen(nonce->valuestring)) != AK_OK)) {
        cn_err_set(e, CN_E_PARAMS, "invalid nonce: expected a 0x quantity below 2^64");
        return 0;
    }
    *plus_one = 0;
    if (exec != NULL) {
        uint8_t ex[20];
        int self = cJSON_IsString(exec) && strcmp(exec->valuestring, "self") == 0;
        if (!self && (!cJSON_IsString(exec) ||
                      ak_addr_parse(ex, exec->valuestring, strlen(exec->valuestring)) != AK_OK)) {
            cn_err_set(e, CN_E_PARAMS, "executor must be \"self\" or an address");
            return 0;
        }
        if (nonce != NULL) {
            cn_err_set(e, CN_E_PARAMS,
                       "executor only decides a filled nonce: give nonce or "
                       "executor, not both");
            return 0;
        }
        *plus_one = self || memcmp(ex, a->signer->address, 20) == 0;
    }
    return 1;
}

cJSON *cn_m_sign_authorization(const cn_method_env *env, const cn_call *call, const cJSON *params,
                               cn_rpc_err *e)
{
    const char *method = call->method;
    ak_auth auth;
    ak_sig sig;
    uint8_t digest[32];
    char why[192];
    int fill_nonce = 0, plus_one = 0;
    memset(&auth, 0, sizeof(auth));
    if (!cn_method_params(params, 2, 2, method, "[authority, {address, chainId, nonce, executor}]",
                          e))
        return NULL;
    const cn_account *a = cn_method_account(env, cJSON_GetArrayItem(params, 0), e);
    if (a == NULL || !cn_method_allowed(a, method, e) ||
        !auth_request(env, cJSON_GetArrayItem(params, 1), a, &auth, &fill_nonce, &plus_one, e))
        return NULL;
    if (!cn_policy_authorization_ok(a->policy, &auth, why, sizeof(why))) {
        cn_err_set(e, CN_E_POLICY, "authorization rejected by the account's policy: %s", why);
        return NULL;
    }
    if (fill_nonce) {
        if (cn_method_pending_nonce(env, a->signer->address, &auth.nonce, e) != AK_OK)
            return NULL;
        if (plus_one && auth.nonce == UINT64_MAX) {
            cn_err_set(e, CN_E_DOWNSTREAM, "the authority's nonce is at its maximum");
            return NULL;
        }
        auth.nonce += (uint64_t)plus_one;
    }
    if (ak_auth_digest(digest, &auth) != AK_OK) {
        cn_err_set(e, CN_E_INTERNAL, "cannot encode the authorization");
        return NULL;
    }
    ak_intent in;
    if (cn_method_sign_intent(a, &sig, digest, call,
                              ak_u256_is_zero(&auth.chain_id) ? 0 : env->chain_id, NULL,
                              cn_intent_auth(&in, &auth), e) != AK_OK)
        return NULL;
    cJSON *res = cn_txreq_auth_json(&auth, &sig);
    if (res == NULL)
        cn_err_set(e, CN_E_INTERNAL, "out of memory");
    return res;
}
