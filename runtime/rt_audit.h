/*
 * rt_audit.h - the append-only, hash-chained, fail-closed audit log of both daemons: one
 * implementation of the record frame, the chain, group-committed fdatasync, the optional
 * external anchor and verification. What a record says is the caller's business (the key
 * server's ks_audit.c, the connector's cn_audit.c); this module frames and chains it.
 *
 * One JSON line per record:
 *   {"seq":N,"time":"<RFC 3339 UTC, ms>",<the caller's members>,"prev":"<hex SHA-256 of the
 *    previous line's bytes, without its newline>"}
 * The first line of a file has prev = 64 zeros and seq = 1. rt_audit_verify() recomputes the
 * chain, so an edited, deleted (except at the end) or reordered line is detected. Deleting
 * lines at the END leaves a valid shorter chain: only an anchor kept elsewhere shows it.
 *
 * Anchor (optional, anchor_path): a background thread rewrites a small file with the seq and
 * SHA-256 of the last DURABLE record (write to "<anchor>.tmp", fdatasync, rename) every
 * anchor_interval_ms and at close. rt_audit_verify() given the anchor fails when the log holds
 * fewer records than the anchor names or when that record's hash differs: deleting records up
 * to the last anchor update is detected; records written after it (at most anchor_interval_ms
 * of them) can be removed unnoticed. rt_audit_open() refuses a log that is shorter than its
 * anchor or whose last line differs from an anchor naming that seq. The anchor only helps
 * when the attacker who can edit the log cannot also edit it (another file system, a copy
 * shipped off the host). An anchor that cannot be written is logged and counted; it does not
 * stop signing.
 *
 * Writing: each line goes out in one write() of the whole line (O_APPEND); a short or failed
 * write is truncated back (ftruncate) so no partial line is ever left, and rt_audit_write()
 * fails: the caller must then not release what the record covers. On a non-regular file (a
 * pipe, FIFO or device: nothing to truncate) a short write fails the log for good.
 * Durability: with interval_ms == 0 the record is on disk (fdatasync, group-committed across
 * threads) before rt_audit_sync()/append() returns AK_OK; otherwise a background thread syncs
 * every interval_ms. An fdatasync failure fails the log for good (the kernel may have dropped
 * the dirty pages): every later write fails.
 *
 * Thread safety: every function but open/close may be called from any number of threads.
 * Ownership: rt_audit_open() returns a log freed by rt_audit_close() (NULL allowed); strings
 * in rt_audit_opts are copied.
 * Limits: a line at most RT_AUDIT_LINE_MAX bytes (a longer record is refused, AK_ERR_AUDIT);
 * rt_audit_json_str() caps one string field at RT_AUDIT_FIELD_MAX input bytes ("..." marks
 * the cut, never in a way that breaks the JSON).
 */
#ifndef RT_AUDIT_H
#define RT_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "ak_err.h"

#define RT_AUDIT_FIELD_MAX 256
#define RT_AUDIT_LINE_MAX  8192
/* Output capacity that always holds one rt_audit_json_str() of a capped field. */
#define RT_AUDIT_FIELD_CAP (RT_AUDIT_FIELD_MAX * 6 + 8)
/* How long a thread about to fdatasync waits for announced records (group commit). */
#define RT_AUDIT_COMMIT_DELAY_US   1000
#define RT_AUDIT_ANCHOR_DEFAULT_MS 1000u

typedef struct rt_audit rt_audit;

typedef struct {
    const char *path;            /* the log (created 0600 if absent) */
    unsigned interval_ms;        /* 0: fdatasync before each record is acknowledged */
    const char *anchor_path;     /* NULL or "": no anchor */
    unsigned anchor_interval_ms; /* 0: RT_AUDIT_ANCHOR_DEFAULT_MS */
    const char *log_name;        /* prefix of stderr messages, e.g. "anode-keyserver" */
} rt_audit_opts;

AK_WUR ak_err rt_audit_open(rt_audit **out, const rt_audit_opts *o, char *msg, size_t msg_cap);
void rt_audit_close(rt_audit *a); /* NULL allowed; syncs and writes the anchor a last time */

/*
 * Write one record whose members (JSON object members without the braces, e.g.
 * "\"k\":\"v\",\"n\":1") are body[0..len); *ticket identifies it for rt_audit_sync(). Nothing
 * the record covers may be released before rt_audit_sync() returned AK_OK.
 */
AK_WUR ak_err rt_audit_write(rt_audit *a, const char *body, size_t len, uint64_t *ticket);
/* Wait until everything up to ticket is durable (no-op with an interval). */
AK_WUR ak_err rt_audit_sync(rt_audit *a, uint64_t ticket);
/* write + sync. */
AK_WUR ak_err rt_audit_append(rt_audit *a, const char *body, size_t len);

/* Announce a record about to be written (before the slow part, e.g. the HSM call): a thread
 * about to fdatasync waits up to RT_AUDIT_COMMIT_DELAY_US for announced records. */
void rt_audit_intent(rt_audit *a);
void rt_audit_intent_cancel(rt_audit *a, size_t n); /* withdraw n announcements */

/* The last record written (seq 0 and 32 zero bytes if none). */
void rt_audit_last(rt_audit *a, uint64_t *seq, uint8_t hash[32]);

uint64_t rt_audit_records(const rt_audit *a);
uint64_t rt_audit_failures(const rt_audit *a);
uint64_t rt_audit_syncs(const rt_audit *a);           /* fdatasync calls on the request path */
uint64_t rt_audit_anchor_failures(const rt_audit *a); /* anchor writes that failed */

/* 64 lowercase hex digits and a NUL. */
void rt_audit_hex32(char out[65], const uint8_t in[32]);

/*
 * The JSON string body (no quotes) of in[0..len): '"' and '\\' escaped, bytes < 0x20 or >= 0x7f
 * as \u00XX (lossless and always valid JSON), at most RT_AUDIT_FIELD_MAX input bytes then "...".
 * Returns the length written; out = "" and 0 when cap is too small (RT_AUDIT_FIELD_CAP is not).
 */
size_t rt_audit_json_str(char *out, size_t cap, const char *in, size_t len);

/*
 * A record's members built in body[0..cap) (rt_audit_rec.c): each call appends at *len and
 * returns 1, or 0 when it does not fit (then *len is past cap and every later call returns 0:
 * check once at the end). rt_audit_put: printf-formatted raw JSON. rt_audit_put_str:
 * "name":"<v, rt_audit_json_str-escaped; NULL as "">", after a comma unless body is empty or
 * ends with '{'.
 */
int rt_audit_put(char *body, size_t cap, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int rt_audit_put_str(char *body, size_t cap, size_t *len, const char *name, const char *v);

typedef struct {
    uint64_t records; /* lines in the log */
    uint8_t last[32]; /* SHA-256 of the last line (zeros when empty) */
    int anchored;     /* an anchor was given and matched */
    uint64_t anchor_seq;
} rt_audit_verdict;

/*
 * Verify the chain of the log at path and, if anchor_path is not NULL, that the record the
 * anchor names is present with its hash. AK_OK with *v filled, or AK_ERR_AUDIT (AK_ERR_IO if
 * a file is unreadable) with msg naming the first bad line or the anchor mismatch.
 */
AK_WUR ak_err rt_audit_verify(const char *path, const char *anchor_path, rt_audit_verdict *v,
                              char *msg, size_t msg_cap);

/* Parse an anchor file's text: {"seq":N,"hash":"<64 hex>",...}. AK_ERR_AUDIT if malformed. */
AK_WUR ak_err rt_audit_anchor_parse(const char *text, size_t len, uint64_t *seq, uint8_t hash[32]);

#endif
