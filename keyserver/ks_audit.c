/* ks_audit.c - hash-chained, fail-closed audit log (see ks_audit.h). */
#include "ks_audit.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
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

struct ks_audit {
    int fd;
    int regular; /* a regular file: ftruncate works */
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* durability reached (broadcast after each fdatasync) */
    pthread_cond_t cv_lead; /* announced records all written (wakes a waiting leader) */
    uint8_t prev[32];
    uint64_t seq;
    off_t size;
    uint64_t written; /* records written (seq of the last one) */
    uint64_t synced;  /* records known durable */
    int syncing;
    int broken;      /* fdatasync failed: refuse everything */
    unsigned intent; /* threads deciding a request whose record is not written yet */
    unsigned interval_ms;
    int stop;
    int has_thread;
    pthread_t thread;
    atomic_uint_fast64_t n_records;
    atomic_uint_fast64_t n_failures;
    atomic_uint_fast64_t n_syncs;
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

void ks_audit_hex32(char out[65], const uint8_t in[32])
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < 32; i++) {
        out[2 * i] = d[in[i] >> 4];
        out[2 * i + 1] = d[in[i] & 15];
    }
    out[64] = '\0';
}

/* JSON string body of in (no quotes), at most KS_AUDIT_FIELD_MAX input bytes. Returns the length
 * written, or 0 with out = "" if it does not fit (cannot happen with the sizes used here). */
static size_t json_escape(char *out, size_t cap, const char *in, size_t len)
{
    static const char d[] = "0123456789abcdef";
    size_t o = 0;
    int cut = len > KS_AUDIT_FIELD_MAX;
    if (cut)
        len = KS_AUDIT_FIELD_MAX;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (o + 7 >= cap)
            return 0;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            /* Non-ASCII bytes are recorded as \u00XX: lossless and always valid JSON. */
            memcpy(out + o, "\\u00", 4);
            out[o + 4] = d[c >> 4];
            out[o + 5] = d[c & 15];
            o += 6;
        } else {
            out[o++] = (char)c;
        }
    }
    if (cut) {
        if (o + 4 >= cap)
            return 0;
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return o;
}

static void *sync_thread(void *arg)
{
    ks_audit *a = arg;
    pthread_mutex_lock(&a->mu);
    while (!a->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)(a->interval_ms % 1000) * 1000000L;
        ts.tv_sec += a->interval_ms / 1000 + ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        (void)pthread_cond_timedwait(&a->cv, &a->mu, &ts);
        if (a->written != a->synced && !a->broken) {
            uint64_t target = a->written;
            pthread_mutex_unlock(&a->mu);
            int rc = fdatasync(a->fd);
            pthread_mutex_lock(&a->mu);
            if (rc != 0) {
                a->broken = 1;
                fprintf(stderr, "anode-keyserver: audit fdatasync failed: %s\n", strerror(errno));
            } else {
                a->synced = target;
            }
        }
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

/* Read the last line of an existing log to continue its chain. */
static ak_err load_tail(ks_audit *a, char *msg, size_t cap)
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
        (size_t)st.st_size < KS_AUDIT_LINE_MAX + 1 ? (size_t)st.st_size : KS_AUDIT_LINE_MAX + 1;
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
    size_t end = want - 1, start = end;
    while (start > 0 && buf[start - 1] != '\n')
        start--;
    if (start == 0 && want == KS_AUDIT_LINE_MAX + 1) {
        set_msg(msg, cap, "audit: the last line of the log is too long");
        goto out;
    }
    SHA256((const unsigned char *)buf + start, end - start, a->prev);
    j = cJSON_ParseWithLength(buf + start, end - start);
    const cJSON *seq = cJSON_GetObjectItemCaseSensitive(j, "seq");
    /* Range and integrality before the conversion (an out-of-range double -> integer is UB). */
    if (!cJSON_IsNumber(seq) ||
        !(seq->valuedouble >= 1 && seq->valuedouble <= 9007199254740992.0) ||
        seq->valuedouble != (double)(uint64_t)seq->valuedouble) {
        set_msg(msg, cap, "audit: the last line of the log has no valid seq");
        goto out;
    }
    a->seq = (uint64_t)seq->valuedouble;
    a->size = st.st_size;
    err = AK_OK;
out:
    cJSON_Delete(j);
    free(buf);
    return err;
}

ak_err ks_audit_open(ks_audit **out, const char *path, unsigned interval_ms, char *msg,
                     size_t msg_cap)
{
    ak_err err = AK_ERR_AUDIT;
    ks_audit *a = calloc(1, sizeof *a);
    *out = NULL;
    if (a == NULL)
        return AK_ERR_NOMEM;
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    pthread_cond_init(&a->cv_lead, NULL);
    a->interval_ms = interval_ms;
    a->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (a->fd < 0) {
        set_msg(msg, msg_cap, "audit: cannot open \"%s\": %s", path, strerror(errno));
        goto out;
    }
    if ((err = load_tail(a, msg, msg_cap)) != AK_OK)
        goto out;
    if (interval_ms > 0) {
        if (pthread_create(&a->thread, NULL, sync_thread, a) != 0) {
            set_msg(msg, msg_cap, "audit: cannot start the sync thread");
            err = AK_ERR_AUDIT;
            goto out;
        }
        a->has_thread = 1;
    }
    *out = a;
    a = NULL;
    err = AK_OK;
out:
    ks_audit_close(a);
    return err;
}

void ks_audit_close(ks_audit *a)
{
    if (a == NULL)
        return;
    if (a->has_thread) {
        pthread_mutex_lock(&a->mu);
        a->stop = 1;
        pthread_cond_broadcast(&a->cv);
        pthread_mutex_unlock(&a->mu);
        pthread_join(a->thread, NULL);
    }
    if (a->fd >= 0) {
        (void)fdatasync(a->fd);
        close(a->fd);
    }
    pthread_cond_destroy(&a->cv);
    pthread_cond_destroy(&a->cv_lead);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

void ks_audit_last(ks_audit *a, uint64_t *seq, uint8_t hash[32])
{
    pthread_mutex_lock(&a->mu);
    *seq = a->seq;
    memcpy(hash, a->prev, 32);
    pthread_mutex_unlock(&a->mu);
}

uint64_t ks_audit_records(const ks_audit *a)
{
    return atomic_load(&((ks_audit *)a)->n_records);
}

uint64_t ks_audit_syncs(const ks_audit *a)
{
    return atomic_load(&((ks_audit *)a)->n_syncs);
}

uint64_t ks_audit_failures(const ks_audit *a)
{
    return atomic_load(&((ks_audit *)a)->n_failures);
}

/* Format the line for seq/prev (under the lock); returns its length without '\n', 0 on error. */
static size_t format_line(char *line, size_t cap, const ks_audit *a, const ks_audit_rec *r)
{
    char cn[KS_AUDIT_FIELD_MAX * 6 + 8], key[KS_AUDIT_FIELD_MAX * 6 + 8];
    char rid[KS_AUDIT_FIELD_MAX * 6 + 8], fp[65], prev[65], dg[2 * 64 + 1], ts[40];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    size_t tl = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + tl, sizeof ts - tl, ".%03ldZ", now.tv_nsec / 1000000L);
    json_escape(cn, sizeof cn, r->client_cn ? r->client_cn : "",
                r->client_cn ? strlen(r->client_cn) : 0);
    json_escape(key, sizeof key, r->key_id ? r->key_id : "", r->key_id ? r->key_id_len : 0);
    json_escape(rid, sizeof rid, r->request_id ? r->request_id : "",
                r->request_id ? r->request_id_len : 0);
    if (r->client_fp != NULL)
        ks_audit_hex32(fp, r->client_fp);
    else
        fp[0] = '\0';
    ks_audit_hex32(prev, a->prev);
    size_t dl = r->digest != NULL ? (r->digest_len > 64 ? 64 : r->digest_len) : 0;
    for (size_t i = 0; i < dl; i++)
        snprintf(dg + 2 * i, 3, "%02x", r->digest[i]);
    dg[2 * dl] = '\0';
    int n = snprintf(line, cap,
                     "{\"seq\":%llu,\"time\":\"%s\",\"client_cn\":\"%s\",\"client_fp\":\"%s\","
                     "\"key_id\":\"%s\",\"digest\":\"%s\",\"request_id\":\"%s\",\"outcome\":\"%s\","
                     "\"latency_us\":%llu,\"prev\":\"%s\"}\n",
                     (unsigned long long)a->seq + 1, ts, cn, fp, key, dg, rid,
                     r->outcome ? r->outcome : "", (unsigned long long)r->latency_us, prev);
    if (n <= 0 || (size_t)n >= cap)
        return 0;
    return (size_t)n - 1;
}

ak_err ks_audit_write(ks_audit *a, const ks_audit_rec *rec, uint64_t *ticket)
{
    ak_err err = AK_ERR_AUDIT;
    char line[KS_AUDIT_LINE_MAX + 1];
    pthread_mutex_lock(&a->mu);
    /* The last announced record wakes a leader waiting to group it (one wake-up, not one per
     * record: each wake-up is a context switch on the signing path). */
    if (a->intent > 0 && --a->intent == 0)
        pthread_cond_signal(&a->cv_lead);
    if (a->broken)
        goto out;
    size_t len = format_line(line, sizeof line, a, rec);
    if (len == 0)
        goto out;
    /* One write() of the whole line: O_APPEND keeps concurrent writers of other processes from
     * interleaving, and a short write is cut back so no partial line remains. */
    ssize_t w = write(a->fd, line, len + 1);
    if (w != (ssize_t)(len + 1)) {
        int e = w < 0 ? errno : ENOSPC;
        /* A partial line we cannot remove (truncate failed, or a pipe/FIFO/device where it
         * is already out): stop writing behind it, the chain would not verify. */
        if (w > 0 && !a->regular) {
            a->broken = 1;
            fprintf(stderr, "anode-keyserver: audit: partial line on a non-regular file\n");
        } else if (w > 0 && ftruncate(a->fd, a->size) != 0) {
            a->broken = 1;
            fprintf(stderr, "anode-keyserver: audit truncate failed: %s\n", strerror(errno));
        }
        fprintf(stderr, "anode-keyserver: audit write failed: %s\n", strerror(e));
        goto out;
    }
    a->size += (off_t)w;
    SHA256((const unsigned char *)line, len, a->prev);
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

ak_err ks_audit_sync(ks_audit *a, uint64_t ticket)
{
    ak_err err = AK_OK;
    if (a->interval_ms > 0)
        return AK_OK;
    pthread_mutex_lock(&a->mu);
    /* Group commit: one thread syncs for everything written so far, others wait on it. */
    while (a->synced < ticket && !a->broken) {
        if (!a->syncing) {
            a->syncing = 1;
            /* Commit delay (group commit): if other threads are about to write a record (they
             * are in the HSM call), wait up to KS_AUDIT_COMMIT_DELAY_US so one fdatasync covers
             * them too. Costs at most that much latency; saves an fdatasync per record. */
            if (a->intent > 0) {
                struct timespec until;
                clock_gettime(CLOCK_REALTIME, &until);
                until.tv_nsec += KS_AUDIT_COMMIT_DELAY_US * 1000L;
                until.tv_sec += until.tv_nsec / 1000000000L;
                until.tv_nsec %= 1000000000L;
                while (a->intent > 0 && !a->broken &&
                       pthread_cond_timedwait(&a->cv_lead, &a->mu, &until) == 0)
                    ;
            }
            uint64_t target = a->written;
            pthread_mutex_unlock(&a->mu);
            int rc = fdatasync(a->fd);
            int e = errno;
            atomic_fetch_add(&a->n_syncs, 1);
            pthread_mutex_lock(&a->mu);
            a->syncing = 0;
            if (rc != 0) {
                a->broken = 1;
                fprintf(stderr, "anode-keyserver: audit fdatasync failed: %s\n", strerror(e));
            } else if (target > a->synced) {
                a->synced = target;
            }
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

void ks_audit_intent(ks_audit *a)
{
    if (a->interval_ms > 0)
        return;
    pthread_mutex_lock(&a->mu);
    a->intent++;
    pthread_mutex_unlock(&a->mu);
}

void ks_audit_intent_cancel(ks_audit *a, size_t n)
{
    pthread_mutex_lock(&a->mu);
    a->intent = n >= a->intent ? 0 : a->intent - (unsigned)n;
    if (a->intent == 0)
        pthread_cond_signal(&a->cv_lead);
    pthread_mutex_unlock(&a->mu);
}

ak_err ks_audit_append(ks_audit *a, const ks_audit_rec *rec)
{
    uint64_t ticket = 0;
    ak_err err = ks_audit_write(a, rec, &ticket);
    if (err == AK_OK)
        err = ks_audit_sync(a, ticket);
    return err;
}

ak_err ks_audit_verify_file(const char *path, uint64_t *records, char *msg, size_t msg_cap)
{
    uint8_t last[32];
    return ks_audit_verify_file_last(path, records, last, msg, msg_cap);
}

ak_err ks_audit_verify_file_last(const char *path, uint64_t *records, uint8_t last[32], char *msg,
                                 size_t msg_cap)
{
    ak_err err = AK_ERR_AUDIT;
    uint8_t prev[32] = {0};
    char prev_hex[65];
    uint64_t n = 0;
    char *line = malloc(KS_AUDIT_LINE_MAX + 2);
    FILE *f = fopen(path, "re");
    cJSON *j = NULL;
    *records = 0;
    memset(last, 0, 32);
    if (line == NULL) {
        err = AK_ERR_NOMEM;
        goto out;
    }
    if (f == NULL) {
        set_msg(msg, msg_cap, "cannot open \"%s\": %s", path, strerror(errno));
        err = AK_ERR_IO;
        goto out;
    }
    while (fgets(line, KS_AUDIT_LINE_MAX + 2, f) != NULL) {
        size_t len = strlen(line);
        n++;
        if (len == 0 || line[len - 1] != '\n') {
            set_msg(msg, msg_cap, "line %llu: %s", (unsigned long long)n,
                    feof(f) ? "incomplete (no newline)" : "too long");
            goto out;
        }
        len--;
        j = cJSON_ParseWithLength(line, len);
        const cJSON *seq = cJSON_GetObjectItemCaseSensitive(j, "seq");
        const cJSON *pv = cJSON_GetObjectItemCaseSensitive(j, "prev");
        if (!cJSON_IsObject(j) || !cJSON_IsNumber(seq) || !cJSON_IsString(pv)) {
            set_msg(msg, msg_cap, "line %llu: not an audit record", (unsigned long long)n);
            goto out;
        }
        ks_audit_hex32(prev_hex, prev);
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
        cJSON_Delete(j);
        j = NULL;
        SHA256((const unsigned char *)line, len, prev);
    }
    if (ferror(f)) {
        set_msg(msg, msg_cap, "read error on \"%s\"", path);
        err = AK_ERR_IO;
        goto out;
    }
    *records = n;
    memcpy(last, prev, 32);
    err = AK_OK;
out:
    cJSON_Delete(j);
    if (f != NULL)
        fclose(f);
    free(line);
    return err;
}
