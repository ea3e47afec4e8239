/*
 * ak_auth.c - EIP-7702 authorizations: digest, signed tuples, the authorization list (see
 * ak_auth.h). Tuple: [chain_id, address, nonce, y_parity, r, s], integers canonical RLP.
 */
#include "ak_auth.h"

#include <string.h>

#include "ak_keccak.h"
#include "ak_rlp.h"

/* Room for 0x05 || rlp([chain_id(33), address(21), nonce(9)]) with its list header. */
#define AK_AUTH_DIGEST_MAX 80u

static ak_err put_unsigned(ak_buf *b, const ak_auth *a)
{
    ak_err err;
    if ((err = ak_rlp_put_u256(b, &a->chain_id)) != AK_OK ||
        (err = ak_rlp_put_bytes(b, a->address, 20)) != AK_OK)
        return err;
    return ak_rlp_put_u64(b, a->nonce);
}

ak_err ak_auth_digest(uint8_t out[32], const ak_auth *auth)
{
    uint8_t mem[AK_AUTH_DIGEST_MAX];
    ak_buf b = ak_buf_init(mem, sizeof mem);
    size_t mark;
    ak_err err;
    if (out == NULL || auth == NULL)
        return AK_ERR_ARG;
    if ((err = ak_buf_append_byte(&b, AK_AUTH_MAGIC)) != AK_OK)
        return err;
    mark = ak_rlp_list_begin(&b);
    if ((err = put_unsigned(&b, auth)) != AK_OK || (err = ak_rlp_list_end(&b, mark)) != AK_OK)
        return err;
    ak_keccak256(out, b.data, b.len);
    return AK_OK;
}

ak_err ak_auth_recover_authority(uint8_t addr[20], const ak_auth_signed *sa)
{
    uint8_t h[32];
    ak_err err;
    if (addr == NULL || sa == NULL)
        return AK_ERR_ARG;
    if ((err = ak_sig_check(&sa->sig)) != AK_OK || (err = ak_auth_digest(h, &sa->auth)) != AK_OK)
        return err;
    return ak_sig_recover_address(addr, &sa->sig, h);
}

size_t ak_auth_list_begin(const ak_buf *b)
{
    return ak_rlp_list_begin(b);
}

ak_err ak_auth_list_add(ak_buf *b, const ak_auth_signed *sa)
{
    size_t start, mark;
    ak_err err;
    if (b == NULL || sa == NULL)
        return AK_ERR_ARG;
    if ((err = ak_sig_check(&sa->sig)) != AK_OK)
        return err;
    start = b->len;
    mark = ak_rlp_list_begin(b);
    if ((err = put_unsigned(b, &sa->auth)) != AK_OK ||
        (err = ak_rlp_put_u64(b, sa->sig.recid)) != AK_OK ||
        (err = ak_rlp_put_scalar32(b, sa->sig.r)) != AK_OK ||
        (err = ak_rlp_put_scalar32(b, sa->sig.s)) != AK_OK ||
        (err = ak_rlp_list_end(b, mark)) != AK_OK)
        goto out;
out:
    if (err != AK_OK)
        b->len = start;
    return err;
}

ak_err ak_auth_list_end(ak_buf *b, size_t mark)
{
    size_t count = 0;
    ak_err err;
    if (b == NULL || mark > b->len)
        return AK_ERR_ARG;
    if ((err = ak_rlp_list_end(b, mark)) != AK_OK)
        return err;
    /* The finished list must be one the decoder accepts (count and size bounds included). */
    if ((err = ak_auth_list_check(&count, b->data + mark, b->len - mark)) != AK_OK)
        b->len = mark;
    return err;
}

/* One tuple item -> *out, strictly. */
static ak_err decode_tuple(ak_auth_signed *out, const ak_rlp_item *tuple)
{
    ak_rlp_item f[7];
    ak_rlp_iter it;
    ak_auth_signed t;
    ak_u256 v;
    uint64_t parity = 0;
    size_t n = 0;
    ak_err err = AK_OK;
    int r = 0;
    memset(&t, 0, sizeof t);
    if (!tuple->is_list || tuple->encoded_len > AK_AUTH_MAX_TUPLE_RLP)
        return AK_ERR_TX;
    ak_rlp_iter_init(&it, tuple);
    while (n < 7 && (r = ak_rlp_iter_next(&it, &f[n], &err)) == 1)
        n++;
    if (r < 0)
        return err;
    if (n != 6)
        return AK_ERR_TX;
    if ((err = ak_rlp_item_u256(&t.auth.chain_id, &f[0])) != AK_OK)
        return err == AK_ERR_RANGE ? AK_ERR_TX : err;
    if (f[1].is_list || f[1].payload_len != 20)
        return AK_ERR_TX;
    memcpy(t.auth.address, f[1].payload, 20);
    if ((err = ak_rlp_item_u64(&t.auth.nonce, &f[2])) != AK_OK ||
        (err = ak_rlp_item_u64(&parity, &f[3])) != AK_OK)
        return err == AK_ERR_RANGE ? AK_ERR_TX : err;
    if (parity > 1)
        return AK_ERR_SIG;
    t.sig.recid = (uint8_t)parity;
    if ((err = ak_rlp_item_u256(&v, &f[4])) != AK_OK)
        return err == AK_ERR_RANGE ? AK_ERR_TX : err;
    ak_u256_to_be(t.sig.r, &v);
    if ((err = ak_rlp_item_u256(&v, &f[5])) != AK_OK)
        return err == AK_ERR_RANGE ? AK_ERR_TX : err;
    ak_u256_to_be(t.sig.s, &v);
    if ((err = ak_sig_check(&t.sig)) != AK_OK)
        return err;
    *out = t;
    return AK_OK;
}

/* Walk the list; stop at index `want` (filling *out) or check everything (out NULL). */
static ak_err walk(size_t *count, ak_auth_signed *out, size_t want, const uint8_t *rlp, size_t len)
{
    ak_rlp_item list, tuple;
    ak_rlp_iter it;
    ak_auth_signed t;
    size_t n = 0;
    ak_err err = AK_OK;
    int r;
    if (rlp == NULL)
        return AK_ERR_ARG;
    if (len > AK_AUTH_MAX_LIST_RLP)
        return AK_ERR_LIMIT;
    if ((err = ak_rlp_decode_all(&list, rlp, len)) != AK_OK)
        return err;
    if (!list.is_list)
        return AK_ERR_TX;
    ak_rlp_iter_init(&it, &list);
    while ((r = ak_rlp_iter_next(&it, &tuple, &err)) == 1) {
        if (n == AK_AUTH_MAX_LIST)
            return AK_ERR_LIMIT;
        if ((err = decode_tuple(&t, &tuple)) != AK_OK)
            return err;
        if (out != NULL && n == want) {
            *out = t;
            return AK_OK;
        }
        n++;
    }
    if (r < 0)
        return err;
    if (n == 0)
        return AK_ERR_TX;
    if (out != NULL)
        return AK_ERR_ARG; /* index past the end */
    *count = n;
    return AK_OK;
}

ak_err ak_auth_list_check(size_t *count, const uint8_t *rlp, size_t len)
{
    size_t n = 0;
    ak_err err;
    if (count == NULL)
        return AK_ERR_ARG;
    *count = 0;
    if ((err = walk(&n, NULL, 0, rlp, len)) == AK_OK)
        *count = n;
    return err;
}

ak_err ak_auth_list_get(ak_auth_signed *out, const uint8_t *rlp, size_t len, size_t index)
{
    size_t count = 0;
    ak_err err;
    if (out == NULL)
        return AK_ERR_ARG;
    /* The whole list is checked first, so a bad tuple after index is not missed. */
    if ((err = ak_auth_list_check(&count, rlp, len)) != AK_OK)
        return err;
    if (index >= count)
        return AK_ERR_ARG;
    return walk(&count, out, index, rlp, len);
}
