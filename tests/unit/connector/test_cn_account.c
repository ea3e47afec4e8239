/*
 * test_cn_account.c - the one conversion of a backend's signature to Ethereum's (r, s, v)
 * (cn_raw_sig_to_eth) and signing as an account (cn_account_sign_eth). Signatures are made and
 * judged by libsecp256k1 directly (sign, DER serialisation, recovery), not by our code.
 */
#include <stdio.h>
#include <string.h>

#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include "ak_test.h"
#include "cn_account.h"
#include "cn_log.h"
#include "cn_signer_local.h"
#include "cn_signer_manager.h"

static secp256k1_context *g_ctx;
static uint8_t g_key[32], g_pub[65], g_other_pub[65];

static void pub_of(uint8_t out[65], const uint8_t key[32])
{
    secp256k1_pubkey pk;
    size_t n = 65;
    CHECK(secp256k1_ec_pubkey_create(g_ctx, &pk, key) == 1);
    CHECK(secp256k1_ec_pubkey_serialize(g_ctx, out, &n, &pk, SECP256K1_EC_UNCOMPRESSED) == 1);
}

/* libsecp256k1's own judgement: (r, s, recid) over digest recovers to g_pub. */
static int recovers(const ak_sig *sig, const uint8_t digest[32])
{
    uint8_t rs[64], out[65];
    size_t n = 65;
    secp256k1_ecdsa_recoverable_signature rsig;
    secp256k1_pubkey pk;
    memcpy(rs, sig->r, 32);
    memcpy(rs + 32, sig->s, 32);
    return secp256k1_ecdsa_recoverable_signature_parse_compact(g_ctx, &rsig, rs, sig->recid) &&
           secp256k1_ecdsa_recover(g_ctx, &pk, &rsig, digest) &&
           secp256k1_ec_pubkey_serialize(g_ctx, out, &n, &pk, SECP256K1_EC_UNCOMPRESSED) &&
           memcmp(out, g_pub, 65) == 0;
}

/* A signature by g_key: r||s (low s), its DER, and the DER of (r, n - s) (high s). */
static void sign(const uint8_t digest[32], uint8_t rs[64], cn_raw_sig *der, cn_raw_sig *der_hi)
{
    secp256k1_ecdsa_signature sig;
    CHECK(secp256k1_ecdsa_sign(g_ctx, &sig, digest, g_key, NULL, NULL) == 1);
    CHECK(secp256k1_ecdsa_signature_serialize_compact(g_ctx, rs, &sig) == 1);
    *der = (cn_raw_sig){.form = CN_SIG_DER, .len = sizeof(der->bytes)};
    CHECK(secp256k1_ecdsa_signature_serialize_der(g_ctx, der->bytes, &der->len, &sig) == 1);
    uint8_t hi[64];
    memcpy(hi, rs, 64);
    CHECK(secp256k1_ec_seckey_negate(g_ctx, hi + 32) == 1); /* s -> n - s */
    CHECK(secp256k1_ecdsa_signature_parse_compact(g_ctx, &sig, hi) == 1);
    *der_hi = (cn_raw_sig){.form = CN_SIG_DER, .len = sizeof(der_hi->bytes)};
    CHECK(secp256k1_ecdsa_signature_serialize_der(g_ctx, der_hi->bytes, &der_hi->len, &sig) == 1);
}

static void test_conversion(void)
{
    for (uint8_t round = 0; round < 8; round++) {
        uint8_t digest[32], rs[64];
        cn_raw_sig der, der_hi, raw;
        ak_sig out;
        memset(digest, 0x10 + round, sizeof(digest));
        sign(digest, rs, &der, &der_hi);
        /* DER, low s and high s: the same low-s (r, s) with the recovery id of our key. */
        CHECK_EQ_INT(cn_raw_sig_to_eth(&out, &der, digest, g_pub), AK_OK);
        CHECK(memcmp(out.r, rs, 32) == 0 && memcmp(out.s, rs + 32, 32) == 0);
        CHECK(recovers(&out, digest));
        CHECK_EQ_INT(cn_raw_sig_to_eth(&out, &der_hi, digest, g_pub), AK_OK);
        CHECK(memcmp(out.s, rs + 32, 32) == 0 && recovers(&out, digest));
        /* Raw r||s (PKCS#11), without and with a recovery id the backend vouches for. */
        raw = (cn_raw_sig){.form = CN_SIG_RS, .len = 64};
        memcpy(raw.bytes, rs, 64);
        CHECK_EQ_INT(cn_raw_sig_to_eth(&out, &raw, digest, g_pub), AK_OK);
        CHECK(recovers(&out, digest));
        raw.has_recid = 1;
        raw.recid = out.recid;
        CHECK_EQ_INT(cn_raw_sig_to_eth(&out, &raw, digest, g_pub), AK_OK);
        CHECK(recovers(&out, digest));
        /* Negative: another key's public key, a vouched-for high s, bad shapes. */
        CHECK_EQ_INT(cn_raw_sig_to_eth(&out, &der, digest, g_other_pub), AK_ERR_RECOVER);
        raw.has_recid = 0;
        CHECK_EQ_INT(cn_raw_sig_to_eth(&out, &raw, digest, g_other_pub), AK_ERR_RECOVER);
        raw.has_recid = 1;
        CHECK(secp256k1_ec_seckey_negate(g_ctx, raw.bytes + 32) == 1);
        CHECK_EQ_INT(cn_raw_sig_to_eth(&out, &raw, digest, g_pub), AK_ERR_SIG);
        raw.len = 63;
        CHECK_EQ_INT(cn_raw_sig_to_eth(&out, &raw, digest, g_pub), AK_ERR_SIG);
        der.len -= 1;
        CHECK_EQ_INT(cn_raw_sig_to_eth(&out, &der, digest, g_pub), AK_ERR_DER);
        der.len = sizeof(der.bytes) + 1;
        CHECK_EQ_INT(cn_raw_sig_to_eth(&out, &der, digest, g_pub), AK_ERR_DER);
    }
}

static void test_account(void)
{
    char err[256];
    cn_signer *local = NULL, *mgr = NULL;
    uint8_t digest[32];
    ak_sig sig;
    memset(digest, 0x5a, sizeof(digest));
    CHECK_EQ_INT(cn_local_signer_from_key(&local, g_key, "k", err, sizeof(err)), AK_OK);
    CHECK_EQ_INT(cn_signer_manager_wrap(&mgr, &local, 1, "acct", NULL, err, sizeof(err)), AK_OK);
    if (mgr == NULL)
        return;
    cn_account list[1] = {{mgr, NULL, 0, NULL}};
    CHECK(cn_accounts_find(list, 1, mgr->address) == &list[0]);
    uint8_t other[20] = {1};
    CHECK(cn_accounts_find(list, 1, other) == NULL);
    cn_sign_ctx ctx = {"eth_sign", "req-1", 0, 0, NULL, NULL, NULL, 0};
    CHECK_EQ_INT(cn_account_sign_eth(&list[0], &sig, digest, &ctx), AK_OK);
    CHECK(recovers(&sig, digest));
    cn_signer_free(mgr);
}

int main(void)
{
    cn_log_setup(CN_LOG_ERROR, 1);
    g_ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    uint8_t other[32];
    memset(g_key, 0x46, sizeof(g_key));
    memset(other, 0x47, sizeof(other));
    pub_of(g_pub, g_key);
    pub_of(g_other_pub, other);
    test_conversion();
    test_account();
    secp256k1_context_destroy(g_ctx);
    return ak_test_report("test_cn_account");
}
