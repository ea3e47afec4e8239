/* cn_txreq.c - transaction request parsing: members, type, contradictions (see cn_txreq.h).
 * Filling from the node is in cn_txreq_fill.c. */
#include "cn_txreq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ak_addr.h"
#include "ak_hex.h"
#include "ak_u256.h"

#define T(n)  (1u << (n))
#define T_ALL 0x1fu

/* Every member a transaction object may have, and the types it is valid in. */
static const struct {
    const char *name;
    unsigned types;
} MEMBERS[] = {
    {"from", T_ALL},
    {"to", T_ALL},
    {"value", T_ALL},
    {"gas", T_ALL},
    {"gasLimit", T_ALL},
    {"nonce", T_ALL},
    {"data", T_ALL},
    {"input", T_ALL},
    {"chainId", T_ALL},
    {"type", T_ALL},
    {"gasPrice", T(0) | T(1)},
    {"maxFeePerGas", T(2) | T(3) | T(4)},
    {"maxPriorityFeePerGas", T(2) | T(3) | T(4)},
    {"accessList", T(1) | T(2) | T(3) | T(4)},
    {"maxFeePerBlobGas", T(3)},
    {"blobVersionedHashes", T(3)},
    {"blobs", T(3)},
    {"commitments", T(3)},
    {"proofs", T(3)},
    {"authorizationList", T(4)},
};
#define N_MEMBERS (sizeof MEMBERS / sizeof MEMBERS[0])

static const char *const ACCESS_MEMBERS[] = {"address", "storageKeys"};

int cn_txreq_members_known(const cJSON *obj, const char *const *names, size_t n, const char *where,
                           cn_rpc_err *e)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, obj)
    {
        size_t i = 0;
        while (i < n && strcmp(it->string, names[i]) != 0)
            i++;
        if (i == n) {
            cn_err_set(e, CN_E_PARAMS, "unknown member \"%.64s\" in %s", it->string, where);
            return 0;
        }
    }
    return 1;
}

/* A member, NULL if absent or JSON null. */
const cJSON *cn_txreq_member(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return v == NULL || cJSON_IsNull(v) ? NULL : v;
}

/* A field as a string, NULL if absent or JSON null; *bad = 1 if present with another type. */
static const char *field_str(const cJSON *obj, const char *name, int *bad)
{
    const cJSON *v = cn_txreq_member(obj, name);
    if (v != NULL && !cJSON_IsString(v)) {
        *bad = 1;
        return NULL;
    }
    return v ? v->valuestring : NULL;
}

/* where is the member's name for the error, e.g. "value" or "authorizationList[0].nonce". */
ak_err cn_txreq_get_u256(const cJSON *obj, const char *name, const char *where, ak_u256 *out,
                         int *present, cn_rpc_err *e)
{
    int bad = 0;
    const char *s = field_str(obj, name, &bad);
    *present = 0;
    if (bad || (s && ak_u256_parse_quantity(out, s, strlen(s)) != AK_OK)) {
        cn_err_set(e, CN_E_PARAMS, "invalid %s: expected a 0x quantity", where);
        return AK_ERR_QUANTITY;
    }
    *present = s != NULL;
    return AK_OK;
}

ak_err cn_txreq_get_u64(const cJSON *obj, const char *name, const char *where, uint64_t *out,
                        int *present, cn_rpc_err *e)
{
    int bad = 0;
    const char *s = field_str(obj, name, &bad);
    *present = 0;
    if (bad || (s && ak_quantity_parse_u64(out, s, strlen(s)) != AK_OK)) {
        cn_err_set(e, CN_E_PARAMS, "invalid %s: expected a 0x quantity below 2^64", where);
        return AK_ERR_QUANTITY;
    }
    *present = s != NULL;
    return AK_OK;
}

/* data / input: returns the chosen string (NULL if neither), checking that both agree. */
static ak_err get_data(cn_txreq *t, const cJSON *obj, cn_rpc_err *e)
{
    int bad = 0;
    const char *d = field_str(obj, "data", &bad);
    const char *in = field_str(obj, "input", &bad);
    if (bad) {
        cn_err_set(e, CN_E_PARAMS, "invalid data/input: expected 0x hex");
        return AK_ERR_HEX;
    }
    if (d && in && strcasecmp(d, in) != 0) {
        cn_err_set(e, CN_E_PARAMS, "both data and input are set and they differ");
        return AK_ERR_TX;
    }
    const char *s = in ? in : d;
    if (s == NULL)
        return AK_OK;
    size_t sl = strlen(s);
    if (sl > 2 + 2 * (size_t)AK_TX_MAX_DATA) {
        cn_err_set(e, CN_E_PARAMS, "data exceeds %zu bytes", (size_t)AK_TX_MAX_DATA);
        return AK_ERR_LIMIT;
    }
    t->data = malloc(sl / 2 + 1);
    if (t->data == NULL) {
        cn_err_set(e, CN_E_INTERNAL, "out of memory");
        return AK_ERR_NOMEM;
    }
    if (ak_hex_decode(t->data, sl / 2 + 1, &t->tx.data_len, s, sl) != AK_OK) {
        cn_err_set(e, CN_E_PARAMS, "invalid data/input: expected 0x hex");
        return AK_ERR_HEX;
    }
    t->tx.data = t->data;
    return AK_OK;
}

static ak_err get_access_list(cn_txreq *t, const cJSON *obj, cn_rpc_err *e)
{
    ak_err rc = AK_ERR_TX;
    const cJSON *al = cn_txreq_member(obj, "accessList");
    uint8_t(*keys)[32] = NULL;
    if (al == NULL)
        return AK_OK;
    if (!cJSON_IsArray(al) || cJSON_GetArraySize(al) > CN_TXREQ_MAX_ACCESS_ENTRIES) {
        cn_err_set(e, CN_E_PARAMS, "accessList must be an array of at most %d entries",
                   CN_TXREQ_MAX_ACCESS_ENTRIES);
        goto out;
    }
    t->access_list_json = al;
    t->access_list = malloc(AK_TX_MAX_ACCESS_LIST);
    keys = malloc(sizeof(*keys) * CN_TXREQ_MAX_STORAGE_KEYS);
    if (t->access_list == NULL || keys == NULL) {
        cn_err_set(e, CN_E_INTERNAL, "out of memory");
        rc = AK_ERR_NOMEM;
        goto out;
    }
    ak_buf b = ak_buf_init(t->access_list, AK_TX_MAX_ACCESS_LIST);
    size_t mark = ak_tx_access_list_begin(&b);
    const cJSON *ent;
    int i = 0;
    cJSON_ArrayForEach(ent, al)
    {
        char where[48];
        snprintf(where, sizeof(where), "accessList[%d]", i);
        if (!cJSON_IsObject(ent)) {
            cn_err_set(e, CN_E_PARAMS, "%s must be an object {address, storageKeys}", where);
            goto out;
        }
        if (!cn_txreq_members_known(ent, ACCESS_MEMBERS, 2, where, e))
            goto out;
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(ent, "address");
        const cJSON *sk = cn_txreq_member(ent, "storageKeys");
        uint8_t addr[20];
        if (!cJSON_IsString(a) ||
            ak_addr_parse(addr, a->valuestring, strlen(a->valuestring)) != AK_OK) {
            cn_err_set(e, CN_E_PARAMS, "invalid %s.address", where);
            goto out;
        }
        if ((sk != NULL && !cJSON_IsArray(sk)) ||
            cJSON_GetArraySize(sk) > CN_TXREQ_MAX_STORAGE_KEYS) {
            cn_err_set(e, CN_E_PARAMS, "%s.storageKeys must be an array of at most %d keys", where,
                       CN_TXREQ_MAX_STORAGE_KEYS);
            goto out;
        }
        size_t n = 0;
        const cJSON *k;
        cJSON_ArrayForEach(k, sk)
        {
            if (!cJSON_IsString(k) ||
                ak_hex_decode_exact(keys[n], 32, k->valuestring, strlen(k->valuestring)) != AK_OK) {
                cn_err_set(e, CN_E_PARAMS, "invalid %s.storageKeys[%zu] (32 bytes of 0x hex)",
                           where, n);
                goto out;
            }
            n++;
        }
        if (ak_tx_access_list_add(&b, addr, (const uint8_t(*)[32])keys, n) != AK_OK) {
            cn_err_set(e, CN_E_PARAMS, "accessList too large");
            goto out;
        }
        i++;
    }
    if (ak_tx_access_list_end(&b, mark) != AK_OK) {
        cn_err_set(e, CN_E_PARAMS, "accessList too large");
        goto out;
    }
    t->tx.access_list_rlp = t->access_list;
    t->tx.access_list_rlp_len = b.len;
    rc = AK_OK;
out:
    free(keys);
    return rc;
}

/* blobVersionedHashes: 1..CN_TXREQ_MAX_BLOBS hashes, 32 bytes each, version byte 0x01. */
static ak_err get_blob_hashes(cn_txreq *t, const cJSON *obj, cn_rpc_err *e)
{
    const cJSON *arr = cn_txreq_member(obj, "blobVersionedHashes");
    const cJSON *h;
    if (arr == NULL)
        return AK_OK;
    int n = cJSON_GetArraySize(arr);
    if (!cJSON_IsArray(arr) || n < 1 || n > CN_TXREQ_MAX_BLOBS) {
        cn_err_set(e, CN_E_PARAMS, "blobVersionedHashes must be an array of 1..%d hashes",
                   CN_TXREQ_MAX_BLOBS);
        return AK_ERR_TX;
    }
    cJSON_ArrayForEach(h, arr)
    {
        uint8_t *dst = t->tx.blob_hashes[t->tx.n_blob_hashes];
        if (!cJSON_IsString(h) ||
            ak_hex_decode_exact(dst, 32, h->valuestring, strlen(h->valuestring)) != AK_OK) {
            cn_err_set(e, CN_E_PARAMS, "invalid blobVersionedHashes[%zu]: 32 bytes of 0x hex",
                       t->tx.n_blob_hashes);
            return AK_ERR_TX;
        }
        if (dst[0] != 0x01) {
            cn_err_set(e, CN_E_PARAMS,
                       "blobVersionedHashes[%zu] has version 0x%02x: EIP-4844 needs 0x01",
                       t->tx.n_blob_hashes, dst[0]);
            return AK_ERR_TX;
        }
        t->tx.n_blob_hashes++;
    }
    return AK_OK;
}

static ak_err get_type(const cJSON *obj, int *type, cn_rpc_err *e)
{
    int bad = 0;
    const char *s = field_str(obj, "type", &bad);
    *type = -1;
    if (s == NULL && !bad)
        return AK_OK;
    static const char *const names[5][2] = {
        {"0x0", "0x00"}, {"0x1", "0x01"}, {"0x2", "0x02"}, {"0x3", "0x03"}, {"0x4", "0x04"}};
    for (int i = 0; s && i < 5; i++)
        if (strcmp(s, names[i][0]) == 0 || strcmp(s, names[i][1]) == 0)
            *type = i;
    if (*type < 0) {
        cn_err_set(e, CN_E_PARAMS, "unsupported transaction type (use 0x0 .. 0x4)");
        return AK_ERR_TX_TYPE;
    }
    return AK_OK;
}

/*
 * The type when the client gave none (geth TransactionArgs.ToTransaction, ethers inferType,
 * viem getTransactionType): *why names the member that decided it (NULL: the default).
 */
static int infer_type(const cJSON *obj, const char **why)
{
    static const char *const blob[] = {"blobVersionedHashes", "maxFeePerBlobGas", "blobs",
                                       "commitments", "proofs"};
    *why = NULL;
    if (cn_txreq_member(obj, "authorizationList")) {
        *why = "authorizationList";
        return 4;
    }
    for (size_t i = 0; i < sizeof blob / sizeof blob[0]; i++)
        if (cn_txreq_member(obj, blob[i])) {
            *why = blob[i];
            return 3;
        }
    if (cn_txreq_member(obj, "maxFeePerGas") || cn_txreq_member(obj, "maxPriorityFeePerGas")) {
        *why = cn_txreq_member(obj, "maxFeePerGas") ? "maxFeePerGas" : "maxPriorityFeePerGas";
        return 2;
    }
    if (cn_txreq_member(obj, "gasPrice")) {
        *why = "gasPrice";
        return cn_txreq_member(obj, "accessList") ? 1 : 0;
    }
    return 2; /* nothing, or an access list alone: 1559 fees are filled (London chains) */
}

/* Every member known, and valid for the type. */
static ak_err check_members(const cJSON *obj, int type, const char *why, cn_rpc_err *e)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, obj)
    {
        size_t i = 0;
        while (i < N_MEMBERS && strcmp(it->string, MEMBERS[i].name) != 0)
            i++;
        if (i == N_MEMBERS) {
            cn_err_set(e, CN_E_PARAMS, "unknown member \"%.64s\" in the transaction object",
                       it->string);
            return AK_ERR_TX;
        }
        if (cJSON_IsNull(it) || (MEMBERS[i].types & T(type)) != 0)
            continue;
        if (why != NULL)
            cn_err_set(e, CN_E_PARAMS,
                       "%s is not valid in a type 0x%d transaction (the type inferred from %s)",
                       MEMBERS[i].name, type, why);
        else
            cn_err_set(e, CN_E_PARAMS, "%s is not valid in a type 0x%d transaction",
                       MEMBERS[i].name, type);
        return AK_ERR_TX;
    }
    return AK_OK;
}

/* The members whose presence alone is a contradiction or something we do not do. */
static ak_err check_combinations(const cJSON *obj, unsigned flags, cn_rpc_err *e)
{
    static const char *const sidecar[] = {"blobs", "commitments", "proofs"};
    if (cn_txreq_member(obj, "gasPrice") &&
        (cn_txreq_member(obj, "maxFeePerGas") || cn_txreq_member(obj, "maxPriorityFeePerGas"))) {
        cn_err_set(e, CN_E_PARAMS,
                   "both gasPrice and (maxFeePerGas or maxPriorityFeePerGas) specified");
        return AK_ERR_TX;
    }
    if (cn_txreq_member(obj, "authorizationList") && cn_txreq_member(obj, "blobVersionedHashes")) {
        cn_err_set(e, CN_E_PARAMS,
                   "authorizationList (type 0x4) and blobVersionedHashes (type 0x3) cannot be "
                   "combined");
        return AK_ERR_TX;
    }
    for (size_t i = 0; !(flags & CN_TXREQ_SIDECAR) && i < sizeof sidecar / sizeof sidecar[0]; i++)
        if (cn_txreq_member(obj, sidecar[i])) {
            cn_err_set(e, CN_E_PARAMS,
                       "%s: a blob sidecar is only taken by eth_sendTransaction; "
                       "eth_signTransaction returns the transaction without it (send "
                       "blobVersionedHashes)",
                       sidecar[i]);
            return AK_ERR_TX;
        }
    return AK_OK;
}

static ak_err get_chain(cn_txreq *t, const cJSON *obj, uint64_t chain_id, int allow_unprotected,
                        cn_rpc_err *e)
{
    uint64_t tx_chain = 0;
    int has_chain = 0;
    if (cn_txreq_get_u64(obj, "chainId", "chainId", &tx_chain, &has_chain, e) != AK_OK)
        return AK_ERR_QUANTITY;
    t->tx.chain_id = chain_id;
    if (has_chain && tx_chain == 0) {
        if (t->type != 0 || !allow_unprotected) {
            cn_err_set(e, CN_E_PARAMS,
                       "refusing to sign without replay protection (chainId 0x0); the "
                       "configuration does not allow unprotected transactions");
            return AK_ERR_CHAIN_ID;
        }
        t->tx.pre155 = 1;
        t->tx.chain_id = 0;
    } else if (has_chain && tx_chain != chain_id) {
        cn_err_set(e, CN_E_PARAMS,
                   "transaction chainId %llu does not match the connector's chain id %llu",
                   (unsigned long long)tx_chain, (unsigned long long)chain_id);
        return AK_ERR_CHAIN_ID;
    }
    return AK_OK;
}

/* The fields common to every type, and the fee fields. */
static ak_err get_fields(cn_txreq *t, const cJSON *obj, cn_rpc_err *e)
{
    uint64_t gas = 0, gas_limit = 0;
    int has_gas = 0, has_gas_limit = 0, has_value = 0;
    ak_err rc;
    if ((rc = cn_txreq_get_u256(obj, "value", "value", &t->tx.value, &has_value, e)) != AK_OK ||
        (rc = cn_txreq_get_u64(obj, "gas", "gas", &gas, &has_gas, e)) != AK_OK ||
        (rc = cn_txreq_get_u64(obj, "gasLimit", "gasLimit", &gas_limit, &has_gas_limit, e)) !=
            AK_OK ||
        (rc = cn_txreq_get_u256(obj, "gasPrice", "gasPrice", &t->tx.gas_price, &t->has_gas_price,
                                e)) != AK_OK ||
        (rc = cn_txreq_get_u256(obj, "maxFeePerGas", "maxFeePerGas", &t->tx.max_fee_per_gas,
                                &t->has_max_fee, e)) != AK_OK ||
        (rc = cn_txreq_get_u256(obj, "maxPriorityFeePerGas", "maxPriorityFeePerGas",
                                &t->tx.max_priority_fee_per_gas, &t->has_max_prio, e)) != AK_OK ||
        (rc = cn_txreq_get_u256(obj, "maxFeePerBlobGas", "maxFeePerBlobGas",
                                &t->tx.max_fee_per_blob_gas, &t->has_blob_fee, e)) != AK_OK ||
        (rc = cn_txreq_get_u64(obj, "nonce", "nonce", &t->tx.nonce, &t->has_nonce, e)) != AK_OK ||
        (rc = get_data(t, obj, e)) != AK_OK)
        return rc;
    if (has_gas && has_gas_limit && gas != gas_limit) {
        cn_err_set(e, CN_E_PARAMS, "both gas and gasLimit are set and they differ");
        return AK_ERR_TX;
    }
    t->has_gas = has_gas || has_gas_limit;
    t->tx.gas_limit = has_gas ? gas : gas_limit;
    if (t->has_max_fee && t->has_max_prio &&
        ak_u256_cmp(&t->tx.max_priority_fee_per_gas, &t->tx.max_fee_per_gas) > 0) {
        cn_err_set(e, CN_E_PARAMS, "maxPriorityFeePerGas exceeds maxFeePerGas");
        return AK_ERR_TX;
    }
    return AK_OK;
}

ak_err cn_txreq_parse(cn_txreq *t, const cJSON *obj, uint64_t chain_id, int allow_unprotected,
                      unsigned flags, cn_rpc_err *e)
{
    ak_err rc = AK_ERR_TX;
    int bad = 0;
    const char *why = NULL;
    memset(t, 0, sizeof(*t));
    if (!cJSON_IsObject(obj)) {
        cn_err_set(e, CN_E_PARAMS, "expected a transaction object");
        goto out;
    }
    /* Members first: an unknown or contradictory member is named before anything else. */
    if ((rc = get_type(obj, &t->type, e)) != AK_OK ||
        (rc = check_combinations(obj, flags, e)) != AK_OK)
        goto out;
    if (t->type < 0)
        t->type = infer_type(obj, &why);
    if ((rc = check_members(obj, t->type, why, e)) != AK_OK)
        goto out;
    rc = AK_ERR_TX;
    const char *from = field_str(obj, "from", &bad);
    if (from == NULL || ak_addr_parse(t->from, from, strlen(from)) != AK_OK) {
        cn_err_set(e, CN_E_PARAMS, "invalid or missing from address");
        goto out;
    }
    const char *to = field_str(obj, "to", &bad);
    if (bad || (to && ak_addr_parse(t->tx.to, to, strlen(to)) != AK_OK)) {
        cn_err_set(e, CN_E_PARAMS, "invalid to address");
        goto out;
    }
    t->tx.has_to = to != NULL;
    if ((rc = get_fields(t, obj, e)) != AK_OK || (rc = get_access_list(t, obj, e)) != AK_OK ||
        (rc = get_blob_hashes(t, obj, e)) != AK_OK ||
        (t->type == 3 && (rc = cn_txreq_get_sidecar(t, obj, e)) != AK_OK) ||
        (rc = cn_txreq_get_auths(t, obj, chain_id, e)) != AK_OK ||
        (rc = get_chain(t, obj, chain_id, allow_unprotected, e)) != AK_OK)
        goto out;
    rc = AK_ERR_TX;
    if (!t->tx.has_to && (t->type == 3 || t->type == 4)) {
        cn_err_set(e, CN_E_PARAMS,
                   "to is required in a type 0x%d transaction (no contract "
                   "creation)",
                   t->type);
        goto out;
    }
    if (!t->tx.has_to && t->tx.data_len == 0) {
        cn_err_set(e, CN_E_PARAMS, "contract creation (no to) without data");
        goto out;
    }
    if (t->type == 3 && t->tx.n_blob_hashes == 0) {
        cn_err_set(
            e, CN_E_PARAMS,
            "a type 0x3 transaction needs blobVersionedHashes (or, to send it, its sidecar)");
        goto out;
    }
    if (t->type == 4 && t->n_auths == 0) {
        cn_err_set(e, CN_E_PARAMS, "a type 0x4 transaction needs an authorizationList");
        goto out;
    }
    t->tx.type = (ak_tx_type)t->type;
    rc = AK_OK;
out:
    if (rc != AK_OK && e->code == 0)
        cn_err_set(e, CN_E_PARAMS, "invalid transaction");
    return rc;
}

void cn_txreq_free(cn_txreq *t)
{
    if (t == NULL)
        return;
    free(t->data);
    free(t->access_list);
    free(t->auths);
    free(t->auth_list);
    free(t->blobs);
    free(t->commitments);
    free(t->proofs);
    memset(t, 0, sizeof(*t));
}
