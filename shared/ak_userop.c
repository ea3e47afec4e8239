/* ak_userop.c - ERC-4337 v0.7 UserOperation fields and hashes (see ak_userop.h). */
#include "ak_userop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ak_abi.h"
#include "ak_addr.h"
#include "ak_hex.h"
#include "ak_keccak.h"

void ak_userop_clear(ak_userop *op)
{
    if (op == NULL)
        return;
    free(op->factory_data);
    free(op->call_data);
    free(op->paymaster_data);
    free(op->signature);
    memset(op, 0, sizeof(*op));
}

static int member_known(const char *k)
{
    static const char *const known[] = {"sender",
                                        "nonce",
                                        "factory",
                                        "factoryData",
                                        "callData",
                                        "callGasLimit",
                                        "verificationGasLimit",
                                        "preVerificationGas",
                                        "maxFeePerGas",
                                        "maxPriorityFeePerGas",
                                        "paymaster",
                                        "paymasterVerificationGasLimit",
                                        "paymasterPostOpGasLimit",
                                        "paymasterData",
                                        "signature",
                                        NULL};
    for (size_t i = 0; known[i] != NULL; i++)
        if (strcmp(k, known[i]) == 0)
            return 1;
    return 0;
}

/* The member, or NULL when absent or JSON null. */
static const cJSON *member(const cJSON *obj, const char *name)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsNull(it) ? NULL : it;
}

static ak_err get_address(uint8_t out[20], int *has, const cJSON *obj, const char *name)
{
    const cJSON *it = member(obj, name);
    if (it == NULL)
        return AK_ERR_NOT_FOUND;
    if (!cJSON_IsString(it))
        return AK_ERR_ADDRESS;
    ak_err rc = ak_addr_parse(out, it->valuestring, strlen(it->valuestring));
    if (rc == AK_OK && has != NULL)
        *has = 1;
    return rc;
}

static ak_err get_quantity(ak_u256 *out, const cJSON *obj, const char *name, unsigned max_bits)
{
    const cJSON *it = member(obj, name);
    if (it == NULL)
        return AK_ERR_NOT_FOUND;
    if (!cJSON_IsString(it))
        return AK_ERR_QUANTITY;
    ak_err rc = ak_u256_parse_quantity(out, it->valuestring, strlen(it->valuestring));
    if (rc == AK_OK && ak_u256_bits(out) > max_bits)
        rc = AK_ERR_RANGE;
    return rc;
}

/* Optional DATA member into a malloc'd buffer (NULL when empty or absent). */
static ak_err get_data(uint8_t **out, size_t *out_len, const cJSON *obj, const char *name,
                       size_t max)
{
    const cJSON *it = member(obj, name);
    *out = NULL;
    *out_len = 0;
    if (it == NULL)
        return AK_ERR_NOT_FOUND;
    if (!cJSON_IsString(it))
        return AK_ERR_HEX;
    size_t hl = strlen(it->valuestring);
    if (hl < 2)
        return AK_ERR_HEX;
    if ((hl - 2) / 2 > max)
        return AK_ERR_LIMIT;
    if (hl == 2)
        return ak_hex_decode(NULL, 0, out_len, it->valuestring, hl);
    uint8_t *buf = malloc((hl - 2) / 2);
    if (buf == NULL)
        return AK_ERR_NOMEM;
    ak_err rc = ak_hex_decode(buf, (hl - 2) / 2, out_len, it->valuestring, hl);
    if (rc != AK_OK) {
        free(buf);
        return rc;
    }
    *out = buf;
    return AK_OK;
}

ak_err ak_userop_from_json(ak_userop *op, const cJSON *obj, char *why, size_t why_cap)
{
    ak_err rc = AK_ERR_JSON;
    const char *field = "userOperation";
    memset(op, 0, sizeof(*op));
    if (!cJSON_IsObject(obj))
        goto out;
    const cJSON *it;
    cJSON_ArrayForEach(it, obj)
    {
        if (!member_known(it->string)) {
            field = it->string;
            rc = AK_ERR_JSON;
            goto out;
        }
    }
    field = "sender";
    if ((rc = get_address(op->sender, NULL, obj, field)) != AK_OK)
        goto out;
    field = "nonce";
    if ((rc = get_quantity(&op->nonce, obj, field, 256)) != AK_OK)
        goto out;
    field = "callData";
    if ((rc = get_data(&op->call_data, &op->call_data_len, obj, field, AK_USEROP_MAX_CALL_DATA)) !=
        AK_OK)
        goto out;
    field = "factory";
    rc = get_address(op->factory, &op->has_factory, obj, field);
    if (rc != AK_OK && rc != AK_ERR_NOT_FOUND)
        goto out;
    field = "factoryData";
    rc = get_data(&op->factory_data, &op->factory_data_len, obj, field, AK_USEROP_MAX_FACTORY_DATA);
    if (rc != AK_OK && rc != AK_ERR_NOT_FOUND)
        goto out;
    if (!op->has_factory && op->factory_data_len > 0) {
        rc = AK_ERR_JSON; /* factoryData without a factory */
        goto out;
    }
    struct {
        const char *name;
        ak_u256 *v;
        unsigned bit;
    } gas[] = {
        {"callGasLimit", &op->call_gas_limit, AK_USEROP_F_CALL_GAS},
        {"verificationGasLimit", &op->verification_gas_limit, AK_USEROP_F_VERIFICATION_GAS},
        {"preVerificationGas", &op->pre_verification_gas, AK_USEROP_F_PRE_VERIFICATION_GAS},
        {"maxFeePerGas", &op->max_fee_per_gas, AK_USEROP_F_MAX_FEE},
        {"maxPriorityFeePerGas", &op->max_priority_fee_per_gas, AK_USEROP_F_MAX_PRIORITY_FEE},
        {"paymasterVerificationGasLimit", &op->paymaster_verification_gas_limit, 0},
        {"paymasterPostOpGasLimit", &op->paymaster_post_op_gas_limit, 0},
    };
    for (size_t i = 0; i < sizeof(gas) / sizeof(gas[0]); i++) {
        field = gas[i].name;
        /* preVerificationGas is a uint256 in the struct, but 128 bits is more than any chain's
         * block gas and keeps the sums below far from overflow. */
        rc = get_quantity(gas[i].v, obj, field, 128);
        if (rc == AK_OK)
            op->present |= gas[i].bit;
        else if (rc != AK_ERR_NOT_FOUND)
            goto out;
    }
    field = "paymaster";
    rc = get_address(op->paymaster, &op->has_paymaster, obj, field);
    if (rc != AK_OK && rc != AK_ERR_NOT_FOUND)
        goto out;
    field = "paymasterData";
    rc = get_data(&op->paymaster_data, &op->paymaster_data_len, obj, field, AK_USEROP_MAX_SMALL);
    if (rc != AK_OK && rc != AK_ERR_NOT_FOUND)
        goto out;
    field = "signature";
    rc = get_data(&op->signature, &op->signature_len, obj, field, AK_USEROP_MAX_SMALL);
    if (rc != AK_OK && rc != AK_ERR_NOT_FOUND)
        goto out;
    rc = AK_OK;
out:
    if (rc != AK_OK) {
        if (why != NULL && why_cap > 0)
            snprintf(why, why_cap, "%.64s", field);
        ak_userop_clear(op);
    }
    return rc;
}

void ak_userop_init_code_hash(uint8_t out[32], const ak_userop *op)
{
    if (op->has_factory)
        ak_abi_keccak2(out, op->factory, 20, op->factory_data, op->factory_data_len);
    else
        ak_abi_keccak2(out, NULL, 0, NULL, 0);
}

ak_err ak_userop_account_gas_limits(uint8_t out[32], const ak_userop *op)
{
    return ak_abi_pack_u128x2(out, &op->verification_gas_limit, &op->call_gas_limit);
}

ak_err ak_userop_gas_fees(uint8_t out[32], const ak_userop *op)
{
    return ak_abi_pack_u128x2(out, &op->max_priority_fee_per_gas, &op->max_fee_per_gas);
}

ak_err ak_userop_vp_hash(uint8_t out[32], const ak_userop *op, uint64_t chain_id,
                         const uint8_t paymaster[20], uint64_t valid_until, uint64_t valid_after)
{
    uint8_t enc[12 * AK_ABI_WORD];
    ak_err rc;
    if (valid_until > AK_USEROP_UINT48_MAX || valid_after > AK_USEROP_UINT48_MAX)
        return AK_ERR_RANGE;
    ak_abi_word_address(enc + 0 * AK_ABI_WORD, op->sender);
    ak_abi_word_u256(enc + 1 * AK_ABI_WORD, &op->nonce);
    ak_userop_init_code_hash(enc + 2 * AK_ABI_WORD, op);
    ak_keccak256(enc + 3 * AK_ABI_WORD, op->call_data, op->call_data_len);
    if ((rc = ak_userop_account_gas_limits(enc + 4 * AK_ABI_WORD, op)) != AK_OK)
        return rc;
    /* uint256(bytes32(paymasterAndData[20:52])): the two paymaster gas limits, packed. */
    if ((rc = ak_abi_pack_u128x2(enc + 5 * AK_ABI_WORD, &op->paymaster_verification_gas_limit,
                                 &op->paymaster_post_op_gas_limit)) != AK_OK)
        return rc;
    ak_abi_word_u256(enc + 6 * AK_ABI_WORD, &op->pre_verification_gas);
    if ((rc = ak_userop_gas_fees(enc + 7 * AK_ABI_WORD, op)) != AK_OK)
        return rc;
    ak_abi_word_u64(enc + 8 * AK_ABI_WORD, chain_id);
    ak_abi_word_address(enc + 9 * AK_ABI_WORD, paymaster);
    ak_abi_word_u64(enc + 10 * AK_ABI_WORD, valid_until);
    ak_abi_word_u64(enc + 11 * AK_ABI_WORD, valid_after);
    ak_keccak256(out, enc, sizeof(enc));
    return AK_OK;
}

ak_err ak_userop_vp_data(uint8_t out[AK_USEROP_VP_DATA_LEN], uint64_t valid_until,
                         uint64_t valid_after, const uint8_t sig[AK_USEROP_VP_SIG_LEN])
{
    if (valid_until > AK_USEROP_UINT48_MAX || valid_after > AK_USEROP_UINT48_MAX)
        return AK_ERR_RANGE;
    ak_abi_word_u64(out, valid_until);
    ak_abi_word_u64(out + AK_ABI_WORD, valid_after);
    memcpy(out + 2 * AK_ABI_WORD, sig, AK_USEROP_VP_SIG_LEN);
    return AK_OK;
}

ak_err ak_userop_vp_data_parse(uint64_t *valid_until, uint64_t *valid_after, const uint8_t **sig,
                               size_t *sig_len, const uint8_t *data, size_t len)
{
    ak_err rc;
    if (len < 2 * AK_ABI_WORD)
        return AK_ERR_LIMIT;
    if ((rc = ak_abi_decode_uint(valid_until, data, 48)) != AK_OK ||
        (rc = ak_abi_decode_uint(valid_after, data + AK_ABI_WORD, 48)) != AK_OK)
        return rc;
    *sig = data + 2 * AK_ABI_WORD;
    *sig_len = len - 2 * AK_ABI_WORD;
    return AK_OK;
}

ak_err ak_userop_paymaster_and_data(uint8_t *out, size_t cap, size_t *out_len, const ak_userop *op)
{
    uint8_t limits[32];
    if (!op->has_paymaster)
        return AK_ERR_ARG;
    if (cap < AK_USEROP_PM_DATA_OFFSET || cap - AK_USEROP_PM_DATA_OFFSET < op->paymaster_data_len)
        return AK_ERR_BUFFER;
    ak_err rc = ak_abi_pack_u128x2(limits, &op->paymaster_verification_gas_limit,
                                   &op->paymaster_post_op_gas_limit);
    if (rc != AK_OK)
        return rc;
    memcpy(out, op->paymaster, 20);
    memcpy(out + 20, limits, 32);
    if (op->paymaster_data_len > 0)
        memcpy(out + AK_USEROP_PM_DATA_OFFSET, op->paymaster_data, op->paymaster_data_len);
    *out_len = AK_USEROP_PM_DATA_OFFSET + op->paymaster_data_len;
    return AK_OK;
}

ak_err ak_userop_hash(uint8_t out[32], const ak_userop *op, const uint8_t entry_point[20],
                      uint64_t chain_id)
{
    uint8_t enc[8 * AK_ABI_WORD], outer[3 * AK_ABI_WORD];
    uint8_t pad[AK_USEROP_PM_DATA_OFFSET + AK_USEROP_MAX_SMALL];
    size_t pad_len = 0;
    ak_err rc;
    /* UserOperationLib.encode: sender, nonce, keccak(initCode), keccak(callData),
     * accountGasLimits, preVerificationGas, gasFees, keccak(paymasterAndData). */
    ak_abi_word_address(enc, op->sender);
    ak_abi_word_u256(enc + 1 * AK_ABI_WORD, &op->nonce);
    ak_userop_init_code_hash(enc + 2 * AK_ABI_WORD, op);
    ak_keccak256(enc + 3 * AK_ABI_WORD, op->call_data, op->call_data_len);
    if ((rc = ak_userop_account_gas_limits(enc + 4 * AK_ABI_WORD, op)) != AK_OK)
        return rc;
    ak_abi_word_u256(enc + 5 * AK_ABI_WORD, &op->pre_verification_gas);
    if ((rc = ak_userop_gas_fees(enc + 6 * AK_ABI_WORD, op)) != AK_OK)
        return rc;
    if (op->has_paymaster &&
        (rc = ak_userop_paymaster_and_data(pad, sizeof(pad), &pad_len, op)) != AK_OK)
        return rc;
    ak_keccak256(enc + 7 * AK_ABI_WORD, pad, pad_len);
    ak_keccak256(outer, enc, sizeof(enc));
    ak_abi_word_address(outer + AK_ABI_WORD, entry_point);
    ak_abi_word_u64(outer + 2 * AK_ABI_WORD, chain_id);
    ak_keccak256(out, outer, sizeof(outer));
    return AK_OK;
}

ak_err ak_userop_max_cost(ak_u256 *cost, ak_u256 *total_gas, const ak_userop *op)
{
    ak_u256 g = op->call_gas_limit;
    ak_err rc;
    if ((rc = ak_u256_add(&g, &g, &op->verification_gas_limit)) != AK_OK ||
        (rc = ak_u256_add(&g, &g, &op->pre_verification_gas)) != AK_OK ||
        (rc = ak_u256_add(&g, &g, &op->paymaster_verification_gas_limit)) != AK_OK ||
        (rc = ak_u256_add(&g, &g, &op->paymaster_post_op_gas_limit)) != AK_OK ||
        (rc = ak_u256_mul(cost, &g, &op->max_fee_per_gas)) != AK_OK)
        return rc;
    *total_gas = g;
    return AK_OK;
}
