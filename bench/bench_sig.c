/*
 * bench_sig.c - CPU time of ak_sig_from_rs (finding v for a DER/raw signature without a recovery
 * id, as the connector does for every HSM signature) next to a plain trial recovery written out
 * here (recid 0, then 1), on the same signatures in the same run.
 *
 * Signatures: libsecp256k1 over random digests with one random key; every odd one gets s
 * replaced by n - s (high s, as an HSM returns half the time); both recovery ids occur.
 * Usage: bench_sig [N] (default 20000). Prints microseconds per conversion; not a test.
 * docs/benchmarks.md records what it measured for the one-recovery alternative.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>
#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include "ak_sig.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The previous method: recover with recid 0, then 1, compare each with the key. */
static int old_recid(const uint8_t rs[64], const uint8_t digest[32], const uint8_t pub[65])
{
    for (int recid = 0; recid < 2; recid++) {
        secp256k1_ecdsa_recoverable_signature rsig;
        secp256k1_pubkey pk;
        uint8_t cand[65];
        size_t len = 65;
        if (!secp256k1_ecdsa_recoverable_signature_parse_compact(secp256k1_context_static, &rsig,
                                                                 rs, recid) ||
            !secp256k1_ecdsa_recover(secp256k1_context_static, &pk, &rsig, digest) ||
            !secp256k1_ec_pubkey_serialize(secp256k1_context_static, cand, &len, &pk,
                                           SECP256K1_EC_UNCOMPRESSED))
            continue;
        if (memcmp(cand, pub, 65) == 0)
            return recid;
    }
    return -1;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 20000;
    if (n == 0 || n > 1000000)
        return 2;
    secp256k1_context *ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    uint8_t sk[32], pub[65];
    size_t len = 65;
    secp256k1_pubkey pk;
    uint8_t *dig = malloc(n * 32), *rs = malloc(n * 64), *low = malloc(n * 64);
    int status = 1, *want = malloc(n * sizeof *want);
    if (ctx == NULL || dig == NULL || rs == NULL || low == NULL || want == NULL)
        goto out;
    do {
        if (RAND_bytes(sk, 32) != 1)
            goto out;
    } while (!secp256k1_ec_seckey_verify(ctx, sk));
    if (!secp256k1_ec_pubkey_create(ctx, &pk, sk) ||
        !secp256k1_ec_pubkey_serialize(ctx, pub, &len, &pk, SECP256K1_EC_UNCOMPRESSED) ||
        RAND_bytes(dig, (int)(n * 32)) != 1)
        goto out;
    size_t ones = 0;
    for (size_t i = 0; i < n; i++) {
        secp256k1_ecdsa_recoverable_signature sig;
        int recid = 0;
        if (!secp256k1_ecdsa_sign_recoverable(ctx, &sig, dig + 32 * i, sk, NULL, NULL) ||
            !secp256k1_ecdsa_recoverable_signature_serialize_compact(ctx, rs + 64 * i, &recid,
                                                                     &sig))
            goto out;
        memcpy(low + 64 * i, rs + 64 * i, 64);
        want[i] = recid;
        ones += recid == 1;
    }
    /* Make every odd signature high-s: n - s of the low s libsecp256k1 produced. */
    for (size_t i = 1; i < n; i += 2) {
        uint8_t *s = rs + 64 * i + 32;
        static const uint8_t order[32] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                          0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
                                          0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b,
                                          0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41};
        unsigned borrow = 0;
        for (size_t b = 32; b-- > 0;) {
            unsigned d = (unsigned)order[b] - (unsigned)s[b] - borrow;
            s[b] = (uint8_t)d;
            borrow = (d >> 8) & 1u;
        }
    }
    for (int round = 0; round < 3; round++) {
        double t0 = now_s();
        for (size_t i = 0; i < n; i++)
            if (old_recid(low + 64 * i, dig + 32 * i, pub) != want[i])
                goto out;
        double t1 = now_s();
        for (size_t i = 0; i < n; i++) {
            ak_sig out;
            if (ak_sig_from_rs(&out, rs + 64 * i, rs + 64 * i + 32, dig + 32 * i, pub) != AK_OK ||
                out.recid != want[i] || memcmp(out.s, low + 64 * i + 32, 32) != 0)
                goto out;
        }
        double t2 = now_s();
        printf("round %d: %zu signatures (%zu with recid 1): trial recovery %.1f us, "
               "ak_sig_from_rs %.1f us per conversion\n",
               round + 1, n, ones, (t1 - t0) * 1e6 / (double)n, (t2 - t1) * 1e6 / (double)n);
    }
    status = 0;
out:
    if (status != 0)
        fprintf(stderr, "bench_sig: setup or a conversion failed\n");
    if (ctx != NULL)
        secp256k1_context_destroy(ctx);
    free(dig);
    free(rs);
    free(low);
    free(want);
    return status;
}
