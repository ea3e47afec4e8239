/*
 * cn_methods.c - the JSON-RPC methods the connector answers itself (issue 4, "Methods answered
 * here"): accounts, eth_sign / personal_sign (EIP-191), typed data v4 (EIP-712), and
 * eth_signTransaction / eth_sendTransaction with filling and per-sender nonce serialisation.
 * Every signature goes through cn_audit_sign_eth(). Private to the router (cn_rpc_impl.h).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ak_addr.h"
#include "ak_auth.h"
#include "ak_eip191.h"
#include "ak_eip712.h"
#include "ak_hex.h"
#include "ak_tx.h"
#include "cn_audit.h"
#include "cn_log.h"
#include "cn_metrics.h"
#include "cn_opsigner.h"
#include "cn_rpc_impl.h"
#include "cn_txreq.h"

#define MAX_MESSAGE (1024u * 1024u) /* eth_sign / personal_sign message bytes */

/* How long our own next-nonce count outranks the node's pending count (see m_transaction). */
#define NONCE_TRUST_MS 2000u

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t account_index(const cn_rpc *r, const cn_account *a)
{
    return (size_t)(a - r->accounts);
}

/* Parse an address param and find our account; -32602 / -32000 otherwise. */
static cn_account *param_account(cn_rpc *r, const cJSON *v, cn_call_err *e)
{
    uint8_t addr[20];
    if (!cJSON_IsString(v) ||
        ak_addr_parse(addr, v->valuestring, strlen(v->valuestring)) != AK_OK) {
        cn_err_set(e, CN_E_PARAMS, "invalid address");
        return NULL;
    }
    cn_account *a = cn_rpc_account(r, addr);
    if (a == NULL) {
        char s[AK_ADDR_STR_SIZE];
        ak_addr_to_checksum(s, addr);
        cn_err_set(e, CN_E_SIGNER, "no signer configured for address %s", s);
    }
    return a;
}

/* Sign digest with the account; on failure e gets -32000 with the backend's reason. */
static ak_err sign_digest(cn_rpc *r, cn_account *a, ak_sig *sig, const uint8_t digest[32],
                          const char *method, uint64_t chain_id, const void *tx, cn_call_err *e)
{
    cn_sign_ctx ctx = {method, NULL, chain_id, time(NULL), tx};
    double t0 = now_s();
    ak_err rc = cn_audit_sign_eth(a->signer, sig, digest, &ctx); /* signs and audits */
    cn_metrics_sign(account_index(r, a), rc == AK_OK, now_s() - t0);
    if (rc != AK_OK) {
        cn_err_set(e, CN_E_SIGNER, "signer %s failed: %s", a->signer->name, ak_strerror(rc));
        cn_log(CN_LOG_WARN, "signing failed", "method", method, "signer", a->signer->name, "error",
               ak_errname(rc), (char *)NULL);
    }
    return rc;
}

static cJSON *rsv_result(const ak_sig *sig)
{
    uint8_t rsv[65];
    char hex[AK_HEX_ENCODED_SIZE(65)];
    ak_sig_to_rsv(rsv, sig);
    if (ak_hex_encode(hex, sizeof(hex), rsv, sizeof(rsv)) != AK_OK)
        return NULL;
    return cJSON_CreateString(hex);
}

static cJSON *m_accounts(cn_rpc *r, cn_call_err *e)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && i < r->n_accounts; i++) {
        char s[AK_ADDR_STR_SIZE];
        ak_addr_to_checksum(s, r->accounts[i].signer->address);
        cJSON_AddItemToArray(arr, cJSON_CreateString(s));
    }
    if (arr == NULL || (size_t)cJSON_GetArraySize(arr) != r->n_accounts) {
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
/* The account's policy allows this method; else e is -32003 and 0. */
static int policy_allows(const cn_account *a, const char *method, cn_call_err *e)
{
    char why[256];
    if (cn_policy_method_check(a->policy, method, why, sizeof(why)))
        return 1;
    cn_err_set(e, CN_E_POLICY, "%s refused by the account's policy: %s", method, why);
    return 0;
}

static cJSON *m_sign_message(cn_rpc *r, const char *method, const cJSON *params, int personal,
                             cn_call_err *e)
{
    cJSON *res = NULL;
    uint8_t *msg = NULL;
    size_t n = (size_t)cJSON_GetArraySize(params), len = 0;
    if (cJSON_IsArray(params) && n > (personal ? 3u : 2u)) {
        cn_err_set(e, CN_E_PARAMS, "params[%zu] of %s is not understood (expected %s)", n - 1,
                   method, personal ? "[data, address(, password)]" : "[address, data]");
        goto out;
    }
    if (!cJSON_IsArray(params) || n < 2) {
        cn_err_set(e, CN_E_PARAMS,
                   personal ? "expected [data, address]" : "expected [address, data]");
        goto out;
    }
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
    cn_account *a = param_account(r, addr, e);
    if (a == NULL || !policy_allows(a, method, e))
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
    ak_eip191_hash(digest, msg, len);
    cn_audit_note_message(len);
    if (sign_digest(r, a, &sig, digest, method, 0, NULL, e) != AK_OK)
        goto out;
    res = rsv_result(&sig);
    if (res == NULL)
        cn_err_set(e, CN_E_INTERNAL, "out of memory");
out:
    free(msg);
    return res;
}

/* eth_signTypedData(_v4) [address, typedData]: typedData as a JSON string or an object. */
static cJSON *m_sign_typed(cn_rpc *r, const char *method, const cJSON *params, cn_call_err *e)
{
    int n = cJSON_GetArraySize(params);
    if (cJSON_IsArray(params) && n > 2) {
        cn_err_set(e, CN_E_PARAMS,
                   "params[%d] of %s is not understood (expected [address, "
                   "typedData])",
                   n - 1, method);
        return NULL;
    }
    if (!cJSON_IsArray(params) || n != 2) {
        cn_err_set(e, CN_E_PARAMS, "expected [address, typedData]");
        return NULL;
    }
    cn_account *a = param_account(r, cJSON_GetArrayItem(params, 0), e);
    if (a == NULL || !policy_allows(a, method, e))
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
        ak_u256_from_u64(&ours, r->cfg.chain_id);
        if (ak_u256_cmp(&ours, &h.chain_id) != 0) {
            char q[AK_U256_DECIMAL_MAX];
            if (ak_u256_format_decimal(q, sizeof(q), &h.chain_id) != AK_OK)
                snprintf(q, sizeof(q), "?");
            cn_err_set(e, CN_E_PARAMS,
                       "typed data domain chainId %s does not match the connector's chain id %llu",
                       q, (unsigned long long)r->cfg.chain_id);
            return NULL;
        }
    }
    char pwhy[256];
    if (!cn_policy_typed_ok(a->policy, td, &h, pwhy, sizeof(pwhy))) {
        cn_err_set(e, CN_E_POLICY, "%s refused by the account's policy: %s", method, pwhy);
        return NULL;
    }
    ak_sig sig;
    cn_audit_note_typed(td);
    if (sign_digest(r, a, &sig, h.digest, method, r->cfg.chain_id, NULL, e) != AK_OK)
        return NULL;
    cJSON *res = rsv_result(&sig);
    if (res == NULL)
        cn_err_set(e, CN_E_INTERNAL, "out of memory");
    return res;
}

/* Sign t->tx and return the raw transaction as 0x hex (malloc'd) and its hash. */
static char *sign_tx(cn_rpc *r, cn_account *a, cn_txreq *t, const char *method, uint8_t hash[32],
                     cn_call_err *e)
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
    if (sign_digest(r, a, &sig, digest, method, t->tx.chain_id, &t->tx, e) != AK_OK)
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

/* The node's pending transaction count for addr. */
static ak_err pending_nonce(cn_rpc *r, const uint8_t addr[20], uint64_t *out, cn_call_err *e)
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
    ak_err rc = cn_ds_call(&r->cfg.downstream, &rep, "eth_getTransactionCount", params);
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

/* Errors after which a fresh nonce is worth a retry (geth / anvil / reth wording). */
static int nonce_retryable(const char *msg)
{
    static const char *const k[] = {"nonce too low", "already known",
                                    "replacement transaction underpriced",
                                    "transaction already imported"};
    char low[192];
    size_t i;
    for (i = 0; msg[i] && i + 1 < sizeof(low); i++)
        low[i] = (char)tolower((unsigned char)msg[i]);
    low[i] = '\0';
    for (i = 0; i < sizeof(k) / sizeof(k[0]); i++)
        if (strstr(low, k[i]) != NULL)
            return 1;
    return 0;
}

/* Submit raw; AK_OK with *result the node's answer (the hash). */
static ak_err send_raw(cn_rpc *r, const char *raw_hex, cJSON **result, cn_ds_reply *rep)
{
    cJSON *params = cJSON_CreateArray();
    cJSON_AddItemToArray(params, cJSON_CreateString(raw_hex));
    if (cJSON_GetArraySize(params) != 1) {
        cJSON_Delete(params);
        return AK_ERR_NOMEM;
    }
    ak_err rc = cn_ds_call(&r->cfg.downstream, rep, "eth_sendRawTransaction", params);
    if (rc == AK_OK) {
        *result = rep->result;
        rep->result = NULL;
    }
    return rc;
}

static void log_tx(const char *method, const cn_txreq *t, const uint8_t hash[32])
{
    if (!cn_log_enabled(CN_LOG_INFO))
        return;
    char from[AK_ADDR_STR_SIZE], hs[AK_HEX_ENCODED_SIZE(32)], nonce[24], type[4];
    ak_addr_to_checksum(from, t->from);
    if (ak_hex_encode(hs, sizeof(hs), hash, 32) != AK_OK)
        hs[0] = '\0';
    snprintf(nonce, sizeof(nonce), "%llu", (unsigned long long)t->tx.nonce);
    snprintf(type, sizeof(type), "%d", (int)t->tx.type);
    cn_log(CN_LOG_INFO, "transaction signed", "method", method, "from", from, "nonce", nonce,
           "type", type, "hash", hs, (char *)NULL);
}

static cJSON *m_transaction(cn_rpc *r, const char *method, const cJSON *params, int send,
                            cn_call_err *e)
{
    cJSON *res = NULL;
    char *raw = NULL;
    cn_txreq t;
    uint8_t hash[32];
    int locked = 0;
    cn_account *a = NULL;
    memset(&t, 0, sizeof(t));
    if (cJSON_IsArray(params) && cJSON_GetArraySize(params) > 1) {
        cn_err_set(e, CN_E_PARAMS, "params[%d] of %s is not understood (expected [transaction])",
                   cJSON_GetArraySize(params) - 1, method);
        goto out;
    }
    if (!cJSON_IsArray(params) || cJSON_GetArraySize(params) != 1) {
        cn_err_set(e, CN_E_PARAMS, "expected [transaction]");
        goto out;
    }
    if (cn_txreq_parse_ex(&t, cJSON_GetArrayItem(params, 0), r->cfg.chain_id,
                          r->cfg.allow_unprotected_tx, send ? CN_TXREQ_SIDECAR : 0, e) != AK_OK)
        goto out;
    if (send && t.type == 3 && !t.has_sidecar) {
        cn_err_set(e, CN_E_PARAMS,
                   "eth_sendTransaction of a blob (type 0x3) transaction needs its sidecar: "
                   "blobs, commitments and proofs are missing (the node takes it only with them)");
        goto out;
    }
    a = cn_rpc_account(r, t.from);
    if (a == NULL) {
        char s[AK_ADDR_STR_SIZE];
        ak_addr_to_checksum(s, t.from);
        cn_err_set(e, CN_E_SIGNER, "no signer configured for address %s", s);
        goto out;
    }
    char why[160];
    if (!policy_allows(a, method, e))
        goto out;
    if (!cn_policy_tx_ok(a->policy, &t.tx, why, sizeof(why))) {
        cn_err_set(e, CN_E_POLICY, "transaction rejected by the account's policy: %s", why);
        goto out;
    }
    if (cn_txreq_fill(&t, &r->cfg.downstream, e) != AK_OK)
        goto out;
    if (t.type == 3 &&
        !cn_policy_blob_fee_ok(a->policy, &t.tx.max_fee_per_blob_gas, why, sizeof(why))) {
        cn_err_set(e, CN_E_POLICY, "transaction rejected by the account's policy: %s", why);
        goto out;
    }

    if (t.has_nonce) {
        /* The client chose the nonce: sign (and send) exactly that, once. */
        raw = sign_tx(r, a, &t, method, hash, e);
        if (raw == NULL)
            goto out;
        log_tx(method, &t, hash);
        if (!send) {
            res = cJSON_CreateString(raw);
            goto out;
        }
        cn_ds_reply rep = {0};
        ak_err rc = send_raw(r, raw, &res, &rep);
        if (rc != AK_OK)
            cn_err_from_ds(e, rc, &rep, "eth_sendRawTransaction");
        cn_ds_reply_free(&rep);
        goto out;
    }

    /* Nonce filled here: one sender's fills are serialised so they get consecutive nonces. */
    pthread_mutex_lock(&a->send_lock);
    locked = 1;
    for (unsigned attempt = 0;; attempt++) {
        uint64_t pending = 0;
        if (pending_nonce(r, t.from, &pending, e) != AK_OK)
            goto out;
        /*
         * Our own count only bridges the moment before the node's pending count includes what we
         * just sent. Past a short window the node is right: a dropped transaction, a node restart
         * or a reorg must not leave every later send queued behind a nonce gap.
         */
        int fresh = a->have_next && now_ms() - a->next_set_ms < NONCE_TRUST_MS;
        t.tx.nonce = fresh && a->next_nonce > pending ? a->next_nonce : pending;
        free(raw);
        raw = sign_tx(r, a, &t, method, hash, e);
        if (raw == NULL)
            goto out;
        if (!send) {
            log_tx(method, &t, hash);
            res = cJSON_CreateString(raw);
            goto out;
        }
        cn_ds_reply rep = {0};
        ak_err rc = send_raw(r, raw, &res, &rep);
        if (rc == AK_OK) {
            log_tx(method, &t, hash);
            a->have_next = 1;
            a->next_nonce = t.tx.nonce + 1;
            a->next_set_ms = now_ms();
            cn_ds_reply_free(&rep);
            goto out;
        }
        int retry = rep.error != NULL && nonce_retryable(rep.msg) && attempt < r->cfg.nonce_retries;
        if (retry) {
            a->have_next = 1;
            a->next_nonce = t.tx.nonce + 1;
            a->next_set_ms = now_ms();
            cn_metrics_nonce_retry();
            cn_log(CN_LOG_INFO, "nonce refused by the node, retrying with a fresh one", "reason",
                   rep.msg, (char *)NULL);
            cn_ds_reply_free(&rep);
            continue;
        }
        cn_err_from_ds(e, rc, &rep, "eth_sendRawTransaction");
        cn_ds_reply_free(&rep);
        goto out;
    }
out:
    if (locked)
        pthread_mutex_unlock(&a->send_lock);
    if (res == NULL && e->code == 0 && e->passthrough == NULL)
        cn_err_set(e, CN_E_INTERNAL, "out of memory");
    free(raw);
    cn_txreq_free(&t);
    return res;
}

/* ---- EIP-7702 authorizations signed by our accounts (issue 10) ------------------------------ */

/*
 * anode_signAuthorization [authority, {address, chainId?, nonce?, executor?}]: the authority (one
 * of our accounts) signs keccak256(0x05 || rlp([chainId, address, nonce])) (EIP-7702) and gets
 * the signed tuple {chainId, address, nonce, yParity, r, s} that authorizationList takes. No
 * JSON-RPC method is standard for this (viem refuses JSON-RPC accounts, ethers has none), hence
 * our prefix. chainId: absent = ours; 0x0 (every chain) only if the policy allows it. nonce:
 * absent = the authority's pending nonce from the node, + 1 when executor is "self" or the
 * authority's own address (the authority also sends the transaction that carries it, whose
 * own nonce is used first; as viem's executor: 'self').
 */
static const char *const AUTH_REQUEST_MEMBERS[] = {"address", "chainId", "nonce", "executor"};

static int add_u256(cJSON *o, const char *name, const ak_u256 *v)
{
    char q[AK_U256_QUANTITY_MAX];
    return ak_u256_format_quantity(q, sizeof(q), v) == AK_OK &&
           cJSON_AddStringToObject(o, name, q) != NULL;
}

static cJSON *auth_result(const ak_auth *auth, const ak_sig *sig)
{
    char addr[AK_ADDR_STR_SIZE];
    ak_u256 v;
    cJSON *o = cJSON_CreateObject();
    int ok = o != NULL && add_u256(o, "chainId", &auth->chain_id);
    ak_addr_to_checksum(addr, auth->address);
    ok = ok && cJSON_AddStringToObject(o, "address", addr) != NULL;
    ak_u256_from_u64(&v, auth->nonce);
    ok = ok && add_u256(o, "nonce", &v);
    ak_u256_from_u64(&v, sig->recid);
    ok = ok && add_u256(o, "yParity", &v);
    ok = ok && ak_u256_from_be(&v, sig->r, 32) == AK_OK && add_u256(o, "r", &v);
    ok = ok && ak_u256_from_be(&v, sig->s, 32) == AK_OK && add_u256(o, "s", &v);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* The request object's members into auth; *fill_nonce / *plus_one when the nonce is ours to
 * fill. */
static int auth_request(cn_rpc *r, const cJSON *req, const cn_account *a, ak_auth *auth,
                        int *fill_nonce, int *plus_one, cn_call_err *e)
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
    ak_u256_from_u64(&ours, r->cfg.chain_id);
    auth->chain_id = ours;
    if (chain != NULL &&
        (!cJSON_IsString(chain) ||
         ak_u256_parse_quantity(&auth->chain_id, chain->valuestring, strlen(chain->valuestring)) !=
             AK_OK ||
         (!ak_u256_is_zero(&auth->chain_id) && ak_u256_cmp(&auth->chain_id, &ours) != 0))) {
        cn_err_set(e, CN_E_PARAMS, "chainId must be this chain (%llu) or 0x0",
                   (unsigned long long)r->cfg.chain_id);
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

static cJSON *m_sign_authorization(cn_rpc *r, const char *method, const cJSON *params,
                                   cn_call_err *e)
{
    ak_auth auth;
    ak_sig sig;
    uint8_t digest[32];
    char why[192];
    int fill_nonce = 0, plus_one = 0;
    int n = cJSON_GetArraySize(params);
    memset(&auth, 0, sizeof(auth));
    if (cJSON_IsArray(params) && n > 2) {
        cn_err_set(e, CN_E_PARAMS,
                   "params[%d] of %s is not understood (expected [authority, "
                   "{address, chainId, nonce, executor}])",
                   n - 1, method);
        return NULL;
    }
    if (!cJSON_IsArray(params) || n != 2) {
        cn_err_set(e, CN_E_PARAMS, "expected [authority, {address, chainId, nonce, executor}]");
        return NULL;
    }
    cn_account *a = param_account(r, cJSON_GetArrayItem(params, 0), e);
    if (a == NULL || !policy_allows(a, method, e) ||
        !auth_request(r, cJSON_GetArrayItem(params, 1), a, &auth, &fill_nonce, &plus_one, e))
        return NULL;
    if (!cn_policy_authorization_ok(a->policy, &auth, why, sizeof(why))) {
        cn_err_set(e, CN_E_POLICY, "authorization rejected by the account's policy: %s", why);
        return NULL;
    }
    if (fill_nonce) {
        if (pending_nonce(r, a->signer->address, &auth.nonce, e) != AK_OK)
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
    if (sign_digest(r, a, &sig, digest, method,
                    ak_u256_is_zero(&auth.chain_id) ? 0 : r->cfg.chain_id, NULL, e) != AK_OK)
        return NULL;
    cJSON *res = auth_result(&auth, &sig);
    if (res == NULL)
        cn_err_set(e, CN_E_INTERNAL, "out of memory");
    return res;
}

cJSON *cn_methods_dispatch(cn_rpc *r, const char *method, const cJSON *params, cn_call_err *e,
                           int *handled)
{
    /* OP Stack signer protocol (issue 10): health_status, opsigner_signBlockPayload(V2). */
    if (strcmp(method, "health_status") == 0 || strncmp(method, "opsigner_", 9) == 0)
        return cn_opsigner_dispatch(r, method, params, e, handled);
    *handled = 1;
    if (strcmp(method, "eth_accounts") == 0 || strcmp(method, "eth_requestAccounts") == 0)
        return m_accounts(r, e);
    if (strcmp(method, "eth_sign") == 0)
        return m_sign_message(r, method, params, 0, e);
    if (strcmp(method, "personal_sign") == 0)
        return m_sign_message(r, method, params, 1, e);
    if (strcmp(method, "eth_signTypedData_v4") == 0 || strcmp(method, "eth_signTypedData") == 0)
        return m_sign_typed(r, method, params, e);
    if (strcmp(method, "eth_signTransaction") == 0)
        return m_transaction(r, method, params, 0, e);
    if (strcmp(method, "eth_sendTransaction") == 0)
        return m_transaction(r, method, params, 1, e);
    if (strcmp(method, "anode_signAuthorization") == 0)
        return m_sign_authorization(r, method, params, e);
    *handled = 0;
    return NULL;
}
