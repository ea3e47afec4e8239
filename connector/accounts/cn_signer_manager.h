/*
 * cn_signer_manager.h - one account's signers (a primary, then ordered backups) behind one
 * cn_signer: the router calls cn_signer_sign_eth() on the manager exactly as on any backend.
 *
 * Account config (one element of "accounts", see docs/signers.md):
 *   { "name": "treasury",                      // optional, for logs and GET /signers
 *     "primary": { "type": "keyless", ... },   // a signer object (cn_signer_factory)
 *     "backups": [ { "type": "pkcs11", ... } ] // 0..CN_MGR_MAX_BACKUPS, tried in order
 *   }
 * or the single-signer form { "signer": { ... } } (a primary without backups).
 *
 * Start-up: every signer is built by the factory and must report the same public key as the
 * primary, else the account is refused (a backup with another key would sign as someone else).
 *
 * Signing: signers are tried in order, skipping those whose circuit is open. Each signer's
 * answer is converted to (r, s, v) HERE and checked against the account's public key (strict
 * DER, low s, trial recovery): an error, a timeout, a malformed signature or a signature by
 * another key (AK_ERR_RECOVER) is a failure and the next signer is tried, so no signature by
 * another key is ever returned. The manager hands cn_signer_sign_eth() the already checked
 * (r, s) with its recovery id. Only in-process backends (local) vouch for their recovery id
 * (has_recid); their signature is taken as is.
 *
 * Circuit breaker (per signer): failure_threshold consecutive failures open it (the signer is
 * skipped). The health thread (every health_interval_ms) calls ops->health on every signer;
 * an open signer that reports can_sign becomes half-open: the next request tries it once
 * (one trial at a time); success closes the circuit, failure opens it again. When every
 * signer of an account is open, they are still tried in order (last resort) rather than
 * failing without trying.
 *
 * Metrics: per signer (cn_metrics_signer_*): signatures, failures by reason, latency
 * histogram, circuit state. cn_signer_manager_status_json() is GET /signers.
 *
 * Ownership: the manager owns its signers (freed with it by cn_signer_free, which stops and
 * joins the health thread first). Thread-safe: sign/health from any number of threads.
 */
#ifndef CN_SIGNER_MANAGER_H
#define CN_SIGNER_MANAGER_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "ak_err.h"
#include "cn_signer.h"
#include "rt_clock.h"

#define CN_MGR_MAX_BACKUPS 7

typedef struct {
    unsigned failure_threshold;  /* consecutive failures that open a circuit; 0 -> 3 */
    unsigned health_interval_ms; /* health check period; 0 -> 30000 */
    const rt_clock *clock;       /* latency and health times; NULL -> the system clock */
} cn_manager_opts;

/*
 * The structure of an account object: only the members above (and "policy", "comment"), exactly
 * one of "signer" / "primary", "backups" only with "primary", "name" a string of < 64 chars,
 * every signer an object. cfgs[0..*n) gets the signer objects (primary first, borrowed). On
 * AK_ERR_CONFIG err names the member, prefixed by where ("accounts[2].backups[0] must be a signer
 * object").
 */
AK_WUR ak_err cn_signer_manager_members(const cJSON *account, const char *where,
                                        const cJSON *cfgs[CN_MGR_MAX_BACKUPS + 1], size_t *n,
                                        char *err, size_t err_cap);

/* Build an account from its config object (checked by cn_signer_manager_members, where
 * "account"); err names the part that failed (secret-free). */
AK_WUR ak_err cn_signer_manager_new(cn_signer **out, const cJSON *account,
                                    const cn_manager_opts *opts, char *err, size_t err_cap);

/* Wrap signers already built (tests, benchmarks): takes ownership of all n (1..8) even on
 * failure. Same address check as above. */
AK_WUR ak_err cn_signer_manager_wrap(cn_signer **out, cn_signer **signers, size_t n,
                                     const char *name, const cn_manager_opts *opts, char *err,
                                     size_t err_cap);

/* 1 if s is a manager. */
int cn_signer_is_manager(const cn_signer *s);

/* Per-signer counters, for tests and GET /signers. i is the position (0 = primary). */
typedef struct {
    unsigned long long ok, failed;
    unsigned consecutive_failures;
    int circuit; /* cn_circuit */
} cn_manager_signer_stats;

AK_WUR ak_err cn_signer_manager_stats(const cn_signer *mgr, size_t i, cn_manager_signer_stats *out);

/*
 * Hot reload: member i of mgr `to` (just built, not yet signing) takes the health state of member
 * j of `from` - circuit, consecutive failures, signature and failure counts - when both run the
 * same signer configuration (the caller compares). An open circuit becomes half-open if the new
 * member's first health check (at construction) found it able to sign. `from` keeps serving.
 */
AK_WUR ak_err cn_signer_manager_carry(cn_signer *to, size_t i, const cn_signer *from, size_t j);

/* GET /signers: {"accounts":[...]} for these accounts (managers or plain signers). *out is
 * malloc'd, caller frees. */
AK_WUR ak_err cn_signer_manager_status_json(cn_signer *const *accounts, size_t n, char **out,
                                            size_t *out_len);

#endif
