/*
 * ks_audit.h - the key server's append-only, hash-chained audit trail (fail closed).
 *
 * One JSON line per signing decision (signed or refused):
 *   {"seq":N,"time":"<RFC 3339 UTC, ms>","client_cn":"..","client_fp":"<sha256 hex>",
 *    "key_id":"..","digest":"<hex>","request_id":"..","outcome":"..","latency_us":N,
 *    "prev":"<hex SHA-256 of the previous line's bytes, without its newline>"}
 * The first line of a file has prev = 64 zeros and seq = 1. ks_audit_verify_file() recomputes
 * the chain, so an edited, deleted (except the very last) or reordered line is detected.
 * Deleting lines at the END leaves a valid shorter chain: only an anchor kept elsewhere (the last
 * seq and hash, which `anode-keytool audit-verify` prints and the key server logs at shutdown)
 * shows it.
 *
 * Writing: each line goes out in one write() of the whole line; a short or failed write is
 * truncated back (ftruncate) so no partial line is ever left, and ks_audit_append() returns
 * AK_ERR_AUDIT: the caller must then not return the signature (503). On a non-regular file (a
 * pipe, FIFO or device: nothing to truncate) a short write leaves a partial line for the reader,
 * so the log is failed for good (every later append fails) rather than breaking the chain.
 * Durability: with KS_AUDIT_SYNC_ALWAYS the record is on disk (fdatasync, group-committed across
 * threads) before ks_audit_append() returns; with an interval a background thread syncs every N ms.
 * An fdatasync failure makes the log permanently failed (every later append fails) because
 * the kernel may have dropped the dirty pages.
 *
 * Thread safety: ks_audit_append() may be called from any number of threads.
 * Ownership: ks_audit_open() returns a log freed by ks_audit_close() (NULL allowed).
 * Limits: each string field at most KS_AUDIT_FIELD_MAX bytes (longer is truncated with
 * "..." in the record, never in a way that breaks the JSON); a line at most KS_AUDIT_LINE_MAX.
 */
#ifndef KS_AUDIT_H
#define KS_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "ak_err.h"

#define KS_AUDIT_FIELD_MAX 256
#define KS_AUDIT_LINE_MAX  8192

typedef struct ks_audit ks_audit;

typedef struct {
    const char *client_cn;    /* may be NULL */
    const uint8_t *client_fp; /* 32 bytes or NULL */
    const char *key_id;
    size_t key_id_len;
    const uint8_t *digest;
    size_t digest_len; /* 32 bytes normally; NULL if none */
    const char *request_id;
    size_t request_id_len; /* may be NULL */
    const char *outcome;   /* "signed", "refused", "refused_client", "refused_rate", "hsm_error" */
    uint64_t latency_us;
} ks_audit_rec;

/* interval_ms == 0: fdatasync every record before returning; otherwise every interval_ms. */
AK_WUR ak_err ks_audit_open(ks_audit **out, const char *path, unsigned interval_ms, char *msg,
                            size_t msg_cap);
void ks_audit_close(ks_audit *a);

AK_WUR ak_err ks_audit_append(ks_audit *a, const ks_audit_rec *rec);

/*
 * The two halves of ks_audit_append(), so that a batch pays for one fdatasync: write the line
 * (*ticket identifies it), then wait until everything up to ticket is durable (no-op in
 * interval mode). A caller must not release anything the record covers before the sync
 * returned AK_OK.
 */
AK_WUR ak_err ks_audit_write(ks_audit *a, const ks_audit_rec *rec, uint64_t *ticket);
AK_WUR ak_err ks_audit_sync(ks_audit *a, uint64_t ticket);

/*
 * Announce that the calling thread will write a record soon (call before the HSM call; the
 * next ks_audit_write()/append() of any thread consumes one announcement). A thread about to
 * fdatasync waits up to KS_AUDIT_COMMIT_DELAY_US for announced records so that one sync covers
 * them (group commit). Optional: without it every sync goes out at once.
 */
#define KS_AUDIT_COMMIT_DELAY_US 1000
void ks_audit_intent(ks_audit *a);
/* Withdraw n announcements whose records will not be written (an error path gave up). */
void ks_audit_intent_cancel(ks_audit *a, size_t n);

/* The last record written (seq 0 and 32 zero bytes if none): the anchor of the chain. */
void ks_audit_last(ks_audit *a, uint64_t *seq, uint8_t hash[32]);

/* 64 lowercase hex digits and a NUL. */
void ks_audit_hex32(char out[65], const uint8_t in[32]);

/* Counters for /metrics. */
uint64_t ks_audit_records(const ks_audit *a);
uint64_t ks_audit_failures(const ks_audit *a);
uint64_t ks_audit_syncs(const ks_audit *a); /* fdatasync calls on the request path */

/*
 * Verify the chain of the file at path. AK_OK with *records = number of lines, or AK_ERR_AUDIT
 * (AK_ERR_IO if unreadable) with msg naming the first bad line and why.
 */
AK_WUR ak_err ks_audit_verify_file(const char *path, uint64_t *records, char *msg, size_t msg_cap);

/* The same, also giving the SHA-256 of the last line (32 zero bytes for an empty file) on
 * AK_OK: with *records it anchors the chain (compare with a copy kept elsewhere). */
AK_WUR ak_err ks_audit_verify_file_last(const char *path, uint64_t *records, uint8_t last[32],
                                        char *msg, size_t msg_cap);

#endif
