/*
 * cn_methods.c - the method table (see cn_methods.h), the helpers every method shares (account
 * lookup, policy, signing, the node's pending nonce), and the message methods: eth_accounts,
 * eth_sign / personal_sign (EIP-191), eth_signTypedData(_v4) (EIP-712). Transactions are
 * cn_m_tx.c's, EIP-7702 authorizations cn_m_auth.c's, the OP Stack methods cn_opsigner.c's.
 */
#include "cn_methods.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ak_addr.h"
#include "ak_eip191.h"
#include "ak_eip712.h"
#include "ak_hex.h"
#include "cn_audit.h"
#include "cn_intent.h"
#include "cn_log.h"
#include "cn_metrics.h"

#define MAX_MESSAGE (1024u * 1024u) /* eth_sign / personal_sign message bytes */

/* ---- helpers -------------------------------------------------------------------------------- */

int cn_method_params(const cJSON *params, int min, int max, const char *method, const char *shape,
                     cn_rpc_err *e)
{
    int n = cJSON_GetArraySize(params);
    if (cJSON_IsArray(params) && n > max)
        cn_err_set(e, CN_E_PARAMS, "params[%d] of %s is not understood (expected %s)", n - 1,
                   method, shape);
    else if (!cJSON_IsArray(params) || n < min)
        cn_err_set(e, CN_E_PARAMS, "expected %s", shape);
    else
        return 1;
    return 0;
}

const cn_account *cn_method_account_of(const cn_method_env *env, const uint8_t addr[20],
                                       cn_rpc_err *e)
{
    const cn_account *a = cn_accounts_find(env->accounts, env->n_accounts, addr);
    if (a == NULL) {
        char s[AK_ADDR_STR_SIZE];
        ak_addr_to_checksum(s, addr);
        cn_err_set(e, CN_E_SIGNER, "no signer configured for address %s", s);
    }
    return a;
}

const cn_account *cn_method_account(const cn_method_env *env, const cJSON *v, cn_rpc_err *e)
{
    uint8_t addr[20];
    if (!cJSON_IsString(v) ||
        ak_addr_parse(addr, v->valuestring, strlen(v->valuestring)) != AK_OK) {
        cn_err_set(e, CN_E_PARAMS, "invalid address");
        return NULL;
    }
    return cn_method_account_of(env, addr, e);
}

int cn_method_allowed(const cn_account *a, const char *method, cn_rpc_err *e)
{
    char why[256];
    if (cn_policy_method_check(a->policy, method, why, sizeof(why)))
        return 1;
    cn_err_set(e, CN_E_POLICY, "%s refused by the account's policy: %s", method, why);
    return 0;
}

ak_err cn_method_sign_intent(const cn_account *a, ak_sig *sig, const uint8_t digest[32],
                             const cn_call *call, uint64_t chain_id, const void *tx,
                             const ak_intent *intent, cn_rpc_err *e)
{
    char why[256] = "";
    /* request_id NULL: the audit gives each signature its own, which the backend is sent */
    cn_sign_ctx ctx = {call->method, NULL, chain_id, time(NULL), tx, intent, why, sizeof why};
    cn_audit_note_rpc_id(call->rpc_id);
    ak_err rc = cn_account_sign_eth(a, sig, digest, &ctx);
    if (rc != AK_OK)
        cn_err_set(e, CN_E_SIGNER, "signer %s failed: %s%s%s", a->signer->name, ak_strerror(rc),
                   why[0] != '\0' ? ": " : "", why);
    return rc;
}

ak_err cn_method_pending_nonce(const cn_method_env *env, const uint8_t addr[20], uint64_t *out,
                               cn_rpc_err *e)
{
    char s[AK_ADDR_STR_SIZE];
    cn_ds_reply rep = {0};
    ak_addr_to_checksum(s, addr);
    cJSON *params = cJSON_CreateArray();
    cJSON_AddItemToArray(params, cJSON_CreateString(s));
    cJSON_AddItemToArray(params, cJSON_CreateString("pending"));
    if (cJSON_GetArraySize(params) != 2) {
        cJSON_Delete(params);
        cn_err_set(e, CN_E_INTERNAL, "out of memory");
        return AK_ERR_NOMEM;
    }
    ak_err rc = cn_ds_call(env->ds, &rep, "eth_getTransactionCount", params);
    if (rc != AK_OK) {
        cn_err_from_ds(e, rc, &rep, "eth_getTransactionCount");
    } else if (!cJSON_IsString(rep.result) ||
               ak_quantity_parse_u64(out, rep.result->valuestring,
                                     strlen(rep.result->valuestring)) != AK_OK) {
        cn_err_set(e, CN_E_DOWNSTREAM, "downstream returned a malformed transaction count");
        rc = AK_ERR_UPSTREAM;
    }
    cn_ds_reply_free(&rep);
    return rc;
}

cJSON *cn_m_rsv_result(const ak_sig *sig)
{
    uint8_t rsv[65];
    char hex[AK_HEX_ENCODED_SIZE(65)];
    ak_sig_to_rsv(rsv, sig);
    if (ak_hex_encode(hex, sizeof(hex), rsv, sizeof(rsv)) != AK_OK)
        return NULL;
    return cJSON_CreateString(hex);
}

/* ---- the message methods -------------------------------------------------------------- */

static cJSON *m_accounts(const cn_method_env *env, const cn_call *call, const cJSON *params,
                         cn_rpc_err *e)
{
    (void)call;
    (void)params;
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && i < env->n_accounts; i++) {
        char s[AK_ADDR_STR_SIZE];
        ak_addr_to_checksum(s, env->accounts[i].signer->address);
        cJSON_AddItemToArray(arr, cJSON_CreateString(s));
    }
    if (arr == NULL || (size_t)cJSON_GetArraySize(arr) != env->n_accounts) {
        cJSON_Delete(arr);
        cn_err_set(e, CN_E_INTERNAL, "out of memory");
        return NULL;
    }
    return arr;
}

/*
 * eth_sign [address, data] and personal_sign [data, address(, password)]: EIP-191 version 0x45.
 * data is 0x hex; personal_sign also takes text that is not 0x hex as its UTF-8 bytes (as
 * wallets do).
 */
static cJSON *m_sign_message(const cn_method_env *env, const cn_call *call, const cJSON *params,
                             cn_rpc_err *e)
{
    const char *method = call->method;
    int personal = strcmp(method, "personal_sign") == 0;
    cJSON *res = NULL;
    uint8_t *msg = NULL;
    size_t len = 0;
    if (!cn_method_params(params, 2, personal ? 3 : 2, method,
                          personal ? "[data, address(, password)]" : "[address, data]", e))
        goto out;
    const cJSON *data = cJSON_GetArrayItem(params, personal ? 0 : 1);
    const cJSON *addr = cJSON_GetArrayItem(params, personal ? 1 : 0);
    const cJSON *pw = cJSON_GetArrayItem(params, 2);
    if (pw != NULL && !cJSON_IsString(pw) && !cJSON_IsNull(pw)) {
        /* geth's account password: it does not change what is signed, and is never read. */
        cn_err_set(e, CN_E_PARAMS, "params[2] of personal_sign is a password string or null");
        goto out;
    }
    if (!cJSON_IsString(data)) {
        cn_err_set(e, CN_E_PARAMS, "data must be a 0x hex string");
        goto out;
    }
    const cn_account *a = cn_method_account(env, addr, e);
    if (a == NULL || !cn_method_allowed(a, method, e))
        goto out;
    const char *s = data->valuestring;
    size_t sl = strlen(s);
    if (sl > 2 + 2 * (size_t)MAX_MESSAGE) {
        cn_err_set(e, CN_E_PARAMS, "message exceeds %u bytes", MAX_MESSAGE);
        goto out;
    }
    msg = malloc(sl / 2 + 1);
    if (msg == NULL) {
        cn_err_set(e, CN_E_INTERNAL, "out of memory");
        goto out;
    }
    if (ak_hex_decode(msg, sl / 2 + 1, &len, s, sl) != AK_OK) {
        int is_hexish = sl >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
        if (!personal || is_hexish) {
            cn_err_set(e, CN_E_PARAMS, "data must be 0x hex");
            goto out;
        }
        free(msg);
        msg = (uint8_t *)strdup(s);
        len = sl;
        if (msg == NULL) {
            cn_err_set(e, CN_E_INTERNAL, "out of memory");
            goto out;
        }
    }
    char why[256];
    if (!cn_policy_message_ok(a->policy, msg, len, why, sizeof(why))) {
        cn_err_set(e, CN_E_POLICY, "%s refused by the account's policy: %s", method, why);
        goto out;
    }
    uint8_t digest[32];
    ak_sig sig;
    ak_intent in;
    ak_eip191_hash(digest, msg, len);
    cn_audit_note_message(len);
    if (cn_method_sign_intent(a, &sig, digest, call, 0, NULL, cn_intent_message(&in, msg, len),
                              e) != AK_OK)
        goto out;
    res = cn_m_rsv_result(&sig);
    if (res == NULL)
        cn_err_set(e, CN_E_INTERNAL, "out of memory");
out:
    free(msg);
    return res;
}

/* eth_signTypedData(_v4) [address, typedData]: typedData as a JSON string or an object. */
static cJSON *m_sign_typed(const cn_method_env *env, const cn_call *call, const cJSON *params,
                           cn_rpc_err *e)
{
    const char *method = call->method;
    if (!cn_method_params(params, 2, 2, method, "[address, typedData]", e))
        return NULL;
    const cn_account *a = cn_method_account(env, cJSON_GetArrayItem(params, 0), e);
    if (a == NULL || !cn_method_allowed(a, method, e))
        return NULL;
    const cJSON *td = cJSON_GetArrayItem(params, 1);
    ak_eip712_result h;
    ak_err rc;
    char why[AK_EIP712_WHY_MAX] = "";
    if (cJSON_IsString(td))
        rc =
            ak_eip712_hash_json_why(&h, td->valuestring, strlen(td->valuestring), why, sizeof(why));
    else if (cJSON_IsObject(td))
        rc = ak_eip712_hash_why(&h, td, why, sizeof(why));
    else
        rc = AK_ERR_EIP712;
    if (rc != AK_OK) {
        /* why names the member at fault (shared's strict parser), e.g. "message.extra: ..." */
        if (why[0] != '\0')
            cn_err_set(e, CN_E_PARAMS, "invalid typed data: %s", why);
        else
            cn_err_set(e, CN_E_PARAMS, "invalid typed data: %s", ak_strerror(rc));
        return NULL;
    }
    if (h.has_chain_id) {
        ak_u256 ours;
        ak_u256_from_u64(&ours, env->chain_id);
        if (ak_u256_cmp(&ours, &h.chain_id) != 0) {
            char q[AK_U256_DECIMAL_MAX];
            if (ak_u256_format_decimal(q, sizeof(q), &h.chain_id) != AK_OK)
                snprintf(q, sizeof(q), "?");
            cn_err_set(e, CN_E_PARAMS,
                       "typed data domain chainId %s does not match the connector's chain id %llu",
                       q, (unsigned long long)env->chain_id);
            return NULL;
        }
    }
    char pwhy[256];
    if (!cn_policy_typed_ok(a->policy, td, &h, pwhy, sizeof(pwhy))) {
        cn_err_set(e, CN_E_POLICY, "%s refused by the account's policy: %s", method, pwhy);
        return NULL;
    }
    ak_sig sig;
    ak_intent in;
    cJSON *owned = NULL;
    cn_audit_note_typed(td);
    rc = cn_method_sign_intent(a, &sig, h.digest, call, env->chain_id, NULL,
                               cn_intent_typed(&in, td, &owned), e);
    cJSON_Delete(owned);
    if (rc != AK_OK)
        return NULL;
    cJSON *res = cn_m_rsv_result(&sig);
    if (res == NULL)
        cn_err_set(e, CN_E_INTERNAL, "out of memory");
    return res;
}

/* ---- the table ------------------------------------------------------------------------------ */

#define SIGN_POLICY (CN_M_SIGNS | CN_M_POLICY)

static const cn_method k_builtin[] = {
    {"eth_accounts", NULL, 0, AK_INTENT_ETH_TRANSACTION, m_accounts},
    {"eth_requestAccounts", "eth_accounts", 0, AK_INTENT_ETH_TRANSACTION, m_accounts},
    {"eth_sign", NULL, SIGN_POLICY, AK_INTENT_EIP191_MESSAGE, m_sign_message},
    {"personal_sign", NULL, SIGN_POLICY, AK_INTENT_EIP191_MESSAGE, m_sign_message},
    {"eth_signTransaction", NULL, SIGN_POLICY, AK_INTENT_ETH_TRANSACTION, cn_m_sign_tx},
    {"eth_sendTransaction", NULL, SIGN_POLICY, AK_INTENT_ETH_TRANSACTION, cn_m_send_tx},
    {"eth_signTypedData", "eth_signTypedData_v4", SIGN_POLICY, AK_INTENT_EIP712_TYPED_DATA,
     m_sign_typed},
    {"eth_signTypedData_v4", NULL, SIGN_POLICY, AK_INTENT_EIP712_TYPED_DATA, m_sign_typed},
    {"anode_signAuthorization", NULL, SIGN_POLICY, AK_INTENT_EIP7702_AUTHORIZATION,
     cn_m_sign_authorization},
    /* OP Stack signer protocol (issue 10), cn_opsigner.c */
    {"health_status", NULL, 0, AK_INTENT_OP_BLOCK_PAYLOAD, cn_opsigner_health},
    {"opsigner_signBlockPayload", NULL, SIGN_POLICY, AK_INTENT_OP_BLOCK_PAYLOAD,
     cn_opsigner_sign_block},
    {"opsigner_signBlockPayloadV2", "opsigner_signBlockPayload", SIGN_POLICY,
     AK_INTENT_OP_BLOCK_PAYLOAD, cn_opsigner_sign_block},
};

static const cn_method_table k_builtin_table = {k_builtin, sizeof(k_builtin) / sizeof(k_builtin[0]),
                                                NULL};

const cn_method_table *cn_methods_builtin(void)
{
    return &k_builtin_table;
}

const cn_method *cn_methods_find(const cn_method_table *const *tables, size_t n, const char *name,
                                 void **ctx)
{
    for (size_t t = 0; t < n; t++)
        for (size_t i = 0; i < tables[t]->n; i++)
            if (strcmp(tables[t]->rows[i].name, name) == 0) {
                *ctx = tables[t]->ctx;
                return &tables[t]->rows[i];
            }
    return NULL;
}

ak_err cn_methods_publish(const cn_method_table *const *tables, size_t n)
{
    static const char *names[CN_METRICS_MAX_METHODS];
    static cn_policy_method vocab[CN_POLICY_MAX_METHODS];
    size_t k = 0, v = 0;
    for (size_t t = 0; t < n; t++)
        k += tables[t]->n;
    if (k > CN_METRICS_MAX_METHODS || k > CN_POLICY_MAX_METHODS)
        return AK_ERR_RANGE;
    k = 0;
    for (size_t t = 0; t < n; t++) {
        for (size_t i = 0; i < tables[t]->n; i++) {
            const cn_method *m = &tables[t]->rows[i];
            names[k++] = m->name;
            if (m->flags & CN_M_SIGNS)
                vocab[v++] = (cn_policy_method){m->name, m->canonical, m->kind,
                                                (m->flags & CN_M_POLICY) != 0, 1};
        }
    }
    cn_metrics_set_methods(names, k);
    cn_policy_set_methods(vocab, v);
    return AK_OK;
}
