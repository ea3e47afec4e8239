/*
 * ak_sig.c - secp256k1 ECDSA signatures: strict DER, EIP-2 low-s, recovery id by trial
 * recovery (see ak_sig.h).
 *
 * Owns nothing: every function works on caller buffers. Recovery goes through libsecp256k1's
 * secp256k1_context_static (verification-only operations need no precomputed context since
 * libsecp256k1 0.2.0), so this module has no global state. Recovery ids 2 and 3 (R.x >= n,
 * probability ~2^-127) are never produced: such a signature is reported as AK_ERR_RECOVER.
 */
#include "ak_sig.h"

#include <string.h>

#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include "ak_addr.h"

/* The group order n of secp256k1 (SEC 2, section 2.4.1) and n/2 rounded down. */
static const uint8_t k_order[32] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41};
static const uint8_t k_half_order[32] = {
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0};

static int is_zero32(const uint8_t v[32])
{
    uint8_t acc = 0;
    for (size_t i = 0; i < 32; i++)
        acc |= v[i];
    return acc == 0;
}

/* 1 if v is in [1, n-1]. */
static int in_scalar_range(const uint8_t v[32])
{
    return !is_zero32(v) && memcmp(v, k_order, 32) < 0;
}

static int is_low_s(const uint8_t s[32])
{
    return memcmp(s, k_half_order, 32) <= 0;
}

/*
 * Read one DER INTEGER at der[*pos..end) into a 32-byte big-endian value. Rules (X.690 8.3 with
 * DER's minimality): short definite length 1..33, no redundant leading 0x00, not negative, the
 * value fits 32 bytes.
 */
static ak_err der_read_int(uint8_t out[32], const uint8_t *der, size_t end, size_t *pos)
{
    size_t p = *pos;
    if (end - p < 2 || der[p] != 0x02)
        return AK_ERR_DER;
    size_t n = der[p + 1];
    p += 2;
    if (n == 0 || n > 33 || n > end - p)
        return AK_ERR_DER;
    const uint8_t *v = der + p;
    *pos = p + n;
    if (v[0] & 0x80)
        return AK_ERR_DER; /* negative */
    if (n > 1 && v[0] == 0x00 && !(v[1] & 0x80))
        return AK_ERR_DER; /* redundant leading zero */
    if (n == 33) {
        /* The only legal 33-byte form is 0x00 before a high bit (the high bit is checked above);
         * anything else is a value wider than 256 bits. */
        if (v[0] != 0x00)
            return AK_ERR_DER;
        v++;
        n--;
    }
    memset(out, 0, 32);
    memcpy(out + (32 - n), v, n);
    return AK_OK;
}

ak_err ak_der_sig_parse(uint8_t r[32], uint8_t s[32], const uint8_t *der, size_t len)
{
    ak_err err = AK_ERR_DER;
    uint8_t tr[32], ts[32];
    size_t pos = 2;
    if (der == NULL || len < 8 || len > AK_DER_SIG_MAX)
        goto out;
    /* SEQUENCE with a short-form length covering exactly the rest of the input. */
    if (der[0] != 0x30 || (der[1] & 0x80) || (size_t)der[1] != len - 2)
        goto out;
    if ((err = der_read_int(tr, der, len, &pos)) != AK_OK)
        goto out;
    if ((err = der_read_int(ts, der, len, &pos)) != AK_OK)
        goto out;
    if (pos != len) {
        err = AK_ERR_DER;
        goto out;
    }
    if (!in_scalar_range(tr) || !in_scalar_range(ts)) {
        err = AK_ERR_SIG;
        goto out;
    }
    memcpy(r, tr, 32);
    memcpy(s, ts, 32);
    err = AK_OK;
out:
    return err;
}

/* Minimal DER INTEGER for a non-negative 32-byte big-endian value. Returns bytes written. */
static size_t der_put_int(uint8_t *out, const uint8_t v[32])
{
    size_t skip = 0;
    while (skip < 31 && v[skip] == 0)
        skip++;
    size_t n = 32 - skip;
    int pad = (v[skip] & 0x80) != 0;
    out[0] = 0x02;
    out[1] = (uint8_t)(n + (size_t)pad);
    size_t p = 2;
    if (pad)
        out[p++] = 0x00;
    memcpy(out + p, v + skip, n);
    return p + n;
}

ak_err ak_der_sig_encode(uint8_t *out, size_t cap, size_t *len, const uint8_t r[32],
                         const uint8_t s[32])
{
    uint8_t tmp[AK_DER_SIG_MAX];
    size_t body = der_put_int(tmp + 2, r);
    body += der_put_int(tmp + 2 + body, s);
    tmp[0] = 0x30;
    tmp[1] = (uint8_t)body;
    if (cap < body + 2)
        return AK_ERR_BUFFER;
    memcpy(out, tmp, body + 2);
    *len = body + 2;
    return AK_OK;
}

int ak_sig_normalize_s(uint8_t s[32])
{
    if (is_low_s(s))
        return 0;
    /* s = n - s, big-endian subtraction with borrow; s < n so no final borrow. */
    unsigned borrow = 0;
    for (size_t i = 32; i-- > 0;) {
        unsigned d = (unsigned)k_order[i] - (unsigned)s[i] - borrow;
        s[i] = (uint8_t)d;
        borrow = (d >> 8) & 1u;
    }
    return 1;
}

/* Recover the uncompressed key for (r, s, recid) over digest; s must already be low. */
static ak_err recover_raw(uint8_t pub65[65], const uint8_t r[32], const uint8_t s[32], int recid,
                          const uint8_t digest[32])
{
    const secp256k1_context *ctx = secp256k1_context_static;
    secp256k1_ecdsa_recoverable_signature rsig;
    secp256k1_pubkey pk;
    uint8_t compact[64];
    size_t out_len = 65;
    memcpy(compact, r, 32);
    memcpy(compact + 32, s, 32);
    if (!secp256k1_ecdsa_recoverable_signature_parse_compact(ctx, &rsig, compact, recid))
        return AK_ERR_SIG;
    if (!secp256k1_ecdsa_recover(ctx, &pk, &rsig, digest))
        return AK_ERR_RECOVER;
    if (!secp256k1_ec_pubkey_serialize(ctx, pub65, &out_len, &pk, SECP256K1_EC_UNCOMPRESSED) ||
        out_len != 65)
        return AK_ERR_CRYPTO;
    return AK_OK;
}

ak_err ak_sig_from_rs(ak_sig *out, const uint8_t r[32], const uint8_t s[32],
                      const uint8_t digest[32], const uint8_t pub65[65])
{
    ak_err err = AK_ERR_SIG;
    uint8_t ls[32], cand[65];
    if (!in_scalar_range(r) || !in_scalar_range(s))
        goto out;
    memcpy(ls, s, 32);
    (void)ak_sig_normalize_s(ls);
    err = AK_ERR_RECOVER;
    for (int recid = 0; recid < 2; recid++) {
        if (recover_raw(cand, r, ls, recid, digest) != AK_OK)
            continue;
        if (memcmp(cand, pub65, 65) == 0) {
            memcpy(out->r, r, 32);
            memcpy(out->s, ls, 32);
            out->recid = (uint8_t)recid;
            err = AK_OK;
            goto out;
        }
    }
out:
    return err;
}

ak_err ak_sig_from_der(ak_sig *out, const uint8_t *der, size_t der_len, const uint8_t digest[32],
                       const uint8_t pub65[65])
{
    uint8_t r[32], s[32];
    ak_err err = ak_der_sig_parse(r, s, der, der_len);
    if (err != AK_OK)
        return err;
    return ak_sig_from_rs(out, r, s, digest, pub65);
}

ak_err ak_sig_from_raw64(ak_sig *out, const uint8_t raw[64], const uint8_t digest[32],
                         const uint8_t pub65[65])
{
    return ak_sig_from_rs(out, raw, raw + 32, digest, pub65);
}

ak_err ak_sig_check(const ak_sig *sig)
{
    if (sig == NULL || sig->recid > 1 || !in_scalar_range(sig->r) || !in_scalar_range(sig->s) ||
        !is_low_s(sig->s))
        return AK_ERR_SIG;
    return AK_OK;
}

ak_err ak_sig_recover_pubkey(uint8_t pub65[65], const ak_sig *sig, const uint8_t digest[32])
{
    ak_err err = ak_sig_check(sig);
    if (err != AK_OK)
        return err;
    return recover_raw(pub65, sig->r, sig->s, sig->recid, digest);
}

ak_err ak_sig_recover_address(uint8_t addr[20], const ak_sig *sig, const uint8_t digest[32])
{
    uint8_t pub[65];
    ak_err err = ak_sig_recover_pubkey(pub, sig, digest);
    if (err != AK_OK)
        return err;
    ak_addr_from_pubkey(addr, pub);
    return AK_OK;
}

void ak_sig_to_rsv(uint8_t out[65], const ak_sig *sig)
{
    memcpy(out, sig->r, 32);
    memcpy(out + 32, sig->s, 32);
    out[64] = (uint8_t)(27 + sig->recid);
}

ak_err ak_sig_from_rsv(ak_sig *out, const uint8_t in[65])
{
    uint8_t v = in[64];
    if (v >= 27)
        v = (uint8_t)(v - 27);
    if (v > 1)
        return AK_ERR_SIG;
    if (!in_scalar_range(in) || !in_scalar_range(in + 32) || !is_low_s(in + 32))
        return AK_ERR_SIG;
    memcpy(out->r, in, 32);
    memcpy(out->s, in + 32, 32);
    out->recid = v;
    return AK_OK;
}
