/*
 * cn_intent.h - the connector's side of issue 11's intents: each signing method fills an
 * ak_intent (shared/ak_intent.h) next to where it computes its digest, and passes it in the
 * cn_sign_ctx, so a backend whose server recomputes the digest (keyless, send_intent) can send
 * what is signed instead of a bare hash. The fillers set only what ak_intent_to_json reads;
 * in->digest is left zero (the method's own digest is what gets signed: the key server checks
 * the two agree).
 *
 * Ownership: a filled intent BORROWS every pointer it was given (message bytes, the typed-data
 * object, the transaction's byte fields): keep them alive while it is used and never call
 * ak_intent_clear() on it. Where a JSON tree has to be made (typed data given as a string, the
 * paymaster's user operation with its paymaster members), it is returned in *owned for the
 * caller to cJSON_Delete after signing. No limits of its own: the inputs were bounded by the
 * methods' parsers.
 */
#ifndef CN_INTENT_H
#define CN_INTENT_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "ak_err.h"
#include "ak_intent.h"

/* eip191_message over msg[0..len) (eth_sign, personal_sign). Returns in. */
const ak_intent *cn_intent_message(ak_intent *in, const uint8_t *msg, size_t len);

/* eip712_typed_data: td is the typed data as the request gave it, an object or a JSON string
 * (parsed into *owned). NULL if a string does not parse (the method hashed it already, so only
 * out of memory): the signature then goes digest only. */
const ak_intent *cn_intent_typed(ak_intent *in, const cJSON *td, cJSON **owned);

/* eth_transaction: the unsigned transaction (copied by value; its byte fields borrowed). */
const ak_intent *cn_intent_tx(ak_intent *in, const ak_tx *tx);

/* eip7702_authorization. */
const ak_intent *cn_intent_auth(ak_intent *in, const ak_auth *auth);

/* op_block_payload. */
const ak_intent *cn_intent_block(ak_intent *in, const ak_opsig_block *blk);

/*
 * erc4337_paymaster: uo is the request's user operation, op the parsed one with the members the
 * paymaster set (paymaster, its gas limits); *owned is a copy of uo carrying those, which the
 * key server hashes as the paymaster did. NULL out of memory (the signature goes digest only).
 */
const ak_intent *cn_intent_paymaster(ak_intent *in, cJSON **owned, const cJSON *uo,
                                     const ak_userop *op, const uint8_t entry_point[20],
                                     uint64_t chain_id, uint64_t valid_until, uint64_t valid_after);

#endif
