/*
 * ak_opsig.h - the OP Stack remote-signer block-payload protocol (ethereum-optimism/optimism
 * op-service/signer: BlockPayloadArgs, BlockPayloadArgsV2, BlockSigningMessage), as served by
 * op-signer's opsigner_signBlockPayload / opsigner_signBlockPayloadV2 for op-node's block gossip.
 *
 *   signing hash = keccak256(domain (32) || chain_id as 32-byte big-endian || payload_hash (32))
 *   (OP Stack specs, rollup-node-p2p "Block signatures"; payload_hash = keccak256(payload))
 *   result       = r || s || y_parity (0/1): 65 bytes, the form go-ethereum's crypto.Sign gives
 *                  and op-node's verifier (crypto.SigToPub) expects.
 *
 * JSON params, exactly as Go's encoding/json writes them from their structs:
 *   V1 {"domain": [32 numbers 0..255], "chainId": JSON number, "payloadHash": base64 (std,
 *       padded) of 32 bytes, "senderAddress": "0x.." or null, and from older op-nodes
 *       "PayloadBytes": base64 of the payload (checked: its keccak must equal payloadHash)}
 *   V2 {"domain": "0x" + 64 hex, "chainId": decimal or 0x string, "payloadHash": "0x" + 64 hex,
 *       "senderAddress": "0x.." or null}
 * Strict: any other member, a wrong type or length, a V1 chainId that is not an integer below
 * 2^53 (JSON numbers beyond that are not exact), a zero V2 payloadHash or chainId is refused
 * (AK_ERR_JSON, AK_ERR_ARG for API misuse) and `why` names the member. Only the all-zero
 * domain (SigningDomainBlocksV1) is defined by the spec; the caller decides whether to refuse
 * others (ak_opsig_domain_is_blocks_v1): with a free domain the 96 signed bytes would be
 * entirely the client's choice, i.e. a raw-signing oracle.
 */
#ifndef AK_OPSIG_H
#define AK_OPSIG_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "ak_err.h"
#include "ak_sig.h"
#include "ak_u256.h"

#define AK_OPSIG_MAX_PAYLOAD ((size_t)10 * 1024 * 1024) /* V1 PayloadBytes, decoded */

typedef struct {
    uint8_t domain[32];
    ak_u256 chain_id;
    uint8_t payload_hash[32];
    int has_sender;
    uint8_t sender[20];
} ak_opsig_block;

/* keccak256(domain || be32(chain_id) || payload_hash). */
void ak_opsig_signing_hash(uint8_t out[32], const ak_opsig_block *blk);

/* keccak256(payload): what op-node puts in payloadHash. */
void ak_opsig_payload_hash(uint8_t out[32], const uint8_t *payload, size_t len);

/* 1 if domain is all zero (the only one the OP Stack defines, for block gossip). */
int ak_opsig_domain_is_blocks_v1(const uint8_t domain[32]);

/* r || s || y_parity (0 or 1). */
void ak_opsig_signature65(uint8_t out[65], const ak_sig *sig);

/* Parse the one params object of opsigner_signBlockPayload (V1) / ...V2. On failure *out is
 * zeroed and why (if not NULL) names the member and the problem. */
AK_WUR ak_err ak_opsig_block_v1_from_json(ak_opsig_block *out, const cJSON *obj, char *why,
                                          size_t why_cap);
AK_WUR ak_err ak_opsig_block_v2_from_json(ak_opsig_block *out, const cJSON *obj, char *why,
                                          size_t why_cap);

#endif
