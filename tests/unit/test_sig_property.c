/*
 * Property test for signature conversion: for thousands of random keys and digests, sign with
 * OpenSSL (EVP_PKEY_sign over the raw 32-byte digest: DER, high s about half the time, like an
 * HSM through the libp11 engine) and with libsecp256k1 (compact r||s, like PKCS#11 CKM_ECDSA,
 * also turned high-s on purpose), convert with ak_sig_from_der / ak_sig_from_raw64 and check:
 * s is low, the recovery id equals libsecp256k1's own, the signature recovers to the key's
 * address, and the same signature checked against another key is AK_ERR_RECOVER.
 */
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include "ak_addr.h"
#include "ak_secmem.h"
#include "ak_sig.h"
#include "ak_test.h"

#define ROUNDS 3000

static const uint8_t k_half[32] = {0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                   0xff, 0xff, 0xff, 0xff, 0xff, 0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4,
                                   0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0};
static const uint8_t k_n[32] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                0xff, 0xff, 0xff, 0xff, 0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48,
                                0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41};

static int is_high(const uint8_t s[32])
{
    return memcmp(s, k_half, 32) > 0;
}

/* One OpenSSL round; returns 1 if OpenSSL's s was high. */
static int openssl_round(const uint8_t other_pub[65], uint8_t pub_out[65])
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1");
    EVP_PKEY_CTX *ctx = NULL;
    uint8_t digest[32], der[80], pub[65], r[32], s[32], addr[20], want_addr[20];
    size_t der_len = sizeof der, pub_len = 0;
    int high = 0;
    ak_sig sig, sig2;
    if (k == NULL || RAND_bytes(digest, 32) != 1)
        abort();
    if (EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof pub, &pub_len) !=
            1 ||
        pub_len != 65)
        abort();
    ctx = EVP_PKEY_CTX_new(k, NULL);
    if (ctx == NULL || EVP_PKEY_sign_init(ctx) != 1 ||
        EVP_PKEY_sign(ctx, der, &der_len, digest, 32) != 1)
        abort();

    CHECK_EQ_INT(ak_der_sig_parse(r, s, der, der_len), AK_OK);
    high = is_high(s);
    CHECK_EQ_INT(ak_sig_from_der(&sig, der, der_len, digest, pub), AK_OK);
    CHECK(!is_high(sig.s));
    CHECK_MEM(sig.r, r, 32);
    CHECK_EQ_INT(ak_sig_recover_address(addr, &sig, digest), AK_OK);
    ak_addr_from_pubkey(want_addr, pub);
    CHECK_MEM(addr, want_addr, 20);
    /* checked against a different key: refused, never a wrong v */
    CHECK_EQ_INT(ak_sig_from_der(&sig2, der, der_len, digest, other_pub), AK_ERR_RECOVER);

    memcpy(pub_out, pub, 65);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(k);
    return high;
}

static void secp_round(secp256k1_context *ctx, const uint8_t other_pub[65], uint8_t pub_out[65])
{
    uint8_t key[32], digest[32], compact[64], raw[64], pub[65], addr[20], want_addr[20];
    size_t pub_len = 65;
    int recid = -1;
    secp256k1_pubkey pk;
    secp256k1_ecdsa_recoverable_signature rsig;
    ak_sig sig, sig2;
    do {
        if (RAND_bytes(key, 32) != 1)
            abort();
    } while (!secp256k1_ec_seckey_verify(ctx, key));
    if (RAND_bytes(digest, 32) != 1 || !secp256k1_ec_pubkey_create(ctx, &pk, key) ||
        !secp256k1_ec_pubkey_serialize(ctx, pub, &pub_len, &pk, SECP256K1_EC_UNCOMPRESSED) ||
        !secp256k1_ecdsa_sign_recoverable(ctx, &rsig, digest, key, NULL, NULL) ||
        !secp256k1_ecdsa_recoverable_signature_serialize_compact(ctx, compact, &recid, &rsig))
        abort();

    CHECK_EQ_INT(ak_sig_from_raw64(&sig, compact, digest, pub), AK_OK);
    CHECK_EQ_INT(sig.recid, recid);
    CHECK_MEM(sig.r, compact, 32);
    CHECK_MEM(sig.s, compact + 32, 32);
    CHECK_EQ_INT(ak_sig_recover_address(addr, &sig, digest), AK_OK);
    ak_addr_from_pubkey(want_addr, pub);
    CHECK_MEM(addr, want_addr, 20);

    /* the high-s twin (n - s) of the same signature converts to the same result */
    memcpy(raw, compact, 32);
    {
        unsigned borrow = 0;
        for (size_t i = 32; i-- > 0;) {
            unsigned d = (unsigned)k_n[i] - compact[32 + i] - borrow;
            raw[32 + i] = (uint8_t)d;
            borrow = (d >> 8) & 1u;
        }
    }
    CHECK(is_high(raw + 32));
    CHECK_EQ_INT(ak_sig_from_raw64(&sig2, raw, digest, pub), AK_OK);
    CHECK_MEM(&sig2, &sig, sizeof sig);
    CHECK_EQ_INT(ak_sig_from_raw64(&sig2, compact, digest, other_pub), AK_ERR_RECOVER);

    memcpy(pub_out, pub, 65);
    ak_wipe(key, sizeof key);
}

int main(void)
{
    secp256k1_context *ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    uint8_t prev[65], cur[65];
    int high = 0;
    /* "other key" for round 0: the generator G (private key 1) */
    static const uint8_t g[65] = {0x04, 0x79, 0xbe, 0x66, 0x7e, 0xf9, 0xdc, 0xbb, 0xac, 0x55, 0xa0,
                                  0x62, 0x95, 0xce, 0x87, 0x0b, 0x07, 0x02, 0x9b, 0xfc, 0xdb, 0x2d,
                                  0xce, 0x28, 0xd9, 0x59, 0xf2, 0x81, 0x5b, 0x16, 0xf8, 0x17, 0x98,
                                  0x48, 0x3a, 0xda, 0x77, 0x26, 0xa3, 0xc4, 0x65, 0x5d, 0xa4, 0xfb,
                                  0xfc, 0x0e, 0x11, 0x08, 0xa8, 0xfd, 0x17, 0xb4, 0x48, 0xa6, 0x85,
                                  0x54, 0x19, 0x9c, 0x47, 0xd0, 0x8f, 0xfb, 0x10, 0xd4, 0xb8};
    if (ctx == NULL)
        abort();
    memcpy(prev, g, 65);
    for (int i = 0; i < ROUNDS; i++) {
        high += openssl_round(prev, cur);
        memcpy(prev, cur, 65);
    }
    printf("openssl: %d of %d signatures had high s\n", high, ROUNDS);
    /* about half; far from 0 and from ROUNDS (a 1-in-2^100 event otherwise) */
    CHECK(high > ROUNDS / 4);
    CHECK(high < ROUNDS - ROUNDS / 4);
    for (int i = 0; i < ROUNDS; i++) {
        secp_round(ctx, prev, cur);
        memcpy(prev, cur, 65);
    }
    secp256k1_context_destroy(ctx);
    return ak_test_report("test_sig_property");
}
