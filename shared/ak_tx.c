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
 *   type 3   0x03 || [chainId, nonce, maxPriorityFeePerGas, maxFeePerGas, gasLimit, to, value,
 *            data, accessList, maxFeePerBlobGas, blobVersionedHashes]
 *            + signed: [yParity, r, s]                                          (EIP-4844)
 *   type 4   0x04 || [chainId, nonce, maxPriorityFeePerGas, maxFeePerGas, gasLimit, to, value,
 *            data, accessList, authorizationList] + signed: [yParity, r, s]     (EIP-7702)
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
#include "ak_blob.h"
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

/* The parts only types 3 and 4 have: present exactly for their type, within bounds. */
static ak_err check_blob_auth(const ak_tx *tx)
{
    size_t count = 0;
    if (tx->auth_list_rlp == NULL && tx->auth_list_rlp_len != 0)
        return AK_ERR_ARG;
    if (tx->type == AK_TX_EIP4844) {
        if (tx->n_blob_hashes == 0)
            return AK_ERR_TX;
        if (tx->n_blob_hashes > AK_TX_MAX_BLOB_HASHES)
            return AK_ERR_LIMIT;
        for (size_t i = 0; i < tx->n_blob_hashes; i++) {
            if (tx->blob_hashes[i][0] != AK_BLOB_VERSION_KZG)
                return AK_ERR_TX;
        }
    } else if (tx->n_blob_hashes != 0 || !ak_u256_is_zero(&tx->max_fee_per_blob_gas)) {
        return AK_ERR_TX;
    }
    if (tx->type == AK_TX_EIP7702) {
        if (tx->auth_list_rlp == NULL)
            return AK_ERR_TX; /* EIP-7702: the list may not be empty */
        return ak_auth_list_check(&count, tx->auth_list_rlp, tx->auth_list_rlp_len);
    }
    return tx->auth_list_rlp != NULL ? AK_ERR_TX : AK_OK;
}

static int has_fee_market(ak_tx_type t)
{
    return t == AK_TX_EIP1559 || t == AK_TX_EIP4844 || t == AK_TX_EIP7702;
}

static ak_err check_tx(const ak_tx *tx)
{
    ak_err err;
    if (tx == NULL || (tx->data == NULL && tx->data_len != 0) ||
        (tx->access_list_rlp == NULL && tx->access_list_rlp_len != 0))
        return AK_ERR_ARG;
    if (tx->type != AK_TX_LEGACY && tx->type != AK_TX_EIP2930 && !has_fee_market(tx->type))
        return AK_ERR_TX_TYPE;
    if ((err = check_blob_auth(tx)) != AK_OK)
        return err;
    /* EIP-4844 and EIP-7702: `to` is a 20-byte address, never empty (no contract creation). */
    if ((tx->type == AK_TX_EIP4844 || tx->type == AK_TX_EIP7702) && !tx->has_to)
        return AK_ERR_TX;
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

/* EIP-4844: maxFeePerBlobGas, [blobVersionedHash, ...]. */
static ak_err put_blob_fields(ak_buf *b, const ak_tx *tx)
{
    size_t mark;
    ak_err err;
    if ((err = ak_rlp_put_u256(b, &tx->max_fee_per_blob_gas)) != AK_OK)
        return err;
    mark = ak_rlp_list_begin(b);
    for (size_t i = 0; i < tx->n_blob_hashes; i++) {
        if ((err = ak_rlp_put_bytes(b, tx->blob_hashes[i], 32)) != AK_OK)
            return err;
    }
    return ak_rlp_list_end(b, mark);
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
    if (has_fee_market(tx->type)) {
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
    if (tx->type == AK_TX_EIP4844 && (err = put_blob_fields(b, tx)) != AK_OK)
        return err;
    if (tx->type == AK_TX_EIP7702 &&
        (err = ak_rlp_put_raw(b, tx->auth_list_rlp, tx->auth_list_rlp_len)) != AK_OK)
        return err;
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
        if ((err = ak_rlp_put_u64(b, v)) != AK_OK ||
            (err = ak_rlp_put_scalar32(b, sig->r)) != AK_OK ||
            (err = ak_rlp_put_scalar32(b, sig->s)) != AK_OK)
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
    cap = tx->data_len + tx->access_list_rlp_len + tx->auth_list_rlp_len + AK_TX_FIXED_OVERHEAD;
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

#define AK_TX_MAX_FIELDS 14

/* Type 3: maxFeePerBlobGas and the list of 32-byte versioned hashes (version 0x01). */
static ak_err decode_blob_fields(ak_tx *t, const ak_rlp_item *fee, const ak_rlp_item *hashes)
{
    ak_rlp_item h;
    ak_rlp_iter it;
    ak_err err = AK_OK;
    int r;
    if ((err = field_u256(&t->max_fee_per_blob_gas, fee)) != AK_OK)
        return err;
    if (!hashes->is_list)
        return AK_ERR_TX;
    ak_rlp_iter_init(&it, hashes);
    while ((r = ak_rlp_iter_next(&it, &h, &err)) == 1) {
        if (t->n_blob_hashes == AK_TX_MAX_BLOB_HASHES)
            return AK_ERR_LIMIT;
        if (h.is_list || h.payload_len != 32 || h.payload[0] != AK_BLOB_VERSION_KZG)
            return AK_ERR_TX;
        memcpy(t->blob_hashes[t->n_blob_hashes++], h.payload, 32);
    }
    if (r < 0)
        return err;
    return t->n_blob_hashes == 0 ? AK_ERR_TX : AK_OK;
}

/* Type 4: the authorization list, checked whole, borrowed. */
static ak_err decode_auth_list(ak_tx *t, const ak_rlp_item *list)
{
    size_t count = 0;
    ak_err err = ak_auth_list_check(&count, list->encoded, list->encoded_len);
    if (err != AK_OK)
        return err;
    t->auth_list_rlp = list->encoded;
    t->auth_list_rlp_len = list->encoded_len;
    return AK_OK;
}

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
    } else if (raw[0] >= AK_TX_EIP2930 && raw[0] <= AK_TX_EIP7702) {
        static const size_t fields[5] = {9, 11, 12, 14, 13};
        t.type = (ak_tx_type)raw[0];
        want = fields[raw[0]];
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
    if (has_fee_market(t.type)) {
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
    if (t.type == AK_TX_EIP4844) {
        if ((err = decode_blob_fields(&t, &f[i], &f[i + 1])) != AK_OK)
            return err;
        i += 2;
    } else if (t.type == AK_TX_EIP7702 && (err = decode_auth_list(&t, &f[i++])) != AK_OK) {
        return err;
    }
    if ((t.type == AK_TX_EIP4844 || t.type == AK_TX_EIP7702) && !t.has_to)
        return AK_ERR_TX;
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
