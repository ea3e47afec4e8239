/*
 * bench_e2e.c - the whole signing path against the raw HSM, in one run on one SoftHSM2 token
 * (issue 4 benchmarks, keyless signer):
 *   1. raw C_SignInit + C_Sign (CKM_ECDSA) through bench_raw: throughput at T threads (default
 *      T = online CPUs) and at the key server's session count (default 8), the better being the
 *      baseline, and p50 latency at 1 thread;
 *   2. eth_sign end to end - client -> anode-connector -> (mTLS) anode-keyserver -> SoftHSM2 - at
 *      C concurrent keep-alive clients (default 16): signatures/s and the ratio to (1);
 *   3. eth_sign end to end at 1 client: p50 latency, and p50 minus the raw C_Sign p50; and, to
 *      split that added latency, POST /sign straight to the key server at 1 client (libcurl,
 *      mTLS keep-alive, as the connector's keyless signer does);
 *   4. peak resident memory (VmHWM) of the connector and the key server after the load;
 *   5. CPU time per signature of each process, to explain a missed ratio (on a machine with P
 *      cores the end-to-end rate can be at most P / (CPU seconds per signature of all processes)).
 * Phases run in R interleaved rounds and the best of each is kept (the machine is shared:
 * interference only ever slows a phase down).
 *
 * The program creates its own token (deploy/softhsm-init.sh) and PKI (deploy/pki.sh) in a
 * temporary directory, starts both daemons (posix_spawn, stopped by PID with SIGTERM on every
 * exit path) and removes the directory. The connector gets --chain-id and an unreachable
 * downstream: eth_sign needs no node. Clients are minimal HTTP/1.1 keep-alive socket clients
 * (one thread each) so that the load generator costs little of the shared cores; every answer is
 * checked to carry a result, and one signature per client is checked to recover to the address.
 *
 * Usage: bench_e2e [--seconds S] [--rounds R] [--clients C] [--raw-threads T]
 *                  [--ks-threads N] [--ks-sessions M] [--ks-bounded 0|1] [--cn-threads K] [--fsync
 * always|MS]
 *                  [--keyserver PATH] [--connector PATH]
 * --ks-threads/--ks-sessions/--cn-threads 0 (the default) keep the daemons' own defaults.
 * Exit: 0 when the run completed (targets are reported, not enforced), 1 on any failure.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ak_addr.h"
#include "ak_b64.h"
#include "ak_eip191.h"
#include "ak_hex.h"
#include "ak_sig.h"
#include "bench_load.h"
#include "bench_raw.h"

#define MODULE      "/usr/lib/softhsm/libsofthsm2.so"
#define TOKEN       "bench-e2e"
#define KEY_LABEL   "k1"
#define PIN         "123456"
#define MAX_CLIENTS 64
#define REQ_MAX     512
#define RESP_MAX    4096

typedef struct {
    unsigned port;
    char addr[AK_ADDR_STR_SIZE];
    int fds[MAX_CLIENTS];
    uint32_t seq[MAX_CLIENTS];
    char last[MAX_CLIENTS][RESP_MAX]; /* last response body per client */
} load_ctx;

/* One keep-alive POST on client t's connection; its response body goes to lc->last[t]. */
static int http_post(load_ctx *lc, unsigned t, const char *body)
{
    return bl_http_post(&lc->fds[t], lc->port, body, lc->last[t], sizeof lc->last[t]);
}

/* eth_sign [address, 32 bytes that differ per request]; 0 if the answer is a result. */
static int op_eth_sign(void *c, unsigned t)
{
    load_ctx *lc = c;
    char body[REQ_MAX];
    snprintf(body, sizeof body,
             "{\"jsonrpc\":\"2.0\",\"id\":%u,\"method\":\"eth_sign\",\"params\":[\"%s\","
             "\"0x%056x%08x\"]}",
             lc->seq[t], lc->addr, t, lc->seq[t]);
    lc->seq[t]++;
    if (http_post(lc, t, body) != 0)
        return -1;
    return strstr(lc->last[t], "\"result\":\"0x") != NULL ? 0 : -1;
}

/* Client t's last answer was the signature of its request seq[t]-1: it recovers to addr. */
static int check_last(const load_ctx *lc, unsigned t)
{
    uint8_t rsv[65], digest[32], msg[32] = {0}, got[20], want[20];
    uint32_t s = lc->seq[t] - 1;
    ak_sig sig;
    const char *r = strstr(lc->last[t], "\"result\":\"0x");
    msg[27] = (uint8_t)t; /* the 0x%056x%08x of op_eth_sign: t in bytes 24..27, seq in 28..31 */
    msg[26] = (uint8_t)(t >> 8);
    msg[28] = (uint8_t)(s >> 24);
    msg[29] = (uint8_t)(s >> 16);
    msg[30] = (uint8_t)(s >> 8);
    msg[31] = (uint8_t)s;
    ak_eip191_hash(digest, msg, sizeof msg);
    return r != NULL && ak_hex_decode_exact(rsv, 65, r + 10, 132) == AK_OK &&
                   ak_sig_from_rsv(&sig, rsv) == AK_OK &&
                   ak_sig_recover_address(got, &sig, digest) == AK_OK &&
                   ak_addr_parse(want, lc->addr, strlen(lc->addr)) == AK_OK &&
                   memcmp(got, want, 20) == 0
               ? 0
               : -1;
}

/* POST /sign straight to the key server (one libcurl handle, keep-alive, mutual TLS). */
typedef struct {
    CURL *h;
    char resp[RESP_MAX];
    bl_sink sink; /* over resp */
    uint32_t seq;
} direct_ctx;

static int op_direct(void *c, unsigned t)
{
    direct_ctx *d = c;
    uint8_t digest[32] = {0};
    char b64[64], body[256];
    long code = 0;
    (void)t;
    d->seq++;
    memcpy(digest, &d->seq, sizeof d->seq);
    if (ak_b64_encode(b64, sizeof b64, digest, 32) != AK_OK)
        return -1;
    snprintf(body, sizeof body,
             "{\"key_id\":\"k1\",\"algorithm\":\"ECDSA_SHA256\",\"data\":\"%s\"}", b64);
    d->sink.len = 0;
    curl_easy_setopt(d->h, CURLOPT_POSTFIELDS, body);
    if (curl_easy_perform(d->h) != CURLE_OK)
        return -1;
    curl_easy_getinfo(d->h, CURLINFO_RESPONSE_CODE, &code);
    return code == 200 && strstr(d->resp, "\"signature\"") != NULL ? 0 : -1;
}

typedef struct {
    double seconds;
    unsigned rounds, clients, raw_threads, ks_threads, ks_sessions, cn_threads;
    unsigned ks_unbounded;          /* 1: key server "bounded_calls": false */
    unsigned cn_batch, cn_inflight; /* keyless "batch_max", "max_inflight"; 0 = default */
    const char *fsync, *keyserver, *connector;
} options;

/* A whole decimal number in [lo, hi]; 0 on success. */
static int parse_uint(unsigned *out, const char *v, unsigned long lo, unsigned long hi)
{
    char *end = NULL;
    unsigned long n = strtoul(v, &end, 10);
    if (*v == '\0' || *v == '-' || *end != '\0' || n < lo || n > hi)
        return -1;
    *out = (unsigned)n;
    return 0;
}

static int parse_args(options *o, int argc, char **argv)
{
    for (int i = 1; i < argc; i += 2) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        unsigned ms = 0;
        int bad = v == NULL;
        if (bad)
            ;
        else if (strcmp(k, "--seconds") == 0) {
            o->seconds = strtod(v, &end);
            bad = *end != '\0' || !(o->seconds > 0 && o->seconds <= 3600);
        } else if (strcmp(k, "--rounds") == 0)
            bad = parse_uint(&o->rounds, v, 1, 100);
        else if (strcmp(k, "--clients") == 0)
            bad = parse_uint(&o->clients, v, 1, MAX_CLIENTS);
        else if (strcmp(k, "--raw-threads") == 0)
            bad = parse_uint(&o->raw_threads, v, 1, BENCH_MAX_THREADS);
        else if (strcmp(k, "--ks-threads") == 0)
            bad = parse_uint(&o->ks_threads, v, 0, 64);
        else if (strcmp(k, "--ks-sessions") == 0)
            bad = parse_uint(&o->ks_sessions, v, 0, 256);
        else if (strcmp(k, "--ks-bounded") == 0) {
            unsigned b = 1;
            bad = parse_uint(&b, v, 0, 1);
            o->ks_unbounded = b == 0;
        } else if (strcmp(k, "--cn-threads") == 0)
            bad = parse_uint(&o->cn_threads, v, 0, 256);
        else if (strcmp(k, "--cn-batch") == 0)
            bad = parse_uint(&o->cn_batch, v, 1, 256);
        else if (strcmp(k, "--cn-inflight") == 0)
            bad = parse_uint(&o->cn_inflight, v, 1, 256);
        else if (strcmp(k, "--fsync") == 0) {
            o->fsync = v;
            bad = strcmp(v, "always") != 0 && parse_uint(&ms, v, 1, 60000) != 0;
        } else if (strcmp(k, "--keyserver") == 0)
            o->keyserver = v;
        else if (strcmp(k, "--connector") == 0)
            o->connector = v;
        else
            bad = 1;
        if (bad)
            return -1;
    }
    return 0;
}

/* check_last for bl_run_best: says which client's answer failed. */
static int check_client(void *c, unsigned t)
{
    const load_ctx *lc = c;
    if (check_last(lc, t) == 0)
        return 0;
    fprintf(stderr, "bench_e2e: client %u: answer does not recover to %s: %s\n", t, lc->addr,
            lc->last[t]);
    return -1;
}

int main(int argc, char **argv)
{
    options o = {.seconds = 5,
                 .rounds = 2,
                 .clients = 16,
                 .raw_threads = (unsigned)sysconf(_SC_NPROCESSORS_ONLN),
                 .fsync = "always",
                 .keyserver = KS_SERVER_DEFAULT,
                 .connector = CN_CONNECTOR_DEFAULT};
    if (parse_args(&o, argc, argv) != 0) {
        fprintf(stderr, "usage: bench_e2e [--seconds S] [--rounds R] [--clients C] "
                        "[--raw-threads T] [--ks-threads N] [--ks-sessions M] [--ks-bounded 0|1] "
                        "[--cn-threads K] "
                        "[--cn-batch B] [--cn-inflight F] "
                        "[--fsync always|MS] [--keyserver PATH] [--connector PATH]\n");
        return 1;
    }
    int status = 1;
    pid_t ks = -1, cn = -1;
    char dir[] = "/tmp/ak-bench-e2e-XXXXXX", cmd[4096], path[1024], ks_log[1100], cn_log[1100];
    char text[4096], msg[256] = "", port_s[16], opt[64];
    static load_ctx lc;
    bench_result raw = {0}, raw1 = {0}, e16 = {0}, e1 = {0}, d1 = {0}, b;
    static direct_ctx dc;
    struct curl_slist *hdr = NULL;
    bl_cpu_split cpu = {0};
    double raw_cpu = 0;
    for (unsigned t = 0; t < MAX_CLIENTS; t++)
        lc.fds[t] = -1;
    double load0 = bl_loadavg();
    if (mkdtemp(dir) == NULL)
        return 1;

    /* Token, PKI, PIN file. */
    snprintf(cmd, sizeof cmd,
             "sh %s/deploy/softhsm-init.sh %s/hsm " TOKEN " " PIN " 654321 " KEY_LABEL
             " 01 >/dev/null && bash %s/deploy/pki.sh %s/pki connector >/dev/null && "
             "umask 077 && printf " PIN " > %s/pin",
             AK_SOURCE_DIR_DEFAULT, dir, AK_SOURCE_DIR_DEFAULT, dir, dir);
    if (system(cmd) != 0) { /* NOLINT(cert-env33-c): the repo's own set-up scripts */
        fprintf(stderr, "bench_e2e: token/PKI set-up failed\n");
        goto out;
    }
    snprintf(path, sizeof path, "%s/hsm/softhsm2.conf", dir);
    setenv("SOFTHSM2_CONF", path, 1);

    /* Key server (port chosen by the kernel, read from its log). */
    snprintf(opt, sizeof opt, "%s%s%s", strcmp(o.fsync, "always") == 0 ? "\"" : "", o.fsync,
             strcmp(o.fsync, "always") == 0 ? "\"" : "");
    int tl = snprintf(text, sizeof text,
                      "{\"listen\":{\"address\":\"127.0.0.1\",\"port\":0},"
                      "\"tls\":{\"cert\":\"%s/pki/server.crt\",\"key\":\"%s/pki/server.key\","
                      "\"client_ca\":\"%s/pki/ca.crt\"},"
                      "\"pkcs11\":{\"module\":\"" MODULE "\",\"token_label\":\"" TOKEN "\","
                      "\"pin_file\":\"%s/pin\"",
                      dir, dir, dir, dir);
    if (o.ks_sessions > 0)
        tl += snprintf(text + tl, sizeof text - (size_t)tl, ",\"max_sessions\":%u", o.ks_sessions);
    if (o.ks_unbounded)
        tl += snprintf(text + tl, sizeof text - (size_t)tl, ",\"bounded_calls\":false");
    tl += snprintf(text + tl, sizeof text - (size_t)tl,
                   "},\"keys\":{\"k1\":\"pkcs11:token=" TOKEN ";object=" KEY_LABEL "\"},"
                   "\"clients\":{\"cn:connector\":\"*\"},"
                   "\"audit\":{\"file\":\"%s/audit.log\",\"fsync\":%s}",
                   dir, opt);
    if (o.ks_threads > 0)
        tl += snprintf(text + tl, sizeof text - (size_t)tl, ",\"limits\":{\"threads\":%u}",
                       o.ks_threads);
    snprintf(text + tl, sizeof text - (size_t)tl, "}\n");
    snprintf(path, sizeof path, "%s/ks.json", dir);
    snprintf(ks_log, sizeof ks_log, "%s/keyserver.log", dir);
    if (bl_write_file(path, text) != 0)
        goto out;
    char *ks_argv[] = {(char *)o.keyserver, "--config", path, NULL};
    unsigned ks_port = 0;
    if ((ks = bl_spawn_logged(ks_argv, ks_log)) < 0 || (ks_port = bl_wait_port(ks_log)) == 0) {
        fprintf(stderr, "bench_e2e: anode-keyserver did not start (%s)\n", ks_log);
        goto out;
    }

    /* The direct /sign client (for the latency split). */
    char url[64], ca[1100], cert[1100], key[1100];
    snprintf(url, sizeof url, "https://127.0.0.1:%u/sign", ks_port);
    snprintf(ca, sizeof ca, "%s/pki/ca.crt", dir);
    snprintf(cert, sizeof cert, "%s/pki/connector.crt", dir);
    snprintf(key, sizeof key, "%s/pki/connector.key", dir);
    dc.sink = (bl_sink){dc.resp, sizeof dc.resp, 0};
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        goto out;
    hdr = curl_slist_append(NULL, "Content-Type: application/json");
    if ((dc.h = bl_curl_mtls(url, ca, cert, key, hdr, &dc.sink)) == NULL)
        goto out;
    if (op_direct(&dc, 0) != 0) {
        fprintf(stderr, "bench_e2e: POST /sign failed: %s\n", dc.resp);
        goto out;
    }

    /* Connector with the keyless signer. */
    tl = snprintf(text, sizeof text,
                  "{\"accounts\":[{\"signer\":{\"type\":\"keyless\",\"name\":\"bench\","
                  "\"urls\":[\"https://127.0.0.1:%u\"],\"key_id\":\"k1\","
                  "\"client_cert\":\"%s/pki/connector.crt\",\"client_key\":\"%s/pki/"
                  "connector.key\",\"ca\":\"%s/pki/ca.crt\"",
                  ks_port, dir, dir, dir);
    if (o.cn_batch > 0)
        tl += snprintf(text + tl, sizeof text - (size_t)tl, ",\"batch_max\":%u", o.cn_batch);
    if (o.cn_inflight > 0)
        tl += snprintf(text + tl, sizeof text - (size_t)tl, ",\"max_inflight\":%u", o.cn_inflight);
    tl += snprintf(text + tl, sizeof text - (size_t)tl, "}}]");
    if (o.cn_threads > 0)
        tl += snprintf(text + tl, sizeof text - (size_t)tl, ",\"http\":{\"threads\":%u}",
                       o.cn_threads);
    snprintf(text + tl, sizeof text - (size_t)tl, "}\n");
    char cn_cfg[1100];
    snprintf(cn_cfg, sizeof cn_cfg, "%s/connector.json", dir);
    snprintf(cn_log, sizeof cn_log, "%s/connector.log", dir);
    if (bl_write_file(cn_cfg, text) != 0 || (lc.port = bl_free_port()) == 0)
        goto out;
    snprintf(port_s, sizeof port_s, "%u", lc.port);
    char *cn_argv[] = {(char *)o.connector,
                       "--config",
                       cn_cfg,
                       "--http-port",
                       port_s,
                       "--chain-id",
                       "31337",
                       "--downstream-url",
                       "http://127.0.0.1:9/",
                       "--log-level",
                       "error",
                       NULL};
    if ((cn = bl_spawn_logged(cn_argv, cn_log)) < 0)
        goto out;
    for (int i = 0; i < 200 && http_post(&lc, 0,
                                         "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
                                         "\"eth_accounts\"}") != 0;
         i++)
        usleep(50000);
    const char *a = strstr(lc.last[0], "[\"0x");
    if (a == NULL || strlen(a) < 2 + 42) {
        fprintf(stderr, "bench_e2e: anode-connector did not start (%s)\n", cn_log);
        goto out;
    }
    memcpy(lc.addr, a + 2, 42);
    lc.addr[42] = '\0';
    for (unsigned t = 0; t < o.clients; t++)
        if (op_eth_sign(&lc, t) != 0 || check_last(&lc, t) != 0) {
            fprintf(stderr, "bench_e2e: warm-up eth_sign failed: %s\n", lc.last[t]);
            goto out;
        }

    /* Interleaved rounds; the best of each phase is kept. */
    for (unsigned r = 0; r < o.rounds; r++) {
        /* Raw at T threads and at the key server's session count (8 unless set): the
         * better one is the baseline, so the comparison never favours the server's
         * concurrency on a shared machine. */
        unsigned tt[2] = {o.raw_threads, o.ks_sessions ? o.ks_sessions : 8};
        for (unsigned k = 0; k < (tt[0] == tt[1] ? 1u : 2u); k++) {
            double c0 = bl_cpu_seconds(0);
            if (bench_raw_sign(&b, MODULE, TOKEN, PIN, KEY_LABEL, tt[k], o.seconds, msg,
                               sizeof msg) != AK_OK) {
                fprintf(stderr, "bench_e2e: raw C_Sign: %s\n", msg);
                goto out;
            }
            if (b.per_sec > raw.per_sec) {
                raw = b;
                raw_cpu = (bl_cpu_seconds(0) - c0) / (double)b.ops;
            }
        }
        if (bench_raw_sign(&b, MODULE, TOKEN, PIN, KEY_LABEL, 1, o.seconds / 2, msg, sizeof msg) !=
            AK_OK) {
            fprintf(stderr, "bench_e2e: raw C_Sign: %s\n", msg);
            goto out;
        }
        if (raw1.ops == 0 || b.p50_us < raw1.p50_us)
            raw1 = b;
        if (bl_run_best(&e16, &cpu, o.clients, o.seconds, op_eth_sign, check_client, &lc, cn, ks) !=
            0)
            goto out;
        bench_result one = {0};
        if (bl_run_best(&one, NULL, 1, o.seconds / 2, op_eth_sign, check_client, &lc, cn, ks) != 0)
            goto out;
        if (e1.ops == 0 || one.p50_us < e1.p50_us)
            e1 = one;
        if (bench_run_threads(&one, 1, o.seconds / 2, op_direct, &dc) != AK_OK)
            goto out;
        if (d1.ops == 0 || one.p50_us < d1.p50_us)
            d1 = one;
        printf("round %u: raw(best T=%u) %.0f/s  raw(T=1) p50 %.0f us  eth_sign(C=%u) %.0f/s  "
               "eth_sign(C=1) p50 %.0f us\n",
               r + 1, raw.threads, raw.per_sec, b.p50_us, o.clients, e16.per_sec, one.p50_us);
        fflush(stdout);
    }
    long cn_hwm = bl_vm_kb(cn, "VmHWM:"), ks_hwm = bl_vm_kb(ks, "VmHWM:");
    double ratio = e16.per_sec / raw.per_sec, added = e1.p50_us - raw1.p50_us;

    printf("\nanode-keyless end to end (keyless signer, SoftHSM2 secp256k1, %ld online CPUs, best "
           "of %u rounds, %.0f s per phase; key server threads %s, audit fsync %s; connector "
           "batch_max %u, max_inflight %u (0 = default))\n",
           sysconf(_SC_NPROCESSORS_ONLN), o.rounds, o.seconds, o.ks_threads ? "set" : "default",
           o.fsync, o.cn_batch, o.cn_inflight);
    printf("raw C_Sign, %2u threads:           %7.0f sig/s  p50 %6.0f us  p99 %6.0f us\n",
           raw.threads, raw.per_sec, raw.p50_us, raw.p99_us);
    printf("raw C_Sign,  1 thread:            %7.0f sig/s  p50 %6.0f us  p99 %6.0f us\n",
           raw1.per_sec, raw1.p50_us, raw1.p99_us);
    printf("eth_sign end to end, %2u clients:  %7.0f sig/s  p50 %6.0f us  p99 %6.0f us  errors "
           "%llu\n",
           o.clients, e16.per_sec, e16.p50_us, e16.p99_us, (unsigned long long)e16.errors);
    printf("eth_sign end to end,  1 client:   %7.0f sig/s  p50 %6.0f us  p99 %6.0f us  errors "
           "%llu\n",
           e1.per_sec, e1.p50_us, e1.p99_us, (unsigned long long)e1.errors);
    printf("POST /sign direct, 1 client:      %7.0f sig/s  p50 %6.0f us  p99 %6.0f us  errors "
           "%llu\n",
           d1.per_sec, d1.p50_us, d1.p99_us, (unsigned long long)d1.errors);
    printf("ratio end to end / raw:            %.2f   (target >= 0.80: %s)\n", ratio,
           ratio >= 0.80 ? "met" : "NOT met");
    printf("added p50 latency at 1 client:     %.3f ms (target <= 0.3 ms: %s); of which key "
           "server (mTLS /sign) %.3f ms, connector + client %.3f ms\n",
           added / 1000, added <= 300 ? "met" : "NOT met", (d1.p50_us - raw1.p50_us) / 1000,
           (e1.p50_us - d1.p50_us) / 1000);
    printf("peak RSS (VmHWM): connector %ld kB, key server %ld kB (target <= 32 MB: %s)\n", cn_hwm,
           ks_hwm,
           cn_hwm > 0 && ks_hwm > 0 && cn_hwm <= 32L * 1024 && ks_hwm <= 32L * 1024 ? "met"
                                                                                    : "NOT met");
    double e2e_cpu = cpu.cn + cpu.ks + cpu.cli;
    printf("CPU per signature: raw C_Sign %.0f us; end to end: connector %.0f us + key server "
           "%.0f us + clients %.0f us = %.0f us\n",
           raw_cpu * 1e6, cpu.cn * 1e6, cpu.ks * 1e6, cpu.cli * 1e6, e2e_cpu * 1e6);
    /* SoftHSM signs on the same cores: once they are saturated, the ratio cannot exceed this. */
    printf("CPU-bound ratio (raw CPU / end-to-end CPU per signature): %.2f\n",
           e2e_cpu > 0 ? raw_cpu / e2e_cpu : 0);
    printf("load average (1 min) at start %.2f, at end %.2f\n", load0, bl_loadavg());
    status = e16.errors == 0 && e1.errors == 0 && d1.errors == 0 ? 0 : 1;
out:
    if (dc.h != NULL)
        curl_easy_cleanup(dc.h);
    curl_slist_free_all(hdr);
    for (unsigned t = 0; t < MAX_CLIENTS; t++)
        if (lc.fds[t] >= 0)
            close(lc.fds[t]);
    bl_stop(cn);
    bl_stop(ks);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) /* NOLINT(cert-env33-c): a fixed command on our mkdtemp path */
        fprintf(stderr, "bench_e2e: could not remove %s\n", dir);
    return status;
}
