/*
 * p11_token.h - signing with secp256k1 keys on a PKCS#11 token.
 *
 * One p11_token is one PKCS#11 module (dlopen + C_GetFunctionList, C_Initialize with OS
 * locking) and one token in it (found by label or slot id), logged in as the user. Keys are
 * found once (p11_token_find_key) and their object handles, CKA_EC_POINT public key and address
 * are kept: no C_FindObjects on the signing path. Signing uses a pool of sessions, one per
 * in-flight signature, at most max_sessions; a caller waits for a free session up to the
 * deadline. CKM_ECDSA over the 32-byte digest as given; the raw r||s is returned DER-encoded.
 *
 * Fault recovery: a session that fails with CKR_SESSION_HANDLE_INVALID, CKR_SESSION_CLOSED,
 * CKR_USER_NOT_LOGGED_IN (session level: a new session, logging in again if needed) or
 * CKR_DEVICE_REMOVED, CKR_TOKEN_NOT_PRESENT, CKR_DEVICE_ERROR, CKR_DEVICE_MEMORY,
 * CKR_GENERAL_ERROR, CKR_FUNCTION_FAILED, CKR_KEY_HANDLE_INVALID, CKR_OBJECT_HANDLE_INVALID,
 * CKR_SLOT_ID_INVALID, CKR_SESSION_COUNT (token level: the token is found again by label, logged
 * in, every key re-found by its label/id and checked to have the same public key) is dropped
 * and the signature is retried once. If a token-level fault outlasts that retry (the token stays
 * absent, CKR_CRYPTOKI_NOT_INITIALIZED, device errors), the module is re-initialised
 * (p11_module_reinit: C_Finalize + C_Initialize, at most once per back-off of 250 ms..2 s), the
 * token and keys are found again and the signature is retried once more; every token on that
 * module re-finds its keys before its next signature (old handles are never reused). Only if
 * that fails does p11_token_sign return AK_ERR_HSM_UNAVAILABLE; the next call tries again. Other
 * CK_RVs give AK_ERR_HSM, no retry. A PIN refused at a re-login is never tried again (that could
 * lock the PIN): from then on signing fails with AK_ERR_HSM_UNAVAILABLE until the token is
 * re-opened with the right PIN. One extra "anchor" session stays open for the token's life: it
 * keeps the login and the object handles valid while pool sessions come and go (SoftHSM drops both
 * when a slot's last session closes).
 *
 * Deadlines: op_timeout_ms bounds one call of sign/health, waiting for a session included.
 * No session free in time -> AK_ERR_BUSY. The HSM calls run on a worker thread owned by the
 * session's pool slot, and the caller waits for them until the deadline -> AK_ERR_TIMEOUT;
 * the slot is then quarantined until the hung call returns (a call that never returns costs
 * that slot for good, and p11_token_close waits for it). This costs two thread wake-ups per
 * signature (bench/bench_p11_paths measures it); p11_token_set_inline() trades the bound on a
 * hung call for running the calls on the caller's thread.
 *
 * Limits: max_sessions <= 1024, PIN <= P11_PIN_MAX bytes, at most 1024 keys, token label <= 32.
 *
 * Thread safety: p11_token_sign, p11_token_sign_many, p11_token_health and p11_token_stats may be
 * called from any number of threads at once. Open/find/close are start-up/shutdown operations (one
 * thread).
 *
 * Ownership: p11_token_open() returns a token the caller frees with p11_token_close(); keys are
 * owned by their token and live until it is closed. The PIN is copied into locked memory
 * (kept for re-login after faults) and wiped at close; the caller wipes its own copy.
 */
#ifndef P11_TOKEN_H
#define P11_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "ak_err.h"
#include "ak_sig.h"
#include "p11_uri.h"

typedef struct p11_token p11_token;
typedef struct p11_key p11_key;

typedef struct {
    const char *module_path; /* e.g. /usr/lib/softhsm/libsofthsm2.so */
    const char *token_label; /* find the token by label (SoftHSM assigns random slot ids) */
    int has_slot_id;         /* ... or by slot id */
    unsigned long slot_id;
    const char *pin; /* user PIN; copied */
    size_t pin_len;
    unsigned max_sessions;  /* session pool bound; 0 -> 8 */
    unsigned op_timeout_ms; /* deadline for one signature incl. waiting for a session; 0 -> 5000 */
} p11_token_config;

typedef struct {
    uint64_t sign_ok;         /* successful C_Sign calls */
    uint64_t sign_errors;     /* failed signature attempts (any CK_RV != CKR_OK) */
    uint64_t reconnects;      /* times sessions/login/keys were re-established after a fault */
    uint64_t timeouts;        /* deadlines passed */
    unsigned sessions_open;   /* sessions currently open in the pool */
    unsigned sessions_in_use; /* sessions currently lent to a signer */
    unsigned max_sessions;
} p11_token_stats;

/* err_msg (may be NULL) receives a secret-free reason on failure. */
AK_WUR ak_err p11_token_open(p11_token **out, const p11_token_config *cfg, char *err_msg,
                             size_t err_cap);
void p11_token_close(p11_token *t); /* NULL allowed */

/*
 * Find a private key by the object / id of uri (token and module attributes of the uri are
 * ignored here: the caller opened the token). The key must be EC on secp256k1 (CKA_EC_PARAMS
 * = 06052b8104000a) with a readable CKA_EC_POINT on its public key object (or on the private
 * key object itself); otherwise AK_ERR_KEY_TYPE / AK_ERR_KEY_NOT_FOUND with err_msg naming why.
 * The name must match exactly one private key. One test signature is made and checked against
 * the public key (a mismatched pair is AK_ERR_KEY_TYPE).
 */
AK_WUR ak_err p11_token_find_key(p11_token *t, p11_key **out, const p11_uri *uri, char *err_msg,
                                 size_t err_cap);

const uint8_t *p11_key_pubkey(const p11_key *k);  /* 65 bytes, 04|X|Y */
const uint8_t *p11_key_address(const p11_key *k); /* 20 bytes */

/* Sign the 32-byte digest; DER SEQUENCE{r,s} into der (cap >= AK_DER_SIG_MAX). */
AK_WUR ak_err p11_token_sign(p11_token *t, p11_key *k, const uint8_t digest[32], uint8_t *der,
                             size_t der_cap, size_t *der_len);

/*
 * p11_token_sign, and during(during_arg) on the calling thread while the HSM call runs (on the
 * slot's worker): the caller overlaps its own slow step with the HSM's latency (the key server
 * makes its audit record durable there). In inline mode (p11_token_set_inline) during runs
 * first, then the call. If during returns an error, that error is returned, the HSM call is not
 * made (inline) or its answer is wiped unread, and no signature is produced. during runs once,
 * after a session was found (not when the wait for one ends in AK_ERR_BUSY); its time counts
 * against op_timeout_ms.
 */
typedef ak_err (*p11_during_fn)(void *arg);
AK_WUR ak_err p11_token_sign_during(p11_token *t, p11_key *k, const uint8_t digest[32],
                                    uint8_t *der, size_t der_cap, size_t *der_len,
                                    p11_during_fn during, void *during_arg);

/*
 * Sign n digests (keys[i] over digests[i], 1 <= n <= P11_SIGN_MANY_MAX) CONCURRENTLY: each item
 * goes to a pooled session's worker as soon as one is free, up to max_sessions at once, so a
 * batch uses the token's parallelism instead of signing its items one after another. Results
 * per item, in order: item_rc[i], and on AK_OK the DER signature in der[i] (der_len[i] bytes).
 * Each item gets the same fault recovery (one retry) as p11_token_sign. Deadline: one for the
 * whole call, op_timeout_ms from the start - as if the n items were n p11_token_sign calls made
 * at that moment: an item that found no session in time gets AK_ERR_BUSY, one whose HSM call
 * outlives the deadline AK_ERR_TIMEOUT (its slot quarantined as usual). In inline mode
 * (p11_token_set_inline) the items run one after another on the caller's thread, each with its
 * own deadline. Returns AK_OK if every item was signed, else the first failed item's error;
 * AK_ERR_ARG (a NULL pointer or key, n out of range) leaves item_rc untouched; AK_ERR_NOMEM /
 * AK_ERR_INTERNAL for the call as a whole are copied into every item_rc.
 */
#define P11_SIGN_MANY_MAX 4096
AK_WUR ak_err p11_token_sign_many(p11_token *t, p11_key *const *keys, const uint8_t (*digests)[32],
                                  size_t n, uint8_t (*der)[AK_DER_SIG_MAX], size_t *der_len,
                                  ak_err *item_rc);

/* Raw r||s form (no DER), for callers that want it (benchmarks, the connector's direct signer). */
AK_WUR ak_err p11_token_sign_raw(p11_token *t, p11_key *k, const uint8_t digest[32],
                                 uint8_t rs[64]);

/* Cheap liveness: token present (C_GetTokenInfo) and a pooled session answers C_GetSessionInfo. */
AK_WUR ak_err p11_token_health(p11_token *t);

void p11_token_stats_get(p11_token *t, p11_token_stats *out);

/*
 * on = 1: run HSM calls on the calling thread (no worker hand-over); op_timeout_ms then bounds
 * only the wait for a session, not a hung HSM call. Default 0. Call before signing starts.
 */
void p11_token_set_inline(p11_token *t, int on);

/*
 * The CK_RV of the most recent failed PKCS#11 call on the signing/health path (0 = none yet),
 * and its symbolic name ("CKR_DEVICE_REMOVED"), for the caller's log line. The name points to
 * static storage (thread-local for unknown values).
 */
unsigned long p11_token_last_rv(p11_token *t);
const char *p11_token_rv_name(unsigned long rv);

#endif
