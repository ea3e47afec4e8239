/*
 * bench_raw.h - throughput and latency measurement helpers shared by the benchmarks.
 *
 * bench_run_threads() runs an operation from T threads for D seconds and reports operations/s
 * and p50/p99 latency (histogram: 1 us resolution below 10 ms, 100 us up to 1 s). bench_raw_sign()
 * uses it for the baseline every other path is compared with: C_SignInit + C_Sign (CKM_ECDSA) over
 * a 32-byte digest, one PKCS#11 session per thread, nothing else.
 *
 * The module is loaded through p11_module (reference counted, C_Finalize only by the last user),
 * so bench_raw_sign() may run while a p11_token on the same module is open in the process.
 * Nothing returned needs freeing.
 */
#ifndef BENCH_RAW_H
#define BENCH_RAW_H

#include <stddef.h>
#include <stdint.h>

#include "ak_err.h"

#define BENCH_MAX_THREADS 256

typedef struct {
    unsigned threads;
    double seconds;  /* measured wall time */
    uint64_t ops;    /* successful operations */
    uint64_t errors; /* failed operations (not counted in ops) */
    double per_sec;  /* ops / seconds */
    double p50_us;
    double p99_us;
} bench_result;

/*
 * op(ctx, thread_index) performs one operation and returns 0 on success. Every thread calls
 * it in a loop until `seconds` have passed. AK_ERR_ARG for 0 or > BENCH_MAX_THREADS threads.
 */
AK_WUR ak_err bench_run_threads(bench_result *out, unsigned threads, double seconds,
                                int (*op)(void *ctx, unsigned thread), void *ctx);

/*
 * Raw C_Sign baseline on the key labelled key_label (a secp256k1 private key) of the token
 * labelled token_label. err_msg gets a secret-free reason on failure.
 */
AK_WUR ak_err bench_raw_sign(bench_result *out, const char *module_path, const char *token_label,
                             const char *pin, const char *key_label, unsigned threads,
                             double seconds, char *err_msg, size_t err_cap);

#endif
