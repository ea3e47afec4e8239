/*
 * p11_test_util.h - helpers for the PKCS#11 integration tests: a private SoftHSM2 token per test
 * (deploy/softhsm-init.sh under a fresh temp dir, SOFTHSM2_CONF set for this process), and
 * verification of a DER signature with libsecp256k1 (after low-s normalisation).
 */
#ifndef P11_TEST_UTIL_H
#define P11_TEST_UTIL_H

#include <secp256k1.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define P11_TEST_SOFTHSM "/usr/lib/softhsm/libsofthsm2.so"
#define P11_TEST_PIN     "1234"
#define P11_TEST_SO_PIN  "5678"

/* Creates DIR/softhsm2.conf with token `label` holding secp256k1 key "k1" (id 01). */
static inline int p11_test_make_token(char dir[64], const char *label)
{
    char cmd[512];
    const char *src = getenv("AK_SOURCE_DIR");
    snprintf(dir, 64, "/tmp/ak-p11-test-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(cmd, sizeof(cmd), "%s/deploy/softhsm-init.sh %s %s %s %s k1 01 >/dev/null",
             src != NULL ? src : AK_SOURCE_DIR_DEFAULT, dir, label, P11_TEST_PIN, P11_TEST_SO_PIN);
    if (system(cmd) != 0)
        return -1;
    snprintf(cmd, sizeof(cmd), "%s/softhsm2.conf", dir);
    return setenv("SOFTHSM2_CONF", cmd, 1);
}

static inline void p11_test_remove_dir(const char *dir)
{
    char cmd[128];
    if (strncmp(dir, "/tmp/ak-p11-test-", 17) != 0)
        return;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

/* 1 if der is a valid signature over digest by pub65 per libsecp256k1 (normalising s first). */
static inline int p11_test_verify(const unsigned char *der, size_t der_len,
                                  const unsigned char digest[32], const unsigned char pub65[65])
{
    secp256k1_ecdsa_signature sig;
    secp256k1_pubkey pk;
    if (!secp256k1_ecdsa_signature_parse_der(secp256k1_context_static, &sig, der, der_len))
        return 0;
    secp256k1_ecdsa_signature_normalize(secp256k1_context_static, &sig, &sig);
    if (!secp256k1_ec_pubkey_parse(secp256k1_context_static, &pk, pub65, 65))
        return 0;
    return secp256k1_ecdsa_verify(secp256k1_context_static, &sig, digest, &pk);
}

/* Tell p11_fault_module what to inject: one numbered command per write of the control file. */
static inline void p11_test_fault(const char *ctl, unsigned long *seq, const char *cmd)
{
    FILE *f = fopen(ctl, "w");
    if (f == NULL) {
        perror("control file");
        exit(1);
    }
    fprintf(f, "%lu %s\n", ++*seq, cmd);
    fclose(f);
}

static inline double p11_test_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

#endif
