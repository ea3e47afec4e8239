/* bench_e2e_state.c - bench_e2e --state: the database's cost per eth_sendTransaction (see
 * bench_e2e_state.h). */
#include "bench_e2e_state.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench_load.h"

#define ANVIL_REL "tests/tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
#define PG_LIB    AK_SOURCE_DIR_DEFAULT "/tests/integration/state/pg_lib.sh"
#define TO_ADDR   "0x000000000000000000000000000000000000dEaD"

typedef struct {
    const char *name;
    pid_t pid;
    unsigned port;
    int fd;
    double lat_us[BES_MAX_CALLS * 8];
    size_t n;
    double cpu_cn, cpu_db; /* CPU seconds in this store's phases */
    size_t calls;
} target;

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* CPU seconds of the database server and all its processes (pg_lib.sh's pg_pids). */
static double db_cpu(const char *pgdir)
{
    char cmd[1200], line[64];
    double s = 0;
    snprintf(cmd, sizeof cmd, "bash -c '. \"%s\" && pg_pids \"%s\"'", PG_LIB, pgdir);
    FILE *p = popen(cmd, "r"); /* NOLINT(cert-env33-c): the repo's own helper, our path */
    while (p != NULL && fgets(line, sizeof line, p) != NULL) {
        char *end = NULL;
        long pid = strtol(line, &end, 10);
        if (end != line && pid > 0)
            s += bl_cpu_seconds((pid_t)pid);
    }
    if (p != NULL)
        pclose(p);
    return s;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double p50(target *t)
{
    qsort(t->lat_us, t->n, sizeof(double), cmp_d);
    return t->n ? t->lat_us[t->n / 2] : 0;
}

/* One JSON-RPC call on fd to port; 0 if the answer carries "result". */
static int call(int *fd, unsigned port, const char *body, char *out, size_t cap)
{
    return bl_http_post(fd, port, body, out, cap) == 0 && strstr(out, "\"result\"") != NULL ? 0
                                                                                            : -1;
}

/* A connector on the store state_json; its port in t->port. */
static int start_connector(target *t, const char *dir, const char *connector, unsigned ks_port,
                           unsigned anvil_port, const char *state_json)
{
    char text[2048], cfg[1100], log[1100], port_s[16], ds[64], out[512];
    snprintf(text, sizeof text,
             "{\"accounts\":[{\"signer\":{\"type\":\"keyless\",\"name\":\"bench\","
             "\"urls\":[\"https://127.0.0.1:%u\"],\"key_id\":\"k1\","
             "\"client_cert\":\"%s/pki/connector.crt\",\"client_key\":\"%s/pki/connector.key\","
             "\"ca\":\"%s/pki/ca.crt\"},\"policy\":{\"cumulative_cap\":{"
             "\"value_wei\":\"1000000000000000000000000\",\"window_s\":86400}}}],"
             "\"state\":%s}\n",
             ks_port, dir, dir, dir, state_json);
    snprintf(cfg, sizeof cfg, "%s/cn-%s.json", dir, t->name);
    snprintf(log, sizeof log, "%s/cn-%s.log", dir, t->name);
    if (bl_write_file(cfg, text) != 0 || (t->port = bl_free_port()) == 0)
        return -1;
    snprintf(port_s, sizeof port_s, "%u", t->port);
    snprintf(ds, sizeof ds, "http://127.0.0.1:%u/", anvil_port);
    char *argv[] = {(char *)connector,  "--config", cfg,           "--http-port", port_s,
                    "--downstream-url", ds,         "--log-level", "error",       NULL};
    if ((t->pid = bl_spawn_logged(argv, log)) < 0)
        return -1;
    for (int i = 0; i < 200; i++) {
        if (call(&t->fd, t->port, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_accounts\"}", out,
                 sizeof out) == 0)
            return 0;
        usleep(50000);
    }
    fprintf(stderr, "bench_e2e --state: the %s connector did not start (%s)\n", t->name, log);
    return -1;
}

/* n sends through t, each timed; the CPU of its connector and of the database meanwhile. */
static int phase(target *t, const char *addr, unsigned n, const char *pgdir)
{
    char body[512], out[1024];
    double c0 = bl_cpu_seconds(t->pid), d0 = db_cpu(pgdir);
    for (unsigned i = 0; i < n; i++) {
        snprintf(body, sizeof body,
                 "{\"jsonrpc\":\"2.0\",\"id\":%u,\"method\":\"eth_sendTransaction\",\"params\":"
                 "[{\"from\":\"%s\",\"to\":\"" TO_ADDR "\",\"value\":\"0x0\"}]}",
                 i, addr);
        double t0 = now_us();
        if (call(&t->fd, t->port, body, out, sizeof out) != 0 ||
            strstr(out, "\"result\":\"0x") == NULL) {
            fprintf(stderr, "bench_e2e --state: %s: eth_sendTransaction failed: %s\n", t->name,
                    out);
            return -1;
        }
        if (t->n < sizeof t->lat_us / sizeof t->lat_us[0])
            t->lat_us[t->n++] = now_us() - t0;
    }
    t->cpu_cn += bl_cpu_seconds(t->pid) - c0;
    t->cpu_db += db_cpu(pgdir) - d0;
    t->calls += n;
    return 0;
}

/* p50 of fdatasync after a 300-byte append in dir, microseconds (the same-run reference for
 * the database's commit, which waits for one WAL flush); -1 if the file cannot be made. */
static double fdatasync_p50_us(const char *dir)
{
    char path[1200], rec[300];
    double us[64];
    snprintf(path, sizeof path, "%s/fsync-probe", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
    if (fd < 0)
        return -1;
    memset(rec, 'x', sizeof rec);
    for (size_t i = 0; i < 64; i++) {
        double t0 = now_us();
        if (write(fd, rec, sizeof rec) != (ssize_t)sizeof rec || fdatasync(fd) != 0) {
            close(fd);
            return -1;
        }
        us[i] = now_us() - t0;
    }
    close(fd);
    unlink(path);
    qsort(us, 64, sizeof us[0], cmp_d);
    return us[32];
}

static int start_db(const char *dir, const char *pgdir, char *state_json, size_t cap)
{
    char cmd[2400], port[16] = "";
    chmod(dir, 0755); /* the server runs as another user when this runs as root */
    /* The tests' server runs with fsync off; a figure for operators needs the durability they
     * run: every commit waits for its WAL flush. */
    setenv("PG_FSYNC", "on", 1); /* NOLINT(concurrency-mt-unsafe): before any thread */
    snprintf(cmd, sizeof cmd, "bash -c '. \"%s\" && pg_setup \"%s\"' >/dev/null", PG_LIB, pgdir);
    if (system(cmd) != 0) /* NOLINT(cert-env33-c): the repo's own helper, our path */
        return -1;
    snprintf(cmd, sizeof cmd, "%s/port", pgdir);
    FILE *f = fopen(cmd, "r");
    if (f == NULL || fgets(port, sizeof port, f) == NULL) {
        if (f != NULL)
            fclose(f);
        return -1;
    }
    fclose(f);
    port[strcspn(port, "\n")] = '\0';
    snprintf(state_json, cap,
             "{\"backend\":\"postgres\",\"url\":\"postgresql://anode@/anode?host=%s/sock&port=%s\","
             "\"pool_size\":4}",
             pgdir, port);
    return 0;
}

int bench_e2e_state(const char *dir, unsigned ks_port, const char *connector, unsigned rounds,
                    unsigned calls)
{
    static target mem = {.name = "memory", .pid = -1, .fd = -1},
                  pg = {.name = "postgres", .pid = -1, .fd = -1};
    char pgdir[1100], state_pg[1400], anvil_bin[1100], anvil_log[1100], port_s[16], out[1024];
    char body[256], addr[64] = "";
    pid_t anvil = -1;
    unsigned anvil_port = 0;
    int afd = -1, status = 1, db_up = 0;
    if (calls == 0 || calls > BES_MAX_CALLS)
        return 1;
    snprintf(pgdir, sizeof pgdir, "%s/pg", dir);
    if (start_db(dir, pgdir, state_pg, sizeof state_pg) != 0) {
        fprintf(stderr, "bench_e2e --state: PostgreSQL did not start (pg_lib.sh)\n");
        goto out;
    }
    db_up = 1;
    snprintf(anvil_bin, sizeof anvil_bin, "%s/" ANVIL_REL, AK_SOURCE_DIR_DEFAULT);
    snprintf(anvil_log, sizeof anvil_log, "%s/anvil.log", dir);
    if ((anvil_port = bl_free_port()) == 0)
        goto out;
    snprintf(port_s, sizeof port_s, "%u", anvil_port);
    char *aargv[] = {anvil_bin, "--accounts", "0", "--host", "127.0.0.1", "--port", port_s, NULL};
    if ((anvil = bl_spawn_logged(aargv, anvil_log)) < 0)
        goto out;
    int up = 0;
    for (int i = 0; i < 200 && !up; i++) {
        up = call(&afd, anvil_port, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_chainId\"}",
                  out, sizeof out) == 0;
        if (!up)
            usleep(50000);
    }
    if (!up ||
        start_connector(&mem, dir, connector, ks_port, anvil_port,
                        "{\"backend\":"
                        "\"memory\"}") != 0 ||
        start_connector(&pg, dir, connector, ks_port, anvil_port, state_pg) != 0)
        goto out;
    if (call(&mem.fd, mem.port, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_accounts\"}", out,
             sizeof out) != 0 ||
        strstr(out, "[\"0x") == NULL)
        goto out;
    memcpy(addr, strstr(out, "[\"0x") + 2, 42);
    snprintf(body, sizeof body,
             "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"anvil_setBalance\",\"params\":[\"%s\","
             "\"0x3635c9adc5dea00000\"]}",
             addr);
    if (call(&afd, anvil_port, body, out, sizeof out) != 0)
        goto out;
    /* Warm-up: connections, prepared statements, the schema; not counted. */
    if (phase(&mem, addr, 10, pgdir) != 0 || phase(&pg, addr, 10, pgdir) != 0)
        goto out;
    mem.n = pg.n = mem.calls = pg.calls = 0;
    mem.cpu_cn = mem.cpu_db = pg.cpu_cn = pg.cpu_db = 0;
    for (unsigned r = 0; r < rounds; r++) {
        target *a = r % 2 ? &pg : &mem, *b = r % 2 ? &mem : &pg;
        if (phase(a, addr, calls, pgdir) != 0 || phase(b, addr, calls, pgdir) != 0)
            goto out;
        printf("state round %u: p50 memory %.0f us, postgres %.0f us\n", r + 1, p50(&mem),
               p50(&pg));
        fflush(stdout);
    }
    double pm = p50(&mem), pp = p50(&pg);
    double cm = mem.calls ? mem.cpu_cn / (double)mem.calls * 1e6 : 0;
    double cp = pg.calls ? pg.cpu_cn / (double)pg.calls * 1e6 : 0;
    double cd = pg.calls ? pg.cpu_db / (double)pg.calls * 1e6 : 0;
    printf("eth_sendTransaction, 1 client, %u rounds x %u calls per store (anvil automine, "
           "SoftHSM2 via anode-keyserver):\n",
           rounds, calls);
    printf("  p50: memory store %.0f us (the reference), postgres store %.0f us: added %.0f us "
           "(the issue's bound: 500 us)\n",
           pm, pp, pp - pm);
    printf("  CPU per call: connector %.0f us on memory, %.0f us on postgres + the database "
           "server %.0f us: added %.0f us\n",
           cm, cp, cd, cp + cd - cm);
    printf("  database: PostgreSQL on a Unix socket, fsync on, synchronous_commit on; same-run "
           "reference: fdatasync of a 300-byte append p50 %.0f us\n",
           fdatasync_p50_us(pgdir));
    printf("load average (1 min) at end %.2f\n", bl_loadavg());
    status = 0;
out:
    if (afd >= 0)
        close(afd);
    if (mem.fd >= 0)
        close(mem.fd);
    if (pg.fd >= 0)
        close(pg.fd);
    bl_stop(mem.pid);
    bl_stop(pg.pid);
    bl_stop(anvil);
    if (db_up) {
        char cmd[1200];
        snprintf(cmd, sizeof cmd, "bash \"%s\" stop \"%s\" >/dev/null 2>&1", PG_LIB, pgdir);
        if (system(cmd) != 0) /* NOLINT(cert-env33-c): the repo's own helper, our path */
            fprintf(stderr, "bench_e2e --state: stopping PostgreSQL failed\n");
    }
    return status;
}
