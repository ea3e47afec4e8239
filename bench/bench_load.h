/*
 * bench_load.h - process, /proc and loopback HTTP helpers shared by the end-to-end benchmarks
 * (bench_e2e, bench_paymaster, bench_keyserver, bench_connector).
 *
 * What it gives: a minimal HTTP/1.1 keep-alive POST client on a loopback TCP socket (one
 * connection per caller-owned fd, no TLS: the load generator should cost little CPU), readers of
 * /proc (VmRSS/VmHWM, CPU seconds, load average), and the start/stop helpers for the daemons
 * under test (posix_spawn with stderr to a log, SIGTERM + waitpid by PID, the "listening on ...
 * port N" log line, a free loopback port).
 *
 * The libcurl helpers build the mutual-TLS keep-alive handles the /sign load generators use.
 *
 * Ownership: the caller owns every fd, buffer, easy handle and child PID; nothing else here
 * allocates. Limits:
 * HTTP responses up to BL_RESP_MAX bytes (header + body), requests up to BL_REQ_MAX bytes of
 * body; Linux only (/proc).
 */
#ifndef BENCH_LOAD_H
#define BENCH_LOAD_H

#include <curl/curl.h>
#include <stddef.h>
#include <sys/types.h>

#include "bench_raw.h"

#define BL_REQ_MAX  2048
#define BL_RESP_MAX 4096

/* A TCP connection to 127.0.0.1:port with TCP_NODELAY, or -1. */
int bl_connect_port(unsigned port);

/*
 * One keep-alive HTTP POST of body to / on *fd (connected to port first when *fd < 0). The
 * response body goes to out (NUL-terminated, out_cap bytes). Returns 0 for a complete 200
 * response; on any failure the connection is closed, *fd set to -1 and -1 returned.
 */
int bl_http_post(int *fd, unsigned port, const char *body, char *out, size_t out_cap);

/* A response buffer for libcurl: buf holds cap bytes (caller-owned); len bytes used. */
typedef struct {
    char *buf;
    size_t cap, len;
} bl_sink;

/*
 * CURLOPT_WRITEFUNCTION appending to the bl_sink ud, NUL-terminated; refuses (aborting the
 * transfer) a response of cap bytes or more. Reset len to 0 before each request.
 */
size_t bl_sink_write(char *p, size_t sz, size_t n, void *ud);

/*
 * A new easy handle for url over mutual TLS (CA file, client certificate and key files), with
 * headers hdr (may be NULL) and the response written to sink. Reused across requests it keeps
 * the connection alive. NULL on allocation failure; free with curl_easy_cleanup().
 */
CURL *bl_curl_mtls(const char *url, const char *ca, const char *cert, const char *key,
                   struct curl_slist *hdr, bl_sink *sink);

/* CPU seconds per operation of the connector, the key server and this process (the clients). */
typedef struct {
    double cn, ks, cli;
} bl_cpu_split;

/*
 * One load phase of a round: op(ctx, t) from `clients` threads for `seconds`, then check(ctx, t)
 * for every client's last answer (check reports its own failure). When the phase had operations
 * and beat best->per_sec, it becomes *best and, if cpu is not NULL, *cpu gets the CPU seconds per
 * operation of pids cn and ks and of this process. 0, or -1 when the run or a check failed.
 */
int bl_run_best(bench_result *best, bl_cpu_split *cpu, unsigned clients, double seconds,
                int (*op)(void *ctx, unsigned t), int (*check)(void *ctx, unsigned t), void *ctx,
                pid_t cn, pid_t ks);

/* The 1-minute load average, or -1. */
double bl_loadavg(void);

/* A "Field:" value in kB from /proc/pid/status (field includes the colon), or -1. */
long bl_vm_kb(pid_t pid, const char *field);

/* CPU seconds (user + system) used so far by pid (0 = this process); 0 if unreadable. */
double bl_cpu_seconds(pid_t pid);

/* Start argv[0] with argv, stdout to /dev/null, stderr to logpath. Returns the pid or -1. */
pid_t bl_spawn_logged(char *const argv[], const char *logpath);

/* SIGTERM pid (if > 0) and reap it. */
void bl_stop(pid_t pid);

/* Write text to path (truncating). 0 or -1. */
int bl_write_file(const char *path, const char *text);

/* Wait up to 10 s for a "listening on ADDR port N" line in logpath; the port or 0. */
unsigned bl_wait_port(const char *logpath);

/* A loopback TCP port that was free a moment ago, or 0. */
unsigned bl_free_port(void);

#endif
