/*
 * Signatures: strict DER (X.690 DER rules; OpenSSL's i2d_ECDSA_SIG as the independent encoder),
 * EIP-2 low-s, recovery id by trial recovery, r||s||v forms.
 *
 * Known answers from ethers v6 (tests/tools/node_modules):
 *   const k = new SigningKey("0x" + "46".repeat(32));
 *   const d = keccak256(toUtf8Bytes(m)); const s = k.sign(d);  // s.r, s.s, s.v, s.serialized
 * for m = "anode-keyless" (v 27) and m = "msg2" (v 28); the signer's address is
 * 0x9d8A62f656a8d1615C1294fd71e9CFb3E4855A4F (ethers recoverAddress).
 */
#include <openssl/ecdsa.h>
#include <openssl/bn.h>
#include <openssl/rand.h>

#include "ak_addr.h"
#include "ak_sig.h"
#include "ak_test.h"

/* ethers: SigningKey("0x46..46").publicKey */
static const char *k_pub46 =
    "044bc2a31265153f07e70e0bab08724e6b85e217f8cd628ceb62974247bb493382ce28"
    "cab79ad7119ee1ad3ebcdb98a16805211530ecc6cfefa1b88e6dff99232a";
/* ethers: SigningKey("0x00..01").publicKey (the generator G) */
static const char *k_pub1 =
    "0479be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798483ada"
    "7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8";
static const char *k_n = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141";
static const char *k_half = "7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0";

typedef struct {
    const char *digest, *r, *s, *rsv;
    int v;
} ethers_sig;

static const ethers_sig k_vectors[] = {
    {"cae7b74c7285d24dd648ca846add0ec514b6b17c0de917fc1bd2c07ab7d2cf0b",
     "9d9b7c6fd8a37a7f52c1ec222f60b7974ef9ac42687aeb1b9622ece1b1d94336",
     "29f432bb88fc4c15d40b22b0f95777abe514280506f340a36a198c7582cf6178",
     "9d9b7c6fd8a37a7f52c1ec222f60b7974ef9ac42687aeb1b9622ece1b1d9433629f432bb88fc4c15d40b22b0f957"
     "77abe514280506f340a36a198c7582cf61781b",
     27},
    {"1a95e0593cf9ae3b7f0073c1fb75f7d58977a7e5cdbe7d0d9ee0cf1461e8a844",
     "2a5895684faa971679d6cb8313f63997dc09c828c273879e27a0d95bfe2d65cf",
     "578fd3df601d6be3bcb9e754b6e8eec0c91bba2a5a79c5705465501c0da77345",
     "2a5895684faa971679d6cb8313f63997dc09c828c273879e27a0d95bfe2d65cf578fd3df601d6be3bcb9e754b6e8"
     "eec0c91bba2a5a79c5705465501c0da773451c",
     28},
};

static void sub_from_n(uint8_t out[32], const uint8_t s[32])
{
    uint8_t n[32];
    unsigned borrow = 0;
    ak_test_unhex(n, 32, k_n);
    for (size_t i = 32; i-- > 0;) {
        unsigned d = (unsigned)n[i] - s[i] - borrow;
        out[i] = (uint8_t)d;
        borrow = (d >> 8) & 1u;
    }
}

/* OpenSSL's DER encoding of (r, s): the independent reference for our encoder. */
static size_t openssl_der(uint8_t *out, const uint8_t r[32], const uint8_t s[32])
{
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *br = BN_bin2bn(r, 32, NULL), *bs = BN_bin2bn(s, 32, NULL);
    unsigned char *p = out;
    int n;
    if (sig == NULL || br == NULL || bs == NULL || ECDSA_SIG_set0(sig, br, bs) != 1)
        abort();
    n = i2d_ECDSA_SIG(sig, &p);
    ECDSA_SIG_free(sig);
    return n > 0 ? (size_t)n : 0;
}

static void der_reject(const char *hex, ak_err want)
{
    uint8_t der[128], r[32], s[32];
    size_t n = ak_test_unhex(der, sizeof der, hex);
    ak_err got = ak_der_sig_parse(r, s, der, n);
    CHECK_EQ_INT(got, want);
    if (got != want)
        fprintf(stderr, "  for %s\n", hex);
}

static void der_accept(const char *hex, const char *r_hex, const char *s_hex)
{
    uint8_t der[128], r[32], s[32], wr[32], ws[32], back[AK_DER_SIG_MAX];
    size_t n = ak_test_unhex(der, sizeof der, hex), blen = 0;
    ak_test_unhex(wr, 32, r_hex);
    ak_test_unhex(ws, 32, s_hex);
    CHECK_EQ_INT(ak_der_sig_parse(r, s, der, n), AK_OK);
    CHECK_MEM(r, wr, 32);
    CHECK_MEM(s, ws, 32);
    CHECK_EQ_INT(ak_der_sig_encode(back, sizeof back, &blen, r, s), AK_OK);
    CHECK_EQ_INT(blen, n);
    CHECK_MEM(back, der, n);
}

static void der_tests(void)
{
    const char *one = "0000000000000000000000000000000000000000000000000000000000000001";
    const char *r31 = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    const char *hi = "8000000000000000000000000000000000000000000000000000000000000001";
    /* Smallest valid: r = s = 1. */
    der_accept("3006020101020101", one, one);
    /* r with a 31-byte minimal form; s with a high bit (33 bytes with the 00 pad). */
    der_accept("3044021f112233445566778899aabbccddeeff00112233445566778899aabbccddeeff022100"
               "8000000000000000000000000000000000000000000000000000000000000001",
               r31, hi);
    /* The largest legal form: both 33 bytes, n-1 for r and s. */
    der_accept("3046022100fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd036414002"
               "2100fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140",
               "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140",
               "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140");

    der_reject("", AK_ERR_DER);
    der_reject("30060201010201010000", AK_ERR_DER); /* trailing bytes (and length mismatch) */
    der_reject("300602010102010100", AK_ERR_DER);   /* trailing byte after the SEQUENCE */
    der_reject("3007020101020101", AK_ERR_DER);     /* SEQUENCE length too long */
    der_reject("3005020101020101", AK_ERR_DER);     /* SEQUENCE length too short */
    der_reject("310602010102010101", AK_ERR_DER);   /* not a SEQUENCE */
    der_reject("3006030101020101", AK_ERR_DER);     /* not an INTEGER */
    der_reject("308106020101020101", AK_ERR_DER);   /* long-form SEQUENCE length */
    der_reject("300702810101020101", AK_ERR_DER);   /* long-form INTEGER length */
    der_reject("30070202000102010101", AK_ERR_DER); /* non-minimal: 00 01 */
    der_reject("3006020181020101", AK_ERR_DER);     /* negative r */
    der_reject("3006020101020181", AK_ERR_DER);     /* negative s */
    der_reject("30050200020101", AK_ERR_DER);       /* empty INTEGER */
    der_reject("3006020100020101", AK_ERR_SIG);     /* r = 0 */
    der_reject("3006020101020100", AK_ERR_SIG);     /* s = 0 */
    der_reject("300402010102", AK_ERR_DER);         /* truncated */
    der_reject("30030201010201", AK_ERR_DER);       /* truncated inside s */
    /* s = n (33 bytes with pad): out of range */
    der_reject("3026020101022100fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
               AK_ERR_SIG);
    /* 33 bytes without the pad: a 33-byte value */
    der_reject("3026020101022101fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
               AK_ERR_DER);
    /* 34-byte integer (00 00 ...): non-minimal and too long */
    der_reject("302702010102220000fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
               AK_ERR_DER);
    /* three INTEGERs */
    der_reject("3009020101020101020101", AK_ERR_DER);
    /* a padded 33-byte s whose 00 is not needed */
    der_reject("3026020101022100"
               "7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
               AK_ERR_DER);

    /* Random (r, s) of every length: our encoder equals OpenSSL's; parse inverts it. */
    for (int i = 0; i < 2000; i++) {
        uint8_t r[32], s[32], pr[32], ps[32], ours[AK_DER_SIG_MAX], theirs[80];
        size_t olen = 0, tlen;
        uint8_t n[32];
        size_t zr = (size_t)i % 32, zs = (size_t)(i / 32) % 32; /* leading zero bytes */
        ak_test_unhex(n, 32, k_n);
        if (RAND_bytes(r, 32) != 1 || RAND_bytes(s, 32) != 1)
            abort();
        memset(r, 0, zr);
        memset(s, 0, zs);
        if (memcmp(r, n, 32) >= 0)
            r[0] = 0x7f;
        if (memcmp(s, n, 32) >= 0)
            s[0] = 0x7f;
        r[31] |= 1; /* never zero */
        s[31] |= 1;
        tlen = openssl_der(theirs, r, s);
        CHECK_EQ_INT(ak_der_sig_encode(ours, sizeof ours, &olen, r, s), AK_OK);
        CHECK_EQ_INT(olen, tlen);
        CHECK_MEM(ours, theirs, tlen);
        CHECK_EQ_INT(ak_der_sig_parse(pr, ps, ours, olen), AK_OK);
        CHECK_MEM(pr, r, 32);
        CHECK_MEM(ps, s, 32);
    }
    {
        uint8_t r[32], small[8];
        size_t len;
        memset(r, 0xff, 32);
        r[0] = 0x7f;
        CHECK_EQ_INT(ak_der_sig_encode(small, sizeof small, &len, r, r), AK_ERR_BUFFER);
    }
}

static void normalize_tests(void)
{
    uint8_t n[32], half[32], s[32], want[32];
    ak_test_unhex(n, 32, k_n);
    ak_test_unhex(half, 32, k_half);
    memcpy(s, half, 32);
    CHECK_EQ_INT(ak_sig_normalize_s(s), 0); /* n/2 itself is low */
    CHECK_MEM(s, half, 32);
    memcpy(s, half, 32);
    s[31]++; /* n/2 + 1 -> n - (n/2 + 1) = n/2 (n is odd) */
    CHECK_EQ_INT(ak_sig_normalize_s(s), 1);
    CHECK_MEM(s, half, 32);
    memcpy(s, n, 32);
    s[31]--; /* n - 1 -> 1 */
    CHECK_EQ_INT(ak_sig_normalize_s(s), 1);
    memset(want, 0, 32);
    want[31] = 1;
    CHECK_MEM(s, want, 32);
}

static void recovery_tests(void)
{
    uint8_t pub[65], pub1[65], d[32], r[32], s[32], hs[32], rsv[65], want_rsv[65], der[80];
    uint8_t addr[20], got_pub[65], raw[64];
    char addr_s[AK_ADDR_STR_SIZE];
    size_t der_len;
    ak_sig sig, sig2;
    ak_test_unhex(pub, 65, k_pub46);
    ak_test_unhex(pub1, 65, k_pub1);
    for (size_t i = 0; i < sizeof k_vectors / sizeof k_vectors[0]; i++) {
        const ethers_sig *v = &k_vectors[i];
        ak_test_unhex(d, 32, v->digest);
        ak_test_unhex(r, 32, v->r);
        ak_test_unhex(s, 32, v->s);
        ak_test_unhex(want_rsv, 65, v->rsv);

        CHECK_EQ_INT(ak_sig_from_rs(&sig, r, s, d, pub), AK_OK);
        CHECK_EQ_INT(sig.recid, v->v - 27);
        ak_sig_to_rsv(rsv, &sig);
        CHECK_MEM(rsv, want_rsv, 65);

        /* the same signature with high s (what an HSM returns half the time) */
        sub_from_n(hs, s);
        CHECK(hs[0] >= 0x80);
        CHECK_EQ_INT(ak_sig_from_rs(&sig2, r, hs, d, pub), AK_OK);
        CHECK_MEM(&sig2, &sig, sizeof sig);
        der_len = openssl_der(der, r, hs);
        CHECK_EQ_INT(ak_sig_from_der(&sig2, der, der_len, d, pub), AK_OK);
        CHECK_MEM(&sig2, &sig, sizeof sig);
        memcpy(raw, r, 32);
        memcpy(raw + 32, hs, 32);
        CHECK_EQ_INT(ak_sig_from_raw64(&sig2, raw, d, pub), AK_OK);
        CHECK_MEM(&sig2, &sig, sizeof sig);

        CHECK_EQ_INT(ak_sig_recover_pubkey(got_pub, &sig, d), AK_OK);
        CHECK_MEM(got_pub, pub, 65);
        CHECK_EQ_INT(ak_sig_recover_address(addr, &sig, d), AK_OK);
        ak_addr_to_checksum(addr_s, addr);
        CHECK_STR(addr_s, "0x9d8A62f656a8d1615C1294fd71e9CFb3E4855A4F");

        /* the wrong key, or the wrong digest: neither recovery id matches */
        CHECK_EQ_INT(ak_sig_from_rs(&sig2, r, s, d, pub1), AK_ERR_RECOVER);
        d[0] ^= 1;
        CHECK_EQ_INT(ak_sig_from_rs(&sig2, r, s, d, pub), AK_ERR_RECOVER);
        CHECK_EQ_INT(ak_sig_from_der(&sig2, der, der_len, d, pub), AK_ERR_RECOVER);
        d[0] ^= 1;
        /* a malformed DER is a DER error before any recovery */
        der[der_len] = 0x00; /* a trailing byte */
        CHECK_EQ_INT(ak_sig_from_der(&sig2, der, der_len + 1, d, pub), AK_ERR_DER);

        /* rsv parsing */
        CHECK_EQ_INT(ak_sig_from_rsv(&sig2, want_rsv), AK_OK);
        CHECK_MEM(&sig2, &sig, sizeof sig);
        memcpy(rsv, want_rsv, 65);
        rsv[64] = (uint8_t)(v->v - 27); /* 0/1 form */
        CHECK_EQ_INT(ak_sig_from_rsv(&sig2, rsv), AK_OK);
        CHECK_MEM(&sig2, &sig, sizeof sig);
        rsv[64] = 29;
        CHECK_EQ_INT(ak_sig_from_rsv(&sig2, rsv), AK_ERR_SIG);
        rsv[64] = 2;
        CHECK_EQ_INT(ak_sig_from_rsv(&sig2, rsv), AK_ERR_SIG);
        rsv[64] = 27;
        memcpy(rsv + 32, hs, 32); /* high s */
        CHECK_EQ_INT(ak_sig_from_rsv(&sig2, rsv), AK_ERR_SIG);
    }

    /* Out-of-range r and s are AK_ERR_SIG, not a recovery attempt. */
    memset(r, 0, 32);
    ak_test_unhex(s, 32, k_vectors[0].s);
    CHECK_EQ_INT(ak_sig_from_rs(&sig, r, s, d, pub), AK_ERR_SIG);
    ak_test_unhex(r, 32, k_n);
    CHECK_EQ_INT(ak_sig_from_rs(&sig, r, s, d, pub), AK_ERR_SIG);
    CHECK_EQ_INT(ak_sig_from_rs(&sig, s, r, d, pub), AK_ERR_SIG);
    /* An x coordinate with no point on the curve (x = 5 has none: 5^3+7 = 132 is a
     * non-residue mod p) recovers to nothing. */
    memset(r, 0, 32);
    r[31] = 5;
    CHECK_EQ_INT(ak_sig_from_rs(&sig, r, s, d, pub), AK_ERR_RECOVER);

    /* recover_* refuse malformed ak_sig values */
    ak_test_unhex(d, 32, k_vectors[0].digest);
    CHECK_EQ_INT(ak_sig_from_rsv(&sig, want_rsv), AK_OK);
    sig2 = sig;
    sig2.recid = 2;
    CHECK_EQ_INT(ak_sig_recover_pubkey(got_pub, &sig2, d), AK_ERR_SIG);
    sig2 = sig;
    sub_from_n(sig2.s, sig.s);
    CHECK_EQ_INT(ak_sig_recover_pubkey(got_pub, &sig2, d), AK_ERR_SIG);
    CHECK_EQ_INT(ak_sig_recover_address(addr, &sig2, d), AK_ERR_SIG);
    CHECK_EQ_INT(ak_sig_check(&sig), AK_OK);
    CHECK_EQ_INT(ak_sig_check(&sig2), AK_ERR_SIG);
}

int main(void)
{
    der_tests();
    normalize_tests();
    recovery_tests();
    return ak_test_report("test_sig");
}
