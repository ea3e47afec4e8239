/*
 * bench_connector.c - anode-connector eth_sign end to end with the `local` signer, compared with
 * raw libsecp256k1 signing measured in the same run (issue 4 benchmarks):
 *   1. raw: secp256k1_ecdsa_sign_recoverable on one thread (the baseline);
 *   2. eth_sign through a running anode-connector at 16 concurrent keep-alive clients;
 *   3. p50 latency at 1 client, and the added latency over one raw signature;
 *   4. the connector's resident memory (VmRSS, VmHWM) after the runs.
 * Target: (2) >= 0.50 x (1). The connector is started by this program (fork/exec, stopped by PID)
 * with --chain-id and an unreachable downstream: eth_sign needs no node.
 *
 * Usage: bench_connector [--seconds S] [--connector PATH]
 * Clients are minimal HTTP/1.1 keep-alive socket clients so that the client side costs little of
 * the 2 shared cores.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include "ak_eip191.h"
#include "ak_hex.h"
#include "ak_sig.h"
#include "bench_load.h"
#include "bench_raw.h"

#define KEY_HEX "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
#define ADDR    "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
#define CLIENTS 16

typedef struct {
    secp256k1_context *ctx;
    uint8_t key[32];
} raw_ctx;

static int raw_op(void *c, unsigned t)
{
    raw_ctx *r = c;
    uint8_t digest[32] = {(uint8_t)t}, out[64];
    secp256k1_ecdsa_recoverable_signature sig;
    int recid;
    static _Thread_local uint32_t n;
    n++;
    memcpy(digest + 1, &n, sizeof(n));
    if (!secp256k1_ecdsa_sign_recoverable(r->ctx, &sig, digest, r->key, NULL, NULL))
        return -1;
    return secp256k1_ecdsa_recoverable_signature_serialize_compact(r->ctx, out, &recid, &sig) ? 0
                                                                                              : -1;
}

typedef struct {
    unsigned port;
    int fds[CLIENTS];
    char request[CLIENTS][512];
    size_t request_len[CLIENTS];
} http_ctx;

/* One keep-alive request/response; returns 0 if the answer is a JSON-RPC result. */
static int http_op(void *c, unsigned t)
{
    http_ctx *h = c;
    char buf[4096];
    size_t got = 0;
    if (h->fds[t] < 0 && (h->fds[t] = bl_connect_port(h->port)) < 0)
        return -1;
    if (send(h->fds[t], h->request[t], h->request_len[t], MSG_NOSIGNAL) !=
        (ssize_t)h->request_len[t])
        goto fail;
    for (;;) {
        ssize_t n = recv(h->fds[t], buf + got, sizeof(buf) - 1 - got, 0);
        if (n <= 0)
            goto fail;
        got += (size_t)n;
        buf[got] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end == NULL)
            continue;
        char *cl = strcasestr(buf, "Content-Length:");
        if (cl == NULL)
            goto fail;
        size_t want = (size_t)(end + 4 - buf) + strtoul(cl + 15, NULL, 10);
        if (got < want)
            continue;
        return strstr(end, "\"result\":\"0x") != NULL ? 0 : -1;
    }
fail:
    close(h->fds[t]);
    h->fds[t] = -1;
    return -1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    double seconds = 3.0;
    const char *connector = CN_CONNECTOR_DEFAULT;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--seconds") == 0) {
            char *end = NULL;
            seconds = strtod(argv[i + 1], &end);
            if (end == argv[i + 1] || *end != '\0' || !(seconds > 0)) {
                fprintf(stderr, "--seconds: a positive number\n");
                return 2;
            }
        } else if (strcmp(argv[i], "--connector") == 0) {
            connector = argv[i + 1];
        }
    }
    int status = 1;
    pid_t pid = -1;
    char dir[] = "/tmp/ak-bench-cn-XXXXXX", path[256], cfg[512], port_s[16];
    raw_ctx raw = {0};
    http_ctx http;
    memset(&http, 0, sizeof(http));
    for (int i = 0; i < CLIENTS; i++)
        http.fds[i] = -1;

    /* 1. raw libsecp256k1, one thread */
    uint8_t seed[32];
    raw.ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    if (getrandom(seed, 32, 0) != 32 || !secp256k1_context_randomize(raw.ctx, seed) ||
        ak_hex_decode_bare(raw.key, 32, &(size_t){0}, KEY_HEX, 64) != AK_OK)
        goto out;
    bench_result r_raw, r16, r1;
    if (bench_run_threads(&r_raw, 1, seconds, raw_op, &raw) != AK_OK)
        goto out;

    /* 2. start the connector */
    if (mkdtemp(dir) == NULL)
        goto out;
    snprintf(path, sizeof(path), "%s/key.hex", dir);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        goto out;
    fprintf(f, "%s\n", KEY_HEX);
    if (fchmod(fileno(f), 0600) != 0) { /* a secret file: the connector refuses it otherwise */
        fclose(f);
        goto out;
    }
    fclose(f);
    snprintf(cfg, sizeof(cfg), "%s/connector.json", dir);
    f = fopen(cfg, "w");
    if (f == NULL)
        goto out;
    fprintf(f,
            "{\"accounts\":[{\"signer\":{\"type\":\"local\",\"key_file\":\"%s\"}}],"
            "\"http\":{\"threads\":2}}\n",
            path);
    fclose(f);
    /* a free port: bind 0, read it, close (small race, fine for a benchmark) */
    int probe = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t al = sizeof(a);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (probe < 0 || bind(probe, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(probe, (struct sockaddr *)&a, &al) != 0)
        goto out;
    http.port = ntohs(a.sin_port);
    close(probe);
    snprintf(port_s, sizeof(port_s), "%u", http.port);
    pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", 1);
        dup2(devnull, 2);
        execl(connector, connector, "--config", cfg, "--http-port", port_s, "--chain-id", "31337",
              "--downstream-url", "http://127.0.0.1:9/", "--downstream-timeout-ms", "200",
              "--log-level", "error", (char *)NULL);
        _exit(127);
    }
    double t0 = now_s();
    int fd = -1;
    while (now_s() - t0 < 10 && (fd = bl_connect_port(http.port)) < 0)
        usleep(20000);
    if (fd < 0) {
        fprintf(stderr, "connector did not start (%s)\n", connector);
        goto out;
    }
    close(fd);
    for (int i = 0; i < CLIENTS; i++) {
        char body[256];
        int bl =
            snprintf(body, sizeof(body),
                     "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"eth_sign\",\"params\":[\"" ADDR
                     "\",\"0x%064x\"]}",
                     i, i);
        http.request_len[i] = (size_t)snprintf(
            http.request[i], sizeof(http.request[i]),
            "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "Content-Length: %d\r\n\r\n%s",
            bl, body);
    }

    /* Correctness once: the answer recovers to ADDR. */
    {
        char body[256], buf[2048];
        snprintf(body, sizeof(body),
                 "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_sign\","
                 "\"params\":[\"" ADDR "\",\"0xdeadbeef\"]}");
        int c = bl_connect_port(http.port);
        int n = snprintf(buf, sizeof(buf),
                         "POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: "
                         "%zu\r\n\r\n%s",
                         strlen(body), body);
        if (c < 0 || send(c, buf, (size_t)n, 0) != n)
            goto out;
        size_t got = 0;
        ssize_t k;
        while ((k = recv(c, buf + got, sizeof(buf) - 1 - got, 0)) > 0)
            got += (size_t)k;
        buf[got] = '\0';
        close(c);
        char *res = strstr(buf, "\"result\":\"");
        uint8_t rsv[65], digest[32], addr[20], want[20];
        const uint8_t msg[4] = {0xde, 0xad, 0xbe, 0xef};
        ak_sig sig;
        ak_eip191_hash(digest, msg, 4);
        if (res == NULL || ak_hex_decode_exact(rsv, 65, res + 10, 132) != AK_OK ||
            ak_sig_from_rsv(&sig, rsv) != AK_OK ||
            ak_sig_recover_address(addr, &sig, digest) != AK_OK ||
            ak_hex_decode_exact(want, 20, ADDR, 42) != AK_OK || memcmp(addr, want, 20) != 0) {
            fprintf(stderr, "eth_sign answer does not recover to %s\n", ADDR);
            goto out;
        }
    }

    double cpu0 = bl_cpu_seconds(pid);
    if (bench_run_threads(&r16, CLIENTS, seconds, http_op, &http) != AK_OK)
        goto out;
    double cpu16 = bl_cpu_seconds(pid) - cpu0;
    if (bench_run_threads(&r1, 1, seconds, http_op, &http) != AK_OK)
        goto out;
    long rss = bl_vm_kb(pid, "VmRSS:"), hwm = bl_vm_kb(pid, "VmHWM:");
    double ratio = r16.per_sec / r_raw.per_sec;
    printf("raw libsecp256k1 sign, 1 thread:     %9.0f /s  p50 %6.1f us\n", r_raw.per_sec,
           r_raw.p50_us);
    printf("eth_sign via connector, %2d clients:  %9.0f /s  p50 %6.1f us  p99 %6.1f us  "
           "errors %llu\n",
           CLIENTS, r16.per_sec, r16.p50_us, r16.p99_us, (unsigned long long)r16.errors);
    if (r16.ops > 0)
        printf("connector CPU per eth_sign, %2d clients: %6.1f us\n", CLIENTS,
               cpu16 * 1e6 / (double)r16.ops);
    printf("eth_sign via connector,  1 client:   %9.0f /s  p50 %6.1f us  (added over raw: %.1f "
           "us)\n",
           r1.per_sec, r1.p50_us, r1.p50_us - r_raw.p50_us);
    printf("ratio end-to-end / raw single-thread: %.2f (target >= 0.50: %s)\n", ratio,
           ratio >= 0.50 ? "met" : "NOT met");
    printf("connector memory: VmRSS %ld kB, VmHWM %ld kB (target <= 32 MB: %s)\n", rss, hwm,
           hwm > 0 && hwm <= 32 * 1024 ? "met" : "NOT met");
    status = r16.errors == 0 && r1.errors == 0 ? 0 : 1;
out:
    for (int i = 0; i < CLIENTS; i++)
        if (http.fds[i] >= 0)
            close(http.fds[i]);
    if (pid > 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
    if (raw.ctx)
        secp256k1_context_destroy(raw.ctx);
    unlink(path);
    unlink(cfg);
    rmdir(dir);
    return status;
}
