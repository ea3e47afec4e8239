/* cn_txreq_fill.c - filling a transaction request from the downstream node: gas, fees, blob fee
 * (see cn_txreq.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ak_addr.h"
#include "ak_hex.h"
#include "ak_json.h"
#include "ak_u256.h"
#include "cn_txreq.h"

/* A QUANTITY result as u256; -32001 if the node sent something else. */
static ak_err result_u256(ak_u256 *out, const cJSON *res, const char *method, cn_rpc_err *e)
{
    if (!cJSON_IsString(res) ||
        ak_u256_parse_quantity(out, res->valuestring, strlen(res->valuestring)) != AK_OK) {
        cn_err_set(e, CN_E_DOWNSTREAM, "downstream returned a malformed %s result", method);
        return AK_ERR_UPSTREAM;
    }
    return AK_OK;
}

/* A call returning a QUANTITY (params taken, NULL for none). */
static ak_err call_quantity(const cn_transport *ds, const char *method, cJSON *params, ak_u256 *out,
                            cn_rpc_err *e)
{
    cn_ds_reply rep = {0};
    ak_err rc = cn_ds_call(ds, &rep, method, params);
    if (rc != AK_OK)
        cn_err_from_ds(e, rc, &rep, method);
    else
        rc = result_u256(out, rep.result, method, e);
    cn_ds_reply_free(&rep);
    return rc;
}

/* The type 3 / 4 members of an eth_estimateGas call, as the node's TransactionArgs reads them. */
static ak_err add_typed_members(cJSON *call, const cn_txreq *t)
{
    if (t->tx.n_blob_hashes > 0) {
        cJSON *arr = cJSON_AddArrayToObject(call, "blobVersionedHashes");
        for (size_t i = 0; arr && i < t->tx.n_blob_hashes; i++) {
            cJSON *s = cJSON_CreateString("");
            if (s == NULL || !cJSON_AddItemToArray(arr, s))
                return AK_ERR_NOMEM;
            char hex[AK_HEX_ENCODED_SIZE(32)];
            if (ak_hex_encode(hex, sizeof(hex), t->tx.blob_hashes[i], 32) != AK_OK ||
                cJSON_SetValuestring(s, hex) == NULL)
                return AK_ERR_NOMEM;
        }
        if (arr == NULL)
            return AK_ERR_NOMEM;
        if (t->has_blob_fee &&
            ak_json_add_quantity(call, "maxFeePerBlobGas", &t->tx.max_fee_per_blob_gas))
            return AK_ERR_NOMEM;
    }
    if (t->n_auths > 0) {
        cJSON *list = cJSON_AddArrayToObject(call, "authorizationList");
        if (list == NULL)
            return AK_ERR_NOMEM;
        for (size_t i = 0; i < t->n_auths; i++) {
            cJSON *o = cn_txreq_auth_json(&t->auths[i].auth, &t->auths[i].sig);
            if (o == NULL || !cJSON_AddItemToArray(list, o)) {
                cJSON_Delete(o);
                return AK_ERR_NOMEM;
            }
        }
    }
    return AK_OK;
}

static ak_err fill_gas(cn_txreq *t, const cn_transport *ds, cn_rpc_err *e)
{
    ak_err rc = AK_ERR_NOMEM;
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
    if (ak_json_add_quantity(call, "value", &t->tx.value) != AK_OK)
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
    if (add_typed_members(call, t) != AK_OK)
        goto out;
    ak_u256 g;
    rc = call_quantity(ds, "eth_estimateGas", params, &g, e);
    params = NULL;
    if (rc != AK_OK)
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
    free(hex);
    return rc;
}

/* eth_feeHistory over the last 4 blocks: next base fee and the highest median reward. */
static ak_err fee_history(const cn_transport *ds, ak_u256 *base_fee, ak_u256 *reward, cn_rpc_err *e)
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

static ak_err fill_1559(cn_txreq *t, const cn_transport *ds, cn_rpc_err *e)
{
    ak_err rc = AK_OK;
    ak_u256 base = {{0}}, hist_reward = {{0}}, prio;
    int have_hist = 0;
    if (!t->has_max_fee || !t->has_max_prio) {
        cn_rpc_err tmp = {0};
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
        cn_rpc_err tmp = {0};
        rc = call_quantity(ds, "eth_maxPriorityFeePerGas", NULL, &prio, &tmp);
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

/* maxFeePerBlobGas = 2 * eth_blobBaseFee (room for the blob base fee to double, as for gas). */
static ak_err fill_blob_fee(cn_txreq *t, const cn_transport *ds, cn_rpc_err *e)
{
    ak_u256 base, two;
    ak_err rc = call_quantity(ds, "eth_blobBaseFee", NULL, &base, e);
    if (rc != AK_OK)
        return rc;
    ak_u256_from_u64(&two, 2);
    if (ak_u256_mul(&t->tx.max_fee_per_blob_gas, &base, &two) != AK_OK) {
        cn_err_set(e, CN_E_DOWNSTREAM, "downstream blob base fee out of range");
        return AK_ERR_RANGE;
    }
    t->has_blob_fee = 1;
    return AK_OK;
}

ak_err cn_txreq_fill_gas(cn_txreq *t, const cn_transport *ds, cn_rpc_err *e)
{
    ak_err rc = AK_OK;
    if (t->type == 3 && !t->has_blob_fee && (rc = fill_blob_fee(t, ds, e)) != AK_OK)
        return rc;
    if (!t->has_gas) {
        if ((rc = fill_gas(t, ds, e)) != AK_OK)
            return rc;
        t->has_gas = 1;
    }
    return AK_OK;
}

ak_err cn_txreq_fill_fees(cn_txreq *t, const cn_transport *ds, cn_rpc_err *e)
{
    ak_err rc = AK_OK;
    if (t->type >= 2)
        return fill_1559(t, ds, e);
    if (!t->has_gas_price) {
        if ((rc = call_quantity(ds, "eth_gasPrice", NULL, &t->tx.gas_price, e)) != AK_OK)
            return rc;
        t->has_gas_price = 1;
    }
    return AK_OK;
}
