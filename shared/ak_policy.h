/*
 * ak_policy.h - the signing policy of one key/account, evaluated over what is about to be signed
 * (intent kind, transaction, EIP-191 message, EIP-712 typed data). Pure: both daemons fill an
 * ak_policy from their own configuration and ask the same questions with the same rule names.
 *
 * Intent kinds (the names of issue 11): eth_transaction, eip191_message, eip712_typed_data,
 * erc4337_paymaster, eip7702_authorization, op_block_payload. A policy serves a set of them.
 *
 * Rules, each refusal naming one (stable strings, used in error messages and audit records):
 *   kind_not_served          the key does not serve this intent kind ("a key has one purpose")
 *   value_over_cap           transaction value > max_value
 *   to_not_allowed           transaction destination not in the allowed list
 *   contract_creation        transaction without "to" while creation is not allowed
 *   message_may_be_hash      a 32-byte EIP-191 message on a limited key (it could be the hash
 *                            of something the policy would refuse: a paymaster getHash, ...)
 *   typed_data_no_chain_id   typed data whose domain sets no chainId (valid on every chain)
 *   typed_data_not_judged    typed data on a limited key that is not a structure ak_permit knows
 *   spender_not_allowed      a permit's spender not in the allowed list
 *   token_amount_over_cap    a permit's amount > the token's cap (token_caps, else max_value)
 *   token_not_known          a permit without a token address while token caps are set
 * "Limited" = a value cap, a destination list or token caps is set. Each of the message /
 * typed-data refusals has an allow_* flag that turns it off for this key.
 *
 * Over a decoded intent (ak_intent.h; the key server's policy, issue 11), ak_policy_intent_ok
 * applies the rules above for the intent's kind and these:
 *   raw_digest_not_allowed   a digest-only request (no intent) on a key with raw_digest off
 *   chain_not_allowed        the intent's chain id (none: a pre-155 transaction) is not in
 *                            allowed_chain_ids (eip191_message carries no chain: not checked)
 *   selector_not_allowed     a call to a destination that has an allowed_selectors entry whose
 *                            data is 1..3 bytes or starts with a selector not listed (empty
 *                            data, a plain transfer, is judged by the value rules only)
 *   domain_not_allowed       typed data whose domain matches no allowed_domains entry (each
 *                            entry: the members it sets - name, chainId, verifyingContract -
 *                            must be equal; the domain must set each of them). A listed domain
 *                            counts as judged: typed_data_not_judged does not apply to it
 *   delegate_not_allowed     an EIP-7702 delegate (authorization, or a type-4 transaction's
 *                            tuples are not judged here: they are signed by their authorities)
 *                            not in allowed_delegates
 *   authorization_any_chain  an EIP-7702 authorization with chain id 0 (valid on every chain)
 *                            while allow_chain_id_zero_authorization is off; when on, chain 0
 *                            also passes allowed_chain_ids
 *   op_domain_not_blocks_v1  an OP block payload whose domain is not the all-zero
 *                            SigningDomainBlocksV1 (any other domain makes the 96 signed bytes
 *                            the client's free choice)
 *   cumulative_over_cap      (ak_policy_cumulative_ok) the transaction's value plus what the
 *                            key signed in the rolling window is over cumulative_cap
 *
 * The struct is plain data filled by the caller (ak_policy_cfg.h reads it from a configuration
 * object; ak_policy_init gives the permissive default:
 * every kind served, no limits, typed data without chainId refused); read-only while checks run,
 * so checks may run on any number of threads.
 */
#ifndef AK_POLICY_H
#define AK_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "ak_eip712.h"
#include "ak_err.h"
#include "ak_intent.h"
#include "ak_tx.h"
#include "ak_u256.h"

#define AK_POLICY_MAX_TO        256
#define AK_POLICY_MAX_TOKENS    64
#define AK_POLICY_MAX_CHAINS    64
#define AK_POLICY_MAX_SELECTORS 256 /* (destination, selector) pairs */
#define AK_POLICY_MAX_DOMAINS   32
#define AK_POLICY_MAX_DELEGATES 64
#define AK_POLICY_MAX_NAME      128 /* bytes of an allowed EIP-712 domain name */

typedef struct {
    int has_name, has_chain_id, has_verifying_contract;
    char name[AK_POLICY_MAX_NAME + 1];
    ak_u256 chain_id;
    uint8_t verifying_contract[20];
} ak_policy_domain;

typedef struct {
    unsigned kinds; /* bit (1u << kind) per kind served */
    int has_max_value;
    ak_u256 max_value;
    size_t n_to; /* 0: any destination / spender */
    uint8_t to[AK_POLICY_MAX_TO][20];
    int allow_create;
    size_t n_tokens;
    uint8_t token[AK_POLICY_MAX_TOKENS][20];
    ak_u256 token_cap[AK_POLICY_MAX_TOKENS];
    int allow_unjudged_typed_data;
    int allow_hash_like_messages;
    int allow_typed_data_without_chain_id;
    /* issue 11: the key server's rules over intents (ak_policy_intent_ok) */
    int raw_digest;  /* 1 (default): digest-only requests allowed */
    size_t n_chains; /* 0: any chain */
    ak_u256 chains[AK_POLICY_MAX_CHAINS];
    size_t n_selectors;
    uint8_t selector_to[AK_POLICY_MAX_SELECTORS][20];
    uint8_t selector[AK_POLICY_MAX_SELECTORS][4];
    size_t n_domains; /* 0: any domain */
    ak_policy_domain domains[AK_POLICY_MAX_DOMAINS];
    size_t n_delegates; /* 0: any delegate */
    uint8_t delegates[AK_POLICY_MAX_DELEGATES][20];
    int allow_auth_chain_zero;
    int has_cumulative_cap; /* a value cap: cumulative_cap wei per cumulative_window_s */
    ak_u256 cumulative_cap;
    uint64_t cumulative_window_s; /* 0: no cumulative cap at all */
    uint64_t cumulative_max_tx;   /* the connector's count cap (0: none; not judged here) */
} ak_policy;

typedef struct {
    const char *rule; /* one of the names above (static) */
    char why[224];    /* secret-free detail: addresses, amounts, kinds */
} ak_policy_verdict;

/* The permissive default (see above). */
void ak_policy_init(ak_policy *p);

/* 1 if a value cap, a destination list or token caps is set. */
int ak_policy_limited(const ak_policy *p);

/* Each returns 1 (allowed) or 0 with *v naming the rule. */
int ak_policy_kind_ok(const ak_policy *p, ak_intent_kind kind, ak_policy_verdict *v);
int ak_policy_tx_ok(const ak_policy *p, const ak_tx *tx, ak_policy_verdict *v);
int ak_policy_message_ok(const ak_policy *p, const uint8_t *msg, size_t len, ak_policy_verdict *v);
/* typed_data: the object that was hashed into *h (ak_eip712_hash succeeded on it). */
int ak_policy_typed_ok(const ak_policy *p, const cJSON *typed_data, const ak_eip712_result *h,
                       ak_policy_verdict *v);
/* The same; domain_listed: the domain matched an allowed_domains entry, so typed data that is
 * not a permit structure counts as judged by the operator (no typed_data_not_judged). */
int ak_policy_typed_ok_ex(const ak_policy *p, const cJSON *typed_data, const ak_eip712_result *h,
                          int domain_listed, ak_policy_verdict *v);

/* Digest-only requests (no intent): refused when raw_digest is off. */
int ak_policy_raw_ok(const ak_policy *p, ak_policy_verdict *v);

/* Every rule that applies to the decoded intent's kind (all but the cumulative cap). */
int ak_policy_intent_ok(const ak_policy *p, const ak_intent *in, ak_policy_verdict *v);

/* The value an intent moves for the cumulative cap: a transaction's value, else 0. */
void ak_policy_intent_value(ak_u256 *out, const ak_intent *in);

/* used + value <= cumulative_cap (always 1 without a cap). */
int ak_policy_cumulative_ok(const ak_policy *p, const ak_u256 *used, const ak_u256 *value,
                            ak_policy_verdict *v);

#endif
