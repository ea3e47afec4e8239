/*
 * ak_permit.h - the value-moving EIP-712 structures a signing policy can judge, decoded into
 * (token, spender, amount) grants.
 *
 * Recognised, by primaryType AND the exact field list (name, type, order) of the primary type
 * and of every struct it references, so a look-alike with one more or one renamed field is not
 * recognised (the policy then treats it as typed data it cannot judge):
 *   - ERC-2612 Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)
 *     token = domain.verifyingContract, amount = value;
 *   - DAI Permit(address holder,address spender,uint256 nonce,uint256 expiry,bool allowed)
 *     token = domain.verifyingContract, amount = 2^256-1 when allowed, 0 when not;
 *   - Uniswap Permit2 (AllowanceTransfer) PermitSingle{PermitDetails details,address spender,
 *     uint256 sigDeadline} and PermitBatch{PermitDetails[] details,...} with
 *     PermitDetails(address token,uint160 amount,uint48 expiration,uint48 nonce);
 *   - Permit2 (SignatureTransfer) PermitTransferFrom{TokenPermissions permitted,address spender,
 *     uint256 nonce,uint256 deadline} and PermitBatchTransferFrom{TokenPermissions[] permitted,...}
 *     with TokenPermissions(address token,uint256 amount).
 * Witness variants (PermitWitnessTransferFrom, ...) are not recognised on purpose.
 *
 * Call it on typed data that ak_eip712_hash() accepted: values are read with the same rules
 * (ak_eip712_uint_value, ak_addr_parse), so a grant is what was hashed. Pure: no I/O, no
 * allocation; at most AK_PERMIT_MAX_GRANTS grants (more is AK_ERR_LIMIT).
 */
#ifndef AK_PERMIT_H
#define AK_PERMIT_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "ak_err.h"
#include "ak_u256.h"

#define AK_PERMIT_MAX_GRANTS 64

typedef enum {
    AK_PERMIT_NONE = 0, /* not a structure this module knows */
    AK_PERMIT_ERC2612,
    AK_PERMIT_DAI,
    AK_PERMIT2_SINGLE,
    AK_PERMIT2_BATCH,
    AK_PERMIT2_TRANSFER_FROM,
    AK_PERMIT2_BATCH_TRANSFER_FROM
} ak_permit_kind;

typedef struct {
    int has_token; /* 0: an ERC-2612/DAI permit whose domain names no verifyingContract */
    uint8_t token[20];
    uint8_t spender[20];
    ak_u256 amount; /* in the token's smallest unit */
} ak_permit_grant;

typedef struct {
    ak_permit_kind kind;
    size_t n; /* grants used; 0 when kind is NONE (a batch may also be empty) */
    ak_permit_grant grants[AK_PERMIT_MAX_GRANTS];
} ak_permit;

/*
 * Decode typed_data ({types, primaryType, domain, message}). AK_OK with kind NONE when the
 * structure is not one of the above; AK_ERR_EIP712 when it is but a value does not read;
 * AK_ERR_LIMIT past AK_PERMIT_MAX_GRANTS. On error *out is zeroed.
 */
AK_WUR ak_err ak_permit_decode(ak_permit *out, const cJSON *typed_data);

/* "erc2612_permit", "dai_permit", "permit2_single", ... ("none" for AK_PERMIT_NONE). */
const char *ak_permit_kind_name(ak_permit_kind k);

#endif
