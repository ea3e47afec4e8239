/*
 * test_ks_audit.c - the audit trail: hash chain, tamper detection, fail-closed writes.
 *
 * Without arguments: writes records (several threads), verifies the chain, then checks that an
 * edited line, a deleted line, swapped lines and a partial last line are each detected, that a
 * log continues its chain across a reopen, and that appending to /dev/full fails (AK_ERR_AUDIT)
 * and is counted, that a short write to a FIFO (a partial line that cannot be cut back) fails
 * the log for good, and that the anchor (last seq and hash) of the writer and of the verifier
 * agree, and that the external anchor file detects deleted trailing records and a rewritten
 * log (verify and reopen). With `--verify FILE` it verifies FILE (exit 0 OK, 1 broken) for the
 * shell test and prints "last seq N sha256 HEX".
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ak_test.h"
#include "ks_audit.h"

#define THREADS 4
#define PER     50

static ks_audit_rec rec(const char *outcome)
{
    static const uint8_t digest[32] = {1, 2, 3};
    static const uint8_t fp[32] = {0xaa};
    ks_audit_rec r = {"client \"one\"\n",
                      fp,
                      "key-1",
                      5,
                      digest,
                      32,
                      "req-\x01",
                      5,
                      outcome,
                      42,
                      NULL,
                      NULL,
                      NULL};
    return r;
}

static void *writer(void *arg)
{
    ks_audit *a = arg;
    for (int i = 0; i < PER; i++) {
        ks_audit_rec r = rec("signed");
        if (ks_audit_append(a, &r) != AK_OK)
            return (void *)1;
    }
    return NULL;
}

/* A FIFO whose pipe holds one page: a record longer than that blocks half-written, and a
 * signal then makes write() return the part already in the pipe (a short write). */
static atomic_int fifo_done;
static void on_usr1(int sig)
{
    (void)sig;
}

static void *fifo_writer(void *arg)
{
    ks_audit *a = arg;
    char big[KS_AUDIT_FIELD_MAX];
    memset(big, 0xff, sizeof big); /* 6 bytes each once escaped: a line of ~4.7 KB */
    char cn[KS_AUDIT_FIELD_MAX + 1];
    memcpy(cn, big, sizeof big);
    cn[KS_AUDIT_FIELD_MAX] = '\0';
    ks_audit_rec r = {cn,         NULL,     big, sizeof big, NULL, 0,   big,
                      sizeof big, "signed", 1,   NULL,       NULL, NULL};
    intptr_t rc = ks_audit_append(a, &r);
    atomic_store(&fifo_done, 1);
    return (void *)rc;
}

static void fifo_short_write(const char *dir)
{
    char fifo[256], msg[256], buf[8192];
    ks_audit *a = NULL;
    snprintf(fifo, sizeof fifo, "%s/audit.fifo", dir);
    CHECK(mkfifo(fifo, 0600) == 0);
    int rd = open(fifo, O_RDONLY | O_NONBLOCK);
    CHECK(rd >= 0);
    CHECK(fcntl(rd, F_SETPIPE_SZ, 4096) >= 0);
    CHECK_EQ_INT(ks_audit_open(&a, fifo, 0, msg, sizeof msg), AK_OK);
    if (a == NULL || rd < 0) {
        unlink(fifo);
        return;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1; /* no SA_RESTART: the blocked write() returns what it wrote */
    sigaction(SIGUSR1, &sa, NULL);
    pthread_t t;
    void *res = NULL;
    pthread_create(&t, NULL, fifo_writer, a);
    while (!atomic_load(&fifo_done)) {
        usleep(50 * 1000);
        pthread_kill(t, SIGUSR1);
    }
    pthread_join(t, &res);
    CHECK_EQ_INT((intptr_t)res, AK_ERR_AUDIT);
    while (read(rd, buf, sizeof buf) > 0) /* drain: the pipe has room again */
        ;
    /* A partial line is out and cannot be taken back: the log stays failed, so no record is
     * ever chained behind it (a second append used to succeed here). */
    ks_audit_rec r = rec("signed");
    CHECK_EQ_INT(ks_audit_append(a, &r), AK_ERR_AUDIT);
    CHECK_EQ_INT(ks_audit_records(a), 0);
    ks_audit_close(a);
    close(rd);
    unlink(fifo);
}

static char **read_lines(const char *path, size_t *n)
{
    char **lines = calloc(4096, sizeof *lines);
    char buf[KS_AUDIT_LINE_MAX + 2];
    FILE *f = fopen(path, "r");
    *n = 0;
    while (f && *n < 4096 && fgets(buf, sizeof buf, f))
        lines[(*n)++] = strdup(buf);
    if (f)
        fclose(f);
    return lines;
}

static void write_lines(const char *path, char **lines, size_t n, const char *tail)
{
    FILE *f = fopen(path, "w");
    for (size_t i = 0; i < n; i++)
        fputs(lines[i], f);
    if (tail)
        fputs(tail, f);
    fclose(f);
}

static int anchor_seq_is(const char *anchor, uint64_t want)
{
    char buf[512];
    uint64_t seq = 0;
    uint8_t h[32];
    FILE *f = fopen(anchor, "r");
    if (f == NULL)
        return 0;
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return rt_audit_anchor_parse(buf, n, &seq, h) == AK_OK && seq == want;
}

/* The external anchor (rt_audit.h): written at close and periodically, names the last durable
 * record; verify and reopen detect trailing records deleted or the log rewritten. */
static void anchor_checks(const char *dir)
{
    char log[256], anchor[256], other[256], msg[320] = "";
    ks_audit *a = NULL;
    ks_audit_rec r = rec("signed");
    rt_audit_verdict v;
    snprintf(log, sizeof log, "%s/anch.log", dir);
    snprintf(anchor, sizeof anchor, "%s/anch.anchor", dir);
    snprintf(other, sizeof other, "%s/other.log", dir);

    CHECK_EQ_INT(ks_audit_open_anchored(&a, log, 0, anchor, 100, msg, sizeof msg), AK_OK);
    for (int i = 0; a != NULL && i < 5; i++)
        CHECK_EQ_INT(ks_audit_append(a, &r), AK_OK);
    ks_audit_close(a);
    CHECK(anchor_seq_is(anchor, 5));
    CHECK_EQ_INT(rt_audit_verify(log, anchor, &v, msg, sizeof msg), AK_OK);
    CHECK(v.anchored && v.anchor_seq == 5 && v.records == 5);

    /* Updated while running (every 100 ms; 10 s is only the test's patience). */
    CHECK_EQ_INT(ks_audit_open_anchored(&a, log, 0, anchor, 100, msg, sizeof msg), AK_OK);
    if (a != NULL)
        CHECK_EQ_INT(ks_audit_append(a, &r), AK_OK);
    double t0 = ak_test_now_s();
    while (!anchor_seq_is(anchor, 6) && ak_test_now_s() - t0 < 10)
        usleep(20000);
    CHECK(anchor_seq_is(anchor, 6));
    ks_audit_close(a);

    /* Delete the last two records: a valid chain alone, a truncation against the anchor. */
    size_t nl = 0;
    char **lines = read_lines(log, &nl);
    CHECK_EQ_INT(nl, 6);
    write_lines(log, lines, 4, NULL);
    CHECK_EQ_INT(rt_audit_verify(log, NULL, &v, msg, sizeof msg), AK_OK);
    CHECK_EQ_INT(rt_audit_verify(log, anchor, &v, msg, sizeof msg), AK_ERR_AUDIT);
    CHECK(strstr(msg, "truncated") != NULL);
    CHECK_EQ_INT(ks_audit_open_anchored(&a, log, 0, anchor, 100, msg, sizeof msg), AK_ERR_AUDIT);
    CHECK(strstr(msg, "anchor") != NULL);

    /* A log rewritten from scratch to the anchored length: the hash differs. */
    CHECK_EQ_INT(ks_audit_open(&a, other, 0, msg, sizeof msg), AK_OK);
    ks_audit_rec r2 = rec("refused");
    for (int i = 0; a != NULL && i < 6; i++)
        CHECK_EQ_INT(ks_audit_append(a, &r2), AK_OK);
    ks_audit_close(a);
    CHECK_EQ_INT(rt_audit_verify(other, anchor, &v, msg, sizeof msg), AK_ERR_AUDIT);
    CHECK(strstr(msg, "differs from the anchor") != NULL);
    CHECK_EQ_INT(ks_audit_open_anchored(&a, other, 0, anchor, 100, msg, sizeof msg), AK_ERR_AUDIT);

    /* No anchor file yet: a first start creates it; verify needs it. Malformed: refused. */
    CHECK_EQ_INT(rt_audit_verify(log, "/nonexistent/anchor", &v, msg, sizeof msg), AK_ERR_IO);
    FILE *f = fopen(anchor, "w");
    CHECK(f != NULL);
    if (f != NULL) {
        fputs("{\"seq\":1.5,\"hash\":\"zz\"}\n", f);
        fclose(f);
    }
    CHECK_EQ_INT(rt_audit_verify(log, anchor, &v, msg, sizeof msg), AK_ERR_AUDIT);
    CHECK_EQ_INT(ks_audit_open_anchored(&a, log, 0, anchor, 100, msg, sizeof msg), AK_ERR_AUDIT);

    /* An anchor that cannot be written is counted but does not stop the log. */
    CHECK_EQ_INT(
        ks_audit_open_anchored(&a, other, 0, "/nonexistent/dir/anchor", 100, msg, sizeof msg),
        AK_OK);
    if (a != NULL) {
        CHECK_EQ_INT(ks_audit_append(a, &r), AK_OK);
        double t1 = ak_test_now_s();
        while (rt_audit_anchor_failures(a) == 0 && ak_test_now_s() - t1 < 10)
            usleep(20000);
        CHECK(rt_audit_anchor_failures(a) > 0);
        ks_audit_close(a);
    }
    for (size_t i = 0; i < nl; i++)
        free(lines[i]);
    free(lines);
    unlink(log);
    unlink(anchor);
    unlink(other);
}

static int verify_ok(const char *path, uint64_t *records)
{
    char msg[256] = "";
    ak_err e = ks_audit_verify_file(path, records, msg, sizeof msg);
    if (e != AK_OK)
        fprintf(stderr, "  (expected or not) verify: %s\n", msg);
    return e == AK_OK;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--verify") == 0) {
        uint64_t n = 0;
        uint8_t last[32];
        char msg[256] = "", hex[65];
        if (ks_audit_verify_file_last(argv[2], &n, last, msg, sizeof msg) != AK_OK) {
            printf("audit-verify: %s: BROKEN: %s\n", argv[2], msg);
            return 1;
        }
        ks_audit_hex32(hex, last);
        printf("audit-verify: %s: OK, %llu records\nlast seq %llu sha256 %s\n", argv[2],
               (unsigned long long)n, (unsigned long long)n, hex);
        return 0;
    }
    char dir[] = "/tmp/ks_audit_XXXXXX";
    char path[256], bad[256], msg[256];
    uint64_t n = 0;
    size_t nl = 0;
    ks_audit *a = NULL;
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/audit.log", dir);
    snprintf(bad, sizeof bad, "%s/bad.log", dir);

    /* Concurrent writers with fsync per record (group commit). */
    CHECK_EQ_INT(ks_audit_open(&a, path, 0, msg, sizeof msg), AK_OK);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, writer, a);
    for (int i = 0; i < THREADS; i++) {
        void *r;
        pthread_join(t[i], &r);
        CHECK(r == NULL);
    }
    CHECK_EQ_INT(ks_audit_records(a), THREADS * PER);
    /* The writer's anchor equals the verifier's: last seq and SHA-256 of the last line. */
    uint64_t last_seq = 0, vn = 0;
    uint8_t last_w[32], last_v[32], zero[32] = {0};
    ks_audit_last(a, &last_seq, last_w);
    ks_audit_close(a);
    CHECK(verify_ok(path, &n));
    CHECK_EQ_INT(n, THREADS * PER);
    CHECK_EQ_INT(ks_audit_verify_file_last(path, &vn, last_v, msg, sizeof msg), AK_OK);
    CHECK_EQ_INT(last_seq, THREADS * PER);
    CHECK_EQ_INT(vn, last_seq);
    CHECK_MEM(last_v, last_w, 32);
    CHECK(memcmp(last_v, zero, 32) != 0);

    /* Reopen continues the chain (interval mode this time). */
    CHECK_EQ_INT(ks_audit_open(&a, path, 5, msg, sizeof msg), AK_OK);
    ks_audit_rec r = rec("refused");
    CHECK_EQ_INT(ks_audit_append(a, &r), AK_OK);
    ks_audit_close(a);
    CHECK(verify_ok(path, &n));
    CHECK_EQ_INT(n, THREADS * PER + 1);

    char **lines = read_lines(path, &nl);
    CHECK_EQ_INT(nl, THREADS * PER + 1);
    /* Quotes, newlines and control bytes of client data stay inside the JSON string. */
    CHECK(strstr(lines[0], "\"client_cn\":\"client \\\"one\\\"\\u000a\"") != NULL);
    CHECK(strstr(lines[0], "\"request_id\":\"req-\\u0001\"") != NULL);

    /* Edited line: change the outcome of record 10 (8 bytes inside the line, no terminator). */
    char *p = strstr(lines[9], "\"signed\"");
    CHECK(p != NULL);
    if (p)
        memcpy(p, "\"sIgned\"", 8); // NOLINT(bugprone-not-null-terminated-result)
    write_lines(bad, lines, nl, NULL);
    CHECK(!verify_ok(bad, &n));
    if (p)
        memcpy(p, "\"signed\"", 8); // NOLINT(bugprone-not-null-terminated-result)
    write_lines(bad, lines, nl, NULL);
    CHECK(verify_ok(bad, &n));

    /* Deleted line. */
    write_lines(bad, lines, 5, NULL);
    CHECK(verify_ok(bad, &n)); /* a prefix is a valid log ... */
    char *saved = lines[5];
    memmove(&lines[5], &lines[6], (nl - 6) * sizeof *lines);
    write_lines(bad, lines, nl - 1, NULL);
    CHECK(!verify_ok(bad, &n)); /* ... a hole is not */
    memmove(&lines[6], &lines[5], (nl - 6) * sizeof *lines);
    lines[5] = saved;

    /* Reordered lines. */
    char *tmp = lines[3];
    lines[3] = lines[4];
    lines[4] = tmp;
    write_lines(bad, lines, nl, NULL);
    CHECK(!verify_ok(bad, &n));
    lines[4] = lines[3];
    lines[3] = tmp;

    /* A partial last line is reported, and the daemon refuses to continue such a log. */
    write_lines(bad, lines, nl, "{\"seq\":");
    CHECK(!verify_ok(bad, &n));
    CHECK_EQ_INT(ks_audit_open(&a, bad, 0, msg, sizeof msg), AK_ERR_AUDIT);

    /* A last line whose seq is no count (huge, fractional, above 2^53) is refused, not
     * converted: the conversion of 1e300 to uint64_t was undefined behaviour. */
    static const char *const bad_seq[] = {"1e300", "1.5", "18446744073709551616", "0", "-3"};
    for (size_t i = 0; i < sizeof bad_seq / sizeof bad_seq[0]; i++) {
        FILE *f = fopen(bad, "w");
        CHECK(f != NULL);
        if (f == NULL)
            continue;
        fprintf(f, "{\"seq\":%s,\"prev\":\"%064d\"}\n", bad_seq[i], 0);
        fclose(f);
        CHECK_EQ_INT(ks_audit_open(&a, bad, 0, msg, sizeof msg), AK_ERR_AUDIT);
    }

    /* Fail closed: a full disk makes the append fail, and it is counted. */
    CHECK_EQ_INT(ks_audit_open(&a, "/dev/full", 0, msg, sizeof msg), AK_OK);
    if (a != NULL) {
        CHECK_EQ_INT(ks_audit_append(a, &r), AK_ERR_AUDIT);
        CHECK_EQ_INT(ks_audit_failures(a), 1);
        CHECK_EQ_INT(ks_audit_records(a), 0);
        ks_audit_close(a);
    }
    CHECK_EQ_INT(ks_audit_verify_file("/nonexistent/audit.log", &n, msg, sizeof msg), AK_ERR_IO);
    fifo_short_write(dir);
    anchor_checks(dir);

    for (size_t i = 0; i < nl; i++)
        free(lines[i]);
    free(lines);
    unlink(path);
    unlink(bad);
    rmdir(dir);
    return ak_test_report("test_ks_audit");
}
