/*
 * bench_paymaster.c - pm_getPaymasterData end to end against the raw HSM, in one run on one
 * SoftHSM2 token (issue 6 benchmark):
 *   1. raw C_SignInit + C_Sign (CKM_ECDSA) through bench_raw at T threads (default: online CPUs)
 *      and at 8 threads (the key server's default session count); the better is the baseline;
 *   2. pm_getPaymasterData end to end - client -> anode-connector (ERC-7677 paymaster, policy,
 *      VerifyingPaymaster getHash, EIP-191) -> (mTLS) anode-keyserver -> SoftHSM2 - at C
 *      concurrent keep-alive clients (default 16): sponsorships/s and the ratio to (1)
 *      (target >= 0.75), and at 1 client (p50 latency);
 *   3. CPU time per signature of the connector, the key server and the clients.
 * Phases run in R interleaved rounds and the best of each is kept (the machine is shared).
 *
 * The program makes its own token (deploy/softhsm-init.sh) and PKI (deploy/pki.sh) in a
 * temporary directory, starts the key server, then the connector once to learn the HSM address
 * (eth_accounts) and again with a "paymaster" section naming that address; every process is
 * stopped by PID on every exit path and the directory removed. The connector gets --chain-id
 * and an unreachable downstream (the pm_* methods need no node). Every answer must carry
 * paymasterData; each client's last answer is checked independently of the connector: the
 * window is decoded from paymasterData, getHash recomputed with ak_userop, and the signature
 * must recover to the HSM address.
 *
 * Usage: bench_paymaster [--seconds S] [--rounds R] [--clients C] [--raw-threads T]
 *                        [--keyserver PATH] [--connector PATH]
 * Exit: 0 when the run completed (the target is reported, not enforced), 1 on any failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ak_addr.h"
#include "ak_eip191.h"
#include "ak_hex.h"
#include "ak_sig.h"
#include "ak_userop.h"
#include "bench_load.h"
#include "bench_raw.h"

#define MODULE      "/usr/lib/softhsm/libsofthsm2.so"
#define TOKEN       "bench-pm"
#define KEY_LABEL   "k1"
#define PIN         "123456"
#define MAX_CLIENTS 64
#define REQ_MAX     2048
#define RESP_MAX    4096
#define PAYMASTER   "0x3333333333333333333333333333333333333333"
#define ENTRY_POINT "0x0000000071727De22E5E9d8BAf0edAc6f37da032"
#define SENDER      "0x1111111111111111111111111111111111111111"
/* The operation, with %s for the nonce: each request signs a different hash. */
#define USER_OP                                                                                    \
    "{\"sender\":\"" SENDER "\",\"nonce\":\"%s\",\"callData\":\"0xb61d27f60000000000000000000000"  \
    "000000000000000000000000000000000000000001\",\"callGasLimit\":\"0x186a0\","                   \
    "\"verificationGasLimit\":\"0x30d40\",\"preVerificationGas\":\"0xc350\","                      \
    "\"maxFeePerGas\":\"0x77359400\",\"maxPriorityFeePerGas\":\"0x3b9aca00\"}"

typedef struct {
    unsigned port;
    char addr[AK_ADDR_STR_SIZE];
    int fds[MAX_CLIENTS];
    uint32_t seq[MAX_CLIENTS];
    char last[MAX_CLIENTS][RESP_MAX]; /* last response body per client */
    char last_nonce[MAX_CLIENTS][24];
} load_ctx;

/* One keep-alive POST on client t's connection; its response body goes to lc->last[t]. */
static int http_post(load_ctx *lc, unsigned t, const char *body)
{
    return bl_http_post(&lc->fds[t], lc->port, body, lc->last[t], sizeof lc->last[t]);
}

/* pm_getPaymasterData for the operation with nonce (t << 32 | seq); 0 if it is a result. */
static int op_pm(void *c, unsigned t)
{
    load_ctx *lc = c;
    char body[REQ_MAX], op[1024];
    uint64_t nonce = ((uint64_t)(t + 1) << 32) | lc->seq[t];
    snprintf(lc->last_nonce[t], sizeof lc->last_nonce[t], "0x%llx", (unsigned long long)nonce);
    snprintf(op, sizeof op, USER_OP, lc->last_nonce[t]);
    snprintf(body, sizeof body,
             "{\"jsonrpc\":\"2.0\",\"id\":%u,\"method\":\"pm_getPaymasterData\",\"params\":[%s,"
             "\"" ENTRY_POINT "\",\"0x7a69\",{}]}",
             lc->seq[t], op);
    lc->seq[t]++;
    if (http_post(lc, t, body) != 0)
        return -1;
    return strstr(lc->last[t], "\"paymasterData\":\"0x") != NULL ? 0 : -1;
}

/* Client t's last answer: its signature over VerifyingPaymaster.getHash recovers to addr. */
static int check_last(const load_ctx *lc, unsigned t)
{
    char op_json[REQ_MAX], why[64];
    uint8_t data[AK_USEROP_VP_DATA_LEN], pm[20], h[32], digest[32], got[20], want[20];
    uint64_t until = 0, after = 0;
    const uint8_t *sig = NULL;
    size_t sig_len = 0;
    ak_userop op = {0};
    ak_sig s;
    int ok = 0;
    const char *d = strstr(lc->last[t], "\"paymasterData\":\"0x");
    snprintf(op_json, sizeof op_json, USER_OP, lc->last_nonce[t]);
    cJSON *j = cJSON_Parse(op_json);
    if (d != NULL && j != NULL && ak_userop_from_json(&op, j, why, sizeof why) == AK_OK &&
        ak_hex_decode_exact(data, sizeof data, d + 17, 2 + 2 * sizeof data) == AK_OK &&
        ak_userop_vp_data_parse(&until, &after, &sig, &sig_len, data, sizeof data) == AK_OK &&
        sig_len == 65 && ak_addr_parse(pm, PAYMASTER, 42) == AK_OK) {
        /* The connector used its configured paymaster gas limits (100000 / 0). */
        ak_u256_from_u64(&op.paymaster_verification_gas_limit, 100000);
        ok = ak_userop_vp_hash(h, &op, 31337, pm, until, after) == AK_OK;
        ak_eip191_hash(digest, h, 32);
        ok = ok && ak_sig_from_rsv(&s, sig) == AK_OK &&
             ak_sig_recover_address(got, &s, digest) == AK_OK &&
             ak_addr_parse(want, lc->addr, strlen(lc->addr)) == AK_OK && memcmp(got, want, 20) == 0;
    }
    ak_userop_clear(&op);
    cJSON_Delete(j);
    return ok ? 0 : -1;
}

typedef struct {
    double seconds;
    unsigned rounds, clients, raw_threads;
    const char *keyserver, *connector;
} options;

static int parse_args(options *o, int argc, char **argv)
{
    for (int i = 1; i < argc; i += 2) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL)
            return -1;
        if (strcmp(k, "--seconds") == 0)
            o->seconds = atof(v);
        else if (strcmp(k, "--rounds") == 0)
            o->rounds = (unsigned)atoi(v);
        else if (strcmp(k, "--clients") == 0)
            o->clients = (unsigned)atoi(v);
        else if (strcmp(k, "--raw-threads") == 0)
            o->raw_threads = (unsigned)atoi(v);
        else if (strcmp(k, "--keyserver") == 0)
            o->keyserver = v;
        else if (strcmp(k, "--connector") == 0)
            o->connector = v;
        else
            return -1;
    }
    return o->seconds > 0 && o->rounds >= 1 && o->clients >= 1 && o->clients <= MAX_CLIENTS &&
                   o->raw_threads >= 1 && o->raw_threads <= BENCH_MAX_THREADS
               ? 0
               : -1;
}

/* check_last for bl_run_best: says which client's answer failed. */
static int check_client(void *c, unsigned t)
{
    const load_ctx *lc = c;
    if (check_last(lc, t) == 0)
        return 0;
    fprintf(stderr, "bench_paymaster: client %u: answer does not verify: %s\n", t, lc->last[t]);
    return -1;
}

/* Start the connector with config text; waits until eth_accounts answers. */
static pid_t start_connector(load_ctx *lc, const options *o, const char *dir, const char *text,
                             const char *tag)
{
    char cfg[1100], log[1100], port_s[16];
    snprintf(cfg, sizeof cfg, "%s/connector-%s.json", dir, tag);
    snprintf(log, sizeof log, "%s/connector-%s.log", dir, tag);
    if (bl_write_file(cfg, text) != 0 || (lc->port = bl_free_port()) == 0)
        return -1;
    snprintf(port_s, sizeof port_s, "%u", lc->port);
    char *argv[] = {(char *)o->connector,
                    "--config",
                    cfg,
                    "--http-port",
                    port_s,
                    "--chain-id",
                    "31337",
                    "--downstream-url",
                    "http://127.0.0.1:9/",
                    "--log-level",
                    "error",
                    NULL};
    pid_t pid = bl_spawn_logged(argv, log);
    for (int i = 0;
         pid > 0 && i < 200 &&
         http_post(lc, 0, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_accounts\"}") != 0;
         i++)
        usleep(50000);
    if (pid > 0 && strstr(lc->last[0], "[\"0x") == NULL) {
        fprintf(stderr, "bench_paymaster: anode-connector did not start (%s)\n", log);
        bl_stop(pid);
        return -1;
    }
    return pid;
}

int main(int argc, char **argv)
{
    options o = {.seconds = 5,
                 .rounds = 2,
                 .clients = 16,
                 .raw_threads = (unsigned)sysconf(_SC_NPROCESSORS_ONLN),
                 .keyserver = KS_SERVER_DEFAULT,
                 .connector = CN_CONNECTOR_DEFAULT};
    if (parse_args(&o, argc, argv) != 0) {
        fprintf(stderr, "usage: bench_paymaster [--seconds S] [--rounds R] [--clients C] "
                        "[--raw-threads T] [--keyserver PATH] [--connector PATH]\n");
        return 1;
    }
    int status = 1;
    pid_t ks = -1, cn = -1;
    char dir[] = "/tmp/ak-bench-pm-XXXXXX", cmd[4096], path[1024], ks_log[1100], text[4096],
         msg[256] = "", signer[2048];
    static load_ctx lc;
    bench_result raw = {0}, e16 = {0}, e1 = {0}, b;
    bl_cpu_split cpu = {0};
    double raw_cpu = 0;
    for (unsigned t = 0; t < MAX_CLIENTS; t++)
        lc.fds[t] = -1;
    if (mkdtemp(dir) == NULL)
        return 1;

    snprintf(cmd, sizeof cmd,
             "sh %s/deploy/softhsm-init.sh %s/hsm " TOKEN " " PIN " 654321 " KEY_LABEL
             " 01 >/dev/null && bash %s/deploy/pki.sh %s/pki connector >/dev/null && "
             "umask 077 && printf " PIN " > %s/pin",
             AK_SOURCE_DIR_DEFAULT, dir, AK_SOURCE_DIR_DEFAULT, dir, dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "bench_paymaster: token/PKI set-up failed\n");
        goto out;
    }
    snprintf(path, sizeof path, "%s/hsm/softhsm2.conf", dir);
    setenv("SOFTHSM2_CONF", path, 1);
    snprintf(text, sizeof text,
             "{\"listen\":{\"address\":\"127.0.0.1\",\"port\":0},"
             "\"tls\":{\"cert\":\"%s/pki/server.crt\",\"key\":\"%s/pki/server.key\","
             "\"client_ca\":\"%s/pki/ca.crt\"},"
             "\"pkcs11\":{\"module\":\"" MODULE "\",\"token_label\":\"" TOKEN "\","
             "\"pin_file\":\"%s/pin\"},"
             "\"keys\":{\"k1\":\"pkcs11:token=" TOKEN ";object=" KEY_LABEL "\"},"
             "\"clients\":{\"cn:connector\":\"*\"},"
             "\"audit\":{\"file\":\"%s/audit.log\",\"fsync\":\"always\"}}\n",
             dir, dir, dir, dir, dir);
    snprintf(path, sizeof path, "%s/ks.json", dir);
    snprintf(ks_log, sizeof ks_log, "%s/keyserver.log", dir);
    if (bl_write_file(path, text) != 0)
        goto out;
    char *ks_argv[] = {(char *)o.keyserver, "--config", path, NULL};
    unsigned ks_port = 0;
    if ((ks = bl_spawn_logged(ks_argv, ks_log)) < 0 || (ks_port = bl_wait_port(ks_log)) == 0) {
        fprintf(stderr, "bench_paymaster: anode-keyserver did not start (%s)\n", ks_log);
        goto out;
    }

    /* First start: learn the HSM address; second: the paymaster trusting that address. */
    snprintf(signer, sizeof signer,
             "{\"signer\":{\"type\":\"keyless\",\"name\":\"bench\","
             "\"urls\":[\"https://127.0.0.1:%u\"],\"key_id\":\"k1\","
             "\"client_cert\":\"%s/pki/connector.crt\",\"client_key\":\"%s/pki/"
             "connector.key\",\"ca\":\"%s/pki/ca.crt\"}}",
             ks_port, dir, dir, dir);
    snprintf(text, sizeof text, "{\"accounts\":[%s]}\n", signer);
    if ((cn = start_connector(&lc, &o, dir, text, "probe")) < 0)
        goto out;
    memcpy(lc.addr, strstr(lc.last[0], "[\"0x") + 2, 42);
    lc.addr[42] = '\0';
    bl_stop(cn);
    close(lc.fds[0]);
    lc.fds[0] = -1;
    snprintf(text, sizeof text,
             "{\"accounts\":[%s],\"paymaster\":{\"account\":\"%s\",\"address\":\"" PAYMASTER
             "\",\"entry_points\":[\"" ENTRY_POINT "\"],\"allowed_senders\":\"*\","
             "\"verification_gas_limit\":100000,\"post_op_gas_limit\":0}}\n",
             signer, lc.addr);
    if ((cn = start_connector(&lc, &o, dir, text, "pm")) < 0)
        goto out;
    for (unsigned t = 0; t < o.clients; t++)
        if (op_pm(&lc, t) != 0 || check_last(&lc, t) != 0) {
            fprintf(stderr, "bench_paymaster: warm-up pm_getPaymasterData failed: %s\n",
                    lc.last[t]);
            goto out;
        }

    for (unsigned r = 0; r < o.rounds; r++) {
        unsigned tt[2] = {o.raw_threads, 8};
        for (unsigned k = 0; k < (tt[0] == tt[1] ? 1u : 2u); k++) {
            double c0 = bl_cpu_seconds(0);
            if (bench_raw_sign(&b, MODULE, TOKEN, PIN, KEY_LABEL, tt[k], o.seconds, msg,
                               sizeof msg) != AK_OK) {
                fprintf(stderr, "bench_paymaster: raw C_Sign: %s\n", msg);
                goto out;
            }
            if (b.per_sec > raw.per_sec) {
                raw = b;
                raw_cpu = (bl_cpu_seconds(0) - c0) / (double)b.ops;
            }
        }
        if (bl_run_best(&e16, &cpu, o.clients, o.seconds, op_pm, check_client, &lc, cn, ks) != 0)
            goto out;
        bench_result one = {0};
        if (bl_run_best(&one, NULL, 1, o.seconds / 2, op_pm, check_client, &lc, cn, ks) != 0)
            goto out;
        if (e1.ops == 0 || one.p50_us < e1.p50_us)
            e1 = one;
        printf("round %u: raw(best T=%u) %.0f/s  pm_getPaymasterData(C=%u) %.0f/s  (C=1) p50 "
               "%.0f us\n",
               r + 1, raw.threads, raw.per_sec, o.clients, e16.per_sec, one.p50_us);
        fflush(stdout);
    }
    double ratio = e16.per_sec / raw.per_sec;
    printf("\npm_getPaymasterData end to end (keyless signer, SoftHSM2 secp256k1, %ld online "
           "CPUs, best of %u rounds, %.0f s per phase)\n",
           sysconf(_SC_NPROCESSORS_ONLN), o.rounds, o.seconds);
    printf("raw C_Sign, %2u threads:                   %7.0f sig/s  p50 %6.0f us  p99 %6.0f us\n",
           raw.threads, raw.per_sec, raw.p50_us, raw.p99_us);
    printf("pm_getPaymasterData, %2u clients:          %7.0f op/s   p50 %6.0f us  p99 %6.0f us  "
           "errors %llu\n",
           o.clients, e16.per_sec, e16.p50_us, e16.p99_us, (unsigned long long)e16.errors);
    printf("pm_getPaymasterData,  1 client:           %7.0f op/s   p50 %6.0f us  p99 %6.0f us  "
           "errors %llu\n",
           e1.per_sec, e1.p50_us, e1.p99_us, (unsigned long long)e1.errors);
    printf("ratio pm_getPaymasterData / raw C_Sign:    %.2f   (target >= 0.75: %s)\n", ratio,
           ratio >= 0.75 ? "met" : "NOT met");
    printf("CPU per signature: raw C_Sign %.0f us; end to end: connector %.0f us + key server "
           "%.0f us + clients %.0f us\n",
           raw_cpu * 1e6, cpu.cn * 1e6, cpu.ks * 1e6, cpu.cli * 1e6);
    printf("peak RSS (VmHWM): connector %ld kB\n", bl_vm_kb(cn, "VmHWM:"));
    status = e16.errors == 0 && e1.errors == 0 ? 0 : 1;
out:
    for (unsigned t = 0; t < MAX_CLIENTS; t++)
        if (lc.fds[t] >= 0)
            close(lc.fds[t]);
    bl_stop(cn);
    bl_stop(ks);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_paymaster: could not remove %s\n", dir);
    return status;
}
