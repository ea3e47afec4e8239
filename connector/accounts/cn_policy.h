/*
 * cn_policy.h - an account's signing policy, checked by the connector before it asks any signer
 * for a signature (the key server cannot: it sees only digests).
 *
 * Optional, per account in the configuration:
 *   "policy": {
 *     "max_value_wei": "1000000000000000000",   // per transaction; decimal or 0x quantity string
 *     "allowed_to": ["0x..", ...],              // destinations allowed (EIP-55 or lower case)
 *     "allow_contract_creation": false,         // default: false with allowed_to, else true
 *     "allowed_methods": ["eth_sendTransaction", "eth_signTransaction", "personal_sign",
 *                         "eth_sign", "eth_signTypedData_v4"],  // default: all of them
 *     "serves": ["eth_transaction", "eip191_message", "eip712_typed_data"],  // intent kinds;
 *                                   // default all (the paymaster's account: erc4337_paymaster)
 *     "token_caps": {"0xToken": "1000000"},     // permit amounts per token (smallest unit)
 *     "allow_unjudged_typed_data": false,       // with limits: typed data other than permits
 *     "allow_hash_like_messages": false,        // with limits: 32-byte eth_sign/personal_sign
 *     "allow_typed_data_without_chain_id": false
 *   }
 * EIP-4844 / EIP-7702 (issue 10), each optional:
 *     "max_fee_per_blob_gas": "1000000000",     // cap on a type-3 maxFeePerBlobGas (filled too)
 *     "allowed_delegates": ["0x..", ...],       // the only delegates anode_signAuthorization
 *                                               // may authorize (default: any)
 *     "allow_chain_id_zero_authorization": false // an authorization valid on every chain
 *                                               // (chain_id 0): refused unless true
 * Without any policy, an authorization with chain_id 0 is refused too (guard rail on by default).
 * Over time (issue 13), optional: "cumulative_cap": {"value_wei": "100000000000000000000",
 *     "max_tx": 1000, "window_s": 86400} - the value and/or the number of transactions the account
 *     may sign per rolling window (eth_sendTransaction, eth_signTransaction), reserved in the
 *     connector's state store before signing, shared by replicas on PostgreSQL (docs/scale-out.md);
 *     refused as cumulative_over_cap / cumulative_tx_over_cap.
 * allowed_methods may also list anode_signAuthorization and opsigner_signBlockPayload (which
 * also stands for opsigner_signBlockPayloadV2).
 * Read by shared/ak_policy_cfg (with AK_POLICY_CFG_MAX_TX; allowed_methods and
 * max_fee_per_blob_gas here), the same reader as the key server's: a repeated address or token is
 * refused. The evaluation is shared/ak_policy (rule names there); permits (ERC-2612, DAI, Permit2)
 * are judged against allowed_to (spender) and token_caps / max_value_wei (amount).
 * eth_signTypedData_v4 also stands for its alias eth_signTypedData. A refused request gets
 * JSON-RPC error -32003 ("transaction rejected", EIP-1474) naming the rule; nothing is signed.
 *
 * Ownership: cn_policy_parse() returns a policy freed by cn_policy_free() (NULL allowed). It is
 * read-only afterwards: the checks may run on any number of threads.
 */
#ifndef CN_POLICY_H
#define CN_POLICY_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "ak_auth.h"
#include "ak_eip712.h"
#include "ak_err.h"
#include "ak_policy.h"
#include "ak_tx.h"

typedef struct cn_policy cn_policy;

/*
 * The signing methods policies know, handed down by rpc's method table at start-up (before any
 * policy is parsed; the strings must outlive the process): what allowed_methods may name (and
 * its error text lists), the intent kind each signs ("serves"), aliases, and what the rate limit
 * counts. At most CN_POLICY_MAX_METHODS.
 */
#define CN_POLICY_MAX_METHODS 32
typedef struct {
    const char *name;
    const char *canonical; /* NULL, or the method this one is an alias of (same policy bit) */
    ak_intent_kind kind;   /* what it signs */
    int listed;            /* allowed_methods may name it */
    int signs;             /* asks for a signature (the rate limit counts it) */
} cn_policy_method;
void cn_policy_set_methods(const cn_policy_method *m, size_t n);

/* obj NULL: no policy (*out NULL, AK_OK). AK_ERR_CONFIG with err naming the field otherwise. */
AK_WUR ak_err cn_policy_parse(cn_policy **out, const cJSON *obj, char *err, size_t err_cap);
void cn_policy_free(cn_policy *p);

/* 1 if method asks for a signature (cn_policy_set_methods' signs): what the rate limit and the
 * per-batch bound count. */
int cn_policy_is_signing_method(const char *method);

/* The account's "cumulative_cap" (plain values; max_tx 0 = no count cap). */
typedef struct {
    uint64_t window_s;
    int has_max_value;
    ak_u256 max_value; /* wei */
    uint64_t max_tx;
} cn_policy_cumulative;
/* 1 with *out filled if p has a cumulative cap, else 0 (p NULL too). */
int cn_policy_cumulative_cap(const cn_policy *p, cn_policy_cumulative *out);

/* 1 if the transaction passes; else 0 with why (no secrets: addresses and amounts). */
int cn_policy_tx_ok(const cn_policy *p, const ak_tx *tx, char *why, size_t why_cap);

/* 1 if a type-3 transaction's maxFeePerBlobGas is within max_fee_per_blob_gas (else why). */
int cn_policy_blob_fee_ok(const cn_policy *p, const ak_u256 *max_fee_per_blob_gas, char *why,
                          size_t why_cap);

/* 1 if the account may sign this EIP-7702 authorization (chain_id 0, allowed_delegates). */
int cn_policy_authorization_ok(const cn_policy *p, const ak_auth *auth, char *why, size_t why_cap);

/*
 * The checks below return 1, or 0 with why = "policy rule <rule>: <detail>" (rule names of
 * ak_policy.h, plus method_not_allowed). A NULL policy is the default one: every kind served, no
 * limits, typed data without a domain chainId refused.
 */
/* allowed_methods and the intent kind the method signs ("serves"). */
int cn_policy_method_check(const cn_policy *p, const char *method, char *why, size_t why_cap);
/* An eth_sign / personal_sign message (the bytes hashed under EIP-191). */
int cn_policy_message_ok(const cn_policy *p, const uint8_t *msg, size_t len, char *why,
                         size_t why_cap);
/* Typed data as the client sent it (a JSON string or an object) that hashed into *h. */
int cn_policy_typed_ok(const cn_policy *p, const cJSON *td, const ak_eip712_result *h, char *why,
                       size_t why_cap);

/*
 * Make *p the policy of the paymaster's signing account (created if NULL): without an explicit
 * "serves" it serves erc4337_paymaster only (pm_* answered, generic signing refused); an explicit
 * "serves" must list erc4337_paymaster (AK_ERR_CONFIG otherwise, err set).
 */
AK_WUR ak_err cn_policy_for_paymaster(cn_policy **p, char *err, size_t err_cap);
/* 1 if the policy serves anything besides erc4337_paymaster (for a start-up warning). */
int cn_policy_serves_beyond_paymaster(const cn_policy *p);

#endif
