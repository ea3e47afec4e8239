/*
 * bench_load.c - loopback HTTP client, /proc readers and daemon start/stop helpers shared by
 * the benchmarks (see bench_load.h).
 */
#include "bench_load.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int bl_connect_port(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int one = 1;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0)
        return -1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int bl_http_post(int *fd, unsigned port, const char *body, char *out, size_t out_cap)
{
    char req[BL_REQ_MAX + 160], buf[BL_RESP_MAX];
    size_t got = 0;
    int n = snprintf(req, sizeof req,
                     "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     strlen(body), body);
    if (n < 0 || (size_t)n >= sizeof req)
        return -1;
    if (*fd < 0 && (*fd = bl_connect_port(port)) < 0)
        return -1;
    if (send(*fd, req, (size_t)n, MSG_NOSIGNAL) != n)
        goto fail;
    for (;;) {
        ssize_t k = recv(*fd, buf + got, sizeof(buf) - 1 - got, 0);
        if (k <= 0)
            goto fail;
        got += (size_t)k;
        buf[got] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end == NULL)
            continue;
        char *cl = strcasestr(buf, "Content-Length:");
        if (cl == NULL || strncmp(buf, "HTTP/1.1 200", 12) != 0)
            goto fail;
        size_t blen = strtoul(cl + 15, NULL, 10), want = (size_t)(end + 4 - buf) + blen;
        if (want >= sizeof buf || blen >= out_cap)
            goto fail;
        if (got < want)
            continue;
        memcpy(out, end + 4, blen);
        out[blen] = '\0';
        return 0;
    }
fail:
    close(*fd);
    *fd = -1;
    return -1;
}

size_t bl_sink_write(char *p, size_t sz, size_t n, void *ud)
{
    bl_sink *s = ud;
    size_t k = sz * n;
    if (k > s->cap - 1 - s->len)
        return 0;
    memcpy(s->buf + s->len, p, k);
    s->len += k;
    s->buf[s->len] = '\0';
    return k;
}

CURL *bl_curl_mtls(const char *url, const char *ca, const char *cert, const char *key,
                   struct curl_slist *hdr, bl_sink *sink)
{
    CURL *c = curl_easy_init();
    if (c == NULL)
        return NULL;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CAINFO, ca);
    curl_easy_setopt(c, CURLOPT_SSLCERT, cert);
    curl_easy_setopt(c, CURLOPT_SSLKEY, key);
    if (hdr != NULL)
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, bl_sink_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, sink);
    return c;
}

int bl_run_best(bench_result *best, bl_cpu_split *cpu, unsigned clients, double seconds,
                int (*op)(void *ctx, unsigned t), int (*check)(void *ctx, unsigned t), void *ctx,
                pid_t cn, pid_t ks)
{
    bench_result b;
    double c0 = bl_cpu_seconds(cn), k0 = bl_cpu_seconds(ks), s0 = bl_cpu_seconds(0);
    if (bench_run_threads(&b, clients, seconds, op, ctx) != AK_OK)
        return -1;
    for (unsigned t = 0; t < clients; t++)
        if (check(ctx, t) != 0)
            return -1;
    if (b.ops > 0 && b.per_sec > best->per_sec) {
        *best = b;
        if (cpu != NULL) {
            cpu->cn = (bl_cpu_seconds(cn) - c0) / (double)b.ops;
            cpu->ks = (bl_cpu_seconds(ks) - k0) / (double)b.ops;
            cpu->cli = (bl_cpu_seconds(0) - s0) / (double)b.ops;
        }
    }
    return 0;
}

double bl_loadavg(void)
{
    char buf[64] = "";
    FILE *f = fopen("/proc/loadavg", "r");
    if (f == NULL)
        return -1;
    if (fgets(buf, sizeof buf, f) == NULL)
        buf[0] = '\0';
    fclose(f);
    char *end = NULL;
    double l = strtod(buf, &end);
    return end != buf ? l : -1;
}

long bl_vm_kb(pid_t pid, const char *field)
{
    char path[64], line[256];
    long v = -1;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, strlen(field)) == 0)
            v = strtol(line + strlen(field) + 1, NULL, 10);
    fclose(f);
    return v;
}

double bl_cpu_seconds(pid_t pid)
{
    if (pid == 0) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
               (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    }
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    /* After "pid (comm) ": state is field 3, utime and stime are fields 14 and 15. */
    const char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    if (p == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

pid_t bl_spawn_logged(char *const argv[], const char *logpath)
{
    pid_t pid = -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    if (posix_spawn(&pid, argv[0], &fa, NULL, argv, environ) != 0)
        pid = -1;
    posix_spawn_file_actions_destroy(&fa);
    return pid;
}

void bl_stop(pid_t pid)
{
    if (pid > 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
}

int bl_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    int ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

unsigned bl_wait_port(const char *logpath)
{
    for (int i = 0; i < 200; i++) {
        char line[512];
        unsigned port = 0;
        FILE *lf = fopen(logpath, "r");
        while (lf && fgets(line, sizeof line, lf)) {
            const char *p = strstr(line, " port ");
            if (strstr(line, "listening on") && p)
                port = (unsigned)strtoul(p + 6, NULL, 10);
        }
        if (lf)
            fclose(lf);
        if (port != 0)
            return port;
        usleep(50000);
    }
    return 0;
}

unsigned bl_free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t al = sizeof a;
    unsigned port = 0;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(s, (struct sockaddr *)&a, &al) == 0)
        port = ntohs(a.sin_port);
    if (s >= 0)
        close(s);
    return port;
}
