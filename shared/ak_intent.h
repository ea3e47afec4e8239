/*
 * ak_intent.h - signing intents (issue 11): what a signature is for, sent to the key server in
 * place of (or beside) a bare 32-byte digest, so that the key server recomputes the digest
 * itself and judges it under its own policy (ak_policy.h).
 *
 * One JSON object per intent, member "kind" first in the docs (order is free), every other
 * member required unless said, no member beyond these (an unknown one is refused, named):
 *   eth_transaction        {"kind", "payload": 0x DATA}  the exact unsigned signing payload:
 *                          RLP([nonce..data, chainId, 0, 0]) (EIP-155) or RLP of the six
 *                          fields (pre-155), or type || RLP([...]) for types 1, 2, 3, 4
 *   eip191_message         {"kind", "message": 0x DATA}  the message bytes (personal_sign)
 *   eip712_typed_data      {"kind", "typed_data": {types, primaryType, domain, message}}
 *   erc4337_paymaster      {"kind", "user_operation": {v0.7 unpacked, ak_userop.h},
 *                          "entry_point", "paymaster": address, "chain_id", "valid_until",
 *                          "valid_after": 0x QUANTITY}  the VerifyingPaymaster's EIP-191 hash
 *                          of getHash; entry_point only names the user-operation hash audited
 *   eip7702_authorization  {"kind", "chain_id", "address" (the delegate), "nonce"}
 *   op_block_payload       {"kind", "domain": 0x + 64 hex, "chain_id", "payload_hash": 0x + 64}
 * Quantities are strict 0x QUANTITY strings, addresses 0x + 40 hex (EIP-55 if mixed case).
 * The transaction payload is decoded strictly: canonical RLP, the exact field count of its type,
 * no trailing byte, and it must re-encode to the same bytes (ak_tx_signing_payload).
 *
 * Ownership: ak_intent_parse() fills an ak_intent that owns its decoded bytes (payload, message,
 * user operation) and BORROWS the typed_data and user_operation objects from the cJSON tree it
 * was given: keep that tree alive while the intent is used. ak_intent_clear() frees what it owns
 * (safe on a zeroed or cleared intent). ak_intent_to_json() returns a new tree (cJSON_Delete).
 * Bounds: payload <= AK_TX_MAX_ENCODED bytes, message <= AK_INTENT_MAX_MESSAGE bytes; the typed
 * data and user operation by their own modules (ak_eip712.h, ak_userop.h).
 */
#ifndef AK_INTENT_H
#define AK_INTENT_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "ak_auth.h"
#include "ak_eip712.h"
#include "ak_err.h"
#include "ak_opsig.h"
#include "ak_tx.h"
#include "ak_u256.h"
#include "ak_userop.h"

#define AK_INTENT_MAX_MESSAGE ((size_t)64 * 1024)
#define AK_INTENT_WHY_MAX     224

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
    ak_intent_kind kind;
    uint8_t digest[32]; /* what gets signed, recomputed from the members */
    int has_chain_id;   /* every kind but eip191_message and a pre-155 transaction */
    ak_u256 chain_id;
    /* eth_transaction: tx borrows from payload */
    ak_tx tx;
    uint8_t *payload; /* owned */
    size_t payload_len;
    /* eip191_message */
    uint8_t *message; /* owned; NULL when empty */
    size_t message_len;
    /* eip712_typed_data */
    const cJSON *typed_data; /* borrowed */
    ak_eip712_result td;
    /* erc4337_paymaster */
    const cJSON *user_operation; /* borrowed */
    ak_userop op;                /* owned byte fields */
    uint8_t entry_point[20];
    uint8_t paymaster[20];
    uint64_t valid_until, valid_after;
    uint8_t userop_hash[32]; /* EntryPoint v0.7 getUserOpHash, for the audit */
    /* eip7702_authorization */
    ak_auth auth;
    /* op_block_payload */
    ak_opsig_block blk;
} ak_intent;

/* "eth_transaction", ... ; NULL for an out-of-range kind. */
const char *ak_intent_kind_name(ak_intent_kind k);
/* The kind named s, or -1. */
int ak_intent_kind_parse(const char *s);

/*
 * Parse and hash one intent object. On failure the intent is cleared and why (if not NULL)
 * names the member and the problem ("payload: not canonical RLP", "user_operation.nonce: ...").
 * Errors: AK_ERR_JSON (shape, unknown or missing member), the decoders' own codes (AK_ERR_HEX,
 * AK_ERR_QUANTITY, AK_ERR_ADDRESS, AK_ERR_RLP, AK_ERR_TX, AK_ERR_TX_TYPE, AK_ERR_CHAIN_ID,
 * AK_ERR_EIP712, AK_ERR_RANGE, AK_ERR_LIMIT), AK_ERR_NOMEM.
 */
AK_WUR ak_err ak_intent_parse(ak_intent *out, const cJSON *obj, char *why, size_t why_cap);
void ak_intent_clear(ak_intent *in);

/*
 * The intent as JSON (the shape above), from the fields of `in` that its kind uses: kind, tx
 * (eth_transaction), message, typed_data, user_operation + entry_point + paymaster + chain_id +
 * valid_until + valid_after, auth, blk. NULL on a bad field (an unencodable transaction) or
 * out of memory. The connector fills an ak_intent and calls this; the key server parses it back.
 */
cJSON *ak_intent_to_json(const ak_intent *in);

/*
 * Strict decoder of an unsigned transaction signing payload (what ak_tx_signing_payload
 * writes): legacy EIP-155 [nonce, gasPrice, gas, to, value, data, chainId, 0, 0], legacy
 * pre-155 (six fields, tx->pre155 set), and type 1..4 envelopes. tx borrows from payload.
 */
AK_WUR ak_err ak_intent_tx_decode(ak_tx *tx, const uint8_t *payload, size_t len);

#endif
