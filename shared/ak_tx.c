/*
 * ak_tx.c - Ethereum transactions: signing digest, signed serialization and strict decoding
 * of legacy (EIP-155 / pre-155), EIP-2930 and EIP-1559 transactions (see ak_tx.h).
 *
 * Field order (the RLP list):
 *   legacy   [nonce, gasPrice, gasLimit, to, value, data] + signing: [chainId, 0, 0] (EIP-155)
 *            + signed: [v, r, s], v = chainId*2+35+recid (EIP-155) or 27+recid (pre-155)
 *   type 1   0x01 || [chainId, nonce, gasPrice, gasLimit, to, value, data, accessList]
 *            + signed: [yParity, r, s]                                          (EIP-2930)
 *   type 2   0x02 || [chainId, nonce, maxPriorityFeePerGas, maxFeePerGas, gasLimit, to, value,
 *            data, accessList] + signed: [yParity, r, s]                          (EIP-1559)
 *
 * Owns nothing past a call: the signing hash encodes into a heap buffer sized for the
 * transaction (freed before returning); decoded transactions borrow from the raw input.
 * Fee relations (e.g. maxPriorityFeePerGas <= maxFeePerGas) are policy, not encoding, and are
 * not checked here.
 */
#include "ak_tx.h"

#include <stdlib.h>
#include <string.h>

#include "ak_addr.h"
#include "ak_keccak.h"
#include "ak_rlp.h"

/* Room for every fixed-size field of any type plus list headers and the signature. */
#define AK_TX_FIXED_OVERHEAD 1200u

/* An access list is [[address(20), [storageKey(32), ...]], ...] (EIP-2930). */
static ak_err check_access_list(const uint8_t *rlp, size_t len)
{
    ak_rlp_item list, entry, addr, keys, key;
    ak_rlp_iter it, eit, kit;
    ak_err err = AK_OK;
    int r;
    if (len > AK_TX_MAX_ACCESS_LIST)
        return AK_ERR_LIMIT;
    if ((err = ak_rlp_decode_all(&list, rlp, len)) != AK_OK)
        return err;
    if (!list.is_list)
        return AK_ERR_TX;
    ak_rlp_iter_init(&it, &list);
    while ((r = ak_rlp_iter_next(&it, &entry, &err)) == 1) {
        if (!entry.is_list)
            return AK_ERR_TX;
        ak_rlp_iter_init(&eit, &entry);
        if (ak_rlp_iter_next(&eit, &addr, &err) != 1 || ak_rlp_iter_next(&eit, &keys, &err) != 1)
            return err != AK_OK ? err : AK_ERR_TX;
        if (ak_rlp_iter_next(&eit, &key, &err) != 0)
            return err != AK_OK ? err : AK_ERR_TX; /* a third item */
        if (addr.is_list || addr.payload_len != 20 || !keys.is_list)
            return AK_ERR_TX;
        ak_rlp_iter_init(&kit, &keys);
        while ((r = ak_rlp_iter_next(&kit, &key, &err)) == 1) {
            if (key.is_list || key.payload_len != 32)
                return AK_ERR_TX;
        }
        if (r < 0)
            return err;
    }
    return r < 0 ? err : AK_OK;
}

static ak_err check_tx(const ak_tx *tx)
{
    if (tx == NULL || (tx->data == NULL && tx->data_len != 0) ||
        (tx->access_list_rlp == NULL && tx->access_list_rlp_len != 0))
        return AK_ERR_ARG;
    if (tx->type != AK_TX_LEGACY && tx->type != AK_TX_EIP2930 && tx->type != AK_TX_EIP1559)
        return AK_ERR_TX_TYPE;
    if (tx->pre155 && tx->type != AK_TX_LEGACY)
        return AK_ERR_TX;
    if (!(tx->type == AK_TX_LEGACY && tx->pre155) &&
        (tx->chain_id == 0 || tx->chain_id > AK_TX_MAX_CHAIN_ID))
        return AK_ERR_CHAIN_ID;
    if (tx->data_len > AK_TX_MAX_DATA)
        return AK_ERR_LIMIT;
    if (tx->type == AK_TX_LEGACY)
        return tx->access_list_rlp_len != 0 ? AK_ERR_TX : AK_OK;
    if (tx->access_list_rlp != NULL)
        return check_access_list(tx->access_list_rlp, tx->access_list_rlp_len);
    return AK_OK;
}

/* A 32-byte big-endian scalar as a minimal RLP integer. */
static ak_err put_scalar(ak_buf *b, const uint8_t v[32])
{
    size_t skip = 0;
    while (skip < 32 && v[skip] == 0)
        skip++;
    return ak_rlp_put_bytes(b, v + skip, 32 - skip);
}

/* Encode tx (checked) into b: the signing payload when sig is NULL, else the signed form. */
static ak_err encode(ak_buf *b, const ak_tx *tx, const ak_sig *sig)
{
    static const uint8_t empty_list = 0xc0;
    ak_err err;
    size_t mark;
    if (tx->type != AK_TX_LEGACY && (err = ak_buf_append_byte(b, (uint8_t)tx->type)) != AK_OK)
        return err;
    mark = ak_rlp_list_begin(b);
    if (tx->type != AK_TX_LEGACY && (err = ak_rlp_put_u64(b, tx->chain_id)) != AK_OK)
        return err;
    if ((err = ak_rlp_put_u64(b, tx->nonce)) != AK_OK)
        return err;
    if (tx->type == AK_TX_EIP1559) {
        if ((err = ak_rlp_put_u256(b, &tx->max_priority_fee_per_gas)) != AK_OK ||
            (err = ak_rlp_put_u256(b, &tx->max_fee_per_gas)) != AK_OK)
            return err;
    } else if ((err = ak_rlp_put_u256(b, &tx->gas_price)) != AK_OK) {
        return err;
    }
    if ((err = ak_rlp_put_u64(b, tx->gas_limit)) != AK_OK ||
        (err = ak_rlp_put_bytes(b, tx->to, tx->has_to ? 20 : 0)) != AK_OK ||
        (err = ak_rlp_put_u256(b, &tx->value)) != AK_OK ||
        (err = ak_rlp_put_bytes(b, tx->data, tx->data_len)) != AK_OK)
        return err;
    if (tx->type != AK_TX_LEGACY) {
        if (tx->access_list_rlp != NULL)
            err = ak_rlp_put_raw(b, tx->access_list_rlp, tx->access_list_rlp_len);
        else
            err = ak_rlp_put_raw(b, &empty_list, 1);
        if (err != AK_OK)
            return err;
    }
    if (sig == NULL) {
        /* EIP-155: the signing payload ends with chainId, 0, 0. */
        if (tx->type == AK_TX_LEGACY && !tx->pre155 &&
            ((err = ak_rlp_put_u64(b, tx->chain_id)) != AK_OK ||
             (err = ak_rlp_put_u64(b, 0)) != AK_OK || (err = ak_rlp_put_u64(b, 0)) != AK_OK))
            return err;
    } else {
        uint64_t v = sig->recid;
        if (tx->type == AK_TX_LEGACY)
            v += tx->pre155 ? 27u : tx->chain_id * 2u + 35u;
        if ((err = ak_rlp_put_u64(b, v)) != AK_OK || (err = put_scalar(b, sig->r)) != AK_OK ||
            (err = put_scalar(b, sig->s)) != AK_OK)
            return err;
    }
    return ak_rlp_list_end(b, mark);
}

ak_err ak_tx_signing_payload(uint8_t *out, size_t cap, size_t *len, const ak_tx *tx)
{
    ak_buf b;
    ak_err err;
    if (out == NULL || len == NULL)
        return AK_ERR_ARG;
    if ((err = check_tx(tx)) != AK_OK)
        return err;
    b = ak_buf_init(out, cap);
    if ((err = encode(&b, tx, NULL)) != AK_OK)
        return err;
    *len = b.len;
    return AK_OK;
}

ak_err ak_tx_signing_hash(uint8_t out[32], const ak_tx *tx)
{
    uint8_t *mem = NULL;
    ak_buf b;
    size_t cap;
    ak_err err = check_tx(tx);
    if (err != AK_OK)
        goto out;
    cap = tx->data_len + tx->access_list_rlp_len + AK_TX_FIXED_OVERHEAD;
    if ((mem = malloc(cap)) == NULL) {
        err = AK_ERR_NOMEM;
        goto out;
    }
    b = ak_buf_init(mem, cap);
    if ((err = encode(&b, tx, NULL)) != AK_OK)
        goto out;
    ak_keccak256(out, b.data, b.len);
out:
    free(mem);
    return err;
}

ak_err ak_tx_encode_signed(uint8_t *out, size_t cap, size_t *len, const ak_tx *tx,
                           const ak_sig *sig)
{
    ak_buf b;
    ak_err err;
    if (out == NULL || len == NULL)
        return AK_ERR_ARG;
    if ((err = check_tx(tx)) != AK_OK)
        return err;
    if ((err = ak_sig_check(sig)) != AK_OK)
        return err;
    b = ak_buf_init(out, cap);
    if ((err = encode(&b, tx, sig)) != AK_OK)
        return err;
    *len = b.len;
    return AK_OK;
}

/* Integer field views: RLP-level errors stay AK_ERR_RLP, a too-long integer is AK_ERR_TX. */
static ak_err field_u64(uint64_t *out, const ak_rlp_item *it)
{
    ak_err err = ak_rlp_item_u64(out, it);
    return err == AK_ERR_RANGE ? AK_ERR_TX : err;
}

static ak_err field_u256(ak_u256 *out, const ak_rlp_item *it)
{
    ak_err err = ak_rlp_item_u256(out, it);
    return err == AK_ERR_RANGE ? AK_ERR_TX : err;
}

static ak_err field_scalar(uint8_t out[32], const ak_rlp_item *it)
{
    ak_u256 v;
    ak_err err = field_u256(&v, it);
    if (err == AK_OK)
        ak_u256_to_be(out, &v);
    return err;
}

#define AK_TX_MAX_FIELDS 12

ak_err ak_tx_decode_signed(ak_tx *tx, ak_sig *sig, const uint8_t *raw, size_t len)
{
    ak_rlp_item list, f[AK_TX_MAX_FIELDS + 1];
    ak_rlp_iter it;
    ak_tx t;
    ak_sig s;
    size_t nf = 0, want, i = 0;
    uint64_t v = 0;
    ak_err err = AK_OK;
    int r = 0;
    memset(&t, 0, sizeof t);
    memset(&s, 0, sizeof s);
    if (tx == NULL || sig == NULL || raw == NULL)
        return AK_ERR_ARG;
    if (len > AK_TX_MAX_ENCODED)
        return AK_ERR_LIMIT;
    if (len == 0)
        return AK_ERR_TX;
    /* EIP-2718: a first byte >= 0xc0 is a legacy RLP list, 0x00..0x7f a transaction type. */
    if (raw[0] >= 0xc0) {
        t.type = AK_TX_LEGACY;
        want = 9;
    } else if (raw[0] == AK_TX_EIP2930 || raw[0] == AK_TX_EIP1559) {
        t.type = (ak_tx_type)raw[0];
        want = raw[0] == AK_TX_EIP2930 ? 11 : 12;
        raw++;
        len--;
    } else {
        return raw[0] <= 0x7f ? AK_ERR_TX_TYPE : AK_ERR_TX;
    }
    if ((err = ak_rlp_decode_all(&list, raw, len)) != AK_OK)
        return err;
    if (!list.is_list)
        return AK_ERR_TX;
    ak_rlp_iter_init(&it, &list);
    while (nf <= AK_TX_MAX_FIELDS && (r = ak_rlp_iter_next(&it, &f[nf], &err)) == 1)
        nf++;
    if (nf <= AK_TX_MAX_FIELDS && r < 0)
        return err;
    if (nf != want)
        return AK_ERR_TX;

    if (t.type != AK_TX_LEGACY && (err = field_u64(&t.chain_id, &f[i++])) != AK_OK)
        return err;
    if ((err = field_u64(&t.nonce, &f[i++])) != AK_OK)
        return err;
    if (t.type == AK_TX_EIP1559) {
        if ((err = field_u256(&t.max_priority_fee_per_gas, &f[i++])) != AK_OK ||
            (err = field_u256(&t.max_fee_per_gas, &f[i++])) != AK_OK)
            return err;
    } else if ((err = field_u256(&t.gas_price, &f[i++])) != AK_OK) {
        return err;
    }
    if ((err = field_u64(&t.gas_limit, &f[i++])) != AK_OK)
        return err;
    if (f[i].is_list || (f[i].payload_len != 0 && f[i].payload_len != 20))
        return AK_ERR_TX;
    t.has_to = f[i].payload_len == 20;
    if (t.has_to)
        memcpy(t.to, f[i].payload, 20);
    i++;
    if ((err = field_u256(&t.value, &f[i++])) != AK_OK)
        return err;
    if (f[i].is_list)
        return AK_ERR_TX;
    if (f[i].payload_len > AK_TX_MAX_DATA)
        return AK_ERR_LIMIT;
    t.data = f[i].payload_len ? f[i].payload : NULL;
    t.data_len = f[i].payload_len;
    i++;
    if (t.type != AK_TX_LEGACY) {
        if ((err = check_access_list(f[i].encoded, f[i].encoded_len)) != AK_OK)
            return err;
        t.access_list_rlp = f[i].encoded;
        t.access_list_rlp_len = f[i].encoded_len;
        i++;
    }
    if ((err = field_u64(&v, &f[i++])) != AK_OK)
        return err;
    if (t.type != AK_TX_LEGACY) {
        if (v > 1)
            return AK_ERR_TX;
        s.recid = (uint8_t)v;
    } else if (v == 27 || v == 28) {
        t.pre155 = 1;
        s.recid = (uint8_t)(v - 27);
    } else if (v >= 35) {
        /* EIP-155: v = chainId*2 + 35 + recid; chainId 0 is not a chain. */
        t.chain_id = (v - 35) / 2;
        s.recid = (uint8_t)((v - 35) % 2);
    } else {
        return AK_ERR_TX;
    }
    if (!(t.type == AK_TX_LEGACY && t.pre155) &&
        (t.chain_id == 0 || t.chain_id > AK_TX_MAX_CHAIN_ID))
        return AK_ERR_CHAIN_ID;
    if ((err = field_scalar(s.r, &f[i++])) != AK_OK || (err = field_scalar(s.s, &f[i++])) != AK_OK)
        return err;
    if ((err = ak_sig_check(&s)) != AK_OK)
        return err;
    *tx = t;
    *sig = s;
    return AK_OK;
}

ak_err ak_tx_recover_sender(uint8_t addr[20], const ak_tx *tx, const ak_sig *sig)
{
    uint8_t h[32];
    ak_err err = ak_tx_signing_hash(h, tx);
    if (err != AK_OK)
        return err;
    return ak_sig_recover_address(addr, sig, h);
}

void ak_tx_hash(uint8_t out[32], const uint8_t *raw, size_t len)
{
    ak_keccak256(out, raw, len);
}

size_t ak_tx_access_list_begin(const ak_buf *b)
{
    return ak_rlp_list_begin(b);
}

ak_err ak_tx_access_list_add(ak_buf *b, const uint8_t address[20], const uint8_t (*keys)[32],
                             size_t n_keys)
{
    ak_err err = AK_ERR_ARG;
    size_t start, entry, inner;
    if (b == NULL || address == NULL || (keys == NULL && n_keys != 0))
        return AK_ERR_ARG;
    start = b->len;
    entry = ak_rlp_list_begin(b);
    if ((err = ak_rlp_put_bytes(b, address, 20)) != AK_OK)
        goto out;
    inner = ak_rlp_list_begin(b);
    for (size_t k = 0; k < n_keys; k++) {
        if ((err = ak_rlp_put_bytes(b, keys[k], 32)) != AK_OK)
            goto out;
    }
    if ((err = ak_rlp_list_end(b, inner)) != AK_OK)
        goto out;
    err = ak_rlp_list_end(b, entry);
out:
    if (err != AK_OK)
        b->len = start; /* drop the partial entry */
    return err;
}

ak_err ak_tx_access_list_end(ak_buf *b, size_t mark)
{
    size_t payload, hdr = 1;
    if (b == NULL || mark > b->len)
        return AK_ERR_ARG;
    payload = b->len - mark;
    if (payload >= 56)
        for (size_t v = payload; v != 0; v >>= 8)
            hdr++;
    if (payload + hdr > AK_TX_MAX_ACCESS_LIST)
        return AK_ERR_LIMIT;
    return ak_rlp_list_end(b, mark);
}
