/*
 * bench_p11_paths.c - the measurement behind "raw PKCS#11, not libp11" (pkcs11/p11_token.c).
 *
 * On one SoftHSM token, in one run, signs 32-byte digests with the same secp256k1 key through:
 *   raw    C_SignInit + C_Sign (CKM_ECDSA), one session per thread (bench_raw_sign)
 *   pool   p11_token_sign: our session pool, worker hand-over, deadline, DER encoding
 *   inline p11_token_sign with p11_token_set_inline(1): the pool without the worker hand-over
 *   engine the libp11 engine (ENGINE_by_id("pkcs11"), MODULE_PATH set), EVP_PKEY_sign -> DER
 * with 1 and 2 threads each, and prints signatures/s, p50/p99 latency and the ratio to raw.
 *
 * Usage: bench_p11_paths [--seconds D] [--rounds R]             (makes a private SoftHSM token)
 *        bench_p11_paths --module M --token-label T --key-label K --pin-env VAR [--seconds D]
 * Each configuration runs R times (default 3), interleaved; the median round is printed.
 */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <openssl/engine.h>
#include <openssl/evp.h>
#include <secp256k1.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ak_sig.h"
#include "bench_raw.h"
#include "p11_token.h"

#define SOFTHSM_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#define MAX_ROUNDS     15

/* The round with the median signatures/s of r[0..n)[th]. */
static bench_result median(bench_result r[][2], unsigned n, unsigned th)
{
    bench_result v[MAX_ROUNDS], tmp;
    for (unsigned i = 0; i < n; i++)
        v[i] = r[i][th];
    for (unsigned i = 1; i < n; i++)
        for (unsigned j = i; j > 0 && v[j - 1].per_sec > v[j].per_sec; j--) {
            tmp = v[j];
            v[j] = v[j - 1];
            v[j - 1] = tmp;
        }
    return v[n / 2];
}

typedef struct {
    p11_token *t;
    p11_key *k;
} pool_ctx;

static int pool_op(void *p, unsigned thread)
{
    pool_ctx *c = p;
    uint8_t d[32], der[AK_DER_SIG_MAX];
    size_t n = 0;
    memset(d, 0x24, sizeof(d));
    d[0] = (uint8_t)thread;
    return p11_token_sign(c->t, c->k, d, der, sizeof(der), &n) == AK_OK ? 0 : -1;
}

typedef struct {
    EVP_PKEY_CTX *ctx[BENCH_MAX_THREADS];
} engine_ctx;

static int engine_op(void *p, unsigned thread)
{
    engine_ctx *c = p;
    unsigned char d[32], sig[80];
    size_t len = sizeof(sig);
    memset(d, 0x35, sizeof(d));
    d[0] = (unsigned char)thread;
    return EVP_PKEY_sign(c->ctx[thread], sig, &len, d, sizeof(d)) == 1 ? 0 : -1;
}

static void print_row(const char *path, const bench_result *r, const bench_result *raw)
{
    printf("%-7s %7u %12.0f %10.0f %10.0f %9.3f %8llu\n", path, r->threads, r->per_sec, r->p50_us,
           r->p99_us, raw->per_sec > 0 ? r->per_sec / raw->per_sec : 0.0,
           (unsigned long long)r->errors);
}

static int verify_der(const unsigned char *der, size_t len, const unsigned char d[32],
                      const uint8_t pub[65])
{
    secp256k1_ecdsa_signature s;
    secp256k1_pubkey pk;
    if (!secp256k1_ecdsa_signature_parse_der(secp256k1_context_static, &s, der, len) ||
        !secp256k1_ec_pubkey_parse(secp256k1_context_static, &pk, pub, 65))
        return 0;
    secp256k1_ecdsa_signature_normalize(secp256k1_context_static, &s, &s);
    return secp256k1_ecdsa_verify(secp256k1_context_static, &s, d, &pk);
}

/* libp11 engine path for `threads` threads; checks one signature against pub first. */
static int run_engine(bench_result *r, const char *module, const char *token, const char *key,
                      const char *pin, const uint8_t pub[65], unsigned threads, double secs)
{
    ENGINE *e = ENGINE_by_id("pkcs11");
    EVP_PKEY *pk = NULL;
    engine_ctx c;
    char uri[256];
    int ok = 0;
    memset(&c, 0, sizeof(c));
    if (e == NULL) {
        fprintf(stderr, "engine: ENGINE_by_id(\"pkcs11\") failed (libengine-pkcs11-openssl?)\n");
        return 0;
    }
    if (!ENGINE_ctrl_cmd_string(e, "MODULE_PATH", module, 0) ||
        !ENGINE_ctrl_cmd_string(e, "PIN", pin, 0) || !ENGINE_init(e)) {
        fprintf(stderr, "engine: configuration/init failed\n");
        ENGINE_free(e);
        return 0;
    }
    snprintf(uri, sizeof(uri), "pkcs11:token=%s;object=%s;type=private", token, key);
    pk = ENGINE_load_private_key(e, uri, NULL, NULL);
    if (pk == NULL) {
        fprintf(stderr, "engine: cannot load %s\n", uri);
        goto out;
    }
    for (unsigned i = 0; i < threads; i++) {
        c.ctx[i] = EVP_PKEY_CTX_new(pk, NULL);
        if (c.ctx[i] == NULL || EVP_PKEY_sign_init(c.ctx[i]) != 1) {
            fprintf(stderr, "engine: EVP_PKEY_sign_init failed\n");
            goto out;
        }
    }
    {
        unsigned char d[32], sig[80];
        size_t len = sizeof(sig);
        memset(d, 0x35, sizeof(d));
        d[0] = 0;
        if (EVP_PKEY_sign(c.ctx[0], sig, &len, d, sizeof(d)) != 1 ||
            !verify_der(sig, len, d, pub)) {
            fprintf(stderr, "engine: test signature does not verify\n");
            goto out;
        }
    }
    ok = bench_run_threads(r, threads, secs, engine_op, &c) == AK_OK;
out:
    for (unsigned i = 0; i < threads; i++)
        EVP_PKEY_CTX_free(c.ctx[i]);
    EVP_PKEY_free(pk);
    ENGINE_finish(e);
    ENGINE_free(e);
    return ok;
}

int main(int argc, char **argv)
{
    const char *module = SOFTHSM_MODULE, *token = "bench", *key = "k1", *pin = "1234";
    const char *pin_env = NULL;
    double secs = 3.0;
    char dir[64] = "", msg[256];
    static bench_result raw_r[MAX_ROUNDS][2], pool_r[MAX_ROUNDS][2], pinl_r[MAX_ROUNDS][2],
        eng_r[MAX_ROUNDS][2];
    bench_result raw[2], pool[2], pinl[2], eng[2];
    unsigned rounds = 3;
    int own_token = 1, rc = 1;
    p11_token *t = NULL;
    p11_key *k = NULL;
    uint8_t pub[65];

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            secs = atof(argv[++i]);
        } else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
            rounds = (unsigned)atoi(argv[++i]);
        } else if (strcmp(argv[i], "--module") == 0 && i + 1 < argc) {
            module = argv[++i];
            own_token = 0;
        } else if (strcmp(argv[i], "--token-label") == 0 && i + 1 < argc) {
            token = argv[++i];
        } else if (strcmp(argv[i], "--key-label") == 0 && i + 1 < argc) {
            key = argv[++i];
        } else if (strcmp(argv[i], "--pin-env") == 0 && i + 1 < argc) {
            pin_env = argv[++i];
        } else {
            fprintf(
                stderr,
                "usage: %s [--seconds D] [--rounds R] [--module M --token-label T --key-label K "
                "--pin-env VAR]\n",
                argv[0]);
            return 2;
        }
    }
    if (secs <= 0 || secs > 600 || rounds == 0 || rounds > MAX_ROUNDS) {
        fprintf(stderr, "--seconds must be in (0, 600], --rounds in 1..%d\n", MAX_ROUNDS);
        return 2;
    }
    if (!own_token) {
        pin = pin_env != NULL ? getenv(pin_env) : NULL;
        if (pin == NULL) {
            fprintf(stderr, "--module needs --pin-env VAR with the PIN in VAR\n");
            return 2;
        }
    } else {
        char cmd[512];
        snprintf(dir, sizeof(dir), "/tmp/ak-bench-p11-XXXXXX");
        if (mkdtemp(dir) == NULL)
            return 1;
        snprintf(cmd, sizeof(cmd), "%s/deploy/softhsm-init.sh %s %s %s 5678 %s 01 >/dev/null",
                 AK_SOURCE_DIR_DEFAULT, dir, token, pin, key);
        if (system(cmd) != 0) {
            fprintf(stderr, "cannot create the SoftHSM token\n");
            return 1;
        }
        snprintf(cmd, sizeof(cmd), "%s/softhsm2.conf", dir);
        setenv("SOFTHSM2_CONF", cmd, 1);
    }

    printf("bench_p11_paths: %s, token '%s', key '%s', %.1f s per run, median of %u rounds, %ld "
           "CPUs online\n",
           module, token, key, secs, rounds, sysconf(_SC_NPROCESSORS_ONLN));
    /* interleaved (raw, pool, inline, engine for 1 thread, then for 2), `rounds` times; the
     * median round of each is reported, so background load on a shared machine affects the
     * paths alike */
    for (unsigned rd = 0; rd < rounds; rd++)
        for (unsigned th = 1; th <= 2; th++) {
            p11_token_config c = {0};
            p11_uri u;
            pool_ctx pc;
            char uri[128];
            if (bench_raw_sign(&raw_r[rd][th - 1], module, token, pin, key, th, secs, msg,
                               sizeof(msg)) != AK_OK) {
                fprintf(stderr, "raw: %s\n", msg);
                goto out;
            }
            c.module_path = module;
            c.token_label = token;
            c.pin = pin;
            c.pin_len = strlen(pin);
            c.max_sessions = 4;
            snprintf(uri, sizeof(uri), "pkcs11:object=%s", key);
            if (p11_token_open(&t, &c, msg, sizeof(msg)) != AK_OK ||
                p11_uri_parse(&u, uri, strlen(uri), msg, sizeof(msg)) != AK_OK ||
                p11_token_find_key(t, &k, &u, msg, sizeof(msg)) != AK_OK) {
                fprintf(stderr, "pool: %s\n", msg);
                goto out;
            }
            pc.t = t;
            pc.k = k;
            if (bench_run_threads(&pool_r[rd][th - 1], th, secs, pool_op, &pc) != AK_OK)
                goto out;
            p11_token_set_inline(t, 1);
            if (bench_run_threads(&pinl_r[rd][th - 1], th, secs, pool_op, &pc) != AK_OK)
                goto out;
            /* close our token first: libp11 initialises and finalises the module on its own */
            memcpy(pub, p11_key_pubkey(k), sizeof(pub));
            p11_token_close(t);
            t = NULL;
            if (!run_engine(&eng_r[rd][th - 1], module, token, key, pin, pub, th, secs))
                goto out;
        }
    for (unsigned th = 0; th < 2; th++) {
        raw[th] = median(raw_r, rounds, th);
        pool[th] = median(pool_r, rounds, th);
        pinl[th] = median(pinl_r, rounds, th);
        eng[th] = median(eng_r, rounds, th);
    }
    printf("%-7s %7s %12s %10s %10s %9s %8s\n", "path", "threads", "signatures/s", "p50_us",
           "p99_us", "vs_raw", "errors");
    for (unsigned th = 0; th < 2; th++) {
        print_row("raw", &raw[th], &raw[th]);
        print_row("pool", &pool[th], &raw[th]);
        print_row("inline", &pinl[th], &raw[th]);
        print_row("engine", &eng[th], &raw[th]);
    }
    {
        FILE *la = fopen("/proc/loadavg", "r");
        char line[64] = "?";
        if (la != NULL) {
            if (fgets(line, sizeof(line), la) == NULL)
                snprintf(line, sizeof(line), "?\n");
            fclose(la);
        }
        printf("load average at the end (other work on this machine skews results): %s", line);
    }
    printf("scaling 1->2 threads: raw %.2fx, pool %.2fx, inline %.2fx, engine %.2fx\n",
           raw[1].per_sec / raw[0].per_sec, pool[1].per_sec / pool[0].per_sec,
           pinl[1].per_sec / pinl[0].per_sec, eng[1].per_sec / eng[0].per_sec);
    rc = 0;
out:
    p11_token_close(t);
    if (own_token && dir[0] != '\0') {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
    return rc;
}
