/*
 * ak_rlp.c - Recursive Length Prefix encoding and strict decoding (see ak_rlp.h).
 *
 * Implements the Yellow Paper, appendix B (and ethereum.org "Recursive-length prefix"):
 *   byte < 0x80                  the byte itself
 *   string of 0..55 bytes        0x80 + len, bytes
 *   string of >= 56 bytes        0xb7 + len(len), len (big-endian, no leading zero), bytes
 *   list payload 0..55 bytes     0xc0 + len, payload
 *   list payload >= 56 bytes     0xf7 + len(len), len, payload
 * The decoder accepts only the canonical form of each item. Encoding writes into the caller's
 * ak_buf and never grows it; decoded items point into the caller's input. The validator walks
 * nested lists without recursion, with an explicit stack of at most AK_RLP_MAX_DEPTH levels.
 */
#include "ak_rlp.h"

#include <string.h>

/* Header of a string (offset 0x80) or list (offset 0xc0) with a payload of len bytes. */
static size_t ak_rlp_header(uint8_t hdr[9], uint8_t offset, size_t len)
{
    if (len < 56) {
        hdr[0] = (uint8_t)(offset + len);
        return 1;
    }
    uint8_t be[8];
    size_t n = 0;
    for (size_t v = len; v != 0; v >>= 8)
        be[n++] = (uint8_t)v;
    hdr[0] = (uint8_t)(offset + 55 + n);
    for (size_t i = 0; i < n; i++)
        hdr[1 + i] = be[n - 1 - i];
    return 1 + n;
}

ak_err ak_rlp_put_bytes(ak_buf *b, const uint8_t *in, size_t len)
{
    if (b == NULL || (in == NULL && len != 0))
        return AK_ERR_ARG;
    if (len == 1 && in[0] < 0x80)
        return ak_buf_append_byte(b, in[0]);
    uint8_t hdr[9];
    size_t hlen = ak_rlp_header(hdr, 0x80, len);
    /* Check the whole item fits before writing, so a failure leaves b unchanged. */
    if (b->cap - b->len < hlen || b->cap - b->len - hlen < len)
        return AK_ERR_BUFFER;
    ak_err err = ak_buf_append(b, hdr, hlen);
    if (err == AK_OK)
        err = ak_buf_append(b, in, len);
    return err;
}

ak_err ak_rlp_put_u64(ak_buf *b, uint64_t v)
{
    uint8_t be[8];
    size_t n = 0;
    for (uint64_t x = v; x != 0; x >>= 8)
        n++;
    for (size_t i = 0; i < n; i++)
        be[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    return ak_rlp_put_bytes(b, be, n);
}

ak_err ak_rlp_put_u256(ak_buf *b, const ak_u256 *v)
{
    if (v == NULL)
        return AK_ERR_ARG;
    uint8_t be[32];
    size_t n = ak_u256_to_be_min(be, v);
    return ak_rlp_put_bytes(b, be, n);
}

ak_err ak_rlp_put_raw(ak_buf *b, const uint8_t *rlp, size_t len)
{
    if (b == NULL || (rlp == NULL && len != 0))
        return AK_ERR_ARG;
    return ak_buf_append(b, rlp, len);
}

size_t ak_rlp_list_begin(const ak_buf *b)
{
    return b->len;
}

ak_err ak_rlp_list_end(ak_buf *b, size_t mark)
{
    if (b == NULL || mark > b->len)
        return AK_ERR_ARG;
    uint8_t hdr[9];
    size_t hlen = ak_rlp_header(hdr, 0xc0, b->len - mark);
    return ak_buf_insert(b, mark, hdr, hlen);
}

ak_err ak_rlp_decode(ak_rlp_item *out, const uint8_t *in, size_t len, size_t *consumed)
{
    if (out == NULL || consumed == NULL || (in == NULL && len != 0))
        return AK_ERR_ARG;
    memset(out, 0, sizeof *out);
    *consumed = 0;
    if (len == 0)
        return AK_ERR_RLP;
    uint8_t b0 = in[0];
    size_t hlen = 1, plen = 0;
    int is_list = b0 >= 0xc0;
    if (b0 < 0x80) {
        /* A single byte is its own encoding and its own payload. */
        hlen = 0;
        plen = 1;
    } else if (b0 <= 0xb7 || (b0 >= 0xc0 && b0 <= 0xf7)) {
        plen = (size_t)(b0 - (is_list ? 0xc0 : 0x80));
    } else {
        size_t lenlen = (size_t)(b0 - (is_list ? 0xf7 : 0xb7)); /* 1..8 */
        if (lenlen > sizeof(size_t) || lenlen >= len)
            return AK_ERR_RLP;
        if (in[1] == 0) /* length with a leading zero byte */
            return AK_ERR_RLP;
        for (size_t i = 0; i < lenlen; i++)
            plen = plen << 8 | in[1 + i];
        if (plen < 56) /* long form for a length the short form covers */
            return AK_ERR_RLP;
        hlen = 1 + lenlen;
    }
    if (hlen > len || plen > len - hlen)
        return AK_ERR_RLP;
    /* A single byte below 0x80 must not be wrapped as a one-byte string (0x81 0x00..0x7f). */
    if (!is_list && hlen == 1 && plen == 1 && in[1] < 0x80)
        return AK_ERR_RLP;
    out->is_list = is_list;
    out->payload = in + hlen;
    out->payload_len = plen;
    out->encoded = in;
    out->encoded_len = hlen + plen;
    *consumed = hlen + plen;
    return AK_OK;
}

ak_err ak_rlp_decode_all(ak_rlp_item *out, const uint8_t *in, size_t len)
{
    size_t consumed = 0;
    ak_err err = ak_rlp_decode(out, in, len, &consumed);
    if (err == AK_OK && consumed != len) {
        memset(out, 0, sizeof *out);
        err = AK_ERR_RLP;
    }
    return err;
}

void ak_rlp_iter_init(ak_rlp_iter *it, const ak_rlp_item *list)
{
    it->p = list->payload;
    it->end = list->payload == NULL ? NULL : list->payload + list->payload_len;
}

int ak_rlp_iter_next(ak_rlp_iter *it, ak_rlp_item *out, ak_err *err)
{
    size_t consumed = 0;
    if (it->p == it->end)
        return 0;
    ak_err e = ak_rlp_decode(out, it->p, (size_t)(it->end - it->p), &consumed);
    if (e != AK_OK) {
        if (err != NULL)
            *err = e;
        return -1;
    }
    it->p += consumed;
    return 1;
}

ak_err ak_rlp_list_count(const ak_rlp_item *list, size_t *count)
{
    if (list == NULL || count == NULL)
        return AK_ERR_ARG;
    *count = 0;
    if (!list->is_list)
        return AK_ERR_RLP;
    ak_rlp_iter it;
    ak_rlp_item item;
    ak_err err = AK_OK;
    size_t n = 0;
    int r;
    ak_rlp_iter_init(&it, list);
    while ((r = ak_rlp_iter_next(&it, &item, &err)) == 1)
        n++;
    if (r < 0)
        return err;
    *count = n;
    return AK_OK;
}

/* Shared checks of the integer views: a string, no leading zero byte, at most max bytes. */
static ak_err ak_rlp_int_payload(const ak_rlp_item *item, size_t max)
{
    if (item == NULL)
        return AK_ERR_ARG;
    if (item->is_list)
        return AK_ERR_RLP;
    if (item->payload_len > 0 && item->payload[0] == 0)
        return AK_ERR_RLP;
    if (item->payload_len > max)
        return AK_ERR_RANGE;
    return AK_OK;
}

ak_err ak_rlp_item_u64(uint64_t *out, const ak_rlp_item *item)
{
    if (out == NULL)
        return AK_ERR_ARG;
    *out = 0;
    ak_err err = ak_rlp_int_payload(item, 8);
    if (err != AK_OK)
        return err;
    uint64_t v = 0;
    for (size_t i = 0; i < item->payload_len; i++)
        v = v << 8 | item->payload[i];
    *out = v;
    return AK_OK;
}

ak_err ak_rlp_item_u256(ak_u256 *out, const ak_rlp_item *item)
{
    if (out == NULL)
        return AK_ERR_ARG;
    ak_err err = ak_rlp_int_payload(item, 32);
    if (err != AK_OK)
        return err;
    return ak_u256_from_be(out, item->payload, item->payload_len);
}

ak_err ak_rlp_validate(const uint8_t *in, size_t len, unsigned max_depth)
{
    if (in == NULL && len != 0)
        return AK_ERR_ARG;
    if (max_depth > AK_RLP_MAX_DEPTH)
        return AK_ERR_ARG;
    /* ends[d] is where the list open at depth d ends; depth 0 is the whole input. */
    const uint8_t *ends[AK_RLP_MAX_DEPTH + 1];
    const uint8_t *p = in;
    unsigned depth = 0;
    ak_rlp_item item;
    size_t consumed = 0;
    ak_err err = ak_rlp_decode_all(&item, in, len);
    if (err != AK_OK)
        return err;
    ends[0] = in + len;
    for (;;) {
        if (p == ends[depth]) {
            if (depth == 0)
                break;
            depth--;
            continue;
        }
        err = ak_rlp_decode(&item, p, (size_t)(ends[depth] - p), &consumed);
        if (err != AK_OK)
            return err;
        if (!item.is_list) {
            p += consumed;
            continue;
        }
        if (depth + 1 > max_depth)
            return AK_ERR_LIMIT;
        depth++;
        ends[depth] = p + consumed;
        p = item.payload;
    }
    return AK_OK;
}

ak_err ak_rlp_put_scalar32(ak_buf *b, const uint8_t v[32])
{
    size_t skip = 0;
    while (skip < 32 && v[skip] == 0)
        skip++;
    return ak_rlp_put_bytes(b, v + skip, 32 - skip);
}
