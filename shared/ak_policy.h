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
 * The struct is plain data filled by the caller (ak_policy_init gives the permissive default:
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
#include "ak_tx.h"
#include "ak_u256.h"

#define AK_POLICY_MAX_TO     256
#define AK_POLICY_MAX_TOKENS 64

typedef enum {
    AK_INTENT_ETH_TRANSACTION = 0,
    AK_INTENT_EIP191_MESSAGE,
    AK_INTENT_EIP712_TYPED_DATA,
    AK_INTENT_ERC4337_PAYMASTER,
    AK_INTENT_EIP7702_AUTHORIZATION,
    AK_INTENT_OP_BLOCK_PAYLOAD,
    AK_INTENT_COUNT
} ak_intent_kind;

#define AK_INTENT_ALL ((1u << AK_INTENT_COUNT) - 1u)

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
} ak_policy;

typedef struct {
    const char *rule; /* one of the names above (static) */
    char why[224];    /* secret-free detail: addresses, amounts, kinds */
} ak_policy_verdict;

/* The permissive default (see above). */
void ak_policy_init(ak_policy *p);

/* "eth_transaction", ... ; NULL for an out-of-range kind. */
const char *ak_intent_kind_name(ak_intent_kind k);
/* The kind named s, or -1. */
int ak_intent_kind_parse(const char *s);

/* 1 if a value cap, a destination list or token caps is set. */
int ak_policy_limited(const ak_policy *p);

/* Each returns 1 (allowed) or 0 with *v naming the rule. */
int ak_policy_kind_ok(const ak_policy *p, ak_intent_kind kind, ak_policy_verdict *v);
int ak_policy_tx_ok(const ak_policy *p, const ak_tx *tx, ak_policy_verdict *v);
int ak_policy_message_ok(const ak_policy *p, const uint8_t *msg, size_t len, ak_policy_verdict *v);
/* typed_data: the object that was hashed into *h (ak_eip712_hash succeeded on it). */
int ak_policy_typed_ok(const ak_policy *p, const cJSON *typed_data, const ak_eip712_result *h,
                       ak_policy_verdict *v);

#endif
