/*
 * ak_addr.c - secp256k1 public key parsing and Ethereum addresses with EIP-55 checksums
 * (see ak_addr.h).
 *
 * Owns nothing. Points are validated with libsecp256k1 (secp256k1_context_static, no global
 * state). The SubjectPublicKeyInfo parser is deliberately narrow: DER is a unique encoding, so
 * a secp256k1 SPKI (RFC 5480 id-ecPublicKey + SEC 2 secp256k1 OID) is a fixed 23-byte prefix
 * followed by the BIT STRING's point; anything else (explicit curve parameters, other curves,
 * BER) is AK_ERR_PUBKEY.
 */
#include "ak_addr.h"

#include <string.h>

#include <secp256k1.h>

#include "ak_keccak.h"

/*
 * SEQUENCE { SEQUENCE { OID 1.2.840.10045.2.1, OID 1.3.132.0.10 }, BIT STRING (0 unused) }
 * for an uncompressed (65-byte) and a compressed (33-byte) point.
 */
static const uint8_t k_spki_prefix_65[] = {0x30, 0x56, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86,
                                           0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b,
                                           0x81, 0x04, 0x00, 0x0a, 0x03, 0x42, 0x00};
static const uint8_t k_spki_prefix_33[] = {0x30, 0x36, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86,
                                           0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b,
                                           0x81, 0x04, 0x00, 0x0a, 0x03, 0x22, 0x00};

/* Validate a SEC 1 point (04|X|Y or 02/03|X only: no hybrid 06/07) and write 04|X|Y. */
static ak_err point_to_pub65(uint8_t pub65[65], const uint8_t *in, size_t len)
{
    secp256k1_pubkey pk;
    size_t out_len = 65;
    if (len == 65 && in[0] != 0x04)
        return AK_ERR_PUBKEY;
    if (len == 33 && in[0] != 0x02 && in[0] != 0x03)
        return AK_ERR_PUBKEY;
    if (len != 65 && len != 33)
        return AK_ERR_PUBKEY;
    if (!secp256k1_ec_pubkey_parse(secp256k1_context_static, &pk, in, len))
        return AK_ERR_PUBKEY;
    if (!secp256k1_ec_pubkey_serialize(secp256k1_context_static, pub65, &out_len, &pk,
                                       SECP256K1_EC_UNCOMPRESSED) ||
        out_len != 65)
        return AK_ERR_CRYPTO;
    return AK_OK;
}

ak_err ak_pubkey_parse(uint8_t pub65[65], const uint8_t *in, size_t len)
{
    if (in == NULL)
        return AK_ERR_ARG;
    /* CKA_EC_POINT: DER OCTET STRING (short length) wrapping the SEC 1 point. */
    if (len >= 2 && in[0] == 0x04 && (size_t)in[1] == len - 2 && (len == 67 || len == 35))
        return point_to_pub65(pub65, in + 2, len - 2);
    return point_to_pub65(pub65, in, len);
}

ak_err ak_pubkey_parse_spki(uint8_t pub65[65], const uint8_t *der, size_t len)
{
    if (der == NULL)
        return AK_ERR_ARG;
    if (len == sizeof(k_spki_prefix_65) + 65 &&
        memcmp(der, k_spki_prefix_65, sizeof(k_spki_prefix_65)) == 0)
        return point_to_pub65(pub65, der + sizeof(k_spki_prefix_65), 65);
    if (len == sizeof(k_spki_prefix_33) + 33 &&
        memcmp(der, k_spki_prefix_33, sizeof(k_spki_prefix_33)) == 0)
        return point_to_pub65(pub65, der + sizeof(k_spki_prefix_33), 33);
    return AK_ERR_PUBKEY;
}

void ak_addr_from_pubkey(uint8_t addr[20], const uint8_t pub65[65])
{
    uint8_t h[32];
    ak_keccak256(h, pub65 + 1, 64);
    memcpy(addr, h + 12, 20);
}

/* EIP-55: hash the lowercase hex (no 0x); hex digit i is uppercase iff nibble i of the hash >= 8.
 */
static void checksum_hash(uint8_t h[32], const char lower[40])
{
    ak_keccak256(h, (const uint8_t *)lower, 40);
}

static int hash_nibble(const uint8_t h[32], size_t i)
{
    return (i % 2 == 0) ? (h[i / 2] >> 4) : (h[i / 2] & 0x0f);
}

void ak_addr_to_checksum(char out[AK_ADDR_STR_SIZE], const uint8_t addr[20])
{
    static const char digits[] = "0123456789abcdef";
    uint8_t h[32];
    out[0] = '0';
    out[1] = 'x';
    for (size_t i = 0; i < 20; i++) {
        out[2 + 2 * i] = digits[addr[i] >> 4];
        out[3 + 2 * i] = digits[addr[i] & 0x0f];
    }
    checksum_hash(h, out + 2);
    for (size_t i = 0; i < 40; i++) {
        char c = out[2 + i];
        if (c >= 'a' && c <= 'f' && hash_nibble(h, i) >= 8)
            out[2 + i] = (char)(c - 'a' + 'A');
    }
    out[42] = '\0';
}

static int hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

ak_err ak_addr_parse(uint8_t addr[20], const char *s, size_t len)
{
    uint8_t tmp[20], h[32];
    char lower[40];
    int has_lower = 0, has_upper = 0;
    if (s == NULL || len != 42 || s[0] != '0' || s[1] != 'x')
        return AK_ERR_ADDRESS;
    for (size_t i = 0; i < 40; i++) {
        char c = s[2 + i];
        int v = hex_val(c);
        if (v < 0)
            return AK_ERR_ADDRESS;
        if (c >= 'a' && c <= 'f')
            has_lower = 1;
        if (c >= 'A' && c <= 'F')
            has_upper = 1;
        lower[i] = (char)(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
        if (i % 2 == 0)
            tmp[i / 2] = (uint8_t)(v << 4);
        else
            tmp[i / 2] |= (uint8_t)v;
    }
    if (has_lower && has_upper) {
        checksum_hash(h, lower);
        for (size_t i = 0; i < 40; i++) {
            char c = s[2 + i];
            if (c >= '0' && c <= '9')
                continue;
            int want_upper = hash_nibble(h, i) >= 8;
            int is_upper = c >= 'A' && c <= 'F';
            if (want_upper != is_upper)
                return AK_ERR_CHECKSUM;
        }
    }
    memcpy(addr, tmp, 20);
    return AK_OK;
}
