/*
 * cn_intent.c - fill an ak_intent from what each signing method already parsed (see
 * cn_intent.h). Pure: no I/O, no state.
 */
#include "cn_intent.h"

#include <string.h>

#include "ak_addr.h"

const ak_intent *cn_intent_message(ak_intent *in, const uint8_t *msg, size_t len)
{
    memset(in, 0, sizeof *in);
    in->kind = AK_INTENT_EIP191_MESSAGE;
    /* borrowed, never freed through the intent (cn_intent.h) */
    in->message = len > 0 ? (uint8_t *)(uintptr_t)msg : NULL;
    in->message_len = len;
    return in;
}

const ak_intent *cn_intent_typed(ak_intent *in, const cJSON *td, cJSON **owned)
{
    memset(in, 0, sizeof *in);
    *owned = NULL;
    in->kind = AK_INTENT_EIP712_TYPED_DATA;
    if (cJSON_IsString(td)) {
        *owned = cJSON_Parse(td->valuestring);
        td = *owned;
    }
    if (!cJSON_IsObject(td))
        return NULL;
    in->typed_data = td;
    return in;
}

const ak_intent *cn_intent_tx(ak_intent *in, const ak_tx *tx)
{
    memset(in, 0, sizeof *in);
    in->kind = AK_INTENT_ETH_TRANSACTION;
    in->tx = *tx;
    return in;
}

const ak_intent *cn_intent_auth(ak_intent *in, const ak_auth *auth)
{
    memset(in, 0, sizeof *in);
    in->kind = AK_INTENT_EIP7702_AUTHORIZATION;
    in->auth = *auth;
    return in;
}

const ak_intent *cn_intent_block(ak_intent *in, const ak_opsig_block *blk)
{
    memset(in, 0, sizeof *in);
    in->kind = AK_INTENT_OP_BLOCK_PAYLOAD;
    in->blk = *blk;
    return in;
}

/* Replace (or add) member name of o with a new item; 0 out of memory. */
static int put(cJSON *o, const char *name, cJSON *v)
{
    if (v == NULL)
        return 0;
    if (cJSON_HasObjectItem(o, name))
        return cJSON_ReplaceItemInObjectCaseSensitive(o, name, v) ? 1 : (cJSON_Delete(v), 0);
    return cJSON_AddItemToObject(o, name, v) ? 1 : (cJSON_Delete(v), 0);
}

static cJSON *qty(const ak_u256 *v)
{
    char s[AK_U256_QUANTITY_MAX];
    return ak_u256_format_quantity(s, sizeof s, v) == AK_OK ? cJSON_CreateString(s) : NULL;
}

const ak_intent *cn_intent_paymaster(ak_intent *in, cJSON **owned, const cJSON *uo,
                                     const ak_userop *op, const uint8_t entry_point[20],
                                     uint64_t chain_id, uint64_t valid_until, uint64_t valid_after)
{
    char pm[AK_ADDR_STR_SIZE];
    memset(in, 0, sizeof *in);
    in->kind = AK_INTENT_ERC4337_PAYMASTER;
    ak_addr_to_checksum(pm, op->paymaster);
    *owned = cJSON_Duplicate(uo, 1);
    if (*owned == NULL || !put(*owned, "paymaster", cJSON_CreateString(pm)) ||
        !put(*owned, "paymasterVerificationGasLimit", qty(&op->paymaster_verification_gas_limit)) ||
        !put(*owned, "paymasterPostOpGasLimit", qty(&op->paymaster_post_op_gas_limit)))
        return NULL;
    in->user_operation = *owned;
    memcpy(in->entry_point, entry_point, 20);
    memcpy(in->paymaster, op->paymaster, 20);
    ak_u256_from_u64(&in->chain_id, chain_id);
    in->valid_until = valid_until;
    in->valid_after = valid_after;
    return in;
}
