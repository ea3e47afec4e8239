/*
 * ak_eip712.h - EIP-712 typed structured data hashing (the eth_signTypedData_v4 JSON form).
 *
 * Input: a cJSON object {types, primaryType, domain, message}. encodeType lists the primary
 * type then its dependencies sorted by name; structs nest, arrays (fixed T[n] and dynamic T[])
 * of any type including structs and arrays; bytes/string hashed; intN/uintN range-checked (JSON
 * number, decimal string or 0x hex string; negative values for intN); bytesN (N 1..32) exact
 * length; address strict; bool. The domain separator uses whichever EIP712Domain fields are
 * declared. Bad typed data (unknown type, cycle, missing field, value out of range, limits) is
 * AK_ERR_EIP712. Strict about members: the top level may hold only types, primaryType, domain
 * and message; a domain member that EIP712Domain does not declare, or a message (or nested
 * struct) member that its struct type does not declare, is refused rather than left unsigned.
 * Digest = keccak256(0x19 0x01 || domainSeparator || hashStruct(message)).
 *
 * Bounds (AK_ERR_LIMIT): at most AK_EIP712_MAX_TYPES types, AK_EIP712_MAX_FIELDS fields per type,
 * nesting depth AK_EIP712_MAX_DEPTH, array length AK_EIP712_MAX_ARRAY, name length
 * AK_EIP712_MAX_NAME. Where EIP-712 leaves a choice open, ak_eip712.c follows ethers v6 (its
 * header comment lists each one). Unparsable JSON text is AK_ERR_JSON. On error *out is zeroed.
 */
#ifndef AK_EIP712_H
#define AK_EIP712_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "ak_err.h"
#include "ak_u256.h"

#define AK_EIP712_MAX_TYPES  64
#define AK_EIP712_MAX_FIELDS 64
#define AK_EIP712_MAX_DEPTH  16
#define AK_EIP712_MAX_ARRAY  1024
#define AK_EIP712_MAX_NAME   256 /* bytes in a type or field name */

typedef struct {
    uint8_t digest[32];       /* what gets signed */
    uint8_t domain_hash[32];  /* domain separator */
    uint8_t message_hash[32]; /* hashStruct(primaryType, message) */
    int has_chain_id;         /* domain declares and sets chainId */
    ak_u256 chain_id;
    int has_verifying_contract;
    uint8_t verifying_contract[20];
} ak_eip712_result;

/* Room for the longest `why` text the parser writes (longer is cut, always NUL-terminated). */
#define AK_EIP712_WHY_MAX 192

/* Hash a parsed typed-data object. */
AK_WUR ak_err ak_eip712_hash(ak_eip712_result *out, const cJSON *typed_data);

/*
 * The value of a uintN member as ak_eip712_hash reads it (JSON number up to 2^53-1, decimal or
 * 0x hex string); AK_ERR_EIP712 for anything else, a negative number included. For decoders of
 * known structures (ak_permit) so they read exactly the value that was hashed.
 */
AK_WUR ak_err ak_eip712_uint_value(ak_u256 *out, const cJSON *v);

/* Parse JSON text (bounded by len; only whitespace may follow the value) then ak_eip712_hash. */
AK_WUR ak_err ak_eip712_hash_json(ak_eip712_result *out, const char *json, size_t len);

/*
 * The same, and on failure why (if not NULL, why_cap > 0) gets a short text naming the member
 * at fault by its path and the problem, e.g. "domain.salt2: not declared by EIP712Domain",
 * "message.extra: not a member of Mail", "message.to.wallet: missing", "primaryType: Foo is not
 * a declared type", "types.Mail[1].type: unknown type Persn". Names in it come from the
 * request (bounded, control characters replaced); it holds no value of a member. On success
 * why is set to "".
 */
AK_WUR ak_err ak_eip712_hash_why(ak_eip712_result *out, const cJSON *typed_data, char *why,
                                 size_t why_cap);
AK_WUR ak_err ak_eip712_hash_json_why(ak_eip712_result *out, const char *json, size_t len,
                                      char *why, size_t why_cap);

#endif
