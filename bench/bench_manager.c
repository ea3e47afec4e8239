/*
 * bench_manager.c - the cost of the signer manager itself (issue 5: target < 5%): the local
 * signer (libsecp256k1) called through cn_signer_sign_eth() directly, and the same key behind
 * a cn_signer_manager (primary + one backup, never used), in one run.
 *
 * The two variants alternate (ABBA) in rounds of --round seconds (default 0.2) for --seconds
 * in total each (default 4), so drift in CPU frequency or load hits both alike; 1 and 2
 * threads. Prints ops/s, p50/p99 latency and the ratio manager/direct: the median of the
 * per-round throughput ratios (robust to a noisy neighbour on a shared machine) and of p50.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "ak_secmem.h"
#include "bench_raw.h"
#include "cn_log.h"
#include "cn_signer_local.h"
#include "cn_signer_manager.h"

#define BENCH_MAX_ROUNDS 1000

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double thread_cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int op_sign(void *ctx, unsigned thread)
{
    cn_signer *s = ctx;
    uint8_t d[32];
    ak_sig sig;
    memset(d, (int)thread, sizeof d);
    if (getrandom(d, 8, 0) != 8)
        return -1;
    return cn_signer_sign_eth(s, &sig, d, NULL) == AK_OK ? 0 : -1;
}

int main(int argc, char **argv)
{
    double seconds = 4, round = 0.2;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--seconds") == 0)
            seconds = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--round") == 0)
            round = atof(argv[i + 1]);
    }
    if (seconds <= 0 || round <= 0 || round > seconds) {
        fprintf(stderr, "usage: %s [--seconds S] [--round R]\n", argv[0]);
        return 2;
    }
    cn_log_setup(CN_LOG_ERROR, 0);
    char err[256] = "";
    uint8_t *key = ak_secure_alloc(32);
    cn_signer *direct = NULL, *members[2] = {NULL, NULL}, *mgr = NULL;
    int status = 1;
    if (key == NULL || getrandom(key, 32, 0) != 32)
        goto out;
    key[0] = 0x01; /* below the group order whatever the rest */
    if (cn_local_signer_from_key(&direct, key, "direct", err, sizeof err) != AK_OK ||
        cn_local_signer_from_key(&members[0], key, "primary", err, sizeof err) != AK_OK ||
        cn_local_signer_from_key(&members[1], key, "backup", err, sizeof err) != AK_OK) {
        fprintf(stderr, "local signer: %s\n", err);
        goto out;
    }
    if (cn_signer_manager_wrap(&mgr, members, 2, "bench", NULL, err, sizeof err) != AK_OK) {
        fprintf(stderr, "manager: %s\n", err);
        goto out;
    }
    printf("bench_manager: local signer direct vs behind cn_signer_manager, %.1f s each, "
           "alternating rounds of %.2f s\n",
           seconds, round);
    /* CPU time per signature on this thread: what the manager adds, immune to other processes
     * taking the cores (wall-clock throughput on a shared 2-core machine is noisy). */
    {
        double cpu_ratio[BENCH_MAX_ROUNDS], cpu[2] = {0, 0};
        const int blocks = 40, per = 1000;
        for (int r = 0; r < blocks; r++) {
            double us[2];
            for (int v = 0; v < 2; v++) {
                int which = (r % 2) ? 1 - v : v;
                double t0 = thread_cpu_us();
                for (int i = 0; i < per; i++)
                    if (op_sign(which ? mgr : direct, 0) != 0)
                        goto out;
                us[which] = (thread_cpu_us() - t0) / per;
                cpu[which] += us[which] / blocks;
            }
            cpu_ratio[r] = us[1] / us[0];
        }
        qsort(cpu_ratio, (size_t)blocks, sizeof cpu_ratio[0], cmp_double);
        printf("  CPU per signature: direct %.2f us, manager %.2f us; ratio manager/direct %.3f "
               "(median of %d paired blocks of %d; cost %.1f%%)\n",
               cpu[0], cpu[1], cpu_ratio[blocks / 2], blocks, per,
               (cpu_ratio[blocks / 2] - 1) * 100);
    }
    for (unsigned threads = 1; threads <= 2; threads++) {
        double ops[2] = {0, 0}, t[2] = {0, 0}, p50[2] = {0, 0}, p99[2] = {0, 0};
        double ratio[BENCH_MAX_ROUNDS];
        unsigned long long errors = 0;
        int rounds = (int)(seconds / round + 0.5);
        if (rounds > BENCH_MAX_ROUNDS)
            rounds = BENCH_MAX_ROUNDS;
        for (int r = 0; r < rounds; r++) {
            double rate[2] = {0, 0};
            for (int v = 0; v < 2; v++) {
                int which = (r % 2) ? 1 - v : v; /* ABBA order */
                bench_result br;
                if (bench_run_threads(&br, threads, round, op_sign, which ? mgr : direct) != AK_OK)
                    goto out;
                ops[which] += (double)br.ops;
                t[which] += br.seconds;
                p50[which] += br.p50_us / rounds;
                p99[which] += br.p99_us / rounds;
                rate[which] = br.per_sec;
                errors += br.errors;
            }
            ratio[r] = rate[1] / rate[0];
        }
        qsort(ratio, (size_t)rounds, sizeof ratio[0], cmp_double);
        double med = ratio[rounds / 2];
        printf("  threads=%u direct:  %8.0f sig/s  p50 %6.1f us  p99 %6.1f us\n", threads,
               ops[0] / t[0], p50[0], p99[0]);
        printf("  threads=%u manager: %8.0f sig/s  p50 %6.1f us  p99 %6.1f us\n", threads,
               ops[1] / t[1], p50[1], p99[1]);
        printf("  threads=%u ratio manager/direct: throughput %.3f (median of %d paired rounds; "
               "cost %.1f%%), p50 latency %.3f (cost %.1f%%), errors %llu\n",
               threads, med, rounds, (1 - med) * 100, p50[1] / p50[0], (p50[1] / p50[0] - 1) * 100,
               errors);
        if (errors != 0)
            goto out;
    }
    status = 0;
out:
    cn_signer_free(mgr);
    cn_signer_free(members[0]);
    cn_signer_free(members[1]);
    cn_signer_free(direct);
    if (key != NULL)
        ak_secure_free(key, 32);
    return status;
}
