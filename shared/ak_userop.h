/*
 * ak_userop.h - ERC-4337 EntryPoint v0.7 UserOperations: the unpacked JSON-RPC form, the packed
 * fields the contracts see (PackedUserOperation), EntryPoint.getUserOpHash, and the sample
 * VerifyingPaymaster's getHash and paymasterAndData layout (eth-infinitism
 * account-abstraction v0.7.0: core/UserOperationLib.sol, core/EntryPoint.sol,
 * samples/VerifyingPaymaster.sol).
 *
 *   initCode          = factory || factoryData                     (empty without a factory)
 *   accountGasLimits  = verificationGasLimit (16) || callGasLimit (16)
 *   gasFees           = maxPriorityFeePerGas (16) || maxFeePerGas (16)
 *   paymasterAndData  = paymaster (20) || paymasterVerificationGasLimit (16)
 *                       || paymasterPostOpGasLimit (16) || paymasterData   (PAYMASTER_DATA_OFFSET =
 * 52) VerifyingPaymaster paymasterData = abi.encode(uint48 validUntil, uint48 validAfter) (64)
 *                       || signature (65, r || s || v)
 *   VerifyingPaymaster.getHash = keccak256(abi.encode(sender, nonce, keccak(initCode),
 *       keccak(callData), accountGasLimits, uint256(bytes32(paymasterAndData[20:52])),
 *       preVerificationGas, gasFees, chainid, paymaster, validUntil, validAfter));
 *   the paymaster signs the EIP-191 message hash of it (MessageHashUtils.toEthSignedMessageHash).
 *
 * Ownership: ak_userop_from_json() allocates the byte fields; ak_userop_clear() frees them
 * (safe on a zeroed or cleared struct). Everything else is pure computation. Limits: callData
 * AK_USEROP_MAX_CALL_DATA, factoryData AK_USEROP_MAX_FACTORY_DATA, paymasterData and signature
 * AK_USEROP_MAX_SMALL; the gas limits and fees must fit in 128 bits (they are packed in pairs).
 */
#ifndef AK_USEROP_H
#define AK_USEROP_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "ak_err.h"
#include "ak_u256.h"

#define AK_USEROP_MAX_CALL_DATA    (128u * 1024u)
#define AK_USEROP_MAX_FACTORY_DATA (64u * 1024u)
#define AK_USEROP_MAX_SMALL        4096u
#define AK_USEROP_PM_DATA_OFFSET   52u  /* UserOperationLib.PAYMASTER_DATA_OFFSET */
#define AK_USEROP_VP_SIG_LEN       65u  /* r || s || v */
#define AK_USEROP_VP_DATA_LEN      129u /* abi.encode(validUntil, validAfter) || signature */
#define AK_USEROP_UINT48_MAX       0xffffffffffffULL

/* Bits of ak_userop.present: which JSON members were given. */
enum {
    AK_USEROP_F_CALL_GAS = 1u << 0,
    AK_USEROP_F_VERIFICATION_GAS = 1u << 1,
    AK_USEROP_F_PRE_VERIFICATION_GAS = 1u << 2,
    AK_USEROP_F_MAX_FEE = 1u << 3,
    AK_USEROP_F_MAX_PRIORITY_FEE = 1u << 4,
    AK_USEROP_F_GAS_ALL = 0x1fu,
};

typedef struct {
    uint8_t sender[20];
    ak_u256 nonce;
    int has_factory;
    uint8_t factory[20];
    uint8_t *factory_data; /* owned; NULL when empty */
    size_t factory_data_len;
    uint8_t *call_data; /* owned; NULL when empty */
    size_t call_data_len;
    ak_u256 call_gas_limit;
    ak_u256 verification_gas_limit;
    ak_u256 pre_verification_gas;
    ak_u256 max_fee_per_gas;
    ak_u256 max_priority_fee_per_gas;
    int has_paymaster;
    uint8_t paymaster[20];
    ak_u256 paymaster_verification_gas_limit;
    ak_u256 paymaster_post_op_gas_limit;
    uint8_t *paymaster_data; /* owned; NULL when empty */
    size_t paymaster_data_len;
    uint8_t *signature; /* owned; NULL when empty */
    size_t signature_len;
    unsigned present; /* AK_USEROP_F_* */
} ak_userop;

/*
 * Parse the v0.7 unpacked JSON form: sender, nonce and callData are required; factory,
 * factoryData, callGasLimit, verificationGasLimit, preVerificationGas, maxFeePerGas,
 * maxPriorityFeePerGas, paymaster, paymasterVerificationGasLimit, paymasterPostOpGasLimit,
 * paymasterData, signature are optional (absent = zero / empty; null counts as absent). Strict
 * 0x QUANTITY and DATA. A member of the v0.6 form (initCode, paymasterAndData) or any other
 * unknown member is refused. On failure *op is cleared and why names the member.
 */
AK_WUR ak_err ak_userop_from_json(ak_userop *op, const cJSON *obj, char *why, size_t why_cap);

void ak_userop_clear(ak_userop *op); /* frees the byte fields; NULL allowed */

/* keccak256(initCode) with initCode = factory || factoryData. */
void ak_userop_init_code_hash(uint8_t out[32], const ak_userop *op);

/* accountGasLimits and gasFees words; AK_ERR_RANGE if a value exceeds 128 bits. */
AK_WUR ak_err ak_userop_account_gas_limits(uint8_t out[32], const ak_userop *op);
AK_WUR ak_err ak_userop_gas_fees(uint8_t out[32], const ak_userop *op);

/*
 * VerifyingPaymaster(v0.7).getHash(userOp, validUntil, validAfter) for the paymaster contract
 * at `paymaster` on chain_id. The paymaster gas limits are op's (they are part of the hash);
 * op's paymasterData and signature are not. AK_ERR_RANGE: a value too wide for its field
 * (validUntil/validAfter > 2^48 - 1, gas > 2^128 - 1).
 */
AK_WUR ak_err ak_userop_vp_hash(uint8_t out[32], const ak_userop *op, uint64_t chain_id,
                                const uint8_t paymaster[20], uint64_t valid_until,
                                uint64_t valid_after);

/* paymasterData = abi.encode(uint48 validUntil, uint48 validAfter) || sig (65 bytes). */
AK_WUR ak_err ak_userop_vp_data(uint8_t out[AK_USEROP_VP_DATA_LEN], uint64_t valid_until,
                                uint64_t valid_after, const uint8_t sig[AK_USEROP_VP_SIG_LEN]);

/*
 * The inverse, as VerifyingPaymaster.parsePaymasterAndData does on paymasterData (the bytes
 * after offset 52): the two words must decode as uint48; *sig points into data, *sig_len is
 * whatever follows (the contract then requires 64 or 65). AK_ERR_LIMIT if data < 64 bytes.
 */
AK_WUR ak_err ak_userop_vp_data_parse(uint64_t *valid_until, uint64_t *valid_after,
                                      const uint8_t **sig, size_t *sig_len, const uint8_t *data,
                                      size_t len);

/*
 * paymasterAndData = paymaster || pmVerificationGasLimit (16) || pmPostOpGasLimit (16) ||
 * paymasterData of op (requires has_paymaster). *out_len = 52 + paymaster_data_len; cap too
 * small: AK_ERR_BUFFER.
 */
AK_WUR ak_err ak_userop_paymaster_and_data(uint8_t *out, size_t cap, size_t *out_len,
                                           const ak_userop *op);

/* EntryPoint(v0.7).getUserOpHash: keccak256(abi.encode(keccak256(encode(op)), entryPoint,
 * chainid)). */
AK_WUR ak_err ak_userop_hash(uint8_t out[32], const ak_userop *op, const uint8_t entry_point[20],
                             uint64_t chain_id);

/* maxFeePerGas x (callGas + verificationGas + preVerificationGas + pmVerificationGas +
 * pmPostOpGas): the most the operation can cost its payer. *total_gas gets the gas sum.
 * AK_ERR_RANGE on overflow. */
AK_WUR ak_err ak_userop_max_cost(ak_u256 *cost, ak_u256 *total_gas, const ak_userop *op);

#endif
