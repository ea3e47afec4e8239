/* rt_audit.c - hash-chained, fail-closed audit log with an optional anchor (see rt_audit.h). */
#include "rt_audit.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ak_hex.h"

#define PATH_CAP 4096

struct rt_audit {
    int fd;
    int regular; /* a regular file: ftruncate works */
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* durability reached (broadcast after each fdatasync) */
    pthread_cond_t cv_lead; /* announced records all written (wakes a waiting leader) */
    pthread_cond_t cv_bg;   /* wakes the background thread (stop) */
    uint8_t prev[32];
    uint64_t seq;
    off_t size;
    uint64_t written; /* records written since open */
    uint64_t synced;  /* ... known durable */
    uint64_t synced_seq;
    uint8_t synced_hash[32]; /* the last durable record: what the anchor names */
    uint64_t anchored_seq;   /* what the anchor file says now */
    int syncing;
    int broken;      /* fdatasync or truncate failed: refuse everything */
    unsigned intent; /* threads deciding a request whose record is not written yet */
    unsigned interval_ms;
    unsigned anchor_ms;
    int stop;
    int opened; /* open succeeded: only then may close touch the anchor */
    int has_thread;
    pthread_t thread;
    char name[64];
    char anchor[PATH_CAP];
    atomic_uint_fast64_t n_records;
    atomic_uint_fast64_t n_failures;
    atomic_uint_fast64_t n_syncs;
    atomic_uint_fast64_t n_anchor_failures;
};

__attribute__((format(printf, 3, 4))) static void set_msg(char *msg, size_t cap, const char *fmt,
                                                          ...)
{
    if (msg == NULL || cap == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, cap, fmt, ap);
    va_end(ap);
}

void rt_audit_hex32(char out[65], const uint8_t in[32])
{
    ak_hex_bare(out, in, 32);
}

static int unhex32(uint8_t out[32], const char *s)
{
    for (size_t i = 0; i < 64; i++) {
        char c = s[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0)
            return 0;
        if (i % 2 == 0)
            out[i / 2] = (uint8_t)(v << 4);
        else
            out[i / 2] |= (uint8_t)v;
    }
    return s[64] == '\0';
}

static void rfc3339_now(char ts[40])
{
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    size_t tl = strftime(ts, 40, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + tl, 40 - tl, ".%03ldZ", now.tv_nsec / 1000000L);
}

/* A seq member: a JSON number that is an integer in 0..2^53. */
static int seq_of(const cJSON *v, uint64_t *out)
{
    /* Range and integrality before the conversion (an out-of-range double -> integer is UB). */
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble <= 9007199254740992.0) ||
        v->valuedouble != (double)(uint64_t)v->valuedouble)
        return 0;
    *out = (uint64_t)v->valuedouble;
    return 1;
}

ak_err rt_audit_anchor_parse(const char *text, size_t len, uint64_t *seq, uint8_t hash[32])
{
    cJSON *j = cJSON_ParseWithLength(text, len);
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(j, "hash");
    ak_err err = AK_ERR_AUDIT;
    if (cJSON_IsObject(j) && seq_of(cJSON_GetObjectItemCaseSensitive(j, "seq"), seq) &&
        cJSON_IsString(h) && strlen(h->valuestring) == 64 && unhex32(hash, h->valuestring))
        err = AK_OK;
    cJSON_Delete(j);
    return err;
}

/* Read an anchor file. AK_ERR_NOT_FOUND-like: *exists = 0 when there is none. */
static ak_err anchor_read(const char *path, int *exists, uint64_t *seq, uint8_t hash[32], char *msg,
                          size_t cap)
{
    char buf[512];
    ak_err err = AK_ERR_IO;
    *exists = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return AK_OK;
        set_msg(msg, cap, "cannot open the anchor \"%s\": %s", path, strerror(errno));
        return AK_ERR_IO;
    }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    if (n < 0) {
        set_msg(msg, cap, "cannot read the anchor \"%s\": %s", path, strerror(errno));
        goto out;
    }
    *exists = 1;
    err = rt_audit_anchor_parse(buf, (size_t)n, seq, hash);
    if (err != AK_OK)
        set_msg(msg, cap, "the anchor \"%s\" is malformed", path);
out:
    close(fd);
    return err;
}

/* Replace the anchor file with seq/hash: tmp file, fdatasync, rename. */
static int anchor_write(const rt_audit *a, uint64_t seq, const uint8_t hash[32])
{
    char tmp[PATH_CAP + 8], hex[65], ts[40], line[192];
    int ok = 0;
    rt_audit_hex32(hex, hash);
    rfc3339_now(ts);
    int n = snprintf(line, sizeof line, "{\"seq\":%llu,\"hash\":\"%s\",\"time\":\"%s\"}\n",
                     (unsigned long long)seq, hex, ts);
    snprintf(tmp, sizeof tmp, "%s.tmp", a->anchor);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return 0;
    ok = n > 0 && write(fd, line, (size_t)n) == (ssize_t)n && fdatasync(fd) == 0;
    close(fd);
    ok = ok && rename(tmp, a->anchor) == 0;
    if (!ok)
        (void)unlink(tmp);
    return ok;
}

/* Under a->mu, released around the file I/O: bring the anchor up to the last durable record. */
static void anchor_update_locked(rt_audit *a)
{
    if (a->anchor[0] == '\0' || a->synced_seq == a->anchored_seq)
        return;
    uint64_t seq = a->synced_seq;
    uint8_t hash[32];
    memcpy(hash, a->synced_hash, 32);
    pthread_mutex_unlock(&a->mu);
    int ok = anchor_write(a, seq, hash);
    pthread_mutex_lock(&a->mu);
    if (ok) {
        a->anchored_seq = seq;
    } else {
        atomic_fetch_add(&a->n_anchor_failures, 1);
        fprintf(stderr, "%s: audit anchor \"%s\" not written: %s\n", a->name, a->anchor,
                strerror(errno));
    }
}

/* Under a->mu: records up to written are durable now. */
static void mark_synced(rt_audit *a, uint64_t target, uint64_t seq, const uint8_t hash[32])
{
    if (target > a->synced) {
        a->synced = target;
        a->synced_seq = seq;
        memcpy(a->synced_hash, hash, 32);
    }
}

/* fdatasync of everything written so far, under a->mu (released around the call). */
static int sync_now_locked(rt_audit *a)
{
    uint64_t target = a->written, seq = a->seq;
    uint8_t hash[32];
    memcpy(hash, a->prev, 32);
    pthread_mutex_unlock(&a->mu);
    int rc = fdatasync(a->fd);
    int e = errno;
    pthread_mutex_lock(&a->mu);
    if (rc != 0) {
        a->broken = 1;
        fprintf(stderr, "%s: audit fdatasync failed: %s\n", a->name, strerror(e));
        return 0;
    }
    mark_synced(a, target, seq, hash);
    return 1;
}

static void add_ms(struct timespec *ts, unsigned ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    ts->tv_sec += ms / 1000 + ts->tv_nsec / 1000000000L;
    ts->tv_nsec %= 1000000000L;
}

/* Background: periodic fdatasync (interval mode) and anchor updates. */
static void *bg_thread(void *arg)
{
    rt_audit *a = arg;
    unsigned tick = a->interval_ms > 0 ? a->interval_ms : a->anchor_ms;
    if (a->anchor[0] != '\0' && a->anchor_ms < tick)
        tick = a->anchor_ms;
    uint64_t since_anchor = 0;
    pthread_mutex_lock(&a->mu);
    while (!a->stop) {
        struct timespec ts;
        add_ms(&ts, tick);
        (void)pthread_cond_timedwait(&a->cv_bg, &a->mu, &ts);
        if (a->stop)
            break;
        if (a->interval_ms > 0 && a->written != a->synced && !a->broken)
            (void)sync_now_locked(a);
        since_anchor += tick;
        if (since_anchor >= a->anchor_ms) {
            since_anchor = 0;
            anchor_update_locked(a);
        }
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

/* The last line of buf[0..n) (which ends with '\n'): [*start, *end). 0 if too long. */
static int last_line(const char *buf, size_t n, size_t *start, size_t *end)
{
    *end = n - 1;
    *start = *end;
    while (*start > 0 && buf[*start - 1] != '\n')
        (*start)--;
    return !(*start == 0 && n == RT_AUDIT_LINE_MAX + 1);
}

/* Read the last line of an existing log to continue its chain. */
static ak_err load_tail(rt_audit *a, char *msg, size_t cap)
{
    ak_err err = AK_ERR_AUDIT;
    struct stat st;
    char *buf = NULL;
    cJSON *j = NULL;
    if (fstat(a->fd, &st) != 0) {
        set_msg(msg, cap, "audit: fstat: %s", strerror(errno));
        goto out;
    }
    a->regular = S_ISREG(st.st_mode);
    if (!a->regular || st.st_size == 0) {
        err = AK_OK;
        goto out;
    }
    size_t want =
        (size_t)st.st_size < RT_AUDIT_LINE_MAX + 1 ? (size_t)st.st_size : RT_AUDIT_LINE_MAX + 1;
    buf = malloc(want + 1);
    if (buf == NULL) {
        err = AK_ERR_NOMEM;
        goto out;
    }
    ssize_t r = pread(a->fd, buf, want, st.st_size - (off_t)want);
    if (r != (ssize_t)want) {
        set_msg(msg, cap, "audit: cannot read the end of the log");
        goto out;
    }
    if (buf[want - 1] != '\n') {
        set_msg(msg, cap,
                "audit: the last line of the log is incomplete; repair or rotate the "
                "file (check it with anode-keytool audit-verify)");
        goto out;
    }
    size_t start, end;
    if (!last_line(buf, want, &start, &end)) {
        set_msg(msg, cap, "audit: the last line of the log is too long");
        goto out;
    }
    SHA256((const unsigned char *)buf + start, end - start, a->prev);
    j = cJSON_ParseWithLength(buf + start, end - start);
    if (!seq_of(cJSON_GetObjectItemCaseSensitive(j, "seq"), &a->seq) || a->seq == 0) {
        set_msg(msg, cap, "audit: the last line of the log has no valid seq");
        goto out;
    }
    a->size = st.st_size;
    err = AK_OK;
out:
    cJSON_Delete(j);
    free(buf);
    return err;
}

/* An existing anchor must not name a record beyond the log's end (or a different last one). */
static ak_err check_anchor_at_open(rt_audit *a, char *msg, size_t cap)
{
    int exists = 0;
    uint64_t seq = 0;
    uint8_t hash[32];
    ak_err err = anchor_read(a->anchor, &exists, &seq, hash, msg, cap);
    if (err != AK_OK || !exists)
        return err == AK_OK ? AK_OK : AK_ERR_AUDIT;
    if (seq > a->seq || (seq == a->seq && CRYPTO_memcmp(hash, a->prev, 32) != 0)) {
        set_msg(msg, cap,
                "audit: the log ends at seq %llu but its anchor \"%s\" names seq %llu%s: "
                "records were removed (check with anode-keytool audit-verify --anchor)",
                (unsigned long long)a->seq, a->anchor, (unsigned long long)seq,
                seq == a->seq ? " with another hash" : "");
        return AK_ERR_AUDIT;
    }
    a->anchored_seq = seq;
    return AK_OK;
}

ak_err rt_audit_open(rt_audit **out, const rt_audit_opts *o, char *msg, size_t msg_cap)
{
    ak_err err = AK_ERR_AUDIT;
    rt_audit *a = calloc(1, sizeof *a);
    *out = NULL;
    if (a == NULL)
        return AK_ERR_NOMEM;
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    pthread_cond_init(&a->cv_lead, NULL);
    pthread_cond_init(&a->cv_bg, NULL);
    a->interval_ms = o->interval_ms;
    a->anchor_ms = o->anchor_interval_ms > 0 ? o->anchor_interval_ms : RT_AUDIT_ANCHOR_DEFAULT_MS;
    snprintf(a->name, sizeof a->name, "%s", o->log_name ? o->log_name : "audit");
    if (o->anchor_path != NULL && strlen(o->anchor_path) >= sizeof a->anchor) {
        set_msg(msg, msg_cap, "audit: the anchor path is too long");
        a->fd = -1;
        goto out;
    }
    snprintf(a->anchor, sizeof a->anchor, "%s", o->anchor_path ? o->anchor_path : "");
    a->fd = open(o->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (a->fd < 0) {
        set_msg(msg, msg_cap, "audit: cannot open \"%s\": %s", o->path, strerror(errno));
        goto out;
    }
    if ((err = load_tail(a, msg, msg_cap)) != AK_OK)
        goto out;
    /* What is in the file at open counts as durable (it was there before us). */
    a->synced_seq = a->seq;
    memcpy(a->synced_hash, a->prev, 32);
    if (a->anchor[0] != '\0' && (err = check_anchor_at_open(a, msg, msg_cap)) != AK_OK)
        goto out;
    if (a->interval_ms > 0 || a->anchor[0] != '\0') {
        if (pthread_create(&a->thread, NULL, bg_thread, a) != 0) {
            set_msg(msg, msg_cap, "audit: cannot start the sync thread");
            err = AK_ERR_AUDIT;
            goto out;
        }
        a->has_thread = 1;
    }
    a->opened = 1;
    *out = a;
    a = NULL;
    err = AK_OK;
out:
    rt_audit_close(a);
    return err;
}

void rt_audit_close(rt_audit *a)
{
    if (a == NULL)
        return;
    if (a->has_thread) {
        pthread_mutex_lock(&a->mu);
        a->stop = 1;
        pthread_cond_broadcast(&a->cv_bg);
        pthread_mutex_unlock(&a->mu);
        pthread_join(a->thread, NULL);
    }
    if (a->fd >= 0) {
        pthread_mutex_lock(&a->mu);
        if (!a->broken && a->written != a->synced)
            (void)sync_now_locked(a);
        /* A log refused at open (e.g. shorter than its anchor) must not move the anchor. */
        if (a->opened)
            anchor_update_locked(a);
        pthread_mutex_unlock(&a->mu);
        close(a->fd);
    }
    pthread_cond_destroy(&a->cv);
    pthread_cond_destroy(&a->cv_lead);
    pthread_cond_destroy(&a->cv_bg);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

void rt_audit_last(rt_audit *a, uint64_t *seq, uint8_t hash[32])
{
    pthread_mutex_lock(&a->mu);
    *seq = a->seq;
    memcpy(hash, a->prev, 32);
    pthread_mutex_unlock(&a->mu);
}

uint64_t rt_audit_records(const rt_audit *a)
{
    return atomic_load(&((rt_audit *)a)->n_records);
}

uint64_t rt_audit_syncs(const rt_audit *a)
{
    return atomic_load(&((rt_audit *)a)->n_syncs);
}

uint64_t rt_audit_failures(const rt_audit *a)
{
    return atomic_load(&((rt_audit *)a)->n_failures);
}

uint64_t rt_audit_anchor_failures(const rt_audit *a)
{
    return atomic_load(&((rt_audit *)a)->n_anchor_failures);
}

/* Frame body with seq/time/prev (under the lock); its length without '\n', 0 if too long. */
static size_t frame_line(char *line, size_t cap, const rt_audit *a, const char *body, size_t len)
{
    char prev[65], ts[40];
    rfc3339_now(ts);
    rt_audit_hex32(prev, a->prev);
    if (len > (size_t)RT_AUDIT_LINE_MAX)
        return 0;
    int n = snprintf(line, cap, "{\"seq\":%llu,\"time\":\"%s\",%.*s,\"prev\":\"%s\"}\n",
                     (unsigned long long)a->seq + 1, ts, (int)len, body, prev);
    if (n <= 0 || (size_t)n >= cap)
        return 0;
    return (size_t)n - 1;
}

ak_err rt_audit_write(rt_audit *a, const char *body, size_t len, uint64_t *ticket)
{
    ak_err err = AK_ERR_AUDIT;
    char line[RT_AUDIT_LINE_MAX + 1];
    pthread_mutex_lock(&a->mu);
    /* The last announced record wakes a leader waiting to group it (one wake-up, not one per
     * record: each wake-up is a context switch on the signing path). */
    if (a->intent > 0 && --a->intent == 0)
        pthread_cond_signal(&a->cv_lead);
    if (a->broken)
        goto out;
    size_t n = frame_line(line, sizeof line, a, body, len);
    if (n == 0) {
        fprintf(stderr, "%s: audit record longer than %d bytes refused\n", a->name,
                RT_AUDIT_LINE_MAX);
        goto out;
    }
    /* One write() of the whole line: O_APPEND keeps concurrent writers of other processes from
     * interleaving, and a short write is cut back so no partial line remains. */
    ssize_t w = write(a->fd, line, n + 1);
    if (w != (ssize_t)(n + 1)) {
        int e = w < 0 ? errno : ENOSPC;
        /* A partial line we cannot remove (truncate failed, or a pipe/FIFO/device where it
         * is already out): stop writing behind it, the chain would not verify. */
        if (w > 0 && !a->regular) {
            a->broken = 1;
            fprintf(stderr, "%s: audit: partial line on a non-regular file\n", a->name);
        } else if (w > 0 && ftruncate(a->fd, a->size) != 0) {
            a->broken = 1;
            fprintf(stderr, "%s: audit truncate failed: %s\n", a->name, strerror(errno));
        }
        fprintf(stderr, "%s: audit write failed: %s\n", a->name, strerror(e));
        goto out;
    }
    a->size += (off_t)w;
    SHA256((const unsigned char *)line, n, a->prev);
    a->seq++;
    *ticket = ++a->written;
    err = AK_OK;
out:
    pthread_mutex_unlock(&a->mu);
    if (err == AK_OK)
        atomic_fetch_add(&a->n_records, 1);
    else
        atomic_fetch_add(&a->n_failures, 1);
    return err;
}

ak_err rt_audit_sync(rt_audit *a, uint64_t ticket)
{
    ak_err err = AK_OK;
    if (a->interval_ms > 0)
        return AK_OK;
    pthread_mutex_lock(&a->mu);
    /* Group commit: one thread syncs for everything written so far, others wait on it. */
    while (a->synced < ticket && !a->broken) {
        if (!a->syncing) {
            a->syncing = 1;
            /* Commit delay: if other threads are about to write a record, wait up to
             * RT_AUDIT_COMMIT_DELAY_US so one fdatasync covers them too. */
            if (a->intent > 0) {
                struct timespec until;
                clock_gettime(CLOCK_REALTIME, &until);
                until.tv_nsec += RT_AUDIT_COMMIT_DELAY_US * 1000L;
                until.tv_sec += until.tv_nsec / 1000000000L;
                until.tv_nsec %= 1000000000L;
                while (a->intent > 0 && !a->broken &&
                       pthread_cond_timedwait(&a->cv_lead, &a->mu, &until) == 0)
                    ;
            }
            atomic_fetch_add(&a->n_syncs, 1);
            (void)sync_now_locked(a);
            a->syncing = 0;
            pthread_cond_broadcast(&a->cv);
        } else {
            pthread_cond_wait(&a->cv, &a->mu);
        }
    }
    if (a->synced < ticket)
        err = AK_ERR_AUDIT;
    pthread_mutex_unlock(&a->mu);
    if (err != AK_OK)
        atomic_fetch_add(&a->n_failures, 1);
    return err;
}

void rt_audit_intent(rt_audit *a)
{
    if (a->interval_ms > 0)
        return;
    pthread_mutex_lock(&a->mu);
    a->intent++;
    pthread_mutex_unlock(&a->mu);
}

void rt_audit_intent_cancel(rt_audit *a, size_t n)
{
    pthread_mutex_lock(&a->mu);
    a->intent = n >= a->intent ? 0 : a->intent - (unsigned)n;
    if (a->intent == 0)
        pthread_cond_signal(&a->cv_lead);
    pthread_mutex_unlock(&a->mu);
}

ak_err rt_audit_append(rt_audit *a, const char *body, size_t len)
{
    uint64_t ticket = 0;
    ak_err err = rt_audit_write(a, body, len, &ticket);
    if (err == AK_OK)
        err = rt_audit_sync(a, ticket);
    return err;
}

/* One line of the chain: its seq and prev must follow. */
static ak_err check_line(const char *line, size_t len, uint64_t n, const uint8_t prev[32],
                         char *msg, size_t msg_cap)
{
    char prev_hex[65];
    ak_err err = AK_ERR_AUDIT;
    cJSON *j = cJSON_ParseWithLength(line, len);
    const cJSON *seq = cJSON_GetObjectItemCaseSensitive(j, "seq");
    const cJSON *pv = cJSON_GetObjectItemCaseSensitive(j, "prev");
    if (!cJSON_IsObject(j) || !cJSON_IsNumber(seq) || !cJSON_IsString(pv)) {
        set_msg(msg, msg_cap, "line %llu: not an audit record", (unsigned long long)n);
        goto out;
    }
    rt_audit_hex32(prev_hex, prev);
    if (strcmp(pv->valuestring, prev_hex) != 0) {
        set_msg(msg, msg_cap,
                "line %llu: prev hash does not match line %llu (a line was edited, "
                "deleted or moved)",
                (unsigned long long)n, (unsigned long long)(n - 1));
        goto out;
    }
    if (seq->valuedouble != (double)n) {
        set_msg(msg, msg_cap, "line %llu: seq %.0f out of order", (unsigned long long)n,
                seq->valuedouble);
        goto out;
    }
    err = AK_OK;
out:
    cJSON_Delete(j);
    return err;
}

ak_err rt_audit_verify(const char *path, const char *anchor_path, rt_audit_verdict *v, char *msg,
                       size_t msg_cap)
{
    ak_err err = AK_ERR_AUDIT;
    uint8_t prev[32] = {0}, a_hash[32] = {0};
    uint64_t n = 0, a_seq = 0;
    int a_exists = 0, a_seen = 0;
    char *line = malloc(RT_AUDIT_LINE_MAX + 2);
    FILE *f = NULL;
    memset(v, 0, sizeof *v);
    if (line == NULL) {
        err = AK_ERR_NOMEM;
        goto out;
    }
    if (anchor_path != NULL) {
        if ((err = anchor_read(anchor_path, &a_exists, &a_seq, a_hash, msg, msg_cap)) != AK_OK)
            goto out;
        err = AK_ERR_IO;
        if (!a_exists) {
            set_msg(msg, msg_cap, "cannot open the anchor \"%s\": %s", anchor_path,
                    strerror(ENOENT));
            goto out;
        }
        a_seen = a_seq == 0;
    }
    f = fopen(path, "re");
    if (f == NULL) {
        set_msg(msg, msg_cap, "cannot open \"%s\": %s", path, strerror(errno));
        err = AK_ERR_IO;
        goto out;
    }
    err = AK_ERR_AUDIT;
    while (fgets(line, RT_AUDIT_LINE_MAX + 2, f) != NULL) {
        size_t len = strlen(line);
        n++;
        if (len == 0 || line[len - 1] != '\n') {
            set_msg(msg, msg_cap, "line %llu: %s", (unsigned long long)n,
                    feof(f) ? "incomplete (no newline)" : "too long");
            goto out;
        }
        len--;
        if (check_line(line, len, n, prev, msg, msg_cap) != AK_OK)
            goto out;
        SHA256((const unsigned char *)line, len, prev);
        if (anchor_path != NULL && n == a_seq) {
            if (CRYPTO_memcmp(prev, a_hash, 32) != 0) {
                set_msg(msg, msg_cap,
                        "line %llu: its hash differs from the anchor's (the log was "
                        "rewritten up to the anchored record)",
                        (unsigned long long)n);
                goto out;
            }
            a_seen = 1;
        }
    }
    if (ferror(f)) {
        set_msg(msg, msg_cap, "read error on \"%s\"", path);
        err = AK_ERR_IO;
        goto out;
    }
    if (anchor_path != NULL && !a_seen) {
        set_msg(msg, msg_cap,
                "the log ends at seq %llu but the anchor names seq %llu: records at the end "
                "were deleted (truncated)",
                (unsigned long long)n, (unsigned long long)a_seq);
        goto out;
    }
    v->records = n;
    memcpy(v->last, prev, 32);
    v->anchored = anchor_path != NULL;
    v->anchor_seq = a_seq;
    err = AK_OK;
out:
    if (f != NULL)
        fclose(f);
    free(line);
    return err;
}
