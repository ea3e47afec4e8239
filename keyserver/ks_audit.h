/*
 * ks_audit.h - the key server's audit records on the shared chain writer (runtime/rt_audit.h,
 * which owns the frame, the hash chain, group commit, fail-closed writes, the anchor and
 * verification; read it for the guarantees).
 *
 * One JSON line per signing decision (signed or refused):
 *   {"seq":N,"time":"<RFC 3339 UTC, ms>","client_cn":"..","client_fp":"<sha256 hex>",
 *    "key_id":"..","digest":"<hex>","request_id":"..","outcome":"..","latency_us":N,
 *    [,"rule":".."][,"from":"0x<key address>"][,"intent":{"kind":..,...}],
 *    "prev":"<hex SHA-256 of the previous line's bytes, without its newline>"}
 * "rule" names the policy rule of a refused_policy record; "intent" is the decoded intent of
 * the request (issue 11; docs/keyserver.md lists its members per kind). A transaction's
 * "value" (decimal wei) in it is what ks_policy_window replays at start-up.
 * Deleting lines at the END leaves a valid shorter chain: only an anchor kept elsewhere (the
 * optional anchor file, or the last seq and hash that `anode-keytool audit-verify` prints and the
 * key server logs at shutdown) shows it.
 *
 * A ks_audit IS an rt_audit: the rt_audit_* functions apply to it.
 * Limits: each string field at most RT_AUDIT_FIELD_MAX bytes (longer is cut with "...").
 */
#ifndef KS_AUDIT_H
#define KS_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "ak_err.h"
#include "ak_intent.h"
#include "rt_audit.h"

#define KS_AUDIT_FIELD_MAX       RT_AUDIT_FIELD_MAX
#define KS_AUDIT_LINE_MAX        RT_AUDIT_LINE_MAX
#define KS_AUDIT_COMMIT_DELAY_US RT_AUDIT_COMMIT_DELAY_US

typedef struct rt_audit ks_audit;

typedef struct {
    const char *client_cn;    /* may be NULL */
    const uint8_t *client_fp; /* 32 bytes or NULL */
    const char *key_id;
    size_t key_id_len;
    const uint8_t *digest;
    size_t digest_len; /* 32 bytes normally; NULL if none */
    const char *request_id;
    size_t request_id_len; /* may be NULL */
    const char *outcome;   /* "signed", "refused", "refused_client", "refused_rate", "hsm_error",
                              "refused_policy", "refused_state" (HA pair: the shared store did
                              not answer), "digest_mismatch"; "allowed": a single /sign's
                              decision, before its HSM call */
    uint64_t latency_us;
    const ak_intent *intent; /* the decoded intent, or NULL (a digest-only request) */
    const uint8_t *from;     /* the key's address (20 bytes) or NULL */
    const char *rule;        /* the policy rule of a refused_policy record, or NULL */
} ks_audit_rec;

/* interval_ms == 0: fdatasync every record before returning; otherwise every interval_ms. */
AK_WUR ak_err ks_audit_open(ks_audit **out, const char *path, unsigned interval_ms, char *msg,
                            size_t msg_cap);
/* The same with an anchor file (NULL or "": none) rewritten every anchor_ms (0: default). */
AK_WUR ak_err ks_audit_open_anchored(ks_audit **out, const char *path, unsigned interval_ms,
                                     const char *anchor_path, unsigned anchor_ms, char *msg,
                                     size_t msg_cap);
void ks_audit_close(ks_audit *a);

AK_WUR ak_err ks_audit_append(ks_audit *a, const ks_audit_rec *rec);

/* The two halves of ks_audit_append() (see rt_audit_write / rt_audit_sync). */
AK_WUR ak_err ks_audit_write(ks_audit *a, const ks_audit_rec *rec, uint64_t *ticket);
AK_WUR ak_err ks_audit_sync(ks_audit *a, uint64_t ticket);

void ks_audit_intent(ks_audit *a);
void ks_audit_intent_cancel(ks_audit *a, size_t n);
void ks_audit_last(ks_audit *a, uint64_t *seq, uint8_t hash[32]);
void ks_audit_hex32(char out[65], const uint8_t in[32]);
uint64_t ks_audit_records(const ks_audit *a);
uint64_t ks_audit_failures(const ks_audit *a);
uint64_t ks_audit_syncs(const ks_audit *a);

/* Verify a log (see rt_audit_verify; no anchor). */
AK_WUR ak_err ks_audit_verify_file(const char *path, uint64_t *records, char *msg, size_t msg_cap);
AK_WUR ak_err ks_audit_verify_file_last(const char *path, uint64_t *records, uint8_t last[32],
                                        char *msg, size_t msg_cap);

#endif
