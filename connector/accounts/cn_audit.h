/*
 * cn_audit.h - the connector's audit log: one hash-chained record (runtime/rt_audit.h: the key
 * server's frame, verified by `anode-keytool audit-verify`) per signature attempt, whichever
 * backend signs, written by cn_audit_sign_eth(), which every signing path (cn_methods.c,
 * cn_paymaster.c) calls instead of cn_signer_sign_eth().
 *
 * Config ("audit" in the connector's JSON file; absent = off, so older configs keep working):
 *   "audit": { "enabled": true,                 // default true when the section is present
 *              "path": "/var/lib/anode/connector-audit.jsonl",   // required when enabled
 *              "fsync": "always",               // or an interval in ms, 1..10000
 *              "anchor_path": "/mnt/other/connector-audit.anchor",  // optional (rt_audit.h)
 *              "anchor_interval_ms": 1000 }     // 100..3600000
 *
 * A record (members between the frame's "time" and "prev"):
 *   "method", "request_id" (sent to the backend; the key server audits it too), "client" (the
 *   verified identity, cn_auth_identify: token fingerprint / Access subject, never a secret),
 *   "account" (address), "account_name", "signer" and "signer_type" (the backend that signed,
 *   or was tried last), "chain_id", "digest", "outcome" ("signed" or "failed"), "error",
 *   "signature" (0x r||s||v, when signed), then what was decoded: "tx" {type, nonce, to, value,
 *   gas_limit, data_len} for transactions, "message_len" for eth_sign / personal_sign,
 *   "typed_data" {primary_type, domain {name, version, chain_id, verifying_contract}} for
 *   EIP-712, and "latency_us".
 *
 * Fail-closed: with "fsync": "always" a signature is released only after its record is durable
 * (fdatasync, group-committed); a record that cannot be written or synced turns the signature
 * into AK_ERR_AUDIT and the signature is wiped. An fdatasync failure fails every later
 * signature until restart (rt_audit.h). With an interval, a signature may be returned before
 * its record is on disk (up to that interval lost on a crash).
 *
 * Per-request details travel in thread-local notes set on the signing thread: the client
 * (cn_audit_set_client, by the HTTP layer; batch workers copy it), the message length or
 * typed data (cn_methods.c, just before signing) and the backend that signed (the signer
 * manager). cn_audit_end() consumes and clears the per-signature notes.
 *
 * Global: one log per process (cn_audit_start/stop, like cn_metrics); without
 * cn_audit_start() nothing is recorded but request ids are still generated.
 * Limits: strings in a record are capped at RT_AUDIT_FIELD_MAX bytes; the client at
 * CN_AUDIT_CLIENT_MAX.
 */
#ifndef CN_AUDIT_H
#define CN_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "ak_err.h"
#include "ak_sig.h"
#include "cn_signer.h"

#define CN_AUDIT_CLIENT_MAX 400
#define CN_AUDIT_PATH_MAX   512
#define CN_AUDIT_RID_MAX    48

typedef struct {
    int enabled;
    char path[CN_AUDIT_PATH_MAX];
    unsigned interval_ms; /* 0: fsync "always" */
    char anchor_path[CN_AUDIT_PATH_MAX];
    unsigned anchor_interval_ms;
} cn_audit_cfg;

/* Parse the "audit" section (NULL: disabled). AK_ERR_CONFIG with a reason in err. */
AK_WUR ak_err cn_audit_config(cn_audit_cfg *out, const cJSON *section, char *err, size_t err_cap);

/* Open the log (if cfg->enabled) and make it the process's. AK_ERR_AUDIT / reason in err. */
AK_WUR ak_err cn_audit_start(const cn_audit_cfg *cfg, char *err, size_t err_cap);
/* Sync, anchor and close the log; logs its last seq and hash. Nothing is recorded after. */
void cn_audit_stop(void);
int cn_audit_enabled(void);

/* The calling thread's client identity (copied; NULL or "" clears it) and its current value. */
void cn_audit_set_client(const char *id);
const char *cn_audit_client(void);

/* Notes for the next signature on this thread (call just before signing). */
void cn_audit_note_message(size_t len);
/* The JSON-RPC call's id as text (a short token, or NULL): the record's "rpc_id", beside the
 * request id the backend is given, so a client's request can be joined to its signatures. */
void cn_audit_note_rpc_id(const char *id);
void cn_audit_note_typed(const cJSON *typed_data); /* the request's string or object */
void cn_audit_note_signer(const cn_signer *backend);

/*
 * cn_signer_sign_eth() with the audit around it: every signing path (cn_methods.c,
 * cn_paymaster.c) calls this instead, so each signature gets a request id (handed to the
 * backend in ctx) and a record. AK_ERR_AUDIT (signature wiped) when its record is not durable.
 */
AK_WUR ak_err cn_audit_sign_eth(cn_signer *s, ak_sig *out, const uint8_t digest[32],
                                const cn_sign_ctx *ctx);

/* The two halves of cn_audit_sign_eth(), for a caller that signs some other way. */
typedef struct {
    cn_sign_ctx ctx; /* the caller's, with a request id */
    char rid[CN_AUDIT_RID_MAX];
    int64_t t0_ns;
} cn_audit_sig;

/* Returns the context to hand to the backend (au->ctx: ctx's fields and a request id). */
const cn_sign_ctx *cn_audit_begin(cn_audit_sig *au, const cn_sign_ctx *ctx);
/*
 * Record the attempt (rc: the signing result; sig valid when AK_OK) and wait for durability.
 * Returns rc, or AK_ERR_AUDIT (and *sig wiped) when a signature's record is not durable.
 */
AK_WUR ak_err cn_audit_end(cn_audit_sig *au, const cn_signer *s, const uint8_t digest[32],
                           ak_err rc, ak_sig *sig);

#endif
