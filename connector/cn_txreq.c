/* cn_txreq.c - transaction request parsing and filling rules (see cn_txreq.h). */
#include "cn_txreq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ak_addr.h"
#include "ak_hex.h"
#include "ak_u256.h"

/* A field as a string, NULL if absent or JSON null; *bad = 1 if present with another type. */
static const char *field_str(const cJSON *obj, const char *name, int *bad)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (v == NULL || cJSON_IsNull(v))
        return NULL;
    if (!cJSON_IsString(v)) {
        *bad = 1;
        return NULL;
    }
    return v->valuestring;
}

static ak_err get_u256(const cJSON *obj, const char *name, ak_u256 *out, int *present,
                       cn_call_err *e)
{
    int bad = 0;
    const char *s = field_str(obj, name, &bad);
    *present = 0;
    if (bad || (s && ak_u256_parse_quantity(out, s, strlen(s)) != AK_OK)) {
        cn_err_set(e, CN_E_PARAMS, "invalid %s: expected a 0x quantity", name);
        return AK_ERR_QUANTITY;
    }
    *present = s != NULL;
    return AK_OK;
}

static ak_err get_u64(const cJSON *obj, const char *name, uint64_t *out, int *present,
                      cn_call_err *e)
{
    int bad = 0;
    const char *s = field_str(obj, name, &bad);
    *present = 0;
    if (bad || (s && ak_quantity_parse_u64(out, s, strlen(s)) != AK_OK)) {
        cn_err_set(e, CN_E_PARAMS, "invalid %s: expected a 0x quantity below 2^64", name);
        return AK_ERR_QUANTITY;
    }
    *present = s != NULL;
    return AK_OK;
}

/* data / input: returns the chosen string (NULL if neither), checking that both agree. */
static ak_err get_data(cn_txreq *t, const cJSON *obj, cn_call_err *e)
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

static ak_err get_access_list(cn_txreq *t, const cJSON *obj, cn_call_err *e)
{
    ak_err rc = AK_ERR_TX;
    const cJSON *al = cJSON_GetObjectItemCaseSensitive(obj, "accessList");
    uint8_t(*keys)[32] = NULL;
    if (al == NULL || cJSON_IsNull(al))
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
    cJSON_ArrayForEach(ent, al)
    {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(ent, "address");
        const cJSON *sk = cJSON_GetObjectItemCaseSensitive(ent, "storageKeys");
        uint8_t addr[20];
        if (!cJSON_IsString(a) ||
            ak_addr_parse(addr, a->valuestring, strlen(a->valuestring)) != AK_OK ||
            (sk != NULL && !cJSON_IsArray(sk)) ||
            cJSON_GetArraySize(sk) > CN_TXREQ_MAX_STORAGE_KEYS) {
            cn_err_set(e, CN_E_PARAMS, "invalid accessList entry");
            goto out;
        }
        size_t n = 0;
        const cJSON *k;
        cJSON_ArrayForEach(k, sk)
        {
            if (!cJSON_IsString(k) ||
                ak_hex_decode_exact(keys[n], 32, k->valuestring, strlen(k->valuestring)) != AK_OK) {
                cn_err_set(e, CN_E_PARAMS, "invalid accessList storage key (32 bytes of 0x hex)");
                goto out;
            }
            n++;
        }
        if (ak_tx_access_list_add(&b, addr, (const uint8_t(*)[32])keys, n) != AK_OK) {
            cn_err_set(e, CN_E_PARAMS, "accessList too large");
            goto out;
        }
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

static ak_err get_type(const cJSON *obj, int *type, cn_call_err *e)
{
    int bad = 0;
    const char *s = field_str(obj, "type", &bad);
    *type = -1;
    if (s == NULL && !bad)
        return AK_OK;
    static const char *const names[3][2] = {{"0x0", "0x00"}, {"0x1", "0x01"}, {"0x2", "0x02"}};
    for (int i = 0; s && i < 3; i++)
        if (strcmp(s, names[i][0]) == 0 || strcmp(s, names[i][1]) == 0)
            *type = i;
    if (*type < 0) {
        cn_err_set(e, CN_E_PARAMS, "unsupported transaction type (use 0x0, 0x1 or 0x2)");
        return AK_ERR_TX_TYPE;
    }
    return AK_OK;
}

ak_err cn_txreq_parse(cn_txreq *t, const cJSON *obj, uint64_t chain_id, int allow_unprotected,
                      cn_call_err *e)
{
    ak_err rc = AK_ERR_TX;
    int bad = 0, present = 0, type = -1;
    memset(t, 0, sizeof(*t));
    if (!cJSON_IsObject(obj)) {
        cn_err_set(e, CN_E_PARAMS, "expected a transaction object");
        goto out;
    }
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

    uint64_t gas = 0, gas_limit = 0;
    int has_gas = 0, has_gas_limit = 0, has_value = 0, has_chain = 0;
    uint64_t tx_chain = 0;
    if ((rc = get_u256(obj, "value", &t->tx.value, &has_value, e)) != AK_OK ||
        (rc = get_u64(obj, "gas", &gas, &has_gas, e)) != AK_OK ||
        (rc = get_u64(obj, "gasLimit", &gas_limit, &has_gas_limit, e)) != AK_OK ||
        (rc = get_u256(obj, "gasPrice", &t->tx.gas_price, &t->has_gas_price, e)) != AK_OK ||
        (rc = get_u256(obj, "maxFeePerGas", &t->tx.max_fee_per_gas, &t->has_max_fee, e)) != AK_OK ||
        (rc = get_u256(obj, "maxPriorityFeePerGas", &t->tx.max_priority_fee_per_gas,
                       &t->has_max_prio, e)) != AK_OK ||
        (rc = get_u64(obj, "nonce", &t->tx.nonce, &t->has_nonce, e)) != AK_OK ||
        (rc = get_u64(obj, "chainId", &tx_chain, &has_chain, e)) != AK_OK ||
        (rc = get_type(obj, &type, e)) != AK_OK || (rc = get_data(t, obj, e)) != AK_OK ||
        (rc = get_access_list(t, obj, e)) != AK_OK)
        goto out;
    (void)present;
    rc = AK_ERR_TX;
    if (has_gas && has_gas_limit && gas != gas_limit) {
        cn_err_set(e, CN_E_PARAMS, "both gas and gasLimit are set and they differ");
        goto out;
    }
    t->has_gas = has_gas || has_gas_limit;
    t->tx.gas_limit = has_gas ? gas : gas_limit;
    if (!t->tx.has_to && t->tx.data_len == 0) {
        cn_err_set(e, CN_E_PARAMS, "contract creation (no to) without data");
        goto out;
    }

    int has_1559 = t->has_max_fee || t->has_max_prio;
    if (t->has_gas_price && has_1559) {
        cn_err_set(e, CN_E_PARAMS,
                   "both gasPrice and (maxFeePerGas or maxPriorityFeePerGas) specified");
        goto out;
    }
    if (type < 0)
        type = has_1559 ? 2 : t->has_gas_price ? (t->access_list_json ? 1 : 0) : 2;
    if (type != 2 && has_1559) {
        cn_err_set(e, CN_E_PARAMS, "maxFeePerGas/maxPriorityFeePerGas need a type 0x2 transaction");
        goto out;
    }
    if (type == 2 && t->has_gas_price) {
        cn_err_set(e, CN_E_PARAMS, "gasPrice is not used by type 0x2 transactions");
        goto out;
    }
    if (type == 0 && t->access_list_json != NULL) {
        cn_err_set(e, CN_E_PARAMS, "accessList needs a type 0x1 or 0x2 transaction");
        goto out;
    }
    if (t->has_max_fee && t->has_max_prio &&
        ak_u256_cmp(&t->tx.max_priority_fee_per_gas, &t->tx.max_fee_per_gas) > 0) {
        cn_err_set(e, CN_E_PARAMS, "maxPriorityFeePerGas exceeds maxFeePerGas");
        goto out;
    }
    t->tx.type = (ak_tx_type)type;
    t->tx.chain_id = chain_id;
    if (has_chain && tx_chain == 0) {
        if (type != 0 || !allow_unprotected) {
            cn_err_set(e, CN_E_PARAMS,
                       "refusing to sign without replay protection (chainId 0x0); the "
                       "configuration does not allow unprotected transactions");
            goto out;
        }
        t->tx.pre155 = 1;
        t->tx.chain_id = 0;
    } else if (has_chain && tx_chain != chain_id) {
        cn_err_set(e, CN_E_PARAMS,
                   "transaction chainId %llu does not match the connector's chain id %llu",
                   (unsigned long long)tx_chain, (unsigned long long)chain_id);
        goto out;
    }
    rc = AK_OK;
out:
    if (rc != AK_OK && e->code == 0)
        cn_err_set(e, CN_E_PARAMS, "invalid transaction");
    return rc;
}

/* A QUANTITY result as u256; -32001 if the node sent something else. */
static ak_err result_u256(ak_u256 *out, const cJSON *res, const char *method, cn_call_err *e)
{
    if (!cJSON_IsString(res) ||
        ak_u256_parse_quantity(out, res->valuestring, strlen(res->valuestring)) != AK_OK) {
        cn_err_set(e, CN_E_DOWNSTREAM, "downstream returned a malformed %s result", method);
        return AK_ERR_UPSTREAM;
    }
    return AK_OK;
}

static ak_err add_quantity(cJSON *o, const char *name, const ak_u256 *v)
{
    char q[AK_U256_QUANTITY_MAX];
    if (ak_u256_format_quantity(q, sizeof(q), v) != AK_OK)
        return AK_ERR_INTERNAL;
    return cJSON_AddStringToObject(o, name, q) ? AK_OK : AK_ERR_NOMEM;
}

static ak_err fill_gas(cn_txreq *t, const cn_transport *ds, cn_call_err *e)
{
    ak_err rc = AK_ERR_NOMEM;
    cn_ds_reply rep = {0};
    char addr[AK_ADDR_STR_SIZE];
    char *hex = NULL;
    cJSON *params = cJSON_CreateArray();
    cJSON *call = cJSON_CreateObject();
    if (params == NULL || call == NULL) {
        cJSON_Delete(call); /* not yet owned by params */
        goto out;
    }
    cJSON_AddItemToArray(params, call);
    ak_addr_to_checksum(addr, t->from);
    if (!cJSON_AddStringToObject(call, "from", addr))
        goto out;
    if (t->tx.has_to) {
        ak_addr_to_checksum(addr, t->tx.to);
        if (!cJSON_AddStringToObject(call, "to", addr))
            goto out;
    }
    if (add_quantity(call, "value", &t->tx.value) != AK_OK)
        goto out;
    if (t->tx.data_len > 0) {
        size_t cap = AK_HEX_ENCODED_SIZE(t->tx.data_len);
        hex = malloc(cap);
        if (hex == NULL || ak_hex_encode(hex, cap, t->tx.data, t->tx.data_len) != AK_OK ||
            !cJSON_AddStringToObject(call, "data", hex))
            goto out;
    }
    if (t->access_list_json != NULL) {
        cJSON *dup = cJSON_Duplicate(t->access_list_json, 1);
        if (dup == NULL)
            goto out;
        cJSON_AddItemToObject(call, "accessList", dup);
    }
    rc = cn_ds_call(ds, &rep, "eth_estimateGas", params);
    params = NULL;
    if (rc != AK_OK) {
        cn_err_from_ds(e, rc, &rep, "eth_estimateGas");
        goto out;
    }
    ak_u256 g;
    if ((rc = result_u256(&g, rep.result, "eth_estimateGas", e)) != AK_OK)
        goto out;
    if (!ak_u256_to_u64(&t->tx.gas_limit, &g)) {
        cn_err_set(e, CN_E_DOWNSTREAM, "downstream gas estimate does not fit 64 bits");
        rc = AK_ERR_RANGE;
        goto out;
    }
    rc = AK_OK;
out:
    if (rc == AK_ERR_NOMEM && e->code == 0)
        cn_err_set(e, CN_E_INTERNAL, "out of memory");
    cJSON_Delete(params);
    cn_ds_reply_free(&rep);
    free(hex);
    return rc;
}

/* A no-params call returning a QUANTITY. */
static ak_err simple_quantity(const cn_transport *ds, const char *method, ak_u256 *out,
                              cn_call_err *e)
{
    cn_ds_reply rep = {0};
    ak_err rc = cn_ds_call(ds, &rep, method, NULL);
    if (rc != AK_OK)
        cn_err_from_ds(e, rc, &rep, method);
    else
        rc = result_u256(out, rep.result, method, e);
    cn_ds_reply_free(&rep);
    return rc;
}

/* eth_feeHistory over the last 4 blocks: next base fee and the highest median reward. */
static ak_err fee_history(const cn_transport *ds, ak_u256 *base_fee, ak_u256 *reward,
                          cn_call_err *e)
{
    ak_err rc = AK_ERR_NOMEM;
    cn_ds_reply rep = {0};
    cJSON *params = cJSON_CreateArray();
    cJSON *pct = cJSON_CreateArray();
    if (params == NULL || pct == NULL)
        goto out;
    cJSON_AddItemToArray(pct, cJSON_CreateNumber(50));
    cJSON_AddItemToArray(params, cJSON_CreateString("0x4"));
    cJSON_AddItemToArray(params, cJSON_CreateString("latest"));
    cJSON_AddItemToArray(params, pct);
    pct = NULL;
    if (cJSON_GetArraySize(params) != 3)
        goto out;
    rc = cn_ds_call(ds, &rep, "eth_feeHistory", params);
    params = NULL;
    if (rc != AK_OK) {
        cn_err_from_ds(e, rc, &rep, "eth_feeHistory");
        goto out;
    }
    const cJSON *bf = cJSON_GetObjectItemCaseSensitive(rep.result, "baseFeePerGas");
    int n = cJSON_GetArraySize(bf);
    if (!cJSON_IsArray(bf) || n < 1) {
        cn_err_set(e, CN_E_DOWNSTREAM,
                   "downstream reports no base fee (pre-London chain?): send gasPrice instead");
        rc = AK_ERR_UPSTREAM;
        goto out;
    }
    if ((rc = result_u256(base_fee, cJSON_GetArrayItem(bf, n - 1), "eth_feeHistory", e)) != AK_OK)
        goto out;
    ak_u256_from_u64(reward, 0);
    const cJSON *rw = cJSON_GetObjectItemCaseSensitive(rep.result, "reward");
    const cJSON *row;
    cJSON_ArrayForEach(row, rw)
    {
        ak_u256 v;
        const cJSON *first = cJSON_GetArrayItem(row, 0);
        if (cJSON_IsString(first) &&
            ak_u256_parse_quantity(&v, first->valuestring, strlen(first->valuestring)) == AK_OK &&
            ak_u256_cmp(&v, reward) > 0)
            *reward = v;
    }
    rc = AK_OK;
out:
    if (rc == AK_ERR_NOMEM && e->code == 0)
        cn_err_set(e, CN_E_INTERNAL, "out of memory");
    cJSON_Delete(params);
    cJSON_Delete(pct);
    cn_ds_reply_free(&rep);
    return rc;
}

static ak_err fill_1559(cn_txreq *t, const cn_transport *ds, cn_call_err *e)
{
    ak_err rc = AK_OK;
    ak_u256 base = {{0}}, hist_reward = {{0}}, prio;
    int have_hist = 0;
    if (!t->has_max_fee || !t->has_max_prio) {
        cn_call_err tmp = {0};
        if (fee_history(ds, &base, &hist_reward, &tmp) == AK_OK) {
            have_hist = 1;
        } else if (!t->has_max_fee) {
            *e = tmp; /* needed for maxFeePerGas: report it */
            return AK_ERR_UPSTREAM;
        } else {
            cJSON_Delete(tmp.passthrough);
        }
    }
    if (!t->has_max_prio) {
        cn_call_err tmp = {0};
        rc = simple_quantity(ds, "eth_maxPriorityFeePerGas", &prio, &tmp);
        if (rc != AK_OK && (tmp.code == CN_E_NETWORK || !have_hist)) {
            cJSON_Delete(e->passthrough);
            *e = tmp;
            return rc;
        }
        cJSON_Delete(tmp.passthrough);
        if (rc != AK_OK)
            prio = hist_reward; /* node without eth_maxPriorityFeePerGas */
        if (t->has_max_fee && ak_u256_cmp(&prio, &t->tx.max_fee_per_gas) > 0)
            prio = t->tx.max_fee_per_gas;
        t->tx.max_priority_fee_per_gas = prio;
        t->has_max_prio = 1;
    }
    if (!t->has_max_fee) {
        ak_u256 two, fee;
        ak_u256_from_u64(&two, 2);
        if (ak_u256_mul(&fee, &base, &two) != AK_OK ||
            ak_u256_add(&fee, &fee, &t->tx.max_priority_fee_per_gas) != AK_OK) {
            cn_err_set(e, CN_E_DOWNSTREAM, "downstream base fee out of range");
            return AK_ERR_RANGE;
        }
        t->tx.max_fee_per_gas = fee;
        t->has_max_fee = 1;
    }
    return AK_OK;
}

ak_err cn_txreq_fill(cn_txreq *t, const cn_transport *ds, cn_call_err *e)
{
    ak_err rc = AK_OK;
    if (!t->has_gas) {
        if ((rc = fill_gas(t, ds, e)) != AK_OK)
            return rc;
        t->has_gas = 1;
    }
    if (t->tx.type == AK_TX_EIP1559)
        return fill_1559(t, ds, e);
    if (!t->has_gas_price) {
        if ((rc = simple_quantity(ds, "eth_gasPrice", &t->tx.gas_price, e)) != AK_OK)
            return rc;
        t->has_gas_price = 1;
    }
    return AK_OK;
}

void cn_txreq_free(cn_txreq *t)
{
    if (t == NULL)
        return;
    free(t->data);
    free(t->access_list);
    t->data = NULL;
    t->access_list = NULL;
}
