/* ak_intent_tx.c - strict decoder of unsigned transaction signing payloads (see ak_intent.h). */
#include <stdlib.h>
#include <string.h>

#include "ak_intent.h"
#include "ak_rlp.h"

#define MAX_FIELDS 11

/* Integer views: a too-long integer is AK_ERR_TX, malformed RLP stays AK_ERR_RLP. */
static ak_err u64_of(uint64_t *out, const ak_rlp_item *it)
{
    ak_err err = ak_rlp_item_u64(out, it);
    return err == AK_ERR_RANGE ? AK_ERR_TX : err;
}

static ak_err u256_of(ak_u256 *out, const ak_rlp_item *it)
{
    ak_err err = ak_rlp_item_u256(out, it);
    return err == AK_ERR_RANGE ? AK_ERR_TX : err;
}

/* The fields common to every type from f[i]: nonce, fee(s), gas, to, value, data (and access
 * list for typed ones); *i advances past them. */
static ak_err common_fields(ak_tx *t, const ak_rlp_item *f, size_t *i)
{
    ak_err err;
    if ((err = u64_of(&t->nonce, &f[(*i)++])) != AK_OK)
        return err;
    if (t->type == AK_TX_LEGACY || t->type == AK_TX_EIP2930) {
        if ((err = u256_of(&t->gas_price, &f[(*i)++])) != AK_OK)
            return err;
    } else if ((err = u256_of(&t->max_priority_fee_per_gas, &f[(*i)++])) != AK_OK ||
               (err = u256_of(&t->max_fee_per_gas, &f[(*i)++])) != AK_OK) {
        return err;
    }
    if ((err = u64_of(&t->gas_limit, &f[(*i)++])) != AK_OK)
        return err;
    const ak_rlp_item *to = &f[(*i)++];
    if (to->is_list || (to->payload_len != 0 && to->payload_len != 20))
        return AK_ERR_TX;
    t->has_to = to->payload_len == 20;
    if (t->has_to)
        memcpy(t->to, to->payload, 20);
    if ((err = u256_of(&t->value, &f[(*i)++])) != AK_OK)
        return err;
    const ak_rlp_item *d = &f[(*i)++];
    if (d->is_list)
        return AK_ERR_TX;
    if (d->payload_len > AK_TX_MAX_DATA)
        return AK_ERR_LIMIT;
    t->data = d->payload_len ? d->payload : NULL;
    t->data_len = d->payload_len;
    if (t->type != AK_TX_LEGACY) {
        const ak_rlp_item *al = &f[(*i)++];
        if (!al->is_list)
            return AK_ERR_TX;
        t->access_list_rlp = al->encoded;
        t->access_list_rlp_len = al->encoded_len;
    }
    return AK_OK;
}

/* Type 3 blob fields and type 4 authorization list. */
static ak_err tail_fields(ak_tx *t, const ak_rlp_item *f, size_t *i)
{
    ak_rlp_item h;
    ak_rlp_iter it;
    ak_err err = AK_OK;
    int r;
    if (t->type == AK_TX_EIP7702) {
        const ak_rlp_item *al = &f[(*i)++];
        if (!al->is_list)
            return AK_ERR_TX;
        t->auth_list_rlp = al->encoded;
        t->auth_list_rlp_len = al->encoded_len;
        return AK_OK;
    }
    if (t->type != AK_TX_EIP4844)
        return AK_OK;
    if ((err = u256_of(&t->max_fee_per_blob_gas, &f[(*i)++])) != AK_OK)
        return err;
    const ak_rlp_item *hl = &f[(*i)++];
    if (!hl->is_list)
        return AK_ERR_TX;
    ak_rlp_iter_init(&it, hl);
    while ((r = ak_rlp_iter_next(&it, &h, &err)) == 1) {
        if (t->n_blob_hashes == AK_TX_MAX_BLOB_HASHES)
            return AK_ERR_LIMIT;
        if (h.is_list || h.payload_len != 32)
            return AK_ERR_TX;
        memcpy(t->blob_hashes[t->n_blob_hashes++], h.payload, 32);
    }
    return r < 0 ? err : AK_OK;
}

ak_err ak_intent_tx_decode(ak_tx *tx, const uint8_t *payload, size_t len)
{
    static const size_t typed_fields[5] = {0, 8, 9, 11, 10};
    ak_rlp_item list, f[MAX_FIELDS + 1];
    ak_rlp_iter it;
    ak_tx t;
    size_t nf = 0, i = 0, out_len = 0;
    const uint8_t *body = payload;
    size_t body_len = len;
    uint8_t *again = NULL;
    ak_err err = AK_OK;
    int r = 0;
    memset(&t, 0, sizeof t);
    if (tx == NULL || payload == NULL)
        return AK_ERR_ARG;
    if (len > AK_TX_MAX_ENCODED)
        return AK_ERR_LIMIT;
    if (len == 0)
        return AK_ERR_TX;
    if (payload[0] >= 0xc0) {
        t.type = AK_TX_LEGACY;
    } else if (payload[0] >= AK_TX_EIP2930 && payload[0] <= AK_TX_EIP7702) {
        t.type = (ak_tx_type)payload[0];
        body++;
        body_len--;
    } else {
        return payload[0] <= 0x7f ? AK_ERR_TX_TYPE : AK_ERR_TX;
    }
    if ((err = ak_rlp_decode_all(&list, body, body_len)) != AK_OK)
        return err;
    if (!list.is_list)
        return AK_ERR_TX;
    ak_rlp_iter_init(&it, &list);
    while (nf <= MAX_FIELDS && (r = ak_rlp_iter_next(&it, &f[nf], &err)) == 1)
        nf++;
    if (nf <= MAX_FIELDS && r < 0)
        return err;
    if (t.type == AK_TX_LEGACY) {
        if (nf != 6 && nf != 9)
            return AK_ERR_TX;
        t.pre155 = nf == 6;
    } else {
        if (nf != typed_fields[t.type])
            return AK_ERR_TX;
        if ((err = u64_of(&t.chain_id, &f[i++])) != AK_OK)
            return err;
    }
    if ((err = common_fields(&t, f, &i)) != AK_OK || (err = tail_fields(&t, f, &i)) != AK_OK)
        return err;
    if (t.type == AK_TX_LEGACY && !t.pre155) {
        /* EIP-155 signing data: [..., chainId, 0, 0]; the two zeros are empty strings */
        if ((err = u64_of(&t.chain_id, &f[i])) != AK_OK)
            return err;
        if (f[i + 1].is_list || f[i + 1].payload_len != 0 || f[i + 2].is_list ||
            f[i + 2].payload_len != 0)
            return AK_ERR_TX;
    }
    if (!t.pre155 && (t.chain_id == 0 || t.chain_id > AK_TX_MAX_CHAIN_ID))
        return AK_ERR_CHAIN_ID;
    /* Everything else (access list, blob versions, authorization tuples, `to` of types 3/4) is
     * checked by the encoder; re-encoding must give back exactly the bytes we were given. */
    again = malloc(len + 1);
    if (again == NULL)
        return AK_ERR_NOMEM;
    err = ak_tx_signing_payload(again, len + 1, &out_len, &t);
    if (err == AK_ERR_BUFFER ||
        (err == AK_OK && (out_len != len || memcmp(again, payload, len) != 0)))
        err = AK_ERR_TX;
    free(again);
    if (err == AK_OK)
        *tx = t;
    return err;
}
