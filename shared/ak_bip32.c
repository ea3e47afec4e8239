/*
 * ak_bip32.c - BIP-32 private key derivation (see ak_bip32.h).
 *
 * HMAC-SHA512 from OpenSSL (one-shot HMAC()), the scalar addition mod n and the compressed public
 * key (needed for normal children) from libsecp256k1. Owns nothing.
 */
#include "ak_bip32.h"

#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <secp256k1.h>

#include "ak_secmem.h"

static AK_WUR ak_err hmac512(uint8_t out[64], const uint8_t *key, size_t key_len,
                             const uint8_t *data, size_t len)
{
    unsigned int out_len = 0;
    if (HMAC(EVP_sha512(), key, (int)key_len, data, len, out, &out_len) == NULL || out_len != 64)
        return AK_ERR_CRYPTO;
    return AK_OK;
}

ak_err ak_bip32_parse_path(uint32_t *idx, size_t cap, size_t *n, const char *path, size_t len)
{
    size_t pos = 1, count = 0;
    if (n == NULL || (idx == NULL && cap > 0))
        return AK_ERR_ARG;
    *n = 0;
    if (path == NULL || len == 0 || path[0] != 'm')
        return AK_ERR_DECIMAL;
    while (pos < len) {
        uint64_t v = 0; /* < 2^31 before each step: v * 10 + 9 cannot overflow */
        size_t digits = 0;
        if (path[pos] != '/')
            return AK_ERR_DECIMAL;
        pos++;
        while (pos < len && path[pos] >= '0' && path[pos] <= '9') {
            if (digits == 1 && v == 0)
                return AK_ERR_DECIMAL; /* leading zero */
            v = v * 10 + (uint64_t)(path[pos] - '0');
            if (v >= AK_BIP32_HARDENED)
                return AK_ERR_RANGE;
            digits++;
            pos++;
        }
        if (digits == 0)
            return AK_ERR_DECIMAL;
        if (pos < len && (path[pos] == '\'' || path[pos] == 'h' || path[pos] == 'H')) {
            v |= AK_BIP32_HARDENED;
            pos++;
        }
        if (count == AK_BIP32_MAX_DEPTH || count == cap)
            return AK_ERR_LIMIT;
        idx[count++] = (uint32_t)v;
    }
    *n = count;
    return AK_OK;
}

ak_err ak_bip32_master(ak_bip32_node *out, const uint8_t *seed, size_t seed_len)
{
    static const uint8_t key[] = "Bitcoin seed";
    uint8_t I[64];
    ak_err rc = AK_ERR_ARG;
    if (out == NULL || seed == NULL || seed_len < 16 || seed_len > 64)
        goto out;
    rc = hmac512(I, key, sizeof key - 1, seed, seed_len);
    if (rc != AK_OK)
        goto out;
    rc = AK_ERR_PRIVKEY;
    if (!secp256k1_ec_seckey_verify(secp256k1_context_static, I))
        goto out;
    memcpy(out->key, I, 32);
    memcpy(out->chain, I + 32, 32);
    out->depth = 0;
    out->index = 0;
    rc = AK_OK;
out:
    ak_wipe(I, sizeof I);
    return rc;
}

ak_err ak_bip32_child(ak_bip32_node *out, const ak_bip32_node *parent, uint32_t index)
{
    uint8_t data[37], I[64], key[32];
    secp256k1_context *ctx = NULL;
    secp256k1_pubkey pub;
    size_t plen = 33;
    ak_err rc = AK_ERR_ARG;
    if (out == NULL || parent == NULL)
        goto out;
    rc = AK_ERR_LIMIT;
    if (parent->depth == 255)
        goto out;
    if (index & AK_BIP32_HARDENED) {
        data[0] = 0; /* ser256(kpar) prefixed with 0x00 */
        memcpy(data + 1, parent->key, 32);
    } else {
        rc = AK_ERR_NOMEM;
        ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
        if (ctx == NULL)
            goto out;
        rc = AK_ERR_PRIVKEY;
        if (!secp256k1_ec_pubkey_create(ctx, &pub, parent->key) ||
            !secp256k1_ec_pubkey_serialize(ctx, data, &plen, &pub, SECP256K1_EC_COMPRESSED))
            goto out;
    }
    data[33] = (uint8_t)(index >> 24);
    data[34] = (uint8_t)(index >> 16);
    data[35] = (uint8_t)(index >> 8);
    data[36] = (uint8_t)index;
    rc = hmac512(I, parent->chain, 32, data, sizeof data);
    if (rc != AK_OK)
        goto out;
    /* child = parse256(IL) + kpar mod n; invalid if IL >= n or the sum is zero.
     */
    rc = AK_ERR_PRIVKEY;
    memcpy(key, parent->key, 32);
    if (!secp256k1_ec_seckey_verify(secp256k1_context_static, I) ||
        !secp256k1_ec_seckey_tweak_add(secp256k1_context_static, key, I))
        goto out;
    memcpy(out->key, key, 32);
    memcpy(out->chain, I + 32, 32);
    out->depth = (uint8_t)(parent->depth + 1);
    out->index = index;
    rc = AK_OK;
out:
    if (ctx != NULL)
        secp256k1_context_destroy(ctx);
    ak_wipe(data, sizeof data);
    ak_wipe(I, sizeof I);
    ak_wipe(key, sizeof key);
    return rc;
}

ak_err ak_bip32_derive_path(ak_bip32_node *out, const uint8_t *seed, size_t seed_len,
                            const char *path, size_t len)
{
    uint32_t idx[AK_BIP32_MAX_DEPTH];
    size_t n = 0;
    ak_bip32_node node;
    ak_err rc = AK_ERR_ARG;
    memset(&node, 0, sizeof node);
    if (out == NULL)
        goto out;
    rc = ak_bip32_parse_path(idx, AK_BIP32_MAX_DEPTH, &n, path, len);
    if (rc != AK_OK)
        goto out;
    rc = ak_bip32_master(&node, seed, seed_len);
    for (size_t i = 0; i < n && rc == AK_OK; i++)
        rc = ak_bip32_child(&node, &node, idx[i]);
    if (rc == AK_OK)
        *out = node;
out:
    ak_bip32_node_wipe(&node);
    return rc;
}

void ak_bip32_node_wipe(ak_bip32_node *node)
{
    if (node != NULL)
        ak_wipe(node, sizeof *node);
}
